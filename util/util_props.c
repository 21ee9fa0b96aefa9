/*
 * util_props.c: the lexer for Java .properties text, the first step of loading a job file.
 * It joins natural lines into logical ones (backslash continuation), skips comments, splits
 * each logical line into key and value at the first unescaped separator, decodes escapes
 * (\uXXXX with surrogate pairs, emitted as UTF-8), trims the value's trailing blanks and
 * substitutes ${VAR} / ${VAR:-default} references, then hands every pair to a callback with
 * the line it started on. It knows nothing about what the keys mean: conf.c does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util_props.h"
#include "util_str.h"

/* Where one natural line starts inside the joined logical line, for error line numbers. */
typedef struct seg {
    size_t off;
    int line;
} seg_t;

typedef struct lexer {
    const char *name;
    const char *p, *end; /* unread text */
    int line;            /* number of the next natural line */
    sl_sb_t raw;         /* the current logical line, continuations joined */
    seg_t *segs;
    int nseg, segcap;
    sl_sb_t key, val;
    sl_props_lookup lookup;
    void *lookup_opaque;
    char *errstr;
    size_t errlen;
} lexer_t;

static int is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\f';
}

static int fail(lexer_t *lx, int line, const char *fmt, ...) SL_PRINTF(3, 4);

/* Records "name:line: what" (or "name: what" when line is 0) and returns -1. */
static int fail(lexer_t *lx, int line, const char *fmt, ...) {
    if (lx->errstr && lx->errlen) {
        int n = line > 0 ? snprintf(lx->errstr, lx->errlen, "%s:%d: ", lx->name, line)
                         : snprintf(lx->errstr, lx->errlen, "%s: ", lx->name);
        if (n >= 0 && (size_t)n < lx->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(lx->errstr + n, lx->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* The natural line that byte off of the logical line came from. */
static int line_at(const lexer_t *lx, size_t off) {
    int line = lx->nseg ? lx->segs[0].line : lx->line;
    for (int i = 0; i < lx->nseg && lx->segs[i].off <= off; i++)
        line = lx->segs[i].line;
    return line;
}

/* Reads the next natural line into [*s, *e) (terminator excluded, leading blanks skipped) and
 * returns its number. */
static int next_line(lexer_t *lx, const char **s, const char **e) {
    const char *q = lx->p;
    while (q < lx->end && *q != '\n' && *q != '\r')
        q++;
    const char *b = lx->p;
    while (b < q && is_blank(*b))
        b++;
    *s = b;
    *e = q;
    if (q < lx->end)
        q += (*q == '\r' && q + 1 < lx->end && q[1] == '\n') ? 2 : 1;
    lx->p = q;
    return lx->line++;
}

static int add_seg(lexer_t *lx, size_t off, int line) {
    if (lx->nseg == lx->segcap) {
        int cap = lx->segcap ? lx->segcap * 2 : 8;
        seg_t *n = realloc(lx->segs, (size_t)cap * sizeof(*n));
        if (!n)
            return -1;
        lx->segs = n;
        lx->segcap = cap;
    }
    lx->segs[lx->nseg].off = off;
    lx->segs[lx->nseg].line = line;
    lx->nseg++;
    return 0;
}

/* Reads the 4 hex digits of a \u escape at r[i..to); -1 when malformed or truncated. */
static long hex4(const char *r, size_t i, size_t to) {
    if (to < i || to - i < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = sl_hexval(r[i + (size_t)k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static void put_utf8(sl_sb_t *out, unsigned long cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sl_sb_append(out, b, n);
}

/* Decodes the \u escape whose 'u' is at r[*i - 1]; advances *i past it (and past the low half
 * of a surrogate pair). */
static int decode_u(lexer_t *lx, const char *r, size_t *i, size_t to, sl_sb_t *out) {
    size_t at = *i - 2;
    long cp = hex4(r, *i, to);
    if (cp < 0)
        return fail(lx, line_at(lx, at), "malformed \\uXXXX escape (expected 4 hex digits)");
    *i += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(lx, line_at(lx, at), "unpaired UTF-16 surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = -1;
        if (to - *i >= 2 && r[*i] == '\\' && r[*i + 1] == 'u')
            lo = hex4(r, *i + 2, to);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(lx, line_at(lx, at), "unpaired UTF-16 surrogate in \\u escape");
        *i += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0)
        return fail(lx, line_at(lx, at), "\\u0000 (NUL) is not allowed");
    put_utf8(out, (unsigned long)cp);
    return 0;
}

static int is_name_char(char c, int first) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static int unescape(lexer_t *lx, const char *r, size_t from, size_t to, sl_sb_t *out, int subst,
                    int trim);

/* Substitutes the ${NAME} or ${NAME:-default} reference at r[*i] (the '$'). */
static int substitute(lexer_t *lx, const char *r, size_t *i, size_t to, sl_sb_t *out) {
    size_t at = *i, j = *i + 2, name_start = j;
    while (j < to && is_name_char(r[j], j == name_start))
        j++;
    size_t name_len = j - name_start;
    int has_def = 0;
    size_t def_start = 0, def_end = 0;
    if (j < to && r[j] == ':' && j + 1 < to && r[j + 1] == '-') {
        has_def = 1;
        def_start = j + 2;
        for (j = def_start; j < to && r[j] != '}'; j++)
            if (r[j] == '\\')
                j++;
        if (j >= to)
            return fail(lx, line_at(lx, at), "unterminated ${ (missing '}')");
        def_end = j;
    } else if (j >= to) {
        return fail(lx, line_at(lx, at), "unterminated ${ (missing '}')");
    } else if (r[j] != '}') {
        return fail(lx, line_at(lx, at),
                    "malformed variable reference (expected ${NAME} or ${NAME:-default})");
    }
    if (!name_len)
        return fail(lx, line_at(lx, at),
                    "malformed variable reference (expected ${NAME} or ${NAME:-default})");
    char name[256];
    if (name_len >= sizeof(name))
        return fail(lx, line_at(lx, at), "variable name too long");
    memcpy(name, r + name_start, name_len);
    name[name_len] = '\0';
    *i = j + 1;
    /* As in the shell, ":-" also replaces a variable that is set but empty. */
    const char *v = lx->lookup(lx->lookup_opaque, name);
    if (v && (*v || !has_def)) {
        sl_sb_puts(out, v);
        return 0;
    }
    if (!has_def)
        return fail(lx, line_at(lx, at), "environment variable %s is not set", name);
    return unescape(lx, r, def_start, def_end, out, 0, 0);
}

/* Appends r[from..to) to out with escapes decoded; with subst, unescaped ${...} references are
 * substituted; with trim, unescaped trailing blanks are dropped. */
static int unescape(lexer_t *lx, const char *r, size_t from, size_t to, sl_sb_t *out, int subst,
                    int trim) {
    size_t keep = out->len, i = from;
    while (i < to) {
        char c = r[i];
        if (c == '\0')
            return fail(lx, line_at(lx, i), "NUL byte in text");
        if (c == '\\') {
            if (i + 1 >= to) {
                i++;
                continue;
            }
            char e = r[i + 1];
            i += 2;
            switch (e) {
            case 't': sl_sb_putc(out, '\t'); break;
            case 'n': sl_sb_putc(out, '\n'); break;
            case 'r': sl_sb_putc(out, '\r'); break;
            case 'f': sl_sb_putc(out, '\f'); break;
            case 'u':
                if (decode_u(lx, r, &i, to, out) < 0)
                    return -1;
                break;
            case '\0': return fail(lx, line_at(lx, i - 1), "NUL byte in text");
            default: sl_sb_putc(out, e); break; /* \\ \= \: \# \! \space \$ and any other */
            }
            keep = out->len;
            continue;
        }
        if (subst && c == '$' && i + 1 < to && r[i + 1] == '{') {
            if (substitute(lx, r, &i, to, out) < 0)
                return -1;
            keep = out->len;
            continue;
        }
        sl_sb_putc(out, c);
        if (!is_blank(c))
            keep = out->len;
        i++;
    }
    if (trim && !out->oom) {
        out->len = keep;
        if (out->buf)
            out->buf[keep] = '\0';
    }
    return 0;
}

/* Splits and decodes the logical line in lx->raw, then calls cb. */
static int emit(lexer_t *lx, int start_line, sl_props_cb cb, void *opaque) {
    const char *r = lx->raw.buf;
    size_t n = lx->raw.len, i = 0;
    while (i < n && !is_blank(r[i]) && r[i] != '=' && r[i] != ':')
        i += r[i] == '\\' ? 2 : 1;
    size_t key_end = i < n ? i : n;
    i = key_end;
    while (i < n && is_blank(r[i]))
        i++;
    if (i < n && (r[i] == '=' || r[i] == ':'))
        i++;
    while (i < n && is_blank(r[i]))
        i++;
    sl_sb_reset(&lx->key);
    sl_sb_reset(&lx->val);
    if (unescape(lx, r, 0, key_end, &lx->key, 0, 0) < 0)
        return -1;
    if (!lx->key.oom && lx->key.len == 0)
        return fail(lx, start_line, "empty key");
    if (unescape(lx, r, i, n, &lx->val, lx->lookup != NULL, 1) < 0)
        return -1;
    sl_sb_putc(&lx->key, '\0'); /* makes .buf non-NULL even when empty */
    sl_sb_putc(&lx->val, '\0');
    if (lx->key.oom || lx->val.oom)
        return fail(lx, 0, "out of memory");
    return cb(opaque, lx->key.buf, lx->val.buf, start_line);
}

int sl_props_parse(const char *name, const char *text, size_t len, sl_props_cb cb, void *opaque,
                   sl_props_lookup lookup, void *lookup_opaque, char *errstr, size_t errlen) {
    lexer_t lx = {
        .name = name ? name : "<string>",
        .p = text,
        .end = text + len,
        .line = 1,
        .lookup = lookup,
        .lookup_opaque = lookup_opaque,
        .errstr = errstr,
        .errlen = errlen,
    };
    int rc = 0;
    if (errstr && errlen)
        errstr[0] = '\0';
    if (!text)
        lx.p = lx.end = "";
    if (lx.end - lx.p >= 3 && memcmp(lx.p, "\xEF\xBB\xBF", 3) == 0)
        lx.p += 3; /* a UTF-8 byte order mark, as some editors write */
    while (lx.p < lx.end) {
        const char *s, *e;
        int ln = next_line(&lx, &s, &e);
        if (s == e || *s == '#' || *s == '!')
            continue;
        int start_line = ln;
        sl_sb_reset(&lx.raw);
        lx.nseg = 0;
        for (;;) {
            if (add_seg(&lx, lx.raw.len, ln) < 0) {
                rc = fail(&lx, 0, "out of memory");
                goto out;
            }
            size_t bs = 0;
            while (e - bs > s && e[-(ptrdiff_t)bs - 1] == '\\')
                bs++;
            if (bs % 2 == 0 || lx.p >= lx.end) {
                sl_sb_append(&lx.raw, s, (size_t)(e - s) - bs % 2);
                break;
            }
            sl_sb_append(&lx.raw, s, (size_t)(e - s) - 1);
            ln = next_line(&lx, &s, &e);
        }
        if (lx.raw.oom) {
            rc = fail(&lx, 0, "out of memory");
            goto out;
        }
        rc = emit(&lx, start_line, cb, opaque);
        if (rc)
            goto out;
    }
out:
    sl_sb_free(&lx.raw);
    sl_sb_free(&lx.key);
    sl_sb_free(&lx.val);
    free(lx.segs);
    return rc;
}
