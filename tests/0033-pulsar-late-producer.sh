#!/bin/sh
# 0033: a registration the broker answered after the operation timeout (issue 13: under load
# the broker took 27 s to come back, its late PRODUCER_SUCCESS kept producer 'k2p-0-0' taken,
# and every later PRODUCER was refused with ProducerBusy, 228 times), against
# tests/tools/pulsar_fake_broker.py, which can be made that slow on demand, and a real broker.
# Peers: kinesalite, dynalite, Pulsar standalone (tests/peers), the official pulsar-client.
#   producer:  mode "late": the first PRODUCER is answered 2.5 s late (operation timeout 1 s)
#              while its name stays taken; a PRODUCER with the same name is refused with
#              ProducerBusy until a CLOSE_PRODUCER for the first producer id (or the end of its
#              connection) frees it. sluice must give the timed-out registration back, as the
#              Java client does, and end with all 20 records sent, receipted and checkpointed.
#   consumer:  the same for an Exclusive SUBSCRIBE answered late: ConsumerBusy until a
#              CLOSE_CONSUMER for the first consumer id; every pushed message must come out.
#   stuck:     mode "never": neither PRODUCER nor CLOSE_PRODUCER is ever answered. sluice must
#              give each timed-out registration back, and close the connection when even that
#              goes unanswered (the broker frees what a connection held when it ends). SIGTERM
#              while the producer keeps trying must end the job within task.shutdown.ms (2 s)
#              plus 1.5 s of slack, with nothing checkpointed (at-least-once: unacknowledged
#              records are read again next time).
#   leases:    the same stuck producer behind a Kinesis input (kinesalite) whose KCL lease table
#              (dynalite) is frozen (SIGSTOP) when SIGTERM comes: the drain and the inputs' own
#              stop (the lease release, which cannot finish) share one task.shutdown.ms, so the
#              job still ends within 2 s plus 1.5 s of slack (each used to get a full one).
#   real:      a real broker (Pulsar standalone) behind the fake broker's "proxy" mode, which
#              holds back the broker's answer to the first PRODUCER for 2.5 s: the broker has
#              registered producer 'late33-0-0' meanwhile and refuses the same name again with
#              ProducerBusy until sluice gives the first one back. Then the broker itself is
#              frozen (SIGSTOP) for 4 s, longer than the operation, send and connection timeouts
#              (1-2 s), while records keep coming, and thawed (SIGCONT). Every record must be in
#              the topic, as the official client reads it, and SIGTERM must end the job in time.
#              Last, a consumer of that topic through the proxy, whose first (Exclusive)
#              SUBSCRIBE is answered 2.5 s late: ConsumerBusy until sluice gives it back; all 100
#              messages must come out.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 sqlite3 peer:kinesalite peer:dynalite peer:pulsar
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"
FAKE="$top_srcdir/tests/tools/pulsar_fake_broker.py"

seq 1 20 | sed 's/.*/{"n": &}/' >"$T/in.jsonl"
start_fake() { # start_fake MODE: the fake broker on a free port, its URL in $URL
    PORT=$(free_port)
    : >"$T/$1.events"
    python3 "$FAKE" --port "$PORT" --log "$T/$1.events" --mode "$2" --late-ms 2500 \
        >"$T/$1.fake.out" 2>&1 &
    FAKE_PID=$!
    URL=pulsar://127.0.0.1:$PORT
    wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).close()" ||
        { cat "$T/$1.fake.out"; fail "the fake broker did not start"; }
}
props() { # props NAME URL EXTRA...: a job's properties, Pulsar timeouts small
    _n=$1 _u=$2; shift 2
    { echo "job.name=$_n"
      echo "task.commit.ms=200ms"
      echo "job.checkpoint.sqlite.path=$T/$_n.db"
      echo "systems.files.samza.factory=file"
      echo "systems.pl.samza.factory=pulsar"
      echo "systems.pl.pulsar.service-url=$_u"
      echo "systems.pl.pulsar.operation-timeout=1s"
      echo "systems.pl.pulsar.producer.retry.base=50ms"
      echo "systems.pl.pulsar.producer.retry.max=300ms"
      echo "log.level=info"
      for l in "$@"; do echo "$l"; done; } >"$T/$_n.properties"
}
count() { grep -c "$2" "$T/$1.events" || true; }
# gave_back NAME KIND: the first registration of KIND (producer|subscription) was freed by
# sluice (a CLOSE_* naming its id, or the end of its connection), after which one succeeded.
gave_back() {
    python3 - "$T/$1.events" "$2" <<'EOF'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
kind = sys.argv[2]
cmd, idkey = ("PRODUCER", "producer_id") if kind == "producer" else ("SUBSCRIBE", "consumer_id")
regs = [e for e in ev if e.get("type") == cmd]
first = regs[0][idkey]
rel = [e for e in ev if e.get("event") == "released" and e["what"] == kind and e["id"] == first]
busy = sum(1 for e in ev if e.get("event") == "busy" and e["what"] == kind)
print("%d %s(s), %d refused busy, first id %d freed by %s" % (
    len(regs), cmd, busy, first, rel[0].get("by", "CLOSE") if rel else "nothing"))
sys.exit(0 if rel else 1)
EOF
}

# ---- producer ----------------------------------------------------------------------------------
start_fake producer late
props producer "$URL" "task.inputs=files.in" "task.outputs=pl.t" \
    "systems.files.streams.in.path=$T/in.jsonl" "systems.pl.pulsar.producer.batching.enabled=false" \
    "task.shutdown.ms=15s"
t0=$(date +%s)
timeout 30 "$SLUICE" run "$T/producer.properties" >"$T/producer.log" 2>&1 || { tail -n 20 "$T/producer.log"; fail "the job failed"; }
t1=$(date +%s)
kill "$FAKE_PID" 2>/dev/null || true
res=$(gave_back producer producer) || { tail -n 20 "$T/producer.log"; fail "the timed-out registration was never given back: $res"; }
say "late PRODUCER_SUCCESS: $res; job done in $((t1 - t0)) s"
grep -q "ProducerBusy" "$T/producer.log" && say "(ProducerBusy was seen on the way: $(grep -c ProducerBusy "$T/producer.log") time(s))"
python3 - "$T/producer.events" <<'EOF' || { tail -n 20 "$T/producer.log"; fail "not every message was sent"; }
import json, sys
seqs = {json.loads(l)["sequence_id"] for l in open(sys.argv[1]) if '"SEND"' in l}
print("# %d distinct sequence ids sent" % len(seqs))
assert seqs == set(range(20)), sorted(seqs)
EOF
ck=$(sqlite3 "$T/producer.db" 'select "offset" from sluice_checkpoints' 2>/dev/null || true)
last=$(python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); print(len(d) - len(d.rstrip(b"\n").split(b"\n")[-1]) - 1)' "$T/in.jsonl")
[ "$ck" = "$last" ] || { tail -n 20 "$T/producer.log"; fail "checkpoint '$ck', expected $last (every record receipted)"; }

# ---- consumer ----------------------------------------------------------------------------------
start_fake consumer late
props consumer "$URL" "task.inputs=pl.t" "task.outputs=files.out" \
    "systems.files.streams.out.path=$T/consumer.out.jsonl" "task.shutdown.ms=2s"
"$SLUICE" run "$T/consumer.properties" >"$T/consumer.log" 2>&1 &
JOB=$!
lines() { [ -f "$1" ] && wc -l <"$1" | tr -d ' ' || echo 0; }
wait_for 30 sh -c "[ \$(wc -l <'$T/consumer.out.jsonl' 2>/dev/null || echo 0) -ge 10 ]" ||
    { kill -TERM "$JOB"; tail -n 20 "$T/consumer.log"; fail "only $(lines "$T/consumer.out.jsonl") of 10 messages came out"; }
kill -TERM "$JOB"
wait "$JOB" || { tail -n 20 "$T/consumer.log"; fail "the consumer job failed"; }
kill "$FAKE_PID" 2>/dev/null || true
res=$(gave_back consumer subscription) || fail "the timed-out SUBSCRIBE was never given back: $res"
[ "$(sort -u "$T/consumer.out.jsonl" | wc -l)" = 10 ] || fail "not the 10 messages: $(sort -u "$T/consumer.out.jsonl" | head -n 12)"
say "late SUBSCRIBE answer: $res; all 10 messages out"

# ---- stuck -------------------------------------------------------------------------------------
start_fake stuck never
props stuck "$URL" "task.inputs=files.in" "task.outputs=pl.t" \
    "systems.files.streams.in.path=$T/in.jsonl" "systems.files.streams.in.follow=true" \
    "task.shutdown.ms=2s"
"$SLUICE" run "$T/stuck.properties" >"$T/stuck.log" 2>&1 &
JOB=$!
# Stop while the producer is stuck: its third registration is on its way.
wait_for 30 sh -c "[ \$(grep -c '\"PRODUCER\"' '$T/stuck.events') -ge 3 ]" ||
    { tail -n 20 "$T/stuck.log"; fail "the producer did not try to register three times"; }
t0=$(python3 -c 'import time; print(int(time.monotonic() * 1000))')
kill -TERM "$JOB"
rc=0
wait "$JOB" || rc=$?
t1=$(python3 -c 'import time; print(int(time.monotonic() * 1000))')
kill "$FAKE_PID" 2>/dev/null || true
say "SIGTERM during a registration that never completes: exit $rc after $((t1 - t0)) ms (task.shutdown.ms 2000)"
[ "$rc" = 0 ] || { tail -n 20 "$T/stuck.log"; fail "exit $rc after SIGTERM"; }
[ $((t1 - t0)) -le 3500 ] || { tail -n 20 "$T/stuck.log"; fail "the stop took $((t1 - t0)) ms, over task.shutdown.ms (2000) + 1500"; }
[ "$(sqlite3 "$T/stuck.db" 'select count(*) from sluice_checkpoints' 2>/dev/null || echo 0)" = 0 ] ||
    fail "a checkpoint was written though Pulsar confirmed nothing"
closes=$(count stuck '"CLOSE_PRODUCER"')
conns=$(count stuck '"connect"')
say "stuck broker: $(count stuck '"PRODUCER"') PRODUCER(s), $closes CLOSE_PRODUCER(s), $conns connection(s)"
[ "$closes" -ge 1 ] || fail "no timed-out registration was given back (CLOSE_PRODUCER)"
grep -q "no answer to CLOSE_PRODUCER" "$T/stuck.log" && [ "$conns" -ge 2 ] ||
    { tail -n 20 "$T/stuck.log"; fail "the connection was not closed when CLOSE_PRODUCER went unanswered"; }

# ---- leases ------------------------------------------------------------------------------------
kin_up kinesalite dynalite pulsar
KIN=$(cat "$T/kinesalite.url")
DDB=$(cat "$T/dynalite.url")
kin_stream "$KIN" src 1
for i in 1 2 3 4 5; do
    cli "$KIN" kinesis put-record --stream-name src --partition-key "k$i" \
        --data "$(printf '{"n": %d}' "$i" | base64)" >/dev/null || fail "put-record"
done
start_fake leases never
{ kin_props leases w1 src "$KIN" "$T/unused.jsonl" "$T/leases.db" | grep -v '^task.outputs=\|^systems.out'
  echo "task.outputs=pl.t"
  echo "task.shutdown.ms=2s"
  echo "systems.kin.aws.dynamodb.endpoint=$DDB"
  echo "systems.kin.streams.src.aws.kcl.LeaseStore=dynamodb"
  echo "systems.kin.streams.src.aws.kcl.TableName=leases-33"
  echo "systems.pl.samza.factory=pulsar"
  echo "systems.pl.pulsar.service-url=$URL"
  echo "systems.pl.pulsar.operation-timeout=1s"
  echo "systems.pl.pulsar.producer.batching.enabled=false"
  echo "systems.pl.pulsar.producer.retry.base=50ms"
  echo "systems.pl.pulsar.producer.retry.max=300ms"; } >"$T/leases.properties"
kin_run "$T/leases.properties" "$T/leases.log"; JOB=$KIN_PID
# The records are read (the lease is held) and wait in the producer for a registration.
wait_for 60 grep -q "message(s) without a receipt" "$T/leases.log" ||
    { tail -n 20 "$T/leases.log"; fail "the Kinesis records never reached the producer"; }
DPIDS=$(peer_pids dynalite "$T/peers")
[ -n "$DPIDS" ] || fail "no dynalite process to freeze"
# shellcheck disable=SC2086
kill -STOP $DPIDS
t0=$(python3 -c 'import time; print(int(time.monotonic() * 1000))')
kill -TERM "$JOB"
while kin_alive "$JOB"; do
    [ $(($(python3 -c 'import time; print(int(time.monotonic() * 1000))') - t0)) -lt 20000 ] || break
    sleep 0.05
done
t1=$(python3 -c 'import time; print(int(time.monotonic() * 1000))')
# shellcheck disable=SC2086
kill -CONT $DPIDS
rc=0
kin_alive "$JOB" && { kill -9 "$JOB"; rc=killed; }
[ "$rc" = killed ] || wait "$JOB" || rc=$?
kill "$FAKE_PID" 2>/dev/null || true
say "SIGTERM with the producer stuck and the lease table frozen: exit $rc after $((t1 - t0)) ms (task.shutdown.ms 2000)"
[ "$rc" = 0 ] || { tail -n 20 "$T/leases.log"; fail "exit $rc after SIGTERM"; }
[ $((t1 - t0)) -le 3500 ] || { tail -n 20 "$T/leases.log"; fail "the stop took $((t1 - t0)) ms, over task.shutdown.ms (2000) + 1500"; }

# ---- real --------------------------------------------------------------------------------------
PL=$(cat "$T/pulsar.url")
pl_client
PORT=$(free_port)
: >"$T/real.events"
python3 "$FAKE" --mode proxy --port "$PORT" --upstream "${PL#pulsar://}" --log "$T/real.events" \
    --late-ms 2500 >"$T/real.fake.out" 2>&1 &
echo $! >"$T/real.proxy.pid"
wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).close()" ||
    { cat "$T/real.fake.out"; fail "the proxy did not start"; }
seq 1 50 | sed 's/.*/{"id": &}/' >"$T/real.jsonl"
props real "pulsar://127.0.0.1:$PORT" "task.inputs=files.in" "task.outputs=pl.late33" \
    "systems.files.streams.in.path=$T/real.jsonl" "systems.files.streams.in.follow=true" \
    "systems.pl.pulsar.producer.name=late33" "systems.pl.pulsar.producer.send-timeout=2s" \
    "systems.pl.pulsar.connection-timeout=2s" "task.shutdown.ms=5s"
"$SLUICE" run "$T/real.properties" >"$T/real.log" 2>&1 &
JOB=$!
# receipted: the job's checkpoint is at the last line of real.jsonl (every record receipted).
receipted() {
    _last=$(python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); print(len(d) - len(d.rstrip(b"\n").split(b"\n")[-1]) - 1)' "$T/real.jsonl")
    [ "$(sqlite3 "$T/real.db" 'select "offset" from sluice_checkpoints' 2>/dev/null)" = "$_last" ]
}
t0=$(now_ms)
wait_for 30 receipted || { tail -n 20 "$T/real.log"; fail "the first 50 records were not all receipted within 30 s"; }
t1=$(now_ms)
res=$(python3 - "$T/real.events" <<'EOF'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
regs = [e for e in ev if e.get("type") == "PRODUCER"]
busy = sum(1 for e in ev if e.get("event") == "answer" and e.get("error") == 16)
closes = [e["producer_id"] for e in ev if e.get("type") == "CLOSE_PRODUCER"]
print("%d PRODUCER(s), %d ProducerBusy, CLOSE_PRODUCER for %s (the first was %d)" % (
    len(regs), busy, closes, regs[0]["producer_id"]))
sys.exit(0 if regs[0]["producer_id"] in closes else 1)
EOF
) || fail "the held-back registration was not given back: $res"
say "real broker, first PRODUCER answered 2.5 s late: $res; 50 records receipted after $((t1 - t0)) ms"

BPIDS=$(peer_pids pulsar "$T/peers")
[ -n "$BPIDS" ] || fail "no broker process to freeze"
# shellcheck disable=SC2086
kill -STOP $BPIDS
for i in 1 2 3 4 5; do
    seq $((40 + i * 10 + 1)) $((50 + i * 10)) | sed 's/.*/{"id": &}/' >>"$T/real.jsonl"
    sleep 0.8
done
# shellcheck disable=SC2086
kill -CONT $BPIDS
t2=$(now_ms)
wait_for 60 receipted || { tail -n 20 "$T/real.log"; fail "the records written while the broker was frozen were not all receipted within 60 s of SIGCONT"; }
t3=$(now_ms)
say "broker frozen 4 s while 50 more records came: all receipted $((t3 - t2)) ms after SIGCONT ($(grep -c "timed out registering" "$T/real.log" || true) registration(s) given back, $(grep -c "ProducerBusy" "$T/real.log" || true) ProducerBusy in all)"
t0=$(python3 -c 'import time; print(int(time.monotonic() * 1000))')
kill -TERM "$JOB"
rc=0
wait "$JOB" || rc=$?
t1=$(python3 -c 'import time; print(int(time.monotonic() * 1000))')
[ "$rc" = 0 ] && [ $((t1 - t0)) -le 6000 ] ||
    { tail -n 20 "$T/real.log"; fail "SIGTERM: exit $rc after $((t1 - t0)) ms (task.shutdown.ms 5000)"; }
pl_py read "$PL" persistent://public/default/late33 1000 "$T/real.topic.jsonl" >/dev/null ||
    fail "cannot read the topic back"
python3 - "$T/real.topic.jsonl" <<'EOF' || fail "records missing from the topic"
import base64, collections, json, sys
c = collections.Counter(json.loads(base64.b64decode(json.loads(l)["data"]))["id"] for l in open(sys.argv[1]))
missing = sorted(set(range(1, 101)) - set(c))
print("# the official client read %d messages: ids 1-100 %s, %d duplicate(s)" % (
    sum(c.values()), "all there" if not missing else "missing %r" % missing[:10],
    sum(n - 1 for n in c.values())))
sys.exit(1 if missing else 0)
EOF
say "SIGTERM after the freeze: exit 0 in $((t1 - t0)) ms"

# The consumer side through the same proxy: the first SUBSCRIBE's SUCCESS is held back 2.5 s
# while the broker has the Exclusive subscription taken (ConsumerBusy for another consumer id).
props realc "pulsar://127.0.0.1:$PORT" "task.inputs=pl.late33" "task.outputs=files.out" \
    "systems.files.streams.out.path=$T/realc.out.jsonl" "systems.files.streams.out.format=payload" \
    "systems.pl.pulsar.subscription.name=c33" "systems.pl.pulsar.subscription.initial-position=Earliest" \
    "task.shutdown.ms=5s"
"$SLUICE" run "$T/realc.properties" >"$T/realc.log" 2>&1 &
JOB=$!
t0=$(now_ms)
wait_for 30 sh -c "[ \$(sort -u '$T/realc.out.jsonl' 2>/dev/null | wc -l) -ge 100 ]" ||
    { kill -TERM "$JOB"; tail -n 20 "$T/realc.log"; fail "only $(sort -u "$T/realc.out.jsonl" 2>/dev/null | wc -l) of the 100 messages came out within 30 s"; }
t1=$(now_ms)
kill -TERM "$JOB"
wait "$JOB" || { tail -n 20 "$T/realc.log"; fail "the consumer job failed"; }
res=$(python3 - "$T/real.events" <<'EOF'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
subs = [e for e in ev if e.get("type") == "SUBSCRIBE"]
busy = sum(1 for e in ev if e.get("event") == "answer" and e.get("error") == 5)
closes = [e["consumer_id"] for e in ev if e.get("type") == "CLOSE_CONSUMER"]
print("%d SUBSCRIBE(s), %d ConsumerBusy, CLOSE_CONSUMER for %s (the first was %d)" % (
    len(subs), busy, closes, subs[0]["consumer_id"]))
sys.exit(0 if subs[0]["consumer_id"] in closes else 1)
EOF
) || fail "the held-back subscription was not given back: $res"
say "real broker, first SUBSCRIBE answered 2.5 s late: $res; the 100 messages out after $((t1 - t0)) ms"
kill "$(cat "$T/real.proxy.pid")" 2>/dev/null || true
say "ok"
