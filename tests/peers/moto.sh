#!/bin/sh
# moto.sh: starts/stops moto's server mode (PyPI "moto[server]", in a venv in the cache dir):
# one plain-HTTP endpoint for STS (AssumeRole, GetCallerIdentity), CloudWatch, DynamoDB Streams
# and the rest of moto's services; the service is chosen by the SigV4 credential scope.
#   tests/peers/moto.sh start STATEDIR   prints http://127.0.0.1:PORT
#   tests/peers/moto.sh stop STATEDIR
set -eu
PEER=moto
VERSION=5.2.5
PEER_TIMEOUT=60
. "$(dirname "$0")/lib.sh"

# What start uses beyond lib.sh's own (tools/deps.sh items, for `needs peer:moto`): python3's
# venv only for the first install.
PEER_NEEDS=""
[ -e "$PEERS_CACHE/moto-$VERSION/.installed" ] || PEER_NEEDS="venv,ensurepip"

peer_install() {
    DIR=$PEERS_CACHE/moto-$VERSION
    [ -e "$DIR/.installed" ] && return 0
    # Debian's python3 makes venvs only with python3-venv.
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then peer_apt_install python3-venv; fi
    peer_msg "installing moto[server]==$VERSION into $DIR (once, about a minute)"
    peer_cached "$DIR" install_pip
}
install_pip() {
    python3 -m venv "$1/venv" &&
        "$1/venv/bin/pip" install --disable-pip-version-check --no-input -q --no-compile "moto[server]==$VERSION"
}

peer_launch() {
    URL=http://127.0.0.1:$PORT
    peer_spawn "$DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$PORT"
}

peer_ready() {
    # Without an sts credential scope moto would route a bare POST / to S3.
    curl -sf --max-time 5 -H "$(peer_auth_header sts)" -d 'Action=GetCallerIdentity&Version=2011-06-15' \
        "$URL/" | grep -q GetCallerIdentityResult
}

peer_main "$@"
