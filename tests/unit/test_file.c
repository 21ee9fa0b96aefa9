/*
 * test_file.c: the `file` system's partitioned producer (partitions=N), driven through its
 * out_* callbacks over a stand-in output: which file a record's line goes to (FNV-1a-64 of the
 * key), broadcast records written to every file and acknowledged once, after the flush that
 * wrote all their copies, and the torn-tail repair of each partition file. The routing and the
 * json envelope read back are judged end to end by tests/0059-file-partitions.sh.
 */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <event2/event.h>

#include "../../connectors/file/file.h"
#include "job_int.h"
#include "record_int.h"
#include "unit.h"

/* Counts the records acknowledged: a record's tracker reaches zero when the producer acks it
 * (sl_output_ack drops the producer's reference, the last one). */
typedef struct acktrack {
    sl_track_t base;
    int *acked;
} acktrack_t;

static void on_zero(sl_track_t *tr) {
    (*((acktrack_t *)tr)->acked)++;
}

/* A stand-in for the runtime's output on one worker: only what the producer reaches. */
typedef struct fake_out {
    sl_worker_t w;
    sl_sys_t sys;
    sl_stream_t st;
    sl_output_t out;
    file_stream_conf_t c;
} fake_out_t;

static void fake_init(fake_out_t *f, const char *path, int partitions) {
    memset(f, 0, sizeof(*f));
    f->w.base = event_base_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->w.base);
    f->c.path = (char *)path;
    f->c.partitions = partitions;
    f->c.write_buffer = 1 << 20;
    f->c.write_linger_ms = 100;
    f->sys.name = "s";
    f->st.sys = &f->sys;
    f->st.name = "t";
    f->st.conf = &f->c;
    f->out.w = &f->w;
    f->out.st = &f->st;
}

static void fake_free(fake_out_t *f) {
    event_base_free(f->w.base);
}

static sl_record_t *mkrec(const char *payload, const char *key, int broadcast, acktrack_t *tr,
                          int *acked) {
    sl_record_t *rec = sl_record_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    tr->base.refs = 0;
    tr->base.on_zero = on_zero;
    tr->acked = acked;
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "s", "in", "p", "0", 0, 0, &tr->base), SL_OK);
    CU_ASSERT_EQUAL(sl_record_set_data(rec, payload, strlen(payload)), SL_OK);
    if (key)
        CU_ASSERT_EQUAL(sl_record_set_key(rec, key, strlen(key)), SL_OK);
    if (broadcast)
        CU_ASSERT_EQUAL(sl_record_set_header(rec, FILE_BROADCAST_HEADER, "yes"), SL_OK);
    return rec;
}

/* The whole content of path (static storage, until the next call). */
static const char *slurp(const char *path) {
    static char buf[4096];
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    buf[0] = '\0';
    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static const char *part_path(const char *dir, int i) {
    static char path[640];
    snprintf(path, sizeof(path), "%s/partition-%05d", dir, i);
    return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes a test's temporary directory and everything in it. */
static void rm_tree(const char *top) {
    CU_ASSERT_EQUAL(nftw(top, rm_one, 8, FTW_DEPTH | FTW_PHYS), 0);
}

static void test_fnv1a64(void) {
    /* The published FNV-1a 64-bit test vectors: other programs must find the same files. */
    CU_ASSERT_EQUAL(file_fnv1a64("", 0), 0xcbf29ce484222325ULL);
    CU_ASSERT_EQUAL(file_fnv1a64("a", 1), 0xaf63dc4c8601ec8cULL);
    CU_ASSERT_EQUAL(file_fnv1a64("foobar", 6), 0x85944171f73967e8ULL);
    /* Bytes, not a C string: a NUL inside the key counts. */
    CU_ASSERT_NOT_EQUAL(file_fnv1a64("a\0b", 3), file_fnv1a64("a", 1));
}

static void test_partitioned(void) {
    char top[600], dir[600];
    fake_out_t f;
    void *state = NULL;
    acktrack_t tr[7];
    int acked = 0;
    struct stat st;
    /* Keys a, b, c, d hash to partitions 0, 1, 2, 3 (FNV-1a-64 % 4, as python computes). */
    static const char *const want[4] = {
        "pa\nnokey\nall\npe\n", "pb\nall\n", "all\npc\n", "all\npd\n",
    };

    snprintf(top, sizeof(top), "%s", unit_tmpdir());
    snprintf(dir, sizeof(dir), "%.500s/nested/parts", top);
    fake_init(&f, dir, 4);
    CU_ASSERT_EQUAL_FATAL(file_out_open(&f.out, &state), SL_OK);
    /* The directory was made, and every partition file exists before any record. */
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(stat(part_path(dir, i), &st), 0);
        CU_ASSERT_EQUAL(st.st_size, 0);
    }
    CU_ASSERT_NOT_EQUAL(stat(part_path(dir, 4), &st), 0);

    CU_ASSERT_EQUAL(file_out_send(&f.out, state, mkrec("pa", "a", 0, &tr[0], &acked)), SL_OK);
    CU_ASSERT_EQUAL(file_out_send(&f.out, state, mkrec("pb", "b", 0, &tr[1], &acked)), SL_OK);
    CU_ASSERT_EQUAL(file_out_send(&f.out, state, mkrec("nokey", NULL, 0, &tr[2], &acked)),
                    SL_OK);
    CU_ASSERT_EQUAL(file_out_send(&f.out, state, mkrec("all", "b", 1, &tr[3], &acked)), SL_OK);
    CU_ASSERT_EQUAL(file_out_send(&f.out, state, mkrec("pc", "c", 0, &tr[4], &acked)), SL_OK);
    CU_ASSERT_EQUAL(file_out_send(&f.out, state, mkrec("pd", "d", 0, &tr[5], &acked)), SL_OK);
    CU_ASSERT_EQUAL(file_out_send(&f.out, state, mkrec("pe", "e", 0, &tr[6], &acked)), SL_OK);
    /* Buffered: nothing written, nothing acknowledged yet. */
    CU_ASSERT_EQUAL(acked, 0);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_STRING_EQUAL(slurp(part_path(dir, i)), "");

    CU_ASSERT_EQUAL(file_out_flush(&f.out, state, 1), SL_OK);
    /* Seven records acknowledged, the broadcast one once for its four lines. */
    CU_ASSERT_EQUAL(acked, 7);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_STRING_EQUAL(slurp(part_path(dir, i)), want[i]);

    /* A second batch appends; a flush with nothing buffered writes nothing. */
    CU_ASSERT_EQUAL(file_out_send(&f.out, state, mkrec("all2", NULL, 1, &tr[0], &acked)), SL_OK);
    CU_ASSERT_EQUAL(file_out_flush(&f.out, state, 1), SL_OK);
    CU_ASSERT_EQUAL(file_out_flush(&f.out, state, 1), SL_OK);
    CU_ASSERT_EQUAL(acked, 8);
    CU_ASSERT_STRING_EQUAL(slurp(part_path(dir, 3)), "all\npd\nall2\n");
    file_out_close(&f.out, state);
    fake_free(&f);
    rm_tree(top);
}

/* A record still buffered when the producer closes is written and acknowledged then. */
static void test_close_flushes(void) {
    char dir[600];
    fake_out_t f;
    void *state = NULL;
    acktrack_t tr;
    int acked = 0;

    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    fake_init(&f, dir, 2);
    CU_ASSERT_EQUAL_FATAL(file_out_open(&f.out, &state), SL_OK);
    CU_ASSERT_EQUAL(file_out_send(&f.out, state, mkrec("x", NULL, 1, &tr, &acked)), SL_OK);
    file_out_close(&f.out, state);
    CU_ASSERT_EQUAL(acked, 1);
    CU_ASSERT_STRING_EQUAL(slurp(part_path(dir, 0)), "x\n");
    CU_ASSERT_STRING_EQUAL(slurp(part_path(dir, 1)), "x\n");
    fake_free(&f);
    rm_tree(dir);
}

/* A crash mid-write leaves a torn last line in any of the files: each is repaired at open. */
static void test_repair_each(void) {
    char dir[600];
    fake_out_t f;
    void *state = NULL;
    FILE *fp;

    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(part_path(dir, i), "w"));
        fputs(i == 0 ? "whole\n" : i == 1 ? "whole\ntorn" : "torn only", fp);
        fclose(fp);
    }
    fake_init(&f, dir, 3);
    CU_ASSERT_EQUAL_FATAL(file_out_open(&f.out, &state), SL_OK);
    CU_ASSERT_STRING_EQUAL(slurp(part_path(dir, 0)), "whole\n");
    CU_ASSERT_STRING_EQUAL(slurp(part_path(dir, 1)), "whole\n");
    CU_ASSERT_STRING_EQUAL(slurp(part_path(dir, 2)), "");
    file_out_close(&f.out, state);
    fake_free(&f);
    rm_tree(dir);
}

/* A path that exists and is not a directory: the output fails to open, saying so. */
static void test_not_a_directory(void) {
    char top[600], path[640];
    fake_out_t f;
    void *state = NULL;
    FILE *fp;

    snprintf(top, sizeof(top), "%s", unit_tmpdir());
    snprintf(path, sizeof(path), "%s/plain", top);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(path, "w"));
    fclose(fp);
    fake_init(&f, path, 2);
    CU_ASSERT_NOT_EQUAL(file_out_open(&f.out, &state), SL_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.out.errmsg, "is not a directory"));
    fake_free(&f);
    rm_tree(top);
}

void test_file_register(void) {
    static const unit_test_t tests[] = {
        {"fnv1a64", test_fnv1a64},
        {"partitioned", test_partitioned},
        {"close_flushes", test_close_flushes},
        {"repair_each", test_repair_each},
        {"not_a_directory", test_not_a_directory},
        {NULL, NULL},
    };
    unit_add_suite("file", tests);
}
