#!/bin/sh
# 0040: built-in connectors and operators use only the public API (include/sluice/), util/,
# aws/ and their own folder: tools/include-rule.py finds none of their includes resolving to a
# runtime-private header or to another connector's header. The checker is then shown to catch
# what it is for, on a planted tree: a bare "chain.h" found through -I runtime, a relative path
# into another connector, an angle include found through the -I list, and a clean file.
. "$(dirname "$0")/lib/common.sh"
needs python3

check="$top_srcdir/tools/include-rule.py"
python3 "$check" --srcdir "$top_srcdir" --builddir "$top_builddir" >"$T/real.out" 2>&1 || {
    cat "$T/real.out"
    fail "a built-in plugin breaks the include rule"
}
say "$(cat "$T/real.out")"

# The planted tree: the real Makefile.am (its -I list), a runtime header, two connectors.
P=$T/src
mkdir -p "$P/runtime" "$P/util" "$P/include/sluice" "$P/connectors/good" "$P/connectors/bad" \
    "$P/connectors/other" "$P/operators"
cp "$top_srcdir/Makefile.am" "$P/"
: >"$P/runtime/chain.h"
: >"$P/runtime/health.h"
: >"$P/util/util_str.h"
: >"$P/include/sluice/system.h"
: >"$P/connectors/other/other.h"
: >"$P/connectors/bad/bad.h"
printf '#include "util_str.h"\n#include "sluice/system.h"\n#include <stdio.h>\n' \
    >"$P/connectors/good/good.c"
cat >"$P/connectors/bad/bad.c" <<'C'
#include <string.h>
#include "bad.h"
#include "chain.h"
#include "sluice/system.h"
#include "../other/other.h"
#  include <health.h>
C
printf '#include "util_str.h"\n#include "../connectors/other/other.h"\n' >"$P/operators/op.c"
expect_exit 1 python3 "$check" --srcdir "$P" >"$T/planted.out" 2>&1
cat "$T/planted.out"
contains "$T/planted.out" "connectors/bad/bad.c:3: includes the runtime-private header runtime/chain.h"
contains "$T/planted.out" "connectors/bad/bad.c:5: includes connector other's header connectors/other/other.h"
contains "$T/planted.out" "connectors/bad/bad.c:6: includes the runtime-private header runtime/health.h"
contains "$T/planted.out" "operators/op.c:2: includes connector other's header"
contains "$T/planted.out" "4 include(s) break"
lacks "$T/planted.out" "good.c"
lacks "$T/planted.out" "bad.c:2:"
say "ok: the checker names each planted violation"
