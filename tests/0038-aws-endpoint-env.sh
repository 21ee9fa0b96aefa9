#!/bin/sh
# 0038: a job whose properties name no endpoint at all (the Samza seed's lines, region and keys
# only) reaches local peers the way the AWS SDKs let users point any program at them. (1)
# AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL_DYNAMODB: every record the AWS CLI put into
# kinesalite comes out, the KCL lease table is in dynalite (the CLI scans it), and the log says
# which endpoint came from where. (2) The same through a `services` section of an
# AWS_CONFIG_FILE profile. (3) aws.endpoint in the job still wins over AWS_ENDPOINT_URL_KINESIS
# pointing at a dead port. (4) `sluice-aws` honours the variables too, and --endpoint-url beats
# them. The variables are set per command: tests/lib/kinesis.sh unsets them for isolation.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:kinesalite peer:dynalite
PEER=0038-aws-endpoint-env
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"

kin_up kinesalite dynalite
KIN=$(cat "$T/kinesalite.url")
DDB=$(cat "$T/dynalite.url")
DEAD=http://127.0.0.1:$(free_port)
SECRET=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
say "kinesalite $KIN, dynalite $DDB, nothing at $DEAD"

kin_stream "$KIN" ep 2
python3 - "$T" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import kin
kin.dump([{"id": "r%d" % i, "key": "k%d" % i, "data": b"endpoint-%d" % i} for i in range(40)],
         sys.argv[1] + "/r.in", "w")
EOF
kpy put "$KIN" ep "$T/r.in" "$T/r.put" || fail "put-records"

# props NAME: the Samza seed's lines (no endpoint anywhere), TRIM_HORIZON and fast intervals.
props() {
    cat <<P
job.name=$1
job.id=1
systems.kinesis-system.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory
job.systemstreampartition.grouper.factory=org.apache.samza.container.grouper.stream.AllSspToSingleTaskGrouperFactory
task.inputs=kinesis-system.ep
systems.kinesis-system.streams.ep.aws.region=us-east-1
systems.kinesis-system.streams.ep.aws.accessKey=AKIDEXAMPLE
sensitive.systems.kinesis-system.streams.ep.aws.secretKey=$SECRET
systems.kinesis-system.streams.ep.scan.stream.initpos=TRIM_HORIZON
systems.kinesis-system.streams.ep.scan.shard.getrecords.intervalmillis=200ms
systems.kinesis-system.streams.ep.checkpoint.interval=1s
task.outputs=out.records
task.commit.ms=500ms
job.checkpoint.sqlite.path=$T/$1.db
systems.out.samza.factory=file
systems.out.streams.records.path=$T/$1.jsonl
systems.out.streams.records.format=json
log.level=info
P
}

# run NAME VAR=VALUE...: `sluice run` of NAME's properties in the background with the given
# environment; its pid is in $KIN_PID, its log in $T/NAME.log.
run() {
    _n=$1; shift
    env "$@" "$SLUICE" run "$T/$_n.properties" >>"$T/$_n.log" 2>&1 &
    KIN_PID=$!
    kin_track "$KIN_PID"
}

# reads NAME KINFROM DDBFROM: the job logs its endpoints with their sources, outputs every
# record, and after a graceful stop its lease table in dynalite holds one lease per shard.
reads() {
    kin_wait_log "$T/$1.log" "kinesis endpoint $KIN (from $2)" 1 20 "$KIN_PID"
    kin_wait_log "$T/$1.log" "dynamodb endpoint $DDB (from $3)" 1 20 "$KIN_PID"
    kin_wait_covers "$T/$1.jsonl" "$T/r.put" 30 "$KIN_PID" "$T/$1.log"
    kin_stop "$KIN_PID" "$T/$1.log"
    ddb_scan "$DDB" "$1-1-ep" >"$T/$1.leases.json" || fail "no lease table $1-1-ep in dynalite"
    n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['Items']))" "$T/$1.leases.json")
    [ "$n" = 2 ] || { cat "$T/$1.leases.json"; fail "$1: $n leases in dynalite, expected 2"; }
    lacks "$T/$1.log" "$SECRET"
    lacks "$T/$1.log" "amazonaws.com"
    grep -F " endpoint " "$T/$1.log" | sed 's/^[^]]*] /#   /'
}

# ---- (1) AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_DYNAMODB ------------------------------------
props ep-env >"$T/ep-env.properties"
lacks "$T/ep-env.properties" "endpoint"
run ep-env AWS_ENDPOINT_URL_KINESIS="$KIN" AWS_ENDPOINT_URL_DYNAMODB="$DDB" \
    AWS_ENDPOINT_URL="$DEAD"
reads ep-env AWS_ENDPOINT_URL_KINESIS AWS_ENDPOINT_URL_DYNAMODB
say "(1) AWS_ENDPOINT_URL_KINESIS/_DYNAMODB (over AWS_ENDPOINT_URL): 40 records, 2 leases in dynalite"

# ---- (2) a services section of the shared config file -------------------------------------------
cat >"$T/endpoints.config" <<C
[default]
region = us-east-1
endpoint_url = $DEAD
services = local-peers

[services local-peers]
kinesis =
  endpoint_url = $KIN
dynamodb =
  endpoint_url = $DDB
C
props ep-cfg >"$T/ep-cfg.properties"
run ep-cfg AWS_CONFIG_FILE="$T/endpoints.config"
from="services section 'local-peers' of profile 'default' in $T/endpoints.config"
reads ep-cfg "$from" "$from"
say "(2) services section of AWS_CONFIG_FILE (over the profile's endpoint_url): 40 records, 2 leases"

# ---- (3) the job's aws.endpoint wins ------------------------------------------------------------
{ props ep-job; echo "systems.kinesis-system.aws.endpoint=$KIN"; } >"$T/ep-job.properties"
run ep-job AWS_ENDPOINT_URL_KINESIS="$DEAD" AWS_ENDPOINT_URL_DYNAMODB="$DDB"
reads ep-job aws.endpoint AWS_ENDPOINT_URL_DYNAMODB
lacks "$T/ep-job.log" "$DEAD"
say "(3) aws.endpoint beats AWS_ENDPOINT_URL_KINESIS=$DEAD: 40 records"

# ---- (4) sluice aws --------------------------------------------------------------------------------
env AWS_ENDPOINT_URL_KINESIS="$KIN" "$SLUICE_AWS" kinesis ListStreams >"$T/ls.json" 2>"$T/ls.err" \
    || { cat "$T/ls.err"; fail "sluice-aws with AWS_ENDPOINT_URL_KINESIS"; }
contains "$T/ls.json" '"ep"'
env AWS_ENDPOINT_URL_KINESIS="$DEAD" "$SLUICE_AWS" kinesis ListStreams --endpoint-url "$KIN" \
    >"$T/ls3.json" 2>"$T/ls3.err" || { cat "$T/ls3.err"; fail "sluice-aws --endpoint-url $KIN"; }
contains "$T/ls3.json" '"ep"'
say "(4) sluice-aws: ListStreams through AWS_ENDPOINT_URL_KINESIS; --endpoint-url wins over it"
say "ok"
