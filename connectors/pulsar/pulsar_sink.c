/*
 * pulsar_sink.c: the producer of the `pulsar` system: one per worker thread and output stream,
 * on the worker's event loop, speaking the binary protocol through pulsar_conn.c. A partitioned
 * topic gets one Pulsar producer per partition (keyed messages routed as the Java client does,
 * keyless ones round robin a batch at a time).
 *
 * A record is acknowledged to the runtime only when its SEND_RECEIPT arrived, i.e. after the
 * broker persisted it, so the source's checkpoint never passes a message Pulsar does not have.
 * Sent batches are kept (their frames, with their sequence ids) until the receipt: a SEND_ERROR,
 * a receipt out of order, a send timeout or a lost connection make the producer reconnect
 * (lookup, CONNECT, PRODUCER with the same name) and send every unacknowledged batch again in
 * order; with deduplication on the broker drops what it already had. Past
 * max-pending-messages the worker stops reading its inputs until receipts make room.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "pulsar.h"
#include "sluice/log.h"
#include "util_base64.h"
#include "util_time.h"

#define TICK_MS 50

enum { P_IDLE, P_LOOKUP, P_CONNECTING, P_REGISTERING, P_READY, P_BACKOFF, P_FAILED };

typedef struct batch {
    uint64_t seq, last_seq;
    int n;
    sl_record_t **recs;
    sl_sb_t frame;
    int64_t sent_ms;
    struct batch *next;
} batch_t;

typedef struct part part_t;
typedef struct sink sink_t;

struct part {
    sink_t *s;
    int index;               /* partition number, -1 when not partitioned */
    char *topic;
    pl_conn_t *conn;
    uint64_t producer_id, req_id;
    char *name;              /* as the broker confirmed it */
    int user_named;
    int state;
    int attempts;
    int64_t retry_at;
    uint64_t next_seq;
    uint64_t epoch;
    /* the open batch */
    sl_record_t **open;
    int nopen, capopen;
    size_t open_bytes;
    int64_t open_since;
    /* sent, waiting for receipts (in order) */
    batch_t *head, *tail;
    int unacked;             /* messages in sent batches */
};

struct sink {
    sl_output_t *out;
    const pl_conf_t *c;
    pl_client_t *cl;
    char *topic;
    char what[300];
    int meta_state;          /* 0 asking, 1 known, 2 failed (retrying) */
    int attempts;
    int64_t retry_at;
    part_t **parts;
    int nparts;
    int partitioned;
    sl_record_t **early;     /* records that came before the partition count */
    int nearly, capearly;
    int rr;                  /* round robin partition for keyless records */
    int refreshing;          /* a partition count request is in flight */
    int64_t refresh_at;      /* when to ask for the partition count again (monotonic ms) */
    int held;                /* records not yet acknowledged */
    int busy;
    uint64_t rng;            /* retry jitter */
    struct event *tick;
    sl_sb_t scratch, zbuf;
};

static void part_connect(part_t *p);
static void part_lost(part_t *p, const char *why, int drop_conn);
static void sink_route(sink_t *s, sl_record_t *rec);

/* ---- small helpers ---------------------------------------------------------------------------- */

static void update_busy(sink_t *s) {
    int limit = s->c->max_pending * (s->nparts > 0 ? s->nparts : 1);
    if (!s->busy && s->held >= limit) {
        s->busy = 1;
        sl_output_set_busy(s->out, 1);
    } else if (s->busy && s->held <= limit / 2) {
        s->busy = 0;
        sl_output_set_busy(s->out, 0);
    }
}

static void rec_done(sink_t *s, sl_record_t *rec, sl_err_t err) {
    s->held--;
    sl_output_ack(s->out, rec, err);
}

static void rec_reject(sink_t *s, sl_record_t *rec, const char *fmt, ...) SL_PRINTF(3, 4);
static void rec_reject(sink_t *s, sl_record_t *rec, const char *fmt, ...) {
    va_list ap;
    char msg[500];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_output_fail(s->out, "%s", msg);
    rec_done(s, rec, SL_ERR_RECORD);
}

static void batch_free(batch_t *b) {
    free(b->recs);
    sl_sb_free(&b->frame);
    free(b);
}

/* ---- encoding --------------------------------------------------------------------------------- */

/* The partition key of rec as Pulsar carries it: the key itself when it is UTF-8 text, else
 * base64 with partition_key_b64_encoded (what the Java client does for byte keys). */
static char *key_of(const sl_record_t *rec, int *b64) {
    size_t len, i = 0;
    const unsigned char *k = (const unsigned char *)sl_record_key(rec, &len);
    *b64 = 0;
    if (!k)
        return NULL;
    while (i < len) {
        unsigned char ch = k[i];
        size_t n = ch < 0x80 ? 1 : (ch >> 5) == 6 ? 2 : (ch >> 4) == 14 ? 3 : (ch >> 3) == 30 ? 4 : 0;
        if (!n || i + n > len || (ch == 0))
            break;
        for (size_t j = 1; j < n; j++)
            if ((k[i + j] & 0xc0) != 0x80)
                n = 0;
        if (!n)
            break;
        i += n;
    }
    if (i == len)
        return sl_strndup((const char *)k, len);
    {
        sl_sb_t sb = {0};
        util_sb_base64(&sb, k, len);
        if (sb.oom || !sb.buf) {
            sl_sb_free(&sb);
            return NULL;
        }
        *b64 = 1;
        return sb.buf;
    }
}

/* Builds the SEND frame of the open batch into b->frame. Returns 0, or -1 (out of memory). */
static int encode(part_t *p, batch_t *b) {
    sink_t *s = p->s;
    const pl_conf_t *c = s->c;
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandSend send = PULSAR__PROTO__COMMAND_SEND__INIT;
    pl_meta_t meta = PULSAR__PROTO__MESSAGE_METADATA__INIT;
    pl_props_t props = {0};
    char *key = NULL;
    int b64 = 0, rc = -1;
    const void *body;
    size_t body_len;

    sl_sb_reset(&s->scratch);
    meta.producer_name = p->name;
    meta.sequence_id = b->seq;
    meta.publish_time = (uint64_t)sl_now_ms();
    if (c->batching) {
        for (int i = 0; i < b->n; i++) {
            Pulsar__Proto__SingleMessageMetadata smm = PULSAR__PROTO__SINGLE_MESSAGE_METADATA__INIT;
            size_t len;
            const void *data = sl_record_data(b->recs[i], &len);
            int64_t et = sl_record_event_time(b->recs[i]);
            int kb64;
            char *k = key_of(b->recs[i], &kb64);
            pl_props_t sp = {0};
            if (pl_props_of(c, b->recs[i], &sp) < 0) {
                free(k);
                pl_props_free(&sp);
                goto out;
            }
            smm.properties = sp.kv;
            smm.n_properties = sp.n;
            smm.partition_key = k;
            if (kb64) {
                smm.has_partition_key_b64_encoded = 1;
                smm.partition_key_b64_encoded = 1;
            }
            smm.payload_size = (int32_t)len;
            if (et > 0) {
                smm.has_event_time = 1;
                smm.event_time = (uint64_t)et;
            }
            smm.has_sequence_id = 1;
            smm.sequence_id = b->seq + (uint64_t)i;
            pl_batch_add(&s->scratch, &smm, data, len);
            free(k);
            pl_props_free(&sp);
        }
        meta.has_num_messages_in_batch = 1;
        meta.num_messages_in_batch = b->n;
        if (b->n > 1) {
            meta.has_highest_sequence_id = 1;
            meta.highest_sequence_id = b->last_seq;
        }
        body = s->scratch.buf;
        body_len = s->scratch.len;
    } else {
        int64_t et = sl_record_event_time(b->recs[0]);
        body = sl_record_data(b->recs[0], &body_len);
        if (pl_props_of(c, b->recs[0], &props) < 0)
            goto out;
        meta.properties = props.kv;
        meta.n_properties = props.n;
        key = key_of(b->recs[0], &b64);
        meta.partition_key = key;
        if (b64) {
            meta.has_partition_key_b64_encoded = 1;
            meta.partition_key_b64_encoded = 1;
        }
        if (et > 0) {
            meta.has_event_time = 1;
            meta.event_time = (uint64_t)et;
        }
    }
    if (s->scratch.oom)
        goto out;
    if (c->compression != PULSAR__PROTO__COMPRESSION_TYPE__NONE) {
        if (pl_compress(c->compression, body, body_len, &s->zbuf) < 0)
            goto out;
        meta.has_compression = 1;
        meta.compression = (Pulsar__Proto__CompressionType)c->compression;
        meta.has_uncompressed_size = 1;
        meta.uncompressed_size = (uint32_t)body_len;
        body = s->zbuf.buf;
        body_len = s->zbuf.len;
    }
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__SEND;
    cmd.send = &send;
    send.producer_id = p->producer_id;
    send.sequence_id = b->seq;
    send.has_num_messages = 1;
    send.num_messages = b->n;
    if (b->n > 1) {
        send.has_highest_sequence_id = 1;
        send.highest_sequence_id = b->last_seq;
    }
    sl_sb_reset(&b->frame);
    pl_frame_payload(&b->frame, &cmd, &meta, body, body_len);
    rc = b->frame.oom ? -1 : 0;
out:
    pl_props_free(&props);
    free(key);
    return rc;
}

/* The producer id changes with each registration: the kept frames say the old one. */
static int reencode_all(part_t *p) {
    for (batch_t *b = p->head; b; b = b->next)
        if (encode(p, b) < 0)
            return -1;
    return 0;
}

/* ---- sending ---------------------------------------------------------------------------------- */

static void write_batch(part_t *p, batch_t *b) {
    b->sent_ms = sl_mono_ms();
    if (pl_conn_write(p->conn, b->frame.buf, b->frame.len) < 0)
        part_lost(p, "cannot write to the connection", 0);
}

/* Closes the open batch of p and sends it (when the producer is ready; else it waits in the sent
 * list for the registration). */
static void part_send_open(part_t *p) {
    sink_t *s = p->s;
    batch_t *b;
    if (!p->nopen || !p->name)
        return;
    if (!(b = calloc(1, sizeof(*b)))) {
        sl_output_abort(s->out, "out of memory");
        return;
    }
    b->recs = p->open;
    b->n = p->nopen;
    b->seq = p->next_seq;
    b->last_seq = p->next_seq + (uint64_t)p->nopen - 1;
    p->open = NULL;
    p->nopen = p->capopen = 0;
    p->open_bytes = 0;
    if (encode(p, b) < 0) {
        /* Put them back: nothing was sent. */
        p->open = b->recs;
        p->nopen = p->capopen = b->n;
        b->recs = NULL;
        batch_free(b);
        sl_output_abort(s->out, "out of memory encoding a batch");
        return;
    }
    p->next_seq = b->last_seq + 1;
    p->unacked += b->n;
    if (p->tail)
        p->tail->next = b;
    else
        p->head = b;
    p->tail = b;
    if (p->state == P_READY)
        write_batch(p, b);
}

static size_t open_limit(const part_t *p) {
    size_t maxmsg = p->conn ? pl_conn_max_message(p->conn) : PL_DEFAULT_MAX_MESSAGE;
    size_t lim = (size_t)p->s->c->batch_max_bytes;
    return lim < maxmsg - 2048 ? lim : maxmsg - 2048;
}

static void part_add(part_t *p, sl_record_t *rec) {
    sink_t *s = p->s;
    size_t len, klen, maxmsg = p->conn ? pl_conn_max_message(p->conn) : PL_DEFAULT_MAX_MESSAGE;
    sl_record_data(rec, &len);
    sl_record_key(rec, &klen);
    if (len + klen + 1024 > maxmsg) {
        rec_reject(s, rec, "the message is %zu bytes (payload %zu + key %zu), over the broker's "
                   "limit of %zu bytes", len + klen, len, klen, maxmsg);
        return;
    }
    if (s->c->batching && p->nopen &&
        (p->nopen >= s->c->batch_max_messages || p->open_bytes + len + klen > open_limit(p)))
        part_send_open(p);
    if (p->nopen == p->capopen) {
        int cap = p->capopen ? p->capopen * 2 : 16;
        sl_record_t **n = realloc(p->open, (size_t)cap * sizeof(*n));
        if (!n) {
            rec_reject(s, rec, "out of memory");
            return;
        }
        p->open = n;
        p->capopen = cap;
    }
    if (!p->nopen)
        p->open_since = sl_mono_ms();
    p->open[p->nopen++] = rec;
    p->open_bytes += len + klen;
    if (!s->c->batching || p->nopen >= s->c->batch_max_messages ||
        p->open_bytes >= open_limit(p))
        part_send_open(p);
}

/* ---- receipts --------------------------------------------------------------------------------- */

static void on_frame(void *opaque, pl_conn_t *conn, const pl_frame_t *f) {
    part_t *p = opaque;
    sink_t *s = p->s;
    char why[600];
    (void)conn;
    switch (f->cmd->type) {
    case PULSAR__PROTO__BASE_COMMAND__TYPE__SEND_RECEIPT: {
        uint64_t seq = f->cmd->send_receipt->sequence_id;
        batch_t *b = p->head;
        if (!b || seq < b->seq) {
            sl_log_debug("pulsar", "%s: receipt for %llu already had", s->what,
                         (unsigned long long)seq);
            return;
        }
        if (seq != b->seq) {
            snprintf(why, sizeof(why), "receipt for sequence id %llu while %llu was expected",
                     (unsigned long long)seq, (unsigned long long)b->seq);
            part_lost(p, why, 1);
            return;
        }
        p->head = b->next;
        if (!p->head)
            p->tail = NULL;
        p->unacked -= b->n;
        p->attempts = 0;
        for (int i = 0; i < b->n; i++)
            rec_done(s, b->recs[i], SL_OK);
        batch_free(b);
        update_busy(s);
        return;
    }
    case PULSAR__PROTO__BASE_COMMAND__TYPE__SEND_ERROR: {
        Pulsar__Proto__CommandSendError *e = f->cmd->send_error;
        snprintf(why, sizeof(why), "SEND_ERROR for sequence id %llu: %s: %s",
                 (unsigned long long)e->sequence_id, pl_server_error_name(e->error), e->message);
        if (e->error == PULSAR__PROTO__SERVER_ERROR__TopicTerminatedError) {
            sl_output_abort(s->out, "topic %s was terminated: %s", p->topic,
                            e->message);
            p->state = P_FAILED;
            return;
        }
        part_lost(p, why, 1);
        return;
    }
    case PULSAR__PROTO__BASE_COMMAND__TYPE__CLOSE_PRODUCER:
        part_lost(p, "the broker closed the producer (topic moved or unloaded)", 0);
        return;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__TOPIC_MIGRATED:
        part_lost(p, "the topic migrated to another cluster", 0);
        return;
    default:
        return;
    }
}

static void on_closed(void *opaque, pl_conn_t *conn, const char *why) {
    part_t *p = opaque;
    (void)conn;
    p->conn = NULL; /* gone: part_lost must not detach */
    part_lost(p, why, 0);
}

static const pl_handler_t handler = {on_frame, on_closed};

/* ---- the producer's life ---------------------------------------------------------------------- */

/* Something went wrong with p's producer: wait, then register again and send every
 * unacknowledged batch again. drop_conn: its connection can no longer be trusted (a SEND_ERROR,
 * a receipt out of order, a send timeout) and is closed too (other producers on it reconnect as
 * well). */
static void part_lost(part_t *p, const char *why, int drop_conn) {
    sink_t *s = p->s;
    pl_conn_t *conn = p->conn;
    int64_t delay;
    if (p->state == P_FAILED)
        return;
    pl_client_forget(s->cl, p);
    p->conn = NULL;
    if (conn)
        pl_conn_detach(conn, PL_PRODUCER, p->producer_id);
    if (pl_fatal(why)) {
        p->state = P_FAILED;
        sl_output_abort(s->out, "topic %s: %s", p->topic, why);
        return;
    }
    if (conn && drop_conn)
        pl_conn_close(conn, why);
    p->attempts++;
    p->state = P_BACKOFF;
    delay = pl_retry_ms(s->c, p->attempts, &s->rng);
    p->retry_at = sl_mono_ms() + delay;
    {
        char op[600], next[200];
        snprintf(op, sizeof(op), "producer on %s", p->topic);
        if (p->unacked)
            snprintf(next, sizeof(next), "reconnecting in %lld ms (attempt %d), then sending "
                     "again the %d message(s) without a receipt", (long long)delay, p->attempts,
                     p->unacked);
        else
            snprintf(next, sizeof(next), "reconnecting in %lld ms (attempt %d)",
                     (long long)delay, p->attempts);
        pl_client_failed(s->cl, op, why ? why : "failed", next);
    }
}

static void registered(void *opaque, pl_conn_t *conn, const pl_frame_t *f, const char *err) {
    part_t *p = opaque;
    sink_t *s = p->s;
    char why[600];
    if (!f) {
        /* Timed out (conn given) or the connection ended. A late answer would leave our name
         * taken on this connection (ProducerBusy for ever after): give the registration back. */
        uint64_t id = p->producer_id;
        part_lost(p, err, 0);
        if (conn)
            pl_conn_abandon(conn, PL_PRODUCER, id);
        return;
    }
    if (f->cmd->type == PULSAR__PROTO__BASE_COMMAND__TYPE__ERROR) {
        Pulsar__Proto__CommandError *e = f->cmd->error;
        snprintf(why, sizeof(why), "PRODUCER refused: %s: %s", pl_server_error_name(e->error),
                 e->message);
        if (!pl_server_error_retriable(e->error) &&
            e->error != PULSAR__PROTO__SERVER_ERROR__TopicNotFound &&
            e->error != PULSAR__PROTO__SERVER_ERROR__ServiceNotReady) {
            sl_output_abort(s->out, "topic %s: %s", p->topic, why);
            p->state = P_FAILED;
            return;
        }
        part_lost(p, why, 0);
        return;
    }
    {
        Pulsar__Proto__CommandProducerSuccess *ps = f->cmd->producer_success;
        if (ps->has_producer_ready && !ps->producer_ready)
            return; /* waiting for exclusive access: the final answer follows */
        if (!p->name || strcmp(p->name, ps->producer_name) != 0) {
            free(p->name);
            p->name = sl_strdup(ps->producer_name);
        }
        if (!p->head && ps->has_last_sequence_id && ps->last_sequence_id >= 0 &&
            (uint64_t)ps->last_sequence_id + 1 > p->next_seq)
            p->next_seq = (uint64_t)ps->last_sequence_id + 1;
        p->state = P_READY;
        pl_client_ok(s->cl, "producer");
        sl_log(p->attempts ? SL_LOG_INFO : SL_LOG_DEBUG, "pulsar",
               "%s: producer %s ready on %s (%s)%s", s->what, p->name, p->topic,
               pl_conn_name(conn), p->head ? ", sending again what has no receipt" : "");
        if (!p->name || reencode_all(p) < 0) {
            sl_output_abort(s->out, "out of memory");
            return;
        }
        for (batch_t *b = p->head; b && p->state == P_READY; b = b->next)
            write_batch(p, b);
        if (p->state == P_READY && p->nopen && !s->c->batching)
            part_send_open(p);
    }
}

static void conn_ready(void *opaque, pl_conn_t *conn, const char *err) {
    part_t *p = opaque;
    sink_t *s = p->s;
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandProducer pr = PULSAR__PROTO__COMMAND_PRODUCER__INIT;
    if (err) {
        part_lost(p, err, 0);
        return;
    }
    p->conn = conn;
    p->producer_id = pl_client_next_id(s->cl);
    p->req_id = pl_client_next_id(s->cl);
    if (pl_conn_attach(conn, PL_PRODUCER, p->producer_id, &handler, p) < 0) {
        p->conn = NULL;
        part_lost(p, "connection closed", 0);
        return;
    }
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__PRODUCER;
    cmd.producer = &pr;
    pr.topic = p->topic;
    pr.producer_id = p->producer_id;
    pr.request_id = p->req_id;
    pr.producer_name = p->name;
    pr.has_user_provided_producer_name = 1;
    pr.user_provided_producer_name = p->user_named;
    pr.has_epoch = 1;
    pr.epoch = p->epoch++;
    p->state = P_REGISTERING;
    pl_conn_request(conn, p->req_id, &cmd, registered, p);
}

static void looked_up(void *opaque, const char *url, int proxy, const char *err) {
    part_t *p = opaque;
    char e[300];
    pl_conn_t *conn;
    if (err) {
        part_lost(p, err, 0);
        return;
    }
    if (!(conn = pl_client_conn(p->s->cl, url, proxy, e, sizeof(e)))) {
        part_lost(p, e, 0);
        return;
    }
    p->state = P_CONNECTING;
    pl_conn_when_ready(conn, conn_ready, p);
}

static void part_connect(part_t *p) {
    p->state = P_LOOKUP;
    pl_lookup(p->s->cl, p->topic, looked_up, p);
}

static part_t *part_new(sink_t *s, int index) {
    part_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->s = s;
    p->index = index;
    p->topic = index < 0 ? sl_strdup(s->topic) : pl_topic_partition(s->topic, index);
    {
        /* Named before the first registration, so batches can be encoded before it and the
         * name survives reconnections (the broker deduplicates per producer name). */
        sl_sb_t sb = {0};
        if (s->c->producer_name && *s->c->producer_name) {
            sl_sb_printf(&sb, "%s-%d-%d", s->c->producer_name, sl_output_worker(s->out),
                         index < 0 ? 0 : index);
            p->user_named = 1;
        } else {
            uint64_t r = (uint64_t)sl_now_ms() ^ (uint64_t)(uintptr_t)p;
            sl_sb_printf(&sb, "sluice-%s-%d-%d-%06llx", sl_output_job_name(s->out),
                         sl_output_worker(s->out), index < 0 ? 0 : index,
                         (unsigned long long)(sl_rand_next(&r) & 0xffffff));
        }
        p->name = sb.buf;
    }
    if (!p->topic || !p->name) {
        free(p->topic);
        free(p->name);
        free(p);
        return NULL;
    }
    return p;
}

static void part_free(part_t *p) {
    sink_t *s = p->s;
    pl_client_forget(s->cl, p);
    if (p->conn)
        pl_conn_detach(p->conn, PL_PRODUCER, p->producer_id);
    while (p->head) {
        batch_t *b = p->head;
        p->head = b->next;
        for (int i = 0; i < b->n; i++)
            sl_output_drop(s->out, b->recs[i]);
        batch_free(b);
    }
    for (int i = 0; i < p->nopen; i++)
        sl_output_drop(s->out, p->open[i]);
    free(p->open);
    free(p->topic);
    free(p->name);
    free(p);
}

/* ---- partitions and routing ------------------------------------------------------------------- */

static void sink_route(sink_t *s, sl_record_t *rec) {
    part_t *p;
    size_t klen;
    const char *key = sl_record_key(rec, &klen);
    if (s->nparts == 1) {
        p = s->parts[0];
    } else if (key) {
        p = s->parts[pl_key_partition(s->c->hashing, key, klen, s->nparts)];
    } else {
        p = s->parts[s->rr % s->nparts];
        /* Stay on a partition for a batch, then move on. */
        if (!s->c->batching || p->nopen + 1 >= s->c->batch_max_messages)
            s->rr++;
    }
    part_add(p, rec);
}

static void got_partitions(void *opaque, int n, const char *err) {
    sink_t *s = opaque;
    if (err && pl_fatal(err)) {
        s->meta_state = 3; /* failed for good */
        sl_output_abort(s->out, "topic %s: %s", s->topic, err);
        return;
    }
    if (err) {
        int64_t delay = pl_retry_ms(s->c, ++s->attempts, &s->rng);
        int64_t deadline = sl_output_start_deadline(s->out);
        char op[600], next[100];
        snprintf(op, sizeof(op), "partitions of topic %s", s->topic);
        if (deadline && sl_mono_ms() >= deadline) {
            s->meta_state = 3;
            sl_output_abort(s->out, "topic %s at %s: %s; giving up at start (task.start.timeout)",
                            s->topic, s->c->service_url, err);
            return;
        }
        if (deadline && delay > deadline - sl_mono_ms())
            delay = deadline - sl_mono_ms(); /* one last try when the time is up */
        s->meta_state = 2;
        s->retry_at = sl_mono_ms() + delay;
        snprintf(next, sizeof(next), "asking again in %lld ms", (long long)delay);
        pl_client_failed(s->cl, op, err, next);
        return;
    }
    pl_client_ok(s->cl, "topic lookup");
    s->partitioned = n > 0;
    s->nparts = n > 0 ? n : 1;
    if (!(s->parts = calloc((size_t)s->nparts, sizeof(*s->parts)))) {
        sl_output_abort(s->out, "out of memory");
        return;
    }
    for (int i = 0; i < s->nparts; i++) {
        if (!(s->parts[i] = part_new(s, n > 0 ? i : -1))) {
            sl_output_abort(s->out, "out of memory");
            return;
        }
        part_connect(s->parts[i]);
    }
    s->meta_state = 1;
    s->refresh_at = sl_mono_ms() + s->c->partitions_interval_ms;
    sl_log(SL_LOG_INFO, "pulsar", "%s: writing to %s (%s)", s->what, s->topic,
           n > 0 ? "partitioned" : "not partitioned");
    if (n > 0)
        sl_log_debug("pulsar", "%s: %d partitions", s->what, n);
    for (int i = 0; i < s->nearly; i++)
        sink_route(s, s->early[i]);
    free(s->early);
    s->early = NULL;
    s->nearly = s->capearly = 0;
}

/* The partitioned topic's count asked again: partitions added since get producers. */
static void got_more_partitions(void *opaque, int n, const char *err) {
    sink_t *s = opaque;
    part_t **parts;
    int old = s->nparts;
    s->refreshing = 0;
    s->refresh_at = sl_mono_ms() + s->c->partitions_interval_ms;
    if (err) {
        sl_log_debug("pulsar", "%s: topic %s: partition count not refreshed: %s", s->what,
                     s->topic, err);
        return;
    }
    if (n <= old)
        return; /* Pulsar never takes partitions away */
    if (!(parts = realloc(s->parts, (size_t)n * sizeof(*parts)))) {
        sl_output_abort(s->out, "out of memory");
        return;
    }
    s->parts = parts;
    for (int i = old; i < n; i++) {
        if (!(s->parts[i] = part_new(s, i))) {
            sl_output_abort(s->out, "out of memory");
            return;
        }
        s->nparts = i + 1;
        part_connect(s->parts[i]);
    }
    sl_log(SL_LOG_INFO, "pulsar", "%s: topic %s grew from %d to %d partitions: writing to all",
           s->what, s->topic, old, n);
}

/* ---- the tick: batch delay, send timeout, retries --------------------------------------------- */

static void tick_cb(evutil_socket_t fd, short what, void *arg) {
    sink_t *s = arg;
    int64_t now = sl_mono_ms();
    (void)fd;
    (void)what;
    if (s->meta_state == 2 && now >= s->retry_at) {
        s->meta_state = 0;
        pl_partitions(s->cl, s->topic, got_partitions, s);
    }
    if (s->meta_state == 1 && s->partitioned && s->c->auto_update_partitions &&
        !s->refreshing && now >= s->refresh_at) {
        s->refreshing = 1;
        pl_partitions(s->cl, s->topic, got_more_partitions, s);
    }
    for (int i = 0; i < (s->meta_state == 1 ? s->nparts : 0); i++) {
        part_t *p = s->parts[i];
        if (p->state == P_BACKOFF && now >= p->retry_at) {
            part_connect(p);
            continue;
        }
        if (p->state != P_READY)
            continue;
        if (p->nopen && now - p->open_since >= s->c->batch_delay_ms)
            part_send_open(p);
        if (p->head && s->c->send_timeout_ms > 0 && p->head->sent_ms &&
            now - p->head->sent_ms > s->c->send_timeout_ms)
            part_lost(p, "send timed out (pulsar.producer.send-timeout)", 1);
    }
}

/* ---- the plugin callbacks --------------------------------------------------------------------- */

sl_err_t pl_sink_open(sl_output_t *out, void **statep) {
    const pl_conf_t *c = sl_output_stream_conf(out);
    sink_t *s = calloc(1, sizeof(*s));
    pl_client_conf_t cc;
    char err[300];
    struct timeval tv = {0, TICK_MS * 1000};
    const char *topic = c->topic && *c->topic ? c->topic : sl_output_stream(out);
    if (!s)
        return sl_output_fail(out, "out of memory");
    s->out = out;
    s->c = c;
    s->rng = (uint64_t)sl_now_ms() ^ (uint64_t)(uintptr_t)s;
    snprintf(s->what, sizeof(s->what), "output '%s.%s'", sl_output_system(out),
             sl_output_stream(out));
    if (!(s->topic = pl_topic_full(topic, err, sizeof(err)))) {
        free(s);
        return sl_output_fail(out, "%s", err);
    }
    pl_client_conf(c, s->what, &cc);
    if (!(s->cl = pl_client_new(sl_output_base(out), &cc, err, sizeof(err))) ||
        !(s->tick = event_new(sl_output_base(out), -1, EV_PERSIST, tick_cb, s))) {
        int oom = s->cl != NULL;
        pl_client_destroy(s->cl);
        free(s->topic);
        free(s);
        return sl_output_fail(out, "%s", oom ? "out of memory" : err);
    }
    event_add(s->tick, &tv);
    pl_partitions(s->cl, s->topic, got_partitions, s);
    *statep = s;
    return SL_OK;
}

sl_err_t pl_sink_send(sl_output_t *out, void *state, sl_record_t *rec) {
    sink_t *s = state;
    (void)out;
    s->held++;
    if (s->meta_state != 1) {
        if (s->nearly == s->capearly) {
            int cap = s->capearly ? s->capearly * 2 : 64;
            sl_record_t **n = realloc(s->early, (size_t)cap * sizeof(*n));
            if (!n) {
                s->held--;
                return sl_output_fail(out, "out of memory");
            }
            s->early = n;
            s->capearly = cap;
        }
        s->early[s->nearly++] = rec;
    } else {
        sink_route(s, rec);
    }
    update_busy(s);
    return SL_OK;
}

sl_err_t pl_sink_flush(sl_output_t *out, void *state, int sync) {
    sink_t *s = state;
    (void)out;
    (void)sync; /* asynchronous: acknowledgements follow the receipts */
    for (int i = 0; i < (s->meta_state == 1 ? s->nparts : 0); i++)
        if (s->parts[i]->state == P_READY)
            part_send_open(s->parts[i]);
    return SL_OK;
}

void pl_sink_close(sl_output_t *out, void *state) {
    sink_t *s = state;
    if (!s)
        return;
    for (int i = 0; i < s->nparts && s->parts; i++)
        if (s->parts[i])
            part_free(s->parts[i]);
    free(s->parts);
    for (int i = 0; i < s->nearly; i++)
        sl_output_drop(out, s->early[i]);
    free(s->early);
    if (s->tick)
        event_free(s->tick);
    pl_client_destroy(s->cl);
    sl_sb_free(&s->scratch);
    sl_sb_free(&s->zbuf);
    free(s->topic);
    free(s);
}
