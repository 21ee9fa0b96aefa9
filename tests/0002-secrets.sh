#!/bin/sh
# 0002: secrets never appear in a config dump, in logs at debug level, or in error messages.
# Values under `sensitive.` are secret (Samza semantics), whatever the key.
. "$(dirname "$0")/lib/common.sh"

SECRET_EXPR="hunter2-expr-7f3a9c"
SECRET_DIR="secretdir-41c9e2"
mkdir -p "$T/$SECRET_DIR"
printf '{"token":"a"}\n{"token":"b"}\n' >"$T/$SECRET_DIR/in.jsonl"

cat >"$T/job.properties" <<P
job.name=secrets
task.inputs=in.s
task.outputs=out.s
task.operators=f
systems.in.samza.factory=file
sensitive.systems.in.streams.s.path=$T/$SECRET_DIR/in.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.f.type=filter
sensitive.operators.f.expr=json_extract(payload, '\$.token') != '$SECRET_EXPR'
job.checkpoint.sqlite.path=$T/ckpt.db
log.debug=all
P

# 1. The dump masks them, and says so.
"$SLUICE" config dump "$T/job.properties" >"$T/dump.out" 2>"$T/dump.err"
lacks "$T/dump.out" "$SECRET_EXPR"; lacks "$T/dump.out" "$SECRET_DIR"
lacks "$T/dump.err" "$SECRET_EXPR"; lacks "$T/dump.err" "$SECRET_DIR"
contains "$T/dump.out" "operators.f.expr"
contains "$T/dump.out" "****"

# 2. A run at debug level (every context) never logs them.
"$SLUICE" run "$T/job.properties" >"$T/run.out" 2>"$T/run.err"
[ "$(wc -l <"$T/out.jsonl")" = 2 ] || fail "expected 2 output lines"
lacks "$T/run.err" "$SECRET_EXPR"; lacks "$T/run.err" "$SECRET_DIR"
lacks "$T/run.out" "$SECRET_EXPR"
[ -s "$T/run.err" ] || fail "debug run logged nothing at all"

# 3. Errors about a secret value do not echo it: a bad secret enum value, an unreadable
#    secret path.
sed "s/^log.debug=all/sensitive.task.error.policy=$SECRET_EXPR/" "$T/job.properties" >"$T/bad.properties"
expect_exit 3 "$SLUICE" config check "$T/bad.properties" 2>"$T/bad.err"
contains "$T/bad.err" "task.error.policy"
lacks "$T/bad.err" "$SECRET_EXPR"
rm -rf "${T:?}/$SECRET_DIR"
expect_exit 3 "$SLUICE" run "$T/job.properties" >"$T/fail.out" 2>"$T/fail.err"
contains "$T/fail.err" "No such file"
lacks "$T/fail.err" "$SECRET_DIR"
echo "systems.in.streams.s.follow=true" >>"$T/job.properties"
expect_exit 3 "$SLUICE" config check "$T/job.properties" >"$T/fail2.out" 2>"$T/fail2.err"
contains "$T/fail2.err" "nor does its directory"
lacks "$T/fail2.err" "$SECRET_DIR"

# 4. ${ENV} substitution feeding a secret is masked the same way.
cat >"$T/env.properties" <<P
job.name=secrets-env
task.inputs=in.s
systems.in.samza.factory=file
systems.in.streams.s.path=/dev/null
task.operators=f
operators.f.type=filter
sensitive.operators.f.expr=payload != '\${SECRET_FROM_ENV}'
P
SECRET_FROM_ENV=envsecret-99d1 "$SLUICE" config dump "$T/env.properties" >"$T/env.out" 2>&1
lacks "$T/env.out" "envsecret-99d1"
say "ok: no secret in dump, debug logs or errors"
