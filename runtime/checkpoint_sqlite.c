/*
 * checkpoint_sqlite.c: the embedded checkpoint store. Workers commit the last processed offset of
 * each partition here once its records are safely out of the chain; on start the consumers read
 * it back to resume. One SQLite file may hold the checkpoints of several jobs, keyed by
 * (job name, job id, system, stream, partition). The file is in WAL mode with synchronous=FULL,
 * so a write that returned survives kill -9 and power loss; one connection per store, guarded by
 * a mutex, serves every worker thread (commits are rare, so contention is not a concern).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "checkpoint.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

/* The schema this code writes. A file with a larger PRAGMA user_version was written by a newer
 * sluice and is refused rather than misread. */
#define CKPT_SCHEMA_VERSION 2
#define CKPT_BUSY_TIMEOUT_MS 5000

/* "partition" and "offset" are SQL keywords, hence the quotes. */
static const char ckpt_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sluice_checkpoints ("
    " job_name TEXT NOT NULL,"
    " job_id TEXT NOT NULL,"
    " system TEXT NOT NULL,"
    " stream TEXT NOT NULL,"
    " \"partition\" TEXT NOT NULL,"
    " \"offset\" TEXT NOT NULL,"
    " sub_offset INTEGER NOT NULL DEFAULT 0,"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (job_name, job_id, system, stream, \"partition\"))";

/* Version 2: the operators' keyed state (state.c), per (job, task = system/stream/partition,
 * operator instance). expires_at: ms since the epoch, 0 never. Keys are always bound as blobs,
 * so they sort bytewise (prefix scans are ranges). */
static const char state_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sluice_state ("
    " job_name TEXT NOT NULL,"
    " job_id TEXT NOT NULL,"
    " task TEXT NOT NULL,"
    " operator TEXT NOT NULL,"
    " key BLOB NOT NULL,"
    " value BLOB NOT NULL,"
    " expires_at INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (job_name, job_id, task, operator, key)) WITHOUT ROWID";

/* Changes of the state not committed yet that the cache had to spill: a TEMP table, private to
 * this connection and gone with the process, so nothing uncommitted survives a crash. value
 * NULL: deleted. */
static const char state_pending_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS sluice_state_pending ("
    " task TEXT NOT NULL,"
    " operator TEXT NOT NULL,"
    " key BLOB NOT NULL,"
    " value BLOB,"
    " expires_at INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (task, operator, key)) WITHOUT ROWID";

enum {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_UPSERT,
    STMT_READ,
    STMT_LIST,
    STMT_RESET,
    STMT_RESET_STATE,
    STMT_COUNT
};

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_UPSERT] = "INSERT INTO sluice_checkpoints (job_name, job_id, system, stream,"
                    " \"partition\", \"offset\", sub_offset, updated_at)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    " ON CONFLICT (job_name, job_id, system, stream, \"partition\") DO UPDATE SET"
                    " \"offset\" = excluded.\"offset\", sub_offset = excluded.sub_offset,"
                    " updated_at = excluded.updated_at",
    [STMT_READ] = "SELECT \"offset\", sub_offset FROM sluice_checkpoints"
                  " WHERE job_name = ?1 AND job_id = ?2 AND system = ?3 AND stream = ?4"
                  " AND \"partition\" = ?5",
    [STMT_LIST] = "SELECT system, stream, \"partition\", \"offset\", sub_offset, updated_at"
                  " FROM sluice_checkpoints WHERE job_name = ?1 AND job_id = ?2"
                  " AND (?3 IS NULL OR stream = ?3) AND (?4 IS NULL OR \"partition\" = ?4)"
                  " ORDER BY system, stream, \"partition\"",
    /* (parenthesised: clang takes a two-piece literal in an array for a missing comma) */
    [STMT_RESET] = ("DELETE FROM sluice_checkpoints WHERE job_name = ?1 AND job_id = ?2"
                    " AND (?3 IS NULL OR stream = ?3) AND (?4 IS NULL OR \"partition\" = ?4)"),
    /* The keyed state of the same partitions (a partition read again from its start must not
     * count on top of its old state): all of the job's without filters, else that of the tasks
     * whose checkpoints go. Run first, in the reset's transaction. */
    [STMT_RESET_STATE] = ("DELETE FROM sluice_state WHERE job_name = ?1 AND job_id = ?2"
                          " AND ((?3 IS NULL AND ?4 IS NULL) OR task IN (SELECT system || '/' ||"
                          " stream || '/' || \"partition\" FROM sluice_checkpoints"
                          " WHERE job_name = ?1 AND job_id = ?2 AND (?3 IS NULL OR stream = ?3)"
                          " AND (?4 IS NULL OR \"partition\" = ?4)))"),
};

struct sl_ckpt_store {
    pthread_mutex_t lock; /* guards db and every statement */
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT];
    char *path, *job_name, *job_id;
    char lasterr[512]; /* why the last sl_ckpt_read() failed */
};


static sl_err_t db_err(int rc) {
    return (rc & 0xff) == SQLITE_NOMEM ? SL_ERR_NOMEM : SL_ERR_DB;
}

/* SQLite's reason for the last failure, said plainly where it is vague: a write that failed
 * for want of space is a "disk I/O error" to SQLite unless it hit the database's own limit. */
static const char *db_reason(sl_ckpt_store_t *st, char *buf, size_t len) {
    int sys = sqlite3_system_errno(st->db);
    int code = sqlite3_errcode(st->db) & 0xff;
    if (sys == ENOSPC || sys == EDQUOT || code == SQLITE_FULL)
        snprintf(buf, len, "the disk is full: %s (SQLite: %s)",
                 strerror(sys == EDQUOT ? EDQUOT : ENOSPC), sqlite3_errmsg(st->db));
    else if (code == SQLITE_READONLY)
        snprintf(buf, len, "%s (the file or its directory is not writable)",
                 sqlite3_errmsg(st->db));
    else if (sys && (code == SQLITE_IOERR || code == SQLITE_CANTOPEN))
        snprintf(buf, len, "%s (%s)", sqlite3_errmsg(st->db), strerror(sys));
    else
        snprintf(buf, len, "%s", sqlite3_errmsg(st->db));
    return buf;
}

/* Runs one SQL text that returns no rows we need (schema set-up only, not on a hot path). */
static int exec_sql(sl_ckpt_store_t *st, const char *sql, char *errstr, size_t errlen) {
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        sl_errf(errstr, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
    return rc;
}

/* Reads a one-row, one-column pragma as text ("wal") into buf, or as an integer into *iv. */
static int pragma_query(sl_ckpt_store_t *st, const char *sql, char *buf, size_t buflen,
                        int64_t *iv, char *errstr, size_t errlen) {
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW)
        goto fail;
    if (buf) {
        const unsigned char *txt = sqlite3_column_text(stmt, 0);
        snprintf(buf, buflen, "%s", txt ? (const char *)txt : "");
    }
    if (iv)
        *iv = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return SQLITE_OK;
fail:
    sl_errf(errstr, errlen, "%s: %s", st->path,
            rc == SQLITE_DONE ? "pragma returned no row" : sqlite3_errmsg(st->db));
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

/* Creates the table on a fresh file, or checks the version of an existing one. Runs in a write
 * transaction so two processes opening a new file at once do not both create it. */
static int schema_setup(sl_ckpt_store_t *st, char *errstr, size_t errlen) {
    int64_t version = 0;
    char sql[64];
    int rc = exec_sql(st, "BEGIN IMMEDIATE", errstr, errlen);
    if (rc != SQLITE_OK)
        return rc;
    rc = pragma_query(st, "PRAGMA user_version", NULL, 0, &version, errstr, errlen);
    if (rc != SQLITE_OK)
        goto fail;
    if (version > CKPT_SCHEMA_VERSION) {
        sl_errf(errstr, errlen,
                "%s: checkpoint schema version %lld is newer than this sluice supports (%d); "
                "upgrade sluice or use another checkpoint file",
                st->path, (long long)version, CKPT_SCHEMA_VERSION);
        rc = SQLITE_ERROR;
        goto fail;
    }
    if (version < 0) {
        sl_errf(errstr, errlen, "%s: invalid checkpoint schema version %lld", st->path,
                (long long)version);
        rc = SQLITE_ERROR;
        goto fail;
    }
    if (version < CKPT_SCHEMA_VERSION) {
        /* 0: a new file; 1: offsets only, the state table is added. */
        rc = exec_sql(st, ckpt_schema_sql, errstr, errlen);
        if (rc != SQLITE_OK)
            goto fail;
        rc = exec_sql(st, state_schema_sql, errstr, errlen);
        if (rc != SQLITE_OK)
            goto fail;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", CKPT_SCHEMA_VERSION);
        rc = exec_sql(st, sql, errstr, errlen);
        if (rc != SQLITE_OK)
            goto fail;
    }
    return exec_sql(st, "COMMIT", errstr, errlen);
fail:
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* SQLite takes a file too short to hold its header for an empty database and would write over
 * it; a non-empty file that does not start with SQLite's magic is refused instead. */
static int looks_foreign(const char *path) {
    static const char magic[16] = "SQLite format 3";
    char head[16];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* missing (created below) or unreadable (SQLite says why) */
    n = read(fd, head, sizeof(head));
    close(fd);
    return n > 0 && (n < (ssize_t)sizeof(head) || memcmp(head, magic, sizeof(magic)) != 0);
}

sl_ckpt_store_t *sl_ckpt_sqlite_open(const char *path, const char *job_name, const char *job_id,
                                     char *errstr, size_t errlen) {
    sl_ckpt_store_t *st = NULL;
    char mode[32];
    int rc;

    if (!path || !*path || !job_name || !job_id) {
        sl_errf(errstr, errlen, "checkpoint store: path, job name and job id are required");
        return NULL;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        sl_errf(errstr, errlen, "%s: out of memory", path);
        return NULL;
    }
    pthread_mutex_init(&st->lock, NULL);
    if (!(st->path = strdup(path)) || !(st->job_name = strdup(job_name)) ||
        !(st->job_id = strdup(job_id))) {
        sl_errf(errstr, errlen, "%s: out of memory", path);
        goto fail;
    }

    if (looks_foreign(path)) {
        sl_errf(errstr, errlen, "%s: file is not a database", path);
        goto fail;
    }
    /* Our own mutex serialises every use of the connection, so SQLite's is not needed. */
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (st->db && sqlite3_system_errno(st->db))
            sl_errf(errstr, errlen, "%s: %s (%s)", path, sqlite3_errmsg(st->db),
                    strerror(sqlite3_system_errno(st->db)));
        else
            sl_errf(errstr, errlen, "%s: %s", path,
                    st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, CKPT_BUSY_TIMEOUT_MS);

    /* The first statement that reads the file: a file that is not a database fails here. */
    if (pragma_query(st, "PRAGMA journal_mode = WAL", mode, sizeof(mode), NULL, errstr, errlen) !=
        SQLITE_OK)
        goto fail;
    if (strcmp(mode, "wal") != 0)
        sl_log(SL_LOG_WARN, "ckpt", "%s: journal mode is %s, not wal", path, mode);
    if (exec_sql(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF", errstr, errlen) !=
        SQLITE_OK)
        goto fail;
    if (schema_setup(st, errstr, errlen) != SQLITE_OK)
        goto fail;
    if (exec_sql(st, state_pending_sql, errstr, errlen) != SQLITE_OK)
        goto fail;

    for (int i = 0; i < STMT_COUNT; i++) {
        rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                                NULL);
        if (rc != SQLITE_OK) {
            sl_errf(errstr, errlen, "%s: %s", path, sqlite3_errmsg(st->db));
            goto fail;
        }
    }
    sl_log_debug("ckpt", "%s: opened for job %s/%s", path, job_name, job_id);
    return st;
fail:
    sl_ckpt_close(st);
    return NULL;
}

void sl_ckpt_close(sl_ckpt_store_t *st) {
    if (!st)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    if (st->db)
        sqlite3_close(st->db);
    pthread_mutex_destroy(&st->lock);
    free(st->path);
    free(st->job_name);
    free(st->job_id);
    free(st);
}

/* Steps a statement that returns no row and resets it; SQLITE_OK on success. */
static int step_done(sqlite3_stmt *stmt) {
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_job(sl_ckpt_store_t *st, sqlite3_stmt *stmt) {
    sqlite3_bind_text(stmt, 1, st->job_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, st->job_id, -1, SQLITE_STATIC);
}

/* Binds an optional filter: NULL matches any value (see the "?3 IS NULL OR" in the SQL). */
static void bind_opt(sqlite3_stmt *stmt, int idx, const char *s) {
    if (s)
        sqlite3_bind_text(stmt, idx, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, idx);
}

const char *sl_ckpt_job_name(const sl_ckpt_store_t *st) {
    return st->job_name;
}

const char *sl_ckpt_job_id(const sl_ckpt_store_t *st) {
    return st->job_id;
}

int sl_ckpt_with_db(sl_ckpt_store_t *st, sl_ckpt_db_fn fn, void *opaque) {
    int rc;
    pthread_mutex_lock(&st->lock);
    rc = fn(opaque, st->db);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

sl_err_t sl_ckpt_write(sl_ckpt_store_t *st, const sl_ckpt_t *cps, int n, char *errstr,
                       size_t errlen) {
    return sl_ckpt_write_with(st, cps, n, NULL, NULL, errstr, errlen);
}

sl_err_t sl_ckpt_write_with(sl_ckpt_store_t *st, const sl_ckpt_t *cps, int n, sl_ckpt_db_fn fn,
                            void *opaque, char *errstr, size_t errlen) {
    sqlite3_stmt *up;
    int64_t now;
    int rc;

    if (!st || n < 0 || (n > 0 && !cps)) {
        sl_errf(errstr, errlen, "checkpoint write: invalid arguments");
        return SL_ERR_INVAL;
    }
    if (n == 0 && !fn)
        return SL_OK;
    now = sl_now_ms();
    pthread_mutex_lock(&st->lock);
    up = st->stmt[STMT_UPSERT];
    rc = step_done(st->stmt[STMT_BEGIN]);
    if (rc != SQLITE_OK)
        goto fail;
    for (int i = 0; i < n; i++) {
        /* NULL strings bind as SQL NULL and trip the NOT NULL constraints: the whole batch
         * then rolls back with SQLite's message naming the column. */
        bind_job(st, up);
        bind_opt(up, 3, cps[i].system);
        bind_opt(up, 4, cps[i].stream);
        bind_opt(up, 5, cps[i].partition);
        bind_opt(up, 6, cps[i].offset);
        sqlite3_bind_int64(up, 7, cps[i].subseq);
        sqlite3_bind_int64(up, 8, now);
        rc = step_done(up);
        sqlite3_clear_bindings(up);
        if (rc != SQLITE_OK)
            goto fail;
    }
    if (fn && (rc = fn(opaque, st->db)) != SQLITE_OK)
        goto fail;
    rc = step_done(st->stmt[STMT_COMMIT]);
    if (rc != SQLITE_OK)
        goto fail;
    pthread_mutex_unlock(&st->lock);
    return SL_OK;
fail: {
    char why[384];
    sl_errf(errstr, errlen, "%s: %s", st->path, db_reason(st, why, sizeof(why)));
}
    if (!sqlite3_get_autocommit(st->db))
        step_done(st->stmt[STMT_ROLLBACK]);
    pthread_mutex_unlock(&st->lock);
    return db_err(rc);
}

void sl_ckpt_read_error(sl_ckpt_store_t *st, char *buf, size_t len) {
    pthread_mutex_lock(&st->lock);
    snprintf(buf, len, "%s", st->lasterr[0] ? st->lasterr : "no error");
    pthread_mutex_unlock(&st->lock);
}

sl_err_t sl_ckpt_read(sl_ckpt_store_t *st, const char *system, const char *stream,
                      const char *partition, char **offset, int64_t *subseq) {
    sqlite3_stmt *rd;
    sl_err_t err = SL_OK;
    int rc;

    if (!st || !system || !stream || !partition || !offset)
        return SL_ERR_INVAL;
    *offset = NULL;
    pthread_mutex_lock(&st->lock);
    rd = st->stmt[STMT_READ];
    bind_job(st, rd);
    sqlite3_bind_text(rd, 3, system, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd, 4, stream, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd, 5, partition, -1, SQLITE_STATIC);
    rc = sqlite3_step(rd);
    if (rc == SQLITE_ROW) {
        const unsigned char *txt = sqlite3_column_text(rd, 0);
        *offset = txt ? strdup((const char *)txt) : NULL;
        if (!*offset)
            err = SL_ERR_NOMEM;
        else if (subseq)
            *subseq = sqlite3_column_int64(rd, 1);
    } else if (rc == SQLITE_DONE) {
        err = SL_ERR_NOENT;
    } else {
        char why[384];
        snprintf(st->lasterr, sizeof(st->lasterr), "%s: reading %s/%s/%s: %s", st->path, system,
                 stream, partition, db_reason(st, why, sizeof(why)));
        err = db_err(rc);
    }
    sqlite3_reset(rd);
    sqlite3_clear_bindings(rd);
    pthread_mutex_unlock(&st->lock);
    return err;
}

/* One row of a listing, copied out so the callbacks run without the store's lock held (a
 * callback may then read or write the store itself). */
typedef struct ckpt_row {
    char *system, *stream, *partition, *offset;
    int64_t subseq, updated_ms;
} ckpt_row_t;

static void rows_free(ckpt_row_t *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(rows[i].system);
        free(rows[i].stream);
        free(rows[i].partition);
        free(rows[i].offset);
    }
    free(rows);
}

static char *col_dup(sqlite3_stmt *stmt, int col) {
    const unsigned char *txt = sqlite3_column_text(stmt, col);
    return strdup(txt ? (const char *)txt : "");
}

sl_err_t sl_ckpt_list(sl_ckpt_store_t *st, const char *stream, const char *partition,
                      sl_ckpt_list_cb cb, void *opaque) {
    ckpt_row_t *rows = NULL, *grown;
    size_t n = 0, cap = 0;
    sqlite3_stmt *ls;
    sl_err_t err = SL_OK;
    int rc;

    if (!st || !cb)
        return SL_ERR_INVAL;
    pthread_mutex_lock(&st->lock);
    ls = st->stmt[STMT_LIST];
    bind_job(st, ls);
    bind_opt(ls, 3, stream);
    bind_opt(ls, 4, partition);
    while ((rc = sqlite3_step(ls)) == SQLITE_ROW) {
        ckpt_row_t *row;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            grown = realloc(rows, cap * sizeof(*rows));
            if (!grown) {
                err = SL_ERR_NOMEM;
                break;
            }
            rows = grown;
        }
        row = &rows[n++];
        row->system = col_dup(ls, 0);
        row->stream = col_dup(ls, 1);
        row->partition = col_dup(ls, 2);
        row->offset = col_dup(ls, 3);
        row->subseq = sqlite3_column_int64(ls, 4);
        row->updated_ms = sqlite3_column_int64(ls, 5);
        if (!row->system || !row->stream || !row->partition || !row->offset) {
            err = SL_ERR_NOMEM;
            break;
        }
    }
    if (err == SL_OK && rc != SQLITE_DONE) {
        sl_log(SL_LOG_ERROR, "ckpt", "%s: listing checkpoints: %s", st->path,
               sqlite3_errmsg(st->db));
        err = db_err(rc);
    }
    sqlite3_reset(ls);
    sqlite3_clear_bindings(ls);
    pthread_mutex_unlock(&st->lock);
    if (err != SL_OK)
        goto out;

    for (size_t i = 0; i < n; i++) {
        sl_ckpt_t cp = {
            .system = rows[i].system,
            .stream = rows[i].stream,
            .partition = rows[i].partition,
            .offset = rows[i].offset,
            .subseq = rows[i].subseq,
            .updated_ms = rows[i].updated_ms,
        };
        int r = cb(opaque, &cp);
        if (r != 0) {
            /* Callbacks return SL_ERR_* codes; anything else is reported as "stopped". */
            err = r < 0 && r >= SL_ERR_STOPPED ? (sl_err_t)r : SL_ERR_STOPPED;
            break;
        }
    }
out:
    rows_free(rows, n);
    return err;
}

sl_err_t sl_ckpt_reset(sl_ckpt_store_t *st, const char *stream, const char *partition,
                       int *deleted) {
    sqlite3_stmt *rs;
    int rc, count = 0;

    if (deleted)
        *deleted = 0;
    if (!st)
        return SL_ERR_INVAL;
    pthread_mutex_lock(&st->lock);
    /* The state and the checkpoints go together, or neither. */
    rc = step_done(st->stmt[STMT_BEGIN]);
    for (int i = 0; i < 2 && rc == SQLITE_OK; i++) {
        rs = st->stmt[i == 0 ? STMT_RESET_STATE : STMT_RESET];
        bind_job(st, rs);
        bind_opt(rs, 3, stream);
        bind_opt(rs, 4, partition);
        rc = step_done(rs);
        sqlite3_clear_bindings(rs);
        count = sqlite3_changes(st->db);
    }
    if (rc == SQLITE_OK)
        rc = step_done(st->stmt[STMT_COMMIT]);
    if (rc != SQLITE_OK) {
        sl_log(SL_LOG_ERROR, "ckpt", "%s: resetting checkpoints: %s", st->path,
               sqlite3_errmsg(st->db));
        if (!sqlite3_get_autocommit(st->db))
            step_done(st->stmt[STMT_ROLLBACK]);
        pthread_mutex_unlock(&st->lock);
        return db_err(rc);
    }
    pthread_mutex_unlock(&st->lock);
    if (deleted)
        *deleted = count;
    sl_log_debug("ckpt", "%s: reset %d checkpoint(s) of %s/%s", st->path, count, st->job_name,
                 st->job_id);
    return SL_OK;
}
