#!/bin/sh
# file_filter.sh [LINES]: throughput and memory of file -> filter -> file for 100-byte JSON
# lines, side by side with peers doing the same work: jq (select on a field) and a Python json
# loop. Prints records/s per CPU-second, wall time and peak RSS for each, and sluice's ratios.
# Not a test: figures vary with the machine. Needs /usr/bin/time and jq (tools/deps.sh --bench).
set -eu
N=${1:-2000000}
top=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$top/sluice}
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT

awk -v n="$N" 'BEGIN {
    pad = "................................................................................";
    for (i = 0; i < n; i++) {
        s = sprintf("{\"n\":%d,\"level\":\"%s\",\"msg\":\"", i, (i % 10 == 0) ? "error" : "info");
        printf "%s%s\"}\n", s, substr(pad, 1, 97 - length(s));
    }
}' >"$T/in.jsonl"
bytes=$(wc -c <"$T/in.jsonl")

cat >"$T/job.properties" <<P
job.name=bench
task.inputs=in.s
task.outputs=out.s
task.operators=errors
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.errors.type=filter
operators.errors.expr=json_extract(payload, '\$.level') = 'error'
job.checkpoint.sqlite.path=$T/ckpt.db
task.commit.ms=1s
log.level=warn
P

# measure NAME CMD...: runs CMD under /usr/bin/time, prints one row, remembers the figures.
measure() {
    name=$1; shift
    rm -f "$T/out.jsonl" "$T/ckpt.db"*
    /usr/bin/time -f '%e %U %S %M' -o "$T/time" "$@" >"$T/stdout" 2>"$T/stderr" || { cat "$T/stderr"; exit 1; }
    read -r wall user sys rss <"$T/time"
    out=$( [ -s "$T/out.jsonl" ] && wc -l <"$T/out.jsonl" || wc -l <"$T/stdout")
    cpu=$(python3 -c "print(round(max($user + $sys, 0.001), 2))")
    rate=$(python3 -c "print(int($N / $cpu))")
    printf '%-10s %12s %10s %10s %12s %10s\n' "$name" "$rate" "$wall" "$cpu" "$((rss / 1024)) MiB" "$out"
    eval "rate_$name=$rate; rss_$name=$rss"
}

echo "# $N records, $((bytes / N)) bytes each, file -> filter(level = 'error') -> file"
printf '%-10s %12s %10s %10s %12s %10s\n' runner "rec/cpu-s" "wall s" "cpu s" "peak RSS" "out lines"
measure sluice "$SLUICE" run "$T/job.properties"
if command -v jq >/dev/null; then
    measure jq sh -c "jq -c 'select(.level == \"error\")' '$T/in.jsonl'"
fi
measure python python3 -c '
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    for line in f:
        if json.loads(line)["level"] == "error":
            o.write(line)
' "$T/in.jsonl" "$T/out.jsonl"

echo
for peer in jq python; do
    eval "r=\${rate_$peer:-}; m=\${rss_$peer:-}"
    [ -n "$r" ] || continue
    python3 -c "print('sluice vs %-6s: %.1fx the records per CPU-second, %.2fx the peak memory' % ('$peer', $rate_sluice / $r, $rss_sluice / $m))"
done
