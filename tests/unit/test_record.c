/*
 * test_record.c: unit tests of records and their reference-counted buffers (runtime/record.c),
 * the unit of data that flows from a consumer through the operator chain to the producers:
 * buffer copy/wrap/ref semantics, record defaults, payload copies and shared slices, keys,
 * headers, event time, derivation (shared payload, copied key, headers and source metadata),
 * and the checkpoint tracking hook of record_int.h (a tracker's on_zero fires exactly once,
 * when the last record pointing at it goes). Leaks and double frees are left to ASan/valgrind.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record_int.h"
#include "unit.h"

/* A tracker that counts how often on_zero fired. */
typedef struct counting_track {
    sl_track_t base; /* first: records point here */
    int zeros;
} counting_track_t;

static void count_zero(sl_track_t *tr) {
    ((counting_track_t *)tr)->zeros++;
}

static void track_init(counting_track_t *ct) {
    memset(ct, 0, sizeof(*ct));
    ct->base.on_zero = count_zero;
}

/* --- buffers ------------------------------------------------------------------------------- */

static void test_buf_new_copies(void) {
    char src[] = "hello";
    sl_buf_t *buf = sl_buf_new(src, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_EQUAL(sl_buf_len(buf), 5);
    CU_ASSERT_PTR_NOT_EQUAL(sl_buf_data(buf), src);
    src[0] = 'J'; /* the buffer holds its own copy */
    CU_ASSERT_EQUAL(memcmp(sl_buf_data(buf), "hello", 5), 0);
    CU_ASSERT_EQUAL(buf->refs, 1);
    sl_buf_unref(buf);

    /* data NULL: len bytes to fill in place */
    buf = sl_buf_new(NULL, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_EQUAL(sl_buf_len(buf), 3);
    memcpy((void *)sl_buf_data(buf), "xyz", 3);
    CU_ASSERT_EQUAL(memcmp(sl_buf_data(buf), "xyz", 3), 0);
    sl_buf_unref(buf);

    buf = sl_buf_new(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_EQUAL(sl_buf_len(buf), 0);
    CU_ASSERT_PTR_NOT_NULL(sl_buf_data(buf));
    sl_buf_unref(buf);
    sl_buf_unref(NULL);
}

static void test_buf_wrap_owns(void) {
    char *data = malloc(6);
    sl_buf_t *buf;
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    memcpy(data, "abcdef", 6);
    buf = sl_buf_wrap(data, 6);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    /* no copy: the very same bytes */
    CU_ASSERT_PTR_EQUAL(sl_buf_data(buf), data);
    CU_ASSERT_EQUAL(sl_buf_len(buf), 6);
    CU_ASSERT_PTR_EQUAL(sl_buf_ref(buf), buf);
    CU_ASSERT_EQUAL(buf->refs, 2);
    sl_buf_unref(buf);
    CU_ASSERT_EQUAL(buf->refs, 1);
    /* still alive with one reference (ASan would flag a premature free here) */
    CU_ASSERT_EQUAL(memcmp(sl_buf_data(buf), "abcdef", 6), 0);
    sl_buf_unref(buf); /* frees data and the buffer: LeakSanitizer checks it */
}

static void test_buf_refcount(void) {
    sl_buf_t *buf = sl_buf_new("x", 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_EQUAL(buf->refs, 1);
    sl_buf_ref(buf);
    sl_buf_ref(buf);
    CU_ASSERT_EQUAL(buf->refs, 3);
    sl_buf_unref(buf);
    sl_buf_unref(buf);
    CU_ASSERT_EQUAL(buf->refs, 1);
    CU_ASSERT_EQUAL(*(const char *)sl_buf_data(buf), 'x');
    sl_buf_unref(buf);
}

/* --- records ------------------------------------------------------------------------------- */

static void test_record_defaults(void) {
    sl_record_t *rec = sl_record_new();
    const sl_source_t *src;
    const char *name = "unset", *value = "unset";
    size_t len = 99;
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_PTR_NOT_NULL(sl_record_data(rec, &len));
    CU_ASSERT_STRING_EQUAL(sl_record_data(rec, &len), "");
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_PTR_NOT_NULL(sl_record_data(rec, NULL));
    len = 99;
    CU_ASSERT_PTR_NULL(sl_record_key(rec, &len));
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_PTR_NULL(sl_record_key(rec, NULL));
    CU_ASSERT_EQUAL(sl_record_event_time(rec), 0);
    CU_ASSERT_EQUAL(sl_record_header_count(rec), 0);
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 0, &name, &value), SL_ERR_NOENT);
    CU_ASSERT_STRING_EQUAL(name, "unset"); /* untouched on failure */
    CU_ASSERT_PTR_NULL(sl_record_header(rec, "a"));
    src = sl_record_source(rec);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src->system);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src->stream);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src->partition);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src->offset);
    CU_ASSERT_STRING_EQUAL(src->system, "");
    CU_ASSERT_STRING_EQUAL(src->stream, "");
    CU_ASSERT_STRING_EQUAL(src->partition, "");
    CU_ASSERT_STRING_EQUAL(src->offset, "");
    CU_ASSERT_EQUAL(src->subseq, 0);
    CU_ASSERT_EQUAL(src->arrival_ms, 0);
    CU_ASSERT_PTR_NULL(rec->track);
    CU_ASSERT_EQUAL(rec->refs, 1);
    sl_record_unref(rec);
    sl_record_unref(NULL);
}

static void test_record_refcount(void) {
    sl_record_t *rec = sl_record_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(sl_record_set_data(rec, "payload", 7), SL_OK);
    CU_ASSERT_PTR_EQUAL(sl_record_ref(rec), rec);
    CU_ASSERT_EQUAL(rec->refs, 2);
    sl_record_unref(rec);
    CU_ASSERT_EQUAL(rec->refs, 1);
    CU_ASSERT_EQUAL(memcmp(sl_record_data(rec, NULL), "payload", 7), 0);
    sl_record_unref(rec);
}

static void test_record_set_data_copies(void) {
    char src[] = "first";
    sl_record_t *rec = sl_record_new();
    const char *data;
    size_t len = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(sl_record_set_data(rec, src, 5), SL_OK);
    data = sl_record_data(rec, &len);
    CU_ASSERT_PTR_NOT_EQUAL(data, src);
    CU_ASSERT_EQUAL(len, 5);
    src[0] = 'X';
    CU_ASSERT_EQUAL(memcmp(data, "first", 5), 0);
    /* replacing drops the old payload (LeakSanitizer) */
    CU_ASSERT_EQUAL(sl_record_set_data(rec, "second!", 7), SL_OK);
    data = sl_record_data(rec, &len);
    CU_ASSERT_EQUAL(len, 7);
    CU_ASSERT_EQUAL(memcmp(data, "second!", 7), 0);
    /* an empty payload is "" with length 0, never NULL */
    CU_ASSERT_EQUAL(sl_record_set_data(rec, NULL, 0), SL_OK);
    data = sl_record_data(rec, &len);
    CU_ASSERT_PTR_NOT_NULL(data);
    CU_ASSERT_EQUAL(len, 0);
    sl_record_unref(rec);
}

static void test_record_set_slice_shares(void) {
    sl_buf_t *buf = sl_buf_new("0123456789", 10);
    sl_record_t *rec = sl_record_new();
    const char *data;
    size_t len = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, buf, 3, 4), SL_OK);
    data = sl_record_data(rec, &len);
    CU_ASSERT_PTR_EQUAL(data, (const char *)sl_buf_data(buf) + 3);
    CU_ASSERT_EQUAL(len, 4);
    CU_ASSERT_EQUAL(memcmp(data, "3456", 4), 0);
    CU_ASSERT_EQUAL(buf->refs, 2); /* the record took its own reference */

    /* out of range: rejected, the record keeps its slice */
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, buf, 11, 0), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, buf, 8, 3), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, buf, 0, 11), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, buf, 5, SIZE_MAX), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, buf, SIZE_MAX, 2), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, NULL, 0, 0), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(buf->refs, 2);
    data = sl_record_data(rec, &len);
    CU_ASSERT_PTR_EQUAL(data, (const char *)sl_buf_data(buf) + 3);
    CU_ASSERT_EQUAL(len, 4);

    /* the whole buffer, and an empty slice at its very end, are in range */
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, buf, 0, 10), SL_OK);
    CU_ASSERT_EQUAL(buf->refs, 2); /* re-slicing the same buffer keeps one reference */
    data = sl_record_data(rec, &len);
    CU_ASSERT_PTR_EQUAL(data, sl_buf_data(buf));
    CU_ASSERT_EQUAL(len, 10);
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, buf, 10, 0), SL_OK);
    sl_record_data(rec, &len);
    CU_ASSERT_EQUAL(len, 0);

    /* the record keeps the buffer alive after the caller drops its reference */
    CU_ASSERT_EQUAL(sl_record_set_slice(rec, buf, 7, 3), SL_OK);
    sl_buf_unref(buf);
    CU_ASSERT_EQUAL(buf->refs, 1);
    data = sl_record_data(rec, &len);
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT_EQUAL(memcmp(data, "789", 3), 0);

    /* set_data replaces the slice and releases the buffer (LeakSanitizer) */
    CU_ASSERT_EQUAL(sl_record_set_data(rec, "own", 3), SL_OK);
    data = sl_record_data(rec, &len);
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT_EQUAL(memcmp(data, "own", 3), 0);
    sl_record_unref(rec);
}

static void test_record_key(void) {
    sl_record_t *rec = sl_record_new();
    char src[] = "user-42xyz";
    const char *key;
    size_t len = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(sl_record_set_key(rec, src, 7), SL_OK);
    key = sl_record_key(rec, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(key);
    CU_ASSERT_PTR_NOT_EQUAL(key, src);
    CU_ASSERT_EQUAL(len, 7);
    CU_ASSERT_EQUAL(memcmp(key, "user-42", 7), 0);
    src[0] = 'X';
    CU_ASSERT_EQUAL(memcmp(sl_record_key(rec, NULL), "user-42", 7), 0);
    /* replace */
    CU_ASSERT_EQUAL(sl_record_set_key(rec, "k2", 2), SL_OK);
    key = sl_record_key(rec, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(key);
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT_EQUAL(memcmp(key, "k2", 2), 0);
    /* an empty key is a key, not "no key" */
    CU_ASSERT_EQUAL(sl_record_set_key(rec, "", 0), SL_OK);
    CU_ASSERT_PTR_NOT_NULL(sl_record_key(rec, &len));
    CU_ASSERT_EQUAL(len, 0);
    /* remove */
    CU_ASSERT_EQUAL(sl_record_set_key(rec, NULL, 0), SL_OK);
    len = 5;
    CU_ASSERT_PTR_NULL(sl_record_key(rec, &len));
    CU_ASSERT_EQUAL(len, 0);
    sl_record_unref(rec);
}

/* Runs fn in a child process and returns 1 when it returned 1. For checks that would touch
 * freed or out-of-bounds memory when the code under test is wrong: the child's sanitizer
 * report (or garbage) then fails this one test instead of aborting the whole run. */
static int isolated(int (*fn)(void)) {
    int status = 0;
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0)
        _exit(fn() == 1 ? 0 : 1); /* _exit: no atexit handlers (CUnit, leak check) in the child */
    if (waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static const char bin_key[4] = {'a', '\0', 'b', 'c'};

/* 1 when a key with a NUL byte comes back whole, directly and through derive. */
static int binary_key_roundtrip(void) {
    sl_record_t *rec = sl_record_new(), *child = NULL;
    const char *key;
    size_t len = 0;
    int ok = 0;
    if (!rec || sl_record_set_key(rec, bin_key, sizeof(bin_key)) != SL_OK)
        goto done;
    key = sl_record_key(rec, &len);
    if (!key || len != sizeof(bin_key) || memcmp(key, bin_key, sizeof(bin_key)) != 0)
        goto done;
    if (!(child = sl_record_derive(rec)))
        goto done;
    key = sl_record_key(child, &len);
    ok = key && len == sizeof(bin_key) && memcmp(key, bin_key, sizeof(bin_key)) == 0;
done:
    sl_record_unref(child);
    sl_record_unref(rec);
    return ok;
}

/* Keys are bytes (record.h: "a copy of key[0..len)"; samza.key.serde: "sluice passes keys as
 * bytes"): a key with a NUL byte must come back whole, not cut at the NUL with its length
 * still claiming the bytes after it. */
static void test_record_key_binary(void) {
    sl_record_t *rec = sl_record_new();
    size_t len = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(sl_record_set_key(rec, bin_key, sizeof(bin_key)), SL_OK);
    CU_ASSERT_PTR_NOT_NULL(sl_record_key(rec, &len));
    CU_ASSERT_EQUAL(len, sizeof(bin_key));
    sl_record_unref(rec);
    CU_ASSERT(isolated(binary_key_roundtrip));
}

static void test_record_headers(void) {
    sl_record_t *rec = sl_record_new();
    const char *name = NULL, *value = NULL;
    char big[40];
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(sl_record_set_header(rec, "a", "1"), SL_OK);
    CU_ASSERT_EQUAL(sl_record_set_header(rec, "b", "2"), SL_OK);
    CU_ASSERT_EQUAL(sl_record_set_header(rec, "c", "3"), SL_OK);
    CU_ASSERT_EQUAL(sl_record_header_count(rec), 3);
    CU_ASSERT_STRING_EQUAL(sl_record_header(rec, "b"), "2");
    CU_ASSERT_PTR_NULL(sl_record_header(rec, "B")); /* names are case-sensitive */
    CU_ASSERT_PTR_NULL(sl_record_header(rec, "d"));

    /* values are copies */
    snprintf(big, sizeof(big), "%s", "mutable");
    CU_ASSERT_EQUAL(sl_record_set_header(rec, "m", big), SL_OK);
    big[0] = 'X';
    CU_ASSERT_STRING_EQUAL(sl_record_header(rec, "m"), "mutable");
    CU_ASSERT_EQUAL(sl_record_set_header(rec, "m", NULL), SL_OK);

    /* replacing keeps the position and the count */
    CU_ASSERT_EQUAL(sl_record_set_header(rec, "b", "two"), SL_OK);
    CU_ASSERT_EQUAL(sl_record_header_count(rec), 3);
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 1, &name, &value), SL_OK);
    CU_ASSERT_STRING_EQUAL(name, "b");
    CU_ASSERT_STRING_EQUAL(value, "two");

    /* insertion order */
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 0, &name, &value), SL_OK);
    CU_ASSERT_STRING_EQUAL(name, "a");
    CU_ASSERT_STRING_EQUAL(value, "1");
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 2, &name, &value), SL_OK);
    CU_ASSERT_STRING_EQUAL(name, "c");
    CU_ASSERT_STRING_EQUAL(value, "3");
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 2, NULL, NULL), SL_OK);

    /* out of range */
    name = value = "untouched";
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 3, &name, &value), SL_ERR_NOENT);
    CU_ASSERT_EQUAL(sl_record_header_at(rec, -1, &name, &value), SL_ERR_NOENT);
    CU_ASSERT_STRING_EQUAL(name, "untouched");
    CU_ASSERT_STRING_EQUAL(value, "untouched");

    /* deleting the middle one keeps the order of the others */
    CU_ASSERT_EQUAL(sl_record_set_header(rec, "b", NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_record_header_count(rec), 2);
    CU_ASSERT_PTR_NULL(sl_record_header(rec, "b"));
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 0, &name, &value), SL_OK);
    CU_ASSERT_STRING_EQUAL(name, "a");
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 1, &name, &value), SL_OK);
    CU_ASSERT_STRING_EQUAL(name, "c");
    CU_ASSERT_STRING_EQUAL(value, "3");
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 2, &name, &value), SL_ERR_NOENT);
    /* deleting a missing header is not an error */
    CU_ASSERT_EQUAL(sl_record_set_header(rec, "zz", NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_record_header_count(rec), 2);
    CU_ASSERT_EQUAL(sl_record_set_header(rec, NULL, "v"), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_record_header_count(rec), 2);

    /* grow past the initial capacity; a re-added header goes to the end */
    for (int i = 0; i < 20; i++) {
        snprintf(big, sizeof(big), "h%02d", i);
        CU_ASSERT_EQUAL(sl_record_set_header(rec, big, big), SL_OK);
    }
    CU_ASSERT_EQUAL(sl_record_set_header(rec, "b", "back"), SL_OK);
    CU_ASSERT_EQUAL(sl_record_header_count(rec), 23);
    CU_ASSERT_EQUAL(sl_record_header_at(rec, 22, &name, &value), SL_OK);
    CU_ASSERT_STRING_EQUAL(name, "b");
    CU_ASSERT_STRING_EQUAL(value, "back");
    CU_ASSERT_STRING_EQUAL(sl_record_header(rec, "h19"), "h19");
    sl_record_unref(rec);
}

static void test_record_event_time(void) {
    sl_record_t *rec = sl_record_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    sl_record_set_event_time(rec, 1700000000123);
    CU_ASSERT_EQUAL(sl_record_event_time(rec), 1700000000123);
    sl_record_set_event_time(rec, -5);
    CU_ASSERT_EQUAL(sl_record_event_time(rec), -5);
    sl_record_set_event_time(rec, 0);
    CU_ASSERT_EQUAL(sl_record_event_time(rec), 0);
    sl_record_unref(rec);
}

static void test_record_source(void) {
    char offset[64], longoff[65];
    sl_record_t *rec = sl_record_new();
    const sl_source_t *src;
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    /* 63 characters: the longest offset kept inline */
    memset(offset, '7', sizeof(offset) - 1);
    offset[sizeof(offset) - 1] = '\0';
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "files", "in", "/tmp/a.log", offset, 3, 1234, NULL),
                    SL_OK);
    src = sl_record_source(rec);
    CU_ASSERT_STRING_EQUAL(src->system, "files");
    CU_ASSERT_STRING_EQUAL(src->stream, "in");
    CU_ASSERT_STRING_EQUAL(src->partition, "/tmp/a.log");
    CU_ASSERT_STRING_EQUAL(src->offset, offset);
    CU_ASSERT_PTR_NOT_EQUAL(src->offset, offset); /* copied */
    CU_ASSERT_EQUAL(src->subseq, 3);
    CU_ASSERT_EQUAL(src->arrival_ms, 1234);
    /* 64 characters: on the heap */
    memset(longoff, '8', sizeof(longoff) - 1);
    longoff[sizeof(longoff) - 1] = '\0';
    CU_ASSERT_EQUAL(sl_record_set_source(rec, NULL, NULL, NULL, longoff, 0, 0, NULL), SL_OK);
    src = sl_record_source(rec);
    CU_ASSERT_STRING_EQUAL(src->offset, longoff);
    CU_ASSERT_STRING_EQUAL(src->system, ""); /* NULL strings read as "" */
    CU_ASSERT_STRING_EQUAL(src->partition, "");
    longoff[0] = 'X';
    CU_ASSERT_EQUAL(src->offset[0], '8');
    /* back to a short one frees the heap copy (LeakSanitizer) */
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "s", "t", "p", "42", 0, 0, NULL), SL_OK);
    CU_ASSERT_STRING_EQUAL(sl_record_source(rec)->offset, "42");
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "s", "t", "p", NULL, 0, 0, NULL), SL_OK);
    CU_ASSERT_STRING_EQUAL(sl_record_source(rec)->offset, "");
    sl_record_unref(rec);
}

/* 1 when re-setting the source with the record's own (borrowed) offset keeps that offset,
 * for a short (inline) and a long (heap) one. */
static int reset_with_own_offset(void) {
    char longoff[101];
    sl_record_t *rec = sl_record_new();
    int ok = 0;
    if (!rec)
        return 0;
    if (sl_record_set_source(rec, "a", "b", "c", "12345", 0, 0, NULL) != SL_OK ||
        sl_record_set_source(rec, "x", "y", "z", sl_record_source(rec)->offset, 1, 2, NULL) !=
            SL_OK ||
        strcmp(sl_record_source(rec)->offset, "12345") != 0)
        goto done;
    memset(longoff, '9', sizeof(longoff) - 1);
    longoff[sizeof(longoff) - 1] = '\0';
    if (sl_record_set_source(rec, "a", "b", "c", longoff, 0, 0, NULL) != SL_OK ||
        sl_record_set_source(rec, "x", "y", "z", sl_record_source(rec)->offset, 1, 2, NULL) !=
            SL_OK)
        goto done;
    ok = !strcmp(sl_record_source(rec)->offset, longoff) &&
         !strcmp(sl_record_source(rec)->system, "x");
done:
    sl_record_unref(rec);
    return ok;
}

/* The offset a record hands out is "valid while the caller holds its reference"; passing it
 * back to sl_record_set_source() (keep the offset, change the rest) must work. */
static void test_record_source_keep_offset(void) {
    CU_ASSERT(isolated(reset_with_own_offset));
}

static void test_record_derive(void) {
    char longoff[150];
    sl_buf_t *buf = sl_buf_new("{\"a\":1}{\"b\":2}", 14);
    sl_record_t *parent = sl_record_new(), *child;
    const sl_source_t *ps, *cs;
    const char *pkey, *ckey;
    size_t plen = 0, clen = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(parent);
    memset(longoff, '5', sizeof(longoff) - 1);
    longoff[sizeof(longoff) - 1] = '\0';
    CU_ASSERT_EQUAL(sl_record_set_source(parent, "kinesis", "events", "shardId-000", longoff, 7,
                                         99, NULL),
                    SL_OK);
    CU_ASSERT_EQUAL(sl_record_set_slice(parent, buf, 7, 7), SL_OK);
    CU_ASSERT_EQUAL(sl_record_set_key(parent, "pk", 2), SL_OK);
    CU_ASSERT_EQUAL(sl_record_set_header(parent, "h1", "v1"), SL_OK);
    CU_ASSERT_EQUAL(sl_record_set_header(parent, "h2", "v2"), SL_OK);
    sl_record_set_event_time(parent, 555);

    child = sl_record_derive(parent);
    CU_ASSERT_PTR_NOT_NULL_FATAL(child);
    CU_ASSERT_EQUAL(child->refs, 1);
    CU_ASSERT_EQUAL(parent->refs, 1); /* parent only borrowed */
    /* payload: the same bytes of the same buffer */
    CU_ASSERT_PTR_EQUAL(sl_record_data(child, &clen), sl_record_data(parent, &plen));
    CU_ASSERT_PTR_EQUAL(sl_record_data(child, NULL), (const char *)sl_buf_data(buf) + 7);
    CU_ASSERT_EQUAL(clen, 7);
    CU_ASSERT_EQUAL(buf->refs, 3);
    /* key: an equal copy */
    pkey = sl_record_key(parent, &plen);
    ckey = sl_record_key(child, &clen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ckey);
    CU_ASSERT_PTR_NOT_EQUAL(ckey, pkey);
    CU_ASSERT_EQUAL(clen, 2);
    CU_ASSERT_EQUAL(memcmp(ckey, "pk", 2), 0);
    /* headers: equal copies, independent of the parent's */
    CU_ASSERT_EQUAL(sl_record_header_count(child), 2);
    CU_ASSERT_STRING_EQUAL(sl_record_header(child, "h1"), "v1");
    CU_ASSERT_PTR_NOT_EQUAL(sl_record_header(child, "h1"), sl_record_header(parent, "h1"));
    CU_ASSERT_EQUAL(sl_record_set_header(child, "h1", "changed"), SL_OK);
    CU_ASSERT_EQUAL(sl_record_set_header(child, "h2", NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_record_set_header(child, "h3", "new"), SL_OK);
    CU_ASSERT_EQUAL(sl_record_header_count(parent), 2);
    CU_ASSERT_STRING_EQUAL(sl_record_header(parent, "h1"), "v1");
    CU_ASSERT_STRING_EQUAL(sl_record_header(parent, "h2"), "v2");
    CU_ASSERT_PTR_NULL(sl_record_header(parent, "h3"));
    CU_ASSERT_EQUAL(sl_record_set_key(child, "other", 5), SL_OK);
    CU_ASSERT_EQUAL(memcmp(sl_record_key(parent, NULL), "pk", 2), 0);
    /* event time and source metadata */
    CU_ASSERT_EQUAL(sl_record_event_time(child), 555);
    ps = sl_record_source(parent);
    cs = sl_record_source(child);
    CU_ASSERT_STRING_EQUAL(cs->system, "kinesis");
    CU_ASSERT_STRING_EQUAL(cs->stream, "events");
    CU_ASSERT_STRING_EQUAL(cs->partition, "shardId-000");
    CU_ASSERT_EQUAL(cs->subseq, 7);
    CU_ASSERT_EQUAL(cs->arrival_ms, 99);
    CU_ASSERT_STRING_EQUAL(cs->offset, longoff);
    CU_ASSERT_PTR_NOT_EQUAL(cs->offset, ps->offset); /* its own copy of the long offset */
    /* the child outlives its parent: offset, payload and key stay valid (ASan) */
    sl_record_unref(parent);
    CU_ASSERT_EQUAL(buf->refs, 2);
    CU_ASSERT_STRING_EQUAL(sl_record_source(child)->offset, longoff);
    CU_ASSERT_EQUAL(memcmp(sl_record_data(child, NULL), "{\"b\":2}", 7), 0);
    CU_ASSERT_EQUAL(memcmp(sl_record_key(child, NULL), "other", 5), 0);
    sl_record_unref(child);
    CU_ASSERT_EQUAL(buf->refs, 1);
    sl_buf_unref(buf);
}

static void test_record_derive_empty(void) {
    sl_record_t *parent = sl_record_new(), *child;
    size_t len = 9;
    CU_ASSERT_PTR_NOT_NULL_FATAL(parent);
    CU_ASSERT_EQUAL(sl_record_set_source(parent, "s", "t", "p", "short", 0, 0, NULL), SL_OK);
    child = sl_record_derive(parent);
    CU_ASSERT_PTR_NOT_NULL_FATAL(child);
    CU_ASSERT_PTR_NOT_NULL(sl_record_data(child, &len));
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_PTR_NULL(sl_record_key(child, NULL));
    CU_ASSERT_EQUAL(sl_record_header_count(child), 0);
    CU_ASSERT_STRING_EQUAL(sl_record_source(child)->offset, "short");
    /* a short offset lives in the child itself, not in the parent */
    CU_ASSERT_PTR_NOT_EQUAL(sl_record_source(child)->offset, sl_record_source(parent)->offset);
    sl_record_unref(parent);
    CU_ASSERT_STRING_EQUAL(sl_record_source(child)->offset, "short");
    sl_record_unref(child);
}

/* --- checkpoint tracking ------------------------------------------------------------------- */

static void test_track_lifecycle(void) {
    counting_track_t ct;
    sl_record_t *rec = sl_record_new(), *d1, *d2;
    track_init(&ct);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "s", "t", "p", "10", 0, 0, &ct.base), SL_OK);
    CU_ASSERT_EQUAL(ct.base.refs, 1);
    CU_ASSERT_PTR_EQUAL(rec->track, &ct.base);
    d1 = sl_record_derive(rec);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d1);
    CU_ASSERT_EQUAL(ct.base.refs, 2);
    d2 = sl_record_derive(d1); /* a grandchild tracks the same source offset */
    CU_ASSERT_PTR_NOT_NULL_FATAL(d2);
    CU_ASSERT_EQUAL(ct.base.refs, 3);
    /* extra references to a record are not extra tracker references */
    sl_record_ref(rec);
    CU_ASSERT_EQUAL(ct.base.refs, 3);
    sl_record_unref(rec);
    CU_ASSERT_EQUAL(ct.base.refs, 3);
    sl_record_unref(rec);
    CU_ASSERT_EQUAL(ct.base.refs, 2);
    CU_ASSERT_EQUAL(ct.zeros, 0);
    sl_record_unref(d2);
    CU_ASSERT_EQUAL(ct.base.refs, 1);
    CU_ASSERT_EQUAL(ct.zeros, 0);
    sl_record_unref(d1);
    CU_ASSERT_EQUAL(ct.base.refs, 0);
    CU_ASSERT_EQUAL(ct.zeros, 1);
}

static void test_track_move(void) {
    counting_track_t a, b;
    sl_record_t *rec = sl_record_new(), *child;
    track_init(&a);
    track_init(&b);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "s", "t", "p", "1", 0, 0, &a.base), SL_OK);
    /* the same tracker again: still one reference, nothing fires */
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "s", "t", "p", "1", 0, 0, &a.base), SL_OK);
    CU_ASSERT_EQUAL(a.base.refs, 1);
    CU_ASSERT_EQUAL(a.zeros, 0);
    child = sl_record_derive(rec);
    CU_ASSERT_PTR_NOT_NULL_FATAL(child);
    CU_ASSERT_EQUAL(a.base.refs, 2);
    /* moving the parent to b: a keeps the child's reference */
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "s", "t", "p", "2", 0, 0, &b.base), SL_OK);
    CU_ASSERT_EQUAL(a.base.refs, 1);
    CU_ASSERT_EQUAL(a.zeros, 0);
    CU_ASSERT_EQUAL(b.base.refs, 1);
    /* moving the child too: a's last reference goes, on_zero fires once */
    CU_ASSERT_EQUAL(sl_record_set_source(child, "s", "t", "p", "2", 0, 0, &b.base), SL_OK);
    CU_ASSERT_EQUAL(a.base.refs, 0);
    CU_ASSERT_EQUAL(a.zeros, 1);
    CU_ASSERT_EQUAL(b.base.refs, 2);
    /* detaching (NULL tracker) releases too */
    CU_ASSERT_EQUAL(sl_record_set_source(child, "s", "t", "p", "3", 0, 0, NULL), SL_OK);
    CU_ASSERT_PTR_NULL(child->track);
    CU_ASSERT_EQUAL(b.base.refs, 1);
    CU_ASSERT_EQUAL(b.zeros, 0);
    sl_record_unref(child);
    CU_ASSERT_EQUAL(b.zeros, 0);
    sl_record_unref(rec);
    CU_ASSERT_EQUAL(b.base.refs, 0);
    CU_ASSERT_EQUAL(b.zeros, 1);
    CU_ASSERT_EQUAL(a.zeros, 1); /* never again */
}

/* A tracker without on_zero is allowed (NULL callback). */
static void test_track_no_callback(void) {
    sl_track_t tr = {0, NULL};
    sl_record_t *rec = sl_record_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(sl_record_set_source(rec, "s", "t", "p", "1", 0, 0, &tr), SL_OK);
    CU_ASSERT_EQUAL(tr.refs, 1);
    sl_record_unref(rec);
    CU_ASSERT_EQUAL(tr.refs, 0);
}

void test_record_register(void) {
    static const unit_test_t tests[] = {
        {"buf_new_copies", test_buf_new_copies},
        {"buf_wrap_owns", test_buf_wrap_owns},
        {"buf_refcount", test_buf_refcount},
        {"record_defaults", test_record_defaults},
        {"record_refcount", test_record_refcount},
        {"record_set_data_copies", test_record_set_data_copies},
        {"record_set_slice_shares", test_record_set_slice_shares},
        {"record_key", test_record_key},
        {"record_key_binary", test_record_key_binary},
        {"record_headers", test_record_headers},
        {"record_event_time", test_record_event_time},
        {"record_source", test_record_source},
        {"record_source_keep_offset", test_record_source_keep_offset},
        {"record_derive", test_record_derive},
        {"record_derive_empty", test_record_derive_empty},
        {"track_lifecycle", test_track_lifecycle},
        {"track_move", test_track_move},
        {"track_no_callback", test_track_no_callback},
        {NULL, NULL},
    };
    unit_add_suite("record", tests);
}
