/*
 * conf.c: the configuration engine between a job file and every component's config struct.
 * Loading (through the properties lexer) fills an ordered, hashed list of entries that keep
 * their file, line and secrecy; applying a component's property table (sl_prop_t rows) looks
 * each row up under the component's scope prefixes and aliases, parses user values and text
 * defaults with the same typed parsers, and collects every problem as a "file:line: ..." error
 * instead of printing it. The same tables then drive unknown-key detection with "did you mean"
 * hints, the effective-config dump with secrets masked, and the markdown reference.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "sluice/log.h"
#include "util_props.h"
#include "util_str.h"

#define API_FILE "<api>"
#define SENSITIVE "sensitive."
#define MASK "****"
#define IGNORED_DEFAULT_WHY "a Samza setting that means nothing to sluice"

/* Where a value was set: a loaded file's line, or API_FILE. */
typedef struct where {
    const char *file;
    int line;
} where_t;

/* A recorded error, with where it points to so that they are listed in line order. */
typedef struct conf_err {
    char *msg;
    int file; /* index in conf->files; nfiles for API_FILE, INT_MAX when unknown */
    int line; /* 0: the file as a whole (sorted after its lines) */
    int seq;
} conf_err_t;

typedef struct entry {
    char *key;
    char *value;
    const char *file; /* interned in conf->files, or API_FILE */
    int line;
    int ord;          /* API_FILE: the order it was set in (1, 2, ...), to list errors by */
    char *given;      /* set with -D: the name as typed there (a Pulsar IO field, or key) */
    where_t *prev;    /* where earlier duplicates of the key were set, oldest first */
    int nprev;
    unsigned secret : 1;
    unsigned used : 1;     /* read by an apply or marked by hand */
    unsigned reported : 1; /* already reported as unknown */
    unsigned noted : 1;    /* "ignoring" / "deprecated" already logged */
    unsigned clash : 1;    /* alias conflict already logged */
} entry_t;

typedef struct scope {
    char *prefix;
    const sl_prop_t *table;
} scope_t;

/* Which entry filled each row of an applied object, for the dump's "# file:line". */
typedef struct applied {
    const void *obj;
    const sl_prop_t *table;
    int nrows;
    int *src; /* entry index, or -1 for the default / nothing */
} applied_t;

struct sl_conf {
    entry_t *ents;
    int cnt, cap;
    int *slots; /* open-addressing index: entry index + 1, 0 = empty */
    size_t nslots;
    char **files;
    int nfiles;
    conf_err_t *errs;
    int nerr, errcap, errlost, errsorted;
    int nset; /* sl_conf_set() / -D entries so far (entry_t.ord) */
    scope_t *scopes;
    int nscopes, scopecap;
    applied_t *applied;
    int napplied, appliedcap;
};

/* A parsed value of any row type, before it is stored into the target struct. */
typedef union pval {
    char *s;
    int i;
    int64_t l;
    double d;
    sl_list_t list;
} pval_t;

/* ---- small helpers ----------------------------------------------------------------------- */

/* Makes room for need elements in *arrp (an array of elsz-byte elements). */
static int grow_impl(void **arrp, int *cap, int need, size_t elsz) {
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

/* Type-checked front end: arr must be an lvalue of pointer type. */
#define grow(arr, cap, need)                                                                    \
    __extension__({                                                                             \
        void *grow_p_ = (arr);                                                                  \
        int grow_rc_ = grow_impl(&grow_p_, (cap), (need), sizeof(*(arr)));                      \
        (arr) = grow_p_;                                                                        \
        grow_rc_;                                                                               \
    })

static int starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* An IGNORED row name matches exactly, or as a prefix when it ends in '*'. */
static int pattern_match(const char *pat, const char *s) {
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '*')
        return strncmp(s, pat, n - 1) == 0;
    return strcmp(s, pat) == 0;
}

static const char *join(sl_sb_t *sb, const char *prefix, const char *name) {
    sl_sb_reset(sb);
    sl_sb_puts(sb, prefix);
    sl_sb_puts(sb, name);
    return sb->oom ? "" : sb->buf;
}

static void set_err(char *errstr, size_t errlen, const char *fmt, ...) SL_PRINTF(3, 4);

static void set_err(char *errstr, size_t errlen, const char *fmt, ...) {
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

static entry_t *find(const sl_conf_t *conf, const char *key) {
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

static const char *ent_where(const entry_t *e, char *buf, size_t len) {
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
    entry_t *e = find(conf, key);
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
    if (e->secret)
        sl_log_add_secret(v);
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

/* The line an error about e is listed by: its line in a file, or for keys set from code the
 * order they were set in, so that a configuration built by sl_conf_set() lists its errors in
 * the same order as the same configuration in a file. */
static int sort_line(const entry_t *e) {
    return e->line > 0 ? e->line : e->ord;
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

static void errf(sl_conf_t *conf, const char *file, int line, const char *fmt, ...)
    SL_PRINTF(4, 5);

static void errf(sl_conf_t *conf, const char *file, int line, const char *fmt, ...) {
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
        const entry_t *e = find(conf, key);
        if (e && e->given)
            snprintf(pre, sizeof(pre), "-D %s: ", e->given); /* the key as the user typed it */
        else
            snprintf(pre, sizeof(pre), "%s: %s: ",
                     e ? ent_where(e, where, sizeof(where)) : sl_conf_origin(conf), key);
        p = pre;
        file = e ? e->file : sl_conf_origin(conf);
        line = e ? sort_line(e) : 0;
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
    if (starts_with(key, SENSITIVE)) {
        key += strlen(SENSITIVE);
        secret = 1;
        if (!*key) {
            set_err(ctx->errstr, ctx->errlen, "%s:%d: empty key after '" SENSITIVE "'",
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
        set_err(errstr, errlen, "invalid argument");
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
        set_err(errstr, errlen, "%s: out of memory", name);
    for (int i = 0; i < ctx.cnt; i++) {
        free(ctx.items[i].key);
        free(ctx.items[i].value);
    }
    free(ctx.items);
    return err;
}

sl_err_t sl_conf_load_file(sl_conf_t *conf, const char *path, char *errstr, size_t errlen) {
    if (!conf || !path) {
        set_err(errstr, errlen, "invalid argument");
        return SL_ERR_INVAL;
    }
    sl_sb_t sb = {0};
    sl_err_t err = SL_OK;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        set_err(errstr, errlen, "%s: cannot open: %s", path, strerror(errno));
        return SL_ERR_IO;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        sl_sb_append(&sb, chunk, n);
    if (ferror(fp)) {
        set_err(errstr, errlen, "%s: cannot read: %s", path, strerror(errno));
        err = SL_ERR_IO;
        goto fail;
    }
    if (sb.oom) {
        set_err(errstr, errlen, "%s: out of memory", path);
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
    if (starts_with(key, SENSITIVE)) {
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
    if (starts_with(key, SENSITIVE)) {
        key += strlen(SENSITIVE);
        secret = 1;
    }
    if (starts_with(given, SENSITIVE))
        given += strlen(SENSITIVE);
    if (!*key)
        return SL_ERR_INVAL;
    return put(conf, key, value, API_FILE, 0, secret, given);
}

const char *sl_conf_get(const sl_conf_t *conf, const char *key) {
    const entry_t *e = find(conf, key);
    return e ? e->value : NULL;
}

const char *sl_conf_where(const sl_conf_t *conf, const char *key, char *buf, size_t len) {
    if (!buf || !len)
        return buf;
    const entry_t *e = find(conf, key);
    if (!e)
        snprintf(buf, len, "<unset>");
    else
        ent_where(e, buf, len);
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
    entry_t *e = find(conf, key);
    if (e)
        e->used = 1;
}

/* ---- typed values ------------------------------------------------------------------------ */

size_t sl_prop_field_size(sl_prop_type_t type) {
    switch (type) {
    case SL_PROP_STRING: return sizeof(char *);
    case SL_PROP_INT:
    case SL_PROP_BOOL:
    case SL_PROP_ENUM: return sizeof(int);
    case SL_PROP_INT64:
    case SL_PROP_SIZE:
    case SL_PROP_DURATION: return sizeof(int64_t);
    case SL_PROP_DOUBLE: return sizeof(double);
    case SL_PROP_LIST: return sizeof(sl_list_t);
    default: return 0;
    }
}

static int has_bounds(const sl_prop_t *row) {
    switch (row->type) {
    case SL_PROP_INT:
    case SL_PROP_INT64:
    case SL_PROP_SIZE:
    case SL_PROP_DURATION:
    case SL_PROP_DOUBLE: return row->min != row->max;
    default: return 0;
    }
}

static void fmt_size(int64_t v, char *buf, size_t len) {
    static const struct {
        char suffix;
        int shift;
    } units[] = {{'T', 40}, {'G', 30}, {'M', 20}, {'K', 10}};
    for (size_t i = 0; v && i < sizeof(units) / sizeof(units[0]); i++) {
        int64_t m = (int64_t)1 << units[i].shift;
        if (v % m == 0) {
            snprintf(buf, len, "%lld%c", (long long)(v / m), units[i].suffix);
            return;
        }
    }
    snprintf(buf, len, "%lld", (long long)v);
}

static void fmt_duration(int64_t ms, char *buf, size_t len) {
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    if (!ms) {
        snprintf(buf, len, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms % units[i].mult == 0) {
            snprintf(buf, len, "%lld%s", (long long)(ms / units[i].mult), units[i].suffix);
            return;
        }
    snprintf(buf, len, "%lldms", (long long)ms);
}

static void fmt_double(double d, char *buf, size_t len) {
    snprintf(buf, len, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, len, "%.17g", d);
}

/* "an integer between 1 and 256" and the like, for errors and docs. */
static void bounds_desc(const sl_prop_t *row, char *buf, size_t len) {
    char lo[64], hi[64];
    const char *what = "an integer";
    switch (row->type) {
    case SL_PROP_SIZE:
        what = "a size";
        fmt_size((int64_t)row->min, lo, sizeof(lo));
        fmt_size((int64_t)row->max, hi, sizeof(hi));
        break;
    case SL_PROP_DURATION:
        what = "a duration";
        fmt_duration((int64_t)row->min, lo, sizeof(lo));
        fmt_duration((int64_t)row->max, hi, sizeof(hi));
        break;
    case SL_PROP_DOUBLE:
        what = "a number";
        fmt_double(row->min, lo, sizeof(lo));
        fmt_double(row->max, hi, sizeof(hi));
        break;
    default:
        snprintf(lo, sizeof(lo), "%.0f", row->min);
        snprintf(hi, sizeof(hi), "%.0f", row->max);
        break;
    }
    snprintf(buf, len, "%s between %s and %s", what, lo, hi);
}

const char *sl_prop_type_desc(const sl_prop_t *row) {
    switch (row ? row->type : SL_PROP_STRING) {
    case SL_PROP_STRING: return "a string";
    case SL_PROP_INT:
    case SL_PROP_INT64: return "an integer";
    case SL_PROP_BOOL: return "a boolean (true/false, yes/no, on/off, 1/0)";
    case SL_PROP_ENUM: return "one of the listed choices";
    case SL_PROP_SIZE: return "a size (e.g. 512, 64K, 5M or 1G)";
    case SL_PROP_DURATION: return "a duration (e.g. 3s, 250ms or plain milliseconds)";
    case SL_PROP_DOUBLE: return "a number";
    case SL_PROP_LIST: return "a comma-separated list";
    case SL_PROP_ALIAS: return "another spelling of a property";
    case SL_PROP_IGNORED: return "anything (the setting is ignored)";
    }
    return "a value";
}

/* "expected <what>, got '<text>'", or without the value for secrets. */
static sl_err_t bad_value(const sl_prop_t *row, const char *what, const char *text,
                          const char *hint, char *errstr, size_t errlen) {
    if (row->flags & SL_PROP_F_SECRET)
        set_err(errstr, errlen, "expected %s (the value is secret and not shown)", what);
    else
        set_err(errstr, errlen, "expected %s, got '%s'%s", what, text, hint ? hint : "");
    return SL_ERR_INVAL;
}

/* Splits "a|b|c" into at most cap pointers to NUL-terminated copies in buf. */
static int split_choices(const char *choices, char *buf, size_t len, const char **out, int cap) {
    int n = 0;
    snprintf(buf, len, "%s", choices ? choices : "");
    for (char *p = buf; n < cap;) {
        out[n++] = p;
        char *bar = strchr(p, '|');
        if (!bar)
            break;
        *bar = '\0';
        p = bar + 1;
    }
    return n;
}

/* Choice lists are short, so a looser typo distance than sl_suggest()'s is still plausible. */
static const char *suggest_choice(const char *word, const char *const *choices, int n) {
    const char *s = sl_suggest(word, choices, n);
    if (s)
        return s;
    int limit = (int)(strlen(word) / 2), best_d = INT_MAX;
    if (limit < 2)
        limit = 2;
    for (int i = 0; i < n; i++) {
        int d = sl_edit_distance(word, choices[i], limit);
        if (d <= limit && d < best_d) {
            best_d = d;
            s = choices[i];
        }
    }
    return s;
}

static sl_err_t parse_enum(const sl_prop_t *row, const char *text, int *out, char *errstr,
                           size_t errlen) {
    char buf[1024];
    const char *choices[64];
    int n = split_choices(row->choices, buf, sizeof(buf), choices, 64);
    for (int i = 0; i < n; i++)
        if (sl_strieq(text, choices[i])) {
            *out = i;
            return SL_OK;
        }
    sl_sb_t what = {0}, hint = {0};
    sl_sb_puts(&what, "one of ");
    for (int i = 0; i < n; i++)
        sl_sb_printf(&what, "%s%s", i ? ", " : "", choices[i]);
    const char *s = suggest_choice(text, choices, n);
    if (s)
        sl_sb_printf(&hint, " (did you mean '%s'?)", s);
    bad_value(row, what.oom ? "one of the listed choices" : what.buf, text,
              hint.oom ? NULL : hint.buf, errstr, errlen);
    sl_sb_free(&what);
    sl_sb_free(&hint);
    return SL_ERR_INVAL;
}

static sl_err_t parse_list(const char *text, sl_list_t *out) {
    sl_list_t l = {0, NULL};
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            char **items = realloc(l.items, (size_t)(l.cnt + 1) * sizeof(char *));
            char *item = items ? sl_strndup(a, (size_t)(b - a)) : NULL;
            if (items)
                l.items = items;
            if (!item) {
                sl_list_free(&l);
                return SL_ERR_NOMEM;
            }
            l.items[l.cnt++] = item;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    *out = l;
    return SL_OK;
}

static sl_err_t check_bounds(const sl_prop_t *row, double v, const char *text, char *errstr,
                             size_t errlen) {
    if (!has_bounds(row) || (v >= row->min && v <= row->max))
        return SL_OK;
    char what[256];
    bounds_desc(row, what, sizeof(what));
    return bad_value(row, what, text, NULL, errstr, errlen);
}

sl_err_t sl_prop_parse(const sl_prop_t *row, const char *text, void *out, char *errstr,
                       size_t errlen) {
    if (!row || !text || !out) {
        set_err(errstr, errlen, "invalid argument");
        return SL_ERR_INVAL;
    }
    if (row->type == SL_PROP_STRING) {
        char *s = sl_strdup(text);
        if (!s) {
            set_err(errstr, errlen, "out of memory");
            return SL_ERR_NOMEM;
        }
        *(char **)out = s;
        return SL_OK;
    }
    /* Blanks around typed values are never meaningful (sl_conf_set() values keep them). */
    while (*text == ' ' || *text == '\t')
        text++;
    size_t n = strlen(text);
    while (n && (text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    char *t = sl_strndup(text, n);
    if (!t) {
        set_err(errstr, errlen, "out of memory");
        return SL_ERR_NOMEM;
    }
    sl_err_t err = SL_OK;
    int64_t l;
    double d;
    int b;
    switch (row->type) {
    case SL_PROP_INT:
        if (sl_parse_int64(t, &l) < 0) {
            err = bad_value(row, sl_prop_type_desc(row), t, NULL, errstr, errlen);
        } else if (l < INT_MIN || l > INT_MAX) {
            char what[128];
            snprintf(what, sizeof(what), "an integer between %d and %d", INT_MIN, INT_MAX);
            err = bad_value(row, what, t, NULL, errstr, errlen);
        } else if (!(err = check_bounds(row, (double)l, t, errstr, errlen))) {
            *(int *)out = (int)l;
        }
        break;
    case SL_PROP_INT64:
    case SL_PROP_SIZE:
    case SL_PROP_DURATION: {
        int rc = row->type == SL_PROP_INT64  ? sl_parse_int64(t, &l)
                 : row->type == SL_PROP_SIZE ? sl_parse_size(t, &l)
                                             : sl_parse_duration_ms(t, &l);
        if (rc < 0)
            err = bad_value(row, sl_prop_type_desc(row), t, NULL, errstr, errlen);
        else if (!(err = check_bounds(row, (double)l, t, errstr, errlen)))
            *(int64_t *)out = l;
        break;
    }
    case SL_PROP_DOUBLE:
        if (sl_parse_double(t, &d) < 0)
            err = bad_value(row, sl_prop_type_desc(row), t, NULL, errstr, errlen);
        else if (!(err = check_bounds(row, d, t, errstr, errlen)))
            *(double *)out = d;
        break;
    case SL_PROP_BOOL:
        if (sl_parse_bool(t, &b) < 0)
            err = bad_value(row, sl_prop_type_desc(row), t, NULL, errstr, errlen);
        else
            *(int *)out = b;
        break;
    case SL_PROP_ENUM: err = parse_enum(row, t, out, errstr, errlen); break;
    case SL_PROP_LIST:
        err = parse_list(t, out);
        if (err)
            set_err(errstr, errlen, "out of memory");
        break;
    default:
        set_err(errstr, errlen, "%s rows hold no value",
                row->type == SL_PROP_ALIAS ? "alias" : "ignored");
        err = SL_ERR_INVAL;
        break;
    }
    free(t);
    return err;
}

void sl_list_free(sl_list_t *list) {
    if (!list)
        return;
    for (int i = 0; i < list->cnt; i++)
        free(list->items[i]);
    free(list->items);
    list->cnt = 0;
    list->items = NULL;
}

static void clear_field(const sl_prop_t *row, void *obj) {
    char *field = (char *)obj + row->offset;
    if (row->type == SL_PROP_STRING) {
        free(*(char **)field);
        *(char **)field = NULL;
    } else if (row->type == SL_PROP_LIST) {
        sl_list_free((sl_list_t *)field);
    } else {
        memset(field, 0, sl_prop_field_size(row->type));
    }
}

static void store_field(const sl_prop_t *row, void *obj, const pval_t *v) {
    clear_field(row, obj);
    memcpy((char *)obj + row->offset, v, sl_prop_field_size(row->type));
}

void sl_conf_obj_free(const sl_prop_t *table, void *obj) {
    if (!table || !obj)
        return;
    for (const sl_prop_t *row = table; row->name; row++)
        if (row->type == SL_PROP_STRING || row->type == SL_PROP_LIST)
            clear_field(row, obj);
}

/* Writes s with the characters a .properties reader would misread escaped. */
static void put_escaped(sl_sb_t *sb, const char *s) {
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\': sl_sb_puts(sb, "\\\\"); break;
        case '\n': sl_sb_puts(sb, "\\n"); break;
        case '\r': sl_sb_puts(sb, "\\r"); break;
        case '\t': sl_sb_puts(sb, "\\t"); break;
        case '\f': sl_sb_puts(sb, "\\f"); break;
        default: sl_sb_putc(sb, *p); break;
        }
    }
}

const char *sl_prop_format(const sl_prop_t *row, const void *obj, char *buf, size_t len) {
    if (!buf || !len)
        return buf;
    buf[0] = '\0';
    if (!row || !obj || row->type == SL_PROP_ALIAS || row->type == SL_PROP_IGNORED)
        return buf;
    const char *field = (const char *)obj + row->offset;
    if (row->flags & SL_PROP_F_SECRET) {
        int empty = (row->type == SL_PROP_STRING && !*(char *const *)field) ||
                    (row->type == SL_PROP_LIST && !((const sl_list_t *)field)->cnt);
        snprintf(buf, len, "%s", empty ? "" : MASK);
        return buf;
    }
    switch (row->type) {
    case SL_PROP_STRING: {
        const char *s = *(char *const *)field;
        snprintf(buf, len, "%s", s ? s : "");
        break;
    }
    case SL_PROP_INT: snprintf(buf, len, "%d", *(const int *)field); break;
    case SL_PROP_INT64: snprintf(buf, len, "%lld", (long long)*(const int64_t *)field); break;
    case SL_PROP_BOOL: snprintf(buf, len, "%s", *(const int *)field ? "true" : "false"); break;
    case SL_PROP_ENUM: {
        char tmp[1024];
        const char *choices[64];
        int n = split_choices(row->choices, tmp, sizeof(tmp), choices, 64);
        int i = *(const int *)field;
        if (i >= 0 && i < n)
            snprintf(buf, len, "%s", choices[i]);
        else
            snprintf(buf, len, "%d", i);
        break;
    }
    case SL_PROP_SIZE: fmt_size(*(const int64_t *)field, buf, len); break;
    case SL_PROP_DURATION: fmt_duration(*(const int64_t *)field, buf, len); break;
    case SL_PROP_DOUBLE: fmt_double(*(const double *)field, buf, len); break;
    case SL_PROP_LIST: {
        const sl_list_t *l = (const sl_list_t *)field;
        size_t off = 0;
        for (int i = 0; i < l->cnt && off < len; i++) {
            int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", l->items[i]);
            if (n < 0)
                break;
            off += (size_t)n;
        }
        break;
    }
    default: break;
    }
    return buf;
}

/* ---- scopes and applying tables ---------------------------------------------------------- */

void sl_conf_scope_add(sl_conf_t *conf, const char *prefix, const sl_prop_t *table) {
    if (!conf || !table)
        return;
    if (!prefix)
        prefix = "";
    for (int i = 0; i < conf->nscopes; i++)
        if (conf->scopes[i].table == table && strcmp(conf->scopes[i].prefix, prefix) == 0)
            return;
    char *p = sl_strdup(prefix);
    if (!p || grow(conf->scopes, &conf->scopecap, conf->nscopes + 1) < 0) {
        free(p);
        return;
    }
    conf->scopes[conf->nscopes].prefix = p;
    conf->scopes[conf->nscopes].table = table;
    conf->nscopes++;
}

/* The row of table that name (relative to the scope) means, aliases resolved; NULL if none.
 * IGNORED patterns count as a match and are returned as themselves. */
static const sl_prop_t *row_for(const sl_prop_t *table, const char *name) {
    for (const sl_prop_t *row = table; row->name; row++) {
        if (row->type == SL_PROP_IGNORED ? pattern_match(row->name, name)
                                         : strcmp(row->name, name) == 0) {
            if (row->type != SL_PROP_ALIAS)
                return row;
            for (const sl_prop_t *c = table; c->name; c++)
                if (c->type != SL_PROP_ALIAS && row->choices && strcmp(c->name, row->choices) == 0)
                    return c;
            return row;
        }
    }
    return NULL;
}

static const sl_prop_t *known_row(const sl_conf_t *conf, const char *key) {
    for (int i = 0; i < conf->nscopes; i++) {
        const scope_t *s = &conf->scopes[i];
        if (!starts_with(key, s->prefix))
            continue;
        const sl_prop_t *row = row_for(s->table, key + strlen(s->prefix));
        if (row)
            return row;
    }
    return NULL;
}

int sl_conf_is_secret(const sl_conf_t *conf, const char *key) {
    if (!conf || !key)
        return 0;
    const entry_t *e = find(conf, key);
    if (e && e->secret)
        return 1;
    const sl_prop_t *row = known_row(conf, key);
    return row && (row->flags & SL_PROP_F_SECRET) && row->type != SL_PROP_IGNORED;
}

static applied_t *applied_get(sl_conf_t *conf, const void *obj, const sl_prop_t *table) {
    int nrows = 0;
    while (table[nrows].name)
        nrows++;
    applied_t *a = NULL;
    for (int i = 0; i < conf->napplied; i++)
        if (conf->applied[i].obj == obj && conf->applied[i].table == table)
            a = &conf->applied[i];
    if (!a) {
        if (grow(conf->applied, &conf->appliedcap, conf->napplied + 1) < 0)
            return NULL;
        a = &conf->applied[conf->napplied];
        memset(a, 0, sizeof(*a));
        a->src = malloc((size_t)(nrows ? nrows : 1) * sizeof(int));
        if (!a->src)
            return NULL;
        a->obj = obj;
        a->table = table;
        a->nrows = nrows;
        conf->napplied++;
    }
    for (int i = 0; i < nrows; i++)
        a->src[i] = -1;
    return a;
}

static const applied_t *applied_find(const sl_conf_t *conf, const void *obj,
                                     const sl_prop_t *table) {
    for (int i = 0; i < conf->napplied; i++)
        if (conf->applied[i].obj == obj && conf->applied[i].table == table)
            return &conf->applied[i];
    return NULL;
}

/* Looks row up under each prefix, canonical name first, then its aliases; the first prefix
 * with any hit wins. Under that prefix a differing alias is logged and loses. */
static entry_t *lookup_row(sl_conf_t *conf, const sl_prop_t *table, const sl_prop_t *row,
                           const char *const *prefixes, sl_sb_t *kb) {
    for (int p = 0; prefixes[p]; p++) {
        entry_t *first = find(conf, join(kb, prefixes[p], row->name));
        if (first)
            first->used = 1;
        for (const sl_prop_t *a = table; a->name; a++) {
            if (a->type != SL_PROP_ALIAS || !a->choices || strcmp(a->choices, row->name) != 0)
                continue;
            entry_t *e = find(conf, join(kb, prefixes[p], a->name));
            if (!e)
                continue;
            e->used = 1;
            if ((a->flags & SL_PROP_F_DEPRECATED) && !e->noted) {
                char w[512];
                e->noted = 1;
                sl_log(SL_LOG_WARN, "conf", "%s: '%s' is deprecated%s%s; use '%s%s'",
                       ent_where(e, w, sizeof(w)), e->key, a->desc ? ": " : "",
                       a->desc ? a->desc : "", prefixes[p], row->name);
            }
            if (!first) {
                first = e;
            } else if (strcmp(first->value, e->value) != 0 && !e->clash) {
                char w1[512], w2[512];
                e->clash = 1;
                sl_log(SL_LOG_WARN, "conf",
                       "%s: '%s' is another spelling of '%s' (set at %s) with a different "
                       "value; using '%s'",
                       ent_where(e, w1, sizeof(w1)), e->key, first->key,
                       ent_where(first, w2, sizeof(w2)), first->key);
            }
        }
        if (first)
            return first;
    }
    return NULL;
}

static void apply_ignored(sl_conf_t *conf, const sl_prop_t *row, const char *const *prefixes) {
    for (int i = 0; i < conf->cnt; i++) {
        entry_t *e = &conf->ents[i];
        for (int p = 0; prefixes[p]; p++) {
            if (!starts_with(e->key, prefixes[p]) ||
                !pattern_match(row->name, e->key + strlen(prefixes[p])))
                continue;
            e->used = 1;
            if (!e->noted) {
                char w[512];
                e->noted = 1;
                sl_log(SL_LOG_INFO, "conf", "%s: ignoring '%s': %s",
                       ent_where(e, w, sizeof(w)), e->key,
                       row->desc && *row->desc ? row->desc : IGNORED_DEFAULT_WHY);
            }
            break;
        }
    }
}

int sl_conf_apply(sl_conf_t *conf, const sl_prop_t *table, const char *const *prefixes,
                  void *obj) {
    static const char *const root[] = {"", NULL};
    if (!conf || !table || !obj)
        return 0;
    if (!prefixes || !prefixes[0])
        prefixes = root;
    for (int p = 0; prefixes[p]; p++)
        sl_conf_scope_add(conf, prefixes[p], table);
    int before = sl_conf_error_count(conf);
    applied_t *rec = applied_get(conf, obj, table);
    sl_sb_t kb = {0};
    char err[1024];
    for (int ri = 0; table[ri].name; ri++) {
        const sl_prop_t *row = &table[ri];
        if (row->type == SL_PROP_ALIAS)
            continue;
        if (row->type == SL_PROP_IGNORED) {
            apply_ignored(conf, row, prefixes);
            continue;
        }
        entry_t *e = lookup_row(conf, table, row, prefixes, &kb);
        pval_t v;
        memset(&v, 0, sizeof(v));
        if (e) {
            sl_prop_t eff = *row;
            if (row->flags & SL_PROP_F_SECRET && !e->secret) {
                e->secret = 1;
                sl_log_add_secret(e->value);
            }
            if (e->secret)
                eff.flags |= SL_PROP_F_SECRET;
            if (row->flags & SL_PROP_F_DEPRECATED && !e->noted) {
                char w[512];
                e->noted = 1;
                sl_log(SL_LOG_WARN, "conf", "%s: '%s' is deprecated%s%s",
                       ent_where(e, w, sizeof(w)), e->key, row->desc ? ": " : "",
                       row->desc ? row->desc : "");
            }
            if (rec)
                rec->src[ri] = (int)(e - conf->ents);
            if (sl_prop_parse(&eff, e->value, &v, err, sizeof(err)) == SL_OK) {
                store_field(row, obj, &v);
            } else {
                sl_conf_error(conf, e->key, "%s", err);
                /* Leave a sane value behind for whatever validation runs next. */
                memset(&v, 0, sizeof(v));
                if (row->def && sl_prop_parse(row, row->def, &v, err, sizeof(err)) == SL_OK)
                    store_field(row, obj, &v);
            }
        } else if (row->def) {
            if (sl_prop_parse(row, row->def, &v, err, sizeof(err)) == SL_OK)
                store_field(row, obj, &v);
            else
                sl_conf_error(conf, join(&kb, prefixes[0], row->name),
                              "invalid default in the property table: %s", err);
        } else {
            clear_field(row, obj);
            if (row->flags & SL_PROP_F_REQUIRED) {
                int has_desc = row->desc && *row->desc;
                sl_conf_error(conf, join(&kb, prefixes[0], row->name),
                              "required property is missing%s%s%s", has_desc ? " (" : "",
                              has_desc ? row->desc : "", has_desc ? ")" : "");
            }
        }
    }
    sl_sb_free(&kb);
    return sl_conf_error_count(conf) - before;
}

/* ---- unknown keys ------------------------------------------------------------------------ */

/* Appends prefix+name of every suggestible row of table (not IGNORED patterns: a key-like
 * IGNORED row is a real setting of another product and a fine suggestion) to names,
 * NUL-separated, recording where each starts in offs. */
static void add_candidates(sl_sb_t *names, int *offs, int *n, int cap, const char *prefix,
                           const sl_prop_t *table) {
    for (const sl_prop_t *row = table; row->name && *n < cap; row++) {
        if (row->type == SL_PROP_IGNORED && strchr(row->name, '*'))
            continue;
        offs[(*n)++] = (int)names->len;
        sl_sb_puts(names, prefix);
        sl_sb_puts(names, row->name);
        sl_sb_putc(names, '\0');
    }
}

static const char *suggest_key(const sl_conf_t *conf, const char *key, sl_sb_t *names) {
    size_t best = 0;
    int any = 0;
    for (int i = 0; i < conf->nscopes; i++) {
        size_t l = strlen(conf->scopes[i].prefix);
        if (starts_with(key, conf->scopes[i].prefix) && (!any || l > best)) {
            best = l;
            any = 1;
        }
    }
    int cap = 0;
    for (int i = 0; i < conf->nscopes; i++)
        for (const sl_prop_t *row = conf->scopes[i].table; row->name; row++)
            cap++;
    if (!cap)
        return NULL;
    int *offs = malloc((size_t)cap * sizeof(int)), n = 0;
    const char **cands = malloc((size_t)cap * sizeof(char *));
    const char *s = NULL;
    if (!offs || !cands)
        goto out;
    sl_sb_reset(names);
    for (int i = 0; i < conf->nscopes; i++) {
        const scope_t *sc = &conf->scopes[i];
        if (!any || (strlen(sc->prefix) == best && starts_with(key, sc->prefix)))
            add_candidates(names, offs, &n, cap, sc->prefix, sc->table);
    }
    if (names->oom)
        goto out;
    for (int i = 0; i < n; i++)
        cands[i] = names->buf + offs[i];
    s = sl_suggest(key, cands, n);
out:
    free(offs);
    free(cands);
    return s;
}

/* Why a key is unknown when the reason is not a typo: Samza's own documents write comments the
 * C++/Java way, which a .properties reader takes for a key. */
static const char *unknown_hint(const char *key) {
    if (starts_with(key, "//") || starts_with(key, "/*"))
        return " ('//' and '/*' do not start comments in a .properties file: '#' and '!' do)";
    return "";
}

int sl_conf_check_unknown(sl_conf_t *conf) {
    if (!conf)
        return 0;
    int added = 0;
    sl_sb_t names = {0};
    for (int i = 0; i < conf->cnt; i++) {
        entry_t *e = &conf->ents[i];
        if (e->used || e->reported || known_row(conf, e->key))
            continue;
        char w[512];
        const char *s = suggest_key(conf, e->key, &names), *why = unknown_hint(e->key);
        /* Every line that sets it is wrong, not only the last one (which is the one kept). */
        for (int k = 0; k < e->nprev; k++) {
            if (e->prev[k].line > 0)
                snprintf(w, sizeof(w), "%s:%d", e->prev[k].file, e->prev[k].line);
            else
                snprintf(w, sizeof(w), "%s", e->prev[k].file);
            errf(conf, e->prev[k].file, e->prev[k].line, "%s: unknown property '%s'%s%s%s%s", w,
                 e->key, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "", why);
            added++;
        }
        errf(conf, e->file, sort_line(e), "%s: unknown property '%s'%s%s%s%s",
             ent_where(e, w, sizeof(w)), e->key, s ? " (did you mean '" : "", s ? s : "",
             s ? "'?)" : "", why);
        e->reported = 1;
        added++;
    }
    sl_sb_free(&names);
    return added;
}

/* ---- dump and documentation -------------------------------------------------------------- */

void sl_conf_dump_obj(FILE *fp, const sl_conf_t *conf, const char *prefix,
                      const sl_prop_t *table, const void *obj) {
    if (!fp || !table || !obj)
        return;
    if (!prefix)
        prefix = "";
    const applied_t *rec = conf ? applied_find(conf, obj, table) : NULL;
    sl_sb_t kb = {0}, line = {0};
    char val[4096], w[512];
    for (int ri = 0; table[ri].name; ri++) {
        const sl_prop_t *row = &table[ri];
        if (row->type == SL_PROP_ALIAS || row->type == SL_PROP_IGNORED)
            continue;
        const entry_t *e = NULL;
        if (rec && ri < rec->nrows) {
            e = rec->src[ri] >= 0 && rec->src[ri] < conf->cnt ? &conf->ents[rec->src[ri]] : NULL;
        } else if (conf) {
            e = find(conf, join(&kb, prefix, row->name));
            for (const sl_prop_t *a = table; !e && a->name; a++)
                if (a->type == SL_PROP_ALIAS && a->choices && strcmp(a->choices, row->name) == 0)
                    e = find(conf, join(&kb, prefix, a->name));
        }
        sl_prop_format(row, obj, val, sizeof(val));
        if (e && e->secret && *val)
            snprintf(val, sizeof(val), MASK);
        sl_sb_reset(&line);
        sl_sb_printf(&line, "%s%s=", prefix, row->name);
        put_escaped(&line, val);
        sl_sb_printf(&line, "  # %s\n", e ? ent_where(e, w, sizeof(w)) : "default");
        if (!line.oom)
            fputs(line.buf, fp);
    }
    sl_sb_free(&kb);
    sl_sb_free(&line);
}

/* Markdown table cells: pipes escaped, line breaks folded into spaces. Outside code spans
 * (code says whether s starts inside one; backticks in s toggle it) '<' becomes "&lt;" so
 * that "<system>" is not taken for an HTML tag. */
static void put_cell(sl_sb_t *sb, const char *s, int code) {
    for (; s && *s; s++) {
        if (*s == '`')
            code = !code;
        if (*s == '|')
            sl_sb_puts(sb, "\\|");
        else if (*s == '\n' || *s == '\r')
            sl_sb_putc(sb, ' ');
        else if (*s == '<' && !code)
            sl_sb_puts(sb, "&lt;");
        else
            sl_sb_putc(sb, *s);
    }
}

static const char *type_name(sl_prop_type_t type) {
    switch (type) {
    case SL_PROP_STRING: return "string";
    case SL_PROP_INT: return "int";
    case SL_PROP_INT64: return "int64";
    case SL_PROP_BOOL: return "bool";
    case SL_PROP_ENUM: return "enum";
    case SL_PROP_SIZE: return "size";
    case SL_PROP_DURATION: return "duration";
    case SL_PROP_DOUBLE: return "double";
    case SL_PROP_LIST: return "list";
    case SL_PROP_ALIAS: return "alias";
    case SL_PROP_IGNORED: return "ignored";
    }
    return "?";
}

/* Adds a sentence to a description cell, separated by a space. */
static void put_sentence(sl_sb_t *sb, size_t start, const char *s) {
    if (sb->len > start)
        sl_sb_putc(sb, ' ');
    put_cell(sb, s, 0);
}

void sl_conf_doc_table(FILE *fp, const char *title, const char *scope, const char *intro,
                       const sl_prop_t *table) {
    if (!fp || !table)
        return;
    if (!scope)
        scope = "";
    sl_sb_t sb = {0}, tmp = {0};
    sl_sb_printf(&sb, "## %s\n\n", title ? title : scope);
    if (intro && *intro)
        sl_sb_printf(&sb, "%s\n\n", intro);
    sl_sb_puts(&sb, "| Property | Type | Default | Description |\n");
    sl_sb_puts(&sb, "|---|---|---|---|\n");
    for (const sl_prop_t *row = table; row->name; row++) {
        if (row->flags & SL_PROP_F_HIDDEN)
            continue;
        sl_sb_puts(&sb, "| `");
        put_cell(&sb, scope, 1);
        put_cell(&sb, row->name, 1);
        sl_sb_printf(&sb, "` | %s | ", type_name(row->type));
        if (row->def && *row->def && row->type != SL_PROP_ALIAS &&
            row->type != SL_PROP_IGNORED) {
            sl_sb_putc(&sb, '`');
            put_cell(&sb, row->def, 1);
            sl_sb_putc(&sb, '`');
        }
        sl_sb_puts(&sb, " | ");
        size_t start = sb.len;
        if (row->type == SL_PROP_ALIAS) {
            sl_sb_reset(&tmp);
            sl_sb_printf(&tmp, "Alias of `%s%s`.", scope, row->choices ? row->choices : "?");
            put_sentence(&sb, start, tmp.buf);
        }
        if (row->type == SL_PROP_IGNORED)
            put_sentence(&sb, start, "Ignored: accepted for compatibility, has no effect.");
        if (row->desc && *row->desc)
            put_sentence(&sb, start, row->desc);
        if (row->type == SL_PROP_ENUM) {
            char buf[1024];
            const char *choices[64];
            int n = split_choices(row->choices, buf, sizeof(buf), choices, 64);
            sl_sb_reset(&tmp);
            sl_sb_puts(&tmp, "One of:");
            for (int i = 0; i < n; i++)
                sl_sb_printf(&tmp, "%s `%s`", i ? "," : "", choices[i]);
            sl_sb_putc(&tmp, '.');
            put_sentence(&sb, start, tmp.buf);
        }
        if (has_bounds(row)) {
            char what[256];
            bounds_desc(row, what, sizeof(what));
            sl_sb_reset(&tmp);
            sl_sb_printf(&tmp, "Must be %s.", what);
            put_sentence(&sb, start, tmp.buf);
        }
        if (row->flags & SL_PROP_F_REQUIRED)
            put_sentence(&sb, start, "Required.");
        if (row->flags & SL_PROP_F_SECRET)
            put_sentence(&sb, start, "Secret: masked in dumps, logs and errors.");
        if (row->flags & SL_PROP_F_DEPRECATED)
            put_sentence(&sb, start, "Deprecated.");
        sl_sb_puts(&sb, " |\n");
    }
    sl_sb_putc(&sb, '\n');
    if (!sb.oom)
        fputs(sb.buf, fp);
    sl_sb_free(&sb);
    sl_sb_free(&tmp);
}
