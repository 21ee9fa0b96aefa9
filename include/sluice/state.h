/*
 * sluice/state.h: keyed state for operators. Every operator instance (one per input partition)
 * gets its own key-value store: keys and values are bytes, an entry may expire (TTL). The store
 * lives in the job's SQLite checkpoint file, behind a write-back cache of task.state.cache.size
 * entries; the changes made since the last commit are written in the same SQLite transaction as
 * the partition's offsets. After a crash (kill -9) and restart, an instance's state is exactly
 * what the records up to the partition's committed offset made of it: the records replayed
 * after the restart change it once more, never twice.
 *
 * Threads: a store belongs to its operator instance; every function here may only be called on
 * the worker thread that runs that instance (from its callbacks), like the rest of sl_op_*.
 */
#ifndef SLUICE_STATE_H
#define SLUICE_STATE_H

#include "common.h"
#include "operator.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One operator instance's keyed store. */
typedef struct sl_state sl_state_t;

/* The instance's store, or NULL when it has none: the validation instance (init with no
 * partition), inputs without checkpoints (stdin), or out of memory on the first call.
 * Borrowed, valid until the instance's close returns; the same pointer on every call. */
SL_EXPORT sl_state_t *sl_op_state(sl_op_t *op);

/* Looks key (klen bytes) up. On SL_OK, *val and *vlen receive the value: borrowed, valid until
 * the next call of any sl_state_* function on this store (copy it to keep it); a value of 0
 * bytes gives a non-NULL *val. Returns SL_ERR_NOENT when the key is absent or expired, another
 * error (SL_ERR_DB, SL_ERR_NOMEM) when the store cannot be read. */
SL_EXPORT sl_err_t sl_state_get(sl_state_t *st, const void *key, size_t klen, const void **val,
                                size_t *vlen);

/* Sets key to val (both copied). ttl_ms > 0: the entry reads as absent from ttl_ms after now
 * (the job's injected clock) and is then deleted; 0: it never expires. Returns SL_ERR_INVAL
 * (with an error logged naming the operator, the key and the size) for a value larger than
 * task.state.value.max-bytes or an empty key. */
SL_EXPORT sl_err_t sl_state_put(sl_state_t *st, const void *key, size_t klen, const void *val,
                                size_t vlen, int64_t ttl_ms);

/* Deletes key. Deleting an absent key is SL_OK. */
SL_EXPORT sl_err_t sl_state_delete(sl_state_t *st, const void *key, size_t klen);

/* Called once per live entry of a scan, in ascending byte order of the keys (memcmp order, a
 * shorter key first when it is a prefix of the other); key and val are borrowed for the call.
 * The callback may call sl_state_* on the store: the scan reads the store in batches of copies,
 * so changing or deleting the entry being visited is safe; keys the callback adds or deletes
 * further on in the range may or may not be visited. A non-zero return stops the scan (without
 * reading further batches) and is returned. */
typedef int (*sl_state_scan_cb)(void *opaque, const void *key, size_t klen, const void *val,
                                size_t vlen);

/* Calls cb for every live (present, unexpired) entry whose key starts with prefix (plen bytes;
 * 0 scans everything). Returns SL_OK, the callback's non-zero return, or an SL_ERR_*. */
SL_EXPORT sl_err_t sl_state_scan_prefix(sl_state_t *st, const void *prefix, size_t plen,
                                        sl_state_scan_cb cb, void *opaque);

/* Calls cb for every live entry with lo <= key < hi in byte order (lo of 0 bytes: from the
 * first key; hi NULL: to the last). With big-endian numbers in the keys this reads a store in
 * numeric order: time-ordered indexes, "everything up to T". Returns like
 * sl_state_scan_prefix(). */
SL_EXPORT sl_err_t sl_state_scan_range(sl_state_t *st, const void *lo, size_t lolen,
                                       const void *hi, size_t hilen, sl_state_scan_cb cb,
                                       void *opaque);

/* Deletes every entry with lo <= key < hi (hi NULL: to the last), without reading them: one
 * statement on disk, however many there are. Returns SL_OK or an SL_ERR_*. */
SL_EXPORT sl_err_t sl_state_delete_range(sl_state_t *st, const void *lo, size_t lolen,
                                         const void *hi, size_t hilen);

/* Deletes every entry of the store (committed with the next checkpoint, like any change). */
SL_EXPORT sl_err_t sl_state_clear(sl_state_t *st);

#ifdef __cplusplus
}
#endif
#endif
