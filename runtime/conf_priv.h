/*
 * conf_priv.h: the inside of the configuration engine, shared by its files and nothing else:
 * conf.c (the conf object, loading, errors), conf_value.c (typed values: parse, format),
 * conf_apply.c (scopes, applying tables, unknown keys) and conf_doc.c (dump, markdown).
 */
#ifndef SL_CONF_PRIV_H
#define SL_CONF_PRIV_H

#include <stdint.h>
#include <stdio.h>

#include "conf_int.h"
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

/* Type-checked front end: arr must be an lvalue of pointer type. */
#define grow(arr, cap, need)                                                                    \
    __extension__({                                                                             \
        void *grow_p_ = (arr);                                                                  \
        int grow_rc_ = conf_grow_impl(&grow_p_, (cap), (need), sizeof(*(arr)));                 \
        (arr) = grow_p_;                                                                        \
        grow_rc_;                                                                               \
    })

/* Shared helpers, defined where they were first needed (conf.c, conf_value.c, conf_apply.c). */
/* Makes room for need elements in *arrp (an array of elsz-byte elements); use grow(). */
int conf_grow_impl(void **arrp, int *cap, int need, size_t elsz);
int conf_starts_with(const char *s, const char *prefix);
int conf_pattern_match(const char *pat, const char *s);
const char *conf_join(sl_sb_t *sb, const char *prefix, const char *name);
void conf_set_err(char *errstr, size_t errlen, const char *fmt, ...) SL_PRINTF(3, 4);
entry_t *conf_find(const sl_conf_t *conf, const char *key);
const char *conf_ent_where(const entry_t *e, char *buf, size_t len);
/* Records an error at file:line (see conf.c's add_errv). */
void conf_errf(sl_conf_t *conf, const char *file, int line, const char *fmt, ...)
    SL_PRINTF(4, 5);
int conf_has_bounds(const sl_prop_t *row);
void conf_bounds_desc(const sl_prop_t *row, char *buf, size_t len);
int conf_split_choices(const char *choices, char *buf, size_t len, const char **out, int cap);
void conf_clear_field(const sl_prop_t *row, void *obj);
void conf_store_field(const sl_prop_t *row, void *obj, const pval_t *v);
void conf_put_escaped(sl_sb_t *sb, const char *s);
const applied_t *conf_applied_find(const sl_conf_t *conf, const void *obj,
                                   const sl_prop_t *table);

/* The line an error about e is listed by: its line in a file, or for keys set from code the
 * order they were set in, so that a configuration built by sl_conf_set() lists its errors in
 * the same order as the same configuration in a file. */
static inline int conf_sort_line(const entry_t *e) {
    return e->line > 0 ? e->line : e->ord;
}

#endif
