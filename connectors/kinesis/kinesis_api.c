/*
 * kinesis_api.c: the Kinesis API as the consumer speaks it, declared in kinesis.h. Sequence
 * numbers are compared as decimal numbers; start timestamps are parsed the way Flink and the
 * KCL accept them (epoch seconds or a Java SimpleDateFormat pattern); ListShards walks every
 * page of a stream's shards on the coordinator's loop; GetRecords answers are parsed strictly
 * into one decoded data buffer and one strings arena, which kinesis_shard.c then de-aggregates
 * and delivers without copying: on the hot path by a single-pass scanner over the answer's bytes
 * (no JSON document), with the jansson-based parser kept as its reference. Everything here is a
 * request builder or a parser: retries and backoff belong to aws_client.c, what to do next to
 * the callers.
 */
#include "config.h"

#include <ctype.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kinesis.h"
#include "util_base64.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

/* ---- sequence numbers --------------------------------------------------------------------- */

int kin_seq_cmp(const char *a, const char *b) {
    size_t la, lb;
    int c;
    if (!a)
        a = "";
    if (!b)
        b = "";
    while (*a == '0')
        a++;
    while (*b == '0')
        b++;
    la = strlen(a);
    lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    c = memcmp(a, b, la);
    return c < 0 ? -1 : c > 0;
}

int kin_xseq_cmp(const char *seq, int64_t sub, const char *cseq, int64_t csub) {
    int c = kin_seq_cmp(seq, cseq);
    if (c)
        return c;
    return sub < csub ? -1 : sub > csub;
}

int kin_all_digits(const char *s, size_t n) {
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* ---- timestamps --------------------------------------------------------------------------- */

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

/* ---- JSON field access -------------------------------------------------------------------- */

/* The string member key of o. Returns 1 when present, 0 when absent or null and optional;
 * -1 with errstr "<where>.<key>: ..." when missing and required, or of another type. */
static int get_str(const json_t *o, const char *key, int required, const char **out,
                   size_t *len, const char *where, char *errstr, size_t errlen) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        sl_errf(errstr, errlen, "%s.%s: missing", where, key);
        return -1;
    }
    if (!json_is_string(v)) {
        sl_errf(errstr, errlen, "%s.%s: expected a string", where, key);
        return -1;
    }
    *out = json_string_value(v);
    if (len)
        *len = json_string_length(v);
    return 1;
}

/* A required object member. */
static const json_t *get_obj(const json_t *o, const char *key, const char *where, char *errstr,
                             size_t errlen) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        sl_errf(errstr, errlen, "%s.%s: missing", where, key);
        return NULL;
    }
    if (!json_is_object(v)) {
        sl_errf(errstr, errlen, "%s.%s: expected an object", where, key);
        return NULL;
    }
    return v;
}

/* A decimal string member (hash keys, sequence numbers) copied into *out. */
static int get_dec(const json_t *o, const char *key, int required, char **out,
                   const char *where, char *errstr, size_t errlen) {
    const char *s;
    size_t n;
    int r = get_str(o, key, required, &s, &n, where, errstr, errlen);
    if (r <= 0)
        return r;
    if (!kin_all_digits(s, n)) {
        sl_errf(errstr, errlen, "%s.%s: '%.40s' is not a decimal number", where, key, s);
        return -1;
    }
    if (!(*out = sl_strndup(s, n))) {
        sl_errf(errstr, errlen, "out of memory");
        return -1;
    }
    return 1;
}

static int get_hash_range(const json_t *o, kin_shard_info_t *si, const char *where,
                          char *errstr, size_t errlen) {
    char w[96];
    const json_t *r = get_obj(o, "HashKeyRange", where, errstr, errlen);
    if (!r)
        return -1;
    snprintf(w, sizeof(w), "%s.HashKeyRange", where);
    if (get_dec(r, "StartingHashKey", 1, &si->start_hash, w, errstr, errlen) < 0 ||
        get_dec(r, "EndingHashKey", 1, &si->end_hash, w, errstr, errlen) < 0)
        return -1;
    return 0;
}

static int get_id(const json_t *o, const char *key, int required, char **out, const char *where,
                  char *errstr, size_t errlen) {
    const char *s;
    size_t n;
    int r = get_str(o, key, required, &s, &n, where, errstr, errlen);
    if (r <= 0)
        return r;
    if (!n) {
        sl_errf(errstr, errlen, "%s.%s: empty", where, key);
        return -1;
    }
    if (!(*out = sl_strndup(s, n))) {
        sl_errf(errstr, errlen, "out of memory");
        return -1;
    }
    return 1;
}

/* ---- shards ------------------------------------------------------------------------------- */

void kin_shard_info_free(kin_shard_info_t *s) {
    if (!s)
        return;
    free(s->id);
    free(s->parent);
    free(s->adjacent_parent);
    free(s->start_hash);
    free(s->end_hash);
    free(s->start_seq);
    free(s->end_seq);
    memset(s, 0, sizeof(*s));
}

void kin_shard_list_free(kin_shard_info_t *s, size_t n) {
    if (!s)
        return;
    for (size_t i = 0; i < n; i++)
        kin_shard_info_free(&s[i]);
    free(s);
}

/* One element of ListShards' Shards. */
static int parse_shard(const json_t *o, size_t idx, int ddb, kin_shard_info_t *si, char *errstr,
                       size_t errlen) {
    char where[96], w2[128];
    const json_t *r;
    memset(si, 0, sizeof(*si));
    snprintf(where, sizeof(where), "Shards[%zu]", idx);
    if (!json_is_object(o)) {
        sl_errf(errstr, errlen, "%s: expected an object", where);
        return -1;
    }
    if (get_id(o, "ShardId", 1, &si->id, where, errstr, errlen) < 0)
        return -1;
    /* name the shard in every later message */
    snprintf(where, sizeof(where), "Shards[%zu] (%.48s)", idx, si->id);
    if (get_id(o, "ParentShardId", 0, &si->parent, where, errstr, errlen) < 0 ||
        get_id(o, "AdjacentParentShardId", 0, &si->adjacent_parent, where, errstr, errlen) < 0 ||
        (!ddb && get_hash_range(o, si, where, errstr, errlen) < 0))
        return -1;
    if (!(r = get_obj(o, "SequenceNumberRange", where, errstr, errlen)))
        return -1;
    snprintf(w2, sizeof(w2), "%s.SequenceNumberRange", where);
    if (get_dec(r, "StartingSequenceNumber", 1, &si->start_seq, w2, errstr, errlen) < 0 ||
        get_dec(r, "EndingSequenceNumber", 0, &si->end_seq, w2, errstr, errlen) < 0)
        return -1;
    return 0;
}

/* One listing in progress. Listings are found by (client, opaque) for cancelling, in one list
 * guarded by a mutex: listings are rare and may run on several loops. */
typedef struct list_ctx {
    struct list_ctx *next;
    sl_aws_client_t *c;
    char *stream, *arn, *filter_type;
    int64_t ts_ms;
    sl_retry_policy_t retry;
    kin_list_cb cb;
    void *opaque;
    kin_shard_info_t *shards;
    size_t n, cap;
    int restarted;
    int pages;
    int ddb;                  /* DynamoDB Streams: DescribeStream pages */
} list_ctx_t;

static pthread_mutex_t lists_lock = PTHREAD_MUTEX_INITIALIZER;
static list_ctx_t *lists;

static void list_free(list_ctx_t *l) {
    kin_shard_list_free(l->shards, l->n);
    free(l->stream);
    free(l->arn);
    free(l->filter_type);
    free(l);
}

/* Takes l out of the registry; 1 when it was there (not cancelled meanwhile). */
static int list_unlink(list_ctx_t *l) {
    int found = 0;
    pthread_mutex_lock(&lists_lock);
    for (list_ctx_t **pp = &lists; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&lists_lock);
    return found;
}

static const char *list_what(const list_ctx_t *l) {
    return l->arn ? l->arn : l->stream;
}

static const char *list_call(const list_ctx_t *l) {
    return l->ddb ? "DescribeStream" : "ListShards";
}

static void list_result(void *opaque, const sl_aws_result_t *res);

static sl_err_t list_request(list_ctx_t *l, const char *token) {
    json_t *body = json_object();
    if (!body)
        return SL_ERR_NOMEM;
    if (l->ddb) {
        /* DynamoDB Streams pages by the last shard id of the previous page, 100 at most */
        json_object_set_new(body, "StreamArn", json_string(l->arn));
        if (token)
            json_object_set_new(body, "ExclusiveStartShardId", json_string(token));
        json_object_set_new(body, "Limit", json_integer(100));
        return sl_aws_call(l->c, "DescribeStream", body, &l->retry, list_result, l);
    }
    if (token) {
        /* later pages: NextToken identifies the stream; StreamName is refused with it */
        json_object_set_new(body, "NextToken", json_string(token));
    } else {
        if (l->arn)
            json_object_set_new(body, "StreamARN", json_string(l->arn));
        else
            json_object_set_new(body, "StreamName", json_string(l->stream));
        if (l->filter_type) {
            json_t *f = json_pack("{s:s}", "Type", l->filter_type);
            if (f && !strcmp(l->filter_type, "FROM_TIMESTAMP"))
                json_object_set_new(f, "Timestamp", json_real((double)l->ts_ms / 1000.0));
            json_object_set_new(body, "ShardFilter", f);
        }
    }
    json_object_set_new(body, "MaxResults", json_integer(1000));
    return sl_aws_call(l->c, "ListShards", body, &l->retry, list_result, l);
}

static void list_done(list_ctx_t *l, sl_err_t err, const char *msg) {
    kin_shard_info_t *shards = err == SL_OK ? l->shards : NULL;
    size_t n = err == SL_OK ? l->n : 0;
    if (err == SL_OK)
        l->shards = NULL;
    l->cb(l->opaque, err, msg, &shards, n);
    kin_shard_list_free(shards, n);
    list_free(l);
}

static void list_result(void *opaque, const sl_aws_result_t *res) {
    list_ctx_t *l = opaque;
    char errstr[512], msg[768];
    const json_t *arr, *tok;
    const char *token = NULL;
    size_t n;

    if (res->err != SL_OK) {
        if (res->type && !strcmp(res->type, "ExpiredNextTokenException") && !l->restarted) {
            /* the listing took too long between pages: start over, once */
            sl_log(SL_LOG_WARN, "kinesis", "ListShards %s: %s; listing again from the start",
                   list_what(l), res->type);
            l->restarted = 1;
            kin_shard_list_free(l->shards, l->n);
            l->shards = NULL;
            l->n = l->cap = 0;
            if (list_request(l, NULL) == SL_OK)
                return;
        }
        list_unlink(l);
        snprintf(msg, sizeof(msg), "%s %s: %s%s%s", list_call(l), list_what(l),
                 res->type ? res->type : sl_err_str(res->err),
                 res->message && *res->message ? ": " : "", res->message ? res->message : "");
        list_done(l, res->err, msg);
        return;
    }
    {
        const json_t *root = res->result;
        if (l->ddb && !json_is_object(root = json_object_get(res->result, "StreamDescription"))) {
            snprintf(errstr, sizeof(errstr), "StreamDescription: %s",
                     root ? "expected an object" : "missing");
            goto bad;
        }
        arr = json_object_get(root, "Shards");
        tok = json_object_get(root, l->ddb ? "LastEvaluatedShardId" : "NextToken");
    }
    if (!json_is_array(arr)) {
        snprintf(errstr, sizeof(errstr), "Shards: %s", arr ? "expected an array" : "missing");
        goto bad;
    }
    n = json_array_size(arr);
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap : 16;
        kin_shard_info_t *v;
        while (cap < l->n + n)
            cap *= 2;
        if (!(v = realloc(l->shards, cap * sizeof(*v)))) {
            snprintf(errstr, sizeof(errstr), "out of memory");
            goto bad;
        }
        l->shards = v;
        l->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_shard(json_array_get(arr, i), i, l->ddb, &l->shards[l->n], errstr,
                        sizeof(errstr)) < 0) {
            kin_shard_info_free(&l->shards[l->n]);
            goto bad;
        }
        l->n++;
    }
    l->pages++;
    if (tok && !json_is_null(tok)) {
        if (!json_is_string(tok) || !*json_string_value(tok)) {
            snprintf(errstr, sizeof(errstr), "%s: expected a non-empty string",
                     l->ddb ? "LastEvaluatedShardId" : "NextToken");
            goto bad;
        }
        token = json_string_value(tok);
    }
    if (token) {
        if (list_request(l, token) == SL_OK)
            return;
        snprintf(errstr, sizeof(errstr), "out of memory");
        list_unlink(l);
        snprintf(msg, sizeof(msg), "%s %s: %s", list_call(l), list_what(l), errstr);
        list_done(l, SL_ERR_NOMEM, msg);
        return;
    }
    list_unlink(l);
    sl_log_debug("kinesis", "%s %s: %zu shard(s) in %d page(s)", list_call(l), list_what(l),
                 l->n, l->pages);
    list_done(l, SL_OK, NULL);
    return;
bad:
    list_unlink(l);
    snprintf(msg, sizeof(msg), "%s %s: malformed answer: %s", list_call(l), list_what(l),
             errstr);
    list_done(l, SL_ERR_INVAL, msg);
}

static sl_err_t list_start(sl_aws_client_t *c, int ddb, const char *stream, const char *arn,
                           const char *filter_type, int64_t ts_ms,
                           const sl_retry_policy_t *retry, kin_list_cb cb, void *opaque) {
    list_ctx_t *l;
    sl_err_t err;
    if ((!stream || !*stream) && (!arn || !*arn))
        return SL_ERR_INVAL;
    if (!(l = calloc(1, sizeof(*l))))
        return SL_ERR_NOMEM;
    l->ddb = ddb;
    l->c = c;
    l->cb = cb;
    l->opaque = opaque;
    l->ts_ms = ts_ms;
    if (retry)
        l->retry = *retry;
    else
        l->retry = (sl_retry_policy_t){500, 5000, 2.0, 10, 0};
    if ((arn && *arn && !(l->arn = sl_strdup(arn))) ||
        (stream && *stream && !(l->stream = sl_strdup(stream))) ||
        (filter_type && *filter_type && !(l->filter_type = sl_strdup(filter_type)))) {
        list_free(l);
        return SL_ERR_NOMEM;
    }
    pthread_mutex_lock(&lists_lock);
    l->next = lists;
    lists = l;
    pthread_mutex_unlock(&lists_lock);
    if ((err = list_request(l, NULL)) != SL_OK) {
        list_unlink(l);
        list_free(l);
    }
    return err;
}

sl_err_t kin_list_shards(sl_aws_client_t *c, const char *stream, const char *arn,
                         const char *filter_type, int64_t ts_ms, const sl_retry_policy_t *retry,
                         kin_list_cb cb, void *opaque) {
    return list_start(c, 0, stream, arn, filter_type, ts_ms, retry, cb, opaque);
}

sl_err_t kin_ddb_list_shards(sl_aws_client_t *c, const char *arn, const sl_retry_policy_t *retry,
                             kin_list_cb cb, void *opaque) {
    if (!arn || !*arn)
        return SL_ERR_INVAL;
    return list_start(c, 1, NULL, arn, NULL, 0, retry, cb, opaque);
}

void kin_list_shards_cancel(sl_aws_client_t *c, void *opaque) {
    list_ctx_t *found = NULL;
    pthread_mutex_lock(&lists_lock);
    for (list_ctx_t **pp = &lists; *pp;) {
        list_ctx_t *l = *pp;
        if (l->c == c && l->opaque == opaque) {
            *pp = l->next;
            l->next = found;
            found = l;
        } else {
            pp = &l->next;
        }
    }
    pthread_mutex_unlock(&lists_lock);
    while (found) {
        list_ctx_t *l = found;
        found = l->next;
        sl_aws_cancel(c, l);
        list_free(l);
    }
}

/* ---- GetRecords --------------------------------------------------------------------------- */

void kin_records_free(kin_records_t *r) {
    if (!r)
        return;
    free(r->recs);
    sl_buf_unref(r->buf);
    free(r->next_iterator);
    kin_shard_list_free(r->children, r->n_children);
    free(r->strings);
    memset(r, 0, sizeof(*r));
}

static int parse_child(const json_t *o, size_t idx, kin_shard_info_t *si, char *errstr,
                       size_t errlen) {
    char where[96];
    const json_t *parents;
    size_t np;
    memset(si, 0, sizeof(*si));
    snprintf(where, sizeof(where), "ChildShards[%zu]", idx);
    if (!json_is_object(o)) {
        sl_errf(errstr, errlen, "%s: expected an object", where);
        return -1;
    }
    if (get_id(o, "ShardId", 1, &si->id, where, errstr, errlen) < 0)
        return -1;
    snprintf(where, sizeof(where), "ChildShards[%zu] (%.48s)", idx, si->id);
    parents = json_object_get(o, "ParentShards");
    if (!json_is_array(parents)) {
        sl_errf(errstr, errlen, "%s.ParentShards: %s", where,
                parents ? "expected an array" : "missing");
        return -1;
    }
    np = json_array_size(parents);
    if (np > 2) {
        sl_errf(errstr, errlen, "%s.ParentShards: %zu parents (at most 2)", where, np);
        return -1;
    }
    for (size_t i = 0; i < np; i++) {
        const json_t *p = json_array_get(parents, i);
        char **dst = i == 0 ? &si->parent : &si->adjacent_parent;
        if (!json_is_string(p) || !json_string_length(p)) {
            sl_errf(errstr, errlen, "%s.ParentShards[%zu]: expected a shard id", where, i);
            return -1;
        }
        if (!(*dst = sl_strdup(json_string_value(p)))) {
            sl_errf(errstr, errlen, "out of memory");
            return -1;
        }
    }
    return get_hash_range(o, si, where, errstr, errlen);
}

static const char enc_kms[] = "KMS";

/* Whole epoch seconds to ms. A value no clock produces wraps instead of overflowing (undefined
 * behaviour); both parsers give the same answer for it. */
static int64_t int_sec_to_ms(int64_t sec) {
    return (int64_t)((uint64_t)sec * 1000u);
}

/* Per-record scratch between the two passes. */
typedef struct rec_scratch {
    const char *data;
    size_t data_len;
    size_t seq_len;
} rec_scratch_t;

sl_err_t kin_parse_get_records(const json_t *res, kin_records_t *out, char *errstr,
                               size_t errlen) {
    const json_t *recs, *v;
    rec_scratch_t *scr = NULL;
    size_t n, data_total = 0, str_total = 0, doff = 0, soff = 0;
    uint8_t *data = NULL;
    char where[48];
    sl_err_t err = SL_ERR_INVAL;

    memset(out, 0, sizeof(*out));
    out->millis_behind = -1;
    if (!json_is_object(res)) {
        sl_errf(errstr, errlen, "the answer is not a JSON object");
        return SL_ERR_INVAL;
    }
    recs = json_object_get(res, "Records");
    if (!json_is_array(recs)) {
        sl_errf(errstr, errlen, "Records: %s", recs ? "expected an array" : "missing");
        return SL_ERR_INVAL;
    }
    n = json_array_size(recs);
    if (n) {
        if (!(out->recs = malloc(n * sizeof(*out->recs))) || !(scr = malloc(n * sizeof(*scr))))
            goto oom;
    }
    /* pass 1: shapes and sizes; the record fields point into the JSON for now */
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(recs, i);
        kin_record_t *kr = &out->recs[i];
        const char *enc;
        size_t dlen, elen;
        snprintf(where, sizeof(where), "Records[%zu]", i);
        if (!json_is_object(r)) {
            sl_errf(errstr, errlen, "%s: expected an object", where);
            goto fail;
        }
        if (get_str(r, "SequenceNumber", 1, &kr->seq, &scr[i].seq_len, where, errstr, errlen) <
                0 ||
            get_str(r, "PartitionKey", 1, &kr->pk, &kr->pklen, where, errstr, errlen) < 0 ||
            get_str(r, "Data", 1, &scr[i].data, &scr[i].data_len, where, errstr, errlen) < 0)
            goto fail;
        if (!kin_all_digits(kr->seq, scr[i].seq_len)) {
            sl_errf(errstr, errlen, "%s.SequenceNumber: '%.40s' is not a decimal number", where,
                    kr->seq);
            goto fail;
        }
        if ((dlen = (size_t)util_b64_decoded_len(scr[i].data, scr[i].data_len)) == (size_t)-1) {
            sl_errf(errstr, errlen, "%s.Data: not valid base64 (length %zu)", where,
                    scr[i].data_len);
            goto fail;
        }
        kr->len = dlen;
        data_total += dlen;
        v = json_object_get(r, "ApproximateArrivalTimestamp");
        if (!v || json_is_null(v)) {
            sl_errf(errstr, errlen, "%s.ApproximateArrivalTimestamp: missing", where);
            goto fail;
        }
        if (!json_is_number(v)) {
            sl_errf(errstr, errlen, "%s.ApproximateArrivalTimestamp: expected a number", where);
            goto fail;
        }
        kr->arrival_ms = json_is_integer(v) ? int_sec_to_ms((int64_t)json_integer_value(v))
                                            : (int64_t)llround(json_real_value(v) * 1000.0);
        kr->encryption = NULL;
        kr->event_name = NULL;
        switch (get_str(r, "EncryptionType", 0, &enc, &elen, where, errstr, errlen)) {
        case -1:
            goto fail;
        case 1:
            /* the usual values need no storage; NONE means no header at all */
            if (!strcmp(enc, enc_kms))
                kr->encryption = enc_kms;
            else if (strcmp(enc, "NONE") != 0) {
                kr->encryption = enc;
                str_total += elen + 1;
            }
            break;
        default:
            break;
        }
        str_total += scr[i].seq_len + 1 + kr->pklen + 1;
    }
    v = json_object_get(res, "NextShardIterator");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || !json_string_length(v)) {
            sl_errf(errstr, errlen, "NextShardIterator: expected a non-empty string");
            goto fail;
        }
        if (!(out->next_iterator = sl_strdup(json_string_value(v))))
            goto oom;
    }
    v = json_object_get(res, "MillisBehindLatest");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            sl_errf(errstr, errlen, "MillisBehindLatest: expected a non-negative integer");
            goto fail;
        }
        out->millis_behind = (int64_t)json_integer_value(v);
    }
    v = json_object_get(res, "ChildShards");
    if (v && !json_is_null(v)) {
        size_t nc;
        if (!json_is_array(v)) {
            sl_errf(errstr, errlen, "ChildShards: expected an array");
            goto fail;
        }
        nc = json_array_size(v);
        if (nc) {
            if (!(out->children = calloc(nc, sizeof(*out->children))))
                goto oom;
            for (size_t i = 0; i < nc; i++) {
                out->n_children = i + 1;
                if (parse_child(json_array_get(v, i), i, &out->children[i], errstr, errlen) < 0)
                    goto fail;
            }
        }
    }
    /* pass 2: one data buffer, one strings arena */
    if (n) {
        if (!(out->buf = sl_buf_new(NULL, data_total)) || !(out->strings = malloc(str_total)))
            goto oom;
        data = sl_buf_mutable(out->buf);
    }
    for (size_t i = 0; i < n; i++) {
        kin_record_t *kr = &out->recs[i];
        if (util_b64_decode(scr[i].data, scr[i].data_len, data + doff, data_total - doff, 0) !=
            (ssize_t)kr->len) {
            sl_errf(errstr, errlen, "Records[%zu].Data: not valid base64", i);
            goto fail;
        }
        kr->off = doff;
        doff += kr->len;
        memcpy(out->strings + soff, kr->seq, scr[i].seq_len + 1);
        kr->seq = out->strings + soff;
        soff += scr[i].seq_len + 1;
        memcpy(out->strings + soff, kr->pk, kr->pklen + 1);
        kr->pk = out->strings + soff;
        soff += kr->pklen + 1;
        if (kr->encryption && kr->encryption != enc_kms) {
            size_t el = strlen(kr->encryption);
            memcpy(out->strings + soff, kr->encryption, el + 1);
            kr->encryption = out->strings + soff;
            soff += el + 1;
        }
    }
    out->n = n;
    free(scr);
    return SL_OK;
oom:
    sl_errf(errstr, errlen, "out of memory");
    err = SL_ERR_NOMEM;
fail:
    free(scr);
    /* the records' pointers may still point into the JSON: drop them before freeing */
    out->n = 0;
    kin_records_free(out);
    out->millis_behind = -1;
    return err;
}

/* ---- GetRecords: the scanner -------------------------------------------------------------- */

/* kin_scan_get_records() reads the answer's bytes without building a document: a first pass
 * checks the JSON exactly as jansson's json_loadb() would (the same grammar, UTF-8 and escape
 * rules, integer range, real overflow and nesting limit) while noting where each field of
 * interest is (the last one wins for a repeated key, as in jansson); a second pass applies
 * kin_parse_get_records()'s checks in its order, with its messages, and fills the same
 * structures from those places. Strings without escapes are used where they lie; the few with
 * escapes are decoded once into one scratch block. ChildShards, present only on a closed
 * shard's last answer, is handed to the reference parser's parse_child() through jansson. */

#ifdef JSON_PARSER_MAX_DEPTH
#define SCAN_MAX_DEPTH JSON_PARSER_MAX_DEPTH
#else
#define SCAN_MAX_DEPTH 2048
#endif

#if JSON_INTEGER_IS_LONG_LONG
#define SCAN_INT_MAX ((uint64_t)LLONG_MAX)
#else
#define SCAN_INT_MAX ((uint64_t)LONG_MAX)
#endif

enum { JV_ABSENT = 0, JV_NULL, JV_BOOL, JV_STR, JV_INT, JV_REAL, JV_ARRAY, JV_OBJECT };

/* One value as the first pass saw it. */
typedef struct jv {
    const char *p; /* JV_STR: the text after the opening quote; containers: the first byte */
    size_t len;    /* JV_STR: the decoded length; containers: the text's length */
    int64_t i;     /* JV_INT */
    double d;      /* JV_REAL */
    uint8_t kind;
    uint8_t esc;   /* JV_STR with escapes: p is raw text to decode up to its closing quote */
} jv_t;

/* A string field of a record: a jv_t without the numbers. */
typedef struct sv {
    const char *p;
    size_t len;
    uint8_t kind, esc;
} sv_t;

typedef struct scan_rec {
    sv_t seq, pk, data, enc;
    int64_t ts_ms;
    uint8_t ts_kind;
    uint8_t is_obj;
} scan_rec_t;

typedef struct scan {
    const char *p, *end, *start;
    char dp;                  /* the locale's decimal point (strtod reads it, not '.') */
    const char *err_at;       /* malformed JSON: where and why */
    const char *err_why;
    int oom;
    /* what the first pass found */
    int top_array;            /* the answer is an array, not an object */
    uint8_t records_kind;
    scan_rec_t *recs;
    size_t n, cap;
    size_t nesc;              /* decoded bytes of the escaped record strings (an upper bound) */
    jv_t next, millis, child;
} scan_t;

static int syntax(scan_t *sc, const char *at, const char *why) {
    sc->err_at = at;
    sc->err_why = why;
    return -1;
}

static void skip_ws(scan_t *sc) {
    const char *p = sc->p, *end = sc->end;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    sc->p = p;
}

/* Skips whitespace; fails at the end of the input, where more was expected. */
static int skip_ws_more(scan_t *sc) {
    skip_ws(sc);
    return sc->p < sc->end ? 0 : syntax(sc, sc->end, "unexpected end of input");
}

/* Bytes a string's fast loop stops at: 1 '"', 2 '\\', 3 a control character, 4 not ASCII. */
static const uint8_t str_stop[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Whether any of the 8 bytes in v is one str_stop[] names (a borrow may flag a byte next to a
 * real one, never a word without one). */
static int word_has_stop(uint64_t v) {
    uint64_t q = v ^ (ONES * '"'), b = v ^ (ONES * '\\');
    return ((((v - ONES * 0x20) & ~v) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | v) & HIGHS) != 0;
}

/* The 4 hex digits at s (end bounds them), or -1. */
static int32_t hex4(const unsigned char *s, const unsigned char *end) {
    int32_t v = 0;
    if (end - s < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = sl_hexval(s[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* The length of the valid UTF-8 sequence at p (jansson's rules: no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    uint32_t v;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, v = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

/* The string at sc->p (its opening quote): checks it and fills v (JV_STR, decoded length). */
static int scan_string(scan_t *sc, jv_t *v) {
    const unsigned char *p = (const unsigned char *)sc->p + 1;
    const unsigned char *end = (const unsigned char *)sc->end, *start = p;
    size_t shrink = 0; /* raw bytes the escapes take beyond what they decode to */
    int esc = 0;
    for (;;) {
        uint64_t w;
        while (end - p >= 8) {
            memcpy(&w, p, 8);
            if (word_has_stop(w))
                break;
            p += 8;
        }
        while (p < end && !str_stop[*p])
            p++;
        if (p >= end)
            return syntax(sc, (const char *)start - 1, "unterminated string");
        switch (str_stop[*p]) {
        case 1:
            v->kind = JV_STR;
            v->p = (const char *)start;
            v->len = (size_t)(p - start) - shrink;
            v->esc = (uint8_t)esc;
            sc->p = (const char *)p + 1;
            return 0;
        case 2: {
            int32_t u, u2;
            esc = 1;
            if (end - p < 2)
                return syntax(sc, (const char *)p, "unterminated string");
            if (p[1] && strchr("\"\\/bfnrt", p[1])) {
                p += 2;
                shrink += 1;
                break;
            }
            if (p[1] != 'u' || (u = hex4(p + 2, end)) < 0)
                return syntax(sc, (const char *)p, "invalid escape");
            if (u == 0)
                return syntax(sc, (const char *)p, "\\u0000 in a string");
            if (u >= 0xdc00 && u <= 0xdfff)
                return syntax(sc, (const char *)p, "lone UTF-16 surrogate");
            if (u >= 0xd800 && u <= 0xdbff) {
                if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
                    (u2 = hex4(p + 8, end)) < 0xdc00 || u2 > 0xdfff)
                    return syntax(sc, (const char *)p, "lone UTF-16 surrogate");
                p += 12;
                shrink += 12 - 4;
                break;
            }
            p += 6;
            shrink += 6 - (u < 0x80 ? 1 : u < 0x800 ? 2 : 3);
            break;
        }
        case 3:
            return syntax(sc, (const char *)p, "control character in a string");
        default: {
            size_t n = utf8_seq(p, end);
            if (!n)
                return syntax(sc, (const char *)p, "invalid UTF-8");
            p += n;
            break;
        }
        }
    }
}

static char *utf8_put(char *out, uint32_t u) {
    if (u < 0x80) {
        *out++ = (char)u;
    } else if (u < 0x800) {
        *out++ = (char)(0xc0 | u >> 6);
        *out++ = (char)(0x80 | (u & 0x3f));
    } else if (u < 0x10000) {
        *out++ = (char)(0xe0 | u >> 12);
        *out++ = (char)(0x80 | (u >> 6 & 0x3f));
        *out++ = (char)(0x80 | (u & 0x3f));
    } else {
        *out++ = (char)(0xf0 | u >> 18);
        *out++ = (char)(0x80 | (u >> 12 & 0x3f));
        *out++ = (char)(0x80 | (u >> 6 & 0x3f));
        *out++ = (char)(0x80 | (u & 0x3f));
    }
    return out;
}

/* Decodes the string text at s, checked by scan_string(), into out up to its closing quote.
 * Returns the end of what was written. */
static char *unescape(const char *s, char *out) {
    const unsigned char *p = (const unsigned char *)s;
    for (;;) {
        unsigned char c = *p;
        if (c == '"')
            return out;
        if (c != '\\') {
            *out++ = (char)c;
            p++;
            continue;
        }
        c = p[1];
        p += 2;
        switch (c) {
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 'u': {
            uint32_t u = (uint32_t)hex4(p, p + 4);
            p += 4;
            if (u >= 0xd800 && u <= 0xdbff) {
                u = 0x10000 + ((u - 0xd800) << 10) + ((uint32_t)hex4(p + 2, p + 6) - 0xdc00);
                p += 6;
            }
            out = utf8_put(out, u);
            break;
        }
        default: *out++ = (char)c; break; /* " \ / */
        }
    }
}

/* jansson drops a NUL byte that directly follows a number or a literal (its lexer puts the
 * byte back, then reads the NUL as "nothing buffered"): so must we, to accept what it accepts. */
static void after_token(scan_t *sc) {
    if (sc->p < sc->end && *sc->p == '\0')
        sc->p++;
}

/* The value of the JSON real s[0..end) when Clinger's fast path applies: at most 15
 * significant digits (exact in a double) scaled by 10^-22..10^22 (exact too), so one IEEE
 * multiplication or division rounds it exactly as strtod() does. -1 when it does not apply. */
static int real_fast(const char *s, const char *end, double *out) {
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *q = s;
    uint64_t m = 0;
    int nd = 0, e = 0, neg = *q == '-';
    double d;
    q += neg;
    for (int frac = 0;; q++) {
        if (q < end && *q == '.' && !frac) {
            frac = 1;
            continue;
        }
        if (q >= end || *q < '0' || *q > '9')
            break;
        if ((m || *q != '0') && ++nd > 15)
            return -1;
        m = m * 10 + (uint64_t)(*q - '0');
        e -= frac;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        int sign = 1, x = 0;
        q++;
        if (*q == '+' || *q == '-')
            sign = *q++ == '-' ? -1 : 1;
        for (; q < end; q++)
            if (x < 1000)
                x = x * 10 + (*q - '0');
        e += sign * x;
    }
    if (!m) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    if (e < -22 || e > 22)
        return -1;
    d = e < 0 ? (double)m / pow10[-e] : (double)m * pow10[e];
    *out = neg ? -d : d;
    return 0;
#else
    (void)s, (void)end, (void)out;
    return -1;
#endif
}

/* The number at sc->p, as jansson reads it: JV_INT within json_int_t (beyond it jansson fails),
 * else JV_REAL with strtod()'s value (an overflow to infinity fails). */
static int scan_number(scan_t *sc, jv_t *v) {
    const char *p = sc->p, *end = sc->end, *s = p;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return syntax(sc, s, "invalid number (leading zero)");
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return syntax(sc, s, "invalid number");
    }
    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        uint64_t u = 0, lim = neg ? SCAN_INT_MAX + 1 : SCAN_INT_MAX;
        for (const char *q = s + neg; q < p; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (u > (lim - d) / 10)
                return syntax(sc, s, "integer out of range");
            u = u * 10 + d;
        }
        v->kind = JV_INT;
        v->i = neg ? (int64_t)(0 - u) : (int64_t)u;
        sc->p = p;
        after_token(sc);
        return 0;
    }
    if (*p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return syntax(sc, s, "invalid number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return syntax(sc, s, "invalid number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    /* A number never ends the input (the answer is an object), so strtod() stops at p without
     * reading past it. */
    if (p >= end)
        return syntax(sc, end, "unexpected end of input");
    if (real_fast(s, p, &v->d) < 0) {
        char small[64], *copy = small, *stop;
        size_t n = (size_t)(p - s);
        if (sc->dp == '.') {
            v->d = strtod(s, &stop);
            if (stop != p)
                return syntax(sc, s, "invalid number");
        } else {
            /* as jansson: the locale's decimal point where JSON has '.' */
            if (n >= sizeof(small) && !(copy = malloc(n + 1))) {
                sc->oom = 1;
                return -1;
            }
            memcpy(copy, s, n);
            copy[n] = '\0';
            char *dot = memchr(copy, '.', n);
            if (dot)
                *dot = sc->dp;
            v->d = strtod(copy, &stop);
            int bad = stop != copy + n;
            if (copy != small)
                free(copy);
            if (bad)
                return syntax(sc, s, "invalid number");
        }
    }
    if (isinf(v->d))
        return syntax(sc, s, "real number overflow");
    v->kind = JV_REAL;
    sc->p = p;
    after_token(sc);
    return 0;
}

/* true, false or null at sc->p. */
static int scan_literal(scan_t *sc, jv_t *v) {
    static const struct {
        const char *text;
        size_t len;
        uint8_t kind;
    } lits[] = {{"true", 4, JV_BOOL}, {"false", 5, JV_BOOL}, {"null", 4, JV_NULL}};
    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++)
        if ((size_t)(sc->end - sc->p) >= lits[i].len &&
            !memcmp(sc->p, lits[i].text, lits[i].len)) {
            v->kind = lits[i].kind;
            sc->p += lits[i].len;
            after_token(sc);
            return 0;
        }
    return syntax(sc, sc->p, "invalid token");
}

/* A string, number or literal at sc->p (not at the end). */
static int scan_scalar(scan_t *sc, jv_t *v) {
    char c = *sc->p;
    if (c == '"')
        return scan_string(sc, v);
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(sc, v);
    if (c == 't' || c == 'f' || c == 'n')
        return scan_literal(sc, v);
    return syntax(sc, sc->p, "invalid token");
}

/* An object member's key at sc->p, then the ':' and the whitespace up to the value. */
static int scan_key(scan_t *sc, jv_t *key) {
    if (*sc->p != '"')
        return syntax(sc, sc->p, "string or '}' expected");
    if (scan_string(sc, key) < 0 || skip_ws_more(sc) < 0)
        return -1;
    if (*sc->p != ':')
        return syntax(sc, sc->p, "':' expected");
    sc->p++;
    return skip_ws_more(sc);
}

/* Checks and skips the object or array at sc->p, itself at nesting depth (the answer is 1),
 * without recursion: one bit per open container says object or array. */
static int skip_container(scan_t *sc, int depth) {
    uint8_t objs[SCAN_MAX_DEPTH / 8 + 1];
    int top = 0; /* open containers */
    jv_t tmp;
    for (;;) {
        /* a value at depth + top starts at sc->p */
        if (depth + top > SCAN_MAX_DEPTH)
            return syntax(sc, sc->p, "nested too deeply");
        if (*sc->p == '{' || *sc->p == '[') {
            int obj = *sc->p == '{';
            sc->p++;
            if (skip_ws_more(sc) < 0)
                return -1;
            if (*sc->p != (obj ? '}' : ']')) {
                if (obj)
                    objs[top / 8] |= (uint8_t)(1u << (top % 8));
                else
                    objs[top / 8] &= (uint8_t)~(1u << (top % 8));
                top++;
                if (obj && scan_key(sc, &tmp) < 0)
                    return -1;
                continue;
            }
            sc->p++; /* empty */
        } else if (scan_scalar(sc, &tmp) < 0) {
            return -1;
        }
        /* after a value: close what ends here */
        for (;;) {
            int obj;
            if (!top)
                return 0;
            obj = objs[(top - 1) / 8] >> ((top - 1) % 8) & 1;
            if (skip_ws_more(sc) < 0)
                return -1;
            if (*sc->p == ',') {
                sc->p++;
                if (skip_ws_more(sc) < 0 || (obj && scan_key(sc, &tmp) < 0))
                    return -1;
                break;
            }
            if (*sc->p != (obj ? '}' : ']'))
                return syntax(sc, sc->p, obj ? "',' or '}' expected" : "',' or ']' expected");
            sc->p++;
            top--;
        }
    }
}

/* Any value at sc->p (not at the end) at nesting depth: scalars into v, containers skipped. */
static int scan_value(scan_t *sc, int depth, jv_t *v) {
    if (*sc->p == '{' || *sc->p == '[') {
        const char *s = sc->p;
        v->kind = *s == '{' ? JV_OBJECT : JV_ARRAY;
        if (skip_container(sc, depth) < 0)
            return -1;
        v->p = s;
        v->len = (size_t)(sc->p - s);
        return 0;
    }
    return scan_scalar(sc, v);
}

/* After an object member or array element: 1 when another follows (sc->p at it), 0 at the
 * closing bracket (consumed), -1 on anything else. */
static int scan_next(scan_t *sc, char close) {
    if (skip_ws_more(sc) < 0)
        return -1;
    if (*sc->p == ',') {
        sc->p++;
        return skip_ws_more(sc) < 0 ? -1 : 1;
    }
    if (*sc->p == close) {
        sc->p++;
        return 0;
    }
    return syntax(sc, sc->p, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
}

typedef struct key_name {
    const char *name;
    size_t len;
} key_name_t;

#define KEY(s) {s, sizeof(s) - 1}

/* Which known key k is: its index in names (as decoded), or -1. */
static int key_index(const jv_t *k, const key_name_t *names, int n) {
    char buf[32];
    const char *s = k->p;
    if (k->len >= sizeof(buf))
        return -1;
    if (k->esc)
        s = buf, unescape(k->p, buf);
    for (int i = 0; i < n; i++)
        if (names[i].len == k->len && !memcmp(names[i].name, s, k->len))
            return i;
    return -1;
}

static void sv_set(sv_t *dst, const jv_t *v, size_t *nesc) {
    dst->kind = v->kind;
    dst->esc = v->kind == JV_STR && v->esc;
    dst->p = v->p;
    dst->len = v->kind == JV_STR ? v->len : 0;
    if (dst->esc)
        *nesc += v->len;
}

/* One element of Records (at depth 3) into r. */
static int scan_record(scan_t *sc, scan_rec_t *r) {
    static const key_name_t names[] = {KEY("SequenceNumber"), KEY("PartitionKey"), KEY("Data"),
                                       KEY("EncryptionType"), KEY("ApproximateArrivalTimestamp")};
    jv_t k, v;
    int more;
    memset(r, 0, sizeof(*r));
    if (*sc->p != '{') {
        r->is_obj = 0;
        return scan_value(sc, 3, &v);
    }
    r->is_obj = 1;
    sc->p++;
    if (skip_ws_more(sc) < 0)
        return -1;
    if (*sc->p == '}') {
        sc->p++;
        return 0;
    }
    do {
        int idx;
        if (scan_key(sc, &k) < 0 || scan_value(sc, 4, &v) < 0)
            return -1;
        switch ((idx = key_index(&k, names, 5))) {
        case 0: sv_set(&r->seq, &v, &sc->nesc); break;
        case 1: sv_set(&r->pk, &v, &sc->nesc); break;
        case 2: sv_set(&r->data, &v, &sc->nesc); break;
        case 3: sv_set(&r->enc, &v, &sc->nesc); break;
        case 4:
            r->ts_kind = v.kind;
            r->ts_ms = v.kind == JV_INT    ? int_sec_to_ms(v.i)
                       : v.kind == JV_REAL ? (int64_t)llround(v.d * 1000.0)
                                           : 0;
            break;
        default: break;
        }
    } while ((more = scan_next(sc, '}')) > 0);
    return more;
}

/* The Records array at sc->p ('['); a repeated Records replaces what an earlier one held. */
static int scan_records(scan_t *sc) {
    int more;
    sc->records_kind = JV_ARRAY;
    sc->n = 0;
    sc->nesc = 0;
    sc->p++;
    if (skip_ws_more(sc) < 0)
        return -1;
    if (*sc->p == ']') {
        sc->p++;
        return 0;
    }
    do {
        if (sc->n == sc->cap) {
            /* room for about the records the rest of the answer can hold */
            size_t cap = sc->cap ? sc->cap * 2 : 16 + (size_t)(sc->end - sc->p) / 256;
            scan_rec_t *v = realloc(sc->recs, cap * sizeof(*v));
            if (!v) {
                sc->oom = 1;
                return -1;
            }
            sc->recs = v;
            sc->cap = cap;
        }
        if (scan_record(sc, &sc->recs[sc->n++]) < 0)
            return -1;
    } while ((more = scan_next(sc, ']')) > 0);
    return more;
}

/* The first pass over the whole answer. */
static int scan_answer(scan_t *sc) {
    static const key_name_t names[] = {KEY("Records"), KEY("NextShardIterator"),
                                       KEY("MillisBehindLatest"), KEY("ChildShards")};
    jv_t k, v;
    int more;
    if (skip_ws_more(sc) < 0)
        return syntax(sc, sc->p, "'[' or '{' expected");
    if (*sc->p == '[') {
        sc->top_array = 1;
        if (skip_container(sc, 1) < 0)
            return -1;
    } else if (*sc->p != '{') {
        return syntax(sc, sc->p, "'[' or '{' expected");
    } else {
        sc->p++;
        if (skip_ws_more(sc) < 0)
            return -1;
        if (*sc->p == '}') {
            sc->p++;
        } else {
            do {
                if (scan_key(sc, &k) < 0)
                    return -1;
                switch (key_index(&k, names, 4)) {
                case 0:
                    if (*sc->p == '[') {
                        if (scan_records(sc) < 0)
                            return -1;
                    } else {
                        if (scan_value(sc, 2, &v) < 0)
                            return -1;
                        sc->records_kind = v.kind;
                    }
                    break;
                case 1:
                    if (scan_value(sc, 2, &sc->next) < 0)
                        return -1;
                    break;
                case 2:
                    if (scan_value(sc, 2, &sc->millis) < 0)
                        return -1;
                    break;
                case 3:
                    if (scan_value(sc, 2, &sc->child) < 0)
                        return -1;
                    break;
                default:
                    if (scan_value(sc, 2, &v) < 0)
                        return -1;
                    break;
                }
            } while ((more = scan_next(sc, '}')) > 0);
            if (more < 0)
                return -1;
        }
    }
    skip_ws(sc);
    if (sc->p != sc->end)
        return syntax(sc, sc->p, "end of input expected");
    return 0;
}

/* A required string field of record i: 0, or -1 with the reference parser's message. */
static int need_str(const sv_t *v, size_t i, const char *key, char *errstr, size_t errlen) {
    if (v->kind == JV_ABSENT || v->kind == JV_NULL) {
        sl_errf(errstr, errlen, "Records[%zu].%s: missing", i, key);
        return -1;
    }
    if (v->kind != JV_STR) {
        sl_errf(errstr, errlen, "Records[%zu].%s: expected a string", i, key);
        return -1;
    }
    return 0;
}

/* Decodes an escaped string field into *arena and points it there. */
static void sv_unescape(sv_t *v, char **arena) {
    if (!v->esc)
        return;
    char *dst = *arena;
    *arena = unescape(v->p, dst);
    v->p = dst;
    v->esc = 0;
}

sl_err_t kin_scan_get_records(const char *body, size_t len, kin_records_t *out, char *errstr,
                              size_t errlen) {
    scan_t sc;
    size_t n, data_total = 0, str_total = 0, doff = 0, soff = 0;
    char *unesc = NULL;
    json_t *children = NULL;
    uint8_t *data = NULL;
    sl_err_t err = SL_ERR_INVAL;
    const char *dp = localeconv()->decimal_point;

    memset(out, 0, sizeof(*out));
    out->millis_behind = -1;
    memset(&sc, 0, sizeof(sc));
    sc.p = sc.start = body ? body : "";
    sc.end = sc.p + (body ? len : 0);
    sc.dp = dp && dp[0] ? dp[0] : '.';
    if (scan_answer(&sc) < 0) {
        if (sc.oom)
            goto oom;
        sl_errf(errstr, errlen, "malformed JSON at byte %zu: %s",
                (size_t)(sc.err_at - sc.start), sc.err_why);
        goto fail;
    }
    if (sc.top_array) {
        sl_errf(errstr, errlen, "the answer is not a JSON object");
        goto fail;
    }
    if (sc.records_kind != JV_ARRAY) {
        sl_errf(errstr, errlen, "Records: %s",
                sc.records_kind == JV_ABSENT ? "missing" : "expected an array");
        goto fail;
    }
    n = sc.n;
    if (n && !(out->recs = malloc(n * sizeof(*out->recs))))
        goto oom;
    if (sc.nesc) {
        /* the rare strings with escapes, decoded once (they never grow) */
        char *a = unesc = malloc(sc.nesc);
        if (!a)
            goto oom;
        for (size_t i = 0; i < n; i++) {
            scan_rec_t *r = &sc.recs[i];
            sv_unescape(&r->seq, &a);
            sv_unescape(&r->pk, &a);
            sv_unescape(&r->data, &a);
            sv_unescape(&r->enc, &a);
        }
    }
    /* the reference's pass 1: shapes and sizes, record by record, in its order */
    for (size_t i = 0; i < n; i++) {
        scan_rec_t *r = &sc.recs[i];
        kin_record_t *kr = &out->recs[i];
        if (!r->is_obj) {
            sl_errf(errstr, errlen, "Records[%zu]: expected an object", i);
            goto fail;
        }
        if (need_str(&r->seq, i, "SequenceNumber", errstr, errlen) < 0 ||
            need_str(&r->pk, i, "PartitionKey", errstr, errlen) < 0 ||
            need_str(&r->data, i, "Data", errstr, errlen) < 0)
            goto fail;
        if (!kin_all_digits(r->seq.p, r->seq.len)) {
            sl_errf(errstr, errlen, "Records[%zu].SequenceNumber: '%.*s' is not a decimal number",
                    i, (int)(r->seq.len < 40 ? r->seq.len : 40), r->seq.p);
            goto fail;
        }
        if ((kr->len = (size_t)util_b64_decoded_len(r->data.p, r->data.len)) == (size_t)-1) {
            sl_errf(errstr, errlen, "Records[%zu].Data: not valid base64 (length %zu)", i,
                    r->data.len);
            goto fail;
        }
        data_total += kr->len;
        if (r->ts_kind == JV_ABSENT || r->ts_kind == JV_NULL) {
            sl_errf(errstr, errlen, "Records[%zu].ApproximateArrivalTimestamp: missing", i);
            goto fail;
        }
        if (r->ts_kind != JV_INT && r->ts_kind != JV_REAL) {
            sl_errf(errstr, errlen, "Records[%zu].ApproximateArrivalTimestamp: expected a number",
                    i);
            goto fail;
        }
        kr->arrival_ms = r->ts_ms;
        kr->encryption = NULL;
        kr->event_name = NULL;
        if (r->enc.kind != JV_ABSENT && r->enc.kind != JV_NULL) {
            if (r->enc.kind != JV_STR) {
                sl_errf(errstr, errlen, "Records[%zu].EncryptionType: expected a string", i);
                goto fail;
            }
            /* the usual values need no storage; NONE means no header at all */
            if (r->enc.len == 3 && !memcmp(r->enc.p, enc_kms, 3))
                kr->encryption = enc_kms;
            else if (!(r->enc.len == 4 && !memcmp(r->enc.p, "NONE", 4)))
                str_total += r->enc.len + 1;
            else
                r->enc.kind = JV_NULL;
        }
        str_total += r->seq.len + 1 + r->pk.len + 1;
    }
    if (sc.next.kind != JV_ABSENT && sc.next.kind != JV_NULL) {
        if (sc.next.kind != JV_STR || !sc.next.len) {
            sl_errf(errstr, errlen, "NextShardIterator: expected a non-empty string");
            goto fail;
        }
        if (!(out->next_iterator = malloc(sc.next.len + 1)))
            goto oom;
        if (sc.next.esc)
            unescape(sc.next.p, out->next_iterator);
        else
            memcpy(out->next_iterator, sc.next.p, sc.next.len);
        out->next_iterator[sc.next.len] = '\0';
    }
    if (sc.millis.kind != JV_ABSENT && sc.millis.kind != JV_NULL) {
        if (sc.millis.kind != JV_INT || sc.millis.i < 0) {
            sl_errf(errstr, errlen, "MillisBehindLatest: expected a non-negative integer");
            goto fail;
        }
        out->millis_behind = sc.millis.i;
    }
    if (sc.child.kind != JV_ABSENT && sc.child.kind != JV_NULL) {
        json_error_t jerr;
        size_t nc;
        if (sc.child.kind != JV_ARRAY) {
            sl_errf(errstr, errlen, "ChildShards: expected an array");
            goto fail;
        }
        /* checked above exactly as jansson checks it: only memory can fail here */
        if (!(children = json_loadb(sc.child.p, sc.child.len, 0, &jerr))) {
            sl_errf(errstr, errlen, "ChildShards: %s", jerr.text);
            goto fail;
        }
        if ((nc = json_array_size(children))) {
            if (!(out->children = calloc(nc, sizeof(*out->children))))
                goto oom;
            for (size_t i = 0; i < nc; i++) {
                out->n_children = i + 1;
                if (parse_child(json_array_get(children, i), i, &out->children[i], errstr,
                                errlen) < 0)
                    goto fail;
            }
        }
        json_decref(children);
        children = NULL;
    }
    /* pass 2: one data buffer, one strings arena */
    if (n) {
        if (!(out->buf = sl_buf_new(NULL, data_total)) || !(out->strings = malloc(str_total)))
            goto oom;
        data = sl_buf_mutable(out->buf);
    }
    for (size_t i = 0; i < n; i++) {
        scan_rec_t *r = &sc.recs[i];
        kin_record_t *kr = &out->recs[i];
        if (util_b64_decode(r->data.p, r->data.len, data + doff, data_total - doff, 0) !=
            (ssize_t)kr->len) {
            sl_errf(errstr, errlen, "Records[%zu].Data: not valid base64", i);
            goto fail;
        }
        kr->off = doff;
        doff += kr->len;
        memcpy(out->strings + soff, r->seq.p, r->seq.len);
        out->strings[soff + r->seq.len] = '\0';
        kr->seq = out->strings + soff;
        soff += r->seq.len + 1;
        memcpy(out->strings + soff, r->pk.p, r->pk.len);
        out->strings[soff + r->pk.len] = '\0';
        kr->pk = out->strings + soff;
        kr->pklen = r->pk.len;
        soff += r->pk.len + 1;
        if (r->enc.kind == JV_STR && kr->encryption != enc_kms) {
            memcpy(out->strings + soff, r->enc.p, r->enc.len);
            out->strings[soff + r->enc.len] = '\0';
            kr->encryption = out->strings + soff;
            soff += r->enc.len + 1;
        }
    }
    out->n = n;
    free(sc.recs);
    free(unesc);
    return SL_OK;
oom:
    sl_errf(errstr, errlen, "out of memory");
    err = SL_ERR_NOMEM;
fail:
    json_decref(children);
    free(sc.recs);
    free(unesc);
    out->n = 0;
    kin_records_free(out);
    out->millis_behind = -1;
    return err;
}

/* ---- PutRecords ------------------------------------------------------------------------------ */

/* The PutRecords hot path: a scanner for the answer as Kinesis writes it (an object of
 * FailedRecordCount, Records (objects of plain strings) and EncryptionType, any order, any
 * whitespace). It gives up (returns 1) on anything else, including escapes in the strings it
 * keeps, so the strict jansson reader below decides and words the error. */
typedef struct pr_scan {
    const char *p, *end;
} pr_scan_t;

static void pr_ws(pr_scan_t *sc) {
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\r' || *sc->p == '\t'))
        sc->p++;
}

static int pr_lit(pr_scan_t *sc, char c) {
    pr_ws(sc);
    if (sc->p < sc->end && *sc->p == c) {
        sc->p++;
        return 1;
    }
    return 0;
}

/* A string without escapes: [*s, *s + *n). 0, or -1 (escape, control byte or end). */
static int pr_str(pr_scan_t *sc, const char **s, size_t *n) {
    const char *q;
    if (!pr_lit(sc, '"'))
        return -1;
    if (!(q = memchr(sc->p, '"', (size_t)(sc->end - sc->p))))
        return -1;
    for (const char *c = sc->p; c < q; c++)
        if (*c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c >= 0x80)
            return -1;
    *s = sc->p;
    *n = (size_t)(q - sc->p);
    sc->p = q + 1;
    return 0;
}

static int pr_key(pr_scan_t *sc, const char *k) {
    size_t kl = strlen(k);
    return (size_t)(sc->end - sc->p) > kl + 1 && sc->p[0] == '"' && !memcmp(sc->p + 1, k, kl) &&
           sc->p[kl + 1] == '"';
}

int kin_scan_put_records(const char *body, size_t len, size_t n,
                         char (*codes)[SL_KIN_CODE_MAX], char (*shards)[SL_KIN_SHARD_ID_MAX],
                         size_t *failed) {
    pr_scan_t sc = {body, body + len};
    long long fc = -1;
    size_t nrec = 0, nfailed = 0;
    int have_recs = 0;

    if (!pr_lit(&sc, '{'))
        return 1;
    if (pr_lit(&sc, '}'))
        return 1;
    do {
        pr_ws(&sc);
        if (pr_key(&sc, "FailedRecordCount")) {
            char *e;
            sc.p += 19;
            if (!pr_lit(&sc, ':'))
                return 1;
            pr_ws(&sc);
            /* A small plain integer (no sign, leading zero, fraction or exponent). */
            if (sc.p >= sc.end || *sc.p < '0' || *sc.p > '9' ||
                (*sc.p == '0' && sc.p + 1 < sc.end && sc.p[1] >= '0' && sc.p[1] <= '9'))
                return 1;
            for (e = (char *)sc.p; e < sc.end && *e >= '0' && *e <= '9'; e++)
                ;
            if (e - sc.p > 9 || (e < sc.end && (*e == '.' || *e == 'e' || *e == 'E')))
                return 1;
            fc = 0;
            for (const char *d = sc.p; d < e; d++)
                fc = fc * 10 + (*d - '0');
            sc.p = e;
        } else if (pr_key(&sc, "EncryptionType")) {
            const char *s;
            size_t sl;
            sc.p += 16;
            if (!pr_lit(&sc, ':') || pr_str(&sc, &s, &sl) != 0)
                return 1;
        } else if (pr_key(&sc, "Records")) {
            sc.p += 9;
            if (have_recs || !pr_lit(&sc, ':') || !pr_lit(&sc, '['))
                return 1;
            have_recs = 1;
            if (pr_lit(&sc, ']'))
                goto recs_done;
            do {
                const char *seq = NULL, *sh = NULL, *code = NULL, *s;
                size_t seql = 0, shl = 0, codel = 0, sl;
                if (nrec >= n || !pr_lit(&sc, '{'))
                    return 1;
                if (!pr_lit(&sc, '}')) {
                    do {
                        const char *k;
                        size_t kl;
                        if (pr_str(&sc, &k, &kl) != 0 || !pr_lit(&sc, ':'))
                            return 1;
                        pr_ws(&sc);
                        if (sc.end - sc.p >= 4 && !memcmp(sc.p, "null", 4)) {
                            /* null, as the last of duplicate keys too, means absent */
                            sc.p += 4;
                            if (kl == 14 && !memcmp(k, "SequenceNumber", 14))
                                seq = NULL;
                            else if (kl == 7 && !memcmp(k, "ShardId", 7))
                                sh = NULL;
                            else if (kl == 9 && !memcmp(k, "ErrorCode", 9))
                                code = NULL;
                            else if (!(kl == 12 && !memcmp(k, "ErrorMessage", 12)))
                                return 1;
                            continue;
                        }
                        if (kl == 12 && !memcmp(k, "ErrorMessage", 12)) {
                            /* free text, not kept: plain ASCII is skipped, anything else
                             * (escapes, UTF-8) is left to the strict reader */
                            if (pr_str(&sc, &s, &sl) != 0)
                                return 1;
                            continue;
                        }
                        if (pr_str(&sc, &s, &sl) != 0)
                            return 1;
                        if (kl == 14 && !memcmp(k, "SequenceNumber", 14)) {
                            seq = s;
                            seql = sl;
                        } else if (kl == 7 && !memcmp(k, "ShardId", 7)) {
                            sh = s;
                            shl = sl;
                        } else if (kl == 9 && !memcmp(k, "ErrorCode", 9)) {
                            code = s;
                            codel = sl;
                        } else {
                            return 1;
                        }
                    } while (pr_lit(&sc, ','));
                    if (!pr_lit(&sc, '}'))
                        return 1;
                }
                if (code) {
                    if (!codel || codel >= SL_KIN_CODE_MAX)
                        return 1;
                    memcpy(codes[nrec], code, codel);
                    codes[nrec][codel] = '\0';
                    nfailed++;
                } else {
                    if (!seq || !seql || (shards && (!sh || shl >= SL_KIN_SHARD_ID_MAX)))
                        return 1;
                    codes[nrec][0] = '\0';
                    if (shards) {
                        memcpy(shards[nrec], sh, shl);
                        shards[nrec][shl] = '\0';
                    }
                }
                nrec++;
            } while (pr_lit(&sc, ','));
            if (!pr_lit(&sc, ']'))
                return 1;
        recs_done:;
        } else {
            return 1;
        }
    } while (pr_lit(&sc, ','));
    if (!pr_lit(&sc, '}'))
        return 1;
    pr_ws(&sc);
    if (sc.p != sc.end || !have_recs || nrec != n || (fc >= 0 && (size_t)fc != nfailed))
        return 1;
    *failed = nfailed;
    return 0;
}

sl_err_t kin_parse_put_records(const char *body, size_t len, size_t n,
                               char (*codes)[SL_KIN_CODE_MAX],
                               char (*shards)[SL_KIN_SHARD_ID_MAX], size_t *failed,
                               char *errstr, size_t errlen) {
    if (kin_scan_put_records(body, len, n, codes, shards, failed) == 0)
        return SL_OK;
    return kin_parse_put_records_json(body, len, n, codes, shards, failed, errstr, errlen);
}

sl_err_t kin_parse_put_records_json(const char *body, size_t len, size_t n,
                                    char (*codes)[SL_KIN_CODE_MAX],
                                    char (*shards)[SL_KIN_SHARD_ID_MAX], size_t *failed,
                                    char *errstr, size_t errlen) {
    json_error_t jerr;
    json_t *doc, *recs, *fc;
    size_t nfailed = 0;
    sl_err_t err = SL_ERR_INVAL;

    doc = json_loadb(body, len, 0, &jerr);
    if (!doc) {
        sl_errf(errstr, errlen, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
        return SL_ERR_INVAL;
    }
    if (!json_is_object(doc)) {
        sl_errf(errstr, errlen, "the answer is not a JSON object");
        goto done;
    }
    recs = json_object_get(doc, "Records");
    fc = json_object_get(doc, "FailedRecordCount");
    if (!json_is_array(recs)) {
        sl_errf(errstr, errlen, "Records: missing or not an array");
        goto done;
    }
    if (json_array_size(recs) != n) {
        sl_errf(errstr, errlen, "Records: %zu results for %zu entries sent",
                json_array_size(recs), n);
        goto done;
    }
    if (fc && !json_is_integer(fc)) {
        sl_errf(errstr, errlen, "FailedRecordCount: not an integer");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(recs, i), *seq, *sh, *code;
        if (!json_is_object(r)) {
            sl_errf(errstr, errlen, "Records[%zu]: not an object", i);
            goto done;
        }
        seq = json_object_get(r, "SequenceNumber");
        sh = json_object_get(r, "ShardId");
        code = json_object_get(r, "ErrorCode");
        if (code && !json_is_null(code)) {
            if (!json_is_string(code) || !json_string_length(code)) {
                sl_errf(errstr, errlen, "Records[%zu].ErrorCode: not a non-empty string", i);
                goto done;
            }
            snprintf(codes[i], SL_KIN_CODE_MAX, "%s", json_string_value(code));
            nfailed++;
            continue;
        }
        if (!json_is_string(seq) || !json_string_length(seq)) {
            sl_errf(errstr, errlen, "Records[%zu]: neither SequenceNumber nor ErrorCode", i);
            goto done;
        }
        codes[i][0] = '\0';
        if (shards) {
            if (!json_is_string(sh)) {
                sl_errf(errstr, errlen, "Records[%zu].ShardId: missing or not a string", i);
                goto done;
            }
            snprintf(shards[i], SL_KIN_SHARD_ID_MAX, "%s", json_string_value(sh));
        }
    }
    if (fc && (size_t)json_integer_value(fc) != nfailed) {
        sl_errf(errstr, errlen, "FailedRecordCount %lld, but %zu results carry an ErrorCode",
                (long long)json_integer_value(fc), nfailed);
        goto done;
    }
    *failed = nfailed;
    err = SL_OK;
done:
    json_decref(doc);
    return err;
}
