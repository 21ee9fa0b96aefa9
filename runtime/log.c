/*
 * log.c: the one logging path of sluice. Every line carries a UTC timestamp, a level and a
 * facility tag; debug lines are opt-in per context (log.debug=conf,file,ckpt or "all"). Before a
 * line is written, every registered secret value is replaced with "****", so a secret that
 * slips into a message (an URL, a server's echo) still never reaches the output.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_int.h"
#include "util_str.h"

/* Registered secrets grow as temporary credentials rotate (a new session token every refresh);
 * past this many the oldest is replaced: by then it expired long ago. */
#define SL_LOG_MAX_SECRETS 4096

/* A debug list replaced by sl_log_set_debug(): readers may still hold it without a lock, so it
 * is kept (reachable) rather than freed; the CLI sets it once, a host rarely more. */
typedef struct retired {
    struct retired *next;
    char *debug;
} retired_t;

/* The process-wide settings: level, json and debug are read lock-free by every thread; debug
 * points at an immutable string that is never freed while the process runs. */
static struct {
    pthread_mutex_t lock; /* guards fp, cb, opaque, the secrets and retired */
    _Atomic int level;
    _Atomic int json;
    _Atomic(char *) debug; /* ",ctx1,ctx2," or NULL; "all" stored as ",all," */
    FILE *fp;
    sl_log_cb cb;
    void *opaque;
    retired_t *retired;
    char **secrets;
    int nsecrets, capsecrets, oldest;
} lg = {PTHREAD_MUTEX_INITIALIZER, SL_LOG_INFO, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0};

/* This thread's job settings, NULL outside a job. */
static _Thread_local const sl_log_cfg_t *tls_cfg;

static const char *level_names[] = {"error", "warn", "info", "debug"};

const sl_log_cfg_t *sl_log_scope(const sl_log_cfg_t *cfg) {
    const sl_log_cfg_t *prev = tls_cfg;
    tls_cfg = cfg;
    return prev;
}

const sl_log_cfg_t *sl_log_current(void) {
    return tls_cfg;
}

int sl_log_level_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (name && sl_strieq(name, level_names[i]))
            return i;
    if (name && sl_strieq(name, "warning"))
        return SL_LOG_WARN;
    return -1;
}

void sl_log_set_level(sl_log_level_t level) {
    atomic_store(&lg.level, (int)level);
}

void sl_log_set_json(int on) {
    atomic_store(&lg.json, on ? 1 : 0);
}

void sl_log_set_file(FILE *fp) {
    pthread_mutex_lock(&lg.lock);
    lg.fp = fp;
    pthread_mutex_unlock(&lg.lock);
}

void sl_log_set_callback(sl_log_cb cb, void *opaque) {
    pthread_mutex_lock(&lg.lock);
    lg.cb = cb;
    lg.opaque = opaque;
    pthread_mutex_unlock(&lg.lock);
}

char *sl_log_debug_list(const char *ctxs) {
    sl_sb_t sb = {0};
    if (!ctxs || !*ctxs)
        return NULL;
    sl_sb_putc(&sb, ',');
    for (const char *p = ctxs; *p; p++)
        if (*p != ' ' && *p != '\t')
            sl_sb_putc(&sb, *p);
    sl_sb_putc(&sb, ',');
    if (sb.oom) {
        sl_sb_free(&sb);
        return NULL;
    }
    return sb.buf;
}

void sl_log_set_debug(const char *ctxs) {
    char *list = sl_log_debug_list(ctxs), *old;
    retired_t *r = NULL;
    pthread_mutex_lock(&lg.lock);
    old = atomic_exchange(&lg.debug, list);
    if (old && (r = malloc(sizeof(*r)))) {
        r->debug = old;
        r->next = lg.retired;
        lg.retired = r;
    }
    /* Out of memory for the record: dropping the list beats freeing what a reader holds. */
    if (list)
        atomic_store(&lg.level, SL_LOG_DEBUG);
    pthread_mutex_unlock(&lg.lock);
}

static int debug_match(const char *dbg, const char *ctx) {
    char pat[64];
    if (!dbg)
        return 0;
    if (strstr(dbg, ",all,"))
        return 1;
    snprintf(pat, sizeof(pat), ",%s,", ctx);
    return strstr(dbg, pat) != NULL;
}

int sl_log_debug_enabled(const char *ctx) {
    const sl_log_cfg_t *cfg = tls_cfg;
    return debug_match(cfg ? cfg->debug : atomic_load(&lg.debug), ctx);
}

int sl_log_secret_add(const char *value) {
    int rc = 0;
    if (!value || strlen(value) < 4)
        return 0;
    pthread_mutex_lock(&lg.lock);
    for (int i = 0; i < lg.nsecrets; i++)
        if (!strcmp(lg.secrets[i], value))
            goto out;
    {
        char *copy = sl_strdup(value);
        if (!copy) {
            rc = -1;
            goto out;
        }
        if (lg.nsecrets == SL_LOG_MAX_SECRETS) {
            free(lg.secrets[lg.oldest]);
            lg.secrets[lg.oldest] = copy;
            lg.oldest = (lg.oldest + 1) % SL_LOG_MAX_SECRETS;
            goto out;
        }
        if (lg.nsecrets == lg.capsecrets) {
            int cap = lg.capsecrets ? lg.capsecrets * 2 : 16;
            char **grown = realloc(lg.secrets, sizeof(*grown) * (size_t)cap);
            if (!grown) {
                free(copy);
                rc = -1;
                goto out;
            }
            lg.secrets = grown;
            lg.capsecrets = cap;
        }
        lg.secrets[lg.nsecrets++] = copy;
    }
out:
    pthread_mutex_unlock(&lg.lock);
    return rc;
}

void sl_log_add_secret(const char *value) {
    (void)sl_log_secret_add(value);
}

/* Replaces every registered secret in buf (*len bytes and a NUL) with "****", in place: a
 * secret is never shorter than that, so nothing needs allocating. Called with the lock held. */
static void scrub_buf(char *buf, size_t *len) {
    for (int i = 0; buf && i < lg.nsecrets; i++) {
        const char *sec = lg.secrets[i];
        size_t slen = strlen(sec);
        char *hit;
        while ((hit = strstr(buf, sec)) != NULL) {
            size_t at = (size_t)(hit - buf);
            memcpy(hit, "****", 4);
            memmove(hit + 4, hit + slen, *len - at - slen + 1);
            *len -= slen - 4;
        }
    }
}

static void scrub(sl_sb_t *sb) {
    scrub_buf(sb->buf, &sb->len);
}

void sl_log_scrub(char *s) {
    size_t len;
    if (!s)
        return;
    len = strlen(s);
    /* In place: a copy that could not be allocated would leave the secrets in. */
    pthread_mutex_lock(&lg.lock);
    scrub_buf(s, &len);
    pthread_mutex_unlock(&lg.lock);
}

static void json_escape(sl_sb_t *sb, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            sl_sb_putc(sb, '\\');
            sl_sb_putc(sb, (char)c);
        } else if (c == '\n') {
            sl_sb_puts(sb, "\\n");
        } else if (c == '\t') {
            sl_sb_puts(sb, "\\t");
        } else if (c < 0x20) {
            sl_sb_printf(sb, "\\u%04x", c);
        } else {
            sl_sb_putc(sb, (char)c);
        }
    }
}

void sl_logv(sl_log_level_t level, const char *fac, const char *fmt, va_list ap) {
    const sl_log_cfg_t *cfg = tls_cfg;
    sl_sb_t msg = {0}, line = {0};
    struct timespec ts;
    struct tm tm;
    char when[64];
    int json = cfg ? cfg->json : atomic_load(&lg.json);
    sl_log_cb cb = cfg ? cfg->cb : NULL;
    void *opaque = cfg ? cfg->opaque : NULL;

    if ((int)level > (cfg ? cfg->level : atomic_load(&lg.level)) || (int)level < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts.tv_nsec / 1000000));
    sl_sb_vprintf(&msg, fmt, ap);
    if (!msg.buf)
        goto done;
    pthread_mutex_lock(&lg.lock);
    scrub(&msg);
    if (json) {
        sl_sb_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"fac\":\"", when,
                     level_names[level]);
        json_escape(&line, fac ? fac : "");
        sl_sb_puts(&line, "\",\"msg\":\"");
        json_escape(&line, msg.buf);
        sl_sb_puts(&line, "\"}");
    } else {
        sl_sb_printf(&line, "%s %-5s [%s] %s", when, level_names[level], fac ? fac : "-",
                     msg.buf);
    }
    if (!cb) {
        cb = lg.cb;
        opaque = lg.opaque;
    }
    if (line.buf && !cb) {
        FILE *fp = lg.fp ? lg.fp : stderr;
        fwrite(line.buf, 1, line.len, fp);
        fputc('\n', fp);
        fflush(fp);
    }
    pthread_mutex_unlock(&lg.lock);
    /* Outside the lock: a callback that logs, or blocks, holds up no other thread's lines. */
    if (line.buf && cb)
        cb(level, fac ? fac : "", line.buf, opaque);
done:
    sl_sb_free(&msg);
    sl_sb_free(&line);
}

void sl_log(sl_log_level_t level, const char *fac, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sl_logv(level, fac, fmt, ap);
    va_end(ap);
}

void sl_log_debug(const char *ctx, const char *fmt, ...) {
    va_list ap;
    if (!sl_log_debug_enabled(ctx))
        return;
    va_start(ap, fmt);
    sl_logv(SL_LOG_DEBUG, ctx, fmt, ap);
    va_end(ap);
}
