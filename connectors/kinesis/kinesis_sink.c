/*
 * kinesis_sink.c: the Kinesis producer, one per worker thread and output stream, on the
 * worker's event loop. Records arrive through out_send(), are partitioned (kinesis_partition.c),
 * formatted (kinesis_format.c) and queued; PutRecords requests of at most sink.batch.max-size
 * entries and 5 MiB go out when sink.flush-buffer.size bytes wait, after
 * sink.flush-buffer.timeout, or when the runtime flushes, with at most
 * sink.requests.max-inflight requests in flight. Every record is acknowledged to the runtime only
 * once Kinesis returned its sequence number, so its source offset is checkpointed only then.
 *
 * Order per partition key: records wait in one queue per key, and a key with an entry in flight
 * (or waiting for a retry) sends nothing else, because Kinesis may store a later entry of a
 * request while an earlier one failed. With KPL aggregation an entry is an aggregated record
 * holding many records of many keys bound for one shard (grouped by a shard map from
 * ListShards), so a hot key still sends hundreds of records per round trip. A failed entry goes
 * back to the head of its key's queue and is retried after a backoff; entries Kinesis refuses for
 * good are failed to task.error.policy (or fail the job with sink.fail-on-error).
 *
 * Back pressure: past sink.requests.max-buffered held records the producer asks the worker to
 * stop reading (sl_output_set_busy) until acknowledgements make room.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "kinesis.h"
#include "kinesis_format.h"
#include "util_base64.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

#define KS_MAX_REQUEST_BYTES (5u * 1024 * 1024) /* data + partition keys per PutRecords */
#define KS_MAX_FREE 4096                         /* pooled entries kept per producer */

typedef struct ks_queue ks_queue_t;

/* One record held by the producer, from out_send() to its acknowledgement. */
typedef struct ks_ent {
    struct ks_ent *next;
    sl_record_t *rec;        /* the connector's reference */
    const uint8_t *data;     /* the bytes to send: rec's payload or owned */
    size_t len;
    uint8_t *owned;          /* a formatted payload (FULL_MESSAGE_IN_*) */
    ks_queue_t *q;
    kpl_hash_t hash;      /* where it lands (aggregation groups by shard) */
    int attempts;
    size_t pklen;
    sl_partition_t part;     /* partition key and explicit hash key */
} ks_ent_t;

/* The records of one partition key not yet sent (or back for a retry). In unordered mode one
 * queue holds everything. */
struct ks_queue {
    ks_queue_t *hnext;       /* hash chain */
    ks_queue_t *rnext;       /* ready list / retry list */
    ks_ent_t *head, *tail;
    size_t n;
    uint64_t h;
    int busy;                /* an entry of the key is in flight or waiting for a retry */
    int on_ready, on_retry;
    int64_t not_before;      /* retry time (mono ms) */
    int shared;              /* the one queue of unordered mode: never busy, never freed */
    size_t klen;
    char key[];              /* the partition key (keeping order) */
};

/* One PutRecords entry: a single record, or an aggregate of several. */
typedef struct ks_krec {
    ks_ent_t *ents, *tail;
    size_t n;
    kpl_agg_out_t agg;    /* agg.data != NULL: the aggregate's bytes and keys */
    int shard;               /* predicted shard (index in the map at build time), -1 unknown */
} ks_krec_t;

typedef struct ks_req {
    struct ks_req *next, *prev;
    kin_sink_t *s;
    ks_krec_t *k;
    size_t n;
    char **shard_ids;        /* predicted shard ids (aggregation), owned */
} ks_req_t;

typedef struct ks_shard {
    kpl_hash_t start, end;
    char *id;
} ks_shard_t;

struct kin_sink {
    sl_output_t *out;
    const kin_conf_t *kc;
    const kin_sink_conf_t *sc;
    char *stream;
    struct event_base *base;
    sl_http_t *http;
    sl_creds_t *creds;
    sl_aws_client_t *client;
    kin_partitioner_t *parter;
    sl_retry_policy_t retry;
    uint64_t rng;
    int keep_order;
    /* queues */
    ks_queue_t **buckets;
    size_t nbuckets, nqueues;
    ks_queue_t *shared;      /* unordered mode's one queue */
    ks_queue_t *ready, *ready_tail;
    size_t nready;           /* queues on the ready list */
    ks_queue_t *retrying;
    ks_ent_t *free_ents;
    size_t nfree;
    size_t waiting, waiting_bytes; /* entries queued, not in flight */
    size_t held;             /* waiting + in flight */
    int force;               /* send what waits without waiting for a full batch */
    /* requests */
    ks_req_t *reqs;
    int inflight;
    struct event *flush_ev, *retry_ev, *shards_ev;
    int flush_armed;
    /* aggregation */
    ks_shard_t *shards;
    size_t nshards;
    int listing;
    int shard_failures;
    kpl_agg_t **aggs;     /* one per shard while a request is built */
    size_t naggs;
    char errbuf[512];
};

static void pump(kin_sink_t *s);

/* ---- small helpers ------------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* 1 when s[0..n) is valid UTF-8 (Kinesis partition keys are Unicode strings in JSON). */
static int utf8_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned min;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* JSON string body of s[0..n) (valid UTF-8) into sb. */
static void json_str(sl_sb_t *sb, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sl_sb_append(sb, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': sl_sb_append(sb, "\\\"", 2); break;
        case '\\': sl_sb_append(sb, "\\\\", 2); break;
        case '\n': sl_sb_append(sb, "\\n", 2); break;
        case '\r': sl_sb_append(sb, "\\r", 2); break;
        case '\t': sl_sb_append(sb, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sl_sb_append(sb, u, 6);
        }
        }
    }
    sl_sb_append(sb, s + run, n - run);
}

static ks_ent_t *ent_new(kin_sink_t *s) {
    ks_ent_t *e = s->free_ents;
    if (e) {
        s->free_ents = e->next;
        s->nfree--;
    } else if (!(e = malloc(sizeof(*e)))) {
        return NULL;
    }
    e->next = NULL;
    e->rec = NULL;
    e->owned = NULL;
    e->q = NULL;
    e->attempts = 0;
    return e;
}

static void ent_free(kin_sink_t *s, ks_ent_t *e) {
    free(e->owned);
    e->owned = NULL;
    if (s->nfree < KS_MAX_FREE) {
        e->next = s->free_ents;
        s->free_ents = e;
        s->nfree++;
    } else {
        free(e);
    }
}

static size_t ent_size(const ks_ent_t *e) {
    return e->len + e->pklen;
}

/* ---- queues ------------------------------------------------------------------------------- */

/* Whether q's records are bound to an order (a key's queue) or not (the shared queue of
 * unordered mode and random keys). */
static int ordered(const kin_sink_t *s, const ks_queue_t *q) {
    return s->keep_order && !q->shared;
}

static void ready_push(kin_sink_t *s, ks_queue_t *q) {
    if (q->on_ready || q->on_retry || q->busy || !q->head)
        return;
    q->on_ready = 1;
    s->nready++;
    q->rnext = NULL;
    if (s->ready_tail)
        s->ready_tail->rnext = q;
    else
        s->ready = q;
    s->ready_tail = q;
}

static ks_queue_t *ready_pop(kin_sink_t *s) {
    ks_queue_t *q = s->ready;
    if (!q)
        return NULL;
    s->ready = q->rnext;
    if (!s->ready)
        s->ready_tail = NULL;
    q->on_ready = 0;
    s->nready--;
    q->rnext = NULL;
    return q;
}

/* Puts q back at the head of the ready list (a request filled up before its turn). */
static void ready_unpop(kin_sink_t *s, ks_queue_t *q) {
    if (q->on_ready || !q->head)
        return;
    q->on_ready = 1;
    s->nready++;
    q->rnext = s->ready;
    s->ready = q;
    if (!s->ready_tail)
        s->ready_tail = q;
}

static int grow(kin_sink_t *s) {
    size_t n = s->nbuckets ? s->nbuckets * 2 : 1024;
    ks_queue_t **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < s->nbuckets; i++)
        while (s->buckets[i]) {
            ks_queue_t *q = s->buckets[i];
            s->buckets[i] = q->hnext;
            q->hnext = b[q->h & (n - 1)];
            b[q->h & (n - 1)] = q;
        }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
    return 0;
}

/* The queue of e's partition key (created when missing); NULL when out of memory. A random key
 * never repeats, so it needs no queue of its own. */
static ks_queue_t *queue_for(kin_sink_t *s, const ks_ent_t *e, int random_key) {
    uint64_t h;
    ks_queue_t *q;
    if (!s->keep_order || random_key)
        return s->shared;
    h = hash_bytes(e->part.key, e->pklen);
    if (s->nbuckets) {
        for (q = s->buckets[h & (s->nbuckets - 1)]; q; q = q->hnext)
            if (q->h == h && q->klen == e->pklen && !memcmp(q->key, e->part.key, e->pklen))
                return q;
    }
    if ((s->nqueues + 1 > s->nbuckets / 2 || !s->nbuckets) && grow(s) != 0)
        return NULL;
    if (!(q = calloc(1, sizeof(*q) + e->pklen + 1)))
        return NULL;
    memcpy(q->key, e->part.key, e->pklen);
    q->klen = e->pklen;
    q->h = h;
    q->hnext = s->buckets[h & (s->nbuckets - 1)];
    s->buckets[h & (s->nbuckets - 1)] = q;
    s->nqueues++;
    return q;
}

/* A queue with nothing left and nothing in flight goes. */
static void queue_maybe_free(kin_sink_t *s, ks_queue_t *q) {
    ks_queue_t **pp;
    if (q->shared || q->head || q->busy || q->on_ready || q->on_retry)
        return;
    for (pp = &s->buckets[q->h & (s->nbuckets - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == q) {
            *pp = q->hnext;
            break;
        }
    s->nqueues--;
    free(q);
}

static void queue_push(ks_queue_t *q, ks_ent_t *e) {
    e->next = NULL;
    e->q = q;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->n++;
}

static ks_ent_t *queue_pop(ks_queue_t *q) {
    ks_ent_t *e = q->head;
    if (!e)
        return NULL;
    q->head = e->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    e->next = NULL;
    return e;
}

/* Puts the list first..last (in order) back at the head of q. */
static void queue_unshift(ks_queue_t *q, ks_ent_t *first, ks_ent_t *last, size_t n) {
    last->next = q->head;
    q->head = first;
    if (!q->tail)
        q->tail = last;
    q->n += n;
}

/* ---- acknowledgements ---------------------------------------------------------------------- */

static void update_busy(kin_sink_t *s) {
    sl_output_set_busy(s->out, s->held >= (size_t)s->sc->max_buffered);
}

static void ent_done(kin_sink_t *s, ks_ent_t *e, sl_err_t err) {
    s->held--;
    sl_output_ack(s->out, e->rec, err);
    e->rec = NULL;
    ent_free(s, e);
}

/* A record Kinesis will never take: fail it (task.error.policy), or the job. */
static void ent_reject(kin_sink_t *s, ks_ent_t *e, const char *fmt, ...) SL_PRINTF(3, 4);
static void ent_reject(kin_sink_t *s, ks_ent_t *e, const char *fmt, ...) {
    va_list ap;
    char msg[400];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s->sc->fail_on_error)
        sl_output_abort(s->out, "%s (sink.fail-on-error)", msg);
    else
        sl_output_fail(s->out, "%s", msg);
    ent_done(s, e, SL_ERR_RECORD);
}

/* ---- the shard map (aggregation) ------------------------------------------------------------ */

static void shards_free(ks_shard_t *sh, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(sh[i].id);
    free(sh);
}

static int shard_cmp(const void *a, const void *b) {
    return kpl_hash_cmp(&((const ks_shard_t *)a)->start, &((const ks_shard_t *)b)->start);
}

/* The index of the shard whose range holds h, or -1. */
static int shard_of(const kin_sink_t *s, const kpl_hash_t *h) {
    size_t lo = 0, hi = s->nshards;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kpl_hash_cmp(&s->shards[mid].start, h) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || kpl_hash_cmp(h, &s->shards[lo - 1].end) > 0)
        return -1;
    return (int)(lo - 1);
}

static void list_shards(kin_sink_t *s);

static void shards_timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    list_shards(arg);
}

static void shards_schedule(kin_sink_t *s, int64_t ms) {
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(s->shards_ev, &tv);
}

static void list_cb(void *opaque, sl_err_t err, const char *msg, kin_shard_info_t **shards,
                    size_t n) {
    kin_sink_t *s = opaque;
    ks_shard_t *map = NULL;
    size_t m = 0;
    s->listing = 0;
    if (err != SL_OK) {
        s->shard_failures++;
        sl_log(SL_LOG_WARN, "kinesis", "output %s: ListShards failed (%s); records wait for the "
               "shard map of the aggregator", s->stream, msg ? msg : sl_err_str(err));
        shards_schedule(s, s->shard_failures < 5 ? 1000 : 5000);
        return;
    }
    s->shard_failures = 0;
    if (n && !(map = calloc(n, sizeof(*map))))
        goto retry;
    for (size_t i = 0; i < n; i++) {
        kin_shard_info_t *si = &(*shards)[i];
        if (si->end_seq)
            continue; /* closed: nothing is written there any more */
        if (kpl_hash_parse(si->start_hash, strlen(si->start_hash), &map[m].start) != 0 ||
            kpl_hash_parse(si->end_hash, strlen(si->end_hash), &map[m].end) != 0 ||
            !(map[m].id = sl_strdup(si->id))) {
            sl_log(SL_LOG_WARN, "kinesis", "output %s: shard %s has an unreadable hash key "
                   "range; listing again", s->stream, si->id);
            m++;
            goto retry;
        }
        m++;
    }
    if (m == 0) {
        sl_log(SL_LOG_WARN, "kinesis", "output %s: the stream has no open shard", s->stream);
        goto retry;
    }
    qsort(map, m, sizeof(*map), shard_cmp);
    shards_free(s->shards, s->nshards);
    s->shards = map;
    s->nshards = m;
    sl_log_debug("kinesis", "output %s: shard map of %zu open shards", s->stream, m);
    shards_schedule(s, s->sc->shard_refresh_ms);
    pump(s);
    return;
retry:
    shards_free(map, m);
    shards_schedule(s, 1000);
}

static void list_shards(kin_sink_t *s) {
    sl_retry_policy_t rp = kin_backoff_policy(&s->kc->listshards);
    if (s->listing)
        return;
    evtimer_del(s->shards_ev);
    s->listing = 1;
    if (kin_list_shards(s->client, s->stream, s->kc->stream_arn, NULL, 0, &rp, list_cb, s) !=
        SL_OK) {
        s->listing = 0;
        shards_schedule(s, 1000);
    }
}

/* ---- building a request ---------------------------------------------------------------------- */

static ks_krec_t *krec_add(ks_req_t *r) {
    ks_krec_t *k = &r->k[r->n++];
    memset(k, 0, sizeof(*k));
    k->shard = -1;
    return k;
}

static void krec_push(ks_krec_t *k, ks_ent_t *e) {
    e->next = NULL;
    if (k->tail)
        k->tail->next = e;
    else
        k->ents = e;
    k->tail = e;
    k->n++;
}

/* Entries taken from the queues stop being "waiting". */
static void taken(kin_sink_t *s, ks_ent_t *e) {
    s->waiting--;
    s->waiting_bytes -= ent_size(e);
}

/* Without aggregation: one entry per record, one per key when keeping order. */
static void build_plain(kin_sink_t *s, ks_req_t *r, size_t max) {
    size_t bytes = 0;
    ks_queue_t *q;
    while (r->n < max && (q = ready_pop(s))) {
        int took = 0;
        while (q->head && r->n < max) {
            ks_ent_t *e = q->head;
            if (bytes + ent_size(e) > KS_MAX_REQUEST_BYTES && r->n > 0)
                break;
            queue_pop(q);
            taken(s, e);
            bytes += ent_size(e);
            krec_push(krec_add(r), e);
            took = 1;
            if (ordered(s, q))
                break;
        }
        if (ordered(s, q) && took) {
            q->busy = 1;
            continue;
        }
        ready_unpop(s, q); /* full: the rest waits for the next request */
        break;
    }
}

/* Closes shard i's aggregate into an entry of r. */
static int agg_close(kin_sink_t *s, size_t i, ks_krec_t **open) {
    ks_krec_t *k = open[i];
    if (!k)
        return 0;
    open[i] = NULL;
    if (!k->n)
        return 0;
    if (kpl_agg_flush(s->aggs[i], &k->agg) != SL_OK)
        return -1;
    return 0;
}

/* With aggregation: records grouped by shard into aggregates; a key contributes to one
 * aggregate per request when keeping order. */
static void build_agg(kin_sink_t *s, ks_req_t *r, size_t max, ks_krec_t **open) {
    size_t bytes = 0; /* closed entries + open aggregates */
    ks_queue_t *q;
    char why[256];

    while ((q = ready_pop(s))) {
        ks_krec_t *k = NULL;
        int stop = 0, took = 0;
        while (q->head) {
            ks_ent_t *e = q->head;
            int sh = shard_of(s, &e->hash);
            size_t before, after;
            sl_err_t err;
            /* Keeping order, a key's records go into one entry per request. (A hash the map
             * does not cover, sh < 0, goes alone as a plain entry.) */
            if (ordered(s, q) && took && (sh < 0 || open[sh] != k))
                break;
            if (sh >= 0 && !open[sh]) {
                if (r->n >= max || bytes + 64 > KS_MAX_REQUEST_BYTES) {
                    stop = 1;
                    break;
                }
                open[sh] = krec_add(r);
                open[sh]->shard = sh;
            }
            if (sh >= 0) {
                before = kpl_agg_size(s->aggs[sh]);
                err = kpl_agg_add(s->aggs[sh], e->part.key,
                                  e->part.hash_key[0] ? e->part.hash_key : NULL, e->data,
                                  e->len, why, sizeof(why));
            } else {
                before = 0;
                err = SL_ERR_INVAL;
            }
            if (err == SL_ERR_STATE) {
                /* The aggregate is full. */
                if (ordered(s, q) && took)
                    break;
                if (agg_close(s, (size_t)sh, open) != 0) {
                    stop = 1;
                    break;
                }
                continue; /* opens a new one for this record */
            }
            if (err == SL_ERR_INVAL) {
                /* Too big to aggregate (or no shard): a plain entry of its own. */
                if (took && ordered(s, q))
                    break;
                if (r->n >= max || (bytes + ent_size(e) > KS_MAX_REQUEST_BYTES && r->n > 0)) {
                    stop = 1;
                    break;
                }
                queue_pop(q);
                taken(s, e);
                bytes += ent_size(e);
                k = krec_add(r);
                krec_push(k, e);
                took = 1;
                if (ordered(s, q))
                    break;
                continue;
            }
            if (err != SL_OK) {
                stop = 1;
                break;
            }
            after = kpl_agg_size(s->aggs[sh]);
            bytes += after - before;
            queue_pop(q);
            taken(s, e);
            krec_push(open[sh], e);
            k = open[sh];
            took = 1;
            if (bytes >= KS_MAX_REQUEST_BYTES - KPL_MAX_RECORD_BYTES / 16) {
                stop = 1;
                break;
            }
        }
        if (ordered(s, q) && took)
            q->busy = 1;
        else
            ready_unpop(s, q);
        if (ordered(s, q) && took && q->head && !stop)
            continue;
        if (stop)
            break;
    }
}

/* ---- sending ------------------------------------------------------------------------------- */

static void req_cb(void *opaque, const sl_aws_result_t *res);

static char *body_of(kin_sink_t *s, ks_req_t *r, size_t *len) {
    sl_sb_t sb = {0};
    if (s->kc->stream_arn && *s->kc->stream_arn) {
        sl_sb_puts(&sb, "{\"StreamARN\":\"");
        json_str(&sb, s->kc->stream_arn, strlen(s->kc->stream_arn));
    } else {
        sl_sb_puts(&sb, "{\"StreamName\":\"");
        json_str(&sb, s->stream, strlen(s->stream));
    }
    sl_sb_puts(&sb, "\",\"Records\":[");
    for (size_t i = 0; i < r->n; i++) {
        ks_krec_t *k = &r->k[i];
        const uint8_t *data = k->agg.data ? k->agg.data : k->ents->data;
        size_t dlen = k->agg.data ? k->agg.len : k->ents->len;
        const char *pk = k->agg.data ? k->agg.pk : k->ents->part.key;
        size_t pklen = k->agg.data ? strlen(k->agg.pk) : k->ents->pklen;
        const char *ehk = NULL;
        if (k->agg.data ? k->agg.aggregated || k->ents->part.hash_key[0] : 0)
            ehk = k->agg.ehk;
        else if (!k->agg.data && k->ents->part.hash_key[0])
            ehk = k->ents->part.hash_key;
        if (i)
            sl_sb_append(&sb, ",{\"Data\":\"", 10);
        else
            sl_sb_append(&sb, "{\"Data\":\"", 9);
        util_sb_base64(&sb, data, dlen);
        sl_sb_append(&sb, "\",\"PartitionKey\":\"", 18);
        json_str(&sb, pk, pklen);
        if (ehk && *ehk) {
            sl_sb_puts(&sb, "\",\"ExplicitHashKey\":\"");
            sl_sb_puts(&sb, ehk);
        }
        sl_sb_append(&sb, "\"}", 2);
    }
    sl_sb_puts(&sb, "]}");
    if (sb.oom) {
        sl_sb_free(&sb);
        return NULL;
    }
    *len = sb.len;
    return sb.buf;
}

static void req_free(ks_req_t *r) {
    if (!r)
        return;
    for (size_t i = 0; r->k && i < r->n; i++)
        kpl_agg_out_free(&r->k[i].agg);
    if (r->shard_ids)
        for (size_t i = 0; i < r->n; i++)
            free(r->shard_ids[i]);
    free(r->shard_ids);
    free(r->k);
    free(r);
}

/* Puts every entry of k back at the head of its queue, in order, for a retry after a backoff
 * (or at once when delay_ms is 0). */
static void requeue(kin_sink_t *s, ks_krec_t *k, int64_t delay_ms) {
    ks_ent_t *e = k->ents;
    int64_t now = sl_mono_ms();
    while (e) {
        /* Entries of one queue are contiguous in k: move each run as one. */
        ks_queue_t *q = e->q;
        ks_ent_t *first = e, *last = e;
        size_t n = 1;
        s->waiting++;
        s->waiting_bytes += ent_size(e);
        while (last->next && last->next->q == q) {
            last = last->next;
            s->waiting++;
            s->waiting_bytes += ent_size(last);
            n++;
        }
        e = last->next;
        queue_unshift(q, first, last, n);
        if (delay_ms > 0) {
            int64_t at = now + delay_ms;
            if (!q->on_retry) {
                if (q->on_ready) {
                    /* unordered mode: the shared queue may be listed as ready */
                    ks_queue_t **pp = &s->ready;
                    ks_queue_t *prev = NULL;
                    while (*pp && *pp != q) {
                        prev = *pp;
                        pp = &(*pp)->rnext;
                    }
                    if (*pp) {
                        *pp = q->rnext;
                        if (s->ready_tail == q)
                            s->ready_tail = prev;
                    }
                    q->on_ready = 0;
                    s->nready--;
                }
                q->on_retry = 1;
                q->not_before = at;
                q->rnext = s->retrying;
                s->retrying = q;
            } else if (at > q->not_before) {
                q->not_before = at;
            }
        } else {
            q->busy = 0;
            ready_push(s, q);
        }
    }
    k->ents = k->tail = NULL;
    k->n = 0;
}

static void retry_arm(kin_sink_t *s) {
    int64_t next = INT64_MAX, now = sl_mono_ms();
    struct timeval tv;
    for (ks_queue_t *q = s->retrying; q; q = q->rnext)
        if (q->not_before < next)
            next = q->not_before;
    if (next == INT64_MAX)
        return;
    next = next > now ? next - now : 0;
    tv.tv_sec = (time_t)(next / 1000);
    tv.tv_usec = (suseconds_t)((next % 1000) * 1000);
    evtimer_add(s->retry_ev, &tv);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg) {
    kin_sink_t *s = arg;
    int64_t now = sl_mono_ms();
    ks_queue_t **pp = &s->retrying;
    (void)fd;
    (void)what;
    while (*pp) {
        ks_queue_t *q = *pp;
        if (q->not_before <= now) {
            *pp = q->rnext;
            q->on_retry = 0;
            q->busy = 0;
            ready_push(s, q);
        } else {
            pp = &q->rnext;
        }
    }
    retry_arm(s);
    s->force = 1; /* a retry does not wait for a full batch */
    pump(s);
}

static int64_t backoff(kin_sink_t *s, int attempts) {
    return sl_retry_delay_ms(&s->retry, attempts > 30 ? 30 : attempts - 1, &s->rng) + 1;
}

static int max_attempts(const ks_krec_t *k) {
    int a = 0;
    for (ks_ent_t *e = k->ents; e; e = e->next)
        if (++e->attempts > a)
            a = e->attempts;
    return a;
}

/* Ends every record of k: acknowledged (why NULL), or failed because Kinesis refused it with
 * code why ("": the whole call failed, out->errmsg says why). Each key's queue is released once
 * its last record in k is done. */
static void krec_finish(kin_sink_t *s, ks_krec_t *k, const char *why) {
    while (k->ents) {
        ks_ent_t *e = k->ents;
        ks_queue_t *q = e->q;
        int last = !e->next || e->next->q != q;
        k->ents = e->next;
        if (!why)
            ent_done(s, e, SL_OK);
        else if (*why)
            ent_reject(s, e, "Kinesis refused the record (partition key '%.64s'): %s",
                       e->part.key, why);
        else
            ent_done(s, e, SL_ERR_RECORD);
        if (!last)
            continue;
        if (ordered(s, q) && q->busy) {
            q->busy = 0;
            ready_push(s, q);
        }
        queue_maybe_free(s, q);
    }
    k->tail = NULL;
    k->n = 0;
}

/* Every entry of the request after a failure of the whole call. */
static void req_failed(kin_sink_t *s, ks_req_t *r, const sl_aws_result_t *res) {
    /* A refusal (4xx other than throttling), or retries exhausted (sink.retry.maxretries). */
    int fatal = (res->err == SL_ERR_INVAL && res->status != 0 && res->status < 500) ||
                res->err == SL_ERR_RETRY;
    char what[400];
    snprintf(what, sizeof(what), "PutRecords failed%s: %s%s%s (HTTP %ld)",
             res->err == SL_ERR_RETRY ? " after sink.retry.maxretries retries" : "",
             res->type ? res->type : sl_err_str(res->err), res->message ? ": " : "",
             res->message ? res->message : "", res->status);
    if (s->sc->fail_on_error) {
        sl_output_abort(s->out, "%s (sink.fail-on-error)", what);
        fatal = 1;
    }
    if (fatal) {
        if (!s->sc->fail_on_error)
            sl_output_fail(s->out, "%s", what);
        for (size_t i = 0; i < r->n; i++)
            krec_finish(s, &r->k[i], "");
        return;
    }
    sl_log(SL_LOG_WARN, "kinesis", "output %s: %s; retrying its %zu entries", s->stream, what,
           r->n);
    for (size_t i = 0; i < r->n; i++)
        requeue(s, &r->k[i], backoff(s, max_attempts(&r->k[i])));
    retry_arm(s);
}

static int retryable_code(const char *code) {
    return !strcmp(code, "ProvisionedThroughputExceededException") ||
           !strcmp(code, "InternalFailure") || !strcmp(code, "ServiceUnavailable") ||
           !strcmp(code, "KMSThrottlingException") || !strcmp(code, "ThrottlingException");
}

static void req_cb(void *opaque, const sl_aws_result_t *res) {
    ks_req_t *r = opaque;
    kin_sink_t *s = r->s;
    char (*codes)[KIN_CODE_MAX] = NULL;
    char (*shards)[KIN_SHARD_ID_MAX] = NULL;
    size_t failed = 0, nretry = 0, wrong = 0;
    char why[256];

    if (r->prev)
        r->prev->next = r->next;
    else
        s->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    s->inflight--;

    if (res->err != SL_OK) {
        req_failed(s, r, res);
        goto done;
    }
    if (!(codes = calloc(r->n, sizeof(*codes))) ||
        (s->sc->agg && !(shards = calloc(r->n, sizeof(*shards))))) {
        sl_aws_result_t oom = *res;
        oom.err = SL_ERR_IO;
        oom.type = "out of memory";
        oom.message = NULL;
        req_failed(s, r, &oom);
        goto done;
    }
    if (kin_parse_put_records(res->raw, res->raw_len, r->n, codes, shards, &failed, why,
                              sizeof(why)) != SL_OK) {
        /* Whether Kinesis stored the records is unknown: send them again (at least once). */
        sl_aws_result_t bad = *res;
        bad.err = SL_ERR_IO;
        bad.type = "unreadable answer";
        bad.message = why;
        bad.status = 0;
        req_failed(s, r, &bad);
        goto done;
    }
    for (size_t i = 0; i < r->n; i++) {
        ks_krec_t *k = &r->k[i];
        if (!codes[i][0] && shards && k->agg.data && k->n > 1 && r->shard_ids &&
            r->shard_ids[i] && strcmp(shards[i], r->shard_ids[i]) != 0) {
            /* An aggregate on another shard than its records' hash keys say (the map is stale
             * after a reshard): consumers drop it; send its records again, as the KPL does. */
            wrong++;
            requeue(s, k, 0);
            continue;
        }
        if (!codes[i][0]) {
            krec_finish(s, k, NULL);
            continue;
        }
        if (!s->sc->fail_on_error && retryable_code(codes[i]) &&
            k->ents->attempts < s->retry.max_retries) {
            nretry++;
            requeue(s, k, backoff(s, max_attempts(k)));
            continue;
        }
        /* Refused for good (or fail-on-error): fail every record inside. */
        krec_finish(s, k, codes[i]);
    }
    if (nretry)
        sl_log_debug("kinesis", "output %s: %zu of %zu entries failed, retrying them",
                     s->stream, nretry, r->n);
    if (wrong) {
        sl_log(SL_LOG_INFO, "kinesis", "output %s: %zu aggregates landed on another shard than "
               "predicted; refreshing the shard map and sending their records again",
               s->stream, wrong);
        list_shards(s);
    }
    retry_arm(s);
done:
    free(codes);
    free(shards);
    req_free(r);
    update_busy(s);
    pump(s);
}

/* Builds and sends one request; returns 0 when nothing could be sent. */
static int send_one(kin_sink_t *s) {
    size_t max = (size_t)s->sc->batch_max, len = 0;
    ks_req_t *r = calloc(1, sizeof(*r));
    ks_krec_t **open = NULL;
    char *body;

    if (!r || !(r->k = calloc(max, sizeof(*r->k))))
        goto oom;
    r->s = s;
    if (s->sc->agg) {
        if (!s->nshards)
            goto none; /* the shard map is on its way */
        if (s->naggs != s->nshards) {
            for (size_t i = 0; i < s->naggs; i++)
                kpl_agg_destroy(s->aggs[i]);
            free(s->aggs);
            s->naggs = 0;
            if (!(s->aggs = calloc(s->nshards, sizeof(*s->aggs))))
                goto oom;
            s->naggs = s->nshards;
            for (size_t i = 0; i < s->naggs; i++)
                if (!(s->aggs[i] = kpl_agg_new((size_t)s->sc->agg_max_size,
                                               (size_t)s->sc->agg_max_count, 1)))
                    goto oom;
        }
        if (!(open = calloc(s->nshards, sizeof(*open))))
            goto oom;
        build_agg(s, r, max, open);
        for (size_t i = 0; i < s->nshards; i++)
            if (agg_close(s, i, open) != 0)
                goto oom;
        free(open);
        open = NULL;
        /* An aggregate opened for a record that then went alone holds nothing: drop it. */
        {
            size_t j = 0;
            for (size_t i = 0; i < r->n; i++)
                if (r->k[i].n)
                    r->k[j++] = r->k[i];
            r->n = j;
        }
        if (r->n && !(r->shard_ids = calloc(r->n, sizeof(*r->shard_ids))))
            goto oom;
        for (size_t i = 0; i < r->n; i++)
            if (r->k[i].shard >= 0 && !(r->shard_ids[i] = sl_strdup(s->shards[r->k[i].shard].id)))
                goto oom;
    } else {
        build_plain(s, r, max);
    }
    if (r->n == 0)
        goto none;
    if (!(body = body_of(s, r, &len)))
        goto oom;
    r->next = s->reqs;
    if (s->reqs)
        s->reqs->prev = r;
    s->reqs = r;
    s->inflight++;
    if (sl_aws_call_body(s->client, "PutRecords", body, len, &s->retry, req_cb, r) != SL_OK) {
        /* Cannot even start: treat as a failed call (retried later). */
        sl_aws_result_t res;
        memset(&res, 0, sizeof(res));
        res.err = SL_ERR_IO;
        res.type = "cannot start the request";
        req_cb(r, &res); /* unlinks it and schedules the retry */
        return 0;
    }
    return 1;
none:
    free(open);
    req_free(r);
    return 0;
oom:
    /* Whatever was taken goes back; try again later. */
    if (r && r->k)
        for (size_t i = 0; i < r->n; i++)
            requeue(s, &r->k[i], 100);
    retry_arm(s);
    free(open);
    req_free(r);
    sl_log(SL_LOG_ERROR, "kinesis", "output %s: out of memory building a request", s->stream);
    return 0;
}

static void flush_arm(kin_sink_t *s) {
    struct timeval tv;
    if (s->flush_armed || !s->waiting)
        return;
    tv.tv_sec = (time_t)(s->sc->flush_timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)((s->sc->flush_timeout_ms % 1000) * 1000);
    evtimer_add(s->flush_ev, &tv);
    s->flush_armed = 1;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg) {
    kin_sink_t *s = arg;
    (void)fd;
    (void)what;
    s->flush_armed = 0;
    s->force = 1;
    pump(s);
}

static int full_batch(const kin_sink_t *s) {
    size_t bytes = (size_t)s->sc->flush_size < KS_MAX_REQUEST_BYTES ? (size_t)s->sc->flush_size
                                                                     : KS_MAX_REQUEST_BYTES;
    if (s->waiting_bytes >= bytes)
        return 1;
    return !s->sc->agg && s->waiting >= (size_t)s->sc->batch_max;
}

/* Whether a request is worth sending now. Keeping key order, a key sends one entry per round
 * trip, so an answer frees only the keys it carried: sending at once would make a request of
 * those few. Instead the keys gather until half of the active ones (or a full batch) are ready;
 * the round trips per key stay the same, the requests (and their CPU) get many times fewer. */
static int worth_sending(const kin_sink_t *s) {
    if (s->force)
        return 1;
    if (!full_batch(s))
        return 0;
    if (s->shared->on_ready || s->sc->agg)
        return 1;
    return s->nready >= (size_t)s->sc->batch_max || s->nready * 2 >= s->nqueues;
}

static void pump(kin_sink_t *s) {
    /* Nothing ready (every waiting key has an entry in flight or a retry pending): the answers
     * or the retry timer call again. */
    while (s->inflight < s->sc->max_inflight && s->waiting && s->ready && worth_sending(s))
        if (!send_one(s))
            break;
    /* A flush sends what is ready once; what waits on keys in flight follows their answers,
     * or the flush timer. */
    s->force = 0;
    flush_arm(s);
}

/* ---- the plugin callbacks -------------------------------------------------------------------- */

sl_err_t kin_sink_open(sl_output_t *out, void **statep) {
    const kin_conf_t *kc = sl_output_stream_conf(out);
    kin_sink_t *s = calloc(1, sizeof(*s));
    char errstr[512];

    if (!s)
        return sl_output_fail(out, "out of memory");
    s->out = out;
    s->kc = kc;
    s->sc = &kc->sink;
    s->base = sl_output_base(out);
    if (!(s->shared = calloc(1, sizeof(*s->shared))))
        goto oom;
    s->shared->shared = 1;
    s->retry = kin_backoff_policy(&kc->sink.retry);
    if (kc->sink.fail_on_error)
        s->retry.max_retries = 0;
    s->rng = (uint64_t)sl_now_ms() ^ (uint64_t)(uintptr_t)s;
    /* Random keys never repeat: there is no order among them to keep. */
    s->keep_order = kc->sink.keep_key_order && kc->sink.partitioner_e != KIN_PART_RANDOM;
    if (!(s->stream = sl_strdup(kc->stream_name && *kc->stream_name ? kc->stream_name
                                                                    : sl_output_stream(out))))
        goto oom;
    if (kin_clients_new(sl_output_conf(out), sl_output_prefixes(out), kc, s->base,
                        kc->sink.request_timeout_ms, &s->http, &s->creds, errstr,
                        sizeof(errstr)) != SL_OK ||
        !(s->client = kin_kinesis_client(s->http, s->creds, kc, &s->retry, errstr,
                                         sizeof(errstr))) ||
        !(s->parter = kin_partitioner_new(&kc->sink, sl_output_worker(out), errstr,
                                          sizeof(errstr)))) {
        sl_output_fail(out, "%s", errstr);
        kin_sink_close(out, s);
        return SL_ERR_IO;
    }
    if (!(s->flush_ev = evtimer_new(s->base, flush_cb, s)) ||
        !(s->retry_ev = evtimer_new(s->base, retry_cb, s)) ||
        !(s->shards_ev = evtimer_new(s->base, shards_timer_cb, s)))
        goto oom;
    if (kc->sink.agg)
        list_shards(s);
    *statep = s;
    return SL_OK;
oom:
    kin_sink_close(out, s);
    return sl_output_fail(out, "out of memory");
}

sl_err_t kin_sink_send(sl_output_t *out, void *state, sl_record_t *rec) {
    kin_sink_t *s = state;
    ks_ent_t *e = ent_new(s);
    ks_queue_t *q;
    char why[400];
    size_t len;
    const uint8_t *data;

    if (!e)
        return sl_output_fail(out, "out of memory");
    e->rec = rec;
    s->held++;
    if (kin_partitioner_run(s->parter, rec, &e->part, &e->pklen, why, sizeof(why)) != SL_OK) {
        ent_reject(s, e, "cannot partition the record: %s", why);
        return SL_OK;
    }
    if (!utf8_ok((const unsigned char *)e->part.key, e->pklen)) {
        ent_reject(s, e, "the partition key is not valid UTF-8 (Kinesis keys are Unicode "
                   "strings)");
        return SL_OK;
    }
    data = sl_record_data(rec, &len);
    if (s->sc->format_e != KIN_FMT_RAW) {
        if (kin_format_encode((kin_fmt_t)s->sc->format_e, rec, &e->owned, &len, why,
                              sizeof(why)) != SL_OK) {
            ent_reject(s, e, "cannot format the record: %s", why);
            return SL_OK;
        }
        data = e->owned;
    }
    e->data = data;
    e->len = len;
    if (ent_size(e) > KPL_MAX_RECORD_BYTES) {
        ent_reject(s, e, "the record is %zu bytes (data %zu + partition key %zu), over Kinesis' "
                   "limit of 1 MiB per record", ent_size(e), e->len, e->pklen);
        return SL_OK;
    }
    if (s->sc->agg) {
        if (e->part.hash_key[0])
            kpl_hash_parse(e->part.hash_key, strlen(e->part.hash_key), &e->hash);
        else
            kpl_hash_of_pk(e->part.key, e->pklen, &e->hash);
    }
    if (!(q = queue_for(s, e, kin_partitioner_last_random(s->parter)))) {
        e->rec = NULL;
        s->held--;
        ent_free(s, e);
        return sl_output_fail(out, "out of memory");
    }
    queue_push(q, e);
    s->waiting++;
    s->waiting_bytes += ent_size(e);
    ready_push(s, q);
    update_busy(s);
    if (full_batch(s))
        pump(s);
    else
        flush_arm(s);
    return SL_OK;
}

sl_err_t kin_sink_flush(sl_output_t *out, void *state, int sync) {
    kin_sink_t *s = state;
    (void)out;
    (void)sync; /* asynchronous: acknowledgements follow the answers */
    if (s->waiting) {
        s->force = 1;
        pump(s);
    }
    return SL_OK;
}

static void drop_list(kin_sink_t *s, ks_ent_t *e) {
    while (e) {
        ks_ent_t *next = e->next;
        if (e->rec)
            sl_output_drop(s->out, e->rec);
        e->rec = NULL;
        free(e->owned);
        free(e);
        e = next;
    }
}

void kin_sink_close(sl_output_t *out, void *state) {
    kin_sink_t *s = state;
    (void)out;
    if (!s)
        return;
    /* Calls in flight are dropped with the client; their records were never confirmed. */
    while (s->reqs) {
        ks_req_t *r = s->reqs;
        s->reqs = r->next;
        if (s->client)
            sl_aws_cancel(s->client, r);
        for (size_t i = 0; i < r->n; i++) {
            drop_list(s, r->k[i].ents);
            r->k[i].ents = NULL;
        }
        req_free(r);
    }
    if (s->client && s->listing)
        kin_list_shards_cancel(s->client, s);
    for (size_t i = 0; i < s->nbuckets; i++)
        while (s->buckets[i]) {
            ks_queue_t *q = s->buckets[i];
            s->buckets[i] = q->hnext;
            drop_list(s, q->head);
            free(q);
        }
    if (s->shared) {
        drop_list(s, s->shared->head);
        free(s->shared);
    }
    free(s->buckets);
    while (s->free_ents) {
        ks_ent_t *e = s->free_ents;
        s->free_ents = e->next;
        free(e);
    }
    for (size_t i = 0; i < s->naggs; i++)
        kpl_agg_destroy(s->aggs[i]);
    free(s->aggs);
    shards_free(s->shards, s->nshards);
    if (s->flush_ev)
        event_free(s->flush_ev);
    if (s->retry_ev)
        event_free(s->retry_ev);
    if (s->shards_ev)
        event_free(s->shards_ev);
    sl_aws_client_destroy(s->client);
    sl_creds_destroy(s->creds);
    sl_http_destroy(s->http);
    kin_partitioner_destroy(s->parter);
    free(s->stream);
    free(s);
}
