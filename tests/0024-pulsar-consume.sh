#!/bin/sh
# 0024: Pulsar -> Kinesis, the job of Pulsar's Kinesis sink connector, against a real Pulsar
# standalone broker and kinesalite. The official client (pulsar-client wheel) produces 600
# numbered messages with keys, properties and event times into a 2-partition topic: half
# batched with ZSTD, half one by one with LZ4. A sluice job subscribes and writes every message
# to three Kinesis streams, ONLY_RAW_PAYLOAD, FULL_MESSAGE_IN_JSON and FULL_MESSAGE_IN_FB (each
# FlatBuffer decoded by flatc with Pulsar's schema), through a proxy that first
# fails every PutRecords with 5xx: while Kinesis has nothing, the subscription's backlog (the
# broker's count of unacknowledged entries) does not move, so acks follow Kinesis'
# acknowledgements. Then the proxy passes: the AWS CLI reads both streams (every message once,
# key = message key, JSON with the properties, key and event time as Pulsar's sink writes them)
# and the backlog drops to 0. Then a second run on a Shared subscription (individual acks).
. "$(dirname "$0")/lib/common.sh"
needs aws curl flatc python3 peer:kinesalite peer:pulsar
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"

PROXY="$top_srcdir/tests/tools/kinesis_proxy.py"
kin_up kinesalite pulsar
KIN=$(cat "$T/kinesalite.url")
PL=$(cat "$T/pulsar.url")
HTTP=$(cat "$T/peers/pulsar.http-url")
say "kinesalite $KIN, pulsar $PL"
pl_client
kin_stream "$KIN" raw 2
kin_stream "$KIN" full 1
kin_stream "$KIN" fb 1
TOPIC=persistent://public/default/p2k
pl_admin "$HTTP" PUT persistent/public/default/p2k/partitions 2 || fail "cannot create $TOPIC"

PPORT=$(free_port)
echo "error5xx" >"$T/fault"
python3 "$PROXY" --listen "$PPORT" --upstream "$KIN" --control "$T/fault" --log "$T/proxy.log" \
    --stats "$T/proxy.stats" >"$T/proxy.out" 2>&1 &
kin_track $!
PURL=http://127.0.0.1:$PPORT
wait_for 10 curl -sf -o /dev/null "$PURL/__stats" || { cat "$T/proxy.out"; fail "the fault proxy did not start"; }

pl_py produce "$PL" "$TOPIC" 300 "$T/sent.jsonl" batch ZSTD || fail "produce (batched)"
pl_py produce "$PL" "$TOPIC" 300 "$T/sent2.jsonl" nobatch LZ4 || fail "produce (one by one)"

job() { # job NAME SUBTYPE
    cat <<P
job.name=$1
task.inputs=pl.p2k
task.outputs=kout.raw,kout.full,kout.fb
task.commit.ms=300ms
job.checkpoint.sqlite.path=$T/$1.db
systems.pl.samza.factory=pulsar
systems.pl.pulsar.service-url=$PL
systems.pl.streams.p2k.pulsar.topic=$TOPIC
systems.pl.streams.p2k.subscriptionName=$1-sub
systems.pl.streams.p2k.subscriptionType=$2
systems.pl.streams.p2k.pulsar.subscription.initial-position=Earliest
systems.kout.samza.factory=kinesis
systems.kout.aws.region=us-east-1
systems.kout.aws.endpoint=$PURL
systems.kout.aws.credentials.access.key.id=AKIDEXAMPLE
systems.kout.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.kout.streams.raw.sink.message-format=ONLY_RAW_PAYLOAD
systems.kout.streams.full.messageFormat=FULL_MESSAGE_IN_JSON
systems.kout.streams.fb.messageFormat=FULL_MESSAGE_IN_FB
systems.kout.streams.raw.sink.retry.backoff.max=300ms
systems.kout.streams.full.sink.retry.backoff.max=300ms
# Order per key is not what this test is about: without it, few keys need fewer round trips.
systems.kout.sink.keep-key-order=false
log.level=info
P
}
job p2k Exclusive >"$T/p2k.properties"
kin_run "$T/p2k.properties" "$T/p2k.log"; JOB=$KIN_PID

# Kinesis refuses everything: nothing may be acked.
i=0
until grep -q '"requests_5xx": [1-9]' "$T/proxy.stats" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -le 100 ] || { tail -n 20 "$T/p2k.log"; fail "the sink never tried Kinesis"; }
    sleep 0.1
done
# (The broker counts the backlog in entries: a batch is one.)
b1=$(pl_py backlog "$HTTP" "$TOPIC" p2k-sub)
sleep 3
b=$(pl_py backlog "$HTTP" "$TOPIC" p2k-sub)
say "while Kinesis fails every PutRecords: backlog $b1, 3 s later $b entries ($(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests_5xx"])' "$T/proxy.stats") requests refused)"
[ "$b" = "$b1" ] && [ "$b" -gt 300 ] || fail "the backlog moved ($b1 -> $b) while Kinesis acknowledged nothing"

echo pass >"$T/fault"
i=0
until [ "$(pl_py backlog "$HTTP" "$TOPIC" p2k-sub)" = 0 ]; do
    i=$((i + 1)); kin_alive "$JOB" || { tail -n 30 "$T/p2k.log"; fail "sluice died"; }
    [ "$i" -le 60 ] || { tail -n 30 "$T/p2k.log"; fail "backlog still $(pl_py backlog "$HTTP" "$TOPIC" p2k-sub) after Kinesis recovered"; }
    sleep 0.5
done
say "after Kinesis recovered: backlog 0 after $((i / 2)) s"
kin_stop "$JOB" "$T/p2k.log"

python3 - "$T" "$KIN" <<'EOF' || fail "Kinesis holds something else than what the official client produced"
import base64, json, sys
T, url = sys.argv[1], sys.argv[2]
sys.path.insert(0, T)
import kin
sent = [json.loads(l) for l in open(T + "/sent.jsonl")] + [json.loads(l) for l in open(T + "/sent2.jsonl")]
want = {}
for j, s in enumerate(sent):
    want.setdefault((s["id"], s["key"]), []).append(s)
bad = 0
raw = kin.read_stream(url, "raw")
full = kin.read_stream(url, "full")
def check(name, recs, decode):
    global bad
    seen = {}
    for r in recs:
        d = decode(r)
        k = (d["id"], r["key"])
        seen[k] = seen.get(k, 0) + 1
        if k not in want:
            bad += 1
            print("FAIL: %s: unexpected record %r key %r" % (name, d, r["key"]))
    missing = [k for k in want if k not in seen]
    # Each (id, key) was sent twice (once per half); duplicates beyond that are redeliveries.
    extra = sum(max(0, v - len(want[k])) for k, v in seen.items() if k in want)
    short = sum(max(0, len(want[k]) - v) for k, v in seen.items() if k in want)
    print("# %s: %d records, %d missing, %d short, %d duplicates" % (name, len(recs), len(missing), short, extra))
    if missing or short:
        bad += 1
def full_decode(r):
    m = json.loads(r["data"])
    p = base64.b64decode(m["payloadBase64"])
    d = json.loads(p)
    if m.get("key") != r["key"] or "n" not in m.get("properties", {}) or int(m["properties"]["n"]) != d["id"]:
        raise SystemExit("FAIL: full: bad message %r" % m)
    if not isinstance(m.get("eventTime"), int):
        raise SystemExit("FAIL: full: no eventTime in %r" % m)
    return d
fb = kin.read_stream(url, "fb")
import os, subprocess
os.makedirs(T + "/fbin", exist_ok=True)
os.makedirs(T + "/fbout", exist_ok=True)
for i, r in enumerate(fb):
    open("%s/fbin/%d.bin" % (T, i), "wb").write(r["data"])
# Pulsar's schema: sluice's without its two additions (key, eventTime).
schema = open(os.environ["top_srcdir"] + "/connectors/kinesis/kinesis_message.fbs").read()
head, msg = schema.split("table Message {", 1)
body, tail = msg.split("}", 1)
body = "\n".join(l for l in body.splitlines() if l.strip() not in ("key:string;", "eventTime:long;"))
open(T + "/pulsar.fbs", "w").write(head + "table Message {" + body + "\n}" + tail)
subprocess.run(["flatc", "--json", "--raw-binary", "--strict-json", "-o", T + "/fbout", T + "/pulsar.fbs", "--"] +
               ["%s/fbin/%d.bin" % (T, i) for i in range(len(fb))], check=True, stderr=subprocess.DEVNULL)
def fb_decode(r):
    m = json.load(open("%s/fbout/%d.json" % (T, r["i"])))
    d = json.loads(bytes(b & 0xff for b in m["payload"]))
    props = {kv["key"]: kv["value"] for kv in m.get("properties", [])}
    if int(props.get("n", -1)) != d["id"]:
        raise SystemExit("FAIL: fb: bad message %r" % m)
    return d
for i, r in enumerate(fb):
    r["i"] = i
check("raw", raw, lambda r: json.loads(r["data"]))
check("full", full, full_decode)
check("fb (flatc, Pulsar's schema)", fb, fb_decode)
print("# a FULL_MESSAGE_IN_JSON record: %s" % full[0]["data"].decode()[:200])
sys.exit(1 if bad else 0)
EOF

# A Shared subscription acks one by one: the backlog drops to 0 as well.
job p2k-shared Shared >"$T/shared.properties"
kin_run "$T/shared.properties" "$T/shared.log"; JOB=$KIN_PID
i=0
until [ "$(pl_py backlog "$HTTP" "$TOPIC" p2k-shared-sub)" = 0 ]; do
    i=$((i + 1)); kin_alive "$JOB" || { tail -n 30 "$T/shared.log"; fail "sluice died (Shared)"; }
    [ "$i" -le 60 ] || { tail -n 30 "$T/shared.log"; fail "Shared subscription backlog $(pl_py backlog "$HTTP" "$TOPIC" p2k-shared-sub)"; }
    sleep 0.5
done
kin_stop "$JOB" "$T/shared.log"
say "Shared subscription: backlog 0"
lacks "$T/p2k.log" " error "
say "ok"
