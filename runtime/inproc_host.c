/*
 * inproc_host.c: the host's side of the `inproc` system (sluice/host.h). The hub is built with
 * the job (sl_host_attach() from sl_job_new(): one queue per host input partition, its next
 * offset continuing after the committed one in the checkpoint store), lives until
 * sl_job_destroy(), and is what both the host's calls (any thread) and the connector's
 * callbacks (inproc.c, worker threads) work on, under one mutex.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inproc.h"
#include "util_str.h"
#include "util_time.h"

sl_hin_t *sl_host_find_in(struct sl_host *host, const sl_stream_t *st) {
    for (int i = 0; host && i < host->nins; i++)
        if (host->ins[i].st == st)
            return &host->ins[i];
    return NULL;
}

sl_hout_t *sl_host_find_out(struct sl_host *host, const sl_stream_t *st) {
    for (int i = 0; host && i < host->nouts; i++)
        if (host->outs[i].st == st)
            return &host->outs[i];
    return NULL;
}

static sl_hin_t *in_named(struct sl_host *host, const char *name) {
    for (int i = 0; host && name && i < host->nins; i++)
        if (!strcmp(host->ins[i].name, name))
            return &host->ins[i];
    return NULL;
}

static sl_hout_t *out_named(struct sl_host *host, const char *name) {
    for (int i = 0; host && name && i < host->nouts; i++)
        if (!strcmp(host->outs[i].name, name))
            return &host->outs[i];
    return NULL;
}

void sl_host_record_unlink(struct sl_host *host, struct sl_host_record *hr) {
    if (hr->aprev)
        hr->aprev->anext = hr->anext;
    else if (host->all == hr)
        host->all = hr->anext;
    if (hr->anext)
        hr->anext->aprev = hr->aprev;
    hr->aprev = hr->anext = NULL;
}

void sl_host_record_free(struct sl_host_record *hr) {
    if (!hr)
        return;
    free(hr->data);
    free(hr->key);
    for (int i = 0; i < 2 * hr->nheaders; i++)
        free(hr->headers[i]);
    free(hr->headers);
    for (int i = 0; i < 5; i++)
        free(hr->strs[i]);
    free(hr);
}

static char *stream_name(const sl_stream_t *st) {
    sl_sb_t sb = {0};
    sl_sb_printf(&sb, "%s.%s", st->sys->name, st->name);
    return sb.buf;
}

/* Reads the committed offsets of every host input partition, so pushes continue after them. */
static sl_err_t read_committed(sl_job_t *job, struct sl_host *host, char *errstr,
                               size_t errlen) {
    char err[512];
    sl_ckpt_store_t *ckpt = sl_job_open_checkpoints(job, err, sizeof(err));
    sl_err_t rc = SL_OK;
    if (!ckpt) {
        snprintf(errstr, errlen, "job.checkpoint.sqlite.path: %s", err);
        return SL_ERR_DB;
    }
    for (int i = 0; i < host->nins && rc == SL_OK; i++) {
        sl_hin_t *hin = &host->ins[i];
        for (int p = 0; p < hin->nparts; p++) {
            char *off = NULL;
            int64_t sub = 0;
            sl_err_t r = sl_ckpt_read(ckpt, hin->st->sys->name, hin->st->name, hin->parts[p].id,
                                      &off, &sub);
            if (r == SL_OK) {
                char *end = NULL;
                long long v = strtoll(off, &end, 10);
                if (!*off || *end || v < 0) {
                    snprintf(errstr, errlen, "%s partition %s: committed offset '%s' is not a "
                             "host offset", hin->name, hin->parts[p].id, off);
                    rc = SL_ERR_DB;
                } else {
                    hin->parts[p].committed = v;
                    hin->parts[p].next_offset = v + 1;
                }
            } else if (r != SL_ERR_NOENT) {
                sl_ckpt_read_error(ckpt, err, sizeof(err));
                snprintf(errstr, errlen, "%s", err);
                rc = SL_ERR_DB;
            }
            free(off);
            if (rc != SL_OK)
                break;
        }
    }
    sl_ckpt_close(ckpt);
    return rc;
}

sl_err_t sl_host_attach(sl_job_t *job, char *errstr, size_t errlen) {
    struct sl_host *host;
    int nin = 0, nout = 0;
    for (int i = 0; i < job->ninputs; i++)
        nin += job->inputs[i]->sys->plugin == &sl_system_inproc;
    for (int i = 0; i < job->noutputs; i++)
        nout += job->outputs[i]->sys->plugin == &sl_system_inproc;
    if (!nin && !nout)
        return SL_OK;
    if (!(host = calloc(1, sizeof(*host))))
        goto oom;
    job->host = host;
    host->job = job;
    pthread_mutex_init(&host->lock, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&host->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    if ((nin && !(host->ins = calloc((size_t)nin, sizeof(*host->ins)))) ||
        (nout && !(host->outs = calloc((size_t)nout, sizeof(*host->outs)))))
        goto oom;
    for (int i = 0; i < job->ninputs; i++) {
        sl_stream_t *st = job->inputs[i];
        sl_hin_t *hin;
        if (st->sys->plugin != &sl_system_inproc)
            continue;
        hin = &host->ins[host->nins++];
        hin->st = st;
        hin->c = st->conf;
        if (!(hin->name = stream_name(st)) ||
            !(hin->parts = calloc((size_t)hin->c->partitions, sizeof(*hin->parts))))
            goto oom;
        hin->nparts = hin->c->partitions;
        for (int p = 0; p < hin->nparts; p++) {
            hin->parts[p].hin = hin;
            hin->parts[p].idx = p;
            hin->parts[p].committed = -1;
            hin->parts[p].next_offset = 1;
            snprintf(hin->parts[p].id, sizeof(hin->parts[p].id), "%d", p);
        }
    }
    for (int i = 0; i < job->noutputs; i++) {
        sl_stream_t *st = job->outputs[i];
        sl_hout_t *ho;
        if (st->sys->plugin != &sl_system_inproc)
            continue;
        ho = &host->outs[host->nouts++];
        ho->host = host;
        ho->st = st;
        ho->nws = job->jc.threads;
        if (!(ho->name = stream_name(st)) ||
            !(ho->ws = calloc((size_t)ho->nws, sizeof(*ho->ws))))
            goto oom;
    }
    if (host->nins)
        return read_committed(job, host, errstr, errlen);
    return SL_OK;
oom:
    snprintf(errstr, errlen, "out of memory setting up the host streams");
    return SL_ERR_NOMEM;
}

void sl_host_job_ended(sl_job_t *job) {
    struct sl_host *host = job->host;
    if (!host)
        return;
    pthread_mutex_lock(&host->lock);
    host->ended = 1;
    pthread_cond_broadcast(&host->cond);
    pthread_mutex_unlock(&host->lock);
}

void sl_host_detach(sl_job_t *job) {
    struct sl_host *host = job->host;
    if (!host)
        return;
    for (int i = 0; i < host->nins; i++) {
        sl_hin_t *hin = &host->ins[i];
        for (int p = 0; hin->parts && p < hin->nparts; p++)
            while (hin->parts[p].head) {
                sl_hitem_t *it = hin->parts[p].head;
                hin->parts[p].head = it->next;
                sl_buf_unref(it->buf);
                free(it->key);
                free(it);
            }
        free(hin->parts);
        free(hin->name);
    }
    /* Every producer was closed by now: what is left are copies the host never acked. */
    while (host->all) {
        struct sl_host_record *hr = host->all;
        host->all = hr->anext;
        sl_host_record_free(hr);
    }
    for (int i = 0; i < host->nouts; i++) {
        for (int w = 0; host->outs[i].ws && w < host->outs[i].nws; w++)
            free(host->outs[i].ws[w]);
        free(host->outs[i].ws);
        free(host->outs[i].name);
    }
    free(host->ins);
    free(host->outs);
    pthread_cond_destroy(&host->cond);
    pthread_mutex_destroy(&host->lock);
    free(host);
    job->host = NULL;
}

/* Waits on the hub's condition until deadline (monotonic ms; INT64_MAX: forever). Returns 0 on
 * a wake-up, ETIMEDOUT after the deadline. Lock held. */
static int wait_until(struct sl_host *host, int64_t deadline) {
    struct timespec ts;
    if (deadline == INT64_MAX)
        return pthread_cond_wait(&host->cond, &host->lock);
    ts.tv_sec = (time_t)(deadline / 1000);
    ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
    return pthread_cond_timedwait(&host->cond, &host->lock, &ts);
}

static int64_t deadline_of(int timeout_ms) {
    return timeout_ms < 0 ? INT64_MAX : sl_mono_ms() + timeout_ms;
}

/* FNV-1a: a stable hash, so a key keeps its partition across runs. */
static uint32_t key_hash(const void *key, size_t len) {
    const unsigned char *p = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

sl_err_t sl_host_push(sl_job_t *job, const char *input, int partition, const void *key,
                      size_t keylen, const void *data, size_t len, int timeout_ms,
                      int *part_out, int64_t *offset) {
    struct sl_host *host = job ? job->host : NULL;
    sl_hin_t *hin = in_named(host, input);
    sl_hitem_t *it;
    sl_hpart_t *hp;
    int64_t deadline;
    sl_err_t rc = SL_OK;

    if (!hin)
        return SL_ERR_NOENT;
    if (partition == SL_HOST_BY_KEY)
        partition = key ? (int)(key_hash(key, keylen) % (uint32_t)hin->nparts) : 0;
    if (partition < 0 || partition >= hin->nparts || (!data && len))
        return SL_ERR_INVAL;
    hp = &hin->parts[partition];
    if (!(it = calloc(1, sizeof(*it))) || !(it->buf = sl_buf_new(data, len)) ||
        (key && !(it->key = malloc(keylen ? keylen : 1)))) {
        if (it)
            sl_buf_unref(it->buf);
        free(it);
        return SL_ERR_NOMEM;
    }
    if (key) {
        memcpy(it->key, key, keylen);
        it->keylen = keylen;
    }
    deadline = deadline_of(timeout_ms);
    pthread_mutex_lock(&host->lock);
    for (;;) {
        if (host->ended) {
            rc = SL_ERR_STOPPED;
            break;
        }
        if (hin->ended) {
            rc = SL_ERR_STATE;
            break;
        }
        if (hp->count < hin->c->queue_size)
            break;
        if (timeout_ms == 0 || (deadline != INT64_MAX && sl_mono_ms() >= deadline) ||
            wait_until(host, deadline) == ETIMEDOUT) {
            if (hp->count < hin->c->queue_size && !host->ended && !hin->ended)
                break; /* room came with the deadline */
            hp->want_room = 1;
            rc = SL_ERR_RETRY;
            break;
        }
    }
    if (rc == SL_OK) {
        it->offset = hp->next_offset++;
        if (hp->tail)
            hp->tail->next = it;
        else
            hp->head = it;
        hp->tail = it;
        hp->count++;
        if (hp->live)
            event_active(hp->wake_ev, EV_TIMEOUT, 0);
        if (part_out)
            *part_out = partition;
        if (offset)
            *offset = it->offset;
        it = NULL;
    }
    pthread_mutex_unlock(&host->lock);
    if (it) {
        sl_buf_unref(it->buf);
        free(it->key);
        free(it);
    }
    return rc;
}

sl_err_t sl_host_input_on_room(sl_job_t *job, const char *input, sl_host_room_cb cb,
                               void *opaque) {
    struct sl_host *host = job ? job->host : NULL;
    sl_hin_t *hin = in_named(host, input);
    if (!hin)
        return SL_ERR_NOENT;
    pthread_mutex_lock(&host->lock);
    hin->room_cb = cb;
    hin->room_opaque = opaque;
    pthread_mutex_unlock(&host->lock);
    return SL_OK;
}

sl_err_t sl_host_input_on_commit(sl_job_t *job, const char *input, sl_host_commit_cb cb,
                                 void *opaque) {
    struct sl_host *host = job ? job->host : NULL;
    sl_hin_t *hin = in_named(host, input);
    if (!hin)
        return SL_ERR_NOENT;
    pthread_mutex_lock(&host->lock);
    hin->commit_cb = cb;
    hin->commit_opaque = opaque;
    pthread_mutex_unlock(&host->lock);
    return SL_OK;
}

sl_err_t sl_host_input_committed(sl_job_t *job, const char *input, int partition,
                                 int64_t *offset) {
    struct sl_host *host = job ? job->host : NULL;
    sl_hin_t *hin = in_named(host, input);
    sl_err_t rc = SL_OK;
    if (!hin)
        return SL_ERR_NOENT;
    if (partition < 0 || partition >= hin->nparts)
        return SL_ERR_INVAL;
    pthread_mutex_lock(&host->lock);
    if (hin->parts[partition].committed < 0)
        rc = SL_ERR_NOENT;
    else if (offset)
        *offset = hin->parts[partition].committed;
    pthread_mutex_unlock(&host->lock);
    return rc;
}

int sl_host_input_partitions(sl_job_t *job, const char *input) {
    sl_hin_t *hin = in_named(job ? job->host : NULL, input);
    return hin ? hin->nparts : SL_ERR_NOENT;
}

sl_err_t sl_host_input_end(sl_job_t *job, const char *input) {
    struct sl_host *host = job ? job->host : NULL;
    sl_hin_t *hin = in_named(host, input);
    if (!hin)
        return SL_ERR_NOENT;
    pthread_mutex_lock(&host->lock);
    hin->ended = 1;
    for (int p = 0; p < hin->nparts; p++)
        if (hin->parts[p].live)
            event_active(hin->parts[p].wake_ev, EV_TIMEOUT, 0);
    pthread_cond_broadcast(&host->cond);
    pthread_mutex_unlock(&host->lock);
    return SL_OK;
}

sl_err_t sl_host_output_poll(sl_job_t *job, const char *output, int timeout_ms,
                             sl_host_record_t **rec) {
    struct sl_host *host = job ? job->host : NULL;
    sl_hout_t *ho = out_named(host, output);
    int64_t deadline = deadline_of(timeout_ms);
    sl_err_t rc = SL_OK;
    *rec = NULL;
    if (!ho)
        return SL_ERR_NOENT;
    pthread_mutex_lock(&host->lock);
    for (;;) {
        if (ho->cb) {
            rc = SL_ERR_STATE;
            break;
        }
        if (ho->qhead) {
            struct sl_host_record *hr = ho->qhead;
            if (!(ho->qhead = hr->next))
                ho->qtail = NULL;
            hr->next = NULL;
            hr->state = SL_HREC_HELD;
            *rec = hr;
            break;
        }
        if (host->ended) {
            rc = SL_ERR_STOPPED;
            break;
        }
        if (timeout_ms == 0 || (deadline != INT64_MAX && sl_mono_ms() >= deadline) ||
            wait_until(host, deadline) == ETIMEDOUT) {
            if (ho->qhead)
                continue;
            rc = SL_ERR_RETRY;
            break;
        }
    }
    pthread_mutex_unlock(&host->lock);
    return rc;
}

sl_err_t sl_host_output_on_record(sl_job_t *job, const char *output, sl_host_record_cb cb,
                                  void *opaque) {
    struct sl_host *host = job ? job->host : NULL;
    sl_hout_t *ho = out_named(host, output);
    if (!ho)
        return SL_ERR_NOENT;
    pthread_mutex_lock(&host->lock);
    ho->cb = cb;
    ho->cb_opaque = opaque;
    pthread_mutex_unlock(&host->lock);
    return SL_OK;
}

void sl_host_record_ack(sl_host_record_t *hr) {
    struct sl_host *host;
    int free_it = 0;
    if (!hr)
        return;
    host = hr->hw->ho->host;
    pthread_mutex_lock(&host->lock);
    if (hr->state == SL_HREC_HELD && !hr->hw->closed) {
        hr->state = SL_HREC_ACKED;
        hr->next = hr->hw->acked;
        hr->hw->acked = hr;
        /* Under the lock: out_close() frees the event only after marking the producer closed. */
        event_active(hr->hw->ack_ev, EV_TIMEOUT, 0);
    } else if (hr->state == SL_HREC_DROPPED) {
        sl_host_record_unlink(host, hr);
        free_it = 1;
    }
    pthread_mutex_unlock(&host->lock);
    if (free_it)
        sl_host_record_free(hr);
}

const void *sl_host_record_data(const sl_host_record_t *hr, size_t *len) {
    if (len)
        *len = hr->len;
    return hr->data;
}

const char *sl_host_record_key(const sl_host_record_t *hr, size_t *len) {
    if (len)
        *len = hr->key ? hr->keylen : 0;
    return hr->key;
}

const char *sl_host_record_header(const sl_host_record_t *hr, const char *name) {
    for (int i = 0; i < hr->nheaders; i++)
        if (hr->headers[2 * i] && !strcmp(hr->headers[2 * i], name))
            return hr->headers[2 * i + 1];
    return NULL;
}

int64_t sl_host_record_event_time(const sl_host_record_t *hr) {
    return hr->event_time;
}

const sl_source_t *sl_host_record_source(const sl_host_record_t *hr) {
    return &hr->src;
}
