/*
 * util_str.h: generic string helpers that know nothing about streams: a growable buffer, edit
 * distance for "did you mean" hints, and the parsers for sizes, durations and booleans that the
 * property tables use.
 */
#ifndef SL_UTIL_STR_H
#define SL_UTIL_STR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/common.h"

/* A growable NUL-terminated byte buffer. Zero-initialise, append, then free with
 * sl_sb_free() (or take ownership of .buf). On allocation failure .oom is set and further
 * appends are ignored. */
typedef struct sl_sb {
    char *buf;
    size_t len, cap;
    int oom;
} sl_sb_t;

void sl_sb_append(sl_sb_t *sb, const void *data, size_t len);
/* Room for n more bytes (and a NUL) at the end: the caller writes them there, then adds n to
 * .len. NULL when out of memory (.oom set). */
char *sl_sb_room(sl_sb_t *sb, size_t n);
void sl_sb_puts(sl_sb_t *sb, const char *s);
void sl_sb_putc(sl_sb_t *sb, char c);
void sl_sb_printf(sl_sb_t *sb, const char *fmt, ...) SL_PRINTF(2, 3);
void sl_sb_vprintf(sl_sb_t *sb, const char *fmt, va_list ap);
void sl_sb_reset(sl_sb_t *sb); /* len = 0, keeps memory */
void sl_sb_free(sl_sb_t *sb);
/* Appends s[0..n) as a JSON string: quoted, with '"', '\\' and control bytes escaped (other
 * bytes as they are, so UTF-8 stays UTF-8). */
void sl_sb_json_str(sl_sb_t *sb, const char *s, size_t n);

/* Levenshtein distance between a and b (case-sensitive), capped at max+1 for speed. */
int sl_edit_distance(const char *a, const char *b, int max);

/* The candidate closest to word, when close enough to be a plausible typo (distance at most
 * max(2, strlen(word)/4), or a case-insensitive match); NULL otherwise. Borrowed from
 * candidates. */
const char *sl_suggest(const char *word, const char *const *candidates, int n);

/* Parsers used by the property tables. Return 0 on success, -1 on a malformed value. */
int sl_parse_bool(const char *s, int *out);            /* true/false yes/no on/off 1/0 */
int sl_parse_int64(const char *s, int64_t *out);       /* decimal, optional sign */
int sl_parse_double(const char *s, double *out);
int sl_parse_size(const char *s, int64_t *out);        /* 512, 64K, 64KB, 64KiB, 5M, 1G, 1T */
int sl_parse_duration_ms(const char *s, int64_t *out); /* 1500, 250ms, 3s, 5m, 1h, 2d, 1.5s */

/* Case-insensitive ASCII comparison helpers. */
int sl_strieq(const char *a, const char *b);

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int sl_hexval(int c);

/* Formats into errstr[0..errlen) (nothing when errstr is NULL or errlen 0). */
void sl_errf(char *errstr, size_t errlen, const char *fmt, ...) SL_PRINTF(3, 4);

/* strdup/strndup that return NULL on failure (no abort). */
char *sl_strdup(const char *s);
/* s without leading blanks and trailing blanks or line ends (cut in place). */
char *sl_trim(char *s);
/* The environment variable name, or NULL when it is unset or empty. */
const char *sl_getenv_nonempty(const char *name);
char *sl_strndup(const char *s, size_t n);

#endif
