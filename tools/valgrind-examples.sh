#!/bin/sh
# valgrind-examples.sh SLUICE: runs the example jobs under valgrind (memcheck, full leak check)
# and fails on any error or leak. Jobs reading Kinesis run against local peers (kinesalite and
# dynalite from tests/peers/, and a Pulsar standalone broker for the one writing Pulsar): 100
# records are put, the job runs until it wrote them all and is then stopped with SIGTERM (a
# graceful stop: final checkpoints, lease release).
set -eu
SLUICE=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
build=$(dirname "$SLUICE")
# A build tree's sluice is libtool's wrapper script (the CLI links the shared libsluice):
# valgrind must watch the real binary, with the library of the same build.
if [ "$(head -c 2 "$SLUICE")" = "#!" ] && [ -x "$(dirname "$SLUICE")/.libs/sluice" ]; then
    LD_LIBRARY_PATH="$(dirname "$SLUICE")/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    SLUICE="$(dirname "$SLUICE")/.libs/sluice"
fi
top=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-vg.XXXXXX")
peers=""
cleanup() {
    for p in $peers; do "$top/tests/peers/$p.sh" stop "$T/peers" >/dev/null 2>&1 || true; done
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
cp -r "$top/examples" .
chmod -R u+w examples
# A job loading an example operator (sessions.properties) finds it next to its file, where
# `make -f Makefile.example` puts it: this build's copy.
for so in "$build"/examples/operators/.libs/lib*.so; do
    if [ -f "$so" ]; then cp "$so" examples/operators/; fi
done
vg() {
    valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible "$@"
}
# kinesis_job JOB: the Kinesis example against local peers, stopped once it archived 100 records.
kinesis_job() {
    if ! echo "$peers" | grep -q kinesalite; then
        mkdir -p "$T/peers"
        KINESIS_ENDPOINT=$("$top/tests/peers/kinesalite.sh" start "$T/peers") || exit 1
        peers="$peers kinesalite"
        DYNAMODB_ENDPOINT=$("$top/tests/peers/dynalite.sh" start "$T/peers") || exit 1
        peers="$peers dynalite"
    fi
    if grep -q 'samza.factory=pulsar' "$1" && ! echo "$peers" | grep -q pulsar; then
        PULSAR_SERVICE_URL=$("$top/tests/peers/pulsar.sh" start "$T/peers") || exit 1
        peers="$peers pulsar"
        export PULSAR_SERVICE_URL
    fi
    export KINESIS_ENDPOINT DYNAMODB_ENDPOINT AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
        AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY AWS_REGION=us-east-1 \
        ARCHIVE="$T/orders.jsonl" WORKER=vg
    aws="/usr/bin/aws --endpoint-url $KINESIS_ENDPOINT --region us-east-1"
    # A fresh stream per job (the peer stays up): orders, and orders-large for the writer.
    for s in orders orders-large; do
        $aws kinesis delete-stream --stream-name $s >/dev/null 2>&1 || true
        i=0
        while $aws kinesis describe-stream-summary --stream-name $s >/dev/null 2>&1 && [ $i -lt 50 ]; do
            i=$((i + 1)); sleep 0.2
        done
        $aws kinesis create-stream --stream-name $s --shard-count 2 >/dev/null
        i=0
        while [ $i -lt 50 ]; do
            st=$($aws kinesis describe-stream-summary --stream-name $s --query StreamDescriptionSummary.StreamStatus --output text)
            [ "$st" = ACTIVE ] && break
            i=$((i + 1)); sleep 0.2
        done
    done
    rm -f "$T/orders.jsonl"
    recs=$(python3 -c 'import base64, json; print(json.dumps([{"Data": base64.b64encode(json.dumps({"order": i, "amount": i * 3}).encode()).decode(), "PartitionKey": "k%d" % i} for i in range(100)]))')
    $aws kinesis put-records --stream-name orders --records "$recs" >/dev/null
    # valgrind itself in the background (not the vg function: a subshell would get the TERM).
    valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible "$SLUICE" run "$1" >/dev/null 2>"$T/vg.err" &
    pid=$!
    # kinesis-to-file archives all 100; kinesis-to-kinesis writes the 66 with amount >= 100.
    want=100 out=count_archive
    grep -q '^task.outputs=kinesis' "$1" && want=66 out=count_stream
    grep -q '^task.outputs=pulsar' "$1" && want=100 out=count_pulsar
    i=0
    while [ "$($out)" -lt $want ] && [ $i -lt 600 ]; do
        i=$((i + 1)); sleep 0.2
    done
    kill -TERM $pid
    wait $pid || { cat "$T/vg.err"; echo "valgrind: $1 failed"; exit 1; }
    [ "$($out)" -eq $want ] || { cat "$T/vg.err"; echo "valgrind: $1 wrote $($out) of $want records"; exit 1; }
}
# ddb_job JOB: DynamoDB Local with a table whose stream holds 20 changes; the job under
# valgrind archives them all.
ddb_job() {
    mkdir -p "$T/peers"
    DYNAMODB_ENDPOINT=$("$top/tests/peers/dynamodb-local.sh" start "$T/peers") || exit 1
    peers="$peers dynamodb-local"
    export DYNAMODB_ENDPOINT AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
        AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY AWS_REGION=us-east-1 \
        ARCHIVE="$T/changes.jsonl" WORKER=vg
    aws="/usr/bin/aws --endpoint-url $DYNAMODB_ENDPOINT --region us-east-1"
    STREAM_ARN=$($aws dynamodb create-table --table-name Orders \
        --attribute-definitions AttributeName=id,AttributeType=S --key-schema AttributeName=id,KeyType=HASH \
        --billing-mode PAY_PER_REQUEST --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES \
        --query TableDescription.LatestStreamArn --output text)
    export STREAM_ARN
    for i in $(seq 1 10); do
        $aws dynamodb put-item --table-name Orders --item "{\"id\":{\"S\":\"o$i\"},\"amount\":{\"N\":\"$i\"}}"
        $aws dynamodb update-item --table-name Orders --key "{\"id\":{\"S\":\"o$i\"}}" \
            --update-expression 'SET amount = :a' --expression-attribute-values '{":a":{"N":"0"}}'
    done
    # valgrind itself in the background (a function would leave $! to a subshell)
    valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible "$SLUICE" run "$1" >/dev/null 2>"$T/vg.err" &
    pid=$!
    i=0
    while [ "$(cat "$T/changes.jsonl" 2>/dev/null | wc -l)" -lt 20 ] && [ $i -lt 600 ]; do
        i=$((i + 1)); sleep 0.2
    done
    kill -TERM $pid
    wait $pid || { cat "$T/vg.err"; echo "valgrind: $1 failed"; exit 1; }
    n=$(wc -l <"$T/changes.jsonl")
    [ "$n" -eq 20 ] || { cat "$T/vg.err"; echo "valgrind: $1 wrote $n of 20 records"; exit 1; }
}
count_archive() { cat "$T/orders.jsonl" 2>/dev/null | wc -l; }
# count_pulsar: messages the broker took in on the orders topic (each run adds 100).
count_pulsar() {
    _c=$(curl -sf "$(cat "$T/peers/pulsar.http-url")/admin/v2/persistent/public/default/orders/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["msgInCounter"])' 2>/dev/null || echo 0)
    echo "$_c"
}
# count_stream: records in orders-large, as the AWS CLI reads them.
count_stream() {
    n=0
    for sh in $($aws kinesis list-shards --stream-name orders-large --query 'Shards[].ShardId' --output text); do
        it=$($aws kinesis get-shard-iterator --stream-name orders-large --shard-id "$sh" --shard-iterator-type TRIM_HORIZON --query ShardIterator --output text)
        c=$($aws kinesis get-records --shard-iterator "$it" --query 'length(Records)' --output text)
        n=$((n + c))
    done
    echo $n
}

for job in examples/jobs/*.properties; do
    if grep -q 'samza.factory=dynamodbstreams' "$job"; then
        ddb_job "$job"
    elif grep -q 'samza.factory=kinesis' "$job"; then
        kinesis_job "$job"
    else
        vg "$SLUICE" run "$job" >/dev/null 2>"$T/vg.err" || { cat "$T/vg.err"; echo "valgrind: $job failed"; exit 1; }
    fi
    echo "valgrind: $job clean"
    vg "$SLUICE" config dump "$job" >/dev/null 2>"$T/vg.err" || { cat "$T/vg.err"; echo "valgrind: config dump $job failed"; exit 1; }
done
