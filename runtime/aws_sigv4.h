/*
 * aws_sigv4.h: AWS Signature Version 4, header signing and query presigning. Pure functions of
 * the request, the credentials, the scope and an injected time: no I/O, no clock. Proved against
 * the AWS signing test suite (../shared/testdata/sigv4) and against botocore's signer.
 */
#ifndef SL_AWS_SIGV4_H
#define SL_AWS_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/common.h"

/* Credentials. Strings borrowed. session_token may be NULL. */
typedef struct sl_aws_creds {
    const char *access_key;
    const char *secret_key;    /* secret */
    const char *session_token; /* secret */
} sl_aws_creds_t;

typedef struct sl_sigv4_header {
    const char *name, *value;
} sl_sigv4_header_t;

/* The request to sign. path and query are raw (as they will be sent, not yet canonical); query
 * excludes the '?'. headers are as the request will send them (Host included); duplicates and
 * multi-line values allowed. */
typedef struct sl_sigv4_req {
    const char *method;
    const char *path;
    const char *query;
    const sl_sigv4_header_t *headers;
    int nheaders;
    const void *body;
    size_t body_len;
} sl_sigv4_req_t;

typedef struct sl_sigv4_params {
    const char *region;
    const char *service;
    int64_t now_ms;       /* signing time, ms since the epoch (injected) */
    int normalize_path;   /* 1 for every service but S3 */
    int sign_body_header; /* add x-amz-content-sha256 (S3 style) */
    int64_t expires_s;    /* presigning only: X-Amz-Expires */
} sl_sigv4_params_t;

/* What signing produced; every string heap-allocated, freed by sl_sigv4_result_free(). */
typedef struct sl_sigv4_result {
    char *canonical_request;
    char *string_to_sign;
    char *signature;     /* hex */
    char *authorization; /* header signing: the Authorization header value */
    char *amz_date;      /* X-Amz-Date value to send */
    char *content_sha256; /* when sign_body_header: the x-amz-content-sha256 value */
    char *query;         /* presigning: the full query string to send (without '?') */
} sl_sigv4_result_t;

/* Header signing. The caller sends the request with X-Amz-Date (and X-Amz-Security-Token when
 * there is a session token, and x-amz-content-sha256 when asked) added, plus Authorization.
 * errstr never contains secret material. */
sl_err_t sl_sigv4_sign(const sl_sigv4_req_t *req, const sl_aws_creds_t *creds,
                       const sl_sigv4_params_t *params, sl_sigv4_result_t *out, char *errstr,
                       size_t errlen);

/* Query presigning (X-Amz-Algorithm ... X-Amz-Signature in the query). */
sl_err_t sl_sigv4_presign(const sl_sigv4_req_t *req, const sl_aws_creds_t *creds,
                          const sl_sigv4_params_t *params, sl_sigv4_result_t *out, char *errstr,
                          size_t errlen);

void sl_sigv4_result_free(sl_sigv4_result_t *out);

/* Hex SHA-256 of data into out[65]. */
void sl_sha256_hex(const void *data, size_t len, char out[65]);

#endif
