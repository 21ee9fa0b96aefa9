/*
 * kinesis_lease.h: the Kinesis connector's view of a KCL-compatible DynamoDB lease table. Shard
 * ownership and checkpoints live in that table, shared with Java KCL 2.x/3.x workers of the
 * same application: one item per shard keyed by leaseKey, every write conditional on the
 * leaseCounter (optimistic concurrency). This module turns each lease operation (ensure the
 * table, list, get, create, renew, take, checkpoint, evict, shard end, delete) into one
 * asynchronous DynamoDB call through aws/aws_client.h, parses items strictly into
 * kin_lease_t, and reports a failed condition as its own outcome so the lease coordinator above
 * can re-read instead of retrying blindly. Writes are UpdateItem expressions that only touch
 * our attributes, so attributes a KCL 3.x worker adds (throughputKBps, checkpointOwner, ...)
 * survive. Runs on one event loop; not thread-safe.
 */
#ifndef SL_KINESIS_LEASE_H
#define SL_KINESIS_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "aws_client.h"
#include "sluice/common.h"

struct event_base;

/* One lease item, mirroring the KCL attributes (DynamoDB type in brackets). Every string is
 * owned by the struct; free with kin_lease_free(). */
typedef struct kin_lease {
    char *key;                      /* leaseKey [S], the shard id; never NULL */
    char *owner;                    /* leaseOwner [S]; NULL = unassigned */
    int64_t counter;                /* leaseCounter [N] */
    char *checkpoint;               /* checkpoint [S]: sequence number or TRIM_HORIZON, LATEST,
                                     * AT_TIMESTAMP, SHARD_END; NULL when absent */
    int64_t checkpoint_sub;         /* checkpointSubSequenceNumber [N] */
    char *pending_checkpoint;       /* pendingCheckpoint [S]; NULL when absent */
    int64_t pending_checkpoint_sub; /* pendingCheckpointSubSequenceNumber [N] */
    int64_t owner_switches;         /* ownerSwitchesSinceCheckpoint [N] */
    char **parents;                 /* parentShardId [SS] */
    size_t n_parents;
    char **children;                /* childShardIds [SS] */
    size_t n_children;
    char *starting_hash_key;        /* startingHashKey [S], decimal; NULL when absent */
    char *ending_hash_key;          /* endingHashKey [S], decimal; NULL when absent */
} kin_lease_t;

/* Frees a lease and everything it holds. Accepts NULL. */
void kin_lease_free(kin_lease_t *lease);

/* Frees n leases and the array. Accepts NULL. */
void kin_lease_list_free(kin_lease_t **leases, size_t n);

/* Parses a DynamoDB item ({"leaseKey":{"S":"..."}, ...}, borrowed) strictly: every known
 * attribute must carry its KCL type and a valid value (integers for N, decimal digits for the
 * hash keys, non-empty sets); unknown attributes are ignored. On success *out is a new lease
 * the caller frees with kin_lease_free(). On failure returns SL_ERR_INVAL (SL_ERR_NOMEM) and
 * errstr says "item leaseKey=K: " and every problem of the item ("leaseCounter is S,
 * expected N; checkpoint missing"): a lease without a checkpoint is one. */
sl_err_t kin_lease_from_item(const json_t *item, kin_lease_t **out, char *errstr, size_t errlen);

/* The full DynamoDB item of lease, as the KCL would write it (absent fields left out). Returns
 * a new reference (caller json_decref()s it), or NULL when lease has no key or on allocation
 * failure. */
json_t *kin_lease_to_item(const kin_lease_t *lease);

/* --- the table ----------------------------------------------------------------------------- */

typedef struct kin_lease_table kin_lease_table_t;

/* The outcome of one operation, handed to the callback. err is SL_OK on success;
 * SL_ERR_STATE with lost_race = 1 when a condition failed (ConditionalCheckFailedException:
 * another worker wrote first; re-read, never retry blindly); SL_ERR_NOENT when the lease (get)
 * or the table does not exist; SL_ERR_INVAL for a malformed item or a fatal AWS error;
 * SL_ERR_IO / SL_ERR_RETRY when the transport or retries gave up; SL_ERR_CONF when an existing
 * table has another key schema. msg is a sentence for the log (borrowed for the call).
 * lease is the item as it is after a successful write or get (ReturnValues ALL_NEW), leases /
 * n_leases the result of a list. The callback may move lease or leases out (setting the field
 * to NULL and taking ownership); whatever it leaves is freed after it returns. */
/* An item of the table that does not parse as a lease (a list sets it aside and goes on). */
typedef struct kin_lease_bad {
    char *key;      /* its leaseKey; NULL when leaseKey itself is missing or not a string */
    char *problems; /* every problem found, "; "-separated ("leaseCounter is S, expected N") */
    char *item;     /* the item as compact JSON with sorted keys: it identifies its content */
} kin_lease_bad_t;

typedef struct kin_lease_result {
    sl_err_t err;
    int lost_race;
    const char *msg;
    kin_lease_t *lease;
    kin_lease_t **leases;
    size_t n_leases;
    const kin_lease_bad_t *bad; /* list: items that are not leases (borrowed for the call) */
    size_t n_bad;
    int created; /* ensure: 1 when this call created the table */
} kin_lease_result_t;

typedef void (*kin_lease_cb)(void *opaque, kin_lease_result_t *res);

/* A lease table named table (copied) reached through client, with timers on base (both
 * borrowed; they must outlive the table). Returns NULL with errstr filled on a bad argument or
 * allocation failure. Caller frees with kin_lease_table_destroy(). */
kin_lease_table_t *kin_lease_table_new(sl_aws_client_t *client, struct event_base *base,
                                       const char *table, char *errstr, size_t errlen);

/* Frees the table. Operations in flight are cancelled in the client (sl_aws_cancel): their
 * callbacks are never called. The client must still be alive. Accepts NULL. Not from inside
 * an kin_lease_cb. */
void kin_lease_table_destroy(kin_lease_table_t *lt);

/* Operations started and not yet reported. */
int kin_lease_table_pending(const kin_lease_table_t *lt);

/* Polling of kin_lease_table_ensure(): interval and overall limit in ms (defaults 250, 60000). */
void kin_lease_table_set_poll(kin_lease_table_t *lt, int64_t interval_ms, int64_t timeout_ms);

/* Every operation below reports exactly once through cb (with opaque, borrowed) from the
 * loop, never from inside the call; string arguments are copied. They return an error only
 * when the operation cannot be started (SL_ERR_INVAL for a bad argument, SL_ERR_NOMEM). */

/* DescribeTable; when the table is missing and create is set, CreateTable (leaseKey S HASH,
 * PAY_PER_REQUEST); then polls until the table is ACTIVE. Checks the key schema of an
 * existing table. res->created says whether this call created it. */
sl_err_t kin_lease_table_ensure(kin_lease_table_t *lt, int create, kin_lease_cb cb, void *opaque);

/* Every lease (consistent Scan, all pages), in the table's order. Items that do not parse are
 * not an error of the list: they come in res->bad, each with all its problems. */
sl_err_t kin_lease_table_list(kin_lease_table_t *lt, kin_lease_cb cb, void *opaque);

/* One lease (consistent GetItem); SL_ERR_NOENT when there is none. */
sl_err_t kin_lease_table_get(kin_lease_table_t *lt, const char *key, kin_lease_cb cb,
                             void *opaque);

/* Writes lease (borrowed; counter as given, usually 0) when no item with its key exists;
 * lost_race when one does. res->lease is the lease as written. */
sl_err_t kin_lease_table_create(kin_lease_table_t *lt, const kin_lease_t *lease, kin_lease_cb cb,
                                void *opaque);

/* Renews: leaseCounter = seen + 1 if leaseCounter = seen and leaseOwner = owner. */
sl_err_t kin_lease_table_renew(kin_lease_table_t *lt, const char *key, int64_t seen,
                               const char *owner, kin_lease_cb cb, void *opaque);

/* Takes: leaseOwner = new_owner, leaseCounter = seen + 1, and ownerSwitchesSinceCheckpoint + 1
 * when old_owner (the owner read with seen; NULL = unassigned) differs from new_owner, if
 * leaseCounter = seen and the owner is still old_owner. */
sl_err_t kin_lease_table_take(kin_lease_table_t *lt, const char *key, int64_t seen,
                              const char *old_owner, const char *new_owner, kin_lease_cb cb,
                              void *opaque);

/* Checkpoints: checkpoint = seq, checkpointSubSequenceNumber = sub, leaseCounter = seen + 1,
 * ownerSwitchesSinceCheckpoint = 0, pendingCheckpoint, pendingCheckpointSubSequenceNumber and
 * pendingCheckpointState removed (as the KCL's checkpoint update does), if leaseCounter = seen
 * and leaseOwner = owner. */
sl_err_t kin_lease_table_checkpoint(kin_lease_table_t *lt, const char *key, int64_t seen,
                                    const char *owner, const char *seq, int64_t sub,
                                    kin_lease_cb cb, void *opaque);

/* The end of a shard: a checkpoint of SHARD_END (sub 0) that also sets childShardIds to the
 * n children (borrowed, n >= 1), same conditions. */
sl_err_t kin_lease_table_shard_end(kin_lease_table_t *lt, const char *key, int64_t seen,
                                   const char *owner, const char *const *children, size_t n,
                                   kin_lease_cb cb, void *opaque);

/* Evicts: removes leaseOwner and sets leaseCounter + 1, if leaseOwner = owner. */
sl_err_t kin_lease_table_evict(kin_lease_table_t *lt, const char *key, const char *owner,
                               kin_lease_cb cb, void *opaque);

/* Deletes the item; when seen >= 0 only if leaseCounter = seen (else unconditionally, like
 * the KCL's deleteLease). res->lease is NULL. */
sl_err_t kin_lease_table_delete(kin_lease_table_t *lt, const char *key, int64_t seen,
                                kin_lease_cb cb, void *opaque);

#endif
