/*
 * util_base64.c: the base64 codec (see util_base64.h). Table driven, no allocation; the
 * decoder checks every character and never writes past the caller's bound.
 */
#include <stdint.h>
#include <string.h>

#include "util_base64.h"

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define X 0xff
static const uint8_t b64_val[256] = {
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, 62, X, X, X, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, X,
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    /* 128..255: none is base64 */
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
};
#undef X

size_t util_b64_encoded_len(size_t n) {
    return (n + 2) / 3 * 4;
}

size_t util_b64_encode(char *out, const void *p, size_t n) {
    const uint8_t *in = p;
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = b64_chars[v >> 18];
        *o++ = b64_chars[(v >> 12) & 63];
        *o++ = b64_chars[(v >> 6) & 63];
        *o++ = b64_chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = b64_chars[v >> 18];
        *o++ = b64_chars[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *o++ = b64_chars[v >> 18];
        *o++ = b64_chars[(v >> 12) & 63];
        *o++ = b64_chars[(v >> 6) & 63];
        *o++ = '=';
    }
    *o = '\0';
    return (size_t)(o - out);
}

void util_sb_base64(sl_sb_t *sb, const void *p, size_t n) {
    char *room = sl_sb_room(sb, util_b64_encoded_len(n));
    if (!room)
        return;
    sb->len += util_b64_encode(room, p, n);
}

ssize_t util_b64_decoded_len(const char *s, size_t n) {
    size_t pad = 0;
    if (n % 4)
        return -1;
    if (n && s[n - 1] == '=')
        pad = n >= 2 && s[n - 2] == '=' ? 2 : 1;
    return (ssize_t)(n / 4 * 3 - pad);
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Decodes s[0..n) into o (NULL: only checks), writing at most cap bytes. */
static ssize_t decode(const char *s, size_t n, uint8_t *o, size_t cap, int flags) {
    const uint8_t *p;
    size_t full, need;
    uint32_t a, b, c, d;
    if (flags & UTIL_B64_TRIM) {
        while (n && is_space(*s))
            s++, n--;
        while (n && is_space(s[n - 1]))
            n--;
    }
    if (n % 4)
        return -1;
    if (!n)
        return 0;
    need = (size_t)util_b64_decoded_len(s, n);
    if (o && need > cap)
        return -2;
    p = (const uint8_t *)s;
    full = n / 4 - 1;
    for (size_t i = 0; i < full; i++, p += 4, o = o ? o + 3 : NULL) {
        a = b64_val[p[0]], b = b64_val[p[1]], c = b64_val[p[2]], d = b64_val[p[3]];
        if ((a | b | c | d) & 0x80)
            return -1;
        if (o) {
            uint32_t v = a << 18 | b << 12 | c << 6 | d;
            o[0] = (uint8_t)(v >> 16);
            o[1] = (uint8_t)(v >> 8);
            o[2] = (uint8_t)v;
        }
    }
    /* the last quantum may hold padding */
    a = b64_val[p[0]], b = b64_val[p[1]];
    if ((a | b) & 0x80)
        return -1;
    if (p[2] == '=') {
        if (p[3] != '=')
            return -1;
        if (o)
            o[0] = (uint8_t)(a << 2 | b >> 4);
        return (ssize_t)need;
    }
    c = b64_val[p[2]];
    if (c & 0x80)
        return -1;
    if (p[3] == '=') {
        if (o) {
            o[0] = (uint8_t)(a << 2 | b >> 4);
            o[1] = (uint8_t)(b << 4 | c >> 2);
        }
        return (ssize_t)need;
    }
    d = b64_val[p[3]];
    if (d & 0x80)
        return -1;
    if (o) {
        o[0] = (uint8_t)(a << 2 | b >> 4);
        o[1] = (uint8_t)(b << 4 | c >> 2);
        o[2] = (uint8_t)(c << 6 | d);
    }
    return (ssize_t)need;
}

ssize_t util_b64_decode(const char *s, size_t n, void *out, size_t cap, int flags) {
    return decode(s, n, out, cap, flags);
}

ssize_t util_b64_check(const char *s, size_t n) {
    return decode(s, n, NULL, (size_t)-1, 0);
}
