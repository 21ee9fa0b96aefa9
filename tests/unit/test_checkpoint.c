/*
 * test_checkpoint.c: unit tests of the SQLite checkpoint store (runtime/checkpoint_sqlite.c):
 * round trips, isolation of jobs sharing a file, list/reset filters, concurrent writers, schema
 * versioning, clean failures on bad files, and durability across a SIGKILL right after a write.
 * Where it matters the file is inspected with SQLite directly rather than through the store.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "checkpoint.h"
#include "unit.h"
#include "util_time.h"

static char db_path[600];

/* A fresh database path in a fresh directory. */
static const char *fresh_path(void) {
    snprintf(db_path, sizeof(db_path), "%s/checkpoints.db", unit_tmpdir());
    return db_path;
}

static sl_ckpt_store_t *open_ok(const char *path, const char *name, const char *id) {
    char err[512] = "";
    sl_ckpt_store_t *st = sl_ckpt_sqlite_open(path, name, id, err, sizeof(err));
    if (!st)
        fprintf(stderr, "open %s: %s\n", path, err);
    return st;
}

static sl_err_t write_one(sl_ckpt_store_t *st, const char *stream, const char *part,
                          const char *offset, int64_t subseq) {
    char err[512] = "";
    sl_ckpt_t cp = {.system = "kinesis", .stream = stream, .partition = part, .offset = offset,
                    .subseq = subseq};
    sl_err_t rc = sl_ckpt_write(st, &cp, 1, err, sizeof(err));
    if (rc != SL_OK)
        fprintf(stderr, "write: %s\n", err);
    return rc;
}

/* 1 when the store has exactly this offset and subseq for (kinesis, stream, part). */
static int has(sl_ckpt_store_t *st, const char *stream, const char *part, const char *offset,
               int64_t subseq) {
    char *got = NULL;
    int64_t sub = -1;
    int ok = sl_ckpt_read(st, "kinesis", stream, part, &got, &sub) == SL_OK && got &&
             !strcmp(got, offset) && sub == subseq;
    free(got);
    return ok;
}

static void test_roundtrip(void) {
    sl_ckpt_store_t *st = open_ok(fresh_path(), "job", "1");
    char *off = (char *)"sentinel";
    int64_t sub = 7;
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(sl_ckpt_read(st, "kinesis", "in", "shard-0", &off, &sub), SL_ERR_NOENT);
    CU_ASSERT_PTR_NULL(off);
    CU_ASSERT_EQUAL(sub, 7);
    CU_ASSERT_EQUAL(write_one(st, "in", "shard-0", "49590338271490256608559692538361571095", 3),
                    SL_OK);
    CU_ASSERT(has(st, "in", "shard-0", "49590338271490256608559692538361571095", 3));
    CU_ASSERT_EQUAL(sl_ckpt_read(st, "kinesis", "in", "shard-1", &off, &sub), SL_ERR_NOENT);
    CU_ASSERT_EQUAL(sl_ckpt_read(st, "files", "in", "shard-0", &off, &sub), SL_ERR_NOENT);
    CU_ASSERT_EQUAL(sl_ckpt_read(st, NULL, "in", "shard-0", &off, &sub), SL_ERR_INVAL);
    /* an empty write is a no-op, a negative count an error */
    CU_ASSERT_EQUAL(sl_ckpt_write(st, NULL, 0, NULL, 0), SL_OK);
    CU_ASSERT_EQUAL(sl_ckpt_write(st, NULL, -1, NULL, 0), SL_ERR_INVAL);
    sl_ckpt_close(st);
    sl_ckpt_close(NULL);
}

/* The file really is in WAL mode with our schema version, seen by SQLite itself. */
static void test_file_format(void) {
    const char *path = fresh_path();
    sl_ckpt_store_t *st = open_ok(path, "job", "1");
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(write_one(st, "in", "p", "5", 0), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    CU_ASSERT_EQUAL(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
    CU_ASSERT_EQUAL(sqlite3_column_int(stmt, 0), 2);
    sqlite3_finalize(stmt);
    CU_ASSERT_EQUAL(sqlite3_prepare_v2(db,
                                       "SELECT job_name, job_id, system, stream, \"partition\","
                                       " \"offset\", sub_offset FROM sluice_checkpoints",
                                       -1, &stmt, NULL),
                    SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(stmt, 0), "job");
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(stmt, 2), "kinesis");
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(stmt, 5), "5");
    CU_ASSERT_EQUAL(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    sl_ckpt_close(st);
}

typedef struct list_acc {
    char text[1024];
    int64_t updated[16];
    int n, stop_after;
} list_acc_t;

static int list_cb(void *opaque, const sl_ckpt_t *cp) {
    list_acc_t *acc = opaque;
    size_t len = strlen(acc->text);
    snprintf(acc->text + len, sizeof(acc->text) - len, "%s/%s/%s=%s:%lld;", cp->system,
             cp->stream, cp->partition, cp->offset, (long long)cp->subseq);
    if (acc->n < 16)
        acc->updated[acc->n] = cp->updated_ms;
    acc->n++;
    return acc->stop_after && acc->n >= acc->stop_after ? SL_ERR_STOPPED : 0;
}

static void test_overwrite(void) {
    int64_t now = 1700000000000;
    sl_ckpt_store_t *st = open_ok(fresh_path(), "job", "1");
    list_acc_t acc = {.n = 0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    sl_time_inject(&now);
    CU_ASSERT_EQUAL(write_one(st, "in", "p0", "100", 0), SL_OK);
    now += 5000;
    CU_ASSERT_EQUAL(write_one(st, "in", "p0", "250", 2), SL_OK);
    sl_time_inject(NULL);
    CU_ASSERT(has(st, "in", "p0", "250", 2));
    CU_ASSERT_EQUAL(sl_ckpt_list(st, NULL, NULL, list_cb, &acc), SL_OK);
    CU_ASSERT_EQUAL(acc.n, 1);
    CU_ASSERT_STRING_EQUAL(acc.text, "kinesis/in/p0=250:2;");
    CU_ASSERT_EQUAL(acc.updated[0], 1700000005000);
    sl_ckpt_close(st);
}

/* A batch is all or nothing: the second checkpoint violates NOT NULL, the first must not stay. */
static void test_batch_rollback(void) {
    const char *path = fresh_path();
    sl_ckpt_store_t *st = open_ok(path, "job", "1");
    char err[512] = "";
    sl_ckpt_t cps[2] = {
        {.system = "kinesis", .stream = "in", .partition = "p0", .offset = "900"},
        {.system = "kinesis", .stream = "in", .partition = "p1", .offset = NULL},
    };
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(write_one(st, "in", "p0", "10", 0), SL_OK);
    CU_ASSERT_EQUAL(sl_ckpt_write(st, cps, 2, err, sizeof(err)), SL_ERR_DB);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "NOT NULL"));
    CU_ASSERT(has(st, "in", "p0", "10", 0));
    /* the store is usable after a failed batch */
    cps[1].offset = "901";
    CU_ASSERT_EQUAL(sl_ckpt_write(st, cps, 2, err, sizeof(err)), SL_OK);
    CU_ASSERT(has(st, "in", "p0", "900", 0));
    CU_ASSERT(has(st, "in", "p1", "901", 0));
    sl_ckpt_close(st);
}

static void test_jobs_isolated(void) {
    const char *path = fresh_path();
    sl_ckpt_store_t *a1 = open_ok(path, "orders", "1");
    sl_ckpt_store_t *a2 = open_ok(path, "orders", "2");
    sl_ckpt_store_t *b1 = open_ok(path, "billing", "1");
    int deleted = -1;
    CU_ASSERT_PTR_NOT_NULL_FATAL(a1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b1);
    CU_ASSERT_EQUAL(write_one(a1, "in", "p0", "a1", 1), SL_OK);
    CU_ASSERT_EQUAL(write_one(a2, "in", "p0", "a2", 2), SL_OK);
    CU_ASSERT_EQUAL(write_one(b1, "in", "p0", "b1", 3), SL_OK);
    CU_ASSERT(has(a1, "in", "p0", "a1", 1));
    CU_ASSERT(has(a2, "in", "p0", "a2", 2));
    CU_ASSERT(has(b1, "in", "p0", "b1", 3));
    CU_ASSERT_EQUAL(sl_ckpt_reset(a1, NULL, NULL, &deleted), SL_OK);
    CU_ASSERT_EQUAL(deleted, 1);
    CU_ASSERT(!has(a1, "in", "p0", "a1", 1));
    CU_ASSERT(has(a2, "in", "p0", "a2", 2));
    CU_ASSERT(has(b1, "in", "p0", "b1", 3));
    sl_ckpt_close(a1);
    sl_ckpt_close(a2);
    sl_ckpt_close(b1);
}

static void test_list_reset_filters(void) {
    sl_ckpt_store_t *st = open_ok(fresh_path(), "job", "1");
    char err[256];
    /* written out of order, on purpose */
    sl_ckpt_t cps[] = {
        {.system = "kinesis", .stream = "s2", .partition = "p1", .offset = "21"},
        {.system = "kinesis", .stream = "s1", .partition = "p2", .offset = "12"},
        {.system = "files", .stream = "s1", .partition = "p1", .offset = "f11"},
        {.system = "kinesis", .stream = "s1", .partition = "p1", .offset = "11", .subseq = 4},
        {.system = "kinesis", .stream = "s2", .partition = "p2", .offset = "22"},
    };
    list_acc_t acc = {.n = 0};
    int deleted = -1;
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(sl_ckpt_write(st, cps, 5, err, sizeof(err)), SL_OK);

    CU_ASSERT_EQUAL(sl_ckpt_list(st, NULL, NULL, list_cb, &acc), SL_OK);
    CU_ASSERT_STRING_EQUAL(acc.text, "files/s1/p1=f11:0;kinesis/s1/p1=11:4;kinesis/s1/p2=12:0;"
                                     "kinesis/s2/p1=21:0;kinesis/s2/p2=22:0;");
    memset(&acc, 0, sizeof(acc));
    CU_ASSERT_EQUAL(sl_ckpt_list(st, "s1", NULL, list_cb, &acc), SL_OK);
    CU_ASSERT_STRING_EQUAL(acc.text, "files/s1/p1=f11:0;kinesis/s1/p1=11:4;kinesis/s1/p2=12:0;");
    memset(&acc, 0, sizeof(acc));
    CU_ASSERT_EQUAL(sl_ckpt_list(st, NULL, "p2", list_cb, &acc), SL_OK);
    CU_ASSERT_STRING_EQUAL(acc.text, "kinesis/s1/p2=12:0;kinesis/s2/p2=22:0;");
    memset(&acc, 0, sizeof(acc));
    CU_ASSERT_EQUAL(sl_ckpt_list(st, "s2", "p1", list_cb, &acc), SL_OK);
    CU_ASSERT_STRING_EQUAL(acc.text, "kinesis/s2/p1=21:0;");
    memset(&acc, 0, sizeof(acc));
    CU_ASSERT_EQUAL(sl_ckpt_list(st, "nope", NULL, list_cb, &acc), SL_OK);
    CU_ASSERT_EQUAL(acc.n, 0);
    /* a callback's error stops the listing and is returned */
    memset(&acc, 0, sizeof(acc));
    acc.stop_after = 2;
    CU_ASSERT_EQUAL(sl_ckpt_list(st, NULL, NULL, list_cb, &acc), SL_ERR_STOPPED);
    CU_ASSERT_EQUAL(acc.n, 2);

    CU_ASSERT_EQUAL(sl_ckpt_reset(st, "s1", "p1", &deleted), SL_OK);
    CU_ASSERT_EQUAL(deleted, 2);
    CU_ASSERT_EQUAL(sl_ckpt_reset(st, NULL, "p2", &deleted), SL_OK);
    CU_ASSERT_EQUAL(deleted, 2);
    CU_ASSERT_EQUAL(sl_ckpt_reset(st, "s9", NULL, &deleted), SL_OK);
    CU_ASSERT_EQUAL(deleted, 0);
    memset(&acc, 0, sizeof(acc));
    CU_ASSERT_EQUAL(sl_ckpt_list(st, NULL, NULL, list_cb, &acc), SL_OK);
    CU_ASSERT_STRING_EQUAL(acc.text, "kinesis/s2/p1=21:0;");
    CU_ASSERT_EQUAL(sl_ckpt_reset(st, NULL, NULL, NULL), SL_OK);
    memset(&acc, 0, sizeof(acc));
    CU_ASSERT_EQUAL(sl_ckpt_list(st, NULL, NULL, list_cb, &acc), SL_OK);
    CU_ASSERT_EQUAL(acc.n, 0);
    sl_ckpt_close(st);
}

#define CONC_THREADS 4
#define CONC_COMMITS 500

typedef struct conc_arg {
    sl_ckpt_store_t *st;
    int id, failures;
} conc_arg_t;

/* Each commit writes two partitions of this thread and reads one back. */
static void *conc_writer(void *opaque) {
    conc_arg_t *arg = opaque;
    char pa[16], pb[16], off[32], err[256];
    snprintf(pa, sizeof(pa), "t%d-a", arg->id);
    snprintf(pb, sizeof(pb), "t%d-b", arg->id);
    for (int i = 0; i < CONC_COMMITS; i++) {
        sl_ckpt_t cps[2] = {
            {.system = "kinesis", .stream = "in", .partition = pa, .offset = off, .subseq = i},
            {.system = "kinesis", .stream = "in", .partition = pb, .offset = off, .subseq = -i},
        };
        snprintf(off, sizeof(off), "%d", i);
        if (sl_ckpt_write(arg->st, cps, 2, err, sizeof(err)) != SL_OK) {
            fprintf(stderr, "thread %d: %s\n", arg->id, err);
            arg->failures++;
        }
        if (!has(arg->st, "in", pa, off, i))
            arg->failures++;
    }
    return NULL;
}

static void test_concurrent_writes(void) {
    sl_ckpt_store_t *st = open_ok(fresh_path(), "job", "1");
    pthread_t th[CONC_THREADS];
    conc_arg_t args[CONC_THREADS];
    list_acc_t acc = {.n = 0};
    char pa[16], pb[16], last[16];
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    for (int t = 0; t < CONC_THREADS; t++) {
        args[t] = (conc_arg_t){.st = st, .id = t};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[t], NULL, conc_writer, &args[t]), 0);
    }
    for (int t = 0; t < CONC_THREADS; t++) {
        pthread_join(th[t], NULL);
        CU_ASSERT_EQUAL(args[t].failures, 0);
    }
    snprintf(last, sizeof(last), "%d", CONC_COMMITS - 1);
    for (int t = 0; t < CONC_THREADS; t++) {
        snprintf(pa, sizeof(pa), "t%d-a", t);
        snprintf(pb, sizeof(pb), "t%d-b", t);
        CU_ASSERT(has(st, "in", pa, last, CONC_COMMITS - 1));
        CU_ASSERT(has(st, "in", pb, last, -(CONC_COMMITS - 1)));
    }
    CU_ASSERT_EQUAL(sl_ckpt_list(st, NULL, NULL, list_cb, &acc), SL_OK);
    CU_ASSERT_EQUAL(acc.n, 2 * CONC_THREADS);
    sl_ckpt_close(st);
}

static void test_reopen(void) {
    const char *path = fresh_path();
    sl_ckpt_store_t *st = open_ok(path, "job", "1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_EQUAL(write_one(st, "in", "p0", "12345", 6), SL_OK);
    sl_ckpt_close(st);
    st = open_ok(path, "job", "1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT(has(st, "in", "p0", "12345", 6));
    sl_ckpt_close(st);
}

static void test_bad_paths(void) {
    char path[700], err[512];
    const char *dir = unit_tmpdir();
    FILE *fp;

    /* a missing directory */
    snprintf(path, sizeof(path), "%s/no/such/dir/ck.db", dir);
    err[0] = 0;
    CU_ASSERT_PTR_NULL(sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unable to open"));

    /* a file that is not a database */
    snprintf(path, sizeof(path), "%s/garbage.db", dir);
    fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    for (int i = 0; i < 512; i++)
        fputs("this is not a database, only text. ", fp);
    fclose(fp);
    err[0] = 0;
    CU_ASSERT_PTR_NULL(sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a database"));

    /* too short for SQLite's header: SQLite would take it for an empty database and write
     * over it */
    snprintf(path, sizeof(path), "%s/tiny.db", dir);
    fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("x", fp);
    fclose(fp);
    err[0] = 0;
    CU_ASSERT_PTR_NULL(sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a database"));
    fp = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(fgetc(fp), 'x');
    CU_ASSERT_EQUAL(fgetc(fp), EOF);
    fclose(fp);

    /* missing arguments */
    err[0] = 0;
    CU_ASSERT_PTR_NULL(sl_ckpt_sqlite_open(NULL, "job", "1", err, sizeof(err)));
    CU_ASSERT(err[0] != 0);
}

static void test_newer_schema(void) {
    const char *path = fresh_path();
    sqlite3 *db = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    CU_ASSERT_PTR_NULL(sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "schema version 99"));
}

/* A child commits and is killed with SIGKILL the moment sl_ckpt_write() returns: no close, no
 * exit handlers, the WAL not checkpointed. The parent must still find both commits. */
static void test_durable_after_kill(void) {
    const char *path = fresh_path();
    sl_ckpt_store_t *st;
    int status = 0;
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        sl_ckpt_store_t *cst = sl_ckpt_sqlite_open(path, "job", "1", NULL, 0);
        if (!cst || write_one(cst, "in", "p0", "first", 1) != SL_OK ||
            write_one(cst, "in", "p1", "second", 2) != SL_OK)
            _exit(3);
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    st = open_ok(path, "job", "1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT(has(st, "in", "p0", "first", 1));
    CU_ASSERT(has(st, "in", "p1", "second", 2));
    sl_ckpt_close(st);
}

void test_checkpoint_register(void) {
    static const unit_test_t tests[] = {
        {"roundtrip", test_roundtrip},
        {"file_format", test_file_format},
        {"overwrite", test_overwrite},
        {"batch_rollback", test_batch_rollback},
        {"jobs_isolated", test_jobs_isolated},
        {"list_reset_filters", test_list_reset_filters},
        {"concurrent_writes", test_concurrent_writes},
        {"reopen", test_reopen},
        {"bad_paths", test_bad_paths},
        {"newer_schema", test_newer_schema},
        {"durable_after_kill", test_durable_after_kill},
        {NULL, NULL},
    };
    unit_add_suite("checkpoint", tests);
}
