/*
 * conf_value.c: typed property values for the configuration engine (conf.c): parsing a text
 * into a row's type (string, int, bool, enum, size "5M", duration "3s", double, list) with its
 * bounds and choices, storing and clearing the target field, and formatting a field back to
 * text for the dump and the reference.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_priv.h"
#include "sluice/log.h"
#include "util_props.h"
#include "util_str.h"

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

int conf_has_bounds(const sl_prop_t *row) {
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
void conf_bounds_desc(const sl_prop_t *row, char *buf, size_t len) {
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
        conf_set_err(errstr, errlen, "expected %s (the value is secret and not shown)", what);
    else
        conf_set_err(errstr, errlen, "expected %s, got '%s'%s", what, text, hint ? hint : "");
    return SL_ERR_INVAL;
}

/* Splits "a|b|c" into at most cap pointers to NUL-terminated copies in buf. */
int conf_split_choices(const char *choices, char *buf, size_t len, const char **out, int cap) {
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
    int n = conf_split_choices(row->choices, buf, sizeof(buf), choices, 64);
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
    if (!conf_has_bounds(row) || (v >= row->min && v <= row->max))
        return SL_OK;
    char what[256];
    conf_bounds_desc(row, what, sizeof(what));
    return bad_value(row, what, text, NULL, errstr, errlen);
}

sl_err_t sl_prop_parse(const sl_prop_t *row, const char *text, void *out, char *errstr,
                       size_t errlen) {
    if (!row || !text || !out) {
        conf_set_err(errstr, errlen, "invalid argument");
        return SL_ERR_INVAL;
    }
    if (row->type == SL_PROP_STRING) {
        char *s = sl_strdup(text);
        if (!s) {
            conf_set_err(errstr, errlen, "out of memory");
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
        conf_set_err(errstr, errlen, "out of memory");
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
            conf_set_err(errstr, errlen, "out of memory");
        break;
    default:
        conf_set_err(errstr, errlen, "%s rows hold no value",
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

void conf_clear_field(const sl_prop_t *row, void *obj) {
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

void conf_store_field(const sl_prop_t *row, void *obj, const pval_t *v) {
    conf_clear_field(row, obj);
    memcpy((char *)obj + row->offset, v, sl_prop_field_size(row->type));
}

void sl_conf_obj_free(const sl_prop_t *table, void *obj) {
    if (!table || !obj)
        return;
    for (const sl_prop_t *row = table; row->name; row++)
        if (row->type == SL_PROP_STRING || row->type == SL_PROP_LIST)
            conf_clear_field(row, obj);
}

/* Writes s with the characters a .properties reader would misread escaped. */
void conf_put_escaped(sl_sb_t *sb, const char *s) {
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
        int n = conf_split_choices(row->choices, tmp, sizeof(tmp), choices, 64);
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
