#!/bin/sh
# valgrind-examples.sh SLUICE: runs the example jobs under valgrind (memcheck, full leak check)
# and fails on any error or leak.
set -eu
SLUICE=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-vg.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
cp -r "$top/examples" .
chmod -R u+w examples
vg() {
    valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible "$@"
}
for job in examples/jobs/*.properties; do
    vg "$SLUICE" run "$job" >/dev/null 2>"$T/vg.err" || { cat "$T/vg.err"; echo "valgrind: $job failed"; exit 1; }
    echo "valgrind: $job clean"
    vg "$SLUICE" config dump "$job" >/dev/null 2>"$T/vg.err" || { cat "$T/vg.err"; echo "valgrind: config dump $job failed"; exit 1; }
done
