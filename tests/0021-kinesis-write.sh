#!/bin/sh
# 0021: the kinesis producer, judged by the AWS CLI v2 reading what sluice wrote into kinesalite.
# (1) Kinesis -> filter -> Kinesis: records put with the CLI into a 4-shard stream, filtered by
# level, written to a 3-shard stream: the CLI finds exactly the kept records (key, bytes), each
# on the shard its key hashes to, each key in put order (order is per input shard: a key's
# records read from one shard keep their order), none twice; the job's checkpoints stand at the
# input's last records. (2) The same with KPL
# aggregation: fewer Kinesis records than user records, each aggregate on the shard all its
# records hash to, and aws_kinesis_agg (the KPL authors' library) de-aggregates exactly the kept
# records in per-key order; sluice's own consumer reads them back the same. (3) Partitioners
# from a file input: fields (Flink's PARTITION BY), fixed, and a C partitioner library built
# here with cc (its open() refusing a bad argument stops the job with its reason). (4) A record
# over 1 MiB is refused with a clear error under task.error.policy=skip and the rest is written.
# (5) messageFormat FULL_MESSAGE_IN_JSON and FULL_MESSAGE_IN_FB: Python and flatc read back the
# kept records with their keys and arrival times.
. "$(dirname "$0")/lib/common.sh"
needs aws flatc python3 sqlite3 peer:kinesalite
PEER=0021-kinesis-write
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"

AGG_VERSION=1.2.3
PROTOBUF_VERSION=3.20.3
# aws_kinesis_agg imports six without declaring it.
SIX_VERSION=1.17.0
py_judge aws_kinesis_agg.deaggregator "aws_kinesis_agg==$AGG_VERSION" "protobuf==$PROTOBUF_VERSION" "six==$SIX_VERSION"
"$SLUICE" config docs | grep -q sink.batch.max-size || fail "this sluice has no kinesis producer (no sink.batch.max-size)"

kin_up kinesalite
KIN=$(cat "$T/kinesalite.url")
SEED=${KIN_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
say "kinesalite $KIN, seed $SEED (replay with KIN_SEED=$SEED)"

# gen.py OUT N SEED: JSON records of 26 keys with a per-key counter; a third are level=info (the
# filter drops them); a few carry explicit hash keys.
cat >"$T/gen.py" <<'EOF'
import json, random, sys
sys.path.insert(0, sys.argv[1])
import kin
out, n, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
keys = ["k%d" % i for i in range(24)] + ["ключ-1", "鍵-2"]
count = {}
recs = []
for i in range(n):
    k = rng.choice(keys)
    count[k] = count.get(k, 0) + 1
    body = {"id": i, "k": k, "n": count[k], "level": "info" if rng.random() < 0.33 else "error",
            "text": "x" * rng.randint(0, 80) + "\"\\\n\u00e9"}
    r = {"id": "r%d" % i, "key": k, "data": json.dumps(body, ensure_ascii=False).encode()}
    if i % 97 == 5:
        r["ehk"] = str(rng.randint(0, 2**128 - 1))
    recs.append(r)
kin.dump(recs, out, "w")
EOF

# job NAME SRC DST EXTRA...: Kinesis SRC -> filter(level = error) -> Kinesis DST.
job() {
    _n=$1 _src=$2 _dst=$3; shift 3
    cat <<P
job.name=$_n
job.id=1
task.inputs=kin.$_src
task.outputs=kout.$_dst
task.operators=errors
task.commit.ms=300ms
job.checkpoint.sqlite.path=$T/$_n.db
operators.errors.type=filter
operators.errors.expr=json_extract(payload, '\$.level') = 'error'
systems.kin.samza.factory=kinesis
systems.kin.aws.region=us-east-1
systems.kin.aws.endpoint=$KIN
systems.kin.aws.credentials.access.key.id=AKIDEXAMPLE
sensitive.systems.kin.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.kin.streams.$_src.scan.stream.initpos=TRIM_HORIZON
systems.kin.streams.$_src.scan.shard.getrecords.intervalmillis=200ms
systems.kin.streams.$_src.aws.kcl.LeaseStore=sqlite
systems.kout.samza.factory=kinesis
systems.kout.aws.endpoint=$KIN
systems.kout.aws.credentials.access.key.id=AKIDEXAMPLE
sensitive.systems.kout.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.kout.streams.$_dst.sink.flush-buffer.timeout=100ms
log.level=info
P
    for _e in "$@"; do echo "$_e"; done
}

# check DST WANT [--deagg] [--agg]: the CLI's reading of DST against the kept records of WANT.
check() {
    python3 - "$T" "$KIN" "$@" <<'EOF' || fail "stream $1 is wrong (see above)"
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
T, url, dst, want_file = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
flags = sys.argv[5:]
deagg = "--deagg" in flags
want = [w for w in kin.load(want_file) if json.loads(w["data"])["level"] == "error"]
got = kin.read_stream(url, dst, deagg=deagg)
sl = kin.shards(url, dst)
errs = []
idx = {}
for w in want:
    idx.setdefault((w["key"], w["data"]), []).append(w)
seen = set()
last = {}
for g in got:
    ws = idx.get((g["key"], g["data"]))
    if not ws:
        errs.append("unexpected record key=%r data=%r" % (g["key"], g["data"][:60]))
        continue
    w = ws[0]
    if w["id"] in seen:
        errs.append("duplicate of %s (key %r)" % (w["id"], g["key"]))
        continue
    seen.add(w["id"])
    # Where it must be: the shard of MD5(key) (GetRecords does not return explicit hash keys,
    # so a record put with one is re-keyed by its partition key alone); for an aggregate the
    # shard its (first record's) hash key names, which must also hold this record's.
    h = kin.hash_of(w["key"])
    s = kin.shard_of(sl, h)
    if s != g["shard"]:
        errs.append("%s (key %r, hash %d) is on %s, its hash key belongs to %s" % (w["id"], w["key"], h, g["shard"], s))
    # Order is a shard's: records of one key read from one input shard keep their put order.
    n = json.loads(w["data"])["n"]
    ok = (w["key"], w["shard"])
    if last.get(ok, 0) >= n:
        errs.append("key %r from %s: record n=%d after n=%d" % (w["key"], w["shard"], n, last[ok]))
    last[ok] = n
missing = [w["id"] for w in want if w["id"] not in seen]
if missing:
    errs.append("%d records missing: %s" % (len(missing), missing[:10]))
if "--agg" in flags:
    outer = {(g["shard"], g["seq"]) for g in got}
    aggs = sum(1 for g in got if g["agg"])
    if aggs == 0 or len(outer) * 5 > len(got):
        errs.append("aggregation expected: %d Kinesis records for %d user records (%d aggregated)" % (len(outer), len(got), aggs))
    print("# %s: %d Kinesis records hold %d user records" % (dst, len(outer), len(got)))
for e in errs[:30]:
    print("  " + e)
if errs:
    sys.exit(1)
print("# %s: the %d kept records of %d, each once, on its shard, in per-key order" % (dst, len(want), len(kin.load(want_file))))
EOF
}

# wait_count DST N SECONDS PID LOG [--deagg]: waits until the CLI reads N records in DST.
wait_count() {
    _end=$(($(date +%s) + $3)) _d=False
    [ "${6:-}" = --deagg ] && _d=True
    while :; do
        _c=$(python3 -c "
import sys; sys.path.insert(0, '$T'); import kin
print(len(kin.read_stream('$KIN', '$1', deagg=$_d)))" 2>"$T/wait.err" || echo 0)
        [ "$_c" -ge "$2" ] && return 0
        kin_alive "$4" || { tail -n 40 "$5"; fail "sluice died with $_c of $2 records in $1"; }
        [ "$(date +%s)" -lt "$_end" ] || { tail -n 40 "$5"; fail "only $_c of $2 records in $1 after $3 s"; }
        sleep 1
    done
}
kept() { python3 -c "
import json, sys; sys.path.insert(0, '$T'); import kin
print(sum(1 for r in kin.load('$1') if json.loads(r['data'])['level'] == 'error'))"; }

# ---- (1) Kinesis -> filter -> Kinesis ------------------------------------------------------------
kin_stream "$KIN" src 4
kin_stream "$KIN" dst 3
python3 "$T/gen.py" "$T" "$T/a.in" 1500 "$SEED"
kpy put "$KIN" src "$T/a.in" "$T/a.put" || fail "put-records into src"
N=$(kept "$T/a.in")
job w1 src dst >"$T/w1.properties"
kin_run "$T/w1.properties" "$T/w1.log"; P=$KIN_PID
wait_count dst "$N" 60 "$P" "$T/w1.log"
sleep 1
kin_stop "$P" "$T/w1.log"
check dst "$T/a.put"
grep -q "wJalrXUtnFEMI" "$T/w1.log" && fail "the secret key appears in the log"
# The input's checkpoints reached the last record of every shard: every record was acknowledged.
python3 - "$T" "$KIN" <<'EOF' || fail "checkpoints do not stand at the input's last records"
import sqlite3, sys
sys.path.insert(0, sys.argv[1])
import kin
put = kin.load(sys.argv[1] + "/a.put")
last = {}
for r in put:
    if r["shard"] not in last or int(r["seq"]) > int(last[r["shard"]]):
        last[r["shard"]] = r["seq"]
db = sqlite3.connect(sys.argv[1] + "/w1.db")
rows = dict(db.execute("select \"partition\", \"offset\" from sluice_checkpoints where system = 'kin' and stream = 'src'").fetchall())
bad = [(s, rows.get(s), q) for s, q in last.items() if rows.get(s) != q]
for b in bad:
    print("  shard %s: checkpoint %s, last record %s" % b)
sys.exit(1 if bad else 0)
EOF
say "(1) Kinesis -> filter -> Kinesis: $N of 1500 records, exactly, per-key order kept"

# ---- (2) KPL aggregation -----------------------------------------------------------------------------
kin_stream "$KIN" dstagg 3
job w2 src dstagg "systems.kout.streams.dstagg.sink.aggregation.enabled=true" \
    "systems.kout.streams.dstagg.sink.aggregation.max-size=8K" >"$T/w2.properties"
kin_run "$T/w2.properties" "$T/w2.log"; P=$KIN_PID
wait_count dstagg "$N" 60 "$P" "$T/w2.log" --deagg
sleep 1
kin_stop "$P" "$T/w2.log"
check dstagg "$T/a.put" --deagg --agg
# sluice's own consumer de-aggregates the same records.
kin_props rb r1 dstagg "$KIN" "$T/back.jsonl" "$T/rb.db" >"$T/rb.properties"
echo "systems.kin.streams.dstagg.aws.kcl.LeaseStore=sqlite" >>"$T/rb.properties"
kin_run "$T/rb.properties" "$T/rb.log"; P=$KIN_PID
kin_wait_lines "$T/back.jsonl" "$N" 60 "$P" "$T/rb.log"
sleep 1
kin_stop "$P" "$T/rb.log"
python3 - "$T" <<'EOF' || fail "sluice's consumer read dstagg differently"
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
want = sorted((w["key"], w["data"]) for w in kin.load(sys.argv[1] + "/a.in") if json.loads(w["data"])["level"] == "error")
got, torn = kin.read_out(sys.argv[1] + "/back.jsonl")
have = sorted((g["key"], g["data"]) for g in got)
if have != want:
    print("  sluice read %d records, %d expected; first difference: %r" % (len(have), len(want),
          next(((a, b) for a, b in zip(have, want) if a != b), None)))
    sys.exit(1)
print("# sluice's consumer: the same %d records from the aggregates" % len(have))
EOF
say "(2) aggregation: aws_kinesis_agg and sluice's consumer find the $N records"

# ---- (3) partitioners from a file input ----------------------------------------------------------------
kin_stream "$KIN" parts 2
python3 -c '
import json
for i in range(300):
    print(json.dumps({"user": "u%d" % (i % 7), "region": ["eu", "us"][i % 2], "i": i}))' >"$T/p.jsonl"
fjob() {
    cat <<P
job.name=$1
task.inputs=files.p
task.outputs=kout.parts
job.checkpoint.sqlite.path=$T/$1.db
systems.files.samza.factory=file
systems.files.streams.p.path=$T/p.jsonl
systems.kout.samza.factory=kinesis
systems.kout.aws.endpoint=$KIN
systems.kout.aws.credentials.access.key.id=AKIDEXAMPLE
sensitive.systems.kout.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.kout.streams.parts.sink.flush-buffer.timeout=100ms
P
    shift
    for _e in "$@"; do echo "$_e"; done
}
fjob f1 "systems.kout.streams.parts.sink.partitioner.fields=user,region" \
    "systems.kout.streams.parts.sink.partitioner-field-delimiter=/" >"$T/f1.properties"
"$SLUICE" run "$T/f1.properties" >"$T/f1.log" 2>&1 || { cat "$T/f1.log"; fail "the fields job failed"; }
fjob f2 "systems.kout.streams.parts.sink.partitioner=fixed" >"$T/f2.properties"
"$SLUICE" run "$T/f2.properties" >"$T/f2.log" 2>&1 || { cat "$T/f2.log"; fail "the fixed job failed"; }
# A C partitioner, built the way a user builds one: the key is "p-" + the payload's user.
cat >"$T/part.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <sluice/partitioner.h>
static sl_err_t part_open(const char *arg, int worker, void **statep, char *errstr, size_t errlen) {
    (void)worker;
    if (strcmp(arg, "p-") != 0) {
        snprintf(errstr, errlen, "expected the prefix p-, got '%s'", arg);
        return SL_ERR_INVAL;
    }
    *statep = (void *)"p-";
    return SL_OK;
}
static sl_err_t part_run(void *state, const sl_record_t *rec, sl_partition_t *out, char *errstr,
                         size_t errlen) {
    size_t len;
    const char *d = sl_record_data(rec, &len), *u = memmem(d, len, "\"user\": \"", 9);
    if (!u) {
        snprintf(errstr, errlen, "no user in the payload");
        return SL_ERR_RECORD;
    }
    u += 9;
    snprintf(out->key, sizeof(out->key), "%s%.*s", (const char *)state,
             (int)strcspn(u, "\""), u);
    return SL_OK;
}
SL_EXPORT const sl_partitioner_plugin_t sluice_partitioner = {
    .abi_version = SL_PARTITIONER_ABI_VERSION, .name = "by-user", .open = part_open,
    .partition = part_run};
C
${CC:-cc} -D_GNU_SOURCE -shared -fPIC -I"$top_srcdir/include" -o "$T/libpart.so" "$T/part.c" \
    || fail "cannot build the partitioner library"
fjob f3 "systems.kout.streams.parts.sink.partitioner=$T/libpart.so" \
    "systems.kout.streams.parts.sink.partitioner.arg=q-" >"$T/f3.properties"
"$SLUICE" run "$T/f3.properties" >"$T/f3.log" 2>&1 && fail "a partitioner refusing its argument did not stop the job"
grep -q "expected the prefix p-, got 'q-'" "$T/f3.log" || { cat "$T/f3.log"; fail "the partitioner's refusal is not reported"; }
# A relative path is found beside the job file, by the check and by the workers alike.
sed -i -e 's/partitioner.arg=q-/partitioner.arg=p-/' -e "s|partitioner=$T/libpart.so|partitioner=libpart.so|" "$T/f3.properties"
grep -q 'partitioner=libpart.so' "$T/f3.properties" || fail "could not make the partitioner path relative"
"$SLUICE" run "$T/f3.properties" >"$T/f3.log" 2>&1 || { cat "$T/f3.log"; fail "the custom partitioner job failed"; }
python3 - "$T" "$KIN" <<'EOF' || fail "partition keys are wrong"
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
got = kin.read_stream(sys.argv[2], "parts")
custom = [g for g in got if g["key"].startswith("p-")]
fields = [g for g in got if g["key"] != "0" and not g["key"].startswith("p-")]
fixed = [g for g in got if g["key"] == "0"]
errs = []
if len(fields) != 300 or len(fixed) != 300 or len(custom) != 300:
    errs.append("%d records keyed by fields, %d by the fixed and %d by the custom partitioner, 300 each expected" % (len(fields), len(fixed), len(custom)))
for g in custom:
    d = json.loads(g["data"])
    if g["key"] != "p-" + d["user"]:
        errs.append("custom: record %d has key %r" % (d["i"], g["key"]))
        break
for g in fields:
    d = json.loads(g["data"])
    if g["key"] != "%s/%s" % (d["user"], d["region"]):
        errs.append("record %d has key %r" % (d["i"], g["key"]))
        break
order = [json.loads(g["data"])["i"] for g in fixed]
if order != sorted(order):
    errs.append("the fixed key's records are not in input order")
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
print("# fields: 300 records keyed user/region; fixed: 300 records keyed 0, in order; custom: 300 keyed p-user")
EOF
say "(3) partitioners: fields (PARTITION BY), fixed and a C library"

# ---- (4) a record over 1 MiB ---------------------------------------------------------------------------
kin_stream "$KIN" big 1
python3 -c '
import json
print(json.dumps({"i": 0}))
print(json.dumps({"i": 1, "pad": "y" * (1024 * 1024)}))
print(json.dumps({"i": 2}))' >"$T/big.jsonl"
cat >"$T/b.properties" <<P
job.name=b
task.inputs=files.big
task.outputs=kout.big
task.error.policy=skip
job.checkpoint.sqlite.path=$T/b.db
systems.files.samza.factory=file
systems.files.streams.big.path=$T/big.jsonl
systems.files.streams.big.max.record.size=2M
systems.kout.samza.factory=kinesis
systems.kout.aws.endpoint=$KIN
systems.kout.aws.credentials.access.key.id=AKIDEXAMPLE
sensitive.systems.kout.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
P
"$SLUICE" run "$T/b.properties" >"$T/b.log" 2>&1 || { cat "$T/b.log"; fail "the oversized-record job failed under task.error.policy=skip"; }
grep -q "over Kinesis' limit of 1 MiB per record" "$T/b.log" || { cat "$T/b.log"; fail "no error naming the 1 MiB limit"; }
c=$(python3 -c "
import sys; sys.path.insert(0, '$T'); import kin
print(len(kin.read_stream('$KIN', 'big')))")
[ "$c" = 2 ] || fail "the stream holds $c records, 2 expected (the oversized one skipped)"
say "(4) a 1 MiB record is refused by name, the others are written"

# ---- (5) message formats, read back by the CLI and judged by Python and flatc ------------------
kin_stream "$KIN" fmtjson 1
kin_stream "$KIN" fmtfb 1
for f in json fb; do
    case $f in json) mf=FULL_MESSAGE_IN_JSON ;; *) mf=FULL_MESSAGE_IN_FB ;; esac
    job "m$f" src "fmt$f" "systems.kout.streams.fmt$f.messageFormat=$mf" >"$T/m$f.properties"
    kin_run "$T/m$f.properties" "$T/m$f.log"; P=$KIN_PID
    wait_count "fmt$f" "$N" 60 "$P" "$T/m$f.log"
    kin_stop "$P" "$T/m$f.log"
done
mkdir "$T/fbout"
python3 - "$T" "$KIN" "$top_srcdir/connectors/kinesis/kinesis_message.fbs" <<'PY' || fail "the formatted records are wrong"
import base64, json, os, subprocess, sys
sys.path.insert(0, sys.argv[1])
import kin
T, url, schema = sys.argv[1:4]
put = kin.load(T + "/a.put")
want = {(r["key"], r["data"]): r for r in put if json.loads(r["data"])["level"] == "error"}
errs = []
# JSON: Pulsar's payloadBase64 and properties, plus key and eventTime (the arrival time).
seen = set()
for g in kin.read_stream(url, "fmtjson"):
    j = json.loads(g["data"])
    k = (j.get("key"), base64.b64decode(j["payloadBase64"]))
    r = want.get(k)
    if r is None:
        errs.append("JSON: unexpected record %r" % (g["data"][:80],))
        continue
    seen.add(k)
    if j["properties"] != {} or g["key"] != r["key"]:
        errs.append("JSON: properties %r / partition key %r for %s" % (j["properties"], g["key"], r["id"]))
    if not r["t0"] - 5 <= j.get("eventTime", 0) <= r["t1"] + 5:
        errs.append("JSON: eventTime %r outside [%d, %d]" % (j.get("eventTime"), r["t0"], r["t1"]))
if len(seen) != len(want):
    errs.append("JSON: %d of %d records" % (len(seen), len(want)))
# FlatBuffers: flatc decodes each with the schema.
seen = set()
for i, g in enumerate(kin.read_stream(url, "fmtfb")):
    path = "%s/fbout/%d.bin" % (T, i)
    open(path, "wb").write(g["data"])
    p = subprocess.run(["flatc", "--json", "--raw-binary", "--strict-json", "-o", T + "/fbout", schema, "--", path],
                       capture_output=True)
    if p.returncode != 0:
        errs.append("flatc cannot decode record %d: %s" % (i, p.stderr.decode()[-300:]))
        break
    f = json.load(open("%s/fbout/%d.json" % (T, i)))
    k = (f.get("key"), bytes(b & 0xFF for b in f.get("payload", [])))
    if k not in want:
        errs.append("FB: unexpected record %r" % (k,))
        continue
    seen.add(k)
if len(seen) != len(want):
    errs.append("FB: %d of %d records" % (len(seen), len(want)))
for e in errs[:20]:
    print("  " + e)
print("# messageFormat: %d records as Pulsar's JSON (read by Python) and FlatBuffers (read by flatc)" % len(want))
sys.exit(1 if errs else 0)
PY
say "(5) FULL_MESSAGE_IN_JSON and FULL_MESSAGE_IN_FB read back by Python and flatc"
