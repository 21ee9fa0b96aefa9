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

#ifdef __cplusplus
}
#endif
#endif
