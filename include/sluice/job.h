/*
 * sluice/job.h: a job built from a configuration: system consumers feed partitions, each
 * partition's records run through its own instance of the operator chain on one worker thread,
 * and the results go to the job's outputs. Source offsets are committed (SQLite by default)
 * only after every record derived from them was acknowledged by its sinks.
 */
#ifndef SLUICE_JOB_H
#define SLUICE_JOB_H

#include <stdio.h>

#include "common.h"
#include "conf.h"

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
 * checkpoints. Returns SL_OK on a clean end. Call at most once per job. */
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

/* Writes docs/CONFIGURATION.md (every property table of the library) to fp. */
SL_EXPORT void sl_conf_write_docs(FILE *fp);

#ifdef __cplusplus
}
#endif
#endif
