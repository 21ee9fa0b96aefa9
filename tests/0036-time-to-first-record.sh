#!/bin/sh
# 0036: output is not held back behind the commit interval. For every source (file, Kinesis on
# kinesalite, DynamoDB Streams on DynamoDB Local, Pulsar on a standalone broker) a job with the
# default task.commit.ms (60 s) writes to stdout or a file; once it has caught up (a first
# record came out), one more record is written with the peer's own client and the time from
# the moment the peer accepted it to its line in the output is measured. Before write.linger
# the line waited for the next commit (~60 s); the bound here is 10 s (target < 1 s, printed).
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:kinesalite peer:dynamodb-local peer:pulsar
PEER=0036-time-to-first-record
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"
. "$top_srcdir/tests/lib/pulsar.sh"

BOUND_MS=${TTFR_BOUND_MS:-10000}

kin_up kinesalite dynamodb-local pulsar
KIN=$(cat "$T/kinesalite.url")
DDB=$(cat "$T/dynamodb-local.url")
PL=$(cat "$T/pulsar.url")
say "kinesalite $KIN, dynamodb-local $DDB, pulsar $PL"
pl_client

# waitline FILE N PID: prints the epoch ms at which FILE first has N complete lines (polls every
# 10 ms; -1 after 90 s or when process PID is gone).
cat >"$T/waitline.py" <<'EOF'
import os, sys, time
path, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
end = time.time() + 90
while time.time() < end and os.path.exists("/proc/" + pid):
    try:
        with open(path, "rb") as f:
            if f.read().count(b"\n") >= n:
                print(int(time.time() * 1000)); sys.exit(0)
    except FileNotFoundError:
        pass
    time.sleep(0.01)
print(-1)
EOF
waitline() { python3 "$T/waitline.py" "$1" "$2" "$3"; }

# measure NAME OUT LOG PID WRITE: WRITE (a shell function) writes record number $1; the first
# one shows the job caught up, the second is timed from WRITE's return to its line in OUT.
RESULTS=""
measure() {
    _name=$1 _out=$2 _log=$3 _pid=$4 _write=$5
    "$_write" 1 || fail "$_name: writing the first record"
    [ "$(waitline "$_out" 1 "$_pid")" != -1 ] || { tail -n 30 "$_log"; fail "$_name: the first record never came out"; }
    "$_write" 2 || fail "$_name: writing the second record"
    _t0=$(now_ms)
    _t1=$(waitline "$_out" 2 "$_pid")
    [ "$_t1" != -1 ] || { tail -n 30 "$_log"; fail "$_name: the second record never came out"; }
    _ms=$((_t1 - _t0))
    say "$_name: a record written to a caught-up input is out after $_ms ms"
    RESULTS="$RESULTS $_name=${_ms}ms"
    kin_alive "$_pid" || { tail -n 30 "$_log"; fail "$_name: the job died"; }
    [ "$_ms" -le "$BOUND_MS" ] || { tail -n 30 "$_log"; fail "$_name: $_ms ms to the output, bound $BOUND_MS ms (held until a commit?)"; }
    kin_stop "$_pid" "$_log"
}

# --- file -> stdout -----------------------------------------------------------------------------
mkdir -p "$T/in"
cat >"$T/file.properties" <<P
job.name=ttfr-file
task.inputs=files.in
task.outputs=out.stdout
job.checkpoint.sqlite.path=$T/file.db
systems.files.samza.factory=file
systems.files.streams.in.path=$T/in
systems.files.streams.in.follow=true
systems.out.samza.factory=stdio
P
: >"$T/in/a.log"
"$SLUICE" run "$T/file.properties" >"$T/file.out" 2>"$T/file.log" &
PID=$!; kin_track $PID
write_file() { echo "line $1" >>"$T/in/a.log"; }
measure file "$T/file.out" "$T/file.log" $PID write_file

# --- Kinesis -> stdout and -> file --------------------------------------------------------------
kin_stream "$KIN" ttfr 1
kin_props ttfr-kin w1 ttfr "$KIN" "$T/kin.jsonl" "$T/kin.db" \
    | sed -e '/^task.commit.ms=/d' -e '/^systems.out.streams/d' \
        -e 's/^systems.out.samza.factory=file/systems.out.samza.factory=stdio/' \
    >"$T/kin-stdio.properties"
"$SLUICE" run "$T/kin-stdio.properties" >"$T/kin-stdio.out" 2>"$T/kin-stdio.log" &
PID=$!; kin_track $PID
write_kin() { cli "$KIN" kinesis put-record --stream-name ttfr --partition-key k --data "$(printf 'rec%s' "$1" | base64)" >/dev/null; }
measure kinesis-stdio "$T/kin-stdio.out" "$T/kin-stdio.log" $PID write_kin

kin_stream "$KIN" ttfr2 1
kin_props ttfr-kin2 w1 ttfr2 "$KIN" "$T/kin2.jsonl" "$T/kin2.db" | sed -e '/^task.commit.ms=/d' \
    >"$T/kin-file.properties"
kin_run "$T/kin-file.properties" "$T/kin-file.log"
write_kin2() { cli "$KIN" kinesis put-record --stream-name ttfr2 --partition-key k --data "$(printf 'rec%s' "$1" | base64)" >/dev/null; }
measure kinesis-file "$T/kin2.jsonl" "$T/kin-file.log" "$KIN_PID" write_kin2

# --- DynamoDB Streams -> file -------------------------------------------------------------------
ARN=$(cli "$DDB" dynamodb create-table --table-name Ttfr \
    --attribute-definitions AttributeName=pk,AttributeType=S --key-schema AttributeName=pk,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST --stream-specification StreamEnabled=true,StreamViewType=NEW_IMAGE \
    --query TableDescription.LatestStreamArn --output text) || fail "create-table"
cat >"$T/ddb.properties" <<P
job.name=ttfr-ddb
task.inputs=ddb.t
task.outputs=out.records
job.checkpoint.sqlite.path=$T/ddb.db
systems.ddb.samza.factory=dynamodbstreams
systems.ddb.aws.region=us-east-1
systems.ddb.aws.endpoint=$DDB
systems.ddb.aws.credentials.access.key.id=AKIDEXAMPLE
systems.ddb.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.ddb.streams.t.stream.arn=$ARN
systems.ddb.streams.t.scan.shard.getrecords.intervalmillis=200
systems.out.samza.factory=file
systems.out.streams.records.path=$T/ddb.jsonl
P
kin_run "$T/ddb.properties" "$T/ddb.log"
write_ddb() { cli "$DDB" dynamodb put-item --table-name Ttfr --item "{\"pk\": {\"S\": \"item$1\"}}" >/dev/null; }
measure dynamodbstreams-file "$T/ddb.jsonl" "$T/ddb.log" "$KIN_PID" write_ddb

# --- Pulsar -> stdout ---------------------------------------------------------------------------
TOPIC=persistent://public/default/ttfr
cat >"$T/pl.properties" <<P
job.name=ttfr-pulsar
task.inputs=pl.t
task.outputs=out.stdout
job.checkpoint.sqlite.path=$T/pl.db
systems.pl.samza.factory=pulsar
systems.pl.pulsar.service-url=$PL
systems.pl.streams.t.pulsar.topic=$TOPIC
systems.pl.streams.t.subscriptionName=ttfr
systems.pl.streams.t.pulsar.subscription.initial-position=Earliest
systems.out.samza.factory=stdio
P
"$SLUICE" run "$T/pl.properties" >"$T/pl.out" 2>"$T/pl.log" &
PID=$!; kin_track $PID
write_pl() { pl_py send "$PL" "$TOPIC" "message $1" "k$1" >/dev/null; }
measure pulsar-stdio "$T/pl.out" "$T/pl.log" $PID write_pl

say "time to first record from a caught-up input:$RESULTS (target < 1000 ms)"
