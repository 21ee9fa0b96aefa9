#!/bin/sh
# 0010: sluice's SigV4 signer agrees with botocore's on a few hundred randomised requests.
# Methods; paths with spaces, unicode, '..', '.', '//', reserved and percent-encoded characters;
# queries with repeated keys, empty values, reserved and unicode characters, encoded in varied
# ways; headers with mixed-case names, padded and folded values, inner white space, duplicate
# names and the hop-by-hop headers both signers leave out; empty, text and binary bodies; with
# and without a session token; as a Kinesis-style service (botocore SigV4Auth, normalised and
# re-encoded path) and as S3 (S3SigV4Auth: path as sent, x-amz-content-sha256). botocore signs
# an AWSRequest with its clock mocked to the same instant; tests/tools/sigv4-sign signs the same
# description; the Authorization and X-Amz-Date headers (and x-amz-content-sha256 for S3) must be
# identical. On the first difference both canonical requests are printed.
#
# Why this matters: the local AWS implementations used elsewhere in the tests do not check
# signatures at all, so this cross-check and the AWS signing test suite in the unit tests
# (tests/unit/test_sigv4.c) are the only proof that AWS would accept what sluice signs.
#
# Needs python3 and botocore (a recent one, else pinned from PyPI into a venv); when it cannot be had the
# test fails, it never skips. SIGV4_SEED=n replays a run, SIGV4_CASES=n changes its size.
. "$(dirname "$0")/lib/common.sh"
needs python3

SIGN="$top_builddir/tests/tools/sigv4-sign"
[ -x "$SIGN" ] || fail "no signer helper at $SIGN (make tests/tools/sigv4-sign)"
# The judge freezes botocore's clock through botocore.auth.get_current_datetime, which older
# releases lack (Debian 12's python3-botocore 1.29): such a botocore is not used, a pinned one
# is installed into a venv instead.
py_judge "botocore.auth; botocore.auth.get_current_datetime" botocore==1.44.8

SEED=${SIGV4_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
CASES=${SIGV4_CASES:-400}
say "seed $SEED, $CASES requests (replay with SIGV4_SEED=$SEED), botocore $(python3 -c 'import botocore; print(botocore.__version__)')"

cat >"$T/judge.py" <<'EOF'
import datetime, json, random, subprocess, sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sign_tool, seed, cases = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)

UNICODE = ["é", "ሴ", "日本", "😀", "ß", "Ω", "ü"]
WORDS = ["a", "b", "data", "stream", "Key", "x.y", "-_~", "0", "ZZ"]
ODD = list(" !$&'()*+,;=:@[]^`{}|\"<>") + ["%20", "%2F", "%41", "%2e", "%", "%zz", "%25"]
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def rand_text(maxlen, odd=True):
    parts = []
    for _ in range(rng.randint(0, maxlen)):
        r = rng.random()
        if r < 0.5:
            parts.append(rng.choice(WORDS))
        elif r < 0.75 and odd:
            parts.append(rng.choice(ODD))
        elif r < 0.9:
            parts.append(rng.choice(UNICODE))
        else:
            parts.append(rng.choice(UNRESERVED))
    return "".join(parts)


def rand_path():
    segs = []
    for _ in range(rng.randint(0, 6)):
        r = rng.random()
        if r < 0.12:
            segs.append("..")
        elif r < 0.2:
            segs.append(".")
        elif r < 0.3:
            segs.append("")
        else:
            segs.append(rand_text(3).replace("/", ""))
    path = "/" + "/".join(segs)
    if rng.random() < 0.3:
        path += "/"
    # '?' and '#' would end the path in a URL; a leading "//" would read as a host.
    path = path.replace("?", "%3F").replace("#", "%23")
    while path.startswith("//"):
        path = path[1:]
    return path


def encode_raw(s):
    """One of many ways a client may write s in a query: the signer must decode it first."""
    out = []
    for ch in s:
        must = ch in "&=%#"
        if not must and rng.random() < 0.7:
            out.append(ch)
        else:
            hexes = ["%%%02X" % b for b in ch.encode()]
            if rng.random() < 0.3:
                hexes = [h.lower() for h in hexes]
            out.append("".join(hexes))
    return "".join(out)


def rand_query():
    pairs, raw = [], []
    pool = [rand_text(2) for _ in range(3)] + ["Action", "Param", "a", "A"]
    for _ in range(rng.choice([0, 0, 1, 2, 3, 5, 8])):
        k = rng.choice(pool)
        r = rng.random()
        if r < 0.15 and k:  # "k" alone means "k="; a lone "" would be no parameter at all
            v, form = "", "noeq"
        elif r < 0.3:
            v, form = "", "eq"
        else:
            v, form = rand_text(4), "eq"
        pairs.append((k, v))
        raw.append(encode_raw(k) if form == "noeq" else encode_raw(k) + "=" + encode_raw(v))
    if raw and rng.random() < 0.1:
        raw.insert(rng.randrange(len(raw) + 1), "")  # "a&&b"
    return pairs, "&".join(raw)


def rand_value():
    r = rng.random()
    if r < 0.08:
        return ""
    words = [rand_text(2, odd=False) or "v" for _ in range(rng.randint(1, 4))]
    seps = [" ", "  ", "\t", " \t ", "   "]
    if rng.random() < 0.2:
        seps += ["\r\n ", "\n\t", "\n   "]  # folded multi-line values
    v = words[0]
    for w in words[1:]:
        v += rng.choice(seps) + w
    if rng.random() < 0.4:
        v = rng.choice([" ", "  ", "\t"]) + v
    if rng.random() < 0.4:
        v = v + rng.choice([" ", "\t ", "  "])
    return v + rng.choice(["", "", '"q, r"', ":", ",", ";=/"])


HEADER_NAMES = ["X-Custom", "x-custom", "X-CUSTOM", "Content-Type", "X-Amz-Target",
                "x-amz-meta-Thing", "Accept", "Cache-Control", "Content-Length", "My-Header1",
                "User-Agent", "X-Amzn-Trace-Id", "Expect", "Transfer-Encoding", "Connection",
                "Authorization", "ETag", "Range", "x"]


def rand_headers():
    host = rng.choice(["example.amazonaws.com", "kinesis.eu-west-1.amazonaws.com",
                       "localhost:4566", "bucket.s3.us-east-2.amazonaws.com"])
    hs = [(rng.choice(["Host", "host", "HOST"]), rng.choice(["", " ", "  "]) + host)]
    for _ in range(rng.randint(0, 7)):
        hs.append((rng.choice(HEADER_NAMES), rand_value()))
    rng.shuffle(hs)
    return host, hs


def rand_body():
    r = rng.random()
    if r < 0.35:
        return b""
    if r < 0.7:
        return json.dumps({"StreamName": rand_text(3), "Data": rand_text(20)}).encode()
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2048)))


def b64ish(n):
    alphabet = UNRESERVED + "+/"
    return "".join(rng.choice(alphabet) for _ in range(n))


def show(s):
    return "\n".join(repr(line)[1:-1] for line in s.split("\n"))


counts = {"SigV4Auth": 0, "S3SigV4Auth": 0, "token": 0, "body": 0, "dup": 0, "query": 0}
for i in range(cases):
    s3 = rng.random() < 0.25
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
    path = rand_path()
    pairs, raw_query = rand_query()
    host, headers = rand_headers()
    body = rand_body()
    region = rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"])
    service = "s3" if s3 else rng.choice(["kinesis", "dynamodb", "streams.dynamodb", "sts",
                                           "service"])
    secs = rng.randint(946684800, 2051222400)
    when = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
    ak = "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    sk = b64ish(40)
    token = b64ish(rng.randint(16, 400)) + "==" if rng.random() < 0.4 else None

    # botocore: the judge.
    url = "https://" + host + path
    req = AWSRequest(method=method, url=url, data=body, params=pairs)
    for name, value in headers:
        req.headers[name] = value  # HTTPHeaders appends: duplicates kept in order
    creds = Credentials(ak, sk, token)
    signer = (botocore.auth.S3SigV4Auth if s3 else botocore.auth.SigV4Auth)(creds, service, region)
    captured = {}
    original = signer.canonical_request

    def capture(r, original=original):
        captured["cr"] = original(r)
        return captured["cr"]

    signer.canonical_request = capture
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(req)
    want_auth = req.headers["Authorization"]
    want_date = req.headers["X-Amz-Date"]
    want_sha = req.headers.get("X-Amz-Content-SHA256")

    # sluice.
    desc = {
        "method": method, "path": path, "query": raw_query,
        "headers": [[n, v] for n, v in headers], "body_hex": body.hex(),
        "region": region, "service": service,
        "time_ms": secs * 1000 + rng.randint(0, 999),
        "access_key": ak, "secret_key": sk, "token": token,
        "normalize": not s3, "raw_path": s3, "sign_body_header": s3,
    }
    p = subprocess.run([sign_tool], input=json.dumps(desc).encode(), capture_output=True)
    if p.returncode != 0:
        print("case %d (seed %d): sigv4-sign failed: %s" % (i, seed, p.stderr.decode()))
        print(json.dumps(desc, indent=1))
        sys.exit(1)
    got = json.loads(p.stdout)
    ok = (got["authorization"] == want_auth and got["amz_date"] == want_date and
          (not s3 or got["content_sha256"] == want_sha))
    if not ok:
        print("MISMATCH at case %d (seed %d, %s)" % (i, seed, type(signer).__name__))
        print("request:", json.dumps(desc, indent=1, ensure_ascii=False))
        print("--- botocore canonical request:\n%s" % show(captured.get("cr", "?")))
        print("--- sluice canonical request:\n%s" % show(got["canonical_request"]))
        print("--- botocore Authorization: %s\n--- sluice   Authorization: %s" %
              (want_auth, got["authorization"]))
        print("--- X-Amz-Date botocore %s sluice %s; x-amz-content-sha256 botocore %s sluice %s" %
              (want_date, got["amz_date"], want_sha, got["content_sha256"]))
        sys.exit(1)
    counts[type(signer).__name__] += 1
    counts["token"] += token is not None
    counts["body"] += len(body) > 0
    counts["query"] += len(pairs) > 0
    lnames = [n.lower() for n, _ in headers]
    counts["dup"] += len(set(lnames)) < len(lnames)

print("# %d requests signed identically by botocore and sluice: %d SigV4Auth, %d S3SigV4Auth; "
      "%d with a session token, %d with a body, %d with a query, %d with duplicate headers"
      % (cases, counts["SigV4Auth"], counts["S3SigV4Auth"], counts["token"], counts["body"],
         counts["query"], counts["dup"]))
EOF

python3 "$T/judge.py" "$SIGN" "$SEED" "$CASES" || fail "sluice and botocore disagree (seed $SEED)"
say "ok"
