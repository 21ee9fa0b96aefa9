/*
 * expr.c: the SQLite expression engine behind the filter, map and rekey operators. Every
 * operator instance opens a private in-memory connection in which the record under processing
 * is the single row of the eponymous virtual table `rec`; user expressions are wrapped as
 * `SELECT (<expr>) FROM rec`, prepared once at init, and per record only stepped and reset.
 * This is the hot path of a filtering job: binding a record is two pointer stores, and the
 * virtual table hands SQLite the record's bytes with SQLITE_STATIC instead of copying them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "expr.h"
#include "operators.h"
#include "util_str.h"

#define EXPR_MAX 40 /* expressions per connection: map uses two, a window one per aggregate */

struct expr {
    sqlite3_stmt *stmt;
    char *text;
    char *key; /* operators.<name>.<key>, for runtime error messages */
};

struct expr_db {
    sqlite3 *db;
    const sl_record_t *rec; /* the bound record, NULL = no row */
    int cnt;
    expr_t exprs[EXPR_MAX];
};

/* Columns of `rec`, in declaration order. */
enum {
    COL_PAYLOAD,
    COL_KEY,
    COL_SYSTEM,
    COL_STREAM,
    COL_PARTITION,
    COL_OFFSET,
    COL_SUBSEQ,
    COL_EVENT_TIME,
    COL_ARRIVAL_TIME,
};

static const char rec_schema[] =
    "CREATE TABLE x(payload TEXT, key TEXT, system TEXT, stream TEXT, \"partition\" TEXT, "
    "\"offset\" TEXT, subseq INTEGER, event_time INTEGER, arrival_time INTEGER)";

typedef struct rec_cursor {
    sqlite3_vtab_cursor base;
    int eof;
} rec_cursor_t;

typedef struct rec_vtab {
    sqlite3_vtab base;
    expr_db_t *edb;
    rec_cursor_t spare; /* reused by every step; a second open cursor is allocated */
    int spare_busy;
} rec_vtab_t;

/* --- the `rec` virtual table ----------------------------------------------------------------- */

static int rec_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                       sqlite3_vtab **vtabp, char **errp) {
    int rc = sqlite3_declare_vtab(db, rec_schema);
    if (rc != SQLITE_OK)
        return rc;
    rec_vtab_t *vt = sqlite3_malloc(sizeof(*vt));
    if (!vt)
        return SQLITE_NOMEM;
    memset(vt, 0, sizeof(*vt));
    vt->edb = aux;
    *vtabp = &vt->base;
    return SQLITE_OK;
}

static int rec_disconnect(sqlite3_vtab *vtab) {
    sqlite3_free(vtab);
    return SQLITE_OK;
}

static int rec_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
    /* One row: no constraint helps, the core evaluates them all. */
    info->estimatedCost = 1.0;
    info->estimatedRows = 1;
    info->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
    return SQLITE_OK;
}

/* Every step of every expression opens and closes a cursor: the common case (one cursor at a
 * time) uses the spare one and allocates nothing. */
static int rec_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **curp) {
    rec_vtab_t *vt = (rec_vtab_t *)vtab;
    rec_cursor_t *cur;

    if (!vt->spare_busy) {
        vt->spare_busy = 1;
        cur = &vt->spare;
    } else if (!(cur = sqlite3_malloc(sizeof(*cur)))) {
        return SQLITE_NOMEM;
    }
    memset(cur, 0, sizeof(*cur));
    *curp = &cur->base;
    return SQLITE_OK;
}

static int rec_close(sqlite3_vtab_cursor *base) {
    rec_vtab_t *vt = (rec_vtab_t *)base->pVtab;
    if (base == &vt->spare.base)
        vt->spare_busy = 0;
    else
        sqlite3_free(base);
    return SQLITE_OK;
}

static int rec_filter(sqlite3_vtab_cursor *base, int idxnum, const char *idxstr, int argc,
                      sqlite3_value **argv) {
    rec_cursor_t *cur = (rec_cursor_t *)base;
    cur->eof = ((rec_vtab_t *)base->pVtab)->edb->rec == NULL;
    return SQLITE_OK;
}

static int rec_next(sqlite3_vtab_cursor *base) {
    ((rec_cursor_t *)base)->eof = 1;
    return SQLITE_OK;
}

static int rec_eof(sqlite3_vtab_cursor *base) {
    return ((rec_cursor_t *)base)->eof;
}

static void result_str(sqlite3_context *ctx, const char *s) {
    if (s)
        sqlite3_result_text(ctx, s, -1, SQLITE_STATIC);
    else
        sqlite3_result_null(ctx);
}

static int rec_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    const sl_record_t *rec = ((rec_vtab_t *)base->pVtab)->edb->rec;
    const sl_source_t *src;
    const char *p;
    size_t len;

    /* The record outlives the step (it is bound before and unbound after), so its bytes are
     * handed over without a copy. Lengths are explicit: payloads are not NUL-terminated. */
    switch (col) {
    case COL_PAYLOAD:
        p = sl_record_data(rec, &len);
        sqlite3_result_text(ctx, p, (int)len, SQLITE_STATIC);
        return SQLITE_OK;
    case COL_KEY:
        p = sl_record_key(rec, &len);
        if (p)
            sqlite3_result_text(ctx, p, (int)len, SQLITE_STATIC);
        else
            sqlite3_result_null(ctx);
        return SQLITE_OK;
    case COL_EVENT_TIME:
        sqlite3_result_int64(ctx, sl_record_event_time(rec));
        return SQLITE_OK;
    default:
        break;
    }
    src = sl_record_source(rec);
    if (!src) {
        sqlite3_result_null(ctx);
        return SQLITE_OK;
    }
    switch (col) {
    case COL_SYSTEM: result_str(ctx, src->system); break;
    case COL_STREAM: result_str(ctx, src->stream); break;
    case COL_PARTITION: result_str(ctx, src->partition); break;
    case COL_OFFSET: result_str(ctx, src->offset); break;
    case COL_SUBSEQ: sqlite3_result_int64(ctx, src->subseq); break;
    case COL_ARRIVAL_TIME: sqlite3_result_int64(ctx, src->arrival_ms); break;
    default: sqlite3_result_null(ctx); break;
    }
    return SQLITE_OK;
}

static int rec_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = 1;
    return SQLITE_OK;
}

/* Eponymous-only (no xCreate): `rec` exists in every connection the module is registered on,
 * and CREATE VIRTUAL TABLE cannot make more of it. */
static const sqlite3_module rec_module = {
    .iVersion = 0,
    .xConnect = rec_connect,
    .xBestIndex = rec_best_index,
    .xDisconnect = rec_disconnect,
    .xOpen = rec_open,
    .xClose = rec_close,
    .xFilter = rec_filter,
    .xNext = rec_next,
    .xEof = rec_eof,
    .xColumn = rec_column,
    .xRowid = rec_rowid,
};

/* header(name): the value of the bound record's header name, or NULL. */
static void fn_header(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    expr_db_t *edb = sqlite3_user_data(ctx);
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    if (!edb->rec || !name) {
        sqlite3_result_null(ctx);
        return;
    }
    result_str(ctx, sl_record_header(edb->rec, name));
}

/* --- connections and compilation ------------------------------------------------------------- */

sl_err_t expr_fail_conf(sl_op_t *op, const char *key, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_op_fail(op, "%s: %s%s: %s", sl_op_where(op, key), sl_op_prefix(op), key, msg);
    return SL_ERR_CONF;
}

sl_err_t expr_db_open(sl_op_t *op, expr_db_t **out) {
    expr_db_t *edb = calloc(1, sizeof(*edb));
    int rc;

    *out = NULL;
    if (!edb) {
        sl_op_fail(op, "operators.%s: out of memory", sl_op_name(op));
        return SL_ERR_NOMEM;
    }
    /* The connection never leaves the partition's worker thread: no mutex needed. */
    rc = sqlite3_open_v2(":memory:", &edb->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY |
                             SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE,
                         NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_module(edb->db, "rec", &rec_module, edb);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(edb->db, "header", 1, SQLITE_UTF8 | SQLITE_INNOCUOUS,
                                        edb, fn_header, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    /* Expressions only read: nothing may attach files or change the connection. */
    sqlite3_db_config(edb->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_limit(edb->db, SQLITE_LIMIT_ATTACHED, 0);
    /* A transaction left open for the connection's life: each step then finds its read
     * transaction already there and has nothing to commit when it halts (a third of the cost
     * of a trivial expression otherwise). */
    rc = sqlite3_exec(edb->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    *out = edb;
    return SL_OK;

fail:
    sl_op_fail(op, "operators.%s: cannot open the SQLite expression engine: %s", sl_op_name(op),
               edb->db ? sqlite3_errmsg(edb->db) : sqlite3_errstr(rc));
    sqlite3_close(edb->db);
    free(edb);
    return SL_ERR_STATE;
}

sqlite3 *expr_db_handle(expr_db_t *db) {
    return db->db;
}

void expr_db_close(expr_db_t *edb) {
    if (!edb)
        return;
    for (int i = 0; i < edb->cnt; i++) {
        sqlite3_finalize(edb->exprs[i].stmt);
        free(edb->exprs[i].text);
        free(edb->exprs[i].key);
    }
    sqlite3_close(edb->db);
    free(edb);
}

/*
 * Checks that text stays inside the parentheses the wrapper puts around it: parentheses balance
 * and never close the wrapper's own, no ';' and no unterminated quote or comment outside string
 * literals. Together with the empty-tail check after preparing, this rejects anything that is
 * not one expression ("1) FROM rec; SELECT (1", "1) FROM rec UNION SELECT (2"). Returns NULL
 * when fine, else why.
 */
static const char *check_single_expr(const char *text, char *why, size_t len) {
    int depth = 0, blank = 1;
    const char *p = text;

    while (*p) {
        char c = *p;
        if (c == '\'' || c == '"' || c == '`' || c == '[') {
            char end = c == '[' ? ']' : c;
            const char *start = p++;
            for (;;) {
                if (!*p) {
                    snprintf(why, len, "unterminated %s starting at offset %d",
                             c == '\'' ? "string literal" : "quoted identifier",
                             (int)(start - text));
                    return why;
                }
                if (*p == end) {
                    if (end != ']' && p[1] == end) { /* doubled quote: an escaped one */
                        p += 2;
                        continue;
                    }
                    break;
                }
                p++;
            }
            p++;
            blank = 0;
            continue;
        }
        if (c == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (c == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            if (!end) {
                snprintf(why, len, "unterminated comment starting at offset %d", (int)(p - text));
                return why;
            }
            p = end + 2;
            continue;
        }
        if (c == ';') {
            snprintf(why, len,
                     "';' at offset %d: the value must be a single SQL expression, not statements",
                     (int)(p - text));
            return why;
        }
        if (c == '(')
            depth++;
        if (c == ')' && --depth < 0) {
            snprintf(why, len,
                     "unbalanced ')' at offset %d: the value must be a single SQL expression",
                     (int)(p - text));
            return why;
        }
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\f')
            blank = 0;
        p++;
    }
    if (blank) {
        snprintf(why, len, "the expression is empty");
        return why;
    }
    if (depth > 0) {
        snprintf(why, len, "unbalanced '(': %d not closed", depth);
        return why;
    }
    return NULL;
}

sl_err_t expr_compile(expr_db_t *edb, sl_op_t *op, const char *key, const char *text,
                      int as_bool, expr_t **out) {
    sl_sb_t sql = {0};
    expr_t *ex;
    const char *tail = NULL;
    char why[160];
    sl_err_t err = SL_ERR_CONF;
    int rc;

    *out = NULL;
    if (edb->cnt >= EXPR_MAX)
        return expr_fail_conf(op, key, "too many expressions for one operator");
    ex = &edb->exprs[edb->cnt];
    if (!text)
        return expr_fail_conf(op, key, "the expression is missing");
    if (check_single_expr(text, why, sizeof(why)))
        return expr_fail_conf(op, key, "%s", why);

    /* The newline ends a trailing `--` comment before the wrapper's closing parenthesis. */
    if (as_bool)
        sl_sb_printf(&sql, "SELECT CASE WHEN (%s\n) THEN 1 ELSE 0 END FROM rec", text);
    else
        sl_sb_printf(&sql, "SELECT (%s\n) FROM rec", text);
    if (sql.oom) {
        err = expr_fail_conf(op, key, "out of memory");
        goto fail;
    }
    rc = sqlite3_prepare_v3(edb->db, sql.buf, (int)sql.len + 1, SQLITE_PREPARE_PERSISTENT,
                            &ex->stmt, &tail);
    if (rc != SQLITE_OK) {
        err = expr_fail_conf(op, key, "%s", sqlite3_errmsg(edb->db));
        goto fail;
    }
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r'))
        tail++;
    if (!ex->stmt || (tail && *tail) || sqlite3_column_count(ex->stmt) != 1 ||
        !sqlite3_stmt_readonly(ex->stmt)) {
        err = expr_fail_conf(op, key, "the value must be a single SQL expression");
        goto fail;
    }
    sl_sb_reset(&sql);
    sl_sb_printf(&sql, "%s%s", sl_op_prefix(op), key);
    ex->text = sl_strdup(text);
    ex->key = sql.oom ? NULL : sl_strdup(sql.buf);
    if (!ex->text || !ex->key) {
        err = expr_fail_conf(op, key, "out of memory");
        goto fail;
    }
    edb->cnt++;
    sl_sb_free(&sql);
    *out = ex;
    return SL_OK;

fail:
    sqlite3_finalize(ex->stmt);
    free(ex->text);
    free(ex->key);
    memset(ex, 0, sizeof(*ex));
    sl_sb_free(&sql);
    return err;
}

/* --- evaluation (the hot path) --------------------------------------------------------------- */

void expr_bind(expr_db_t *edb, const sl_record_t *rec) {
    edb->rec = rec;
}

static sl_err_t step_failed(expr_t *ex, sl_op_t *op) {
    sqlite3 *db = sqlite3_db_handle(ex->stmt);
    /* Copy the message out before the reset that may change it. */
    sl_op_fail(op, "%s: %s", ex->key, sqlite3_errmsg(db));
    sqlite3_reset(ex->stmt);
    return SL_ERR_RECORD;
}

sl_err_t expr_truth(expr_t *ex, sl_op_t *op, int *out) {
    int rc = sqlite3_step(ex->stmt);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(ex->stmt, 0);
    } else if (rc == SQLITE_DONE) {
        *out = 0; /* no record bound */
    } else {
        return step_failed(ex, op);
    }
    sqlite3_reset(ex->stmt);
    return SL_OK;
}

sl_err_t expr_value(expr_t *ex, sl_op_t *op, const void **data, size_t *len) {
    int rc = sqlite3_step(ex->stmt);
    *data = NULL;
    *len = 0;
    if (rc == SQLITE_DONE)
        return SL_OK;
    if (rc != SQLITE_ROW)
        return step_failed(ex, op);
    switch (sqlite3_column_type(ex->stmt, 0)) {
    case SQLITE_NULL:
        return SL_OK;
    case SQLITE_BLOB:
        *data = sqlite3_column_blob(ex->stmt, 0);
        *len = (size_t)sqlite3_column_bytes(ex->stmt, 0);
        if (!*data) /* a zero-length blob */
            *data = "";
        return SL_OK;
    default: /* text as it is; numbers converted to their text form */
        *data = sqlite3_column_text(ex->stmt, 0);
        *len = (size_t)sqlite3_column_bytes(ex->stmt, 0);
        if (!*data) {
            sl_op_fail(op, "%s: out of memory", ex->key);
            sqlite3_reset(ex->stmt);
            return SL_ERR_NOMEM;
        }
        return SL_OK;
    }
}

sl_err_t expr_sqlvalue(expr_t *ex, sl_op_t *op, sqlite3_value **out) {
    int rc = sqlite3_step(ex->stmt);
    *out = NULL;
    if (rc == SQLITE_DONE)
        return SL_OK;
    if (rc != SQLITE_ROW)
        return step_failed(ex, op);
    *out = sqlite3_column_value(ex->stmt, 0);
    return SL_OK;
}

void expr_reset(expr_t *ex) {
    sqlite3_reset(ex->stmt);
}

const char *expr_text(const expr_t *ex) {
    return ex->text;
}
