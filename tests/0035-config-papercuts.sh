#!/bin/sh
# 0035: what a new user hits first in configuration and on the command line (issue 13). Each
# part fails on the code before its fix:
#  - a `//` line (as in Samza's own Kinesis document) gets a hint that '#' and '!' start
#    comments, every such line is reported (a later duplicate no longer hides line 1), and
#    `config check` lists its errors in line order;
#  - `config check` reports an input file that does not exist at the path key's file:line,
#    as `run` would fail on it; follow=true waits for a path in a directory that exists, but
#    not for a missing directory;
#  - `-D` without a value is a usage error that says so; `--help` names --pulsar-io;
#  - with --pulsar-io, -D takes the connector's own names (awsEndpoint) and errors say
#    "-D awsEndpoint:"; `checkpoints list --pulsar-io` needs no --topic when the config names
#    it (inputSpecs) or when a source's topic does not matter;
#  - the Pulsar IO fields around `configs` are explained (parallelism, processingGuarantees,
#    autoAck, ...), mapped where they mean something (tenant/namespace qualify a short topic,
#    sourceSubscriptionName), and an impossible one (topicsPattern) is an error.
# No peer is needed: nothing here connects anywhere.
. "$(dirname "$0")/lib/common.sh"

# ---- 1: comments and duplicates --------------------------------------------------------------
cat >"$T/slash.properties" <<P
// Samza's document writes comments like this
job.name=cfg
task.inputs=in.s
systems.in.samza.factory=file
systems.in.streams.s.path=/dev/null
task.comit.ms=5s
// and again
P
expect_exit 3 "$SLUICE" config check "$T/slash.properties" 2>"$T/slash.err"
say "slash: $(cat "$T/slash.err")"
[ "$(grep -c . "$T/slash.err")" = 3 ] || fail "expected three error lines"
sed -n 1p "$T/slash.err" | grep -qF "$T/slash.properties:1: unknown property '//'" \
    || fail "line 1 is not the first error"
sed -n 2p "$T/slash.err" | grep -qF "$T/slash.properties:6: unknown property 'task.comit.ms'" \
    || fail "line 6 is not the second error"
sed -n 3p "$T/slash.err" | grep -qF "$T/slash.properties:7: unknown property '//'" \
    || fail "line 7 is not the third error"
[ "$(grep -c "'#' and '!' do" "$T/slash.err")" = 2 ] || fail "both // lines need the comment hint"

# Errors of different kinds (unknown key, bad value, bad expression) come in line order too.
cat >"$T/order.properties" <<P
job.name=cfg
task.inputs=in.s
task.operators=f
operators.f.type=filter
operators.f.expr=json_extract(paylod, '\$.x') = 1
systems.in.samza.factory=file
systems.in.streams.s.path=/dev/null
task.comit.ms=5s
task.commit.ms=soon
P
expect_exit 3 "$SLUICE" config check "$T/order.properties" 2>"$T/order.err"
say "order: $(cut -d: -f2 "$T/order.err" | tr '\n' ' ')"
[ "$(cut -d: -f2 "$T/order.err" | tr '\n' ' ')" = "5 8 9 " ] || fail "errors not in line order"

# ---- 2: a missing input file -----------------------------------------------------------------
cat >"$T/missing.properties" <<P
job.name=cfg
task.inputs=in.s
systems.in.samza.factory=file
systems.in.streams.s.path=$T/nope.jsonl
P
expect_exit 3 "$SLUICE" config check "$T/missing.properties" 2>"$T/missing.err"
say "missing: $(cat "$T/missing.err")"
contains "$T/missing.err" "$T/missing.properties:4: systems.in.streams.s.path:"
contains "$T/missing.err" "$T/nope.jsonl"
# run refuses it the same way, before starting.
expect_exit 3 "$SLUICE" run "$T/missing.properties" 2>"$T/missing-run.err"
contains "$T/missing-run.err" "$T/missing.properties:4:"
# The stream's name is the path when no path is set: the error points at task.inputs.
printf 'job.name=cfg\ntask.inputs=in.nope\nsystems.in.samza.factory=file\n' >"$T/noname.properties"
expect_exit 3 "$SLUICE" config check "$T/noname.properties" 2>"$T/noname.err"
contains "$T/noname.err" "$T/noname.properties:2: task.inputs: input path 'nope'"
# follow=true: a path not there yet in a directory that is there is waited for ...
{ cat "$T/missing.properties"; echo "systems.in.streams.s.follow=true"; } >"$T/follow.properties"
expect_exit 0 "$SLUICE" config check "$T/follow.properties" >"$T/follow.out" 2>"$T/follow.err"
contains "$T/follow.err" "does not exist yet"
# ... but not a directory that is missing too.
sed "s#path=.*#path=$T/nodir/in.jsonl#" "$T/follow.properties" >"$T/nodir.properties"
expect_exit 3 "$SLUICE" config check "$T/nodir.properties" 2>"$T/nodir.err"
contains "$T/nodir.err" "$T/nodir.properties:4: systems.in.streams.s.path:"
contains "$T/nodir.err" "nor does its directory '$T/nodir'"

# ---- 3: the command line -----------------------------------------------------------------------
expect_exit 2 "$SLUICE" config check "$T/slash.properties" -D 2>"$T/d.err"
contains "$T/d.err" "-D needs key=value"
lacks "$T/d.err" "unknown option"
"$SLUICE" --help >"$T/help.out"
contains "$T/help.out" "--pulsar-io"

# ---- 4 and 5: Pulsar IO configs -----------------------------------------------------------------
cat >"$T/src.json" <<'J'
{"awsEndpoint": "http://127.0.0.1:9", "awsRegion": "us-east-1", "awsKinesisStreamName": "s",
 "awsCredentialPluginParam": "{\"accessKey\":\"myKey\",\"secretKey\":\"my-Secret\"}"}
J
expect_exit 3 "$SLUICE" config check --pulsar-io kinesis-source "$T/src.json" --topic t \
    -D awsEndpoint=notaurl -D receiveQueueSize=many 2>"$T/iod.err"
say "-D: $(cat "$T/iod.err")"
contains "$T/iod.err" "-D awsEndpoint: expected an http:// or https:// URL, got 'notaurl'"
contains "$T/iod.err" "-D receiveQueueSize: expected an integer"
lacks "$T/iod.err" "<api>"
# A -D Pulsar IO name lands where the file's field does (the dump names the -D).
"$SLUICE" config dump --pulsar-io kinesis-source "$T/src.json" --topic t \
    -D awsEndpoint=http://127.0.0.1:7 >"$T/iod.dump" 2>/dev/null
contains "$T/iod.dump" "systems.kinesis.streams.in.aws.endpoint=http://127.0.0.1:7  # -D awsEndpoint"
# Plain keys still work, and their errors say -D too.
expect_exit 3 "$SLUICE" config check "$T/missing.properties" -D task.commit.ms=soon 2>"$T/dk.err"
contains "$T/dk.err" "-D task.commit.ms: expected a duration"

# checkpoints list of a source: its output topic does not matter.
expect_exit 0 "$SLUICE" checkpoints list --pulsar-io kinesis-source "$T/src.json" \
    -D "job.checkpoint.sqlite.path=$T/src.db" >"$T/ck1.out" 2>"$T/ck1.err"
contains "$T/ck1.out" "no checkpoints"

# A whole sink config: the topic named by inputSpecs, in tenant/namespace; what the fields mean.
cat >"$T/sink.yaml" <<'Y'
tenant: acme
namespace: logs
name: to-kinesis
inputSpecs:
  app-events:
    receiverQueueSize: 100
sourceSubscriptionName: kin-sub
parallelism: 2
processingGuarantees: ATMOST_ONCE
autoAck: true
timeoutMs: 5000
resources: {cpu: 1, ram: 1073741824}
bogusField: 1
configs:
  awsEndpoint: "http://127.0.0.1:9"
  awsRegion: us-east-1
  awsKinesisStreamName: s
Y
expect_exit 0 "$SLUICE" checkpoints list --pulsar-io kinesis-sink "$T/sink.yaml" \
    -D "job.checkpoint.sqlite.path=$T/sink.db" >"$T/ck2.out" 2>"$T/ck2.err"
contains "$T/ck2.out" "no checkpoints"
"$SLUICE" config dump --pulsar-io kinesis-sink "$T/sink.yaml" >"$T/sink.dump" 2>"$T/sink.err"
contains "$T/sink.dump" "systems.pulsar.streams.in.pulsar.topic=persistent://acme/logs/app-events  # $T/sink.yaml:5"
contains "$T/sink.dump" "systems.pulsar.streams.in.pulsar.subscription.name=kin-sub"
contains "$T/sink.err" "$T/sink.yaml:8: parallelism=2: one sluice process is one instance"
contains "$T/sink.err" "$T/sink.yaml:9: processingGuarantees=ATMOST_ONCE: sluice is at-least-once"
contains "$T/sink.err" "$T/sink.yaml:10: autoAck=true:"
contains "$T/sink.err" "$T/sink.yaml:11: timeoutMs=5000:"
contains "$T/sink.err" "$T/sink.yaml:12: resources:"
contains "$T/sink.err" "$T/sink.yaml:13: 'bogusField' is not a field of a Pulsar IO sink config"
# The guarantees: sluice's own rule, and into Pulsar the broker's deduplication.
printf 'topicName: out\nprocessingGuarantees: ATLEAST_ONCE\nconfigs: {awsRegion: us-east-1, awsKinesisStreamName: s}\n' >"$T/g1.yaml"
"$SLUICE" config check --pulsar-io kinesis-source "$T/g1.yaml" >/dev/null 2>"$T/g1.err" || true
contains "$T/g1.err" "processingGuarantees=ATLEAST_ONCE: sluice's rule"
sed 's/ATLEAST_ONCE/EFFECTIVELY_ONCE/' "$T/g1.yaml" >"$T/g2.yaml"
"$SLUICE" config check --pulsar-io kinesis-source "$T/g2.yaml" >/dev/null 2>"$T/g2.err" || true
contains "$T/g2.err" "deduplication"
sed 's/ATLEAST_ONCE/TWICE/' "$T/g1.yaml" >"$T/g3.yaml"
expect_exit 3 "$SLUICE" config check --pulsar-io kinesis-source "$T/g3.yaml" 2>"$T/g3.err"
contains "$T/g3.err" "$T/g3.yaml:2: processingGuarantees: expected one of"
printf 'topicsPattern: "persistent://public/default/a.*"\nconfigs: {awsRegion: us-east-1, awsKinesisStreamName: s}\n' >"$T/pat.yaml"
expect_exit 3 "$SLUICE" config check --pulsar-io kinesis-sink "$T/pat.yaml" 2>"$T/pat.err"
contains "$T/pat.err" "$T/pat.yaml:1: topicsPattern:"
say "ok"
