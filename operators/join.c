/*
 * join.c: the built-in `join` operator, a stream-table join. One input of the job is the table
 * (`table`, a broadcast input and usually a bootstrap one: a file of rows, a Kinesis stream of
 * changes, a DynamoDB table's stream): its records are not passed on but kept, the newest value
 * per `table.key`, in a job-wide table in the keyed state (a NULL `table.value` deletes the key,
 * as a DynamoDB REMOVE does). Every record of the other inputs is looked up by `key` in that
 * table and goes on with the row it found set as the field `as` of its JSON object (inner: only
 * records that found one; left: the others with null).
 *
 * The table is shared by the instances on every partition (sl_op_table_state()): the instances
 * on the table's own partitions write it, cached like any keyed state and committed with their
 * partitions' offsets; the others read what was committed, so an update of the table reaches the
 * lookups within task.commit.ms (and the bootstrap commits before the other inputs start). A
 * table update replayed after a crash is applied again, which an upsert or a deletion can be.
 *
 * State: key 'k' + the key's bytes -> the row as JSON text.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "expr.h"
#include "operators.h"
#include "sluice/state.h"
#include "util_str.h"

typedef struct join_conf {
    char *table;
    char *table_key;
    char *table_value;
    char *key;
    int kind; /* 0 inner, 1 left */
    char *as;
} join_conf_t;

typedef struct join {
    expr_db_t *db;
    expr_t *tkey, *tval, *key;
    char *sys, *stream; /* of the table input */
    char *table;        /* "system/stream": the job-wide table's name */
    int left;
    char *path;            /* JSON path of the output field: $."<as>" */
    sqlite3_stmt *out;     /* the stream record with the row set at path */
    sqlite3_stmt *norm;    /* a table value as JSON text */
    sl_sb_t kbuf;      /* the state key */
    sl_op_counter_t *m_unmatched, *m_rows;
} join_t;

#define JO(f) offsetof(join_conf_t, f)
static const sl_prop_t join_props[] = {
    {"table", SL_PROP_STRING, JO(table), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "The table's input, as <system>.<stream>: also in task.inputs and task.broadcast.inputs, "
     "and usually a bootstrap input (samza.bootstrap=true) so that the table is complete "
     "before the first lookup. Its records update the table and are not passed on."},
    {"table.key", SL_PROP_STRING, JO(table_key), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "SQLite expression over a table record: the key of the row it writes (compared as bytes, "
     "a number as text). A record for which it is NULL changes nothing. Example for a DynamoDB "
     "stream: `json_extract(payload, '$.dynamodb.Keys.id.S')`."},
    {"table.value", SL_PROP_STRING, JO(table_value), "payload", 0, 0, NULL, 0,
     "SQLite expression over a table record: the row kept for its key, as JSON (text that is "
     "not JSON is kept as a JSON string); NULL deletes the key. Example for a DynamoDB stream: "
     "`CASE json_extract(payload, '$.eventName') WHEN 'REMOVE' THEN NULL ELSE "
     "json_extract(payload, '$.dynamodb.NewImage') END`."},
    {"key", SL_PROP_STRING, JO(key), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "SQLite expression over a record of the other inputs: the key looked up in the table. "
     "NULL finds nothing."},
    {"kind", SL_PROP_ENUM, JO(kind), "inner", 0, 0, "inner|left", 0,
     "inner: a record whose key is not in the table is dropped (counted in "
     "sluice_join_unmatched_total); left: it goes on with null as the row."},
    {"as", SL_PROP_STRING, JO(as), "table", 0, 0, NULL, 0,
     "The field of the record's JSON object that receives the row (replaced when present). A "
     "record whose payload is not a JSON object fails (task.error.policy decides)."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static void join_close(sl_op_t *op, void *state) {
    join_t *j = state;
    (void)op;
    if (!j)
        return;
    sqlite3_finalize(j->out);
    sqlite3_finalize(j->norm);
    expr_db_close(j->db);
    free(j->sys);
    free(j->stream);
    free(j->table);
    free(j->path);
    sl_sb_free(&j->kbuf);
    free(j);
}

static sl_err_t join_init(sl_op_t *op, const void *conf, void **statep) {
    const join_conf_t *jc = conf;
    const char *part = sl_op_partition(op), *dot = strchr(jc->table, '.');
    sl_sb_t path = {0};
    join_t *j;
    sl_err_t err;
    sqlite3 *db;

    if (!dot || dot == jc->table || !dot[1])
        return expr_fail_conf(op, "table", "'%s' is not <system>.<stream>", jc->table);
    if (!*jc->as)
        return expr_fail_conf(op, "as", "the output field needs a name");
    if (part && *part && !sl_op_state(op))
        return sl_op_fail(op, "join needs keyed state, and partition %s has none: its input "
                          "keeps no checkpoints (stdin, for one)", part);
    if (!(j = calloc(1, sizeof(*j))))
        return expr_fail_conf(op, "table", "out of memory");
    j->left = jc->kind == 1;
    j->sys = sl_strndup(jc->table, (size_t)(dot - jc->table));
    j->stream = sl_strdup(dot + 1);
    j->table = sl_strdup(jc->table);
    /* $."<as>": in a JSON path a quote or backslash of the name is escaped by a backslash. */
    sl_sb_append(&path, "$.\"", 3);
    for (const char *c = jc->as; *c; c++) {
        if (*c == '"' || *c == '\\')
            sl_sb_append(&path, "\\", 1);
        sl_sb_append(&path, c, 1);
    }
    sl_sb_append(&path, "\"", 2); /* with its NUL */
    j->path = path.buf;
    if (!j->sys || !j->stream || !j->table || path.oom || !j->path) {
        if (path.oom)
            sl_sb_free(&path);
        j->path = NULL;
        join_close(op, j);
        return expr_fail_conf(op, "table", "out of memory");
    }
    j->table[dot - jc->table] = '/';
    err = expr_db_open(op, &j->db);
    if (err == SL_OK)
        err = expr_compile(j->db, op, "table.key", jc->table_key, 0, &j->tkey);
    if (err == SL_OK)
        err = expr_compile(j->db, op, "table.value", jc->table_value, 0, &j->tval);
    if (err == SL_OK)
        err = expr_compile(j->db, op, "key", jc->key, 0, &j->key);
    if (err != SL_OK)
        goto fail;
    db = expr_db_handle(j->db);
    if (sqlite3_prepare_v3(db, "SELECT CASE json_type(?1) WHEN 'object' THEN "
                               "json_set(?1, ?2, json(?3)) END", -1, SQLITE_PREPARE_PERSISTENT,
                           &j->out, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db, "SELECT CASE WHEN json_valid(?1) THEN json(?1) "
                               "ELSE json_quote(?1) END", -1, SQLITE_PREPARE_PERSISTENT,
                           &j->norm, NULL) != SQLITE_OK) {
        err = expr_fail_conf(op, "table", "cannot prepare the join: %s", sqlite3_errmsg(db));
        goto fail;
    }
    j->m_unmatched = sl_op_counter(op, "sluice_join_unmatched_total",
                                   "Records a join found no table row for (dropped by an inner "
                                   "join, passed on with null by a left one).");
    j->m_rows = sl_op_counter(op, "sluice_join_table_changes_total",
                              "Table records a join applied to its table (rows written or "
                              "deleted).");
    *statep = j;
    return SL_OK;
fail:
    join_close(op, j);
    return err;
}

/* j->kbuf = 'k' + the bytes of expression ex over the bound record. *null: it was NULL. */
static sl_err_t eval_key(sl_op_t *op, join_t *j, expr_t *ex, int *null) {
    const void *v;
    size_t len = 0;
    sl_err_t err = expr_value(ex, op, &v, &len);
    if (err != SL_OK)
        return err;
    *null = v == NULL;
    sl_sb_reset(&j->kbuf);
    j->kbuf.oom = 0;
    sl_sb_append(&j->kbuf, "k", 1);
    if (v && len)
        sl_sb_append(&j->kbuf, v, len);
    expr_reset(ex);
    return j->kbuf.oom ? sl_op_fail(op, "out of memory for a key of %zu bytes", len) : SL_OK;
}

/* A record of the table: write (or delete) its row. Nothing goes on. */
static sl_err_t table_update(sl_op_t *op, join_t *j, sl_record_t *rec) {
    sl_state_t *st = sl_op_table_state(op, j->table, 1);
    const void *v;
    size_t len = 0;
    int null;
    sl_err_t err;

    if (!st)
        return sl_op_fail(op, "no keyed state for the table %s on partition %s", j->table,
                          sl_op_partition(op) ? sl_op_partition(op) : "-");
    expr_bind(j->db, rec);
    if ((err = eval_key(op, j, j->tkey, &null)) != SL_OK || null)
        goto done;
    if ((err = expr_value(j->tval, op, &v, &len)) != SL_OK)
        goto done;
    if (!v) {
        expr_reset(j->tval);
        err = sl_state_delete(st, j->kbuf.buf, j->kbuf.len);
        if (err != SL_OK)
            err = sl_op_fail(op, "cannot delete a row of the table %s: %s", j->table,
                             sl_err_str(err));
    } else {
        int rc;
        sqlite3_bind_text64(j->norm, 1, v, len, SQLITE_STATIC, SQLITE_UTF8);
        rc = sqlite3_step(j->norm);
        if (rc == SQLITE_ROW)
            err = sl_state_put(st, j->kbuf.buf, j->kbuf.len, sqlite3_column_text(j->norm, 0),
                               (size_t)sqlite3_column_bytes(j->norm, 0), 0);
        else
            err = sl_op_fail(op, "table.value: %s", sqlite3_errmsg(expr_db_handle(j->db)));
        if (rc == SQLITE_ROW && err != SL_OK)
            err = sl_op_fail(op, "cannot write a row of %zu bytes to the table %s: %s", len,
                             j->table, sl_err_str(err));
        sqlite3_reset(j->norm);
        sqlite3_clear_bindings(j->norm);
        expr_reset(j->tval);
    }
    if (err == SL_OK)
        sl_op_counter_add(j->m_rows, 1);
done:
    expr_bind(j->db, NULL);
    return err;
}

/* A record of the other inputs: look its key up, pass it on with the row. */
static sl_err_t lookup(sl_op_t *op, join_t *j, sl_record_t *rec) {
    sl_state_t *st = sl_op_table_state(op, j->table, 0);
    const void *row = NULL, *data;
    size_t rowlen = 0, dlen;
    int null, rc;
    sl_err_t err;

    if (!st)
        return sl_op_fail(op, "no keyed state to read the table %s from on partition %s",
                          j->table, sl_op_partition(op) ? sl_op_partition(op) : "-");
    expr_bind(j->db, rec);
    err = eval_key(op, j, j->key, &null);
    expr_bind(j->db, NULL);
    if (err != SL_OK)
        return err;
    if (!null) {
        err = sl_state_get(st, j->kbuf.buf, j->kbuf.len, &row, &rowlen);
        if (err != SL_OK && err != SL_ERR_NOENT)
            return sl_op_fail(op, "cannot read the table %s: %s", j->table, sl_err_str(err));
        if (err == SL_ERR_NOENT)
            row = NULL;
    }
    if (!row) {
        sl_op_counter_add(j->m_unmatched, 1);
        if (!j->left)
            return SL_OK;
    }
    data = sl_record_data(rec, &dlen);
    sqlite3_bind_text64(j->out, 1, data ? data : "", dlen, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_text(j->out, 2, j->path, -1, SQLITE_STATIC);
    if (row)
        sqlite3_bind_text64(j->out, 3, row, rowlen, SQLITE_STATIC, SQLITE_UTF8);
    else
        sqlite3_bind_text(j->out, 3, "null", 4, SQLITE_STATIC);
    rc = sqlite3_step(j->out);
    if (rc != SQLITE_ROW)
        err = sl_op_fail(op, "the record is not JSON: %s", sqlite3_errmsg(expr_db_handle(j->db)));
    else if (sqlite3_column_type(j->out, 0) == SQLITE_NULL)
        err = sl_op_fail(op, "the record is not a JSON object: a join sets the field of one");
    else
        err = sl_record_set_data(rec, sqlite3_column_text(j->out, 0),
                                 (size_t)sqlite3_column_bytes(j->out, 0));
    sqlite3_reset(j->out);
    sqlite3_clear_bindings(j->out);
    if (err == SL_ERR_NOMEM)
        return sl_op_fail(op, "out of memory for a joined record");
    if (err != SL_OK)
        return err;
    return sl_op_emit(op, rec);
}

static sl_err_t join_process(sl_op_t *op, void *state, sl_record_t *rec) {
    join_t *j = state;
    const sl_source_t *src = sl_record_source(rec);
    if (src && src->system && src->stream && !strcmp(src->system, j->sys) &&
        !strcmp(src->stream, j->stream))
        return table_update(op, j, rec);
    return lookup(op, j, rec);
}

const sl_operator_plugin_t sl_op_join = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "join",
    .description = "Stream-table join: records of the other inputs are enriched with the row of "
                   "a table kept from a broadcast input (inner or left).",
    .props = join_props,
    .conf_size = sizeof(join_conf_t),
    .init = join_init,
    .process = join_process,
    .close = join_close,
    .flags = SL_OPERATOR_F_STATEFUL,
};
