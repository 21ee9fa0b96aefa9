#!/usr/bin/env python3
"""fault_endpoint.py: an HTTP endpoint that forwards to a real peer or fails on purpose, for the
fault-endpoint test (tests/0037). Every request follows the mode in the control file (re-read
when it changes):

  pass      forward to --upstream unchanged
  error500  answer 500 with an AWS-style JSON error {"__type": "InternalFailure", ...}
  hang      read the request and never answer (the connection stays open)
  garbage   answer 200 with an HTML page (a captive portal or a misrouted load balancer)

Each request is appended to --log as "<epoch ms> <mode> <X-Amz-Target>".

  python3 fault_endpoint.py --listen PORT --upstream URL --control FILE --log FILE
"""
import argparse
import http.client
import http.server
import os
import threading
import time
import urllib.parse

lock = threading.Lock()


def mode(path):
    try:
        with open(path) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    up = urllib.parse.urlparse(a.upstream)
    hold = []

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            m = mode(a.control)
            with lock, open(a.log, "a") as f:
                f.write("%d %s %s\n" % (time.time() * 1000, m, self.headers.get("X-Amz-Target", "-")))
            if m == "hang":
                hold.append(self.connection)
                while mode(a.control) == "hang":
                    time.sleep(0.05)
                self.close_connection = True
                return
            if m == "error500":
                out = b'{"__type":"InternalFailure","message":"injected by fault_endpoint"}'
                self.send_response(500)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
            elif m == "garbage":
                out = b"<html><body>Please log in to the network</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
            else:
                c = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                hdrs["Host"] = self.headers.get("Host", "")
                c.request("POST", self.path, body, hdrs)
                r = c.getresponse()
                out = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                c.close()
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.listen), H)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
