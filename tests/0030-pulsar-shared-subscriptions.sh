#!/bin/sh
# 0030: two sluice workers on one Pulsar subscription, as a Java consumer group would run, on a
# real standalone broker with messages from the official client:
#   Failover on a 4-partition topic: the broker makes one worker active per partition, so every
#     partition's messages go to exactly one worker and both get some; kill -9 one worker and
#     the other takes over its partitions: every message arrives (copies only of what the dead
#     one had not acknowledged).
#   Key_Shared on a non-partitioned topic (messages sent unbatched: a batch goes whole to one
#     consumer): 40 keys split between the workers, each key read by one worker only, nothing
#     lost. These workers commit only when they stop (task.commit.ms=1h): the acks of that last
#     commit must reach the broker before the socket closes, or the first worker's messages
#     go again to the second and the broker keeps a backlog.
#   A record the job fails (task.error.policy=fail): the job stops without acking it and the
#     broker redelivers it, with everything not acknowledged, to the next consumer of the
#     Shared subscription.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:pulsar
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"

kin_up pulsar
PL=$(cat "$T/pulsar.url")
HTTP=$(cat "$T/peers/pulsar.http-url")
say "pulsar $PL (admin $HTTP)"
pl_client
pl_admin "$HTTP" PUT persistent/public/default/fo-topic/partitions 4 || fail "cannot create the partitioned topic"

# job NAME TOPIC SUB TYPE [COMMIT]: a worker reading TOPIC on subscription SUB into $T/NAME.jsonl
job() {
    cat <<P
job.name=sub-$1
task.inputs=pl.in
task.outputs=out.records
task.commit.ms=${5:-200ms}
job.checkpoint.sqlite.path=$T/$1.db
log.debug=pulsar
systems.pl.samza.factory=pulsar
systems.pl.pulsar.service-url=$PL
systems.pl.streams.in.pulsar.topic=$2
systems.pl.streams.in.subscriptionName=$3
systems.pl.streams.in.subscriptionType=$4
systems.pl.streams.in.consumerName=$1
systems.pl.streams.in.pulsar.subscription.initial-position=Earliest
systems.pl.streams.in.receiverQueueSize=50
systems.out.samza.factory=file
systems.out.streams.records.path=$T/$1.jsonl
systems.out.streams.records.format=json
P
}

cat >"$T/judge.py" <<'PY'
import json, sys
def load(path):
    try:
        return [json.loads(l) for l in open(path)]
    except FileNotFoundError:
        return []
mode, sent = sys.argv[1], [json.loads(l) for l in open(sys.argv[2])]
outs = {p: load(p) for p in sys.argv[3:]}
want = {s["event"] for s in sent}
got = {}
for p, recs in outs.items():
    for r in recs:
        got.setdefault(r["event_time"], []).append(p)
missing = want - got.keys()
if mode == "covers":
    sys.exit(0 if not missing else 1)
if missing:
    sys.exit("%d of %d messages missing" % (len(missing), len(want)))
if mode == "failover":
    # every partition read by one worker while both lived
    owner = {}
    for p, recs in outs.items():
        for r in recs:
            owner.setdefault(r["partition"], set()).add(p)
    shared = {k: v for k, v in owner.items() if len(v) > 1}
    if shared:
        sys.exit("partitions read by both workers: %s" % shared)
    if sum(1 for recs in outs.values() if recs) < 2:
        sys.exit("one worker got every partition: %s" % {p: len(r) for p, r in outs.items()})
    print(" ".join("%s:%d" % (p.rsplit("/", 1)[1], len(r)) for p, r in outs.items()))
elif mode == "keyshared":
    keys = {}
    for p, recs in outs.items():
        for r in recs:
            keys.setdefault(r["key"], set()).add(p)
    both = sorted(k for k, v in keys.items() if len(v) > 1)
    if both:
        sys.exit("keys read by both workers: %s" % both)
    per = {p: len({r["key"] for r in recs}) for p, recs in outs.items()}
    if min(per.values()) == 0:
        sys.exit("one worker got every key: %s" % per)
    print(" ".join("%s:%d keys" % (p.rsplit("/", 1)[1], n) for p, n in per.items()))
PY
judge() { python3 "$T/judge.py" "$@"; }
# wait_covers SENT SECONDS OUT...: until the outputs hold every message of SENT
wait_covers() {
    _s=$1 _n=$2; shift 2
    _i=0
    until judge covers "$_s" "$@"; do
        _i=$((_i + 1))
        [ "$_i" -le $((_n * 2)) ] || { for _o in "$@"; do tail -n 20 "${_o%.jsonl}.log"; done
            fail "not every message of $(basename "$_s") read within $_n s"; }
        sleep 0.5
    done
}

# ---- Failover ----
job fa persistent://public/default/fo-topic fo Failover >"$T/fa.properties"
job fb persistent://public/default/fo-topic fo Failover >"$T/fb.properties"
kin_run "$T/fa.properties" "$T/fa.log"; FA=$KIN_PID
kin_run "$T/fb.properties" "$T/fb.log"; FB=$KIN_PID
kin_wait_log "$T/fa.log" "subscribed to" 4 60 "$FA"
kin_wait_log "$T/fb.log" "subscribed to" 4 60 "$FB"
sleep 2 # the broker settles the active consumers
pl_py produce "$PL" persistent://public/default/fo-topic 400 "$T/fo1.jsonl" batch NONE 40 || fail "produce"
wait_covers "$T/fo1.jsonl" 60 "$T/fa.jsonl" "$T/fb.jsonl"
sleep 1
split=$(judge failover "$T/fo1.jsonl" "$T/fa.jsonl" "$T/fb.jsonl") || fail "Failover: $split"
say "Failover: every partition read by one worker ($split)"
kill -9 "$FA"
pl_py produce "$PL" persistent://public/default/fo-topic 400 "$T/fo2.jsonl" batch NONE 40 || fail "produce"
wait_covers "$T/fo2.jsonl" 60 "$T/fb.jsonl"
n=$(kin_lines "$T/fb.jsonl")
kin_stop "$FB" "$T/fb.log"
judge covers "$T/fo1.jsonl" "$T/fa.jsonl" "$T/fb.jsonl" || fail "Failover: messages lost"
say "Failover: kill -9 of one worker, the other read all 400 new messages ($n lines in all)"

# ---- Key_Shared ----
job ka persistent://public/default/ks-topic ks Key_Shared 1h >"$T/ka.properties"
job kb persistent://public/default/ks-topic ks Key_Shared 1h >"$T/kb.properties"
kin_run "$T/ka.properties" "$T/ka.log"; KA=$KIN_PID
kin_run "$T/kb.properties" "$T/kb.log"; KB=$KIN_PID
kin_wait_log "$T/ka.log" "subscribed to" 1 60 "$KA"
kin_wait_log "$T/kb.log" "subscribed to" 1 60 "$KB"
pl_py produce "$PL" persistent://public/default/ks-topic 600 "$T/ks.jsonl" nobatch NONE 40 || fail "produce"
wait_covers "$T/ks.jsonl" 60 "$T/ka.jsonl" "$T/kb.jsonl"
kin_stop "$KA" "$T/ka.log"
kin_stop "$KB" "$T/kb.log"
split=$(judge keyshared "$T/ks.jsonl" "$T/ka.jsonl" "$T/kb.jsonl") || fail "Key_Shared: $split"
# The broker's own count: every message acknowledged by the commits made on stop.
i=0
until [ "$(pl_py backlog "$HTTP" persistent://public/default/ks-topic ks)" = 0 ]; do
    i=$((i + 1))
    [ "$i" -le 60 ] || fail "Key_Shared: backlog $(pl_py backlog "$HTTP" \
        persistent://public/default/ks-topic ks) after both workers stopped"
    sleep 0.5
done
say "Key_Shared: 600 messages, each of 40 keys read by one worker ($split), backlog 0"

# ---- a record the job fails: redelivered, nothing lost ----
# Worker pa's filter cannot read a message that is not JSON: the job stops without acking it
# (task.error.policy=fail); the broker hands it, and whatever pa had not acknowledged, to the
# next consumer of the Shared subscription, pb, which has no filter.
job pa persistent://public/default/poison sh Shared >"$T/pa.properties"
printf '%s\n' "task.operators=f" "operators.f.type=filter" \
    "operators.f.expr=json_extract(payload, '\$.id') >= 0" >>"$T/pa.properties"
job pb persistent://public/default/poison sh Shared >"$T/pb.properties"
kin_run "$T/pa.properties" "$T/pa.log"; PA=$KIN_PID
kin_wait_log "$T/pa.log" "subscribed to" 1 60 "$PA"
pl_py produce "$PL" persistent://public/default/poison 100 "$T/p1.jsonl" nobatch NONE 5 || fail "produce"
pl_py send "$PL" persistent://public/default/poison "not json" poison || fail "send"
pl_py produce "$PL" persistent://public/default/poison 100 "$T/p2.jsonl" nobatch NONE 5 || fail "produce"
i=0
while kin_alive "$PA"; do
    i=$((i + 1)); [ "$i" -le 300 ] || { tail -n 20 "$T/pa.log"; fail "the job did not stop on the record it could not process"; }
    sleep 0.1
done
rc=0; wait "$PA" || rc=$?
[ "$rc" != 0 ] || fail "the job stopped with 0 after failing a record"
contains "$T/pa.log" "malformed JSON"
kin_run "$T/pb.properties" "$T/pb.log"; PB=$KIN_PID
cat "$T/p1.jsonl" "$T/p2.jsonl" >"$T/p.jsonl"
wait_covers "$T/p.jsonl" 60 "$T/pa.jsonl" "$T/pb.jsonl"
i=0
until grep -q '"payload":"not json"' "$T/pb.jsonl" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -le 100 ] || fail "the failed message was not delivered again"
    sleep 0.1
done
kin_stop "$PB" "$T/pb.log"
say "a record the job failed (exit $rc): it and the $(kin_lines "$T/pb.jsonl") not acknowledged went to the next consumer, none lost"
say "ok"
