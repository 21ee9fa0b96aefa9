#!/bin/sh
# 0022: the kinesis producer under faults. tests/tools/kinesis_proxy.py sits between sluice's
# producer and kinesalite and, as its control file says, fails single PutRecords entries
# (ProvisionedThroughputExceededException, InternalFailure; a later entry of the same key in the
# same request may still succeed, which is what breaks the order of naive producers), throttles
# whole requests or answers 500/503. A Kinesis -> Kinesis job runs through it:
# (1) with partial failures from the start, sluice is killed with SIGKILL once 800 of the 3000
# records is out; at that moment every input record at or before the job's checkpoint is already
# in the output stream (the checkpoint never passes an unacknowledged record); (2) restarted
# with every request throttled, the producer pushes back (at most sink.requests.max-buffered
# records plus one poll batch handed to it); then under a mix of all faults, then with the
# faults off, every record arrives (nothing lost), each
# key's records in input order (duplicates only from the kill: the re-sent records after the
# checkpoint); the proxy really failed records and requests. (3) sink.fail-on-error=true: the
# first failure fails the job with a message saying so, and its checkpoint passes no record the
# output does not hold. The AWS CLI reads the output straight from kinesalite.
. "$(dirname "$0")/lib/common.sh"
needs aws curl python3 sqlite3 peer:kinesalite
PEER=0022-kinesis-write-faults
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"

PROXY="$top_srcdir/tests/tools/kinesis_proxy.py"
"$SLUICE" config docs | grep -q sink.batch.max-size || fail "this sluice has no kinesis producer (no sink.batch.max-size)"

kin_up kinesalite
KIN=$(cat "$T/kinesalite.url")
SEED=${KIN_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
say "kinesalite $KIN, seed $SEED (replay with KIN_SEED=$SEED)"

# The proxy, in front of kinesalite for the producer only.
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "partial:0.3" >"$T/fault"
python3 "$PROXY" --listen "$PPORT" --upstream "$KIN" --control "$T/fault" --log "$T/proxy.log" \
    --stats "$T/proxy.stats" --seed "$SEED" >"$T/proxy.out" 2>&1 &
kin_track $!
PURL=http://127.0.0.1:$PPORT
i=0
until curl -s -o /dev/null "$PURL/__stats"; do
    i=$((i + 1)); [ $i -lt 100 ] || { cat "$T/proxy.out"; fail "the fault proxy did not start"; }
    sleep 0.1
done

kin_stream "$KIN" src 2
kin_stream "$KIN" dst 2
python3 - "$T" "$SEED" <<'EOF'
import json, random, sys
sys.path.insert(0, sys.argv[1])
import kin
rng = random.Random(int(sys.argv[2]))
count, recs = {}, []
for i in range(3000):
    k = "k%d" % rng.randrange(20)
    count[k] = count.get(k, 0) + 1
    recs.append({"id": "r%d" % i, "key": k, "data": json.dumps({"k": k, "n": count[k], "pad": "p" * rng.randint(0, 200)}).encode()})
kin.dump(recs, sys.argv[1] + "/a.in", "w")
EOF
kpy put "$KIN" src "$T/a.in" "$T/a.put" || fail "put-records into src"

job() { # job NAME EXTRA...
    _n=$1; shift
    cat <<P
job.name=$_n
job.id=1
task.inputs=kin.src
task.outputs=kout.dst
task.commit.ms=200ms
job.checkpoint.sqlite.path=$T/$_n.db
systems.kin.samza.factory=kinesis
systems.kin.aws.region=us-east-1
systems.kin.aws.endpoint=$KIN
systems.kin.aws.credentials.access.key.id=AKIDEXAMPLE
sensitive.systems.kin.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.kin.streams.src.scan.stream.initpos=TRIM_HORIZON
systems.kin.streams.src.scan.shard.getrecords.intervalmillis=200ms
systems.kin.streams.src.scan.shard.getrecords.maxrecordcount=40
systems.kin.streams.src.aws.kcl.LeaseStore=sqlite
systems.kout.samza.factory=kinesis
systems.kout.aws.endpoint=$PURL
systems.kout.aws.credentials.access.key.id=AKIDEXAMPLE
sensitive.systems.kout.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.kout.streams.dst.sink.flush-buffer.timeout=50ms
systems.kout.streams.dst.sink.batch.max-size=50
systems.kout.streams.dst.sink.retry.backoff.base=20ms
systems.kout.streams.dst.sink.retry.backoff.max=300ms
log.level=info
P
    for _e in "$@"; do echo "$_e"; done
}
count_dst() { python3 -c "
import sys; sys.path.insert(0, '$T'); import kin
print(len(kin.read_stream('$KIN', 'dst')))" 2>/dev/null || echo 0; }

# ---- (1) partial failures, then SIGKILL ------------------------------------------------------
job w >"$T/w.properties"
kin_run "$T/w.properties" "$T/w1.log"; P=$KIN_PID
forwarded() { python3 -c "import json; print(json.load(open('$T/proxy.stats'))['records_forwarded'])" 2>/dev/null || echo 0; }
end=$(($(date +%s) + 90))
while [ "$(forwarded)" -lt 800 ]; do
    kin_alive "$P" || { tail -n 30 "$T/w1.log"; fail "sluice died under partial failures"; }
    [ "$(date +%s)" -lt "$end" ] || { tail -n 30 "$T/w1.log"; fail "fewer than 800 records out after 90 s of partial failures"; }
    sleep 0.1
done
kill -9 "$P"; wait "$P" 2>/dev/null || true
python3 - "$T" "$KIN" <<'EOF' || fail "the checkpoint passed records the output does not hold"
import sqlite3, sys
sys.path.insert(0, sys.argv[1])
import kin
T, url = sys.argv[1], sys.argv[2]
put = kin.load(T + "/a.put")
have = {(g["key"], g["data"]) for g in kin.read_stream(url, "dst")}
db = sqlite3.connect(T + "/w.db")
ck = dict(db.execute("select \"partition\", \"offset\" from sluice_checkpoints where system = 'kin' and stream = 'src'").fetchall())
bad, covered = [], 0
for r in put:
    c = ck.get(r["shard"])
    if c is None or int(r["seq"]) > int(c):
        continue
    covered += 1
    if (r["key"], r["data"]) not in have:
        bad.append(r["id"])
if bad:
    print("  %d records at or before the checkpoint are not in dst: %s" % (len(bad), bad[:10]))
    sys.exit(1)
if covered == 0 or covered >= len(put):
    print("  the checkpoints cover %d of %d records: the kill did not land mid-stream" % (covered, len(put)))
    sys.exit(1)
print("# killed with %d records out; the checkpoints cover %d input records, all of them in dst" % (len(have), covered))
EOF
say "(1) partial failures and SIGKILL: the checkpoint never passed an unacknowledged record"

# ---- (2) restart throttled (back pressure), then under every fault, then none -----------------
echo "throttle" >"$T/fault"
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{ cat "$T/w.properties"; echo "metrics.http.port=$MPORT"; echo "task.poll.batch=100"
  echo "systems.kout.streams.dst.sink.requests.max-buffered=300"; } >"$T/w2.properties"
kin_run "$T/w2.properties" "$T/w2.log"; P=$KIN_PID
sleep 5
kin_alive "$P" || { tail -n 30 "$T/w2.log"; fail "sluice died while every request was throttled"; }
# Every request is refused: the producer holds at most max-buffered records (plus one poll
# batch already in the chain) and the worker stops reading.
sent=$(curl -s "http://127.0.0.1:$MPORT/metrics" | awk '/^sluice_output_sent_total/ { s += $2 } END { print s + 0 }')
say "throttled for 5 s: $sent records handed to the producer (max-buffered 300, poll batch 100)"
[ "$sent" -gt 0 ] && [ "$sent" -le 400 ] || fail "back pressure: $sent records handed to the producer while every request was throttled (at most 400 expected)"
echo "mix:0.3" >"$T/fault"
sleep 6
kin_alive "$P" || { tail -n 30 "$T/w2.log"; fail "sluice died under mixed faults"; }
echo "pass" >"$T/fault"
python3 - "$T" "$KIN" "$P" <<'EOF' || { tail -n 30 "$T/w2.log"; fail "records lost or out of order"; }
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import kin
T, url, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
put = kin.load(T + "/a.put")
want = {(r["key"], r["data"]): r for r in put}
deadline = time.time() + 120
while True:
    got = kin.read_stream(url, "dst")
    have = {(g["key"], g["data"]) for g in got}
    if all(k in have for k in want) or time.time() > deadline:
        break
    time.sleep(1)
errs = []
missing = [r["id"] for k, r in want.items() if k not in have]
if missing:
    errs.append("%d records never arrived: %s" % (len(missing), missing[:10]))
# Per key (and input shard): first occurrences in the output's order follow the input's order;
# a record seen again is a re-send after the kill (at least once), never a new one out of turn.
last, first = {}, set()
dups = 0
for g in got:
    r = want.get((g["key"], g["data"]))
    if r is None:
        errs.append("unexpected record %r" % g["data"][:60])
        continue
    if r["id"] in first:
        dups += 1
        continue
    first.add(r["id"])
    n, ok = json.loads(r["data"])["n"], (r["key"], r["shard"])
    if last.get(ok, 0) >= n:
        errs.append("key %r: n=%d first written after n=%d" % (r["key"], n, last[ok]))
    last[ok] = n
st = json.load(open(T + "/proxy.stats"))
print("# %d records out, %d duplicates from the kill; proxy: %s" % (len(got), dups, json.dumps(st, sort_keys=True)))
if st.get("records_failed", 0) < 50:
    errs.append("the proxy failed only %s records: the faults did not bite" % st.get("records_failed"))
if st.get("requests_throttled", 0) + st.get("requests_5xx", 0) < 1:
    errs.append("no request was throttled or answered 5xx")
for e in errs[:20]:
    print("  " + e)
sys.exit(1 if errs else 0)
EOF
kin_stop "$P" "$T/w2.log"
say "(2) restart under throttling, 5xx and partial failures: nothing lost, per-key order kept"

# ---- (3) sink.fail-on-error ----------------------------------------------------------------------
kin_stream "$KIN" src2 1
python3 - "$T" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
kin.dump([{"id": "f%d" % i, "key": "f%d" % (i % 5), "data": json.dumps({"i": i}).encode()} for i in range(400)], sys.argv[1] + "/f.in", "w")
EOF
kpy put "$KIN" src2 "$T/f.in" "$T/f.put" || fail "put-records into src2"
kin_stream "$KIN" dst2 1
echo "partial:0.5" >"$T/fault"
job f "systems.kout.streams.dst2.sink.fail-on-error=true" |
    sed -e 's/kin\.src$/kin.src2/' -e 's/kout\.dst$/kout.dst2/' -e 's/streams\.src\./streams.src2./' \
        -e 's/streams\.dst\./streams.dst2./' >"$T/f.properties"
rc=0
"$SLUICE" run "$T/f.properties" >"$T/f.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || { tail -n 20 "$T/f.log"; fail "the job did not fail with sink.fail-on-error=true under partial failures"; }
grep -q "sink.fail-on-error" "$T/f.log" || { tail -n 20 "$T/f.log"; fail "the failure does not name sink.fail-on-error"; }
python3 - "$T" "$KIN" <<'EOF' || fail "fail-on-error: the checkpoint passed records the output does not hold"
import sqlite3, sys
sys.path.insert(0, sys.argv[1])
import kin
T, url = sys.argv[1], sys.argv[2]
have = {(g["key"], g["data"]) for g in kin.read_stream(url, "dst2")}
db = sqlite3.connect(T + "/f.db")
ck = dict(db.execute("select \"partition\", \"offset\" from sluice_checkpoints where stream = 'src2'").fetchall())
bad = [r["id"] for r in kin.load(T + "/f.put") if r["shard"] in ck and int(r["seq"]) <= int(ck[r["shard"]]) and (r["key"], r["data"]) not in have]
print("# fail-on-error: %d records out, checkpoint %s" % (len(have), ck))
sys.exit(1 if bad else 0)
EOF
say "(3) sink.fail-on-error=true fails the job at the first failure, the checkpoint stays behind"
