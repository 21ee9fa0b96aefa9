/*
 * test_metrics.c: unit tests of the metrics registry (runtime/metrics.c) and its HTTP server
 * (runtime/metrics_http.c): exact counts under concurrent updates, histogram bucket placement,
 * the exact Prometheus text of a small registry, and the server's answers to a raw HTTP/1.0
 * client written here (status lines, headers and bodies as bytes on the wire).
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "health.h"
#include "metrics.h"
#include "sluice/log.h"
#include "unit.h"
#include "util_time.h"

#define THREAD_INCS 100000

typedef struct inc_arg {
    sl_metric_t *counter, *gauge;
} inc_arg_t;

static void *incrementer(void *opaque) {
    inc_arg_t *arg = opaque;
    for (int i = 0; i < THREAD_INCS; i++) {
        sl_metric_add(arg->counter, 1);
        sl_metric_add(arg->gauge, 1);
        sl_metric_add(arg->gauge, -1);
    }
    return NULL;
}

static void test_counter_threads(void) {
    sl_metrics_t *m = sl_metrics_new();
    pthread_t th[2];
    inc_arg_t arg;
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    arg.counter = sl_metric_get(m, SL_METRIC_COUNTER, "sluice_records_in_total", NULL, "in");
    arg.gauge = sl_metric_get(m, SL_METRIC_GAUGE, "sluice_inflight", NULL, "in flight");
    CU_ASSERT_PTR_NOT_NULL_FATAL(arg.counter);
    CU_ASSERT_PTR_NOT_NULL_FATAL(arg.gauge);
    sl_metric_add(arg.gauge, 5);
    for (int t = 0; t < 2; t++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[t], NULL, incrementer, &arg), 0);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    CU_ASSERT_EQUAL(sl_metric_value(arg.counter), 2 * THREAD_INCS);
    CU_ASSERT_EQUAL(sl_metric_value(arg.gauge), 5);
    sl_metrics_destroy(m);
}

static void test_gauge_and_counter(void) {
    sl_metrics_t *m = sl_metrics_new();
    sl_metric_t *g, *c;
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    g = sl_metric_get(m, SL_METRIC_GAUGE, "lag", "stream=\"in\"", NULL);
    c = sl_metric_get(m, SL_METRIC_COUNTER, "errors_total", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(sl_metric_value(g), 0);
    sl_metric_set(g, 10);
    sl_metric_add(g, -3);
    CU_ASSERT_EQUAL(sl_metric_value(g), 7);
    sl_metric_set(g, -5);
    CU_ASSERT_EQUAL(sl_metric_value(g), -5);
    sl_metric_add(c, 4);
    sl_metric_add(c, -2); /* ignored: counters only go up */
    CU_ASSERT_EQUAL(sl_metric_value(c), 4);
    sl_metric_add(NULL, 1);
    CU_ASSERT_EQUAL(sl_metric_value(NULL), 0);
    sl_metrics_destroy(m);
    sl_metrics_destroy(NULL);
}

/* The whole of what sluice logged into fp since it was installed. */
static char *log_text(FILE *fp) {
    static char buf[4096];
    size_t n;
    rewind(fp);
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = 0;
    return buf;
}

static void test_lookup(void) {
    sl_metrics_t *m = sl_metrics_new();
    FILE *logf = tmpfile();
    sl_metric_t *a, *b;
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(logf);
    sl_log_set_file(logf); /* the refusals below are logged: keep them and check them */
    a = sl_metric_get(m, SL_METRIC_COUNTER, "x_total", "s=\"a\"", "x");
    b = sl_metric_get(m, SL_METRIC_COUNTER, "x_total", "s=\"b\"", "x");
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    CU_ASSERT_PTR_EQUAL(sl_metric_get(m, SL_METRIC_COUNTER, "x_total", "s=\"a\"", NULL), a);
    CU_ASSERT_PTR_EQUAL(sl_metric_get(m, SL_METRIC_COUNTER, "x_total", "s=\"b\"", NULL), b);
    /* one name, one type */
    CU_ASSERT_PTR_NULL(sl_metric_get(m, SL_METRIC_GAUGE, "x_total", "s=\"a\"", NULL));
    CU_ASSERT_PTR_NULL(sl_metric_get(m, SL_METRIC_GAUGE, "x_total", "s=\"c\"", NULL));
    /* malformed names and label lists would break the whole page */
    CU_ASSERT_PTR_NULL(sl_metric_get(m, SL_METRIC_COUNTER, "1x", NULL, NULL));
    CU_ASSERT_PTR_NULL(sl_metric_get(m, SL_METRIC_COUNTER, "x-y", NULL, NULL));
    CU_ASSERT_PTR_NULL(sl_metric_get(m, SL_METRIC_COUNTER, "y", "s=a", NULL));
    CU_ASSERT_PTR_NULL(sl_metric_get(m, SL_METRIC_COUNTER, "y", "s=\"a", NULL));
    CU_ASSERT_PTR_NULL(sl_metric_get(m, SL_METRIC_COUNTER, "y", "s=\"a\",", NULL));
    CU_ASSERT_PTR_NULL(sl_metric_get(m, SL_METRIC_COUNTER, "y", "s=\"a\\x\"", NULL));
    CU_ASSERT_PTR_NULL(sl_metric_get(m, SL_METRIC_HISTOGRAM, "h", "le=\"1\"", NULL));
    CU_ASSERT_PTR_NOT_NULL(sl_metric_get(m, SL_METRIC_COUNTER, "y", "s=\"a\\\"b\\\\\",t=\"\"",
                                         NULL));
    sl_log_set_file(NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(log_text(logf), "x_total is a counter, cannot also be a gauge"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log_text(logf), "1x"));
    fclose(logf);
    sl_metrics_destroy(m);
}

static void render(sl_metrics_t *m, sl_sb_t *sb) {
    sl_sb_free(sb);
    sl_metrics_render(m, sb);
    CU_ASSERT_FALSE(sb->oom);
}

static void test_histogram_buckets(void) {
    static const double obs[] = {0.5, 1, 1.5, 5, 7, 10, 49, 100, 499.5, 1000, 4999, 10000, 10001,
                                 1e9};
    static const char want[] =
        "# TYPE lat_ms histogram\n"
        "lat_ms_bucket{le=\"1\"} 2\n"
        "lat_ms_bucket{le=\"5\"} 4\n"
        "lat_ms_bucket{le=\"10\"} 6\n"
        "lat_ms_bucket{le=\"50\"} 7\n"
        "lat_ms_bucket{le=\"100\"} 8\n"
        "lat_ms_bucket{le=\"500\"} 9\n"
        "lat_ms_bucket{le=\"1000\"} 10\n"
        "lat_ms_bucket{le=\"5000\"} 11\n"
        "lat_ms_bucket{le=\"10000\"} 12\n"
        "lat_ms_bucket{le=\"+Inf\"} 14\n"
        "lat_ms_sum 1000026673.5\n"
        "lat_ms_count 14\n";
    sl_metrics_t *m = sl_metrics_new();
    sl_metric_t *h;
    sl_sb_t sb = {0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    h = sl_metric_get(m, SL_METRIC_HISTOGRAM, "lat_ms", NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        sl_metric_observe(h, obs[i]);
    sl_metric_observe(h, NAN); /* dropped */
    render(m, &sb);
    CU_ASSERT_STRING_EQUAL(sb.buf, want);
    if (strcmp(sb.buf, want))
        fprintf(stderr, "\n--- got:\n%s--- want:\n%s", sb.buf, want);
    sl_sb_free(&sb);
    sl_metrics_destroy(m);
}

/* The exact page of a small registry, registered out of order. */
static const char small_page[] =
    "# HELP sluice_batch_ms Batch latency\n"
    "# TYPE sluice_batch_ms histogram\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"1\"} 0\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"5\"} 1\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"10\"} 1\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"50\"} 1\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"100\"} 1\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"500\"} 2\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"1000\"} 2\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"5000\"} 2\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"10000\"} 2\n"
    "sluice_batch_ms_bucket{stream=\"in\",le=\"+Inf\"} 2\n"
    "sluice_batch_ms_sum{stream=\"in\"} 202.75\n"
    "sluice_batch_ms_count{stream=\"in\"} 2\n"
    "# HELP sluice_lag_ms Lag \\\\ behind\\nthe tip\n"
    "# TYPE sluice_lag_ms gauge\n"
    "sluice_lag_ms -12\n"
    "# HELP sluice_records_in_total Records read\n"
    "# TYPE sluice_records_in_total counter\n"
    "sluice_records_in_total{system=\"files\",stream=\"a\"} 3\n"
    "sluice_records_in_total{system=\"files\",stream=\"b\"} 7\n"
    "# TYPE up counter\n"
    "up 1\n";

static void fill_small(sl_metrics_t *m) {
    sl_metric_add(sl_metric_get(m, SL_METRIC_COUNTER, "up", NULL, NULL), 1);
    sl_metric_add(sl_metric_get(m, SL_METRIC_COUNTER, "sluice_records_in_total",
                                "system=\"files\",stream=\"b\"", NULL),
                  7);
    sl_metric_add(sl_metric_get(m, SL_METRIC_COUNTER, "sluice_records_in_total",
                                "system=\"files\",stream=\"a\"", "Records read"),
                  3);
    sl_metric_set(sl_metric_get(m, SL_METRIC_GAUGE, "sluice_lag_ms", NULL,
                                "Lag \\ behind\nthe tip"),
                  -12);
    sl_metric_t *h =
        sl_metric_get(m, SL_METRIC_HISTOGRAM, "sluice_batch_ms", "stream=\"in\"", "Batch latency");
    sl_metric_observe(h, 2.5);
    sl_metric_observe(h, 200.25);
}

static void test_render_exact(void) {
    sl_metrics_t *m = sl_metrics_new();
    sl_sb_t sb = {0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    fill_small(m);
    render(m, &sb);
    CU_ASSERT_STRING_EQUAL(sb.buf, small_page);
    if (strcmp(sb.buf, small_page))
        fprintf(stderr, "\n--- got:\n%s--- want:\n%s", sb.buf, small_page);
    /* rendering twice gives the same bytes */
    sl_sb_t again = {0};
    sl_metrics_render(m, &again);
    CU_ASSERT_STRING_EQUAL(again.buf, sb.buf);
    sl_sb_free(&again);
    sl_sb_free(&sb);
    sl_metrics_destroy(m);
}

/* ---- the HTTP server, spoken to over a raw socket ------------------------------------------ */

typedef struct http_resp {
    int status;
    char headers[2048];
    char *body;
} http_resp_t;

/* Sends one HTTP/1.0 request and reads the whole answer; 0 on success. */
static int http_do(int port, const char *method, const char *target, http_resp_t *resp) {
    struct sockaddr_in sa = {0};
    struct timeval tv = {.tv_sec = 3};
    char req[512], buf[4096];
    sl_sb_t in = {0};
    ssize_t r;
    char *sep;
    int fd, rc = -1;

    memset(resp, 0, sizeof(*resp));
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto out;
    snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, target);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        goto out;
    while ((r = read(fd, buf, sizeof(buf))) > 0)
        sl_sb_append(&in, buf, (size_t)r);
    if (r < 0 || !in.buf || sscanf(in.buf, "HTTP/1.%*d %d", &resp->status) != 1)
        goto out;
    sep = strstr(in.buf, "\r\n\r\n");
    if (!sep)
        goto out;
    snprintf(resp->headers, sizeof(resp->headers), "%.*s", (int)(sep - in.buf), in.buf);
    resp->body = strdup(sep + 4);
    rc = resp->body ? 0 : -1;
out:
    sl_sb_free(&in);
    close(fd);
    return rc;
}

static int health_flag;

static int healthy(void *opaque, sl_sb_t *why) {
    int ok = __atomic_load_n((int *)opaque, __ATOMIC_SEQ_CST);
    if (!ok)
        sl_sb_printf(why, "kinesis at http://x: failing for 61 s: HTTP 500\n");
    return ok;
}

static void test_server(void) {
    sl_metrics_t *m = sl_metrics_new();
    sl_metrics_server_t *srv;
    http_resp_t resp;
    sl_sb_t page = {0};
    char err[256] = "";
    int port;

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    fill_small(m);
    health_flag = 1;
    srv = sl_metrics_server_start(m, NULL, 0, healthy, &health_flag, err, sizeof(err));
    if (!srv)
        fprintf(stderr, "server: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    port = sl_metrics_server_port(srv);
    CU_ASSERT(port > 0 && port < 65536);

    CU_ASSERT_EQUAL(http_do(port, "GET", "/metrics", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(resp.headers, "Content-Type: text/plain; version=0.0.4"));
    sl_metrics_render(m, &page);
    CU_ASSERT_STRING_EQUAL(resp.body ? resp.body : "", page.buf);
    free(resp.body);

    CU_ASSERT_EQUAL(http_do(port, "GET", "/metrics?name[]=up", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    free(resp.body);

    CU_ASSERT_EQUAL(http_do(port, "GET", "/healthz", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(resp.body ? resp.body : "", "ok\n");
    free(resp.body);

    __atomic_store_n(&health_flag, 0, __ATOMIC_SEQ_CST);
    CU_ASSERT_EQUAL(http_do(port, "GET", "/healthz", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 503);
    CU_ASSERT_STRING_EQUAL(resp.body ? resp.body : "",
                           "unhealthy\nkinesis at http://x: failing for 61 s: HTTP 500\n");
    free(resp.body);

    CU_ASSERT_EQUAL(http_do(port, "GET", "/nope", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 404);
    free(resp.body);
    CU_ASSERT_EQUAL(http_do(port, "GET", "/metrics/x", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 404);
    free(resp.body);

    CU_ASSERT_EQUAL(http_do(port, "POST", "/metrics", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 405);
    CU_ASSERT_PTR_NOT_NULL(strstr(resp.headers, "Allow: GET"));
    free(resp.body);
    CU_ASSERT_EQUAL(http_do(port, "PATCH", "/healthz", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 405);
    free(resp.body);

    /* the port is taken while the server runs */
    err[0] = 0;
    CU_ASSERT_PTR_NULL(
        sl_metrics_server_start(m, "127.0.0.1", port, NULL, NULL, err, sizeof(err)));
    char portstr[16];
    snprintf(portstr, sizeof(portstr), ":%d", port);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, portstr));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use"));

    /* stopped, the port is closed; a new server can take it again at once */
    sl_metrics_server_stop(srv);
    CU_ASSERT_NOT_EQUAL(http_do(port, "GET", "/healthz", &resp), 0);
    free(resp.body);
    srv = sl_metrics_server_start(m, "127.0.0.1", port, NULL, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    CU_ASSERT_EQUAL(sl_metrics_server_port(srv), port);
    CU_ASSERT_EQUAL(http_do(port, "GET", "/healthz", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200); /* healthy NULL: always healthy */
    free(resp.body);
    sl_metrics_server_stop(srv);
    sl_metrics_server_stop(NULL);

    CU_ASSERT_PTR_NULL(sl_metrics_server_start(m, "no.such.host.invalid", 0, NULL, NULL, err,
                                               sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no.such.host.invalid"));
    sl_sb_free(&page);
    sl_metrics_destroy(m);
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Stopping while a client holds a connection open with half a request must not hang, and must
 * close every descriptor the server opened (listener, connection, wake-up pipe, epoll). */
static void test_server_stop_with_client(void) {
    sl_metrics_t *m = sl_metrics_new();
    struct sockaddr_in sa = {0};
    sl_metrics_server_t *srv;
    char err[256] = "";
    int fd, fds_before;

    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    fds_before = count_fds();
    CU_ASSERT(fds_before > 0);
    srv = sl_metrics_server_start(m, "127.0.0.1", 0, NULL, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)sl_metrics_server_port(srv));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_EQUAL(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    CU_ASSERT(write(fd, "GET /met", 8) == 8); /* half a request */
    usleep(20000);
    sl_metrics_server_stop(srv);
    close(fd);
    CU_ASSERT_EQUAL(count_fds(), fds_before);
    sl_metrics_destroy(m);
}

/* The health board behind /healthz: an entry counts once it failed for stall_ms without a
 * success in between; a success clears it; closing removes it. On a fake clock. */
static void test_health_board(void) {
    int64_t now = 1000000;
    sl_sb_t sb = {0};
    health_entry_t *a, *b;

    sl_time_inject(&now);
    a = health_open("kinesis at http://a");
    b = health_open("dynamodb at http://b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(health_fail(a, "HTTP 500"), 0);
    now += 5000;
    CU_ASSERT_EQUAL(health_fail(a, "refused"), 5000);
    CU_ASSERT_EQUAL(health_fail(b, "timeout"), 0);
    CU_ASSERT_EQUAL(health_report(6000, &sb), 0);
    now += 1000;
    CU_ASSERT_EQUAL(health_report(6000, &sb), 1);
    CU_ASSERT_STRING_EQUAL(sb.buf, "kinesis at http://a: failing for 6 s: refused\n");
    CU_ASSERT_EQUAL(health_ok(a), 6000);
    CU_ASSERT_EQUAL(health_ok(a), 0);
    sl_sb_reset(&sb);
    now += 5000;
    CU_ASSERT_EQUAL(health_report(6000, &sb), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb.buf ? sb.buf : "", "dynamodb at http://b: failing for 6 s"));
    health_close(b);
    sl_sb_reset(&sb);
    CU_ASSERT_EQUAL(health_report(0, &sb), 0);
    health_close(a);
    health_close(NULL);
    sl_sb_free(&sb);
    sl_time_inject(NULL);
}

/* The outage warnings' limiter: one line per interval, the count of those held back. */
static void test_ratelimit(void) {
    util_ratelimit_t rl = {0, 0};
    int64_t held = -1;
    CU_ASSERT_EQUAL(util_ratelimit(&rl, 100, 1000, &held), 1);
    CU_ASSERT_EQUAL(held, 0);
    CU_ASSERT_EQUAL(util_ratelimit(&rl, 200, 1000, &held), 0);
    CU_ASSERT_EQUAL(util_ratelimit(&rl, 1099, 1000, &held), 0);
    CU_ASSERT_EQUAL(util_ratelimit(&rl, 1100, 1000, &held), 1);
    CU_ASSERT_EQUAL(held, 2);
    CU_ASSERT_EQUAL(util_ratelimit(&rl, 5000, 1000, &held), 1);
    CU_ASSERT_EQUAL(held, 0);
}

void test_metrics_register(void) {
    static const unit_test_t tests[] = {
        {"counter_threads", test_counter_threads},
        {"gauge_and_counter", test_gauge_and_counter},
        {"lookup", test_lookup},
        {"histogram_buckets", test_histogram_buckets},
        {"render_exact", test_render_exact},
        {"server", test_server},
        {"server_stop_with_client", test_server_stop_with_client},
        {"health_board", test_health_board},
        {"ratelimit", test_ratelimit},
        {NULL, NULL},
    };
    unit_add_suite("metrics", tests);
}
