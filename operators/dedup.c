/*
 * dedup.c: the built-in `dedup` operator. It passes on the first record of every key (the value
 * of the SQLite expression `operators.<name>.key` over the record, by default the record's own
 * key) and drops the records with the same key that follow within `ttl`: the at-least-once
 * duplicates of a replay become one record downstream. The keys seen live in the operator's
 * keyed state (sluice/state.h), committed in the transaction of the partition's offsets, so a
 * restart after a crash remembers exactly the keys of the records up to the committed offset:
 * a replayed record is passed on again only if its first pass was after that offset.
 */
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "operators.h"
#include "expr.h"
#include "sluice/state.h"

typedef struct dedup_conf {
    char *key;
    int64_t ttl_ms;
} dedup_conf_t;

typedef struct dedup {
    expr_db_t *db;
    expr_t *key;
    int64_t ttl_ms;
    unsigned char *buf; /* the state key: one tag byte, then the expression's bytes */
    size_t cap;
    sl_op_counter_t *m_dropped;
} dedup_t;

static const sl_prop_t dedup_props[] = {
    {"key", SL_PROP_STRING, offsetof(dedup_conf_t, key), "key", 0, 0, NULL, 0,
     "SQLite expression whose value identifies a record: of the records with equal values only "
     "the first passes (compared as bytes; a number is formatted as text). The default `key` is "
     "the record's key. A record for which it is NULL is passed on and not remembered. Same "
     "columns and header(name) function as the filter operator. Example: "
     "`json_extract(payload, '$.id')`."},
    {"ttl", SL_PROP_DURATION, offsetof(dedup_conf_t, ttl_ms), NULL, 0, 8.64e10, NULL,
     SL_PROP_F_REQUIRED,
     "How long a key is remembered, counted from the record that passed (the duplicates dropped "
     "do not extend it); after it, the next record of the key passes again. Processing time: the "
     "runtime's clock (job.clock under test) when the record is processed, not the record's "
     "event time (event-time dedup comes later). 0 remembers keys forever, so the keyed state "
     "grows with every distinct key. Cover the longest replay you expect (a restart after a "
     "crash replays from the last commit, see task.commit.ms)."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static void dedup_close(sl_op_t *op, void *state) {
    dedup_t *d = state;
    if (!d)
        return;
    expr_db_close(d->db);
    free(d->buf);
    free(d);
}

static sl_err_t dedup_init(sl_op_t *op, const void *conf, void **statep) {
    const dedup_conf_t *dc = conf;
    const char *part = sl_op_partition(op);
    dedup_t *d;
    sl_err_t err;

    /* The validation instance (no partition) has no store; every partition's instance needs
     * one, so a job whose input keeps no checkpoints fails when it opens, not on a record. */
    if (part && *part && !sl_op_state(op))
        return sl_op_fail(op, "dedup needs keyed state, and partition %s has none: its input "
                          "keeps no checkpoints (stdin, for one)", part);
    if (!(d = calloc(1, sizeof(*d))))
        return expr_fail_conf(op, "key", "out of memory");
    d->ttl_ms = dc->ttl_ms;
    err = expr_db_open(op, &d->db);
    if (err == SL_OK)
        err = expr_compile(d->db, op, "key", dc->key, 0, &d->key);
    if (err != SL_OK)
        goto fail;
    d->m_dropped = sl_op_counter(op, "sluice_dedup_dropped_total",
                                 "Records a dedup operator dropped as duplicates of a key seen "
                                 "within its ttl.");
    *statep = d;
    return SL_OK;

fail:
    dedup_close(op, d);
    return err;
}

/* Copies the key's bytes behind a tag byte into d->buf: the state refuses empty keys, and an
 * empty string is a key like any other here. */
static sl_err_t make_key(dedup_t *d, const void *key, size_t len) {
    if (len + 1 > d->cap) {
        size_t cap = len + 1 < 64 ? 64 : (len + 1) * 2;
        unsigned char *buf = realloc(d->buf, cap);
        if (!buf)
            return SL_ERR_NOMEM;
        d->buf = buf;
        d->cap = cap;
    }
    d->buf[0] = 'k';
    if (len)
        memcpy(d->buf + 1, key, len);
    return SL_OK;
}

static sl_err_t dedup_process(sl_op_t *op, void *state, sl_record_t *rec) {
    dedup_t *d = state;
    sl_state_t *st = sl_op_state(op);
    const void *key, *val;
    size_t len = 0, vlen;
    sl_err_t err;

    if (!st)
        return sl_op_fail(op, "no keyed state for partition %s",
                          sl_op_partition(op) ? sl_op_partition(op) : "-");
    expr_bind(d->db, rec);
    err = expr_value(d->key, op, &key, &len);
    if (err != SL_OK) {
        expr_bind(d->db, NULL);
        return err; /* sl_op_fail() said why; task.error.policy decides */
    }
    if (!key) {
        expr_reset(d->key);
        expr_bind(d->db, NULL);
        return sl_op_emit(op, rec);
    }
    /* The bytes may point into the record or SQLite: copy them before the reset. */
    err = make_key(d, key, len);
    expr_reset(d->key);
    expr_bind(d->db, NULL);
    if (err != SL_OK)
        return sl_op_fail(op, "out of memory for a key of %zu bytes", len);

    err = sl_state_get(st, d->buf, len + 1, &val, &vlen);
    if (err == SL_OK) {
        sl_op_counter_add(d->m_dropped, 1); /* a duplicate */
        return SL_OK;
    }
    if (err != SL_ERR_NOENT)
        return sl_op_fail(op, "cannot read the keyed state: %s", sl_err_str(err));
    /* Remembered only once passed on: a record whose emit failed (and that task.error.policy
     * may skip) must not make its later duplicates look seen. d->buf is ours, so the emit
     * cannot disturb it. */
    if ((err = sl_op_emit(op, rec)) != SL_OK)
        return err;
    err = sl_state_put(st, d->buf, len + 1, "", 0, d->ttl_ms);
    if (err != SL_OK)
        return sl_op_fail(op, "cannot remember a key of %zu bytes: %s", len, sl_err_str(err));
    return SL_OK;
}

const sl_operator_plugin_t sl_op_dedup = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "dedup",
    .description = "Keeps the first record per key within a TTL (keyed state), drops the rest.",
    .props = dedup_props,
    .conf_size = sizeof(dedup_conf_t),
    .init = dedup_init,
    .process = dedup_process,
    .close = dedup_close,
    .flags = SL_OPERATOR_F_STATEFUL,
};
