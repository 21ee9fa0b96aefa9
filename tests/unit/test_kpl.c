/*
 * test_kpl.c: unit tests of the protobuf wire-format reader and writer (util/util_pb.c) and
 * of the KPL aggregation format (connectors/kinesis/kinesis_kpl.c): round trips, every
 * malformed-input path (each prefix of a valid message is read from an exactly-sized heap copy,
 * so the sanitizer builds catch any read past the end), hand-built aggregates, pass-through of
 * anything that is not a well-formed aggregate, KCL-style hash-range filtering at the range
 * edges, the aggregator's size and count limits, and aggregate -> de-aggregate round trips of
 * random records. AWS's own library judges the format in tests/0014-kpl-interop.sh.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>

#include "../../connectors/kinesis/kinesis_kpl.h"
#include "unit.h"
#include "util_pb.h"

#define MAX128 "340282366920938463463374607431768211455"

/* A heap copy of exactly len bytes, so reading one byte past it is an ASan error. */
static uint8_t *exact_copy(const void *p, size_t len) {
    uint8_t *c = malloc(len ? len : 1);
    CU_ASSERT_FATAL(c != NULL);
    if (len)
        memcpy(c, p, len);
    return c;
}

/* Reads a whole message: 0 when it ends cleanly, -1 when malformed; counts fields. */
static int read_all(const void *p, size_t len, int *nfields) {
    sl_pb_reader_t rd;
    sl_pb_field_t f;
    int r;
    *nfields = 0;
    sl_pb_reader_init(&rd, p, len);
    while ((r = sl_pb_next(&rd, &f)) > 0) {
        (*nfields)++;
        if (f.wire == SL_PB_LEN)
            CU_ASSERT(f.data >= (const uint8_t *)p && f.data + f.len <= (const uint8_t *)p + len);
    }
    return r;
}

static void test_pb_roundtrip(void) {
    static const uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX,
                                    (uint64_t)1 << 63, UINT64_MAX};
    static const uint32_t nums[] = {1, 15, 16, 2047, 2048, SL_PB_FIELD_MAX};
    sl_sb_t sb = {0};
    size_t nv = sizeof(vals) / sizeof(vals[0]), nn = sizeof(nums) / sizeof(nums[0]);

    for (size_t i = 0; i < nv; i++) {
        uint8_t buf[SL_PB_VARINT_MAX];
        size_t n = sl_pb_encode_varint(buf, vals[i]);
        CU_ASSERT_EQUAL(n, sl_pb_varint_size(vals[i]));
        const uint8_t *p = buf;
        uint64_t v = 0;
        CU_ASSERT_EQUAL(sl_pb_get_varint(&p, buf + n, &v), 0);
        CU_ASSERT_EQUAL(v, vals[i]);
        CU_ASSERT_PTR_EQUAL(p, buf + n);
    }
    CU_ASSERT_EQUAL(sl_pb_varint_size(UINT64_MAX), 10);

    for (size_t i = 0; i < nn; i++) {
        size_t before = sb.len;
        sl_pb_put_varint_field(&sb, nums[i], vals[i % nv]);
        CU_ASSERT_EQUAL(sb.len - before, sl_pb_size_varint_field(nums[i], vals[i % nv]));
        sl_pb_put_fixed64_field(&sb, nums[i], vals[(i + 3) % nv]);
        sl_pb_put_fixed32_field(&sb, nums[i], (uint32_t)vals[(i + 5) % nv]);
        before = sb.len;
        sl_pb_put_len_field(&sb, nums[i], "hello, world", i);
        CU_ASSERT_EQUAL(sb.len - before, sl_pb_size_len_field(nums[i], i));
    }
    sl_pb_put_len_field(&sb, 3, NULL, 0);
    CU_ASSERT_FALSE(sb.oom);

    sl_pb_reader_t rd;
    sl_pb_field_t f;
    sl_pb_reader_init(&rd, sb.buf, sb.len);
    for (size_t i = 0; i < nn; i++) {
        CU_ASSERT_EQUAL_FATAL(sl_pb_next(&rd, &f), 1);
        CU_ASSERT_EQUAL(f.num, nums[i]);
        CU_ASSERT_EQUAL(f.wire, SL_PB_VARINT);
        CU_ASSERT_EQUAL(f.u64, vals[i % nv]);
        CU_ASSERT_EQUAL_FATAL(sl_pb_next(&rd, &f), 1);
        CU_ASSERT_EQUAL(f.wire, SL_PB_I64);
        CU_ASSERT_EQUAL(f.u64, vals[(i + 3) % nv]);
        CU_ASSERT_EQUAL_FATAL(sl_pb_next(&rd, &f), 1);
        CU_ASSERT_EQUAL(f.wire, SL_PB_I32);
        CU_ASSERT_EQUAL(f.u64, (uint32_t)vals[(i + 5) % nv]);
        CU_ASSERT_EQUAL_FATAL(sl_pb_next(&rd, &f), 1);
        CU_ASSERT_EQUAL(f.wire, SL_PB_LEN);
        CU_ASSERT_EQUAL(f.len, i);
        CU_ASSERT(memcmp(f.data, "hello, world", i) == 0);
    }
    CU_ASSERT_EQUAL(sl_pb_next(&rd, &f), 1);
    CU_ASSERT_EQUAL(f.len, 0);
    CU_ASSERT_EQUAL(sl_pb_next(&rd, &f), 0);
    CU_ASSERT_EQUAL(sl_pb_next(&rd, &f), 0);

    /* Every prefix of the message: a clean end exactly at field boundaries, an error elsewhere,
     * never a read past the prefix. */
    size_t boundaries = 0;
    for (size_t n = 0; n <= sb.len; n++) {
        uint8_t *c = exact_copy(sb.buf, n);
        int nf, r = read_all(c, n, &nf);
        CU_ASSERT(r == 0 || r == -1);
        boundaries += r == 0;
        free(c);
    }
    CU_ASSERT_EQUAL(boundaries, 4 * nn + 2); /* the empty prefix and after each field */
    sl_sb_free(&sb);

    /* An empty or NULL buffer is a message without fields. */
    sl_pb_reader_init(&rd, NULL, 5);
    CU_ASSERT_EQUAL(sl_pb_next(&rd, &f), 0);
}

static void test_pb_malformed(void) {
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
    } bad[] = {
        {"varint key of 11 bytes", "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11},
        {"10th byte above 1", "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11},
        {"truncated varint value", "\x08\x80", 2},
        {"truncated key", "\x80", 1},
        {"field number 0", "\x00\x01", 2},
        {"field number 0, len", "\x02\x00", 2},
        {"field number above 2^29-1", "\x80\x80\x80\x80\x10\x00", 6},
        {"start group", "\x0b", 1},
        {"end group", "\x0c", 1},
        {"wire type 6", "\x0e\x00", 2},
        {"wire type 7", "\x0f\x00", 2},
        {"len past the end", "\x0a\x05" "abcd", 6},
        {"huge len", "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10},
        {"fixed64 short", "\x09\x01\x02\x03\x04\x05\x06\x07", 8},
        {"fixed32 short", "\x0d\x01\x02\x03", 4},
        {"good then bad", "\x08\x01\x0a\x03" "ab", 6},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *c = exact_copy(bad[i].bytes, bad[i].len);
        int nf;
        if (read_all(c, bad[i].len, &nf) != -1)
            fprintf(stderr, "\n  accepted: %s\n", bad[i].name);
        CU_ASSERT_EQUAL(read_all(c, bad[i].len, &nf), -1);
        free(c);
    }
    /* The largest varint and field number are fine; the reader stays put after an error. */
    int nf;
    CU_ASSERT_EQUAL(read_all("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, &nf), 0);
    CU_ASSERT_EQUAL(read_all("\xf8\xff\xff\xff\x0f\x00", 6, &nf), 0);
    sl_pb_reader_t rd;
    sl_pb_field_t f;
    sl_pb_reader_init(&rd, "\x08\x01\x0a\x03" "ab", 6);
    CU_ASSERT_EQUAL(sl_pb_next(&rd, &f), 1);
    const uint8_t *at = rd.p;
    CU_ASSERT_EQUAL(sl_pb_next(&rd, &f), -1);
    CU_ASSERT_PTR_EQUAL(rd.p, at);
}

/* ---- hash keys ---------------------------------------------------------------------------- */

static void test_hash(void) {
    kpl_hash_t h, g;
    char s[KPL_HASH_STR_MAX];

    CU_ASSERT_EQUAL(kpl_hash_parse("0", 1, &h), 0);
    CU_ASSERT(h.hi == 0 && h.lo == 0);
    kpl_hash_format(&h, s);
    CU_ASSERT_STRING_EQUAL(s, "0");
    CU_ASSERT_EQUAL(kpl_hash_parse(MAX128, strlen(MAX128), &h), 0);
    CU_ASSERT(h.hi == UINT64_MAX && h.lo == UINT64_MAX);
    kpl_hash_format(&h, s);
    CU_ASSERT_STRING_EQUAL(s, MAX128);
    CU_ASSERT_EQUAL(kpl_hash_parse("340282366920938463463374607431768211456", 39, &h), 1);
    CU_ASSERT_EQUAL(kpl_hash_parse("99999999999999999999999999999999999999999999", 44, &h), 1);
    CU_ASSERT_EQUAL(kpl_hash_parse("18446744073709551616", 20, &h), 0); /* 2^64 */
    CU_ASSERT(h.hi == 1 && h.lo == 0);
    CU_ASSERT_EQUAL(kpl_hash_parse("18446744073709551615", 20, &h), 0);
    CU_ASSERT(h.hi == 0 && h.lo == UINT64_MAX);
    CU_ASSERT_EQUAL(kpl_hash_parse("+0042", 5, &h), 0);
    CU_ASSERT(h.hi == 0 && h.lo == 42);
    CU_ASSERT_EQUAL(kpl_hash_parse("-1", 2, &h), -2);
    CU_ASSERT_EQUAL(kpl_hash_parse("-0", 2, &h), 0);
    CU_ASSERT_EQUAL(kpl_hash_parse("", 0, &h), -1);
    CU_ASSERT_EQUAL(kpl_hash_parse("+", 1, &h), -1);
    CU_ASSERT_EQUAL(kpl_hash_parse("12a", 3, &h), -1);
    CU_ASSERT_EQUAL(kpl_hash_parse(" 1", 2, &h), -1);
    CU_ASSERT_EQUAL(kpl_hash_parse("999999999999999999999999999999999999999999x", 43, &h), -1);

    /* Random values survive format -> parse; the order matches the numbers'. */
    srand(7);
    for (int i = 0; i < 2000; i++) {
        h.hi = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
        h.lo = ((uint64_t)rand() << 35) ^ ((uint64_t)rand() << 3) ^ (uint64_t)rand();
        if (i % 3 == 0)
            h.hi = 0;
        kpl_hash_format(&h, s);
        CU_ASSERT_EQUAL(kpl_hash_parse(s, strlen(s), &g), 0);
        CU_ASSERT_EQUAL(kpl_hash_cmp(&h, &g), 0);
        g.lo ^= 1;
        CU_ASSERT_EQUAL(kpl_hash_cmp(&h, &g), (h.lo & 1) ? 1 : -1);
    }

    /* MD5 of the partition key as a big-endian integer (values from Python's hashlib). */
    CU_ASSERT_EQUAL(kpl_hash_of_pk("a", 1, &h), 0);
    kpl_hash_format(&h, s);
    CU_ASSERT_STRING_EQUAL(s, "16955237001963240173058271559858726497");
    CU_ASSERT_EQUAL(kpl_hash_of_pk("partition-1", 11, &h), 0);
    kpl_hash_format(&h, s);
    CU_ASSERT_STRING_EQUAL(s, "198019941650871988756153596255032211816");

    kpl_range_t r;
    CU_ASSERT_EQUAL(kpl_range_parse("0", MAX128, &r), SL_OK);
    CU_ASSERT_EQUAL(kpl_range_parse("5", "4", &r), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(kpl_range_parse("0", "340282366920938463463374607431768211456", &r),
                    SL_ERR_INVAL);
    CU_ASSERT_EQUAL(kpl_range_parse("-1", "4", &r), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(kpl_range_parse("x", "4", &r), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(kpl_range_parse(NULL, "4", &r), SL_ERR_INVAL);
}

/* ---- hand-built aggregates ---------------------------------------------------------------- */

/* magic + body + MD5(body) into a fresh sl_sb_t. */
static void wrap(sl_sb_t *out, const sl_sb_t *body) {
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    sl_sb_reset(out);
    sl_sb_append(out, kpl_magic, 4);
    sl_sb_append(out, body->buf, body->len);
    CU_ASSERT_FATAL(EVP_Digest(body->buf, body->len, d, &n, EVP_md5(), NULL) == 1);
    sl_sb_append(out, d, 16);
}

/* A Record: pk index, optional ehk index (-1: none), data, and optionally tags. */
static void put_rec(sl_sb_t *body, long pki, long ehki, const char *data, int tags) {
    sl_sb_t r = {0};
    if (pki >= 0)
        sl_pb_put_varint_field(&r, 1, (uint64_t)pki);
    if (ehki >= 0)
        sl_pb_put_varint_field(&r, 2, (uint64_t)ehki);
    if (data)
        sl_pb_put_len_field(&r, 3, data, strlen(data));
    if (tags == 1) { /* a full tag, a key-only tag and an unknown field */
        sl_sb_t t = {0};
        sl_pb_put_len_field(&t, 1, "k", 1);
        sl_pb_put_len_field(&t, 2, "v", 1);
        sl_pb_put_len_field(&r, 4, t.buf, t.len);
        sl_sb_reset(&t);
        sl_pb_put_len_field(&t, 1, "k2", 2);
        sl_pb_put_len_field(&r, 4, t.buf, t.len);
        sl_pb_put_fixed64_field(&r, 9, 42);
        sl_sb_free(&t);
    } else if (tags == 2) { /* a tag without its required key */
        sl_sb_t t = {0};
        sl_pb_put_len_field(&t, 2, "v", 1);
        sl_pb_put_len_field(&r, 4, t.buf, t.len);
        sl_sb_free(&t);
    }
    sl_pb_put_len_field(body, 3, r.buf ? r.buf : "", r.len);
    sl_sb_free(&r);
}

typedef struct got {
    int n;
    char data[8][64], pk[8][64], ehk[8][64];
    int has_ehk[8];
    uint64_t subseq[8];
    int aggregated;
} got_t;

static void collect(kpl_deagg_t *da, got_t *g) {
    kpl_subrec_t s;
    memset(g, 0, sizeof(*g));
    g->aggregated = kpl_deagg_aggregated(da);
    while (g->n < 8 && kpl_deagg_next(da, &s)) {
        snprintf(g->data[g->n], 64, "%.*s", (int)s.data_len, (const char *)s.data);
        snprintf(g->pk[g->n], 64, "%.*s", (int)s.pk_len, s.pk);
        if (s.ehk)
            snprintf(g->ehk[g->n], 64, "%.*s", (int)s.ehk_len, s.ehk);
        g->has_ehk[g->n] = s.ehk != NULL;
        g->subseq[g->n] = s.subseq;
        CU_ASSERT_EQUAL(s.aggregated, g->aggregated);
        g->n++;
    }
    CU_ASSERT_EQUAL((uint64_t)g->n, kpl_deagg_count(da));
    CU_ASSERT_FALSE(kpl_deagg_next(da, &s));
}

/* Loads rec from an exactly-sized copy and collects what it yields. */
static void deagg(kpl_deagg_t *da, const sl_sb_t *rec, const kpl_range_t *range, got_t *g) {
    uint8_t *c = exact_copy(rec->buf, rec->len);
    CU_ASSERT_EQUAL(kpl_deagg_load(da, c, rec->len, "outer", NULL, range), SL_OK);
    collect(da, g);
    free(c);
}

static void test_decode(void) {
    kpl_deagg_t *da = kpl_deagg_new();
    sl_sb_t body = {0}, rec = {0};
    got_t g;
    CU_ASSERT_FATAL(da != NULL);

    /* Records before the tables, tags, unknown fields of every wire type, an empty data. */
    put_rec(&body, 1, -1, "first", 1);
    sl_pb_put_varint_field(&body, 7, 99);
    put_rec(&body, 0, 0, "second", 0);
    sl_pb_put_len_field(&body, 1, "pk-a", 4);
    sl_pb_put_fixed32_field(&body, 8, 5);
    sl_pb_put_len_field(&body, 1, "pk-b", 4);
    sl_pb_put_len_field(&body, 2, "12345", 5);
    put_rec(&body, 1, 0, "", 0);
    sl_pb_put_varint_field(&body, 1, 3); /* a table number with the wrong wire type: unknown */
    wrap(&rec, &body);
    deagg(da, &rec, NULL, &g);
    CU_ASSERT_TRUE(g.aggregated);
    CU_ASSERT_STRING_EQUAL(kpl_deagg_reason(da), "");
    CU_ASSERT_EQUAL_FATAL(g.n, 3);
    CU_ASSERT_STRING_EQUAL(g.data[0], "first");
    CU_ASSERT_STRING_EQUAL(g.pk[0], "pk-b");
    CU_ASSERT_FALSE(g.has_ehk[0]);
    CU_ASSERT_STRING_EQUAL(g.data[1], "second");
    CU_ASSERT_STRING_EQUAL(g.pk[1], "pk-a");
    CU_ASSERT_STRING_EQUAL(g.ehk[1], "12345");
    CU_ASSERT_STRING_EQUAL(g.data[2], "");
    CU_ASSERT_STRING_EQUAL(g.ehk[2], "12345");
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(g.subseq[i], (uint64_t)i);

    /* Every truncation of the protobuf, re-sealed with a fresh MD5, and every truncation of
     * the sealed record: either a well-formed aggregate or a plain record, nothing read past
     * the end (exact heap copies). */
    sl_sb_t part = {0}, cut = {0};
    int plain = 0, agg = 0;
    for (size_t n = 0; n < body.len; n++) {
        sl_sb_reset(&part);
        sl_sb_append(&part, body.buf, n);
        wrap(&cut, &part);
        deagg(da, &cut, NULL, &g);
        plain += !g.aggregated;
        agg += g.aggregated;
        if (!g.aggregated) {
            CU_ASSERT_EQUAL(g.n, 1);
            CU_ASSERT_STRING_EQUAL(g.pk[0], "outer");
        }
    }
    CU_ASSERT(plain > 0 && agg > 0);
    for (size_t n = 0; n < rec.len; n++) {
        sl_sb_reset(&cut);
        sl_sb_append(&cut, rec.buf, n);
        deagg(da, &cut, NULL, &g);
        CU_ASSERT_FALSE(g.aggregated);
        CU_ASSERT_EQUAL(g.n, 1);
    }

    /* An aggregate without records yields nothing (as the KCL). */
    sl_sb_reset(&body);
    sl_pb_put_len_field(&body, 1, "pk", 2);
    wrap(&rec, &body);
    deagg(da, &rec, NULL, &g);
    CU_ASSERT_TRUE(g.aggregated);
    CU_ASSERT_EQUAL(g.n, 0);

    sl_sb_free(&part);
    sl_sb_free(&cut);
    sl_sb_free(&body);
    sl_sb_free(&rec);
    kpl_deagg_destroy(da);
}

static void test_passthrough(void) {
    kpl_deagg_t *da = kpl_deagg_new();
    sl_sb_t body = {0}, rec = {0};
    got_t g;
    static const struct {
        const char *name;
        long pki, ehki;
        const char *data;
        int tags;
    } bad[] = {
        {"pk index out of range", 2, -1, "x", 0},
        {"ehk index out of range", 0, 1, "x", 0},
        {"no pk index", -1, -1, "x", 0},
        {"no data", 0, -1, NULL, 0},
        {"tag without key", 0, -1, "x", 2},
    };
    CU_ASSERT_FATAL(da != NULL);

    /* Plain bytes, and the magic alone or with exactly a digest after it. */
    sl_sb_puts(&rec, "just some data");
    deagg(da, &rec, NULL, &g);
    CU_ASSERT_FALSE(g.aggregated);
    CU_ASSERT_EQUAL_FATAL(g.n, 1);
    CU_ASSERT_STRING_EQUAL(g.data[0], "just some data");
    CU_ASSERT_STRING_EQUAL(g.pk[0], "outer");
    CU_ASSERT_EQUAL(g.subseq[0], 0);
    CU_ASSERT_STRING_EQUAL(kpl_deagg_reason(da), "no KPL magic");
    sl_sb_reset(&rec);
    deagg(da, &rec, NULL, &g);
    CU_ASSERT_FALSE(g.aggregated);
    CU_ASSERT_EQUAL(g.n, 1);
    sl_sb_reset(&body);
    wrap(&rec, &body); /* magic + MD5 of nothing: 20 bytes, too short */
    CU_ASSERT_EQUAL(rec.len, 20);
    deagg(da, &rec, NULL, &g);
    CU_ASSERT_FALSE(g.aggregated);
    CU_ASSERT_STRING_EQUAL(kpl_deagg_reason(da), "too short for a KPL aggregate");

    /* Bad MD5. */
    sl_pb_put_len_field(&body, 1, "pk", 2);
    put_rec(&body, 0, -1, "x", 0);
    wrap(&rec, &body);
    rec.buf[rec.len - 1] ^= 1;
    deagg(da, &rec, NULL, &g);
    CU_ASSERT_FALSE(g.aggregated);
    CU_ASSERT_STRING_EQUAL(kpl_deagg_reason(da), "KPL aggregate MD5 mismatch");
    /* The outer explicit hash key comes back for a plain record. */
    CU_ASSERT_EQUAL(kpl_deagg_load(da, rec.buf, rec.len, "o", "77", NULL), SL_OK);
    collect(da, &g);
    CU_ASSERT_STRING_EQUAL(g.ehk[0], "77");

    /* Bad sub-records: the whole record passes through, even though a good one precedes. */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_sb_reset(&body);
        sl_pb_put_len_field(&body, 1, "pk0", 3);
        sl_pb_put_len_field(&body, 1, "pk1", 3);
        sl_pb_put_len_field(&body, 2, "5", 1);
        put_rec(&body, 0, 0, "good", 0);
        put_rec(&body, bad[i].pki, bad[i].ehki, bad[i].data, bad[i].tags);
        wrap(&rec, &body);
        deagg(da, &rec, NULL, &g);
        if (g.aggregated)
            fprintf(stderr, "\n  not passed through: %s\n", bad[i].name);
        CU_ASSERT_FALSE(g.aggregated);
        CU_ASSERT_EQUAL(g.n, 1);
        CU_ASSERT_EQUAL(g.data[0][0], (char)0xF3);
        CU_ASSERT_STRING_NOT_EQUAL(kpl_deagg_reason(da), "");
    }
    /* A malformed AggregatedRecord (truncated length) with a valid MD5. */
    sl_sb_reset(&body);
    sl_sb_append(&body, "\x0a\x09pk", 4);
    wrap(&rec, &body);
    deagg(da, &rec, NULL, &g);
    CU_ASSERT_FALSE(g.aggregated);
    CU_ASSERT_STRING_EQUAL(kpl_deagg_reason(da), "malformed AggregatedRecord");

    sl_sb_free(&body);
    sl_sb_free(&rec);
    kpl_deagg_destroy(da);
}

/* ---- hash-range filtering ----------------------------------------------------------------- */

/* An aggregate of records with the given explicit hash keys (NULL: use pk "a"). */
static void build_ehk(sl_sb_t *rec, const char *const *ehks, int n) {
    sl_sb_t body = {0};
    sl_pb_put_len_field(&body, 1, "a", 1);
    for (int i = 0; i < n; i++)
        if (ehks[i])
            sl_pb_put_len_field(&body, 2, ehks[i], strlen(ehks[i]));
    for (int i = 0, e = 0; i < n; i++)
        put_rec(&body, 0, ehks[i] ? e++ : -1, "d", 0);
    wrap(rec, &body);
    sl_sb_free(&body);
}

/* 1 kept (all records yielded), 0 dropped, -1 passed through. */
static int filter(kpl_deagg_t *da, const char *start, const char *end, const char *const *ehks,
                  int n) {
    sl_sb_t rec = {0};
    kpl_range_t r;
    got_t g;
    CU_ASSERT_FATAL(kpl_range_parse(start, end, &r) == SL_OK);
    build_ehk(&rec, ehks, n);
    deagg(da, &rec, &r, &g);
    sl_sb_free(&rec);
    if (!g.aggregated)
        return -1;
    if (kpl_deagg_dropped(da)) {
        CU_ASSERT_EQUAL(g.n, 0);
        return 0;
    }
    CU_ASSERT_EQUAL(g.n, n);
    return 1;
}

static void test_range(void) {
    kpl_deagg_t *da = kpl_deagg_new();
    CU_ASSERT_FATAL(da != NULL);
    const char *edges[] = {"0", MAX128};
    const char *mid[] = {"1000", "2000"};
    const char *lo_out[] = {"999", "1500"};
    const char *hi_out[] = {"1500", "2001"};
    const char *one_out[] = {"1000", "1500", "2001", "2000"};
    const char *big[] = {"340282366920938463463374607431768211456"};
    const char *neg[] = {"-1"};
    const char *nan[] = {"1000", "12x"};
    const char *md5a[] = {NULL}; /* "a" hashes to 16955237001963240173058271559858726497 */

    CU_ASSERT_EQUAL(filter(da, "0", MAX128, edges, 2), 1);
    CU_ASSERT_EQUAL(filter(da, "0", "340282366920938463463374607431768211454", edges, 2), 0);
    CU_ASSERT_EQUAL(filter(da, "1", MAX128, edges, 2), 0);
    CU_ASSERT_EQUAL(filter(da, "1000", "2000", mid, 2), 1); /* both ends inclusive */
    CU_ASSERT_EQUAL(filter(da, "1000", "1999", mid, 2), 0);
    CU_ASSERT_EQUAL(filter(da, "1001", "2000", mid, 2), 0);
    CU_ASSERT_EQUAL(filter(da, "1000", "2000", lo_out, 2), 0);
    CU_ASSERT_EQUAL(filter(da, "1000", "2000", hi_out, 2), 0);
    CU_ASSERT_EQUAL(filter(da, "1000", "2000", one_out, 4), 0); /* one stranger drops all */
    CU_ASSERT_EQUAL(filter(da, "0", MAX128, big, 1), 0);
    CU_ASSERT_EQUAL(filter(da, "0", MAX128, neg, 1), 0);
    CU_ASSERT_EQUAL(filter(da, "0", MAX128, nan, 2), -1);
    CU_ASSERT_EQUAL(filter(da, "16955237001963240173058271559858726497",
                           "16955237001963240173058271559858726497", md5a, 1), 1);
    CU_ASSERT_EQUAL(filter(da, "16955237001963240173058271559858726498", MAX128, md5a, 1), 0);
    CU_ASSERT_EQUAL(filter(da, "0", "16955237001963240173058271559858726496", md5a, 1), 0);

    /* A plain record is never filtered. */
    kpl_range_t r;
    got_t g;
    sl_sb_t rec = {0};
    sl_sb_puts(&rec, "plain");
    CU_ASSERT_EQUAL(kpl_range_parse("0", "0", &r), SL_OK);
    deagg(da, &rec, &r, &g);
    CU_ASSERT_EQUAL(g.n, 1);
    sl_sb_free(&rec);
    kpl_deagg_destroy(da);
}

/* ---- the aggregator ----------------------------------------------------------------------- */

static void test_agg_limits(void) {
    char err[128];
    kpl_agg_out_t out;
    kpl_agg_t *agg = kpl_agg_new(0, 3, 0);
    CU_ASSERT_FATAL(agg != NULL);

    CU_ASSERT_EQUAL(kpl_agg_flush(agg, &out), SL_ERR_STATE);
    CU_ASSERT_EQUAL(kpl_agg_size(agg), 0);
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "", NULL, "x", 1, err, sizeof(err)), SL_ERR_INVAL);
    char longpk[300];
    memset(longpk, 'k', sizeof(longpk));
    longpk[257] = '\0';
    CU_ASSERT_EQUAL(kpl_agg_add(agg, longpk, NULL, "x", 1, err, sizeof(err)), SL_ERR_INVAL);
    longpk[256] = '\0';
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "p", "12z", "x", 1, err, sizeof(err)), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "p", "340282366920938463463374607431768211456", "x", 1,
                                err, sizeof(err)),
                    SL_ERR_INVAL);

    /* Counts: three fit, the fourth asks for a flush. The size estimate is exact. */
    for (int i = 0; i < 3; i++) {
        size_t want = kpl_agg_size_with(agg, i ? "same" : longpk, i == 2 ? "0042" : NULL, 5);
        CU_ASSERT_EQUAL(kpl_agg_add(agg, i ? "same" : longpk, i == 2 ? "0042" : NULL,
                                    "hello", 5, err, sizeof(err)),
                        SL_OK);
        CU_ASSERT_EQUAL(kpl_agg_size(agg), want);
    }
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "same", NULL, "x", 1, err, sizeof(err)), SL_ERR_STATE);
    size_t size = kpl_agg_size(agg);
    CU_ASSERT_EQUAL(kpl_agg_flush(agg, &out), SL_OK);
    CU_ASSERT_EQUAL(out.len + strlen(out.pk), size);
    CU_ASSERT_STRING_EQUAL(out.pk, longpk);
    char want_ehk[KPL_HASH_STR_MAX];
    kpl_hash_t h;
    kpl_hash_of_pk(longpk, 256, &h);
    kpl_hash_format(&h, want_ehk);
    CU_ASSERT_STRING_EQUAL(out.ehk, want_ehk);
    CU_ASSERT_EQUAL(out.count, 3);
    CU_ASSERT_EQUAL(kpl_agg_count(agg), 0);
    /* Tables deduplicated: two partition keys, one explicit hash key. */
    sl_pb_reader_t rd;
    sl_pb_field_t f;
    int n1 = 0, n2 = 0, n3 = 0;
    sl_pb_reader_init(&rd, out.data + 4, out.len - 20);
    while (sl_pb_next(&rd, &f) > 0) {
        n1 += f.num == 1;
        n2 += f.num == 2;
        n3 += f.num == 3;
    }
    CU_ASSERT(n1 == 2 && n2 == 1 && n3 == 3);
    kpl_agg_out_free(&out);
    kpl_agg_out_free(&out); /* zeroed: harmless */
    kpl_agg_out_free(NULL);
    kpl_agg_destroy(agg);

    /* Bytes: fill a 1000-byte aggregate; never above the limit, the outer ehk normalised. */
    agg = kpl_agg_new(1000, 0, 0);
    CU_ASSERT_FATAL(agg != NULL);
    char data[900];
    memset(data, 'd', sizeof(data));
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "p", NULL, data, 980, err, sizeof(err)), SL_ERR_INVAL);
    int added = 0;
    sl_err_t e;
    while ((e = kpl_agg_add(agg, "p", "000123", data, 37, err, sizeof(err))) == SL_OK)
        added++;
    CU_ASSERT_EQUAL(e, SL_ERR_STATE);
    CU_ASSERT(added > 10);
    CU_ASSERT(kpl_agg_size(agg) <= 1000);
    CU_ASSERT(kpl_agg_size_with(agg, "p", "000123", 37) > 1000);
    CU_ASSERT_EQUAL(kpl_agg_flush(agg, &out), SL_OK);
    CU_ASSERT(out.len + strlen(out.pk) <= 1000);
    CU_ASSERT_STRING_EQUAL(out.ehk, "123");
    kpl_agg_out_free(&out);
    kpl_agg_destroy(agg);

    /* The full 1 MiB limit: a record of nearly 1 MiB fits alone, a second one does not. */
    agg = kpl_agg_new(0, 0, 1);
    char *big = calloc(1, KPL_MAX_RECORD_BYTES);
    CU_ASSERT_FATAL(agg != NULL && big != NULL);
    /* magic 4, MD5 16, outer pk 1, table entry 1+1+1, Record key 1 + length 3, index 1+1,
     * data key 1 + length 3 */
    size_t fit = KPL_MAX_RECORD_BYTES - 4 - 16 - 1 - 3 - 4 - 2 - 4;
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "p", NULL, big, fit + 1, err, sizeof(err)), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "p", NULL, big, fit, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(kpl_agg_size(agg), KPL_MAX_RECORD_BYTES);
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "p", NULL, "", 0, err, sizeof(err)), SL_ERR_STATE);
    /* raw_single: a lone record goes out as itself. */
    CU_ASSERT_EQUAL(kpl_agg_flush(agg, &out), SL_OK);
    CU_ASSERT_FALSE(out.aggregated);
    CU_ASSERT_EQUAL(out.len, fit);
    CU_ASSERT_STRING_EQUAL(out.pk, "p");
    kpl_agg_out_free(&out);
    free(big);
    kpl_agg_destroy(agg);
    kpl_agg_destroy(NULL);
    kpl_deagg_destroy(NULL);
}

static void test_roundtrip(void) {
    enum { N = 3000 };
    static const char *const pool[] = {"alpha", "beta", "gamma", "δέλτα", "k"};
    char (*pks)[48] = calloc(N, 48);
    char (*ehks)[KPL_HASH_STR_MAX] = calloc(N, KPL_HASH_STR_MAX);
    uint8_t **datas = calloc(N, sizeof(*datas));
    size_t *lens = calloc(N, sizeof(*lens));
    kpl_agg_t *agg = kpl_agg_new(64 * 1024, 100, 0);
    kpl_deagg_t *da = kpl_deagg_new();
    char err[128];
    int next = 0, aggs = 0;
    CU_ASSERT_FATAL(pks && ehks && datas && lens && agg && da);

    srand(12345);
    for (int i = 0; i < N; i++) {
        if (rand() % 2)
            snprintf(pks[i], 48, "%s", pool[rand() % 5]);
        else
            snprintf(pks[i], 48, "pk-%d-%d", i, rand());
        if (rand() % 3 == 0) {
            kpl_hash_t h = {((uint64_t)rand() << 40) ^ (uint64_t)rand(),
                               ((uint64_t)rand() << 32) ^ (uint64_t)rand()};
            kpl_hash_format(&h, ehks[i]);
        }
        int r = rand() % 10;
        lens[i] = r == 0 ? 0 : r == 1 ? (size_t)(rand() % 20000) : (size_t)(rand() % 300);
        datas[i] = malloc(lens[i] + 1);
        for (size_t k = 0; k < lens[i]; k++)
            datas[i][k] = (uint8_t)rand();
    }

    for (int i = 0; i <= N; i++) {
        sl_err_t e = SL_ERR_STATE;
        if (i < N)
            e = kpl_agg_add(agg, pks[i], ehks[i][0] ? ehks[i] : NULL, datas[i], lens[i], err,
                            sizeof(err));
        if (e == SL_OK)
            continue;
        CU_ASSERT_EQUAL_FATAL(e, SL_ERR_STATE);
        kpl_agg_out_t out;
        CU_ASSERT_EQUAL_FATAL(kpl_agg_flush(agg, &out), SL_OK);
        CU_ASSERT(out.len + strlen(out.pk) <= 64 * 1024);
        CU_ASSERT(out.count <= 100);
        aggs++;
        CU_ASSERT_EQUAL(kpl_deagg_load(da, out.data, out.len, out.pk, out.ehk, NULL), SL_OK);
        CU_ASSERT_TRUE(kpl_deagg_aggregated(da));
        CU_ASSERT_EQUAL(kpl_deagg_count(da), out.count);
        kpl_subrec_t s;
        uint64_t sub = 0;
        while (kpl_deagg_next(da, &s)) {
            CU_ASSERT_FATAL(next < N);
            CU_ASSERT_EQUAL(s.subseq, sub++);
            CU_ASSERT_EQUAL(s.data_len, lens[next]);
            CU_ASSERT(s.data_len == 0 || memcmp(s.data, datas[next], s.data_len) == 0);
            CU_ASSERT(s.pk_len == strlen(pks[next]) && memcmp(s.pk, pks[next], s.pk_len) == 0);
            if (ehks[next][0]) {
                CU_ASSERT(s.ehk && s.ehk_len == strlen(ehks[next]) &&
                          memcmp(s.ehk, ehks[next], s.ehk_len) == 0);
            } else {
                CU_ASSERT_PTR_NULL(s.ehk);
            }
            next++;
        }
        kpl_agg_out_free(&out);
        if (i < N)
            CU_ASSERT_EQUAL(kpl_agg_add(agg, pks[i], ehks[i][0] ? ehks[i] : NULL, datas[i],
                                        lens[i], err, sizeof(err)),
                            SL_OK);
    }
    CU_ASSERT_EQUAL(next, N);
    CU_ASSERT(aggs > 30);

    for (int i = 0; i < N; i++)
        free(datas[i]);
    free(datas);
    free(lens);
    free(pks);
    free(ehks);
    kpl_agg_destroy(agg);
    kpl_deagg_destroy(da);
}

void test_kpl_register(void) {
    static const unit_test_t tests[] = {
        {"pb_roundtrip", test_pb_roundtrip},
        {"pb_malformed", test_pb_malformed},
        {"hash", test_hash},
        {"decode", test_decode},
        {"passthrough", test_passthrough},
        {"range", test_range},
        {"agg_limits", test_agg_limits},
        {"roundtrip", test_roundtrip},
        {NULL, NULL},
    };
    unit_add_suite("kpl", tests);
}
