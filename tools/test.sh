#!/bin/sh
# test.sh: the whole test suite, as the README's second command and CI run it:
#   1. gcc build, `make check` (unit + integration tests) and `make distcheck`;
#   2. clang build with AddressSanitizer + UndefinedBehaviorSanitizer, `make check` again;
#   3. valgrind on the example jobs: no leaks, no errors.
# Each build happens in its own directory under build/. Stops at the first failure.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=${JOBS:-2}

[ -x configure ] || autoreconf -fi

step() { printf '\n=== %s\n' "$*"; }

step "gcc: build, make check, make distcheck"
mkdir -p build/gcc
(cd build/gcc && "$top/configure" -q CC=gcc && make -j"$jobs" && make -j"$jobs" check && make -j"$jobs" distcheck) \
    || { find build/gcc -name '*.log' -path '*tests*' -newer build/gcc/config.status -exec sh -c 'echo "--- $1"; tail -40 "$1"' _ {} \; ; exit 1; }

step "clang + ASan + UBSan: make check"
mkdir -p build/asan
(cd build/asan && "$top/configure" -q CC=clang --enable-asan --enable-ubsan && make -j"$jobs" &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    SLUICE_KILL9_LINES=300000 make -j"$jobs" check) \
    || { find build/asan -name '*.log' -path '*tests*' -newer build/asan/config.status -exec sh -c 'echo "--- $1"; tail -40 "$1"' _ {} \; ; exit 1; }

step "valgrind: the example jobs leak nothing"
sh tools/valgrind-examples.sh build/gcc/sluice

step "all passed"
