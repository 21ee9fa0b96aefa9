/*
 * test_conf.c: unit tests of the configuration engine (runtime/conf.c) and the string helpers
 * under it (util/util_str.c): loading with origins and `sensitive.` keys, applying property
 * tables of every type with defaults, bounds, enums, aliases and scope prefixes, the exact
 * shapes of the error messages, unknown-key hints, secret masking in errors, dumps and logs,
 * and the generated documentation.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_int.h"
#include "sluice/log.h"
#include "unit.h"
#include "util_str.h"

/* ---- fixtures ---------------------------------------------------------------------------- */

typedef struct tconf {
    char *name;
    int threads;
    int64_t big;
    int flag;
    int mode;
    int64_t buf;
    int64_t commit;
    double ratio;
    sl_list_t tags;
    char *password;
    int pin;
    int64_t old;
    int pos;
    int hidden;
} tconf_t;

#define TO(f) offsetof(tconf_t, f)

static const sl_prop_t tprops[] = {
    {"name", SL_PROP_STRING, TO(name), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED, "Name of the job."},
    {"threads", SL_PROP_INT, TO(threads), "4", 1, 256, NULL, 0, "Worker threads."},
    {"big", SL_PROP_INT64, TO(big), "-5", 0, 0, NULL, 0, "A big number."},
    {"flag", SL_PROP_BOOL, TO(flag), "yes", 0, 0, NULL, 0, "A flag."},
    {"mode", SL_PROP_ENUM, TO(mode), "fast", 0, 0, "slow|fast|Auto", 0, "The mode."},
    {"buf", SL_PROP_SIZE, TO(buf), "64K", 512, 1073741824.0, NULL, 0, "Buffer size."},
    {"commit.ms", SL_PROP_DURATION, TO(commit), "1.5s", 10, 86400000.0, NULL, 0, "Commit."},
    {"ratio", SL_PROP_DOUBLE, TO(ratio), "0.25", 0, 1, NULL, 0, "A ratio."},
    {"tags", SL_PROP_LIST, TO(tags), "a, b,,c ", 0, 0, NULL, 0, "Tags, each as <name> or `<n>`."},
    {"password", SL_PROP_STRING, TO(password), NULL, 0, 0, NULL, SL_PROP_F_SECRET,
     "Password | with a pipe."},
    {"pin", SL_PROP_INT, TO(pin), NULL, 1, 9999, NULL, SL_PROP_F_SECRET, "A PIN."},
    {"old.thing", SL_PROP_INT64, TO(old), NULL, 0, 0, NULL, SL_PROP_F_DEPRECATED,
     "Use big instead."},
    {"initial.position", SL_PROP_ENUM, TO(pos), "latest", 0, 0, "trim_horizon|latest", 0,
     "Where to start."},
    {"aws.kcl.InitialPositionInStream", SL_PROP_ALIAS, 0, NULL, 0, 0, "initial.position", 0,
     "Samza/KCL spelling"},
    {"initPos", SL_PROP_ALIAS, 0, NULL, 0, 0, "initial.position", 0, NULL},
    {"factory.*", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "Samza's job runner."},
    {"jmx", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, NULL},
    {"hidden.knob", SL_PROP_INT, TO(hidden), "3", 0, 0, NULL, SL_PROP_F_HIDDEN, "Hidden."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

typedef struct sconf {
    char *region;
    char *offset;
    int batch;
} sconf_t;

static const sl_prop_t sprops[] = {
    {"region", SL_PROP_STRING, offsetof(sconf_t, region), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "AWS region."},
    {"samza.offset.default", SL_PROP_ENUM, offsetof(sconf_t, batch), "oldest", 0, 0,
     "oldest|upcoming", 0, "Where to start."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static const char *const root[] = {"", NULL};
static const char *const job_pfx[] = {"job.", NULL};

static sl_conf_t *load(const char *text) {
    char err[512];
    sl_conf_t *conf = sl_conf_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
    sl_err_t rc = sl_conf_load_string(conf, "job.properties", text, strlen(text), err,
                                      sizeof(err));
    CU_ASSERT_EQUAL(rc, SL_OK);
    if (rc)
        fprintf(stderr, "load: %s\n", err);
    return conf;
}

/* True when some collected error equals msg exactly. */
static int has_error(const sl_conf_t *conf, const char *msg) {
    for (int i = 0; i < sl_conf_error_count(conf); i++)
        if (!strcmp(sl_conf_error_at(conf, i), msg))
            return 1;
    for (int i = 0; i < sl_conf_error_count(conf); i++)
        fprintf(stderr, "  error[%d]: %s\n", i, sl_conf_error_at(conf, i));
    fprintf(stderr, "  wanted:   %s\n", msg);
    return 0;
}

/* True when no collected error contains needle. */
static int no_error_contains(const sl_conf_t *conf, const char *needle) {
    for (int i = 0; i < sl_conf_error_count(conf); i++)
        if (strstr(sl_conf_error_at(conf, i), needle))
            return 0;
    return 1;
}

static char *logbuf;
static size_t loglen;
static FILE *logfp;

static void log_start(void) {
    logbuf = NULL;
    loglen = 0;
    logfp = open_memstream(&logbuf, &loglen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(logfp);
    sl_log_set_file(logfp);
    sl_log_set_level(SL_LOG_INFO);
}

/* Stops capturing; the caller frees the returned text. */
static char *log_stop(void) {
    sl_log_set_file(NULL);
    fclose(logfp);
    logfp = NULL;
    return logbuf;
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* In-memory output files; the text lives in static storage until the caller frees it. */
static char *ms_buf;
static size_t ms_len;

static FILE *ms_open(void) {
    ms_buf = NULL;
    ms_len = 0;
    FILE *fp = open_memstream(&ms_buf, &ms_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    return fp;
}

static char *ms_close(FILE *fp) {
    fclose(fp);
    return ms_buf;
}

static char *dump(const sl_conf_t *conf, const char *prefix, const sl_prop_t *table,
                  const void *obj) {
    FILE *fp = ms_open();
    sl_conf_dump_obj(fp, conf, prefix, table, obj);
    return ms_close(fp);
}

/* ---- loading ----------------------------------------------------------------------------- */

static void test_load_entries(void) {
    sl_conf_t *conf = load("# job\njob.name=demo\nsensitive.job.password=hunter2secret\n"
                           "job.threads=2\njob.threads = 3\n");
    char w[128];
    sl_conf_entry_t e;
    CU_ASSERT_EQUAL(sl_conf_count(conf), 3);
    CU_ASSERT_STRING_EQUAL(sl_conf_get(conf, "job.name"), "demo");
    CU_ASSERT_STRING_EQUAL(sl_conf_get(conf, "job.password"), "hunter2secret");
    CU_ASSERT_PTR_NULL(sl_conf_get(conf, "sensitive.job.password"));
    CU_ASSERT_TRUE(sl_conf_is_secret(conf, "job.password"));
    CU_ASSERT_FALSE(sl_conf_is_secret(conf, "job.name"));
    /* A later duplicate wins and keeps its own line. */
    CU_ASSERT_STRING_EQUAL(sl_conf_get(conf, "job.threads"), "3");
    CU_ASSERT_STRING_EQUAL(sl_conf_where(conf, "job.threads", w, sizeof(w)), "job.properties:5");
    CU_ASSERT_STRING_EQUAL(sl_conf_where(conf, "nope", w, sizeof(w)), "<unset>");
    CU_ASSERT_STRING_EQUAL(sl_conf_origin(conf), "job.properties");

    CU_ASSERT_EQUAL(sl_conf_entry(conf, 1, &e), SL_OK);
    CU_ASSERT_STRING_EQUAL(e.key, "job.password");
    CU_ASSERT_STRING_EQUAL(e.file, "job.properties");
    CU_ASSERT_EQUAL(e.line, 3);
    CU_ASSERT_TRUE(e.secret);
    CU_ASSERT_NOT_EQUAL(sl_conf_entry(conf, 3, &e), SL_OK);
    CU_ASSERT_NOT_EQUAL(sl_conf_entry(conf, -1, &e), SL_OK);

    CU_ASSERT_EQUAL(sl_conf_set(conf, "api.key", "v"), SL_OK);
    CU_ASSERT_EQUAL(sl_conf_set(conf, "sensitive.api.token", "tok-123456"), SL_OK);
    CU_ASSERT_EQUAL(sl_conf_set(conf, "sensitive.", "x"), SL_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(sl_conf_where(conf, "api.key", w, sizeof(w)), "<api>");
    CU_ASSERT_TRUE(sl_conf_is_secret(conf, "api.token"));
    /* Replacing a file entry through the API moves its origin. */
    CU_ASSERT_EQUAL(sl_conf_set(conf, "job.name", "other"), SL_OK);
    CU_ASSERT_STRING_EQUAL(sl_conf_get(conf, "job.name"), "other");
    CU_ASSERT_STRING_EQUAL(sl_conf_where(conf, "job.name", w, sizeof(w)), "<api>");
    CU_ASSERT_EQUAL(sl_conf_count(conf), 5);
    sl_conf_destroy(conf);
    sl_conf_destroy(NULL);

    conf = sl_conf_new();
    CU_ASSERT_STRING_EQUAL(sl_conf_origin(conf), "<api>");
    sl_conf_destroy(conf);
}

static void test_load_file(void) {
    char path[600], bad[600], missing[600], err[700];
    const char *dir = unit_tmpdir();
    snprintf(path, sizeof(path), "%s/job.properties", dir);
    snprintf(bad, sizeof(bad), "%s/bad.properties", dir);
    snprintf(missing, sizeof(missing), "%s/missing.properties", dir);
    FILE *fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("a=1\r\nb=two\\\n  lines\n", fp);
    fclose(fp);
    fp = fopen(bad, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("c=3\nd=\\uXYZW\n", fp);
    fclose(fp);

    sl_conf_t *conf = sl_conf_new();
    CU_ASSERT_EQUAL(sl_conf_load_file(conf, bad, err, sizeof(err)), SL_ERR_CONF);
    CU_ASSERT_STRING_EQUAL(sl_conf_origin(conf), "<api>");
    CU_ASSERT_EQUAL(sl_conf_load_file(conf, missing, err, sizeof(err)), SL_ERR_IO);
    char want[800];
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", missing);
    CU_ASSERT_STRING_EQUAL(err, want);

    CU_ASSERT_EQUAL(sl_conf_load_file(conf, path, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(sl_conf_get(conf, "b"), "twolines");
    char w[700];
    snprintf(want, sizeof(want), "%s:2", path);
    CU_ASSERT_STRING_EQUAL(sl_conf_where(conf, "b", w, sizeof(w)), want);

    CU_ASSERT_EQUAL(sl_conf_load_file(conf, bad, err, sizeof(err)), SL_ERR_CONF);
    snprintf(want, sizeof(want), "%s:2: ", bad);
    CU_ASSERT_EQUAL(strncmp(err, want, strlen(want)), 0);
    /* A file with an error adds nothing, and the origin stays the first file. */
    CU_ASSERT_PTR_NULL(sl_conf_get(conf, "c"));
    CU_ASSERT_STRING_EQUAL(sl_conf_origin(conf), path);
    CU_ASSERT_EQUAL(sl_conf_load_file(conf, dir, err, sizeof(err)), SL_ERR_IO);
    sl_conf_destroy(conf);
    remove(path);
    remove(bad);
    rmdir(dir);
}

static void test_load_env(void) {
    char err[256];
    setenv("SL_UNIT_CONF_VAR", "from-env", 1);
    unsetenv("SL_UNIT_CONF_UNSET");
    sl_conf_t *conf = load("a=${SL_UNIT_CONF_VAR}\nb=${SL_UNIT_CONF_UNSET:-dflt}\n"
                           "c=\\${SL_UNIT_CONF_VAR}\n");
    CU_ASSERT_STRING_EQUAL(sl_conf_get(conf, "a"), "from-env");
    CU_ASSERT_STRING_EQUAL(sl_conf_get(conf, "b"), "dflt");
    CU_ASSERT_STRING_EQUAL(sl_conf_get(conf, "c"), "${SL_UNIT_CONF_VAR}");
    const char *text = "x=1\ny=${SL_UNIT_CONF_UNSET}\n";
    CU_ASSERT_EQUAL(sl_conf_load_string(conf, "over.properties", text, strlen(text), err,
                                        sizeof(err)),
                    SL_ERR_CONF);
    CU_ASSERT_STRING_EQUAL(err,
                           "over.properties:2: environment variable SL_UNIT_CONF_UNSET is not set");
    text = "sensitive.=1\n";
    CU_ASSERT_EQUAL(sl_conf_load_string(conf, "s.properties", text, strlen(text), err,
                                        sizeof(err)),
                    SL_ERR_CONF);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "s.properties:1: "));
    sl_conf_destroy(conf);
}

/* ---- applying tables --------------------------------------------------------------------- */

static void test_apply_defaults(void) {
    sl_conf_t *conf = load("job.name=demo\n");
    tconf_t tc;
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 0);
    CU_ASSERT_STRING_EQUAL(tc.name, "demo");
    CU_ASSERT_EQUAL(tc.threads, 4);
    CU_ASSERT_EQUAL(tc.big, -5);
    CU_ASSERT_EQUAL(tc.flag, 1);
    CU_ASSERT_EQUAL(tc.mode, 1);
    CU_ASSERT_EQUAL(tc.buf, 65536);
    CU_ASSERT_EQUAL(tc.commit, 1500);
    CU_ASSERT_DOUBLE_EQUAL(tc.ratio, 0.25, 1e-12);
    CU_ASSERT_EQUAL_FATAL(tc.tags.cnt, 3);
    CU_ASSERT_STRING_EQUAL(tc.tags.items[0], "a");
    CU_ASSERT_STRING_EQUAL(tc.tags.items[1], "b");
    CU_ASSERT_STRING_EQUAL(tc.tags.items[2], "c");
    CU_ASSERT_PTR_NULL(tc.password);
    CU_ASSERT_EQUAL(tc.pos, 1);
    CU_ASSERT_EQUAL(tc.hidden, 3);
    CU_ASSERT_EQUAL(sl_conf_error_count(conf), 0);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 0);
    sl_conf_obj_free(tprops, &tc);
    CU_ASSERT_PTR_NULL(tc.name);
    CU_ASSERT_EQUAL(tc.tags.cnt, 0);
    sl_conf_destroy(conf);
}

static void test_apply_values(void) {
    sl_conf_t *conf = load("job.name=demo\njob.threads=256\njob.big=-9223372036854775808\n"
                           "job.flag=OFF\njob.mode=AUTO\njob.buf=5M\njob.commit.ms=3s\n"
                           "job.ratio=1\njob.tags= x , y \njob.password=pa55word-xyz\n"
                           "job.pin=1234\njob.initial.position=Trim_Horizon\n");
    tconf_t tc;
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 0);
    CU_ASSERT_EQUAL(tc.threads, 256);
    CU_ASSERT_EQUAL(tc.big, INT64_MIN);
    CU_ASSERT_EQUAL(tc.flag, 0);
    CU_ASSERT_EQUAL(tc.mode, 2);
    CU_ASSERT_EQUAL(tc.buf, 5 * 1024 * 1024);
    CU_ASSERT_EQUAL(tc.commit, 3000);
    CU_ASSERT_DOUBLE_EQUAL(tc.ratio, 1.0, 1e-12);
    CU_ASSERT_EQUAL_FATAL(tc.tags.cnt, 2);
    CU_ASSERT_STRING_EQUAL(tc.tags.items[1], "y");
    CU_ASSERT_STRING_EQUAL(tc.password, "pa55word-xyz");
    CU_ASSERT_EQUAL(tc.pin, 1234);
    CU_ASSERT_EQUAL(tc.pos, 0);
    /* A SECRET row makes its entry secret. */
    CU_ASSERT_TRUE(sl_conf_is_secret(conf, "job.password"));
    CU_ASSERT_TRUE(sl_conf_is_secret(conf, "job.pin"));

    /* Re-applying over a previous fill frees and replaces; a removed value falls back. */
    CU_ASSERT_EQUAL(sl_conf_set(conf, "job.name", "again"), SL_OK);
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 0);
    CU_ASSERT_STRING_EQUAL(tc.name, "again");
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);
}

static void test_bad_values(void) {
    sl_conf_t *conf = load("job.name=demo\njob.threads=0\njob.commit.ms=abc\njob.mode=fsat\n"
                           "job.flag=maybe\njob.buf=12Q\njob.ratio=1.5\n"
                           "job.big=99999999999999999999\njob.initial.position=zzzzzzzzzzzz\n"
                           "job.tags=\n");
    tconf_t tc;
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 8);
    CU_ASSERT_TRUE(has_error(conf, "job.properties:2: job.threads: expected an integer between 1 "
                                   "and 256, got '0'"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:3: job.commit.ms: expected a duration (e.g. 3s, "
                                   "250ms or plain milliseconds), got 'abc'"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:4: job.mode: expected one of slow, fast, Auto, "
                                   "got 'fsat' (did you mean 'fast'?)"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:5: job.flag: expected a boolean (true/false, "
                                   "yes/no, on/off, 1/0), got 'maybe'"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:6: job.buf: expected a size (e.g. 512, 64K, 5M "
                                   "or 1G), got '12Q'"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:7: job.ratio: expected a number between 0 and "
                                   "1, got '1.5'"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:8: job.big: expected an integer, got "
                                   "'99999999999999999999'"));
    /* Far from every choice: no suggestion. */
    CU_ASSERT_TRUE(has_error(conf, "job.properties:9: job.initial.position: expected one of "
                                   "trim_horizon, latest, got 'zzzzzzzzzzzz'"));
    /* An empty list is valid; a bad value leaves the default behind. */
    CU_ASSERT_EQUAL(tc.tags.cnt, 0);
    CU_ASSERT_EQUAL(tc.threads, 4);
    CU_ASSERT_EQUAL(tc.commit, 1500);
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);

    /* The shape from the product issue, on a stream table under a system. */
    conf = load("systems.f.region=eu\n\n\nsystems.f.streams.s.samza.offset.default=newest\n");
    const char *const pfx[] = {"systems.f.streams.s.", "systems.f.", NULL};
    sconf_t sc;
    memset(&sc, 0, sizeof(sc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, sprops, pfx, &sc), 1);
    CU_ASSERT_TRUE(has_error(conf, "job.properties:4: systems.f.streams.s.samza.offset.default: "
                                   "expected one of oldest, upcoming, got 'newest' (did you "
                                   "mean 'oldest'?)"));
    sl_conf_obj_free(sprops, &sc);
    sl_conf_destroy(conf);
}

static void test_bounds_sizes_durations(void) {
    sl_conf_t *conf = load("job.name=n\njob.buf=100\njob.commit.ms=2d\njob.threads=2147483648\n");
    tconf_t tc;
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 3);
    CU_ASSERT_TRUE(has_error(conf, "job.properties:2: job.buf: expected a size between 512 and "
                                   "1G, got '100'"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:3: job.commit.ms: expected a duration between "
                                   "10ms and 1d, got '2d'"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:4: job.threads: expected an integer between "
                                   "-2147483648 and 2147483647, got '2147483648'"));
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);
}

static void test_required(void) {
    sl_conf_t *conf = load("job.threads=3\n");
    tconf_t tc;
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 1);
    CU_ASSERT_TRUE(has_error(conf, "job.properties: job.name: required property is missing "
                                   "(Name of the job.)"));
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);

    /* With several prefixes, the most specific key is named; API-only confs say <api>. */
    conf = sl_conf_new();
    CU_ASSERT_EQUAL(sl_conf_set(conf, "other", "1"), SL_OK);
    const char *const pfx[] = {"systems.k.streams.s.", "systems.k.", NULL};
    sconf_t sc;
    memset(&sc, 0, sizeof(sc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, sprops, pfx, &sc), 1);
    CU_ASSERT_TRUE(has_error(conf, "<api>: systems.k.streams.s.region: required property is "
                                   "missing (AWS region.)"));
    sl_conf_obj_free(sprops, &sc);
    sl_conf_destroy(conf);
}

static void test_bad_default(void) {
    static const sl_prop_t bad[] = {
        {"n", SL_PROP_INT, 0, "lots", 0, 0, NULL, 0, NULL},
        {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
    };
    sl_conf_t *conf = load("x.y=1\n");
    int n = 7;
    CU_ASSERT_EQUAL(sl_conf_apply(conf, bad, root, &n), 1);
    CU_ASSERT_TRUE(has_error(conf, "job.properties: n: invalid default in the property table: "
                                   "expected an integer, got 'lots'"));
    sl_conf_destroy(conf);
}

static void test_alias(void) {
    tconf_t tc;
    char *log;
    /* An alias alone fills the canonical row. */
    sl_conf_t *conf = load("job.name=n\njob.aws.kcl.InitialPositionInStream=TRIM_HORIZON\n");
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 0);
    CU_ASSERT_EQUAL(tc.pos, 0);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 0);
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);

    /* Canonical and alias under the same prefix with different values: canonical wins and a
     * warning names both keys and where they are. */
    conf = load("job.name=n\njob.aws.kcl.InitialPositionInStream=trim_horizon\n"
                "job.initial.position=latest\njob.initPos=latest\n");
    memset(&tc, 0, sizeof(tc));
    log_start();
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 0);
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 0);
    log = log_stop();
    CU_ASSERT_EQUAL(tc.pos, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "job.properties:2: 'job.aws.kcl.InitialPositionInStream'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "'job.initial.position' (set at job.properties:3)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "[conf]"));
    /* Once, and the alias with the same value is not reported. */
    CU_ASSERT_EQUAL(count_of(log, "another spelling"), 1);
    CU_ASSERT_PTR_NULL(strstr(log, "initPos"));
    free(log);
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);

    /* Prefix precedence comes before alias precedence: an alias under the stream prefix beats
     * the canonical name under the system prefix. */
    conf = load("sys.initial.position=latest\nsys.s.initPos=trim_horizon\nsys.name=x\n");
    const char *const pfx[] = {"sys.s.", "sys.", NULL};
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, pfx, &tc), 0);
    CU_ASSERT_EQUAL(tc.pos, 0);
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);
}

static void test_prefix_precedence(void) {
    sl_conf_t *conf = load("systems.k.region=us-east-1\nsystems.k.streams.a.region=eu-west-1\n"
                           "systems.k.samza.offset.default=upcoming\n");
    const char *const pa[] = {"systems.k.streams.a.", "systems.k.", NULL};
    const char *const pb[] = {"systems.k.streams.b.", "systems.k.", NULL};
    sconf_t a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, sprops, pa, &a), 0);
    CU_ASSERT_EQUAL(sl_conf_apply(conf, sprops, pb, &b), 0);
    CU_ASSERT_STRING_EQUAL(a.region, "eu-west-1");
    CU_ASSERT_STRING_EQUAL(b.region, "us-east-1");
    CU_ASSERT_EQUAL(a.batch, 1);
    CU_ASSERT_EQUAL(b.batch, 1);
    /* The dump names where the inherited value came from. */
    char *d = dump(conf, "systems.k.streams.b.", sprops, &b);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "systems.k.streams.b.region=us-east-1  # job.properties:1\n"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(d, "systems.k.streams.b.samza.offset.default=upcoming  # job.properties:3\n"));
    free(d);
    d = dump(conf, "systems.k.streams.a.", sprops, &a);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "systems.k.streams.a.region=eu-west-1  # job.properties:2\n"));
    free(d);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 0);
    sl_conf_obj_free(sprops, &a);
    sl_conf_obj_free(sprops, &b);
    sl_conf_destroy(conf);
}

static void test_ignored_and_deprecated(void) {
    sl_conf_t *conf = load("job.name=n\njob.factory.class=org.X\njob.factory.a.b=1\njob.jmx=on\n"
                           "job.old.thing=12\nsys.job.factory.x=1\n");
    const char *const pfx[] = {"job.", "sys.job.", NULL};
    tconf_t tc;
    memset(&tc, 0, sizeof(tc));
    log_start();
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, pfx, &tc), 0);
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, pfx, &tc), 0);
    char *log = log_stop();
    CU_ASSERT_EQUAL(tc.old, 12);
    CU_ASSERT_EQUAL(count_of(log, "job.properties:2: ignoring 'job.factory.class': Samza's job "
                                  "runner."),
                    1);
    CU_ASSERT_EQUAL(count_of(log, "job.properties:3: ignoring 'job.factory.a.b'"), 1);
    CU_ASSERT_EQUAL(count_of(log, "job.properties:4: ignoring 'job.jmx': a Samza setting that "
                                  "means nothing to sluice"),
                    1);
    CU_ASSERT_EQUAL(count_of(log, "job.properties:6: ignoring 'sys.job.factory.x'"), 1);
    CU_ASSERT_EQUAL(count_of(log, "job.properties:5: 'job.old.thing' is deprecated"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, " info "));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, " warn "));
    free(log);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 0);
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);
}

static void test_unknown(void) {
    static const sl_prop_t task[] = {
        {"commit.ms", SL_PROP_DURATION, 0, "1s", 0, 0, NULL, 0, NULL},
        {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
    };
    sl_conf_t *conf = load("job.name=n\n\n\njob.threds=3\nzzz.qqq=1\njob.initPoss=latest\n"
                           "task.comit.ms=5\nsystms.k.region=x\nsystems.k.regoin=y\n"
                           "by.hand=1\nsystems.k.streams.z.region=z\n");
    CU_ASSERT_EQUAL(sl_conf_set(conf, "apikey.oops", "1"), SL_OK);
    tconf_t tc;
    int64_t commit = 0;
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 0);
    const char *const tp[] = {"task.", NULL};
    CU_ASSERT_EQUAL(sl_conf_apply(conf, task, tp, &commit), 0);
    sl_conf_scope_add(conf, "systems.k.", sprops);
    sl_conf_scope_add(conf, "systems.k.", sprops); /* deduplicated */
    sl_conf_scope_add(conf, "systems.k.streams.z.", sprops);
    sl_conf_mark_used(conf, "by.hand");
    CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 7);
    CU_ASSERT_TRUE(has_error(conf, "job.properties:4: unknown property 'job.threds' (did you mean "
                                   "'job.threads'?)"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:6: unknown property 'job.initPoss' (did you "
                                   "mean 'job.initPos'?)"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:7: unknown property 'task.comit.ms' (did you "
                                   "mean 'task.commit.ms'?)"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:9: unknown property 'systems.k.regoin' (did you "
                                   "mean 'systems.k.region'?)"));
    /* No scope prefix matches: every known key is a candidate. */
    CU_ASSERT_TRUE(has_error(conf, "job.properties:8: unknown property 'systms.k.region' (did you "
                                   "mean 'systems.k.region'?)"));
    CU_ASSERT_TRUE(has_error(conf, "<api>: unknown property 'apikey.oops'"));
    /* zzz.qqq: no matching scope, nothing close: no hint. */
    CU_ASSERT_FALSE(no_error_contains(conf, "unknown property 'zzz.qqq'"));
    CU_ASSERT_TRUE(no_error_contains(conf, "'zzz.qqq' (did"));
    CU_ASSERT_TRUE(no_error_contains(conf, "by.hand"));
    /* A key a registered scope knows is not unknown even though nothing applied it. */
    CU_ASSERT_TRUE(no_error_contains(conf, "streams.z.region"));
    CU_ASSERT_EQUAL(sl_conf_error_count(conf), 7);
    /* Reported once. */
    CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 0);
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);
}

static void test_unknown_longest_prefix(void) {
    static const sl_prop_t decoy[] = {
        {"task.comit.msx", SL_PROP_INT, 0, NULL, 0, 0, NULL, 0, NULL},
        {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
    };
    static const sl_prop_t task[] = {
        {"commit.ms", SL_PROP_INT, 0, NULL, 0, 0, NULL, 0, NULL},
        {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
    };
    sl_conf_t *conf = load("task.comit.ms=1\n");
    sl_conf_scope_add(conf, "", decoy);
    sl_conf_scope_add(conf, "task.", task);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 1);
    /* Only the scope with the longest matching prefix ("task.") supplies candidates. */
    CU_ASSERT_TRUE(has_error(conf, "job.properties:1: unknown property 'task.comit.ms' (did you "
                                   "mean 'task.commit.ms'?)"));
    sl_conf_destroy(conf);
}

static void test_error_api(void) {
    sl_conf_t *conf = load("a.b=1\n");
    sl_conf_error(conf, "a.b", "bad %s", "thing");
    sl_conf_error(conf, "c.d", "missing");
    sl_conf_error(conf, NULL, "plain %d", 5);
    CU_ASSERT_EQUAL(sl_conf_error_count(conf), 3);
    CU_ASSERT_STRING_EQUAL(sl_conf_error_at(conf, 0), "job.properties:1: a.b: bad thing");
    CU_ASSERT_STRING_EQUAL(sl_conf_error_at(conf, 1), "job.properties: c.d: missing");
    CU_ASSERT_STRING_EQUAL(sl_conf_error_at(conf, 2), "plain 5");
    CU_ASSERT_PTR_NULL(sl_conf_error_at(conf, 3));
    sl_conf_destroy(conf);
}

/* ---- secrets ----------------------------------------------------------------------------- */

static void test_secrets_never_echoed(void) {
    static const char *const secrets[] = {"S3cr3tPinValue", "sens1tive-threads", "EnumS3cret",
                                          "hunter2-pass"};
    sl_conf_t *conf = load("job.name=n\njob.pin=S3cr3tPinValue\n"
                           "sensitive.job.threads=sens1tive-threads\n"
                           "sensitive.job.mode=EnumS3cret\njob.password=hunter2-pass\n"
                           "sensitive.job.pasword=hunter2-pass\n");
    tconf_t tc;
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 3);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 1);
    CU_ASSERT_TRUE(has_error(conf, "job.properties:2: job.pin: expected an integer (the value is "
                                   "secret and not shown)"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:3: job.threads: expected an integer (the value "
                                   "is secret and not shown)"));
    CU_ASSERT_TRUE(has_error(conf, "job.properties:4: job.mode: expected one of slow, fast, Auto "
                                   "(the value is secret and not shown)"));
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        CU_ASSERT_TRUE(no_error_contains(conf, secrets[i]));

    /* Dumps mask SECRET rows and secret entries. */
    char *d = dump(conf, "job.", tprops, &tc);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.password=****  # job.properties:5\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.name=n  # job.properties:1\n"));
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        CU_ASSERT_PTR_NULL(strstr(d, secrets[i]));
    free(d);

    /* Every secret was registered with the logger, which scrubs it. */
    log_start();
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        sl_log(SL_LOG_WARN, "test", "leak attempt: %s", secrets[i]);
    char *log = log_stop();
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        CU_ASSERT_PTR_NULL(strstr(log, secrets[i]));
    CU_ASSERT_EQUAL(count_of(log, "leak attempt: ****"), 4);
    free(log);
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);

    /* A key a SECRET row names is secret before any apply, through its scope. */
    conf = load("job.password=zz\n");
    sl_conf_scope_add(conf, "job.", tprops);
    CU_ASSERT_TRUE(sl_conf_is_secret(conf, "job.password"));
    CU_ASSERT_FALSE(sl_conf_is_secret(conf, "job.name"));
    sl_conf_destroy(conf);
}

/* ---- dump, format and docs --------------------------------------------------------------- */

static void test_dump(void) {
    sl_conf_t *conf = load("job.name=line1\\nline2\njob.threads=8\njob.initPos=trim_horizon\n");
    tconf_t tc;
    memset(&tc, 0, sizeof(tc));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, tprops, job_pfx, &tc), 0);
    char *d = dump(conf, "job.", tprops, &tc);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.name=line1\\nline2  # job.properties:1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.threads=8  # job.properties:2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.flag=true  # default\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.buf=64K  # default\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.commit.ms=1500ms  # default\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.tags=a,b,c  # default\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.ratio=0.25  # default\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.password=  # default\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.initial.position=trim_horizon  # job.properties:3\n"));
    CU_ASSERT_PTR_NULL(strstr(d, "initPos="));
    CU_ASSERT_PTR_NULL(strstr(d, "factory"));
    free(d);
    /* Without a conf, or for an object never applied, origins fall back to lookups. */
    d = dump(NULL, "job.", tprops, &tc);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "job.threads=8  # default\n"));
    free(d);
    sl_conf_obj_free(tprops, &tc);
    sl_conf_destroy(conf);
}

static void test_format_parse(void) {
    char buf[128], err[256];
    int64_t l = 3 * 1024 * 1024;
    sl_prop_t row = {"x", SL_PROP_SIZE, 0, NULL, 0, 0, NULL, 0, NULL};
    CU_ASSERT_STRING_EQUAL(sl_prop_format(&row, &l, buf, sizeof(buf)), "3M");
    l = 1000;
    CU_ASSERT_STRING_EQUAL(sl_prop_format(&row, &l, buf, sizeof(buf)), "1000");
    row.type = SL_PROP_DURATION;
    l = 7200000;
    CU_ASSERT_STRING_EQUAL(sl_prop_format(&row, &l, buf, sizeof(buf)), "2h");
    l = 250;
    CU_ASSERT_STRING_EQUAL(sl_prop_format(&row, &l, buf, sizeof(buf)), "250ms");
    row.flags = SL_PROP_F_SECRET;
    CU_ASSERT_STRING_EQUAL(sl_prop_format(&row, &l, buf, sizeof(buf)), "****");
    double d = 0.1;
    sl_prop_t drow = {"d", SL_PROP_DOUBLE, 0, NULL, 0, 0, NULL, 0, NULL};
    CU_ASSERT_STRING_EQUAL(sl_prop_format(&drow, &d, buf, sizeof(buf)), "0.1");
    int e = 2;
    sl_prop_t erow = {"e", SL_PROP_ENUM, 0, NULL, 0, 0, "a|b|c", 0, NULL};
    CU_ASSERT_STRING_EQUAL(sl_prop_format(&erow, &e, buf, sizeof(buf)), "c");
    CU_ASSERT_EQUAL(sl_prop_parse(&erow, " B ", &e, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(e, 1);
    sl_prop_t arow = {"a", SL_PROP_ALIAS, 0, NULL, 0, 0, "e", 0, NULL};
    CU_ASSERT_EQUAL(sl_prop_parse(&arow, "1", &e, err, sizeof(err)), SL_ERR_INVAL);
    sl_list_t list = {0, NULL};
    sl_prop_t lrow = {"l", SL_PROP_LIST, 0, NULL, 0, 0, NULL, 0, NULL};
    CU_ASSERT_EQUAL(sl_prop_parse(&lrow, ",, p ,q,", &list, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(list.cnt, 2);
    CU_ASSERT_STRING_EQUAL(sl_prop_format(&lrow, &list, buf, sizeof(buf)), "p,q");
    sl_list_free(&list);
    CU_ASSERT_EQUAL(list.cnt, 0);
    CU_ASSERT_PTR_NULL(list.items);
    CU_ASSERT_PTR_NOT_NULL(strstr(sl_prop_type_desc(&row), "duration"));
}

static char *render_docs(void) {
    FILE *fp = ms_open();
    sl_conf_doc_table(fp, "Test table", "job.", "Settings of | the test.", tprops);
    return ms_close(fp);
}

static void test_doc_table(void) {
    char *a = render_docs(), *b = render_docs();
    CU_ASSERT_STRING_EQUAL(a, b);
    const char *head = "## Test table\n\nSettings of | the test.\n\n"
                       "| Property | Type | Default | Description |\n|---|---|---|---|\n";
    CU_ASSERT_EQUAL(strncmp(a, head, strlen(head)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "| `job.threads` | int | `4` | Worker threads. Must be an "
                                     "integer between 1 and 256. |\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "| `job.name` | string |  | Name of the job. Required. |\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "| `job.mode` | enum | `fast` | The mode. One of: `slow`, "
                                     "`fast`, `Auto`. |\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "Password \\| with a pipe. Secret"));
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "| `job.aws.kcl.InitialPositionInStream` | alias |  | Alias "
                                     "of `job.initial.position`. Samza/KCL spelling |\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "| `job.factory.*` | ignored |  | Ignored"));
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "Use big instead. Deprecated."));
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "| `job.buf` | size | `64K` | Buffer size. Must be a size "
                                     "between 512 and 1G. |\n"));
    CU_ASSERT_PTR_NULL(strstr(a, "hidden.knob"));
    /* '<' outside code spans would read as an HTML tag. */
    CU_ASSERT_PTR_NOT_NULL(strstr(a, "| `job.tags` | list | `a, b,,c ` | Tags, each as &lt;name> "
                                     "or `<n>`. |\n"));
    /* Every table row has exactly 5 unescaped pipes. */
    for (char *line = strstr(a, "| `"); line; line = strstr(line + 1, "\n| `")) {
        char *p = line[0] == '\n' ? line + 1 : line, *end = strchr(p, '\n');
        int pipes = 0;
        for (char *q = p; q < end; q++)
            pipes += *q == '|' && (q == p || q[-1] != '\\');
        CU_ASSERT_EQUAL(pipes, 5);
    }
    free(a);
    free(b);
}

/* ---- util_str ---------------------------------------------------------------------------- */

static void test_parse_size_duration(void) {
    int64_t v;
    static const struct {
        const char *s;
        int64_t want;
    } sizes[] = {
        {"512", 512},     {"0", 0},
        {"64K", 65536},   {"64KB", 65536},
        {"64KiB", 65536}, {"64 kb", 65536},
        {"5M", 5242880},  {"1G", 1073741824},
        {"1T", 1099511627776LL}, {"1.5K", 1536},
        {"9223372036854775807", INT64_MAX}, {"8388607T", 8388607LL << 40},
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        v = -1;
        CU_ASSERT_EQUAL(sl_parse_size(sizes[i].s, &v), 0);
        CU_ASSERT_EQUAL(v, sizes[i].want);
    }
    static const char *const bad_sizes[] = {"",   "-1",  "K",   "12X", "1.5.5", " 5", "5K ",
                                            "+5", "9223372036854775808", "8388608T", "1e3"};
    for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
        CU_ASSERT_EQUAL(sl_parse_size(bad_sizes[i], &v), -1);

    static const struct {
        const char *s;
        int64_t want;
    } durs[] = {
        {"1500", 1500}, {"250ms", 250},  {"3s", 3000},   {"5m", 300000},       {"1h", 3600000},
        {"2d", 172800000}, {"1.5s", 1500}, {"0.5m", 30000}, {"0", 0}, {"3 S", 3000},
        {"106751991167d", 106751991167LL * 86400000},
    };
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        v = -1;
        CU_ASSERT_EQUAL(sl_parse_duration_ms(durs[i].s, &v), 0);
        CU_ASSERT_EQUAL(v, durs[i].want);
    }
    static const char *const bad_durs[] = {"",   "-1s", "-5",  "abc", "3x", "s", "1.2.3s",
                                           "106751991168d", "9223372036854775808"};
    for (size_t i = 0; i < sizeof(bad_durs) / sizeof(bad_durs[0]); i++)
        CU_ASSERT_EQUAL(sl_parse_duration_ms(bad_durs[i], &v), -1);
}

static void test_parse_scalars(void) {
    int64_t l;
    double d;
    int b;
    CU_ASSERT_EQUAL(sl_parse_int64("-9223372036854775808", &l), 0);
    CU_ASSERT_EQUAL(l, INT64_MIN);
    CU_ASSERT_EQUAL(sl_parse_int64("+42", &l), 0);
    CU_ASSERT_EQUAL(l, 42);
    CU_ASSERT_EQUAL(sl_parse_int64("9223372036854775808", &l), -1);
    CU_ASSERT_EQUAL(sl_parse_int64("-9223372036854775809", &l), -1);
    CU_ASSERT_EQUAL(sl_parse_int64("", &l), -1);
    CU_ASSERT_EQUAL(sl_parse_int64("-", &l), -1);
    CU_ASSERT_EQUAL(sl_parse_int64(" 5", &l), -1);
    CU_ASSERT_EQUAL(sl_parse_int64("5x", &l), -1);
    CU_ASSERT_EQUAL(sl_parse_double("1e3", &d), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, 1000.0, 1e-9);
    CU_ASSERT_EQUAL(sl_parse_double("-.5", &d), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, -0.5, 1e-12);
    CU_ASSERT_EQUAL(sl_parse_double("nan", &d), -1);
    CU_ASSERT_EQUAL(sl_parse_double("inf", &d), -1);
    CU_ASSERT_EQUAL(sl_parse_double("0x10", &d), -1);
    CU_ASSERT_EQUAL(sl_parse_double("1e999", &d), -1);
    CU_ASSERT_EQUAL(sl_parse_double("", &d), -1);
    static const char *const yes[] = {"true", "TRUE", "yes", "On", "1"};
    static const char *const no[] = {"false", "No", "off", "0"};
    for (size_t i = 0; i < 5; i++) {
        b = -1;
        CU_ASSERT_EQUAL(sl_parse_bool(yes[i], &b), 0);
        CU_ASSERT_EQUAL(b, 1);
    }
    for (size_t i = 0; i < 4; i++) {
        b = -1;
        CU_ASSERT_EQUAL(sl_parse_bool(no[i], &b), 0);
        CU_ASSERT_EQUAL(b, 0);
    }
    CU_ASSERT_EQUAL(sl_parse_bool("2", &b), -1);
    CU_ASSERT_EQUAL(sl_parse_bool("", &b), -1);
    CU_ASSERT_TRUE(sl_strieq("AbC", "aBc"));
    CU_ASSERT_FALSE(sl_strieq("abc", "abcd"));
}

static void test_strings(void) {
    sl_sb_t sb = {0};
    for (int i = 0; i < 100; i++)
        sl_sb_printf(&sb, "%d,", i);
    CU_ASSERT_FALSE(sb.oom);
    CU_ASSERT_EQUAL(sb.len, strlen(sb.buf));
    CU_ASSERT_EQUAL(strncmp(sb.buf, "0,1,2,", 6), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb.buf, ",99,"));
    sl_sb_reset(&sb);
    CU_ASSERT_EQUAL(sb.len, 0);
    CU_ASSERT_STRING_EQUAL(sb.buf, "");
    sl_sb_append(&sb, "ab\0c", 4);
    sl_sb_putc(&sb, 'd');
    sl_sb_puts(&sb, "ef");
    CU_ASSERT_EQUAL(sb.len, 7);
    CU_ASSERT_EQUAL(memcmp(sb.buf, "ab\0cdef", 8), 0);
    sl_sb_free(&sb);
    CU_ASSERT_PTR_NULL(sb.buf);

    CU_ASSERT_EQUAL(sl_edit_distance("kitten", "sitting", 10), 3);
    CU_ASSERT_EQUAL(sl_edit_distance("kitten", "sitting", 2), 3); /* capped at max + 1 */
    CU_ASSERT_EQUAL(sl_edit_distance("", "abc", 5), 3);
    CU_ASSERT_EQUAL(sl_edit_distance("same", "same", 0), 0);
    char l1[200], l2[200];
    memset(l1, 'a', 150);
    l1[150] = '\0';
    memcpy(l2, l1, 151);
    l2[75] = 'b';
    CU_ASSERT_EQUAL(sl_edit_distance(l1, l2, 3), 1);

    static const char *const cands[] = {"task.commit.ms", "task.inputs", "job.name", "ab", "ac"};
    CU_ASSERT_STRING_EQUAL(sl_suggest("task.comit.ms", cands, 5), "task.commit.ms");
    CU_ASSERT_STRING_EQUAL(sl_suggest("JOB.NAME", cands, 5), "job.name");
    CU_ASSERT_STRING_EQUAL(sl_suggest("task.input", cands, 5), "task.inputs");
    CU_ASSERT_STRING_EQUAL(sl_suggest("ad", cands, 5), "ab"); /* tie: first wins */
    CU_ASSERT_PTR_NULL(sl_suggest("completely.different", cands, 5));
    CU_ASSERT_PTR_NULL(sl_suggest("x", cands, 0));

    char *s = sl_strndup("abcdef", 3);
    CU_ASSERT_STRING_EQUAL(s, "abc");
    free(s);
    s = sl_strdup("xy");
    CU_ASSERT_STRING_EQUAL(s, "xy");
    free(s);
    CU_ASSERT_PTR_NULL(sl_strdup(NULL));
}

void test_conf_register(void) {
    static const unit_test_t tests[] = {
        {"load_entries", test_load_entries},
        {"load_file", test_load_file},
        {"load_env", test_load_env},
        {"apply_defaults", test_apply_defaults},
        {"apply_values", test_apply_values},
        {"bad_values", test_bad_values},
        {"bounds_sizes_durations", test_bounds_sizes_durations},
        {"required", test_required},
        {"bad_default", test_bad_default},
        {"alias", test_alias},
        {"prefix_precedence", test_prefix_precedence},
        {"ignored_and_deprecated", test_ignored_and_deprecated},
        {"unknown", test_unknown},
        {"unknown_longest_prefix", test_unknown_longest_prefix},
        {"error_api", test_error_api},
        {"secrets_never_echoed", test_secrets_never_echoed},
        {"dump", test_dump},
        {"format_parse", test_format_parse},
        {"doc_table", test_doc_table},
        {"parse_size_duration", test_parse_size_duration},
        {"parse_scalars", test_parse_scalars},
        {"strings", test_strings},
        {NULL, NULL},
    };
    unit_add_suite("conf", tests);
}
