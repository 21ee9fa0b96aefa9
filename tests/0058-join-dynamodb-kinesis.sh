#!/bin/sh
# 0058: the stream-table join over AWS peers, judged by programs nobody here wrote. A DynamoDB
# table's stream (Amazon's DynamoDB Local) is the table, read as a bootstrap, broadcast input; a
# Kinesis stream (kinesalite, 3 shards) is enriched by it, 2 worker threads. The AWS CLI writes
# the items (batch-write-item, then puts that replace some, update-item, deletions: INSERT,
# MODIFY and REMOVE in the stream) and puts the events; the sqlite3 shell joins the items as
# `aws dynamodb scan` reads them back with the events as put.
#   1. An inner and a left join job, started after the items exist and after most events were
#      put: their outputs are exactly the batch joins (every event once, the whole NewImage of
#      its item, nothing missing, extra or twice), and each job logged the table's bootstrap
#      before it committed any Kinesis record. Pages of 100 records: the table's stream is read
#      in several, so only the empty page at its head may end the bootstrap (the first events
#      look up u1, whose update is the table's last change).
#   2. A later update: while the jobs run, the CLI modifies one item, deletes one and inserts one
#      an earlier event had missed; once the checkpoint file holds the table's new rows, events
#      put for those keys carry the new rows (the batch join against a second scan).
. "$(dirname "$0")/lib/common.sh"
needs aws python3 sqlite3 peer:dynamodb-local peer:kinesalite
PEER=0058-join-dynamodb-kinesis
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(now)

ITEMS=${SLUICE_JOIN_ITEMS:-300}
EVENTS=${SLUICE_JOIN_EVENTS:-4000}
LATE=300   # phase 2 events

kin_up dynamodb-local kinesalite
DDB=$(cat "$T/dynamodb-local.url")
KIN=$(cat "$T/kinesalite.url")
say "dynamodb-local $DDB, kinesalite $KIN (up in $(since "$T0") s)"
ARN=$(cli "$DDB" dynamodb create-table --table-name Users \
    --attribute-definitions AttributeName=id,AttributeType=S --key-schema AttributeName=id,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES \
    --query TableDescription.LatestStreamArn --output text) || fail "create-table"
kin_stream "$KIN" events 3

# The table's writes (batches of 25 for batch-write-item, never one key twice in a batch) and
# the events. Users u0..u(ITEMS-1) are inserted; every third is then replaced by a put (some
# attributes dropped, others added); every fifteenth from u16 on deleted. Events name users
# u0..u(ITEMS+39): the last 40 never had an item.
python3 - "$T" "$ITEMS" "$EVENTS" <<'PY'
import json, random, sys
sys.path.insert(0, sys.argv[1])
import kin
T, n, nev = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(58)
names = ['plain', 'quote " and \\ backslash', 'tab\tnew\nline', 'caf\u00e9 \u2028 \U0001F600', '</b> & <i>']
def item(u, rev):
    it = {"id": {"S": "u%d" % u}, "name": {"S": "user %d rev %d: %s" % (u, rev, names[(u + rev) % len(names)])},
          "tier": {"N": str(rnd.randint(1, 9))}, "rev": {"N": str(rev)}}
    if (u + rev) % 2:
        it["flag"] = {"BOOL": u % 4 == 1}
    if rev and u % 6 == 0:
        it["score"] = {"N": "%d.%d" % (rnd.randint(0, 99), rnd.randint(1, 9))}
    return it
def batches(reqs, path):
    with open(path, "w") as f:
        for b in range(0, len(reqs), 25):
            f.write(json.dumps({"Users": reqs[b:b + 25]}) + "\n")
batches([{"PutRequest": {"Item": item(u, 0)}} for u in range(n)], T + "/insert.jsonl")
batches([{"PutRequest": {"Item": item(u, 1)}} for u in range(0, n, 3)], T + "/modify.jsonl")
batches([{"DeleteRequest": {"Key": {"id": {"S": "u%d" % u}}}} for u in range(1, n, 15) if u != 1],
        T + "/delete.jsonl")
evs = []
for i in range(nev):
    u = 1 if i < 4 else rnd.randrange(n + 40)   # u1 is the table's last write
    evs.append({"e": i, "user": "u%d" % u, "v": rnd.randint(0, 1000)})
with open(T + "/ev.jsonl", "w") as f:
    for e in evs:
        f.write(json.dumps(e) + "\n")
recs = [{"key": "p%d" % e["e"], "data": json.dumps(e).encode()} for e in evs]
cut = nev * 3 // 4   # put before the jobs start; the rest after their bootstrap
kin.dump(recs[:cut], T + "/early.in", "w")
kin.dump(recs[cut:], T + "/late1.in", "w")
PY

# write FILE: batch-write-item for every line of FILE (each must be processed whole).
write() {
    while IFS= read -r line; do
        printf '%s\n' "$line" >"$T/batch.json"
        cli "$DDB" dynamodb batch-write-item --request-items "file://$T/batch.json" \
            --query 'length(UnprocessedItems)' --output text | grep -qx 0 || fail "batch-write-item"
    done <"$1"
}
t0=$(now)
write "$T/insert.jsonl"
write "$T/modify.jsonl"
write "$T/delete.jsonl"
# update-item (MODIFY of some attributes only); u1's is the last write of all.
for u in 2 5 1; do
    cli "$DDB" dynamodb update-item --table-name Users --key "{\"id\":{\"S\":\"u$u\"}}" \
        --update-expression 'SET #n = :n ADD rev :one' --expression-attribute-names '{"#n":"name"}' \
        --expression-attribute-values "{\":n\":{\"S\":\"updated u$u\"},\":one\":{\"N\":\"10\"}}" \
        >/dev/null || fail "update-item u$u"
done
ddb_scan "$DDB" Users >"$T/scan1.json" || fail "scan"
nitems=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["Items"]))' "$T/scan1.json")
changes=$(python3 - "$T" <<'PY'
import json, sys
T = sys.argv[1]
n = lambda f, k: sum(len(json.loads(l)["Users"]) for l in open(T + "/" + f))
print(n("insert.jsonl", "PutRequest") + n("modify.jsonl", "PutRequest") + n("delete.jsonl", "DeleteRequest") + 3)
PY
)
say "table: $changes changes written in $(since "$t0") s; the scan reads $nitems items"
kpy put "$KIN" events "$T/early.in" "$T/early.put" || fail "put-records"

# ---- 1. the jobs ----
job() { # job KIND: the join of every event with its user into $T/KIND.out
    cat >"$T/$1.properties" <<P
job.name=join-$1
task.inputs=ddb.users,kin.events
task.broadcast.inputs=ddb.users
task.outputs=out.s
task.operators=j
task.commit.ms=200ms
job.container.thread.count=2
job.checkpoint.sqlite.path=$T/$1.db
systems.ddb.samza.factory=dynamodbstreams
systems.ddb.aws.region=us-east-1
systems.ddb.aws.endpoint=$DDB
systems.ddb.aws.credentials.access.key.id=AKIDEXAMPLE
systems.ddb.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.ddb.streams.users.stream.arn=$ARN
systems.ddb.streams.users.scan.stream.initpos=TRIM_HORIZON
systems.ddb.streams.users.scan.shard.getrecords.intervalmillis=200ms
systems.ddb.streams.users.scan.shard.getrecords.maxrecordcount=100
systems.ddb.streams.users.samza.bootstrap=true
systems.kin.samza.factory=kinesis
systems.kin.aws.region=us-east-1
systems.kin.aws.endpoint=$KIN
systems.kin.aws.credentials.access.key.id=AKIDEXAMPLE
systems.kin.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.kin.streams.events.scan.stream.initpos=TRIM_HORIZON
systems.kin.streams.events.scan.shard.getrecords.intervalmillis=200ms
systems.out.samza.factory=file
systems.out.streams.s.path=$T/$1.out
operators.j.type=join
operators.j.table=ddb.users
operators.j.table.key=json_extract(payload, '\$.dynamodb.Keys.id.S')
operators.j.table.value=CASE json_extract(payload, '\$.eventName') WHEN 'REMOVE' THEN NULL ELSE json_extract(payload, '\$.dynamodb.NewImage') END
operators.j.key=json_extract(payload, '\$.user')
operators.j.kind=$1
operators.j.as=u
log.debug=ckpt
P
    "$SLUICE" config check "$T/$1.properties" >"$T/$1.check" 2>&1 || { cat "$T/$1.check"; fail "config check refused the $1 job"; }
}
job inner
job left
t0=$(now)
kin_run "$T/inner.properties" "$T/inner.log"
PID_INNER=$KIN_PID
kin_run "$T/left.properties" "$T/left.log"
PID_LEFT=$KIN_PID
kin_wait_log "$T/inner.log" "bootstrap: ddb.users read to the head" 1 60 "$PID_INNER"
kin_wait_log "$T/left.log" "bootstrap: ddb.users read to the head" 1 60 "$PID_LEFT"
boot=$(sed -n 's/.*bootstrap: ddb.users read to the head in \([0-9.]*\) s.*/\1/p' "$T/inner.log")
kpy put "$KIN" events "$T/late1.in" "$T/late1.put" || fail "put-records"

# The batch: the items as scanned, the events as put. canon(X): an item (a JSON object of typed
# attributes) as text comparable whatever its attributes' order and its strings' escapes.
SEP=$(printf '\001')
canon() { echo "(SELECT group_concat(c, '|') FROM (SELECT a.key || '.' || t.key || '=' || quote(t.value) AS c
    FROM json_each($1) AS a, json_each(a.value) AS t ORDER BY 1))"; }
sqlite3 -batch "$T/judge.db" <<SQL || fail "sqlite3 could not compute the batch join"
.separator '$SEP' "\\n"
CREATE TABLE ev (line TEXT);
.import '$T/ev.jsonl' ev
CREATE TABLE evs AS SELECT json_extract(line, '\$.e') AS e, json_extract(line, '\$.user') AS user,
    json_extract(line, '\$.v') AS v FROM ev;
CREATE TABLE items1 AS SELECT json_extract(s.value, '\$.id.S') AS id, $(canon s.value) AS item
    FROM json_each(CAST(readfile('$T/scan1.json') AS TEXT), '\$.Items') AS s;
CREATE TABLE left1 AS SELECT e, v, i.item FROM evs LEFT JOIN items1 i ON i.id = evs.user;
CREATE TABLE inner1 AS SELECT * FROM left1 WHERE item IS NOT NULL;
SQL
n_inner=$(sqlite3 "$T/judge.db" "SELECT count(*) FROM inner1")
n_left=$(sqlite3 "$T/judge.db" "SELECT count(*) FROM left1")
[ "$n_inner" -lt "$n_left" ] && [ "$n_inner" -gt 0 ] || fail "the data has $n_inner of $n_left events with an item"
kin_wait_lines "$T/inner.out" "$n_inner" 90 "$PID_INNER" "$T/inner.log"
kin_wait_lines "$T/left.out" "$n_left" 90 "$PID_LEFT" "$T/left.log"
secs=$(since "$t0")

# judge KIND WANT FIRST_E LAST_E: sluice's rows with FIRST_E <= e <= LAST_E against the table
# WANT; prints: rows out, rows wanted, missing, extra, events twice, malformed.
judge() {
    sqlite3 -batch -noheader -separator ' ' "$T/judge.db" <<SQL
.separator '$SEP' "\\n"
CREATE TEMP TABLE o (line TEXT);
.import '$T/$1.out' o
.separator ' ' "\\n"
CREATE TEMP TABLE got AS SELECT json_extract(line, '\$.e') AS e, json_extract(line, '\$.v') AS v,
    CASE json_type(line, '\$.u') WHEN 'object' THEN $(canon "json_extract(line, '\$.u')") END AS item,
    json_type(line, '\$.u') AS ut, json_extract(line, '\$.user') AS user FROM o;
DELETE FROM got WHERE e NOT BETWEEN $3 AND $4;
SELECT (SELECT count(*) FROM got), (SELECT count(*) FROM $2 WHERE e BETWEEN $3 AND $4),
    (SELECT count(*) FROM (SELECT * FROM $2 WHERE e BETWEEN $3 AND $4 EXCEPT SELECT e, v, item FROM got)),
    (SELECT count(*) FROM (SELECT e, v, item FROM got EXCEPT SELECT * FROM $2)),
    (SELECT count(*) FROM (SELECT e FROM got GROUP BY e HAVING count(*) > 1)),
    (SELECT count(*) FROM got WHERE ut IS NULL OR ut NOT IN ('object', 'null') OR user IS NULL
        OR (ut = 'null' AND '$1' = 'inner'));
SQL
}
check() { # check KIND WANT FIRST_E LAST_E WHAT
    res=$(judge "$1" "$2" "$3" "$4") || fail "$1: sqlite3 could not read the output"
    set -- $res "$@"
    [ "$1" = "$2" ] && [ "$3" = 0 ] && [ "$4" = 0 ] && [ "$5" = 0 ] && [ "$6" = 0 ] ||
        fail "$7 join, ${11}: $1 rows out, $2 in the batch, $3 missing, $4 wrong or extra, $5 events twice, $6 malformed"
}
for kind in inner left; do
    check "$kind" "${kind}1" 0 $((EVENTS - 1)) "$EVENTS events"
    # The table was read before any event: no Kinesis partition committed before the bootstrap.
    python3 - "$T/$kind.log" <<'PY' || fail "$kind: a Kinesis record before the table's head"
import sys
lines = open(sys.argv[1]).read().splitlines()
boot = next(i for i, l in enumerate(lines) if "bootstrap: ddb.users read to the head" in l)
kin = [i for i, l in enumerate(lines) if "committed kin/events/" in l]
if not kin:
    sys.exit("no Kinesis partition ever committed")
if kin[0] < boot:
    sys.exit("line %d commits a Kinesis partition, the bootstrap is line %d: %s" % (kin[0] + 1, boot + 1, lines[kin[0]]))
PY
done
say "inner join: $n_inner rows, left join: $n_left rows, both identical to sqlite3's batch join of the scan ($nitems items, $EVENTS events, $secs s from the start; bootstrap ${boot} s, before any Kinesis record)"

# ---- 2. a later update ----
# u7 modified, u8 deleted, u(ITEMS+5) inserted (events before it found nothing).
NEWU=u$((ITEMS + 5))
for u in u7 u8 $NEWU; do
    grep -q "\"user\": \"$u\"" "$T/ev.jsonl" || fail "no early event for $u"
done
old7=$(sqlite3 "$T/judge.db" "SELECT count(*) FROM left1 l JOIN evs USING (e) WHERE evs.user = 'u7' AND l.item IS NOT NULL")
cli "$DDB" dynamodb update-item --table-name Users --key '{"id":{"S":"u7"}}' \
    --update-expression 'SET #n = :n, tier = :t' --expression-attribute-names '{"#n":"name"}' \
    --expression-attribute-values '{":n":{"S":"renamed after the start"},":t":{"N":"42"}}' >/dev/null || fail "update-item u7"
cli "$DDB" dynamodb delete-item --table-name Users --key '{"id":{"S":"u8"}}' || fail "delete-item u8"
cli "$DDB" dynamodb put-item --table-name Users --item "{\"id\":{\"S\":\"$NEWU\"},\"name\":{\"S\":\"late\"},\"tier\":{\"N\":\"7\"}}" \
    || fail "put-item $NEWU"
t0=$(now)
# committed DB: the three changes are in the checkpoint file's table rows.
committed() {
    [ "$(sqlite3 -batch -noheader "$1" "SELECT
        (SELECT count(*) FROM sluice_state WHERE task = 'table:ddb/users' AND key = CAST('ku7' AS BLOB)
            AND CAST(value AS TEXT) LIKE '%renamed after the start%')
        || (SELECT count(*) FROM sluice_state WHERE task = 'table:ddb/users' AND key = CAST('ku8' AS BLOB))
        || (SELECT count(*) FROM sluice_state WHERE task = 'table:ddb/users' AND key = CAST('k$NEWU' AS BLOB));" 2>/dev/null)" = 101 ]
}
wait_for 60 committed "$T/inner.db" || { tail -n 20 "$T/inner.log"; fail "inner: the table's changes were not committed"; }
wait_for 60 committed "$T/left.db" || { tail -n 20 "$T/left.log"; fail "left: the table's changes were not committed"; }
say "the update, deletion and insertion are committed in both checkpoint files $(since "$t0") s after the last CLI write returned"
python3 - "$T" "$EVENTS" "$LATE" "$ITEMS" "$NEWU" <<'PY'
import json, random, sys
sys.path.insert(0, sys.argv[1])
import kin
T, first, n, items, newu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rnd = random.Random(5858)
others = ["u%d" % u for u in range(items + 40) if "u%d" % u not in ("u7", "u8", newu)]
evs = []
for i in range(first, first + n):
    u = ["u7", "u8", newu, rnd.choice(others)][i % 4]
    evs.append({"e": i, "user": u, "v": rnd.randint(0, 1000)})
with open(T + "/ev2.jsonl", "w") as f:
    for e in evs:
        f.write(json.dumps(e) + "\n")
kin.dump([{"key": "p%d" % e["e"], "data": json.dumps(e).encode()} for e in evs], T + "/late2.in", "w")
PY
kpy put "$KIN" events "$T/late2.in" "$T/late2.put" || fail "put-records"
ddb_scan "$DDB" Users >"$T/scan2.json" || fail "scan"
sqlite3 -batch "$T/judge.db" <<SQL || fail "sqlite3 could not compute the second batch join"
.separator '$SEP' "\\n"
CREATE TABLE ev2 (line TEXT);
.import '$T/ev2.jsonl' ev2
INSERT INTO evs SELECT json_extract(line, '\$.e'), json_extract(line, '\$.user'), json_extract(line, '\$.v') FROM ev2;
CREATE TABLE items2 AS SELECT json_extract(s.value, '\$.id.S') AS id, $(canon s.value) AS item
    FROM json_each(CAST(readfile('$T/scan2.json') AS TEXT), '\$.Items') AS s;
CREATE TABLE left2 AS SELECT e, v, i.item FROM evs LEFT JOIN items2 i ON i.id = evs.user WHERE e >= $EVENTS;
CREATE TABLE inner2 AS SELECT * FROM left2 WHERE item IS NOT NULL;
SQL
n_inner2=$(sqlite3 "$T/judge.db" "SELECT count(*) FROM inner2")
kin_wait_lines "$T/inner.out" $((n_inner + n_inner2)) 60 "$PID_INNER" "$T/inner.log"
kin_wait_lines "$T/left.out" $((n_left + LATE)) 60 "$PID_LEFT" "$T/left.log"
kin_stop "$PID_INNER" "$T/inner.log"
kin_stop "$PID_LEFT" "$T/left.log"
for kind in inner left; do
    check "$kind" "${kind}1" 0 $((EVENTS - 1)) "the first $EVENTS events, after the stop"
    check "$kind" "${kind}2" "$EVENTS" $((EVENTS + LATE - 1)) "the $LATE later events"
    got=$(kin_lines "$T/$kind.out")
    want=$(sqlite3 "$T/judge.db" "SELECT (SELECT count(*) FROM ${kind}1) + (SELECT count(*) FROM ${kind}2)")
    [ "$got" = "$want" ] || fail "$kind: $got lines out, $want expected"
done
# What the keys of the later update saw, before and after, in the left join's output.
res=$(sqlite3 -batch -noheader -separator ' ' "$T/judge.db" <<SQL
.separator '$SEP' "\\n"
CREATE TEMP TABLE o (line TEXT);
.import '$T/left.out' o
SELECT (SELECT count(*) FROM o WHERE json_extract(line, '\$.user') = 'u7' AND json_extract(line, '\$.e') >= $EVENTS
        AND json_extract(line, '\$.u.name.S') = 'renamed after the start' AND json_extract(line, '\$.u.tier.N') = '42')
    || ' ' || (SELECT count(*) FROM o WHERE json_extract(line, '\$.user') = 'u7' AND json_extract(line, '\$.e') < $EVENTS
        AND json_extract(line, '\$.u.name.S') LIKE 'user 7 rev %')
    || ' ' || (SELECT count(*) FROM o WHERE json_extract(line, '\$.user') = 'u8' AND json_extract(line, '\$.e') >= $EVENTS
        AND json_type(line, '\$.u') = 'null')
    || ' ' || (SELECT count(*) FROM o WHERE json_extract(line, '\$.user') = 'u8' AND json_extract(line, '\$.e') < $EVENTS
        AND json_type(line, '\$.u') = 'object')
    || ' ' || (SELECT count(*) FROM o WHERE json_extract(line, '\$.user') = '$NEWU' AND json_extract(line, '\$.e') >= $EVENTS
        AND json_extract(line, '\$.u.name.S') = 'late')
    || ' ' || (SELECT count(*) FROM o WHERE json_extract(line, '\$.user') = '$NEWU' AND json_extract(line, '\$.e') < $EVENTS
        AND json_type(line, '\$.u') = 'null');
SQL
)
set -- $res
[ "$1" = $((LATE / 4)) ] && [ "$2" = "$old7" ] && [ "$2" -gt 0 ] && [ "$3" = $((LATE / 4)) ] && [ "$4" -gt 0 ] &&
    [ "$5" = $((LATE / 4)) ] && [ "$6" -gt 0 ] ||
    fail "later update: u7 $1 new/$2 old rows (want $((LATE / 4))/$old7), u8 $3 deleted/$4 before, $NEWU $5 new/$6 before"
say "later update: u7's $1 later events carry its new row ($2 earlier ones the old), u8's $3 none after its deletion ($4 before), $NEWU's $5 its new row ($6 before it existed)"
say "inner: $(kin_lines "$T/inner.out") rows, left: $(kin_lines "$T/left.out") rows, identical to both batch joins; ok in $(since "$T0") s"
