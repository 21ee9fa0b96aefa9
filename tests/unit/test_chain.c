/*
 * test_chain.c: unit tests of the operator chain (runtime/chain.c): building specs from job
 * properties and the errors users see (unknown types with a hint, type and library both or
 * neither, libraries that do not load, ABI mismatches, failing inits), records flowing through
 * operators to the sink in order, failures and their messages, timers under an injected clock,
 * deterministic random sources, and loading the example operator examples/operators/alerts.c
 * with dlopen the way a job does.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain.h"
#include "conf_int.h"
#include "system.h"
#include "unit.h"
#include "util_time.h"

/* --- a configurable test operator ----------------------------------------------------------- */

typedef struct tst_conf {
    char *suffix;   /* appended to the payload */
    int copies;     /* records emitted per input */
    char *fail_on;  /* payload that makes process fail */
    int64_t timer;  /* timer interval; each firing emits "tick@<now>" */
    int init_fail;  /* init fails (to test how the message travels) */
    int random;     /* replace the payload with sl_op_random() in hex */
} tst_conf_t;

static const sl_prop_t tst_props[] = {
    {"suffix", SL_PROP_STRING, offsetof(tst_conf_t, suffix), "", 0, 0, NULL, 0, "suffix"},
    {"copies", SL_PROP_INT, offsetof(tst_conf_t, copies), "1", 0, 10, NULL, 0, "copies"},
    {"fail.on", SL_PROP_STRING, offsetof(tst_conf_t, fail_on), NULL, 0, 0, NULL, 0, "fail"},
    {"timer.ms", SL_PROP_DURATION, offsetof(tst_conf_t, timer), "0", 0, 0, NULL, 0, "timer"},
    {"init.fail", SL_PROP_BOOL, offsetof(tst_conf_t, init_fail), "false", 0, 0, NULL, 0, "x"},
    {"random", SL_PROP_BOOL, offsetof(tst_conf_t, random), "false", 0, 0, NULL, 0, "random"},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static int tst_inits, tst_closes, tst_validations;

static sl_err_t tst_init(sl_op_t *op, const void *conf, void **statep) {
    const tst_conf_t *tc = conf;
    tst_inits++;
    if (!sl_op_partition(op))
        tst_validations++;
    if (tc->init_fail)
        return sl_op_fail(op, "%s: operators.%s.init.fail: asked to fail",
                          sl_op_where(op, "init.fail"), sl_op_name(op));
    if (tc->timer)
        sl_op_set_timer(op, tc->timer);
    *statep = (void *)tc;
    return SL_OK;
}

static sl_err_t tst_process(sl_op_t *op, void *state, sl_record_t *rec) {
    const tst_conf_t *tc = state;
    size_t len;
    const char *data = sl_record_data(rec, &len);
    char buf[256];
    sl_err_t err = SL_OK;

    if (tc->fail_on && len == strlen(tc->fail_on) && memcmp(data, tc->fail_on, len) == 0)
        return sl_op_fail(op, "bad record '%s'", tc->fail_on);
    if (tc->random)
        snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)sl_op_random(op));
    else
        snprintf(buf, sizeof(buf), "%.*s%s", (int)len, data, tc->suffix ? tc->suffix : "");
    if (sl_record_set_data(rec, buf, strlen(buf)) != SL_OK)
        return SL_ERR_NOMEM;
    for (int i = 0; i < tc->copies && err == SL_OK; i++)
        err = sl_op_emit(op, rec);
    return err;
}

static sl_err_t tst_timer(sl_op_t *op, void *state, int64_t now_ms) {
    char buf[64];
    sl_record_t *rec = sl_record_new();
    sl_err_t err;
    snprintf(buf, sizeof(buf), "tick@%lld", (long long)now_ms);
    sl_record_set_data(rec, buf, strlen(buf));
    err = sl_op_emit(op, rec);
    sl_record_unref(rec);
    return err;
}

static void tst_close(sl_op_t *op, void *state) {
    tst_closes++;
}

static const sl_operator_plugin_t tst_plugin = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "tst",
    .description = "test operator",
    .props = tst_props,
    .conf_size = sizeof(tst_conf_t),
    .init = tst_init,
    .process = tst_process,
    .timer = tst_timer,
    .close = tst_close,
};

/* --- helpers -------------------------------------------------------------------------------- */

#define SINK_MAX 32

typedef struct sink {
    int cnt;
    char payload[SINK_MAX][256];
    sl_record_t *recs[SINK_MAX];
} sink_t;

static sl_err_t sink_fn(void *opaque, sl_record_t *rec) {
    sink_t *s = opaque;
    size_t len;
    const char *data = sl_record_data(rec, &len);
    if (s->cnt < SINK_MAX) {
        snprintf(s->payload[s->cnt], sizeof(s->payload[0]), "%.*s", (int)len, data);
        s->recs[s->cnt] = sl_record_ref(rec);
    }
    s->cnt++;
    return SL_OK;
}

static void sink_clear(sink_t *s) {
    for (int i = 0; i < s->cnt && i < SINK_MAX; i++)
        sl_record_unref(s->recs[i]);
    memset(s, 0, sizeof(*s));
}

/* Loads text as "job.properties" (or name) and splits task.operators into *names. */
static sl_conf_t *load(const char *name, const char *text, sl_list_t *names) {
    char err[256] = "";
    sl_conf_t *conf = sl_conf_new();
    const char *ops;

    CU_ASSERT_FATAL(conf != NULL);
    if (sl_conf_load_string(conf, name, text, strlen(text), err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "load: %s\n", err);
        CU_FAIL("the test configuration does not load");
    }
    memset(names, 0, sizeof(*names));
    ops = sl_conf_get(conf, "task.operators");
    sl_conf_mark_used(conf, "task.operators");
    if (ops) {
        char *copy = strdup(ops), *save = NULL;
        names->items = calloc(16, sizeof(char *));
        for (char *tok = strtok_r(copy, ",", &save); tok && names->cnt < 16;
             tok = strtok_r(NULL, ",", &save))
            names->items[names->cnt++] = strdup(tok);
        free(copy);
    }
    return conf;
}

/* The conf's error that contains needle, or NULL (all errors are printed when none does). */
static const char *find_error(const sl_conf_t *conf, const char *needle) {
    int n = sl_conf_error_count(conf);
    for (int i = 0; i < n; i++)
        if (strstr(sl_conf_error_at(conf, i), needle))
            return sl_conf_error_at(conf, i);
    fprintf(stderr, "\n  no error contains \"%s\"; errors:\n", needle);
    for (int i = 0; i < n; i++)
        fprintf(stderr, "    %s\n", sl_conf_error_at(conf, i));
    return NULL;
}

static void register_tst(void) {
    CU_ASSERT_EQUAL_FATAL(sl_operator_register(&tst_plugin), SL_OK);
}

/* Builds a spec from text expecting failure; returns the conf for inspection. */
static sl_conf_t *spec_fails(const char *text) {
    sl_list_t names;
    sl_conf_t *conf = load("job.properties", text, &names);
    sl_chain_spec_t *spec = sl_chain_spec_new(conf, &names, 1);
    CU_ASSERT_PTR_NULL(spec);
    CU_ASSERT(sl_conf_error_count(conf) > 0);
    sl_chain_spec_destroy(spec);
    sl_list_free(&names);
    return conf;
}

/* The example operator built by make (libtool puts the shared object under .libs). */
static const char *alerts_path(void) {
    static char path[1024];
    const char *top = getenv("top_builddir");
    snprintf(path, sizeof(path), "%s/examples/operators/.libs/libalerts.so",
             top && *top ? top : ".");
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "\n  %s is missing: build it with `make examples/operators/libalerts.la` "
                        "(or set top_builddir)\n", path);
        return NULL;
    }
    return path;
}

/* --- spec errors ---------------------------------------------------------------------------- */

static void test_unknown_type(void) {
    sl_conf_t *conf = spec_fails("task.operators=f\n"
                                 "operators.f.type=filtr\n"
                                 "operators.f.expr=1\n");
    const char *e = find_error(conf, "job.properties:2: operators.f.type");
    CU_ASSERT_PTR_NOT_NULL(e);
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, "unknown operator type 'filtr'") : NULL);
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, "did you mean 'filter'") : NULL);
    /* The operator's other keys are not reported as unknown on top of the real error. */
    CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 0);
    sl_conf_destroy(conf);

    conf = spec_fails("task.operators=f\noperators.f.type=zzzzzzzz\n");
    e = find_error(conf, "unknown operator type 'zzzzzzzz'");
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, "known types: filter, map, rekey, sample, log") : NULL);
    CU_ASSERT_PTR_NULL(e ? strstr(e, "did you mean") : "");
    sl_conf_destroy(conf);
}

static void test_type_and_library(void) {
    sl_conf_t *conf = spec_fails("task.operators=f\n"
                                 "operators.f.type=filter\n"
                                 "operators.f.library=./libx.so\n"
                                 "operators.f.expr=1\n");
    const char *e = find_error(conf, "job.properties:3: operators.f.library");
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, "not both") : NULL);
    sl_conf_destroy(conf);

    conf = spec_fails("# nothing for g\ntask.operators=g\n");
    e = find_error(conf, "job.properties:2: task.operators");
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, "operators.g.type") : NULL);
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, "operators.g.library") : NULL);
    sl_conf_destroy(conf);

    conf = spec_fails("task.operators=a.b\n");
    CU_ASSERT_PTR_NOT_NULL(find_error(conf, "operator name 'a.b'"));
    sl_conf_destroy(conf);

    conf = spec_fails("task.operators=f,f\noperators.f.type=log\n");
    CU_ASSERT_PTR_NOT_NULL(find_error(conf, "listed twice"));
    sl_conf_destroy(conf);
}

static void test_bad_library(void) {
    const char *path = "/nonexistent/dir/libnope.so";
    char text[512], dlmsg[512];
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    sl_conf_t *conf;
    const char *e;

    CU_ASSERT_PTR_NULL_FATAL(dl);
    snprintf(dlmsg, sizeof(dlmsg), "%s", dlerror());
    snprintf(text, sizeof(text), "task.operators=u\noperators.u.library=%s\n", path);
    conf = spec_fails(text);
    e = find_error(conf, "job.properties:2: operators.u.library");
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, dlmsg) : NULL);
    sl_conf_destroy(conf);

    /* A library that loads but lacks the symbol. */
    path = alerts_path();
    if (!path) {
        CU_FAIL("examples/operators/.libs/libalerts.so is missing (see stderr)");
        return;
    }
    snprintf(text, sizeof(text),
             "task.operators=u\noperators.u.library=%s\noperators.u.symbol=no_such_symbol\n",
             path);
    conf = spec_fails(text);
    e = find_error(conf, "job.properties:3: operators.u.symbol");
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, "no operator symbol 'no_such_symbol'") : NULL);
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, "undefined symbol") : NULL); /* dlerror()'s words */
    sl_conf_destroy(conf);
}

static sl_operator_plugin_t abi_plugin = {
    .abi_version = SL_OPERATOR_ABI_VERSION + 41,
    .name = "future",
    .process = tst_process,
};

static sl_operator_plugin_t drift_plugin = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "drift",
    .process = tst_process,
};

static void test_abi_mismatch(void) {
    sl_conf_t *conf;
    const char *e;
    char want1[64], want2[64];

    CU_ASSERT_EQUAL(sl_operator_register(&abi_plugin), SL_ERR_ABI);
    CU_ASSERT_EQUAL(sl_operator_register(NULL), SL_ERR_INVAL);
    conf = spec_fails("task.operators=x\noperators.x.type=future\n");
    CU_ASSERT_PTR_NOT_NULL(find_error(conf, "unknown operator type 'future'"));
    sl_conf_destroy(conf);

    /* A registered struct is borrowed: its version is checked again when a job uses it. */
    CU_ASSERT_EQUAL_FATAL(sl_operator_register(&drift_plugin), SL_OK);
    drift_plugin.abi_version = SL_OPERATOR_ABI_VERSION + 1;
    conf = spec_fails("task.operators=x\noperators.x.type=drift\n");
    e = find_error(conf, "job.properties:2: operators.x.type");
    snprintf(want1, sizeof(want1), "ABI version %d", SL_OPERATOR_ABI_VERSION + 1);
    snprintf(want2, sizeof(want2), "expects version %d", SL_OPERATOR_ABI_VERSION);
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, want1) : NULL);
    CU_ASSERT_PTR_NOT_NULL(e ? strstr(e, want2) : NULL);
    sl_conf_destroy(conf);
    /* A plugin built for version 1 (its struct ends before on_timer) still loads. */
    drift_plugin.abi_version = 1;
    {
        sl_list_t names;
        sl_chain_spec_t *spec;
        conf = load("job.properties", "task.operators=x\noperators.x.type=drift\n", &names);
        spec = sl_chain_spec_new(conf, &names, 1);
        CU_ASSERT_PTR_NOT_NULL(spec);
        sl_chain_spec_destroy(spec);
        sl_list_free(&names);
    }
    sl_conf_destroy(conf);
    drift_plugin.abi_version = SL_OPERATOR_ABI_VERSION;
}

/* The stateful operators of a chain, in chain order, each with the key that chose it: what
 * config check names when an input's partitions may move to another process. */
static void test_stateful_ops(void) {
    static const char text[] = "task.operators=f,d,w\n"
                               "operators.f.type=filter\noperators.f.expr=1\n"
                               "operators.d.type=dedup\noperators.d.key=key\noperators.d.ttl=1h\n"
                               "operators.w.type=window\noperators.w.window=tumbling\n"
                               "operators.w.size=1m\n";
    sl_list_t names;
    sl_conf_t *conf = load("job.properties", text, &names);
    sl_chain_spec_t *spec = sl_chain_spec_new(conf, &names, 1);
    const char *name = NULL, *type = NULL;
    char key[64];

    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    CU_ASSERT(sl_chain_spec_stateful(spec, &name));
    CU_ASSERT_STRING_EQUAL(name, "d");
    CU_ASSERT(sl_chain_spec_stateful_op(spec, 0, &name, &type, key, sizeof(key)));
    CU_ASSERT_STRING_EQUAL(name, "d");
    CU_ASSERT_STRING_EQUAL(type, "dedup");
    CU_ASSERT_STRING_EQUAL(key, "operators.d.type");
    CU_ASSERT(sl_chain_spec_stateful_op(spec, 1, &name, &type, NULL, 0));
    CU_ASSERT_STRING_EQUAL(name, "w");
    CU_ASSERT_STRING_EQUAL(type, "window");
    CU_ASSERT(!sl_chain_spec_stateful_op(spec, 2, &name, &type, key, sizeof(key)));
    CU_ASSERT(!sl_chain_spec_stateful_op(NULL, 0, NULL, NULL, NULL, 0));
    sl_chain_spec_destroy(spec);
    sl_list_free(&names);
    sl_conf_destroy(conf);
}

/* Connector ABI: version 3 (with in_partitions_move) and version 2 (without) load, others not. */
static void test_system_abi(void) {
    static const char *const factories[] = {"t", NULL};
    sl_system_plugin_t pl;
    char why[256];
    memset(&pl, 0, sizeof(pl));
    pl.name = "t";
    pl.factories = factories;
    for (int v = 0; v <= SL_SYSTEM_ABI_VERSION + 1; v++) {
        pl.abi_version = v;
        CU_ASSERT_EQUAL(sl_system_plugin_check(&pl, why, sizeof(why)),
                        v == 2 || v == 3 ? SL_OK : SL_ERR_ABI);
    }
    CU_ASSERT_EQUAL(SL_SYSTEM_ABI_VERSION, 3);
}

static void test_register(void) {
    static const sl_operator_plugin_t other_filter = {
        .abi_version = SL_OPERATOR_ABI_VERSION, .name = "filter", .process = tst_process};
    static const sl_operator_plugin_t no_process = {
        .abi_version = SL_OPERATOR_ABI_VERSION, .name = "noproc"};
    static const sl_operator_plugin_t bad_table = {
        .abi_version = SL_OPERATOR_ABI_VERSION, .name = "badtable", .props = tst_props,
        .conf_size = 4, .process = tst_process};
    const sl_operator_plugin_t *const *all;
    int n, found = 0;

    register_tst();
    CU_ASSERT_EQUAL(sl_operator_register(&tst_plugin), SL_OK); /* twice is harmless */
    CU_ASSERT_EQUAL(sl_operator_register(&other_filter), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_operator_register(&no_process), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_operator_register(&bad_table), SL_ERR_INVAL);
    n = sl_operator_plugins(&all);
    CU_ASSERT(n >= 6);
    CU_ASSERT_STRING_EQUAL(all[0]->name, "filter");
    CU_ASSERT_STRING_EQUAL(all[4]->name, "log");
    for (int i = 0; i < n; i++)
        found += all[i] == &tst_plugin;
    CU_ASSERT_EQUAL(found, 1);
}

static void test_init_failure_is_conf_error(void) {
    int validations;
    sl_conf_t *conf;
    const char *e;

    register_tst();
    validations = tst_validations;
    conf = spec_fails("task.operators=a\n"
                      "operators.a.type=tst\n"
                      "\n"
                      "operators.a.init.fail=yes\n");
    e = find_error(conf, "job.properties:4: operators.a.init.fail: asked to fail");
    CU_ASSERT_PTR_NOT_NULL(e);
    CU_ASSERT_EQUAL(tst_validations, validations + 1);
    sl_conf_destroy(conf);

    /* A bad value of the plugin's own table is reported by the table, with its line. */
    conf = spec_fails("task.operators=a\noperators.a.type=tst\noperators.a.copies=many\n");
    CU_ASSERT_PTR_NOT_NULL(find_error(conf, "job.properties:3: operators.a.copies"));
    sl_conf_destroy(conf);
}

/* --- running chains ------------------------------------------------------------------------- */

typedef struct harness {
    sl_conf_t *conf;
    sl_list_t names;
    sl_chain_spec_t *spec;
    sl_chain_t *chain;
    sink_t sink;
} harness_t;

static int open_chain(harness_t *h, const char *name, const char *text, uint64_t seed,
                      const char *partition) {
    char err[512] = "";
    memset(h, 0, sizeof(*h));
    h->conf = load(name, text, &h->names);
    h->spec = sl_chain_spec_new(h->conf, &h->names, seed);
    if (!h->spec) {
        find_error(h->conf, "(print them)");
        CU_FAIL("spec failed");
        return -1;
    }
    h->chain = sl_chain_new(h->spec, partition, sink_fn, &h->sink, NULL, err, sizeof(err));
    if (!h->chain) {
        fprintf(stderr, "\n  sl_chain_new: %s\n", err);
        CU_FAIL("chain failed");
        return -1;
    }
    return 0;
}

static void close_chain(harness_t *h) {
    sl_chain_destroy(h->chain);
    sl_chain_spec_destroy(h->spec);
    sl_list_free(&h->names);
    sl_conf_destroy(h->conf);
    sink_clear(&h->sink);
}

static sl_err_t push(harness_t *h, const char *payload, const char *key) {
    sl_record_t *rec = sl_record_new();
    sl_err_t err;
    CU_ASSERT_FATAL(rec != NULL);
    sl_record_set_data(rec, payload, strlen(payload));
    if (key)
        sl_record_set_key(rec, key, strlen(key));
    err = sl_chain_process(h->chain, rec);
    sl_record_unref(rec);
    return err;
}

static void test_emit_order(void) {
    harness_t h;
    int inits, closes;

    register_tst();
    inits = tst_inits;
    closes = tst_closes;
    if (open_chain(&h, "job.properties",
                   "task.operators=a,b,c\n"
                   "operators.a.type=tst\noperators.a.suffix=A\n"
                   "operators.b.type=tst\noperators.b.suffix=B\noperators.b.copies=2\n"
                   "operators.c.type=tst\noperators.c.suffix=C\n",
                   1, "p0") < 0)
        goto done;
    /* One validation init+close per operator, then one init per operator for the chain. */
    CU_ASSERT_EQUAL(tst_inits, inits + 6);
    CU_ASSERT_EQUAL(tst_closes, closes + 3);
    CU_ASSERT_EQUAL(sl_chain_spec_count(h.spec), 3);
    {
        char dump[4096] = "";
        FILE *fp = tmpfile();
        CU_ASSERT_FATAL(fp != NULL);
        sl_chain_spec_dump(h.spec, fp);
        rewind(fp);
        dump[fread(dump, 1, sizeof(dump) - 1, fp)] = '\0';
        fclose(fp);
        CU_ASSERT_PTR_NOT_NULL(strstr(dump, "operators.a.type=tst"));
        CU_ASSERT_PTR_NOT_NULL(strstr(dump, "operators.b.copies=2"));
        CU_ASSERT_PTR_NOT_NULL(strstr(dump, "operators.c.suffix=C"));
        CU_ASSERT_PTR_NULL(strstr(dump, "operators.a.library")); /* not used by a typed op */
    }
    CU_ASSERT_EQUAL(push(&h, "x", NULL), SL_OK);
    /* b emits the same record twice: c appends to it each time, the sink sees both. */
    CU_ASSERT_EQUAL(h.sink.cnt, 2);
    CU_ASSERT_STRING_EQUAL(h.sink.payload[0], "xABC");
    CU_ASSERT_STRING_EQUAL(h.sink.payload[1], "xABCC");
    CU_ASSERT_STRING_EQUAL(sl_chain_error(h.chain), "");
done:
    close_chain(&h);
    CU_ASSERT_EQUAL(tst_closes, closes + 6);
}

static void test_sink_gets_last_output(void) {
    harness_t h;
    register_tst();
    if (open_chain(&h, "job.properties",
                   "task.operators=a,drop\n"
                   "operators.a.type=tst\noperators.a.suffix=!\n"
                   "operators.drop.type=tst\noperators.drop.copies=0\n",
                   1, "p0") < 0)
        goto done;
    CU_ASSERT_EQUAL(push(&h, "x", NULL), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 0); /* the last operator emitted nothing */
    close_chain(&h);

    /* No operators at all: records go straight to the sink. */
    if (open_chain(&h, "job.properties", "other=1\n", 1, "p0") < 0)
        goto done;
    CU_ASSERT_EQUAL(sl_chain_spec_count(h.spec), 0);
    CU_ASSERT_EQUAL(push(&h, "plain", NULL), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 1);
    CU_ASSERT_STRING_EQUAL(h.sink.payload[0], "plain");
done:
    close_chain(&h);
}

static void test_fail_propagates(void) {
    harness_t h;
    register_tst();
    if (open_chain(&h, "job.properties",
                   "task.operators=a,b,c\n"
                   "operators.a.type=tst\n"
                   "operators.b.type=tst\noperators.b.fail.on=poison\n"
                   "operators.c.type=tst\n",
                   1, "p0") < 0)
        goto done;
    CU_ASSERT_EQUAL(push(&h, "ok", NULL), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "poison", NULL), SL_ERR_RECORD);
    CU_ASSERT_STRING_EQUAL(sl_chain_error(h.chain),
                           "operators.b (job.properties:3): bad record 'poison'");
    CU_ASSERT_EQUAL(h.sink.cnt, 1);
    CU_ASSERT_EQUAL(push(&h, "ok2", NULL), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 2);
done:
    close_chain(&h);
}

static void test_timers(void) {
    int64_t now = 1000000;
    harness_t h;

    register_tst();
    sl_time_inject(&now);
    if (open_chain(&h, "job.properties",
                   "task.operators=t,s\n"
                   "operators.t.type=tst\noperators.t.timer.ms=100\n"
                   "operators.s.type=tst\noperators.s.suffix=+\n",
                   1, "p0") < 0)
        goto done;
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now + 50), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 0);
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now + 100), SL_OK);
    if (h.sink.cnt != 1) {
        CU_FAIL("the timer did not fire once");
        goto done;
    }
    /* The timer's record passes the operators after it. */
    CU_ASSERT_STRING_EQUAL(h.sink.payload[0], "tick@1000100+");
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now + 150), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 1);
    /* A clock that jumps many intervals fires once. */
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now + 1000), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 2);
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now + 1099), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 2);
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now + 1100), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 3);
done:
    close_chain(&h);
    sl_time_inject(NULL);
}

/* The first three random values of operator r in partition for seed, as hex text. */
static void random_run(uint64_t seed, const char *partition, char out[3][256]) {
    harness_t h;
    if (open_chain(&h, "job.properties",
                   "task.operators=r\noperators.r.type=tst\noperators.r.random=true\n", seed,
                   partition) == 0) {
        for (int i = 0; i < 3; i++)
            push(&h, "x", NULL);
        CU_ASSERT_EQUAL(h.sink.cnt, 3);
        for (int i = 0; i < 3 && i < h.sink.cnt; i++)
            snprintf(out[i], 256, "%s", h.sink.payload[i]);
    }
    close_chain(&h);
}

static void test_random_deterministic(void) {
    char a[3][256] = {{0}}, b[3][256] = {{0}}, c[3][256] = {{0}}, d[3][256] = {{0}};
    register_tst();
    random_run(42, "shard-1", a);
    random_run(42, "shard-1", b);
    random_run(43, "shard-1", c);
    random_run(42, "shard-2", d);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(strlen(a[i]), 16);
        CU_ASSERT_STRING_EQUAL(a[i], b[i]);
        CU_ASSERT_STRING_NOT_EQUAL(a[i], c[i]);
        CU_ASSERT_STRING_NOT_EQUAL(a[i], d[i]);
    }
    CU_ASSERT_STRING_NOT_EQUAL(a[0], a[1]);
}

/* --- the example operator, loaded with dlopen ----------------------------------------------- */

static void test_dlopen_alerts(void) {
    const char *path = alerts_path();
    int64_t now = 5000000;
    char text[2048], dir[1024];
    harness_t h;
    const char *slash;

    if (!path) {
        CU_FAIL("examples/operators/.libs/libalerts.so is missing (see stderr)");
        return;
    }
    sl_time_inject(&now);
    snprintf(text, sizeof(text),
             "task.operators=alerts\n"
             "operators.alerts.library=%s\n"
             "operators.alerts.threshold=2\n"
             "operators.alerts.window.ms=1s\n",
             path);
    if (open_chain(&h, "job.properties", text, 1, "p0") < 0)
        goto done;
    CU_ASSERT_EQUAL(push(&h, "one", "k"), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "other", "j"), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "two", "k"), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "three", "k"), SL_OK);
    if (h.sink.cnt != 5) {
        CU_FAIL("the alerts operator did not emit 4 records and 1 alert");
        goto done;
    }
    CU_ASSERT_STRING_EQUAL(h.sink.payload[0], "one");
    CU_ASSERT_STRING_EQUAL(h.sink.payload[1], "other");
    CU_ASSERT_STRING_EQUAL(h.sink.payload[2], "two");
    CU_ASSERT_STRING_EQUAL(h.sink.payload[3], "{\"key\":\"k\",\"count\":2,\"window_ms\":1000}");
    CU_ASSERT_STRING_EQUAL(sl_record_header(h.sink.recs[3], "alert"), "true");
    CU_ASSERT_STRING_EQUAL(sl_record_key(h.sink.recs[3], NULL), "k");
    CU_ASSERT_PTR_NULL(sl_record_header(h.sink.recs[2], "alert"));
    CU_ASSERT_STRING_EQUAL(h.sink.payload[4], "three");
    /* After the window the count starts again: two more records raise a second alert. */
    now += 1000;
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now), SL_OK);
    push(&h, "four", "k");
    push(&h, "five", "k");
    CU_ASSERT_EQUAL(h.sink.cnt, 8);
    CU_ASSERT_STRING_EQUAL(h.sink.payload[7], "{\"key\":\"k\",\"count\":2,\"window_ms\":1000}");
    close_chain(&h);

    /* A relative library path is found next to the job file. */
    slash = strrchr(path, '/');
    snprintf(dir, sizeof(dir), "%.*s/job.properties", (int)(slash - path), path);
    if (open_chain(&h, dir,
                   "task.operators=al\noperators.al.library=libalerts.so\n"
                   "operators.al.threshold=1\n",
                   1, "p0") < 0)
        goto done;
    CU_ASSERT_EQUAL(push(&h, "x", "k"), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 2);
done:
    close_chain(&h);
    sl_time_inject(NULL);
}

void test_chain_register(void) {
    static const unit_test_t tests[] = {
        {"unknown type suggests", test_unknown_type},
        {"type and library: both, neither, bad names", test_type_and_library},
        {"bad library quotes dlerror", test_bad_library},
        {"ABI mismatch", test_abi_mismatch},
        {"registry", test_register},
        {"stateful operators in chain order", test_stateful_ops},
        {"connector ABI versions 2 and 3", test_system_abi},
        {"init failure is a conf error", test_init_failure_is_conf_error},
        {"emit passes through in order", test_emit_order},
        {"sink gets what the last operator emits", test_sink_gets_last_output},
        {"sl_op_fail propagates", test_fail_propagates},
        {"timers by injected clock", test_timers},
        {"random is deterministic per seed", test_random_deterministic},
        {"dlopen the example operator", test_dlopen_alerts},
        {NULL, NULL},
    };
    unit_add_suite("chain", tests);
}
