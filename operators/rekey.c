/*
 * rekey.c: the built-in `rekey` operator. It gives every record a new key computed by a SQLite
 * expression over the record (expr.c), typically before a producer that partitions by key;
 * a NULL result removes the key. The payload is passed on untouched (not copied).
 */
#include <stdlib.h>
#include <stddef.h>

#include "operators.h"
#include "expr.h"

typedef struct rekey_conf {
    char *expr;
} rekey_conf_t;

typedef struct rekey {
    expr_db_t *db;
    expr_t *expr;
} rekey_t;

static const sl_prop_t rekey_props[] = {
    {"expr", SL_PROP_STRING, offsetof(rekey_conf_t, expr), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "SQLite expression whose result becomes the record's key (a number is formatted as text; "
     "NULL removes the key). Same columns and header(name) function as the filter operator. "
     "Example: `json_extract(payload, '$.user.id')`."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static void rekey_close(sl_op_t *op, void *state) {
    rekey_t *r = state;
    if (!r)
        return;
    expr_db_close(r->db);
    free(r);
}

static sl_err_t rekey_init(sl_op_t *op, const void *conf, void **statep) {
    const rekey_conf_t *rc = conf;
    rekey_t *r = calloc(1, sizeof(*r));
    sl_err_t err;

    if (!r)
        return expr_fail_conf(op, "expr", "out of memory");
    err = expr_db_open(op, &r->db);
    if (err == SL_OK)
        err = expr_compile(r->db, op, "expr", rc->expr, 0, &r->expr);
    if (err != SL_OK)
        goto fail;
    *statep = r;
    return SL_OK;

fail:
    rekey_close(op, r);
    return err;
}

static sl_err_t rekey_process(sl_op_t *op, void *state, sl_record_t *rec) {
    rekey_t *r = state;
    const void *key;
    size_t len;
    sl_err_t err;

    expr_bind(r->db, rec);
    err = expr_value(r->expr, op, &key, &len);
    if (err != SL_OK)
        goto done;
    /* `expr=key` hands back the record's own key: nothing to change (and copying a key onto
     * itself would read freed memory). */
    {
        size_t cur_len = 0;
        const char *cur = sl_record_key(rec, &cur_len);
        if (key != (const void *)cur || len != cur_len)
            err = sl_record_set_key(rec, key, len);
    }
    expr_reset(r->expr);
    if (err != SL_OK)
        sl_op_fail(op, "cannot set the key: %s", sl_err_str(err));

done:
    expr_bind(r->db, NULL);
    return err != SL_OK ? err : sl_op_emit(op, rec);
}

const sl_operator_plugin_t sl_op_rekey = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "rekey",
    .description = "Sets each record's key from a SQLite expression.",
    .props = rekey_props,
    .conf_size = sizeof(rekey_conf_t),
    .init = rekey_init,
    .process = rekey_process,
    .close = rekey_close,
};
