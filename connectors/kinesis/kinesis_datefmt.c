/*
 * kinesis_datefmt.c: start timestamps parsed the way Flink and the KCL accept them: epoch
 * seconds, a Java SimpleDateFormat pattern (the subset Flink's connector documents), or ISO 8601
 * with a zone as a fallback; declared in kinesis_datefmt.h. Used by kinesis_conf.c to read
 * AT_TIMESTAMP start positions; nothing here knows about streams beyond the defaults.
 */

#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kinesis_datefmt.h"
#include "util_str.h"
#include "util_time.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int m) {
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

typedef struct tfields {
    int64_t year;
    int month, day, hour, min, sec, ms;
    int zone_min; /* offset east of UTC */
} tfields_t;

/* Why a parse failed: a mismatch (the text has another shape) or a value out of range (the
 * shape was right; this message is the one to show). */
enum { T_OK = 0, T_MISMATCH = 1, T_RANGE = 2, T_BADFMT = 3 };

static int64_t tfields_ms(const tfields_t *f) {
    int64_t days = days_from_civil(f->year, f->month, f->day);
    return (((days * 24 + f->hour) * 60 + f->min) * 60 + f->sec) * 1000 + f->ms -
           (int64_t)f->zone_min * 60000;
}

/* Range checks shared by the pattern and ISO parsers; fills why. */
static int tfields_check(const tfields_t *f, char *why, size_t wlen) {
    if (f->year < 1 || f->year > 9999)
        return snprintf(why, wlen, "year %lld out of range", (long long)f->year), T_RANGE;
    if (f->month < 1 || f->month > 12)
        return snprintf(why, wlen, "month %d out of range", f->month), T_RANGE;
    if (f->day < 1 || f->day > days_in_month(f->year, f->month))
        return snprintf(why, wlen, "day %d out of range for %04lld-%02d", f->day,
                        (long long)f->year, f->month), T_RANGE;
    if (f->hour > 23)
        return snprintf(why, wlen, "hour %d out of range", f->hour), T_RANGE;
    if (f->min > 59)
        return snprintf(why, wlen, "minute %d out of range", f->min), T_RANGE;
    if (f->sec > 59)
        return snprintf(why, wlen, "second %d out of range", f->sec), T_RANGE;
    if (f->ms > 999)
        return snprintf(why, wlen, "millisecond %d out of range", f->ms), T_RANGE;
    return T_OK;
}

/* A zone at *p: 'Z', "UTC"/"GMT" optionally followed by an offset, or an offset +hh, +hhmm,
 * +hh:mm (SimpleDateFormat's X, Z and z forms, read alike). Returns T_OK and advances *p. */
static int parse_zone(const char **p, int *zone_min, char *why, size_t wlen) {
    const char *s = *p;
    int sign, hh, mm = 0;
    if (*s == 'Z' || *s == 'z') {
        *zone_min = 0;
        *p = s + 1;
        return T_OK;
    }
    if (!strncmp(s, "UTC", 3) || !strncmp(s, "GMT", 3)) {
        s += 3;
        if (*s != '+' && *s != '-') {
            *zone_min = 0;
            *p = s;
            return T_OK;
        }
    }
    if (*s != '+' && *s != '-')
        return snprintf(why, wlen, "expected a time zone"), T_MISMATCH;
    sign = *s++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return snprintf(why, wlen, "expected a time zone offset"), T_MISMATCH;
    hh = (s[0] - '0') * 10 + (s[1] - '0');
    s += 2;
    if (*s == ':')
        s++;
    if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1])) {
        mm = (s[0] - '0') * 10 + (s[1] - '0');
        s += 2;
    } else if (s[-1] == ':') {
        return snprintf(why, wlen, "expected minutes in the time zone offset"), T_MISMATCH;
    }
    if (hh > 23 || mm > 59)
        return snprintf(why, wlen, "time zone offset %02d:%02d out of range", hh, mm), T_RANGE;
    *zone_min = sign * (hh * 60 + mm);
    *p = s;
    return T_OK;
}

static const char *const month_names[12] = {"january", "february", "march",     "april",
                                             "may",     "june",     "july",      "august",
                                             "september", "october", "november", "december"};

static int is_numeric_letter(char c) {
    return c == 'y' || c == 'M' || c == 'd' || c == 'H' || c == 'm' || c == 's' || c == 'S';
}

/* Whether the pattern at f starts with a numeric field (for SimpleDateFormat's abutting
 * fields: "yyyyMMdd"). */
static int next_is_numeric(const char *f) {
    int n = 0;
    if (!is_numeric_letter(*f))
        return 0;
    while (*f == 'M' && f[n] == 'M')
        n++;
    return *f != 'M' || n < 3;
}

/* Checks the pattern itself (letters supported, quotes closed), so a bad format is reported
 * as such whatever the text. */
static int check_format(const char *q, char *why, size_t wlen) {
    while (*q) {
        if (*q == '\'') {
            if (q[1] == '\'') {
                q += 2;
                continue;
            }
            for (q++;; q++) {
                if (!*q)
                    return snprintf(why, wlen, "unterminated quote in the date format"), T_BADFMT;
                if (*q == '\'' && q[1] == '\'')
                    q++;
                else if (*q == '\'')
                    break;
            }
            q++;
            continue;
        }
        if (((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')) && !is_numeric_letter(*q) &&
            *q != 'X' && *q != 'Z' && *q != 'z')
            return snprintf(why, wlen, "unsupported letter '%c' in the date format", *q),
                   T_BADFMT;
        q++;
    }
    return T_OK;
}

/* Matches ts against a SimpleDateFormat pattern (checked by check_format). why says what
 * failed. */
static int parse_pattern(const char *ts, const char *fmt, tfields_t *f, char *why, size_t wlen) {
    const char *p = ts, *q = fmt;
    int rc;
    int64_t now_year = 1970 + sl_now_ms() / (int64_t)31556952000;

    f->year = 1970;
    f->month = f->day = 1;
    f->hour = f->min = f->sec = f->ms = 0;
    f->zone_min = 0;
    while (*q) {
        char c = *q;
        if (c == '\'') {
            /* '' is a quote; 'text' is literal text in which '' is a quote */
            if (q[1] == '\'') {
                if (*p != '\'')
                    return snprintf(why, wlen, "position %d: expected \"'\"", (int)(p - ts)),
                           T_MISMATCH;
                p++;
                q += 2;
                continue;
            }
            q++;
            for (;;) {
                if (!*q)
                    return snprintf(why, wlen, "unterminated quote in the date format"),
                           T_BADFMT;
                if (*q == '\'') {
                    if (q[1] != '\'')
                        break;
                    q++;
                }
                if (*p != *q)
                    return snprintf(why, wlen, "position %d: expected '%c'", (int)(p - ts), *q),
                           T_MISMATCH;
                p++;
                q++;
            }
            q++;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            if (*p != c)
                return snprintf(why, wlen, "position %d: expected '%c'", (int)(p - ts), c),
                       T_MISMATCH;
            p++;
            q++;
            continue;
        }
        int count = 0;
        while (q[count] == c)
            count++;
        q += count;
        if (c == 'X' || c == 'Z' || c == 'z') {
            if ((rc = parse_zone(&p, &f->zone_min, why, wlen)) != T_OK) {
                if (rc == T_MISMATCH)
                    snprintf(why, wlen, "position %d: expected a time zone for %c",
                             (int)(p - ts), c);
                return rc;
            }
            continue;
        }
        if (c == 'M' && count >= 3) {
            int found = -1;
            size_t best = 0;
            /* full names first ("March"), then the abbreviations ("Mar") */
            for (int i = 0; i < 12 && found < 0; i++)
                if (!strncasecmp(p, month_names[i], strlen(month_names[i]))) {
                    found = i;
                    best = strlen(month_names[i]);
                }
            for (int i = 0; i < 12 && found < 0; i++)
                if (!strncasecmp(p, month_names[i], 3)) {
                    found = i;
                    best = 3;
                }
            if (found < 0)
                return snprintf(why, wlen, "position %d: expected a month name", (int)(p - ts)),
                       T_MISMATCH;
            f->month = found + 1;
            p += best;
            continue;
        }
        if (!is_numeric_letter(c))
            return snprintf(why, wlen, "unsupported letter '%c' in the date format", c),
                   T_BADFMT;
        /* SimpleDateFormat: a number abutting the next numeric field has exactly the pattern's
         * width; otherwise it takes every digit there is. */
        int fixed = next_is_numeric(q), nd = 0;
        int64_t v = 0;
        while (isdigit((unsigned char)p[nd]) && (!fixed || nd < count) && nd < 10) {
            v = v * 10 + (p[nd] - '0');
            nd++;
        }
        if (nd == 0 || (fixed && nd < count))
            return snprintf(why, wlen, "position %d: expected %s%d digit%s for %.*s",
                            (int)(p - ts), fixed ? "" : "at least ", fixed ? count : 1,
                            fixed && count > 1 ? "s" : "", count, q - count),
                   T_MISMATCH;
        if (nd == 10)
            return snprintf(why, wlen, "position %d: number too long for %.*s", (int)(p - ts),
                            count, q - count),
                   T_RANGE;
        p += nd;
        switch (c) {
        case 'y':
            if (count <= 2 && nd == 2) {
                /* two-digit years fall in the 100 years starting 80 years ago */
                int64_t start = now_year - 80, amb = start % 100;
                v += (start / 100) * 100 + (v < amb ? 100 : 0);
            }
            f->year = v;
            if (v < 1 || v > 9999)
                return snprintf(why, wlen, "year %lld out of range", (long long)v), T_RANGE;
            break;
        case 'M':
            if (v < 1 || v > 12)
                return snprintf(why, wlen, "month %lld out of range", (long long)v), T_RANGE;
            f->month = (int)v;
            break;
        case 'd':
            if (v < 1 || v > 31)
                return snprintf(why, wlen, "day %lld out of range", (long long)v), T_RANGE;
            f->day = (int)v;
            break;
        case 'H':
            if (v > 23)
                return snprintf(why, wlen, "hour %lld out of range", (long long)v), T_RANGE;
            f->hour = (int)v;
            break;
        case 'm':
            if (v > 59)
                return snprintf(why, wlen, "minute %lld out of range", (long long)v), T_RANGE;
            f->min = (int)v;
            break;
        case 's':
            if (v > 59)
                return snprintf(why, wlen, "second %lld out of range", (long long)v), T_RANGE;
            f->sec = (int)v;
            break;
        default: /* 'S': a count of milliseconds, as in Java (".5" is 5 ms) */
            if (v > 999)
                return snprintf(why, wlen, "millisecond %lld out of range", (long long)v),
                       T_RANGE;
            f->ms = (int)v;
            break;
        }
    }
    if (*p)
        return snprintf(why, wlen, "position %d: unexpected '%.20s'", (int)(p - ts), p),
               T_MISMATCH;
    return tfields_check(f, why, wlen);
}

/* ISO 8601 with a zone: YYYY-MM-DD(T| )hh:mm[:ss[(.|,)fraction]](Z|+hh[:mm]). */
static int parse_iso(const char *ts, tfields_t *f, char *why, size_t wlen) {
    const char *p = ts;
    int v[5], rc;
    static const char seps[5] = {'-', '-', 'T', ':', '\0'};
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < 5; i++) {
        int w = i == 0 ? 4 : 2;
        v[i] = 0;
        for (int k = 0; k < w; k++, p++) {
            if (!isdigit((unsigned char)*p))
                return snprintf(why, wlen, "not ISO 8601"), T_MISMATCH;
            v[i] = v[i] * 10 + (*p - '0');
        }
        if (i == 2) {
            if (*p != 'T' && *p != 't' && *p != ' ')
                return snprintf(why, wlen, "not ISO 8601"), T_MISMATCH;
            p++;
        } else if (seps[i]) {
            if (*p != seps[i])
                return snprintf(why, wlen, "not ISO 8601"), T_MISMATCH;
            p++;
        }
    }
    f->year = v[0];
    f->month = v[1];
    f->day = v[2];
    f->hour = v[3];
    f->min = v[4];
    if (*p == ':') {
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
            return snprintf(why, wlen, "not ISO 8601"), T_MISMATCH;
        f->sec = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == '.' || *p == ',') {
            int nd = 0, ms = 0;
            for (p++; isdigit((unsigned char)*p); p++, nd++)
                if (nd < 3)
                    ms = ms * 10 + (*p - '0');
            if (!nd)
                return snprintf(why, wlen, "not ISO 8601"), T_MISMATCH;
            for (; nd < 3; nd++)
                ms *= 10;
            f->ms = ms;
        }
    }
    if ((rc = parse_zone(&p, &f->zone_min, why, wlen)) != T_OK)
        return rc == T_MISMATCH ? (snprintf(why, wlen, "not ISO 8601"), T_MISMATCH) : rc;
    if (*p)
        return snprintf(why, wlen, "not ISO 8601"), T_MISMATCH;
    return tfields_check(f, why, wlen);
}

/* Epoch seconds: digits with an optional fraction (truncated to ms, as Flink's
 * (long) (Double.parseDouble(ts) * 1000)). */
static int parse_epoch(const char *ts, int64_t *ms) {
    const char *p = ts;
    int64_t sec = 0, frac = 0;
    int nd = 0, nf = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (++nd > 12) /* beyond year 33658: not a start position */
            return -1;
        sec = sec * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++, nf++)
            if (nf < 3)
                frac = frac * 10 + (*p - '0');
        for (int k = nf; k < 3; k++)
            frac *= 10;
    }
    if (*p || (nd == 0 && nf == 0))
        return -1;
    *ms = sec * 1000 + frac;
    return 0;
}

#define DEFAULT_TS_FORMAT "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"

sl_err_t kin_parse_time(const char *ts, const char *fmt, int64_t *ms, char *errstr,
                        size_t errlen) {
    char why[160], why2[160];
    tfields_t f;
    int rc, rc2, is_default = !fmt || !*fmt || !strcmp(fmt, DEFAULT_TS_FORMAT);
    if (is_default)
        fmt = DEFAULT_TS_FORMAT;
    if (!ts || !*ts) {
        sl_errf(errstr, errlen, "empty timestamp");
        return SL_ERR_INVAL;
    }
    /* Flink tries the pattern first and falls back to epoch seconds. A pattern without a zone
     * is read as UTC (Java would use the JVM's zone; a start position must not depend on the
     * host's TZ). */
    if (check_format(fmt, why, sizeof(why)) != T_OK) {
        sl_errf(errstr, errlen, "date format '%s': %s", fmt, why);
        return SL_ERR_INVAL;
    }
    rc = parse_pattern(ts, fmt, &f, why, sizeof(why));
    if (rc == T_OK) {
        *ms = tfields_ms(&f);
        return SL_OK;
    }
    if (rc == T_BADFMT) {
        sl_errf(errstr, errlen, "date format '%s': %s", fmt, why);
        return SL_ERR_INVAL;
    }
    if (is_default) {
        rc2 = parse_iso(ts, &f, why2, sizeof(why2));
        if (rc2 == T_OK) {
            *ms = tfields_ms(&f);
            return SL_OK;
        }
        if (rc == T_MISMATCH && rc2 == T_RANGE) {
            rc = rc2;
            memcpy(why, why2, sizeof(why));
        }
    }
    if (parse_epoch(ts, ms) == 0)
        return SL_OK;
    if (rc == T_RANGE)
        sl_errf(errstr, errlen, "'%s': %s", ts, why);
    else
        sl_errf(errstr, errlen, "'%s': does not match %s (%s)%s", ts, fmt, why,
                is_default ? ", ISO 8601 with a zone, or epoch seconds" : " or epoch seconds");
    return SL_ERR_INVAL;
}
