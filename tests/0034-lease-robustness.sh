#!/bin/sh
# 0034: KCL lease-table robustness and `sluice checkpoints` on a Kinesis job (kinesalite, the
# lease table in dynalite; the AWS CLI v2 writes the damaged item and reads the table back).
# (1) An item the AWS CLI wrote with leaseCounter of type S and no checkpoint does not stall the
# stream: the healthy shard is read whole, the bad item is named in ONE warning with all its
# problems however many listings follow, and it is left byte for byte as it was (not taken, not
# overwritten, its shard not read). (2) `checkpoints list` exits 0, calls the lease table
# authoritative, shows the owner, ISO 8601 times and the bad item as unreadable, with the table
# named once. (3) `checkpoints reset` while the worker holds its lease refuses (exit 5) naming the
# owner, and deletes nothing. (4) A graceful stop logs how many leases it released. (5) After a
# kill -9 the reset watches the counters for aws.kcl.FailoverTimeMillis, then deletes. (6) A job
# that never held a lease does not claim at stop that it released any.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:kinesalite peer:dynalite
PEER=0034-lease-robustness
. "$top_srcdir/tests/peers/lib.sh"
. "$top_srcdir/tests/lib/kinesis.sh"

kin_up kinesalite dynalite
KIN=$(cat "$T/kinesalite.url")
DDB=$(cat "$T/dynalite.url")
BAD=shardId-000000000001

# lease_table NAME: the KCL table, as the KCL creates it, made by the AWS CLI.
lease_table() {
    cli "$DDB" dynamodb create-table --table-name "$1" --billing-mode PAY_PER_REQUEST \
        --attribute-definitions AttributeName=leaseKey,AttributeType=S \
        --key-schema AttributeName=leaseKey,KeyType=HASH >/dev/null || fail "create-table $1"
    cli "$DDB" dynamodb wait table-exists --table-name "$1" || fail "table $1 never ACTIVE"
}
# bad_item TABLE KEY: an item a hand (or a foreign writer) damaged: leaseCounter of type S, no
# checkpoint.
bad_item() {
    cli "$DDB" dynamodb put-item --table-name "$1" --item \
        "{\"leaseKey\":{\"S\":\"$2\"},\"leaseCounter\":{\"S\":\"7\"},\"leaseOwner\":{\"S\":\"ghost\"}}" \
        || fail "put-item $2"
}
get_item() {
    cli "$DDB" dynamodb get-item --consistent-read --table-name "$1" --key "{\"leaseKey\":{\"S\":\"$2\"}}"
}
job_props() { # NAME STREAM TABLE OUT DB
    kin_props "$1" w1 "$2" "$KIN" "$4" "$5"
    echo "systems.kin.aws.dynamodb.endpoint=$DDB"
    echo "systems.kin.streams.$2.aws.kcl.LeaseStore=dynamodb"
    echo "systems.kin.streams.$2.aws.kcl.TableName=$3"
    echo "log.debug=lease"
}
LISTED="lease table lr-leases listed"

# ---- (1) one damaged item, one healthy shard ---------------------------------------------------
kin_stream "$KIN" lr 2
lease_table lr-leases
bad_item lr-leases "$BAD"
get_item lr-leases "$BAD" >"$T/bad.before.json"
python3 - "$T/recs.in" <<'PY'
import json, sys, base64
with open(sys.argv[1], "w") as f:
    for i in range(80):
        # explicit hash keys: even ids to shard 0 (low half), odd ids to shard 1 (high half)
        ehk = 5 if i % 2 == 0 else 2**127 + 5
        f.write(json.dumps({"id": "r%d" % i, "key": "k%d" % i, "ehk": ehk,
                            "data": base64.b64encode(b"r%d" % i).decode()}) + "\n")
PY
kpy put "$KIN" lr "$T/recs.in" "$T/recs.put" || fail "put-records"
[ "$(grep -c '"shard": "shardId-000000000000"' "$T/recs.put")" = 40 ] || fail "40 records should have gone to shard 0"
job_props lr lr lr-leases "$T/out.jsonl" "$T/w1.db" >"$T/job.properties"
kin_run "$T/job.properties" "$T/job.log"; P1=$KIN_PID
kin_wait_lines "$T/out.jsonl" 40 30 "$P1" "$T/job.log"
# Several more listings (every LeaseTakerIntervalMillis, 1 s) must not repeat the warning.
n0=$(grep -cF "$LISTED" "$T/job.log")
kin_wait_log "$T/job.log" "$LISTED" $((n0 + 3)) 30 "$P1"
nlist=$(grep -cF "$LISTED" "$T/job.log")
nwarn=$(grep -cF "item leaseKey=$BAD skipped" "$T/job.log")
[ "$nwarn" = 1 ] || { grep -F "$BAD" "$T/job.log"; fail "expected one warning for the bad item over $nlist listings, got $nwarn"; }
contains "$T/job.log" "lease table lr-leases: item leaseKey=$BAD skipped: leaseCounter is S, expected N; checkpoint missing"
lacks "$T/job.log" "cannot list the lease table"
[ "$(kin_lines "$T/out.jsonl")" = 40 ] || fail "expected exactly shard 0's 40 records, got $(kin_lines "$T/out.jsonl")"
lacks "$T/out.jsonl" "\"$BAD\""
get_item lr-leases "$BAD" >"$T/bad.after.json"
cmp -s "$T/bad.before.json" "$T/bad.after.json" || { cat "$T/bad.before.json" "$T/bad.after.json"; fail "the bad item was changed"; }
say "(1) shard 0: 40 of 40 records; $BAD: 1 warning over $nlist listings, item untouched, 0 records read"

# ---- (2) checkpoints list -------------------------------------------------------------------------
wait_for 10 sh -c "\"$SLUICE\" checkpoints list \"$T/job.properties\" 2>/dev/null | grep -q 'shardId-000000000000 .* w1 .*owned'" \
    || fail "the lease of shard 0 never showed as owned by w1"
"$SLUICE" checkpoints list "$T/job.properties" >"$T/list" 2>"$T/list.err" || { cat "$T/list" "$T/list.err"; fail "checkpoints list exited $?"; }
cat "$T/list"
contains "$T/list" "lease table lr-leases: authoritative for kin.lr"
[ "$(grep -c 'lease table lr-leases' "$T/list")" = 1 ] || fail "the lease table should be named once"
grep -q "shardId-000000000000 .* w1 .* owned$" "$T/list" || fail "shard 0: owner w1, owned"
grep -q "$BAD .* unreadable: leaseCounter is S, expected N; checkpoint missing" "$T/list" || fail "$BAD: unreadable, with its problems"
grep -Eq "shardId-000000000000 +[0-9]+ +[0-9]+ +20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$" "$T/list" \
    || fail "the local mirror row of shard 0 should carry an ISO 8601 time"
contains "$T/list" "owned: held by its owner, or expired: one read cannot tell"
say "(2) checkpoints list: authoritative lease table, owner w1, ISO times, $BAD unreadable"

# ---- (3) reset while the lease is held ----------------------------------------------------------------
t0=$(now_ms)
expect_exit 5 "$SLUICE" checkpoints reset "$T/job.properties" >"$T/reset.out" 2>"$T/reset.err"
t1=$(now_ms)
cat "$T/reset.err"
contains "$T/reset.err" "held by running workers: shardId-000000000000 (owner w1)"
contains "$T/reset.err" "--force"
get_item lr-leases shardId-000000000000 | grep -q '"w1"' || fail "the held lease was touched by a refused reset"
get_item lr-leases "$BAD" | cmp -s - "$T/bad.before.json" || fail "the bad item was deleted by a refused reset"
"$SLUICE" checkpoints list "$T/job.properties" | grep -q "^kin .*shardId-000000000000 .*Z$" || fail "a refused reset deleted the local mirror"
say "(3) reset while w1 holds its lease: exit 5 after $((t1 - t0)) ms, owner named, nothing deleted"

# ---- (4) graceful stop ----------------------------------------------------------------------------------
kin_stop "$P1" "$T/job.log"
grep -Eq "stream lr: stopped: (1 final checkpoint\(s\) written, )?1 lease\(s\) released" "$T/job.log" \
    || { tail -n 5 "$T/job.log"; fail "the stop should log 1 lease released"; }
lacks "$T/job.log" "leases released"
say "(4) graceful stop: 1 lease released, as logged"

# ---- (5) a worker killed: reset watches, then deletes ---------------------------------------------------
n0=$(grep -cF "lease taken" "$T/job.log")
kin_run "$T/job.properties" "$T/job.log"; P1=$KIN_PID
kin_wait_log "$T/job.log" "lease taken" $((n0 + 1)) 30 "$P1"
kill -9 "$P1"; wait "$P1" 2>/dev/null || true
get_item lr-leases shardId-000000000000 | grep -q '"w1"' || fail "the killed worker's lease should still name w1"
t0=$(now_ms)
"$SLUICE" checkpoints reset "$T/job.properties" >"$T/reset2.out" 2>"$T/reset2.err" || { cat "$T/reset2.err"; fail "reset after the kill exited $?"; }
t1=$(now_ms)
contains "$T/reset2.out" "and 2 lease(s)"
[ $((t1 - t0)) -ge 3000 ] || fail "the reset deleted an owned lease after $((t1 - t0)) ms, less than the failover time (3000 ms)"
ddb_scan "$DDB" lr-leases >"$T/scan.json"
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["Items"]))' "$T/scan.json")" = 0 ] \
    || { cat "$T/scan.json"; fail "the lease table is not empty after the reset"; }
say "(5) reset after kill -9: watched $((t1 - t0)) ms (failover 3000), then deleted 2 items"

# ---- (6) a job that never held a lease ------------------------------------------------------------------
kin_stream "$KIN" lone 1
lease_table lone-leases
bad_item lone-leases shardId-000000000000
job_props lone lone lone-leases "$T/out6.jsonl" "$T/w6.db" >"$T/job6.properties"
kin_run "$T/job6.properties" "$T/job6.log"; P6=$KIN_PID
kin_wait_log "$T/job6.log" "lease table lone-leases listed" 2 30 "$P6"
kin_stop "$P6" "$T/job6.log"
contains "$T/job6.log" "item leaseKey=shardId-000000000000 skipped"
lacks "$T/job6.log" "released"
lacks "$T/job6.log" "final checkpoints written"
say "(6) a job that held no lease logs no release at stop"
say "ok"
