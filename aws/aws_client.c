/*
 * aws_client.c: calling one AWS service over the AWS JSON protocol. Resolves the endpoint,
 * builds the POST with X-Amz-Target, signs it (SigV4) with the credentials current at send
 * time, sends it through the loop's HTTP client, decodes errors, and retries what the one
 * classification (sl_aws_classify) calls retryable with full-jitter exponential backoff. Used by
 * every AWS system (Kinesis, DynamoDB, DynamoDB Streams). An endpoint that fails (no answer,
 * 5xx) is reported here, once for all the calls of the client: a warning at the first failed
 * attempt, then a summary every SL_AWS_OUTAGE_REPORT_MS, a line when it answers again, and an
 * entry on the health board behind /healthz.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_client.h"
#include "aws_endpoint.h"
#include "aws_sigv4.h"
#include "health.h"
#include "sluice/log.h"
#include "util_json.h"
#include "util_str.h"
#include "util_time.h"

/* --- endpoints ----------------------------------------------------------------------------- */

const char *sl_aws_dns_suffix(const char *region) {
    if (!strncmp(region, "cn-", 3))
        return "amazonaws.com.cn";
    if (!strncmp(region, "us-isob-", 8))
        return "sc2s.sgov.gov";
    if (!strncmp(region, "us-iso-", 7))
        return "c2s.ic.gov";
    return "amazonaws.com"; /* aws and aws-us-gov */
}

const char *sl_aws_endpoint(const char *service, const char *region, char *buf, size_t len) {
    int n;
    if (!region || !*region || !service || !*service)
        return NULL;
    for (const char *p = region; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return NULL;
    n = snprintf(buf, len, "https://%s.%s.%s", service, region, sl_aws_dns_suffix(region));
    return n > 0 && (size_t)n < len ? buf : NULL;
}

/* --- retries ------------------------------------------------------------------------------- */

static int type_in(const char *type, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(type, *list))
            return 1;
    return 0;
}

sl_aws_class_t sl_aws_classify(sl_err_t transport, long status, const char *err_type) {
    static const char *const throttles[] = {
        "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
        "ThrottledException", "RequestThrottled", "RequestThrottledException",
        "TooManyRequestsException", "LimitExceededException", "RequestLimitExceeded",
        "SlowDown", "KMSThrottlingException", "InternalFailure", "InternalServerError",
        "ServiceUnavailable", "ServiceUnavailableException", "InternalFailureException",
        "TransactionInProgressException", "RequestTimeout", "RequestTimeoutException",
        "IDPCommunicationError", NULL};
    static const char *const expired[] = {
        "ExpiredTokenException", "ExpiredToken", "RequestExpired", "TokenRefreshRequired",
        "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
        NULL};

    if (transport == SL_ERR_RETRY)
        return SL_AWS_RETRY;
    if (transport != SL_OK)
        return SL_AWS_DONE;
    if (status >= 200 && status < 300)
        return SL_AWS_DONE;
    if (err_type && type_in(err_type, expired))
        return SL_AWS_REFRESH;
    if (err_type && type_in(err_type, throttles))
        return SL_AWS_RETRY;
    if (status >= 500 || status == 429 || status == 408)
        return SL_AWS_RETRY;
    return SL_AWS_DONE;
}

/* --- the client ---------------------------------------------------------------------------- */

typedef struct call call_t;

struct sl_aws_client {
    sl_http_t *http;
    sl_creds_t *creds;
    struct event_base *base;
    char *service, *signing_name, *region, *target_prefix, *content_type;
    char *url, *host, *path; /* endpoint URL, Host header value, request path */
    sl_retry_policy_t retry;
    uint64_t rng;
    call_t *calls; /* every call not yet finished */
    int ncalls;
    /* the current outage of the endpoint */
    health_entry_t *health;
    util_ratelimit_t outage_rl;
    int64_t outage_failures;
};

struct call {
    sl_aws_client_t *c;
    call_t *prev, *next;
    char *op, *target;
    char *body;
    size_t body_len;
    sl_retry_policy_t retry;
    sl_aws_cb cb;
    void *opaque;
    int attempts;
    int raw;           /* sl_aws_call_raw(): a 2xx body goes to the callback undecoded */
    int refreshed;
    int in_http;       /* an HTTP request is in flight */
    int listen_handle; /* waiting for credentials */
    char *used_key;    /* access key the last attempt was signed with */
    struct event *timer;
    /* the last outcome */
    sl_err_t err;
    long status;
    char *type, *message, *request_id;
};

static void attempt(call_t *call);

static void call_free(call_t *call) {
    if (call->timer)
        event_free(call->timer);
    free(call->op);
    free(call->target);
    free(call->body);
    free(call->used_key);
    free(call->type);
    free(call->message);
    free(call->request_id);
    free(call);
}

static void call_unlink(call_t *call) {
    sl_aws_client_t *c = call->c;
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    c->ncalls--;
    if (call->listen_handle > 0)
        sl_creds_unlisten(c->creds, call->listen_handle);
    call->listen_handle = 0;
}

static void set_str(char **dst, const char *src) {
    free(*dst);
    *dst = src ? sl_strdup(src) : NULL;
}

/* Hands the outcome (result, or raw[0..raw_len) in raw mode) to the caller and frees the
 * call. */
static void finish_raw(call_t *call, json_t *result, const char *raw, size_t raw_len) {
    sl_aws_result_t res;
    memset(&res, 0, sizeof(res));
    res.err = call->err;
    res.status = call->status;
    res.result = result;
    res.raw = raw;
    res.raw_len = raw_len;
    res.type = call->type;
    res.message = call->message ? call->message : "";
    res.request_id = call->request_id;
    res.attempts = call->attempts;
    call_unlink(call);
    if (res.err != SL_OK)
        sl_log_debug("aws", "%s.%s failed after %d attempt(s): status %ld %s: %s (request %s)",
                     call->c->service, call->op, call->attempts, call->status,
                     call->type ? call->type : "-", res.message,
                     call->request_id ? call->request_id : "-");
    call->cb(call->opaque, &res);
    call_free(call);
}

static void finish(call_t *call, json_t *result) {
    finish_raw(call, result, NULL, 0);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
    call_t *call = arg;
    (void)fd;
    (void)what;
    attempt(call);
}

static void schedule(call_t *call, int64_t delay_ms) {
    struct timeval tv = {(time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000)};
    evtimer_add(call->timer, &tv);
}

static void creds_ready(void *opaque, sl_err_t err, const char *msg) {
    call_t *call = opaque;
    sl_aws_client_t *c = call->c;
    sl_creds_unlisten(c->creds, call->listen_handle);
    call->listen_handle = 0;
    if (err != SL_OK && !sl_creds_get(c->creds)) {
        call->err = SL_ERR_IO;
        set_str(&call->message, "no AWS credentials");
        if (msg && *msg) {
            sl_sb_t sb = {0};
            sl_sb_printf(&sb, "no AWS credentials: %s", msg);
            set_str(&call->message, sb.buf);
            sl_sb_free(&sb);
        }
        finish(call, NULL);
        return;
    }
    schedule(call, 0);
}

/* Decodes an error body: `__type` ("com.amazonaws.kinesis.v20131202#ResourceInUseException" or
 * "ResourceInUseException"), else the x-amzn-ErrorType header ("Type:http://..."); the message
 * from `message` or `Message`. */
static void decode_error(call_t *call, const sl_http_resp_t *resp, json_t *doc) {
    const char *type = NULL, *msg = NULL;
    char buf[256];
    if (json_is_object(doc)) {
        type = json_string_value(json_object_get(doc, "__type"));
        msg = json_string_value(json_object_get(doc, "message"));
        if (!msg)
            msg = json_string_value(json_object_get(doc, "Message"));
    }
    if (!type)
        type = sl_http_resp_header(resp, "x-amzn-ErrorType");
    if (type) {
        const char *hash = strrchr(type, '#');
        size_t n;
        if (hash)
            type = hash + 1;
        n = strcspn(type, ":");
        if (n >= sizeof(buf))
            n = sizeof(buf) - 1;
        memcpy(buf, type, n);
        buf[n] = '\0';
        type = buf;
    }
    set_str(&call->type, type);
    if (!msg && resp->body_len && !json_is_object(doc)) {
        /* Not JSON (a proxy's or load balancer's page): keep a bounded excerpt. */
        snprintf(buf, sizeof(buf), "HTTP %ld: %.200s", resp->status, resp->body);
        msg = buf;
    }
    set_str(&call->message, msg ? msg : "");
}

/* --- outages ------------------------------------------------------------------------------ */

/* An attempt the endpoint failed (no answer, or a 5xx): the first of an outage is a warning at
 * once, later ones a summary with their count at most every SL_AWS_OUTAGE_REPORT_MS. next says
 * what happens now. */
static void outage_fail(call_t *call, const char *next) {
    sl_aws_client_t *c = call->c;
    sl_sb_t why = {0};
    int64_t held = 0, failing_ms;

    if (call->err != SL_OK)
        sl_sb_printf(&why, "%s", call->message ? call->message : sl_err_str(call->err));
    else
        sl_sb_printf(&why, "HTTP %ld%s%s%s%s", call->status, call->type ? " " : "",
                     call->type ? call->type : "", call->message && *call->message ? ": " : "",
                     call->message ? call->message : "");
    c->outage_failures++;
    failing_ms = health_fail(c->health, why.buf ? why.buf : "");
    if (util_ratelimit(&c->outage_rl, sl_mono_ms(), SL_AWS_OUTAGE_REPORT_MS, &held)) {
        if (c->outage_failures == 1)
            sl_log(SL_LOG_WARN, "aws", "%s %s at %s: %s; %s", c->service, call->op, c->url,
                   why.buf ? why.buf : "", next);
        else
            sl_log(SL_LOG_WARN, "aws", "%s at %s still failing after %lld s (%lld failed "
                   "attempts); latest, %s: %s; %s", c->service, c->url,
                   (long long)(failing_ms / 1000), (long long)c->outage_failures, call->op,
                   why.buf ? why.buf : "", next);
    }
    sl_sb_free(&why);
}

/* The endpoint answered (any status below 500). */
static void outage_over(call_t *call) {
    sl_aws_client_t *c = call->c;
    int64_t ms = health_ok(c->health);
    if (!c->outage_failures)
        return;
    sl_log(SL_LOG_INFO, "aws", "%s at %s answers again (%s) after %lld failed attempts over "
           "%.1f s", c->service, c->url, call->op, (long long)c->outage_failures, ms / 1000.0);
    c->outage_failures = 0;
    memset(&c->outage_rl, 0, sizeof(c->outage_rl));
}

static void http_done(void *opaque, const sl_http_resp_t *resp) {
    call_t *call = opaque;
    sl_aws_client_t *c = call->c;
    json_t *doc = NULL;
    json_error_t jerr;
    sl_aws_class_t cls;

    call->in_http = 0;
    call->err = resp->err;
    call->status = resp->status;
    set_str(&call->request_id, resp->err == SL_OK ? sl_http_resp_header(resp, "x-amzn-RequestId")
                                                  : NULL);
    /* Answered: any status below 500, but a 2xx only with a JSON object (AWS's JSON protocols
     * answer nothing else; a proxy's page is judged below, or by a raw call's caller). */
    if (resp->err == SL_OK && resp->status < 500 &&
        (resp->status < 200 || resp->status >= 300 || !resp->body_len || resp->body[0] == '{'))
        outage_over(call);
    if (resp->err != SL_OK) {
        set_str(&call->type, NULL);
        set_str(&call->message, resp->error);
    } else if (call->raw && resp->status >= 200 && resp->status < 300) {
        call->err = SL_OK;
        finish_raw(call, NULL, resp->body_len ? resp->body : "", resp->body_len);
        return;
    } else {
        doc = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, &jerr) : json_object();
        if (resp->status >= 200 && resp->status < 300) {
            if (!doc) {
                call->err = SL_ERR_IO;
                sl_sb_t sb = {0};
                sl_sb_printf(&sb, "%s: response is not JSON: %s", call->op, jerr.text);
                set_str(&call->message, sb.buf);
                sl_sb_free(&sb);
                outage_fail(call, "the caller decides what follows");
                finish(call, NULL);
                return;
            }
            call->err = SL_OK;
            finish(call, doc);
            json_decref(doc);
            return;
        }
        decode_error(call, resp, doc);
    }
    json_decref(doc);
    cls = sl_aws_classify(resp->err, resp->status, call->type);
    if (cls == SL_AWS_REFRESH && !call->refreshed) {
        const sl_aws_creds_t *cur = sl_creds_get(c->creds);
        call->refreshed = 1;
        sl_log(SL_LOG_WARN, "aws", "%s.%s: %s: refreshing the credentials once", c->service,
               call->op, call->type);
        if (cur && call->used_key && strcmp(cur->access_key, call->used_key) != 0) {
            schedule(call, 0); /* someone else's refresh already replaced them */
            return;
        }
        call->listen_handle = sl_creds_listen(c->creds, creds_ready, call);
        sl_creds_invalidate(c->creds, NULL);
        return;
    }
    int64_t delay = cls == SL_AWS_RETRY
                        ? sl_retry_delay_ms(&call->retry, call->attempts - 1, &c->rng) : 0;
    if (cls == SL_AWS_RETRY &&
        sl_retry_allowed(&call->retry, call->attempts - 1, delay, sl_mono_ms())) {
        sl_log_debug("aws", "%s.%s: attempt %d: %s; retrying in %lld ms", c->service, call->op,
                     call->attempts, call->type ? call->type : call->message,
                     (long long)delay);
        if (resp->err != SL_OK || resp->status >= 500) {
            char next[96];
            if (call->retry.max_retries >= INT_MAX - 1) /* retried until it works */
                snprintf(next, sizeof(next), "retrying in %lld ms (attempt %d)",
                         (long long)delay, call->attempts);
            else
                snprintf(next, sizeof(next), "retrying in %lld ms (attempt %d of %lld)",
                         (long long)delay, call->attempts,
                         (long long)call->retry.max_retries + 1);
            outage_fail(call, next);
        }
        schedule(call, delay);
        return;
    }
    if (resp->err != SL_OK || resp->status >= 500) {
        char next[96];
        snprintf(next, sizeof(next), "%s after %d attempt(s)",
                 cls != SL_AWS_RETRY                    ? "not retryable"
                 : call->attempts <= call->retry.max_retries ? "out of time"
                                                             : "retries exhausted",
                 call->attempts);
        outage_fail(call, next);
    }
    if (cls == SL_AWS_RETRY)
        call->err = SL_ERR_RETRY;
    else if (call->err == SL_OK)
        call->err = SL_ERR_INVAL;
    finish(call, NULL);
}

static void attempt(call_t *call) {
    sl_aws_client_t *c = call->c;
    const sl_aws_creds_t *cr = sl_creds_get(c->creds);
    aws_sigv4_header_t hdrs[3];
    aws_sigv4_req_t sreq;
    aws_sigv4_params_t sp;
    aws_sigv4_result_t sig;
    sl_http_req_t *req = NULL;
    char errstr[256];
    sl_err_t err;

    if (!cr) {
        /* No credentials yet (start-up) or expired without refresh: wait for the next fetch. */
        if (!call->listen_handle)
            call->listen_handle = sl_creds_listen(c->creds, creds_ready, call);
        if (call->listen_handle > 0)
            return;
        call->err = SL_ERR_NOMEM;
        set_str(&call->message, "out of memory");
        finish(call, NULL);
        return;
    }
    memset(&sig, 0, sizeof(sig));
    hdrs[0].name = "Host";
    hdrs[0].value = c->host;
    hdrs[1].name = "Content-Type";
    hdrs[1].value = c->content_type;
    hdrs[2].name = "X-Amz-Target";
    hdrs[2].value = call->target;
    memset(&sreq, 0, sizeof(sreq));
    sreq.method = "POST";
    sreq.path = c->path;
    sreq.query = "";
    sreq.headers = hdrs;
    sreq.nheaders = 3;
    sreq.body = call->body;
    sreq.body_len = call->body_len;
    memset(&sp, 0, sizeof(sp));
    sp.region = c->region;
    sp.service = c->signing_name;
    sp.now_ms = sl_now_ms();
    sp.normalize_path = 1;
    if (aws_sigv4_sign(&sreq, cr, &sp, &sig, errstr, sizeof(errstr)) != SL_OK) {
        call->err = SL_ERR_INVAL;
        set_str(&call->message, errstr);
        goto fail;
    }
    set_str(&call->used_key, cr->access_key);
    if (!(req = sl_http_req_new("POST", c->url)) ||
        sl_http_req_header(req, "Content-Type", c->content_type) != SL_OK ||
        sl_http_req_header(req, "X-Amz-Target", call->target) != SL_OK ||
        sl_http_req_header(req, "X-Amz-Date", sig.amz_date) != SL_OK ||
        sl_http_req_header(req, "Authorization", sig.authorization) != SL_OK ||
        (cr->session_token &&
         sl_http_req_header(req, "X-Amz-Security-Token", cr->session_token) != SL_OK) ||
        sl_http_req_body(req, call->body, call->body_len) != SL_OK) {
        call->err = SL_ERR_NOMEM;
        set_str(&call->message, "out of memory");
        goto fail;
    }
    aws_sigv4_result_free(&sig);
    call->attempts++;
    err = sl_http_send(c->http, req, http_done, call);
    req = NULL; /* owned by the client now, also on failure */
    if (err != SL_OK) {
        call->err = err;
        set_str(&call->message, "cannot queue the HTTP request");
        finish(call, NULL);
        return;
    }
    call->in_http = 1;
    return;
fail:
    aws_sigv4_result_free(&sig);
    sl_http_req_destroy(req);
    finish(call, NULL);
}

/* Splits "scheme://host[:port][/path]" into the Host header value and the path. */
static int split_url(const char *url, char **host, char **path) {
    const char *p = strstr(url, "://"), *slash;
    if (!p || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return -1;
    p += 3;
    slash = strchr(p, '/');
    if (slash == p || strchr(p, '@')) /* no host, or credentials in the URL */
        return -1;
    *host = slash ? sl_strndup(p, (size_t)(slash - p)) : sl_strdup(p);
    *path = sl_strdup(slash ? slash : "/");
    return *host && *path ? 0 : -1;
}

sl_aws_client_t *sl_aws_client_new(sl_http_t *http, sl_creds_t *creds,
                                   const sl_aws_client_opts_t *opts, char *errstr,
                                   size_t errlen) {
    sl_aws_client_t *c = calloc(1, sizeof(*c));
    char url[1024], from[1600];
    const char *id = opts->service ? aws_endpoint_service_id(opts->service) : "?";
    aws_endpoint_t ep;
    sl_sb_t ct = {0};

    if (!c) {
        sl_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    c->http = http;
    c->creds = creds;
    c->retry = opts->retry;
    c->rng = opts->seed ? opts->seed : (uint64_t)sl_now_ms() ^ (uint64_t)(uintptr_t)c;
    if (!opts->region || !*opts->region) {
        sl_errf(errstr, errlen, "%s: no region configured", opts->service);
        goto fail;
    }
    if (aws_endpoint_resolve(id, opts->endpoint, opts->endpoint_key, opts->profile, &ep) !=
        AWS_EP_DEFAULT) {
        snprintf(url, sizeof(url), "%s", ep.url);
        snprintf(from, sizeof(from), "%s", ep.from);
    } else if (!sl_aws_endpoint(opts->service, opts->region, url, sizeof(url))) {
        sl_errf(errstr, errlen, "%s: '%s' is not a region name", opts->service, opts->region);
        goto fail;
    } else {
        snprintf(from, sizeof(from), "region %s%s%s", opts->region, *ep.from ? "; " : "",
                 ep.from);
    }
    sl_sb_printf(&ct, "application/x-amz-json-%s", opts->json_version ? opts->json_version : "1.1");
    if (!(c->service = sl_strdup(opts->service)) ||
        !(c->signing_name = sl_strdup(opts->signing_name ? opts->signing_name : opts->service)) ||
        !(c->region = sl_strdup(opts->region)) ||
        !(c->target_prefix = sl_strdup(opts->target_prefix)) || ct.oom ||
        !(c->url = sl_strdup(url))) {
        sl_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    c->content_type = ct.buf;
    ct.buf = NULL;
    if (split_url(c->url, &c->host, &c->path) != 0) {
        sl_errf(errstr, errlen,
                "%s: endpoint '%s' (from %s) is not an http(s)://host[:port][/path] URL",
                opts->service, url, from);
        goto fail;
    }
    aws_endpoint_note(id, c->url, from);
    {
        sl_sb_t what = {0};
        sl_sb_printf(&what, "%s at %s", c->service, c->url);
        c->health = what.oom ? NULL : health_open(what.buf);
        sl_sb_free(&what);
    }
    return c;
fail:
    sl_sb_free(&ct);
    sl_aws_client_destroy(c);
    return NULL;
}

void sl_aws_client_bad_answer(sl_aws_client_t *c, const char *op, const char *why,
                              const char *next) {
    call_t call;
    memset(&call, 0, sizeof(call));
    call.c = c;
    call.op = (char *)op;
    call.err = SL_ERR_IO;
    call.message = (char *)why;
    outage_fail(&call, next);
}

const char *sl_aws_client_endpoint(const sl_aws_client_t *c) {
    return c->url;
}

int sl_aws_client_pending(const sl_aws_client_t *c) {
    return c->ncalls;
}

/* Starts a call with the serialized body (ownership taken, also on failure). */
static sl_err_t call_start_body(sl_aws_client_t *c, const char *op, char *body, size_t len,
                                const sl_retry_policy_t *retry, sl_aws_cb cb, void *opaque,
                                int raw) {
    call_t *call = calloc(1, sizeof(*call));
    sl_sb_t target = {0};
    if (!call || !body)
        goto oom;
    call->c = c;
    call->cb = cb;
    call->opaque = opaque;
    call->raw = raw;
    call->retry = retry ? *retry : c->retry;
    sl_sb_printf(&target, "%s.%s", c->target_prefix, op);
    if (target.oom || !(call->op = sl_strdup(op)))
        goto oom;
    call->target = target.buf;
    target.buf = NULL;
    call->body = body;
    call->body_len = len;
    body = NULL;
    if (!(call->timer = evtimer_new(sl_http_base(c->http), timer_cb, call)))
        goto oom;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->ncalls++;
    schedule(call, 0); /* never call back from inside sl_aws_call() */
    return SL_OK;
oom:
    free(body);
    sl_sb_free(&target);
    if (call)
        call_free(call);
    return SL_ERR_NOMEM;
}

static sl_err_t call_start(sl_aws_client_t *c, const char *op, json_t *body,
                           const sl_retry_policy_t *retry, sl_aws_cb cb, void *opaque, int raw) {
    char *text;
    if (!body)
        body = json_object(); /* no parameters: "{}" */
    if (!body)
        return SL_ERR_NOMEM;
    text = util_json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return SL_ERR_NOMEM;
    return call_start_body(c, op, text, strlen(text), retry, cb, opaque, raw);
}

sl_err_t sl_aws_call_body(sl_aws_client_t *c, const char *op, char *body, size_t len,
                          const sl_retry_policy_t *retry, sl_aws_cb cb, void *opaque) {
    return call_start_body(c, op, body, len, retry, cb, opaque, 1);
}

sl_err_t sl_aws_call(sl_aws_client_t *c, const char *op, json_t *body,
                     const sl_retry_policy_t *retry, sl_aws_cb cb, void *opaque) {
    return call_start(c, op, body, retry, cb, opaque, 0);
}

sl_err_t sl_aws_call_raw(sl_aws_client_t *c, const char *op, json_t *body,
                         const sl_retry_policy_t *retry, sl_aws_cb cb, void *opaque) {
    return call_start(c, op, body, retry, cb, opaque, 1);
}

/* Drops a call without its callback. */
static void call_drop(call_t *call) {
    sl_aws_client_t *c = call->c;
    call_unlink(call);
    if (call->in_http)
        sl_http_cancel(c->http, call);
    call_free(call);
}

int sl_aws_cancel(sl_aws_client_t *c, void *opaque) {
    int n = 0;
    for (call_t *call = c->calls, *next; call; call = next) {
        next = call->next;
        if (call->opaque == opaque) {
            call_drop(call);
            n++;
        }
    }
    return n;
}

void sl_aws_client_destroy(sl_aws_client_t *c) {
    if (!c)
        return;
    while (c->calls)
        call_drop(c->calls);
    health_close(c->health);
    free(c->service);
    free(c->signing_name);
    free(c->region);
    free(c->target_prefix);
    free(c->content_type);
    free(c->url);
    free(c->host);
    free(c->path);
    free(c);
}
