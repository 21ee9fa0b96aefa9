#!/bin/sh
# kinesis_write.sh [RECORDS [E2E_RECORDS_PER_SHARD]]: CPU and memory of the kinesis producer.
# The endpoint is tests/tools/kinesis-sink-server (C, one thread, 127.0.0.1): it answers
# ListShards and PutRecords (4 shards), counts the Kinesis records and, with --verify, opens every
# KPL aggregate (MD5 checked) to count the user records inside.
#   producer: a file of RECORDS (default 2M) 100-byte lines -> kinesis, plain and with KPL
#             aggregation (51200-byte aggregates); the same file -> file /dev/null is the
#             baseline, so the producer's own CPU per record is the difference.
#   e2e:      kinesis -> filter -> kinesis: bench/kinesis_replay.py serves GetRecords pages of
#             100-byte records (4 shards x E2E_RECORDS_PER_SHARD, default 250000, 16 partition keys
#             per shard), a SQL filter keeps the records whose first byte is not 'z' (all of
#             them), the producer writes them with their partition keys to the sink server:
#             plain with the order per key kept (one entry per key per round trip), aggregated,
#             and plain with sink.keep-key-order=false. The issue's target: 400k records per
#             second per core of sluice CPU.
# sluice runs with one worker thread; it ends by itself when the file is read (producer cases) or
# gets SIGTERM once the sink server counted every record (e2e). CPU (user + sys) and peak RSS
# come from wait4(). The peer, side by side: a boto3 PutRecords loop (500 random-keyed records
# per call, one call at a time) and the same with
# aws_kinesis_agg aggregation, against the same server; its CPU counts only its send loop
# (interpreter start, imports and client set-up excluded, which favours the peer).
# SLUICE=path/to/sluice and SINK_SERVER=path/to/kinesis-sink-server for a separate build
# directory; PEER_RECORDS=0 skips the peer. Not a test: figures vary with the machine.
set -eu
N=${1:-2000000}
E2E=${2:-250000}
PEER_RECORDS=${PEER_RECORDS:-200000}
TIMEOUT=${TIMEOUT:-180}
BOTO3_VERSION=1.35.99
AGG_VERSION=1.2.3
PROTOBUF_VERSION=3.20.3
top=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$top/sluice}
SINK_SERVER=${SINK_SERVER:-$top/tests/tools/kinesis-sink-server}
[ -x "$SINK_SERVER" ] || { echo "no $SINK_SERVER: make tests/tools/kinesis-sink-server" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

PEER=kinesis-bench
LOG=$T/install.log
. "$top/tests/peers/lib.sh"
VENV=$PEERS_CACHE/kinesis-bench-boto3-$BOTO3_VERSION-agg-$AGG_VERSION
install_venv() {
    python3 -m venv "$1/venv" &&
        "$1/venv/bin/pip" install --disable-pip-version-check --no-input -q --no-compile \
            "boto3==$BOTO3_VERSION" "aws_kinesis_agg==$AGG_VERSION" "protobuf==$PROTOBUF_VERSION"
}
if [ ! -e "$VENV/.installed" ]; then
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || peer_apt_install python3-venv
    peer_msg "installing boto3, aws_kinesis_agg and protobuf into $VENV (once)"
    peer_cached "$VENV" install_venv
fi
PY=$VENV/venv/bin/python3

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2" | tail -n 1; }

# run.py OUT STATS TOTAL CMD...: runs CMD; with a stats file, sends SIGTERM once its
# user_records reach TOTAL (or after $TIMEOUT s). Writes "wall user sys maxrss_kb exit".
cat >"$T/run.py" <<'PY'
import json, os, signal, subprocess, sys, time
out, stats, total, cmd = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
timeout = float(os.environ.get("TIMEOUT", "180"))
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=open(out + ".stdout", "w"), stderr=open(out + ".stderr", "w"))
termed = False
while True:
    pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    if pid:
        break
    time.sleep(0.1)
    seen = 0
    if stats != "-":
        try:
            seen = json.load(open(stats)).get("user_records", 0)
        except (OSError, ValueError):
            pass
    if not termed and ((stats != "-" and seen >= total) or time.monotonic() - t0 > timeout):
        os.kill(p.pid, signal.SIGTERM)
        termed = True
wall = time.monotonic() - t0
with open(out, "w") as f:
    f.write("%.2f %.4f %.4f %d %d\n" % (wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss,
                                         os.waitstatus_to_exitcode(status)))
PY

# The boto3 peer: PutRecords of 500 records (aggregated with aws_kinesis_agg when asked);
# prints "user_records loop_cpu_s".
cat >"$T/peer.py" <<'PY'
import os, resource, sys
import boto3, botocore.config
from aws_kinesis_agg.aggregator import RecordAggregator
url, agg, n = sys.argv[1], sys.argv[2] == "kpl", int(sys.argv[3])
c = boto3.client("kinesis", endpoint_url=url, region_name="us-east-1",
                 aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="wJalrXUtnFEMI/K7MDENG",
                 config=botocore.config.Config(retries={"max_attempts": 3}))
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
data = [(b"%099d" % i) for i in range(1000)]
c0 = cpu()
sent, batch = 0, []
a = RecordAggregator(51200)  # the KPL default aggregate size, as sluice uses
def put(entries):
    r = c.put_records(StreamName="bench", Records=entries)
    assert r["FailedRecordCount"] == 0
for i in range(n):
    key = os.urandom(16).hex()
    if agg:
        full = a.add_user_record(key, data[i % 1000])
        if full:
            pk, ehk, blob = full.get_contents()
            batch.append(dict({"PartitionKey": pk, "Data": blob}, **({"ExplicitHashKey": ehk} if ehk else {})))
    else:
        batch.append({"PartitionKey": key, "Data": data[i % 1000]})
    if len(batch) >= (90 if agg else 500):  # 90 aggregates of 51200 bytes stay under 5 MB
        put(batch)
        batch = []
if agg and a.get_num_user_records():
    pk, ehk, blob = a.clear_and_get().get_contents()
    batch.append(dict({"PartitionKey": pk, "Data": blob}, **({"ExplicitHashKey": ehk} if ehk else {})))
if batch:
    put(batch)
print(n, round(cpu() - c0, 4))
PY

# Starts the sink server (4 shards, verifying aggregates); sets SURL and SSTATS.
start_sink() {
    SPORT=$(free_port)
    SSTATS=$T/sink.$1.json
    rm -f "$SSTATS"
    "$SINK_SERVER" --port "$SPORT" --shards 4 --stream bench --stats "$SSTATS" --verify \
        >"$T/sink.$1.out" 2>&1 &
    SPID=$!
    PIDS="$PIDS $SPID"
    SURL=http://127.0.0.1:$SPORT
    i=0
    until curl -s -o /dev/null -X POST "$SURL/" -H 'X-Amz-Target: Kinesis_20131202.ListShards' \
        -H 'Content-Type: application/x-amz-json-1.1' -d '{"StreamName":"bench"}'; do
        i=$((i + 1)); [ $i -lt 100 ] || { cat "$T/sink.$1.out" >&2; exit 1; }
        sleep 0.05
    done
}
stop_sink() { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }
sink_count() { python3 -c "import json; d=json.load(open('$SSTATS')); print(d.get('user_records', 0), d.get('records', 0))"; }

# Starts the GetRecords replay (plain, 4 shards); sets RURL.
start_replay() {
    : >"$T/replay.out"
    "$PY" "$top/bench/kinesis_replay.py" --shards 4 --records-per-shard "$E2E" --page 10000 \
        >"$T/replay.out" 2>"$T/replay.err" &
    RPID=$!
    PIDS="$PIDS $RPID"
    i=0
    until grep -q '^ready' "$T/replay.out"; do
        kill -0 "$RPID" 2>/dev/null || { cat "$T/replay.err" >&2; exit 1; }
        i=$((i + 1)); [ $i -lt 600 ] || { echo "replay endpoint did not start" >&2; exit 1; }
        sleep 0.1
    done
    RURL=$(field url "$T/replay.out")
}

sink_props() { # sink_props AGG
    cat <<P
systems.kout.samza.factory=kinesis
systems.kout.aws.endpoint=$SURL
systems.kout.aws.region=us-east-1
systems.kout.aws.credentials.access.key.id=AKIDEXAMPLE
systems.kout.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG
systems.kout.streams.bench.sink.flush-buffer.timeout=100ms
systems.kout.streams.bench.sink.aggregation.enabled=$1
P
}

python3 -c "
import os
with open('$T/in.txt', 'wb') as f:
    for i in range($N):
        f.write(b'%099d\n' % i)"

# row NAME RECORDS WALL CPU RSS_KB NOTE
row() {
    python3 - "$@" <<'PY'
import sys
name, n, wall, cpu, rss, note = sys.argv[1:]
n, cpu = int(n), max(float(cpu), 1e-6)
print("%-24s %9d %7.2f %7.3f %8.3f %11d %8.1f MB  %s" %
      (name, n, float(wall), cpu, cpu * 1e6 / max(n, 1), n / cpu, int(rss) / 1024, note))
PY
}

echo "# kinesis producer against tests/tools/kinesis-sink-server (4 shards) on 127.0.0.1"
echo "# sluice: $SLUICE, one worker thread; boto3 $BOTO3_VERSION peer sends up to $PEER_RECORDS records"
printf '%-24s %9s %7s %7s %8s %11s %11s\n' case records "wall s" "CPU s" "us/rec" "rec/CPU-s" "peak RSS"
: >"$T/summary"

# ---- producer ----
cat >"$T/base.properties" <<P
job.name=write-bench
task.inputs=files.in
task.outputs=out.s
job.container.thread.count=1
job.checkpoint.sqlite.path=$T/base.db
log.level=warn
systems.files.samza.factory=file
systems.files.streams.in.path=$T/in.txt
systems.out.samza.factory=file
systems.out.streams.s.path=/dev/null
P
python3 "$T/run.py" "$T/base" - 0 "$SLUICE" run "$T/base.properties"
read -r wall user sys rss code <"$T/base"
[ "$code" = 0 ] || { cat "$T/base.stderr" >&2; exit 1; }
base_cpu=$(python3 -c "print($user + $sys)")
row "file -> /dev/null" "$N" "$wall" "$base_cpu" "$rss" "(baseline)"

for agg in false true; do
    start_sink p$agg
    { grep -v -e '^systems.out' -e '^task.outputs' -e '^job.checkpoint' "$T/base.properties"
      echo "task.outputs=kout.bench"; echo "job.checkpoint.sqlite.path=$T/p$agg.db"
      sink_props $agg; } >"$T/p$agg.properties"
    python3 "$T/run.py" "$T/p$agg" - 0 "$SLUICE" run "$T/p$agg.properties"
    read -r wall user sys rss code <"$T/p$agg"
    [ "$code" = 0 ] || { tail -n 20 "$T/p$agg.stderr" >&2; exit 1; }
    sleep 1.2
    set -- $(sink_count)
    [ "$1" = "$N" ] || echo "  (the sink server counted $1 user records, $N sent)"
    cpu=$(python3 -c "print($user + $sys)")
    name="file -> kinesis"; [ $agg = true ] && name="file -> kinesis (KPL)"
    row "$name" "$N" "$wall" "$cpu" "$rss" "$2 Kinesis records"
    python3 -c "print('  producer alone: %.3f us CPU/record, %d records per CPU-second' % (($cpu - $base_cpu) * 1e6 / $N, $N / max($cpu - $base_cpu, 1e-6)))"
    echo "sluice-producer $agg $N $(python3 -c "print(max($cpu - $base_cpu, 1e-6))") $rss" >>"$T/summary"
    stop_sink
    if [ "$PEER_RECORDS" -gt 0 ]; then
        start_sink peer$agg
        fmt=plain; [ $agg = true ] && fmt=kpl
        python3 "$T/run.py" "$T/pe" - 0 "$PY" "$T/peer.py" "$SURL" "$fmt" "$PEER_RECORDS"
        read -r wall user sys rss code <"$T/pe"
        [ "$code" = 0 ] || { tail -n 20 "$T/pe.stderr" >&2; exit 1; }
        read -r n loopcpu <"$T/pe.stdout"
        row "boto3 ($fmt)" "$n" "$wall" "$loopcpu" "$rss" "send loop only"
        echo "boto3-producer $agg $n $loopcpu $rss" >>"$T/summary"
        stop_sink
    fi
done

# ---- end to end ----
TOTAL=$((4 * E2E))
for agg in false true unordered; do
    start_replay
    start_sink e$agg
    cat >"$T/e$agg.properties" <<P
job.name=e2e-bench
task.inputs=k.bench
task.outputs=kout.bench
task.operators=keep
job.container.thread.count=1
job.checkpoint.sqlite.path=$T/e$agg.db
log.level=warn
operators.keep.type=filter
operators.keep.expr=substr(payload, 1, 1) != 'z'
systems.k.samza.factory=kinesis
systems.k.aws.endpoint=$RURL
systems.k.aws.region=us-east-1
systems.k.aws.credentials.access.key.id=AKIDEXAMPLE
systems.k.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG
systems.k.aws.kcl.LeaseStore=sqlite
systems.k.streams.bench.scan.stream.initpos=TRIM_HORIZON
systems.k.streams.bench.scan.shard.getrecords.intervalmillis=200ms
P
    if [ $agg = unordered ]; then
        { sink_props false; echo "systems.kout.streams.bench.sink.keep-key-order=false"; } >>"$T/e$agg.properties"
    else
        sink_props $agg >>"$T/e$agg.properties"
    fi
    TIMEOUT=$TIMEOUT python3 "$T/run.py" "$T/e$agg" "$SSTATS" "$TOTAL" "$SLUICE" run "$T/e$agg.properties"
    read -r wall user sys rss code <"$T/e$agg"
    set -- $(sink_count)
    [ "$1" -ge "$TOTAL" ] || { echo "  (the sink server counted $1 of $TOTAL records; log:)"; tail -n 20 "$T/e$agg.stderr"; }
    cpu=$(python3 -c "print($user + $sys)")
    name="k -> filter -> k"; [ $agg = true ] && name="k -> filter -> k (KPL)"
    [ $agg = unordered ] && name="k -> filter -> k (unordered)"
    row "$name" "$1" "$wall" "$cpu" "$rss" "$2 Kinesis records"
    echo "sluice-e2e $agg $1 $cpu $rss" >>"$T/summary"
    stop_sink
    kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true
done

echo
python3 - "$T/summary" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    who, agg, n, cpu, rss = line.split()
    rows[who, agg] = (int(n) / max(float(cpu), 1e-6), int(rss) / 1024)
for agg in ("false", "true"):
    s, p = rows.get(("sluice-producer", agg)), rows.get(("boto3-producer", agg))
    if s and p:
        print("producer%s: sluice %.1fx the records per CPU-second of boto3" %
              (" (KPL)" if agg == "true" else "", s[0] / p[0]))
for agg, how in (("false", ", order per key kept"), ("true", " with KPL"),
                 ("unordered", ", sink.keep-key-order=false")):
    e = rows.get(("sluice-e2e", agg))
    if e:
        print("target (400k records per CPU-second end to end)%s: %.0fk (%s), peak %.1f MB" %
              (how, e[0] / 1e3, "met" if e[0] >= 4e5 else "NOT met", e[1]))
PY
