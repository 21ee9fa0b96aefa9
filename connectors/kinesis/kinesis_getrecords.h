/*
 * kinesis_getrecords.h: a parsed GetRecords answer (kin_records_t) and its two parsers
 * (kinesis_getrecords.c): the jansson reference and the hot-path scanner. DynamoDB Streams
 * answers parse into the same kin_records_t (kinesis_ddb.c). Pure functions, any thread.
 */

#ifndef SL_KINESIS_GETRECORDS_H
#define SL_KINESIS_GETRECORDS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kinesis_shards.h"
#include "sluice/record.h"

/* One record of a GetRecords answer, pointing into kin_records_t's decoded data. */
typedef struct kin_record {
    const char *seq;          /* SequenceNumber */
    const char *pk;           /* PartitionKey */
    size_t pklen;
    size_t off, len;          /* the decoded Data in kin_records_t.buf */
    int64_t arrival_ms;       /* ApproximateArrivalTimestamp (ms) */
    const char *encryption;   /* EncryptionType ("KMS") or NULL */
    const char *event_name;   /* DynamoDB Streams: eventName (INSERT, MODIFY, REMOVE) */
} kin_record_t;

/* A parsed GetRecords answer. buf holds every record's decoded Data back to back (one
 * allocation, shared with the records delivered from it). */
typedef struct kin_records {
    kin_record_t *recs;
    size_t n;
    sl_buf_t *buf;            /* one reference owned here */
    char *next_iterator;      /* NULL: the shard is closed and fully read */
    int64_t millis_behind;    /* -1 when absent */
    kin_shard_info_t *children; /* ChildShards (id, parents, hash range), NULL when absent */
    size_t n_children;
    char *strings;            /* storage of seq/pk/encryption strings */
} kin_records_t;

void kin_records_free(kin_records_t *r); /* members, not r; accepts NULL */

/* Parses a GetRecords result object (borrowed) strictly into *out (zeroed first): every field
 * with its JSON type, Data valid base64. SL_ERR_INVAL with errstr naming the record and field. */
sl_err_t kin_parse_get_records(const json_t *res, kin_records_t *out, char *errstr,
                               size_t errlen);

/* The same for the answer's bytes body[0..len) (borrowed; any bytes, no NUL needed), without a
 * JSON document: accepts exactly what json_loadb() accepts (else SL_ERR_INVAL, "malformed JSON
 * at byte N: ...") and otherwise gives kin_parse_get_records()'s result, field for field and
 * message for message. The GetRecords hot path (kinesis_shard.c). */
sl_err_t kin_scan_get_records(const char *body, size_t len, kin_records_t *out, char *errstr,
                              size_t errlen);

#endif
