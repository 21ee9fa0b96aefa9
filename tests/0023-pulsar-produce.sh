#!/bin/sh
# 0023: Kinesis -> Pulsar, the job of Pulsar's Kinesis source connector, against a real Pulsar
# standalone broker and kinesalite. The AWS CLI puts 300 records (keys, one non-UTF-8 payload)
# into a 2-shard stream; one sluice job reads it and writes every record to seven Pulsar outputs:
# batched, unbatched, each compression (LZ4, ZLIB, ZSTD, SNAPPY) and a 3-partition topic. The
# official client (pulsar-client wheel, Apache's C++ client) reads each topic back and judges:
# every record exactly once, payload unchanged, key = partition key, event time = arrival time,
# properties named as Pulsar's Kinesis source names them (kinesis.shard.id,
# kinesis.sequence.number, kinesis.partition.key, kinesis.encryption.type,
# kinesis.arrival.timestamp in ISO 8601), and on the partitioned topic each key in the partition
# the Java client's JavaStringHash routing picks (computed here independently). Then the topic
# grows to 5 partitions under the running job (pulsar-admin's REST call): within the refresh
# interval the producer writes to the new partitions too, 100 new keys routed over 5. Then the
# Kinesis checkpoints: written only for what Pulsar acknowledged, so they cover every record.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 sqlite3 peer:kinesalite peer:pulsar
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"

kin_up kinesalite pulsar
KIN=$(cat "$T/kinesalite.url")
PL=$(cat "$T/pulsar.url")
HTTP=$(cat "$T/peers/pulsar.http-url")
say "kinesalite $KIN, pulsar $PL (admin $HTTP)"
pl_client
kin_stream "$KIN" src 2
pl_admin "$HTTP" PUT persistent/public/default/k2p-parted/partitions 3 || fail "cannot create the partitioned topic"

# 300 records: keys k0..k29, JSON payloads, one binary payload.
python3 - "$T/in.jsonl" <<'EOF'
import base64, json, sys
with open(sys.argv[1], "w") as f:
    for i in range(300):
        data = json.dumps({"id": i, "pad": "x" * (i % 50)}).encode() if i != 7 else bytes(range(256))
        f.write(json.dumps({"key": "k%d" % (i % 30), "data": base64.b64encode(data).decode()}) + "\n")
EOF
kpy put "$KIN" src "$T/in.jsonl" "$T/put.jsonl" || fail "put-records failed"

{ kin_props k2p w1 src "$KIN" "$T/unused.jsonl" "$T/ck.db" | grep -v '^task.outputs=\|^systems.out'
  echo "task.outputs=pl.plain,pl.single,pl.lz4,pl.zlib,pl.zstd,pl.snappy,pl.parted"
  echo "systems.pl.samza.factory=pulsar"
  echo "systems.pl.pulsar.service-url=$PL"
  echo "systems.pl.pulsar.producer.batching.max-publish-delay=5ms"
  echo "systems.pl.pulsar.producer.auto-update-partitions-interval=1s"
  for s in plain single lz4 zlib zstd snappy parted; do
      echo "systems.pl.streams.$s.pulsar.topic=persistent://public/default/k2p-$s"
  done
  echo "systems.pl.streams.single.pulsar.producer.batching.enabled=false"
  echo "systems.pl.streams.lz4.pulsar.producer.compression=LZ4"
  echo "systems.pl.streams.zlib.compressionType=ZLIB"
  echo "systems.pl.streams.zstd.pulsar.producer.compression=ZSTD"
  echo "systems.pl.streams.snappy.pulsar.producer.compression=SNAPPY"
} >"$T/job.properties"
kin_run "$T/job.properties" "$T/job.log"; JOB=$KIN_PID

# wait_all N: until every topic has N messages.
wait_all() {
    for s in plain single lz4 zlib zstd snappy parted; do
        i=0
        until [ "$(pl_py read "$PL" "persistent://public/default/k2p-$s" 500 "$T/got-$s.jsonl")" -ge "$1" ]; do
            i=$((i + 1)); kin_alive "$JOB" || { tail -n 30 "$T/job.log"; fail "sluice died"; }
            [ "$i" -le 20 ] || { tail -n 30 "$T/job.log"; fail "k2p-$s has $(kin_lines "$T/got-$s.jsonl") of $1 messages"; }
            sleep 1
        done
    done
}
wait_all 300
# The partitioned topic grows from 3 to 5 partitions; the producer notices within its 1 s.
pl_admin "$HTTP" POST persistent/public/default/k2p-parted/partitions 5 || fail "cannot add partitions"
kin_wait_log "$T/job.log" "grew from 3 to 5 partitions" 1 20 "$JOB"
python3 - "$T/in2.jsonl" <<'EOF'
import base64, json, sys
with open(sys.argv[1], "w") as f:
    for i in range(100):
        f.write(json.dumps({"key": "n%d" % i, "data": base64.b64encode(b"grown %d" % i).decode()}) + "\n")
EOF
kpy put "$KIN" src "$T/in2.jsonl" "$T/put.jsonl" || fail "put-records failed"
wait_all 400
# Checkpoints are written after Pulsar's receipts; give the commit interval a moment.
sleep 2
kin_stop "$JOB" "$T/job.log"
lacks "$T/job.log" " error "

python3 - "$T" <<'EOF' || fail "the official client read something else than what was put"
import base64, json, sys, datetime
T = sys.argv[1]
put = [json.loads(l) for l in open(T + "/put.jsonl")]
want = {(r["shard"], r["seq"]): r for r in put}

def java_hash(s):
    """Java's String.hashCode: 31*h + each UTF-16 unit, as a signed 32-bit int."""
    b = s.encode("utf-16-be")
    h = 0
    for u in (int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2)):
        h = (31 * h + u) & 0xffffffff
    return h - (1 << 32) if h & 0x80000000 else h

bad = 0
for s in ("plain", "single", "lz4", "zlib", "zstd", "snappy", "parted"):
    got = [json.loads(l) for l in open("%s/got-%s.jsonl" % (T, s))]
    seen = {}
    for g in got:
        p = g["props"]
        k = (p.get("kinesis.shard.id"), p.get("kinesis.sequence.number"))
        r = want.get(k)
        problems = []
        if r is None:
            problems.append("no such put record %r" % (k,))
        else:
            if base64.b64decode(g["data"]) != base64.b64decode(r["data"]):
                problems.append("payload differs")
            if g["key"] != r["key"] or p.get("kinesis.partition.key") != r["key"]:
                problems.append("key %r / %r, put %r" % (g["key"], p.get("kinesis.partition.key"), r["key"]))
            if p.get("kinesis.encryption.type") != "NONE":
                problems.append("encryption type %r" % p.get("kinesis.encryption.type"))
            ts = p.get("kinesis.arrival.timestamp", "")
            try:
                t = datetime.datetime.strptime(ts.replace("Z", "+0000"),
                                               "%Y-%m-%dT%H:%M:%S.%f%z" if "." in ts else "%Y-%m-%dT%H:%M:%S%z")
                ms = int(t.timestamp() * 1000 + 0.5)
            except ValueError:
                ms = None
                problems.append("arrival timestamp %r is not ISO 8601" % ts)
            if ms is not None and g["event"] != ms:
                problems.append("event time %r != arrival %r" % (g["event"], ms))
            if ms is not None and not (r["t0"] - 2000 <= ms <= r["t1"] + 2000):
                problems.append("arrival %d outside the put call [%d, %d]" % (ms, r["t0"], r["t1"]))
            if s == "parted":
                h = java_hash(r["key"])
                n = 5 if r["key"].startswith("n") else 3  # the second put came after the growth
                want_part = h % n
                if g["partition"] != want_part:
                    problems.append("key %s in partition %d, JavaStringHash says %d" % (r["key"], g["partition"], want_part))
        seen[k] = seen.get(k, 0) + 1
        if problems:
            bad += 1
            if bad < 10:
                print("FAIL: k2p-%s message %s: %s" % (s, g["id"], "; ".join(problems)))
    dup = sum(1 for v in seen.values() if v > 1)
    missing = len(want) - len(seen.keys() & want.keys())
    if dup or missing:
        bad += 1
        print("FAIL: k2p-%s: %d missing, %d duplicated" % (s, missing, dup))
    print("# k2p-%s: %d messages, %d distinct records" % (s, len(got), len(seen)))
parts = {json.loads(l)["partition"] for l in open("%s/got-parted.jsonl" % T)}
if parts != {0, 1, 2, 3, 4}:
    bad += 1
    print("FAIL: k2p-parted: messages in partitions %s, expected 0-4" % sorted(parts))
sys.exit(1 if bad else 0)
EOF

# The Kinesis checkpoints (local store) stand at the last record of each shard.
python3 - "$T" <<'EOF' || fail "the checkpoints do not cover what Pulsar acknowledged"
import json, sqlite3, sys
T = sys.argv[1]
put = [json.loads(l) for l in open(T + "/put.jsonl")]
last = {}
for r in put:
    last[r["shard"]] = max(last.get(r["shard"], 0), int(r["seq"]))
db = sqlite3.connect(T + "/ck.db")
rows = dict(db.execute('select "partition", "offset" from sluice_checkpoints where system = ?', ("kin",)))
print("# checkpoints: %s" % rows)
ok = all(str(rows.get(s)) == str(q) for s, q in last.items())
sys.exit(0 if ok else 1)
EOF
say "ok"
