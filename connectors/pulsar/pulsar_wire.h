/*
 * pulsar_wire.h: the bytes of the Pulsar binary protocol, with no I/O: frames (simple and
 * payload commands, CRC32-C), batches of single messages, the four compression codecs, topic
 * names and service URLs. pulsar_conn.c moves these frames over sockets; the producer and the
 * consumer build and read them here. Every parser of broker bytes is fuzzed
 * (tests/fuzz/fuzz_pulsar_frame.c).
 */
#ifndef SL_PULSAR_WIRE_H
#define SL_PULSAR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "pulsar_api.pb-c.h"
#include "util_str.h"

typedef Pulsar__Proto__BaseCommand pl_cmd_t;
typedef Pulsar__Proto__MessageMetadata pl_meta_t;

#define PL_MAGIC_CRC32C 0x0e01
#define PL_MAGIC_BROKER_ENTRY 0x0e02
/* Largest frame before CONNECTED says otherwise (the broker default, 5 MiB), and the frame
 * header room on top of maxMessageSize. */
#define PL_DEFAULT_MAX_MESSAGE 5242880
#define PL_FRAME_OVERHEAD 10240
/* The protocol version sluice announces (v20: topic migration). */
#define PL_PROTOCOL_VERSION 20

/* CRC32-C (Castagnoli) of data, continuing from crc (0 to start). SSE4.2 when the CPU has it. */
uint32_t pl_crc32c(uint32_t crc, const void *data, size_t len);

/* Appends the frame of a command without payload to sb. */
void pl_frame_cmd(sl_sb_t *sb, const pl_cmd_t *cmd);
/* Appends the frame of a payload command (SEND): command, magic, CRC32-C, metadata, payload. */
void pl_frame_payload(sl_sb_t *sb, const pl_cmd_t *cmd, const pl_meta_t *meta, const void *payload,
                      size_t len);

/* One decoded frame. cmd and meta are unpacked with protobuf-c (free with pl_frame_clear());
 * payload points into the frame's bytes. */
typedef struct pl_frame {
    pl_cmd_t *cmd;
    pl_meta_t *meta;           /* payload commands only */
    const uint8_t *payload;
    size_t payload_len;
    int64_t broker_ts;         /* broker entry metadata timestamp (-1: none) */
} pl_frame_t;

/* The total size of the frame starting at data when at least 4 bytes are there (the 4-byte
 * length included), or 0 when fewer. */
size_t pl_frame_size(const uint8_t *data, size_t len);
/* Decodes one whole frame data[0..len) (as pl_frame_size() measured it). max_frame bounds its
 * size. Returns 0, or -1 with errstr saying what is wrong (sizes, protobuf, checksum). */
int pl_frame_decode(const uint8_t *data, size_t len, size_t max_frame, pl_frame_t *f,
                    char *errstr, size_t errlen);
void pl_frame_clear(pl_frame_t *f);

/* --- batches ---------------------------------------------------------------------------------- */

/* Appends one single message ([u32 size][SingleMessageMetadata][payload]) to a batch body. */
void pl_batch_add(sl_sb_t *sb, const Pulsar__Proto__SingleMessageMetadata *smm, const void *payload,
                  size_t len);
/* Reads the next single message of a batch body at *pos; smm must be freed with
 * pulsar__proto__single_message_metadata__free_unpacked(). Returns 1 with a message, 0 at the
 * end, -1 on malformed bytes (errstr). */
int pl_batch_next(const uint8_t *body, size_t len, size_t *pos,
                  Pulsar__Proto__SingleMessageMetadata **smm, const uint8_t **payload,
                  size_t *plen, char *errstr, size_t errlen);

/* --- compression ------------------------------------------------------------------------------ */

/* "NONE", "LZ4", "ZLIB", "ZSTD", "SNAPPY" for a Pulsar__Proto__CompressionType. */
const char *pl_compression_name(int type);
/* Compresses in[0..len) the way the Java client does (LZ4 block, zlib stream, zstd frame at level
 * 3, raw snappy) and replaces out's contents. Returns 0 or -1 (out of memory). */
int pl_compress(int type, const void *in, size_t len, sl_sb_t *out);
/* Decompresses exactly uncompressed bytes. Returns 0, or -1 with errstr. */
int pl_decompress(int type, const void *in, size_t len, size_t uncompressed, sl_sb_t *out,
                  char *errstr, size_t errlen);

/* --- names ------------------------------------------------------------------------------------ */

/* The fully qualified name of a topic: "persistent://tenant/ns/t" as given (also
 * non-persistent:// and the 4-part v1 form), "tenant/ns/t" and "t" (in public/default) completed.
 * Returns a heap string, or NULL with errstr. */
char *pl_topic_full(const char *topic, char *errstr, size_t errlen);
/* "<topic>-partition-<i>" (heap). */
char *pl_topic_partition(const char *topic, int i);

/* A service URL: pulsar://host[:port][,host[:port]...] or pulsar+ssl://... (default ports 6650
 * and 6651). */
typedef struct pl_url {
    int tls;
    int n;
    char **hosts;
    int *ports;
} pl_url_t;
int pl_url_parse(const char *url, pl_url_t *u, char *errstr, size_t errlen);
void pl_url_clear(pl_url_t *u);

#endif
