# pulsar.sh: sourced by the Pulsar tests (0023-0025) after tests/lib/common.sh and
# tests/peers/lib.sh. The judge is the official client: the PyPI wheel `pulsar-client` (it
# bundles Apache's C++ client), installed once into a venv in the peers' cache. This file writes
# $T/pl.py (read every message of a topic with what it carries, produce numbered messages with
# keys and properties, subscription backlogs through the admin REST API) and gives pl_py.

PL_CLIENT_VERSION=3.13.0

# pl_client: makes sure the venv with pulsar-client exists; sets PL_PY to its python.
pl_client() {
    _d=$PEERS_CACHE/pulsar-client-$PL_CLIENT_VERSION
    if [ ! -e "$_d/.installed" ]; then
        needs python3 venv,ensurepip   # first install only: a venv for pip
        mkdir -p "$PEERS_CACHE"
        (
            flock 9
            [ -e "$_d/.installed" ] && exit 0
            rm -rf "$_d"
            python3 -m venv "$_d" && "$_d/bin/pip" install -q --disable-pip-version-check \
                "pulsar-client==$PL_CLIENT_VERSION" && touch "$_d/.installed"
        ) 9>"$_d.lock" >"$T/pl-client-install.log" 2>&1 \
            || { cat "$T/pl-client-install.log"; fail "cannot install pulsar-client $PL_CLIENT_VERSION"; }
    fi
    PL_PY=$_d/bin/python
}
pl_py() { "$PL_PY" "$T/pl.py" "$@"; }

# pl_admin HTTPURL METHOD PATH [JSON]: the broker's admin REST API.
pl_admin() {
    if [ -n "${4:-}" ]; then
        curl -sf -X "$2" -H 'Content-Type: application/json' -d "$4" "$1/admin/v2/$3"
    else
        curl -sf -X "$2" "$1/admin/v2/$3"
    fi
}

cat >"$T/pl.py" <<'PY'
"""Python half of tests/lib/pulsar.sh, on the official client (pulsar-client wheel).
  read URL TOPIC N OUT          every message of TOPIC (all partitions) from the start, up to N,
                                as JSON lines: data (base64), key, props, event, publish, id,
                                partition
  produce URL TOPIC N OUT [batch|nobatch] [COMPRESSION] [KEYS]   N messages {"id": i} with key
                                k<i%KEYS> (KEYS: 7),
                                properties {"n": i}, event time; what was sent to OUT
  send URL TOPIC TEXT KEY       one message TEXT with key KEY (unbatched)
  backlog HTTPURL TOPIC SUB     the subscription's backlog summed over partitions (-1: none)
"""
import base64, json, sys, time, urllib.request
import pulsar


def client(url):
    return pulsar.Client(url, operation_timeout_seconds=30,
                         logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error))


def partitions(c, topic):
    try:
        return c.get_topic_partitions(topic)
    except Exception:
        return [topic]


def read(url, topic, n, out):
    c = client(url)
    got = 0
    with open(out, "w") as f:
        for t in partitions(c, topic):
            r = c.create_reader(t, pulsar.MessageId.earliest)
            idle = 0
            while got < n and idle < 2:
                try:
                    m = r.read_next(1500)
                except Exception:
                    idle += 1
                    continue
                idle = 0
                part = t.rsplit("-partition-", 1)[1] if "-partition-" in t else "-1"
                f.write(json.dumps({"data": base64.b64encode(m.data()).decode(),
                                    "key": m.partition_key(), "props": m.properties(),
                                    "event": m.event_timestamp(), "publish": m.publish_timestamp(),
                                    "id": str(m.message_id()), "partition": int(part),
                                    "redelivery": m.redelivery_count()}) + "\n")
                got += 1
            r.close()
    c.close()
    print(got)


def produce(url, topic, n, out, batch="batch", comp="NONE", keys="7"):
    c = client(url)
    p = c.create_producer(topic, batching_enabled=(batch == "batch"),
                          compression_type=getattr(pulsar.CompressionType, comp))
    base = int(time.time() * 1000)
    nk = int(keys)
    with open(out, "a") as f:
        for i in range(n):
            data = json.dumps({"id": i}).encode()
            p.send_async(data, None, partition_key="k%d" % (i % nk),
                         properties={"n": str(i)}, event_timestamp=base + i)
            f.write(json.dumps({"id": i, "key": "k%d" % (i % nk), "event": base + i}) + "\n")
        p.flush()
    p.close()
    c.close()


def send(url, topic, text, key):
    c = client(url)
    p = c.create_producer(topic, batching_enabled=False)
    p.send(text.encode(), partition_key=key, event_timestamp=int(time.time() * 1000))
    p.close()
    c.close()


def backlog(http, topic, sub):
    path = topic.replace("://", "/")
    try:
        d = json.load(urllib.request.urlopen("%s/admin/v2/%s/partitioned-stats" % (http, path)))
    except Exception:
        d = json.load(urllib.request.urlopen("%s/admin/v2/%s/stats" % (http, path)))
    s = d.get("subscriptions", {}).get(sub)
    print(-1 if s is None else s["msgBacklog"])


cmd = sys.argv[1]
if cmd == "read":
    read(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
elif cmd == "produce":
    produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], *sys.argv[6:])
elif cmd == "send":
    send(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
elif cmd == "backlog":
    backlog(sys.argv[2], sys.argv[3], sys.argv[4])
else:
    sys.exit("unknown command " + cmd)
PY
