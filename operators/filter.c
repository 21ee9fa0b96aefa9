/*
 * filter.c: the built-in `filter` operator. It sits anywhere in a chain and passes on only the
 * records for which its SQLite expression (`operators.<name>.expr`, evaluated over the record's
 * `rec` row by expr.c) is true; the others are dropped. In a file -> filter -> file job this is
 * the whole per-record work, so process() is one bind, one step and one reset.
 */
#include <stdlib.h>
#include <stddef.h>

#include "operators.h"
#include "expr.h"

typedef struct filter_conf {
    char *expr;
} filter_conf_t;

typedef struct filter {
    expr_db_t *db;
    expr_t *expr;
} filter_t;

static const sl_prop_t filter_props[] = {
    {"expr", SL_PROP_STRING, offsetof(filter_conf_t, expr), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "SQLite expression deciding which records pass: a record is kept when it is true as in a "
     "WHERE clause (a non-zero number; NULL is false). Columns: payload, key, system, stream, "
     "partition, offset, subseq, event_time, arrival_time; header(name) gives a header. "
     "Example: `json_extract(payload, '$.level') = 'error'`."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static void filter_close(sl_op_t *op, void *state) {
    filter_t *f = state;
    if (!f)
        return;
    expr_db_close(f->db);
    free(f);
}

static sl_err_t filter_init(sl_op_t *op, const void *conf, void **statep) {
    const filter_conf_t *fc = conf;
    filter_t *f = calloc(1, sizeof(*f));
    sl_err_t err;

    if (!f)
        return expr_fail_conf(op, "expr", "out of memory");
    err = expr_db_open(op, &f->db);
    if (err == SL_OK)
        err = expr_compile(f->db, op, "expr", fc->expr, 1, &f->expr);
    if (err != SL_OK)
        goto fail;
    *statep = f;
    return SL_OK;

fail:
    filter_close(op, f);
    return err;
}

static sl_err_t filter_process(sl_op_t *op, void *state, sl_record_t *rec) {
    filter_t *f = state;
    int keep = 0;
    sl_err_t err;

    expr_bind(f->db, rec);
    err = expr_truth(f->expr, op, &keep);
    expr_bind(f->db, NULL);
    if (err != SL_OK)
        return err;
    return keep ? sl_op_emit(op, rec) : SL_OK;
}

const sl_operator_plugin_t sl_op_filter = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "filter",
    .description = "Keeps the records for which a SQLite expression is true.",
    .props = filter_props,
    .conf_size = sizeof(filter_conf_t),
    .init = filter_init,
    .process = filter_process,
    .close = filter_close,
};
