/*
 * interval_join.c: the built-in `interval-join` operator, Flink's interval join of two streams:
 * a record l of `left` and a record r of `right` with the same key meet when
 * l.time - before <= r.time <= l.time + after (event times), and each such pair is emitted once,
 * as {"key": ..., "left": <l>, "right": <r>} with the later of the two times. The two streams
 * meet in one chain only after a `repartition` by the join key writes both into one
 * intermediate stream: a record's side is the input named in its sluice.from header (the
 * upstream partition, "system.stream/partition"), or its own input when not repartitioned.
 *
 * Each record is kept in the keyed state until the watermark shows no partner can come any
 * more (a left record until watermark >= its time + after, a right one until watermark >= its
 * time + before), then deleted; a record already behind the watermark when it arrives is late:
 * counted in sluice_interval_join_late_total and dropped, as Flink does.
 *
 * State (times big-endian with the sign bit flipped, so bytes sort as numbers):
 *   'L'/'R' klen(4) key time seq   the record's payload as JSON (seq: sluice.seq or a count)
 *   'l'/'r' time klen(4) key seq   "" (the index the watermark deletes by)
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "expr.h"
#include "operators.h"
#include "util_str.h"

typedef struct ij_conf {
    char *left, *right;
    char *key;
    int64_t before, after;
} ij_conf_t;

typedef struct ij {
    const ij_conf_t *c;
    expr_db_t *db;
    expr_t *key;
    sqlite3_stmt *norm; /* a payload as JSON text */
    int64_t expired;    /* the watermark up to which rows were deleted */
    int64_t count;      /* numbers records without sluice.seq (in this instance's order) */
    sl_sb_t k, lo, hi, out, val;
    sl_op_counter_t *m_late, *m_pairs;
} ij_t;

#define IO(f) offsetof(ij_conf_t, f)
static const sl_prop_t ij_props[] = {
    {"left", SL_PROP_STRING, IO(left), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "The left stream's input, as <system>.<stream> (before the repartition that brings both "
     "streams together)."},
    {"right", SL_PROP_STRING, IO(right), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "The right stream's input, as <system>.<stream>. Records of other inputs pass through."},
    {"key", SL_PROP_STRING, IO(key), "key", 0, 0, NULL, 0,
     "SQLite expression: the join key of a record (compared as bytes). The default is the "
     "record's key, which a repartition set. A record for which it is NULL has no partner."},
    {"before", SL_PROP_DURATION, IO(before), "0", 0, 8.64e10, NULL, 0,
     "A right record r meets a left record l when l.time - before <= r.time <= l.time + after "
     "(SQL: r.ts BETWEEN l.ts - before AND l.ts + after; Flink's between(-before, after))."},
    {"after", SL_PROP_DURATION, IO(after), "0", 0, 8.64e10, NULL, 0, "See before."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static void be64_put(sl_sb_t *sb, int64_t v) {
    uint64_t u = (uint64_t)v ^ 0x8000000000000000ULL;
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(u >> (56 - 8 * i));
    sl_sb_append(sb, b, 8);
}

static int64_t be64_get(const unsigned char *p) {
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)(u ^ 0x8000000000000000ULL);
}

static void len_put(sl_sb_t *sb, size_t n) {
    unsigned char b[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    sl_sb_append(sb, b, 4);
}

static void ij_close(sl_op_t *op, void *state) {
    ij_t *j = state;
    (void)op;
    if (!j)
        return;
    sqlite3_finalize(j->norm);
    expr_db_close(j->db);
    sl_sb_free(&j->k);
    sl_sb_free(&j->lo);
    sl_sb_free(&j->hi);
    sl_sb_free(&j->out);
    sl_sb_free(&j->val);
    free(j);
}

static sl_err_t ij_init(sl_op_t *op, const void *conf, void **statep) {
    const ij_conf_t *c = conf;
    const char *part = sl_op_partition(op);
    ij_t *j;
    sl_err_t err;

    if (!strcmp(c->left, c->right))
        return expr_fail_conf(op, "right", "left and right are the same stream '%s'", c->left);
    if (part && *part && !sl_op_state(op))
        return sl_op_fail(op, "interval-join needs keyed state, and partition %s has none: its "
                          "input keeps no checkpoints (stdin, for one)", part);
    if (!(j = calloc(1, sizeof(*j))))
        return expr_fail_conf(op, "key", "out of memory");
    j->c = c;
    j->expired = SL_WATERMARK_NONE;
    err = expr_db_open(op, &j->db);
    if (err == SL_OK)
        err = expr_compile(j->db, op, "key", c->key, 0, &j->key);
    if (err == SL_OK &&
        sqlite3_prepare_v3(expr_db_handle(j->db), "SELECT CASE WHEN json_valid(?1) THEN "
                           "json(?1) ELSE json_quote(?1) END", -1, SQLITE_PREPARE_PERSISTENT,
                           &j->norm, NULL) != SQLITE_OK)
        err = expr_fail_conf(op, "key", "cannot prepare: %s",
                             sqlite3_errmsg(expr_db_handle(j->db)));
    if (err != SL_OK) {
        ij_close(op, j);
        return err;
    }
    j->m_late = sl_op_counter(op, "sluice_interval_join_late_total",
                              "Records an interval join dropped because the watermark had "
                              "passed them.");
    j->m_pairs = sl_op_counter(op, "sluice_interval_join_pairs_total",
                               "Pairs an interval join emitted.");
    *statep = j;
    return SL_OK;
}

/* 'L' (left) or 'R' (right) for rec, 0 for a record of neither stream. */
static char side_of(const ij_t *j, const sl_record_t *rec) {
    const char *from = sl_record_header(rec, "sluice.from");
    const sl_source_t *src = sl_record_source(rec);
    char own[512];
    const char *in = from;
    size_t n;
    if (!in) {
        if (!src || !src->system || !src->stream)
            return 0;
        snprintf(own, sizeof(own), "%s.%s/", src->system, src->stream);
        in = own;
    }
    n = strlen(j->c->left);
    if (!strncmp(in, j->c->left, n) && in[n] == '/')
        return 'L';
    n = strlen(j->c->right);
    if (!strncmp(in, j->c->right, n) && in[n] == '/')
        return 'R';
    return 0;
}

typedef struct probe {
    sl_op_t *op;
    ij_t *j;
    sl_record_t *rec; /* the arriving record */
    char side;        /* its side */
    const char *json; /* its payload as JSON */
    size_t jlen;
    int64_t t;        /* its time */
    sl_err_t err;
} probe_t;

/* Emits the pair of the arriving record and a stored partner (key: its state key). */
static int probe_cb(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    probe_t *p = opaque;
    ij_t *j = p->j;
    const unsigned char *k = key;
    size_t kl = klen >= 5 ? ((size_t)k[1] << 24 | (size_t)k[2] << 16 | (size_t)k[3] << 8 | k[4])
                          : 0;
    int64_t pt;
    sl_record_t *out;
    if (klen < 5 + kl + 16) {
        p->err = sl_op_fail(p->op, "a stored record of the interval join is malformed");
        return 1;
    }
    pt = be64_get(k + 5 + kl);
    sl_sb_reset(&j->out);
    j->out.oom = 0;
    sl_sb_puts(&j->out, "{\"key\":");
    sl_sb_json_str(&j->out, (const char *)k + 5, kl);
    sl_sb_puts(&j->out, ",\"left\":");
    if (p->side == 'L')
        sl_sb_append(&j->out, p->json, p->jlen);
    else
        sl_sb_append(&j->out, val, vlen);
    sl_sb_puts(&j->out, ",\"right\":");
    if (p->side == 'R')
        sl_sb_append(&j->out, p->json, p->jlen);
    else
        sl_sb_append(&j->out, val, vlen);
    sl_sb_putc(&j->out, '}');
    if (j->out.oom || !(out = sl_record_derive(p->rec))) {
        p->err = sl_op_fail(p->op, "out of memory for a joined pair");
        return 1;
    }
    p->err = sl_record_set_data(out, j->out.buf, j->out.len);
    if (p->err == SL_OK)
        p->err = sl_record_set_key(out, (const char *)k + 5, kl);
    sl_record_set_event_time(out, pt > p->t ? pt : p->t);
    if (p->err == SL_OK)
        p->err = sl_op_emit(p->op, out);
    else
        sl_op_fail(p->op, "out of memory for a joined pair");
    sl_record_unref(out);
    if (p->err != SL_OK)
        return 1;
    sl_op_counter_add(j->m_pairs, 1);
    return 0;
}

static sl_err_t ij_process(sl_op_t *op, void *state, sl_record_t *rec) {
    ij_t *j = state;
    sl_state_t *st = sl_op_state(op);
    char side = side_of(j, rec);
    const void *kv, *data;
    size_t klen = 0, dlen;
    int64_t t = sl_record_event_time(rec), lo_t, hi_t, seq;
    const char *seqh;
    probe_t p;
    sl_err_t err;
    int rc;

    if (!side)
        return sl_op_emit(op, rec); /* neither stream: not ours */
    if (!st)
        return sl_op_fail(op, "no keyed state for partition %s",
                          sl_op_partition(op) ? sl_op_partition(op) : "-");
    if (t <= sl_op_watermark(op)) {
        sl_op_counter_add(j->m_late, 1);
        return SL_OK;
    }
    expr_bind(j->db, rec);
    err = expr_value(j->key, op, &kv, &klen);
    if (err != SL_OK) {
        expr_bind(j->db, NULL);
        return err;
    }
    if (!kv) {
        expr_reset(j->key);
        expr_bind(j->db, NULL);
        return SL_OK; /* no key, no partner */
    }
    sl_sb_reset(&j->k);
    j->k.oom = 0;
    sl_sb_append(&j->k, kv, klen);
    expr_reset(j->key);
    expr_bind(j->db, NULL);
    /* The payload as JSON, kept in j->val. */
    data = sl_record_data(rec, &dlen);
    sqlite3_bind_text64(j->norm, 1, data ? data : "", dlen, SQLITE_STATIC, SQLITE_UTF8);
    rc = sqlite3_step(j->norm);
    sl_sb_reset(&j->val);
    j->val.oom = 0;
    if (rc == SQLITE_ROW)
        sl_sb_append(&j->val, sqlite3_column_text(j->norm, 0),
                     (size_t)sqlite3_column_bytes(j->norm, 0));
    sqlite3_reset(j->norm);
    sqlite3_clear_bindings(j->norm);
    if (rc != SQLITE_ROW || j->k.oom || j->val.oom)
        return sl_op_fail(op, "out of memory for a record of %zu bytes", dlen);

    /* Partners: the other side's records of the key with times in range. */
    if (side == 'L') {
        lo_t = t - j->c->before;
        hi_t = t + j->c->after;
    } else {
        lo_t = t - j->c->after;
        hi_t = t + j->c->before;
    }
    sl_sb_reset(&j->lo);
    sl_sb_reset(&j->hi);
    j->lo.oom = j->hi.oom = 0;
    sl_sb_putc(&j->lo, side == 'L' ? 'R' : 'L');
    len_put(&j->lo, j->k.len);
    sl_sb_append(&j->lo, j->k.buf, j->k.len);
    sl_sb_append(&j->hi, j->lo.buf, j->lo.len);
    be64_put(&j->lo, lo_t);
    be64_put(&j->hi, hi_t == INT64_MAX ? hi_t : hi_t + 1);
    if (j->lo.oom || j->hi.oom)
        return sl_op_fail(op, "out of memory");
    memset(&p, 0, sizeof(p));
    p.op = op;
    p.j = j;
    p.rec = rec;
    p.side = side;
    p.json = j->val.buf;
    p.jlen = j->val.len;
    p.t = t;
    rc = sl_state_scan_range(st, j->lo.buf, j->lo.len, j->hi.buf, j->hi.len, probe_cb, &p);
    if (p.err != SL_OK)
        return p.err;
    if (rc != SL_OK)
        return sl_op_fail(op, "cannot read the stored records: %s", sl_err_str(rc));

    /* Keep it: the row by key, and the index by time. The number makes equal times of one
     * key distinct, and is the same again when the record is replayed. */
    seqh = sl_record_header(rec, "sluice.seq");
    seq = seqh ? strtoll(seqh, NULL, 10) : ++j->count;
    sl_sb_reset(&j->lo);
    j->lo.oom = 0;
    sl_sb_putc(&j->lo, side);
    len_put(&j->lo, j->k.len);
    sl_sb_append(&j->lo, j->k.buf, j->k.len);
    be64_put(&j->lo, t);
    be64_put(&j->lo, seq);
    if (j->lo.oom)
        return sl_op_fail(op, "out of memory");
    err = sl_state_put(st, j->lo.buf, j->lo.len, j->val.buf ? j->val.buf : "", j->val.len, 0);
    if (err == SL_OK) {
        sl_sb_reset(&j->hi);
        j->hi.oom = 0;
        sl_sb_putc(&j->hi, side == 'L' ? 'l' : 'r');
        be64_put(&j->hi, t);
        len_put(&j->hi, j->k.len);
        sl_sb_append(&j->hi, j->k.buf, j->k.len);
        be64_put(&j->hi, seq);
        err = j->hi.oom ? SL_ERR_NOMEM : sl_state_put(st, j->hi.buf, j->hi.len, "", 0, 0);
    }
    if (err != SL_OK)
        return sl_op_fail(op, "cannot keep a record of %zu bytes: %s", dlen, sl_err_str(err));
    return SL_OK;
}

typedef struct expire {
    sl_op_t *op;
    sl_state_t *st;
    ij_t *j;
    sl_err_t err;
} expire_t;

/* Deletes the row an index entry ('l'/'r' time klen key seq) points at. */
static int expire_cb(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    expire_t *e = opaque;
    const unsigned char *k = key;
    size_t kl;
    (void)val;
    (void)vlen;
    if (klen < 1 + 8 + 4)
        goto bad;
    kl = (size_t)k[9] << 24 | (size_t)k[10] << 16 | (size_t)k[11] << 8 | k[12];
    if (klen != 1 + 8 + 4 + kl + 8)
        goto bad;
    sl_sb_reset(&e->j->out);
    e->j->out.oom = 0;
    sl_sb_putc(&e->j->out, k[0] == 'l' ? 'L' : 'R');
    sl_sb_append(&e->j->out, k + 9, 4 + kl); /* klen and key */
    sl_sb_append(&e->j->out, k + 1, 8);      /* time */
    sl_sb_append(&e->j->out, k + 13 + kl, 8); /* seq */
    if (e->j->out.oom) {
        e->err = sl_op_fail(e->op, "out of memory");
        return 1;
    }
    e->err = sl_state_delete(e->st, e->j->out.buf, e->j->out.len);
    return e->err != SL_OK;
bad:
    e->err = sl_op_fail(e->op, "a stored index entry of the interval join is malformed");
    return 1;
}

/* Deletes side's rows with time < before (their index entries first to last). */
static sl_err_t expire(sl_op_t *op, ij_t *j, sl_state_t *st, char idx, int64_t before) {
    expire_t e = {op, st, j, SL_OK};
    unsigned char lo[1] = {(unsigned char)idx};
    sl_sb_t hi = {0};
    sl_err_t err;
    sl_sb_putc(&hi, idx);
    be64_put(&hi, before);
    if (hi.oom)
        return sl_op_fail(op, "out of memory");
    err = sl_state_scan_range(st, lo, 1, hi.buf, hi.len, expire_cb, &e);
    if (e.err == SL_OK && err == SL_OK)
        err = sl_state_delete_range(st, lo, 1, hi.buf, hi.len);
    sl_sb_free(&hi);
    if (e.err != SL_OK)
        return e.err;
    return err == SL_OK ? SL_OK : sl_op_fail(op, "cannot expire records: %s", sl_err_str(err));
}

static sl_err_t ij_on_watermark(sl_op_t *op, void *state, int64_t wm) {
    ij_t *j = state;
    sl_state_t *st = sl_op_state(op);
    sl_err_t err;
    if (!st || wm <= j->expired)
        return SL_OK;
    j->expired = wm;
    if (wm == SL_WATERMARK_END)
        return sl_state_clear(st);
    /* Records to come have times > wm. A left record l meets rights up to l.time + after: none
     * left to come once l.time + after <= wm. A right r meets lefts up to r.time + before. */
    err = expire(op, j, st, 'l', wm - j->c->after + 1);
    if (err == SL_OK)
        err = expire(op, j, st, 'r', wm - j->c->before + 1);
    return err;
}

const sl_operator_plugin_t sl_op_interval_join = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "interval-join",
    .description = "Flink's interval join: pairs of a left and a right record with the same key "
                   "and times at most `before` earlier or `after` later, after a repartition.",
    .props = ij_props,
    .conf_size = sizeof(ij_conf_t),
    .init = ij_init,
    .process = ij_process,
    .close = ij_close,
    .on_watermark = ij_on_watermark,
    .flags = SL_OPERATOR_F_STATEFUL,
};
