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

# path_without CMD: prints PATH with CMD hidden: every PATH directory holding CMD becomes a
# directory under $T of links to all its other entries (one ln per directory). Fails when CMD
# is still found.
path_without() {
    _pw_i=0 _pw_path="" _pw_ifs=$IFS
    IFS=:
    for _pw_d in $PATH; do
        IFS=$_pw_ifs
        if [ -n "$_pw_d" ] && [ -x "$_pw_d/$1" ]; then
            _pw_i=$((_pw_i + 1))
            mkdir -p "$T/no-$1-$_pw_i"
            ln -s "$_pw_d"/* "$T/no-$1-$_pw_i/"
            rm -f "$T/no-$1-$_pw_i/$1"
            _pw_d=$T/no-$1-$_pw_i
        fi
        _pw_path=$_pw_path${_pw_path:+:}$_pw_d
        IFS=:
    done
    IFS=$_pw_ifs
    PATH=$_pw_path command -v "$1" >/dev/null 2>&1 && fail "$1 still found on the reduced PATH"
    printf '%s\n' "$_pw_path"
}

# kill9_loop JOB OUT KILLS MIN SPAN: runs `$SLUICE run JOB` again and again until one run ends by
# itself, killing the first KILLS runs with kill -9 once OUT (the job's output file) grew by MIN
# plus a random 0..SPAN lines (waiting on that, not on time). Sets kills (how many happened);
# $T/runs.txt gets a row "run end_line checkpoint" per killed run (checkpoint: the first
# partition's committed offset, -1 when none yet); the runs' stderr goes to $T/runs.err.
kill9_loop() {
    _k_job=$1 _k_out=$2 _k_max=$3 _k_min=$4 _k_span=$5
    : >"$T/runs.txt"
    kills=0
    _k_run=0
    while :; do
        _k_run=$((_k_run + 1))
        "$SLUICE" run "$_k_job" 2>>"$T/runs.err" &
        _k_pid=$!
        if [ "$kills" -lt "$_k_max" ]; then
            _k_target=$(( $(_k_lines) + _k_min + $(awk -v s="$_k_run$$" -v n="$_k_span" 'BEGIN { srand(s); print int(rand() * n) }') ))
            wait_for 120 _k_grown_or_gone || fail "run $_k_run: no output progress in 120 s"
            if kill -9 "$_k_pid" 2>/dev/null; then
                wait "$_k_pid" 2>/dev/null || true
                kills=$((kills + 1))
                _k_ck=$("$SLUICE" checkpoints list "$_k_job" | awk 'NR == 2 { print $4 }')
                echo "$_k_run $(_k_lines) ${_k_ck:--1}" >>"$T/runs.txt"
                say "kill $kills at $(_k_lines) output lines; checkpoint at input byte ${_k_ck:-none}"
                continue
            fi
        fi
        wait "$_k_pid" || { tail -5 "$T/runs.err"; fail "run $_k_run exited non-zero"; }
        return 0
    done
}
_k_lines() { if [ -f "$_k_out" ]; then wc -l <"$_k_out"; else echo 0; fi; }
_k_grown_or_gone() { [ "$(_k_lines)" -ge "$_k_target" ] || ! kill -0 "$_k_pid" 2>/dev/null; }

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
