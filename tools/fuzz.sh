#!/bin/sh
# fuzz.sh [SECONDS]: builds every libFuzzer target in tests/fuzz/ with clang (ASan + UBSan) into
# build/fuzz/ and runs each for SECONDS (default 20) from the corpus in tests/fuzz/corpus/<name>
# (plus the example jobs for the properties parser). Fails on the first crash, leak or UB; the
# reproducer is left in build/fuzz/. tools/test.sh runs it briefly; run it longer by hand.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-20}
out=build/fuzz
mkdir -p "$out"
command -v clang >/dev/null || { echo "fuzz.sh: clang is required (tools/deps.sh --test)"; exit 1; }
[ -f "$out/config.h" ] || printf '#define _GNU_SOURCE 1\n' >"$out/config.h"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$out -Iinclude -Iruntime -Iconnectors/kinesis"
libs="$(pkg-config --libs libevent libevent_pthreads jansson openssl) -lpthread -lm"
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    case $name in
        fuzz_props) deps="runtime/conf.c runtime/util_props.c runtime/util_str.c runtime/log.c" ;;
        fuzz_kpl) deps="connectors/kinesis/kinesis_kpl.c runtime/util_pb.c runtime/util_str.c runtime/log.c" ;;
        *) echo "fuzz.sh: no build rule for $name"; exit 1 ;;
    esac
    # shellcheck disable=SC2086
    clang $flags "$src" $deps $libs -o "$out/$name"
    corpus="$out/corpus-$name"
    mkdir -p "$corpus"
    [ -d "tests/fuzz/corpus/$name" ] && cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
    [ "$name" = fuzz_props ] && cp examples/jobs/*.properties "$corpus"/
    echo "fuzz.sh: $name for ${secs}s"
    (cd "$out" && "./$name" -max_len=65536 -max_total_time="$secs" -print_final_stats=1 \
        "corpus-$name" >"$name.log" 2>&1) || { tail -40 "$out/$name.log"; echo "fuzz.sh: $name found a problem"; exit 1; }
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$out/$name.log" | sed "s/^/fuzz.sh: $name /"
done
