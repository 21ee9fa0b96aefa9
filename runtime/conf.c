/*
 * conf.c: the configuration engine between a job file and every component's config struct.
 * Loading (through the properties lexer) fills an ordered, hashed list of entries that keep
 * their file, line and secrecy; applying a component's property table (sl_prop_t rows) looks
 * each row up under the component's scope prefixes and aliases, parses user values and text
 * defaults with the same typed parsers, and collects every problem as a "file:line: ..." error
 * instead of printing it. The same tables then drive unknown-key detection with "did you mean"
 * hints, the effective-config dump with secrets masked, and the markdown reference.
 *
 * This file holds the conf object, loading and errors; conf_value.c the typed values,
 * conf_apply.c applying tables and unknown keys, conf_doc.c the dump and the reference.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_priv.h"
#include "log_int.h"
#include "sluice/log.h"
#include "util_props.h"
#include "util_str.h"

/* ---- small helpers ----------------------------------------------------------------------- */

/* Makes room for need elements in *arrp (an array of elsz-byte elements). */
int conf_grow_impl(void **arrp, int *cap, int need, size_t elsz) {
    if (need <= *cap)
        return 0;
    int n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    void *p = realloc(*arrp, (size_t)n * elsz);
    if (!p)
        return -1;
    *arrp = p;
    *cap = n;
    return 0;
}


int conf_starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* An IGNORED row name matches exactly, or as a prefix when it ends in '*'. */
int conf_pattern_match(const char *pat, const char *s) {
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '*')
        return strncmp(s, pat, n - 1) == 0;
    return strcmp(s, pat) == 0;
}

const char *conf_join(sl_sb_t *sb, const char *prefix, const char *name) {
    sl_sb_reset(sb);
    sl_sb_puts(sb, prefix);
    sl_sb_puts(sb, name);
    return sb->oom ? "" : sb->buf;
}


void conf_set_err(char *errstr, size_t errlen, const char *fmt, ...) {
    if (!errstr || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errlen, fmt, ap);
    va_end(ap);
}

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

entry_t *conf_find(const sl_conf_t *conf, const char *key) {
    if (!conf || !key || !conf->nslots)
        return NULL;
    size_t mask = conf->nslots - 1;
    for (size_t i = hash_str(key) & mask;; i = (i + 1) & mask) {
        int s = conf->slots[i];
        if (!s)
            return NULL;
        if (strcmp(conf->ents[s - 1].key, key) == 0)
            return &conf->ents[s - 1];
    }
}

static void index_put(int *slots, size_t nslots, const char *key, int idx) {
    size_t mask = nslots - 1, i = hash_str(key) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = idx + 1;
}

/* Keeps the index at most half full for conf->cnt + 1 entries. */
static int index_reserve(sl_conf_t *conf) {
    if ((size_t)(conf->cnt + 1) * 2 <= conf->nslots)
        return 0;
    size_t n = conf->nslots ? conf->nslots * 2 : 64;
    int *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -1;
    for (int i = 0; i < conf->cnt; i++)
        index_put(slots, n, conf->ents[i].key, i);
    free(conf->slots);
    conf->slots = slots;
    conf->nslots = n;
    return 0;
}

static const char *intern_file(sl_conf_t *conf, const char *name) {
    for (int i = 0; i < conf->nfiles; i++)
        if (strcmp(conf->files[i], name) == 0)
            return conf->files[i];
    char *copy = sl_strdup(name);
    char **n = copy ? realloc(conf->files, (size_t)(conf->nfiles + 1) * sizeof(*n)) : NULL;
    if (!n) {
        free(copy);
        return NULL;
    }
    conf->files = n;
    conf->files[conf->nfiles++] = copy;
    return copy;
}

const char *conf_ent_where(const entry_t *e, char *buf, size_t len) {
    if (e->given)
        snprintf(buf, len, "-D %s", e->given);
    else if (e->line > 0)
        snprintf(buf, len, "%s:%d", e->file, e->line);
    else
        snprintf(buf, len, "%s", e->file);
    return buf;
}

/* Adds or replaces key (a later duplicate wins, keeping its own origin; where the earlier ones
 * were is kept for errors about the key itself). Secrecy is sticky: once a key was secret,
 * later values are secret too. */
static sl_err_t put(sl_conf_t *conf, const char *key, const char *value, const char *file,
                    int line, int secret, const char *given) {
    char *v = sl_strdup(value), *g = given ? sl_strdup(given) : NULL;
    if (!v || (given && !g))
        goto nomem;
    entry_t *e = conf_find(conf, key);
    /* Masked in the log before it is kept: a secret that could not be registered would be
     * written in clear by the first line that quotes it. */
    if ((secret || (e && e->secret)) && sl_log_secret_add(v) < 0)
        goto nomem;
    if (!e) {
        char *k = sl_strdup(key);
        if (!k || grow(conf->ents, &conf->cap, conf->cnt + 1) < 0 ||
            index_reserve(conf) < 0) {
            free(k);
            goto nomem;
        }
        e = &conf->ents[conf->cnt];
        memset(e, 0, sizeof(*e));
        e->key = k;
        index_put(conf->slots, conf->nslots, k, conf->cnt);
        conf->cnt++;
    } else {
        where_t *n = realloc(e->prev, (size_t)(e->nprev + 1) * sizeof(*n));
        if (!n)
            goto nomem;
        e->prev = n;
        e->prev[e->nprev].file = e->file;
        e->prev[e->nprev].line = e->line;
        e->nprev++;
    }
    free(e->value);
    free(e->given);
    e->value = v;
    e->given = g;
    e->file = file;
    e->line = line;
    e->ord = strcmp(file, API_FILE) == 0 ? ++conf->nset : 0;
    e->secret |= secret ? 1u : 0u;
    return SL_OK;
nomem:
    free(v);
    free(g);
    return SL_ERR_NOMEM;
}

/* ---- errors ------------------------------------------------------------------------------ */

static int file_index(const sl_conf_t *conf, const char *file) {
    if (!file)
        return INT_MAX;
    for (int i = 0; i < conf->nfiles; i++)
        if (conf->files[i] == file || strcmp(conf->files[i], file) == 0)
            return i;
    return strcmp(file, API_FILE) == 0 ? conf->nfiles : INT_MAX;
}

static void add_errv(sl_conf_t *conf, const char *file, int line, const char *prefix,
                     const char *fmt, va_list ap) {
    sl_sb_t sb = {0};
    if (prefix)
        sl_sb_puts(&sb, prefix);
    sl_sb_vprintf(&sb, fmt, ap);
    if (sb.oom || !sb.buf || grow(conf->errs, &conf->errcap, conf->nerr + 1)) {
        sl_sb_free(&sb);
        conf->errlost++;
        return;
    }
    conf_err_t *ce = &conf->errs[conf->nerr];
    ce->msg = sb.buf;
    ce->file = file_index(conf, file);
    ce->line = line;
    /* A message recorded without a key (an operator's init) starts with its location by
     * convention: sort it by that. */
    for (int i = 0; !file && i < conf->nfiles; i++) {
        size_t n = strlen(conf->files[i]);
        if (strncmp(sb.buf, conf->files[i], n) != 0 || sb.buf[n] != ':')
            continue;
        ce->file = i;
        ce->line = atoi(sb.buf + n + 1);
        break;
    }
    ce->seq = conf->nerr++;
    conf->errsorted = 0;
}

void conf_errf(sl_conf_t *conf, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    add_errv(conf, file, line, NULL, fmt, ap);
    va_end(ap);
}

void sl_conf_error(sl_conf_t *conf, const char *key, const char *fmt, ...) {
    if (!conf)
        return;
    char pre[1024], where[512];
    const char *p = NULL, *file = NULL;
    int line = 0;
    if (key) {
        const entry_t *e = conf_find(conf, key);
        if (e && e->given)
            snprintf(pre, sizeof(pre), "-D %s: ", e->given); /* the key as the user typed it */
        else
            snprintf(pre, sizeof(pre), "%s: %s: ",
                     e ? conf_ent_where(e, where, sizeof(where)) : sl_conf_origin(conf), key);
        p = pre;
        file = e ? e->file : sl_conf_origin(conf);
        line = e ? conf_sort_line(e) : 0;
    }
    va_list ap;
    va_start(ap, fmt);
    add_errv(conf, file, line, p, fmt, ap);
    va_end(ap);
}

int sl_conf_error_count(const sl_conf_t *conf) {
    return conf ? conf->nerr + conf->errlost : 0;
}

/* File by file in the order they were loaded (then -D), line by line, a file's errors without a
 * line after its lines, and in the order found when equal. */
static int err_cmp(const void *a, const void *b) {
    const conf_err_t *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->line != y->line) {
        if (!x->line || !y->line)
            return x->line ? -1 : 1;
        return x->line < y->line ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

const char *sl_conf_error_at(const sl_conf_t *conf, int i) {
    if (!conf || i < 0 || i >= conf->nerr + conf->errlost)
        return NULL;
    if (!conf->errsorted) {
        /* Sorting does not change what the errors say, only the order they are listed in. */
        sl_conf_t *c = (sl_conf_t *)conf;
        qsort(c->errs, (size_t)c->nerr, sizeof(*c->errs), err_cmp);
        c->errsorted = 1;
    }
    return i < conf->nerr ? conf->errs[i].msg
                          : "out of memory while recording a configuration error";
}

/* ---- the conf object --------------------------------------------------------------------- */

sl_conf_t *sl_conf_new(void) {
    return calloc(1, sizeof(sl_conf_t));
}

void sl_conf_destroy(sl_conf_t *conf) {
    if (!conf)
        return;
    for (int i = 0; i < conf->cnt; i++) {
        free(conf->ents[i].key);
        free(conf->ents[i].value);
        free(conf->ents[i].given);
        free(conf->ents[i].prev);
    }
    free(conf->ents);
    free(conf->slots);
    for (int i = 0; i < conf->nfiles; i++)
        free(conf->files[i]);
    free(conf->files);
    for (int i = 0; i < conf->nerr; i++)
        free(conf->errs[i].msg);
    free(conf->errs);
    for (int i = 0; i < conf->nscopes; i++)
        free(conf->scopes[i].prefix);
    free(conf->scopes);
    for (int i = 0; i < conf->napplied; i++)
        free(conf->applied[i].src);
    free(conf->applied);
    free(conf);
}

/* ---- loading ----------------------------------------------------------------------------- */

typedef struct pending {
    char *key, *value;
    int line, secret;
} pending_t;

typedef struct load_ctx {
    const char *name;
    pending_t *items;
    int cnt, cap;
    char *errstr;
    size_t errlen;
} load_ctx_t;

enum { LOAD_STOP_CONF = 1, LOAD_STOP_NOMEM = 2 };

static int load_cb(void *opaque, const char *key, const char *value, int line) {
    load_ctx_t *ctx = opaque;
    int secret = 0;
    if (conf_starts_with(key, SENSITIVE)) {
        key += strlen(SENSITIVE);
        secret = 1;
        if (!*key) {
            conf_set_err(ctx->errstr, ctx->errlen, "%s:%d: empty key after '" SENSITIVE "'",
                         ctx->name, line);
            return LOAD_STOP_CONF;
        }
    }
    if (grow(ctx->items, &ctx->cap, ctx->cnt + 1) < 0)
        return LOAD_STOP_NOMEM;
    pending_t *p = &ctx->items[ctx->cnt];
    p->key = sl_strdup(key);
    p->value = sl_strdup(value);
    p->line = line;
    p->secret = secret;
    if (!p->key || !p->value) {
        free(p->key);
        free(p->value);
        return LOAD_STOP_NOMEM;
    }
    ctx->cnt++;
    return 0;
}

static const char *env_lookup(void *opaque, const char *name) {
    (void)opaque;
    return getenv(name);
}

sl_err_t sl_conf_load_string(sl_conf_t *conf, const char *name, const char *text, size_t len,
                             char *errstr, size_t errlen) {
    if (errstr && errlen)
        errstr[0] = '\0';
    if (!conf || (!text && len)) {
        conf_set_err(errstr, errlen, "invalid argument");
        return SL_ERR_INVAL;
    }
    if (!name)
        name = "<string>";
    load_ctx_t ctx = {.name = name, .errstr = errstr, .errlen = errlen};
    sl_err_t err = SL_OK;
    const char *file;
    /* Entries are committed only when the whole text parsed: a bad file adds nothing (and does
     * not become the origin). */
    int rc = sl_props_parse(name, text ? text : "", len, load_cb, &ctx, env_lookup, NULL, errstr,
                            errlen);
    if (rc == LOAD_STOP_NOMEM) {
        err = SL_ERR_NOMEM;
        goto fail;
    }
    if (rc) {
        err = SL_ERR_CONF;
        goto fail;
    }
    if (!(file = intern_file(conf, name))) {
        err = SL_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < ctx.cnt; i++) {
        pending_t *p = &ctx.items[i];
        err = put(conf, p->key, p->value, file, p->line, p->secret, NULL);
        if (err)
            goto fail;
    }
fail:
    if (err == SL_ERR_NOMEM)
        conf_set_err(errstr, errlen, "%s: out of memory", name);
    for (int i = 0; i < ctx.cnt; i++) {
        free(ctx.items[i].key);
        free(ctx.items[i].value);
    }
    free(ctx.items);
    return err;
}

sl_err_t sl_conf_load_file(sl_conf_t *conf, const char *path, char *errstr, size_t errlen) {
    if (!conf || !path) {
        conf_set_err(errstr, errlen, "invalid argument");
        return SL_ERR_INVAL;
    }
    sl_sb_t sb = {0};
    sl_err_t err = SL_OK;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        conf_set_err(errstr, errlen, "%s: cannot open: %s", path, strerror(errno));
        return SL_ERR_IO;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        sl_sb_append(&sb, chunk, n);
    if (ferror(fp)) {
        conf_set_err(errstr, errlen, "%s: cannot read: %s", path, strerror(errno));
        err = SL_ERR_IO;
        goto fail;
    }
    if (sb.oom) {
        conf_set_err(errstr, errlen, "%s: out of memory", path);
        err = SL_ERR_NOMEM;
        goto fail;
    }
    err = sl_conf_load_string(conf, path, sb.buf, sb.len, errstr, errlen);
fail:
    fclose(fp);
    sl_sb_free(&sb);
    return err;
}

sl_err_t sl_conf_set(sl_conf_t *conf, const char *key, const char *value) {
    if (!conf || !key || !value)
        return SL_ERR_INVAL;
    int secret = 0;
    if (conf_starts_with(key, SENSITIVE)) {
        key += strlen(SENSITIVE);
        secret = 1;
    }
    if (!*key)
        return SL_ERR_INVAL;
    return put(conf, key, value, API_FILE, 0, secret, NULL);
}

sl_err_t sl_conf_set_at(sl_conf_t *conf, const char *key, const char *value, const char *file,
                        int line) {
    const char *f;
    if (!conf || !key || !*key || !value || !file || !(f = intern_file(conf, file)))
        return SL_ERR_INVAL;
    return put(conf, key, value, f, line, 0, NULL);
}

sl_err_t sl_conf_set_cli(sl_conf_t *conf, const char *key, const char *given, const char *value) {
    int secret = 0;
    if (!conf || !key || !given || !value)
        return SL_ERR_INVAL;
    if (conf_starts_with(key, SENSITIVE)) {
        key += strlen(SENSITIVE);
        secret = 1;
    }
    if (conf_starts_with(given, SENSITIVE))
        given += strlen(SENSITIVE);
    if (!*key)
        return SL_ERR_INVAL;
    return put(conf, key, value, API_FILE, 0, secret, given);
}

const char *sl_conf_get(const sl_conf_t *conf, const char *key) {
    const entry_t *e = conf_find(conf, key);
    return e ? e->value : NULL;
}

const char *sl_conf_where(const sl_conf_t *conf, const char *key, char *buf, size_t len) {
    if (!buf || !len)
        return buf;
    const entry_t *e = conf_find(conf, key);
    if (!e)
        snprintf(buf, len, "<unset>");
    else
        conf_ent_where(e, buf, len);
    return buf;
}

int sl_conf_count(const sl_conf_t *conf) {
    return conf ? conf->cnt : 0;
}

int sl_conf_entry(const sl_conf_t *conf, int i, sl_conf_entry_t *entry) {
    if (!conf || !entry || i < 0 || i >= conf->cnt)
        return SL_ERR_NOENT;
    const entry_t *e = &conf->ents[i];
    entry->key = e->key;
    entry->value = e->value;
    entry->file = e->file;
    entry->line = e->line;
    entry->secret = e->secret;
    return SL_OK;
}

const char *sl_conf_origin(const sl_conf_t *conf) {
    return conf && conf->nfiles ? conf->files[0] : API_FILE;
}

void sl_conf_mark_used(sl_conf_t *conf, const char *key) {
    entry_t *e = conf_find(conf, key);
    if (e)
        e->used = 1;
}
