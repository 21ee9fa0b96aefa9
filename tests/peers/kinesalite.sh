#!/bin/sh
# kinesalite.sh: starts/stops kinesalite (npm), the fast in-memory Kinesis peer over plain HTTP.
# It has no enhanced fan-out and no ChildShards; use kinesis-local.sh for those. Extra options
# (e.g. "--createStreamMs 0") can be passed in KINESALITE_ARGS. See README.md.
#   tests/peers/kinesalite.sh start STATEDIR   prints http://127.0.0.1:PORT
#   tests/peers/kinesalite.sh stop STATEDIR
set -eu
PEER=kinesalite
VERSION=3.3.3
PEER_TIMEOUT=30
. "$(dirname "$0")/lib.sh"

# What start uses beyond lib.sh's own (tools/deps.sh items, for `needs peer:kinesalite`): npm only
# for the first install.
PEER_NEEDS=node
[ -e "$PEERS_CACHE/kinesalite-$VERSION/.installed" ] || PEER_NEEDS="$PEER_NEEDS npm"

peer_install() {
    peer_need_cmd node nodejs
    peer_need_cmd npm npm
    DIR=$PEERS_CACHE/kinesalite-$VERSION
    peer_cached "$DIR" install_npm
    CLI=$DIR/node_modules/kinesalite/cli.js
    [ -f "$CLI" ] || peer_fail "no $CLI"
}
install_npm() { peer_npm_install "$1" "kinesalite@$VERSION"; }

peer_launch() {
    URL=http://127.0.0.1:$PORT
    # kinesalite has no --host: the preload binds it to 127.0.0.1.
    # shellcheck disable=SC2086
    peer_spawn node --require "$(peer_loopback_js)" "$CLI" --port "$PORT" ${KINESALITE_ARGS:-}
}

peer_ready() {
    peer_json_call "$URL" kinesis Kinesis_20131202.ListStreams 1.1 '{}' | grep -q StreamNames
}

peer_main "$@"
