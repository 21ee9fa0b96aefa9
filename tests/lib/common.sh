# common.sh: sourced by the numbered integration tests. Gives them the sluice binary, a fresh
# work directory (removed on exit unless KEEP=1), `needs` (what the test uses from outside,
# checked before it starts anything; a missing item is automake's SKIP, exit 77) and small
# assertion helpers. Tests print what they measured and exit non-zero on the first failed check.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${SLUICE:=$top_builddir/sluice}"
: "${SLUICE_AWS:=$top_builddir/tools/sluice-aws}" # the AWS developer tool (tools/sluice-aws.c)
export top_srcdir top_builddir SLUICE SLUICE_AWS

T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-test.XXXXXX")
cleanup() {
    set +e
    # Stop anything the test left running. (Not $(jobs -p): dash runs the substitution in a
    # subshell whose job table is empty.)
    jobs -p >"$T/.jobs" 2>/dev/null || true
    while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$T/.jobs"
    if [ "${KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
# set +e first: under set -e a failing command in an EXIT trap would end the shell with its own
# status, turning a SKIP (77) or a FAIL into something else. Tests that chain their own trap
# before cleanup (peers_down; cleanup) keep those commands from failing too.
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

# needs ITEM...: what the test uses from outside sluice, declared at its top. An ITEM is a name
# in tools/deps.sh's table (jq, aws, java, flatc, botocore.auth, ...), or peer:NAME for the
# items tests/peers/NAME.sh needs to install and run (it prints them: NAME.sh needs). Each is
# checked with `tools/deps.sh --check-item` (SLUICE_DEPS overrides the script). When one is
# missing:
#   SLUICE_TEST_INSTALL=1  installs it (tools/deps.sh --install-item), and fails if that fails;
#   SLUICE_TEST_STRICT=1   fails, naming it (tools/test.sh, hence CI: it installed everything);
#   otherwise              prints "# SKIP: needs ITEM: <reason>" and exits 77, automake's SKIP.
# An item deps.sh does not know is a mistake in the test: always a failure.
needs() {
    _nd_deps=${SLUICE_DEPS:-$top_srcdir/tools/deps.sh}
    [ -r "$_nd_deps" ] || fail "needs: no $_nd_deps"
    _nd_items=""
    for _nd_i in "$@"; do
        case $_nd_i in
        peer:*)
            _nd_p=$top_srcdir/tests/peers/${_nd_i#peer:}.sh
            [ -r "$_nd_p" ] || fail "needs $_nd_i: no peer script $_nd_p"
            _nd_more=$(sh "$_nd_p" needs) || fail "needs $_nd_i: '$_nd_p needs' failed"
            _nd_items="$_nd_items $_nd_more" ;;
        *) _nd_items="$_nd_items $_nd_i" ;;
        esac
    done
    _nd_seen=" " _nd_skip=""
    for _nd_i in $_nd_items; do
        case $_nd_seen in *" $_nd_i "*) continue ;; esac
        _nd_seen="$_nd_seen$_nd_i "
        _nd_rc=0
        _nd_why=$(sh "$_nd_deps" --check-item "$_nd_i" 2>&1) || _nd_rc=$?
        [ "$_nd_rc" = 0 ] && continue
        _nd_why=$(printf '%s' "$_nd_why" | tr '\n' ' ' | sed 's/ *$//')
        [ "$_nd_rc" = 1 ] || fail "needs $_nd_i: $_nd_why"
        if [ "${SLUICE_TEST_INSTALL:-0}" = 1 ]; then
            say "needs $_nd_i: $_nd_why; installing it (SLUICE_TEST_INSTALL=1)"
            sh "$_nd_deps" --install-item "$_nd_i" >"$T/needs-install.log" 2>&1 \
                || { cat "$T/needs-install.log" >&2; fail "needs $_nd_i: tools/deps.sh --install-item $_nd_i failed"; }
            sh "$_nd_deps" --check-item "$_nd_i" >"$T/needs-install.log" 2>&1 \
                || { cat "$T/needs-install.log" >&2; fail "needs $_nd_i: still missing after tools/deps.sh --install-item $_nd_i"; }
        elif [ "${SLUICE_TEST_STRICT:-0}" = 1 ]; then
            fail "needs $_nd_i: $_nd_why (SLUICE_TEST_STRICT=1: a missing item fails the test)"
        else
            _nd_skip="$_nd_skip# SKIP: needs $_nd_i: $_nd_why
"
        fi
    done
    [ -z "$_nd_skip" ] && return 0
    printf '%s' "$_nd_skip"
    exit 77
}

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

# py_judge MODULES PKG==VERSION...: makes `python3 -c "import MODULES"` work for the rest of the
# test, for a judge from PyPI. A python3 that imports them already is used as it is. Otherwise
# pip installs exactly those packages into a venv in the peers' cache (once, under a lock;
# pip's own configuration picks the index and proxy), and the venv's bin/ goes first on PATH.
# Not `pip install --user`: Debian 12's python3 refuses it (PEP 668, externally managed).
py_judge() {
    _pj_mods=$1; shift
    needs python3
    python3 -c "import $_pj_mods" 2>/dev/null && return 0
    _pj_cache=${SLUICE_PEERS_CACHE:-${HOME:-/tmp}/.cache/sluice-peers}
    case $_pj_cache in /*) ;; *) _pj_cache=$PWD/$_pj_cache ;; esac
    _pj_dir=$_pj_cache/py-$(printf '%s-' "$@" | sed 's/==/-/g; s/[^A-Za-z0-9._-]/_/g; s/-$//')
    if [ ! -e "$_pj_dir/.installed" ]; then
        needs venv,ensurepip
        say "$_pj_mods not importable: pip install $* into $_pj_dir"
        mkdir -p "$_pj_cache" || fail "cannot create $_pj_cache"
        (
            flock 9 || exit 1
            [ -e "$_pj_dir/.installed" ] && exit 0
            rm -rf "$_pj_dir" && python3 -m venv "$_pj_dir" &&
                "$_pj_dir/bin/pip" install --disable-pip-version-check --no-input -q "$@" &&
                touch "$_pj_dir/.installed"
        ) 9>"$_pj_dir.lock" >"$T/pip.log" 2>&1 || {
            cat "$T/pip.log" >&2
            fail "could not install $* into a venv at $_pj_dir (python3 -m venv needs python3-venv); this test cannot run without its judge"
        }
    fi
    PATH=$_pj_dir/bin:$PATH
    export PATH
    python3 -c "import $_pj_mods" || fail "$_pj_mods still not importable from $_pj_dir"
}

[ -x "$SLUICE" ] || fail "no sluice binary at $SLUICE (build first)"
