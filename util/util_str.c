/*
 * util_str.c: generic string helpers below the configuration engine: the growable buffer that
 * the properties lexer and the error/doc writers build text in, the bounded edit distance behind
 * every "did you mean" hint, and the strict parsers for the typed values of the property tables
 * (booleans, integers, numbers, sizes with binary multiples, durations in milliseconds). They
 * know nothing about streams or configuration and never abort on a failed allocation.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util_str.h"

/* ---- growable buffer --------------------------------------------------------------------- */

/* Makes room for extra more bytes plus the terminating NUL; sets .oom on failure. */
static int sb_reserve(sl_sb_t *sb, size_t extra) {
    if (sb->oom)
        return -1;
    if (extra > SIZE_MAX - sb->len - 1) {
        sb->oom = 1;
        return -1;
    }
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(sb->buf, cap);
    if (!p) {
        sb->oom = 1;
        return -1;
    }
    sb->buf = p;
    sb->cap = cap;
    return 0;
}

char *sl_sb_room(sl_sb_t *sb, size_t n) {
    return sb_reserve(sb, n) < 0 ? NULL : sb->buf + sb->len;
}

void sl_sb_append(sl_sb_t *sb, const void *data, size_t len) {
    if (sb_reserve(sb, len) < 0)
        return;
    if (len)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
}

void sl_sb_puts(sl_sb_t *sb, const char *s) {
    sl_sb_append(sb, s, strlen(s));
}

void sl_sb_putc(sl_sb_t *sb, char c) {
    sl_sb_append(sb, &c, 1);
}

void sl_sb_vprintf(sl_sb_t *sb, const char *fmt, va_list ap) {
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || sb_reserve(sb, (size_t)n) < 0)
        return;
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void sl_sb_printf(sl_sb_t *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sl_sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

void sl_sb_reset(sl_sb_t *sb) {
    sb->len = 0;
    if (sb->buf)
        sb->buf[0] = '\0';
}

void sl_sb_free(sl_sb_t *sb) {
    free(sb->buf);
    memset(sb, 0, sizeof(*sb));
}

/* ---- edit distance and suggestions --------------------------------------------------------- */

int sl_edit_distance(const char *a, const char *b, int max) {
    if (max < 0)
        max = 0;
    size_t la = strlen(a), lb = strlen(b);
    size_t diff = la > lb ? la - lb : lb - la;
    if (diff > (size_t)max)
        return max + 1;
    int stack[2][64];
    int *prev = stack[0], *cur = stack[1], *heap = NULL;
    if (lb + 1 > 64) {
        heap = malloc(2 * (lb + 1) * sizeof(int));
        if (!heap)
            return max + 1;
        prev = heap;
        cur = heap + lb + 1;
    }
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    int result;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        int row_min = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            int best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            cur[j] = best;
            if (best < row_min)
                row_min = best;
        }
        if (row_min > max) {
            result = max + 1;
            goto out;
        }
        int *t = prev;
        prev = cur;
        cur = t;
    }
    result = prev[lb] > max ? max + 1 : prev[lb];
out:
    free(heap);
    return result;
}

const char *sl_suggest(const char *word, const char *const *candidates, int n) {
    if (!word || !candidates)
        return NULL;
    int limit = (int)(strlen(word) / 4);
    if (limit < 2)
        limit = 2;
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; i < n; i++) {
        const char *c = candidates[i];
        if (!c)
            continue;
        int d = sl_strieq(word, c) ? 0 : sl_edit_distance(word, c, limit);
        if (d < best_d) {
            best = c;
            best_d = d;
            if (d == 0)
                break;
        }
    }
    return best_d <= limit ? best : NULL;
}

/* ---- value parsers ----------------------------------------------------------------------- */

int sl_strieq(const char *a, const char *b) {
    if (!a || !b)
        return a == b;
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

int sl_parse_bool(const char *s, int *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (sl_strieq(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (sl_strieq(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int sl_parse_int64(const char *s, int64_t *out) {
    if (!s)
        return -1;
    int neg = 0;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!isdigit((unsigned char)*s))
        return -1;
    /* Accumulate as a negative number so INT64_MIN fits. */
    int64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        int d = *s - '0';
        if (v < (INT64_MIN + d) / 10)
            return -1;
        v = v * 10 - d;
    }
    if (*s)
        return -1;
    if (!neg) {
        if (v == INT64_MIN)
            return -1;
        v = -v;
    }
    *out = v;
    return 0;
}

int sl_parse_double(const char *s, double *out) {
    if (!s || !*s)
        return -1;
    /* strtod also takes hex, inf, nan and leading blanks: none of them belongs in a config. */
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && !strchr("+-.eE", *p))
            return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/*
 * Splits s into a non-negative decimal number ("12", "1.5", ".5") and a unit (letters after
 * optional blanks), then returns number * mult(unit) truncated towards zero. Fraction digits
 * past the sixth are ignored so the arithmetic stays in 64 bits.
 */
typedef struct unit_mult {
    const char *unit;
    int64_t mult;
} unit_mult_t;

static int parse_scaled(const char *s, const unit_mult_t *units, int64_t *out) {
    if (!s)
        return -1;
    int64_t ip = 0, frac = 0, den = 1;
    int digits = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        int d = *p - '0';
        if (ip > (INT64_MAX - d) / 10)
            return -1;
        ip = ip * 10 + d;
    }
    if (*p == '.') {
        p++;
        for (; isdigit((unsigned char)*p); p++, digits++)
            if (den < 1000000) {
                frac = frac * 10 + (*p - '0');
                den *= 10;
            }
    }
    if (!digits)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    const unit_mult_t *u = units;
    for (; u->unit; u++)
        if (sl_strieq(p, u->unit))
            break;
    if (!u->unit)
        return -1;
    if (ip > INT64_MAX / u->mult)
        return -1;
    int64_t v = ip * u->mult;
    int64_t add = frac * u->mult / den; /* frac < 1e6 and mult < 2^41: no overflow */
    if (v > INT64_MAX - add)
        return -1;
    *out = v + add;
    return 0;
}

int sl_parse_size(const char *s, int64_t *out) {
    static const unit_mult_t units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1LL << 10},
        {"kb", 1LL << 10},
        {"kib", 1LL << 10},
        {"m", 1LL << 20},
        {"mb", 1LL << 20},
        {"mib", 1LL << 20},
        {"g", 1LL << 30},
        {"gb", 1LL << 30},
        {"gib", 1LL << 30},
        {"t", 1LL << 40},
        {"tb", 1LL << 40},
        {"tib", 1LL << 40},
        {NULL, 0},
    };
    return parse_scaled(s, units, out);
}

int sl_parse_duration_ms(const char *s, int64_t *out) {
    static const unit_mult_t units[] = {
        {"", 1},
        {"ms", 1},
        {"s", 1000},
        {"m", 60 * 1000},
        {"h", 3600 * 1000},
        {"d", 86400LL * 1000},
        {NULL, 0},
    };
    return parse_scaled(s, units, out);
}

char *sl_strndup(const char *s, size_t n) {
    size_t len = 0;
    while (len < n && s[len])
        len++;
    char *p = malloc(len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *sl_strdup(const char *s) {
    return s ? sl_strndup(s, strlen(s)) : NULL;
}

char *sl_trim(char *s) {
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = 0;
    return s;
}

const char *sl_getenv_nonempty(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void sl_errf(char *errstr, size_t errlen, const char *fmt, ...) {
    va_list ap;
    if (!errstr || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, errlen, fmt, ap);
    va_end(ap);
}

int sl_hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void sl_sb_json_str(sl_sb_t *sb, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    sl_sb_putc(sb, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            sl_sb_putc(sb, '\\');
            sl_sb_putc(sb, (char)ch);
        } else if (ch == '\n') {
            sl_sb_puts(sb, "\\n");
        } else if (ch == '\r') {
            sl_sb_puts(sb, "\\r");
        } else if (ch == '\t') {
            sl_sb_puts(sb, "\\t");
        } else if (ch < 0x20) {
            char esc[7] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15], 0};
            sl_sb_puts(sb, esc);
        } else {
            sl_sb_putc(sb, (char)ch);
        }
    }
    sl_sb_putc(sb, '"');
}
