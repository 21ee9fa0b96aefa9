#!/bin/sh
# 0043: 100 jobs started and stopped in one process (tests/tools/many-jobs.c), one after another
# and 4 at once, each with its own log settings: every job's output is right, every job's log
# went where its settings said (its callback or the process-wide one) in its level, debug
# contexts and format, and no thread and no file descriptor is left behind. No leak either:
# valgrind watches it in a plain build, LeakSanitizer in the ASan build; the TSan build
# (tools/test.sh) finds the races.
. "$(dirname "$0")/lib/common.sh"

prog="$top_builddir/tests/tools/many-jobs"
[ -x "$prog" ] || fail "no $prog (make check builds it)"
mkdir "$T/mj"
if [ -n "${SL_SANITIZERS:-}" ]; then
    say "built with$SL_SANITIZERS: the sanitizers watch it (no valgrind)"
    "$prog" "$T/mj" >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err"; fail "many-jobs failed"; }
elif command -v valgrind >/dev/null 2>&1; then
    # many-jobs is libtool's wrapper script until installed: valgrind the real program.
    real="$top_builddir/tests/tools/.libs/many-jobs"
    [ -x "$real" ] || real=$prog
    LD_LIBRARY_PATH="$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
        "$real" "$T/mj" >"$T/out" 2>"$T/err" || { cat "$T/out"; tail -60 "$T/err"; fail "many-jobs failed under valgrind"; }
    say "valgrind: no error, no leak"
else
    say "valgrind not installed: running without a leak check (tools/deps.sh --test installs it)"
    "$prog" "$T/mj" >"$T/out" 2>"$T/err" || { cat "$T/out" "$T/err"; fail "many-jobs failed"; }
fi
cat "$T/out"
contains "$T/out" "many-jobs: 60 jobs one after another"
contains "$T/out" "many-jobs: 40 jobs, 4 at once"
contains "$T/out" "many-jobs: ok"
[ "$(ls "$T/mj"/out-*.jsonl | wc -l)" = 100 ] || fail "expected 100 outputs"
say "ok"
