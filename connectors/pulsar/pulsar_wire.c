/*
 * pulsar_wire.c: frames, batches, codecs and names of the Pulsar binary protocol (see
 * pulsar_wire.h). Pure functions over bytes: the connection (pulsar_conn.c) frames what the
 * producer and consumer build here and hands back what it decoded here.
 *
 * Frame: [u32 total][u32 cmd size][BaseCommand], and for SEND/MESSAGE the payload part
 * [u16 0x0e01][u32 CRC32-C of the rest][u32 metadata size][MessageMetadata][payload], possibly
 * preceded on MESSAGE by [u16 0x0e02][u32 size][BrokerEntryMetadata]. All integers big-endian.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "pulsar_wire.h"

/* ---- CRC32-C ---------------------------------------------------------------------------------- */

static uint32_t crc_table[8][256];
static int crc_ready;
static int crc_hw = -1;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    crc_ready = 1;
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len) {
    if (!crc_ready)
        crc_init();
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc_x86(uint32_t crc, const uint8_t *p,
                                                          size_t len) {
    uint64_t c = crc;
    while (len && ((uintptr_t)p & 7)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

uint32_t pl_crc32c(uint32_t crc, const void *data, size_t len) {
    crc = ~crc;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (crc_hw < 0) {
        __builtin_cpu_init();
        crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    }
    if (crc_hw)
        return ~crc_x86(crc, data, len);
#else
    (void)crc_hw;
#endif
    return ~crc_sw(crc, data, len);
}

/* ---- frames ----------------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void pl_frame_cmd(sl_sb_t *sb, const pl_cmd_t *cmd) {
    size_t n = pulsar__proto__base_command__get_packed_size(cmd);
    uint8_t *p = (uint8_t *)sl_sb_room(sb, 8 + n);
    if (!p)
        return;
    put32(p, (uint32_t)(4 + n));
    put32(p + 4, (uint32_t)n);
    pulsar__proto__base_command__pack(cmd, p + 8);
    sb->len += 8 + n;
}

void pl_frame_payload(sl_sb_t *sb, const pl_cmd_t *cmd, const pl_meta_t *meta, const void *payload,
                      size_t len) {
    size_t n = pulsar__proto__base_command__get_packed_size(cmd);
    size_t m = pulsar__proto__message_metadata__get_packed_size(meta);
    size_t total = 8 + n + 2 + 4 + 4 + m + len;
    uint8_t *p = (uint8_t *)sl_sb_room(sb, total), *q;
    if (!p)
        return;
    put32(p, (uint32_t)(total - 4));
    put32(p + 4, (uint32_t)n);
    pulsar__proto__base_command__pack(cmd, p + 8);
    q = p + 8 + n;
    q[0] = PL_MAGIC_CRC32C >> 8;
    q[1] = PL_MAGIC_CRC32C & 0xff;
    put32(q + 6, (uint32_t)m);
    pulsar__proto__message_metadata__pack(meta, q + 10);
    if (len)
        memcpy(q + 10 + m, payload, len);
    put32(q + 2, pl_crc32c(0, q + 6, 4 + m + len));
    sb->len += total;
}

size_t pl_frame_size(const uint8_t *data, size_t len) {
    return len < 4 ? 0 : (size_t)get32(data) + 4;
}

int pl_frame_decode(const uint8_t *data, size_t len, size_t max_frame, pl_frame_t *f,
                    char *errstr, size_t errlen) {
    size_t total, cmdsz, pos;
    memset(f, 0, sizeof(*f));
    f->broker_ts = -1;
    if (len < 8) {
        sl_errf(errstr, errlen, "frame of %zu bytes is shorter than its header", len);
        return -1;
    }
    total = (size_t)get32(data) + 4;
    if (total != len || total > max_frame) {
        sl_errf(errstr, errlen, "frame size %zu (have %zu bytes, limit %zu)", total, len,
                max_frame);
        return -1;
    }
    cmdsz = get32(data + 4);
    if (cmdsz > total - 8) {
        sl_errf(errstr, errlen, "command size %zu exceeds the frame (%zu bytes)", cmdsz, total);
        return -1;
    }
    f->cmd = pulsar__proto__base_command__unpack(NULL, cmdsz, data + 8);
    if (!f->cmd) {
        sl_errf(errstr, errlen, "undecodable command (%zu bytes of protobuf)", cmdsz);
        return -1;
    }
    pos = 8 + cmdsz;
    if (pos == total)
        return 0;
    /* A payload part. Broker entry metadata first, when the broker adds it. */
    if (total - pos >= 6 && get32(data + pos) >> 16 == PL_MAGIC_BROKER_ENTRY) {
        size_t bsz = get32(data + pos + 2);
        Pulsar__Proto__BrokerEntryMetadata *bem;
        if (bsz > total - pos - 6) {
            sl_errf(errstr, errlen, "broker entry metadata size %zu exceeds the frame", bsz);
            goto fail;
        }
        bem = pulsar__proto__broker_entry_metadata__unpack(NULL, bsz, data + pos + 6);
        if (!bem) {
            sl_errf(errstr, errlen, "undecodable broker entry metadata");
            goto fail;
        }
        if (bem->has_broker_timestamp)
            f->broker_ts = (int64_t)bem->broker_timestamp;
        pulsar__proto__broker_entry_metadata__free_unpacked(bem, NULL);
        pos += 6 + bsz;
    }
    if (total - pos >= 2 && data[pos] == (PL_MAGIC_CRC32C >> 8) &&
        data[pos + 1] == (PL_MAGIC_CRC32C & 0xff)) {
        uint32_t want, got;
        if (total - pos < 6) {
            sl_errf(errstr, errlen, "payload part cut short after its magic");
            goto fail;
        }
        want = get32(data + pos + 2);
        pos += 6;
        got = pl_crc32c(0, data + pos, total - pos);
        if (want != got) {
            sl_errf(errstr, errlen, "checksum mismatch (frame says %08x, computed %08x)", want,
                    got);
            goto fail;
        }
    }
    if (total - pos < 4) {
        sl_errf(errstr, errlen, "payload part without a metadata size");
        goto fail;
    }
    {
        size_t msz = get32(data + pos);
        pos += 4;
        if (msz > total - pos) {
            sl_errf(errstr, errlen, "metadata size %zu exceeds the frame", msz);
            goto fail;
        }
        f->meta = pulsar__proto__message_metadata__unpack(NULL, msz, data + pos);
        if (!f->meta) {
            sl_errf(errstr, errlen, "undecodable message metadata (%zu bytes)", msz);
            goto fail;
        }
        pos += msz;
    }
    f->payload = data + pos;
    f->payload_len = total - pos;
    return 0;
fail:
    pl_frame_clear(f);
    return -1;
}

void pl_frame_clear(pl_frame_t *f) {
    if (f->cmd)
        pulsar__proto__base_command__free_unpacked(f->cmd, NULL);
    if (f->meta)
        pulsar__proto__message_metadata__free_unpacked(f->meta, NULL);
    f->cmd = NULL;
    f->meta = NULL;
}

/* ---- batches ---------------------------------------------------------------------------------- */

void pl_batch_add(sl_sb_t *sb, const Pulsar__Proto__SingleMessageMetadata *smm, const void *payload,
                  size_t len) {
    size_t n = pulsar__proto__single_message_metadata__get_packed_size(smm);
    uint8_t *p = (uint8_t *)sl_sb_room(sb, 4 + n + len);
    if (!p)
        return;
    put32(p, (uint32_t)n);
    pulsar__proto__single_message_metadata__pack(smm, p + 4);
    if (len)
        memcpy(p + 4 + n, payload, len);
    sb->len += 4 + n + len;
}

int pl_batch_next(const uint8_t *body, size_t len, size_t *pos,
                  Pulsar__Proto__SingleMessageMetadata **smm, const uint8_t **payload,
                  size_t *plen, char *errstr, size_t errlen) {
    size_t p = *pos, n;
    *smm = NULL;
    if (p == len)
        return 0;
    if (len - p < 4) {
        sl_errf(errstr, errlen, "batch cut short at byte %zu", p);
        return -1;
    }
    n = get32(body + p);
    p += 4;
    if (n > len - p) {
        sl_errf(errstr, errlen, "single message metadata size %zu exceeds the batch", n);
        return -1;
    }
    *smm = pulsar__proto__single_message_metadata__unpack(NULL, n, body + p);
    if (!*smm) {
        sl_errf(errstr, errlen, "undecodable single message metadata at byte %zu", p);
        return -1;
    }
    p += n;
    if ((*smm)->payload_size < 0 || (size_t)(*smm)->payload_size > len - p) {
        sl_errf(errstr, errlen, "single message payload size %d exceeds the batch",
                (int)(*smm)->payload_size);
        pulsar__proto__single_message_metadata__free_unpacked(*smm, NULL);
        *smm = NULL;
        return -1;
    }
    *payload = body + p;
    *plen = (size_t)(*smm)->payload_size;
    *pos = p + *plen;
    return 1;
}

/* ---- compression ------------------------------------------------------------------------------ */

const char *pl_compression_name(int type) {
    switch (type) {
    case PULSAR__PROTO__COMPRESSION_TYPE__NONE: return "NONE";
    case PULSAR__PROTO__COMPRESSION_TYPE__LZ4: return "LZ4";
    case PULSAR__PROTO__COMPRESSION_TYPE__ZLIB: return "ZLIB";
    case PULSAR__PROTO__COMPRESSION_TYPE__ZSTD: return "ZSTD";
    case PULSAR__PROTO__COMPRESSION_TYPE__SNAPPY: return "SNAPPY";
    default: return "unknown";
    }
}

int pl_compress(int type, const void *in, size_t len, sl_sb_t *out) {
    size_t cap;
    char *p;
    sl_sb_reset(out);
    switch (type) {
    case PULSAR__PROTO__COMPRESSION_TYPE__NONE:
        sl_sb_append(out, in, len);
        return out->oom ? -1 : 0;
    case PULSAR__PROTO__COMPRESSION_TYPE__LZ4: {
        int r;
        if (len > (size_t)LZ4_MAX_INPUT_SIZE)
            return -1;
        cap = (size_t)LZ4_compressBound((int)len);
        if (!(p = sl_sb_room(out, cap)))
            return -1;
        r = LZ4_compress_default(in, p, (int)len, (int)cap);
        if (r <= 0)
            return -1;
        out->len = (size_t)r;
        return 0;
    }
    case PULSAR__PROTO__COMPRESSION_TYPE__ZLIB: {
        uLongf n = compressBound((uLong)len);
        if (!(p = sl_sb_room(out, n)))
            return -1;
        if (compress2((Bytef *)p, &n, in, (uLong)len, Z_DEFAULT_COMPRESSION) != Z_OK)
            return -1;
        out->len = n;
        return 0;
    }
    case PULSAR__PROTO__COMPRESSION_TYPE__ZSTD: {
        size_t r;
        cap = ZSTD_compressBound(len);
        if (!(p = sl_sb_room(out, cap)))
            return -1;
        r = ZSTD_compress(p, cap, in, len, 3);
        if (ZSTD_isError(r))
            return -1;
        out->len = r;
        return 0;
    }
    case PULSAR__PROTO__COMPRESSION_TYPE__SNAPPY: {
        cap = snappy_max_compressed_length(len);
        if (!(p = sl_sb_room(out, cap)))
            return -1;
        if (snappy_compress(in, len, p, &cap) != SNAPPY_OK)
            return -1;
        out->len = cap;
        return 0;
    }
    default:
        return -1;
    }
}

int pl_decompress(int type, const void *in, size_t len, size_t uncompressed, sl_sb_t *out,
                  char *errstr, size_t errlen) {
    char *p;
    sl_sb_reset(out);
    if (!(p = sl_sb_room(out, uncompressed ? uncompressed : 1))) {
        sl_errf(errstr, errlen, "out of memory for %zu uncompressed bytes", uncompressed);
        return -1;
    }
    switch (type) {
    case PULSAR__PROTO__COMPRESSION_TYPE__NONE:
        if (len != uncompressed)
            goto size;
        memcpy(p, in, len);
        break;
    case PULSAR__PROTO__COMPRESSION_TYPE__LZ4: {
        int r;
        if (len > (size_t)INT32_MAX || uncompressed > (size_t)INT32_MAX)
            goto size;
        r = LZ4_decompress_safe(in, p, (int)len, (int)uncompressed);
        if (r < 0 || (size_t)r != uncompressed)
            goto bad;
        break;
    }
    case PULSAR__PROTO__COMPRESSION_TYPE__ZLIB: {
        uLongf n = (uLongf)uncompressed;
        if (uncompress((Bytef *)p, &n, in, (uLong)len) != Z_OK || n != uncompressed)
            goto bad;
        break;
    }
    case PULSAR__PROTO__COMPRESSION_TYPE__ZSTD: {
        size_t r = ZSTD_decompress(p, uncompressed, in, len);
        if (ZSTD_isError(r) || r != uncompressed)
            goto bad;
        break;
    }
    case PULSAR__PROTO__COMPRESSION_TYPE__SNAPPY: {
        size_t n = 0;
        if (snappy_uncompressed_length(in, len, &n) != SNAPPY_OK || n != uncompressed)
            goto bad;
        if (snappy_uncompress(in, len, p, &n) != SNAPPY_OK || n != uncompressed)
            goto bad;
        break;
    }
    default:
        sl_errf(errstr, errlen, "unknown compression type %d", type);
        return -1;
    }
    out->len = uncompressed;
    return 0;
size:
    sl_errf(errstr, errlen, "%s body of %zu bytes does not match uncompressed_size %zu",
            pl_compression_name(type), len, uncompressed);
    return -1;
bad:
    sl_errf(errstr, errlen, "%s body of %zu bytes does not decompress to %zu bytes",
            pl_compression_name(type), len, uncompressed);
    return -1;
}

/* ---- names ------------------------------------------------------------------------------------ */

static int valid_part(const char *s, size_t n) {
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || (unsigned char)s[i] < 0x20)
            return 0;
    return 1;
}

char *pl_topic_full(const char *topic, char *errstr, size_t errlen) {
    const char *rest = topic, *domain = "persistent";
    int slashes = 0;
    sl_sb_t sb = {0};
    if (!strncmp(topic, "persistent://", 13)) {
        rest = topic + 13;
    } else if (!strncmp(topic, "non-persistent://", 17)) {
        rest = topic + 17;
        domain = "non-persistent";
    } else if (strstr(topic, "://")) {
        sl_errf(errstr, errlen, "topic '%s': the domain must be persistent:// or "
                "non-persistent://", topic);
        return NULL;
    }
    for (const char *p = rest; *p; p++)
        slashes += *p == '/';
    if (rest != topic ? (slashes != 2 && slashes != 3) : (slashes != 0 && slashes != 2)) {
        sl_errf(errstr, errlen, "topic '%s': expected persistent://tenant/namespace/topic, "
                "tenant/namespace/topic or a short name", topic);
        return NULL;
    }
    for (const char *p = rest;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!valid_part(p, n)) {
            sl_errf(errstr, errlen, "topic '%s': empty or invalid name part", topic);
            return NULL;
        }
        if (!e)
            break;
        p = e + 1;
    }
    if (slashes == 0)
        sl_sb_printf(&sb, "%s://public/default/%s", domain, rest);
    else
        sl_sb_printf(&sb, "%s://%s", domain, rest);
    if (sb.oom) {
        sl_sb_free(&sb);
        sl_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    return sb.buf;
}

char *pl_topic_partition(const char *topic, int i) {
    sl_sb_t sb = {0};
    sl_sb_printf(&sb, "%s-partition-%d", topic, i);
    if (sb.oom) {
        sl_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}

int pl_url_parse(const char *url, pl_url_t *u, char *errstr, size_t errlen) {
    const char *p;
    int defport;
    memset(u, 0, sizeof(*u));
    if (!strncmp(url, "pulsar://", 9)) {
        p = url + 9;
        defport = 6650;
    } else if (!strncmp(url, "pulsar+ssl://", 13)) {
        p = url + 13;
        defport = 6651;
        u->tls = 1;
    } else {
        sl_errf(errstr, errlen, "service URL '%s': must start with pulsar:// or pulsar+ssl://",
                url);
        return -1;
    }
    while (*p) {
        const char *e = p + strcspn(p, ",/"), *colon = NULL, *h = p, *he;
        long port = defport;
        char **nh;
        int *np;
        if (*h == '[') { /* [v6]:port */
            he = memchr(h, ']', (size_t)(e - h));
            if (!he)
                goto bad;
            h++;
            colon = he + 1 < e && he[1] == ':' ? he + 1 : NULL;
        } else {
            colon = memchr(h, ':', (size_t)(e - h));
            he = colon ? colon : e;
        }
        if (he == h)
            goto bad;
        if (colon) {
            char *end;
            port = strtol(colon + 1, &end, 10);
            if (end != e || port < 1 || port > 65535)
                goto bad;
        }
        nh = realloc(u->hosts, sizeof(*nh) * (size_t)(u->n + 1));
        if (!nh)
            goto oom;
        u->hosts = nh;
        np = realloc(u->ports, sizeof(*np) * (size_t)(u->n + 1));
        if (!np)
            goto oom;
        u->ports = np;
        if (!(u->hosts[u->n] = sl_strndup(h, (size_t)(he - h))))
            goto oom;
        u->ports[u->n++] = (int)port;
        if (*e == ',')
            p = e + 1;
        else if (*e == '/' && !e[1])
            break;
        else if (*e)
            goto bad;
        else
            p = e;
    }
    if (!u->n)
        goto bad;
    return 0;
bad:
    sl_errf(errstr, errlen, "service URL '%s': expected pulsar://host:port[,host:port...]", url);
    pl_url_clear(u);
    return -1;
oom:
    sl_errf(errstr, errlen, "out of memory");
    pl_url_clear(u);
    return -1;
}

void pl_url_clear(pl_url_t *u) {
    for (int i = 0; i < u->n; i++)
        free(u->hosts[i]);
    free(u->hosts);
    free(u->ports);
    memset(u, 0, sizeof(*u));
}
