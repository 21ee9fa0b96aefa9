/*
 * checkpoint.h: the checkpoint store interface. A store keeps, per (job name, job id, system,
 * stream, partition), the last committed offset and sub-offset. The SQLite store is the embedded
 * default and also mirrors checkpoints that a system keeps elsewhere (the KCL lease table).
 * The same file holds the operators' keyed state (state.c), written in the offsets' transaction.
 * A store is safe to use from several worker threads at once.
 */
#ifndef SL_CHECKPOINT_H
#define SL_CHECKPOINT_H

#include <stdint.h>

#include "sluice/checkpoint.h"


/* Opens (creating when missing) the SQLite store at path for job (name, id): WAL mode,
 * synchronous=FULL so a commit survives kill -9 and power loss, busy timeout for concurrent
 * writers. Returns NULL with errstr filled ("path: what") on failure. Strings are copied. Caller
 * frees with sl_ckpt_close(). */
sl_ckpt_store_t *sl_ckpt_sqlite_open(const char *path, const char *job_name, const char *job_id,
                                     char *errstr, size_t errlen);

/* Writes n checkpoints in one durable transaction (all or nothing). Borrowed. */
sl_err_t sl_ckpt_write(sl_ckpt_store_t *st, const sl_ckpt_t *cps, int n, char *errstr,
                       size_t errlen);

/* Reads the checkpoint of one partition. On SL_OK, *offset is a heap copy the caller frees;
 * returns SL_ERR_NOENT when there is none; on another error sl_ckpt_read_error() says why. */
sl_err_t sl_ckpt_read(sl_ckpt_store_t *st, const char *system, const char *stream,
                      const char *partition, char **offset, int64_t *subseq);
/* Why the last sl_ckpt_read() failed ("path: reading s/x/p: what"), into buf. */
void sl_ckpt_read_error(sl_ckpt_store_t *st, char *buf, size_t len);

/* The store's connection, for the keyed state (state.c) that lives in the same file. fn runs
 * on the calling thread with the store's lock held, outside any transaction, and returns an
 * SQLite result code, which is returned. */
struct sqlite3;
typedef int (*sl_ckpt_db_fn)(void *opaque, struct sqlite3 *db);
int sl_ckpt_with_db(sl_ckpt_store_t *st, sl_ckpt_db_fn fn, void *opaque);

/* sl_ckpt_write(), and in the same transaction, after the offsets, fn(opaque, db) (may be NULL):
 * any result but SQLITE_OK rolls the whole transaction back. n may be 0 when fn is set. */
sl_err_t sl_ckpt_write_with(sl_ckpt_store_t *st, const sl_ckpt_t *cps, int n, sl_ckpt_db_fn fn,
                            void *opaque, char *errstr, size_t errlen);

/* The job name and id the store was opened for. Borrowed, valid until sl_ckpt_close(). */
const char *sl_ckpt_job_name(const sl_ckpt_store_t *st);
const char *sl_ckpt_job_id(const sl_ckpt_store_t *st);

/* sl_ckpt_list(), sl_ckpt_reset() and sl_ckpt_close() are public: sluice/checkpoint.h. */

#endif
