#!/bin/sh
# imds-mock.sh: starts/stops AWS's amazon-ec2-metadata-mock (a Go module, fetched by go through
# the user's GOPROXY and built here), the EC2 instance metadata peer for the credential chain.
# IMDSv2 only by default (PUT /latest/api/token first; IMDS_MOCK_V1=1 also allows tokenless
# GETs). It serves one role's credentials at /latest/meta-data/iam/security-credentials/<role>,
# written to STATEDIR/imds-mock.json from IMDS_MOCK_ROLE, IMDS_MOCK_ACCESS_KEY_ID,
# IMDS_MOCK_SECRET_ACCESS_KEY, IMDS_MOCK_TOKEN and IMDS_MOCK_EXPIRATION (defaults below).
#   tests/peers/imds-mock.sh start STATEDIR   prints http://127.0.0.1:PORT
#   tests/peers/imds-mock.sh stop STATEDIR
set -eu
PEER=imds-mock
MODULE=github.com/aws/amazon-ec2-metadata-mock
VERSION=v1.12.0         # v1.13.0's zip is refused by the Go module proxy (403), see README.md
PEER_TIMEOUT=20
. "$(dirname "$0")/lib.sh"

# What start uses beyond lib.sh's own (tools/deps.sh items, for `needs peer:imds-mock`): go
# only to build it the first time.
PEER_NEEDS=""
[ -e "$PEERS_CACHE/ec2-metadata-mock-$VERSION/.installed" ] || PEER_NEEDS="go"

peer_install() {
    DIR=$PEERS_CACHE/ec2-metadata-mock-$VERSION
    BIN=$DIR/bin/ec2-metadata-mock
    [ -e "$DIR/.installed" ] && return 0
    peer_need_cmd go golang-go
    peer_msg "building $MODULE@$VERSION into $DIR (once, about a minute)"
    peer_cached "$DIR" install_go
}
install_go() {
    # "go install .../cmd@version" would also ask the proxy for the module's version list, which
    # it refuses; download the pinned, checksum-verified module and build its cmd/ instead.
    # GOPROXY, GONOSUMDB, GOPRIVATE and the like are left to the user's environment and
    # `go env -w` settings (read from GOENV, which GOPATH does not move).
    GOPATH=$PEERS_CACHE/go GOMODCACHE=$PEERS_CACHE/go/mod GOCACHE=$PEERS_CACHE/go/build \
        GOFLAGS=-modcacherw GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=0
    export GOPATH GOMODCACHE GOCACHE GOFLAGS GOTOOLCHAIN GO111MODULE CGO_ENABLED
    echo "go $(go version | cut -d' ' -f3), GOPROXY=$(go env GOPROXY)"
    cd "$1" || return 1
    src=$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
    [ -n "$src" ] && [ -d "$src/cmd" ] || { echo "go mod download $MODULE@$VERSION gave no source"; return 1; }
    (cd "$src" && go build -trimpath -ldflags='-s -w' -o "$1/bin/ec2-metadata-mock" ./cmd)
}

peer_launch() {
    URL=http://127.0.0.1:$PORT
    ROLE=${IMDS_MOCK_ROLE:-sluice-test-role}
    cat >"$STATEDIR/imds-mock.json" <<JSON
{
  "metadata": {
    "paths": { "iam-security-credentials": "/latest/meta-data/iam/security-credentials/$ROLE" },
    "values": {
      "iam-security-credentials-role": "$ROLE",
      "iam-security-credentials": {
        "Code": "Success",
        "LastUpdated": "$(date -u +%FT%TZ)",
        "Type": "AWS-HMAC",
        "AccessKeyId": "${IMDS_MOCK_ACCESS_KEY_ID:-ASIAIMDSMOCKEXAMPLE1}",
        "SecretAccessKey": "${IMDS_MOCK_SECRET_ACCESS_KEY:-imdsMockSecretKeyEXAMPLEKEY0123456789abcd}",
        "Token": "${IMDS_MOCK_TOKEN:-IMDSMOCKSESSIONTOKENEXAMPLE==}",
        "Expiration": "${IMDS_MOCK_EXPIRATION:-$(date -u -d '+6 hours' +%FT%TZ)}"
      }
    }
  }
}
JSON
    v2=-I
    [ "${IMDS_MOCK_V1:-0}" = 1 ] && v2=""
    # shellcheck disable=SC2086
    peer_spawn "$BIN" -n 127.0.0.1 -p "$PORT" $v2 -c "$STATEDIR/imds-mock.json"
}

peer_ready() {
    tok=$(curl -sf --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$URL/latest/api/token")
    [ -n "$tok" ] && curl -sf --max-time 5 -H "X-aws-ec2-metadata-token: $tok" \
        "$URL/latest/meta-data/iam/security-credentials/$ROLE" | grep -q AccessKeyId
}

peer_main "$@"
