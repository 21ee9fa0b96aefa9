#!/bin/sh
# pulsar.sh: starts/stops a real Apache Pulsar standalone broker (the server distribution,
# fetched with Maven from the user's configured repositories, run with java): broker, one
# bookie and a RocksDB metadata store in one JVM, the functions worker and stream storage off,
# every port on 127.0.0.1. A restart on the same STATEDIR keeps the data and the ports
# (STATEDIR/pulsar.ports), so clients reconnect to the same address, as a broker restart in
# production looks. See README.md.
#   tests/peers/pulsar.sh start STATEDIR   prints pulsar://127.0.0.1:PORT
#   tests/peers/pulsar.sh stop STATEDIR
# Also written: STATEDIR/pulsar.http-url (admin REST API), pulsar.home (the distribution, for
# bin/pulsar-client, bin/pulsar-perf, bin/pulsar-admin), pulsar-client.conf (their settings:
# PULSAR_CLIENT_CONF=STATEDIR/pulsar-client.conf).
# Options (environment): PULSAR_TLS_CERT, PULSAR_TLS_KEY (PEM, PKCS#8) and PULSAR_TLS_CA open a
# TLS port too (STATEDIR/pulsar.tls-url, pulsar+ssl://127.0.0.1:PORT); PULSAR_TOKEN_SECRET (a
# file of raw HMAC key bytes) with PULSAR_ADMIN_TOKEN (an HS256 token whose subject is "admin")
# turns token authentication on (the broker's own client and the readiness check use the admin
# token). PULSAR_MAX_MESSAGE_SIZE sets the broker's maxMessageSize (5242880 by default).
set -eu
PEER=pulsar
VERSION=4.0.8
SHA1=c1778d3c31fa53616190d644bb69616f9a3ae2fc
PEER_TIMEOUT=${PULSAR_TIMEOUT:-150}
. "$(dirname "$0")/lib.sh"

# What start uses beyond lib.sh's own (tools/deps.sh items, for `needs peer:pulsar`): mvn only
# to fetch the distribution the first time.
PEER_NEEDS=java
[ -e "$PEERS_CACHE/pulsar-$VERSION/.installed" ] || PEER_NEEDS="$PEER_NEEDS mvn"

peer_install() {
    peer_need_cmd java openjdk-17-jre-headless
    DIR=$PEERS_CACHE/pulsar-$VERSION
    peer_cached "$DIR" install_dist
    HOME_DIR=$DIR/apache-pulsar-$VERSION
    [ -x "$HOME_DIR/bin/pulsar" ] || peer_fail "no $HOME_DIR/bin/pulsar"
}
install_dist() {
    _a=org.apache.pulsar:pulsar-server-distribution:$VERSION:tar.gz:bin
    _f=$1/pulsar-server-distribution-$VERSION-bin.tar.gz
    peer_mvn_copy "$_a" "$1" || { echo "mvn could not fetch $_a"; return 1; }
    echo "$SHA1  $_f" | sha1sum -c - || { echo "checksum mismatch for $_a (want SHA-1 $SHA1)"; return 1; }
    tar xzf "$_f" -C "$1" && rm -f "$_f" || return 1
    # The extracted tree is the cache; a second 250 MB copy in Maven's repository would only
    # double the disk used.
    rm -rf "$PEERS_CACHE/maven-repo/org/apache/pulsar/pulsar-server-distribution/$VERSION"
}

# set_conf FILE KEY VALUE: KEY=VALUE in a Java properties file (replaced or appended).
set_conf() {
    if grep -q "^$2=" "$1"; then
        sed -i "s|^$2=.*|$2=$3|" "$1"
    else
        # (the shipped file does not end in a newline)
        [ -z "$(tail -c 1 "$1")" ] || echo >>"$1"
        echo "$2=$3" >>"$1"
    fi
}

peer_launch() {
    # Ports: the binary port is PORT (picked by lib.sh); the web port, the bookie's and the
    # bookie's HTTP port are picked here. A restart reuses the first run's.
    if [ -s "$STATEDIR/pulsar.ports" ]; then
        read -r PORT WEB BK BKHTTP TLSPORT <"$STATEDIR/pulsar.ports"
    else
        WEB=$(peer_free_port); BK=$(peer_free_port); BKHTTP=$(peer_free_port); TLSPORT=$(peer_free_port)
        echo "$PORT $WEB $BK $BKHTTP $TLSPORT" >"$STATEDIR/pulsar.ports"
    fi
    URL=pulsar://127.0.0.1:$PORT
    DATA=$STATEDIR/pulsar-data
    mkdir -p "$DATA" "$STATEDIR/pulsar-logs"
    CONF=$STATEDIR/pulsar-standalone.conf
    cp "$HOME_DIR/conf/standalone.conf" "$CONF"
    set_conf "$CONF" bindAddress 127.0.0.1
    set_conf "$CONF" advertisedAddress 127.0.0.1
    set_conf "$CONF" brokerServicePort "$PORT"
    set_conf "$CONF" webServicePort "$WEB"
    set_conf "$CONF" bookieId "127.0.0.1:$BK"
    set_conf "$CONF" httpServerEnabled false
    # The bookie reads this file too: loopback only (it picks its own port).
    set_conf "$CONF" listeningInterface lo
    set_conf "$CONF" allowLoopback true
    set_conf "$CONF" httpServerPort "$BKHTTP"
    set_conf "$CONF" statsProviderClass org.apache.bookkeeper.stats.NullStatsProvider
    set_conf "$CONF" brokerDeduplicationEnabled "${PULSAR_DEDUP:-true}"
    set_conf "$CONF" maxMessageSize "${PULSAR_MAX_MESSAGE_SIZE:-5242880}"
    set_conf "$CONF" functionsWorkerEnabled false
    # Smaller caches and fewer threads: up to two brokers share 2 cores in the test suite.
    set_conf "$CONF" numIOThreads 2
    set_conf "$CONF" numHttpServerThreads 4
    set_conf "$CONF" managedLedgerCacheSizeMB 64
    set_conf "$CONF" dbStorage_writeCacheMaxSizeMb 32
    set_conf "$CONF" dbStorage_readAheadCacheMaxSizeMb 32
    set_conf "$CONF" dbStorage_rocksDB_blockCacheSize 16777216
    set_conf "$CONF" loadBalancerEnabled false
    # A topic with no producer and no subscription for a minute is deleted by default: a test's
    # topic, written by the official client and read by sluice a moment later, must stay.
    set_conf "$CONF" brokerDeleteInactiveTopicsEnabled false
    if [ -n "${PULSAR_TLS_CERT:-}" ]; then
        set_conf "$CONF" brokerServicePortTls "$TLSPORT"
        set_conf "$CONF" tlsCertificateFilePath "$PULSAR_TLS_CERT"
        set_conf "$CONF" tlsKeyFilePath "$PULSAR_TLS_KEY"
        set_conf "$CONF" tlsTrustCertsFilePath "$PULSAR_TLS_CA"
        echo "pulsar+ssl://127.0.0.1:$TLSPORT" >"$STATEDIR/pulsar.tls-url"
    fi
    AUTH_HEADER=
    if [ -n "${PULSAR_TOKEN_SECRET:-}" ]; then
        set_conf "$CONF" authenticationEnabled true
        set_conf "$CONF" authenticationProviders org.apache.pulsar.broker.authentication.AuthenticationProviderToken
        set_conf "$CONF" tokenSecretKey "file://$PULSAR_TOKEN_SECRET"
        set_conf "$CONF" superUserRoles admin
        set_conf "$CONF" brokerClientAuthenticationPlugin org.apache.pulsar.client.impl.auth.AuthenticationToken
        set_conf "$CONF" brokerClientAuthenticationParameters "token:$PULSAR_ADMIN_TOKEN"
        AUTH_HEADER="Authorization: Bearer $PULSAR_ADMIN_TOKEN"
    fi
    cat >"$STATEDIR/pulsar-client.conf" <<EOF
webServiceUrl=http://127.0.0.1:$WEB/
brokerServiceUrl=pulsar://127.0.0.1:$PORT/
EOF
    echo "http://127.0.0.1:$WEB" >"$STATEDIR/pulsar.http-url"
    echo "$WEB" >"$STATEDIR/pulsar.http-port"
    echo "$HOME_DIR" >"$STATEDIR/pulsar.home"
    HTTP_URL=http://127.0.0.1:$WEB
    PEER_CWD=$DATA
    PULSAR_STANDALONE_CONF=$CONF
    PULSAR_LOG_DIR=$STATEDIR/pulsar-logs
    PULSAR_MEM=${PULSAR_MEM:--Xms128m -Xmx512m -XX:MaxDirectMemorySize=256m}
    PULSAR_GC=${PULSAR_GC:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}
    PULSAR_GC_LOG=" "
    PULSAR_EXTRA_OPTS="-Djava.net.preferIPv4Stack=true"
    export PULSAR_STANDALONE_CONF PULSAR_LOG_DIR PULSAR_MEM PULSAR_GC PULSAR_GC_LOG PULSAR_EXTRA_OPTS
    peer_spawn "$HOME_DIR/bin/pulsar" standalone -nfw -nss \
        --metadata-dir "$DATA/metadata" --bookkeeper-dir "$DATA/bookkeeper" \
        --bookkeeper-port "$BK" -a 127.0.0.1
}

peer_ready() {
    # The cluster and public/default exist, and a topic lookup succeeds (the namespace bundle
    # is owned: the first produce does not wait for it).
    curl -sf --max-time 3 -H "${AUTH_HEADER:-X-No-Auth: 1}" "$HTTP_URL/admin/v2/clusters" | grep -q standalone &&
        curl -sf --max-time 3 -H "${AUTH_HEADER:-X-No-Auth: 1}" "$HTTP_URL/admin/v2/namespaces/public" | grep -q 'public/default' &&
        curl -sf --max-time 10 -H "${AUTH_HEADER:-X-No-Auth: 1}" "$HTTP_URL/lookup/v2/topic/persistent/public/default/sluice-ready" |
        grep -q "127.0.0.1:$PORT"
}

peer_main "$@"
