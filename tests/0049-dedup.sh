#!/bin/sh
# 0049: the dedup operator under kill -9. The input holds M ids, each 2 or 3 times: every id
# twice, M records apart, and every third id once more right after its first record. A job
# file -> dedup (key: the JSON field "id", ttl 1h) -> file is killed with SIGKILL at random
# moments (once its output grew by a random number of lines) and restarted until it finishes.
#
# What is guaranteed, and checked: the keys dedup remembers are committed with the partition's
# offset, so a restart remembers exactly the ids of the records up to the committed offset. The
# file sink is at-least-once: lines written after the last commit are in the file, and their
# records are replayed after the restart. Such a replayed record is not in the committed state,
# so dedup passes it again and the sink writes it again. The output is therefore exactly-once
# per id only when no kill fell between a write and its commit; in general the judge (the
# sqlite3 shell over the input, the output and the checkpoint file) checks:
#   1. the set of ids in the output is SELECT DISTINCT id of the input;
#   2. every output line is the first input record of its id (n = min(n)): a later duplicate
#      never passes, even after a restart (the committed state remembers the id);
#   3. within one run's part of the output no record appears twice;
#   4. every copy of a record that is written again later was written by a killed run at an
#      input position past that run's last committed offset (the replay window), i.e. each
#      duplicate line is the replay of an uncommitted write, never a second record of an id;
#   5. the committed state table holds exactly the input's distinct ids.
. "$(dirname "$0")/lib/common.sh"
needs sqlite3
LC_ALL=C
export LC_ALL

M=${SLUICE_DEDUP_IDS:-40000}
KILLS=${SLUICE_DEDUP_KILLS:-4}

# Fixed-width lines, so the judge can compute each record's byte offset as index * width.
awk -v m="$M" 'BEGIN {
    for (i = 0; i < 2 * m; i++) {
        id = (i % m) * 7919 % m
        printf "{\"n\":\"%07d\",\"id\":\"id%07d\"}\n", n++, id
        if (i < m && id % 3 == 0) printf "{\"n\":\"%07d\",\"id\":\"id%07d\"}\n", n++, id
    }
}' >"$T/in.jsonl"
[ "$(awk '{ print length($0) }' "$T/in.jsonl" | sort -u | wc -l)" -eq 1 ] || fail "input lines differ in width"

cat >"$T/job.properties" <<P
job.name=dedup
task.inputs=in.s
task.outputs=out.s
task.operators=dd
task.commit.ms=100
task.state.cache.size=64
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in.jsonl
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.dd.type=dedup
operators.dd.key=json_extract(payload, '\$.id')
operators.dd.ttl=1h
job.checkpoint.sqlite.path=$T/ckpt.db
log.level=warn
P

# $T/runs.txt: one "run end_line checkpoint" row per killed run (checkpoint -1: none yet).
kill9_loop "$T/job.properties" "$T/out.jsonl" "$KILLS" 500 $((M / 6))
[ "$kills" -ge 2 ] || fail "only $kills kills happened: the input ran out first (raise SLUICE_DEDUP_IDS)"

# The judge. inp: the input records with their byte offsets; outp: the output lines with the
# run that wrote them (a line at index i belongs to the first run whose end_line is past i; the
# last, unkilled run has no row in runs and gets run 1e9).
sqlite3 -batch -noheader -separator ' ' :memory: >"$T/judge.txt" 2>&1 <<SQL
CREATE TABLE runs (run INTEGER, end_line INTEGER, ck INTEGER);
.import $T/runs.txt runs
CREATE TABLE inp AS SELECT key AS idx, CAST(json_extract(value, '\$.n') AS INTEGER) AS n,
    json_extract(value, '\$.id') AS id, length(value) + 1 AS width FROM json_each(
    '[' || replace(rtrim(CAST(readfile('$T/in.jsonl') AS TEXT), char(10)), char(10), ',') || ']');
CREATE TABLE outp AS SELECT key AS line, CAST(json_extract(value, '\$.n') AS INTEGER) AS n,
    json_extract(value, '\$.id') AS id FROM json_each(
    '[' || replace(rtrim(CAST(readfile('$T/out.jsonl') AS TEXT), char(10)), char(10), ',') || ']');
CREATE INDEX inp_id ON inp (id, n);
CREATE INDEX inp_n ON inp (n);
CREATE INDEX outp_n ON outp (n, line);
ALTER TABLE outp ADD COLUMN run INTEGER;
UPDATE outp SET run = coalesce((SELECT min(run) FROM runs WHERE end_line > outp.line), 1000000000);
SELECT 'input', count(*), count(DISTINCT id), sum(width) = length(readfile('$T/in.jsonl')),
    count(DISTINCT width) FROM inp;
SELECT 'output', count(*), count(DISTINCT n), count(DISTINCT id) FROM outp;
SELECT 'missing', count(*) FROM (SELECT DISTINCT id FROM inp EXCEPT SELECT id FROM outp);
SELECT 'extra', count(*) FROM (SELECT id FROM outp EXCEPT SELECT id FROM inp);
SELECT 'notfirst', count(*) FROM outp WHERE n != (SELECT min(n) FROM inp WHERE inp.id = outp.id);
SELECT 'twice-in-a-run', count(*) FROM (SELECT 1 FROM outp GROUP BY run, n HAVING count(*) > 1);
SELECT 'outside-replay', count(*) FROM outp o JOIN inp i ON i.n = o.n
    WHERE EXISTS (SELECT 1 FROM outp l WHERE l.n = o.n AND l.line > o.line)
    AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.run = o.run AND i.idx * i.width > r.ck);
ATTACH '$T/ckpt.db' AS ck;
SELECT 'state', count(*), sum(CAST(key AS TEXT) IN (SELECT 'k' || id FROM inp))
    FROM ck.sluice_state WHERE job_name = 'dedup' AND operator = 'dd';
SQL
sed 's/^/# /' "$T/judge.txt"
val() { awk -v k="$1" -v f="$2" '$1 == k { print $f }' "$T/judge.txt"; }
distinct=$((M))
[ "$(val input 3)" = "$distinct" ] || fail "sqlite3 sees $(val input 3) distinct input ids, not $M"
[ "$(val input 4)" = 1 ] && [ "$(val input 5)" = 1 ] || fail "the judge's byte offsets are off"
[ "$(val missing 2)" = 0 ] || fail "$(val missing 2) input ids are missing from the output"
[ "$(val extra 2)" = 0 ] || fail "$(val extra 2) output ids are not in the input"
[ "$(val output 4)" = "$distinct" ] || fail "the output has $(val output 4) distinct ids"
[ "$(val output 3)" = "$distinct" ] || fail "the output holds $(val output 3) distinct records for $M ids: a later duplicate passed"
[ "$(val notfirst 2)" = 0 ] || fail "$(val notfirst 2) output lines are not the first record of their id"
[ "$(val twice-in-a-run 2)" = 0 ] || fail "$(val twice-in-a-run 2) records were written twice by one run"
[ "$(val outside-replay 2)" = 0 ] || fail "$(val outside-replay 2) duplicate lines are not replays of uncommitted writes"
[ "$(val state 2)" = "$distinct" ] && [ "$(val state 3)" = "$distinct" ] \
    || fail "the committed state holds $(val state 2) keys ($(val state 3) of input ids), not $M"
dups=$(( $(val output 2) - distinct ))
say "ok: $kills kills, $(val input 2) input records, $M ids, $(val output 2) output lines: every id" \
    "once as its first record, plus $dups replayed copies, each from a killed run's uncommitted tail"
