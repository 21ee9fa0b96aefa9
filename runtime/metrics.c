/*
 * metrics.c: the metrics registry and its Prometheus text exposition (format 0.0.4). Workers,
 * connectors and the job look a metric up once by (name, labels) and keep the pointer; updates
 * are then relaxed atomics on the hot path, with no lock. The registry itself (a sorted array, so
 * rendering is deterministic: by name, then labels) takes a mutex only to create a metric or to
 * render; metrics_http.c serves the rendered text on GET /metrics.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "sluice/log.h"

/* Histogram bucket upper bounds in ms; the last bucket (+Inf) is implicit. */
static const double hist_bounds[] = {1, 5, 10, 50, 100, 500, 1000, 5000, 10000};
static const char *const hist_le[] = {"1",   "5",    "10",   "50",    "100",
                                      "500", "1000", "5000", "10000", "+Inf"};
#define HIST_NB (sizeof(hist_bounds) / sizeof(hist_bounds[0]) + 1)

/* A histogram keeps per-bucket (not cumulative) counts and the sum as the bit pattern of a
 * double, updated with a compare-and-swap loop: observing stays lock-free. The count is not
 * stored: it is the total of the buckets, so _count always equals the +Inf bucket even while
 * other threads observe during a render (the sum may then lag by those observations, which
 * Prometheus tolerates). */
struct sl_metric {
    sl_metric_kind_t kind;
    char *name, *labels, *help; /* labels "" when none */
    int64_t value;              /* counter, gauge */
    uint64_t buckets[HIST_NB];  /* histogram */
    uint64_t sum_bits;          /* histogram: a double */
};

struct sl_metrics {
    pthread_mutex_t lock; /* guards v, n, cap (not the values of the metrics) */
    sl_metric_t **v;      /* sorted by name, then labels */
    size_t n, cap;
};

sl_metrics_t *sl_metrics_new(void) {
    sl_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void metric_free(sl_metric_t *mt) {
    if (!mt)
        return;
    free(mt->name);
    free(mt->labels);
    free(mt->help);
    free(mt);
}

void sl_metrics_destroy(sl_metrics_t *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        metric_free(m->v[i]);
    free(m->v);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* A Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static int name_valid(const char *s) {
    if (!*s || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
        return 0;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':'))
            return 0;
    return 1;
}

/* A label list without braces: name="value" pairs separated by commas, values escaped as the
 * exposition format requires (\\, \", \n). One malformed list would make the whole page
 * unparseable for the scraper, so it is refused up front. A histogram may not use "le". */
static int labels_valid(const char *s, int histogram) {
    if (!*s)
        return 1;
    for (;;) {
        const char *start = s;
        if (!(isalpha((unsigned char)*s) || *s == '_'))
            return 0;
        while (isalnum((unsigned char)*s) || *s == '_')
            s++;
        if (histogram && s - start == 2 && !strncmp(start, "le", 2))
            return 0;
        if (*s++ != '=' || *s++ != '"')
            return 0;
        while (*s != '"') {
            if (!*s || *s == '\n')
                return 0;
            if (*s == '\\' && s[1] != '\\' && s[1] != '"' && s[1] != 'n')
                return 0;
            s += *s == '\\' ? 2 : 1;
        }
        s++;
        if (!*s)
            return 1;
        if (*s++ != ',')
            return 0;
    }
}

static int metric_cmp(const char *name, const char *labels, const sl_metric_t *mt) {
    int c = strcmp(name, mt->name);
    return c ? c : strcmp(labels, mt->labels);
}

/* The index of the first metric not ordered before (name, labels). */
static size_t lower_bound(const sl_metrics_t *m, const char *name, const char *labels) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (metric_cmp(name, labels, m->v[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char *kind_name(sl_metric_kind_t kind) {
    switch (kind) {
    case SL_METRIC_COUNTER: return "counter";
    case SL_METRIC_GAUGE: return "gauge";
    case SL_METRIC_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

static sl_metric_t *metric_new(sl_metric_kind_t kind, const char *name, const char *labels,
                              const char *help) {
    sl_metric_t *mt = calloc(1, sizeof(*mt));
    if (!mt || !(mt->name = strdup(name)) || !(mt->labels = strdup(labels)) ||
        !(mt->help = strdup(help ? help : ""))) {
        metric_free(mt);
        return NULL;
    }
    mt->kind = kind;
    return mt;
}

sl_metric_t *sl_metric_get(sl_metrics_t *m, sl_metric_kind_t kind, const char *name,
                           const char *labels, const char *help) {
    sl_metric_t *mt = NULL;
    size_t pos, first;

    if (!m || !name)
        return NULL;
    if (!labels)
        labels = "";
    if (kind != SL_METRIC_COUNTER && kind != SL_METRIC_GAUGE && kind != SL_METRIC_HISTOGRAM)
        return NULL;
    if (!name_valid(name) || !labels_valid(labels, kind == SL_METRIC_HISTOGRAM)) {
        sl_log(SL_LOG_ERROR, "metrics", "invalid metric name or labels: %s{%s}", name, labels);
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    /* One name has one type in the exposition, whatever its labels; every metric of a name
     * shares it, so the first one speaks for all. */
    first = lower_bound(m, name, "");
    if (first < m->n && !strcmp(m->v[first]->name, name) && m->v[first]->kind != kind) {
        sl_log(SL_LOG_ERROR, "metrics", "metric %s is a %s, cannot also be a %s", name,
               kind_name(m->v[first]->kind), kind_name(kind));
        goto out;
    }
    pos = lower_bound(m, name, labels);
    if (pos < m->n && !metric_cmp(name, labels, m->v[pos])) {
        mt = m->v[pos];
        goto out;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        sl_metric_t **v = realloc(m->v, cap * sizeof(*v));
        if (!v)
            goto out;
        m->v = v;
        m->cap = cap;
    }
    mt = metric_new(kind, name, labels, help);
    if (!mt)
        goto out;
    memmove(&m->v[pos + 1], &m->v[pos], (m->n - pos) * sizeof(*m->v));
    m->v[pos] = mt;
    m->n++;
out:
    pthread_mutex_unlock(&m->lock);
    return mt;
}

/* Counters only go up: a negative increment is a caller's bug and is ignored rather than
 * breaking rate() for every scraper. */
void sl_metric_add(sl_metric_t *mt, int64_t v) {
    if (!mt || mt->kind == SL_METRIC_HISTOGRAM || (mt->kind == SL_METRIC_COUNTER && v < 0))
        return;
    __atomic_fetch_add(&mt->value, v, __ATOMIC_RELAXED);
}

/* Also accepted on a counter, to mirror a total kept elsewhere (a client library's stats). */
void sl_metric_set(sl_metric_t *mt, int64_t v) {
    if (!mt || mt->kind == SL_METRIC_HISTOGRAM)
        return;
    __atomic_store_n(&mt->value, v, __ATOMIC_RELAXED);
}

int64_t sl_metric_value(const sl_metric_t *mt) {
    return mt ? __atomic_load_n(&mt->value, __ATOMIC_RELAXED) : 0;
}

void sl_metric_observe(sl_metric_t *mt, double v) {
    uint64_t old, nw;
    size_t b = 0;
    double sum;

    /* A NaN would poison the sum for good. */
    if (!mt || mt->kind != SL_METRIC_HISTOGRAM || isnan(v))
        return;
    while (b < HIST_NB - 1 && v > hist_bounds[b])
        b++;
    __atomic_fetch_add(&mt->buckets[b], 1, __ATOMIC_RELAXED);
    old = __atomic_load_n(&mt->sum_bits, __ATOMIC_RELAXED);
    do {
        memcpy(&sum, &old, sizeof(sum));
        sum += v;
        memcpy(&nw, &sum, sizeof(nw));
    } while (!__atomic_compare_exchange_n(&mt->sum_bits, &old, nw, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
}

/* The shortest decimal that reads back as d (Prometheus parses Go float syntax). */
static void put_double(sl_sb_t *sb, double d) {
    char buf[64];
    if (isnan(d)) {
        sl_sb_puts(sb, "NaN");
        return;
    }
    if (isinf(d)) {
        sl_sb_puts(sb, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    sl_sb_puts(sb, buf);
}

/* HELP text escapes only backslash and newline. */
static void put_help(sl_sb_t *sb, const char *s) {
    for (; *s; s++) {
        if (*s == '\\')
            sl_sb_puts(sb, "\\\\");
        else if (*s == '\n')
            sl_sb_puts(sb, "\\n");
        else
            sl_sb_putc(sb, *s);
    }
}

/* "name{labels}" or "name{labels,extra}"; braces omitted when both are empty. */
static void put_series(sl_sb_t *sb, const char *name, const char *suffix, const char *labels,
                       const char *extra) {
    sl_sb_puts(sb, name);
    sl_sb_puts(sb, suffix);
    if (!*labels && !extra)
        return;
    sl_sb_putc(sb, '{');
    sl_sb_puts(sb, labels);
    if (extra) {
        if (*labels)
            sl_sb_putc(sb, ',');
        sl_sb_puts(sb, extra);
    }
    sl_sb_putc(sb, '}');
}

static void render_histogram(sl_sb_t *sb, const sl_metric_t *mt) {
    uint64_t cum = 0, bits;
    char le[32];
    double sum;

    for (size_t b = 0; b < HIST_NB; b++) {
        cum += __atomic_load_n(&mt->buckets[b], __ATOMIC_RELAXED);
        snprintf(le, sizeof(le), "le=\"%s\"", hist_le[b]);
        put_series(sb, mt->name, "_bucket", mt->labels, le);
        sl_sb_printf(sb, " %llu\n", (unsigned long long)cum);
    }
    bits = __atomic_load_n(&mt->sum_bits, __ATOMIC_RELAXED);
    memcpy(&sum, &bits, sizeof(sum));
    put_series(sb, mt->name, "_sum", mt->labels, NULL);
    sl_sb_putc(sb, ' ');
    put_double(sb, sum);
    sl_sb_putc(sb, '\n');
    put_series(sb, mt->name, "_count", mt->labels, NULL);
    sl_sb_printf(sb, " %llu\n", (unsigned long long)cum);
}

void sl_metrics_render(sl_metrics_t *m, sl_sb_t *sb) {
    if (!m || !sb)
        return;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) {
        const sl_metric_t *mt = m->v[i];
        if (i == 0 || strcmp(m->v[i - 1]->name, mt->name) != 0) {
            /* The first non-empty help of the group speaks for the name. */
            const char *help = "";
            for (size_t j = i; j < m->n && !strcmp(m->v[j]->name, mt->name); j++)
                if (*m->v[j]->help) {
                    help = m->v[j]->help;
                    break;
                }
            if (*help) {
                sl_sb_printf(sb, "# HELP %s ", mt->name);
                put_help(sb, help);
                sl_sb_putc(sb, '\n');
            }
            sl_sb_printf(sb, "# TYPE %s %s\n", mt->name, kind_name(mt->kind));
        }
        if (mt->kind == SL_METRIC_HISTOGRAM) {
            render_histogram(sb, mt);
        } else {
            put_series(sb, mt->name, "", mt->labels, NULL);
            sl_sb_printf(sb, " %lld\n", (long long)__atomic_load_n(&mt->value, __ATOMIC_RELAXED));
        }
    }
    pthread_mutex_unlock(&m->lock);
}
