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

#include "../operators/operators.h"
#include "chain.h"
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
     "The operator's type: a built-in (filter, map, rekey, sample, log, dedup) or one registered "
     "with sl_operator_register(). Set either this or `library`. The instance name comes from "
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
};

struct sl_chain {
    const sl_chain_spec_t *spec;
    char *partition; /* NULL for the validation instance */
    sl_chain_sink_fn sink;
    void *opaque;
    sl_state_host_t *sh; /* NULL: no keyed state */
    int cnt;
    sl_op_t *ops;
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

/* Checks what can be checked of a plugin struct before trusting it. Returns SL_OK, SL_ERR_ABI,
 * or SL_ERR_INVAL; why receives the reason. */
static sl_err_t plugin_check(const sl_operator_plugin_t *plugin, char *why, size_t len) {
    if (!plugin) {
        snprintf(why, len, "no plugin");
        return SL_ERR_INVAL;
    }
    if (plugin->abi_version != SL_OPERATOR_ABI_VERSION) {
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
    /* Deterministic for a seed, different for every partition and position. */
    op->rnd = mix64(chain->spec->seed ^ mix64(hash_str(chain->partition) +
                                              0x9e3779b97f4a7c15ULL * (uint64_t)(sop->index + 1)));
    if (!op->rnd)
        op->rnd = 0x2545f4914f6cdd1dULL;
}

const char *sl_op_name(const sl_op_t *op) {
    return op->sop->name;
}

const char *sl_op_partition(const sl_op_t *op) {
    return op->chain->partition;
}

const char *sl_op_where(const sl_op_t *op, const char *key) {
    static _Thread_local char buf[512];
    char full[512];
    const spec_op_t *sop = op->sop;

    if (!key)
        key = sop->gen.library && !sop->gen.type ? "library" : "type";
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

uint64_t sl_op_random(sl_op_t *op) {
    return sl_rand_next(&op->rnd);
}

void sl_op_set_timer(sl_op_t *op, int64_t interval_ms) {
    op->timer_ms = interval_ms > 0 ? interval_ms : 0;
    op->next_ms = sl_now_ms() + op->timer_ms;
}

sl_err_t sl_op_fail(sl_op_t *op, const char *fmt, ...) {
    sl_chain_t *chain = op->chain;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(chain->raw, sizeof(chain->raw), fmt, ap);
    va_end(ap);
    /* sl_op_where() only after formatting: an argument may be its buffer. */
    snprintf(chain->err, sizeof(chain->err), "operators.%s (%s): %s", op->sop->name,
             sl_op_where(op, NULL), chain->raw);
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
                      "dedup) or %s (a custom operator)",
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

sl_chain_spec_t *sl_chain_spec_new(sl_conf_t *conf, const sl_list_t *names, uint64_t seed) {
    int errors_before = sl_conf_error_count(conf);
    int cnt = names ? names->cnt : 0;
    sl_chain_spec_t *spec;

    pthread_once(&builtins_once, register_builtins);
    spec = calloc(1, sizeof(*spec));
    if (!spec || !(spec->ops = calloc((size_t)cnt + 1, sizeof(*spec->ops)))) {
        sl_conf_error(conf, "task.operators", "out of memory");
        free(spec);
        return NULL;
    }
    spec->conf = conf;
    spec->seed = seed;
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
    if (sl_conf_error_count(conf) > errors_before) {
        sl_chain_spec_destroy(spec);
        return NULL;
    }
    return spec;
}

int sl_chain_spec_count(const sl_chain_spec_t *spec) {
    return spec ? spec->cnt : 0;
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
    free(spec);
}

/* --- running chains ------------------------------------------------------------------------- */

sl_chain_t *sl_chain_new(const sl_chain_spec_t *spec, const char *partition, sl_chain_sink_fn sink,
                         void *opaque, sl_state_host_t *sh, char *errstr, size_t errlen) {
    sl_chain_t *chain = calloc(1, sizeof(*chain));

    if (!chain || !(chain->ops = calloc((size_t)spec->cnt + 1, sizeof(*chain->ops))) ||
        !(chain->partition = sl_strdup(partition ? partition : ""))) {
        snprintf(errstr, errlen, "out of memory");
        goto fail;
    }
    chain->spec = spec;
    chain->sink = sink;
    chain->opaque = opaque;
    chain->sh = sh;
    chain->cnt = spec->cnt;
    for (int i = 0; i < spec->cnt; i++)
        op_setup(&chain->ops[i], chain, &spec->ops[i], i);
    for (int i = 0; i < spec->cnt; i++) {
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
    return chain;

fail:
    sl_chain_destroy(chain);
    return NULL;
}

sl_err_t sl_chain_process(sl_chain_t *chain, sl_record_t *rec) {
    chain->failed = 0;
    return run_from(chain, 0, rec);
}

sl_err_t sl_chain_tick(sl_chain_t *chain, int64_t now_ms) {
    chain->failed = 0;
    for (int i = 0; i < chain->cnt; i++) {
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
    return SL_OK;
}

sl_err_t sl_chain_flush(sl_chain_t *chain) {
    chain->failed = 0;
    for (int i = 0; i < chain->cnt; i++) {
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
    for (int i = 0; i < chain->cnt; i++) {
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
    for (int i = chain->cnt - 1; i >= 0; i--) {
        sl_op_t *op = &chain->ops[i];
        if (op->live && op->sop->plugin->close)
            op->sop->plugin->close(op, op->state);
        op->live = 0;
    }
    free(chain->ops);
    free(chain->partition);
    free(chain);
}
