/*
 * test_state.c: unit tests of the operators' keyed state (runtime/state.c) over a real SQLite
 * checkpoint file: get/put/delete/scan/clear, TTL with the injected clock, eviction and
 * spilling with a tiny cache, the value limit, and the commit rule: what a commit wrote (with
 * the offset, in one transaction) is what a reopened store sees, and nothing uncommitted.
 * An allocation-failure walk (oom.c) fails every allocation of a put/delete/get/scan/commit
 * sequence once: each run reports the failure or gives the exact result, and leaks nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "checkpoint.h"
#include "oom.h"
#include "state_int.h"
#include "unit.h"
#include "util_time.h"

static char path[600];

typedef struct h {
    sl_ckpt_store_t *ckpt;
    sl_state_host_t *sh;
    sl_state_t *st;
} h_t;

static void h_open(h_t *h, int64_t cache) {
    char err[512] = "";
    h->ckpt = sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->ckpt);
    h->sh = sl_state_host_new(h->ckpt, "file/in/0", cache, 64, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->sh);
    h->st = sl_state_host_store(h->sh, "count");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->st);
}

static void h_close(h_t *h) {
    sl_state_host_destroy(h->sh);
    sl_ckpt_close(h->ckpt);
    memset(h, 0, sizeof(*h));
}

/* Commits the host with offset off, as the worker does. */
static void h_commit(h_t *h, const char *off) {
    char err[512] = "";
    sl_ckpt_t cp = {.system = "file", .stream = "in", .partition = "0", .offset = off};
    sl_state_commit_t sc = {&h->sh, 1};
    CU_ASSERT_EQUAL_FATAL(sl_ckpt_write_with(h->ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                             sizeof(err)), SL_OK);
    sl_state_host_committed(h->sh);
    CU_ASSERT_FALSE(sl_state_host_changed(h->sh));
}

static void fresh(void) {
    snprintf(path, sizeof(path), "%s/ckpt.db", unit_tmpdir());
}

/* The value of key as a string ("" when absent). */
static const char *get_s(sl_state_t *st, const char *key) {
    static char buf[128];
    const void *v;
    size_t n;
    if (sl_state_get(st, key, strlen(key), &v, &n) != SL_OK)
        return "";
    snprintf(buf, sizeof(buf), "%.*s", (int)n, (const char *)v);
    return buf;
}

static sl_err_t put_s(sl_state_t *st, const char *key, const char *val, int64_t ttl) {
    return sl_state_put(st, key, strlen(key), val, strlen(val), ttl);
}

static void test_basic(void) {
    h_t h;
    const void *v;
    size_t n;
    fresh();
    h_open(&h, 100);
    CU_ASSERT_EQUAL(sl_state_get(h.st, "a", 1, &v, &n), SL_ERR_NOENT);
    CU_ASSERT_EQUAL(put_s(h.st, "a", "1", 0), SL_OK);
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "a"), "1");
    CU_ASSERT_EQUAL(put_s(h.st, "a", "22", 0), SL_OK);
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "a"), "22");
    /* an empty value is a value */
    CU_ASSERT_EQUAL(sl_state_put(h.st, "e", 1, "", 0, 0), SL_OK);
    CU_ASSERT_EQUAL(sl_state_get(h.st, "e", 1, &v, &n), SL_OK);
    CU_ASSERT_PTR_NOT_NULL(v);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(sl_state_delete(h.st, "a", 1), SL_OK);
    CU_ASSERT_EQUAL(sl_state_get(h.st, "a", 1, &v, &n), SL_ERR_NOENT);
    CU_ASSERT_EQUAL(sl_state_delete(h.st, "never", 5), SL_OK);
    /* binary keys and values */
    CU_ASSERT_EQUAL(sl_state_put(h.st, "\0\xff", 2, "\0\1\2", 3, 0), SL_OK);
    CU_ASSERT_EQUAL(sl_state_get(h.st, "\0\xff", 2, &v, &n), SL_OK);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(memcmp(v, "\0\1\2", 3), 0);
    CU_ASSERT_EQUAL(sl_state_get(h.st, "\0", 1, &v, &n), SL_ERR_NOENT);
    /* limits and bad arguments */
    CU_ASSERT_EQUAL(sl_state_put(h.st, "", 0, "x", 1, 0), SL_ERR_INVAL);
    {
        char big[65];
        memset(big, 'x', sizeof(big));
        CU_ASSERT_EQUAL(sl_state_put(h.st, "big", 3, big, 64, 0), SL_OK);
        CU_ASSERT_EQUAL(sl_state_put(h.st, "big", 3, big, 65, 0), SL_ERR_INVAL);
        CU_ASSERT_EQUAL(sl_state_get(h.st, "big", 3, &v, &n), SL_OK);
        CU_ASSERT_EQUAL(n, 64);
    }
    CU_ASSERT_EQUAL(sl_state_get(NULL, "a", 1, &v, &n), SL_ERR_INVAL);
    /* stores of different operators are apart */
    CU_ASSERT_EQUAL(put_s(sl_state_host_store(h.sh, "other"), "e", "o", 0), SL_OK);
    CU_ASSERT_PTR_EQUAL(sl_state_host_store(h.sh, "count"), h.st);
    CU_ASSERT_EQUAL(sl_state_get(h.st, "e", 1, &v, &n), SL_OK);
    CU_ASSERT_EQUAL(n, 0);
    h_close(&h);
}

typedef struct scan_acc {
    char buf[1024];
    int stop_after;
    int seen;
} scan_acc_t;

static int scan_cb(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    scan_acc_t *a = opaque;
    size_t o = strlen(a->buf);
    snprintf(a->buf + o, sizeof(a->buf) - o, "%.*s=%.*s;", (int)klen, (const char *)key,
             (int)vlen, (const char *)val);
    if (++a->seen == a->stop_after)
        return 42;
    return 0;
}

static const char *scan_s(sl_state_t *st, const char *prefix, sl_err_t *err) {
    static scan_acc_t a;
    memset(&a, 0, sizeof(a));
    *err = sl_state_scan_prefix(st, prefix, strlen(prefix), scan_cb, &a);
    return a.buf;
}

static void test_scan(void) {
    h_t h;
    sl_err_t err;
    int64_t now = 1000000;
    fresh();
    sl_time_inject(&now);
    h_open(&h, 3); /* tiny: most of what is scanned is spilled or committed */
    put_s(h.st, "user:b", "2", 0);
    put_s(h.st, "user:a", "1", 0);
    put_s(h.st, "other", "x", 0);
    h_commit(&h, "10");
    put_s(h.st, "user:c", "3", 0);
    put_s(h.st, "user:a", "11", 0);
    sl_state_delete(h.st, "user:b", 6);
    put_s(h.st, "user:d", "4", 10); /* expires at now + 10 */
    put_s(h.st, "usex", "y", 0);
    CU_ASSERT_STRING_EQUAL(scan_s(h.st, "user:", &err), "user:a=11;user:c=3;user:d=4;");
    CU_ASSERT_EQUAL(err, SL_OK);
    CU_ASSERT_STRING_EQUAL(scan_s(h.st, "", &err), "other=x;user:a=11;user:c=3;user:d=4;usex=y;");
    now += 10;
    CU_ASSERT_STRING_EQUAL(scan_s(h.st, "user:", &err), "user:a=11;user:c=3;");
    /* a non-zero callback result stops the scan and is returned */
    {
        scan_acc_t a;
        memset(&a, 0, sizeof(a));
        a.stop_after = 1;
        CU_ASSERT_EQUAL(sl_state_scan_prefix(h.st, "user", 4, scan_cb, &a), 42);
        CU_ASSERT_EQUAL(a.seen, 1);
    }
    /* a prefix ending in 0xff */
    CU_ASSERT_EQUAL(sl_state_put(h.st, "k\xff\x01", 3, "z", 1, 0), SL_OK);
    CU_ASSERT_EQUAL(sl_state_put(h.st, "l", 1, "w", 1, 0), SL_OK);
    {
        scan_acc_t a;
        memset(&a, 0, sizeof(a));
        CU_ASSERT_EQUAL(sl_state_scan_prefix(h.st, "k\xff", 2, scan_cb, &a), SL_OK);
        CU_ASSERT_EQUAL(a.seen, 1);
    }
    h_close(&h);
    sl_time_inject(NULL);
}

static void test_ttl(void) {
    h_t h;
    int64_t now = 5000000;
    fresh();
    sl_time_inject(&now);
    h_open(&h, 100);
    put_s(h.st, "t", "v", 100);
    put_s(h.st, "p", "v", 0);
    now += 99;
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "t"), "v");
    now += 1;
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "t"), "");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "p"), "v");
    /* a put renews the entry, and the TTL survives a commit and a reopen */
    put_s(h.st, "t", "w", 100);
    h_commit(&h, "1");
    h_close(&h);
    h_open(&h, 100);
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "t"), "w");
    now += 100;
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "t"), "");
    /* the commit deletes the expired row from the file */
    put_s(h.st, "p", "v2", 0);
    h_commit(&h, "2");
    h_close(&h);
    {
        sqlite3 *db;
        sqlite3_stmt *q;
        CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
        CU_ASSERT_EQUAL(sqlite3_prepare_v2(db, "SELECT count(*) FROM sluice_state", -1, &q, NULL),
                        SQLITE_OK);
        CU_ASSERT_EQUAL(sqlite3_step(q), SQLITE_ROW);
        CU_ASSERT_EQUAL(sqlite3_column_int(q, 0), 1);
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
    sl_time_inject(NULL);
}

/* More keys than the cache holds, changed and read back before and after commits. */
static void test_eviction(void) {
    h_t h;
    char k[32], v[32];
    sl_err_t err;
    int bad = 0;
    fresh();
    h_open(&h, 4);
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        snprintf(v, sizeof(v), "%d", i);
        CU_ASSERT_EQUAL(put_s(h.st, k, v, 0), SL_OK);
    }
    for (int i = 0; i < 200; i += 2) {
        snprintf(k, sizeof(k), "k%03d", i);
        sl_state_delete(h.st, k, strlen(k));
    }
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        snprintf(v, sizeof(v), "%d", i);
        bad += strcmp(get_s(h.st, k), i % 2 ? v : "") != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    h_commit(&h, "200");
    for (int i = 1; i < 200; i += 2) { /* change half after the commit */
        snprintf(k, sizeof(k), "k%03d", i);
        put_s(h.st, k, "new", 0);
    }
    bad = 0;
    for (int i = 1; i < 200; i += 2) {
        snprintf(k, sizeof(k), "k%03d", i);
        bad += strcmp(get_s(h.st, k), "new") != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(strlen(scan_s(h.st, "k", &err)), 100 * strlen("k001=new;"));
    /* reopened without a commit: the committed values, none of the spilled changes */
    h_close(&h);
    h_open(&h, 4);
    bad = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        snprintf(v, sizeof(v), "%d", i);
        bad += strcmp(get_s(h.st, k), i % 2 ? v : "") != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    h_close(&h);
}

/* What a commit wrote is what a reopened store sees; uncommitted changes (cached, spilled, a
 * clear) vanish; the state and the offset are one transaction. */
static void test_commit_reopen(void) {
    h_t h;
    char *off = NULL;
    fresh();
    h_open(&h, 2);
    put_s(h.st, "a", "1", 0);
    put_s(h.st, "b", "2", 0);
    CU_ASSERT_TRUE(sl_state_host_changed(h.sh));
    h_commit(&h, "7");
    put_s(h.st, "a", "100", 0);
    put_s(h.st, "c", "3", 0);
    put_s(h.st, "d", "4", 0); /* spills */
    sl_state_delete(h.st, "b", 1);
    h_close(&h);

    h_open(&h, 2);
    CU_ASSERT_EQUAL(sl_ckpt_read(h.ckpt, "file", "in", "0", &off, NULL), SL_OK);
    CU_ASSERT_STRING_EQUAL(off, "7");
    free(off);
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "a"), "1");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "b"), "2");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "c"), "");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "d"), "");
    /* a clear, committed, and more after it that is not */
    CU_ASSERT_EQUAL(sl_state_clear(h.st), SL_OK);
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "a"), "");
    put_s(h.st, "z", "26", 0);
    h_commit(&h, "8");
    CU_ASSERT_EQUAL(sl_state_clear(h.st), SL_OK);
    h_close(&h);
    h_open(&h, 2);
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "a"), "");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "b"), "");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "z"), "26");
    h_close(&h);
}

/* A job-wide table: two writer hosts (the table's partitions) and a view on a third (another
 * input's partition). The view reads only what was committed (or spilled), never caches, and
 * refuses writes; the writers' rows live under the table's task, not theirs. */
static void test_table(void) {
    char err[512] = "";
    sl_ckpt_store_t *ckpt;
    sl_state_host_t *w1, *w2, *r;
    sl_state_t *t1, *t2, *v, *own;
    fresh();
    ckpt = sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ckpt);
    w1 = sl_state_host_new(ckpt, "tab/users/0", 100, 64, err, sizeof(err));
    w2 = sl_state_host_new(ckpt, "tab/users/1", 100, 64, err, sizeof(err));
    r = sl_state_host_new(ckpt, "in/ev/0", 100, 64, err, sizeof(err));
    CU_ASSERT_FATAL(w1 && w2 && r);
    t1 = sl_state_host_table(w1, "j", "tab/users", 1);
    t2 = sl_state_host_table(w2, "j", "tab/users", 1);
    v = sl_state_host_table(r, "j", "tab/users", 0);
    own = sl_state_host_store(w1, "j");
    CU_ASSERT_FATAL(t1 && t2 && v && own);
    CU_ASSERT_PTR_EQUAL(sl_state_host_table(w1, "j", "tab/users", 1), t1);
    CU_ASSERT_PTR_NOT_EQUAL(own, t1);

    CU_ASSERT_EQUAL(put_s(t1, "a", "1", 0), SL_OK);
    CU_ASSERT_EQUAL(put_s(t2, "b", "2", 0), SL_OK);
    CU_ASSERT_STRING_EQUAL(get_s(v, "a"), ""); /* not committed yet */
    {
        sl_ckpt_t cp = {.system = "tab", .stream = "users", .partition = "0", .offset = "1"};
        sl_state_commit_t sc = {&w1, 1};
        CU_ASSERT_EQUAL_FATAL(sl_ckpt_write_with(ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                                 sizeof(err)), SL_OK);
        sl_state_host_committed(w1);
    }
    CU_ASSERT_STRING_EQUAL(get_s(v, "a"), "1");
    CU_ASSERT_STRING_EQUAL(get_s(v, "b"), "");
    CU_ASSERT_STRING_EQUAL(get_s(own, "a"), ""); /* the instance's own store is another */
    /* Another writer overwrites the key; the view sees it once committed, never a cached copy. */
    CU_ASSERT_EQUAL(put_s(t2, "a", "9", 0), SL_OK);
    {
        sl_ckpt_t cp = {.system = "tab", .stream = "users", .partition = "1", .offset = "5"};
        sl_state_commit_t sc = {&w2, 1};
        CU_ASSERT_EQUAL_FATAL(sl_ckpt_write_with(ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                                 sizeof(err)), SL_OK);
        sl_state_host_committed(w2);
    }
    CU_ASSERT_STRING_EQUAL(get_s(v, "a"), "9");
    CU_ASSERT_STRING_EQUAL(get_s(v, "b"), "2");
    CU_ASSERT_EQUAL(sl_state_delete(t1, "b", 1), SL_OK);
    {
        sl_ckpt_t cp = {.system = "tab", .stream = "users", .partition = "0", .offset = "2"};
        sl_state_commit_t sc = {&w1, 1};
        CU_ASSERT_EQUAL_FATAL(sl_ckpt_write_with(ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                                 sizeof(err)), SL_OK);
        sl_state_host_committed(w1);
    }
    CU_ASSERT_STRING_EQUAL(get_s(v, "b"), "");
    /* A view writes nothing. */
    CU_ASSERT_EQUAL(put_s(v, "c", "3", 0), SL_ERR_STATE);
    CU_ASSERT_EQUAL(sl_state_delete(v, "a", 1), SL_ERR_STATE);
    CU_ASSERT_EQUAL(sl_state_clear(v), SL_ERR_STATE);
    CU_ASSERT_EQUAL(sl_state_delete_range(v, "", 0, NULL, 0), SL_ERR_STATE);
    CU_ASSERT_FALSE(sl_state_host_changed(r));
    sl_state_host_destroy(w1);
    sl_state_host_destroy(w2);
    sl_state_host_destroy(r);
    /* The rows are the table's, whatever partition wrote them. */
    {
        sqlite3 *db;
        sqlite3_stmt *q;
        CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
        CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, "SELECT group_concat(task || ':' || "
                                                     "CAST(key AS TEXT) || '=' || CAST(value AS "
                                                     "TEXT), ' ') FROM sluice_state", -1, &q,
                                                 NULL), SQLITE_OK);
        CU_ASSERT_EQUAL(sqlite3_step(q), SQLITE_ROW);
        CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(q, 0), "table:tab/users:a=9");
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
    sl_ckpt_close(ckpt);
}

/* A failing commit writes neither the offset nor the state. */
static int fail_fn(void *opaque, struct sqlite3 *db) {
    int rc = sl_state_commit_fn(opaque, db);
    return rc == SQLITE_OK ? SQLITE_ABORT : rc;
}

static void test_commit_atomic(void) {
    h_t h;
    char err[512], *off = NULL;
    sl_ckpt_t cp = {.system = "file", .stream = "in", .partition = "0", .offset = "9"};
    sl_state_commit_t sc;
    fresh();
    h_open(&h, 10);
    put_s(h.st, "a", "1", 0);
    h_commit(&h, "1");
    put_s(h.st, "a", "2", 0);
    sc.hosts = &h.sh;
    sc.n = 1;
    CU_ASSERT_NOT_EQUAL(sl_ckpt_write_with(h.ckpt, &cp, 1, fail_fn, &sc, err, sizeof(err)),
                        SL_OK);
    CU_ASSERT_TRUE(sl_state_host_changed(h.sh)); /* still to commit */
    h_close(&h);
    h_open(&h, 10);
    CU_ASSERT_EQUAL(sl_ckpt_read(h.ckpt, "file", "in", "0", &off, NULL), SL_OK);
    CU_ASSERT_STRING_EQUAL(off, "1");
    free(off);
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "a"), "1");
    h_close(&h);
}

/* `sluice checkpoints reset` (sl_ckpt_reset) takes the state of the partitions it resets with
 * their checkpoints, and only theirs: read again from the start, they must not count twice. */
static void test_reset(void) {
    h_t h;
    char err[512];
    int deleted = -1;
    sl_ckpt_t cp = {.system = "file", .stream = "other", .partition = "0", .offset = "3"};
    sl_state_host_t *sh2;
    sl_state_commit_t sc;
    fresh();
    h_open(&h, 10);
    put_s(h.st, "a", "1", 0);
    h_commit(&h, "5");
    sh2 = sl_state_host_new(h.ckpt, "file/other/0", 10, 64, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sh2);
    put_s(sl_state_host_store(sh2, "count"), "b", "2", 0);
    sc.hosts = &sh2;
    sc.n = 1;
    CU_ASSERT_EQUAL(sl_ckpt_write_with(h.ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                       sizeof(err)), SL_OK);
    sl_state_host_committed(sh2);
    sl_state_host_destroy(sh2);
    h_close(&h);

    h_open(&h, 10);
    CU_ASSERT_EQUAL(sl_ckpt_reset(h.ckpt, "in", NULL, &deleted), SL_OK);
    CU_ASSERT_EQUAL(deleted, 1);
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "a"), "");
    sh2 = sl_state_host_new(h.ckpt, "file/other/0", 10, 64, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sh2);
    CU_ASSERT_STRING_EQUAL(get_s(sl_state_host_store(sh2, "count"), "b"), "2");
    sl_state_host_destroy(sh2);
    CU_ASSERT_EQUAL(sl_ckpt_reset(h.ckpt, NULL, NULL, &deleted), SL_OK);
    CU_ASSERT_EQUAL(deleted, 1);
    sh2 = sl_state_host_new(h.ckpt, "file/other/0", 10, 64, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sh2);
    CU_ASSERT_STRING_EQUAL(get_s(sl_state_host_store(sh2, "count"), "b"), "");
    sl_state_host_destroy(sh2);
    h_close(&h);
}

/* --- ranges ------------------------------------------------------------------------------- */

typedef struct range_acc {
    char last[64]; /* the last key seen, to check the order */
    int seen, misordered, stop_after;
    char first[64];
    sl_state_t *st;       /* when set: each visited entry is deleted, and at "k300" */
    int deleted, readded; /* "k000" (already visited) is put back */
} range_acc_t;

static int range_cb(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    range_acc_t *a = opaque;
    char k[64];
    (void)val;
    (void)vlen;
    snprintf(k, sizeof(k), "%.*s", (int)klen, (const char *)key);
    if (a->seen && strcmp(a->last, k) >= 0)
        a->misordered++;
    if (!a->seen)
        snprintf(a->first, sizeof(a->first), "%s", k);
    snprintf(a->last, sizeof(a->last), "%s", k);
    if (a->st) {
        a->deleted += sl_state_delete(a->st, key, klen) == SL_OK;
        if (strcmp(k, "k300") == 0)
            a->readded += put_s(a->st, "k000", "again", 0) == SL_OK;
    }
    if (++a->seen == a->stop_after)
        return 42;
    return 0;
}

/* Scans k in [lo, hi) (hi NULL: to the end) into a fresh accumulator. */
static sl_err_t range(sl_state_t *st, const char *lo, const char *hi, range_acc_t *a) {
    memset(a, 0, sizeof(*a));
    return sl_state_scan_range(st, lo, strlen(lo), hi, hi ? strlen(hi) : 0, range_cb, a);
}

/* 600 keys (more than two batches of 256) in committed rows, spilled rows and the cache. */
static void fill600(h_t *h) {
    char k[16], v[16];
    for (int i = 0; i < 600; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        snprintf(v, sizeof(v), "%d", i);
        CU_ASSERT_EQUAL(put_s(h->st, k, v, 0), SL_OK);
        if (i == 299)
            h_commit(h, "300");
    }
}

static void test_scan_range(void) {
    h_t h;
    range_acc_t a;
    fresh();
    h_open(&h, 3);
    fill600(&h);
    put_s(h.st, "j", "before", 0);
    put_s(h.st, "k", "prefix", 0);
    put_s(h.st, "l", "after", 0);
    CU_ASSERT_EQUAL(sl_state_delete(h.st, "k250", 4), SL_OK); /* a committed row */
    CU_ASSERT_EQUAL(sl_state_delete(h.st, "k450", 4), SL_OK); /* a spilled one */
    /* everything: 0-byte lo, NULL hi, in byte order */
    CU_ASSERT_EQUAL(range(h.st, "", NULL, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 598 + 3);
    CU_ASSERT_EQUAL(a.misordered, 0);
    CU_ASSERT_STRING_EQUAL(a.first, "j");
    CU_ASSERT_STRING_EQUAL(a.last, "l");
    /* lo inclusive, hi exclusive, a key that is a prefix sorts first */
    CU_ASSERT_EQUAL(range(h.st, "k", "k100", &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 101);
    CU_ASSERT_STRING_EQUAL(a.first, "k");
    CU_ASSERT_STRING_EQUAL(a.last, "k099");
    CU_ASSERT_EQUAL(range(h.st, "k100", "k400", &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 299); /* k250 deleted */
    CU_ASSERT_EQUAL(a.misordered, 0);
    CU_ASSERT_STRING_EQUAL(a.first, "k100");
    CU_ASSERT_STRING_EQUAL(a.last, "k399");
    CU_ASSERT_EQUAL(range(h.st, "k0995", NULL, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 499); /* k100..k599 without k250, k450; and l */
    CU_ASSERT_STRING_EQUAL(a.first, "k100");
    CU_ASSERT_EQUAL(range(h.st, "k123", "k123", &a), SL_OK); /* empty */
    CU_ASSERT_EQUAL(a.seen, 0);
    CU_ASSERT_EQUAL(range(h.st, "k400", "k100", &a), SL_OK); /* upside down: empty */
    CU_ASSERT_EQUAL(a.seen, 0);
    {
        const char k[5] = {'k', '1', '2', '3', '\0'};
        memset(&a, 0, sizeof(a));
        CU_ASSERT_EQUAL(sl_state_scan_range(h.st, "k123", 4, k, 5, range_cb, &a), SL_OK);
        CU_ASSERT_EQUAL(a.seen, 1); /* [k123, k123\0): just k123 */
    }
    CU_ASSERT_EQUAL(sl_state_scan_range(h.st, NULL, 1, NULL, 0, range_cb, &a), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_state_scan_range(h.st, "", 0, NULL, 0, NULL, &a), SL_ERR_INVAL);
    /* early stop: in the first batch and past it */
    memset(&a, 0, sizeof(a));
    a.stop_after = 1;
    CU_ASSERT_EQUAL(sl_state_scan_range(h.st, "k", 1, NULL, 0, range_cb, &a), 42);
    CU_ASSERT_EQUAL(a.seen, 1);
    memset(&a, 0, sizeof(a));
    a.stop_after = 300;
    CU_ASSERT_EQUAL(sl_state_scan_range(h.st, "k000", 4, NULL, 0, range_cb, &a), 42);
    CU_ASSERT_EQUAL(a.seen, 300);
    CU_ASSERT_STRING_EQUAL(a.last, "k300"); /* k250 is not there */
    /* the same after a commit and a reopen */
    h_commit(&h, "600");
    h_close(&h);
    h_open(&h, 3);
    CU_ASSERT_EQUAL(range(h.st, "k100", "k400", &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 299);
    CU_ASSERT_EQUAL(a.misordered, 0);
    /* changes during a scan: each entry deleted as it is visited, one behind put back */
    memset(&a, 0, sizeof(a));
    a.st = h.st;
    CU_ASSERT_EQUAL(sl_state_scan_range(h.st, "k", 1, "l", 1, range_cb, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 599); /* k, and k000..k599 without k250, k450 */
    CU_ASSERT_EQUAL(a.deleted, 599);
    CU_ASSERT_EQUAL(a.readded, 1);
    CU_ASSERT_EQUAL(a.misordered, 0);
    CU_ASSERT_EQUAL(range(h.st, "", NULL, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 3); /* j, k000 (put back), l */
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "k000"), "again");
    h_close(&h);
}

static void test_delete_range(void) {
    h_t h;
    range_acc_t a;
    char k[16];
    int bad = 0;
    fresh();
    h_open(&h, 4);
    fill600(&h);
    h_commit(&h, "600"); /* k000..k599 committed */
    /* cached and spilled changes on top */
    CU_ASSERT_EQUAL(put_s(h.st, "k100", "changed", 0), SL_OK);
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof(k), "n%02d", i);
        CU_ASSERT_EQUAL(put_s(h.st, k, "new", 0), SL_OK);
    }
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "k550"), "550"); /* in the cache, clean */
    CU_ASSERT_EQUAL(sl_state_delete_range(h.st, "k050", 4, "n10", 3), SL_OK);
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "k049"), "49");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "k050"), "");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "k100"), "");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "k550"), "");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "n09"), "");
    CU_ASSERT_STRING_EQUAL(get_s(h.st, "n10"), "new");
    CU_ASSERT_TRUE(sl_state_host_changed(h.sh));
    CU_ASSERT_EQUAL(range(h.st, "", NULL, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 50 + 10);
    CU_ASSERT_STRING_EQUAL(a.first, "k000");
    CU_ASSERT_STRING_EQUAL(a.last, "n19");
    CU_ASSERT_EQUAL(range(h.st, "k050", "n10", &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 0);
    /* a key put back after the delete is there */
    CU_ASSERT_EQUAL(put_s(h.st, "k300", "back", 0), SL_OK);
    /* a crash forgets the delete */
    h_close(&h);
    h_open(&h, 4);
    CU_ASSERT_EQUAL(range(h.st, "", NULL, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 600);
    CU_ASSERT_EQUAL(sl_state_delete_range(h.st, "k050", 4, "n10", 3), SL_OK);
    CU_ASSERT_EQUAL(put_s(h.st, "k300", "back", 0), SL_OK);
    /* committed, it survives */
    h_commit(&h, "601");
    h_close(&h);
    h_open(&h, 4);
    for (int i = 0; i < 600; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        if (i < 50)
            bad += strcmp(get_s(h.st, k), "") == 0;
        else if (i == 300)
            bad += strcmp(get_s(h.st, k), "back") != 0;
        else
            bad += strcmp(get_s(h.st, k), "") != 0;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(range(h.st, "", NULL, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 51);
    /* to the end (hi NULL) and from the start (lo of 0 bytes) */
    CU_ASSERT_EQUAL(sl_state_delete_range(h.st, "k300", 4, NULL, 0), SL_OK);
    CU_ASSERT_EQUAL(range(h.st, "", NULL, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 50);
    CU_ASSERT_EQUAL(sl_state_delete_range(h.st, "", 0, NULL, 0), SL_OK);
    CU_ASSERT_EQUAL(range(h.st, "", NULL, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 0);
    CU_ASSERT_EQUAL(sl_state_delete_range(h.st, NULL, 1, NULL, 0), SL_ERR_INVAL);
    h_commit(&h, "602");
    h_close(&h);
    h_open(&h, 4);
    CU_ASSERT_EQUAL(range(h.st, "", NULL, &a), SL_OK);
    CU_ASSERT_EQUAL(a.seen, 0);
    {
        sqlite3 *db;
        sqlite3_stmt *q;
        CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
        CU_ASSERT_EQUAL(sqlite3_prepare_v2(db, "SELECT count(*) FROM sluice_state", -1, &q, NULL),
                        SQLITE_OK);
        CU_ASSERT_EQUAL(sqlite3_step(q), SQLITE_ROW);
        CU_ASSERT_EQUAL(sqlite3_column_int(q, 0), 0);
        sqlite3_finalize(q);
        sqlite3_close(db);
    }
    h_close(&h);
}

/* --- allocation failures ------------------------------------------------------------------ */

typedef struct oom_ctx {
    sl_ckpt_store_t *ckpt;
    int run; /* each run has its own task: committed rows of earlier runs do not matter */
} oom_ctx_t;

static int count_cb(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    ++*(int *)opaque;
    return 0;
}

static oom_result_t state_run(void *opaque) {
    oom_ctx_t *c = opaque;
    char task[32], k[16], v[16], err[256];
    sl_ckpt_t cp = {.system = "s", .stream = "x", .partition = task, .offset = "1"};
    sl_state_commit_t sc;
    sl_state_host_t *sh;
    sl_state_t *st;
    oom_result_t res = OOM_FAILED;
    int n = 0;

    snprintf(task, sizeof(task), "s/x/%d", c->run++);
    if (!(sh = sl_state_host_new(c->ckpt, task, 3, 64, err, sizeof(err))))
        return OOM_FAILED;
    if (!(st = sl_state_host_store(sh, "op")))
        goto out;
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        snprintf(v, sizeof(v), "v%d", i);
        if (sl_state_put(st, k, strlen(k), v, strlen(v), 0) != SL_OK)
            goto out;
    }
    if (sl_state_delete(st, "k3", 2) != SL_OK)
        goto out;
    for (int i = 0; i < 10; i++) {
        const void *val;
        size_t vlen;
        sl_err_t e;
        snprintf(k, sizeof(k), "k%d", i);
        snprintf(v, sizeof(v), "v%d", i);
        e = sl_state_get(st, k, strlen(k), &val, &vlen);
        if (e == SL_ERR_NOMEM)
            goto out;
        CU_ASSERT_EQUAL(e, i == 3 ? SL_ERR_NOENT : SL_OK);
        CU_ASSERT(i == 3 || (vlen == strlen(v) && memcmp(val, v, vlen) == 0));
    }
    if (sl_state_scan_prefix(st, "k", 1, count_cb, &n) != SL_OK)
        goto out;
    CU_ASSERT_EQUAL(n, 9);
    sc.hosts = &sh;
    sc.n = 1;
    if (sl_ckpt_write_with(c->ckpt, &cp, 1, sl_state_commit_fn, &sc, err, sizeof(err)) != SL_OK)
        goto out;
    sl_state_host_committed(sh);
    res = OOM_DONE;
out:
    sl_state_host_destroy(sh);
    return res;
}

static void test_oom(void) {
    oom_ctx_t c = {NULL, 0};
    char err[512];
    int was;
    if (!oom_available()) {
        printf("\n    SKIP: built without the linker's --wrap: no allocation-failure hook ");
        CU_PASS("skipped: no allocation-failure hook");
        return;
    }
    fresh();
    was = oom_pause();
    c.ckpt = sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err));
    oom_resume(was);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.ckpt);
    oom_walk("keyed state", state_run, &c, 0, NULL);
    was = oom_pause();
    sl_ckpt_close(c.ckpt);
    oom_resume(was);
}

void test_state_register(void) {
    static const unit_test_t tests[] = {
        {"basic", test_basic},
        {"scan", test_scan},
        {"ttl", test_ttl},
        {"eviction", test_eviction},
        {"commit_reopen", test_commit_reopen},
        {"commit_atomic", test_commit_atomic},
        {"checkpoints reset", test_reset},
        {"scan_range: bounds, batches, stop, changes", test_scan_range},
        {"delete_range: cache, spilled, committed", test_delete_range},
        {"job-wide table: writers and a view", test_table},
        {"allocation failures", test_oom},
        {NULL, NULL},
    };
    unit_add_suite("state", tests);
}
