#!/bin/sh
# kinesis-local.sh: starts/stops kinesis-mock (npm "kinesis-local"), the Kinesis peer with
# enhanced fan-out (SubscribeToShard over HTTP/2) and ChildShards. It serves TLS with a
# self-signed certificate and plain HTTP on a second port; the printed endpoint is the TLS one
# (https://, clients must skip verification: aws --no-verify-ssl, curl -k), the plain one is in
# STATEDIR/kinesis-local.http-url. Both speak HTTP/2 (ALPN h2 / h2c). See README.md.
#   tests/peers/kinesis-local.sh start STATEDIR   prints https://127.0.0.1:PORT
#   tests/peers/kinesis-local.sh stop STATEDIR
set -eu
PEER=kinesis-local
VERSION=0.6.2
PEER_TIMEOUT=30
. "$(dirname "$0")/lib.sh"

# What start uses beyond lib.sh's own (tools/deps.sh items, for `needs peer:kinesis-local`): npm only
# for the first install.
PEER_NEEDS=node
[ -e "$PEERS_CACHE/kinesis-local-$VERSION/.installed" ] || PEER_NEEDS="$PEER_NEEDS npm"

peer_install() {
    peer_need_cmd node nodejs
    peer_need_cmd npm npm
    DIR=$PEERS_CACHE/kinesis-local-$VERSION
    peer_cached "$DIR" install_npm
    PKG=$DIR/node_modules/kinesis-local
    [ -f "$PKG/main.js" ] && [ -f "$PKG/server.json" ] || peer_fail "no main.js/server.json in $PKG"
}
install_npm() { peer_npm_install "$1" "kinesis-local@$VERSION"; }

peer_launch() {
    HTTP_PORT=$(peer_free_port)
    while [ "$HTTP_PORT" = "$PORT" ]; do HTTP_PORT=$(peer_free_port); done
    URL=https://127.0.0.1:$PORT
    # The package has no host option: the preload binds both listeners to 127.0.0.1.
    peer_spawn env KINESIS_MOCK_CERT_PATH="$PKG/server.json" \
        KINESIS_MOCK_TLS_PORT="$PORT" KINESIS_MOCK_PLAIN_PORT="$HTTP_PORT" \
        node --require "$(peer_loopback_js)" "$PKG/main.js"
    echo "$HTTP_PORT" >"$STATEDIR/kinesis-local.http-port"
    echo "http://127.0.0.1:$HTTP_PORT" >"$STATEDIR/kinesis-local.http-url"
}

peer_ready() {
    for u in "$URL" "http://127.0.0.1:$HTTP_PORT"; do
        peer_json_call "$u" kinesis Kinesis_20131202.ListStreams 1.1 '{}' -k | grep -q StreamNames || return 1
    done
}

peer_main "$@"
