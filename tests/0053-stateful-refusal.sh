#!/bin/sh
# 0053: a stateful operator (dedup, window: SL_OPERATOR_F_STATEFUL) on an input whose
# partitions may move to another process is refused at configuration, by `sluice config check`
# and `sluice run` alike (exit 3), in one line naming the operator's key and type, the input
# and why (the connector's in_partitions_move): a Kinesis or DynamoDB Streams input leasing its
# shards through a DynamoDB table (set explicitly, by a table name, an application name, a
# DynamoDB endpoint or Samza's factory), a Pulsar input on a Shared, Failover or Key_Shared
# subscription. Keyed state lives in this process's checkpoint file and cannot follow a
# partition yet. Accepted: the same inputs kept in one process (aws.kcl.LeaseStore=sqlite, an
# Exclusive subscription), with any number of worker threads, and stateless operators on
# shared inputs. Configuration only: no peer is contacted.
. "$(dirname "$0")/lib/common.sh"
"$SLUICE" config docs | grep -q aws.kcl.LeaseStore || fail "this sluice has no kinesis consumer (no aws.kcl.LeaseStore)"
"$SLUICE" config docs | grep -q pulsar.subscription.type || fail "this sluice has no pulsar consumer (no pulsar.subscription.type)"

ops() { # the operator chain on line 3 onwards: dedup dd, window w or filter f
    case $1 in
    dedup) printf 'task.operators=dd\noperators.dd.type=dedup\noperators.dd.key=key\noperators.dd.ttl=1h\n' ;;
    window) printf 'task.operators=w\noperators.w.type=window\noperators.w.window=tumbling\noperators.w.size=1m\n' ;;
    filter) printf 'task.operators=f\noperators.f.type=filter\noperators.f.expr=1\n' ;;
    esac
}

kinesis() { # operator-kind factory extra-lines...
    kind=$1; factory=$2; shift 2
    printf 'job.name=refuse\ntask.inputs=kin.s\n'
    ops "$kind"
    printf 'task.outputs=out.s\nsystems.out.samza.factory=file\nsystems.out.streams.s.path=%s\n' "$T/out.jsonl"
    printf 'systems.kin.samza.factory=%s\nsystems.kin.aws.endpoint=http://127.0.0.1:4567\n' "$factory"
    for l in "$@"; do printf '%s\n' "$l"; done
}

pulsar() { # operator-kind subscription-type extra-lines...
    kind=$1; sub=$2; shift 2
    printf 'job.name=refuse\ntask.inputs=pl.t\n'
    ops "$kind"
    printf 'task.outputs=out.s\nsystems.out.samza.factory=file\nsystems.out.streams.s.path=%s\n' "$T/out.jsonl"
    printf 'systems.pl.samza.factory=pulsar\nsystems.pl.pulsar.service-url=pulsar://127.0.0.1:6650\n'
    printf 'systems.pl.streams.t.subscriptionType=%s\n' "$sub"
    for l in "$@"; do printf '%s\n' "$l"; done
}

refused() { # name expected-substring...: config check and run both exit 3 with one line
    name=$1; shift
    for cmd in "config check" run; do
        # shellcheck disable=SC2086
        expect_exit 3 "$SLUICE" $cmd "$T/$name.properties" 2>"$T/$name.err" >"$T/$name.out"
        n=$(grep -c . "$T/$name.err" || true)
        [ "$n" = 1 ] || { cat "$T/$name.err"; fail "$name ($cmd): expected exactly one error line, got $n"; }
        for want in "$@"; do contains "$T/$name.err" "$want"; done
        contains "$T/$name.err" "keeps keyed state, which cannot follow a partition to another process yet"
    done
    say "$name: $(cat "$T/$name.err")"
}

accepted() { # name
    expect_exit 0 "$SLUICE" config check "$T/$1.properties" 2>"$T/$1.err" >"$T/$1.out" ||
        { cat "$T/$1.err"; fail "$1 was refused"; }
    contains "$T/$1.out" "configuration is valid"
    say "$1: accepted"
}

# Kinesis with a lease table named (line 13) and dedup (its type on line 4).
kinesis dedup kinesis systems.kin.aws.dynamodb.endpoint=http://127.0.0.1:4568 \
    systems.kin.aws.kcl.TableName=orders-leases >"$T/kin-table.properties"
refused kin-table "$T/kin-table.properties:4: operators.dd.type: operator 'dd' (dedup)" \
    "input kin.s shares its shards with other processes through the lease table 'orders-leases' (systems.kin.aws.kcl.TableName)" \
    "aws.kcl.LeaseStore=sqlite"

# Leases in DynamoDB said outright, table name derived (<job.name>-<job.id>-<stream>).
kinesis window kinesis systems.kin.aws.dynamodb.endpoint=http://127.0.0.1:4568 \
    systems.kin.streams.s.aws.kcl.LeaseStore=dynamodb >"$T/kin-store.properties"
refused kin-store "operators.w.type: operator 'w' (window)" \
    "lease table 'refuse-1-s' (systems.kin.streams.s.aws.kcl.LeaseStore)"

# Samza's factory leases through the KCL's table by default (auto); Pulsar's application name.
kinesis dedup org.apache.samza.system.kinesis.KinesisSystemFactory \
    systems.kin.aws.region=us-east-1 >"$T/kin-samza.properties"
refused kin-samza "lease table 'refuse-1-s' (systems.kin.samza.factory)"
kinesis dedup kinesis systems.kin.aws.dynamodb.endpoint=http://127.0.0.1:4568 \
    "systems.kin.applicationName=My app" >"$T/kin-app.properties"
refused kin-app "lease table 'My_app' (systems.kin.applicationName)"

# A DynamoDB stream read through a lease table is shared the same way.
kinesis window dynamodbstreams systems.kin.aws.dynamodb.endpoint=http://127.0.0.1:4568 \
    systems.kin.stream.arn=arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2024-01-01T00:00:00.000 \
    systems.kin.aws.kcl.TableName=t-leases >"$T/ddb-table.properties"
refused ddb-table "input kin.s shares its shards with other processes through the lease table 't-leases'"

# No lease table: one process keeps every shard in its local store, however many threads.
kinesis window kinesis job.container.thread.count=4 >"$T/kin-local.properties"
accepted kin-local
kinesis dedup kinesis job.container.thread.count=4 systems.kin.aws.dynamodb.endpoint=http://127.0.0.1:4568 \
    systems.kin.aws.kcl.TableName=orders-leases systems.kin.aws.kcl.LeaseStore=sqlite >"$T/kin-sqlite.properties"
accepted kin-sqlite
# A stateless operator may read a shared lease table.
kinesis filter kinesis systems.kin.aws.dynamodb.endpoint=http://127.0.0.1:4568 \
    systems.kin.aws.kcl.TableName=orders-leases >"$T/kin-filter.properties"
accepted kin-filter

# Pulsar: Shared and Key_Shared spread a partition's messages, Failover hands partitions over.
pulsar window Shared >"$T/pl-shared.properties"
refused pl-shared "operators.w.type: operator 'w' (window)" \
    "input pl.t reads through the Shared subscription 'refuse' (systems.pl.streams.t.subscriptionType)" \
    "use an Exclusive subscription"
pulsar window Failover systems.pl.streams.t.subscriptionName=orders >"$T/pl-failover.properties"
refused pl-failover "the Failover subscription 'orders'" "hands a partition over to the consumers of other processes"
pulsar dedup Key_Shared >"$T/pl-keyshared.properties"
refused pl-keyshared "operator 'dd' (dedup)" "the Key_Shared subscription 'refuse'"
# Exclusive (the default) keeps each partition in this process, also with many threads.
pulsar window Exclusive job.container.thread.count=4 >"$T/pl-exclusive.properties"
accepted pl-exclusive
pulsar dedup Exclusive job.container.thread.count=2 | grep -v subscriptionType >"$T/pl-default.properties"
accepted pl-default
pulsar filter Shared >"$T/pl-filter.properties"
accepted pl-filter
say "ok"
