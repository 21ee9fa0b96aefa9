/*
 * test_kinesis_sink.c: unit tests of the kinesis producer's pure parts: its settings (defaults,
 * every Flink sink option and Pulsar's messageFormat accepted, errors at the key the user wrote
 * with hints), the partitioners (random, fixed, key, fields, explicit hash keys from a header),
 * the PutRecords answer reader (scanner and strict fallback agree; malformed answers refused with
 * what is wrong) and the formats' handling of text that is not UTF-8.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "../../connectors/kinesis/kinesis.h"
#include "../../connectors/kinesis/kinesis_format.h"
#include "conf_int.h"
#include "sluice/log.h"
#include "unit.h"

#define S "systems.k.streams.s."

static const char *const pfx[] = {S, "systems.k.default.stream.", "systems.k.", NULL};

typedef struct run {
    sl_conf_t *conf;
    kin_conf_t kc;
    int errs;
} run_t;

static void run(run_t *r, const char *text) {
    char err[512];
    memset(r, 0, sizeof(*r));
    r->conf = sl_conf_new();
    CU_ASSERT_EQUAL_FATAL(sl_conf_load_string(r->conf, "job.properties", text, strlen(text), err,
                                              sizeof(err)), SL_OK);
    sl_log_set_level(SL_LOG_ERROR);
    r->errs = sl_conf_apply(r->conf, kin_stream_props, pfx, &r->kc);
    r->errs += kin_conf_check(r->conf, pfx, &r->kc);
    r->errs += kin_sink_check(r->conf, pfx, &r->kc);
    sl_log_set_level(SL_LOG_INFO);
}

static void done(run_t *r) {
    sl_conf_obj_free(kin_stream_props, &r->kc);
    sl_conf_destroy(r->conf);
}

static int error_with(const run_t *r, const char *a, const char *b) {
    for (int i = 0; i < sl_conf_error_count(r->conf); i++) {
        const char *e = sl_conf_error_at(r->conf, i);
        if (strstr(e, a) && (!b || strstr(e, b)))
            return 1;
    }
    for (int i = 0; i < sl_conf_error_count(r->conf); i++)
        fprintf(stderr, "  error[%d]: %s\n", i, sl_conf_error_at(r->conf, i));
    fprintf(stderr, "  wanted: %s %s\n", a, b ? b : "");
    return 0;
}

/* ---- settings ------------------------------------------------------------------------------ */

static void test_defaults(void) {
    run_t r;
    run(&r, S "aws.region=us-east-1\n");
    CU_ASSERT_EQUAL(r.errs, 0);
    CU_ASSERT_EQUAL(r.kc.sink.batch_max, 500);
    CU_ASSERT_EQUAL(r.kc.sink.max_inflight, 16);
    CU_ASSERT_EQUAL(r.kc.sink.max_buffered, 10000);
    CU_ASSERT_EQUAL(r.kc.sink.flush_size, 5242880);
    CU_ASSERT_EQUAL(r.kc.sink.flush_timeout_ms, 5000);
    CU_ASSERT_EQUAL(r.kc.sink.fail_on_error, 0);
    CU_ASSERT_EQUAL(r.kc.sink.keep_key_order, 1);
    CU_ASSERT_EQUAL(r.kc.sink.format_e, KIN_FMT_RAW);
    CU_ASSERT_EQUAL(r.kc.sink.agg, 0);
    CU_ASSERT_EQUAL(r.kc.sink.agg_max_size, 51200);
    CU_ASSERT_EQUAL(r.kc.sink.agg_max_count, 4294967295LL);
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_DEFAULT);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.field_delimiter, "|");
    CU_ASSERT_STRING_EQUAL(r.kc.sink.ehk_header, "kinesis.explicit-hash-key");
    done(&r);
}

/* Every option of Flink's "Sink Options" table is accepted. */
static void test_flink_sink_options(void) {
    run_t r;
    run(&r, S "aws.region=us-east-1\n" S "sink.partitioner=fixed\n"
            S "sink.partitioner-field-delimiter=/\n" S "sink.producer.aggregation-enabled=true\n"
            S "sink.producer.aggregation-count=100\n" S "sink.http-client.max-concurrency=100\n"
            S "sink.http-client.read-timeout=60000\n" S "sink.http-client.protocol.version=HTTP1_1\n"
            S "sink.batch.max-size=200\n" S "sink.requests.max-inflight=4\n"
            S "sink.requests.max-buffered=2000\n" S "sink.flush-buffer.size=1048576\n"
            S "sink.flush-buffer.timeout=250\n" S "sink.fail-on-error=true\n");
    CU_ASSERT_EQUAL(r.errs, 0);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_FIXED);
    CU_ASSERT_STRING_EQUAL(r.kc.sink.field_delimiter, "/");
    CU_ASSERT_EQUAL(r.kc.sink.agg, 1);
    CU_ASSERT_EQUAL(r.kc.sink.agg_max_count, 100);
    CU_ASSERT_EQUAL(r.kc.sink.request_timeout_ms, 60000);
    CU_ASSERT_EQUAL(r.kc.sink.batch_max, 200);
    CU_ASSERT_EQUAL(r.kc.sink.max_inflight, 4);
    CU_ASSERT_EQUAL(r.kc.sink.max_buffered, 2000);
    CU_ASSERT_EQUAL(r.kc.sink.flush_size, 1048576);
    CU_ASSERT_EQUAL(r.kc.sink.flush_timeout_ms, 250);
    CU_ASSERT_EQUAL(r.kc.sink.fail_on_error, 1);
    done(&r);
}

static void test_message_format(void) {
    static const char *const names[] = {"ONLY_RAW_PAYLOAD", "full_message_in_json",
                                        "FULL_MESSAGE_IN_FB"};
    run_t r;
    for (int i = 0; i < 3; i++) {
        char text[256];
        snprintf(text, sizeof(text), S "aws.region=us-east-1\n" S "messageFormat=%s\n", names[i]);
        run(&r, text);
        CU_ASSERT_EQUAL(r.errs, 0);
        CU_ASSERT_EQUAL(r.kc.sink.format_e, i);
        done(&r);
    }
    run(&r, S "aws.region=us-east-1\n" S "messageFormat=FULL_MESSAGE_IN_JSN\n");
    CU_ASSERT(r.errs > 0);
    CU_ASSERT(error_with(&r, S "messageFormat", "did you mean 'FULL_MESSAGE_IN_JSON'"));
    done(&r);
}

static void test_partitioner_choices(void) {
    run_t r;
    run(&r, S "aws.region=us-east-1\n" S "sink.partitioner=RANDOM\n");
    CU_ASSERT_EQUAL(r.errs, 0);
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_RANDOM);
    done(&r);
    run(&r, S "aws.region=us-east-1\n" S "sink.partitioner=randon\n");
    CU_ASSERT(error_with(&r, S "sink.partitioner", "did you mean 'random'"));
    done(&r);
    run(&r, S "aws.region=us-east-1\n" S "sink.partitioner=org.mycompany.MyPartitioner\n");
    CU_ASSERT(error_with(&r, "Java partitioner class", NULL));
    done(&r);
    run(&r, S "aws.region=us-east-1\n" S "sink.partitioner=key\n" S "sink.partitioner.fields=a,b\n");
    CU_ASSERT(error_with(&r, "cannot be combined with", "sink.partitioner.fields"));
    done(&r);
    run(&r, S "aws.region=us-east-1\n" S "sink.partitioner.fields=a,b.c\n");
    CU_ASSERT_EQUAL(r.errs, 0);
    CU_ASSERT_EQUAL(r.kc.sink.partitioner_e, KIN_PART_FIELDS);
    done(&r);
    run(&r, S "aws.region=us-east-1\n" S "sink.partitioner=/nowhere/libpart.so\n");
    CU_ASSERT(error_with(&r, "cannot load partitioner library", "/nowhere/libpart.so"));
    done(&r);
    run(&r, S "aws.region=us-east-1\n" S "sink.batch.max-size=501\n");
    CU_ASSERT(error_with(&r, S "sink.batch.max-size", NULL));
    done(&r);
}

/* ---- partitioners ---------------------------------------------------------------------------- */

static kin_sink_conf_t part_conf(int kind) {
    static char delim[] = "|", hdr[] = "kinesis.explicit-hash-key";
    kin_sink_conf_t sc;
    memset(&sc, 0, sizeof(sc));
    sc.partitioner_e = kind;
    sc.field_delimiter = delim;
    sc.ehk_header = hdr;
    return sc;
}

static sl_record_t *rec_of(const char *data, const char *key) {
    sl_record_t *rec = sl_record_new();
    sl_record_set_data(rec, data, strlen(data));
    if (key)
        sl_record_set_key(rec, key, strlen(key));
    return rec;
}

static void test_partitioners(void) {
    kin_sink_conf_t sc = part_conf(KIN_PART_RANDOM);
    char err[256], first[SL_PARTITION_KEY_MAX + 1];
    sl_partition_t out;
    size_t klen;
    kin_partitioner_t *p = kin_partitioner_new(&sc, 3, err, sizeof(err));
    sl_record_t *rec = rec_of("{\"a\":\"x\",\"b\":{\"c\":5},\"n\":null}", NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(klen, 32);
    CU_ASSERT(kin_partitioner_last_random(p));
    snprintf(first, sizeof(first), "%s", out.key);
    CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_NOT_EQUAL(first, out.key);
    kin_partitioner_destroy(p);

    sc = part_conf(KIN_PART_FIXED);
    p = kin_partitioner_new(&sc, 3, err, sizeof(err));
    CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.key, "3");
    CU_ASSERT(!kin_partitioner_last_random(p));
    kin_partitioner_destroy(p);

    /* key: a record without one is an error naming why. */
    sc = part_conf(KIN_PART_KEY);
    p = kin_partitioner_new(&sc, 0, err, sizeof(err));
    CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)), SL_ERR_RECORD);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no key"));
    kin_partitioner_destroy(p);

    /* fields: strings as they are, other values as JSON, null and missing as "". */
    sc = part_conf(KIN_PART_FIELDS);
    {
        char *items[] = {"a", "b.c", "n"};
        sc.fields.cnt = 3;
        sc.fields.items = items;
        p = kin_partitioner_new(&sc, 0, err, sizeof(err));
        CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)), SL_OK);
        CU_ASSERT_STRING_EQUAL(out.key, "x|5|");
        sl_record_set_data(rec, "not json", 8);
        CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)),
                        SL_ERR_RECORD);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "JSON payload"));
        kin_partitioner_destroy(p);
    }
    sl_record_unref(rec);

    /* default: the record key, an explicit hash key from the header, checked. */
    sc = part_conf(KIN_PART_DEFAULT);
    p = kin_partitioner_new(&sc, 0, err, sizeof(err));
    rec = rec_of("x", "user-1");
    sl_record_set_header(rec, "kinesis.explicit-hash-key", "12345");
    CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(out.key, "user-1");
    CU_ASSERT_STRING_EQUAL(out.hash_key, "12345");
    sl_record_set_header(rec, "kinesis.explicit-hash-key", "340282366920938463463374607431768211456");
    CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)), SL_ERR_RECORD);
    sl_record_set_header(rec, "kinesis.explicit-hash-key", "12x");
    CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)), SL_ERR_RECORD);
    {
        char big[300];
        memset(big, 'k', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        sl_record_set_header(rec, "kinesis.explicit-hash-key", NULL);
        sl_record_set_key(rec, big, strlen(big));
        CU_ASSERT_EQUAL(kin_partitioner_run(p, rec, &out, &klen, err, sizeof(err)),
                        SL_ERR_RECORD);
    }
    sl_record_unref(rec);
    kin_partitioner_destroy(p);
}

/* ---- PutRecords answers ------------------------------------------------------------------------- */

static void test_put_records_answers(void) {
    char codes[3][SL_KIN_CODE_MAX], shards[3][SL_KIN_SHARD_ID_MAX], err[256];
    size_t failed = 99;
    const char *ok = "{\"FailedRecordCount\":0,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":"
                     "\"shardId-0\"},{\"SequenceNumber\":\"2\",\"ShardId\":\"shardId-1\"},"
                     "{\"SequenceNumber\":\"3\",\"ShardId\":\"shardId-0\"}]}";
    const char *partial = "{ \"Records\" : [ {\"SequenceNumber\":\"1\",\"ShardId\":\"s0\"},"
                          "{\"ErrorCode\":\"ProvisionedThroughputExceededException\","
                          "\"ErrorMessage\":\"Rate \\\"exceeded\\\"\"},"
                          "{\"SequenceNumber\":\"3\",\"ShardId\":\"s1\",\"ErrorCode\":null}],"
                          "\"FailedRecordCount\" : 1, \"EncryptionType\":\"NONE\" }";
    /* An escape in a kept string: the strict reader takes over and gets the same answer. */
    const char *escaped = "{\"FailedRecordCount\":0,\"Records\":[{\"SequenceNumber\":\"1\","
                          "\"ShardId\":\"s\\u0030\"},{\"SequenceNumber\":\"2\",\"ShardId\":\"s1\"},"
                          "{\"SequenceNumber\":\"3\",\"ShardId\":\"s2\"}]}";

    CU_ASSERT_EQUAL(kin_parse_put_records(ok, strlen(ok), 3, codes, shards, &failed, err,
                                          sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_STRING_EQUAL(codes[1], "");
    CU_ASSERT_STRING_EQUAL(shards[1], "shardId-1");
    CU_ASSERT_EQUAL(kin_parse_put_records(partial, strlen(partial), 3, codes, shards, &failed,
                                          err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(failed, 1);
    CU_ASSERT_STRING_EQUAL(codes[0], "");
    CU_ASSERT_STRING_EQUAL(codes[1], "ProvisionedThroughputExceededException");
    CU_ASSERT_STRING_EQUAL(codes[2], "");
    CU_ASSERT_STRING_EQUAL(shards[2], "s1");
    CU_ASSERT_EQUAL(kin_parse_put_records(escaped, strlen(escaped), 3, codes, shards, &failed,
                                          err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(shards[0], "s0");

    /* Refusals say what is wrong. */
    CU_ASSERT_EQUAL(kin_parse_put_records(ok, strlen(ok), 2, codes, NULL, &failed, err,
                                          sizeof(err)), SL_ERR_INVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "3 results for 2 entries"));
    {
        const char *bad = "{\"FailedRecordCount\":2,\"Records\":[{\"SequenceNumber\":\"1\"}]}";
        CU_ASSERT_EQUAL(kin_parse_put_records(bad, strlen(bad), 1, codes, NULL, &failed, err,
                                              sizeof(err)), SL_ERR_INVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "FailedRecordCount 2"));
    }
    {
        const char *bad = "{\"Records\":[{\"ShardId\":\"s\"}]}";
        CU_ASSERT_EQUAL(kin_parse_put_records(bad, strlen(bad), 1, codes, NULL, &failed, err,
                                              sizeof(err)), SL_ERR_INVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "neither SequenceNumber nor ErrorCode"));
    }
    CU_ASSERT_EQUAL(kin_parse_put_records("{\"Records\":[", 12, 1, codes, NULL, &failed, err,
                                          sizeof(err)), SL_ERR_INVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed JSON"));
}

/* ---- formats: text that is not UTF-8 --------------------------------------------------------------- */

static void test_format_invalid_utf8(void) {
    sl_record_t *rec = rec_of("\xff\x00payload", NULL);
    uint8_t *out;
    size_t len;
    char err[256];
    sl_record_set_key(rec, "k\xff", 2);
    sl_record_set_header(rec, "h", "a\xc3\x28");
    CU_ASSERT_EQUAL_FATAL(kin_format_encode(KIN_FMT_JSON, rec, &out, &len, err, sizeof(err)),
                          SL_OK);
    CU_ASSERT_PTR_NOT_NULL(memmem(out, len, "\"key\":\"k\xEF\xBF\xBD\"", 11));
    CU_ASSERT_PTR_NOT_NULL(memmem(out, len, "\"h\":\"a\xEF\xBF\xBD(\"", 11));
    free(out);
    sl_record_set_header(rec, "pulsar.encryption.param", "@@@@");
    CU_ASSERT_EQUAL(kin_format_encode(KIN_FMT_FB, rec, &out, &len, err, sizeof(err)),
                    SL_ERR_INVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "pulsar.encryption.param"));
    sl_record_unref(rec);
}

void test_kinesis_sink_register(void) {
    static const unit_test_t tests[] = {
        {"defaults", test_defaults},
        {"every Flink sink option", test_flink_sink_options},
        {"messageFormat", test_message_format},
        {"partitioner choices and errors", test_partitioner_choices},
        {"partitioners", test_partitioners},
        {"PutRecords answers", test_put_records_answers},
        {"formats replace bad UTF-8", test_format_invalid_utf8},
        {NULL, NULL},
    };
    unit_add_suite("kinesis_sink", tests);
}
