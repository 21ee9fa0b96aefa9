#!/bin/sh
# 0027: TLS and token authentication against a real Pulsar standalone broker configured for
# both (a CA and a server certificate for 127.0.0.1 made here with openssl; an HMAC secret and
# HS256 tokens made here, verified by the broker's AuthenticationProviderToken). A file -> Pulsar
# job over pulsar+ssl:// with the CA and a valid token writes messages the official client
# (over TLS, as admin) reads back; a job reading them on a subscription acknowledges them all
# over TLS when it stops. Then what must fail does, at once and saying why, without the
# token in any log: a wrong token (AuthenticationError), an untrusted CA, and a certificate that
# does not name the host connected to (hostname verification on by default; off, it passes).
# Last, a broker named by a host name with two addresses, the first refusing: the job connects
# through the second.
. "$(dirname "$0")/lib/common.sh"
needs aws openssl libnss_wrapper.so python3 peer:pulsar
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"

# A CA, a server certificate for 127.0.0.1 (IP SAN; no DNS name), and an unrelated CA.
cd "$T"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=sluice-test-ca 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 \
    -extfile san.ext 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in server.key -out server.pk8 2>/dev/null
cd - >/dev/null
# An HMAC secret and HS256 tokens for the subjects admin and sluice-job.
head -c 32 /dev/urandom >"$T/secret.key"
token() {
    python3 - "$T/secret.key" "$1" <<'EOF'
import base64, hashlib, hmac, json, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = open(sys.argv[1], "rb").read()
msg = b64(json.dumps({"alg": "HS256"}).encode()) + "." + b64(json.dumps({"sub": sys.argv[2]}).encode())
print(msg + "." + b64(hmac.new(key, msg.encode(), hashlib.sha256).digest()))
EOF
}
ADMIN=$(token admin)
JOBTOK=$(token sluice-job)
export PULSAR_TLS_CERT="$T/server.crt" PULSAR_TLS_KEY="$T/server.pk8" PULSAR_TLS_CA="$T/ca.crt"
export PULSAR_TOKEN_SECRET="$T/secret.key" PULSAR_ADMIN_TOKEN="$ADMIN"
kin_up pulsar
TLS=$(cat "$T/peers/pulsar.tls-url")
PORT=${TLS##*:}
say "pulsar with TLS at $TLS and token authentication"
pl_client

seq 1 200 | sed 's/.*/{"n": &}/' >"$T/in.jsonl"
job() { # job NAME URL EXTRA...
    _n=$1 _u=$2; shift 2
    { echo "job.name=$_n"
      echo "task.inputs=files.in"
      echo "task.outputs=pl.t"
      echo "job.checkpoint.sqlite.path=$T/$_n.db"
      echo "systems.files.samza.factory=file"
      echo "systems.files.streams.in.path=$T/in.jsonl"
      echo "systems.pl.samza.factory=pulsar"
      echo "systems.pl.pulsar.service-url=$_u"
      echo "systems.pl.streams.t.pulsar.topic=persistent://public/default/tls-$_n"
      echo "log.level=info"
      for l in "$@"; do echo "$l"; done; } >"$T/$_n.properties"
}

# count_tls OUT TOPIC: how many messages TOPIC holds, read by the official client over TLS (as
# admin), into OUT.
count_tls() {
    "$PL_PY" - "$TLS" "$T/ca.crt" "$ADMIN" "$2" <<'EOF' >"$1"
import sys, pulsar
url, ca, tok, topic = sys.argv[1:5]
c = pulsar.Client(url, tls_trust_certs_file_path=ca, authentication=pulsar.AuthenticationToken(tok),
                  logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error))
r = c.create_reader(topic, pulsar.MessageId.earliest)
n = 0
while True:
    try:
        r.read_next(3000)
        n += 1
    except Exception:
        break
print(n)
c.close()
EOF
}

job good "$TLS" "systems.pl.pulsar.tls.trust-certs-file=$T/ca.crt" "sensitive.systems.pl.pulsar.auth.token=$JOBTOK"
timeout 60 "$SLUICE" run "$T/good.properties" >"$T/good.log" 2>&1 || { tail -n 20 "$T/good.log"; fail "the TLS + token job failed"; }
count_tls "$T/good.read" persistent://public/default/tls-good || fail "the official client could not read over TLS"
[ "$(cat "$T/good.read")" = 200 ] || fail "read $(cat "$T/good.read") of 200 messages over TLS"
lacks "$T/good.log" "$JOBTOK"
say "TLS + token: 200 messages written, read back by the official client over TLS"

# Reading over TLS on a subscription, committing only when it stops: the acks of that last commit
# go out through the TLS session before it closes; the broker (asked as admin) has no backlog.
cat >"$T/reader.properties" <<P
job.name=tls-reader
task.inputs=pl.t
task.outputs=out.records
task.commit.ms=1h
job.checkpoint.sqlite.path=$T/reader.db
systems.pl.samza.factory=pulsar
systems.pl.pulsar.service-url=$TLS
systems.pl.pulsar.tls.trust-certs-file=$T/ca.crt
sensitive.systems.pl.pulsar.auth.token=$JOBTOK
systems.pl.streams.t.pulsar.topic=persistent://public/default/tls-good
systems.pl.streams.t.subscriptionName=tls-sub
systems.pl.streams.t.pulsar.subscription.initial-position=Earliest
systems.out.samza.factory=file
systems.out.streams.records.path=$T/reader.jsonl
P
kin_run "$T/reader.properties" "$T/reader.log"
kin_wait_lines "$T/reader.jsonl" 200 60 "$KIN_PID" "$T/reader.log"
kin_stop "$KIN_PID" "$T/reader.log"
HTTP=$(cat "$T/peers/pulsar.http-url")
backlog() {
    curl -sf -H "Authorization: Bearer $ADMIN" \
        "$HTTP/admin/v2/persistent/public/default/tls-good/stats" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["subscriptions"]["tls-sub"]["msgBacklog"])'
}
i=0
until [ "$(backlog)" = 0 ]; do
    i=$((i + 1))
    [ "$i" -le 60 ] || fail "reading over TLS: backlog $(backlog) after the job stopped"
    sleep 0.5
done
lacks "$T/reader.log" "$JOBTOK"
say "TLS + token, reading: 200 messages, every one acknowledged by the commit made on stop"

# expect_refusal NAME TEXT: the job must fail within 30 s, its error naming TEXT.
expect_refusal() {
    set +e
    timeout 30 "$SLUICE" run "$T/$1.properties" >"$T/$1.log" 2>&1
    rc=$?
    set -e
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || { tail -n 10 "$T/$1.log"; fail "$1: the job did not fail at once (exit $rc)"; }
    grep "job failed" "$T/$1.log" | grep -qF "$2" || { tail -n 10 "$T/$1.log"; fail "$1: the error does not say '$2'"; }
    lacks "$T/$1.log" "$JOBTOK"
    say "$1: refused: $(grep -o "job failed: .*" "$T/$1.log" | cut -c1-160)"
}
job badtoken "$TLS" "systems.pl.pulsar.tls.trust-certs-file=$T/ca.crt" "sensitive.systems.pl.pulsar.auth.token=${JOBTOK}x"
expect_refusal badtoken AuthenticationError
job untrusted "$TLS" "systems.pl.pulsar.tls.trust-certs-file=$T/other-ca.crt" "sensitive.systems.pl.pulsar.auth.token=$JOBTOK"
expect_refusal untrusted "certificate verify failed"
job wrongname "pulsar+ssl://localhost:$PORT" "systems.pl.pulsar.tls.trust-certs-file=$T/ca.crt" "sensitive.systems.pl.pulsar.auth.token=$JOBTOK"
expect_refusal wrongname "hostname mismatch"
job nocheck "pulsar+ssl://localhost:$PORT" "systems.pl.pulsar.tls.trust-certs-file=$T/ca.crt" \
    "systems.pl.pulsar.tls.hostname-verification=false" "sensitive.systems.pl.pulsar.auth.token=$JOBTOK"
timeout 60 "$SLUICE" run "$T/nocheck.properties" >"$T/nocheck.log" 2>&1 || { tail -n 20 "$T/nocheck.log"; fail "hostname-verification=false did not connect"; }
say "hostname-verification=false: connects to localhost with a certificate for 127.0.0.1"

# Broker host names are resolved off the job's loop, and every address of a name is tried in
# turn until one connects (as the Java client does). nss_wrapper gives a made-up name two
# addresses, the first of which refuses connections (the broker listens on 127.0.0.1 only).
NSSW=
for d in /usr/lib/*-linux-gnu /usr/lib64 /usr/lib; do
    [ -e "$d/libnss_wrapper.so" ] && NSSW=$d/libnss_wrapper.so && break
done
[ -n "$NSSW" ] || fail "needs libnss_wrapper.so (Debian: libnss-wrapper; tools/deps.sh installs it)"
PLAIN=$(cat "$T/pulsar.url")
printf '127.0.0.2 brokers.sluice.test\n127.0.0.1 brokers.sluice.test\n' >"$T/hosts"
job names "pulsar://brokers.sluice.test:${PLAIN##*:}" "sensitive.systems.pl.pulsar.auth.token=$JOBTOK"
LD_PRELOAD=$NSSW NSS_WRAPPER_HOSTS=$T/hosts NSS_WRAPPER_PASSWD=/etc/passwd NSS_WRAPPER_GROUP=/etc/group \
    timeout 60 "$SLUICE" run "$T/names.properties" >"$T/names.log" 2>&1 ||
    { tail -n 20 "$T/names.log"; fail "the job naming the broker by a host name failed"; }
grep -q "connection to brokers.sluice.test:${PLAIN##*:}: address 127.0.0.2: .*; trying the next" "$T/names.log" ||
    { tail -n 20 "$T/names.log"; fail "the refused first address of the name is not logged"; }
count_tls "$T/names.read" persistent://public/default/tls-names || fail "the official client could not read over TLS"
[ "$(cat "$T/names.read")" = 200 ] || fail "the job by host name wrote $(cat "$T/names.read") of 200 messages"
say "host name with two addresses: 127.0.0.2 refused, 127.0.0.1 took all 200 messages"
say "ok"
