#!/bin/sh
# 0016: the kinesis consumer reads what the AWS CLI v2 put into kinesalite, exactly. (1)
# TRIM_HORIZON on a 4-shard stream: every record once, with its payload bytes (binary included),
# partition key, shard id (the one list-shards' hash ranges give for MD5(key), and the one
# put-records answered), sequence number (as put-records answered), arrival time inside the put
# window; sequence numbers increase per shard and each key comes out in put order. (2) A restart
# after SIGTERM goes on after the checkpoint: the new records once, nothing again; KPL aggregates
# built by aws_kinesis_agg come out de-aggregated with subseq 0..n-1 and their user keys. (3)
# LATEST reads nothing put before the job was up (up = the job logged "reading from LATEST" for
# every shard and a probe put into each shard came out). (4) AT_TIMESTAMP between two batches,
# in epoch seconds and in Flink's date format, reads only the second. (5) With the lease table
# in dynalite, a graceful stop leaves one KCL item per shard whose checkpoint is that shard's
# last sequence number, and no owner.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:kinesalite peer:dynalite
PEER=0016-kinesis-read
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"

AGG_VERSION=1.2.3
PROTOBUF_VERSION=3.20.3
# aws_kinesis_agg imports six without declaring it.
SIX_VERSION=1.17.0
py_judge aws_kinesis_agg.aggregator "aws_kinesis_agg==$AGG_VERSION" "protobuf==$PROTOBUF_VERSION" "six==$SIX_VERSION"
"$SLUICE" config docs | grep -q scan.stream.initpos || fail "this sluice has no kinesis consumer (no scan.stream.initpos)"

kin_up kinesalite dynalite
KIN=$(cat "$T/kinesalite.url")
DDB=$(cat "$T/dynalite.url")
SEED=${KIN_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
say "kinesalite $KIN, dynalite $DDB, seed $SEED (replay with KIN_SEED=$SEED)"

# gen.py KIND OUT N: records to put. plain: keys k0..k23 and two non-ASCII keys, payloads of
# text and binary bytes (NUL, newline, quote, backslash, 0x7f-0xff, invalid UTF-8).
cat >"$T/gen.py" <<'EOF'
import json, random, sys, base64
sys.path.insert(0, sys.argv[1])
import kin
kind, out, n, seed = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
keys = ["k%d" % i for i in range(24)] + ["ключ-1", "鍵-2"]
special = b'\x00\n"\\\x7f\x80\xff\xc3\x28\r\t'
recs = []
for i in range(n):
    body = bytes(rng.choice(special) if rng.random() < 0.3 else rng.getrandbits(8)
                 for _ in range(rng.randint(1, 60)))
    recs.append({"id": "%s%d" % (kind, i), "key": rng.choice(keys),
                 "data": ("%s%d|" % (kind, i)).encode() + body})
kin.dump(recs, out, "w")
EOF
gen() { python3 "$T/gen.py" "$T" "$1" "$T/$1.in" "$2" "$((SEED + ${3:-0}))"; }
# put NAME STREAM: puts $T/NAME.in with the CLI; what came back is in $T/NAME.put.
put() { kpy put "$KIN" "$2" "$T/$1.in" "$T/$1.put" || fail "put-records of $1"; }
shards() { cli "$KIN" kinesis list-shards --stream-name "$1" >"$T/$1.shards.json"; }
# check OUT EXPECTED... [--from N] [--probes]: check_out over the expected files.
check() {
    python3 - "$T" "$@" <<'EOF' || fail "output $2 is wrong (see above)"
import sys, json
sys.path.insert(0, sys.argv[1])
import kin
out, args = sys.argv[2], sys.argv[3:]
frm, probes, shardfile, want = 0, False, None, []
while args:
    a = args.pop(0)
    if a == "--from": frm = int(args.pop(0))
    elif a == "--probes": probes = True
    elif a == "--shards": shardfile = args.pop(0)
    else: want += kin.load(a)
got, torn = kin.read_out(out)
got = got[frm:]
sl = json.load(open(shardfile))["Shards"] if shardfile else None
errs = kin.check_out(got, want, sl, ignore=(lambda r: (r["key"] or "").startswith("probe-")) if probes else (lambda r: False))
if torn:
    errs.append("the last line is torn")
for e in errs[:30]:
    print("  " + e)
if errs:
    sys.exit(1)
print("# %s: %d records as expected (%d from line %d on)" % (out.split("/")[-1], len(want), len(got), frm))
EOF
}

# ---- (1) TRIM_HORIZON -------------------------------------------------------------------------
kin_stream "$KIN" rd 4
shards rd
gen a1 150 1; put a1 rd
gen a2 90 2; put a2 rd
kin_props kt w1 rd "$KIN" "$T/out1.jsonl" "$T/w1.db" >"$T/job1.properties"
kin_run "$T/job1.properties" "$T/job1.log"; P1=$KIN_PID
kin_wait_covers "$T/out1.jsonl" "$T/a1.put" 30 "$P1" "$T/job1.log"
kin_wait_covers "$T/out1.jsonl" "$T/a2.put" 30 "$P1" "$T/job1.log"
sleep 1
kin_stop "$P1" "$T/job1.log"
check "$T/out1.jsonl" "$T/a1.put" "$T/a2.put" --shards "$T/rd.shards.json"
say "(1) TRIM_HORIZON: 240 records, metadata, per-shard and per-key order as put"

# ---- (2) restart after SIGTERM, KPL aggregates --------------------------------------------------
gen b 60 3; put b rd
# Aggregates, one per shard, of user records whose keys hash into that shard (two of them with
# an explicit hash key inside the shard's range instead).
python3 - "$T" "$T/rd.shards.json" "$T/agg.in" "$T/agg.meta" "$SEED" <<'EOF'
import json, random, sys
sys.path.insert(0, sys.argv[1])
import kin
from aws_kinesis_agg import aggregator
sl = json.load(open(sys.argv[2]))["Shards"]
rng = random.Random(int(sys.argv[5]))
outer, meta = [], []
for si, s in enumerate(sl):
    lo, hi = int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])
    a = aggregator.AggRecord()
    users, j = [], 0
    while len(users) < 5 + 3 * si:
        key = "agg-%d-%d" % (si, j); j += 1
        if not lo <= kin.hash_of(key) <= hi:
            continue
        ehk = str(rng.randint(lo, hi)) if len(users) in (2, 3) else None
        data = b"kpl-%d-%d|" % (si, len(users)) + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40)))
        a.add_user_record(key, data, ehk)
        users.append({"key": key, "ehk": ehk, "data": data})
    pk, ehk, data = a.get_contents()
    outer.append({"id": "agg%d" % si, "key": pk, "ehk": ehk or None, "data": data})
    meta.append(users)
kin.dump(outer, sys.argv[3], "w")
json.dump([[dict(u, data=u["data"].hex()) for u in us] for us in meta], open(sys.argv[4], "w"))
EOF
put agg rd
# The expected user records: each aggregate's, sharing its shard, sequence number and window.
python3 - "$T" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
T = sys.argv[1]
outer = kin.load(T + "/agg.put")
meta = json.load(open(T + "/agg.meta"))
want = []
for o, users in zip(outer, meta):
    for i, u in enumerate(users):
        want.append(dict(o, id="%s.%d" % (o["id"], i), key=u["key"], ehk=u["ehk"], sub=i,
                         data=bytes.fromhex(u["data"]), outer_key=o["key"], outer_ehk=o.get("ehk")))
kin.dump(want, T + "/agg.want", "w")
print("# %d KPL aggregates holding %d user records" % (len(outer), len(want)))
EOF
before=$(kin_lines "$T/out1.jsonl")
kin_run "$T/job1.properties" "$T/job1b.log"; P1=$KIN_PID
kin_wait_covers "$T/out1.jsonl" "$T/b.put" 30 "$P1" "$T/job1b.log"
kin_wait_covers "$T/out1.jsonl" "$T/agg.want" 30 "$P1" "$T/job1b.log"
sleep 1
kin_stop "$P1" "$T/job1b.log"
check "$T/out1.jsonl" "$T/b.put" "$T/agg.want" --from "$before" --shards "$T/rd.shards.json"
check "$T/out1.jsonl" "$T/a1.put" "$T/a2.put" "$T/b.put" "$T/agg.want"
python3 - "$T" "$before" <<'EOF' || fail "KPL sub-sequence numbers"
import sys
sys.path.insert(0, sys.argv[1])
import kin
got, _ = kin.read_out(sys.argv[1] + "/out1.jsonl")
by = {}
for g in got[int(sys.argv[2]):]:
    if g["key"].startswith("agg-"):
        by.setdefault(g["seq"], []).append(g["sub"])
bad = {s: v for s, v in by.items() if v != list(range(len(v)))}
if bad or len(by) != 4:
    sys.exit("aggregates %r: subseq not 0..n-1 in order" % (bad or by))
print("# KPL: %d aggregates de-aggregated, subseq 0..n-1 each (%s)" % (len(by), ", ".join(str(len(v)) for v in by.values())))
EOF
say "(2) restart after SIGTERM: only the 60 new records and the KPL user records, once"

# ---- (3) LATEST ------------------------------------------------------------------------------------
kin_stream "$KIN" lt 4
shards lt
gen p 40 4; put p lt
{ kin_props kt w1 lt "$KIN" "$T/out3.jsonl" "$T/w3.db"; echo "systems.kin.streams.lt.scan.stream.initpos=LATEST"; } >"$T/job3.properties"
t0=$(now_ms)
kin_run "$T/job3.properties" "$T/job3.log"; P3=$KIN_PID
kin_wait_log "$T/job3.log" "reading from LATEST" 4 30 "$P3"
t1=$(now_ms)
probes=$(kpy probe "$KIN" lt "$T/out3.jsonl" 30) || { tail -n 30 "$T/job3.log"; fail "LATEST: the probes did not come out"; }
t2=$(now_ms)
say "LATEST: 4 shards logged 'reading from LATEST' $((t1 - t0)) ms after start; probes out of every shard after $((t2 - t1)) ms ($probes round(s))"
gen q 80 5; put q lt
kin_wait_covers "$T/out3.jsonl" "$T/q.put" 30 "$P3" "$T/job3.log"
sleep 1
kin_stop "$P3" "$T/job3.log"
check "$T/out3.jsonl" "$T/q.put" --probes --shards "$T/lt.shards.json"
say "(3) LATEST: none of the 40 records put before, all 80 put after"

# ---- (4) AT_TIMESTAMP ------------------------------------------------------------------------------
kin_stream "$KIN" ts 4
gen t1 50 6; put t1 ts
sleep 1.5
TS=$(now_ms)
sleep 1.5
gen t2 50 7; put t2 ts
python3 - "$T" "$TS" <<'EOF' || fail "the batches are not on both sides of the timestamp"
import sys
sys.path.insert(0, sys.argv[1])
import kin
ts = int(sys.argv[2])
a, b = kin.load(sys.argv[1] + "/t1.put"), kin.load(sys.argv[1] + "/t2.put")
assert max(r["t1"] for r in a) < ts - 1000 and min(r["t0"] for r in b) > ts + 1000
EOF
EPOCH=$(python3 -c "print('%d.%03d' % divmod($TS, 1000))")
DATE=$(python3 -c "
import datetime
d = datetime.datetime.fromtimestamp($TS / 1000, datetime.timezone(datetime.timedelta(hours=2)))
print(d.strftime('%Y-%m-%dT%H:%M:%S.') + '%03d' % ($TS % 1000) + '+02:00')")
for form in epoch date; do
    if [ $form = epoch ]; then v=$EPOCH; else v=$DATE; fi
    { kin_props kt-$form w1 ts "$KIN" "$T/out4-$form.jsonl" "$T/w4-$form.db"
      echo "systems.kin.streams.ts.scan.stream.initpos=AT_TIMESTAMP"
      echo "systems.kin.streams.ts.scan.stream.initpos-timestamp=$v"; } >"$T/job4-$form.properties"
    kin_run "$T/job4-$form.properties" "$T/job4-$form.log"; P4=$KIN_PID
    kin_wait_covers "$T/out4-$form.jsonl" "$T/t2.put" 30 "$P4" "$T/job4-$form.log"
    sleep 1
    kin_stop "$P4" "$T/job4-$form.log"
    check "$T/out4-$form.jsonl" "$T/t2.put"
    say "(4) AT_TIMESTAMP $v: only the 50 records after it"
done

# ---- (5) the lease table in dynalite ---------------------------------------------------------------
kin_stream "$KIN" dd 4
gen d 80 8; put d dd
{ kin_props kt w1 dd "$KIN" "$T/out5.jsonl" "$T/w5.db"
  echo "systems.kin.aws.dynamodb.endpoint=$DDB"
  echo "systems.kin.streams.dd.aws.kcl.LeaseStore=dynamodb"
  echo "systems.kin.streams.dd.aws.kcl.TableName=kt-leases-16"; } >"$T/job5.properties"
kin_run "$T/job5.properties" "$T/job5.log"; P5=$KIN_PID
kin_wait_covers "$T/out5.jsonl" "$T/d.put" 30 "$P5" "$T/job5.log"
sleep 1
kin_stop "$P5" "$T/job5.log"
check "$T/out5.jsonl" "$T/d.put"
ddb_scan "$DDB" kt-leases-16 >"$T/leases5.json" || fail "cannot scan the lease table kt-leases-16"
python3 - "$T" <<'EOF' || { cat "$T/leases5.json"; fail "lease table after a graceful stop"; }
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
T = sys.argv[1]
items = {i["leaseKey"]["S"]: i for i in json.load(open(T + "/leases5.json"))["Items"]}
last = {}
for r in kin.load(T + "/d.put"):
    if r["shard"] not in last or int(r["seq"]) > int(last[r["shard"]]):
        last[r["shard"]] = r["seq"]
kcl = {"leaseKey": "S", "leaseOwner": "S", "leaseCounter": "N", "ownerSwitchesSinceCheckpoint": "N",
       "checkpoint": "S", "checkpointSubSequenceNumber": "N", "pendingCheckpoint": "S",
       "pendingCheckpointSubSequenceNumber": "N", "pendingCheckpointState": "B",
       "parentShardId": "SS", "childShardIds": "SS", "startingHashKey": "S", "endingHashKey": "S"}
bad = []
if sorted(items) != sorted(last) or len(items) != 4:
    bad.append("lease keys %s, shards %s" % (sorted(items), sorted(last)))
for k, i in sorted(items.items()):
    types = {a: next(iter(v)) for a, v in i.items()}
    for a, t in types.items():
        if kcl.get(a) != t:
            bad.append("%s: attribute %s of type %s is not the KCL's" % (k, a, t))
    for a in ("leaseKey", "leaseCounter", "ownerSwitchesSinceCheckpoint", "checkpoint", "checkpointSubSequenceNumber"):
        if a not in i:
            bad.append("%s: no %s" % (k, a))
    if "leaseOwner" in i:
        bad.append("%s: still owned by %s after a graceful stop" % (k, i["leaseOwner"]["S"]))
    ck = i.get("checkpoint", {}).get("S")
    if k in last and (ck != last[k] or i.get("checkpointSubSequenceNumber", {}).get("N") != "0"):
        bad.append("%s: checkpoint %s/%s, last sequence number %s/0" % (k, ck, i.get("checkpointSubSequenceNumber"), last[k]))
for b in bad:
    print("  " + b)
if bad:
    sys.exit(1)
print("# lease table: %d KCL items, checkpoint = last sequence number of each shard, no owner" % len(items))
EOF
say "(5) DynamoDB lease store: checkpoints at the last sequence numbers, leases released"
say "ok"
