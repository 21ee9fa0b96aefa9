#!/bin/sh
# 0042: the connector list is configure's. A second build in $T configured --without-pulsar
# --without-kinesis does not look for what only those connectors need (protobuf-c, protoc-c,
# lz4, zstd, zlib, snappy), builds a sluice whose generated registry lists file and stdio only,
# whose `sluice config docs` has no pulsar or kinesis rows, which refuses a job naming a left-out
# factory with an error saying it was built without that connector, and which still runs a file
# job. Slow (a second build of the library): not in check-fast.
. "$(dirname "$0")/lib/common.sh"
needs make pkg-config

B="$T/build"
mkdir "$B"
(cd "$B" && "$top_srcdir/configure" --without-pulsar --without-kinesis CC="${CC:-cc}" \
    >"$T/configure.log" 2>&1) || { tail -30 "$T/configure.log"; fail "configure --without-pulsar --without-kinesis failed"; }
for dep in PULSAR_DEPS SNAPPY protoc-c; do
    lacks "$T/configure.log" "checking for $dep"
done
contains "$T/configure.log" "left out:       kinesis dynamodbstreams pulsar"
(cd "$B" && nice -n 10 make -j2 sluice >"$T/make.log" 2>&1) || { tail -30 "$T/make.log"; fail "the build without pulsar and kinesis failed"; }
lacks "$B/runtime/systems_builtin.c" "sl_system_pulsar"
contains "$B/runtime/systems_builtin.c" '"pulsar",'
"$B/sluice" config docs >"$T/docs.md"
lacks "$T/docs.md" "pulsar.service-url"
lacks "$T/docs.md" "aws.kcl"
contains "$T/docs.md" "systems.<system>.library"
say "docs: $(grep -c '^| `' "$T/docs.md") properties (no pulsar, no kinesis)"

cd "$T"
printf 'a\nb\n' >in.txt
for f in pulsar org.apache.samza.system.kinesis.KinesisSystemFactory dynamodbstreams; do
    cat >job.properties <<P
job.name=left-out
task.inputs=in.s
task.outputs=out.s
systems.in.samza.factory=file
systems.in.streams.s.path=in.txt
systems.out.samza.factory=$f
job.checkpoint.sqlite.path=ckpt.db
P
    set +e
    "$B/sluice" run job.properties 2>err.txt
    rc=$?
    set -e
    cat err.txt
    [ "$rc" != 0 ] || fail "a job naming the left-out factory $f ran"
    contains err.txt "systems.out.samza.factory"
    contains err.txt "this sluice was built without it (configure --without-"
done
contains err.txt "'dynamodbstreams' is the dynamodbstreams connector"

sed -e 's/^systems.out.samza.factory=.*/systems.out.samza.factory=file/' job.properties >ok.properties
echo 'systems.out.streams.s.path=out.txt' >>ok.properties
"$B/sluice" run ok.properties 2>run.err || { cat run.err; fail "a file job fails without pulsar and kinesis"; }
[ "$(cat out.txt)" = "$(printf 'a\nb')" ] || fail "the file job wrote $(cat out.txt)"
say "ok: built without pulsar and kinesis; their factories are refused by name"
