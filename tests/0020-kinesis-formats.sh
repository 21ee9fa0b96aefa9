#!/bin/sh
# 0020: the Kinesis sink's message formats, judged by flatc (Debian flatbuffers-compiler) and
# Python's json. tests/tools/kin-format-tool encodes a varied set of records (binary payloads with
# NUL and invalid UTF-8, empty and 200 KB payloads, non-ASCII keys and headers, no key, event times, encryption contexts with several keys, metadata, compression and batch
# size) in FULL_MESSAGE_IN_JSON and FULL_MESSAGE_IN_FB. flatc decodes every FlatBuffer with
# connectors/kinesis/kinesis_message.fbs and also with Pulsar's own schema (the same without
# sluice's key and eventTime), and each field is compared with what was put in; Python parses the
# JSON with Pulsar's field names. Bad encryption headers are refused naming the header.
. "$(dirname "$0")/lib/common.sh"
needs flatc python3

TOOL="$top_builddir/tests/tools/kin-format-tool"
SCHEMA="$top_srcdir/connectors/kinesis/kinesis_message.fbs"
[ -x "$TOOL" ] || fail "no helper at $TOOL (make tests/tools/kin-format-tool)"
SEED=${FMT_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
say "seed $SEED (replay with FMT_SEED=$SEED), $(flatc --version)"

mkdir "$T/enc" "$T/fb" "$T/fbp"
# Pulsar's schema: ours without sluice's two additions.
python3 - "$SCHEMA" "$T/pulsar.fbs" <<'EOF'
import sys
s = open(sys.argv[1]).read()
head, msg = s.split("table Message {", 1)
body, tail = msg.split("}", 1)
body = "".join(l + "\n" for l in body.splitlines() if l.strip() not in ("key:string;", "eventTime:long;")
               and not l.strip().startswith("//"))
open(sys.argv[2], "w").write(head + "table Message {" + body + "}" + tail)
EOF
grep -q eventTime "$T/pulsar.fbs" && fail "could not derive Pulsar's schema"

python3 - "$T" "$SEED" <<'EOF'
import base64, json, random, sys
T, rng = sys.argv[1], random.Random(int(sys.argv[2]))
recs = []
def rnd(n):
    return bytes(rng.getrandbits(8) for _ in range(n))
texts = ["plain", "ключ", "鍵", "quote\"back\\slash", "tab\tnl\n", "emoji \U0001F600"]
for i in range(60):
    r = {"key": None if i % 7 == 3 else rng.choice(texts) + str(i),
         "data_b64": base64.b64encode(b"\x00\xff\xc3\x28" + rnd(rng.randint(0, 300))).decode(),
         "headers": [], "event_time": 0 if i % 5 == 0 else 1700000000000 + i}
    for h in range(rng.randint(0, 5)):
        r["headers"].append(["h%d-%s" % (h, rng.choice(texts)), rng.choice(texts) + str(h)])
    if i % 3 == 0:
        keys = ["key-%d" % j for j in range(rng.randint(1, 3))]
        r["headers"] += [["pulsar.encryption.algorithm", "RSA/ECB/PKCS1Padding"],
                         ["pulsar.encryption.param", base64.b64encode(rnd(12)).decode()]]
        for k in keys:
            r["headers"].append(["pulsar.encryption.key." + k, base64.b64encode(rnd(rng.randint(1, 64))).decode()])
            for m in range(rng.randint(0, 2)):
                r["headers"].append(["pulsar.encryption.key.%s.meta.m%d" % (k, m), "v%d" % m])
        if i % 2 == 0:
            r["headers"] += [["pulsar.encryption.compression", rng.choice(["LZ4", "ZLIB", "NONE", "zstd"])],
                             ["pulsar.encryption.uncompressed-size", str(rng.randint(1, 9999))],
                             ["pulsar.encryption.batch-size", str(rng.randint(1, 50))]]
    recs.append(r)
# Edge cases: an empty payload, a 200 KB payload.
recs.append({"key": "e", "data_b64": "", "headers": [], "event_time": 0})
recs.append({"key": "big", "data_b64": base64.b64encode(rnd(200000)).decode(), "headers": [["x", "y"]], "event_time": 5})
# Bad headers, each refused by name.
bad = [["pulsar.encryption.param", "not base64!"],
       ["pulsar.encryption.batch-size", "many"],
       ["pulsar.encryption.compression", "GZIP"],
       ["pulsar.encryption.key.k.meta.m", "v"],
       ["pulsar.encryption.colour", "blue"]]
for b in bad:
    recs.append({"key": "bad", "data_b64": "", "headers": [b], "event_time": 0, "bad": b[0]})
with open(T + "/in.jsonl", "w") as f:
    for r in recs:
        f.write(json.dumps(r) + "\n")
json.dump(recs, open(T + "/recs.json", "w"))
EOF
"$TOOL" "$T/enc" <"$T/in.jsonl" || fail "kin-format-tool failed"
N=$(wc -l <"$T/in.jsonl")
i=0
while [ "$i" -lt "$N" ]; do
    if [ -f "$T/enc/$i.bin" ]; then
        flatc --json --raw-binary --strict-json --defaults-json -o "$T/fb" "$SCHEMA" -- "$T/enc/$i.bin" >"$T/flatc.err" 2>&1 ||
            { cat "$T/flatc.err"; fail "flatc cannot decode record $i with sluice's schema"; }
        flatc --json --raw-binary --strict-json --defaults-json -o "$T/fbp" "$T/pulsar.fbs" -- "$T/enc/$i.bin" >"$T/flatc.err" 2>&1 ||
            { cat "$T/flatc.err"; fail "flatc cannot decode record $i with Pulsar's schema"; }
    fi
    i=$((i + 1))
done

python3 - "$T" <<'EOF' || fail "the encoded records differ from what was put in (see above)"
import base64, json, os, sys
T = sys.argv[1]
recs = json.load(open(T + "/recs.json"))
errs = []
P = "pulsar.encryption."
def want_ctx(r):
    h = r["headers"]
    if not any(k.startswith(P) for k, _ in h):
        return None
    d = dict(h)
    keys = [k[len(P) + 4:] for k, _ in h if k.startswith(P + "key.") and ".meta." not in k]
    meta = {}
    for k, v in h:
        if k.startswith(P + "key.") and ".meta." in k:
            name, m = k[len(P) + 4:].split(".meta.", 1)
            meta.setdefault(name, {})[m] = v
    return d, keys, meta
for i, r in enumerate(recs):
    base = "%s/enc/%d" % (T, i)
    if "bad" in r:
        if not os.path.exists(base + ".err"):
            errs.append("record %d: bad header %s was accepted" % (i, r["bad"]))
        elif r["bad"] not in open(base + ".err").read():
            errs.append("record %d: the error does not name %s: %s" % (i, r["bad"], open(base + ".err").read()))
        continue
    if os.path.exists(base + ".err"):
        errs.append("record %d refused: %s" % (i, open(base + ".err").read()))
        continue
    data = base64.b64decode(r["data_b64"])
    props = [[k, v] for k, v in r["headers"] if not k.startswith(P)]
    ctx = want_ctx(r)
    # JSON, Pulsar's field names.
    j = json.loads(open(base + ".json", encoding="utf-8").read())
    if base64.b64decode(j["payloadBase64"]) != data:
        errs.append("record %d: JSON payload differs" % i)
    if j["properties"] != dict(props):
        errs.append("record %d: JSON properties %r, want %r" % (i, j["properties"], dict(props)))
    if j.get("key") != r["key"]:
        errs.append("record %d: JSON key %r, want %r" % (i, j.get("key"), r["key"]))
    if j.get("eventTime", 0) != r["event_time"]:
        errs.append("record %d: JSON eventTime %r, want %r" % (i, j.get("eventTime"), r["event_time"]))
    if (ctx is None) != ("encryptionCtx" not in j):
        errs.append("record %d: JSON encryptionCtx presence wrong" % i)
    if ctx:
        d, keys, meta = ctx
        e = j["encryptionCtx"]
        if e["algorithm"] != d[P + "algorithm"] or e["encParamBase64"] != d[P + "param"]:
            errs.append("record %d: JSON algorithm/param differ" % i)
        if e["keysMapBase64"] != {k: d[P + "key." + k] for k in keys} or e["keysMetadataMap"] != meta:
            errs.append("record %d: JSON keys %r / metadata %r" % (i, e["keysMapBase64"], e["keysMetadataMap"]))
        if P + "compression" in d and (e.get("compressionType") != d[P + "compression"].upper() or
                                       e.get("uncompressedMessageSize") != int(d[P + "uncompressed-size"])):
            errs.append("record %d: JSON compression differs: %r" % (i, e))
        if (P + "batch-size" in d) != ("batchSize" in e) or e.get("batchSize", 0) != int(d.get(P + "batch-size", 0)):
            errs.append("record %d: JSON batchSize differs" % i)
    # FlatBuffer, as flatc reads it with both schemas.
    for which, schema_dir, extra in (("sluice", "fb", True), ("Pulsar", "fbp", False)):
        f = json.load(open("%s/%s/%d.json" % (T, schema_dir, i)))
        if bytes(b & 0xFF for b in f.get("payload", [])) != data:
            errs.append("record %d (%s schema): FB payload differs" % (i, which))
        if [[p["key"], p["value"]] for p in f.get("properties", [])] != props:
            errs.append("record %d (%s schema): FB properties %r" % (i, which, f.get("properties")))
        if extra:
            if f.get("key") != r["key"] or f.get("eventTime", 0) != r["event_time"]:
                errs.append("record %d: FB key/eventTime %r %r" % (i, f.get("key"), f.get("eventTime")))
        elif "key" in f or "eventTime" in f:
            errs.append("record %d: Pulsar's schema shows sluice's fields" % i)
        c = f.get("encryptionCtx")
        if (ctx is None) != (c is None):
            errs.append("record %d (%s schema): FB encryptionCtx presence wrong" % (i, which))
        if ctx and c:
            d, keys, meta = ctx
            got = {k["key"]: bytes(b & 0xFF for b in k.get("value", [])) for k in c.get("keys", [])}
            if got != {k: base64.b64decode(d[P + "key." + k]) for k in keys}:
                errs.append("record %d: FB keys differ" % i)
            gm = {k["key"]: {m["key"]: m["value"] for m in k.get("metadata", [])} for k in c.get("keys", []) if k.get("metadata")}
            if gm != meta:
                errs.append("record %d: FB key metadata %r, want %r" % (i, gm, meta))
            if bytes(b & 0xFF for b in c.get("param", [])) != base64.b64decode(d[P + "param"]) or c.get("algo") != d[P + "algorithm"]:
                errs.append("record %d: FB param/algo differ" % i)
            comp = d.get(P + "compression", "NONE").upper()
            if c.get("compressionType") != (comp if comp in ("NONE", "LZ4", "ZLIB") else "NONE"):
                errs.append("record %d: FB compressionType %r for %r" % (i, c.get("compressionType"), comp))
            if c.get("uncompressedMessageSize") != int(d.get(P + "uncompressed-size", 0)):
                errs.append("record %d: FB uncompressedMessageSize differs" % i)
            if c.get("batchSize") != int(d.get(P + "batch-size", 1)) or c.get("isBatchMessage") != (P + "batch-size" in d):
                errs.append("record %d: FB batchSize/isBatchMessage %r %r" % (i, c.get("batchSize"), c.get("isBatchMessage")))
for e in errs[:30]:
    print("  " + e)
print("# %d records: JSON and FlatBuffers (both schemas) hold what was put in; %d bad headers refused by name" %
      (sum(1 for r in recs if "bad" not in r), sum(1 for r in recs if "bad" in r)))
sys.exit(1 if errs else 0)
EOF

say "formats: JSON with Pulsar's fields and FlatBuffers read by flatc with sluice's and Pulsar's schema"
