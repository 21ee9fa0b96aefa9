/*
 * job.c: a job's lifecycle on the main thread. sl_job_new() validates the whole configuration
 * (conf_job.c) before anything starts; sl_job_run() opens the checkpoint store, starts the
 * metrics server and the workers, discovers the input partitions and hands them out, then waits
 * for the end: inputs exhausted, sl_job_stop() (graceful drain with a final commit; a second
 * call skips the commit), or a failure (first message wins, the job drains what is committable
 * and returns an error).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>

#include "health.h"
#include "job_int.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

sl_job_t *sl_job_new(sl_conf_t *conf, char *errstr, size_t errlen) {
    const sl_log_cfg_t *prev;
    sl_job_t *job;
    if (errlen)
        errstr[0] = '\0';
    if (!conf || !(job = calloc(1, sizeof(*job)))) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    job->conf = conf;
    job->log.level = SL_LOG_INFO;
    prev = sl_log_scope(&job->log);
    job->stop_pipe[0] = job->stop_pipe[1] = -1;
    pthread_mutex_init(&job->faillock, NULL);
    /* The stop pipe exists from the start, so a stop asked for before or early in
     * sl_job_run() is never lost: its byte waits in the pipe. */
    if (pipe(job->stop_pipe) != 0) {
        snprintf(errstr, errlen, "pipe: %s", strerror(errno));
        job->conf = NULL;
        sl_job_destroy(job);
        sl_log_scope(prev);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(job->stop_pipe[i], F_SETFL, O_NONBLOCK);
        fcntl(job->stop_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    if (sl_job_configure(job) != SL_OK) {
        sl_sb_t sb = {0};
        int n = sl_conf_error_count(conf);
        for (int i = 0; i < n; i++)
            sl_sb_printf(&sb, "%s%s", i ? "\n" : "", sl_conf_error_at(conf, i));
        if (!n)
            sl_sb_puts(&sb, "invalid configuration");
        snprintf(errstr, errlen, "%s", sb.buf ? sb.buf : "out of memory");
        sl_log_scrub(errstr);
        sl_sb_free(&sb);
        job->conf = NULL; /* ownership passes only on success */
        sl_job_destroy(job);
        sl_log_scope(prev);
        return NULL;
    }
    if (sl_host_attach(job, errstr, errlen) != SL_OK) {
        job->conf = NULL;
        sl_job_destroy(job);
        sl_log_scope(prev);
        return NULL;
    }
    sl_log_scope(prev);
    return job;
}

void sl_job_set_log_callback(sl_job_t *job, sl_log_cb cb, void *opaque) {
    job->log.cb = cb;
    job->log.opaque = opaque;
}

const sl_conf_t *sl_job_conf(const sl_job_t *job) {
    return job->conf;
}

const char *sl_job_error(const sl_job_t *job) {
    return atomic_load(&job->failed) ? job->failmsg : NULL;
}

void sl_job_notify(sl_job_t *job) {
    if (job->done_ev)
        event_active(job->done_ev, EV_TIMEOUT, 0);
}

static void job_vfail(sl_job_t *job, sl_err_t code, const char *fmt, va_list ap) {
    int first = 0;
    pthread_mutex_lock(&job->faillock);
    if (!atomic_load(&job->failed)) {
        vsnprintf(job->failmsg, sizeof(job->failmsg), fmt, ap);
        job->fail_code = code;
        sl_log_scrub(job->failmsg);
        atomic_store(&job->failed, 1);
        first = 1;
    }
    pthread_mutex_unlock(&job->faillock);
    if (first) {
        sl_log(SL_LOG_ERROR, "job", "%s", job->failmsg);
        sl_job_notify(job);
    }
}

void sl_job_fail(sl_job_t *job, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    job_vfail(job, SL_ERR_IO, fmt, ap);
    va_end(ap);
}

void sl_job_fail_code(sl_job_t *job, sl_err_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    job_vfail(job, code, fmt, ap);
    va_end(ap);
}

void sl_job_stop(sl_job_t *job) {
    int saved = errno;
    atomic_fetch_add(&job->stop_count, 1);
    if (job->stop_pipe[1] >= 0) {
        ssize_t rc = write(job->stop_pipe[1], "s", 1);
        (void)rc;
    }
    errno = saved;
}

static void stop_workers(sl_job_t *job) {
    for (int i = 0; i < job->jc.threads; i++)
        if (job->workers[i])
            sl_worker_request_stop(job->workers[i]);
}

/* The stop begins (asked for, inputs exhausted, or a failure). Everything it does, the workers'
 * drain and then the inputs' own stop, shares one task.shutdown.ms counted from here: each
 * getting a full one of its own made a stop last up to twice as long as configured. */
static void begin_stop(sl_job_t *job) {
    int64_t none = 0, deadline = sl_mono_ms() + job->jc.shutdown_timeout_ms;
    atomic_compare_exchange_strong(&job->stop_deadline, &none, deadline);
    stop_workers(job);
}

/* Whether the job ends when its partitions have: no input looks for new partitions, except
 * the stream of a repartition, whose partitions end when their upstreams have (worker.c). */
static int inputs_bounded(const sl_job_t *job) {
    for (int i = 0; i < job->ninputs; i++) {
        char name[600];
        snprintf(name, sizeof(name), "%s.%s", job->ins[i]->st->sys->name,
                 job->ins[i]->st->name);
        if (job->ins[i]->discover_ms <= 0)
            continue;
        if (sl_chain_spec_stage_of(job->spec, name) == 0)
            return 0;
        /* Over once a partition ended that way, and a later look found no new one. */
        if (atomic_load(&job->ins[i]->stage_ended) == 0 ||
            job->ins[i]->stage_ended_seen != atomic_load(&job->ins[i]->stage_ended))
            return 0;
    }
    return 1;
}

static void inputs_deadline_cb(evutil_socket_t fd, short what, void *arg) {
    sl_job_t *job = arg;
    (void)fd;
    (void)what;
    sl_log(SL_LOG_WARN, "job", "inputs did not finish stopping within task.shutdown.ms");
    event_base_loopbreak(job->base);
}

static void done_cb(evutil_socket_t fd, short what, void *arg) {
    sl_job_t *job = arg;
    (void)fd;
    (void)what;
    if (atomic_load(&job->workers_done) == job->jc.threads) {
        /* Every partition is drained, committed and closed: the inputs finish what they owe
         * (final checkpoints elsewhere, lease releases), within task.shutdown.ms. */
        int pending = sl_inputs_stop(job);
        if (pending && !job->inputs_stopping) {
            /* What the drain left of the stop's task.shutdown.ms. */
            int64_t left = atomic_load(&job->stop_deadline) - sl_mono_ms();
            struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
            job->inputs_stopping = 1;
            if (left <= 0) {
                inputs_deadline_cb(-1, 0, job);
                return;
            }
            if ((job->inputs_ev = event_new(job->base, -1, 0, inputs_deadline_cb, job)))
                event_add(job->inputs_ev, &tv);
        }
        if (!pending)
            event_base_loopbreak(job->base);
        return;
    }
    if (atomic_load(&job->running) == 1 && (atomic_load(&job->failed) ||
                              (atomic_load(&job->live_parts) == 0 &&
                               inputs_bounded(job)))) {
        if (!atomic_load(&job->failed))
            sl_log(SL_LOG_INFO, "job", "all inputs exhausted: finishing");
        atomic_store(&job->running, 2);
        begin_stop(job);
    }
}

static void stop_cb(evutil_socket_t fd, short what, void *arg) {
    sl_job_t *job = arg;
    char buf[64];
    (void)what;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    if (atomic_load(&job->stop_count) >= 2) {
        sl_log(SL_LOG_WARN, "job", "second stop: exiting without the final checkpoint");
        begin_stop(job);
        return;
    }
    if (atomic_load(&job->running) == 1) {
        sl_log(SL_LOG_INFO, "job", "stopping: draining the chains and writing final checkpoints");
        atomic_store(&job->running, 2);
        begin_stop(job);
    }
}

static void discover_cb(evutil_socket_t fd, short what, void *arg) {
    sl_input_t *in = arg;
    (void)fd;
    (void)what;
    if (atomic_load(&in->job->running) == 1) {
        int ended = atomic_load(&in->stage_ended);
        sl_input_discover(in);
        if (ended && in->stage_ended_seen != ended) {
            in->stage_ended_seen = ended;
            sl_job_notify(in->job); /* the job may be over (inputs_bounded) */
        }
    }
}

/* On the metrics thread: 1 when healthy, else 0 with the reasons in why. */
static int healthy(void *opaque, sl_sb_t *why) {
    sl_job_t *job = opaque;
    if (atomic_load(&job->failed)) {
        sl_sb_printf(why, "the job failed\n");
        return 0;
    }
    return health_report(job->jc.health_stall_ms, why) == 0;
}

sl_ckpt_store_t *sl_job_open_checkpoints(sl_job_t *job, char *errstr, size_t errlen) {
    char path[1024];
    const char *ckpt_path = job->jc.ckpt_path;
    const sl_log_cfg_t *prev = sl_log_scope(&job->log);
    sl_ckpt_store_t *st;
    if (!ckpt_path || !*ckpt_path) {
        snprintf(path, sizeof(path), "%s-%s.checkpoints.db", job->jc.name, job->jc.id);
        ckpt_path = path;
    }
    st = sl_ckpt_sqlite_open(ckpt_path, job->jc.name, job->jc.id, errstr, errlen);
    sl_log_scope(prev);
    return st;
}

static sl_err_t ext_checkpoints(sl_job_t *job, const char *stream, const char *partition,
                                int how, sl_ckpt_list_cb cb, void *opaque, int *n,
                                char *errstr, size_t errlen);

sl_err_t sl_job_ext_checkpoints(sl_job_t *job, const char *stream, const char *partition,
                                int how, sl_ckpt_list_cb cb, void *opaque, int *n,
                                char *errstr, size_t errlen) {
    const sl_log_cfg_t *prev = sl_log_scope(&job->log);
    sl_err_t err = ext_checkpoints(job, stream, partition, how, cb, opaque, n, errstr, errlen);
    sl_log_scope(prev);
    return err;
}

static sl_err_t ext_checkpoints(sl_job_t *job, const char *stream, const char *partition,
                                int how, sl_ckpt_list_cb cb, void *opaque, int *n,
                                char *errstr, size_t errlen) {
    *n = 0;
    for (int i = 0; i < job->ninputs; i++) {
        sl_stream_t *st = job->inputs[i];
        sl_input_t *in;
        sl_err_t err;
        int count = 0;
        if (!st->sys->plugin->ext_checkpoints || (stream && strcmp(stream, st->name) != 0))
            continue;
        if (!(in = sl_input_new(job, st))) {
            snprintf(errstr, errlen, "out of memory");
            return SL_ERR_NOMEM;
        }
        err = st->sys->plugin->ext_checkpoints(in, how, partition, cb, opaque, &count, errstr,
                                               errlen);
        sl_input_destroy(in);
        if (err == SL_ERR_NOENT)
            continue;
        if (err != SL_OK)
            return err;
        *n += count;
    }
    return SL_OK;
}

static void use_pthreads(void) {
    evthread_use_pthreads();
}

static sl_err_t job_run(sl_job_t *job);

/* Writing to a socket the peer closed (Pulsar's bufferevents, TLS) raises SIGPIPE, which kills
 * a process that does not ignore it, and the library installs no handler: instead the thread
 * running the job blocks SIGPIPE, so do the worker threads it starts (they inherit the mask),
 * and such a write fails with EPIPE. What was raised meanwhile is taken back before the mask is
 * restored, so the host's own disposition never sees it. */
sl_err_t sl_job_run(sl_job_t *job) {
    const sl_log_cfg_t *prev = sl_log_scope(&job->log);
    sigset_t pipe_set, old;
    sl_err_t rc;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    rc = job_run(job);
    if (!sigismember(&old, SIGPIPE)) {
        sigset_t pending;
        struct timespec zero = {0, 0};
        while (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) &&
               sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
            ;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    sl_log_scope(prev);
    return rc;
}

static sl_err_t job_run(sl_job_t *job) {
    char errstr[512];
    sl_err_t rc = SL_OK;
    static pthread_once_t threads_once = PTHREAD_ONCE_INIT;

    if (atomic_load(&job->running))
        return SL_ERR_STATE;
    /* Workers and the main loop activate each other's events: libevent must lock. */
    pthread_once(&threads_once, use_pthreads);
    atomic_store(&job->running, 1);
    job->start_deadline_ms = job->jc.start_timeout_ms > 0
                                 ? sl_mono_ms() + job->jc.start_timeout_ms : 0;
    if (!(job->base = event_base_new()) ||
        !(job->stop_ev = event_new(job->base, job->stop_pipe[0], EV_READ | EV_PERSIST, stop_cb,
                                   job)) ||
        !(job->done_ev = event_new(job->base, -1, 0, done_cb, job)) ||
        !(job->metrics = sl_metrics_new())) {
        sl_job_fail(job, "out of memory starting the job");
        rc = SL_ERR_NOMEM;
        goto out;
    }
    event_add(job->stop_ev, NULL);
    if (!(job->ckpt = sl_job_open_checkpoints(job, errstr, sizeof(errstr)))) {
        sl_job_fail(job, "job.checkpoint.sqlite.path: %s", errstr);
        rc = SL_ERR_DB;
        goto out;
    }
    if (job->jc.metrics_port > 0 &&
        !(job->msrv = sl_metrics_server_start(job->metrics, job->jc.metrics_host,
                                              job->jc.metrics_port, healthy, job, errstr,
                                              sizeof(errstr)))) {
        sl_job_fail(job, "metrics.http.port: %s", errstr);
        rc = SL_ERR_IO;
        goto out;
    }
    if (!(job->workers = calloc((size_t)job->jc.threads, sizeof(*job->workers))) ||
        (job->ninputs && !(job->ins = calloc((size_t)job->ninputs, sizeof(*job->ins))))) {
        rc = SL_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < job->jc.threads; i++)
        if (!(job->workers[i] = sl_worker_new(job, i))) {
            if (!atomic_load(&job->failed))
                sl_job_fail(job, "cannot create worker %d", i);
            rc = SL_ERR_IO;
            goto out;
        }
    /* Bootstrap inputs first: the others' partitions wait for them (worker.c). */
    job->bootstrap_started_ms = sl_mono_ms();
    atomic_store(&job->ins_ready, 0);
    atomic_store(&job->bootstrapped, 1);
    for (int i = 0; i < job->ninputs; i++)
        if (job->inputs[i] && job->inputs[i]->generic.bootstrap)
            atomic_store(&job->bootstrapped, 0);
    for (int i = 0; i < job->jc.threads; i++)
        if (sl_worker_start(job->workers[i]) != SL_OK) {
            sl_job_fail(job, "cannot start worker thread %d", i);
            rc = SL_ERR_STATE;
            goto stop;
        }
    sl_log(SL_LOG_INFO, "job", "job %s (id %s) running: %d input(s), %d output(s), %d "
           "operator(s), %d worker thread(s)", job->jc.name, job->jc.id, job->ninputs,
           job->noutputs, job->spec ? sl_chain_spec_count(job->spec) : 0, job->jc.threads);
    for (int i = 0; i < job->ninputs; i++) {
        sl_input_t *in = job->ins[i] = sl_input_new(job, job->inputs[i]);
        if (!in) {
            sl_job_fail(job, "out of memory");
            break;
        }
        atomic_store_explicit(&job->ins_ready, i + 1, memory_order_release);
        if (sl_input_open(in) != SL_OK || sl_input_discover(in) != SL_OK)
            break;
        if (in->discover_ms > 0) {
            struct timeval tv = {(time_t)(in->discover_ms / 1000),
                                 (suseconds_t)((in->discover_ms % 1000) * 1000)};
            if ((in->discover_ev = event_new(job->base, -1, EV_PERSIST, discover_cb, in)))
                event_add(in->discover_ev, &tv);
        }
    }
    sl_job_notify(job); /* an input may have had no partition at all */
    sl_job_bootstrap_check(job); /* its partitions may all have caught up already */
stop:
    if (rc != SL_OK)
        begin_stop(job);
    event_base_dispatch(job->base);
    for (int i = 0; i < job->jc.threads; i++)
        sl_worker_join(job->workers[i]);
    if (rc == SL_OK && atomic_load(&job->failed))
        rc = job->fail_code ? job->fail_code : SL_ERR_IO;
    if (rc == SL_OK && atomic_load(&job->stop_count) >= 2)
        rc = SL_ERR_STOPPED;
out:
    for (int i = 0; job->workers && i < job->jc.threads; i++) {
        sl_worker_join(job->workers[i]);
        sl_worker_destroy(job->workers[i]);
    }
    free(job->workers);
    job->workers = NULL;
    for (int i = 0; job->ins && i < job->ninputs; i++)
        sl_input_destroy(job->ins[i]);
    if (job->inputs_ev)
        event_free(job->inputs_ev);
    job->inputs_ev = NULL;
    free(job->ins);
    job->ins = NULL;
    sl_metrics_server_stop(job->msrv);
    job->msrv = NULL;
    sl_ckpt_close(job->ckpt);
    job->ckpt = NULL;
    sl_metrics_destroy(job->metrics);
    job->metrics = NULL;
    if (job->stop_ev)
        event_free(job->stop_ev);
    if (job->done_ev)
        event_free(job->done_ev);
    job->stop_ev = job->done_ev = NULL;
    if (job->base)
        event_base_free(job->base);
    job->base = NULL;
    atomic_store(&job->running, 3);
    sl_host_job_ended(job);
    if (atomic_load(&job->failed) && rc == SL_OK)
        rc = job->fail_code ? job->fail_code : SL_ERR_IO;
    return rc;
}

void sl_job_destroy(sl_job_t *job) {
    const sl_log_cfg_t *prev;
    if (!job)
        return;
    sl_job_thread_reap(job);
    prev = sl_log_scope(&job->log);
    sl_host_detach(job);
    sl_job_unconfigure(job);
    if (job->stop_pipe[0] >= 0)
        close(job->stop_pipe[0]);
    if (job->stop_pipe[1] >= 0)
        close(job->stop_pipe[1]);
    sl_conf_destroy(job->conf);
    pthread_mutex_destroy(&job->faillock);
    sl_log_scope(prev);
    free(job->log.debug);
    free(job);
}
