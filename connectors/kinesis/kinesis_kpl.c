/*
 * kinesis_kpl.c: KPL aggregated records (see kinesis_kpl.h). The shard consumer hands every
 * record it reads to the de-aggregator before the records enter the job's chain; the producer
 * will hand user records to the aggregator before PutRecords. De-aggregation checks the magic
 * and the MD5 trailer, then walks the AggregatedRecord twice with the bounds-checked protobuf
 * reader (util/util_pb.c): once to index the key tables and validate every sub-record (so a
 * malformed aggregate is passed through whole instead of half-delivered), once while the caller
 * iterates. Both passes point into the record's bytes; only the key-table index grows, and it is
 * kept between records.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kinesis_kpl.h"
#include "util_pb.h"
#include "util_str.h"

const uint8_t kpl_magic[KPL_MAGIC_LEN] = {0xF3, 0x89, 0x9A, 0xC2};

/* Field numbers of the aggregation format's messages. */
enum {
    AR_PK_TABLE = 1,
    AR_EHK_TABLE = 2,
    AR_RECORDS = 3,
    R_PK_INDEX = 1,
    R_EHK_INDEX = 2,
    R_DATA = 3,
    R_TAGS = 4,
    TAG_KEY = 1,
};

/* ---- 128-bit hash keys: four 32-bit limbs, most significant first ------------------------- */

static void to_limbs(const kpl_hash_t *h, uint32_t w[4]) {
    w[0] = (uint32_t)(h->hi >> 32);
    w[1] = (uint32_t)h->hi;
    w[2] = (uint32_t)(h->lo >> 32);
    w[3] = (uint32_t)h->lo;
}

static void from_limbs(const uint32_t w[4], kpl_hash_t *h) {
    h->hi = ((uint64_t)w[0] << 32) | w[1];
    h->lo = ((uint64_t)w[2] << 32) | w[3];
}

int kpl_hash_parse(const char *s, size_t len, kpl_hash_t *out) {
    uint32_t w[4] = {0, 0, 0, 0};
    size_t i = 0;
    int neg = 0, over = 0;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return -1;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t carry = (uint64_t)(s[i] - '0');
        for (int k = 3; k >= 0; k--) {
            uint64_t t = (uint64_t)w[k] * 10 + carry;
            w[k] = (uint32_t)t;
            carry = t >> 32;
        }
        if (carry)
            over = 1; /* keep scanning: a later non-digit still makes it malformed */
    }
    if (neg) {
        out->hi = out->lo = 0;
        return (w[0] | w[1] | w[2] | w[3] | (uint32_t)over) ? -2 : 0; /* "-0" is 0 */
    }
    if (over) {
        out->hi = out->lo = UINT64_MAX;
        return 1;
    }
    from_limbs(w, out);
    return 0;
}

void kpl_hash_format(const kpl_hash_t *h, char *out) {
    uint32_t w[4];
    char tmp[KPL_HASH_STR_MAX];
    size_t n = 0;

    to_limbs(h, w);
    do {
        uint64_t rem = 0;
        for (int k = 0; k < 4; k++) {
            uint64_t cur = (rem << 32) | w[k];
            w[k] = (uint32_t)(cur / 10);
            rem = cur % 10;
        }
        tmp[n++] = (char)('0' + rem);
    } while (w[0] | w[1] | w[2] | w[3]);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

int kpl_hash_cmp(const kpl_hash_t *a, const kpl_hash_t *b) {
    if (a->hi != b->hi)
        return a->hi < b->hi ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return 0;
}

static void hash_from_digest(const uint8_t d[16], kpl_hash_t *out) {
    out->hi = out->lo = 0;
    for (int i = 0; i < 8; i++) {
        out->hi = (out->hi << 8) | d[i];
        out->lo = (out->lo << 8) | d[i + 8];
    }
}

int kpl_hash_of_pk(const char *pk, size_t len, kpl_hash_t *out) {
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    if (!EVP_Digest(pk, len, d, &dlen, EVP_md5(), NULL) || dlen != 16)
        return -1;
    hash_from_digest(d, out);
    return 0;
}

sl_err_t kpl_range_parse(const char *start, const char *end, kpl_range_t *out) {
    if (!start || !end || kpl_hash_parse(start, strlen(start), &out->start) != 0 ||
        kpl_hash_parse(end, strlen(end), &out->end) != 0 ||
        kpl_hash_cmp(&out->start, &out->end) > 0)
        return SL_ERR_INVAL;
    return SL_OK;
}

/* ---- de-aggregation ----------------------------------------------------------------------- */

typedef struct kpl_slice {
    const uint8_t *p;
    size_t len;
} kpl_slice_t;

typedef struct kpl_table {
    kpl_slice_t *v;
    size_t n, cap;
} kpl_table_t;

struct kpl_deagg {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    kpl_table_t pks, ehks;
    /* Per partition key table entry: 0 not hashed yet, 1 inside the range, 2 outside (one MD5
     * per distinct key of an aggregate rather than one per sub-record). */
    uint8_t *pk_range;
    size_t pk_range_cap;

    /* The record loaded last. */
    const uint8_t *data;
    size_t len;
    const char *pk, *ehk;
    int aggregated, dropped;
    const char *reason;
    uint64_t count, next;
    sl_pb_reader_t rd; /* over the AggregatedRecord, for the iteration pass */
};

/* A Record as parsed, before its indexes are resolved. */
typedef struct kpl_rec {
    uint64_t pk_index, ehk_index;
    int has_pk, has_ehk, has_data;
    const uint8_t *data;
    size_t data_len;
} kpl_rec_t;

kpl_deagg_t *kpl_deagg_new(void) {
    kpl_deagg_t *da = calloc(1, sizeof(*da));
    if (!da)
        goto fail;
    /* Fetched once so each digest is an init/update/final on a warm context. */
    da->md = EVP_MD_fetch(NULL, "MD5", NULL);
    da->ctx = EVP_MD_CTX_new();
    if (!da->md || !da->ctx)
        goto fail;
    da->reason = "";
    return da;
fail:
    kpl_deagg_destroy(da);
    return NULL;
}

void kpl_deagg_destroy(kpl_deagg_t *da) {
    if (!da)
        return;
    EVP_MD_CTX_free(da->ctx);
    EVP_MD_free(da->md);
    free(da->pks.v);
    free(da->ehks.v);
    free(da->pk_range);
    free(da);
}

static int md5(kpl_deagg_t *da, const void *p, size_t len, uint8_t out[16]) {
    unsigned int n = 0;
    if (!EVP_DigestInit_ex(da->ctx, da->md, NULL) || !EVP_DigestUpdate(da->ctx, p, len) ||
        !EVP_DigestFinal_ex(da->ctx, out, &n) || n != 16)
        return -1;
    return 0;
}

static int table_push(kpl_table_t *t, const uint8_t *p, size_t len) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        kpl_slice_t *v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n].p = p;
    t->v[t->n].len = len;
    t->n++;
    return 0;
}

/* A Tag must parse and carry its required key. */
static int tag_valid(const uint8_t *p, size_t len) {
    sl_pb_reader_t rd;
    sl_pb_field_t f;
    int r, has_key = 0;
    sl_pb_reader_init(&rd, p, len);
    while ((r = sl_pb_next(&rd, &f)) > 0)
        if (f.num == TAG_KEY && f.wire == SL_PB_LEN)
            has_key = 1;
    return r == 0 && has_key;
}

/* Parses one Record message; NULL, or the reason it is malformed. */
static const char *rec_parse(const uint8_t *p, size_t len, kpl_rec_t *rec) {
    sl_pb_reader_t rd;
    sl_pb_field_t f;
    int r;

    memset(rec, 0, sizeof(*rec));
    sl_pb_reader_init(&rd, p, len);
    while ((r = sl_pb_next(&rd, &f)) > 0) {
        /* A known number with another wire type is an unknown field, as in protobuf. */
        if (f.num == R_PK_INDEX && f.wire == SL_PB_VARINT) {
            rec->pk_index = f.u64;
            rec->has_pk = 1;
        } else if (f.num == R_EHK_INDEX && f.wire == SL_PB_VARINT) {
            rec->ehk_index = f.u64;
            rec->has_ehk = 1;
        } else if (f.num == R_DATA && f.wire == SL_PB_LEN) {
            rec->data = f.data;
            rec->data_len = f.len;
            rec->has_data = 1;
        } else if (f.num == R_TAGS && f.wire == SL_PB_LEN && !tag_valid(f.data, f.len)) {
            return "malformed tag in a sub-record";
        }
    }
    if (r < 0)
        return "malformed sub-record";
    if (!rec->has_pk)
        return "sub-record without partition_key_index";
    if (!rec->has_data)
        return "sub-record without data";
    return NULL;
}

/* The sub-record's hash key is in range: 1 yes, 0 no, -1 its explicit hash key is not a
 * number, -2 MD5 failed. */
static int rec_in_range(kpl_deagg_t *da, const kpl_rec_t *rec, const kpl_range_t *range) {
    kpl_hash_t h;
    if (rec->has_ehk) {
        const kpl_slice_t *e = &da->ehks.v[rec->ehk_index];
        int r = kpl_hash_parse((const char *)e->p, e->len, &h);
        if (r == -1)
            return -1;
        if (r != 0)
            return 0; /* negative or above 2^128-1: outside every range */
    } else {
        const kpl_slice_t *k = &da->pks.v[rec->pk_index];
        uint8_t d[16], *memo = NULL;
        int in;
        if (rec->pk_index < da->pks.n) {
            if (da->pk_range_cap < da->pks.n) {
                uint8_t *grown = realloc(da->pk_range, da->pks.n);
                if (grown) {
                    da->pk_range = grown;
                    da->pk_range_cap = da->pks.n;
                    memset(da->pk_range, 0, da->pks.n);
                }
            }
            if (da->pk_range_cap >= da->pks.n)
                memo = &da->pk_range[rec->pk_index];
        }
        if (memo && *memo)
            return *memo == 1;
        if (md5(da, k->p, k->len, d) < 0)
            return -2;
        hash_from_digest(d, &h);
        in = kpl_hash_cmp(&h, &range->start) >= 0 && kpl_hash_cmp(&h, &range->end) <= 0;
        if (memo)
            *memo = in ? 1 : 2;
        return in;
    }
    return kpl_hash_cmp(&h, &range->start) >= 0 && kpl_hash_cmp(&h, &range->end) <= 0;
}

static void set_plain(kpl_deagg_t *da, const char *reason) {
    da->aggregated = 0;
    da->dropped = 0;
    da->count = 1;
    da->reason = reason;
}

sl_err_t kpl_deagg_load(kpl_deagg_t *da, const void *data, size_t len, const char *pk,
                        const char *ehk, const kpl_range_t *range) {
    const uint8_t *b = data;
    uint8_t digest[16];
    sl_pb_reader_t rd;
    sl_pb_field_t f;
    kpl_rec_t rec;
    const char *why;
    int r;

    da->data = b;
    da->len = b ? len : 0;
    da->pk = pk ? pk : "";
    da->ehk = ehk;
    da->next = 0;
    da->pks.n = da->ehks.n = 0;
    if (da->pk_range)
        memset(da->pk_range, 0, da->pk_range_cap);
    sl_pb_reader_init(&da->rd, NULL, 0);

    /* As the KCL: magic, then more than a digest's worth of bytes after it. */
    if (da->len < KPL_MAGIC_LEN || memcmp(b, kpl_magic, KPL_MAGIC_LEN) != 0) {
        set_plain(da, "no KPL magic");
        return SL_OK;
    }
    if (da->len <= KPL_MAGIC_LEN + KPL_DIGEST_LEN) {
        set_plain(da, "too short for a KPL aggregate");
        return SL_OK;
    }
    const uint8_t *body = b + KPL_MAGIC_LEN;
    size_t body_len = da->len - KPL_MAGIC_LEN - KPL_DIGEST_LEN;
    if (md5(da, body, body_len, digest) < 0) {
        set_plain(da, "MD5 unavailable");
        return SL_OK;
    }
    if (memcmp(digest, body + body_len, KPL_DIGEST_LEN) != 0) {
        set_plain(da, "KPL aggregate MD5 mismatch");
        return SL_OK;
    }

    /* Pass 1: the key tables (which may come anywhere in the message) and the record count. */
    uint64_t nrec = 0;
    sl_pb_reader_init(&rd, body, body_len);
    while ((r = sl_pb_next(&rd, &f)) > 0) {
        if (f.wire != SL_PB_LEN)
            continue;
        if (f.num == AR_PK_TABLE || f.num == AR_EHK_TABLE) {
            if (table_push(f.num == AR_PK_TABLE ? &da->pks : &da->ehks, f.data, f.len) < 0) {
                set_plain(da, "out of memory");
                da->count = 0;
                return SL_ERR_NOMEM;
            }
        } else if (f.num == AR_RECORDS) {
            nrec++;
        }
    }
    if (r < 0) {
        set_plain(da, "malformed AggregatedRecord");
        return SL_OK;
    }

    /* Pass 2: every sub-record well-formed with its indexes inside the tables, before any is
     * yielded; then the range, which drops the aggregate at its first stranger. */
    int dropped = 0;
    sl_pb_reader_init(&rd, body, body_len);
    while (sl_pb_next(&rd, &f) > 0) {
        if (f.num != AR_RECORDS || f.wire != SL_PB_LEN)
            continue;
        if ((why = rec_parse(f.data, f.len, &rec)) != NULL) {
            set_plain(da, why);
            return SL_OK;
        }
        if (rec.pk_index >= da->pks.n) {
            set_plain(da, "partition key index out of range");
            return SL_OK;
        }
        if (rec.has_ehk && rec.ehk_index >= da->ehks.n) {
            set_plain(da, "explicit hash key index out of range");
            return SL_OK;
        }
    }
    if (range) {
        sl_pb_reader_init(&rd, body, body_len);
        while (!dropped && sl_pb_next(&rd, &f) > 0) {
            if (f.num != AR_RECORDS || f.wire != SL_PB_LEN)
                continue;
            rec_parse(f.data, f.len, &rec);
            r = rec_in_range(da, &rec, range);
            if (r == -1) {
                set_plain(da, "sub-record explicit hash key is not a decimal number");
                return SL_OK;
            }
            if (r == -2) {
                set_plain(da, "MD5 unavailable");
                return SL_OK;
            }
            dropped = r == 0;
        }
    }

    da->aggregated = 1;
    da->dropped = dropped;
    da->count = dropped ? 0 : nrec;
    da->reason = dropped ? "a sub-record's hash key is outside the shard's range: aggregate "
                           "dropped, as the KCL does"
                         : "";
    sl_pb_reader_init(&da->rd, body, body_len);
    return SL_OK;
}

int kpl_deagg_aggregated(const kpl_deagg_t *da) {
    return da->aggregated;
}

int kpl_deagg_dropped(const kpl_deagg_t *da) {
    return da->dropped;
}

uint64_t kpl_deagg_count(const kpl_deagg_t *da) {
    return da->count;
}

const char *kpl_deagg_reason(const kpl_deagg_t *da) {
    return da->reason;
}

int kpl_deagg_next(kpl_deagg_t *da, kpl_subrec_t *out) {
    sl_pb_field_t f;
    kpl_rec_t rec;

    if (da->next >= da->count)
        return 0;
    memset(out, 0, sizeof(*out));
    if (!da->aggregated) {
        out->data = da->data;
        out->data_len = da->len;
        out->pk = da->pk;
        out->pk_len = strlen(da->pk);
        out->ehk = da->ehk;
        out->ehk_len = da->ehk ? strlen(da->ehk) : 0;
        da->next++;
        return 1;
    }
    /* Validated at load: every Record field parses and its indexes are in the tables. */
    while (sl_pb_next(&da->rd, &f) > 0) {
        if (f.num != AR_RECORDS || f.wire != SL_PB_LEN)
            continue;
        if (rec_parse(f.data, f.len, &rec) != NULL)
            break;
        out->data = rec.data;
        out->data_len = rec.data_len;
        out->pk = (const char *)da->pks.v[rec.pk_index].p;
        out->pk_len = da->pks.v[rec.pk_index].len;
        if (rec.has_ehk) {
            out->ehk = (const char *)da->ehks.v[rec.ehk_index].p;
            out->ehk_len = da->ehks.v[rec.ehk_index].len;
        }
        out->subseq = da->next++;
        out->aggregated = 1;
        return 1;
    }
    da->next = da->count;
    return 0;
}

/* ---- aggregation -------------------------------------------------------------------------- */

/* A deduplicating key table: the keys live in .arena, looked up through an open-addressing
 * hash of entry numbers. */
typedef struct kpl_keyset {
    sl_sb_t arena;
    struct {
        size_t off, len;
    } * ent;
    size_t n, cap;
    uint32_t *slots; /* entry + 1; 0 is empty */
    size_t nslots;   /* a power of two, at most half full */
} kpl_keyset_t;

static uint64_t key_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static void keyset_clear(kpl_keyset_t *ks) {
    sl_sb_reset(&ks->arena);
    ks->n = 0;
    if (ks->slots)
        memset(ks->slots, 0, ks->nslots * sizeof(*ks->slots));
}

static void keyset_free(kpl_keyset_t *ks) {
    sl_sb_free(&ks->arena);
    free(ks->ent);
    free(ks->slots);
    memset(ks, 0, sizeof(*ks));
}

/* The entry number of key s, or -1 when absent. */
static long keyset_find(const kpl_keyset_t *ks, const char *s, size_t len) {
    if (!ks->nslots)
        return -1;
    size_t mask = ks->nslots - 1;
    for (size_t i = key_hash(s, len) & mask;; i = (i + 1) & mask) {
        uint32_t e = ks->slots[i];
        if (!e)
            return -1;
        e--;
        if (ks->ent[e].len == len && memcmp(ks->arena.buf + ks->ent[e].off, s, len) == 0)
            return (long)e;
    }
}

static void keyset_place(kpl_keyset_t *ks, size_t e) {
    size_t mask = ks->nslots - 1;
    size_t i = key_hash(ks->arena.buf + ks->ent[e].off, ks->ent[e].len) & mask;
    while (ks->slots[i])
        i = (i + 1) & mask;
    ks->slots[i] = (uint32_t)(e + 1);
}

/* Adds a key known to be absent; returns its entry number or -1 when out of memory. */
static long keyset_add(kpl_keyset_t *ks, const char *s, size_t len) {
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 16;
        void *v = realloc(ks->ent, cap * sizeof(*ks->ent));
        if (!v)
            return -1;
        ks->ent = v;
        ks->cap = cap;
    }
    if ((ks->n + 1) * 2 > ks->nslots) {
        size_t nslots = ks->nslots ? ks->nslots * 2 : 32;
        uint32_t *slots = calloc(nslots, sizeof(*slots));
        if (!slots)
            return -1;
        free(ks->slots);
        ks->slots = slots;
        ks->nslots = nslots;
        for (size_t e = 0; e < ks->n; e++)
            keyset_place(ks, e);
    }
    size_t off = ks->arena.len;
    sl_sb_append(&ks->arena, s, len);
    if (ks->arena.oom)
        return -1;
    ks->ent[ks->n].off = off;
    ks->ent[ks->n].len = len;
    keyset_place(ks, ks->n);
    return (long)ks->n++;
}

struct kpl_agg {
    size_t max_bytes, max_records;
    int raw_single;
    kpl_keyset_t pks, ehks;
    sl_sb_t pk_table, ehk_table, records; /* encoded AggregatedRecord fields 1, 2, 3 */
    size_t count;
    size_t first_pk_len;
    kpl_hash_t first_hash;
};

kpl_agg_t *kpl_agg_new(size_t max_bytes, size_t max_records, int raw_single) {
    kpl_agg_t *agg = calloc(1, sizeof(*agg));
    if (!agg)
        return NULL;
    agg->max_bytes = (max_bytes == 0 || max_bytes > KPL_MAX_RECORD_BYTES)
                         ? KPL_MAX_RECORD_BYTES
                         : max_bytes;
    agg->max_records = max_records;
    agg->raw_single = raw_single;
    return agg;
}

void kpl_agg_destroy(kpl_agg_t *agg) {
    if (!agg)
        return;
    keyset_free(&agg->pks);
    keyset_free(&agg->ehks);
    sl_sb_free(&agg->pk_table);
    sl_sb_free(&agg->ehk_table);
    sl_sb_free(&agg->records);
    free(agg);
}

static void agg_clear(kpl_agg_t *agg) {
    keyset_clear(&agg->pks);
    keyset_clear(&agg->ehks);
    sl_sb_reset(&agg->pk_table);
    sl_sb_reset(&agg->ehk_table);
    sl_sb_reset(&agg->records);
    agg->count = 0;
}

size_t kpl_agg_count(const kpl_agg_t *agg) {
    return agg->count;
}

static size_t agg_body_len(const kpl_agg_t *agg) {
    return agg->pk_table.len + agg->ehk_table.len + agg->records.len;
}

size_t kpl_agg_size(const kpl_agg_t *agg) {
    if (!agg->count)
        return 0;
    return KPL_MAGIC_LEN + agg_body_len(agg) + KPL_DIGEST_LEN + agg->first_pk_len;
}

/* Bytes a user record adds to the body: new table entries and its Record field. */
static size_t rec_growth(const kpl_agg_t *agg, const char *pk, size_t pk_len, const char *ehk,
                         size_t ehk_len, size_t data_len) {
    size_t grow = 0, inner;
    long pki = keyset_find(&agg->pks, pk, pk_len);
    if (pki < 0) {
        pki = (long)agg->pks.n;
        grow += sl_pb_size_len_field(AR_PK_TABLE, pk_len);
    }
    inner = sl_pb_size_varint_field(R_PK_INDEX, (uint64_t)pki);
    if (ehk) {
        long ei = keyset_find(&agg->ehks, ehk, ehk_len);
        if (ei < 0) {
            ei = (long)agg->ehks.n;
            grow += sl_pb_size_len_field(AR_EHK_TABLE, ehk_len);
        }
        inner += sl_pb_size_varint_field(R_EHK_INDEX, (uint64_t)ei);
    }
    inner += sl_pb_size_len_field(R_DATA, data_len);
    return grow + sl_pb_size_len_field(AR_RECORDS, inner);
}

size_t kpl_agg_size_with(const kpl_agg_t *agg, const char *pk, const char *ehk,
                         size_t data_len) {
    size_t pk_len = strlen(pk), ehk_len = ehk ? strlen(ehk) : 0;
    size_t outer_pk = agg->count ? agg->first_pk_len : pk_len;
    return KPL_MAGIC_LEN + agg_body_len(agg) +
           rec_growth(agg, pk, pk_len, ehk, ehk_len, data_len) + KPL_DIGEST_LEN + outer_pk;
}

/* Characters in a UTF-8 string (continuation bytes not counted). */
static size_t utf8_chars(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((uint8_t)s[i] & 0xC0) != 0x80;
    return n;
}

sl_err_t kpl_agg_add(kpl_agg_t *agg, const char *pk, const char *ehk, const void *data,
                     size_t data_len, char *errstr, size_t errlen) {
    size_t pk_len = pk ? strlen(pk) : 0, ehk_len = ehk ? strlen(ehk) : 0;
    size_t chars = utf8_chars(pk ? pk : "", pk_len);
    kpl_hash_t h;
    long pki, ei = -1;

    if (chars < 1 || chars > 256) {
        sl_errf(errstr, errlen, "partition key must have 1 to 256 characters, not %zu", chars);
        return SL_ERR_INVAL;
    }
    if (ehk && kpl_hash_parse(ehk, ehk_len, &h) != 0) {
        sl_errf(errstr, errlen, "explicit hash key '%.48s' is not a decimal in [0, 2^128-1]",
                ehk);
        return SL_ERR_INVAL;
    }
    if (!data && data_len) {
        sl_errf(errstr, errlen, "no data");
        return SL_ERR_INVAL;
    }
    /* Alone, in an empty aggregator, it must fit; otherwise the caller flushes first. */
    size_t alone = KPL_MAGIC_LEN + KPL_DIGEST_LEN + pk_len +
                   sl_pb_size_len_field(AR_PK_TABLE, pk_len) +
                   (ehk ? sl_pb_size_len_field(AR_EHK_TABLE, ehk_len) : 0) +
                   sl_pb_size_len_field(AR_RECORDS, sl_pb_size_varint_field(R_PK_INDEX, 0) +
                                                        (ehk ? 2 : 0) +
                                                        sl_pb_size_len_field(R_DATA, data_len));
    if (alone > agg->max_bytes) {
        sl_errf(errstr, errlen, "record of %zu bytes cannot fit in an aggregate of %zu bytes",
                data_len + pk_len, agg->max_bytes);
        return SL_ERR_INVAL;
    }
    if (agg->count &&
        ((agg->max_records && agg->count >= agg->max_records) ||
         kpl_agg_size_with(agg, pk, ehk, data_len) > agg->max_bytes)) {
        sl_errf(errstr, errlen, "aggregate full: flush, then add again");
        return SL_ERR_STATE;
    }

    size_t lens[3] = {agg->pk_table.len, agg->ehk_table.len, agg->records.len};
    size_t npk = agg->pks.n, nehk = agg->ehks.n;
    if (!agg->count) {
        /* The aggregate goes where its first record would: that record's hash key. */
        if (!ehk && kpl_hash_of_pk(pk, pk_len, &h) < 0) {
            sl_errf(errstr, errlen, "MD5 unavailable");
            return SL_ERR_INVAL;
        }
        agg->first_pk_len = pk_len;
        agg->first_hash = h;
    }

    if ((pki = keyset_find(&agg->pks, pk, pk_len)) < 0) {
        if ((pki = keyset_add(&agg->pks, pk, pk_len)) < 0)
            goto nomem;
        sl_pb_put_len_field(&agg->pk_table, AR_PK_TABLE, pk, pk_len);
    }
    if (ehk && (ei = keyset_find(&agg->ehks, ehk, ehk_len)) < 0) {
        if ((ei = keyset_add(&agg->ehks, ehk, ehk_len)) < 0)
            goto nomem;
        sl_pb_put_len_field(&agg->ehk_table, AR_EHK_TABLE, ehk, ehk_len);
    }
    size_t inner = sl_pb_size_varint_field(R_PK_INDEX, (uint64_t)pki) +
                   (ehk ? sl_pb_size_varint_field(R_EHK_INDEX, (uint64_t)ei) : 0) +
                   sl_pb_size_len_field(R_DATA, data_len);
    sl_pb_put_key(&agg->records, AR_RECORDS, SL_PB_LEN);
    sl_pb_put_varint(&agg->records, inner);
    sl_pb_put_varint_field(&agg->records, R_PK_INDEX, (uint64_t)pki);
    if (ehk)
        sl_pb_put_varint_field(&agg->records, R_EHK_INDEX, (uint64_t)ei);
    sl_pb_put_len_field(&agg->records, R_DATA, data, data_len);
    if (agg->pk_table.oom || agg->ehk_table.oom || agg->records.oom)
        goto nomem;
    agg->count++;
    return SL_OK;

nomem:
    /* Undo this record: the aggregate stays as it was before the call. */
    agg->pk_table.len = lens[0];
    agg->ehk_table.len = lens[1];
    agg->records.len = lens[2];
    agg->pk_table.oom = agg->ehk_table.oom = agg->records.oom = 0;
    /* A key that did not fit in its arena wrote nothing there, but the flag would fail every
     * later add. */
    agg->pks.arena.oom = agg->ehks.arena.oom = 0;
    if (agg->pks.n > npk || agg->ehks.n > nehk) {
        /* Rebuild the hashes without the new keys (rare: only after an allocation failure).
         * A set that never got its slots has nothing to clear (memset of NULL is undefined). */
        agg->pks.n = npk;
        agg->ehks.n = nehk;
        if (agg->pks.slots)
            memset(agg->pks.slots, 0, agg->pks.nslots * sizeof(uint32_t));
        if (agg->ehks.slots)
            memset(agg->ehks.slots, 0, agg->ehks.nslots * sizeof(uint32_t));
        for (size_t e = 0; e < npk; e++)
            keyset_place(&agg->pks, e);
        for (size_t e = 0; e < nehk; e++)
            keyset_place(&agg->ehks, e);
    }
    sl_errf(errstr, errlen, "out of memory");
    return SL_ERR_NOMEM;
}

void kpl_agg_out_free(kpl_agg_out_t *out) {
    if (!out)
        return;
    free(out->data);
    free(out->pk);
    memset(out, 0, sizeof(*out));
}

/* The first user record, read back from its encoded Record. */
static int first_record(const kpl_agg_t *agg, kpl_rec_t *rec) {
    sl_pb_reader_t rd;
    sl_pb_field_t f;
    sl_pb_reader_init(&rd, agg->records.buf, agg->records.len);
    if (sl_pb_next(&rd, &f) <= 0 || rec_parse(f.data, f.len, rec) != NULL)
        return -1;
    return 0;
}

sl_err_t kpl_agg_flush(kpl_agg_t *agg, kpl_agg_out_t *out) {
    memset(out, 0, sizeof(*out));
    if (!agg->count)
        return SL_ERR_STATE;

    const kpl_keyset_t *pks = &agg->pks;
    out->pk = sl_strndup(agg->pks.arena.buf + pks->ent[0].off, pks->ent[0].len);
    if (!out->pk)
        goto fail;
    kpl_hash_format(&agg->first_hash, out->ehk); /* normalised, as the KPL prints it */
    out->count = agg->count;

    if (agg->count == 1 && agg->raw_single) {
        kpl_rec_t rec;
        if (first_record(agg, &rec) < 0 || !(out->data = malloc(rec.data_len ? rec.data_len : 1)))
            goto fail;
        if (rec.data_len)
            memcpy(out->data, rec.data, rec.data_len);
        out->len = rec.data_len;
        out->aggregated = 0;
        agg_clear(agg);
        return SL_OK;
    }

    size_t body = agg_body_len(agg);
    out->len = KPL_MAGIC_LEN + body + KPL_DIGEST_LEN;
    if (!(out->data = malloc(out->len)))
        goto fail;
    uint8_t *p = out->data;
    memcpy(p, kpl_magic, KPL_MAGIC_LEN);
    p += KPL_MAGIC_LEN;
    if (agg->pk_table.len)
        memcpy(p, agg->pk_table.buf, agg->pk_table.len);
    p += agg->pk_table.len;
    if (agg->ehk_table.len)
        memcpy(p, agg->ehk_table.buf, agg->ehk_table.len);
    p += agg->ehk_table.len;
    memcpy(p, agg->records.buf, agg->records.len);
    unsigned int n = 0;
    if (!EVP_Digest(out->data + KPL_MAGIC_LEN, body, p + agg->records.len, &n, EVP_md5(),
                    NULL) ||
        n != KPL_DIGEST_LEN)
        goto fail;
    out->aggregated = 1;
    agg_clear(agg);
    return SL_OK;

fail:
    kpl_agg_out_free(out);
    return SL_ERR_NOMEM;
}
