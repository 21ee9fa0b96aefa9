/*
 * worker.c: a worker thread and its event loop. A worker owns the partitions the main thread
 * hands it (each with its own operator chain instance), one producer per job output, and its
 * commit timer. Per partition, the loop polls the connector for a batch of records, runs each
 * through the chain into the producers, and pauses reading while too many records are waiting
 * for acknowledgement. Every task.commit.ms it flushes the producers and writes the offsets that
 * became committable, together with the operators' keyed state changes of the same partitions
 * (one SQLite transaction: see commit()). Nothing here takes a lock on the per-record path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_int.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

static void commit_cb(evutil_socket_t fd, short what, void *arg);

/* --- the chain's sink: every record leaving the chain goes to every output ----------------- */

/* Sends rec to output i. */
static sl_err_t send_to(sl_part_t *part, int i, sl_record_t *rec) {
    sl_worker_t *w = part->w;
    sl_output_t *out = w->outs[i];
    sl_err_t err;
    sl_record_ref(rec); /* the producer's reference, dropped by sl_output_ack() */
    if (out->m_sent)
        sl_metric_add(out->m_sent, 1);
    err = out->st->sys->plugin->out_send(out, out->state, rec);
    if (err != SL_OK) {
        /* The producer did not keep it: account the failure like a failed ack. */
        sl_output_ack(out, rec, err);
        if (w->job->jc.error_policy == 0)
            return SL_ERR_IO;
    }
    return SL_OK;
}

static sl_err_t side_sink(void *opaque, sl_record_t *rec, int output) {
    sl_part_t *part = opaque;
    if (output < 0 || output >= part->w->job->noutputs)
        return SL_ERR_INVAL;
    if (sl_part_track_orphan(part, rec) != SL_OK)
        return SL_ERR_NOMEM;
    return send_to(part, output, rec);
}

static sl_err_t sink(void *opaque, sl_record_t *rec) {
    sl_part_t *part = opaque;
    sl_worker_t *w = part->w;
    sl_job_t *job = w->job;
    /* A record an operator made from nothing (a timer's) holds the offset back like the rest. */
    if (sl_part_track_orphan(part, rec) != SL_OK)
        return SL_ERR_NOMEM;
    for (int i = 0; i < job->noutputs; i++) {
        sl_err_t err;
        if (sl_chain_spec_side_output(job->spec, i))
            continue;
        if ((err = send_to(part, i, rec)) != SL_OK)
            return err;
    }
    if (part->m_out)
        sl_metric_add(part->m_out, 1);
    return SL_OK;
}

static void flush_outputs(sl_worker_t *w) {
    for (int i = 0; i < w->job->noutputs; i++) {
        sl_output_t *out = w->outs[i];
        if (!out->opened)
            continue;
        if (out->st->sys->plugin->out_flush(out, out->state, 1) != SL_OK)
            sl_job_fail(w->job, "%s", out->errmsg[0] ? out->errmsg : "flush failed");
    }
}

/* --- commits ------------------------------------------------------------------------------- */

static int part_checkpoints(const sl_part_t *part) {
    return !(part->in->st->sys->plugin->flags & SL_SYSTEM_F_NO_CHECKPOINT);
}

/* Writes the offsets that advanced since the last commit, and in the same transaction the keyed
 * state changes of those partitions. State changed since the last commit can only be written
 * when no record of the partition is in flight: then the state is exactly what the records up
 * to done_offset made of it. Otherwise the partition (offset and state) waits: its polling
 * pauses (part->barrier) until its records are acknowledged, and poll_cb commits then. A
 * partition whose state did not change may commit its offset alone at any time: the records
 * past it, replayed, leave the state as unchanged as they did. Returns 0 on success. */
static int commit(sl_worker_t *w) {
    sl_job_t *job = w->job;
    sl_ckpt_t *cps = NULL;
    sl_part_t **which = NULL;
    sl_state_host_t **hosts = NULL;
    sl_state_commit_t sc = {NULL, 0};
    char errstr[512];
    int n = 0, nw = 0, rc = 0;

    for (sl_part_t *p = w->parts; p; p = p->next)
        if (p->chain && p->pstate != SL_PART_DONE)
            sl_chain_checkpoint(p->chain);
    flush_outputs(w);
    if (w->nparts == 0)
        return 0;
    if (!(cps = calloc((size_t)w->nparts, sizeof(*cps))) ||
        !(which = calloc((size_t)w->nparts, sizeof(*which))) ||
        !(hosts = calloc((size_t)w->nparts, sizeof(*hosts)))) {
        rc = -1;
        goto done;
    }
    sc.hosts = hosts;
    for (sl_part_t *p = w->parts; p; p = p->next) {
        int changed = sl_state_host_changed(p->sh);
        if (!part_checkpoints(p) || p->revoked)
            continue;
        if (changed && (p->inflight > 0 || p->failed)) {
            if (!p->barrier && !p->barrier_futile && !p->failed &&
                p->pstate == SL_PART_RUNNING) {
                p->barrier = 1;
                p->barrier_deadline = sl_mono_ms() + job->jc.commit_ms;
            }
            continue;
        }
        if (changed) {
            hosts[sc.n++] = p->sh;
            p->barrier_futile = 0;
        }
        if (p->dirty && p->done_offset) {
            cps[n].system = p->in->st->sys->name;
            cps[n].stream = p->in->st->name;
            cps[n].partition = p->id;
            cps[n].offset = p->done_offset;
            cps[n].subseq = p->done_subseq;
            which[n++] = p;
        }
    }
    if (n == 0 && sc.n == 0)
        goto done;
    if (sl_ckpt_write_with(job->ckpt, cps, n, sc.n ? sl_state_commit_fn : NULL, &sc, errstr,
                           sizeof(errstr)) != SL_OK) {
        sl_job_fail_code(job, SL_ERR_DB, "checkpoint write failed: %s", errstr);
        rc = -1;
        goto done;
    }
    for (int i = 0; i < sc.n; i++)
        sl_state_host_committed(hosts[i]);
    nw = n;
    for (int i = 0; i < nw; i++) {
        sl_part_t *p = which[i];
        p->dirty = 0;
        sl_log_debug("ckpt", "committed %s/%s/%s at %s.%lld", p->in->st->sys->name,
                     p->in->st->name, p->id, p->done_offset, (long long)p->done_subseq);
        if (p->opened && !p->revoked && p->in->st->sys->plugin->part_commit)
            p->in->st->sys->plugin->part_commit(p, p->state, p->done_offset, p->done_subseq);
    }
done:
    free(cps);
    free(which);
    free(hosts);
    return rc;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg) {
    sl_worker_t *w = arg;
    (void)fd;
    (void)what;
    commit(w);
}

/* --- partitions ---------------------------------------------------------------------------- */

static void poll_cb(evutil_socket_t fd, short what, void *arg);

static void part_done(sl_part_t *part) {
    sl_job_t *job = part->w->job;
    if (part->pstate == SL_PART_DONE)
        return;
    part->pstate = SL_PART_DONE;
    if (atomic_fetch_sub(&job->live_parts, 1) == 1)
        sl_job_notify(job); /* lets the main thread see that inputs may be exhausted */
}

/* Frees a closed partition whose records are all gone, unless the worker is ending (then
 * sl_worker_destroy frees everything). Returns 1 when it was freed. */
static int part_reap(sl_part_t *part) {
    sl_worker_t *w = part->w;
    if (part->pstate != SL_PART_DONE || part->opened || part->inflight > 0 || w->draining)
        return 0;
    for (sl_part_t **pp = &w->parts; *pp; pp = &(*pp)->next)
        if (*pp == part) {
            *pp = part->next;
            w->nparts--;
            break;
        }
    sl_input_retire(part->in, part);
    sl_chain_destroy(part->chain);
    part->chain = NULL;
    sl_part_destroy(part);
    return 1;
}

/* The partition stops for good (part->why says why): the connector closes it, its chain goes
 * (records an operator still held are dropped: nothing past them was committed), and it is
 * freed once no record of it is in flight. */
static void part_close(sl_part_t *part) {
    if (part->poll_ev)
        event_del(part->poll_ev);
    if (part->opened) {
        part->opened = 0;
        part->in->st->sys->plugin->part_close(part, part->state);
        part->state = NULL;
    }
    part_done(part);
    sl_chain_destroy(part->chain);
    part->chain = NULL;
    part_reap(part);
}

static void schedule(sl_part_t *part, int idle) {
    struct timeval tv;
    if (part->pstate != SL_PART_RUNNING)
        return;
    if (!idle) {
        /* A zero timeout rather than event_active(): it waits for the next loop iteration, so
         * timers (commits) and other partitions get their turn between batches. */
        static const struct timeval now = {0, 0};
        event_add(part->poll_ev, &now);
        return;
    }
    tv.tv_sec = (time_t)(part->idle_ms / 1000);
    tv.tv_usec = (suseconds_t)((part->idle_ms % 1000) * 1000);
    event_add(part->poll_ev, &tv);
}

/* An operator failed outside of a record (a timer, the end of the input): like a record's
 * failure, task.error.policy decides between logging it and failing the job. */
static void part_chain_failed(sl_part_t *part, const char *when) {
    sl_job_t *job = part->w->job;
    if (part->m_errors)
        sl_metric_add(part->m_errors, 1);
    if (job->jc.error_policy == 1) {
        sl_log(SL_LOG_ERROR, "worker", "%s/%s/%s: %s: %s (skipped: task.error.policy=skip)",
               part->in->st->sys->name, part->in->st->name, part->id, when,
               sl_chain_error(part->chain));
        return;
    }
    part->failed = 1;
    sl_job_fail(job, "%s/%s/%s: %s: %s", part->in->st->sys->name, part->in->st->name, part->id,
                when, sl_chain_error(part->chain));
}

/* Winding a partition down (its end, or a release): flush its chain, get everything
 * acknowledged (a release waits at most task.shutdown.ms), commit, close. Called again from
 * the poll event every 20 ms while acknowledgements are owed. */
static void part_finish(sl_part_t *part) {
    sl_worker_t *w = part->w;
    sl_job_t *job = w->job;
    if (!part->flushed) {
        part->flushed = 1;
        /* The end of the input closes every window; a release leaves them in the state. */
        if (part->chain && part->why == SL_CLOSE_EOF && !part->failed &&
            sl_chain_end_input(part->chain) != SL_OK)
            part_chain_failed(part, "at the end of the input");
        if (part->chain)
            sl_chain_flush(part->chain);
    }
    flush_outputs(w);
    if (part->inflight > 0 && !atomic_load(&job->failed) && sl_mono_ms() < part->wind_deadline) {
        /* Asynchronous producers still owe acknowledgements: look again shortly. */
        struct timeval tv = {0, 20000};
        part->pstate = SL_PART_DRAINING;
        event_add(part->poll_ev, &tv);
        return;
    }
    commit(w);
    if (part->why == SL_CLOSE_EOF && part->in->bootstrap && !part->caught_up) {
        /* Its end is its head; committed just above. */
        part->caught_up = 1;
        sl_input_part_caught_up(part->in, part);
    }
    if (part->inflight > 0 && !atomic_load(&job->failed))
        sl_log(SL_LOG_WARN, "worker", "%s/%s/%s: %d records still unacknowledged after "
               "task.shutdown.ms; their offsets stay uncommitted", part->in->st->sys->name,
               part->in->st->name, part->id, part->inflight);
    /* Whatever is acknowledged later belongs to the next owner's range: never commit it. */
    if (part->why != SL_CLOSE_EOF || part->inflight > 0)
        part->revoked = 1;
    part_close(part);
}

/* Carries out a stop request from the main thread (sl_input_remove_partition). */
static void part_stop(sl_part_t *part, int how) {
    if (part->pstate == SL_PART_DONE || part->stop_how >= 0)
        return;
    part->stop_how = how;
    if (part->pstate == SL_PART_NEW) {
        part->why = how == SL_PART_LOST ? SL_CLOSE_LOST : SL_CLOSE_RELEASED;
        part_close(part);
        return;
    }
    if (how == SL_PART_LOST) {
        part->revoked = 1;
        part->why = SL_CLOSE_LOST;
        part_close(part);
        return;
    }
    part->why = SL_CLOSE_RELEASED;
    if (part->pstate == SL_PART_RUNNING) {
        part->pstate = SL_PART_DRAINING;
        part->wind_deadline = sl_mono_ms() + part->w->job->jc.shutdown_timeout_ms;
    }
    event_del(part->poll_ev);
    event_active(part->poll_ev, EV_TIMEOUT, 0);
}

/* The partition ends: its input's end, or (why) a stage's input whose upstreams all ended. */
static void part_end(sl_part_t *part, const char *why) {
    part->eof = 1;
    sl_log(SL_LOG_INFO, "worker", "%s/%s/%s: end of input%s%s", part->in->st->sys->name,
           part->in->st->name, part->id, why ? ": " : "", why ? why : "");
    part->why = SL_CLOSE_EOF;
    part->wind_deadline = INT64_MAX; /* the end of a partition waits for every ack */
    part->pstate = SL_PART_DRAINING;
    part_finish(part);
}

/* A partition of a repartition's stream (a stage after the first) is over when it is at its
 * head and every upstream partition told it had ended (its watermark is the end): nothing
 * more can come, and a job over bounded inputs can finish. */
static int stage_over(const sl_part_t *part) {
    return part->chain && sl_chain_stage(part->chain) > 0 && part->at_head &&
           sl_chain_watermark(part->chain) == SL_WATERMARK_END;
}

/* A bootstrap input's partition that has nothing more to deliver now and is at its head
 * (sl_part_set_lag(0), or its end): once its records are acknowledged, commit what they made of
 * the keyed state, then announce it; the other inputs start when every one has. Until its
 * records are acknowledged, the next poll tries again. */
static void bootstrap_mark(sl_part_t *part) {
    if (!part->in->bootstrap || part->caught_up || (!part->at_head && !part->eof))
        return;
    if (part->inflight > 0) {
        flush_outputs(part->w);
        if (part->inflight > 0)
            return;
    }
    if (part->dirty || sl_state_host_changed(part->sh))
        commit(part->w);
    if (part->dirty || sl_state_host_changed(part->sh))
        return; /* the commit failed (the job is failing) */
    part->caught_up = 1;
    sl_input_part_caught_up(part->in, part);
}

static void poll_cb(evutil_socket_t fd, short what, void *arg) {
    sl_part_t *part = arg;
    sl_worker_t *w = part->w;
    sl_job_t *job = w->job;
    sl_poll_t r;
    int max;
    (void)fd;
    (void)what;

    if (part->pstate == SL_PART_DRAINING) {
        part_finish(part);
        return;
    }
    if (part->pstate != SL_PART_RUNNING || w->draining)
        return;
    if (atomic_load_explicit(&job->failed, memory_order_relaxed))
        return;
    if (!part->in->bootstrap && !atomic_load_explicit(&job->bootstrapped, memory_order_acquire)) {
        /* A bootstrap input is not at its head yet: look again later. */
        schedule(part, 1);
        return;
    }
    if (part->barrier) {
        /* A commit waits for this partition's records to be acknowledged (see commit()). */
        if (part->inflight > 0)
            flush_outputs(w);
        if (part->inflight == 0) {
            part->barrier = 0;
            commit(w);
        } else if (sl_mono_ms() >= part->barrier_deadline) {
            /* An operator holds records (a window): pausing again would only slow the
             * partition down. Read on; the state commits when nothing is in flight at a
             * commit (at the latest at the partition's end). */
            part->barrier = 0;
            part->barrier_futile = 1;
            sl_log(part->barrier_warned++ ? SL_LOG_DEBUG : SL_LOG_WARN, "worker", "%s/%s/%s: %d records still in flight after "
                   "task.commit.ms; the keyed state and the offset of this partition commit "
                   "only when none is", part->in->st->sys->name, part->in->st->name, part->id,
                   part->inflight);
        } else {
            struct timeval tv = {0, 5000};
            event_add(part->poll_ev, &tv);
            return;
        }
    }
    if (w->busy_outs > 0) {
        /* A producer is full: sl_output_set_busy(out, 0) wakes us. */
        part->out_wait = 1;
        return;
    }
    if (part->blocked) {
        /* Synchronous producers acknowledge on flush; asynchronous ones wake us later. */
        flush_outputs(w);
        if (part->blocked)
            return;
    }
    /* No more than the partition may still have in flight. */
    max = job->jc.poll_batch;
    if (job->jc.max_inflight - part->inflight < max)
        max = job->jc.max_inflight - part->inflight > 0 ? job->jc.max_inflight - part->inflight
                                                        : 1;
    r = part->in->st->sys->plugin->part_poll(part, part->state, max);
    /* Many partitions each under their bound can still add up: past task.max.inflight over
     * the whole worker, have the producers send (and synchronous ones acknowledge) now. */
    if (w->inflight >= job->jc.max_inflight)
        flush_outputs(w);
    if (part->errmsg[0] && !atomic_load(&job->failed))
        sl_job_fail(job, "%s", part->errmsg);
    if (atomic_load_explicit(&job->failed, memory_order_relaxed))
        return;
    switch (r) {
    case SL_POLL_MORE:
        if (part->blocked)
            flush_outputs(w); /* synchronous producers acknowledge (and unblock) right here */
        if (!part->blocked)
            schedule(part, 0);
        break;
    case SL_POLL_IDLE:
        /* Caught up: what is buffered goes out now rather than at the next commit. */
        flush_outputs(w);
        bootstrap_mark(part);
        if (stage_over(part)) {
            atomic_fetch_add(&part->in->stage_ended, 1);
            part_end(part, "every upstream partition ended");
        } else {
            schedule(part, 1);
        }
        break;
    case SL_POLL_EOF:
        part_end(part, NULL);
        break;
    case SL_POLL_WAIT:
        bootstrap_mark(part);
        if (stage_over(part)) {
            atomic_fetch_add(&part->in->stage_ended, 1);
            part_end(part, "every upstream partition ended");
        }
        break;
    }
}

static void adopt(sl_worker_t *w, sl_part_t *part) {
    sl_job_t *job = w->job;
    sl_stream_t *st = part->in->st;
    char *offset = NULL, errstr[512], labels[1024];
    int64_t subseq = 0;
    sl_err_t err;

    part->next = w->parts;
    w->parts = part;
    w->nparts++;
    part->idle_ms = 100;
    part->why = SL_CLOSE_FAILED; /* until it runs */
    if (!(part->poll_ev = event_new(w->base, -1, 0, poll_cb, part)))
        goto fail_oom;
    snprintf(labels, sizeof(labels), "system=\"%s\",stream=\"%s\",partition=\"%s\"",
             st->sys->name, st->name, part->id);
    part->m_in = sl_metric_get(job->metrics, SL_METRIC_COUNTER, "sluice_records_in_total", labels,
                               "Records read from an input partition.");
    part->m_out = sl_metric_get(job->metrics, SL_METRIC_COUNTER, "sluice_records_out_total",
                                labels, "Records that left the operator chain.");
    part->m_errors = sl_metric_get(job->metrics, SL_METRIC_COUNTER, "sluice_records_errors_total",
                                   labels, "Records that failed (operator, input or sink).");
    part->m_lag = sl_metric_get(job->metrics, SL_METRIC_GAUGE, "sluice_partition_lag_ms", labels,
                                "How far a partition is behind the newest data of its stream "
                                "(Kinesis MillisBehindLatest), in milliseconds; -1 unknown.");
    if (part->m_lag)
        sl_metric_set(part->m_lag, -1);
    if (part_checkpoints(part) && !st->generic.reset_offset) {
        err = sl_ckpt_read(job->ckpt, st->sys->name, st->name, part->id, &offset, &subseq);
        if (err != SL_OK && err != SL_ERR_NOENT) {
            sl_ckpt_read_error(job->ckpt, errstr, sizeof(errstr));
            sl_job_fail_code(job, err == SL_ERR_NOMEM ? SL_ERR_NOMEM : SL_ERR_DB,
                             "cannot read the checkpoint: %s", errstr);
            goto fail;
        }
        if (offset)
            sl_log(SL_LOG_INFO, "worker", "%s/%s/%s: resuming after checkpoint %s",
                   st->sys->name, st->name, part->id, offset);
    }
    if (part_checkpoints(part)) {
        /* The operators' keyed state lives beside the offsets: "system/stream/partition". */
        snprintf(labels, sizeof(labels), "%s/%s/%s", st->sys->name, st->name, part->id);
        if (!(part->sh = sl_state_host_new(job->ckpt, labels, job->jc.state_cache_size,
                                           job->jc.state_value_max, errstr, sizeof(errstr)))) {
            sl_job_fail_code(job, SL_ERR_DB, "%s", errstr);
            goto fail;
        }
    }
    {
        sl_chain_env_t env;
        char plabels[1024], input[600];
        memset(&env, 0, sizeof(env));
        snprintf(plabels, sizeof(plabels), "system=\"%s\",stream=\"%s\",partition=\"%s\"",
                 st->sys->name, st->name, part->id);
        snprintf(input, sizeof(input), "%s.%s", st->sys->name, st->name);
        env.input = input;
        env.stage_parts = sl_job_stage_partitions;
        env.stage_opaque = job;
        env.sh = part->sh;
        env.side = side_sink;
        env.metrics = job->metrics;
        env.labels = plabels;
        part->chain = sl_chain_new_ex(job->spec, part->id, sink, part, &env, errstr,
                                      sizeof(errstr));
    }
    if (!part->chain) {
        sl_job_fail(job, "%s/%s/%s: %s", st->sys->name, st->name, part->id, errstr);
        goto fail;
    }
    if (st->sys->plugin->part_open(part, offset, subseq, &part->state) != SL_OK) {
        sl_job_fail(job, "%s", part->errmsg[0] ? part->errmsg : "cannot open partition");
        goto fail;
    }
    part->opened = 1;
    part->pstate = SL_PART_RUNNING;
    part->why = SL_CLOSE_EOF;
    free(offset);
    schedule(part, 0);
    return;
fail_oom:
    sl_job_fail(job, "out of memory adopting a partition");
fail:
    free(offset);
    part_done(part);
}

typedef struct sl_stopreq {
    struct sl_stopreq *next;
    sl_part_t *part;
    uint64_t serial;
    int how;
} sl_stopreq_t;

static void wake_cb(evutil_socket_t fd, short what, void *arg) {
    sl_worker_t *w = arg;
    sl_part_t *in, *next;
    sl_stopreq_t *stops;
    int stop;
    (void)fd;
    (void)what;

    pthread_mutex_lock(&w->lock);
    in = w->inbox;
    w->inbox = NULL;
    stops = w->stops;
    w->stops = NULL;
    stop = w->stop_requested;
    pthread_mutex_unlock(&w->lock);
    for (; in; in = next) {
        next = in->next;
        in->next = NULL;
        if (stop || w->draining) {
            /* Never started: nothing to drain. */
            in->next = w->parts;
            w->parts = in;
            w->nparts++;
            part_done(in);
            continue;
        }
        adopt(w, in);
    }
    while (stops) {
        sl_stopreq_t *r = stops;
        stops = r->next;
        /* The partition may be gone already (it ended): match pointer and serial. */
        for (sl_part_t *p = w->parts; p; p = p->next)
            if (p == r->part && p->serial == r->serial) {
                if (!w->draining)
                    part_stop(p, r->how);
                break;
            }
        free(r);
    }
    if (stop && !w->draining) {
        w->draining = 1;
        struct timeval tv = {0, 10000};
        event_add(w->tick_ev, &tv); /* drain from the tick handler, every 10 ms */
        event_active(w->tick_ev, EV_TIMEOUT, 0);
    }
}

/* Draining, one step per tick: stop reading, flush chains (once) and producers, wait for the
 * acknowledgements (bounded by task.shutdown.ms), then commit and finish. Returns 1 when done.
 * A second stop skips the final commit. */
static int drain_step(sl_worker_t *w) {
    sl_job_t *job = w->job;
    int pending = 0, aborting = atomic_load_explicit(&job->stop_count, memory_order_relaxed) > 1;

    if (!w->drain_deadline) {
        /* The job's: the stop's task.shutdown.ms counts from when it began, not from when
         * this thread got to it, and the inputs' stop comes out of the same window. */
        int64_t deadline = atomic_load(&job->stop_deadline);
        w->drain_deadline = deadline ? deadline : sl_mono_ms() + job->jc.shutdown_timeout_ms;
        for (sl_part_t *p = w->parts; p; p = p->next)
            if (p->chain && p->pstate != SL_PART_DONE)
                sl_chain_flush(p->chain);
    }
    if (!aborting)
        flush_outputs(w);
    for (sl_part_t *p = w->parts; p; p = p->next)
        pending += p->inflight;
    if (pending && !atomic_load(&job->failed) && !aborting && sl_mono_ms() < w->drain_deadline)
        return 0; /* asynchronous producers still owe acknowledgements */
    if (pending && !atomic_load(&job->failed) && !aborting)
        sl_log(SL_LOG_WARN, "worker", "worker %d: %d records still unacknowledged after "
               "task.shutdown.ms; their offsets stay uncommitted", w->idx, pending);
    if (!aborting)
        commit(w);
    /* Close every partition here, on its thread, while the loop is alive (connectors release
     * what they hold on it); the structures are freed by sl_worker_destroy. */
    for (sl_part_t *p = w->parts; p; p = p->next) {
        if (p->pstate != SL_PART_DONE)
            p->why = atomic_load(&job->failed) ? SL_CLOSE_FAILED : SL_CLOSE_SHUTDOWN;
        if (p->opened) {
            p->opened = 0;
            p->in->st->sys->plugin->part_close(p, p->state);
            p->state = NULL;
        }
        part_done(p);
    }
    return 1;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {
    sl_worker_t *w = arg;
    int64_t now = sl_now_ms();
    (void)fd;
    (void)what;
    if (w->draining && !w->finished) {
        if (drain_step(w)) {
            w->finished = 1;
            event_base_loopbreak(w->base);
        }
        return;
    }
    for (sl_part_t *p = w->parts, *next; p; p = next) {
        next = p->next;
        if (p->chain && p->pstate == SL_PART_RUNNING && !p->failed &&
            sl_chain_tick(p->chain, now) != SL_OK)
            part_chain_failed(p, "timer");
        else if (p->pstate == SL_PART_DONE)
            part_reap(p);
    }
}

static void *worker_main(void *arg) {
    sl_worker_t *w = arg;
    sl_log_scope(&w->job->log);
    event_base_dispatch(w->base);
    atomic_fetch_add(&w->job->workers_done, 1);
    sl_job_notify(w->job);
    return NULL;
}

/* --- lifecycle ----------------------------------------------------------------------------- */

sl_worker_t *sl_worker_new(sl_job_t *job, int idx) {
    sl_worker_t *w = calloc(1, sizeof(*w));
    struct timeval commit_tv, tick_tv = {0, 100000};
    char labels[512];
    if (!w)
        return NULL;
    w->idx = idx;
    w->job = job;
    pthread_mutex_init(&w->lock, NULL);
    if (!(w->base = event_base_new()) ||
        !(w->wake_ev = event_new(w->base, -1, EV_PERSIST, wake_cb, w)) ||
        !(w->commit_ev = event_new(w->base, -1, EV_PERSIST, commit_cb, w)) ||
        !(w->tick_ev = event_new(w->base, -1, EV_PERSIST, tick_cb, w)))
        goto fail;
    commit_tv.tv_sec = (time_t)(job->jc.commit_ms / 1000);
    commit_tv.tv_usec = (suseconds_t)((job->jc.commit_ms % 1000) * 1000);
    event_add(w->commit_ev, &commit_tv);
    event_add(w->tick_ev, &tick_tv);
    if (job->noutputs &&
        !(w->outs = calloc((size_t)job->noutputs, sizeof(*w->outs))))
        goto fail;
    for (int i = 0; i < job->noutputs; i++) {
        sl_output_t *out = calloc(1, sizeof(*out));
        if (!out)
            goto fail;
        w->outs[i] = out;
        out->w = w;
        out->st = job->outputs[i];
        snprintf(labels, sizeof(labels), "system=\"%s\",stream=\"%s\",worker=\"%d\"",
                 out->st->sys->name, out->st->name, idx);
        out->m_sent = sl_metric_get(job->metrics, SL_METRIC_COUNTER, "sluice_output_sent_total",
                                    labels, "Records handed to a producer.");
        out->m_acked = sl_metric_get(job->metrics, SL_METRIC_COUNTER,
                                     "sluice_output_acked_total", labels,
                                     "Records a sink acknowledged.");
        out->m_failed = sl_metric_get(job->metrics, SL_METRIC_COUNTER,
                                      "sluice_output_failed_total", labels,
                                      "Records a sink rejected.");
        if (out->st->sys->plugin->out_open(out, &out->state) != SL_OK) {
            sl_job_fail(job, "%s", out->errmsg[0] ? out->errmsg : "cannot open output");
            goto fail;
        }
        out->opened = 1;
    }
    return w;
fail:
    sl_worker_destroy(w);
    return NULL;
}

sl_err_t sl_worker_start(sl_worker_t *w) {
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return SL_ERR_STATE;
    w->started = 1;
    return SL_OK;
}

void sl_worker_adopt(sl_worker_t *w, sl_part_t *part) {
    pthread_mutex_lock(&w->lock);
    part->next = w->inbox;
    w->inbox = part;
    pthread_mutex_unlock(&w->lock);
    event_active(w->wake_ev, EV_TIMEOUT, 0);
}

void sl_worker_stop_part(sl_worker_t *w, sl_part_t *part, uint64_t serial, int how) {
    sl_stopreq_t *r = calloc(1, sizeof(*r));
    if (!r) {
        sl_log(SL_LOG_ERROR, "worker", "out of memory: cannot stop partition %s", part->id);
        return;
    }
    r->part = part;
    r->serial = serial;
    r->how = how;
    pthread_mutex_lock(&w->lock);
    r->next = w->stops;
    w->stops = r;
    pthread_mutex_unlock(&w->lock);
    event_active(w->wake_ev, EV_TIMEOUT, 0);
}

void sl_worker_request_stop(sl_worker_t *w) {
    pthread_mutex_lock(&w->lock);
    w->stop_requested = 1;
    pthread_mutex_unlock(&w->lock);
    event_active(w->wake_ev, EV_TIMEOUT, 0);
}

void sl_worker_join(sl_worker_t *w) {
    if (w && w->started) {
        pthread_join(w->thread, NULL);
        w->started = 0;
    }
}

void sl_worker_destroy(sl_worker_t *w) {
    if (!w)
        return;
    /* Chains first (operators may hold records), then producers (they hold records until
     * acked), then the partitions and their trackers. */
    for (sl_part_t *p = w->parts; p; p = p->next) {
        sl_chain_destroy(p->chain);
        p->chain = NULL;
    }
    for (int i = 0; w->outs && i < w->job->noutputs; i++) {
        sl_output_t *out = w->outs[i];
        if (out && out->opened)
            out->st->sys->plugin->out_close(out, out->state);
        free(out);
    }
    free(w->outs);
    while (w->parts) {
        sl_part_t *p = w->parts;
        w->parts = p->next;
        if (p->opened)
            p->in->st->sys->plugin->part_close(p, p->state);
        sl_part_destroy(p);
    }
    while (w->inbox) {
        sl_part_t *p = w->inbox;
        w->inbox = p->next;
        sl_part_destroy(p);
    }
    while (w->stops) {
        sl_stopreq_t *r = w->stops;
        w->stops = r->next;
        free(r);
    }
    if (w->wake_ev)
        event_free(w->wake_ev);
    if (w->commit_ev)
        event_free(w->commit_ev);
    if (w->tick_ev)
        event_free(w->tick_ev);
    if (w->base)
        event_base_free(w->base);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
