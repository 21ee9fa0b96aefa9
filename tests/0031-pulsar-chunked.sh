#!/bin/sh
# 0031: chunked messages from a real Pulsar standalone broker. Producers of the official client
# (pulsar-client wheel) with chunking enabled split every message larger than the broker's
# limit (set to 256 KiB here, so chunks are many) into chunks, one entry each; a consumer must
# join them again. Two producers, on two connections, send 6 messages of 0.6-2.5 MB (LZ4 and
# uncompressed) at the same moments while a third sends small ones, so chunks of different
# messages interleave in the topic. A sluice job writes
# every message to a file: each once, whole, byte for byte (SHA-256 of every line against what
# was sent), in each producer's order; the subscription's backlog (in entries, i.e. chunks)
# drops to 0, so every chunk was acked. Twice: Exclusive (cumulative acks) and Shared
# (individual acks). Before the fix every chunk came out as a record of its own.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:pulsar
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"

PULSAR_MAX_MESSAGE_SIZE=262144; export PULSAR_MAX_MESSAGE_SIZE
kin_up pulsar
PL=$(cat "$T/pulsar.url")
HTTP=$(cat "$T/peers/pulsar.http-url")
say "pulsar $PL"
pl_client
TOPIC=persistent://public/default/chunky

# Interleaving depends on timing: a round whose chunks happen to come out one message after the
# other is followed by another (at most 3).
round=0
while :; do
round=$((round + 1))
"$PL_PY" - "$PL" "$TOPIC" "$T/sent.jsonl" "$round" <<'EOF' || fail "the official client could not produce chunked messages"
import base64, hashlib, json, random, sys, threading, pulsar
url, topic, out, rnd_no = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sent, errors, lock = [], [], threading.Lock()
MB = 1 << 20
bigs = {1: (pulsar.CompressionType.LZ4, [int(1.5 * MB), int(2.5 * MB), int(0.6 * MB)]),
        2: (pulsar.CompressionType.NONE, [1 * MB, 2 * MB, int(1.8 * MB)])}
both = threading.Barrier(2)
done = threading.Event()

def note(pid, seq, data):
    with lock:
        sent.append({"p": pid, "seq": rnd_no * 1000 + seq, "len": len(data),
                     "sha": hashlib.sha256(data).hexdigest()})

def client():
    return pulsar.Client(url, operation_timeout_seconds=60,
                         logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error))

def big(pid):
    # Producers 1 and 2 send their large messages at the same moments, on connections of their
    # own; producer 3 sends small ones meanwhile: their entries fall between chunks.
    rnd = random.Random(pid * 1000 + rnd_no)
    compression, sizes = bigs[pid]
    c = client()
    p = c.create_producer(topic, producer_name="chunky-%d-%d" % (pid, rnd_no), chunking_enabled=True,
                          batching_enabled=False, compression_type=compression,
                          send_timeout_millis=120000)
    for seq, size in enumerate(sizes):
        # base64 of random bytes: text (one line in the file) LZ4 leaves above the limit.
        data = base64.b64encode(rnd.randbytes(size * 3 // 4))
        note(pid, seq, data)
        both.wait()
        p.send(data)
    c.close()

def small():
    rnd = random.Random(3000 + rnd_no)
    c = client()
    p = c.create_producer(topic, producer_name="chunky-3-%d" % rnd_no, batching_enabled=False)
    seq = 0
    while not done.is_set() or seq < 20:
        data = ("small %d.%d %s" % (rnd_no, seq, rnd.random())).encode()
        note(3, seq, data)
        p.send(data)
        seq += 1
    c.close()

ts = [threading.Thread(target=big, args=(1,)), threading.Thread(target=big, args=(2,))]
s = threading.Thread(target=small)
s.start()
for t in ts:
    t.start()
for t in ts:
    t.join()
done.set()
s.join()
with open(out, "a") as f:
    for x in sent:
        f.write(json.dumps(x) + "\n")
EOF
# The topic's layout, read back by the official client: a chunked message's id names its first
# and last chunk ("(l,e,-1,-1);(l,e,-1,-1)"). Chunks must be there, and interleaved with other
# entries, or this test would not test what it says.
"$PL_PY" - "$PL" "$TOPIC" "$round" <<'EOF' >"$T/layout" && break
import sys, pulsar
c = pulsar.Client(sys.argv[1], logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error))
r = c.create_reader(sys.argv[2], pulsar.MessageId.earliest)
spans = []
while True:
    try:
        m = r.read_next(5000)
    except Exception:
        break
    ids = [tuple(int(x) for x in part.strip("()").split(",")[:2]) for part in str(m.message_id()).split(";")]
    spans.append((ids[0], ids[-1]))
c.close()
chunked = [s for s in spans if s[0] != s[1]]
inter = sum(1 for a in chunked if any(b is not a and a[0] < b[1] < a[1] for b in spans))
print("%d messages, %d chunked; %d of them with other entries between their first and last chunk"
      % (len(spans), len(chunked), inter))
if len(chunked) != 6 * int(sys.argv[3]):
    sys.exit("%d chunked messages, not %d" % (len(chunked), 6 * int(sys.argv[3])))
sys.exit(0 if inter > 0 else 1)
EOF
[ "$round" -lt 3 ] || fail "the topic does not hold interleaved chunks after 3 rounds: $(cat "$T/layout")"
say "round $round: $(cat "$T/layout"); another round"
done
say "produced: $(cat "$T/layout")"

job() { # job NAME SUBTYPE
    cat <<P
job.name=$1
task.inputs=pl.chunky
task.outputs=out.lines
task.commit.ms=300ms
job.checkpoint.sqlite.path=$T/$1.db
systems.pl.samza.factory=pulsar
systems.pl.pulsar.service-url=$PL
systems.pl.streams.chunky.pulsar.topic=$TOPIC
systems.pl.streams.chunky.subscriptionName=$1-sub
systems.pl.streams.chunky.subscriptionType=$2
systems.pl.streams.chunky.pulsar.subscription.initial-position=Earliest
systems.out.samza.factory=file
systems.out.streams.lines.path=$T/$1.out
log.level=info
P
}

for sub in Exclusive Shared; do
    name=chunky-$sub
    job "$name" "$sub" >"$T/$name.properties"
    kin_run "$T/$name.properties" "$T/$name.log"; JOB=$KIN_PID
    i=0
    until [ "$(pl_py backlog "$HTTP" "$TOPIC" "$name-sub")" = 0 ]; do
        i=$((i + 1)); kin_alive "$JOB" || { tail -n 30 "$T/$name.log"; fail "$sub: sluice died"; }
        [ "$i" -le 120 ] || { tail -n 30 "$T/$name.log"; fail "$sub: backlog still $(pl_py backlog "$HTTP" "$TOPIC" "$name-sub") entries after 60 s"; }
        sleep 0.5
    done
    kin_stop "$JOB" "$T/$name.log"
    python3 - "$T/sent.jsonl" "$T/$name.out" <<'EOF' >"$T/$name.check" || fail "$sub: the file does not hold the messages the official client sent"
import hashlib, json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
want = {s["sha"]: s for s in sent}
got = open(sys.argv[2], "rb").read().split(b"\n")
assert got[-1] == b"", "the file does not end with a newline"
got = got[:-1]
seen, order = {}, {1: [], 2: [], 3: []}
for i, line in enumerate(got):
    h = hashlib.sha256(line).hexdigest()
    if h not in want:
        sys.exit("line %d (%d bytes) is no message that was sent (a chunk on its own?)" % (i + 1, len(line)))
    seen[h] = seen.get(h, 0) + 1
    order[want[h]["p"]].append(want[h]["seq"])
missing = [s for s in sent if s["sha"] not in seen]
dups = [h for h, n in seen.items() if n > 1]
if missing:
    sys.exit("%d messages missing, e.g. producer %d #%d of %d bytes" % (len(missing), missing[0]["p"], missing[0]["seq"], missing[0]["len"]))
if dups:
    sys.exit("%d messages written more than once" % len(dups))
for p, seqs in order.items():
    if seqs != sorted(seqs):
        sys.exit("producer %d's messages out of order: %s" % (p, seqs))
big = [s["len"] for s in sent if s["len"] > 256 << 10]
print("%d lines, %d chunked of %s bytes, whole and in order" % (len(got), len(big), "/".join(map(str, big))))
EOF
    say "$sub: backlog 0 after $((i / 2)) s; $(cat "$T/$name.check")"
done

# What a real broker cannot be made to do on demand, from a fake one (tests/tools/
# pulsar_fake_broker.py, mode chunks): chunks of two messages interleaved, a chunk whose first
# chunks are gone (an hour old: acked at once), a message sent again from its first chunk, one
# that never completes (acked when it expires, and no cumulative ack passes it before), a chunk
# larger than its message (skipped by task.error.policy=skip, and acked).
FAKE="$top_srcdir/tests/tools/pulsar_fake_broker.py"
fake_run() { # fake_run NAME ACKED EXTRA...: a job on the fake broker until entries ACKED are acked
    _n=$1 _want=$2; shift 2
    _port=$(free_port)
    : >"$T/$_n.events"
    python3 "$FAKE" --port "$_port" --log "$T/$_n.events" --mode chunks >"$T/$_n.fake.out" 2>&1 &
    kin_track $!
    wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $_port)).close()" ||
        { cat "$T/$_n.fake.out"; fail "the fake broker did not start"; }
    { echo "job.name=$_n"
      echo "task.inputs=pl.chunks"
      echo "task.outputs=out.lines"
      echo "task.commit.ms=200ms"
      echo "task.error.policy=skip"
      echo "job.checkpoint.sqlite.path=$T/$_n.db"
      echo "systems.pl.samza.factory=pulsar"
      echo "systems.pl.pulsar.service-url=pulsar://127.0.0.1:$_port"
      echo "systems.pl.streams.chunks.pulsar.topic=persistent://public/default/chunks"
      echo "systems.pl.streams.chunks.expireTimeOfIncompleteChunkedMessageMillis=1000"
      echo "systems.out.samza.factory=file"
      echo "systems.out.streams.lines.path=$T/$_n.out"
      for l in "$@"; do echo "$l"; done; } >"$T/$_n.properties"
    kin_run "$T/$_n.properties" "$T/$_n.log"; _job=$KIN_PID
    wait_for 15 python3 "$T/acked.py" "$T/$_n.events" "$_want" ||
        { tail -n 20 "$T/$_n.log"; fail "$_n: entries $_want were not all acked within 15 s"; }
    sleep 1 # any ack that should not come has had its chance
    kin_stop "$_job" "$T/$_n.log"
}
cat >"$T/acked.py" <<'EOF'
import json, sys
acked = set()
for l in open(sys.argv[1]):
    ev = json.loads(l)
    for lid, e in ev.get("ids", []):
        acked |= set(range(e + 1)) if ev["ack"] == "Cumulative" else {e}
sys.exit(0 if set(map(int, sys.argv[2].split(","))) <= acked else 1)
EOF
# fake_check NAME LINES ACKED: the file holds LINES (|-separated), exactly ACKED were acked, and
# no ack covered entry 7 (the message that never completes) before it expired.
fake_check() {
    python3 - "$T/$1.events" "$T/$1.out" "$2" "$3" <<'EOF' >"$T/$1.check" || fail "$1: $(cat "$T/$1.check")"
import json, sys
events, out, lines, want = sys.argv[1:5]
got = open(out).read().split("\n")[:-1]
if got != lines.split("|"):
    sys.exit("the file holds %s, not %s" % (got, lines.split("|")))
acked, first = set(), {}
for l in open(events):
    ev = json.loads(l)
    for lid, e in ev.get("ids", []):
        new = set(range(e + 1)) if ev["ack"] == "Cumulative" else {e}
        for x in new - acked:
            first[x] = (ev["t"], ev["ack"])
        acked |= new
want = set(map(int, want.split(",")))
if acked != want:
    sys.exit("acked %s, not %s" % (sorted(acked), sorted(want)))
if 7 in first and first[7][1] != "Individual":
    sys.exit("entry 7 (incomplete) was covered by a cumulative ack")
print("lines %s; acked %s" % ("|".join(got), ",".join(map(str, sorted(acked)))))
EOF
    say "$1: $(cat "$T/$1.check")"
}
fake_run fake-chunks 0,1,2,3,4,5,6,7,8,9
grep -q "chunk 1 of 3 of message u3 at 7:4 arrived without chunk 0; message dropped, chunk acked" "$T/fake-chunks.log" ||
    fail "the chunk without its start is not named"
grep -q "chunked message u4 still has 1 of 2 chunks after 1000 ms; dropped, its chunks acked" "$T/fake-chunks.log" ||
    fail "the incomplete message's expiry is not logged"
grep -q "offset 7:9: chunk 0 of message u5 does not fit" "$T/fake-chunks.log" || fail "the oversized chunk is not named"
fake_check fake-chunks "a|AAAABBBB|CCDD|z" 0,1,2,3,4,5,6,7,8,9
# One message joined at a time, the oldest acked when dropped: u1 goes when u2 begins (its
# second chunk then comes alone and recent: left unacked, which a Shared subscription's
# individual acks show), u4 when u5 begins.
fake_run fake-one 0,1,2,4,5,6,7,8,9 systems.pl.streams.chunks.pulsar.consumer.max-pending-chunked-message=1 \
    systems.pl.streams.chunks.autoAckOldestChunkedMessageOnQueueFull=true \
    systems.pl.streams.chunks.pulsar.subscription.type=Shared
fake_check fake-one "a|CCDD|z" 0,1,2,4,5,6,7,8,9
say "ok"
