/*
 * util_props.h: a lexer for Java .properties text (java.util.Properties.load semantics):
 * `=`, `:` or whitespace separators, `#` and `!` comment lines, backslash line continuation,
 * \t \n \r \f \\ and \uXXXX escapes (with UTF-16 surrogate pairs, emitted as UTF-8), leading
 * whitespace of keys and values dropped. On top of Java's rules: trailing whitespace of values
 * is trimmed, and ${VAR} / ${VAR:-default} are substituted from a lookup function.
 */
#ifndef SL_UTIL_PROPS_H
#define SL_UTIL_PROPS_H

#include <stddef.h>

/* Called once per key/value pair with the 1-based line where the pair started. key and value
 * are NUL-terminated and borrowed for the call. Return 0 to go on, non-zero to stop (the
 * parser then returns that value). */
typedef int (*sl_props_cb)(void *opaque, const char *key, const char *value, int line);

/* Looks up an environment-like variable; returns NULL when unset. */
typedef const char *(*sl_props_lookup)(void *opaque, const char *name);

/*
 * Parses text[0..len). Returns 0 on success, the callback's non-zero value if it stopped, or
 * -1 on a syntax error (a malformed \u escape, an unterminated ${, an unset variable without a
 * default), with "name:line: what" written to errstr. lookup may be NULL (no substitution is
 * done then: "${X}" stays as is). text need not be NUL-terminated.
 */
int sl_props_parse(const char *name, const char *text, size_t len, sl_props_cb cb, void *opaque,
                   sl_props_lookup lookup, void *lookup_opaque, char *errstr, size_t errlen);

#endif
