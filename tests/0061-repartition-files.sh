#!/bin/sh
# 0061: a window grouped by a JSON field that is not how the input is partitioned, through a
# repartition over a file-system intermediate stream (a directory of 8 partition files), one
# process with 4 worker threads, judged by the sqlite3 shell's batch computation.
#   The input: 4 files, every key in every file (so no file's partition sees all of a key),
#   event times with bounded disorder (less than task.watermark.delay: no record is late,
#   before or after the repartition). The job re-keys every event by its field k onto the
#   intermediate stream and runs tumbling 10 s windows (count, sum, min, max, avg,
#   count(DISTINCT)) on its partitions. Watermarks cross as markers: the windows close as the
#   upstream partitions' smallest watermark passes them, and the end of the 4 input files
#   closes the rest. The output must be the batch's windows exactly: each (key, window) once,
#   nothing missing or extra; every key's records went to the one intermediate partition its
#   FNV-1a hash names; and the job ends by itself (the intermediate partitions end once every
#   upstream partition told them it had).
#   Then the same job is killed (kill -9) twice while it runs and restarted until it ends:
#   records the upstream sent again after a crash are dropped downstream by their numbers, and
#   windows re-emitted after a crash of the downstream are exact repeats, so keeping one line
#   per window gives the batch's windows again.
. "$(dirname "$0")/lib/common.sh"
needs sqlite3 python3
LC_ALL=C
export LC_ALL

N=${SLUICE_REPARTITION_EVENTS:-100000}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

mkdir -p "$T/in"
awk -v n="$N" -v files=4 -v keys=50 -v t0=1700000000000 -v dir="$T/in" '
function rnd(m) { seed = (seed * 16807) % 2147483647; return seed % m }
BEGIN {
    per = int(n / files)
    for (f = 0; f < files; f++) {
        seed = 6100 + 7919 * f
        base = t0
        out = dir "/p" f ".jsonl"
        for (i = 0; i < per; i++) {
            base += rnd(9)
            ts = base - rnd(1500)
            printf "{\"ts\":%.0f,\"k\":\"k%02d\",\"v\":%d,\"c\":%d}\n", ts, rnd(keys), rnd(2001) - 1000, rnd(7) >out
        }
        close(out)
    }
}'
n_in=$(cat "$T"/in/*.jsonl | wc -l)

job() { # job NAME: the repartitioned window job, output $T/NAME.out, intermediate $T/NAME.mid
    cat >"$T/$1.properties" <<P
job.name=repart-$1
task.inputs=in.ev,mid.s
task.outputs=mid.s,out.s
task.operators=rp,w
task.timestamp.expr=json_extract(payload, '\$.ts')
task.watermark.delay=2000
task.commit.ms=500ms
job.container.thread.count=4
job.checkpoint.sqlite.path=$T/$1.db
systems.in.samza.factory=file
systems.in.streams.ev.path=$T/in
systems.mid.samza.factory=file
systems.mid.streams.s.path=$T/$1.mid
systems.mid.streams.s.partitions=8
systems.mid.streams.s.format=json
systems.mid.streams.s.follow=true
systems.mid.streams.s.poll.interval=20ms
systems.mid.streams.s.discover.interval=100ms
systems.out.samza.factory=file
systems.out.streams.s.path=$T/$1.out
operators.rp.type=repartition
operators.rp.stream=mid.s
operators.rp.key=json_extract(payload, '\$.k')
operators.rp.watermark.interval=100ms
operators.w.type=window
operators.w.window=tumbling
operators.w.size=10s
operators.w.aggregates=count(*) AS n, sum(json_extract(payload, '\$.v')) AS s, min(json_extract(payload, '\$.v')) AS lo, max(json_extract(payload, '\$.v')) AS hi, avg(json_extract(payload, '\$.v')) AS a, count(DISTINCT json_extract(payload, '\$.c')) AS d
P
}

# The batch: every (key, 10 s window) of the input.
SEP=$(printf '\001')
{
    printf '%s\n' ".separator '$SEP' \"\\n\""
    echo "CREATE TABLE raw (line TEXT);"
    for f in 0 1 2 3; do echo ".import '$T/in/p$f.jsonl' raw"; done
    echo "CREATE TABLE ex AS SELECT json_extract(line, '\$.k') AS key,
        json_extract(line, '\$.ts') - json_extract(line, '\$.ts') % 10000 AS ws, count(*) AS n,
        sum(json_extract(line, '\$.v')) AS s, min(json_extract(line, '\$.v')) AS lo,
        max(json_extract(line, '\$.v')) AS hi, avg(json_extract(line, '\$.v')) AS a,
        count(DISTINCT json_extract(line, '\$.c')) AS d FROM raw GROUP BY 1, 2;"
} | sqlite3 -batch "$T/judge.db" || fail "sqlite3 could not compute the batch"
n_ex=$(sqlite3 -batch -noheader "$T/judge.db" "SELECT count(*) FROM ex")
say "input: $n_in events in 4 files, 50 keys in every file; the batch has $n_ex windows"

# wait_end NAME PID SECONDS: the job ends by itself, successfully.
wait_end() {
    _end=$(($(date +%s) + $3))
    while kill -0 "$2" 2>/dev/null; do
        [ "$(date +%s)" -lt "$_end" ] || { tail -n 20 "$T/$1.log"; kill -9 "$2"; fail "$1: the job did not end within $3 s"; }
        sleep 0.2
    done
    wait "$2" || { tail -n 20 "$T/$1.log"; fail "$1: the job failed"; }
    grep -q "all inputs exhausted" "$T/$1.log" || { tail -n 20 "$T/$1.log"; fail "$1: the job did not end by itself"; }
}

# judge NAME DEDUP: compares NAME.out with the batch; DEDUP=1 allows a window more than once
# (re-emitted after a crash), but every line must still be exactly the batch's window.
judge() {
    res=$(sqlite3 -batch -noheader -separator ' ' "$T/judge.db" <<SQL
.separator '$SEP' "\\n"
CREATE TEMP TABLE o (line TEXT);
.import '$T/$1.out' o
.separator ' ' "\\n"
CREATE TEMP TABLE got0 AS SELECT rowid AS r, json_extract(line, '\$.key') AS key,
    json_extract(line, '\$.window_start') AS ws, json_extract(line, '\$.window_end') AS we,
    json_extract(line, '\$.n') AS n, json_extract(line, '\$.s') AS s, json_extract(line, '\$.lo') AS lo,
    json_extract(line, '\$.hi') AS hi, json_extract(line, '\$.a') AS a, json_extract(line, '\$.d') AS d,
    json_extract(line, '\$.update') AS upd FROM o;
CREATE TEMP TABLE got AS SELECT * FROM got0 WHERE $2 = 0 OR r IN (SELECT max(r) FROM got0 GROUP BY key, ws);
SELECT (SELECT count(*) FROM got), (SELECT count(*) FROM ex),
    (SELECT count(*) FROM (SELECT key, ws FROM ex EXCEPT SELECT key, ws FROM got)),
    (SELECT count(*) FROM got0 g JOIN ex e ON e.key = g.key AND e.ws = g.ws
        WHERE g.n IS NOT e.n OR g.s IS NOT e.s OR g.lo IS NOT e.lo OR g.hi IS NOT e.hi
        OR abs(g.a - e.a) > 1e-9 OR g.d IS NOT e.d OR g.we != g.ws + 10000),
    (SELECT count(*) FROM (SELECT key, ws FROM got GROUP BY 1, 2 HAVING count(*) > 1)),
    (SELECT count(*) FROM got0 WHERE upd IS NOT 0) + (SELECT count(*) FROM got0 g WHERE NOT EXISTS
        (SELECT 1 FROM ex e WHERE e.key = g.key AND e.ws = g.ws));
SQL
    ) || fail "$1: sqlite3 could not read the output"
    set -- $res
    [ "$1" = "$2" ] && [ "$3" = 0 ] && [ "$4" = 0 ] && [ "$5" = 0 ] && [ "$6" = 0 ] ||
        fail "windows: $1 out, $2 in the batch, $3 missing, $4 lines different, $5 twice, $6 updates or unknown"
}

# ---- one run ----
job one
t0=$(now)
"$SLUICE" run "$T/one.properties" >"$T/one.log" 2>&1 &
PID=$!
wait_end one "$PID" 300
secs=$(since "$t0")
judge one 0
# Every key went to one intermediate partition, and to the one FNV-1a says.
python3 - "$T/one.mid" <<'PY' || fail "a key is in more than one intermediate partition"
import json, os, sys
d = sys.argv[1]
files = sorted(os.listdir(d))
assert len(files) == 8, files
where, markers = {}, 0
for f in files:
    for line in open(os.path.join(d, f)):
        env = json.loads(line)
        if "sluice.wm" in env["headers"]:
            markers += 1
            continue
        where.setdefault(env["key"], set()).add(f)
def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
bad = {k: v for k, v in where.items() if len(v) != 1 or v != {"partition-%05d" % (fnv(k.encode()) % 8)}}
if bad:
    sys.exit("keys misplaced: %s" % dict(list(bad.items())[:5]))
if markers < 8 * 4:
    sys.exit("only %d watermark markers in the intermediate stream" % markers)
PY
say "one run: $n_ex windows identical to sqlite3's batch, $(sed -n '$=' "$T/one.out") lines, in $secs s (4 threads, 8 intermediate partitions), ended by itself"

# ---- kill -9 twice, then to the end ----
job crash
lines() { if [ -s "$1" ]; then sed -n '$=' "$1"; else echo 0; fi; }
kills=0
for frac in 10 2; do
    "$SLUICE" run "$T/crash.properties" >>"$T/crash.log" 2>&1 &
    PID=$!
    # Somewhere in the middle: some windows out, not all.
    while [ "$(lines "$T/crash.out")" -lt $((n_ex / frac)) ] && kill -0 "$PID" 2>/dev/null; do
        sleep 0.02
    done
    kill -9 "$PID" 2>/dev/null && kills=$((kills + 1))
    wait "$PID" 2>/dev/null || true
done
[ "$kills" -ge 1 ] || fail "the job ended before any kill"
"$SLUICE" run "$T/crash.properties" >>"$T/crash.log" 2>&1 &
PID=$!
wait_end crash "$PID" 300
judge crash 1
say "kill -9 ($kills times) and restarted: keeping one line per window, the same $n_ex windows ($(lines "$T/crash.out") lines)"
say "ok"
