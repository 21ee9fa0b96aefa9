/*
 * pulsar_chunk.c: chunked messages on the consumer side (pulsar_source.c). A message too large
 * for the broker is split by a chunking producer into chunks sent as separate entries, in order,
 * maybe interleaved with other messages; here they are joined again by uuid, checked against
 * the sizes and counts every chunk announces, and the whole message handed to the consumer's
 * take() as one. Its chunks' entries are kept to be acked with it (or with its drop); their
 * permits come back at once. Worker thread of the partition.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pulsar_source_int.h"
#include "sluice/log.h"
#include "util_time.h"

/* Takes cx out of the list and frees it; ack: its chunks are acked first. */
void pl_chunk_drop(cpart_t *p, chunkctx_t *cx, int ack) {
    for (chunkctx_t **pp = &p->chunks; *pp; pp = &(*pp)->next_ctx)
        if (*pp == cx) {
            *pp = cx->next_ctx;
            p->nchunks--;
            break;
        }
    if (ack)
        pl_src_ack_now(p, cx->ehead);
    pl_src_entries_free(cx->ehead);
    sl_sb_free(&cx->data);
    free(cx->uuid);
    free(cx);
}

/* A chunk went into a chunked message (or was dropped): the job will not take it, so its
 * permit comes back now. */
static void chunk_permit(cpart_t *p) {
    if (++p->permits_used >= (p->k->c->receiver_queue + 1) / 2 && p->conn) {
        pl_src_flow(p, p->permits_used);
        p->permits_used = 0;
    }
}

static chunkctx_t *chunk_find(cpart_t *p, const char *uuid) {
    for (chunkctx_t *cx = p->chunks; cx; cx = cx->next_ctx)
        if (!strcmp(cx->uuid, uuid))
            return cx;
    return NULL;
}

/* One chunk of a chunked message (num_chunks_from_msg > 1). Chunks of one message come in
 * order (chunk_id 0, 1, ...), maybe interleaved with other messages and other chunked
 * messages; chunk 0 again means the producer sent the message again from its start. */
void pl_chunk_on(cpart_t *p, const Pulsar__Proto__MessageIdData *id, const pl_meta_t *meta,
                 const uint8_t *payload, size_t len, const char *base) {
    const pl_conf_t *c = p->k->c;
    int cid = meta->has_chunk_id ? meta->chunk_id : -1;
    int nch = meta->num_chunks_from_msg;
    chunkctx_t *cx;
    qentry_t *e;
    size_t limit = (size_t)nch * (pl_conn_max_message(p->conn) + PL_FRAME_OVERHEAD);

    if (!meta->uuid || !*meta->uuid || cid < 0 || cid >= nch || !meta->has_total_chunk_msg_size ||
        meta->total_chunk_msg_size <= 0 || (size_t)meta->total_chunk_msg_size > limit) {
        int total = meta->has_total_chunk_msg_size ? meta->total_chunk_msg_size : -1;
        if (sl_part_bad_record(p->part, base, "chunk %d of %d (uuid %s, total size %d): not a "
                               "valid chunk", cid, nch, meta->uuid ? meta->uuid : "none",
                               total) == SL_OK)
            pl_src_skipped(p, id, NULL);
        chunk_permit(p);
        return;
    }
    if (meta->n_encryption_keys) {
        if (sl_part_bad_record(p->part, base, "chunk %d of %d of message %s is encrypted: an "
                               "encrypted chunked message cannot be handed on (each chunk is "
                               "encrypted on its own)", cid, nch, meta->uuid) == SL_OK)
            pl_src_skipped(p, id, NULL);
        chunk_permit(p);
        return;
    }
    cx = chunk_find(p, meta->uuid);
    if (cid == 0) {
        if (cx) {
            /* Sent again from the start: the chunks so far are copies, acked with it. */
            sl_sb_reset(&cx->data);
            cx->next = 0;
        } else {
            if (p->nchunks >= c->max_pending_chunked) {
                sl_log(SL_LOG_WARN, "pulsar", "%s: %s: more than %d chunked messages being "
                       "joined; the oldest (%s, %d of %d chunks) is dropped%s", p->what,
                       p->topic, c->max_pending_chunked, p->chunks->uuid, p->chunks->next,
                       p->chunks->nchunks, c->auto_ack_oldest_chunked ? " and acked"
                       : " (its chunks come again when the consumer subscribes again)");
                pl_chunk_drop(p, p->chunks, c->auto_ack_oldest_chunked);
            }
            if (!(cx = calloc(1, sizeof(*cx))) || !(cx->uuid = sl_strdup(meta->uuid))) {
                free(cx);
                sl_part_fail(p->part, "out of memory");
                return;
            }
            cx->started_ms = sl_mono_ms();
            {
                chunkctx_t **pp = &p->chunks;
                while (*pp)
                    pp = &(*pp)->next_ctx;
                *pp = cx;
            }
            p->nchunks++;
        }
        cx->nchunks = nch;
        cx->total = (size_t)meta->total_chunk_msg_size;
    } else if (!cx || cid > cx->next) {
        /* Its first chunks are gone (acked before, or dropped): it can never be joined. As the
         * Java client does: acked once older than the expiry, else left for a redelivery. */
        int old = c->chunk_expire_ms > 0 &&
                  sl_now_ms() > (int64_t)meta->publish_time + c->chunk_expire_ms;
        sl_log(SL_LOG_WARN, "pulsar", "%s: %s: chunk %d of %d of message %s at %s arrived "
               "without chunk %d; message dropped%s", p->what, p->topic, cid, nch, meta->uuid,
               base, cx ? cx->next : 0, old ? ", chunk acked" : "");
        if (cx)
            pl_chunk_drop(p, cx, 0);
        if (old) {
            qentry_t one = {0};
            one.ledger = id->ledgerid;
            one.entry = id->entryid;
            pl_src_ack_now(p, &one);
        }
        chunk_permit(p);
        return;
    }
    if (cid < cx->next || cid < nch - 1) {
        if (!(e = calloc(1, sizeof(*e)))) {
            sl_part_fail(p->part, "out of memory");
            return;
        }
        e->ledger = id->ledgerid;
        e->entry = id->entryid;
        e->last_index = -1;
        if (cx->etail)
            cx->etail->next = e;
        else
            cx->ehead = e;
        cx->etail = e;
        chunk_permit(p);
        if (cid < cx->next)
            return; /* a copy of a chunk it has */
    }
    if (nch != cx->nchunks || cx->data.len + len > cx->total) {
        if (sl_part_bad_record(p->part, base, "chunk %d of message %s does not fit: %d chunks and "
                               "%zu bytes announced, %zu + %zu bytes", cid, meta->uuid, cx->nchunks,
                               cx->total, cx->data.len, len) == SL_OK)
            pl_src_skipped(p, id, cx);
        pl_chunk_drop(p, cx, 0);
        return;
    }
    sl_sb_append(&cx->data, payload, len);
    if (cx->data.oom) {
        sl_part_fail(p->part, "out of memory");
        pl_chunk_drop(p, cx, 0);
        return;
    }
    cx->next = cid + 1;
    if (cx->next < cx->nchunks)
        return;
    if (cx->data.len != cx->total) {
        if (sl_part_bad_record(p->part, base, "chunked message %s: %zu bytes in %d chunks, %zu "
                               "announced", meta->uuid, cx->data.len, cx->nchunks,
                               cx->total) == SL_OK)
            pl_src_skipped(p, id, cx);
        pl_chunk_drop(p, cx, 0);
        return;
    }
    /* Whole: the last chunk's metadata (every chunk carries the message's) describes it. */
    for (chunkctx_t **pp = &p->chunks; *pp; pp = &(*pp)->next_ctx)
        if (*pp == cx) {
            *pp = cx->next_ctx;
            p->nchunks--;
            break;
        }
    cx->next_ctx = NULL;
    pl_src_take(p, id, meta, (const uint8_t *)cx->data.buf, cx->data.len, base, cx);
}
