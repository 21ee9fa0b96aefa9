#!/bin/sh
# 0014: sluice's KPL aggregation format agrees with AWS's own aws_kinesis_agg library (PyPI,
# awslabs/kinesis-aggregation), the judge. (1) Python aggregates a few hundred random user
# records (empty to ~50 KB data, repeated and unique partition keys, some explicit hash keys) and
# tests/tools/kpl-tool deagg must yield exactly them, in order, with subseq 0..n-1. (2) kpl-tool
# agg aggregates random records and Python's deaggregator must yield exactly them (explicit hash
# keys are checked on the protobuf itself: aws_kinesis_agg 1.2.3 reports the table's first key
# for a record that has none whenever the table is not empty). (3) A record Python did not
# aggregate, and damaged aggregates, pass through with aggregated=false. (4) Hash-range
# filtering: small aggregates with explicit hash keys spread over [0, 2^128-1], at and beside the
# range's ends, and MD5-derived keys, de-aggregated with a sub-range: an aggregate survives whole
# exactly when all its keys are inside (the KCL drops an aggregate at its first stranger), and
# the expectation is computed in Python.
#
# Needs python3 and aws_kinesis_agg (pinned, with protobuf); when they cannot be had the test
# fails, it never skips. KPL_SEED=n replays a run.
. "$(dirname "$0")/lib/common.sh"
needs python3

TOOL="$top_builddir/tests/tools/kpl-tool"
AGG_VERSION=1.2.3
PROTOBUF_VERSION=3.20.3
# aws_kinesis_agg imports six without declaring it.
SIX_VERSION=1.17.0
[ -x "$TOOL" ] || fail "no helper at $TOOL (make tests/tools/kpl-tool)"
py_judge "aws_kinesis_agg.aggregator, aws_kinesis_agg.deaggregator" "aws_kinesis_agg==$AGG_VERSION" "protobuf==$PROTOBUF_VERSION" "six==$SIX_VERSION"

SEED=${KPL_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
say "seed $SEED (replay with KPL_SEED=$SEED), aws_kinesis_agg $(python3 -c 'import importlib.metadata as m; print(m.version("aws_kinesis_agg"))'), protobuf $(python3 -c 'import google.protobuf as p; print(p.__version__)')"

cat >"$T/judge.py" <<'EOF2'
import base64, hashlib, json, random, subprocess, sys

from aws_kinesis_agg import aggregator, deaggregator, messages_pb2
import aws_kinesis_agg

tool, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
MAX = 2**128 - 1
b64 = lambda b: base64.b64encode(b).decode()


def run(mode, lines):
    p = subprocess.run([tool, mode], input="".join(json.dumps(l) + "\n" for l in lines).encode(),
                       capture_output=True)
    if p.returncode != 0:
        sys.exit("kpl-tool %s failed (seed %d): %s" % (mode, seed, p.stderr.decode()[-2000:]))
    return [json.loads(l) for l in p.stdout.decode().splitlines()]


def user_records(n):
    shared = ["pk-%d" % i for i in range(5)] + ["ключ", "鍵"]
    recs = []
    for i in range(n):
        pk = rng.choice(shared) if rng.random() < 0.5 else "u-%d-%d" % (i, rng.getrandbits(32))
        r = rng.random()
        size = 0 if r < 0.1 else rng.randint(45000, 52000) if r < 0.25 else rng.randint(1, 400)
        ehk = str(rng.choice([0, MAX, rng.getrandbits(128)])) if rng.random() < 0.3 else None
        recs.append((pk, ehk, bytes(rng.getrandbits(8) for _ in range(size))))
    return recs


def fail(msg):
    sys.exit("FAIL (seed %d): %s" % (seed, msg))


# (1) Python aggregates, sluice de-aggregates.
recs = user_records(rng.randint(200, 400))
agg = aggregator.RecordAggregator()
kin = []
for pk, ehk, data in recs:
    full = agg.add_user_record(pk, data, ehk)
    if full:
        kin.append(full.get_contents())
kin.append(agg.clear_and_get().get_contents())
lines, expect = [], []
start = 0
for pk, ehk, data in kin:
    line = {"data": b64(data), "pk": pk}
    if ehk:
        line["ehk"] = ehk
    lines.append(line)
    ar = messages_pb2.AggregatedRecord()
    ar.ParseFromString(data[4:-16])
    for i in range(len(ar.records)):
        expect.append((recs[start + i], i))
    start += len(ar.records)
if start != len(recs):
    fail("python aggregated %d of %d records" % (start, len(recs)))
got = run("deagg", lines)
if len(got) != len(recs):
    fail("(1) kpl-tool yielded %d records, python aggregated %d" % (len(got), len(recs)))
for i, (g, ((pk, ehk, data), sub)) in enumerate(zip(got, expect)):
    if (base64.b64decode(g["data"]) != data or g["pk"] != pk or g["ehk"] != ehk or
            g["subseq"] != sub or g["aggregated"] is not True):
        fail("(1) record %d differs: got %r want pk=%r ehk=%r subseq=%d len=%d" %
             (i, {k: (v if k != "data" else len(base64.b64decode(v))) for k, v in g.items()},
              pk, ehk, sub, len(data)))
print("# (1) %d user records in %d python aggregates (%d with an explicit hash key, %d empty, %d "
      "over 40 KB) de-aggregated identically by sluice" %
      (len(recs), len(kin), sum(1 for r in recs if r[1]), sum(1 for r in recs if not r[2]),
       sum(1 for r in recs if len(r[2]) > 40000)))

# (2) sluice aggregates, Python de-aggregates.
recs = user_records(rng.randint(200, 400))
lines = []
for pk, ehk, data in recs:
    line = {"data": b64(data), "pk": pk}
    if ehk:
        line["ehk"] = ehk
    lines.append(line)
outs = run("agg", lines)
n = 0
for o in outs:
    data = base64.b64decode(o["data"])
    if len(data) + len(o["pk"].encode()) > aws_kinesis_agg.MAX_BYTES_PER_RECORD:
        fail("(2) aggregate of %d bytes breaks the 1 MiB limit" % len(data))
    first = recs[n]
    want_ehk = first[1] if first[1] else str(int.from_bytes(hashlib.md5(first[0].encode()).digest(), "big"))
    if o["pk"] != first[0] or o["ehk"] != str(int(want_ehk)):
        fail("(2) outer key pk=%r ehk=%r, want the first record's %r %r" % (o["pk"], o["ehk"], first[0], want_ehk))
    ar = messages_pb2.AggregatedRecord()
    ar.ParseFromString(data[4:-16])
    users = deaggregator.deaggregate_records([{"kinesis": {
        "kinesisSchemaVersion": "1.0", "sequenceNumber": "1", "partitionKey": o["pk"],
        "approximateArrivalTimestamp": 0, "data": o["data"]}}])
    if len(users) != o["count"] or len(ar.records) != o["count"]:
        fail("(2) python read %d records from an aggregate of %d" % (len(users), o["count"]))
    for i, (u, mr) in enumerate(zip(users, ar.records)):
        pk, ehk, data = recs[n]
        k = u["kinesis"]
        has = mr.HasField("explicit_hash_key_index")
        got_ehk = ar.explicit_hash_key_table[mr.explicit_hash_key_index] if has else None
        if (base64.b64decode(k["data"]) != data or k["partitionKey"] != pk or got_ehk != ehk or
                k["subSequenceNumber"] != i or not k["aggregated"] or
                (ehk and k["explicitHashKey"] != ehk)):
            fail("(2) record %d differs: python read pk=%r ehk=%r subseq=%r, sent pk=%r ehk=%r" %
                 (n, k["partitionKey"], got_ehk, k["subSequenceNumber"], pk, ehk))
        n += 1
if n != len(recs):
    fail("(2) python read %d records, sluice was given %d" % (n, len(recs)))
print("# (2) %d user records in %d sluice aggregates de-aggregated identically by aws_kinesis_agg"
      % (n, len(outs)))

# (3) Plain and damaged records pass through untouched.
good = base64.b64decode(outs[0]["data"])
plain = [b"", b"plain text", bytes(rng.getrandbits(8) for _ in range(300)),
         aws_kinesis_agg.MAGIC, aws_kinesis_agg.MAGIC + bytes(16),
         good[:-1] + bytes([good[-1] ^ 1]), good[:len(good) // 2]]
lines = [{"data": b64(p), "pk": "plain-%d" % i, "ehk": "42"} for i, p in enumerate(plain)]
got = run("deagg", lines)
py = deaggregator.deaggregate_records([{"kinesis": {
    "kinesisSchemaVersion": "1.0", "sequenceNumber": "1", "partitionKey": l["pk"],
    "approximateArrivalTimestamp": 0, "data": l["data"]}} for l in lines])
if len(got) != len(plain) or len(py) != len(plain):
    fail("(3) %d plain records gave %d (sluice) and %d (python)" % (len(plain), len(got), len(py)))
for i, (g, p) in enumerate(zip(got, plain)):
    if (base64.b64decode(g["data"]) != p or g["aggregated"] is not False or g["pk"] != "plain-%d" % i
            or g["ehk"] != "42" or g["subseq"] != 0 or base64.b64decode(py[i]["kinesis"]["data"]) != p):
        fail("(3) plain record %d changed: %r" % (i, g))
print("# (3) %d plain or damaged records passed through with aggregated=false, as python does" % len(plain))

# (4) Hash-range filtering.
S = rng.getrandbits(126) + 2**120
E = S + rng.getrandbits(125)
inside = lambda: rng.randint(S, E)
outside = lambda: rng.choice([rng.randint(0, S - 1), rng.randint(E + 1, MAX)])
choices = [lambda: S, lambda: E, lambda: S - 1, lambda: E + 1, lambda: 0, lambda: MAX,
           inside, inside, outside]
lines, expect, kept_aggs, dropped_aggs = [], [], 0, 0
for g in range(150):
    mostly_in = rng.random() < 0.5
    a = aggregator.AggRecord()
    members = []
    for j in range(rng.randint(1, 6)):
        pk = "r-%d-%d" % (g, j)
        if rng.random() < 0.2:
            ehk = None
            h = int.from_bytes(hashlib.md5(pk.encode()).digest(), "big")
        else:
            h = rng.choice([lambda: S, lambda: E, inside]) () if mostly_in else rng.choice(choices)()
            ehk = str(h)
        a.add_user_record(pk, b"data-%d-%d" % (g, j), ehk)
        members.append((pk, ehk, h))
    pk, ehk, data = a.get_contents()
    lines.append({"data": b64(data), "pk": pk, "range": [str(S), str(E)]})
    if all(S <= h <= E for _, _, h in members):
        kept_aggs += 1
        expect.extend((m[0], m[1], i) for i, m in enumerate(members))
    else:
        dropped_aggs += 1
got = run("deagg", lines)
if [(g["pk"], g["ehk"], g["subseq"]) for g in got] != expect:
    fail("(4) range [%d, %d]: sluice kept %d records, python expects %d:\n got %r\nwant %r" %
         (S, E, len(got), len(expect), got[:10], expect[:10]))
# The whole key space keeps everything; a one-key range keeps only aggregates of that key.
full = run("deagg", [dict(l, range=["0", str(MAX)]) for l in lines])
if len(full) != sum(len(messages_pb2.AggregatedRecord.FromString(base64.b64decode(l["data"])[4:-16]).records) for l in lines):
    fail("(4) the full range [0, 2^128-1] dropped records")
print("# (4) range [%d, %d]: %d aggregates kept whole (%d records), %d dropped, as computed in "
      "python; the full range keeps all %d" % (S, E, kept_aggs, len(expect), dropped_aggs, len(full)))
EOF2

python3 "$T/judge.py" "$TOOL" "$SEED" || fail "sluice and aws_kinesis_agg disagree (seed $SEED)"
say "ok"
