/*
 * kinesis_format.c: FULL_MESSAGE_IN_JSON and FULL_MESSAGE_IN_FB, the Kinesis sink's encodings of
 * a whole record (kinesis_format.h says what they hold). The JSON is written by hand (one pass,
 * no document tree); the FlatBuffer by a small builder for this one schema that fills its buffer
 * from the end, as FlatBuffers builders do, so every offset points forward.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


#include "kinesis_format.h"
#include "util_base64.h"
#include "util_str.h"

#define PFX KIN_ENC_HEADER_PREFIX
#define PFX_LEN (sizeof(PFX) - 1)
#define MAX_KEYS 32
#define MAX_META 128

/* ---- the record's encryption context (headers) ------------------------------------------- */

typedef struct enc_key {
    const char *name;
    size_t nlen;
    const char *value; /* base64 */
} enc_key_t;

typedef struct enc_meta {
    int key;           /* index in keys */
    const char *k;
    const char *v;
} enc_meta_t;

typedef struct enc {
    int present;
    const char *algo, *param, *compression;
    long long usize, batch;
    int has_usize, has_batch;
    enc_key_t keys[MAX_KEYS];
    int nkeys;
    enc_meta_t meta[MAX_META];
    int nmeta;
} enc_t;

/* Decoded length of strict padded base64 s, or -1 when it is not that. */
static long b64_check(const char *s) {
    return (long)util_b64_check(s, strlen(s));
}

static int parse_count(const char *s, long long *out) {
    char *e;
    long long v;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    v = strtoll(s, &e, 10);
    if (*e || v < 0 || v > 2147483647LL)
        return -1;
    *out = v;
    return 0;
}

static int key_index(enc_t *en, const char *name, size_t nlen) {
    for (int i = 0; i < en->nkeys; i++)
        if (en->keys[i].nlen == nlen && !memcmp(en->keys[i].name, name, nlen))
            return i;
    return -1;
}

static sl_err_t enc_read(const sl_record_t *rec, enc_t *en, char *errstr, size_t errlen) {
    int n = sl_record_header_count(rec);
    memset(en, 0, sizeof(*en));
    /* Keys first (their metadata may come in any order). */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            const char *name, *value, *rest, *meta;
            if (sl_record_header_at(rec, i, &name, &value) != SL_OK ||
                strncmp(name, PFX, PFX_LEN) != 0)
                continue;
            en->present = 1;
            rest = name + PFX_LEN;
            if (strncmp(rest, "key.", 4) != 0) {
                if (pass)
                    continue;
                if (!strcmp(rest, "algorithm")) {
                    en->algo = value;
                } else if (!strcmp(rest, "param")) {
                    if (b64_check(value) < 0)
                        goto bad_b64;
                    en->param = value;
                } else if (!strcmp(rest, "compression")) {
                    static const char *const c[] = {"NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY"};
                    int ok = 0;
                    for (int j = 0; j < 5; j++)
                        ok |= !strcasecmp(value, c[j]);
                    if (!ok) {
                        snprintf(errstr, errlen, "header %s: expected NONE, LZ4, ZLIB, ZSTD or "
                                 "SNAPPY, got '%.40s'", name, value);
                        return SL_ERR_INVAL;
                    }
                    en->compression = value;
                } else if (!strcmp(rest, "uncompressed-size")) {
                    if (parse_count(value, &en->usize) != 0)
                        goto bad_num;
                    en->has_usize = 1;
                } else if (!strcmp(rest, "batch-size")) {
                    if (parse_count(value, &en->batch) != 0)
                        goto bad_num;
                    en->has_batch = 1;
                } else {
                    snprintf(errstr, errlen, "header %s: not an encryption context field "
                             "(algorithm, param, compression, uncompressed-size, batch-size, "
                             "key.<name>, key.<name>.meta.<key>)", name);
                    return SL_ERR_INVAL;
                }
                continue;
            }
            rest += 4;
            meta = strstr(rest, ".meta.");
            if (!meta && !pass) {
                if (!*rest) {
                    snprintf(errstr, errlen, "header %s: the key has no name", name);
                    return SL_ERR_INVAL;
                }
                if (b64_check(value) < 0)
                    goto bad_b64;
                if (en->nkeys == MAX_KEYS) {
                    snprintf(errstr, errlen, "header %s: more than %d encryption keys", name,
                             MAX_KEYS);
                    return SL_ERR_INVAL;
                }
                en->keys[en->nkeys].name = rest;
                en->keys[en->nkeys].nlen = strlen(rest);
                en->keys[en->nkeys++].value = value;
            } else if (meta && pass) {
                int k = key_index(en, rest, (size_t)(meta - rest));
                if (k < 0) {
                    snprintf(errstr, errlen, "header %s: metadata of a key with no "
                             "%skey.%.*s header", name, PFX, (int)(meta - rest), rest);
                    return SL_ERR_INVAL;
                }
                if (en->nmeta == MAX_META) {
                    snprintf(errstr, errlen, "header %s: more than %d key metadata entries", name,
                             MAX_META);
                    return SL_ERR_INVAL;
                }
                en->meta[en->nmeta].key = k;
                en->meta[en->nmeta].k = meta + 6;
                en->meta[en->nmeta++].v = value;
            }
            continue;
        bad_b64:
            snprintf(errstr, errlen, "header %s: not padded base64", name);
            return SL_ERR_INVAL;
        bad_num:
            snprintf(errstr, errlen, "header %s: expected a count, got '%.40s'", name, value);
            return SL_ERR_INVAL;
        }
    return SL_OK;
}

/* ---- text ----------------------------------------------------------------------------------- */

/* Appends s[0..n) with every byte that is not part of valid UTF-8 replaced by U+FFFD; as a JSON
 * string body (escaped) when json. */
static void put_text(sl_sb_t *sb, const char *s, size_t n, int json) {
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = 0;
        uint32_t cp = 0, min = 0;
        if (c < 0x80) {
            if (json && (c < 0x20 || c == '"' || c == '\\')) {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                if (c == '"' || c == '\\') {
                    e[1] = (char)c;
                    sl_sb_append(sb, e, 2);
                } else if (c == '\n') {
                    sl_sb_append(sb, "\\n", 2);
                } else if (c == '\t') {
                    sl_sb_append(sb, "\\t", 2);
                } else if (c == '\r') {
                    sl_sb_append(sb, "\\r", 2);
                } else {
                    sl_sb_append(sb, e, 6);
                }
            } else {
                sl_sb_putc(sb, (char)c);
            }
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; min = 0x10000; }
        if (k && i + k < n) {
            size_t j;
            for (j = 1; j <= k && ((unsigned char)s[i + j] & 0xC0) == 0x80; j++)
                cp = cp << 6 | ((unsigned char)s[i + j] & 0x3F);
            if (j > k && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF)) {
                sl_sb_append(sb, s + i, k + 1);
                i += k + 1;
                continue;
            }
        }
        sl_sb_append(sb, "\xEF\xBF\xBD", 3);
        i++;
    }
}

static void json_str(sl_sb_t *sb, const char *s, size_t n) {
    sl_sb_putc(sb, '"');
    put_text(sb, s, n, 1);
    sl_sb_putc(sb, '"');
}

/* Whether header name is written as a property. */
static int is_property(const char *name) {
    return strncmp(name, PFX, PFX_LEN) != 0;
}

static sl_err_t encode_json(const sl_record_t *rec, const enc_t *en, sl_sb_t *sb) {
    size_t len, klen;
    const void *data = sl_record_data(rec, &len);
    const char *key = sl_record_key(rec, &klen);
    int64_t et = sl_record_event_time(rec);
    int n = sl_record_header_count(rec), first = 1;

    sl_sb_puts(sb, "{\"payloadBase64\":\"");
    util_sb_base64(sb, data, len);
    sl_sb_puts(sb, "\",\"properties\":{");
    for (int i = 0; i < n; i++) {
        const char *hn, *hv;
        if (sl_record_header_at(rec, i, &hn, &hv) != SL_OK || !is_property(hn))
            continue;
        if (!first)
            sl_sb_putc(sb, ',');
        first = 0;
        json_str(sb, hn, strlen(hn));
        sl_sb_putc(sb, ':');
        json_str(sb, hv, strlen(hv));
    }
    sl_sb_putc(sb, '}');
    if (key) {
        sl_sb_puts(sb, ",\"key\":");
        json_str(sb, key, klen);
    }
    if (et)
        sl_sb_printf(sb, ",\"eventTime\":%lld", (long long)et);
    if (en->present) {
        sl_sb_puts(sb, ",\"encryptionCtx\":{\"keysMapBase64\":{");
        for (int i = 0; i < en->nkeys; i++) {
            if (i)
                sl_sb_putc(sb, ',');
            json_str(sb, en->keys[i].name, en->keys[i].nlen);
            sl_sb_putc(sb, ':');
            json_str(sb, en->keys[i].value, strlen(en->keys[i].value));
        }
        sl_sb_puts(sb, "},\"keysMetadataMap\":{");
        first = 1;
        for (int i = 0; i < en->nkeys; i++) {
            int any = 0;
            for (int m = 0; m < en->nmeta; m++) {
                if (en->meta[m].key != i)
                    continue;
                if (!any) {
                    if (!first)
                        sl_sb_putc(sb, ',');
                    first = 0;
                    json_str(sb, en->keys[i].name, en->keys[i].nlen);
                    sl_sb_puts(sb, ":{");
                } else {
                    sl_sb_putc(sb, ',');
                }
                any = 1;
                json_str(sb, en->meta[m].k, strlen(en->meta[m].k));
                sl_sb_putc(sb, ':');
                json_str(sb, en->meta[m].v, strlen(en->meta[m].v));
            }
            if (any)
                sl_sb_putc(sb, '}');
        }
        sl_sb_puts(sb, "},\"encParamBase64\":");
        json_str(sb, en->param ? en->param : "", en->param ? strlen(en->param) : 0);
        sl_sb_puts(sb, ",\"algorithm\":");
        if (en->algo)
            json_str(sb, en->algo, strlen(en->algo));
        else
            sl_sb_puts(sb, "null");
        if (en->compression) {
            char up[8];
            size_t i;
            for (i = 0; en->compression[i] && i < sizeof(up) - 1; i++)
                up[i] = (char)(en->compression[i] >= 'a' && en->compression[i] <= 'z'
                                   ? en->compression[i] - 32 : en->compression[i]);
            up[i] = '\0';
            sl_sb_printf(sb, ",\"compressionType\":\"%s\",\"uncompressedMessageSize\":%lld", up,
                         en->usize);
        }
        if (en->has_batch)
            sl_sb_printf(sb, ",\"batchSize\":%lld", en->batch);
        sl_sb_putc(sb, '}');
    }
    sl_sb_putc(sb, '}');
    return sb->oom ? SL_ERR_NOMEM : SL_OK;
}

/* ---- a FlatBuffer builder (filled from the end) --------------------------------------------- */

typedef uint32_t fb_off_t; /* a position as the distance from the buffer's end */

typedef struct fbb {
    uint8_t *buf;
    size_t cap, used;
    size_t minalign;
    int oom;
    fb_off_t slots[8]; /* fields of the table being built (0: absent) */
    int nslots;
    size_t table_start;
} fbb_t;

static uint8_t *fb_grow(fbb_t *b, size_t n) {
    if (b->oom)
        return NULL;
    if (b->used + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        uint8_t *nb;
        while (cap < b->used + n)
            cap *= 2;
        if (!(nb = malloc(cap))) {
            b->oom = 1;
            return NULL;
        }
        if (b->used)
            memcpy(nb + cap - b->used, b->buf + b->cap - b->used, b->used);
        free(b->buf);
        b->buf = nb;
        b->cap = cap;
    }
    b->used += n;
    return b->buf + b->cap - b->used;
}

/* Pads so that after `extra` more bytes the end distance is a multiple of align. */
static void fb_prep(fbb_t *b, size_t align, size_t extra) {
    size_t pad = (align - ((b->used + extra) % align)) % align;
    uint8_t *p;
    if (align > b->minalign)
        b->minalign = align;
    if (pad && (p = fb_grow(b, pad)))
        memset(p, 0, pad);
}

static void fb_u32(fbb_t *b, uint32_t v) {
    uint8_t *p;
    fb_prep(b, 4, 0);
    if ((p = fb_grow(b, 4)))
        for (int i = 0; i < 4; i++)
            p[i] = (uint8_t)(v >> (8 * i));
}

static void fb_u16(fbb_t *b, uint16_t v) {
    uint8_t *p;
    fb_prep(b, 2, 0);
    if ((p = fb_grow(b, 2))) {
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
    }
}

/* An offset to target, written here (pointing forward). */
static void fb_uoff(fbb_t *b, fb_off_t target) {
    fb_prep(b, 4, 0);
    fb_u32(b, (uint32_t)(b->used + 4 - target));
}

static fb_off_t fb_bytes(fbb_t *b, const void *data, size_t n, int nul) {
    uint8_t *p;
    fb_prep(b, 4, n + (size_t)nul);
    if (nul && (p = fb_grow(b, 1)))
        *p = 0;
    if (n && (p = fb_grow(b, n)))
        memcpy(p, data, n);
    fb_u32(b, (uint32_t)n);
    return (fb_off_t)b->used;
}

static fb_off_t fb_string(fbb_t *b, const char *s, size_t n) {
    sl_sb_t t = {0};
    fb_off_t off;
    put_text(&t, s, n, 0); /* strings must be UTF-8 */
    if (t.oom) {
        b->oom = 1;
        return 0;
    }
    off = fb_bytes(b, t.buf ? t.buf : "", t.len, 1);
    sl_sb_free(&t);
    return off;
}

static fb_off_t fb_b64_bytes(fbb_t *b, const char *b64) {
    size_t n = strlen(b64);
    uint8_t *raw = malloc(n / 4 * 3 + 1);
    ssize_t dlen = raw ? util_b64_decode(b64, n, raw, n / 4 * 3, 0) : -1;
    fb_off_t off;
    if (dlen < 0) {
        free(raw);
        b->oom = 1;
        return 0;
    }
    off = fb_bytes(b, raw, (size_t)dlen, 0);
    free(raw);
    return off;
}

static fb_off_t fb_offsets(fbb_t *b, const fb_off_t *offs, size_t n) {
    fb_prep(b, 4, 4 * n);
    for (size_t i = n; i-- > 0;)
        fb_uoff(b, offs[i]);
    fb_u32(b, (uint32_t)n);
    return (fb_off_t)b->used;
}

static void fb_start(fbb_t *b, int nfields) {
    memset(b->slots, 0, sizeof(b->slots));
    b->nslots = nfields;
    b->table_start = b->used;
}

static void fb_field_off(fbb_t *b, int id, fb_off_t target) {
    if (!target)
        return;
    fb_uoff(b, target);
    b->slots[id] = (fb_off_t)b->used;
}

static void fb_field_scalar(fbb_t *b, int id, const void *le, size_t size) {
    uint8_t *p;
    fb_prep(b, size, 0);
    if ((p = fb_grow(b, size)))
        memcpy(p, le, size);
    b->slots[id] = (fb_off_t)b->used;
}

static fb_off_t fb_end(fbb_t *b) {
    fb_off_t table, vt;
    int last = 0;
    size_t pos;
    fb_u32(b, 0); /* soffset to the vtable, patched below */
    table = (fb_off_t)b->used;
    for (int i = 0; i < b->nslots; i++)
        if (b->slots[i])
            last = i + 1;
    for (int i = last; i-- > 0;)
        fb_u16(b, b->slots[i] ? (uint16_t)(table - b->slots[i]) : 0);
    fb_u16(b, (uint16_t)(table - b->table_start));
    fb_u16(b, (uint16_t)(4 + 2 * last));
    vt = (fb_off_t)b->used;
    if (b->oom)
        return 0;
    pos = b->cap - table;
    {
        int32_t so = (int32_t)(vt - table);
        for (int i = 0; i < 4; i++)
            b->buf[pos + (size_t)i] = (uint8_t)((uint32_t)so >> (8 * i));
    }
    return table;
}

static fb_off_t fb_keyvalue(fbb_t *b, const char *k, const char *v) {
    fb_off_t ko = fb_string(b, k, strlen(k)), vo = fb_string(b, v, strlen(v));
    fb_start(b, 2);
    fb_field_off(b, 0, ko);
    fb_field_off(b, 1, vo);
    return fb_end(b);
}

static sl_err_t encode_fb(const sl_record_t *rec, const enc_t *en, fbb_t *b) {
    size_t len, klen;
    const void *data = sl_record_data(rec, &len);
    const char *key = sl_record_key(rec, &klen);
    int64_t et = sl_record_event_time(rec);
    int n = sl_record_header_count(rec), np = 0;
    fb_off_t *props = NULL, pvec = 0, ctx = 0, payload, kstr = 0;

    if (n > 0 && !(props = calloc((size_t)n, sizeof(*props))))
        return SL_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        const char *hn, *hv;
        if (sl_record_header_at(rec, i, &hn, &hv) == SL_OK && is_property(hn))
            props[np++] = fb_keyvalue(b, hn, hv);
    }
    if (np)
        pvec = fb_offsets(b, props, (size_t)np);
    free(props);
    if (en->present) {
        fb_off_t keys[MAX_KEYS], kvec, param, algo = 0;
        int8_t comp = 0;
        int32_t us = (int32_t)en->usize, bs = en->has_batch ? (int32_t)en->batch : 1;
        uint8_t isb = (uint8_t)en->has_batch;
        for (int i = 0; i < en->nkeys; i++) {
            fb_off_t meta[MAX_META], mvec = 0, kn, kvv;
            int nm = 0;
            kn = fb_string(b, en->keys[i].name, en->keys[i].nlen);
            kvv = fb_b64_bytes(b, en->keys[i].value);
            for (int m = 0; m < en->nmeta; m++)
                if (en->meta[m].key == i)
                    meta[nm++] = fb_keyvalue(b, en->meta[m].k, en->meta[m].v);
            if (nm)
                mvec = fb_offsets(b, meta, (size_t)nm);
            fb_start(b, 3);
            fb_field_off(b, 0, kn);
            fb_field_off(b, 1, kvv);
            fb_field_off(b, 2, mvec);
            keys[i] = fb_end(b);
        }
        kvec = fb_offsets(b, keys, (size_t)en->nkeys);
        param = en->param ? fb_b64_bytes(b, en->param) : fb_bytes(b, "", 0, 0);
        if (en->algo)
            algo = fb_string(b, en->algo, strlen(en->algo));
        if (en->compression && !strcasecmp(en->compression, "LZ4"))
            comp = 1;
        else if (en->compression && !strcasecmp(en->compression, "ZLIB"))
            comp = 2;
        fb_start(b, 7);
        /* Largest first, as builders do; the vtable records where each went. */
        fb_field_off(b, 0, kvec);
        fb_field_off(b, 1, param);
        fb_field_off(b, 2, algo);
        fb_field_scalar(b, 4, &us, 4);
        fb_field_scalar(b, 5, &bs, 4);
        fb_field_scalar(b, 3, &comp, 1);
        fb_field_scalar(b, 6, &isb, 1);
        ctx = fb_end(b);
    }
    payload = fb_bytes(b, data, len, 0);
    if (key)
        kstr = fb_string(b, key, klen);
    fb_start(b, 5);
    if (et) {
        uint8_t le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (uint8_t)((uint64_t)et >> (8 * i));
        fb_field_scalar(b, 4, le, 8);
    }
    fb_field_off(b, 0, ctx);
    fb_field_off(b, 1, pvec);
    fb_field_off(b, 2, payload);
    fb_field_off(b, 3, kstr);
    {
        fb_off_t root = fb_end(b);
        fb_prep(b, b->minalign > 4 ? b->minalign : 4, 4);
        fb_uoff(b, root);
    }
    return b->oom ? SL_ERR_NOMEM : SL_OK;
}

/* ---- entry points ------------------------------------------------------------------------------ */

sl_err_t kin_format_encode(kin_fmt_t fmt, const sl_record_t *rec, uint8_t **out, size_t *outlen,
                           char *errstr, size_t errlen) {
    enc_t en;
    sl_err_t err;

    *out = NULL;
    *outlen = 0;
    if (fmt != KIN_FMT_JSON && fmt != KIN_FMT_FB) {
        snprintf(errstr, errlen, "format %d is not FULL_MESSAGE_IN_JSON or FULL_MESSAGE_IN_FB",
                 (int)fmt);
        return SL_ERR_INVAL;
    }
    if ((err = enc_read(rec, &en, errstr, errlen)) != SL_OK)
        return err;
    if (fmt == KIN_FMT_JSON) {
        sl_sb_t sb = {0};
        if ((err = encode_json(rec, &en, &sb)) != SL_OK) {
            sl_sb_free(&sb);
            snprintf(errstr, errlen, "out of memory");
            return err;
        }
        *out = (uint8_t *)sb.buf;
        *outlen = sb.len;
        return SL_OK;
    }
    {
        fbb_t b;
        memset(&b, 0, sizeof(b));
        b.minalign = 1;
        if ((err = encode_fb(rec, &en, &b)) != SL_OK) {
            free(b.buf);
            snprintf(errstr, errlen, "out of memory");
            return err;
        }
        if (!(*out = malloc(b.used ? b.used : 1))) {
            free(b.buf);
            snprintf(errstr, errlen, "out of memory");
            return SL_ERR_NOMEM;
        }
        memcpy(*out, b.buf + b.cap - b.used, b.used);
        *outlen = b.used;
        free(b.buf);
        return SL_OK;
    }
}

int kin_format_parse(const char *s, kin_fmt_t *out) {
    static const char *const names[] = {"ONLY_RAW_PAYLOAD", "FULL_MESSAGE_IN_JSON",
                                        "FULL_MESSAGE_IN_FB"};
    for (int i = 0; i < 3; i++)
        if (s && !strcasecmp(s, names[i])) {
            *out = (kin_fmt_t)i;
            return 0;
        }
    return -1;
}
