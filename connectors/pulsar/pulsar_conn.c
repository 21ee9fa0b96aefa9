/*
 * pulsar_conn.c: broker connections of one event loop (see pulsar_conn.h). A connection goes
 * TCP (or TLS) connect -> CONNECT -> CONNECTED (ready); every frame the broker sends is decoded
 * here (pulsar_wire.c) and handed to the request waiting for it, or to the producer or consumer
 * it names. A 250 ms tick enforces the connect and operation timeouts and the keepalive: a PING
 * after keepalive_ms of silence, the connection closed after twice that. When a connection ends,
 * waiters and requests fail and attached handlers hear on_closed; they reconnect by asking
 * pl_client_conn() again, which makes a new connection.
 *
 * A broker named by a host name is resolved off the loop: getaddrinfo() may block for seconds
 * (a slow or absent DNS server), which would stall every partition of the worker, so it runs on
 * a short-lived thread of its own (as curl's threaded resolver does) and the answer comes back
 * through an event; the host's addresses are then tried in turn until one connects, as the Java
 * client does. Numeric addresses are used at once. Topic lookups, which ride on these
 * connections, are in pulsar_lookup.c.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pulsar_conn_int.h"
#include "sluice/system.h"
#include "sluice/log.h"
#include "util_time.h"

#define TICK_MS 250

enum { ST_CONNECTING, ST_HANDSHAKE, ST_READY, ST_CLOSED };

typedef struct waiter {
    pl_ready_cb cb;
    void *opaque;
    struct waiter *next;
} waiter_t;

typedef struct req {
    uint64_t id;
    pl_req_cb cb;
    void *opaque;
    int64_t deadline;
    struct req *next;
} req_t;

typedef struct att {
    int kind;
    uint64_t id;
    pl_handler_t h;
    void *opaque;
    struct att *next;
} att_t;

typedef struct resolve resolve_t;

struct pl_conn {
    pl_client_t *cl;
    char *key;               /* what pl_client_conn() finds it by */
    char *name;              /* host:port */
    char *host;              /* for TLS: SNI and the name the certificate must carry */
    int port, tls;
    resolve_t *res;          /* the host's resolution, while it runs */
    struct addrinfo *addrs;  /* the host's addresses */
    struct addrinfo *addr;   /* the one being tried */
    char *proxy_to;          /* broker URL a proxy forwards to (NULL: direct) */
    struct bufferevent *bev;
    int state;
    size_t max_message;
    waiter_t *waiters;
    req_t *reqs;
    att_t *atts;
    struct event *tick, *kick;
    int64_t started_ms, last_rx_ms, ping_ms;
    int dispatching;
    pl_conn_t *next;
};


/* ---- errors ----------------------------------------------------------------------------------- */

const char *pl_server_error_name(int code) {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&pulsar__proto__server_error__descriptor, code);
    return v ? v->name : "UnknownError";
}

int pl_fatal(const char *why) {
    return why && (strstr(why, "AuthenticationError") || strstr(why, "AuthorizationError") ||
                   strstr(why, "certificate verify failed"));
}

int pl_server_error_retriable(int code) {
    switch (code) {
    case PULSAR__PROTO__SERVER_ERROR__ServiceNotReady:
    case PULSAR__PROTO__SERVER_ERROR__MetadataError:
    case PULSAR__PROTO__SERVER_ERROR__PersistenceError:
    case PULSAR__PROTO__SERVER_ERROR__TooManyRequests:
    case PULSAR__PROTO__SERVER_ERROR__ProducerBusy:
    case PULSAR__PROTO__SERVER_ERROR__ConsumerBusy:
    case PULSAR__PROTO__SERVER_ERROR__UnknownError:
    case PULSAR__PROTO__SERVER_ERROR__ProducerBlockedQuotaExceededException:
    case PULSAR__PROTO__SERVER_ERROR__TransactionCoordinatorNotFound:
        return 1;
    default:
        return 0;
    }
}

/* ---- client ----------------------------------------------------------------------------------- */

static char *dup_or_null(const char *s) {
    return s && *s ? sl_strdup(s) : NULL;
}

pl_client_t *pl_client_new(struct event_base *base, const pl_client_conf_t *cc, char *errstr,
                           size_t errlen) {
    pl_client_t *cl = calloc(1, sizeof(*cl));
    if (!cl) {
        sl_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    cl->base = base;
    cl->cc = *cc;
    cl->next_id = 1;
    if (pl_url_parse(cc->service_url ? cc->service_url : "", &cl->url, errstr, errlen) < 0)
        goto fail;
    cl->service_url = sl_strdup(cc->service_url);
    cl->auth_token = dup_or_null(cc->auth_token);
    cl->listener = dup_or_null(cc->listener_name);
    cl->what = sl_strdup(cc->what ? cc->what : "pulsar");
    cl->cc.service_url = cl->service_url;
    cl->cc.auth_token = cl->auth_token;
    cl->cc.listener_name = cl->listener;
    cl->cc.what = cl->what;
    cl->cc.tls_ca_file = cl->cc.tls_cert_file = cl->cc.tls_key_file = NULL;
    if (!cl->service_url || !cl->what) {
        sl_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    {
        char name[600];
        snprintf(name, sizeof(name), "pulsar at %s", cl->service_url);
        cl->health = sl_health_open(name);
    }
    if (cl->url.tls || (cc->tls_cert_file && *cc->tls_cert_file)) {
        if (!(cl->ssl_ctx = SSL_CTX_new(TLS_client_method()))) {
            sl_errf(errstr, errlen, "cannot create a TLS context");
            goto fail;
        }
        SSL_CTX_set_min_proto_version(cl->ssl_ctx, TLS1_2_VERSION);
        if (cc->tls_ca_file && *cc->tls_ca_file) {
            if (SSL_CTX_load_verify_locations(cl->ssl_ctx, cc->tls_ca_file, NULL) != 1) {
                sl_errf(errstr, errlen, "cannot read the trusted certificates file %s",
                        cc->tls_ca_file);
                goto fail;
            }
        } else {
            SSL_CTX_set_default_verify_paths(cl->ssl_ctx);
        }
        if (cc->tls_cert_file && *cc->tls_cert_file &&
            (SSL_CTX_use_certificate_chain_file(cl->ssl_ctx, cc->tls_cert_file) != 1 ||
             !cc->tls_key_file ||
             SSL_CTX_use_PrivateKey_file(cl->ssl_ctx, cc->tls_key_file, SSL_FILETYPE_PEM) != 1)) {
            sl_errf(errstr, errlen, "cannot use the client certificate %s and its key %s",
                    cc->tls_cert_file, cc->tls_key_file ? cc->tls_key_file : "(none)");
            goto fail;
        }
        SSL_CTX_set_verify(cl->ssl_ctx, cc->tls_allow_insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                           NULL);
    }
    return cl;
fail:
    pl_client_destroy(cl);
    return NULL;
}

uint64_t pl_client_next_id(pl_client_t *cl) {
    return cl->next_id++;
}

static void conn_free(pl_conn_t *conn);
static void conn_close(pl_conn_t *conn, const char *why, int notify);

void pl_client_failed(pl_client_t *cl, const char *op, const char *why, const char *next) {
    int64_t held = 0, failing_ms;
    cl->outage_failures++;
    failing_ms = sl_health_fail(cl->health, why);
    if (!util_ratelimit(&cl->outage_rl, sl_mono_ms(), PL_OUTAGE_REPORT_MS, &held))
        return;
    if (cl->outage_failures == 1)
        sl_log(SL_LOG_WARN, "pulsar", "%s: %s at %s: %s; %s", cl->what, op, cl->service_url, why,
               next);
    else
        sl_log(SL_LOG_WARN, "pulsar", "%s: %s at %s still failing after %lld s (%lld failed "
               "attempts); latest: %s; %s", cl->what, op, cl->service_url,
               (long long)(failing_ms / 1000), (long long)cl->outage_failures, why, next);
}

void pl_client_ok(pl_client_t *cl, const char *op) {
    int64_t ms = sl_health_ok(cl->health);
    if (!cl->outage_failures)
        return;
    sl_log(SL_LOG_INFO, "pulsar", "%s: %s at %s works again after %lld failed attempts over "
           "%.1f s", cl->what, op, cl->service_url, (long long)cl->outage_failures, ms / 1000.0);
    cl->outage_failures = 0;
    memset(&cl->outage_rl, 0, sizeof(cl->outage_rl));
}

/* Waits up to ms for fd to become ready for what (POLLIN / POLLOUT); 0 when it did. */
static int fd_wait(evutil_socket_t fd, short what, int64_t ms) {
    struct pollfd pfd = {.fd = fd, .events = what};
    int r;
    if (ms <= 0)
        return -1;
    do
        r = poll(&pfd, 1, (int)ms);
    while (r < 0 && errno == EINTR);
    return r > 0 ? 0 : -1;
}

/* Ends a ready connection the orderly way, now: on a shutdown the last commit's ACKs and the
 * CLOSE_CONSUMERs are queued in the same callback that destroys the client, and the loop never
 * runs again to send them. So: write out what the connection holds, half-close it (TLS
 * close_notify, then FIN) and read until the broker closes its end. The broker has then read
 * every command, ACKs before the close; and nothing left unread here turns our close into a
 * reset that would throw away what the broker had not read yet (the messages would go again
 * to the subscription's other consumers). Gives up at deadline (sl_mono_ms). */
static void conn_close_orderly(pl_conn_t *conn, int64_t deadline) {
    struct evbuffer *out;
    evutil_socket_t fd;
    SSL *ssl;
    const unsigned char *data;
    size_t len, done = 0;
    char scratch[4096];
    if (conn->state != ST_READY || !conn->bev)
        return;
    out = bufferevent_get_output(conn->bev);
    fd = bufferevent_getfd(conn->bev);
    ssl = conn->tls ? bufferevent_openssl_get_ssl(conn->bev) : NULL;
    if (fd < 0)
        return;
    /* The bufferevent keeps the front of its output frozen (only it may drain it): write from a
     * view of the bytes instead; the buffer goes with the bufferevent. */
    len = evbuffer_get_length(out);
    data = len ? evbuffer_pullup(out, -1) : NULL;
    if (len && !data)
        return;
    while (done < len) {
        size_t n = len - done > INT_MAX ? INT_MAX : len - done;
        short wait = POLLOUT;
        if (ssl) {
            int r;
            ERR_clear_error();
            if ((r = SSL_write(ssl, data + done, (int)n)) > 0) {
                done += (size_t)r;
                continue;
            }
            switch (SSL_get_error(ssl, r)) {
            case SSL_ERROR_WANT_WRITE:
                break;
            case SSL_ERROR_WANT_READ:
                wait = POLLIN;
                break;
            default:
                return;
            }
        } else {
            ssize_t r = send(fd, data + done, n, MSG_NOSIGNAL);
            if (r > 0) {
                done += (size_t)r;
                continue;
            }
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return;
        }
        if (fd_wait(fd, wait, deadline - sl_mono_ms()) != 0)
            return;
    }
    if (ssl) {
        ERR_clear_error();
        SSL_shutdown(ssl); /* close_notify; the broker's own is not waited for */
    }
    if (shutdown(fd, SHUT_WR) < 0)
        return;
    for (;;) {
        ssize_t r = recv(fd, scratch, sizeof(scratch), 0);
        if (r == 0)
            return; /* the broker closed: it read everything */
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return;
        if (r < 0 && fd_wait(fd, POLLIN, deadline - sl_mono_ms()) != 0)
            return;
    }
}

void pl_client_destroy(pl_client_t *cl) {
    int64_t deadline;
    if (!cl)
        return;
    sl_health_close(cl->health);
    while (cl->lookups) {
        lookup_t *lk = cl->lookups;
        cl->lookups = lk->next;
        pl_lookup_free(lk);
    }
    /* A broker that does not read or answer costs a shutdown this much, for all connections. */
    deadline = sl_mono_ms() + 2000;
    for (pl_conn_t *c = cl->conns; c; c = c->next)
        conn_close_orderly(c, deadline);
    while (cl->conns)
        conn_close(cl->conns, "client closed", 0);
    pl_url_clear(&cl->url);
    if (cl->ssl_ctx)
        SSL_CTX_free(cl->ssl_ctx);
    free(cl->service_url);
    free(cl->auth_token);
    free(cl->listener);
    free(cl->what);
    free(cl);
}

/* ---- connection: writing ---------------------------------------------------------------------- */

int pl_conn_ready(const pl_conn_t *conn) {
    return conn->state == ST_READY;
}

size_t pl_conn_max_message(const pl_conn_t *conn) {
    return conn->max_message;
}

const char *pl_conn_name(const pl_conn_t *conn) {
    return conn->name;
}

static int raw_write(pl_conn_t *conn, const void *data, size_t len) {
    if (!conn->bev || conn->state == ST_CLOSED)
        return -1;
    return bufferevent_write(conn->bev, data, len) == 0 ? 0 : -1;
}

static int write_cmd(pl_conn_t *conn, const pl_cmd_t *cmd) {
    sl_sb_t sb = {0};
    int r;
    pl_frame_cmd(&sb, cmd);
    r = sb.oom ? -1 : raw_write(conn, sb.buf, sb.len);
    sl_sb_free(&sb);
    return r;
}

int pl_conn_write(pl_conn_t *conn, const void *frame, size_t len) {
    if (conn->state != ST_READY)
        return -1;
    return raw_write(conn, frame, len);
}

size_t pl_conn_pending_bytes(const pl_conn_t *conn) {
    return conn->bev ? evbuffer_get_length(bufferevent_get_output(conn->bev)) : 0;
}

int pl_conn_command(pl_conn_t *conn, const pl_cmd_t *cmd) {
    if (conn->state != ST_READY)
        return -1;
    return write_cmd(conn, cmd);
}

void pl_conn_request(pl_conn_t *conn, uint64_t request_id, const pl_cmd_t *cmd, pl_req_cb cb,
                     void *opaque) {
    req_t *r = calloc(1, sizeof(*r)), **pp;
    if (!r)
        return;
    r->id = request_id;
    r->cb = cb;
    r->opaque = opaque;
    /* Not sent (connection not ready, socket refused it): deadline 0, answered by the next
     * tick, never from inside this call. */
    if (conn->state == ST_READY && write_cmd(conn, cmd) == 0)
        r->deadline = sl_mono_ms() + conn->cl->cc.operation_timeout_ms;
    for (pp = &conn->reqs; *pp; pp = &(*pp)->next)
        ;
    *pp = r;
}

void pl_conn_when_ready(pl_conn_t *conn, pl_ready_cb cb, void *opaque) {
    waiter_t *w = calloc(1, sizeof(*w)), **pp;
    if (!w)
        return;
    w->cb = cb;
    w->opaque = opaque;
    for (pp = &conn->waiters; *pp; pp = &(*pp)->next)
        ;
    *pp = w;
    if (conn->state == ST_READY)
        event_active(conn->kick, 0, 0);
}

int pl_conn_attach(pl_conn_t *conn, int kind, uint64_t id, const pl_handler_t *h, void *opaque) {
    att_t *a;
    if (conn->state == ST_CLOSED || !(a = calloc(1, sizeof(*a))))
        return -1;
    a->kind = kind;
    a->id = id;
    a->h = *h;
    a->opaque = opaque;
    a->next = conn->atts;
    conn->atts = a;
    return 0;
}

void pl_conn_detach(pl_conn_t *conn, int kind, uint64_t id) {
    for (att_t **pp = &conn->atts; *pp; pp = &(*pp)->next)
        if ((*pp)->kind == kind && (*pp)->id == id) {
            att_t *a = *pp;
            *pp = a->next;
            free(a);
            return;
        }
}

/* The answer to the CLOSE_PRODUCER / CLOSE_CONSUMER of pl_conn_abandon (opaque: its name). An
 * ERROR is fine (the broker no longer knew the id: nothing is held); no answer means the broker
 * may still hold the registration, and only the end of the connection frees it for sure. */
static void abandoned(void *opaque, pl_conn_t *conn, const pl_frame_t *f, const char *err) {
    char why[200];
    if (f || !conn)
        return; /* answered, or the connection ended (which freed it) */
    snprintf(why, sizeof(why), "no answer to %s for a registration that timed out (%s): "
             "closing the connection frees it", (const char *)opaque, err);
    conn_close(conn, why, 1);
}

void pl_conn_abandon(pl_conn_t *conn, int kind, uint64_t id) {
    static const char close_producer[] = "CLOSE_PRODUCER", close_consumer[] = "CLOSE_CONSUMER";
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandCloseProducer cp = PULSAR__PROTO__COMMAND_CLOSE_PRODUCER__INIT;
    Pulsar__Proto__CommandCloseConsumer cc = PULSAR__PROTO__COMMAND_CLOSE_CONSUMER__INIT;
    uint64_t request_id = pl_client_next_id(conn->cl);
    if (conn->state != ST_READY)
        return; /* connection ending: the broker frees what it held */
    if (kind == PL_PRODUCER) {
        cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__CLOSE_PRODUCER;
        cmd.close_producer = &cp;
        cp.producer_id = id;
        cp.request_id = request_id;
    } else {
        cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__CLOSE_CONSUMER;
        cmd.close_consumer = &cc;
        cc.consumer_id = id;
        cc.request_id = request_id;
    }
    sl_log(SL_LOG_INFO, "pulsar", "%s: %s: %s %llu timed out registering: giving it back (%s)",
           conn->cl->what, conn->name, kind == PL_PRODUCER ? "producer" : "consumer",
           (unsigned long long)id, kind == PL_PRODUCER ? close_producer : close_consumer);
    pl_conn_request(conn, request_id, &cmd, abandoned,
                    (void *)(kind == PL_PRODUCER ? close_producer : close_consumer));
}

void pl_conn_forget(pl_conn_t *conn, void *opaque) {
    for (waiter_t **pp = &conn->waiters; *pp;) {
        waiter_t *w = *pp;
        if (w->opaque == opaque) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
    for (req_t **pp = &conn->reqs; *pp;) {
        req_t *r = *pp;
        if (r->opaque == opaque) {
            *pp = r->next;
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

void pl_client_forget(pl_client_t *cl, void *opaque) {
    for (lookup_t **pp = &cl->lookups; *pp;) {
        lookup_t *lk = *pp;
        if (lk->opaque == opaque) {
            *pp = lk->next;
            pl_lookup_free(lk);
        } else {
            pp = &lk->next;
        }
    }
    for (pl_conn_t *c = cl->conns; c; c = c->next)
        pl_conn_forget(c, opaque);
}

/* ---- connection: life ------------------------------------------------------------------------- */

/* ---- connection: resolving and connecting ---------------------------------------------------- */

/* A host name being resolved on its own thread. Shared by that thread and the connection; the
 * last of the two to let go frees it. `ev` belongs to the loop: the thread only activates it,
 * under `mu` and while `ev_live` says the connection still waits. */
struct resolve {
    pthread_mutex_t mu;
    int refs;
    int ev_live;
    struct event *ev;
    pl_conn_t *conn;         /* loop side */
    char host[256];
    char port[8];
    struct addrinfo *ai;
    int err;
};

static void resolve_unref(resolve_t *r) {
    int last;
    pthread_mutex_lock(&r->mu);
    last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (!last)
        return;
    if (r->ai)
        freeaddrinfo(r->ai);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static int resolve_now(const char *host, const char *port, int flags, struct addrinfo **ai) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = flags;
    *ai = NULL;
    return getaddrinfo(host, port, &hints, ai);
}

static void *resolve_main(void *arg) {
    resolve_t *r = arg;
    struct addrinfo *ai;
    int err = resolve_now(r->host, r->port, 0, &ai);
    pthread_mutex_lock(&r->mu);
    r->ai = ai;
    r->err = err;
    if (r->ev_live)
        event_active(r->ev, EV_READ, 0);
    pthread_mutex_unlock(&r->mu);
    resolve_unref(r);
    return NULL;
}

/* The connection no longer waits for its resolution (closed, or the answer arrived). */
static void resolve_detach(pl_conn_t *conn) {
    resolve_t *r = conn->res;
    if (!r)
        return;
    conn->res = NULL;
    pthread_mutex_lock(&r->mu);
    r->ev_live = 0;
    pthread_mutex_unlock(&r->mu);
    event_free(r->ev);
    resolve_unref(r);
}

/* Whether conn, not connected yet, has another address of its host to try. */
static int conn_next_addr(pl_conn_t *conn) {
    return conn->state == ST_CONNECTING && conn->addr && conn->addr->ai_next;
}

static void event_cb(struct bufferevent *bev, short what, void *arg);
static void read_cb(struct bufferevent *bev, void *arg);

/* Connects to conn->addr, on a new socket (and TLS session). Returns -1 when out of memory;
 * every other failure arrives at event_cb. */
static int conn_try(pl_conn_t *conn) {
    pl_client_t *cl = conn->cl;
    SSL *ssl = NULL;
    if (conn->bev) {
        bufferevent_free(conn->bev);
        conn->bev = NULL;
    }
    if (conn->tls) {
        if (!(ssl = SSL_new(cl->ssl_ctx)))
            return -1;
        SSL_set_tlsext_host_name(ssl, conn->host);
        if (cl->cc.tls_verify_hostname && !cl->cc.tls_allow_insecure)
            SSL_set1_host(ssl, conn->host);
        conn->bev = bufferevent_openssl_socket_new(cl->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    } else {
        conn->bev = bufferevent_socket_new(cl->base, -1,
                                           BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    }
    if (!conn->bev) {
        if (ssl)
            SSL_free(ssl);
        return -1;
    }
    bufferevent_setcb(conn->bev, read_cb, NULL, event_cb, conn);
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(conn->bev, conn->addr->ai_addr,
                                   (int)conn->addr->ai_addrlen) < 0) {
        /* The error reaches event_cb (deferred); the connection closes from there. */
        sl_log_debug("pulsar", "%s: connect to %s failed at once", cl->what, conn->name);
    }
    return 0;
}

/* The resolver thread's answer, on the loop. */
static void resolved_cb(evutil_socket_t fd, short what, void *arg) {
    resolve_t *r = arg;
    pl_conn_t *conn = r->conn;
    struct addrinfo *ai;
    int err;
    char why[400];
    (void)fd;
    (void)what;
    pthread_mutex_lock(&r->mu);
    ai = r->ai;
    r->ai = NULL;
    err = r->err;
    pthread_mutex_unlock(&r->mu);
    resolve_detach(conn);
    if (err || !ai) {
        if (ai)
            freeaddrinfo(ai);
        snprintf(why, sizeof(why), "cannot resolve %s: %s", conn->host,
                 err ? gai_strerror(err) : "no address");
        conn_close(conn, why, 1);
        return;
    }
    conn->addrs = conn->addr = ai;
    if (conn_try(conn) < 0)
        conn_close(conn, "out of memory", 1);
}

/* Starts connecting conn to conn->host:conn->port. Returns -1 (errstr set) when it cannot even
 * start; every later failure closes the connection from the loop. */
static int conn_start(pl_conn_t *conn, char *errstr, size_t errlen) {
    resolve_t *r;
    pthread_t th;
    pthread_attr_t attr;
    sigset_t all, old;
    char port[8];
    int started;
    snprintf(port, sizeof(port), "%d", conn->port);
    if (resolve_now(conn->host, port, AI_NUMERICHOST, &conn->addrs) == 0 && conn->addrs) {
        conn->addr = conn->addrs;
        if (conn_try(conn) < 0) {
            sl_errf(errstr, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    if (strlen(conn->host) >= sizeof(r->host)) {
        sl_errf(errstr, errlen, "host name %.40s... is too long", conn->host);
        return -1;
    }
    if (!(r = calloc(1, sizeof(*r)))) {
        sl_errf(errstr, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->refs = 2;
    r->ev_live = 1;
    r->conn = conn;
    snprintf(r->host, sizeof(r->host), "%s", conn->host);
    memcpy(r->port, port, sizeof(port));
    if (!(r->ev = event_new(conn->cl->base, -1, 0, resolved_cb, r))) {
        pthread_mutex_destroy(&r->mu);
        free(r);
        sl_errf(errstr, errlen, "out of memory");
        return -1;
    }
    conn->res = r;
    /* The thread takes no signals: they are the job's. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    started = pthread_attr_init(&attr) == 0;
    if (started) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&th, &attr, resolve_main, r) == 0;
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!started) {
        /* No thread to spare: resolve here, the answer still goes through the loop. */
        sl_log(SL_LOG_WARN, "pulsar", "%s: no thread for resolving %s; resolving it on the loop",
               conn->cl->what, conn->host);
        resolve_main(r);
    }
    return 0;
}

static void conn_free(pl_conn_t *conn) {
    resolve_detach(conn);
    if (conn->addrs)
        freeaddrinfo(conn->addrs);
    free(conn->host);
    if (conn->tick)
        event_free(conn->tick);
    if (conn->kick)
        event_free(conn->kick);
    if (conn->bev)
        bufferevent_free(conn->bev);
    free(conn->key);
    free(conn->name);
    free(conn->proxy_to);
    free(conn);
}

/* Ends the connection: out of the client's list, socket closed, then (notify) every waiter,
 * request and handler hears why, one at a time so a callback may forget others. */
static void conn_close(pl_conn_t *conn, const char *why, int notify) {
    pl_client_t *cl = conn->cl;
    char msg[512];
    int was_ready = conn->state == ST_READY;
    if (conn->state == ST_CLOSED)
        return;
    conn->state = ST_CLOSED;
    snprintf(msg, sizeof(msg), "connection to %s: %s", conn->name, why);
    resolve_detach(conn);
    if (conn->bev) {
        bufferevent_free(conn->bev);
        conn->bev = NULL;
    }
    event_del(conn->tick);
    event_del(conn->kick);
    /* A connection that never became ready is reported by whoever waited for it (once per
     * outage, see pl_client_failed); one that worked and ended is news on its own. */
    if (notify && was_ready)
        sl_log(SL_LOG_INFO, "pulsar", "%s: %s", cl->what, msg);
    else if (notify)
        sl_log_debug("pulsar", "%s: %s", cl->what, msg);
    conn->dispatching++;
    while (conn->waiters) {
        waiter_t *w = conn->waiters;
        conn->waiters = w->next;
        if (notify)
            w->cb(w->opaque, NULL, msg);
        free(w);
    }
    while (conn->reqs) {
        req_t *r = conn->reqs;
        conn->reqs = r->next;
        if (notify)
            r->cb(r->opaque, NULL, NULL, msg);
        free(r);
    }
    while (conn->atts) {
        att_t *a = conn->atts;
        conn->atts = a->next;
        if (notify && a->h.on_closed)
            a->h.on_closed(a->opaque, conn, msg);
        free(a);
    }
    conn->dispatching--;
    for (pl_conn_t **pp = &cl->conns; *pp; pp = &(*pp)->next)
        if (*pp == conn) {
            *pp = conn->next;
            break;
        }
    if (!conn->dispatching)
        conn_free(conn);
}

void pl_conn_close(pl_conn_t *conn, const char *why) {
    conn_close(conn, why, 1);
}

static void send_connect(pl_conn_t *conn) {
    pl_client_t *cl = conn->cl;
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandConnect c = PULSAR__PROTO__COMMAND_CONNECT__INIT;
    Pulsar__Proto__FeatureFlags ff = PULSAR__PROTO__FEATURE_FLAGS__INIT;
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__CONNECT;
    cmd.connect = &c;
    c.client_version = "sluice-" PACKAGE_VERSION;
    c.has_protocol_version = 1;
    c.protocol_version = PL_PROTOCOL_VERSION;
    if (cl->auth_token) {
        c.auth_method_name = "token";
        c.has_auth_data = 1;
        c.auth_data.data = (uint8_t *)cl->auth_token;
        c.auth_data.len = strlen(cl->auth_token);
    }
    c.proxy_to_broker_url = conn->proxy_to;
    ff.has_supports_auth_refresh = 1;
    ff.supports_auth_refresh = 1;
    c.feature_flags = &ff;
    conn->state = ST_HANDSHAKE;
    if (write_cmd(conn, &cmd) < 0)
        conn_close(conn, "cannot send CONNECT", 1);
}

static void answer_challenge(pl_conn_t *conn) {
    pl_client_t *cl = conn->cl;
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandAuthResponse r = PULSAR__PROTO__COMMAND_AUTH_RESPONSE__INIT;
    Pulsar__Proto__AuthData ad = PULSAR__PROTO__AUTH_DATA__INIT;
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__AUTH_RESPONSE;
    cmd.authresponse = &r;
    r.client_version = "sluice-" PACKAGE_VERSION;
    r.has_protocol_version = 1;
    r.protocol_version = PL_PROTOCOL_VERSION;
    r.response = &ad;
    ad.auth_method_name = "token";
    ad.has_auth_data = 1;
    ad.auth_data.data = (uint8_t *)(cl->auth_token ? cl->auth_token : "");
    ad.auth_data.len = cl->auth_token ? strlen(cl->auth_token) : 0;
    write_cmd(conn, &cmd);
}

static req_t *take_req(pl_conn_t *conn, uint64_t id, int keep) {
    for (req_t **pp = &conn->reqs; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            req_t *r = *pp;
            if (!keep)
                *pp = r->next;
            return r;
        }
    return NULL;
}

static void answer(pl_conn_t *conn, uint64_t id, const pl_frame_t *f, int keep) {
    req_t *r = take_req(conn, id, keep);
    if (!r) {
        sl_log_debug("pulsar", "%s: answer to unknown request %llu", conn->name,
                     (unsigned long long)id);
        return;
    }
    r->cb(r->opaque, conn, f, NULL);
    if (!keep)
        free(r);
}

static void to_handler(pl_conn_t *conn, int kind, uint64_t id, const pl_frame_t *f) {
    for (att_t *a = conn->atts; a; a = a->next)
        if (a->kind == kind && a->id == id) {
            if (a->h.on_frame)
                a->h.on_frame(a->opaque, conn, f);
            return;
        }
    sl_log_debug("pulsar", "%s: frame type %d for unknown %s %llu", conn->name,
                 (int)f->cmd->type, kind == PL_PRODUCER ? "producer" : "consumer",
                 (unsigned long long)id);
}

static void dispatch(pl_conn_t *conn, const pl_frame_t *f) {
    pl_cmd_t *c = f->cmd;
    switch (c->type) {
    case PULSAR__PROTO__BASE_COMMAND__TYPE__CONNECTED:
        if (conn->state != ST_HANDSHAKE)
            break;
        if (c->connected && c->connected->has_max_message_size &&
            c->connected->max_message_size > 0)
            conn->max_message = (size_t)c->connected->max_message_size;
        conn->state = ST_READY;
        sl_log_debug("pulsar", "%s: connected to %s (%s, protocol %d)", conn->cl->what,
                     conn->name, c->connected ? c->connected->server_version : "?",
                     c->connected && c->connected->has_protocol_version
                         ? (int)c->connected->protocol_version : 0);
        if (conn->waiters)
            event_active(conn->kick, 0, 0);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__AUTH_CHALLENGE:
        answer_challenge(conn);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__PING: {
        pl_cmd_t pong = PULSAR__PROTO__BASE_COMMAND__INIT;
        Pulsar__Proto__CommandPong p = PULSAR__PROTO__COMMAND_PONG__INIT;
        pong.type = PULSAR__PROTO__BASE_COMMAND__TYPE__PONG;
        pong.pong = &p;
        write_cmd(conn, &pong);
        break;
    }
    case PULSAR__PROTO__BASE_COMMAND__TYPE__PONG:
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__ERROR:
        if (conn->state == ST_HANDSHAKE) {
            char why[600];
            snprintf(why, sizeof(why), "CONNECT refused: %s: %s",
                     c->error ? pl_server_error_name(c->error->error) : "?",
                     c->error && c->error->message ? c->error->message : "");
            conn_close(conn, why, 1);
        } else if (c->error) {
            answer(conn, c->error->request_id, f, 0);
        }
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__SUCCESS:
        if (c->success)
            answer(conn, c->success->request_id, f, 0);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__PRODUCER_SUCCESS:
        if (c->producer_success)
            answer(conn, c->producer_success->request_id, f,
                   c->producer_success->has_producer_ready && !c->producer_success->producer_ready);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__LOOKUP_RESPONSE:
        if (c->lookuptopicresponse)
            answer(conn, c->lookuptopicresponse->request_id, f, 0);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__PARTITIONED_METADATA_RESPONSE:
        if (c->partitionmetadataresponse)
            answer(conn, c->partitionmetadataresponse->request_id, f, 0);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__ACK_RESPONSE:
        if (c->ackresponse && c->ackresponse->has_request_id)
            answer(conn, c->ackresponse->request_id, f, 0);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__SEND_RECEIPT:
        if (c->send_receipt)
            to_handler(conn, PL_PRODUCER, c->send_receipt->producer_id, f);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__SEND_ERROR:
        if (c->send_error)
            to_handler(conn, PL_PRODUCER, c->send_error->producer_id, f);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__CLOSE_PRODUCER:
        if (c->close_producer)
            to_handler(conn, PL_PRODUCER, c->close_producer->producer_id, f);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__MESSAGE:
        if (c->message)
            to_handler(conn, PL_CONSUMER, c->message->consumer_id, f);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__CLOSE_CONSUMER:
        if (c->close_consumer)
            to_handler(conn, PL_CONSUMER, c->close_consumer->consumer_id, f);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__ACTIVE_CONSUMER_CHANGE:
        if (c->active_consumer_change)
            to_handler(conn, PL_CONSUMER, c->active_consumer_change->consumer_id, f);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__REACHED_END_OF_TOPIC:
        if (c->reachedendoftopic)
            to_handler(conn, PL_CONSUMER, c->reachedendoftopic->consumer_id, f);
        break;
    case PULSAR__PROTO__BASE_COMMAND__TYPE__TOPIC_MIGRATED:
        if (c->topicmigrated)
            to_handler(conn,
                       c->topicmigrated->resource_type ==
                               PULSAR__PROTO__COMMAND_TOPIC_MIGRATED__RESOURCE_TYPE__Producer
                           ? PL_PRODUCER : PL_CONSUMER,
                       c->topicmigrated->resource_id, f);
        break;
    default:
        sl_log_debug("pulsar", "%s: ignoring command type %d", conn->name, (int)c->type);
        break;
    }
}

static void read_cb(struct bufferevent *bev, void *arg) {
    pl_conn_t *conn = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t limit = conn->max_message + PL_FRAME_OVERHEAD;
    conn->last_rx_ms = sl_mono_ms();
    conn->ping_ms = 0;
    conn->dispatching++;
    while (conn->state != ST_CLOSED) {
        uint8_t hdr[4];
        size_t have = evbuffer_get_length(in), size;
        pl_frame_t f;
        char err[256];
        const uint8_t *p;
        if (have < 4)
            break;
        evbuffer_copyout(in, hdr, 4);
        size = pl_frame_size(hdr, 4);
        if (size < 8 || size > limit) {
            snprintf(err, sizeof(err), "protocol error: frame of %zu bytes (limit %zu)", size,
                     limit);
            conn_close(conn, err, 1);
            break;
        }
        if (have < size)
            break;
        if (!(p = evbuffer_pullup(in, (ev_ssize_t)size))) {
            conn_close(conn, "out of memory reading a frame", 1);
            break;
        }
        if (pl_frame_decode(p, size, limit, &f, err, sizeof(err)) < 0) {
            char why[300];
            snprintf(why, sizeof(why), "protocol error: %s", err);
            conn_close(conn, why, 1);
            break;
        }
        dispatch(conn, &f);
        pl_frame_clear(&f);
        if (conn->state != ST_CLOSED)
            evbuffer_drain(in, size);
    }
    conn->dispatching--;
    if (conn->state == ST_CLOSED && !conn->dispatching)
        conn_free(conn);
}

/* Whether the TCP connection of conn was ever made: a TLS bufferevent reports a refused or
 * unreachable address as an OpenSSL error too (lib 0, reason 5 on OpenSSL 3), and only a
 * connection that got a peer can have failed in TLS proper. The socket's pending error says
 * why the connect failed (into *err when not 0). */
static int tcp_connected(pl_conn_t *conn, int *err) {
    evutil_socket_t fd = conn->bev ? bufferevent_getfd(conn->bev) : -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int soerr = 0;
    socklen_t elen = sizeof(soerr);
    if (fd < 0)
        return 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        return 1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) == 0 && soerr)
        *err = soerr;
    return 0;
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
    pl_conn_t *conn = arg;
    char why[400];
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        conn->last_rx_ms = sl_mono_ms();
        send_connect(conn);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        snprintf(why, sizeof(why), "closed by the broker");
    } else {
        unsigned long e = conn->bev ? bufferevent_get_openssl_error(conn->bev) : 0;
        int err = EVUTIL_SOCKET_ERROR();
        SSL *ssl = conn->bev ? bufferevent_openssl_get_ssl(conn->bev) : NULL;
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (e && vr == X509_V_OK && !tcp_connected(conn, &err))
            e = 0; /* not a TLS failure: the address did not take the connection */
        if (vr == X509_V_OK && !e && conn_next_addr(conn)) {
            char addr[NI_MAXHOST] = "?";
            getnameinfo(conn->addr->ai_addr, conn->addr->ai_addrlen, addr, sizeof(addr), NULL, 0,
                        NI_NUMERICHOST);
            sl_log(SL_LOG_INFO, "pulsar", "%s: connection to %s: address %s: %s; trying the next",
                   conn->cl->what, conn->name, addr,
                   err ? evutil_socket_error_to_string(err) : "connection failed");
            conn->addr = conn->addr->ai_next;
            if (conn_try(conn) < 0)
                conn_close(conn, "out of memory", 1);
            return;
        }
        if (vr != X509_V_OK) {
            snprintf(why, sizeof(why), "TLS: certificate verify failed: %s",
                     X509_verify_cert_error_string(vr));
        } else if (e) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof(buf));
            snprintf(why, sizeof(why), "TLS: %s", buf);
        } else {
            snprintf(why, sizeof(why), "%s", err ? evutil_socket_error_to_string(err)
                                                 : "connection failed");
        }
    }
    conn_close(conn, why, 1);
}

static void kick_cb(evutil_socket_t fd, short what, void *arg) {
    pl_conn_t *conn = arg;
    (void)fd;
    (void)what;
    if (conn->state != ST_READY)
        return;
    conn->dispatching++;
    while (conn->waiters && conn->state == ST_READY) {
        waiter_t *w = conn->waiters;
        conn->waiters = w->next;
        w->cb(w->opaque, conn, NULL);
        free(w);
    }
    conn->dispatching--;
    if (conn->state == ST_CLOSED && !conn->dispatching)
        conn_free(conn);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {
    pl_conn_t *conn = arg;
    pl_client_t *cl = conn->cl;
    int64_t now = sl_mono_ms();
    (void)fd;
    (void)what;
    if (conn->state == ST_CONNECTING || conn->state == ST_HANDSHAKE) {
        if (now - conn->started_ms > cl->cc.connect_timeout_ms) {
            conn_close(conn, conn->state == ST_CONNECTING ? "connect timed out"
                                                          : "no CONNECTED from the broker in time",
                       1);
            return;
        }
    }
    conn->dispatching++;
    /* Requests past their deadline (or refused at once: deadline 0). */
    for (;;) {
        req_t *r = NULL;
        for (req_t **pp = &conn->reqs; *pp; pp = &(*pp)->next)
            if ((*pp)->deadline <= now) {
                r = *pp;
                *pp = r->next;
                break;
            }
        if (!r)
            break;
        r->cb(r->opaque, r->deadline ? conn : NULL, NULL,
              r->deadline ? "the broker did not answer within the operation timeout"
                          : "connection not ready");
        free(r);
        if (conn->state == ST_CLOSED)
            break;
    }
    conn->dispatching--;
    if (conn->state == ST_CLOSED) {
        if (!conn->dispatching)
            conn_free(conn);
        return;
    }
    if (conn->state == ST_READY && cl->cc.keepalive_ms > 0) {
        if (now - conn->last_rx_ms > 2 * cl->cc.keepalive_ms) {
            conn_close(conn, "no answer to keepalive pings", 1);
            return;
        }
        if (now - conn->last_rx_ms > cl->cc.keepalive_ms && !conn->ping_ms) {
            pl_cmd_t ping = PULSAR__PROTO__BASE_COMMAND__INIT;
            Pulsar__Proto__CommandPing p = PULSAR__PROTO__COMMAND_PING__INIT;
            ping.type = PULSAR__PROTO__BASE_COMMAND__TYPE__PING;
            ping.ping = &p;
            conn->ping_ms = now;
            write_cmd(conn, &ping);
        }
    }
}

static int split_hostport(const char *url, char **host, int *port, int *tls, char *errstr,
                          size_t errlen) {
    pl_url_t u;
    if (pl_url_parse(url, &u, errstr, errlen) < 0)
        return -1;
    *host = u.hosts[0];
    u.hosts[0] = NULL;
    *port = u.ports[0];
    *tls = u.tls;
    pl_url_clear(&u);
    return 0;
}

pl_conn_t *pl_client_conn(pl_client_t *cl, const char *broker_url, int proxy, char *errstr,
                          size_t errlen) {
    pl_conn_t *conn;
    char *host = NULL, key[1024];
    int port, tls;
    struct timeval tv = {0, TICK_MS * 1000};

    /* Connections are keyed by the broker's URL as lookups name it, so the service URL's
     * connection is reused when the lookup answers with the same broker (standalone, one
     * broker, or a proxy). */
    if (!broker_url) {
        for (conn = cl->conns; conn; conn = conn->next)
            for (int i = 0; i < cl->url.n; i++) {
                snprintf(key, sizeof(key), "%s://%s:%d", cl->url.tls ? "pulsar+ssl" : "pulsar",
                         cl->url.hosts[i], cl->url.ports[i]);
                if (!strcmp(conn->key, key) && conn->state != ST_CLOSED)
                    return conn;
            }
    } else {
        snprintf(key, sizeof(key), "%s%s", proxy ? "proxy:" : "", broker_url);
        for (conn = cl->conns; conn; conn = conn->next)
            if (!strcmp(conn->key, key) && conn->state != ST_CLOSED)
                return conn;
    }
    if (!broker_url || proxy) {
        /* The service URL: its hosts in turn, one per new connection. */
        int i = cl->next_host++ % cl->url.n;
        host = sl_strdup(cl->url.hosts[i]);
        port = cl->url.ports[i];
        tls = cl->url.tls;
        if (!broker_url)
            snprintf(key, sizeof(key), "%s://%s:%d", tls ? "pulsar+ssl" : "pulsar", host ? host : "",
                     port);
    } else if (split_hostport(broker_url, &host, &port, &tls, errstr, errlen) < 0) {
        return NULL;
    }
    if (!host || !(conn = calloc(1, sizeof(*conn)))) {
        free(host);
        sl_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    conn->cl = cl;
    conn->key = sl_strdup(key);
    conn->host = host;
    conn->port = port;
    conn->tls = tls;
    conn->max_message = PL_DEFAULT_MAX_MESSAGE;
    conn->started_ms = sl_mono_ms();
    {
        sl_sb_t sb = {0};
        sl_sb_printf(&sb, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
        conn->name = sb.buf;
    }
    if (proxy && broker_url)
        conn->proxy_to = sl_strdup(broker_url);
    conn->tick = event_new(cl->base, -1, EV_PERSIST, tick_cb, conn);
    conn->kick = event_new(cl->base, -1, 0, kick_cb, conn);
    if (!conn->key || !conn->name || !conn->tick || !conn->kick) {
        sl_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    if (tls && !cl->ssl_ctx) {
        sl_errf(errstr, errlen, "%s asks for TLS but the service URL is not pulsar+ssl://",
                broker_url);
        goto fail;
    }
    if (conn_start(conn, errstr, errlen) < 0)
        goto fail;
    event_add(conn->tick, &tv);
    conn->next = cl->conns;
    cl->conns = conn;
    return conn;
fail:
    conn_free(conn);
    return NULL;
}
