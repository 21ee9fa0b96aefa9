/*
 * fake_aws.c: the scripted fake AWS endpoint of the unit tests (fake_aws.h). evhttp parses the
 * requests; each one is recorded, matched against the rules, then answered at once, after a
 * delay, never, or by a fault written straight to the socket. A request evhttp handed us stays
 * ours until we reply to it (even when the client hangs up, evhttp only detaches it), so every
 * request not answered on the spot sits in one list of pending actions that destroy() empties.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "fake_aws.h"

typedef struct rule {
    fake_aws_reply_t r; /* strings owned */
    struct rule *next;
} rule_t;

/* A request answered later: delayed, held, or a fault deferred out of evhttp's callback. */
typedef struct pending {
    fake_aws_t *f;
    struct evhttp_request *req;
    struct event *timer; /* NULL: held until the client or destroy */
    rule_t *rule;        /* a copy of the rule that took the request */
    struct pending *prev, *next;
} pending_t;

struct fake_aws_answer {
    struct evhttp_request *req;
    int status;
    struct evbuffer *body;
};

struct fake_aws {
    struct event_base *base;
    struct evhttp *http;
    struct event *stop_ev;
    pthread_t thread;
    int port;
    char url[64];
    struct ssl_ctx_st *ssl;
    pending_t *pending; /* server thread only */
    fake_aws_responder_fn responder;
    void *responder_opaque;
    char *hdr_name, *hdr_value;
    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t arrived;
    rule_t *rules, **rules_tail;
    fake_aws_request_t **reqs;
    int nreqs, capreqs, seq;
    int conns;
};

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

static char *dup_mem(const char *s, size_t len) {
    char *p = malloc(len + 1);
    if (!p)
        abort();
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* --- rules --------------------------------------------------------------------------------- */

static rule_t *rule_copy(const fake_aws_reply_t *r) {
    rule_t *c = calloc(1, sizeof(*c));
    size_t blen = r->body ? (r->body_len ? r->body_len : strlen(r->body)) : 0;
    if (!c)
        abort();
    c->r = *r;
    c->r.target = dup_or_null(r->target);
    c->r.path = dup_or_null(r->path);
    c->r.headers = dup_or_null(r->headers);
    c->r.body = dup_mem(r->body ? r->body : "", blen);
    c->r.body_len = blen;
    c->r.status = r->status ? r->status : 200;
    c->r.times = r->times ? r->times : 1;
    return c;
}

static void rule_free(rule_t *c) {
    if (!c)
        return;
    free((char *)c->r.target);
    free((char *)c->r.path);
    free((char *)c->r.headers);
    free((char *)c->r.body);
    free(c);
}

/* A rule's target matches the whole X-Amz-Target or the operation after its dot. */
static int target_matches(const char *want, const char *target) {
    const char *dot;
    if (!want)
        return 1;
    if (!strcmp(want, target))
        return 1;
    dot = strchr(target, '.');
    return dot && !strcmp(want, dot + 1);
}

/* Takes one use of the first matching rule (lock held); returns a copy, or NULL. */
static rule_t *rule_take(fake_aws_t *f, const fake_aws_request_t *rq) {
    rule_t **pp, *c;
    for (pp = &f->rules; (c = *pp) != NULL; pp = &c->next)
        if (target_matches(c->r.target, rq->target) && (!c->r.path || !strcmp(c->r.path, rq->path)))
            break;
    if (!c)
        return NULL;
    rule_t *copy = rule_copy(&c->r);
    if (c->r.times > 0 && --c->r.times == 0) {
        *pp = c->next;
        if (f->rules_tail == &c->next)
            f->rules_tail = pp;
        rule_free(c);
    }
    return copy;
}

void fake_aws_push(fake_aws_t *f, const fake_aws_reply_t *r) {
    rule_t *c = rule_copy(r);
    pthread_mutex_lock(&f->lock);
    *f->rules_tail = c;
    f->rules_tail = &c->next;
    pthread_mutex_unlock(&f->lock);
}

void fake_aws_reply(fake_aws_t *f, const char *target, int status, const char *body) {
    fake_aws_reply_t r = {.target = target, .status = status, .body = body};
    fake_aws_push(f, &r);
}

void fake_aws_error(fake_aws_t *f, const char *target, int times, int status, const char *type,
                    const char *message) {
    char body[512];
    if (message)
        snprintf(body, sizeof(body), "{\"__type\":\"%s\",\"message\":\"%s\"}", type, message);
    else
        snprintf(body, sizeof(body), "{\"__type\":\"%s\"}", type);
    fake_aws_reply_t r = {.target = target, .status = status, .body = body, .times = times};
    fake_aws_push(f, &r);
}

int fake_aws_scripted_left(fake_aws_t *f) {
    int n = 0;
    pthread_mutex_lock(&f->lock);
    for (rule_t *c = f->rules; c; c = c->next)
        n++;
    pthread_mutex_unlock(&f->lock);
    return n;
}

void fake_aws_set_responder(fake_aws_t *f, fake_aws_responder_fn fn, void *opaque) {
    pthread_mutex_lock(&f->lock);
    f->responder = fn;
    f->responder_opaque = opaque;
    pthread_mutex_unlock(&f->lock);
}

void fake_aws_set_header(fake_aws_t *f, const char *name, const char *value) {
    pthread_mutex_lock(&f->lock);
    free(f->hdr_name);
    free(f->hdr_value);
    f->hdr_name = dup_or_null(name);
    f->hdr_value = dup_or_null(value);
    pthread_mutex_unlock(&f->lock);
}

/* --- recorded requests --------------------------------------------------------------------- */

const char *fake_aws_request_header(const fake_aws_request_t *req, const char *name) {
    for (size_t i = 0; req && i < req->nheaders; i++)
        if (!strcasecmp(req->names[i], name))
            return req->values[i];
    return NULL;
}

void fake_aws_request_free(fake_aws_request_t *req) {
    if (!req)
        return;
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->names[i]);
        free(req->values[i]);
    }
    free(req->names);
    free(req->values);
    free(req->method);
    free(req->uri);
    free(req->path);
    free(req->target);
    free(req->body);
    free(req);
}

static fake_aws_request_t *request_copy(const fake_aws_request_t *s) {
    fake_aws_request_t *d = calloc(1, sizeof(*d));
    if (!d)
        abort();
    *d = *s;
    d->method = strdup(s->method);
    d->uri = strdup(s->uri);
    d->path = strdup(s->path);
    d->target = strdup(s->target);
    d->body = dup_mem(s->body, s->body_len);
    d->names = calloc(s->nheaders + 1, sizeof(char *));
    d->values = calloc(s->nheaders + 1, sizeof(char *));
    if (!d->method || !d->uri || !d->path || !d->target || !d->names || !d->values)
        abort();
    for (size_t i = 0; i < s->nheaders; i++) {
        d->names[i] = strdup(s->names[i]);
        d->values[i] = strdup(s->values[i]);
    }
    return d;
}

static const char *method_name(enum evhttp_cmd_type cmd) {
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PATCH: return "PATCH";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    default: return "OTHER";
    }
}

/* The request as evhttp parsed it (the server thread's own; copies go to the record). */
static fake_aws_request_t *request_read(struct evhttp_request *ereq) {
    fake_aws_request_t *rq = calloc(1, sizeof(*rq));
    struct evkeyvalq *in = evhttp_request_get_input_headers(ereq);
    struct evbuffer *ib = evhttp_request_get_input_buffer(ereq);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(ereq);
    const char *uri = evhttp_request_get_uri(ereq), *path = u ? evhttp_uri_get_path(u) : NULL;
    const char *target = evhttp_find_header(in, "X-Amz-Target");
    struct evkeyval *kv;
    size_t n = 0;
    if (!rq)
        abort();
    rq->at_ms = mono_ms();
    rq->method = strdup(method_name(evhttp_request_get_command(ereq)));
    rq->uri = strdup(uri ? uri : "");
    rq->path = strdup(path ? path : "");
    rq->target = strdup(target ? target : "");
    rq->body_len = evbuffer_get_length(ib);
    rq->body = malloc(rq->body_len + 1);
    if (!rq->method || !rq->uri || !rq->path || !rq->target || !rq->body)
        abort();
    evbuffer_copyout(ib, rq->body, rq->body_len);
    rq->body[rq->body_len] = '\0';
    for (kv = in->tqh_first; kv; kv = kv->next.tqe_next) /* no sys/queue.h needed */
        n++;
    rq->names = calloc(n + 1, sizeof(char *));
    rq->values = calloc(n + 1, sizeof(char *));
    if (!rq->names || !rq->values)
        abort();
    for (kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        rq->names[rq->nheaders] = strdup(kv->key);
        rq->values[rq->nheaders++] = strdup(kv->value);
    }
    return rq;
}

int fake_aws_count(fake_aws_t *f, const char *target) {
    int n = 0;
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->nreqs; i++)
        n += target_matches(target, f->reqs[i]->target);
    pthread_mutex_unlock(&f->lock);
    return n;
}

fake_aws_request_t *fake_aws_request(fake_aws_t *f, const char *target, int nth) {
    fake_aws_request_t *copy = NULL;
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->nreqs && !copy; i++)
        if (target_matches(target, f->reqs[i]->target) && nth-- == 0)
            copy = request_copy(f->reqs[i]);
    pthread_mutex_unlock(&f->lock);
    return copy;
}

int fake_aws_wait_requests(fake_aws_t *f, int n, int timeout_ms) {
    struct timespec until;
    int rc = 0;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->lock);
    while (f->nreqs < n && rc == 0)
        rc = pthread_cond_timedwait(&f->arrived, &f->lock, &until);
    rc = f->nreqs >= n ? 0 : -1;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

void fake_aws_clear(fake_aws_t *f) {
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->nreqs; i++)
        fake_aws_request_free(f->reqs[i]);
    f->nreqs = 0;
    pthread_mutex_unlock(&f->lock);
}

int fake_aws_connections(fake_aws_t *f) {
    int n;
    pthread_mutex_lock(&f->lock);
    n = f->conns;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* --- answering (server thread) ------------------------------------------------------------- */

void fake_aws_answer(fake_aws_answer_t *ans, int status, const char *body, size_t len) {
    ans->status = status;
    evbuffer_drain(ans->body, evbuffer_get_length(ans->body));
    if (body)
        evbuffer_add(ans->body, body, len == (size_t)-1 ? strlen(body) : len);
}

void fake_aws_answer_header(fake_aws_answer_t *ans, const char *name, const char *value) {
    evhttp_add_header(evhttp_request_get_output_headers(ans->req), name, value);
}

/* Calls fn(name, value) for each "Name: value" line of a rule's headers. */
static void each_header(const char *text, void (*fn)(void *, const char *, const char *),
                        void *arg) {
    char *copy = text ? strdup(text) : NULL, *save = NULL;
    for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':'), *v;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[n - 1] = '\0';
        if (!colon)
            continue;
        *colon = '\0';
        for (v = colon + 1; *v == ' '; v++)
            ;
        fn(arg, line, v);
    }
    free(copy);
}

static void add_out_header(void *arg, const char *name, const char *value) {
    evhttp_add_header(evhttp_request_get_output_headers(arg), name, value);
}

static void add_raw_header(void *arg, const char *name, const char *value) {
    evbuffer_add_printf(arg, "%s: %s\r\n", name, value);
}

static void common_headers(fake_aws_t *f, struct evhttp_request *req) {
    pthread_mutex_lock(&f->lock);
    if (f->hdr_name && f->hdr_value)
        evhttp_add_header(evhttp_request_get_output_headers(req), f->hdr_name, f->hdr_value);
    pthread_mutex_unlock(&f->lock);
}

/* The default answer, or the responder's. */
static void answer_unscripted(fake_aws_t *f, struct evhttp_request *req,
                              const fake_aws_request_t *rq) {
    fake_aws_answer_t ans = {req, 200, evbuffer_new()};
    fake_aws_responder_fn fn;
    void *opaque;
    pthread_mutex_lock(&f->lock);
    fn = f->responder;
    opaque = f->responder_opaque;
    pthread_mutex_unlock(&f->lock);
    if (!ans.body)
        abort();
    common_headers(f, req);
    if (fn)
        fn(opaque, rq, &ans);
    else
        fake_aws_answer(&ans, 500,
                        "{\"__type\":\"InternalFailure\",\"message\":\"fake_aws: nothing "
                        "scripted for this request\"}", (size_t)-1);
    evhttp_send_reply(req, ans.status, NULL, ans.body);
    evbuffer_free(ans.body);
}

static void answer_rule(fake_aws_t *f, struct evhttp_request *req, const rule_t *c) {
    struct evbuffer *out = evbuffer_new();
    if (!out)
        abort();
    common_headers(f, req);
    each_header(c->r.headers, add_out_header, req);
    evbuffer_add(out, c->r.body, c->r.body_len);
    evhttp_send_reply(req, c->r.status, NULL, out);
    evbuffer_free(out);
}

/* Writes bytes straight to the socket (a fault evhttp would not commit); small, so a short
 * poll covers a full socket buffer. */
static void write_raw(evutil_socket_t fd, struct evbuffer *buf) {
    size_t len = evbuffer_get_length(buf), off = 0;
    const char *p = (const char *)evbuffer_pullup(buf, -1);
    while (off < len) {
        ssize_t n = send(fd, p + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, 1000) == 1)
                continue;
        }
        break;
    }
}

static void pending_unlink(pending_t *p) {
    if (p->prev)
        p->prev->next = p->next;
    else
        p->f->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void pending_free(pending_t *p) {
    if (p->timer)
        event_free(p->timer);
    rule_free(p->rule);
    free(p);
}

/* The deferred part of a rule: its answer or its fault. */
static void pending_fire(evutil_socket_t fd, short what, void *arg) {
    pending_t *p = arg;
    fake_aws_t *f = p->f;
    struct evhttp_request *req = p->req;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const rule_t *c = p->rule;
    (void)fd;
    (void)what;

    if (c->r.action == FAKE_AWS_REPLY) {
        answer_rule(f, req, c); /* frees a request whose client already left */
    } else if (!evcon) {
        evhttp_request_free(req); /* the client hung up: nobody to hurt */
    } else if (c->r.action == FAKE_AWS_CLOSE) {
        evhttp_connection_free(evcon); /* frees req with it */
    } else {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
        struct evbuffer *raw = evbuffer_new();
        if (!raw)
            abort();
        if (c->r.action == FAKE_AWS_TRUNCATE) {
            size_t n = c->r.truncate_at < c->r.body_len ? c->r.truncate_at : c->r.body_len;
            evbuffer_add_printf(raw, "HTTP/1.1 %d Fake\r\nContent-Length: %zu\r\n", c->r.status,
                                c->r.body_len);
            each_header(c->r.headers, add_raw_header, raw);
            evbuffer_add(raw, "\r\n", 2);
            evbuffer_add(raw, c->r.body, n);
        } else {
            evbuffer_add(raw, c->r.body, c->r.body_len);
        }
        write_raw(bufferevent_getfd(bev), raw);
        evbuffer_free(raw);
        if (c->r.hold) {
            event_free(p->timer);
            p->timer = NULL; /* stays pending until destroy */
            return;
        }
        evhttp_connection_free(evcon);
    }
    pending_unlink(p);
    pending_free(p);
}

static void on_request(struct evhttp_request *req, void *arg) {
    fake_aws_t *f = arg;
    fake_aws_request_t *rq = request_read(req);
    rule_t *c;
    pending_t *p;

    pthread_mutex_lock(&f->lock);
    rq->seq = f->seq++;
    if (f->nreqs == f->capreqs) {
        f->capreqs = f->capreqs ? f->capreqs * 2 : 64;
        f->reqs = realloc(f->reqs, sizeof(*f->reqs) * (size_t)f->capreqs);
        if (!f->reqs)
            abort();
    }
    f->reqs[f->nreqs++] = request_copy(rq);
    c = rule_take(f, rq);
    pthread_cond_broadcast(&f->arrived);
    pthread_mutex_unlock(&f->lock);

    if (!c || c->r.action == FAKE_AWS_PASS) {
        rule_free(c);
        answer_unscripted(f, req, rq);
    } else if (c->r.action == FAKE_AWS_REPLY && c->r.delay_ms <= 0) {
        answer_rule(f, req, c);
        rule_free(c);
    } else {
        /* Everything else leaves evhttp's callback first: freeing the connection inside it
         * would pull the floor from under evhttp. */
        struct timeval tv = {c->r.delay_ms / 1000, (c->r.delay_ms % 1000) * 1000};
        p = calloc(1, sizeof(*p));
        if (!p)
            abort();
        p->f = f;
        p->req = req;
        p->rule = c;
        p->next = f->pending;
        if (f->pending)
            f->pending->prev = p;
        f->pending = p;
        if (c->r.action != FAKE_AWS_HANG) {
            p->timer = evtimer_new(f->base, pending_fire, p);
            if (!p->timer)
                abort();
            evtimer_add(p->timer, &tv);
        }
    }
    fake_aws_request_free(rq);
}

/* Every accepted connection comes through here: the place to count them and to add TLS. */
static struct bufferevent *on_connection(struct event_base *base, void *arg) {
    fake_aws_t *f = arg;
    pthread_mutex_lock(&f->lock);
    f->conns++;
    pthread_mutex_unlock(&f->lock);
    if (f->ssl) {
        SSL *ssl = SSL_new(f->ssl);
        return ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                    BEV_OPT_CLOSE_ON_FREE)
                   : NULL;
    }
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void *server_main(void *arg) {
    fake_aws_t *f = arg;
    sigset_t set;
    /* a write to a client that already left must be EPIPE, not the end of the test run */
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    event_base_dispatch(f->base);
    return NULL;
}

fake_aws_t *fake_aws_new(struct ssl_ctx_st *ssl_ctx, char *err, size_t errlen) {
    fake_aws_t *f = calloc(1, sizeof(*f));
    struct evhttp_bound_socket *bound;
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    pthread_condattr_t ca;

    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    evthread_use_pthreads(); /* stop_ev is activated from the test's thread */
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->arrived, &ca);
    pthread_condattr_destroy(&ca);
    f->rules_tail = &f->rules;
    f->ssl = ssl_ctx;
    f->base = event_base_new();
    f->http = f->base ? evhttp_new(f->base) : NULL;
    f->stop_ev = f->base ? event_new(f->base, -1, 0, on_stop, f->base) : NULL;
    if (!f->http || !f->stop_ev) {
        snprintf(err, errlen, "fake_aws: libevent setup failed");
        goto fail;
    }
    evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_default_content_type(f->http, "application/x-amz-json-1.1");
    evhttp_set_gencb(f->http, on_request, f);
    evhttp_set_bevcb(f->http, on_connection, f);
    bound = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
    if (!bound ||
        getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sa, &salen) != 0) {
        snprintf(err, errlen, "fake_aws: cannot listen on 127.0.0.1: %s", strerror(errno));
        goto fail;
    }
    f->port = ntohs(sa.sin_port);
    snprintf(f->url, sizeof(f->url), "%s://127.0.0.1:%d", ssl_ctx ? "https" : "http", f->port);
    if (pthread_create(&f->thread, NULL, server_main, f) != 0) {
        snprintf(err, errlen, "fake_aws: pthread_create failed");
        goto fail;
    }
    return f;
fail:
    if (f->stop_ev)
        event_free(f->stop_ev);
    if (f->http)
        evhttp_free(f->http);
    if (f->base)
        event_base_free(f->base);
    pthread_cond_destroy(&f->arrived);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return NULL;
}

void fake_aws_destroy(fake_aws_t *f) {
    pending_t *p;
    if (!f)
        return;
    /* an active event waits for the loop, even one that has not started yet (loopbreak alone
     * would be forgotten by a loop entered after it) */
    event_active(f->stop_ev, EV_READ, 0);
    pthread_join(f->thread, NULL);
    /* Requests still ours: one detached by a client that left is freed here, one still on its
     * connection goes with the connection in evhttp_free(). */
    while ((p = f->pending) != NULL) {
        if (!evhttp_request_get_connection(p->req))
            evhttp_request_free(p->req);
        pending_unlink(p);
        pending_free(p);
    }
    evhttp_free(f->http);
    event_free(f->stop_ev);
    event_base_free(f->base);
    while (f->rules) {
        rule_t *next = f->rules->next;
        rule_free(f->rules);
        f->rules = next;
    }
    for (int i = 0; i < f->nreqs; i++)
        fake_aws_request_free(f->reqs[i]);
    free(f->reqs);
    free(f->hdr_name);
    free(f->hdr_value);
    pthread_cond_destroy(&f->arrived);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

int fake_aws_port(const fake_aws_t *f) {
    return f->port;
}

const char *fake_aws_url(const fake_aws_t *f) {
    return f->url;
}
