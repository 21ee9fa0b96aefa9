#!/bin/sh
# deps.sh: what building and testing sluice needs on Debian 12, as one table that both installs
# it and checks it, so the two cannot drift apart. Installing looks at the things themselves
# (commands, files, pkg-config modules, clang's runtimes), not at dpkg: a tool installed some
# other way (Go from its tarball, NodeSource's nodejs with its own npm) counts as present, and
# the package of a row is installed only when its thing is missing. Runs apt-get as root, or
# through sudo for a normal user.
#   tools/deps.sh                   installs what the build needs
#   tools/deps.sh --test            installs what the build, the test suite (tools/test.sh:
#                                   sanitizers, libFuzzer, valgrind, the peers and judges) and
#                                   the benchmarks need
#   tools/deps.sh --check           installs nothing; names every missing item of --test and
#                                   the Debian package that provides it; exits 1 if any
#   tools/deps.sh --test --dry-run  prints the apt-get command it would run, and runs nothing
#   tools/deps.sh --check-item NAME installs nothing; exits 0 if the item NAME (a row's name
#                                   below: jq, aws, java, botocore.auth, ...) is present, else
#                                   names it and its package on stdout and exits 1; an unknown
#                                   NAME exits 2. tests/lib/common.sh's `needs` asks this.
#   tools/deps.sh --install-item NAME  installs the package of that item only (with --dry-run:
#                                   prints the apt-get command)
set -eu

# stage kind name package [arg]. Kinds:
#   cmd      a command on PATH
#   cmdver   a command, /usr/bin/NAME or the one on PATH, whose --version starts with ARG
#   file     an absolute path
#   lib      a shared library in the system's library directories (for LD_PRELOAD)
#   pc       a pkg-config module
#   clangrt  a runtime clang links for a -fsanitize option (clang -print-file-name)
#   pymod    python3 modules, comma-separated, importable
# npm, go and mvn are also installed on demand by the peer scripts that use them; they are here
# so that --check tells in advance what a run will need.
TABLE='
build cmd     gcc          gcc
build cmd     make         make
build file    /usr/include/stdio.h  libc6-dev
build cmd     autoreconf   autoconf
build cmd     automake     automake
build cmd     libtoolize   libtool
build cmd     pkg-config   pkg-config
build cmd     protoc-c     protobuf-c-compiler
build pc      libevent     libevent-dev
build pc      libevent_pthreads  libevent-dev
build pc      libevent_openssl   libevent-dev
build pc      libcurl      libcurl4-openssl-dev
build pc      openssl      libssl-dev
build pc      sqlite3      libsqlite3-dev
build pc      jansson      libjansson-dev
build pc      cunit        libcunit1-dev
build pc      rdkafka      librdkafka-dev
build pc      libprotobuf-c  libprotobuf-c-dev
build pc      liblz4       liblz4-dev
build pc      libzstd      libzstd-dev
build pc      zlib         zlib1g-dev
build pc      snappy       libsnappy-dev
build pc      yaml-0.1     libyaml-dev
test  cmd     clang        clang
test  clangrt libclang_rt.asan-x86_64.a              libclang-rt-14-dev
test  clangrt libclang_rt.ubsan_standalone-x86_64.a  libclang-rt-14-dev
test  clangrt libclang_rt.fuzzer-x86_64.a            libclang-rt-14-dev
test  cmd     valgrind     valgrind
test  cmd     abidiff      abigail-tools
test  cmd     g++          g++
test  file    /usr/bin/time  time
test  cmd     python3      python3
test  pymod   venv,ensurepip  python3-venv
test  pymod   pip          python3-pip
test  pymod   botocore.auth  python3-botocore
test  cmd     java         openjdk-17-jdk-headless
test  cmd     javac        openjdk-17-jdk-headless
test  cmd     mvn          maven
test  cmd     node         nodejs
test  cmd     npm          npm
test  cmd     go           golang-go
test  cmdver  aws          awscli      aws-cli/2.
test  cmd     flatc        flatbuffers-compiler
test  cmd     jq           jq
test  cmd     sqlite3      sqlite3
test  cmd     curl         curl
test  cmd     openssl      openssl
test  lib     libnss_wrapper.so  libnss-wrapper
test  cmd     setsid       util-linux
test  cmd     unshare      util-linux
test  cmd     nsenter      util-linux
test  cmd     flock        util-linux
test  cmd     ps           procps
'

# present KIND NAME ARG: whether the item is there.
present() {
    case $1 in
    cmd) command -v "$2" >/dev/null 2>&1 ;;
    cmdver)
        for _c in "/usr/bin/$2" "$(command -v "$2" 2>/dev/null || true)"; do
            [ -n "$_c" ] && [ -x "$_c" ] && "$_c" --version 2>&1 | grep -qF "$3" && return 0
        done
        return 1 ;;
    file) [ -e "$2" ] ;;
    lib)
        for _d in /usr/lib/*-linux-gnu /usr/lib64 /usr/lib; do [ -e "$_d/$2" ] && return 0; done
        return 1 ;;
    pc) command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$2" ;;
    clangrt)
        # clang prints the bare name back when it has no such file.
        command -v clang >/dev/null 2>&1 || return 1
        _f=$(clang -print-file-name="$2" 2>/dev/null) || return 1
        case $_f in /*) [ -e "$_f" ] ;; *) return 1 ;; esac ;;
    pymod)
        command -v python3 >/dev/null 2>&1 || return 1
        python3 -c "import $2" >/dev/null 2>&1 ;;
    *) echo "deps.sh: unknown kind $1 in the table" >&2; return 1 ;;
    esac
}

describe() {
    case $1 in
    cmd) echo "command $2" ;;
    cmdver) echo "command $2 ($3)" ;;
    file) echo "file $2" ;;
    lib) echo "library $2" ;;
    pc) echo "pkg-config module $2" ;;
    clangrt) echo "clang runtime $2" ;;
    pymod) echo "python3 module $2" ;;
    esac
}

# missing STAGES [ITEM]: one line "PACKAGE<TAB>what" per absent item of those stages (only the
# rows named ITEM, when given).
missing() {
    printf '%s\n' "$TABLE" | while read -r _stage _kind _name _pkg _arg; do
        [ -n "$_stage" ] || continue
        case " $1 " in *" $_stage "*) ;; *) continue ;; esac
        [ -z "${2:-}" ] || [ "$_name" = "$2" ] || continue
        present "$_kind" "$_name" "${_arg:-}" || printf '%s\t%s\n' "$_pkg" "$(describe "$_kind" "$_name" "${_arg:-}")"
    done
}

# report LINES: every missing item and its package on stderr.
report() {
    printf '%s\n' "$1" | while IFS="$(printf '\t')" read -r _pkg _what; do
        echo "deps.sh: missing $_what (Debian package $_pkg)" >&2
    done
}

usage() {
    echo "usage: tools/deps.sh [--test [--dry-run] | --check | --check-item NAME | --install-item NAME [--dry-run]]" >&2
    exit 2
}

stages=build dry=0 check=0 item=""
while [ $# -gt 0 ]; do
    case $1 in
    --test) stages="build test" ;;
    --check) stages="build test"; check=1 ;;
    --check-item|--install-item)
        if [ $# -lt 2 ] || [ -z "$2" ]; then usage; fi
        [ "$1" = --check-item ] && check=2
        stages="build test" item=$2
        shift ;;
    --dry-run) dry=1 ;;
    *) usage ;;
    esac
    shift
done
# known NAME: whether NAME is a row's name.
known() {
    printf '%s\n' "$TABLE" | while read -r _stage _kind _name _rest; do
        [ "$_name" = "$1" ] && echo yes && break
    done
}
if [ -n "$item" ] && [ -z "$(known "$item")" ]; then
    echo "deps.sh: unknown item '$item' (not a name in tools/deps.sh's table)" >&2
    exit 2
fi

gone=$(missing "$stages" "$item")
if [ "$check" = 2 ]; then
    [ -z "$gone" ] && exit 0
    # One line per missing row, on stdout: the reason a test prints when it skips.
    printf '%s\n' "$gone" | while IFS="$(printf '\t')" read -r _pkg _what; do
        echo "missing $_what (Debian package $_pkg; tools/deps.sh --install-item $item installs it)"
    done
    exit 1
fi
if [ "$check" = 1 ]; then
    total=$(printf '%s\n' "$TABLE" | grep -c '[a-z]')
    if [ -z "$gone" ]; then echo "deps.sh: all $total tools and libraries are present"; exit 0; fi
    report "$gone"
    echo "deps.sh: $(printf '%s\n' "$gone" | wc -l) of $total missing; tools/deps.sh --test installs them" >&2
    exit 1
fi
if [ -z "$gone" ]; then
    [ "$dry" = 1 ] && echo "deps.sh: nothing to install"
    exit 0
fi

pkgs=$(printf '%s\n' "$gone" | cut -f1 | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
if [ "$dry" = 1 ]; then
    echo "$SUDO${SUDO:+ }apt-get install -y --no-install-recommends $pkgs"
    exit 0
fi
echo "deps.sh: installing $pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
# A package that installed fine yet did not bring its item (a different clang version, a PATH
# that misses it) would only show up later as a confusing test failure: say it now.
gone=$(missing "$stages" "$item")
[ -z "$gone" ] && exit 0
report "$gone"
echo "deps.sh: still missing after apt-get install" >&2
exit 1
