/*
 * chain.c: the operator chain between a partition's consumer and the job's producers. At
 * start-up sl_chain_spec_new() turns `task.operators` and the `operators.<name>.*` keys into a
 * validated spec (each operator's plugin, taken from the type registry or dlopen'ed from a
 * user's library, with its filled config struct); every partition's worker then builds its own
 * sl_chain_t from the spec and pushes records through it: sl_op_emit() calls the next
 * operator's process synchronously, and after the last operator the chain's sink. This file also
 * holds the sl_op_* API operators call back into and the registry of operator types.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../operators/expr.h"
#include "../operators/operators.h"
#include "chain.h"
#include "metrics.h"
#include "conf_int.h"
#include "util_str.h"
#include "util_time.h"

/* --- the generic operator table ------------------------------------------------------------- */

typedef struct op_generic {
    char *type;
    char *library;
    char *symbol;
} op_generic_t;

const sl_prop_t sl_operator_props[] = {
    {"type", SL_PROP_STRING, offsetof(op_generic_t, type), NULL, 0, 0, NULL, 0,
     "The operator's type: a built-in (filter, map, rekey, sample, log, dedup, window, "
     "aggregate, join, interval-join, repartition) or one registered with sl_operator_register(). Set either this or `library`. The instance name comes from "
     "`task.operators`, which lists the operators in chain order."},
    {"library", SL_PROP_STRING, offsetof(op_generic_t, library), NULL, 0, 0, NULL, 0,
     "Path of a shared library holding a custom operator (built against "
     "`pkg-config --cflags --libs sluice`). A relative path is tried as given, then relative to "
     "the directory of the job file. Set either this or `type`."},
    {"symbol", SL_PROP_STRING, offsetof(op_generic_t, symbol), "sluice_operator", 0, 0, NULL, 0,
     "Name of the exported `sl_operator_plugin_t` in `library`."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* --- types ---------------------------------------------------------------------------------- */

typedef struct spec_op {
    char *name;   /* instance name from task.operators */
    char *prefix; /* "operators.<name>." */
    int index;    /* position in the chain */
    const sl_operator_plugin_t *plugin;
    void *dl; /* dlopen handle when loaded from `library` */
    op_generic_t gen;
    void *obj; /* the plugin's config struct (conf_size bytes) */
} spec_op_t;

struct sl_chain_spec {
    sl_conf_t *conf;
    uint64_t seed;
    int cnt;
    spec_op_t *ops;
    spec_op_t ts; /* the pseudo-operator evaluating task.timestamp.expr (name NULL) */
    char *ts_expr;
    int64_t wm_delay;
    int64_t wm_idle; /* task.watermark.idle-timeout */
    int nouts;
    char **outs; /* task.outputs entries */
    int *side;   /* per output: claimed by sl_op_output() */
    /* Stages: each `repartition` operator ends one; stage k > 0 runs on the partitions of
     * stage_input[k] (the stream the k-th repartition writes), stage 0 on every other input.
     * stage_lo[k] is the first operator of stage k; stage_lo[nstages] == cnt. */
    int nstages;
    int *stage_lo;
    char **stage_input;
};

struct sl_op {
    sl_chain_t *chain;
    const spec_op_t *sop;
    int pos; /* position in chain->ops: sl_op_emit() goes to pos + 1 */
    int live; /* init succeeded: close is due */
    void *state;
    uint64_t rnd;
    int64_t timer_ms, next_ms;
    sl_state_t *kst; /* its keyed store, from the first sl_op_state() */
    sl_state_t *tst; /* its timers ("<name>/timers"), with the first timer or at start */
    int64_t due[2];  /* per sl_time_domain_t: the earliest timer, DUE_UNKNOWN, or INT64_MAX */
};

#define DUE_UNKNOWN INT64_MIN

struct sl_chain {
    const sl_chain_spec_t *spec;
    char *partition; /* NULL for the validation instance */
    sl_chain_sink_fn sink;
    void *opaque;
    sl_state_host_t *sh; /* NULL: no keyed state */
    int lo, cnt;         /* the operators of its stage: ops[lo .. cnt) */
    int stage;
    char *upstream_id;   /* "system/stream/partition": names it in watermark markers */
    int (*stage_parts)(void *opaque, int stage);
    void *stage_opaque;
    sl_op_t *ops;
    sl_chain_side_fn side;
    sl_metrics_t *metrics;
    char *labels;
    /* Event time: the largest seen, the watermark derived from it, and where both are kept
     * (the store "/time" of the partition's state host) when an operator needs them across a
     * restart. */
    int64_t max_et, wm;
    sl_state_t *time_st;
    /* Stage > 0: the watermark is the smallest of the upstream partitions' (their markers,
     * kept in the store "/up"), once as many upstreams as they announced were heard from. */
    struct upstream *ups;
    int nups, capups;
    int64_t ups_expected;
    sl_state_t *up_st;
    int uses_time; /* an operator has on_timer, on_watermark or SL_OPERATOR_F_STATEFUL */
    sl_op_t tsop;  /* evaluates task.timestamp.expr */
    expr_db_t *ts_db;
    expr_t *ts_ex;
    int failed;     /* an error message was recorded during the current call */
    char raw[1024]; /* the message as the operator gave it to sl_op_fail() */
    char err[1400]; /* with the operator's name and location in front */
};

/* --- the registry of operator types --------------------------------------------------------- */

#define REGISTRY_MAX 64

static const sl_operator_plugin_t *registry[REGISTRY_MAX];
static int registry_cnt;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

/* The callbacks of ABI version 2, NULL for a plugin built for version 1 (its struct ends
 * before them). */
#define PLUGIN_V2(plugin, field) ((plugin)->abi_version >= 2 ? (plugin)->field : 0)

/* Checks what can be checked of a plugin struct before trusting it. Returns SL_OK, SL_ERR_ABI,
 * or SL_ERR_INVAL; why receives the reason. */
static sl_err_t plugin_check(const sl_operator_plugin_t *plugin, char *why, size_t len) {
    if (!plugin) {
        snprintf(why, len, "no plugin");
        return SL_ERR_INVAL;
    }
    if (plugin->abi_version < 1 || plugin->abi_version > SL_OPERATOR_ABI_VERSION) {
        snprintf(why, len,
                 "operator ABI version %d, but this sluice (%s) expects version %d: rebuild the "
                 "operator against this version's headers",
                 plugin->abi_version, sl_version(), SL_OPERATOR_ABI_VERSION);
        return SL_ERR_ABI;
    }
    if (!plugin->name || !*plugin->name) {
        snprintf(why, len, "the plugin has no name");
        return SL_ERR_INVAL;
    }
    if (!plugin->process) {
        snprintf(why, len, "operator '%s' has no process callback", plugin->name);
        return SL_ERR_INVAL;
    }
    for (const sl_prop_t *row = plugin->props; row && row->name; row++) {
        if (row->offset + sl_prop_field_size(row->type) > plugin->conf_size &&
            sl_prop_field_size(row->type) > 0) {
            snprintf(why, len, "operator '%s': property '%s' lies outside conf_size (%zu)",
                     plugin->name, row->name, plugin->conf_size);
            return SL_ERR_INVAL;
        }
    }
    return SL_OK;
}

static sl_err_t register_locked(const sl_operator_plugin_t *plugin) {
    for (int i = 0; i < registry_cnt; i++) {
        if (registry[i] == plugin)
            return SL_OK; /* registering twice is harmless */
        if (strcmp(registry[i]->name, plugin->name) == 0) {
            sl_log(SL_LOG_ERROR, "op", "operator type '%s' is already registered",
                   plugin->name);
            return SL_ERR_INVAL;
        }
    }
    if (registry_cnt == REGISTRY_MAX) {
        sl_log(SL_LOG_ERROR, "op", "too many operator types (at most %d)", REGISTRY_MAX);
        return SL_ERR_INVAL;
    }
    registry[registry_cnt++] = plugin;
    return SL_OK;
}

static void register_builtins(void) {
    static const sl_operator_plugin_t *const builtins[] = {
        &sl_op_filter, &sl_op_map, &sl_op_rekey, &sl_op_sample, &sl_op_log, &sl_op_dedup,
        &sl_op_window, &sl_op_aggregate, &sl_op_join, &sl_op_repartition, &sl_op_interval_join,
    };
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        register_locked(builtins[i]);
    pthread_mutex_unlock(&registry_lock);
}

sl_err_t sl_operator_register(const sl_operator_plugin_t *plugin) {
    char why[256];
    sl_err_t err;

    pthread_once(&builtins_once, register_builtins);
    err = plugin_check(plugin, why, sizeof(why));
    if (err != SL_OK) {
        sl_log(SL_LOG_ERROR, "op", "cannot register operator type '%s': %s",
               plugin && plugin->name ? plugin->name : "?", why);
        return err;
    }
    pthread_mutex_lock(&registry_lock);
    err = register_locked(plugin);
    pthread_mutex_unlock(&registry_lock);
    return err;
}

int sl_operator_plugins(const sl_operator_plugin_t *const **out) {
    pthread_once(&builtins_once, register_builtins);
    *out = registry;
    return registry_cnt;
}

static const sl_operator_plugin_t *registry_find(const char *name) {
    const sl_operator_plugin_t *found = NULL;
    pthread_mutex_lock(&registry_lock);
    for (int i = 0; i < registry_cnt && !found; i++)
        if (strcmp(registry[i]->name, name) == 0)
            found = registry[i];
    pthread_mutex_unlock(&registry_lock);
    return found;
}

/* --- sl_op_* -------------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void op_setup(sl_op_t *op, sl_chain_t *chain, const spec_op_t *sop, int pos) {
    memset(op, 0, sizeof(*op));
    op->chain = chain;
    op->sop = sop;
    op->pos = pos;
    op->due[0] = op->due[1] = DUE_UNKNOWN;
    /* Deterministic for a seed, different for every partition and position. */
    op->rnd = mix64(chain->spec->seed ^ mix64(hash_str(chain->partition) +
                                              0x9e3779b97f4a7c15ULL * (uint64_t)(sop->index + 1)));
    if (!op->rnd)
        op->rnd = 0x2545f4914f6cdd1dULL;
}

const char *sl_op_name(const sl_op_t *op) {
    return op->sop->name ? op->sop->name : "task";
}

const char *sl_op_prefix(const sl_op_t *op) {
    return op->sop->prefix;
}

const char *sl_op_partition(const sl_op_t *op) {
    return op->chain->partition;
}

const char *sl_op_where(const sl_op_t *op, const char *key) {
    static _Thread_local char buf[512];
    char full[512];
    const spec_op_t *sop = op->sop;

    if (!key)
        key = !sop->name ? "timestamp.expr" : sop->gen.library && !sop->gen.type ? "library"
                                                                                : "type";
    snprintf(full, sizeof(full), "%s%s", sop->prefix, key);
    return sl_conf_where(op->chain->spec->conf, full, buf, sizeof(buf));
}

int64_t sl_op_now_ms(const sl_op_t *op) {
    return sl_now_ms();
}

sl_state_t *sl_op_state(sl_op_t *op) {
    if (!op->kst && op->chain->sh && op->chain->partition)
        op->kst = sl_state_host_store(op->chain->sh, op->sop->name);
    return op->kst;
}

sl_state_t *sl_op_table_state(sl_op_t *op, const char *table, int write) {
    if (!op->chain->sh || !op->chain->partition)
        return NULL;
    return sl_state_host_table(op->chain->sh, op->sop->name, table, write);
}

uint64_t sl_op_random(sl_op_t *op) {
    return sl_rand_next(&op->rnd);
}

void sl_op_set_timer(sl_op_t *op, int64_t interval_ms) {
    op->timer_ms = interval_ms > 0 ? interval_ms : 0;
    op->next_ms = sl_now_ms() + op->timer_ms;
}

static void fail_generic(sl_op_t *op, const char *what, sl_err_t err);

/* --- timers: kept in the store "<name>/timers" of the instance, keyed by the domain's letter,
 * the time (big-endian, sign bit flipped so the byte order is the numeric order) and the key --- */

static const char domain_tag[2] = {'e', 'p'};

static void be64_put(unsigned char *p, int64_t v) {
    uint64_t u = (uint64_t)v ^ 0x8000000000000000ULL;
    for (int i = 7; i >= 0; i--, u >>= 8)
        p[i] = (unsigned char)(u & 0xff);
}

static int64_t be64_get(const unsigned char *p) {
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)(u ^ 0x8000000000000000ULL);
}

static sl_state_t *timer_store(sl_op_t *op) {
    char name[300];
    if (!op->tst && op->chain->sh && op->chain->partition && *op->chain->partition) {
        snprintf(name, sizeof(name), "%s/timers", op->sop->name);
        op->tst = sl_state_host_store(op->chain->sh, name);
    }
    return op->tst;
}

/* The timer's state key in a heap buffer (caller frees), *len its size. */
static unsigned char *timer_key(sl_time_domain_t domain, const void *key, size_t klen,
                                int64_t time_ms, size_t *len) {
    unsigned char *k = malloc(9 + klen);
    if (!k)
        return NULL;
    k[0] = (unsigned char)domain_tag[domain];
    be64_put(k + 1, time_ms);
    if (klen)
        memcpy(k + 9, key, klen);
    *len = 9 + klen;
    return k;
}

sl_err_t sl_op_timer_set(sl_op_t *op, sl_time_domain_t domain, const void *key, size_t klen,
                         int64_t time_ms) {
    sl_state_t *st;
    unsigned char *k;
    size_t len;
    sl_err_t err;

    if ((domain != SL_TIME_EVENT && domain != SL_TIME_PROCESSING) || (!key && klen) ||
        !PLUGIN_V2(op->sop->plugin, on_timer))
        return SL_ERR_INVAL;
    if (!(st = timer_store(op)))
        return SL_ERR_STATE;
    if (!(k = timer_key(domain, key, klen, time_ms, &len)))
        return SL_ERR_NOMEM;
    err = sl_state_put(st, k, len, "", 0, 0);
    free(k);
    if (err == SL_OK && op->due[domain] != DUE_UNKNOWN && time_ms < op->due[domain])
        op->due[domain] = time_ms;
    return err;
}

sl_err_t sl_op_timer_delete(sl_op_t *op, sl_time_domain_t domain, const void *key, size_t klen,
                            int64_t time_ms) {
    sl_state_t *st;
    unsigned char *k;
    size_t len;
    sl_err_t err;

    if ((domain != SL_TIME_EVENT && domain != SL_TIME_PROCESSING) || (!key && klen))
        return SL_ERR_INVAL;
    if (!(st = timer_store(op)))
        return SL_ERR_STATE;
    if (!(k = timer_key(domain, key, klen, time_ms, &len)))
        return SL_ERR_NOMEM;
    err = sl_state_delete(st, k, len);
    free(k);
    return err; /* due[] may now be early: a look finds nothing and corrects it */
}

typedef struct due_batch {
    int max, n;
    struct {
        unsigned char *key;
        size_t klen;
    } t[64];
} due_batch_t;

static int collect_due(void *opaque, const void *key, size_t klen, const void *val,
                       size_t vlen) {
    due_batch_t *b = opaque;
    (void)val;
    (void)vlen;
    if (klen < 9)
        return 0; /* not a timer: cannot happen, skipped */
    if (!(b->t[b->n].key = malloc(klen)))
        return SL_ERR_NOMEM;
    memcpy(b->t[b->n].key, key, klen);
    b->t[b->n].klen = klen;
    return ++b->n == b->max ? 1 : 0;
}

/* Fires op's timers of domain that are due at upto, in time order; then notes the next one. */
static sl_err_t fire_timers(sl_op_t *op, sl_time_domain_t domain, int64_t upto) {
    sl_err_t (*on_timer)(sl_op_t *, void *, const sl_timer_t *) =
        PLUGIN_V2(op->sop->plugin, on_timer);
    unsigned char lo[1], hi[9];
    size_t hilen;
    sl_state_t *st;
    due_batch_t b;
    sl_err_t err = SL_OK;

    if (!on_timer || !op->live || (op->due[domain] != DUE_UNKNOWN && op->due[domain] > upto))
        return SL_OK;
    if (!(st = timer_store(op)))
        return SL_OK;
    lo[0] = (unsigned char)domain_tag[domain];
    hi[0] = lo[0];
    if (upto == INT64_MAX) {
        hi[0]++; /* the whole domain */
        hilen = 1;
    } else {
        be64_put(hi + 1, upto + 1);
        hilen = 9;
    }
    for (;;) {
        memset(&b, 0, sizeof(b));
        b.max = 64;
        err = sl_state_scan_range(st, lo, 1, hi, hilen, collect_due, &b);
        if (err == 1)
            err = SL_OK;
        for (int i = 0; i < b.n; i++) {
            sl_timer_t t;
            if (err == SL_OK)
                err = sl_state_delete(st, b.t[i].key, b.t[i].klen);
            if (err == SL_OK) {
                t.domain = domain;
                t.time_ms = be64_get(b.t[i].key + 1);
                t.key = b.t[i].key + 9;
                t.klen = b.t[i].klen - 9;
                err = on_timer(op, op->state, &t);
                if (err != SL_OK)
                    fail_generic(op, "on_timer", err);
            }
            free(b.t[i].key);
        }
        if (err != SL_OK) {
            if (!op->chain->failed)
                sl_op_fail(op, "timers: %s", sl_err_str(err));
            op->due[domain] = DUE_UNKNOWN;
            return err;
        }
        if (b.n < b.max)
            break;
    }
    /* The next one, whatever its time. */
    memset(&b, 0, sizeof(b));
    b.max = 1;
    hi[0] = lo[0] + 1;
    err = sl_state_scan_range(st, lo, 1, hi, 1, collect_due, &b);
    if (err == 1 || err == SL_OK) {
        op->due[domain] = b.n ? be64_get(b.t[0].key + 1) : INT64_MAX;
        err = SL_OK;
    } else {
        op->due[domain] = DUE_UNKNOWN;
        sl_op_fail(op, "timers: reading the next one: %s", sl_err_str(err));
    }
    if (b.n)
        free(b.t[0].key);
    return err;
}

int64_t sl_op_watermark(const sl_op_t *op) {
    return op->chain->wm;
}

int sl_op_output(sl_op_t *op, const char *name) {
    sl_chain_spec_t *spec = (sl_chain_spec_t *)op->chain->spec;
    for (int i = 0; name && i < spec->nouts; i++)
        if (strcmp(spec->outs[i], name) == 0) {
            /* Claimed while validating (one thread, before any partition runs). */
            if (!op->chain->partition)
                spec->side[i] = 1;
            return spec->side[i] ? i : -1;
        }
    return -1;
}

sl_err_t sl_op_emit_to(sl_op_t *op, int output, sl_record_t *rec) {
    sl_chain_t *chain = op->chain;
    if (!rec || output < 0 || output >= chain->spec->nouts || !chain->spec->side[output])
        return SL_ERR_INVAL;
    if (!chain->side)
        return SL_OK; /* the validation instance, or a chain without side outputs */
    return chain->side(chain->opaque, rec, output);
}

sl_op_counter_t *sl_op_counter(sl_op_t *op, const char *name, const char *help) {
    sl_chain_t *chain = op->chain;
    sl_sb_t labels = {0};
    sl_metric_t *m;
    if (!chain->metrics || !chain->partition || !name)
        return NULL;
    sl_sb_printf(&labels, "operator=\"%s\"%s%s", op->sop->name, chain->labels ? "," : "",
                 chain->labels ? chain->labels : "");
    m = labels.oom ? NULL
                   : sl_metric_get(chain->metrics, SL_METRIC_COUNTER, name, labels.buf,
                                   help ? help : name);
    sl_sb_free(&labels);
    return m;
}

void sl_op_counter_add(sl_op_counter_t *counter, int64_t n) {
    if (counter)
        sl_metric_add(counter, n);
}

sl_err_t sl_op_fail(sl_op_t *op, const char *fmt, ...) {
    sl_chain_t *chain = op->chain;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(chain->raw, sizeof(chain->raw), fmt, ap);
    va_end(ap);
    /* sl_op_where() only after formatting: an argument may be its buffer. */
    if (op->sop->name)
        snprintf(chain->err, sizeof(chain->err), "operators.%s (%s): %s", op->sop->name,
                 sl_op_where(op, NULL), chain->raw);
    else /* the task.timestamp.expr pseudo-operator: the message names its key */
        snprintf(chain->err, sizeof(chain->err), "%s", chain->raw);
    chain->failed = 1;
    return SL_ERR_RECORD;
}

/* Records a message for an error returned without sl_op_fail(). */
static void fail_generic(sl_op_t *op, const char *what, sl_err_t err) {
    if (!op->chain->failed)
        sl_op_fail(op, "%s failed: %s", what, sl_err_str(err));
}

/* Runs rec through the chain from position pos (the sink after the last operator). */
static sl_err_t run_from(sl_chain_t *chain, int pos, sl_record_t *rec) {
    sl_op_t *op;
    sl_err_t err;

    if (pos >= chain->cnt) {
        if (!chain->sink)
            return SL_OK; /* the validation instance has no outputs */
        err = chain->sink(chain->opaque, rec);
        if (err != SL_OK && !chain->failed) {
            snprintf(chain->raw, sizeof(chain->raw), "output failed: %s", sl_err_str(err));
            snprintf(chain->err, sizeof(chain->err), "%s", chain->raw);
            chain->failed = 1;
        }
        return err;
    }
    op = &chain->ops[pos];
    if (!op->live) {
        snprintf(chain->err, sizeof(chain->err),
                 "operators.%s: a record was emitted to it before its init completed",
                 op->sop->name);
        chain->failed = 1;
        return SL_ERR_STATE;
    }
    err = op->sop->plugin->process(op, op->state, rec);
    if (err != SL_OK)
        fail_generic(op, "process", err);
    return err;
}

sl_err_t sl_op_emit(sl_op_t *op, sl_record_t *rec) {
    if (!rec)
        return SL_ERR_INVAL;
    return run_from(op->chain, op->pos + 1, rec);
}

/* --- the spec ------------------------------------------------------------------------------- */

static int valid_name(const char *name) {
    if (!*name)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* Marks every key under prefix as read, so a failed operator does not add an "unknown
 * property" error for each of its settings on top of the real one. */
static void mark_prefix_used(sl_conf_t *conf, const char *prefix) {
    size_t plen = strlen(prefix);
    sl_conf_entry_t entry;
    for (int i = 0; i < sl_conf_count(conf); i++)
        if (sl_conf_entry(conf, i, &entry) == 0 && strncmp(entry.key, prefix, plen) == 0)
            sl_conf_mark_used(conf, entry.key);
}

static void unknown_type(sl_conf_t *conf, const spec_op_t *sop, const char *key) {
    const sl_operator_plugin_t *const *all;
    const char *names[REGISTRY_MAX];
    const char *hint;
    sl_sb_t known = {0};
    int n = sl_operator_plugins(&all);

    for (int i = 0; i < n; i++) {
        names[i] = all[i]->name;
        sl_sb_printf(&known, "%s%s", i ? ", " : "", all[i]->name);
    }
    hint = sl_suggest(sop->gen.type, names, n);
    if (hint)
        sl_conf_error(conf, key, "unknown operator type '%s' (did you mean '%s'?)", sop->gen.type,
                      hint);
    else
        sl_conf_error(conf, key,
                      "unknown operator type '%s' (known types: %s; a custom operator is "
                      "loaded with %slibrary)",
                      sop->gen.type, known.buf ? known.buf : "none", sop->prefix);
    sl_sb_free(&known);
}

void *sl_library_open(sl_conf_t *conf, const char *path, const char *what, const char *key) {
    const char *origin = sl_conf_origin(conf);
    const char *slash;
    char err1[512], err2[512] = "";
    sl_sb_t alt = {0};
    void *dl;

    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl)
        return dl;
    snprintf(err1, sizeof(err1), "%s", dlerror());
    if (path[0] != '/' && origin && origin[0] != '<') {
        /* The path relative to the job file's directory, written the way a user would (no
         * "././x.so"): leading "./" of the path dropped, "." as a directory only kept for a
         * bare name, which dlopen would otherwise search in the library path. */
        const char *rel = path;
        while (rel[0] == '.' && rel[1] == '/')
            for (rel += 2; *rel == '/'; rel++)
                ;
        slash = strrchr(origin, '/');
        if (slash && !(slash - origin == 1 && origin[0] == '.'))
            sl_sb_printf(&alt, "%.*s/%s", (int)(slash - origin) ? (int)(slash - origin) : 1,
                         origin, rel);
        else
            sl_sb_printf(&alt, "./%s", rel);
        if (!alt.oom && strcmp(alt.buf, path) != 0) {
            dl = dlopen(alt.buf, RTLD_NOW | RTLD_LOCAL);
            if (dl)
                goto done;
            snprintf(err2, sizeof(err2), "%s", dlerror());
        }
    }
    /* Quote the attempt that found a file: its error says what is really wrong with it. */
    if (*err2 && access(alt.buf, F_OK) == 0)
        sl_conf_error(conf, key, "cannot load %s library '%s': %s", what, alt.buf, err2);
    else if (*err2)
        sl_conf_error(conf, key, "cannot load %s library '%s' (also tried '%s'): %s", what,
                      path, alt.buf, err1);
    else
        sl_conf_error(conf, key, "cannot load %s library '%s': %s", what, path, err1);
done:
    sl_sb_free(&alt);
    return dl;
}

const void *sl_library_plugin(sl_conf_t *conf, const char *path, const char *symbol,
                              const char *what, const char *key, const char *symkey, void **dlp) {
    const void *plugin;
    const char *msg;

    if (!(*dlp = sl_library_open(conf, path, what, key)))
        return NULL;
    dlerror();
    if (!(plugin = dlsym(*dlp, symbol))) {
        msg = dlerror();
        sl_conf_error(conf, symkey ? symkey : key, "no %s symbol '%s' in '%s': %s", what, symbol,
                      path, msg ? msg : "the symbol is NULL");
    }
    return plugin;
}

/* Finds sop's plugin: from the registry (type) or a library (library + symbol). Adds conf
 * errors and returns -1 on failure. */
static int resolve_plugin(sl_conf_t *conf, spec_op_t *sop) {
    char tkey[512], lkey[512], skey[512], why[256];
    const sl_operator_plugin_t *plugin;
    sl_err_t err;

    snprintf(tkey, sizeof(tkey), "%stype", sop->prefix);
    snprintf(lkey, sizeof(lkey), "%slibrary", sop->prefix);
    snprintf(skey, sizeof(skey), "%ssymbol", sop->prefix);
    if (sop->gen.type && sop->gen.library) {
        sl_conf_error(conf, lkey, "set either %s or %s, not both", tkey, lkey);
        return -1;
    }
    if (!sop->gen.type && !sop->gen.library) {
        sl_conf_error(conf, "task.operators",
                      "operator '%s' needs %s (a built-in: filter, map, rekey, sample, log, "
                      "dedup, window, aggregate) or %s (a custom operator)",
                      sop->name, tkey, lkey);
        return -1;
    }
    if (sop->gen.type) {
        plugin = registry_find(sop->gen.type);
        if (!plugin) {
            unknown_type(conf, sop, tkey);
            return -1;
        }
    } else {
        plugin = sl_library_plugin(conf, sop->gen.library,
                                   sop->gen.symbol ? sop->gen.symbol : "sluice_operator",
                                   "operator", lkey, sl_conf_get(conf, skey) ? skey : NULL,
                                   &sop->dl);
        if (!plugin)
            return -1;
    }
    /* Checked again for registered types: the struct may have changed since (it is borrowed). */
    err = plugin_check(plugin, why, sizeof(why));
    if (err != SL_OK) {
        sl_conf_error(conf, sop->gen.type ? tkey : lkey, "%s", why);
        return -1;
    }
    sop->plugin = plugin;
    return 0;
}

/* The message of a failed init: what sl_op_fail() recorded, which by convention starts with
 * the location; one is put in front when it does not name the operator. */
static void init_message(sl_op_t *op, sl_err_t err, char *buf, size_t len) {
    sl_chain_t *chain = op->chain;
    char name[300];

    snprintf(name, sizeof(name), "operators.%s", op->sop->name);
    if (!chain->failed)
        snprintf(buf, len, "%s: %s: init failed: %s", sl_op_where(op, NULL), name,
                 sl_err_str(err));
    else if (!strstr(chain->raw, name))
        snprintf(buf, len, "%s: %s: %s", sl_op_where(op, NULL), name, chain->raw);
    else
        snprintf(buf, len, "%s", chain->raw);
}

/* Runs init once without a partition to validate the operator's config, then closes it. */
static int validate_op(sl_chain_spec_t *spec, spec_op_t *sop) {
    sl_chain_t chain;
    sl_op_t op;
    char msg[1400];
    sl_err_t err;

    memset(&chain, 0, sizeof(chain));
    chain.spec = spec;
    chain.cnt = 1;
    chain.ops = &op;
    op_setup(&op, &chain, sop, 0);
    err = sop->plugin->init ? sop->plugin->init(&op, sop->obj, &op.state) : SL_OK;
    if (err != SL_OK) {
        init_message(&op, err, msg, sizeof(msg));
        sl_conf_error(spec->conf, NULL, "%s", msg);
        return -1;
    }
    op.live = 1;
    if (sop->plugin->close)
        sop->plugin->close(&op, op.state);
    return 0;
}

static int setup_op(sl_chain_spec_t *spec, spec_op_t *sop, const char *name) {
    sl_conf_t *conf = spec->conf;
    const char *prefixes[2] = {NULL, NULL};
    sl_sb_t sb = {0};

    sop->name = sl_strdup(name);
    sl_sb_printf(&sb, "operators.%s.", name);
    sop->prefix = sb.buf;
    if (!sop->name || sb.oom) {
        sl_conf_error(conf, "task.operators", "out of memory");
        return -1;
    }
    prefixes[0] = sop->prefix;
    if (sl_conf_apply(conf, sl_operator_props, prefixes, &sop->gen) > 0 ||
        resolve_plugin(conf, sop) < 0) {
        mark_prefix_used(conf, sop->prefix);
        return -1;
    }
    /* At least one byte, so an operator without settings still gets a non-NULL conf. */
    sop->obj = calloc(1, sop->plugin->conf_size ? sop->plugin->conf_size : 1);
    if (!sop->obj) {
        sl_conf_error(conf, "task.operators", "out of memory");
        return -1;
    }
    if (sop->plugin->props && sl_conf_apply(conf, sop->plugin->props, prefixes, sop->obj) > 0)
        return -1;
    return validate_op(spec, sop);
}

/* Opens the expression engine of the task.timestamp.expr pseudo-operator of chain. */
static sl_err_t ts_open(sl_chain_t *chain) {
    const sl_chain_spec_t *spec = chain->spec;
    sl_err_t err;
    op_setup(&chain->tsop, chain, &spec->ts, -1);
    err = expr_db_open(&chain->tsop, &chain->ts_db);
    if (err == SL_OK)
        err = expr_compile(chain->ts_db, &chain->tsop, "timestamp.expr", spec->ts_expr, 0,
                           &chain->ts_ex);
    return err;
}

/* Checks task.timestamp.expr once at start-up. Adds a conf error and returns -1 when bad. */
static int validate_ts(sl_chain_spec_t *spec) {
    sl_chain_t chain;
    int rc = 0;
    memset(&chain, 0, sizeof(chain));
    chain.spec = spec;
    if (ts_open(&chain) != SL_OK) {
        sl_conf_error(spec->conf, NULL, "%s", chain.raw);
        rc = -1;
    }
    expr_db_close(chain.ts_db);
    return rc;
}

/* Splits the chain at its `repartition` operators (see struct sl_chain_spec). */
static void spec_stages(sl_chain_spec_t *spec) {
    int n = 1;
    for (int i = 0; i < spec->cnt; i++)
        n += strcmp(spec->ops[i].plugin->name, "repartition") == 0;
    if (!(spec->stage_lo = calloc((size_t)n + 1, sizeof(*spec->stage_lo))) ||
        !(spec->stage_input = calloc((size_t)n + 1, sizeof(*spec->stage_input)))) {
        sl_conf_error(spec->conf, "task.operators", "out of memory");
        return;
    }
    spec->nstages = 1;
    for (int i = 0; i < spec->cnt; i++) {
        char key[300];
        const char *stream;
        if (strcmp(spec->ops[i].plugin->name, "repartition") != 0)
            continue;
        snprintf(key, sizeof(key), "%sstream", spec->ops[i].prefix);
        stream = sl_conf_get(spec->conf, key);
        for (int k = 1; stream && k < spec->nstages; k++)
            if (strcmp(spec->stage_input[k], stream) == 0)
                sl_conf_error(spec->conf, key, "'%s' is already the stream of an earlier "
                              "repartition: each needs its own", stream);
        if (!(spec->stage_input[spec->nstages] = sl_strdup(stream ? stream : ""))) {
            sl_conf_error(spec->conf, key, "out of memory");
            return;
        }
        spec->stage_lo[spec->nstages++] = i + 1;
    }
    spec->stage_lo[spec->nstages] = spec->cnt;
}

int sl_chain_spec_stage_of(const sl_chain_spec_t *spec, const char *input) {
    for (int k = 1; spec && input && k < spec->nstages; k++)
        if (strcmp(spec->stage_input[k], input) == 0)
            return k;
    return 0;
}

int sl_chain_spec_stages(const sl_chain_spec_t *spec) {
    return spec ? spec->nstages : 1;
}

const char *sl_chain_spec_stage_input(const sl_chain_spec_t *spec, int k) {
    return spec && k > 0 && k < spec->nstages ? spec->stage_input[k] : NULL;
}

sl_chain_spec_t *sl_chain_spec_new(sl_conf_t *conf, const sl_list_t *names, uint64_t seed) {
    sl_chain_opts_t opts;
    memset(&opts, 0, sizeof(opts));
    opts.seed = seed;
    return sl_chain_spec_new_ex(conf, names, &opts);
}

sl_chain_spec_t *sl_chain_spec_new_ex(sl_conf_t *conf, const sl_list_t *names,
                                      const sl_chain_opts_t *opts) {
    int errors_before = sl_conf_error_count(conf);
    int cnt = names ? names->cnt : 0;
    int nouts = opts->outputs ? opts->outputs->cnt : 0;
    sl_chain_spec_t *spec;

    pthread_once(&builtins_once, register_builtins);
    spec = calloc(1, sizeof(*spec));
    if (!spec || !(spec->ops = calloc((size_t)cnt + 1, sizeof(*spec->ops))) ||
        !(spec->outs = calloc((size_t)nouts + 1, sizeof(*spec->outs))) ||
        !(spec->side = calloc((size_t)nouts + 1, sizeof(*spec->side))) ||
        !(spec->ts.prefix = sl_strdup("task.")) ||
        (opts->timestamp_expr && !(spec->ts_expr = sl_strdup(opts->timestamp_expr)))) {
        sl_conf_error(conf, "task.operators", "out of memory");
        sl_chain_spec_destroy(spec);
        return NULL;
    }
    spec->conf = conf;
    spec->seed = opts->seed;
    spec->wm_delay = opts->watermark_delay_ms;
    spec->wm_idle = opts->watermark_idle_ms;
    for (int i = 0; i < nouts; i++) {
        if (!(spec->outs[i] = sl_strdup(opts->outputs->items[i]))) {
            sl_conf_error(conf, "task.outputs", "out of memory");
            sl_chain_spec_destroy(spec);
            return NULL;
        }
        spec->nouts++;
    }
    if (spec->ts_expr)
        validate_ts(spec);
    for (int i = 0; i < cnt; i++) {
        const char *name = names->items[i];
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= strcmp(names->items[j], name) == 0;
        if (!valid_name(name)) {
            sl_conf_error(conf, "task.operators",
                          "operator name '%s' may only contain letters, digits, '_' and '-'",
                          name);
            continue;
        }
        if (dup) {
            sl_conf_error(conf, "task.operators",
                          "operator '%s' is listed twice (give each use its own name)", name);
            continue;
        }
        spec->ops[spec->cnt].index = spec->cnt;
        setup_op(spec, &spec->ops[spec->cnt], name);
        spec->cnt++; /* kept even when broken, so destroy frees what it holds */
    }
    if (sl_conf_error_count(conf) <= errors_before)
        spec_stages(spec);
    if (sl_conf_error_count(conf) > errors_before) {
        sl_chain_spec_destroy(spec);
        return NULL;
    }
    return spec;
}

int sl_chain_spec_count(const sl_chain_spec_t *spec) {
    return spec ? spec->cnt : 0;
}

int sl_chain_spec_side_output(const sl_chain_spec_t *spec, int i) {
    return spec && i >= 0 && i < spec->nouts && spec->side[i];
}

int sl_chain_spec_stateful(const sl_chain_spec_t *spec, const char **name) {
    for (int i = 0; spec && i < spec->cnt; i++)
        if (PLUGIN_V2(spec->ops[i].plugin, flags) & SL_OPERATOR_F_STATEFUL) {
            if (name)
                *name = spec->ops[i].name;
            return 1;
        }
    return 0;
}

int sl_chain_spec_stateful_op(const sl_chain_spec_t *spec, int n, const char **name,
                              const char **type, char *key, size_t keylen) {
    for (int i = 0; spec && i < spec->cnt; i++) {
        const spec_op_t *sop = &spec->ops[i];
        if (!(PLUGIN_V2(sop->plugin, flags) & SL_OPERATOR_F_STATEFUL) || n-- > 0)
            continue;
        if (name)
            *name = sop->name;
        if (type)
            *type = sop->plugin->name;
        if (key && keylen)
            snprintf(key, keylen, "%s%s", sop->prefix, sop->gen.type ? "type" : "library");
        return 1;
    }
    return 0;
}

void sl_chain_spec_dump(const sl_chain_spec_t *spec, FILE *fp) {
    for (int i = 0; spec && i < spec->cnt; i++) {
        const spec_op_t *sop = &spec->ops[i];
        /* Only the rows that mean something for this operator: type, or library + symbol. */
        sl_prop_t rows[3];
        memset(rows, 0, sizeof(rows));
        if (sop->gen.type) {
            rows[0] = sl_operator_props[0];
        } else {
            rows[0] = sl_operator_props[1];
            rows[1] = sl_operator_props[2];
        }
        sl_conf_dump_obj(fp, spec->conf, sop->prefix, rows, &sop->gen);
        if (sop->plugin->props)
            sl_conf_dump_obj(fp, spec->conf, sop->prefix, sop->plugin->props, sop->obj);
    }
}

void sl_chain_spec_destroy(sl_chain_spec_t *spec) {
    if (!spec)
        return;
    for (int i = 0; i < spec->cnt; i++) {
        spec_op_t *sop = &spec->ops[i];
        if (sop->obj && sop->plugin && sop->plugin->props)
            sl_conf_obj_free(sop->plugin->props, sop->obj);
        free(sop->obj);
        sl_conf_obj_free(sl_operator_props, &sop->gen);
        if (sop->dl)
            dlclose(sop->dl);
        free(sop->name);
        free(sop->prefix);
    }
    free(spec->ops);
    for (int i = 0; i < spec->nouts; i++)
        free(spec->outs[i]);
    free(spec->outs);
    free(spec->side);
    free(spec->ts.prefix);
    free(spec->ts_expr);
    for (int k = 0; spec->stage_input && k < spec->nstages; k++)
        free(spec->stage_input[k]);
    free(spec->stage_input);
    free(spec->stage_lo);
    free(spec);
}

/* --- running chains ------------------------------------------------------------------------- */

sl_chain_t *sl_chain_new(const sl_chain_spec_t *spec, const char *partition, sl_chain_sink_fn sink,
                         void *opaque, sl_state_host_t *sh, char *errstr, size_t errlen) {
    sl_chain_env_t env;
    memset(&env, 0, sizeof(env));
    env.sh = sh;
    return sl_chain_new_ex(spec, partition, sink, opaque, &env, errstr, errlen);
}

static int64_t watermark_of(const sl_chain_t *chain, int64_t max_et) {
    return max_et == SL_WATERMARK_NONE ? SL_WATERMARK_NONE : max_et - chain->spec->wm_delay - 1;
}

/* Loads the partition's event-time progress when an operator depends on it. */
static sl_err_t time_open(sl_chain_t *chain, char *errstr, size_t errlen) {
    const void *val;
    size_t vlen;
    sl_err_t err;

    for (int i = chain->lo; i < chain->cnt; i++) {
        const sl_operator_plugin_t *pl = chain->ops[i].sop->plugin;
        if (PLUGIN_V2(pl, on_timer) || PLUGIN_V2(pl, on_watermark) ||
            (PLUGIN_V2(pl, flags) & SL_OPERATOR_F_STATEFUL) || chain->ops[i].kst)
            chain->uses_time = 1;
    }
    if (!chain->uses_time || !chain->sh || !*chain->partition)
        return SL_OK;
    if (!(chain->time_st = sl_state_host_store(chain->sh, "/time"))) {
        snprintf(errstr, errlen, "partition %s: out of memory", chain->partition);
        return SL_ERR_NOMEM;
    }
    err = sl_state_get(chain->time_st, "max", 3, &val, &vlen);
    if (err == SL_OK && vlen == 8) {
        chain->max_et = be64_get(val);
        chain->wm = watermark_of(chain, chain->max_et);
    } else if (err == SL_OK || err != SL_ERR_NOENT) {
        snprintf(errstr, errlen, "partition %s: cannot read its event-time progress from the "
                 "keyed state: %s", chain->partition,
                 err == SL_OK ? "a value of the wrong size" : sl_err_str(err));
        return err == SL_OK ? SL_ERR_DB : err;
    }
    return SL_OK;
}

/* --- watermarks across a repartition ------------------------------------------------------- */

static sl_err_t advance(sl_chain_t *chain, int64_t wm);

struct upstream {
    char *id;
    int64_t wm;
    int64_t seq; /* the last of its records applied (sluice.seq): replays are dropped */
    int idle;    /* said it reads nothing (task.watermark.idle-timeout): not waited for */
};

/* The store's copy of an upstream: be64 watermark, be64 sequence number. */
static sl_err_t ups_keep(sl_chain_t *chain, const struct upstream *u) {
    unsigned char b[16];
    if (!chain->up_st)
        return SL_OK;
    be64_put(b, u->wm);
    be64_put(b + 8, u->seq);
    return sl_state_put(chain->up_st, u->id, strlen(u->id), b, 16, 0);
}

/* The entry of upstream id, created (waited for, nothing applied) when new; NULL: no memory. */
static struct upstream *ups_find(sl_chain_t *chain, const char *id, size_t idlen) {
    struct upstream *u;
    for (int i = 0; i < chain->nups; i++)
        if (strlen(chain->ups[i].id) == idlen && !memcmp(chain->ups[i].id, id, idlen))
            return &chain->ups[i];
    if (chain->nups == chain->capups) {
        int cap = chain->capups ? chain->capups * 2 : 8;
        struct upstream *g = realloc(chain->ups, sizeof(*g) * (size_t)cap);
        if (!g)
            return NULL;
        chain->ups = g;
        chain->capups = cap;
    }
    u = &chain->ups[chain->nups];
    memset(u, 0, sizeof(*u));
    if (!(u->id = sl_strndup(id, idlen)))
        return NULL;
    u->wm = SL_WATERMARK_NONE;
    chain->nups++;
    return u;
}

/* The smallest upstream watermark, or SL_WATERMARK_NONE until as many upstreams as announced
 * were heard from. */
static int64_t ups_min(const sl_chain_t *chain) {
    int64_t m = SL_WATERMARK_END;
    int active = 0;
    if (chain->nups == 0 || chain->nups < chain->ups_expected)
        return SL_WATERMARK_NONE;
    for (int i = 0; i < chain->nups; i++)
        if (!chain->ups[i].idle) {
            active++;
            if (chain->ups[i].wm < m)
                m = chain->ups[i].wm;
        }
    return active ? m : SL_WATERMARK_NONE; /* all idle: stays where it is */
}

/* Sets upstream id's watermark and idleness, and the store's copy. */
static sl_err_t ups_set(sl_chain_t *chain, const char *id, size_t idlen, int64_t wm, int idle) {
    struct upstream *u = ups_find(chain, id, idlen);
    if (!u)
        return SL_ERR_NOMEM;
    u->idle = idle;
    if (wm <= u->wm)
        return SL_OK; /* a marker replayed, or overtaken */
    u->wm = wm;
    return ups_keep(chain, u);
}

static int ups_load(void *opaque, const void *key, size_t klen, const void *val, size_t vlen) {
    sl_chain_t *chain = opaque;
    if (klen == 1 && *(const char *)key == '#') {
        if (vlen == 8)
            chain->ups_expected = be64_get(val);
        return 0;
    }
    if (vlen != 16)
        return 1;
    /* Idleness is not kept: after a restart an upstream is waited for until it speaks. */
    {
        struct upstream *u = ups_find(chain, key, klen);
        if (!u)
            return 2;
        u->wm = be64_get(val);
        u->seq = be64_get((const unsigned char *)val + 8);
    }
    return 0;
}

/* A stage after a repartition: loads the upstream watermarks committed with the offsets. */
static sl_err_t ups_open(sl_chain_t *chain, char *errstr, size_t errlen) {
    sl_err_t err;
    if (chain->stage == 0 || !chain->sh || !*chain->partition)
        return SL_OK;
    if (!(chain->up_st = sl_state_host_store(chain->sh, "/up"))) {
        snprintf(errstr, errlen, "partition %s: out of memory", chain->partition);
        return SL_ERR_NOMEM;
    }
    err = sl_state_scan_prefix(chain->up_st, NULL, 0, ups_load, chain);
    if (err != SL_OK) {
        snprintf(errstr, errlen, "partition %s: cannot read the upstream watermarks from the "
                 "keyed state: %s", chain->partition,
                 err == 1 ? "a value of the wrong size" : sl_err_str(err > 0 ? SL_ERR_NOMEM : err));
        return err > 0 ? SL_ERR_DB : err;
    }
    chain->wm = ups_min(chain);
    return SL_OK;
}

/* A record read back from the intermediate stream: its upstream partition (sluice.from) and
 * its number there (sluice.seq, 1, 2, ... in the upstream's order, the same again when the
 * upstream replays after a crash). One already applied is dropped (returns 1, *err SL_OK), so
 * the at-least-once copies a crash leaves in the stream count once. Records without the
 * headers pass (returns 0). */
static int ups_replayed(sl_chain_t *chain, const sl_record_t *rec, sl_err_t *err) {
    const char *from = sl_record_header(rec, "sluice.from"), *seq;
    struct upstream *u;
    char *end = NULL;
    long long n;
    *err = SL_OK;
    if (!from || !(seq = sl_record_header(rec, "sluice.seq")))
        return 0;
    n = strtoll(seq, &end, 10);
    if (end == seq || *end || n <= 0) {
        snprintf(chain->raw, sizeof(chain->raw), "a repartitioned record with a bad sluice.seq "
                 "'%.40s' (from '%.80s')", seq, from);
        snprintf(chain->err, sizeof(chain->err), "partition %s: %s", chain->partition,
                 chain->raw);
        chain->failed = 1;
        *err = SL_ERR_RECORD;
        return 1;
    }
    if (!(u = ups_find(chain, from, strlen(from)))) {
        *err = SL_ERR_NOMEM;
        snprintf(chain->err, sizeof(chain->err), "partition %s: out of memory", chain->partition);
        chain->failed = 1;
        return 1;
    }
    if (n <= u->seq)
        return 1; /* applied before a crash of the upstream: its replay */
    u->seq = n;
    if ((*err = ups_keep(chain, u)) != SL_OK) {
        snprintf(chain->err, sizeof(chain->err), "partition %s: cannot keep an upstream "
                 "position: %s", chain->partition, sl_err_str(*err));
        chain->failed = 1;
        return 1;
    }
    return 0;
}

/* A watermark marker read back from the intermediate stream (see operators/repartition.c):
 * headers sluice.wm (the upstream partition's watermark), sluice.from (its id) and
 * sluice.wm.n (how many upstream partitions its job knew), and sluice.wm.idle when it reads
 * nothing (then it is not waited for until its next marker). Returns 1 when rec is a marker
 * (then *err says how handling it went), 0 for a record. */
static int ups_marker(sl_chain_t *chain, const sl_record_t *rec, sl_err_t *err) {
    const char *wm = sl_record_header(rec, "sluice.wm"), *from, *n;
    char *end = NULL;
    long long v, cnt = 0;
    int64_t before;
    if (!wm)
        return ups_replayed(chain, rec, err);
    from = sl_record_header(rec, "sluice.from");
    n = sl_record_header(rec, "sluice.wm.n");
    v = strtoll(wm, &end, 10);
    if (!from || !*from || end == wm || *end || (n && (cnt = strtoll(n, &end, 10)) < 0)) {
        snprintf(chain->raw, sizeof(chain->raw), "a watermark marker with bad headers "
                 "(sluice.wm '%.40s', sluice.from '%.80s')", wm, from ? from : "");
        snprintf(chain->err, sizeof(chain->err), "partition %s: %s", chain->partition,
                 chain->raw);
        chain->failed = 1;
        *err = SL_ERR_RECORD;
        return 1;
    }
    *err = SL_OK;
    if (cnt > chain->ups_expected) {
        chain->ups_expected = cnt;
        if (chain->up_st) {
            unsigned char b[8];
            be64_put(b, cnt);
            *err = sl_state_put(chain->up_st, "#", 1, b, 8, 0);
        }
    }
    if (*err == SL_OK)
        *err = ups_set(chain, from, strlen(from), (int64_t)v,
                       sl_record_header(rec, "sluice.wm.idle") != NULL);
    if (*err != SL_OK) {
        snprintf(chain->err, sizeof(chain->err), "partition %s: cannot keep an upstream "
                 "watermark: %s", chain->partition, sl_err_str(*err));
        chain->failed = 1;
        return 1;
    }
    before = chain->wm;
    if (ups_min(chain) > before)
        *err = advance(chain, ups_min(chain));
    return 1;
}

int64_t sl_op_idle_timeout(const sl_op_t *op) {
    return op->chain->spec->wm_idle;
}

int sl_op_stage_partitions(const sl_op_t *op) {
    const sl_chain_t *chain = op->chain;
    return chain->stage_parts ? chain->stage_parts(chain->stage_opaque, chain->stage) : 0;
}

const char *sl_op_upstream_id(const sl_op_t *op) {
    return op->chain->upstream_id;
}

sl_chain_t *sl_chain_new_ex(const sl_chain_spec_t *spec, const char *partition,
                            sl_chain_sink_fn sink, void *opaque, const sl_chain_env_t *env,
                            char *errstr, size_t errlen) {
    sl_chain_t *chain = calloc(1, sizeof(*chain));

    if (!chain || !(chain->ops = calloc((size_t)spec->cnt + 1, sizeof(*chain->ops))) ||
        !(chain->partition = sl_strdup(partition ? partition : "")) ||
        (env->labels && !(chain->labels = sl_strdup(env->labels)))) {
        snprintf(errstr, errlen, "out of memory");
        goto fail;
    }
    chain->spec = spec;
    chain->sink = sink;
    chain->opaque = opaque;
    chain->sh = env->sh;
    chain->side = env->side;
    chain->metrics = env->metrics;
    chain->max_et = chain->wm = SL_WATERMARK_NONE;
    /* The operators of the stage this partition's input feeds. */
    chain->stage = sl_chain_spec_stage_of(spec, env->input);
    chain->lo = spec->stage_lo ? spec->stage_lo[chain->stage] : 0;
    chain->cnt = spec->stage_lo ? spec->stage_lo[chain->stage + 1] : spec->cnt;
    chain->stage_parts = env->stage_parts;
    chain->stage_opaque = env->stage_opaque;
    if (env->input && partition) {
        sl_sb_t id = {0};
        sl_sb_printf(&id, "%s/%s", env->input, partition);
        if (id.oom) {
            snprintf(errstr, errlen, "out of memory");
            goto fail;
        }
        chain->upstream_id = id.buf;
    }
    if (spec->ts_expr && ts_open(chain) != SL_OK) {
        snprintf(errstr, errlen, "partition %s: %s", chain->partition, chain->raw);
        goto fail;
    }
    for (int i = 0; i < spec->cnt; i++)
        op_setup(&chain->ops[i], chain, &spec->ops[i], i);
    for (int i = chain->lo; i < chain->cnt; i++) {
        sl_op_t *op = &chain->ops[i];
        sl_err_t err = SL_OK;
        chain->failed = 0;
        if (op->sop->plugin->init)
            err = op->sop->plugin->init(op, op->sop->obj, &op->state);
        if (err != SL_OK) {
            char msg[1400];
            init_message(op, err, msg, sizeof(msg));
            snprintf(errstr, errlen, "partition %s: %s", chain->partition, msg);
            goto fail;
        }
        op->live = 1;
    }
    chain->failed = 0;
    if (time_open(chain, errstr, errlen) != SL_OK || ups_open(chain, errstr, errlen) != SL_OK)
        goto fail;
    return chain;

fail:
    sl_chain_destroy(chain);
    return NULL;
}

/* Sets rec's event time from task.timestamp.expr. */
static sl_err_t eval_timestamp(sl_chain_t *chain, sl_record_t *rec) {
    sl_op_t *op = &chain->tsop;
    sqlite3_value *v;
    sl_err_t err;
    int64_t ms = 0;
    int ok = 1;

    expr_bind(chain->ts_db, rec);
    err = expr_sqlvalue(chain->ts_ex, op, &v);
    if (err != SL_OK) {
        expr_bind(chain->ts_db, NULL);
        return err;
    }
    switch (v ? sqlite3_value_type(v) : SQLITE_NULL) {
    case SQLITE_NULL:
        ok = -1; /* the source's event time stays */
        break;
    case SQLITE_INTEGER:
        ms = sqlite3_value_int64(v);
        break;
    case SQLITE_FLOAT: {
        double d = sqlite3_value_double(v);
        ok = d > -9.2e18 && d < 9.2e18;
        ms = ok ? (int64_t)d : 0;
        break;
    }
    case SQLITE_TEXT: {
        const char *t = (const char *)sqlite3_value_text(v);
        char *end = NULL;
        double d = t ? strtod(t, &end) : 0;
        ok = t && end != t && *end == '\0' && d > -9.2e18 && d < 9.2e18;
        ms = ok ? (int64_t)d : 0;
        if (!ok)
            sl_op_fail(op, "%s: task.timestamp.expr gave '%.60s', not a number of ms since the "
                       "epoch", sl_op_where(op, NULL), t ? t : "");
        break;
    }
    default:
        ok = 0;
        sl_op_fail(op, "%s: task.timestamp.expr gave a blob, not a number of ms since the "
                   "epoch", sl_op_where(op, NULL));
    }
    if (!ok && !chain->failed)
        sl_op_fail(op, "%s: task.timestamp.expr gave a number out of range",
                   sl_op_where(op, NULL));
    expr_reset(chain->ts_ex);
    expr_bind(chain->ts_db, NULL);
    if (!ok)
        return SL_ERR_RECORD;
    if (ok > 0)
        sl_record_set_event_time(rec, ms);
    return SL_OK;
}

/* The watermark moved to wm: every operator in chain order fires its event-time timers due
 * and hears of it (what one emits then reaches the next before the next hears of it). */
static sl_err_t advance(sl_chain_t *chain, int64_t wm) {
    chain->wm = wm;
    for (int i = chain->lo; i < chain->cnt; i++) {
        sl_op_t *op = &chain->ops[i];
        sl_err_t (*on_wm)(sl_op_t *, void *, int64_t) = PLUGIN_V2(op->sop->plugin, on_watermark);
        sl_err_t err;
        if (!op->live)
            continue;
        if ((err = fire_timers(op, SL_TIME_EVENT, wm)) != SL_OK)
            return err;
        if (on_wm && (err = on_wm(op, op->state, wm)) != SL_OK) {
            fail_generic(op, "on_watermark", err);
            return err;
        }
    }
    return SL_OK;
}

sl_err_t sl_chain_process(sl_chain_t *chain, sl_record_t *rec) {
    sl_err_t err;
    int64_t et, wm;

    chain->failed = 0;
    if (chain->stage > 0 && ups_marker(chain, rec, &err))
        return err;
    if (chain->ts_ex && (err = eval_timestamp(chain, rec)) != SL_OK)
        return err;
    et = sl_record_event_time(rec);
    if ((err = run_from(chain, chain->lo, rec)) != SL_OK)
        return err;
    /* After a repartition the watermark is the upstreams' (ups_marker), not the records'. */
    if (chain->stage > 0 || et == 0 || et <= chain->max_et)
        return SL_OK;
    chain->max_et = et;
    if (chain->time_st) {
        unsigned char b[8];
        be64_put(b, et);
        if ((err = sl_state_put(chain->time_st, "max", 3, b, 8, 0)) != SL_OK) {
            snprintf(chain->err, sizeof(chain->err),
                     "partition %s: cannot keep the event-time progress: %s", chain->partition,
                     sl_err_str(err));
            chain->failed = 1;
            return err;
        }
    }
    wm = watermark_of(chain, et);
    return wm > chain->wm ? advance(chain, wm) : SL_OK;
}

sl_err_t sl_chain_end_input(sl_chain_t *chain) {
    chain->failed = 0;
    /* Not kept: input appended later (a file) is judged by the watermark of its data. */
    return advance(chain, SL_WATERMARK_END);
}

int64_t sl_chain_watermark(const sl_chain_t *chain) {
    return chain->wm;
}

int sl_chain_stage(const sl_chain_t *chain) {
    return chain->stage;
}

sl_err_t sl_chain_tick(sl_chain_t *chain, int64_t now_ms) {
    chain->failed = 0;
    for (int i = chain->lo; i < chain->cnt; i++) {
        sl_op_t *op = &chain->ops[i];
        sl_err_t err;
        if (!op->live || op->timer_ms <= 0 || !op->sop->plugin->timer || now_ms < op->next_ms)
            continue;
        /* Scheduled before the call, so a callback that changes its timer wins; a clock that
         * jumped several intervals fires once, not once per missed interval. */
        op->next_ms += op->timer_ms;
        if (op->next_ms <= now_ms)
            op->next_ms = now_ms + op->timer_ms;
        err = op->sop->plugin->timer(op, op->state, now_ms);
        if (err != SL_OK) {
            fail_generic(op, "timer", err);
            return err;
        }
    }
    for (int i = chain->lo; i < chain->cnt; i++) {
        sl_err_t err = fire_timers(&chain->ops[i], SL_TIME_PROCESSING, now_ms);
        if (err != SL_OK)
            return err;
    }
    return SL_OK;
}

sl_err_t sl_chain_flush(sl_chain_t *chain) {
    chain->failed = 0;
    for (int i = chain->lo; i < chain->cnt; i++) {
        sl_op_t *op = &chain->ops[i];
        sl_err_t err;
        if (!op->live || !op->sop->plugin->flush)
            continue;
        err = op->sop->plugin->flush(op, op->state);
        if (err != SL_OK) {
            fail_generic(op, "flush", err);
            return err;
        }
    }
    return SL_OK;
}

sl_err_t sl_chain_checkpoint(sl_chain_t *chain) {
    chain->failed = 0;
    for (int i = chain->lo; i < chain->cnt; i++) {
        sl_op_t *op = &chain->ops[i];
        sl_err_t err;
        if (!op->live || !op->sop->plugin->checkpoint)
            continue;
        err = op->sop->plugin->checkpoint(op, op->state);
        if (err != SL_OK) {
            fail_generic(op, "checkpoint", err);
            return err;
        }
    }
    return SL_OK;
}

const char *sl_chain_error(const sl_chain_t *chain) {
    return chain->err;
}

void sl_chain_destroy(sl_chain_t *chain) {
    if (!chain)
        return;
    for (int i = chain->cnt - 1; i >= chain->lo; i--) {
        sl_op_t *op = &chain->ops[i];
        if (op->live && op->sop->plugin->close)
            op->sop->plugin->close(op, op->state);
        op->live = 0;
    }
    expr_db_close(chain->ts_db);
    for (int i = 0; i < chain->nups; i++)
        free(chain->ups[i].id);
    free(chain->ups);
    free(chain->upstream_id);
    free(chain->ops);
    free(chain->partition);
    free(chain->labels);
    free(chain);
}
