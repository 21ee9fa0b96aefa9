#!/bin/sh
# 0026: Pulsar IO connector configs run unchanged (`sluice run --pulsar-io KIND CONFIG`). The
# Kinesis source examples of the seed document (JSON and YAML, verbatim but for the endpoints:
# awsEndpoint at the local kinesalite, dynamoEndpoint at dynalite, where the KCL lease table
# named applicationName goes) each move records the AWS CLI put into a Pulsar topic, read
# back by the official client; a whole connector config in YAML (name, inputs, configs) runs as
# the Kinesis sink: messages the official client produced arrive in Kinesis as
# FULL_MESSAGE_IN_JSON. A wrong setting is reported at its line of the user's file, the
# credentials in awsCredentialPluginParam never appear in a dump, and dynamodb-source says what
# a Kinesis config lacks for it (tests/0029 runs the DynamoDB source's own examples).
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:kinesalite peer:dynalite peer:pulsar
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"

kin_up kinesalite dynalite pulsar
KIN=$(cat "$T/kinesalite.url")
DDB=$(cat "$T/dynalite.url")
PL=$(cat "$T/pulsar.url")
say "kinesalite $KIN, dynalite $DDB, pulsar $PL"
pl_client
kin_stream "$KIN" my-stream 1
kin_stream "$KIN" sink-stream 1

# The seed's examples (pulsar-io-kinesis-source), awsEndpoint pointed at kinesalite.
cat >"$T/src.json" <<EOF
{
    "awsEndpoint": "$KIN",
    "dynamoEndpoint": "$DDB",
    "awsRegion": "us-east-1",
    "awsKinesisStreamName": "my-stream",
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
cat >"$T/src.yaml" <<EOF
awsEndpoint: "$KIN"
dynamoEndpoint: "$DDB"
awsRegion: "us-east-1"
awsKinesisStreamName: "my-stream"
awsCredentialPluginParam: "{\"accessKey\":\"myKey\",\"secretKey\":\"my-Secret\"}"
applicationName: "My test application"
checkpointInterval: 30000
backoffTime: 4000
numRetries: 3
receiveQueueSize: 2000
initialPositionInStream: "TRIM_HORIZON"
startAtTime: "2019-03-05T19:28:58.000Z"
EOF

# Both examples name the same application, hence the same KCL lease table: the YAML run goes on
# where the JSON run checkpointed. Each run gets 50 new records.
base=0
for f in src.json src.yaml; do
    topic=persistent://public/default/io-${f%%.*}-${f##*.}
    python3 - "$T/in.jsonl" "$base" <<'EOF'
import base64, json, sys
b = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    for i in range(b, b + 50):
        f.write(json.dumps({"key": "pk%d" % i, "data": base64.b64encode(json.dumps({"n": i}).encode()).decode()}) + "\n")
EOF
    kpy put "$KIN" my-stream "$T/in.jsonl" "$T/put.jsonl" || fail "put-records"
    (cd "$T" && exec "$SLUICE" run --pulsar-io kinesis-source "$f" --topic "$topic" --pulsar-url "$PL" \
        -D "job.checkpoint.sqlite.path=$T/$f.db" >"$T/$f.log" 2>&1) &
    J=$!; kin_track "$J"
    i=0
    until [ "$(pl_py read "$PL" "$topic" 100 "$T/$f.got")" -ge 50 ]; do
        i=$((i + 1)); kin_alive "$J" || { tail -n 20 "$T/$f.log"; fail "--pulsar-io kinesis-source $f died"; }
        [ "$i" -le 20 ] || { tail -n 20 "$T/$f.log"; fail "$topic has $(kin_lines "$T/$f.got") of 50"; }
        sleep 1
    done
    kin_stop "$J" "$T/$f.log"
    python3 - "$T/$f.got" "$base" <<'EOF' || fail "the $f job wrote something else"
import base64, json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
b = int(sys.argv[2])
ns = sorted(json.loads(base64.b64decode(g["data"]))["n"] for g in got)
assert ns == list(range(b, b + 50)), ns
assert all(g["key"] == "pk%d" % json.loads(base64.b64decode(g["data"]))["n"] for g in got)
assert all(g["props"].get("kinesis.shard.id") == "shardId-000000000000" for g in got)
EOF
    lacks "$T/$f.log" "my-Secret"
    say "$f: 50 records Kinesis -> $topic (lease table My_test_application)"
    base=$((base + 50))
done

# A whole connector config (as for pulsar-admin sinks create --sink-config-file), in YAML.
cat >"$T/sink.yaml" <<EOF
tenant: public
namespace: default
name: kinesis-sink-test
inputs:
  - persistent://public/default/io-sink
configs:
  awsEndpoint: "$KIN"
  awsRegion: "us-east-1"
  awsKinesisStreamName: "sink-stream"
  awsCredentialPluginParam: '{"accessKey":"myKey","secretKey":"my-Secret"}'
  messageFormat: "FULL_MESSAGE_IN_JSON"
EOF
(cd "$T" && exec "$SLUICE" run --pulsar-io kinesis-sink sink.yaml --pulsar-url "$PL" \
    -D "systems.pulsar.streams.in.pulsar.subscription.initial-position=Earliest" \
    -D "job.checkpoint.sqlite.path=$T/sink.db" >"$T/sink.log" 2>&1) &
J=$!; kin_track "$J"
sleep 2
pl_py produce "$PL" persistent://public/default/io-sink 40 "$T/sent.jsonl" batch NONE || fail "produce"
i=0
until [ "$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import kin; print(len(kin.read_stream(sys.argv[2], "sink-stream")))' "$T" "$KIN")" -ge 40 ]; do
    i=$((i + 1)); kin_alive "$J" || { tail -n 20 "$T/sink.log"; fail "--pulsar-io kinesis-sink died"; }
    [ "$i" -le 30 ] || { tail -n 20 "$T/sink.log"; fail "sink-stream did not get 40 records"; }
    sleep 1
done
kin_stop "$J" "$T/sink.log"
python3 - "$T" "$KIN" <<'EOF' || fail "the sink wrote something else"
import base64, json, sys
sys.path.insert(0, sys.argv[1])
import kin
recs = kin.read_stream(sys.argv[2], "sink-stream")
ids = sorted(json.loads(base64.b64decode(json.loads(r["data"])["payloadBase64"]))["id"] for r in recs)
assert ids == list(range(40)), ids
print("# sink.yaml: 40 messages Pulsar -> Kinesis as FULL_MESSAGE_IN_JSON, e.g. %s" % recs[0]["data"].decode()[:120])
EOF

# Errors point into the user's file; secrets stay out of dumps.
printf 'awsRegion: us-east-1\nawsKinesisStreamName: s\ninitialPositionInStream: SOMEWHERE\nmessageFormatt: X\n' >"$T/bad.yaml"
expect_exit 3 "$SLUICE" config check --pulsar-io kinesis-sink "$T/bad.yaml" --topic t >"$T/bad.out" 2>&1
contains "$T/bad.out" "bad.yaml:4: unknown property 'systems.kinesis.streams.out.messageFormatt' (did you mean"
"$SLUICE" config dump --pulsar-io kinesis-source "$T/src.yaml" --topic t >"$T/dump.out" 2>&1 || fail "dump"
contains "$T/dump.out" "awsCredentialPluginParam=****"
lacks "$T/dump.out" "my-Secret"
# The Kinesis source's config given to dynamodb-source: the stream ARN it needs is missing.
expect_exit 3 "$SLUICE" run --pulsar-io dynamodb-source "$T/src.yaml" --topic t >"$T/ddb.out" 2>&1
contains "$T/ddb.out" "systems.dynamodb.streams.in.stream.arn: required"
say "errors at their line, secrets masked, a Kinesis config as dynamodb-source lacks its stream ARN"
say "ok"
