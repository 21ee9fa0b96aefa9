/*
 * sluice/partitioner.h: custom partitioners, for any producer that places records by a key. A
 * partitioner maps a record to a partition key and, optionally, an explicit hash key; the
 * producer places the record by them (the C counterpart of Flink's KinesisPartitioner and
 * Kafka's Partitioner). A producer stream opts in with `sink.partitioner = /path/libmine.so`.
 * Today the `kinesis` sink is the one producer that offers it (partition key: PutRecords'
 * PartitionKey; hash key: ExplicitHashKey); another producer would use the key as its message
 * key and may ignore the hash key. The limits below are the largest any producer takes (they
 * are Kinesis'); a producer with tighter ones refuses the record, as task.error.policy says.
 *
 * Like an operator, a partitioner is a value struct of callbacks with an ABI version first,
 * exported from a shared library under the symbol named by `sink.partitioner.symbol` (default
 * "sluice_partitioner") and loaded with dlopen. One instance exists per worker thread and output
 * stream; all its callbacks run on that worker's thread, so no locking is needed inside.
 */
#ifndef SLUICE_PARTITIONER_H
#define SLUICE_PARTITIONER_H

#include "common.h"
#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_PARTITIONER_ABI_VERSION 1

/* A partition key has 1..256 bytes; an explicit hash key is the decimal form of a number below
 * 2^128 (at most 39 digits; Kinesis' hash key space). Buffers include room for a NUL. */
#define SL_PARTITION_KEY_MAX 256
#define SL_HASH_KEY_MAX 40

/* What a partitioner writes for one record. */
typedef struct sl_partition {
    char key[SL_PARTITION_KEY_MAX + 1]; /* the partition key, NUL-terminated (1..256 bytes) */
    char hash_key[SL_HASH_KEY_MAX];     /* an explicit hash key, or "" for none (the producer
                                         * then hashes the partition key) */
} sl_partition_t;

typedef struct sl_partitioner_plugin {
    int abi_version;         /* SL_PARTITIONER_ABI_VERSION */
    const char *name;        /* for logs and errors */
    /* Optional: creates the instance's state in *statep from arg (`sink.partitioner.arg`,
     * borrowed for the call; "" when unset) for worker thread `worker`. Also called once at
     * start-up (worker -1) to validate arg. Return SL_OK or another sl_err_t after writing why
     * into errstr[0..errlen). */
    sl_err_t (*open)(const char *arg, int worker, void **statep, char *errstr, size_t errlen);
    /* Chooses out's partition key (and optionally hash key) for rec (borrowed). out arrives
     * zeroed. Return SL_OK, or SL_ERR_RECORD after writing why into errstr: the record then
     * fails as task.error.policy says. */
    sl_err_t (*partition)(void *state, const sl_record_t *rec, sl_partition_t *out,
                          char *errstr, size_t errlen);
    /* Optional: frees the state. Called once for every successful open. */
    void (*close)(void *state);
} sl_partitioner_plugin_t;

#ifdef __cplusplus
}
#endif
#endif
