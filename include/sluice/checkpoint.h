/*
 * sluice/checkpoint.h: a checkpoint as sluice lists it: the last committed position of one
 * partition of one input stream of a job, from the job's local store (SQLite) or from a store
 * the system keeps itself (a KCL lease table in DynamoDB).
 */
#ifndef SLUICE_CHECKPOINT_H
#define SLUICE_CHECKPOINT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_ckpt {
    const char *system, *stream, *partition;
    const char *offset; /* last processed offset, as text */
    int64_t subseq;     /* sub-offset (KPL sub-sequence number), 0 when none */
    int64_t updated_ms; /* when it was written (filled on read/list) */
    /* Listed from a store the system keeps itself (updated_ms -1, a KCL lease table); NULL /
     * 0 otherwise. store names it ("lease table T"), owner is the lease owner (NULL: none),
     * state what one read of the lease tells ("free", "owned", "finished", "unreadable"),
     * note a sentence more (the problems of an unreadable item, what "owned" can mean). */
    const char *store, *owner, *state, *note;
    int64_t counter;    /* the lease counter */
} sl_ckpt_t;

/* Called once per checkpoint listed; cp and its strings are borrowed for the call. A non-zero
 * return stops the listing (returned as an SL_ERR_* value). Called on the listing thread. */
typedef int (*sl_ckpt_list_cb)(void *opaque, const sl_ckpt_t *cp);

/* A job's local checkpoint store (sl_job_open_checkpoints()). Safe to use from several threads
 * at once. */
typedef struct sl_ckpt_store sl_ckpt_store_t;

/* Calls cb for every checkpoint of the store's job matching the filters (NULL = any), ordered
 * by system, stream, partition, on the calling thread. Returns SL_OK or the first non-zero cb
 * result as SL_ERR_*. */
SL_EXPORT sl_err_t sl_ckpt_list(sl_ckpt_store_t *st, const char *stream, const char *partition,
                                sl_ckpt_list_cb cb, void *opaque);

/* Deletes the store's job's checkpoints matching the filters (NULL = any), and with them the
 * operators' keyed state (sluice/state.h) of those partitions (all of the job's state without
 * filters), in one transaction; *deleted receives the count of checkpoints (may be NULL). Thread-safe, but never while the job runs (it would write them
 * again). */
SL_EXPORT sl_err_t sl_ckpt_reset(sl_ckpt_store_t *st, const char *stream, const char *partition,
                                 int *deleted);

/* Closes the store. Accepts NULL. */
SL_EXPORT void sl_ckpt_close(sl_ckpt_store_t *st);

/* How sl_job_ext_checkpoints() goes: 0 lists; SL_EXT_RESET deletes, refusing checkpoints a
 * running worker holds unless SL_EXT_FORCE is added. */
#define SL_EXT_RESET 0x01
#define SL_EXT_FORCE 0x02

#ifdef __cplusplus
}
#endif
#endif
