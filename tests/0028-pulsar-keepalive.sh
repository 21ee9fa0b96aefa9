#!/bin/sh
# 0028: the Pulsar connection's keepalive, send timeout and SEND_ERROR handling, against
# tests/tools/pulsar_fake_broker.py, a broker that registers the producer and then misbehaves
# as no real broker can be made to on demand. No message may be acknowledged without a
# receipt, none may be lost:
#   silent:    the broker PINGs the producer (a PONG must come back), then never answers a
#              PING or a SEND. With pulsar.keepalive-interval=1s the producer PINGs after 1 s
#              of silence and drops the connection after 2 s; with send-timeout=3s it would
#              anyway. Either way it reconnects and sends the same sequence ids again. The job
#              cannot finish (no receipt ever), so nothing is checkpointed.
#   bound:     the broker takes SENDs and never confirms them; 3000 records, max-pending-messages
#              50, task.poll.batch 10: the producer holds no more than that bound plus one poll
#              batch (the worker stops reading past it), so the broker sees at most 60 messages.
#   senderror: the first SEND gets SEND_ERROR (PersistenceError), later ones
#              receipts: the producer reconnects, sends again, and the job ends with every
#              message acknowledged.
. "$(dirname "$0")/lib/common.sh"
needs python3 sqlite3
FAKE="$top_srcdir/tests/tools/pulsar_fake_broker.py"

seq 1 20 | sed 's/.*/{"n": &}/' >"$T/in.jsonl"
start_fake() { # start_fake MODE: the fake broker on a free port, its URL in $URL
    PORT=$(free_port)
    : >"$T/$1.events"
    python3 "$FAKE" --port "$PORT" --log "$T/$1.events" --mode "$1" >"$T/$1.fake.out" 2>&1 &
    FAKE_PID=$!
    URL=pulsar://127.0.0.1:$PORT
    wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).close()" ||
        { cat "$T/$1.fake.out"; fail "the fake broker did not start"; }
}
job() { # job NAME URL EXTRA...
    _n=$1 _u=$2; shift 2
    { echo "job.name=$_n"
      echo "task.inputs=files.in"
      echo "task.outputs=pl.t"
      echo "task.commit.ms=200ms"
      echo "job.checkpoint.sqlite.path=$T/$_n.db"
      echo "systems.files.samza.factory=file"
      echo "systems.files.streams.in.path=$T/in.jsonl"
      echo "systems.pl.samza.factory=pulsar"
      echo "systems.pl.pulsar.service-url=$_u"
      echo "systems.pl.pulsar.producer.retry.base=50ms"
      echo "systems.pl.pulsar.producer.retry.max=200ms"
      echo "log.level=info"
      for l in "$@"; do echo "$l"; done; } >"$T/$_n.properties"
}
count() { grep -c "$2" "$T/$1.events" || true; }

# ---- silent ------------------------------------------------------------------------------------
start_fake silent
job silent "$URL" "systems.pl.pulsar.keepalive-interval=1s" "systems.pl.pulsar.producer.send-timeout=3s" \
    "task.shutdown.ms=1s"
"$SLUICE" run "$T/silent.properties" >"$T/silent.log" 2>&1 &
JOB=$!
sleep 8
kill -0 "$JOB" 2>/dev/null || { tail -n 20 "$T/silent.log"; fail "the job ended though no message has a receipt"; }
kill -TERM "$JOB"
wait "$JOB" || true
kill "$FAKE_PID" 2>/dev/null || true
pongs=$(count silent '"pong"')
pings=$(count silent '"PING"')
conns=$(count silent '"connect"')
sends=$(python3 - "$T/silent.events" <<'EOF'
import json, sys, collections
c = collections.Counter()
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("type") == "SEND":
        c[e["sequence_id"]] += 1
print("%d %d" % (len(c), min(c.values()) if c else 0))
EOF
)
say "silent broker: $pongs PONG(s) answered to its PINGs, $pings PING(s) sent by sluice, $conns connections, SENDs: $sends (distinct sequence ids, times each was sent at least)"
[ "$pongs" -ge 1 ] || fail "sluice never answered the broker's PING"
[ "$pings" -ge 1 ] || fail "sluice never sent a PING to a silent broker"
[ "$conns" -ge 3 ] || fail "sluice did not reconnect after the silence ($conns connections)"
[ "${sends#* }" -ge 2 ] || fail "the unacknowledged sends were not sent again after reconnecting"
grep -qE "no answer to keepalive pings|send timed out" "$T/silent.log" || { tail -n 20 "$T/silent.log"; fail "the log does not say why it reconnected"; }
# Nothing was acknowledged, so nothing is checkpointed.
[ "$(sqlite3 "$T/silent.db" 'select count(*) from sluice_checkpoints' 2>/dev/null || echo 0)" = 0 ] ||
    fail "a checkpoint was written though Pulsar confirmed nothing"

# ---- bound -------------------------------------------------------------------------------------
seq 1 3000 | sed 's/.*/{"n": &}/' >"$T/many.jsonl"
start_fake bound
job bound "$URL" "systems.files.streams.in.path=$T/many.jsonl" "task.poll.batch=10" \
    "systems.pl.pulsar.producer.max-pending-messages=50" "systems.pl.pulsar.producer.batching.enabled=false" \
    "task.shutdown.ms=1s"
"$SLUICE" run "$T/bound.properties" >"$T/bound.log" 2>&1 &
JOB=$!
sleep 4
kill -TERM "$JOB"
wait "$JOB" || true
kill "$FAKE_PID" 2>/dev/null || true
held=$(python3 -c 'import json, sys; print(len({json.loads(l)["sequence_id"] for l in open(sys.argv[1]) if "\"SEND\"" in l}))' "$T/bound.events")
say "no receipts, max-pending-messages 50, poll batch 10: the broker saw $held of 3000 messages"
[ "$held" -ge 50 ] && [ "$held" -le 60 ] || fail "the producer sent $held messages without receipts (bound 50 + one poll batch of 10)"

# ---- senderror ---------------------------------------------------------------------------------
start_fake senderror
job senderror "$URL" "systems.pl.pulsar.producer.batching.enabled=false"
timeout 30 "$SLUICE" run "$T/senderror.properties" >"$T/senderror.log" 2>&1 || { tail -n 20 "$T/senderror.log"; fail "the job did not end after SEND_ERRORs"; }
kill "$FAKE_PID" 2>/dev/null || true
grep -q "SEND_ERROR" "$T/senderror.log" || fail "the SEND_ERROR was not logged"
python3 - "$T/senderror.events" <<'EOF' || fail "not every message was sent (again) after SEND_ERROR"
import json, sys
seqs = {json.loads(l)["sequence_id"] for l in open(sys.argv[1]) if '"SEND"' in l}
assert len(seqs) == 20, seqs
EOF
ck=$(sqlite3 "$T/senderror.db" 'select "offset" from sluice_checkpoints' 2>/dev/null)
last=$(python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); print(len(d) - len(d.rstrip(b"\n").split(b"\n")[-1]) - 1)' "$T/in.jsonl")
[ "$ck" = "$last" ] || fail "checkpoint $ck, expected $last (the last record's offset)"
say "SEND_ERROR: $(count senderror '"connect"') connections, every message sent and receipted, checkpoint at the last record"
say "ok"
