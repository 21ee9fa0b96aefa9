/*
 * kinesis_getrecords.c: GetRecords answers parsed strictly into one decoded data buffer and one
 * strings arena (kin_records_t, declared in kinesis_getrecords.h), which kinesis_shard.c then
 * de-aggregates and delivers without copying. Two parsers that must agree field for field and
 * message for message (tests/fuzz/fuzz_getrecords.c holds them equal): the jansson-based
 * reference kin_parse_get_records(), and the hot path kin_scan_get_records(), a single-pass
 * scanner over the answer's bytes that builds no JSON document. They share the base64 decoder
 * for Data and the ChildShards parser.
 */

#include "config.h"

#include <ctype.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinesis.h"
#include "kinesis_json.h"
#include "sluice/log.h"
#include "util_base64.h"
#include "util_str.h"

void kin_records_free(kin_records_t *r) {
    if (!r)
        return;
    free(r->recs);
    sl_buf_unref(r->buf);
    free(r->next_iterator);
    kin_shard_list_free(r->children, r->n_children);
    free(r->strings);
    memset(r, 0, sizeof(*r));
}

static int parse_child(const json_t *o, size_t idx, kin_shard_info_t *si, char *errstr,
                       size_t errlen) {
    char where[96];
    const json_t *parents;
    size_t np;
    memset(si, 0, sizeof(*si));
    snprintf(where, sizeof(where), "ChildShards[%zu]", idx);
    if (!json_is_object(o)) {
        sl_errf(errstr, errlen, "%s: expected an object", where);
        return -1;
    }
    if (kin_json_id(o, "ShardId", 1, &si->id, where, errstr, errlen) < 0)
        return -1;
    snprintf(where, sizeof(where), "ChildShards[%zu] (%.48s)", idx, si->id);
    parents = json_object_get(o, "ParentShards");
    if (!json_is_array(parents)) {
        sl_errf(errstr, errlen, "%s.ParentShards: %s", where,
                parents ? "expected an array" : "missing");
        return -1;
    }
    np = json_array_size(parents);
    if (np > 2) {
        sl_errf(errstr, errlen, "%s.ParentShards: %zu parents (at most 2)", where, np);
        return -1;
    }
    for (size_t i = 0; i < np; i++) {
        const json_t *p = json_array_get(parents, i);
        char **dst = i == 0 ? &si->parent : &si->adjacent_parent;
        if (!json_is_string(p) || !json_string_length(p)) {
            sl_errf(errstr, errlen, "%s.ParentShards[%zu]: expected a shard id", where, i);
            return -1;
        }
        if (!(*dst = sl_strdup(json_string_value(p)))) {
            sl_errf(errstr, errlen, "out of memory");
            return -1;
        }
    }
    return kin_json_hash_range(o, si, where, errstr, errlen);
}

static const char enc_kms[] = "KMS";

/* Whole epoch seconds to ms. A value no clock produces wraps instead of overflowing (undefined
 * behaviour); both parsers give the same answer for it. */
static int64_t int_sec_to_ms(int64_t sec) {
    return (int64_t)((uint64_t)sec * 1000u);
}

/* Per-record scratch between the two passes. */
typedef struct rec_scratch {
    const char *data;
    size_t data_len;
    size_t seq_len;
} rec_scratch_t;

sl_err_t kin_parse_get_records(const json_t *res, kin_records_t *out, char *errstr,
                               size_t errlen) {
    const json_t *recs, *v;
    rec_scratch_t *scr = NULL;
    size_t n, data_total = 0, str_total = 0, doff = 0, soff = 0;
    uint8_t *data = NULL;
    char where[48];
    sl_err_t err = SL_ERR_INVAL;

    memset(out, 0, sizeof(*out));
    out->millis_behind = -1;
    if (!json_is_object(res)) {
        sl_errf(errstr, errlen, "the answer is not a JSON object");
        return SL_ERR_INVAL;
    }
    recs = json_object_get(res, "Records");
    if (!json_is_array(recs)) {
        sl_errf(errstr, errlen, "Records: %s", recs ? "expected an array" : "missing");
        return SL_ERR_INVAL;
    }
    n = json_array_size(recs);
    if (n) {
        if (!(out->recs = malloc(n * sizeof(*out->recs))) || !(scr = malloc(n * sizeof(*scr))))
            goto oom;
    }
    /* pass 1: shapes and sizes; the record fields point into the JSON for now */
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(recs, i);
        kin_record_t *kr = &out->recs[i];
        const char *enc;
        size_t dlen, elen;
        snprintf(where, sizeof(where), "Records[%zu]", i);
        if (!json_is_object(r)) {
            sl_errf(errstr, errlen, "%s: expected an object", where);
            goto fail;
        }
        if (kin_json_str(r, "SequenceNumber", 1, &kr->seq, &scr[i].seq_len, where, errstr,
                         errlen) < 0 ||
            kin_json_str(r, "PartitionKey", 1, &kr->pk, &kr->pklen, where, errstr, errlen) < 0 ||
            kin_json_str(r, "Data", 1, &scr[i].data, &scr[i].data_len, where, errstr, errlen) < 0)
            goto fail;
        if (!kin_all_digits(kr->seq, scr[i].seq_len)) {
            sl_errf(errstr, errlen, "%s.SequenceNumber: '%.40s' is not a decimal number", where,
                    kr->seq);
            goto fail;
        }
        if ((dlen = (size_t)util_b64_decoded_len(scr[i].data, scr[i].data_len)) == (size_t)-1) {
            sl_errf(errstr, errlen, "%s.Data: not valid base64 (length %zu)", where,
                    scr[i].data_len);
            goto fail;
        }
        kr->len = dlen;
        data_total += dlen;
        v = json_object_get(r, "ApproximateArrivalTimestamp");
        if (!v || json_is_null(v)) {
            sl_errf(errstr, errlen, "%s.ApproximateArrivalTimestamp: missing", where);
            goto fail;
        }
        if (!json_is_number(v)) {
            sl_errf(errstr, errlen, "%s.ApproximateArrivalTimestamp: expected a number", where);
            goto fail;
        }
        kr->arrival_ms = json_is_integer(v) ? int_sec_to_ms((int64_t)json_integer_value(v))
                                            : (int64_t)llround(json_real_value(v) * 1000.0);
        kr->encryption = NULL;
        kr->event_name = NULL;
        switch (kin_json_str(r, "EncryptionType", 0, &enc, &elen, where, errstr, errlen)) {
        case -1:
            goto fail;
        case 1:
            /* the usual values need no storage; NONE means no header at all */
            if (!strcmp(enc, enc_kms))
                kr->encryption = enc_kms;
            else if (strcmp(enc, "NONE") != 0) {
                kr->encryption = enc;
                str_total += elen + 1;
            }
            break;
        default:
            break;
        }
        str_total += scr[i].seq_len + 1 + kr->pklen + 1;
    }
    v = json_object_get(res, "NextShardIterator");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || !json_string_length(v)) {
            sl_errf(errstr, errlen, "NextShardIterator: expected a non-empty string");
            goto fail;
        }
        if (!(out->next_iterator = sl_strdup(json_string_value(v))))
            goto oom;
    }
    v = json_object_get(res, "MillisBehindLatest");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            sl_errf(errstr, errlen, "MillisBehindLatest: expected a non-negative integer");
            goto fail;
        }
        out->millis_behind = (int64_t)json_integer_value(v);
    }
    v = json_object_get(res, "ChildShards");
    if (v && !json_is_null(v)) {
        size_t nc;
        if (!json_is_array(v)) {
            sl_errf(errstr, errlen, "ChildShards: expected an array");
            goto fail;
        }
        nc = json_array_size(v);
        if (nc) {
            if (!(out->children = calloc(nc, sizeof(*out->children))))
                goto oom;
            for (size_t i = 0; i < nc; i++) {
                out->n_children = i + 1;
                if (parse_child(json_array_get(v, i), i, &out->children[i], errstr, errlen) < 0)
                    goto fail;
            }
        }
    }
    /* pass 2: one data buffer, one strings arena */
    if (n) {
        if (!(out->buf = sl_buf_new(NULL, data_total)) || !(out->strings = malloc(str_total)))
            goto oom;
        data = sl_buf_mutable(out->buf);
    }
    for (size_t i = 0; i < n; i++) {
        kin_record_t *kr = &out->recs[i];
        if (util_b64_decode(scr[i].data, scr[i].data_len, data + doff, data_total - doff, 0) !=
            (ssize_t)kr->len) {
            sl_errf(errstr, errlen, "Records[%zu].Data: not valid base64", i);
            goto fail;
        }
        kr->off = doff;
        doff += kr->len;
        memcpy(out->strings + soff, kr->seq, scr[i].seq_len + 1);
        kr->seq = out->strings + soff;
        soff += scr[i].seq_len + 1;
        memcpy(out->strings + soff, kr->pk, kr->pklen + 1);
        kr->pk = out->strings + soff;
        soff += kr->pklen + 1;
        if (kr->encryption && kr->encryption != enc_kms) {
            size_t el = strlen(kr->encryption);
            memcpy(out->strings + soff, kr->encryption, el + 1);
            kr->encryption = out->strings + soff;
            soff += el + 1;
        }
    }
    out->n = n;
    free(scr);
    return SL_OK;
oom:
    sl_errf(errstr, errlen, "out of memory");
    err = SL_ERR_NOMEM;
fail:
    free(scr);
    /* the records' pointers may still point into the JSON: drop them before freeing */
    out->n = 0;
    kin_records_free(out);
    out->millis_behind = -1;
    return err;
}

/* ---- GetRecords: the scanner -------------------------------------------------------------- */

/* kin_scan_get_records() reads the answer's bytes without building a document: a first pass
 * checks the JSON exactly as jansson's json_loadb() would (the same grammar, UTF-8 and escape
 * rules, integer range, real overflow and nesting limit) while noting where each field of
 * interest is (the last one wins for a repeated key, as in jansson); a second pass applies
 * kin_parse_get_records()'s checks in its order, with its messages, and fills the same
 * structures from those places. Strings without escapes are used where they lie; the few with
 * escapes are decoded once into one scratch block. ChildShards, present only on a closed
 * shard's last answer, is handed to the reference parser's parse_child() through jansson. */

#ifdef JSON_PARSER_MAX_DEPTH
#define SCAN_MAX_DEPTH JSON_PARSER_MAX_DEPTH
#else
#define SCAN_MAX_DEPTH 2048
#endif

#if JSON_INTEGER_IS_LONG_LONG
#define SCAN_INT_MAX ((uint64_t)LLONG_MAX)
#else
#define SCAN_INT_MAX ((uint64_t)LONG_MAX)
#endif

enum { JV_ABSENT = 0, JV_NULL, JV_BOOL, JV_STR, JV_INT, JV_REAL, JV_ARRAY, JV_OBJECT };

/* One value as the first pass saw it. */
typedef struct jv {
    const char *p; /* JV_STR: the text after the opening quote; containers: the first byte */
    size_t len;    /* JV_STR: the decoded length; containers: the text's length */
    int64_t i;     /* JV_INT */
    double d;      /* JV_REAL */
    uint8_t kind;
    uint8_t esc;   /* JV_STR with escapes: p is raw text to decode up to its closing quote */
} jv_t;

/* A string field of a record: a jv_t without the numbers. */
typedef struct sv {
    const char *p;
    size_t len;
    uint8_t kind, esc;
} sv_t;

typedef struct scan_rec {
    sv_t seq, pk, data, enc;
    int64_t ts_ms;
    uint8_t ts_kind;
    uint8_t is_obj;
} scan_rec_t;

typedef struct scan {
    const char *p, *end, *start;
    char dp;                  /* the locale's decimal point (strtod reads it, not '.') */
    const char *err_at;       /* malformed JSON: where and why */
    const char *err_why;
    int oom;
    /* what the first pass found */
    int top_array;            /* the answer is an array, not an object */
    uint8_t records_kind;
    scan_rec_t *recs;
    size_t n, cap;
    size_t nesc;              /* decoded bytes of the escaped record strings (an upper bound) */
    jv_t next, millis, child;
} scan_t;

static int syntax(scan_t *sc, const char *at, const char *why) {
    sc->err_at = at;
    sc->err_why = why;
    return -1;
}

static void skip_ws(scan_t *sc) {
    const char *p = sc->p, *end = sc->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    sc->p = p;
}

/* Skips whitespace; fails at the end of the input, where more was expected. */
static int skip_ws_more(scan_t *sc) {
    skip_ws(sc);
    return sc->p < sc->end ? 0 : syntax(sc, sc->end, "unexpected end of input");
}

/* Bytes a string's fast loop stops at: 1 '"', 2 '\\', 3 a control character, 4 not ASCII. */
static const uint8_t str_stop[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Whether any of the 8 bytes in v is one str_stop[] names (a borrow may flag a byte next to a
 * real one, never a word without one). */
static int word_has_stop(uint64_t v) {
    uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
    return ((((v - ONES * 0x20) & ~v) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | v) & HIGHS) != 0;
}

/* The 4 hex digits at s (end bounds them), or -1. */
static int32_t hex4(const unsigned char *s, const unsigned char *end) {
    int32_t v = 0;
    if (end - s < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = sl_hexval(s[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* The length of the valid UTF-8 sequence at p (jansson's rules: no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    uint32_t v;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, v = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

/* The string at sc->p (its opening quote): checks it and fills v (JV_STR, decoded length). */
static int scan_string(scan_t *sc, jv_t *v) {
    const unsigned char *p = (const unsigned char *)sc->p + 1;
    const unsigned char *end = (const unsigned char *)sc->end, *start = p;
    size_t shrink = 0; /* raw bytes the escapes take beyond what they decode to */
    int esc = 0;
    for (;;) {
        uint64_t w;
        while (end - p >= 8) {
            memcpy(&w, p, 8);
            if (word_has_stop(w))
                break;
            p += 8;
        }
        while (p < end && !str_stop[*p])
            p++;
        if (p >= end)
            return syntax(sc, (const char *)start - 1, "unterminated string");
        switch (str_stop[*p]) {
        case 1:
            v->kind = JV_STR;
            v->p = (const char *)start;
            v->len = (size_t)(p - start) - shrink;
            v->esc = (uint8_t)esc;
            sc->p = (const char *)p + 1;
            return 0;
        case 2: {
            int32_t u, u2;
            esc = 1;
            if (end - p < 2)
                return syntax(sc, (const char *)p, "unterminated string");
            if (p[1] && strchr("\"\\/bfnrt", p[1])) {
                p += 2;
                shrink += 1;
                break;
            }
            if (p[1] != 'u' || (u = hex4(p + 2, end)) < 0)
                return syntax(sc, (const char *)p, "invalid escape");
            if (u == 0)
                return syntax(sc, (const char *)p, "\\u0000 in a string");
            if (u >= 0xdc00 && u <= 0xdfff)
                return syntax(sc, (const char *)p, "lone UTF-16 surrogate");
            if (u >= 0xd800 && u <= 0xdbff) {
                if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
                    (u2 = hex4(p + 8, end)) < 0xdc00 || u2 > 0xdfff)
                    return syntax(sc, (const char *)p, "lone UTF-16 surrogate");
                p += 12;
                shrink += 12 - 4;
                break;
            }
            p += 6;
            shrink += 6 - (u < 0x80 ? 1 : u < 0x800 ? 2 : 3);
            break;
        }
        case 3:
            return syntax(sc, (const char *)p, "control character in a string");
        default: {
            size_t n = utf8_seq(p, end);
            if (!n)
                return syntax(sc, (const char *)p, "invalid UTF-8");
            p += n;
            break;
        }
        }
    }
}

static char *utf8_put(char *out, uint32_t u) {
    if (u < 0x80) {
        *out++ = (char)u;
    } else if (u < 0x800) {
        *out++ = (char)(0xc0 | u >> 6);
        *out++ = (char)(0x80 | (u & 0x3f));
    } else if (u < 0x10000) {
        *out++ = (char)(0xe0 | u >> 12);
        *out++ = (char)(0x80 | (u >> 6 & 0x3f));
        *out++ = (char)(0x80 | (u & 0x3f));
    } else {
        *out++ = (char)(0xf0 | u >> 18);
        *out++ = (char)(0x80 | (u >> 12 & 0x3f));
        *out++ = (char)(0x80 | (u >> 6 & 0x3f));
        *out++ = (char)(0x80 | (u & 0x3f));
    }
    return out;
}

/* Decodes the string text at s, checked by scan_string(), into out up to its closing quote.
 * Returns the end of what was written. */
static char *unescape(const char *s, char *out) {
    const unsigned char *p = (const unsigned char *)s;
    for (;;) {
        unsigned char c = *p;
        if (c == '"')
            return out;
        if (c != '\\') {
            *out++ = (char)c;
            p++;
            continue;
        }
        c = p[1];
        p += 2;
        switch (c) {
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 'u': {
            uint32_t u = (uint32_t)hex4(p, p + 4);
            p += 4;
            if (u >= 0xd800 && u <= 0xdbff) {
                u = 0x10000 + ((u - 0xd800) << 10) + ((uint32_t)hex4(p + 2, p + 6) - 0xdc00);
                p += 6;
            }
            out = utf8_put(out, u);
            break;
        }
        default: *out++ = (char)c; break; /* " \ / */
        }
    }
}

/* jansson drops a NUL byte that directly follows a number or a literal (its lexer puts the
 * byte back, then reads the NUL as "nothing buffered"): so must we, to accept what it accepts. */
static void after_token(scan_t *sc) {
    if (sc->p < sc->end && *sc->p == '\0')
        sc->p++;
}

/* The value of the JSON real s[0..end) when Clinger's fast path applies: at most 15
 * significant digits (exact in a double) scaled by 10^-22..10^22 (exact too), so one IEEE
 * multiplication or division rounds it exactly as strtod() does. -1 when it does not apply. */
static int real_fast(const char *s, const char *end, double *out) {
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *q = s;
    uint64_t m = 0;
    int nd = 0, e = 0, neg = *q == '-';
    double d;
    q += neg;
    for (int frac = 0;; q++) {
        if (q < end && *q == '.' && !frac) {
            frac = 1;
            continue;
        }
        if (q >= end || *q < '0' || *q > '9')
            break;
        if ((m || *q != '0') && ++nd > 15)
            return -1;
        m = m * 10 + (uint64_t)(*q - '0');
        e -= frac;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        int sign = 1, x = 0;
        q++;
        if (*q == '+' || *q == '-')
            sign = *q++ == '-' ? -1 : 1;
        for (; q < end; q++)
            if (x < 1000)
                x = x * 10 + (*q - '0');
        e += sign * x;
    }
    if (!m) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    if (e < -22 || e > 22)
        return -1;
    d = e < 0 ? (double)m / pow10[-e] : (double)m * pow10[e];
    *out = neg ? -d : d;
    return 0;
#else
    (void)s, (void)end, (void)out;
    return -1;
#endif
}

/* The number at sc->p, as jansson reads it: JV_INT within json_int_t (beyond it jansson fails),
 * else JV_REAL with strtod()'s value (an overflow to infinity fails). */
static int scan_number(scan_t *sc, jv_t *v) {
    const char *p = sc->p, *end = sc->end, *s = p;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return syntax(sc, s, "invalid number (leading zero)");
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return syntax(sc, s, "invalid number");
    }
    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        uint64_t u = 0, lim = neg ? SCAN_INT_MAX + 1 : SCAN_INT_MAX;
        for (const char *q = s + neg; q < p; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (u > (lim - d) / 10)
                return syntax(sc, s, "integer out of range");
            u = u * 10 + d;
        }
        v->kind = JV_INT;
        v->i = neg ? (int64_t)(0 - u) : (int64_t)u;
        sc->p = p;
        after_token(sc);
        return 0;
    }
    if (*p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return syntax(sc, s, "invalid number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return syntax(sc, s, "invalid number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    /* A number never ends the input (the answer is an object), so strtod() stops at p without
     * reading past it. */
    if (p >= end)
        return syntax(sc, end, "unexpected end of input");
    if (real_fast(s, p, &v->d) < 0) {
        char small[64], *copy = small, *stop;
        size_t n = (size_t)(p - s);
        if (sc->dp == '.') {
            v->d = strtod(s, &stop);
            if (stop != p)
                return syntax(sc, s, "invalid number");
        } else {
            /* as jansson: the locale's decimal point where JSON has '.' */
            if (n >= sizeof(small) && !(copy = malloc(n + 1))) {
                sc->oom = 1;
                return -1;
            }
            memcpy(copy, s, n);
            copy[n] = '\0';
            char *dot = memchr(copy, '.', n);
            if (dot)
                *dot = sc->dp;
            v->d = strtod(copy, &stop);
            int bad = stop != copy + n;
            if (copy != small)
                free(copy);
            if (bad)
                return syntax(sc, s, "invalid number");
        }
    }
    if (isinf(v->d))
        return syntax(sc, s, "real number overflow");
    v->kind = JV_REAL;
    sc->p = p;
    after_token(sc);
    return 0;
}

/* true, false or null at sc->p. */
static int scan_literal(scan_t *sc, jv_t *v) {
    static const struct {
        const char *text;
        size_t len;
        uint8_t kind;
    } lits[] = {{"true", 4, JV_BOOL}, {"false", 5, JV_BOOL}, {"null", 4, JV_NULL}};
    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++)
        if ((size_t)(sc->end - sc->p) >= lits[i].len &&
            !memcmp(sc->p, lits[i].text, lits[i].len)) {
            v->kind = lits[i].kind;
            sc->p += lits[i].len;
            after_token(sc);
            return 0;
        }
    return syntax(sc, sc->p, "invalid token");
}

/* A string, number or literal at sc->p (not at the end). */
static int scan_scalar(scan_t *sc, jv_t *v) {
    char c = *sc->p;
    if (c == '"')
        return scan_string(sc, v);
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(sc, v);
    if (c == 't' || c == 'f' || c == 'n')
        return scan_literal(sc, v);
    return syntax(sc, sc->p, "invalid token");
}

/* An object member's key at sc->p, then the ':' and the whitespace up to the value. */
static int scan_key(scan_t *sc, jv_t *key) {
    if (*sc->p != '"')
        return syntax(sc, sc->p, "string or '}' expected");
    if (scan_string(sc, key) < 0 || skip_ws_more(sc) < 0)
        return -1;
    if (*sc->p != ':')
        return syntax(sc, sc->p, "':' expected");
    sc->p++;
    return skip_ws_more(sc);
}

/* Checks and skips the object or array at sc->p, itself at nesting depth (the answer is 1),
 * without recursion: one bit per open container says object or array. */
static int skip_container(scan_t *sc, int depth) {
    uint8_t objs[SCAN_MAX_DEPTH / 8 + 1];
    int top = 0; /* open containers */
    jv_t tmp;
    for (;;) {
        /* a value at depth + top starts at sc->p */
        if (depth + top > SCAN_MAX_DEPTH)
            return syntax(sc, sc->p, "nested too deeply");
        if (*sc->p == '{' || *sc->p == '[') {
            int obj = *sc->p == '{';
            sc->p++;
            if (skip_ws_more(sc) < 0)
                return -1;
            if (*sc->p != (obj ? '}' : ']')) {
                if (obj)
                    objs[top / 8] |= (uint8_t)(1u << (top % 8));
                else
                    objs[top / 8] &= (uint8_t)~(1u << (top % 8));
                top++;
                if (obj && scan_key(sc, &tmp) < 0)
                    return -1;
                continue;
            }
            sc->p++; /* empty */
        } else if (scan_scalar(sc, &tmp) < 0) {
            return -1;
        }
        /* after a value: close what ends here */
        for (;;) {
            int obj;
            if (!top)
                return 0;
            obj = objs[(top - 1) / 8] >> ((top - 1) % 8) & 1;
            if (skip_ws_more(sc) < 0)
                return -1;
            if (*sc->p == ',') {
                sc->p++;
                if (skip_ws_more(sc) < 0 || (obj && scan_key(sc, &tmp) < 0))
                    return -1;
                break;
            }
            if (*sc->p != (obj ? '}' : ']'))
                return syntax(sc, sc->p, obj ? "',' or '}' expected" : "',' or ']' expected");
            sc->p++;
            top--;
        }
    }
}

/* Any value at sc->p (not at the end) at nesting depth: scalars into v, containers skipped. */
static int scan_value(scan_t *sc, int depth, jv_t *v) {
    if (*sc->p == '{' || *sc->p == '[') {
        const char *s = sc->p;
        v->kind = *s == '{' ? JV_OBJECT : JV_ARRAY;
        if (skip_container(sc, depth) < 0)
            return -1;
        v->p = s;
        v->len = (size_t)(sc->p - s);
        return 0;
    }
    return scan_scalar(sc, v);
}

/* After an object member or array element: 1 when another follows (sc->p at it), 0 at the
 * closing bracket (consumed), -1 on anything else. */
static int scan_next(scan_t *sc, char close) {
    if (skip_ws_more(sc) < 0)
        return -1;
    if (*sc->p == ',') {
        sc->p++;
        return skip_ws_more(sc) < 0 ? -1 : 1;
    }
    if (*sc->p == close) {
        sc->p++;
        return 0;
    }
    return syntax(sc, sc->p, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
}

typedef struct key_name {
    const char *name;
    size_t len;
} key_name_t;

#define KEY(s) {s, sizeof(s) - 1}

/* Which known key k is: its index in names (as decoded), or -1. */
static int key_index(const jv_t *k, const key_name_t *names, int n) {
    char buf[32];
    const char *s = k->p;
    if (k->len >= sizeof(buf))
        return -1;
    if (k->esc)
        s = buf, unescape(k->p, buf);
    for (int i = 0; i < n; i++)
        if (names[i].len == k->len && !memcmp(names[i].name, s, k->len))
            return i;
    return -1;
}

static void sv_set(sv_t *dst, const jv_t *v, size_t *nesc) {
    dst->kind = v->kind;
    dst->esc = v->kind == JV_STR && v->esc;
    dst->p = v->p;
    dst->len = v->kind == JV_STR ? v->len : 0;
    if (dst->esc)
        *nesc += v->len;
}

/* One element of Records (at depth 3) into r. */
static int scan_record(scan_t *sc, scan_rec_t *r) {
    static const key_name_t names[] = {KEY("SequenceNumber"), KEY("PartitionKey"), KEY("Data"),
                                       KEY("EncryptionType"), KEY("ApproximateArrivalTimestamp")};
    jv_t k, v;
    int more;
    memset(r, 0, sizeof(*r));
    if (*sc->p != '{') {
        r->is_obj = 0;
        return scan_value(sc, 3, &v);
    }
    r->is_obj = 1;
    sc->p++;
    if (skip_ws_more(sc) < 0)
        return -1;
    if (*sc->p == '}') {
        sc->p++;
        return 0;
    }
    do {
        int idx;
        if (scan_key(sc, &k) < 0 || scan_value(sc, 4, &v) < 0)
            return -1;
        switch ((idx = key_index(&k, names, 5))) {
        case 0: sv_set(&r->seq, &v, &sc->nesc); break;
        case 1: sv_set(&r->pk, &v, &sc->nesc); break;
        case 2: sv_set(&r->data, &v, &sc->nesc); break;
        case 3: sv_set(&r->enc, &v, &sc->nesc); break;
        case 4:
            r->ts_kind = v.kind;
            r->ts_ms = v.kind == JV_INT    ? int_sec_to_ms(v.i)
                       : v.kind == JV_REAL ? (int64_t)llround(v.d * 1000.0)
                                           : 0;
            break;
        default: break;
        }
    } while ((more = scan_next(sc, '}')) > 0);
    return more;
}

/* The Records array at sc->p ('['); a repeated Records replaces what an earlier one held. */
static int scan_records(scan_t *sc) {
    int more;
    sc->records_kind = JV_ARRAY;
    sc->n = 0;
    sc->nesc = 0;
    sc->p++;
    if (skip_ws_more(sc) < 0)
        return -1;
    if (*sc->p == ']') {
        sc->p++;
        return 0;
    }
    do {
        if (sc->n == sc->cap) {
            /* room for about the records the rest of the answer can hold */
            size_t cap = sc->cap ? sc->cap * 2 : 16 + (size_t)(sc->end - sc->p) / 256;
            scan_rec_t *v = realloc(sc->recs, cap * sizeof(*v));
            if (!v) {
                sc->oom = 1;
                return -1;
            }
            sc->recs = v;
            sc->cap = cap;
        }
        if (scan_record(sc, &sc->recs[sc->n++]) < 0)
            return -1;
    } while ((more = scan_next(sc, ']')) > 0);
    return more;
}

/* The first pass over the whole answer. */
static int scan_answer(scan_t *sc) {
    static const key_name_t names[] = {KEY("Records"), KEY("NextShardIterator"),
                                       KEY("MillisBehindLatest"), KEY("ChildShards")};
    jv_t k, v;
    int more;
    if (skip_ws_more(sc) < 0)
        return syntax(sc, sc->p, "'[' or '{' expected");
    if (*sc->p == '[') {
        sc->top_array = 1;
        if (skip_container(sc, 1) < 0)
            return -1;
    } else if (*sc->p != '{') {
        return syntax(sc, sc->p, "'[' or '{' expected");
    } else {
        sc->p++;
        if (skip_ws_more(sc) < 0)
            return -1;
        if (*sc->p == '}') {
            sc->p++;
        } else {
            do {
                if (scan_key(sc, &k) < 0)
                    return -1;
                switch (key_index(&k, names, 4)) {
                case 0:
                    if (*sc->p == '[') {
                        if (scan_records(sc) < 0)
                            return -1;
                    } else {
                        if (scan_value(sc, 2, &v) < 0)
                            return -1;
                        sc->records_kind = v.kind;
                    }
                    break;
                case 1:
                    if (scan_value(sc, 2, &sc->next) < 0)
                        return -1;
                    break;
                case 2:
                    if (scan_value(sc, 2, &sc->millis) < 0)
                        return -1;
                    break;
                case 3:
                    if (scan_value(sc, 2, &sc->child) < 0)
                        return -1;
                    break;
                default:
                    if (scan_value(sc, 2, &v) < 0)
                        return -1;
                    break;
                }
            } while ((more = scan_next(sc, '}')) > 0);
            if (more < 0)
                return -1;
        }
    }
    skip_ws(sc);
    if (sc->p != sc->end)
        return syntax(sc, sc->p, "end of input expected");
    return 0;
}

/* A required string field of record i: 0, or -1 with the reference parser's message. */
static int need_str(const sv_t *v, size_t i, const char *key, char *errstr, size_t errlen) {
    if (v->kind == JV_ABSENT || v->kind == JV_NULL) {
        sl_errf(errstr, errlen, "Records[%zu].%s: missing", i, key);
        return -1;
    }
    if (v->kind != JV_STR) {
        sl_errf(errstr, errlen, "Records[%zu].%s: expected a string", i, key);
        return -1;
    }
    return 0;
}

/* Decodes an escaped string field into *arena and points it there. */
static void sv_unescape(sv_t *v, char **arena) {
    if (!v->esc)
        return;
    char *dst = *arena;
    *arena = unescape(v->p, dst);
    v->p = dst;
    v->esc = 0;
}

sl_err_t kin_scan_get_records(const char *body, size_t len, kin_records_t *out, char *errstr,
                              size_t errlen) {
    scan_t sc;
    size_t n, data_total = 0, str_total = 0, doff = 0, soff = 0;
    char *unesc = NULL;
    json_t *children = NULL;
    uint8_t *data = NULL;
    sl_err_t err = SL_ERR_INVAL;
    const char *dp = localeconv()->decimal_point;

    memset(out, 0, sizeof(*out));
    out->millis_behind = -1;
    memset(&sc, 0, sizeof(sc));
    sc.p = sc.start = body ? body : "";
    sc.end = sc.p + (body ? len : 0);
    sc.dp = dp && dp[0] ? dp[0] : '.';
    if (scan_answer(&sc) < 0) {
        if (sc.oom)
            goto oom;
        sl_errf(errstr, errlen, "malformed JSON at byte %zu: %s",
                (size_t)(sc.err_at - sc.start), sc.err_why);
        goto fail;
    }
    if (sc.top_array) {
        sl_errf(errstr, errlen, "the answer is not a JSON object");
        goto fail;
    }
    if (sc.records_kind != JV_ARRAY) {
        sl_errf(errstr, errlen, "Records: %s",
                sc.records_kind == JV_ABSENT ? "missing" : "expected an array");
        goto fail;
    }
    n = sc.n;
    if (n && !(out->recs = malloc(n * sizeof(*out->recs))))
        goto oom;
    if (sc.nesc) {
        /* the rare strings with escapes, decoded once (they never grow) */
        char *a = unesc = malloc(sc.nesc);
        if (!a)
            goto oom;
        for (size_t i = 0; i < n; i++) {
            scan_rec_t *r = &sc.recs[i];
            sv_unescape(&r->seq, &a);
            sv_unescape(&r->pk, &a);
            sv_unescape(&r->data, &a);
            sv_unescape(&r->enc, &a);
        }
    }
    /* the reference's pass 1: shapes and sizes, record by record, in its order */
    for (size_t i = 0; i < n; i++) {
        scan_rec_t *r = &sc.recs[i];
        kin_record_t *kr = &out->recs[i];
        if (!r->is_obj) {
            sl_errf(errstr, errlen, "Records[%zu]: expected an object", i);
            goto fail;
        }
        if (need_str(&r->seq, i, "SequenceNumber", errstr, errlen) < 0 ||
            need_str(&r->pk, i, "PartitionKey", errstr, errlen) < 0 ||
            need_str(&r->data, i, "Data", errstr, errlen) < 0)
            goto fail;
        if (!kin_all_digits(r->seq.p, r->seq.len)) {
            sl_errf(errstr, errlen, "Records[%zu].SequenceNumber: '%.*s' is not a decimal number",
                    i, (int)(r->seq.len < 40 ? r->seq.len : 40), r->seq.p);
            goto fail;
        }
        if ((kr->len = (size_t)util_b64_decoded_len(r->data.p, r->data.len)) == (size_t)-1) {
            sl_errf(errstr, errlen, "Records[%zu].Data: not valid base64 (length %zu)", i,
                    r->data.len);
            goto fail;
        }
        data_total += kr->len;
        if (r->ts_kind == JV_ABSENT || r->ts_kind == JV_NULL) {
            sl_errf(errstr, errlen, "Records[%zu].ApproximateArrivalTimestamp: missing", i);
            goto fail;
        }
        if (r->ts_kind != JV_INT && r->ts_kind != JV_REAL) {
            sl_errf(errstr, errlen, "Records[%zu].ApproximateArrivalTimestamp: expected a number",
                    i);
            goto fail;
        }
        kr->arrival_ms = r->ts_ms;
        kr->encryption = NULL;
        kr->event_name = NULL;
        if (r->enc.kind != JV_ABSENT && r->enc.kind != JV_NULL) {
            if (r->enc.kind != JV_STR) {
                sl_errf(errstr, errlen, "Records[%zu].EncryptionType: expected a string", i);
                goto fail;
            }
            /* the usual values need no storage; NONE means no header at all */
            if (r->enc.len == 3 && !memcmp(r->enc.p, enc_kms, 3))
                kr->encryption = enc_kms;
            else if (!(r->enc.len == 4 && !memcmp(r->enc.p, "NONE", 4)))
                str_total += r->enc.len + 1;
            else
                r->enc.kind = JV_NULL;
        }
        str_total += r->seq.len + 1 + r->pk.len + 1;
    }
    if (sc.next.kind != JV_ABSENT && sc.next.kind != JV_NULL) {
        if (sc.next.kind != JV_STR || !sc.next.len) {
            sl_errf(errstr, errlen, "NextShardIterator: expected a non-empty string");
            goto fail;
        }
        if (!(out->next_iterator = malloc(sc.next.len + 1)))
            goto oom;
        if (sc.next.esc)
            unescape(sc.next.p, out->next_iterator);
        else
            memcpy(out->next_iterator, sc.next.p, sc.next.len);
        out->next_iterator[sc.next.len] = '\0';
    }
    if (sc.millis.kind != JV_ABSENT && sc.millis.kind != JV_NULL) {
        if (sc.millis.kind != JV_INT || sc.millis.i < 0) {
            sl_errf(errstr, errlen, "MillisBehindLatest: expected a non-negative integer");
            goto fail;
        }
        out->millis_behind = sc.millis.i;
    }
    if (sc.child.kind != JV_ABSENT && sc.child.kind != JV_NULL) {
        json_error_t jerr;
        size_t nc;
        if (sc.child.kind != JV_ARRAY) {
            sl_errf(errstr, errlen, "ChildShards: expected an array");
            goto fail;
        }
        /* checked above exactly as jansson checks it: only memory can fail here */
        if (!(children = json_loadb(sc.child.p, sc.child.len, 0, &jerr))) {
            sl_errf(errstr, errlen, "ChildShards: %s", jerr.text);
            goto fail;
        }
        if ((nc = json_array_size(children))) {
            if (!(out->children = calloc(nc, sizeof(*out->children))))
                goto oom;
            for (size_t i = 0; i < nc; i++) {
                out->n_children = i + 1;
                if (parse_child(json_array_get(children, i), i, &out->children[i], errstr,
                                errlen) < 0)
                    goto fail;
            }
        }
        json_decref(children);
        children = NULL;
    }
    /* pass 2: one data buffer, one strings arena */
    if (n) {
        if (!(out->buf = sl_buf_new(NULL, data_total)) || !(out->strings = malloc(str_total)))
            goto oom;
        data = sl_buf_mutable(out->buf);
    }
    for (size_t i = 0; i < n; i++) {
        scan_rec_t *r = &sc.recs[i];
        kin_record_t *kr = &out->recs[i];
        if (util_b64_decode(r->data.p, r->data.len, data + doff, data_total - doff, 0) !=
            (ssize_t)kr->len) {
            sl_errf(errstr, errlen, "Records[%zu].Data: not valid base64", i);
            goto fail;
        }
        kr->off = doff;
        doff += kr->len;
        memcpy(out->strings + soff, r->seq.p, r->seq.len);
        out->strings[soff + r->seq.len] = '\0';
        kr->seq = out->strings + soff;
        soff += r->seq.len + 1;
        memcpy(out->strings + soff, r->pk.p, r->pk.len);
        out->strings[soff + r->pk.len] = '\0';
        kr->pk = out->strings + soff;
        kr->pklen = r->pk.len;
        soff += r->pk.len + 1;
        if (r->enc.kind == JV_STR && kr->encryption != enc_kms) {
            memcpy(out->strings + soff, r->enc.p, r->enc.len);
            out->strings[soff + r->enc.len] = '\0';
            kr->encryption = out->strings + soff;
            soff += r->enc.len + 1;
        }
    }
    out->n = n;
    free(sc.recs);
    free(unesc);
    return SL_OK;
oom:
    sl_errf(errstr, errlen, "out of memory");
    err = SL_ERR_NOMEM;
fail:
    json_decref(children);
    free(sc.recs);
    free(unesc);
    out->n = 0;
    kin_records_free(out);
    out->millis_behind = -1;
    return err;
}
