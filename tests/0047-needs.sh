#!/bin/sh
# 0047: `needs` (tests/lib/common.sh), the line at the top of every integration test that names
# what it uses from outside. A small test written to $T declares its needs and runs with jq
# taken off PATH: with everything present it runs to its end; with jq missing it stops before
# its body with automake's SKIP (exit 77, through common.sh's EXIT trap) and prints the reason
# tools/deps.sh --check-item gives (the Debian package); with SLUICE_TEST_STRICT=1, what
# tools/test.sh and so CI set, the same is a failure (exit 1); an item deps.sh does not know is
# a failure even without it. SLUICE_TEST_INSTALL=1 installs through tools/deps.sh
# --install-item: shown with a stub deps.sh (SLUICE_DEPS) that "installs" a file under $T.
# peer:NAME asks tests/peers/NAME.sh which items it needs. Starts no peer; writes only under $T.
. "$(dirname "$0")/lib/common.sh"

# PATH without jq: every PATH directory holding jq becomes a directory of links to all its other
# entries. Without jq on this machine at all, the plain PATH already lacks it.
newpath=$(path_without jq)

# The test under test: its needs come from NEED (word-split on purpose).
cat >"$T/t.sh" <<'EOF'
#!/bin/sh
. "$top_srcdir/tests/lib/common.sh"
# shellcheck disable=SC2086
needs $NEED
echo "body ran"
EOF

# run NAME NEED [VAR=VALUE...]: runs $T/t.sh with jq hidden, neither strict nor installing unless
# told; NAME.out, NAME.err and NAME.rc under $T. Its own work directory is made under $T/tmp.
run() {
    _name=$1 _need=$2; shift 2
    mkdir -p "$T/tmp"
    set +e
    env PATH="$newpath" TMPDIR="$T/tmp" SLUICE_TEST_STRICT= SLUICE_TEST_INSTALL= SLUICE_DEPS= KEEP= \
        NEED="$_need" "$@" sh "$T/t.sh" >"$T/$_name.out" 2>"$T/$_name.err"
    echo $? >"$T/$_name.rc"
    set -e
}
rc() { cat "$T/$1.rc"; }
show() { echo "--- $1: exit $(rc "$1")"; cat "$T/$1.out" "$T/$1.err"; }
expect() { # expect NAME RC
    [ "$(rc "$1")" = "$2" ] || { show "$1"; fail "$1: exited $(rc "$1"), expected $2"; }
}

# Present items: the body runs.
run present "python3 curl"
expect present 0
contains "$T/present.out" "body ran"
say "present (python3 curl): exit 0, the body ran"

# A missing item: SKIP with the reason, before the body.
run skip "python3 jq curl"
expect skip 77
contains "$T/skip.out" "# SKIP: needs jq: missing command jq (Debian package jq"
lacks "$T/skip.out" "body ran"
lacks "$T/skip.out" "needs python3"
say "jq missing: exit 77, $(grep -F 'SKIP' "$T/skip.out")"

# The same under SLUICE_TEST_STRICT=1: a failure naming it.
run strict "python3 jq" SLUICE_TEST_STRICT=1
expect strict 1
contains "$T/strict.err" "FAIL: needs jq: missing command jq (Debian package jq"
contains "$T/strict.err" "SLUICE_TEST_STRICT=1"
lacks "$T/strict.out" "body ran"
lacks "$T/strict.out" "# SKIP"
say "jq missing, SLUICE_TEST_STRICT=1: exit 1, $(cat "$T/strict.err")"

# A name tools/deps.sh does not know is the test's mistake: a failure, strict or not.
run unknown "python3 no-such-item"
expect unknown 1
contains "$T/unknown.err" "FAIL: needs no-such-item: deps.sh: unknown item 'no-such-item'"
lacks "$T/unknown.out" "body ran"
say "unknown item: exit 1"

# The tests' work directories were removed by their EXIT traps, a skipping one's too.
left=$(ls "$T/tmp")
[ -z "$left" ] || fail "left behind in $T/tmp: $left"

# SLUICE_TEST_INSTALL=1 with a stub deps.sh: "fake" is present once fake.installed exists,
# --install-item creates it; "broken" cannot be installed. Every call is logged.
cat >"$T/deps-stub.sh" <<EOF
#!/bin/sh
echo "\$*" >>"$T/deps-stub.log"
case \$1:\$2 in
--check-item:fake) [ -e "$T/fake.installed" ] && exit 0; echo "missing fake thing (Debian package fake)"; exit 1 ;;
--install-item:fake) touch "$T/fake.installed" ;;
--check-item:broken) echo "missing broken thing"; exit 1 ;;
--install-item:broken) echo "E: Unable to locate package broken" >&2; exit 100 ;;
--check-item:*) exit 0 ;;
*) exit 2 ;;
esac
EOF
: >"$T/deps-stub.log"
run stub-skip "fake" SLUICE_DEPS="$T/deps-stub.sh"
expect stub-skip 77
contains "$T/stub-skip.out" "# SKIP: needs fake: missing fake thing (Debian package fake)"
[ ! -e "$T/fake.installed" ] || fail "needs installed fake without SLUICE_TEST_INSTALL=1"
run install "fake" SLUICE_DEPS="$T/deps-stub.sh" SLUICE_TEST_INSTALL=1
expect install 0
contains "$T/install.out" "body ran"
contains "$T/deps-stub.log" "--install-item fake"
[ -e "$T/fake.installed" ] || fail "SLUICE_TEST_INSTALL=1 did not run --install-item"
run install-fails "broken" SLUICE_DEPS="$T/deps-stub.sh" SLUICE_TEST_INSTALL=1
expect install-fails 1
contains "$T/install-fails.err" "E: Unable to locate package broken"
contains "$T/install-fails.err" "FAIL: needs broken: tools/deps.sh --install-item broken failed"
lacks "$T/install-fails.out" "body ran"
say "SLUICE_TEST_INSTALL=1: installs through --install-item (exit 0), fails when that fails (exit 1)"

# peer:NAME: the items the peer script prints, each checked once.
: >"$T/deps-stub.log"
run peer "peer:kinesalite python3" SLUICE_DEPS="$T/deps-stub.sh"
expect peer 0
for item in python3 curl setsid node; do contains "$T/deps-stub.log" "--check-item $item"; done
n=$(grep -cx -- '--check-item python3' "$T/deps-stub.log")
[ "$n" = 1 ] || fail "python3 was checked $n times, expected once"
say "peer:kinesalite checks: $(sed 's/--check-item //' "$T/deps-stub.log" | tr '\n' ' ')"

# And for real: what each peer and each numbered test declares are items tools/deps.sh knows
# (a typo there would otherwise show only when that test runs).
all=""
for p in "$top_srcdir"/tests/peers/*.sh "$top_srcdir"/tests/00*.sh; do
    case $p in
    */lib.sh|*/0047-needs.sh) continue ;;
    */peers/*) items=$(sh "$p" needs) ;;
    *) items=$(sed -n -e 's/^\[.*\] || needs \(.*\)/\1/p' -e 's/^needs //p' "$p" | sed 's/#.*//') ;;
    esac
    for item in $items; do
        case $item in peer:*) [ -r "$top_srcdir/tests/peers/${item#peer:}.sh" ] || fail "$(basename "$p"): no peer ${item#peer:}"; continue ;; esac
        all="$all$item $(basename "$p")
"
    done
done
# Each item once (deps.sh per item, not per test: a busy machine pays for every process).
for item in $(printf '%s' "$all" | cut -d' ' -f1 | sort -u); do
    set +e
    sh "$top_srcdir/tools/deps.sh" --check-item "$item" >/dev/null 2>"$T/item.err"
    r=$?
    set -e
    [ "$r" -le 1 ] || { cat "$T/item.err"; fail "$(printf '%s' "$all" | grep "^$item " | cut -d' ' -f2 | tr '\n' ' ')need '$item', which tools/deps.sh does not know"; }
done
say "ok"
