/*
 * aws_client.h: one AWS service as sluice calls it: endpoint resolution per partition (aws,
 * aws-cn, aws-us-gov, the ISO partitions) with overrides, the AWS JSON 1.0/1.1 protocol
 * (X-Amz-Target, error decoding of `__type` and `message`/`Message`, the request id kept for
 * logs), SigV4 signing with the current credentials, and the one retry policy: exponential
 * backoff with full jitter, retryable vs. fatal decided in one place, expired credentials
 * refreshed once. Runs on one event loop; not thread-safe.
 */
#ifndef SL_AWS_CLIENT_H
#define SL_AWS_CLIENT_H

#include <stdint.h>

#include <jansson.h>

#include "aws_creds.h"
#include "http.h"
#include "sluice/common.h"
#include "util_retry.h"

/* --- endpoints ----------------------------------------------------------------------------- */

/* The partition's DNS suffix for region ("amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov",
 * "sc2s.sgov.gov"). Static string. */
const char *sl_aws_dns_suffix(const char *region);

/* "https://<service>.<region>.<suffix>" into buf, for the service's endpoint prefix (kinesis,
 * dynamodb, streams.dynamodb, sts, monitoring). Returns buf, or NULL when region is empty or
 * malformed (letters, digits and '-' only) or buf too small. */
const char *sl_aws_endpoint(const char *service, const char *region, char *buf, size_t len);

/* --- retries: the policy is util_retry.h's; what is retryable is decided here ---------------- */

typedef enum sl_aws_class {
    SL_AWS_DONE = 0,      /* success, or a fatal error to hand to the caller */
    SL_AWS_RETRY = 1,     /* throttling, 5xx, transport failure, timeouts */
    SL_AWS_REFRESH = 2,   /* expired/invalid credentials: refresh them once, then retry */
} sl_aws_class_t;

/* The one classification of an outcome: transport error (SL_OK when a response came), HTTP
 * status and the decoded error type (the part after '#' of `__type`, or NULL). */
sl_aws_class_t sl_aws_classify(sl_err_t transport, long status, const char *err_type);

/* --- the client ---------------------------------------------------------------------------- */

typedef struct sl_aws_client sl_aws_client_t;

/* How often a client failing on and on says so again (the first failure is logged at once). */
#define SL_AWS_OUTAGE_REPORT_MS 15000

typedef struct sl_aws_client_opts {
    const char *service;       /* endpoint prefix: "kinesis", "dynamodb", "streams.dynamodb" */
    const char *signing_name;  /* SigV4 service name: "kinesis", "dynamodb" */
    const char *region;        /* required */
    const char *endpoint;      /* explicit URL (local peers, VPC endpoints) or NULL: then
                                * the environment and the shared config file, else the
                                * region's (aws_endpoint.h) */
    const char *endpoint_key;  /* what set endpoint, for the log ("aws.endpoint"); NULL ok */
    const char *profile;       /* profile of the shared config file; NULL: AWS_PROFILE */
    const char *target_prefix; /* X-Amz-Target prefix: "Kinesis_20131202", "DynamoDB_20120810" */
    const char *json_version;  /* "1.1" (Kinesis) or "1.0" (DynamoDB, Streams) */
    sl_retry_policy_t retry;   /* default for every call */
    uint64_t seed;             /* jitter randomness (0 = from the clock) */
} sl_aws_client_opts_t;

/* A client on http's loop using creds (both borrowed; they must outlive the client). Strings of
 * opts are copied. NULL with errstr filled on a bad option (no region, bad endpoint URL). */
sl_aws_client_t *sl_aws_client_new(sl_http_t *http, sl_creds_t *creds,
                                   const sl_aws_client_opts_t *opts, char *errstr, size_t errlen);

/* Frees the client; calls in flight are dropped without their callbacks. Accepts NULL. */
void sl_aws_client_destroy(sl_aws_client_t *c);

/* For callers decoding answers themselves (sl_aws_call_raw): a 2xx answer to op that is
 * unusable (not JSON: a proxy's page) counts as a failure of the endpoint, warned about and on
 * the health board like one that did not answer; why and next ("trying again in 1000 ms") are
 * copied into the warning. */
void sl_aws_client_bad_answer(sl_aws_client_t *c, const char *op, const char *why,
                              const char *next);

/* The endpoint URL in use. Borrowed. */
const char *sl_aws_client_endpoint(const sl_aws_client_t *c);

/* The outcome of a call. On success err is SL_OK and result the decoded JSON body (borrowed for
 * the callback; json_incref to keep it), or, for sl_aws_call_raw(), result is NULL and
 * raw/raw_len the body's bytes as received (borrowed for the callback: copy what must outlive
 * it; not NUL-terminated; raw is never NULL on success, "" for an empty body). On failure err is
 * SL_ERR_IO (transport, after the retries), SL_ERR_RETRY (retryable but retries exhausted) or
 * SL_ERR_INVAL (fatal AWS error); status, type ("ResourceNotFoundException"), message and
 * request_id say what happened, and result and raw are NULL in both modes. */
typedef struct sl_aws_result {
    sl_err_t err;
    long status;
    json_t *result;
    const char *type;
    const char *message;
    const char *request_id;
    int attempts;
    const char *raw;
    size_t raw_len;
} sl_aws_result_t;

typedef void (*sl_aws_cb)(void *opaque, const sl_aws_result_t *res);

/* Calls operation op ("PutRecord") with body (a JSON object; the reference is stolen, also on
 * failure). retry NULL = the client's policy. cb is called exactly once from the loop, never
 * from inside this call. Returns an error only when the call cannot be started. */
sl_err_t sl_aws_call(sl_aws_client_t *c, const char *op, json_t *body,
                     const sl_retry_policy_t *retry, sl_aws_cb cb, void *opaque);

/* sl_aws_call() for answers the caller decodes itself (GetRecords on the consumer's hot path):
 * the same retries, classification, credential refresh and error decoding (a non-2xx answer is
 * still read as a JSON error), but a 2xx answer is handed over undecoded in res->raw/raw_len
 * (borrowed for the callback) with res->result NULL. */
sl_err_t sl_aws_call_raw(sl_aws_client_t *c, const char *op, json_t *body,
                         const sl_retry_policy_t *retry, sl_aws_cb cb, void *opaque);

/* sl_aws_call_raw() with a body the caller serialized (the PutRecords hot path): takes
 * ownership of body[0..len) (malloc'd, freed by the client, also when the call cannot start). */
sl_err_t sl_aws_call_body(sl_aws_client_t *c, const char *op, char *body, size_t len,
                          const sl_retry_policy_t *retry, sl_aws_cb cb, void *opaque);

/* Drops every call whose callback opaque is opaque (waiting, retrying or on the wire), without
 * calling back: for an owner going away before its answers. Returns how many. */
int sl_aws_cancel(sl_aws_client_t *c, void *opaque);

/* Calls in flight (including those waiting for a retry or for credentials). */
int sl_aws_client_pending(const sl_aws_client_t *c);

#endif
