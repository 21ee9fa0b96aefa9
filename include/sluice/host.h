/*
 * sluice/host.h: records in and out of a job from the program that embeds it. A job whose
 * configuration has a system with `samza.factory=inproc` (or `sluice.system.InProcessSystemFactory`)
 * gets host inputs (the program pushes records into a stream's partitions, each record gets an
 * offset) and host outputs (the program receives what the chain produced and acknowledges it).
 *
 * At least once through the host: an input record's offset is committed to the job's checkpoint
 * store only after every output record derived from it was acknowledged (for a host output: by
 * sl_host_record_ack()), so the program keeps its copy of a pushed record until the offset is
 * committed (sl_host_input_on_commit(), sl_host_input_committed()) and, after a restart,
 * pushes again from sl_host_input_committed() + 1.
 *
 * Streams are named as in task.inputs / task.outputs: "<system>.<stream>". Partitions of a host
 * input are numbered 0 .. partitions-1 (stream key `partitions`, default 1); their ids in the
 * checkpoint store are the numbers as text. Offsets count from 1 in each partition.
 *
 * Threads: every function here may be called from any thread, before, while and after the job
 * runs, until sl_job_destroy(). Callbacks run on the job's worker threads: they must not block
 * for long and must not call sl_job_destroy(); they may call the functions of this header
 * except blocking ones (sl_host_push() with a timeout, sl_host_output_poll() with a timeout).
 */
#ifndef SLUICE_HOST_H
#define SLUICE_HOST_H

#include "common.h"
#include "job.h"
#include "record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* sl_host_push() partition: choose it by a hash of the key (records without a key go to 0). */
#define SL_HOST_BY_KEY (-1)

/* sl_host_push() / sl_host_output_poll() timeout: wait as long as it takes. */
#define SL_HOST_FOREVER (-1)

/* An output record handed to the host. Owned by the host from sl_host_output_poll() or the
 * record callback until sl_host_record_ack(); invalid after sl_job_destroy(). */
typedef struct sl_host_record sl_host_record_t;

/* --- input --------------------------------------------------------------------------------- */

/*
 * Pushes one record into host input `input` (key and data copied; key may be NULL). partition
 * is a partition number or SL_HOST_BY_KEY. When the partition's queue (stream key `queue.size`)
 * is full: timeout_ms 0 returns SL_ERR_RETRY at once (see sl_host_input_on_room()), > 0 waits up
 * to that many ms and then returns SL_ERR_RETRY, SL_HOST_FOREVER waits until there is room.
 * On SL_OK *offset (may be NULL) receives the record's offset in its partition and *part_out
 * (may be NULL) the partition. Other results: SL_ERR_NOENT no such host input, SL_ERR_INVAL a
 * partition out of range, SL_ERR_STATE the input was ended, SL_ERR_STOPPED the job finished
 * running, SL_ERR_NOMEM. Pushing before the job runs is fine: records wait in the queue.
 */
SL_EXPORT sl_err_t sl_host_push(sl_job_t *job, const char *input, int partition,
                                const void *key, size_t keylen, const void *data, size_t len,
                                int timeout_ms, int *part_out, int64_t *offset);

/* Called on a worker thread when a partition of input whose queue was found full by a
 * sl_host_push() has room again (once per refusal). */
typedef void (*sl_host_room_cb)(sl_job_t *job, const char *input, int partition, void *opaque);

/* Sets (cb NULL: removes) the room callback of input. opaque is borrowed until it is replaced
 * or the job is destroyed. SL_ERR_NOENT: no such host input. */
SL_EXPORT sl_err_t sl_host_input_on_room(sl_job_t *job, const char *input, sl_host_room_cb cb,
                                         void *opaque);

/* Called on a worker thread after the offset of a partition of input was committed to the
 * checkpoint store: every record up to and including offset was processed and all its outputs
 * acknowledged; the host may release its copies. */
typedef void (*sl_host_commit_cb)(sl_job_t *job, const char *input, int partition,
                                  int64_t offset, void *opaque);

/* Sets (cb NULL: removes) the commit callback of input. opaque as for sl_host_input_on_room(). */
SL_EXPORT sl_err_t sl_host_input_on_commit(sl_job_t *job, const char *input,
                                           sl_host_commit_cb cb, void *opaque);

/* The committed offset of a partition of input into *offset: from the checkpoint store when
 * the job was built (a restart resumes after it), then as the job commits. SL_ERR_NOENT when
 * nothing was committed yet (or no such input), SL_ERR_INVAL for a partition out of range. */
SL_EXPORT sl_err_t sl_host_input_committed(sl_job_t *job, const char *input, int partition,
                                           int64_t *offset);

/* The number of partitions of input, or a negative sl_err_t (SL_ERR_NOENT). */
SL_EXPORT int sl_host_input_partitions(sl_job_t *job, const char *input);

/* Ends input: no more pushes (SL_ERR_STATE); its partitions end once their queues are read
 * and every output record derived from them was acknowledged (a host output's records by
 * sl_host_record_ack(): keep polling and acknowledging until sl_host_output_poll() returns
 * SL_ERR_STOPPED). The job ends by itself when all its inputs ended (like files). */
SL_EXPORT sl_err_t sl_host_input_end(sl_job_t *job, const char *input);

/* --- output -------------------------------------------------------------------------------- */

/*
 * Takes the next record of host output `output` into *rec, waiting up to timeout_ms (0: not at
 * all, SL_HOST_FOREVER). The record is the caller's until sl_host_record_ack(). Returns SL_OK,
 * SL_ERR_RETRY (nothing within the timeout), SL_ERR_STOPPED (the job finished and nothing is
 * left), SL_ERR_NOENT (no such host output), SL_ERR_STATE (the output has a record callback).
 */
SL_EXPORT sl_err_t sl_host_output_poll(sl_job_t *job, const char *output, int timeout_ms,
                                       sl_host_record_t **rec);

/* Called on the worker thread that produced rec; rec is the host's until sl_host_record_ack()
 * (which may be called here or later from any thread). */
typedef void (*sl_host_record_cb)(sl_job_t *job, const char *output, sl_host_record_t *rec,
                                  void *opaque);

/* Delivers the records of output to cb instead of the poll queue (cb NULL: back to the queue).
 * Set it before the job starts; records already queued stay in the queue. */
SL_EXPORT sl_err_t sl_host_output_on_record(sl_job_t *job, const char *output,
                                            sl_host_record_cb cb, void *opaque);

/* Acknowledges rec (durably handled by the host) and frees it; rec is invalid afterwards.
 * Until then the source offsets rec came from are not committed. A record not acknowledged
 * when the job stops is dropped by the job without acknowledgement (its offset and the ones
 * after it in its partition stay uncommitted); acknowledging it afterwards only frees it.
 * Accepts NULL. Call exactly once per record. */
SL_EXPORT void sl_host_record_ack(sl_host_record_t *rec);

/* The payload; *len (may be NULL) receives its length. Borrowed, valid until the ack. */
SL_EXPORT const void *sl_host_record_data(const sl_host_record_t *rec, size_t *len);
/* The key, or NULL; *len (may be NULL) its length. Borrowed like the payload. */
SL_EXPORT const char *sl_host_record_key(const sl_host_record_t *rec, size_t *len);
/* The value of header name, or NULL. Borrowed like the payload. */
SL_EXPORT const char *sl_host_record_header(const sl_host_record_t *rec, const char *name);
/* The event time in ms since the epoch (0: none). */
SL_EXPORT int64_t sl_host_record_event_time(const sl_host_record_t *rec);
/* Where the record came from (system, stream, partition, offset of its source). Borrowed like
 * the payload. */
SL_EXPORT const sl_source_t *sl_host_record_source(const sl_host_record_t *rec);

#ifdef __cplusplus
}
#endif
#endif
