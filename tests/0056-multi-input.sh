#!/bin/sh
# 0056: one job reads a Kinesis stream (kinesalite, 2 shards) and a file together, through one
# event-time window operator (Samza's Kinesis connector allows a Kinesis job no other input and
# no windows). The AWS CLI puts 6000 JSON events of 40 keys into the stream (partition key =
# the event's key, so each key lives in one shard), the file holds 3000 events of 20 other keys;
# both have bounded disorder. The job runs tumbling 10 s windows with count, sum, min, max and
# count(DISTINCT). A final event per shard (put with an explicit hash key into each shard) with
# a far-future time moves the shards' watermarks past every real window; the file's end closes
# its own. The sqlite3 shell then checks the output against the same windows computed in batch
# over the records the CLI put and the file's lines: identical, nothing missing or extra.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 sqlite3 peer:kinesalite
PEER=0056-multi-input
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"

kin_up kinesalite
KIN=$(cat "$T/kinesalite.url")
kin_stream "$KIN" events 2

# The events: Kinesis ones (keys k00..k39) to put, file ones (keys f00..f19) to read.
python3 - "$T" <<'EOF'
import json, random, sys
sys.path.insert(0, sys.argv[1])
import kin
T = sys.argv[1]
rng = random.Random(56)
base = 1760000000000
def events(prefix, nkeys, n):
    out = []
    for i in range(n):
        ts = base + i * 50 - rng.randint(0, 2000)  # disorder at most 2 s
        out.append({"ts": ts, "k": "%s%02d" % (prefix, rng.randrange(nkeys)),
                    "v": rng.randint(-5, 40), "p": "page%d" % rng.randrange(7)})
    return out
kev = events("k", 40, 6000)
kin.dump([{"key": e["k"], "data": json.dumps(e).encode()} for e in kev], T + "/kin.in", "w")
# One far-future event per shard of a 2-shard stream: hash keys 0 and 2^127 + 1.
far = {"ts": base + 10**9, "k": "zz", "v": 0, "p": "x"}
kin.dump([{"key": "zz", "ehk": 0, "data": json.dumps(far).encode()},
          {"key": "zz", "ehk": 2**127 + 1, "data": json.dumps(far).encode()}], T + "/end.in", "w")
with open(T + "/file.jsonl", "w") as f:
    for e in events("f", 20, 3000):
        f.write(json.dumps(e) + "\n")
with open(T + "/kin.jsonl", "w") as f:
    for e in kev:
        f.write(json.dumps(e) + "\n")
EOF
kpy put "$KIN" events "$T/kin.in" "$T/kin.put" || fail "put-records"

cat >"$T/job.properties" <<P
job.name=multi
task.inputs=kin.events,files.clicks
task.outputs=out.s
task.operators=w
task.commit.ms=200
task.timestamp.expr=json_extract(payload, '\$.ts')
task.watermark.delay=2s
job.container.thread.count=2
job.checkpoint.sqlite.path=$T/ckpt.db
systems.kin.samza.factory=kinesis
systems.kin.aws.region=us-east-1
systems.kin.aws.endpoint=$KIN
systems.kin.aws.credentials.access.key.id=AKIDEXAMPLE
systems.kin.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.kin.streams.events.scan.stream.initpos=TRIM_HORIZON
systems.kin.streams.events.scan.shard.getrecords.intervalmillis=200ms
systems.files.samza.factory=file
systems.files.streams.clicks.path=$T/file.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.w.type=window
operators.w.window=tumbling
operators.w.size=10s
operators.w.key=json_extract(payload, '\$.k')
operators.w.aggregates=count(*) AS n, sum(json_extract(payload, '\$.v')) AS s, min(json_extract(payload, '\$.v')) AS lo, max(json_extract(payload, '\$.v')) AS hi, count(DISTINCT json_extract(payload, '\$.p')) AS pages
log.level=info
P
case $KIN in https:*) echo "systems.kin.aws.trust.all.certificates=true" >>"$T/job.properties" ;; esac
"$SLUICE" config check "$T/job.properties" >/dev/null || fail "config check refused the job"

SEP=$(printf '\001')
# batch: the windows the sqlite3 shell computes from both inputs.
sqlite3 -batch -noheader "$T/batch.db" <<SQL
.separator '$SEP' "\n"
CREATE TABLE raw (line TEXT);
.import $T/kin.jsonl raw
.import $T/file.jsonl raw
CREATE TABLE b AS SELECT json_extract(line, '\$.k') AS k,
    json_extract(line, '\$.ts') - json_extract(line, '\$.ts') % 10000 AS ws,
    count(*) AS n, sum(json_extract(line, '\$.v')) AS s, min(json_extract(line, '\$.v')) AS lo,
    max(json_extract(line, '\$.v')) AS hi, count(DISTINCT json_extract(line, '\$.p')) AS pages
    FROM raw GROUP BY 1, 2;
SQL
want=$(sqlite3 "$T/batch.db" "SELECT count(*) FROM b")
say "batch: $want windows over $(wc -l <"$T/kin.jsonl") Kinesis and $(wc -l <"$T/file.jsonl") file events"

lines() { if [ -f "$T/out.jsonl" ]; then wc -l <"$T/out.jsonl"; else echo 0; fi; }
kin_run "$T/job.properties" "$T/run.log"
pid=$KIN_PID
# The file's windows come out at its end; then the shards' at the far-future events.
wait_for 60 sh -c "grep -q 'clicks.*end of input' '$T/run.log'" || { tail -20 "$T/run.log"; fail "the file never ended"; }
kpy put "$KIN" events "$T/end.in" "$T/end.put" || fail "put-records of the final events"
wait_for 90 sh -c "[ \$(wc -l <'$T/out.jsonl') -ge $want ]" \
    || { tail -20 "$T/run.log"; fail "only $(lines) of $want windows came out"; }
kin_stop "$pid" "$T/run.log"

sqlite3 -batch -noheader "$T/batch.db" >"$T/judge.txt" <<SQL
.separator '$SEP' "\n"
CREATE TABLE outl (line TEXT);
.import $T/out.jsonl outl
.separator "|"
CREATE TABLE o AS SELECT json_extract(line, '\$.key') AS k, json_extract(line, '\$.window_start') AS ws,
    json_extract(line, '\$.n') AS n, json_extract(line, '\$.s') AS s, json_extract(line, '\$.lo') AS lo,
    json_extract(line, '\$.hi') AS hi, json_extract(line, '\$.pages') AS pages,
    json_extract(line, '\$.window_end') - json_extract(line, '\$.window_start') AS len,
    json_extract(line, '\$.update') AS upd FROM outl;
SELECT 'rows', count(*), count(DISTINCT k || '/' || ws), sum(len != 10000), sum(upd) FROM o;
SELECT 'missing', count(*) FROM (SELECT * FROM b EXCEPT SELECT k, ws, n, s, lo, hi, pages FROM o);
SELECT 'extra', count(*) FROM (SELECT k, ws, n, s, lo, hi, pages FROM o EXCEPT SELECT * FROM b);
SELECT 'inputs', sum(k LIKE 'k%'), sum(k LIKE 'f%') FROM o;
SQL
cat "$T/judge.txt"
set -- $(sed -n 's/^rows|//p' "$T/judge.txt" | tr '|' ' ')
[ "$1" = "$want" ] && [ "$2" = "$want" ] || fail "$1 output rows for $2 distinct windows, want $want"
[ "$3" = 0 ] && [ "$4" = 0 ] || fail "$3 windows of the wrong length, $4 updates"
grep -qx 'missing|0' "$T/judge.txt" || fail "windows missing from the output"
grep -qx 'extra|0' "$T/judge.txt" || fail "windows in the output that the batch lacks"
say "ok: $want windows from a Kinesis stream and a file in one job, identical to the batch"
