/*
 * sigv4_sign.c: `sigv4-sign`, a test helper that signs one request with sluice's SigV4 signer
 * (aws/aws_sigv4.c) so that a script can compare the result with another signer, botocore
 * in tests/0010-sigv4-botocore.sh. It reads one JSON object on stdin:
 *
 *   {"method": "POST", "path": "/a b/", "query": "x=1&y=%20",
 *    "headers": [["Host", "example.amazonaws.com"], ["X-A", " v "]],
 *    "body_hex": "00ff" (or "body_b64": "AP8="), "region": "us-east-1", "service": "kinesis",
 *    "time": "20150830T123600Z" (or "time_ms": 1440938160000),
 *    "access_key": "AKID", "secret_key": "...", "token": "..." or null,
 *    "normalize": true, "raw_path": false, "sign_body_header": false,
 *    "omit_session_token": false, "presign": false, "expires": 3600}
 *
 * and prints one JSON object with authorization, amz_date, signature, canonical_request,
 * string_to_sign, signed_headers, content_sha256 and query (null when not produced); with -t
 * it prints "Authorization: ...", "X-Amz-Date: ..." and "Signature: ..." lines instead. Exit
 * status: 0 signed, 1 the signer refused (its message on stderr), 2 bad input.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "aws_sigv4.h"
#include "util_str.h"

#define MAXH 256

/* Decodes hex into a new buffer; NULL on bad input. */
static unsigned char *from_hex(const char *s, size_t *len) {
    size_t n = strlen(s);
    if (n % 2)
        return NULL;
    unsigned char *out = malloc(n / 2 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = sl_hexval((unsigned char)s[2 * i]), lo = sl_hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes standard base64 (padding optional); NULL on bad input. */
static unsigned char *from_b64(const char *s, size_t *len) {
    size_t n = strlen(s);
    unsigned char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *len = o;
    return out;
}

static const char *str(json_t *root, const char *key) {
    return json_string_value(json_object_get(root, key));
}

static int flag(json_t *root, const char *key) {
    return json_is_true(json_object_get(root, key));
}

/* "20150830T123600Z" to ms since the epoch; -1 when malformed. */
static int64_t parse_amz_time(const char *s) {
    struct tm tm = {0};
    if (!s || strlen(s) != 16 || sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon,
                                        &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

static json_t *jstr_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

int main(int argc, char **argv) {
    int text = argc > 1 && !strcmp(argv[1], "-t");
    int rc = 2;
    unsigned char *body = NULL;
    size_t body_len = 0;
    aws_sigv4_header_t hdr[MAXH];
    aws_sigv4_result_t res = {0};
    char err[512];
    json_error_t jerr;

    json_t *root = json_loadf(stdin, 0, &jerr);
    if (!json_is_object(root)) {
        fprintf(stderr, "sigv4-sign: bad JSON on stdin: %s (line %d)\n", jerr.text, jerr.line);
        goto done;
    }
    json_t *headers = json_object_get(root, "headers");
    size_t nh = json_array_size(headers);
    if (nh > MAXH) {
        fprintf(stderr, "sigv4-sign: more than %d headers\n", MAXH);
        goto done;
    }
    for (size_t i = 0; i < nh; i++) {
        json_t *pair = json_array_get(headers, i);
        hdr[i].name = json_string_value(json_array_get(pair, 0));
        hdr[i].value = json_string_value(json_array_get(pair, 1));
        if (!hdr[i].name || !hdr[i].value) {
            fprintf(stderr, "sigv4-sign: header %zu is not a [name, value] pair of strings\n", i);
            goto done;
        }
    }
    if (str(root, "body_hex")) {
        body = from_hex(str(root, "body_hex"), &body_len);
    } else if (str(root, "body_b64")) {
        body = from_b64(str(root, "body_b64"), &body_len);
    } else {
        body = calloc(1, 1);
    }
    if (!body) {
        fprintf(stderr, "sigv4-sign: bad body_hex/body_b64\n");
        goto done;
    }
    int64_t now_ms = json_is_integer(json_object_get(root, "time_ms"))
                         ? json_integer_value(json_object_get(root, "time_ms"))
                         : parse_amz_time(str(root, "time"));
    if (now_ms < 0) {
        fprintf(stderr, "sigv4-sign: need \"time\": \"YYYYMMDDTHHMMSSZ\" or \"time_ms\"\n");
        goto done;
    }

    aws_sigv4_req_t req = {
        .method = str(root, "method"),
        .path = str(root, "path"),
        .query = str(root, "query"),
        .headers = hdr,
        .nheaders = (int)nh,
        .body = body,
        .body_len = body_len,
    };
    sl_aws_creds_t creds = {str(root, "access_key"), str(root, "secret_key"), str(root, "token")};
    aws_sigv4_params_t prm = {
        .region = str(root, "region"),
        .service = str(root, "service"),
        .now_ms = now_ms,
        .normalize_path = flag(root, "normalize"),
        .sign_body_header = flag(root, "sign_body_header"),
        .expires_s = json_integer_value(json_object_get(root, "expires")),
        .omit_session_token = flag(root, "omit_session_token"),
        .raw_path = flag(root, "raw_path"),
    };
    sl_err_t e = flag(root, "presign") ? aws_sigv4_presign(&req, &creds, &prm, &res, err, sizeof(err))
                                       : aws_sigv4_sign(&req, &creds, &prm, &res, err, sizeof(err));
    if (e != SL_OK) {
        fprintf(stderr, "sigv4-sign: %s\n", err);
        rc = 1;
        goto done;
    }
    if (text) {
        if (res.authorization)
            printf("Authorization: %s\n", res.authorization);
        if (res.query)
            printf("Query: %s\n", res.query);
        printf("X-Amz-Date: %s\nSignature: %s\n", res.amz_date, res.signature);
    } else {
        json_t *out = json_object();
        json_object_set_new(out, "authorization", jstr_or_null(res.authorization));
        json_object_set_new(out, "amz_date", jstr_or_null(res.amz_date));
        json_object_set_new(out, "signature", jstr_or_null(res.signature));
        json_object_set_new(out, "canonical_request", jstr_or_null(res.canonical_request));
        json_object_set_new(out, "string_to_sign", jstr_or_null(res.string_to_sign));
        json_object_set_new(out, "signed_headers", jstr_or_null(res.signed_headers));
        json_object_set_new(out, "content_sha256", jstr_or_null(res.content_sha256));
        json_object_set_new(out, "query", jstr_or_null(res.query));
        char *s = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        if (!s) {
            fprintf(stderr, "sigv4-sign: cannot encode the result\n");
            rc = 1;
            goto done;
        }
        puts(s);
        free(s);
    }
    rc = 0;
done:
    aws_sigv4_result_free(&res);
    free(body);
    json_decref(root);
    return rc;
}
