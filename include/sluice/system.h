/*
 * sluice/system.h: the connector ABI. A system plugin (Fluent Bit style: a value struct of
 * callbacks, an ABI version first) names the factory spellings it answers to in
 * `systems.<sys>.samza.factory`, brings a property table for the system and one for its streams,
 * and implements a consumer side (partitions of an input stream, read on a worker thread), a
 * producer side (one producer per worker thread per output stream), or both. The runtime owns
 * threading, ordering, retries and checkpoints; a connector reads, writes and acknowledges.
 *
 * The built-in connectors (file, stdio, kinesis, dynamodbstreams, pulsar) use exactly this
 * header; a user connector is a shared library exporting SL_SYSTEM_PLUGIN_SYMBOL, loaded with
 * `systems.<sys>.library=/path/libfoo.so` (see sluice-job(5)).
 *
 * Threads: the job has one main thread (configuration, discovery, in_* callbacks) and
 * job.container.thread.count worker threads; a partition and an output live on one worker for
 * their whole life, and their callbacks and helpers run there. Each helper below names the
 * thread it may be called from. Event loops are libevent's (`struct event_base`, libevent >=
 * 2.1): a connector that uses them links libevent itself.
 *
 * Strings and structs returned by the helpers are borrowed: valid for the life of the object
 * they came from (input, partition, output) unless said otherwise; never free them.
 */
#ifndef SLUICE_SYSTEM_H
#define SLUICE_SYSTEM_H

#include <stdarg.h>
#include <stdint.h>

#include "checkpoint.h"
#include "common.h"
#include "conf.h"
#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base; /* libevent's event loop */

/* The version of sl_system_plugin_t and of the helpers' contracts. Version 3 added
 * in_partitions_move at the end of the struct; a plugin built for version 2 (without it) still
 * loads. Any other abi_version is refused with SL_ERR_ABI. */
#define SL_SYSTEM_ABI_VERSION 3

/* The symbol a connector library exports for systems.<sys>.library: a const
 * sl_system_plugin_t (`SL_EXPORT const sl_system_plugin_t sluice_system_plugin = {...};`). */
#define SL_SYSTEM_PLUGIN_SYMBOL "sluice_system_plugin"

typedef struct sl_input sl_input_t;   /* one input stream of the job (task.inputs entry) */
typedef struct sl_part sl_part_t;     /* one partition of an input, owned by a worker */
typedef struct sl_output sl_output_t; /* one output stream on one worker */

/* What a partition's poll reports. */
typedef enum {
    SL_POLL_MORE = 0, /* delivered records and more may be ready: poll again soon */
    SL_POLL_IDLE = 1, /* nothing now: poll again after the stream's poll interval */
    SL_POLL_EOF = 2,  /* the partition ended: no more records will come */
    SL_POLL_WAIT = 3, /* the connector delivers by itself (async I/O); do not poll */
} sl_poll_t;

/* The system's positions cannot be resumed (stdin): never read or write checkpoints. */
#define SL_SYSTEM_F_NO_CHECKPOINT 0x01
/* The consumer tells when a partition has read everything its stream holds so far: it calls
 * sl_part_set_lag(part, 0) then (or returns SL_POLL_EOF at its end). Required of the system of
 * a bootstrap input (samza.bootstrap). */
#define SL_SYSTEM_F_REPORTS_HEAD 0x02

/* ext_checkpoints(how) takes SL_EXT_RESET and SL_EXT_FORCE (sluice/checkpoint.h). */

typedef struct sl_system_plugin {
    int abi_version;                /* SL_SYSTEM_ABI_VERSION */
    const char *name;               /* "file" */
    const char *const *factories;   /* NULL-terminated spellings accepted as samza.factory */
    const char *description;
    int flags;                      /* SL_SYSTEM_F_* */
    const sl_prop_t *system_props;  /* systems.<sys>.* (may be NULL) */
    size_t system_conf_size;
    const sl_prop_t *stream_props;  /* systems.<sys>.streams.<stream>.* (may be NULL) */
    size_t stream_conf_size;
    /* After the stream table was applied to conf (keys read from prefixes, most specific
     * first): checks what one row cannot (combinations, formats), adding each problem with
     * sl_conf_error(); may fill derived fields of stream_conf. input: 1 for a task.inputs
     * stream, 0 for an output. Returns the number of errors added. Optional. */
    int (*stream_check)(sl_conf_t *conf, const char *const *prefixes, void *stream_conf,
                        int input);

    /* --- consumer (all NULL for a producer-only system) --- */
    /* On the main thread, before the first discover(): the input's own state (shared by its
     * partitions through sl_input_state(); thread safety is the connector's business), e.g. a
     * lease coordinator with timers on sl_input_base(). Optional. */
    sl_err_t (*in_open)(sl_input_t *in, void **statep);
    /* On the main thread, once every worker drained, committed and closed its partitions at
     * the end of the job: finish what the input owes (write final checkpoints, release leases)
     * and call sl_input_stopped() when done, from this call or later from the main loop.
     * The job waits up to task.shutdown.ms. Optional (NULL: stopped at once). */
    void (*in_stop)(sl_input_t *in, void *state);
    /* On the main thread after in_stop (or on a failed start): free the state. Optional. */
    void (*in_close)(sl_input_t *in, void *state);
    /* On the main thread: find the input's partitions and announce each with
     * sl_input_add_partition(). Called at start and then every discover interval when the
     * input is unbounded (sl_input_set_discover_interval). Returns SL_OK or an error after
     * sl_input_fail() said why. */
    sl_err_t (*discover)(sl_input_t *in);
    /* On the partition's worker: open it and position after the checkpoint (offset NULL when
     * there is none: start from the stream's default position). *statep receives the state. */
    sl_err_t (*part_open)(sl_part_t *part, const char *offset, int64_t subseq, void **statep);
    /* On the worker: deliver up to max records with sl_part_deliver(); tell what comes next. */
    sl_poll_t (*part_poll)(sl_part_t *part, void *state, int max);
    /* On the worker: the checkpoint of the partition advanced (for systems that store
     * checkpoints themselves, e.g. a KCL lease table). Called after the offset was written
     * to the local store, never for a partition being stopped as lost. Optional. */
    sl_err_t (*part_commit)(sl_part_t *part, void *state, const char *offset, int64_t subseq);
    /* On the worker, after the partition's last commit: at its end (SL_POLL_EOF, once every
     * record was acknowledged and committed), when it was removed
     * (sl_input_remove_partition()) or at the end of the job. sl_part_closing() tells why. */
    void (*part_close)(sl_part_t *part, void *state);
    /* For `sluice checkpoints`: the positions the system keeps outside the local store (a KCL
     * lease table) for input in. Lists them (how 0: cb for each, as sl_ckpt_t with updated_ms
     * -1) or deletes them (how SL_EXT_RESET), for partition only when not NULL; runs its own
     * event loop and returns when done; *n receives the count. A reset refuses with
     * SL_ERR_STATE (errstr naming them) while workers still hold positions, unless how has
     * SL_EXT_FORCE. SL_ERR_NOENT when this input keeps nothing outside the local store.
     * Optional. */
    sl_err_t (*ext_checkpoints)(sl_input_t *in, int how, const char *partition,
                                sl_ckpt_list_cb cb, void *opaque, int *n, char *errstr,
                                size_t errlen);

    /* --- producer (all NULL for a consumer-only system) --- */
    /* On a worker: create the producer of one output stream. */
    sl_err_t (*out_open)(sl_output_t *out, void **statep);
    /* Queue rec for sending. rec arrives with one reference that belongs to the connector and
     * is released by sl_output_ack() (exactly once per record, also on failure). On an error
     * return the connector must not keep rec nor ack it: the runtime fails it (see
     * task.error.policy). */
    sl_err_t (*out_send)(sl_output_t *out, void *state, sl_record_t *rec);
    /* Send what is queued and ack it; called on commit, when the partitions are drained and
     * at shutdown. Must not return before every queued record was acked or failed when
     * `sync` is set (file writes); asynchronous producers may ack later. */
    sl_err_t (*out_flush)(sl_output_t *out, void *state, int sync);
    void (*out_close)(sl_output_t *out, void *state);

    /* --- abi_version 3 and later ----------------------------------------------------------- */
    /* Whether partitions of input in may move to another process while the job runs (leases
     * in a table other processes share, a subscription whose broker hands partitions or
     * messages to other consumers): keyed state cannot follow a partition to another process
     * yet, so the runtime refuses a job with a stateful operator (SL_OPERATOR_F_STATEFUL) on
     * such an input at configuration (`sluice config check`, sl_job_new()). Returns 1 and
     * writes why to why[0..len) (NUL-terminated: what shares the partitions and the key that
     * makes it so, e.g. "shares its shards with other processes through the lease table 't'
     * (systems.kin.aws.kcl.TableName)"); 0 when every partition this process takes stays in
     * it, however many worker threads it has. Main thread, at configuration, after
     * stream_check: in is not open (only the name and configuration helpers apply). Optional
     * (NULL: partitions never move). */
    int (*in_partitions_move)(const sl_input_t *in, char *why, size_t len);
} sl_system_plugin_t;

/* --- helpers for connectors ---------------------------------------------------------------- */

/* Names and configuration (the filled structs of the plugin's tables). Borrowed, valid for the
 * life of the input. Any thread. */
SL_EXPORT const char *sl_input_system(const sl_input_t *in);
SL_EXPORT const char *sl_input_stream(const sl_input_t *in);
SL_EXPORT const void *sl_input_system_conf(const sl_input_t *in);
SL_EXPORT const void *sl_input_stream_conf(const sl_input_t *in);
/* The job's configuration (for building AWS credential providers at run time). Borrowed, valid
 * for the life of the input; read-only after the job started. Any thread. */
SL_EXPORT sl_conf_t *sl_input_conf(const sl_input_t *in);
/* The scopes the input stream's keys were read from, most specific first, NULL-terminated
 * (systems.<sys>.streams.<stream>., systems.<sys>.default.stream., systems.<sys>.). Borrowed,
 * valid for the life of the input. Any thread. */
SL_EXPORT const char *const *sl_input_prefixes(const sl_input_t *in);
/* The factory spelling the system was configured with (systems.<sys>.samza.factory).
 * Borrowed, valid for the life of the input. Any thread. */
SL_EXPORT const char *sl_input_factory(const sl_input_t *in);
/* The job's name and id (job.name, job.id). Borrowed, valid for the life of the input. Any
 * thread. */
SL_EXPORT const char *sl_input_job_name(const sl_input_t *in);
SL_EXPORT const char *sl_input_job_id(const sl_input_t *in);
/* The state in_open() set (NULL without in_open); the connector's to free in in_close(). Any
 * thread. */
SL_EXPORT void *sl_input_state(const sl_input_t *in);
/* The main thread's event loop (for in_open/in_stop timers and I/O). Borrowed, valid for the
 * life of the input; events on it are added and removed on the main thread only. Any thread. */
SL_EXPORT struct event_base *sl_input_base(const sl_input_t *in);
/* Worker threads of the job (job.container.thread.count); sl_part_worker() is in [0, n). Any
 * thread. */
SL_EXPORT int sl_input_worker_count(const sl_input_t *in);
/* Fails the job from an input's own callbacks (timers, I/O of in_open's state), with a
 * message ("system 's' stream 'x': what"). Main thread. */
SL_EXPORT void sl_input_abort(sl_input_t *in, const char *fmt, ...) SL_PRINTF(2, 3);
/* Tells the job that in_stop() finished. Main thread. */
SL_EXPORT void sl_input_stopped(sl_input_t *in);
/* The job is stopping (a stop was asked for, or it failed): start nothing new. Any thread. */
SL_EXPORT int sl_input_job_stopping(const sl_input_t *in);
/* Reads / writes this input's checkpoint of partition in the job's local store (the SQLite
 * mirror), for systems that keep positions of their own (a shard's SHARD_END). Any thread.
 * Strings borrowed for the call. read: *offset receives a malloc'ed copy the caller frees with
 * free(); SL_ERR_NOENT when there is none. */
SL_EXPORT sl_err_t sl_input_checkpoint_read(sl_input_t *in, const char *partition, char **offset,
                                  int64_t *subseq);
SL_EXPORT sl_err_t sl_input_checkpoint_write(sl_input_t *in, const char *partition, const char *offset,
                                   int64_t subseq);
/* The monotonic time (sl_mono_ms()) by which the input must have reached the services it
 * cannot start without (task.start.timeout after the job started); 0: no limit. Any thread. */
SL_EXPORT int64_t sl_input_start_deadline(const sl_input_t *in);
/* The same for an output (its first topic lookup, ...). Any thread. */
SL_EXPORT int64_t sl_output_start_deadline(const sl_output_t *out);
/* The generic stream settings (samza.offset.default: 0 oldest, 1 upcoming; reset offset). Any
 * thread. */
SL_EXPORT int sl_input_start_upcoming(const sl_input_t *in);

/* Announces a partition (partition borrowed for the call, copied). A partition already known is ignored (SL_OK); one still
 * closing after sl_input_remove_partition() is refused with SL_ERR_STATE (try again later).
 * Main thread. */
SL_EXPORT sl_err_t sl_input_add_partition(sl_input_t *in, const char *partition);

/* How a partition leaves before its end. */
typedef enum {
    /* Handing it over (lease released, rebalancing, shard given up): stop reading, flush the
     * chain, wait (up to task.shutdown.ms) for the acknowledgements, commit, close. */
    SL_PART_RELEASE = 0,
    /* Someone else owns it now (lease lost): stop reading at once and never commit again;
     * records in flight finish without moving the checkpoint. */
    SL_PART_LOST = 1,
} sl_part_stop_t;

/* Stops a running partition the way how says; part_close() follows on its worker, after which
 * the id may be announced again (partition borrowed for the call). Unknown or already stopping
 * partitions: SL_ERR_NOENT. Main thread. */
SL_EXPORT sl_err_t sl_input_remove_partition(sl_input_t *in, const char *partition, sl_part_stop_t how);

/* Why part_close() is called: 0 end of the partition (EOF, all committed), 1 released, 2 lost,
 * 3 the job is ending (drained and committed as far as acknowledged), 4 failure. Worker. */
typedef enum {
    SL_CLOSE_EOF = 0,
    SL_CLOSE_RELEASED = 1,
    SL_CLOSE_LOST = 2,
    SL_CLOSE_SHUTDOWN = 3,
    SL_CLOSE_FAILED = 4,
} sl_close_t;
/* Why part_close() is being called. The partition's worker. */
SL_EXPORT sl_close_t sl_part_closing(const sl_part_t *part);
/* The index of the worker thread owning the partition, in [0, sl_input_worker_count()). Any
 * thread. */
SL_EXPORT int sl_part_worker(const sl_part_t *part);
/* Asks for discover() every interval_ms (0 = never again; the input is then bounded: the job
 * ends when all its partitions reached EOF). Main thread (discover() or in_open()). */
SL_EXPORT void sl_input_set_discover_interval(sl_input_t *in, int64_t interval_ms);
/* Records why a main-thread callback failed ("system 'files' stream 'in': what"), for the job's
 * error. Returns SL_ERR_IO for the callback to return. Main thread. */
SL_EXPORT sl_err_t sl_input_fail(sl_input_t *in, const char *fmt, ...) SL_PRINTF(2, 3);

/* The partition's id (as announced), its input and its worker's event loop. Borrowed, valid
 * until part_close() returned. Any thread for the id and input; the event loop is the
 * partition's worker's: add events to it on that worker only. */
SL_EXPORT const char *sl_part_id(const sl_part_t *part);
SL_EXPORT sl_input_t *sl_part_input(const sl_part_t *part);
SL_EXPORT struct event_base *sl_part_base(const sl_part_t *part);
/* Runs one record through the chain. system/stream/partition are filled by the runtime; offset
 * (copied) and subseq identify the record for checkpointing; offsets must be delivered in
 * increasing order within a partition. data[0..len) is a slice of buf (shared). Returns SL_OK,
 * or an error after which the connector must stop delivering (the job is failing).
 * buf is borrowed (the record takes its own reference), key and offset are borrowed for the
 * call (copied). The partition's worker, from part_poll() or a callback of sl_part_base(). */
SL_EXPORT sl_err_t sl_part_deliver(sl_part_t *part, sl_buf_t *buf, size_t off, size_t len,
                         const char *key, size_t keylen, const char *offset, int64_t subseq,
                         int64_t event_time_ms);
/* One record with everything a source knows about it: sl_part_deliver() plus the source's
 * arrival time and headers (name/value pairs, copied; e.g. an explicit hash key). d and all it
 * points to are borrowed for the call. The partition's worker. */
typedef struct sl_delivery {
    sl_buf_t *buf;              /* payload = buf[off .. off+len) (NULL: empty payload) */
    size_t off, len;
    const char *key;            /* NULL: no key */
    size_t keylen;
    const char *offset;         /* copied */
    int64_t subseq;
    int64_t event_time_ms;      /* 0: none */
    int64_t arrival_ms;         /* 0: now */
    const char *const *headers; /* 2 * nheaders strings */
    int nheaders;
} sl_delivery_t;
SL_EXPORT sl_err_t sl_part_deliver_ex(sl_part_t *part, const sl_delivery_t *d);

/* Reports a record the connector could not turn into a record (too large, undecodable) at
 * offset, saying why. Under task.error.policy=skip it is logged and counted and SL_OK is
 * returned (the connector skips it); under fail the job fails and an error is returned. The partition's worker. */
SL_EXPORT sl_err_t sl_part_bad_record(sl_part_t *part, const char *offset, const char *fmt, ...)
    SL_PRINTF(3, 4);
/* Records why a partition callback failed (for the job's error). Returns SL_ERR_IO for the
 * callback to return. The partition's worker. */
SL_EXPORT sl_err_t sl_part_fail(sl_part_t *part, const char *fmt, ...) SL_PRINTF(2, 3);
/* How far the partition is behind the newest data of its stream, in ms (Kinesis'
 * MillisBehindLatest), exported as the gauge sluice_partition_lag_ms. 0 also says the partition
 * is at its head (see SL_SYSTEM_F_REPORTS_HEAD), once what was delivered is processed. Worker. */
SL_EXPORT void sl_part_set_lag(sl_part_t *part, int64_t ms);
/* How long an SL_POLL_IDLE partition waits before the next poll (default 100 ms). The
 * partition's worker. */
SL_EXPORT void sl_part_set_idle_interval(sl_part_t *part, int64_t ms);
/* For SL_POLL_WAIT connectors: wake the poller (data arrived asynchronously) on this worker.
 * The partition's worker. */
SL_EXPORT void sl_part_wake(sl_part_t *part);

/* The output's system and stream names and the filled structs of the plugin's tables.
 * Borrowed, valid for the life of the output. Any thread. */
SL_EXPORT const char *sl_output_system(const sl_output_t *out);
SL_EXPORT const char *sl_output_stream(const sl_output_t *out);
SL_EXPORT const void *sl_output_system_conf(const sl_output_t *out);
SL_EXPORT const void *sl_output_stream_conf(const sl_output_t *out);
/* The job's configuration and the scopes the output stream's keys were read from (see
 * sl_input_prefixes()). Borrowed, valid for the life of the output. Any thread. */
SL_EXPORT sl_conf_t *sl_output_conf(const sl_output_t *out);
SL_EXPORT const char *const *sl_output_prefixes(const sl_output_t *out);
/* The worker's event loop the producer runs on (timers, HTTP). Borrowed, valid for the life of
 * the output; add events to it on the output's worker only. */
SL_EXPORT struct event_base *sl_output_base(const sl_output_t *out);
/* The index of the output's worker thread, in [0, job.container.thread.count). Any thread. */
SL_EXPORT int sl_output_worker(const sl_output_t *out);
/* The job's name and id (job.name, job.id). Borrowed, valid for the life of the output. Any
 * thread. */
SL_EXPORT const char *sl_output_job_name(const sl_output_t *out);
SL_EXPORT const char *sl_output_job_id(const sl_output_t *out);
/* Back pressure: busy 1 tells the worker to stop reading its partitions (the producer holds as
 * much as it may buffer); busy 0 lets them read again. Records already in the chain still
 * arrive through out_send(), so a producer must accept them (never drop). Worker thread. */
SL_EXPORT void sl_output_set_busy(sl_output_t *out, int busy);
/* Fails the job from a producer (sink.fail-on-error, a fatal answer of the sink), whatever
 * task.error.policy says, with a message ("output 's.x': what"). Worker thread. */
SL_EXPORT void sl_output_abort(sl_output_t *out, const char *fmt, ...) SL_PRINTF(2, 3);
/* Acknowledges rec (err SL_OK = durably accepted by the sink) and drops the connector's
 * reference (rec must not be used after the call). On a failure the record is handled by
 * task.error.policy. The output's worker. */
SL_EXPORT void sl_output_ack(sl_output_t *out, sl_record_t *rec, sl_err_t err);
/* Records why a producer callback failed ("output 's.x': what"). Returns SL_ERR_IO for the
 * callback to return. The output's worker. */
SL_EXPORT sl_err_t sl_output_fail(sl_output_t *out, const char *fmt, ...) SL_PRINTF(2, 3);
/* Drops the connector's reference to rec without acknowledging it (a producer closing with
 * records it never got confirmed): its source offset, and everything after it in its
 * partition, never becomes committable. Nothing is logged. The output's worker. */
SL_EXPORT void sl_output_drop(sl_output_t *out, sl_record_t *rec);

/* Looks the canonical row name of table up as sl_conf_apply() does (each of prefixes in turn,
 * the canonical spelling, then its aliases) and writes the key the user wrote to buf,
 * returning 1; when nothing is set, writes prefixes[0] + name and returns 0. For messages that
 * name the key the user wrote. conf, table and prefixes borrowed for the call. Any thread
 * (conf is read-only once the job runs). */
SL_EXPORT int sl_conf_user_key(sl_conf_t *conf, const sl_prop_t *table, const char *const *prefixes,
                     const char *name, char *buf, size_t len);

/* --- loading user libraries ---------------------------------------------------------------- */

/* dlopen()s a user library (RTLD_NOW | RTLD_LOCAL) as given and, when that fails for a relative
 * path, relative to the job file's directory (what names the kind in messages: "operator",
 * "partitioner", "connector"). On failure adds a conf error at key ("cannot load <what> library
 * ...") and returns NULL. Caller closes the handle with dlclose(). Main thread (configuration). */
SL_EXPORT void *sl_library_open(sl_conf_t *conf, const char *path, const char *what,
                                const char *key);

/* --- health reporting ---------------------------------------------------------------------- */

/* One endpoint a connector talks to, on the process-wide health board behind /healthz and the
 * outage warnings: report each failed and each successful call; an entry failing without a
 * success in between for longer than task.health.stall.ms makes /healthz answer 503 with its
 * message. Any thread (the board is locked); one entry is used by one thread at a time. */
typedef struct sl_health sl_health_t;
/* An entry named what ("kinesis at http://127.0.0.1:4567"; copied). NULL when out of memory
 * (then the calls below do nothing). Caller frees with sl_health_close(). */
SL_EXPORT sl_health_t *sl_health_open(const char *what);
/* Removes the entry. Accepts NULL. */
SL_EXPORT void sl_health_close(sl_health_t *h);
/* A failed call; msg (copied) is kept as the latest reason. Returns how long the entry has been
 * failing, in ms (0 at the first failure). */
SL_EXPORT int64_t sl_health_fail(sl_health_t *h, const char *msg);
/* A successful call. Returns how long the entry had been failing (0 when it was not). */
SL_EXPORT int64_t sl_health_ok(sl_health_t *h);

#ifdef __cplusplus
}
#endif

#endif
