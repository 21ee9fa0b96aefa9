#!/bin/sh
# 0015: the KCL lease table client (connectors/kinesis/kinesis_lease.c, through
# tests/tools/lease-tool) against dynalite and DynamoDB Local, judged by the AWS CLI v2: ensure
# creates the table with the KCL key schema; create / take / renew / checkpoint / evict /
# shard-end write items whose attribute names and DynamoDB types are exactly the KCL's
# (DynamoDBLeaseSerializer); stale counters and races with another owner exit 3 and leave the
# item untouched; an item written the way a Java KCL 3.x worker writes it is read back, and its
# extra attributes survive our checkpoint, which removes pendingCheckpoint, its sub-sequence
# number and pendingCheckpointState as the KCL does; a malformed item is an error naming the lease
# and every bad attribute, and a list goes on past it.
. "$(dirname "$0")/lib/common.sh"
needs aws python3 peer:dynalite peer:dynamodb-local
PEER=0015-kcl-lease-table
. "$top_srcdir/tests/peers/lib.sh"

LT=$top_builddir/tests/tools/lease-tool
[ -x "$LT" ] || fail "no $LT (make tests/tools/lease-tool)"

peers_up dynalite dynamodb-local

AWS=/usr/bin/aws
"$AWS" --version 2>/dev/null | grep -q '^aws-cli/2\.' || fail "need AWS CLI v2 at /usr/bin/aws (tools/deps.sh --test installs awscli)"
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_CA_BUNDLE AWS_ENDPOINT_URL
: >"$T/aws.config"; : >"$T/aws.credentials"
export AWS_CONFIG_FILE="$T/aws.config" AWS_SHARED_CREDENTIALS_FILE="$T/aws.credentials"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
cli() { "$AWS" --no-cli-pager --output json --endpoint-url "$URL" "$@"; }
lt() { "$LT" --endpoint-url "$URL" --region us-east-1 --table "$TABLE" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# item KEY: the item as the AWS CLI reads it (consistent), into $T/item.json.
item() {
    cli dynamodb get-item --consistent-read --table-name "$TABLE" \
        --key "{\"leaseKey\":{\"S\":\"$1\"}}" >"$T/item.json"
    [ -s "$T/item.json" ] || echo '{}' >"$T/item.json"   # no item: the CLI prints nothing
}
# types KEY 'name=T ...': the item's attribute names and DynamoDB types are exactly these.
types() {
    item "$1"
    python3 - "$T/item.json" "$2" <<'EOF' || { cat "$T/item.json"; fail "$URL: attributes of $1"; }
import json, sys
d = json.load(open(sys.argv[1]))
got = {k: next(iter(v)) for k, v in d.get("Item", {}).items() if len(v) == 1}
want = dict(p.split("=") for p in sys.argv[2].split())
if got != want:
    print("got ", sorted(got.items()))
    print("want", sorted(want.items()))
    sys.exit(1)
EOF
}
# val ATTR TYPE: the value of ATTR in $T/item.json.
val() { json "d['Item']['$1']['$2']" <"$T/item.json"; }
# same KEY: the item is byte-for-byte what $T/before.json holds.
same() {
    item "$1"
    python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))" \
        "$T/before.json" "$T/item.json" || { cat "$T/before.json" "$T/item.json"; fail "$URL: $1 changed by a lost race"; }
}
snap() { item "$1"; cp "$T/item.json" "$T/before.json"; }

SEQ1=49590338271490256608559692538361571095921575989136588898
SEQ2=49590338271490256608559692540779422735150834338549071874
HI=340282366920938463463374607431768211455
K=shardId-000000000000

for peer in $PEERS; do
    URL=$(cat "$T/$peer.url")
    TABLE=kcl-app-$peer

    # --- ensure: the table with the KCL key schema ------------------------------------------
    lt ensure >"$T/ensure.json" 2>"$T/ensure.err" || { cat "$T/ensure.err"; fail "$peer: ensure"; }
    [ "$(json 'd["created"]' <"$T/ensure.json")" = True ] || { cat "$T/ensure.json"; fail "$peer: ensure did not create"; }
    cli dynamodb describe-table --table-name "$TABLE" >"$T/desc.json"
    [ "$(json 'd["Table"]["TableStatus"]' <"$T/desc.json")" = ACTIVE ] || fail "$peer: table not ACTIVE"
    [ "$(json 'd["Table"]["KeySchema"]' <"$T/desc.json")" = "[{'AttributeName': 'leaseKey', 'KeyType': 'HASH'}]" ] \
        || { cat "$T/desc.json"; fail "$peer: key schema"; }
    [ "$(json 'd["Table"]["AttributeDefinitions"]' <"$T/desc.json")" = "[{'AttributeName': 'leaseKey', 'AttributeType': 'S'}]" ] \
        || { cat "$T/desc.json"; fail "$peer: attribute definitions"; }
    [ "$(json 'd["Table"].get("BillingModeSummary", {}).get("BillingMode", "PAY_PER_REQUEST")' <"$T/desc.json")" = PAY_PER_REQUEST ] \
        || { cat "$T/desc.json"; fail "$peer: billing mode"; }
    lt ensure 2>/dev/null | grep -q '"created":false' || fail "$peer: a second ensure must find the table"
    say "$peer: ensure creates the KCL table (leaseKey S HASH, on demand), then finds it"

    # --- create ------------------------------------------------------------------------------
    lt create "$K" --parents shardId-p1,shardId-p2 --hash 0 "$HI" >/dev/null
    types "$K" "leaseKey=S leaseCounter=N ownerSwitchesSinceCheckpoint=N checkpoint=S checkpointSubSequenceNumber=N parentShardId=SS startingHashKey=S endingHashKey=S"
    [ "$(val leaseCounter N)" = 0 ] && [ "$(val checkpoint S)" = TRIM_HORIZON ] || fail "$peer: created values"
    [ "$(val parentShardId SS)" = "['shardId-p1', 'shardId-p2']" ] || fail "$peer: parentShardId"
    [ "$(val endingHashKey S)" = "$HI" ] || fail "$peer: endingHashKey"
    snap "$K"
    expect_exit 3 lt create "$K" 2>"$T/race.err"
    contains "$T/race.err" "lost the race"
    same "$K"

    # --- take, renew, and the races around them ---------------------------------------------
    lt take "$K" 0 worker-a >/dev/null 2>&1
    types "$K" "leaseKey=S leaseOwner=S leaseCounter=N ownerSwitchesSinceCheckpoint=N checkpoint=S checkpointSubSequenceNumber=N parentShardId=SS startingHashKey=S endingHashKey=S"
    [ "$(val leaseOwner S)/$(val leaseCounter N)/$(val ownerSwitchesSinceCheckpoint N)" = worker-a/1/0 ] || { cat "$T/item.json"; fail "$peer: take of an unowned lease"; }
    lt renew "$K" 1 worker-a >"$T/renew.json" 2>/dev/null
    [ "$(json 'd["leaseCounter"]' <"$T/renew.json")" = 2 ] || fail "$peer: renew result"
    item "$K"; [ "$(val leaseCounter N)" = 2 ] || fail "$peer: renew in the table"
    snap "$K"
    expect_exit 3 lt renew "$K" 1 worker-a 2>/dev/null; same "$K"          # stale counter
    expect_exit 3 lt renew "$K" 2 worker-b 2>/dev/null; same "$K"          # not the owner
    expect_exit 3 lt take "$K" 1 worker-b 2>/dev/null; same "$K"           # stale take
    lt take "$K" 2 worker-b >/dev/null 2>&1
    item "$K"
    [ "$(val leaseOwner S)/$(val leaseCounter N)/$(val ownerSwitchesSinceCheckpoint N)" = worker-b/3/1 ] || { cat "$T/item.json"; fail "$peer: take from another owner"; }
    snap "$K"
    expect_exit 3 lt renew "$K" 3 worker-a 2>/dev/null; same "$K"         # worker-a lost it
    say "$peer: create/take/renew write the KCL attributes; stale or foreign writes exit 3, item unchanged"

    # --- checkpoint ---------------------------------------------------------------------------
    expect_exit 3 lt checkpoint "$K" 2 worker-b "$SEQ1" 0 2>/dev/null; same "$K"
    expect_exit 3 lt checkpoint "$K" 3 worker-a "$SEQ1" 0 2>/dev/null; same "$K"
    lt checkpoint "$K" 3 worker-b "$SEQ1" 5 >/dev/null 2>&1
    types "$K" "leaseKey=S leaseOwner=S leaseCounter=N ownerSwitchesSinceCheckpoint=N checkpoint=S checkpointSubSequenceNumber=N parentShardId=SS startingHashKey=S endingHashKey=S"
    [ "$(val checkpoint S)/$(val checkpointSubSequenceNumber N)/$(val leaseCounter N)/$(val ownerSwitchesSinceCheckpoint N)" = "$SEQ1/5/4/0" ] \
        || { cat "$T/item.json"; fail "$peer: checkpoint"; }

    # --- evict, take back, shard end -----------------------------------------------------------
    snap "$K"
    expect_exit 3 lt evict "$K" worker-a 2>/dev/null; same "$K"
    lt evict "$K" worker-b >/dev/null 2>&1
    types "$K" "leaseKey=S leaseCounter=N ownerSwitchesSinceCheckpoint=N checkpoint=S checkpointSubSequenceNumber=N parentShardId=SS startingHashKey=S endingHashKey=S"
    [ "$(val leaseCounter N)" = 5 ] || fail "$peer: evict counter"
    lt take "$K" 5 worker-a >/dev/null 2>&1
    snap "$K"
    expect_exit 3 lt shard-end "$K" 5 worker-a shardId-c1,shardId-c2 2>/dev/null; same "$K"
    lt shard-end "$K" 6 worker-a shardId-c1,shardId-c2 >/dev/null 2>&1
    types "$K" "leaseKey=S leaseOwner=S leaseCounter=N ownerSwitchesSinceCheckpoint=N checkpoint=S checkpointSubSequenceNumber=N parentShardId=SS childShardIds=SS startingHashKey=S endingHashKey=S"
    [ "$(val checkpoint S)/$(val checkpointSubSequenceNumber N)/$(val leaseCounter N)" = SHARD_END/0/7 ] || { cat "$T/item.json"; fail "$peer: shard end"; }
    [ "$(python3 -c "import json,sys; print(sorted(json.load(open(sys.argv[1]))['Item']['childShardIds']['SS']))" "$T/item.json")" = "['shardId-c1', 'shardId-c2']" ] \
        || fail "$peer: childShardIds"
    say "$peer: checkpoint, evict and shard-end match the KCL; their races exit 3"

    # --- an item as a Java KCL 3.x worker writes it ---------------------------------------------
    J=shardId-000000000009
    cli dynamodb put-item --table-name "$TABLE" --item "{
        \"leaseKey\":{\"S\":\"$J\"}, \"leaseOwner\":{\"S\":\"java-worker-1\"},
        \"leaseCounter\":{\"N\":\"42\"}, \"checkpoint\":{\"S\":\"$SEQ1\"},
        \"checkpointSubSequenceNumber\":{\"N\":\"0\"}, \"pendingCheckpoint\":{\"S\":\"$SEQ2\"},
        \"pendingCheckpointSubSequenceNumber\":{\"N\":\"3\"},
        \"ownerSwitchesSinceCheckpoint\":{\"N\":\"2\"},
        \"parentShardId\":{\"SS\":[\"shardId-000000000001\"]},
        \"startingHashKey\":{\"S\":\"0\"}, \"endingHashKey\":{\"S\":\"$HI\"},
        \"throughputKBps\":{\"N\":\"12.5\"}, \"checkpointOwner\":{\"S\":\"java-worker-1\"},
        \"pendingCheckpointState\":{\"B\":\"AAE=\"}}"
    lt get "$J" >"$T/get.json" 2>"$T/get.err" || { cat "$T/get.err"; fail "$peer: get of a KCL item"; }
    python3 - "$T/get.json" "$SEQ1" "$SEQ2" "$HI" <<'EOF' || { cat "$T/get.json"; fail "$peer: KCL item read back"; }
import json, sys
d = json.load(open(sys.argv[1]))
want = {"leaseKey": "shardId-000000000009", "leaseOwner": "java-worker-1", "leaseCounter": 42,
        "checkpoint": sys.argv[2], "checkpointSubSequenceNumber": 0,
        "pendingCheckpoint": sys.argv[3], "pendingCheckpointSubSequenceNumber": 3,
        "ownerSwitchesSinceCheckpoint": 2, "parentShardId": ["shardId-000000000001"],
        "startingHashKey": "0", "endingHashKey": sys.argv[4]}
sys.exit(d != want)
EOF
    [ "$(lt list 2>/dev/null | json 'sorted(l["leaseKey"] for l in d)')" = "['$K', '$J']" ] || fail "$peer: list"
    lt checkpoint "$J" 42 java-worker-1 "$SEQ2" 3 >/dev/null 2>&1 || fail "$peer: checkpoint of a KCL item"
    # The checkpoint settles the pending one: pendingCheckpoint, its sub-sequence number and its
    # state all go, as in the KCL's checkpoint update (DynamoDBLeaseSerializer).
    types "$J" "leaseKey=S leaseOwner=S leaseCounter=N ownerSwitchesSinceCheckpoint=N checkpoint=S checkpointSubSequenceNumber=N parentShardId=SS startingHashKey=S endingHashKey=S throughputKBps=N checkpointOwner=S"
    [ "$(val checkpoint S)/$(val checkpointSubSequenceNumber N)/$(val leaseCounter N)/$(val ownerSwitchesSinceCheckpoint N)" = "$SEQ2/3/43/0" ] \
        || { cat "$T/item.json"; fail "$peer: checkpoint values on a KCL item"; }
    [ "$(val throughputKBps N)/$(val checkpointOwner S)" = "12.5/java-worker-1" ] \
        || { cat "$T/item.json"; fail "$peer: KCL 3.x attributes did not survive"; }
    say "$peer: a Java KCL 3.x item reads back exactly; our checkpoint removes the three pendingCheckpoint* attributes, the others survive"

    # --- malformed items and delete --------------------------------------------------------------
    cli dynamodb put-item --table-name "$TABLE" --item '{"leaseKey":{"S":"shardId-bad"},"leaseCounter":{"S":"seven"}}'
    expect_exit 1 lt get shardId-bad 2>"$T/bad.err"
    contains "$T/bad.err" "item leaseKey=shardId-bad: leaseCounter is S, expected N; checkpoint missing"
    # A list goes on past the damaged item: the good leases are printed, the bad one named.
    expect_exit 1 lt list >"$T/list.json" 2>"$T/bad.err"
    contains "$T/bad.err" "item leaseKey=shardId-bad skipped: leaseCounter is S, expected N; checkpoint missing"
    [ "$(json 'sorted(l["leaseKey"] for l in d)' <"$T/list.json")" = "['$K', '$J']" ] || { cat "$T/list.json"; fail "$peer: list past a bad item"; }
    cli dynamodb put-item --table-name "$TABLE" --item '{"leaseKey":{"S":"shardId-bad"},"leaseCounter":{"N":"1"},"checkpoint":{"S":"not-a-position"}}'
    expect_exit 1 lt get shardId-bad 2>"$T/bad.err"
    contains "$T/bad.err" "checkpoint"
    lt delete shardId-bad >/dev/null 2>&1 || fail "$peer: delete"
    item shardId-bad
    [ "$(json '"Item" in d' <"$T/item.json")" = False ] || fail "$peer: deleted item still there"
    expect_exit 1 lt get shardId-bad 2>/dev/null
    say "$peer: malformed items are errors naming lease and attribute; delete removes the item"
done
say "ok"
