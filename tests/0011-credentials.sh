#!/bin/sh
# 0011: AWS credentials against peers sluice did not write. moto's STS answers AssumeRole (with a
# 20 s DurationSeconds, so the cache must refresh on its own before expiry) and
# AssumeRoleWithWebIdentity; AWS's amazon-ec2-metadata-mock serves IMDSv2 to the default chain.
# The C side is the "creds" unit suite, whose live_* tests run only when this script sets
# SLUICE_TEST_STS_ENDPOINT / SLUICE_TEST_IMDS_ENDPOINT. Everything runs with every debug context
# on, and the log is then searched for every secret seen (source keys, STS and IMDS secret keys
# and session tokens, the web identity token): one hit fails the test.
# Needs: tests/peers/moto.sh and tests/peers/imds-mock.sh (they install their peer on first use:
# pip for moto, the Go toolchain for the mock); a peer that cannot start fails this test.
. "$(dirname "$0")/lib/common.sh"
needs peer:moto peer:imds-mock

UNIT=$top_builddir/tests/unit/sluice-unit
PEERS=$top_srcdir/tests/peers
[ -x "$UNIT" ] || fail "no $UNIT (make check builds it)"
[ -x "$PEERS/moto.sh" ] || fail "no $PEERS/moto.sh"
[ -x "$PEERS/imds-mock.sh" ] || fail "no $PEERS/imds-mock.sh"

IMDS_SECRET=imdsMock0011SecretKeyDoNotLog0123456789
IMDS_TOKEN=IMDSMOCK0011SESSIONTOKENDONOTLOG==
stop_peers() {
    "$PEERS/moto.sh" stop "$T/moto" >/dev/null 2>&1 || true
    "$PEERS/imds-mock.sh" stop "$T/imds" >/dev/null 2>&1 || true
}
trap 'stop_peers; cleanup' EXIT
mkdir -p "$T/moto" "$T/imds"

say "starting moto (STS)"
STS_URL=$("$PEERS/moto.sh" start "$T/moto") || fail "moto did not start (its messages are above)"
say "starting the IMDS mock"
IMDS_URL=$(IMDS_MOCK_SECRET_ACCESS_KEY=$IMDS_SECRET IMDS_MOCK_TOKEN=$IMDS_TOKEN \
    "$PEERS/imds-mock.sh" start "$T/imds") || fail "the IMDS mock did not start (its messages are above)"
say "moto at $STS_URL, IMDS mock at $IMDS_URL"

: >"$T/debug.log"
printf '%s\n%s\n' "$IMDS_SECRET" "$IMDS_TOKEN" >"$T/secrets"
set +e
SLUICE_TEST_STS_ENDPOINT=$STS_URL SLUICE_TEST_STS_DURATION=20 SLUICE_TEST_IMDS_ENDPOINT=$IMDS_URL \
    SLUICE_TEST_LOG=$T/debug.log SLUICE_TEST_SECRETS=$T/secrets \
    "$UNIT" creds >"$T/unit.out" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || { cat "$T/unit.out"; fail "the creds suite failed against the peers (exit $rc)"; }
if grep -q "NOT RUN" "$T/unit.out"; then cat "$T/unit.out"; fail "live tests were not run"; fi
contains "$T/unit.out" "moto AssumeRole: "
contains "$T/unit.out" "refreshed after "
contains "$T/unit.out" "moto AssumeRoleWithWebIdentity: "
contains "$T/unit.out" "IMDS mock: ASIA"

# The debug log must be real (the providers talked) and free of every secret.
contains "$T/debug.log" "[creds]"
contains "$T/debug.log" "[http]"
contains "$T/debug.log" "PUT $IMDS_URL/latest/api/token"
[ "$(wc -l <"$T/secrets")" -ge 8 ] || { cat "$T/secrets"; fail "too few secrets recorded"; }
n=0
while IFS= read -r s; do
    [ -n "$s" ] || continue
    n=$((n + 1))
    if grep -qF -- "$s" "$T/debug.log" "$T/unit.out"; then
        fail "a secret (#$n of $T/secrets) appears in the logs"
    fi
done <"$T/secrets"
say "ok: $(grep -c . "$T/debug.log") debug lines, $n secrets absent; $(grep -E 'moto AssumeRole:|refreshed' "$T/unit.out" | tr -s ' ' | head -1)"
