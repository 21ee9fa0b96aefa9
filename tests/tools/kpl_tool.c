/*
 * kpl_tool.c: a test helper that exposes sluice's KPL aggregation format on stdin/stdout so an
 * outside judge (AWS's aws_kinesis_agg Python library, tests/0014-kpl-interop.sh) can check it.
 * "kpl-tool deagg" reads JSON lines {"data": base64 of a Kinesis record's data, "pk", "ehk"?,
 * "range"?: [start, end]} and prints one line per resulting record {"data", "pk", "ehk",
 * "subseq", "aggregated"}; "kpl-tool agg [max_bytes [max_records]]" reads user records
 * {"data", "pk", "ehk"?} and prints one line per aggregated Kinesis record {"data", "pk",
 * "ehk", "count"}. Exit status 1 on bad input.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "../../connectors/kinesis/kinesis_kpl.h"
#include "util_str.h"

static int b64_decode(const char *s, uint8_t **out, size_t *len) {
    size_t n = strlen(s);
    if (n % 4)
        return -1;
    uint8_t *buf = malloc(n / 4 * 3 + 1);
    if (!buf)
        return -1;
    int r = n ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) : 0;
    if (r < 0) {
        free(buf);
        return -1;
    }
    size_t l = (size_t)r;
    if (n && s[n - 1] == '=')
        l--;
    if (n > 1 && s[n - 2] == '=')
        l--;
    *out = buf;
    *len = l;
    return 0;
}

static char *b64_encode(const void *p, size_t len) {
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    return out;
}

static void emit(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
}

static json_t *strn(const char *s, size_t len) {
    return s ? json_stringn(s, len) : json_null();
}

static int deagg(kpl_deagg_t *da, json_t *in) {
    const char *b64 = json_string_value(json_object_get(in, "data"));
    const char *pk = json_string_value(json_object_get(in, "pk"));
    const char *ehk = json_string_value(json_object_get(in, "ehk"));
    json_t *range = json_object_get(in, "range");
    kpl_range_t r;
    uint8_t *data = NULL;
    size_t len;
    int rc = -1;

    if (!b64 || !pk || b64_decode(b64, &data, &len) < 0)
        goto done;
    if (json_is_array(range) &&
        kpl_range_parse(json_string_value(json_array_get(range, 0)),
                        json_string_value(json_array_get(range, 1)), &r) != SL_OK)
        goto done;
    if (kpl_deagg_load(da, data, len, pk, ehk, json_is_array(range) ? &r : NULL) != SL_OK)
        goto done;
    if (*kpl_deagg_reason(da))
        fprintf(stderr, "kpl-tool: %s\n", kpl_deagg_reason(da));
    kpl_subrec_t s;
    while (kpl_deagg_next(da, &s)) {
        char *enc = b64_encode(s.data, s.data_len);
        if (!enc)
            goto done;
        emit(json_pack("{s:s, s:o, s:o, s:I, s:b}", "data", enc, "pk", strn(s.pk, s.pk_len),
                       "ehk", strn(s.ehk, s.ehk_len), "subseq", (json_int_t)s.subseq,
                       "aggregated", s.aggregated));
        free(enc);
    }
    rc = 0;
done:
    free(data);
    return rc;
}

static int flush(kpl_agg_t *agg) {
    kpl_agg_out_t out;
    if (kpl_agg_flush(agg, &out) != SL_OK)
        return -1;
    char *enc = b64_encode(out.data, out.len);
    if (enc)
        emit(json_pack("{s:s, s:s, s:s, s:I}", "data", enc, "pk", out.pk, "ehk", out.ehk,
                       "count", (json_int_t)out.count));
    free(enc);
    kpl_agg_out_free(&out);
    return enc ? 0 : -1;
}

static int agg_one(kpl_agg_t *agg, json_t *in) {
    const char *b64 = json_string_value(json_object_get(in, "data"));
    const char *pk = json_string_value(json_object_get(in, "pk"));
    const char *ehk = json_string_value(json_object_get(in, "ehk"));
    char err[160];
    uint8_t *data = NULL;
    size_t len;
    int rc = -1;

    if (!b64 || !pk || b64_decode(b64, &data, &len) < 0)
        goto done;
    sl_err_t e = kpl_agg_add(agg, pk, ehk, data, len, err, sizeof(err));
    if (e == SL_ERR_STATE) {
        if (flush(agg) < 0)
            goto done;
        e = kpl_agg_add(agg, pk, ehk, data, len, err, sizeof(err));
    }
    if (e != SL_OK) {
        fprintf(stderr, "kpl-tool: %s\n", err);
        goto done;
    }
    rc = 0;
done:
    free(data);
    return rc;
}

int main(int argc, char **argv) {
    int mode_agg = argc >= 2 && strcmp(argv[1], "agg") == 0;
    kpl_deagg_t *da = NULL;
    kpl_agg_t *agg = NULL;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 1;

    if (argc < 2 || (!mode_agg && strcmp(argv[1], "deagg") != 0)) {
        fprintf(stderr, "usage: kpl-tool deagg | agg [max_bytes [max_records]] < json-lines\n");
        return 2;
    }
    if (mode_agg)
        agg = kpl_agg_new(argc > 2 ? strtoul(argv[2], NULL, 10) : 0,
                          argc > 3 ? strtoul(argv[3], NULL, 10) : 0, 0);
    else
        da = kpl_deagg_new();
    if (!agg && !da)
        goto done;
    while (getline(&line, &cap, stdin) > 0) {
        json_error_t jerr;
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        json_t *in = json_loads(line, 0, &jerr);
        int r = in ? (mode_agg ? agg_one(agg, in) : deagg(da, in)) : -1;
        json_decref(in);
        if (r < 0) {
            fprintf(stderr, "kpl-tool: bad input on line %ld\n", lineno);
            goto done;
        }
    }
    if (agg && kpl_agg_count(agg) && flush(agg) < 0)
        goto done;
    rc = 0;
done:
    free(line);
    kpl_agg_destroy(agg);
    kpl_deagg_destroy(da);
    return rc;
}
