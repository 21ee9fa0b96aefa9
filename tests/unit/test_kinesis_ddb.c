/*
 * test_kinesis_ddb.c: DynamoDB Streams records (connectors/kinesis/kinesis_ddb.c). Java's own
 * answers first: String.hashCode() and the iteration order of a java.util.HashMap filled in a
 * given order (printed by OpenJDK 17 for these keys, including a bin of 10 colliding keys that
 * makes the table grow before its load factor says so); Jackson's string escaping; then
 * GetRecords answers parsed into records (key, sequence number, event name, time, the JSON the
 * Streams Kinesis Adapter writes, one answer checked against the adapter's own output) and
 * every malformed field named. The byte-for-byte check of
 * the data against the adapter itself is tests/0029-dynamodb-streams.sh.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "../../connectors/kinesis/kinesis.h"
#include "unit.h"

static void test_java_hash(void) {
    CU_ASSERT_EQUAL(kin_java_string_hash("caf\xc3\xa9", 5), 3045921);
    CU_ASSERT_EQUAL(kin_java_string_hash("\xf0\x9f\x98\x80", 4), 1772899); /* a surrogate pair */
    CU_ASSERT_EQUAL(kin_java_string_hash("order-1", 7), -1207111310);
    CU_ASSERT_EQUAL(kin_java_string_hash("", 0), 0);
}

/* keys in insertion order; want: the insertion indexes in Java's iteration order */
static void check_order(const char *const *keys, size_t n, const size_t *want) {
    int32_t h[32];
    size_t got[32];
    for (size_t i = 0; i < n; i++)
        h[i] = kin_java_string_hash(keys[i], strlen(keys[i]));
    CU_ASSERT_EQUAL_FATAL(kin_java_hashmap_order(h, n, got), 0);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(got[i], want[i]);
}

static void test_java_hashmap_order(void) {
    static const char *const k1[] = {"pk", "n", "s", "b", "m"};
    static const size_t w1[] = {3, 2, 0, 4, 1};
    static const char *const k2[] = {"z", "a", "l"};
    static const size_t w2[] = {1, 0, 2};
    /* 22 keys: the table grows from 16 to 32 at the 13th */
    static const char *const k3[] = {"k0_x",  "k1_y",  "k2_z",  "k3_x",  "k4_y",  "k5_z",
                                     "k6_x",  "k7_y",  "k8_z",  "k9_x",  "k10_y", "k11_z",
                                     "k12_x", "k13_y", "k14_z", "k15_x", "k16_y", "k17_z",
                                     "k18_x", "k19_y", "k20_z", "k21_x"};
    static const size_t w3[] = {0, 3, 16, 1, 18, 4, 15, 2, 14, 5, 6,
                                9, 17, 7, 19, 21, 8, 11, 13, 10, 12, 20};
    static const char *const k4[] = {"caf\xc3\xa9", "\xf0\x9f\x98\x80", "Aa", "BB",
                                     "\xe2\x80\xa8x", "", "order-1"};
    static const size_t w4[] = {2, 3, 5, 4, 1, 6, 0}; /* "Aa" and "BB" collide: insertion order */
    /* ten keys in bin 3 of 16: the 9th in one bin grows the table to 32 (treeifyBin) */
    static const char *const k5[] = {"c6", "c10", "c21", "c32", "c43", "c54", "c65", "c76",
                                     "c87", "c98"};
    static const size_t w5[] = {1, 3, 5, 7, 9, 2, 4, 6, 8, 0};
    check_order(k1, 5, w1);
    check_order(k2, 3, w2);
    check_order(k3, 22, w3);
    check_order(k4, 7, w4);
    check_order(k5, 10, w5);
}

static void test_jackson_string(void) {
    sl_sb_t sb = {0};
    static const char in[] = "q\" b\\ /\b\t\n\f\r\x01\x1f\x7f caf\xc3\xa9 \xe2\x80\xa8";
    kin_ddb_json_string(&sb, in, sizeof(in) - 1);
    CU_ASSERT_STRING_EQUAL(sb.buf, "\"q\\\" b\\\\ /\\b\\t\\n\\f\\r\\u0001\\u001F\x7f caf\xc3\xa9 "
                                   "\xe2\x80\xa8\"");
    sl_sb_free(&sb);
}

#define REC(id, name, dyn)                                                                    \
    "{\"eventID\":\"" id "\",\"eventName\":\"" name "\",\"eventVersion\":\"1.1\","             \
    "\"eventSource\":\"aws:dynamodb\",\"awsRegion\":\"us-east-1\",\"dynamodb\":" dyn "}"

static void test_parse(void) {
    static const char body[] =
        "{\"Records\":["
        REC("e1", "INSERT",
            "{\"ApproximateCreationDateTime\":1.4794997E9,\"Keys\":{\"pk\":{\"S\":\"a\"}},"
            "\"NewImage\":{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1.50\"},\"s\":{\"S\":\"x\\u0002\"},"
            "\"b\":{\"B\":\"AAEC\"},\"m\":{\"M\":{\"z\":{\"BOOL\":true},\"a\":{\"NULL\":true},"
            "\"l\":{\"L\":[{\"N\":\"1\"},{\"SS\":[\"x\",\"y\"]},{\"BS\":[\"AQ==\"]},"
            "{\"M\":{}},{\"L\":[]}]}}}},"
            "\"SequenceNumber\":\"100\",\"SizeBytes\":26,\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}")
        ","
        "{\"awsRegion\":\"us-east-1\",\"eventName\":\"REMOVE\",\"eventID\":\"e2\","
        "\"userIdentity\":{\"Type\":\"Service\",\"PrincipalId\":\"dynamodb.amazonaws.com\"},"
        "\"dynamodb\":{\"SequenceNumber\":\"200\",\"Keys\":{\"pk\":{\"S\":\"a\"}},"
        "\"OldImage\":{\"pk\":{\"S\":\"a\"}},\"ApproximateCreationDateTime\":1479499800}}"
        "],\"NextShardIterator\":\"it-2\"}";
    kin_records_t r;
    char err[256];
    const char *d;
    CU_ASSERT_EQUAL_FATAL(kin_ddb_parse_records(body, sizeof(body) - 1, &r, err, sizeof(err)),
                          SL_OK);
    CU_ASSERT_EQUAL_FATAL(r.n, 2);
    CU_ASSERT_STRING_EQUAL(r.next_iterator, "it-2");
    CU_ASSERT_EQUAL(r.millis_behind, -1);
    CU_ASSERT_STRING_EQUAL(r.recs[0].seq, "100");
    CU_ASSERT_STRING_EQUAL(r.recs[0].pk, "e1");
    CU_ASSERT_EQUAL(r.recs[0].pklen, 2);
    CU_ASSERT_STRING_EQUAL(r.recs[0].event_name, "INSERT");
    CU_ASSERT_EQUAL(r.recs[0].arrival_ms, 1479499700000LL);
    d = (const char *)sl_buf_data(r.buf);
    /* fields in the SDK model's order, maps in HashMap order, binaries canonical base64 */
    CU_ASSERT_NSTRING_EQUAL(
        d + r.recs[0].off,
        "{\"eventID\":\"e1\",\"eventName\":\"INSERT\",\"eventVersion\":\"1.1\","
        "\"eventSource\":\"aws:dynamodb\",\"awsRegion\":\"us-east-1\",\"dynamodb\":{"
        "\"ApproximateCreationDateTime\":1479499700000,\"Keys\":{\"pk\":{\"S\":\"a\"}},"
        "\"NewImage\":{\"b\":{\"B\":\"AAEC\"},\"s\":{\"S\":\"x\\u0002\"},\"pk\":{\"S\":\"a\"},"
        "\"m\":{\"M\":{\"a\":{\"NULL\":true},\"z\":{\"BOOL\":true},\"l\":{\"L\":[{\"N\":\"1\"},"
        "{\"SS\":[\"x\",\"y\"]},{\"BS\":[\"AQ==\"]},{\"M\":{}},{\"L\":[]}]}}},\"n\":{\"N\":\"1.50\"}},"
        "\"SequenceNumber\":\"100\",\"SizeBytes\":26,\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}",
        r.recs[0].len);
    CU_ASSERT_STRING_EQUAL(r.recs[1].event_name, "REMOVE");
    CU_ASSERT_EQUAL(r.recs[1].arrival_ms, 1479499800000LL);
    CU_ASSERT_NSTRING_EQUAL(
        d + r.recs[1].off,
        "{\"userIdentity\":{\"principalId\":\"dynamodb.amazonaws.com\",\"type\":\"Service\"},"
        "\"eventID\":\"e2\",\"eventName\":\"REMOVE\",\"awsRegion\":\"us-east-1\",\"dynamodb\":{"
        "\"ApproximateCreationDateTime\":1479499800000,\"Keys\":{\"pk\":{\"S\":\"a\"}},"
        "\"OldImage\":{\"pk\":{\"S\":\"a\"}},\"SequenceNumber\":\"200\"}}",
        r.recs[1].len);
    CU_ASSERT_EQUAL(r.recs[1].off + r.recs[1].len, sl_buf_len(r.buf));
    kin_records_free(&r);

    /* a closed shard read to its end; no records at all */
    CU_ASSERT_EQUAL(kin_ddb_parse_records("{\"Records\":[]}", 14, &r, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(r.n, 0);
    CU_ASSERT_PTR_NULL(r.next_iterator);
    kin_records_free(&r);
}

/* What the adapter itself wrote for this answer (tests/tools/DdbAdapterJudge.java, i.e.
 * dynamodb-streams-kinesis-adapter 1.5.1 on AWS SDK 1.12.788 and Jackson 2.17.2, reading it
 * from a canned server): userIdentity first; an attribute value's fields in the order S N B M
 * L NULL BOOL SS NS BS, every one present, none when empty or unknown; empty sets, lists and
 * maps kept; fields the model does not know (extra, X) ignored. */
static void test_adapter_known_answer(void) {
    static const char body[] =
        "{\"Records\": [{\"eventID\": \"e1\", \"eventName\": \"INSERT\", \"eventVersion\": \"1.1\", \"ev"
        "entSource\": \"aws:dynamodb\", \"awsRegion\": \"us-east-1\", \"dynamodb\": {\"ApproximateC"
        "reationDateTime\": 1479499700.0, \"Keys\": {\"pk\": {\"S\": \"a\"}}, \"NewImage\": {\"pk\": {"
        "\"S\": \"a\"}, \"em\": {\"M\": {}}, \"el\": {\"L\": []}, \"none\": {}, \"ss\": {\"SS\": []}, \"f\": "
        "{\"N\": \"1\"}, \"multi\": {\"BOOL\": true, \"NULL\": true, \"L\": [{\"S\": \"q\"}], \"M\": {\"k\": "
        "{\"N\": \"1\"}}, \"BS\": [\"AQ==\"], \"NS\": [\"1\"], \"SS\": [\"s\"], \"B\": \"AQ==\", \"N\": \"2\", \"S"
        "\": \"x\"}, \"unk\": {\"X\": 1}, \"nul\": {\"S\": null}, \"bf\": {\"BOOL\": false, \"NULL\": fals"
        "e}}, \"SequenceNumber\": \"100\", \"SizeBytes\": 26, \"StreamViewType\": \"NEW_AND_OLD_IM"
        "AGES\"}, \"userIdentity\": {\"Type\": \"Service\", \"PrincipalId\": \"dynamodb.amazonaws.c"
        "om\"}, \"extra\": 5}]}";
    static const char want[] =
        "{\"userIdentity\":{\"principalId\":\"dynamodb.amazonaws.com\",\"type\":\"Service\"},\"event"
        "ID\":\"e1\",\"eventName\":\"INSERT\",\"eventVersion\":\"1.1\",\"eventSource\":\"aws:dynamodb\","
        "\"awsRegion\":\"us-east-1\",\"dynamodb\":{\"ApproximateCreationDateTime\":1479499700000,"
        "\"Keys\":{\"pk\":{\"S\":\"a\"}},\"NewImage\":{\"ss\":{\"SS\":[]},\"unk\":{},\"nul\":{},\"bf\":{\"NULL"
        "\":false,\"BOOL\":false},\"f\":{\"N\":\"1\"},\"el\":{\"L\":[]},\"em\":{\"M\":{}},\"pk\":{\"S\":\"a\"},\""
        "none\":{},\"multi\":{\"S\":\"x\",\"N\":\"2\",\"B\":\"AQ==\",\"M\":{\"k\":{\"N\":\"1\"}},\"L\":[{\"S\":\"q\"}]"
        ",\"NULL\":true,\"BOOL\":true,\"SS\":[\"s\"],\"NS\":[\"1\"],\"BS\":[\"AQ==\"]}},\"SequenceNumber\":"
        "\"100\",\"SizeBytes\":26,\"StreamViewType\":\"NEW_AND_OLD_IMAGES\"}}";
    kin_records_t r;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(kin_ddb_parse_records(body, sizeof(body) - 1, &r, err, sizeof(err)),
                          SL_OK);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    CU_ASSERT_EQUAL(r.recs[0].len, sizeof(want) - 1);
    CU_ASSERT_NSTRING_EQUAL((const char *)sl_buf_data(r.buf) + r.recs[0].off, want,
                            sizeof(want) - 1);
    kin_records_free(&r);
}

static void expect_bad(const char *body, const char *msg) {
    kin_records_t r;
    char err[400] = "";
    CU_ASSERT_EQUAL(kin_ddb_parse_records(body, strlen(body), &r, err, sizeof(err)),
                    SL_ERR_INVAL);
    if (!strstr(err, msg)) {
        fprintf(stderr, "\n  error '%s' lacks '%s'\n", err, msg);
        CU_FAIL("error message");
    }
    CU_ASSERT_EQUAL(r.n, 0);
    CU_ASSERT_PTR_NULL(r.recs);
}

static void test_malformed(void) {
    expect_bad("{\"Records\":", "malformed JSON at byte");
    expect_bad("[]", "expected an object");
    expect_bad("{\"Records\":{}}", "Records: expected an array");
    expect_bad("{\"Records\":[],\"NextShardIterator\":5}", "NextShardIterator: expected");
    expect_bad("{\"Records\":[{\"eventName\":\"INSERT\",\"dynamodb\":{}}]}",
               "Records[0].eventID: missing");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\"}]}",
               "Records[0] (e).dynamodb: missing");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\",\"dynamodb\":{}}]}",
               "Records[0] (e).dynamodb.SequenceNumber: missing");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\",\"dynamodb\":"
               "{\"SequenceNumber\":\"12a\"}}]}",
               "not a decimal number");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\",\"dynamodb\":"
               "{\"SequenceNumber\":\"1\",\"NewImage\":{\"x\":{\"N\":\"abc\"}}}}]}",
               "Records[0] (e).dynamodb.NewImage.x.N: expected a number in a string");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\",\"dynamodb\":"
               "{\"SequenceNumber\":\"1\",\"Keys\":{\"x\":5}}}]}",
               "Records[0] (e).dynamodb.Keys.x: expected an attribute value");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\",\"dynamodb\":"
               "{\"SequenceNumber\":\"1\",\"Keys\":{\"x\":{\"S\":\"a\",\"BOOL\":1}}}}]}",
               "Records[0] (e).dynamodb.Keys.x.BOOL: expected true or false");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\",\"dynamodb\":"
               "{\"SequenceNumber\":\"1\",\"Keys\":{\"x\":{\"B\":\"!!!!\"}}}}]}",
               "Keys.x.B: not base64");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\",\"dynamodb\":"
               "{\"SequenceNumber\":\"1\",\"OldImage\":{\"x\":{\"L\":[7]}}}}]}",
               "OldImage.x.L[0]: expected an attribute value");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\",\"dynamodb\":"
               "{\"SequenceNumber\":\"1\",\"ApproximateCreationDateTime\":\"x\"}}]}",
               "ApproximateCreationDateTime: expected a number");
    expect_bad("{\"Records\":[{\"eventID\":\"e\",\"eventName\":\"INSERT\",\"dynamodb\":"
               "{\"SequenceNumber\":\"1\"},\"userIdentity\":{\"Type\":3}}]}",
               "userIdentity.Type: expected a string");
}

static void test_arn(void) {
    char t[64];
    CU_ASSERT_TRUE(kin_ddb_arn_table("arn:aws:dynamodb:us-west-2:111122223333:table/TestTable/"
                                     "stream/2015-05-11T21:21:33.291", t, sizeof(t)));
    CU_ASSERT_STRING_EQUAL(t, "TestTable");
    CU_ASSERT_TRUE(kin_ddb_arn_table("arn:aws:dynamodb:ddblocal:000000000000:table/Tab/stream/"
                                     "2026-11-22T18:26:10.265", NULL, 0));
    CU_ASSERT_FALSE(kin_ddb_arn_table("arn:aws:kinesis:us-east-1:1:stream/x", NULL, 0));
    CU_ASSERT_FALSE(kin_ddb_arn_table("arn:aws:dynamodb:us-east-1:1:table/T", NULL, 0));
    CU_ASSERT_FALSE(kin_ddb_arn_table("arn:aws:dynamodb:us-east-1:1:table/T/stream/", NULL, 0));
    CU_ASSERT_FALSE(kin_ddb_arn_table("TestTable", NULL, 0));
}

void test_kinesis_ddb_register(void) {
    static const unit_test_t tests[] = {
        {"java_hash", test_java_hash},
        {"java_hashmap_order", test_java_hashmap_order},
        {"jackson_string", test_jackson_string},
        {"parse", test_parse},
        {"adapter_known_answer", test_adapter_known_answer},
        {"malformed", test_malformed},
        {"arn", test_arn},
        {NULL, NULL},
    };
    unit_add_suite("kinesis_ddb", tests);
}
