/*
 * sessions.c: an example custom operator with keyed state and timers (sluice/state.h,
 * sl_op_timer_set). It turns click events into sessions: per user (the record's key), the clicks
 * that follow each other by less than `gap` of event time form one session, and when a session
 * closes one summary record is emitted:
 *     {"user":"ann","start":1763800000000,"end":1763800420000,"clicks":4,"pages":3,"closed":"gap"}
 * start and end are the event times of its first and last click, pages the number of distinct
 * payloads (page names) among its clicks, closed why it closed:
 *   "gap"  the watermark passed end + gap - 1 (event time: no click of the user can join it any
 *          more), through an event-time timer;
 *   "end"  the input ended (the watermark became SL_WATERMARK_END: every event-time timer fires);
 *   "idle" no click of the user arrived for `idle` of wall-clock time (a processing-time timer),
 *          so the sessions of users who stopped clicking come out even when the watermark stalls
 *          because nobody else clicks either.
 * Clicks themselves are consumed (not passed on). The open sessions and both timers live in
 * sluice's keyed state, committed with the partition's offsets: after a crash a restart resumes
 * the open sessions exactly as of the checkpoint, and their timers fire then.
 *
 * Build (see Makefile.example):
 *     cc -shared -fPIC $(pkg-config --cflags sluice) sessions.c -o libsessions.so
 *
 * Configure in the job file (examples/jobs/sessions.properties): the user becomes the key, the
 * click's time the event time, its page the payload:
 *     task.operators=byuser,page,sessions
 *     task.timestamp.expr=json_extract(payload, '$.ts')
 *     operators.byuser.type=rekey
 *     operators.byuser.expr=json_extract(payload, '$.user')
 *     operators.page.type=map
 *     operators.page.expr=json_extract(payload, '$.page')
 *     operators.sessions.library=./libsessions.so
 *     operators.sessions.gap=30m
 *     operators.sessions.idle=2m
 *
 * The store holds, per user U with an open session, the row "s" U (the session) and one row
 * "p" len(U) U page per distinct page (so a close deletes them with one range delete). A click
 * whose own session would already be closed by the watermark (it is later than
 * task.watermark.delay allows) is dropped and counted in sluice_sessions_late_clicks_total;
 * one session is open per user at a time, so a click that is not late joins the open session
 * unless it comes `gap` or more after its last click (then that session closes first).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

#define MAX_USER 1024 /* bytes of a user name (the record's key) */
#define MAX_PAGE 2048 /* bytes of a page name (the payload) */

typedef struct sessions_conf {
    int64_t gap_ms;
    int64_t idle_ms;
} sessions_conf_t;

static const sl_prop_t sessions_props[] = {
    {"gap", SL_PROP_DURATION, offsetof(sessions_conf_t, gap_ms), "30m", 1, 8.64e10, NULL, 0,
     "Event time: a click less than this after the previous click of the same user belongs to "
     "the same session; a session closes once the watermark passed its last click plus this "
     "(an event-time timer)."},
    {"idle", SL_PROP_DURATION, offsetof(sessions_conf_t, idle_ms), "0", 0, 8.64e10, NULL, 0,
     "Processing time: a session also closes when no click of its user arrived for this long "
     "by the job's clock (a processing-time timer, checked every 100 ms), even if the "
     "watermark does not move. 0: sessions close by event time only."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* The row "s" U: one open session. Stored as the bytes of this struct (the checkpoint file is
 * read back by the same build on the same machine). */
typedef struct session {
    int64_t start, last; /* event times of the first and the last click */
    int64_t clicks, pages;
    int64_t idle_at; /* the processing-time timer's time, 0 when none is set */
} session_t;

typedef struct sessions {
    int64_t gap_ms, idle_ms;
    sl_op_counter_t *late; /* sluice_sessions_late_clicks_total (NULL without metrics) */
    unsigned char key[3 + MAX_USER + MAX_PAGE]; /* a state key being built */
} sessions_t;

/* init: the instance's settings and its late-clicks counter (the sessions live in the store). */
static sl_err_t sessions_init(sl_op_t *op, const void *conf, void **statep) {
    const sessions_conf_t *sc = conf;
    sessions_t *s = calloc(1, sizeof(*s));
    if (!s)
        return sl_op_fail(op, "out of memory");
    s->gap_ms = sc->gap_ms;
    s->idle_ms = sc->idle_ms;
    s->late = sl_op_counter(op, "sluice_sessions_late_clicks_total",
                            "Clicks dropped because their session was already closed by the "
                            "watermark.");
    *statep = s;
    return SL_OK;
}

/* close: frees what init allocated (the store belongs to sluice). */
static void sessions_close(sl_op_t *op, void *state) {
    (void)op;
    free(state);
}

/* The key "s" U in s->key; returns its length. */
static size_t session_key(sessions_t *s, const char *user, size_t ulen) {
    s->key[0] = 's';
    memcpy(s->key + 1, user, ulen);
    return 1 + ulen;
}

/* The prefix "p" len(U) U of U's page rows in s->key (the length as 2 bytes, so that no user's
 * prefix is the start of another's); returns its length. */
static size_t pages_prefix(sessions_t *s, const char *user, size_t ulen) {
    s->key[0] = 'p';
    s->key[1] = (unsigned char)(ulen >> 8);
    s->key[2] = (unsigned char)(ulen & 0xff);
    memcpy(s->key + 3, user, ulen);
    return 3 + ulen;
}

/* Reads U's open session into *ss: SL_OK, SL_ERR_NOENT when none is open, or an error. */
static sl_err_t session_get(sl_op_t *op, sessions_t *s, const char *user, size_t ulen,
                            session_t *ss) {
    const void *val;
    size_t vlen;
    sl_err_t err = sl_state_get(sl_op_state(op), s->key, session_key(s, user, ulen), &val, &vlen);
    if (err != SL_OK)
        return err;
    if (vlen != sizeof(*ss))
        return SL_ERR_DB; /* not a row this build wrote */
    memcpy(ss, val, sizeof(*ss)); /* val is only valid until the next sl_state_* call */
    return SL_OK;
}

/* Appends s (len bytes) to buf at *o as the inside of a JSON string. */
static void json_str(char *buf, size_t cap, size_t *o, const char *str, size_t len) {
    for (size_t i = 0; i < len && *o + 8 < cap; i++) {
        unsigned char ch = (unsigned char)str[i];
        if (ch == '"' || ch == '\\')
            *o += (size_t)snprintf(buf + *o, cap - *o, "\\%c", ch);
        else if (ch < 0x20)
            *o += (size_t)snprintf(buf + *o, cap - *o, "\\u%04x", ch);
        else
            buf[(*o)++] = (char)ch;
    }
}

/* Closes U's open session ss: deletes its rows and its timers that are still set (del_event,
 * del_idle: not the one firing now), then emits its summary (a record of its own, key U, event
 * time its last click) with closed = why. */
static sl_err_t session_emit(sl_op_t *op, sessions_t *s, const char *user, size_t ulen,
                             const session_t *ss, const char *why, int del_event, int del_idle) {
    sl_state_t *st = sl_op_state(op);
    char payload[6 * MAX_USER + 200];
    size_t o = 0, plen;
    sl_record_t *out;
    sl_err_t err;

    o += (size_t)snprintf(payload, sizeof(payload), "{\"user\":\"");
    json_str(payload, sizeof(payload), &o, user, ulen);
    o += (size_t)snprintf(payload + o, sizeof(payload) - o,
                          "\",\"start\":%lld,\"end\":%lld,\"clicks\":%lld,\"pages\":%lld,"
                          "\"closed\":\"%s\"}",
                          (long long)ss->start, (long long)ss->last, (long long)ss->clicks,
                          (long long)ss->pages, why);

    /* A timer left set would find no session (or a newer one) and be ignored (see
     * sessions_on_timer), but deleting it keeps the timers' store as small as the sessions'. */
    err = SL_OK;
    if (del_idle && ss->idle_at)
        err = sl_op_timer_delete(op, SL_TIME_PROCESSING, user, ulen, ss->idle_at);
    if (err == SL_OK && del_event)
        err = sl_op_timer_delete(op, SL_TIME_EVENT, user, ulen, ss->last + s->gap_ms - 1);
    if (err == SL_OK)
        err = sl_state_delete(st, s->key, session_key(s, user, ulen));
    if (err == SL_OK) {
        /* Every page row of U: [prefix, prefix with its last byte + 1). The prefix starts with
         * 'p', so carrying past the first byte cannot happen. */
        unsigned char hi[3 + MAX_USER];
        size_t i;
        plen = pages_prefix(s, user, ulen);
        memcpy(hi, s->key, plen);
        for (i = plen; i-- > 0 && hi[i] == 0xff;)
            hi[i] = 0;
        hi[i]++;
        err = sl_state_delete_range(st, s->key, plen, hi, plen);
    }
    if (err != SL_OK)
        return sl_op_fail(op, "closing the session of '%.*s': %s", (int)(ulen > 64 ? 64 : ulen),
                          user, sl_err_str(err));

    if (!(out = sl_record_new()) || sl_record_set_data(out, payload, o) != SL_OK ||
        sl_record_set_key(out, user, ulen) != SL_OK) {
        sl_record_unref(out);
        return sl_op_fail(op, "out of memory");
    }
    sl_record_set_event_time(out, ss->last);
    err = sl_op_emit(op, out);
    sl_record_unref(out);
    return err;
}

/* process: one click (key = user, event time = its time, payload = its page) joins or opens
 * its user's session and moves the session's timers; nothing is emitted but a session it ends. */
static sl_err_t sessions_process(sl_op_t *op, void *state, sl_record_t *rec) {
    sessions_t *s = state;
    sl_state_t *st = sl_op_state(op);
    size_t ulen = 0, plen = 0, klen;
    const char *user = sl_record_key(rec, &ulen);
    const char *page = sl_record_data(rec, &plen);
    int64_t ts = sl_record_event_time(rec), wm = sl_op_watermark(op);
    const void *val;
    size_t vlen;
    session_t ss;
    int have;
    sl_err_t err;

    if (!st)
        return sl_op_fail(op, "no keyed state for partition %s (an input without checkpoints?)",
                          sl_op_partition(op) ? sl_op_partition(op) : "-");
    if (!user || !ulen) {
        user = "-";
        ulen = 1;
    }
    if (ulen > MAX_USER || plen > MAX_PAGE)
        return sl_op_fail(op, "a user of %zu bytes or a page of %zu bytes is too long (at most "
                          "%d and %d)", ulen, plen, MAX_USER, MAX_PAGE);
    if (ts == 0)
        return sl_op_fail(op, "a click without event time (set task.timestamp.expr)");

    err = session_get(op, s, user, ulen, &ss);
    if (err != SL_OK && err != SL_ERR_NOENT)
        return sl_op_fail(op, "reading the session of '%.*s': %s", (int)(ulen > 64 ? 64 : ulen),
                          user, sl_err_str(err));
    have = err == SL_OK;
    if (have && ts >= ss.last + s->gap_ms) {
        /* The watermark lags (task.watermark.delay): the open session ended before this click. */
        if ((err = session_emit(op, s, user, ulen, &ss, "gap", 1, 1)) != SL_OK)
            return err;
        have = 0;
    }
    if (!have && wm != SL_WATERMARK_NONE && ts + s->gap_ms - 1 <= wm) {
        sl_op_counter_add(s->late, 1); /* its session would be closed already */
        return SL_OK;
    }
    if (!have) {
        memset(&ss, 0, sizeof(ss));
        ss.start = ss.last = ts;
    } else if (ts > ss.last) {
        /* The event-time timer moves with the last click. */
        if ((err = sl_op_timer_delete(op, SL_TIME_EVENT, user, ulen,
                                      ss.last + s->gap_ms - 1)) != SL_OK)
            return sl_op_fail(op, "deleting a timer: %s", sl_err_str(err));
        ss.last = ts;
    } else if (ts < ss.start) {
        ss.start = ts;
    }
    ss.clicks++;
    if ((err = sl_op_timer_set(op, SL_TIME_EVENT, user, ulen, ss.last + s->gap_ms - 1)) != SL_OK)
        return sl_op_fail(op, "setting the event-time timer: %s", sl_err_str(err));
    if (s->idle_ms > 0) {
        if (ss.idle_at && (err = sl_op_timer_delete(op, SL_TIME_PROCESSING, user, ulen,
                                                    ss.idle_at)) != SL_OK)
            return sl_op_fail(op, "deleting a timer: %s", sl_err_str(err));
        ss.idle_at = sl_op_now_ms(op) + s->idle_ms;
        if ((err = sl_op_timer_set(op, SL_TIME_PROCESSING, user, ulen, ss.idle_at)) != SL_OK)
            return sl_op_fail(op, "setting the processing-time timer: %s", sl_err_str(err));
    }

    /* A page not seen in this session yet counts once. */
    klen = pages_prefix(s, user, ulen);
    if (plen)
        memcpy(s->key + klen, page, plen);
    klen += plen;
    err = sl_state_get(st, s->key, klen, &val, &vlen);
    if (err == SL_ERR_NOENT) {
        ss.pages++;
        err = sl_state_put(st, s->key, klen, "", 0, 0);
    }
    if (err == SL_OK)
        err = sl_state_put(st, s->key, session_key(s, user, ulen), &ss, sizeof(ss), 0);
    if (err != SL_OK)
        return sl_op_fail(op, "writing the session of '%.*s': %s", (int)(ulen > 64 ? 64 : ulen),
                          user, sl_err_str(err));
    return SL_OK;
}

/* on_timer: a session's event-time timer (the watermark passed its last click + gap - 1) or
 * processing-time timer (idle elapsed) fired: the session closes. The key is the user. */
static sl_err_t sessions_on_timer(sl_op_t *op, void *state, const sl_timer_t *t) {
    sessions_t *s = state;
    const char *user = t->key;
    session_t ss;
    sl_err_t err;

    if (t->klen < 1 || t->klen > MAX_USER)
        return SL_OK; /* not one of ours */
    err = session_get(op, s, user, t->klen, &ss);
    if (err == SL_ERR_NOENT)
        return SL_OK; /* the session closed by the other timer */
    if (err != SL_OK)
        return sl_op_fail(op, "reading the session of '%.*s': %s",
                          (int)(t->klen > 64 ? 64 : t->klen), user, sl_err_str(err));
    /* A timer of an older session of the user (deleted timers never fire; this is a guard). */
    if (t->domain == SL_TIME_EVENT && t->time_ms != ss.last + s->gap_ms - 1)
        return SL_OK;
    if (t->domain == SL_TIME_PROCESSING && t->time_ms != ss.idle_at)
        return SL_OK;
    return session_emit(op, s, user, t->klen, &ss,
                        t->domain == SL_TIME_PROCESSING              ? "idle"
                        : sl_op_watermark(op) == SL_WATERMARK_END ? "end"
                                                                   : "gap",
                        t->domain != SL_TIME_EVENT, t->domain != SL_TIME_PROCESSING);
}

/* The symbol sluice looks up (operators.<name>.symbol, default "sluice_operator"). */
SL_EXPORT const sl_operator_plugin_t sluice_operator = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "sessions",
    .description = "Sessionizes clicks per key by event time (gap) and idleness (idle) and "
                   "emits one summary per session.",
    .props = sessions_props,
    .conf_size = sizeof(sessions_conf_t),
    .init = sessions_init,
    .process = sessions_process,
    .close = sessions_close,
    .on_timer = sessions_on_timer,
    .flags = SL_OPERATOR_F_STATEFUL,
};
