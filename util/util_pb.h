/*
 * util_pb.h: a small, generic reader and writer for the protobuf wire format (varint, 64-bit,
 * length-delimited and 32-bit fields). It knows no schema and nothing about streams: connectors
 * that speak protobuf-framed formats (Kinesis KPL aggregates, Pulsar commands) walk fields with
 * the reader, which points into the caller's buffer, never allocates and checks every length
 * against the end of the buffer, and build messages with the writer on top of sl_sb_t.
 */
#ifndef SL_UTIL_PB_H
#define SL_UTIL_PB_H

#include <stddef.h>
#include <stdint.h>

#include "util_str.h"

/* Wire types. Groups (3 and 4) are deprecated and rejected by the reader as malformed. */
typedef enum sl_pb_wire {
    SL_PB_VARINT = 0,
    SL_PB_I64 = 1,
    SL_PB_LEN = 2,
    SL_PB_I32 = 5,
} sl_pb_wire_t;

#define SL_PB_VARINT_MAX 10 /* bytes in the longest varint (a 64-bit value) */
#define SL_PB_FIELD_MAX 536870911u /* 2^29 - 1, the largest field number */

/* A cursor over a message: a borrowed buffer, valid while the reader is used. */
typedef struct sl_pb_reader {
    const uint8_t *p, *end;
} sl_pb_reader_t;

/* One field as read. For SL_PB_VARINT, SL_PB_I64 and SL_PB_I32, .u64 holds the value (the
 * 32/64-bit ones little-endian decoded, zero-extended); for SL_PB_LEN, .data/.len point into
 * the reader's buffer (borrowed, valid as long as that buffer). */
typedef struct sl_pb_field {
    uint32_t num;
    sl_pb_wire_t wire;
    uint64_t u64;
    const uint8_t *data;
    size_t len;
} sl_pb_field_t;

/* Starts reading buf[0..len): borrowed, must outlive the reader. */
void sl_pb_reader_init(sl_pb_reader_t *rd, const void *buf, size_t len);

/* Reads the next field. Returns 1 with *f filled, 0 at the end of the buffer, -1 when the
 * bytes are malformed: a varint longer than 10 bytes or overflowing 64 bits, field number 0
 * or above 2^29-1, a group or unknown wire type, or a value running past the end. After -1
 * the reader is left where it was. Unknown fields need no special call: read and ignore. */
int sl_pb_next(sl_pb_reader_t *rd, sl_pb_field_t *f);

/* Decodes one varint from [*p, end) and advances *p. Returns 0, or -1 (too long, overflowing
 * or truncated; *p unchanged). */
int sl_pb_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* ---- writer: appends to an sl_sb_t (which records allocation failure in .oom) ---------------- */

/* Bytes the varint encoding of v takes (1..10). */
size_t sl_pb_varint_size(uint64_t v);
/* Encodes v into out (at least SL_PB_VARINT_MAX bytes); returns the bytes written. */
size_t sl_pb_encode_varint(uint8_t *out, uint64_t v);
/* Bytes a whole field takes: key + value. */
size_t sl_pb_size_varint_field(uint32_t num, uint64_t v);
size_t sl_pb_size_len_field(uint32_t num, size_t len);

void sl_pb_put_varint(sl_sb_t *sb, uint64_t v);
void sl_pb_put_key(sl_sb_t *sb, uint32_t num, sl_pb_wire_t wire);
void sl_pb_put_varint_field(sl_sb_t *sb, uint32_t num, uint64_t v);
void sl_pb_put_fixed64_field(sl_sb_t *sb, uint32_t num, uint64_t v);
void sl_pb_put_fixed32_field(sl_sb_t *sb, uint32_t num, uint32_t v);
/* A length-delimited field (bytes, string or an already-encoded sub-message). */
void sl_pb_put_len_field(sl_sb_t *sb, uint32_t num, const void *data, size_t len);

#endif
