/*
 * test_http.c: unit tests of the event-loop HTTP client (aws/http.c) against real servers
 * started here on 127.0.0.1: tests/unit/fake_aws.c, libevent's evhttp on its own thread and base
 * (a peer sluice did not write), answering well-behaved exchanges and scripted misbehaviour (a
 * body cut short, a 1xx interim answer first, answers held mid-body), TLS included; and bare
 * sockets for what needs no server at all (a port that refuses, a listener that never accepts).
 * The client runs on the test's own base; every test drives that loop until its callbacks
 * arrived or a deadline.
 */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "fake_aws.h"
#include "http.h"
#include "sluice/log.h"
#include "unit.h"
#include "util_str.h"

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the server: tests/unit/fake_aws.c (evhttp on its own thread) answering below ---------- */

typedef struct srv {
    fake_aws_t *aws;
    int port;
} srv_t;

static void pattern(char *buf, size_t off, size_t len) {
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + (off + i) % 26);
}

static const char *hdr_or_none(const fake_aws_request_t *req, const char *name) {
    const char *v = fake_aws_request_header(req, name);
    return v ? v : "(none)";
}

/* /echo: the request body back, with what arrived in X-* headers. /status/N: status N.
 * /big?n=N: N pattern bytes. /id/K: "id K". */
static void srv_handle(void *opaque, const fake_aws_request_t *req, fake_aws_answer_t *ans) {
    const char *path = req->path, *query = strchr(req->uri, '?');
    char text[64];
    (void)opaque;
    if (query)
        query++;
    if (!strcmp(path, "/echo")) {
        fake_aws_answer(ans, 200, req->body, req->body_len);
        fake_aws_answer_header(ans, "X-Method", req->method);
        fake_aws_answer_header(ans, "X-Echo", hdr_or_none(req, "X-Test"));
        fake_aws_answer_header(ans, "X-Content-Type", hdr_or_none(req, "Content-Type"));
        fake_aws_answer_header(ans, "X-Expect", hdr_or_none(req, "Expect"));
        fake_aws_answer_header(ans, "X-User-Agent", hdr_or_none(req, "User-Agent"));
    } else if (!strncmp(path, "/status/", 8)) {
        snprintf(text, sizeof(text), "status %d", atoi(path + 8));
        fake_aws_answer(ans, atoi(path + 8), text, (size_t)-1);
    } else if (!strcmp(path, "/big") && query && !strncmp(query, "n=", 2)) {
        size_t n = (size_t)strtoul(query + 2, NULL, 10);
        char *data = malloc(n ? n : 1);
        if (data) {
            pattern(data, 0, n);
            fake_aws_answer(ans, 200, data, n);
            free(data);
        }
    } else if (!strncmp(path, "/id/", 4)) {
        snprintf(text, sizeof(text), "id %s", path + 4);
        fake_aws_answer(ans, 200, text, (size_t)-1);
    } else {
        fake_aws_answer(ans, 404, NULL, 0);
    }
}

/* Counted by the fake for every connection it accepts. */
static int srv_conns(srv_t *srv) {
    return fake_aws_connections(srv->aws);
}

/* ssl: borrowed; NULL: plain HTTP. */
static int srv_start(srv_t *srv, SSL_CTX *ssl) {
    char err[256];
    srv->aws = fake_aws_new(ssl, err, sizeof(err));
    if (!srv->aws) {
        fprintf(stderr, "fake_aws_new: %s\n", err);
        return -1;
    }
    srv->port = fake_aws_port(srv->aws);
    fake_aws_set_responder(srv->aws, srv_handle, NULL);
    return 0;
}

static void srv_stop(srv_t *srv) {
    fake_aws_destroy(srv->aws);
}

static void url_of(char *buf, size_t len, int port, const char *path) {
    snprintf(buf, len, "http://127.0.0.1:%d%s", port, path);
}

/* ---- bare sockets -------------------------------------------------------------------------- */

/* A listening socket on 127.0.0.1 (port 0); with listen_too=0 only bound: connecting is refused.
 * Returns the fd, the port in *port. */
static int raw_socket(int *port, int listen_too) {
    struct sockaddr_in sa = {0};
    socklen_t salen = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        (listen_too && listen(fd, 16) != 0) ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ---- the client side ------------------------------------------------------------------------- */

typedef struct result {
    int called;
    sl_err_t err;
    long status;
    char *body;
    size_t body_len;
    char error[512];
    char x_method[32], x_echo[64], x_ctype[64], x_expect[64], x_ua[64], x_final[16],
        x_interim[16];
    int http_version;
    int64_t elapsed_ms;
    int64_t at_ms; /* test clock when the callback ran */
} result_t;

static int in_send; /* set around sl_http_send: callbacks must never see it */
static int results; /* on_result calls, for run_until */
static int cb_inside_send;

static void copy_hdr(char *dst, size_t len, const sl_http_resp_t *resp, const char *name) {
    const char *v = sl_http_resp_header(resp, name);
    snprintf(dst, len, "%s", v ? v : "(null)");
}

static void on_result(void *opaque, const sl_http_resp_t *resp) {
    result_t *r = opaque;
    if (in_send)
        cb_inside_send++;
    r->called++;
    results++;
    r->err = resp->err;
    r->status = resp->status;
    free(r->body);
    r->body = malloc(resp->body_len + 1);
    if (r->body) {
        memcpy(r->body, resp->body, resp->body_len + 1);
        r->body_len = resp->body_len;
    }
    snprintf(r->error, sizeof(r->error), "%s", resp->error ? resp->error : "(null)");
    copy_hdr(r->x_method, sizeof(r->x_method), resp, "x-method");
    copy_hdr(r->x_echo, sizeof(r->x_echo), resp, "X-ECHO");
    copy_hdr(r->x_ctype, sizeof(r->x_ctype), resp, "X-Content-Type");
    copy_hdr(r->x_expect, sizeof(r->x_expect), resp, "X-Expect");
    copy_hdr(r->x_ua, sizeof(r->x_ua), resp, "X-User-Agent");
    copy_hdr(r->x_final, sizeof(r->x_final), resp, "X-Final");
    copy_hdr(r->x_interim, sizeof(r->x_interim), resp, "X-Interim");
    r->http_version = resp->http_version;
    r->elapsed_ms = resp->elapsed_ms;
    r->at_ms = now_ms();
}

static void result_free(result_t *r) {
    free(r->body);
    r->body = NULL;
}

static sl_err_t send_req(sl_http_t *http, sl_http_req_t *req, sl_http_cb cb, void *opaque) {
    sl_err_t err;
    in_send = 1;
    err = sl_http_send(http, req, cb, opaque);
    in_send = 0;
    return err;
}

static sl_err_t get(sl_http_t *http, const char *url, result_t *r) {
    return send_req(http, sl_http_req_new("GET", url), on_result, r);
}

static void tick(evutil_socket_t fd, short what, void *arg) {
}

/* Runs base until *count >= target or ms passed; returns the elapsed ms. */
static int64_t run_until(struct event_base *base, const int *count, int target, int ms) {
    struct timeval tv = {0, 5000};
    struct event *ev = event_new(base, -1, EV_PERSIST, tick, NULL);
    int64_t start = now_ms();
    event_add(ev, &tv); /* keeps EVLOOP_ONCE from returning at once when nothing else waits */
    while (*count < target && now_ms() - start < ms)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    return now_ms() - start;
}

static sl_http_t *client(struct event_base *base, sl_http_opts_t *opts) {
    char err[256] = "";
    sl_http_t *http = sl_http_new(base, opts, err, sizeof(err));
    if (!http)
        fprintf(stderr, "sl_http_new: %s\n", err);
    return http;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_get_post(void) {
    static const char bin[] = "hello\0world"; /* 11 bytes with a NUL inside */
    struct event_base *base = event_base_new();
    sl_http_t *http;
    sl_http_req_t *req;
    result_t r[5] = {{0}};
    char url[128];
    size_t bigsz = 2u << 20;
    char *big = malloc(bigsz);
    int results0 = results;
    srv_t srv;

    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    http = client(base, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    url_of(url, sizeof(url), srv.port, "/echo");

    req = sl_http_req_new("GET", url);
    CU_ASSERT_EQUAL(sl_http_req_header(req, "X-Test", "v1"), SL_OK);
    CU_ASSERT_EQUAL(sl_http_req_header(req, "X-Bad", "a\r\nInjected: 1"), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_http_req_header(req, "X:Bad", "a"), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(send_req(http, req, on_result, &r[0]), SL_OK);

    req = sl_http_req_new("POST", url);
    CU_ASSERT_EQUAL(sl_http_req_header(req, "X-Test", "binary"), SL_OK);
    CU_ASSERT_EQUAL(sl_http_req_body(req, bin, sizeof(bin) - 1), SL_OK);
    CU_ASSERT_EQUAL(send_req(http, req, on_result, &r[1]), SL_OK);

    /* 2 MiB: libcurl would add "Expect: 100-continue" and wait for it */
    pattern(big, 0, bigsz);
    req = sl_http_req_new("PUT", url);
    CU_ASSERT_EQUAL(sl_http_req_header(req, "Content-Type", "application/x-amz-json-1.1"), SL_OK);
    CU_ASSERT_EQUAL(sl_http_req_body(req, big, bigsz), SL_OK);
    CU_ASSERT_EQUAL(send_req(http, req, on_result, &r[2]), SL_OK);

    req = sl_http_req_new("DELETE", url);
    CU_ASSERT_EQUAL(send_req(http, req, on_result, &r[3]), SL_OK);
    req = sl_http_req_new("POST", url); /* no body: an empty one */
    CU_ASSERT_EQUAL(send_req(http, req, on_result, &r[4]), SL_OK);
    CU_ASSERT_EQUAL(sl_http_pending(http), 5); /* queued before the loop ever ran */

    run_until(base, &results, results0 + 5, 5000);
    CU_ASSERT_EQUAL(results - results0, 5);
    CU_ASSERT_EQUAL(cb_inside_send, 0);
    CU_ASSERT_EQUAL(sl_http_pending(http), 0);

    CU_ASSERT_EQUAL(r[0].called, 1);
    CU_ASSERT_EQUAL(r[0].err, SL_OK);
    CU_ASSERT_EQUAL(r[0].status, 200);
    CU_ASSERT_EQUAL(r[0].body_len, 0);
    CU_ASSERT_STRING_EQUAL(r[0].x_method, "GET");
    CU_ASSERT_STRING_EQUAL(r[0].x_echo, "v1");
    CU_ASSERT_STRING_EQUAL(r[0].x_ua, "sluice/" SL_VERSION_STR);
    CU_ASSERT_STRING_EQUAL(r[0].error, "");
    CU_ASSERT_EQUAL(r[0].http_version, 1);
    CU_ASSERT(r[0].elapsed_ms >= 0 && r[0].elapsed_ms < 5000);

    CU_ASSERT_EQUAL(r[1].err, SL_OK);
    CU_ASSERT_EQUAL(r[1].status, 200);
    CU_ASSERT_EQUAL(r[1].body_len, sizeof(bin) - 1);
    CU_ASSERT(r[1].body && !memcmp(r[1].body, bin, sizeof(bin) - 1));
    CU_ASSERT_STRING_EQUAL(r[1].x_method, "POST");
    CU_ASSERT_STRING_EQUAL(r[1].x_echo, "binary");
    CU_ASSERT_STRING_EQUAL(r[1].x_ctype, "(none)"); /* no invented form type */
    CU_ASSERT_STRING_EQUAL(r[1].x_expect, "(none)");

    CU_ASSERT_EQUAL(r[2].err, SL_OK);
    CU_ASSERT_EQUAL(r[2].body_len, bigsz);
    CU_ASSERT(r[2].body && r[2].body_len == bigsz && !memcmp(r[2].body, big, bigsz));
    CU_ASSERT_STRING_EQUAL(r[2].x_method, "PUT");
    CU_ASSERT_STRING_EQUAL(r[2].x_ctype, "application/x-amz-json-1.1");
    CU_ASSERT_STRING_EQUAL(r[2].x_expect, "(none)");

    CU_ASSERT_EQUAL(r[3].err, SL_OK);
    CU_ASSERT_STRING_EQUAL(r[3].x_method, "DELETE");
    CU_ASSERT_EQUAL(r[4].err, SL_OK);
    CU_ASSERT_STRING_EQUAL(r[4].x_method, "POST");
    CU_ASSERT_EQUAL(r[4].body_len, 0);

    /* bad arguments: never queued, never called back */
    CU_ASSERT_EQUAL(sl_http_send(http, NULL, on_result, &r[0]), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_http_send(http, sl_http_req_new("GET", url), NULL, NULL), SL_ERR_INVAL);
    CU_ASSERT_PTR_NULL(sl_http_req_new("GET", ""));
    CU_ASSERT_EQUAL(sl_http_pending(http), 0);
    sl_http_req_destroy(sl_http_req_new("GET", url)); /* unsent: freed */
    sl_http_req_destroy(NULL);

    for (int i = 0; i < 5; i++)
        result_free(&r[i]);
    free(big);
    sl_http_destroy(http);
    sl_http_destroy(NULL);
    srv_stop(&srv);
    event_base_free(base);
}

static void test_status(void) {
    struct event_base *base = event_base_new();
    sl_http_t *http = client(base, NULL);
    result_t r[3] = {{0}};
    char url[128];
    int results0 = results;
    srv_t srv;

    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    url_of(url, sizeof(url), srv.port, "/status/404");
    CU_ASSERT_EQUAL(get(http, url, &r[0]), SL_OK);
    url_of(url, sizeof(url), srv.port, "/status/500");
    CU_ASSERT_EQUAL(get(http, url, &r[1]), SL_OK);
    url_of(url, sizeof(url), srv.port, "/status/503");
    CU_ASSERT_EQUAL(send_req(http, sl_http_req_new("HEAD", url), on_result, &r[2]), SL_OK);
    run_until(base, &results, results0 + 3, 3000);
    CU_ASSERT_EQUAL(r[0].err, SL_OK);
    CU_ASSERT_EQUAL(r[0].status, 404);
    CU_ASSERT_STRING_EQUAL(r[0].body ? r[0].body : "", "status 404");
    CU_ASSERT_EQUAL(r[1].err, SL_OK);
    CU_ASSERT_EQUAL(r[1].status, 500);
    CU_ASSERT_STRING_EQUAL(r[1].body ? r[1].body : "", "status 500");
    CU_ASSERT_EQUAL(r[2].err, SL_OK);
    CU_ASSERT_EQUAL(r[2].status, 503);
    CU_ASSERT_EQUAL(r[2].body_len, 0); /* HEAD: no body */
    for (int i = 0; i < 3; i++)
        result_free(&r[i]);
    sl_http_destroy(http);
    srv_stop(&srv);
    event_base_free(base);
}

#define NCONC 1000
#define NCONC_CONNS 4

typedef struct conc {
    int done, ok;
    int id;
} conc_t;

static int conc_done, conc_ok;

static void on_conc(void *opaque, const sl_http_resp_t *resp) {
    conc_t *c = opaque;
    char want[32];
    snprintf(want, sizeof(want), "id %d", c->id);
    c->done++;
    conc_done++;
    if (resp->err == SL_OK && resp->status == 200 && !strcmp(resp->body, want) &&
        resp->body_len == strlen(want))
        conc_ok++;
}

/* 1000 requests at once through at most 4 connections. Reuse is proven on the server side:
 * the fake counts the connections evhttp accepts, which must stay at or below the client's
 * limit (a client without keep-alive would need 1000), also for requests sent later. */
static void test_concurrent_reuse(void) {
    struct event_base *base = event_base_new();
    sl_http_opts_t opts;
    sl_http_t *http;
    static conc_t c[NCONC + 10];
    char url[128], path[32];
    int64_t took;
    srv_t srv;

    sl_http_opts_init(&opts);
    opts.max_connections = NCONC_CONNS;
    http = client(base, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    conc_done = conc_ok = 0;
    memset(c, 0, sizeof(c));
    for (int i = 0; i < NCONC; i++) {
        c[i].id = i;
        snprintf(path, sizeof(path), "/id/%d", i);
        url_of(url, sizeof(url), srv.port, path);
        CU_ASSERT_EQUAL(send_req(http, sl_http_req_new("GET", url), on_conc, &c[i]), SL_OK);
    }
    CU_ASSERT_EQUAL(sl_http_pending(http), NCONC);
    took = run_until(base, &conc_done, NCONC, 10000);
    CU_ASSERT_EQUAL(conc_done, NCONC);
    CU_ASSERT_EQUAL(conc_ok, NCONC);
    for (int i = 0; i < NCONC; i++)
        CU_ASSERT_EQUAL(c[i].done, 1);
    CU_ASSERT(srv_conns(&srv) >= 1 && srv_conns(&srv) <= NCONC_CONNS);
    int after_burst = srv_conns(&srv);

    /* later requests, one at a time, go over the idle pooled connections */
    for (int i = NCONC; i < NCONC + 10; i++) {
        c[i].id = i;
        snprintf(path, sizeof(path), "/id/%d", i);
        url_of(url, sizeof(url), srv.port, path);
        CU_ASSERT_EQUAL(send_req(http, sl_http_req_new("GET", url), on_conc, &c[i]), SL_OK);
        run_until(base, &conc_done, i + 1, 3000);
    }
    CU_ASSERT_EQUAL(conc_ok, NCONC + 10);
    CU_ASSERT_EQUAL(srv_conns(&srv), after_burst);
    CU_ASSERT_EQUAL(cb_inside_send, 0);
    fprintf(stderr, "[%d requests in %lld ms over %d connections] ", NCONC, (long long)took,
            srv_conns(&srv));
    sl_http_destroy(http);
    srv_stop(&srv);
    event_base_free(base);
}

static void test_refused(void) {
    struct event_base *base = event_base_new();
    sl_http_t *http = client(base, NULL);
    result_t r = {0};
    char url[128];
    int port, fd = raw_socket(&port, 0); /* bound, not listening: connecting is refused */

    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_FATAL(fd >= 0);
    url_of(url, sizeof(url), port, "/x");
    CU_ASSERT_EQUAL(get(http, url, &r), SL_OK);
    CU_ASSERT_EQUAL(r.called, 0); /* never from inside sl_http_send */
    run_until(base, &r.called, 1, 3000);
    CU_ASSERT_EQUAL(r.called, 1);
    CU_ASSERT_EQUAL(cb_inside_send, 0);
    CU_ASSERT_EQUAL(r.err, SL_ERR_RETRY);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL(r.http_version, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "onnect"));
    result_free(&r);
    close(fd);
    sl_http_destroy(http);
    event_base_free(base);
}

/* The kernel completes the handshake for a listener that never accepts: the request goes out
 * and no answer ever comes. */
static void test_timeout(void) {
    struct event_base *base = event_base_new();
    sl_http_opts_t opts;
    sl_http_t *http;
    sl_http_req_t *req;
    result_t r[2] = {{0}};
    char url[128];
    int port, fd = raw_socket(&port, 1), results0 = results;
    int64_t start;

    sl_http_opts_init(&opts);
    opts.request_timeout_ms = 300;
    http = client(base, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_FATAL(fd >= 0);
    url_of(url, sizeof(url), port, "/never");
    start = now_ms();
    CU_ASSERT_EQUAL(get(http, url, &r[0]), SL_OK);
    req = sl_http_req_new("GET", url);
    sl_http_req_timeout(req, 150); /* overrides the client's 300 */
    CU_ASSERT_EQUAL(send_req(http, req, on_result, &r[1]), SL_OK);
    run_until(base, &results, results0 + 2, 3000);
    CU_ASSERT_EQUAL(r[0].called, 1);
    CU_ASSERT_EQUAL(r[0].err, SL_ERR_RETRY);
    CU_ASSERT(r[0].at_ms - start >= 280 && r[0].at_ms - start < 1500);
    CU_ASSERT_PTR_NOT_NULL(strstr(r[0].error, "timed out"));
    CU_ASSERT_EQUAL(r[1].called, 1);
    CU_ASSERT_EQUAL(r[1].err, SL_ERR_RETRY);
    CU_ASSERT(r[1].at_ms - start >= 130 && r[1].at_ms - start < 280);
    if (!(r[1].at_ms - start >= 130 && r[1].at_ms - start < 280))
        fprintf(stderr, "[per-request timeout after %lld ms: %s] ", (long long)(r[1].at_ms - start),
                r[1].error);
    result_free(&r[0]);
    result_free(&r[1]);
    sl_http_destroy(http);
    memset(r, 0, sizeof(r));

    /* the only connection is taken by a hung request: libcurl alone would keep the second one
     * waiting for it, past its own timeout */
    opts.max_connections = 1;
    opts.http2 = 0;
    http = client(base, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    req = sl_http_req_new("GET", url);
    sl_http_req_timeout(req, 2000);
    CU_ASSERT_EQUAL(send_req(http, req, on_result, &r[0]), SL_OK);
    req = sl_http_req_new("GET", url);
    sl_http_req_timeout(req, 150);
    start = now_ms();
    CU_ASSERT_EQUAL(send_req(http, req, on_result, &r[1]), SL_OK);
    run_until(base, &r[1].called, 1, 1500);
    CU_ASSERT_EQUAL(r[0].called, 0);
    CU_ASSERT_EQUAL(r[1].called, 1);
    CU_ASSERT_EQUAL(r[1].err, SL_ERR_RETRY);
    CU_ASSERT(r[1].at_ms - start >= 130 && r[1].at_ms - start < 500);
    CU_ASSERT(r[1].elapsed_ms >= 130 && r[1].elapsed_ms < 500);
    CU_ASSERT_PTR_NOT_NULL(strstr(r[1].error, "timed out"));
    CU_ASSERT_EQUAL(sl_http_pending(http), 1);
    result_free(&r[0]);
    result_free(&r[1]);
    sl_http_destroy(http);
    close(fd);
    event_base_free(base);
}

static void test_mid_close(void) {
    struct event_base *base = event_base_new();
    sl_http_t *http = client(base, NULL);
    srv_t srv;
    result_t r = {0};
    char url[128], body[100];

    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    /* a head announcing 100 bytes, 9 of them, then the connection closed */
    memset(body, '.', sizeof(body));
    memcpy(body, "only half", 9);
    fake_aws_push(srv.aws, &(fake_aws_reply_t){.path = "/half", .action = FAKE_AWS_TRUNCATE,
                                               .body = body, .body_len = sizeof(body),
                                               .truncate_at = 9});
    url_of(url, sizeof(url), srv.port, "/half");
    CU_ASSERT_EQUAL(get(http, url, &r), SL_OK);
    run_until(base, &r.called, 1, 3000);
    CU_ASSERT_EQUAL(r.called, 1);
    CU_ASSERT_EQUAL(r.err, SL_ERR_RETRY);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.body ? r.body : "x", ""); /* a partial body is not handed out */
    CU_ASSERT_NOT_EQUAL(r.error[0], 0);
    result_free(&r);
    srv_stop(&srv);
    sl_http_destroy(http);
    event_base_free(base);
}

/* Only the final answer's headers count, not those of an interim 1xx answer. */
static void test_interim_headers(void) {
    struct event_base *base = event_base_new();
    sl_http_t *http = client(base, NULL);
    srv_t srv;
    result_t r = {0};
    char url[128];

    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    fake_aws_push(srv.aws, &(fake_aws_reply_t){
                               .path = "/hints", .action = FAKE_AWS_RAW,
                               .body = "HTTP/1.1 103 Early Hints\r\nX-Interim: yes\r\n"
                                       "X-Final: interim\r\n\r\n"
                                       "HTTP/1.1 200 OK\r\nX-Final:  yes \r\nContent-Length: 2\r\n"
                                       "Connection: close\r\n\r\nok"});
    url_of(url, sizeof(url), srv.port, "/hints");
    CU_ASSERT_EQUAL(get(http, url, &r), SL_OK);
    run_until(base, &r.called, 1, 3000);
    CU_ASSERT_EQUAL(r.err, SL_OK);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", "ok");
    CU_ASSERT_STRING_EQUAL(r.x_final, "yes");
    CU_ASSERT_STRING_EQUAL(r.x_interim, "(null)");
    result_free(&r);
    srv_stop(&srv);
    sl_http_destroy(http);
    event_base_free(base);

    /* a hand-made response (as a test double would build) has no headers */
    sl_http_resp_t fake = {0};
    CU_ASSERT_PTR_NULL(sl_http_resp_header(&fake, "X-Final"));
    fake.headers = "a\0one\0B-b\0two\0";
    CU_ASSERT_STRING_EQUAL(sl_http_resp_header(&fake, "b-B") ? sl_http_resp_header(&fake, "b-B")
                                                             : "",
                           "two");
    CU_ASSERT_PTR_NULL(sl_http_resp_header(&fake, "one"));
}

static void test_too_large(void) {
    struct event_base *base = event_base_new();
    sl_http_opts_t opts;
    sl_http_t *http;
    result_t r[3] = {{0}};
    char url[128];
    int results0 = results;
    srv_t srv;

    sl_http_opts_init(&opts);
    opts.max_response = 100000;
    http = client(base, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    url_of(url, sizeof(url), srv.port, "/big?n=100000");
    CU_ASSERT_EQUAL(get(http, url, &r[0]), SL_OK);
    url_of(url, sizeof(url), srv.port, "/big?n=100001");
    CU_ASSERT_EQUAL(get(http, url, &r[1]), SL_OK);
    url_of(url, sizeof(url), srv.port, "/big?n=3000000");
    CU_ASSERT_EQUAL(get(http, url, &r[2]), SL_OK);
    run_until(base, &results, results0 + 3, 3000);

    CU_ASSERT_EQUAL(r[0].err, SL_OK); /* exactly at the limit */
    CU_ASSERT_EQUAL(r[0].body_len, 100000);
    CU_ASSERT(r[0].body && r[0].body[99999] == (char)('a' + 99999 % 26));
    for (int i = 1; i < 3; i++) {
        CU_ASSERT_EQUAL(r[i].called, 1);
        CU_ASSERT_EQUAL(r[i].err, SL_ERR_IO);
        CU_ASSERT_EQUAL(r[i].status, 0);
        CU_ASSERT_EQUAL(r[i].body_len, 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(r[i].error, "exceeds max_response (100000 bytes)"));
    }
    for (int i = 0; i < 3; i++)
        result_free(&r[i]);
    sl_http_destroy(http);
    srv_stop(&srv);
    event_base_free(base);
}

typedef struct stream {
    size_t got;
    int chunks, bad, abort_after;
    result_t r;
} stream_t;

static int on_stream_data(void *opaque, const void *data, size_t len) {
    stream_t *s = opaque;
    char *want = malloc(len ? len : 1);
    if (!want || (pattern(want, s->got, len), memcmp(want, data, len)))
        s->bad++;
    free(want);
    s->got += len;
    s->chunks++;
    return s->abort_after && s->chunks >= s->abort_after;
}

static void on_stream_done(void *opaque, const sl_http_resp_t *resp) {
    on_result(&((stream_t *)opaque)->r, resp);
}

static void test_stream(void) {
    struct event_base *base = event_base_new();
    sl_http_opts_t opts;
    sl_http_t *http;
    sl_http_req_t *req;
    stream_t s[2];
    char url[128];
    int results0 = results;
    srv_t srv;

    memset(s, 0, sizeof(s));
    sl_http_opts_init(&opts);
    opts.max_response = 1000; /* not applied to streams */
    http = client(base, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    url_of(url, sizeof(url), srv.port, "/big?n=1000000");
    req = sl_http_req_new("GET", url);
    sl_http_req_stream(req, on_stream_data);
    CU_ASSERT_EQUAL(send_req(http, req, on_stream_done, &s[0]), SL_OK);
    req = sl_http_req_new("GET", url);
    sl_http_req_stream(req, on_stream_data);
    s[1].abort_after = 1;
    CU_ASSERT_EQUAL(send_req(http, req, on_stream_done, &s[1]), SL_OK);
    run_until(base, &results, results0 + 2, 3000);

    CU_ASSERT_EQUAL(s[0].r.called, 1);
    CU_ASSERT_EQUAL(s[0].r.err, SL_OK);
    CU_ASSERT_EQUAL(s[0].r.status, 200);
    CU_ASSERT_EQUAL(s[0].got, 1000000);
    CU_ASSERT(s[0].chunks > 1);
    CU_ASSERT_EQUAL(s[0].bad, 0);
    CU_ASSERT_EQUAL(s[0].r.body_len, 0);
    CU_ASSERT_STRING_EQUAL(s[0].r.body ? s[0].r.body : "x", "");

    CU_ASSERT_EQUAL(s[1].r.called, 1);
    CU_ASSERT_EQUAL(s[1].chunks, 1); /* nothing more after the abort */
    CU_ASSERT(s[1].got < 1000000);
    CU_ASSERT_EQUAL(s[1].r.err, SL_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(s[1].r.error, "aborted by the data callback"));
    result_free(&s[0].r);
    result_free(&s[1].r);
    sl_http_destroy(http);
    srv_stop(&srv);
    event_base_free(base);
}

static int destroy_calls;

static void on_never(void *opaque, const sl_http_resp_t *resp) {
    destroy_calls++;
}

/* Requests connected and waiting for an answer, one in the middle of its body (buffered or
 * streamed), and one never started are all dropped silently. The leak check is LeakSanitizer's
 * (the suite runs under --enable-asan). */
static void test_destroy_inflight(void) {
    struct event_base *base = event_base_new();
    sl_http_t *http = client(base, NULL);
    srv_t halves;
    stream_t sink;
    char url[128];
    int port, fd = raw_socket(&port, 1), zero = 0;
    srv_t srv;
    static const char half[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial";

    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    CU_ASSERT_FATAL(srv_start(&halves, NULL) == 0);
    /* both mid-body: the head and 7 of 1000000 bytes, the connection held open */
    fake_aws_push(halves.aws, &(fake_aws_reply_t){.path = "/half", .action = FAKE_AWS_RAW,
                                                  .body = half, .hold = 1, .times = 2});
    destroy_calls = 0;
    memset(&sink, 0, sizeof(sink));
    url_of(url, sizeof(url), port, "/never");
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(sl_http_send(http, sl_http_req_new("GET", url), on_never, NULL), SL_OK);
    for (int i = 0; i < 2; i++) {
        sl_http_req_t *req;
        url_of(url, sizeof(url), halves.port, "/half");
        req = sl_http_req_new("GET", url);
        if (i == 1)
            sl_http_req_stream(req, on_stream_data);
        CU_ASSERT_EQUAL(sl_http_send(http, req, on_never, i == 1 ? &sink : NULL), SL_OK);
    }
    run_until(base, &zero, 1, 100); /* connect, send, start receiving */
    url_of(url, sizeof(url), srv.port, "/id/1");
    CU_ASSERT_EQUAL(sl_http_send(http, sl_http_req_new("GET", url), on_never, NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_http_pending(http), 8);
    sl_http_destroy(http);
    run_until(base, &zero, 1, 50); /* nothing left on the loop may fire into freed memory */
    CU_ASSERT_EQUAL(destroy_calls, 0);
    srv_stop(&halves);
    srv_stop(&srv);
    close(fd);
    event_base_free(base);
}

/* A callback sends the next request; a streaming data callback sends one too (while libcurl is
 * inside its own callback and refuses adds). */
typedef struct chain {
    sl_http_t *http;
    char url[128];
    int step;
    result_t last;
    int from_data_sent;
    result_t from_data;
    sl_err_t send_err;
} chain_t;

static void on_chain(void *opaque, const sl_http_resp_t *resp) {
    chain_t *ch = opaque;
    if (resp->err != SL_OK || resp->status != 200)
        return;
    if (++ch->step < 3) {
        ch->send_err = sl_http_send(ch->http, sl_http_req_new("GET", ch->url), on_chain, ch);
        return;
    }
    on_result(&ch->last, resp);
}

static int on_chain_data(void *opaque, const void *data, size_t len) {
    chain_t *ch = opaque;
    if (!ch->from_data_sent) {
        ch->from_data_sent = 1;
        if (sl_http_send(ch->http, sl_http_req_new("GET", ch->url), on_result, &ch->from_data))
            ch->send_err = SL_ERR_IO;
    }
    return 0;
}

static void on_chain_stream_done(void *opaque, const sl_http_resp_t *resp) {
}

static void test_send_from_callback(void) {
    struct event_base *base = event_base_new();
    chain_t ch;
    sl_http_req_t *req;
    srv_t srv;
    int results0 = results;

    memset(&ch, 0, sizeof(ch));
    ch.http = client(base, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ch.http);
    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    url_of(ch.url, sizeof(ch.url), srv.port, "/id/7");
    CU_ASSERT_EQUAL(sl_http_send(ch.http, sl_http_req_new("GET", ch.url), on_chain, &ch), SL_OK);
    req = sl_http_req_new("GET", ch.url);
    sl_http_req_stream(req, on_chain_data);
    CU_ASSERT_EQUAL(sl_http_send(ch.http, req, on_chain_stream_done, &ch), SL_OK);
    run_until(base, &results, results0 + 2, 3000);
    CU_ASSERT_EQUAL(ch.send_err, SL_OK);
    CU_ASSERT_EQUAL(ch.step, 3);
    CU_ASSERT_EQUAL(ch.last.called, 1);
    CU_ASSERT_STRING_EQUAL(ch.last.body ? ch.last.body : "", "id 7");
    CU_ASSERT_EQUAL(ch.from_data_sent, 1);
    CU_ASSERT_EQUAL(ch.from_data.called, 1);
    CU_ASSERT_EQUAL(ch.from_data.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(ch.from_data.body ? ch.from_data.body : "", "id 7");
    CU_ASSERT_EQUAL(sl_http_pending(ch.http), 0);
    result_free(&ch.last);
    result_free(&ch.from_data);
    sl_http_destroy(ch.http);
    srv_stop(&srv);
    event_base_free(base);
}

static char *file_text(FILE *fp) {
    static char buf[16384];
    size_t n;
    fflush(fp);
    rewind(fp);
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = 0;
    return buf;
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* verify_tls=0 warns once per client; debug lines never carry signatures, tokens, passwords. */
static void test_logging_secrets(void) {
    struct event_base *base = event_base_new();
    FILE *logf = tmpfile();
    sl_http_opts_t opts;
    sl_http_t *http, *http2;
    sl_http_req_t *req;
    result_t r[3] = {{0}};
    char url[256];
    const char *text;
    int port, fd = raw_socket(&port, 0), results0 = results;
    srv_t srv;

    CU_ASSERT_PTR_NOT_NULL_FATAL(logf);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(srv_start(&srv, NULL) == 0);
    sl_log_set_file(logf);
    sl_log_set_level(SL_LOG_INFO); /* earlier suites' jobs may have lowered the global level */
    sl_http_opts_init(&opts);
    opts.verify_tls = 0;
    http = client(base, &opts);
    http2 = client(base, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http2);
    CU_ASSERT_EQUAL(count_of(file_text(logf), "TLS verification is disabled"), 2);
    sl_http_destroy(http2);

    sl_log_set_debug("http");
    snprintf(url, sizeof(url),
             "http://user:urlpass99@127.0.0.1:%d/echo?X-Amz-Algorithm=AWS4-HMAC-SHA256&"
             "X-Amz-Credential=AKIDEXAMPLE%%2Fcred&x-amz-signature=sigsecret123&"
             "X-Amz-Security-Token=tokensecret456&a=1",
             srv.port);
    req = sl_http_req_new("GET", url);
    sl_http_req_header(req, "Authorization", "AWS4-HMAC-SHA256 Signature=authsecret789");
    sl_http_req_header(req, "x-amz-security-token", "hdrtoken000");
    sl_http_req_header(req, "X-Amz-Target", "Kinesis_20131202.PutRecords");
    CU_ASSERT_EQUAL(sl_http_send(http, req, on_result, &r[0]), SL_OK);
    /* an unreachable proxy with credentials, and a URL with userinfo to a refused port */
    sl_http_destroy(http);
    http = NULL;
    snprintf(url, sizeof(url), "http://puser:proxypass77@127.0.0.1:%d", port);
    opts.proxy = url;
    opts.proxy_user = "puser";
    opts.proxy_password = "proxypass77";
    http2 = client(base, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http2);
    CU_ASSERT_EQUAL(get(http2, "http://example.invalid/", &r[1]), SL_OK);
    opts.proxy = opts.proxy_user = opts.proxy_password = NULL;
    http = client(base, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http);
    snprintf(url, sizeof(url), "http://me:urlpass99@127.0.0.1:%d/", port);
    CU_ASSERT_EQUAL(get(http, url, &r[2]), SL_OK);
    /* and the first one again, now that the earlier client is gone */
    snprintf(url, sizeof(url),
             "http://user:urlpass99@127.0.0.1:%d/echo?X-Amz-Signature=sigsecret123&a=1",
             srv.port);
    req = sl_http_req_new("POST", url);
    sl_http_req_header(req, "Authorization", "AWS4-HMAC-SHA256 Signature=authsecret789");
    sl_http_req_body(req, "bodysecret321", 13);
    CU_ASSERT_EQUAL(sl_http_send(http, req, on_result, &r[0]), SL_OK);
    run_until(base, &results, results0 + 3, 3000);
    sl_log_set_debug(NULL);
    sl_log_set_level(SL_LOG_INFO);
    sl_log_set_file(NULL);

    CU_ASSERT_EQUAL(r[0].err, SL_OK);
    CU_ASSERT_EQUAL(r[0].status, 200);
    CU_ASSERT_EQUAL(r[1].err, SL_ERR_RETRY); /* the proxy refused */
    CU_ASSERT_EQUAL(r[2].err, SL_ERR_RETRY);
    CU_ASSERT_PTR_NULL(strstr(r[1].error, "proxypass77"));
    CU_ASSERT_PTR_NULL(strstr(r[2].error, "urlpass99"));
    text = file_text(logf);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "X-Amz-Target: Kinesis_20131202.PutRecords"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "a=1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "x-amz-signature=****"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "-> 200"));
    static const char *const secrets[] = {"urlpass99",   "sigsecret123", "tokensecret456",
                                          "AKIDEXAMPLE", "authsecret789", "hdrtoken000",
                                          "proxypass77", "bodysecret321"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        CU_ASSERT_PTR_NULL(strstr(text, secrets[i]));
        if (strstr(text, secrets[i]))
            fprintf(stderr, "\nleaked %s in:\n%s", secrets[i], text);
    }
    for (int i = 0; i < 3; i++)
        result_free(&r[i]);
    sl_http_destroy(http);
    sl_http_destroy(http2);
    srv_stop(&srv);
    close(fd);
    fclose(logf);
    event_base_free(base);
}

/* ---- TLS, against a throwaway self-signed certificate made here --------------------------- */

static int add_ext(X509 *x, int nid, const char *value) {
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    int ok;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A P-256 key and a one-hour certificate for IP 127.0.0.1 only, written to cert_path as PEM;
 * returns a server SSL_CTX using them, or NULL. */
static SSL_CTX *make_tls(const char *cert_path) {
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    SSL_CTX *ctx = NULL;
    FILE *fp = NULL;

    if (!pkey || !x || !X509_set_version(x, 2) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 3600) || !X509_set_pubkey(x, pkey))
        goto out;
    name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"sluice unit test", -1, -1, 0) ||
        !X509_set_issuer_name(x, name) || add_ext(x, NID_subject_alt_name, "IP:127.0.0.1") ||
        add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
        !X509_sign(x, pkey, EVP_sha256()))
        goto out;
    fp = fopen(cert_path, "w");
    if (!fp || !PEM_write_X509(fp, x))
        goto out;
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx && (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, pkey) != 1)) {
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
out:
    if (fp)
        fclose(fp);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return ctx;
}

/* Verification is on by default (a self-signed server fails with SL_ERR_IO), ca_file makes that
 * server trusted, the host name is checked against the certificate, verify_tls=0 turns both
 * checks off. HTTP/2 is offered (ALPN) and evhttp declines: the answer comes over HTTP/1.1. */
static void test_tls(void) {
    struct event_base *base = event_base_new();
    sl_http_opts_t opts;
    sl_http_t *http[3];
    result_t r[5];
    char dir[512], cert[600], url[128], lurl[128];
    int results0 = results;
    SSL_CTX *ctx;
    FILE *logf = tmpfile();
    srv_t srv;

    memset(r, 0, sizeof(r));
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    ctx = make_tls(cert);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
    CU_ASSERT_FATAL(srv_start(&srv, ctx) == 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/echo", srv.port);
    snprintf(lurl, sizeof(lurl), "https://localhost:%d/echo", srv.port);
    sl_http_opts_init(&opts);
    http[0] = client(base, &opts);
    opts.ca_file = cert;
    http[1] = client(base, &opts);
    opts.ca_file = NULL;
    opts.verify_tls = 0;
    sl_log_set_file(logf); /* the warning is expected: keep it off the test output */
    http[2] = client(base, &opts);
    sl_log_set_file(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http[0]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http[1]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(http[2]);
    CU_ASSERT_EQUAL(get(http[0], url, &r[0]), SL_OK);
    CU_ASSERT_EQUAL(get(http[1], url, &r[1]), SL_OK);
    CU_ASSERT_EQUAL(get(http[1], lurl, &r[2]), SL_OK);
    CU_ASSERT_EQUAL(get(http[2], url, &r[3]), SL_OK);
    CU_ASSERT_EQUAL(get(http[2], lurl, &r[4]), SL_OK);
    run_until(base, &results, results0 + 5, 5000);

    CU_ASSERT_EQUAL(r[0].err, SL_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(r[0].error, "certificate"));
    CU_ASSERT_EQUAL(r[1].err, SL_OK);
    CU_ASSERT_EQUAL(r[1].status, 200);
    CU_ASSERT_STRING_EQUAL(r[1].x_method, "GET");
    CU_ASSERT_EQUAL(r[1].http_version, 1);
    CU_ASSERT_EQUAL(r[2].err, SL_ERR_IO); /* trusted certificate, wrong name */
    CU_ASSERT_PTR_NOT_NULL(strstr(r[2].error, "localhost"));
    CU_ASSERT_EQUAL(r[3].err, SL_OK);
    CU_ASSERT_EQUAL(r[3].status, 200);
    CU_ASSERT_EQUAL(r[4].err, SL_OK);
    if (r[0].err != SL_ERR_IO || r[1].err != SL_OK || r[2].err != SL_ERR_IO)
        fprintf(stderr, "\n[tls: %s | %s | %s]\n", r[0].error, r[1].error, r[2].error);
    for (int i = 0; i < 5; i++)
        result_free(&r[i]);
    for (int i = 0; i < 3; i++)
        sl_http_destroy(http[i]);
    srv_stop(&srv);
    SSL_CTX_free(ctx);
    unlink(cert);
    rmdir(dir);
    fclose(logf);
    event_base_free(base);
}

static void test_new_args(void) {
    struct event_base *base = event_base_new();
    sl_http_opts_t opts;
    char err[128] = "";
    sl_http_opts_init(&opts);
    CU_ASSERT_EQUAL(opts.verify_tls, 1);
    CU_ASSERT_EQUAL(opts.http2, 1);
    CU_ASSERT_EQUAL(opts.max_response, 16u << 20);
    CU_ASSERT_PTR_NULL(sl_http_new(NULL, &opts, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "event base"));
    opts.request_timeout_ms = -1;
    CU_ASSERT_PTR_NULL(sl_http_new(base, &opts, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "negative"));
    sl_http_destroy(client(base, NULL)); /* NULL opts: the defaults */
    event_base_free(base);
}

void test_http_register(void) {
    static const unit_test_t tests[] = {
        {"new_args", test_new_args},
        {"get_post", test_get_post},
        {"status", test_status},
        {"concurrent_reuse", test_concurrent_reuse},
        {"refused", test_refused},
        {"timeout", test_timeout},
        {"mid_close", test_mid_close},
        {"interim_headers", test_interim_headers},
        {"too_large", test_too_large},
        {"stream", test_stream},
        {"destroy_inflight", test_destroy_inflight},
        {"send_from_callback", test_send_from_callback},
        {"logging_secrets", test_logging_secrets},
        {"tls", test_tls},
        {NULL, NULL},
    };
    unit_add_suite("http", tests);
}
