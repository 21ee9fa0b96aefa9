/*
 * metrics_http.c: the small HTTP server beside a running job that Prometheus scrapes
 * (GET /metrics, the text rendered by metrics.c) and that orchestrators probe (GET /healthz).
 * It runs libevent's evhttp on its own thread and event base so a slow scraper never stalls the
 * workers. The listening socket is opened here (not by evhttp_bind_socket) so a failure names the
 * address and the real errno; stopping is a byte written to a pipe the loop watches, which is
 * safe from any thread whether or not evthread locking was enabled.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "log_int.h"
#include "metrics.h"
#include "sluice/log.h"
#include "util_str.h"

#define METRICS_HTTP_TIMEOUT_S 10
#define METRICS_LISTEN_BACKLOG 64

struct sl_metrics_server {
    sl_metrics_t *m;
    const sl_log_cfg_t *log; /* the starting thread's: the job's, which outlives the server */
    int (*healthy)(void *, sl_sb_t *why);
    void *opaque;
    struct event_base *base;
    struct evhttp *http;
    struct event *stop_ev;
    int stop_fds[2]; /* [0] watched by the loop, [1] written by sl_metrics_server_stop() */
    pthread_t thread;
    int started; /* the thread runs and must be joined */
    int port;
};


/* "host:port", or "[v6]:port", for messages. */
static const char *addr_str(char *buf, size_t len, const char *host, int port) {
    if (strchr(host, ':'))
        snprintf(buf, len, "[%s]:%d", host, port);
    else
        snprintf(buf, len, "%s:%d", host, port);
    return buf;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                  const char *body, size_t len) {
    struct evbuffer *out = evbuffer_new();
    struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdrs, "Content-Type", ctype);
    evhttp_add_header(hdrs, "Cache-Control", "no-store");
    if (code == 405)
        evhttp_add_header(hdrs, "Allow", "GET");
    if (out && len)
        evbuffer_add(out, body, len);
    evhttp_send_reply(req, code, reason, out);
    if (out)
        evbuffer_free(out);
}

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *body) {
    reply(req, code, reason, "text/plain; charset=utf-8", body, strlen(body));
}

static void on_request(struct evhttp_request *req, void *arg) {
    sl_metrics_server_t *srv = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

    if (!path)
        path = "";
    if (strcmp(path, "/metrics") != 0 && strcmp(path, "/healthz") != 0) {
        reply_text(req, 404, "Not Found", "not found\n");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
        return;
    }
    if (!strcmp(path, "/healthz")) {
        sl_sb_t why = {0};
        sl_sb_printf(&why, "unhealthy\n");
        if (!srv->healthy || srv->healthy(srv->opaque, &why))
            reply_text(req, 200, "OK", "ok\n");
        else
            reply(req, 503, "Service Unavailable", "text/plain; charset=utf-8",
                  why.buf ? why.buf : "unhealthy\n", why.buf ? why.len : 10);
        sl_sb_free(&why);
        return;
    }
    sl_sb_t sb = {0};
    sl_metrics_render(srv->m, &sb);
    if (sb.oom)
        reply_text(req, 500, "Internal Server Error", "out of memory\n");
    else
        reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", sb.buf, sb.len);
    sl_sb_free(&sb);
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
    sl_metrics_server_t *srv = arg;
    (void)fd;
    (void)what;
    event_base_loopbreak(srv->base);
}

static void *server_main(void *arg) {
    sl_metrics_server_t *srv = arg;
    sl_log_scope(srv->log);
    event_base_dispatch(srv->base);
    return NULL;
}

/* Opens a non-blocking listening socket on host:port; -1 with errstr filled on failure. */
static int listen_on(const char *host, int port, char *errstr, size_t errlen) {
    struct addrinfo hints = {0}, *res = NULL, *ai;
    char portstr[16], addr[300];
    int fd = -1, rc, err = 0;
    const char *what = "bind";

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        sl_errf(errstr, errlen, "metrics server: cannot resolve %s: %s",
                addr_str(addr, sizeof(addr), host, port), gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            what = "socket";
            continue;
        }
        /* Lets a restarted server take its port back from connections in TIME_WAIT; it does
         * not let two listeners share a port on Linux. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            if (listen(fd, METRICS_LISTEN_BACKLOG) == 0)
                break;
            what = "listen";
        } else {
            what = "bind";
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        sl_errf(errstr, errlen, "metrics server: cannot %s %s: %s", what,
                addr_str(addr, sizeof(addr), host, port), strerror(err));
    return fd;
}

static int bound_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* Frees everything but the thread, which the caller has joined or never started. */
static void server_free(sl_metrics_server_t *srv) {
    if (srv->http)
        evhttp_free(srv->http); /* also closes the listening socket and open connections */
    if (srv->stop_ev)
        event_free(srv->stop_ev);
    if (srv->base)
        event_base_free(srv->base);
    for (int i = 0; i < 2; i++)
        if (srv->stop_fds[i] >= 0)
            close(srv->stop_fds[i]);
    free(srv);
}

sl_metrics_server_t *sl_metrics_server_start(sl_metrics_t *m, const char *host, int port,
                                             int (*healthy)(void *, sl_sb_t *why), void *opaque, char *errstr,
                                             size_t errlen) {
    sl_metrics_server_t *srv = NULL;
    sigset_t all, old;
    char addr[300];
    int fd = -1, rc;

    if (!host || !*host)
        host = "127.0.0.1";
    if (!m || port < 0 || port > 65535) {
        sl_errf(errstr, errlen, "metrics server: invalid port %d", port);
        return NULL;
    }
    srv = calloc(1, sizeof(*srv));
    if (!srv) {
        sl_errf(errstr, errlen, "metrics server: out of memory");
        return NULL;
    }
    srv->m = m;
    srv->healthy = healthy;
    srv->opaque = opaque;
    srv->stop_fds[0] = srv->stop_fds[1] = -1;
    if (pipe2(srv->stop_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        sl_errf(errstr, errlen, "metrics server: pipe: %s", strerror(errno));
        goto fail;
    }
    srv->base = event_base_new();
    srv->http = srv->base ? evhttp_new(srv->base) : NULL;
    srv->stop_ev = srv->base ? event_new(srv->base, srv->stop_fds[0], EV_READ, on_stop, srv)
                             : NULL;
    if (!srv->http || !srv->stop_ev || event_add(srv->stop_ev, NULL) != 0) {
        sl_errf(errstr, errlen, "metrics server: cannot create the event loop");
        goto fail;
    }
    /* Every method reaches on_request, which answers 405 itself instead of evhttp's 501. */
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                              EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(srv->http, METRICS_HTTP_TIMEOUT_S);
    evhttp_set_gencb(srv->http, on_request, srv);

    fd = listen_on(host, port, errstr, errlen);
    if (fd < 0)
        goto fail;
    if (!evhttp_accept_socket_with_handle(srv->http, fd)) {
        sl_errf(errstr, errlen, "metrics server: cannot accept on %s",
                addr_str(addr, sizeof(addr), host, port));
        close(fd);
        goto fail;
    }
    srv->port = bound_port(fd);

    /* The server thread takes no process signal (they belong to the job's threads), and a
     * SIGPIPE from writing to a scraper that went away is discarded with it. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    srv->log = sl_log_current();
    rc = pthread_create(&srv->thread, NULL, server_main, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        sl_errf(errstr, errlen, "metrics server: cannot start thread: %s", strerror(rc));
        goto fail;
    }
    srv->started = 1;
    sl_log(SL_LOG_INFO, "metrics", "serving /metrics and /healthz on %s",
           addr_str(addr, sizeof(addr), host, srv->port));
    return srv;
fail:
    server_free(srv);
    return NULL;
}

int sl_metrics_server_port(const sl_metrics_server_t *srv) {
    return srv ? srv->port : -1;
}

void sl_metrics_server_stop(sl_metrics_server_t *srv) {
    if (!srv)
        return;
    if (srv->started) {
        ssize_t w;
        do
            w = write(srv->stop_fds[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(srv->thread, NULL);
    }
    server_free(srv);
}
