/*
 * system.c: the registry of system plugins, the generic system and stream tables, and the
 * helpers connectors call: announcing partitions (main thread), delivering records into a
 * partition's chain with checkpoint tracking (worker thread), and acknowledging what producers
 * sent. The tracking FIFO here is the heart of at-least-once: an offset becomes committable only
 * when it and every offset before it in its partition have no live record left.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "job_int.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

/* The generic system table fills an sl_system_generic_t. */
#define SG(f) offsetof(sl_system_generic_t, f)
const sl_prop_t sl_system_generic_props[] = {
    {"samza.factory", SL_PROP_STRING, SG(factory), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "The system's kind: one of the factory names listed with each system below, or with "
     "`library`, one of the factory names that library's plugin declares."},
    {"library", SL_PROP_STRING, SG(library), NULL, 0, 0, NULL, 0,
     "A user connector: the path of a shared library exporting `const sl_system_plugin_t "
     "sluice_system_plugin` (see <sluice/system.h>), loaded when the job starts; a relative "
     "path is also tried relative to the job file's directory. Its abi_version must be this "
     "sluice's SL_SYSTEM_ABI_VERSION (3), or 2 for a connector built before version 3."},
    {"samza.key.serde", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza serde; sluice passes keys as bytes."},
    {"samza.msg.serde", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza serde; sluice passes payloads as bytes."},
    {"consumer.*", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "Samza Kafka consumer pass-through."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

#define GO(f) offsetof(sl_stream_generic_t, f)
const sl_prop_t sl_stream_generic_props[] = {
    {"samza.offset.default", SL_PROP_ENUM, GO(offset_default), "oldest", 0, 0, "oldest|upcoming",
     0, "Where to start a partition that has no checkpoint: its oldest record, or only records "
     "that arrive from now on."},
    {"samza.reset.offset", SL_PROP_BOOL, GO(reset_offset), "false", 0, 0, NULL, 0,
     "Ignore the stored checkpoints at start-up and begin at samza.offset.default."},
    {"samza.key.serde", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "Samza serde."},
    {"samza.msg.serde", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "Samza serde."},
    {"samza.priority", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's input priority; sluice reads all partitions fairly."},
    {"samza.bootstrap", SL_PROP_BOOL, GO(bootstrap), "false", 0, 0, NULL, 0,
     "A bootstrap input (Samza's term): at start, it is read to its head (the end of a file, "
     "0 ms behind the newest record of every Kinesis or DynamoDB stream shard) and what its "
     "records made of the keyed state committed, before any other input's partitions begin; "
     "a join's table is usually one. The stream's system must report its head (file, "
     "kinesis, dynamodbstreams)."},
    {"samza.broadcast", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "Samza broadcast streams."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};


sl_err_t sl_system_plugin_check(const sl_system_plugin_t *plugin, char *why, size_t len) {
    if (!plugin) {
        snprintf(why, len, "no plugin");
        return SL_ERR_INVAL;
    }
    /* Version 2 structs end before in_partitions_move: still accepted (see sl_input_moves). */
    if (plugin->abi_version < 2 || plugin->abi_version > SL_SYSTEM_ABI_VERSION) {
        snprintf(why, len,
                 "connector ABI version %d, but this sluice (%s) expects version %d (or 2): "
                 "rebuild the connector against this version's headers",
                 plugin->abi_version, sl_version(), SL_SYSTEM_ABI_VERSION);
        return SL_ERR_ABI;
    }
    if (!plugin->name || !*plugin->name) {
        snprintf(why, len, "the plugin has no name");
        return SL_ERR_INVAL;
    }
    if (!plugin->factories || !plugin->factories[0]) {
        snprintf(why, len, "system '%s' declares no factory name", plugin->name);
        return SL_ERR_INVAL;
    }
    if ((plugin->discover != NULL) != (plugin->part_open != NULL && plugin->part_poll != NULL) ||
        (plugin->out_open != NULL) != (plugin->out_send != NULL && plugin->out_flush != NULL)) {
        snprintf(why, len, "system '%s' has an incomplete consumer or producer (discover, "
                 "part_open, part_poll / out_open, out_send, out_flush go together)",
                 plugin->name);
        return SL_ERR_INVAL;
    }
    const sl_prop_t *tables[2] = {plugin->system_props, plugin->stream_props};
    size_t sizes[2] = {plugin->system_conf_size, plugin->stream_conf_size};
    for (int t = 0; t < 2; t++)
        for (const sl_prop_t *row = tables[t]; row && row->name; row++)
            if (sl_prop_field_size(row->type) > 0 &&
                row->offset + sl_prop_field_size(row->type) > sizes[t]) {
                snprintf(why, len, "system '%s': property '%s' lies outside its conf size (%zu)",
                         plugin->name, row->name, sizes[t]);
                return SL_ERR_INVAL;
            }
    return SL_OK;
}

const sl_system_plugin_t *sl_system_find(const char *factory) {
    for (const sl_system_plugin_t *const *sys = sl_builtin_systems; *sys; sys++)
        for (const char *const *f = (*sys)->factories; *f; f++)
            if (!strcmp(*f, factory))
                return *sys;
    return NULL;
}

/* What a factory spelling of a left-out connector contains, most specific first (the
 * DynamoDB source's Pulsar IO class name also contains "pulsar"). */
static const struct {
    const char *word, *system, *option;
} left_out_words[] = {
    {"dynamodb", "dynamodbstreams", "--without-kinesis"},
    {"kinesis", "kinesis", "--without-kinesis"},
    {"pulsar", "pulsar", "--without-pulsar"},
};

const char *sl_system_left_out(const char *factory, const char **option) {
    for (size_t i = 0; i < sizeof(left_out_words) / sizeof(*left_out_words); i++) {
        if (!strcasestr(factory, left_out_words[i].word))
            continue;
        for (const char *const *out = sl_builtin_systems_out; *out; out++)
            if (!strcmp(*out, left_out_words[i].system)) {
                *option = left_out_words[i].option;
                return *out;
            }
        return NULL;
    }
    return NULL;
}

int sl_system_plugins(const sl_system_plugin_t *const **out) {
    int n = 0;
    while (sl_builtin_systems[n])
        n++;
    *out = sl_builtin_systems;
    return n;
}

/* --- inputs (main thread) ------------------------------------------------------------------ */

sl_input_t *sl_input_new(sl_job_t *job, sl_stream_t *st) {
    sl_input_t *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->job = job;
    in->st = st;
    in->bootstrap = st->generic.bootstrap;
    pthread_mutex_init(&in->lock, NULL);
    return in;
}

void sl_job_bootstrap_check(sl_job_t *job) {
    char names[512] = "";
    size_t used = 0;
    if (atomic_load(&job->bootstrapped))
        return;
    /* Inputs are created one by one while the workers run: wait for all of them. */
    if (atomic_load_explicit(&job->ins_ready, memory_order_acquire) < job->ninputs)
        return;
    for (int i = 0; i < job->ninputs; i++) {
        sl_input_t *in = job->ins[i];
        int ready;
        if (!in->bootstrap)
            continue;
        pthread_mutex_lock(&in->lock);
        ready = in->nknown > 0;
        for (int k = 0; ready && k < in->nknown; k++)
            ready = in->known[k].caught_up || in->known[k].done;
        pthread_mutex_unlock(&in->lock);
        if (!ready)
            return;
        if (used < sizeof(names)) {
            int n = snprintf(names + used, sizeof(names) - used, "%s%s.%s", used ? ", " : "",
                             in->st->sys->name, in->st->name);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    if (atomic_exchange(&job->bootstrapped, 1))
        return;
    sl_log(SL_LOG_INFO, "job", "bootstrap: %s read to the head in %.1f s; the other inputs "
           "start", names, (sl_mono_ms() - job->bootstrap_started_ms) / 1000.0);
}

int sl_job_stage_partitions(void *opaque, int stage) {
    sl_job_t *job = opaque;
    int n = 0, ready = atomic_load_explicit(&job->ins_ready, memory_order_acquire);
    for (int i = 0; i < ready && i < job->ninputs; i++) {
        sl_input_t *in = job->ins[i];
        char name[600];
        if (!in)
            continue;
        snprintf(name, sizeof(name), "%s.%s", in->st->sys->name, in->st->name);
        if (sl_chain_spec_stage_of(job->spec, name) != stage)
            continue;
        pthread_mutex_lock(&in->lock);
        n += in->nknown;
        pthread_mutex_unlock(&in->lock);
    }
    return n;
}

void sl_input_part_caught_up(sl_input_t *in, sl_part_t *part) {
    pthread_mutex_lock(&in->lock);
    for (int i = 0; i < in->nknown; i++)
        if (in->known[i].serial == part->serial)
            in->known[i].caught_up = 1;
    pthread_mutex_unlock(&in->lock);
    sl_log_debug("worker", "%s/%s/%s: bootstrap partition at its head", in->st->sys->name,
                 in->st->name, part->id);
    sl_job_bootstrap_check(in->job);
}

int sl_input_moves(const sl_input_t *in, char *why, size_t len) {
    const sl_system_plugin_t *pl = in->st->sys->plugin;
    /* A version 2 struct has no in_partitions_move: reading it would run past its end. */
    if (pl->abi_version < 3 || !pl->in_partitions_move)
        return 0;
    if (len)
        why[0] = '\0';
    return pl->in_partitions_move(in, why, len) ? 1 : 0;
}

void sl_input_destroy(sl_input_t *in) {
    if (!in)
        return;
    if (in->opened && in->st->sys->plugin->in_close)
        in->st->sys->plugin->in_close(in, in->state);
    if (in->discover_ev)
        event_free(in->discover_ev);
    for (int i = 0; i < in->nknown; i++)
        free(in->known[i].id);
    free(in->known);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

sl_err_t sl_input_open(sl_input_t *in) {
    const sl_system_plugin_t *pl = in->st->sys->plugin;
    if (!pl->in_open)
        return SL_OK;
    if (pl->in_open(in, &in->state) != SL_OK) {
        sl_job_fail(in->job, "%s", in->errmsg[0] ? in->errmsg : "cannot open input");
        return SL_ERR_IO;
    }
    in->opened = 1;
    return SL_OK;
}

const char *sl_input_system(const sl_input_t *in) {
    return in->st->sys->name;
}
const char *sl_input_stream(const sl_input_t *in) {
    return in->st->name;
}
const void *sl_input_system_conf(const sl_input_t *in) {
    return in->st->sys->conf;
}
const void *sl_input_stream_conf(const sl_input_t *in) {
    return in->st->conf;
}
int64_t sl_input_start_deadline(const sl_input_t *in) {
    return in->job->start_deadline_ms;
}
int64_t sl_output_start_deadline(const sl_output_t *out) {
    return out->w->job->start_deadline_ms;
}
int sl_input_start_upcoming(const sl_input_t *in) {
    return in->st->generic.offset_default == 1;
}
sl_conf_t *sl_input_conf(const sl_input_t *in) {
    return in->job->conf;
}
const char *const *sl_input_prefixes(const sl_input_t *in) {
    return in->st->prefixes;
}
const char *sl_input_factory(const sl_input_t *in) {
    return in->st->sys->factory;
}
const char *sl_input_job_name(const sl_input_t *in) {
    return in->job->jc.name;
}
const char *sl_input_job_id(const sl_input_t *in) {
    return in->job->jc.id;
}
void *sl_input_state(const sl_input_t *in) {
    return in->state;
}
struct event_base *sl_input_base(const sl_input_t *in) {
    return in->job->base;
}
int sl_input_worker_count(const sl_input_t *in) {
    return in->job->jc.threads;
}
int sl_input_job_stopping(const sl_input_t *in) {
    return atomic_load(&in->job->running) != 1 ||
           atomic_load(&in->job->failed);
}

sl_err_t sl_input_checkpoint_read(sl_input_t *in, const char *partition, char **offset,
                                  int64_t *subseq) {
    sl_err_t err;
    *offset = NULL;
    *subseq = 0;
    if (!in->job->ckpt)
        return SL_ERR_STATE;
    err = sl_ckpt_read(in->job->ckpt, in->st->sys->name, in->st->name, partition, offset, subseq);
    if (err == SL_OK && !*offset)
        return SL_ERR_NOENT;
    if (err == SL_ERR_DB) {
        char errstr[512];
        sl_ckpt_read_error(in->job->ckpt, errstr, sizeof(errstr));
        sl_job_fail_code(in->job, SL_ERR_DB, "cannot read the checkpoint: %s", errstr);
    }
    return err;
}

sl_err_t sl_input_checkpoint_write(sl_input_t *in, const char *partition, const char *offset,
                                   int64_t subseq) {
    sl_ckpt_t cp;
    char errstr[512];
    sl_err_t err;
    if (!in->job->ckpt)
        return SL_ERR_STATE;
    memset(&cp, 0, sizeof(cp));
    cp.system = in->st->sys->name;
    cp.stream = in->st->name;
    cp.partition = partition;
    cp.offset = offset;
    cp.subseq = subseq;
    err = sl_ckpt_write(in->job->ckpt, &cp, 1, errstr, sizeof(errstr));
    if (err != SL_OK)
        sl_job_fail_code(in->job, err == SL_ERR_DB ? SL_ERR_DB : SL_ERR_IO,
                         "%s/%s/%s: checkpoint write failed: %s", in->st->sys->name,
                         in->st->name, partition, errstr);
    return err;
}

void sl_input_set_discover_interval(sl_input_t *in, int64_t interval_ms) {
    in->discover_ms = interval_ms;
}

sl_err_t sl_input_fail(sl_input_t *in, const char *fmt, ...) {
    va_list ap;
    int n = snprintf(in->errmsg, sizeof(in->errmsg), "system '%s' stream '%s': ",
                     in->st->sys->name, in->st->name);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(in->errmsg))
        vsnprintf(in->errmsg + n, sizeof(in->errmsg) - (size_t)n, fmt, ap);
    va_end(ap);
    return SL_ERR_IO;
}

void sl_input_abort(sl_input_t *in, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_input_fail(in, "%s", msg);
    sl_job_fail(in->job, "%s", in->errmsg);
}

/* The known entry of partition, or NULL. Caller holds in->lock. */
static sl_known_t *known_find(sl_input_t *in, const char *partition) {
    for (int i = 0; i < in->nknown; i++)
        if (!strcmp(in->known[i].id, partition))
            return &in->known[i];
    return NULL;
}

sl_err_t sl_input_add_partition(sl_input_t *in, const char *partition) {
    sl_job_t *job = in->job;
    sl_part_t *part;
    sl_known_t *k;
    sl_worker_t *w;

    pthread_mutex_lock(&in->lock);
    if ((k = known_find(in, partition))) {
        int closing = k->closing;
        pthread_mutex_unlock(&in->lock);
        return closing ? SL_ERR_STATE : SL_OK;
    }
    if (in->nknown == in->capknown) {
        int cap = in->capknown ? in->capknown * 2 : 8;
        sl_known_t *grown = realloc(in->known, sizeof(*grown) * (size_t)cap);
        if (!grown) {
            pthread_mutex_unlock(&in->lock);
            return SL_ERR_NOMEM;
        }
        in->known = grown;
        in->capknown = cap;
    }
    k = &in->known[in->nknown];
    memset(k, 0, sizeof(*k));
    if (!(k->id = sl_strdup(partition)) || !(part = calloc(1, sizeof(*part))) ||
        !(part->id = sl_strdup(partition))) {
        if (k->id)
            free(part);
        free(k->id);
        pthread_mutex_unlock(&in->lock);
        return SL_ERR_NOMEM;
    }
    in->nknown++;
    part->in = in;
    part->serial = k->serial = ++job->part_serial;
    part->stop_how = -1;
    k->part = part;
    /* Round robin over the workers, continuing across inputs. */
    w = job->workers[in->next_worker++ % job->jc.threads];
    part->w = w;
    pthread_mutex_unlock(&in->lock);
    atomic_fetch_add(&job->live_parts, 1);
    sl_log_debug("worker", "partition %s/%s/%s -> worker %d", in->st->sys->name, in->st->name,
                 partition, w->idx);
    sl_worker_adopt(w, part);
    return SL_OK;
}

sl_err_t sl_input_remove_partition(sl_input_t *in, const char *partition, sl_part_stop_t how) {
    sl_known_t *k;
    sl_part_t *part;
    uint64_t serial;

    pthread_mutex_lock(&in->lock);
    k = known_find(in, partition);
    if (!k || k->closing || k->done || !k->part) {
        pthread_mutex_unlock(&in->lock);
        return SL_ERR_NOENT;
    }
    k->closing = 1;
    part = k->part;
    serial = k->serial;
    pthread_mutex_unlock(&in->lock);
    sl_log(SL_LOG_INFO, "worker", "%s/%s/%s: %s", in->st->sys->name, in->st->name, partition,
           how == SL_PART_LOST ? "lost: stopping at once" : "released: handing it over");
    /* part is only used by the worker as a key matched with the serial: it may be gone. */
    sl_worker_stop_part(part->w, part, serial, (int)how);
    return SL_OK;
}

void sl_input_retire(sl_input_t *in, sl_part_t *part) {
    pthread_mutex_lock(&in->lock);
    for (int i = 0; i < in->nknown; i++) {
        sl_known_t *k = &in->known[i];
        if (k->part != part || k->serial != part->serial)
            continue;
        k->part = NULL;
        if (part->why == SL_CLOSE_RELEASED || part->why == SL_CLOSE_LOST || k->closing) {
            /* It left early: forget it, so it can be announced again. */
            free(k->id);
            in->known[i] = in->known[--in->nknown];
        } else {
            k->done = 1;
        }
        break;
    }
    pthread_mutex_unlock(&in->lock);
}

sl_err_t sl_input_discover(sl_input_t *in) {
    sl_err_t err = in->st->sys->plugin->discover(in);
    if (err != SL_OK)
        sl_job_fail(in->job, "%s", in->errmsg[0] ? in->errmsg : sl_err_str(err));
    return err;
}

void sl_input_stopped(sl_input_t *in) {
    if (in->stopped)
        return;
    in->stopped = 1;
    sl_job_notify(in->job);
}

int sl_inputs_stop(sl_job_t *job) {
    int pending = 0;
    for (int i = 0; job->ins && i < job->ninputs; i++) {
        sl_input_t *in = job->ins[i];
        if (!in)
            continue;
        if (!in->stopping) {
            in->stopping = 1;
            if (in->opened && in->st->sys->plugin->in_stop)
                in->st->sys->plugin->in_stop(in, in->state);
            else
                in->stopped = 1;
        }
        if (!in->stopped)
            pending++;
    }
    return pending;
}

/* --- partitions (worker thread) ------------------------------------------------------------ */

const char *sl_part_id(const sl_part_t *part) {
    return part->id;
}
sl_input_t *sl_part_input(const sl_part_t *part) {
    return part->in;
}
struct event_base *sl_part_base(const sl_part_t *part) {
    return part->w->base;
}
int sl_part_worker(const sl_part_t *part) {
    return part->w->idx;
}
sl_close_t sl_part_closing(const sl_part_t *part) {
    return (sl_close_t)part->why;
}

void sl_part_set_lag(sl_part_t *part, int64_t ms) {
    part->at_head = ms == 0;
    if (part->m_lag)
        sl_metric_set(part->m_lag, ms);
}

void sl_part_set_idle_interval(sl_part_t *part, int64_t ms) {
    part->idle_ms = ms > 0 ? ms : 1;
}

void sl_part_wake(sl_part_t *part) {
    if (part->poll_ev && part->pstate == SL_PART_RUNNING)
        event_active(part->poll_ev, EV_TIMEOUT, 0);
}

sl_err_t sl_part_fail(sl_part_t *part, const char *fmt, ...) {
    va_list ap;
    int n = snprintf(part->errmsg, sizeof(part->errmsg), "%s/%s/%s: ", part->in->st->sys->name,
                     part->in->st->name, part->id);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(part->errmsg))
        vsnprintf(part->errmsg + n, sizeof(part->errmsg) - (size_t)n, fmt, ap);
    va_end(ap);
    return SL_ERR_IO;
}

sl_err_t sl_part_bad_record(sl_part_t *part, const char *offset, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (part->m_errors)
        sl_metric_add(part->m_errors, 1);
    if (part->in->job->jc.error_policy == 1) {
        sl_log(SL_LOG_ERROR, "record", "%s/%s/%s offset %s: %s (skipped: task.error.policy=skip)",
               part->in->st->sys->name, part->in->st->name, part->id, offset, msg);
        return SL_OK;
    }
    part->failed = 1;
    sl_part_fail(part, "offset %s: %s", offset, msg);
    sl_job_fail(part->in->job, "%s", part->errmsg);
    return SL_ERR_RECORD;
}

/* A tracker's last record went away: mark it and advance the committable offset over every
 * finished tracker at the head of the FIFO. */
static void track_zero(sl_track_t *base) {
    sl_ptrack_t *tr = (sl_ptrack_t *)base;
    sl_part_t *part = tr->part;
    tr->done = 1;
    /* After a record of this partition failed, nothing at or past it may become committable. */
    while (!part->failed && part->head && part->head->done) {
        sl_ptrack_t *h = part->head;
        const char *off = h->offset_heap ? h->offset_heap : h->offset;
        size_t n = strlen(off);
        char *copy = realloc(part->done_offset, n + 1);
        if (copy) {
            memcpy(copy, off, n + 1);
            part->done_offset = copy;
            part->done_subseq = h->subseq;
            part->dirty = 1;
        }
        part->head = h->next;
        if (!part->head)
            part->tail = NULL;
        free(h->offset_heap);
        h->offset_heap = NULL;
        /* Keep a few for reuse; a burst's worth would stay allocated per partition. */
        if (part->nfree < SL_TRACK_FREE_MAX) {
            h->next = part->free;
            part->free = h;
            part->nfree++;
        } else {
            free(h);
        }
        part->inflight--;
        part->w->inflight--;
    }
    if (part->blocked && part->inflight <= part->in->job->jc.max_inflight / 2) {
        part->blocked = 0;
        sl_part_wake(part);
    }
}

static sl_ptrack_t *track_new(sl_part_t *part, const char *offset, int64_t subseq) {
    sl_ptrack_t *tr = part->free;
    size_t n = strlen(offset);
    if (tr) {
        part->free = tr->next;
        part->nfree--;
    } else if (!(tr = malloc(sizeof(*tr)))) {
        return NULL;
    }
    memset(&tr->base, 0, sizeof(tr->base));
    tr->base.on_zero = track_zero;
    tr->next = NULL;
    tr->part = part;
    tr->done = 0;
    tr->subseq = subseq;
    tr->offset_heap = NULL;
    if (n < sizeof(tr->offset)) {
        memcpy(tr->offset, offset, n + 1);
    } else if (!(tr->offset_heap = sl_strdup(offset))) {
        tr->next = part->free;
        part->free = tr;
        part->nfree++;
        return NULL;
    }
    if (part->tail)
        part->tail->next = tr;
    else
        part->head = tr;
    part->tail = tr;
    part->inflight++;
    part->w->inflight++;
    return tr;
}

sl_err_t sl_part_track_orphan(sl_part_t *part, sl_record_t *rec) {
    sl_ptrack_t *tr;
    if (rec->track)
        return SL_OK;
    if (part->tail)
        tr = track_new(part, part->tail->offset_heap ? part->tail->offset_heap
                                                     : part->tail->offset,
                       part->tail->subseq);
    else if (part->done_offset)
        tr = track_new(part, part->done_offset, part->done_subseq);
    else
        return SL_OK; /* nothing read yet: no offset to hold back */
    if (!tr)
        return SL_ERR_NOMEM;
    tr->base.refs = 1;
    rec->track = &tr->base;
    return SL_OK;
}

sl_err_t sl_part_deliver_ex(sl_part_t *part, const sl_delivery_t *d) {
    sl_stream_t *st = part->in->st;
    sl_ptrack_t *tr;
    sl_record_t *rec;
    sl_err_t err;

    if (!(rec = sl_record_new()) || !(tr = track_new(part, d->offset, d->subseq))) {
        sl_record_unref(rec);
        return sl_part_fail(part, "out of memory");
    }
    sl_record_set_kind(rec, st->sys && st->sys->plugin ? st->sys->plugin->name : NULL);
    /* The record holds the tracker from here; the tracker is released when the last record
     * derived from this source offset is dropped or acknowledged. */
    if (sl_record_set_source(rec, st->sys->name, st->name, part->id, d->offset, d->subseq,
                             d->arrival_ms ? d->arrival_ms : sl_now_ms(), &tr->base) != SL_OK ||
        (d->buf && sl_record_set_slice(rec, d->buf, d->off, d->len) != SL_OK) ||
        (d->key && sl_record_set_key(rec, d->key, d->keylen) != SL_OK)) {
        sl_record_unref(rec);
        return sl_part_fail(part, "out of memory");
    }
    for (int i = 0; i < d->nheaders; i++)
        if (sl_record_set_header(rec, d->headers[2 * i], d->headers[2 * i + 1]) != SL_OK) {
            sl_record_unref(rec);
            return sl_part_fail(part, "out of memory");
        }
    rec->event_time = d->event_time_ms;
    if (part->m_in)
        sl_metric_add(part->m_in, 1);
    err = sl_chain_process(part->chain, rec);
    if (err != SL_OK) {
        if (part->m_errors)
            sl_metric_add(part->m_errors, 1);
        if (part->in->job->jc.error_policy == 1) {
            sl_log(SL_LOG_ERROR, "record", "%s/%s/%s offset %s: %s (skipped: "
                   "task.error.policy=skip)", st->sys->name, st->name, part->id, d->offset,
                   sl_chain_error(part->chain));
            sl_record_unref(rec);
            return SL_OK;
        }
        /* Mark the partition before the record (and its tracker) goes. */
        part->failed = 1;
        sl_part_fail(part, "offset %s: %s", d->offset, sl_chain_error(part->chain));
        sl_job_fail(part->in->job, "%s", part->errmsg);
        sl_record_unref(rec);
        return SL_ERR_RECORD;
    }
    sl_record_unref(rec);
    if (part->inflight >= part->in->job->jc.max_inflight)
        part->blocked = 1;
    return SL_OK;
}

sl_err_t sl_part_deliver(sl_part_t *part, sl_buf_t *buf, size_t off, size_t len,
                         const char *key, size_t keylen, const char *offset, int64_t subseq,
                         int64_t event_time_ms) {
    sl_delivery_t d;
    memset(&d, 0, sizeof(d));
    d.buf = buf;
    d.off = off;
    d.len = len;
    d.key = key;
    d.keylen = keylen;
    d.offset = offset;
    d.subseq = subseq;
    d.event_time_ms = event_time_ms;
    return sl_part_deliver_ex(part, &d);
}

void sl_part_destroy(sl_part_t *part) {
    if (!part)
        return;
    /* Trackers still queued belong to records that are gone by now (the chain and the
     * producers were closed first); free them all. */
    while (part->head) {
        sl_ptrack_t *h = part->head;
        part->head = h->next;
        free(h->offset_heap);
        free(h);
    }
    while (part->free) {
        sl_ptrack_t *h = part->free;
        part->free = h->next;
        free(h);
    }
    if (part->poll_ev)
        event_free(part->poll_ev);
    /* After the chain (whose operators hold the stores) is gone; uncommitted changes drop. */
    sl_state_host_destroy(part->sh);
    free(part->done_offset);
    free(part->id);
    free(part);
}

/* --- outputs (worker thread) --------------------------------------------------------------- */

const char *sl_output_system(const sl_output_t *out) {
    return out->st->sys->name;
}
const char *sl_output_stream(const sl_output_t *out) {
    return out->st->name;
}
const void *sl_output_system_conf(const sl_output_t *out) {
    return out->st->sys->conf;
}
const void *sl_output_stream_conf(const sl_output_t *out) {
    return out->st->conf;
}

sl_conf_t *sl_output_conf(const sl_output_t *out) {
    return out->w->job->conf;
}
const char *const *sl_output_prefixes(const sl_output_t *out) {
    return out->st->prefixes;
}
struct event_base *sl_output_base(const sl_output_t *out) {
    return out->w->base;
}
int sl_output_worker(const sl_output_t *out) {
    return out->w->idx;
}
const char *sl_output_job_name(const sl_output_t *out) {
    return out->w->job->jc.name;
}
const char *sl_output_job_id(const sl_output_t *out) {
    return out->w->job->jc.id;
}

void sl_output_set_busy(sl_output_t *out, int busy) {
    sl_worker_t *w = out->w;
    busy = busy != 0;
    if (out->busy == busy)
        return;
    out->busy = busy;
    w->busy_outs += busy ? 1 : -1;
    if (w->busy_outs > 0)
        return;
    /* The last producer that was full has room again: partitions paused for it read on. */
    for (sl_part_t *p = w->parts; p; p = p->next)
        if (p->out_wait) {
            p->out_wait = 0;
            sl_part_wake(p);
        }
}

/* out->errmsg = "output <sys>.<stream>: " + the message. */
static void output_vmsg(sl_output_t *out, const char *fmt, va_list ap) {
    int n = snprintf(out->errmsg, sizeof(out->errmsg), "output %s.%s: ", out->st->sys->name,
                     out->st->name);
    if (n > 0 && (size_t)n < sizeof(out->errmsg))
        vsnprintf(out->errmsg + n, sizeof(out->errmsg) - (size_t)n, fmt, ap);
}

void sl_output_abort(sl_output_t *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    output_vmsg(out, fmt, ap);
    va_end(ap);
    sl_job_fail(out->w->job, "%s", out->errmsg);
    out->w->failed = 1;
}

sl_err_t sl_output_fail(sl_output_t *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    output_vmsg(out, fmt, ap);
    va_end(ap);
    return SL_ERR_IO;
}

void sl_output_drop(sl_output_t *out, sl_record_t *rec) {
    (void)out;
    if (rec->track && ((sl_ptrack_t *)rec->track)->part)
        ((sl_ptrack_t *)rec->track)->part->failed = 1;
    sl_record_unref(rec);
}

void sl_output_ack(sl_output_t *out, sl_record_t *rec, sl_err_t err) {
    if (err == SL_OK) {
        if (out->m_acked)
            sl_metric_add(out->m_acked, 1);
    } else {
        const sl_source_t *src = sl_record_source(rec);
        if (out->m_failed)
            sl_metric_add(out->m_failed, 1);
        if (out->w->job->jc.error_policy == 1) {
            sl_log(SL_LOG_ERROR, "record", "%s/%s/%s offset %s: %s (skipped: "
                   "task.error.policy=skip)", src->system, src->stream, src->partition,
                   src->offset, out->errmsg[0] ? out->errmsg : sl_err_str(err));
        } else {
            /* Fail before dropping the reference: the offset must never become committable. */
            if (rec->track && ((sl_ptrack_t *)rec->track)->part)
                ((sl_ptrack_t *)rec->track)->part->failed = 1;
            sl_job_fail(out->w->job, "%s/%s/%s offset %s: %s", src->system, src->stream,
                        src->partition, src->offset, out->errmsg[0] ? out->errmsg : sl_err_str(err));
            out->w->failed = 1;
        }
    }
    sl_record_unref(rec);
}

int sl_conf_user_key(sl_conf_t *conf, const sl_prop_t *table, const char *const *prefixes,
                     const char *name, char *buf, size_t len) {
    for (int p = 0; prefixes[p]; p++) {
        snprintf(buf, len, "%s%s", prefixes[p], name);
        if (sl_conf_get(conf, buf))
            return 1;
        for (const sl_prop_t *r = table; r->name; r++) {
            if (r->type != SL_PROP_ALIAS || strcmp(r->choices, name) != 0)
                continue;
            snprintf(buf, len, "%s%s", prefixes[p], r->name);
            if (sl_conf_get(conf, buf))
                return 1;
        }
    }
    snprintf(buf, len, "%s%s", prefixes[0], name);
    return 0;
}
