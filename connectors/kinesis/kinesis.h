/*
 * kinesis.h: the inside of the `kinesis` system (consumer side), shared by its modules:
 *
 *   kinesis_conf.c   the stream property table (sluice names + Flink, Pulsar, Samza/KCL aliases)
 *                    and the checks that need more than one key
 *   kinesis_seq.c    sequence numbers compared as numbers (kinesis_seq.h)
 *   kinesis_datefmt.c start timestamps: epoch seconds, SimpleDateFormat, ISO 8601
 *                    (kinesis_datefmt.h)
 *   kinesis_json.c   strict member access on jansson answers (kinesis_json.h, private)
 *   kinesis_shards.c ListShards / DescribeStream listings (kinesis_shards.h)
 *   kinesis_getrecords.c GetRecords answers: the reference parser and the hot-path scanner
 *                    (kinesis_getrecords.h)
 *   kinesis_putrecords.c PutRecords answers for the producer (kinesis_putrecords.h)
 *   kinesis_shard.c  one shard read on a worker thread: iterator, GetRecords loop with rate
 *                    limit and backoff, KPL de-aggregation, delivery, shard end
 *   kinesis_ddb.c    DynamoDB Streams, read through the same machinery (the `dynamodbstreams`
 *                    system): GetRecords answers parsed into records whose data is the JSON the
 *                    DynamoDB Streams Kinesis Adapter makes of them
 *   kinesis_coord.c  the lease coordinator on the main thread: shard sync, take / renew /
 *                    steal / evict on the KCL lease table, parent-before-child, checkpoints
 *   kinesis.c        the system plugin gluing them to the runtime (system.h)
 *
 * Threads: the coordinator runs on the main loop; shards run on worker loops. They talk only
 * through kin_input_t's mutex-protected tables and message queue.
 */
#ifndef SL_KINESIS_H
#define SL_KINESIS_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "aws_client.h"
#include "aws_conf.h"
#include "kinesis_kpl.h"
#include "sluice/partitioner.h"
#include "sluice/system.h"
#include "util_str.h"

/* ---- configuration (kinesis_conf.c) -------------------------------------------------------- */

/* Initial position of a shard that has no checkpoint. */
typedef enum {
    KIN_POS_DEFAULT = 0, /* unset: from samza.offset.default (oldest: TRIM_HORIZON) */
    KIN_POS_LATEST,
    KIN_POS_TRIM_HORIZON,
    KIN_POS_AT_TIMESTAMP,
} kin_pos_t;

typedef enum {
    KIN_STORE_AUTO = 0, /* dynamodb when a DynamoDB setting is present (or Samza's factory) */
    KIN_STORE_DYNAMODB,
    KIN_STORE_SQLITE,
} kin_store_t;

/* One backoff family of Flink's scan.* options. */
typedef struct kin_backoff {
    int max_retries;
    int64_t base_ms;
    int64_t max_ms;
    double expconst;
} kin_backoff_t;

/* How the sink picks each record's partition key (kin_sink_conf_t.partitioner_e). */
typedef enum {
    KIN_PART_DEFAULT = 0, /* the record key when it has one, else random */
    KIN_PART_RANDOM,      /* a random key per record */
    KIN_PART_FIXED,       /* one key per worker thread (its index) */
    KIN_PART_KEY,         /* the record key (records without one are errors) */
    KIN_PART_FIELDS,      /* concatenated JSON field values (sink.partitioner.fields) */
    KIN_PART_CUSTOM,      /* a C function from a user library (sink.partitioner = path.so) */
} kin_part_kind_t;

/* The producer's settings (sink.*, messageFormat). */
typedef struct kin_sink_conf {
    int batch_max;            /* PutRecords entries per request, 1..500 */
    int max_inflight;         /* PutRecords requests in flight */
    int max_buffered;         /* records held (waiting or in flight) before pushing back */
    int64_t flush_size;       /* buffered bytes that trigger a request */
    int64_t flush_timeout_ms; /* the longest a record waits before a request */
    int fail_on_error;
    char *partitioner;        /* as written */
    int partitioner_e;        /* kin_part_kind_t, filled by kin_conf_check() */
    char *partitioner_symbol; /* custom: the exported sl_partitioner_plugin_t */
    char *partitioner_arg;    /* custom: handed to its open() */
    sl_list_t fields;         /* KIN_PART_FIELDS: JSON field paths of the payload */
    char *field_delimiter;
    char *ehk_header;         /* header holding an explicit hash key ("" = none) */
    int keep_key_order;
    char *format;             /* messageFormat as written */
    int format_e;             /* kin_fmt_t, filled by kin_conf_check() */
    int agg;                  /* KPL aggregation */
    int64_t agg_max_size;
    int64_t agg_max_count;
    kin_backoff_t retry;      /* retries of failed records and requests (unbounded by default) */
    int64_t request_timeout_ms;
    int64_t shard_refresh_ms; /* shard map refresh for aggregation */
} kin_sink_conf_t;

/* systems.<sys>.streams.<stream>.* (and system-level defaults) of the kinesis system. Strings
 * are heap copies ("" when unset), freed with the table. */
typedef struct kin_conf {
    sl_aws_conf_t aws;
    int ddb;                  /* set by the dynamodbstreams system: a DynamoDB stream (by ARN) */
    char *stream_name;        /* "stream" / awsKinesisStreamName; "" = the sluice stream name */
    char *stream_arn;         /* ListShards/GetRecords by StreamARN when set */
    char *initpos;            /* "", LATEST, TRIM_HORIZON, AT_TIMESTAMP (validated) */
    int initpos_e;            /* kin_pos_t, filled by kin_conf_check() */
    char *initpos_timestamp;  /* startAtTime / scan.stream.initpos-timestamp */
    char *initpos_ts_format;  /* Java SimpleDateFormat pattern */
    int64_t initpos_ts_ms;    /* parsed by kin_conf_check() (ms since the epoch) */
    char *record_publisher;   /* POLLING | EFO */
    int use_efo;              /* useEnhancedFanOut */
    char *efo_consumer_name;
    char *efo_registration;
    char *efo_consumer_arn;
    int max_records;          /* GetRecords Limit, 1..10000 */
    int64_t getrecords_interval_ms; /* minimum time between GetRecords calls of a shard */
    int adaptive_reads;
    kin_backoff_t getrecords; /* throttling / transient errors of GetRecords */
    kin_backoff_t getiterator;
    kin_backoff_t listshards;
    kin_backoff_t describe;
    int64_t discovery_interval_ms; /* shard sync */
    int receive_queue;        /* records buffered per shard, fetched but not yet delivered */
    int64_t buffer_bytes;     /* record bytes buffered per worker thread, over its shards */
    int max_inflight_calls;   /* GetRecords in flight per worker thread */
    /* checkpoints */
    int64_t checkpoint_interval_ms; /* lease table writes per shard at most this often */
    int checkpoint_retries;   /* numRetries */
    /* leases (aws.kcl.*) */
    int lease_store;          /* kin_store_t */
    char *table_name;         /* "" = applicationName, else <job.name>-<job.id>-<stream> */
    int create_table;
    char *worker_id;          /* "" = <hostname>:<job.name>-<job.id> */
    int64_t failover_ms;
    int64_t epsilon_ms;
    int64_t take_interval_ms; /* 0 = (failover + epsilon) * 2, as the KCL */
    int max_leases_for_worker;
    int max_leases_to_steal;
    int64_t parent_poll_ms;
    int cleanup_leases;       /* delete a finished shard's lease once its children started */
    int64_t shutdown_grace_ms; /* graceful shutdown: how long to wait for lease releases */
    kin_sink_conf_t sink;     /* the producer side */
} kin_conf_t;

extern const sl_prop_t kin_stream_props[];

/* The producer's checks for an output stream (message format, partitioner with its library,
 * retry backoff, aggregation size); fills sink.format_e and sink.partitioner_e. Returns the
 * number of errors added. */
int kin_sink_check(sl_conf_t *conf, const char *const *prefixes, kin_conf_t *kc);

/* The retry policy of one backoff family (max never below base). */
sl_retry_policy_t kin_backoff_policy(const kin_backoff_t *b);

/* The factory spellings (NULL-terminated) and whether a spelling is Samza's class name. */
extern const char *const kin_factories[];
int kin_factory_is_samza(const char *factory);

/* Checks what the table cannot (AWS settings through sl_aws_conf_check, initpos and its
 * timestamp with its format, EFO asked for, lease store choices, ranges that depend on each
 * other) and adds every problem to conf's error list; fills initpos_e and initpos_ts_ms.
 * prefixes: the scopes the stream's keys were read from (as sl_conf_apply got them). Returns
 * the number of errors added. */
int kin_conf_check(sl_conf_t *conf, const char *const *prefixes, kin_conf_t *kc);

/* ---- partitioners (kinesis_partition.c) ---------------------------------------------------- */

typedef struct kin_partitioner kin_partitioner_t;

/* Configuration time, for an output stream: decides sc->partitioner_e from sink.partitioner
 * (written at key) and sink.partitioner.fields (fields_key); a library is loaded, its symbol
 * and ABI checked and its open() run once with the argument. Adds errors to conf; returns how
 * many. */
int kin_partitioner_check(sl_conf_t *conf, const char *key, const char *fields_key,
                          kin_sink_conf_t *sc);
/* The partitioner of one worker thread (sc borrowed, must outlive it). NULL with errstr filled.
 * Caller frees with kin_partitioner_destroy(). */
kin_partitioner_t *kin_partitioner_new(const kin_sink_conf_t *sc, int worker, char *errstr,
                                       size_t errlen);
void kin_partitioner_destroy(kin_partitioner_t *p); /* accepts NULL */
/* 1 when the last kin_partitioner_run() made up a random key (it never repeats: no order to
 * keep for it). */
int kin_partitioner_last_random(const kin_partitioner_t *p);
/* Fills out (partition key, NUL-terminated, its length in *keylen; explicit hash key or "")
 * for rec (borrowed). SL_ERR_RECORD (or SL_ERR_NOMEM) with errstr saying why the record cannot
 * be partitioned. */
sl_err_t kin_partitioner_run(kin_partitioner_t *p, const sl_record_t *rec, sl_partition_t *out,
                             size_t *keylen, char *errstr, size_t errlen);

/* ---- the Kinesis API: sequence numbers, timestamps, ListShards, GetRecords ------------------ */

#include "kinesis_datefmt.h"
#include "kinesis_getrecords.h"
#include "kinesis_seq.h"
#include "kinesis_shards.h"

/* ---- DynamoDB Streams (kinesis_ddb.c) ----------------------------------------------------- */

/* The record header holding a DynamoDB stream record's eventName. */
#define KIN_DDB_EVENT_HEADER "dynamodb.event-name"

/* Parses a DynamoDB Streams GetRecords answer body[0..len) (borrowed) strictly into *out
 * (zeroed first; free with kin_records_free): per record seq = dynamodb.SequenceNumber, pk =
 * eventID, event_name, arrival_ms = dynamodb.ApproximateCreationDateTime, and as its data the
 * JSON the DynamoDB Streams Kinesis Adapter's RecordAdapter.getData() gives (what Pulsar's
 * DynamoDB source publishes): Jackson's field order and escaping, maps in Java HashMap order,
 * the time in epoch milliseconds, binaries in base64. millis_behind is -1 and there are no
 * children. SL_ERR_INVAL with errstr naming the record and field. */
sl_err_t kin_ddb_parse_records(const char *body, size_t len, kin_records_t *out, char *errstr,
                               size_t errlen);

/* Appends s[0..n) (valid UTF-8) to sb as a JSON string the way Jackson writes it. */
void kin_ddb_json_string(sl_sb_t *sb, const char *s, size_t n);

/* Java's String.hashCode() of the UTF-8 text s[0..n) (over its UTF-16 code units). */
int32_t kin_java_string_hash(const char *s, size_t n);

/* The order a java.util.HashMap (default capacity and load factor) filled with the n keys
 * hashes[0..n) (String.hashCode() of each, in insertion order) iterates them: writes the
 * insertion indexes into order[0..n). 0, or -1 out of memory. */
int kin_java_hashmap_order(const int32_t *hashes, size_t n, size_t *order);

/* Whether arn is a DynamoDB stream ARN (arn:<partition>:dynamodb:<region>:<account>:table/<T>
 * /stream/<label>); the table name into table (room tlen) when it is. */
int kin_ddb_arn_table(const char *arn, char *table, size_t tlen);

/* ---- the shared input state (kinesis.c) ---------------------------------------------------- */

/* Where a shard starts, decided by the coordinator before it announces the partition. */
typedef struct kin_start {
    char *checkpoint;         /* sequence number, or NULL to use pos */
    int64_t sub;
    int pos;                  /* kin_pos_t when checkpoint is NULL */
    int64_t ts_ms;            /* AT_TIMESTAMP */
    int use_runtime_offset;   /* sqlite store: the offset part_open() got wins when present */
    char *start_hash, *end_hash; /* the shard's hash key range (decimal) or NULL */
} kin_start_t;

typedef struct kin_coord kin_coord_t;

/* Messages from shards (worker threads) to the coordinator (main thread). */
typedef enum {
    KIN_MSG_CHECKPOINT = 1, /* a committed (seq, sub) */
    KIN_MSG_CLOSED = 2,     /* the partition closed (why: sl_close_t); shard_end + children */
} kin_msg_kind_t;

typedef struct kin_msg {
    struct kin_msg *next;
    kin_msg_kind_t kind;
    char *shard;
    char *seq;
    int64_t sub;
    int why;                /* sl_close_t */
    int shard_end;          /* the shard was read to its end and everything was committed */
    kin_shard_info_t *children; /* from ChildShards, may be NULL */
    size_t n_children;
} kin_msg_t;

void kin_msg_free(kin_msg_t *m);

typedef struct kin_input {
    sl_input_t *in;
    const kin_conf_t *kc;
    char *stream;             /* the Kinesis stream name */
    int samza_factory;
    int store;                /* kin_store_t resolved */
    /* main thread */
    sl_http_t *http;
    sl_creds_t *creds;
    sl_aws_client_t *kinesis; /* ListShards, DescribeStreamSummary */
    sl_aws_client_t *dynamodb;
    kin_coord_t *coord;
    struct event *msg_ev;
    /* shared */
    pthread_mutex_t lock;
    kin_msg_t *msgs, *msgs_tail;
    struct kin_start_entry *starts; /* shard -> kin_start_t */
    struct kin_worker_ctx **workers; /* one per worker thread, created lazily on it */
    int nworkers;
} kin_input_t;

/* The lease table's name: aws.kcl.TableName, else applicationName, else Samza's
 * <job.name>-<job.id>-<stream> (the Kinesis stream name). Into buf; returns buf. */
const char *kin_table_name(const sl_input_t *in, const kin_conf_t *kc, char *buf, size_t len);

/* HTTP client and credentials on base for a stream configured by kc, whose keys were read from
 * prefixes of conf (all borrowed); request_timeout_ms > 0 overrides the AWS settings' one. Caller frees both (sl_creds_destroy, sl_http_destroy), also
 * after a failure (either may be NULL). */
sl_err_t kin_clients_new(sl_conf_t *conf, const char *const *prefixes, const kin_conf_t *kc,
                         struct event_base *base, int64_t request_timeout_ms, sl_http_t **http,
                         sl_creds_t **creds, char *errstr, size_t errlen);
/* A Kinesis client on http with creds (borrowed, must outlive it) and the default retry. */
sl_aws_client_t *kin_kinesis_client(sl_http_t *http, sl_creds_t *creds, const kin_conf_t *kc,
                                    const sl_retry_policy_t *retry, char *errstr,
                                    size_t errlen);

/* ---- the producer (kinesis_sink.c), worker thread ----------------------------------------- */

typedef struct kin_sink kin_sink_t;

/* out_open / out_send / out_flush / out_close of the kinesis system. */
sl_err_t kin_sink_open(sl_output_t *out, void **statep);
sl_err_t kin_sink_send(sl_output_t *out, void *state, sl_record_t *rec);
sl_err_t kin_sink_flush(sl_output_t *out, void *state, int sync);
void kin_sink_close(sl_output_t *out, void *state);

/* PutRecords answers: kinesis_putrecords.h */
#include "kinesis_putrecords.h"

/* Posts m (ownership passes) to the coordinator. Any thread. */
void kin_input_post(kin_input_t *k, kin_msg_t *m);
/* Stores the start of shard (copied; replaces an older one). Any thread. */
sl_err_t kin_input_set_start(kin_input_t *k, const char *shard, const kin_start_t *st);
/* Copies the start of shard into *out (caller frees with kin_start_clear); SL_ERR_NOENT. */
sl_err_t kin_input_get_start(kin_input_t *k, const char *shard, kin_start_t *out);
void kin_start_clear(kin_start_t *st);

/* The reader's budget on one worker thread, shared by its shards: GetRecords calls in flight
 * and record bytes fetched but not delivered. A shard over budget queues itself (FIFO) and is
 * started again when a call ends or a batch is delivered. Worker thread only. */
typedef struct kin_gate {
    int calls, max_calls;
    size_t bytes, max_bytes;
    struct kin_shard *waiting, *waiting_tail;
} kin_gate_t;

/* Per worker thread: one HTTP client and one Kinesis client on that worker's loop, shared by
 * the shards it reads; created by the first shard opened there, destroyed with the last. */
typedef struct kin_worker_ctx {
    int refs;
    kin_gate_t gate;
    struct event_base *base;
    sl_http_t *http;
    sl_creds_t *creds;
    sl_aws_client_t *kinesis;
} kin_worker_ctx_t;

/* The worker context of part's worker (created on first use, one reference taken), or NULL
 * with errstr filled. Worker thread. */
kin_worker_ctx_t *kin_worker_ctx_get(kin_input_t *k, sl_part_t *part, char *errstr,
                                     size_t errlen);
void kin_worker_ctx_put(kin_input_t *k, sl_part_t *part);

/* ---- one shard (kinesis_shard.c), worker thread ------------------------------------------ */

typedef struct kin_shard kin_shard_t;

/* Opens shard sl_part_id(part) for reading from start (borrowed; copied as needed), with
 * GetShardIterator / GetRecords through client (borrowed, on the worker's loop), within the
 * worker's budget gate (borrowed; NULL: unbounded). Returns the shard state or NULL after
 * sl_part_fail(). */
kin_shard_t *kin_shard_open(sl_part_t *part, const kin_conf_t *kc, const char *stream,
                            sl_aws_client_t *client, kin_gate_t *gate, const kin_start_t *start,
                            const char *runtime_offset, int64_t runtime_subseq);
/* part_poll: delivers up to max buffered records; fetches more in the background. */
sl_poll_t kin_shard_poll(kin_shard_t *s, int max);
/* The shard was read to its end (every record delivered) and the answers named these children
 * (borrowed, n may be 0 when the service did not say). */
int kin_shard_ended(const kin_shard_t *s, const kin_shard_info_t **children, size_t *n);
/* The last (seq, sub) delivered (NULL before the first record). */
const char *kin_shard_last_delivered(const kin_shard_t *s, int64_t *sub);
/* Milliseconds behind the tip as last reported (-1 unknown); while reads fail, that plus the
 * time since the last read that succeeded. */
int64_t kin_shard_millis_behind(const kin_shard_t *s);
/* Cancels the calls in flight and frees everything. */
void kin_shard_close(kin_shard_t *s);

/* ---- the coordinator (kinesis_coord.c), main thread ---------------------------------------- */

/* One lease as the taker sees it (only leases in the table and not finished). */
typedef struct kin_take_view {
    const char *owner; /* NULL: unowned */
    int held;          /* ours, renewed */
    int expired;       /* unowned, ours from a previous run, or its counter stood still for
                        * the failover time */
    int busy;          /* an operation is in flight: leave it */
} kin_take_view_t;

/* One taker pass: the fair share is ceil(leases / live workers) (live: owners of unexpired
 * leases, and us), capped by max_for_worker; expired leases are taken first (in random order),
 * then leases are stolen from the most loaded workers while they are over the share (or at it
 * while we are two or more short), at most max_steal of them. Writes the indexes to take into
 * out (room for n) and the share into *target; returns how many. Pure: no I/O. */
size_t kin_take_plan(const kin_take_view_t *v, size_t n, int max_for_worker, int max_steal,
                     uint64_t *rng, size_t *out, int *target);

/* The ids of the n shards (borrowed) that are children of parent (their parent or adjacent
 * parent), or of all of them when parent is NULL, into *out (*n_out of them; NULL when none).
 * All of them or none: SL_ERR_NOMEM leaves *out NULL. Caller frees the strings and the array.
 * Pure: no I/O. */
sl_err_t kin_coord_children(const kin_shard_info_t *shards, size_t n, const char *parent,
                            char ***out, size_t *n_out);

/* The lease coordinator's state machine, for tests: its states are 0 .. kin_lease_states() - 1,
 * named by kin_lease_state_name() (static strings, "UNOWNED", "HELD", ...);
 * kin_lease_move_legal() says whether set_state() accepts a move. Pure. */
int kin_lease_states(void);
const char *kin_lease_state_name(int state);
int kin_lease_move_legal(int from, int to);

kin_coord_t *kin_coord_new(kin_input_t *k, char *errstr, size_t errlen);
/* Ensures the lease table (or nothing, for sqlite), then syncs shards and starts the timers. */
sl_err_t kin_coord_start(kin_coord_t *c);
/* A shard sync now (discover()). */
void kin_coord_sync(kin_coord_t *c);
/* Handles one message from a shard (takes ownership). */
void kin_coord_message(kin_coord_t *c, kin_msg_t *m);
/* Graceful stop: writes pending checkpoints, releases every lease, then sl_input_stopped(). */
void kin_coord_stop(kin_coord_t *c);
void kin_coord_destroy(kin_coord_t *c);

#endif
