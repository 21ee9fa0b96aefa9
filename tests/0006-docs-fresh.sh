#!/bin/sh
# 0006: docs/CONFIGURATION.md is generated from the property tables; fail when the committed
# file is stale (regenerate with `make docs`).
. "$(dirname "$0")/lib/common.sh"

"$SLUICE" config docs >"$T/CONFIGURATION.md"
if ! diff -u "$top_srcdir/docs/CONFIGURATION.md" "$T/CONFIGURATION.md" >"$T/diff"; then
    head -40 "$T/diff"
    fail "docs/CONFIGURATION.md is stale: run 'make docs' and commit it"
fi
# Spot checks that the generator covers every component.
for key in job.name task.commit.ms task.inputs 'systems.<system>.samza.factory' \
           'systems.<system>.streams.<stream>.samza.offset.default' \
           'systems.<system>.streams.<stream>.follow' 'operators.<name>.expr' \
           'operators.<name>.library' job.factory.class; do
    contains "$T/CONFIGURATION.md" "$key"
done
say "ok: $(grep -c '^| `' "$T/CONFIGURATION.md") properties documented"
