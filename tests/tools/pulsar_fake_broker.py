#!/usr/bin/env python3
"""pulsar_fake_broker.py: a deliberately unhelpful Pulsar broker for tests/0028, speaking just
enough of the binary protocol (hand-encoded protobuf, no library) to get a producer registered,
then misbehaving in the ways a real broker cannot be made to on demand:

  - it answers CONNECT, PARTITIONED_METADATA, LOOKUP (Connect, to itself) and PRODUCER;
  - it sends the client a PING right after PRODUCER_SUCCESS and logs whether a PONG comes back;
  - it never answers the client's PINGs and never sends SEND_RECEIPT (mode "silent"), or
    answers the first SEND it sees with SEND_ERROR (mode "senderror"), all later ones with
    receipts.

Every event is logged as a JSON line to --log: connect, cmd (type name, producer/sequence ids),
pong, close.

  python3 pulsar_fake_broker.py --port P --log FILE [--mode silent|senderror]
"""
import argparse
import json
import socket
import struct
import threading
import time

TYPES = {2: "CONNECT", 3: "CONNECTED", 5: "PRODUCER", 6: "SEND", 7: "SEND_RECEIPT", 8: "SEND_ERROR",
         13: "SUCCESS", 15: "CLOSE_PRODUCER", 17: "PRODUCER_SUCCESS", 18: "PING", 19: "PONG",
         21: "PARTITIONED_METADATA", 22: "PARTITIONED_METADATA_RESPONSE", 23: "LOOKUP",
         24: "LOOKUP_RESPONSE"}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def parse(buf):
    """A protobuf message as {field: [values]} (varints as int, length-delimited as bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def read_varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def frame(cmd_type, field_num, sub):
    cmd = field_varint(1, cmd_type) + field_bytes(field_num, sub)
    return struct.pack(">II", 4 + len(cmd), len(cmd)) + cmd


ERRORED = [False]


class Conn(threading.Thread):
    def __init__(self, sock, args, log):
        super().__init__(daemon=True)
        self.s, self.args, self.log = sock, args, log

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def run(self):
        self.log({"event": "connect"})
        try:
            while True:
                total = struct.unpack(">I", self.recv_exact(4))[0]
                body = self.recv_exact(total)
                csize = struct.unpack(">I", body[:4])[0]
                cmd = parse(body[4:4 + csize])
                t = cmd[1][0]
                name = TYPES.get(t, str(t))
                sub = parse(cmd[t][0]) if t in cmd else {}
                ev = {"event": "cmd", "type": name}
                if t == 6:
                    ev["producer_id"], ev["sequence_id"] = sub[1][0], sub[2][0]
                self.log(ev)
                if t == 2:
                    self.s.sendall(frame(3, 3, field_bytes(1, "fake-broker") + field_varint(2, 20)))
                elif t == 21:
                    self.s.sendall(frame(22, 22, field_varint(1, 0) + field_varint(2, sub[2][0]) +
                                         field_varint(3, 0)))
                elif t == 23:
                    url = "pulsar://127.0.0.1:%d" % self.args.port
                    self.s.sendall(frame(24, 24, field_bytes(1, url) + field_varint(3, 1) +
                                         field_varint(4, sub[2][0])))
                elif t == 5:
                    self.s.sendall(frame(17, 17, field_varint(1, sub[3][0]) +
                                         field_bytes(2, sub[4][0] if 4 in sub else b"fake-producer")))
                    self.s.sendall(frame(18, 18, b""))  # our PING: a PONG must come back
                elif t == 19:
                    self.log({"event": "pong"})
                elif t == 6 and self.args.mode == "senderror" and not ERRORED[0]:
                    ERRORED[0] = True
                    self.s.sendall(frame(8, 8, field_varint(1, sub[1][0]) + field_varint(2, sub[2][0]) +
                                         field_varint(3, 2) + field_bytes(4, "fake persistence error")))
                elif t == 6 and self.args.mode == "senderror":
                    seq = sub[2][0]
                    self.s.sendall(frame(7, 7, field_varint(1, sub[1][0]) + field_varint(2, seq) +
                                         field_bytes(3, field_varint(1, 1) + field_varint(2, seq))))
                # PING from the client, and SEND in silent mode: no answer.
        except (EOFError, OSError, ValueError, KeyError, IndexError):
            pass
        self.log({"event": "close"})
        self.s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mode", default="silent")
    args = ap.parse_args()
    lock = threading.Lock()

    def log(ev):
        ev["t"] = int(time.time() * 1000)
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(ev) + "\n")

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(16)
    while True:
        s, _ = srv.accept()
        Conn(s, args, log).start()


if __name__ == "__main__":
    main()
