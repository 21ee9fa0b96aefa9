#!/bin/sh
# 0055: the aggregate operator (running totals per key, no windows). A generated input of
# 60000 JSON records over 3 files (each key in one file) runs through aggregate with
# emit=change (one output per record: the key's new totals) and with emit=interval (the keys
# that changed, every 50 ms and at the end). The sqlite3 shell judges: with emit=change the
# outputs are exactly the running totals of each key in input order (count, sum, min, max,
# count(DISTINCT) over the records up to each one); with emit=interval the last output of
# every key equals the batch GROUP BY over the whole input.
. "$(dirname "$0")/lib/common.sh"
needs sqlite3
mkdir -p "$T/in"
awk 'BEGIN {
    srand(55);
    for (i = 0; i < 60000; i++) {
        k = int(rand() * 300); f = k % 3;
        printf "{\"i\":%d,\"k\":\"u%03d\",\"v\":%d}\n", i, k, int(rand() * 50) - 10 >> ("'"$T"'/in/p" f ".jsonl")
    }
}'
job() { # job EMIT OUT
    cat >"$T/$1.properties" <<P
job.name=agg-$1
task.inputs=in.s
task.outputs=out.s
task.operators=a
task.commit.ms=200
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in
systems.out.samza.factory=file
systems.out.streams.s.path=$T/$1.jsonl
operators.a.type=aggregate
operators.a.emit=$1
operators.a.interval=50ms
operators.a.key=json_extract(payload, '\$.k')
operators.a.aggregates=count(*) AS n, sum(json_extract(payload, '\$.v')) AS s, min(json_extract(payload, '\$.v')) AS lo, max(json_extract(payload, '\$.v')) AS hi, count(DISTINCT json_extract(payload, '\$.v')) AS d, last_value(json_extract(payload, '\$.i')) AS last
job.checkpoint.sqlite.path=$T/$1.db
log.level=warn
P
    "$SLUICE" run "$T/$1.properties" || fail "the $1 job failed"
}
job change
job interval
SEP=$(printf '\001')
sqlite3 -batch -noheader :memory: >"$T/judge.txt" <<SQL
.separator '$SEP' "\n"
CREATE TABLE raw (line TEXT);
.import $T/in/p0.jsonl raw
.import $T/in/p1.jsonl raw
.import $T/in/p2.jsonl raw
CREATE TABLE i AS SELECT json_extract(line, '\$.i') AS i, json_extract(line, '\$.k') AS k,
    json_extract(line, '\$.v') AS v FROM raw;
CREATE TABLE oc (line TEXT);
.import $T/change.jsonl oc
CREATE TABLE oi (line TEXT);
.import $T/interval.jsonl oi
CREATE VIEW c AS SELECT json_extract(line, '\$.key') AS k, json_extract(line, '\$.n') AS n,
    json_extract(line, '\$.s') AS s, json_extract(line, '\$.lo') AS lo,
    json_extract(line, '\$.hi') AS hi, json_extract(line, '\$.d') AS d,
    json_extract(line, '\$.last') AS last FROM oc;
-- The running totals after each record, by window functions; a value counts for count(DISTINCT)
-- from its first record on.
CREATE TABLE firsts AS SELECT min(i) AS i FROM i GROUP BY k, v;
CREATE UNIQUE INDEX firsts_i ON firsts (i);
CREATE TABLE want AS SELECT k, count(*) OVER w AS n, sum(v) OVER w AS s, min(v) OVER w AS lo,
    max(v) OVER w AS hi, sum(i IN (SELECT i FROM firsts)) OVER w AS d, i AS last FROM i
    WINDOW w AS (PARTITION BY k ORDER BY i);
.separator "|"
SELECT 'change', (SELECT count(*) FROM oc), (SELECT count(*) FROM i),
    (SELECT count(*) FROM (SELECT * FROM want EXCEPT SELECT * FROM c)),
    (SELECT count(*) FROM (SELECT * FROM c EXCEPT SELECT * FROM want));
CREATE VIEW il AS SELECT json_extract(line, '\$.key') AS k, json_extract(line, '\$.n') AS n,
    json_extract(line, '\$.s') AS s, json_extract(line, '\$.lo') AS lo,
    json_extract(line, '\$.hi') AS hi, json_extract(line, '\$.d') AS d, rowid AS r FROM oi;
CREATE TABLE last AS SELECT k, n, s, lo, hi, d FROM il WHERE r = (SELECT max(r) FROM il AS x WHERE x.k = il.k);
CREATE TABLE batch AS SELECT k, count(*), sum(v), min(v), max(v), count(DISTINCT v) FROM i GROUP BY k;
SELECT 'interval', (SELECT count(*) FROM oi), (SELECT count(*) FROM batch),
    (SELECT count(*) FROM (SELECT * FROM batch EXCEPT SELECT * FROM last)),
    (SELECT count(*) FROM (SELECT * FROM last EXCEPT SELECT * FROM batch));
SQL
cat "$T/judge.txt"
set -- $(sed -n 's/^change|//p' "$T/judge.txt" | tr '|' ' ')
[ "$1" = "$2" ] || fail "emit=change: $1 outputs for $2 records"
[ "$3" = 0 ] && [ "$4" = 0 ] || fail "emit=change: $3 running totals missing, $4 wrong"
set -- $(sed -n 's/^interval|//p' "$T/judge.txt" | tr '|' ' ')
[ "$2" = 300 ] || fail "expected 300 keys, the batch has $2"
[ "$3" = 0 ] && [ "$4" = 0 ] || fail "emit=interval: $3 keys' totals missing, $4 wrong"
say "emit=change: every running total right; emit=interval: $1 outputs, last per key = batch"
