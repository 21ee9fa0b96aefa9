/*
 * test_kinesis_api.c: the Kinesis consumer's API layer and shard reader
 * (connectors/kinesis/kinesis_seq.c, kinesis_datefmt.c, kinesis_shards.c,
 * kinesis_getrecords.c, kinesis_shard.c). Pure parts first: sequence-number order,
 * start timestamps in Flink's and the KCL's forms, strict GetRecords parsing on canned answers
 * (plain, KPL aggregates built with the aggregator, closed shards, every malformed field).
 * Then calls against a fake Kinesis, a shard answering through tests/unit/fake_aws.c: ListShards
 * pages, an expired NextToken, throttling, cancelling; and a shard read through a hand-built
 * partition whose operator chain is empty, so every delivered record lands in this file's sink:
 * reading to the end, rate limit and buffer bound, throttling and giving up, expired iterators,
 * resuming inside an aggregate, hash-range filtering, SHARD_END, an expired shard, fatal errors.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "../../connectors/kinesis/kinesis.h"
#include "fake_aws.h"
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
    kpl_agg_t *agg = kpl_agg_new(0, 0, 0);
    kpl_agg_out_t out;
    kpl_deagg_t *da = kpl_deagg_new();
    kpl_subrec_t sub;
    kin_records_t r;
    char err[256], *json, *data64;
    const char *base;
    size_t jlen;

    CU_ASSERT_EQUAL(kpl_agg_add(agg, "a", NULL, "one", 3, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "b", "123", "two", 3, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "c", NULL, "three", 5, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL_FATAL(kpl_agg_flush(agg, &out), SL_OK);
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
    CU_ASSERT_EQUAL(kpl_deagg_load(da, base + r.recs[1].off, r.recs[1].len, r.recs[1].pk,
                                   NULL, NULL), SL_OK);
    CU_ASSERT_EQUAL(kpl_deagg_count(da), 3);
    CU_ASSERT_TRUE(kpl_deagg_next(da, &sub));
    CU_ASSERT_EQUAL(sub.data_len, 3);
    CU_ASSERT_EQUAL(memcmp(sub.data, "one", 3), 0);
    CU_ASSERT_TRUE((const char *)sub.data >= base && (const char *)sub.data < base + 2 + out.len);
    CU_ASSERT_TRUE(kpl_deagg_next(da, &sub));
    CU_ASSERT_EQUAL(sub.subseq, 1);
    CU_ASSERT_EQUAL(sub.ehk_len, 3);
    CU_ASSERT_EQUAL(memcmp(sub.ehk, "123", 3), 0);
    CU_ASSERT_TRUE(kpl_deagg_next(da, &sub));
    CU_ASSERT_EQUAL(sub.pk_len, 1);
    CU_ASSERT_EQUAL(sub.pk[0], 'c');
    CU_ASSERT_FALSE(kpl_deagg_next(da, &sub));
    kin_records_free(&r);
    free(json);
    free(data64);
    kpl_agg_out_free(&out);
    kpl_agg_destroy(agg);
    kpl_deagg_destroy(da);
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

/* --- the scanner against the reference parser --------------------------------------------- */

static int str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Where two parse results differ (records, offsets, strings and their places in the arena,
 * buffer bytes, iterator, millis, children), or NULL when they are the same. */
static const char *records_diff(const kin_records_t *a, const kin_records_t *b) {
    if (a->n != b->n)
        return "record count";
    if (!a->buf != !b->buf || (!a->strings != !b->strings))
        return "buffer or arena presence";
    if (a->buf && (sl_buf_len(a->buf) != sl_buf_len(b->buf) ||
                   memcmp(sl_buf_data(a->buf), sl_buf_data(b->buf), sl_buf_len(a->buf))))
        return "buffer bytes";
    for (size_t i = 0; i < a->n; i++) {
        const kin_record_t *x = &a->recs[i], *y = &b->recs[i];
        int xin, yin;
        if (strcmp(x->seq, y->seq) || x->seq - a->strings != y->seq - b->strings)
            return "SequenceNumber";
        if (x->pklen != y->pklen || memcmp(x->pk, y->pk, x->pklen + 1) ||
            x->pk - a->strings != y->pk - b->strings)
            return "PartitionKey";
        if (x->off != y->off || x->len != y->len)
            return "data offset or length";
        if (x->arrival_ms != y->arrival_ms)
            return "ApproximateArrivalTimestamp";
        if (!str_eq(x->encryption, y->encryption))
            return "EncryptionType";
        xin = x->encryption && x->encryption >= a->strings && x->encryption < x->pk;
        yin = y->encryption && y->encryption >= b->strings && y->encryption < y->pk;
        if (x->encryption && (xin != yin ||
                              (xin && x->encryption - a->strings != y->encryption - b->strings)))
            xin = -1;
        if (xin < 0)
            return "EncryptionType storage";
    }
    if (!str_eq(a->next_iterator, b->next_iterator))
        return "NextShardIterator";
    if (a->millis_behind != b->millis_behind)
        return "MillisBehindLatest";
    if (a->n_children != b->n_children)
        return "ChildShards count";
    for (size_t i = 0; i < a->n_children; i++) {
        const kin_shard_info_t *x = &a->children[i], *y = &b->children[i];
        if (!str_eq(x->id, y->id) || !str_eq(x->parent, y->parent) ||
            !str_eq(x->adjacent_parent, y->adjacent_parent) ||
            !str_eq(x->start_hash, y->start_hash) || !str_eq(x->end_hash, y->end_hash) ||
            !str_eq(x->start_seq, y->start_seq) || !str_eq(x->end_seq, y->end_seq))
            return "ChildShards member";
    }
    return NULL;
}

enum { DIFF_OK = 0, DIFF_INVAL = 1, DIFF_SYNTAX = 2, DIFF_MISMATCH = -1 };

/* Runs both parsers on doc[0..len): the reference behind json_loadb() and the scanner. Returns
 * DIFF_OK (both parsed, identically), DIFF_INVAL (both refused with the same message),
 * DIFF_SYNTAX (jansson refused it and so did the scanner) or DIFF_MISMATCH (said on stderr). */
static int diff_one(const char *doc, size_t len) {
    json_error_t jerr;
    json_t *j = json_loadb(doc, len, 0, &jerr);
    kin_records_t a, b;
    char ea[512] = "", eb[512] = "";
    const char *why = NULL;
    sl_err_t ra = j ? kin_parse_get_records(j, &a, ea, sizeof(ea)) : SL_ERR_INVAL;
    sl_err_t rb = kin_scan_get_records(doc, len, &b, eb, sizeof(eb));
    int rc;
    if (!j) {
        snprintf(ea, sizeof(ea), "jansson: %s", jerr.text);
        rc = DIFF_SYNTAX;
        if (rb != SL_ERR_INVAL || !strstr(eb, "malformed JSON at byte "))
            why = "jansson refused, the scanner did not";
    } else if (ra != rb) {
        why = "result codes";
    } else if (ra == SL_OK) {
        why = records_diff(&a, &b);
        rc = DIFF_OK;
    } else {
        rc = DIFF_INVAL;
        if (strcmp(ea, eb))
            why = "error messages";
        if (b.recs || b.buf || b.children || b.next_iterator || b.strings || b.n)
            why = "left-overs after an error";
    }
    if (j && ra == SL_OK)
        kin_records_free(&a);
    if (rb == SL_OK)
        kin_records_free(&b);
    json_decref(j);
    if (!why)
        return rc;
    fprintf(stderr, "\nscanner and reference differ (%s) on %zu bytes: '%.*s%s'\n"
            "  reference: %d %s\n  scanner:   %d %s\n", why, len, (int)(len < 400 ? len : 400),
            doc, len < 400 ? "" : "...", ra, ea, rb, eb);
    return DIFF_MISMATCH;
}

/* A generator of GetRecords answers in every shape the JSON grammar allows. */
typedef struct gen {
    uint64_t rng;
    sl_sb_t sb;
    int escapes; /* 0..3: how eagerly strings are written with escapes */
    int spaces;  /* 0..3: how much whitespace goes between tokens */
} gen_t;

static unsigned rnd(gen_t *g, unsigned n) {
    return (unsigned)(sl_rand_next(&g->rng) % n);
}

static void g_ws(gen_t *g) {
    static const char ws[] = " \t\n\r";
    if (!g->spaces || rnd(g, 4) >= (unsigned)g->spaces)
        return;
    for (unsigned i = rnd(g, 4) + 1; i; i--)
        sl_sb_putc(&g->sb, ws[rnd(g, 4)]);
}

static void g_u(gen_t *g, unsigned u) {
    sl_sb_printf(&g->sb, rnd(g, 2) ? "\\u%04x" : "\\u%04X", u);
}

/* s[0..n) (valid UTF-8) as a JSON string, escaped as g->escapes asks (and as JSON needs). */
static void g_str(gen_t *g, const char *s, size_t n) {
    sl_sb_putc(&g->sb, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        int esc = g->escapes && rnd(g, 8) < (unsigned)g->escapes;
        if (c == '"' || c == '\\' || c < 0x20 || (esc && c < 0x80)) {
            static const char short_esc[] = "\"\\/\b\f\n\r\t", short_ch[] = "\"\\/bfnrt";
            const char *k = c ? strchr(short_esc, c) : NULL;
            if (k && rnd(g, 2))
                sl_sb_printf(&g->sb, "\\%c", short_ch[k - short_esc]);
            else
                g_u(g, c);
        } else if (esc) {
            uint32_t u = len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
            for (size_t k = 1; k < len; k++)
                u = u << 6 | ((unsigned char)s[i + k] & 0x3fu);
            if (u >= 0x10000) {
                g_u(g, 0xd800 + ((u - 0x10000) >> 10));
                g_u(g, 0xdc00 + ((u - 0x10000) & 0x3ff));
            } else {
                g_u(g, u);
            }
        } else {
            sl_sb_append(&g->sb, s + i, len);
        }
        i += len;
    }
    sl_sb_putc(&g->sb, '"');
}

static void g_cstr(gen_t *g, const char *s) {
    g_str(g, s, strlen(s));
}

/* A text of up to max pieces: ASCII, 2-, 3- and 4-byte UTF-8, and characters JSON escapes. */
static void g_text(gen_t *g, char *buf, size_t max) {
    static const char *const pieces[] = {"a", "Z", "0", "7", "-", "_", " ", "/", "\"", "\\",
                                         "\n", "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9",
                                         "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf"};
    size_t n = rnd(g, (unsigned)max + 1), len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[rnd(g, sizeof(pieces) / sizeof(pieces[0]))];
        memcpy(buf + len, p, strlen(p));
        len += strlen(p);
    }
    buf[len] = '\0';
}

static void g_number(gen_t *g) {
    switch (rnd(g, 8)) {
    case 0: sl_sb_printf(&g->sb, "%d", (int)rnd(g, 2000000) - 1000000); break;
    case 1: sl_sb_puts(&g->sb, rnd(g, 2) ? "9223372036854775807" : "-9223372036854775808"); break;
    case 2: sl_sb_printf(&g->sb, "%u.%03u", rnd(g, 100000), rnd(g, 1000)); break;
    case 3: sl_sb_printf(&g->sb, "-%u.%ue%s%u", rnd(g, 10), rnd(g, 1000), rnd(g, 2) ? "-" : "+",
                         rnd(g, 300)); break;
    case 4: sl_sb_puts(&g->sb, rnd(g, 2) ? "1e-400" : "-0"); break;
    case 5: sl_sb_printf(&g->sb, "%uE%u", rnd(g, 10), rnd(g, 30)); break;
    case 6: sl_sb_puts(&g->sb, "0.000000000000000000000000000000000000000000000001"); break;
    default: sl_sb_puts(&g->sb, "0"); break;
    }
}

/* Any JSON value, nested at most depth more levels. */
static void g_any(gen_t *g, int depth) {
    char text[64];
    unsigned kind = rnd(g, depth > 0 ? 8 : 6);
    switch (kind) {
    case 0: sl_sb_puts(&g->sb, "true"); break;
    case 1: sl_sb_puts(&g->sb, "false"); break;
    case 2: sl_sb_puts(&g->sb, "null"); break;
    case 3: g_number(g); break;
    case 4:
    case 5:
        g_text(g, text, 12);
        g_cstr(g, text);
        break;
    default: {
        int obj = kind == 6;
        unsigned n = rnd(g, 4);
        sl_sb_putc(&g->sb, obj ? '{' : '[');
        g_ws(g);
        for (unsigned i = 0; i < n; i++) {
            if (i) {
                sl_sb_putc(&g->sb, ',');
                g_ws(g);
            }
            if (obj) {
                g_text(g, text, 6);
                g_cstr(g, text);
                g_ws(g);
                sl_sb_putc(&g->sb, ':');
                g_ws(g);
            }
            g_any(g, depth - 1);
            g_ws(g);
        }
        sl_sb_putc(&g->sb, obj ? '}' : ']');
        break;
    }
    }
}

/* The members of an object, in a random order: each is a key and a function writing its value
 * (NULL: an arbitrary value). */
typedef struct member {
    const char *key;
    void (*put)(gen_t *g, void *arg);
    void *arg;
} member_t;

static void g_object(gen_t *g, member_t *m, size_t n) {
    char text[64];
    for (size_t i = n; i > 1; i--) { /* shuffle */
        size_t j = rnd(g, (unsigned)i);
        member_t t = m[i - 1];
        m[i - 1] = m[j];
        m[j] = t;
    }
    sl_sb_putc(&g->sb, '{');
    g_ws(g);
    for (size_t i = 0; i < n; i++) {
        if (i) {
            sl_sb_putc(&g->sb, ',');
            g_ws(g);
        }
        if (m[i].key) {
            g_cstr(g, m[i].key);
        } else {
            g_text(g, text, 6);
            g_cstr(g, text);
        }
        g_ws(g);
        sl_sb_putc(&g->sb, ':');
        g_ws(g);
        if (m[i].put)
            m[i].put(g, m[i].arg);
        else
            g_any(g, 3);
        g_ws(g);
    }
    sl_sb_putc(&g->sb, '}');
}

static void put_str(gen_t *g, void *arg) {
    g_cstr(g, arg);
}

static void put_raw(gen_t *g, void *arg) {
    sl_sb_puts(&g->sb, arg);
}

/* ApproximateArrivalTimestamp in the forms JSON writers use. */
static void put_ts(gen_t *g, void *arg) {
    uint64_t ms = 1500000000000ULL + rnd(g, 400000000) * 1000ULL + rnd(g, 1000);
    (void)arg;
    switch (rnd(g, 7)) {
    case 0: sl_sb_printf(&g->sb, "%llu", (unsigned long long)(ms / 1000)); break;
    case 1: sl_sb_printf(&g->sb, "%llu.%03u", (unsigned long long)(ms / 1000),
                         (unsigned)(ms % 1000)); break;
    case 2: sl_sb_printf(&g->sb, "%.12E", (double)ms / 1000.0); break;
    case 3: sl_sb_printf(&g->sb, "%.9e", (double)ms / 1000.0); break;
    case 4: sl_sb_printf(&g->sb, "%llue-3", (unsigned long long)ms); break;
    case 5: sl_sb_printf(&g->sb, "%llu.5", (unsigned long long)(ms / 1000)); break;
    default: sl_sb_printf(&g->sb, "0.%04u", rnd(g, 10000)); break;
    }
}

typedef struct grec {
    char seq[64], pk[160], enc[16];
    char *data64;
    int has_enc;
} grec_t;

static void put_rec(gen_t *g, void *arg) {
    grec_t *r = arg;
    member_t m[8];
    size_t n = 0;
    m[n++] = (member_t){"SequenceNumber", put_str, r->seq};
    m[n++] = (member_t){"PartitionKey", put_str, r->pk};
    m[n++] = (member_t){"Data", put_str, r->data64};
    m[n++] = (member_t){"ApproximateArrivalTimestamp", put_ts, NULL};
    if (r->has_enc)
        m[n++] = (member_t){"EncryptionType", r->has_enc == 2 ? put_raw : put_str,
                            r->has_enc == 2 ? "null" : r->enc};
    if (!rnd(g, 4))
        m[n++] = (member_t){NULL, NULL, NULL}; /* an unknown field */
    if (!rnd(g, 16)) /* a repeated key: the last one wins */
        m[n++] = (member_t){"Data", put_raw, "\"SGVsbG8=\""};
    g_object(g, m, n);
}

typedef struct grecs {
    grec_t *recs;
    size_t n;
} grecs_t;

static void put_recs(gen_t *g, void *arg) {
    grecs_t *rs = arg;
    sl_sb_putc(&g->sb, '[');
    g_ws(g);
    for (size_t i = 0; i < rs->n; i++) {
        if (i) {
            sl_sb_putc(&g->sb, ',');
            g_ws(g);
        }
        put_rec(g, &rs->recs[i]);
        g_ws(g);
    }
    sl_sb_putc(&g->sb, ']');
}

static void put_range(gen_t *g, void *arg) {
    member_t h[2] = {{"StartingHashKey", put_str, "0"}, {"EndingHashKey", put_str, MAX128}};
    (void)arg;
    g_object(g, h, 2);
}

static void put_children(gen_t *g, void *arg) {
    unsigned n = rnd(g, 3);
    (void)arg;
    sl_sb_putc(&g->sb, '[');
    for (unsigned i = 0; i < n; i++) {
        char id[32];
        member_t m[4];
        snprintf(id, sizeof(id), "shardId-%012u", rnd(g, 1000));
        if (i)
            sl_sb_putc(&g->sb, ',');
        m[0] = (member_t){"ShardId", put_str, id};
        m[1] = (member_t){"ParentShards", put_raw,
                          rnd(g, 2) ? "[\"shardId-000000000000\",\"shardId-000000000001\"]"
                                    : "[\"shardId-000000000000\"]"};
        m[2] = (member_t){"HashKeyRange", put_range, NULL};
        m[3] = (member_t){NULL, NULL, NULL};
        g_object(g, m, 3 + rnd(g, 2));
    }
    sl_sb_putc(&g->sb, ']');
}

/* Replaces the value of the first key k in the document with v (a semantic fault). */
static void g_replace_value(sl_sb_t *sb, const char *k, const char *v) {
    char pat[64], *at, *end;
    int depth = 0, in_str = 0;
    snprintf(pat, sizeof(pat), "\"%s\":", k);
    if (!(at = strstr(sb->buf, pat)))
        return;
    at += strlen(pat);
    for (end = at; *end; end++) {
        if (in_str) {
            if (*end == '\\')
                end++;
            else if (*end == '"')
                in_str = 0;
            continue;
        }
        if (*end == '"')
            in_str = 1;
        else if (*end == '{' || *end == '[')
            depth++;
        else if (*end == '}' || *end == ']') {
            if (!depth)
                break;
            depth--;
        } else if (*end == ',' && !depth)
            break;
    }
    sl_sb_t out = {0};
    sl_sb_append(&out, sb->buf, (size_t)(at - sb->buf));
    sl_sb_puts(&out, v);
    sl_sb_puts(&out, end);
    sl_sb_free(sb);
    *sb = out;
}

/* One answer: count records of random shapes (data of 0..300 bytes, binary, or a KPL
 * aggregate), optional iterator, millis, children and unknown fields, written with random key
 * order, whitespace and escapes; fault > 0 then breaks one field's meaning. */
static void g_answer(gen_t *g, size_t count, const kpl_agg_out_t *kpl, int fault) {
    grecs_t rs = {calloc(count ? count : 1, sizeof(grec_t)), count};
    member_t m[8];
    size_t n = 0;
    char it[200];
    uint8_t data[300];
    for (size_t i = 0; i < count; i++) {
        grec_t *r = &rs.recs[i];
        size_t dlen;
        int len = snprintf(r->seq, sizeof(r->seq), "4959033827149025660855969253836157109592%04u",
                           rnd(g, 10000));
        (void)len;
        g_text(g, r->pk, 30);
        switch (rnd(g, 8)) {
        case 0: dlen = 0; break;
        case 1: dlen = 1 + rnd(g, 3); break;
        case 2: dlen = 100; break;
        default: dlen = rnd(g, sizeof(data) + 1); break;
        }
        for (size_t k = 0; k < dlen; k++)
            data[k] = (uint8_t)rnd(g, 256);
        if (kpl && !rnd(g, 4))
            r->data64 = b64(kpl->data, kpl->len);
        else
            r->data64 = b64(data, dlen);
        r->has_enc = (int)rnd(g, 4);
        snprintf(r->enc, sizeof(r->enc), "%s", rnd(g, 3) == 0 ? "NONE" : rnd(g, 2) ? "KMS" : "AES");
    }
    m[n++] = (member_t){"Records", put_recs, &rs};
    switch (rnd(g, 4)) {
    case 0: break;
    case 1: m[n++] = (member_t){"NextShardIterator", put_raw, "null"}; break;
    default:
        g_text(g, it, 40);
        if (!*it)
            snprintf(it, sizeof(it), "AAAAAAAAAAH/+=");
        m[n++] = (member_t){"NextShardIterator", put_str, it};
        break;
    }
    if (rnd(g, 4))
        m[n++] = (member_t){"MillisBehindLatest", put_raw, rnd(g, 2) ? "0" : "86400000"};
    if (!rnd(g, 4))
        m[n++] = (member_t){"ChildShards", put_children, NULL};
    for (unsigned k = rnd(g, 3); k; k--)
        m[n++] = (member_t){NULL, NULL, NULL};
    g_ws(g);
    g_object(g, m, n);
    g_ws(g);
    if (fault) {
        static const struct {
            const char *key, *value;
        } faults[] = {
            {"SequenceNumber", "5"}, {"SequenceNumber", "\"12a\""}, {"SequenceNumber", "null"},
            {"SequenceNumber", "\"\""}, {"PartitionKey", "[]"}, {"PartitionKey", "null"},
            {"Data", "\"aGVsbG8\""}, {"Data", "\"aGVs!G8=\""}, {"Data", "\"YQ==YQ==\""},
            {"Data", "\"\\u00e9AAA\""}, {"Data", "{}"}, {"Data", "\"A===\""},
            {"Data", "\"AB\\u003d=\""}, {"ApproximateArrivalTimestamp", "\"1\""},
            {"ApproximateArrivalTimestamp", "null"}, {"ApproximateArrivalTimestamp", "true"},
            {"ApproximateArrivalTimestamp", "1e300"}, {"ApproximateArrivalTimestamp", "-1.5"},
            {"ApproximateArrivalTimestamp", "9223372036854775807"},
            {"EncryptionType", "5"}, {"EncryptionType", "\"K\\u004dS\""},
            {"NextShardIterator", "\"\""}, {"NextShardIterator", "7"},
            {"MillisBehindLatest", "-1"}, {"MillisBehindLatest", "1.0"},
            {"MillisBehindLatest", "\"5\""}, {"ChildShards", "{}"}, {"ChildShards", "[5]"},
            {"ChildShards", "[{\"ShardId\":\"\",\"ParentShards\":[]}]"},
            {"ChildShards", "[{\"ShardId\":\"s\",\"ParentShards\":[\"a\",\"b\",\"c\"]}]"},
            {"Records", "null"}, {"Records", "{}"}, {"Records", "[[]]"}, {"Records", "[{}]"},
        };
        size_t f = rnd(g, sizeof(faults) / sizeof(faults[0]));
        g_replace_value(&g->sb, faults[f].key, faults[f].value);
    }
    for (size_t i = 0; i < count; i++)
        free(rs.recs[i].data64);
    free(rs.recs);
}

static void test_scan_differential(void) {
    gen_t g = {.rng = 0x5eed};
    kpl_agg_t *agg = kpl_agg_new(0, 0, 0);
    kpl_agg_out_t kpl;
    char err[256];
    int counts[3] = {0, 0, 0}, mismatches = 0;
    static const uint8_t bytes[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', '9', 'e',
                                    '.', '-', 'u', 'n', ' ', 0x00, 0x1f, 0x7f, 0x80, 0xc3,
                                    0xed, 0xf4, 0xff, '/', '+', '='};
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "a", NULL, "one", 3, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(kpl_agg_add(agg, "b", "123", "two", 3, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL_FATAL(kpl_agg_flush(agg, &kpl), SL_OK);
    for (int iter = 0; iter < 1500; iter++) {
        size_t count = iter % 10 == 0 ? 0 : rnd(&g, iter % 25 == 1 ? 120 : 10);
        int rc;
        g.escapes = (int)rnd(&g, 4);
        g.spaces = (int)rnd(&g, 4);
        sl_sb_reset(&g.sb);
        g_answer(&g, count, &kpl, iter % 2);
        CU_ASSERT_FALSE_FATAL(g.sb.oom);
        rc = diff_one(g.sb.buf, g.sb.len);
        if (rc == DIFF_MISMATCH)
            mismatches++;
        else
            counts[rc]++;
        /* the same answer with a few bytes changed, cut or inserted */
        if (iter % 2 == 0 && g.sb.len) {
            for (unsigned k = rnd(&g, 3) + 1; k; k--) {
                size_t at = rnd(&g, (unsigned)g.sb.len);
                uint8_t b = bytes[rnd(&g, sizeof(bytes))];
                switch (rnd(&g, 4)) {
                case 0:
                    g.sb.len = at;
                    break;
                case 1:
                    memmove(g.sb.buf + at, g.sb.buf + at + 1, g.sb.len - at - 1);
                    g.sb.len--;
                    break;
                case 2:
                    sl_sb_putc(&g.sb, ' ');
                    memmove(g.sb.buf + at + 1, g.sb.buf + at, g.sb.len - at - 1);
                    g.sb.buf[at] = (char)b;
                    break;
                default: g.sb.buf[at] = (char)b; break;
                }
                if (!g.sb.len)
                    break;
            }
            rc = diff_one(g.sb.buf, g.sb.len);
            if (rc == DIFF_MISMATCH)
                mismatches++;
            else
                counts[rc]++;
        }
        if (mismatches > 5)
            break;
    }
    CU_ASSERT_EQUAL(mismatches, 0);
    /* every kind of outcome was reached, plenty of times */
    CU_ASSERT_TRUE(counts[DIFF_OK] > 800);
    CU_ASSERT_TRUE(counts[DIFF_INVAL] > 200);
    CU_ASSERT_TRUE(counts[DIFF_SYNTAX] > 400);
    sl_sb_free(&g.sb);
    kpl_agg_out_free(&kpl);
    kpl_agg_destroy(agg);
}

/* Hand-picked answers: JSON that must be refused (as jansson refuses it), edge cases that must
 * be read exactly as the reference reads them, and the scanner's own position report. */
static void test_scan_targeted(void) {
    static const struct {
        const char *json;
        int want; /* DIFF_* */
    } cases[] = {
        {"", DIFF_SYNTAX},
        {" \n\t\r ", DIFF_SYNTAX},
        {"{", DIFF_SYNTAX},
        {"\"Records\"", DIFF_SYNTAX},
        {"5", DIFF_SYNTAX},
        {"{\"Records\":[]", DIFF_SYNTAX},
        {"{\"Records\":[]}x", DIFF_SYNTAX},
        {"{\"Records\":[]} {}", DIFF_SYNTAX},
        {"{\"Records\":[],}", DIFF_SYNTAX},
        {"{\"Records\":[,]}", DIFF_SYNTAX},
        {"{\"Records\":[1,]}", DIFF_SYNTAX},
        {"{\"Records\" []}", DIFF_SYNTAX},
        {"{'Records':[]}", DIFF_SYNTAX},
        {"{Records:[]}", DIFF_SYNTAX},
        {"{\"Records\":[01]}", DIFF_SYNTAX},
        {"{\"Records\":[-01]}", DIFF_SYNTAX},
        {"{\"Records\":[1.]}", DIFF_SYNTAX},
        {"{\"Records\":[.5]}", DIFF_SYNTAX},
        {"{\"Records\":[1e]}", DIFF_SYNTAX},
        {"{\"Records\":[1e+]}", DIFF_SYNTAX},
        {"{\"Records\":[-]}", DIFF_SYNTAX},
        {"{\"Records\":[+1]}", DIFF_SYNTAX},
        {"{\"Records\":[0x10]}", DIFF_SYNTAX},
        {"{\"Records\":[Infinity]}", DIFF_SYNTAX},
        {"{\"Records\":[NaN]}", DIFF_SYNTAX},
        {"{\"Records\":[tru]}", DIFF_SYNTAX},
        {"{\"Records\":[nulll]}", DIFF_SYNTAX},
        {"{\"Records\":[True]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\\x\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\\u12\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\\u12G4\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\\ud800\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\\udc00\\ud800\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\\ud800\\u0041\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\\ud800\\n\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\\u0000\"]}", DIFF_SYNTAX},
        {"{\"Records\\u0000\":[]}", DIFF_SYNTAX},
        {"{\"Records\":[\"a\nb\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"a\tb\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\xc3\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\xc0\xaf\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\xe0\x80\xaf\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\xed\xa0\x80\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\xf4\x90\x80\x80\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\xf8\x88\x80\x80\x80\"]}", DIFF_SYNTAX},
        {"{\"Records\":[\"\x80\"]}", DIFF_SYNTAX},
        {"\xef\xbb\xbf{\"Records\":[]}", DIFF_SYNTAX},
        {"{\"Records\":[99999999999999999999]}", DIFF_SYNTAX},
        {"{\"Records\":[9223372036854775808]}", DIFF_SYNTAX},
        {"{\"Records\":[-9223372036854775809]}", DIFF_SYNTAX},
        {"{\"Records\":[1e400]}", DIFF_SYNTAX},
        {"{\"Records\":[-1.8e308]}", DIFF_SYNTAX},
        {"{\"Records\":[{\"a\"}]}", DIFF_SYNTAX},
        {"{\"Records\":[{\"a\":}]}", DIFF_SYNTAX},
        {"{\"Records\":[{,}]}", DIFF_SYNTAX},
        {"{\"Records\":[],\"x\":[}", DIFF_SYNTAX},
        {"{\"Records\":[],\"x\":{]}", DIFF_SYNTAX},
        /* accepted by both, and read alike */
        {"{\"Records\":[],\"x\":[9223372036854775807,-9223372036854775808,-0,1e-400,1E+2]}",
         DIFF_OK},
        {"{\"Recor\\u0064s\":[],\"Next\\u0053hardIterator\":\"it\\/\\u00e9\\ud83d\\ude00\"}",
         DIFF_OK},
        {"{\"Records\":[{\"SequenceNumber\":\"\\u0031\\u0032\",\"PartitionKey\":\"\","
         "\"Data\":\"\\/\\/\\/\\/\",\"ApproximateArrivalTimestamp\":1.6e9}]}",
         DIFF_OK},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"PartitionKey\":\"k\",\"Data\":\"YWI=\","
         "\"ApproximateArrivalTimestamp\":1600000000.123,\"EncryptionType\":\"AES\","
         "\"x\":{\"y\":[{\"z\":\"\\\"}]\"}]}},"
         "{\"ApproximateArrivalTimestamp\":16e8,\"Data\":\"\",\"PartitionKey\":\"\\\"\","
         "\"SequenceNumber\":\"2\",\"EncryptionType\":\"NONE\"}],\"MillisBehindLatest\":0}",
         DIFF_OK},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"PartitionKey\":\"k\",\"Data\":\"eA==\","
         "\"Data\":\"YWI=\",\"ApproximateArrivalTimestamp\":0.0005}],"
         "\"Records\":[{\"SequenceNumber\":\"3\",\"PartitionKey\":\"k\",\"Data\":\"\","
         "\"ApproximateArrivalTimestamp\":-1}],\"NextShardIterator\":\"a\","
         "\"NextShardIterator\":null}",
         DIFF_OK},
        {" \t\r\n{ \"Records\" : [ ] , \"ChildShards\" : [ { \"ShardId\" : \"s\" , "
         "\"ParentShards\" : [ ] , \"HashKeyRange\" : { \"StartingHashKey\" : \"0\" , "
         "\"EndingHashKey\" : \"1\" } } ] } \n",
         DIFF_OK},
        /* refused for their meaning, with the reference's messages */
        {"[]", DIFF_INVAL},
        {"[{\"Records\":[]}]", DIFF_INVAL},
        {"{\"Records\":[],\"Records\":5}", DIFF_INVAL},
        {"{\"Records\":[{\"SequenceNumber\":\"\\u0031x\",\"PartitionKey\":\"k\","
         "\"Data\":\"\",\"ApproximateArrivalTimestamp\":1}]}",
         DIFF_INVAL},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"PartitionKey\":\"k\","
         "\"Data\":\"YW\\u003d=\",\"ApproximateArrivalTimestamp\":1}]}",
         DIFF_OK},
        {"{\"Records\":[{\"SequenceNumber\":\"1\",\"PartitionKey\":\"k\","
         "\"Data\":\"YQ=\\u003d\\u0041\",\"ApproximateArrivalTimestamp\":1}]}",
         DIFF_INVAL},
    };
    kin_records_t r;
    char err[256];
    sl_sb_t deep = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = diff_one(cases[i].json, strlen(cases[i].json));
        if (rc != cases[i].want) {
            fprintf(stderr, "\ncase %zu: got %d, want %d\n", i, rc, cases[i].want);
            CU_FAIL("targeted case");
        }
    }
    /* bytes after a NUL, and a NUL where whitespace could be */
    CU_ASSERT_EQUAL(diff_one("{\"Records\":[]}\0", 15), DIFF_SYNTAX);
    CU_ASSERT_EQUAL(diff_one("{\"Records\":\0[]}", 15), DIFF_SYNTAX);
    CU_ASSERT_EQUAL(diff_one("{\"Records\":[\"\0\"]}", 17), DIFF_SYNTAX);
    /* jansson's lexer drops one NUL right after a number or literal: accepted alike */
    CU_ASSERT_EQUAL(diff_one("{\"Records\":[],\"x\":true\0}", 24), DIFF_OK);
    CU_ASSERT_EQUAL(diff_one("{\"Records\":[],\"x\":[1\0,2.5\0]}", 28), DIFF_OK);
    CU_ASSERT_EQUAL(diff_one("{\"Records\":[1\0]}", 16), DIFF_INVAL);
    CU_ASSERT_EQUAL(diff_one("{\"Records\":[1\0\0]}", 17), DIFF_SYNTAX);
    CU_ASSERT_EQUAL(diff_one("{\"Records\":[],\"x\":\"s\"\0}", 23), DIFF_SYNTAX);
    /* jansson's nesting limit, to the level: the answer is 1, "x"'s value 2 */
    for (int k = 2045; k <= 2048; k++) {
        for (int empty = 0; empty < 2; empty++) {
            sl_sb_reset(&deep);
            sl_sb_puts(&deep, "{\"Records\":[],\"x\":");
            for (int d = 0; d < k; d++)
                sl_sb_puts(&deep, d % 2 ? "[" : "{\"k\":");
            if (!empty)
                sl_sb_puts(&deep, "0");
            else
                sl_sb_puts(&deep, "[]");
            for (int d = k - 1; d >= 0; d--)
                sl_sb_puts(&deep, d % 2 ? "]" : "}");
            sl_sb_puts(&deep, "}");
            int rc = diff_one(deep.buf, deep.len);
            CU_ASSERT_TRUE(rc == DIFF_OK || rc == DIFF_SYNTAX);
            /* the innermost value sits at depth k + 2 (empty: an array at k + 2) */
            CU_ASSERT_EQUAL(rc, k + 2 <= 2048 ? DIFF_OK : DIFF_SYNTAX);
        }
    }
    sl_sb_free(&deep);
    /* the scanner's own report of malformed JSON: what and where */
    CU_ASSERT_EQUAL(kin_scan_get_records("{\"Records\":[1,]}", 16, &r, err, sizeof(err)),
                    SL_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(err, "malformed JSON at byte 14: invalid token");
    CU_ASSERT_EQUAL(kin_scan_get_records("{\"Records\":[\"abc", 16, &r, err, sizeof(err)),
                    SL_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(err, "malformed JSON at byte 12: unterminated string");
    CU_ASSERT_PTR_NULL(r.recs);
    CU_ASSERT_EQUAL(r.millis_behind, -1);
    CU_ASSERT_EQUAL(kin_scan_get_records(NULL, 0, &r, err, sizeof(err)), SL_ERR_INVAL);
    /* a page in the layout the service writes, read through exactly as the reference */
    const char *page = "{\"Records\":[],\"NextShardIterator\":\"x\"}";
    CU_ASSERT_EQUAL_FATAL(kin_scan_get_records(page, strlen(page), &r, err, sizeof(err)), SL_OK);
    CU_ASSERT_STRING_EQUAL(r.next_iterator, "x");
    CU_ASSERT_EQUAL(r.n, 0);
    CU_ASSERT_PTR_NULL(r.buf);
    kin_records_free(&r);
}

/* Every canned answer of the reference's own tests gives the same through the scanner. */
static void test_scan_reference_cases(void) {
    static const char *const docs[] = {
        ("{\"Records\":[{\"SequenceNumber\":"
         "\"49590338271490256608559692538361571095921575989136588898\","
         "\"ApproximateArrivalTimestamp\":1546300800.123,\"Data\":\"aGVsbG8=\","
         "\"PartitionKey\":\"pk1\"},{\"SequenceNumber\":"
         "\"49590338271490256608559692540925702759324208523137515618\","
         "\"ApproximateArrivalTimestamp\":1546300801,\"Data\":\"\",\"PartitionKey\":\"p\\u00e9\","
         "\"EncryptionType\":\"KMS\"}],\"NextShardIterator\":\"AAAAAAAAAAH\","
         "\"MillisBehindLatest\":2100}"),
        "{}",
        "{\"Records\":{}}",
        "{\"Records\":[5]}",
        ("{\"Records\":[{\"SequenceNumber\":\"1\",\"ApproximateArrivalTimestamp\":1,"
         "\"PartitionKey\":\"k\",\"Data\":\"aGk=\"},{\"SequenceNumber\":\"2\","
         "\"ApproximateArrivalTimestamp\":1,\"PartitionKey\":\"k\",\"Data\":\"aGk=\"},"
         "{\"SequenceNumber\":\"3\",\"ApproximateArrivalTimestamp\":1,\"PartitionKey\":\"k\","
         "\"Data\":\"aGVs!G8=\"}],\"MillisBehindLatest\":-5}"),
        ("{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"shardId-2\",\"ParentShards\":[],"
         "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"-1\"}}]}"),
        "{\"Records\":[],\"ChildShards\":[{\"ParentShards\":[]}]}",
        "{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"s\",\"ParentShards\":[1]}]}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        CU_ASSERT_TRUE(diff_one(docs[i], strlen(docs[i])) >= 0);
}

/* --- a fake Kinesis on 127.0.0.1 ----------------------------------------------------------- */

typedef struct frec {
    char seq[64];
    char pk[64];
    char *data64;
    double ts;
    const char *enc;
} frec_t;

#define MAX_OPS 4

/* The shard's state, read by the responder on fake_aws's thread (under lock) and set up by the
 * test before the requests start. */
typedef struct fake {
    fake_aws_t *aws;
    pthread_mutex_t lock;
    /* how many calls of each operation the injected rules already cover */
    const char *ops[MAX_OPS];
    int covered[MAX_OPS];
    /* the shard */
    frec_t recs[32];
    int nrecs;
    int closed;
    const char *children; /* ChildShards JSON at the end of a closed shard */
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

/* Every call no scripted rule took: the shard answers. */
static void fake_respond(void *opaque, const fake_aws_request_t *req, fake_aws_answer_t *ans) {
    fake_t *f = opaque;
    const char *dot = strchr(req->target, '.');
    char *answer;
    int status;
    pthread_mutex_lock(&f->lock);
    answer = fake_answer(f, dot ? dot + 1 : "", req->body, &status);
    pthread_mutex_unlock(&f->lock);
    fake_aws_answer(ans, status, answer, (size_t)-1);
    free(answer);
}

static int fake_start(fake_t *f) {
    char err[256];
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    if (!(f->aws = fake_aws_new(NULL, err, sizeof(err))))
        return -1;
    fake_aws_set_header(f->aws, "x-amzn-RequestId", "fake-req");
    fake_aws_set_responder(f->aws, fake_respond, f);
    return 0;
}

static void fake_stop(fake_t *f) {
    fake_aws_destroy(f->aws);
    pthread_mutex_destroy(&f->lock);
    for (int i = 0; i < f->nrecs; i++)
        free(f->recs[i].data64);
}

/* The nth call (1-based) of op gets status and body; the calls before it that no earlier
 * injection covers pass to the shard. Injections of one op go in increasing nth. */
static void fake_inject(fake_t *f, const char *op, int nth, int status, const char *body) {
    int i;
    for (i = 0; i < MAX_OPS && f->ops[i] && strcmp(f->ops[i], op); i++)
        ;
    CU_ASSERT_FATAL(i < MAX_OPS);
    f->ops[i] = op;
    CU_ASSERT_FATAL(nth > f->covered[i]);
    if (nth - 1 > f->covered[i])
        fake_aws_push(f->aws, &(fake_aws_reply_t){.target = op, .action = FAKE_AWS_PASS,
                                                  .times = nth - 1 - f->covered[i]});
    fake_aws_push(f->aws, &(fake_aws_reply_t){.target = op, .status = status, .body = body});
    f->covered[i] = nth;
}

static void fake_add(fake_t *f, const char *seq, const char *pk, const void *data, size_t len) {
    frec_t *r;
    pthread_mutex_lock(&f->lock);
    r = &f->recs[f->nrecs];
    snprintf(r->seq, sizeof(r->seq), "%s", seq);
    snprintf(r->pk, sizeof(r->pk), "%s", pk);
    r->data64 = b64(data, len);
    r->ts = 1546300800.0 + f->nrecs + 0.25;
    f->nrecs++;
    pthread_mutex_unlock(&f->lock);
}

/* An aggregate of n user records "<prefix><i>" with keys "k<i>" and explicit hash keys. */
static void fake_add_agg(fake_t *f, const char *seq, const char *prefix, int n,
                         const char *const *ehks) {
    kpl_agg_t *agg = kpl_agg_new(0, 0, 0);
    kpl_agg_out_t out;
    char err[128], pk[16], data[32];
    for (int i = 0; i < n; i++) {
        snprintf(pk, sizeof(pk), "k%d", i);
        snprintf(data, sizeof(data), "%s%d", prefix, i);
        CU_ASSERT_EQUAL(kpl_agg_add(agg, pk, ehks ? ehks[i] : NULL, data, strlen(data), err,
                                    sizeof(err)), SL_OK);
    }
    CU_ASSERT_EQUAL_FATAL(kpl_agg_flush(agg, &out), SL_OK);
    fake_add(f, seq, out.pk, out.data, out.len);
    kpl_agg_out_free(&out);
    kpl_agg_destroy(agg);
}

/* Requests of op received so far; the nth one's (0-based) body, arrival time, parsed body. */
static int fake_count(fake_t *f, const char *op) {
    return fake_aws_count(f->aws, op);
}

static const char *req_body(fake_t *f, const char *op, int nth) {
    static char body[1024];
    fake_aws_request_t *rq = fake_aws_request(f->aws, op, nth);
    snprintf(body, sizeof(body), "%s", rq ? rq->body : "(no such request)");
    fake_aws_request_free(rq);
    return body;
}

static int64_t req_at(fake_t *f, const char *op, int nth) {
    fake_aws_request_t *rq = fake_aws_request(f->aws, op, nth);
    int64_t at = rq ? rq->at_ms : -1;
    fake_aws_request_free(rq);
    return at;
}

static json_t *req_json(fake_t *f, const char *op, int nth) {
    return json_loads(req_body(f, op, nth), 0, NULL);
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
    snprintf(url, sizeof(url), "%s", fake_aws_url(h->srv.aws));
    memset(&co, 0, sizeof(co));
    co.service = "kinesis";
    co.signing_name = "kinesis";
    co.region = "us-east-1";
    co.endpoint = url;
    co.target_prefix = "Kinesis_20131202";
    co.json_version = "1.1";
    co.retry = (sl_retry_policy_t){5, 20, 2.0, 3, 0};
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
        h->part->chain = sl_chain_new(h->spec, h->part->id, h_sink, h, NULL, err, sizeof(err));
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
    h->shard = kin_shard_open(h->part, &h->kc, "orders", h->client, NULL, &h->start, runtime_offset,
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
    sl_retry_policy_t rp = {5, 20, 2.0, 3, 0};
    json_t *b;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fake_aws_reply(h.srv.aws, "ListShards", 200, page1);
    fake_aws_error(h.srv.aws, "ListShards", 1, 400, "LimitExceededException", "slow down");
    fake_aws_reply(h.srv.aws, "ListShards", 200, page2);
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
    b = req_json(&h.srv, "ListShards", 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StreamName")), "orders");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "MaxResults")), 1000);
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_object_get(b, "ShardFilter"), "Type")),
        "FROM_TIMESTAMP");
    CU_ASSERT_DOUBLE_EQUAL(
        json_number_value(json_object_get(json_object_get(b, "ShardFilter"), "Timestamp")),
        1546300800.5, 1e-6);
    json_decref(b);
    CU_ASSERT_STRING_EQUAL(req_body(&h.srv, "ListShards", 1),
                           "{\"NextToken\":\"tok1\",\"MaxResults\":1000}");
    CU_ASSERT_STRING_EQUAL(req_body(&h.srv, "ListShards", 2),
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
    fake_aws_reply(h.srv.aws, "ListShards", 200, page1);
    fake_aws_reply(h.srv.aws, "ListShards", 400, expired);
    fake_aws_reply(h.srv.aws, "ListShards", 200, page1);
    fake_aws_reply(h.srv.aws, "ListShards", 200, page2);
    /* a second listing: expired twice is an error */
    fake_aws_reply(h.srv.aws, "ListShards", 200, page1);
    fake_aws_reply(h.srv.aws, "ListShards", 400, expired);
    fake_aws_reply(h.srv.aws, "ListShards", 200, page1);
    fake_aws_reply(h.srv.aws, "ListShards", 400, expired);
    l_watch = &l;
    CU_ASSERT_EQUAL(kin_list_shards(h.client, NULL, "arn:aws:kinesis:us-east-1:1:stream/orders",
                                    NULL, 0, NULL, on_listed, &l), SL_OK);
    h_run(&h, h_listed, 5000);
    CU_ASSERT_EQUAL(l.err, SL_OK);
    CU_ASSERT_EQUAL(l.n, 3);
    b = req_json(&h.srv, "ListShards", 2);
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
    fake_aws_reply(h.srv.aws, "ListShards", 200,
                   "{\"Shards\":[" SHARD_JSON("shardId-000000000000", "", "0", "5", "1", "")
                   ",{\"ShardId\":\"shardId-000000000001\",\"HashKeyRange\":"
                   "{\"StartingHashKey\":\"6\"},\"SequenceNumberRange\":"
                   "{\"StartingSequenceNumber\":\"1\"}}]}");
    fake_aws_reply(h.srv.aws, "ListShards", 200, "{\"Shards\":[]}");
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
    b = req_json(&h.srv, "GetShardIterator", 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "ShardIteratorType")),
                           "TRIM_HORIZON");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "StreamName")), "orders");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(b, "ShardId")),
                           "shardId-000000000001");
    json_decref(b);
    CU_ASSERT_EQUAL_FATAL(fake_count(&h.srv, "GetRecords"), 3);
    for (int i = 0; i < 3; i++) {
        b = req_json(&h.srv, "GetRecords", i);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "Limit")), 2);
        json_decref(b);
        if (i > 0)
            CU_ASSERT_TRUE(req_at(&h.srv, "GetRecords", i) -
                               req_at(&h.srv, "GetRecords", i - 1) >= 195);
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
    h.shard = kin_shard_open(h.part, &h.kc, "orders", h.client, NULL, &h.start, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h.shard);
    /* nobody polls: the buffer fills with 3 records and no more calls go out */
    h_run(&h, h_never, 700);
    CU_ASSERT_EQUAL(fake_count(&h.srv, "GetRecords"), 1);
    b = req_json(&h.srv, "GetRecords", 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(b, "Limit")), 3);
    json_decref(b);
    /* polling one at a time makes room one at a time */
    h.max_per_poll = 1;
    event_active(h.part->poll_ev, EV_TIMEOUT, 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    CU_ASSERT_EQUAL(h.ngot, 8);
    for (int i = 1; i < fake_count(&h.srv, "GetRecords"); i++) {
        b = req_json(&h.srv, "GetRecords", i);
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
    fake_inject(&h.srv, "GetRecords", 1, 400, throttle);
    fake_inject(&h.srv, "GetRecords", 3, 400, throttle);
    fake_inject(&h.srv, "GetRecords", 4, 400, throttle);
    fake_inject(&h.srv, "GetRecords", 5, 500, "{\"__type\":\"InternalFailure\"}");
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
    fake_inject(&h.srv, "GetRecords", 2, 400, expired);
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    CU_ASSERT_STRING_EQUAL(h.part->errmsg, "");
    /* each record exactly once, in order */
    CU_ASSERT_EQUAL_FATAL(h.ngot, 5);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_STRING_EQUAL(h.got[i].seq, h.srv.recs[i].seq);
    CU_ASSERT_EQUAL_FATAL(fake_count(&h.srv, "GetShardIterator"), 2);
    b = req_json(&h.srv, "GetShardIterator", 1);
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
    fake_inject(&h.srv, "GetRecords", 1, 400, "{\"__type\":\"ExpiredIteratorException\"}");
    h.start.checkpoint = h.srv.recs[1].seq;
    h.start.sub = 0;
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    /* the original start again, and the checkpointed record itself skipped */
    CU_ASSERT_EQUAL_FATAL(fake_count(&h.srv, "GetShardIterator"), 2);
    for (int i = 0; i < 2; i++) {
        b = req_json(&h.srv, "GetShardIterator", i);
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
    b = req_json(&h.srv, "GetShardIterator", 0);
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
    b = req_json(&h.srv, "GetShardIterator", 0);
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
    CU_ASSERT_EQUAL(fake_aws_count(h.srv.aws, NULL), 0);
    h_down(&h);
}

static void test_shard_expired_shard(void) {
    harness_t h;
    size_t n = 9;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 2);
    fake_inject(&h.srv, "GetShardIterator", 1, 400,
                "{\"__type\":\"ResourceNotFoundException\",\"message\":"
                "\"Shard shardId-000000000001 in stream orders does not exist\"}");
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
    b = req_json(&h.srv, "GetShardIterator", 0);
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
    fake_inject(&h.srv, "GetRecords", 1, 400,
                "{\"__type\":\"AccessDeniedException\",\"message\":\"User x "
                "is not authorized to perform: kinesis:GetRecords\"}");
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
    fake_inject(&h.srv, "GetRecords", 1, 200,
                "{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"\","
                "\"ApproximateArrivalTimestamp\":1}],\"NextShardIterator\":\"x\"}");
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_failed, 3000);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(h.part->errmsg, "GetRecords: malformed answer: Records[0].PartitionKey: missing"));
    CU_ASSERT_EQUAL(h.ngot, 0);
    h_down(&h);
}

/* A 2xx answer that is not JSON at all (a proxy's page) is transient: the same call again. */
static void test_shard_not_json(void) {
    harness_t h;
    CU_ASSERT_EQUAL_FATAL(h_up(&h), 0);
    fill_plain(&h.srv, 3);
    h.srv.closed = 1;
    fake_inject(&h.srv, "GetRecords", 1, 200, "<html>gateway busy</html>");
    CU_ASSERT_EQUAL_FATAL(h_open(&h, NULL, 0), 0);
    h_run(&h, h_eof, 5000);
    CU_ASSERT_TRUE(h.eof);
    CU_ASSERT_STRING_EQUAL(h.part->errmsg, "");
    CU_ASSERT_EQUAL_FATAL(h.ngot, 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(h.got[i].seq, h.srv.recs[i].seq);
    CU_ASSERT_EQUAL(fake_count(&h.srv, "GetRecords"), 2);
    CU_ASSERT_EQUAL(fake_count(&h.srv, "GetShardIterator"), 1);
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
    b = req_json(&h.srv, "GetRecords", 2);
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
        {"scan_reference_cases", test_scan_reference_cases},
        {"scan_targeted", test_scan_targeted},
        {"scan_differential", test_scan_differential},
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
        {"shard_not_json", test_shard_not_json},
        {"shard_bad_checkpoint", test_shard_bad_checkpoint},
        {"shard_delivery_fails", test_shard_delivery_fails},
        {"shard_adaptive", test_shard_adaptive},
        {NULL, NULL},
    };
    unit_add_suite("kinesis_api", tests);
}
