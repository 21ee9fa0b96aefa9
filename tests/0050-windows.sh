#!/bin/sh
# 0050: the window operator against the sqlite3 shell. A generated input of N (default 1M) JSON
# events {"ts","k","u","v","c"} in 4 files (4 partitions; each of the 400 keys lives in one file)
# with bounded disorder (event times up to DISORDER ms behind the file's clock, never more than the
# watermark delay), v an integer or null, c a small domain for count(DISTINCT), and keys that go
# quiet 20 s in every minute so that sessions start and end. Jobs file -> window -> file:
#   tumbling  10 s windows aligned at +3 s, key k (text): count, count(v), sum, min, max, avg,
#             count(DISTINCT c), first_value(ts), last_value(ts);
#   hopping   6 s windows every 2 s, key k: the same without first/last value;
#   session   gap 3 s, key u (an integer);
# must give exactly the rows the sqlite3 shell computes in batch over the same lines (GROUP BY key
# and window; hopping membership by a join with the window offsets, sessions with LAG per key
# ordered by ts: a new session when ts - previous ts > gap, its end the last ts + gap), with no
# late record and no update. Then a few hundred late events are injected (3 s to 27 s behind the
# file's clock) and two more jobs read that input with a late-data output:
#   tumbling-late  as tumbling, allowed-lateness 0;
#   hopping-late   as hopping, allowed-lateness 4 s;
# the judge computes each line's watermark (the running max of ts over the earlier lines of its
# file, minus the delay, minus 1) and, per window a record belongs to, whether the window takes it
# (end - 1 + lateness > watermark): the late output must be exactly the records no window takes,
# line for line, and the windows (the last emission of each window and key) the batch answer over
# the records they take; "update" is false on the first emission of a window and key and true on
# each later one, and there is one re-emission per taken record that came after its window was
# emitted (a late record opening a window of its own makes a first emission, not an update).
# The event times are even, the delay odd (2001 ms): a watermark is then never exactly a
# session's end - 1, which keeps the one case where a stream must differ from the batch out of
# the data (a record at exactly the end of a session already emitted, touching it).
# SLUICE_WINDOW_EVENTS sets N (250000 in the suite; the acceptance run uses 1000000). At 1M the test takes about 10 minutes on 2 cores (the session job
# alone about 6): the jobs' records/s are printed.
. "$(dirname "$0")/lib/common.sh"
needs sqlite3
LC_ALL=C
export LC_ALL

N=${SLUICE_WINDOW_EVENTS:-250000}
DELAY=2001
DISORDER=2000
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%d", n / (s > 0 ? s : 0.001) }'; }

# The input, deterministic (a Park-Miller generator, the same under mawk and gawk). The file's
# clock moves 0..20 ms per record; an event's time is the clock minus 0..DISORDER ms (even); one
# record in 3000 is followed by an injected late one ("x":1), left out of the first input.
t0=$(now)
mkdir -p "$T/late" "$T/main"
awk -v n="$N" -v files=4 -v keys=400 -v t0=1700000000000 -v disorder="$DISORDER" -v dir="$T/late" '
function rnd(m) { seed = (seed * 16807) % 2147483647; return seed % m }
BEGIN {
    per = int(n / files)
    for (f = 0; f < files; f++) {
        seed = 4242 + 1000003 * f
        base = t0
        out = dir "/p" f ".jsonl"
        for (i = 0; i < per; i++) {
            base += 2 * rnd(11)
            for (t = 0; t < 8; t++) {
                j = rnd(keys / files) * files + f
                if (int((base + j * 1543) / 1000) % 60 >= 20) break
            }
            ts = base - 2 * rnd(int(disorder / 2) + 1)
            v = rnd(100) == 0 ? "null" : rnd(200001) - 100000
            printf "{\"ts\":%.0f,\"k\":\"k%03d\",\"u\":%d,\"v\":%s,\"c\":%d}\n", ts, j, j + 1, v, rnd(10) >out
            if (rnd(3000) == 0) {
                j = rnd(keys / files) * files + f
                ts = base - 2 * rnd(12000) - 3000
                printf "{\"ts\":%.0f,\"k\":\"k%03d\",\"u\":%d,\"v\":%d,\"c\":%d,\"x\":1}\n", ts, j, j + 1, rnd(200001) - 100000, rnd(10) >out
            }
        }
        close(out)
    }
}'
for f in 0 1 2 3; do grep -v '"x":1' "$T/late/p$f.jsonl" >"$T/main/p$f.jsonl"; done
n_main=$(cat "$T"/main/*.jsonl | wc -l)
n_late=$(cat "$T"/late/*.jsonl | wc -l)
[ "$n_main" -ge "$N" ] || fail "generated $n_main events, not $N"
say "input: $n_main events in 4 files, $((n_late - n_main)) late ones injected into a copy ($(since "$t0") s)"

AGGS="count(*) AS n, count(json_extract(payload, '\$.v')) AS nv, sum(json_extract(payload, '\$.v')) AS s, min(json_extract(payload, '\$.v')) AS lo, max(json_extract(payload, '\$.v')) AS hi, avg(json_extract(payload, '\$.v')) AS a, count(DISTINCT json_extract(payload, '\$.c')) AS d"
FL=", first_value(json_extract(payload, '\$.ts')) AS ft, last_value(json_extract(payload, '\$.ts')) AS lt"

# job NAME INPUT WINDOW-PROPERTIES...: writes $T/NAME.properties (output $T/NAME.out, late
# output $T/NAME.lateout).
job() {
    _name=$1 _in=$2
    shift 2
    {
        cat <<P
job.name=$_name
task.inputs=in.s
task.outputs=out.s,out.late
task.operators=w
task.timestamp.expr=json_extract(payload, '\$.ts')
task.watermark.delay=$DELAY
task.commit.ms=10s
task.state.cache.size=500000
systems.in.samza.factory=file
systems.in.streams.s.path=$T/$_in
systems.out.samza.factory=file
systems.out.streams.s.path=$T/$_name.out
systems.out.streams.late.path=$T/$_name.lateout
operators.w.type=window
operators.w.late-output=out.late
job.checkpoint.sqlite.path=$T/$_name.ckpt.db
log.level=warn
P
        for _p in "$@"; do echo "operators.w.$_p"; done
    } >"$T/$_name.properties"
}
job tumbling main window=tumbling size=10s offset=3s "key=json_extract(payload, '\$.k')" "aggregates=$AGGS$FL"
job hopping main window=hopping size=6s slide=2s "key=json_extract(payload, '\$.k')" "aggregates=$AGGS"
job session main window=session gap=3s "key=json_extract(payload, '\$.u')" "aggregates=$AGGS"
job tumbling-late late window=tumbling size=10s offset=3s "key=json_extract(payload, '\$.k')" "aggregates=$AGGS$FL"
job hopping-late late window=hopping size=6s slide=2s allowed-lateness=4s "key=json_extract(payload, '\$.k')" "aggregates=$AGGS"


# The judge's copy of the inputs: ev holds every line of the late input with its file f, its
# line number i and its fields; main and late the two inputs, each line with its watermark wm
# (NULL before the file's first line).
SEP=$(printf '\001') # a column separator that never occurs in the lines
load_input() {
    t_load=$(now)
    {
        printf '%s\n' ".separator '$SEP' \"\\n\""
        echo "CREATE TABLE ev (f INTEGER, i INTEGER, line TEXT, ts INTEGER, k TEXT, u INTEGER, v INTEGER, c INTEGER, x INTEGER);"
        for f in 0 1 2 3; do
            echo "CREATE TABLE raw (line TEXT);"
            echo ".import '$T/late/p$f.jsonl' raw"
            echo "INSERT INTO ev SELECT $f, rowid, line, json_extract(line, '\$.ts'), json_extract(line, '\$.k'),
                json_extract(line, '\$.u'), json_extract(line, '\$.v'), json_extract(line, '\$.c'),
                json_extract(line, '\$.x') FROM raw ORDER BY rowid;"
            echo "DROP TABLE raw;"
        done
        for s in main late; do
            [ $s = main ] && where="WHERE x IS NULL" || where=""
            echo "CREATE TABLE $s AS SELECT *, max(ts) OVER (PARTITION BY f ORDER BY i ROWS BETWEEN
                UNBOUNDED PRECEDING AND 1 PRECEDING) - $DELAY - 1 AS wm FROM ev $where;"
        done
        printf '%s\n' ".separator ' '"
        echo "SELECT 'loaded', (SELECT count(*) FROM main), (SELECT count(*) FROM late),
            (SELECT count(DISTINCT k) FROM ev), (SELECT count(*) FROM (SELECT k FROM ev GROUP BY k HAVING count(DISTINCT f) > 1)),
            (SELECT count(*) FROM ev WHERE ts % 2 != 0 OR ts IS NULL);"
    } | sqlite3 -batch -noheader "$T/judge.db" >"$T/load.txt" 2>&1
    echo "$(since "$t_load")" >"$T/load.time"
}
# Beside the jobs (it needs only the input).
load_input &
lp=$!

# run NAME RECORDS: runs the job, timed, into $T/NAME.time.
run() {
    _t=$(now)
    "$SLUICE" run "$T/$1.properties" 2>"$T/$1.err" || { tail -5 "$T/$1.err"; echo "FAIL: $1 exited non-zero" >"$T/$1.time"; return 1; }
    _s=$(since "$_t")
    echo "$1: $2 records in $_s s, $(rate "$2" "$_s") records/s; $(wc -l <"$T/$1.out") windows, $(wc -l <"$T/$1.lateout") late records out" >"$T/$1.time"
}
# Two at a time (the session job, the slowest, beside the others).
t0=$(now)
run session "$n_main" &
sp=$!
ok=0
run tumbling "$n_main" && run hopping "$n_main" && run tumbling-late "$n_late" && run hopping-late "$n_late" || ok=1
wait "$sp" || ok=1
for j in tumbling hopping session tumbling-late hopping-late; do
    if [ -f "$T/$j.time" ]; then say "$(cat "$T/$j.time")"; fi
done
[ "$ok" = 0 ] || fail "a job failed"
say "all jobs: $(since "$t0") s"
wait "$lp" || { cat "$T/load.txt"; fail "sqlite3 could not load the input"; }
read -r _ l_main l_late l_keys l_split l_odd <<R
$(cat "$T/load.txt")
R
[ "$l_main" = "$n_main" ] && [ "$l_late" = "$n_late" ] || fail "sqlite3 read $l_main and $l_late lines, not $n_main and $n_late"
[ "$l_keys" = 400 ] && [ "$l_split" = 0 ] && [ "$l_odd" = 0 ] || fail "the input is not what the judge assumes: $(cat "$T/load.txt")"
say "sqlite3 loaded both inputs in $(cat "$T/load.time") s"

# judge NAME SET KIND SIZE SLIDE OFFSET GAP LATENESS KEYCOLUMN FIRSTLAST: compares $T/NAME.out and
# $T/NAME.lateout with the batch answer over SET; prints "name value..." rows to $T/NAME.judge.
judge() {
    _n=$1 _set=$2 _kind=$3 _size=$4 _slide=$5 _off=$6 _gap=$7 _lat=$8 _kc=$9 _fl=${10:-0}
    if [ "$_kind" = session ]; then
        # Which records are late: ts + gap - 1 + lateness <= wm. The rest make the sessions.
        _taken="CREATE TEMP TABLE mem AS SELECT * FROM $_set WHERE wm IS NULL OR ts + $_gap - 1 + $_lat > wm;
            CREATE TEMP TABLE lat AS SELECT * FROM $_set WHERE ts + $_gap - 1 + $_lat <= wm;
            CREATE TEMP TABLE ss AS SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY $_kc ORDER BY ts)
                <= $_gap THEN 0 ELSE 1 END AS nw FROM mem;
            CREATE TEMP TABLE ses AS SELECT *, sum(nw) OVER (PARTITION BY $_kc ORDER BY ts) AS sid FROM ss;
            CREATE TEMP TABLE ex AS SELECT $_kc AS key, min(ts) AS ws, max(ts) + $_gap AS we,
                count(*) AS n, count(v) AS nv, sum(v) AS s, min(v) AS lo, max(v) AS hi, avg(v) AS a,
                count(DISTINCT c) AS d, NULL AS ft, NULL AS lt FROM ses GROUP BY $_kc, sid;
            CREATE TEMP TABLE reemit AS SELECT 0 AS n;"
    else
        # Every window of a record (starts last, last - slide, ... above ts - size), kept when
        # the window takes it: end - 1 + lateness > wm. A record no window takes is late.
        _taken="CREATE TEMP TABLE seq (m INTEGER);
            INSERT INTO seq SELECT value FROM generate_series(0, $_size / $_slide - 1);
            CREATE TEMP TABLE mem AS SELECT e.*, e.ts - (e.ts - $_off) % $_slide - seq.m * $_slide AS ws
                FROM $_set e JOIN seq;
            DELETE FROM mem WHERE ws + $_size - 1 + $_lat <= wm;
            CREATE TEMP TABLE lat AS SELECT * FROM $_set WHERE ts - (ts - $_off) % $_slide + $_size - 1 + $_lat <= wm;
            CREATE INDEX mem_kw ON mem ($_kc, ws, i);
            CREATE TEMP TABLE ex AS SELECT $_kc AS key, ws, ws + $_size AS we, count(*) AS n, count(v) AS nv,
                sum(v) AS s, min(v) AS lo, max(v) AS hi, avg(v) AS a, count(DISTINCT c) AS d,
                CASE WHEN $_fl THEN (SELECT ts FROM mem m2 WHERE m2.$_kc = mem.$_kc AND m2.ws = mem.ws
                    ORDER BY i LIMIT 1) END AS ft,
                CASE WHEN $_fl THEN (SELECT ts FROM mem m2 WHERE m2.$_kc = mem.$_kc AND m2.ws = mem.ws
                    ORDER BY i DESC LIMIT 1) END AS lt
                FROM mem GROUP BY $_kc, ws;
            CREATE TEMP TABLE reemit AS SELECT count(*) AS n FROM mem WHERE ws + $_size - 1 <= wm
                AND EXISTS (SELECT 1 FROM mem m2 WHERE m2.$_kc = mem.$_kc AND m2.ws = mem.ws AND m2.i < mem.i);"
    fi
    sqlite3 -batch -noheader -separator ' ' "$T/judge.db" >"$T/$_n.judge" 2>&1 <<SQL
.separator '$SEP' "\\n"
CREATE TEMP TABLE o (line TEXT);
.import '$T/$_n.out' o
CREATE TEMP TABLE lo (line TEXT);
.import '$T/$_n.lateout' lo
.separator ' ' "\\n"
$_taken
CREATE TEMP TABLE got AS SELECT rowid AS r, json_extract(line, '\$.key') AS key,
    json_type(line, '\$.key') AS kt, json_extract(line, '\$.window_start') AS ws,
    json_extract(line, '\$.window_end') AS we, json_extract(line, '\$.n') AS n,
    json_extract(line, '\$.nv') AS nv, json_extract(line, '\$.s') AS s,
    json_extract(line, '\$.lo') AS lo, json_extract(line, '\$.hi') AS hi,
    json_extract(line, '\$.a') AS a, json_extract(line, '\$.d') AS d,
    json_extract(line, '\$.ft') AS ft, json_extract(line, '\$.lt') AS lt,
    json_extract(line, '\$.update') AS upd,
    json_type(line, '\$.n') || ' ' || json_type(line, '\$.nv') || ' ' || json_type(line, '\$.s') || ' ' ||
    json_type(line, '\$.lo') || ' ' || json_type(line, '\$.hi') || ' ' || json_type(line, '\$.a') || ' ' ||
    json_type(line, '\$.d') || ' ' || json_type(line, '\$.update') AS types,
    row_number() OVER (PARTITION BY json_extract(line, '\$.key'), json_extract(line, '\$.window_start'),
        json_extract(line, '\$.window_end') ORDER BY rowid) AS rn,
    count(*) OVER (PARTITION BY json_extract(line, '\$.key'), json_extract(line, '\$.window_start'),
        json_extract(line, '\$.window_end')) AS cnt, line FROM o;
CREATE TEMP TABLE fin AS SELECT * FROM got WHERE rn = cnt;
CREATE INDEX ex_k ON ex (key, ws, we);
CREATE INDEX fin_k ON fin (key, ws, we);
CREATE TEMP TABLE bad AS SELECT g.line AS line, e.n AS n, e.nv AS nv, e.s AS s, e.lo AS lo, e.hi AS hi, e.a AS a,
    e.d AS d, e.ft AS ft, e.lt AS lt FROM fin g JOIN ex e ON e.key = g.key AND e.ws = g.ws AND e.we = g.we
    WHERE g.n IS NOT e.n OR g.nv IS NOT e.nv OR g.s IS NOT e.s OR g.lo IS NOT e.lo OR g.hi IS NOT e.hi
    OR g.d IS NOT e.d OR g.ft IS NOT e.ft OR g.lt IS NOT e.lt OR (g.a IS NULL) != (e.a IS NULL)
    OR abs(g.a - e.a) > 1e-9 * max(1.0, abs(e.a));
SELECT 'rows', (SELECT count(*) FROM got), (SELECT count(*) FROM fin), (SELECT count(*) FROM ex),
    (SELECT count(*) FROM got) - (SELECT count(*) FROM fin), (SELECT n FROM reemit);
SELECT 'missing', count(*) FROM ex e WHERE NOT EXISTS (SELECT 1 FROM fin g WHERE g.key = e.key AND g.ws = e.ws AND g.we = e.we);
SELECT 'extra', count(*) FROM fin g WHERE NOT EXISTS (SELECT 1 FROM ex e WHERE g.key = e.key AND g.ws = e.ws AND g.we = e.we);
SELECT 'differ', count(*) FROM bad;
SELECT 'keytype', count(*) FROM got WHERE kt != (SELECT CASE '$_kc' WHEN 'u' THEN 'integer' ELSE 'text' END);
SELECT 'types', count(*) FROM got WHERE types NOT IN ('integer integer integer integer integer real integer false',
    'integer integer integer integer integer real integer true', 'integer integer null null null null integer false',
    'integer integer null null null null integer true');
SELECT 'update', count(*) FROM got WHERE upd != (rn > 1);
SELECT 'late', (SELECT count(*) FROM lo), (SELECT count(*) FROM lat), (SELECT count(*) FROM $_set WHERE x = 1);
-- The late output line for line: per file (key u - 1 modulo 4), in the input's order.
SELECT 'lateorder', count(*) FROM (SELECT line, (json_extract(line, '\$.u') - 1) % 4 AS f,
        row_number() OVER (PARTITION BY (json_extract(line, '\$.u') - 1) % 4 ORDER BY rowid) AS q FROM lo) a
    FULL JOIN (SELECT line, f, row_number() OVER (PARTITION BY f ORDER BY i) AS q FROM lat) b
    ON a.f = b.f AND a.q = b.q AND a.line = b.line WHERE a.line IS NULL OR b.line IS NULL;
SELECT 'sample', line, 'want', n, nv, s, lo, hi, a, d, ft, lt FROM bad LIMIT 3;
SELECT 'sample-missing', * FROM ex e WHERE NOT EXISTS (SELECT 1 FROM fin g WHERE g.key = e.key AND g.ws = e.ws AND g.we = e.we) LIMIT 3;
SELECT 'sample-extra', line FROM fin g WHERE NOT EXISTS (SELECT 1 FROM ex e WHERE g.key = e.key AND g.ws = e.ws AND g.we = e.we) LIMIT 3;
SQL
}

# check NAME: the judge's verdict on job NAME.
check() {
    _j=$T/$1.judge
    v() { awk -v k="$1" -v f="$2" '$1 == k { print $f }' "$_j"; }
    [ -n "$(v rows 2)" ] || { cat "$_j"; fail "$1: the judge failed"; }
    grep '^sample' "$_j" | sed "s/^/# $1: /" | cut -c1-400
    [ "$(v missing 2)" = 0 ] || fail "$1: $(v missing 2) of the $(v rows 4) batch windows are missing"
    [ "$(v extra 2)" = 0 ] || fail "$1: $(v extra 2) windows are not in the batch answer"
    [ "$(v differ 2)" = 0 ] || fail "$1: $(v differ 2) windows differ from the batch answer"
    [ "$(v rows 3)" = "$(v rows 4)" ] || fail "$1: $(v rows 3) windows, the batch has $(v rows 4)"
    [ "$(v keytype 2)" = 0 ] || fail "$1: $(v keytype 2) windows have a key of the wrong JSON type"
    [ "$(v types 2)" = 0 ] || fail "$1: $(v types 2) windows have aggregates of the wrong JSON type"
    [ "$(v update 2)" = 0 ] || fail "$1: \"update\" is wrong on $(v update 2) emissions (true exactly on re-emissions)"
    [ "$(v rows 5)" = "$(v rows 6)" ] || fail "$1: $(v rows 5) re-emissions, expected $(v rows 6) (one per record taken by a window already emitted)"
    [ "$(v late 2)" = "$(v late 3)" ] || fail "$1: $(v late 2) records in the late output, $(v late 3) are late"
    [ "$(v lateorder 2)" = 0 ] || fail "$1: the late output differs from the late records in $(v lateorder 2) lines"
    say "$1: $(v rows 3) windows equal the batch's; $(v rows 5) updates; $(v late 2) late records (of $(v late 4) injected) exactly in the late output"
}

t0=$(now)
judge tumbling main tumbling 10000 10000 3000 0 0 k 1 &
judge hopping main hopping 6000 2000 0 0 0 k
wait
judge session main session 0 0 0 3000 0 u &
judge tumbling-late late tumbling 10000 10000 3000 0 0 k 1
wait
judge hopping-late late hopping 6000 2000 0 0 4000 k
say "sqlite3 judged in $(since "$t0") s"
for j in tumbling hopping session tumbling-late hopping-late; do check $j; done
awk '$1 == "late" && $2 != 0 { exit 1 }' "$T/tumbling.judge" "$T/hopping.judge" "$T/session.judge" \
    || fail "a job over the input without late events had late records"
[ "$(awk '$1 == "late" { print $2 }' "$T/tumbling-late.judge")" -gt 0 ] || fail "no late record in tumbling-late"
[ "$(awk '$1 == "rows" { print $5 }' "$T/hopping-late.judge")" -gt 0 ] || fail "no update in hopping-late"
