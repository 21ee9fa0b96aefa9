/*
 * test_base64.c: unit tests of the base64 codec (util/util_base64.c): the RFC 4648 test
 * vectors both ways, every way a string can fail to be base64, the decoder's output bound
 * (nothing written past it: guard bytes and exactly-sized heap copies for the sanitizer builds),
 * the whitespace-trimming mode, and random round trips judged by OpenSSL's encoder.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>

#include "unit.h"
#include "util_base64.h"

static const char *const vectors[][2] = {
    {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648(void) {
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const char *raw = vectors[i][0], *enc = vectors[i][1];
        char out[16], dec[16];
        CU_ASSERT_EQUAL(util_b64_encoded_len(strlen(raw)), strlen(enc));
        CU_ASSERT_EQUAL(util_b64_encode(out, raw, strlen(raw)), strlen(enc));
        CU_ASSERT_STRING_EQUAL(out, enc);
        CU_ASSERT_EQUAL(util_b64_decoded_len(enc, strlen(enc)), (ssize_t)strlen(raw));
        CU_ASSERT_EQUAL(util_b64_check(enc, strlen(enc)), (ssize_t)strlen(raw));
        CU_ASSERT_EQUAL(util_b64_decode(enc, strlen(enc), dec, sizeof(dec), 0),
                        (ssize_t)strlen(raw));
        CU_ASSERT(!memcmp(dec, raw, strlen(raw)));
    }
}

static void test_invalid(void) {
    static const char *const bad[] = {
        "Zg=",      /* length not a multiple of 4 */
        "Zg",       "Z",       "Zm9vY",
        "Zm9v!A==", /* a character outside the alphabet */
        "Zm-v",     "Zm_v",    "Zm9v\x80g==",
        "Z===",     /* too much padding */
        "Zg=a",     /* data after padding */
        "=Zg=",     "Zg==Zm9v", /* padding before the last quantum */
        "Zm9v Yg==", /* whitespace inside */
        " Zm9v",    /* whitespace is only trimmed when asked */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[16];
        size_t n = strlen(bad[i]);
        CU_ASSERT_EQUAL(util_b64_decode(bad[i], n, out, sizeof(out), 0), -1);
        CU_ASSERT_EQUAL(util_b64_check(bad[i], n), -1);
    }
    /* a NUL inside the counted length is not base64 either */
    char out[8];
    CU_ASSERT_EQUAL(util_b64_decode("Zm\0v", 4, out, sizeof(out), 0), -1);
}

static void test_bound(void) {
    /* "foobar" needs 6 bytes: with 5 nothing may be written past out[5] */
    unsigned char buf[8];
    memset(buf, 0xAA, sizeof(buf));
    CU_ASSERT_EQUAL(util_b64_decode("Zm9vYmFy", 8, buf, 5, 0), -2);
    CU_ASSERT_EQUAL(buf[5], 0xAA);
    CU_ASSERT_EQUAL(buf[6], 0xAA);
    /* padding counts: "Zg==" is one byte and fits in one */
    memset(buf, 0xAA, sizeof(buf));
    CU_ASSERT_EQUAL(util_b64_decode("Zg==", 4, buf, 1, 0), 1);
    CU_ASSERT_EQUAL(buf[0], 'f');
    CU_ASSERT_EQUAL(buf[1], 0xAA);
    CU_ASSERT_EQUAL(util_b64_decode("Zg==", 4, buf, 0, 0), -2);
    /* exactly-sized heap output and input: ASan catches any access past either */
    char *in = malloc(8), *out = malloc(6);
    CU_ASSERT_FATAL(in && out);
    memcpy(in, "Zm9vYmFy", 8);
    CU_ASSERT_EQUAL(util_b64_decode(in, 8, out, 6, 0), 6);
    CU_ASSERT(!memcmp(out, "foobar", 6));
    free(in);
    free(out);
}

static void test_trim(void) {
    char out[8];
    CU_ASSERT_EQUAL(util_b64_decode(" \tZm9v\r\n", 8, out, sizeof(out), UTIL_B64_TRIM), 3);
    CU_ASSERT(!memcmp(out, "foo", 3));
    CU_ASSERT_EQUAL(util_b64_decode("   ", 3, out, sizeof(out), UTIL_B64_TRIM), 0);
    CU_ASSERT_EQUAL(util_b64_decode(" Zm9 v", 6, out, sizeof(out), UTIL_B64_TRIM), -1);
    /* unused low bits of the last quantum are ignored, as OpenSSL and Java do */
    CU_ASSERT_EQUAL(util_b64_decode("Zh==", 4, out, sizeof(out), 0), 1);
    CU_ASSERT_EQUAL(out[0], 'f');
}

static void test_sb_and_random(void) {
    unsigned char raw[300], dec[300];
    char ours[404], theirs[404];
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)round * 3 / 2 % sizeof(raw);
        for (size_t i = 0; i < n; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            raw[i] = (unsigned char)seed;
        }
        size_t len = util_b64_encode(ours, raw, n);
        int tl = EVP_EncodeBlock((unsigned char *)theirs, raw, (int)n);
        CU_ASSERT_EQUAL((int)len, tl);
        CU_ASSERT_STRING_EQUAL(ours, theirs);
        CU_ASSERT_EQUAL(util_b64_decode(ours, len, dec, n, 0), (ssize_t)n);
        CU_ASSERT(!memcmp(dec, raw, n));
        sl_sb_t sb = {0};
        sl_sb_puts(&sb, "<");
        util_sb_base64(&sb, raw, n);
        sl_sb_puts(&sb, ">");
        CU_ASSERT_FATAL(!sb.oom);
        CU_ASSERT_EQUAL(sb.len, len + 2);
        CU_ASSERT(!strncmp(sb.buf + 1, theirs, len));
        CU_ASSERT_EQUAL(sb.buf[len + 1], '>');
        sl_sb_free(&sb);
    }
}

void test_base64_register(void) {
    static const unit_test_t tests[] = {
        {"rfc4648", test_rfc4648},
        {"invalid", test_invalid},
        {"bound", test_bound},
        {"trim", test_trim},
        {"sb_and_random", test_sb_and_random},
        {NULL, NULL},
    };
    unit_add_suite("base64", tests);
}
