/*
 * kinesis_format.h: the message formats of the Kinesis sink (`messageFormat`, Pulsar's names).
 * ONLY_RAW_PAYLOAD writes a record's payload as it is (no encoding here). FULL_MESSAGE_IN_JSON
 * and FULL_MESSAGE_IN_FB write what Apache Pulsar's Kinesis sink writes (its Utils.java and
 * KinesisMessageApi.fbs), so readers built for Pulsar's output read sluice's:
 *
 *   JSON  {"payloadBase64": base64 of the payload,
 *          "properties": {header: value, ...}            (always, maybe empty),
 *          "key": the record key, "eventTime": ms         (sluice's additions, when present),
 *          "encryptionCtx": {"keysMapBase64": {name: base64}, "keysMetadataMap": {name: {k: v}},
 *                            "encParamBase64": ..., "algorithm": ...,
 *                            "compressionType": ..., "uncompressedMessageSize": n,
 *                            "batchSize": n}             (when the record carries one)}
 *   FB    table Message {encryptionCtx, properties:[KeyValue], payload:[byte], key, eventTime}
 *         of connectors/kinesis/kinesis_message.fbs (Pulsar's schema plus key and eventTime,
 *         which readers of Pulsar's schema skip).
 *
 * Strings that are not valid UTF-8 (keys, header names and values) are written with each bad
 * byte replaced by U+FFFD, as Java's decoding of those bytes would; the payload is always
 * base64 (JSON) or bytes (FB), never altered.
 *
 * The encryption context of a record (Pulsar's EncryptionContext of an encrypted message, which a
 * Pulsar consumer hands on) travels in headers, all optional, and is present when any is:
 *   pulsar.encryption.algorithm           the algorithm name
 *   pulsar.encryption.param               base64 of the encryption parameter (IV)
 *   pulsar.encryption.compression         NONE, LZ4, ZLIB, ZSTD or SNAPPY (FB has only the first
 *                                         three, others are written as NONE, as Pulsar does)
 *   pulsar.encryption.uncompressed-size   decimal
 *   pulsar.encryption.batch-size          decimal (FB: isBatchMessage true when set)
 *   pulsar.encryption.key.<name>          base64 of the encrypted data key <name>
 *   pulsar.encryption.key.<name>.meta.<k> metadata <k> of that key
 * These headers are not written as properties.
 */
#ifndef SL_KINESIS_FORMAT_H
#define SL_KINESIS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/record.h"
#include "util_str.h"

typedef enum {
    KIN_FMT_RAW = 0,  /* ONLY_RAW_PAYLOAD */
    KIN_FMT_JSON = 1, /* FULL_MESSAGE_IN_JSON */
    KIN_FMT_FB = 2,   /* FULL_MESSAGE_IN_FB */
} kin_fmt_t;

#define KIN_ENC_HEADER_PREFIX "pulsar.encryption."

/* Encodes rec (borrowed) in fmt (KIN_FMT_JSON or KIN_FMT_FB) into a new buffer: *out (malloc'd,
 * caller frees) of *outlen bytes. SL_OK; SL_ERR_NOMEM; SL_ERR_INVAL with errstr naming the header
 * that is wrong (bad base64, a size that is not a number, an unknown compression) or the format
 * that is not one of the two. */
sl_err_t kin_format_encode(kin_fmt_t fmt, const sl_record_t *rec, uint8_t **out, size_t *outlen,
                           char *errstr, size_t errlen);

/* Parses Pulsar's format name (case-insensitive) into *out: 0, or -1 for anything else. */
int kin_format_parse(const char *s, kin_fmt_t *out);

#endif
