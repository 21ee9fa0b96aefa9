/*
 * conf_doc.c: what the property tables say back: the effective-config dump (SECRET values
 * masked, each line with where it was set) and the markdown reference (docs/CONFIGURATION.md).
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

/* ---- dump and documentation -------------------------------------------------------------- */

void sl_conf_dump_obj(FILE *fp, const sl_conf_t *conf, const char *prefix,
                      const sl_prop_t *table, const void *obj) {
    if (!fp || !table || !obj)
        return;
    if (!prefix)
        prefix = "";
    const applied_t *rec = conf ? conf_applied_find(conf, obj, table) : NULL;
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
            e = conf_find(conf, conf_join(&kb, prefix, row->name));
            for (const sl_prop_t *a = table; !e && a->name; a++)
                if (a->type == SL_PROP_ALIAS && a->choices && strcmp(a->choices, row->name) == 0)
                    e = conf_find(conf, conf_join(&kb, prefix, a->name));
        }
        sl_prop_format(row, obj, val, sizeof(val));
        if (e && e->secret && *val)
            snprintf(val, sizeof(val), MASK);
        sl_sb_reset(&line);
        sl_sb_printf(&line, "%s%s=", prefix, row->name);
        conf_put_escaped(&line, val);
        sl_sb_printf(&line, "  # %s\n", e ? conf_ent_where(e, w, sizeof(w)) : "default");
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
            int n = conf_split_choices(row->choices, buf, sizeof(buf), choices, 64);
            sl_sb_reset(&tmp);
            sl_sb_puts(&tmp, "One of:");
            for (int i = 0; i < n; i++)
                sl_sb_printf(&tmp, "%s `%s`", i ? "," : "", choices[i]);
            sl_sb_putc(&tmp, '.');
            put_sentence(&sb, start, tmp.buf);
        }
        if (conf_has_bounds(row)) {
            char what[256];
            conf_bounds_desc(row, what, sizeof(what));
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
