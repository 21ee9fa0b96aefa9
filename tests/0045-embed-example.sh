#!/bin/sh
# 0045: the embedding examples (examples/embed/) built the way their Makefile.example says,
# against the INSTALLED library (make install into a staging directory, pkg-config only), in C
# and in C++; both run a job inside themselves (host input -> filter -> host output) and must
# print exactly examples/embed/expected.txt. A second run on the same checkpoint file continues
# the offsets after the committed ones. The C program runs under valgrind too when it is there.
. "$(dirname "$0")/lib/common.sh"
needs make pkg-config
[ -n "${SL_SANITIZERS:-}${CXX:-}" ] || needs g++   # the C++ half; sanitizer builds use clang++

DEST="$T/stage"
: "${sl_libdir:=/usr/local/lib}" "${sl_includedir:=/usr/local/include}"
make -C "$top_builddir" install DESTDIR="$DEST" >"$T/install.log" 2>&1 || { tail -20 "$T/install.log"; fail "make install failed"; }
[ -e "$DEST$sl_includedir/sluice/host.h" ] || fail "make install did not install sluice/host.h"

export PKG_CONFIG_PATH="$DEST$sl_libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$DEST"
mkdir "$T/user"
cp "$top_srcdir/examples/embed/embed.c" "$top_srcdir/examples/embed/embed.cpp" \
   "$top_srcdir/examples/embed/Makefile.example" "$T/user/"
# A sanitizer build's library is instrumented: the programs link with the same flags.
if [ -n "${SL_SANITIZERS:-}" ]; then
    set -- CC="clang" CXX="clang++" LDFLAGS="$SL_SANITIZERS"
else
    command -v "${CXX:-g++}" >/dev/null || fail "a C++ compiler is required (tools/deps.sh installs g++)"
    set -- CFLAGS="-O2 -g -Wall -Wextra -Werror" CXXFLAGS="-O2 -g -Wall -Wextra -Werror"
fi
make -C "$T/user" -f Makefile.example "$@" >"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "Makefile.example does not build against the installed library"; }
say "built: $(grep -c . "$T/build.log") build lines"

# The installed shared library is found through LD_LIBRARY_PATH (it is staged, not installed).
export LD_LIBRARY_PATH="$DEST$sl_libdir"
cd "$T/user" || fail "no $T/user"
./embed c.db >"$T/c.out" 2>"$T/c.err" || { cat "$T/c.err"; fail "embed failed"; }
./embed-cpp cpp.db >"$T/cpp.out" 2>"$T/cpp.err" || { cat "$T/cpp.err"; fail "embed-cpp failed"; }
diff -u "$top_srcdir/examples/embed/expected.txt" "$T/c.out" || fail "embed printed something else than expected.txt"
diff -u "$top_srcdir/examples/embed/expected.txt" "$T/cpp.out" || fail "embed-cpp printed something else than expected.txt"
[ -s "$T/c.err" ] && { cat "$T/c.err"; fail "embed wrote to standard error"; }

# A restart on the same checkpoints: the same records get the offsets after the committed ones.
./embed c.db >"$T/c2.out" 2>"$T/c2.err" || { cat "$T/c2.err"; fail "embed failed on its second run"; }
first=$(sed -n 's#^committed host.events/0 at ##p' "$T/c.out")
second=$(sed -n 's#^committed host.events/0 at ##p' "$T/c2.out")
[ -n "$first" ] && [ "$second" = "$((first * 2))" ] || { cat "$T/c2.out"; fail "the second run did not continue after offset $first (committed $second)"; }

if [ -n "${SL_SANITIZERS:-}" ]; then
    say "valgrind skipped: a sanitizer build"
elif command -v valgrind >/dev/null; then
    valgrind -q --leak-check=full --error-exitcode=1 ./embed v.db >"$T/v.out" 2>"$T/v.err" \
        || { cat "$T/v.err"; fail "valgrind found errors in embed"; }
    diff -u "$top_srcdir/examples/embed/expected.txt" "$T/v.out" || fail "embed under valgrind printed something else"
else
    say "SKIP valgrind part: valgrind is not installed (tools/deps.sh installs it)"
fi
say "ok"
