/*
 * unit.h: shared declarations of the CUnit unit-test program: every test file defines one
 * register function listed in main.c's table.
 */
#ifndef SL_UNIT_H
#define SL_UNIT_H

#include <CUnit/CUnit.h>

void test_props_register(void);
void test_conf_register(void);
void test_record_register(void);
void test_chain_register(void);
void test_operators_register(void);
void test_checkpoint_register(void);
void test_state_register(void);
void test_metrics_register(void);
void test_job_register(void);
void test_host_register(void);
void test_sigv4_register(void);
void test_http_register(void);
void test_creds_register(void);
void test_aws_client_register(void);
void test_kpl_register(void);
void test_kinesis_api_register(void);
void test_kinesis_conf_register(void);
void test_kinesis_coord_register(void);
void test_kinesis_lease_register(void);
void test_kinesis_sink_register(void);
void test_pulsar_wire_register(void);
void test_kinesis_ddb_register(void);
void test_aws_endpoint_register(void);
void test_base64_register(void);
void test_log_register(void);
void test_fake_aws_register(void);
void test_oom_register(void);
void test_window_register(void);
void test_file_register(void);

/* A fresh temporary directory for a test (mkdtemp under $TMPDIR); the path is static storage
 * valid until the next call. */
const char *unit_tmpdir(void);

/* Adds a suite with the given tests (NULL-terminated name/function pairs). */
typedef struct unit_test {
    const char *name;
    void (*fn)(void);
} unit_test_t;
void unit_add_suite(const char *name, const unit_test_t *tests);

#endif
