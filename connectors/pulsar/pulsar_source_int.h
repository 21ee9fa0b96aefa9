/*
 * pulsar_source_int.h: the inside of the `pulsar` consumer, shared by pulsar_source.c (the
 * subscription consumer of one partition) and pulsar_chunk.c (chunked messages joined again);
 * nothing else includes it. A cpart_t and everything hanging off it belong to its worker's
 * thread.
 */
#ifndef SL_PULSAR_SOURCE_INT_H
#define SL_PULSAR_SOURCE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pulsar.h"

enum { C_IDLE, C_LOOKUP, C_CONNECTING, C_SUBSCRIBING, C_READY, C_BACKOFF, C_FAILED };

/* One message taken off the wire, waiting for part_poll(). */
typedef struct qmsg {
    sl_buf_t *buf;           /* payload = buf[off .. off+len) */
    size_t off, len;
    char *key;
    size_t keylen;
    char offset[80];
    int64_t event_ms, publish_ms;
    char **headers;          /* 2 * nheaders */
    int nheaders;
    struct qentry *entry;
    struct qmsg *next;
} qmsg_t;

/* An entry (one MESSAGE: a single message or a batch) delivered but not yet acked. */
typedef struct qentry {
    uint64_t ledger, entry;
    int total;
    int delivered;           /* messages of it the job took */
    int last_index;          /* batch index of its last message (-1: not a batch) */
    struct qentry *next;
} qentry_t;

/* A chunked message being joined: its chunks' bytes so far and the entries of those chunks
 * (acked with the message, or dropped with it). */
typedef struct chunkctx {
    char *uuid;
    int nchunks;             /* num_chunks_from_msg */
    int next;                /* the chunk id expected next */
    size_t total;            /* total_chunk_msg_size */
    sl_sb_t data;
    qentry_t *ehead, *etail;
    int64_t started_ms;      /* monotonic, first chunk */
    struct chunkctx *next_ctx; /* oldest first */
} chunkctx_t;

typedef struct wclient {
    pl_client_t *cl;
    int refs;
} wclient_t;

typedef struct pl_input {
    sl_input_t *in;
    const pl_conf_t *c;
    char *topic;
    char what[300];
    pl_client_t *cl;         /* main thread: partition counts */
    int nparts_known;        /* -1 unknown */
    int asking;
    int attempts;            /* failed partition lookups in a row */
    uint64_t rng;
    struct event *retry_ev;  /* until the partitions are first known: ask again sooner */
    wclient_t *wc;           /* per worker thread */
    int nworkers;
} pl_input_t;

typedef struct cpart {
    sl_part_t *part;
    pl_input_t *k;
    wclient_t *wc;
    char *topic;
    char what[400];
    pl_conn_t *conn;
    uint64_t consumer_id, req_id;
    int state, attempts;
    int64_t retry_at;
    uint64_t rng;            /* retry jitter */
    qmsg_t *qhead, *qtail;
    int queued;
    int permits_used;        /* taken by the job since the last FLOW */
    qentry_t *ehead, *etail; /* delivered, not acked (in order) */
    struct event *tick;
    sl_sb_t zbuf;
    int ended;
    chunkctx_t *chunks;      /* chunked messages being joined, oldest first */
    int nchunks;
} cpart_t;

/* ---- pulsar_source.c -------------------------------------------------------------------------- */

void pl_src_entries_free(qentry_t *e);
/* Acks the entries from e on, one by one, now (what can never be read, chunks of a message
 * that is dropped). */
void pl_src_ack_now(cpart_t *p, const qentry_t *e);
/* Gives the broker permits more messages (FLOW). */
void pl_src_flow(cpart_t *p, int permits);
/* A message that can never be read went to task.error.policy: acked when skipped (with the
 * chunks before it, cx). */
void pl_src_skipped(cpart_t *p, const Pulsar__Proto__MessageIdData *id, chunkctx_t *cx);
/* Takes the message (or batch) of entry id: decompressed, split, queued for the job. cx: the
 * chunked message it completes (freed here either way). */
void pl_src_take(cpart_t *p, const Pulsar__Proto__MessageIdData *id, const pl_meta_t *meta,
                 const uint8_t *payload, size_t payload_len, const char *base, chunkctx_t *cx);

/* ---- pulsar_chunk.c --------------------------------------------------------------------------- */

/* Takes cx out of p's list and frees it; ack: its chunks are acked first. */
void pl_chunk_drop(cpart_t *p, chunkctx_t *cx, int ack);
/* One chunk of a chunked message (num_chunks_from_msg > 1) of entry id. */
void pl_chunk_on(cpart_t *p, const Pulsar__Proto__MessageIdData *id, const pl_meta_t *meta,
                 const uint8_t *payload, size_t len, const char *base);

#endif
