/*
 * kinesis_json.c: strict member access on the jansson documents the AWS client hands back
 * (ListShards, DescribeStream, the reference GetRecords parser): each getter checks the JSON
 * type and words a message naming where in the answer the field was; declared in
 * kinesis_json.h.
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "kinesis_json.h"
#include "kinesis_seq.h"
#include "util_str.h"

/* The string member key of o. Returns 1 when present, 0 when absent or null and optional;
 * -1 with errstr "<where>.<key>: ..." when missing and required, or of another type. */
int kin_json_str(const json_t *o, const char *key, int required, const char **out,
                 size_t *len, const char *where, char *errstr, size_t errlen) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        sl_errf(errstr, errlen, "%s.%s: missing", where, key);
        return -1;
    }
    if (!json_is_string(v)) {
        sl_errf(errstr, errlen, "%s.%s: expected a string", where, key);
        return -1;
    }
    *out = json_string_value(v);
    if (len)
        *len = json_string_length(v);
    return 1;
}

/* A required object member. */
const json_t *kin_json_obj(const json_t *o, const char *key, const char *where, char *errstr,
                           size_t errlen) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        sl_errf(errstr, errlen, "%s.%s: missing", where, key);
        return NULL;
    }
    if (!json_is_object(v)) {
        sl_errf(errstr, errlen, "%s.%s: expected an object", where, key);
        return NULL;
    }
    return v;
}

/* A decimal string member (hash keys, sequence numbers) copied into *out. */
int kin_json_dec(const json_t *o, const char *key, int required, char **out,
                 const char *where, char *errstr, size_t errlen) {
    const char *s;
    size_t n;
    int r = kin_json_str(o, key, required, &s, &n, where, errstr, errlen);
    if (r <= 0)
        return r;
    if (!kin_all_digits(s, n)) {
        sl_errf(errstr, errlen, "%s.%s: '%.40s' is not a decimal number", where, key, s);
        return -1;
    }
    if (!(*out = sl_strndup(s, n))) {
        sl_errf(errstr, errlen, "out of memory");
        return -1;
    }
    return 1;
}

int kin_json_hash_range(const json_t *o, kin_shard_info_t *si, const char *where,
                        char *errstr, size_t errlen) {
    char w[96];
    const json_t *r = kin_json_obj(o, "HashKeyRange", where, errstr, errlen);
    if (!r)
        return -1;
    snprintf(w, sizeof(w), "%s.HashKeyRange", where);
    if (kin_json_dec(r, "StartingHashKey", 1, &si->start_hash, w, errstr, errlen) < 0 ||
        kin_json_dec(r, "EndingHashKey", 1, &si->end_hash, w, errstr, errlen) < 0)
        return -1;
    return 0;
}

int kin_json_id(const json_t *o, const char *key, int required, char **out, const char *where,
                char *errstr, size_t errlen) {
    const char *s;
    size_t n;
    int r = kin_json_str(o, key, required, &s, &n, where, errstr, errlen);
    if (r <= 0)
        return r;
    if (!n) {
        sl_errf(errstr, errlen, "%s.%s: empty", where, key);
        return -1;
    }
    if (!(*out = sl_strndup(s, n))) {
        sl_errf(errstr, errlen, "out of memory");
        return -1;
    }
    return 1;
}
