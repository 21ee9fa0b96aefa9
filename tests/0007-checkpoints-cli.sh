#!/bin/sh
# 0007: `sluice checkpoints list|reset` with --stream/--partition filters, on a job reading a
# directory (one partition per file) with two worker threads.
. "$(dirname "$0")/lib/common.sh"

mkdir "$T/in"
for f in a b c; do
    for i in 1 2 3 4 5; do echo "{\"file\":\"$f\",\"i\":$i}"; done >"$T/in/$f.jsonl"
done
echo "not me" >"$T/in/skip.txt"
cat >"$T/job.properties" <<P
job.name=ckcli
job.id=7
task.inputs=files.logs
task.outputs=out.all
job.container.thread.count=2
systems.files.samza.factory=file
systems.files.streams.logs.path=$T/in
systems.files.streams.logs.include=*.jsonl
systems.out.samza.factory=file
systems.out.streams.all.path=$T/out.jsonl
job.checkpoint.sqlite.path=$T/ckpt.db
P
"$SLUICE" run "$T/job.properties" 2>"$T/run.err" || { cat "$T/run.err"; fail "run failed"; }
[ "$(wc -l <"$T/out.jsonl")" = 15 ] || fail "expected 15 lines out"
lacks "$T/out.jsonl" "not me"

"$SLUICE" checkpoints list "$T/job.properties" >"$T/list"
cat "$T/list"
[ "$(grep -c "$T/in/" "$T/list")" = 3 ] || fail "expected 3 partitions checkpointed"
last=$(($(wc -c <"$T/in/a.jsonl") - $(tail -n 1 "$T/in/a.jsonl" | wc -c)))
grep "$T/in/a.jsonl" "$T/list" | grep -q " $last " || fail "a.jsonl not checkpointed at its last line ($last)"

"$SLUICE" checkpoints list "$T/job.properties" --partition "$T/in/b.jsonl" >"$T/one"
[ "$(grep -c "$T/in/" "$T/one")" = 1 ] || fail "--partition filter"
"$SLUICE" checkpoints list "$T/job.properties" --stream nosuch >"$T/none"
contains "$T/none" "no checkpoints"

"$SLUICE" checkpoints reset "$T/job.properties" --partition "$T/in/b.jsonl" >"$T/reset"
contains "$T/reset" "deleted 1 checkpoint(s)"
"$SLUICE" run "$T/job.properties" 2>>"$T/run.err"
[ "$(wc -l <"$T/out.jsonl")" = 20 ] || fail "after resetting b, exactly b's 5 lines should be read again"

# Another job id keeps separate checkpoints in the same file.
"$SLUICE" checkpoints list "$T/job.properties" -D job.id=8 >"$T/other"
contains "$T/other" "no checkpoints"
"$SLUICE" checkpoints reset "$T/job.properties" --stream logs >"$T/all"
contains "$T/all" "deleted 3 checkpoint(s)"
say "ok"
