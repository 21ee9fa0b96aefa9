#!/bin/sh
# 0037: a failing endpoint shows at once. A Kinesis job (sqlite lease store, default timeouts)
# is started against endpoints that fail in each way a user meets: a port that refuses, one
# answering HTTP 500 forever, one that accepts and never answers, one answering an HTML page,
# and an unresolvable proxy. For each, the time from the start to the first warning naming the
# operation, the endpoint and the error is printed and bounded (the first attempt's timeout +
# 1 s: 10 s socket timeout for the hang; 1 s for the others, 3 s on a loaded machine), and
# /healthz answers 503 naming the endpoint once it has been failing for task.health.stall.ms
# (2 s here). With task.start.timeout=4s a job whose stream or lease table cannot be reached
# ends with exit 1 naming the endpoint (refused, hang). Then an outage in the middle of reading, through the same fault endpoint in front
# of kinesalite: one warning (not one per attempt), sluice_partition_lag_ms grows while nothing
# can be read, /healthz turns 503 and back to 200, a line says the endpoint answers again, and
# every record put during the outage comes out once.
. "$(dirname "$0")/lib/common.sh"
needs aws curl python3 peer:kinesalite
PEER=0037-fault-endpoints
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"

kin_up kinesalite
KIN=$(cat "$T/kinesalite.url")
say "kinesalite $KIN"
kin_stream "$KIN" faults 1
FAULT="$top_srcdir/tests/tools/fault_endpoint.py"

FPORT=$(free_port)
echo pass >"$T/mode"
python3 "$FAULT" --listen "$FPORT" --upstream "$KIN" --control "$T/mode" --log "$T/fault.log" \
    >"$T/fault.out" 2>&1 &
kin_track $!
FURL=http://127.0.0.1:$FPORT
wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $FPORT), 1)" \
    || { cat "$T/fault.out"; fail "the fault endpoint did not start"; }

# job NAME ENDPOINT METRICSPORT [EXTRA...]: a kinesis -> file job's properties on stdout.
job() {
    _n=$1 _e=$2 _m=$3; shift 3
    kin_props "$_n" w1 faults "$_e" "$T/$_n.jsonl" "$T/$_n.db" | sed '/^task.commit.ms=/d'
    echo "metrics.http.port=$_m"
    echo "task.health.stall.ms=2s"
    for _x in "$@"; do echo "$_x"; done
}
health() { curl -s -o "$T/health.body" -w '%{http_code}' "http://127.0.0.1:$1/healthz" 2>/dev/null || echo 000; }
# first_warn LOG PID T0 TEXT: waits (30 s) for a WARN line holding TEXT; prints its delay in ms.
first_warn() {
    _end=$(($(date +%s) + 30))
    until grep -F " warn " "$1" 2>/dev/null | grep -qF -- "$4"; do
        kin_alive "$2" || { tail -n 20 "$1"; fail "sluice died before warning about '$4'"; }
        [ "$(date +%s)" -lt "$_end" ] || { tail -n 20 "$1"; fail "no warning about '$4' within 30 s"; }
        sleep 0.05
    done
    echo $(($(now_ms) - $3))
}
# wait_health PORT CODE SECONDS: until /healthz answers CODE.
wait_health() {
    _end=$(($(date +%s) + $3))
    while [ "$(health "$1")" != "$2" ]; do
        [ "$(date +%s)" -lt "$_end" ] || { cat "$T/health.body" 2>/dev/null; fail "/healthz never answered $2"; }
        sleep 0.1
    done
}

RESULTS=""
# case NAME ENDPOINT TEXT BOUND_MS [EXTRA...]: start, first warning holding TEXT within
# BOUND_MS, /healthz 503 naming the endpoint, stop.
fault_case() {
    _name=$1 _ep=$2 _text=$3 _bound=$4; shift 4
    _mp=$(free_port)
    job "f-$_name" "$_ep" "$_mp" "$@" >"$T/$_name.properties"
    _t0=$(now_ms)
    kin_run "$T/$_name.properties" "$T/$_name.log"
    _ms=$(first_warn "$T/$_name.log" "$KIN_PID" "$_t0" "$_text")
    say "$_name: first warning after $_ms ms: $(grep -F " warn " "$T/$_name.log" | grep -F -- "$_text" | head -n 1 | cut -c1-220)"
    RESULTS="$RESULTS $_name=${_ms}ms"
    [ "$_ms" -le "$_bound" ] || fail "$_name: the first warning came after $_ms ms, bound $_bound ms"
    wait_health "$_mp" 503 30
    grep -qF "${_ep%/}" "$T/health.body" || { cat "$T/health.body"; fail "$_name: /healthz does not name the endpoint"; }
    say "$_name: /healthz 503: $(sed -n 2p "$T/health.body" | cut -c1-200)"
    kin_stop "$KIN_PID" "$T/$_name.log"
}

SLACK=${FAULT_SLACK_MS:-3000}
RPORT=$(free_port)
fault_case refused "http://127.0.0.1:$RPORT" "at http://127.0.0.1:$RPORT" $((1000 + SLACK))
echo error500 >"$T/mode"
fault_case http500 "$FURL" "HTTP 500 InternalFailure" $((1000 + SLACK))
echo hang >"$T/mode"
fault_case hang "$FURL" "at $FURL" $((11000 + SLACK))
grep -F " warn " "$T/hang.log" | grep -qiE "timed? ?out|timeout" || { tail "$T/hang.log"; fail "hang: the warning does not say the call timed out"; }
echo garbage >"$T/mode"
fault_case garbage "$FURL" "not JSON" $((1000 + SLACK))
echo pass >"$T/mode"
fault_case badproxy "$KIN" "proxy" $((1000 + SLACK)) "systems.kin.aws.proxy.host=no-such-proxy.invalid" \
    "systems.kin.aws.proxy.port=3128"

# end_case NAME ENDPOINT TEXT BOUND_MS [EXTRA...]: with task.start.timeout=4s the job gives up:
# exit 1 within BOUND_MS, its last line naming TEXT and the setting.
end_case() {
    _name=$1 _ep=$2 _text=$3 _bound=$4; shift 4
    job "e-$_name" "$_ep" 0 "task.start.timeout=4s" "$@" | sed '/^metrics.http.port=/d' >"$T/e-$_name.properties"
    _t0=$(now_ms)
    set +e
    "$SLUICE" run "$T/e-$_name.properties" >"$T/e-$_name.log" 2>&1 &
    _p=$!; kin_track $_p
    _end=$(($(date +%s) + 60))
    while kin_alive "$_p" && [ "$(date +%s)" -lt "$_end" ]; do sleep 0.1; done
    _ms=$(($(now_ms) - _t0))
    wait "$_p"; _rc=$?
    set -e
    say "$_name: the job ended after $_ms ms (rc $_rc): $(tail -n 1 "$T/e-$_name.log" | cut -c1-240)"
    RESULTS_END="$RESULTS_END $_name=${_ms}ms"
    [ "$_rc" = 1 ] || { tail -n 20 "$T/e-$_name.log"; fail "$_name: exit $_rc, expected 1"; }
    [ "$_ms" -le "$_bound" ] || fail "$_name: ended after $_ms ms, bound $_bound ms"
    tail -n 3 "$T/e-$_name.log" | grep -F -- "$_text" | grep -qF task.start.timeout \
        || { tail -n 20 "$T/e-$_name.log"; fail "$_name: the error does not name '$_text' and task.start.timeout"; }
}
RESULTS_END=""
end_case refused "http://127.0.0.1:$RPORT" "127.0.0.1:$RPORT" $((4000 + 6000 + SLACK))
echo hang >"$T/mode"
end_case hang "$FURL" "$FURL" $((4000 + 10000 + 6000 + SLACK))
echo pass >"$T/mode"
# The lease table's endpoint refuses: the same policy as the stream's (it used to fail at once).
end_case leasetable "$KIN" "127.0.0.1:$RPORT" $((4000 + 6000 + SLACK)) \
    "systems.kin.aws.dynamodb.endpoint=http://127.0.0.1:$RPORT"
grep -q "giving up at start" "$T/e-leasetable.log" || fail "leasetable: not the start policy"

# --- Pulsar: the same policy -------------------------------------------------------------------
# A Pulsar source and a Pulsar sink whose broker refuses: a warning at once naming the service
# URL, /healthz 503, and with task.start.timeout=4s the job ends (exit 1) naming it.
PLURL=pulsar://127.0.0.1:$RPORT
mkdir -p "$T/plin"; echo '{"a": 1}' >"$T/plin/a.jsonl"
pljob() { # pljob NAME source|sink METRICSPORT [EXTRA...]
    _n=$1 _k=$2 _m=$3; shift 3
    echo "job.name=$_n"; echo "job.checkpoint.sqlite.path=$T/$_n.db"; echo "task.health.stall.ms=2s"
    [ "$_m" = 0 ] || echo "metrics.http.port=$_m"
    echo "systems.pl.samza.factory=pulsar"; echo "systems.pl.pulsar.service-url=$PLURL"
    echo "systems.f.samza.factory=file"
    if [ "$_k" = source ]; then
        echo "task.inputs=pl.t"; echo "task.outputs=f.out"
        echo "systems.pl.streams.t.pulsar.topic=persistent://public/default/t"
        echo "systems.pl.streams.t.subscriptionName=s"
        echo "systems.f.streams.out.path=$T/$_n.out"
    else
        echo "task.inputs=f.in"; echo "task.outputs=pl.t"
        echo "systems.f.streams.in.path=$T/plin"; echo "systems.f.streams.in.follow=true"
        echo "task.shutdown.ms=3s" # the record waiting for the broker is given up at the stop
        echo "systems.pl.streams.t.pulsar.topic=persistent://public/default/t"
    fi
    for _x in "$@"; do echo "$_x"; done
}
for kind in source sink; do
    MP=$(free_port)
    pljob "p-$kind" $kind "$MP" >"$T/p-$kind.properties"
    t0=$(now_ms)
    kin_run "$T/p-$kind.properties" "$T/p-$kind.log"
    ms=$(first_warn "$T/p-$kind.log" "$KIN_PID" "$t0" "at $PLURL")
    say "pulsar $kind: first warning after $ms ms: $(grep -F " warn " "$T/p-$kind.log" | head -n 1 | cut -c1-220)"
    RESULTS="$RESULTS pulsar-$kind=${ms}ms"
    [ "$ms" -le $((1000 + SLACK)) ] || fail "pulsar $kind: the first warning came after $ms ms"
    wait_health "$MP" 503 30
    grep -qF "pulsar at $PLURL" "$T/health.body" || { cat "$T/health.body"; fail "pulsar $kind: /healthz does not name the broker"; }
    kin_stop "$KIN_PID" "$T/p-$kind.log"
    pljob "pe-$kind" $kind 0 "task.start.timeout=4s" >"$T/pe-$kind.properties"
    t0=$(now_ms)
    set +e
    "$SLUICE" run "$T/pe-$kind.properties" >"$T/pe-$kind.log" 2>&1
    rc=$?
    set -e
    ms=$(($(now_ms) - t0))
    say "pulsar $kind: the job ended after $ms ms (rc $rc): $(tail -n 1 "$T/pe-$kind.log" | cut -c1-200)"
    RESULTS_END="$RESULTS_END pulsar-$kind=${ms}ms"
    [ "$rc" = 1 ] || { tail -n 20 "$T/pe-$kind.log"; fail "pulsar $kind: exit $rc, expected 1"; }
    [ "$ms" -le $((4000 + 6000 + SLACK)) ] || fail "pulsar $kind: ended after $ms ms"
    tail -n 3 "$T/pe-$kind.log" | grep -F "$PLURL" | grep -qF task.start.timeout \
        || { tail -n 20 "$T/pe-$kind.log"; fail "pulsar $kind: the error does not name the broker and task.start.timeout"; }
done

# --- an outage in the middle of reading -------------------------------------------------------
echo pass >"$T/mode"
MP=$(free_port)
job outage "$FURL" "$MP" >"$T/outage.properties"
kin_run "$T/outage.properties" "$T/outage.log"
put1() { cli "$KIN" kinesis put-record --stream-name faults --partition-key k --data "$(printf '%s' "$1" | base64)" >/dev/null; }
put1 before
kin_wait_lines "$T/outage.jsonl" 1 60 "$KIN_PID" "$T/outage.log"
wait_health "$MP" 200 10
lag() { curl -s "http://127.0.0.1:$MP/metrics" | sed -n 's/^sluice_partition_lag_ms{[^}]*} //p' | head -n 1; }
echo error500 >"$T/mode"
WARN0=$(grep -c " warn " "$T/outage.log" || true)
for i in 1 2 3 4 5; do put1 "during$i"; done
wait_health "$MP" 503 30
L1=$(lag)
_end=$(($(date +%s) + 20))
while :; do
    L2=$(lag)
    [ "${L2:-0}" -gt $((${L1:-0} + 1500)) ] && break
    [ "$(date +%s)" -lt "$_end" ] || fail "sluice_partition_lag_ms did not grow during the outage ($L1 -> $L2)"
    sleep 0.3
done
say "outage: lag grew from $L1 to $L2 ms while every call failed"
NFAIL=$(grep -c " error500 " "$T/fault.log" || true)
NWARN=$(($(grep -c " warn " "$T/outage.log" || true) - WARN0))
say "outage: $NFAIL failed calls, $NWARN warnings"
[ "$NWARN" -le 3 ] || { grep " warn " "$T/outage.log"; fail "$NWARN warnings for one outage of a few seconds"; }
echo pass >"$T/mode"
wait_health "$MP" 200 30
kin_wait_log "$T/outage.log" "answers again" 1 30 "$KIN_PID"
kin_wait_lines "$T/outage.jsonl" 6 60 "$KIN_PID" "$T/outage.log"
kin_stop "$KIN_PID" "$T/outage.log"
[ "$(kin_lines "$T/outage.jsonl")" = 6 ] || fail "$(kin_lines "$T/outage.jsonl") records out, expected 6"
say "outage: $(grep -F 'answers again' "$T/outage.log" | head -n 1 | cut -c1-200)"
say "time to the first warning:$RESULTS"
say "time to the job's end with task.start.timeout=4s:$RESULTS_END"
