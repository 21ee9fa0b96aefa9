/*
 * util_json.h: jansson helpers every module may use. jansson's json_dumps() does not check what
 * writing an object's key returned: out of memory it drops the key ({:"5"}) and goes on, so a
 * request body or a partition key could silently lose a part. util_json_dumps() never does.
 */
#ifndef UTIL_JSON_H
#define UTIL_JSON_H

#include <stddef.h>

#include <jansson.h>

/* The text of json as json_dumps(json, flags) writes it, or NULL when out of memory (or when
 * json cannot be dumped with these flags). Never a text with a part left out. The caller frees
 * the text. Thread-safe (no shared state). */
char *util_json_dumps(const json_t *json, size_t flags);

#endif
