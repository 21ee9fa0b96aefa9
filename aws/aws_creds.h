/*
 * aws_creds.h: where AWS credentials come from and how they stay fresh. A provider fetches
 * credentials asynchronously on an event loop (static keys, environment, shared profile files
 * with credential_process, web identity, container, EC2 IMDSv2, STS AssumeRole, or a chain of
 * these in the AWS SDK order); sl_creds_t wraps one provider, serves the current credentials
 * synchronously to the signer (aws_sigv4.h) and refreshes temporary ones in the background
 * before they expire, with backoff on failure. Every secret obtained (secret keys, session
 * tokens, authorization and web identity tokens) is registered with sl_log_add_secret() and never
 * appears in a log line or an error message. Not thread-safe: use everything here from the
 * thread running its event base.
 */
#ifndef SL_AWS_CREDS_H
#define SL_AWS_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "aws_sigv4.h"
#include "http.h"
#include "sluice/common.h"

/* --- credential values --------------------------------------------------------------------- */

/* A set of credentials as a provider yields them. Every string heap-allocated; freed by
 * sl_creds_value_free(). */
typedef struct sl_creds_value {
    char *access_key;
    char *secret_key;    /* secret */
    char *session_token; /* secret; NULL for long-term keys */
    int64_t expires_ms;  /* wall-clock expiry in ms since the epoch; 0 = never expires */
} sl_creds_value_t;

/* Frees the strings of v (wiping the secrets first) and zeroes it. Accepts NULL. */
void sl_creds_value_free(sl_creds_value_t *v);

/* Fills v with copies of the given strings (session_token may be NULL or "") and registers the
 * secrets with the logger. Returns SL_OK, SL_ERR_INVAL when a key is missing or empty, or
 * SL_ERR_NOMEM. v must be zeroed or freed; on failure it is left zeroed. */
sl_err_t sl_creds_value_set(sl_creds_value_t *v, const char *access_key, const char *secret_key,
                            const char *session_token, int64_t expires_ms);

/* Parses an ISO 8601 UTC timestamp as AWS writes them ("2024-05-01T12:00:00Z", with optional
 * fractional seconds and a "+hh:mm" offset) into ms since the epoch. Returns 0 on success,
 * -1 when malformed. */
int sl_creds_parse_time(const char *s, int64_t *ms);

/* --- providers ----------------------------------------------------------------------------- */

typedef struct sl_creds_provider sl_creds_provider_t;

/* The outcome of one fetch, on the loop thread. On SL_OK *val holds the credentials: the
 * callback may move its strings out (zeroing the fields); whatever it leaves is freed after it
 * returns. The callback may start another fetch or destroy the provider. Otherwise
 * val is NULL and err says why: SL_ERR_NOENT when this source is simply not configured here
 * (an unset variable, no such profile: a chain goes on quietly), SL_ERR_RETRY for a transient
 * failure, SL_ERR_CONF / SL_ERR_INVAL / SL_ERR_IO for a real failure. msg (borrowed for the
 * call) is a human sentence without any secret, prefixed with the provider's name. */
typedef void (*sl_creds_fetch_cb)(void *opaque, sl_err_t err, sl_creds_value_t *val,
                                  const char *msg);

/* What a provider implementation supplies (tests and sluice's own providers). */
typedef struct sl_creds_provider_ops {
    /* Starts a fetch; reports exactly once with sl_creds_provider_done(), possibly from
     * inside this call (the caller's callback still comes later, from the loop). Returning an
     * error instead means nothing was started and done() must not be called. */
    sl_err_t (*fetch)(sl_creds_provider_t *prov, void *ctx);
    /* Abandons the fetch in flight (no done() may follow). May be NULL when fetch always
     * calls done() before returning. */
    void (*cancel)(sl_creds_provider_t *prov, void *ctx);
    /* Frees ctx. May be NULL. */
    void (*destroy)(void *ctx);
} sl_creds_provider_ops_t;

/* A provider on base (borrowed, must outlive it) running ops on ctx; name ("env", "profile
 * prod") is copied and prefixes its messages. ops is borrowed and must outlive the provider;
 * ctx is owned from now on (freed by ops->destroy, also when this fails). Returns NULL on
 * allocation failure. Caller frees with sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_provider_new(struct event_base *base,
                                           const sl_creds_provider_ops_t *ops, void *ctx,
                                           const char *name);

/* Frees prov; a fetch in flight is cancelled and its callback never comes. Accepts NULL. */
void sl_creds_provider_destroy(sl_creds_provider_t *prov);

/* Starts a fetch: cb(opaque, ...) follows exactly once from the loop, never from inside this
 * call, unless the fetch is cancelled or prov destroyed first. One fetch at a time: returns
 * SL_ERR_STATE while one is in flight. */
sl_err_t sl_creds_provider_fetch(sl_creds_provider_t *prov, sl_creds_fetch_cb cb, void *opaque);

/* Cancels the fetch in flight, if any; its callback never comes. */
void sl_creds_provider_cancel(sl_creds_provider_t *prov);

/* For implementations: reports the outcome of the fetch in flight. On SL_OK the contents of
 * *val are moved out (val is left zeroed); otherwise val may be NULL. fmt (printf-style) is the
 * failure sentence, without secrets and without the provider name (added here). */
void sl_creds_provider_done(sl_creds_provider_t *prov, sl_err_t err, sl_creds_value_t *val,
                            const char *fmt, ...) SL_PRINTF(4, 5);

/* The provider's name and its loop. Borrowed, valid while prov lives. */
const char *sl_creds_provider_name(const sl_creds_provider_t *prov);
struct event_base *sl_creds_provider_base(const sl_creds_provider_t *prov);

/* --- local providers (aws_creds.c) ------------------------------------------------------- */

/* Fixed keys. Strings are copied (session_token may be NULL); the secrets are registered with
 * the logger. Returns NULL with errstr filled when a key is empty. Caller frees with
 * sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_static_new(struct event_base *base, const char *access_key,
                                         const char *secret_key, const char *session_token,
                                         char *errstr, size_t errlen);

/* AWS_ACCESS_KEY_ID (or AWS_ACCESS_KEY), AWS_SECRET_ACCESS_KEY (or AWS_SECRET_KEY),
 * AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION, read at every fetch. NOENT when neither key
 * variable is set. Caller frees with sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_env_new(struct event_base *base);

/* The shared files, read at every fetch: the credentials file (path, else
 * AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials) section [name] and the config file
 * (config_path, else AWS_CONFIG_FILE, else ~/.aws/config) section [profile name] ([default]
 * for the default profile); the credentials file wins key by key. profile NULL or "" means
 * AWS_PROFILE, else "default". A profile with aws_access_key_id/aws_secret_access_key
 * (+ aws_session_token) yields those; one with credential_process runs that command through
 * /bin/sh without blocking the loop and parses its JSON (Version 1) output. NOENT when neither
 * file has the profile (the message names the profile and the files looked at). Strings copied.
 * Caller frees with sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_profile_new(struct event_base *base, const char *profile,
                                          const char *path, const char *config_path);

/* Tries providers[0..n) in order on every fetch until one yields credentials; NOENT answers
 * are skipped quietly, other failures are remembered. When all fail, the error combines every
 * provider's message ("no AWS credentials: env: ...; profile default: ...; ...") and is NOENT
 * only when every provider said NOENT. After a success the winner is asked first next time
 * (the SDKs' "reuse last provider"); if it then fails the whole chain is walked again. Takes
 * ownership of the n providers (also on failure) but not of the array. Caller frees with
 * sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_chain_new(struct event_base *base, sl_creds_provider_t **providers,
                                        int n);

/* --- remote providers (aws_creds_remote.c) --------------------------------------------- */

/* They share the loop's HTTP client. Destroy them (or the cache holding them) before that
 * client: a request in flight when its provider goes away is cancelled in it. */

/* Options of the providers that call STS. Strings borrowed for the constructor call (copied). */
typedef struct sl_creds_sts_opts {
    const char *region;       /* signing region and endpoint; NULL: AWS_REGION,
                               * AWS_DEFAULT_REGION, else the global endpoint (us-east-1) */
    const char *endpoint;     /* explicit URL; NULL: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL,
                               * the profile's services section or endpoint_url
                               * (aws_endpoint.h), else https://sts.<region>.amazonaws.com[.cn] */
    const char *profile;      /* profile of the shared config file for the endpoint; NULL:
                               * AWS_PROFILE, else "default" */
    const char *role_arn;     /* AssumeRole: required. Web identity: NULL = AWS_ROLE_ARN */
    const char *session_name; /* NULL: AWS_ROLE_SESSION_NAME (web identity), else
                               * "sluice-<ms>" */
    const char *external_id;  /* AssumeRole only; NULL = none */
    const char *token_file;   /* web identity only; NULL = AWS_WEB_IDENTITY_TOKEN_FILE */
    int duration_s;           /* DurationSeconds; 0 = the service default (1 hour) */
    int64_t timeout_ms;       /* per request; 0 = 10000 */
} sl_creds_sts_opts_t;

/* STS AssumeRoleWithWebIdentity (an unsigned Query-protocol POST) with the token read from the
 * token file at every fetch. NOENT when the token file or the role ARN is not configured.
 * http and base borrowed (must outlive the provider; http must run on base). Caller frees with
 * sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_web_identity_new(struct event_base *base, sl_http_t *http,
                                               const sl_creds_sts_opts_t *opts);

/* STS AssumeRole signed with SigV4 using credentials fetched from source at every fetch. Takes
 * ownership of source (also on failure). NULL with errstr filled when role_arn is missing or
 * the endpoint is malformed. Caller frees with sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_assume_role_new(struct event_base *base, sl_http_t *http,
                                              const sl_creds_sts_opts_t *opts,
                                              sl_creds_provider_t *source, char *errstr,
                                              size_t errlen);

/* ECS/EKS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI against base_url
 * (NULL = http://169.254.170.2), or AWS_CONTAINER_CREDENTIALS_FULL_URI (plain http only to a
 * loopback address or the ECS/EKS link-local hosts), with an Authorization header from
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read at every fetch) or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN. NOENT when neither URI variable is set. base_url copied.
 * Caller frees with sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_container_new(struct event_base *base, sl_http_t *http,
                                            const char *base_url);

/* EC2 instance metadata, IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds,
 * the token is kept until shortly before its TTL ends), then the role name and its credentials
 * with X-aws-ec2-metadata-token. endpoint NULL: AWS_EC2_METADATA_SERVICE_ENDPOINT, else
 * http://169.254.169.254. NOENT when AWS_EC2_METADATA_DISABLED=true. IMDSv1 (no token) is used
 * only when allow_v1 is set and the token request is refused with 403/404/405. Caller frees
 * with sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_imds_new(struct event_base *base, sl_http_t *http,
                                       const char *endpoint, int allow_v1);

/* Options of the default chain. Strings borrowed for the constructor call. */
typedef struct sl_creds_chain_opts {
    const char *profile;        /* NULL: AWS_PROFILE, else "default" */
    const char *sts_region;     /* see sl_creds_sts_opts_t.region */
    const char *sts_endpoint;   /* see sl_creds_sts_opts_t.endpoint */
    const char *container_url;  /* see sl_creds_container_new() */
    const char *imds_endpoint;  /* see sl_creds_imds_new() */
    int imds_allow_v1;          /* see sl_creds_imds_new() */
} sl_creds_chain_opts_t;

/* The AWS SDK default chain: environment, web identity, shared profile (with
 * credential_process), container, IMDSv2. http NULL leaves out the providers that need the
 * network. opts may be NULL. Returns NULL on allocation failure. Caller frees with
 * sl_creds_provider_destroy(). */
sl_creds_provider_t *sl_creds_default_chain_new(struct event_base *base, sl_http_t *http,
                                                const sl_creds_chain_opts_t *opts);

/* --- the refreshing cache ---------------------------------------------------------------- */

typedef struct sl_creds sl_creds_t;

typedef struct sl_creds_opts {
    int64_t refresh_before_ms; /* refresh this long before expiry, or at half the lifetime when
                                * that comes later; default 300000 (5 minutes) */
    int64_t retry_base_ms;     /* first retry delay after a failed fetch; default 1000 */
    int64_t retry_max_ms;      /* backoff cap; default 60000 */
    uint64_t seed;             /* jitter randomness; 0 = from the clock */
} sl_creds_opts_t;

/* Fills opts with the defaults above. */
void sl_creds_opts_init(sl_creds_opts_t *opts);

/* Called after every completed fetch attempt of the cache, on the loop thread: err SL_OK when
 * new credentials are in place, else the failure (msg borrowed for the call, no secrets). The
 * first call is the start-up "ready" notification. A listener may unlisten itself but must not
 * destroy the cache from inside the callback. */
typedef void (*sl_creds_listen_cb)(void *opaque, sl_err_t err, const char *msg);

/* A cache on base (borrowed, must outlive it) over prov, taking ownership of prov (also on
 * failure). The first fetch starts at once (its outcome arrives from the loop). opts may be
 * NULL for the defaults. Returns NULL with errstr filled on failure. Caller frees with
 * sl_creds_destroy(). */
sl_creds_t *sl_creds_new(struct event_base *base, sl_creds_provider_t *prov,
                         const sl_creds_opts_t *opts, char *errstr, size_t errlen);

/* Cancels the fetch in flight and the timers and frees everything. Accepts NULL. */
void sl_creds_destroy(sl_creds_t *creds);

/* The current credentials, or NULL when there are none yet or the last ones expired without a
 * successful refresh. Borrowed: valid until control returns to the event loop (a refresh may
 * replace them then). */
const sl_aws_creds_t *sl_creds_get(sl_creds_t *creds);

/* Expiry of the current credentials (ms since the epoch; 0 = never or none), and when the next
 * fetch is due (0 = none scheduled or one in flight). */
int64_t sl_creds_expires_ms(const sl_creds_t *creds);
int64_t sl_creds_next_fetch_ms(const sl_creds_t *creds);

/* The message of the last failed fetch, or "" after a success. Borrowed, valid until the next
 * fetch completes. */
const char *sl_creds_last_error(const sl_creds_t *creds);

/* A service rejected the credentials used (ExpiredToken, InvalidClientTokenId): refresh now,
 * unless a fetch is already in flight or the current credentials already differ from used
 * (another call reported first); used NULL forces the refresh. Current credentials stay
 * served until replaced or expired. */
void sl_creds_invalidate(sl_creds_t *creds, const sl_aws_creds_t *used);

/* Re-evaluates the schedule against sl_now_ms() and starts a due fetch. The cache's timer
 * calls this; tests call it after moving an injected clock. */
void sl_creds_tick(sl_creds_t *creds);

/* Adds a listener (cb and opaque borrowed). When credentials are already present (or the first
 * fetch already failed) the listener hears nothing until the next fetch completes; check
 * sl_creds_get() first. Returns a handle > 0, or -1 on allocation failure. */
int sl_creds_listen(sl_creds_t *creds, sl_creds_listen_cb cb, void *opaque);

/* Removes a listener by handle. Unknown handles are ignored. */
void sl_creds_unlisten(sl_creds_t *creds, int handle);

/* Fetches completed since creation (successes and failures), for tests and metrics. */
int sl_creds_fetch_count(const sl_creds_t *creds);

#endif
