#!/usr/bin/env python3
"""pulsar_fake_broker.py: a deliberately unhelpful Pulsar broker for tests/0028, speaking just
enough of the binary protocol (hand-encoded protobuf, no library) to get a producer registered,
then misbehaving in the ways a real broker cannot be made to on demand:

  - it answers CONNECT, PARTITIONED_METADATA, LOOKUP (Connect, to itself) and PRODUCER;
  - it sends the client a PING right after PRODUCER_SUCCESS and logs whether a PONG comes back;
  - it never answers the client's PINGs and never sends SEND_RECEIPT (mode "silent"), or
    answers the first SEND it sees with SEND_ERROR (mode "senderror"), all later ones with
    receipts;
  - mode "chunks": it takes a SUBSCRIBE and, at the first FLOW, pushes the entries of CHUNKS
    below (chunked messages as producers with chunking enabled write them, and the ways they go
    wrong), then logs every ACK with its type and message ids;
  - mode "late": a slow broker (tests/0033). The first PRODUCER and the first SUBSCRIBE are
    answered only after --late-ms, yet the producer name and the (exclusive) subscription are
    taken from the moment the request arrived, as a real broker takes them. While taken, a
    PRODUCER with the same name but another producer id is refused with ProducerBusy and a
    SUBSCRIBE to the same subscription with ConsumerBusy; only a CLOSE_PRODUCER /
    CLOSE_CONSUMER naming the holder's id, or the end of the holder's connection, frees them.
    SENDs get receipts; the consumer that holds the subscription gets --messages messages at
    its first FLOW;
  - mode "never": neither PRODUCER nor CLOSE_PRODUCER is ever answered (a registration stuck
    for good).
  - mode "proxy": not a broker but a slow way to a real one (--upstream HOST:PORT): frames are
    passed on as they are, except that the broker's answers to the first PRODUCER and to the
    first SUBSCRIBE are held back for --late-ms (the broker has registered them meanwhile: a
    slow broker as the client sees it) and LOOKUP_RESPONSE names this proxy instead of the
    broker, so that every connection comes through here. Logged: PRODUCER, SUBSCRIBE,
    CLOSE_PRODUCER, CLOSE_CONSUMER, the answers (ERROR with its code), held answers.

Every event is logged as a JSON line to --log: connect, cmd (type name, producer/sequence ids;
ACK: ack "Individual"/"Cumulative" and ids [[ledger, entry], ...]), pong, close.

  python3 pulsar_fake_broker.py --port P --log FILE [--mode silent|senderror|chunks|late|never]
                                [--late-ms MS] [--messages N] [--upstream HOST:PORT]
"""
import argparse
import json
import socket
import struct
import threading
import time

TYPES = {2: "CONNECT", 3: "CONNECTED", 4: "SUBSCRIBE", 5: "PRODUCER", 9: "MESSAGE", 10: "ACK",
         11: "FLOW", 16: "CLOSE_CONSUMER", 6: "SEND", 7: "SEND_RECEIPT", 8: "SEND_ERROR",
         13: "SUCCESS", 14: "ERROR", 15: "CLOSE_PRODUCER", 17: "PRODUCER_SUCCESS", 18: "PING", 19: "PONG",
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


# Entries of mode "chunks", ledger 7, entry = index: (data, uuid, chunk id, chunks, total size,
# published an hour ago). uuid None: a plain message.
CHUNKS = [
    (b"a", None, 0, 0, 0, False),            # 0
    (b"AAAA", "u1", 0, 2, 8, False),         # 1  u1 begins
    (b"CC", "u2", 0, 2, 4, False),           # 2  u2 begins, between u1's chunks
    (b"BBBB", "u1", 1, 2, 8, False),         # 3  u1 whole: AAAABBBB
    (b"XX", "u3", 1, 3, 6, True),            # 4  u3 without its chunk 0, an hour old
    (b"CC", "u2", 0, 2, 4, False),           # 5  u2 sent again from its start
    (b"DD", "u2", 1, 2, 4, False),           # 6  u2 whole: CCDD
    (b"EE", "u4", 0, 2, 4, False),           # 7  u4 never completes
    (b"z", None, 0, 0, 0, False),            # 8
    (b"FFFF", "u5", 0, 2, 3, False),         # 9  u5's chunk larger than its total
]
LEDGER = 7


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def message_frame(consumer_id, entry, data, uuid, chunk_id, nchunks, total, old):
    publish = int(time.time() * 1000) - (3600000 if old else 0)
    meta = field_bytes(1, "fake-producer") + field_varint(2, entry) + field_varint(3, publish)
    if uuid:
        meta += (field_bytes(26, uuid) + field_varint(27, nchunks) + field_varint(28, total) +
                 field_varint(29, chunk_id))
    cmd = field_varint(1, 9) + field_bytes(9, field_varint(1, consumer_id) + field_bytes(
        2, field_varint(1, LEDGER) + field_varint(2, entry)))
    rest = struct.pack(">I", len(meta)) + meta + data
    body = struct.pack(">I", len(cmd)) + cmd + b"\x0e\x01" + struct.pack(">I", crc32c(rest)) + rest
    return struct.pack(">I", len(body)) + body


def frame(cmd_type, field_num, sub):
    cmd = field_varint(1, cmd_type) + field_bytes(field_num, sub)
    return struct.pack(">II", 4 + len(cmd), len(cmd)) + cmd


ERRORED = [False]
# mode "late": what is taken, by whom: ("producer", name) or ("subscription", name) ->
# (connection, producer or consumer id).
HELD = {}
HELD_LOCK = threading.Lock()
LATE_DONE = set()  # kinds whose first registration was already delayed


def error_frame(request_id, code, message):
    return frame(14, 14, field_varint(1, request_id) + field_varint(2, code) +
                 field_bytes(3, message))


class Conn(threading.Thread):
    def __init__(self, sock, args, log):
        super().__init__(daemon=True)
        self.s, self.args, self.log = sock, args, log
        self.wlock = threading.Lock()

    def send(self, data):
        with self.wlock:
            self.s.sendall(data)

    def later(self, ms, data, ev):
        def fire():
            try:
                self.log(ev)
                self.send(data)
            except OSError:
                pass
        threading.Timer(ms / 1000.0, fire).start()

    def take(self, what, name, rid, request_id, answer, busy_code, busy_msg):
        """Mode late: registers rid under what/name, answering now, late, or busy."""
        key = (what, name)
        with HELD_LOCK:
            holder = HELD.get(key)
            if holder and holder != (self, rid):
                self.log({"event": "busy", "what": what, "id": rid, "holder": holder[1]})
                self.send(error_frame(request_id, busy_code, busy_msg))
                return False
            HELD[key] = (self, rid)
            late = what not in LATE_DONE
            LATE_DONE.add(what)
        if late:
            self.later(self.args.late_ms, answer, {"event": "late_answer", "what": what, "id": rid})
        else:
            self.send(answer)
        return True

    def release(self, what, rid):
        with HELD_LOCK:
            for key, holder in list(HELD.items()):
                if key[0] == what and holder == (self, rid):
                    del HELD[key]
                    self.log({"event": "released", "what": what, "id": rid})

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
                if t == 5:
                    ev["producer_id"], ev["name"] = sub[2][0], sub[4][0].decode() if 4 in sub else None
                if t == 4:
                    ev["consumer_id"] = sub[4][0]
                if t == 15:
                    ev["producer_id"] = sub[1][0]
                if t == 16:
                    ev["consumer_id"] = sub[1][0]
                if t == 10:
                    ev["ack"] = "Cumulative" if sub[2][0] == 1 else "Individual"
                    ev["ids"] = [[parse(m)[1][0], parse(m)[2][0]] for m in sub.get(3, [])]
                self.log(ev)
                if t == 2:
                    self.send(frame(3, 3, field_bytes(1, "fake-broker") + field_varint(2, 20)))
                elif t == 21:
                    self.send(frame(22, 22, field_varint(1, 0) + field_varint(2, sub[2][0]) +
                                         field_varint(3, 0)))
                elif t == 23:
                    url = "pulsar://127.0.0.1:%d" % self.args.port
                    self.send(frame(24, 24, field_bytes(1, url) + field_varint(3, 1) +
                                         field_varint(4, sub[2][0])))
                elif t == 5 and self.args.mode == "never":
                    pass
                elif t == 5 and self.args.mode == "late":
                    name = sub[4][0].decode()
                    self.take("producer", name, sub[2][0], sub[3][0],
                              frame(17, 17, field_varint(1, sub[3][0]) + field_bytes(2, name)), 16,
                              "Producer with name '%s' is already connected to topic" % name)
                elif t == 15 and self.args.mode == "never":
                    pass
                elif t == 15 and self.args.mode == "late":
                    self.release("producer", sub[1][0])
                    self.send(frame(13, 13, field_varint(1, sub[2][0])))
                elif t == 4 and self.args.mode == "late":
                    name = sub[2][0].decode()
                    if self.take("subscription", name, sub[4][0], sub[5][0],
                                 frame(13, 13, field_varint(1, sub[5][0])), 5,
                                 "Exclusive consumer is already connected"):
                        self.consumer_id = sub[4][0]
                elif t == 16 and self.args.mode == "late":
                    self.release("subscription", sub[1][0])
                    self.send(frame(13, 13, field_varint(1, sub[2][0])))
                elif t == 11 and self.args.mode == "late" and not getattr(self, "pushed", False):
                    with HELD_LOCK:
                        mine = any(h == (self, self.consumer_id) for k, h in HELD.items()
                                   if k[0] == "subscription")
                    if mine:
                        self.pushed = True
                        for i in range(self.args.messages):
                            self.send(message_frame(self.consumer_id, i,
                                                    b'{"m": %d}' % i, None, 0, 0, 0, False))
                elif t == 6 and self.args.mode == "late":
                    seq = sub[2][0]
                    self.send(frame(7, 7, field_varint(1, sub[1][0]) + field_varint(2, seq) +
                                    field_bytes(3, field_varint(1, 1) + field_varint(2, seq))))
                elif t == 5:
                    self.send(frame(17, 17, field_varint(1, sub[3][0]) +
                                         field_bytes(2, sub[4][0] if 4 in sub else b"fake-producer")))
                    self.send(frame(18, 18, b""))  # our PING: a PONG must come back
                elif t == 19:
                    self.log({"event": "pong"})
                elif t == 4:
                    self.consumer_id = sub[4][0]
                    self.send(frame(13, 13, field_varint(1, sub[5][0])))
                elif t == 16:
                    self.send(frame(13, 13, field_varint(1, sub[2][0])))
                elif t == 11 and self.args.mode == "chunks" and not getattr(self, "pushed", False):
                    self.pushed = True
                    for i, (data, uuid, cid, n, total, old) in enumerate(CHUNKS):
                        self.send(message_frame(self.consumer_id, i, data, uuid, cid, n, total, old))
                elif t == 6 and self.args.mode == "senderror" and not ERRORED[0]:
                    ERRORED[0] = True
                    self.send(frame(8, 8, field_varint(1, sub[1][0]) + field_varint(2, sub[2][0]) +
                                         field_varint(3, 2) + field_bytes(4, "fake persistence error")))
                elif t == 6 and self.args.mode == "senderror":
                    seq = sub[2][0]
                    self.send(frame(7, 7, field_varint(1, sub[1][0]) + field_varint(2, seq) +
                                         field_bytes(3, field_varint(1, 1) + field_varint(2, seq))))
                # PING from the client, and SEND in silent mode: no answer.
        except (EOFError, OSError, ValueError, KeyError, IndexError):
            pass
        self.log({"event": "close"})
        with HELD_LOCK:
            for key, holder in list(HELD.items()):
                if holder[0] is self:
                    del HELD[key]
                    self.log({"event": "released", "what": key[0], "id": holder[1], "by": "close"})
        self.s.close()


def encode(fields):
    """The inverse of parse() for varint and length-delimited fields."""
    out = b""
    for num, vals in sorted(fields.items()):
        for v in vals:
            out += field_varint(num, v) if isinstance(v, int) else field_bytes(num, v)
    return out


def read_frame(sock):
    """One frame: (raw bytes, command type, command fields)."""
    def exact(n):
        b = b""
        while len(b) < n:
            c = sock.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b
    head = exact(4)
    body = exact(struct.unpack(">I", head)[0])
    csize = struct.unpack(">I", body[:4])[0]
    cmd = parse(body[4:4 + csize])
    t = cmd[1][0]
    return head + body, t, parse(cmd[t][0]) if t in cmd else {}


HELD_BACK = set()  # mode proxy: the kinds of request whose first answer was held back


class Proxy(threading.Thread):
    def __init__(self, sock, args, log):
        super().__init__(daemon=True)
        self.s, self.args, self.log = sock, args, log
        self.wlock = threading.Lock()
        self.late = set()  # request ids whose answer is held back

    def to_client(self, data):
        with self.wlock:
            self.s.sendall(data)

    def hold(self, t, request_id):
        with HELD_LOCK:
            if t not in HELD_BACK:
                HELD_BACK.add(t)
                self.late.add(request_id)

    def upward(self, up):
        try:
            while True:
                raw, t, sub = read_frame(self.s)
                if t == 5:
                    self.log({"event": "cmd", "type": "PRODUCER", "producer_id": sub[2][0],
                              "request_id": sub[3][0],
                              "name": sub[4][0].decode() if 4 in sub else None})
                    self.hold(t, sub[3][0])
                elif t == 4:
                    self.log({"event": "cmd", "type": "SUBSCRIBE", "consumer_id": sub[4][0],
                              "request_id": sub[5][0]})
                    self.hold(t, sub[5][0])
                elif t == 15:
                    self.log({"event": "cmd", "type": "CLOSE_PRODUCER", "producer_id": sub[1][0]})
                elif t == 16:
                    self.log({"event": "cmd", "type": "CLOSE_CONSUMER", "consumer_id": sub[1][0]})
                up.sendall(raw)
        except (EOFError, OSError, ValueError, KeyError, IndexError):
            pass
        for sk in (up, self.s):
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def run(self):
        self.log({"event": "connect"})
        host, port = self.args.upstream.rsplit(":", 1)
        try:
            up = socket.create_connection((host, int(port)))
        except OSError:
            self.s.close()
            return
        threading.Thread(target=self.upward, args=(up,), daemon=True).start()
        try:
            while True:
                raw, t, sub = read_frame(up)
                if t == 24:
                    sub[1] = [("pulsar://127.0.0.1:%d" % self.args.port).encode()]
                    raw = frame(24, 24, encode(sub))
                if t in (13, 14, 17):
                    ev = {"event": "answer", "type": TYPES[t], "request_id": sub[1][0]}
                    if t == 14:
                        ev["error"] = sub[2][0]
                    self.log(ev)
                    if sub[1][0] in self.late:
                        self.log({"event": "held_back", "request_id": sub[1][0]})
                        threading.Timer(self.args.late_ms / 1000.0, self.late_send, (raw,)).start()
                        continue
                self.to_client(raw)
        except (EOFError, OSError, ValueError, KeyError, IndexError):
            pass
        self.log({"event": "close"})
        for sk in (up, self.s):
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        up.close()
        self.s.close()

    def late_send(self, raw):
        try:
            self.log({"event": "late_answer"})
            self.to_client(raw)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mode", default="silent")
    ap.add_argument("--late-ms", type=int, default=2500)
    ap.add_argument("--messages", type=int, default=10)
    ap.add_argument("--upstream")
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
        (Proxy if args.mode == "proxy" else Conn)(s, args, log).start()


if __name__ == "__main__":
    main()
