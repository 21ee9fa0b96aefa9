#!/bin/sh
# 0051: the window operator under kill -9, over files and over a Kinesis stream (kinesalite).
# Generated JSON events {"ts","k","v","u"} carry their event time (task.timestamp.expr), with
# a bounded disorder no larger than task.watermark.delay, so no record is ever late. Each key
# lives in exactly one partition (one file of a directory input; one shard, the key being the
# partition key). A tumbling window job (count, sum, min, max, count(DISTINCT)) with a small
# commit interval and a state cache too small for its windows (so it spills) is killed with
# SIGKILL at >= 20 random moments (once its output grew by a random number of lines) and
# restarted each time. Over files the same input goes through tumbling (5 s) and hopping (10 s
# every 2.5 s) windows; over Kinesis through tumbling ones. The file sink writes within 10 ms (write.linger) while commits come every
# 100 ms, so a kill often falls between a window's write and its commit.
#
# What is guaranteed, and checked: a window's state and the watermark are committed with the
# partition's offsets, so a restart continues with exactly the windows of the committed input.
# The file sink is at-least-once: a window emitted after the last commit is emitted again after
# the restart, and it must be the same. The judge, the sqlite3 shell, reads the inputs and the
# output and checks:
#   1. every output line is a window result (none torn), and no window is an update;
#   2. SELECT DISTINCT over (key, window_start, window_end, update, aggregates) holds exactly
#      one row per (key, window, update): a replayed window never diverges from its first copy;
#   3. those rows equal the batch answer, the GROUP BY key, window of the input, exactly
#      (nothing missing, nothing extra).
# Files: the job ends by itself at the end of its files (the watermark closes the last windows).
# Kinesis has no end: the AWS CLI puts the records (one producer per shard, in order), then one
# sentinel record per shard (explicit hash key in the shard's range) with a far-future event
# time, which closes every real window. The job reads that backlog in small GetRecords batches,
# is killed 20 times, and its last run is stopped (SIGTERM) once the output holds the batch's
# number of distinct windows.
. "$(dirname "$0")/lib/common.sh"
needs sqlite3 aws python3 peer:kinesalite
PEER=0051-windows-kill9
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
LC_ALL=C
export LC_ALL

# Below 2^31 - 1: mawk's srand() takes every larger seed for the same one.
SEED=${SLUICE_WIN_SEED:-$(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 2000000000 ))}
N=${SLUICE_WIN_EVENTS:-300000}          # file events
KN=${SLUICE_WIN_KIN_EVENTS:-20000}      # Kinesis events
KILLS=${SLUICE_WIN_KILLS:-22}
KKILLS=${SLUICE_WIN_KIN_KILLS:-20}
SIZE=5000                               # tumbling window size, ms
HSIZE=10000 HSLIDE=2500                 # hopping windows: size and slide, ms
DELAY=2000                              # task.watermark.delay, ms: the largest disorder
BASE=1700000000000                      # event times start here (ms)
say "seed $SEED (replay with SLUICE_WIN_SEED=$SEED)"
t_start=$(date +%s)

# window_props SIZE SLIDE: the window operator's properties (tumbling when SLIDE is SIZE, else
# hopping) and the job's event time and commit interval.
window_props() {
    cat <<P
task.operators=w
task.commit.ms=100
task.state.cache.size=64
task.timestamp.expr=json_extract(payload, '\$.ts')
task.watermark.delay=$DELAY
operators.w.type=window
operators.w.window=$(if [ "$1" = "$2" ]; then echo tumbling; else echo hopping; fi)
operators.w.size=$1
operators.w.slide=$(if [ "$1" = "$2" ]; then echo 0; else echo "$2"; fi)
operators.w.key=json_extract(payload, '\$.k')
operators.w.aggregates=count(*) AS n, sum(json_extract(payload, '\$.v')) AS s, min(json_extract(payload, '\$.v')) AS lo, max(json_extract(payload, '\$.v')) AS hi, count(DISTINCT json_extract(payload, '\$.u')) AS d
P
}

# gen N NPART KEYS STEP OUT: N events in generation order as "part line" rows. Each partition
# has its own clock, advancing STEP ms per event of it; an event's time is its partition's clock minus
# a random 0..DELAY, so it is never older than the partition's largest time seen minus DELAY.
gen() {
    awk -v n="$1" -v np="$2" -v keys="$3" -v step="$4" -v delay=$DELAY -v base=$BASE -v seed=$((SEED + $2)) 'BEGIN {
        srand(seed)
        for (i = 0; i < n; i++) {
            k = int(rand() * keys); p = k % np
            t[p] += step
            printf "%d {\"ts\":%.0f,\"k\":\"k%03d\",\"v\":%d,\"u\":\"u%d\"}\n", p, base + t[p] - int(rand() * (delay + 1)),
                k, int(rand() * 2001) - 1000, int(rand() * 25)
        }
    }' >"$5"
}

# good_lines OUT: fails when a line of OUT is not a window result.
good_lines() {
    _bad=$(grep -cvE '^\{"key":"k[0-9]{3}","window_start":[0-9]+,"window_end":[0-9]+,"n":[0-9]+,"s":-?[0-9]+,"lo":-?[0-9]+,"hi":-?[0-9]+,"d":[0-9]+,"update":(true|false)\}$' "$1" || true)
    [ "$_bad" = 0 ] || { grep -nvE '^\{"key":"k[0-9]{3}","window_start"' "$1" | head -5; fail "$_bad lines of $(basename "$1") are not window results (torn or malformed)"; }
}
# windows OUT: the number of distinct (key, window_start) in OUT.
windows() { if [ -f "$1" ]; then grep -oE '^\{"key":"[^"]*","window_start":[0-9]+' "$1" | sort -u | wc -l; else echo 0; fi; }

# judge NAME IN OUT SIZE SLIDE: the sqlite3 shell computes the batch answer from IN ("part
# line" rows; a record is in the SIZE/SLIDE windows starting at ts - ts % SLIDE - h * SLIDE,
# 0 <= h < SIZE/SLIDE) and compares it with the distinct rows of OUT. Prints "NAME: ..." figures; fails on a difference.
judge() {
    good_lines "$3"
    awk '{ print $2 }' "$2" >"$T/$1.judge-in.jsonl"
    awk '{ print $1 }' "$2" >"$T/$1.judge-part.txt"
    sqlite3 -batch -bail -noheader -separator ' ' :memory: >"$T/$1.judge.txt" 2>&1 <<SQL || { cat "$T/$1.judge.txt"; fail "$1: the judge failed"; }
CREATE TABLE inp AS SELECT key AS idx, json_extract(value, '\$.k') AS k, json_extract(value, '\$.ts') AS ts,
    json_extract(value, '\$.v') AS v, json_extract(value, '\$.u') AS u FROM json_each(
    '[' || replace(rtrim(CAST(readfile('$T/$1.judge-in.jsonl') AS TEXT), char(10)), char(10), ',') || ']');
CREATE TABLE part AS SELECT key AS idx, value AS p FROM json_each(
    '[' || replace(rtrim(CAST(readfile('$T/$1.judge-part.txt') AS TEXT), char(10)), char(10), ',') || ']');
CREATE TABLE outp AS SELECT key AS line, json_extract(value, '\$.key') AS k,
    json_extract(value, '\$.window_start') AS ws, json_extract(value, '\$.window_end') AS we,
    json_extract(value, '\$.update') AS upd, json_extract(value, '\$.n') AS n,
    json_extract(value, '\$.s') AS s, json_extract(value, '\$.lo') AS lo,
    json_extract(value, '\$.hi') AS hi, json_extract(value, '\$.d') AS d FROM json_each(
    '[' || replace(rtrim(CAST(readfile('$3') AS TEXT), char(10)), char(10), ',') || ']');
CREATE TABLE hops AS WITH RECURSIVE h(h) AS (SELECT 0 UNION ALL SELECT h + 1 FROM h WHERE h + 1 < $4 / $5)
    SELECT h FROM h;
CREATE TABLE batch AS SELECT k, ts - ts % $5 - h * $5 AS ws, ts - ts % $5 - h * $5 + $4 AS we, 0 AS upd,
    count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi, count(DISTINCT u) AS d
    FROM inp, hops GROUP BY k, ws;
CREATE TABLE dist AS SELECT DISTINCT k, ws, we, upd, n, s, lo, hi, d FROM outp;
SELECT 'input', count(*), count(DISTINCT k) FROM inp;
SELECT 'keyparts', count(*) FROM (SELECT k FROM inp JOIN part USING (idx) GROUP BY k HAVING count(DISTINCT p) > 1);
SELECT 'batch', count(*) FROM batch;
SELECT 'output', count(*), (SELECT count(*) FROM dist),
    (SELECT count(*) FROM (SELECT DISTINCT k, ws, we, upd FROM outp)), coalesce(sum(upd), 0) FROM outp;
SELECT 'divergent', count(*) FROM (SELECT 1 FROM dist GROUP BY k, ws, we, upd HAVING count(*) > 1);
SELECT 'missing', count(*) FROM (SELECT * FROM batch EXCEPT SELECT * FROM dist);
SELECT 'extra', count(*) FROM (SELECT * FROM dist EXCEPT SELECT * FROM batch);
SELECT 'eg-divergent', d.*, (SELECT min(line) FROM outp o WHERE o.k = d.k AND o.ws = d.ws AND o.n = d.n AND o.s = d.s)
    FROM dist d WHERE (k, ws, upd) IN (SELECT k, ws, upd FROM dist GROUP BY k, ws, upd HAVING count(*) > 1)
    ORDER BY k, ws LIMIT 10;
SELECT 'eg-missing', * FROM (SELECT * FROM batch EXCEPT SELECT * FROM dist) LIMIT 5;
SELECT 'eg-extra', * FROM (SELECT * FROM dist EXCEPT SELECT * FROM batch) LIMIT 5;
SQL
    sed 's/^/# /' "$T/$1.judge.txt"
    _v() { awk -v k="$1" -v f="$2" '$1 == k { print $f }' "$T/$J.judge.txt"; }
    J=$1
    [ "$(_v keyparts 2)" = 0 ] || fail "$1: $(_v keyparts 2) keys are in more than one partition (the generator is wrong)"
    [ "$(_v output 5)" = 0 ] || fail "$1: $(_v output 5) windows came out as updates, though no record was late"
    [ "$(_v divergent 2)" = 0 ] || fail "$1: $(_v divergent 2) windows came out with different aggregates (see eg-divergent above: k ws we update n s lo hi d first-line)"
    [ "$(_v output 3)" = "$(_v output 4)" ] || fail "$1: $(_v output 3) distinct rows for $(_v output 4) windows"
    [ "$(_v missing 2)" = 0 ] || fail "$1: $(_v missing 2) windows of the batch answer are missing or differ (eg-missing above)"
    [ "$(_v extra 2)" = 0 ] || fail "$1: $(_v extra 2) output windows are not in the batch answer (eg-extra above)"
    [ "$(_v output 3)" = "$(_v batch 2)" ] || fail "$1: $(_v output 3) distinct windows out, $(_v batch 2) in the batch answer"
    say "$1 ok: $(_v input 2) events, $(_v input 3) keys, $(_v batch 2) windows in the batch answer;" \
        "$(_v output 2) output lines ($(( $(_v output 2) - $(_v batch 2) )) replayed copies), one distinct row per window, equal to the batch"
}

# ---- files ---------------------------------------------------------------------------------------
t0=$(date +%s)
gen "$N" 2 160 7 "$T/files.gen"
mkdir "$T/in"
awk -v d="$T/in" '{ print $2 > (d "/part" $1 ".jsonl") }' "$T/files.gen"
fkills=""
# The same input, once into tumbling windows, once into hopping ones (4 windows per record).
for w in "tumbling $SIZE $SIZE 200 1000" "hopping $HSIZE $HSLIDE 500 2000"; do
    set -- $w
    t0=$(date +%s)
    cat >"$T/$1.properties" <<P
job.name=winkill-$1
task.inputs=in.s
task.outputs=out.s
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in
systems.in.streams.s.include=*.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/$1.out.jsonl
systems.out.streams.s.write.linger=10ms
job.checkpoint.sqlite.path=$T/$1.ckpt.db
log.level=warn
$(window_props "$2" "$3")
P
    kill9_loop "$T/$1.properties" "$T/$1.out.jsonl" "$KILLS" "$4" "$5"
    t1=$(date +%s)
    say "files, $1: $kills kills, $(wc -l <"$T/$1.out.jsonl") output lines, $((t1 - t0)) s"
    [ "$kills" -ge 20 ] || fail "files, $1: only $kills kills happened: the input ran out first (raise SLUICE_WIN_EVENTS)"
    judge "files-$1" "$T/files.gen" "$T/$1.out.jsonl" "$2" "$3"
    fkills="$fkills $1 $kills"
done

# ---- Kinesis -------------------------------------------------------------------------------------
kin_up kinesalite
KIN=$(cat "$T/kinesalite.url")
STREAM=winkill
kin_stream "$KIN" "$STREAM" 2
cli "$KIN" kinesis list-shards --stream-name "$STREAM" >"$T/shards.json" || fail "list-shards"
# The events, each key in one shard (the key is the partition key), in kin.py's put format. One
# clock for all: the disorder within each shard is bounded by DELAY too.
gen "$KN" 1 48 60 "$T/kin.gen"
python3 - "$T" <<'EOF' || fail "cannot write the records to put"
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
T = sys.argv[1]
recs = []
for i, l in enumerate(open(T + "/kin.gen")):
    line = l.split(" ", 1)[1].rstrip("\n")
    recs.append({"id": "e%d" % i, "key": json.loads(line)["k"], "data": line.encode()})
sl = json.load(open(T + "/shards.json"))["Shards"]
# One file per shard: each is put by its own producer, in order.
for i, s in enumerate(sl):
    lo, hi = int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])
    kin.dump([r for r in recs if lo <= kin.hash_of(r["key"]) <= hi], T + "/kin.in.%d" % i, "w")
# The judge's input: "shard line" rows, in generation order.
with open(T + "/kin.parts", "w") as f:
    for r in recs:
        f.write("%d %s\n" % (next(i for i, s in enumerate(sl) if int(s["HashKeyRange"]["StartingHashKey"]) <= kin.hash_of(r["key"]) <= int(s["HashKeyRange"]["EndingHashKey"])), r["data"].decode()))
far = 1700000000000 + 10**12
kin.dump([{"id": "sentinel%d" % i, "key": "sentinel-" + s["ShardId"], "ehk": s["HashKeyRange"]["StartingHashKey"],
           "data": json.dumps({"ts": far, "k": "sentinel", "v": 0, "u": "-"}, separators=(",", ":")).encode()}
          for i, s in enumerate(sl)], T + "/sentinel.in", "w")
EOF
{ kin_props winkill w1 "$STREAM" "$KIN" "$T/kin.out.jsonl" "$T/kin.ckpt.db" |
      grep -v -e '^task.commit.ms=' -e '^systems.out.streams.records.format=' -e '^log.level='
  echo "log.level=warn"
  echo "systems.out.streams.records.write.linger=10ms"
  window_props $SIZE $SIZE; } >"$T/kin.properties"

# The CLI puts the events before the job starts (one producer per shard, each in order), then
# the sentinels: the job is killed while it works through that backlog, read in small
# GetRecords batches so that it keeps writing and committing all along.
t0=$(date +%s)
kpy put "$KIN" "$STREAM" "$T/kin.in.0" "$T/kin.put.0" >"$T/put.0.log" 2>&1 &
p0=$!
kpy put "$KIN" "$STREAM" "$T/kin.in.1" "$T/kin.put.1" >"$T/put.1.log" 2>&1 &
p1=$!
kin_track $p0; kin_track $p1
wait $p0 || { cat "$T/put.0.log"; fail "kinesis: put-records (shard 0) failed"; }
wait $p1 || { cat "$T/put.1.log"; fail "kinesis: put-records (shard 1) failed"; }
kpy put "$KIN" "$STREAM" "$T/sentinel.in" "$T/sentinel.put" || fail "kinesis: put-records of the sentinels failed"
python3 - "$T" <<'EOF' || fail "kinesis: the records did not land in the shards expected"
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
T = sys.argv[1]
sl = [s["ShardId"] for s in json.load(open(T + "/shards.json"))["Shards"]]
for i, sh in enumerate(sl):
    assert all(r["shard"] == sh for r in kin.load(T + "/kin.put.%d" % i)), sh
for r in kin.load(T + "/sentinel.put"):
    assert r["key"] == "sentinel-" + r["shard"], r
EOF
t1=$(date +%s)
say "kinesis: put $KN events and $(wc -l <"$T/sentinel.put") sentinels with the AWS CLI in $((t1 - t0)) s"
echo "systems.kin.streams.$STREAM.scan.shard.getrecords.maxrecordcount=100" >>"$T/kin.properties"
t0=$(date +%s)

# The expected number of windows (the judge recomputes them all below).
awk '{ print $2 }' "$T/kin.gen" >"$T/kin.events.jsonl"
expected=$(sqlite3 -batch -noheader :memory: \
    "SELECT count(*) FROM (SELECT DISTINCT json_extract(value, '\$.k'), json_extract(value, '\$.ts') / $SIZE FROM json_each('[' || replace(rtrim(CAST(readfile('$T/kin.events.jsonl') AS TEXT), char(10)), char(10), ',') || ']'))")
say "kinesis: $KN events into 2 shards, $expected windows expected"

klines() { kin_lines "$T/kin.out.jsonl"; }
k_grown_or_gone() { [ "$(klines)" -ge "$k_target" ] || ! kin_alive "$k_pid"; }
k_complete() { ! kin_alive "$k_pid" || [ "$(windows "$T/kin.out.jsonl")" -ge "$expected" ]; }
kkills=0
run=0
while :; do
    run=$((run + 1))
    "$SLUICE" run "$T/kin.properties" >>"$T/kin.runs.log" 2>&1 &
    k_pid=$!
    kin_track "$k_pid"
    if [ "$kkills" -lt "$KKILLS" ]; then
        k_target=$(( $(klines) + 150 + $(awk -v s=$((SEED + run * 7919)) 'BEGIN { srand(s); print int(rand() * 250) }') ))
        # Polled every 20 ms and killed at once: the kill falls within tens of ms of a write,
        # before or after the commit that follows it (every 100 ms).
        i=0
        until k_grown_or_gone; do
            i=$((i + 1)); [ "$i" -le 6000 ] || { tail -n 20 "$T/kin.runs.log"; fail "kinesis run $run: no output progress in 120 s"; }
            sleep 0.02
        done
        kill -9 "$k_pid" 2>/dev/null || { tail -n 20 "$T/kin.runs.log"; fail "kinesis run $run ended by itself"; }
        wait "$k_pid" 2>/dev/null || true
        kkills=$((kkills + 1))
        [ "$(windows "$T/kin.out.jsonl")" -lt "$expected" ] || fail "kinesis: the job finished before $KKILLS kills (only $kkills; raise SLUICE_WIN_KIN_EVENTS)"
        say "kinesis kill $kkills at $(klines) output lines ($(windows "$T/kin.out.jsonl") of $expected windows)"
        continue
    fi
    wait_for 240 k_complete || { tail -n 20 "$T/kin.runs.log"; fail "kinesis: only $(windows "$T/kin.out.jsonl") of $expected windows after 240 s"; }
    kin_alive "$k_pid" || { tail -n 20 "$T/kin.runs.log"; fail "kinesis: the last run died"; }
    kin_stop "$k_pid" "$T/kin.runs.log"
    break
done
t1=$(date +%s)
say "kinesis: $kkills kills, $run runs, $(klines) output lines, $((t1 - t0)) s of runs"
judge kinesis "$T/kin.parts" "$T/kin.out.jsonl" $SIZE $SIZE
say "ok: files (kills:$fkills), kinesis $kkills kills, $(( $(date +%s) - t_start )) s in all"
