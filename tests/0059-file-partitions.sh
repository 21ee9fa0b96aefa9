#!/bin/sh
# 0059: the file system's partitioned output (partitions=N) and its json envelope read back
# (format=json on an input), the two halves of a repartitioning job's intermediate stream,
# judged by python3.
#   1. 10k JSON records (2 input files, 2 worker threads) rekeyed and written to a directory of
#      4 partition files as envelopes: every record is in exactly the file FNV-1a-64(key) % 4
#      names (no key: file 0), with its key and event time (task.timestamp.expr); nothing lost
#      or doubled.
#   2. That directory read back with format=json into a payload file and an envelope file: the
#      payloads are the input's (as a multiset), keys, headers and event times survived, and a
#      record's offset is its line's byte offset in the partition file it was read from.
#   3. Envelopes written by hand: headers (and escapes, NUL bytes, null and empty keys) survive
#      a format=json input and output; a record with the header sluice.broadcast lands in every
#      partition file, the others in the file their key hashes to.
#   4. Lines that are not envelopes: task.error.policy=fail fails the job naming file and
#      offset; skip logs each and goes on.
. "$(dirname "$0")/lib/common.sh"
needs python3

N=${SLUICE_FILEPART_RECORDS:-10000}
mkdir -p "$T/in"
python3 - "$T" "$N" <<'PY'
import json, random, sys
t, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(59)
files = [open("%s/in/part%d.jsonl" % (t, p), "w", encoding="utf-8") for p in range(2)]
for i in range(n):
    r = {"i": i, "ts": 1700000000000 + rnd.randint(0, 10**9),
         "s": rnd.choice(["plain", "tab\there", "quote \" and \\ backslash", "ünï ☃"])}
    c = rnd.random()
    if c < 0.02:
        pass                                    # no key: partition 0
    elif c < 0.05:
        r["k"] = rnd.randint(0, 99)             # a number: rekey makes it text
    elif c < 0.10:
        r["k"] = "ключ-%d" % rnd.randint(0, 50) # multi-byte key bytes
    else:
        r["k"] = "k%d" % rnd.randint(0, 999)
    line = json.dumps(r, ensure_ascii=False)
    files[i % 2].write(line + "\n")
    if i % 1000 == 7:                           # identical lines: doubles must stay doubles
        files[(i + 1) % 2].write(line + "\n")
PY

# ---- 1: rekeyed into 4 partition files ----
cat >"$T/split.properties" <<P
job.name=filepart-split
task.inputs=in.src
task.outputs=mid.rep
task.operators=rk
task.timestamp.expr=json_extract(payload, '\$.ts')
job.container.thread.count=2
job.checkpoint.sqlite.path=$T/split.db
systems.in.samza.factory=file
systems.in.streams.src.path=$T/in
systems.mid.samza.factory=file
systems.mid.streams.rep.path=$T/mid/rep
systems.mid.streams.rep.partitions=4
systems.mid.streams.rep.format=json
operators.rk.type=rekey
operators.rk.expr=json_extract(payload, '\$.k')
P
timeout 120 "$SLUICE" run "$T/split.properties" >"$T/split.log" 2>&1 ||
    { tail -n 20 "$T/split.log"; fail "the splitting job failed"; }
[ "$(ls "$T/mid/rep" | tr '\n' ' ')" = \
    "partition-00000 partition-00001 partition-00002 partition-00003 " ] ||
    { ls -la "$T/mid/rep"; fail "expected exactly partition-00000 .. partition-00003"; }

cat >"$T/judge.py" <<'PY'
import collections, json, os, sys

def fnv1a64(b):
    h = 0xcbf29ce484222325
    for c in b:
        h ^= c
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h

def input_lines(t):
    c = collections.Counter()
    for name in os.listdir(t + "/in"):
        with open(t + "/in/" + name, "rb") as f:
            c.update(l.rstrip(b"\n").decode("utf-8") for l in f)
    return c

def envelopes(path):
    """(byte offset, envelope) of every line of path."""
    out, pos = [], 0
    with open(path, "rb") as f:
        for l in f:
            out.append((pos, json.loads(l)))
            pos += len(l)
    return out

def split(t):
    want, got, n = input_lines(t), collections.Counter(), 0
    for p in range(4):
        for _, e in envelopes("%s/mid/rep/partition-%05d" % (t, p)):
            r, k = json.loads(e["payload"]), e["key"]
            expect_key = None if "k" not in r else str(r["k"])
            assert k == expect_key, "key %r, payload says %r: %r" % (k, expect_key, e)
            expect_p = 0 if k is None else fnv1a64(k.encode("utf-8")) % 4
            assert expect_p == p, "key %r in partition %d, FNV-1a says %d" % (k, p, expect_p)
            assert e["event_time"] == r["ts"], "event_time %r, ts %r" % (e["event_time"], r["ts"])
            got[e["payload"]] += 1
            n += 1
    assert got == want, "lost %d, extra %d" % (sum((want - got).values()),
                                               sum((got - want).values()))
    sizes = [len(envelopes("%s/mid/rep/partition-%05d" % (t, p))) for p in range(4)]
    print("# %d records in 4 partition files %s, each where FNV-1a-64(key) %% 4 says" % (n, sizes))

def back(t):
    want = input_lines(t)
    with open(t + "/back.payload", "rb") as f:
        got = collections.Counter(l.rstrip(b"\n").decode("utf-8") for l in f)
    assert got == want, "payloads: lost %d, extra %d" % (sum((want - got).values()),
                                                         sum((got - want).values()))
    files = {}
    def meta(e):
        return (e["key"], e["payload"], tuple(sorted(e["headers"].items())), e["event_time"])
    mid, again = collections.Counter(), collections.Counter()
    for p in range(4):
        path = "%s/mid/rep/partition-%05d" % (t, p)
        files[path] = dict(envelopes(path))
        mid.update(meta(e) for e in files[path].values())
    for _, e in envelopes(t + "/back.json"):
        again[meta(e)] += 1
        # The record's offset is where its line starts in the partition file it was read from.
        src = files[e["partition"]][int(e["offset"])]
        assert meta(src) == meta(e), "offset %s of %s: %r, record %r" % (e["offset"],
                                                                          e["partition"], src, e)
    assert again == mid, "envelopes read back differ from the ones written"
    print("# %d records read back: payloads, keys, event times and offsets as written" %
          sum(again.values()))

def hand(t):
    with open(t + "/hand.jsonl", "rb") as f:
        sent = [json.loads(l) for l in f]
    got = [e for _, e in envelopes(t + "/hand.out")]
    assert len(got) == len(sent), "%d envelopes in, %d out" % (len(sent), len(got))
    for s, g in zip(sent, got):
        for f in ("key", "payload", "headers", "event_time"):
            assert s.get(f, {"headers": {}, "event_time": 0}.get(f)) == g[f], \
                "%s: sent %r, got %r" % (f, s, g)
    parts = [[e for _, e in envelopes("%s/hand.parts/partition-%05d" % (t, p))] for p in range(3)]
    for s in sent:
        if "sluice.broadcast" in s.get("headers", {}):
            where = [p for p in range(3) if any(e["payload"] == s["payload"] for e in parts[p])]
            assert where == [0, 1, 2], "broadcast %r in partitions %r" % (s["payload"], where)
        else:
            k = s.get("key")
            p = 0 if k is None else fnv1a64(k.encode("utf-8")) % 3
            n = sum(e["payload"] == s["payload"] for e in parts[p])
            assert n == 1, "%r: %d times in partition %d" % (s["payload"], n, p)
    nb = sum("sluice.broadcast" in s.get("headers", {}) for s in sent)
    assert sum(map(len, parts)) == len(sent) + 2 * nb, "partition files: %r" % parts
    print("# %d hand-made envelopes: headers, keys, NULs and event times kept; %d broadcast "
          "to all 3 files" % (len(sent), nb))

globals()[sys.argv[1]](sys.argv[2])
PY
python3 "$T/judge.py" split "$T" || fail "the partition files are not what FNV-1a says"

# ---- 2: read back as envelopes ----
cat >"$T/back.properties" <<P
job.name=filepart-back
task.inputs=mid.rep
task.outputs=o.pl,o.js
job.container.thread.count=2
job.checkpoint.sqlite.path=$T/back.db
systems.mid.samza.factory=file
systems.mid.streams.rep.path=$T/mid/rep
systems.mid.streams.rep.format=json
systems.o.samza.factory=file
systems.o.streams.pl.path=$T/back.payload
systems.o.streams.js.path=$T/back.json
systems.o.streams.js.format=json
P
timeout 120 "$SLUICE" run "$T/back.properties" >"$T/back.log" 2>&1 ||
    { tail -n 20 "$T/back.log"; fail "the job reading the partitions back failed"; }
python3 "$T/judge.py" back "$T" || fail "the envelopes did not survive the round trip"

# ---- 3: headers and broadcast, from envelopes written by hand ----
cat >"$T/hand.jsonl" <<'J'
{"key":"a","payload":"one","headers":{"h1":"v1","ü":"☃ \"q\" \\ \t"},"event_time":1}
{"key":null,"payload":"no key","headers":{},"event_time":-5}
{"key":"","payload":"empty key","headers":{"x":""},"event_time":9007199254740993}
{"key":"b\u0000c","payload":"nul \u0000 inside\nand a newline"}
{"key":"k7","payload":"to everyone","headers":{"sluice.broadcast":"1","h":"2"},"event_time":7}
{"payload":"only a payload"}
{"key":"zz","payload":"last","headers":{"sluice.broadcast":""},"event_time":8,"offset":"123"}
J
cat >"$T/hand.properties" <<P
job.name=filepart-hand
task.inputs=h.in
task.outputs=h.out,h.parts
job.checkpoint.sqlite.path=$T/hand.db
systems.h.samza.factory=file
systems.h.streams.in.path=$T/hand.jsonl
systems.h.streams.in.format=json
systems.h.streams.out.path=$T/hand.out
systems.h.streams.out.format=json
systems.h.streams.parts.path=$T/hand.parts
systems.h.streams.parts.format=json
systems.h.streams.parts.partitions=3
P
timeout 60 "$SLUICE" run "$T/hand.properties" >"$T/hand.log" 2>&1 ||
    { tail -n 20 "$T/hand.log"; fail "the job over hand-made envelopes failed"; }
python3 "$T/judge.py" hand "$T" || fail "hand-made envelopes were not kept"

# ---- 4: lines that are not envelopes ----
printf '%s\n' '{"payload":"good 1"}' '{"payload": 5}' 'not json' '[1]' \
    '{"payload":"x","headers":{"h":1}}' '{"payload":"x","event_time":1.5}' \
    '{"key":3,"payload":"x"}' '{"key":"k"}' '{"payload":"good 2"}' >"$T/bad.jsonl"
for policy in fail skip; do
    cat >"$T/bad-$policy.properties" <<P
job.name=filepart-bad-$policy
task.inputs=b.in
task.outputs=b.out
task.error.policy=$policy
job.checkpoint.sqlite.path=$T/bad-$policy.db
systems.b.samza.factory=file
systems.b.streams.in.path=$T/bad.jsonl
systems.b.streams.in.format=json
systems.b.streams.out.path=$T/bad-$policy.out
P
done
expect_exit 1 sh -c "timeout 60 '$SLUICE' run '$T/bad-fail.properties' >'$T/bad-fail.log' 2>&1"
contains "$T/bad-fail.log" \
    "$T/bad.jsonl: offset 21: format=json: not a valid envelope: payload is not a string"
lacks "$T/bad-fail.out" "good 2"
timeout 60 "$SLUICE" run "$T/bad-skip.properties" >"$T/bad-skip.log" 2>&1 ||
    { tail -n 20 "$T/bad-skip.log"; fail "the job skipping bad envelopes failed"; }
[ "$(grep -c 'skipped: task.error.policy=skip' "$T/bad-skip.log")" = 7 ] ||
    { cat "$T/bad-skip.log"; fail "expected 7 bad envelopes skipped"; }
for what in "offset 21: format=json: not a valid envelope: payload is not a string" \
    "offset 36: format=json: not a JSON envelope" \
    "offset 45: format=json: not a valid envelope: not a JSON object" \
    "offset 49: format=json: not a valid envelope: header 'h' is not a string" \
    "offset 83: format=json: not a valid envelope: event_time is not an integer" \
    "offset 116: format=json: not a valid envelope: key is neither a string nor null" \
    "offset 140: format=json: not a valid envelope: no payload"; do
    contains "$T/bad-skip.log" "$what"
done
[ "$(cat "$T/bad-skip.out")" = "good 1
good 2" ] || { cat "$T/bad-skip.out"; fail "skip should keep exactly the 2 good lines"; }
say "ok: bad envelopes fail the job naming file and offset, or are skipped one by one"
