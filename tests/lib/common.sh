# common.sh: sourced by the numbered integration tests. Gives them the sluice binary, a fresh
# work directory (removed on exit unless KEEP=1), and small assertion helpers. Tests print
# what they measured and exit non-zero on the first failed check.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${SLUICE:=$top_builddir/sluice}"
export top_srcdir top_builddir SLUICE

T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-test.XXXXXX")
cleanup() {
    # Stop anything the test left running. (Not $(jobs -p): dash runs the substitution in a
    # subshell whose job table is empty.)
    jobs -p >"$T/.jobs" 2>/dev/null || true
    while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$T/.jobs"
    if [ "${KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

say() { printf '# %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# expect_exit CODE CMD...: runs CMD, fails unless it exits with CODE.
expect_exit() {
    want=$1; shift
    set +e
    "$@"
    got=$?
    set -e
    [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want"
}

# contains FILE TEXT: FILE holds TEXT (fixed string).
contains() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "$1 lacks '$2'"; }; }
lacks() { if grep -qF -- "$2" "$1"; then echo "--- $1:"; cat "$1"; fail "$1 contains '$2'"; fi; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
    limit=$1; shift
    i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le $((limit * 10)) ] || return 1
        sleep 0.1
    done
}

[ -x "$SLUICE" ] || fail "no sluice binary at $SLUICE (build first)"
