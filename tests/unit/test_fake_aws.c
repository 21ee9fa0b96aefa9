/*
 * test_fake_aws.c: the scripted fake AWS endpoint (fake_aws.c) on its own, driven by a blocking
 * socket client written here so that every byte on the wire is visible: rules matched by target
 * and path in push order with their use counts, AWS error bodies, PASS to the responder, each
 * fault (hang, delay, close, truncated body held or closed, raw garbage), and the record of
 * requests (method, path, query, target, headers, a body with a NUL) read back and waited for.
 * Destroying with requests held and delayed is left to LeakSanitizer to judge.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_aws.h"
#include "unit.h"

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(int port) {
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Sends a POST of body to path with an X-Amz-Target (NULL: none) and Connection: close. */
static int send_req(int fd, const char *path, const char *target, const char *body) {
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     path, target ? "X-Amz-Target: " : "", target ? target : "",
                     target ? "\r\n" : "", strlen(body));
    if (write(fd, head, (size_t)n) != n)
        return -1;
    return write(fd, body, strlen(body)) == (ssize_t)strlen(body) ? 0 : -1;
}

/* Reads until the server closes or ms pass; returns the bytes (NUL-terminated in buf), *closed
 * set when the server closed. */
static size_t read_all(int fd, char *buf, size_t len, int ms, int *closed) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int64_t end = now_ms() + ms;
    size_t got = 0;
    *closed = 0;
    while (got < len - 1) {
        int64_t left = end - now_ms();
        ssize_t r;
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
            break;
        r = read(fd, buf + got, len - 1 - got);
        if (r <= 0) {
            *closed = 1;
            break;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    return got;
}

/* One request on a fresh connection; the answer in buf. */
static size_t call(fake_aws_t *f, const char *path, const char *target, const char *body,
                   char *buf, size_t len, int *closed) {
    int fd = dial(fake_aws_port(f));
    size_t n = 0;
    if (fd < 0 || send_req(fd, path, target, body) != 0) {
        buf[0] = '\0';
        *closed = 0;
    } else {
        n = read_all(fd, buf, len, 3000, closed);
    }
    if (fd >= 0)
        close(fd);
    return n;
}

static int status_of(const char *answer) {
    return !strncmp(answer, "HTTP/1.1 ", 9) ? atoi(answer + 9) : -1;
}

static const char *body_of(const char *answer) {
    const char *p = strstr(answer, "\r\n\r\n");
    return p ? p + 4 : "";
}

static fake_aws_t *start(void) {
    char err[256] = "";
    fake_aws_t *f = fake_aws_new(NULL, err, sizeof(err));
    if (!f)
        fprintf(stderr, "fake_aws_new: %s\n", err);
    return f;
}

static void test_script(void) {
    fake_aws_t *f = start();
    char buf[4096], url[64];
    int closed;
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fake_aws_port(f));
    CU_ASSERT_STRING_EQUAL(fake_aws_url(f), url);
    fake_aws_reply(f, "Kinesis_20131202.GetRecords", 200, "{\"Records\":[]}");
    fake_aws_reply_t upd = {.target = "UpdateItem", .body = "{\"upd\":1}", .times = 2,
                            .headers = "X-One: 1\nX-Two:  two"};
    fake_aws_push(f, &upd);
    fake_aws_reply_t byp = {.path = "/latest/api/token", .status = 201, .body = "TOKEN"};
    fake_aws_push(f, &byp);
    fake_aws_set_header(f, "x-amzn-RequestId", "req-1");
    CU_ASSERT_EQUAL(fake_aws_scripted_left(f), 3);

    /* out of push order: each request takes the first rule that matches it */
    call(f, "/", "DynamoDB_20120810.UpdateItem", "{}", buf, sizeof(buf), &closed);
    CU_ASSERT_EQUAL(status_of(buf), 200);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "{\"upd\":1}");
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\r\nX-One: 1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\r\nX-Two: two\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\r\nx-amzn-RequestId: req-1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\r\nContent-Type: application/x-amz-json-1.1\r\n"));
    call(f, "/latest/api/token", NULL, "", buf, sizeof(buf), &closed);
    CU_ASSERT_EQUAL(status_of(buf), 201);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "TOKEN");
    call(f, "/", "Kinesis_20131202.GetRecords", "{}", buf, sizeof(buf), &closed);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "{\"Records\":[]}");
    CU_ASSERT_EQUAL(fake_aws_scripted_left(f), 1);
    call(f, "/", "DynamoDB_20120810.UpdateItem", "{}", buf, sizeof(buf), &closed);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "{\"upd\":1}");
    CU_ASSERT_EQUAL(fake_aws_scripted_left(f), 0);
    /* nothing scripted: the default, a retryable 500 */
    call(f, "/", "DynamoDB_20120810.UpdateItem", "{}", buf, sizeof(buf), &closed);
    CU_ASSERT_EQUAL(status_of(buf), 500);
    CU_ASSERT_PTR_NOT_NULL(strstr(body_of(buf), "\"__type\":\"InternalFailure\""));
    CU_ASSERT_TRUE(closed);
    fake_aws_destroy(f);
    fake_aws_destroy(NULL);
}

static void responder(void *opaque, const fake_aws_request_t *req, fake_aws_answer_t *ans) {
    char body[128];
    (*(int *)opaque)++;
    snprintf(body, sizeof(body), "answered %s %s", req->target, req->body);
    fake_aws_answer_header(ans, "X-Responder", "yes");
    fake_aws_answer(ans, 202, body, (size_t)-1);
}

static void test_errors_and_pass(void) {
    fake_aws_t *f = start();
    char buf[4096];
    int closed, answered = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fake_aws_set_responder(f, responder, &answered);
    /* GetRecords: throttled twice, the 3rd passes to the responder, then a 503, then the
     * responder again; another operation never sees these rules */
    fake_aws_error(f, "GetRecords", 2, 400, "ProvisionedThroughputExceededException",
                   "Rate exceeded for shard");
    fake_aws_push(f, &(fake_aws_reply_t){.target = "GetRecords", .action = FAKE_AWS_PASS});
    fake_aws_error(f, "GetRecords", 1, 503, "ThrottlingException", NULL);
    call(f, "/", "Kinesis_20131202.ListShards", "L", buf, sizeof(buf), &closed);
    CU_ASSERT_EQUAL(status_of(buf), 202);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "answered Kinesis_20131202.ListShards L");
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\r\nX-Responder: yes\r\n"));
    for (int i = 0; i < 2; i++) {
        call(f, "/", "Kinesis_20131202.GetRecords", "G", buf, sizeof(buf), &closed);
        CU_ASSERT_EQUAL(status_of(buf), 400);
        CU_ASSERT_STRING_EQUAL(body_of(buf), "{\"__type\":\"ProvisionedThroughputExceededException"
                                             "\",\"message\":\"Rate exceeded for shard\"}");
    }
    call(f, "/", "Kinesis_20131202.GetRecords", "G3", buf, sizeof(buf), &closed);
    CU_ASSERT_EQUAL(status_of(buf), 202);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "answered Kinesis_20131202.GetRecords G3");
    call(f, "/", "Kinesis_20131202.GetRecords", "G", buf, sizeof(buf), &closed);
    CU_ASSERT_EQUAL(status_of(buf), 503);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "{\"__type\":\"ThrottlingException\"}");
    call(f, "/", "Kinesis_20131202.GetRecords", "G5", buf, sizeof(buf), &closed);
    CU_ASSERT_EQUAL(status_of(buf), 202);
    CU_ASSERT_EQUAL(answered, 3);
    CU_ASSERT_EQUAL(fake_aws_count(f, "GetRecords"), 5);
    CU_ASSERT_EQUAL(fake_aws_count(f, "Kinesis_20131202.ListShards"), 1);
    CU_ASSERT_EQUAL(fake_aws_count(f, NULL), 6);
    CU_ASSERT_EQUAL(fake_aws_count(f, "Shards"), 0);
    fake_aws_destroy(f);
}

static void test_faults(void) {
    fake_aws_t *f = start();
    char buf[4096];
    int closed, fd;
    int64_t t0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);

    /* a hang: the request arrives, no byte comes back, the connection stays open */
    fake_aws_push(f, &(fake_aws_reply_t){.target = "GetRecords", .action = FAKE_AWS_HANG});
    fd = dial(fake_aws_port(f));
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(send_req(fd, "/", "Kinesis_20131202.GetRecords", "{}"), 0);
    CU_ASSERT_EQUAL(fake_aws_wait_requests(f, 1, 3000), 0);
    CU_ASSERT_EQUAL(read_all(fd, buf, sizeof(buf), 200, &closed), 0);
    CU_ASSERT_FALSE(closed);
    close(fd);

    /* closed without an answer */
    fake_aws_push(f, &(fake_aws_reply_t){.target = "GetRecords", .action = FAKE_AWS_CLOSE});
    CU_ASSERT_EQUAL(call(f, "/", "Kinesis_20131202.GetRecords", "{}", buf, sizeof(buf), &closed),
                    0);
    CU_ASSERT_TRUE(closed);

    /* a truncated body: 40 announced, 9 sent, closed */
    fake_aws_push(f, &(fake_aws_reply_t){.action = FAKE_AWS_TRUNCATE,
                                         .body = "{\"Records\":[],\"MillisBehindLatest\":0}   ",
                                         .truncate_at = 9, .headers = "X-Cut: yes"});
    call(f, "/", "Kinesis_20131202.GetRecords", "{}", buf, sizeof(buf), &closed);
    CU_ASSERT_TRUE(closed);
    CU_ASSERT_EQUAL(status_of(buf), 200);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\r\nContent-Length: 40\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\r\nX-Cut: yes\r\n"));
    CU_ASSERT_STRING_EQUAL(body_of(buf), "{\"Records");

    /* truncated and held: the rest never comes, the connection stays open */
    fake_aws_push(f, &(fake_aws_reply_t){.action = FAKE_AWS_TRUNCATE, .body = "0123456789",
                                         .truncate_at = 3, .hold = 1});
    fd = dial(fake_aws_port(f));
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(send_req(fd, "/", NULL, ""), 0);
    read_all(fd, buf, sizeof(buf), 300, &closed);
    CU_ASSERT_FALSE(closed);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "012");
    close(fd);

    /* raw garbage instead of HTTP */
    fake_aws_push(f, &(fake_aws_reply_t){.action = FAKE_AWS_RAW, .body = "\x01garbage\xff"});
    call(f, "/", NULL, "", buf, sizeof(buf), &closed);
    CU_ASSERT_TRUE(closed);
    CU_ASSERT_STRING_EQUAL(buf, "\x01garbage\xff");

    /* a garbage body in a well-formed answer */
    fake_aws_reply(f, NULL, 200, "<html>gateway busy</html>");
    call(f, "/", NULL, "", buf, sizeof(buf), &closed);
    CU_ASSERT_EQUAL(status_of(buf), 200);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "<html>gateway busy</html>");

    /* a delayed answer */
    fake_aws_push(f, &(fake_aws_reply_t){.status = 200, .body = "late", .delay_ms = 250});
    t0 = now_ms();
    call(f, "/", NULL, "", buf, sizeof(buf), &closed);
    CU_ASSERT_TRUE(now_ms() - t0 >= 240);
    CU_ASSERT_STRING_EQUAL(body_of(buf), "late");
    CU_ASSERT_EQUAL(fake_aws_scripted_left(f), 0);
    fake_aws_destroy(f);
}

static void test_record(void) {
    fake_aws_t *f = start();
    static const char head[] =
        "PUT /tables/t?a=1&b=two HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "X-Amz-Target: DynamoDB_20120810.UpdateItem\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDX/20240101/us-east-1/dynamodb/"
        "aws4_request, SignedHeaders=host, Signature=abc\r\n"
        "X-Amz-Security-Token: tok/en=\r\nContent-Length: 5\r\n\r\n";
    fake_aws_request_t *rq;
    char buf[4096];
    int closed, fd;
    int64_t t0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fake_aws_reply(f, NULL, 200, "{}");
    fd = dial(fake_aws_port(f));
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, head, sizeof(head) - 1), (ssize_t)sizeof(head) - 1);
    CU_ASSERT_EQUAL(write(fd, "a\0b{}", 5), 5);
    CU_ASSERT_EQUAL(fake_aws_wait_requests(f, 1, 3000), 0);
    read_all(fd, buf, sizeof(buf), 300, &closed);
    CU_ASSERT_EQUAL(status_of(buf), 200);
    /* keep-alive: a second request on the same connection */
    CU_ASSERT_EQUAL(send_req(fd, "/second", "Kinesis_20131202.PutRecords", "{\"n\":2}"), 0);
    CU_ASSERT_EQUAL(fake_aws_wait_requests(f, 2, 3000), 0);
    read_all(fd, buf, sizeof(buf), 3000, &closed);
    close(fd);
    CU_ASSERT_EQUAL(fake_aws_connections(f), 1);

    rq = fake_aws_request(f, "UpdateItem", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rq);
    CU_ASSERT_EQUAL(rq->seq, 0);
    CU_ASSERT_STRING_EQUAL(rq->method, "PUT");
    CU_ASSERT_STRING_EQUAL(rq->uri, "/tables/t?a=1&b=two");
    CU_ASSERT_STRING_EQUAL(rq->path, "/tables/t");
    CU_ASSERT_STRING_EQUAL(rq->target, "DynamoDB_20120810.UpdateItem");
    CU_ASSERT_EQUAL(rq->body_len, 5);
    CU_ASSERT_EQUAL(memcmp(rq->body, "a\0b{}", 6), 0);
    CU_ASSERT_STRING_EQUAL(fake_aws_request_header(rq, "x-amz-security-token"), "tok/en=");
    CU_ASSERT_PTR_NOT_NULL(strstr(fake_aws_request_header(rq, "Authorization"),
                                  "Credential=AKIDX/20240101/us-east-1/dynamodb/aws4_request"));
    CU_ASSERT_PTR_NULL(fake_aws_request_header(rq, "X-Absent"));
    CU_ASSERT_EQUAL(rq->nheaders, 5);
    fake_aws_clear(f); /* the copy stays valid */
    CU_ASSERT_STRING_EQUAL(rq->names[0], "Host");
    fake_aws_request_free(rq);
    fake_aws_request_free(NULL);
    CU_ASSERT_EQUAL(fake_aws_count(f, NULL), 0);
    CU_ASSERT_PTR_NULL(fake_aws_request(f, NULL, 0));

    /* sequence numbers go on after a clear; waiting counts from the clear */
    call(f, "/third", NULL, "", buf, sizeof(buf), &closed);
    CU_ASSERT_EQUAL(fake_aws_wait_requests(f, 1, 3000), 0);
    rq = fake_aws_request(f, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rq);
    CU_ASSERT_EQUAL(rq->seq, 2);
    CU_ASSERT_STRING_EQUAL(rq->target, "");
    CU_ASSERT_STRING_EQUAL(rq->method, "POST");
    fake_aws_request_free(rq);
    CU_ASSERT_PTR_NULL(fake_aws_request(f, NULL, 1));
    t0 = now_ms();
    CU_ASSERT_EQUAL(fake_aws_wait_requests(f, 2, 150), -1);
    CU_ASSERT_TRUE(now_ms() - t0 >= 140 && now_ms() - t0 < 2000);
    fake_aws_destroy(f);
}

/* Requests held, delayed, and one whose client already left: destroy frees them all (the leak
 * check is LeakSanitizer's). */
static void test_destroy_pending(void) {
    fake_aws_t *f = start();
    int fds[3];
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fake_aws_push(f, &(fake_aws_reply_t){.action = FAKE_AWS_HANG, .times = 2});
    fake_aws_push(f, &(fake_aws_reply_t){.body = "too late", .delay_ms = 60000});
    for (int i = 0; i < 3; i++) {
        fds[i] = dial(fake_aws_port(f));
        CU_ASSERT_FATAL(fds[i] >= 0);
        CU_ASSERT_EQUAL(send_req(fds[i], "/", NULL, "x"), 0);
        CU_ASSERT_EQUAL(fake_aws_wait_requests(f, i + 1, 3000), 0);
    }
    close(fds[0]);
    usleep(50000); /* let the server notice, where it does */
    fake_aws_destroy(f);
    close(fds[1]);
    close(fds[2]);
}

void test_fake_aws_register(void) {
    static const unit_test_t tests[] = {
        {"script", test_script},
        {"errors_and_pass", test_errors_and_pass},
        {"faults", test_faults},
        {"record", test_record},
        {"destroy_pending", test_destroy_pending},
        {NULL, NULL},
    };
    unit_add_suite("fake_aws", tests);
}
