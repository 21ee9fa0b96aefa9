/*
 * util_base64.h: the one base64 codec (RFC 4648, standard alphabet, padded) of sluice: AWS JSON
 * carries record data in it (Kinesis GetRecords/PutRecords, DynamoDB Streams B/BS), the Kinesis
 * sink's message formats write it, and Pulsar carries binary keys in it. Decoding always takes
 * an explicit output bound, so no input can write past the caller's buffer.
 */
#ifndef UTIL_BASE64_H
#define UTIL_BASE64_H

#include <stddef.h>
#include <sys/types.h>

#include "util_str.h"

/* The padded encoded length of n bytes (no NUL). */
size_t util_b64_encoded_len(size_t n);

/* Writes the padded base64 of p[0..n) and a NUL to out, which must hold
 * util_b64_encoded_len(n) + 1 bytes. Returns the length written (without the NUL). */
size_t util_b64_encode(char *out, const void *p, size_t n);

/* Appends the padded base64 of p[0..n) to sb (sets sb->oom when out of memory). */
void util_sb_base64(sl_sb_t *sb, const void *p, size_t n);

/* The exact decoded length of padded base64 s[0..n) judging by its length and padding only, or
 * -1 when n is not a multiple of 4 (the characters are checked by util_b64_decode()). */
ssize_t util_b64_decoded_len(const char *s, size_t n);

/* Decoding flags. Strict (0): n a multiple of 4, only the 64 alphabet characters, '=' only as
 * the last one or two characters. */
#define UTIL_B64_TRIM 0x01 /* also ignore leading and trailing whitespace (as OpenSSL's
                            * EVP_DecodeBlock does) */

/* Decodes s[0..n) into out, writing at most cap bytes. Unused low bits of the last quantum are
 * ignored, as most decoders do. Returns the decoded length; -1 when s is not base64; -2 when
 * the result would not fit in cap (nothing beyond out[cap) is written). */
ssize_t util_b64_decode(const char *s, size_t n, void *out, size_t cap, int flags);

/* Checks that s[0..n) is strict padded base64 without decoding it. Returns the decoded length,
 * or -1 when it is not base64. */
ssize_t util_b64_check(const char *s, size_t n);

#endif
