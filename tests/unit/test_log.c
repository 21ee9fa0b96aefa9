/*
 * test_log.c: the log's settings: a job's (a thread-local scope) against the process-wide
 * ones, the host callback (lines scrubbed of secrets, in the scope's format), and the
 * process-wide debug list replaced while other threads read it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_int.h"
#include "unit.h"

typedef struct {
    char text[4096];
    int lines;
    int last_level;
} sink_t;

static void on_line(sl_log_level_t level, const char *fac, const char *line, void *opaque) {
    sink_t *s = opaque;
    size_t len = strlen(s->text);
    (void)fac;
    snprintf(s->text + len, sizeof(s->text) - len, "%s\n", line);
    s->lines++;
    s->last_level = (int)level;
}

static void reset_process_wide(void) {
    sl_log_set_callback(NULL, NULL);
    sl_log_set_debug(NULL);
    sl_log_set_level(SL_LOG_INFO);
    sl_log_set_json(0);
}

/* A job's settings (its scope) win over the process-wide ones on its thread, and only there. */
static void test_scope(void) {
    sink_t global = {{0}, 0, -1}, job = {{0}, 0, -1};
    sl_log_cfg_t cfg = {SL_LOG_DEBUG, 1, NULL, on_line, &job};
    const sl_log_cfg_t *prev;

    cfg.debug = sl_log_debug_list("ckpt, file");
    CU_ASSERT_STRING_EQUAL(cfg.debug, ",ckpt,file,");
    sl_log_set_level(SL_LOG_ERROR);
    sl_log_set_callback(on_line, &global);

    sl_log(SL_LOG_INFO, "t", "process-wide info");
    CU_ASSERT_EQUAL(global.lines, 0);
    CU_ASSERT_FALSE(sl_log_debug_enabled("ckpt"));

    prev = sl_log_scope(&cfg);
    CU_ASSERT_PTR_NULL(prev);
    CU_ASSERT_PTR_EQUAL(sl_log_current(), &cfg);
    CU_ASSERT_TRUE(sl_log_debug_enabled("ckpt"));
    CU_ASSERT_FALSE(sl_log_debug_enabled("worker"));
    sl_log(SL_LOG_INFO, "job", "job info");
    sl_log_debug("ckpt", "a ckpt line");
    sl_log_debug("worker", "a worker line");
    sl_log_scope(prev);
    CU_ASSERT_PTR_NULL(sl_log_current());

    CU_ASSERT_EQUAL(global.lines, 0);
    CU_ASSERT_EQUAL(job.lines, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(job.text, "\"level\":\"info\",\"fac\":\"job\",\"msg\":\"job info\"}\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(job.text, "\"fac\":\"ckpt\",\"msg\":\"a ckpt line\""));
    CU_ASSERT_PTR_NULL(strstr(job.text, "worker"));

    sl_log(SL_LOG_ERROR, "t", "process-wide error");
    CU_ASSERT_EQUAL(global.lines, 1);
    CU_ASSERT_EQUAL(global.last_level, SL_LOG_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(global.text, " error [t] process-wide error\n"));
    free(cfg.debug);
    reset_process_wide();
}

/* The callback gets the line scrubbed, without its newline. */
static void test_callback_scrubbed(void) {
    sink_t s = {{0}, 0, -1};
    sl_log_add_secret("s3cr3t-token-value");
    sl_log_set_callback(on_line, &s);
    sl_log(SL_LOG_WARN, "creds", "got s3cr3t-token-value from the server");
    CU_ASSERT_EQUAL(s.lines, 1);
    CU_ASSERT_PTR_NULL(strstr(s.text, "s3cr3t"));
    CU_ASSERT_PTR_NOT_NULL(strstr(s.text, "got **** from the server\n"));
    CU_ASSERT_EQUAL(s.text[strlen(s.text) - 2], 'r'); /* one newline: the sink's own */
    reset_process_wide();
}

static atomic_int readers_stop;

static void *read_debug(void *arg) {
    long hits = 0;
    while (!atomic_load(&readers_stop))
        hits += sl_log_debug_enabled("ckpt");
    return (void *)hits;
}

/* sl_log_set_debug() while other threads read the list: it freed the list they read. Run under
 * ASan or TSan to see it. */
static void test_set_debug_while_read(void) {
    pthread_t th[2];
    atomic_store(&readers_stop, 0);
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, read_debug, NULL), 0);
    for (int i = 0; i < 2000; i++)
        sl_log_set_debug(i % 2 ? "ckpt,file" : "worker,lease,http");
    atomic_store(&readers_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CU_ASSERT_TRUE(sl_log_debug_enabled("ckpt")); /* the last one set */
    reset_process_wide();
    CU_ASSERT_FALSE(sl_log_debug_enabled("ckpt"));
}

void test_log_register(void) {
    static const unit_test_t tests[] = {
        {"scope", test_scope},
        {"callback_scrubbed", test_callback_scrubbed},
        {"set_debug_while_read", test_set_debug_while_read},
        {NULL, NULL},
    };
    unit_add_suite("log", tests);
}
