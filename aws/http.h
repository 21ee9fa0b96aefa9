/*
 * http.h: an asynchronous HTTP client that lives on an event loop. libcurl's multi interface is
 * driven by libevent (curl_multi_socket_action with socket and timer callbacks), one client per
 * loop, so requests never block the loop that issued them; connections are kept alive and reused;
 * HTTP/1.1 and HTTP/2 (ALPN, needed for Kinesis SubscribeToShard). Every AWS call of sluice goes
 * through here. Not thread-safe: use a client only from the thread running its event base.
 */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "sluice/common.h"

typedef struct sl_http sl_http_t;
typedef struct sl_http_req sl_http_req_t;

typedef struct sl_http_opts {
    int64_t connect_timeout_ms; /* default 10000 */
    int64_t request_timeout_ms; /* whole request, including any wait for a free connection;
                                 * default 60000; 0 = none */
    size_t max_response;        /* buffered body limit in bytes; default 16 MiB; 0 = no limit.
                                 * Not applied to streamed bodies (sl_http_req_stream). */
    int max_connections;        /* total open connections; 0 = libcurl's default (no limit);
                                 * beyond it requests wait for a connection to free up */
    int verify_tls;             /* default 1; 0 (only on explicit configuration) disables peer
                                 * and host verification and logs a warning once per client */
    const char *ca_file;        /* PEM bundle; NULL = the system store */
    const char *proxy;          /* "host:port" or URL; NULL = libcurl's env handling */
    const char *proxy_user;
    const char *proxy_password; /* secret: never logged */
    const char *no_proxy;       /* comma-separated hosts; NULL = NO_PROXY from the env */
    const char *user_agent;     /* default "sluice/<version>" */
    int http2;                  /* default 1: negotiate HTTP/2 over TLS when offered */
} sl_http_opts_t;

/* Fills opts with the defaults above. */
void sl_http_opts_init(sl_http_opts_t *opts);

/* A client on base (borrowed; must outlive the client). opts and its strings are copied.
 * Returns NULL with errstr filled on failure. Caller frees with sl_http_destroy(). */
sl_http_t *sl_http_new(struct event_base *base, const sl_http_opts_t *opts, char *errstr,
                       size_t errlen);

/* Aborts every request in flight WITHOUT calling their callbacks, and frees the client. Accepts
 * NULL. Must not be called from inside an sl_http_cb or sl_http_data_cb of this client (defer
 * it to a later loop iteration, e.g. with event_base_once). */
void sl_http_destroy(sl_http_t *http);

/* Drops every request in flight whose callback opaque is opaque, without calling their
 * callbacks (for an owner going away before its replies). Returns how many. Not from inside a
 * data callback. */
int sl_http_cancel(sl_http_t *http, void *opaque);

/* The event base the client runs on. Borrowed. */
struct event_base *sl_http_base(const sl_http_t *http);

/* Requests in flight: sent, and their callback not called yet. */
int sl_http_pending(const sl_http_t *http);

/* --- requests ------------------------------------------------------------------------------ */

/* A new request (method and url copied). Caller owns it until sl_http_send(). */
sl_http_req_t *sl_http_req_new(const char *method, const char *url);
/* Adds a header (both copied). SL_ERR_INVAL when name is empty or holds ':' or a control
 * character, or value holds CR/LF. An empty value sends an empty header. Unless set here, libcurl's
 * default "Expect: 100-continue" is suppressed and a body gets no Content-Type. */
sl_err_t sl_http_req_header(sl_http_req_t *req, const char *name, const char *value);
/* Sets the body (copied; any bytes). A body is sent when set (not with HEAD), and always (empty
 * when none was set) with POST, PUT and PATCH. */
sl_err_t sl_http_req_body(sl_http_req_t *req, const void *data, size_t len);
/* Per-request timeout overriding the client's (ms; 0 = none). */
void sl_http_req_timeout(sl_http_req_t *req, int64_t ms);
/* Frees an unsent request. Accepts NULL. */
void sl_http_req_destroy(sl_http_req_t *req);

/* Streaming bodies (event streams): body bytes go to data_cb(opaque, ...) as they arrive (opaque
 * as given to sl_http_send) instead of being buffered; return non-zero from data_cb to abort the
 * transfer: the final callback still comes, with SL_ERR_IO. data_cb may call sl_http_send (the
 * new request is queued when data_cb returns). */
typedef int (*sl_http_data_cb)(void *opaque, const void *data, size_t len);
void sl_http_req_stream(sl_http_req_t *req, sl_http_data_cb data_cb);

/* --- responses ----------------------------------------------------------------------------- */

typedef struct sl_http_resp {
    sl_err_t err;        /* SL_OK: a response arrived (any status). SL_ERR_RETRY: timeout,
                          * connection refused/reset, DNS failure (retryable). SL_ERR_IO: any
                          * other transport failure (TLS verification, too large, aborted). */
    long status;         /* HTTP status, 0 when err != SL_OK */
    const char *body;    /* NUL-terminated buffered body ("" when streamed, empty, or on
                          * err != SL_OK) */
    size_t body_len;
    const char *error;   /* transport error text when err != SL_OK, else "" (never holds URL
                          * userinfo or the proxy password) */
    int64_t elapsed_ms;
    int http_version;    /* 1 or 2 (3 for HTTP/3); 0 when no response arrived */
    const char *headers; /* the final response's headers (not those of 1xx answers) as
                          * "name\0value\0" pairs ended by an empty name; NULL = none (a
                          * zero-initialised, hand-made resp works with sl_http_resp_header) */
} sl_http_resp_t;

/* A response header (case-insensitive name; the first when repeated), or NULL. Borrowed like
 * resp. */
const char *sl_http_resp_header(const sl_http_resp_t *resp, const char *name);

/* Called exactly once per sent request, on the loop thread, with resp borrowed for the call.
 * It may call sl_http_send (also on this client), but not sl_http_destroy of this client. */
typedef void (*sl_http_cb)(void *opaque, const sl_http_resp_t *resp);

/* Sends req, taking ownership of it (also on failure). cb(opaque, resp) follows later from the
 * event loop, never from inside this call. Returns SL_OK, or an error when the request could
 * not even be queued (then cb is never called). */
sl_err_t sl_http_send(sl_http_t *http, sl_http_req_t *req, sl_http_cb cb, void *opaque);

#endif
