/*
 * sluice/job.h: a job built from a configuration: system consumers feed partitions, each
 * partition's records run through its own instance of the operator chain on one worker thread,
 * and the results go to the job's outputs. Source offsets are committed (SQLite by default)
 * only after every record derived from them was acknowledged by its sinks.
 */
#ifndef SLUICE_JOB_H
#define SLUICE_JOB_H

#include <stdio.h>

#include "checkpoint.h"
#include "common.h"
#include "conf.h"
#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_job sl_job_t;

/* Validates conf completely (every table, every operator's expressions, the outputs) and builds
 * a job. Takes ownership of conf on success only. On failure returns NULL and writes every
 * problem, one per line ("file:line: key: what"), to errstr (truncated to errlen). */
SL_EXPORT sl_job_t *sl_job_new(sl_conf_t *conf, char *errstr, size_t errlen);

/* Runs the job on the calling thread until its inputs are exhausted (for inputs that end) or
 * sl_job_stop() is called; then drains the chains, flushes the producers and writes the final
 * checkpoints. Returns SL_OK on a clean end. Call at most once per job. Signals: the library
 * installs no handler; while it runs, the calling thread (and the job's threads) block SIGPIPE,
 * so a write to a socket the peer closed fails with EPIPE instead of killing the process, and
 * a SIGPIPE raised meanwhile is consumed before the caller's mask is restored. */
SL_EXPORT sl_err_t sl_job_run(sl_job_t *job);

/* Runs sl_job_run() on a new thread and returns at once (SL_OK, SL_ERR_STATE when the job ran
 * or was started before, SL_ERR_IO when no thread could be created). For programs that embed a
 * job: feed and read it with sluice/host.h, end it with sl_job_stop() or by ending its inputs,
 * then collect it with sl_job_wait(). */
SL_EXPORT sl_err_t sl_job_start(sl_job_t *job);

/* Waits for the thread of sl_job_start() to finish and returns what sl_job_run() returned
 * (SL_ERR_STATE when the job was not started with sl_job_start(); a second wait returns the
 * same result again). One thread at a time, never the job's own. */
SL_EXPORT sl_err_t sl_job_wait(sl_job_t *job);

/* Asks a running job to stop gracefully. Safe from any thread and from a signal handler. A
 * second call while the first is draining makes sl_job_run() return at once (SL_ERR_STOPPED)
 * without the final commit. */
SL_EXPORT void sl_job_stop(sl_job_t *job);

/* Sends the job's log lines (those of every thread running it) to cb instead of the
 * process-wide sink (sl_log_set_callback() or the log file); NULL: back to that sink. The
 * lines follow the job's log.level, log.debug and log.format. opaque is passed to cb,
 * borrowed until sl_job_destroy(). Not thread-safe: call before sl_job_run(). */
SL_EXPORT void sl_job_set_log_callback(sl_job_t *job, sl_log_cb cb, void *opaque);

/* Why the job failed (the first error that stopped it), or NULL when it did not. Borrowed,
 * valid until sl_job_destroy(). */
SL_EXPORT const char *sl_job_error(const sl_job_t *job);

/* Writes the effective configuration (every key of every component with its value and origin,
 * secrets masked) to fp. */
SL_EXPORT void sl_job_dump_config(const sl_job_t *job, FILE *fp);

/* The job's configuration. Borrowed, valid until sl_job_destroy(). */
SL_EXPORT const sl_conf_t *sl_job_conf(const sl_job_t *job);

/* Frees the job. Accepts NULL. The job must not be running, except that a job started with
 * sl_job_start() and not yet waited for is stopped (sl_job_stop()) and waited for first. */
SL_EXPORT void sl_job_destroy(sl_job_t *job);

/* Opens the job's local checkpoint store (job.checkpoint.sqlite.path or its default,
 * "<job.name>-<job.id>.checkpoints.db"), creating it when missing. Returns NULL with errstr
 * filled ("path: what") on failure. Caller frees with sl_ckpt_close(). Main thread, not while
 * the job runs when used for sl_ckpt_reset(). */
SL_EXPORT sl_ckpt_store_t *sl_job_open_checkpoints(sl_job_t *job, char *errstr, size_t errlen);

/* Lists (how 0: cb is called for each, on the calling thread) or deletes (how SL_EXT_RESET,
 * plus SL_EXT_FORCE to delete those a running worker holds) the checkpoints the job's input
 * systems keep outside the local store (KCL lease tables), filtered by stream and partition
 * (NULL: all); *n receives the count. SL_OK when there are none; SL_ERR_STATE when a reset was
 * refused because workers hold them (errstr names them); another error with errstr saying what
 * and where. Talks to the system's services (blocking). Never while the job runs. */
SL_EXPORT sl_err_t sl_job_ext_checkpoints(sl_job_t *job, const char *stream,
                                          const char *partition, int how, sl_ckpt_list_cb cb,
                                          void *opaque, int *n, char *errstr, size_t errlen);

/* Writes docs/CONFIGURATION.md (every property table of the library) to fp. */
SL_EXPORT void sl_conf_write_docs(FILE *fp);

#ifdef __cplusplus
}
#endif
#endif
