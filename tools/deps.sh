#!/bin/sh
# deps.sh: installs what building and testing sluice needs on Debian 12, and nothing when it is
# all there already. Runs apt-get as root, or through sudo for a normal user.
#   tools/deps.sh          build dependencies
#   tools/deps.sh --test   plus what the test suite and the benchmarks use
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
      libevent-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev libjansson-dev
      libcunit1-dev librdkafka-dev protobuf-c-compiler libprotobuf-c-dev liblz4-dev libzstd-dev
      libsnappy-dev zlib1g-dev libyaml-dev"
TEST_PKGS="clang libclang-rt-14-dev valgrind curl python3 sqlite3 time jq awscli nodejs openjdk-17-jdk-headless python3-venv
           flatbuffers-compiler openssl libnss-wrapper"

want=$PKGS
[ "${1:-}" = "--test" ] && want="$PKGS $TEST_PKGS"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
