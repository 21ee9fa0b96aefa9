/*
 * aws_creds.c: the credentials provider machinery and the providers that need no network. A
 * provider is a small object that fetches credentials asynchronously and reports once from the
 * event loop; here live its plumbing, the static, environment and shared-profile providers
 * (credential_process runs as a child process watched by the loop), the chain that tries
 * providers in order, and sl_creds_t, the cache every AWS client signs with: it serves the
 * current credentials synchronously, refreshes temporary ones before they expire, keeps the old
 * ones through failed refreshes and retries with jittered exponential backoff. Secrets are
 * registered with the logger as soon as they are read and never formatted into a message.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "aws_creds.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

extern char **environ;

#define PROC_MAX_OUTPUT (64 * 1024)
#define PROC_TIMEOUT_MS 60000
#define CACHE_TICK_MAX_MS 60000

/* ---- credential values --------------------------------------------------------------------- */

static void wipe_free(char *s) {
    if (!s)
        return;
    /* volatile: keep the compiler from dropping the wipe of memory about to be freed */
    for (volatile char *p = s; *p; p++)
        *p = 0;
    free(s);
}

void sl_creds_value_free(sl_creds_value_t *v) {
    if (!v)
        return;
    free(v->access_key);
    wipe_free(v->secret_key);
    wipe_free(v->session_token);
    memset(v, 0, sizeof(*v));
}

sl_err_t sl_creds_value_set(sl_creds_value_t *v, const char *access_key, const char *secret_key,
                            const char *session_token, int64_t expires_ms) {
    memset(v, 0, sizeof(*v));
    if (!access_key || !*access_key || !secret_key || !*secret_key)
        return SL_ERR_INVAL;
    sl_log_add_secret(secret_key);
    if (session_token && *session_token)
        sl_log_add_secret(session_token);
    v->access_key = sl_strdup(access_key);
    v->secret_key = sl_strdup(secret_key);
    if (session_token && *session_token)
        v->session_token = sl_strdup(session_token);
    if (!v->access_key || !v->secret_key || (session_token && *session_token && !v->session_token)) {
        sl_creds_value_free(v);
        return SL_ERR_NOMEM;
    }
    v->expires_ms = expires_ms;
    return SL_OK;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (valid for any year >= 0). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = y / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

int sl_creds_parse_time(const char *s, int64_t *ms) {
    int y, mo, d, h, mi, sec, frac = 0, fdigits = 0, oh = 0, om = 0, sign = 0;
    const char *p = s;
    if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return -1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, fdigits++)
            if (fdigits < 3)
                frac = frac * 10 + (*p - '0');
        if (!fdigits)
            return -1;
        for (int i = fdigits; i < 3; i++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &om))
            return -1;
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
        oh > 23 || om > 59)
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    secs -= (int64_t)sign * (oh * 3600 + om * 60);
    *ms = secs * 1000 + frac;
    return 0;
}

/* ---- the provider plumbing ----------------------------------------------------------------- */

enum { PROV_IDLE, PROV_RUNNING, PROV_DONE };

struct sl_creds_provider {
    const sl_creds_provider_ops_t *ops;
    void *ctx;
    struct event_base *base;
    char *name;
    struct event *ev; /* delivers the outcome from the loop */
    int state;
    sl_creds_fetch_cb cb;
    void *opaque;
    sl_err_t err;
    sl_creds_value_t val;
    char *msg;
};

static void prov_deliver(evutil_socket_t fd, short what, void *arg) {
    sl_creds_provider_t *prov = arg;
    sl_creds_fetch_cb cb = prov->cb;
    void *opaque = prov->opaque;
    sl_err_t err = prov->err;
    sl_creds_value_t val = prov->val;
    char *msg = prov->msg;

    (void)fd;
    (void)what;
    /* The callback may start another fetch or destroy prov: detach everything first. */
    memset(&prov->val, 0, sizeof(prov->val));
    prov->msg = NULL;
    prov->state = PROV_IDLE;
    prov->cb = NULL;
    prov->opaque = NULL;
    cb(opaque, err, err == SL_OK ? &val : NULL, msg ? msg : "");
    sl_creds_value_free(&val);
    free(msg);
}

sl_creds_provider_t *sl_creds_provider_new(struct event_base *base,
                                           const sl_creds_provider_ops_t *ops, void *ctx,
                                           const char *name) {
    sl_creds_provider_t *prov = NULL;
    if (!base || !ops || !ops->fetch)
        goto fail;
    if (!(prov = calloc(1, sizeof(*prov))))
        goto fail;
    prov->ops = ops;
    prov->ctx = ctx;
    prov->base = base;
    if (!(prov->name = sl_strdup(name ? name : "credentials")))
        goto fail;
    if (!(prov->ev = event_new(base, -1, 0, prov_deliver, prov)))
        goto fail;
    return prov;
fail:
    if (prov) {
        free(prov->name);
        free(prov);
    }
    if (ops && ops->destroy && ctx)
        ops->destroy(ctx);
    return NULL;
}

void sl_creds_provider_cancel(sl_creds_provider_t *prov) {
    if (!prov)
        return;
    if (prov->state == PROV_RUNNING && prov->ops->cancel)
        prov->ops->cancel(prov, prov->ctx);
    event_del(prov->ev);
    sl_creds_value_free(&prov->val);
    free(prov->msg);
    prov->msg = NULL;
    prov->state = PROV_IDLE;
    prov->cb = NULL;
    prov->opaque = NULL;
}

void sl_creds_provider_destroy(sl_creds_provider_t *prov) {
    if (!prov)
        return;
    sl_creds_provider_cancel(prov);
    if (prov->ops->destroy)
        prov->ops->destroy(prov->ctx);
    event_free(prov->ev);
    free(prov->name);
    free(prov);
}

sl_err_t sl_creds_provider_fetch(sl_creds_provider_t *prov, sl_creds_fetch_cb cb, void *opaque) {
    sl_err_t err;
    if (!prov || !cb)
        return SL_ERR_INVAL;
    if (prov->state != PROV_IDLE)
        return SL_ERR_STATE;
    prov->cb = cb;
    prov->opaque = opaque;
    prov->state = PROV_RUNNING;
    err = prov->ops->fetch(prov, prov->ctx);
    if (err != SL_OK && prov->state == PROV_RUNNING) {
        prov->state = PROV_IDLE;
        prov->cb = NULL;
        prov->opaque = NULL;
    }
    return err;
}

void sl_creds_provider_done(sl_creds_provider_t *prov, sl_err_t err, sl_creds_value_t *val,
                            const char *fmt, ...) {
    sl_sb_t sb = {0};
    va_list ap;
    if (!prov || prov->state != PROV_RUNNING)
        return;
    if (err == SL_OK && (!val || !val->access_key || !val->secret_key)) {
        err = SL_ERR_INVAL;
        fmt = "yielded incomplete credentials";
    }
    prov->err = err;
    if (err == SL_OK) {
        prov->val = *val;
        memset(val, 0, sizeof(*val));
    } else {
        sl_sb_printf(&sb, "%s: ", prov->name);
        va_start(ap, fmt);
        sl_sb_vprintf(&sb, fmt ? fmt : "failed", ap);
        va_end(ap);
        prov->msg = sb.oom ? NULL : sb.buf;
        if (sb.oom)
            sl_sb_free(&sb);
    }
    prov->state = PROV_DONE;
    event_active(prov->ev, EV_TIMEOUT, 0);
}

const char *sl_creds_provider_name(const sl_creds_provider_t *prov) {
    return prov ? prov->name : "";
}

struct event_base *sl_creds_provider_base(const sl_creds_provider_t *prov) {
    return prov ? prov->base : NULL;
}

/* ---- static keys ---------------------------------------------------------------------------- */

typedef struct static_ctx {
    sl_creds_value_t val;
} static_ctx_t;

static sl_err_t static_fetch(sl_creds_provider_t *prov, void *ctx) {
    static_ctx_t *sc = ctx;
    sl_creds_value_t v;
    sl_err_t err = sl_creds_value_set(&v, sc->val.access_key, sc->val.secret_key,
                                      sc->val.session_token, 0);
    if (err != SL_OK)
        return err;
    sl_creds_provider_done(prov, SL_OK, &v, NULL);
    return SL_OK;
}

static void static_destroy(void *ctx) {
    static_ctx_t *sc = ctx;
    sl_creds_value_free(&sc->val);
    free(sc);
}

static const sl_creds_provider_ops_t static_ops = {static_fetch, NULL, static_destroy};

sl_creds_provider_t *sl_creds_static_new(struct event_base *base, const char *access_key,
                                         const char *secret_key, const char *session_token,
                                         char *errstr, size_t errlen) {
    static_ctx_t *sc = calloc(1, sizeof(*sc));
    sl_creds_provider_t *prov;
    sl_err_t err;
    if (!sc) {
        sl_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    err = sl_creds_value_set(&sc->val, access_key, secret_key, session_token, 0);
    if (err != SL_OK) {
        sl_errf(errstr, errlen, "%s",
                err == SL_ERR_INVAL ? "static credentials need both an access key id and a "
                                      "secret access key"
                                    : "out of memory");
        static_destroy(sc);
        return NULL;
    }
    prov = sl_creds_provider_new(base, &static_ops, sc, "static");
    if (!prov)
        sl_errf(errstr, errlen, "out of memory");
    return prov;
}

/* ---- environment ---------------------------------------------------------------------------- */

static sl_err_t env_fetch(sl_creds_provider_t *prov, void *ctx) {
    const char *ak = sl_getenv_nonempty("AWS_ACCESS_KEY_ID"), *sk = sl_getenv_nonempty("AWS_SECRET_ACCESS_KEY");
    const char *tok = sl_getenv_nonempty("AWS_SESSION_TOKEN"), *exp = sl_getenv_nonempty("AWS_CREDENTIAL_EXPIRATION");
    int64_t expires = 0;
    sl_creds_value_t v;
    sl_err_t err;

    (void)ctx;
    if (!ak)
        ak = sl_getenv_nonempty("AWS_ACCESS_KEY");
    if (!sk)
        sk = sl_getenv_nonempty("AWS_SECRET_KEY");
    if (sk)
        sl_log_add_secret(sk);
    if (tok)
        sl_log_add_secret(tok);
    if (!ak && !sk) {
        sl_creds_provider_done(prov, SL_ERR_NOENT, NULL,
                               "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
        return SL_OK;
    }
    if (!ak || !sk) {
        sl_creds_provider_done(prov, SL_ERR_CONF, NULL, "%s is set but %s is not",
                               ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                               ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return SL_OK;
    }
    if (exp && sl_creds_parse_time(exp, &expires)) {
        sl_creds_provider_done(prov, SL_ERR_CONF, NULL,
                               "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time: '%s'", exp);
        return SL_OK;
    }
    err = sl_creds_value_set(&v, ak, sk, tok, expires);
    if (err != SL_OK)
        return err;
    sl_creds_provider_done(prov, SL_OK, &v, NULL);
    return SL_OK;
}

static const sl_creds_provider_ops_t env_ops = {env_fetch, NULL, NULL};

sl_creds_provider_t *sl_creds_env_new(struct event_base *base) {
    return sl_creds_provider_new(base, &env_ops, NULL, "env");
}

/* ---- shared profile files ------------------------------------------------------------------ */

/* The settings of one profile that sluice understands. */
typedef struct profile_vals {
    char *access_key, *secret_key, *session_token, *process, *role_arn, *token_file;
    char *source_profile;
    int found;
} profile_vals_t;

static void profile_vals_free(profile_vals_t *pv) {
    free(pv->access_key);
    wipe_free(pv->secret_key);
    wipe_free(pv->session_token);
    free(pv->process);
    free(pv->role_arn);
    free(pv->token_file);
    free(pv->source_profile);
    memset(pv, 0, sizeof(*pv));
}

/* Does section header text h (between the brackets, trimmed) name profile in this file? The
 * credentials file uses [name]; the config file [profile name], and [default] for default. */
static int section_matches(char *h, const char *profile, int is_config) {
    if (!is_config)
        return strcmp(h, profile) == 0;
    if (!strncmp(h, "profile", 7) && (h[7] == ' ' || h[7] == '\t'))
        return strcmp(sl_trim(h + 7), profile) == 0;
    return !strcmp(profile, "default") && !strcmp(h, "default");
}

/* Sets *slot to a copy of value unless an earlier file already set it. */
static int keep_first(char **slot, const char *value) {
    if (*slot)
        return 0;
    *slot = sl_strdup(value);
    return *slot ? 0 : -1;
}

/* Reads profile's keys from the INI file at path into pv (keys already set are kept: the file
 * read first wins). Returns 1 when the section exists, 0 when not (or the file is absent),
 * -1 with errno on a read error other than a missing file, -2 on allocation failure. */
static int ini_read(const char *path, const char *profile, int is_config, profile_vals_t *pv) {
    FILE *fp = fopen(path, "r");
    char line[8192];
    int in = 0, found = 0, rc = 0;
    if (!fp)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    while (fgets(line, sizeof(line), fp)) {
        char *s, *eq, *key, *val;
        /* indented lines continue a nested setting (s3 = \n  max_concurrent_requests = 2) */
        int indented = line[0] == ' ' || line[0] == '\t';
        s = sl_trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end)
                continue;
            *end = 0;
            in = section_matches(sl_trim(s + 1), profile, is_config);
            found |= in;
            continue;
        }
        if (!in || indented || !(eq = strchr(s, '=')))
            continue;
        *eq = 0;
        key = sl_trim(s);
        val = sl_trim(eq + 1);
        if (!*val)
            continue;
        if (sl_strieq(key, "aws_access_key_id"))
            rc = keep_first(&pv->access_key, val);
        else if (sl_strieq(key, "aws_secret_access_key")) {
            sl_log_add_secret(val);
            rc = keep_first(&pv->secret_key, val);
        } else if (sl_strieq(key, "aws_session_token")) {
            sl_log_add_secret(val);
            rc = keep_first(&pv->session_token, val);
        } else if (sl_strieq(key, "credential_process"))
            rc = keep_first(&pv->process, val);
        else if (sl_strieq(key, "role_arn"))
            rc = keep_first(&pv->role_arn, val);
        else if (sl_strieq(key, "web_identity_token_file"))
            rc = keep_first(&pv->token_file, val);
        else if (sl_strieq(key, "source_profile"))
            rc = keep_first(&pv->source_profile, val);
        if (rc)
            break;
        memset(line, 0, sizeof(line)); /* do not leave secrets on the stack */
    }
    memset(line, 0, sizeof(line));
    if (!rc && ferror(fp))
        rc = -1;
    fclose(fp);
    return rc ? rc : found;
}

/* A path from the explicit setting, the environment variable, or ~/<rel>. Caller frees. */
static char *resolve_path(const char *explicit_path, const char *env, const char *rel) {
    const char *v = explicit_path && *explicit_path ? explicit_path : sl_getenv_nonempty(env);
    const char *home;
    sl_sb_t sb = {0};
    if (v && v[0] == '~' && v[1] == '/' && (home = sl_getenv_nonempty("HOME"))) {
        sl_sb_printf(&sb, "%s%s", home, v + 1);
        return sb.buf;
    }
    if (v)
        return sl_strdup(v);
    if (!(home = sl_getenv_nonempty("HOME")))
        return NULL;
    sl_sb_printf(&sb, "%s/%s", home, rel);
    return sb.buf;
}

/* A running credential_process. */
typedef struct proc_run {
    pid_t pid;
    int fd;
    struct event *rd, *timer;
    sl_sb_t out;
    int64_t deadline;
    int eof;
} proc_run_t;

typedef struct profile_ctx {
    char *profile, *path, *config_path;
    sl_creds_provider_t *prov;
    proc_run_t *proc;
} profile_ctx_t;

static void proc_free(proc_run_t *pr, int kill_it) {
    if (!pr)
        return;
    if (pr->rd)
        event_free(pr->rd);
    if (pr->timer)
        event_free(pr->timer);
    if (pr->fd >= 0)
        close(pr->fd);
    if (pr->pid > 0) {
        if (kill_it)
            kill(pr->pid, SIGKILL);
        waitpid(pr->pid, NULL, kill_it ? 0 : WNOHANG);
    }
    if (pr->out.buf)
        memset(pr->out.buf, 0, pr->out.len);
    sl_sb_free(&pr->out);
    free(pr);
}

static json_t *jobj_get(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) && *json_string_value(v) ? v : NULL;
}

/* Parses credential_process output (Version 1 JSON) and reports. */
static void proc_finish(profile_ctx_t *pc, int status) {
    proc_run_t *pr = pc->proc;
    sl_creds_provider_t *prov = pc->prov;
    json_t *root = NULL, *ak, *sk, *tok, *exp;
    json_error_t jerr;
    int64_t expires = 0;
    sl_creds_value_t v;
    sl_err_t err;

    pc->proc = NULL;
    if (status != 0) {
        if (WIFEXITED(status))
            sl_creds_provider_done(prov, SL_ERR_IO, NULL, "credential_process exited with status %d",
                                   WEXITSTATUS(status));
        else
            sl_creds_provider_done(prov, SL_ERR_IO, NULL, "credential_process was killed by signal %d",
                                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        goto done;
    }
    if (pr->out.oom) {
        sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    /* jansson's error text can quote the input: report only the position. */
    root = json_loadb(pr->out.buf ? pr->out.buf : "", pr->out.len, 0, &jerr);
    if (!json_is_object(root)) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL,
                               "credential_process output is not a JSON object (line %d, column %d)",
                               jerr.line, jerr.column);
        goto done;
    }
    if (json_integer_value(json_object_get(root, "Version")) != 1) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL,
                               "credential_process output must have \"Version\": 1");
        goto done;
    }
    ak = jobj_get(root, "AccessKeyId");
    sk = jobj_get(root, "SecretAccessKey");
    tok = jobj_get(root, "SessionToken");
    exp = jobj_get(root, "Expiration");
    if (sk)
        sl_log_add_secret(json_string_value(sk));
    if (tok)
        sl_log_add_secret(json_string_value(tok));
    if (!ak || !sk) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL,
                               "credential_process output lacks AccessKeyId or SecretAccessKey");
        goto done;
    }
    if (exp && sl_creds_parse_time(json_string_value(exp), &expires)) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL,
                               "credential_process Expiration is not an ISO 8601 time");
        goto done;
    }
    err = sl_creds_value_set(&v, json_string_value(ak), json_string_value(sk),
                             tok ? json_string_value(tok) : NULL, expires);
    if (err != SL_OK)
        sl_creds_provider_done(prov, err, NULL, "out of memory");
    else
        sl_creds_provider_done(prov, SL_OK, &v, NULL);
done:
    json_decref(root);
    proc_free(pr, 0);
}

static void proc_check(profile_ctx_t *pc) {
    proc_run_t *pr = pc->proc;
    int status = 0;
    pid_t r;
    if (sl_mono_ms() >= pr->deadline) {
        kill(pr->pid, SIGKILL);
        waitpid(pr->pid, NULL, 0);
        pr->pid = -1;
        pc->proc = NULL;
        sl_creds_provider_done(pc->prov, SL_ERR_RETRY, NULL,
                               "credential_process did not finish within %d s",
                               PROC_TIMEOUT_MS / 1000);
        proc_free(pr, 0);
        return;
    }
    if (!pr->eof)
        return;
    r = waitpid(pr->pid, &status, WNOHANG);
    if (r == 0) { /* closed its output but still running: look again shortly */
        struct timeval tv = {0, 20000};
        evtimer_add(pr->timer, &tv);
        return;
    }
    pr->pid = -1;
    if (r < 0) /* SIGCHLD ignored by the application: the status is gone, judge the output */
        status = 0;
    proc_finish(pc, status);
}

static void proc_on_read(evutil_socket_t fd, short what, void *arg) {
    profile_ctx_t *pc = arg;
    proc_run_t *pr = pc->proc;
    char buf[4096];
    ssize_t n;
    (void)what;
    n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        if (pr->out.len + (size_t)n > PROC_MAX_OUTPUT) {
            pc->proc = NULL;
            sl_creds_provider_done(pc->prov, SL_ERR_INVAL, NULL,
                                   "credential_process wrote more than %d bytes",
                                   PROC_MAX_OUTPUT);
            proc_free(pr, 1);
            memset(buf, 0, sizeof(buf));
            return;
        }
        sl_sb_append(&pr->out, buf, (size_t)n);
        memset(buf, 0, sizeof(buf));
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    pr->eof = 1;
    event_del(pr->rd);
    proc_check(pc);
}

static void proc_on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    proc_check(arg);
}

/* Starts `sh -c cmd` with its stdout on a pipe watched by the loop. */
static sl_err_t proc_start(profile_ctx_t *pc, const char *cmd) {
    struct event_base *base = sl_creds_provider_base(pc->prov);
    proc_run_t *pr = calloc(1, sizeof(*pr));
    posix_spawn_file_actions_t fa;
    int fds[2] = {-1, -1}, fa_ok = 0, rc;
    char *argv[4];
    struct timeval tv = {PROC_TIMEOUT_MS / 1000, 0};

    if (!pr)
        return SL_ERR_NOMEM;
    pr->fd = -1;
    if (pipe2(fds, O_CLOEXEC) < 0)
        goto fail;
    if (posix_spawn_file_actions_init(&fa) != 0)
        goto fail;
    fa_ok = 1;
    if (posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO) ||
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0))
        goto fail;
    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = (char *)cmd;
    argv[3] = NULL;
    rc = posix_spawn(&pr->pid, "/bin/sh", &fa, NULL, argv, environ);
    if (rc != 0) {
        errno = rc;
        pr->pid = -1;
        goto fail;
    }
    posix_spawn_file_actions_destroy(&fa);
    fa_ok = 0;
    close(fds[1]);
    fds[1] = -1;
    pr->fd = fds[0];
    evutil_make_socket_nonblocking(pr->fd);
    pr->deadline = sl_mono_ms() + PROC_TIMEOUT_MS;
    pc->proc = pr;
    if (!(pr->rd = event_new(base, pr->fd, EV_READ | EV_PERSIST, proc_on_read, pc)) ||
        !(pr->timer = evtimer_new(base, proc_on_timer, pc)) || event_add(pr->rd, NULL) ||
        evtimer_add(pr->timer, &tv)) {
        pc->proc = NULL;
        proc_free(pr, 1);
        return SL_ERR_NOMEM;
    }
    sl_log_debug("creds", "%s: started credential_process (pid %d)",
                 sl_creds_provider_name(pc->prov), (int)pr->pid);
    return SL_OK;
fail:
    rc = errno;
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(pr);
    sl_creds_provider_done(pc->prov, SL_ERR_IO, NULL, "cannot run credential_process: %s",
                           strerror(rc));
    return SL_OK;
}

static sl_err_t profile_fetch(sl_creds_provider_t *prov, void *ctx) {
    profile_ctx_t *pc = ctx;
    profile_vals_t pv;
    char *cred_path = resolve_path(pc->path, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    char *conf_path = resolve_path(pc->config_path, "AWS_CONFIG_FILE", ".aws/config");
    const char *profile = pc->profile ? pc->profile : sl_getenv_nonempty("AWS_PROFILE");
    sl_creds_value_t v;
    sl_err_t err = SL_OK;
    int r1 = 0, r2 = 0;

    memset(&pv, 0, sizeof(pv));
    if (!profile)
        profile = "default";
    pc->prov = prov;
    if (cred_path && (r1 = ini_read(cred_path, profile, 0, &pv)) < 0) {
        sl_creds_provider_done(prov, r1 == -2 ? SL_ERR_NOMEM : SL_ERR_IO, NULL,
                               "cannot read %s: %s", cred_path, strerror(errno));
        goto done;
    }
    if (conf_path && (r2 = ini_read(conf_path, profile, 1, &pv)) < 0) {
        sl_creds_provider_done(prov, r2 == -2 ? SL_ERR_NOMEM : SL_ERR_IO, NULL,
                               "cannot read %s: %s", conf_path, strerror(errno));
        goto done;
    }
    if (!r1 && !r2) {
        sl_creds_provider_done(prov, SL_ERR_NOENT, NULL, "no profile '%s' in %s or %s", profile,
                               cred_path ? cred_path : "(no HOME)",
                               conf_path ? conf_path : "(no HOME)");
        goto done;
    }
    if (pv.access_key && pv.secret_key) {
        err = sl_creds_value_set(&v, pv.access_key, pv.secret_key, pv.session_token, 0);
        if (err == SL_OK)
            sl_creds_provider_done(prov, SL_OK, &v, NULL);
        goto done;
    }
    if (pv.process) {
        sl_log_debug("creds", "profile '%s': running its credential_process", profile);
        err = proc_start(pc, pv.process);
        goto done;
    }
    if (pv.access_key || pv.secret_key) {
        sl_creds_provider_done(prov, SL_ERR_CONF, NULL,
                               "profile '%s' has %s but not %s", profile,
                               pv.access_key ? "aws_access_key_id" : "aws_secret_access_key",
                               pv.access_key ? "aws_secret_access_key" : "aws_access_key_id");
        goto done;
    }
    if (pv.role_arn) {
        sl_creds_provider_done(prov, SL_ERR_CONF, NULL,
                               "profile '%s' assumes a role (role_arn): not supported in "
                               "profiles; use aws.credentials.provider=ASSUME_ROLE or "
                               "WEB_IDENTITY_TOKEN",
                               profile);
        goto done;
    }
    sl_creds_provider_done(prov, SL_ERR_CONF, NULL,
                           "profile '%s' has neither aws_access_key_id/aws_secret_access_key "
                           "nor credential_process",
                           profile);
done:
    profile_vals_free(&pv);
    free(cred_path);
    free(conf_path);
    return err;
}

static void profile_cancel(sl_creds_provider_t *prov, void *ctx) {
    profile_ctx_t *pc = ctx;
    (void)prov;
    proc_free(pc->proc, 1);
    pc->proc = NULL;
}

static void profile_destroy(void *ctx) {
    profile_ctx_t *pc = ctx;
    proc_free(pc->proc, 1);
    free(pc->profile);
    free(pc->path);
    free(pc->config_path);
    free(pc);
}

static const sl_creds_provider_ops_t profile_ops = {profile_fetch, profile_cancel,
                                                    profile_destroy};

sl_creds_provider_t *sl_creds_profile_new(struct event_base *base, const char *profile,
                                          const char *path, const char *config_path) {
    profile_ctx_t *pc = calloc(1, sizeof(*pc));
    char name[300];
    if (!pc)
        return NULL;
    if ((profile && *profile && !(pc->profile = sl_strdup(profile))) ||
        (path && *path && !(pc->path = sl_strdup(path))) ||
        (config_path && *config_path && !(pc->config_path = sl_strdup(config_path)))) {
        profile_destroy(pc);
        return NULL;
    }
    snprintf(name, sizeof(name), "profile%s%s", pc->profile ? " " : "",
             pc->profile ? pc->profile : "");
    return sl_creds_provider_new(base, &profile_ops, pc, name);
}

/* ---- the chain ------------------------------------------------------------------------------ */

typedef struct chain_ctx {
    sl_creds_provider_t **provs;
    int n;
    int winner;  /* index that succeeded last, -1 = none */
    int pos;     /* position in the walk of the fetch in flight */
    int current; /* provider index in flight, -1 = none */
    int skip;    /* a winner that just failed: not asked twice in one walk */
    int all_noent;
    sl_err_t worst;
    sl_sb_t msgs;
    sl_creds_provider_t *self;
} chain_ctx_t;

static void chain_next(chain_ctx_t *cc);

/* The provider index at walk position pos: the last winner first, then the others in order. */
static int chain_order(const chain_ctx_t *cc, int pos) {
    if (cc->winner < 0)
        return pos;
    if (pos == 0)
        return cc->winner;
    return pos - 1 < cc->winner ? pos - 1 : pos;
}

static void chain_on_child(void *opaque, sl_err_t err, sl_creds_value_t *val, const char *msg) {
    chain_ctx_t *cc = opaque;
    int idx = cc->current;
    cc->current = -1;
    if (err == SL_OK) {
        if (cc->winner != idx)
            sl_log_debug("creds", "%s: using credentials from %s",
                         sl_creds_provider_name(cc->self), sl_creds_provider_name(cc->provs[idx]));
        cc->winner = idx;
        sl_sb_free(&cc->msgs);
        sl_creds_provider_done(cc->self, SL_OK, val, NULL);
        return;
    }
    if (cc->winner == idx) { /* walk the others again, from the start */
        cc->winner = -1;
        cc->skip = idx;
        cc->pos = -1;
    }
    sl_log_debug("creds", "%s", msg);
    if (err != SL_ERR_NOENT) {
        cc->all_noent = 0;
        if (cc->worst == SL_OK || err == SL_ERR_RETRY)
            cc->worst = err;
    }
    if (cc->msgs.len)
        sl_sb_puts(&cc->msgs, "; ");
    sl_sb_puts(&cc->msgs, msg);
    cc->pos++;
    chain_next(cc);
}

static void chain_next(chain_ctx_t *cc) {
    while (cc->pos < cc->n) {
        int idx = chain_order(cc, cc->pos);
        sl_err_t err;
        if (idx == cc->skip) {
            cc->pos++;
            continue;
        }
        cc->current = idx;
        err = sl_creds_provider_fetch(cc->provs[idx], chain_on_child, cc);
        if (err == SL_OK)
            return;
        cc->current = -1;
        cc->all_noent = 0;
        if (cc->worst == SL_OK)
            cc->worst = err;
        if (cc->msgs.len)
            sl_sb_puts(&cc->msgs, "; ");
        sl_sb_printf(&cc->msgs, "%s: %s", sl_creds_provider_name(cc->provs[idx]), sl_err_str(err));
        cc->pos++;
    }
    sl_creds_provider_done(cc->self, cc->all_noent ? SL_ERR_NOENT : cc->worst, NULL,
                           "no AWS credentials: %s",
                           cc->msgs.buf && !cc->msgs.oom ? cc->msgs.buf : "no provider");
    sl_sb_free(&cc->msgs);
}

static sl_err_t chain_fetch(sl_creds_provider_t *prov, void *ctx) {
    chain_ctx_t *cc = ctx;
    cc->self = prov;
    cc->pos = 0;
    cc->skip = -1;
    cc->all_noent = 1;
    cc->worst = SL_OK;
    sl_sb_free(&cc->msgs);
    chain_next(cc);
    return SL_OK;
}

static void chain_cancel(sl_creds_provider_t *prov, void *ctx) {
    chain_ctx_t *cc = ctx;
    (void)prov;
    if (cc->current >= 0)
        sl_creds_provider_cancel(cc->provs[cc->current]);
    cc->current = -1;
    sl_sb_free(&cc->msgs);
}

static void chain_destroy(void *ctx) {
    chain_ctx_t *cc = ctx;
    for (int i = 0; i < cc->n; i++)
        sl_creds_provider_destroy(cc->provs[i]);
    free(cc->provs);
    sl_sb_free(&cc->msgs);
    free(cc);
}

static const sl_creds_provider_ops_t chain_ops = {chain_fetch, chain_cancel, chain_destroy};

sl_creds_provider_t *sl_creds_chain_new(struct event_base *base, sl_creds_provider_t **providers,
                                        int n) {
    chain_ctx_t *cc = calloc(1, sizeof(*cc));
    int i;
    if (!cc || n < 0 || (n > 0 && !(cc->provs = calloc((size_t)n, sizeof(*cc->provs))))) {
        free(cc);
        for (i = 0; i < n; i++)
            sl_creds_provider_destroy(providers[i]);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (providers[i])
            cc->provs[cc->n++] = providers[i];
    }
    cc->winner = -1;
    cc->current = -1;
    cc->skip = -1;
    return sl_creds_provider_new(base, &chain_ops, cc, "chain");
}

/* ---- the refreshing cache ------------------------------------------------------------------ */

typedef struct listener {
    int id;
    sl_creds_listen_cb cb;
    void *opaque;
} listener_t;

struct sl_creds {
    struct event_base *base;
    sl_creds_provider_t *prov;
    sl_creds_opts_t opts;
    struct event *timer;
    sl_creds_value_t cur;
    sl_aws_creds_t view;
    int have;
    int inflight;
    int failures;
    int64_t next_ms; /* wall-clock time the next fetch is due; 0 = none */
    uint64_t rng;
    char *last_err;
    int fetches;
    listener_t *ls;
    int nls, capls, next_id, notifying;
};

void sl_creds_opts_init(sl_creds_opts_t *opts) {
    opts->refresh_before_ms = 300000;
    opts->retry_base_ms = 1000;
    opts->retry_max_ms = 60000;
    opts->seed = 0;
}

static void cache_arm(sl_creds_t *creds) {
    int64_t now = sl_now_ms(), delay;
    struct timeval tv;
    evtimer_del(creds->timer);
    if (!creds->next_ms || creds->inflight)
        return;
    delay = creds->next_ms - now;
    if (delay < 0)
        delay = 0;
    /* wake at least every minute: the wall clock may jump (suspend, NTP) */
    if (delay > CACHE_TICK_MAX_MS)
        delay = CACHE_TICK_MAX_MS;
    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
    evtimer_add(creds->timer, &tv);
}

static void cache_notify(sl_creds_t *creds, sl_err_t err, const char *msg) {
    int i, j;
    creds->notifying++;
    for (i = 0; i < creds->nls; i++)
        if (creds->ls[i].cb)
            creds->ls[i].cb(creds->ls[i].opaque, err, msg);
    if (--creds->notifying == 0) {
        for (i = j = 0; i < creds->nls; i++)
            if (creds->ls[i].cb)
                creds->ls[j++] = creds->ls[i];
        creds->nls = j;
    }
}

/* Equal jitter: half the ceiling fixed, half random, so retries spread but never hammer. */
static int64_t cache_backoff(sl_creds_t *creds) {
    int64_t ceil = creds->opts.retry_base_ms;
    for (int i = 1; i < creds->failures && ceil < creds->opts.retry_max_ms; i++)
        ceil *= 2;
    if (ceil > creds->opts.retry_max_ms)
        ceil = creds->opts.retry_max_ms;
    if (ceil < 2)
        return 1;
    return ceil / 2 + (int64_t)(sl_rand_next(&creds->rng) % (uint64_t)(ceil / 2 + 1));
}

static void cache_on_result(void *opaque, sl_err_t err, sl_creds_value_t *val, const char *msg) {
    sl_creds_t *creds = opaque;
    int64_t now = sl_now_ms();
    creds->inflight = 0;
    creds->fetches++;
    if (err == SL_OK && val->expires_ms && val->expires_ms <= now) {
        err = SL_ERR_RETRY;
        msg = "the provider returned credentials that have already expired";
    }
    if (err == SL_OK) {
        int first = !creds->have;
        sl_creds_value_free(&creds->cur);
        creds->cur = *val;
        memset(val, 0, sizeof(*val));
        creds->view.access_key = creds->cur.access_key;
        creds->view.secret_key = creds->cur.secret_key;
        creds->view.session_token = creds->cur.session_token;
        creds->have = 1;
        creds->failures = 0;
        free(creds->last_err);
        creds->last_err = NULL;
        if (creds->cur.expires_ms) {
            int64_t life = creds->cur.expires_ms - now;
            int64_t before = creds->opts.refresh_before_ms;
            if (before > life / 2)
                before = life / 2;
            creds->next_ms = creds->cur.expires_ms - before;
        } else {
            creds->next_ms = 0;
        }
        if (first)
            sl_log(SL_LOG_INFO, "creds", "AWS credentials from %s%s",
                   sl_creds_provider_name(creds->prov),
                   creds->cur.expires_ms ? " (temporary)" : "");
        sl_log_debug("creds", "%s: credentials obtained, expire %s%lld s, next refresh in %lld s",
                     sl_creds_provider_name(creds->prov),
                     creds->cur.expires_ms ? "in " : "never",
                     creds->cur.expires_ms ? (long long)((creds->cur.expires_ms - now) / 1000) : 0LL,
                     creds->next_ms ? (long long)((creds->next_ms - now) / 1000) : -1LL);
        cache_arm(creds);
        cache_notify(creds, SL_OK, "");
        return;
    }
    creds->failures++;
    free(creds->last_err);
    creds->last_err = sl_strdup(msg && *msg ? msg : sl_err_str(err));
    creds->next_ms = now + cache_backoff(creds);
    if (creds->have && (!creds->cur.expires_ms || creds->cur.expires_ms > now))
        sl_log(SL_LOG_WARN, "creds",
               "refreshing AWS credentials failed (attempt %d, retry in %lld ms; the current ones "
               "stay in use%s): %s",
               creds->failures, (long long)(creds->next_ms - now),
               creds->cur.expires_ms ? " until they expire" : "", msg);
    else
        sl_log(creds->failures == 1 ? SL_LOG_WARN : SL_LOG_INFO, "creds",
               "getting AWS credentials failed (attempt %d, retry in %lld ms): %s",
               creds->failures, (long long)(creds->next_ms - now), msg);
    cache_arm(creds);
    cache_notify(creds, err, creds->last_err ? creds->last_err : msg);
}

static void cache_start(sl_creds_t *creds) {
    sl_err_t err;
    creds->next_ms = 0;
    creds->inflight = 1;
    evtimer_del(creds->timer);
    err = sl_creds_provider_fetch(creds->prov, cache_on_result, creds);
    if (err != SL_OK) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: cannot start a fetch: %s",
                 sl_creds_provider_name(creds->prov), sl_err_str(err));
        cache_on_result(creds, err, NULL, msg);
    }
}

void sl_creds_tick(sl_creds_t *creds) {
    if (!creds || creds->inflight)
        return;
    if (creds->next_ms && sl_now_ms() >= creds->next_ms)
        cache_start(creds);
    else
        cache_arm(creds);
}

static void cache_on_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    sl_creds_tick(arg);
}

sl_creds_t *sl_creds_new(struct event_base *base, sl_creds_provider_t *prov,
                         const sl_creds_opts_t *opts, char *errstr, size_t errlen) {
    sl_creds_t *creds = NULL;
    struct timeval zero = {0, 0};
    if (!base || !prov) {
        sl_errf(errstr, errlen, "credentials cache needs an event base and a provider");
        goto fail;
    }
    if (!(creds = calloc(1, sizeof(*creds)))) {
        sl_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    creds->base = base;
    sl_creds_opts_init(&creds->opts);
    if (opts) {
        if (opts->refresh_before_ms > 0)
            creds->opts.refresh_before_ms = opts->refresh_before_ms;
        if (opts->retry_base_ms > 0)
            creds->opts.retry_base_ms = opts->retry_base_ms;
        if (opts->retry_max_ms > 0)
            creds->opts.retry_max_ms = opts->retry_max_ms;
        creds->opts.seed = opts->seed;
    }
    if (creds->opts.retry_max_ms < creds->opts.retry_base_ms)
        creds->opts.retry_max_ms = creds->opts.retry_base_ms;
    creds->rng = creds->opts.seed ? creds->opts.seed
                                  : (uint64_t)sl_mono_ms() * 0x9e3779b97f4a7c15ULL + (uint64_t)getpid();
    if (!(creds->timer = evtimer_new(base, cache_on_timer, creds))) {
        sl_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    creds->prov = prov;
    creds->next_ms = sl_now_ms();
    creds->next_id = 1;
    evtimer_add(creds->timer, &zero);
    return creds;
fail:
    if (creds)
        free(creds);
    sl_creds_provider_destroy(prov);
    return NULL;
}

void sl_creds_destroy(sl_creds_t *creds) {
    if (!creds)
        return;
    sl_creds_provider_destroy(creds->prov);
    event_free(creds->timer);
    sl_creds_value_free(&creds->cur);
    free(creds->last_err);
    free(creds->ls);
    free(creds);
}

const sl_aws_creds_t *sl_creds_get(sl_creds_t *creds) {
    if (!creds || !creds->have)
        return NULL;
    if (creds->cur.expires_ms && sl_now_ms() >= creds->cur.expires_ms)
        return NULL;
    return &creds->view;
}

int64_t sl_creds_expires_ms(const sl_creds_t *creds) {
    return creds && creds->have ? creds->cur.expires_ms : 0;
}

int64_t sl_creds_next_fetch_ms(const sl_creds_t *creds) {
    return creds && !creds->inflight ? creds->next_ms : 0;
}

const char *sl_creds_last_error(const sl_creds_t *creds) {
    return creds && creds->last_err ? creds->last_err : "";
}

static int same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

void sl_creds_invalidate(sl_creds_t *creds, const sl_aws_creds_t *used) {
    if (!creds || creds->inflight)
        return;
    if (used) {
        /* Someone already got newer ones, or we are backing off after failures: a burst of
         * rejected calls must cause one refresh, not one per call. */
        if (!creds->have || creds->failures > 0 ||
            !same_str(used->access_key, creds->view.access_key) ||
            !same_str(used->session_token, creds->view.session_token))
            return;
    }
    sl_log_debug("creds", "credentials rejected by a service: refreshing now");
    cache_start(creds);
}

int sl_creds_listen(sl_creds_t *creds, sl_creds_listen_cb cb, void *opaque) {
    if (!creds || !cb)
        return -1;
    if (creds->nls == creds->capls) {
        int cap = creds->capls ? creds->capls * 2 : 4;
        listener_t *ls = realloc(creds->ls, (size_t)cap * sizeof(*ls));
        if (!ls)
            return -1;
        creds->ls = ls;
        creds->capls = cap;
    }
    creds->ls[creds->nls].id = creds->next_id++;
    creds->ls[creds->nls].cb = cb;
    creds->ls[creds->nls].opaque = opaque;
    return creds->ls[creds->nls++].id;
}

void sl_creds_unlisten(sl_creds_t *creds, int handle) {
    if (!creds)
        return;
    for (int i = 0; i < creds->nls; i++) {
        if (creds->ls[i].id != handle || !creds->ls[i].cb)
            continue;
        if (creds->notifying) {
            creds->ls[i].cb = NULL; /* compacted after the notification loop */
        } else {
            memmove(&creds->ls[i], &creds->ls[i + 1],
                    (size_t)(creds->nls - i - 1) * sizeof(*creds->ls));
            creds->nls--;
        }
        return;
    }
}

int sl_creds_fetch_count(const sl_creds_t *creds) {
    return creds ? creds->fetches : 0;
}
