#!/bin/sh
# 0032: tools/deps.sh --check, which tools/test.sh runs before its first build, finds what the
# suite needs on this machine, and names each missing item with its Debian package when one is
# hidden: a command (jq, taken off PATH), a pkg-config module (jansson, taken off the
# pkg-config search path) and a clang runtime (libFuzzer's, behind a clang whose
# -print-file-name does not find it, as a clang without libclang-rt-14-dev answers). The
# install mode reads the same table: --test --dry-run asks apt-get for exactly those packages.
# Needs nothing but the tools deps.sh checks; starts no peer (so it runs in distcheck too).
. "$(dirname "$0")/lib/common.sh"
needs jq clang pkg-config

DEPS=$top_srcdir/tools/deps.sh
[ -r "$DEPS" ] || fail "no $DEPS"

# On this machine everything is present (tools/test.sh would have stopped otherwise).
sh "$DEPS" --check >"$T/ok.out" 2>"$T/ok.err" || { cat "$T/ok.out" "$T/ok.err"; fail "deps.sh --check fails here"; }
say "$(cat "$T/ok.out")"

# PATH without jq: every PATH directory holding jq becomes a directory of links to all its
# other entries.
command -v jq >/dev/null || fail "jq is not on PATH, so hiding it proves nothing"
newpath=$(path_without jq)

# A clang in front of the real one that does not find libFuzzer's runtime.
REAL_CLANG=$(command -v clang) || fail "no clang on PATH"
mkdir -p "$T/fake"
cat >"$T/fake/clang" <<EOF
#!/bin/sh
for a in "\$@"; do
    case \$a in -print-file-name=libclang_rt.fuzzer-x86_64.a) echo libclang_rt.fuzzer-x86_64.a; exit 0 ;; esac
done
exec "$REAL_CLANG" "\$@"
EOF
chmod +x "$T/fake/clang"

# The pkg-config search path without jansson.pc.
mkdir -p "$T/pc"
oldifs=$IFS
pcdirs=$(pkg-config --variable pc_path pkg-config):${PKG_CONFIG_PATH:-}
IFS=:
for d in $pcdirs; do
    IFS=$oldifs
    [ -d "$d" ] || continue
    for f in "$d"/*.pc; do
        [ -e "$f" ] || continue
        case $(basename "$f") in jansson.pc) ;; *) [ -e "$T/pc/$(basename "$f")" ] || ln -s "$f" "$T/pc/" ;; esac
    done
    IFS=:
done
IFS=$oldifs
pkg-config --exists jansson || fail "jansson.pc is not found here, so hiding it proves nothing"

hidden() {
    env PATH="$T/fake:$newpath" PKG_CONFIG_LIBDIR="$T/pc" PKG_CONFIG_PATH= "$@"
}
hidden pkg-config --exists jansson && fail "jansson still found with PKG_CONFIG_LIBDIR=$T/pc"
hidden pkg-config --exists libcurl || fail "the reduced pkg-config path lost libcurl too"

set +e
hidden sh "$DEPS" --check >"$T/miss.out" 2>"$T/miss.err"
rc=$?
set -e
cat "$T/miss.err"
[ "$rc" = 1 ] || fail "deps.sh --check exited $rc with three items hidden, expected 1"
contains "$T/miss.err" "missing command jq (Debian package jq)"
contains "$T/miss.err" "missing pkg-config module jansson (Debian package libjansson-dev)"
contains "$T/miss.err" "missing clang runtime libclang_rt.fuzzer-x86_64.a (Debian package libclang-rt-14-dev)"
n=$(grep -c '^deps.sh: missing ' "$T/miss.err")
[ "$n" = 3 ] || fail "deps.sh named $n missing items, expected exactly the 3 hidden ones"
# The other runtimes still come through the fake clang.
lacks "$T/miss.err" "libclang_rt.asan"
lacks "$T/miss.err" "libclang_rt.ubsan"
say "hidden jq, jansson.pc and libclang_rt.fuzzer: exit $rc, $n items named with their packages"

# The install mode works from the same table: it would install exactly those three packages.
hidden sh "$DEPS" --test --dry-run >"$T/dry.out" 2>"$T/dry.err" || { cat "$T/dry.err"; fail "deps.sh --test --dry-run failed"; }
got=$(tr ' ' '\n' <"$T/dry.out" | grep -vE '^(sudo|apt-get|install|-y|--no-install-recommends)?$' | sort | tr '\n' ' ')
[ "$got" = "jq libclang-rt-14-dev libjansson-dev " ] || { cat "$T/dry.out"; fail "--test --dry-run would install '$got'"; }
say "--test --dry-run: $(cat "$T/dry.out")"
say "ok"
