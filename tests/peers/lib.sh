# lib.sh: sourced by the local AWS peer scripts in tests/peers/ (kinesis-local.sh, dynalite.sh,
# ...). A peer script sets PEER, defines peer_install, peer_launch and peer_ready, then calls
# peer_main "$@"; this file does everything else the contract in README.md promises: pinned
# installs cached under $SLUICE_PEERS_CACHE, a free port on 127.0.0.1, a detached process group
# tagged with SLUICE_PEER_ID, a bounded wait for a real answer, the pid/port/url files, and a
# stop that leaves no process behind. tests/0012-aws-peers.sh also sources it for
# peer_apt_install and peer_pids. Progress and errors go to stderr; only the URL goes to stdout.

PEERS_CACHE=${SLUICE_PEERS_CACHE:-${HOME:-/tmp}/.cache/sluice-peers}
case $PEERS_CACHE in /*) ;; *) PEERS_CACHE=$PWD/$PEERS_CACHE ;; esac
PEER=${PEER:-peers}

peer_msg() { printf '%s: %s\n' "$PEER" "$*" >&2; }

# peer_fail MSG: reports MSG, the command tried and the tail of the log, kills what this run
# started, and exits 1.
peer_fail() {
    peer_msg "$*"
    if [ -n "${PEER_CMD:-}" ]; then peer_msg "tried: $PEER_CMD"; fi
    if [ -n "${LOG:-}" ] && [ -s "$LOG" ]; then
        peer_msg "last lines of $LOG:"
        tail -n 25 "$LOG" | sed 's/^/    /' >&2
    fi
    if [ -n "${PEER_PID:-}" ]; then peer_kill "$STATEDIR" || true; fi
    exit 1
}

# peer_apt_install PKG...: installs the Debian packages that are missing, as root or via sudo.
# One run at a time: peers start in parallel and apt holds a global lock.
peer_apt_install() {
    _missing=""
    for _p in "$@"; do
        dpkg-query -W -f='${Status}' "$_p" 2>/dev/null | grep -q "install ok installed" || _missing="$_missing $_p"
    done
    [ -z "$_missing" ] && return 0
    command -v apt-get >/dev/null || peer_fail "needs$_missing, and there is no apt-get to install it"
    if [ "$(id -u)" = 0 ]; then _sudo=""
    else command -v sudo >/dev/null || peer_fail "needs$_missing: not root and no sudo"; _sudo="sudo -n"; fi
    peer_msg "installing Debian packages:$_missing"
    mkdir -p "$PEERS_CACHE"
    # shellcheck disable=SC2086
    (
        flock 9
        export DEBIAN_FRONTEND=noninteractive
        $_sudo apt-get -o DPkg::Lock::Timeout=300 update -qq &&
            $_sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $_missing
    ) 9>"$PEERS_CACHE/.apt.lock" >>"${LOG:-/dev/stderr}" 2>&1 || peer_fail "apt-get install$_missing failed"
}

# peer_need_cmd CMD DEBPKG: makes sure CMD is on PATH, installing DEBPKG if it is not.
peer_need_cmd() {
    command -v "$1" >/dev/null 2>&1 && return 0
    peer_apt_install "$2"
    command -v "$1" >/dev/null 2>&1 || peer_fail "$1 not found even after installing $2"
}

# peer_cached DIR FUNC: runs FUNC DIR once to fill DIR, under a lock so parallel starts do not
# race, and marks DIR complete only when FUNC succeeded (a half-done DIR is wiped and redone).
peer_cached() {
    [ -e "$1/.installed" ] && return 0
    mkdir -p "$(dirname "$1")"
    (
        flock 9
        [ -e "$1/.installed" ] && exit 0
        rm -rf "$1" && mkdir -p "$1" || exit 1
        echo "== $(date -u +%FT%TZ) installing into $1" >>"$LOG"
        "$2" "$1" >>"$LOG" 2>&1 </dev/null || exit 1
        touch "$1/.installed"
    ) 9>"$1.lock" || peer_fail "install into $1 failed"
}

# peer_npm_install DIR PKG@VERSION: one npm package at an exact version, without install
# scripts (none of the peers needs a native build), with its own npm cache in the cache dir.
peer_npm_install() {
    npm install --prefix "$1" --cache "$PEERS_CACHE/npm-cache" --no-save --no-audit --no-fund \
        --ignore-scripts --loglevel=error "$2"
}

# peer_mvn_copy GROUP:ARTIFACT:VERSION:TYPE[:CLASSIFIER] DIR: copies one artifact into DIR with
# Maven (Debian's maven package, installed if mvn is missing), so it comes from whatever
# repositories, mirrors and proxies the user's ~/.m2/settings.xml names; nothing here names a
# host. The local repository is $PEERS_CACHE/maven-repo (Maven's plugins, downloaded on its
# first run, stay there too), used by one mvn at a time: Maven 3's local repository is not safe
# for concurrent writers. The caller checks the file's checksum.
PEER_MVN_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.6.1
peer_mvn_copy() {
    peer_need_cmd mvn maven
    mkdir -p "$PEERS_CACHE/maven-repo" "$2" || return 1
    (
        flock 8
        mvn -B -ntp -Dmaven.repo.local="$PEERS_CACHE/maven-repo" "$PEER_MVN_DEP_PLUGIN:copy" \
            -Dartifact="$1" -DoutputDirectory="$2"
    ) 8>"$PEERS_CACHE/.maven.lock"
}

peer_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# peer_loopback_js: prints the path of a node --require preload that makes every listen() of the
# process bind 127.0.0.1, for node servers that have no host option (kinesis-local, kinesalite).
peer_loopback_js() {
    _f=$PEERS_CACHE/loopback-v1.js
    if [ ! -s "$_f" ]; then
        mkdir -p "$PEERS_CACHE"
        cat >"$_f.$$" <<'JS'
'use strict';
// Preloaded with node --require by tests/peers: binds every TCP listener of this process to
// 127.0.0.1 (or $SLUICE_PEER_HOST), because some mock servers listen on all interfaces.
const net = require('net');
const host = process.env.SLUICE_PEER_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...a) {
  const o = a[0];
  if (o !== null && typeof o === 'object' && !(o instanceof net.Server) &&
      o.path === undefined && o.fd === undefined && o.handle === undefined && o._handle === undefined) {
    a[0] = Object.assign({}, o, { host });
  } else if (typeof o === 'number' || (typeof o === 'string' && /^\d+$/.test(o))) {
    if (a.length > 1 && (typeof a[1] === 'string' || a[1] == null)) a[1] = host;
    else a.splice(1, 0, host);
  }
  return listen.apply(this, a);
};
JS
        mv "$_f.$$" "$_f"
    fi
    printf '%s\n' "$_f"
}

# peer_spawn CMD...: starts CMD detached in its own session (PID = process group id), in
# ${PEER_CWD:-$STATEDIR}, with output appended to $LOG, tagged SLUICE_PEER_ID=<peer>@<statedir>
# so stop (and the tests) find every process of it, whatever it forks.
peer_spawn() {
    PEER_CMD="$*"
    echo "== $(date -u +%FT%TZ) starting: $*" >>"$LOG"
    (
        cd "${PEER_CWD:-$STATEDIR}" || exit 1
        SLUICE_PEER_ID="$PEER@$STATEDIR"
        export SLUICE_PEER_ID
        exec setsid "$@"
    ) </dev/null >>"$LOG" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
    PEER_PID=$!
    echo "$PEER_PID" >"$STATEDIR/$PEER.pid"
}

# peer_alive PID: PID exists and is not a zombie.
peer_alive() {
    [ -r "/proc/$1/stat" ] || return 1
    _state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$_state" ] && [ "$_state" != Z ]
}

# peer_pids NAME STATEDIR: the live processes started by "NAME.sh start STATEDIR".
peer_pids() {
    _id="SLUICE_PEER_ID=$1@$(cd "$2" 2>/dev/null && pwd || echo "$2")"
    grep -lzxF -e "$_id" /proc/[0-9]*/environ 2>/dev/null | while IFS=/ read -r _ _ _pp _; do
        peer_alive "$_pp" && echo "$_pp"
    done
    return 0
}

# peer_kill STATEDIR: TERM to the process group and every tagged process of this peer, KILL
# after PEER_STOP_GRACE seconds (default 3), then waits until they are gone.
peer_kill() {
    _pids=$(peer_pids "$PEER" "$1")
    _pf="$1/$PEER.pid"
    if [ -n "$_pids" ]; then
        _pid=$(cat "$_pf" 2>/dev/null || true)
        # The pid file is trusted only while that process still carries our tag.
        if [ -n "$_pid" ] && echo "$_pids" | grep -qx "$_pid"; then kill -TERM "-$_pid" 2>/dev/null || true; fi
        # shellcheck disable=SC2086
        kill -TERM $_pids 2>/dev/null || true
        _i=0
        while [ -n "$(peer_pids "$PEER" "$1")" ] && [ "$_i" -lt $((${PEER_STOP_GRACE:-3} * 10)) ]; do
            sleep 0.1; _i=$((_i + 1))
        done
        _left=$(peer_pids "$PEER" "$1")
        if [ -n "$_left" ]; then
            echo "== $(date -u +%FT%TZ) still running after TERM, sending KILL to" $_left \
                >>"$1/$PEER.log" 2>/dev/null || true
            # shellcheck disable=SC2086
            kill -KILL $_left 2>/dev/null || true
            _i=0
            while [ -n "$(peer_pids "$PEER" "$1")" ] && [ "$_i" -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
        fi
    fi
    rm -f "$_pf" "$1/$PEER.port" "$1/$PEER.url" "$1/$PEER".*-port "$1/$PEER".*-url
    _left=$(peer_pids "$PEER" "$1")
    [ -z "$_left" ] || { peer_msg "processes left after KILL:" $_left; return 1; }
}

# peer_wait SECONDS: polls peer_ready until it succeeds (0), the process dies or time runs out (1).
peer_wait() {
    _end=$(($(date +%s) + $1))
    while :; do
        peer_alive "$PEER_PID" || { PEER_WHY="exited before answering"; return 1; }
        peer_ready >/dev/null 2>&1 && return 0
        [ "$(date +%s)" -lt "$_end" ] || { PEER_WHY="did not answer within $1 s"; return 1; }
        sleep 0.1
    done
}

# peer_start STATEDIR: the "start" half of the contract. The peer script provides:
#   peer_install  installs into the cache if needed (sets whatever peer_launch needs)
#   peer_launch   picks extra ports if any, sets URL, calls peer_spawn (PORT is chosen already)
#   peer_ready    succeeds once the peer answers a real request
# and PEER_TIMEOUT (seconds).
peer_start() {
    [ -n "${1:-}" ] || peer_fail "usage: $0 start STATEDIR"
    mkdir -p "$1" || peer_fail "cannot create $1"
    STATEDIR=$(cd "$1" && pwd)
    exec 3>&1 1>&2    # nothing but the URL reaches stdout
    [ -z "$(peer_pids "$PEER" "$STATEDIR")" ] || peer_fail "already running for $STATEDIR (stop it first)"
    LOG=$STATEDIR/$PEER.log
    : >"$LOG" || peer_fail "cannot write $LOG"
    peer_need_cmd python3 python3
    peer_need_cmd curl curl
    peer_need_cmd setsid util-linux
    peer_install
    _t0=$(date +%s%N)
    _tries=1
    while :; do
        PORT=$(peer_free_port) || peer_fail "could not pick a free port (python3)"
        peer_launch
        peer_wait "${SLUICE_PEER_TIMEOUT:-$PEER_TIMEOUT}" && break
        # Another process may take the port between picking and binding: try a new one.
        if [ "$_tries" -lt 3 ] && grep -qiE 'EADDRINUSE|address already in use|BindException' "$LOG"; then
            peer_msg "port $PORT was taken, retrying"
            peer_kill "$STATEDIR"
            _tries=$((_tries + 1))
            continue
        fi
        peer_fail "$PEER_WHY (port $PORT)"
    done
    echo "$PORT" >"$STATEDIR/$PEER.port"
    echo "$URL" >"$STATEDIR/$PEER.url"
    echo "== $(date -u +%FT%TZ) ready at $URL in $((($(date +%s%N) - _t0) / 1000000)) ms" >>"$LOG"
    printf '%s\n' "$URL" >&3
}

peer_main() {
    case "${1:-}" in
    needs) echo "python3 curl setsid flock${PEER_NEEDS:+ $PEER_NEEDS}" ;;
    start) peer_start "${2:-}" ;;
    stop)
        [ -n "${2:-}" ] || peer_fail "usage: $0 stop STATEDIR"
        [ -d "$2" ] || exit 0
        STATEDIR=$(cd "$2" && pwd)
        peer_kill "$STATEDIR" ;;
    *) echo "usage: $0 start|stop STATEDIR | needs" >&2; exit 2 ;;
    esac
}

# Requests that only a working AWS-style endpoint answers. The mocks check that a SigV4
# Authorization header is present, not what it signs.
peer_auth_header() {
    printf 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200101/us-east-1/%s/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000' "$1"
}
peer_json_call() { # peer_json_call URL SERVICE TARGET CONTENT-TYPE-VERSION BODY [curl args]
    _url=$1 _svc=$2 _target=$3 _ver=$4 _body=$5; shift 5
    curl -sf --max-time 5 "$@" -H "$(peer_auth_header "$_svc")" -H 'X-Amz-Date: 20200101T000000Z' \
        -H "X-Amz-Target: $_target" -H "Content-Type: application/x-amz-json-$_ver" -d "$_body" "$_url/"
}

# For the numbered tests (after tests/lib/common.sh). peers_up NAME...: starts the peers at once
# under $T/peers, stops them when the test exits, and fails the test naming any that did not
# start. Each endpoint URL is then in $T/<name>.url. The test declared `needs peer:NAME` at its
# top; checking again here (cheap) keeps a test that forgot from installing behind its back.
peers_up() {
    PEERS="$*"
    # shellcheck disable=SC2046 # one word per peer
    needs $(for n in $PEERS; do echo "peer:$n"; done)
    mkdir -p "$T/peers"
    trap 'peers_down; cleanup' EXIT
    trap 'exit 1' INT TERM HUP
    for n in $PEERS; do
        "$top_srcdir/tests/peers/$n.sh" start "$T/peers" >"$T/$n.url" 2>"$T/$n.err" &
    done
    wait
    for n in $PEERS; do [ -s "$T/$n.url" ] || { cat "$T/$n.err"; fail "peer $n did not start"; }; done
}
peers_down() {
    for n in $PEERS; do "$top_srcdir/tests/peers/$n.sh" stop "$T/peers" >/dev/null 2>&1 || true; done
}
