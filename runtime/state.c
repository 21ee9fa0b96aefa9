/*
 * state.c: the operators' keyed state (sluice/state.h). Each operator instance of a partition's
 * chain has a store: a write-back cache (a hash table with an LRU list, at most
 * task.state.cache.size entries) in front of the table sluice_state of the job's SQLite
 * checkpoint file. Changes stay in the cache until the worker commits the partition: then
 * sl_state_commit_fn writes them in the very transaction that writes the partition's offset, so
 * the state on disk always matches the committed offset. When the cache is full of changes it
 * spills them into a TEMP table (sluice_state_pending: private to the connection, gone with the
 * process, so a crash forgets them like the cache), which reads consult before the committed
 * rows and the commit moves into sluice_state. Entries with a TTL read as absent once expired;
 * every commit deletes the expired rows of the committed tasks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sluice/log.h"
#include "state_int.h"
#include "util_str.h"
#include "util_time.h"

typedef struct st_entry {
    struct st_entry *hnext;      /* hash chain */
    struct st_entry *prev, *next; /* LRU list, most recent first */
    uint64_t hash;
    unsigned char *key;
    size_t klen;
    unsigned char *val; /* NULL: deleted (a tombstone to commit) */
    size_t vlen;
    int64_t expires; /* ms since the epoch, 0 never */
    int dirty;       /* changed, and neither spilled nor committed */
} st_entry_t;

struct sl_state {
    sl_state_host_t *sh;
    struct sl_state *next;
    char *op;
    st_entry_t **buckets;
    size_t nbuckets, count;
    st_entry_t *head, *tail;
    size_t ndirty;
    int cleared; /* sl_state_clear() since the last commit: committed rows are gone */
    int spilled; /* rows in sluice_state_pending since the last commit */
    int changed; /* anything to commit */
    sqlite3_stmt *rd; /* read_fn's statement, prepared once (used under the store's lock) */
    sqlite3_stmt *sc[4]; /* scan_fn's, by (after, bounded): prepared once */
    /* The task its rows are written under: the host's, or a job-wide table's (see
     * sl_state_host_table()), then owned in task_own. */
    const char *task;
    char *task_own;
    int view;   /* a read-only, uncached view of a job-wide table's committed rows */
    void *vbuf; /* the view's last value, returned by sl_state_get() */
};

struct sl_state_host {
    sl_ckpt_store_t *ckpt;
    char *task;
    size_t cache_max, value_max;
    sl_state_t *stores;
};

/* --- the cache ------------------------------------------------------------------------------ */

static uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void lru_unlink(sl_state_t *st, st_entry_t *e) {
    if (e->prev)
        e->prev->next = e->next;
    else
        st->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        st->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(sl_state_t *st, st_entry_t *e) {
    e->next = st->head;
    e->prev = NULL;
    if (st->head)
        st->head->prev = e;
    st->head = e;
    if (!st->tail)
        st->tail = e;
}

static st_entry_t *cache_find(sl_state_t *st, const void *key, size_t klen, uint64_t h) {
    if (!st->nbuckets)
        return NULL;
    for (st_entry_t *e = st->buckets[h & (st->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

static void entry_free(st_entry_t *e) {
    free(e->key);
    free(e->val);
    free(e);
}

/* Takes e out of the table and the list and frees it. */
static void cache_remove(sl_state_t *st, st_entry_t *e) {
    st_entry_t **pp = &st->buckets[e->hash & (st->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(st, e);
    if (e->dirty)
        st->ndirty--;
    st->count--;
    entry_free(e);
}

static void cache_drop_all(sl_state_t *st) {
    while (st->head)
        cache_remove(st, st->head);
}

static int cache_grow(sl_state_t *st) {
    size_t n = st->nbuckets ? st->nbuckets * 2 : 64;
    st_entry_t **b = calloc(n, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < st->nbuckets; i++)
        for (st_entry_t *e = st->buckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = n;
    return 0;
}

/* --- SQL ------------------------------------------------------------------------------------ */

static void log_db(const sl_state_t *st, sqlite3 *db, const char *what) {
    sl_log(SL_LOG_ERROR, "state", "operators.%s, task %s: %s: %s", st->op, st->task, what,
           sqlite3_errmsg(db));
}

static void bind_key(sqlite3_stmt *stmt, int idx, const void *key, size_t klen) {
    /* Always a blob (also when empty), so keys compare bytewise. */
    if (klen)
        sqlite3_bind_blob64(stmt, idx, key, klen, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(stmt, idx, 0);
}

/* Writes every dirty entry into sluice_state_pending (one transaction of the TEMP database: no
 * fsync) and marks it clean. */
typedef struct spill_arg {
    sl_state_t *st;
} spill_arg_t;

static int spill_fn(void *opaque, sqlite3 *db) {
    sl_state_t *st = ((spill_arg_t *)opaque)->st;
    sqlite3_stmt *up = NULL;
    size_t left = st->ndirty;
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_prepare_v2(db,
                            "INSERT OR REPLACE INTO temp.sluice_state_pending"
                            " (task, operator, key, value, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                            -1, &up, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    /* The dirty entries were written recently: near the front, and the walk stops at the last. */
    for (st_entry_t *e = st->head; e && left; e = e->next) {
        if (!e->dirty)
            continue;
        left--;
        sqlite3_bind_text(up, 1, st->task, -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 2, st->op, -1, SQLITE_STATIC);
        bind_key(up, 3, e->key, e->klen);
        if (!e->val)
            sqlite3_bind_null(up, 4);
        else if (e->vlen)
            sqlite3_bind_blob64(up, 4, e->val, e->vlen, SQLITE_STATIC);
        else
            sqlite3_bind_zeroblob(up, 4, 0);
        sqlite3_bind_int64(up, 5, e->expires);
        rc = sqlite3_step(up);
        sqlite3_reset(up);
        if (rc != SQLITE_DONE)
            goto fail;
    }
    sqlite3_finalize(up);
    up = NULL;
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    left = st->ndirty;
    for (st_entry_t *e = st->head; e && left; e = e->next)
        if (e->dirty) {
            e->dirty = 0;
            left--;
        }
    st->ndirty = 0;
    st->spilled = 1;
    return SQLITE_OK;
fail:
    log_db(st, db, "spilling the state cache");
    sqlite3_finalize(up);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_OK || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

static sl_err_t spill(sl_state_t *st) {
    spill_arg_t a = {st};
    if (!st->ndirty)
        return SL_OK;
    return sl_ckpt_with_db(st->sh->ckpt, spill_fn, &a) == SQLITE_OK ? SL_OK : SL_ERR_DB;
}

/* Makes room for one more entry: evicts the least recently used one, spilling the changes
 * first when it is one. */
static sl_err_t cache_make_room(sl_state_t *st) {
    while (st->count >= st->sh->cache_max && st->tail) {
        if (st->tail->dirty) {
            sl_err_t err = spill(st);
            if (err != SL_OK)
                return err;
        }
        cache_remove(st, st->tail);
    }
    if (st->count + 1 > st->nbuckets && cache_grow(st) < 0)
        return SL_ERR_NOMEM;
    return SL_OK;
}

/* A new entry for key at the front (the key is not in the cache). */
static st_entry_t *cache_add(sl_state_t *st, const void *key, size_t klen, uint64_t h) {
    st_entry_t *e;
    if (cache_make_room(st) != SL_OK)
        return NULL;
    if (!(e = calloc(1, sizeof(*e))) || !(e->key = malloc(klen ? klen : 1))) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->hash = h;
    e->hnext = st->buckets[h & (st->nbuckets - 1)];
    st->buckets[h & (st->nbuckets - 1)] = e;
    lru_front(st, e);
    st->count++;
    return e;
}

static int expired(int64_t expires, int64_t now) {
    return expires > 0 && expires <= now;
}

/* One key's value as the store sees it without the cache: spilled, else committed (unless
 * cleared). */
typedef struct read_arg {
    sl_state_t *st;
    const void *key;
    size_t klen;
    int found;      /* a row (a spilled deletion counts: val NULL) */
    void *val;      /* heap copy */
    size_t vlen;
    int64_t expires;
} read_arg_t;

static int read_fn(void *opaque, sqlite3 *db) {
    read_arg_t *a = opaque;
    sl_state_t *st = a->st;
    sqlite3_stmt *rd = st->rd;
    int rc = SQLITE_OK;
    if (!rd)
        rc = sqlite3_prepare_v3(
            db,
            "SELECT value, expires_at, 1 AS o FROM temp.sluice_state_pending"
            " WHERE task = ?1 AND operator = ?2 AND key = ?3"
            " UNION ALL SELECT value, expires_at, 0 AS o FROM main.sluice_state"
            " WHERE job_name = ?4 AND job_id = ?5 AND task = ?1 AND operator = ?2 AND key = ?3"
            " AND ?6 = 0 ORDER BY o DESC LIMIT 1",
            -1, SQLITE_PREPARE_PERSISTENT, &rd, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    st->rd = rd;
    sqlite3_bind_text(rd, 1, st->task, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd, 2, st->op, -1, SQLITE_STATIC);
    bind_key(rd, 3, a->key, a->klen);
    sqlite3_bind_text(rd, 4, sl_ckpt_job_name(st->sh->ckpt), -1, SQLITE_STATIC);
    sqlite3_bind_text(rd, 5, sl_ckpt_job_id(st->sh->ckpt), -1, SQLITE_STATIC);
    sqlite3_bind_int(rd, 6, st->cleared);
    rc = sqlite3_step(rd);
    if (rc == SQLITE_ROW) {
        a->found = 1;
        a->expires = sqlite3_column_int64(rd, 1);
        if (sqlite3_column_type(rd, 0) != SQLITE_NULL) {
            const void *v = sqlite3_column_blob(rd, 0);
            a->vlen = (size_t)sqlite3_column_bytes(rd, 0);
            if (!(a->val = malloc(a->vlen ? a->vlen : 1))) {
                sqlite3_reset(rd);
                return SQLITE_NOMEM;
            }
            if (a->vlen)
                memcpy(a->val, v, a->vlen);
        }
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_reset(rd);
    return SQLITE_OK;
fail:
    log_db(st, db, "reading a key");
    if (rd)
        sqlite3_reset(rd);
    return rc;
}

/* --- the public API ------------------------------------------------------------------------- */

/* Reads key's row (pending, then committed) into *a: a->val a heap copy or NULL. */
static sl_err_t read_row(sl_state_t *st, const void *key, size_t klen, read_arg_t *a) {
    int rc;
    memset(a, 0, sizeof(*a));
    a->st = st;
    a->key = key;
    a->klen = klen;
    rc = sl_ckpt_with_db(st->sh->ckpt, read_fn, a);
    if (rc != SQLITE_OK)
        return (rc & 0xff) == SQLITE_NOMEM ? SL_ERR_NOMEM : SL_ERR_DB;
    return SL_OK;
}

sl_err_t sl_state_get(sl_state_t *st, const void *key, size_t klen, const void **val,
                      size_t *vlen) {
    uint64_t h;
    st_entry_t *e;
    read_arg_t a;
    sl_err_t err;

    if (!st || (!key && klen) || !val || !vlen)
        return SL_ERR_INVAL;
    if (st->view) {
        /* Other threads change the table: every read asks the file. */
        if ((err = read_row(st, key, klen, &a)) != SL_OK)
            return err;
        free(st->vbuf);
        st->vbuf = a.val;
        if (!a.found || !a.val || expired(a.expires, sl_now_ms()))
            return SL_ERR_NOENT;
        *val = a.val;
        *vlen = a.vlen;
        return SL_OK;
    }
    h = hash_bytes(key, klen);
    e = cache_find(st, key, klen, h);
    if (!e) {
        if ((err = read_row(st, key, klen, &a)) != SL_OK)
            return err;
        if (!a.found || !a.val || expired(a.expires, sl_now_ms())) {
            free(a.val);
            return SL_ERR_NOENT;
        }
        if (!(e = cache_add(st, key, klen, h))) {
            free(a.val);
            return SL_ERR_NOMEM;
        }
        e->val = a.val;
        e->vlen = a.vlen;
        e->expires = a.expires;
    } else {
        lru_unlink(st, e);
        lru_front(st, e);
    }
    if (!e->val || expired(e->expires, sl_now_ms()))
        return SL_ERR_NOENT;
    *val = e->val;
    *vlen = e->vlen;
    return SL_OK;
}

/* Key as text for a message: printable bytes as they are, others as \xNN, at most 64 bytes. */
static void key_text(const void *key, size_t klen, char *buf, size_t len) {
    const unsigned char *k = key;
    size_t o = 0;
    for (size_t i = 0; i < klen && i < 64 && o + 5 < len; i++)
        o += (size_t)snprintf(buf + o, len - o, k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\'
                                                    ? "%c" : "\\x%02x", k[i]);
    if (klen > 64 && o + 4 < len)
        o += (size_t)snprintf(buf + o, len - o, "...");
    buf[o < len ? o : len - 1] = '\0';
}

/* The entry to change for key, found or added. */
static st_entry_t *entry_for_write(sl_state_t *st, const void *key, size_t klen) {
    uint64_t h = hash_bytes(key, klen);
    st_entry_t *e = cache_find(st, key, klen, h);
    if (e) {
        lru_unlink(st, e);
        lru_front(st, e);
        return e;
    }
    return cache_add(st, key, klen, h);
}

static void mark_dirty(sl_state_t *st, st_entry_t *e) {
    if (!e->dirty)
        st->ndirty++;
    e->dirty = 1;
    st->changed = 1;
}

sl_err_t sl_state_put(sl_state_t *st, const void *key, size_t klen, const void *val,
                      size_t vlen, int64_t ttl_ms) {
    st_entry_t *e;
    unsigned char *copy;
    char ktxt[300];

    if (st && st->view)
        return SL_ERR_STATE; /* a view of a table: only its partitions' instances write */
    if (!st || !key || !klen || (!val && vlen) || ttl_ms < 0) {
        if (st)
            sl_log(SL_LOG_ERROR, "state", "operators.%s, task %s: sl_state_put: %s", st->op,
                   st->task, !klen ? "empty key" : "invalid arguments");
        return SL_ERR_INVAL;
    }
    if (vlen > st->sh->value_max) {
        key_text(key, klen, ktxt, sizeof(ktxt));
        sl_log(SL_LOG_ERROR, "state",
               "operators.%s, task %s: the value for key '%s' is %zu bytes, more than "
               "task.state.value.max-bytes (%zu)",
               st->op, st->task, ktxt, vlen, st->sh->value_max);
        return SL_ERR_INVAL;
    }
    e = cache_find(st, key, klen, hash_bytes(key, klen));
    if (e && e->val && e->vlen == vlen) {
        /* The same size (a counter, a timestamp): overwritten in place. */
        lru_unlink(st, e);
        lru_front(st, e);
        if (vlen)
            memmove(e->val, val, vlen);
    } else {
        /* Copied first: val may be a value the eviction below frees. */
        if (!(copy = malloc(vlen ? vlen : 1)))
            return SL_ERR_NOMEM;
        if (vlen)
            memcpy(copy, val, vlen);
        if (!(e = entry_for_write(st, key, klen))) {
            free(copy);
            return SL_ERR_NOMEM;
        }
        free(e->val);
        e->val = copy;
    }
    e->vlen = vlen;
    e->expires = ttl_ms > 0 ? sl_now_ms() + ttl_ms : 0;
    mark_dirty(st, e);
    return SL_OK;
}

sl_err_t sl_state_delete(sl_state_t *st, const void *key, size_t klen) {
    st_entry_t *e;
    if (!st || (!key && klen))
        return SL_ERR_INVAL;
    if (st->view)
        return SL_ERR_STATE;
    if (!(e = entry_for_write(st, key, klen)))
        return SL_ERR_NOMEM;
    free(e->val);
    e->val = NULL;
    e->vlen = 0;
    e->expires = 0;
    mark_dirty(st, e);
    return SL_OK;
}

/* 1 when lo <= key < hi (hi NULL: no end) in byte order. */
static int key_in(const unsigned char *k, size_t kl, const void *lo, size_t lolen, const void *hi,
                  size_t hilen) {
    size_t n = kl < lolen ? kl : lolen;
    int c = n ? memcmp(k, lo, n) : 0;
    if (c < 0 || (c == 0 && kl < lolen))
        return 0;
    if (!hi)
        return 1;
    n = kl < hilen ? kl : hilen;
    c = n ? memcmp(k, hi, n) : 0;
    return c < 0 || (c == 0 && kl < hilen);
}

typedef struct range_arg {
    sl_state_t *st;
    const void *lo, *hi;
    size_t lolen, hilen;
} range_arg_t;

/* Turns every committed and spilled row of the range into a pending deletion. */
static int delete_range_fn(void *opaque, sqlite3 *db) {
    range_arg_t *a = opaque;
    sl_state_t *st = a->st;
    static const char *const sql[2] = {
        "UPDATE temp.sluice_state_pending SET value = NULL, expires_at = 0 WHERE task = ?3"
        " AND operator = ?4 AND key >= ?5 AND (?6 IS NULL OR key < ?6) AND ?1 IS NOT NULL"
        " AND ?2 IS NOT NULL AND ?7 IS NOT NULL",
        "INSERT OR IGNORE INTO temp.sluice_state_pending (task, operator, key, value, expires_at)"
        " SELECT task, operator, key, NULL, 0 FROM main.sluice_state WHERE job_name = ?1"
        " AND job_id = ?2 AND task = ?3 AND operator = ?4 AND key >= ?5"
        " AND (?6 IS NULL OR key < ?6) AND ?7 = 0"};
    int rc = SQLITE_OK;
    for (int i = 0; i < 2 && rc == SQLITE_OK; i++) {
        sqlite3_stmt *stmt = NULL;
        rc = sqlite3_prepare_v2(db, sql[i], -1, &stmt, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(stmt, 1, sl_ckpt_job_name(st->sh->ckpt), -1, SQLITE_STATIC);
            sqlite3_bind_text(stmt, 2, sl_ckpt_job_id(st->sh->ckpt), -1, SQLITE_STATIC);
            sqlite3_bind_text(stmt, 3, st->task, -1, SQLITE_STATIC);
            sqlite3_bind_text(stmt, 4, st->op, -1, SQLITE_STATIC);
            bind_key(stmt, 5, a->lo, a->lolen);
            if (a->hi)
                bind_key(stmt, 6, a->hi, a->hilen);
            else
                sqlite3_bind_null(stmt, 6);
            sqlite3_bind_int(stmt, 7, st->cleared);
            rc = sqlite3_step(stmt);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        sqlite3_finalize(stmt);
    }
    if (rc != SQLITE_OK)
        log_db(st, db, "deleting a range");
    return rc;
}

sl_err_t sl_state_delete_range(sl_state_t *st, const void *lo, size_t lolen, const void *hi,
                               size_t hilen) {
    range_arg_t a;
    int rc;
    if (!st || (!lo && lolen))
        return SL_ERR_INVAL;
    if (st->view)
        return SL_ERR_STATE;
    for (st_entry_t *e = st->head; e; e = e->next)
        if (e->val && key_in(e->key, e->klen, lo ? lo : "", lolen, hi, hilen)) {
            free(e->val);
            e->val = NULL;
            e->vlen = 0;
            e->expires = 0;
            mark_dirty(st, e);
        }
    /* The cache's tombstones first, then the rows on disk. */
    if (spill(st) != SL_OK)
        return SL_ERR_DB;
    a.st = st;
    a.lo = lo ? lo : "";
    a.lolen = lolen;
    a.hi = hi;
    a.hilen = hilen;
    rc = sl_ckpt_with_db(st->sh->ckpt, delete_range_fn, &a);
    if (rc != SQLITE_OK)
        return (rc & 0xff) == SQLITE_NOMEM ? SL_ERR_NOMEM : SL_ERR_DB;
    st->spilled = 1;
    st->changed = 1;
    return SL_OK;
}

static int clear_fn(void *opaque, sqlite3 *db) {
    sl_state_t *st = opaque;
    sqlite3_stmt *del = NULL;
    int rc = sqlite3_prepare_v2(
        db, "DELETE FROM temp.sluice_state_pending WHERE task = ?1 AND operator = ?2", -1, &del,
        NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(del, 1, st->task, -1, SQLITE_STATIC);
        sqlite3_bind_text(del, 2, st->op, -1, SQLITE_STATIC);
        rc = sqlite3_step(del);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK)
        log_db(st, db, "clearing");
    sqlite3_finalize(del);
    return rc;
}

sl_err_t sl_state_clear(sl_state_t *st) {
    if (!st)
        return SL_ERR_INVAL;
    if (st->view)
        return SL_ERR_STATE;
    cache_drop_all(st);
    if (sl_ckpt_with_db(st->sh->ckpt, clear_fn, st) != SQLITE_OK)
        return SL_ERR_DB;
    st->spilled = 0;
    st->cleared = 1;
    st->changed = 1;
    return SL_OK;
}

/* Scans read the store in batches of SCAN_BATCH keys (copies, so the callback may change the
 * store): a callback that stops early costs one batch, not a copy of the whole range. */
#define SCAN_BATCH 256

typedef struct scan_row {
    void *key, *val; /* val NULL: a deleted or expired key (it still moves the cursor) */
    size_t klen, vlen;
} scan_row_t;

typedef struct scan_arg {
    sl_state_t *st;
    const void *lo; /* the batch's first key (inclusive, or exclusive with after) */
    size_t lolen;
    int after;
    const void *hi; /* the end of the range (exclusive); NULL: none */
    size_t hilen;
    scan_row_t rows[SCAN_BATCH];
    size_t n;
} scan_arg_t;

static void scan_rows_free(scan_arg_t *a) {
    for (size_t i = 0; i < a->n; i++) {
        free(a->rows[i].key);
        free(a->rows[i].val);
    }
    a->n = 0;
}

static int scan_fn(void *opaque, sqlite3 *db) {
    scan_arg_t *a = opaque;
    sl_state_t *st = a->st;
    int which = (a->after ? 1 : 0) | (a->hi ? 2 : 0);
    sqlite3_stmt *sc = st->sc[which];
    int64_t now = sl_now_ms();
    char sql[1024];
    const char *op = a->after ? ">" : ">=", *upper = a->hi ? " AND key < ?4" : "";
    int rc = SQLITE_OK;

    /* The pending rows (spilled changes, deletions as NULL) hide the committed ones. An upper
     * bound only when there is one: `?4 IS NULL OR key < ?4` would keep SQLite from using it
     * to end the range, and every scan would read to the end of the store. */
    if (!sc) {
        snprintf(sql, sizeof(sql),
                 "SELECT key, value, expires_at FROM temp.sluice_state_pending"
                 " WHERE task = ?1 AND operator = ?2 AND key %s ?3%s"
                 " UNION ALL SELECT key, value, expires_at FROM main.sluice_state AS s"
                 " WHERE job_name = ?5 AND job_id = ?6 AND task = ?1 AND operator = ?2"
                 " AND ?7 = 0 AND key %s ?3%s AND NOT EXISTS (SELECT 1 FROM"
                 " temp.sluice_state_pending AS p WHERE p.task = ?1 AND p.operator = ?2"
                 " AND p.key = s.key) ORDER BY 1 LIMIT %d",
                 op, upper, op, upper, SCAN_BATCH);
        rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &sc, NULL);
        if (rc != SQLITE_OK)
            goto fail;
        st->sc[which] = sc;
    }
    sqlite3_bind_text(sc, 1, st->task, -1, SQLITE_STATIC);
    sqlite3_bind_text(sc, 2, st->op, -1, SQLITE_STATIC);
    bind_key(sc, 3, a->lo, a->lolen);
    if (a->hi)
        bind_key(sc, 4, a->hi, a->hilen);
    sqlite3_bind_text(sc, 5, sl_ckpt_job_name(st->sh->ckpt), -1, SQLITE_STATIC);
    sqlite3_bind_text(sc, 6, sl_ckpt_job_id(st->sh->ckpt), -1, SQLITE_STATIC);
    sqlite3_bind_int(sc, 7, st->cleared);
    while (a->n < SCAN_BATCH && (rc = sqlite3_step(sc)) == SQLITE_ROW) {
        scan_row_t *r = &a->rows[a->n];
        size_t kl = (size_t)sqlite3_column_bytes(sc, 0);
        int live = sqlite3_column_type(sc, 1) != SQLITE_NULL &&
                   !expired(sqlite3_column_int64(sc, 2), now);
        size_t vl = live ? (size_t)sqlite3_column_bytes(sc, 1) : 0;
        r->key = malloc(kl ? kl : 1);
        r->val = live ? malloc(vl ? vl : 1) : NULL;
        if (!r->key || (live && !r->val)) {
            free(r->key);
            free(r->val);
            /* Not log_db(): the connection's message is the last step's ("another row
             * available"), not this failure. */
            sl_log(SL_LOG_ERROR, "state", "operators.%s, task %s: scanning: out of memory",
                   st->op, st->task);
            sqlite3_reset(sc);
            sqlite3_clear_bindings(sc);
            return SQLITE_NOMEM;
        }
        if (kl)
            memcpy(r->key, sqlite3_column_blob(sc, 0), kl);
        if (vl)
            memcpy(r->val, sqlite3_column_blob(sc, 1), vl);
        r->klen = kl;
        r->vlen = vl;
        a->n++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        goto fail;
    sqlite3_reset(sc);
    sqlite3_clear_bindings(sc);
    return SQLITE_OK;
fail:
    log_db(st, db, "scanning");
    if (sc) {
        sqlite3_reset(sc);
        sqlite3_clear_bindings(sc);
    }
    return rc;
}

sl_err_t sl_state_scan_range(sl_state_t *st, const void *lo, size_t lolen, const void *hi,
                             size_t hilen, sl_state_scan_cb cb, void *opaque) {
    scan_arg_t *a;
    void *cursor = NULL;
    sl_err_t err = SL_OK;

    if (!st || !cb || (!lo && lolen))
        return SL_ERR_INVAL;
    if (!(a = calloc(1, sizeof(*a))))
        return SL_ERR_NOMEM;
    a->st = st;
    a->lo = lo ? lo : "";
    a->lolen = lolen;
    a->hi = hi;
    a->hilen = hilen;
    for (;;) {
        size_t got;
        int rc;
        /* The changes go to the pending table first: one query then sees everything. */
        if ((err = spill(st)) != SL_OK)
            break;
        rc = sl_ckpt_with_db(st->sh->ckpt, scan_fn, a);
        if (rc != SQLITE_OK) {
            err = (rc & 0xff) == SQLITE_NOMEM ? SL_ERR_NOMEM : SL_ERR_DB;
            break;
        }
        got = a->n;
        for (size_t i = 0; i < got && err == SL_OK; i++) {
            scan_row_t *r = &a->rows[i];
            int stop;
            if (!r->val)
                continue;
            stop = cb(opaque, r->key, r->klen, r->val, r->vlen);
            if (stop != 0)
                err = (sl_err_t)stop;
        }
        if (err != SL_OK || got < SCAN_BATCH)
            break;
        /* The next batch starts after the last key of this one. */
        free(cursor);
        cursor = a->rows[got - 1].key;
        a->rows[got - 1].key = NULL;
        a->lo = cursor;
        a->lolen = a->rows[got - 1].klen;
        a->after = 1;
        scan_rows_free(a);
    }
    scan_rows_free(a);
    free(cursor);
    free(a);
    return err;
}

sl_err_t sl_state_scan_prefix(sl_state_t *st, const void *prefix, size_t plen,
                              sl_state_scan_cb cb, void *opaque) {
    unsigned char *upper = NULL;
    size_t ulen = 0;
    sl_err_t err;

    if (!st || !cb || (!prefix && plen))
        return SL_ERR_INVAL;
    if (plen) {
        /* The smallest key greater than every key with the prefix: drop trailing 0xff bytes,
         * add one to the last. None when the prefix is all 0xff. */
        if (!(upper = malloc(plen)))
            return SL_ERR_NOMEM;
        memcpy(upper, prefix, plen);
        ulen = plen;
        while (ulen && upper[ulen - 1] == 0xff)
            ulen--;
        if (ulen)
            upper[ulen - 1]++;
    }
    err = sl_state_scan_range(st, prefix, plen, ulen ? upper : NULL, ulen, cb, opaque);
    free(upper);
    return err;
}

/* --- hosts and commits ---------------------------------------------------------------------- */

static int forget_fn(void *opaque, sqlite3 *db) {
    sl_state_host_t *sh = opaque;
    sqlite3_stmt *del = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM temp.sluice_state_pending WHERE task = ?1", -1,
                                &del, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(del, 1, sh->task, -1, SQLITE_STATIC);
        rc = sqlite3_step(del);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK)
        sl_log(SL_LOG_ERROR, "state", "task %s: forgetting uncommitted state: %s", sh->task,
               sqlite3_errmsg(db));
    sqlite3_finalize(del);
    return rc;
}

sl_state_host_t *sl_state_host_new(sl_ckpt_store_t *ckpt, const char *task,
                                   int64_t cache_entries, int64_t value_max, char *errstr,
                                   size_t errlen) {
    sl_state_host_t *sh;
    if (!ckpt || !task) {
        sl_errf(errstr, errlen, "state: a checkpoint store and a task are required");
        return NULL;
    }
    if (!(sh = calloc(1, sizeof(*sh))) || !(sh->task = sl_strdup(task))) {
        sl_errf(errstr, errlen, "task %s: out of memory", task);
        free(sh);
        return NULL;
    }
    sh->ckpt = ckpt;
    sh->cache_max = cache_entries > 0 ? (size_t)cache_entries : 1;
    sh->value_max = value_max > 0 ? (size_t)value_max : 0;
    if (sl_ckpt_with_db(ckpt, forget_fn, sh) != SQLITE_OK) {
        sl_errf(errstr, errlen, "task %s: cannot reset the uncommitted state", task);
        sl_state_host_destroy(sh);
        return NULL;
    }
    return sh;
}

static sl_state_t *host_store(sl_state_host_t *sh, const char *op, const char *task, int view) {
    sl_state_t *st;
    for (st = sh->stores; st; st = st->next)
        if (strcmp(st->op, op) == 0 && strcmp(st->task, task ? task : sh->task) == 0 &&
            st->view == view)
            return st;
    if (!(st = calloc(1, sizeof(*st))) || !(st->op = sl_strdup(op)) ||
        (task && !(st->task_own = sl_strdup(task)))) {
        if (st)
            free(st->op);
        free(st);
        return NULL;
    }
    st->sh = sh;
    st->task = task ? st->task_own : sh->task;
    st->view = view;
    st->next = sh->stores;
    sh->stores = st;
    return st;
}

sl_state_t *sl_state_host_store(sl_state_host_t *sh, const char *op) {
    return host_store(sh, op, NULL, 0);
}

sl_state_t *sl_state_host_table(sl_state_host_t *sh, const char *op, const char *table,
                                int write) {
    char task[512];
    if (snprintf(task, sizeof(task), "table:%s", table) >= (int)sizeof(task))
        return NULL;
    return host_store(sh, op, task, !write);
}

int sl_state_host_changed(const sl_state_host_t *sh) {
    for (const sl_state_t *st = sh ? sh->stores : NULL; st; st = st->next)
        if (st->changed)
            return 1;
    return 0;
}

/* Runs a prepared statement with (job name, job id, task, operator) as ?1..?4. */
static int run4(sqlite3 *db, const char *sql, const sl_state_t *st) {
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, sl_ckpt_job_name(st->sh->ckpt), -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, sl_ckpt_job_id(st->sh->ckpt), -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, st->task, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, st->op, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* The committed rows of one store become what the cache and the pending table say. */
static int commit_store(sqlite3 *db, sl_state_t *st, int64_t now) {
    sqlite3_stmt *up = NULL, *del = NULL;
    int rc = SQLITE_OK;

    if (st->cleared)
        rc = run4(db, "DELETE FROM main.sluice_state WHERE job_name = ?1 AND job_id = ?2"
                      " AND task = ?3 AND operator = ?4", st);
    if (rc == SQLITE_OK && st->spilled)
        rc = run4(db, "INSERT OR REPLACE INTO main.sluice_state (job_name, job_id, task,"
                      " operator, key, value, expires_at) SELECT ?1, ?2, task, operator, key,"
                      " value, expires_at FROM temp.sluice_state_pending WHERE task = ?3"
                      " AND operator = ?4 AND value IS NOT NULL", st);
    if (rc == SQLITE_OK && st->spilled)
        rc = run4(db, "DELETE FROM main.sluice_state WHERE job_name = ?1 AND job_id = ?2"
                      " AND task = ?3 AND operator = ?4 AND key IN (SELECT key FROM"
                      " temp.sluice_state_pending WHERE task = ?3 AND operator = ?4"
                      " AND value IS NULL)", st);
    if (rc == SQLITE_OK && st->spilled)
        rc = run4(db, "DELETE FROM temp.sluice_state_pending WHERE ?1 IS NOT NULL"
                      " AND ?2 IS NOT NULL AND task = ?3 AND operator = ?4", st);
    if (rc != SQLITE_OK)
        goto fail;
    if (st->ndirty) {
        rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO main.sluice_state (job_name, job_id,"
                                    " task, operator, key, value, expires_at)"
                                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &up, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(db, "DELETE FROM main.sluice_state WHERE job_name = ?1"
                                        " AND job_id = ?2 AND task = ?3 AND operator = ?4"
                                        " AND key = ?5", -1, &del, NULL);
        for (st_entry_t *e = st->head; e && rc == SQLITE_OK; e = e->next) {
            sqlite3_stmt *s = e->val ? up : del;
            if (!e->dirty)
                continue;
            sqlite3_bind_text(s, 1, sl_ckpt_job_name(st->sh->ckpt), -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, sl_ckpt_job_id(st->sh->ckpt), -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 3, st->task, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 4, st->op, -1, SQLITE_STATIC);
            bind_key(s, 5, e->key, e->klen);
            if (e->val) {
                if (e->vlen)
                    sqlite3_bind_blob64(s, 6, e->val, e->vlen, SQLITE_STATIC);
                else
                    sqlite3_bind_zeroblob(s, 6, 0);
                sqlite3_bind_int64(s, 7, e->expires);
            }
            rc = sqlite3_step(s);
            sqlite3_reset(s);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
        if (rc != SQLITE_OK)
            goto fail;
    }
    /* Expired rows read as absent already; deleting them changes nothing visible. */
    sqlite3_finalize(up);
    up = NULL;
    rc = sqlite3_prepare_v2(db, "DELETE FROM main.sluice_state WHERE job_name = ?1"
                                " AND job_id = ?2 AND task = ?3 AND operator = ?4"
                                " AND expires_at > 0 AND expires_at <= ?5", -1, &up, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(up, 1, sl_ckpt_job_name(st->sh->ckpt), -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 2, sl_ckpt_job_id(st->sh->ckpt), -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 3, st->task, -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 4, st->op, -1, SQLITE_STATIC);
        sqlite3_bind_int64(up, 5, now);
        rc = sqlite3_step(up);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_finalize(up);
    sqlite3_finalize(del);
    return SQLITE_OK;
fail:
    log_db(st, db, "committing");
    sqlite3_finalize(up);
    sqlite3_finalize(del);
    return rc;
}

int sl_state_commit_fn(void *opaque, sqlite3 *db) {
    sl_state_commit_t *c = opaque;
    int64_t now = sl_now_ms();
    for (int i = 0; i < c->n; i++)
        for (sl_state_t *st = c->hosts[i]->stores; st; st = st->next) {
            int rc;
            if (!st->changed)
                continue;
            if ((rc = commit_store(db, st, now)) != SQLITE_OK)
                return rc;
        }
    return SQLITE_OK;
}

void sl_state_host_committed(sl_state_host_t *sh) {
    for (sl_state_t *st = sh ? sh->stores : NULL; st; st = st->next) {
        if (!st->changed)
            continue;
        for (st_entry_t *e = st->head, *next; e; e = next) {
            next = e->next;
            e->dirty = 0;
            if (!e->val)
                cache_remove(st, e); /* a committed deletion needs no entry */
        }
        st->ndirty = 0;
        st->cleared = st->spilled = st->changed = 0;
    }
}

static int finalize_fn(void *opaque, sqlite3 *db) {
    sl_state_host_t *sh = opaque;
    (void)db;
    for (sl_state_t *st = sh->stores; st; st = st->next) {
        sqlite3_finalize(st->rd);
        st->rd = NULL;
        for (int i = 0; i < 4; i++) {
            sqlite3_finalize(st->sc[i]);
            st->sc[i] = NULL;
        }
    }
    return SQLITE_OK;
}

void sl_state_host_destroy(sl_state_host_t *sh) {
    int spilled = 0;
    if (!sh)
        return;
    sl_ckpt_with_db(sh->ckpt, finalize_fn, sh);
    while (sh->stores) {
        sl_state_t *st = sh->stores;
        sh->stores = st->next;
        spilled |= st->spilled;
        cache_drop_all(st);
        free(st->buckets);
        free(st->op);
        free(st->task_own);
        free(st->vbuf);
        free(st);
    }
    /* A later host of the same task in this process must not read these changes. */
    if (spilled)
        sl_ckpt_with_db(sh->ckpt, forget_fn, sh);
    free(sh->task);
    free(sh);
}
