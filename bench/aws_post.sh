#!/bin/sh
# aws_post.sh [CALLS]: signed ~1 KB POSTs (Kinesis PutRecord) over keep-alive against a local
# endpoint (kinesalite, started here with tests/peers/kinesalite.sh), side by side with
# botocore doing the same calls (the engine of the AWS CLI and boto3). Prints calls/s and CPU per
# call of each client process, and sluice's ratios. The endpoint (node) is usually the limit
# for calls/s; CPU per call is what the client costs. Not a test: figures vary with the machine.
set -eu
N=${1:-5000}
top=$(cd "$(dirname "$0")/.." && pwd)
SLUICE_AWS=${SLUICE_AWS:-$top/tools/sluice-aws}
T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
trap '"$top/tests/peers/kinesalite.sh" stop "$T" >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
url=$("$top/tests/peers/kinesalite.sh" start "$T")
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
"$SLUICE_AWS" kinesis CreateStream '{"StreamName":"bench","ShardCount":4}' --endpoint-url "$url" >/dev/null
sleep 1
DATA=$(head -c 700 /dev/urandom | base64 -w0) # ~940 base64 bytes: a ~1 KB JSON body
BODY="{\"StreamName\":\"bench\",\"PartitionKey\":\"pk\",\"Data\":\"$DATA\"}"
echo "# $N PutRecord calls of $(printf '%s' "$BODY" | wc -c) bytes to $url"
printf '%-22s %10s %10s %14s %10s\n' client calls/s "wall s" "CPU us/call" "peak RSS"

row() { # name wall cpu rss
    rate=$(python3 -c "print(int($N / max($2, 0.001)))")
    us=$(python3 -c "print(round($3 * 1e6 / $N, 1))")
    printf '%-22s %10s %10s %14s %10s\n' "$1" "$rate" "$2" "$us" "$(($4 / 1024)) MiB"
    eval "us_$5=$us; rss_$5=$4"
}

for c in 1 16; do
    /usr/bin/time -f '%e %U %S %M' -o "$T/time" "$SLUICE_AWS" kinesis PutRecord "$BODY" \
        --endpoint-url "$url" --repeat "$N" --concurrency "$c" >"$T/out" 2>"$T/err" || { cat "$T/err"; exit 1; }
    read -r wall user sys rss <"$T/time"
    row "sluice (in flight $c)" "$wall" "$(python3 -c "print($user + $sys)")" "$rss" "sluice$c"
done

python3 -c 'import botocore' 2>/dev/null || python3 -m pip install --quiet --user botocore
cat >"$T/boto.py" <<'PY'
import os, sys, botocore.session
n, url, body = int(sys.argv[1]), sys.argv[2], sys.argv[3]
import json
req = json.loads(body)
c = botocore.session.get_session().create_client("kinesis", endpoint_url=url, region_name="us-east-1")
import base64
data = base64.b64decode(req["Data"])
for _ in range(n):
    c.put_record(StreamName=req["StreamName"], PartitionKey=req["PartitionKey"], Data=data)
PY
/usr/bin/time -f '%e %U %S %M' -o "$T/time" python3 "$T/boto.py" "$N" "$url" "$BODY"
read -r wall user sys rss <"$T/time"
row "botocore (sequential)" "$wall" "$(python3 -c "print($user + $sys)")" "$rss" boto

echo
python3 -c "print('sluice (1 in flight) vs botocore: %.1fx less CPU per call, %.2fx the peak memory' % ($us_boto / $us_sluice1, $rss_sluice1 / $rss_boto))"
