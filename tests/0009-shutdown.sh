#!/bin/sh
# 0009: graceful shutdown. A job following a growing file is stopped with SIGINT: it drains,
# writes its final checkpoint (at the last line, although task.commit.ms is an hour) and exits 0.
# A restart reads only what was appended since. A second signal exits at once with 130.
. "$(dirname "$0")/lib/common.sh"

seq 1 1000 | sed 's/.*/{"i":&}/' >"$T/in.jsonl"
cat >"$T/job.properties" <<P
job.name=shutdown
task.inputs=in.s
task.outputs=out.s
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in.jsonl
systems.in.streams.s.follow=true
systems.in.streams.s.poll.interval=20ms
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
job.checkpoint.sqlite.path=$T/ckpt.db
task.commit.ms=1h
P
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
"$SLUICE" run "$T/job.properties" 2>"$T/run1.err" &
pid=$!
wait_for 20 sh -c "[ \$(wc -l <'$T/out.jsonl' 2>/dev/null || echo 0) -ge 1000 ]" || { cat "$T/run1.err"; fail "first 1000 never written"; }
seq 1001 1500 | sed 's/.*/{"i":&}/' >>"$T/in.jsonl"
wait_for 20 sh -c "[ \$(wc -l <'$T/out.jsonl') -ge 1500 ]" || fail "appended lines never followed"
kill -INT "$pid"
wait "$pid" || { cat "$T/run1.err"; fail "SIGINT should exit 0"; }
"$SLUICE" checkpoints list "$T/job.properties" >"$T/list"
last=$(($(wc -c <"$T/in.jsonl") - $(tail -n 1 "$T/in.jsonl" | wc -c)))
grep -q " $last " "$T/list" || { cat "$T/list"; fail "final checkpoint is not at the last line ($last)"; }
say "final checkpoint at byte $last after SIGINT"

seq 1501 1600 | sed 's/.*/{"i":&}/' >>"$T/in.jsonl"
"$SLUICE" run "$T/job.properties" 2>"$T/run2.err" &
pid=$!
wait_for 20 sh -c "[ \$(wc -l <'$T/out.jsonl') -ge 1600 ]" || fail "restart did not pick up appended lines"
sleep 0.3
kill -TERM "$pid"
wait "$pid" || fail "SIGTERM should exit 0"
[ "$(lines "$T/out.jsonl")" = 1600 ] || fail "expected exactly 1600 lines (no replay), got $(lines "$T/out.jsonl")"
[ "$(sort -u "$T/out.jsonl" | wc -l)" = 1600 ] || fail "duplicates after a graceful restart"
say "restart after graceful stop: no duplicate"

# Two signals: when the drain cannot finish (the sink is a FIFO nobody reads, so its write
# blocks), the first signal leaves the job draining and the second one exits at once with 130.
mkfifo "$T/stuck.fifo"
seq 1 100000 | sed 's/.*/{"i":&,"pad":"................................"}/' >"$T/big.jsonl"
cat >"$T/stuck.properties" <<P
job.name=stuck
task.inputs=in.s
task.outputs=out.s
systems.in.samza.factory=file
systems.in.streams.s.path=$T/big.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/stuck.fifo
job.checkpoint.sqlite.path=$T/stuck.db
task.commit.ms=1h
P
"$SLUICE" run "$T/stuck.properties" 2>"$T/run3.err" &
pid=$!
sleep 1
kill -INT "$pid"
sleep 1
kill -0 "$pid" 2>/dev/null || fail "the job should still be draining into the blocked FIFO"
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
[ "$rc" = 130 ] || fail "second SIGINT exited $rc, expected 130"
"$SLUICE" checkpoints list "$T/stuck.properties" >"$T/stuck.list"
contains "$T/stuck.list" "no checkpoints"
say "second signal while draining: exit 130, no checkpoint written"
say "ok"
