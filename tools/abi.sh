#!/bin/sh
# abi.sh BUILDDIR: writes the public ABI of BUILDDIR's libsluice.so (what the installed headers
# declare, as abidw sees it) to abi/libsluice.abi and the libtool version it was built with to
# abi/VERSION. Run it when a release fixes the ABI, and after an incompatible change together
# with a bump of the libtool current version in configure.ac (tests/0046 refuses the change
# otherwise).
set -eu
cd "$(dirname "$0")/.."
b=${1:?usage: tools/abi.sh BUILDDIR}
lib="$b/.libs/libsluice.so"
[ -f "$lib" ] || { echo "abi.sh: $lib is not built" >&2; exit 1; }
v=$(sed -n 's/^SLUICE_LT_VERSION = //p' "$b/Makefile")
[ -n "$v" ] || { echo "abi.sh: no SLUICE_LT_VERSION in $b/Makefile" >&2; exit 1; }
mkdir -p abi
abidw --no-corpus-path --no-show-locs --headers-dir include/sluice "$lib" >abi/libsluice.abi
echo "$v" >abi/VERSION
echo "abi.sh: abi/libsluice.abi: $(grep -c "<elf-symbol name=" abi/libsluice.abi) exported symbols of version $v"
