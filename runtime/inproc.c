/*
 * inproc.c: the `inproc` system: streams that connect a job to the program embedding it
 * (sluice/host.h). An input's partitions read the queues the host pushes into (SL_POLL_WAIT: a
 * push wakes the partition) and end when the host ended the input; their committed offsets are
 * reported back to the host. An output hands each record to the host (queue or callback) as a
 * copy and acknowledges the record on its worker once the host acknowledged the copy; at the
 * end of the job what the host never acknowledged is dropped. Factory names: `inproc`,
 * `sluice.inproc`, `sluice.system.InProcessSystemFactory`.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inproc.h"
#include "util_str.h"

#define FO(f) offsetof(sl_inproc_stream_conf_t, f)

static const sl_prop_t inproc_stream_props[] = {
    {"partitions", SL_PROP_INT, FO(partitions), "1", 1, 4096, NULL, 0,
     "Input: number of partitions (0 .. partitions-1) the host pushes into; a record pushed "
     "with SL_HOST_BY_KEY goes to the partition of its key's hash."},
    {"queue.size", SL_PROP_INT, FO(queue_size), "1000", 1, 10000000, NULL, 0,
     "Input: records a partition holds before sl_host_push() waits or returns SL_ERR_RETRY."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* --- input --------------------------------------------------------------------------------- */

static sl_err_t in_discover(sl_input_t *in) {
    sl_hin_t *hin = sl_host_find_in(in->job->host, in->st);
    if (!hin)
        return sl_input_fail(in, "not a host input");
    for (int i = 0; i < hin->nparts; i++) {
        sl_err_t err = sl_input_add_partition(in, hin->parts[i].id);
        if (err != SL_OK)
            return sl_input_fail(in, "cannot add partition %s: %s", hin->parts[i].id,
                                 sl_err_str(err));
    }
    return SL_OK;
}

/* On the partition's worker, after a push or the end of the input. */
static void wake_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    sl_part_wake(arg);
}

static sl_err_t part_open(sl_part_t *part, const char *offset, int64_t subseq, void **statep) {
    sl_input_t *in = sl_part_input(part);
    struct sl_host *host = in->job->host;
    sl_hin_t *hin = sl_host_find_in(host, in->st);
    sl_hpart_t *hp = NULL;
    (void)subseq;
    (void)offset; /* the hub read it when the job was built: offsets continue after it */
    for (int i = 0; hin && i < hin->nparts; i++)
        if (!strcmp(hin->parts[i].id, sl_part_id(part)))
            hp = &hin->parts[i];
    if (!hp)
        return sl_part_fail(part, "unknown host partition");
    if (!(hp->wake_ev = event_new(sl_part_base(part), -1, 0, wake_cb, part)))
        return sl_part_fail(part, "out of memory");
    pthread_mutex_lock(&host->lock);
    hp->live = part;
    pthread_mutex_unlock(&host->lock);
    *statep = hp;
    return SL_OK;
}

static sl_poll_t part_poll(sl_part_t *part, void *state, int max) {
    sl_hpart_t *hp = state;
    sl_hin_t *hin = hp->hin;
    struct sl_host *host = sl_part_input(part)->job->host;
    sl_hitem_t *batch = NULL, **tailp = &batch;
    sl_host_room_cb room = NULL;
    void *room_opaque = NULL;
    int taken = 0, eof;
    char offbuf[32];

    pthread_mutex_lock(&host->lock);
    while (hp->head && taken < max) {
        sl_hitem_t *it = hp->head;
        hp->head = it->next;
        it->next = NULL;
        *tailp = it;
        tailp = &it->next;
        taken++;
    }
    if (!hp->head)
        hp->tail = NULL;
    hp->count -= taken;
    if (taken && hp->want_room && hp->count < hin->c->queue_size) {
        hp->want_room = 0;
        room = hin->room_cb;
        room_opaque = hin->room_opaque;
    }
    eof = !taken && hin->ended;
    if (taken)
        pthread_cond_broadcast(&host->cond);
    pthread_mutex_unlock(&host->lock);

    if (room)
        room(host->job, hin->name, hp->idx, room_opaque);
    while (batch) {
        sl_hitem_t *it = batch;
        sl_err_t err = SL_OK;
        batch = it->next;
        if (it->buf) {
            snprintf(offbuf, sizeof(offbuf), "%" PRId64, it->offset);
            err = sl_part_deliver(part, it->buf, 0, sl_buf_len(it->buf), it->key, it->keylen,
                                  offbuf, 0, 0);
            sl_buf_unref(it->buf);
            /* The job is failing: what is left is dropped, its offsets never committed. */
            if (err != SL_OK)
                for (sl_hitem_t *rest = batch; rest; rest = rest->next) {
                    sl_buf_unref(rest->buf);
                    rest->buf = NULL;
                }
        }
        free(it->key);
        free(it);
    }
    if (eof)
        return SL_POLL_EOF;
    return taken ? SL_POLL_MORE : SL_POLL_WAIT;
}

static sl_err_t part_commit(sl_part_t *part, void *state, const char *offset, int64_t subseq) {
    sl_hpart_t *hp = state;
    sl_hin_t *hin = hp->hin;
    struct sl_host *host = sl_part_input(part)->job->host;
    sl_host_commit_cb cb;
    void *opaque;
    int64_t off = strtoll(offset, NULL, 10);
    (void)subseq;
    pthread_mutex_lock(&host->lock);
    hp->committed = off;
    cb = hin->commit_cb;
    opaque = hin->commit_opaque;
    pthread_cond_broadcast(&host->cond);
    pthread_mutex_unlock(&host->lock);
    if (cb)
        cb(host->job, hin->name, hp->idx, off, opaque);
    return SL_OK;
}

static void part_close(sl_part_t *part, void *state) {
    sl_hpart_t *hp = state;
    struct sl_host *host = sl_part_input(part)->job->host;
    if (!hp)
        return;
    pthread_mutex_lock(&host->lock);
    if (hp->live == part)
        hp->live = NULL;
    pthread_mutex_unlock(&host->lock);
    /* Nobody activates it any more (live is NULL); freeing also cancels a pending wake. */
    if (hp->wake_ev)
        event_free(hp->wake_ev);
    hp->wake_ev = NULL;
}

/* --- output -------------------------------------------------------------------------------- */

/* On the worker: hands the records the host acknowledged back to the runtime. */
static void ack_cb(evutil_socket_t fd, short what, void *arg) {
    sl_hw_t *hw = arg;
    struct sl_host *host = hw->ho->host;
    struct sl_host_record *list;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&host->lock);
    list = hw->acked;
    hw->acked = NULL;
    for (struct sl_host_record *hr = list; hr; hr = hr->next)
        sl_host_record_unlink(host, hr);
    pthread_mutex_unlock(&host->lock);
    while (list) {
        struct sl_host_record *hr = list;
        list = hr->next;
        sl_output_ack(hw->out, hr->rec, SL_OK);
        hr->rec = NULL;
        sl_host_record_free(hr);
    }
}

static sl_err_t out_open(sl_output_t *out, void **statep) {
    struct sl_host *host = out->w->job->host;
    sl_hout_t *ho = sl_host_find_out(host, out->st);
    int idx = sl_output_worker(out);
    sl_hw_t *hw;
    if (!ho || idx >= ho->nws)
        return sl_output_fail(out, "not a host output");
    if (!(hw = calloc(1, sizeof(*hw))))
        return sl_output_fail(out, "out of memory");
    hw->ho = ho;
    hw->out = out;
    if (!(hw->ack_ev = event_new(sl_output_base(out), -1, 0, ack_cb, hw))) {
        free(hw);
        return sl_output_fail(out, "out of memory");
    }
    pthread_mutex_lock(&host->lock);
    free(ho->ws[idx]); /* a previous one was closed (never the case within one run) */
    ho->ws[idx] = hw;
    pthread_mutex_unlock(&host->lock);
    *statep = hw;
    return SL_OK;
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* A copy of rec the host may read from any thread. NULL when out of memory. */
static struct sl_host_record *copy_record(const sl_record_t *rec) {
    struct sl_host_record *hr = calloc(1, sizeof(*hr));
    const sl_source_t *src = sl_record_source(rec);
    const char *key, *srcs[5];
    const void *data;
    int n;
    if (!hr)
        return NULL;
    data = sl_record_data(rec, &hr->len);
    if (!(hr->data = dupn(data, hr->len)))
        goto fail;
    if ((key = sl_record_key(rec, &hr->keylen)) && !(hr->key = dupn(key, hr->keylen)))
        goto fail;
    n = sl_record_header_count(rec);
    if (n > 0) {
        if (!(hr->headers = calloc((size_t)n * 2, sizeof(char *))))
            goto fail;
        for (int i = 0; i < n; i++) {
            const char *name, *value;
            if (sl_record_header_at(rec, i, &name, &value) != SL_OK)
                break;
            hr->nheaders++;
            if (!(hr->headers[2 * i] = sl_strdup(name)) ||
                !(hr->headers[2 * i + 1] = sl_strdup(value)))
                goto fail;
        }
    }
    hr->event_time = sl_record_event_time(rec);
    srcs[0] = src->system;
    srcs[1] = src->stream;
    srcs[2] = src->partition;
    srcs[3] = src->offset;
    srcs[4] = src->kind;
    for (int i = 0; i < 5; i++)
        if (!(hr->strs[i] = sl_strdup(srcs[i] ? srcs[i] : "")))
            goto fail;
    hr->src = *src;
    hr->src.system = hr->strs[0];
    hr->src.stream = hr->strs[1];
    hr->src.partition = hr->strs[2];
    hr->src.offset = hr->strs[3];
    hr->src.kind = hr->strs[4];
    return hr;
fail:
    sl_host_record_free(hr);
    return NULL;
}

static sl_err_t out_send(sl_output_t *out, void *state, sl_record_t *rec) {
    sl_hw_t *hw = state;
    sl_hout_t *ho = hw->ho;
    struct sl_host *host = ho->host;
    struct sl_host_record *hr = copy_record(rec);
    sl_host_record_cb cb;
    void *opaque;
    if (!hr)
        return sl_output_fail(out, "out of memory");
    hr->hw = hw;
    hr->rec = rec;
    pthread_mutex_lock(&host->lock);
    hr->anext = host->all;
    if (host->all)
        host->all->aprev = hr;
    host->all = hr;
    cb = ho->cb;
    opaque = ho->cb_opaque;
    if (cb) {
        hr->state = SL_HREC_HELD;
    } else {
        hr->state = SL_HREC_QUEUED;
        if (ho->qtail)
            ho->qtail->next = hr;
        else
            ho->qhead = hr;
        ho->qtail = hr;
        pthread_cond_broadcast(&host->cond);
    }
    pthread_mutex_unlock(&host->lock);
    if (cb)
        cb(host->job, ho->name, hr, opaque);
    return SL_OK;
}

static sl_err_t out_flush(sl_output_t *out, void *state, int sync) {
    /* The host acknowledges when it is done, never on a flush. */
    (void)out;
    (void)state;
    (void)sync;
    return SL_OK;
}

/* At the end of the job (after the drain): what the host holds or never took is dropped
 * without acknowledgement; the host's copies stay valid until it acks them. */
static void out_close(sl_output_t *out, void *state) {
    sl_hw_t *hw = state;
    sl_hout_t *ho = hw->ho;
    struct sl_host *host = ho->host;
    struct sl_host_record *gone = NULL, **qp;
    pthread_mutex_lock(&host->lock);
    hw->closed = 1;
    for (qp = &ho->qhead, ho->qtail = NULL; *qp;) {
        struct sl_host_record *hr = *qp;
        if (hr->hw == hw) {
            *qp = hr->next;
            hr->next = gone;
            gone = hr;
        } else {
            ho->qtail = hr;
            qp = &hr->next;
        }
    }
    while (hw->acked) {
        struct sl_host_record *hr = hw->acked;
        hw->acked = hr->next;
        hr->next = gone;
        gone = hr;
    }
    for (struct sl_host_record *hr = gone; hr; hr = hr->next)
        sl_host_record_unlink(host, hr);
    for (struct sl_host_record *hr = host->all; hr; hr = hr->anext)
        if (hr->hw == hw && hr->state == SL_HREC_HELD) {
            sl_output_drop(out, hr->rec);
            hr->rec = NULL;
            hr->state = SL_HREC_DROPPED;
        }
    pthread_cond_broadcast(&host->cond);
    pthread_mutex_unlock(&host->lock);
    while (gone) {
        struct sl_host_record *hr = gone;
        gone = hr->next;
        sl_output_drop(out, hr->rec);
        hr->rec = NULL;
        sl_host_record_free(hr);
    }
    event_free(hw->ack_ev);
    hw->ack_ev = NULL;
}

static const char *const inproc_factories[] = {"inproc", "sluice.inproc",
                                               "sluice.system.InProcessSystemFactory", NULL};

const sl_system_plugin_t sl_system_inproc = {
    .abi_version = SL_SYSTEM_ABI_VERSION,
    .name = "inproc",
    .factories = inproc_factories,
    .description = "Streams of the program embedding the job (sluice/host.h): it pushes records "
                   "into an input's partitions with sl_host_push() and receives an output's "
                   "records with sl_host_output_poll() or a callback, acknowledging each; "
                   "offsets are checkpointed like any input's.",
    .stream_props = inproc_stream_props,
    .stream_conf_size = sizeof(sl_inproc_stream_conf_t),
    .discover = in_discover,
    .part_open = part_open,
    .part_poll = part_poll,
    .part_commit = part_commit,
    .part_close = part_close,
    .out_open = out_open,
    .out_send = out_send,
    .out_flush = out_flush,
    .out_close = out_close,
};
