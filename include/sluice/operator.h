/*
 * sluice/operator.h: the operator API. An operator is a value struct of callbacks with an ABI
 * version first (like SQLite's sqlite3_module), either built into libsluice (filter, map,
 * rekey, sample, log, dedup) or exported from a user's shared library as the symbol named by
 * `operators.<name>.symbol` (default "sluice_operator") and loaded with dlopen.
 *
 * One instance of every operator of the chain exists per partition (a "task"), and all of its
 * callbacks run on that partition's worker thread: no locking is needed inside an operator.
 */
#ifndef SLUICE_OPERATOR_H
#define SLUICE_OPERATOR_H

#include "common.h"
#include "conf.h"
#include "log.h"
#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version 2 added on_timer, on_watermark and flags at the end of the struct; a plugin built
 * for version 1 (without them) still loads. */
#define SL_OPERATOR_ABI_VERSION 2

/* The two clocks of timers and windows: event time (the records' own timestamps, advanced by
 * the watermark) and processing time (the job's injected clock). */
typedef enum sl_time_domain { SL_TIME_EVENT = 0, SL_TIME_PROCESSING = 1 } sl_time_domain_t;

/* The watermark of a partition before it has seen a record with an event time. */
#define SL_WATERMARK_NONE INT64_MIN
/* The watermark at the end of a partition's input: every event-time timer fires. */
#define SL_WATERMARK_END INT64_MAX

/* A timer that fired: key borrowed for the callback. */
typedef struct sl_timer {
    sl_time_domain_t domain;
    int64_t time_ms;
    const void *key;
    size_t klen;
} sl_timer_t;

/* plugin->flags */
#define SL_OPERATOR_F_STATEFUL 0x01 /* keeps keyed state: partitions may not move between
                                       processes (see `config check`) */

/* The runtime's handle on one operator instance. */
typedef struct sl_op sl_op_t;

typedef struct sl_operator_plugin {
    int abi_version;         /* SL_OPERATOR_ABI_VERSION */
    const char *name;        /* type name, e.g. "filter" */
    const char *description; /* one line for `sluice --help` and the docs */
    const sl_prop_t *props;  /* table for `operators.<instance>.*` keys (may be NULL) */
    size_t conf_size;        /* size of the struct props fills; passed to init */

    /* Creates the instance's state in *statep. conf is the filled struct (borrowed, valid until
     * close returns). Return SL_OK, or an error after sl_op_fail() said why; init also runs
     * once at start-up with no partition (sl_op_partition() NULL) to validate the config. */
    sl_err_t (*init)(sl_op_t *op, const void *conf, void **statep);

    /* Processes one record: emit zero or more records with sl_op_emit(). rec is borrowed for the
     * call; the operator may modify it and emit it, keep a reference (sl_record_ref) to emit
     * later, or emit derived records. An error return fails the record (see task.error.policy)
     * after sl_op_fail() said why. */
    sl_err_t (*process)(sl_op_t *op, void *state, sl_record_t *rec);

    /* Optional: called every sl_op_set_timer() interval with the injected clock's time. */
    sl_err_t (*timer)(sl_op_t *op, void *state, int64_t now_ms);

    /* Optional: emit whatever is buffered (end of input, shutdown). */
    sl_err_t (*flush)(sl_op_t *op, void *state);

    /* Optional: called before the partition's offsets are committed; snapshot state here. */
    sl_err_t (*checkpoint)(sl_op_t *op, void *state);

    /* Optional: frees the state. Always called once after a successful init. */
    void (*close)(sl_op_t *op, void *state);

    /* --- abi_version 2 and later ----------------------------------------------------------- */

    /* Optional: a timer set with sl_op_timer_set() is due: an event-time timer once the
     * partition's watermark reached its time, a processing-time timer once the clock did. The
     * timer is deleted before the call (set it again to repeat). Records emitted here go on
     * through the chain like those of process. */
    sl_err_t (*on_timer)(sl_op_t *op, void *state, const sl_timer_t *timer);

    /* Optional: the partition's event-time watermark advanced to watermark_ms (after the record
     * that advanced it went through the whole chain; SL_WATERMARK_END at the end of the
     * input). */
    sl_err_t (*on_watermark)(sl_op_t *op, void *state, int64_t watermark_ms);

    unsigned flags; /* SL_OPERATOR_F_* */
} sl_operator_plugin_t;

/* Passes rec to the next operator of the chain (or to the job's outputs after the last one).
 * rec is borrowed: the runtime takes its own references where it keeps it. */
SL_EXPORT sl_err_t sl_op_emit(sl_op_t *op, sl_record_t *rec);

/* Records why the current callback failed; the runtime prefixes the operator's name and
 * location. Returns SL_ERR_RECORD for convenient `return sl_op_fail(...)`. */
SL_EXPORT sl_err_t sl_op_fail(sl_op_t *op, const char *fmt, ...) SL_PRINTF(2, 3);

/* The instance name (`operators.<name>`). Borrowed, valid for the operator's life. */
SL_EXPORT const char *sl_op_name(const sl_op_t *op);

/* "file:line" of the operator's key `operators.<name>.<key>` (or of its type key when key is
 * NULL). Borrowed static per-thread buffer, valid until the next call. */
SL_EXPORT const char *sl_op_where(const sl_op_t *op, const char *key);

/* The partition this instance serves, or NULL for the validation instance. Borrowed. */
SL_EXPORT const char *sl_op_partition(const sl_op_t *op);

/* The injected clock (ms since the epoch) and random source of the job (deterministic under
 * test with job.clock / job.random.seed). */
SL_EXPORT int64_t sl_op_now_ms(const sl_op_t *op);
SL_EXPORT uint64_t sl_op_random(sl_op_t *op);

/* Asks for the timer callback every interval_ms (0 stops it). */
SL_EXPORT void sl_op_set_timer(sl_op_t *op, int64_t interval_ms);

/* --- event time, watermarks and timers ----------------------------------------------------- */

/* The event-time watermark of the instance's partition: no record with an event time at or
 * before it is expected any more (records that have one anyway are "late"). It is the largest
 * event time seen minus task.watermark.delay minus 1 ms, SL_WATERMARK_NONE before the first
 * record with an event time. During process it is the watermark before that record. It is
 * kept with the keyed state, so it survives a restart. */
SL_EXPORT int64_t sl_op_watermark(const sl_op_t *op);

/* Sets a timer: on_timer is called with (domain, time_ms, key) once the watermark
 * (SL_TIME_EVENT) or the clock (SL_TIME_PROCESSING) reaches time_ms, in time order. Timers are
 * kept in the instance's keyed state (committed with the offsets), so they fire after a
 * restart too; setting the same (domain, key, time) twice makes one timer. key (klen bytes,
 * may be 0) is copied. Returns SL_ERR_STATE when the instance has no keyed state (see
 * sl_op_state()), SL_ERR_INVAL without an on_timer callback. */
SL_EXPORT sl_err_t sl_op_timer_set(sl_op_t *op, sl_time_domain_t domain, const void *key,
                                   size_t klen, int64_t time_ms);

/* Deletes the timer (domain, key, time_ms); deleting one that is not set is SL_OK. */
SL_EXPORT sl_err_t sl_op_timer_delete(sl_op_t *op, sl_time_domain_t domain, const void *key,
                                      size_t klen, int64_t time_ms);

/* --- side outputs and metrics -------------------------------------------------------------- */

/* The index of output stream name ("<system>.<stream>", an entry of task.outputs) for
 * sl_op_emit_to(), or -1 when the job has no such output. From then on that output receives
 * only what operators send it with sl_op_emit_to(), not the chain's output (a side output,
 * e.g. late records). Call it from init (also in the validation instance, so `config check`
 * knows). */
SL_EXPORT int sl_op_output(sl_op_t *op, const char *name);

/* Sends rec (borrowed) straight to side output `output` (from sl_op_output()), past the rest
 * of the chain. */
SL_EXPORT sl_err_t sl_op_emit_to(sl_op_t *op, int output, sl_record_t *rec);

/* A counter of the job's metrics (Prometheus, metrics.http.port) named name (e.g.
 * "sluice_window_late_records_total") with the labels operator, system, stream and partition
 * of this instance; help is one line. Look it up once (init) and keep it: the pointer is
 * valid until close returns. NULL for the validation instance or when the job has no metrics
 * (sl_op_counter_add() accepts NULL). */
typedef struct sl_metric sl_op_counter_t;
SL_EXPORT sl_op_counter_t *sl_op_counter(sl_op_t *op, const char *name, const char *help);

/* Adds n to a counter. Lock-free. */
SL_EXPORT void sl_op_counter_add(sl_op_counter_t *counter, int64_t n);

/* Registers a built-in style operator type so jobs can name it in `operators.<n>.type`.
 * plugin is borrowed and must outlive every job. Not thread-safe: call before creating jobs. */
SL_EXPORT sl_err_t sl_operator_register(const sl_operator_plugin_t *plugin);

#ifdef __cplusplus
}
#endif
#endif
