#!/bin/sh
# 0057: the stream-table join over files, judged by the sqlite3 shell.
#   1. A table of users (a file read as a bootstrap, broadcast input: rows updated several times,
#      some deleted by a later line) and 100k events over 4 partition files, 2 worker threads:
#      the inner and the left join give exactly the rows sqlite3 computes in batch (the last
#      line of each user id is its row; a deleting line removes it).
#   2. The table is read to its head before any event is (the job logs it; the first event's
#      lookup already finds the last row of a user updated at the end of the table).
#   3. Followed files: a user's row updated after the job started is seen by the events
#      written after the update was committed; the events before it kept the old row.
#   4. Configuration errors: a table not broadcast, a broadcast stream that is not an input, a
#      Samza #partition suffix, and a bootstrap input on a system that cannot tell its head.
. "$(dirname "$0")/lib/common.sh"
needs python3 sqlite3
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

EVENTS=${SLUICE_JOIN_EVENTS:-100000}
mkdir -p "$T/ev"
python3 - "$T" "$EVENTS" <<'PY'
import json, random, sys
t, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(57)
with open(t + "/users.jsonl", "w") as f:
    for rev in range(3):
        for u in range(2000):
            if rev and rnd.random() < 0.5:
                continue
            row = {"id": "u%d" % u, "name": "user %d rev %d" % (u, rev), "tier": rnd.randint(1, 9),
                   "rev": rev}
            if rev == 2 and u % 97 == 0:
                row = {"id": "u%d" % u, "deleted": True}
            f.write(json.dumps(row) + "\n")
    # Updated last of all: the first event of every partition must already see this row.
    f.write(json.dumps({"id": "u1", "name": "last", "tier": 0, "rev": 9}) + "\n")
files = [open("%s/ev/p%d.jsonl" % (t, p), "w") for p in range(4)]
for i in range(n):
    u = "u1" if i < 4 else "u%d" % rnd.randint(0, 2199)  # 200 ids without a row
    files[i % 4].write(json.dumps({"e": i, "user": u, "v": rnd.randint(0, 1000)}) + "\n")
PY

job() { # job NAME KIND: the join of every event with its user into $T/NAME.out
    cat >"$T/$1.properties" <<P
job.name=join-$1
task.inputs=tab.users,in.ev
task.broadcast.inputs=tab.users
task.outputs=out.s
task.operators=j
job.container.thread.count=2
job.checkpoint.sqlite.path=$T/$1.db
systems.tab.samza.factory=file
systems.tab.streams.users.path=$T/users.jsonl
systems.tab.streams.users.samza.bootstrap=true
systems.in.samza.factory=file
systems.in.streams.ev.path=$T/ev
systems.out.samza.factory=file
systems.out.streams.s.path=$T/$1.out
operators.j.type=join
operators.j.table=tab.users
operators.j.table.key=json_extract(payload, '\$.id')
operators.j.table.value=CASE WHEN json_extract(payload, '\$.deleted') THEN NULL ELSE payload END
operators.j.key=json_extract(payload, '\$.user')
operators.j.kind=$2
operators.j.as=u
P
}

# ---- 1, 2: inner and left against the batch ----
SEP=$(printf '\001')
{
    printf '%s\n' ".separator '$SEP' \"\\n\""
    echo "CREATE TABLE traw (line TEXT);"
    echo ".import '$T/users.jsonl' traw"
    echo "CREATE TABLE ev (line TEXT);"
    for p in 0 1 2 3; do echo ".import '$T/ev/p$p.jsonl' ev"; done
    # A user's row: the last line of its id, unless that line deletes it.
    echo "CREATE TABLE users AS SELECT json_extract(line, '\$.id') AS id, line FROM traw
        WHERE rowid IN (SELECT max(rowid) FROM traw GROUP BY json_extract(line, '\$.id'))
        AND json_extract(line, '\$.deleted') IS NULL;"
    echo "CREATE TABLE inner_j AS SELECT json_extract(e.line, '\$.e') AS e, json_extract(e.line, '\$.v') AS v,
        json_extract(u.line, '\$.name') AS name, json_extract(u.line, '\$.tier') AS tier,
        json_extract(u.line, '\$.rev') AS rev FROM ev e JOIN users u ON u.id = json_extract(e.line, '\$.user');"
    echo "CREATE TABLE left_j AS SELECT json_extract(e.line, '\$.e') AS e, json_extract(e.line, '\$.v') AS v,
        json_extract(u.line, '\$.name') AS name, json_extract(u.line, '\$.tier') AS tier,
        json_extract(u.line, '\$.rev') AS rev FROM ev e LEFT JOIN users u ON u.id = json_extract(e.line, '\$.user');"
} | sqlite3 -batch "$T/judge.db" || fail "sqlite3 could not compute the batch join"

for kind in inner left; do
    job "$kind" "$kind"
    t0=$(now)
    timeout 300 "$SLUICE" run "$T/$kind.properties" >"$T/$kind.log" 2>&1 || { tail -n 20 "$T/$kind.log"; fail "the $kind join failed"; }
    secs=$(since "$t0")
    grep -q "bootstrap: tab.users read to the head" "$T/$kind.log" || { tail -n 20 "$T/$kind.log"; fail "$kind: no bootstrap"; }
    # Nothing of the events before the table's end: the first event line read comes after it.
    python3 - "$T/$kind.log" <<'PY' || fail "$kind: an event partition started before the table's end"
import sys
lines = open(sys.argv[1]).read().splitlines()
boot = next(i for i, l in enumerate(lines) if "bootstrap: tab.users" in l)
early = [l for l in lines[:boot] if "in/ev/" in l]
sys.exit("events before the bootstrap ended: %s" % early[:3] if early else 0)
PY
    res=$(sqlite3 -batch -noheader -separator ' ' "$T/judge.db" <<SQL
.separator '$SEP' "\\n"
CREATE TEMP TABLE o (line TEXT);
.import '$T/$kind.out' o
.separator ' ' "\\n"
CREATE TEMP TABLE got AS SELECT json_extract(line, '\$.e') AS e, json_extract(line, '\$.v') AS v,
    json_extract(line, '\$.u.name') AS name, json_extract(line, '\$.u.tier') AS tier,
    json_extract(line, '\$.u.rev') AS rev, json_type(line, '\$.u') AS ut FROM o;
SELECT (SELECT count(*) FROM got), (SELECT count(*) FROM ${kind}_j),
    (SELECT count(*) FROM (SELECT * FROM ${kind}_j EXCEPT SELECT e, v, name, tier, rev FROM got)),
    (SELECT count(*) FROM (SELECT e, v, name, tier, rev FROM got EXCEPT SELECT * FROM ${kind}_j)),
    (SELECT count(*) FROM (SELECT e FROM got GROUP BY e HAVING count(*) > 1)),
    (SELECT count(*) FROM got WHERE ut IS NULL OR ut NOT IN ('object', 'null')),
    (SELECT count(*) FROM got WHERE name = 'last' AND e < 4);
SQL
    ) || fail "$kind: sqlite3 could not read the output"
    set -- $res
    [ "$1" = "$2" ] && [ "$3" = 0 ] && [ "$4" = 0 ] && [ "$5" = 0 ] && [ "$6" = 0 ] && [ "$7" = 4 ] ||
        fail "$kind join: $1 rows out, $2 in the batch, $3 missing, $4 wrong, $5 events twice, $6 without the field, $7 of the 4 first events saw the last row"
    say "$kind join: $1 rows, identical to sqlite3's batch join ($EVENTS events, $secs s)"
done
n_inner=$(wc -l <"$T/inner.out" | tr -d ' ')
[ "$n_inner" -lt "$EVENTS" ] || fail "the inner join dropped nothing: the test data has no unmatched users"

# ---- 3: a later update, followed files ----
mkdir -p "$T/f"
printf '%s\n' '{"id":"a","name":"old"}' '{"id":"b","name":"bee"}' >"$T/f/users.jsonl"
: >"$T/f/ev.jsonl"
cat >"$T/follow.properties" <<P
job.name=join-follow
task.inputs=tab.users,in.ev
task.broadcast.inputs=tab.users
task.outputs=out.s
task.operators=j
task.commit.ms=200ms
job.checkpoint.sqlite.path=$T/follow.db
systems.tab.samza.factory=file
systems.tab.streams.users.path=$T/f/users.jsonl
systems.tab.streams.users.follow=true
systems.tab.streams.users.samza.bootstrap=true
systems.in.samza.factory=file
systems.in.streams.ev.path=$T/f/ev.jsonl
systems.in.streams.ev.follow=true
systems.out.samza.factory=file
systems.out.streams.s.path=$T/follow.out
operators.j.type=join
operators.j.table=tab.users
operators.j.table.key=json_extract(payload, '\$.id')
operators.j.key=json_extract(payload, '\$.user')
operators.j.kind=left
P
"$SLUICE" run "$T/follow.properties" >"$T/follow.log" 2>&1 &
PID=$!
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
    _end=$(($(date +%s) + $1)); shift
    until "$@"; do
        kill -0 "$PID" 2>/dev/null || { tail -n 20 "$T/follow.log"; fail "the followed job died"; }
        [ "$(date +%s)" -lt "$_end" ] || { tail -n 20 "$T/follow.log"; fail "timed out waiting for: $*"; }
        sleep 0.2
    done
}
lines_in() { [ -f "$1" ] && [ "$(wc -l <"$1" | tr -d ' ')" -ge "$2" ]; }
wait_for 60 grep -q "bootstrap: tab.users read to the head" "$T/follow.log"
printf '%s\n' '{"n":1,"user":"a"}' '{"n":2,"user":"b"}' >>"$T/f/ev.jsonl"
wait_for 60 lines_in "$T/follow.out" 2
printf '%s\n' '{"id":"a","name":"new"}' >>"$T/f/users.jsonl"
# The update is committed: the checkpoint file's table row says so (read by sqlite3).
committed() {
    sqlite3 -batch -noheader "$T/follow.db" "SELECT count(*) FROM sluice_state WHERE task = 'table:tab/users'
        AND CAST(value AS TEXT) LIKE '%\"new\"%';" 2>/dev/null | grep -qx 1
}
wait_for 60 committed
printf '%s\n' '{"n":3,"user":"a"}' '{"n":4,"user":"c"}' >>"$T/f/ev.jsonl"
wait_for 60 lines_in "$T/follow.out" 4
kill -TERM "$PID"
wait "$PID" || fail "the followed job did not stop cleanly"
python3 - "$T/follow.out" <<'PY' || fail "the later update was not seen as it should"
import json, sys
got = {r["n"]: r["table"] for r in map(json.loads, open(sys.argv[1]))}
want = {1: {"id": "a", "name": "old"}, 2: {"id": "b", "name": "bee"},
        3: {"id": "a", "name": "new"}, 4: None}
sys.exit(0 if got == want else "got %s" % got)
PY
say "followed files: the event after the committed update saw the new row, the one before the old"

# ---- 4: configuration errors ----
check_err() { # check_err NAME TEXT: config check of $T/NAME.properties fails saying TEXT
    if "$SLUICE" config check "$T/$1.properties" >"$T/$1.check" 2>&1; then
        fail "$1: config check passed"
    fi
    grep -qF "$2" "$T/$1.check" || { cat "$T/$1.check"; fail "$1: the error does not say '$2'"; }
}
job nobroad inner
sed -i '/^task.broadcast.inputs=/d' "$T/nobroad.properties"
check_err nobroad "operators.j.table: 'tab.users' must be in task.broadcast.inputs"
job notinput inner
sed -i 's/^task.broadcast.inputs=.*/task.broadcast.inputs=tab.users,tab.other/' "$T/notinput.properties"
check_err notinput "'tab.other' is not in task.inputs"
job hash inner
sed -i 's/^task.broadcast.inputs=.*/task.broadcast.inputs=tab.users#0/' "$T/hash.properties"
check_err hash "name it without the #<partition> part"
job stdinboot inner
printf '%s\n' 'systems.con.samza.factory=stdio' 'systems.con.streams.in.samza.bootstrap=true' >>"$T/stdinboot.properties"
sed -i 's/^task.inputs=.*/task.inputs=tab.users,in.ev,con.in/' "$T/stdinboot.properties"
check_err stdinboot "cannot tell when a partition has read everything its stream holds"
say "configuration errors: table not broadcast, broadcast not an input, #partition, bootstrap on stdin"
say "ok"
