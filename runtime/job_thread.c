/*
 * job_thread.c: a job on a thread of its own, for programs that embed sluice (sluice/host.h):
 * sl_job_start() runs sl_job_run() on a new thread, sl_job_wait() joins it and hands back its
 * result. The job itself is unchanged: sl_job_stop() reaches it from any thread.
 */
#include <pthread.h>

#include "job_int.h"

static void *run_thread(void *arg) {
    sl_job_t *job = arg;
    job->run_rc = sl_job_run(job);
    return NULL;
}

sl_err_t sl_job_start(sl_job_t *job) {
    if (!job || job->run_started || job->running)
        return SL_ERR_STATE;
    if (pthread_create(&job->run_thread, NULL, run_thread, job) != 0)
        return SL_ERR_IO;
    job->run_started = 1;
    return SL_OK;
}

sl_err_t sl_job_wait(sl_job_t *job) {
    if (!job || !job->run_started)
        return SL_ERR_STATE;
    if (job->run_started == 1) {
        pthread_join(job->run_thread, NULL);
        job->run_started = 2;
    }
    return job->run_rc;
}

void sl_job_thread_reap(sl_job_t *job) {
    if (job->run_started == 1) {
        sl_job_stop(job);
        sl_job_wait(job);
    }
}
