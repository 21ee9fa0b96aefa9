#!/bin/sh
# 0003: the main example job (examples/jobs/log-filter.properties, the README's first command)
# prints exactly the documented output, resumes after its checkpoint on a second run, and runs
# again from the start after `sluice checkpoints reset`.
. "$(dirname "$0")/lib/common.sh"

cd "$T"
mkdir -p examples
cp -r "$top_srcdir/examples/data" "$top_srcdir/examples/jobs" examples/
chmod -R u+w examples
JOB=examples/jobs/log-filter.properties

"$SLUICE" run $JOB >first.out 2>first.err || { cat first.err; fail "example job failed"; }
diff -u "$top_srcdir/examples/data/expected-errors.jsonl" first.out || fail "output differs from the documented output"
say "first run: $(wc -l <first.out) lines, as documented"

"$SLUICE" run $JOB >second.out 2>second.err || { cat second.err; fail "second run failed"; }
[ ! -s second.out ] || { cat second.out; fail "second run re-emitted records: the checkpoint was not used"; }
say "second run: nothing (resumed after the checkpoint)"

"$SLUICE" checkpoints list $JOB >list.out
contains list.out "examples/data/app.jsonl"
last=$(($(wc -c <examples/data/app.jsonl) - $(tail -n 1 examples/data/app.jsonl | wc -c)))
contains list.out " $last "
say "checkpoint at byte $last (start of the last line)"

"$SLUICE" checkpoints reset $JOB >reset.out
contains reset.out "deleted 1 checkpoint(s)"
"$SLUICE" run $JOB >third.out 2>third.err
diff -u first.out third.out || fail "after reset the output differs"
say "ok"
