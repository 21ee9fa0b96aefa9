/*
 * pulsar_source.c: the consumer of the `pulsar` system. The main thread counts the topic's
 * partitions (PARTITIONED_METADATA, again every discover interval, so partitions added later
 * are read too) and announces one sluice partition per topic partition. Each is read on its
 * worker's loop by its own subscription consumer (lookup, SUBSCRIBE with the configured type
 * and initial position, FLOW permits of the receiver queue, topped up as the job takes
 * messages). Every single message of a batch becomes a record: key = message key, offset =
 * message id (ledger:entry[:batch index]), event time = event time or else publish time, arrival
 * time = publish time, headers = message properties. An encrypted message is handed on as it is
 * (payload still encrypted, a batch as one record) with its encryption context in the
 * pulsar.encryption.* headers the Kinesis formats write as Pulsar's EncryptionContext.
 * A chunked message (one too large for the broker, split by a producer with chunking enabled)
 * is joined again from its chunks, in order, before it becomes one record (offset: its last
 * chunk's id); its chunks are acked with it, as the Java client does (pulsar_chunk.c).
 *
 * Acknowledgement follows the job's commits: when the runtime commits an offset (everything up
 * to it went through the chain and the sinks acknowledged), every entry wholly at or before it
 * is acked, cumulatively (Exclusive, Failover) or one by one (Shared, Key_Shared). The local
 * checkpoint store only mirrors that; where a subscription starts is the broker's business.
 * A message whose record the job failed is never acked: when the job stops, its consumer closes
 * and the broker delivers the message again (to the next run, or to another consumer of a
 * Shared subscription). A lost connection resubscribes with backoff; the broker redelivers
 * what was not acked.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "pulsar_source_int.h"
#include "sluice/log.h"
#include "util_base64.h"
#include "util_time.h"

#define TICK_MS 100

/* ---- main thread: partitions ------------------------------------------------------------------ */

static void got_partitions(void *opaque, int n, const char *err) {
    pl_input_t *k = opaque;
    k->asking = 0;
    if (err && pl_fatal(err)) {
        sl_input_abort(k->in, "topic %s: %s", k->topic, err);
        return;
    }
    if (err) {
        char op[600], next[100];
        int64_t deadline = sl_input_start_deadline(k->in), delay = 0;
        snprintf(op, sizeof(op), "partitions of topic %s", k->topic);
        k->attempts++;
        if (k->nparts_known < 0) {
            /* Nothing can be read before this answer: ask again soon, within
             * task.start.timeout, as the AWS inputs do at their start. */
            if (deadline && sl_mono_ms() >= deadline) {
                sl_input_abort(k->in, "topic %s at %s: %s; giving up at start "
                               "(task.start.timeout)", k->topic, k->c->service_url, err);
                return;
            }
            delay = pl_retry_ms(k->c, k->attempts, &k->rng);
            if (deadline && delay > deadline - sl_mono_ms())
                delay = deadline - sl_mono_ms(); /* one last try when the time is up */
            struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
            if (k->retry_ev)
                evtimer_add(k->retry_ev, &tv);
            snprintf(next, sizeof(next), "asking again in %lld ms", (long long)delay);
        } else {
            snprintf(next, sizeof(next), "asking again at the next discovery");
        }
        pl_client_failed(k->cl, op, err, next);
        return;
    }
    k->attempts = 0;
    pl_client_ok(k->cl, "topic lookup");
    if (n == 0) {
        if (k->nparts_known < 0)
            sl_input_add_partition(k->in, k->topic);
        k->nparts_known = 0;
        return;
    }
    for (int i = k->nparts_known < 0 ? 0 : k->nparts_known; i < n; i++) {
        char *t = pl_topic_partition(k->topic, i);
        if (t)
            sl_input_add_partition(k->in, t);
        free(t);
    }
    if (n > k->nparts_known)
        k->nparts_known = n;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg);

sl_err_t pl_in_open(sl_input_t *in, void **statep);
sl_err_t pl_in_open(sl_input_t *in, void **statep) {
    const pl_conf_t *c = sl_input_stream_conf(in);
    pl_input_t *k = calloc(1, sizeof(*k));
    pl_client_conf_t cc;
    char err[300];
    const char *topic = c->topic && *c->topic ? c->topic : sl_input_stream(in);
    if (!k)
        return sl_input_fail(in, "out of memory");
    k->in = in;
    k->c = c;
    k->nparts_known = -1;
    snprintf(k->what, sizeof(k->what), "input '%s.%s'", sl_input_system(in), sl_input_stream(in));
    k->nworkers = sl_input_worker_count(in);
    if (!(k->topic = pl_topic_full(topic, err, sizeof(err)))) {
        free(k);
        return sl_input_fail(in, "%s", err);
    }
    if (!(k->wc = calloc((size_t)k->nworkers, sizeof(*k->wc)))) {
        free(k->topic);
        free(k);
        return sl_input_fail(in, "out of memory");
    }
    pl_client_conf(c, k->what, &cc);
    if (!(k->cl = pl_client_new(sl_input_base(in), &cc, err, sizeof(err)))) {
        free(k->wc);
        free(k->topic);
        free(k);
        return sl_input_fail(in, "%s", err);
    }
    k->rng = (uint64_t)sl_mono_ms() ^ (uint64_t)(uintptr_t)k;
    if (!(k->retry_ev = evtimer_new(sl_input_base(in), retry_cb, k))) {
        pl_client_destroy(k->cl);
        free(k->wc);
        free(k->topic);
        free(k);
        return sl_input_fail(in, "out of memory");
    }
    sl_input_set_discover_interval(in, 30000);
    *statep = k;
    return SL_OK;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg) {
    pl_input_t *k = arg;
    (void)fd;
    (void)what;
    if (!k->asking && !sl_input_job_stopping(k->in)) {
        k->asking = 1;
        pl_partitions(k->cl, k->topic, got_partitions, k);
    }
}

sl_err_t pl_discover(sl_input_t *in);
sl_err_t pl_discover(sl_input_t *in) {
    pl_input_t *k = sl_input_state(in);
    if (k && !k->asking) {
        k->asking = 1;
        pl_partitions(k->cl, k->topic, got_partitions, k);
    }
    return SL_OK;
}

void pl_in_close(sl_input_t *in, void *state);
void pl_in_close(sl_input_t *in, void *state) {
    pl_input_t *k = state;
    (void)in;
    if (!k)
        return;
    if (k->retry_ev)
        event_free(k->retry_ev);
    pl_client_destroy(k->cl);
    for (int i = 0; i < k->nworkers; i++)
        pl_client_destroy(k->wc[i].cl);
    free(k->wc);
    free(k->topic);
    free(k);
}

/* ---- worker: one subscription consumer per partition ------------------------------------------ */

static void cp_connect(cpart_t *p);

static void qmsg_free(qmsg_t *m) {
    if (m->buf)
        sl_buf_unref(m->buf);
    free(m->key);
    for (int i = 0; i < 2 * m->nheaders; i++)
        free(m->headers[i]);
    free(m->headers);
    free(m);
}

void pl_src_entries_free(qentry_t *e) {
    while (e) {
        qentry_t *n = e->next;
        free(e);
        e = n;
    }
}

/* Acks the entries from e on, one by one, now (what can never be read, chunks of a message
 * that is dropped). */
void pl_src_ack_now(cpart_t *p, const qentry_t *e) {
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandAck ack = PULSAR__PROTO__COMMAND_ACK__INIT;
    Pulsar__Proto__MessageIdData *many, **ids;
    size_t n = 0;
    for (const qentry_t *x = e; x; x = x->next)
        n++;
    if (!n || !p->conn || p->state != C_READY)
        return; /* the broker delivers them again; dropped again then */
    many = calloc(n, sizeof(*many));
    ids = calloc(n, sizeof(*ids));
    if (many && ids) {
        size_t i = 0;
        for (const qentry_t *x = e; x; x = x->next, i++) {
            pulsar__proto__message_id_data__init(&many[i]);
            many[i].ledgerid = x->ledger;
            many[i].entryid = x->entry;
            ids[i] = &many[i];
        }
        cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__ACK;
        cmd.ack = &ack;
        ack.consumer_id = p->consumer_id;
        ack.ack_type = PULSAR__PROTO__COMMAND_ACK__ACK_TYPE__Individual;
        ack.message_id = ids;
        ack.n_message_id = n;
        pl_conn_command(p->conn, &cmd);
    }
    free(many);
    free(ids);
}

/* The broker forgets what it pushed on a lost connection and redelivers from the last ack:
 * messages queued but not yet taken by the job go. Entries already delivered stay (their
 * records are in the chain; acking them again later is harmless). */
static void drop_queue(cpart_t *p) {
    while (p->qhead) {
        qmsg_t *m = p->qhead;
        p->qhead = m->next;
        qmsg_free(m);
    }
    p->qtail = NULL;
    p->queued = 0;
    p->permits_used = 0;
    /* Chunks not yet joined come again too. */
    while (p->chunks)
        pl_chunk_drop(p, p->chunks, 0);
    /* Entries not wholly taken by the job are forgotten: the broker delivers them again (as new
     * entries), and acking them from here could ack what another consumer has not processed.
     * The earlier chunks of a chunked message (entries without messages, listed right before
     * its last chunk's) go with it. */
    {
        qentry_t *e = p->ehead, *run = NULL, *run_tail = NULL, **tail = &p->ehead;
        p->ehead = p->etail = NULL;
        while (e) {
            qentry_t *next = e->next;
            e->next = NULL;
            if (e->total == 0) {
                if (run_tail)
                    run_tail->next = e;
                else
                    run = e;
                run_tail = e;
            } else if (e->delivered < e->total) {
                pl_src_entries_free(run);
                free(e);
                run = run_tail = NULL;
            } else {
                if (run) {
                    *tail = run;
                    tail = &run_tail->next;
                }
                *tail = e;
                tail = &e->next;
                p->etail = e;
                run = run_tail = NULL;
            }
            e = next;
        }
        pl_src_entries_free(run);
    }
}

static void cp_lost(cpart_t *p, const char *why) {
    const pl_conf_t *c = p->k->c;
    pl_conn_t *conn = p->conn;
    int64_t delay;
    if (p->state == C_FAILED)
        return;
    pl_client_forget(p->wc->cl, p);
    p->conn = NULL;
    if (conn)
        pl_conn_detach(conn, PL_CONSUMER, p->consumer_id);
    if (pl_fatal(why)) {
        p->state = C_FAILED;
        sl_part_fail(p->part, "%s: %s", p->topic, why);
        sl_part_wake(p->part); /* the next poll fails the job */
        return;
    }
    drop_queue(p);
    delay = pl_retry_ms(c, ++p->attempts, &p->rng);
    p->state = C_BACKOFF;
    p->retry_at = sl_mono_ms() + delay;
    {
        char op[600], next[100];
        snprintf(op, sizeof(op), "consumer of %s", p->topic);
        snprintf(next, sizeof(next), "subscribing again in %lld ms (attempt %d)",
                 (long long)delay, p->attempts);
        pl_client_failed(p->wc->cl, op, why ? why : "failed", next);
    }
}

void pl_src_flow(cpart_t *p, int permits) {
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandFlow f = PULSAR__PROTO__COMMAND_FLOW__INIT;
    if (permits <= 0 || !p->conn)
        return;
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__FLOW;
    cmd.flow = &f;
    f.consumer_id = p->consumer_id;
    f.messagepermits = (uint32_t)permits;
    pl_conn_command(p->conn, &cmd);
}

static char *dupn(const char *s, size_t n) {
    return sl_strndup(s, n);
}

static int add_header(qmsg_t *m, const char *k, const char *v) {
    char **h = realloc(m->headers, (size_t)(2 * m->nheaders + 2) * sizeof(char *));
    if (!h)
        return -1;
    m->headers = h;
    if (!(h[2 * m->nheaders] = sl_strdup(k)))
        return -1;
    if (!(h[2 * m->nheaders + 1] = sl_strdup(v))) {
        free(h[2 * m->nheaders]);
        return -1;
    }
    m->nheaders++;
    return 0;
}

/* Decodes a base64 key (partition_key_b64_encoded; surrounding whitespace ignored, as the
 * OpenSSL decoder used before did) into *out (malloc'd, caller frees). */
static int base64_dec(const char *in, size_t n, char **out, size_t *outlen) {
    ssize_t len;
    char *o = malloc(n / 4 * 3 + 1);
    if (!o || (len = util_b64_decode(in, n, o, n / 4 * 3, UTIL_B64_TRIM)) < 0) {
        free(o);
        return -1;
    }
    *out = o;
    *outlen = (size_t)len;
    return 0;
}

/* Fills what a message carries besides its payload: key, times and headers. */
static int fill(qmsg_t *m, const pl_meta_t *meta, Pulsar__Proto__KeyValue **props, size_t nprops,
                const char *pkey, int pkey_b64, uint64_t event_time) {
    char num[32];
    if (pkey) {
        if (pkey_b64) {
            if (base64_dec(pkey, strlen(pkey), &m->key, &m->keylen) < 0)
                return -1;
        } else {
            m->keylen = strlen(pkey);
            if (!(m->key = dupn(pkey, m->keylen)))
                return -1;
        }
    }
    m->publish_ms = (int64_t)meta->publish_time;
    m->event_ms = event_time ? (int64_t)event_time : m->publish_ms;
    for (size_t i = 0; i < nprops; i++)
        if (add_header(m, props[i]->key, props[i]->value) < 0)
            return -1;
    /* An encrypted message (this consumer cannot decrypt it) goes on with its encryption
     * context, in the headers the Kinesis formats write as Pulsar's EncryptionContext. */
    if (meta->n_encryption_keys) {
        sl_sb_t sb = {0};
        int bad = 0;
        if (meta->encryption_algo &&
            add_header(m, PL_ENC_HEADER_PREFIX "algorithm", meta->encryption_algo) < 0)
            return -1;
        if (meta->has_encryption_param) {
            util_sb_base64(&sb, meta->encryption_param.data, meta->encryption_param.len);
            bad |= sb.oom || add_header(m, PL_ENC_HEADER_PREFIX "param", sb.buf) < 0;
            sl_sb_reset(&sb);
        }
        bad |= add_header(m, PL_ENC_HEADER_PREFIX "compression",
                          pl_compression_name(meta->has_compression ? meta->compression : 0)) < 0;
        if (meta->has_uncompressed_size) {
            snprintf(num, sizeof(num), "%u", meta->uncompressed_size);
            bad |= add_header(m, PL_ENC_HEADER_PREFIX "uncompressed-size", num) < 0;
        }
        if (meta->has_num_messages_in_batch) {
            snprintf(num, sizeof(num), "%d", (int)meta->num_messages_in_batch);
            bad |= add_header(m, PL_ENC_HEADER_PREFIX "batch-size", num) < 0;
        }
        for (size_t i = 0; i < meta->n_encryption_keys && !bad; i++) {
            Pulsar__Proto__EncryptionKeys *ek = meta->encryption_keys[i];
            char *name = NULL;
            sl_sb_printf(&sb, PL_ENC_HEADER_PREFIX "key.%s", ek->key);
            name = sl_strdup(sb.buf ? sb.buf : "");
            sl_sb_reset(&sb);
            util_sb_base64(&sb, ek->value.data, ek->value.len);
            bad |= !name || sb.oom || add_header(m, name, sb.buf ? sb.buf : "") < 0;
            sl_sb_reset(&sb);
            for (size_t j = 0; j < ek->n_metadata && !bad && name; j++) {
                sl_sb_printf(&sb, "%s.meta.%s", name, ek->metadata[j]->key);
                bad |= sb.oom || add_header(m, sb.buf, ek->metadata[j]->value) < 0;
                sl_sb_reset(&sb);
            }
            free(name);
        }
        sl_sb_free(&sb);
        if (bad)
            return -1;
    }
    return 0;
}

static void enqueue(cpart_t *p, qmsg_t *m) {
    if (p->qtail)
        p->qtail->next = m;
    else
        p->qhead = m;
    p->qtail = m;
    p->queued++;
}

/* A message that can never be read went to task.error.policy. Skipped, it is acked (with the
 * chunks before it, cx), so the subscription moves on; failed, the job stops and nothing is. */
void pl_src_skipped(cpart_t *p, const Pulsar__Proto__MessageIdData *id, chunkctx_t *cx) {
    qentry_t one = {0};
    one.ledger = id->ledgerid;
    one.entry = id->entryid;
    one.next = cx ? cx->ehead : NULL;
    for (qentry_t *e = one.next; e; e = e->next)
        if (e->ledger == one.ledger && e->entry == one.entry) {
            pl_src_ack_now(p, cx->ehead); /* id is one of them */
            return;
        }
    pl_src_ack_now(p, &one);
}

/* Takes the message (or batch) of entry id with metadata meta and payload[0..len): decompressed,
 * split, queued for the job. cx: the chunked message it completes (its earlier chunks' entries
 * go into the list before id's; freed here either way). */
void pl_src_take(cpart_t *p, const Pulsar__Proto__MessageIdData *id, const pl_meta_t *meta,
                 const uint8_t *payload, size_t payload_len, const char *base, chunkctx_t *cx) {
    qentry_t *e;
    char err[300];
    const uint8_t *body;
    size_t body_len;
    sl_buf_t *buf = NULL;
    int n = 1;

    if (meta->n_encryption_keys == 0 && meta->has_compression &&
        meta->compression != PULSAR__PROTO__COMPRESSION_TYPE__NONE) {
        /* What a sane producer can have compressed into an entry (each chunk of a chunked
         * message counting as one); more is corrupt metadata, not worth a huge allocation. */
        size_t limit = (pl_conn_max_message(p->conn) * 4 + (1u << 20)) * (cx ? cx->nchunks : 1);
        if (!meta->has_uncompressed_size || meta->uncompressed_size > limit) {
            if (sl_part_bad_record(p->part, base, "compressed entry with uncompressed size %u",
                                   meta->uncompressed_size) == SL_OK)
                pl_src_skipped(p, id, cx);
            goto drop;
        }
        if (pl_decompress(meta->compression, payload, payload_len, meta->uncompressed_size,
                          &p->zbuf, err, sizeof(err)) < 0) {
            if (sl_part_bad_record(p->part, base, "%s", err) == SL_OK)
                pl_src_skipped(p, id, cx);
            goto drop;
        }
        body = (const uint8_t *)p->zbuf.buf;
        body_len = p->zbuf.len;
    } else {
        body = payload;
        body_len = payload_len;
    }
    if (!(buf = sl_buf_new(body, body_len)) || !(e = calloc(1, sizeof(*e)))) {
        if (buf)
            sl_buf_unref(buf);
        sl_part_fail(p->part, "out of memory");
        goto drop;
    }
    e->ledger = id->ledgerid;
    e->entry = id->entryid;
    if (meta->has_num_messages_in_batch && meta->n_encryption_keys == 0)
        n = meta->num_messages_in_batch;
    if (!meta->has_num_messages_in_batch || meta->n_encryption_keys) {
        /* A single message (or an encrypted batch, handed over as it is). */
        qmsg_t *m = calloc(1, sizeof(*m));
        if (!m) {
            free(e);
            sl_buf_unref(buf);
            sl_part_fail(p->part, "out of memory");
            goto drop;
        }
        snprintf(m->offset, sizeof(m->offset), "%s", base);
        m->buf = sl_buf_ref(buf);
        m->off = 0;
        m->len = body_len;
        m->entry = e;
        if (fill(m, meta, meta->properties, meta->n_properties, meta->partition_key,
                 meta->has_partition_key_b64_encoded && meta->partition_key_b64_encoded,
                 meta->has_event_time ? meta->event_time : 0) < 0) {
            qmsg_free(m);
            free(e);
            sl_buf_unref(buf);
            sl_part_fail(p->part, "out of memory");
            goto drop;
        }
        e->total = 1;
        e->last_index = -1;
        enqueue(p, m);
    } else {
        size_t pos = 0;
        int i = 0, r;
        Pulsar__Proto__SingleMessageMetadata *smm;
        const uint8_t *pl;
        size_t plen;
        while ((r = pl_batch_next(body, body_len, &pos, &smm, &pl, &plen, err, sizeof(err))) > 0) {
            qmsg_t *m = calloc(1, sizeof(*m));
            if (!m) {
                pulsar__proto__single_message_metadata__free_unpacked(smm, NULL);
                break;
            }
            snprintf(m->offset, sizeof(m->offset), "%s:%d", base, i);
            m->buf = sl_buf_ref(buf);
            m->off = (size_t)(pl - body);
            m->len = plen;
            m->entry = e;
            if (smm->compacted_out ||
                fill(m, meta, smm->properties, smm->n_properties, smm->partition_key,
                     smm->has_partition_key_b64_encoded && smm->partition_key_b64_encoded,
                     smm->has_event_time ? smm->event_time : 0) < 0) {
                int compacted = smm->compacted_out;
                qmsg_free(m);
                pulsar__proto__single_message_metadata__free_unpacked(smm, NULL);
                if (!compacted) {
                    r = -1;
                    snprintf(err, sizeof(err), "out of memory");
                    break;
                }
                i++;
                continue;
            }
            pulsar__proto__single_message_metadata__free_unpacked(smm, NULL);
            e->last_index = i;
            e->total++;
            enqueue(p, m);
            i++;
        }
        if (r < 0)
            sl_log(SL_LOG_WARN, "pulsar", "%s: entry %s of %s: %s after %d of %d messages",
                   p->what, base, p->topic, err, i, n);
        if (!e->total) {
            /* Nothing readable in it: ack it so the subscription moves on. */
            if (sl_part_bad_record(p->part, base, "batch with no readable message (%s)",
                                   r < 0 ? err : "all compacted out") == SL_OK)
                pl_src_skipped(p, id, cx);
            free(e);
            sl_buf_unref(buf);
            goto drop;
        }
    }
    sl_buf_unref(buf);
    if (cx && cx->ehead) {
        /* The chunks before the last: acked with the message. */
        if (p->etail)
            p->etail->next = cx->ehead;
        else
            p->ehead = cx->ehead;
        p->etail = cx->etail;
        cx->ehead = cx->etail = NULL;
    }
    if (p->etail)
        p->etail->next = e;
    else
        p->ehead = e;
    p->etail = e;
    sl_part_wake(p->part);
drop:
    if (cx)
        pl_chunk_drop(p, cx, 0);
}

/* One MESSAGE: a single message, a batch or a chunk, maybe compressed. Malformed ones go to
 * task.error.policy by their message id. */
static void on_message(cpart_t *p, const pl_frame_t *f) {
    Pulsar__Proto__MessageIdData *id = f->cmd->message->message_id;
    char base[64];
    snprintf(base, sizeof(base), "%" PRIu64 ":%" PRIu64, id->ledgerid, id->entryid);
    if (!f->meta) {
        if (sl_part_bad_record(p->part, base, "MESSAGE without metadata") == SL_OK)
            pl_src_skipped(p, id, NULL);
        return;
    }
    if (f->meta->has_num_chunks_from_msg && f->meta->num_chunks_from_msg > 1) {
        pl_chunk_on(p, id, f->meta, f->payload, f->payload_len, base);
        return;
    }
    pl_src_take(p, id, f->meta, f->payload, f->payload_len, base, NULL);
}

static void on_frame(void *opaque, pl_conn_t *conn, const pl_frame_t *f) {
    cpart_t *p = opaque;
    (void)conn;
    switch (f->cmd->type) {
    case PULSAR__PROTO__BASE_COMMAND__TYPE__MESSAGE:
        if (p->state == C_READY)
            on_message(p, f);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__CLOSE_CONSUMER:
        cp_lost(p, "the broker closed the consumer (topic moved or unloaded)");
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__TOPIC_MIGRATED:
        cp_lost(p, "the topic migrated to another cluster");
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__REACHED_END_OF_TOPIC:
        sl_log(SL_LOG_INFO, "pulsar", "%s: %s was terminated: reading it to its end", p->what,
               p->topic);
        p->ended = 1;
        sl_part_wake(p->part);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__ACTIVE_CONSUMER_CHANGE:
        sl_log_debug("pulsar", "%s: %s: this consumer is %s", p->what, p->topic,
                     f->cmd->active_consumer_change->is_active ? "active" : "standing by");
        break;
    default:
        break;
    }
}

static void on_closed(void *opaque, pl_conn_t *conn, const char *why) {
    cpart_t *p = opaque;
    (void)conn;
    p->conn = NULL;
    cp_lost(p, why);
}

static const pl_handler_t handler = {on_frame, on_closed};

static void subscribed(void *opaque, pl_conn_t *conn, const pl_frame_t *f, const char *err) {
    cpart_t *p = opaque;
    char why[600];
    if (!f) {
        /* Timed out (conn given) or the connection ended. A late answer would leave the
         * subscription taken on this connection (ConsumerBusy for ever after on an Exclusive
         * one): give the registration back. */
        uint64_t id = p->consumer_id;
        cp_lost(p, err);
        if (conn)
            pl_conn_abandon(conn, PL_CONSUMER, id);
        return;
    }
    if (f->cmd->type == PULSAR__PROTO__BASE_COMMAND__TYPE__ERROR) {
        Pulsar__Proto__CommandError *e = f->cmd->error;
        snprintf(why, sizeof(why), "SUBSCRIBE refused: %s: %s", pl_server_error_name(e->error),
                 e->message);
        if (!pl_server_error_retriable(e->error) &&
            e->error != PULSAR__PROTO__SERVER_ERROR__TopicNotFound &&
            e->error != PULSAR__PROTO__SERVER_ERROR__ServiceNotReady) {
            p->state = C_FAILED;
            sl_part_fail(p->part, "%s: %s", p->topic, why);
            sl_part_wake(p->part);
            return;
        }
        cp_lost(p, why);
        return;
    }
    (void)conn;
    p->state = C_READY;
    pl_client_ok(p->wc->cl, "consumer");
    sl_log(p->attempts ? SL_LOG_INFO : SL_LOG_DEBUG, "pulsar", "%s: subscribed to %s as %s",
           p->what, p->topic, p->k->c->subscription && *p->k->c->subscription
                                  ? p->k->c->subscription : sl_input_job_name(p->k->in));
    p->attempts = 0;
    pl_src_flow(p, p->k->c->receiver_queue);
}

static void conn_ready(void *opaque, pl_conn_t *conn, const char *err) {
    cpart_t *p = opaque;
    const pl_conf_t *c = p->k->c;
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandSubscribe sub = PULSAR__PROTO__COMMAND_SUBSCRIBE__INIT;
    char name[256];
    if (err) {
        cp_lost(p, err);
        return;
    }
    p->conn = conn;
    p->consumer_id = pl_client_next_id(p->wc->cl);
    p->req_id = pl_client_next_id(p->wc->cl);
    if (pl_conn_attach(conn, PL_CONSUMER, p->consumer_id, &handler, p) < 0) {
        p->conn = NULL;
        cp_lost(p, "connection closed");
        return;
    }
    if (c->consumer_name && *c->consumer_name)
        snprintf(name, sizeof(name), "%s", c->consumer_name);
    else
        snprintf(name, sizeof(name), "%s-%d", sl_input_job_name(p->k->in),
                 sl_part_worker(p->part));
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__SUBSCRIBE;
    cmd.subscribe = &sub;
    sub.topic = p->topic;
    sub.subscription = (char *)(c->subscription && *c->subscription
                                    ? c->subscription : sl_input_job_name(p->k->in));
    sub.subtype = (Pulsar__Proto__CommandSubscribe__SubType)c->sub_type;
    sub.consumer_id = p->consumer_id;
    sub.request_id = p->req_id;
    sub.consumer_name = name;
    sub.has_initialposition = 1;
    sub.initialposition = (Pulsar__Proto__CommandSubscribe__InitialPosition)c->initial_position;
    sub.has_durable = 1;
    sub.durable = 1;
    p->state = C_SUBSCRIBING;
    pl_conn_request(conn, p->req_id, &cmd, subscribed, p);
}

static void looked_up(void *opaque, const char *url, int proxy, const char *err) {
    cpart_t *p = opaque;
    char e[300];
    pl_conn_t *conn;
    if (err) {
        cp_lost(p, err);
        return;
    }
    if (!(conn = pl_client_conn(p->wc->cl, url, proxy, e, sizeof(e)))) {
        cp_lost(p, e);
        return;
    }
    p->state = C_CONNECTING;
    pl_conn_when_ready(conn, conn_ready, p);
}

static void cp_connect(cpart_t *p) {
    p->state = C_LOOKUP;
    pl_lookup(p->wc->cl, p->topic, looked_up, p);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {
    cpart_t *p = arg;
    (void)fd;
    (void)what;
    if (p->state == C_BACKOFF && sl_mono_ms() >= p->retry_at)
        cp_connect(p);
    /* Chunked messages whose producer went away mid-message never complete. */
    while (p->chunks && p->k->c->chunk_expire_ms > 0 &&
           sl_mono_ms() - p->chunks->started_ms > p->k->c->chunk_expire_ms) {
        sl_log(SL_LOG_WARN, "pulsar", "%s: %s: chunked message %s still has %d of %d chunks "
               "after %lld ms; dropped, its chunks acked", p->what, p->topic, p->chunks->uuid,
               p->chunks->next, p->chunks->nchunks, (long long)p->k->c->chunk_expire_ms);
        pl_chunk_drop(p, p->chunks, 1);
    }
}

sl_err_t pl_part_open(sl_part_t *part, const char *offset, int64_t subseq, void **statep);
sl_err_t pl_part_open(sl_part_t *part, const char *offset, int64_t subseq, void **statep) {
    pl_input_t *k = sl_input_state(sl_part_input(part));
    int w = sl_part_worker(part);
    cpart_t *p;
    struct timeval tv = {0, TICK_MS * 1000};
    (void)offset; /* the subscription knows where it stands */
    (void)subseq;
    if (!(p = calloc(1, sizeof(*p))))
        return sl_part_fail(part, "out of memory");
    p->part = part;
    p->k = k;
    p->rng = (uint64_t)sl_now_ms() ^ (uint64_t)(uintptr_t)p;
    p->wc = &k->wc[w];
    snprintf(p->what, sizeof(p->what), "%s", k->what);
    if (!p->wc->cl) {
        pl_client_conf_t cc;
        char err[300];
        pl_client_conf(k->c, k->what, &cc);
        if (!(p->wc->cl = pl_client_new(sl_part_base(part), &cc, err, sizeof(err)))) {
            free(p);
            return sl_part_fail(part, "%s", err);
        }
    }
    p->wc->refs++;
    if (!(p->topic = sl_strdup(sl_part_id(part))) ||
        !(p->tick = event_new(sl_part_base(part), -1, EV_PERSIST, tick_cb, p))) {
        free(p->topic);
        p->wc->refs--;
        free(p);
        return sl_part_fail(part, "out of memory");
    }
    event_add(p->tick, &tv);
    cp_connect(p);
    *statep = p;
    return SL_OK;
}

sl_poll_t pl_part_poll(sl_part_t *part, void *state, int max);
sl_poll_t pl_part_poll(sl_part_t *part, void *state, int max) {
    cpart_t *p = state;
    int taken = 0;
    while (p->qhead && taken < max) {
        qmsg_t *m = p->qhead;
        sl_delivery_t d = {0};
        sl_err_t err;
        p->qhead = m->next;
        if (!p->qhead)
            p->qtail = NULL;
        p->queued--;
        d.buf = m->buf;
        d.off = m->off;
        d.len = m->len;
        d.key = m->key;
        d.keylen = m->keylen;
        d.offset = m->offset;
        d.event_time_ms = m->event_ms;
        d.arrival_ms = m->publish_ms;
        d.headers = (const char *const *)m->headers;
        d.nheaders = m->nheaders;
        m->entry->delivered++;
        err = sl_part_deliver_ex(part, &d);
        qmsg_free(m);
        taken++;
        p->permits_used++;
        if (err != SL_OK)
            return SL_POLL_WAIT;
    }
    if (p->conn && p->permits_used >= (p->k->c->receiver_queue + 1) / 2) {
        pl_src_flow(p, p->permits_used);
        p->permits_used = 0;
    }
    if (p->qhead)
        return SL_POLL_MORE;
    return p->ended && !p->ehead ? SL_POLL_EOF : SL_POLL_WAIT;
}

/* Whether a's position in the topic is after b's. */
static int pos_after(const qentry_t *a, const qentry_t *b) {
    return a->ledger > b->ledger || (a->ledger == b->ledger && a->entry > b->entry);
}

/* Acks the entries whose every message is at or before offset. */
sl_err_t pl_part_commit(sl_part_t *part, void *state, const char *offset, int64_t subseq);
sl_err_t pl_part_commit(sl_part_t *part, void *state, const char *offset, int64_t subseq) {
    cpart_t *p = state;
    const pl_conf_t *c = p->k->c;
    int cumulative = c->sub_type == PULSAR__PROTO__COMMAND_SUBSCRIBE__SUB_TYPE__Exclusive ||
                     c->sub_type == PULSAR__PROTO__COMMAND_SUBSCRIBE__SUB_TYPE__Failover;
    qentry_t *last = NULL, *upto = NULL;
    Pulsar__Proto__MessageIdData **ids = NULL;
    size_t nids = 0;
    (void)part;
    (void)subseq;
    uint64_t ledger, entry;
    int idx = -1;
    /* offset is "ledger:entry" or "ledger:entry:index" of a message we delivered. */
    if (sscanf(offset, "%" SCNu64 ":%" SCNu64 ":%d", &ledger, &entry, &idx) < 2)
        return SL_OK;
    for (qentry_t *e = p->ehead; e; e = e->next) {
        if (e->ledger == ledger && e->entry == entry) {
            upto = e;
            break;
        }
    }
    if (!upto)
        return SL_OK;
    /* Entries before upto are whole; upto is whole when offset is its last message. */
    for (qentry_t *e = p->ehead; e; e = e->next) {
        if (e == upto) {
            if (idx < 0 || idx >= e->last_index)
                last = e;
            break;
        }
        last = e;
    }
    if (!last)
        return SL_OK;
    /* A cumulative ack covers every message up to last's position. Entries are listed in the
     * order the job got them, which a chunked message (listed when whole) or a redelivery can
     * make differ from their positions: when something before last's position is still to
     * come, the prefix is acked one by one instead. */
    for (qentry_t *e = p->ehead; cumulative; e = e->next) {
        cumulative = !pos_after(e, last);
        if (e == last)
            break;
    }
    for (qentry_t *e = last->next; cumulative && e; e = e->next)
        cumulative = pos_after(e, last);
    for (chunkctx_t *cx = p->chunks; cumulative && cx; cx = cx->next_ctx)
        for (qentry_t *e = cx->ehead; cumulative && e; e = e->next)
            cumulative = pos_after(e, last);
    if (!cumulative) {
        for (qentry_t *e = p->ehead;; e = e->next) {
            nids++;
            if (e == last)
                break;
        }
        if (!(ids = calloc(nids, sizeof(*ids))))
            return SL_OK; /* acked at the next commit */
    }
    if (p->conn && p->state == C_READY) {
        pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
        Pulsar__Proto__CommandAck ack = PULSAR__PROTO__COMMAND_ACK__INIT;
        Pulsar__Proto__MessageIdData one = PULSAR__PROTO__MESSAGE_ID_DATA__INIT, *onep = &one;
        Pulsar__Proto__MessageIdData *many = NULL;
        cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__ACK;
        cmd.ack = &ack;
        ack.consumer_id = p->consumer_id;
        if (cumulative) {
            ack.ack_type = PULSAR__PROTO__COMMAND_ACK__ACK_TYPE__Cumulative;
            one.ledgerid = last->ledger;
            one.entryid = last->entry;
            ack.message_id = &onep;
            ack.n_message_id = 1;
        } else if ((many = calloc(nids, sizeof(*many)))) {
            size_t i = 0;
            ack.ack_type = PULSAR__PROTO__COMMAND_ACK__ACK_TYPE__Individual;
            for (qentry_t *e = p->ehead; i < nids; e = e->next, i++) {
                pulsar__proto__message_id_data__init(&many[i]);
                many[i].ledgerid = e->ledger;
                many[i].entryid = e->entry;
                ids[i] = &many[i];
            }
            ack.message_id = ids;
            ack.n_message_id = nids;
        }
        if (ack.n_message_id)
            pl_conn_command(p->conn, &cmd);
        free(many);
    }
    free(ids);
    /* Forget them either way: without a connection the broker redelivers them, and the job
     * already has them through; a later cumulative ack covers them too. */
    while (p->ehead) {
        qentry_t *e = p->ehead;
        p->ehead = e->next;
        free(e);
        if (e == last)
            break;
    }
    if (!p->ehead)
        p->etail = NULL;
    return SL_OK;
}

void pl_part_close(sl_part_t *part, void *state);
void pl_part_close(sl_part_t *part, void *state) {
    cpart_t *p = state;
    (void)part;
    if (!p)
        return;
    pl_client_forget(p->wc->cl, p);
    if (p->conn) {
        pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
        Pulsar__Proto__CommandCloseConsumer cc = PULSAR__PROTO__COMMAND_CLOSE_CONSUMER__INIT;
        cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__CLOSE_CONSUMER;
        cmd.close_consumer = &cc;
        cc.consumer_id = p->consumer_id;
        cc.request_id = pl_client_next_id(p->wc->cl);
        pl_conn_command(p->conn, &cmd);
        pl_conn_detach(p->conn, PL_CONSUMER, p->consumer_id);
    }
    drop_queue(p);
    pl_src_entries_free(p->ehead);
    if (p->tick)
        event_free(p->tick);
    sl_sb_free(&p->zbuf);
    free(p->topic);
    if (--p->wc->refs == 0) {
        pl_client_destroy(p->wc->cl);
        p->wc->cl = NULL;
    }
    free(p);
}
