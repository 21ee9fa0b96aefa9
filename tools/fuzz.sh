#!/bin/sh
# fuzz.sh [SECONDS]: builds every libFuzzer target in tests/fuzz/ with clang (ASan + UBSan) into
# build/fuzz/ and runs each for SECONDS (default 20) from the corpus in tests/fuzz/corpus/<name>
# (plus the example jobs for the properties parser). Fails on the first crash, leak or UB; the
# reproducer is left in build/fuzz/. tools/test.sh runs it briefly; run it longer by hand.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-20}
out=build/fuzz
mkdir -p "$out"
command -v clang >/dev/null || { echo "fuzz.sh: clang is required (tools/deps.sh --test)"; exit 1; }
[ -f "$out/config.h" ] || printf '#define _GNU_SOURCE 1\n' >"$out/config.h"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$out -Iinclude -Iruntime -Iutil -Iaws -Iconnectors/kinesis -Iconnectors/pulsar"
libs="$(pkg-config --libs libevent libevent_pthreads jansson openssl libcurl) -lpthread -lm"
# The Pulsar protocol's commands, compiled from the .proto as the build does.
protoc-c --c_out="$out" -Iconnectors/pulsar connectors/pulsar/pulsar_api.proto
pulsar_deps="connectors/pulsar/pulsar_wire.c $out/pulsar_api.pb-c.c util/util_str.c runtime/log.c"
pulsar_libs="$(pkg-config --libs libprotobuf-c liblz4 libzstd zlib snappy)"
# The AWS layer the Kinesis and DynamoDB Streams parsers are reached through (the client resolves
# endpoints in aws_endpoint.c and reports failing ones to the /healthz board in health.c).
aws_deps="aws/aws_client.c aws/aws_endpoint.c aws/aws_sigv4.c aws/aws_creds.c
    aws/aws_creds_remote.c aws/http.c runtime/health.c runtime/record.c util/util_str.c util/util_json.c
    util/util_time.c util/util_retry.c util/util_base64.c runtime/log.c runtime/err.c"
# The GetRecords parsers (kinesis_getrecords.c) and what they lean on: strict jansson member
# access, sequence numbers, and the shard descriptions ChildShards fill (kinesis_shards.c, which
# also holds the ListShards client, hence the AWS layer).
getrecords_deps="connectors/kinesis/kinesis_getrecords.c connectors/kinesis/kinesis_json.c
    connectors/kinesis/kinesis_seq.c connectors/kinesis/kinesis_shards.c $aws_deps"
# getrecords_seeds DIR: GetRecords answers to start from (plain; escaped, spaced and with a
# KPL-looking record; closed with children; refused), and JSON and field tokens as a dictionary.
getrecords_seeds() {
    r1='{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ApproximateArrivalTimestamp":1.546300800123E9,"Data":"aGVsbG8=","PartitionKey":"pk1"}'
    r2='{"PartitionKey":"p\u00e9\ud83d\ude00","Data":"84mawgo\/AAA=","ApproximateArrivalTimestamp":1546300801,"SequenceNumber":"\u00312","EncryptionType":"KMS","x":{"y":[1,-0.5e-3,true,null,"\"\\"]}}'
    kids='[{"ShardId":"shardId-000000000002","ParentShards":["shardId-000000000000","shardId-000000000001"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"340282366920938463463374607431768211455"}}]'
    printf '{"Records":[%s],"NextShardIterator":"AAAAAAAAAAH","MillisBehindLatest":2100}' "$r1" >"$1/plain.json"
    printf ' {\n "MillisBehindLatest" : 0 ,\t"Records" : [ %s , %s ] , "NextShardIterator":%s}\r\n' \
        "$r1" "$r2" '"it\/x"' >"$1/escaped.json"
    printf '{"Records":[],"NextShardIterator":null,"ChildShards":%s}' "$kids" >"$1/closed.json"
    printf '{"Records":[{"SequenceNumber":"12a","Data":"aGVsbG8","PartitionKey":5}],"ChildShards":{}}' >"$1/refused.json"
    printf '%s\n' '"{"' '"}"' '"["' '"]"' '","' '":"' '"\""' '"\\u00"' '"\\ud83d\\ude00"' \
        '"\\/"' '"null"' '"true"' '"1.5e9"' '"-0"' '"9223372036854775807"' '"\"Records\""' \
        '"\"SequenceNumber\""' '"\"PartitionKey\""' '"\"Data\""' '"\"EncryptionType\""' \
        '"\"ApproximateArrivalTimestamp\""' '"\"NextShardIterator\""' '"\"MillisBehindLatest\""' \
        '"\"ChildShards\""' '"\"ShardId\""' '"\"ParentShards\""' '"\"HashKeyRange\""' \
        '"\"StartingHashKey\""' '"\"EndingHashKey\""' '"\"KMS\""' '"\"NONE\""' '"=="' \
        >"$out/getrecords.dict"
}

for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    case $name in
        fuzz_props) deps="runtime/conf.c runtime/conf_value.c runtime/conf_apply.c
            runtime/conf_doc.c util/util_props.c util/util_str.c runtime/log.c" ;;
        fuzz_base64) deps="util/util_base64.c util/util_str.c" ;;
        fuzz_kpl) deps="connectors/kinesis/kinesis_kpl.c util/util_pb.c util/util_str.c runtime/log.c" ;;
        fuzz_pulsar_frame) deps="$pulsar_deps $pulsar_libs" ;;
        fuzz_getrecords) deps="$getrecords_deps" ;;
        fuzz_putrecords) deps="connectors/kinesis/kinesis_putrecords.c util/util_str.c runtime/log.c
            runtime/err.c" ;;
        fuzz_ddb_records) deps="connectors/kinesis/kinesis_ddb.c connectors/kinesis/kinesis_format.c
            $getrecords_deps" ;;
        *) echo "fuzz.sh: no build rule for $name"; exit 1 ;;
    esac
    # shellcheck disable=SC2086
    clang $flags "$src" $deps $libs -o "$out/$name"
    corpus="$out/corpus-$name"
    mkdir -p "$corpus"
    [ -d "tests/fuzz/corpus/$name" ] && cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
    [ "$name" = fuzz_props ] && cp examples/jobs/*.properties "$corpus"/
    extra=
    if [ "$name" = fuzz_getrecords ]; then
        getrecords_seeds "$corpus"
        extra="-dict=getrecords.dict"
    fi
    if [ "$name" = fuzz_pulsar_frame ]; then
        # shellcheck disable=SC2086
        clang -g -O1 -I"$out" -Iinclude -Iruntime -Iutil -Iaws -Iconnectors/pulsar tests/fuzz/pulsar_seeds.c \
            $pulsar_deps $pulsar_libs $libs -o "$out/pulsar_seeds"
        "$out/pulsar_seeds" "$corpus"
    fi
    if [ "$name" = fuzz_ddb_records ]; then
        # an answer as DynamoDB Local gives it, and one with every attribute type
        printf '%s' '{"Records":[{"eventID":"e1","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"ddblocal","dynamodb":{"ApproximateCreationDateTime":1795371960,"Keys":{"pk":{"S":"k1"}},"NewImage":{"pk":{"S":"k1"},"n":{"N":"-1.5E+10"},"s":{"S":"a\"\\\u0001\ud83d\ude00"},"e":{}},"SequenceNumber":"000000000000000000001","SizeBytes":50,"StreamViewType":"NEW_AND_OLD_IMAGES"}}],"NextShardIterator":"it"}' >"$corpus/local.json"
        printf '%s' '{"Records":[{"eventID":"e2","eventName":"REMOVE","userIdentity":{"Type":"Service","PrincipalId":"dynamodb.amazonaws.com"},"dynamodb":{"ApproximateCreationDateTime":1.4794997E9,"OldImage":{"a":{"S":"x","N":"1","B":"AQ==","SS":["s"],"NS":["1"],"BS":["AQ=="],"M":{"k":{"L":[{"NULL":true},{"BOOL":false},{"M":{}}]}},"L":[],"NULL":true,"BOOL":true}},"SequenceNumber":"2"}}]}' >"$corpus/types.json"
    fi
    if [ "$name" = fuzz_putrecords ]; then
        printf '\002{"FailedRecordCount":1,"Records":[{"SequenceNumber":"4960","ShardId":"shardId-000000000001"},{"ErrorCode":"InternalFailure","ErrorMessage":"x\\"y"}]}' >"$corpus/partial.json"
        printf '\000{ "Records" : [ {"SequenceNumber":"1","ShardId":"s","ErrorCode":null} ], "EncryptionType":"KMS" }' >"$corpus/spaces.json"
    fi
    echo "fuzz.sh: $name for ${secs}s"
    # shellcheck disable=SC2086
    (cd "$out" && "./$name" -max_len=65536 -max_total_time="$secs" -print_final_stats=1 $extra \
        "corpus-$name" >"$name.log" 2>&1) || { tail -40 "$out/$name.log"; echo "fuzz.sh: $name found a problem"; exit 1; }
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$out/$name.log" | sed "s/^/fuzz.sh: $name /"
done
