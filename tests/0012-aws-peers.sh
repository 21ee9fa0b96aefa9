#!/bin/sh
# 0012: the local AWS peers in tests/peers/ start, answer the AWS CLI v2 the way the real services
# do, and stop without leaving a process behind. Kinesis streams on kinesis-local (TLS) and
# kinesalite, DynamoDB tables with a conditional put that must fail on dynalite and DynamoDB Local
# (plus its Streams), STS on moto, IMDSv2 role credentials from the EC2 metadata mock, read both
# with curl and by the CLI's own credential chain. The other AWS tests trust these peers because
# this test checked them. The first run installs the peers into $SLUICE_PEERS_CACHE (cached).
. "$(dirname "$0")/lib/common.sh"
needs aws jq curl peer:kinesalite peer:dynalite peer:kinesis-local peer:dynamodb-local peer:imds-mock peer:moto
PEER=0012-aws-peers
. "$top_srcdir/tests/peers/lib.sh"

PEERS="kinesalite dynalite kinesis-local dynamodb-local imds-mock moto"
P=$top_srcdir/tests/peers
S=$T/peers
mkdir -p "$S"
stop_all() { for n in $PEERS; do "$P/$n.sh" stop "$S" >/dev/null 2>&1 || true; done; }
trap 'stop_all; cleanup' EXIT
trap 'exit 1' INT TERM HUP

# Start every peer at once; installs (first run only) overlap.
for n in $PEERS; do
    (
        t0=$(date +%s%N); rc=0
        "$P/$n.sh" start "$S" >"$T/$n.url" 2>"$T/$n.err" || rc=$?
        echo "$rc $((($(date +%s%N) - t0) / 1000000))" >"$T/$n.rc"
    ) &
done

# The judge: AWS CLI v2 (Debian's awscli package), isolated from any local AWS configuration.
AWS=""
for c in /usr/bin/aws $(command -v aws 2>/dev/null || true); do
    if "$c" --version 2>/dev/null | grep -q '^aws-cli/2\.'; then AWS=$c; break; fi
done
if [ -z "$AWS" ]; then peer_apt_install awscli; AWS=/usr/bin/aws; fi
"$AWS" --version 2>/dev/null | grep -q '^aws-cli/2\.' || fail "need AWS CLI v2 at /usr/bin/aws (Debian package awscli)"
unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_CA_BUNDLE AWS_ENDPOINT_URL AWS_DEFAULT_PROFILE
: >"$T/aws.config"
: >"$T/aws.credentials"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
    AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    AWS_CONFIG_FILE=$T/aws.config AWS_SHARED_CREDENTIALS_FILE=$T/aws.credentials AWS_PAGER="" \
    AWS_MAX_ATTEMPTS=2 AWS_RETRY_MODE=standard

# ready NAME: waits for NAME's start script, fails with its reason if it did not start.
ready() {
    i=0
    while [ ! -s "$T/$1.rc" ]; do
        # Bounded even on a first run, where the start script also installs the peer.
        [ "$i" -lt 6000 ] || { cat "$T/$1.err" >&2; fail "$1 start still running after 600 s"; }
        sleep 0.1; i=$((i + 1))
    done
    read -r rc ms <"$T/$1.rc"
    if [ "$rc" != 0 ]; then cat "$T/$1.err" >&2; fail "$1 did not start (exit $rc)"; fi
    [ "$(wc -l <"$T/$1.url")" = 1 ] && grep -Eqx 'https?://127\.0\.0\.1:[0-9]+' "$T/$1.url" ||
        { cat "$T/$1.url"; fail "$1 printed more than its endpoint on stdout"; }
    [ "$(cat "$S/$1.url")" = "$(cat "$T/$1.url")" ] && [ -s "$S/$1.port" ] && [ -s "$S/$1.pid" ] ||
        fail "$1 did not write its .url/.port/.pid files"
    say "$1 at $(cat "$T/$1.url") ready in $ms ms"
}

# aws NAME ARGS...: the AWS CLI against peer NAME, answer in $T/out, messages in $T/err.
aws() {
    url=$(cat "$S/$1.url"); shift
    set -- --no-cli-pager --output json --endpoint-url "$url" "$@"
    case $url in https:*) set -- --no-verify-ssl "$@" ;; esac   # self-signed certificate
    "$AWS" "$@" >"$T/out" 2>"$T/err"
}
# cli NAME ARGS...: the call must succeed.
cli() { aws "$@" || { cat "$T/err" >&2; fail "$1: aws $* failed"; }; }
# cli_error NAME CODE ARGS...: the call must fail with error CODE.
cli_error() {
    n=$1 code=$2; shift 2
    if aws "$n" "$@"; then fail "$n: aws $* should have failed with $code"; fi
    contains "$T/err" "$code"
}
# field JQ: one value from the last answer.
field() { jq -er "$1" "$T/out" || { cat "$T/out"; fail "no $1 in the answer"; }; }
# until_field NAME VALUE JQ ARGS...: repeats the call until JQ gives VALUE (15 s at most).
until_field() {
    n=$1 want=$2 q=$3; shift 3
    end=$(($(date +%s) + 15))
    while :; do
        cli "$n" "$@"
        [ "$(jq -r "$q" "$T/out")" = "$want" ] && return 0
        [ "$(date +%s)" -lt "$end" ] || { cat "$T/out"; fail "$n: $q never became $want"; }
        sleep 0.2
    done
}

check_kinesis() {
    n=$1 st=sluice-0012
    cli "$n" kinesis create-stream --stream-name $st --shard-count 1
    until_field "$n" ACTIVE .StreamDescriptionSummary.StreamStatus kinesis describe-stream-summary --stream-name $st
    cli "$n" kinesis list-streams
    field ".StreamNames | index(\"$st\")" >/dev/null
    cli "$n" kinesis describe-stream --stream-name $st
    shard=$(field '.StreamDescription.Shards[0].ShardId')
    data=$(printf 'record from 0012 via %s' "$n" | base64)
    cli "$n" kinesis put-record --stream-name $st --partition-key pk-0012 --data "$data"
    sn=$(field .SequenceNumber)
    [ "$(field .ShardId)" = "$shard" ] || fail "$n: put-record went to $(field .ShardId), not $shard"
    cli "$n" kinesis get-shard-iterator --stream-name $st --shard-id "$shard" \
        --shard-iterator-type AT_SEQUENCE_NUMBER --starting-sequence-number "$sn"
    it=$(field .ShardIterator)
    cli "$n" kinesis get-records --shard-iterator "$it" --limit 10
    [ "$(field '.Records[0].Data')" = "$data" ] || fail "$n: got back $(field '.Records[0].Data'), sent $data"
    [ "$(field '.Records[0].PartitionKey')" = pk-0012 ] || fail "$n: partition key lost"
    [ "$(field '.Records[0].SequenceNumber')" = "$sn" ] || fail "$n: sequence number changed"
    field .NextShardIterator >/dev/null
    say "$n: stream $st ACTIVE, record $sn on $shard read back"
}

check_dynamodb() {
    n=$1 tb=sluice0012; shift
    cli "$n" dynamodb create-table --table-name $tb \
        --attribute-definitions AttributeName=pk,AttributeType=S --key-schema AttributeName=pk,KeyType=HASH \
        --provisioned-throughput ReadCapacityUnits=5,WriteCapacityUnits=5 "$@"
    until_field "$n" ACTIVE .Table.TableStatus dynamodb describe-table --table-name $tb
    cli "$n" dynamodb list-tables
    field ".TableNames | index(\"$tb\")" >/dev/null
    cli "$n" dynamodb put-item --table-name $tb --item '{"pk":{"S":"k1"},"v":{"N":"1"}}'
    cli "$n" dynamodb get-item --table-name $tb --key '{"pk":{"S":"k1"}}' --consistent-read
    [ "$(field .Item.v.N)" = 1 ] || fail "$n: get-item returned $(cat "$T/out")"
    cli_error "$n" ConditionalCheckFailedException dynamodb put-item --table-name $tb \
        --item '{"pk":{"S":"k1"},"v":{"N":"2"}}' --condition-expression 'attribute_not_exists(pk)'
    cli "$n" dynamodb get-item --table-name $tb --key '{"pk":{"S":"k1"}}' --consistent-read
    [ "$(field .Item.v.N)" = 1 ] || fail "$n: the failed conditional put changed the item"
    # The raw error body, as sluice's JSON parser will see it (field spelling differs by peer).
    curl -s --max-time 5 -H "$(peer_auth_header dynamodb)" -H 'X-Amz-Date: 20200101T000000Z' \
        -H 'X-Amz-Target: DynamoDB_20120810.PutItem' -H 'Content-Type: application/x-amz-json-1.0' \
        -d "{\"TableName\":\"$tb\",\"Item\":{\"pk\":{\"S\":\"k1\"}},\"ConditionExpression\":\"attribute_not_exists(pk)\"}" \
        "$(cat "$S/$n.url")/" >"$T/out"
    field '.__type | endswith("ConditionalCheckFailedException")' >/dev/null
    say "$n: table $tb ACTIVE, put/get ok, conditional put refused; raw error keys: $(jq -c keys_unsorted "$T/out")"
}

check_dynamodb_streams() {
    n=$1 tb=sluice0012
    cli "$n" dynamodbstreams list-streams --table-name $tb
    arn=$(field '.Streams[0].StreamArn')
    cli "$n" dynamodbstreams describe-stream --stream-arn "$arn"
    shard=$(field '.StreamDescription.Shards[0].ShardId')
    cli "$n" dynamodbstreams get-shard-iterator --stream-arn "$arn" --shard-id "$shard" --shard-iterator-type TRIM_HORIZON
    it=$(field .ShardIterator)
    cli "$n" dynamodbstreams get-records --shard-iterator "$it"
    [ "$(field '.Records[0].eventName')" = INSERT ] || fail "$n: first stream record is not the INSERT"
    [ "$(field '.Records[0].dynamodb.NewImage.v.N')" = 1 ] || fail "$n: stream record lacks the new image"
    say "$n: DynamoDB Streams shard $shard holds $(field '.Records | length') record(s), first INSERT v=1"
}

ready kinesalite
check_kinesis kinesalite
ready dynalite
check_dynamodb dynalite
ready kinesis-local
check_kinesis kinesis-local
ready dynamodb-local
check_dynamodb dynamodb-local --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES
check_dynamodb_streams dynamodb-local

ready imds-mock
IMDS=$(cat "$S/imds-mock.url")
code=$(curl -s -o /dev/null -w '%{http_code}' "$IMDS/latest/meta-data/iam/security-credentials/")
[ "$code" = 401 ] || fail "imds-mock answered a tokenless (IMDSv1) request with $code, expected 401"
tok=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "$IMDS/latest/api/token") ||
    fail "imds-mock gave no IMDSv2 token"
[ -n "$tok" ] || fail "imds-mock gave an empty token"
role=$(curl -sf -H "X-aws-ec2-metadata-token: $tok" "$IMDS/latest/meta-data/iam/security-credentials/") ||
    fail "imds-mock did not list the role"
[ "$role" = sluice-test-role ] || fail "imds-mock role is '$role'"
curl -sf -H "X-aws-ec2-metadata-token: $tok" "$IMDS/latest/meta-data/iam/security-credentials/$role" >"$T/out" ||
    fail "imds-mock did not serve the role's credentials"
key=$(jq -r '.metadata.values."iam-security-credentials".AccessKeyId' "$S/imds-mock.json")
[ "$(field .Code)" = Success ] && [ "$(field .AccessKeyId)" = "$key" ] && field .Token >/dev/null &&
    field .Expiration >/dev/null || fail "imds-mock credentials: $(cat "$T/out")"
# botocore's own IMDS client (token, role, credentials) must accept them too.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED=false \
    AWS_EC2_METADATA_SERVICE_ENDPOINT="$IMDS/" "$AWS" configure list >"$T/out" 2>"$T/err" ||
    { cat "$T/err"; fail "aws configure list failed with IMDS credentials"; }
grep -q "access_key.*$(printf %s "$key" | tail -c 4).*iam-role" "$T/out" ||
    { cat "$T/out" "$T/err"; fail "the AWS CLI did not take its credentials from imds-mock"; }
say "imds-mock: IMDSv2 token, role $role, credentials $key (accepted by the AWS CLI as iam-role)"

ready moto
cli moto sts get-caller-identity
acct=$(field .Account)
cli moto sts assume-role --role-arn "arn:aws:iam::$acct:role/sluice-0012" --role-session-name s0012
field '.Credentials.AccessKeyId | startswith("ASIA")' >/dev/null
session=$(field .Credentials.AccessKeyId)
field .Credentials.SessionToken >/dev/null
field '.AssumedRoleUser.Arn | contains("assumed-role/sluice-0012/s0012")' >/dev/null
cli moto cloudwatch put-metric-data --namespace Sluice/0012 --metric-name records_out --value 3
cli moto cloudwatch list-metrics --namespace Sluice/0012
[ "$(field '.Metrics[0].MetricName')" = records_out ] || fail "moto lost the metric"
say "moto: account $acct, assume-role gave session key $session, CloudWatch metric stored"

# Stop them all; nothing may be left: no tagged process, no pid file, no listening port.
ports=""
for n in $PEERS; do ports="$ports $(cat "$S/$n.port")"; done
ports="$ports $(cat "$S/kinesis-local.http-port")"
for n in $PEERS; do
    ( t0=$(date +%s%N); rc=0; "$P/$n.sh" stop "$S" 2>"$T/$n.stop.err" || rc=$?
      echo "$rc $((($(date +%s%N) - t0) / 1000000))" >"$T/$n.stoprc" ) &
done
wait
for n in $PEERS; do
    read -r rc ms <"$T/$n.stoprc"
    [ "$rc" = 0 ] || { cat "$T/$n.stop.err"; fail "$n stop exited $rc"; }
    left=$(peer_pids "$n" "$S")
    [ -z "$left" ] || { ps -o pid,args -p "$(echo $left | tr ' ' ,)" 2>/dev/null || true; fail "$n left processes: $left"; }
    [ ! -e "$S/$n.pid" ] || fail "$n stop left its pid file"
    "$P/$n.sh" stop "$S" || fail "a second $n stop must succeed"
    say "$n stopped in $ms ms"
done
for port in $ports; do
    set +e; curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; rc=$?; set -e
    [ "$rc" = 7 ] || fail "port $port still answers after stop (curl exit $rc)"
done
if command -v pgrep >/dev/null; then
    if pgrep -f "$S" >"$T/left"; then fail "processes still mention $S: $(cat "$T/left")"; fi
fi
say "ok: 6 peers started, answered the AWS CLI and stopped clean"
