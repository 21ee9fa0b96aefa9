/*
 * alerts.c: an example custom sluice operator, built as a shared library against the INSTALLED
 * sluice and loaded by a job with dlopen. It sits in the chain like any operator: every input
 * record is passed on unchanged, and it counts records per key; when a key reaches `threshold`
 * records within `window.ms`, it also emits a derived alert record (same key and source, payload
 * {"key":"...","count":N,"window_ms":M}, header alert=true) so a producer downstream can route
 * alerts apart. A timer drops the counters of quiet keys so memory stays bounded.
 *
 * Build (see Makefile.example):
 *     cc -shared -fPIC $(pkg-config --cflags sluice) alerts.c -o libalerts.so
 *
 * Configure in the job file:
 *     task.operators=errors,alerts
 *     operators.errors.type=filter
 *     operators.errors.expr=json_extract(payload, '$.level') = 'error'
 *     operators.alerts.library=./libalerts.so
 *     operators.alerts.threshold=5
 *     operators.alerts.window.ms=30s
 *
 * All callbacks of one instance run on its partition's worker thread, so the state needs no
 * locks; time comes from sl_op_now_ms() so tests can drive it with an injected clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#include <sluice/sluice.h>

#define BUCKETS 1024

typedef struct alerts_conf {
    int threshold;
    int64_t window_ms;
} alerts_conf_t;

/* One key's window: records counted since start. */
typedef struct entry {
    struct entry *next;
    int64_t start;
    int count;
    size_t klen;
    char key[];
} entry_t;

typedef struct alerts {
    alerts_conf_t conf;
    entry_t *buckets[BUCKETS];
    size_t keys;
} alerts_t;

static const sl_prop_t alerts_props[] = {
    {"threshold", SL_PROP_INT, offsetof(alerts_conf_t, threshold), "3", 1, 1000000000, NULL, 0,
     "Records of one key within window.ms that raise an alert (one alert per window)."},
    {"window.ms", SL_PROP_DURATION, offsetof(alerts_conf_t, window_ms), "60s", 1, 8.64e9, NULL,
     0, "Length of a key's counting window; it starts with the key's first record."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static size_t bucket_of(const char *key, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 0x100000001b3ULL;
    return (size_t)(h % BUCKETS);
}

static entry_t *entry_get(alerts_t *a, const char *key, size_t len, int64_t now) {
    entry_t **slot = &a->buckets[bucket_of(key, len)];
    for (entry_t *e = *slot; e; e = e->next)
        if (e->klen == len && memcmp(e->key, key, len) == 0)
            return e;
    entry_t *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    e->start = now;
    e->count = 0;
    e->klen = len;
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->next = *slot;
    *slot = e;
    a->keys++;
    return e;
}

/* Appends s[0..len) as JSON string contents to buf (at most cap bytes in all). */
static size_t json_escape(char *buf, size_t pos, size_t cap, const char *s, size_t len) {
    for (size_t i = 0; i < len && pos + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

/* A derived record (same key, source and checkpoint tracking as rec) describing the alert. */
static sl_record_t *make_alert(const alerts_t *a, const sl_record_t *rec, const entry_t *e) {
    char json[1024];
    size_t pos;
    sl_record_t *alert = sl_record_derive(rec);

    if (!alert)
        return NULL;
    pos = (size_t)snprintf(json, sizeof(json), "{\"key\":\"");
    pos = json_escape(json, pos, sizeof(json) - 64, e->key, e->klen);
    pos += (size_t)snprintf(json + pos, sizeof(json) - pos, "\",\"count\":%d,\"window_ms\":%lld}",
                            e->count, (long long)a->conf.window_ms);
    if (sl_record_set_data(alert, json, pos) != SL_OK ||
        sl_record_set_header(alert, "alert", "true") != SL_OK) {
        sl_record_unref(alert);
        return NULL;
    }
    return alert;
}

static sl_err_t alerts_init(sl_op_t *op, const void *conf, void **statep) {
    alerts_t *a = calloc(1, sizeof(*a));
    if (!a)
        return sl_op_fail(op, "out of memory");
    a->conf = *(const alerts_conf_t *)conf;
    sl_op_set_timer(op, a->conf.window_ms);
    *statep = a;
    return SL_OK;
}

static sl_err_t alerts_process(sl_op_t *op, void *state, sl_record_t *rec) {
    alerts_t *a = state;
    int64_t now = sl_op_now_ms(op);
    size_t len;
    const char *key = sl_record_key(rec, &len);
    sl_record_t *alert = NULL;
    sl_err_t err;

    /* Count and build the alert first: operators downstream may change rec once it is
     * emitted (a map replacing its key, say). */
    if (key) {
        entry_t *e = entry_get(a, key, len, now);
        if (!e)
            return sl_op_fail(op, "out of memory");
        if (now - e->start >= a->conf.window_ms) {
            e->start = now;
            e->count = 0;
        }
        if (++e->count == a->conf.threshold && !(alert = make_alert(a, rec, e)))
            return sl_op_fail(op, "out of memory building an alert");
    }
    err = sl_op_emit(op, rec); /* every input record passes unchanged */
    if (err == SL_OK && alert)
        err = sl_op_emit(op, alert);
    sl_record_unref(alert); /* the chain took its own reference if it kept it */
    return err;
}

/* Forgets the keys whose window has ended: they start afresh with their next record anyway. */
static sl_err_t alerts_timer(sl_op_t *op, void *state, int64_t now_ms) {
    alerts_t *a = state;
    (void)op;
    for (size_t b = 0; b < BUCKETS; b++) {
        entry_t **slot = &a->buckets[b];
        while (*slot) {
            entry_t *e = *slot;
            if (now_ms - e->start >= a->conf.window_ms) {
                *slot = e->next;
                free(e);
                a->keys--;
            } else {
                slot = &e->next;
            }
        }
    }
    return SL_OK;
}

static void alerts_close(sl_op_t *op, void *state) {
    alerts_t *a = state;
    (void)op;
    if (!a)
        return;
    for (size_t b = 0; b < BUCKETS; b++)
        for (entry_t *e = a->buckets[b], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(a);
}

/* The symbol sluice looks up (operators.<name>.symbol, default "sluice_operator"). SL_EXPORT
 * keeps it visible when the library is built with -fvisibility=hidden. */
SL_EXPORT const sl_operator_plugin_t sluice_operator = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "alerts",
    .description = "Passes records through and emits an alert when a key is seen too often.",
    .props = alerts_props,
    .conf_size = sizeof(alerts_conf_t),
    .init = alerts_init,
    .process = alerts_process,
    .timer = alerts_timer,
    .close = alerts_close,
};
