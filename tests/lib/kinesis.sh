# kinesis.sh: sourced by the Kinesis consumer tests (0016-0019) after tests/lib/common.sh and
# tests/peers/lib.sh. The judges are programs nobody here wrote: the AWS CLI v2 writes the
# records, splits and merges shards and reads the lease table; a small Python poller reads the
# lease table through dynalite's own API to time ownership changes. This file isolates the CLI
# from the user's configuration, writes $T/kin.py (the Python half: put-records through the CLI
# with what it returned, producer loops, the lease-table poller, the parser of sluice's JSON
# output) and gives the shell helpers that start, stop and wait for `sluice run` jobs.

KIN_AWS=/usr/bin/aws
"$KIN_AWS" --version 2>/dev/null | grep -q '^aws-cli/2\.' \
    || fail "need the AWS CLI v2 at $KIN_AWS (tools/deps.sh --test installs awscli)"
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_CA_BUNDLE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS \
    AWS_ENDPOINT_URL_DYNAMODB
: >"$T/aws.config"; : >"$T/aws.credentials"
export AWS_CONFIG_FILE="$T/aws.config" AWS_SHARED_CREDENTIALS_FILE="$T/aws.credentials"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export PYTHONWARNINGS=ignore   # --no-verify-ssl against kinesis-local warns on every request
export KIN_AWS
# kinesalite refuses more than 10 shards per account by default; the tests create several streams.
KINESALITE_ARGS=${KINESALITE_ARGS:---shardLimit 200}
export KINESALITE_ARGS

# cli URL ARGS...: the AWS CLI against URL (TLS verification off for https peers).
cli() {
    _u=$1; shift
    case $_u in
    https:*) "$KIN_AWS" --no-cli-pager --output json --no-verify-ssl --endpoint-url "$_u" "$@" ;;
    *) "$KIN_AWS" --no-cli-pager --output json --endpoint-url "$_u" "$@" ;;
    esac
}
now_ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }
kpy() { python3 "$T/kin.py" "$@"; }

# kin_stream URL NAME SHARDS: creates the stream and waits until it is ACTIVE.
kin_stream() {
    cli "$1" kinesis create-stream --stream-name "$2" --shard-count "$3" >/dev/null \
        || fail "create-stream $2 on $1"
    kin_wait_active "$1" "$2"
}
kin_wait_active() {
    _i=0
    while [ "$(cli "$1" kinesis describe-stream-summary --stream-name "$2" \
        --query StreamDescriptionSummary.StreamStatus --output text 2>/dev/null)" != ACTIVE ]; do
        _i=$((_i + 1)); [ "$_i" -le 60 ] || fail "stream $2 never became ACTIVE on $1"
        sleep 0.5
    done
}

# kin_props JOB WORKER STREAM KINURL OUT DB: the common job properties (TRIM_HORIZON, fast
# intervals); the caller appends what differs.
kin_props() {
    cat <<P
job.name=$1
job.id=1
task.inputs=kin.$3
task.outputs=out.records
task.commit.ms=500ms
job.checkpoint.sqlite.path=$6
systems.kin.samza.factory=kinesis
systems.kin.aws.region=us-east-1
systems.kin.aws.endpoint=$4
systems.kin.aws.credentials.access.key.id=AKIDEXAMPLE
systems.kin.aws.credentials.secret.access.key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
systems.kin.streams.$3.scan.stream.initpos=TRIM_HORIZON
systems.kin.streams.$3.scan.shard.getrecords.intervalmillis=200ms
systems.kin.streams.$3.scan.shard.discovery.intervalmillis=1s
systems.kin.streams.$3.checkpoint.interval=1s
systems.kin.streams.$3.aws.kcl.WorkerIdentifier=$2
systems.kin.streams.$3.aws.kcl.FailoverTimeMillis=3000
systems.kin.streams.$3.aws.kcl.LeaseTakerIntervalMillis=1000
systems.kin.streams.$3.aws.kcl.ParentShardPollIntervalMillis=500
systems.out.samza.factory=file
systems.out.streams.records.path=$5
systems.out.streams.records.format=json
log.level=info
P
    case $4 in https:*) echo "systems.kin.aws.trust.all.certificates=true" ;; esac
}

# Every process a test starts in the background (sluice, producers, pollers) is listed in
# $T/kin.pids and killed when the test exits, whatever the outcome. (common.sh's cleanup reads
# $(jobs -p), which dash runs in a subshell where the job table is empty.)
: >"$T/kin.pids"
kin_track() { echo "$1" >>"$T/kin.pids"; }
kin_killall() {
    for _p in $(cat "$T/kin.pids" 2>/dev/null); do
        # Only a process of this test: its command line names $T.
        if tr '\0' ' ' 2>/dev/null <"/proc/$_p/cmdline" | grep -qF "$T/"; then kill -9 "$_p" 2>/dev/null || true; fi
    done
}
# kin_up PEER...: peers_up, and an exit trap that also stops what kin_track listed.
kin_up() {
    peers_up "$@"
    trap 'kin_killall; peers_down; cleanup' EXIT
}

# kin_run PROPS LOG: starts `sluice run PROPS` in the background; its pid is in $KIN_PID.
kin_run() {
    "$SLUICE" run "$1" >>"$2" 2>&1 &
    KIN_PID=$!
    kin_track "$KIN_PID"
}
# kin_alive PID: the process exists and is not a zombie.
kin_alive() { peer_alive "$1"; }
# kin_stop PID LOG [SECONDS]: SIGTERM, then waits (default $KIN_STOP_WAIT, 20 s) for exit 0.
kin_stop() {
    kill -TERM "$1" 2>/dev/null || { tail -n 30 "$2"; fail "sluice ($1) was not running at stop"; }
    _i=0
    while kin_alive "$1"; do
        _i=$((_i + 1))
        if [ "$_i" -gt $((${3:-${KIN_STOP_WAIT:-20}} * 10)) ]; then
            kill -9 "$1" 2>/dev/null || true
            tail -n 30 "$2"; fail "sluice ($1) did not exit within ${3:-${KIN_STOP_WAIT:-20}} s of SIGTERM"
        fi
        sleep 0.1
    done
    _rc=0; wait "$1" || _rc=$?
    [ "$_rc" = 0 ] || { tail -n 30 "$2"; fail "sluice ($1) exited $_rc after SIGTERM"; }
}
# kin_lines FILE: complete lines in FILE (0 when absent).
kin_lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
# kin_wait_lines FILE N SECONDS PID LOG: waits until FILE has N lines; fails (showing the log)
# when time runs out or the job died.
kin_wait_lines() {
    _end=$(($(date +%s) + $3))
    while [ "$(kin_lines "$1")" -lt "$2" ]; do
        kin_alive "$4" || { tail -n 40 "$5"; fail "sluice died with $(kin_lines "$1") of $2 records out"; }
        [ "$(date +%s)" -lt "$_end" ] || { tail -n 40 "$5"; fail "only $(kin_lines "$1") of $2 records out after $3 s"; }
        sleep 0.2
    done
}
# kin_wait_log LOG TEXT COUNT SECONDS PID: waits until LOG has COUNT lines holding TEXT.
kin_wait_log() {
    _end=$(($(date +%s) + $4))
    while [ "$(grep -cF -- "$2" "$1" 2>/dev/null || true)" -lt "$3" ]; do
        kin_alive "$5" || { tail -n 40 "$1"; fail "sluice died before logging '$2' $3 times"; }
        [ "$(date +%s)" -lt "$_end" ] || { tail -n 40 "$1"; fail "'$2' not logged $3 times within $4 s"; }
        sleep 0.2
    done
}
# kin_wait_covers OUT EXPECTED SECONDS PID LOG: waits until every record of EXPECTED (a file
# kin.py wrote) is in OUT.
kin_wait_covers() {
    _end=$(($(date +%s) + $3))
    until kpy covers "$1" "$2"; do
        kin_alive "$4" || { tail -n 40 "$5"; fail "sluice died before writing every record of $(basename "$2")"; }
        [ "$(date +%s)" -lt "$_end" ] || { tail -n 40 "$5"; fail "not every record of $(basename "$2") out after $3 s ($(kin_lines "$1") lines)"; }
        sleep 0.3
    done
}
# ddb_scan URL TABLE: the lease table as the AWS CLI reads it (consistent).
ddb_scan() { cli "$1" dynamodb scan --consistent-read --table-name "$2"; }

cat >"$T/kin.py" <<'PY'
"""Python half of tests/lib/kinesis.sh. Commands (python3 kin.py CMD ...):
  put URL STREAM IN OUT        put-records (CLI) for IN's records, append what came back to OUT
  produce URL STREAM OUT STOP MODE N   loop until STOP exists: MODE ids (N records per call, unique
                                ids, random keys) or keys (keys k0..k(N-1), one record each)
  poll URL TABLE OUT STOP      poll the lease table every 50 ms, log changes with times
  renew URL TABLE KEY OWNER COUNTER MS EVERY   a foreign KCL worker renewing its lease
and, imported: read_out(path) -> records of sluice's json file output; shards(url, stream)."""
import base64, hashlib, json, os, random, subprocess, sys, tempfile, time, urllib.error, urllib.request

AWS = os.environ.get("KIN_AWS", "/usr/bin/aws")
MAXH = 2**128 - 1


def now_ms():
    return int(time.time() * 1000)


def cli(url, *args):
    cmd = [AWS, "--no-cli-pager", "--output", "json", "--endpoint-url", url]
    if url.startswith("https:"):
        cmd.append("--no-verify-ssl")
    p = subprocess.run(cmd + list(args), capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("aws %s: exit %d: %s" % (" ".join(args[:2]), p.returncode,
                                                  p.stderr.decode(errors="replace")[-800:]))
    return json.loads(p.stdout) if p.stdout.strip() else {}


def hash_of(key, ehk=None):
    if ehk is not None:
        return int(ehk)
    return int.from_bytes(hashlib.md5(key.encode("utf-8")).digest(), "big")


def shards(url, stream):
    out, tok = [], None
    while True:
        a = ["kinesis", "list-shards"] + (["--next-token", tok] if tok else ["--stream-name", stream])
        d = cli(url, *a)
        out += d["Shards"]
        tok = d.get("NextToken")
        if not tok:
            return out


def put_records(url, stream, recs, retry=True):
    """recs: dicts with key, data (bytes), ehk (optional). Returns them with shard, seq, t0,
    t1 (ms around the call that stored them). Failed entries are put again (after the rest)
    when retry, else raise."""
    done = []
    todo = list(recs)
    while todo:
        chunk, todo = todo[:500], todo[500:]
        body = {"StreamName": stream, "Records": []}
        for r in chunk:
            e = {"Data": base64.b64encode(r["data"]).decode(), "PartitionKey": r["key"]}
            if r.get("ehk") is not None:
                e["ExplicitHashKey"] = str(r["ehk"])
            body["Records"].append(e)
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(body, f)
        try:
            t0 = now_ms()
            d = cli(url, "kinesis", "put-records", "--cli-input-json", "file://" + path)
            t1 = now_ms()
        finally:
            os.unlink(path)
        failed = []
        for r, res in zip(chunk, d["Records"]):
            if "SequenceNumber" in res and not res.get("ErrorCode"):
                done.append(dict(r, shard=res["ShardId"], seq=res["SequenceNumber"], t0=t0, t1=t1))
            else:
                failed.append(r)
        if failed:
            if not retry:
                raise RuntimeError("put-records: %d records failed: %r" % (len(failed), d))
            todo = failed + todo
            time.sleep(0.2)
    return done


def dump(recs, path, mode="a"):
    with open(path, mode) as f:
        for r in recs:
            r = dict(r, data=base64.b64encode(r["data"]).decode())
            f.write(json.dumps(r) + "\n")


def load(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for l in f:
                r = json.loads(l)
                r["data"] = base64.b64decode(r["data"])
                out.append(r)
    return out


def read_out(path):
    """sluice's format=json lines: strings hold raw bytes (>= 0x80 unescaped), so decode the
    line as latin-1 and turn each string back into bytes. Returns (records, torn)."""
    recs, torn = [], 0
    if not os.path.exists(path):
        return recs, torn
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines[-1] != b"":
        torn = 1           # a kill -9 can cut the last line
    lines.pop()
    for no, l in enumerate(lines):
        d = json.loads(l.decode("latin-1"))
        b = lambda s: None if s is None else s.encode("latin-1")
        recs.append({"line": no, "key": None if d["key"] is None else b(d["key"]).decode("utf-8"),
                     "data": b(d["payload"]), "shard": d["partition"], "seq": d["offset"],
                     "sub": d["subseq"], "t": d["event_time"], "stream": d["stream"],
                     "headers": {k: v for k, v in d["headers"].items()}})
    return recs, torn


def produce(url, stream, out, stop, mode, n):
    seq = 0
    counters = 0
    while not os.path.exists(stop):
        if mode == "ids":
            recs = [{"id": seq + i, "key": "u%d-%d" % (seq + i, random.getrandbits(20)),
                     "data": json.dumps({"id": seq + i}).encode()} for i in range(n)]
            seq += n
        else:
            recs = [{"id": "k%d:%d" % (k, counters), "key": "k%d" % k,
                     "data": json.dumps({"k": "k%d" % k, "c": counters}).encode()} for k in range(n)]
            counters += 1
        try:
            dump(put_records(url, stream, recs), out)
        except RuntimeError as e:
            # A call that failed as a whole stored nothing we can know of: say so, stop.
            sys.stderr.write("producer: %s\n" % e)
            sys.exit(1)


def read_stream(url, stream, deagg=False):
    """Every record of every shard (TRIM_HORIZON to the tip) as the AWS CLI's get-records gives
    it: dicts with shard, seq, key, data (bytes) and, with deagg, the user records of KPL
    aggregates instead (de-aggregated by aws_kinesis_agg, the KPL authors' library), each with
    sub (its index) and agg (1 when it came out of an aggregate). In shard order, then sequence
    order."""
    out = []
    for s in shards(url, stream):
        it = cli(url, "kinesis", "get-shard-iterator", "--stream-name", stream, "--shard-id",
                 s["ShardId"], "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
        while it:
            d = cli(url, "kinesis", "get-records", "--shard-iterator", it, "--limit", "10000")
            for r in d["Records"]:
                rec = {"shard": s["ShardId"], "seq": r["SequenceNumber"], "key": r["PartitionKey"],
                       "data": base64.b64decode(r["Data"]), "sub": 0, "agg": 0}
                if deagg:
                    from aws_kinesis_agg import deaggregator
                    users = deaggregator.deaggregate_records([{"kinesis": {
                        "kinesisSchemaVersion": "1.0", "sequenceNumber": r["SequenceNumber"],
                        "partitionKey": r["PartitionKey"], "approximateArrivalTimestamp": 0,
                        "data": r["Data"]}}])
                    magic = rec["data"][:4] == bytes([0xF3, 0x89, 0x9A, 0xC2])
                    for i, u in enumerate(users):
                        out.append(dict(rec, key=u["kinesis"]["partitionKey"],
                                        data=base64.b64decode(u["kinesis"]["data"]), sub=i,
                                        agg=1 if magic else 0, outer_key=r["PartitionKey"],
                                        ehk=u["kinesis"].get("explicitHashKey")))
                else:
                    out.append(rec)
            if not d["Records"] and not d.get("MillisBehindLatest"):
                break
            it = d.get("NextShardIterator")
    return out


def ddb_call(url, target, body):
    req = urllib.request.Request(url + "/", data=json.dumps(body).encode(), headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810." + target,
        "X-Amz-Date": "20200101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200101/us-east-1/dynamodb/"
                         "aws4_request, SignedHeaders=host;x-amz-date, Signature=0000"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def leases(url, table):
    items, start = [], None
    while True:
        body = {"TableName": table, "ConsistentRead": True}
        if start:
            body["ExclusiveStartKey"] = start
        d = ddb_call(url, "Scan", body)
        items += d.get("Items", [])
        start = d.get("LastEvaluatedKey")
        if not start:
            break
    return {i["leaseKey"]["S"]: {"owner": i.get("leaseOwner", {}).get("S"),
                                 "counter": int(i["leaseCounter"]["N"]),
                                 "checkpoint": i.get("checkpoint", {}).get("S"),
                                 "sub": int(i.get("checkpointSubSequenceNumber", {}).get("N", "0")),
                                 "switches": int(i.get("ownerSwitchesSinceCheckpoint", {}).get("N", "-1")),
                                 "parents": sorted(i.get("parentShardId", {}).get("SS", [])),
                                 "children": sorted(i.get("childShardIds", {}).get("SS", []))}
            for i in items}


def poll(url, table, out, stop):
    last = None
    with open(out, "a") as f:
        while not os.path.exists(stop):
            t = now_ms()
            try:
                cur = leases(url, table)
            except Exception as e:      # table not there yet, peer busy
                cur = {"error": str(e)[:200]}
            if cur != last:
                f.write(json.dumps({"t": t, "leases": cur}) + "\n")
                f.flush()
                last = cur
            time.sleep(0.05)


def renew(url, table, key, owner, counter, duration_ms, every_ms):
    """A foreign KCL worker holding key: renews it (UpdateItem expecting counter and owner, as
    the KCL's renewer) every every_ms for duration_ms. Prints the last counter, the last
    renewal's time and the longest gap between renewals; exits 3 when a renewal's condition
    failed (someone else changed the lease)."""
    end = now_ms() + duration_ms
    last = gap = 0
    while now_ms() < end:
        t = now_ms()
        try:
            ddb_call(url, "UpdateItem", {
                "TableName": table, "Key": {"leaseKey": {"S": key}},
                "UpdateExpression": "SET leaseCounter = :n",
                "ConditionExpression": "leaseCounter = :c AND leaseOwner = :o",
                "ExpressionAttributeValues": {":n": {"N": str(counter + 1)}, ":c": {"N": str(counter)},
                                              ":o": {"S": owner}}})
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            if "ConditionalCheckFailed" in body:
                print(counter, last, gap)
                sys.exit(3)
            raise
        counter += 1
        if last:
            gap = max(gap, t - last)
        last = t
        time.sleep(max(0, every_ms - (now_ms() - t)) / 1000)
    print(counter, last, gap)


def timeline(path):
    out = []
    with open(path) as f:
        for l in f:
            d = json.loads(l)
            if "error" not in d["leases"]:
                out.append(d)
    return out


def shard_of(shard_list, h):
    """The open shard (no EndingSequenceNumber) whose hash range holds h."""
    for s in shard_list:
        r = s["HashKeyRange"]
        if int(r["StartingHashKey"]) <= h <= int(r["EndingHashKey"]) and \
                not s["SequenceNumberRange"].get("EndingSequenceNumber"):
            return s["ShardId"]
    return None


def xseq(r):
    return (int(r["seq"]), int(r.get("sub", 0)))


def check_out(got, want, shard_list=None, ignore=lambda r: False, name="output"):
    """got: records from read_out; want: the expected user records (key, data, shard, seq, sub,
    t0, t1, id, ehk?), in put order. Every expected record exactly once with its metadata,
    nothing else (except what ignore() accepts), sequence numbers increasing per shard and each
    key's records in put order. Returns a list of problems (empty when all is well)."""
    errs = []
    idx = {(w["shard"], w["seq"], int(w.get("sub", 0))): w for w in want}
    seen = {}
    last_per_shard = {}
    pos_per_key = {}
    order = {id(w): i for i, w in enumerate(want)}
    for g in got:
        if ignore(g):
            continue
        k = (g["shard"], g["seq"], g["sub"])
        w = idx.get(k)
        if w is None:
            errs.append("line %d: unexpected record shard=%s seq=%s sub=%s key=%r data=%r" %
                        (g["line"], g["shard"], g["seq"], g["sub"], g["key"], g["data"][:40]))
            continue
        if k in seen:
            errs.append("line %d: duplicate of line %d (shard %s seq %s sub %s)" %
                        (g["line"], seen[k], g["shard"], g["seq"], g["sub"]))
            continue
        seen[k] = g["line"]
        if g["key"] != w["key"]:
            errs.append("line %d: key %r, put with %r" % (g["line"], g["key"], w["key"]))
        if g["data"] != w["data"]:
            errs.append("line %d: payload %r, put %r" % (g["line"], g["data"][:60], w["data"][:60]))
        lo, hi = w["t0"] - 5, w["t1"] + 5
        if not lo <= g["t"] <= hi:
            errs.append("line %d: event_time %d outside the put window [%d, %d]" % (g["line"], g["t"], lo, hi))
        ehk = g["headers"].get("kinesis.explicit-hash-key")
        if ehk is not None and ehk != str(w.get("ehk")):
            errs.append("line %d: explicit hash key header %r, put with %r" % (g["line"], ehk, w.get("ehk")))
        p = last_per_shard.get(g["shard"])
        if p is not None and xseq(g) <= p:
            errs.append("line %d: shard %s goes back from %s to %s" % (g["line"], g["shard"], p, xseq(g)))
        last_per_shard[g["shard"]] = xseq(g)
        o = pos_per_key.get(w["key"])
        if o is not None and order[id(w)] < o:
            errs.append("line %d: key %r out of put order" % (g["line"], w["key"]))
        pos_per_key[w["key"]] = order[id(w)]
    missing = [w for w in want if (w["shard"], w["seq"], int(w.get("sub", 0))) not in seen]
    for w in missing[:10]:
        errs.append("missing: shard %s seq %s sub %s key %r" % (w["shard"], w["seq"], w.get("sub", 0), w["key"]))
    if len(missing) > 10:
        errs.append("... %d missing in all" % len(missing))
    if shard_list is not None:
        for w in want:
            s = shard_of(shard_list, hash_of(w.get("outer_key", w["key"]), w.get("outer_ehk")))
            if s != w["shard"]:
                errs.append("the CLI put key %r into %s, list-shards says %s" % (w["key"], w["shard"], s))
                break
    return errs


def probe(url, stream, out, timeout):
    """Puts one record (key probe-*) into every shard whose probe sluice has not output yet,
    each second, until every open shard has one in out: then the job reads every shard."""
    sl = [s for s in shards(url, stream) if not s["SequenceNumberRange"].get("EndingSequenceNumber")]
    end = time.time() + timeout
    n = 0
    while True:
        got, _ = read_out(out)
        have = {g["shard"] for g in got if (g["key"] or "").startswith("probe-")}
        todo = [s for s in sl if s["ShardId"] not in have]
        if not todo:
            return n
        if time.time() > end:
            sys.exit("probe: no probe came out of %s after %d s" % (", ".join(s["ShardId"] for s in todo), timeout))
        put_records(url, stream, [{"key": "probe-%s-%d" % (s["ShardId"], n), "data": b"probe",
                                   "ehk": s["HashKeyRange"]["StartingHashKey"]} for s in todo],
                    retry=False)
        n += 1
        time.sleep(1)


def covers(out, want):
    got, _ = read_out(out)
    have = {(g["shard"], g["seq"], g["sub"]) for g in got}
    return all((w["shard"], w["seq"], int(w.get("sub", 0))) in have for w in want)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "probe":
        print(probe(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
        sys.exit(0)
    if cmd == "covers":   # covers OUT EXPECTED: exit 0 when every expected record is out
        sys.exit(0 if covers(sys.argv[2], load(sys.argv[3])) else 1)
    elif cmd == "put":
        dump(put_records(sys.argv[2], sys.argv[3], load(sys.argv[4]), retry=False), sys.argv[5])
    elif cmd == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7]))
    elif cmd == "poll":
        poll(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif cmd == "renew":   # renew URL TABLE KEY OWNER COUNTER DURATION_MS EVERY_MS
        renew(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7]),
              int(sys.argv[8]))
    else:
        sys.exit("kin.py: unknown command " + cmd)
PY
