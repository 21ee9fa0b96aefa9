/*
 * test_window.c: unit tests of event time and the window operator, driven through real chains
 * over a real SQLite checkpoint file (runtime/chain.c, operators/window.c): task.timestamp.expr
 * and the watermark (delay, restart, end of input), timers of a test operator (set, delete,
 * order, event- and processing-time firing, persistence across a commit and a "crash", errors,
 * ABI version 1), and the window operator: tumbling, hopping and session windows, every
 * aggregate, late records, allowed lateness, processing time on the injected clock, the
 * configuration errors, and bad state (a corrupt window row, a corrupt session list, a corrupt
 * checkpoint file).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "chain.h"
#include "checkpoint.h"
#include "metrics.h"
#include "oom.h"
#include "state_int.h"
#include "unit.h"
#include "util_str.h"
#include "util_time.h"

/* --- the harness: a chain for partition p0 with a state host over a checkpoint file ---------- */

typedef struct wh {
    sl_conf_t *conf;
    sl_list_t names, outs;
    sl_chain_spec_t *spec;
    sl_chain_t *chain;
    sl_ckpt_store_t *ckpt;
    sl_state_host_t *sh;
    sl_metrics_t *metrics;
    char out[8192];  /* every payload the sink got, each followed by '\n' */
    char side[4096]; /* "<output>:<payload>\n" for each side-output record */
    int nout;
    int64_t last_et; /* event time of the last record the sink got */
    int64_t vmax;    /* task.state.value.max-bytes (0: 4096) */
} wh_t;

static char dbpath[600];

static void fresh(void) {
    snprintf(dbpath, sizeof(dbpath), "%s/window.db", unit_tmpdir());
}

static void append(char *buf, size_t size, const char *data, size_t len) {
    size_t o = strlen(buf);
    snprintf(buf + o, size - o, "%.*s\n", (int)len, data);
}

static sl_err_t sink_fn(void *opaque, sl_record_t *rec) {
    wh_t *h = opaque;
    size_t len;
    const char *data = sl_record_data(rec, &len);
    append(h->out, sizeof(h->out), data, len);
    h->nout++;
    h->last_et = sl_record_event_time(rec);
    return SL_OK;
}

static sl_err_t side_fn(void *opaque, sl_record_t *rec, int output) {
    wh_t *h = opaque;
    size_t len;
    const char *data = sl_record_data(rec, &len);
    char line[600];
    snprintf(line, sizeof(line), "%s:%.*s", h->outs.items[output], (int)len, data);
    append(h->side, sizeof(h->side), line, strlen(line));
    return SL_OK;
}

static void split_list(const char *text, sl_list_t *l) {
    char *copy, *save = NULL;
    if (!text)
        return;
    copy = strdup(text);
    l->items = calloc(8, sizeof(char *));
    for (char *tok = strtok_r(copy, ",", &save); tok && l->cnt < 8;
         tok = strtok_r(NULL, ",", &save))
        l->items[l->cnt++] = strdup(tok);
    free(copy);
}

/* Loads text as job.properties and builds the spec (with task.timestamp.expr,
 * task.watermark.delay (ms) and task.outputs taken from text). Returns 0 when it is valid. */
static int spec_build(wh_t *h, const char *text) {
    char err[512] = "";
    sl_chain_opts_t opts;
    const char *delay;

    h->conf = sl_conf_new();
    CU_ASSERT_FATAL(h->conf != NULL);
    if (sl_conf_load_string(h->conf, "job.properties", text, strlen(text), err, sizeof(err)) !=
        SL_OK) {
        fprintf(stderr, "\n  load: %s\n", err);
        CU_FAIL("the test configuration does not load");
        return -1;
    }
    split_list(sl_conf_get(h->conf, "task.operators"), &h->names);
    split_list(sl_conf_get(h->conf, "task.outputs"), &h->outs);
    memset(&opts, 0, sizeof(opts));
    opts.seed = 1;
    opts.timestamp_expr = sl_conf_get(h->conf, "task.timestamp.expr");
    delay = sl_conf_get(h->conf, "task.watermark.delay");
    opts.watermark_delay_ms = delay ? atoll(delay) : 0;
    opts.outputs = &h->outs;
    h->spec = sl_chain_spec_new_ex(h->conf, &h->names, &opts);
    return h->spec ? 0 : -1;
}

/* Opens the checkpoint file (dbpath), the state host and the chain. */
static int chain_open(wh_t *h) {
    char err[512] = "";
    sl_chain_env_t env;

    h->ckpt = sl_ckpt_sqlite_open(dbpath, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->ckpt);
    h->sh = sl_state_host_new(h->ckpt, "file/in/0", 100, h->vmax ? h->vmax : 4096, err,
                              sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->sh);
    memset(&env, 0, sizeof(env));
    env.sh = h->sh;
    env.side = side_fn;
    env.metrics = h->metrics;
    h->chain = sl_chain_new_ex(h->spec, "p0", sink_fn, h, &env, err, sizeof(err));
    if (!h->chain) {
        fprintf(stderr, "\n  sl_chain_new: %s\n", err);
        CU_FAIL("the chain could not be built");
        return -1;
    }
    return 0;
}

static int wopen_vmax(wh_t *h, const char *text, int64_t vmax) {
    memset(h, 0, sizeof(*h));
    h->vmax = vmax;
    h->metrics = sl_metrics_new();
    if (spec_build(h, text) != 0) {
        for (int i = 0; i < sl_conf_error_count(h->conf); i++)
            fprintf(stderr, "\n  %s", sl_conf_error_at(h->conf, i));
        CU_FAIL("the spec could not be built");
        return -1;
    }
    return chain_open(h);
}

static int wopen(wh_t *h, const char *text) {
    return wopen_vmax(h, text, 0);
}

/* Drops the chain, the state host and the checkpoint store (a "crash" when not committed). */
static void chain_close(wh_t *h) {
    sl_chain_destroy(h->chain);
    sl_state_host_destroy(h->sh);
    sl_ckpt_close(h->ckpt);
    h->chain = NULL;
    h->sh = NULL;
    h->ckpt = NULL;
}

static void wclose(wh_t *h) {
    chain_close(h);
    sl_chain_spec_destroy(h->spec);
    sl_list_free(&h->names);
    sl_list_free(&h->outs);
    sl_conf_destroy(h->conf);
    sl_metrics_destroy(h->metrics);
}

static void commit(wh_t *h, const char *off) {
    char err[512] = "";
    sl_ckpt_t cp = {.system = "file", .stream = "in", .partition = "0", .offset = off};
    sl_state_commit_t sc = {&h->sh, 1};
    CU_ASSERT_EQUAL(sl_ckpt_write_with(h->ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                       sizeof(err)), SL_OK);
    sl_state_host_committed(h->sh);
}

/* Runs a record (payload, key NULL: none, et 0: no event time) through the chain. */
static sl_err_t push(wh_t *h, const char *payload, const char *key, int64_t et) {
    sl_record_t *rec = sl_record_new();
    sl_err_t err;
    CU_ASSERT_FATAL(rec != NULL);
    CU_ASSERT_FATAL(sl_record_set_data(rec, payload, strlen(payload)) == SL_OK);
    if (key)
        CU_ASSERT_FATAL(sl_record_set_key(rec, key, strlen(key)) == SL_OK);
    if (et)
        sl_record_set_event_time(rec, et);
    err = sl_chain_process(h->chain, rec);
    sl_record_unref(rec);
    return err;
}

/* Compares and clears the sink's output. */
#define EXPECT_OUT(h, text)                                                                    \
    do {                                                                                       \
        if (strcmp((h)->out, (text)) != 0)                                                     \
            fprintf(stderr, "\n  line %d: expected:\n%s  got:\n%s", __LINE__, (text), (h)->out); \
        CU_ASSERT_STRING_EQUAL((h)->out, (text));                                              \
        (h)->out[0] = '\0';                                                                    \
    } while (0)

static int contains(const char *hay, const char *needle) {
    if (strstr(hay, needle))
        return 1;
    fprintf(stderr, "\n  expected \"%s\" in: %s", needle, hay);
    return 0;
}

/* The first configuration error of text, checked to contain each of the needles. */
static void expect_conf_error(const char *text, const char *n1, const char *n2) {
    wh_t h;
    const char *e;
    memset(&h, 0, sizeof(h));
    CU_ASSERT_NOT_EQUAL(spec_build(&h, text), 0);
    e = sl_conf_error_count(h.conf) ? sl_conf_error_at(h.conf, 0) : "";
    CU_ASSERT(contains(e, n1));
    if (n2)
        CU_ASSERT(contains(e, n2));
    sl_chain_spec_destroy(h.spec);
    sl_list_free(&h.names);
    sl_list_free(&h.outs);
    sl_conf_destroy(h.conf);
}

/* The value of a counter of the job's metrics as rendered, -1 when absent. */
static long long metric(wh_t *h, const char *series) {
    sl_sb_t sb = {0};
    long long v = -1;
    const char *p;
    sl_metrics_render(h->metrics, &sb);
    p = sb.buf ? strstr(sb.buf, series) : NULL;
    if (p)
        v = atoll(p + strlen(series));
    sl_sb_free(&sb);
    return v;
}

/* --- a test operator with timers ------------------------------------------------------------- */

/* Payloads: "set e|p TIME KEY", "del e|p TIME KEY", anything else passes on. Timers fire into
 * timer_log as "e100:key;"; a timer keyed "fail" fails. */
static char timer_log[1024];
static sl_err_t v1_result = SL_OK;

static sl_err_t tmr_process(sl_op_t *op, void *state, sl_record_t *rec) {
    char buf[256], dom, key[64];
    long long t;
    size_t len;
    const char *data = sl_record_data(rec, &len);
    (void)state;
    snprintf(buf, sizeof(buf), "%.*s", (int)len, data);
    if (sscanf(buf, "set %c %lld %63s", &dom, &t, key) == 3)
        return sl_op_timer_set(op, dom == 'e' ? SL_TIME_EVENT : SL_TIME_PROCESSING, key,
                               strlen(key), t);
    if (sscanf(buf, "del %c %lld %63s", &dom, &t, key) == 3)
        return sl_op_timer_delete(op, dom == 'e' ? SL_TIME_EVENT : SL_TIME_PROCESSING, key,
                                  strlen(key), t);
    return sl_op_emit(op, rec);
}

static sl_err_t tmr_on_timer(sl_op_t *op, void *state, const sl_timer_t *t) {
    size_t o = strlen(timer_log);
    (void)state;
    if (t->klen == 4 && memcmp(t->key, "fail", 4) == 0)
        return sl_op_fail(op, "boom at %lld", (long long)t->time_ms);
    snprintf(timer_log + o, sizeof(timer_log) - o, "%c%lld:%.*s;",
             t->domain == SL_TIME_EVENT ? 'e' : 'p', (long long)t->time_ms, (int)t->klen,
             (const char *)t->key);
    return SL_OK;
}

static const sl_operator_plugin_t tmr_plugin = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "test_timers",
    .description = "timers under test",
    .process = tmr_process,
    .on_timer = tmr_on_timer,
};

/* Built for ABI 1: its on_timer is past the end of a version 1 struct and must not count. */
static sl_err_t v1_process(sl_op_t *op, void *state, sl_record_t *rec) {
    (void)state;
    v1_result = sl_op_timer_set(op, SL_TIME_EVENT, "k", 1, 100);
    return sl_op_emit(op, rec);
}

static const sl_operator_plugin_t v1_plugin = {
    .abi_version = 1,
    .name = "test_timers_v1",
    .description = "an ABI 1 operator",
    .process = v1_process,
    .on_timer = tmr_on_timer,
};

static void register_plugins(void) {
    CU_ASSERT_EQUAL_FATAL(sl_operator_register(&tmr_plugin), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_operator_register(&v1_plugin), SL_OK);
}

static const char *const TMR = "task.operators=t\noperators.t.type=test_timers\n";

static void test_timers(void) {
    wh_t h;
    int64_t now = 500;
    register_plugins();
    fresh();
    sl_time_inject(&now);
    timer_log[0] = '\0';
    if (wopen(&h, TMR) == 0) {
        CU_ASSERT_EQUAL(push(&h, "set e 100 b", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "set e 100 a", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "set e 50 z", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "set e 100 a", NULL, 0), SL_OK); /* the same: one timer */
        CU_ASSERT_EQUAL(push(&h, "set e 200 c", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "del e 200 c", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "del e 999 never", NULL, 0), SL_OK); /* not set: fine */
        CU_ASSERT_EQUAL(push(&h, "set p 1000 p2", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "set p 1000 p1", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "set p 900 p0", NULL, 0), SL_OK);
        CU_ASSERT_STRING_EQUAL(timer_log, "");
        /* a watermark of 49 fires nothing; 100 fires by time then key; a processing-time
         * timer never fires from the watermark */
        CU_ASSERT_EQUAL(push(&h, "x", NULL, 50), SL_OK);
        CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 49);
        CU_ASSERT_STRING_EQUAL(timer_log, "");
        CU_ASSERT_EQUAL(push(&h, "x", NULL, 101), SL_OK);
        CU_ASSERT_STRING_EQUAL(timer_log, "e50:z;e100:a;e100:b;");
        timer_log[0] = '\0';
        CU_ASSERT_EQUAL(push(&h, "x", NULL, 100000), SL_OK); /* c was deleted */
        CU_ASSERT_STRING_EQUAL(timer_log, "");
        /* processing time: the tick with the clock */
        CU_ASSERT_EQUAL(sl_chain_tick(h.chain, 899), SL_OK);
        CU_ASSERT_STRING_EQUAL(timer_log, "");
        CU_ASSERT_EQUAL(sl_chain_tick(h.chain, 900), SL_OK);
        CU_ASSERT_STRING_EQUAL(timer_log, "p900:p0;");
        CU_ASSERT_EQUAL(sl_chain_tick(h.chain, 5000), SL_OK);
        CU_ASSERT_STRING_EQUAL(timer_log, "p900:p0;p1000:p1;p1000:p2;");
        CU_ASSERT_EQUAL(sl_chain_tick(h.chain, 6000), SL_OK); /* fired once only */
        CU_ASSERT_STRING_EQUAL(timer_log, "p900:p0;p1000:p1;p1000:p2;");
        CU_ASSERT_EQUAL(h.nout, 3);
    }
    wclose(&h);
    sl_time_inject(NULL);
}

/* Timers live in the keyed state: committed ones fire after a restart, uncommitted ones are
 * gone after a crash; the watermark comes back from the committed state too. */
static void test_timers_persist(void) {
    wh_t h;
    int64_t now = 500;
    register_plugins();
    fresh();
    sl_time_inject(&now);
    timer_log[0] = '\0';
    if (wopen(&h, TMR) != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "set e 300 k", NULL, 0), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "set p 700 q", NULL, 0), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "x", NULL, 200), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 199);
    commit(&h, "1");
    CU_ASSERT_EQUAL(push(&h, "set e 250 lost", NULL, 0), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "x", NULL, 240), SL_OK); /* watermark 239, uncommitted */
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 239);
    chain_close(&h); /* crash */
    if (chain_open(&h) != 0)
        goto out;
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 199);
    CU_ASSERT_EQUAL(push(&h, "x", NULL, 302), SL_OK);
    CU_ASSERT_STRING_EQUAL(timer_log, "e300:k;"); /* not "lost" */
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, 700), SL_OK);
    CU_ASSERT_STRING_EQUAL(timer_log, "e300:k;p700:q;");
    commit(&h, "2");
    chain_close(&h);
    if (chain_open(&h) != 0)
        goto out;
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 301);
    timer_log[0] = '\0';
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK); /* fired ones stay fired */
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, 100000), SL_OK);
    CU_ASSERT_STRING_EQUAL(timer_log, "");
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), SL_WATERMARK_END);
out:
    wclose(&h);
    sl_time_inject(NULL);
}

/* An error of on_timer fails the call that fired it, naming the operator; end_input fires
 * every event-time timer; a version 1 operator cannot set timers. */
static void test_timers_errors(void) {
    wh_t h;
    int64_t now = 500;
    register_plugins();
    fresh();
    sl_time_inject(&now);
    timer_log[0] = '\0';
    if (wopen(&h, TMR) == 0) {
        CU_ASSERT_EQUAL(push(&h, "set e 10 fail", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "set e 5000000 far", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "set p 10 fail", NULL, 0), SL_OK);
        CU_ASSERT_EQUAL(push(&h, "x", NULL, 20), SL_ERR_RECORD);
        CU_ASSERT(contains(sl_chain_error(h.chain), "operators.t (job.properties:2): boom at 10"));
        CU_ASSERT_EQUAL(sl_chain_tick(h.chain, 20), SL_ERR_RECORD);
        CU_ASSERT(contains(sl_chain_error(h.chain), "operators.t (job.properties:2): boom at 10"));
        CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
        CU_ASSERT_STRING_EQUAL(timer_log, "e5000000:far;");
    }
    /* without keyed state (an input without checkpoints): SL_ERR_STATE */
    if (h.spec) {
        char err[256] = "";
        sl_chain_t *bare = sl_chain_new(h.spec, "p0", sink_fn, &h, NULL, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL(bare);
        if (bare) {
            sl_chain_t *keep = h.chain;
            h.chain = bare;
            CU_ASSERT_EQUAL(push(&h, "set e 10 k", NULL, 0), SL_ERR_STATE);
            CU_ASSERT(contains(sl_chain_error(bare), "operators.t (job.properties:2): process "
                                                     "failed"));
            CU_ASSERT_EQUAL(push(&h, "x", NULL, 100), SL_OK); /* no timers: nothing fires */
            h.chain = keep;
            sl_chain_destroy(bare);
        }
    }
    wclose(&h);
    fresh();
    v1_result = SL_OK;
    if (wopen(&h, "task.operators=t\noperators.t.type=test_timers_v1\n") == 0) {
        CU_ASSERT_EQUAL(push(&h, "x", NULL, 1000), SL_OK);
        CU_ASSERT_EQUAL(v1_result, SL_ERR_INVAL);
        CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
        CU_ASSERT_STRING_EQUAL(timer_log, "e5000000:far;"); /* nothing from it */
    }
    wclose(&h);
    sl_time_inject(NULL);
}

/* --- event time and the watermark ------------------------------------------------------------ */

static void test_timestamp_expr(void) {
    wh_t h;
    fresh();
    if (wopen(&h, "task.operators=t\noperators.t.type=test_timers\n"
                  "task.timestamp.expr=json_extract(payload, '$.ts')\n"
                  "task.watermark.delay=100\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), SL_WATERMARK_NONE);
    CU_ASSERT_EQUAL(push(&h, "{\"ts\":1000}", NULL, 5), SL_OK); /* integer */
    CU_ASSERT_EQUAL(h.last_et, 1000);
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 899); /* max - delay - 1 */
    CU_ASSERT_EQUAL(push(&h, "{\"ts\":1500.7}", NULL, 0), SL_OK); /* real */
    CU_ASSERT_EQUAL(h.last_et, 1500);
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 1399);
    CU_ASSERT_EQUAL(push(&h, "{\"ts\":\"2000\"}", NULL, 0), SL_OK); /* numeric text */
    CU_ASSERT_EQUAL(h.last_et, 2000);
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 1899);
    CU_ASSERT_EQUAL(push(&h, "{\"ts\":1200}", NULL, 0), SL_OK); /* older: no step back */
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 1899);
    CU_ASSERT_EQUAL(push(&h, "{}", NULL, 777), SL_OK); /* NULL: the source's time stays */
    CU_ASSERT_EQUAL(h.last_et, 777);
    CU_ASSERT_EQUAL(push(&h, "{\"ts\":\"soon\"}", NULL, 0), SL_ERR_RECORD);
    CU_ASSERT(contains(sl_chain_error(h.chain), "job.properties:3"));
    CU_ASSERT(contains(sl_chain_error(h.chain), "task.timestamp.expr gave 'soon'"));
    CU_ASSERT_EQUAL(push(&h, "{\"ts\":\"12abc\"}", NULL, 0), SL_ERR_RECORD);
    CU_ASSERT(contains(sl_chain_error(h.chain), "task.timestamp.expr"));
    CU_ASSERT_EQUAL(push(&h, "not json", NULL, 0), SL_ERR_RECORD); /* the expression fails */
    CU_ASSERT(contains(sl_chain_error(h.chain), "malformed JSON"));
    CU_ASSERT_EQUAL(h.nout, 5);
    CU_ASSERT_EQUAL(push(&h, "{\"ts\":2100}", NULL, 0), SL_OK); /* goes on after errors */
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 1999);
    commit(&h, "1");
    chain_close(&h);
    if (chain_open(&h) != 0)
        goto out;
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 1999); /* restored */
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), SL_WATERMARK_END);
out:
    wclose(&h);
    expect_conf_error("task.operators=t\noperators.t.type=test_timers\n"
                      "task.timestamp.expr=payload +\n",
                      "task.timestamp.expr", NULL);
}

/* --- the window operator --------------------------------------------------------------------- */

#define W "task.operators=w\noperators.w.type=window\n"

static void test_tumbling(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "operators.w.window=tumbling\noperators.w.size=10\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "1", "a", 1), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "2", "b", 3), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "3", "a", 9), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "4", "a", 10), SL_OK); /* watermark 9: [0, 10) closes */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":0,\"window_end\":10,\"count\":2,"
                   "\"update\":false}\n"
                   "{\"key\":\"b\",\"window_start\":0,\"window_end\":10,\"count\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(h.last_et, 9); /* a window's time is its last ms */
    CU_ASSERT_EQUAL(push(&h, "5", "a", 25), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":10,\"window_end\":20,\"count\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(push(&h, "6", NULL, 26), SL_OK); /* no key: the NULL group */
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    /* same end: in the order of the encoded groups (type byte first: text before NULL) */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":20,\"window_end\":30,\"count\":1,"
                   "\"update\":false}\n"
                   "{\"key\":null,\"window_start\":20,\"window_end\":30,\"count\":1,"
                   "\"update\":false}\n");
out:
    wclose(&h);
}

static void test_hopping(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "operators.w.window=hopping\noperators.w.size=10\noperators.w.slide=5\n"
                    "operators.w.offset=2\n") != 0)
        goto out;
    /* windows start at 2 + 5k: t=8 lies in [7, 17) and [2, 12) */
    CU_ASSERT_EQUAL(push(&h, "1", "a", 8), SL_OK);
    CU_ASSERT_STRING_EQUAL(h.out, "");
    CU_ASSERT_EQUAL(push(&h, "2", "a", 12), SL_OK); /* [12, 22), [7, 17); watermark 11 */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":2,\"window_end\":12,\"count\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(push(&h, "3", "a", 17), SL_OK); /* [17, 27), [12, 22); watermark 16 */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":7,\"window_end\":17,\"count\":2,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":12,\"window_end\":22,\"count\":2,"
                   "\"update\":false}\n"
                   "{\"key\":\"a\",\"window_start\":17,\"window_end\":27,\"count\":1,"
                   "\"update\":false}\n");
out:
    wclose(&h);
}

/* size / slide = 3: a record is in three windows */
static void test_hopping3(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "operators.w.window=hopping\noperators.w.size=30\noperators.w.slide=10\n"
                    "operators.w.aggregates=sum(payload) AS s\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "1", "k", 25), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "2", "k", 30), SL_OK); /* [10,40) [20,50) [30,60); watermark 29 */
    EXPECT_OUT(&h, "{\"key\":\"k\",\"window_start\":0,\"window_end\":30,\"s\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"k\",\"window_start\":10,\"window_end\":40,\"s\":3,"
                   "\"update\":false}\n"
                   "{\"key\":\"k\",\"window_start\":20,\"window_end\":50,\"s\":3,"
                   "\"update\":false}\n"
                   "{\"key\":\"k\",\"window_start\":30,\"window_end\":60,\"s\":2,"
                   "\"update\":false}\n");
out:
    wclose(&h);
}

/* A session already emitted that a record within the allowed lateness extends, or joins to
 * the next: emitted again as an update, with the union of the distinct values. */
static void test_session_lateness(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "operators.w.window=session\noperators.w.gap=10\n"
                    "operators.w.allowed-lateness=30\n"
                    "operators.w.aggregates=count(*) AS n, count(DISTINCT payload) AS d\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "x", "a", 1), SL_OK);  /* [1, 11) */
    CU_ASSERT_EQUAL(push(&h, "y", "a", 25), SL_OK); /* [25, 35); watermark 24 */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":1,\"window_end\":11,\"n\":1,\"d\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(push(&h, "x", "a", 5), SL_OK); /* extends nothing, [1, 15): an update */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":1,\"window_end\":15,\"n\":2,\"d\":1,"
                   "\"update\":true}\n");
    CU_ASSERT_EQUAL(push(&h, "z", "a", 15), SL_OK); /* [15, 25) joins [1,15) and [25,35) */
    EXPECT_OUT(&h, ""); /* [1, 35) is not due yet */
    CU_ASSERT_EQUAL(push(&h, "w", "b", 100), SL_OK); /* watermark 99: out again, then gone */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":1,\"window_end\":35,\"n\":4,\"d\":3,"
                   "\"update\":true}\n");
    CU_ASSERT_EQUAL(push(&h, "late", "a", 20), SL_OK); /* 20 + 10 - 1 + 30 <= 99: late */
    CU_ASSERT_EQUAL(metric(&h, "sluice_window_late_records_total{operator=\"w\"} "), 1);
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"b\",\"window_start\":100,\"window_end\":110,\"n\":1,"
                   "\"d\":1,\"update\":false}\n");
    wclose(&h);

    /* without lateness a closed session is gone: a record in time that touches it starts a
     * new one */
    fresh();
    if (wopen(&h, W "operators.w.window=session\noperators.w.gap=10\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "1", "a", 1), SL_OK);  /* [1, 11) */
    CU_ASSERT_EQUAL(push(&h, "2", "b", 16), SL_OK); /* watermark 15 */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":1,\"window_end\":11,\"count\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(push(&h, "3", "a", 11), SL_OK); /* [11, 21): not late */
    EXPECT_OUT(&h, "");
    CU_ASSERT_EQUAL(metric(&h, "sluice_window_late_records_total{operator=\"w\"} "), 0);
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":11,\"window_end\":21,\"count\":1,"
                   "\"update\":false}\n"
                   "{\"key\":\"b\",\"window_start\":16,\"window_end\":26,\"count\":1,"
                   "\"update\":false}\n");
out:
    wclose(&h);
}

static void test_session(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "task.watermark.delay=100\noperators.w.window=session\noperators.w.gap=10\n"
                    "operators.w.aggregates=count(*) AS n, count(DISTINCT payload) AS d, "
                    "first_value(payload) AS f, last_value(payload) AS l\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "x", "a", 1), SL_OK);   /* [1, 11) */
    CU_ASSERT_EQUAL(push(&h, "y", "a", 11), SL_OK);  /* touches: [1, 21) */
    CU_ASSERT_EQUAL(push(&h, "x", "a", 40), SL_OK);  /* [40, 50) */
    CU_ASSERT_EQUAL(push(&h, "z", "a", 25), SL_OK);  /* [25, 35) */
    CU_ASSERT_EQUAL(push(&h, "y", "b", 26), SL_OK);  /* another key */
    CU_ASSERT_EQUAL(push(&h, "z", "a", 32), SL_OK);  /* [32, 42) joins [25,35) and [40,50) */
    CU_ASSERT_STRING_EQUAL(h.out, "");
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    /* by end, then group; the merged session's distinct set is the union ({z, x}); its
     * first_value is that of the earliest session (merged in start order), not of the record
     * processed first (x at 40) */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":1,\"window_end\":21,\"n\":2,\"d\":2,"
                   "\"f\":\"x\",\"l\":\"y\",\"update\":false}\n"
                   "{\"key\":\"b\",\"window_start\":26,\"window_end\":36,\"n\":1,\"d\":1,"
                   "\"f\":\"y\",\"l\":\"y\",\"update\":false}\n"
                   "{\"key\":\"a\",\"window_start\":25,\"window_end\":50,\"n\":3,\"d\":2,"
                   "\"f\":\"z\",\"l\":\"z\",\"update\":false}\n");
out:
    wclose(&h);
}

/* One key with four open sessions, one of another key between them. A record can bridge at most
 * two sessions (each is at least gap long, the record's window gap long), so three sessions
 * become one in two bridges: B and C, then A and BC. The sessions the record does not touch
 * keep their place in the key's list; distinct sets follow each merge (x, in A and C, counted
 * once); first/last values come from the merged sessions in start order, then the record. Then
 * the watermark closes some of the key's sessions and not the last, which a record still
 * extends; at the end nothing of the sessions is left in the store. */
static void test_session_bridges(void) {
    wh_t h;
    sqlite3 *db;
    sqlite3_stmt *stmt;
    fresh();
    if (wopen(&h, W "task.watermark.delay=100\noperators.w.window=session\noperators.w.gap=10\n"
                    "operators.w.aggregates=count(*) AS n, count(DISTINCT payload) AS d, "
                    "first_value(payload) AS f, last_value(payload) AS l\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "x", "a", 35), SL_OK); /* C [35, 45) */
    CU_ASSERT_EQUAL(push(&h, "x", "a", 1), SL_OK);  /* A [1, 11), before it in the list */
    CU_ASSERT_EQUAL(push(&h, "w", "a", 60), SL_OK); /* D [60, 70) */
    CU_ASSERT_EQUAL(push(&h, "q", "b", 25), SL_OK); /* another key */
    CU_ASSERT_EQUAL(push(&h, "y", "a", 20), SL_OK); /* B [20, 30), between A and C */
    CU_ASSERT_EQUAL(push(&h, "y", "a", 22), SL_OK); /* B grows: [20, 32) */
    CU_ASSERT_EQUAL(push(&h, "z", "a", 30), SL_OK); /* [30, 40) bridges B and C: [20, 45) */
    CU_ASSERT_EQUAL(push(&h, "x", "a", 10), SL_OK); /* [10, 20) bridges A and BC: [1, 45) */
    CU_ASSERT_STRING_EQUAL(h.out, "");
    CU_ASSERT_EQUAL(push(&h, "v", "b", 160), SL_OK); /* watermark 59: D stays open */
    EXPECT_OUT(&h, "{\"key\":\"b\",\"window_start\":25,\"window_end\":35,\"n\":1,\"d\":1,"
                   "\"f\":\"q\",\"l\":\"q\",\"update\":false}\n"
                   "{\"key\":\"a\",\"window_start\":1,\"window_end\":45,\"n\":6,\"d\":3,"
                   "\"f\":\"x\",\"l\":\"x\",\"update\":false}\n");
    CU_ASSERT_EQUAL(push(&h, "w", "a", 65), SL_OK); /* D grows: [60, 75) */
    CU_ASSERT_EQUAL(push(&h, "u", "a", 66), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":60,\"window_end\":76,\"n\":3,\"d\":2,"
                   "\"f\":\"w\",\"l\":\"u\",\"update\":false}\n"
                   "{\"key\":\"b\",\"window_start\":160,\"window_end\":170,\"n\":1,\"d\":1,"
                   "\"f\":\"v\",\"l\":\"v\",\"update\":false}\n");
    commit(&h, "12");
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(dbpath, &db), SQLITE_OK);
    CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(db, "SELECT count(*) FROM sluice_state WHERE "
                                                 "operator = 'w' AND substr(key, 1, 1) IN "
                                                 "(x'73', x'65', x'44')",
                                             -1, &stmt, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(stmt), SQLITE_ROW);
    CU_ASSERT_EQUAL(sqlite3_column_int(stmt, 0), 0); /* no 's', 'e' or 'D' entry left */
    sqlite3_finalize(stmt);
    sqlite3_close(db);
out:
    wclose(&h);
}

/* A key's session list overwritten with garbage: its next record fails naming the operator and
 * what is malformed; other keys go on. */
static void test_corrupt_sessions(void) {
    wh_t h;
    sqlite3 *db;
    fresh();
    if (wopen(&h, W "task.watermark.delay=100\noperators.w.window=session\noperators.w.gap=10\n")
        != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "1", "a", 1), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "1", "a", 30), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "1", "b", 2), SL_OK);
    commit(&h, "3");
    chain_close(&h);
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(dbpath, &db), SQLITE_OK);
    /* the sessions of group 'a' (tag 's', type 3, length 1, "a") */
    CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE sluice_state SET value = x'ffffffff0102' WHERE "
                                     "operator = 'w' AND hex(key) = '73030000000161'",
                                 NULL, NULL, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_changes(db), 1);
    sqlite3_close(db);
    if (chain_open(&h) != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "2", "a", 3), SL_ERR_RECORD);
    CU_ASSERT(contains(sl_chain_error(h.chain), "operators.w (job.properties:2)"));
    CU_ASSERT(contains(sl_chain_error(h.chain),
                       "the keyed state of the sessions of a key is malformed (6 bytes)"));
    CU_ASSERT_EQUAL(push(&h, "2", "b", 3), SL_OK);
    /* the watermark reaching a's sessions meets the garbage too */
    CU_ASSERT_EQUAL(push(&h, "2", "b", 200), SL_ERR_RECORD);
    CU_ASSERT(contains(sl_chain_error(h.chain), "sessions of a key is malformed"));
out:
    wclose(&h);
}

static void test_aggregates(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "operators.w.window=tumbling\noperators.w.size=100\n"
                    "operators.w.key=json_extract(payload, '$.g')\n"
                    "operators.w.aggregates=count(*), count(json_extract(payload, '$.v')) AS c, "
                    "sum(json_extract(payload, '$.i')) AS si, sum(json_extract(payload, '$.v')) "
                    "AS sv, avg(json_extract(payload, '$.i')) AS a, min(json_extract(payload, "
                    "'$.v')) AS lo, max(json_extract(payload, '$.v')) AS hi, "
                    "first_value(json_extract(payload, '$.v')) AS f, "
                    "last_value(json_extract(payload, '$.v')) AS l, "
                    "count(DISTINCT json_extract(payload, '$.i')) AS d\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "{\"g\":1,\"i\":3,\"v\":3}", NULL, 1), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "{\"g\":1,\"i\":4,\"v\":\"abc\"}", NULL, 2), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "{\"g\":1,\"i\":3,\"v\":2.5}", NULL, 3), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "{\"g\":1,\"v\":null}", NULL, 4), SL_OK);
    /* group 2: integers only, and NULLs only */
    CU_ASSERT_EQUAL(push(&h, "{\"g\":2,\"i\":1,\"v\":1}", NULL, 5), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "{\"g\":2,\"i\":2,\"v\":2}", NULL, 6), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "{\"g\":\"n\"}", NULL, 7), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    /* sum of 3, 'abc' (0 in a sum, as in SQLite) and 2.5 is a real; the integer sum stays an
     * integer; min/max in SQLite's order (numbers before text); NULLs are skipped by every
     * aggregate, first_value and last_value too */
    EXPECT_OUT(&h,
               "{\"key\":1,\"window_start\":0,\"window_end\":100,\"count\":4,\"c\":3,\"si\":10,"
               "\"sv\":5.5,\"a\":3.3333333333333335,\"lo\":2.5,\"hi\":\"abc\",\"f\":3,"
               "\"l\":2.5,\"d\":2,\"update\":false}\n"
               "{\"key\":2,\"window_start\":0,\"window_end\":100,\"count\":2,\"c\":2,\"si\":3,"
               "\"sv\":3,\"a\":1.5,\"lo\":1,\"hi\":2,\"f\":1,\"l\":2,\"d\":2,\"update\":false}\n"
               "{\"key\":\"n\",\"window_start\":0,\"window_end\":100,\"count\":1,\"c\":0,"
               "\"si\":null,\"sv\":null,\"a\":null,\"lo\":null,\"hi\":null,\"f\":null,"
               "\"l\":null,\"d\":0,\"update\":false}\n");
out:
    wclose(&h);
}

/* Late records: dropped and counted, or sent to the late output; within the allowed lateness
 * they update their window, which goes out again flagged. */
static void test_late(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "operators.w.window=tumbling\noperators.w.size=10\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "1", "a", 5), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "2", "a", 15), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":0,\"window_end\":10,\"count\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(push(&h, "late", "a", 9), SL_OK);
    CU_ASSERT_EQUAL(h.nout, 1);
    CU_ASSERT_EQUAL(metric(&h, "sluice_window_late_records_total{operator=\"w\"} "), 1);
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":10,\"window_end\":20,\"count\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_STRING_EQUAL(h.side, "");
out:
    wclose(&h);

    fresh();
    if (wopen(&h, W "task.outputs=file.out,file.late\noperators.w.window=session\n"
                    "operators.w.gap=10\noperators.w.late-output=file.late\n") != 0)
        goto out2;
    CU_ASSERT_TRUE(sl_chain_spec_side_output(h.spec, 1));
    CU_ASSERT_FALSE(sl_chain_spec_side_output(h.spec, 0));
    CU_ASSERT_EQUAL(push(&h, "1", "a", 5), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "2", "a", 30), SL_OK); /* watermark 29: [5, 15) out */
    CU_ASSERT_EQUAL(h.nout, 1);
    CU_ASSERT_EQUAL(push(&h, "late1", "a", 19), SL_OK); /* its session would end at 29 */
    CU_ASSERT_EQUAL(push(&h, "ok", "a", 21), SL_OK);    /* [21, 31) still may */
    CU_ASSERT_STRING_EQUAL(h.side, "file.late:late1\n");
    CU_ASSERT_EQUAL(metric(&h, "sluice_window_late_records_total{operator=\"w\"} "), 1);
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":5,\"window_end\":15,\"count\":1,"
                   "\"update\":false}\n"
                   "{\"key\":\"a\",\"window_start\":21,\"window_end\":40,\"count\":2,"
                   "\"update\":false}\n");
out2:
    wclose(&h);
}

static void test_lateness(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "task.outputs=file.late\noperators.w.window=tumbling\noperators.w.size=10\n"
                    "operators.w.allowed-lateness=20\noperators.w.late-output=file.late\n"
                    "operators.w.aggregates=count(DISTINCT payload) AS d, count(*) AS n\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "x", "a", 5), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "y", "a", 15), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":0,\"window_end\":10,\"d\":1,\"n\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(push(&h, "z", "a", 7), SL_OK); /* within the lateness: an update */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":0,\"window_end\":10,\"d\":2,\"n\":2,"
                   "\"update\":true}\n");
    CU_ASSERT_EQUAL(push(&h, "x", "a", 8), SL_OK); /* a value seen: the count stays */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":0,\"window_end\":10,\"d\":2,\"n\":3,"
                   "\"update\":true}\n");
    CU_ASSERT_EQUAL(push(&h, "q", "b", 2), SL_OK); /* a new window already due: out at once */
    EXPECT_OUT(&h, "{\"key\":\"b\",\"window_start\":0,\"window_end\":10,\"d\":1,\"n\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(push(&h, "y", "a", 30), SL_OK); /* watermark 29: [0,10) gone (9+20) */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":10,\"window_end\":20,\"d\":1,\"n\":1,"
                   "\"update\":false}\n");
    CU_ASSERT_EQUAL(push(&h, "late", "a", 9), SL_OK);
    CU_ASSERT_STRING_EQUAL(h.side, "file.late:late\n");
    CU_ASSERT_EQUAL(push(&h, "y2", "a", 19), SL_OK); /* [10, 20) is kept until 39 */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":10,\"window_end\":20,\"d\":2,\"n\":2,"
                   "\"update\":true}\n");
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":30,\"window_end\":40,\"d\":1,\"n\":1,"
                   "\"update\":false}\n");
out:
    wclose(&h);
}

static char logged[2048];
static void log_cb(sl_log_level_t level, const char *fac, const char *line, void *opaque) {
    size_t o = strlen(logged);
    (void)opaque;
    if (level <= SL_LOG_WARN && strcmp(fac, "window") == 0)
        snprintf(logged + o, sizeof(logged) - o, "%s\n", line);
}

static void test_processing_time(void) {
    wh_t h;
    int64_t now = 10000;
    fresh();
    sl_time_inject(&now);
    logged[0] = '\0';
    sl_log_set_callback(log_cb, NULL);
    if (wopen(&h, W "operators.w.window=tumbling\noperators.w.size=1000\n"
                    "operators.w.time=processing\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "1", "a", 0), SL_OK); /* no event time needed */
    now = 10999;
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now), SL_OK);
    CU_ASSERT_STRING_EQUAL(h.out, ""); /* 10999 is in [10000, 11000): a record may come */
    CU_ASSERT_EQUAL(push(&h, "2", "a", 0), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now), SL_OK);
    CU_ASSERT_STRING_EQUAL(h.out, "");
    now = 11100; /* the operator's timer runs every 100 ms */
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":10000,\"window_end\":11000,\"count\":2,"
                   "\"update\":false}\n");
    now = 20500;
    CU_ASSERT_EQUAL(push(&h, "3", "a", 0), SL_OK);
    now = 15000; /* the clock goes back: the time reached stays, with a warning */
    CU_ASSERT_EQUAL(push(&h, "4", "a", 0), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now), SL_OK);
    CU_ASSERT_STRING_EQUAL(h.out, "");
    CU_ASSERT(contains(logged, "operators.w (job.properties:2), partition p0: the clock went "
                               "back from 20500 to 15000 ms"));
    now = 21000;
    CU_ASSERT_EQUAL(sl_chain_tick(h.chain, now), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":20000,\"window_end\":21000,\"count\":2,"
                   "\"update\":false}\n");
out:
    wclose(&h);
    sl_log_set_callback(NULL, NULL);
    sl_time_inject(NULL);
}

/* Windows live in the keyed state: the committed ones close after a restart, the uncommitted
 * changes are gone after a crash. */
static void test_window_restart(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "operators.w.window=tumbling\noperators.w.size=10\n"
                    "operators.w.aggregates=count(DISTINCT payload) AS d, sum(payload) AS s\n") !=
        0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "1", "a", 11), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "2", "a", 12), SL_OK);
    commit(&h, "2");
    CU_ASSERT_EQUAL(push(&h, "3", "a", 13), SL_OK);
    chain_close(&h); /* crash */
    if (chain_open(&h) != 0)
        goto out;
    CU_ASSERT_EQUAL(sl_chain_watermark(h.chain), 11);
    CU_ASSERT_EQUAL(push(&h, "2", "a", 13), SL_OK); /* replayed: counted once */
    CU_ASSERT_EQUAL(push(&h, "4", "a", 20), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":10,\"window_end\":20,\"d\":2,\"s\":5,"
                   "\"update\":false}\n");
    commit(&h, "4");
    chain_close(&h);
    if (chain_open(&h) != 0)
        goto out;
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK); /* [10,20) is not emitted twice */
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":20,\"window_end\":30,\"d\":1,\"s\":4,"
                   "\"update\":false}\n");
    wclose(&h);

    /* sessions: a merge after the commit (the list and the distinct values moved) is forgotten
     * in a crash and made again by the replay */
    fresh();
    if (wopen(&h, W "task.watermark.delay=100\noperators.w.window=session\noperators.w.gap=10\n"
                    "operators.w.aggregates=count(DISTINCT payload) AS d, sum(payload) AS s\n") !=
        0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "1", "a", 1), SL_OK);  /* [1, 11) */
    CU_ASSERT_EQUAL(push(&h, "2", "a", 30), SL_OK); /* [30, 40) */
    commit(&h, "2");
    CU_ASSERT_EQUAL(push(&h, "3", "a", 20), SL_OK); /* [20, 40) */
    chain_close(&h);                                /* crash */
    if (chain_open(&h) != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "3", "a", 20), SL_OK); /* replayed: [20, 40) once more */
    CU_ASSERT_EQUAL(push(&h, "2", "a", 12), SL_OK); /* [12, 40) */
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":1,\"window_end\":11,\"d\":1,\"s\":1,"
                   "\"update\":false}\n"
                   "{\"key\":\"a\",\"window_start\":12,\"window_end\":40,\"d\":2,\"s\":7,"
                   "\"update\":false}\n");
out:
    wclose(&h);
}

static void test_config_errors(void) {
    /* an unset key has no line: the message says <unset> */
    expect_conf_error(W "operators.w.window=tumbling\n", "<unset>: operators.w.size",
                      "needs a size");
    expect_conf_error(W "operators.w.window=hopping\noperators.w.size=10\n",
                      "operators.w.slide", "needs a slide");
    expect_conf_error(W "operators.w.window=session\noperators.w.gap=5\noperators.w.size=10\n",
                      "job.properties:5: operators.w.size", "a session window has a gap");
    expect_conf_error(W "operators.w.window=session\n", "operators.w.gap", "needs a gap");
    expect_conf_error(W "operators.w.window=tumbling\noperators.w.size=10\n"
                        "operators.w.aggregates=count(*), median(payload)\n",
                      "job.properties:5: operators.w.aggregates", "unknown aggregate 'median'");
    expect_conf_error(W "operators.w.window=tumbling\noperators.w.size=10\n"
                        "operators.w.aggregates=sum(payload), sum(key)\n",
                      "job.properties:5: operators.w.aggregates", "two aggregates are named 'sum'");
    expect_conf_error(W "operators.w.window=tumbling\noperators.w.size=10\n"
                        "operators.w.aggregates=count(*) AS n, max(payload) AS n\n",
                      "job.properties:5: operators.w.aggregates", "two aggregates are named 'n'");
    expect_conf_error(W "operators.w.window=tumbling\noperators.w.size=10\n"
                        "operators.w.aggregates=sum(length(payload)\n",
                      "job.properties:5: operators.w.aggregates", "unbalanced parentheses");
    expect_conf_error(W "operators.w.window=tumbling\noperators.w.size=10\n"
                        "operators.w.aggregates=sum(payload))\n",
                      "job.properties:5: operators.w.aggregates", "unbalanced");
    expect_conf_error(W "task.outputs=file.out\noperators.w.window=tumbling\noperators.w.size=10\n"
                        "operators.w.late-output=file.late\n",
                      "job.properties:6: operators.w.late-output",
                      "'file.late' is not an entry of task.outputs");
    expect_conf_error(W "operators.w.window=tumbling\noperators.w.size=10\n"
                        "operators.w.time=processing\noperators.w.allowed-lateness=5\n",
                      "job.properties:6: operators.w.allowed-lateness", "no late records");
    expect_conf_error(W "operators.w.window=tumbling\noperators.w.size=10\n"
                        "operators.w.aggregates=sum(payload +)\n",
                      "job.properties:5: operators.w.aggregates", NULL);
    expect_conf_error(W "operators.w.window=tumbling\noperators.w.size=10\n"
                        "operators.w.key=payload +\n",
                      "job.properties:5: operators.w.key", NULL);
}

/* The operator needs an event time, and an expression that fails fails the record. */
static void test_window_record_errors(void) {
    wh_t h;
    fresh();
    if (wopen(&h, W "operators.w.window=tumbling\noperators.w.size=10\n"
                    "operators.w.aggregates=sum(json_extract(payload, '$.v')) AS s\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "{\"v\":1}", "a", 0), SL_ERR_RECORD);
    CU_ASSERT(contains(sl_chain_error(h.chain), "operators.w (job.properties:2): the record has "
                                                "no event time"));
    CU_ASSERT_EQUAL(push(&h, "{\"v\":", "a", 5), SL_ERR_RECORD);
    CU_ASSERT(contains(sl_chain_error(h.chain), "operators.w"));
    CU_ASSERT(contains(sl_chain_error(h.chain), "malformed JSON"));
    CU_ASSERT_EQUAL(push(&h, "{\"v\":2}", "a", 6), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":0,\"window_end\":10,\"s\":2,"
                   "\"update\":false}\n");
out:
    wclose(&h);
}

/* A window whose state value outgrows task.state.value.max-bytes fails the record, naming the
 * operator and the limit; the committed windows are intact. */
static void test_value_max(void) {
    wh_t h;
    char big[120];
    fresh();
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    if (wopen_vmax(&h, W "operators.w.window=tumbling\noperators.w.size=10\n"
                         "operators.w.aggregates=count(*) AS n, last_value(payload) AS l\n",
                   64) != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "small", "a", 1), SL_OK);
    commit(&h, "1");
    CU_ASSERT_EQUAL(push(&h, big, "a", 2), SL_ERR_RECORD);
    CU_ASSERT(contains(sl_chain_error(h.chain), "operators.w (job.properties:2): keyed state: "
                                                "window [0, 10) needs 141 bytes, more than "
                                                "task.state.value.max-bytes"));
    CU_ASSERT_EQUAL(push(&h, "x", "a", 3), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":0,\"window_end\":10,\"n\":2,\"l\":\"x\","
                   "\"update\":false}\n");
out:
    wclose(&h);
}

/* A key's sessions share one state value: the limit bounds them together, and a record that
 * would outgrow it fails naming the window (or the number of sessions); the list is intact. */
static void test_value_max_sessions(void) {
    wh_t h;
    fresh();
    if (wopen_vmax(&h, W "task.watermark.delay=100\noperators.w.window=session\n"
                         "operators.w.gap=10\noperators.w.aggregates=count(*) AS n, "
                         "last_value(payload) AS l\n",
                   64) != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "x", "a", 1), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "a longer value than 64 bytes take, a longer value than 64 bytes",
                         "a", 2), SL_ERR_RECORD);
    CU_ASSERT(contains(sl_chain_error(h.chain), "operators.w (job.properties:2): keyed state: "
                                                "window [1, 12) needs 105 bytes, more than "
                                                "task.state.value.max-bytes"));
    CU_ASSERT_EQUAL(push(&h, "y", "a", 30), SL_ERR_RECORD); /* a second session: 86 bytes */
    CU_ASSERT(contains(sl_chain_error(h.chain), "keyed state: the 2 open session windows of a "
                                                "key need 86 bytes, more than "
                                                "task.state.value.max-bytes"));
    CU_ASSERT_EQUAL(push(&h, "y", "b", 30), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "z", "a", 5), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_end_input(h.chain), SL_OK);
    EXPECT_OUT(&h, "{\"key\":\"a\",\"window_start\":1,\"window_end\":15,\"n\":2,\"l\":\"z\","
                   "\"update\":false}\n"
                   "{\"key\":\"b\",\"window_start\":30,\"window_end\":40,\"n\":1,\"l\":\"y\","
                   "\"update\":false}\n");
out:
    wclose(&h);
}

/* A window's row overwritten with garbage: the next record of that window fails with a message
 * naming the operator and the window; the other windows and the committed offset are intact. */
static void test_corrupt_state(void) {
    wh_t h;
    sqlite3 *db;
    char *off = NULL;
    fresh();
    if (wopen(&h, W "operators.w.window=tumbling\noperators.w.size=10\n") != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "1", "a", 1), SL_OK);
    CU_ASSERT_EQUAL(push(&h, "1", "b", 2), SL_OK);
    commit(&h, "2");
    chain_close(&h);
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(dbpath, &db), SQLITE_OK);
    /* the row of window [0, 10) of group 'a' (tag 'a', ..., type 3, length 1, "a") */
    CU_ASSERT_EQUAL(sqlite3_exec(db, "UPDATE sluice_state SET value = x'ffffffff0102' WHERE "
                                     "operator = 'w' AND hex(key) LIKE '61%030000000161'",
                                 NULL, NULL, NULL), SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_changes(db), 1);
    sqlite3_close(db);
    if (chain_open(&h) != 0)
        goto out;
    CU_ASSERT_EQUAL(push(&h, "2", "a", 3), SL_ERR_RECORD);
    CU_ASSERT(contains(sl_chain_error(h.chain), "operators.w (job.properties:2)"));
    CU_ASSERT(contains(sl_chain_error(h.chain), "window [0, 10) is malformed"));
    CU_ASSERT_EQUAL(push(&h, "2", "b", 3), SL_OK);
    CU_ASSERT_EQUAL(sl_ckpt_read(h.ckpt, "file", "in", "0", &off, NULL), SL_OK);
    CU_ASSERT_STRING_EQUAL(off ? off : "", "2");
    free(off);
out:
    wclose(&h);
}

/* A checkpoint file that is not a database, or a truncated one: a clear error at open. */
static void test_corrupt_file(void) {
    char err[512] = "";
    sl_ckpt_store_t *ckpt;
    FILE *fp;
    wh_t h;
    long size;

    fresh();
    fp = fopen(dbpath, "wb");
    CU_ASSERT_FATAL(fp != NULL);
    for (int i = 0; i < 512; i++)
        fputs("garbage!", fp);
    fclose(fp);
    ckpt = sl_ckpt_sqlite_open(dbpath, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NULL(ckpt);
    sl_ckpt_close(ckpt);
    CU_ASSERT(contains(err, dbpath));
    CU_ASSERT(contains(err, "not a database"));

    /* truncated after a commit */
    fresh();
    if (wopen(&h, W "operators.w.window=tumbling\noperators.w.size=10\n") == 0) {
        char k[16];
        for (int i = 0; i < 300; i++) {
            snprintf(k, sizeof(k), "key%d", i);
            push(&h, "1", k, 1);
        }
        commit(&h, "300");
    }
    wclose(&h);
    fp = fopen(dbpath, "rb+");
    CU_ASSERT_FATAL(fp != NULL);
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fclose(fp);
    CU_ASSERT(size > 8192);
    CU_ASSERT_EQUAL(truncate(dbpath, size / 2), 0);
    err[0] = '\0';
    ckpt = sl_ckpt_sqlite_open(dbpath, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NULL(ckpt);
    sl_ckpt_close(ckpt);
    CU_ASSERT(contains(err, dbpath));
    CU_ASSERT(contains(err, "database disk image is malformed"));
}

/* --- allocation failures --------------------------------------------------------------------- */

typedef struct oom_ctx {
    wh_t h;               /* the spec, the checkpoint store and the sink (built outside) */
    const char *expected; /* the output of the run without failures */
    int run;              /* each run has its own task */
} oom_ctx_t;

static oom_result_t window_run(void *opaque) {
    oom_ctx_t *c = opaque;
    static const struct {
        const char *payload, *key;
        int64_t et;
    } recs[] = {{"x", "a", 1},   {"y", "a", 11},  {"x", "a", 40}, {"z", "a", 25},
                {"y", "b", 26},  {"z", "a", 32},  {"q", "b", 90}, {"late", "a", 2}};
    char task[32], err[256], part[16];
    sl_ckpt_t cp = {.system = "file", .stream = "in", .partition = part, .offset = "3"};
    sl_state_commit_t sc;
    sl_chain_env_t env;
    sl_state_host_t *sh;
    sl_chain_t *chain = NULL;
    oom_result_t res = OOM_FAILED;

    snprintf(part, sizeof(part), "%d", c->run);
    snprintf(task, sizeof(task), "file/in/%d", c->run++);
    c->h.out[0] = '\0';
    if (!(sh = sl_state_host_new(c->h.ckpt, task, 3, 4096, err, sizeof(err))))
        return OOM_FAILED;
    memset(&env, 0, sizeof(env));
    env.sh = sh;
    env.side = side_fn;
    if (!(chain = sl_chain_new_ex(c->h.spec, "p0", sink_fn, &c->h, &env, err, sizeof(err))))
        goto out;
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        sl_record_t *rec = sl_record_new();
        sl_err_t e;
        if (!rec)
            goto out;
        e = sl_record_set_data(rec, recs[i].payload, strlen(recs[i].payload));
        if (e == SL_OK)
            e = sl_record_set_key(rec, recs[i].key, strlen(recs[i].key));
        sl_record_set_event_time(rec, recs[i].et);
        if (e == SL_OK)
            e = sl_chain_process(chain, rec);
        sl_record_unref(rec);
        if (e != SL_OK)
            goto out;
        if (i == 3) {
            sc.hosts = &sh;
            sc.n = 1;
            if (sl_ckpt_write_with(c->h.ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                   sizeof(err)) != SL_OK)
                goto out;
            sl_state_host_committed(sh);
        }
    }
    if (sl_chain_end_input(chain) != SL_OK)
        goto out;
    if (c->expected) {
        if (strcmp(c->h.out, c->expected) != 0)
            fprintf(stderr, "\n  expected:\n%s  got:\n%s", c->expected, c->h.out);
        CU_ASSERT_STRING_EQUAL(c->h.out, c->expected);
    }
    res = OOM_DONE;
out:
    sl_chain_destroy(chain);
    sl_state_host_destroy(sh);
    return res;
}

static void oom_window(const char *text, const char *name) {
    oom_ctx_t c;
    char err[512] = "";
    int was;
    memset(&c, 0, sizeof(c));
    fresh();
    was = oom_pause();
    if (spec_build(&c.h, text) == 0)
        c.h.ckpt = sl_ckpt_sqlite_open(dbpath, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(c.h.ckpt);
    if (c.h.ckpt) {
        static char expected[8192];
        CU_ASSERT_EQUAL(window_run(&c), OOM_DONE);
        snprintf(expected, sizeof(expected), "%s", c.h.out);
        CU_ASSERT(strlen(expected) > 0);
        c.expected = expected;
        oom_resume(was);
        oom_walk(name, window_run, &c, 0, NULL);
        was = oom_pause();
    }
    sl_ckpt_close(c.h.ckpt);
    sl_chain_spec_destroy(c.h.spec);
    sl_list_free(&c.h.names);
    sl_list_free(&c.h.outs);
    sl_conf_destroy(c.h.conf);
    oom_resume(was);
}

/* Timers of the test operator: set, fired by the watermark, the tick and the end of the input,
 * with a commit between. */
static oom_result_t timers_run(void *opaque) {
    oom_ctx_t *c = opaque;
    static const struct {
        const char *payload;
        int64_t et;
    } recs[] = {{"set e 100 b", 0}, {"set e 100 a", 0}, {"set e 50 z", 0}, {"set e 200 c", 0},
                {"del e 200 c", 0}, {"set p 900 p", 0}, {"set e 300 k", 0}, {"x", 101},
                {"set e 400 m", 0}};
    char task[32], err[256], part[16];
    sl_ckpt_t cp = {.system = "file", .stream = "in", .partition = part, .offset = "3"};
    sl_state_commit_t sc;
    sl_state_host_t *sh;
    sl_chain_t *chain = NULL;
    oom_result_t res = OOM_FAILED;

    snprintf(part, sizeof(part), "%d", c->run);
    snprintf(task, sizeof(task), "file/in/%d", c->run++);
    timer_log[0] = '\0';
    if (!(sh = sl_state_host_new(c->h.ckpt, task, 3, 4096, err, sizeof(err))))
        return OOM_FAILED;
    if (!(chain = sl_chain_new(c->h.spec, "p0", sink_fn, &c->h, sh, err, sizeof(err))))
        goto out;
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
        sl_record_t *rec = sl_record_new();
        sl_err_t e;
        if (!rec)
            goto out;
        e = sl_record_set_data(rec, recs[i].payload, strlen(recs[i].payload));
        if (recs[i].et)
            sl_record_set_event_time(rec, recs[i].et);
        if (e == SL_OK)
            e = sl_chain_process(chain, rec);
        sl_record_unref(rec);
        if (e != SL_OK)
            goto out;
        if (i == 4) {
            sc.hosts = &sh;
            sc.n = 1;
            if (sl_ckpt_write_with(c->h.ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                   sizeof(err)) != SL_OK)
                goto out;
            sl_state_host_committed(sh);
        }
    }
    if (sl_chain_tick(chain, 1000) != SL_OK || sl_chain_end_input(chain) != SL_OK)
        goto out;
    CU_ASSERT_STRING_EQUAL(timer_log, "e50:z;e100:a;e100:b;p900:p;e300:k;e400:m;");
    res = OOM_DONE;
out:
    sl_chain_destroy(chain);
    sl_state_host_destroy(sh);
    return res;
}

static void oom_timers(void) {
    oom_ctx_t c;
    char err[512] = "";
    int was;
    int64_t now = 500;
    memset(&c, 0, sizeof(c));
    register_plugins();
    fresh();
    sl_time_inject(&now);
    was = oom_pause();
    if (spec_build(&c.h, TMR) == 0)
        c.h.ckpt = sl_ckpt_sqlite_open(dbpath, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(c.h.ckpt);
    if (c.h.ckpt) {
        CU_ASSERT_EQUAL(timers_run(&c), OOM_DONE);
        oom_resume(was);
        oom_walk("timers", timers_run, &c, 0, NULL);
        was = oom_pause();
    }
    sl_ckpt_close(c.h.ckpt);
    sl_chain_spec_destroy(c.h.spec);
    sl_list_free(&c.h.names);
    sl_list_free(&c.h.outs);
    sl_conf_destroy(c.h.conf);
    oom_resume(was);
    sl_time_inject(NULL);
}

/* One failed allocation fails one record, not the partition: the same chain takes the next
 * record (the operator's reused buffers forget the failure). */
static oom_result_t sticky_run(void *opaque) {
    static const char both[] = "{\"key\":\"a\",\"window_start\":1,\"window_end\":12,\"n\":2,"
                               "\"d\":2,\"l\":\"y\",\"update\":false}\n";
    static const char second[] = "{\"key\":\"a\",\"window_start\":2,\"window_end\":12,"
                                 "\"n\":1,\"d\":1,\"l\":\"y\",\"update\":false}\n";
    oom_ctx_t *c = opaque;
    char task[32], err[256];
    sl_state_host_t *sh = NULL;
    sl_chain_t *chain = NULL;
    sl_record_t *rec;
    sl_err_t e1 = SL_ERR_NOMEM, e2;
    int was = oom_pause();

    snprintf(task, sizeof(task), "file/in/%d", c->run++);
    c->h.out[0] = '\0';
    sh = sl_state_host_new(c->h.ckpt, task, 3, 4096, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
    chain = sl_chain_new(c->h.spec, "p0", sink_fn, &c->h, sh, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
    oom_resume(was);
    if ((rec = sl_record_new())) {
        if (sl_record_set_data(rec, "x", 1) == SL_OK && sl_record_set_key(rec, "a", 1) == SL_OK) {
            sl_record_set_event_time(rec, 1);
            e1 = sl_chain_process(chain, rec);
        }
        sl_record_unref(rec);
    }
    was = oom_pause();
    rec = sl_record_new();
    sl_record_set_data(rec, "y", 1);
    sl_record_set_key(rec, "a", 1);
    sl_record_set_event_time(rec, 2);
    e2 = sl_chain_process(chain, rec);
    sl_record_unref(rec);
    CU_ASSERT_EQUAL(e2, SL_OK);
    CU_ASSERT_EQUAL(sl_chain_end_input(chain), SL_OK);
    /* A failure after the window took the record (keeping the event-time progress, the
     * watermark step) leaves it counted: task.error.policy=skip keeps such changes. */
    if (e1 == SL_OK)
        CU_ASSERT_STRING_EQUAL(c->h.out, both);
    if (strcmp(c->h.out, both) != 0)
        CU_ASSERT_STRING_EQUAL(c->h.out, second);
    sl_chain_destroy(chain);
    sl_state_host_destroy(sh);
    oom_resume(was);
    return e1 == SL_OK ? OOM_DONE : OOM_FAILED;
}

static void oom_sticky(void) {
    oom_ctx_t c;
    char err[512] = "";
    int was;
    memset(&c, 0, sizeof(c));
    fresh();
    was = oom_pause();
    if (spec_build(&c.h, W "operators.w.window=session\noperators.w.gap=10\n"
                           "operators.w.aggregates=count(*) AS n, count(DISTINCT payload) AS d,"
                           " last_value(payload) AS l\n") == 0)
        c.h.ckpt = sl_ckpt_sqlite_open(dbpath, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(c.h.ckpt);
    oom_resume(was);
    if (c.h.ckpt)
        oom_walk("window record after a failure", sticky_run, &c, 0, NULL);
    was = oom_pause();
    sl_ckpt_close(c.h.ckpt);
    sl_chain_spec_destroy(c.h.spec);
    sl_list_free(&c.h.names);
    sl_list_free(&c.h.outs);
    sl_conf_destroy(c.h.conf);
    oom_resume(was);
}

static void test_oom(void) {
    if (!oom_available()) {
        printf("\n    SKIP: built without the linker's --wrap: no allocation-failure hook ");
        CU_PASS("skipped: no allocation-failure hook");
        return;
    }
    oom_window(W "task.watermark.delay=5\noperators.w.window=session\noperators.w.gap=10\n"
                 "operators.w.aggregates=count(*) AS n, count(DISTINCT payload) AS d, "
                 "first_value(payload) AS f, last_value(payload) AS l, min(payload) AS lo, "
                 "max(payload) AS hi, sum(length(payload)) AS s\n",
               "session window");
    oom_window(W "task.outputs=file.late\noperators.w.window=hopping\noperators.w.size=20\n"
                 "operators.w.slide=10\noperators.w.allowed-lateness=15\n"
                 "operators.w.late-output=file.late\n"
                 "operators.w.aggregates=count(DISTINCT payload) AS d, avg(length(payload)) AS a,"
                 " first_value(payload) AS f\n",
               "hopping window with lateness");
    oom_timers();
    oom_sticky();
}

void test_window_register(void) {
    static const unit_test_t tests[] = {
        {"timers: set, delete, order, firing", test_timers},
        {"timers: persisted, lost in a crash", test_timers_persist},
        {"timers: errors, ABI 1", test_timers_errors},
        {"task.timestamp.expr and the watermark", test_timestamp_expr},
        {"tumbling", test_tumbling},
        {"hopping", test_hopping},
        {"hopping: three windows a record", test_hopping3},
        {"session merges", test_session},
        {"session bridges, the list of a key", test_session_bridges},
        {"corrupt session list", test_corrupt_sessions},
        {"session allowed lateness", test_session_lateness},
        {"aggregates", test_aggregates},
        {"late records", test_late},
        {"allowed lateness", test_lateness},
        {"processing time", test_processing_time},
        {"restart", test_window_restart},
        {"configuration errors", test_config_errors},
        {"record errors", test_window_record_errors},
        {"state value over the maximum", test_value_max},
        {"state value over the maximum: sessions", test_value_max_sessions},
        {"corrupt window state", test_corrupt_state},
        {"corrupt checkpoint file", test_corrupt_file},
        {"allocation failures", test_oom},
        {NULL, NULL},
    };
    unit_add_suite("window", tests);
}
