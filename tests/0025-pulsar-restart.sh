#!/bin/sh
# 0025: a Pulsar broker restart in the middle of a stream. The AWS CLI keeps putting numbered
# records into a 2-shard kinesalite stream; job k2p (Kinesis -> Pulsar) and job p2f (Pulsar ->
# file, Exclusive subscription) run all along. After a few seconds the standalone broker is
# stopped (TERM, KILL after 3 s) and started again on the same ports and data. Both jobs must
# reconnect by themselves (lookup, CONNECT, PRODUCER/SUBSCRIBE again) and carry on. Judged after
# the producer stopped: every record the CLI put is in the Pulsar topic (read by the official
# client) and in p2f's output; duplicates are bounded: in the topic by what was sent and not yet
# confirmed at the restart (the broker's deduplication drops resent batches it already had),
# in p2f's output by what was delivered and not yet acknowledged (the receiver queue).
# Both jobs stop with task.shutdown.ms=10s, well within kin_stop's 20 s: a stop never takes
# longer than that, whatever the producer still waits for (see 0033).
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:kinesalite peer:pulsar
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"

kin_up kinesalite pulsar
KIN=$(cat "$T/kinesalite.url")
PL=$(cat "$T/pulsar.url")
HTTP=$(cat "$T/peers/pulsar.http-url")
say "kinesalite $KIN, pulsar $PL"
pl_client
kin_stream "$KIN" src 2
TOPIC=persistent://public/default/restart

{ kin_props k2p w1 src "$KIN" "$T/unused.jsonl" "$T/k2p.db" | grep -v '^task.outputs=\|^systems.out'
  echo "task.outputs=pl.restart"
  echo "systems.pl.samza.factory=pulsar"
  echo "systems.pl.pulsar.service-url=$PL"
  echo "systems.pl.pulsar.producer.name=k2p"
  echo "systems.pl.pulsar.producer.retry.max=1s"
  echo "systems.pl.pulsar.connection-timeout=2s"
  echo "systems.pl.pulsar.operation-timeout=5s"
  echo "task.shutdown.ms=10s"
} >"$T/k2p.properties"
cat >"$T/p2f.properties" <<P
job.name=p2f
task.inputs=pl.restart
task.outputs=out.records
task.commit.ms=300ms
task.shutdown.ms=10s
job.checkpoint.sqlite.path=$T/p2f.db
systems.pl.samza.factory=pulsar
systems.pl.pulsar.service-url=$PL
systems.pl.pulsar.subscription.initial-position=Earliest
systems.pl.pulsar.producer.retry.max=1s
systems.pl.pulsar.connection-timeout=2s
systems.pl.pulsar.operation-timeout=5s
systems.out.samza.factory=file
systems.out.streams.records.path=$T/p2f.jsonl
log.level=info
P
kin_run "$T/k2p.properties" "$T/k2p.log"; K2P=$KIN_PID
kin_run "$T/p2f.properties" "$T/p2f.log"; P2F=$KIN_PID

python3 "$T/kin.py" produce "$KIN" src "$T/produced.jsonl" "$T/stop.prod" ids 40 2>"$T/prod.err" &
PROD=$!; kin_track "$PROD"
sleep 5
n0=$(kin_lines "$T/p2f.jsonl")
[ "$n0" -gt 0 ] || { tail -n 20 "$T/k2p.log" "$T/p2f.log"; fail "nothing went through before the restart"; }

t0=$(now_ms)
"$top_srcdir/tests/peers/pulsar.sh" stop "$T/peers" || fail "cannot stop the broker"
t1=$(now_ms)
sleep 2
"$top_srcdir/tests/peers/pulsar.sh" start "$T/peers" >"$T/pulsar.url2" 2>"$T/pulsar.restart.err" \
    || { cat "$T/pulsar.restart.err"; fail "the broker did not start again"; }
t2=$(now_ms)
[ "$(cat "$T/pulsar.url2")" = "$PL" ] || fail "the broker came back at $(cat "$T/pulsar.url2"), not $PL"
say "broker stopped in $((t1 - t0)) ms, back after $((t2 - t0)) ms (same address); $n0 records through before"
sleep 5
: >"$T/stop.prod"
wait "$PROD" || { cat "$T/prod.err"; fail "the producer failed"; }
for p in $K2P $P2F; do kin_alive "$p" || { tail -n 30 "$T/k2p.log" "$T/p2f.log"; fail "a job died across the restart"; }; done

# Everything produced must reach p2f's output.
i=0
until python3 - "$T" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import kin
want = {json.loads(r["data"])["id"] for r in kin.load(sys.argv[1] + "/produced.jsonl")}
have = set()
try:
    for l in open(sys.argv[1] + "/p2f.jsonl"):
        try:
            have.add(json.loads(l)["id"])
        except ValueError:
            pass
except OSError:
    pass
sys.exit(0 if want <= have else 1)
EOF
do
    i=$((i + 1)); [ "$i" -le 60 ] || break
    sleep 0.5
done
kin_stop "$K2P" "$T/k2p.log"
kin_stop "$P2F" "$T/p2f.log"
pl_py read "$PL" "$TOPIC" 100000 "$T/topic.jsonl" >/dev/null || fail "cannot read the topic back"
grep -h "reconnect\|sent again\|subscribing again\|connection to" "$T/k2p.log" "$T/p2f.log" | head -n 6 | sed 's/^/#   /'

python3 - "$T" <<'EOF' || fail "records lost across the broker restart, or too many duplicates"
import base64, json, sys, collections
T = sys.argv[1]
sys.path.insert(0, T)
import kin
prod = [json.loads(r["data"])["id"] for r in kin.load(T + "/produced.jsonl")]
topic = collections.Counter(json.loads(base64.b64decode(json.loads(l)["data"]))["id"] for l in open(T + "/topic.jsonl"))
out = collections.Counter()
for l in open(T + "/p2f.jsonl"):
    out[json.loads(l)["id"]] += 1
lost_topic = sorted(set(prod) - set(topic))
lost_out = sorted(set(prod) - set(out))
dup_topic = sum(c - 1 for c in topic.values())
dup_out = sum(c - 1 for c in out.values())
print("# produced %d; topic: %d messages, %d lost, %d duplicates; p2f: %d records, %d lost, %d duplicates"
      % (len(prod), sum(topic.values()), len(lost_topic), dup_topic, sum(out.values()), len(lost_out), dup_out))
bad = bool(lost_topic or lost_out)
# Bounds: the producer resends at most max-pending-messages (1000) per partition; the consumer
# redelivers at most its receiver queue (1000) plus what it had not acked.
if dup_topic > 1000 or dup_out > 2000:
    bad = True
    print("FAIL: duplicates beyond the bounds")
if lost_topic or lost_out:
    print("FAIL: lost in the topic %r, in the output %r" % (lost_topic[:10], lost_out[:10]))
sys.exit(1 if bad else 0)
EOF
say "ok"
