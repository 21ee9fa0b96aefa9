/*
 * map.c: the built-in `map` operator. It replaces each record's payload (and optionally its key)
 * with the results of SQLite expressions over the record (expr.c), e.g. to reshape JSON with
 * json_object() or to cut a field out; a record whose payload expression gives NULL is dropped
 * and counted. Headers, event time and source metadata are passed on unchanged.
 */
#include <stdlib.h>
#include <stddef.h>

#include "operators.h"
#include "expr.h"
#include "util_str.h"

typedef struct map_conf {
    char *expr;
    char *key_expr;
} map_conf_t;

typedef struct map {
    expr_db_t *db;
    expr_t *expr;
    expr_t *key_expr; /* NULL when the key is kept */
    sl_sb_t key;         /* the new key, copied out before the record changes */
    uint64_t dropped;
} map_t;

static const sl_prop_t map_props[] = {
    {"expr", SL_PROP_STRING, offsetof(map_conf_t, expr), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "SQLite expression whose result becomes the new payload: text or blob bytes as they are, a "
     "number formatted as text. A NULL result drops the record (counted, and logged with "
     "log.debug=op). Same columns and header(name) function as the filter operator. Example: "
     "`json_object('msg', json_extract(payload, '$.message'), 'at', event_time)`."},
    {"key.expr", SL_PROP_STRING, offsetof(map_conf_t, key_expr), NULL, 0, 0, NULL, 0,
     "Optional SQLite expression whose result becomes the new key (NULL removes the key). It "
     "sees the record as it was before `expr` replaced the payload."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static void map_close(sl_op_t *op, void *state) {
    map_t *m = state;
    if (!m)
        return;
    if (m->dropped)
        sl_log(SL_LOG_INFO, "op", "operators.%s: %llu record(s) dropped because expr gave NULL",
               sl_op_name(op), (unsigned long long)m->dropped);
    expr_db_close(m->db);
    sl_sb_free(&m->key);
    free(m);
}

static sl_err_t map_init(sl_op_t *op, const void *conf, void **statep) {
    const map_conf_t *mc = conf;
    map_t *m = calloc(1, sizeof(*m));
    sl_err_t err;

    if (!m)
        return expr_fail_conf(op, "expr", "out of memory");
    err = expr_db_open(op, &m->db);
    if (err == SL_OK)
        err = expr_compile(m->db, op, "expr", mc->expr, 0, &m->expr);
    if (err == SL_OK && mc->key_expr)
        err = expr_compile(m->db, op, "key.expr", mc->key_expr, 0, &m->key_expr);
    if (err != SL_OK)
        goto fail;
    *statep = m;
    return SL_OK;

fail:
    map_close(op, m);
    return err;
}

static sl_err_t map_process(sl_op_t *op, void *state, sl_record_t *rec) {
    map_t *m = state;
    const void *data, *key = NULL;
    size_t len, klen = 0;
    int key_null = 0;
    sl_err_t err;

    expr_bind(m->db, rec);
    err = expr_value(m->expr, op, &data, &len);
    if (err != SL_OK)
        goto done;
    if (m->key_expr) {
        err = expr_value(m->key_expr, op, &key, &klen);
        if (err != SL_OK) {
            expr_reset(m->expr);
            goto done;
        }
        /* Either result may point into the record's payload or key, which the first change
         * frees: the key is copied aside (into reused memory) before anything changes. */
        key_null = key == NULL;
        sl_sb_reset(&m->key);
        if (!key_null)
            sl_sb_append(&m->key, key, klen);
        expr_reset(m->key_expr);
        if (m->key.oom) {
            expr_reset(m->expr);
            err = sl_op_fail(op, "key.expr: out of memory");
            goto done;
        }
    }
    if (!data) {
        expr_reset(m->expr);
        m->dropped++;
        if (sl_log_debug_enabled("op"))
            sl_log_debug("op", "operators.%s: map: expression gave NULL, record dropped (%llu so "
                               "far)",
                         sl_op_name(op), (unsigned long long)m->dropped);
        goto done;
    }
    {
        size_t cur_len;
        const void *cur = sl_record_data(rec, &cur_len);
        if (data != cur || len != cur_len) /* `expr=payload` changes nothing */
            err = sl_record_set_data(rec, data, len);
    }
    expr_reset(m->expr);
    if (err == SL_OK && m->key_expr)
        err = sl_record_set_key(rec, key_null ? NULL : m->key.buf ? m->key.buf : "",
                                key_null ? 0 : m->key.len);
    if (err != SL_OK) {
        sl_op_fail(op, "cannot change the record: %s", sl_err_str(err));
        goto done;
    }
    expr_bind(m->db, NULL);
    return sl_op_emit(op, rec);

done:
    expr_bind(m->db, NULL);
    return err;
}

const sl_operator_plugin_t sl_op_map = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "map",
    .description = "Replaces each record's payload (and optionally key) with SQLite expressions.",
    .props = map_props,
    .conf_size = sizeof(map_conf_t),
    .init = map_init,
    .process = map_process,
    .close = map_close,
};
