/*
 * test_kinesis_api.c: the Kinesis consumer's API layer and shard reader
 * (connectors/kinesis/kinesis_api.c, kinesis_shard.c). Pure parts first: sequence-number order,
 * start timestamps in Flink's and the KCL's forms, strict GetRecords parsing on canned answers
 * (plain, KPL aggregates built with the aggregator, closed shards, every malformed field).
 * Then calls against a fake Kinesis served on 127.0.0.1 from its own thread: ListShards pages,
 * an expired NextToken, throttling, cancelling; and a shard read through a hand-built partition
 * whose operator chain is empty, so every delivered record lands in this file's sink: reading to
 * the end, rate limit and buffer bound, throttling and giving up, expired iterators, resuming
 * inside an aggregate, hash-range filtering, SHARD_END, an expired shard, fatal errors.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <openssl/evp.h>

#include "../../connectors/kinesis/kinesis.h"
#include "job_int.h"
#include "unit.h"
#include "util_time.h"

#define MAX128 "340282366920938463463374607431768211455"

/* --- sequence numbers and time ------------------------------------------------------------- */

static void test_seq_cmp(void) {
    CU_ASSERT_EQUAL(kin_seq_cmp("1", "2"), -1);
    CU_ASSERT_EQUAL(kin_seq_cmp("10", "9"), 1);
    CU_ASSERT_EQUAL(kin_seq_cmp("9", "10"), -1);
    CU_ASSERT_EQUAL(kin_seq_cmp("007", "7"), 0);
    CU_ASSERT_EQUAL(kin_seq_cmp("0", ""), 0);
    CU_ASSERT_EQUAL(kin_seq_cmp("000", "0"), 0);
    CU_ASSERT_EQUAL(kin_seq_cmp("0010", "9"), 1);
    CU_ASSERT_EQUAL(kin_seq_cmp("49590338271490256608559692538361571095921575989136588898",
                                "49590338271490256608559692540925702759324208523137515618"), -1);
    CU_ASSERT_EQUAL(kin_seq_cmp("49590338271490256608559692540925702759324208523137515618",
                                "4959033827149025660855969253836157109592157598913658889"), 1);
    CU_ASSERT_EQUAL(kin_seq_cmp("123", "123"), 0);
    CU_ASSERT_EQUAL(kin_xseq_cmp("5", 3, "5", 2), 1);
    CU_ASSERT_EQUAL(kin_xseq_cmp("5", 2, "5", 2), 0);
    CU_ASSERT_EQUAL(kin_xseq_cmp("5", 9, "6", 0), -1);
    CU_ASSERT_EQUAL(kin_xseq_cmp("06", 0, "5", 9), 1);
}

static int64_t ptime(const char *ts, const char *fmt, char *err, size_t errlen) {
    int64_t ms = -12345;
    err[0] = '\0';
    if (kin_parse_time(ts, fmt, &ms, err, errlen) != SL_OK)
        return -1;
    return ms;
}

static void test_parse_time(void) {
    char err[256];
    /* 2019-01-01T00:00:00Z = 1546300800 */
    CU_ASSERT_EQUAL(ptime("2019-01-01T00:00:00.000Z", NULL, err, sizeof(err)), 1546300800000LL);
    CU_ASSERT_EQUAL(ptime("2019-01-01T01:00:00.250+01:00", "", err, sizeof(err)),
                    1546300800250LL);
    CU_ASSERT_EQUAL(ptime("2018-12-31T19:30:00.000-04:30", NULL, err, sizeof(err)),
                    1546300800000LL);
    /* Java reads S as a count of milliseconds */
    CU_ASSERT_EQUAL(ptime("2019-01-01T00:00:00.5Z", NULL, err, sizeof(err)), 1546300800005LL);
    /* ISO 8601 fallback of the default pattern */
    CU_ASSERT_EQUAL(ptime("2019-01-01T00:00:00Z", NULL, err, sizeof(err)), 1546300800000LL);
    CU_ASSERT_EQUAL(ptime("2019-01-01T02:00:00.123456+02:00", NULL, err, sizeof(err)),
                    1546300800123LL);
    CU_ASSERT_EQUAL(ptime("2019-01-01 00:00Z", NULL, err, sizeof(err)), 1546300800000LL);
    /* epoch seconds, with a fraction truncated to ms */
    CU_ASSERT_EQUAL(ptime("1546300800", NULL, err, sizeof(err)), 1546300800000LL);
    CU_ASSERT_EQUAL(ptime("1546300800.1239", NULL, err, sizeof(err)), 1546300800123LL);
    CU_ASSERT_EQUAL(ptime("1546300800.5", "yyyy-MM-dd", err, sizeof(err)), 1546300800500LL);
    /* custom patterns: literals, zones, abutting fields, month names, leap days */
    CU_ASSERT_EQUAL(ptime("2019-01-01 00:00:00", "yyyy-MM-dd HH:mm:ss", err, sizeof(err)),
                    1546300800000LL);
    CU_ASSERT_EQUAL(ptime("20190101000000", "yyyyMMddHHmmss", err, sizeof(err)),
                    1546300800000LL);
    CU_ASSERT_EQUAL(ptime("2019-1-1", "yyyy-M-d", err, sizeof(err)), 1546300800000LL);
    CU_ASSERT_EQUAL(ptime("01 Jan 2019 00:00 +0000", "dd MMM yyyy HH:mm Z", err, sizeof(err)),
                    1546300800000LL);
    CU_ASSERT_EQUAL(ptime("1 january 2019 UTC", "d MMMM yyyy z", err, sizeof(err)),
                    1546300800000LL);
    CU_ASSERT_EQUAL(ptime("2019-01-01T00:00:00Z", "yyyy-MM-dd'T'HH:mm:ss'Z'", err, sizeof(err)),
                    1546300800000LL);
    CU_ASSERT_EQUAL(ptime("at 2019.01.01 o'clock", "'at' yyyy.MM.dd 'o''clock'", err,
                          sizeof(err)),
                    1546300800000LL);
    CU_ASSERT_EQUAL(ptime("2020-02-29T12:00:00.000-01", "yyyy-MM-dd'T'HH:mm:ss.SSSX", err,
                          sizeof(err)),
                    1582981200000LL);
    CU_ASSERT_EQUAL(ptime("2019-01-01T00:00:00.000+0100", "yyyy-MM-dd'T'HH:mm:ss.SSSXX", err,
                          sizeof(err)),
                    1546297200000LL);
    CU_ASSERT_EQUAL(ptime("1970-01-01", "yyyy-MM-dd", err, sizeof(err)), 0);
    /* two-digit years fall in the 100 years that started 80 years ago */
    CU_ASSERT_EQUAL(ptime("01-01-19", "dd-MM-yy", err, sizeof(err)), 1546300800000LL);

    /* errors name what is wrong */
    CU_ASSERT_EQUAL(ptime("2019-13-05", "yyyy-MM-dd", err, sizeof(err)), -1);
    CU_ASSERT_STRING_EQUAL(err, "'2019-13-05': month 13 out of range");
    CU_ASSERT_EQUAL(ptime("2019-13-05T00:00:00.000Z", NULL, err, sizeof(err)), -1);
    CU_ASSERT_STRING_EQUAL(err, "'2019-13-05T00:00:00.000Z': month 13 out of range");
    CU_ASSERT_EQUAL(ptime("2019-02-29", "yyyy-MM-dd", err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "day 29 out of range for 2019-02"));
    CU_ASSERT_EQUAL(ptime("2019-01-01T24:00:00.000Z", NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "hour 24 out of range"));
    CU_ASSERT_EQUAL(ptime("yesterday", NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'yesterday': does not match yyyy-MM-dd'T'HH:mm:ss.SSSXXX"));
    CU_ASSERT_EQUAL(ptime("2019-01-01T00:00:00.000", NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not match"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "time zone"));
    CU_ASSERT_EQUAL(ptime("2019-01-01x", "yyyy-MM-dd", err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unexpected 'x'"));
    CU_ASSERT_EQUAL(ptime("2019-01-01T00:00:00.000+25:00", NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "out of range"));
    CU_ASSERT_EQUAL(ptime("2019-01-01", "yyyy-MM-dd hh", err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unsupported letter 'h'"));
    CU_ASSERT_EQUAL(ptime("2019", "'yyyy", err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unterminated quote"));
    CU_ASSERT_EQUAL(ptime("", NULL, err, sizeof(err)), -1);
    CU_ASSERT_STRING_EQUAL(err, "empty timestamp");
    CU_ASSERT_EQUAL(ptime("-5", NULL, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(ptime("1.2.3", NULL, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(ptime("20190101", "yyyyMMddHH", err, sizeof(err)) == 1546300800000LL, 0);
}

/* --- GetRecords parsing -------------------------------------------------------------------- */

static char *b64(const void *data, size_t len) {
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

static sl_err_t parse_str(const char *json, kin_records_t *r, char *err, size_t errlen) {
    json_error_t jerr;
    json_t *doc = json_loads(json, 0, &jerr);
    sl_err_t rc;
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    err[0] = '\0';
    rc = kin_parse_get_records(doc, r, err, errlen);
    json_decref(doc);
    return rc;
}

static void test_records_plain(void) {
    kin_records_t r;
    char err[256];
    const char *json =
        "{\"Records\":["
        "{\"SequenceNumber\":\"49590338271490256608559692538361571095921575989136588898\","
        "\"ApproximateArrivalTimestamp\":1546300800.123,\"Data\":\"aGVsbG8=\","
        "\"PartitionKey\":\"pk1\"},"
        "{\"SequenceNumber\":\"49590338271490256608559692540925702759324208523137515618\","
        "\"ApproximateArrivalTimestamp\":1546300801,\"Data\":\"\",\"PartitionKey\":\"p\\u00e9\","
        "\"EncryptionType\":\"KMS\"},"
        "{\"SequenceNumber\":\"49590338271490256608559692540925702759324208523137515619\","
        "\"ApproximateArrivalTimestamp\":1.5463008025E9,\"Data\":\"YWI=\",\"PartitionKey\":\"x\","
        "\"EncryptionType\":\"NONE\"},"
        "{\"SequenceNumber\":\"49590338271490256608559692540925702759324208523137515620\","
        "\"ApproximateArrivalTimestamp\":1546300803,\"Data\":\"YWJj\",\"PartitionKey\":\"y\","
        "\"EncryptionType\":null}],"
        "\"NextShardIterator\":\"AAAAAAAAAAH\",\"MillisBehindLatest\":2100}";
    CU_ASSERT_EQUAL_FATAL(parse_str(json, &r, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL_FATAL(r.n, 4);
    CU_ASSERT_STRING_EQUAL(r.recs[0].seq,
                           "49590338271490256608559692538361571095921575989136588898");
    CU_ASSERT_STRING_EQUAL(r.recs[0].pk, "pk1");
    CU_ASSERT_EQUAL(r.recs[0].pklen, 3);
    CU_ASSERT_EQUAL(r.recs[0].len, 5);
    CU_ASSERT_EQUAL(memcmp((const char *)sl_buf_data(r.buf) + r.recs[0].off, "hello", 5), 0);
    CU_ASSERT_EQUAL(r.recs[0].arrival_ms, 1546300800123LL);
    CU_ASSERT_PTR_NULL(r.recs[0].encryption);
    CU_ASSERT_EQUAL(r.recs[1].len, 0);
    CU_ASSERT_EQUAL(r.recs[1].pklen, 3); /* UTF-8 bytes */
    CU_ASSERT_STRING_EQUAL(r.recs[1].pk, "p\xc3\xa9");
    CU_ASSERT_EQUAL(r.recs[1].arrival_ms, 1546300801000LL);
    CU_ASSERT_STRING_EQUAL(r.recs[1].encryption, "KMS");
    CU_ASSERT_EQUAL(r.recs[2].arrival_ms, 1546300802500LL);
    CU_ASSERT_PTR_NULL(r.recs[2].encryption); /* NONE: no header */
    CU_ASSERT_EQUAL(r.recs[2].len, 2);
    CU_ASSERT_EQUAL(memcmp((const char *)sl_buf_data(r.buf) + r.recs[2].off, "ab", 2), 0);
    CU_ASSERT_EQUAL(memcmp((const char *)sl_buf_data(r.buf) + r.recs[3].off, "abc", 3), 0);
    CU_ASSERT_PTR_NULL(r.recs[3].encryption);
    CU_ASSERT_EQUAL(sl_buf_len(r.buf), 10); /* one buffer, back to back */
    CU_ASSERT_STRING_EQUAL(r.next_iterator, "AAAAAAAAAAH");
    CU_ASSERT_EQUAL(r.millis_behind, 2100);
    CU_ASSERT_PTR_NULL(r.children);
    kin_records_free(&r);
    CU_ASSERT_PTR_NULL(r.recs);

    /* empty answer: no buffer, no millis */
    CU_ASSERT_EQUAL(parse_str("{\"Records\":[],\"NextShardIterator\":\"x\"}", &r, err,
                              sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(r.n, 0);
    CU_ASSERT_PTR_NULL(r.buf);
    CU_ASSERT_EQUAL(r.millis_behind, -1);
    kin_records_free(&r);
}

static void test_records_kpl(void) {
    sl_kpl_agg_t *agg = sl_kpl_agg_new(0, 0, 0);
    sl_kpl_agg_out_t out;
    sl_kpl_deagg_t *da = sl_kpl_deagg_new();
    sl_kpl_subrec_t sub;
    kin_records_t r;
    char err[256], *json, *data64;
    const char *base;
    size_t jlen;

    CU_ASSERT_EQUAL(sl_kpl_agg_add(agg, "a", NULL, "one", 3, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(sl_kpl_agg_add(agg, "b", "123", "two", 3, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(sl_kpl_agg_add(agg, "c", NULL, "three", 5, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_kpl_agg_flush(agg, &out), SL_OK);
    data64 = b64(out.data, out.len);
    jlen = strlen(data64) + 512;
    json = malloc(jlen);
    snprintf(json, jlen,
             "{\"Records\":[{\"SequenceNumber\":\"7\",\"ApproximateArrivalTimestamp\":10,"
             "\"Data\":\"aGk=\",\"PartitionKey\":\"plain\"},"
             "{\"SequenceNumber\":\"8\",\"ApproximateArrivalTimestamp\":11,"
             "\"Data\":\"%s\",\"PartitionKey\":\"%s\"}],\"NextShardIterator\":\"it\"}",
             data64, out.pk);
    CU_ASSERT_EQUAL_FATAL(parse_str(json, &r, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    base = sl_buf_data(r.buf);
    CU_ASSERT_EQUAL(r.recs[1].len, out.len);
    CU_ASSERT_EQUAL(r.recs[1].off, 2);
    CU_ASSERT_EQUAL(memcmp(base + r.recs[1].off, out.data, out.len), 0);
    /* the de-aggregator's records point into the one decoded buffer */
    CU_ASSERT_EQUAL(sl_kpl_deagg_load(da, base + r.recs[1].off, r.recs[1].len, r.recs[1].pk,
                                      NULL, NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_kpl_deagg_count(da), 3);
    CU_ASSERT_TRUE(sl_kpl_deagg_next(da, &sub));
    CU_ASSERT_EQUAL(sub.data_len, 3);
    CU_ASSERT_EQUAL(memcmp(sub.data, "one", 3), 0);
    CU_ASSERT_TRUE((const char *)sub.data >= base && (const char *)sub.data < base + 2 + out.len);
    CU_ASSERT_TRUE(sl_kpl_deagg_next(da, &sub));
    CU_ASSERT_EQUAL(sub.subseq, 1);
    CU_ASSERT_EQUAL(sub.ehk_len, 3);
    CU_ASSERT_EQUAL(memcmp(sub.ehk, "123", 3), 0);
    CU_ASSERT_TRUE(sl_kpl_deagg_next(da, &sub));
    CU_ASSERT_EQUAL(sub.pk_len, 1);
    CU_ASSERT_EQUAL(sub.pk[0], 'c');
    CU_ASSERT_FALSE(sl_kpl_deagg_next(da, &sub));
    kin_records_free(&r);
    free(json);
    free(data64);
    sl_kpl_agg_out_free(&out);
    sl_kpl_agg_destroy(agg);
    sl_kpl_deagg_destroy(da);
}

static void test_records_closed(void) {
    kin_records_t r;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(
        parse_str("{\"Records\":[],\"MillisBehindLatest\":0,\"NextShardIterator\":null,"
                  "\"ChildShards\":[{\"ShardId\":\"shardId-000000000002\",\"ParentShards\":"
                  "[\"shardId-000000000000\",\"shardId-000000000001\"],\"HashKeyRange\":"
                  "{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"" MAX128 "\"}},"
                  "{\"ShardId\":\"shardId-000000000003\",\"ParentShards\":"
                  "[\"shardId-000000000000\"],\"HashKeyRange\":"
                  "{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"17\"}}]}",
                  &r, err, sizeof(err)),
        SL_OK);
    CU_ASSERT_PTR_NULL(r.next_iterator);
    CU_ASSERT_EQUAL(r.millis_behind, 0);
    CU_ASSERT_EQUAL_FATAL(r.n_children, 2);
    CU_ASSERT_STRING_EQUAL(r.children[0].id, "shardId-000000000002");
    CU_ASSERT_STRING_EQUAL(r.children[0].parent, "shardId-000000000000");
    CU_ASSERT_STRING_EQUAL(r.children[0].adjacent_parent, "shardId-000000000001");
    CU_ASSERT_STRING_EQUAL(r.children[0].end_hash, MAX128);
    CU_ASSERT_PTR_NULL(r.children[1].adjacent_parent);
    CU_ASSERT_STRING_EQUAL(r.children[1].end_hash, "17");
    kin_records_free(&r);
    /* no NextShardIterator at all: closed too */
    CU_ASSERT_EQUAL(parse_str("{\"Records\":[]}", &r, err, sizeof(err)), SL_OK);
    CU_ASSERT_PTR_NULL(r.next_iterator);
    CU_ASSERT_EQUAL(r.n_children, 0);
    kin_records_free(&r);
}

static void test_records_malformed(void) {
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"[]", "the answer is not a JSON object"},
        {"{}", "Records: missing"},
        {"{\"Records\":{}}", "Records: expected an array"},
        {"{\"Records\":[5]}", "Records[0]: expected an object"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1,"
         "\"Data\":\"\",\"PartitionKey\":\"k\"},{\"ApproximateArrivalTimestamp\":1,"
         "\"Data\":\"\",\"PartitionKey\":\"k\"}]}",
         "Records[1].SequenceNumber: missing"},
        {"{\"Records\":[{\"SequenceNumber\":1,\"ApproximateArrivalTimestamp\":1,"
         "\"Data\":\"\",\"PartitionKey\":\"k\"}]}",
         "Records[0].SequenceNumber: expected a string"},
        {"{\"Records\":[{\"SequenceNumber\":\"12a\",\"ApproximateArrivalTimestamp\":1,"
         "\"Data\":\"\",\"PartitionKey\":\"k\"}]}",
         "Records[0].SequenceNumber: '12a' is not a decimal number"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1,"
         "\"Data\":\"\"}]}",
         "Records[0].PartitionKey: missing"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1,"
         "\"PartitionKey\":\"k\",\"Data\":null}]}",
         "Records[0].Data: missing"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1,"
         "\"PartitionKey\":\"k\",\"Data\":\"aGVsbG8\"}]}",
         "Records[0].Data: not valid base64 (length 7)"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1,"
         "\"PartitionKey\":\"k\",\"Data\":\"aGk=\"},{\"SequenceNumber\":\"2\","
         "\"ApproximateArrivalTimestamp\":1,\"PartitionKey\":\"k\",\"Data\":\"aGk=\"},"
         "{\"SequenceNumber\":\"3\",\"ApproximateArrivalTimestamp\":1,\"PartitionKey\":\"k\","
         "\"Data\":\"aGVs!G8=\"}]}",
         "Records[2].Data: not valid base64"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1,"
         "\"PartitionKey\":\"k\",\"Data\":\"YQ==YQ==\"}]}",
         "Records[0].Data: not valid base64"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":\"1\","
         "\"PartitionKey\":\"k\",\"Data\":\"\"}]}",
         "Records[0].ApproximateArrivalTimestamp: expected a number"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"PartitionKey\":\"k\",\"Data\":\"\"}]}",
         "Records[0].ApproximateArrivalTimestamp: missing"},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1,"
         "\"PartitionKey\":\"k\",\"Data\":\"\",\"EncryptionType\":5}]}",
         "Records[0].EncryptionType: expected a string"},
        {"{\"Records\":[],\"NextShardIterator\":5}",
         "NextShardIterator: expected a non-empty string"},
        {"{\"Records\":[],\"MillisBehindLatest\":\"x\"}",
         "MillisBehindLatest: expected a non-negative integer"},
        {"{\"Records\":[],\"ChildShards\":{}}", "ChildShards: expected an array"},
        {"{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"shardId-2\",\"ParentShards\":[]}]}",
         "ChildShards[0] (shardId-2).HashKeyRange: missing"},
        {"{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"shardId-2\",\"ParentShards\":[],"
         "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"-1\"}}]}",
         "ChildShards[0] (shardId-2).HashKeyRange.EndingHashKey: '-1' is not a decimal number"},
        {"{\"Records\":[],\"ChildShards\":[{\"ParentShards\":[]}]}",
         "ChildShards[0].ShardId: missing"},
        {"{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"s\",\"ParentShards\":[1]}]}",
         "ChildShards[0] (s).ParentShards[0]: expected a shard id"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kin_records_t r;
        char err[256];
        CU_ASSERT_EQUAL(parse_str(cases[i].json, &r, err, sizeof(err)), SL_ERR_INVAL);
        if (strcmp(err, cases[i].err) != 0) {
            fprintf(stderr, "\ncase %zu: got '%s', want '%s'\n", i, err, cases[i].err);
            CU_FAIL("error text");
        }
        CU_ASSERT_PTR_NULL(r.recs);
        CU_ASSERT_PTR_NULL(r.buf);
        CU_ASSERT_PTR_NULL(r.children);
        CU_ASSERT_PTR_NULL(r.next_iterator);
        CU_ASSERT_EQUAL(r.n, 0);
    }
}

/* --- a fake Kinesis on 127.0.0.1 ----------------------------------------------------------- */

typedef struct frec {
    char seq[64];
    char pk[64];
    char *data64;
    double ts;
    const char *enc;
} frec_t;

typedef struct inject {
    const char *op;
    int nth; /* the nth call of op (1-based) gets this answer */
    int status;
    const char *body;
} inject_t;

typedef struct reqlog {
    char op[32];
    char body[700];
    int64_t at_ms;
} reqlog_t;

#define MAX_LOG 256

typedef struct fake {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    int stop;
    pthread_mutex_t lock;
    /* scripted answers, served in order before anything else */
    int script_status[8];
    const char *script[8];
    int nscript, served;
    inject_t inject[8];
    int ninject;
    int calls_iter, calls_get;
    /* the shard */
    frec_t recs[32];
    int nrecs;
    int closed;
    const char *children; /* ChildShards JSON at the end of a closed shard */
    reqlog_t log[MAX_LOG];
    int nlog;
} fake_t;

static int fake_find(const fake_t *f, const char *type, const char *seq, double ts) {
    if (!strcmp(type, "TRIM_HORIZON"))
        return 0;
    if (!strcmp(type, "LATEST"))
        return f->nrecs;
    for (int i = 0; i < f->nrecs; i++) {
        if (!strcmp(type, "AT_SEQUENCE_NUMBER") && kin_seq_cmp(f->recs[i].seq, seq) >= 0)
            return i;
        if (!strcmp(type, "AFTER_SEQUENCE_NUMBER") && kin_seq_cmp(f->recs[i].seq, seq) > 0)
            return i;
        if (!strcmp(type, "AT_TIMESTAMP") && f->recs[i].ts >= ts)
            return i;
    }
    return f->nrecs;
}

/* Answers one call of the fake shard (lock held); returns a malloc'd body. */
static char *fake_answer(fake_t *f, const char *op, const char *body, int *status) {
    json_t *req = json_loads(body, 0, NULL), *res = NULL;
    char *out;
    *status = 200;
    if (!strcmp(op, "GetShardIterator")) {
        const char *type = json_string_value(json_object_get(req, "ShardIteratorType"));
        const char *seq = json_string_value(json_object_get(req, "StartingSequenceNumber"));
        double ts = json_number_value(json_object_get(req, "Timestamp"));
        char it[32];
        snprintf(it, sizeof(it), "it:%d", fake_find(f, type ? type : "", seq ? seq : "", ts));
        res = json_pack("{s:s}", "ShardIterator", it);
    } else if (!strcmp(op, "GetRecords")) {
        const char *it = json_string_value(json_object_get(req, "ShardIterator"));
        int limit = (int)json_integer_value(json_object_get(req, "Limit"));
        int idx = it && !strncmp(it, "it:", 3) ? atoi(it + 3) : 0, end;
        json_t *arr = json_array();
        end = idx + limit < f->nrecs ? idx + limit : f->nrecs;
        for (int i = idx; i < end; i++) {
            json_t *r = json_pack("{s:s,s:f,s:s,s:s}", "SequenceNumber", f->recs[i].seq,
                                  "ApproximateArrivalTimestamp", f->recs[i].ts, "Data",
                                  f->recs[i].data64, "PartitionKey", f->recs[i].pk);
            if (f->recs[i].enc)
                json_object_set_new(r, "EncryptionType", json_string(f->recs[i].enc));
            json_array_append_new(arr, r);
        }
        res = json_pack("{s:o,s:i}", "Records", arr, "MillisBehindLatest",
                        (json_int_t)(f->nrecs - end) * 1000);
        if (end == f->nrecs && f->closed) {
            if (f->children)
                json_object_set_new(res, "ChildShards", json_loads(f->children, 0, NULL));
        } else {
            char next[32];
            snprintf(next, sizeof(next), "it:%d", end);
            json_object_set_new(res, "NextShardIterator", json_string(next));
        }
    } else {
        *status = 400;
        res = json_pack("{s:s}", "__type", "UnknownOperationException");
    }
    out = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    json_decref(req);
    return out;
}

static void fake_handle(struct evhttp_request *req, void *arg) {
    fake_t *f = arg;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer *ib = evhttp_request_get_input_buffer(req), *out = evbuffer_new();
    const char *target = evhttp_find_header(in, "X-Amz-Target"), *dot;
    char op[32], *body, *answer = NULL;
    const char *fixed = NULL;
    size_t n = evbuffer_get_length(ib);
    int status = 200;

    dot = target ? strchr(target, '.') : NULL;
    snprintf(op, sizeof(op), "%s", dot ? dot + 1 : "");
    body = malloc(n + 1);
    evbuffer_copyout(ib, body, n);
    body[n] = '\0';
    pthread_mutex_lock(&f->lock);
    if (f->nlog < MAX_LOG) {
        reqlog_t *l = &f->log[f->nlog++];
        snprintf(l->op, sizeof(l->op), "%s", op);
        snprintf(l->body, sizeof(l->body), "%s", body);
        l->at_ms = sl_mono_ms();
    }
    if (f->served < f->nscript) {
        status = f->script_status[f->served];
        fixed = f->script[f->served++];
    } else {
        int nth = !strcmp(op, "GetShardIterator") ? ++f->calls_iter
                  : !strcmp(op, "GetRecords")     ? ++f->calls_get
                                                  : 0;
        for (int i = 0; i < f->ninject; i++)
            if (!strcmp(f->inject[i].op, op) && f->inject[i].nth == nth) {
                status = f->inject[i].status;
                fixed = f->inject[i].body;
            }
        if (!fixed)
            answer = fake_answer(f, op, body, &status);
    }
    pthread_mutex_unlock(&f->lock);
    evhttp_add_header(evhttp_request_get_output_headers(req), "x-amzn-RequestId", "fake-req");
    if (fixed)
        evbuffer_add(out, fixed, strlen(fixed));
    else
        evbuffer_add(out, answer, strlen(answer));
    evhttp_send_reply(req, status, "x", out);
    evbuffer_free(out);
    free(answer);
    free(body);
}

static void fake_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
}

static void *fake_main(void *arg) {
    fake_t *f = arg;
    struct timeval tv = {0, 10000};
    struct event *tick = event_new(f->base, -1, EV_PERSIST, fake_tick, NULL);
    event_add(tick, &tv);
    while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE))
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(tick);
    return NULL;
}

static int fake_start(fake_t *f) {
    struct evhttp_bound_socket *bound;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(f, 0, sizeof(*f));
    evthread_use_pthreads();
    pthread_mutex_init(&f->lock, NULL);
    f->base = event_base_new();
    f->http = evhttp_new(f->base);
    evhttp_set_gencb(f->http, fake_handle, f);
    if (!(bound = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0)))
        return -1;
    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len);
    f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return pthread_create(&f->thread, NULL, fake_main, f) == 0 ? 0 : -1;
}

static void fake_stop(fake_t *f) {
    __atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
    pthread_join(f->thread, NULL);
    evhttp_free(f->http);
    event_base_free(f->base);
    pthread_mutex_destroy(&f->lock);
    for (int i = 0; i < f->nrecs; i++)
        free(f->recs[i].data64);
}

static void fake_add(fake_t *f, const char *seq, const char *pk, const void *data, size_t len) {
    frec_t *r = &f->recs[f->nrecs];
    snprintf(r->seq, sizeof(r->seq), "%s", seq);
    snprintf(r->pk, sizeof(r->pk), "%s", pk);
    r->data64 = b64(data, len);
    r->ts = 1546300800.0 + f->nrecs + 0.25;
    f->nrecs++;
}

/* An aggregate of n user records "<prefix><i>" with keys "k<i>" and explicit hash keys. */
static void fake_add_agg(fake_t *f, const char *seq, const char *prefix, int n,
                         const char *const *ehks) {
    sl_kpl_agg_t *agg = sl_kpl_agg_new(0, 0, 0);
    sl_kpl_agg_out_t out;
    char err[128], pk[16], data[32];
    for (int i = 0; i < n; i++) {
        snprintf(pk, sizeof(pk), "k%d", i);
        snprintf(data, sizeof(data), "%s%d", prefix, i);
        CU_ASSERT_EQUAL(sl_kpl_agg_add(agg, pk, ehks ? ehks[i] : NULL, data, strlen(data), err,
                                       sizeof(err)), SL_OK);
    }
    CU_ASSERT_EQUAL_FATAL(sl_kpl_agg_flush(agg, &out), SL_OK);
    fake_add(f, seq, out.pk, out.data, out.len);
    sl_kpl_agg_out_free(&out);
    sl_kpl_agg_destroy(agg);
}

/* Requests of op logged so far, and the i-th one's body. */
static int fake_count(fake_t *f, const char *op) {
    int n = 0;
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->nlog; i++)
        n += !strcmp(f->log[i].op, op);
    pthread_mutex_unlock(&f->lock);
    return n;
}

static const reqlog_t *fake_req(fake_t *f, const char *op, int nth) {
    const reqlog_t *r = NULL;
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->nlog && !r; i++)
        if (!strcmp(f->log[i].op, op) && nth-- == 0)
            r = &f->log[i];
    pthread_mutex_unlock(&f->lock);
    return r;
}

/* The value of an integer or string member of a logged body, for assertions. */
static json_t *req_json(const reqlog_t *r) {
    return r ? json_loads(r->body, 0, NULL) : NULL;
}

/* --- the client side ----------------------------------------------------------------------- */

static sl_err_t creds_fetch(sl_creds_provider_t *prov, void *ctx) {
    sl_creds_value_t v = {0};
    (void)ctx;
    sl_creds_value_set(&v, "AKIDKINESISTEST", "kinesis-test-secret", NULL, 0);
    sl_creds_provider_done(prov, SL_OK, &v, "ok");
    sl_creds_value_free(&v);
    return SL_OK;
}

static const sl_creds_provider_ops_t creds_ops = {creds_fetch, NULL, NULL};

#define MAX_GOT 64

typedef struct got {
    char seq[64];
    int64_t sub;
    char data[64];
    char key[64];
    char ehk[64];
    char enc[16];
    int64_t event_ms, arrival_ms;
} got_t;

typedef struct harness {
    fake_t srv;
    struct event_base *base;
    sl_http_t *http;
    sl_creds_t *creds;
    sl_aws_client_t *client;
    sl_conf_t *conf;
    sl_chain_spec_t *spec;
    sl_job_t job;
    sl_sys_t sys;
    sl_stream_t st;
    sl_input_t in;
    sl_worker_t w;
    sl_part_t *part;
    kin_conf_t kc;
    kin_start_t start;
    kin_shard_t *shard;
    int max_per_poll;
    int fail_at; /* the sink fails this record (1-based); 0 = never */
    got_t got[MAX_GOT];
    int ngot, sunk;
    int polls, eof, idle, waits;
    sl_poll_t last;
} harness_t;

static sl_err_t h_sink(void *opaque, sl_record_t *rec) {
    harness_t *h = opaque;
    const sl_source_t *src = sl_record_source(rec);
    const char *v;
    size_t len;
    const void *data = sl_record_data(rec, &len);
    got_t *g;
    if (++h->sunk == h->fail_at)
        return SL_ERR_RECORD;
    if (h->ngot >= MAX_GOT)
        return SL_OK;
    g = &h->got[h->ngot++];
    snprintf(g->seq, sizeof(g->seq), "%s", src->offset);
    g->sub = src->subseq;
    snprintf(g->data, sizeof(g->data), "%.*s", (int)len, (const char *)data);
    v = sl_record_key(rec, &len);
    snprintf(g->key, sizeof(g->key), "%.*s", (int)len, v ? v : "");
    snprintf(g->ehk, sizeof(g->ehk), "%s",
             (v = sl_record_header(rec, "kinesis.explicit-hash-key")) ? v : "");
    snprintf(g->enc, sizeof(g->enc), "%s",
             (v = sl_record_header(rec, "kinesis.encryption-type")) ? v : "");
    g->event_ms = sl_record_event_time(rec);
    g->arrival_ms = src->arrival_ms;
    return SL_OK;
}

/* The worker's poll event, reduced: poll, then poll again at once on MORE, after 20 ms on IDLE,
 * never on WAIT (the shard wakes us). */
static void h_poll(evutil_socket_t fd, short what, void *arg) {
    harness_t *h = arg;
    static const struct timeval now = {0, 0}, idle = {0, 20000};
    (void)fd;
    (void)what;
    if (!h->shard || h->eof)
        return;
    h->polls++;
    h->last = kin_shard_poll(h->shard, h->max_per_poll);
    switch (h->last) {
    case SL_POLL_MORE:
        event_add(h->part->poll_ev, &now);
        break;
    case SL_POLL_IDLE:
        h->idle++;
        event_add(h->part->poll_ev, &idle);
        break;
    case SL_POLL_EOF:
        h->eof = 1;
        break;
    case SL_POLL_WAIT:
        h->waits++;
        break;
    }
}

static int h_up(harness_t *h) {
    sl_http_opts_t ho;
    sl_aws_client_opts_t co;
    char url[64], err[256];
    memset(h, 0, sizeof(*h));
    if (fake_start(&h->srv) != 0)
        return -1;
    h->base = event_base_new();
    sl_http_opts_init(&ho);
    h->http = sl_http_new(h->base, &ho, err, sizeof(err));
    h->creds = sl_creds_new(h->base, sl_creds_provider_new(h->base, &creds_ops, NULL, "test"),
                            NULL, err, sizeof(err));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h->srv.port);
    memset(&co, 0, sizeof(co));
    co.service = "kinesis";
    co.signing_name = "kinesis";
    co.region = "us-east-1";
    co.endpoint = url;
    co.target_prefix = "Kinesis_20131202";
    co.json_version = "1.1";
    co.retry = (sl_retry_policy_t){5, 20, 2.0, 3};
    co.seed = 11;
    h->client = sl_aws_client_new(h->http, h->creds, &co, err, sizeof(err));
    /* a partition as the worker would own it, its chain empty: records go to h_sink */
    h->conf = sl_conf_new();
    h->spec = sl_chain_spec_new(h->conf, NULL, 1);
    pthread_mutex_init(&h->job.faillock, NULL);
    h->job.jc.max_inflight = 100000;
    h->sys.name = "kinesis";
    h->st.sys = &h->sys;
    h->st.name = "orders";
    h->in.job = &h->job;
    h->in.st = &h->st;
    h->w.base = h->base;
    h->w.job = &h->job;
    h->part = calloc(1, sizeof(*h->part));
    h->part->in = &h->in;
    h->part->w = &h->w;
    h->part->id = strdup("shardId-000000000001");
    h->part->pstate = SL_PART_RUNNING;
    h->part->poll_ev = event_new(h->base, -1, 0, h_poll, h);
    if (h->spec)
        h->part->chain = sl_chain_new(h->spec, h->part->id, h_sink, h, err, sizeof(err));
    /* the shard's configuration */
    h->kc.stream_name = "orders";
    h->kc.stream_arn = "";
    h->kc.max_records = 10000;
    h->kc.getrecords_interval_ms = 0; /* the 200 ms floor */
    h->kc.receive_queue = 10000;
    h->kc.getrecords = (kin_backoff_t){3, 5, 20, 2.0};
    h->kc.getiterator = (kin_backoff_t){3, 5, 20, 2.0};
    h->start.pos = KIN_POS_TRIM_HORIZON;
    h->max_per_poll = 100;
    return h->http && h->creds && h->client && h->part->chain ? 0 : -1;
}

static void h_down(harness_t *h) {
    kin_shard_close(h->shard);
    sl_chain_destroy(h->part->chain);
    h->part->chain = NULL;
    sl_part_destroy(h->part);
    sl_chain_spec_destroy(h->spec);
    sl_conf_destroy(h->conf);
    sl_aws_client_destroy(h->client);
    sl_creds_destroy(h->creds);
    sl_http_destroy(h->http);
    event_base_free(h->base);
    pthread_mutex_destroy(&h->job.faillock);
    fake_stop(&h->srv);
}

static int h_open(harness_t *h, const char *runtime_offset, int64_t runtime_sub) {
    h->shard = kin_shard_open(h->part, &h->kc, "orders", h->client, &h->start, runtime_offset,
                              runtime_sub);
    if (!h->shard)
        return -1;
    event_active(h->part->poll_ev, EV_TIMEOUT, 0); /* the worker polls right after opening */
    return 0;
}

/* Runs the loop until cond(h) or timeout_ms. */
static void h_run(harness_t *h, int (*cond)(harness_t *), int64_t timeout_ms) {
    int64_t deadline = sl_mono_ms() + timeout_ms;
    while (!cond(h) && sl_mono_ms() < deadline)
        event_base_loop(h->base, EVLOOP_ONCE);
}

static int h_eof(harness_t *h) {
    return h->eof;
}

static int h_failed(harness_t *h) {
    return h->part->errmsg[0] != '\0' && h->idle > 0;
}

static int h_never(harness_t *h) {
    (void)h;
    return 0;
}

static void fill_plain(fake_t *f, int n) {
    char seq[64], pk[16], data[16];
    for (int i = 0; i < n; i++) {
        snprintf(seq, sizeof(seq), "4959033827149025660855969253836157109592157598913658%04d",
                 (i + 1) * 10);
        snprintf(pk, sizeof(pk), "pk%d", i);
        snprintf(data, sizeof(data), "rec-%d", i);
        fake_add(f, seq, pk, data, strlen(data));
    }
}

/* --- ListShards ---------------------------------------------------------------------------- */

typedef struct listed {
    int done;
    sl_err_t err;
    char msg[512];
    kin_shard_info_t *shards;
    size_t n;
} listed_t;

static void on_listed(void *opaque, sl_err_t err, const char *msg, kin_shard_info_t **shards,
                      size_t n) {
    listed_t *l = opaque;
    l->done++;
    l->err = err;
    snprintf(l->msg, sizeof(l->msg), "%s", msg ? msg : "");
    if (shards && *shards) {
        l->shards = *shards; /* take ownership */
        *shards = NULL;
    }
    l->n = n;
}

static listed_t *l_watch;
static int h_listed(harness_t *h) {
    (void)h;
    return l_watch->done > 0;
}

#define SHARD_JSON(id, parent, start, end, seq0, seq1)                                         \
    "{\"ShardId\":\"" id "\"" parent ",\"HashKeyRange\":{\"StartingHashKey\":\"" start         \
    "\",\"EndingHashKey\":\"" end "\"},\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"" \
    seq0 "\"" seq1 "}}"

#define HALF "170141183460469231731687303715884105727"
static const char page1[] =
    "{\"Shards\":["
    SHARD_JSON("shardId-000000000000", "", "0", HALF, "4958",
               ",\"EndingSequenceNumber\":\"4960\"") ","
    SHARD_JSON("shardId-000000000001", "", "170141183460469231731687303715884105728", MAX128,
               "4958", ",\"EndingSequenceNumber\":null") "],\"NextToken\":\"tok1\"}";
static const char page2[] =
    "{\"Shards\":["
    SHARD_JSON("shardId-000000000002",
               ",\"ParentShardId\":\"shardId-000000000000\",\"AdjacentParentShardId\":null", "0",
               HALF, "4961", "") "]}";

static void test_list_shards(void) {
    harness_t h;
    listed_t l = {0};
    sl_retry_policy_t rp = {5, 20, 2.0, 3};
    json_t *b;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    h.srv.script_status[0] = 200;
    h.srv.script[0] = page1;
    h.srv.script_status[1] = 400;
    h.srv.script[1] = "{\"__type\":\"LimitExceededException\",\"message\":\"slow down\"}";
    h.srv.script_status[2] = 200;
    h.srv.script[2] = page2;
    h.srv.nscript = 3;
    l_watch = &l;
    CU_ASSERT_EQUAL(kin_list_shards(h.client, "orders", NULL, "FROM_TIMESTAMP", 1546300800500LL,
                                    &rp, on_listed, &l), SL_OK);
    CU_ASSERT_EQUAL(l.done, 0);
    h_run(&h, h_listed, 5000);
    CU_ASSERT_EQUAL_FATAL(l.done, 1);
    CU_ASSERT_EQUAL(l.err, SL_OK);
    CU_ASSERT_EQUAL_FATAL(l.n, 3);
    CU_ASSERT_STRING_EQUAL(l.shards[0].id, "shardId-000000000000");
    CU_ASSERT_PTR_NULL(l.shards[0].parent);
    CU_ASSERT_STRING_EQUAL(l.shards[0].end_hash, HALF);
    CU_ASSERT_STRING_EQUAL(l.shards[0].end_seq, "4960");
    CU_ASSERT_PTR_NULL(l.shards[1].end_seq);
    CU_ASSERT_STRING_EQUAL(l.shards[1].end_hash, MAX128);
    CU_ASSERT_STRING_EQUAL(l.shards[2].parent, "shardId-000000000000");
    CU_ASSERT_PTR_NULL(l.shards[2].adjacent_parent);
    CU_ASSERT_STRING_EQUAL(l.shards[2].start_seq, "4961");
    /* the first page names the stream and the filter; later pages only the token */
    CU_ASSERT_EQUAL(fake_count(&h.srv, "ListShards"), 3);
    b = req_json(fake_req(&h.srv, "ListShards", 0));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StreamName")), "orders");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "MaxResults")), 1000);
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_object_get(b, "ShardFilter"), "Type")),
        "FROM_TIMESTAMP");
    CU_ASSERT_DOUBLE_EQUAL(
        json_number_value(json_object_get(json_object_get(b, "ShardFilter"), "Timestamp")),
        1546300800.5, 1e-6);
    json_decref(b);
    CU_ASSERT_STRING_EQUAL(fake_req(&h.srv, "ListShards", 1)->body,
                           "{\"NextToken\":\"tok1\",\"MaxResults\":1000}");
    CU_ASSERT_STRING_EQUAL(fake_req(&h.srv, "ListShards", 2)->body,
                           "{\"NextToken\":\"tok1\",\"MaxResults\":1000}");
    kin_shard_list_free(l.shards, l.n);
    h_down(&h);
}

static void test_list_shards_expired_token(void) {
    harness_t h;
    listed_t l = {0}, l2 = {0};
    json_t *b;
    static const char expired[] = "{\"__type\":\"ExpiredNextTokenException\",\"message\":\"x\"}";
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    /* page 1, expired token, page 1 again, page 2: restarted once, no duplicates */
    h.srv.script_status[0] = 200;
    h.srv.script[0] = page1;
    h.srv.script_status[1] = 400;
    h.srv.script[1] = expired;
    h.srv.script_status[2] = 200;
    h.srv.script[2] = page1;
    h.srv.script_status[3] = 200;
    h.srv.script[3] = page2;
    /* a second listing: expired twice is an error */
    h.srv.script_status[4] = 200;
    h.srv.script[4] = page1;
    h.srv.script_status[5] = 400;
    h.srv.script[5] = expired;
    h.srv.script_status[6] = 200;
    h.srv.script[6] = page1;
    h.srv.script_status[7] = 400;
    h.srv.script[7] = expired;
    h.srv.nscript = 8;
    l_watch = &l;
    CU_ASSERT_EQUAL(kin_list_shards(h.client, NULL, "arn:aws:kinesis:us-east-1:1:stream/orders",
                                    NULL, 0, NULL, on_listed, &l), SL_OK);
    h_run(&h, h_listed, 5000);
    CU_ASSERT_EQUAL(l.err, SL_OK);
    CU_ASSERT_EQUAL(l.n, 3);
    b = req_json(fake_req(&h.srv, "ListShards", 2));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StreamARN")),
                           "arn:aws:kinesis:us-east-1:1:stream/orders");
    CU_ASSERT_PTR_NULL(json_object_get(b, "StreamName"));
    CU_ASSERT_PTR_NULL(json_object_get(b, "ShardFilter"));
    json_decref(b);
    kin_shard_list_free(l.shards, l.n);
    l_watch = &l2;
    CU_ASSERT_EQUAL(kin_list_shards(h.client, "orders", NULL, NULL, 0, NULL, on_listed, &l2),
                    SL_OK);
    h_run(&h, h_listed, 5000);
    CU_ASSERT_EQUAL(l2.err, SL_ERR_INVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(l2.msg, "ExpiredNextTokenException"));
    CU_ASSERT_PTR_NULL(l2.shards);
    h_down(&h);
}

static void test_list_shards_malformed_cancel(void) {
    harness_t h;
    listed_t l = {0}, l2 = {0};
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    h.srv.script_status[0] = 200;
    h.srv.script[0] = "{\"Shards\":[" SHARD_JSON("shardId-000000000000", "", "0", "5", "1", "")
                      ",{\"ShardId\":\"shardId-000000000001\",\"HashKeyRange\":"
                      "{\"StartingHashKey\":\"6\"},\"SequenceNumberRange\":"
                      "{\"StartingSequenceNumber\":\"1\"}}]}";
    h.srv.script_status[1] = 200;
    h.srv.script[1] = "{\"Shards\":[]}";
    h.srv.nscript = 2;
    l_watch = &l;
    kin_list_shards(h.client, "orders", NULL, NULL, 0, NULL, on_listed, &l);
    h_run(&h, h_listed, 5000);
    CU_ASSERT_EQUAL(l.err, SL_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(l.msg, "ListShards orders: malformed answer: Shards[1] "
                                  "(shardId-000000000001).HashKeyRange.EndingHashKey: missing");
    CU_ASSERT_PTR_NULL(l.shards);
    /* cancelled: never calls back */
    l_watch = &l2;
    CU_ASSERT_EQUAL(kin_list_shards(h.client, "orders", NULL, NULL, 0, NULL, on_listed, &l2),
                    SL_OK);
    kin_list_shards_cancel(h.client, &l2);
    CU_ASSERT_EQUAL(sl_aws_client_pending(h.client), 0);
    h_run(&h, h_listed, 300);
    CU_ASSERT_EQUAL(l2.done, 0);
    CU_ASSERT_EQUAL(kin_list_shards(h.client, "", NULL, NULL, 0, NULL, on_listed, &l2),
                    SL_ERR_INVAL);
    h_down(&h);
}

/* --- one shard ----------------------------------------------------------------------------- */

static void test_shard_read_to_end(void) {
    harness_t h;
    json_t *b;
    const kin_shard_info_t *children;
    size_t nch;
    int64_t sub = -1;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 5);
    h.srv.recs[3].enc = "KMS";
    h.srv.closed = 1;
    h.srv.children = "[{\"ShardId\":\"shardId-000000000007\",\"ParentShards\":"
                     "[\"shardId-000000000001\"],\"HashKeyRange\":{\"StartingHashKey\":\"0\","
                     "\"EndingHashKey\":\"9\"}}]";
    h.kc.max_records = 2;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    CU_ASSERT_PTR_NULL(kin_shard_last_delivered(h.shard, &sub));
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    CU_ASSERT_STRING_EQUAL(h.part->errmsg, "");
    CU_ASSERT_EQUAL_FATAL(h.ngot, 5);
    for (int i = 0; i < 5; i++) {
        char data[16], key[16];
        snprintf(data, sizeof(data), "rec-%d", i);
        snprintf(key, sizeof(key), "pk%d", i);
        CU_ASSERT_STRING_EQUAL(h.got[i].seq, h.srv.recs[i].seq);
        CU_ASSERT_EQUAL(h.got[i].sub, 0);
        CU_ASSERT_STRING_EQUAL(h.got[i].data, data);
        CU_ASSERT_STRING_EQUAL(h.got[i].key, key);
        CU_ASSERT_STRING_EQUAL(h.got[i].ehk, "");
        CU_ASSERT_EQUAL(h.got[i].event_ms, 1546300800250LL + i * 1000);
        CU_ASSERT_EQUAL(h.got[i].arrival_ms, 1546300800250LL + i * 1000);
    }
    CU_ASSERT_STRING_EQUAL(h.got[3].enc, "KMS");
    CU_ASSERT_STRING_EQUAL(h.got[2].enc, "");
    CU_ASSERT_TRUE(kin_shard_ended(h.shard, &children, &nch));
    CU_ASSERT_EQUAL_FATAL(nch, 1);
    CU_ASSERT_STRING_EQUAL(children[0].id, "shardId-000000000007");
    CU_ASSERT_STRING_EQUAL(kin_shard_last_delivered(h.shard, &sub), h.srv.recs[4].seq);
    CU_ASSERT_EQUAL(sub, 0);
    CU_ASSERT_EQUAL(kin_shard_millis_behind(h.shard), 0);
    CU_ASSERT_EQUAL(kin_shard_poll(h.shard, 10), SL_POLL_EOF);
    /* the requests: one iterator at TRIM_HORIZON, then GetRecords of Limit 2 at most 5/s */
    CU_ASSERT_EQUAL(fake_count(&h.srv, "GetShardIterator"), 1);
    b = req_json(fake_req(&h.srv, "GetShardIterator", 0));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "ShardIteratorType")),
                           "TRIM_HORIZON");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StreamName")), "orders");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "ShardId")),
                           "shardId-000000000001");
    json_decref(b);
    CU_ASSERT_EQUAL_FATAL(fake_count(&h.srv, "GetRecords"), 3);
    for (int i = 0; i < 3; i++) {
        b = req_json(fake_req(&h.srv, "GetRecords", i));
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "Limit")), 2);
        json_decref(b);
        if (i > 0)
            CU_ASSERT_TRUE(fake_req(&h.srv, "GetRecords", i)->at_ms -
                               fake_req(&h.srv, "GetRecords", i - 1)->at_ms >= 195);
    }
    CU_ASSERT_EQUAL(h.job.failed, 0);
    h_down(&h);
}

static void test_shard_buffer_bound(void) {
    harness_t h;
    json_t *b;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 8);
    h.srv.closed = 1;
    h.kc.max_records = 10;
    h.kc.receive_queue = 3;
    h.shard = kin_shard_open(h.part, &h.kc, "orders", h.client, &h.start, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h.shard);
    /* nobody polls: the buffer fills with 3 records and no more calls go out */
    h_run(&h, h_never, 700);
    CU_ASSERT_EQUAL(fake_count(&h.srv, "GetRecords"), 1);
    b = req_json(fake_req(&h.srv, "GetRecords", 0));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "Limit")), 3);
    json_decref(b);
    /* polling one at a time makes room one at a time */
    h.max_per_poll = 1;
    event_active(h.part->poll_ev, EV_TIMEOUT, 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    CU_ASSERT_EQUAL(h.ngot, 8);
    for (int i = 1; i < fake_count(&h.srv, "GetRecords"); i++) {
        b = req_json(fake_req(&h.srv, "GetRecords", i));
        CU_ASSERT_TRUE(json_integer_value(json_object_get(b, "Limit")) <= 3);
        json_decref(b);
    }
    h_down(&h);
}

static void test_shard_throttled(void) {
    harness_t h;
    static const char throttle[] =
        "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"Rate exceeded\"}";
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 4);
    h.srv.closed = 1;
    h.kc.max_records = 2;
    h.kc.getrecords.max_retries = 1;
    /* the first call is throttled and retried once (ok); the second gives up after 2
     * attempts, waits and tries again (a 500, retried: ok); nothing is lost, nothing fails */
    h.srv.inject[0] = (inject_t){"GetRecords", 1, 400, throttle};
    h.srv.inject[1] = (inject_t){"GetRecords", 3, 400, throttle};
    h.srv.inject[2] = (inject_t){"GetRecords", 4, 400, throttle};
    h.srv.inject[3] = (inject_t){"GetRecords", 5, 500, "{\"__type\":\"InternalFailure\"}"};
    h.srv.ninject = 4;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    CU_ASSERT_STRING_EQUAL(h.part->errmsg, "");
    CU_ASSERT_EQUAL_FATAL(h.ngot, 4);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_STRING_EQUAL(h.got[i].seq, h.srv.recs[i].seq);
    CU_ASSERT_EQUAL(fake_count(&h.srv, "GetRecords"), 6);
    CU_ASSERT_EQUAL(fake_count(&h.srv, "GetShardIterator"), 1);
    h_down(&h);
}

static void test_shard_expired_iterator(void) {
    harness_t h;
    json_t *b;
    static const char expired[] =
        "{\"__type\":\"ExpiredIteratorException\",\"message\":\"Iterator expired\"}";
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 5);
    h.srv.closed = 1;
    h.kc.max_records = 2;
    h.srv.inject[0] = (inject_t){"GetRecords", 2, 400, expired};
    h.srv.ninject = 1;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    CU_ASSERT_STRING_EQUAL(h.part->errmsg, "");
    /* each record exactly once, in order */
    CU_ASSERT_EQUAL_FATAL(h.ngot, 5);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_STRING_EQUAL(h.got[i].seq, h.srv.recs[i].seq);
    CU_ASSERT_EQUAL_FATAL(fake_count(&h.srv, "GetShardIterator"), 2);
    b = req_json(fake_req(&h.srv, "GetShardIterator", 1));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "ShardIteratorType")),
                           "AFTER_SEQUENCE_NUMBER");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StartingSequenceNumber")),
                           h.srv.recs[1].seq);
    json_decref(b);
    h_down(&h);
}

static void test_shard_expired_before_any(void) {
    harness_t h;
    json_t *b;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 3);
    h.srv.closed = 1;
    h.srv.inject[0] = (inject_t){"GetRecords", 1, 400, "{\"__type\":\"ExpiredIteratorException\"}"};
    h.srv.ninject = 1;
    h.start.checkpoint = h.srv.recs[1].seq;
    h.start.sub = 0;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    /* the original start again, and the checkpointed record itself skipped */
    CU_ASSERT_EQUAL_FATAL(fake_count(&h.srv, "GetShardIterator"), 2);
    for (int i = 0; i < 2; i++) {
        b = req_json(fake_req(&h.srv, "GetShardIterator", i));
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "ShardIteratorType")),
                               "AT_SEQUENCE_NUMBER");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StartingSequenceNumber")),
                               h.srv.recs[1].seq);
        json_decref(b);
    }
    CU_ASSERT_EQUAL_FATAL(h.ngot, 1);
    CU_ASSERT_STRING_EQUAL(h.got[0].seq, h.srv.recs[2].seq);
    h_down(&h);
}

static void test_shard_resume_in_aggregate(void) {
    harness_t h;
    json_t *b;
    int64_t sub = -1;
    static const char *const ehks[] = {"1", "2", "3", "5", "8"};
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fake_add(&h.srv, "100", "p", "a", 1);
    fake_add_agg(&h.srv, "200", "u", 5, ehks);
    fake_add(&h.srv, "300", "q", "z", 1);
    h.srv.closed = 1;
    h.start.checkpoint = "200";
    h.start.sub = 2;
    h.max_per_poll = 1; /* a poll stops inside the aggregate and goes on from there */
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    b = req_json(fake_req(&h.srv, "GetShardIterator", 0));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "ShardIteratorType")),
                           "AT_SEQUENCE_NUMBER");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StartingSequenceNumber")),
                           "200");
    json_decref(b);
    CU_ASSERT_EQUAL_FATAL(h.ngot, 3);
    CU_ASSERT_STRING_EQUAL(h.got[0].seq, "200");
    CU_ASSERT_EQUAL(h.got[0].sub, 3);
    CU_ASSERT_STRING_EQUAL(h.got[0].data, "u3");
    CU_ASSERT_STRING_EQUAL(h.got[0].key, "k3");
    CU_ASSERT_STRING_EQUAL(h.got[0].ehk, "5");
    CU_ASSERT_EQUAL(h.got[1].sub, 4);
    CU_ASSERT_STRING_EQUAL(h.got[1].data, "u4");
    CU_ASSERT_STRING_EQUAL(h.got[1].ehk, "8");
    CU_ASSERT_STRING_EQUAL(h.got[2].seq, "300");
    CU_ASSERT_EQUAL(h.got[2].sub, 0);
    CU_ASSERT_STRING_EQUAL(h.got[2].data, "z");
    CU_ASSERT_STRING_EQUAL(h.got[2].ehk, "");
    CU_ASSERT_STRING_EQUAL(kin_shard_last_delivered(h.shard, &sub), "300");
    CU_ASSERT_EQUAL(sub, 0);
    CU_ASSERT_TRUE(h.polls >= 3);
    h_down(&h);
}

static void test_shard_runtime_offset(void) {
    harness_t h;
    json_t *b;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fake_add(&h.srv, "100", "p", "a", 1);
    fake_add_agg(&h.srv, "200", "u", 3, NULL);
    fake_add(&h.srv, "300", "q", "z", 1);
    h.srv.closed = 1;
    h.start.checkpoint = "300"; /* the lease table is behind the runtime's own store */
    h.start.use_runtime_offset = 1;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, "100", 0), 0);
    h_run(&h, h_eof, 5000);
    b = req_json(fake_req(&h.srv, "GetShardIterator", 0));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StartingSequenceNumber")),
                           "100");
    json_decref(b);
    CU_ASSERT_EQUAL_FATAL(h.ngot, 4);
    CU_ASSERT_STRING_EQUAL(h.got[0].data, "u0");
    CU_ASSERT_EQUAL(h.got[0].sub, 0);
    CU_ASSERT_STRING_EQUAL(h.got[2].data, "u2");
    CU_ASSERT_EQUAL(h.got[2].sub, 2);
    CU_ASSERT_STRING_EQUAL(h.got[3].data, "z");
    h_down(&h);
}

static void test_shard_hash_range(void) {
    harness_t h;
    static const char *const in_range[] = {"1", "2"}, *const out_range[] = {"5", "500"};
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fake_add_agg(&h.srv, "100", "in", 2, in_range);
    fake_add_agg(&h.srv, "200", "out", 2, out_range);
    fake_add(&h.srv, "300", "plain-key-anywhere", "p", 1);
    h.srv.closed = 1;
    h.start.start_hash = "0";
    h.start.end_hash = "100";
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    /* the aggregate with a key outside the range is dropped whole; plain records never */
    CU_ASSERT_EQUAL_FATAL(h.ngot, 3);
    CU_ASSERT_STRING_EQUAL(h.got[0].data, "in0");
    CU_ASSERT_STRING_EQUAL(h.got[1].data, "in1");
    CU_ASSERT_STRING_EQUAL(h.got[2].data, "p");
    h_down(&h);
}

static void test_shard_end_checkpoint(void) {
    harness_t h;
    const kin_shard_info_t *children = (const kin_shard_info_t *)1;
    size_t n = 9;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 2);
    h.start.checkpoint = "SHARD_END";
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 2000);
    CU_ASSERT_TRUE(h.eof);
    CU_ASSERT_TRUE(kin_shard_ended(h.shard, &children, &n));
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(h.ngot, 0);
    CU_ASSERT_EQUAL(h.srv.nlog, 0);
    h_down(&h);
}

static void test_shard_expired_shard(void) {
    harness_t h;
    size_t n = 9;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 2);
    h.srv.inject[0] = (inject_t){"GetShardIterator", 1, 400,
                                 "{\"__type\":\"ResourceNotFoundException\",\"message\":"
                                 "\"Shard shardId-000000000001 in stream orders does not exist\"}"};
    h.srv.ninject = 1;
    h.start.pos = KIN_POS_AT_TIMESTAMP;
    h.start.ts_ms = 1546300801500LL;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 2000);
    CU_ASSERT_TRUE(h.eof);
    CU_ASSERT_STRING_EQUAL(h.part->errmsg, "");
    CU_ASSERT_TRUE(kin_shard_ended(h.shard, NULL, &n));
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(fake_count(&h.srv, "GetRecords"), 0);
    h_down(&h);
}

static void test_shard_at_timestamp(void) {
    harness_t h;
    json_t *b;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 4);
    h.srv.closed = 1;
    h.start.pos = KIN_POS_AT_TIMESTAMP;
    h.start.ts_ms = 1546300801500LL; /* between records 1 and 2 */
    h.kc.stream_arn = "arn:aws:kinesis:us-east-1:1:stream/orders";
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 5000);
    b = req_json(fake_req(&h.srv, "GetShardIterator", 0));
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "ShardIteratorType")),
                           "AT_TIMESTAMP");
    CU_ASSERT_DOUBLE_EQUAL(json_number_value(json_object_get(b, "Timestamp")), 1546300801.5,
                           1e-6);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StreamARN")),
                           "arn:aws:kinesis:us-east-1:1:stream/orders");
    CU_ASSERT_PTR_NULL(json_object_get(b, "StreamName"));
    json_decref(b);
    CU_ASSERT_EQUAL_FATAL(h.ngot, 2);
    CU_ASSERT_STRING_EQUAL(h.got[0].seq, h.srv.recs[2].seq);
    h_down(&h);
}

static void test_shard_fatal(void) {
    harness_t h;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 3);
    h.srv.inject[0] = (inject_t){"GetRecords", 1, 400,
                                 "{\"__type\":\"AccessDeniedException\",\"message\":\"User x "
                                 "is not authorized to perform: kinesis:GetRecords\"}"};
    h.srv.ninject = 1;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_failed, 3000);
    CU_ASSERT_EQUAL(h.last, SL_POLL_IDLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(h.part->errmsg, "kinesis/orders/shardId-000000000001: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(h.part->errmsg, "GetRecords: AccessDeniedException: User x"));
    CU_ASSERT_EQUAL(h.ngot, 0);
    h_run(&h, h_never, 300);
    CU_ASSERT_EQUAL(fake_count(&h.srv, "GetRecords"), 1); /* stopped */
    h_down(&h);
}

static void test_shard_malformed_answer(void) {
    harness_t h;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 3);
    h.srv.inject[0] = (inject_t){"GetRecords", 1, 200,
                                 "{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"\","
                                 "\"ApproximateArrivalTimestamp\":1}],"
                                 "\"NextShardIterator\":\"x\"}"};
    h.srv.ninject = 1;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_failed, 3000);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(h.part->errmsg, "GetRecords: malformed answer: Records[0].PartitionKey: missing"));
    CU_ASSERT_EQUAL(h.ngot, 0);
    h_down(&h);
}

static void test_shard_bad_checkpoint(void) {
    harness_t h;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    h.start.checkpoint = "12x";
    CU_ASSERT_EQUAL(h_open(&h, NULL, 0), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(h.part->errmsg, "checkpoint '12x' is neither"));
    h.part->errmsg[0] = '\0';
    h.start.checkpoint = NULL;
    h.start.start_hash = "5";
    h.start.end_hash = "4";
    CU_ASSERT_EQUAL(h_open(&h, NULL, 0), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(h.part->errmsg, "malformed hash key range 5..4"));
    h_down(&h);
}

static void test_shard_delivery_fails(void) {
    harness_t h;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 5);
    h.srv.closed = 1;
    h.fail_at = 2;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_failed, 3000);
    CU_ASSERT_EQUAL(h.last, SL_POLL_IDLE);
    CU_ASSERT_EQUAL(h.sunk, 2); /* nothing after the failed record */
    CU_ASSERT_EQUAL(h.job.failed, 1);
    CU_ASSERT_STRING_EQUAL(kin_shard_last_delivered(h.shard, NULL), h.srv.recs[0].seq);
    CU_ASSERT_EQUAL(kin_shard_poll(h.shard, 10), SL_POLL_IDLE);
    CU_ASSERT_EQUAL(h.sunk, 2);
    h_down(&h);
}

static int h_three_calls(harness_t *h) {
    return fake_count(&h->srv, "GetRecords") >= 3;
}

static void test_shard_adaptive(void) {
    harness_t h;
    json_t *b;
    char seq[16], big[1000];
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 6; i++) {
        snprintf(seq, sizeof(seq), "%d", 100 + i);
        fake_add(&h.srv, seq, "k", big, sizeof(big));
    }
    h.kc.max_records = 2;
    h.kc.adaptive_reads = 1;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_three_calls, 5000);
    CU_ASSERT_EQUAL_FATAL(fake_count(&h.srv, "GetRecords"), 3);
    /* 2 MiB/s at ~1000 bytes per record and one call per ~200 ms: ~420 records */
    b = req_json(fake_req(&h.srv, "GetRecords", 2));
    CU_ASSERT_TRUE(json_integer_value(json_object_get(b, "Limit")) >= 300);
    CU_ASSERT_TRUE(json_integer_value(json_object_get(b, "Limit")) <= 1100);
    json_decref(b);
    h_down(&h);
}

void test_kinesis_api_register(void) {
    static const unit_test_t tests[] = {
        {"seq_cmp", test_seq_cmp},
        {"parse_time", test_parse_time},
        {"records_plain", test_records_plain},
        {"records_kpl", test_records_kpl},
        {"records_closed", test_records_closed},
        {"records_malformed", test_records_malformed},
        {"list_shards", test_list_shards},
        {"list_shards_expired_token", test_list_shards_expired_token},
        {"list_shards_malformed_cancel", test_list_shards_malformed_cancel},
        {"shard_read_to_end", test_shard_read_to_end},
        {"shard_buffer_bound", test_shard_buffer_bound},
        {"shard_throttled", test_shard_throttled},
        {"shard_expired_iterator", test_shard_expired_iterator},
        {"shard_expired_before_any", test_shard_expired_before_any},
        {"shard_resume_in_aggregate", test_shard_resume_in_aggregate},
        {"shard_runtime_offset", test_shard_runtime_offset},
        {"shard_hash_range", test_shard_hash_range},
        {"shard_end_checkpoint", test_shard_end_checkpoint},
        {"shard_expired_shard", test_shard_expired_shard},
        {"shard_at_timestamp", test_shard_at_timestamp},
        {"shard_fatal", test_shard_fatal},
        {"shard_malformed_answer", test_shard_malformed_answer},
        {"shard_bad_checkpoint", test_shard_bad_checkpoint},
        {"shard_delivery_fails", test_shard_delivery_fails},
        {"shard_adaptive", test_shard_adaptive},
        {NULL, NULL},
    };
    unit_add_suite("kinesis_api", tests);
}
