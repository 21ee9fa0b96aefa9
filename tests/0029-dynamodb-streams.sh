#!/bin/sh
# 0029: DynamoDB Streams (the dynamodbstreams system) against Amazon's DynamoDB Local, judged by
# programs nobody here wrote: the AWS CLI v2 writes the items and reads the stream itself
# (every eventID, eventName and sequence number must arrive once, in shard order), and the
# DynamoDB Streams Kinesis Adapter (Amazon's Java library Pulsar's DynamoDB source is built on,
# run by tests/lib/ddb_adapter.sh) says what each record's data must be, byte for byte.
#   1. a properties job into a file, leases in a KCL lease table on the same DynamoDB Local:
#      everything once; after a restart only what is new (the checkpoint held); the lease
#      table's checkpoint is the shard's last sequence number
#   2. AT_TIMESTAMP (which DynamoDB Streams lacks): a time before the items gives every record,
#      a time after them none
#   3. the seed's DynamoDB source examples (pulsar-io-dynamodb-source, JSON and YAML, endpoints
#      pointed at the local peers) run by `sluice run --pulsar-io dynamodb-source`: the official
#      Pulsar client reads key = eventID, properties EVENT_NAME and SEQUENCE_NUMBER, and the
#      adapter's payload; the YAML run goes on where the JSON run checkpointed
#   4. bad input: a wrong ARN and a missing one are configuration errors naming the key; the
#      system is refused as an output
. "$(dirname "$0")/lib/common.sh"
needs aws python3 java javac mvn peer:dynamodb-local peer:pulsar
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"
. "$top_srcdir/tests/lib/ddb_adapter.sh"

kin_up dynamodb-local pulsar
DDB=$(cat "$T/dynamodb-local.url")
PL=$(cat "$T/pulsar.url")
say "dynamodb-local $DDB, pulsar $PL"
pl_client

ARN=$(cli "$DDB" dynamodb create-table --table-name Orders \
    --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=N \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
    --billing-mode PAY_PER_REQUEST \
    --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES \
    --query TableDescription.LatestStreamArn --output text) || fail "create-table"
say "stream $ARN"

# Items of every attribute type (texts with quotes, backslashes, control characters, non-ASCII
# and an emoji; binaries; sets; maps with many keys, nested; lists), written in batches, then
# updated (MODIFY) and deleted (REMOVE).
cat >"$T/items.py" <<'PY'
import base64, json, sys
first, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
texts = ['plain', 'quote " and \\ backslash', 'tab\tnew\nline\r\x01\x1f\x7f', 'caf\u00e9 \u2028 \U0001F600 \U0001F1EA\U0001F1FA',
         '</script> & <b>', '']
reqs = []
for i in range(first, first + n):
    item = {"pk": {"S": "order-%d" % i}, "sk": {"N": str(i)},
            "text": {"S": texts[i % len(texts)] or "x"},
            "amount": {"N": "%d.%02d" % (i * 7, i % 100)},
            "blob": {"B": base64.b64encode(bytes(range(i % 7, i % 7 + 5 + i % 3))).decode()},
            "tags": {"SS": ["t%d" % j for j in range(1 + i % 4)]},
            "nums": {"NS": [str(j * 11) for j in range(1 + i % 3)]},
            "bins": {"BS": [base64.b64encode(bytes([j, i % 256])).decode() for j in range(1 + i % 2)]},
            "flag": {"BOOL": i % 2 == 0}, "nothing": {"NULL": True},
            "list": {"L": [{"S": "a"}, {"N": "1"}, {"M": {"deep": {"S": "er"}}}]},
            "attrs": {"M": {("k%d_%s" % (j, "xyz"[j % 3])): {"N": str(j)} for j in range(3 + i % 20)}},
            "emptyM": {"M": {}}, "emptyL": {"L": []},
            "big": {"N": ["-1.5E+10", "123456789012345678901234567890", "0.000001"][i % 3]}}
    for j in range(i % 15):
        item["extra_%d" % j] = {"S": "e%d" % j}
    reqs.append({"PutRequest": {"Item": item}})
with open(out, "w") as f:
    for b in range(0, len(reqs), 25):
        f.write(json.dumps({"Orders": reqs[b:b + 25]}) + "\n")
PY
# put_items FIRST N: items order-FIRST .. order-(FIRST+N-1)
put_items() {
    python3 "$T/items.py" "$1" "$2" "$T/batches.jsonl"
    while IFS= read -r line; do
        printf '%s\n' "$line" >"$T/batch.json"
        cli "$DDB" dynamodb batch-write-item --request-items "file://$T/batch.json" \
            --query 'length(UnprocessedItems)' --output text | grep -qx 0 || fail "batch-write-item"
    done <"$T/batches.jsonl"
}
put_items 0 60
for i in 1 3 5 7 9 11 13 15 17 19; do
    cli "$DDB" dynamodb update-item --table-name Orders \
        --key "{\"pk\":{\"S\":\"order-$i\"},\"sk\":{\"N\":\"$i\"}}" \
        --update-expression 'SET #t = :t REMOVE flag' --expression-attribute-names '{"#t":"text"}' \
        --expression-attribute-values "{\":t\":{\"S\":\"updated $i\"}}" >/dev/null || fail "update-item"
done
for i in 2 4 6 8 10; do
    cli "$DDB" dynamodb delete-item --table-name Orders \
        --key "{\"pk\":{\"S\":\"order-$i\"},\"sk\":{\"N\":\"$i\"}}" || fail "delete-item"
done
N1=75

# The CLI's own reading of the stream: eventID, eventName, SequenceNumber, shard, in order.
cat >"$T/judge.py" <<'PY'
import base64, json, subprocess, sys
def cli(url, *args):
    return json.loads(subprocess.check_output([sys.argv[2], "--no-cli-pager", "--output", "json",
                                               "--endpoint-url", url] + list(args)))
def stream(url, arn, out):
    shards, start = [], None
    while True:
        a = ["dynamodbstreams", "describe-stream", "--stream-arn", arn]
        if start:
            a += ["--exclusive-start-shard-id", start]
        d = cli(url, *a)["StreamDescription"]
        shards += [s["ShardId"] for s in d["Shards"]]
        start = d.get("LastEvaluatedShardId")
        if not start:
            break
    with open(out, "w") as f:
        for sh in shards:
            it = cli(url, "dynamodbstreams", "get-shard-iterator", "--stream-arn", arn, "--shard-id", sh,
                     "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
            empty = 0
            while it and empty < 2:
                r = cli(url, "dynamodbstreams", "get-records", "--shard-iterator", it)
                for rec in r["Records"]:
                    f.write("%s\t%s\t%s\t%s\n" % (rec["eventID"], rec["eventName"],
                                                  rec["dynamodb"]["SequenceNumber"], sh))
                empty = 0 if r["Records"] else empty + 1
                it = r.get("NextShardIterator")
def check_file(expected, adapter, got):
    """sluice's file output against the CLI (ids, names, offsets, order) and the adapter (data)."""
    exp = [l.rstrip("\n").split("\t") for l in open(expected)]
    data = {}
    for l in open(adapter):
        eid, name, seq, b64 = l.rstrip("\n").split("\t")
        data[eid] = (name, seq, base64.b64decode(b64))
    recs = [json.loads(l) for l in open(got)]
    ids = [r["key"] for r in recs]
    if sorted(ids) != sorted(e[0] for e in exp) or len(set(ids)) != len(ids):
        sys.exit("records differ from the CLI's: %d read, %d expected, %d distinct"
                 % (len(ids), len(exp), len(set(ids))))
    for e in exp:
        r = next(r for r in recs if r["key"] == e[0])
        if r["headers"].get("dynamodb.event-name") != e[1] or r["offset"] != e[2] or r["partition"] != e[3]:
            sys.exit("record %s: %s/%s/%s, the CLI says %s" % (e[0], r["headers"], r["offset"], r["partition"], e[1:]))
        want = data[e[0]][2]
        if r["payload"].encode() != want:
            sys.exit("record %s: data differs from the adapter's:\n sluice:  %s\n adapter: %s"
                     % (e[0], r["payload"], want.decode()))
    # order within each shard: sequence numbers ascending as written
    last = {}
    for r in recs:
        if r["partition"] in last and int(r["offset"]) <= int(last[r["partition"]]):
            sys.exit("shard %s out of order at %s" % (r["partition"], r["offset"]))
        last[r["partition"]] = r["offset"]
    print(len(recs))
def check_pulsar(expected_ids, adapter, got):
    """Pulsar messages (pl.py read output) against the adapter: key, properties, payload."""
    want_ids = [l.split("\t")[0] for l in open(expected_ids)]
    data = {}
    for l in open(adapter):
        eid, name, seq, b64 = l.rstrip("\n").split("\t")
        data[eid] = (name, seq, base64.b64decode(b64))
    msgs = [json.loads(l) for l in open(got)]
    keys = [m["key"] for m in msgs]
    if sorted(keys) != sorted(want_ids):
        sys.exit("Pulsar has %d messages (%d distinct), expected %d" % (len(keys), len(set(keys)), len(want_ids)))
    for m in msgs:
        name, seq, payload = data[m["key"]]
        if m["props"] != {"EVENT_NAME": name, "SEQUENCE_NUMBER": seq}:
            sys.exit("message %s: properties %s, expected EVENT_NAME=%s SEQUENCE_NUMBER=%s" % (m["key"], m["props"], name, seq))
        if base64.b64decode(m["data"]) != payload:
            sys.exit("message %s: payload differs from the adapter's" % m["key"])
    print(len(msgs))
if sys.argv[1] == "stream":
    stream(sys.argv[3], sys.argv[4], sys.argv[5])
elif sys.argv[1] == "file":
    check_file(sys.argv[3], sys.argv[4], sys.argv[5])
else:
    check_pulsar(sys.argv[3], sys.argv[4], sys.argv[5])
PY
# judge CMD ARGS...: judge.py with the AWS CLI's path after the command
judge() { _c=$1; shift; python3 "$T/judge.py" "$_c" "$KIN_AWS" "$@"; }

judge stream "$DDB" "$ARN" "$T/cli1.tsv" || fail "the CLI could not read the stream"
[ "$(wc -l <"$T/cli1.tsv")" -eq "$N1" ] || fail "the CLI reads $(wc -l <"$T/cli1.tsv") records, expected $N1"
ddb_adapter_judge "$DDB" "$ARN" >"$T/adapter1.tsv" || fail "the adapter judge failed"
[ "$(wc -l <"$T/adapter1.tsv")" -eq "$N1" ] || fail "the adapter reads $(wc -l <"$T/adapter1.tsv") records"
say "the CLI and the adapter read $N1 records (60 INSERT, 10 MODIFY, 5 REMOVE)"

# 1. properties job into a file, leases in DynamoDB Local
file_job() { # file_job NAME OUT EXTRA...
    _n=$1 _o=$2; shift 2
    cat <<P
job.name=$_n
job.id=1
task.inputs=ddb.orders
task.outputs=out.records
task.commit.ms=300ms
job.checkpoint.sqlite.path=$T/$_n.db
systems.ddb.samza.factory=dynamodbstreams
systems.ddb.aws.region=us-east-1
systems.ddb.aws.endpoint=$DDB
systems.ddb.streams.orders.stream.arn=$ARN
systems.ddb.streams.orders.scan.shard.getrecords.intervalmillis=200
systems.out.samza.factory=file
systems.out.streams.records.path=$_o
systems.out.streams.records.format=json
P
    for _x in "$@"; do echo "$_x"; done
}
file_job leased "$T/out1.jsonl" "systems.ddb.aws.dynamodb.endpoint=$DDB" \
    "systems.ddb.streams.orders.aws.application.name=orders-leases" \
    "systems.ddb.streams.orders.scan.stream.initpos=TRIM_HORIZON" >"$T/leased.properties"
kin_run "$T/leased.properties" "$T/leased.log"
kin_wait_lines "$T/out1.jsonl" "$N1" 60 "$KIN_PID" "$T/leased.log"
kin_stop "$KIN_PID" "$T/leased.log"
got=$(judge file "$T/cli1.tsv" "$T/adapter1.tsv" "$T/out1.jsonl") || { echo "$got"; fail "file output"; }
say "file job: $got records, each once, in shard order, data identical to the adapter's"
last=$(tail -n 1 "$T/cli1.tsv" | cut -f3)
ddb_scan "$DDB" orders-leases >"$T/leases.json" || fail "no lease table orders-leases"
python3 - "$T/leases.json" "$last" <<'PY' || fail "lease table checkpoint"
import json, sys
items = json.load(open(sys.argv[1]))["Items"]
cks = [i["checkpoint"]["S"] for i in items]
if sys.argv[2] not in cks:
    sys.exit("lease checkpoints %s lack the last sequence number %s" % (cks, sys.argv[2]))
PY
say "lease table orders-leases holds checkpoint $last"

put_items 60 10
N2=10
judge stream "$DDB" "$ARN" "$T/cli2all.tsv"
tail -n "$N2" "$T/cli2all.tsv" >"$T/cli2.tsv"
ddb_adapter_judge "$DDB" "$ARN" >"$T/adapter2.tsv" || fail "the adapter judge failed"
kin_run "$T/leased.properties" "$T/leased2.log"
kin_wait_lines "$T/out1.jsonl" $((N1 + N2)) 60 "$KIN_PID" "$T/leased2.log"
sleep 1
kin_stop "$KIN_PID" "$T/leased2.log"
tail -n +$((N1 + 1)) "$T/out1.jsonl" >"$T/out2.jsonl"
got=$(judge file "$T/cli2.tsv" "$T/adapter2.tsv" "$T/out2.jsonl") || { echo "$got"; fail "after the restart"; }
[ "$(wc -l <"$T/out1.jsonl")" -eq $((N1 + N2)) ] || fail "duplicates after the restart: $(wc -l <"$T/out1.jsonl") lines"
say "restart: only the $got new records"

# 2. AT_TIMESTAMP: before the items, every record; after them, none.
file_job past "$T/past.jsonl" "systems.ddb.streams.orders.scan.stream.initpos=AT_TIMESTAMP" \
    "systems.ddb.streams.orders.scan.stream.initpos-timestamp=2019-03-05T19:28:58.000Z" >"$T/past.properties"
kin_run "$T/past.properties" "$T/past.log"
kin_wait_lines "$T/past.jsonl" $((N1 + N2)) 60 "$KIN_PID" "$T/past.log"
kin_stop "$KIN_PID" "$T/past.log"
future=$(($(date +%s) + 3600))
file_job future "$T/future.jsonl" "systems.ddb.streams.orders.scan.stream.initpos=AT_TIMESTAMP" \
    "systems.ddb.streams.orders.scan.stream.initpos-timestamp=$future" "log.debug=kinesis" >"$T/future.properties"
kin_run "$T/future.properties" "$T/future.log"
kin_wait_log "$T/future.log" "$((N1 + N2)) record(s)" 1 30 "$KIN_PID"
sleep 1
kin_stop "$KIN_PID" "$T/future.log"
[ "$(kin_lines "$T/future.jsonl")" -eq 0 ] || fail "AT_TIMESTAMP an hour ahead delivered $(kin_lines "$T/future.jsonl") records"
contains "$T/future.log" "GetShardIterator TRIM_HORIZON, skipping what was created before $((future * 1000)) ms"
say "AT_TIMESTAMP: 2019 gives all $((N1 + N2)), an hour ahead none of the $((N1 + N2)) fetched"

# 3. the seed's examples into Pulsar; both name the same application (lease table).
cat >"$T/ddb.json" <<EOF
{
    "awsEndpoint": "$DDB",
    "dynamoEndpoint": "$DDB",
    "awsRegion": "us-east-1",
    "awsDynamodbStreamArn": "$ARN",
    "awsCredentialPluginParam": "{\"accessKey\":\"myKey\",\"secretKey\":\"my-Secret\"}",
    "applicationName": "My test application",
    "checkpointInterval": "30000",
    "backoffTime": "4000",
    "numRetries": "3",
    "receiveQueueSize": 2000,
    "initialPositionInStream": "TRIM_HORIZON",
    "startAtTime": "2019-03-05T19:28:58.000Z"
}
EOF
cat >"$T/ddb.yaml" <<EOF
awsEndpoint: "$DDB"
dynamoEndpoint: "$DDB"
awsRegion: "us-east-1"
awsDynamodbStreamArn: "$ARN"
awsCredentialPluginParam: "{\"accessKey\":\"myKey\",\"secretKey\":\"my-Secret\"}"
applicationName: "My test application"
checkpointInterval: 30000
backoffTime: 4000
numRetries: 3
receiveQueueSize: 2000
initialPositionInStream: "TRIM_HORIZON"
startAtTime: "2019-03-05T19:28:58.000Z"
EOF
cat "$T/cli2all.tsv" >"$T/want-json.tsv"
"$SLUICE" run --pulsar-io dynamodb-source "$T/ddb.json" --topic ddb-json --pulsar-url "$PL" \
    >"$T/pj.log" 2>&1 &
KIN_PID=$!
kin_track "$KIN_PID"
n=0
for _ in $(seq 1 60); do
    n=$(pl_py read "$PL" ddb-json $((N1 + N2)) "$T/pj.jsonl" | tail -n 1)
    [ "$n" -ge $((N1 + N2)) ] && break
    sleep 1
done
kin_stop "$KIN_PID" "$T/pj.log"
got=$(judge pulsar "$T/want-json.tsv" "$T/adapter2.tsv" "$T/pj.jsonl") || { echo "$got"; tail -n 20 "$T/pj.log"; fail "JSON example"; }
say "seed JSON example: $got messages in ddb-json, key = eventID, EVENT_NAME and SEQUENCE_NUMBER, the adapter's payload"

put_items 70 5
judge stream "$DDB" "$ARN" "$T/cli3all.tsv"
tail -n 5 "$T/cli3all.tsv" >"$T/want-yaml.tsv"
ddb_adapter_judge "$DDB" "$ARN" >"$T/adapter3.tsv" || fail "the adapter judge failed"
"$SLUICE" run --pulsar-io dynamodb-source "$T/ddb.yaml" --topic ddb-yaml --pulsar-url "$PL" \
    >"$T/py.log" 2>&1 &
KIN_PID=$!
kin_track "$KIN_PID"
n=0
for _ in $(seq 1 60); do
    n=$(pl_py read "$PL" ddb-yaml 5 "$T/py.jsonl" | tail -n 1)
    [ "$n" -ge 5 ] && break
    sleep 1
done
sleep 2
kin_stop "$KIN_PID" "$T/py.log"
pl_py read "$PL" ddb-yaml 100 "$T/py.jsonl" >/dev/null
got=$(judge pulsar "$T/want-yaml.tsv" "$T/adapter3.tsv" "$T/py.jsonl") || { echo "$got"; tail -n 20 "$T/py.log"; fail "YAML example"; }
ddb_scan "$DDB" My_test_application >/dev/null || fail "no lease table My_test_application"
say "seed YAML example: went on at the checkpoint: $got new messages in ddb-yaml"

# 4. bad input
file_job bad "$T/bad.jsonl" >"$T/bad.properties"
sed -i "s|^systems.ddb.streams.orders.stream.arn=.*|systems.ddb.streams.orders.stream.arn=arn:aws:kinesis:us-east-1:1:stream/x|" "$T/bad.properties"
expect_exit 3 "$SLUICE" config check "$T/bad.properties" >"$T/bad.out" 2>&1
contains "$T/bad.out" "systems.ddb.streams.orders.stream.arn"
contains "$T/bad.out" "table/<table>/stream/<label>"
sed -i "/stream.arn=/d" "$T/bad.properties"
expect_exit 3 "$SLUICE" config check "$T/bad.properties" >"$T/bad2.out" 2>&1
contains "$T/bad2.out" "stream.arn: required"
file_job out "$T/x.jsonl" >"$T/out.properties"
sed -i "s|^task.outputs=.*|task.outputs=ddb.orders|" "$T/out.properties"
expect_exit 3 "$SLUICE" config check "$T/out.properties" >"$T/out.out" 2>&1
contains "$T/out.out" "system 'ddb' (dynamodbstreams) cannot be written: it has no producer"
say "a Kinesis ARN, no ARN, and the system as an output are refused, naming the key"
say "ok"
