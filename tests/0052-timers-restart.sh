#!/bin/sh
# 0052: timers survive kill -9. The example operator examples/operators/sessions.c keeps each
# user's open session in keyed state with an event-time timer (its last click + gap - 1) and a
# processing-time timer (the wall-clock time of its last click + idle). The job follows its input
# file (it never ends by itself), with a gap too large for the watermark to close anything, so
# only the idle timers can close the sessions. Once the offsets and the state are committed
# (the sqlite3 shell reads the checkpoint file: the offset of the last click, the session rows
# and both timers of each user, their times decoded from the keys), the job is killed with
# SIGKILL before the idle timers are due and started again: each session summary comes out
# exactly once, from the restarted job, not before the timer's time, with "closed":"idle" and
# the values jq computes from the input. A graceful stop then leaves no session or timer rows.
. "$(dirname "$0")/lib/common.sh"
needs sqlite3 jq

IDLE_MS=4000
GAP_MS=3600000
lib="$top_builddir/examples/operators/.libs/libsessions.so"
[ -f "$lib" ] || fail "$lib is not built"
now_ms() { date +%s%3N; }

cat >"$T/in.jsonl" <<'J'
{"ts":1763800000000,"user":"ann","page":"/"}
{"ts":1763800060000,"user":"bob","page":"/"}
{"ts":1763800120000,"user":"ann","page":"/search"}
{"ts":1763800110000,"user":"bob","page":"/item/17"}
{"ts":1763800300000,"user":"ann","page":"/"}
J

cat >"$T/job.properties" <<P
job.name=timers
task.inputs=in.s
task.outputs=out.s
task.operators=byuser,page,sessions
task.commit.ms=100
task.timestamp.expr=json_extract(payload, '\$.ts')
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in.jsonl
systems.in.streams.s.follow=true
systems.in.streams.s.poll.interval=50ms
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.byuser.type=rekey
operators.byuser.expr=json_extract(payload, '\$.user')
operators.page.type=map
operators.page.expr=json_extract(payload, '\$.page')
operators.sessions.library=$lib
operators.sessions.gap=${GAP_MS}ms
operators.sessions.idle=${IDLE_MS}ms
job.checkpoint.sqlite.path=$T/ckpt.db
log.level=info
P

q() { sqlite3 -batch -noheader -separator ' ' -cmd '.timeout 5000' "$T/ckpt.db" "$@"; }
lines() { if [ -f "$T/out.jsonl" ]; then wc -l <"$T/out.jsonl"; else echo 0; fi; }
# The offset of the last click: a file partition's checkpoint is the start of its last record.
last_off=$(($(wc -c <"$T/in.jsonl") - $(tail -n 1 "$T/in.jsonl" | wc -c)))
# committed: the last click's offset and, in the same transaction, 2 timers per user.
committed() {
    [ -f "$T/ckpt.db" ] || return 1
    [ "$(q "SELECT \"offset\" FROM sluice_checkpoints WHERE job_name = 'timers'")" = "$last_off" ] || return 1
    [ "$(q "SELECT count(*) FROM sluice_state WHERE job_name = 'timers' AND operator = 'sessions/timers'")" = 4 ]
}
# timers: "domain user time" per timer row (key: domain byte, big-endian time with the sign bit
# flipped, user).
timers() {
    q "SELECT CAST(substr(key, 1, 1) AS TEXT), CAST(substr(key, 10) AS TEXT), hex(substr(key, 2, 8))
       FROM sluice_state WHERE job_name = 'timers' AND operator = 'sessions/timers' ORDER BY 1, 2" |
        while read -r d u h; do
            echo "$d $u $(( ((0x$(echo "$h" | cut -c1-2) ^ 0x80) << 56) | 0x$(echo "$h" | cut -c3-) ))"
        done
}

t0=$(now_ms)
"$SLUICE" run "$T/job.properties" 2>"$T/run1.err" &
pid=$!
wait_for 30 committed || { cat "$T/run1.err"; fail "no commit of the last click's offset with 4 timers within 30 s"; }
timers >"$T/timers.txt"
t_kill=$(now_ms)
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
say "committed after $((t_kill - t0)) ms; killed with the timers:"
sed 's/^/#   /' "$T/timers.txt"
[ "$(lines)" = 0 ] || { cat "$T/out.jsonl"; fail "a session came out before the kill"; }

# The event-time timers are each user's last click + gap - 1 (jq's reading of the input).
jq -r --argjson gap $GAP_MS -s 'group_by(.user)[] | "e \(.[0].user) \((map(.ts) | max) + $gap - 1)"' \
    "$T/in.jsonl" >"$T/want-e.txt"
grep '^e ' "$T/timers.txt" >"$T/got-e.txt" || true
diff -u "$T/want-e.txt" "$T/got-e.txt" || fail "the event-time timers in the checkpoint are not last click + gap - 1"
grep '^p ' "$T/timers.txt" >"$T/got-p.txt" || true
[ "$(awk '$2 == "ann" || $2 == "bob"' "$T/got-p.txt" | wc -l)" = 2 ] || fail "not one processing-time timer per user in the checkpoint"
due=$(awk 'NR == 1 || $3 < m { m = $3 } END { print m }' "$T/got-p.txt")
[ "$t_kill" -lt "$due" ] || fail "the kill at $t_kill came after the first idle timer's time $due (raise IDLE_MS)"
[ "$(q "SELECT count(*) FROM sluice_state WHERE job_name = 'timers' AND operator = 'sessions' AND CAST(substr(key, 1, 1) AS TEXT) = 's'")" = 2 ] \
    || fail "the checkpoint lacks the two open sessions"
say "killed $((due - t_kill)) ms before the first idle timer was due"

"$SLUICE" run "$T/job.properties" 2>"$T/run2.err" &
pid=$!
wait_for 30 sh -c "[ -f '$T/out.jsonl' ] && [ \$(wc -l <'$T/out.jsonl') -ge 2 ]" \
    || { cat "$T/run2.err"; fail "the sessions did not come out within 30 s of the restart"; }
t_out=$(now_ms)
[ "$t_out" -ge "$due" ] || fail "a session came out at $t_out, before its timer's time $due"
say "both sessions out $((t_out - due)) ms after the first idle timer's time"
# Nothing more: the timers fired once (and the event-time timers were deleted with the sessions).
sleep 1.5
kill -TERM "$pid"
wait "$pid" || { cat "$T/run2.err"; fail "the restarted job did not stop cleanly"; }
[ "$(lines)" = 2 ] || { cat "$T/out.jsonl"; fail "expected exactly 2 session summaries, got $(lines)"; }

jq -c -s 'group_by(.user)[] | {user: .[0].user, start: (map(.ts) | min), end: (map(.ts) | max),
          clicks: length, pages: (map(.page) | unique | length), closed: "idle"}' \
    "$T/in.jsonl" >"$T/want.jsonl"
jq -c -s 'sort_by(.user)[]' "$T/out.jsonl" >"$T/got.jsonl" || fail "the output is not JSON"
diff -u "$T/want.jsonl" "$T/got.jsonl" || fail "the session summaries differ from jq's sessions of the input"

left=$(q "SELECT operator, hex(key) FROM sluice_state WHERE job_name = 'timers' AND operator LIKE 'sessions%'")
[ -z "$left" ] || fail "state left after the sessions closed: $left"
say "ok: 4 timers committed, kill -9 before due, 2 sessions closed by idle once after the restart"
