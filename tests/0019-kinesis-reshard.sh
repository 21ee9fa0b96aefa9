#!/bin/sh
# 0019: resharding while consuming, on kinesis-local (GetRecords names the ChildShards at a
# shard's end) and on kinesalite (it does not: children come from shard discovery). The AWS CLI
# v2 puts records for keys k0..k49 with per-key counters all along, splits shard 0 at the middle
# of its hash range, then merges the split's upper child with shard 1. Three jobs read the stream
# at the same time: lease table in dynalite with CleanupLeasesUponShardCompletion (the default),
# lease table in dynalite keeping finished leases, and the embedded SQLite store. For each:
# per key, the counters come out strictly increasing with none missing; every record of a
# parent shard is out before any record of its children (output line order, across shards);
# each record carries the shard and sequence number put-records answered. The kept lease table
# ends with SHARD_END and childShardIds on every parent, parentShardId on every child, the open
# shards checkpointed at their last sequence numbers, and no owner after the graceful stop; in
# the cleaned one (watched by a 50 ms poller) each parent reached SHARD_END with its children
# named, and was deleted only after all its children had leases.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:kinesis-local peer:kinesalite peer:dynalite
PEER=0019-kinesis-reshard
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
"$SLUICE" config docs | grep -q scan.stream.initpos || fail "this sluice has no kinesis consumer (no scan.stream.initpos)"

KEYS=50
kin_up kinesis-local kinesalite dynalite
DDB=$(cat "$T/dynalite.url")

# calls N: waits until the producer finished N put-records calls in this phase.
calls() {
    _want=$(( $(kin_lines "$T/$peer.produced") + $1 * KEYS ))
    _i=0
    while [ "$(kin_lines "$T/$peer.produced")" -lt "$_want" ]; do
        kin_alive "$PROD" || { cat "$T/$peer.prod.err"; fail "$peer: the producer died"; }
        _i=$((_i + 1)); [ "$_i" -le 300 ] || fail "$peer: the producer is stuck"
        sleep 0.1
    done
}
jobs_alive() {
    kin_alive "$PD" || { tail -n 30 "$T/$peer.ddb.log"; fail "$peer: the dynamodb-store job died"; }
    kin_alive "$PS" || { tail -n 30 "$T/$peer.sql.log"; fail "$peer: the sqlite-store job died"; }
    kin_alive "$PK" || { tail -n 30 "$T/$peer.keep.log"; fail "$peer: the dynamodb-store job keeping leases died"; }
}

# The kept lease table is wrong: the table, the job's last words and what was wrong, last.
lease_table_bad() {
    cat "$T/$peer.leases.json"; echo "# the job's log:"; tail -n 60 "$T/$peer.keep.log"
    cat "$T/$peer.leases.check"; fail "$peer: lease table after resharding"
}

for peer in ${KIN_RESHARD_PEERS:-kinesis-local kinesalite}; do
    KIN=$(cat "$T/$peer.url")
    S=rs
    kin_stream "$KIN" $S 2
    { kin_props kt-ddb w1 $S "$KIN" "$T/$peer.ddb.jsonl" "$T/$peer.ddb.db"
      echo "systems.kin.aws.dynamodb.endpoint=$DDB"
      echo "systems.kin.streams.$S.aws.kcl.LeaseStore=dynamodb"
      echo "systems.kin.streams.$S.aws.kcl.TableName=reshard-$peer"; } >"$T/$peer.ddb.properties"
    { kin_props kt-keep w1 $S "$KIN" "$T/$peer.keep.jsonl" "$T/$peer.keep.db"
      echo "systems.kin.aws.dynamodb.endpoint=$DDB"
      echo "systems.kin.streams.$S.aws.kcl.LeaseStore=dynamodb"
      echo "systems.kin.streams.$S.aws.kcl.CleanupLeasesUponShardCompletion=false"
      echo "systems.kin.streams.$S.aws.kcl.TableName=keep-$peer"; } >"$T/$peer.keep.properties"
    { kin_props kt-sql w1 $S "$KIN" "$T/$peer.sql.jsonl" "$T/$peer.sql.db"
      echo "systems.kin.streams.$S.aws.kcl.LeaseStore=sqlite"; } >"$T/$peer.sql.properties"
    rm -f "$T/stop.poll"
    python3 "$T/kin.py" poll "$DDB" "reshard-$peer" "$T/$peer.timeline" "$T/stop.poll" 2>"$T/$peer.poll.err" &
    POLL=$!; kin_track "$POLL"
    kin_run "$T/$peer.ddb.properties" "$T/$peer.ddb.log"; PD=$KIN_PID
    kin_run "$T/$peer.keep.properties" "$T/$peer.keep.log"; PK=$KIN_PID
    kin_run "$T/$peer.sql.properties" "$T/$peer.sql.log"; PS=$KIN_PID
    python3 "$T/kin.py" produce "$KIN" $S "$T/$peer.produced" "$T/$peer.stop" keys $KEYS 2>"$T/$peer.prod.err" &
    PROD=$!; kin_track "$PROD"

    calls 3; jobs_alive
    read -r P0 MID <<EOF
$(cli "$KIN" kinesis list-shards --stream-name $S | python3 -c '
import json, sys
s = json.load(sys.stdin)["Shards"][0]
r = s["HashKeyRange"]
print(s["ShardId"], (int(r["StartingHashKey"]) + int(r["EndingHashKey"]) + 1) // 2)')
EOF
    cli "$KIN" kinesis split-shard --stream-name $S --shard-to-split "$P0" --new-starting-hash-key "$MID" \
        || fail "$peer: split-shard"
    kin_wait_active "$KIN" $S
    read -r UPPER P1 <<EOF
$(cli "$KIN" kinesis list-shards --stream-name $S | python3 -c '
import json, sys
sh = json.load(sys.stdin)["Shards"]
kids = sorted((int(s["HashKeyRange"]["StartingHashKey"]), s["ShardId"]) for s in sh if s.get("ParentShardId") == sys.argv[1])
assert len(kids) == 2, kids
other = [s["ShardId"] for s in sh if not s.get("ParentShardId") and s["ShardId"] != sys.argv[1]]
print(kids[1][1], other[0])' "$P0")
EOF
    say "$peer: split $P0 at hash key $MID"
    calls 3; jobs_alive
    cli "$KIN" kinesis merge-shards --stream-name $S --shard-to-merge "$UPPER" --adjacent-shard-to-merge "$P1" \
        || fail "$peer: merge-shards"
    kin_wait_active "$KIN" $S
    say "$peer: merged $UPPER with $P1"
    calls 3; jobs_alive
    : >"$T/$peer.stop"
    wait "$PROD" || { cat "$T/$peer.prod.err"; fail "$peer: the producer failed"; }
    cli "$KIN" kinesis list-shards --stream-name $S >"$T/$peer.shards.json"
    kin_wait_covers "$T/$peer.ddb.jsonl" "$T/$peer.produced" 60 "$PD" "$T/$peer.ddb.log"
    kin_wait_covers "$T/$peer.sql.jsonl" "$T/$peer.produced" 60 "$PS" "$T/$peer.sql.log"
    kin_wait_covers "$T/$peer.keep.jsonl" "$T/$peer.produced" 60 "$PK" "$T/$peer.keep.log"
    sleep 2   # a checkpoint interval and more: the SHARD_END and final positions reach the table
    kin_stop "$PD" "$T/$peer.ddb.log"
    kin_stop "$PS" "$T/$peer.sql.log"
    kin_stop "$PK" "$T/$peer.keep.log"
    : >"$T/stop.poll"
    wait "$POLL" || true

    for store in ddb keep sql; do
        python3 - "$T" "$peer" "$store" <<'EOF' || fail "$peer ($store store): wrong output"
import json, sys, collections
sys.path.insert(0, sys.argv[1])
import kin
T, peer, store = sys.argv[1:4]
prod = {r["id"]: r for r in kin.load("%s/%s.produced" % (T, peer))}
got, torn = kin.read_out("%s/%s.%s.jsonl" % (T, peer, store))
shards = json.load(open("%s/%s.shards.json" % (T, peer)))["Shards"]
bad = []
if torn:
    bad.append("torn last line")
last = {}
seen = set()
lines = collections.defaultdict(list)   # shard -> output line numbers
for g in got:
    d = json.loads(g["data"])
    i = "%s:%d" % (d["k"], d["c"])
    r = prod.get(i)
    if r is None:
        bad.append("line %d: %s was never produced" % (g["line"], i)); continue
    if (g["shard"], g["seq"], g["key"]) != (r["shard"], r["seq"], r["key"]):
        bad.append("line %d: %s came as %s/%s, put-records said %s/%s" % (g["line"], i, g["shard"], g["seq"], r["shard"], r["seq"]))
    if d["c"] <= last.get(d["k"], -1):
        bad.append("line %d: %s after counter %d" % (g["line"], i, last[d["k"]]))
    last[d["k"]] = d["c"]
    seen.add(i)
    lines[g["shard"]].append(g["line"])
missing = sorted(set(prod) - seen)
if missing:
    bad.append("%d records missing, e.g. %s" % (len(missing), missing[:8]))
edges = []
for s in shards:
    for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")):
        if p:
            edges.append((p, s["ShardId"]))
            if lines[p] and lines[s["ShardId"]] and max(lines[p]) > min(lines[s["ShardId"]]):
                bad.append("child %s's first record (line %d) is out before parent %s's last (line %d)" %
                           (s["ShardId"], min(lines[s["ShardId"]]), p, max(lines[p])))
for b in bad[:20]:
    print("  " + b)
print("# %s, %s store: %d records of %d keys, counters increasing, none missing; per shard %s; "
      "parents before children on %s" % (peer, store, len(got), len(last),
      ", ".join("%s %d" % (k[-1], len(v)) for k, v in sorted(lines.items())),
      ", ".join("%s->%s" % (p[-1], c[-1]) for p, c in edges)))
sys.exit(1 if bad else 0)
EOF
    done

    # Leases kept (CleanupLeasesUponShardCompletion=false): the table as the job left it.
    ddb_scan "$DDB" "keep-$peer" >"$T/$peer.leases.json" || fail "$peer: scan of the lease table"
    python3 - "$T" "$peer" >"$T/$peer.leases.check" <<'EOF' || lease_table_bad
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
T, peer = sys.argv[1:3]
items = {i["leaseKey"]["S"]: i for i in json.load(open("%s/%s.leases.json" % (T, peer)))["Items"]}
shards = json.load(open("%s/%s.shards.json" % (T, peer)))["Shards"]
last = {}
for r in kin.load("%s/%s.produced" % (T, peer)):
    last[r["shard"]] = max(last.get(r["shard"], 0), int(r["seq"]))
kids = {}
for s in shards:
    for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")):
        if p:
            kids.setdefault(p, set()).add(s["ShardId"])
bad = []
if sorted(items) != sorted(s["ShardId"] for s in shards):
    bad.append("lease keys %s, shards %s" % (sorted(items), sorted(s["ShardId"] for s in shards)))
for s in shards:
    k = s["ShardId"]
    i = items.get(k)
    if i is None:
        continue
    ck = i.get("checkpoint", {}).get("S")
    parents = {p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p}
    if set(i.get("parentShardId", {}).get("SS", [])) != parents:
        bad.append("%s: parentShardId %r, want %r" % (k, i.get("parentShardId"), sorted(parents)))
    if k in kids:
        if ck != "SHARD_END":
            bad.append("%s: parent lease checkpoint %s, want SHARD_END" % (k, ck))
        if set(i.get("childShardIds", {}).get("SS", [])) != kids[k]:
            bad.append("%s: childShardIds %r, want %r" % (k, i.get("childShardIds"), sorted(kids[k])))
    elif k in last and ck != str(last[k]):
        bad.append("%s: open shard checkpoint %s, want its last sequence number %s" % (k, ck, last[k]))
    if "leaseOwner" in i:
        bad.append("%s: still owned by %s after a graceful stop" % (k, i["leaseOwner"]["S"]))
for b in bad:
    print("  " + b)
print("# %s: lease table: %s" % (peer, "; ".join("%s %s%s" % (k[-1], items[k].get("checkpoint", {}).get("S", "?")[:12],
      " -> " + ",".join(sorted(c[-1] for c in items[k]["childShardIds"]["SS"])) if "childShardIds" in items[k] else "")
      for k in sorted(items))))
sys.exit(1 if bad else 0)
EOF
    cat "$T/$peer.leases.check"
    # Leases cleaned up (the default, as the KCL): the poller's history of reshard-$peer. Each
    # parent reached SHARD_END with its children named before its item went away, and went away
    # only once every child had a lease of its own.
    python3 - "$T" "$peer" <<'EOF' || fail "$peer: lease history with CleanupLeasesUponShardCompletion"
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
T, peer = sys.argv[1:3]
shards = json.load(open("%s/%s.shards.json" % (T, peer)))["Shards"]
kids, parents = {}, {}
for s in shards:
    ps = sorted(p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p)
    parents[s["ShardId"]] = ps
    for p in ps:
        kids.setdefault(p, []).append(s["ShardId"])
tl = kin.timeline("%s/%s.timeline" % (T, peer))
bad, gone = [], {}
lastseen = {}
for e in tl:
    L = e["leases"]
    for k, v in L.items():
        lastseen[k] = v
        if v["parents"] != parents.get(k, []):
            bad.append("%s: parentShardId %r, want %r" % (k, v["parents"], parents.get(k)))
    for k in list(lastseen):
        if k not in L and k not in gone:
            gone[k] = e["t"]
            missing = [c for c in kids.get(k, []) if c not in L]
            if k not in kids:
                bad.append("%s: the lease of an open shard was deleted" % k)
            elif missing:
                bad.append("%s: deleted before its children %s had leases" % (k, missing))
for p, cs in sorted(kids.items()):
    v = lastseen.get(p)
    if v is None:
        bad.append("%s: the poller never saw its lease" % p)
    elif v["checkpoint"] != "SHARD_END" or v["children"] != sorted(cs):
        bad.append("%s: last seen with checkpoint %s, childShardIds %r; want SHARD_END, %r" %
                   (p, v["checkpoint"], v["children"], sorted(cs)))
for b in sorted(set(bad))[:20]:
    print("  " + b)
print("# %s: cleanup: %s deleted after SHARD_END and their children's leases; %d table samples" %
      (peer, ", ".join(sorted(k[-1] for k in gone)) or "no lease", len(tl)))
sys.exit(1 if bad else 0)
EOF
    say "$peer: split and merge read in order by three jobs; parents end at SHARD_END with their children named"
done
say "ok"
