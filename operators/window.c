/*
 * window.c: the built-in `window` operator. It groups records by a key expression into
 * tumbling, hopping or session windows on event time (the watermark closes them) or processing
 * time (the clock does), computes aggregates over SQLite expressions (count, sum, min, max, avg,
 * first/last value, exact count-distinct) and emits one JSON record per window and key when it
 * closes. A record too late for every window it belongs to goes to the late output when one is
 * named, else it is counted (sluice_window_late_records_total) and dropped; within
 * `allowed-lateness` a late record updates its window, which is emitted again flagged as an
 * update.
 *
 * Everything lives in the keyed state (sluice/state.h), committed with the partition's offsets,
 * so a restart after a crash continues with exactly the windows of the committed input. Keys
 * (big-endian numbers keep the byte order numeric):
 *   'a' end start group          tumbling/hopping window: flags and accumulators
 *   's' group                    the key's open session windows, by start, each: start, end,
 *                                the length of the rest (4 bytes), flags and accumulators
 *   'e' end group start          session windows by end (what the watermark closes), empty
 *   'd' end start group agg value  a value seen by count-distinct aggregate agg of a
 *                                tumbling/hopping window (by end, so closed ones go by range)
 *   'D' group start agg value    the same for a session (its start: its end moves); on a merge
 *                                they move to the merged session's start
 *   'D' group agg value          the same for the aggregate operator (no windows)
 *   'g' group, 'c' group         the aggregate operator: a key's totals; changed since emitted
 *   'f'                          the watermark up to which windows were emitted
 *   'c'                          processing time: the latest clock reading
 * where group is the key's type byte, its length (4 bytes) and its bytes, agg one byte (the
 * aggregate's index) and value a type byte ('i', 'r', 't', 'b') and its bytes. One entry holds
 * all of a key's sessions so that a record costs a read and a write of the cache, not a scan of
 * the store; the sessions of a key never overlap nor touch (those merge), so the order by start
 * is the order by end too.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "expr.h"
#include "operators.h"
#include "sluice/state.h"
#include "util_str.h"

enum { W_TUMBLING, W_HOPPING, W_SESSION, W_GLOBAL /* the aggregate operator */ };
enum { T_EVENT, T_PROCESSING };

typedef struct window_conf {
    int kind;
    int64_t size_ms, slide_ms, gap_ms, offset_ms, lateness_ms;
    int time;
    char *key;
    char *aggregates;
    char *late_output;
} window_conf_t;

typedef enum {
    AGG_COUNT_STAR,
    AGG_COUNT,
    AGG_SUM,
    AGG_AVG,
    AGG_MIN,
    AGG_MAX,
    AGG_FIRST,
    AGG_LAST,
    AGG_DISTINCT,
} agg_kind_t;

static const char *const agg_names[] = {"count", "count", "sum", "avg", "min",
                                        "max", "first_value", "last_value", "count_distinct"};

typedef struct agg {
    agg_kind_t kind;
    char *alias;
    expr_t *ex; /* NULL for count(*) */
} agg_t;

/* A typed value (SQLite's types). p is owned by whoever holds the tval. */
typedef struct tval {
    int type; /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB */
    int64_t i;
    double d;
    unsigned char *p;
    size_t n;
} tval_t;

/* One aggregate's accumulator. */
typedef struct acc {
    int64_t count; /* rows (count(*)), non-NULL values (count, sum, avg), distinct values */
    int approx;    /* sum/avg: a non-integer was added (SQLite: the result is a real) */
    int overflow;  /* sum: the integer sum overflowed */
    int64_t isum;
    double rsum;
    tval_t v; /* min, max, first, last */
} acc_t;

/* A window of one key in memory. */
typedef struct win {
    int64_t start, end;
    int emitted;
    int pending; /* emitted, then changed while not due again (a session that grew): its
                    update goes out when the watermark passes its new end */
    acc_t *accs;
} win_t;

typedef struct window {
    const window_conf_t *conf;
    window_conf_t *own_conf; /* the aggregate operator's, freed with the state */
    int64_t size, slide, lateness;
    expr_db_t *db;
    expr_t *key;
    agg_t *aggs;
    int naggs;
    int late_out;
    sl_op_counter_t *m_late, *m_emitted;
    int64_t fired;  /* the watermark up to which windows were emitted */
    int fired_known;
    /* Lower bounds of the ends of the windows not emitted yet and of all windows (NEXT_UNKNOWN
     * after a start or a scan, INT64_MAX: none), so that most watermark steps cost nothing. */
    int64_t next_fire, next_gone;
    int has_distinct;
    int64_t dgone; /* the distinct values of windows ending before it are deleted */
    int64_t clock;  /* processing time: the latest reading */
    int clock_warned;
    tval_t *vals;   /* the current record's aggregate arguments */
    sl_sb_t kb, vb; /* scratch: a state key, a state value */
    /* Sessions: the list of one key (sess_read()) and a copy of its value, which it points into. */
    struct sess *sess;
    int nsess, sess_cap;
    sl_sb_t lb;
    sl_sb_t gb;     /* the current record's encoded group */
    sl_sb_t out;
} window_t;

static const sl_prop_t window_props[] = {
    {"window", SL_PROP_ENUM, offsetof(window_conf_t, kind), NULL, 0, 0,
     "tumbling|hopping|session", SL_PROP_F_REQUIRED,
     "The kind of window: `tumbling` (fixed `size`, back to back), `hopping` (fixed `size`, one "
     "starting every `slide`: a record belongs to size/slide of them; Flink's HOP, Kafka's "
     "hopping, Samza's sliding) or `session` (a key's records less than `gap` apart, the window "
     "growing with them)."},
    {"size", SL_PROP_DURATION, offsetof(window_conf_t, size_ms), "0", 0, 8.64e10, NULL, 0,
     "Tumbling and hopping windows: their length. Windows are aligned to the epoch (plus "
     "`offset`): a 1h window runs from a full hour to the next."},
    {"slide", SL_PROP_DURATION, offsetof(window_conf_t, slide_ms), "0", 0, 8.64e10, NULL, 0,
     "Hopping windows: how far apart their starts are."},
    {"gap", SL_PROP_DURATION, offsetof(window_conf_t, gap_ms), "0", 0, 8.64e10, NULL, 0,
     "Session windows: the inactivity that ends a session. A record at time t makes the window "
     "[t, t + gap); windows of a key that overlap or touch merge."},
    {"offset", SL_PROP_DURATION, offsetof(window_conf_t, offset_ms), "0", 0, 8.64e10, NULL, 0,
     "Tumbling and hopping windows: shifts their alignment (e.g. 1h windows starting at a "
     "quarter past the hour with 15m)."},
    {"time", SL_PROP_ENUM, offsetof(window_conf_t, time), "event", 0, 0, "event|processing", 0,
     "`event`: a record's event time places it (see task.timestamp.expr) and the partition's "
     "watermark (task.watermark.delay) closes windows. `processing`: the time the record is "
     "processed places it and the clock closes windows (checked every 100 ms)."},
    {"key", SL_PROP_STRING, offsetof(window_conf_t, key), "key", 0, 0, NULL, 0,
     "SQLite expression grouping the records (the filter operator's columns and header(name)); "
     "the default `key` is the record's key. NULL is a group of its own. Example: "
     "`json_extract(payload, '$.user')`. Windows are per partition: group by the key the input "
     "is partitioned by, or repartition first."},
    {"aggregates", SL_PROP_STRING, offsetof(window_conf_t, aggregates), "count(*) AS count", 0, 0,
     NULL, 0,
     "The aggregates, SQL style, separated by commas: `count(*)`, `count(x)`, `sum(x)`, "
     "`avg(x)`, `min(x)`, `max(x)`, `first_value(x)`, `last_value(x)` (in processing order), "
     "`count(DISTINCT x)` (exact), each x a SQLite expression over the record, each optionally "
     "named with `AS name` (the default name is the function's). NULL values are skipped as in "
     "SQL; sum, avg, min and max follow SQLite's rules (an integer sum stays an integer). "
     "Example: `count(*) AS n, sum(json_extract(payload, '$.amount')) AS total`."},
    {"allowed-lateness", SL_PROP_DURATION, offsetof(window_conf_t, lateness_ms), "0", 0, 8.64e10,
     NULL, 0,
     "Event time: how long after the watermark passed a window's end it is kept: a record "
     "arriving for it meanwhile updates it and the window is emitted again with `\"update\": "
     "true` (deduplicate downstream by window and key, keeping the last). A record later than "
     "that is late: see `late-output`."},
    {"late-output", SL_PROP_STRING, offsetof(window_conf_t, late_output), NULL, 0, 0, NULL, 0,
     "An entry of task.outputs (`<system>.<stream>`) that receives the late records as they "
     "came, and only them. Unset, late records are dropped; either way they are counted in the "
     "metric sluice_window_late_records_total."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* --- encoding -------------------------------------------------------------------------------- */

/* Empties a reused buffer, forgetting an earlier allocation failure: sb_reset() keeps .oom,
 * which would fail every later key built in it (and leave it holding a partial key). */
static void sb_reset(sl_sb_t *sb) {
    sl_sb_reset(sb);
    sb->oom = 0;
}

static void put_be64(sl_sb_t *sb, int64_t v) {
    uint64_t u = (uint64_t)v ^ 0x8000000000000000ULL;
    unsigned char b[8];
    for (int i = 7; i >= 0; i--, u >>= 8)
        b[i] = (unsigned char)(u & 0xff);
    sl_sb_append(sb, b, 8);
}

static int64_t get_be64(const unsigned char *p) {
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)(u ^ 0x8000000000000000ULL);
}

static void put_be32(sl_sb_t *sb, uint32_t v) {
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    sl_sb_append(sb, b, 4);
}

static uint32_t get_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_double(sl_sb_t *sb, double d) {
    int64_t i;
    memcpy(&i, &d, 8);
    put_be64(sb, i);
}

static double get_double(const unsigned char *p) {
    int64_t i = get_be64(p);
    double d;
    memcpy(&d, &i, 8);
    return d;
}

/* A bounded reader over a state value. */
typedef struct rd {
    const unsigned char *p;
    size_t n, off;
    int bad;
} rd_t;

static const unsigned char *rd_take(rd_t *r, size_t n) {
    const unsigned char *p;
    if (r->bad || r->n - r->off < n) {
        r->bad = 1;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

static int64_t rd_be64(rd_t *r) {
    const unsigned char *p = rd_take(r, 8);
    return p ? get_be64(p) : 0;
}

static int rd_byte(rd_t *r) {
    const unsigned char *p = rd_take(r, 1);
    return p ? *p : 0;
}

static void tval_free(tval_t *v) {
    free(v->p);
    memset(v, 0, sizeof(*v));
    v->type = SQLITE_NULL;
}

static int tval_copy(tval_t *dst, const tval_t *src) {
    unsigned char *p = NULL;
    if ((src->type == SQLITE_TEXT || src->type == SQLITE_BLOB)) {
        if (!(p = malloc(src->n ? src->n : 1)))
            return -1;
        if (src->n)
            memcpy(p, src->p, src->n);
    }
    free(dst->p);
    *dst = *src;
    dst->p = p;
    return 0;
}

static void put_tval(sl_sb_t *sb, const tval_t *v) {
    sl_sb_putc(sb, (char)v->type);
    switch (v->type) {
    case SQLITE_INTEGER:
        put_be64(sb, v->i);
        break;
    case SQLITE_FLOAT:
        put_double(sb, v->d);
        break;
    case SQLITE_TEXT:
    case SQLITE_BLOB:
        put_be32(sb, (uint32_t)v->n);
        sl_sb_append(sb, v->p, v->n);
        break;
    }
}

static void rd_tval(rd_t *r, tval_t *v) {
    const unsigned char *p;
    memset(v, 0, sizeof(*v));
    v->type = rd_byte(r);
    switch (v->type) {
    case SQLITE_NULL:
        break;
    case SQLITE_INTEGER:
        v->i = rd_be64(r);
        break;
    case SQLITE_FLOAT:
        p = rd_take(r, 8);
        v->d = p ? get_double(p) : 0;
        break;
    case SQLITE_TEXT:
    case SQLITE_BLOB:
        p = rd_take(r, 4);
        v->n = p ? get_be32(p) : 0;
        if (!(p = rd_take(r, v->n)))
            break;
        if (!(v->p = malloc(v->n ? v->n : 1))) {
            r->bad = 1;
            break;
        }
        memcpy(v->p, p, v->n);
        break;
    default:
        r->bad = 1;
        v->type = SQLITE_NULL;
    }
}

/* The value of an expression as a tval whose bytes are borrowed from SQLite. */
static void tval_from(tval_t *v, sqlite3_value *sv) {
    memset(v, 0, sizeof(*v));
    v->type = sv ? sqlite3_value_type(sv) : SQLITE_NULL;
    switch (v->type) {
    case SQLITE_INTEGER:
        v->i = sqlite3_value_int64(sv);
        break;
    case SQLITE_FLOAT:
        v->d = sqlite3_value_double(sv);
        break;
    case SQLITE_TEXT:
        v->p = (unsigned char *)sqlite3_value_text(sv);
        v->n = (size_t)sqlite3_value_bytes(sv);
        break;
    case SQLITE_BLOB:
        v->p = (unsigned char *)sqlite3_value_blob(sv);
        v->n = (size_t)sqlite3_value_bytes(sv);
        break;
    default:
        v->type = SQLITE_NULL;
    }
}

/* SQLite's order of values (BINARY collation): NULL < numbers < text < blob. */
static int tval_cmp(const tval_t *a, const tval_t *b) {
    int ra = a->type == SQLITE_NULL ? 0 : a->type == SQLITE_TEXT ? 2 : a->type == SQLITE_BLOB ? 3 : 1;
    int rb = b->type == SQLITE_NULL ? 0 : b->type == SQLITE_TEXT ? 2 : b->type == SQLITE_BLOB ? 3 : 1;
    if (ra != rb)
        return ra < rb ? -1 : 1;
    if (ra == 1) {
        if (a->type == SQLITE_INTEGER && b->type == SQLITE_INTEGER)
            return a->i < b->i ? -1 : a->i > b->i;
        double x = a->type == SQLITE_INTEGER ? (double)a->i : a->d;
        double y = b->type == SQLITE_INTEGER ? (double)b->i : b->d;
        return x < y ? -1 : x > y;
    }
    if (ra >= 2) {
        size_t n = a->n < b->n ? a->n : b->n;
        int c = n ? memcmp(a->p, b->p, n) : 0;
        if (c)
            return c < 0 ? -1 : 1;
        return a->n < b->n ? -1 : a->n > b->n;
    }
    return 0;
}

/* A value as count(DISTINCT) tells values apart: 1 and 1.0 are one value, '1' another. */
static void put_distinct(sl_sb_t *sb, const tval_t *v) {
    if (v->type == SQLITE_FLOAT && v->d == floor(v->d) && v->d >= -9.2e18 && v->d <= 9.2e18) {
        sl_sb_putc(sb, 'i');
        put_be64(sb, (int64_t)v->d);
    } else if (v->type == SQLITE_FLOAT) {
        sl_sb_putc(sb, 'r');
        put_double(sb, v->d == 0 ? 0.0 : v->d);
    } else if (v->type == SQLITE_INTEGER) {
        sl_sb_putc(sb, 'i');
        put_be64(sb, v->i);
    } else {
        sl_sb_putc(sb, v->type == SQLITE_TEXT ? 't' : 'b');
        sl_sb_append(sb, v->p, v->n);
    }
}

/* --- accumulators ---------------------------------------------------------------------------- */

static void accs_free(window_t *w, acc_t *accs) {
    if (!accs)
        return;
    for (int i = 0; i < w->naggs; i++)
        tval_free(&accs[i].v);
    free(accs);
}

static acc_t *accs_new(window_t *w) {
    acc_t *accs = calloc((size_t)w->naggs + 1, sizeof(*accs));
    for (int i = 0; accs && i < w->naggs; i++)
        accs[i].v.type = SQLITE_NULL;
    return accs;
}

static void put_accs(window_t *w, sl_sb_t *sb, const win_t *win) {
    sl_sb_putc(sb, (char)((win->emitted ? 1 : 0) | (win->pending ? 2 : 0)));
    for (int i = 0; i < w->naggs; i++) {
        const acc_t *a = &win->accs[i];
        put_be64(sb, a->count);
        switch (w->aggs[i].kind) {
        case AGG_SUM:
        case AGG_AVG:
            sl_sb_putc(sb, (char)(a->approx | a->overflow << 1));
            put_be64(sb, a->isum);
            put_double(sb, a->rsum);
            break;
        case AGG_MIN:
        case AGG_MAX:
        case AGG_FIRST:
        case AGG_LAST:
            put_tval(sb, &a->v);
            break;
        default:
            break;
        }
    }
}

static int rd_accs(window_t *w, rd_t *r, win_t *win) {
    int f;
    if (!(win->accs = accs_new(w)))
        return -1;
    f = rd_byte(r);
    win->emitted = f & 1;
    win->pending = (f >> 1) & 1;
    for (int i = 0; i < w->naggs && !r->bad; i++) {
        acc_t *a = &win->accs[i];
        a->count = rd_be64(r);
        switch (w->aggs[i].kind) {
        case AGG_SUM:
        case AGG_AVG:
            f = rd_byte(r);
            a->approx = f & 1;
            a->overflow = (f >> 1) & 1;
            a->isum = rd_be64(r);
            {
                const unsigned char *p = rd_take(r, 8);
                a->rsum = p ? get_double(p) : 0;
            }
            break;
        case AGG_MIN:
        case AGG_MAX:
        case AGG_FIRST:
        case AGG_LAST:
            rd_tval(r, &a->v);
            break;
        default:
            break;
        }
    }
    return r->bad ? -1 : 0;
}

/* Adds one value (v, borrowed) to an accumulator. count(DISTINCT) is counted by the caller. */
static int acc_add(acc_t *a, agg_kind_t kind, const tval_t *v) {
    tval_t num;
    if (kind == AGG_COUNT_STAR) {
        a->count++;
        return 0;
    }
    if (v->type == SQLITE_NULL || kind == AGG_DISTINCT)
        return 0;
    switch (kind) {
    case AGG_COUNT:
        a->count++;
        break;
    case AGG_SUM:
    case AGG_AVG:
        /* SQLite's sum(): numeric affinity first; integers summed exactly while they fit. */
        num = *v;
        if (v->type == SQLITE_TEXT || v->type == SQLITE_BLOB) {
            char buf[64];
            size_t n = v->n < sizeof(buf) - 1 ? v->n : sizeof(buf) - 1;
            int64_t iv;
            double dv;
            memcpy(buf, v->p, n);
            buf[n] = '\0';
            if (v->type == SQLITE_TEXT && v->n < sizeof(buf) && sl_parse_int64(buf, &iv) == 0) {
                num.type = SQLITE_INTEGER;
                num.i = iv;
            } else if (v->type == SQLITE_TEXT && v->n < sizeof(buf) &&
                       sl_parse_double(buf, &dv) == 0) {
                num.type = SQLITE_FLOAT;
                num.d = dv;
            } else {
                num.type = SQLITE_FLOAT;
                num.d = 0; /* not a number: SQLite adds 0.0 */
            }
        }
        a->count++;
        if (num.type == SQLITE_INTEGER) {
            if (__builtin_add_overflow(a->isum, num.i, &a->isum))
                a->overflow = 1;
            a->rsum += (double)num.i;
        } else {
            a->approx = 1;
            a->rsum += num.d;
        }
        break;
    case AGG_MIN:
        if (a->v.type == SQLITE_NULL || tval_cmp(v, &a->v) < 0)
            return tval_copy(&a->v, v);
        break;
    case AGG_MAX:
        if (a->v.type == SQLITE_NULL || tval_cmp(v, &a->v) > 0)
            return tval_copy(&a->v, v);
        break;
    case AGG_FIRST:
        if (a->count++ == 0)
            return tval_copy(&a->v, v);
        break;
    case AGG_LAST:
        a->count++;
        return tval_copy(&a->v, v);
    default:
        break;
    }
    return 0;
}

/* Merges accumulator b (a later session) into a. */
static int acc_merge(acc_t *a, const acc_t *b, agg_kind_t kind) {
    switch (kind) {
    case AGG_SUM:
    case AGG_AVG:
        if (__builtin_add_overflow(a->isum, b->isum, &a->isum))
            a->overflow = 1;
        a->overflow |= b->overflow;
        a->approx |= b->approx;
        a->rsum += b->rsum;
        a->count += b->count;
        return 0;
    case AGG_MIN:
        if (b->v.type != SQLITE_NULL && (a->v.type == SQLITE_NULL || tval_cmp(&b->v, &a->v) < 0))
            return tval_copy(&a->v, &b->v);
        return 0;
    case AGG_MAX:
        if (b->v.type != SQLITE_NULL && (a->v.type == SQLITE_NULL || tval_cmp(&b->v, &a->v) > 0))
            return tval_copy(&a->v, &b->v);
        return 0;
    case AGG_FIRST:
        if (a->count == 0 && b->count > 0 && tval_copy(&a->v, &b->v) < 0)
            return -1;
        a->count += b->count;
        return 0;
    case AGG_LAST:
        if (b->count > 0 && tval_copy(&a->v, &b->v) < 0)
            return -1;
        a->count += b->count;
        return 0;
    case AGG_DISTINCT:
        return 0; /* recounted from the merged set */
    default:
        a->count += b->count;
        return 0;
    }
}

/* --- output ---------------------------------------------------------------------------------- */

static void json_tval(sl_sb_t *sb, const tval_t *v) {
    char num[64];
    switch (v->type) {
    case SQLITE_INTEGER:
        sl_sb_printf(sb, "%lld", (long long)v->i);
        break;
    case SQLITE_FLOAT:
        if (!isfinite(v->d)) {
            sl_sb_puts(sb, "null");
            break;
        }
        snprintf(num, sizeof(num), "%.17g", v->d);
        /* A real stays a real in JSON: 2.0, not 2. */
        if (!strpbrk(num, ".eE"))
            strcat(num, ".0");
        sl_sb_puts(sb, num);
        break;
    case SQLITE_TEXT:
        sl_sb_json_str(sb, (const char *)v->p, v->n);
        break;
    case SQLITE_BLOB: {
        /* As text when it is, else as hex like SQLite's quote() shows it. */
        sl_sb_putc(sb, '"');
        for (size_t i = 0; i < v->n; i++)
            sl_sb_printf(sb, "%02x", v->p[i]);
        sl_sb_putc(sb, '"');
        break;
    }
    default:
        sl_sb_puts(sb, "null");
    }
}

/* Decodes an encoded group (type, length, bytes) into v (borrowing the bytes). Returns its
 * encoded length, 0 when malformed. */
static size_t group_decode(const unsigned char *p, size_t n, tval_t *v) {
    uint32_t len;
    memset(v, 0, sizeof(*v));
    if (n < 5)
        return 0;
    len = get_be32(p + 1);
    if (n - 5 < len)
        return 0;
    v->type = p[0];
    if (v->type == SQLITE_INTEGER && len == 8)
        v->i = get_be64(p + 5);
    else if (v->type == SQLITE_FLOAT && len == 8)
        v->d = get_double(p + 5);
    else if (v->type == SQLITE_TEXT || v->type == SQLITE_BLOB) {
        v->p = (unsigned char *)p + 5;
        v->n = len;
    } else if (v->type != SQLITE_NULL || len != 0)
        return 0;
    return 5 + len;
}

static void group_encode(sl_sb_t *sb, const tval_t *v) {
    sl_sb_putc(sb, (char)v->type);
    switch (v->type) {
    case SQLITE_INTEGER:
        put_be32(sb, 8);
        put_be64(sb, v->i);
        break;
    case SQLITE_FLOAT:
        put_be32(sb, 8);
        put_double(sb, v->d);
        break;
    case SQLITE_TEXT:
    case SQLITE_BLOB:
        put_be32(sb, (uint32_t)v->n);
        sl_sb_append(sb, v->p, v->n);
        break;
    default:
        put_be32(sb, 0);
    }
}

/* Emits the result of window win of group (encoded). */
static sl_err_t emit_window(sl_op_t *op, window_t *w, const unsigned char *group, size_t glen,
                            const win_t *win, int update) {
    sl_sb_t *o = &w->out;
    sl_record_t *rec;
    tval_t g;
    char keytxt[64];
    sl_err_t err;

    if (!group_decode(group, glen, &g))
        return sl_op_fail(op, "a window's group in the keyed state is malformed");
    sb_reset(o);
    sl_sb_puts(o, "{\"key\":");
    json_tval(o, &g);
    if (w->conf->kind != W_GLOBAL)
        sl_sb_printf(o, ",\"window_start\":%lld,\"window_end\":%lld", (long long)win->start,
                     (long long)win->end);
    for (int i = 0; i < w->naggs; i++) {
        const acc_t *a = &win->accs[i];
        tval_t v;
        memset(&v, 0, sizeof(v));
        switch (w->aggs[i].kind) {
        case AGG_COUNT_STAR:
        case AGG_COUNT:
        case AGG_DISTINCT:
            v.type = SQLITE_INTEGER;
            v.i = a->count;
            break;
        case AGG_SUM:
            if (a->count == 0)
                v.type = SQLITE_NULL;
            else if (a->approx) {
                v.type = SQLITE_FLOAT;
                v.d = a->rsum;
            } else if (a->overflow) {
                return sl_op_fail(op, "aggregate %s: integer overflow (as in SQLite's sum(); "
                                  "total() style: make the argument a real with * 1.0)",
                                  w->aggs[i].alias);
            } else {
                v.type = SQLITE_INTEGER;
                v.i = a->isum;
            }
            break;
        case AGG_AVG:
            if (a->count == 0)
                v.type = SQLITE_NULL;
            else {
                v.type = SQLITE_FLOAT;
                v.d = a->rsum / (double)a->count;
            }
            break;
        default:
            v = a->v;
        }
        sl_sb_putc(o, ',');
        sl_sb_json_str(o, w->aggs[i].alias, strlen(w->aggs[i].alias));
        sl_sb_putc(o, ':');
        json_tval(o, &v);
    }
    if (w->conf->kind != W_GLOBAL)
        sl_sb_printf(o, ",\"update\":%s", update ? "true" : "false");
    sl_sb_putc(o, '}');
    if (o->oom)
        return sl_op_fail(op, "out of memory");
    if (!(rec = sl_record_new()))
        return sl_op_fail(op, "out of memory");
    err = sl_record_set_data(rec, o->buf, o->len);
    if (err == SL_OK) {
        if (g.type == SQLITE_TEXT || g.type == SQLITE_BLOB)
            err = sl_record_set_key(rec, (const char *)g.p, g.n);
        else if (g.type == SQLITE_INTEGER) {
            snprintf(keytxt, sizeof(keytxt), "%lld", (long long)g.i);
            err = sl_record_set_key(rec, keytxt, strlen(keytxt));
        } else if (g.type == SQLITE_FLOAT) {
            snprintf(keytxt, sizeof(keytxt), "%.17g", g.d);
            err = sl_record_set_key(rec, keytxt, strlen(keytxt));
        }
    }
    if (w->conf->kind != W_GLOBAL)
        sl_record_set_event_time(rec, win->end - 1);
    if (err == SL_OK)
        err = sl_op_emit(op, rec);
    else
        sl_op_fail(op, "out of memory");
    sl_record_unref(rec);
    if (err == SL_OK)
        sl_op_counter_add(w->m_emitted, 1);
    return err;
}

/* --- the state ------------------------------------------------------------------------------- */

static sl_err_t state_fail(sl_op_t *op, const char *what, sl_err_t err) {
    return sl_op_fail(op, "keyed state: %s: %s", what, sl_err_str(err));
}

/* The window id distinct values hang off: for tumbling/hopping end, start and group; for a
 * session the group and start (its end moves). */
static void wid_make(window_t *w, sl_sb_t *sb, int64_t start, int64_t end, const unsigned char *g,
                     size_t glen) {
    sb_reset(sb);
    if (w->conf->kind == W_GLOBAL) {
        sl_sb_append(sb, g, glen);
    } else if (w->conf->kind == W_SESSION) {
        sl_sb_append(sb, g, glen);
        put_be64(sb, start);
    } else {
        put_be64(sb, end);
        put_be64(sb, start);
        sl_sb_append(sb, g, glen);
    }
}

/* The prefix of a window's distinct values: 'd' and the id of a tumbling/hopping window (its
 * end first, so the values of every window ending before some time form one range), 'D' and
 * a session's. Both ids are self-delimiting. */
static void dkey_prefix(window_t *w, sl_sb_t *sb, const sl_sb_t *wid) {
    sb_reset(sb);
    sl_sb_putc(sb, w->conf->kind == W_SESSION || w->conf->kind == W_GLOBAL ? 'D' : 'd');
    sl_sb_append(sb, wid->buf, wid->len);
}

typedef struct dscan {
    sl_state_t *st;
    sl_sb_t key;      /* rebuilt per entry when moving */
    const sl_sb_t *to; /* move: the target's prefix; NULL: delete */
    size_t plen;      /* the source prefix's length */
    int64_t *counts;  /* move: per aggregate, new values added to the target */
    sl_err_t err;
} dscan_t;

static int dscan_cb(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    dscan_t *d = opaque;
    const void *old;
    size_t olen;
    (void)val;
    (void)vlen;
    if ((d->err = sl_state_delete(d->st, key, klen)) != SL_OK)
        return 1;
    if (!d->to || klen <= d->plen)
        return 0;
    sb_reset(&d->key);
    sl_sb_append(&d->key, d->to->buf, d->to->len);
    sl_sb_append(&d->key, (const unsigned char *)key + d->plen, klen - d->plen);
    if (d->key.oom) {
        d->err = SL_ERR_NOMEM;
        return 1;
    }
    d->err = sl_state_get(d->st, d->key.buf, d->key.len, &old, &olen);
    if (d->err == SL_ERR_NOENT) {
        d->counts[((const unsigned char *)key)[d->plen]]++;
        d->err = sl_state_put(d->st, d->key.buf, d->key.len, "", 0, 0);
    }
    return d->err != SL_OK;
}

/* Deletes the distinct values of window wid, or moves them to window to (counting in counts
 * the values new there). */
static sl_err_t distinct_move(window_t *w, sl_state_t *st, const sl_sb_t *wid, const sl_sb_t *to,
                              int64_t *counts) {
    sl_sb_t prefix = {0}, toprefix = {0};
    dscan_t d;
    sl_err_t err;
    int has = 0;

    for (int i = 0; i < w->naggs; i++)
        has |= w->aggs[i].kind == AGG_DISTINCT;
    if (!has)
        return SL_OK;
    memset(&d, 0, sizeof(d));
    dkey_prefix(w, &prefix, wid);
    if (to)
        dkey_prefix(w, &toprefix, to);
    d.st = st;
    d.to = to ? &toprefix : NULL;
    d.plen = prefix.len;
    d.counts = counts;
    err = prefix.oom || toprefix.oom || wid->oom || (to && to->oom)
              ? SL_ERR_NOMEM
              : sl_state_scan_prefix(st, prefix.buf, prefix.len, dscan_cb, &d);
    if (err == 1)
        err = d.err;
    sl_sb_free(&prefix);
    sl_sb_free(&toprefix);
    sl_sb_free(&d.key);
    return err;
}

/* 1 when window win holds distinct values (entries 'd'/'D'): each counts one, so with none
 * counted a session has none to move or delete, and its scan can be spared. */
static int has_distinct_values(const window_t *w, const win_t *win) {
    for (int i = 0; i < w->naggs; i++)
        if (w->aggs[i].kind == AGG_DISTINCT && win->accs[i].count > 0)
            return 1;
    return 0;
}

/* Deletes the distinct values of the tumbling/hopping windows ending in [from, to). */
static sl_err_t distinct_drop(sl_op_t *op, window_t *w, sl_state_t *st, int64_t from, int64_t to) {
    sl_sb_t lo = {0}, hi = {0};
    sl_err_t err;
    sl_sb_putc(&lo, 'd');
    if (from != INT64_MIN)
        put_be64(&lo, from);
    sl_sb_putc(&hi, 'd');
    if (to == INT64_MAX && !hi.oom)
        hi.buf[0]++;
    else
        put_be64(&hi, to);
    (void)w;
    err = lo.oom || hi.oom ? SL_ERR_NOMEM
                           : sl_state_delete_range(st, lo.buf, lo.len, hi.buf, hi.len);
    sl_sb_free(&lo);
    sl_sb_free(&hi);
    if (err == SL_OK)
        return SL_OK;
    return state_fail(op, "deleting the distinct values of closed windows", err);
}

/* Adds the current record's count(DISTINCT) values to window wid's sets and counts the new
 * ones in win. */
static sl_err_t distinct_add(sl_op_t *op, window_t *w, sl_state_t *st, const sl_sb_t *wid,
                             win_t *win) {
    sl_sb_t *k = &w->kb;
    const void *old;
    size_t olen;
    sl_err_t err;

    for (int i = 0; i < w->naggs; i++) {
        if (w->aggs[i].kind != AGG_DISTINCT || w->vals[i].type == SQLITE_NULL)
            continue;
        dkey_prefix(w, k, wid);
        sl_sb_putc(k, (char)i);
        put_distinct(k, &w->vals[i]);
        if (k->oom || wid->oom)
            return sl_op_fail(op, "out of memory");
        err = sl_state_get(st, k->buf, k->len, &old, &olen);
        if (err == SL_ERR_NOENT) {
            if ((err = sl_state_put(st, k->buf, k->len, "", 0, 0)) != SL_OK)
                return state_fail(op, "remembering a distinct value", err);
            win->accs[i].count++;
        } else if (err != SL_OK) {
            return state_fail(op, "reading a distinct value", err);
        }
    }
    return SL_OK;
}

static sl_err_t put_meta(sl_op_t *op, sl_state_t *st, char tag, int64_t v) {
    sl_sb_t sb = {0};
    sl_err_t err;
    put_be64(&sb, v);
    err = sb.oom ? SL_ERR_NOMEM : sl_state_put(st, &tag, 1, sb.buf, sb.len, 0);
    sl_sb_free(&sb);
    return err == SL_OK ? SL_OK : state_fail(op, "writing the window progress", err);
}

static sl_err_t load_fired(sl_op_t *op, window_t *w, sl_state_t *st) {
    const void *val;
    size_t vlen;
    sl_err_t err;
    if (w->fired_known)
        return SL_OK;
    err = sl_state_get(st, "f", 1, &val, &vlen);
    if (err == SL_OK && vlen == 8)
        w->fired = get_be64(val);
    else if (err == SL_ERR_NOENT)
        w->fired = SL_WATERMARK_NONE;
    else
        return state_fail(op, "reading the window progress",
                          err == SL_OK ? SL_ERR_DB : err);
    if (w->conf->time == T_PROCESSING) {
        err = sl_state_get(st, "c", 1, &val, &vlen);
        if (err == SL_OK && vlen == 8)
            w->clock = get_be64(val);
        else if (err != SL_ERR_NOENT)
            return state_fail(op, "reading the window clock", err == SL_OK ? SL_ERR_DB : err);
    }
    w->fired_known = 1;
    return SL_OK;
}

#define NEXT_UNKNOWN INT64_MIN

/* A window with end was added: the bounds take it in. */
static void note_end(window_t *w, int64_t end) {
    if (w->next_fire != NEXT_UNKNOWN && end < w->next_fire && end - 1 > w->fired)
        w->next_fire = end;
    if (w->next_gone != NEXT_UNKNOWN && end < w->next_gone)
        w->next_gone = end;
}

static int first_cb(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)val;
    (void)vlen;
    *(int64_t *)opaque = klen >= 9 ? get_be64((const unsigned char *)key + 1) : INT64_MAX;
    return 1;
}

/* The smallest window end at or above lo_end, INT64_MAX when none. */
static sl_err_t first_end(sl_op_t *op, window_t *w, sl_state_t *st, int64_t lo_end,
                          int64_t *out) {
    sl_sb_t lo = {0};
    char hi = w->conf->kind == W_SESSION ? 'f' : 'b';
    sl_err_t err;
    *out = INT64_MAX;
    sl_sb_putc(&lo, (char)(hi - 1));
    put_be64(&lo, lo_end);
    err = lo.oom ? SL_ERR_NOMEM : sl_state_scan_range(st, lo.buf, lo.len, &hi, 1, first_cb, out);
    sl_sb_free(&lo);
    if (err == 1 || err == SL_OK)
        return SL_OK;
    return state_fail(op, "looking for the next window to close", err);
}

/* --- tumbling and hopping windows ------------------------------------------------------------ */

static void akey(window_t *w, sl_sb_t *sb, int64_t start, int64_t end) {
    sb_reset(sb);
    sl_sb_putc(sb, 'a');
    put_be64(sb, end);
    put_be64(sb, start);
    sl_sb_append(sb, w->gb.buf, w->gb.len);
}

static sl_err_t write_win(sl_op_t *op, window_t *w, sl_state_t *st, const sl_sb_t *key,
                          const win_t *win) {
    sl_err_t err;
    sb_reset(&w->vb);
    put_accs(w, &w->vb, win);
    if (w->vb.oom || key->oom)
        return sl_op_fail(op, "out of memory");
    err = sl_state_put(st, key->buf, key->len, w->vb.buf, w->vb.len, 0);
    if (err == SL_ERR_INVAL) /* the only cause with a non-empty key: the size */
        return sl_op_fail(op, "keyed state: window [%lld, %lld) needs %zu bytes, more than "
                          "task.state.value.max-bytes", (long long)win->start,
                          (long long)win->end, w->vb.len);
    return err == SL_OK ? SL_OK : state_fail(op, "writing a window", err);
}

/* Adds the current record to window [start, end) of its group; emits it at once when the
 * watermark has passed it already (a late record within the allowed lateness). */
static sl_err_t fixed_update(sl_op_t *op, window_t *w, sl_state_t *st, int64_t start,
                             int64_t end, int64_t wm) {
    sl_sb_t key = {0}, wid = {0};
    const void *val;
    size_t vlen;
    win_t win;
    sl_err_t err;
    rd_t r;

    memset(&win, 0, sizeof(win));
    akey(w, &key, start, end);
    if (key.oom) {
        err = sl_op_fail(op, "out of memory");
        goto done;
    }
    err = sl_state_get(st, key.buf, key.len, &val, &vlen);
    if (err == SL_OK) {
        memset(&r, 0, sizeof(r));
        r.p = val;
        r.n = vlen;
        if (rd_accs(w, &r, &win) < 0) {
            err = sl_op_fail(op, "the keyed state of window [%lld, %lld) is malformed "
                             "(%zu bytes)", (long long)start, (long long)end, vlen);
            goto done;
        }
    } else if (err == SL_ERR_NOENT) {
        if (!(win.accs = accs_new(w))) {
            err = sl_op_fail(op, "out of memory");
            goto done;
        }
        note_end(w, end);
    } else {
        err = state_fail(op, "reading a window", err);
        goto done;
    }
    win.start = start;
    win.end = end;
    for (int i = 0; i < w->naggs; i++)
        if (acc_add(&win.accs[i], w->aggs[i].kind, &w->vals[i]) < 0) {
            err = sl_op_fail(op, "out of memory");
            goto done;
        }
    wid_make(w, &wid, start, end, (const unsigned char *)w->gb.buf, w->gb.len);
    if ((err = distinct_add(op, w, st, &wid, &win)) != SL_OK)
        goto done;
    if (end - 1 <= wm) {
        /* The watermark passed it: out at once, an update when it was out before. */
        if ((err = emit_window(op, w, (const unsigned char *)w->gb.buf, w->gb.len, &win,
                               win.emitted)) != SL_OK)
            goto done;
        win.emitted = 1;
    }
    err = write_win(op, w, st, &key, &win);
done:
    accs_free(w, win.accs);
    sl_sb_free(&key);
    sl_sb_free(&wid);
    return err;
}

/* --- session windows ------------------------------------------------------------------------- */

/* A key's open sessions live in one entry ('s' and the group) rather than one each: a record then
 * costs one read and one write, hits of the cache, where finding the sessions it touches among
 * entries of their own took a prefix scan, and every scan spills the cache's changes to SQLite
 * before it queries. The list stays short: a session leaves it once the watermark has passed its
 * end by the allowed lateness. */

/* One session of a key's list, its accumulators still encoded (only those a record merges or the
 * watermark closes are decoded; the others are copied back as they are). */
typedef struct sess {
    int64_t start, end;
    const unsigned char *accs; /* put_accs() bytes, borrowed from w->lb */
    size_t alen;
    int gone; /* left out when the list is written back (merged, or closed) */
} sess_t;

static void skey(sl_sb_t *sb, const unsigned char *g, size_t glen) {
    sb_reset(sb);
    sl_sb_putc(sb, 's');
    sl_sb_append(sb, g, glen);
}

static void ekey(sl_sb_t *sb, const unsigned char *g, size_t glen, int64_t start, int64_t end) {
    sb_reset(sb);
    sl_sb_putc(sb, 'e');
    put_be64(sb, end);
    sl_sb_append(sb, g, glen);
    put_be64(sb, start);
}

/* Reads the sessions of group g into w->sess (none when it has no entry), their bytes copied into
 * w->lb: the store lends a value only until its next call, and merging calls it. */
static sl_err_t sess_read(sl_op_t *op, window_t *w, sl_state_t *st, const unsigned char *g,
                          size_t glen) {
    const void *val;
    size_t vlen;
    sl_err_t err;
    rd_t r;

    w->nsess = 0;
    skey(&w->kb, g, glen);
    if (w->kb.oom)
        return sl_op_fail(op, "out of memory");
    err = sl_state_get(st, w->kb.buf, w->kb.len, &val, &vlen);
    if (err == SL_ERR_NOENT)
        return SL_OK;
    if (err != SL_OK)
        return state_fail(op, "reading the sessions of a key", err);
    sb_reset(&w->lb);
    sl_sb_append(&w->lb, val, vlen);
    if (w->lb.oom)
        return sl_op_fail(op, "out of memory");
    memset(&r, 0, sizeof(r));
    r.p = (const unsigned char *)w->lb.buf;
    r.n = vlen;
    while (r.off < r.n) {
        sess_t s;
        const unsigned char *p;
        memset(&s, 0, sizeof(s));
        s.start = rd_be64(&r);
        s.end = rd_be64(&r);
        p = rd_take(&r, 4);
        s.alen = p ? get_be32(p) : 0;
        s.accs = rd_take(&r, s.alen);
        /* Merging relies on the order by start; an empty entry is never written. */
        if (r.bad || s.end <= s.start || (w->nsess && s.start <= w->sess[w->nsess - 1].start))
            return sl_op_fail(op, "the keyed state of the sessions of a key is malformed "
                              "(%zu bytes)", vlen);
        if (w->nsess == w->sess_cap) {
            int cap = w->sess_cap ? w->sess_cap * 2 : 8;
            sess_t *grown = realloc(w->sess, (size_t)cap * sizeof(*grown));
            if (!grown)
                return sl_op_fail(op, "out of memory");
            w->sess = grown;
            w->sess_cap = cap;
        }
        w->sess[w->nsess++] = s;
    }
    if (vlen == 0)
        return sl_op_fail(op, "the keyed state of the sessions of a key is malformed (0 bytes)");
    return SL_OK;
}

/* Decodes the accumulators of session s into win; win->accs is the caller's to free, even on
 * failure. */
static int sess_accs(window_t *w, const sess_t *s, win_t *win) {
    rd_t r;
    memset(win, 0, sizeof(*win));
    memset(&r, 0, sizeof(r));
    r.p = s->accs;
    r.n = s->alen;
    win->start = s->start;
    win->end = s->end;
    return rd_accs(w, &r, win) < 0 || r.off != r.n ? -1 : 0;
}

static void put_sess(window_t *w, sl_sb_t *sb, const win_t *win) {
    size_t at;
    put_be64(sb, win->start);
    put_be64(sb, win->end);
    put_be32(sb, 0);
    at = sb->len;
    put_accs(w, sb, win);
    if (!sb->oom) {
        /* The accumulators' length, known once they are written. */
        uint32_t n = (uint32_t)(sb->len - at);
        unsigned char *p = (unsigned char *)sb->buf + at - 4;
        p[0] = (unsigned char)(n >> 24);
        p[1] = (unsigned char)(n >> 16);
        p[2] = (unsigned char)(n >> 8);
        p[3] = (unsigned char)n;
    }
}

/* Writes group g's list back: the sessions of w->sess not gone, and win (NULL: none) in its place
 * by start. No session left: the entry goes. */
static sl_err_t sess_write(sl_op_t *op, window_t *w, sl_state_t *st, const unsigned char *g,
                           size_t glen, const win_t *win) {
    sl_sb_t *v = &w->vb;
    int n = 0, placed = !win;
    sl_err_t err;

    sb_reset(v);
    for (int i = 0; i <= w->nsess; i++) {
        const sess_t *s = i < w->nsess ? &w->sess[i] : NULL;
        if (!placed && (!s || s->start > win->start)) {
            put_sess(w, v, win);
            placed = 1;
            n++;
        }
        if (s && !s->gone) {
            put_be64(v, s->start);
            put_be64(v, s->end);
            put_be32(v, (uint32_t)s->alen);
            sl_sb_append(v, s->accs, s->alen);
            n++;
        }
    }
    skey(&w->kb, g, glen);
    if (v->oom || w->kb.oom)
        return sl_op_fail(op, "out of memory");
    if (!n) {
        err = sl_state_delete(st, w->kb.buf, w->kb.len);
        return err == SL_OK ? SL_OK : state_fail(op, "deleting the sessions of a key", err);
    }
    err = sl_state_put(st, w->kb.buf, w->kb.len, v->buf, v->len, 0);
    if (err == SL_ERR_INVAL && win && n == 1) /* the only cause with a non-empty key: the size */
        return sl_op_fail(op, "keyed state: window [%lld, %lld) needs %zu bytes, more than "
                          "task.state.value.max-bytes", (long long)win->start,
                          (long long)win->end, v->len);
    if (err == SL_ERR_INVAL)
        return sl_op_fail(op, "keyed state: the %d open session windows of a key need %zu bytes, "
                          "more than task.state.value.max-bytes", n, v->len);
    return err == SL_OK ? SL_OK : state_fail(op, "writing the sessions of a key", err);
}

static sl_err_t session_update(sl_op_t *op, window_t *w, sl_state_t *st, int64_t ts, int64_t wm) {
    const unsigned char *g = (const unsigned char *)w->gb.buf;
    size_t glen = w->gb.len;
    int64_t lo = ts, hi = ts + w->conf->gap_ms;
    sl_sb_t key = {0}, wid = {0}, from = {0};
    win_t m, one;
    int64_t *counts = NULL;
    int same = 0; /* a session merged had m's start and end: its 'e' entry stays */
    sl_err_t err;

    memset(&m, 0, sizeof(m));
    memset(&one, 0, sizeof(one));
    if (!(m.accs = accs_new(w)) || !(counts = calloc((size_t)w->naggs + 1, sizeof(*counts)))) {
        err = sl_op_fail(op, "out of memory");
        goto done;
    }
    if ((err = sess_read(op, w, st, g, glen)) != SL_OK)
        goto done;
    /* The merged window covers the record's [lo, hi) and every session that intersects it
     * (Flink's TimeWindow.intersects: touching windows merge too). */
    m.start = lo;
    m.end = hi;
    for (int i = 0; i < w->nsess; i++) {
        sess_t *s = &w->sess[i];
        s->gone = s->start <= hi && s->end >= lo;
        if (!s->gone)
            continue;
        if (s->start < m.start)
            m.start = s->start;
        if (s->end > m.end)
            m.end = s->end;
    }
    /* Accumulators merge in start order (the list's); distinct sets become the union, under the
     * merged window's start: the set already there is the base count, the others move to it. */
    wid_make(w, &wid, m.start, m.end, g, glen);
    for (int i = 0; i < w->nsess; i++) {
        const sess_t *s = &w->sess[i];
        if (!s->gone)
            continue;
        if (sess_accs(w, s, &one) < 0) {
            err = sl_op_fail(op, "the keyed state of window [%lld, %lld) is malformed "
                             "(%zu bytes)", (long long)s->start, (long long)s->end, s->alen);
            goto done;
        }
        m.emitted |= one.emitted;
        m.pending |= one.pending;
        for (int a = 0; a < w->naggs; a++)
            if (acc_merge(&m.accs[a], &one.accs[a], w->aggs[a].kind) < 0) {
                err = sl_op_fail(op, "out of memory");
                goto done;
            }
        if (s->start == m.start) {
            for (int a = 0; a < w->naggs; a++)
                if (w->aggs[a].kind == AGG_DISTINCT)
                    counts[a] += one.accs[a].count;
        } else if (has_distinct_values(w, &one)) {
            wid_make(w, &from, s->start, 0, g, glen);
            if ((err = distinct_move(w, st, &from, &wid, counts)) != SL_OK) {
                err = state_fail(op, "merging session windows", err);
                goto done;
            }
        }
        accs_free(w, one.accs);
        one.accs = NULL;
    }
    for (int a = 0; a < w->naggs; a++)
        if (acc_add(&m.accs[a], w->aggs[a].kind, &w->vals[a]) < 0) {
            err = sl_op_fail(op, "out of memory");
            goto done;
        }
    for (int a = 0; a < w->naggs; a++)
        if (w->aggs[a].kind == AGG_DISTINCT)
            m.accs[a].count = counts[a];
    if ((err = distinct_add(op, w, st, &wid, &m)) != SL_OK)
        goto done;
    /* The merged sessions leave the end index, except one that m's entry would replace. */
    for (int i = 0; i < w->nsess; i++) {
        const sess_t *s = &w->sess[i];
        if (!s->gone)
            continue;
        if (s->start == m.start && s->end == m.end) {
            same = 1;
            continue;
        }
        ekey(&key, g, glen, s->start, s->end);
        err = key.oom ? SL_ERR_NOMEM : sl_state_delete(st, key.buf, key.len);
        if (err != SL_OK) {
            err = state_fail(op, "merging session windows", err);
            goto done;
        }
    }
    if (m.end - 1 <= wm) {
        if ((err = emit_window(op, w, g, glen, &m, m.emitted)) != SL_OK)
            goto done;
        m.emitted = 1;
        m.pending = 0;
    } else if (m.emitted) {
        m.pending = 1; /* it grew past the watermark: out again when it is due */
    }
    if ((err = sess_write(op, w, st, g, glen, &m)) != SL_OK)
        goto done;
    note_end(w, m.end);
    if (!same) {
        ekey(&key, g, glen, m.start, m.end);
        if (key.oom || (err = sl_state_put(st, key.buf, key.len, "", 0, 0)) != SL_OK)
            err = state_fail(op, "indexing a session window", key.oom ? SL_ERR_NOMEM : err);
    }
done:
    accs_free(w, one.accs);
    accs_free(w, m.accs);
    free(counts);
    sl_sb_free(&key);
    sl_sb_free(&wid);
    sl_sb_free(&from);
    return err;
}

/* --- closing windows ------------------------------------------------------------------------- */

typedef struct close_scan {
    sl_op_t *op;
    window_t *w;
    sl_state_t *st;
    int64_t wm;
    int emit; /* emit the windows not emitted yet */
    sl_err_t err;
} close_scan_t;

/* One window the watermark reached: out if it was not, deleted once past the lateness. */
static int close_cb(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    close_scan_t *c = opaque;
    window_t *w = c->w;
    const unsigned char *k = key;
    const unsigned char *g;
    size_t glen;
    sl_sb_t wid = {0}, kk = {0};
    sess_t *s = NULL;
    win_t win;
    rd_t r;
    int64_t start, end;
    int session = w->conf->kind == W_SESSION;

    memset(&win, 0, sizeof(win));
    if (klen < 1 + 8 + 5 + 8) {
        c->err = sl_op_fail(c->op, "a window key in the keyed state is malformed");
        return 1;
    }
    end = get_be64(k + 1);
    if (session) {
        /* An index entry: the session is in its key's list. */
        glen = klen - 1 - 8 - 8;
        g = k + 9;
        start = get_be64(k + klen - 8);
        if ((c->err = sess_read(c->op, w, c->st, g, glen)) != SL_OK)
            goto out;
        for (int i = 0; i < w->nsess && !s; i++)
            if (w->sess[i].start == start)
                s = &w->sess[i];
        if (!s) {
            c->err = state_fail(c->op, "reading a session window", SL_ERR_NOENT);
            goto out;
        }
        if (s->end != end || sess_accs(w, s, &win) < 0) {
            c->err = sl_op_fail(c->op, "the keyed state of window [%lld, %lld) is malformed",
                                (long long)start, (long long)end);
            goto out;
        }
        s->gone = 1; /* written back below as win, or not at all */
    } else {
        start = get_be64(k + 9);
        g = k + 17;
        glen = klen - 17;
        memset(&r, 0, sizeof(r));
        r.p = val;
        r.n = vlen;
        if (rd_accs(w, &r, &win) < 0) {
            c->err = sl_op_fail(c->op, "the keyed state of window [%lld, %lld) is malformed",
                                (long long)start, (long long)end);
            goto out;
        }
    }
    win.start = start;
    win.end = end;
    if (c->emit && (!win.emitted || win.pending)) {
        if ((c->err = emit_window(c->op, w, g, glen, &win, win.emitted)) != SL_OK)
            goto out;
        win.emitted = 1;
        win.pending = 0;
    }
    if (w->conf->time == T_PROCESSING || end - 1 + w->lateness <= c->wm) {
        /* Past the lateness: gone, with its distinct values. */
        c->err = sl_state_delete(c->st, key, klen);
        if (c->err != SL_OK) {
            c->err = state_fail(c->op, "deleting a closed window", c->err);
            goto out;
        }
        if (session && (c->err = sess_write(c->op, w, c->st, g, glen, NULL)) != SL_OK)
            goto out;
        /* A session's distinct values go with it; those of tumbling and hopping windows go
         * by range in close_windows(). */
        wid_make(w, &wid, start, end, g, glen);
        if (session && has_distinct_values(w, &win) &&
            (c->err = distinct_move(w, c->st, &wid, NULL, NULL)) != SL_OK)
            c->err = state_fail(c->op, "deleting a closed window", c->err);
    } else if (session) {
        c->err = sess_write(c->op, w, c->st, g, glen, &win);
    } else {
        sl_sb_append(&kk, key, klen);
        c->err = write_win(c->op, w, c->st, &kk, &win);
    }
out:
    accs_free(w, win.accs);
    sl_sb_free(&wid);
    sl_sb_free(&kk);
    return c->err != SL_OK;
}

/* Scans the windows (or session index entries) with end in [lo_end, hi_end) with close_cb. */
static sl_err_t close_range(sl_op_t *op, window_t *w, sl_state_t *st, int64_t wm, int64_t lo_end,
                            int64_t hi_end, int emit) {
    char tag = w->conf->kind == W_SESSION ? 'e' : 'a';
    sl_sb_t lo = {0}, hi = {0};
    close_scan_t c;
    sl_err_t err;

    memset(&c, 0, sizeof(c));
    c.op = op;
    c.w = w;
    c.st = st;
    c.wm = wm;
    c.emit = emit;
    sl_sb_putc(&lo, tag);
    put_be64(&lo, lo_end);
    sl_sb_putc(&hi, tag);
    if (hi_end == INT64_MAX && !hi.oom)
        hi.buf[0]++; /* the end of the tag's range */
    else
        put_be64(&hi, hi_end);
    err = lo.oom || hi.oom ? SL_ERR_NOMEM
                           : sl_state_scan_range(st, lo.buf, lo.len, hi.buf, hi.len, close_cb, &c);
    sl_sb_free(&lo);
    sl_sb_free(&hi);
    if (err == 1)
        return c.err;
    if (err != SL_OK)
        return state_fail(op, "scanning the windows to close", err);
    return SL_OK;
}

/* The watermark (or processing time) reached wm: emit the windows ending by it, delete those
 * past the allowed lateness. */
static sl_err_t close_windows(sl_op_t *op, window_t *w, int64_t wm) {
    sl_state_t *st = sl_op_state(op);
    int64_t from, upto, gone;
    int fired_some = 0, deleted = 0;
    sl_err_t err;

    if (!st)
        return SL_OK;
    if ((err = load_fired(op, w, st)) != SL_OK)
        return err;
    if (wm <= w->fired)
        return SL_OK;
    /* Windows whose end - 1 lies in (fired, wm]: ends in [fired + 2, wm + 2). */
    from = w->fired == SL_WATERMARK_NONE ? INT64_MIN : w->fired + 2;
    upto = wm >= INT64_MAX - 2 ? INT64_MAX : wm + 2;
    if (w->next_fire == NEXT_UNKNOWN && (err = first_end(op, w, st, from, &w->next_fire)) != SL_OK)
        return err;
    if (w->next_fire < upto) {
        if ((err = close_range(op, w, st, wm, from, upto, 1)) != SL_OK)
            return err;
        w->next_fire = NEXT_UNKNOWN;
        if (upto != INT64_MAX && (err = first_end(op, w, st, upto, &w->next_fire)) != SL_OK)
            return err;
        if (upto == INT64_MAX)
            w->next_fire = INT64_MAX;
        w->next_gone = NEXT_UNKNOWN;
        fired_some = 1;
        deleted = w->lateness == 0 || w->conf->time == T_PROCESSING;
    }
    if (w->lateness > 0 && w->conf->time == T_EVENT) {
        /* Kept for late records until end - 1 + lateness <= wm: ends below wm - lateness + 2. */
        gone = wm >= INT64_MAX - 2 ? INT64_MAX : wm - w->lateness + 2;
        if (w->next_gone == NEXT_UNKNOWN &&
            (err = first_end(op, w, st, INT64_MIN, &w->next_gone)) != SL_OK)
            return err;
        if (gone > INT64_MIN && w->next_gone < gone) {
            if ((err = close_range(op, w, st, wm, INT64_MIN, gone, 0)) != SL_OK)
                return err;
            deleted = 1;
            if ((err = first_end(op, w, st, INT64_MIN, &w->next_gone)) != SL_OK)
                return err;
        }
    }
    if (deleted && w->has_distinct && w->conf->kind != W_SESSION) {
        /* Every window ending before dgone is gone: so are its distinct values. */
        int64_t dgone = w->lateness > 0 && w->conf->time == T_EVENT
                            ? (wm >= INT64_MAX - 2 ? INT64_MAX : wm - w->lateness + 2)
                            : upto;
        if (dgone > w->dgone && (err = distinct_drop(op, w, st, w->dgone, dgone)) != SL_OK)
            return err;
        if (dgone > w->dgone)
            w->dgone = dgone;
    }
    w->fired = wm;
    /* Kept only when windows went out (a restart re-reads the windows of a lower mark and
     * finds them marked emitted); at the end of the input not at all: appended input continues
     * from the watermark of its data. */
    if (!fired_some || wm == SL_WATERMARK_END)
        return SL_OK;
    return put_meta(op, st, 'f', wm);
}

/* --- the operator ---------------------------------------------------------------------------- */

static void window_close(sl_op_t *op, void *state) {
    window_t *w = state;
    (void)op;
    if (!w)
        return;
    expr_db_close(w->db);
    free(w->own_conf);
    for (int i = 0; i < w->naggs; i++)
        free(w->aggs[i].alias);
    free(w->aggs);
    free(w->vals);
    sl_sb_free(&w->kb);
    sl_sb_free(&w->vb);
    sl_sb_free(&w->lb);
    free(w->sess);
    sl_sb_free(&w->gb);
    sl_sb_free(&w->out);
    free(w);
}

/* Splits the aggregates list at the commas outside parentheses and quotes. Returns the number
 * of items (at most max), -1 on unbalanced text. */
static int split_aggs(char *text, char **items, int max) {
    int n = 0, depth = 0;
    char quote = 0, *start = text;
    for (char *p = text;; p++) {
        if (quote) {
            if (!*p)
                return -1;
            if (*p == quote)
                quote = 0;
            continue;
        }
        if (*p == '\'' || *p == '"' || *p == '`')
            quote = *p;
        else if (*p == '(')
            depth++;
        else if (*p == ')' && --depth < 0)
            return -1;
        else if ((*p == ',' && depth == 0) || !*p) {
            int end = !*p;
            if (depth)
                return -1;
            *p = '\0';
            if (n == max)
                return max + 1;
            items[n++] = start;
            if (end)
                break;
            start = p + 1;
        }
    }
    return n;
}

static int ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Parses one "func(arg) [AS name]" into a. */
static sl_err_t parse_agg(sl_op_t *op, window_t *w, char *item, agg_t *a) {
    char *s = sl_trim(item), *open, *close, *name = NULL, *arg;
    size_t flen;
    int depth = 0;
    static const struct {
        const char *name;
        agg_kind_t kind;
    } funcs[] = {{"count", AGG_COUNT},     {"sum", AGG_SUM},
                 {"avg", AGG_AVG},         {"min", AGG_MIN},
                 {"max", AGG_MAX},         {"first_value", AGG_FIRST},
                 {"first", AGG_FIRST},     {"last_value", AGG_LAST},
                 {"last", AGG_LAST},       {"count_distinct", AGG_DISTINCT}};
    int found = -1;

    if (!*s)
        return expr_fail_conf(op, "aggregates", "an empty aggregate (two commas in a row?)");
    open = strchr(s, '(');
    if (!open)
        return expr_fail_conf(op, "aggregates", "'%s' is not an aggregate call such as sum(x)", s);
    flen = (size_t)(open - s);
    while (flen && (s[flen - 1] == ' ' || s[flen - 1] == '\t'))
        flen--;
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
        if (strlen(funcs[i].name) == flen && strncasecmp(s, funcs[i].name, flen) == 0)
            found = (int)i;
    if (found < 0)
        return expr_fail_conf(op, "aggregates",
                              "unknown aggregate '%.*s' (known: count, sum, avg, min, max, "
                              "first_value, last_value, count(DISTINCT x))",
                              (int)flen, s);
    a->kind = funcs[found].kind;
    /* The matching parenthesis. */
    for (close = open; *close; close++) {
        if (*close == '(')
            depth++;
        else if (*close == ')' && --depth == 0)
            break;
        else if (*close == '\'' || *close == '"') {
            char q = *close;
            while (*++close && *close != q)
                ;
            if (!*close)
                break;
        }
    }
    if (*close != ')')
        return expr_fail_conf(op, "aggregates", "unbalanced parentheses in '%s'", s);
    *close = '\0';
    arg = sl_trim(open + 1);
    name = sl_trim(close + 1);
    if (*name) {
        if (strncasecmp(name, "as", 2) == 0 && (name[2] == ' ' || name[2] == '\t'))
            name = sl_trim(name + 2);
        for (char *p = name; *p; p++)
            if (!ident_char(*p))
                return expr_fail_conf(op, "aggregates",
                                      "the name of an aggregate must be a plain word (letters, "
                                      "digits, '_'), not '%s'", name);
    }
    if (a->kind == AGG_COUNT && strncasecmp(arg, "distinct", 8) == 0 && !ident_char(arg[8])) {
        a->kind = AGG_DISTINCT;
        arg = sl_trim(arg + 8);
    }
    if (a->kind == AGG_COUNT && strcmp(arg, "*") == 0) {
        a->kind = AGG_COUNT_STAR;
        arg = NULL;
    }
    if (arg && !*arg)
        return expr_fail_conf(op, "aggregates", "%s() needs an argument", agg_names[a->kind]);
    if (!(a->alias = sl_strdup(*name ? name : agg_names[a->kind])))
        return expr_fail_conf(op, "aggregates", "out of memory");
    if (strcmp(a->alias, "key") == 0 || strcmp(a->alias, "window_start") == 0 ||
        strcmp(a->alias, "window_end") == 0 || strcmp(a->alias, "update") == 0)
        return expr_fail_conf(op, "aggregates", "the name '%s' is taken by the output's own "
                              "field: name the aggregate with AS", a->alias);
    for (int i = 0; i < w->naggs; i++)
        if (strcmp(w->aggs[i].alias, a->alias) == 0)
            return expr_fail_conf(op, "aggregates", "two aggregates are named '%s': name them "
                                  "with AS", a->alias);
    if (arg)
        return expr_compile(w->db, op, "aggregates", arg, 0, &a->ex);
    return SL_OK;
}

static sl_err_t window_setup(sl_op_t *op, const window_conf_t *wc, window_conf_t *own,
                             void **statep);

static sl_err_t window_init(sl_op_t *op, const void *conf, void **statep) {
    const window_conf_t *wc = conf;
    const char *part = sl_op_partition(op);

    if (part && *part && !sl_op_state(op))
        return sl_op_fail(op, "window needs keyed state, and partition %s has none: its input "
                          "keeps no checkpoints (stdin, for one)", part);
    if (wc->kind == W_SESSION) {
        if (wc->gap_ms <= 0)
            return expr_fail_conf(op, "gap", "a session window needs a gap > 0");
        if (wc->size_ms || wc->slide_ms || wc->offset_ms)
            return expr_fail_conf(op, wc->size_ms ? "size" : wc->slide_ms ? "slide" : "offset",
                                  "a session window has a gap, not a size, slide or offset");
    } else {
        if (wc->size_ms <= 0)
            return expr_fail_conf(op, "size", "a %s window needs a size > 0",
                                  wc->kind == W_TUMBLING ? "tumbling" : "hopping");
        if (wc->gap_ms)
            return expr_fail_conf(op, "gap", "only a session window has a gap");
        if (wc->kind == W_HOPPING && wc->slide_ms <= 0)
            return expr_fail_conf(op, "slide", "a hopping window needs a slide > 0");
        if (wc->kind == W_TUMBLING && wc->slide_ms && wc->slide_ms != wc->size_ms)
            return expr_fail_conf(op, "slide", "a tumbling window slides by its size: use "
                                  "window=hopping for another slide");
        if (wc->kind == W_HOPPING && wc->size_ms / wc->slide_ms > 10000)
            return expr_fail_conf(op, "slide", "a record would belong to %lld windows: at most "
                                  "10000 (size / slide)", (long long)(wc->size_ms / wc->slide_ms));
    }
    if (wc->time == T_PROCESSING && wc->lateness_ms)
        return expr_fail_conf(op, "allowed-lateness",
                              "processing-time windows have no late records");
    return window_setup(op, wc, NULL, statep);
}

/* What the window and aggregate operators share: the expressions, the aggregates, the late
 * output, the metrics. own (may be NULL) is a conf the state owns from then on. */
static sl_err_t window_setup(sl_op_t *op, const window_conf_t *wc, window_conf_t *own,
                             void **statep) {
    char *text = NULL, *items[33];
    window_t *w;
    sl_err_t err;
    int n;

    if (!(w = calloc(1, sizeof(*w)))) {
        free(own);
        return expr_fail_conf(op, "window", "out of memory");
    }
    w->conf = wc;
    w->own_conf = own;
    w->size = wc->size_ms;
    w->slide = wc->kind == W_HOPPING ? wc->slide_ms : wc->size_ms;
    w->lateness = wc->lateness_ms;
    w->late_out = -1;
    w->fired = SL_WATERMARK_NONE;
    w->next_fire = w->next_gone = NEXT_UNKNOWN;
    w->dgone = INT64_MIN;
    if ((err = expr_db_open(op, &w->db)) != SL_OK)
        goto fail;
    if ((err = expr_compile(w->db, op, "key", wc->key, 0, &w->key)) != SL_OK)
        goto fail;
    if (!(text = sl_strdup(wc->aggregates ? wc->aggregates : ""))) {
        err = expr_fail_conf(op, "aggregates", "out of memory");
        goto fail;
    }
    n = split_aggs(text, items, 32);
    if (n < 0 || n > 32) {
        err = expr_fail_conf(op, "aggregates", n < 0 ? "unbalanced parentheses or quotes"
                                                     : "more than 32 aggregates");
        goto fail;
    }
    if (!(w->aggs = calloc((size_t)n + 1, sizeof(*w->aggs))) ||
        !(w->vals = calloc((size_t)n + 1, sizeof(*w->vals)))) {
        err = expr_fail_conf(op, "aggregates", "out of memory");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if ((err = parse_agg(op, w, items[i], &w->aggs[i])) != SL_OK) {
            free(w->aggs[i].alias);
            goto fail;
        }
        w->has_distinct |= w->aggs[i].kind == AGG_DISTINCT;
        w->naggs++;
    }
    if (wc->late_output && *wc->late_output) {
        if (wc->time == T_PROCESSING) {
            err = expr_fail_conf(op, "late-output", "processing-time windows have no late "
                                 "records");
            goto fail;
        }
        w->late_out = sl_op_output(op, wc->late_output);
        if (w->late_out < 0) {
            err = expr_fail_conf(op, "late-output", "'%s' is not an entry of task.outputs",
                                 wc->late_output);
            goto fail;
        }
    }
    w->m_late = sl_op_counter(op, "sluice_window_late_records_total",
                              "Records a window operator found too late for every window they "
                              "belong to (sent to its late-output, else dropped).");
    w->m_emitted = sl_op_counter(op, "sluice_window_results_total",
                                 "Window results emitted (updates included).");
    if (wc->time == T_PROCESSING && wc->kind != W_GLOBAL)
        sl_op_set_timer(op, 100);
    free(text);
    *statep = w;
    return SL_OK;
fail:
    free(text);
    window_close(op, w);
    return err;
}

/* The processing time: the clock, never going back (a clock set back keeps the time it had
 * reached until it catches up, with a warning). */
static int64_t proc_time(sl_op_t *op, window_t *w) {
    int64_t now = sl_op_now_ms(op);
    if (now < w->clock) {
        if (!w->clock_warned++)
            sl_log(SL_LOG_WARN, "window",
                   "operators.%s (%s), partition %s: the clock went back from %lld to %lld ms; "
                   "processing-time windows keep %lld until it catches up",
                   sl_op_name(op), sl_op_where(op, NULL), sl_op_partition(op),
                   (long long)w->clock, (long long)now, (long long)w->clock);
        return w->clock;
    }
    w->clock_warned = 0;
    w->clock = now;
    return now;
}

static int64_t floor_mod(int64_t a, int64_t b) {
    int64_t m = a % b;
    return m < 0 ? m + b : m;
}

static sl_err_t late_record(sl_op_t *op, window_t *w, sl_record_t *rec) {
    sl_op_counter_add(w->m_late, 1);
    if (w->late_out >= 0)
        return sl_op_emit_to(op, w->late_out, rec);
    return SL_OK;
}

/* Evaluates the group (into w->gb) and the aggregates' arguments (into w->vals) on rec:
 * SQLite's values stay valid until reset_record(w, *evaluated). */
static sl_err_t eval_record(sl_op_t *op, window_t *w, sl_record_t *rec, int *evaluated) {
    sqlite3_value *v;
    sl_err_t err;
    tval_t g;

    *evaluated = 0;
    expr_bind(w->db, rec);
    if ((err = expr_sqlvalue(w->key, op, &v)) != SL_OK)
        return err;
    tval_from(&g, v);
    sb_reset(&w->gb);
    group_encode(&w->gb, &g);
    expr_reset(w->key);
    if (w->gb.oom)
        return sl_op_fail(op, "out of memory");
    for (int i = 0; i < w->naggs; i++) {
        if (!w->aggs[i].ex) {
            w->vals[i].type = SQLITE_NULL;
            continue;
        }
        if ((err = expr_sqlvalue(w->aggs[i].ex, op, &v)) != SL_OK)
            return err;
        *evaluated = i + 1;
        tval_from(&w->vals[i], v);
    }
    return SL_OK;
}

static void reset_record(window_t *w, int evaluated) {
    for (int i = 0; i < evaluated; i++)
        if (w->aggs[i].ex)
            expr_reset(w->aggs[i].ex);
    expr_bind(w->db, NULL);
}

static sl_err_t window_process(sl_op_t *op, void *state, sl_record_t *rec) {
    window_t *w = state;
    sl_state_t *st = sl_op_state(op);
    int64_t ts, wm;
    int evaluated = 0, any = 0;
    sl_err_t err;

    if (!st)
        return sl_op_fail(op, "no keyed state for partition %s",
                          sl_op_partition(op) ? sl_op_partition(op) : "-");
    if ((err = load_fired(op, w, st)) != SL_OK)
        return err;
    if (w->conf->time == T_EVENT) {
        ts = sl_record_event_time(rec);
        if (ts == 0)
            return sl_op_fail(op, "the record has no event time (its source has none: set "
                              "task.timestamp.expr, or use time=processing)");
        wm = sl_op_watermark(op);
    } else {
        int64_t before = w->clock;
        ts = proc_time(op, w);
        wm = ts - 1;
        if (ts != before && (err = put_meta(op, st, 'c', ts)) != SL_OK)
            return err;
    }
    if (w->conf->time == T_EVENT && w->conf->kind == W_SESSION &&
        ts + w->conf->gap_ms - 1 + w->lateness <= wm)
        return late_record(op, w, rec);

    if ((err = eval_record(op, w, rec, &evaluated)) != SL_OK)
        goto out;
    if (w->conf->kind == W_SESSION) {
        err = session_update(op, w, st, ts, wm);
    } else {
        /* The windows holding ts: starts last, last - slide, ... above ts - size. */
        int64_t last = ts - floor_mod(ts - w->conf->offset_ms, w->slide);
        for (int64_t start = last; start > ts - w->size && err == SL_OK; start -= w->slide) {
            int64_t end = start + w->size;
            if (w->conf->time == T_EVENT && end - 1 + w->lateness <= wm)
                continue; /* too late for this one */
            any = 1;
            err = fixed_update(op, w, st, start, end, wm);
        }
        if (err == SL_OK && !any) {
            reset_record(w, evaluated);
            return late_record(op, w, rec);
        }
    }
out:
    reset_record(w, evaluated);
    return err; /* processing-time windows close from the timer */
}

static sl_err_t window_watermark(sl_op_t *op, void *state, int64_t wm) {
    window_t *w = state;
    if (w->conf->time != T_EVENT)
        return SL_OK;
    return close_windows(op, w, wm);
}

static sl_err_t window_timer(sl_op_t *op, void *state, int64_t now_ms) {
    window_t *w = state;
    sl_state_t *st = sl_op_state(op);
    int64_t before = w->clock, now;
    sl_err_t err;
    (void)now_ms;
    if (w->conf->time != T_PROCESSING || !st)
        return SL_OK;
    if ((err = load_fired(op, w, st)) != SL_OK)
        return err;
    now = proc_time(op, w);
    if (now != before && (err = put_meta(op, st, 'c', now)) != SL_OK)
        return err;
    /* Like process (wm = ts - 1): a record may still come at the current ms. */
    return close_windows(op, w, now - 1);
}

const sl_operator_plugin_t sl_op_window = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "window",
    .description = "Tumbling, hopping and session windows per key with SQL aggregates "
                   "(keyed state, event or processing time).",
    .props = window_props,
    .conf_size = sizeof(window_conf_t),
    .init = window_init,
    .process = window_process,
    .timer = window_timer,
    .close = window_close,
    .on_watermark = window_watermark,
    .flags = SL_OPERATOR_F_STATEFUL,
};

/* --- the aggregate operator: running aggregates per key, no windows -------------------------- */

typedef struct aggregate_conf {
    char *key;
    char *aggregates;
    int emit;
    int64_t interval_ms;
} aggregate_conf_t;

enum { EMIT_CHANGE, EMIT_INTERVAL };

static const sl_prop_t aggregate_props[] = {
    {"key", SL_PROP_STRING, offsetof(aggregate_conf_t, key), "key", 0, 0, NULL, 0,
     "SQLite expression grouping the records, as the window operator's `key`. Aggregates are "
     "per partition: group by the key the input is partitioned by, or repartition first."},
    {"aggregates", SL_PROP_STRING, offsetof(aggregate_conf_t, aggregates), "count(*) AS count",
     0, 0, NULL, 0,
     "The running aggregates, as the window operator's `aggregates` (count, sum, avg, min, max, "
     "first_value, last_value, count(DISTINCT x), each `AS name`). They never reset: the keyed "
     "state holds one entry per key (plus the distinct values)."},
    {"emit", SL_PROP_ENUM, offsetof(aggregate_conf_t, emit), "change", 0, 0, "change|interval",
     0,
     "`change`: every record emits its key's new totals as a JSON record {\"key\": .., "
     "<aggregates>}. `interval`: every `interval` of processing time, each key that changed "
     "since the last emission emits its totals once."},
    {"interval", SL_PROP_DURATION, offsetof(aggregate_conf_t, interval_ms), "1s", 10, 8.64e7,
     NULL, 0, "With emit=interval: how often the changed keys are emitted."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

typedef struct aggregate {
    window_t *w;
    int emit;
} aggregate_t;

static void aggregate_close(sl_op_t *op, void *state) {
    aggregate_t *a = state;
    if (!a)
        return;
    window_close(op, a->w);
    free(a);
}

static sl_err_t aggregate_init(sl_op_t *op, const void *conf, void **statep) {
    const aggregate_conf_t *ac = conf;
    const char *part = sl_op_partition(op);
    window_conf_t *wc;
    aggregate_t *a;
    void *w = NULL;
    sl_err_t err;

    if (part && *part && !sl_op_state(op))
        return sl_op_fail(op, "aggregate needs keyed state, and partition %s has none: its "
                          "input keeps no checkpoints (stdin, for one)", part);
    if (!(a = calloc(1, sizeof(*a))) || !(wc = calloc(1, sizeof(*wc)))) {
        free(a);
        return expr_fail_conf(op, "aggregates", "out of memory");
    }
    wc->kind = W_GLOBAL;
    wc->time = T_PROCESSING;
    wc->key = ac->key;
    wc->aggregates = ac->aggregates;
    if ((err = window_setup(op, wc, wc, &w)) != SL_OK) {
        free(a);
        return err; /* wc went with the failed setup */
    }
    a->w = w;
    a->emit = ac->emit;
    if (a->emit == EMIT_INTERVAL)
        sl_op_set_timer(op, ac->interval_ms);
    *statep = a;
    return SL_OK;
}

/* The entry of the current group (w->gb): 'g' and the group. */
static void gkey(window_t *w, sl_sb_t *sb, char tag, const void *g, size_t glen) {
    sb_reset(sb);
    sl_sb_putc(sb, tag);
    sl_sb_append(sb, g, glen);
    (void)w;
}

/* Reads the totals of group g into win (fresh ones when absent). */
static sl_err_t totals_read(sl_op_t *op, window_t *w, sl_state_t *st, const sl_sb_t *key,
                            win_t *win, int *found) {
    const void *val;
    size_t vlen;
    rd_t r;
    sl_err_t err = sl_state_get(st, key->buf, key->len, &val, &vlen);
    memset(win, 0, sizeof(*win));
    *found = err == SL_OK;
    if (err == SL_ERR_NOENT)
        return (win->accs = accs_new(w)) ? SL_OK : sl_op_fail(op, "out of memory");
    if (err != SL_OK)
        return state_fail(op, "reading a key's totals", err);
    memset(&r, 0, sizeof(r));
    r.p = val;
    r.n = vlen;
    if (rd_accs(w, &r, win) < 0)
        return sl_op_fail(op, "the keyed state of a key's totals is malformed (%zu bytes)", vlen);
    return SL_OK;
}

static sl_err_t aggregate_process(sl_op_t *op, void *state, sl_record_t *rec) {
    aggregate_t *a = state;
    window_t *w = a->w;
    sl_state_t *st = sl_op_state(op);
    sl_sb_t key = {0}, wid = {0};
    int evaluated = 0, found;
    win_t win;
    sl_err_t err;

    memset(&win, 0, sizeof(win));
    if (!st)
        return sl_op_fail(op, "no keyed state for partition %s",
                          sl_op_partition(op) ? sl_op_partition(op) : "-");
    if ((err = eval_record(op, w, rec, &evaluated)) != SL_OK)
        goto out;
    gkey(w, &key, 'g', w->gb.buf, w->gb.len);
    if (key.oom) {
        err = sl_op_fail(op, "out of memory");
        goto out;
    }
    if ((err = totals_read(op, w, st, &key, &win, &found)) != SL_OK)
        goto out;
    for (int i = 0; i < w->naggs; i++)
        if (acc_add(&win.accs[i], w->aggs[i].kind, &w->vals[i]) < 0) {
            err = sl_op_fail(op, "out of memory");
            goto out;
        }
    wid_make(w, &wid, 0, 0, (const unsigned char *)w->gb.buf, w->gb.len);
    if ((err = distinct_add(op, w, st, &wid, &win)) != SL_OK)
        goto out;
    if ((err = write_win(op, w, st, &key, &win)) != SL_OK)
        goto out;
    if (a->emit == EMIT_CHANGE) {
        err = emit_window(op, w, (const unsigned char *)w->gb.buf, w->gb.len, &win, 0);
    } else {
        /* Marked as changed: the next interval emits it. */
        gkey(w, &key, 'c', w->gb.buf, w->gb.len);
        err = key.oom ? SL_ERR_NOMEM : sl_state_put(st, key.buf, key.len, "", 0, 0);
        if (err != SL_OK)
            err = state_fail(op, "marking a key as changed", err);
    }
out:
    reset_record(w, evaluated);
    accs_free(w, win.accs);
    sl_sb_free(&key);
    sl_sb_free(&wid);
    return err;
}

typedef struct changed_scan {
    sl_op_t *op;
    window_t *w;
    sl_state_t *st;
    sl_err_t err;
} changed_scan_t;

static int changed_cb(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    changed_scan_t *c = opaque;
    const unsigned char *g = (const unsigned char *)key + 1;
    sl_sb_t tk = {0};
    win_t win;
    int found;
    (void)val;
    (void)vlen;
    gkey(c->w, &tk, 'g', g, klen - 1);
    c->err = tk.oom ? sl_op_fail(c->op, "out of memory")
                    : totals_read(c->op, c->w, c->st, &tk, &win, &found);
    if (c->err == SL_OK && found)
        c->err = emit_window(c->op, c->w, g, klen - 1, &win, 0);
    if (c->err == SL_OK && (c->err = sl_state_delete(c->st, key, klen)) != SL_OK)
        c->err = state_fail(c->op, "unmarking an emitted key", c->err);
    accs_free(c->w, win.accs);
    sl_sb_free(&tk);
    return c->err != SL_OK;
}

static sl_err_t aggregate_timer(sl_op_t *op, void *state, int64_t now_ms) {
    aggregate_t *a = state;
    changed_scan_t c;
    sl_err_t err;
    (void)now_ms;
    memset(&c, 0, sizeof(c));
    c.op = op;
    c.w = a->w;
    c.st = sl_op_state(op);
    if (a->emit != EMIT_INTERVAL || !c.st)
        return SL_OK;
    err = sl_state_scan_prefix(c.st, "c", 1, changed_cb, &c);
    if (err == 1)
        return c.err;
    return err == SL_OK ? SL_OK : state_fail(op, "reading the changed keys", err);
}

/* The end of the input, a stop or a release: what changed since the last interval goes out. */
static sl_err_t aggregate_flush(sl_op_t *op, void *state) {
    return aggregate_timer(op, state, 0);
}

const sl_operator_plugin_t sl_op_aggregate = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "aggregate",
    .description = "Running aggregates per key without windows (keyed state), emitted on every "
                   "change or every interval.",
    .props = aggregate_props,
    .conf_size = sizeof(aggregate_conf_t),
    .init = aggregate_init,
    .process = aggregate_process,
    .timer = aggregate_timer,
    .flush = aggregate_flush,
    .close = aggregate_close,
    .flags = SL_OPERATOR_F_STATEFUL,
};
