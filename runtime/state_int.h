/*
 * state_int.h: the runtime's side of the operators' keyed state (sluice/state.h). A state host
 * belongs to one partition ("task": system/stream/partition) and holds one store per operator
 * instance of that partition's chain, created on the first sl_op_state(). The worker commits a
 * host's changes inside the transaction that writes the partition's offset
 * (sl_ckpt_write_with() with sl_state_commit_fn). Everything here runs on the partition's
 * worker thread.
 */
#ifndef SL_STATE_INT_H
#define SL_STATE_INT_H

#include <stdint.h>

#include "checkpoint.h"
#include "sluice/state.h"

typedef struct sl_state_host sl_state_host_t;

/* A host for task (system/stream/partition, copied) in ckpt's file (borrowed: must outlive the
 * host). cache_entries bounds each store's cache (entries), value_max the size of a value.
 * Forgets changes a previous host of the same task left uncommitted in this process. Returns
 * NULL with errstr filled on failure. */
sl_state_host_t *sl_state_host_new(sl_ckpt_store_t *ckpt, const char *task,
                                   int64_t cache_entries, int64_t value_max, char *errstr,
                                   size_t errlen);

/* The store of operator instance op (name borrowed for the call), created on first use.
 * Borrowed, valid until sl_state_host_destroy(). NULL when out of memory. */
sl_state_t *sl_state_host_store(sl_state_host_t *sh, const char *op);

/* A job-wide table `table` (e.g. the system/stream of a broadcast input; copied) of operator
 * op, shared by the instances of op on every partition: its rows are written under the task
 * "table:<table>" rather than the host's. write=1: the store of an instance on one of the
 * table's own partitions, cached like any store, its changes committed with this host's offsets
 * (several partitions may write one key: the last commit wins, and a change replayed after a
 * crash is applied again, so table updates must be idempotent, upserts and deletions).
 * write=0: a read-only view for the other instances, uncached, reading what the writers
 * committed (or spilled); sl_state_put/delete/clear on it return SL_ERR_STATE. Borrowed like
 * sl_state_host_store(); NULL when out of memory or the name is too long. */
sl_state_t *sl_state_host_table(sl_state_host_t *sh, const char *op, const char *table,
                                int write);

/* 1 when a store of the host changed since the last commit. */
int sl_state_host_changed(const sl_state_host_t *sh);

/* The hosts a commit writes; opaque of sl_state_commit_fn. */
typedef struct sl_state_commit {
    sl_state_host_t **hosts;
    int n;
} sl_state_commit_t;

/* sl_ckpt_db_fn writing the changes of every host of an sl_state_commit_t (and deleting its
 * expired rows), inside the checkpoint transaction. */
int sl_state_commit_fn(void *opaque, struct sqlite3 *db);

/* After the transaction of sl_state_commit_fn committed: the changes are now the base. */
void sl_state_host_committed(sl_state_host_t *sh);

/* Frees the host and its stores, dropping uncommitted changes. Accepts NULL. */
void sl_state_host_destroy(sl_state_host_t *sh);

#endif
