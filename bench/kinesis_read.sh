#!/bin/sh
# kinesis_read.sh [RECORDS_PER_SHARD_1 [.._64 [.._256]]]: CPU and memory of the kinesis polling
# consumer. For 1, 64 and 256 shards, bench/kinesis_replay.py serves canned GetRecords pages of
# 100-byte records on 127.0.0.1 (built once, then replayed; shards close after their last page
# so the total is known), first plain, then as KPL aggregates (aws_kinesis_agg, ~445 user records
# of 100 bytes per 51200-byte aggregate, the KPL default). sluice runs kinesis (sqlite lease
# store, TRIM_HORIZON, 200 ms between GetRecords of a shard, Limit 10000, one worker thread) ->
# a no-op operator (a 6-line .so that emits every record) -> the file system writing payloads to
# /dev/null (the cheapest real sink: measured at ~0.05 us/record more than no output at all).
# Once sluice_records_in_total (metrics.http.port) reaches the total it gets SIGTERM; its user +
# sys CPU and peak RSS come from wait4() (getrusage of the child, not wall time). The peer, side by
# side against the same endpoint: a single-process boto3 consumer (ListShards, GetShardIterator,
# GetRecords round-robin over all shards at the same 200 ms per shard, Data decoded, KPL
# de-aggregated with aws_kinesis_agg); it reads at most PEER_RECORDS user records per case (each
# shard's first pages) to keep the run short, and its CPU counts only its read loop (interpreter
# start, imports and client set-up excluded, which favours the peer). The endpoint's own CPU while
# serving is printed separately: it must stay well below the consumer's.
#
# Prints per case: records, wall s, CPU s, us CPU/record, records per CPU-second, peak RSS, and
# the endpoint's CPU; then sluice's ratios against boto3 and the issue's target (1M records per
# CPU-second, under 32 MB at 256 shards). Wall time is bounded by 5 pages per shard per second
# (the service's GetRecords limit, kept by the 200 ms interval): the 1-shard case uses pages of
# PAGE_1=10000 records, the others PAGE_N=1000. Defaults 400000 10000 4000 records per shard
# (0.4M, 0.64M, 1M records) run in under 3 minutes. SHARDS="1 64 256" and FORMATS="plain kpl"
# pick cases; PEER_RECORDS=0 skips the peer; SLUICE_PROPS="k=v k=v" adds job properties;
# SLUICE=path/to/sluice for a separate build directory. Needs python3 (with venv), cc, curl;
# boto3, aws_kinesis_agg and protobuf are pinned in a venv cached under $SLUICE_PEERS_CACHE.
# Not a test: figures vary with the machine.
set -eu
R1=${1:-400000}
R64=${2:-10000}
R256=${3:-4000}
PAGE_1=${PAGE_1:-10000}
PAGE_N=${PAGE_N:-1000}
PEER_RECORDS=${PEER_RECORDS:-200000}
SHARDS=${SHARDS:-1 64 256}
FORMATS=${FORMATS:-plain kpl}
SLUICE_PROPS=${SLUICE_PROPS:-}
TIMEOUT=${TIMEOUT:-120}
BOTO3_VERSION=1.35.99
AGG_VERSION=1.2.3
PROTOBUF_VERSION=3.20.3
top=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$top/sluice}
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
SPID=""
trap '[ -z "$SPID" ] || kill "$SPID" 2>/dev/null || true; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

# The peers' Python: one venv, cached like tests/peers/ (lib.sh: pinned, locked, made once).
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

# The no-op operator, built the way a user builds one (sluice exports its API to dlopen'ed .so).
cat >"$T/noop.c" <<'C'
#include <sluice/operator.h>
static sl_err_t noop_init(sl_op_t *op, const void *conf, void **statep) {
    (void)op; (void)conf; *statep = NULL; return SL_OK;
}
static sl_err_t noop_process(sl_op_t *op, void *state, sl_record_t *rec) {
    (void)state; return sl_op_emit(op, rec);
}
SL_EXPORT const sl_operator_plugin_t sluice_operator = {
    .abi_version = SL_OPERATOR_ABI_VERSION, .name = "noop", .description = "passes records on",
    .init = noop_init, .process = noop_process};
C
${CC:-cc} -O2 -shared -fPIC -I"$top/include" -o "$T/libnoop.so" "$T/noop.c"

# run.py OUT TOTAL METRICS_URL CMD...: runs CMD; with a metrics URL, polls it every 0.2 s and
# sends SIGTERM once sluice_records_in_total reaches TOTAL (or after $TIMEOUT s). Writes
# "wall user sys maxrss_kb records exit" from wait4() to OUT.
cat >"$T/run.py" <<'PY'
import os, signal, subprocess, sys, time, urllib.request
out, total, murl, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
timeout = float(os.environ.get("TIMEOUT", "120"))
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=open(out + ".stdout", "w"), stderr=open(out + ".stderr", "w"))
seen, termed = -1, False
while True:
    pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    if pid:
        break
    time.sleep(0.2)
    if murl != "-" and not termed:
        try:
            text = urllib.request.urlopen(murl, timeout=2).read().decode()
            seen = int(sum(float(l.rsplit(None, 1)[1]) for l in text.splitlines()
                           if l.startswith("sluice_records_in_total")))
        except OSError:
            pass
    if not termed and (seen >= total or time.monotonic() - t0 > timeout):
        os.kill(p.pid, signal.SIGTERM)
        termed = True
wall = time.monotonic() - t0
code = os.waitstatus_to_exitcode(status)
with open(out, "w") as f:
    f.write("%.2f %.4f %.4f %d %d %d\n" % (wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss, seen, code))
PY

# The boto3 peer: prints "records bytes loop_cpu_s".
cat >"$T/peer.py" <<'PY'
import base64, resource, sys, time
import boto3, botocore.config
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
url, kpl, max_pages = sys.argv[1], sys.argv[2] == "kpl", int(sys.argv[3])
c = boto3.client("kinesis", endpoint_url=url, region_name="us-east-1",
                 aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="wJalrXUtnFEMI/K7MDENG",
                 config=botocore.config.Config(retries={"max_attempts": 3}))
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
c0 = cpu()
shards, kw = [], {"StreamName": "bench"}
while True:
    r = c.list_shards(**kw)
    shards += r["Shards"]
    if "NextToken" not in r:
        break
    kw = {"NextToken": r["NextToken"]}
its = {s["ShardId"]: c.get_shard_iterator(StreamName="bench", ShardId=s["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
       for s in shards}
due, pages = dict.fromkeys(its, 0.0), dict.fromkeys(its, 0)
n = nbytes = 0
while its:
    now = time.monotonic()
    ready = [s for s in its if due[s] <= now]
    if not ready:
        time.sleep(max(0.0, min(due.values()) - now))
        continue
    for sid in ready:
        r = c.get_records(ShardIterator=its[sid], Limit=10000)
        due[sid] = time.monotonic() + 0.2
        if kpl:
            for u in iter_deaggregate_records(r["Records"], data_format="Boto3"):
                k = u["kinesis"]
                d = base64.b64decode(k["data"]) if k.get("aggregated") else k["data"]
                n += 1
                nbytes += len(d)
        else:
            for rec in r["Records"]:
                n += 1
                nbytes += len(rec["Data"])
        pages[sid] += 1
        nxt = r.get("NextShardIterator")
        if nxt and pages[sid] < max_pages:
            its[sid] = nxt
        else:
            del its[sid], due[sid]
print(n, nbytes, round(cpu() - c0, 4))
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2" | tail -n 1; }

# Starts the replay endpoint: kinesis_replay.py ARGS...; sets URL, TOTAL, PAGE_RECS.
start_replay() {
    : >"$T/replay.out"
    "$PY" "$top/bench/kinesis_replay.py" "$@" >"$T/replay.out" 2>"$T/replay.err" &
    SPID=$!
    i=0
    until grep -q '^ready' "$T/replay.out"; do
        kill -0 "$SPID" 2>/dev/null || { cat "$T/replay.err"; exit 1; }
        i=$((i + 1)); [ $i -lt 600 ] || { echo "replay endpoint did not start" >&2; exit 1; }
        sleep 0.1
    done
    URL=$(field url "$T/replay.out")
    TOTAL=$(field records "$T/replay.out")
    PAGE_RECS=$(field page_records "$T/replay.out")
}
# Endpoint CPU since its last report (SIGUSR1 prints a "served" line and resets).
replay_cpu() {
    n=$(grep -c '^served' "$T/replay.out" || true)
    kill -USR1 "$SPID"
    until [ "$(grep -c '^served' "$T/replay.out" || true)" -gt "$n" ]; do sleep 0.05; done
    grep '^served' "$T/replay.out" | tail -n 1 >"$T/served"
    field cpu_s "$T/served"
}
stop_replay() { kill "$SPID"; wait "$SPID" || true; SPID=""; }

# row RUNNER SHARDS FORMAT RECORDS WALL CPU RSS_KB ENDPOINT_CPU
row() {
    python3 - "$@" <<'PY'
import sys
name, shards, fmt, n, wall, cpu, rss, ecpu = sys.argv[1:]
n, cpu = int(n), max(float(cpu), 1e-6)
print("%-7s %6s %-5s %9d %7.2f %7.3f %8.3f %11d %8.1f MB %9s" %
      (name, shards, fmt, n, float(wall), cpu, cpu * 1e6 / max(n, 1), n / cpu,
       int(rss) / 1024, ecpu))
PY
}

job() { # job SHARDS METRICS_PORT
    cat >"$T/job.properties" <<P
job.name=kinesis-bench
task.inputs=k.bench
task.outputs=out.s
task.operators=noop
job.container.thread.count=1
job.checkpoint.sqlite.path=$T/ckpt.db
metrics.http.port=$2
log.level=warn
systems.k.samza.factory=kinesis
systems.k.aws.endpoint=$URL
systems.k.aws.region=us-east-1
systems.k.aws.credentials.access.key.id=AKIDEXAMPLE
systems.k.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG
systems.k.aws.kcl.LeaseStore=sqlite
systems.k.streams.bench.scan.stream.initpos=TRIM_HORIZON
systems.k.streams.bench.scan.shard.getrecords.intervalmillis=200ms
systems.k.streams.bench.scan.shard.getrecords.maxrecordcount=10000
operators.noop.library=$T/libnoop.so
systems.out.samza.factory=file
systems.out.streams.s.path=/dev/null
P
    for kv in $SLUICE_PROPS; do echo "$kv" >>"$T/job.properties"; done
}

echo "# kinesis polling consumer: replayed GetRecords pages of 100-byte records on 127.0.0.1"
echo "# sluice: $SLUICE, one worker thread, kinesis -> no-op .so -> file /dev/null"
echo "# boto3 $BOTO3_VERSION (single process, read-loop CPU only) reads up to $PEER_RECORDS records per case"
printf '%-7s %6s %-5s %9s %7s %7s %8s %11s %11s %9s\n' runner shards fmt records "wall s" "CPU s" \
    "us/rec" "rec/CPU-s" "peak RSS" "endpt CPU"
: >"$T/summary"
for shards in $SHARDS; do
    case $shards in 1) rps=$R1 page=$PAGE_1 ;; 64) rps=$R64 page=$PAGE_N ;; *) rps=$R256 page=$PAGE_N ;; esac
    for fmt in $FORMATS; do
        flag=""; [ $fmt = plain ] || flag=--kpl
        start_replay --shards "$shards" --records-per-shard "$rps" --page "$page" $flag
        rm -f "$T/ckpt.db"*
        mport=$(free_port)
        job "$shards" "$mport"
        TIMEOUT=$TIMEOUT python3 "$T/run.py" "$T/sl" "$TOTAL" "http://127.0.0.1:$mport/metrics" \
            "$SLUICE" run "$T/job.properties"
        read -r wall user sys rss seen code <"$T/sl"
        ecpu=$(replay_cpu)
        if [ "$seen" -lt "$TOTAL" ]; then
            echo "sluice read $seen of $TOTAL records (exit $code) in ${wall}s; its log:" >&2
            tail -n 20 "$T/sl.stderr" >&2
        fi
        cpu=$(python3 -c "print($user + $sys)")
        row sluice "$shards" "$fmt" "$seen" "$wall" "$cpu" "$rss" "$ecpu"
        echo "sluice $shards $fmt $seen $cpu $rss" >>"$T/summary"
        grep -q 'calls_under_195ms_apart=0 ' "$T/served" ||
            echo "  (sluice called GetRecords of a shard less than 195 ms apart: $(cat "$T/served"))"

        if [ "$PEER_RECORDS" -le 0 ]; then stop_replay; continue; fi
        maxp=$(( (PEER_RECORDS + shards * PAGE_RECS - 1) / (shards * PAGE_RECS) ))
        python3 "$T/run.py" "$T/pe" 0 - "$PY" "$T/peer.py" "$URL" "$fmt" "$maxp"
        read -r wall user sys rss _ code <"$T/pe"
        [ "$code" = 0 ] || { cat "$T/pe.stderr" >&2; exit 1; }
        read -r n _ loopcpu <"$T/pe.stdout"
        ecpu=$(replay_cpu)
        row boto3 "$shards" "$fmt" "$n" "$wall" "$loopcpu" "$rss" "$ecpu"
        echo "boto3 $shards $fmt $n $loopcpu $rss" >>"$T/summary"
        stop_replay
    done
done

echo
python3 - "$T/summary" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    who, shards, fmt, n, cpu, rss = line.split()
    rows[who, int(shards), fmt] = (int(n) / max(float(cpu), 1e-6), int(rss) / 1024)
for (who, shards, fmt), (rate, rss) in sorted(rows.items()):
    if who != "sluice" or ("boto3", shards, fmt) not in rows:
        continue
    prate, prss = rows["boto3", shards, fmt]
    print("%4d shards %-5s: sluice %.1fx the records per CPU-second of boto3, %.2fx its peak memory"
          % (shards, fmt, rate / prate, rss / prss))
for fmt in ("plain", "kpl"):
    rates = [rows[k][0] for k in rows if k[0] == "sluice" and k[2] == fmt]
    if not rates:
        continue
    line = "target (1M records per CPU-second; < 32 MB at 256 shards), %s: lowest %.2fM (%s)" % (
        fmt, min(rates) / 1e6, "met" if min(rates) >= 1e6 else "NOT met")
    if ("sluice", 256, fmt) in rows:
        rss = rows["sluice", 256, fmt][1]
        line += ", %.1f MB at 256 shards (%s)" % (rss, "met" if rss < 32 else "NOT met")
    print(line)
PY
