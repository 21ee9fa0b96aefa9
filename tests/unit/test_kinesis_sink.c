/*
 * test_kinesis_sink.c: unit tests of the kinesis producer's pure parts. Its settings: defaults,
 * every option of Flink's "Sink Options" table (and the deprecated sink.producer.* spellings
 * Flink maps) and Pulsar's messageFormat accepted and landing in kin_sink_conf_t, errors at the
 * key the user wrote with hints, bounds. The partitioners (kinesis_partition.c): random, fixed,
 * key, default, fields of a JSON payload, explicit hash keys from a header, and a C partitioner
 * compiled at test time into a shared library (open / partition / close, ABI and symbol checks).
 * The PutRecords answer reader (kin_parse_put_records): results, partial failures, refusals that
 * say what is wrong, and the fast scanner never disagreeing with the strict reader. And the
 * message formats' handling of text that is not UTF-8.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "../../connectors/kinesis/kinesis.h"
#include "../../connectors/kinesis/kinesis_format.h"
#include "conf_int.h"
#include "sluice/log.h"
#include "unit.h"

#define S "systems.k.streams.s."
#define SYS "systems.k."
#define REGION S "aws.region=us-east-1\n"

static const char *const pfx[] = {S, "systems.k.default.stream.", SYS, NULL};

/* ---- fixtures ------------------------------------------------------------------------------ */

static void dump_errors(const sl_conf_t *conf) {
    for (int i = 0; i < sl_conf_error_count(conf); i++)
        fprintf(stderr, "  error[%d]: %s\n", i, sl_conf_error_at(conf, i));
}

/* True when some collected error contains a and, unless NULL, b. */
static int error_with(const sl_conf_t *conf, const char *a, const char *b) {
    for (int i = 0; i < sl_conf_error_count(conf); i++) {
        const char *e = sl_conf_error_at(conf, i);
        if (strstr(e, a) && (!b || strstr(e, b)))
            return 1;
    }
    dump_errors(conf);
    fprintf(stderr, "  wanted an error with: %s%s%s\n", a, b ? " + " : "", b ? b : "");
    return 0;
}

typedef struct run {
    sl_conf_t *conf;
    kin_conf_t kc;
    int errs;  /* sl_conf_apply + kin_conf_check + kin_sink_check */
    char *log; /* what they logged (deprecation warnings) */
    size_t loglen;
} run_t;

/* Loads text as file `name`, applies the stream table under the job loader's prefixes and runs
 * the consumer and producer checks, with the log captured. */
static void run_named(run_t *r, const char *name, const char *text) {
    char err[512];
    FILE *fp;
    memset(r, 0, sizeof(*r));
    r->conf = sl_conf_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->conf);
    if (sl_conf_load_string(r->conf, name, text, strlen(text), err, sizeof(err)) != SL_OK) {
        fprintf(stderr, "load: %s\n", err);
        CU_FAIL_FATAL("job text does not load");
    }
    fp = open_memstream(&r->log, &r->loglen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    sl_log_set_file(fp);
    sl_log_set_level(SL_LOG_INFO);
    r->errs = sl_conf_apply(r->conf, kin_stream_props, pfx, &r->kc);
    r->errs += kin_conf_check(r->conf, pfx, &r->kc);
    r->errs += kin_sink_check(r->conf, pfx, &r->kc);
    sl_log_set_file(NULL);
    fclose(fp);
}

static void run(run_t *r, const char *text) {
    run_named(r, "job.properties", text);
}

/* The error count, with the errors printed when there are some. */
static int errs(const run_t *r) {
    if (r->errs)
        dump_errors(r->conf);
    return r->errs;
}

static void done(run_t *r) {
    sl_conf_obj_free(kin_stream_props, &r->kc);
    sl_conf_destroy(r->conf);
    free(r->log);
    memset(r, 0, sizeof(*r));
}

/* Runs REGION + one line and expects it accepted: no error, no unknown key. */
static void expect_accepted(const char *line) {
    char text[1024];
    run_t r;
    snprintf(text, sizeof(text), REGION "%s\n", line);
    run(&r, text);
    if (r.errs || sl_conf_check_unknown(r.conf))
        fprintf(stderr, "  refused: %s\n", line);
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(sl_conf_error_count(r.conf), 0);
    done(&r);
}

/* Runs REGION + one line and expects an error at key containing what (NULL: anything). */
static void expect_refused(const char *line, const char *key, const char *what) {
    char text[1024];
    run_t r;
    snprintf(text, sizeof(text), REGION "%s\n", line);
    run(&r, text);
    CU_ASSERT(r.errs > 0);
    CU_ASSERT(error_with(r.conf, key, what));
    done(&r);
}

/* ---- settings ------------------------------------------------------------------------------ */

static void test_defaults(void) {
    run_t r;
    run(&r, REGION);
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.sink.batch_max, 500);
    CU_ASSERT_EQUAL(r.kc.sink.max_inflight, 16);
    CU_ASSERT_EQUAL(r.kc.sink.max_buffered, 10000);
    CU_ASSERT_EQUAL(r.kc.sink.flush_size, 5242880);
    CU_ASSERT_EQUAL(r.kc.sink.flush_timeout_ms, 5000);
    CU_ASSERT_EQUAL(r.kc.sink.fail_on_error, 0);
    CU_ASSERT_EQUAL(r.kc.sink.keep_key_order, 1);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.format, "ONLY_RAW_PAYLOAD");
    CU_ASSERT_EQUAL(r.kc.sink.format_e, 0);
    CU_ASSERT_EQUAL(r.kc.sink.format_e, KIN_FMT_RAW);
    CU_ASSERT_EQUAL(r.kc.sink.agg, 0);
    CU_ASSERT_EQUAL(r.kc.sink.agg_max_size, 51200);
    CU_ASSERT_EQUAL(r.kc.sink.agg_max_count, 4294967295LL);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.partitioner, "");
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_DEFAULT);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.partitioner_symbol, "sluice_partitioner");
    CU_ASSERT_STRING_EQUAL(r.kc.sink.partitioner_arg, "");
    CU_ASSERT_EQUAL(r.kc.sink.fields.cnt, 0);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.field_delimiter, "|");
    CU_ASSERT_STRING_EQUAL(r.kc.sink.ehk_header, "kinesis.explicit-hash-key");
    CU_ASSERT_EQUAL(r.kc.sink.request_timeout_ms, 360000); /* Flink's read timeout */
    CU_ASSERT_EQUAL(r.kc.sink.shard_refresh_ms, 60000);
    CU_ASSERT_EQUAL(r.kc.sink.retry.max_retries, 2147483647);
    CU_ASSERT_EQUAL(r.kc.sink.retry.base_ms, 100);
    CU_ASSERT_EQUAL(r.kc.sink.retry.max_ms, 5000);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    CU_ASSERT_EQUAL(r.loglen, 0);
    done(&r);
}

/* Flink's "Sink Options" table, one option at a time (each with a value Flink's documentation
 * allows), then all of them together with the values landing in the canonical fields. */
static void test_flink_sink_options(void) {
    static const char *const one[] = {
        S "sink.partitioner=random",
        S "sink.partitioner=fixed",
        S "sink.partitioner-field-delimiter=/",
        S "sink.partitioner-field-delimiter=",
        S "sink.http-client.max-concurrency=10000",
        S "sink.http-client.read-timeout=360000",
        S "sink.http-client.protocol.version=HTTP2",
        S "sink.http-client.protocol.version=HTTP1_1",
        S "sink.batch.max-size=500",
        S "sink.requests.max-inflight=16",
        S "sink.requests.max-buffered=10000",
        S "sink.flush-buffer.size=5242880",
        S "sink.flush-buffer.timeout=5000",
        S "sink.fail-on-error=false",
        /* sink.producer.*: the deprecated options Flink maps to the ones above (its
         * KinesisProducerOptionsMapper) */
        S "sink.producer.record-max-buffered-time=100",
        S "sink.producer.collection-max-size=100",
        S "sink.producer.collection-max-count=100",
        S "sink.producer.fail-on-error=true",
        S "sink.producer.aggregation-enabled=false",
        S "sink.producer.kinesis-endpoint=localhost",
        S "sink.producer.kinesis-port=4567",
        S "sink.producer.verify-certificate=false",
        /* ... and at the system level, for every stream */
        SYS "sink.batch.max-size=10",
        SYS "default.stream.sink.fail-on-error=true",
        NULL,
    };
    run_t r;

    for (int i = 0; one[i]; i++)
        expect_accepted(one[i]);

    run(&r, REGION S "sink.partitioner=fixed\n" S "sink.partitioner-field-delimiter=/\n"
                S "sink.http-client.max-concurrency=100\n" S "sink.http-client.read-timeout=60000\n"
                S "sink.http-client.protocol.version=HTTP1_1\n" S "sink.batch.max-size=200\n"
                S "sink.requests.max-inflight=4\n" S "sink.requests.max-buffered=2000\n"
                S "sink.flush-buffer.size=1048576\n" S "sink.flush-buffer.timeout=250\n"
                S "sink.fail-on-error=true\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_FIXED);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.field_delimiter, "/");
    CU_ASSERT_EQUAL(r.kc.sink.request_timeout_ms, 60000);
    CU_ASSERT_EQUAL(r.kc.sink.batch_max, 200);
    CU_ASSERT_EQUAL(r.kc.sink.max_inflight, 4);
    CU_ASSERT_EQUAL(r.kc.sink.max_buffered, 2000);
    CU_ASSERT_EQUAL(r.kc.sink.flush_size, 1048576);
    CU_ASSERT_EQUAL(r.kc.sink.flush_timeout_ms, 250);
    CU_ASSERT_EQUAL(r.kc.sink.fail_on_error, 1);
    done(&r);

    /* "an empty string is also a valid delimiter" (Flink) */
    run(&r, REGION S "sink.partitioner-field-delimiter=\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.field_delimiter, "");
    done(&r);

    /* The system level is a default for every stream; the stream's own value wins. */
    run(&r, REGION SYS "sink.batch.max-size=10\n" SYS "sink.fail-on-error=true\n"
                S "sink.batch.max-size=20\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.sink.batch_max, 20);
    CU_ASSERT_EQUAL(r.kc.sink.fail_on_error, 1);
    done(&r);
}

/* The deprecated spellings land in the canonical fields, with a warning naming the key. */
static void test_deprecated_spellings(void) {
    run_t r;
    run(&r, REGION S "sink.producer.aggregation-enabled=true\n"
                S "sink.producer.aggregation-max-size=100K\n"
                S "sink.producer.aggregation-count=1000\n"
                S "sink.producer.record-max-buffered-time=1500\n"
                S "sink.producer.fail-on-error=true\n" S "sink.producer.request-timeout=30s\n"
                S "sink.producer.max-connections=8\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    CU_ASSERT_EQUAL(r.kc.sink.agg, 1);
    CU_ASSERT_EQUAL(r.kc.sink.agg_max_size, 102400);
    CU_ASSERT_EQUAL(r.kc.sink.agg_max_count, 1000);
    CU_ASSERT_EQUAL(r.kc.sink.flush_timeout_ms, 1500);
    CU_ASSERT_EQUAL(r.kc.sink.fail_on_error, 1);
    CU_ASSERT_EQUAL(r.kc.sink.request_timeout_ms, 30000);
    CU_ASSERT_EQUAL(r.kc.sink.max_inflight, 8);
    CU_ASSERT_PTR_NOT_NULL(r.log);
    if (r.log) {
        CU_ASSERT_PTR_NOT_NULL(strstr(r.log, "'" S "sink.producer.aggregation-enabled' is "
                                             "deprecated"));
        CU_ASSERT_PTR_NOT_NULL(strstr(r.log, "'" S "sink.producer.request-timeout' is "
                                             "deprecated"));
    }
    done(&r);

    /* Flink's own deprecated key of sink.batch.max-size */
    run(&r, REGION S "sink.producer.collection-max-size=123\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    CU_ASSERT_EQUAL(r.kc.sink.batch_max, 123);
    done(&r);

    /* The canonical spelling wins over an alias in the same scope ... */
    run(&r, REGION S "sink.aggregation.enabled=false\n" S "sink.producer.aggregation-enabled=true\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.sink.agg, 0);
    done(&r);
    /* ... and a stream's alias over the system's canonical key. */
    run(&r, REGION SYS "sink.aggregation.enabled=false\n"
                S "sink.producer.aggregation-enabled=true\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.sink.agg, 1);
    done(&r);

    /* A bad value is reported at the deprecated key the user wrote. */
    expect_refused(S "sink.producer.aggregation-enabled=maybe",
                   S "sink.producer.aggregation-enabled", NULL);
}

static void test_message_format(void) {
    static const char *const names[][3] = {
        {"ONLY_RAW_PAYLOAD", "only_raw_payload", "Only_Raw_Payload"},
        {"FULL_MESSAGE_IN_JSON", "full_message_in_json", "Full_Message_In_Json"},
        {"FULL_MESSAGE_IN_FB", "full_message_in_fb", "full_message_in_FB"},
    };
    static const char *const keys[] = {S "messageFormat", S "sink.message-format",
                                       SYS "messageFormat", SYS "default.stream.messageFormat"};
    run_t r;

    for (int f = 0; f < 3; f++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 4; k++) {
                char text[512];
                snprintf(text, sizeof(text), REGION "%s=%s\n", keys[k], names[f][c]);
                run(&r, text);
                CU_ASSERT_EQUAL(errs(&r), 0);
                CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
                CU_ASSERT_EQUAL(r.kc.sink.format_e, f);
                if (r.kc.sink.format_e != f)
                    fprintf(stderr, "  %s=%s gave format %d\n", keys[k], names[f][c],
                            r.kc.sink.format_e);
                done(&r);
            }

    /* Errors name the key the user wrote, with a hint. */
    expect_refused(S "messageFormat=FULL_MESSAGE_IN_JSN", S "messageFormat:",
                   "did you mean 'FULL_MESSAGE_IN_JSON'");
    expect_refused(S "messageFormat=full_message_in_jsn", S "messageFormat:",
                   "did you mean 'FULL_MESSAGE_IN_JSON'");
    expect_refused(SYS "messageFormat=ONLY_RAW_PAYLAOD", SYS "messageFormat:",
                   "did you mean 'ONLY_RAW_PAYLOAD'");
    expect_refused(S "sink.message-format=FULL_MESSAGE_IN_FLATBUFFER",
                   "job.properties:2: " S "sink.message-format:", "FULL_MESSAGE_IN_FB");
    expect_refused(S "messageFormat=", S "messageFormat", NULL);
}

static void test_partitioner_choices(void) {
    static const struct {
        const char *v;
        int kind;
    } ok[] = {
        {"random", KIN_PART_RANDOM}, {"RANDOM", KIN_PART_RANDOM}, {"Random", KIN_PART_RANDOM},
        {"fixed", KIN_PART_FIXED},   {"FIXED", KIN_PART_FIXED},   {"fiXed", KIN_PART_FIXED},
        {"key", KIN_PART_KEY},       {"KEY", KIN_PART_KEY},       {"", KIN_PART_DEFAULT},
    };
    run_t r;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n", ok[i].v);
        run(&r, text);
        CU_ASSERT_EQUAL(errs(&r), 0);
        CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, ok[i].kind);
        done(&r);
    }

    /* Flink's custom partitioner is a Java class: refused, saying why. */
    expect_refused(S "sink.partitioner=org.mycompany.MyPartitioner", S "sink.partitioner:",
                   "Java partitioner class");
    expect_refused(S "sink.partitioner=randon", S "sink.partitioner:", "did you mean 'random'");
    expect_refused(S "sink.partitioner=fixd", S "sink.partitioner:", "did you mean 'fixed'");
    expect_refused(S "sink.partitioner=row-based", S "sink.partitioner:",
                   "expected random, fixed, key");

    /* PARTITION BY fields exclude a partitioner (Flink: a configuration error). */
    run(&r, REGION S "sink.partitioner=key\n" S "sink.partitioner.fields=a,b\n");
    CU_ASSERT(r.errs > 0);
    CU_ASSERT(error_with(r.conf, S "sink.partitioner:", "cannot be combined with"));
    CU_ASSERT(error_with(r.conf, "cannot be combined with", S "sink.partitioner.fields"));
    done(&r);
    run(&r, REGION SYS "sink.partitioner=random\n" S "sink.partitioner.fields=a\n");
    CU_ASSERT(error_with(r.conf, SYS "sink.partitioner:", "cannot be combined with"));
    done(&r);

    /* Fields alone: the fields partitioner, items trimmed. */
    run(&r, REGION S "sink.partitioner.fields= a , b.c ,\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_FIELDS);
    CU_ASSERT_EQUAL_FATAL(r.kc.sink.fields.cnt, 2);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.fields.items[0], "a");
    CU_ASSERT_STRING_EQUAL(r.kc.sink.fields.items[1], "b.c");
    done(&r);
    run(&r, REGION S "sink.partitioner.fields=\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_DEFAULT);
    done(&r);

    /* A library that is not there. */
    expect_refused(S "sink.partitioner=/nowhere/libpart.so", S "sink.partitioner:",
                   "cannot load partitioner library '/nowhere/libpart.so'");
    expect_refused(S "sink.partitioner=libnowhere-part.so", S "sink.partitioner:",
                   "cannot load partitioner library");
    expect_refused(S "sink.partitioner=./part.so.1", S "sink.partitioner:",
                   "cannot load partitioner library");
}

static void test_bounds(void) {
    static const char *const ok[] = {
        S "sink.batch.max-size=1",           S "sink.batch.max-size=500",
        S "sink.requests.max-inflight=1",    S "sink.requests.max-buffered=1",
        S "sink.flush-buffer.size=1",        S "sink.flush-buffer.size=5M",
        S "sink.flush-buffer.timeout=0",     S "sink.flush-buffer.timeout=3s",
        S "sink.aggregation.max-size=64",    S "sink.aggregation.max-size=1048576",
        S "sink.aggregation.max-count=1",    S "sink.aggregation.max-count=4294967295",
        S "sink.aggregation.max-size=1M",    S "sink.retry.maxretries=0",
        NULL,
    };
    static const char *const bad[][2] = {
        {S "sink.batch.max-size=501", S "sink.batch.max-size:"},
        {S "sink.batch.max-size=0", S "sink.batch.max-size:"},
        {S "sink.batch.max-size=ten", S "sink.batch.max-size:"},
        {S "sink.producer.collection-max-count=501", S "sink.producer.collection-max-count:"},
        {S "sink.requests.max-inflight=0", S "sink.requests.max-inflight:"},
        {S "sink.requests.max-buffered=0", S "sink.requests.max-buffered:"},
        {S "sink.flush-buffer.size=0", S "sink.flush-buffer.size:"},
        {S "sink.flush-buffer.timeout=-1", S "sink.flush-buffer.timeout:"},
        {S "sink.fail-on-error=perhaps", S "sink.fail-on-error:"},
        {S "sink.aggregation.max-size=1048577", S "sink.aggregation.max-size:"},
        {S "sink.aggregation.max-size=2M", S "sink.aggregation.max-size:"},
        {S "sink.aggregation.max-size=63", S "sink.aggregation.max-size:"},
        {S "sink.producer.aggregation-max-size=2M", S "sink.producer.aggregation-max-size:"},
        {S "sink.aggregation.max-count=0", S "sink.aggregation.max-count:"},
        {S "sink.aggregation.max-count=4294967296", S "sink.aggregation.max-count:"},
        {NULL, NULL},
    };
    run_t r;

    for (int i = 0; ok[i]; i++)
        expect_accepted(ok[i]);
    for (int i = 0; bad[i][0]; i++)
        expect_refused(bad[i][0], bad[i][1], NULL);

    /* Above 1 MiB with aggregation on as well. */
    run(&r, REGION S "sink.aggregation.enabled=true\n" S "sink.aggregation.max-size=1048577\n");
    CU_ASSERT(r.errs > 0);
    CU_ASSERT(error_with(r.conf, S "sink.aggregation.max-size:", NULL));
    CU_ASSERT(r.kc.sink.agg_max_size <= 1048576);
    done(&r);

    /* The retry backoff: the cap below the base is an error at the cap. */
    run(&r, REGION S "sink.retry.backoff.base=2s\n" S "sink.retry.backoff.max=1s\n");
    CU_ASSERT(error_with(r.conf, S "sink.retry.backoff.max:", "sink.retry.backoff.base"));
    done(&r);
    /* Only the base set above the default cap: the cap follows it. */
    run(&r, REGION S "sink.retry.backoff.base=10s\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.sink.retry.base_ms, 10000);
    CU_ASSERT_EQUAL(r.kc.sink.retry.max_ms, 10000);
    done(&r);
}

/* ---- partitioners -------------------------------------------------------------------------- */

static char delim_bar[] = "|", delim_none[] = "", ehk_default[] = "kinesis.explicit-hash-key",
            ehk_none[] = "";

static kin_sink_conf_t part_conf(int kind) {
    kin_sink_conf_t sc;
    memset(&sc, 0, sizeof(sc));
    sc.partitioner_e = kind;
    sc.field_delimiter = delim_bar;
    sc.ehk_header = ehk_default;
    return sc;
}

static sl_record_t *rec_of(const char *data, const char *key) {
    sl_record_t *rec = sl_record_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    sl_record_set_data(rec, data, strlen(data));
    if (key)
        sl_record_set_key(rec, key, strlen(key));
    return rec;
}

static int is_hex32(const char *s) {
    if (strlen(s) != 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* Kinesis' pattern of an ExplicitHashKey: 0|([1-9]\d{0,38}). */
static int is_kinesis_hash_key(const char *s) {
    size_t n = strlen(s);
    if (!strcmp(s, "0"))
        return 1;
    if (n < 1 || n > 39 || s[0] < '1' || s[0] > '9')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Runs p on rec and checks the result code, and on success that *keylen is the key's length. */
static sl_err_t part_run(kin_partitioner_t *p, const sl_record_t *rec, sl_partition_t *out,
                         char *errstr, size_t errlen) {
    size_t klen = 9999;
    sl_err_t err;
    memset(out, 'Z', sizeof(*out)); /* what the caller had there before */
    *errstr = '\0';
    err = kin_partitioner_run(p, rec, out, &klen, errstr, errlen);
    if (err == SL_OK) {
        CU_ASSERT_EQUAL(klen, strlen(out->key));
        CU_ASSERT(klen >= 1 && klen <= SL_PARTITION_KEY_MAX);
        CU_ASSERT(strlen(out->hash_key) < SL_HASH_KEY_MAX);
    } else {
        CU_ASSERT(*errstr != '\0');
    }
    return err;
}

static void test_partitioner_random_fixed(void) {
    enum { N = 200 };
    static char keys[N][SL_PARTITION_KEY_MAX + 1];
    kin_sink_conf_t sc = part_conf(KIN_PART_RANDOM);
    char err[256];
    sl_partition_t out;
    kin_partitioner_t *p = kin_partitioner_new(&sc, 3, err, sizeof(err)), *q;
    sl_record_t *rec = rec_of("payload", "the-key");
    int dup = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL_FATAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
        CU_ASSERT(is_hex32(out.key));
        CU_ASSERT(kin_partitioner_last_random(p));
        CU_ASSERT_STRING_EQUAL(out.hash_key, "");
        snprintf(keys[i], sizeof(keys[i]), "%s", out.key);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            dup += !strcmp(keys[i], keys[j]);
    CU_ASSERT_EQUAL(dup, 0);
    /* Another worker's partitioner, made in the same millisecond, starts elsewhere. */
    q = kin_partitioner_new(&sc, 4, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_EQUAL(part_run(q, rec, &out, err, sizeof(err)), SL_OK);
    for (int i = 0; i < N; i++)
        CU_ASSERT_STRING_NOT_EQUAL(out.key, keys[i]);
    kin_partitioner_destroy(q);
    kin_partitioner_destroy(p);

    /* fixed: the worker's index, the same for every record. */
    sc = part_conf(KIN_PART_FIXED);
    for (int w = 0; w < 12; w += 7) {
        char want[16];
        snprintf(want, sizeof(want), "%d", w);
        p = kin_partitioner_new(&sc, w, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        for (int i = 0; i < 3; i++) {
            CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
            CU_ASSERT_STRING_EQUAL(out.key, want);
            CU_ASSERT(!kin_partitioner_last_random(p));
        }
        kin_partitioner_destroy(p);
    }
    sl_record_unref(rec);
    kin_partitioner_destroy(NULL);
}

static void test_partitioner_key_default(void) {
    kin_sink_conf_t sc = part_conf(KIN_PART_DEFAULT);
    char err[256], k256[SL_PARTITION_KEY_MAX + 2];
    sl_partition_t out;
    kin_partitioner_t *p = kin_partitioner_new(&sc, 0, err, sizeof(err)), *pk;
    sl_record_t *keyed = rec_of("x", "user-1"), *unkeyed = rec_of("x", NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    /* default: the record key when there is one ... */
    CU_ASSERT_EQUAL(part_run(p, keyed, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.key, "user-1");
    CU_ASSERT(!kin_partitioner_last_random(p));
    /* ... random otherwise */
    CU_ASSERT_EQUAL(part_run(p, unkeyed, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT(is_hex32(out.key));
    CU_ASSERT(kin_partitioner_last_random(p));
    CU_ASSERT_EQUAL(part_run(p, keyed, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT(!kin_partitioner_last_random(p));

    /* key: a record without one is an error saying so. */
    sc = part_conf(KIN_PART_KEY);
    pk = kin_partitioner_new(&sc, 0, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(pk);
    CU_ASSERT_EQUAL(part_run(pk, keyed, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.key, "user-1");
    CU_ASSERT_EQUAL(part_run(pk, unkeyed, &out, err, sizeof(err)), SL_ERR_RECORD);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no key"));

    /* The key's limits: 1 to 256 bytes, no NUL; both kinds. */
    memset(k256, 'k', sizeof(k256));
    sl_record_set_key(keyed, k256, 256);
    CU_ASSERT_EQUAL(part_run(p, keyed, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(strlen(out.key), 256);
    CU_ASSERT_EQUAL(part_run(pk, keyed, &out, err, sizeof(err)), SL_OK);
    sl_record_set_key(keyed, k256, 257);
    CU_ASSERT_EQUAL(part_run(p, keyed, &out, err, sizeof(err)), SL_ERR_RECORD);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "257 bytes"));
    CU_ASSERT_EQUAL(part_run(pk, keyed, &out, err, sizeof(err)), SL_ERR_RECORD);
    sl_record_set_key(keyed, "a\0b", 3);
    CU_ASSERT_EQUAL(part_run(p, keyed, &out, err, sizeof(err)), SL_ERR_RECORD);
    sl_record_set_key(keyed, "", 0);
    CU_ASSERT_EQUAL(part_run(pk, keyed, &out, err, sizeof(err)), SL_ERR_RECORD);
    /* Multi-byte characters are kept as they are. */
    sl_record_set_key(keyed, "cl\xc3\xa9-\xe2\x82\xac", 8);
    CU_ASSERT_EQUAL(part_run(p, keyed, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.key, "cl\xc3\xa9-\xe2\x82\xac");

    kin_partitioner_destroy(pk);
    kin_partitioner_destroy(p);
    sl_record_unref(keyed);
    sl_record_unref(unkeyed);
}

/* The key the fields partitioner makes of payload, or NULL (err filled) when it refuses. */
static const char *fields_key_of(const char *payload, const char *const *fields, int n,
                                 char *delim, sl_partition_t *out, char *err, size_t errlen) {
    kin_sink_conf_t sc = part_conf(KIN_PART_FIELDS);
    char *items[8];
    kin_partitioner_t *p;
    sl_record_t *rec = rec_of(payload, "record-key");
    sl_err_t rc;

    for (int i = 0; i < n; i++)
        items[i] = (char *)fields[i];
    sc.fields.cnt = n;
    sc.fields.items = items;
    sc.field_delimiter = delim;
    p = kin_partitioner_new(&sc, 0, err, errlen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    rc = part_run(p, rec, out, err, errlen);
    CU_ASSERT(!kin_partitioner_last_random(p));
    kin_partitioner_destroy(p);
    sl_record_unref(rec);
    CU_ASSERT(rc == SL_OK || rc == SL_ERR_RECORD);
    return rc == SL_OK ? out->key : NULL;
}

static void test_partitioner_fields(void) {
    static const char *const abn[] = {"a", "b.c", "n"};
    static const char *const one_missing[] = {"missing"};
    static const char *const two[] = {"a", "z"};
    static const char *const kinds[] = {"t", "f", "num", "obj", "arr", "dotted.name"};
    const char *doc = "{\"a\":\"x\",\"b\":{\"c\":5},\"n\":null}";
    char err[256], big[400];
    sl_partition_t out;
    const char *k;

    /* Strings as they are, other values as JSON text, null and missing as "". */
    k = fields_key_of(doc, abn, 3, delim_bar, &out, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k)
        CU_ASSERT_STRING_EQUAL(k, "x|5|");
    k = fields_key_of(doc, abn, 3, delim_none, &out, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k)
        CU_ASSERT_STRING_EQUAL(k, "x5");
    k = fields_key_of("{\"t\":true,\"f\":false,\"num\":-1.5,\"obj\":{\"y\":[1,\"q\"]},"
                      "\"arr\":[1,2],\"dotted.name\":\"D\",\"dotted\":{\"name\":\"E\"}}",
                      kinds, 6, delim_bar, &out, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k)
        CU_ASSERT_STRING_EQUAL(k, "true|false|-1.5|{\"y\":[1,\"q\"]}|[1,2]|D");
    /* A string with an escape is its value. */
    k = fields_key_of("{\"a\":\"\\u00e9\\\"\",\"z\":\"\"}", two, 2, delim_bar, &out, err,
                      sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k)
        CU_ASSERT_STRING_EQUAL(k, "\xc3\xa9\"|");

    /* Nothing at all: Kinesis needs one character, the delimiter stands in (or '-'). */
    k = fields_key_of(doc, one_missing, 1, delim_bar, &out, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k)
        CU_ASSERT_STRING_EQUAL(k, "|");
    k = fields_key_of(doc, one_missing, 1, delim_none, &out, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k)
        CU_ASSERT_STRING_EQUAL(k, "-");
    /* A payload that is JSON but no object: every field is missing. */
    k = fields_key_of("[1,2,3]", two, 2, delim_bar, &out, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k)
        CU_ASSERT_STRING_EQUAL(k, "|");

    /* Not JSON: the record cannot be partitioned, and the error says why. */
    CU_ASSERT_PTR_NULL(fields_key_of("not json", abn, 3, delim_bar, &out, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "JSON payload"));
    CU_ASSERT_PTR_NULL(fields_key_of("", abn, 3, delim_bar, &out, err, sizeof(err)));
    CU_ASSERT_PTR_NULL(fields_key_of("{\"a\":", abn, 3, delim_bar, &out, err, sizeof(err)));

    /* Longer than 256 bytes: refused; exactly 256: kept. */
    memset(big, 0, sizeof(big));
    memcpy(big, "{\"a\":\"", 6);
    memset(big + 6, 'v', 254);
    memcpy(big + 6 + 254, "\",\"z\":\"w\"}", 10);
    k = fields_key_of(big, two, 2, delim_bar, &out, err, sizeof(err)); /* 254 + 1 + 1 */
    CU_ASSERT_PTR_NOT_NULL(k);
    if (k)
        CU_ASSERT_EQUAL(strlen(k), 256);
    memset(big + 6, 'v', 255);
    memcpy(big + 6 + 255, "\",\"z\":\"w\"}", 10);
    CU_ASSERT_PTR_NULL(fields_key_of(big, two, 2, delim_bar, &out, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "256"));
}

static void test_partitioner_hash_key(void) {
    static const char *const good[] = {
        "0", "12345", "340282366920938463463374607431768211455", /* 2^128 - 1 */
    };
    static const char *const bad[] = {
        "340282366920938463463374607431768211456", /* 2^128 */
        "999999999999999999999999999999999999999", "1234567890123456789012345678901234567890",
        "12x", "-5", " 5", "5 ", "0x10", "1e3",
    };
    /* Not in Kinesis' form 0|([1-9]\d{0,38}): refused, or sent in that form. */
    static const char *const odd[] = {"+5", "-0", "007", "00"};
    kin_sink_conf_t sc = part_conf(KIN_PART_DEFAULT);
    char err[256];
    sl_partition_t out;
    kin_partitioner_t *p = kin_partitioner_new(&sc, 0, err, sizeof(err));
    sl_record_t *rec = rec_of("x", "user-1");

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.hash_key, "");
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        sl_record_set_header(rec, "kinesis.explicit-hash-key", good[i]);
        CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
        CU_ASSERT_STRING_EQUAL(out.key, "user-1");
        CU_ASSERT_STRING_EQUAL(out.hash_key, good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_record_set_header(rec, "kinesis.explicit-hash-key", bad[i]);
        CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_ERR_RECORD);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "2^128"));
    }
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        sl_err_t rc;
        sl_record_set_header(rec, "kinesis.explicit-hash-key", odd[i]);
        rc = part_run(p, rec, &out, err, sizeof(err));
        if (rc == SL_OK && !is_kinesis_hash_key(out.hash_key))
            fprintf(stderr, "  header '%s' gave ExplicitHashKey '%s', which Kinesis refuses\n",
                    odd[i], out.hash_key);
        CU_ASSERT(rc == SL_ERR_RECORD || (rc == SL_OK && is_kinesis_hash_key(out.hash_key)));
    }
    /* An empty header: no explicit hash key. */
    sl_record_set_header(rec, "kinesis.explicit-hash-key", "");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.hash_key, "");
    kin_partitioner_destroy(p);

    /* With every kind of partitioner. */
    sl_record_set_header(rec, "kinesis.explicit-hash-key", "77");
    for (int kind = KIN_PART_DEFAULT; kind <= KIN_PART_KEY; kind++) {
        sc = part_conf(kind);
        p = kin_partitioner_new(&sc, 1, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
        CU_ASSERT_STRING_EQUAL(out.hash_key, "77");
        kin_partitioner_destroy(p);
    }

    /* Turned off ("" header name): the header is not looked at, bad or not. */
    sc = part_conf(KIN_PART_DEFAULT);
    sc.ehk_header = ehk_none;
    p = kin_partitioner_new(&sc, 0, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.hash_key, "");
    sl_record_set_header(rec, "kinesis.explicit-hash-key", "not a number");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.hash_key, "");
    kin_partitioner_destroy(p);

    /* Another header name, from the configuration. */
    {
        run_t r;
        run(&r, REGION S "sink.explicit-hash-key.header=my.ehk\n");
        CU_ASSERT_EQUAL(errs(&r), 0);
        p = kin_partitioner_new(&r.kc.sink, 0, err, sizeof(err));
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        sl_record_set_header(rec, "my.ehk", "99");
        CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
        CU_ASSERT_STRING_EQUAL(out.hash_key, "99");
        kin_partitioner_destroy(p);
        done(&r);
        run(&r, REGION S "sink.explicit-hash-key.header=\n");
        CU_ASSERT_EQUAL(errs(&r), 0);
        CU_ASSERT_STRING_EQUAL(r.kc.sink.ehk_header, "");
        done(&r);
    }
    sl_record_unref(rec);
}

/* ---- a C partitioner in a shared library, compiled here ------------------------------------ */

/* The library: its counters are read through dlsym; "mode" headers choose misbehaviours. */
static const char part_lib_src[] =
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "#include \"sluice/partitioner.h\"\n"
    "int part_opens, part_closes, part_calls, part_last_worker = -100;\n"
    "char part_last_arg[128];\n"
    "typedef struct st { int worker; char pfx[64]; } st_t;\n"
    "static sl_err_t p_open(const char *arg, int worker, void **statep, char *errstr,\n"
    "                       size_t errlen) {\n"
    "    st_t *st;\n"
    "    if (!strcmp(arg, \"refuse\") || (!strcmp(arg, \"refuse-5\") && worker == 5)) {\n"
    "        snprintf(errstr, errlen, \"will not work with '%s'\", arg);\n"
    "        return SL_ERR_INVAL;\n"
    "    }\n"
    "    if (!strcmp(arg, \"mute\"))\n"
    "        return SL_ERR_INVAL;\n"
    "    if (!(st = calloc(1, sizeof(*st))))\n"
    "        return SL_ERR_NOMEM;\n"
    "    st->worker = worker;\n"
    "    snprintf(st->pfx, sizeof(st->pfx), \"%s\", arg);\n"
    "    snprintf(part_last_arg, sizeof(part_last_arg), \"%s\", arg);\n"
    "    part_opens++;\n"
    "    part_last_worker = worker;\n"
    "    *statep = st;\n"
    "    return SL_OK;\n"
    "}\n"
    "static sl_err_t p_partition(void *state, const sl_record_t *rec, sl_partition_t *out,\n"
    "                            char *errstr, size_t errlen) {\n"
    "    const st_t *st = state;\n"
    "    const char *mode = sl_record_header(rec, \"mode\"), *key;\n"
    "    size_t klen = 0;\n"
    "    part_calls++;\n"
    "    if (out->key[0] || out->hash_key[0])\n"
    "        return SL_ERR_STATE; /* out must arrive zeroed */\n"
    "    if (!mode)\n"
    "        mode = \"\";\n"
    "    if (!strcmp(mode, \"fail\")) {\n"
    "        snprintf(errstr, errlen, \"told to fail\");\n"
    "        return SL_ERR_RECORD;\n"
    "    }\n"
    "    if (!strcmp(mode, \"silent\"))\n"
    "        return SL_ERR_RECORD;\n"
    "    if (!strcmp(mode, \"empty\"))\n"
    "        return SL_OK;\n"
    "    if (!strcmp(mode, \"longkey\")) {\n"
    "        memset(out->key, 'L', sizeof(out->key));\n"
    "        return SL_OK;\n"
    "    }\n"
    "    if (!strcmp(mode, \"longhash\"))\n"
    "        memset(out->hash_key, '9', sizeof(out->hash_key));\n"
    "    if (!strcmp(mode, \"hash\"))\n"
    "        snprintf(out->hash_key, sizeof(out->hash_key), \"42\");\n"
    "    if (!strcmp(mode, \"badhash\"))\n"
    "        snprintf(out->hash_key, sizeof(out->hash_key), \"4x2\");\n"
    "    key = sl_record_key(rec, &klen);\n"
    "    snprintf(out->key, sizeof(out->key), \"%s-w%d-%.*s\", st ? st->pfx : \"nostate\",\n"
    "             st ? st->worker : -1, (int)klen, key ? key : \"\");\n"
    "    return SL_OK;\n"
    "}\n"
    "static void p_close(void *state) {\n"
    "    part_closes++;\n"
    "    free(state);\n"
    "}\n"
    "const sl_partitioner_plugin_t sluice_partitioner = {SL_PARTITIONER_ABI_VERSION,\n"
    "    \"testpart\", p_open, p_partition, p_close};\n"
    "const sl_partitioner_plugin_t minimal = {SL_PARTITIONER_ABI_VERSION, NULL, NULL,\n"
    "    p_partition, NULL};\n"
    "const sl_partitioner_plugin_t old_abi = {SL_PARTITIONER_ABI_VERSION + 98, \"old\",\n"
    "    p_open, p_partition, p_close};\n"
    "const sl_partitioner_plugin_t no_partition = {SL_PARTITIONER_ABI_VERSION, \"nopart\",\n"
    "    p_open, NULL, p_close};\n";

/* The include directory of the source tree: $top_srcdir/include, else the one beside this file
 * (__FILE__ is absolute in out-of-tree builds, relative to the build directory in-tree). */
static int find_include(char *buf, size_t len) {
    const char *top = getenv("top_srcdir");
    const char *f = __FILE__, *tail = strstr(f, "tests/unit/test_kinesis_sink.c");
    char probe[1200];
    if (top && *top) {
        snprintf(buf, len, "%s/include", top);
        snprintf(probe, sizeof(probe), "%s/sluice/partitioner.h", buf);
        if (access(probe, R_OK) == 0)
            return 1;
    }
    if (!tail)
        return 0;
    snprintf(buf, len, "%.*sinclude", (int)(tail - f), f);
    snprintf(probe, sizeof(probe), "%s/sluice/partitioner.h", buf);
    return access(probe, R_OK) == 0;
}

typedef struct partlib {
    char dir[512], so[600];
    void *dl; /* our own handle: keeps the library (and its counters) loaded */
    int *opens, *closes, *calls, *last_worker;
    char *last_arg;
} partlib_t;

/* Builds the library into a fresh directory: 1, 0 when it cannot be built here (skip). */
static int partlib_build(partlib_t *L) {
    char inc[512], src[600], cmd[2400];
    FILE *fp;
    memset(L, 0, sizeof(*L));
    if (system("command -v cc >/dev/null 2>&1") != 0) {
        printf("\n    note: no cc on PATH, custom partitioner library not tested ");
        return 0;
    }
    if (!find_include(inc, sizeof(inc))) {
        printf("\n    note: the source tree's include/ not found (set top_srcdir), custom "
               "partitioner library not tested ");
        return 0;
    }
    snprintf(L->dir, sizeof(L->dir), "%s", unit_tmpdir());
    snprintf(src, sizeof(src), "%s/testpart.c", L->dir);
    snprintf(L->so, sizeof(L->so), "%s/libtestpart.so", L->dir);
    fp = fopen(src, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(part_lib_src, fp);
    fclose(fp);
    snprintf(cmd, sizeof(cmd), "cc -shared -fPIC -Wall -o '%s' '%s' -I'%s' 2>'%s/cc.log'", L->so,
             src, inc, L->dir);
    if (system(cmd) != 0) {
        char log[2048] = "";
        snprintf(src, sizeof(src), "%s/cc.log", L->dir);
        if ((fp = fopen(src, "r"))) {
            size_t n = fread(log, 1, sizeof(log) - 1, fp);
            log[n] = '\0';
            fclose(fp);
        }
        fprintf(stderr, "  %s\n%s\n", cmd, log);
        CU_FAIL("the test partitioner library does not compile");
        return 0;
    }
    L->dl = dlopen(L->so, RTLD_NOW | RTLD_LOCAL);
    if (!L->dl)
        fprintf(stderr, "  dlopen %s: %s\n", L->so, dlerror());
    CU_ASSERT_PTR_NOT_NULL_FATAL(L->dl);
    L->opens = dlsym(L->dl, "part_opens");
    L->closes = dlsym(L->dl, "part_closes");
    L->calls = dlsym(L->dl, "part_calls");
    L->last_worker = dlsym(L->dl, "part_last_worker");
    L->last_arg = dlsym(L->dl, "part_last_arg");
    CU_ASSERT_FATAL(L->opens && L->closes && L->calls && L->last_worker && L->last_arg);
    return 1;
}

static void partlib_free(partlib_t *L) {
    char path[700];
    if (L->dl)
        dlclose(L->dl);
    if (!*L->dir)
        return;
    unlink(L->so);
    snprintf(path, sizeof(path), "%s/testpart.c", L->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/cc.log", L->dir);
    unlink(path);
    rmdir(L->dir);
}

/* Configuration time: the library is loaded, its symbol and ABI checked, open() run once with
 * worker -1 and closed again; every problem is an error at sink.partitioner. */
static void test_custom_partitioner_conf(void) {
    partlib_t L;
    run_t r;
    char text[2048], name[700];

    if (!partlib_build(&L)) {
        CU_PASS("custom partitioner library not built here");
        partlib_free(&L);
        return;
    }
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n" S "sink.partitioner.arg=pre\n",
             L.so);
    run(&r, text);
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_CUSTOM);
    CU_ASSERT_EQUAL(*L.opens, 1);
    CU_ASSERT_EQUAL(*L.closes, 1);
    CU_ASSERT_EQUAL(*L.last_worker, -1);
    CU_ASSERT_STRING_EQUAL(L.last_arg, "pre");
    CU_ASSERT_EQUAL(*L.calls, 0);
    done(&r);

    /* A relative name is looked up beside the job file, and that path is kept. */
    snprintf(name, sizeof(name), "%s/job.properties", L.dir);
    run_named(&r, name, REGION S "sink.partitioner=libtestpart.so\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_CUSTOM);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.partitioner, L.so);
    done(&r);

    /* open() refusing the argument, with and without a reason. */
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n" S "sink.partitioner.arg=refuse\n",
             L.so);
    run(&r, text);
    CU_ASSERT(error_with(r.conf, S "sink.partitioner:",
                         "partitioner 'testpart' refused sink.partitioner.arg: will not work "
                         "with 'refuse'"));
    done(&r);
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n" S "sink.partitioner.arg=mute\n",
             L.so);
    run(&r, text);
    CU_ASSERT(error_with(r.conf, S "sink.partitioner:", "no reason given"));
    done(&r);

    /* Symbol missing, another ABI, no partition callback. */
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n" S "sink.partitioner.symbol=nope\n",
             L.so);
    run(&r, text);
    CU_ASSERT(error_with(r.conf, S "sink.partitioner:", "exports no symbol 'nope'"));
    done(&r);
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n"
                                          S "sink.partitioner.symbol=old_abi\n", L.so);
    run(&r, text);
    CU_ASSERT(error_with(r.conf, S "sink.partitioner:", "built for ABI version 99"));
    CU_ASSERT(error_with(r.conf, "ABI version 99", "this sluice has 1"));
    done(&r);
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n"
                                          S "sink.partitioner.symbol=no_partition\n", L.so);
    run(&r, text);
    CU_ASSERT(error_with(r.conf, S "sink.partitioner:", "has no partition callback"));
    done(&r);

    /* A library together with fields. */
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n" S "sink.partitioner.fields=a\n",
             L.so);
    run(&r, text);
    CU_ASSERT(error_with(r.conf, S "sink.partitioner:", "cannot be combined with"));
    done(&r);

    /* Not a shared library at all. */
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s/testpart.c.so\n", L.dir);
    {
        char junk[700];
        FILE *fp;
        snprintf(junk, sizeof(junk), "%s/testpart.c.so", L.dir);
        fp = fopen(junk, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
        fputs("not an ELF file\n", fp);
        fclose(fp);
        run(&r, text);
        CU_ASSERT(error_with(r.conf, S "sink.partitioner:", "cannot load partitioner library"));
        done(&r);
        unlink(junk);
    }
    partlib_free(&L);
}

/* Run time: one instance per worker, open(worker), partition per record, close on destroy. */
static void test_custom_partitioner_run(void) {
    partlib_t L;
    run_t r;
    char text[2048], err[256];
    sl_partition_t out;
    kin_partitioner_t *p;
    sl_record_t *rec;
    int opens, closes;

    if (!partlib_build(&L)) {
        CU_PASS("custom partitioner library not built here");
        partlib_free(&L);
        return;
    }
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n" S "sink.partitioner.arg=pre\n",
             L.so);
    run(&r, text);
    CU_ASSERT_EQUAL_FATAL(errs(&r), 0);
    opens = *L.opens;
    closes = *L.closes;

    p = kin_partitioner_new(&r.kc.sink, 2, err, sizeof(err));
    if (!p)
        fprintf(stderr, "  kin_partitioner_new: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(*L.opens, opens + 1);
    CU_ASSERT_EQUAL(*L.last_worker, 2);
    rec = rec_of("payload", "user-1");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.key, "pre-w2-user-1");
    CU_ASSERT_STRING_EQUAL(out.hash_key, "");
    CU_ASSERT(!kin_partitioner_last_random(p));
    CU_ASSERT_EQUAL(*L.calls, 1);

    /* Its own hash key, checked; the record's header wins over it. */
    sl_record_set_header(rec, "mode", "hash");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.hash_key, "42");
    sl_record_set_header(rec, "kinesis.explicit-hash-key", "7");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.hash_key, "7");
    sl_record_set_header(rec, "kinesis.explicit-hash-key", NULL);
    sl_record_set_header(rec, "mode", "badhash");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_ERR_RECORD);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "4x2"));
    /* Buffers filled to the end without a NUL are cut, not overrun. */
    sl_record_set_header(rec, "mode", "longhash");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_ERR_RECORD);
    sl_record_set_header(rec, "mode", "longkey");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(strlen(out.key), SL_PARTITION_KEY_MAX);

    /* Failures: its own message, a made-up one, an empty key. */
    sl_record_set_header(rec, "mode", "fail");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_ERR_RECORD);
    CU_ASSERT_STRING_EQUAL(err, "told to fail");
    sl_record_set_header(rec, "mode", "silent");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_ERR_RECORD);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "partitioner 'testpart' failed"));
    sl_record_set_header(rec, "mode", "empty");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_ERR_RECORD);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "empty partition key"));
    /* out arrives zeroed, whatever the caller had in it (the library checks). */
    sl_record_set_header(rec, "mode", NULL);
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);

    CU_ASSERT_EQUAL(*L.closes, closes);
    kin_partitioner_destroy(p);
    CU_ASSERT_EQUAL(*L.closes, closes + 1);
    done(&r);

    /* A worker whose open() fails: no instance, the reason, no close. */
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n"
                                          S "sink.partitioner.arg=refuse-5\n", L.so);
    run(&r, text);
    CU_ASSERT_EQUAL(errs(&r), 0); /* worker -1 accepts it */
    closes = *L.closes;
    p = kin_partitioner_new(&r.kc.sink, 5, err, sizeof(err));
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "partitioner 'testpart' failed to open: will not work "
                                       "with 'refuse-5'"));
    CU_ASSERT_EQUAL(*L.closes, closes);
    p = kin_partitioner_new(&r.kc.sink, 4, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(p);
    kin_partitioner_destroy(p);
    CU_ASSERT_EQUAL(*L.closes, closes + 1);
    done(&r);

    /* Without open and close: a NULL state. */
    snprintf(text, sizeof(text), REGION S "sink.partitioner=%s\n"
                                          S "sink.partitioner.symbol=minimal\n", L.so);
    run(&r, text);
    CU_ASSERT_EQUAL(errs(&r), 0);
    p = kin_partitioner_new(&r.kc.sink, 1, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.key, "nostate-w-1-user-1");
    sl_record_set_header(rec, "mode", "silent");
    CU_ASSERT_EQUAL(part_run(p, rec, &out, err, sizeof(err)), SL_ERR_RECORD);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "partitioner 'custom' failed"));
    kin_partitioner_destroy(p);
    done(&r);

    /* A bare file name with the job file in the current directory (`sluice run job.properties`
     * beside libtestpart.so): what the check loaded, a worker loads too. */
    {
        char cwd[1024];
        CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
        CU_ASSERT_EQUAL_FATAL(chdir(L.dir), 0);
        run_named(&r, "job.properties", REGION S "sink.partitioner=libtestpart.so\n");
        CU_ASSERT_EQUAL(errs(&r), 0);
        p = r.errs ? NULL : kin_partitioner_new(&r.kc.sink, 0, err, sizeof(err));
        if (!r.errs && !p)
            fprintf(stderr, "  checked, but a worker cannot load it: %s\n", err);
        CU_ASSERT(r.errs || p);
        kin_partitioner_destroy(p);
        done(&r);
        CU_ASSERT_EQUAL_FATAL(chdir(cwd), 0);
    }

    /* The library gone between configuration and start. */
    {
        kin_sink_conf_t sc = part_conf(KIN_PART_CUSTOM);
        char missing[700];
        snprintf(missing, sizeof(missing), "%s/gone.so", L.dir);
        sc.partitioner = missing;
        p = kin_partitioner_new(&sc, 0, err, sizeof(err));
        CU_ASSERT_PTR_NULL(p);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot load partitioner"));
    }
    sl_record_unref(rec);
    partlib_free(&L);
}

/* ---- PutRecords answers -------------------------------------------------------------------- */

#define NMAX 4

typedef struct pr_out {
    sl_err_t rc;
    char codes[NMAX][KIN_CODE_MAX];
    char shards[NMAX][KIN_SHARD_ID_MAX];
    size_t failed;
    char err[256];
} pr_out_t;

/* Parses body as an answer to n entries from an exact-size heap copy (no NUL after it), with
 * kin_parse_put_records; checks that the scanner, when it vouches for the answer, agrees with
 * the strict reader field for field, and that the strict reader's verdict is the result. */
static sl_err_t parse_pr(const char *body, size_t n, int want_shards, pr_out_t *o) {
    size_t len = strlen(body);
    char *copy = malloc(len ? len : 1);
    pr_out_t strict, scan;
    int sc;

    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    memcpy(copy, body, len);
    memset(o, 0x55, sizeof(*o));
    o->err[0] = '\0';
    o->rc = kin_parse_put_records(copy, len, n, o->codes, want_shards ? o->shards : NULL,
                                  &o->failed, o->err, sizeof(o->err));
    memset(&strict, 0x55, sizeof(strict));
    strict.err[0] = '\0';
    strict.rc = kin_parse_put_records_json(copy, len, n, strict.codes,
                                           want_shards ? strict.shards : NULL, &strict.failed,
                                           strict.err, sizeof(strict.err));
    memset(&scan, 0x55, sizeof(scan));
    sc = kin_scan_put_records(copy, len, n, scan.codes, want_shards ? scan.shards : NULL,
                              &scan.failed);
    CU_ASSERT(sc == 0 || sc == 1);
    CU_ASSERT_EQUAL(o->rc, strict.rc);
    if (o->rc != SL_OK)
        CU_ASSERT_STRING_EQUAL(o->err, strict.err);
    if (sc == 0) {
        if (strict.rc != SL_OK)
            fprintf(stderr, "  the scanner took an answer the reader refuses (%s): %s\n",
                    strict.err, body);
        CU_ASSERT_EQUAL(strict.rc, SL_OK);
        for (size_t i = 0; i < n && strict.rc == SL_OK; i++) {
            int same = scan.failed == strict.failed && !strcmp(scan.codes[i], strict.codes[i]) &&
                       (!want_shards || scan.codes[i][0] ||
                        !strcmp(scan.shards[i], strict.shards[i]));
            if (!same)
                fprintf(stderr, "  scanner and reader differ on result %zu (code '%s' / '%s', "
                        "failed %zu / %zu): %s\n", i, scan.codes[i], strict.codes[i],
                        scan.failed, strict.failed, body);
            CU_ASSERT(same);
        }
    }
    if (o->rc == SL_OK && strict.rc == SL_OK) {
        CU_ASSERT_EQUAL(o->failed, strict.failed);
        for (size_t i = 0; i < n; i++) {
            CU_ASSERT_STRING_EQUAL(o->codes[i], strict.codes[i]);
            if (want_shards && !o->codes[i][0])
                CU_ASSERT_STRING_EQUAL(o->shards[i], strict.shards[i]);
        }
    } else if (o->rc != SL_OK) {
        CU_ASSERT(o->err[0] != '\0');
    }
    free(copy);
    return o->rc;
}

static void test_put_records_ok(void) {
    pr_out_t o;
    const char *ok = "{\"FailedRecordCount\":0,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":"
                     "\"shardId-000000000000\"},{\"SequenceNumber\":\"2\",\"ShardId\":"
                     "\"shardId-000000000001\"},{\"SequenceNumber\":\"3\",\"ShardId\":"
                     "\"shardId-000000000000\"}]}";
    /* As Kinesis (and LocalStack) write it: spaces, EncryptionType, keys in any order. */
    const char *spaced = " {\n  \"EncryptionType\" : \"KMS\",\n  \"Records\" : [ {\n"
                         "    \"ShardId\" : \"shardId-7\", \"SequenceNumber\" : \"4960\" } ],\n"
                         "  \"FailedRecordCount\" : 0\n}\n";
    /* An escape in a kept string: the strict reader decides, with the same result. */
    const char *escaped = "{\"FailedRecordCount\":0,\"Records\":[{\"SequenceNumber\":\"1\","
                          "\"ShardId\":\"s\\u0030\"}]}";

    CU_ASSERT_EQUAL(parse_pr(ok, 3, 1, &o), SL_OK);
    CU_ASSERT_EQUAL(o.failed, 0);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(o.codes[i], "");
    CU_ASSERT_STRING_EQUAL(o.shards[0], "shardId-000000000000");
    CU_ASSERT_STRING_EQUAL(o.shards[1], "shardId-000000000001");
    CU_ASSERT_STRING_EQUAL(o.shards[2], "shardId-000000000000");
    CU_ASSERT_EQUAL(kin_scan_put_records(ok, strlen(ok), 3, o.codes, o.shards, &o.failed), 0);

    CU_ASSERT_EQUAL(parse_pr(spaced, 1, 1, &o), SL_OK);
    CU_ASSERT_STRING_EQUAL(o.codes[0], "");
    CU_ASSERT_STRING_EQUAL(o.shards[0], "shardId-7");
    CU_ASSERT_EQUAL(parse_pr(escaped, 1, 1, &o), SL_OK);
    CU_ASSERT_STRING_EQUAL(o.shards[0], "s0");

    /* Without shards asked for, ShardId may be missing. */
    CU_ASSERT_EQUAL(parse_pr("{\"Records\":[{\"SequenceNumber\":\"1\"}]}", 1, 0, &o), SL_OK);
    CU_ASSERT_EQUAL(o.failed, 0);
    /* No entries, no results. */
    CU_ASSERT_EQUAL(parse_pr("{\"FailedRecordCount\":0,\"Records\":[]}", 0, 1, &o), SL_OK);
    CU_ASSERT_EQUAL(o.failed, 0);
    /* Only the bytes given count: what follows them is not read. */
    {
        const char *body = "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]}GARBAGE";
        size_t len = strlen(body) - 7;
        CU_ASSERT_EQUAL(kin_parse_put_records(body, len, 1, o.codes, o.shards, &o.failed, o.err,
                                              sizeof(o.err)), SL_OK);
        CU_ASSERT_EQUAL(kin_parse_put_records(body, strlen(body), 1, o.codes, o.shards,
                                              &o.failed, o.err, sizeof(o.err)), SL_ERR_INVAL);
    }
}

static void test_put_records_partial(void) {
    pr_out_t o;
    const char *partial = "{ \"Records\" : [ {\"SequenceNumber\":\"1\",\"ShardId\":\"s0\"},"
                          "{\"ErrorCode\":\"ProvisionedThroughputExceededException\","
                          "\"ErrorMessage\":\"Rate exceeded for shard shardId-0\"},"
                          "{\"SequenceNumber\":\"3\",\"ShardId\":\"s1\",\"ErrorCode\":null,"
                          "\"ErrorMessage\":null},"
                          "{\"ErrorCode\":\"InternalFailure\",\"ErrorMessage\":\"Internal "
                          "service failure \\\"x\\\" \\u00e9\"}],"
                          "\"FailedRecordCount\" : 2, \"EncryptionType\":\"NONE\" }";
    const char *all_failed = "{\"FailedRecordCount\":2,\"Records\":[{\"ErrorCode\":\"KMS."
                             "ThrottlingException\",\"ErrorMessage\":\"m\"},{\"ErrorCode\":"
                             "\"ProvisionedThroughputExceededException\"}]}";
    /* FailedRecordCount is optional; the failures are counted from the results. */
    const char *no_count = "{\"Records\":[{\"ErrorCode\":\"InternalFailure\"},"
                           "{\"SequenceNumber\":\"2\",\"ShardId\":\"s\"}]}";

    CU_ASSERT_EQUAL(parse_pr(partial, 4, 1, &o), SL_OK);
    CU_ASSERT_EQUAL(o.failed, 2);
    CU_ASSERT_STRING_EQUAL(o.codes[0], "");
    CU_ASSERT_STRING_EQUAL(o.shards[0], "s0");
    CU_ASSERT_STRING_EQUAL(o.codes[1], "ProvisionedThroughputExceededException");
    CU_ASSERT_STRING_EQUAL(o.codes[2], ""); /* ErrorCode null: stored */
    CU_ASSERT_STRING_EQUAL(o.shards[2], "s1");
    CU_ASSERT_STRING_EQUAL(o.codes[3], "InternalFailure");

    CU_ASSERT_EQUAL(parse_pr(all_failed, 2, 1, &o), SL_OK);
    CU_ASSERT_EQUAL(o.failed, 2);
    CU_ASSERT_STRING_EQUAL(o.codes[0], "KMS.ThrottlingException");
    CU_ASSERT_STRING_EQUAL(o.codes[1], "ProvisionedThroughputExceededException");

    CU_ASSERT_EQUAL(parse_pr(no_count, 2, 1, &o), SL_OK);
    CU_ASSERT_EQUAL(o.failed, 1);
    CU_ASSERT_STRING_EQUAL(o.codes[0], "InternalFailure");
    CU_ASSERT_STRING_EQUAL(o.codes[1], "");

    /* Both a sequence number and an error code: the error code decides. */
    CU_ASSERT_EQUAL(parse_pr("{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\","
                             "\"ErrorCode\":\"InternalFailure\"}],\"FailedRecordCount\":1}",
                             1, 1, &o), SL_OK);
    CU_ASSERT_EQUAL(o.failed, 1);
    CU_ASSERT_STRING_EQUAL(o.codes[0], "InternalFailure");
}

static void test_put_records_refused(void) {
    static const struct {
        const char *body;
        size_t n;
        const char *why;
    } bad[] = {
        /* FailedRecordCount not what the results say */
        {"{\"FailedRecordCount\":2,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"},"
         "{\"ErrorCode\":\"InternalFailure\"}]}",
         2, "FailedRecordCount 2, but 1 results carry an ErrorCode"},
        {"{\"FailedRecordCount\":0,\"Records\":[{\"ErrorCode\":\"InternalFailure\"}]}", 1,
         "FailedRecordCount 0"},
        {"{\"FailedRecordCount\":\"1\",\"Records\":[{\"ErrorCode\":\"InternalFailure\"}]}", 1,
         "FailedRecordCount: not an integer"},
        {"{\"FailedRecordCount\":-1,\"Records\":[{\"ErrorCode\":\"InternalFailure\"}]}", 1,
         "FailedRecordCount -1"},
        /* the wrong number of results */
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"},{\"SequenceNumber\":\"2\","
         "\"ShardId\":\"s\"},{\"SequenceNumber\":\"3\",\"ShardId\":\"s\"}]}",
         2, "3 results for 2 entries"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]}", 3,
         "1 results for 3 entries"},
        {"{\"Records\":[]}", 1, "0 results for 1 entries"},
        /* results that are neither */
        {"{\"Records\":[{\"ShardId\":\"s\"}]}", 1, "Records[0]: neither SequenceNumber nor "
                                                   "ErrorCode"},
        {"{\"Records\":[{}]}", 1, "Records[0]: neither SequenceNumber nor ErrorCode"},
        {"{\"Records\":[{\"SequenceNumber\":null,\"ErrorCode\":null}]}", 1,
         "Records[0]: neither"},
        {"{\"Records\":[{\"SequenceNumber\":\"\",\"ShardId\":\"s\"}]}", 1, "Records[0]: neither"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"},{\"ErrorCode\":\"\"}]}", 2,
         "Records[1].ErrorCode: not a non-empty string"},
        {"{\"Records\":[{\"ErrorCode\":5}]}", 1, "Records[0].ErrorCode"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\"}]}", 1, "Records[0].ShardId"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":7}]}", 1, "Records[0].ShardId"},
        {"{\"Records\":[\"x\"]}", 1, "Records[0]: not an object"},
        /* not an answer */
        {"{\"Records\":[", 1, "malformed JSON"},
        {"", 1, "malformed JSON"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]} x", 1, "malformed JSON"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\",}]}", 1, "malformed JSON"},
        {"[]", 0, "not a JSON object"},
        {"{}", 0, "Records: missing or not an array"},
        {"{\"Records\":{}}", 0, "Records: missing or not an array"},
        {"{\"__type\":\"ResourceNotFoundException\",\"message\":\"Stream s not found\"}", 1,
         "Records: missing"},
    };
    pr_out_t o;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(parse_pr(bad[i].body, bad[i].n, 1, &o), SL_ERR_INVAL);
        if (!strstr(o.err, bad[i].why))
            fprintf(stderr, "  %s\n    gave '%s', wanted '%s'\n", bad[i].body, o.err,
                    bad[i].why);
        CU_ASSERT_PTR_NOT_NULL(strstr(o.err, bad[i].why));
    }
}

/* Variations of well-formed and malformed answers: whenever the scanner vouches for one, the
 * strict reader agrees (parse_pr checks). */
static void test_put_records_scanner_agrees(void) {
    static const char *const bodies[] = {
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"FailedRecordCount\":0}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"FailedRecordCount\":00}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"FailedRecordCount\":0.0}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"FailedRecordCount\":0e0}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"FailedRecordCount\":null}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"FailedRecordCount\":"
        "4294967296}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"Records\":[]}",
        "{\"Records\":[],\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"SequenceNumber\":\"\",\"ShardId\":\"s\"}]}",
        /* duplicate keys: JSON readers take the last one, null included */
        "{\"Records\":[{\"ErrorCode\":\"A\",\"ErrorCode\":null,\"SequenceNumber\":\"1\","
        "\"ShardId\":\"s\"}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"SequenceNumber\":null,\"ShardId\":\"s\"}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\",\"ShardId\":null}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\",\"Extra\":\"x\"}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\",\"ErrorMessage\":5}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\",\"ErrorMessage\":\"\\u0000\"}"
        "]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"EncryptionType\":null}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"EncryptionType\":1}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],\"Other\":{\"a\":[1]}}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]}\n\t ",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]}}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}],}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"},]}",
        "{\"Records\":[{\"SequenceNumber\":1,\"ShardId\":\"s\"}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":nul}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":null}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}] ,\"FailedRecordCount\" :0 }",
        "{\"Records\":[{\"ErrorCode\":\"A\"}],\"FailedRecordCount\":1,\"FailedRecordCount\":0}",
        "{\"Records\":[{\"ErrorCode\":\"A\"}],\"FailedRecordCount\":0,\"FailedRecordCount\":1}",
        "{\"Records\":[{\"ErrorCode\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\xc3\xa9\"}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\xff\"}]}",
        "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]",
        "{\"Records\" [{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]}",
        "{'Records':[]}",
        "{\"records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"s\"}]}",
        NULL,
    };
    pr_out_t o;
    for (int i = 0; bodies[i]; i++) {
        parse_pr(bodies[i], 1, 1, &o);
        parse_pr(bodies[i], 1, 0, &o);
    }
}

/* ---- formats: text that is not UTF-8 ------------------------------------------------------- */

static void test_format_invalid_utf8(void) {
    sl_record_t *rec = sl_record_new();
    uint8_t *out = NULL;
    size_t len = 0;
    char err[256];
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    sl_record_set_data(rec, "\xff\x00payload", 9);
    sl_record_set_key(rec, "k\xff", 2);
    sl_record_set_header(rec, "h", "a\xc3\x28");
    CU_ASSERT_EQUAL_FATAL(kin_format_encode(KIN_FMT_JSON, rec, &out, &len, err, sizeof(err)),
                          SL_OK);
    CU_ASSERT_PTR_NOT_NULL(memmem(out, len, "\"key\":\"k\xEF\xBF\xBD\"", 11));
    CU_ASSERT_PTR_NOT_NULL(memmem(out, len, "\"h\":\"a\xEF\xBF\xBD(\"", 11));
    /* the payload itself is base64, never altered: "\xff\x00payload" */
    CU_ASSERT_PTR_NOT_NULL(memmem(out, len, "\"payloadBase64\":\"/wBwYXlsb2Fk\"", 30));
    free(out);
    out = NULL;
    sl_record_set_header(rec, "pulsar.encryption.param", "@@@@");
    CU_ASSERT_EQUAL(kin_format_encode(KIN_FMT_FB, rec, &out, &len, err, sizeof(err)),
                    SL_ERR_INVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "pulsar.encryption.param"));
    free(out);
    sl_record_unref(rec);
}

void test_kinesis_sink_register(void) {
    static const unit_test_t tests[] = {
        {"defaults", test_defaults},
        {"every Flink sink option", test_flink_sink_options},
        {"deprecated spellings", test_deprecated_spellings},
        {"messageFormat", test_message_format},
        {"partitioner choices and errors", test_partitioner_choices},
        {"bounds", test_bounds},
        {"random and fixed partitioners", test_partitioner_random_fixed},
        {"key and default partitioners", test_partitioner_key_default},
        {"fields partitioner", test_partitioner_fields},
        {"explicit hash keys", test_partitioner_hash_key},
        {"custom partitioner: configuration", test_custom_partitioner_conf},
        {"custom partitioner: run time", test_custom_partitioner_run},
        {"PutRecords answers: stored", test_put_records_ok},
        {"PutRecords answers: partial failures", test_put_records_partial},
        {"PutRecords answers: refused", test_put_records_refused},
        {"PutRecords answers: scanner agrees", test_put_records_scanner_agrees},
        {"formats replace bad UTF-8", test_format_invalid_utf8},
        {NULL, NULL},
    };
    unit_add_suite("kinesis_sink", tests);
}
