#!/usr/bin/env python3
"""kinesis_replay.py: a replay Kinesis endpoint for benchmarks. It serves one stream of N shards
on 127.0.0.1 over plain HTTP/1.1 keep-alive, in the Kinesis JSON 1.1 protocol (X-Amz-Target
Kinesis_20131202.<Op>), with exactly what a polling consumer calls: ListShards (NextToken,
MaxResults, ShardFilter), DescribeStreamSummary, DescribeStream, GetShardIterator (TRIM_HORIZON,
LATEST, AT/AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP) and GetRecords. Every GetRecords page is built
and serialized once at start: R records of 100-byte payloads (base64), 56-digit sequence numbers
increasing per shard, partition keys whose MD5 falls in the shard's hash range, arrival
timestamps, MillisBehindLatest; with --kpl each record is a KPL aggregate built with AWS's
aws_kinesis_agg library (PyPI) that holds as many user records as fit in the KPL's default
51200 bytes. After P pages a shard answers without NextShardIterator and with empty ChildShards
(closed: the total is known); with --open it stays at its tip answering empty pages instead.
Signatures are not checked. Aligned GetRecords calls with Limit >= R are answered with the
pre-serialized bytes; others (a Limit below R, an iterator inside a page) are built on demand.

Prints one line when ready:  ready url=http://127.0.0.1:PORT shards=N records=USER ...
and one line of what it served and its own CPU time (serving only, the build excluded) on
SIGUSR1 (since the previous report; counters restart) and on SIGTERM/SIGINT, then exits 0.
calls_under_195ms_apart counts GetRecords calls of a shard that came sooner than the service's
5 calls/s/shard allow. Used by bench/kinesis_read.sh; runs standalone too:
    python3 bench/kinesis_replay.py --shards 4 --records-per-shard 1000 --page 100
"""
import argparse
import asyncio
import base64
import bisect
import hashlib
import json
import os
import resource
import signal
import sys
import time

ACCOUNT = "000000000000"
T0 = 1763800000.0            # arrival time of every shard's first record (epoch seconds)
SEQ_STEP = 1024              # sequence numbers of consecutive records differ by this much
SEQ_HEAD = 590338271490256608        # 18 digits after "49", as in a real stream's numbers
SEQ_BASE = 169692538361571095921575989136  # 30 digits: record 0's counter
SPACE = 1 << 128


def seq(shard, pos):
    """The sequence number of record pos of shard: 56 digits, increasing with pos."""
    return "49%018d%06d%030d" % (SEQ_HEAD, shard, SEQ_BASE + pos * SEQ_STEP)


def seq_decode(s):
    """(shard, pos) of a sequence number made by seq(), or None."""
    if len(s) != 56 or not s.isdigit() or s[:20] != "49%018d" % SEQ_HEAD:
        return None
    v = int(s[26:]) - SEQ_BASE
    if v < 0 or v % SEQ_STEP:
        return None
    return int(s[20:26]), v // SEQ_STEP


def iterator(sh, pos):
    """An opaque shard iterator for (shard, pos), about as long as the service's."""
    raw = ("%s|%d|%d|" % (ARGS.stream, sh, pos)).encode()
    return "AAAAAAAAAAE" + base64.b64encode(raw + b"\x00" * (150 - len(raw))).decode()


def iterator_decode(tok):
    try:
        stream, sh, pos, _ = base64.b64decode(tok[11:], validate=True).split(b"|", 3)
        if stream.decode() != ARGS.stream or not tok.startswith("AAAAAAAAAAE"):
            return None
        return int(sh), int(pos)
    except (ValueError, UnicodeDecodeError):
        return None


class Shard:
    """One shard: its hash range, partition keys and its Kinesis records (as JSON fragments
    made on demand) with the pre-serialized pages."""

    def __init__(self, idx):
        self.idx = idx
        self.id = "shardId-%012d" % idx
        self.start_hash = (idx * SPACE + ARGS.shards - 1) // ARGS.shards
        self.end_hash = ((idx + 1) * SPACE + ARGS.shards - 1) // ARGS.shards - 1
        self.pks = []
        self.blobs = []       # KPL: base64 aggregates, used in turn
        self.pages = []       # pre-serialized GetRecords answers
        self.last_call = None


def user_data(sh, n):
    """100 bytes (--record-size), unique per record, JSON like a log line."""
    head = '{"shard":%d,"n":%d,"level":"%s","msg":"' % (sh, n, "error" if n % 10 == 0 else "info")
    return (head + "." * max(0, ARGS.record_size - len(head) - 2) + '"}').encode()[:ARGS.record_size]


def record_json(shard, pos):
    """The JSON of Kinesis record pos of shard, as GetRecords returns it."""
    if ARGS.kpl:
        data = shard.blobs[pos % len(shard.blobs)][1]
        pk = shard.blobs[pos % len(shard.blobs)][0]
    else:
        data = base64.b64encode(user_data(shard.idx, pos)).decode()
        pk = shard.pks[pos % len(shard.pks)]
    return ('{"SequenceNumber":"%s","ApproximateArrivalTimestamp":%.3f,"Data":"%s",'
            '"PartitionKey":"%s"}' % (seq(shard.idx, pos), T0 + pos * 0.001, data, pk))


def page_json(shard, pos, n):
    """A GetRecords answer of records [pos, pos + n) of shard."""
    end = pos + n
    body = '{"Records":[' + ",".join(record_json(shard, p) for p in range(pos, end)) + "]"
    behind = max(0, (TOTAL_KIN - end) // max(ARGS.page, 1)) * 200
    if end < TOTAL_KIN or ARGS.open:
        body += ',"NextShardIterator":"%s"' % iterator(shard.idx, end)
    else:
        body += ',"ChildShards":[]'
    return (body + ',"MillisBehindLatest":%d}' % behind).encode()


def build():
    global TOTAL_KIN, USER_PER_KIN, SHARDS, STARTS
    SHARDS = [Shard(i) for i in range(ARGS.shards)]
    STARTS = [s.start_hash for s in SHARDS]
    # Partition keys whose MD5 lands in each shard's range, as a real producer's records would.
    want, i, missing = ARGS.keys_per_shard, 0, ARGS.shards
    while missing:
        pk = "user-%08d" % i   # one length everywhere: every aggregate holds as many records
        i += 1
        sh = SHARDS[bisect.bisect_right(STARTS, int.from_bytes(hashlib.md5(pk.encode()).digest(), "big")) - 1]
        if len(sh.pks) < want:
            sh.pks.append(pk)
            missing -= len(sh.pks) == want
    USER_PER_KIN = 1
    if ARGS.kpl:
        from aws_kinesis_agg import aggregator
        for sh in SHARDS:
            for b in range(ARGS.aggregates_per_shard):
                agg, n = aggregator.AggRecord(max_size=ARGS.agg_bytes), 0
                while agg.add_user_record(sh.pks[n % len(sh.pks)], user_data(sh.idx, b * 100000 + n)):
                    n += 1
                if sh.idx == 0 and b == 0:
                    USER_PER_KIN = n
                elif n != USER_PER_KIN:
                    sys.exit("aggregates of different sizes (%d, %d)" % (USER_PER_KIN, n))
                pk, _, data = agg.get_contents()
                sh.blobs.append((pk, base64.b64encode(data).decode()))
    # --page and --records-per-shard count user records; a KPL page holds whole aggregates.
    ARGS.page = max(1, ARGS.page // USER_PER_KIN)
    pages = max(1, -(-ARGS.records_per_shard // (ARGS.page * USER_PER_KIN)))
    TOTAL_KIN = pages * ARGS.page
    for sh in SHARDS:
        sh.pages = [page_json(sh, p * ARGS.page, ARGS.page) for p in range(pages)]
    return pages


def shard_json(sh):
    r = {"ShardId": sh.id,
         "HashKeyRange": {"StartingHashKey": str(sh.start_hash), "EndingHashKey": str(sh.end_hash)},
         "SequenceNumberRange": {"StartingSequenceNumber": seq(sh.idx, 0)}}
    if not ARGS.open:
        r["SequenceNumberRange"]["EndingSequenceNumber"] = seq(sh.idx, TOTAL_KIN - 1)
    return r


class ApiError(Exception):
    def __init__(self, kind, msg, status=400):
        super().__init__(msg)
        self.kind, self.msg, self.status = kind, msg, status


def find_stream(req):
    name = req.get("StreamName") or req.get("StreamARN", "").rpartition("/")[2]
    if name != ARGS.stream:
        raise ApiError("ResourceNotFoundException",
                       "Stream %s under account %s not found." % (name, ACCOUNT))


def shard_by_id(sid):
    try:
        idx = int(sid.rpartition("-")[2])
        if SHARDS[idx].id == sid or sid == str(idx):
            return SHARDS[idx]
    except (ValueError, IndexError):
        pass
    raise ApiError("ResourceNotFoundException", "Shard %s in stream %s under account %s does not exist"
                   % (sid, ARGS.stream, ACCOUNT))


def op_list_shards(req):
    if "NextToken" in req:
        try:
            start = int(base64.b64decode(req["NextToken"]).decode())
        except ValueError:
            raise ApiError("InvalidArgumentException", "NextToken is invalid")
    else:
        find_stream(req)
        start = 0
    shards = SHARDS
    ftype = (req.get("ShardFilter") or {}).get("Type")
    if ftype == "AT_LATEST" and not ARGS.open:
        shards = []
    limit = min(int(req.get("MaxResults", 1000)), ARGS.list_max)
    out = {"Shards": [shard_json(s) for s in shards[start:start + limit]]}
    if start + limit < len(shards):
        out["NextToken"] = base64.b64encode(str(start + limit).encode()).decode()
    return out


def summary():
    return {"StreamName": ARGS.stream,
            "StreamARN": "arn:aws:kinesis:us-east-1:%s:stream/%s" % (ACCOUNT, ARGS.stream),
            "StreamStatus": "ACTIVE", "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "RetentionPeriodHours": 24, "StreamCreationTimestamp": T0 - 3600,
            "EnhancedMonitoring": [{"ShardLevelMetrics": []}], "EncryptionType": "NONE"}


def op_describe_stream_summary(req):
    find_stream(req)
    s = summary()
    s.update(OpenShardCount=len(SHARDS) if ARGS.open else 0, ConsumerCount=0)
    return {"StreamDescriptionSummary": s}


def op_describe_stream(req):
    find_stream(req)
    s = summary()
    s.update(Shards=[shard_json(x) for x in SHARDS], HasMoreShards=False)
    return {"StreamDescription": s}


def op_get_shard_iterator(req):
    find_stream(req)
    sh = shard_by_id(req.get("ShardId", ""))
    kind = req.get("ShardIteratorType")
    if kind == "TRIM_HORIZON":
        pos = 0
    elif kind == "LATEST":
        pos = TOTAL_KIN
    elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        d = seq_decode(str(req.get("StartingSequenceNumber", "")))
        if d is None or d[0] != sh.idx or d[1] >= TOTAL_KIN:
            raise ApiError("InvalidArgumentException", "StartingSequenceNumber %s used in "
                           "GetShardIterator on shard %s in stream %s under account %s is invalid."
                           % (req.get("StartingSequenceNumber"), sh.id, ARGS.stream, ACCOUNT))
        pos = d[1] + (kind == "AFTER_SEQUENCE_NUMBER")
    elif kind == "AT_TIMESTAMP":
        ts = float(req.get("Timestamp", 0))
        pos = min(TOTAL_KIN, max(0, int(-(-(ts - T0) // 0.001))))
    else:
        raise ApiError("InvalidArgumentException", "ShardIteratorType %r is invalid" % kind)
    return {"ShardIterator": iterator(sh.idx, pos)}


def op_get_records(req):
    it = iterator_decode(str(req.get("ShardIterator", "")))
    if it is None or not 0 <= it[0] < len(SHARDS) or not 0 <= it[1] <= TOTAL_KIN:
        raise ApiError("InvalidArgumentException", "Invalid ShardIterator.")
    sh, pos = SHARDS[it[0]], it[1]
    limit = int(req.get("Limit", 10000))
    if not 1 <= limit <= 10000:
        raise ApiError("InvalidArgumentException", "Limit must be between 1 and 10000")
    now = time.monotonic()
    STATS["getrecords"] += 1
    if sh.last_call is not None:
        gap = now - sh.last_call
        STATS["min_gap_ms"] = min(STATS["min_gap_ms"], gap * 1000)
        STATS["fast_calls"] += gap < 0.195
    sh.last_call = now
    if pos == TOTAL_KIN:   # at the tip (open) or past the end (closed)
        if ARGS.open:
            return ('{"Records":[],"NextShardIterator":"%s","MillisBehindLatest":0}'
                    % iterator(sh.idx, pos)).encode()
        return b'{"Records":[],"ChildShards":[],"MillisBehindLatest":0}'
    if pos % ARGS.page == 0 and limit >= ARGS.page:
        STATS["records"] += ARGS.page * USER_PER_KIN
        return sh.pages[pos // ARGS.page]
    STATS["built"] += 1
    n = min(limit, ARGS.page - pos % ARGS.page)
    STATS["records"] += n * USER_PER_KIN
    return page_json(sh, pos, n)


OPS = {"ListShards": op_list_shards, "DescribeStreamSummary": op_describe_stream_summary,
       "DescribeStream": op_describe_stream, "GetShardIterator": op_get_shard_iterator,
       "GetRecords": op_get_records}


def handle(target, body):
    """(status, body bytes) of one call."""
    op = target.rpartition(".")[2]
    STATS["calls"] += 1
    try:
        if not target.startswith("Kinesis_20131202.") or op not in OPS:
            raise ApiError("UnknownOperationException", "unknown operation %r" % target)
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            raise ApiError("SerializationException", "request body is not JSON")
        res = OPS[op](req)
        return 200, res if isinstance(res, bytes) else json.dumps(res).encode()
    except ApiError as e:
        STATS["errors"] += 1
        return e.status, json.dumps({"__type": e.kind, "message": e.msg}).encode()


class Conn(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf, self.continued = transport, bytearray(), False
        STATS["connections"] += 1

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            hdr = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                hdr[k.strip().lower()] = v.strip()
            if "chunked" in hdr.get("transfer-encoding", ""):
                self.reply(400, b'{"__type":"SerializationException","message":"chunked"}', True)
                return
            clen = int(hdr.get("content-length", "0"))
            if len(self.buf) < end + 4 + clen:
                if hdr.get("expect", "").lower() == "100-continue" and not self.continued:
                    self.continued = True
                    self.t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                return
            body = bytes(self.buf[end + 4:end + 4 + clen])
            del self.buf[:end + 4 + clen]
            self.continued = False
            status, res = handle(hdr.get("x-amz-target", ""), body)
            close = hdr.get("connection", "").lower() == "close" or lines[0].endswith("HTTP/1.0")
            self.reply(status, res, close)
            if close:
                return

    def reply(self, status, body, close):
        STATS["bytes"] += len(body)
        STATS["rid"] += 1
        self.t.write(("HTTP/1.1 %d %s\r\nx-amzn-RequestId: %08x-0000-4000-8000-%012x\r\n"
                      "Content-Type: application/x-amz-json-1.1\r\nContent-Length: %d\r\n%s\r\n"
                      % (status, "OK" if status == 200 else "Bad Request", STATS["rid"],
                         STATS["rid"], len(body), "Connection: close\r\n" if close else "")).encode())
        self.t.write(body)
        if close:
            self.t.close()


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def serve():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Conn, "127.0.0.1", ARGS.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    done = loop.create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, lambda: done.done() or done.set_result(None))
    loop.add_signal_handler(signal.SIGUSR1, report)
    report(reset_only=True)
    print("ready url=http://127.0.0.1:%d stream=%s shards=%d records=%d kinesis_records=%d "
          "user_per_kinesis_record=%d pages_per_shard=%d page_records=%d payload_bytes=%d "
          "page_bytes=%d build_cpu_s=%.2f rss_mb=%d" %
          (port, ARGS.stream, len(SHARDS), TOTAL_KIN * USER_PER_KIN * len(SHARDS),
           TOTAL_KIN * len(SHARDS), USER_PER_KIN, len(SHARDS[0].pages),
           ARGS.page * USER_PER_KIN, ARGS.record_size, len(SHARDS[0].pages[0]), BUILD_CPU,
           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024), flush=True)
    await done
    server.close()
    report()


def report(reset_only=False):
    """Prints what was served since the last report (and the CPU it cost), then starts anew."""
    global STATS, CPU0
    s = STATS
    if not reset_only:
        print("served calls=%d getrecords=%d records=%d bytes=%d errors=%d built_on_demand=%d "
              "connections=%d calls_under_195ms_apart=%d min_gap_ms=%.1f cpu_s=%.3f" %
              (s["calls"], s["getrecords"], s["records"], s["bytes"], s["errors"], s["built"],
               s["connections"], s["fast_calls"], min(s["min_gap_ms"], 1e9),
               cpu() - CPU0), flush=True)
    STATS = dict(calls=0, getrecords=0, records=0, bytes=0, errors=0, built=0, connections=0,
                 fast_calls=0, min_gap_ms=float("inf"), rid=s["rid"] if s else 0)
    for sh in SHARDS:
        sh.last_call = None
    CPU0 = cpu()


def main():
    global ARGS, STATS, BUILD_CPU
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--records-per-shard", type=int, default=10000,
                   help="user records per shard (rounded up to whole pages)")
    p.add_argument("--page", type=int, default=1000, help="user records per GetRecords page")
    p.add_argument("--record-size", type=int, default=100)
    p.add_argument("--kpl", action="store_true", help="records are KPL aggregates (aws_kinesis_agg)")
    p.add_argument("--agg-bytes", type=int, default=51200,
                   help="aggregate size limit (the KPL's AggregationMaxSize default)")
    p.add_argument("--aggregates-per-shard", type=int, default=2,
                   help="distinct aggregates built per shard, used in turn")
    p.add_argument("--keys-per-shard", type=int, default=16)
    p.add_argument("--open", action="store_true", help="shards stay open: empty pages at the tip")
    p.add_argument("--list-max", type=int, default=1000, help="most shards per ListShards page")
    p.add_argument("--stream", default="bench")
    p.add_argument("--port", type=int, default=0)
    ARGS = p.parse_args()
    if ARGS.shards < 1 or ARGS.page < 1 or ARGS.records_per_shard < 1:
        p.error("shards, page and records-per-shard must be positive")
    STATS = {}
    c0 = cpu()
    build()
    BUILD_CPU = cpu() - c0
    asyncio.run(serve())


if __name__ == "__main__":
    main()
