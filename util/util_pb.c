/*
 * util_pb.c: the protobuf wire-format reader and writer declared in util_pb.h. The reader is a
 * bounds-checked cursor over borrowed bytes (no allocation, every length compared with what is
 * left before any pointer moves), so it can sit on a consumer's hot path and face untrusted
 * input; the writer appends keys and values to an sl_sb_t. Schema knowledge lives in the
 * callers (connectors/kinesis/kinesis_kpl.c, the Pulsar connector).
 */
#include "config.h"

#include <string.h>

#include "util_pb.h"

void sl_pb_reader_init(sl_pb_reader_t *rd, const void *buf, size_t len) {
    rd->p = buf;
    rd->end = buf ? rd->p + len : rd->p; /* no arithmetic on NULL, even + 0 */
}

int sl_pb_get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < SL_PB_VARINT_MAX; i++) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        /* The tenth byte holds only bit 63: anything more would overflow. */
        if (i == SL_PB_VARINT_MAX - 1 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            *pp = p;
            return 0;
        }
    }
    return -1;
}

static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int sl_pb_next(sl_pb_reader_t *rd, sl_pb_field_t *f) {
    const uint8_t *p = rd->p;
    uint64_t key, n;

    if (p >= rd->end)
        return 0;
    if (sl_pb_get_varint(&p, rd->end, &key) < 0)
        return -1;
    if ((key >> 3) == 0 || (key >> 3) > SL_PB_FIELD_MAX)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (sl_pb_wire_t)(key & 7);
    f->u64 = 0;
    f->data = NULL;
    f->len = 0;
    switch (key & 7) {
    case SL_PB_VARINT:
        if (sl_pb_get_varint(&p, rd->end, &f->u64) < 0)
            return -1;
        break;
    case SL_PB_I64:
        if ((size_t)(rd->end - p) < 8)
            return -1;
        f->u64 = get_le(p, 8);
        p += 8;
        break;
    case SL_PB_I32:
        if ((size_t)(rd->end - p) < 4)
            return -1;
        f->u64 = get_le(p, 4);
        p += 4;
        break;
    case SL_PB_LEN:
        if (sl_pb_get_varint(&p, rd->end, &n) < 0 || n > (uint64_t)(rd->end - p))
            return -1;
        f->data = p;
        f->len = (size_t)n;
        p += n;
        break;
    default: /* groups (3, 4) and the unused types 6, 7 */
        return -1;
    }
    rd->p = p;
    return 1;
}

size_t sl_pb_varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t sl_pb_encode_varint(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

size_t sl_pb_size_varint_field(uint32_t num, uint64_t v) {
    return sl_pb_varint_size((uint64_t)num << 3) + sl_pb_varint_size(v);
}

size_t sl_pb_size_len_field(uint32_t num, size_t len) {
    return sl_pb_varint_size((uint64_t)num << 3) + sl_pb_varint_size(len) + len;
}

void sl_pb_put_varint(sl_sb_t *sb, uint64_t v) {
    uint8_t buf[SL_PB_VARINT_MAX];
    sl_sb_append(sb, buf, sl_pb_encode_varint(buf, v));
}

void sl_pb_put_key(sl_sb_t *sb, uint32_t num, sl_pb_wire_t wire) {
    sl_pb_put_varint(sb, ((uint64_t)num << 3) | (uint64_t)wire);
}

void sl_pb_put_varint_field(sl_sb_t *sb, uint32_t num, uint64_t v) {
    sl_pb_put_key(sb, num, SL_PB_VARINT);
    sl_pb_put_varint(sb, v);
}

static void put_le(sl_sb_t *sb, uint64_t v, int n) {
    uint8_t buf[8];
    for (int i = 0; i < n; i++)
        buf[i] = (uint8_t)(v >> (8 * i));
    sl_sb_append(sb, buf, (size_t)n);
}

void sl_pb_put_fixed64_field(sl_sb_t *sb, uint32_t num, uint64_t v) {
    sl_pb_put_key(sb, num, SL_PB_I64);
    put_le(sb, v, 8);
}

void sl_pb_put_fixed32_field(sl_sb_t *sb, uint32_t num, uint32_t v) {
    sl_pb_put_key(sb, num, SL_PB_I32);
    put_le(sb, v, 4);
}

void sl_pb_put_len_field(sl_sb_t *sb, uint32_t num, const void *data, size_t len) {
    sl_pb_put_key(sb, num, SL_PB_LEN);
    sl_pb_put_varint(sb, len);
    sl_sb_append(sb, data, len);
}
