#!/bin/sh
# dynalite.sh: starts/stops dynalite (npm), the fast in-memory DynamoDB peer over plain HTTP,
# with faithful conditional writes (ConditionalCheckFailedException). No DynamoDB Streams: use
# dynamodb-local.sh for those. Extra options (e.g. "--createTableMs 0") go in DYNALITE_ARGS.
#   tests/peers/dynalite.sh start STATEDIR   prints http://127.0.0.1:PORT
#   tests/peers/dynalite.sh stop STATEDIR
set -eu
PEER=dynalite
VERSION=4.0.0
PEER_TIMEOUT=30
. "$(dirname "$0")/lib.sh"

# What start uses beyond lib.sh's own (tools/deps.sh items, for `needs peer:dynalite`): npm only
# for the first install.
PEER_NEEDS=node
[ -e "$PEERS_CACHE/dynalite-$VERSION/.installed" ] || PEER_NEEDS="$PEER_NEEDS npm"

peer_install() {
    peer_need_cmd node nodejs
    peer_need_cmd npm npm
    DIR=$PEERS_CACHE/dynalite-$VERSION
    peer_cached "$DIR" install_npm
    CLI=$DIR/node_modules/dynalite/cli.js
    [ -f "$CLI" ] || peer_fail "no $CLI"
}
install_npm() { peer_npm_install "$1" "dynalite@$VERSION"; }

peer_launch() {
    URL=http://127.0.0.1:$PORT
    # shellcheck disable=SC2086
    peer_spawn node "$CLI" --host 127.0.0.1 --port "$PORT" ${DYNALITE_ARGS:-}
}

peer_ready() {
    peer_json_call "$URL" dynamodb DynamoDB_20120810.ListTables 1.0 '{}' | grep -q TableNames
}

peer_main "$@"
