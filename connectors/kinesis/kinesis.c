/*
 * kinesis.c: the `kinesis` system plugin (consumer side). The input's state (kin_input_t) holds
 * the main thread's AWS clients and the lease coordinator; partitions are shards the
 * coordinator announces once it holds their lease and their parents are finished. Shards read
 * on worker threads through one HTTP/Kinesis client per worker (kin_worker_ctx_t). Worker
 * threads report committed positions and closed shards to the coordinator through a message
 * queue; where a shard starts is handed the other way through the starts table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "kinesis.h"
#include "kinesis_lease.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

/* ---- starts and messages ------------------------------------------------------------------ */

typedef struct kin_start_entry {
    struct kin_start_entry *next;
    char *shard;
    kin_start_t st;
} kin_start_entry_t;

void kin_start_clear(kin_start_t *st) {
    if (!st)
        return;
    free(st->checkpoint);
    free(st->start_hash);
    free(st->end_hash);
    memset(st, 0, sizeof(*st));
}

static sl_err_t start_copy(kin_start_t *dst, const kin_start_t *src) {
    *dst = *src;
    dst->checkpoint = dst->start_hash = dst->end_hash = NULL;
    if ((src->checkpoint && !(dst->checkpoint = sl_strdup(src->checkpoint))) ||
        (src->start_hash && !(dst->start_hash = sl_strdup(src->start_hash))) ||
        (src->end_hash && !(dst->end_hash = sl_strdup(src->end_hash)))) {
        kin_start_clear(dst);
        return SL_ERR_NOMEM;
    }
    return SL_OK;
}

sl_err_t kin_input_set_start(kin_input_t *k, const char *shard, const kin_start_t *st) {
    kin_start_entry_t *e;
    kin_start_t copy;
    if (start_copy(&copy, st) != SL_OK)
        return SL_ERR_NOMEM;
    pthread_mutex_lock(&k->lock);
    for (e = k->starts; e; e = e->next)
        if (!strcmp(e->shard, shard))
            break;
    if (!e) {
        if (!(e = calloc(1, sizeof(*e))) || !(e->shard = sl_strdup(shard))) {
            pthread_mutex_unlock(&k->lock);
            free(e);
            kin_start_clear(&copy);
            return SL_ERR_NOMEM;
        }
        e->next = k->starts;
        k->starts = e;
    } else {
        kin_start_clear(&e->st);
    }
    e->st = copy;
    pthread_mutex_unlock(&k->lock);
    return SL_OK;
}

sl_err_t kin_input_get_start(kin_input_t *k, const char *shard, kin_start_t *out) {
    sl_err_t err = SL_ERR_NOENT;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&k->lock);
    for (kin_start_entry_t *e = k->starts; e; e = e->next)
        if (!strcmp(e->shard, shard)) {
            err = start_copy(out, &e->st);
            break;
        }
    pthread_mutex_unlock(&k->lock);
    return err;
}

void kin_msg_free(kin_msg_t *m) {
    if (!m)
        return;
    free(m->shard);
    free(m->seq);
    kin_shard_list_free(m->children, m->n_children);
    free(m);
}

void kin_input_post(kin_input_t *k, kin_msg_t *m) {
    m->next = NULL;
    pthread_mutex_lock(&k->lock);
    if (k->msgs_tail)
        k->msgs_tail->next = m;
    else
        k->msgs = m;
    k->msgs_tail = m;
    pthread_mutex_unlock(&k->lock);
    if (k->msg_ev)
        event_active(k->msg_ev, EV_TIMEOUT, 0);
}

static void msg_cb(evutil_socket_t fd, short what, void *arg) {
    kin_input_t *k = arg;
    kin_msg_t *m;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&k->lock);
    m = k->msgs;
    k->msgs = k->msgs_tail = NULL;
    pthread_mutex_unlock(&k->lock);
    while (m) {
        kin_msg_t *next = m->next;
        if (k->coord)
            kin_coord_message(k->coord, m);
        else
            kin_msg_free(m);
        m = next;
    }
}

/* ---- AWS clients -------------------------------------------------------------------------- */

static const char *region_of(const kin_conf_t *kc) {
    /* With only an endpoint (a local peer), sign for us-east-1 as the SDKs do. */
    return kc->aws.region && *kc->aws.region ? kc->aws.region : "us-east-1";
}

const char *kin_table_name(const sl_input_t *in, const kin_conf_t *kc, char *buf, size_t len) {
    if (kc->table_name && *kc->table_name) {
        snprintf(buf, len, "%s", kc->table_name);
        return buf;
    }
    if (kc->aws.application_name && *kc->aws.application_name)
        snprintf(buf, len, "%s", kc->aws.application_name);
    else
        snprintf(buf, len, "%s-%s-%s", sl_input_job_name(in), sl_input_job_id(in),
                 kc->stream_name && *kc->stream_name ? kc->stream_name : sl_input_stream(in));
    /* A derived name must still be a DynamoDB table name ([a-zA-Z0-9_.-]{3,255}): Pulsar's own
     * example application name "My test application" is not, and the KCL would fail on it. */
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            *p = '_';
    while (strlen(buf) < 3 && strlen(buf) + 1 < len)
        strcat(buf, "_");
    return buf;
}

sl_err_t kin_clients_new(sl_conf_t *conf, const char *const *prefixes, const kin_conf_t *kc,
                         struct event_base *base, int64_t request_timeout_ms, sl_http_t **http,
                         sl_creds_t **creds, char *errstr, size_t errlen) {
    sl_aws_http_opts_t ho;
    sl_creds_provider_t *prov;
    sl_aws_conf_http_opts(&kc->aws, &ho);
    if (request_timeout_ms > 0)
        ho.http.request_timeout_ms = request_timeout_ms;
    if (!(*http = sl_http_new(base, &ho.http, errstr, errlen)))
        return SL_ERR_IO;
    prov = sl_aws_conf_provider(conf, prefixes, &kc->aws, base, *http);
    if (!prov) {
        snprintf(errstr, errlen, "cannot set up AWS credentials");
        return SL_ERR_CONF;
    }
    if (!(*creds = sl_creds_new(base, prov, NULL, errstr, errlen)))
        return SL_ERR_IO;
    return SL_OK;
}

sl_aws_client_t *kin_kinesis_client(sl_http_t *http, sl_creds_t *creds, const kin_conf_t *kc,
                                    const sl_retry_policy_t *retry, char *errstr,
                                    size_t errlen) {
    sl_aws_client_opts_t co;
    memset(&co, 0, sizeof(co));
    co.service = kc->ddb ? "streams.dynamodb" : "kinesis";
    co.signing_name = kc->ddb ? "dynamodb" : "kinesis";
    co.region = region_of(kc);
    co.endpoint = kc->aws.endpoint && *kc->aws.endpoint ? kc->aws.endpoint : NULL;
    co.endpoint_key = "aws.endpoint";
    co.profile = kc->aws.profile_name;
    co.target_prefix = kc->ddb ? "DynamoDBStreams_20120810" : "Kinesis_20131202";
    co.json_version = kc->ddb ? "1.0" : "1.1";
    co.retry = *retry;
    return sl_aws_client_new(http, creds, &co, errstr, errlen);
}

static sl_aws_client_t *dynamodb_client(sl_http_t *http, sl_creds_t *creds,
                                        const kin_conf_t *kc, char *errstr, size_t errlen) {
    sl_aws_client_opts_t co;
    memset(&co, 0, sizeof(co));
    co.service = "dynamodb";
    co.signing_name = "dynamodb";
    co.region = region_of(kc);
    co.endpoint = kc->aws.dynamodb_endpoint && *kc->aws.dynamodb_endpoint
                      ? kc->aws.dynamodb_endpoint : NULL;
    co.endpoint_key = "aws.dynamodb.endpoint";
    co.profile = kc->aws.profile_name;
    co.target_prefix = "DynamoDB_20120810";
    co.json_version = "1.0";
    co.retry = (sl_retry_policy_t){100, 2000, 2.0, 4, 0};
    return sl_aws_client_new(http, creds, &co, errstr, errlen);
}

kin_worker_ctx_t *kin_worker_ctx_get(kin_input_t *k, sl_part_t *part, char *errstr,
                                     size_t errlen) {
    int idx = sl_part_worker(part);
    kin_worker_ctx_t *wc;
    sl_retry_policy_t retry = kin_backoff_policy(&k->kc->getrecords);

    /* Only this worker's thread ever touches its slot. */
    if (idx < 0 || idx >= k->nworkers) {
        snprintf(errstr, errlen, "worker %d out of range", idx);
        return NULL;
    }
    if ((wc = k->workers[idx])) {
        wc->refs++;
        return wc;
    }
    if (!(wc = calloc(1, sizeof(*wc)))) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    wc->base = sl_part_base(part);
    if (kin_clients_new(sl_input_conf(k->in), sl_input_prefixes(k->in), k->kc, wc->base, 0,
                        &wc->http, &wc->creds, errstr, errlen) != SL_OK ||
        !(wc->kinesis = kin_kinesis_client(wc->http, wc->creds, k->kc, &retry, errstr, errlen))) {
        sl_creds_destroy(wc->creds);
        sl_http_destroy(wc->http);
        free(wc);
        return NULL;
    }
    wc->refs = 1;
    wc->gate.max_calls = k->kc->max_inflight_calls > 0 ? k->kc->max_inflight_calls : 8;
    wc->gate.max_bytes = k->kc->buffer_bytes > 0 ? (size_t)k->kc->buffer_bytes : 16u << 20;
    k->workers[idx] = wc;
    return wc;
}

void kin_worker_ctx_put(kin_input_t *k, sl_part_t *part) {
    int idx = sl_part_worker(part);
    kin_worker_ctx_t *wc = idx >= 0 && idx < k->nworkers ? k->workers[idx] : NULL;
    if (!wc || --wc->refs > 0)
        return;
    sl_aws_client_destroy(wc->kinesis);
    sl_creds_destroy(wc->creds);
    sl_http_destroy(wc->http);
    free(wc);
    k->workers[idx] = NULL;
}

/* ---- the input ---------------------------------------------------------------------------- */

static void input_free(kin_input_t *k) {
    if (!k)
        return;
    kin_coord_destroy(k->coord);
    k->coord = NULL;
    if (k->msg_ev)
        event_free(k->msg_ev);
    k->msg_ev = NULL;
    while (k->msgs) {
        kin_msg_t *m = k->msgs;
        k->msgs = m->next;
        kin_msg_free(m);
    }
    while (k->starts) {
        kin_start_entry_t *e = k->starts;
        k->starts = e->next;
        kin_start_clear(&e->st);
        free(e->shard);
        free(e);
    }
    sl_aws_client_destroy(k->dynamodb);
    sl_aws_client_destroy(k->kinesis);
    sl_creds_destroy(k->creds);
    sl_http_destroy(k->http);
    free(k->workers);
    free(k->stream);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static int wants_dynamodb(const kin_conf_t *kc, int samza) {
    if (kc->lease_store == KIN_STORE_DYNAMODB)
        return 1;
    if (kc->lease_store == KIN_STORE_SQLITE)
        return 0;
    /* auto: a DynamoDB setting, or Samza's factory (whose connector always used the KCL). */
    return samza || (kc->aws.dynamodb_endpoint && *kc->aws.dynamodb_endpoint) ||
           (kc->table_name && *kc->table_name) ||
           (kc->aws.application_name && *kc->aws.application_name);
}

/* in_partitions_move: with a DynamoDB lease table, other processes (sluice workers or Java KCL
 * workers of the same application) take leases from this one, shards and all; with the local
 * checkpoint store one process reads every shard. why names the key that chose the table. */
static int kin_partitions_move(const sl_input_t *in, char *why, size_t len) {
    const kin_conf_t *kc = sl_input_stream_conf(in);
    sl_conf_t *conf = sl_input_conf(in);
    const char *const *prefixes = sl_input_prefixes(in);
    static const char *const rows[] = {"aws.kcl.LeaseStore", "aws.kcl.TableName",
                                       "aws.application.name", "aws.dynamodb.endpoint"};
    const char *set[4];
    char table[256], key[512];
    int found = 0;

    if (!kc || !sl_input_job_name(in) || !wants_dynamodb(kc, kin_factory_is_samza(
                                                                 sl_input_factory(in))))
        return 0;
    set[0] = kc->lease_store == KIN_STORE_DYNAMODB ? "dynamodb" : NULL;
    set[1] = kc->table_name;
    set[2] = kc->aws.application_name;
    set[3] = kc->aws.dynamodb_endpoint;
    for (int i = 0; i < 4 && !found; i++)
        if (set[i] && *set[i])
            found = sl_conf_user_key(conf, kin_stream_props, prefixes, rows[i], key, sizeof(key));
    if (!found) /* auto with Samza's factory, whose connector always used the KCL */
        snprintf(key, sizeof(key), "systems.%s.samza.factory", sl_input_system(in));
    snprintf(why, len,
             "shares its shards with other processes through the lease table '%s' (%s): set "
             "aws.kcl.LeaseStore=sqlite to keep every shard in this process",
             kin_table_name(in, kc, table, sizeof(table)), key);
    return 1;
}

static sl_err_t kin_in_open(sl_input_t *in, void **statep) {
    const kin_conf_t *kc = sl_input_stream_conf(in);
    kin_input_t *k = calloc(1, sizeof(*k));
    sl_retry_policy_t list_retry = kin_backoff_policy(&kc->listshards);
    char errstr[512];

    if (!k)
        return sl_input_fail(in, "out of memory");
    pthread_mutex_init(&k->lock, NULL);
    k->in = in;
    k->kc = kc;
    k->samza_factory = kin_factory_is_samza(sl_input_factory(in));
    k->store = wants_dynamodb(kc, k->samza_factory) ? KIN_STORE_DYNAMODB : KIN_STORE_SQLITE;
    k->nworkers = sl_input_worker_count(in);
    if (!(k->stream = sl_strdup(kc->stream_name && *kc->stream_name ? kc->stream_name
                                                                     : sl_input_stream(in))) ||
        !(k->workers = calloc((size_t)k->nworkers, sizeof(*k->workers))) ||
        !(k->msg_ev = event_new(sl_input_base(in), -1, 0, msg_cb, k))) {
        input_free(k);
        return sl_input_fail(in, "out of memory");
    }
    if (kin_clients_new(sl_input_conf(in), sl_input_prefixes(in), kc, sl_input_base(in), 0,
                        &k->http, &k->creds, errstr, sizeof(errstr)) !=
            SL_OK ||
        !(k->kinesis = kin_kinesis_client(k->http, k->creds, kc, &list_retry, errstr,
                                      sizeof(errstr))) ||
        (k->store == KIN_STORE_DYNAMODB &&
         !(k->dynamodb = dynamodb_client(k->http, k->creds, kc, errstr, sizeof(errstr)))) ||
        !(k->coord = kin_coord_new(k, errstr, sizeof(errstr)))) {
        input_free(k);
        return sl_input_fail(in, "%s", errstr);
    }
    sl_log(SL_LOG_INFO, "kinesis", "%s %s: shard positions kept in %s",
           kc->ddb ? "DynamoDB stream" : "stream", kc->ddb ? kc->stream_arn : k->stream,
           k->store == KIN_STORE_DYNAMODB ? "a DynamoDB lease table"
                                          : "the local checkpoint store (one worker)");
    if (kin_coord_start(k->coord) != SL_OK) {
        input_free(k);
        return sl_input_fail(in, "cannot start the lease coordinator");
    }
    sl_input_set_discover_interval(in, kc->discovery_interval_ms);
    *statep = k;
    return SL_OK;
}

static sl_err_t kin_discover(sl_input_t *in) {
    kin_input_t *k = sl_input_state(in);
    if (k && k->coord)
        kin_coord_sync(k->coord);
    return SL_OK;
}

static void kin_in_stop(sl_input_t *in, void *state) {
    kin_input_t *k = state;
    msg_cb(-1, 0, k); /* what the shards said last */
    kin_coord_stop(k->coord);
    (void)in;
}

static void kin_in_close(sl_input_t *in, void *state) {
    (void)in;
    input_free(state);
}

/* ---- partitions --------------------------------------------------------------------------- */

typedef struct kin_part {
    kin_input_t *k;
    kin_worker_ctx_t *wc;
    kin_shard_t *shard;
    char *committed;    /* last committed sequence number */
    int64_t committed_sub;
} kin_part_t;

static sl_err_t kin_part_open(sl_part_t *part, const char *offset, int64_t subseq,
                              void **statep) {
    kin_input_t *k = sl_input_state(sl_part_input(part));
    kin_part_t *kp;
    kin_start_t start;
    char errstr[512];

    if (!k)
        return sl_part_fail(part, "kinesis input not open");
    if (kin_input_get_start(k, sl_part_id(part), &start) != SL_OK)
        return sl_part_fail(part, "no start position known for this shard");
    if (!(kp = calloc(1, sizeof(*kp)))) {
        kin_start_clear(&start);
        return sl_part_fail(part, "out of memory");
    }
    kp->k = k;
    if (!(kp->wc = kin_worker_ctx_get(k, part, errstr, sizeof(errstr)))) {
        kin_start_clear(&start);
        free(kp);
        return sl_part_fail(part, "%s", errstr);
    }
    kp->shard = kin_shard_open(part, k->kc, k->stream, kp->wc->kinesis, &kp->wc->gate, &start,
                               offset, subseq);
    kin_start_clear(&start);
    if (!kp->shard) {
        kin_worker_ctx_put(k, part);
        free(kp);
        return SL_ERR_IO; /* kin_shard_open said why */
    }
    *statep = kp;
    return SL_OK;
}

static sl_poll_t kin_part_poll(sl_part_t *part, void *state, int max) {
    kin_part_t *kp = state;
    sl_poll_t r = kin_shard_poll(kp->shard, max);
    sl_part_set_lag(part, kin_shard_millis_behind(kp->shard));
    return r;
}

static sl_err_t kin_part_commit(sl_part_t *part, void *state, const char *offset,
                                int64_t subseq) {
    kin_part_t *kp = state;
    kin_msg_t *m;
    char *copy = sl_strdup(offset);
    if (!copy)
        return SL_ERR_NOMEM;
    free(kp->committed);
    kp->committed = copy;
    kp->committed_sub = subseq;
    if (!(m = calloc(1, sizeof(*m))) || !(m->shard = sl_strdup(sl_part_id(part))) ||
        !(m->seq = sl_strdup(offset))) {
        kin_msg_free(m);
        return SL_ERR_NOMEM;
    }
    m->kind = KIN_MSG_CHECKPOINT;
    m->sub = subseq;
    kin_input_post(kp->k, m);
    return SL_OK;
}

static void kin_part_close(sl_part_t *part, void *state) {
    kin_part_t *kp = state;
    kin_msg_t *m = calloc(1, sizeof(*m));
    const kin_shard_info_t *children = NULL;
    size_t n = 0;
    int64_t last_sub = 0;
    const char *last = kin_shard_last_delivered(kp->shard, &last_sub);

    if (m && (m->shard = sl_strdup(sl_part_id(part)))) {
        m->kind = KIN_MSG_CLOSED;
        m->why = (int)sl_part_closing(part);
        /* The shard is finished only when it was read to its end and the last record read
         * was also committed (an end with nothing new since the start counts too). */
        if (m->why == SL_CLOSE_EOF && kin_shard_ended(kp->shard, &children, &n) &&
            (!last || (kp->committed && !kin_xseq_cmp(last, last_sub, kp->committed,
                                                      kp->committed_sub)))) {
            m->shard_end = 1;
            /* All the children or none: a copy missing one would have the coordinator write
             * a childShardIds without it. With none it waits for a listing to name them. */
            if (n && (m->children = kin_shard_list_dup(children, n)))
                m->n_children = n;
            else if (n)
                sl_log(SL_LOG_WARN, "kinesis", "%s: out of memory copying its %zu child "
                       "shard(s): the next shard listing names them", sl_part_id(part), n);
        }
        kin_input_post(kp->k, m);
    } else {
        kin_msg_free(m);
        sl_log(SL_LOG_ERROR, "kinesis", "%s: out of memory reporting the shard closed",
               sl_part_id(part));
    }
    kin_shard_close(kp->shard);
    kin_worker_ctx_put(kp->k, part);
    free(kp->committed);
    free(kp);
}

/* ---- `sluice checkpoints` on the lease table ----------------------------------------------- */

/* The lease table is the authoritative store of a Kinesis input (a run resumes from it); the
 * local SQLite rows of the same shards only mirror it. A list is one read. A reset must not
 * pull leases from under running workers (they would go on and re-read their shards from the
 * initial position), and one read cannot tell a held lease from an expired one: the KCL keeps
 * no time in the item, a lease is expired when its counter stood still for the failover time
 * on the observer's clock. So when some lease has an owner, a reset watches every counter for
 * aws.kcl.FailoverTimeMillis: a lease whose counter moved while it had an owner is held, and
 * the reset refuses naming the owners. Otherwise every lease is deleted on the condition that
 * its counter is still the one last seen. --force deletes at once, unconditionally. Items
 * that are not leases are listed as unreadable and deleted by a reset (no worker, sluice or
 * KCL, can hold what it cannot read). */

typedef struct ext_lease {
    char *key, *owner;
    int64_t first, last; /* counters at the first and the last read */
    int bad;             /* not a lease: delete unconditionally */
    int held;            /* its counter moved while it had an owner */
    int gone;            /* deleted by someone else meanwhile */
    char *held_by;
} ext_lease_t;

typedef struct ext_run {
    struct event_base *base;
    struct event *timer;
    kin_lease_table_t *lt;
    const char *system, *stream, *partition;
    int how;
    sl_ckpt_list_cb cb;
    void *opaque;
    int n, pending, failed, refused;
    char *errstr;
    size_t errlen;
    const char *table;
    char store[1100];
    char owned_note[256];
    int64_t failover_ms, watch_end;
    ext_lease_t *v;
    size_t nv;
} ext_run_t;

static void ext_fail(ext_run_t *r, sl_err_t err, const char *msg) {
    if (!r->failed) {
        r->failed = 1;
        r->refused = err == SL_ERR_STATE;
        /* Messages of the lease layer already name the table. */
        snprintf(r->errstr, r->errlen, "%s", msg);
    }
}

static void ext_deleted(void *opaque, kin_lease_result_t *res) {
    ext_run_t *r = opaque;
    if (res->err == SL_OK || res->err == SL_ERR_NOENT) {
        r->n++;
    } else if (res->lost_race) {
        char msg[512];
        snprintf(msg, sizeof(msg), "lease table %s: a lease changed while it was being deleted "
                 "(a worker took or renewed it): not deleted; is a worker of the job running?",
                 r->table);
        ext_fail(r, SL_ERR_STATE, msg);
    } else {
        ext_fail(r, res->err, res->msg ? res->msg : sl_err_str(res->err));
    }
    if (--r->pending == 0)
        event_base_loopbreak(r->base);
}

static void ext_delete_all(ext_run_t *r) {
    int force = r->how & SL_EXT_FORCE;
    for (size_t i = 0; i < r->nv; i++) {
        ext_lease_t *e = &r->v[i];
        if (e->gone)
            continue;
        if (kin_lease_table_delete(r->lt, e->key, e->bad || force ? -1 : e->last, ext_deleted,
                                   r) == SL_OK)
            r->pending++;
        else
            ext_fail(r, SL_ERR_NOMEM, "cannot start a DeleteItem");
    }
    if (r->pending == 0)
        event_base_loopbreak(r->base);
}

/* After the watch (or a first read that found no owner): refuse or delete. */
static void ext_decide(ext_run_t *r) {
    char msg[2048];
    size_t len = 0, nheld = 0;
    for (size_t i = 0; i < r->nv; i++)
        nheld += r->v[i].held;
    if (!nheld) {
        ext_delete_all(r);
        return;
    }
    len = (size_t)snprintf(msg, sizeof(msg), "lease table %s: %zu lease(s) held by running "
                           "workers:", r->table, nheld);
    for (size_t i = 0; i < r->nv && len < sizeof(msg); i++)
        if (r->v[i].held)
            len += (size_t)snprintf(msg + len, sizeof(msg) - len, " %s (owner %s)", r->v[i].key,
                                    r->v[i].held_by);
    if (len < sizeof(msg))
        snprintf(msg + len, sizeof(msg) - len, "; their counters moved within "
                 "aws.kcl.FailoverTimeMillis (%lld ms). Stop those workers first (a stopped "
                 "worker releases its leases), or use --force", (long long)r->failover_ms);
    ext_fail(r, SL_ERR_STATE, msg);
    event_base_loopbreak(r->base);
}

static ext_lease_t *ext_find(ext_run_t *r, const char *key) {
    for (size_t i = 0; i < r->nv; i++)
        if (!strcmp(r->v[i].key, key))
            return &r->v[i];
    return NULL;
}

static void ext_listed(void *opaque, kin_lease_result_t *res);

static void ext_poll(evutil_socket_t fd, short what, void *arg) {
    ext_run_t *r = arg;
    (void)fd;
    (void)what;
    if (kin_lease_table_list(r->lt, ext_listed, r) != SL_OK) {
        ext_fail(r, SL_ERR_NOMEM, "cannot start a Scan");
        event_base_loopbreak(r->base);
    }
}

/* One watch read: which counters moved, and is the watch over. */
static void ext_watch(ext_run_t *r, kin_lease_result_t *res) {
    int undecided = 0;
    for (size_t i = 0; i < r->nv; i++)
        r->v[i].gone = !r->v[i].bad;
    for (size_t i = 0; i < res->n_leases; i++) {
        kin_lease_t *l = res->leases[i];
        ext_lease_t *e = ext_find(r, l->key);
        if (!e)
            continue; /* new since the first read: a worker created it; the others tell */
        e->gone = 0;
        e->last = l->counter;
        if (l->counter != e->first && l->owner && !e->held) {
            e->held = 1;
            e->held_by = sl_strdup(l->owner);
            if (!e->held_by)
                e->held_by = sl_strdup("?");
        }
    }
    for (size_t i = 0; i < r->nv; i++)
        undecided += !r->v[i].bad && !r->v[i].gone && !r->v[i].held;
    if (!undecided || sl_mono_ms() >= r->watch_end) {
        ext_decide(r);
        return;
    }
    struct timeval tv = {0, 200 * 1000};
    if (r->failover_ms < 1000)
        tv.tv_usec = (suseconds_t)(r->failover_ms / 5 * 1000);
    evtimer_add(r->timer, &tv);
}

static void ext_first_read(ext_run_t *r, kin_lease_result_t *res) {
    size_t owned = 0;
    r->v = calloc(res->n_leases + res->n_bad + 1, sizeof(*r->v));
    if (!r->v) {
        ext_fail(r, SL_ERR_NOMEM, "out of memory");
        event_base_loopbreak(r->base);
        return;
    }
    for (size_t i = 0; i < res->n_leases; i++) {
        kin_lease_t *l = res->leases[i];
        if (r->partition && strcmp(r->partition, l->key) != 0)
            continue;
        ext_lease_t *e = &r->v[r->nv];
        if (!(e->key = sl_strdup(l->key)) || (l->owner && !(e->owner = sl_strdup(l->owner)))) {
            free(e->key);
            ext_fail(r, SL_ERR_NOMEM, "out of memory");
            event_base_loopbreak(r->base);
            return;
        }
        e->first = e->last = l->counter;
        owned += l->owner != NULL;
        r->nv++;
    }
    for (size_t i = 0; i < res->n_bad; i++) {
        const kin_lease_bad_t *b = &res->bad[i];
        if (!b->key || (r->partition && strcmp(r->partition, b->key) != 0))
            continue;
        if (!(r->v[r->nv].key = sl_strdup(b->key))) {
            ext_fail(r, SL_ERR_NOMEM, "out of memory");
            event_base_loopbreak(r->base);
            return;
        }
        r->v[r->nv++].bad = 1;
    }
    if (!owned || (r->how & SL_EXT_FORCE)) {
        ext_delete_all(r);
        return;
    }
    sl_log(SL_LOG_INFO, "kinesis", "lease table %s: %zu lease(s) have an owner: watching their "
           "counters for up to aws.kcl.FailoverTimeMillis (%lld ms) to tell held from expired",
           r->table, owned, (long long)r->failover_ms);
    r->watch_end = sl_mono_ms() + r->failover_ms;
    if (!(r->timer = evtimer_new(r->base, ext_poll, r))) {
        ext_fail(r, SL_ERR_NOMEM, "out of memory");
        event_base_loopbreak(r->base);
        return;
    }
    ext_watch(r, res);
}

static void ext_list_rows(ext_run_t *r, kin_lease_result_t *res) {
    sl_ckpt_t cp;
    for (size_t i = 0; i < res->n_leases; i++) {
        kin_lease_t *l = res->leases[i];
        if (r->partition && strcmp(r->partition, l->key) != 0)
            continue;
        memset(&cp, 0, sizeof(cp));
        cp.system = r->system;
        cp.stream = r->stream;
        cp.partition = l->key;
        cp.offset = l->checkpoint;
        cp.subseq = l->checkpoint_sub;
        cp.updated_ms = -1;
        cp.store = r->store;
        cp.owner = l->owner;
        cp.counter = l->counter;
        if (l->checkpoint && !strcmp(l->checkpoint, "SHARD_END")) {
            cp.state = "finished";
        } else if (l->owner) {
            cp.state = "owned";
            cp.note = r->owned_note;
        } else {
            cp.state = "free";
        }
        r->n++;
        if (r->cb)
            r->cb(r->opaque, &cp);
    }
    for (size_t i = 0; i < res->n_bad; i++) {
        const kin_lease_bad_t *b = &res->bad[i];
        if (r->partition && (!b->key || strcmp(r->partition, b->key) != 0))
            continue;
        memset(&cp, 0, sizeof(cp));
        cp.system = r->system;
        cp.stream = r->stream;
        cp.partition = b->key ? b->key : "?";
        cp.updated_ms = -1;
        cp.store = r->store;
        cp.state = "unreadable";
        cp.note = b->problems;
        cp.counter = -1;
        r->n++;
        if (r->cb)
            r->cb(r->opaque, &cp);
    }
    event_base_loopbreak(r->base);
}

static void ext_listed(void *opaque, kin_lease_result_t *res) {
    ext_run_t *r = opaque;
    if (res->err != SL_OK) {
        ext_fail(r, res->err, res->msg ? res->msg : sl_err_str(res->err));
        event_base_loopbreak(r->base);
        return;
    }
    if (!(r->how & SL_EXT_RESET))
        ext_list_rows(r, res);
    else if (!r->v)
        ext_first_read(r, res);
    else
        ext_watch(r, res);
}

static sl_err_t kin_ext_checkpoints(sl_input_t *in, int how, const char *partition,
                                    sl_ckpt_list_cb cb, void *opaque, int *n, char *errstr,
                                    size_t errlen) {
    const kin_conf_t *kc = sl_input_stream_conf(in);
    sl_http_t *http = NULL;
    sl_creds_t *creds = NULL;
    sl_aws_client_t *ddb = NULL;
    ext_run_t r;
    char table[1024];
    sl_err_t err = SL_OK;

    *n = 0;
    if (!wants_dynamodb(kc, kin_factory_is_samza(sl_input_factory(in))))
        return SL_ERR_NOENT;
    kin_table_name(in, kc, table, sizeof(table));
    memset(&r, 0, sizeof(r));
    r.system = sl_input_system(in);
    r.stream = sl_input_stream(in);
    r.partition = partition;
    r.how = how;
    r.cb = cb;
    r.opaque = opaque;
    r.errstr = errstr;
    r.errlen = errlen;
    r.table = table;
    r.failover_ms = kc->failover_ms;
    snprintf(r.store, sizeof(r.store), "lease table %s", table);
    snprintf(r.owned_note, sizeof(r.owned_note), "held by its owner, or expired: one read cannot "
             "tell (expired = leaseCounter unchanged for aws.kcl.FailoverTimeMillis, %lld ms; "
             "reset watches it that long)", (long long)kc->failover_ms);
    if (!(r.base = event_base_new()) ||
        kin_clients_new(sl_input_conf(in), sl_input_prefixes(in), kc, r.base, 0, &http, &creds,
                        errstr, errlen) != SL_OK ||
        !(ddb = dynamodb_client(http, creds, kc, errstr, errlen)) ||
        !(r.lt = kin_lease_table_new(ddb, r.base, table, errstr, errlen))) {
        err = SL_ERR_IO;
        goto out;
    }
    if (kin_lease_table_list(r.lt, ext_listed, &r) != SL_OK) {
        snprintf(errstr, errlen, "cannot list lease table %s", table);
        err = SL_ERR_IO;
        goto out;
    }
    event_base_dispatch(r.base);
    if (r.failed)
        err = r.refused ? SL_ERR_STATE : SL_ERR_IO;
    *n = r.n;
out:
    kin_lease_table_destroy(r.lt);
    if (r.timer)
        event_free(r.timer);
    for (size_t i = 0; i < r.nv; i++) {
        free(r.v[i].key);
        free(r.v[i].owner);
        free(r.v[i].held_by);
    }
    free(r.v);
    sl_aws_client_destroy(ddb);
    sl_creds_destroy(creds);
    sl_http_destroy(http);
    if (r.base)
        event_base_free(r.base);
    return err;
}

static int kin_stream_check(sl_conf_t *conf, const char *const *prefixes, void *stream_conf,
                            int input) {
    int n = kin_conf_check(conf, prefixes, stream_conf);
    if (!input)
        n += kin_sink_check(conf, prefixes, stream_conf);
    return n;
}

static int ddb_stream_check(sl_conf_t *conf, const char *const *prefixes, void *stream_conf,
                            int input) {
    kin_conf_t *kc = stream_conf;
    kc->ddb = 1;
    (void)input; /* no producer: the runtime refuses the system as an output */
    return kin_conf_check(conf, prefixes, kc);
}

static const char *const ddb_factories[] = {
    "dynamodbstreams",
    "dynamodb-streams",
    "org.apache.pulsar.io.dynamodb.DynamoDBSource",
    NULL,
};

const sl_system_plugin_t sl_system_dynamodbstreams = {
    .abi_version = SL_SYSTEM_ABI_VERSION,
    .name = "dynamodbstreams",
    .factories = ddb_factories,
    .description =
        "Amazon DynamoDB Streams: a table's changes, read the way the KCL reads them through "
        "the DynamoDB Streams Kinesis Adapter (and Pulsar's DynamoDB source with it): the "
        "stream is named by its ARN (stream.arn, Pulsar's awsDynamodbStreamArn), its shards are "
        "leased through a DynamoDB table with the KCL's schema (or kept in the local checkpoint "
        "store by one worker), a child shard starts after its parents were read to their end, "
        "and every property of the kinesis system applies. Each record's key is its eventID, "
        "its offset the sequence number, its event time the approximate creation time, its "
        "header dynamodb.event-name the eventName (INSERT, MODIFY, REMOVE), and its data the "
        "record as JSON exactly as the adapter's RecordAdapter.getData() writes it (what "
        "Pulsar's DynamoDB source publishes). AT_TIMESTAMP, which DynamoDB Streams lacks, "
        "starts at the oldest record and skips those created earlier. Input only.",
    .flags = SL_SYSTEM_F_REPORTS_HEAD,
    .system_props = NULL,
    .system_conf_size = 0,
    .stream_props = kin_stream_props,
    .stream_conf_size = sizeof(kin_conf_t),
    .stream_check = ddb_stream_check,
    .in_open = kin_in_open,
    .in_stop = kin_in_stop,
    .in_close = kin_in_close,
    .discover = kin_discover,
    .part_open = kin_part_open,
    .part_poll = kin_part_poll,
    .part_commit = kin_part_commit,
    .part_close = kin_part_close,
    .ext_checkpoints = kin_ext_checkpoints,
    .in_partitions_move = kin_partitions_move,
};

const sl_system_plugin_t sl_system_kinesis = {
    .abi_version = SL_SYSTEM_ABI_VERSION,
    .name = "kinesis",
    .factories = kin_factories,
    .description =
        "Amazon Kinesis Data Streams. The consumer reads every shard of a stream the way the "
        "KCL does: shards are leased through a DynamoDB table with the KCL's own schema, so "
        "many sluice workers (and Java KCL workers of the same application) share one stream; "
        "a child shard starts only after its parents were read to their end; KPL aggregates "
        "are de-aggregated. Without DynamoDB, one worker keeps positions in the local "
        "checkpoint store. Each record's partition is its shard id, its offset the sequence "
        "number, its sub-offset the KPL sub-sequence number, its key the partition key and its "
        "event time the approximate arrival time. The producer writes with PutRecords "
        "(batched, throttled and partial failures retried per record, order per partition key "
        "kept, every record acknowledged only with its sequence number), optionally as KPL "
        "aggregates grouped by shard, in Pulsar's message formats.",
    .flags = SL_SYSTEM_F_REPORTS_HEAD,
    .system_props = NULL,
    .system_conf_size = 0,
    .stream_props = kin_stream_props,
    .stream_conf_size = sizeof(kin_conf_t),
    .stream_check = kin_stream_check,
    .in_open = kin_in_open,
    .in_stop = kin_in_stop,
    .in_close = kin_in_close,
    .discover = kin_discover,
    .part_open = kin_part_open,
    .part_poll = kin_part_poll,
    .part_commit = kin_part_commit,
    .part_close = kin_part_close,
    .ext_checkpoints = kin_ext_checkpoints,
    .out_open = kin_sink_open,
    .out_send = kin_sink_send,
    .out_flush = kin_sink_flush,
    .out_close = kin_sink_close,
    .in_partitions_move = kin_partitions_move,
};
