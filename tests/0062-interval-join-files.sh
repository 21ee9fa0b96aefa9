#!/bin/sh
# 0062: the interval join of two file streams, judged by the sqlite3 shell's batch join.
#   Orders and shipments, each in 2 files split without regard to the order id; a repartition
#   by id writes both onto one intermediate stream (a directory of 4 partition files), where
#   the interval-join pairs every order with the shipments of its id whose time is at most 5 s
#   before and 30 s after the order's (SQL: s.ts BETWEEN o.ts - 5000 AND o.ts + 30000). Some
#   shipments fall outside, some orders have none, some ids have many. Event times have
#   bounded disorder below task.watermark.delay: nothing is late. The job's pairs must be
#   exactly the batch join's, each once; the job ends by itself once the four input files have,
#   and the join's state is then empty.
. "$(dirname "$0")/lib/common.sh"
needs sqlite3 python3
LC_ALL=C
export LC_ALL

ORDERS=${SLUICE_IJOIN_ORDERS:-20000}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

mkdir -p "$T/orders" "$T/ships"
python3 - "$T" "$ORDERS" <<'PY'
import json, random, sys
t, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(62)
orders, ships = [], []
base = 1700000000000
for i in range(n):
    base += rnd.randint(0, 40)
    oid = "o%d" % rnd.randint(0, n // 3)          # ids repeat: several orders per id
    orders.append({"ts": base, "id": oid, "n": i})
    for _ in range(rnd.choice([0, 1, 1, 2, 3])):
        ships.append({"ts": base + rnd.randint(-8000, 40000), "id": oid, "n": len(ships)})
# Bounded disorder: each stream in time order, then shuffled within 1.5 s.
def write(recs, d):
    recs.sort(key=lambda r: r["ts"] + rnd.randint(0, 1500))
    files = [open("%s/%s/p%d.jsonl" % (t, d, f), "w") for f in range(2)]
    for i, r in enumerate(recs):
        files[rnd.randint(0, 1)].write(json.dumps(r) + "\n")
write(orders, "orders")
write(ships, "ships")
PY

SEP=$(printf '\001')
{
    printf '%s\n' ".separator '$SEP' \"\\n\""
    echo "CREATE TABLE oraw (line TEXT); CREATE TABLE sraw (line TEXT);"
    for f in 0 1; do echo ".import '$T/orders/p$f.jsonl' oraw"; echo ".import '$T/ships/p$f.jsonl' sraw"; done
    echo "CREATE TABLE o AS SELECT json_extract(line, '\$.ts') AS ts, json_extract(line, '\$.id') AS id, json_extract(line, '\$.n') AS n FROM oraw;"
    echo "CREATE TABLE s AS SELECT json_extract(line, '\$.ts') AS ts, json_extract(line, '\$.id') AS id, json_extract(line, '\$.n') AS n FROM sraw;"
    echo "CREATE INDEX s_id ON s (id, ts);"
    echo "CREATE TABLE ex AS SELECT o.n AS o, s.n AS s FROM o JOIN s ON s.id = o.id AND s.ts BETWEEN o.ts - 5000 AND o.ts + 30000;"
} | sqlite3 -batch "$T/judge.db" || fail "sqlite3 could not compute the batch join"
n_ex=$(sqlite3 -batch -noheader "$T/judge.db" "SELECT count(*) FROM ex")
n_o=$(sqlite3 -batch -noheader "$T/judge.db" "SELECT count(*) FROM o")
n_s=$(sqlite3 -batch -noheader "$T/judge.db" "SELECT count(*) FROM s")
say "input: $n_o orders and $n_s shipments in 2 files each; the batch join has $n_ex pairs"

cat >"$T/job.properties" <<P
job.name=interval-join
task.inputs=in.orders,in.ships,mid.s
task.outputs=mid.s,out.s
task.operators=byid,ij
task.timestamp.expr=json_extract(payload, '\$.ts')
task.watermark.delay=2000
task.commit.ms=500ms
job.container.thread.count=2
job.checkpoint.sqlite.path=$T/job.db
systems.in.samza.factory=file
systems.in.streams.orders.path=$T/orders
systems.in.streams.ships.path=$T/ships
systems.mid.samza.factory=file
systems.mid.streams.s.path=$T/mid
systems.mid.streams.s.partitions=4
systems.mid.streams.s.format=json
systems.mid.streams.s.follow=true
systems.mid.streams.s.poll.interval=20ms
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.byid.type=repartition
operators.byid.stream=mid.s
operators.byid.key=json_extract(payload, '\$.id')
operators.byid.watermark.interval=100ms
operators.ij.type=interval-join
operators.ij.left=in.orders
operators.ij.right=in.ships
operators.ij.before=5s
operators.ij.after=30s
P
t0=$(now)
"$SLUICE" run "$T/job.properties" >"$T/job.log" 2>&1 &
PID=$!
_end=$(($(date +%s) + 300))
while kill -0 "$PID" 2>/dev/null; do
    [ "$(date +%s)" -lt "$_end" ] || { tail -n 20 "$T/job.log"; kill -9 "$PID"; fail "the job did not end within 300 s"; }
    sleep 0.2
done
wait "$PID" || { tail -n 20 "$T/job.log"; fail "the job failed"; }
secs=$(since "$t0")
grep -q "all inputs exhausted" "$T/job.log" || { tail -n 20 "$T/job.log"; fail "the job did not end by itself"; }
# Every watermark reached the end: the join's state is empty.
rows=$(sqlite3 -batch -noheader "$T/job.db" "SELECT count(*) FROM sluice_state WHERE operator = 'ij'")
[ "$rows" = 0 ] || fail "the join's state kept $rows rows"
res=$(sqlite3 -batch -noheader -separator ' ' "$T/judge.db" <<SQL
.separator '$SEP' "\\n"
CREATE TEMP TABLE outraw (line TEXT);
.import '$T/out.jsonl' outraw
.separator ' ' "\\n"
CREATE TEMP TABLE got AS SELECT json_extract(line, '\$.left.n') AS o, json_extract(line, '\$.right.n') AS s,
    json_extract(line, '\$.key') = json_extract(line, '\$.left.id') AND json_extract(line, '\$.key') = json_extract(line, '\$.right.id') AS same FROM outraw;
SELECT (SELECT count(*) FROM got), (SELECT count(*) FROM ex),
    (SELECT count(*) FROM (SELECT o, s FROM ex EXCEPT SELECT o, s FROM got)),
    (SELECT count(*) FROM (SELECT o, s FROM got EXCEPT SELECT o, s FROM ex)),
    (SELECT count(*) FROM (SELECT o, s FROM got GROUP BY 1, 2 HAVING count(*) > 1)),
    (SELECT count(*) FROM got WHERE same IS NOT 1);
SQL
) || fail "sqlite3 could not read the output"
set -- $res
[ "$1" = "$2" ] && [ "$3" = 0 ] && [ "$4" = 0 ] && [ "$5" = 0 ] && [ "$6" = 0 ] ||
    fail "pairs: $1 out, $2 in the batch, $3 missing, $4 extra, $5 twice, $6 with a wrong key"
say "interval join: $n_ex pairs identical to sqlite3's batch join, in $secs s; the join's state emptied at the end"
say "ok"
