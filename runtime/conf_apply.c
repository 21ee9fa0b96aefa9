/*
 * conf_apply.c: applying a component's property table to the loaded entries (conf.c): scopes,
 * rows looked up under the component's prefixes and aliases, text defaults through the same
 * parsers as user values (conf_value.c), IGNORED and DEPRECATED rows, and the unknown-key
 * check with "did you mean" hints.
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

/* ---- scopes and applying tables ---------------------------------------------------------- */

int sl_conf_scope_add(sl_conf_t *conf, const char *prefix, const sl_prop_t *table) {
    if (!conf || !table)
        return 0;
    if (!prefix)
        prefix = "";
    for (int i = 0; i < conf->nscopes; i++)
        if (conf->scopes[i].table == table && strcmp(conf->scopes[i].prefix, prefix) == 0)
            return 0;
    char *p = sl_strdup(prefix);
    if (!p || grow(conf->scopes, &conf->scopecap, conf->nscopes + 1) < 0) {
        free(p);
        return -1;
    }
    conf->scopes[conf->nscopes].prefix = p;
    conf->scopes[conf->nscopes].table = table;
    conf->nscopes++;
    return 0;
}

/* The row of table that name (relative to the scope) means, aliases resolved; NULL if none.
 * IGNORED patterns count as a match and are returned as themselves. */
static const sl_prop_t *row_for(const sl_prop_t *table, const char *name) {
    for (const sl_prop_t *row = table; row->name; row++) {
        if (row->type == SL_PROP_IGNORED ? conf_pattern_match(row->name, name)
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
        if (!conf_starts_with(key, s->prefix))
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
    const entry_t *e = conf_find(conf, key);
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

const applied_t *conf_applied_find(const sl_conf_t *conf, const void *obj,
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
        entry_t *first = conf_find(conf, conf_join(kb, prefixes[p], row->name));
        if (first)
            first->used = 1;
        for (const sl_prop_t *a = table; a->name; a++) {
            if (a->type != SL_PROP_ALIAS || !a->choices || strcmp(a->choices, row->name) != 0)
                continue;
            entry_t *e = conf_find(conf, conf_join(kb, prefixes[p], a->name));
            if (!e)
                continue;
            e->used = 1;
            if ((a->flags & SL_PROP_F_DEPRECATED) && !e->noted) {
                char w[512];
                e->noted = 1;
                sl_log(SL_LOG_WARN, "conf", "%s: '%s' is deprecated%s%s; use '%s%s'",
                       conf_ent_where(e, w, sizeof(w)), e->key, a->desc ? ": " : "",
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
                       conf_ent_where(e, w1, sizeof(w1)), e->key, first->key,
                       conf_ent_where(first, w2, sizeof(w2)), first->key);
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
            if (!conf_starts_with(e->key, prefixes[p]) ||
                !conf_pattern_match(row->name, e->key + strlen(prefixes[p])))
                continue;
            e->used = 1;
            if (!e->noted) {
                char w[512];
                e->noted = 1;
                sl_log(SL_LOG_INFO, "conf", "%s: ignoring '%s': %s",
                       conf_ent_where(e, w, sizeof(w)), e->key,
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
    int before = sl_conf_error_count(conf), scoped = 1;
    for (int p = 0; prefixes[p]; p++)
        if (sl_conf_scope_add(conf, prefixes[p], table) < 0)
            scoped = 0;
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
                if (sl_log_secret_add(e->value) < 0)
                    sl_conf_error(conf, e->key, "out of memory masking its value in the log");
            }
            if (e->secret)
                eff.flags |= SL_PROP_F_SECRET;
            if (row->flags & SL_PROP_F_DEPRECATED && !e->noted) {
                char w[512];
                e->noted = 1;
                sl_log(SL_LOG_WARN, "conf", "%s: '%s' is deprecated%s%s",
                       conf_ent_where(e, w, sizeof(w)), e->key, row->desc ? ": " : "",
                       row->desc ? row->desc : "");
            }
            if (rec)
                rec->src[ri] = (int)(e - conf->ents);
            if (sl_prop_parse(&eff, e->value, &v, err, sizeof(err)) == SL_OK) {
                conf_store_field(row, obj, &v);
            } else {
                sl_conf_error(conf, e->key, "%s", err);
                /* Leave a sane value behind for whatever validation runs next. */
                memset(&v, 0, sizeof(v));
                if (row->def && sl_prop_parse(row, row->def, &v, err, sizeof(err)) == SL_OK)
                    conf_store_field(row, obj, &v);
            }
        } else if (row->def) {
            if (sl_prop_parse(row, row->def, &v, err, sizeof(err)) == SL_OK)
                conf_store_field(row, obj, &v);
            else
                sl_conf_error(conf, conf_join(&kb, prefixes[0], row->name),
                              "invalid default in the property table: %s", err);
        } else {
            conf_clear_field(row, obj);
            if (row->flags & SL_PROP_F_REQUIRED) {
                int has_desc = row->desc && *row->desc;
                sl_conf_error(conf, conf_join(&kb, prefixes[0], row->name),
                              "required property is missing%s%s%s", has_desc ? " (" : "",
                              has_desc ? row->desc : "", has_desc ? ")" : "");
            }
        }
    }
    /* A key that could not be built was looked up as absent (its row got the default), a
     * scope or the record of where values came from is missing: say so rather than go on
     * with a configuration that is not the user's. */
    if (kb.oom || !rec || !scoped)
        sl_conf_error(conf, NULL, "out of memory applying the configuration");
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
        if (conf_starts_with(key, conf->scopes[i].prefix) && (!any || l > best)) {
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
        if (!any || (strlen(sc->prefix) == best && conf_starts_with(key, sc->prefix)))
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
    if (conf_starts_with(key, "//") || conf_starts_with(key, "/*"))
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
            conf_errf(conf, e->prev[k].file, e->prev[k].line,
                      "%s: unknown property '%s'%s%s%s%s", w, e->key,
                      s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "", why);
            added++;
        }
        conf_errf(conf, e->file, conf_sort_line(e), "%s: unknown property '%s'%s%s%s%s",
                  conf_ent_where(e, w, sizeof(w)), e->key, s ? " (did you mean '" : "",
                  s ? s : "", s ? "'?)" : "", why);
        e->reported = 1;
        added++;
    }
    sl_sb_free(&names);
    return added;
}
