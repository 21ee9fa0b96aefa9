#!/bin/sh
# 0008: with metrics.http.port set, a running job serves Prometheus text on /metrics (counting
# the records it read and wrote, and an operator's own counter: dedup's dropped duplicates) and
# /healthz; SIGTERM then stops it cleanly.
. "$(dirname "$0")/lib/common.sh"
needs curl

PORT=$(free_port)
seq 1 500 | sed 's/.*/{"i":&}/' >"$T/in.jsonl"
cat >"$T/job.properties" <<P
job.name=metrics
task.inputs=in.s
task.outputs=out.s
task.operators=odd,dd
systems.in.samza.factory=file
systems.in.streams.s.path=$T/in.jsonl
systems.in.streams.s.follow=true
systems.in.streams.s.poll.interval=50ms
systems.out.samza.factory=file
systems.out.streams.s.path=$T/out.jsonl
operators.odd.type=filter
operators.odd.expr=json_extract(payload, '\$.i') % 2 = 1
operators.dd.type=dedup
operators.dd.key=json_extract(payload, '\$.i') % 50
operators.dd.ttl=1h
metrics.http.port=$PORT
job.checkpoint.sqlite.path=$T/ckpt.db
task.commit.ms=100
P
"$SLUICE" run "$T/job.properties" 2>"$T/run.err" &
pid=$!
wait_for 20 curl -sf "http://127.0.0.1:$PORT/healthz" || { cat "$T/run.err"; fail "no /healthz"; }
wait_for 20 sh -c "curl -sf http://127.0.0.1:$PORT/metrics | grep -q 'sluice_records_in_total{.*} 500'" \
    || { curl -s "http://127.0.0.1:$PORT/metrics"; fail "records_in never reached 500"; }
curl -sf "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
contains "$T/metrics" "# TYPE sluice_records_in_total counter"
# 250 odd numbers, 25 distinct values of i % 50 among them: 25 pass dedup, 225 are dropped.
grep -q 'sluice_records_out_total{.*} 25$' "$T/metrics" || { cat "$T/metrics"; fail "records_out should be 25"; }
grep -q '^sluice_dedup_dropped_total{operator="dd",system="in",stream="s",partition=".*"} 225$' \
    "$T/metrics" || { cat "$T/metrics"; fail "sluice_dedup_dropped_total should be 225"; }
grep -q 'sluice_output_acked_total{.*}' "$T/metrics" || fail "no acked counter"
[ "$(curl -s "http://127.0.0.1:$PORT/healthz")" = ok ] || fail "/healthz not ok"
kill -TERM "$pid"
wait "$pid" || fail "SIGTERM should exit 0"
[ "$(wc -l <"$T/out.jsonl")" = 25 ] || fail "expected 25 records"
say "ok: $(grep -c '^sluice_' "$T/metrics") samples exported"
