/*
 * main.c: the CUnit runner for every unit suite of libsluice. `sluice-unit [suite]` runs all
 * suites or just the named one; the exit code is non-zero when any assertion failed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "unit.h"

static void (*const registers[])(void) = {
    test_props_register,      test_conf_register,       test_record_register,
    test_chain_register,      test_operators_register,  test_checkpoint_register,
    test_state_register,      test_window_register,     test_file_register,
    test_metrics_register,    test_job_register,        test_sigv4_register,
    test_http_register,       test_creds_register,      test_aws_client_register,
    test_aws_endpoint_register, test_base64_register, test_log_register,
    test_host_register,       test_fake_aws_register,   test_oom_register,
#ifdef SL_WITH_KINESIS
    test_kpl_register,        test_kinesis_api_register, test_kinesis_conf_register,
    test_kinesis_coord_register, test_kinesis_sink_register, test_kinesis_ddb_register,
    test_kinesis_lease_register,
#endif
#ifdef SL_WITH_PULSAR
    test_pulsar_wire_register,
#endif
};

const char *unit_tmpdir(void) {
    static char path[512];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/sluice-unit-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

void unit_add_suite(const char *name, const unit_test_t *tests) {
    CU_pSuite suite = CU_add_suite(name, NULL, NULL);
    if (!suite) {
        fprintf(stderr, "CU_add_suite(%s): %s\n", name, CU_get_error_msg());
        exit(2);
    }
    for (const unit_test_t *t = tests; t->name; t++)
        if (!CU_add_test(suite, t->name, t->fn)) {
            fprintf(stderr, "CU_add_test(%s): %s\n", t->name, CU_get_error_msg());
            exit(2);
        }
}

int main(int argc, char **argv) {
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    for (size_t i = 0; i < sizeof(registers) / sizeof(registers[0]); i++)
        registers[i]();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (argc > 1) {
        CU_pSuite suite = CU_get_suite(argv[1]);
        if (!suite) {
            fprintf(stderr, "no suite named %s\n", argv[1]);
            CU_cleanup_registry();
            return 2;
        }
        CU_basic_run_suite(suite);
    } else {
        CU_basic_run_tests();
    }
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (run == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    return failed ? 1 : 0;
}
