#!/bin/sh
# 0018: sluice shares a KCL lease table with a Java KCL 2.x worker. The AWS CLI v2 creates the
# table with the KCL's key schema and writes the lease of shardId-000000000001 exactly as
# DynamoDBLeaseSerializer.toDynamoRecord does (leaseKey, leaseOwner, leaseCounter, checkpoint =
# a real sequence number in the middle of the shard, checkpointSubSequenceNumber 0,
# ownerSwitchesSinceCheckpoint 0, startingHashKey, endingHashKey; no parentShardId for a root
# shard). While that foreign worker renews (leaseCounter bumped under the KCL's condition at
# the KCL's pace), sluice leaves the lease alone and reads only the shard nobody held; once the
# renewals stop, sluice takes the lease no sooner than FailoverTimeMillis after the last one
# (printed) and resumes exactly after the checkpoint: the first record of the shard it outputs
# is the next sequence number, then every later one. Every item sluice wrote has exactly the
# KCL's attribute names and DynamoDB types, during the run and after its graceful stop.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:kinesalite peer:dynalite
PEER=0018-kcl-compat
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
"$SLUICE" config docs | grep -q scan.stream.initpos || fail "this sluice has no kinesis consumer (no scan.stream.initpos)"

FAILOVER=3000
TABLE=kcl-app-18
JAVA=ip-10-0-3-17.ec2.internal:3b7e2f10-5d64-4c1a-9e6b-4f0c8a2d7b91   # a KCL 2.x worker id
K1=shardId-000000000001
K0=shardId-000000000000

kin_up kinesalite dynalite
KIN=$(cat "$T/kinesalite.url")
DDB=$(cat "$T/dynalite.url")
say "kinesalite $KIN, dynalite $DDB"
kin_stream "$KIN" kc 2
cli "$KIN" kinesis list-shards --stream-name kc >"$T/shards.json"

# 30 records into shard 1 (explicit hash keys inside its range), 10 into shard 0.
python3 - "$T" <<'EOF'
import json, random, sys
sys.path.insert(0, sys.argv[1])
import kin
sl = json.load(open(sys.argv[1] + "/shards.json"))["Shards"]
rng = random.Random(18)
recs = []
for n, si in ((30, 1), (10, 0)):
    lo, hi = int(sl[si]["HashKeyRange"]["StartingHashKey"]), int(sl[si]["HashKeyRange"]["EndingHashKey"])
    for i in range(n):
        recs.append({"id": "s%d-%d" % (si, i), "key": "r%d-%d" % (si, i), "ehk": str(rng.randint(lo, hi)),
                     "data": b"rec %d of shard %d" % (i, si)})
kin.dump(recs, sys.argv[1] + "/in.jsonl", "w")
EOF
kpy put "$KIN" kc "$T/in.jsonl" "$T/put.jsonl" || fail "put-records"
python3 - "$T" <<'EOF' || fail "put-records did not route by the explicit hash keys"
import sys
sys.path.insert(0, sys.argv[1])
import kin
T = sys.argv[1]
recs = kin.load(T + "/put.jsonl")
assert all(r["shard"] == "shardId-00000000000" + r["id"][1] for r in recs)
s1 = [r for r in recs if r["shard"] == "shardId-000000000001"]
kin.dump(s1[:12], T + "/before.jsonl", "w")   # covered by the foreign checkpoint
kin.dump(s1[12:], T + "/after1.jsonl", "w")
kin.dump([r for r in recs if r["shard"] == "shardId-000000000000"], T + "/shard0.jsonl", "w")
open(T + "/ck", "w").write(s1[11]["seq"])
open(T + "/next", "w").write(s1[12]["seq"])
EOF
CK=$(cat "$T/ck")
read -r HK0 HK1 <<EOF
$(python3 -c "import json; s = json.load(open('$T/shards.json'))['Shards'][1]['HashKeyRange']; print(s['StartingHashKey'], s['EndingHashKey'])")
EOF

# ---- the table and the item, as the KCL writes them -----------------------------------------------
cli "$DDB" dynamodb create-table --table-name "$TABLE" \
    --attribute-definitions AttributeName=leaseKey,AttributeType=S \
    --key-schema AttributeName=leaseKey,KeyType=HASH --billing-mode PAY_PER_REQUEST >/dev/null \
    || fail "create-table"
i=0
until [ "$(cli "$DDB" dynamodb describe-table --table-name "$TABLE" --query Table.TableStatus --output text)" = ACTIVE ]; do
    i=$((i + 1)); [ "$i" -le 40 ] || fail "table never ACTIVE"; sleep 0.25
done
COUNTER=41
cli "$DDB" dynamodb put-item --table-name "$TABLE" --item "{
    \"leaseKey\": {\"S\": \"$K1\"}, \"leaseOwner\": {\"S\": \"$JAVA\"},
    \"leaseCounter\": {\"N\": \"$COUNTER\"}, \"checkpoint\": {\"S\": \"$CK\"},
    \"checkpointSubSequenceNumber\": {\"N\": \"0\"}, \"ownerSwitchesSinceCheckpoint\": {\"N\": \"0\"},
    \"startingHashKey\": {\"S\": \"$HK0\"}, \"endingHashKey\": {\"S\": \"$HK1\"}}" || fail "put-item of the KCL lease"
say "KCL lease of $K1 written: owner $JAVA, counter $COUNTER, checkpoint $CK (12th of 30 records)"

{ kin_props kt w1 kc "$KIN" "$T/out.jsonl" "$T/w1.db"
  echo "systems.kin.aws.dynamodb.endpoint=$DDB"
  echo "systems.kin.streams.kc.aws.kcl.TableName=$TABLE"; } >"$T/job.properties"
python3 "$T/kin.py" poll "$DDB" "$TABLE" "$T/timeline.jsonl" "$T/stop.poll" 2>"$T/poll.err" &
kin_track $!
t_start=$(now_ms)
kin_run "$T/job.properties" "$T/job.log"; P=$KIN_PID

# ---- while the foreign worker renews, its lease stays its own ------------------------------------------
# It renews at the KCL's pace (failover/3 - 25 ms) with UpdateItem expecting counter and owner,
# straight to dynalite's API so that a loaded machine does not stretch its renewals.
# A renewal whose condition fails (exit 3) means sluice changed the lease while it was renewed.
rc=0
kpy renew "$DDB" "$TABLE" "$K1" "$JAVA" "$COUNTER" $((2 * FAILOVER)) $((FAILOVER / 3 - 25)) >"$T/renew.out" || rc=$?
read -r COUNTER t_last gap <"$T/renew.out" || true
# Checked at once, long before the lease can expire: nothing of shard 1 was read meanwhile.
python3 - "$T" <<'EOF' || fail "sluice read the shard another worker holds"
import sys
sys.path.insert(0, sys.argv[1])
import kin
got, _ = kin.read_out(sys.argv[1] + "/out.jsonl")
n = sum(1 for g in got if g["shard"] == "shardId-000000000001")
sys.exit("%d records of shardId-000000000001 out while %s held it" % (n, "the Java worker") if n else 0)
EOF
[ -n "$gap" ] || fail "the foreign worker could not renew its lease through dynalite's API"
if [ "$rc" = 3 ]; then
    tail -n 20 "$T/job.log"
    fail "sluice took $K1 while its owner renewed it (at most $gap ms between renewals, failover $FAILOVER)"
fi
[ "$rc" = 0 ] || fail "the foreign worker's renewals failed (exit $rc)"
[ "$gap" -lt "$FAILOVER" ] || fail "the foreign worker's renewals were $gap ms apart (machine too loaded): the test proves nothing"
renews=$((COUNTER - 41))
kin_alive "$P" || { tail -n 30 "$T/job.log"; fail "sluice died"; }
kin_wait_covers "$T/out.jsonl" "$T/shard0.jsonl" 20 "$P" "$T/job.log"
say "the foreign worker renewed $renews times, at most $gap ms apart, over $((t_last - t_start)) ms: its lease stayed its own, sluice read only $K0"

# ---- the renewals stop: sluice takes over after the failover time ---------------------------------------
kin_wait_covers "$T/out.jsonl" "$T/after1.jsonl" $((FAILOVER / 1000 + 20)) "$P" "$T/job.log"
# The poller saw the last renewal land (the first sample with the final counter) and the take.
took=$(python3 - "$T" "$COUNTER" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import kin
seen = None
for e in kin.timeline(sys.argv[1] + "/timeline.jsonl"):
    l = e["leases"].get("shardId-000000000001", {})
    if seen is None and l.get("counter") == int(sys.argv[2]):
        seen = e["t"]
    if seen is not None and l.get("owner") == "w1":
        print(e["t"] - seen)
        break
EOF
)
[ -n "$took" ] || fail "the poller did not see both the last renewal and w1 owning $K1"
say "sluice took $K1 $took ms after the foreign worker's last renewal landed (failover $FAILOVER ms; poller resolution 50 ms)"
[ "$took" -ge $((FAILOVER - 100)) ] || fail "sluice took a lease $took ms after its last renewal, before FailoverTimeMillis ($FAILOVER)"
[ "$took" -le $((FAILOVER + 1000 + 2000)) ] || fail "sluice took $took ms to take an expired lease (failover $FAILOVER + taker 1000 + 2000)"

# ---- what was read ---------------------------------------------------------------------------------------
python3 - "$T" <<'EOF' || fail "shard 1 did not resume exactly after the KCL checkpoint"
import sys
sys.path.insert(0, sys.argv[1])
import kin
T = sys.argv[1]
got, _ = kin.read_out(T + "/out.jsonl")
s1 = [g for g in got if g["shard"] == "shardId-000000000001"]
nxt = open(T + "/next").read()
if not s1 or s1[0]["seq"] != nxt or s1[0]["sub"] != 0:
    sys.exit("first record of shard 1: %r, want sequence number %s" % (s1[:1] and (s1[0]["seq"], s1[0]["sub"]), nxt))
errs = kin.check_out(got, kin.load(T + "/after1.jsonl") + kin.load(T + "/shard0.jsonl"))
for e in errs[:20]:
    print("  " + e)
sys.exit(1 if errs else 0)
EOF
say "first record of $K1 out: $(cat "$T/next") (the one after the checkpoint), then the other 17; all 10 of $K0"

# ---- the items, while running and after the graceful stop ------------------------------------------------
KCL_TYPES='leaseKey=S leaseOwner=S leaseCounter=N ownerSwitchesSinceCheckpoint=N checkpoint=S checkpointSubSequenceNumber=N pendingCheckpoint=S pendingCheckpointSubSequenceNumber=N pendingCheckpointState=B parentShardId=SS childShardIds=SS startingHashKey=S endingHashKey=S'
# items WHEN OWNER: every item has only KCL attributes with the KCL's types, the ones the KCL
# always writes, the hash range of its shard, and leaseOwner = OWNER ("-" = none).
items() {
    ddb_scan "$DDB" "$TABLE" >"$T/items-$1.json" || fail "scan of $TABLE"
    python3 - "$T/items-$1.json" "$T/shards.json" "$KCL_TYPES" "$2" "$1" <<'EOF' || { cat "$T/items-$1.json"; fail "lease items ($1)"; }
import json, sys
items = json.load(open(sys.argv[1]))["Items"]
shards = {s["ShardId"]: s["HashKeyRange"] for s in json.load(open(sys.argv[2]))["Shards"]}
kcl = dict(p.split("=") for p in sys.argv[3].split())
owner, when = sys.argv[4], sys.argv[5]
bad = []
if sorted(i["leaseKey"]["S"] for i in items) != sorted(shards):
    bad.append("lease keys %r" % sorted(i["leaseKey"]["S"] for i in items))
for i in items:
    k = i["leaseKey"]["S"]
    for a, v in i.items():
        t = next(iter(v))
        if len(v) != 1 or kcl.get(a) != t:
            bad.append("%s: attribute %s of type %s is not the KCL's" % (k, a, t))
    for a in ("leaseCounter", "ownerSwitchesSinceCheckpoint", "checkpoint", "checkpointSubSequenceNumber",
              "startingHashKey", "endingHashKey"):
        if a not in i:
            bad.append("%s: no %s" % (k, a))
    if k in shards and (i.get("startingHashKey", {}).get("S"), i.get("endingHashKey", {}).get("S")) != \
            (shards[k]["StartingHashKey"], shards[k]["EndingHashKey"]):
        bad.append("%s: hash range is not the shard's" % k)
    got = i.get("leaseOwner", {}).get("S", "-")
    if got != owner:
        bad.append("%s: leaseOwner %s, want %s" % (k, got, owner))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
}
sleep 1.5   # a checkpoint interval: both shards' checkpoints written
items running w1
kin_stop "$P" "$T/job.log"
: >"$T/stop.poll"
items stopped -
python3 - "$T" <<'EOF' || { cat "$T/items-stopped.json"; fail "lease values after the stop"; }
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
T = sys.argv[1]
items = {i["leaseKey"]["S"]: i for i in json.load(open(T + "/items-stopped.json"))["Items"]}
last = {}
for r in kin.load(T + "/put.jsonl"):
    last[r["shard"]] = max(last.get(r["shard"], 0), int(r["seq"]))
bad = []
for k, i in items.items():
    v = (i["checkpoint"]["S"], i["checkpointSubSequenceNumber"]["N"], i["ownerSwitchesSinceCheckpoint"]["N"])
    if v != (str(last[k]), "0", "0"):
        bad.append("%s: checkpoint/sub/ownerSwitchesSinceCheckpoint %r, want %r" % (k, v, (str(last[k]), "0", "0")))
c1 = int(items["shardId-000000000001"]["leaseCounter"]["N"])
if c1 <= 41:
    bad.append("shardId-000000000001: leaseCounter %d did not grow" % c1)
# At the take, before sluice's first checkpoint: ownerSwitchesSinceCheckpoint 1, as the KCL's take.
for e in kin.timeline(T + "/timeline.jsonl"):
    l = e["leases"].get("shardId-000000000001", {})
    if l.get("owner") == "w1":
        if l.get("checkpoint") == open(T + "/ck").read() and l.get("switches") not in (None, 1):
            bad.append("take: ownerSwitchesSinceCheckpoint %r, want 1" % l.get("switches"))
        break
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
say "items: KCL names and types only, running (owner w1) and stopped (no owner); checkpoints at each shard's last sequence number"
say "ok"
