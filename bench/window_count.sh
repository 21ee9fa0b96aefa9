#!/bin/sh
# window_count.sh [RECORDS] [KEYS...]: a windowed count per key (tumbling 1 minute on the event
# time in the payload) over 100-byte JSON lines, file -> window -> file, once per number of
# distinct keys (default 1000, 100000 and 10000000; RECORDS defaults to 2000000 and is raised to
# the number of keys). WINDOW=session counts session windows instead (gap 1s): with the default
# spread of 10 minutes a key's records are 600000 * keys / RECORDS ms apart, so 1000 keys over 2M
# records make long sessions (every record extends one) and 100000 keys make one per record.
# Side by side, the sqlite3 shell computes the same answer in batch (import
# + GROUP BY), for scale. Prints records per CPU-second, wall time and peak RSS of each, and
# checks that both give the same number of windows and the same total count.
# The keyed state lives on disk behind a cache of task.state.cache.size entries (10000 here):
# with 10M keys the peak RSS must stay near the 1k-key figure, not grow with the keys.
# Not a test: figures vary with the machine. Needs /usr/bin/time and sqlite3.
set -eu
N=${1:-2000000}
shift 2>/dev/null || true
KEYS=${*:-1000 100000 10000000}
WINDOW=${WINDOW:-tumbling}
case $WINDOW in
tumbling)
    WPROPS="operators.w.size=1m"
    WSQL="SELECT count(*) AS n FROM i GROUP BY json_extract(line, '\$.k'),
            json_extract(line, '\$.ts') / 60000" ;;
session)
    WPROPS="operators.w.gap=1s"
    # A new session where the key's previous record is more than the gap (1000 ms) behind.
    WSQL="SELECT count(*) AS n FROM (SELECT k, sum(new) OVER (PARTITION BY k ORDER BY ts
            ROWS UNBOUNDED PRECEDING) AS sid FROM (SELECT k, ts, coalesce(ts - lag(ts) OVER
            (PARTITION BY k ORDER BY ts) > 1000, 1) AS new FROM (SELECT json_extract(line,
            '\$.k') AS k, json_extract(line, '\$.ts') AS ts FROM i))) GROUP BY k, sid" ;;
*) echo "WINDOW must be tumbling or session, not '$WINDOW'" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$top/sluice}
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
SEP=$(printf '\001') # a column separator that never occurs in the lines

# measure NAME RECORDS CMD...: runs CMD under /usr/bin/time and prints one row.
measure() {
    name=$1; n=$2; shift 2
    /usr/bin/time -f '%e %U %S %M' -o "$T/time" "$@" >"$T/stdout" 2>"$T/stderr" || {
        cat "$T/stderr"; exit 1; }
    read -r wall user sys rss <"$T/time"
    cpu=$(python3 -c "print(round(max($user + $sys, 0.001), 2))")
    rate=$(python3 -c "print(int($n / $cpu))")
    printf '%-8s %10s %12s %10s %10s %12s\n' "$name" "$keys" "$rate" "$wall" "$cpu" \
        "$((rss / 1024)) MiB"
}

printf '%-8s %10s %12s %10s %10s %12s\n' runner keys "rec/cpu-s" "wall s" "cpu s" "peak RSS"
for keys in $KEYS; do
    n=$N
    [ "$n" -ge "$keys" ] || n=$keys
    # Event times over 10 minutes, in order; key i % keys, so every key occurs.
    awk -v n="$n" -v k="$keys" 'BEGIN {
        pad = "................................................................................";
        for (i = 0; i < n; i++) {
            s = sprintf("{\"ts\":%d,\"k\":\"k%08d\",\"pad\":\"", 1700000000000 + int(i * 600000 / n), i % k);
            printf "%s%s\"}\n", s, substr(pad, 1, 97 - length(s));
        }
    }' >"$T/in.jsonl"
    cat >"$T/job.properties" <<P
job.name=bench
task.inputs=in.s
task.outputs=out.s
task.operators=w
task.timestamp.expr=json_extract(payload, '\$.ts')
task.commit.ms=1s
task.state.cache.size=10000
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.w.type=window
operators.w.window=$WINDOW
$WPROPS
operators.w.key=json_extract(payload, '\$.k')
operators.w.aggregates=count(*) AS n
job.checkpoint.sqlite.path=$T/ckpt.db
log.level=warn
P
    rm -f "$T/out.jsonl" "$T/ckpt.db"*
    measure sluice "$n" "$SLUICE" run "$T/job.properties"
    got=$(sqlite3 -batch -noheader :memory: ".separator '$SEP' \"\\n\"" \
        "CREATE TABLE o (line TEXT)" ".import '$T/out.jsonl' o" \
        "SELECT count(*) || ' ' || sum(json_extract(line, '\$.n')) FROM o")
    rm -f "$T/b.db"
    # The same answer in batch: lines imported as one column (a separator that never occurs).
    measure sqlite3 "$n" sqlite3 -batch -noheader "$T/b.db" \
        ".separator '$SEP' \"\\n\"" "CREATE TABLE i (line TEXT)" ".import '$T/in.jsonl' i" \
        "SELECT count(*) || ' ' || sum(n) FROM ($WSQL)"
    want=$(tail -1 "$T/stdout")
    [ "$got" = "$want" ] || echo "# MISMATCH with $keys keys: sluice '$got', sqlite3 '$want'"
done
