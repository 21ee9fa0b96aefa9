#!/bin/sh
# 0048: keyed state stays consistent with the offsets under kill -9. The example operator
# examples/operators/counter.c counts records per key (the JSON field "user", made the key by a
# rekey) in sluice's keyed state and emits every running count. The job is killed with SIGKILL
# at random moments (once the output has grown by a random number of lines) and restarted until
# it finishes. The output then holds duplicates (the file sink is at-least-once), but for every
# key the counts emitted are exactly 1..n, n being the key's number of input records as the
# sqlite3 shell counts them over the same input, and the last count emitted is n: no record
# counted twice (a count past n), none missing (a gap). The state table in the checkpoint file,
# read by the sqlite3 shell, holds the same n for every key.
. "$(dirname "$0")/lib/common.sh"
needs sqlite3
LC_ALL=C # sort and join in SQLite's (bytewise) order
export LC_ALL

N=${SLUICE_STATE_LINES:-200000}
KILLS=${SLUICE_STATE_KILLS:-5}
KEYS=97
lib="$top_builddir/examples/operators/.libs/libcounter.so"
[ -f "$lib" ] || fail "$lib is not built"

awk -v n="$N" -v k=$KEYS 'BEGIN {
    for (i = 0; i < n; i++) printf "{\"n\":%d,\"user\":\"u%d\"}\n", i, (i * 7919 + int(i / 13)) % k
}' >"$T/in.jsonl"

cat >"$T/job.properties" <<P
job.name=kstate
task.inputs=in.s
task.outputs=out.s
task.operators=bykey,count
task.commit.ms=100
task.state.cache.size=16
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.bykey.type=rekey
operators.bykey.expr=json_extract(payload, '\$.user')
operators.count.library=$lib
job.checkpoint.sqlite.path=$T/ckpt.db
log.level=warn
P

kill9_loop "$T/job.properties" "$T/out.jsonl" "$KILLS" 2000 $((N / 8))
[ "$kills" -ge 2 ] || fail "only $kills kills happened: the input ran out first (raise SLUICE_STATE_LINES)"

# The judge: the sqlite3 shell counts the input's records per user.
sqlite3 -batch -noheader -separator ' ' :memory: >"$T/batch.txt" <<SQL
SELECT json_extract(value, '\$.user'), count(*) FROM json_each(
    '[' || replace(rtrim(CAST(readfile('$T/in.jsonl') AS TEXT), char(10)), char(10), ',') || ']')
GROUP BY 1 ORDER BY 1;
SQL
[ "$(wc -l <"$T/batch.txt")" -eq $KEYS ] || fail "sqlite3 counted $(wc -l <"$T/batch.txt") keys, not $KEYS"

# Per key from the output: the last count, the largest, and how many distinct counts.
awk '
    /^\{"key":"[^"]*","count":[0-9]+\}$/ {
        split($0, f, "\""); k = f[4]; c = $0; sub(/.*"count":/, "", c); sub(/\}$/, "", c); c += 0
        last[k] = c; if (c > max[k]) max[k] = c
        if (!((k, c) in seen)) { seen[k, c] = 1; distinct[k]++ }
        total++; next
    }
    { bad++ }
    END {
        for (k in last) print k, last[k], max[k], distinct[k]
        printf "%d %d\n", total, bad > "/dev/stderr"
    }' "$T/out.jsonl" 2>"$T/totals.txt" | sort >"$T/emitted.txt"
read -r total bad <"$T/totals.txt"
[ "$bad" -eq 0 ] || fail "$bad output lines are not the counter's JSON"
say "input $N records, output $total counts ($((total - N)) duplicates from replays)"

# batch.txt: "key n"; emitted.txt: "key last max distinct"
join "$T/batch.txt" "$T/emitted.txt" >"$T/joined.txt"
[ "$(wc -l <"$T/joined.txt")" -eq $KEYS ] || fail "keys differ between input and output"
awk '$2 != $3 || $2 != $4 || $2 != $5 {
        printf "FAIL: key %s: %d records, last count %d, largest %d, %d distinct counts\n", $1, $2, $3, $4, $5
        bad = 1
    }
    END { exit bad }' "$T/joined.txt" >&2 || fail "per-key counts do not match the input"

# The committed state, read from the checkpoint file by the sqlite3 shell.
sqlite3 -batch -noheader -separator ' ' "$T/ckpt.db" \
    "SELECT CAST(key AS TEXT), CAST(value AS TEXT) FROM sluice_state WHERE job_name = 'kstate'
     AND operator = 'count' ORDER BY 1" >"$T/state.txt"
cmp -s "$T/batch.txt" "$T/state.txt" || { diff "$T/batch.txt" "$T/state.txt" | head; fail "the state table differs from the batch counts"; }
say "ok: $kills kills, $KEYS keys: every count 1..n emitted, last = n = sqlite3's count, state table equal"
