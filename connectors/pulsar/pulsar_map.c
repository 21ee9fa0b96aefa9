/*
 * pulsar_map.c: how a record becomes a Pulsar message beyond its payload: the message
 * properties (the names Pulsar's Kinesis source gives what a Kinesis record carries, then the
 * record's headers) and the partition a keyed message goes to (the Java client's default
 * router, so a key lands where a Java producer would put it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pulsar.h"

/* The header the dynamodbstreams system puts the eventName in (KIN_DDB_EVENT_HEADER in
 * kinesis.h). */
#define DDB_EVENT_HEADER "dynamodb.event-name"

/* ---- partition routing ------------------------------------------------------------------------ */

/* Java's String.hashCode: 31*h + each UTF-16 code unit, in 32-bit two's complement. Bytes that
 * are not UTF-8 count as one unit each (U+FFFD would lose them). */
static int32_t java_string_hash(const unsigned char *s, size_t n) {
    uint32_t h = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp = s[i], len = 1;
        if (cp >= 0xc0 && cp < 0xe0 && i + 1 < n && (s[i + 1] & 0xc0) == 0x80) {
            cp = (cp & 0x1f) << 6 | (s[i + 1] & 0x3f);
            len = 2;
        } else if (cp >= 0xe0 && cp < 0xf0 && i + 2 < n && (s[i + 1] & 0xc0) == 0x80 &&
                   (s[i + 2] & 0xc0) == 0x80) {
            cp = (cp & 0x0f) << 12 | (uint32_t)(s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
            len = 3;
        } else if (cp >= 0xf0 && cp < 0xf8 && i + 3 < n && (s[i + 1] & 0xc0) == 0x80 &&
                   (s[i + 2] & 0xc0) == 0x80 && (s[i + 3] & 0xc0) == 0x80) {
            cp = (cp & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3f) << 12 |
                 (uint32_t)(s[i + 2] & 0x3f) << 6 | (s[i + 3] & 0x3f);
            len = 4;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = 31 * h + (0xd800 + (cp >> 10));
            h = 31 * h + (0xdc00 + (cp & 0x3ff));
        } else {
            h = 31 * h + cp;
        }
        i += len;
    }
    return (int32_t)h;
}

static uint32_t rotl32(uint32_t x, int r) {
    return x << r | x >> (32 - r);
}

/* MurmurHash3 x86 32-bit, seed 0, over the key's UTF-8 bytes. */
static uint32_t murmur3_32(const unsigned char *s, size_t n) {
    const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
    uint32_t h = 0, k;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        k = (uint32_t)s[i] | (uint32_t)s[i + 1] << 8 | (uint32_t)s[i + 2] << 16 |
            (uint32_t)s[i + 3] << 24;
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
        h = rotl32(h, 13);
        h = h * 5 + 0xe6546b64;
    }
    k = 0;
    switch (n & 3) {
    case 3: k ^= (uint32_t)s[i + 2] << 16; /* fall through */
    case 2: k ^= (uint32_t)s[i + 1] << 8;  /* fall through */
    case 1:
        k ^= s[i];
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
    }
    h ^= (uint32_t)n;
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;
    return h;
}

int pl_key_partition(int hashing, const char *key, size_t len, int n) {
    int64_t h, m;
    if (n <= 1)
        return 0;
    if (hashing == 1)
        h = (int64_t)(murmur3_32((const unsigned char *)key, len) & 0x7fffffffu);
    else
        h = java_string_hash((const unsigned char *)key, len);
    m = h % n;
    return (int)(m < 0 ? m + n : m);
}

/* ---- properties ------------------------------------------------------------------------------- */

static int add(pl_props_t *p, const char *k, const char *v) {
    Pulsar__Proto__KeyValue *kv;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        Pulsar__Proto__KeyValue **nk = realloc(p->kv, cap * sizeof(*nk));
        if (!nk)
            return -1;
        p->kv = nk;
        p->cap = cap;
    }
    if (!(kv = malloc(sizeof(*kv))))
        return -1;
    pulsar__proto__key_value__init(kv);
    kv->key = sl_strdup(k);
    kv->value = sl_strdup(v);
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        free(kv);
        return -1;
    }
    p->kv[p->n++] = kv;
    return 0;
}

static int wanted(const pl_conf_t *c, int bit) {
    return (c->source_mask >> bit) & 1;
}

/* Java's Instant.toString() of ms: 2019-03-05T19:28:58.123Z, no fraction when it is zero. */
static void iso_instant(int64_t ms, char *buf, size_t len) {
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)secs * 1000);
    struct tm tm;
    char base[40];
    gmtime_r(&secs, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac)
        snprintf(buf, len, "%s.%03dZ", base, frac);
    else
        snprintf(buf, len, "%sZ", base);
}

int pl_props_of(const pl_conf_t *c, const sl_record_t *rec, pl_props_t *p) {
    const sl_source_t *src = sl_record_source(rec);
    const char *enc = sl_record_header(rec, "kinesis.encryption-type");
    int n = sl_record_header_count(rec), ddb = 0;
    /* A record read from Kinesis (an encryption type Kinesis did not state is NONE, as the
     * Pulsar connector has it). */
    if (src && src->kind && !strcmp(src->kind, "kinesis")) {
        if (!enc || !*enc)
            enc = "NONE";
        char buf[64];
        size_t klen;
        const char *key = sl_record_key(rec, &klen);
        if (wanted(c, PL_SP_ARRIVAL) && src->arrival_ms > 0) {
            iso_instant(src->arrival_ms, buf, sizeof(buf));
            if (add(p, "kinesis.arrival.timestamp", buf) < 0)
                return -1;
        }
        if (wanted(c, PL_SP_ENCRYPTION) && add(p, "kinesis.encryption.type", enc) < 0)
            return -1;
        if (wanted(c, PL_SP_PARTITION_KEY) && key) {
            char *k = sl_strndup(key, klen);
            int r = k ? add(p, "kinesis.partition.key", k) : -1;
            free(k);
            if (r < 0)
                return -1;
        }
        if (wanted(c, PL_SP_SEQUENCE) && src->offset &&
            add(p, "kinesis.sequence.number", src->offset) < 0)
            return -1;
        if (wanted(c, PL_SP_SHARD) && src->partition &&
            add(p, "kinesis.shard.id", src->partition) < 0)
            return -1;
    }
    if (src && src->kind && !strcmp(src->kind, "dynamodbstreams")) {
        /* a record read from DynamoDB Streams: what Pulsar's DynamoDB source sets */
        const char *ev = sl_record_header(rec, DDB_EVENT_HEADER);
        if (wanted(c, PL_SP_DDB_EVENT) && ev && add(p, "EVENT_NAME", ev) < 0)
            return -1;
        if (wanted(c, PL_SP_DDB_SEQUENCE) && src->offset &&
            add(p, "SEQUENCE_NUMBER", src->offset) < 0)
            return -1;
        ddb = 1;
    }
    if (c->headers_as_props)
        for (int i = 0; i < n; i++) {
            const char *k, *v;
            if (sl_record_header_at(rec, i, &k, &v) != SL_OK ||
                (ddb && !strcmp(k, DDB_EVENT_HEADER)))
                continue; /* said as EVENT_NAME */
            if (add(p, k, v) < 0)
                return -1;
        }
    return 0;
}

void pl_props_free(pl_props_t *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->kv[i]->key);
        free(p->kv[i]->value);
        free(p->kv[i]);
    }
    free(p->kv);
    memset(p, 0, sizeof(*p));
}
