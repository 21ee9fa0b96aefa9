#!/bin/sh
# 0004: at-least-once under kill -9. A job copies 1M fixed-size JSON lines through a filter into
# a file while it is killed with SIGKILL at random moments and restarted, until it finishes.
# Then: every input line is in the output at least once, no output line is torn, and every
# duplicate is explained by a replay from the last checkpoint before a kill: the lines written
# past that checkpoint (at most about one commit interval of work) and nothing else.
. "$(dirname "$0")/lib/common.sh"
needs python3

N=${SLUICE_KILL9_LINES:-1000000}
KILLS=${SLUICE_KILL9_KILLS:-6}
COMMIT_MS=200
LINE=100 # bytes per input line, newline included

awk -v n="$N" 'BEGIN {
    pad = "................................................................................";
    for (i = 0; i < n; i++) {
        s = sprintf("{\"n\":%d,\"level\":\"%s\",\"msg\":\"", i, (i % 10 == 0) ? "error" : "info");
        printf "%s%s\"}\n", s, substr(pad, 1, 97 - length(s));
    }
}' >"$T/in.jsonl"
# Make sure every line is exactly $LINE bytes (the test maps byte offsets to line numbers).
awk -v L=$LINE 'length($0) + 1 != L { print "bad line length at " NR ": " length($0) + 1; exit 1 }' "$T/in.jsonl"

cat >"$T/job.properties" <<P
job.name=kill9
task.inputs=in.s
task.outputs=out.s
task.operators=keep
task.commit.ms=$COMMIT_MS
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.keep.type=filter
operators.keep.expr=json_extract(payload, '\$.n') >= 0
job.checkpoint.sqlite.path=$T/ckpt.db
log.level=warn
P

ckpt_line() { # index of the last committed input line, -1 when none
    off=$("$SLUICE" checkpoints list "$T/job.properties" | awk 'NR == 2 { print $4 }')
    if [ -z "$off" ]; then echo -1; else echo $((off / LINE)); fi
}

expected_dups=0
kills=0
run=0
while :; do
    run=$((run + 1))
    start=$(date +%s.%N)
    before=$( [ -f "$T/out.jsonl" ] && wc -l <"$T/out.jsonl" || echo 0)
    "$SLUICE" run "$T/job.properties" 2>>"$T/runs.err" &
    pid=$!
    if [ "$kills" -lt "$KILLS" ]; then
        sleep "$(python3 -c 'import random; print(round(random.uniform(0.05, 0.4), 2))')"
    fi
    if [ "$kills" -lt "$KILLS" ] && kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        kills=$((kills + 1))
        now=$(date +%s.%N)
        # A kill can tear the last line; the producer repairs that at its next start, so count
        # complete lines only.
        lines=$(wc -l <"$T/out.jsonl" 2>/dev/null || echo 0)
        c=$(ckpt_line)
        # Distinct lines covered so far = lines - earlier duplicates; the ones past the
        # checkpoint will be written again by the next run.
        dups=$((lines - expected_dups - (c + 1)))
        written=$((lines - before))
        rate=$(python3 -c "print(int($written / max($now - $start, 0.001)))")
        bound=$(python3 -c "print(int($rate * $COMMIT_MS / 1000 * 2 + 25000))")
        say "kill $kills after ${written} lines this run (~$rate lines/s): checkpoint at line $c, $dups lines past it (bound $bound)"
        [ "$dups" -ge 0 ] || fail "the checkpoint ($c) is ahead of the output ($lines lines): data would be lost"
        [ "$dups" -le "$bound" ] || fail "$dups uncommitted lines exceed about one commit interval ($bound)"
        expected_dups=$((expected_dups + dups))
        continue
    fi
    wait "$pid" || { tail -5 "$T/runs.err"; fail "run $run exited non-zero"; }
    break
done

python3 - "$T/out.jsonl" "$N" "$expected_dups" <<'PY'
import json, sys
path, n, expected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = bytearray(n)
total = 0
with open(path, "rb") as f:
    for no, line in enumerate(f, 1):
        if not line.endswith(b"\n"):
            sys.exit("FAIL: line %d is torn (no newline)" % no)
        try:
            v = json.loads(line)["n"]
        except Exception as e:
            sys.exit("FAIL: line %d is not the JSON we wrote: %r (%s)" % (no, line[:80], e))
        seen[v] = 1
        total += 1
missing = n - sum(seen)
dups = total - n + missing
print("# input %d lines, output %d lines, missing %d, duplicates %d (explained by replays: %d)"
      % (n, total, missing, dups, expected))
if missing:
    sys.exit("FAIL: %d input lines are missing from the output" % missing)
if dups != expected:
    sys.exit("FAIL: %d duplicates, but replays from the checkpoints explain %d" % (dups, expected))
PY
say "ok: $kills kills, every line at least once"
