#!/usr/bin/env python3
"""kinesis_proxy.py: a fault-injecting HTTP proxy in front of a Kinesis peer (kinesalite), for
the producer's fault tests (tests/0022). Everything but PutRecords is forwarded unchanged.
PutRecords follows the mode named in the control file (re-read when it changes):

  pass        forward
  partial:R   each entry fails with probability R (ProvisionedThroughputExceededException or
              InternalFailure, as Kinesis answers them); only the other entries are forwarded
              (one smaller PutRecords), and the answer merges both, in request order, with the
              right FailedRecordCount. Entries fail independently, so a later entry of a key may
              be stored while an earlier one of the same request failed.
  throttle    the whole request: 400 ProvisionedThroughputExceededException, nothing stored
  error5xx    the whole request: 500 InternalFailure or 503 ServiceUnavailable, nothing stored
  mix:R       per request, one of throttle, error5xx or partial:R

Counters (requests, records_forwarded, records_failed, requests_throttled, requests_5xx) are
written as JSON to --stats after every PutRecords and served at GET /__stats.

  python3 kinesis_proxy.py --listen PORT --upstream http://127.0.0.1:UPORT --control FILE
                           [--log FILE] [--stats FILE] [--seed N]
"""
import argparse
import http.client
import http.server
import json
import os
import random
import threading
import urllib.parse

lock = threading.Lock()
stats = {"requests": 0, "put_requests": 0, "records_forwarded": 0, "records_failed": 0,
         "requests_throttled": 0, "requests_5xx": 0}
mode_cache = {"mtime": None, "mode": "pass"}


def current_mode(path):
    try:
        m = os.stat(path).st_mtime_ns
    except OSError:
        return "pass"
    if m != mode_cache["mtime"]:
        with open(path) as f:
            mode_cache["mode"] = (f.read().strip() or "pass")
        mode_cache["mtime"] = m
    return mode_cache["mode"]


def save_stats():
    if not ARGS.stats:
        return
    tmp = ARGS.stats + ".tmp"
    with open(tmp, "w") as f:
        json.dump(stats, f, sort_keys=True)
    os.replace(tmp, ARGS.stats)


def log(line):
    if ARGS.log:
        with lock, open(ARGS.log, "a") as f:
            f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, ctype="application/x-amz-json-1.1", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/__stats"):
            with lock:
                self.reply(200, dict(stats), "application/json")
            return
        self.reply(404, {"message": "not found"}, "application/json")

    def forward(self, body):
        u = urllib.parse.urlsplit(ARGS.upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "content-length", "connection", "expect")}
        headers["Content-Length"] = str(len(body))
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read(), r.getheader("Content-Type") or "application/x-amz-json-1.1"
        finally:
            conn.close()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        target = self.headers.get("X-Amz-Target", "")
        with lock:
            stats["requests"] += 1
            mode = current_mode(ARGS.control)
            rng_val = RNG.random()
        if not target.endswith(".PutRecords") or mode == "pass":
            if target.endswith(".PutRecords"):
                try:
                    cnt = len(json.loads(body).get("Records", []))
                except ValueError:
                    cnt = 0
                with lock:
                    stats["put_requests"] += 1
                    stats["records_forwarded"] += cnt
                    save_stats()
            status, data, ctype = self.forward(body)
            self.reply(status, data, ctype)
            return
        kind, _, ratio = mode.partition(":")
        ratio = float(ratio or "0.3")
        if kind == "mix":
            kind = "throttle" if rng_val < 0.25 else "error5xx" if rng_val < 0.5 else "partial"
        with lock:
            stats["put_requests"] += 1
        if kind == "throttle":
            with lock:
                stats["requests_throttled"] += 1
                save_stats()
            log("throttle: whole request refused")
            self.reply(400, {"__type": "ProvisionedThroughputExceededException",
                             "message": "Rate exceeded for stream (proxy)"})
            return
        if kind == "error5xx":
            with lock:
                stats["requests_5xx"] += 1
                save_stats()
                five = RNG.random() < 0.5
            log("5xx: whole request failed")
            if five:
                self.reply(500, {"__type": "InternalFailure", "message": "proxy"})
            else:
                self.reply(503, {"__type": "ServiceUnavailable", "message": "proxy"})
            return
        if kind != "partial":
            self.reply(500, {"__type": "InternalFailure", "message": "unknown proxy mode " + mode})
            return
        req = json.loads(body)
        recs = req.get("Records", [])
        with lock:
            fails = [RNG.random() < ratio for _ in recs]
            codes = [RNG.choice(["ProvisionedThroughputExceededException", "InternalFailure"])
                     for _ in recs]
        keep = [r for r, f in zip(recs, fails) if not f]
        results = []
        if keep:
            sub = dict(req, Records=keep)
            status, data, ctype = self.forward(json.dumps(sub).encode())
            if status != 200:
                self.reply(status, data, ctype)
                return
            up = json.loads(data)
            upr = iter(up["Records"])
        nfail = 0
        for f, code in zip(fails, codes):
            if f:
                nfail += 1
                msg = ("Rate exceeded for shard (proxy)" if code.startswith("Provisioned")
                       else "Internal service failure (proxy)")
                results.append({"ErrorCode": code, "ErrorMessage": msg})
            else:
                r = next(upr)
                if r.get("ErrorCode"):
                    nfail += 1
                results.append(r)
        with lock:
            stats["records_forwarded"] += len(keep)
            stats["records_failed"] += len(recs) - len(keep)
            save_stats()
        log("partial: %d of %d entries failed" % (len(recs) - len(keep), len(recs)))
        self.reply(200, {"FailedRecordCount": nfail, "Records": results})


def main():
    global ARGS, RNG
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--log")
    p.add_argument("--stats")
    p.add_argument("--seed", type=int, default=1)
    ARGS = p.parse_args()
    RNG = random.Random(ARGS.seed)
    save_stats()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.listen), Handler)
    srv.daemon_threads = True
    print("listening on http://127.0.0.1:%d" % ARGS.listen, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
