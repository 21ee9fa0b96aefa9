/*
 * kinesis_shard.c: one shard read on its worker's event loop, declared in kinesis.h. Opening
 * decides where to start (the runtime's offset, the lease checkpoint with its sentinels, or the
 * initial position) and asks GetShardIterator; then a GetRecords loop fetches ahead into a
 * bounded buffer of parsed answers, one call at a time and at most one per interval, resuming
 * with a fresh iterator when one expires and waiting out throttling and transient failures
 * without ever dropping a record. Polls take records from that buffer through the KPL
 * de-aggregator (filtered by the shard's hash range) and deliver them as slices of the
 * answer's data buffer; the end of the shard becomes SL_POLL_EOF once everything before it was
 * delivered. The coordinator (kinesis_coord.c) learns the end and the children through
 * kin_shard_ended().
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "kinesis.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

/* Kinesis allows 5 GetRecords calls per second and shard; 2 MiB/s per shard. */
#define MIN_INTERVAL_MS 200
#define SHARD_BYTES_PER_SECOND (2.0 * 1024 * 1024)
#define GETRECORDS_MAX 10000
#define DDB_GETRECORDS_MAX 1000

typedef struct batch {
    struct batch *next;
    kin_records_t r;
    size_t dropped; /* aggregates dropped by the hash range filter */
} batch_t;

enum call_kind { CALL_NONE, CALL_ITERATOR, CALL_RECORDS };
enum timer_kind { TIMER_NONE, TIMER_FETCH, TIMER_ITERATOR };

struct kin_shard {
    sl_part_t *part;
    const kin_conf_t *kc;
    sl_aws_client_t *client;
    const char *id;      /* sl_part_id(), lives as long as part */
    char *stream;        /* by name; NULL when by ARN (kc->stream_arn) */
    struct event *timer;
    enum timer_kind timer_kind;
    sl_retry_policy_t rp_records, rp_iterator;
    int64_t interval_ms;
    /* where the shard started: asked again when an iterator expires before any record */
    const char *start_type;
    char *start_seq;
    int64_t start_ts_ms;
    /* the iterator request in flight or to retry */
    const char *it_type;
    char *it_seq;
    int64_t it_ts_ms;
    /* DynamoDB Streams has no AT_TIMESTAMP: read from TRIM_HORIZON and skip what was created
     * before this time (ms; 0 = not skipping) */
    int64_t ts_skip_ms;
    /* resuming inside a checkpoint: skip (seq, sub) <= (skip_seq, skip_sub) */
    char *skip_seq;
    int64_t skip_sub;
    char *iterator;
    enum call_kind call;
    int64_t last_get_ms;  /* monotonic start of the last GetRecords, 0 = none yet */
    int64_t loop_ms;      /* time between the last two GetRecords (adaptive reads) */
    size_t last_count, last_bytes;
    /* the buffer: parsed answers, head->r.recs[cur] loaded in the de-aggregator when loaded */
    batch_t *head, *tail;
    size_t buffered;      /* Kinesis records not fully delivered */
    size_t cur;
    int loaded;
    kpl_deagg_t *da;
    kpl_range_t range;
    int has_range;
    char *fetched_seq;    /* the last record fetched */
    /* the last record delivered */
    char *last_seq;
    size_t last_cap;
    const char *last_src; /* the batch string last_seq was copied from */
    int64_t last_sub;
    int have_last;
    int closed;           /* no more records will be fetched */
    int ended;            /* closed and every record delivered */
    int failed;           /* sl_part_fail() said why, or a delivery failed */
    int waiting;          /* the last poll returned SL_POLL_WAIT */
    kin_shard_info_t *children;
    size_t n_children;
    int64_t millis_behind;
    /* an outage: the last read that succeeded (monotonic ms) and the warnings' limiter */
    int64_t last_ok_ms;
    int reads_failing;
    util_ratelimit_t warn_rl;
    /* the worker's budget */
    kin_gate_t *gate;
    int gated;            /* a GetRecords of ours counts in gate->calls */
    int queued;           /* waiting in gate's FIFO */
    struct kin_shard *gate_next;
    size_t held_bytes;    /* decoded bytes of our batches, counted in gate->bytes */
};

/* ---- the worker's budget ------------------------------------------------------------------ */

static void fetch_maybe(kin_shard_t *s);

static int gate_full(const kin_gate_t *g) {
    return g->calls >= g->max_calls || g->bytes >= g->max_bytes;
}

static void gate_enqueue(kin_shard_t *s) {
    kin_gate_t *g = s->gate;
    if (s->queued)
        return;
    s->queued = 1;
    s->gate_next = NULL;
    if (g->waiting_tail)
        g->waiting_tail->gate_next = s;
    else
        g->waiting = s;
    g->waiting_tail = s;
}

static void gate_unqueue(kin_shard_t *s) {
    kin_gate_t *g = s->gate;
    kin_shard_t *prev = NULL;
    if (!s->queued)
        return;
    for (kin_shard_t *q = g->waiting; q; prev = q, q = q->gate_next)
        if (q == s) {
            if (prev)
                prev->gate_next = s->gate_next;
            else
                g->waiting = s->gate_next;
            if (g->waiting_tail == s)
                g->waiting_tail = prev;
            break;
        }
    s->queued = 0;
    s->gate_next = NULL;
}

/* Room again: let the waiting shards try, oldest first, while it lasts. */
static void gate_wake(kin_gate_t *g) {
    while (g && g->waiting && !gate_full(g)) {
        kin_shard_t *s = g->waiting;
        gate_unqueue(s);
        fetch_maybe(s);
    }
}

static void gate_call_done(kin_shard_t *s) {
    if (s->gate && s->gated) {
        s->gated = 0;
        s->gate->calls--;
    }
}

static void gate_add_bytes(kin_shard_t *s, size_t n) {
    s->held_bytes += n;
    if (s->gate)
        s->gate->bytes += n;
}

static void gate_sub_bytes(kin_shard_t *s, size_t n) {
    if (n > s->held_bytes)
        n = s->held_bytes;
    s->held_bytes -= n;
    if (s->gate)
        s->gate->bytes -= n;
}

static void add_stream(const kin_shard_t *s, json_t *body) {
    if (s->kc->ddb)
        json_object_set_new(body, "StreamArn", json_string(s->kc->stream_arn));
    else if (s->stream)
        json_object_set_new(body, "StreamName", json_string(s->stream));
    else
        json_object_set_new(body, "StreamARN", json_string(s->kc->stream_arn));
}

static const char *stream_of(const kin_shard_t *s) {
    return s->stream ? s->stream : s->kc->stream_arn;
}

/* Tells a waiting poller that something changed (records, the end, a failure). */
static void notify(kin_shard_t *s) {
    if (s->waiting || s->failed) {
        s->waiting = 0;
        sl_part_wake(s->part);
    }
}

/* A read that failed and will be tried again: warned about at most every
 * SL_AWS_OUTAGE_REPORT_MS per shard (the AWS client already said when the endpoint started
 * failing), and the lag keeps growing from the last read that succeeded. */
static void read_failed(kin_shard_t *s, int64_t retry_ms, const char *fmt, ...) SL_PRINTF(3, 4);
static void read_failed(kin_shard_t *s, int64_t retry_ms, const char *fmt, ...) {
    int64_t now = sl_mono_ms(), held = 0;
    if (util_ratelimit(&s->warn_rl, now, SL_AWS_OUTAGE_REPORT_MS, &held)) {
        char what[768];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (held)
            sl_log(SL_LOG_WARN, "kinesis", "shard %s of stream %s: %s; trying again in %lld ms "
                   "(%lld more failed reads since the last warning)", s->id, stream_of(s), what,
                   (long long)retry_ms, (long long)held);
        else
            sl_log(SL_LOG_WARN, "kinesis", "shard %s of stream %s: %s; trying again in %lld ms",
                   s->id, stream_of(s), what, (long long)retry_ms);
    }
    if (!s->last_ok_ms)
        s->last_ok_ms = now;
    s->reads_failing = 1;
    sl_part_set_lag(s->part, kin_shard_millis_behind(s));
}

static void fail(kin_shard_t *s, const char *fmt, ...) SL_PRINTF(2, 3);
static void fail(kin_shard_t *s, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    s->failed = 1;
    sl_part_fail(s->part, "%s", msg);
    notify(s);
}

static void arm(kin_shard_t *s, enum timer_kind kind, int64_t ms) {
    struct timeval tv;
    if (ms < 0)
        ms = 0;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    s->timer_kind = kind;
    evtimer_add(s->timer, &tv);
}

static void on_iterator(void *opaque, const sl_aws_result_t *res);
static void on_records(void *opaque, const sl_aws_result_t *res);

/* Asks GetShardIterator of type (seq and ts as the type needs). */
static void iterator_request(kin_shard_t *s, const char *type, const char *seq, int64_t ts_ms) {
    json_t *body = json_object();
    char *copy = seq ? sl_strdup(seq) : NULL;
    if (!body || (seq && !copy)) {
        json_decref(body);
        free(copy);
        fail(s, "out of memory");
        return;
    }
    free(s->it_seq);
    s->it_seq = copy;
    s->it_type = type;
    s->it_ts_ms = ts_ms;
    add_stream(s, body);
    json_object_set_new(body, "ShardId", json_string(s->id));
    if (s->kc->ddb && !strcmp(type, "AT_TIMESTAMP")) {
        /* the oldest record kept, skipping up to the time */
        s->ts_skip_ms = ts_ms > 0 ? ts_ms : 1;
        json_object_set_new(body, "ShardIteratorType", json_string("TRIM_HORIZON"));
    } else {
        json_object_set_new(body, "ShardIteratorType", json_string(type));
    }
    if (seq)
        json_object_set_new(body, s->kc->ddb ? "SequenceNumber" : "StartingSequenceNumber",
                            json_string(seq));
    if (!strcmp(type, "AT_TIMESTAMP") && !s->kc->ddb)
        json_object_set_new(body, "Timestamp", json_real((double)ts_ms / 1000.0));
    if (s->ts_skip_ms)
        sl_log_debug("kinesis", "shard %s: GetShardIterator TRIM_HORIZON, skipping what was "
                     "created before %lld ms (DynamoDB Streams has no AT_TIMESTAMP)", s->id,
                     (long long)s->ts_skip_ms);
    else
        sl_log_debug("kinesis", "shard %s: GetShardIterator %s%s%s", s->id, type,
                     seq ? " " : "", seq ? seq : "");
    if (sl_aws_call(s->client, "GetShardIterator", body, &s->rp_iterator, on_iterator, s) !=
        SL_OK) {
        fail(s, "GetShardIterator: cannot start the call (out of memory)");
        return;
    }
    s->call = CALL_ITERATOR;
}

static void on_iterator(void *opaque, const sl_aws_result_t *res) {
    kin_shard_t *s = opaque;
    const json_t *it;
    s->call = CALL_NONE;
    if (res->err == SL_OK) {
        it = json_object_get(res->result, "ShardIterator");
        if (it && !json_is_null(it) && (!json_is_string(it) || !json_string_length(it))) {
            fail(s, "GetShardIterator: malformed answer: ShardIterator: expected a string");
            return;
        }
        free(s->iterator);
        s->iterator = NULL;
        if (!it || json_is_null(it)) {
            /* nothing can ever be read past this point: a closed shard read to its end */
            sl_log(SL_LOG_INFO, "kinesis", "shard %s of stream %s: no iterator after %s; the "
                   "shard is closed", s->id, stream_of(s), s->it_type);
            s->closed = 1;
            notify(s);
            return;
        }
        if (!(s->iterator = sl_strdup(json_string_value(it)))) {
            fail(s, "out of memory");
            return;
        }
        fetch_maybe(s);
        return;
    }
    if (res->type && !strcmp(res->type, "ResourceNotFoundException")) {
        /* the shard expired from the stream (past its retention): nothing left to read */
        sl_log(SL_LOG_WARN, "kinesis", "shard %s of stream %s: GetShardIterator: %s: %s; "
               "treating the shard as ended", s->id, stream_of(s), res->type, res->message);
        s->closed = 1;
        notify(s);
        return;
    }
    if (res->err == SL_ERR_RETRY || res->err == SL_ERR_IO) {
        read_failed(s, s->rp_iterator.max_ms, "GetShardIterator failed after %d attempt(s): %s%s%s",
                    res->attempts, res->type ? res->type : sl_err_str(res->err),
                    *res->message ? ": " : "", res->message);
        arm(s, TIMER_ITERATOR, s->rp_iterator.max_ms);
        return;
    }
    fail(s, "GetShardIterator %s%s%s: %s%s%s", s->it_type, s->it_seq ? " " : "",
         s->it_seq ? s->it_seq : "", res->type ? res->type : sl_err_str(res->err),
         *res->message ? ": " : "", res->message);
}

/* The Limit of the next GetRecords, or 0 when the buffer is full. */
static int next_limit(const kin_shard_t *s) {
    int64_t room = (int64_t)s->kc->receive_queue - (int64_t)s->buffered;
    int64_t limit = s->kc->max_records > 0 ? s->kc->max_records : GETRECORDS_MAX;
    if (s->kc->receive_queue <= 0)
        room = GETRECORDS_MAX;
    if (room <= 0)
        return 0;
    if (s->kc->adaptive_reads && s->last_count > 0 && s->loop_ms > 0) {
        /* Flink's adaptive reads: size the call so the shard reads about its 2 MiB/s at the
         * average record size of the last answer and the current loop time */
        double avg = (double)s->last_bytes / (double)s->last_count;
        double per_read = SHARD_BYTES_PER_SECOND * (double)s->loop_ms / 1000.0;
        limit = (int64_t)(per_read / (avg > 1.0 ? avg : 1.0));
        if (limit < 1)
            limit = 1;
    }
    if (limit > GETRECORDS_MAX)
        limit = GETRECORDS_MAX;
    return (int)(limit < room ? limit : room);
}

static void get_records(kin_shard_t *s, int limit) {
    json_t *body = json_object();
    int64_t now = sl_mono_ms();
    if (!body) {
        fail(s, "out of memory");
        return;
    }
    json_object_set_new(body, "ShardIterator", json_string(s->iterator));
    json_object_set_new(body, "Limit", json_integer(s->kc->ddb && limit > DDB_GETRECORDS_MAX
                                                        ? DDB_GETRECORDS_MAX : limit));
    if (!s->stream && !s->kc->ddb)
        json_object_set_new(body, "StreamARN", json_string(s->kc->stream_arn));
    /* raw: the answer goes to kin_scan_get_records() without a JSON document in between */
    if (sl_aws_call_raw(s->client, "GetRecords", body, &s->rp_records, on_records, s) != SL_OK) {
        fail(s, "GetRecords: cannot start the call (out of memory)");
        return;
    }
    if (s->last_get_ms)
        s->loop_ms = now - s->last_get_ms;
    s->last_get_ms = now;
    s->call = CALL_RECORDS;
}

/* Starts the next GetRecords when nothing is in flight, there is room, and the interval
 * since the last call has passed (else arms the timer for it). */
static void fetch_maybe(kin_shard_t *s) {
    int limit;
    int64_t now, due;
    if (s->failed || s->closed || s->call != CALL_NONE || !s->iterator ||
        evtimer_pending(s->timer, NULL))
        return;
    if (!(limit = next_limit(s)))
        return; /* full: the next poll that makes room calls again */
    now = sl_mono_ms();
    /* 5% over the interval: it runs from when our call started, and the service counts from
     * when it arrived; a late send of the previous call must not let two land too close. */
    due = s->last_get_ms ? s->last_get_ms + s->interval_ms + s->interval_ms / 20 : now;
    if (now < due) {
        arm(s, TIMER_FETCH, due - now);
        return;
    }
    if (s->gate) {
        if (gate_full(s->gate)) {
            gate_enqueue(s); /* in turn, when a call ends or records are delivered */
            return;
        }
        gate_unqueue(s);
        s->gate->calls++;
        s->gated = 1;
    }
    get_records(s, limit);
    if (s->call != CALL_RECORDS && s->gated) {
        gate_call_done(s); /* it did not start */
        gate_wake(s->gate);
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
    kin_shard_t *s = arg;
    enum timer_kind kind = s->timer_kind;
    (void)fd;
    (void)what;
    s->timer_kind = TIMER_NONE;
    if (s->failed)
        return;
    if (kind == TIMER_ITERATOR)
        iterator_request(s, s->it_type, s->it_seq, s->it_ts_ms);
    else
        fetch_maybe(s);
}

static void on_records_inner(kin_shard_t *s, const sl_aws_result_t *res);

static void on_records(void *opaque, const sl_aws_result_t *res) {
    kin_shard_t *s = opaque;
    kin_gate_t *g = s->gate;
    gate_call_done(s);
    on_records_inner(s, res);
    /* s may have asked again already; others waiting get the slot this call freed. */
    gate_wake(g);
}

static void on_records_inner(kin_shard_t *s, const sl_aws_result_t *res) {
    kin_records_t r;
    char errstr[400];
    sl_err_t err;
    s->call = CALL_NONE;
    if (res->err != SL_OK) {
        if (res->type && !strcmp(res->type, "ExpiredIteratorException")) {
            /* the buffer was full for 5 minutes, or the loop stalled: pick up after the last
             * record fetched, or where the shard started when nothing was fetched yet */
            sl_log(SL_LOG_INFO, "kinesis", "shard %s of stream %s: the shard iterator expired; "
                   "getting a new one after %s", s->id, stream_of(s),
                   s->fetched_seq ? s->fetched_seq : "the start position");
            free(s->iterator);
            s->iterator = NULL;
            if (s->fetched_seq)
                iterator_request(s, "AFTER_SEQUENCE_NUMBER", s->fetched_seq, 0);
            else
                iterator_request(s, s->start_type, s->start_seq, s->start_ts_ms);
            return;
        }
        if (s->kc->ddb && res->type && !strcmp(res->type, "TrimmedDataAccessException")) {
            /* the iterator points before the 24 hours DynamoDB keeps: on from the oldest */
            sl_log(SL_LOG_WARN, "kinesis", "shard %s of stream %s: GetRecords: %s: %s; reading "
                   "on from the oldest record kept (TRIM_HORIZON)", s->id, stream_of(s),
                   res->type, res->message);
            free(s->iterator);
            s->iterator = NULL;
            iterator_request(s, "TRIM_HORIZON", NULL, 0);
            return;
        }
        if (res->err == SL_ERR_RETRY || res->err == SL_ERR_IO) {
            read_failed(s, s->rp_records.max_ms, "GetRecords failed after %d attempt(s): %s%s%s",
                        res->attempts, res->type ? res->type : sl_err_str(res->err),
                        *res->message ? ": " : "", res->message);
            arm(s, TIMER_FETCH, s->rp_records.max_ms);
            return;
        }
        fail(s, "GetRecords: %s%s%s", res->type ? res->type : sl_err_str(res->err),
             *res->message ? ": " : "", res->message);
        return;
    }
    if ((err = s->kc->ddb ? kin_ddb_parse_records(res->raw, res->raw_len, &r, errstr,
                                                  sizeof(errstr))
                          : kin_scan_get_records(res->raw, res->raw_len, &r, errstr,
                                                 sizeof(errstr))) != SL_OK) {
        json_t *doc = err == SL_ERR_INVAL ? json_loadb(res->raw, res->raw_len, 0, NULL) : NULL;
        if (err == SL_ERR_INVAL && !doc) {
            /* not JSON at all (a proxy's page): transient, as a transport failure was before
             * raw answers (the error path only: the hot path never builds a document) */
            char next[64];
            snprintf(next, sizeof(next), "trying again in %lld ms",
                     (long long)s->rp_records.max_ms);
            sl_aws_client_bad_answer(s->client, "GetRecords", errstr, next);
            read_failed(s, s->rp_records.max_ms, "GetRecords: the answer is not JSON: %s",
                        errstr);
            arm(s, TIMER_FETCH, s->rp_records.max_ms);
            return;
        }
        json_decref(doc);
        fail(s, "GetRecords: malformed answer: %s", errstr);
        return;
    }
    if (r.millis_behind >= 0)
        s->millis_behind = r.millis_behind;
    else /* DynamoDB Streams tells no lag: an empty page of an open shard is its head (what a
          * bootstrap input waits for), a page of records says nothing */
        s->millis_behind = !r.n && r.next_iterator ? 0 : -1;
    s->last_ok_ms = sl_mono_ms();
    s->reads_failing = 0;
    if (s->warn_rl.next_ms) {
        sl_log(SL_LOG_INFO, "kinesis", "shard %s of stream %s: reading again", s->id,
               stream_of(s));
        memset(&s->warn_rl, 0, sizeof(s->warn_rl));
    }
    s->last_count = r.n;
    s->last_bytes = r.buf ? sl_buf_len(r.buf) : 0;
    if (r.n) {
        char *seq = sl_strdup(r.recs[r.n - 1].seq);
        if (!seq) {
            kin_records_free(&r);
            fail(s, "out of memory");
            return;
        }
        free(s->fetched_seq);
        s->fetched_seq = seq;
    }
    free(s->iterator);
    s->iterator = r.next_iterator;
    r.next_iterator = NULL;
    if (!s->iterator) {
        s->closed = 1;
        s->children = r.children;
        s->n_children = r.n_children;
        r.children = NULL;
        r.n_children = 0;
        sl_log_debug("kinesis", "shard %s: closed (%zu child shard(s)); %zu record(s) left to "
                     "deliver", s->id, s->n_children, s->buffered + r.n);
    }
    if (r.n) {
        batch_t *b = calloc(1, sizeof(*b));
        if (!b) {
            kin_records_free(&r);
            fail(s, "out of memory");
            return;
        }
        b->r = r;
        if (s->tail)
            s->tail->next = b;
        else
            s->head = b;
        s->tail = b;
        s->buffered += r.n;
        gate_add_bytes(s, r.buf ? sl_buf_len(r.buf) : 0);
        sl_log_debug("kinesis", "shard %s: %zu record(s), %zu buffered, %lld ms behind", s->id,
                     r.n, s->buffered, (long long)s->millis_behind);
    } else {
        kin_records_free(&r);
    }
    notify(s);
    fetch_maybe(s);
}

/* ---- opening ------------------------------------------------------------------------------ */

kin_shard_t *kin_shard_open(sl_part_t *part, const kin_conf_t *kc, const char *stream,
                            sl_aws_client_t *client, kin_gate_t *gate, const kin_start_t *start,
                            const char *runtime_offset, int64_t runtime_subseq) {
    kin_shard_t *s = calloc(1, sizeof(*s));
    const char *ck = NULL;
    int64_t sub = 0;
    if (!s) {
        sl_part_fail(part, "out of memory");
        return NULL;
    }
    s->part = part;
    s->kc = kc;
    s->client = client;
    s->gate = gate;
    s->id = sl_part_id(part);
    s->millis_behind = -1;
    s->rp_records = kin_backoff_policy(&kc->getrecords);
    s->rp_iterator = kin_backoff_policy(&kc->getiterator);
    s->interval_ms = kc->getrecords_interval_ms > MIN_INTERVAL_MS ? kc->getrecords_interval_ms
                                                                   : MIN_INTERVAL_MS;
    if (!(kc->stream_arn && *kc->stream_arn)) {
        if (!stream || !*stream) {
            sl_part_fail(part, "no Kinesis stream name");
            goto fail;
        }
        if (!(s->stream = sl_strdup(stream)))
            goto oom;
    }
    if (!(s->timer = evtimer_new(sl_part_base(part), timer_cb, s)) ||
        !(s->da = kpl_deagg_new()))
        goto oom;
    if (start->start_hash && start->end_hash) {
        if (kpl_range_parse(start->start_hash, start->end_hash, &s->range) != SL_OK) {
            sl_part_fail(part, "malformed hash key range %s..%s", start->start_hash,
                         start->end_hash);
            goto fail;
        }
        s->has_range = 1;
    }
    if (start->use_runtime_offset && runtime_offset && *runtime_offset) {
        ck = runtime_offset;
        sub = runtime_subseq;
    } else if (start->checkpoint && *start->checkpoint) {
        ck = start->checkpoint;
        sub = start->sub;
    }
    s->start_ts_ms = start->ts_ms;
    if (ck) {
        if (!strcmp(ck, "SHARD_END")) {
            sl_log(SL_LOG_INFO, "kinesis", "shard %s of stream %s: checkpoint at SHARD_END, "
                   "nothing left to read", s->id, stream_of(s));
            s->closed = s->ended = 1;
            return s;
        }
        if (!strcmp(ck, "TRIM_HORIZON") || !strcmp(ck, "LATEST") || !strcmp(ck, "AT_TIMESTAMP")) {
            s->start_type = !strcmp(ck, "LATEST")         ? "LATEST"
                            : !strcmp(ck, "TRIM_HORIZON") ? "TRIM_HORIZON"
                                                          : "AT_TIMESTAMP";
        } else if (kin_all_digits(ck, strlen(ck))) {
            s->start_type = "AT_SEQUENCE_NUMBER";
            if (!(s->start_seq = sl_strdup(ck)) || !(s->skip_seq = sl_strdup(ck)))
                goto oom;
            s->skip_sub = sub;
        } else {
            sl_part_fail(part, "checkpoint '%.80s' is neither a sequence number nor "
                         "TRIM_HORIZON, LATEST, AT_TIMESTAMP or SHARD_END", ck);
            goto fail;
        }
    } else {
        switch (start->pos) {
        case KIN_POS_LATEST:
            s->start_type = "LATEST";
            break;
        case KIN_POS_TRIM_HORIZON:
            s->start_type = "TRIM_HORIZON";
            break;
        case KIN_POS_AT_TIMESTAMP:
            s->start_type = "AT_TIMESTAMP";
            break;
        default:
            s->start_type = sl_input_start_upcoming(sl_part_input(part)) ? "LATEST"
                                                                         : "TRIM_HORIZON";
            break;
        }
    }
    sl_log_debug("kinesis", "shard %s of stream %s: starting at %s%s%s%s", s->id, stream_of(s),
                 s->start_type, s->start_seq ? " " : "", s->start_seq ? s->start_seq : "",
                 s->skip_seq && sub ? " (skipping its first sub-records)" : "");
    iterator_request(s, s->start_type, s->start_seq, s->start_ts_ms);
    if (s->failed)
        goto fail;
    return s;
oom:
    sl_part_fail(part, "out of memory");
fail:
    kin_shard_close(s);
    return NULL;
}

/* ---- delivering --------------------------------------------------------------------------- */

static void batch_pop(kin_shard_t *s) {
    batch_t *b = s->head;
    if (b->dropped)
        sl_log_debug("kinesis", "shard %s: dropped %zu aggregated record(s) holding hash keys "
                     "outside the shard's range", s->id, b->dropped);
    s->head = b->next;
    if (!s->head)
        s->tail = NULL;
    s->cur = 0;
    s->loaded = 0;
    s->last_src = NULL; /* its strings go now: a new batch may reuse the address */
    gate_sub_bytes(s, b->r.buf ? sl_buf_len(b->r.buf) : 0);
    kin_records_free(&b->r);
    free(b);
    gate_wake(s->gate);
}

static int remember_last(kin_shard_t *s, const char *seq, int64_t sub) {
    if (seq != s->last_src) {
        size_t n = strlen(seq) + 1;
        if (n > s->last_cap) {
            char *p = realloc(s->last_seq, n < 64 ? 64 : n);
            if (!p)
                return -1;
            s->last_seq = p;
            s->last_cap = n < 64 ? 64 : n;
        }
        memcpy(s->last_seq, seq, n);
        s->last_src = seq;
    }
    s->last_sub = sub;
    s->have_last = 1;
    return 0;
}

sl_poll_t kin_shard_poll(kin_shard_t *s, int max) {
    int delivered = 0;
    s->waiting = 0;
    if (s->failed)
        return SL_POLL_IDLE;
    if (s->ended)
        return SL_POLL_EOF;
    while (delivered < max && s->head) {
        batch_t *b = s->head;
        const kin_record_t *rec;
        kpl_subrec_t sub;
        if (s->cur >= b->r.n) {
            batch_pop(s);
            continue;
        }
        rec = &b->r.recs[s->cur];
        if (!s->loaded) {
            const uint8_t *base = sl_buf_data(b->r.buf);
            if (kpl_deagg_load(s->da, base + rec->off, rec->len, rec->pk, NULL,
                               s->has_range ? &s->range : NULL) != SL_OK) {
                fail(s, "out of memory");
                return SL_POLL_IDLE;
            }
            if (kpl_deagg_dropped(s->da))
                b->dropped++;
            s->loaded = 1;
        }
        if (!kpl_deagg_next(s->da, &sub)) {
            s->loaded = 0;
            s->cur++;
            s->buffered--;
            continue;
        }
        if (s->ts_skip_ms) {
            if (rec->arrival_ms < s->ts_skip_ms)
                continue; /* created before the start time */
            s->ts_skip_ms = 0;
        }
        if (s->skip_seq) {
            if (kin_xseq_cmp(rec->seq, (int64_t)sub.subseq, s->skip_seq, s->skip_sub) <= 0)
                continue; /* delivered before the restart */
            free(s->skip_seq);
            s->skip_seq = NULL;
        }
        {
            sl_delivery_t d;
            const char *hdrs[6];
            char ehk_small[128], *ehk = NULL;
            int nh = 0;
            sl_err_t err;
            memset(&d, 0, sizeof(d));
            d.buf = b->r.buf;
            d.off = sub.data ? (size_t)(sub.data - (const uint8_t *)sl_buf_data(b->r.buf))
                             : rec->off;
            d.len = sub.data_len;
            d.key = sub.pk;
            d.keylen = sub.pk_len;
            d.offset = rec->seq;
            d.subseq = (int64_t)sub.subseq;
            d.event_time_ms = rec->arrival_ms;
            d.arrival_ms = rec->arrival_ms;
            if (sub.ehk) {
                if (sub.ehk_len < sizeof(ehk_small)) {
                    memcpy(ehk_small, sub.ehk, sub.ehk_len);
                    ehk_small[sub.ehk_len] = '\0';
                    ehk = ehk_small;
                } else if (!(ehk = sl_strndup(sub.ehk, sub.ehk_len))) {
                    fail(s, "out of memory");
                    return SL_POLL_IDLE;
                }
                hdrs[nh * 2] = "kinesis.explicit-hash-key";
                hdrs[nh * 2 + 1] = ehk;
                nh++;
            }
            if (rec->encryption) {
                hdrs[nh * 2] = "kinesis.encryption-type";
                hdrs[nh * 2 + 1] = rec->encryption;
                nh++;
            }
            if (rec->event_name) {
                hdrs[nh * 2] = KIN_DDB_EVENT_HEADER;
                hdrs[nh * 2 + 1] = rec->event_name;
                nh++;
            }
            d.headers = nh ? hdrs : NULL;
            d.nheaders = nh;
            err = sl_part_deliver_ex(s->part, &d);
            if (ehk && ehk != ehk_small)
                free(ehk);
            if (err != SL_OK) {
                s->failed = 1; /* the job is failing: deliver nothing more */
                return SL_POLL_IDLE;
            }
        }
        if (remember_last(s, rec->seq, (int64_t)sub.subseq) < 0) {
            fail(s, "out of memory");
            return SL_POLL_IDLE;
        }
        delivered++;
    }
    if (s->head && s->cur >= s->head->r.n)
        batch_pop(s);
    fetch_maybe(s);
    if (s->head)
        return SL_POLL_MORE;
    if (s->closed) {
        s->ended = 1;
        sl_log(SL_LOG_INFO, "kinesis", "shard %s of stream %s: read to its end (%zu child "
               "shard(s))", s->id, stream_of(s), s->n_children);
        return SL_POLL_EOF;
    }
    if (s->failed)
        return SL_POLL_IDLE;
    s->waiting = 1;
    return SL_POLL_WAIT;
}

int kin_shard_ended(const kin_shard_t *s, const kin_shard_info_t **children, size_t *n) {
    if (children)
        *children = s->ended ? s->children : NULL;
    if (n)
        *n = s->ended ? s->n_children : 0;
    return s->ended;
}

const char *kin_shard_last_delivered(const kin_shard_t *s, int64_t *sub) {
    if (!s->have_last)
        return NULL;
    if (sub)
        *sub = s->last_sub;
    return s->last_seq;
}

int64_t kin_shard_millis_behind(const kin_shard_t *s) {
    if (s->reads_failing) /* behind by at least the time nothing could be read */
        return (s->millis_behind > 0 ? s->millis_behind : 0) + sl_mono_ms() - s->last_ok_ms;
    return s->millis_behind;
}

void kin_shard_close(kin_shard_t *s) {
    if (!s)
        return;
    if (s->client)
        sl_aws_cancel(s->client, s);
    if (s->timer)
        event_free(s->timer);
    if (s->gate) {
        kin_gate_t *g = s->gate;
        gate_unqueue(s);
        gate_call_done(s); /* its call was cancelled */
        gate_sub_bytes(s, s->held_bytes);
        s->gate = NULL;    /* batch_pop must not wake others into this shard's teardown */
        while (s->head)
            batch_pop(s);
        gate_wake(g);
    }
    while (s->head)
        batch_pop(s);
    kpl_deagg_destroy(s->da);
    kin_shard_list_free(s->children, s->n_children);
    free(s->stream);
    free(s->start_seq);
    free(s->it_seq);
    free(s->skip_seq);
    free(s->iterator);
    free(s->fetched_seq);
    free(s->last_seq);
    free(s);
}
