/*
 * repartition.c: the built-in `repartition` operator, Samza's partitionBy. It ends a stage of
 * the chain: every record gets the key of `key` and goes to `stream`, an intermediate stream
 * that the job also reads (in task.outputs, where this operator claims it, and in
 * task.inputs); the operators after it run on that stream's partitions (runtime/chain.c,
 * stages), where the records of one key from every input partition meet.
 *
 * Event time crosses with the records; the watermark crosses as markers. Every
 * `watermark.interval` (and at once for the end of the input), an instance whose partition's
 * watermark moved sends a marker record to every partition of the stream (header
 * sluice.broadcast, which the producer honours): headers sluice.wm (the watermark),
 * sluice.from (this upstream partition) and sluice.wm.n (how many upstream partitions the
 * job has had). Downstream, a partition's watermark is the smallest of its upstreams', once it
 * heard from as many as announced (Flink's rule for a keyBy), kept in its keyed state. A
 * partition that read nothing for task.watermark.idle-timeout says so (sluice.wm.idle) and is
 * not waited for until it reads again.
 *
 * Exactly once across: each record also carries sluice.from and sluice.seq, its number in its
 * upstream partition's order, counted in keyed state committed with the upstream's offsets; a
 * replay after a crash numbers the records as before, and downstream drops the numbers it has
 * applied (runtime/chain.c), so the copies at-least-once leaves in the stream count once.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "operators.h"
#include "util_str.h"

typedef struct rp_conf {
    char *stream;
    char *key;
    int64_t interval_ms;
} rp_conf_t;

typedef struct rp {
    expr_db_t *db;
    expr_t *key;
    int out;         /* the claimed output */
    int64_t pending; /* the watermark to announce */
    int64_t sent;    /* the last announced */
    int64_t last_rec_ms; /* when the partition last had a record (processing time) */
    int64_t seq;         /* records sent so far (the keyed state's "n"), -1: not read yet */
    int idle;            /* announced idle; a record makes it announce itself again */
    sl_sb_t kbuf;
} rp_t;

#define RO(f) offsetof(rp_conf_t, f)
static const sl_prop_t rp_props[] = {
    {"stream", SL_PROP_STRING, RO(stream), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "The intermediate stream, as <system>.<stream>: listed in task.outputs (this operator "
     "takes it: other records do not go there) and in task.inputs (the operators after this "
     "one run on its partitions). For the file system, a directory with one file per partition "
     "(partitions=N, format=json so keys, headers and event times cross; read with "
     "follow=true and format=json)."},
    {"key", SL_PROP_STRING, RO(key), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "SQLite expression over the record: its new key, which picks its partition of the "
     "stream. A record for which it is NULL fails (task.error.policy decides)."},
    {"watermark.interval", SL_PROP_DURATION, RO(interval_ms), "200ms", 10, 3600000.0, NULL, 0,
     "How often a partition whose watermark moved tells every partition of the stream (one "
     "marker record each); the end of an input is told at once."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static void rp_close(sl_op_t *op, void *state) {
    rp_t *r = state;
    (void)op;
    if (!r)
        return;
    expr_db_close(r->db);
    sl_sb_free(&r->kbuf);
    free(r);
}

static sl_err_t rp_init(sl_op_t *op, const void *conf, void **statep) {
    const rp_conf_t *rc = conf;
    rp_t *r;
    sl_err_t err;

    if (!(r = calloc(1, sizeof(*r))))
        return expr_fail_conf(op, "key", "out of memory");
    r->pending = r->sent = SL_WATERMARK_NONE;
    r->last_rec_ms = sl_op_now_ms(op);
    r->seq = -1;
    if ((r->out = sl_op_output(op, rc->stream)) < 0) {
        rp_close(op, r);
        return expr_fail_conf(op, "stream", "'%s' is not in task.outputs (or another operator "
                              "writes it)", rc->stream);
    }
    err = expr_db_open(op, &r->db);
    if (err == SL_OK)
        err = expr_compile(r->db, op, "key", rc->key, 0, &r->key);
    if (err != SL_OK) {
        rp_close(op, r);
        return err;
    }
    sl_op_set_timer(op, rc->interval_ms);
    *statep = r;
    return SL_OK;
}

/* Numbers rec in this partition's order (sluice.from, sluice.seq): the count is keyed state,
 * committed with the partition's offsets, so a replay after a crash gives every record the
 * number it had, and downstream drops the copies it already applied. Without keyed state
 * (stdin) records go unnumbered: at-least-once. */
static sl_err_t number(sl_op_t *op, rp_t *r, sl_record_t *rec) {
    sl_state_t *st = sl_op_state(op);
    const char *from = sl_op_upstream_id(op);
    unsigned char b[8];
    char n[32];
    sl_err_t err;
    if (!st || !from)
        return SL_OK;
    if (r->seq < 0) {
        const void *v;
        size_t vlen;
        err = sl_state_get(st, "n", 1, &v, &vlen);
        if (err == SL_OK && vlen == 8) {
            const unsigned char *p = v;
            r->seq = 0;
            for (int i = 0; i < 8; i++)
                r->seq = (r->seq << 8) | p[i];
        } else if (err == SL_ERR_NOENT) {
            r->seq = 0;
        } else {
            return sl_op_fail(op, "cannot read the count of records sent: %s",
                              err == SL_OK ? "a value of the wrong size" : sl_err_str(err));
        }
    }
    r->seq++;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)r->seq >> (56 - 8 * i));
    if ((err = sl_state_put(st, "n", 1, b, 8, 0)) != SL_OK)
        return sl_op_fail(op, "cannot keep the count of records sent: %s", sl_err_str(err));
    snprintf(n, sizeof(n), "%" PRId64, r->seq);
    if ((err = sl_record_set_header(rec, "sluice.from", from)) != SL_OK ||
        (err = sl_record_set_header(rec, "sluice.seq", n)) != SL_OK)
        return sl_op_fail(op, "cannot number the record: %s", sl_err_str(err));
    return SL_OK;
}

static sl_err_t rp_process(sl_op_t *op, void *state, sl_record_t *rec) {
    rp_t *r = state;
    const void *v;
    size_t len = 0;
    sl_err_t err;

    r->last_rec_ms = sl_op_now_ms(op);
    if (r->idle) {
        /* Active again: the next announcement says so, even without a newer watermark. */
        r->idle = 0;
        r->sent = SL_WATERMARK_NONE;
    }
    expr_bind(r->db, rec);
    err = expr_value(r->key, op, &v, &len);
    if (err != SL_OK) {
        expr_bind(r->db, NULL);
        return err;
    }
    if (!v) {
        expr_reset(r->key);
        expr_bind(r->db, NULL);
        return sl_op_fail(op, "key gave NULL: the record has no partition to go to");
    }
    /* The bytes may point into the record: copy before it changes. */
    sl_sb_reset(&r->kbuf);
    r->kbuf.oom = 0;
    sl_sb_append(&r->kbuf, v, len);
    expr_reset(r->key);
    expr_bind(r->db, NULL);
    if (r->kbuf.oom)
        return sl_op_fail(op, "out of memory for a key of %zu bytes", len);
    err = sl_record_set_key(rec, r->kbuf.buf ? r->kbuf.buf : "", r->kbuf.len);
    if (err != SL_OK)
        return sl_op_fail(op, "cannot set the key: %s", sl_err_str(err));
    if ((err = number(op, r, rec)) != SL_OK)
        return err;
    return sl_op_emit_to(op, r->out, rec);
}

/* Tells every partition of the stream this partition's watermark (idle: and that it reads
 * nothing for now). */
static sl_err_t announce(sl_op_t *op, rp_t *r, int idle) {
    const char *from = sl_op_upstream_id(op);
    char wm[32], n[32];
    sl_record_t *rec;
    sl_err_t err;

    if ((!idle && r->pending <= r->sent) || !from)
        return SL_OK;
    snprintf(wm, sizeof(wm), "%" PRId64, r->pending);
    snprintf(n, sizeof(n), "%d", sl_op_stage_partitions(op));
    if (!(rec = sl_record_new()))
        return sl_op_fail(op, "out of memory for a watermark marker");
    err = sl_record_set_data(rec, "{}", 2);
    if (err == SL_OK)
        err = sl_record_set_key(rec, from, strlen(from));
    if (err == SL_OK)
        err = sl_record_set_header(rec, "sluice.broadcast", "1");
    if (err == SL_OK)
        err = sl_record_set_header(rec, "sluice.wm", wm);
    if (err == SL_OK)
        err = sl_record_set_header(rec, "sluice.from", from);
    if (err == SL_OK)
        err = sl_record_set_header(rec, "sluice.wm.n", n);
    if (err == SL_OK && idle)
        err = sl_record_set_header(rec, "sluice.wm.idle", "1");
    if (err == SL_OK)
        err = sl_op_emit_to(op, r->out, rec);
    sl_record_unref(rec);
    if (err != SL_OK)
        return sl_op_fail(op, "cannot send a watermark marker: %s", sl_err_str(err));
    r->sent = r->pending;
    r->idle |= idle;
    return SL_OK;
}

static sl_err_t rp_on_watermark(sl_op_t *op, void *state, int64_t wm) {
    rp_t *r = state;
    r->pending = wm;
    return wm == SL_WATERMARK_END ? announce(op, r, 0) : SL_OK;
}

static sl_err_t rp_timer(sl_op_t *op, void *state, int64_t now_ms) {
    rp_t *r = state;
    int64_t idle_ms = sl_op_idle_timeout(op);
    if (idle_ms > 0 && !r->idle && r->pending != SL_WATERMARK_END &&
        now_ms - r->last_rec_ms >= idle_ms)
        return announce(op, r, 1);
    return announce(op, r, 0);
}

static sl_err_t rp_flush(sl_op_t *op, void *state) {
    return announce(op, state, 0);
}

const sl_operator_plugin_t sl_op_repartition = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "repartition",
    .description = "Re-keys records onto an intermediate stream the job reads back (Samza's "
                   "partitionBy); the operators after it see every record of a key together, "
                   "with watermarks carried across.",
    .props = rp_props,
    .conf_size = sizeof(rp_conf_t),
    .init = rp_init,
    .process = rp_process,
    .close = rp_close,
    .timer = rp_timer,
    .flush = rp_flush,
    .on_watermark = rp_on_watermark,
    .flags = SL_OPERATOR_F_STATEFUL,
};
