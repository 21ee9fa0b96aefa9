/*
 * test_operators.c: unit tests of the built-in operators (the files in operators/) driven through real
 * chains built from job properties: filter truthiness and NULL, json_extract on payloads, the
 * metadata columns and header() of the `rec` table, configuration errors that name file:line and
 * key, rejection of anything that is not a single expression, map/rekey results including NULL
 * and aliasing of the record's own bytes, sample rates and by-key consistency, and the log
 * operator's lines read back from a redirected log file; dedup over a real keyed-state store
 * (first record passes, duplicates dropped, TTL on the injected clock, NULL and empty keys,
 * expression errors, what a commit keeps, and the open-time error without state).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "checkpoint.h"
#include "record_int.h"
#include "state_int.h"
#include "unit.h"
#include "util_time.h"

#define SINK_MAX 64

typedef struct sink {
    int cnt;
    sl_record_t *recs[SINK_MAX];
} sink_t;

static sl_err_t sink_fn(void *opaque, sl_record_t *rec) {
    sink_t *s = opaque;
    if (s->cnt < SINK_MAX)
        s->recs[s->cnt] = sl_record_ref(rec);
    s->cnt++;
    return SL_OK;
}

typedef struct harness {
    sl_conf_t *conf;
    sl_list_t names;
    sl_chain_spec_t *spec;
    sl_chain_t *chain;
    sink_t sink;
} harness_t;

/* Loads text as job.properties and builds the spec (and, when it is valid and chain is set, a
 * chain for partition "p0" without keyed state). Returns 0 when the spec (and chain) is ready. */
static int build_spec(harness_t *h, const char *text, uint64_t seed, int chain) {
    char err[512] = "";
    const char *ops;

    memset(h, 0, sizeof(*h));
    h->conf = sl_conf_new();
    CU_ASSERT_FATAL(h->conf != NULL);
    if (sl_conf_load_string(h->conf, "job.properties", text, strlen(text), err, sizeof(err)) !=
        SL_OK) {
        fprintf(stderr, "\n  load: %s\n", err);
        CU_FAIL("the test configuration does not load");
        return -1;
    }
    ops = sl_conf_get(h->conf, "task.operators");
    sl_conf_mark_used(h->conf, "task.operators");
    if (ops) {
        char *copy = strdup(ops), *save = NULL;
        h->names.items = calloc(8, sizeof(char *));
        for (char *tok = strtok_r(copy, ",", &save); tok && h->names.cnt < 8;
             tok = strtok_r(NULL, ",", &save))
            h->names.items[h->names.cnt++] = strdup(tok);
        free(copy);
    }
    h->spec = sl_chain_spec_new(h->conf, &h->names, seed);
    if (!h->spec)
        return -1;
    if (!chain)
        return 0;
    h->chain = sl_chain_new(h->spec, "p0", sink_fn, &h->sink, NULL, err, sizeof(err));
    if (!h->chain) {
        fprintf(stderr, "\n  sl_chain_new: %s\n", err);
        return -1;
    }
    return 0;
}

static int build(harness_t *h, const char *text, uint64_t seed) {
    return build_spec(h, text, seed, 1);
}

/* Like build(), failing the test when the chain cannot be built (errors printed). */
static int build_ok(harness_t *h, const char *text, uint64_t seed) {
    if (build(h, text, seed) == 0)
        return 0;
    for (int i = 0; i < sl_conf_error_count(h->conf); i++)
        fprintf(stderr, "\n  %s", sl_conf_error_at(h->conf, i));
    CU_FAIL("the chain could not be built");
    return -1;
}

static void done(harness_t *h) {
    sl_chain_destroy(h->chain);
    sl_chain_spec_destroy(h->spec);
    sl_list_free(&h->names);
    sl_conf_destroy(h->conf);
    for (int i = 0; i < h->sink.cnt && i < SINK_MAX; i++)
        sl_record_unref(h->sink.recs[i]);
}

static sl_record_t *make(const char *payload, const char *key) {
    sl_record_t *rec = sl_record_new();
    CU_ASSERT_FATAL(rec != NULL);
    CU_ASSERT_FATAL(sl_record_set_data(rec, payload, strlen(payload)) == SL_OK);
    if (key)
        CU_ASSERT_FATAL(sl_record_set_key(rec, key, strlen(key)) == SL_OK);
    return rec;
}

static sl_err_t push(harness_t *h, const char *payload, const char *key) {
    sl_record_t *rec = make(payload, key);
    sl_err_t err = sl_chain_process(h->chain, rec);
    sl_record_unref(rec);
    return err;
}

/* Payload of the i-th record the sink got, NUL-terminated in a static buffer. */
static const char *out(const harness_t *h, int i) {
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4];
    size_t len;
    const char *data;
    if (i >= h->sink.cnt || i >= SINK_MAX)
        return "<missing>";
    data = sl_record_data(h->sink.recs[i], &len);
    snprintf(b, sizeof(buf[0]), "%.*s", (int)len, data);
    return b;
}

/* Number of the records (payloads) for which a filter with expr passes. */
static int count_passing(const char *expr, const char *const *payloads, int n) {
    char text[1024];
    harness_t h;
    int passed = -1;
    snprintf(text, sizeof(text), "task.operators=f\noperators.f.type=filter\noperators.f.expr=%s\n",
             expr);
    if (build_ok(&h, text, 1) == 0) {
        for (int i = 0; i < n; i++)
            CU_ASSERT_EQUAL(push(&h, payloads[i], NULL), SL_OK);
        passed = h.sink.cnt;
    }
    done(&h);
    return passed;
}

/* The first conf error, checked to contain each of the needles. */
static void expect_conf_error(const char *text, const char *n1, const char *n2) {
    harness_t h;
    const char *e;
    CU_ASSERT_NOT_EQUAL(build(&h, text, 1), 0);
    CU_ASSERT_PTR_NULL(h.spec);
    e = sl_conf_error_count(h.conf) ? sl_conf_error_at(h.conf, 0) : "";
    if (!strstr(e, n1) || (n2 && !strstr(e, n2))) {
        fprintf(stderr, "\n  expected \"%s\" and \"%s\" in: %s", n1, n2 ? n2 : "", e);
        CU_FAIL("the error message does not say what is expected");
    }
    done(&h);
}

/* --- filter --------------------------------------------------------------------------------- */

static void test_filter_truth(void) {
    static const char *const p[] = {"yes", "no", "", "7", "0"};
    CU_ASSERT_EQUAL(count_passing("payload = 'yes'", p, 5), 1);
    CU_ASSERT_EQUAL(count_passing("1", p, 5), 5);
    CU_ASSERT_EQUAL(count_passing("0", p, 5), 0);
    CU_ASSERT_EQUAL(count_passing("NULL", p, 5), 0);
    CU_ASSERT_EQUAL(count_passing("NULL = NULL", p, 5), 0);
    /* Text is true when it reads as a non-zero number, as in a WHERE clause. */
    CU_ASSERT_EQUAL(count_passing("payload", p, 5), 1);
    CU_ASSERT_EQUAL(count_passing("length(payload) > 2", p, 5), 1);
    /* A trailing comment cannot swallow the wrapper. */
    CU_ASSERT_EQUAL(count_passing("payload <> 'no' -- not the no", p, 5), 4);
}

static void test_filter_json(void) {
    static const char *const p[] = {
        "{\"level\":\"error\",\"msg\":\"disk full\"}",
        "{\"level\":\"info\",\"msg\":\"ok\"}",
        "{\"level\":\"error\",\"n\":3}",
        "{\"msg\":\"no level\"}",
    };
    harness_t h;
    CU_ASSERT_EQUAL(count_passing("json_extract(payload, '$.level') = 'error'", p, 4), 2);
    CU_ASSERT_EQUAL(count_passing("json_extract(payload, '$.n') >= 3", p, 4), 1);

    /* Bytes that are not JSON fail the record with SQLite's message, and the chain goes on. */
    if (build_ok(&h, "task.operators=f\noperators.f.type=filter\n"
                     "operators.f.expr=json_extract(payload, '$.level') = 'error'\n",
                 1) == 0) {
        CU_ASSERT_EQUAL(push(&h, "not json", NULL), SL_ERR_RECORD);
        CU_ASSERT_PTR_NOT_NULL(strstr(sl_chain_error(h.chain), "operators.f (job.properties:2)"));
        CU_ASSERT_PTR_NOT_NULL(strstr(sl_chain_error(h.chain), "malformed JSON"));
        CU_ASSERT_EQUAL(push(&h, p[0], NULL), SL_OK);
        CU_ASSERT_EQUAL(h.sink.cnt, 1);
    }
    done(&h);
}

static void test_filter_metadata(void) {
    harness_t h;
    sl_record_t *rec;

    if (build_ok(&h, "task.operators=f\noperators.f.type=filter\n"
                     "operators.f.expr=system = 'files' AND stream = 's1' AND partition = 'x' "
                     "AND offset = '42' AND subseq = 3 AND event_time = 99 "
                     "AND arrival_time = 1234 AND key = 'k1' AND payload = 'body'\n",
                 1) != 0)
        goto out;
    rec = make("body", "k1");
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "files", "s1", "x", "42", 3, 1234, NULL), SL_OK);
    sl_record_set_event_time(rec, 99);
    CU_ASSERT_EQUAL(sl_chain_process(h.chain, rec), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 1);
    sl_record_set_event_time(rec, 100); /* one column differs: dropped */
    CU_ASSERT_EQUAL(sl_chain_process(h.chain, rec), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 1);
    sl_record_unref(rec);
    done(&h);

    /* A record without a key has key NULL. */
    static const char *const p[] = {"a"};
    CU_ASSERT_EQUAL(count_passing("key IS NULL AND typeof(event_time) = 'integer'", p, 1), 1);
out:
    return;
}

static void test_filter_header(void) {
    harness_t h;
    sl_record_t *rec;

    if (build_ok(&h, "task.operators=f\noperators.f.type=filter\n"
                     "operators.f.expr=header('level') = 'error' AND header('nope') IS NULL\n",
                 1) != 0) {
        done(&h);
        return;
    }
    rec = make("x", NULL);
    CU_ASSERT_EQUAL(sl_chain_process(h.chain, rec), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 0);
    sl_record_set_header(rec, "level", "error");
    CU_ASSERT_EQUAL(sl_chain_process(h.chain, rec), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 1);
    sl_record_set_header(rec, "level", "warn");
    CU_ASSERT_EQUAL(sl_chain_process(h.chain, rec), SL_OK);
    CU_ASSERT_EQUAL(h.sink.cnt, 1);
    sl_record_unref(rec);
    done(&h);
}

static void test_expr_errors(void) {
    expect_conf_error("task.operators=f\n"
                      "operators.f.type=filter\n"
                      "# the expression, misspelt\n"
                      "operators.f.expr=json_extract(paylod, '$.a') = 1\n",
                      "job.properties:4: operators.f.expr: no such column: paylod", NULL);
    expect_conf_error("task.operators=f\noperators.f.type=filter\noperators.f.expr=payload ==== 1\n",
                      "job.properties:3: operators.f.expr: ", "syntax error");
    expect_conf_error("task.operators=f\noperators.f.type=filter\noperators.f.expr=no_such_fn(1)\n",
                      "job.properties:3: operators.f.expr: ", "no such function: no_such_fn");
    expect_conf_error("task.operators=f\noperators.f.type=filter\n",
                      "operators.f.expr", NULL); /* REQUIRED */
    expect_conf_error("task.operators=m\noperators.m.type=map\noperators.m.expr=payload\n"
                      "operators.m.key.expr=key +\n",
                      "job.properties:4: operators.m.key.expr: ", "syntax error");
    expect_conf_error("task.operators=r\noperators.r.type=rekey\noperators.r.expr='open\n",
                      "job.properties:3: operators.r.expr: ", "unterminated string");
}

static void test_expr_single(void) {
    expect_conf_error("task.operators=f\noperators.f.type=filter\n"
                      "operators.f.expr=1) FROM rec; SELECT (1\n",
                      "job.properties:3: operators.f.expr: ", "single SQL expression");
    expect_conf_error("task.operators=f\noperators.f.type=filter\n"
                      "operators.f.expr=1) FROM rec UNION SELECT (2\n",
                      "job.properties:3: operators.f.expr: ", "single SQL expression");
    expect_conf_error("task.operators=f\noperators.f.type=filter\noperators.f.expr=1; SELECT 2\n",
                      "operators.f.expr: ", "single SQL expression");
    expect_conf_error("task.operators=m\noperators.m.type=map\noperators.m.expr=(1\n",
                      "operators.m.expr: ", "unbalanced '('");
    expect_conf_error("task.operators=m\noperators.m.type=map\noperators.m.expr=1 /* x\n",
                      "operators.m.expr: ", "unterminated comment");
    /* Parentheses and semicolons inside literals are fine. */
    static const char *const p[] = {"a;b)", "c"};
    CU_ASSERT_EQUAL(count_passing("payload = 'a;b)' OR payload = \"payload\" || ')'", p, 2), 1);
    CU_ASSERT_EQUAL(count_passing("(SELECT count(*) FROM (SELECT 1 UNION SELECT 2)) = 2", p, 2),
                    2);
}

/* --- map and rekey -------------------------------------------------------------------------- */

static void test_map(void) {
    harness_t h;

    if (build_ok(&h, "task.operators=m\noperators.m.type=map\n"
                     "operators.m.expr=CASE WHEN payload = 'drop' THEN NULL "
                     "ELSE upper(payload) END\n"
                     "operators.m.key.expr='k-' || payload\n",
                 1) == 0) {
        sl_record_t *rec = make("hello", "old");
        sl_record_set_header(rec, "h", "v");
        CU_ASSERT_EQUAL(sl_chain_process(h.chain, rec), SL_OK);
        sl_record_unref(rec);
        CU_ASSERT_EQUAL(push(&h, "drop", NULL), SL_OK);
        CU_ASSERT_EQUAL(h.sink.cnt, 1);
        CU_ASSERT_STRING_EQUAL(out(&h, 0), "HELLO");
        /* key.expr sees the payload as it was before expr replaced it. */
        CU_ASSERT_STRING_EQUAL(sl_record_key(h.sink.recs[0], NULL), "k-hello");
        CU_ASSERT_STRING_EQUAL(sl_record_header(h.sink.recs[0], "h"), "v");
    }
    done(&h);

    /* Numbers become text; blobs keep their bytes; the key stays when key.expr is unset. */
    if (build_ok(&h, "task.operators=m\noperators.m.type=map\n"
                     "operators.m.expr=CASE payload WHEN 'n' THEN 6 * 7 WHEN 'r' THEN 2.5 "
                     "ELSE x'410042' END\n",
                 1) == 0) {
        size_t len;
        const char *data;
        push(&h, "n", "k");
        push(&h, "r", NULL);
        push(&h, "b", NULL);
        CU_ASSERT_EQUAL(h.sink.cnt, 3);
        CU_ASSERT_STRING_EQUAL(out(&h, 0), "42");
        CU_ASSERT_STRING_EQUAL(sl_record_key(h.sink.recs[0], NULL), "k");
        CU_ASSERT_STRING_EQUAL(out(&h, 1), "2.5");
        data = sl_record_data(h.sink.recs[2], &len);
        CU_ASSERT_EQUAL(len, 3);
        CU_ASSERT(len == 3 && memcmp(data, "A\0B", 3) == 0);
    }
    done(&h);

    /* Swapping payload and key: each result points into the other's bytes. */
    if (build_ok(&h, "task.operators=m\noperators.m.type=map\noperators.m.expr=key\n"
                     "operators.m.key.expr=payload\n",
                 1) == 0) {
        push(&h, "the-payload", "the-key");
        CU_ASSERT_EQUAL(h.sink.cnt, 1);
        CU_ASSERT_STRING_EQUAL(out(&h, 0), "the-key");
        CU_ASSERT_STRING_EQUAL(sl_record_key(h.sink.recs[0], NULL), "the-payload");
        push(&h, "p2", NULL); /* NULL key: the payload is NULL, dropped; the key is kept */
        CU_ASSERT_EQUAL(h.sink.cnt, 1);
    }
    done(&h);
}

static void test_rekey(void) {
    harness_t h;
    if (build_ok(&h, "task.operators=r\noperators.r.type=rekey\n"
                     "operators.r.expr=json_extract(payload, '$.id')\n",
                 1) == 0) {
        push(&h, "{\"id\":7}", "old");
        push(&h, "{\"id\":\"user-1\"}", NULL);
        push(&h, "{\"other\":1}", "old");
        CU_ASSERT_EQUAL(h.sink.cnt, 3);
        CU_ASSERT_STRING_EQUAL(sl_record_key(h.sink.recs[0], NULL), "7");
        CU_ASSERT_STRING_EQUAL(sl_record_key(h.sink.recs[1], NULL), "user-1");
        CU_ASSERT_PTR_NULL(sl_record_key(h.sink.recs[2], NULL)); /* NULL removes the key */
        CU_ASSERT_STRING_EQUAL(out(&h, 0), "{\"id\":7}");
    }
    done(&h);

    if (build_ok(&h, "task.operators=r\noperators.r.type=rekey\noperators.r.expr=key\n", 1) == 0) {
        push(&h, "x", "same");
        CU_ASSERT_STRING_EQUAL(sl_record_key(h.sink.recs[0], NULL), "same");
    }
    done(&h);
}

/* --- sample --------------------------------------------------------------------------------- */

static int sample_count(const char *extra, uint64_t seed, int n) {
    char text[512];
    harness_t h;
    int kept = -1;
    snprintf(text, sizeof(text), "task.operators=s\noperators.s.type=sample\n%s", extra);
    if (build_ok(&h, text, seed) == 0) {
        for (int i = 0; i < n; i++)
            push(&h, "x", NULL);
        kept = h.sink.cnt;
    }
    done(&h);
    return kept;
}

static void test_sample(void) {
    int half = sample_count("operators.s.rate=0.5\n", 7, 10000);
    CU_ASSERT_EQUAL(sample_count("operators.s.rate=0\n", 7, 1000), 0);
    CU_ASSERT_EQUAL(sample_count("operators.s.rate=1\n", 7, 1000), 1000);
    CU_ASSERT(half > 4700 && half < 5300);
    CU_ASSERT_EQUAL(sample_count("operators.s.rate=0.5\n", 7, 10000), half); /* same seed */
    CU_ASSERT_NOT_EQUAL(sample_count("operators.s.rate=0.5\n", 8, 10000), half);
    int tenth = sample_count("operators.s.rate=0.1\n", 7, 10000);
    CU_ASSERT(tenth > 850 && tenth < 1150);
    expect_conf_error("task.operators=s\noperators.s.type=sample\noperators.s.rate=1.5\n",
                      "job.properties:3: operators.s.rate", NULL);
    expect_conf_error("task.operators=s\noperators.s.type=sample\n", "operators.s.rate", NULL);
}

static void test_sample_by_key(void) {
    harness_t h;
    int kept[100] = {0}, keys_kept = 0;
    char key[16];

    if (build_ok(&h, "task.operators=s\noperators.s.type=sample\noperators.s.rate=0.5\n"
                     "operators.s.by.key=true\n",
                 1) != 0) {
        done(&h);
        return;
    }
    for (int round = 0; round < 10; round++)
        for (int k = 0; k < 100; k++) {
            int before = h.sink.cnt;
            snprintf(key, sizeof(key), "user-%d", k);
            push(&h, "x", key);
            kept[k] += h.sink.cnt - before;
        }
    for (int k = 0; k < 100; k++) {
        CU_ASSERT(kept[k] == 0 || kept[k] == 10); /* all or nothing per key */
        keys_kept += kept[k] == 10;
    }
    CU_ASSERT(keys_kept > 30 && keys_kept < 70);
    done(&h);

    /* The decision does not depend on the seed: other jobs sample the same keys. */
    if (build_ok(&h, "task.operators=s\noperators.s.type=sample\noperators.s.rate=0.5\n"
                     "operators.s.by.key=true\n",
                 99) == 0) {
        for (int k = 0; k < 100; k++) {
            int before = h.sink.cnt;
            snprintf(key, sizeof(key), "user-%d", k);
            push(&h, "x", key);
            CU_ASSERT_EQUAL(h.sink.cnt - before, kept[k] / 10);
        }
    }
    done(&h);
}

/* --- log ------------------------------------------------------------------------------------ */

static char *read_all(FILE *fp) {
    long len;
    char *buf;
    fflush(fp);
    len = ftell(fp);
    buf = calloc(1, (size_t)len + 1);
    rewind(fp);
    if (buf && fread(buf, 1, (size_t)len, fp) != (size_t)len)
        buf[0] = '\0';
    return buf;
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_log(void) {
    FILE *fp = tmpfile();
    harness_t h;
    char *text = NULL;

    CU_ASSERT_FATAL(fp != NULL);
    /* Payloads avoid digits: secrets registered by other suites (a PIN "1234") are scrubbed
     * from every log line, as they should be. */
    sl_log_set_file(fp);
    sl_log_set_level(SL_LOG_INFO);
    if (build_ok(&h, "task.operators=l\noperators.l.type=log\noperators.l.max.bytes=8\n"
                     "operators.l.every=2\n",
                 1) == 0) {
        sl_record_t *rec = make("ABCDEFGHIJklmnop", "k1");
        const void *before = sl_record_data(rec, NULL);
        sl_record_set_source(rec, "files", "in.log", "in.log", "100", 0, 0, NULL);
        CU_ASSERT_EQUAL(sl_chain_process(h.chain, rec), SL_OK);
        sl_record_unref(rec);
        push(&h, "second", NULL);
        push(&h, "line\nbreak", NULL);
        push(&h, "fourth", NULL);
        CU_ASSERT_EQUAL(h.sink.cnt, 4);
        /* Passed through unchanged: the same payload buffer, not a copy. */
        CU_ASSERT_PTR_EQUAL(sl_record_data(h.sink.recs[0], NULL), before);
        CU_ASSERT_STRING_EQUAL(out(&h, 0), "ABCDEFGHIJklmnop");
        text = read_all(fp);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        CU_ASSERT_EQUAL(count_of(text, "[op] operators.l:"), 2); /* every=2: records 1 and 3 */
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "in.log/in.log@100 key=k1"));
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "payload=ABCDEFGH..."));
        CU_ASSERT_PTR_NULL(strstr(text, "IJklmnop"));
        CU_ASSERT_PTR_NOT_NULL(strstr(text, "payload=line\\nbre..."));
        CU_ASSERT_PTR_NULL(strstr(text, "second"));
    }
    done(&h);
    free(text);
    sl_log_set_file(stderr);
    fclose(fp);

    /* A level the log is not showing: nothing written, records still pass. */
    fp = tmpfile();
    CU_ASSERT_FATAL(fp != NULL);
    sl_log_set_file(fp);
    sl_log_set_level(SL_LOG_INFO);
    if (build_ok(&h, "task.operators=l\noperators.l.type=log\noperators.l.level=debug\n", 1) ==
        0) {
        push(&h, "quiet", NULL);
        CU_ASSERT_EQUAL(h.sink.cnt, 1);
        fflush(fp);
        CU_ASSERT_EQUAL(ftell(fp), 0);
    }
    done(&h);
    sl_log_set_file(stderr);
    fclose(fp);
    expect_conf_error("task.operators=l\noperators.l.type=log\noperators.l.level=loud\n",
                      "job.properties:3: operators.l.level", NULL);
    expect_conf_error("task.operators=l\noperators.l.type=log\noperators.l.every=0\n",
                      "job.properties:3: operators.l.every", NULL);
}

/* --- dedup ---------------------------------------------------------------------------------- */

typedef struct dharness {
    harness_t h;
    sl_ckpt_store_t *ckpt;
    sl_state_host_t *sh;
} dharness_t;

/* Like build_ok(), with a state host for partition p0 over the checkpoint file path (NULL: a
 * new one), as the worker gives one. */
static int dbuild(dharness_t *d, const char *text, const char *path) {
    char fresh[600], err[512] = "";
    harness_t *h = &d->h;

    memset(d, 0, sizeof(*d));
    if (!path) {
        snprintf(fresh, sizeof(fresh), "%s/dedup.db", unit_tmpdir());
        path = fresh;
    }
    d->ckpt = sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(d->ckpt);
    d->sh = sl_state_host_new(d->ckpt, "file/in/0", 100, 64, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(d->sh);
    if (build_spec(h, text, 1, 0) != 0) {
        CU_FAIL("the spec could not be built");
        return -1;
    }
    h->chain = sl_chain_new(h->spec, "p0", sink_fn, &h->sink, d->sh, err, sizeof(err));
    if (!h->chain) {
        fprintf(stderr, "\n  sl_chain_new: %s\n", err);
        CU_FAIL("the chain with state could not be built");
        return -1;
    }
    return 0;
}

/* Commits the state with an offset, as the worker does. */
static void dcommit(dharness_t *d, const char *off) {
    char err[512] = "";
    sl_ckpt_t cp = {.system = "file", .stream = "in", .partition = "0", .offset = off};
    sl_state_commit_t sc = {&d->sh, 1};
    CU_ASSERT_EQUAL(sl_ckpt_write_with(d->ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                       sizeof(err)), SL_OK);
    sl_state_host_committed(d->sh);
}

static void ddone(dharness_t *d) {
    sl_chain_destroy(d->h.chain);
    d->h.chain = NULL;
    done(&d->h);
    sl_state_host_destroy(d->sh);
    sl_ckpt_close(d->ckpt);
}

static void test_dedup(void) {
    int64_t now = 1000000;
    dharness_t d;

    sl_time_inject(&now);
    if (dbuild(&d, "task.operators=d\noperators.d.type=dedup\noperators.d.ttl=10s\n", NULL) == 0) {
        harness_t *h = &d.h;
        CU_ASSERT_EQUAL(push(h, "a1", "a"), SL_OK); /* first of a: passes */
        CU_ASSERT_EQUAL(push(h, "a2", "a"), SL_OK); /* duplicate: dropped */
        CU_ASSERT_EQUAL(push(h, "b1", "b"), SL_OK); /* another key: independent */
        CU_ASSERT_EQUAL(push(h, "b2", "b"), SL_OK);
        CU_ASSERT_EQUAL(push(h, "n1", NULL), SL_OK); /* no key: NULL, passed, not remembered */
        CU_ASSERT_EQUAL(push(h, "n2", NULL), SL_OK);
        CU_ASSERT_EQUAL(push(h, "e1", ""), SL_OK); /* the empty key is a key */
        CU_ASSERT_EQUAL(push(h, "e2", ""), SL_OK);
        CU_ASSERT_EQUAL(h->sink.cnt, 5);
        CU_ASSERT_STRING_EQUAL(out(h, 0), "a1");
        CU_ASSERT_STRING_EQUAL(out(h, 1), "b1");
        CU_ASSERT_STRING_EQUAL(out(h, 2), "n1");
        CU_ASSERT_STRING_EQUAL(out(h, 3), "n2");
        CU_ASSERT_STRING_EQUAL(out(h, 4), "e1");
        /* The TTL counts from the record that passed; a dropped duplicate does not extend it. */
        now += 9999;
        CU_ASSERT_EQUAL(push(h, "a3", "a"), SL_OK);
        CU_ASSERT_EQUAL(h->sink.cnt, 5);
        now += 1;
        CU_ASSERT_EQUAL(push(h, "a4", "a"), SL_OK); /* expired: passes and is remembered anew */
        CU_ASSERT_EQUAL(push(h, "a5", "a"), SL_OK);
        CU_ASSERT_EQUAL(h->sink.cnt, 6);
        CU_ASSERT_STRING_EQUAL(out(h, 5), "a4");
    }
    ddone(&d);
    sl_time_inject(NULL);
}

/* A key expression over the payload; a failing expression fails the record (the worker then
 * applies task.error.policy) without remembering anything. */
static void test_dedup_expr(void) {
    int64_t now = 2000000;
    dharness_t d;

    sl_time_inject(&now);
    if (dbuild(&d, "task.operators=d\noperators.d.type=dedup\n"
                   "operators.d.key=json_extract(payload, '$.id')\noperators.d.ttl=1h\n",
               NULL) == 0) {
        harness_t *h = &d.h;
        CU_ASSERT_EQUAL(push(h, "{\"id\":1,\"n\":1}", "x"), SL_OK);
        CU_ASSERT_EQUAL(push(h, "{\"id\":1,\"n\":2}", "y"), SL_OK); /* same id, other key */
        CU_ASSERT_EQUAL(push(h, "{\"id\":\"1\",\"n\":3}", "x"), SL_OK); /* '1' as text: equal */
        CU_ASSERT_EQUAL(push(h, "{\"id\":2,\"n\":4}", "x"), SL_OK);
        CU_ASSERT_EQUAL(push(h, "{\"n\":5}", "x"), SL_OK); /* no id: NULL, passed */
        CU_ASSERT_EQUAL(push(h, "not json", "x"), SL_ERR_RECORD);
        CU_ASSERT_PTR_NOT_NULL(strstr(sl_chain_error(h->chain), "operators.d (job.properties:2)"));
        CU_ASSERT_PTR_NOT_NULL(strstr(sl_chain_error(h->chain), "malformed JSON"));
        CU_ASSERT_EQUAL(push(h, "{\"id\":3,\"n\":6}", "x"), SL_OK); /* goes on after an error */
        CU_ASSERT_EQUAL(h->sink.cnt, 4);
        CU_ASSERT_STRING_EQUAL(out(h, 0), "{\"id\":1,\"n\":1}");
        CU_ASSERT_STRING_EQUAL(out(h, 1), "{\"id\":2,\"n\":4}");
        CU_ASSERT_STRING_EQUAL(out(h, 2), "{\"n\":5}");
        CU_ASSERT_STRING_EQUAL(out(h, 3), "{\"id\":3,\"n\":6}");
    }
    ddone(&d);
    sl_time_inject(NULL);
    expect_conf_error("task.operators=d\noperators.d.type=dedup\noperators.d.ttl=1h\n"
                      "operators.d.key=payload +\n",
                      "job.properties:4: operators.d.key", NULL);
    expect_conf_error("task.operators=d\noperators.d.type=dedup\n", "operators.d.ttl", NULL);
    expect_conf_error("task.operators=d\noperators.d.type=dedup\noperators.d.ttl=soon\n",
                      "job.properties:3: operators.d.ttl", NULL);
}

/* The keys remembered are those committed: after a "crash" (the host dropped without a
 * commit) the uncommitted key passes again, the committed one does not. */
static void test_dedup_commit(void) {
    int64_t now = 3000000;
    const char *text = "task.operators=d\noperators.d.type=dedup\noperators.d.ttl=0\n";
    char path[600];
    dharness_t d;

    snprintf(path, sizeof(path), "%s/dedup.db", unit_tmpdir());
    sl_time_inject(&now);
    if (dbuild(&d, text, path) == 0) {
        push(&d.h, "a1", "a");
        dcommit(&d, "10");
        push(&d.h, "b1", "b");
        CU_ASSERT_EQUAL(d.h.sink.cnt, 2);
    }
    ddone(&d);
    now += 86400000; /* ttl=0: forever */
    if (dbuild(&d, text, path) == 0) {
        push(&d.h, "a2", "a");
        push(&d.h, "b2", "b");
        CU_ASSERT_EQUAL(d.h.sink.cnt, 1);
        CU_ASSERT_STRING_EQUAL(out(&d.h, 0), "b2");
    }
    ddone(&d);
    sl_time_inject(NULL);
}

/* Without keyed state (an input without checkpoints) the partition's chain does not open, and
 * the error names the operator. */
static void test_dedup_no_state(void) {
    harness_t h;
    char err[512] = "";
    CU_ASSERT_EQUAL(build_spec(&h, "task.operators=d\noperators.d.type=dedup\n"
                                   "operators.d.ttl=1m\n", 1, 0), 0);
    if (h.spec) {
        sl_chain_t *chain = sl_chain_new(h.spec, "p0", sink_fn, &h.sink, NULL, err, sizeof(err));
        CU_ASSERT_PTR_NULL(chain);
        sl_chain_destroy(chain);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "partition p0: job.properties:2: operators.d: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "dedup needs keyed state"));
    done(&h);
}


/* --- join ------------------------------------------------------------------------------------ */

/* A record of system/stream, as a source partition delivers it. */
static sl_err_t push_from(sl_chain_t *chain, const char *sys, const char *stream,
                          const char *payload) {
    sl_record_t *rec = make(payload, NULL);
    sl_err_t err;
    CU_ASSERT_FATAL(sl_record_set_source(rec, sys, stream, "0", "1", 0, 0, NULL) == SL_OK);
    err = sl_chain_process(chain, rec);
    sl_record_unref(rec);
    return err;
}

/* The table written by the instance on the table's partition (its host "tab/users/0"), read by
 * the instance on an event partition (host "in/ev/0") once committed; inner drops the records
 * without a row, left passes them with null; bad records and bad rows fail one record each. */
static void run_join(const char *kind) {
    char path[600], err[512] = "", text[1024];
    sl_ckpt_store_t *ckpt;
    sl_state_host_t *tsh, *esh;
    harness_t h;
    sink_t tsink = {0};
    sl_chain_t *tchain, *echain;
    int left = !strcmp(kind, "left");

    snprintf(path, sizeof(path), "%s/join-%s.db", unit_tmpdir(), kind);
    snprintf(text, sizeof(text), "task.operators=j\noperators.j.type=join\n"
             "operators.j.table=tab.users\noperators.j.table.key=json_extract(payload, '$.id')\n"
             "operators.j.table.value=CASE WHEN json_extract(payload, '$.gone') THEN NULL "
             "ELSE json_extract(payload, '$.row') END\n"
             "operators.j.key=json_extract(payload, '$.u')\noperators.j.kind=%s\n"
             "operators.j.as=user\n", kind);
    ckpt = sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ckpt);
    tsh = sl_state_host_new(ckpt, "tab/users/0", 100, 64, err, sizeof(err));
    esh = sl_state_host_new(ckpt, "in/ev/0", 100, 64, err, sizeof(err));
    CU_ASSERT_FATAL(tsh && esh);
    if (build_spec(&h, text, 1, 0) != 0) {
        CU_FAIL("the join spec could not be built");
        goto out;
    }
    tchain = sl_chain_new(h.spec, "0", sink_fn, &tsink, tsh, err, sizeof(err));
    echain = sl_chain_new(h.spec, "0", sink_fn, &h.sink, esh, err, sizeof(err));
    CU_ASSERT_FATAL(tchain && echain);

    CU_ASSERT_EQUAL(push_from(tchain, "tab", "users", "{\"id\":\"a\",\"row\":{\"n\":1}}"), SL_OK);
    CU_ASSERT_EQUAL(push_from(tchain, "tab", "users", "{\"id\":\"b\",\"row\":\"text\"}"), SL_OK);
    CU_ASSERT_EQUAL(push_from(tchain, "tab", "users", "{\"id\":\"c\",\"row\":7}"), SL_OK);
    CU_ASSERT_EQUAL(push_from(tchain, "tab", "users", "{\"id\":\"c\",\"gone\":true}"), SL_OK);
    CU_ASSERT_EQUAL(push_from(tchain, "tab", "users", "{\"row\":1}"), SL_OK); /* no key */
    CU_ASSERT_EQUAL(push_from(tchain, "tab", "users", "not json"), SL_ERR_RECORD);
    CU_ASSERT_EQUAL(tsink.cnt, 0); /* table records go nowhere */
    /* Not committed: the other partition does not see it yet. */
    CU_ASSERT_EQUAL(push_from(echain, "in", "ev", "{\"u\":\"a\"}"), SL_OK);
    {
        sl_ckpt_t cp = {.system = "tab", .stream = "users", .partition = "0", .offset = "1"};
        sl_state_commit_t sc = {&tsh, 1};
        CU_ASSERT_EQUAL_FATAL(sl_ckpt_write_with(ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                                 sizeof(err)), SL_OK);
        sl_state_host_committed(tsh);
    }
    CU_ASSERT_EQUAL(push_from(echain, "in", "ev", "{\"u\":\"a\",\"user\":0}"), SL_OK);
    CU_ASSERT_EQUAL(push_from(echain, "in", "ev", "{\"u\":\"b\"}"), SL_OK);
    CU_ASSERT_EQUAL(push_from(echain, "in", "ev", "{\"u\":\"c\"}"), SL_OK); /* deleted */
    CU_ASSERT_EQUAL(push_from(echain, "in", "ev", "{\"x\":1}"), SL_OK);      /* NULL key */
    CU_ASSERT_EQUAL(push_from(echain, "in", "ev", "[1,2]"), left ? SL_ERR_RECORD : SL_OK);
    if (left)
        CU_ASSERT_PTR_NOT_NULL(strstr(sl_chain_error(echain), "not a JSON object"));
    CU_ASSERT_EQUAL(push_from(echain, "in", "ev", "{\"u\":\"a\""), SL_ERR_RECORD);
    CU_ASSERT_PTR_NOT_NULL(strstr(sl_chain_error(echain), "malformed JSON"));
    if (left) {
        CU_ASSERT_EQUAL(h.sink.cnt, 5);
        CU_ASSERT_STRING_EQUAL(out(&h, 0), "{\"u\":\"a\",\"user\":null}");
        CU_ASSERT_STRING_EQUAL(out(&h, 1), "{\"u\":\"a\",\"user\":{\"n\":1}}");
        CU_ASSERT_STRING_EQUAL(out(&h, 2), "{\"u\":\"b\",\"user\":\"text\"}");
        CU_ASSERT_STRING_EQUAL(out(&h, 3), "{\"u\":\"c\",\"user\":null}");
        CU_ASSERT_STRING_EQUAL(out(&h, 4), "{\"x\":1,\"user\":null}");
    } else {
        CU_ASSERT_EQUAL(h.sink.cnt, 2);
        CU_ASSERT_STRING_EQUAL(out(&h, 0), "{\"u\":\"a\",\"user\":{\"n\":1}}");
        CU_ASSERT_STRING_EQUAL(out(&h, 1), "{\"u\":\"b\",\"user\":\"text\"}");
    }
    CU_ASSERT_FALSE(sl_state_host_changed(esh)); /* lookups write nothing */
    sl_chain_destroy(tchain);
    sl_chain_destroy(echain);
    for (int i = 0; i < tsink.cnt && i < SINK_MAX; i++)
        sl_record_unref(tsink.recs[i]);
out:
    done(&h);
    sl_state_host_destroy(tsh);
    sl_state_host_destroy(esh);
    sl_ckpt_close(ckpt);
}

static void test_join(void) {
    run_join("inner");
    run_join("left");
    expect_conf_error("task.operators=j\noperators.j.type=join\noperators.j.table=users\n"
                      "operators.j.table.key=payload\noperators.j.key=payload\n",
                      "operators.j.table", "not <system>.<stream>");
    expect_conf_error("task.operators=j\noperators.j.type=join\noperators.j.table=t.u\n"
                      "operators.j.key=payload\n", "operators.j.table.key", NULL);
    expect_conf_error("task.operators=j\noperators.j.type=join\noperators.j.table=t.u\n"
                      "operators.j.table.key=payload\noperators.j.key=payload +\n",
                      "job.properties:5: operators.j.key", NULL);
}


/* --- repartition ------------------------------------------------------------------------------ */

#define RP_MAX 64
typedef struct rp_side {
    int cnt;
    sl_record_t *recs[RP_MAX];
} rp_side_t;

static sl_err_t rp_side_fn(void *opaque, sl_record_t *rec, int output) {
    rp_side_t *s = opaque;
    CU_ASSERT_EQUAL(output, 0);
    if (s->cnt < RP_MAX)
        s->recs[s->cnt++] = sl_record_ref(rec);
    return SL_OK;
}

static sl_err_t rp_sink_fn(void *opaque, sl_record_t *rec) {
    (void)opaque;
    (void)rec;
    CU_FAIL("a stage-0 record reached the main outputs");
    return SL_OK;
}

static int two_parts(void *opaque, int stage) {
    (void)opaque;
    return stage == 0 ? 2 : 0;
}

/* A record with payload json and event time et through an upstream chain c. */
static void rp_up(sl_chain_t *c, const char *json, int64_t et) {
    sl_record_t *r = make(json, NULL);
    sl_record_set_event_time(r, et);
    CU_ASSERT_EQUAL(sl_chain_process(c, r), SL_OK);
    sl_record_unref(r);
}

/* What the upstream chains sent to the stream, read back by the downstream chain in order. */
static void rp_forward(rp_side_t *side, sl_chain_t *down) {
    for (int i = 0; i < side->cnt; i++) {
        CU_ASSERT_EQUAL(sl_chain_process(down, side->recs[i]), SL_OK);
        sl_record_unref(side->recs[i]);
    }
    side->cnt = 0;
}

/* A window after a repartition: two upstream partitions (stage 0, input in.a) re-key their
 * records onto mid.s; one downstream partition (stage 1) runs the window over them, its
 * watermark the smaller of the upstreams' once both were heard from, kept across a restart. */
static void test_repartition(void) {
    const char *text = "task.operators=rp,w\noperators.rp.type=repartition\n"
                       "operators.rp.stream=mid.s\noperators.rp.key=json_extract(payload, '$.k')\n"
                       "operators.w.type=window\noperators.w.window=tumbling\noperators.w.size=10\n";
    char path[600], err[512] = "";
    sl_conf_t *conf = sl_conf_new();
    sl_list_t names = {0}, outs = {0};
    char *nm[] = {"rp", "w"}, *ou[] = {"mid.s"};
    sl_chain_opts_t opts;
    sl_chain_spec_t *spec;
    sl_ckpt_store_t *ckpt;
    sl_state_host_t *sh0, *sh1, *shm;
    sl_chain_t *up0, *up1, *down;
    rp_side_t side = {0};
    sink_t got = {0};
    sl_chain_env_t env;
    int64_t wm;

    names.items = nm;
    names.cnt = 2;
    outs.items = ou;
    outs.cnt = 1;
    CU_ASSERT_FATAL(sl_conf_load_string(conf, "job.properties", text, strlen(text), err,
                                        sizeof(err)) == SL_OK);
    memset(&opts, 0, sizeof(opts));
    opts.outputs = &outs;
    spec = sl_chain_spec_new_ex(conf, &names, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    CU_ASSERT_EQUAL(sl_chain_spec_stages(spec), 2);
    CU_ASSERT_EQUAL(sl_chain_spec_stage_of(spec, "mid.s"), 1);
    CU_ASSERT_EQUAL(sl_chain_spec_stage_of(spec, "in.a"), 0);
    CU_ASSERT_TRUE(sl_chain_spec_side_output(spec, 0));
    snprintf(path, sizeof(path), "%s/repartition.db", unit_tmpdir());
    ckpt = sl_ckpt_sqlite_open(path, "job", "1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ckpt);
    sh0 = sl_state_host_new(ckpt, "in/a/0", 100, 64, err, sizeof(err));
    sh1 = sl_state_host_new(ckpt, "in/a/1", 100, 64, err, sizeof(err));
    shm = sl_state_host_new(ckpt, "mid/s/0", 100, 64, err, sizeof(err));
    CU_ASSERT_FATAL(sh0 && sh1 && shm);
    memset(&env, 0, sizeof(env));
    env.side = rp_side_fn;
    env.input = "in.a";
    env.stage_parts = two_parts;
    env.sh = sh0;
    up0 = sl_chain_new_ex(spec, "0", rp_sink_fn, &side, &env, err, sizeof(err));
    env.sh = sh1;
    up1 = sl_chain_new_ex(spec, "1", rp_sink_fn, &side, &env, err, sizeof(err));
    env.side = NULL;
    env.input = "mid.s";
    env.sh = shm;
    down = sl_chain_new_ex(spec, "0", sink_fn, &got, &env, err, sizeof(err));
    CU_ASSERT_FATAL(up0 && up1 && down);


    rp_up(up0, "{\"k\":\"x\"}", 3);
    rp_up(up0, "{\"k\":\"y\"}", 12); /* up0's watermark: 11 */
    rp_up(up1, "{\"k\":\"x\"}", 5);  /* up1's: 4 */
    CU_ASSERT_EQUAL(side.cnt, 3);
    CU_ASSERT_STRING_EQUAL(sl_record_key(side.recs[1], NULL), "y");
    CU_ASSERT_PTR_NULL(sl_record_header(side.recs[0], "sluice.wm"));
    CU_ASSERT_EQUAL(sl_chain_flush(up0), SL_OK); /* up0 tells: 11 to every partition */
    CU_ASSERT_EQUAL(side.cnt, 4);
    CU_ASSERT_STRING_EQUAL(sl_record_header(side.recs[3], "sluice.wm"), "11");
    CU_ASSERT_STRING_EQUAL(sl_record_header(side.recs[3], "sluice.from"), "in.a/0");
    CU_ASSERT_STRING_EQUAL(sl_record_header(side.recs[3], "sluice.wm.n"), "2");
    CU_ASSERT_PTR_NOT_NULL(sl_record_header(side.recs[3], "sluice.broadcast"));
    CU_ASSERT_EQUAL(sl_chain_flush(up0), SL_OK); /* nothing new: no second marker */
    CU_ASSERT_EQUAL(side.cnt, 4);
    CU_ASSERT_STRING_EQUAL(sl_record_header(side.recs[0], "sluice.from"), "in.a/0");
    CU_ASSERT_STRING_EQUAL(sl_record_header(side.recs[0], "sluice.seq"), "1");
    CU_ASSERT_STRING_EQUAL(sl_record_header(side.recs[1], "sluice.seq"), "2");
    {
        /* The stream holds the first record twice (a crash upstream): it counts once. */
        sl_record_t *again = sl_record_ref(side.recs[0]);
        rp_forward(&side, down);
        CU_ASSERT_EQUAL(sl_chain_process(down, again), SL_OK);
        sl_record_unref(again);
    }
    /* One upstream of two heard: no watermark downstream, no window. */
    CU_ASSERT_EQUAL(sl_chain_watermark(down), SL_WATERMARK_NONE);
    CU_ASSERT_EQUAL(got.cnt, 0);
    CU_ASSERT_EQUAL(sl_chain_flush(up1), SL_OK); /* 4: the smaller */
    rp_forward(&side, down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), 4);
    CU_ASSERT_EQUAL(got.cnt, 0);
    rp_up(up1, "{\"k\":\"x\"}", 30);
    CU_ASSERT_EQUAL(sl_chain_flush(up1), SL_OK); /* up1: 29; the min is up0's 11 */
    rp_forward(&side, down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), 11);
    CU_ASSERT_EQUAL(got.cnt, 1); /* [0, 10) of x: the records of both upstreams */
    CU_ASSERT_PTR_NOT_NULL(strstr(out(&(harness_t){.sink = got}, 0),
                                  "\"key\":\"x\",\"window_start\":0,\"window_end\":10,\"count\":2"));
    /* A restart of the downstream partition after a commit keeps the upstream watermarks. */
    {
        sl_ckpt_t cp = {.system = "mid", .stream = "s", .partition = "0", .offset = "9"};
        sl_state_commit_t sc = {&shm, 1};
        CU_ASSERT_EQUAL(sl_ckpt_write_with(ckpt, &cp, 1, sl_state_commit_fn, &sc, err,
                                           sizeof(err)), SL_OK);
        sl_state_host_committed(shm);
    }
    sl_chain_destroy(down);
    down = sl_chain_new_ex(spec, "0", sink_fn, &got, &env, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), 11);
    /* The end of both inputs closes everything downstream. */
    CU_ASSERT_EQUAL(sl_chain_end_input(up0), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_end_input(up1), SL_OK);
    CU_ASSERT_EQUAL(side.cnt, 2);
    wm = side.cnt == 2 ? strtoll(sl_record_header(side.recs[1], "sluice.wm"), NULL, 10) : 0;
    CU_ASSERT_EQUAL(wm, SL_WATERMARK_END);
    rp_forward(&side, down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), SL_WATERMARK_END);
    CU_ASSERT_EQUAL(got.cnt, 3); /* x [30, 40) ... and y [10, 20) */
    /* A marker with bad headers fails like a bad record. */
    {
        sl_record_t *r = make("{}", NULL);
        sl_record_set_header(r, "sluice.wm", "soon");
        sl_record_set_header(r, "sluice.from", "in.a/0");
        CU_ASSERT_EQUAL(sl_chain_process(down, r), SL_ERR_RECORD);
        CU_ASSERT_PTR_NOT_NULL(strstr(sl_chain_error(down), "watermark marker with bad headers"));
        sl_record_unref(r);
    }
    sl_chain_destroy(up0);
    sl_chain_destroy(up1);
    sl_chain_destroy(down);
    for (int i = 0; i < got.cnt && i < SINK_MAX; i++)
        sl_record_unref(got.recs[i]);
    sl_chain_spec_destroy(spec);
    sl_conf_destroy(conf);
    sl_state_host_destroy(sh0);
    sl_state_host_destroy(sh1);
    sl_state_host_destroy(shm);
    sl_ckpt_close(ckpt);
}


/* task.watermark.idle-timeout: an upstream partition that reads nothing says so and is not
 * waited for downstream until it reads again. */
static void test_repartition_idle(void) {
    const char *text = "task.operators=rp\noperators.rp.type=repartition\n"
                       "operators.rp.stream=mid.s\noperators.rp.key=payload\n";
    char err[512] = "";
    sl_conf_t *conf = sl_conf_new();
    sl_list_t names = {0}, outs = {0};
    char *nm[] = {"rp"}, *ou[] = {"mid.s"};
    sl_chain_opts_t opts;
    sl_chain_spec_t *spec;
    sl_chain_t *up0, *up1, *down;
    rp_side_t side = {0};
    sink_t got = {0};
    sl_chain_env_t env;
    int64_t now = 1000000;

    sl_time_inject(&now);
    names.items = nm;
    names.cnt = 1;
    outs.items = ou;
    outs.cnt = 1;
    CU_ASSERT_FATAL(sl_conf_load_string(conf, "job.properties", text, strlen(text), err,
                                        sizeof(err)) == SL_OK);
    memset(&opts, 0, sizeof(opts));
    opts.outputs = &outs;
    opts.watermark_idle_ms = 1000;
    spec = sl_chain_spec_new_ex(conf, &names, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    memset(&env, 0, sizeof(env));
    env.side = rp_side_fn;
    env.input = "in.a";
    env.stage_parts = two_parts;
    up0 = sl_chain_new_ex(spec, "0", rp_sink_fn, &side, &env, err, sizeof(err));
    up1 = sl_chain_new_ex(spec, "1", rp_sink_fn, &side, &env, err, sizeof(err));
    env.side = NULL;
    env.input = "mid.s";
    down = sl_chain_new_ex(spec, "0", sink_fn, &got, &env, err, sizeof(err));
    CU_ASSERT_FATAL(up0 && up1 && down);


    rp_up(up0, "k", 100);
    rp_up(up1, "k", 50);
    now += 200; /* the 200 ms watermark.interval */
    CU_ASSERT_EQUAL(sl_chain_tick(up0, now), SL_OK);
    CU_ASSERT_EQUAL(sl_chain_tick(up1, now), SL_OK);
    rp_forward(&side, down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), 49);
    /* up0 reads on; up1 reads nothing for 1 s and says it is idle. */
    for (int i = 0; i < 5; i++) {
        now += 200;
        rp_up(up0, "k", 200 + 100 * i);
        CU_ASSERT_EQUAL(sl_chain_tick(up0, now), SL_OK);
        CU_ASSERT_EQUAL(sl_chain_tick(up1, now), SL_OK);
    }
    {
        int idles = 0;
        for (int i = 0; i < side.cnt; i++)
            idles += sl_record_header(side.recs[i], "sluice.wm.idle") != NULL;
        CU_ASSERT_EQUAL(idles, 1);
        if (idles != 1)
            for (int i = 0; i < side.cnt; i++)
                fprintf(stderr, "\n  %s %s %s", sl_record_header(side.recs[i], "sluice.from"),
                        sl_record_header(side.recs[i], "sluice.wm"),
                        sl_record_header(side.recs[i], "sluice.wm.idle"));
    }
    rp_forward(&side, down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), 599); /* up0's alone */
    /* up1 reads again. Until its next marker it is not waited for (Flink's rule too: its
     * records may be late); then it is, and the watermark never goes back. */
    rp_up(up1, "k", 700);
    now += 200;
    rp_up(up0, "k", 900);
    CU_ASSERT_EQUAL(sl_chain_tick(up0, now), SL_OK);
    rp_forward(&side, down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), 899);
    CU_ASSERT_EQUAL(sl_chain_tick(up1, now), SL_OK); /* active, at 699 */
    rp_forward(&side, down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), 899);
    now += 200;
    rp_up(up0, "k", 1500);
    CU_ASSERT_EQUAL(sl_chain_tick(up0, now), SL_OK);
    rp_forward(&side, down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), 899); /* up1 holds it back again */
    rp_up(up1, "k", 1200);
    CU_ASSERT_EQUAL(sl_chain_tick(up1, now), SL_OK);
    rp_forward(&side, down);
    CU_ASSERT_EQUAL(sl_chain_watermark(down), 1199);
    sl_chain_destroy(up0);
    sl_chain_destroy(up1);
    sl_chain_destroy(down);
    for (int i = 0; i < got.cnt && i < SINK_MAX; i++)
        sl_record_unref(got.recs[i]);
    sl_chain_spec_destroy(spec);
    sl_conf_destroy(conf);
    sl_time_inject(NULL);
}


/* --- interval-join -------------------------------------------------------------------------- */

static sl_err_t push_side(harness_t *h, const char *from, const char *payload, const char *key,
                          int64_t et) {
    sl_record_t *rec = make(payload, key);
    sl_err_t err;
    CU_ASSERT_FATAL(sl_record_set_header(rec, "sluice.from", from) == SL_OK);
    sl_record_set_event_time(rec, et);
    err = sl_chain_process(h->chain, rec);
    sl_record_unref(rec);
    return err;
}

static int count_rows(void *opaque, const void *k, size_t kl, const void *v, size_t vl) {
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    (*(int *)opaque)++;
    return 0;
}

/* Pairs with right.time in [left.time - 5, left.time + 10], emitted once when the second of
 * the two arrives, with the later time; late records dropped; rows expire with the watermark. */
static void test_interval_join(void) {
    dharness_t d;
    if (dbuild(&d, "task.operators=ij\noperators.ij.type=interval-join\n"
                   "operators.ij.left=in.a\noperators.ij.right=in.b\n"
                   "operators.ij.before=5\noperators.ij.after=10\n", NULL) == 0) {
        harness_t *h = &d.h;
        sl_state_t *st;
        int rows = 0;
        /* No task.watermark.delay here: times rise (the watermark is the last time - 1). */
        CU_ASSERT_EQUAL(push_side(h, "in.b/3", "{\"b\":1}", "x", 95), SL_OK);
        CU_ASSERT_EQUAL(push_side(h, "in.a/0", "{\"a\":1}", "x", 100), SL_OK); /* meets b1 */
        CU_ASSERT_EQUAL(push_side(h, "in.b/3", "{\"b\":3}", "y", 101), SL_OK); /* other key */
        CU_ASSERT_EQUAL(push_side(h, "in.a/1", "not json", "x", 104), SL_OK); /* b1 too early */
        CU_ASSERT_EQUAL(push_side(h, "in.b/3", "{\"b\":2}", "x", 111), SL_OK); /* meets a2 only */
        CU_ASSERT_EQUAL(push_side(h, "in.c/0", "{\"c\":1}", "x", 112), SL_OK); /* passes */
        CU_ASSERT_EQUAL_FATAL(h->sink.cnt, 3);
        CU_ASSERT_STRING_EQUAL(out(h, 0), "{\"key\":\"x\",\"left\":{\"a\":1},\"right\":{\"b\":1}}");
        CU_ASSERT_STRING_EQUAL(out(h, 1),
                               "{\"key\":\"x\",\"left\":\"not json\",\"right\":{\"b\":2}}");
        CU_ASSERT_STRING_EQUAL(out(h, 2), "{\"c\":1}");
        CU_ASSERT_EQUAL(sl_record_event_time(h->sink.recs[0]), 100);
        CU_ASSERT_EQUAL(sl_record_event_time(h->sink.recs[1]), 111);
        /* The watermark goes to 120: left rows up to 110 and right rows up to 115 have no
         * partner to come and go; a record at 105 is late. */
        CU_ASSERT_EQUAL(push_side(h, "in.b/3", "{\"b\":4}", "z", 121), SL_OK);
        CU_ASSERT_EQUAL(push_side(h, "in.a/0", "{\"a\":9}", "z", 105), SL_OK); /* late */
        CU_ASSERT_EQUAL(h->sink.cnt, 3);
        st = sl_state_host_store(d.sh, "ij");
        CU_ASSERT_EQUAL(sl_state_scan_prefix(st, "L", 1, count_rows, &rows), SL_OK);
        CU_ASSERT_EQUAL(rows, 0);
        rows = 0;
        CU_ASSERT_EQUAL(sl_state_scan_prefix(st, "R", 1, count_rows, &rows), SL_OK);
        CU_ASSERT_EQUAL(rows, 1); /* z at 121 */
        rows = 0;
        CU_ASSERT_EQUAL(sl_state_scan_prefix(st, "r", 1, count_rows, &rows), SL_OK);
        CU_ASSERT_EQUAL(rows, 1); /* and its index entry */
        CU_ASSERT_EQUAL(sl_chain_end_input(h->chain), SL_OK);
        rows = 0;
        CU_ASSERT_EQUAL(sl_state_scan_prefix(st, NULL, 0, count_rows, &rows), SL_OK);
        CU_ASSERT_EQUAL(rows, 0);
    }
    ddone(&d);
    expect_conf_error("task.operators=ij\noperators.ij.type=interval-join\n"
                      "operators.ij.left=in.a\noperators.ij.right=in.a\n",
                      "operators.ij.right", "the same stream");
    expect_conf_error("task.operators=ij\noperators.ij.type=interval-join\n"
                      "operators.ij.left=in.a\n", "operators.ij.right", NULL);
}

void test_operators_register(void) {
    static const unit_test_t tests[] = {
        {"filter true/false/NULL", test_filter_truth},
        {"filter json_extract", test_filter_json},
        {"filter metadata columns", test_filter_metadata},
        {"filter header()", test_filter_header},
        {"expression errors name file:line and key", test_expr_errors},
        {"only a single expression", test_expr_single},
        {"map payload, key, NULL drop", test_map},
        {"rekey", test_rekey},
        {"sample rates", test_sample},
        {"sample by key", test_sample_by_key},
        {"log passes through and truncates", test_log},
        {"dedup first per key, ttl", test_dedup},
        {"dedup key expression and errors", test_dedup_expr},
        {"dedup remembers what was committed", test_dedup_commit},
        {"dedup without keyed state", test_dedup_no_state},
        {"join: table rows, inner and left, errors", test_join},
        {"repartition: stages, watermarks across", test_repartition},
        {"repartition: idle upstream partitions", test_repartition_idle},
        {"interval-join: pairs, late records, expiry", test_interval_join},
        {NULL, NULL},
    };
    unit_add_suite("operators", tests);
}
