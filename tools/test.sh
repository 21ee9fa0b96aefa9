#!/bin/sh
# test.sh: the whole test suite, as the README's second command and CI run it:
#   0. tools/deps.sh --check: what every step below uses is there (and SLUICE_TEST_STRICT=1:
#      a test missing one of its needs fails instead of skipping);
#   1. gcc build, `make check` (unit + integration tests) and `make distcheck` (the unit tests
#      and the integration tests that start no peer);
#   2. clang build with AddressSanitizer + UndefinedBehaviorSanitizer, `make check` again;
#   3. clang build with ThreadSanitizer (build/tsan): `make check-fast` (the unit tests and the
#      peer-free integration tests, 0043's 100 jobs in one process among them) finds races;
#   4. every libFuzzer target for a few seconds (tools/fuzz.sh);
#   5. valgrind on the example jobs: no leaks, no errors.
# Each build happens in its own directory under build/. Stops at the first failure.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=${JOBS:-2}

step() { printf '\n=== %s\n' "$*"; }

# Everything was installed first (tools/deps.sh --test, checked just below), so a test whose
# `needs` finds something missing is a failure here, never a skip. Exported, it reaches every
# `make check` below, distcheck's inner one included (make passes the environment down).
SLUICE_TEST_STRICT=1
export SLUICE_TEST_STRICT

# Every tool and runtime the steps below use, named with its Debian package if missing: a
# fresh machine fails here in a second, not half an hour in with a confusing link error.
step "deps: tools/deps.sh --check"
sh tools/deps.sh --check || { echo "tools/test.sh: run tools/deps.sh --test first" >&2; exit 1; }

[ -x configure ] || autoreconf -fi

# show_failures DIR: the logs of the tests that failed under DIR.
show_failures() {
    grep -l -E '^(FAIL|ERROR)' $(find "$1" -name '*.log' -path '*tests*') 2>/dev/null | while read -r log; do
        echo "--- $log"; tail -60 "$log"
    done
}

# distcheck proves the tarball is complete: it builds, installs, and passes the unit tests and
# the integration tests that need nothing but sluice itself (those not sourcing tests/peers/lib.sh).
# The tests with peers (local AWS services, Pulsar brokers) run on the same sources in the gcc
# and the sanitizer builds.
dist_tests="tests/unit/sluice-unit $(cd "$top" && grep -L 'peers/lib.sh' tests/00*.sh | tr '\n' ' ')"

step "gcc: build, make check, make distcheck"
mkdir -p build/gcc
(cd build/gcc && "$top/configure" -q CC=gcc && make -j"$jobs" && make -j"$jobs" check &&
    make -j"$jobs" distcheck TESTS="$dist_tests") \
    || { show_failures build/gcc; exit 1; }

step "clang + ASan + UBSan: make check"
mkdir -p build/asan
(cd build/asan && "$top/configure" -q CC=clang --enable-asan --enable-ubsan && make -j"$jobs" &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    SLUICE_KILL9_LINES=300000 make -j"$jobs" check) \
    || { show_failures build/asan; exit 1; }

# TSan cannot share a process with ASan, hence a build of its own. halt_on_error: the first race
# fails the test it happened in, with both stacks in that test's log. tools/tsan.supp holds the
# suppressions (third-party libraries only, each justified there).
step "clang + TSan: make check-fast"
mkdir -p build/tsan
(cd build/tsan && "$top/configure" -q CC=clang --enable-tsan && make -j"$jobs" &&
    TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$top/tools/tsan.supp" \
    make -j"$jobs" check-fast) \
    || { show_failures build/tsan; exit 1; }

step "fuzz: every parser of outside bytes, briefly"
sh tools/fuzz.sh "${FUZZ_SECONDS:-15}"

step "valgrind: the example jobs leak nothing"
sh tools/valgrind-examples.sh build/gcc/sluice

# One closing line over both builds' suites (automake's test-suite.log counts).
count() { sed -n "s/^# $1: *//p" build/gcc/test-suite.log build/asan/test-suite.log | awk '{s += $1} END {print s + 0}'; }
step "all passed"
echo "tests: $(count PASS) passed, $(count FAIL) failed, $(count SKIP) skipped"
