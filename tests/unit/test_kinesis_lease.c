/*
 * test_kinesis_lease.c: the lease item parser (kin_lease_from_item). A damaged item must be
 * reported whole, every bad attribute at once, so whoever repairs it by hand does it in one go;
 * a KCL item with attributes sluice does not know still parses.
 */
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "../../connectors/kinesis/kinesis_lease.h"
#include "unit.h"

/* Parses the JSON text of an item; returns the error and fills errstr. */
static sl_err_t parse(const char *text, kin_lease_t **out, char *errstr, size_t errlen) {
    json_error_t jerr;
    json_t *item = json_loads(text, 0, &jerr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(item);
    sl_err_t err = kin_lease_from_item(item, out, errstr, errlen);
    json_decref(item);
    return err;
}

static void test_counter_of_type_s_and_no_checkpoint(void) {
    char errstr[512];
    kin_lease_t *lease = NULL;
    CU_ASSERT_EQUAL(parse("{\"leaseKey\":{\"S\":\"shardId-000000000001\"},"
                          "\"leaseCounter\":{\"S\":\"7\"}}",
                          &lease, errstr, sizeof(errstr)),
                    SL_ERR_INVAL);
    CU_ASSERT_PTR_NULL(lease);
    CU_ASSERT_STRING_EQUAL(errstr, "item leaseKey=shardId-000000000001: leaseCounter is S, "
                                   "expected N; checkpoint missing");
}

static void test_every_bad_attribute_named(void) {
    char errstr[512];
    kin_lease_t *lease = NULL;
    CU_ASSERT_EQUAL(parse("{\"leaseKey\":{\"S\":\"s1\"},\"leaseCounter\":{\"N\":\"-1\"},"
                          "\"checkpoint\":{\"S\":\"nowhere\"},\"parentShardId\":{\"S\":\"p\"},"
                          "\"endingHashKey\":{\"S\":\"12a\"},\"leaseOwner\":{\"N\":\"3\"}}",
                          &lease, errstr, sizeof(errstr)),
                    SL_ERR_INVAL);
    CU_ASSERT_PTR_NULL(lease);
    CU_ASSERT_STRING_EQUAL(errstr, "item leaseKey=s1: leaseOwner is N, expected S; leaseCounter "
                                   "is negative; checkpoint: 'nowhere' is neither a sequence "
                                   "number nor a sentinel; parentShardId is S, expected SS; "
                                   "endingHashKey: not a decimal hash key");
}

static void test_no_lease_key(void) {
    char errstr[512];
    kin_lease_t *lease = NULL;
    CU_ASSERT_EQUAL(parse("{\"leaseCounter\":{\"N\":\"1\"},\"checkpoint\":{\"S\":\"LATEST\"}}",
                          &lease, errstr, sizeof(errstr)),
                    SL_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(errstr, "item leaseKey=?: leaseKey missing");
}

static void test_kcl3_item_parses(void) {
    char errstr[512] = "";
    kin_lease_t *lease = NULL;
    CU_ASSERT_EQUAL(parse("{\"leaseKey\":{\"S\":\"s9\"},\"leaseOwner\":{\"S\":\"w\"},"
                          "\"leaseCounter\":{\"N\":\"42\"},\"checkpoint\":{\"S\":\"123\"},"
                          "\"checkpointSubSequenceNumber\":{\"N\":\"2\"},"
                          "\"throughputKBps\":{\"N\":\"12.5\"},"
                          "\"pendingCheckpointState\":{\"B\":\"AAE=\"}}",
                          &lease, errstr, sizeof(errstr)),
                    SL_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lease);
    CU_ASSERT_STRING_EQUAL(lease->key, "s9");
    CU_ASSERT_STRING_EQUAL(lease->owner, "w");
    CU_ASSERT_EQUAL(lease->counter, 42);
    CU_ASSERT_STRING_EQUAL(lease->checkpoint, "123");
    CU_ASSERT_EQUAL(lease->checkpoint_sub, 2);
    kin_lease_free(lease);
}

void test_kinesis_lease_register(void) {
    static const unit_test_t tests[] = {
        {"leaseCounter of type S and no checkpoint", test_counter_of_type_s_and_no_checkpoint},
        {"every bad attribute named", test_every_bad_attribute_named},
        {"no leaseKey", test_no_lease_key},
        {"KCL 3.x item parses", test_kcl3_item_parses},
        {NULL, NULL},
    };
    unit_add_suite("kinesis_lease", tests);
}
