/*
 * fake_aws.h: one scripted fake AWS endpoint for the unit tests, in the spirit of librdkafka's
 * mock cluster. An HTTP/1.1 server (libevent's evhttp, a peer sluice did not write) listens on
 * 127.0.0.1 at an ephemeral port and runs on its own thread with its own event base. The test
 * scripts it with canned replies matched by X-Amz-Target and/or path, injects faults (N error
 * statuses with an AWS error body, a hang, a delayed answer, a connection closed without an
 * answer, a truncated body, raw garbage), answers everything else through an optional
 * responder callback, and reads back every request it received.
 *
 * Threads: every function here is called from the test's thread(s) and is safe against the
 * server thread (shared state sits under one mutex; what the test reads is a copy). Only the
 * responder callback runs on the server thread.
 */
#ifndef SL_FAKE_AWS_H
#define SL_FAKE_AWS_H

#include <stddef.h>
#include <stdint.h>

struct ssl_ctx_st;

typedef struct fake_aws fake_aws_t;

/* What a scripted rule does with a request it matches. */
typedef enum fake_aws_action {
    FAKE_AWS_REPLY = 0, /* answer status, headers and body */
    FAKE_AWS_HANG,      /* never answer: the connection stays open until the client hangs up
                         * or fake_aws_destroy() */
    FAKE_AWS_CLOSE,     /* close the connection without writing a byte */
    FAKE_AWS_TRUNCATE,  /* a head announcing the whole body, truncate_at body bytes, then close
                         * (or hold) */
    FAKE_AWS_RAW,       /* body written verbatim, no HTTP head, then close (or hold) */
    FAKE_AWS_PASS,      /* use the rule up, answer as if nothing were scripted (responder or
                         * default): skips the nth matching request in a sequence */
} fake_aws_action_t;

/* One scripted rule. Every string is copied by fake_aws_push(). */
typedef struct fake_aws_reply {
    const char *target;  /* X-Amz-Target to match: whole ("Kinesis_20131202.GetRecords") or the
                          * operation after the dot ("GetRecords"); NULL matches any */
    const char *path;    /* request path to match, without the query; NULL matches any */
    fake_aws_action_t action;
    int status;          /* 0: 200 */
    const char *headers; /* extra answer headers, "Name: value" lines joined by '\n'; NULL: none */
    const char *body;    /* NULL: empty */
    size_t body_len;     /* 0: strlen(body) */
    size_t truncate_at;  /* FAKE_AWS_TRUNCATE: body bytes actually sent */
    int hold;            /* FAKE_AWS_TRUNCATE, FAKE_AWS_RAW: keep the connection open afterwards */
    int delay_ms;        /* act this long after the request arrived */
    int times;           /* matching requests this rule serves: 0 means 1, -1 every one */
} fake_aws_reply_t;

/* A request as received. Strings are NUL-terminated; body has body_len bytes plus a NUL. */
typedef struct fake_aws_request {
    int seq;       /* 0-based arrival order since start (fake_aws_clear() does not reset it) */
    int64_t at_ms; /* CLOCK_MONOTONIC ms at arrival (sl_mono_ms()'s clock) */
    char *method;  /* "GET", "POST", ... */
    char *uri;     /* as sent: path and query */
    char *path;    /* without the query */
    char *target;  /* X-Amz-Target, "" when absent */
    char *body;
    size_t body_len;
    size_t nheaders;
    char **names, **values; /* every header in arrival order */
} fake_aws_request_t;

/* The value of a request header (name compared case-insensitively), or NULL. Borrowed from req. */
const char *fake_aws_request_header(const fake_aws_request_t *req, const char *name);

/* Frees a copy returned by fake_aws_request(); accepts NULL. */
void fake_aws_request_free(fake_aws_request_t *req);

/* Builds the answer of a responder (below), on the server thread. */
typedef struct fake_aws_answer fake_aws_answer_t;
/* Sets status and body (copied; len (size_t)-1 means strlen(body)). */
void fake_aws_answer(fake_aws_answer_t *ans, int status, const char *body, size_t len);
/* Adds an answer header (copied). */
void fake_aws_answer_header(fake_aws_answer_t *ans, const char *name, const char *value);

/* Answers a request no rule matched (or a FAKE_AWS_PASS rule). Runs on the server thread, one
 * request at a time, without the fake's lock: it may call fake_aws_push() and friends, never
 * fake_aws_wait_requests(). req is borrowed for the call. Whatever state it reads that the test
 * also writes is the test's to guard. The answer starts as 200 with an empty body. */
typedef void (*fake_aws_responder_fn)(void *opaque, const fake_aws_request_t *req,
                                      fake_aws_answer_t *ans);

/* Starts a fake on 127.0.0.1 (plain HTTP, or TLS with ssl_ctx: borrowed, valid until
 * fake_aws_destroy(); TRUNCATE and RAW write past TLS and are for plain HTTP only). Returns NULL
 * and fills err on failure; caller frees with fake_aws_destroy(). */
fake_aws_t *fake_aws_new(struct ssl_ctx_st *ssl_ctx, char *err, size_t errlen);

/* Stops the thread, drops held and delayed requests and open connections, frees everything.
 * Accepts NULL. */
void fake_aws_destroy(fake_aws_t *f);

int fake_aws_port(const fake_aws_t *f);
/* "http://127.0.0.1:PORT" (https with TLS); borrowed, valid until fake_aws_destroy(). */
const char *fake_aws_url(const fake_aws_t *f);

/* Appends a rule. A request takes the first rule, in push order, that matches it and has uses
 * left; a rule used up is forgotten. */
void fake_aws_push(fake_aws_t *f, const fake_aws_reply_t *r);
/* Shorthands: one REPLY of status and body for target; `times` error answers with an AWS JSON
 * error body {"__type":type,"message":message} (message NULL: none). */
void fake_aws_reply(fake_aws_t *f, const char *target, int status, const char *body);
void fake_aws_error(fake_aws_t *f, const char *target, int times, int status, const char *type,
                    const char *message);
/* Rules with uses left (a -1 rule counts once). */
int fake_aws_scripted_left(fake_aws_t *f);

/* The responder for requests no rule takes (NULL: the default answer, a 500 InternalFailure).
 * Set it before requests arrive. */
void fake_aws_set_responder(fake_aws_t *f, fake_aws_responder_fn fn, void *opaque);
/* A header added to every answer (e.g. x-amzn-RequestId), copied; set before requests arrive. */
void fake_aws_set_header(fake_aws_t *f, const char *name, const char *value);

/* Requests received whose X-Amz-Target matches target as a rule's does (NULL: all). */
int fake_aws_count(fake_aws_t *f, const char *target);
/* A copy of the nth (0-based) request matching target (NULL: any), or NULL; caller frees with
 * fake_aws_request_free(). */
fake_aws_request_t *fake_aws_request(fake_aws_t *f, const char *target, int nth);
/* Waits until at least n requests arrived since start or the last fake_aws_clear(): 0, or -1
 * after timeout_ms. Never from the responder. */
int fake_aws_wait_requests(fake_aws_t *f, int n, int timeout_ms);
/* Forgets the requests received so far (rules stay). */
void fake_aws_clear(fake_aws_t *f);
/* Connections accepted since start. */
int fake_aws_connections(fake_aws_t *f);

#endif
