#!/bin/sh
# pulsar_produce.sh [MESSAGES]: messages per second per core and CPU per message of the pulsar
# producer, for 100-byte messages, side by side with Apache's own `pulsar-perf produce` (Java
# client) on the same standalone broker (tests/peers/pulsar.sh, one JVM on 127.0.0.1).
#   sluice:      a file of MESSAGES (default 1M) 100-byte lines -> pulsar (batching on: 1000
#                messages / 128 KiB / 1 ms, as the Java client's defaults; no compression). The
#                job ends by itself once every message has its SEND_RECEIPT. The same file ->
#                file /dev/null is the baseline (reading and the runtime), so the producer's
#                own CPU per message is the difference.
#   pulsar-perf: the same count of 100-byte messages, unlimited rate, its default batching
#                (1 ms, 1000 messages), 1000 outstanding. Its CPU includes the JVM's start (about
#                2-3 CPU-s here), so its steady-state rate (its own report) is printed too.
# Both counted by the broker (msgInCounter of the topic). CPU (user + sys) and peak RSS come from
# wait4(). SLUICE=path/to/sluice for a separate build. Not a test: figures vary with the machine.
set -eu
N=${1:-1000000}
top=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$top/sluice}
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
trap '"$top/tests/peers/pulsar.sh" stop "$T/peers" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

URL=$("$top/tests/peers/pulsar.sh" start "$T/peers") || { echo "the broker did not start" >&2; exit 1; }
HTTP=$(cat "$T/peers/pulsar.http-url")
PHOME=$(cat "$T/peers/pulsar.home")
echo "# broker $URL (Pulsar standalone $(basename "$PHOME"))"

python3 -c "
import sys
with open('$T/in.txt', 'w') as f:
    for i in range($N):
        f.write('%099d\n' % i)
"

# run.py OUT CMD...: runs CMD, writes "wall user sys maxrss_kb exit" from wait4().
cat >"$T/run.py" <<'PY'
import os, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=open(out + ".stdout", "w"), stderr=open(out + ".stderr", "w"))
_, status, ru = os.wait4(p.pid, 0)
with open(out, "w") as f:
    f.write("%.2f %.4f %.4f %d %d\n" % (time.monotonic() - t0, ru.ru_utime, ru.ru_stime,
                                         ru.ru_maxrss, os.waitstatus_to_exitcode(status)))
PY
count() { # count TOPIC: messages the broker took in on TOPIC
    curl -sf "$HTTP/admin/v2/persistent/public/default/$1/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["msgInCounter"])' 2>/dev/null || echo 0
}
job() { # job NAME OUTPUT-LINES...
    _n=$1; shift
    { echo "job.name=$_n"
      echo "task.inputs=files.in"
      echo "task.commit.ms=5s"
      echo "job.checkpoint.sqlite.path=$T/$_n.db"
      echo "systems.files.samza.factory=file"
      echo "systems.files.streams.in.path=$T/in.txt"
      echo "log.level=warn"
      for l in "$@"; do echo "$l"; done; } >"$T/$_n.properties"
}
job baseline "task.outputs=null.out" "systems.null.samza.factory=file" "systems.null.streams.out.path=/dev/null"
job sluice "task.outputs=pl.bench" "systems.pl.samza.factory=pulsar" "systems.pl.pulsar.service-url=$URL" \
    "systems.pl.streams.bench.pulsar.topic=persistent://public/default/bench-sluice"

python3 "$T/run.py" "$T/baseline.res" "$SLUICE" run "$T/baseline.properties"
python3 "$T/run.py" "$T/sluice.res" "$SLUICE" run "$T/sluice.properties"
[ "$(cut -d' ' -f5 "$T/sluice.res")" = 0 ] || { cat "$T/sluice.res.stderr"; echo "sluice failed" >&2; exit 1; }
got_sluice=$(count bench-sluice)
python3 "$T/run.py" "$T/perf.res" "$PHOME/bin/pulsar-perf" produce -u "$URL" -r 100000000 -s 100 \
    -m "$N" -o 1000 persistent://public/default/bench-perf
got_perf=$(count bench-perf)
perf_rate=$(grep -o 'Aggregated throughput stats[^-]*--- [0-9.,]* records sent --- [0-9.,]* msg/s' "$T/perf.res.stdout" "$T/perf.res.stderr" 2>/dev/null |
    sed 's/.*--- \([0-9.,]*\) msg\/s/\1/' | tail -n 1)

python3 - "$T" "$N" "$got_sluice" "$got_perf" "${perf_rate:-?}" <<'EOF'
import sys
T, n, got_s, got_p, perf_rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def res(name):
    w, u, s, rss, rc = open("%s/%s.res" % (T, name)).read().split()
    return float(w), float(u) + float(s), int(rss) // 1024, int(rc)
b, s, p = res("baseline"), res("sluice"), res("perf")
print("%-26s %9s %7s %7s %8s %11s %9s" % ("case", "messages", "wall s", "CPU s", "us/msg", "msg/CPU-s", "peak RSS"))
def row(name, r, cnt, cpu=None):
    cpu = r[1] if cpu is None else cpu
    print("%-26s %9d %7.2f %7.2f %8.3f %11.0f %7d MB" % (name, cnt, r[0], cpu, cpu / cnt * 1e6, cnt / cpu, r[2]))
row("file -> /dev/null", b, n)
row("sluice file -> pulsar", s, got_s)
row("  producer alone", s, got_s, max(s[1] - b[1], 1e-6))
row("pulsar-perf produce (Java)", p, got_p)
print("# pulsar-perf's own steady-state rate: %s msg/s (wall, 1 producer)" % perf_rate)
print("# CPU per message: pulsar-perf / sluice = %.1fx (sluice's whole job); peak RSS %d MB vs %d MB"
      % ((p[1] / max(got_p, 1)) / (s[1] / max(got_s, 1)), p[2], s[2]))
if got_s < n or got_p < n:
    print("# WARNING: the broker counted %d (sluice) and %d (pulsar-perf) of %d" % (got_s, got_p, n))
EOF
