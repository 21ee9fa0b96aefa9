#!/bin/sh
# 0013: sluice's AWS layer (aws/http.c, aws_sigv4.c, aws_creds.c, aws_client.c, through
# `sluice-aws`) against local AWS implementations, judged by the AWS CLI v2: streams and tables
# created by one are listed and described by the other, 1000 concurrent signed PutRecord calls
# go through one event loop and GetRecords reads them all back, error answers are decoded (both
# `message` and DynamoDB Local's `Message`), and valgrind finds no leak in the 1000-call run.
# The peers do not check signatures: the SigV4 suite (unit) and botocore (0010) prove those.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:kinesalite peer:dynalite peer:dynamodb-local peer:kinesis-local
[ -n "${SL_SANITIZERS:-}" ] || needs valgrind   # the leak check; LeakSanitizer does it in sanitizer builds
PEER=0013-aws-layer-peers
. "$top_srcdir/tests/peers/lib.sh"

peers_up kinesalite dynalite dynamodb-local kinesis-local
KIN=$(cat "$T/kinesalite.url"); DDB=$(cat "$T/dynalite.url"); DDBL=$(cat "$T/dynamodb-local.url")
KL=$(cat "$T/kinesis-local.url")

AWS=/usr/bin/aws
"$AWS" --version 2>/dev/null | grep -q '^aws-cli/2\.' || fail "need AWS CLI v2 at /usr/bin/aws (tools/deps.sh --test installs awscli)"
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_CA_BUNDLE AWS_ENDPOINT_URL
: >"$T/aws.config"; : >"$T/aws.credentials"
export AWS_CONFIG_FILE="$T/aws.config" AWS_SHARED_CREDENTIALS_FILE="$T/aws.credentials"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
cli() { "$AWS" --no-cli-pager --output json "$@"; }
sl() { "$SLUICE_AWS" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# --- Kinesis: each side creates, both sides see ---------------------------------------------
sl kinesis CreateStream '{"StreamName":"by-sluice","ShardCount":1}' --endpoint-url "$KIN" >/dev/null
cli --endpoint-url "$KIN" kinesis create-stream --stream-name by-cli --shard-count 2
wait_for 20 sh -c "'$AWS' --no-cli-pager --endpoint-url '$KIN' kinesis describe-stream-summary --stream-name by-sluice | grep -q ACTIVE" \
    || fail "the AWS CLI never saw sluice's stream ACTIVE"
wait_for 20 sh -c "'$SLUICE_AWS' kinesis DescribeStreamSummary '{\"StreamName\":\"by-cli\"}' --endpoint-url '$KIN' | grep -q ACTIVE" \
    || fail "sluice never saw the CLI's stream ACTIVE"
sl kinesis ListStreams --endpoint-url "$KIN" >"$T/streams.json"
[ "$(json 'sorted(d["StreamNames"])' <"$T/streams.json")" = "['by-cli', 'by-sluice']" ] || { cat "$T/streams.json"; fail "ListStreams"; }
shards=$(sl kinesis DescribeStreamSummary '{"StreamName":"by-cli"}' --endpoint-url "$KIN" | json 'd["StreamDescriptionSummary"]["OpenShardCount"]')
[ "$shards" = 2 ] || fail "sluice reads 2 shards of by-cli, got $shards"
say "kinesis: sluice and the AWS CLI list and describe each other's streams"

# --- 1000 concurrent signed PutRecord through one event loop, then read back --------------------
DATA=$(printf 'sluice-record-%s' "$(head -c 600 /dev/zero | tr '\0' 'x')" | base64 -w0)
sl kinesis PutRecord "{\"StreamName\":\"by-sluice\",\"PartitionKey\":\"pk\",\"Data\":\"$DATA\"}" \
    --endpoint-url "$KIN" --repeat 1000 --concurrency 1000 >"$T/put.out" 2>"$T/put.err" || { cat "$T/put.err"; fail "PutRecord x1000"; }
cat "$T/put.out"
contains "$T/put.out" "1000 ok, 0 failed"
shard=$(sl kinesis ListShards '{"StreamName":"by-sluice"}' --endpoint-url "$KIN" | json 'd["Shards"][0]["ShardId"]')
it=$(sl kinesis GetShardIterator "{\"StreamName\":\"by-sluice\",\"ShardId\":\"$shard\",\"ShardIteratorType\":\"TRIM_HORIZON\"}" --endpoint-url "$KIN" | json 'd["ShardIterator"]')
n=0
while [ "$n" -lt 1000 ] && [ -n "$it" ] && [ "$it" != None ]; do
    sl kinesis GetRecords "{\"ShardIterator\":\"$it\",\"Limit\":10000}" --endpoint-url "$KIN" >"$T/get.json"
    got=$(DATA="$DATA" json 'sum(1 for r in d["Records"] if r["Data"] == __import__("os").environ["DATA"])' <"$T/get.json")
    n=$((n + got))
    it=$(json 'd.get("NextShardIterator")' <"$T/get.json")
    [ "$got" -gt 0 ] || break
done
[ "$n" = 1000 ] || fail "GetRecords read $n of the 1000 records back"
cnt=$(cli --endpoint-url "$KIN" kinesis get-records --limit 10000 --shard-iterator \
      "$(cli --endpoint-url "$KIN" kinesis get-shard-iterator --stream-name by-sluice --shard-id "$shard" --shard-iterator-type TRIM_HORIZON | json 'd["ShardIterator"]')" | json 'len(d["Records"])')
[ "$cnt" = 1000 ] || fail "the AWS CLI reads $cnt records, expected 1000"
say "1000 concurrent signed PutRecord: read back by sluice and by the AWS CLI"

# --- TLS and HTTP/2: kinesis-local serves HTTPS (self-signed) and speaks HTTP/2 ----------------
expect_exit 1 "$SLUICE_AWS" kinesis ListStreams --endpoint-url "$KL" 2>"$T/tls.err"
grep -qi "certificate\|SSL" "$T/tls.err" || { cat "$T/tls.err"; fail "an unverifiable certificate must be refused by default"; }
SLUICE_DEBUG=http "$SLUICE_AWS" kinesis CreateStream '{"StreamName":"over-h2","ShardCount":1}' \
    --endpoint-url "$KL" --no-verify-ssl >/dev/null 2>"$T/h2.err" || { cat "$T/h2.err"; fail "CreateStream on kinesis-local"; }
contains "$T/h2.err" "HTTP/2"
lacks "$T/h2.err" "$AWS_SECRET_ACCESS_KEY"
wait_for 30 sh -c "'$AWS' --no-cli-pager --no-verify-ssl --endpoint-url '$KL' kinesis describe-stream-summary --stream-name over-h2 2>/dev/null | grep -q ACTIVE" \
    || fail "the AWS CLI never saw the stream sluice created over HTTP/2"
say "kinesis-local: TLS verified by default, HTTP/2 negotiated, the AWS CLI sees the stream"

# --- errors are decoded --------------------------------------------------------------------
expect_exit 1 "$SLUICE_AWS" kinesis DescribeStream '{"StreamName":"nope"}' --endpoint-url "$KIN" 2>"$T/nf.err"
contains "$T/nf.err" "ResourceNotFoundException"
contains "$T/nf.err" "nope"

# --- DynamoDB (dynalite and DynamoDB Local) ------------------------------------------------
for url in "$DDB" "$DDBL"; do
    sl dynamodb CreateTable '{"TableName":"tbl","AttributeDefinitions":[{"AttributeName":"k","AttributeType":"S"}],"KeySchema":[{"AttributeName":"k","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}' --endpoint-url "$url" >/dev/null
    wait_for 20 sh -c "'$AWS' --no-cli-pager --endpoint-url '$url' dynamodb describe-table --table-name tbl | grep -q '\"ACTIVE\"'" || fail "$url: table never ACTIVE for the CLI"
    cli --endpoint-url "$url" dynamodb put-item --table-name tbl --item '{"k":{"S":"a"},"v":{"N":"1"}}'
    v=$(sl dynamodb GetItem '{"TableName":"tbl","Key":{"k":{"S":"a"}}}' --endpoint-url "$url" | json 'd["Item"]["v"]["N"]')
    [ "$v" = 1 ] || fail "$url: sluice reads v=$v of the CLI's item"
    expect_exit 1 "$SLUICE_AWS" dynamodb PutItem '{"TableName":"tbl","Item":{"k":{"S":"a"}},"ConditionExpression":"attribute_not_exists(k)"}' --endpoint-url "$url" 2>"$T/cc.err"
    contains "$T/cc.err" "ConditionalCheckFailedException"
    sl dynamodb ListTables --endpoint-url "$url" | grep -q '"tbl"' || fail "$url: ListTables"
done
say "dynamodb: tables and items cross-checked on dynalite and DynamoDB Local"

# --- no leak in the 1000-call run ----------------------------------------------------------
if [ -n "${SL_SANITIZERS:-}" ]; then
    # valgrind cannot run a sanitizer build; LeakSanitizer has been watching every call above.
    say "valgrind step runs in the plain build (this one is built with$SL_SANITIZERS)"
elif command -v valgrind >/dev/null; then
    valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "$SLUICE_AWS" kinesis PutRecord "{\"StreamName\":\"by-sluice\",\"PartitionKey\":\"pk\",\"Data\":\"$DATA\"}" \
        --endpoint-url "$KIN" --repeat 1000 --concurrency 1000 >"$T/vg.out" 2>"$T/vg.err" || { tail -30 "$T/vg.err"; fail "valgrind found errors or leaks"; }
    contains "$T/vg.out" "1000 ok, 0 failed"
    say "valgrind: 1000 concurrent calls, no leak"
else
    fail "valgrind is required (tools/deps.sh --test installs it)"
fi
say "ok"
