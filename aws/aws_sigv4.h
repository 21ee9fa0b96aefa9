/*
 * aws_sigv4.h: AWS Signature Version 4, header signing and query presigning. Pure functions of
 * the request, the credentials, the scope and an injected time: no I/O, no clock. Proved against
 * the AWS signing test suite (tests/data/sigv4) and against botocore's signer.
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

typedef struct aws_sigv4_header {
    const char *name, *value;
} aws_sigv4_header_t;

/* The request to sign, all borrowed. path and query are raw (as they will be sent, not yet
 * canonical); query excludes the '?'; NULL path means "/", NULL query means none. Each query key
 * and value is percent-decoded then re-encoded with the AWS unreserved set, so "%E1%88%B4" and
 * the raw UTF-8 bytes sign alike. headers are as the request will send them (Host required);
 * duplicate names (joined with ',' in order) and multi-line values (folded to one space) are
 * allowed. Never signed: authorization and the hop-by-hop headers botocore leaves out
 * (connection, expect, keep-alive, proxy-authenticate, proxy-authorization, te, trailer,
 * transfer-encoding, upgrade, user-agent, x-amzn-trace-id); when header signing, a caller's
 * x-amz-date (and x-amz-security-token / x-amz-content-sha256 when the signer adds them) is
 * ignored in favour of the signer's own. */
typedef struct aws_sigv4_req {
    const char *method;
    const char *path;
    const char *query;
    const aws_sigv4_header_t *headers;
    int nheaders;
    const void *body;
    size_t body_len;
} aws_sigv4_req_t;

typedef struct aws_sigv4_params {
    const char *region;
    const char *service;
    int64_t now_ms;       /* signing time, ms since the epoch (injected) */
    int normalize_path;   /* 1 for every service but S3: remove . and .. segments, collapse // */
    int sign_body_header; /* add x-amz-content-sha256 (S3 style); header signing only */
    int64_t expires_s;    /* presigning only: X-Amz-Expires, 1..604800 */
    int omit_session_token; /* sign without the session token; the caller still sends it
                               (header: X-Amz-Security-Token; presign: appended to .query after
                               signing). The suite's post-sts-header-after case. */
    int raw_path;         /* 1 for S3: the path is already URI-encoded as sent and is signed
                             unchanged; 0 (every other service): it is URI-encoded once more */
} aws_sigv4_params_t;

/* What signing produced; every string heap-allocated, freed by aws_sigv4_result_free(). */
typedef struct aws_sigv4_result {
    char *canonical_request;
    char *string_to_sign;
    char *signature;     /* hex */
    char *authorization; /* header signing: the Authorization header value */
    char *amz_date;      /* X-Amz-Date value to send */
    char *content_sha256; /* when sign_body_header: the x-amz-content-sha256 value */
    char *query;         /* presigning: the full query string to send (without '?'): the raw
                            query as given, then X-Amz-Algorithm, -Credential, -Date,
                            -SignedHeaders, -Expires, -Security-Token (if any), -Signature */
    char *signed_headers; /* the SignedHeaders list, e.g. "host;x-amz-date" */
} aws_sigv4_result_t;

/* Header signing. The caller sends the request with X-Amz-Date (and X-Amz-Security-Token when
 * there is a session token, and x-amz-content-sha256 when asked) added, plus Authorization.
 * The payload is always hashed (never UNSIGNED-PAYLOAD). On success out is filled (caller frees
 * with aws_sigv4_result_free()); on failure out is zeroed and errstr says why. errstr never
 * contains secret material. Thread-safe: each thread keeps its own OpenSSL contexts and the
 * signing key of the last scope it signed for (secret, day, region, service), wiped when the
 * scope changes or the thread exits; the intermediate keys are wiped at once. */
sl_err_t aws_sigv4_sign(const aws_sigv4_req_t *req, const sl_aws_creds_t *creds,
                        const aws_sigv4_params_t *params, aws_sigv4_result_t *out, char *errstr,
                        size_t errlen);

/* Query presigning (X-Amz-Algorithm ... X-Amz-Signature in the query). */
sl_err_t aws_sigv4_presign(const aws_sigv4_req_t *req, const sl_aws_creds_t *creds,
                           const aws_sigv4_params_t *params, aws_sigv4_result_t *out, char *errstr,
                           size_t errlen);

/* Frees (and wipes, as some hold the session token) every string of out and zeroes it. Accepts
 * NULL and an already freed or zeroed result. */
void aws_sigv4_result_free(aws_sigv4_result_t *out);

/* Hex SHA-256 of data into out[65]. */
void aws_sha256_hex(const void *data, size_t len, char out[65]);

#endif
