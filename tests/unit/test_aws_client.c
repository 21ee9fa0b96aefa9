/*
 * test_aws_client.c: the AWS JSON client (aws/aws_client.c) against a scripted local HTTP
 * server: endpoint resolution per partition, the retry delay and the one classification, then
 * real calls: the request shape (X-Amz-Target, content type, a SigV4 Authorization with the
 * right scope), throttling retried with backoff, fatal errors decoded from `__type` and
 * `message`/`Message`, retries exhausted, an expired token refreshing the credentials once,
 * raw mode (a 2xx body undecoded, errors still decoded), and destroy with calls in flight.
 * The signature itself is proved by test_sigv4.c and the botocore cross-check; the server
 * (tests/unit/fake_aws.c), like the local AWS peers, does not verify it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "aws_client.h"
#include "fake_aws.h"
#include "unit.h"
#include "util_time.h"

/* --- pure functions ------------------------------------------------------------------------ */

static void test_endpoints(void) {
    char buf[128];
    CU_ASSERT_STRING_EQUAL(sl_aws_endpoint("kinesis", "us-east-1", buf, sizeof(buf)),
                           "https://kinesis.us-east-1.amazonaws.com");
    CU_ASSERT_STRING_EQUAL(sl_aws_endpoint("dynamodb", "cn-north-1", buf, sizeof(buf)),
                           "https://dynamodb.cn-north-1.amazonaws.com.cn");
    CU_ASSERT_STRING_EQUAL(sl_aws_endpoint("streams.dynamodb", "us-gov-west-1", buf, sizeof(buf)),
                           "https://streams.dynamodb.us-gov-west-1.amazonaws.com");
    CU_ASSERT_STRING_EQUAL(sl_aws_endpoint("sts", "us-iso-east-1", buf, sizeof(buf)),
                           "https://sts.us-iso-east-1.c2s.ic.gov");
    CU_ASSERT_STRING_EQUAL(sl_aws_endpoint("monitoring", "us-isob-east-1", buf, sizeof(buf)),
                           "https://monitoring.us-isob-east-1.sc2s.sgov.gov");
    CU_ASSERT_PTR_NULL(sl_aws_endpoint("kinesis", "", buf, sizeof(buf)));
    CU_ASSERT_PTR_NULL(sl_aws_endpoint("kinesis", "us-east-1/../x", buf, sizeof(buf)));
    CU_ASSERT_PTR_NULL(sl_aws_endpoint("kinesis", "us-east-1", buf, 10));
}

static void test_retry_delay(void) {
    sl_retry_policy_t p = {100, 1000, 2.0, 5, 0};
    uint64_t rng = 42;
    int64_t max_seen[6] = {0};
    for (int i = 0; i < 20000; i++)
        for (int a = 0; a < 6; a++) {
            int64_t d = sl_retry_delay_ms(&p, a, &rng);
            CU_ASSERT_TRUE(d >= 0);
            if (d > max_seen[a])
                max_seen[a] = d;
        }
    /* Full jitter up to min(max, base * 2^attempt): ceilings 100, 200, 400, 800, 1000, 1000. */
    CU_ASSERT_TRUE(max_seen[0] <= 100 && max_seen[0] >= 95);
    CU_ASSERT_TRUE(max_seen[1] <= 200 && max_seen[1] >= 190);
    CU_ASSERT_TRUE(max_seen[3] <= 800 && max_seen[3] >= 760);
    CU_ASSERT_TRUE(max_seen[5] <= 1000 && max_seen[5] >= 950);
}

/* util_retry.c's edges: no growth below exp 1, a zero ceiling, the retry count and deadline. */
static void test_retry_bounds(void) {
    sl_retry_policy_t flat = {50, 1000, 0.5, 3, 0}, zero = {0, 1000, 2.0, 3, 0};
    uint64_t rng = 7;
    for (int i = 0; i < 2000; i++) {
        int64_t d = sl_retry_delay_ms(&flat, 10, &rng);
        CU_ASSERT_TRUE(d >= 0 && d <= 50);
        CU_ASSERT_EQUAL(sl_retry_delay_ms(&zero, i % 40, &rng), 0);
    }
    sl_retry_policy_t p = {100, 1000, 2.0, 2, 0};
    CU_ASSERT_TRUE(sl_retry_allowed(&p, 0, 100, 5000));
    CU_ASSERT_TRUE(sl_retry_allowed(&p, 1, 100, 5000));
    CU_ASSERT_FALSE(sl_retry_allowed(&p, 2, 100, 5000));
    p.deadline_ms = 5200;
    CU_ASSERT_TRUE(sl_retry_allowed(&p, 0, 199, 5000));
    CU_ASSERT_FALSE(sl_retry_allowed(&p, 0, 200, 5000));
    p.max_retries = 0;
    CU_ASSERT_FALSE(sl_retry_allowed(&p, 0, 0, 0));
}

static void test_classify(void) {
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 200, NULL), SL_AWS_DONE);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_ERR_RETRY, 0, NULL), SL_AWS_RETRY);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_ERR_IO, 0, NULL), SL_AWS_DONE);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 400, "ProvisionedThroughputExceededException"),
                    SL_AWS_RETRY);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 400, "LimitExceededException"), SL_AWS_RETRY);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 400, "ThrottlingException"), SL_AWS_RETRY);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 503, NULL), SL_AWS_RETRY);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 500, "InternalFailure"), SL_AWS_RETRY);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 429, NULL), SL_AWS_RETRY);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 400, "ExpiredTokenException"), SL_AWS_REFRESH);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 400, "ValidationException"), SL_AWS_DONE);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 400, "ResourceNotFoundException"), SL_AWS_DONE);
    CU_ASSERT_EQUAL(sl_aws_classify(SL_OK, 403, "AccessDeniedException"), SL_AWS_DONE);
}

/* --- the scripted server: tests/unit/fake_aws.c ------------------------------------------- */

#define MAX_SCRIPT 16

typedef struct {
    int status;
    const char *body;
    const char *err_header; /* x-amzn-ErrorType, or NULL */
} reply_t;

/* Queues the replies in order, whatever the operation. */
static void srv_script(fake_aws_t *srv, const reply_t *replies, int n) {
    for (int i = 0; i < n; i++) {
        char hdr[256];
        fake_aws_reply_t r = {.status = replies[i].status, .body = replies[i].body};
        if (replies[i].err_header) {
            snprintf(hdr, sizeof(hdr), "x-amzn-ErrorType: %s", replies[i].err_header);
            r.headers = hdr;
        }
        fake_aws_push(srv, &r);
    }
}

/* What the last request carried. */
typedef struct {
    char target[128], auth[512], ctype[128], token[128], body[512];
} last_t;

static void srv_last(fake_aws_t *srv, last_t *l) {
    fake_aws_request_t *rq = fake_aws_request(srv, NULL, fake_aws_count(srv, NULL) - 1);
    const char *v;
    memset(l, 0, sizeof(*l));
    if (!rq)
        return;
    snprintf(l->target, sizeof(l->target), "%s", rq->target);
    snprintf(l->auth, sizeof(l->auth), "%s",
             (v = fake_aws_request_header(rq, "Authorization")) ? v : "");
    snprintf(l->ctype, sizeof(l->ctype), "%s",
             (v = fake_aws_request_header(rq, "Content-Type")) ? v : "");
    snprintf(l->token, sizeof(l->token), "%s",
             (v = fake_aws_request_header(rq, "X-Amz-Security-Token")) ? v : "");
    snprintf(l->body, sizeof(l->body), "%s", rq->body);
    fake_aws_request_free(rq);
}

/* --- a counting credentials provider ------------------------------------------------------- */

typedef struct {
    int fetches;
} fake_t;

static sl_err_t fake_fetch(sl_creds_provider_t *prov, void *ctx) {
    fake_t *f = ctx;
    sl_creds_value_t v = {0};
    char ak[32];
    snprintf(ak, sizeof(ak), "AKIDFAKE%d", ++f->fetches);
    sl_creds_value_set(&v, ak, "fake-secret-never-logged", "fake-token-value", 0);
    sl_creds_provider_done(prov, SL_OK, &v, "ok");
    sl_creds_value_free(&v);
    return SL_OK;
}

static const sl_creds_provider_ops_t fake_ops = {fake_fetch, NULL, free};

/* --- calls --------------------------------------------------------------------------------- */

typedef struct {
    int done;
    sl_aws_result_t res;
    char type[128], message[256], request_id[64];
    char result[512];
    char raw[512];
    size_t raw_len;
    int has_raw;
} outcome_t;

static void on_result(void *opaque, const sl_aws_result_t *res) {
    outcome_t *o = opaque;
    o->done++;
    o->res = *res;
    snprintf(o->type, sizeof(o->type), "%s", res->type ? res->type : "");
    snprintf(o->message, sizeof(o->message), "%s", res->message ? res->message : "");
    snprintf(o->request_id, sizeof(o->request_id), "%s", res->request_id ? res->request_id : "");
    o->result[0] = '\0';
    if (res->result) {
        char *s = json_dumps(res->result, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(o->result, sizeof(o->result), "%s", s ? s : "");
        free(s);
    }
    o->has_raw = res->raw != NULL;
    o->raw_len = res->raw_len;
    if (res->raw && res->raw_len < sizeof(o->raw)) {
        memcpy(o->raw, res->raw, res->raw_len); /* borrowed: copied before returning */
        o->raw[res->raw_len] = '\0';
    }
}

typedef struct {
    fake_aws_t *srv;
    struct event_base *base;
    sl_http_t *http;
    sl_creds_t *creds;
    fake_t *fake;
    sl_aws_client_t *client;
} fixture_t;

static int fixture_up(fixture_t *fx) {
    sl_http_opts_t ho;
    sl_aws_client_opts_t co;
    char url[64], err[256];
    memset(fx, 0, sizeof(*fx));
    if (!(fx->srv = fake_aws_new(NULL, err, sizeof(err))))
        return -1;
    fake_aws_set_header(fx->srv, "x-amzn-RequestId", "req-123");
    fx->base = event_base_new();
    sl_http_opts_init(&ho);
    fx->http = sl_http_new(fx->base, &ho, err, sizeof(err));
    fx->fake = calloc(1, sizeof(*fx->fake));
    fx->creds = sl_creds_new(fx->base, sl_creds_provider_new(fx->base, &fake_ops, fx->fake, "fake"),
                             NULL, err, sizeof(err));
    snprintf(url, sizeof(url), "%s", fake_aws_url(fx->srv));
    memset(&co, 0, sizeof(co));
    co.service = "kinesis";
    co.region = "eu-west-1";
    co.endpoint = url;
    co.target_prefix = "Kinesis_20131202";
    co.json_version = "1.1";
    co.retry = (sl_retry_policy_t){5, 20, 2.0, 3, 0};
    co.seed = 7;
    fx->client = sl_aws_client_new(fx->http, fx->creds, &co, err, sizeof(err));
    return fx->http && fx->creds && fx->client ? 0 : -1;
}

static void fixture_down(fixture_t *fx) {
    sl_aws_client_destroy(fx->client);
    sl_creds_destroy(fx->creds);
    sl_http_destroy(fx->http);
    event_base_free(fx->base);
    fake_aws_destroy(fx->srv);
}

/* Runs the loop until o->done or about 5 s. */
static void run_until(fixture_t *fx, outcome_t *o) {
    int64_t deadline = sl_mono_ms() + 5000;
    while (!o->done && sl_mono_ms() < deadline)
        event_base_loop(fx->base, EVLOOP_ONCE);
}

static void test_call_ok(void) {
    fixture_t fx;
    last_t last;
    outcome_t o = {0};
    reply_t ok[] = {{200, "{\"StreamNames\":[\"a\",\"b\"],\"HasMoreStreams\":false}", NULL}};
    CU_ASSERT_EQUAL_FATAL(fixture_up(&fx), 0);
    srv_script(fx.srv, ok, 1);
    CU_ASSERT_EQUAL(sl_aws_call(fx.client, "ListStreams", json_pack("{s:i}", "Limit", 10), NULL,
                                on_result, &o), SL_OK);
    CU_ASSERT_EQUAL(o.done, 0); /* never from inside the call */
    run_until(&fx, &o);
    CU_ASSERT_EQUAL(o.done, 1);
    CU_ASSERT_EQUAL(o.res.err, SL_OK);
    CU_ASSERT_EQUAL(o.res.attempts, 1);
    CU_ASSERT_STRING_EQUAL(o.result, "{\"HasMoreStreams\":false,\"StreamNames\":[\"a\",\"b\"]}");
    srv_last(fx.srv, &last);
    CU_ASSERT_STRING_EQUAL(last.target, "Kinesis_20131202.ListStreams");
    CU_ASSERT_STRING_EQUAL(last.ctype, "application/x-amz-json-1.1");
    CU_ASSERT_STRING_EQUAL(last.body, "{\"Limit\":10}");
    CU_ASSERT_STRING_EQUAL(last.token, "fake-token-value");
    CU_ASSERT_PTR_NOT_NULL(strstr(last.auth, "AWS4-HMAC-SHA256 Credential=AKIDFAKE1/"));
    CU_ASSERT_PTR_NOT_NULL(strstr(last.auth, "/eu-west-1/kinesis/aws4_request"));
    CU_ASSERT_PTR_NOT_NULL(strstr(last.auth, "SignedHeaders=content-type;host;x-amz-date;"
                                                     "x-amz-security-token;x-amz-target"));
    CU_ASSERT_EQUAL(sl_aws_client_pending(fx.client), 0);
    fixture_down(&fx);
}

/* Raw mode: a 2xx body arrives undecoded (even when it is not JSON at all); throttling is
 * retried and errors are decoded exactly as in JSON mode. */
static void test_call_raw(void) {
    fixture_t fx;
    last_t last;
    outcome_t o = {0}, o2 = {0}, o3 = {0};
    reply_t script[] = {
        {400, "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"slow\"}", NULL},
        {200, " {\"Records\":[],\n\"MillisBehindLatest\":0} not JSON after all", NULL},
        {400, "{\"__type\":\"com.amazonaws.kinesis.v20131202#ExpiredIteratorException\","
              "\"message\":\"Iterator expired\"}", NULL},
        {200, "", NULL}};
    CU_ASSERT_EQUAL_FATAL(fixture_up(&fx), 0);
    srv_script(fx.srv, script, 4);
    CU_ASSERT_EQUAL(sl_aws_call_raw(fx.client, "GetRecords",
                                    json_pack("{s:s}", "ShardIterator", "it"), NULL, on_result,
                                    &o), SL_OK);
    CU_ASSERT_EQUAL(o.done, 0); /* never from inside the call */
    run_until(&fx, &o);
    CU_ASSERT_EQUAL(o.done, 1);
    CU_ASSERT_EQUAL(o.res.err, SL_OK);
    CU_ASSERT_EQUAL(o.res.status, 200);
    CU_ASSERT_EQUAL(o.res.attempts, 2);
    CU_ASSERT_PTR_NULL(o.res.result);
    CU_ASSERT_TRUE(o.has_raw);
    CU_ASSERT_STRING_EQUAL(o.raw,
                           " {\"Records\":[],\n\"MillisBehindLatest\":0} not JSON after all");
    CU_ASSERT_EQUAL(o.raw_len, strlen(o.raw));
    CU_ASSERT_STRING_EQUAL(o.request_id, "req-123");
    srv_last(fx.srv, &last);
    CU_ASSERT_STRING_EQUAL(last.target, "Kinesis_20131202.GetRecords");
    CU_ASSERT_STRING_EQUAL(last.body, "{\"ShardIterator\":\"it\"}");
    /* a fatal error is decoded from its JSON body as in JSON mode; no raw body */
    sl_aws_call_raw(fx.client, "GetRecords", NULL, NULL, on_result, &o2);
    run_until(&fx, &o2);
    CU_ASSERT_EQUAL(o2.res.err, SL_ERR_INVAL);
    CU_ASSERT_EQUAL(o2.res.status, 400);
    CU_ASSERT_STRING_EQUAL(o2.type, "ExpiredIteratorException");
    CU_ASSERT_STRING_EQUAL(o2.message, "Iterator expired");
    CU_ASSERT_FALSE(o2.has_raw);
    CU_ASSERT_PTR_NULL(o2.res.result);
    /* an empty 2xx body: raw is "" (never NULL on success) */
    sl_aws_call_raw(fx.client, "GetRecords", NULL, NULL, on_result, &o3);
    run_until(&fx, &o3);
    CU_ASSERT_EQUAL(o3.res.err, SL_OK);
    CU_ASSERT_TRUE(o3.has_raw);
    CU_ASSERT_EQUAL(o3.raw_len, 0);
    CU_ASSERT_EQUAL(sl_aws_client_pending(fx.client), 0);
    fixture_down(&fx);
}

static void test_call_throttled_then_ok(void) {
    fixture_t fx;
    outcome_t o = {0};
    reply_t script[] = {
        {400, "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"slow\"}", NULL},
        {503, "<html>busy</html>", NULL},
        {200, "{\"SequenceNumber\":\"1\",\"ShardId\":\"shardId-000\"}", NULL}};
    CU_ASSERT_EQUAL_FATAL(fixture_up(&fx), 0);
    srv_script(fx.srv, script, 3);
    sl_aws_call(fx.client, "PutRecord", json_pack("{s:s}", "StreamName", "s"), NULL, on_result,
                &o);
    run_until(&fx, &o);
    CU_ASSERT_EQUAL(o.res.err, SL_OK);
    CU_ASSERT_EQUAL(o.res.attempts, 3);
    CU_ASSERT_EQUAL(fake_aws_count(fx.srv, NULL), 3);
    fixture_down(&fx);
}

static void test_call_fatal_decoded(void) {
    fixture_t fx;
    outcome_t o = {0}, o2 = {0};
    reply_t script[] = {
        {400, "{\"__type\":\"com.amazonaws.kinesis.v20131202#ResourceNotFoundException\","
              "\"message\":\"Stream s under account 1 not found.\"}", NULL},
        {400, "{\"Message\":\"One or more parameter values were invalid\"}",
         "ValidationException:http://internal.amazon.com/coral/"}};
    CU_ASSERT_EQUAL_FATAL(fixture_up(&fx), 0);
    srv_script(fx.srv, script, 2);
    sl_aws_call(fx.client, "DescribeStream", NULL, NULL, on_result, &o);
    run_until(&fx, &o);
    CU_ASSERT_EQUAL(o.res.err, SL_ERR_INVAL);
    CU_ASSERT_EQUAL(o.res.status, 400);
    CU_ASSERT_EQUAL(o.res.attempts, 1);
    CU_ASSERT_STRING_EQUAL(o.type, "ResourceNotFoundException");
    CU_ASSERT_STRING_EQUAL(o.message, "Stream s under account 1 not found.");
    CU_ASSERT_STRING_EQUAL(o.request_id, "req-123");
    /* DynamoDB Local spells it Message; the type may only be in the header. */
    sl_aws_call(fx.client, "PutItem", NULL, NULL, on_result, &o2);
    run_until(&fx, &o2);
    CU_ASSERT_EQUAL(o2.res.err, SL_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(o2.type, "ValidationException");
    CU_ASSERT_STRING_EQUAL(o2.message, "One or more parameter values were invalid");
    fixture_down(&fx);
}

static void test_call_retries_exhausted(void) {
    fixture_t fx;
    outcome_t o = {0};
    reply_t busy = {500, "{\"__type\":\"InternalFailure\"}", NULL};
    reply_t script[MAX_SCRIPT];
    for (int i = 0; i < MAX_SCRIPT; i++)
        script[i] = busy;
    CU_ASSERT_EQUAL_FATAL(fixture_up(&fx), 0);
    srv_script(fx.srv, script, MAX_SCRIPT);
    sl_aws_call(fx.client, "GetRecords", NULL, NULL, on_result, &o);
    run_until(&fx, &o);
    CU_ASSERT_EQUAL(o.res.err, SL_ERR_RETRY);
    CU_ASSERT_EQUAL(o.res.attempts, 4); /* 1 + max_retries 3 */
    CU_ASSERT_STRING_EQUAL(o.type, "InternalFailure");
    fixture_down(&fx);
}

static void test_call_expired_token_refresh(void) {
    fixture_t fx;
    last_t last;
    outcome_t o = {0}, o2 = {0};
    reply_t script[] = {
        {400, "{\"__type\":\"ExpiredTokenException\",\"message\":\"The security token included "
              "in the request is expired\"}", NULL},
        {200, "{}", NULL},
        {400, "{\"__type\":\"ExpiredTokenException\"}", NULL},
        {400, "{\"__type\":\"ExpiredTokenException\"}", NULL}};
    CU_ASSERT_EQUAL_FATAL(fixture_up(&fx), 0);
    srv_script(fx.srv, script, 4);
    sl_aws_call(fx.client, "ListShards", NULL, NULL, on_result, &o);
    run_until(&fx, &o);
    CU_ASSERT_EQUAL(o.res.err, SL_OK);
    CU_ASSERT_EQUAL(fx.fake->fetches, 2); /* refreshed once */
    srv_last(fx.srv, &last);
    CU_ASSERT_PTR_NOT_NULL(strstr(last.auth, "Credential=AKIDFAKE2/"));
    /* Refreshed once per call only: a second rejection is final. */
    sl_aws_call(fx.client, "ListShards", NULL, NULL, on_result, &o2);
    run_until(&fx, &o2);
    CU_ASSERT_EQUAL(o2.res.err, SL_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(o2.type, "ExpiredTokenException");
    CU_ASSERT_EQUAL(fx.fake->fetches, 3);
    fixture_down(&fx);
}

static void test_destroy_in_flight(void) {
    fixture_t fx;
    outcome_t o[10];
    memset(o, 0, sizeof(o));
    CU_ASSERT_EQUAL_FATAL(fixture_up(&fx), 0);
    for (int i = 0; i < 10; i++)
        sl_aws_call(fx.client, "ListStreams", NULL, NULL, on_result, &o[i]);
    /* Let some of them reach the wire, then destroy everything. */
    for (int i = 0; i < 3; i++)
        event_base_loop(fx.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    CU_ASSERT_TRUE(sl_aws_client_pending(fx.client) > 0);
    sl_aws_client_destroy(fx.client);
    fx.client = NULL;
    for (int i = 0; i < 20; i++)
        event_base_loop(fx.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(o[i].done, 0);
    fixture_down(&fx);
}

static void test_cancel_by_owner(void) {
    fixture_t fx;
    outcome_t a[5], b[5];
    reply_t ok = {200, "{}", NULL};
    reply_t script[MAX_SCRIPT];
    int64_t deadline;
    int bdone = 0;
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    for (int i = 0; i < MAX_SCRIPT; i++)
        script[i] = ok;
    CU_ASSERT_EQUAL_FATAL(fixture_up(&fx), 0);
    srv_script(fx.srv, script, MAX_SCRIPT);
    for (int i = 0; i < 5; i++) {
        sl_aws_call(fx.client, "ListStreams", NULL, NULL, on_result, &a[i]);
        sl_aws_call(fx.client, "ListStreams", NULL, NULL, on_result, &b[i]);
    }
    event_base_loop(fx.base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* some reach the wire */
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(sl_aws_cancel(fx.client, &a[i]), 1);
    CU_ASSERT_EQUAL(sl_aws_cancel(fx.client, &a[0]), 0);
    CU_ASSERT_EQUAL(sl_aws_client_pending(fx.client), 5);
    deadline = sl_mono_ms() + 5000;
    while (bdone < 5 && sl_mono_ms() < deadline) {
        event_base_loop(fx.base, EVLOOP_ONCE);
        bdone = 0;
        for (int i = 0; i < 5; i++)
            bdone += b[i].done;
    }
    CU_ASSERT_EQUAL(bdone, 5);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(a[i].done, 0);
        CU_ASSERT_EQUAL(b[i].res.err, SL_OK);
    }
    fixture_down(&fx);
}

static void test_bad_options(void) {
    struct event_base *base = event_base_new();
    sl_http_opts_t ho;
    sl_aws_client_opts_t co;
    char err[256];
    sl_http_opts_init(&ho);
    sl_http_t *http = sl_http_new(base, &ho, err, sizeof(err));
    memset(&co, 0, sizeof(co));
    co.service = "kinesis";
    co.target_prefix = "Kinesis_20131202";
    CU_ASSERT_PTR_NULL(sl_aws_client_new(http, NULL, &co, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no region"));
    co.region = "us-east-1";
    co.endpoint = "ftp://x";
    CU_ASSERT_PTR_NULL(sl_aws_client_new(http, NULL, &co, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "ftp://x"));
    co.endpoint = "http://user:pw@127.0.0.1:1";
    CU_ASSERT_PTR_NULL(sl_aws_client_new(http, NULL, &co, err, sizeof(err)));
    co.endpoint = NULL;
    sl_aws_client_t *c = sl_aws_client_new(http, NULL, &co, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(sl_aws_client_endpoint(c), "https://kinesis.us-east-1.amazonaws.com");
    sl_aws_client_destroy(c);
    sl_http_destroy(http);
    event_base_free(base);
}

void test_aws_client_register(void) {
    static const unit_test_t tests[] = {
        {"endpoints", test_endpoints},
        {"retry delay", test_retry_delay},
        {"retry bounds", test_retry_bounds},
        {"classify", test_classify},
        {"call ok", test_call_ok},
        {"throttled then ok", test_call_throttled_then_ok},
        {"raw answers", test_call_raw},
        {"fatal errors decoded", test_call_fatal_decoded},
        {"retries exhausted", test_call_retries_exhausted},
        {"expired token refresh", test_call_expired_token_refresh},
        {"destroy in flight", test_destroy_in_flight},
        {"cancel by owner", test_cancel_by_owner},
        {"bad options", test_bad_options},
        {NULL, NULL},
    };
    unit_add_suite("aws_client", tests);
}
