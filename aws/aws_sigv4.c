/*
 * aws_sigv4.c: AWS Signature Version 4 for every request sluice sends to AWS (Kinesis, DynamoDB,
 * STS, S3): builds the canonical request (method, normalised and encoded path, sorted encoded
 * query, trimmed and folded headers, payload hash), the string to sign and the HMAC-SHA256
 * signature, for the Authorization header or for a presigned query. It sits between the AWS
 * client (aws/aws_client.c), which hands it a request about to go out, and OpenSSL, and is a
 * pure function of its inputs: the time is injected, nothing is logged, and derived keys are
 * wiped as soon as the signature is made. The rules follow the AWS signing test suite and
 * botocore, which are the tests' judges.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "aws_sigv4.h"
#include "util_str.h"

#define ALGO "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_EXPIRES 604800 /* 7 days, the SigV4 limit */

/* ---- OpenSSL objects and the per-thread signing key cache -------------------------------- */

/* In OpenSSL 3 fetching by name, creating contexts and re-keying an HMAC each cost about a
 * microsecond, more than hashing a 1 KB body. So the digest and a keyless HMAC-SHA256 template
 * are fetched once per process, every thread keeps its own reusable contexts, and the signing
 * key (which only changes with the secret, the day, the region or the service) stays loaded in
 * a per-thread HMAC context between calls. The cache is looked up by a SHA-256 tag of those four
 * values, never by the secret itself. The intermediate keys (kDate, kRegion, kService) and every
 * stack copy are wiped as soon as they are used; the cached kSigning lives only inside the
 * thread's HMAC context and is wiped when the scope changes or the thread exits. */
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC_CTX *hmac_template;
static pthread_key_t tls_key;
static int tls_key_ok;

typedef struct sig_tls {
    EVP_MD_CTX *md;      /* every SHA-256 */
    EVP_MAC_CTX *derive; /* re-keyed for each step of the key derivation */
    EVP_MAC_CTX *sign;   /* keyed with the cached kSigning */
    unsigned char tag[32];
    int keyed;
} sig_tls_t;

static __thread sig_tls_t *tls;

static void tls_destroy(void *p) {
    sig_tls_t *t = p;
    if (!t)
        return;
    EVP_MD_CTX_free(t->md);
    EVP_MAC_CTX_free(t->derive); /* HMAC contexts wipe their keys when freed */
    EVP_MAC_CTX_free(t->sign);
    OPENSSL_cleanse(t, sizeof(*t));
    free(t);
    if (tls == t)
        tls = NULL;
}

static void crypto_init(void) {
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    tls_key_ok = pthread_key_create(&tls_key, tls_destroy) == 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        return;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    OSSL_PARAM prm[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (ctx && EVP_MAC_CTX_set_params(ctx, prm))
        hmac_template = ctx;
    else
        EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac); /* the context holds its own reference */
}

/* This thread's contexts, created on first use; NULL when OpenSSL or memory fails. */
static sig_tls_t *crypto_tls(void) {
    pthread_once(&crypto_once, crypto_init);
    if (tls)
        return tls;
    if (!sha256_md || !hmac_template || !tls_key_ok)
        return NULL;
    sig_tls_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->md = EVP_MD_CTX_new();
    t->derive = EVP_MAC_CTX_dup(hmac_template);
    t->sign = EVP_MAC_CTX_dup(hmac_template);
    if (!t->md || !t->derive || !t->sign || pthread_setspecific(tls_key, t) != 0) {
        tls_destroy(t);
        return NULL;
    }
    tls = t;
    return t;
}

static int sha256(sig_tls_t *t, const void *data, size_t len, unsigned char out[32]) {
    return EVP_DigestInit_ex2(t->md, sha256_md, NULL) && EVP_DigestUpdate(t->md, data, len) &&
                   EVP_DigestFinal_ex(t->md, out, NULL)
               ? 0
               : -1;
}

static int hmac(EVP_MAC_CTX *ctx, const void *key, size_t klen, const void *msg, size_t mlen,
                unsigned char out[32]) {
    size_t olen = 0;
    if (!EVP_MAC_init(ctx, key, klen, NULL) || !EVP_MAC_update(ctx, msg, mlen) ||
        !EVP_MAC_final(ctx, out, &olen, 32) || olen != 32)
        return -1;
    return 0;
}

static void hex32(const unsigned char in[32], char out[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[64] = '\0';
}

void aws_sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char md[32];
    sig_tls_t *t = crypto_tls();
    if (!t || sha256(t, data ? data : "", len, md) < 0) {
        out[0] = '\0';
        return;
    }
    hex32(md, out);
}

static int tag_part(EVP_MD_CTX *md, const char *s, size_t n) {
    uint64_t n64 = n; /* length-prefixed, so no two scopes share a tag */
    return EVP_DigestUpdate(md, &n64, sizeof(n64)) && EVP_DigestUpdate(md, s, n);
}

/* Loads t->sign with kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service),
 * "aws4_request") unless it already holds the key of this scope. */
static int load_signing_key(sig_tls_t *t, const char *secret, const char *date8,
                            const char *region, const char *service) {
    int rc = -1;
    size_t slen = strlen(secret);
    unsigned char tag[32], k1[32], k2[32], stack[128];
    unsigned char *seed = NULL;
    static const unsigned char zero[32];
    if (!EVP_DigestInit_ex2(t->md, sha256_md, NULL) || !tag_part(t->md, secret, slen) ||
        !tag_part(t->md, date8, 8) || !tag_part(t->md, region, strlen(region)) ||
        !tag_part(t->md, service, strlen(service)) || !EVP_DigestFinal_ex(t->md, tag, NULL))
        return -1;
    if (t->keyed && !memcmp(tag, t->tag, sizeof(tag)))
        return 0;
    t->keyed = 0;
    seed = slen + 4 <= sizeof(stack) ? stack : malloc(slen + 4);
    if (!seed)
        goto fail;
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret, slen);
    if (hmac(t->derive, seed, slen + 4, date8, 8, k1) < 0 ||
        hmac(t->derive, k1, 32, region, strlen(region), k2) < 0 ||
        hmac(t->derive, k2, 32, service, strlen(service), k1) < 0 ||
        hmac(t->derive, k1, 32, "aws4_request", 12, k2) < 0 ||
        !EVP_MAC_init(t->sign, k2, 32, NULL))
        goto fail;
    memcpy(t->tag, tag, sizeof(tag));
    t->keyed = 1;
    rc = 0;
fail:
    if (seed) {
        OPENSSL_cleanse(seed, slen + 4);
        if (seed != stack)
            free(seed);
    }
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    /* The derivation context keeps a copy of its last key (kService): overwrite it. */
    EVP_MAC_init(t->derive, zero, sizeof(zero), NULL);
    return rc;
}

/* The hex signature of sts with this scope's signing key. */
static int make_signature(sig_tls_t *t, const char *secret, const char *date8,
                          const char *region, const char *service, const char *sts,
                          size_t stslen, char out[65]) {
    unsigned char mac[32];
    size_t olen = 0;
    if (load_signing_key(t, secret, date8, region, service) < 0)
        return -1;
    /* A NULL key re-initialises the HMAC with the key it already holds. */
    if (!EVP_MAC_init(t->sign, NULL, 0, NULL) || !EVP_MAC_update(t->sign, (const unsigned char *)sts, stslen) ||
        !EVP_MAC_final(t->sign, mac, &olen, sizeof(mac)) || olen != sizeof(mac)) {
        t->keyed = 0;
        return -1;
    }
    hex32(mac, out);
    return 0;
}

/* ---- a growable buffer that never leaves copies of its content behind ------------------ */

/* Unlike sl_sb_t it wipes the old block when it grows and when freed, because the canonical
 * request and the presigned query carry the session token. */
typedef struct cbuf {
    char *p;
    size_t len, cap;
    int oom;
} cbuf_t;

static int cb_reserve(cbuf_t *b, size_t extra) {
    if (b->oom)
        return -1;
    if (extra >= SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = malloc(cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    if (b->p) {
        memcpy(p, b->p, b->len);
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    b->p = p;
    b->cap = cap;
    b->p[b->len] = '\0';
    return 0;
}

static void cb_put(cbuf_t *b, const void *s, size_t n) {
    if (cb_reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void cb_puts(cbuf_t *b, const char *s) {
    cb_put(b, s, strlen(s));
}

static void cb_putc(cbuf_t *b, char c) {
    cb_put(b, &c, 1);
}

static void cb_free(cbuf_t *b) {
    if (b->p) {
        OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof(*b));
}

/* Hands the content over as a heap string (NULL after a failed allocation). */
static char *cb_take(cbuf_t *b) {
    if (b->oom || cb_reserve(b, 0) < 0) {
        cb_free(b);
        return NULL;
    }
    char *p = b->p;
    memset(b, 0, sizeof(*b));
    return p;
}

static int is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

/* Appends s percent-encoded: every byte outside the AWS unreserved set (A-Z a-z 0-9 - _ . ~)
 * becomes %XX with upper-case hex. */
static void cb_encode(cbuf_t *b, const char *s, size_t n) {
    static const char digits[] = "0123456789ABCDEF";
    if (cb_reserve(b, 3 * n) < 0)
        return;
    char *o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = digits[c >> 4];
            *o++ = digits[c & 15];
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}

/* Percent-decodes s in place of the usual two steps: appends encode(decode(s)). A '%' not
 * followed by two hex digits is taken literally (and so encoded as %25). '+' stays a plus. */
static void cb_reencode(cbuf_t *b, const char *s, size_t n) {
    static const char digits[] = "0123456789ABCDEF";
    if (cb_reserve(b, 3 * n) < 0)
        return;
    char *o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && i + 2 < n && (hi = sl_hexval(s[i + 1])) >= 0 && (lo = sl_hexval(s[i + 2])) >= 0) {
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (is_unreserved(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = digits[c >> 4];
            *o++ = digits[c & 15];
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}

/* ---- canonical URI ------------------------------------------------------------------------ */

static void put_segment(cbuf_t *b, const char *s, size_t n, int raw) {
    if (raw) {
        cb_put(b, s, n);
    } else {
        cb_encode(b, s, n);
    }
}

/* The canonical path. With normalize: RFC 3986 remove_dot_segments, empty segments dropped
 * (so // collapses), the trailing slash kept when something is left, exactly as botocore's
 * normalize_url_path does. Each segment is then URI-encoded, unless raw (S3). */
static void put_path(cbuf_t *b, const char *path, int normalize, int raw) {
    size_t plen = strlen(path);
    if (plen == 0) {
        cb_putc(b, '/');
        return;
    }
    if (!normalize) {
        if (raw) {
            cb_put(b, path, plen);
            return;
        }
        for (const char *s = path, *end = path + plen; s < end;) {
            const char *slash = memchr(s, '/', (size_t)(end - s));
            size_t n = slash ? (size_t)(slash - s) : (size_t)(end - s);
            cb_encode(b, s, n);
            if (slash)
                cb_putc(b, '/');
            s += n + (slash ? 1 : 0);
        }
        return;
    }
    size_t base = b->len;
    int nseg = 0;
    for (const char *s = path, *end = path + plen; s <= end;) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        size_t n = slash ? (size_t)(slash - s) : (size_t)(end - s);
        if (n == 0 || (n == 1 && s[0] == '.')) {
            /* empty or "." segment: dropped */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (nseg > 0 && !b->oom) {
                while (b->len > base && b->p[b->len - 1] != '/')
                    b->len--;
                b->len--; /* the '/' that opened the popped segment */
                b->p[b->len] = '\0';
                nseg--;
            }
        } else {
            cb_putc(b, '/');
            put_segment(b, s, n, raw);
            nseg++;
        }
        if (!slash)
            break;
        s = slash + 1;
    }
    if (b->oom)
        return;
    if (nseg == 0) {
        cb_putc(b, '/');
        return;
    }
    if (path[0] != '/') { /* a relative path stays relative */
        memmove(b->p + base, b->p + base + 1, b->len - base - 1);
        b->len--;
        b->p[b->len] = '\0';
    }
    if (path[plen - 1] == '/')
        cb_putc(b, '/');
}

/* ---- canonical query ---------------------------------------------------------------------- */

typedef struct qparam {
    size_t koff, klen, voff, vlen; /* into the scratch buffer while it may still move */
    const char *k, *v;
} qparam_t;

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int qparam_cmp(const void *pa, const void *pb) {
    const qparam_t *a = pa, *b = pb;
    int c = bytes_cmp(a->k, a->klen, b->k, b->klen);
    return c ? c : bytes_cmp(a->v, a->vlen, b->v, b->vlen);
}

/* Adds one parameter whose key is already canonical and whose value gets encoded. */
static void add_qparam(qparam_t *q, int *nq, cbuf_t *sc, const char *k, const char *v,
                       size_t vlen) {
    qparam_t *p = &q[(*nq)++];
    p->koff = sc->len;
    p->klen = strlen(k);
    cb_put(sc, k, p->klen);
    p->voff = sc->len;
    cb_encode(sc, v, vlen);
    p->vlen = sc->len - p->voff;
}

/* ---- canonical headers -------------------------------------------------------------------- */

typedef struct hdr {
    size_t noff, nlen, voff, vlen;
    const char *n, *v;
    int idx; /* original order, so duplicate names join in the order sent */
} hdr_t;

static int hdr_cmp(const void *pa, const void *pb) {
    const hdr_t *a = pa, *b = pb;
    int c = bytes_cmp(a->n, a->nlen, b->n, b->nlen);
    return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

/* Headers never signed: the hop-by-hop ones a proxy may change (botocore's list) and any
 * Authorization left from an earlier attempt. name is lower-case. */
static int header_skipped(const char *name, size_t n) {
#define S(x) {x, sizeof(x) - 1}
    static const struct {
        const char *s;
        size_t n;
    } skip[] = {
        S("authorization"), S("connection"), S("expect"), S("keep-alive"),
        S("proxy-authenticate"), S("proxy-authorization"), S("te"), S("trailer"),
        S("transfer-encoding"), S("upgrade"), S("user-agent"), S("x-amzn-trace-id"),
    };
#undef S
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (skip[i].n == n && !memcmp(skip[i].s, name, n))
            return 1;
    return 0;
}

static int is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Appends v trimmed, every inner run of white space (including the line breaks of a folded
 * multi-line value) turned into one space. */
static void put_trimmed(cbuf_t *b, const char *v, size_t n) {
    if (cb_reserve(b, n) < 0)
        return;
    char *o = b->p + b->len, *start = o;
    int gap = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_ws(v[i])) {
            gap = o != start;
        } else {
            if (gap)
                *o++ = ' ';
            gap = 0;
            *o++ = v[i];
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
}

static void add_hdr(hdr_t *h, int *nh, cbuf_t *sc, const char *name, size_t nlen,
                    const char *val, size_t vlen) {
    hdr_t *e = &h[*nh];
    e->idx = (*nh)++;
    e->noff = sc->len;
    e->nlen = nlen;
    if (cb_reserve(sc, nlen) == 0) {
        for (size_t i = 0; i < nlen; i++) {
            char c = name[i];
            sc->p[sc->len + i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        sc->len += nlen;
        sc->p[sc->len] = '\0';
    }
    e->voff = sc->len;
    put_trimmed(sc, val, vlen);
    e->vlen = sc->len - e->voff;
}

/* ---- signing ------------------------------------------------------------------------------ */

static int name_is(const char *lname, size_t n, const char *want) {
    return strlen(want) == n && !memcmp(lname, want, n);
}

/* Record the reason, then leave through the one cleanup label of sign_any(). */
#define FAIL_NOMEM()                                                                            \
    do {                                                                                        \
        sl_errf(errstr, errlen, "sigv4: out of memory");                                        \
        err = SL_ERR_NOMEM;                                                                     \
        goto fail;                                                                              \
    } while (0)
#define FAIL_CRYPTO()                                                                           \
    do {                                                                                        \
        sl_errf(errstr, errlen, "sigv4: an OpenSSL digest or HMAC call failed");                \
        err = SL_ERR_STATE;                                                                     \
        goto fail;                                                                              \
    } while (0)

static sl_err_t sign_any(const aws_sigv4_req_t *req, const sl_aws_creds_t *creds,
                         const aws_sigv4_params_t *prm, int presign, aws_sigv4_result_t *out,
                         char *errstr, size_t errlen) {
    sl_err_t err = SL_ERR_NOMEM;
    hdr_t *hd = NULL;
    qparam_t *qp = NULL;
    cbuf_t hsc = {0}, qsc = {0}, sh = {0}, cr = {0}, sts = {0}, tmp = {0};
    char amz_date[17], date8[9], scope[256], body_hex[65], cr_hex[65], sig[65];
    unsigned char md[32];

    if (!out)
        return SL_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (!req || !creds || !prm || !req->method || !*req->method || req->nheaders < 0 ||
        (req->nheaders > 0 && !req->headers) || (req->body_len && !req->body)) {
        sl_errf(errstr, errlen, "sigv4: incomplete request (method, headers or body missing)");
        return SL_ERR_INVAL;
    }
    if (!creds->access_key || !*creds->access_key || !creds->secret_key || !*creds->secret_key) {
        sl_errf(errstr, errlen, "sigv4: credentials lack an access key or a secret key");
        return SL_ERR_INVAL;
    }
    if (!prm->region || !*prm->region || !prm->service || !*prm->service ||
        strlen(prm->region) + strlen(prm->service) > 200) {
        sl_errf(errstr, errlen, "sigv4: region and service must be set (and short)");
        return SL_ERR_INVAL;
    }
    if (prm->now_ms < 0) {
        sl_errf(errstr, errlen, "sigv4: signing time before 1970");
        return SL_ERR_INVAL;
    }
    if (presign && (prm->expires_s < 1 || prm->expires_s > MAX_EXPIRES)) {
        sl_errf(errstr, errlen, "sigv4: presign expiry %lld s out of 1..%d",
                (long long)prm->expires_s, MAX_EXPIRES);
        return SL_ERR_INVAL;
    }
    sig_tls_t *t = crypto_tls();
    if (!t) {
        sl_errf(errstr, errlen, "sigv4: cannot set up OpenSSL SHA-256/HMAC contexts");
        return SL_ERR_STATE;
    }

    time_t secs = (time_t)(prm->now_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 > 9999) {
        sl_errf(errstr, errlen, "sigv4: signing time out of range");
        return SL_ERR_INVAL;
    }
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date8, prm->region, prm->service);

    if (req->body_len) {
        if (sha256(t, req->body, req->body_len, md) < 0)
            FAIL_CRYPTO();
        hex32(md, body_hex);
    } else {
        memcpy(body_hex, EMPTY_SHA256, 65);
    }

    /* Which of the signer's own headers go into the canonical headers. */
    const char *token = creds->session_token && *creds->session_token ? creds->session_token : NULL;
    int add_token = !presign && token && !prm->omit_session_token;
    int add_sha = !presign && prm->sign_body_header;

    /* Headers: lower-case names and trimmed values in one scratch buffer, then sorted. */
    size_t hbytes = 192 + (add_token ? strlen(token) : 0);
    for (int i = 0; i < req->nheaders; i++) {
        const aws_sigv4_header_t *h = &req->headers[i];
        if (!h->name || !*h->name || !h->value || strpbrk(h->name, ":\r\n \t")) {
            sl_errf(errstr, errlen, "sigv4: header %d has no name, no value or a bad name", i);
            err = SL_ERR_INVAL;
            goto fail;
        }
        hbytes += strlen(h->name) + strlen(h->value);
    }
    hd = malloc(sizeof(*hd) * ((size_t)req->nheaders + 3));
    if (!hd || cb_reserve(&hsc, hbytes) < 0)
        FAIL_NOMEM();
    int nh = 0, have_host = 0;
    for (int i = 0; i < req->nheaders; i++) {
        const aws_sigv4_header_t *h = &req->headers[i];
        size_t nlen = strlen(h->name);
        add_hdr(hd, &nh, &hsc, h->name, nlen, h->value, strlen(h->value));
        const char *ln = hsc.p + hd[nh - 1].noff;
        int drop = header_skipped(ln, nlen) ||
                   (!presign && name_is(ln, nlen, "x-amz-date")) ||
                   (add_token && name_is(ln, nlen, "x-amz-security-token")) ||
                   (add_sha && name_is(ln, nlen, "x-amz-content-sha256"));
        if (drop) {
            hsc.len = hd[nh - 1].noff;
            nh--;
        } else if (name_is(ln, nlen, "host")) {
            have_host = 1;
        }
    }
    if (!have_host) {
        sl_errf(errstr, errlen, "sigv4: the request has no Host header");
        err = SL_ERR_INVAL;
        goto fail;
    }
    if (!presign)
        add_hdr(hd, &nh, &hsc, "x-amz-date", 10, amz_date, 16);
    if (add_token)
        add_hdr(hd, &nh, &hsc, "x-amz-security-token", 20, token, strlen(token));
    if (add_sha)
        add_hdr(hd, &nh, &hsc, "x-amz-content-sha256", 20, body_hex, 64);
    if (hsc.oom)
        FAIL_NOMEM();
    for (int i = 0; i < nh; i++) {
        hd[i].n = hsc.p + hd[i].noff;
        hd[i].v = hsc.p + hd[i].voff;
    }
    qsort(hd, (size_t)nh, sizeof(*hd), hdr_cmp);

    /* Signed headers: the distinct names, in order. */
    for (int i = 0; i < nh; i++) {
        if (i > 0 && !bytes_cmp(hd[i].n, hd[i].nlen, hd[i - 1].n, hd[i - 1].nlen))
            continue;
        if (sh.len)
            cb_putc(&sh, ';');
        cb_put(&sh, hd[i].n, hd[i].nlen);
    }
    if (sh.oom)
        FAIL_NOMEM();

    /* Query: every raw key and value decoded then encoded; presigning adds its own. */
    const char *query = req->query ? req->query : "";
    size_t qlen = strlen(query);
    int maxq = 7;
    for (size_t i = 0; i < qlen; i++)
        maxq += query[i] == '&';
    qp = malloc(sizeof(*qp) * (size_t)(maxq + 1));
    if (!qp || cb_reserve(&qsc, 3 * qlen + 3 * sh.len + 3 * (token ? strlen(token) : 0) + 512) < 0)
        FAIL_NOMEM();
    int nq = 0;
    for (const char *s = query, *end = query + qlen; s < end;) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        size_t n = amp ? (size_t)(amp - s) : (size_t)(end - s);
        if (n > 0) { /* "a&&b" has no empty parameter between the ampersands */
            const char *eq = memchr(s, '=', n);
            size_t kn = eq ? (size_t)(eq - s) : n;
            qparam_t *p = &qp[nq++];
            p->koff = qsc.len;
            cb_reencode(&qsc, s, kn);
            p->klen = qsc.len - p->koff;
            p->voff = qsc.len;
            if (eq)
                cb_reencode(&qsc, eq + 1, n - kn - 1);
            p->vlen = qsc.len - p->voff;
        }
        s += n + 1;
    }
    char expires[24];
    snprintf(expires, sizeof(expires), "%lld", (long long)prm->expires_s);
    if (presign) {
        cb_puts(&tmp, creds->access_key);
        cb_putc(&tmp, '/');
        cb_puts(&tmp, scope);
        if (tmp.oom)
            FAIL_NOMEM();
        add_qparam(qp, &nq, &qsc, "X-Amz-Algorithm", ALGO, strlen(ALGO));
        add_qparam(qp, &nq, &qsc, "X-Amz-Credential", tmp.p, tmp.len);
        add_qparam(qp, &nq, &qsc, "X-Amz-Date", amz_date, 16);
        add_qparam(qp, &nq, &qsc, "X-Amz-Expires", expires, strlen(expires));
        if (token && !prm->omit_session_token)
            add_qparam(qp, &nq, &qsc, "X-Amz-Security-Token", token, strlen(token));
        add_qparam(qp, &nq, &qsc, "X-Amz-SignedHeaders", sh.p, sh.len);
    }
    if (qsc.oom)
        FAIL_NOMEM();
    for (int i = 0; i < nq; i++) {
        qp[i].k = qsc.p + qp[i].koff;
        qp[i].v = qsc.p + qp[i].voff;
    }
    qsort(qp, (size_t)nq, sizeof(*qp), qparam_cmp);

    /* The canonical request. */
    const char *path = req->path ? req->path : "/";
    if (cb_reserve(&cr, strlen(req->method) + 3 * strlen(path) + qsc.len + 2 * (size_t)nq +
                            hsc.len + 3 * (size_t)nh + sh.len + 80) < 0)
        FAIL_NOMEM();
    cb_puts(&cr, req->method);
    cb_putc(&cr, '\n');
    put_path(&cr, path, prm->normalize_path, prm->raw_path);
    cb_putc(&cr, '\n');
    for (int i = 0; i < nq; i++) {
        if (i)
            cb_putc(&cr, '&');
        cb_put(&cr, qp[i].k, qp[i].klen);
        cb_putc(&cr, '=');
        cb_put(&cr, qp[i].v, qp[i].vlen);
    }
    cb_putc(&cr, '\n');
    for (int i = 0; i < nh; i++) {
        int same = i > 0 && !bytes_cmp(hd[i].n, hd[i].nlen, hd[i - 1].n, hd[i - 1].nlen);
        if (same) {
            cb_putc(&cr, ',');
        } else {
            if (i)
                cb_putc(&cr, '\n');
            cb_put(&cr, hd[i].n, hd[i].nlen);
            cb_putc(&cr, ':');
        }
        cb_put(&cr, hd[i].v, hd[i].vlen);
    }
    cb_puts(&cr, nh ? "\n\n" : "\n");
    cb_put(&cr, sh.p ? sh.p : "", sh.len);
    cb_putc(&cr, '\n');
    cb_put(&cr, body_hex, 64);
    if (cr.oom)
        FAIL_NOMEM();

    /* The string to sign and the signature. */
    if (sha256(t, cr.p, cr.len, md) < 0)
        FAIL_CRYPTO();
    hex32(md, cr_hex);
    cb_puts(&sts, ALGO "\n");
    cb_put(&sts, amz_date, 16);
    cb_putc(&sts, '\n');
    cb_puts(&sts, scope);
    cb_putc(&sts, '\n');
    cb_put(&sts, cr_hex, 64);
    if (sts.oom)
        FAIL_NOMEM();
    if (make_signature(t, creds->secret_key, date8, prm->region, prm->service, sts.p, sts.len,
                       sig) < 0)
        FAIL_CRYPTO();

    /* What the caller sends. */
    if (presign) {
        cbuf_t q = {0};
        if (cb_reserve(&q, qlen + qsc.len + 256) < 0)
            FAIL_NOMEM();
        cb_put(&q, query, qlen);
        if (qlen)
            cb_putc(&q, '&');
        cb_puts(&q, "X-Amz-Algorithm=" ALGO "&X-Amz-Credential=");
        cb_encode(&q, tmp.p, tmp.len);
        cb_puts(&q, "&X-Amz-Date=");
        cb_put(&q, amz_date, 16);
        cb_puts(&q, "&X-Amz-SignedHeaders=");
        cb_encode(&q, sh.p, sh.len);
        cb_puts(&q, "&X-Amz-Expires=");
        cb_puts(&q, expires);
        if (token) {
            cb_puts(&q, "&X-Amz-Security-Token=");
            cb_encode(&q, token, strlen(token));
        }
        cb_puts(&q, "&X-Amz-Signature=");
        cb_put(&q, sig, 64);
        out->query = cb_take(&q);
        if (!out->query)
            FAIL_NOMEM();
    } else {
        cbuf_t a = {0};
        cb_puts(&a, ALGO " Credential=");
        cb_puts(&a, creds->access_key);
        cb_putc(&a, '/');
        cb_puts(&a, scope);
        cb_puts(&a, ", SignedHeaders=");
        cb_put(&a, sh.p, sh.len);
        cb_puts(&a, ", Signature=");
        cb_put(&a, sig, 64);
        out->authorization = cb_take(&a);
        if (!out->authorization)
            FAIL_NOMEM();
        if (prm->sign_body_header && !(out->content_sha256 = sl_strndup(body_hex, 64)))
            FAIL_NOMEM();
    }
    out->signature = sl_strndup(sig, 64);
    out->amz_date = sl_strndup(amz_date, 16);
    out->string_to_sign = cb_take(&sts);
    out->signed_headers = cb_take(&sh);
    out->canonical_request = cb_take(&cr);
    if (!out->signature || !out->amz_date || !out->string_to_sign || !out->signed_headers ||
        !out->canonical_request)
        FAIL_NOMEM();
    err = SL_OK;

fail:
    if (err != SL_OK)
        aws_sigv4_result_free(out);
    OPENSSL_cleanse(sig, sizeof(sig));
    free(hd);
    free(qp);
    cb_free(&hsc);
    cb_free(&qsc);
    cb_free(&sh);
    cb_free(&cr);
    cb_free(&sts);
    cb_free(&tmp);
    return err;
}

sl_err_t aws_sigv4_sign(const aws_sigv4_req_t *req, const sl_aws_creds_t *creds,
                        const aws_sigv4_params_t *params, aws_sigv4_result_t *out, char *errstr,
                        size_t errlen) {
    return sign_any(req, creds, params, 0, out, errstr, errlen);
}

sl_err_t aws_sigv4_presign(const aws_sigv4_req_t *req, const sl_aws_creds_t *creds,
                           const aws_sigv4_params_t *params, aws_sigv4_result_t *out, char *errstr,
                           size_t errlen) {
    return sign_any(req, creds, params, 1, out, errstr, errlen);
}

static void free_wiped(char **s) {
    if (*s) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void aws_sigv4_result_free(aws_sigv4_result_t *out) {
    if (!out)
        return;
    free_wiped(&out->canonical_request);
    free_wiped(&out->query);
    free(out->string_to_sign);
    free(out->signature);
    free(out->authorization);
    free(out->amz_date);
    free(out->content_sha256);
    free(out->signed_headers);
    memset(out, 0, sizeof(*out));
}
