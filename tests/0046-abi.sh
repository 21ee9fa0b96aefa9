#!/bin/sh
# 0046: the public ABI of libsluice. abidw lists what the built library exports through the
# installed headers; abidiff compares it with abi/libsluice.abi, the ABI of the libtool version
# in abi/VERSION (tools/abi.sh writes both). An incompatible change (an exported function or
# variable gone) fails unless the libtool current version in configure.ac was bumped past the
# baseline's; added symbols and type changes are listed, not refused (a build with another
# compiler or a sanitizer describes the same types differently). The check itself is shown to
# fail first: a copy of the baseline without sl_version's symbol.
. "$(dirname "$0")/lib/common.sh"
needs abidiff
lib="$top_builddir/.libs/libsluice.so"
[ -f "$lib" ] || fail "$lib is not built"
base="$top_srcdir/abi/libsluice.abi"
now=$(sed -n 's/^SLUICE_LT_VERSION = //p' "$top_builddir/Makefile")
was=$(cat "$top_srcdir/abi/VERSION")
[ -n "$now" ] || fail "no SLUICE_LT_VERSION in $top_builddir/Makefile"

# abidiff's status: bit 1 error, 2 usage, 4 ABI change, 8 incompatible change.
incompatible() {
    abidiff --no-show-locs "$1" "$2" >"$T/diff.txt" 2>&1 && return 1
    rc=$?
    [ $((rc & 3)) -eq 0 ] || { cat "$T/diff.txt"; fail "abidiff failed (status $rc)"; }
    [ $((rc & 8)) -ne 0 ]
}

grep -v "<elf-symbol name='sl_version'" "$base" >"$T/broken.abi"
incompatible "$base" "$T/broken.abi" || { cat "$T/diff.txt"; fail "abidiff did not see sl_version removed"; }
grep -q "sl_version" "$T/diff.txt" || fail "abidiff's report does not name sl_version"

abidw --no-corpus-path --no-show-locs --headers-dir "$top_srcdir/include/sluice" "$lib" >"$T/now.abi" ||
    fail "abidw could not read $lib"
n=$(grep -c "<elf-symbol name=" "$T/now.abi")
bad=$(grep "<elf-symbol name=" "$T/now.abi" | sed "s/.*name='\([^']*\)'.*/\1/" | grep -v '^sl_' || true)
[ -z "$bad" ] || fail "exported symbols without the sl_ prefix: $bad"
if incompatible "$base" "$T/now.abi"; then
    cur_now=${now%%:*}
    cur_was=${was%%:*}
    if [ "$cur_now" -le "$cur_was" ]; then
        cat "$T/diff.txt"
        fail "the ABI changed incompatibly (above) but the libtool version is still $now (baseline $was): bump current in configure.ac and run tools/abi.sh"
    fi
    say "incompatible ABI change with the libtool version bumped from $was to $now"
fi
sed -n '/summary/p' "$T/diff.txt" | sed 's/^/# /'
say "ok: $n exported symbols, all sl_; nothing of abi/libsluice.abi ($was) is gone"
