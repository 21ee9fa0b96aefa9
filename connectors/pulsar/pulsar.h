/*
 * pulsar.h: what the files of the Pulsar connector share: its configuration (one struct filled
 * from systems.<sys>.streams.<stream>.pulsar.* and the Pulsar IO / Flink spellings), the
 * producer (pulsar_sink.c) and the consumer (pulsar_source.c) entry points, and the mapping of a
 * record onto a message (pulsar_map.c).
 */
#ifndef SL_PULSAR_H
#define SL_PULSAR_H

#include "pulsar_conn.h"
#include "sluice/conf.h"
#include "sluice/record.h"
#include "sluice/system.h"

/* The headers a Pulsar source puts a message's encryption metadata in (prefix); the Kinesis
 * sink's message formats read the same names (KIN_ENC_HEADER_PREFIX in kinesis_format.h). */
#define PL_ENC_HEADER_PREFIX "pulsar.encryption."

typedef struct pl_conf {
    /* client */
    char *service_url;
    char *topic;
    char *auth_token;
    char *tls_ca_file, *tls_cert_file, *tls_key_file;
    int tls_allow_insecure;
    int tls_verify_hostname;
    int64_t connect_timeout_ms;
    int64_t operation_timeout_ms;
    int64_t keepalive_ms;
    char *listener_name;
    /* producer */
    char *producer_name;
    int batching;
    int batch_max_messages;
    int64_t batch_max_bytes;
    int64_t batch_delay_ms;
    int compression;          /* Pulsar__Proto__CompressionType */
    int64_t send_timeout_ms;
    int max_pending;
    int64_t retry_base_ms, retry_max_ms;
    sl_list_t source_props;   /* which kinesis.* properties a message gets */
    unsigned source_mask;     /* derived by pl_conf_check(): bit i = pl_source_props[i] */
    int headers_as_props;
    int hashing;              /* 0 JavaStringHash, 1 Murmur3_32Hash */
    int auto_update_partitions;
    int64_t partitions_interval_ms; /* how often a partitioned topic's count is asked again */
    /* consumer */
    char *subscription;
    int sub_type;             /* Pulsar__Proto__CommandSubscribe__SubType */
    int initial_position;     /* 0 latest, 1 earliest */
    int receiver_queue;
    char *consumer_name;
    int max_pending_chunked;
    int auto_ack_oldest_chunked;
    int64_t chunk_expire_ms;  /* 0: never */
} pl_conf_t;

extern const sl_prop_t pl_stream_props[];
/* The names pulsar.producer.source-properties may list, in source_mask bit order. */
enum {
    PL_SP_ARRIVAL, PL_SP_ENCRYPTION, PL_SP_PARTITION_KEY, PL_SP_SEQUENCE, PL_SP_SHARD,
    PL_SP_DDB_EVENT, PL_SP_DDB_SEQUENCE,
    PL_NSOURCE_PROPS
};
extern const char *const pl_source_props[PL_NSOURCE_PROPS];
/* Checks what one row cannot (topic name, service URL, combinations). */
int pl_conf_check(sl_conf_t *conf, const char *const *prefixes, void *stream_conf, int input);
/* The delay before reconnect attempt `attempts` (1 for the first), from the runtime's retry
 * policy (full jitter under pulsar.producer.retry.base * 2^n, capped at .max). */
int64_t pl_retry_ms(const pl_conf_t *c, int attempts, uint64_t *rng);
/* The client settings of c for a client of what ("output 'p.t'"). Borrows from c. */
void pl_client_conf(const pl_conf_t *c, const char *what, pl_client_conf_t *cc);

/* The producer (pulsar_sink.c): the out_* callbacks. */
sl_err_t pl_sink_open(sl_output_t *out, void **statep);
sl_err_t pl_sink_send(sl_output_t *out, void *state, sl_record_t *rec);
sl_err_t pl_sink_flush(sl_output_t *out, void *state, int sync);
void pl_sink_close(sl_output_t *out, void *state);

/* The message properties of a record (pulsar_map.c): the Pulsar Kinesis source's names for
 * what a Kinesis record carries (kinesis.partition.key, kinesis.sequence.number,
 * kinesis.shard.id, kinesis.arrival.timestamp, kinesis.encryption.type; those listed in
 * c->source_props), then the record's headers when c->headers_as_props. Appends KeyValue
 * pointers to kv (entries and strings heap-allocated: free with pl_props_free()). */
typedef struct pl_props {
    Pulsar__Proto__KeyValue **kv;
    size_t n, cap;
} pl_props_t;
/* The partition of a message with key[0..len) among n, as the Java client's default router
 * picks it (hashing 0: String.hashCode of the key's UTF-16 units, 1: Murmur3 32-bit & INT_MAX;
 * then a sign-safe modulo). */
int pl_key_partition(int hashing, const char *key, size_t len, int n);
int pl_props_of(const pl_conf_t *c, const sl_record_t *rec, pl_props_t *p);
void pl_props_free(pl_props_t *p);

#endif
