#!/bin/sh
# 0044: the sluice CLI is a client of the public API alone: cli/main.c includes only
# <sluice/...> and system headers (never a header of the source tree), and the binary links the
# shared libsluice (whose only exported symbols are the SL_EXPORT ones), not the private core.
. "$(dirname "$0")/lib/common.sh"

src="$top_srcdir/cli/main.c"
[ -r "$src" ] || fail "no $src"
grep -n '^[[:space:]]*#[[:space:]]*include' "$src" >"$T/includes"
say "$(wc -l <"$T/includes") includes in cli/main.c"
[ -s "$T/includes" ] || fail "found no #include in $src"
while IFS= read -r line; do
    hdr=$(printf '%s\n' "$line" | sed -n 's/^[0-9]*:[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/\1/p')
    [ -n "$hdr" ] || fail "cli/main.c: not a <system> or <sluice/...> include: $line"
    case "$hdr" in
    sluice/*) [ -e "$top_srcdir/include/$hdr" ] || fail "cli/main.c includes <$hdr>: no such public header" ;;
    *)
        # A private header reached through -I would be one of the source tree's.
        for d in runtime util aws operators connectors/file connectors/stdio connectors/kinesis \
                 connectors/pulsar cli; do
            [ ! -e "$top_srcdir/$d/$hdr" ] || fail "cli/main.c includes <$hdr>, the private $d/$hdr"
        done ;;
    esac
done <"$T/includes"

# The binary (libtool keeps the real one in .libs when it links a shared library) needs
# libsluice.so: it was linked against the public symbols only.
bin="$top_builddir/.libs/sluice"
[ -x "$bin" ] || bin="$top_builddir/.libs/lt-sluice"
if [ -x "$bin" ] && command -v readelf >/dev/null 2>&1; then
    readelf -d "$bin" | grep -q 'NEEDED.*libsluice\.so' || fail "$bin does not link the shared libsluice"
    say "$bin needs libsluice.so"
else
    say "SKIP the link check: no shared build (--disable-shared) or no readelf"
fi
"$SLUICE" version | grep -q '^sluice ' || fail "sluice version"
say "ok"
