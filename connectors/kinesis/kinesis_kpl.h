/*
 * kinesis_kpl.h: the KPL aggregation format (awslabs/amazon-kinesis-producer,
 * aggregation-format.md) for the Kinesis connector. On the consumer side every record read from
 * a shard goes through the de-aggregator, which tells an aggregate (magic F3 89 9A C2, protobuf
 * AggregatedRecord, MD5 of the protobuf) from a plain record and yields its user records with
 * their sub-sequence numbers, pointing into the record's bytes; after a shard split it drops
 * aggregates holding hash keys outside the shard's range the way the KCL does. On the producer
 * side the aggregator packs user records into one Kinesis record within Kinesis' size limits.
 *
 * 128-bit hash keys are two uint64_t halves and all arithmetic on them (decimal parsing and
 * formatting, comparison) is done on 32-bit limbs, so nothing depends on __int128.
 */
#ifndef SL_KINESIS_KPL_H
#define SL_KINESIS_KPL_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/common.h"

#define KPL_MAGIC_LEN 4
#define KPL_DIGEST_LEN 16
/* Kinesis' limit for one record: data + partition key. */
#define KPL_MAX_RECORD_BYTES (1024 * 1024)
/* Room for the decimal form of any 128-bit value (39 digits) and the NUL. */
#define KPL_HASH_STR_MAX 40

extern const uint8_t kpl_magic[KPL_MAGIC_LEN];

/* ---- 128-bit hash keys -------------------------------------------------------------------- */

typedef struct kpl_hash {
    uint64_t hi, lo;
} kpl_hash_t;

/* Parses a decimal hash key s[0..len) (an optional '+', then digits; leading zeros allowed).
 * Returns 0 when it fits in 128 bits, 1 when it is larger than 2^128-1 (*out then holds
 * 2^128-1), -1 when it is not a decimal number (empty, a sign alone, other characters), and
 * -2 for a negative number (*out then holds 0): callers comparing with a range treat 1 and -2
 * as above and below every range, as Java's BigInteger would. */
int kpl_hash_parse(const char *s, size_t len, kpl_hash_t *out);
/* Writes the decimal form of h (no leading zeros) into out[KPL_HASH_STR_MAX]. */
void kpl_hash_format(const kpl_hash_t *h, char *out);
/* -1, 0, 1 as a < b, a == b, a > b. */
int kpl_hash_cmp(const kpl_hash_t *a, const kpl_hash_t *b);
/* The hash key Kinesis uses for a partition key: MD5 of its bytes as a big-endian 128-bit
 * unsigned integer. Returns 0, or -1 when MD5 is unavailable. */
int kpl_hash_of_pk(const char *pk, size_t len, kpl_hash_t *out);

/* A shard's hash key range, both ends inclusive. */
typedef struct kpl_range {
    kpl_hash_t start, end;
} kpl_range_t;

/* Parses a shard's StartingHashKey and EndingHashKey (NUL-terminated decimal strings up to
 * 2^128-1). Returns SL_OK, or SL_ERR_INVAL for a malformed or out-of-range value or start > end. */
sl_err_t kpl_range_parse(const char *start, const char *end, kpl_range_t *out);

/* ---- de-aggregation ----------------------------------------------------------------------- */

/* One user record. Every pointer is borrowed from the input given to kpl_deagg_load() (or
 * from its pk/ehk arguments for a plain record) and valid as long as that input; strings are
 * NOT NUL-terminated. */
typedef struct kpl_subrec {
    const uint8_t *data;
    size_t data_len;
    const char *pk;
    size_t pk_len;
    const char *ehk; /* NULL when the record has no explicit hash key */
    size_t ehk_len;
    uint64_t subseq;    /* 0..n-1 within the aggregate; 0 for a plain record */
    int aggregated;     /* 1 when it came out of an aggregate */
} kpl_subrec_t;

/* A reusable de-aggregator: one per shard consumer. It keeps its table scratch space and an
 * MD5 context between records, so de-aggregating allocates nothing per sub-record (and, once
 * warmed up, nothing per record). Not thread-safe; use one per thread. */
typedef struct kpl_deagg kpl_deagg_t;

/* Caller frees with kpl_deagg_destroy(). NULL when out of memory or MD5 is unavailable. */
kpl_deagg_t *kpl_deagg_new(void);
/* Accepts NULL. */
void kpl_deagg_destroy(kpl_deagg_t *da);

/* Examines one Kinesis record: data[0..len), its partition key pk and explicit hash key ehk
 * (NUL-terminated; ehk may be NULL), all borrowed until the next load or destroy. range, when
 * not NULL, is the shard's hash key range (copied): an aggregate holding any sub-record whose
 * hash key (its explicit hash key, else MD5 of its partition key) lies outside it is dropped
 * whole, as the KCL does (the KPL re-sends every user record of an aggregate that landed on the
 * wrong shard, so all of them are duplicates). Plain records are never filtered.
 * Anything that is not a well-formed aggregate (no magic, too short, MD5 mismatch, malformed
 * protobuf, a required field missing, a table index out of range, a non-numeric explicit hash
 * key while filtering) is a plain record: the iterator yields it once, unchanged, and
 * kpl_deagg_reason() says why. Returns SL_OK, or SL_ERR_NOMEM (nothing to iterate). */
sl_err_t kpl_deagg_load(kpl_deagg_t *da, const void *data, size_t len, const char *pk,
                        const char *ehk, const kpl_range_t *range);

/* 1 when the loaded record is a well-formed aggregate (even an empty or dropped one). */
int kpl_deagg_aggregated(const kpl_deagg_t *da);
/* 1 when the range filter dropped the whole aggregate. */
int kpl_deagg_dropped(const kpl_deagg_t *da);
/* How many records the iterator yields in all (1 for a plain record, 0 when dropped). */
uint64_t kpl_deagg_count(const kpl_deagg_t *da);
/* Why the record is plain or was dropped, for a debug log; "" for a kept aggregate. Static. */
const char *kpl_deagg_reason(const kpl_deagg_t *da);

/* Yields the next record into *out (pointers borrowed, see kpl_subrec_t). Returns 1, or 0
 * when there are no more. */
int kpl_deagg_next(kpl_deagg_t *da, kpl_subrec_t *out);

/* ---- aggregation -------------------------------------------------------------------------- */

typedef struct kpl_agg kpl_agg_t;

/* One Kinesis record ready for PutRecord(s). data and pk are malloc'd: caller frees with
 * kpl_agg_out_free(). */
typedef struct kpl_agg_out {
    uint8_t *data;
    size_t len;
    char *pk;                      /* the first user record's partition key */
    char ehk[KPL_HASH_STR_MAX]; /* the first user record's hash key in decimal */
    size_t count;                  /* user records inside */
    int aggregated;                /* 0 when a single record went out as is (raw_single) */
} kpl_agg_out_t;

/* Frees out's buffers and zeroes it; accepts NULL and a zeroed struct. */
void kpl_agg_out_free(kpl_agg_out_t *out);

/* An aggregator. max_bytes bounds data + partition key of the Kinesis record it produces
 * (0 or anything above KPL_MAX_RECORD_BYTES means KPL_MAX_RECORD_BYTES); max_records
 * bounds the user records per aggregate (0: no bound). With raw_single, an aggregate of one
 * user record is sent as that record itself (data, partition key, explicit hash key), as the
 * KPL does. Caller frees with kpl_agg_destroy(); NULL when out of memory. */
kpl_agg_t *kpl_agg_new(size_t max_bytes, size_t max_records, int raw_single);
/* Accepts NULL. */
void kpl_agg_destroy(kpl_agg_t *agg);

/* Number of user records held. */
size_t kpl_agg_count(const kpl_agg_t *agg);
/* Exact size (data + partition key) of the Kinesis record a flush would produce now
 * (0 when empty). */
size_t kpl_agg_size(const kpl_agg_t *agg);
/* Exact size the aggregate would have with this user record added (pk NUL-terminated, ehk
 * NULL or NUL-terminated). */
size_t kpl_agg_size_with(const kpl_agg_t *agg, const char *pk, const char *ehk,
                         size_t data_len);

/* Adds a user record; pk, ehk and data are copied. Returns SL_OK; SL_ERR_STATE when the
 * aggregate is not empty and the record would break max_bytes or max_records (flush, then add
 * again); SL_ERR_INVAL when the record can never fit alone, pk is empty or longer than 256
 * characters, or ehk is not a decimal in [0, 2^128-1] (errstr says which); SL_ERR_NOMEM. */
sl_err_t kpl_agg_add(kpl_agg_t *agg, const char *pk, const char *ehk, const void *data,
                     size_t data_len, char *errstr, size_t errlen);

/* Moves the held records into *out as one Kinesis record and empties the aggregator. Returns
 * SL_OK, SL_ERR_STATE when empty (out zeroed), SL_ERR_NOMEM (the records are kept). */
sl_err_t kpl_agg_flush(kpl_agg_t *agg, kpl_agg_out_t *out);

#endif
