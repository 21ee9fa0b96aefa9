/*
 * kinesis_json.h: strict member access on jansson documents (kinesis_json.c), private to the
 * Kinesis connector's parsers (kinesis_shards.c, kinesis_getrecords.c). Each getter words
 * errstr as "<where>.<key>: ..." so a refused answer names the field. Any thread.
 */

#ifndef SL_KINESIS_JSON_H
#define SL_KINESIS_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "kinesis_shards.h"

/* The string member key of o (borrowed from o) into *out and *len (len may be NULL). Returns 1
 * when present, 0 when absent or null and optional; -1 with errstr when missing and required,
 * or of another type. */
int kin_json_str(const json_t *o, const char *key, int required, const char **out, size_t *len,
                 const char *where, char *errstr, size_t errlen);
/* A required object member (borrowed), or NULL with errstr. */
const json_t *kin_json_obj(const json_t *o, const char *key, const char *where, char *errstr,
                           size_t errlen);
/* A decimal string member (hash keys, sequence numbers) copied into *out (caller frees): 1, 0
 * when absent and optional, -1 with errstr. */
int kin_json_dec(const json_t *o, const char *key, int required, char **out, const char *where,
                 char *errstr, size_t errlen);
/* HashKeyRange's two decimal keys into si->start_hash / si->end_hash: 0, or -1 with errstr. */
int kin_json_hash_range(const json_t *o, kin_shard_info_t *si, const char *where, char *errstr,
                        size_t errlen);
/* A non-empty string member (shard ids) copied into *out (caller frees): 1, 0, -1. */
int kin_json_id(const json_t *o, const char *key, int required, char **out, const char *where,
                char *errstr, size_t errlen);

#endif
