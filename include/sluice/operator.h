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

#define SL_OPERATOR_ABI_VERSION 1

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

/* Registers a built-in style operator type so jobs can name it in `operators.<n>.type`.
 * plugin is borrowed and must outlive every job. Not thread-safe: call before creating jobs. */
SL_EXPORT sl_err_t sl_operator_register(const sl_operator_plugin_t *plugin);

#ifdef __cplusplus
}
#endif
#endif
