/*
 * http.c: the asynchronous HTTP client of aws/http.h, beneath every AWS call of sluice. One
 * libcurl multi handle per client holds the connection pool (keep-alive, HTTP/2 multiplexing) and
 * is driven by the client's libevent base: libcurl tells us which sockets to watch (one event per
 * socket, re-armed when the interest changes) and when to wake it (one timer), we hand readiness
 * back with curl_multi_socket_action and collect finished transfers with curl_multi_info_read.
 * Nothing here blocks the loop and no callback runs inside sl_http_send. Easy handles are kept on
 * a small free list with the client-wide options already set, so a request only sets what is its
 * own. Secrets never leave: URLs are logged without userinfo and with AWS signing query values
 * masked, Authorization-like header values are never logged, error texts are scrubbed.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "http.h"
#include "log_int.h"
#include "sluice/log.h"
#include "util_str.h"

#define HTTP_SPARE_MAX 16 /* easy handles kept for reuse */
#define HTTP_DEFAULT_UA "sluice/" SL_VERSION_STR
/* libcurl does not time out a transfer that waits for a connection (max_connections reached, or
 * waiting to multiplex on HTTP/2): our own deadline, this long after libcurl's, ends those. */
#define HTTP_DEADLINE_GRACE_MS 50

#ifndef CURL_WRITEFUNC_ERROR
#define CURL_WRITEFUNC_ERROR 0xFFFFFFFF /* anything but the length aborts before curl 7.87 */
#endif

/* One socket libcurl asked us to watch. */
typedef struct http_sock {
    sl_http_t *http;
    struct event *ev;
    curl_socket_t fd;
    short what; /* EV_READ|EV_WRITE currently armed */
    struct http_sock *prev, *next;
} http_sock_t;

struct sl_http_req {
    /* built by the caller */
    char *method, *url;
    struct curl_slist *hdrs;
    int has_ctype, has_expect;
    char *body; /* NULL: none set */
    size_t body_len;
    int64_t timeout_ms;
    int timeout_set;
    sl_http_data_cb data_cb;

    /* in flight */
    sl_http_t *http;
    CURL *easy;
    sl_http_cb cb;
    void *opaque;
    int queued; /* waiting for curl_multi_add_handle (sent from inside a libcurl callback) */
    struct event *deadline; /* NULL when the request has no timeout */
    int64_t timeout_eff_ms;  /* the timeout in force */
    int64_t sent_ms;        /* monotonic, for elapsed_ms when libcurl never started it */
    int too_large, aborted, oom;
    sl_sb_t rbody;
    sl_sb_t rhdrs; /* "name\0value\0" pairs of the latest response */
    char errbuf[CURL_ERROR_SIZE];
    char msg[CURL_ERROR_SIZE + 128];
    sl_http_resp_t resp;
    sl_http_req_t *prev, *next;
};

struct sl_http {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    sl_http_opts_t opts; /* strings owned */
    CURL *spare[HTTP_SPARE_MAX];
    int nspare;
    sl_http_req_t *reqs; /* in flight (queued or added) */
    int pending;
    int nqueued; /* of which waiting for curl_multi_add_handle */
    http_sock_t *socks;
    int in_action; /* inside curl_multi_socket_action: libcurl refuses re-entrant adds */
};

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- process-wide libcurl initialisation ------------------------------------------------- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) {
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- redaction ---------------------------------------------------------------------------- */

static const char *const secret_params[] = {"X-Amz-Security-Token", "X-Amz-Signature",
                                            "X-Amz-Credential"};

static int is_secret_param(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof(secret_params) / sizeof(secret_params[0]); i++)
        if (strlen(secret_params[i]) == len && !strncasecmp(name, secret_params[i], len))
            return 1;
    return 0;
}

static int is_secret_header(const char *name, size_t len) {
    static const char *const names[] = {"Authorization", "Proxy-Authorization",
                                        "X-Amz-Security-Token", "Cookie", "Set-Cookie"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && !strncasecmp(name, names[i], len))
            return 1;
    return 0;
}

/* Removes "user:password@" from every "scheme://user:password@host" in s, in place. */
static void strip_userinfo(char *s) {
    char *p = s;
    while ((p = strstr(p, "://")) != NULL) {
        char *auth = p + 3, *end = auth + strcspn(auth, "/?# \t\r\n\"'"), *at = NULL;
        for (char *q = auth; q < end; q++)
            if (*q == '@')
                at = q;
        if (at)
            memmove(auth, at + 1, strlen(at + 1) + 1);
        p = auth;
    }
}

/* Masks every occurrence of secret in s, in place (same length, so no buffer games). */
static void mask_secret(char *s, const char *secret) {
    size_t n = secret ? strlen(secret) : 0;
    char *p = s;
    if (!n)
        return;
    while ((p = strstr(p, secret)) != NULL) {
        memset(p, '*', n);
        p += n;
    }
}

/* url for a log line: no userinfo, the values of AWS signing query parameters masked. */
static void redact_url(const char *url, sl_sb_t *out) {
    const char *scheme = strstr(url, "://"), *q, *frag;
    sl_sb_reset(out);
    if (scheme) {
        const char *auth = scheme + 3, *end = auth + strcspn(auth, "/?#"), *at = NULL;
        for (const char *c = auth; c < end; c++)
            if (*c == '@')
                at = c;
        sl_sb_append(out, url, (size_t)(auth - url));
        url = at ? at + 1 : auth;
    }
    q = strchr(url, '?');
    frag = strchr(url, '#');
    if (!q || (frag && frag < q)) {
        sl_sb_puts(out, url);
        return;
    }
    sl_sb_append(out, url, (size_t)(q + 1 - url));
    for (const char *p = q + 1; *p && *p != '#';) {
        size_t len = strcspn(p, "&#"), nlen = strcspn(p, "=&#");
        if (nlen < len && is_secret_param(p, nlen)) {
            sl_sb_append(out, p, nlen);
            sl_sb_puts(out, "=****");
        } else {
            sl_sb_append(out, p, len);
        }
        p += len;
        if (*p == '&') {
            sl_sb_putc(out, '&');
            p++;
        }
    }
    if (frag)
        sl_sb_puts(out, frag);
}

/* ---- options ------------------------------------------------------------------------------ */

void sl_http_opts_init(sl_http_opts_t *opts) {
    memset(opts, 0, sizeof(*opts));
    opts->connect_timeout_ms = 10000;
    opts->request_timeout_ms = 60000;
    opts->max_response = 16u << 20;
    opts->verify_tls = 1;
    opts->user_agent = HTTP_DEFAULT_UA;
    opts->http2 = 1;
}

static int dup_opt(const char **dst, const char *src) {
    char *copy;
    if (!src) {
        *dst = NULL;
        return 0;
    }
    copy = sl_strdup(src);
    *dst = copy;
    return copy ? 0 : -1;
}

static void free_opts(sl_http_opts_t *o) {
    free((char *)o->ca_file);
    free((char *)o->proxy);
    free((char *)o->proxy_user);
    free((char *)o->proxy_password);
    free((char *)o->no_proxy);
    free((char *)o->user_agent);
}

/* ---- easy handles ------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud);
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud);

/* A new easy handle with every client-wide option set. */
static CURL *easy_new(sl_http_t *http) {
    const sl_http_opts_t *o = &http->opts;
    CURL *easy = curl_easy_init();
    CURLcode rc = CURLE_OK;
    if (!easy)
        return NULL;
#define SETOPT(opt, val)                                                                         \
    do {                                                                                         \
        if (rc == CURLE_OK)                                                                      \
            rc = curl_easy_setopt(easy, opt, val);                                               \
    } while (0)
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    SETOPT(CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
    if (o->ca_file)
        SETOPT(CURLOPT_CAINFO, o->ca_file);
    if (o->proxy)
        SETOPT(CURLOPT_PROXY, o->proxy);
    if (o->proxy_user)
        SETOPT(CURLOPT_PROXYUSERNAME, o->proxy_user);
    if (o->proxy_password)
        SETOPT(CURLOPT_PROXYPASSWORD, o->proxy_password);
    if (o->no_proxy)
        SETOPT(CURLOPT_NOPROXY, o->no_proxy);
    SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SETOPT(CURLOPT_USERAGENT, o->user_agent);
    SETOPT(CURLOPT_HTTP_VERSION, o->http2 ? (long)CURL_HTTP_VERSION_2TLS
                                          : (long)CURL_HTTP_VERSION_1_1);
    if (o->http2)
        SETOPT(CURLOPT_PIPEWAIT, 1L); /* wait to multiplex rather than open more connections */
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
#undef SETOPT
    if (rc != CURLE_OK) {
        sl_log(SL_LOG_ERROR, "http", "cannot configure a transfer: %s", curl_easy_strerror(rc));
        curl_easy_cleanup(easy);
        return NULL;
    }
    return easy;
}

static CURL *easy_take(sl_http_t *http) {
    if (http->nspare > 0)
        return http->spare[--http->nspare];
    return easy_new(http);
}

/* Returns easy to the free list (or frees it), dropping its pointers into the finished request. */
static void easy_release(sl_http_t *http, CURL *easy) {
    if (!easy)
        return;
    if (http->nspare == HTTP_SPARE_MAX) {
        curl_easy_cleanup(easy);
        return;
    }
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L); /* forgets POSTFIELDS */
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, NULL);
    http->spare[http->nspare++] = easy;
}

/* Sets what belongs to req alone. Every option a previous request may have set is set again. */
static CURLcode easy_setup(sl_http_req_t *req, CURL *easy) {
    const char *m = req->method;
    int head = !strcmp(m, "HEAD");
    int has_body = !head && (req->body || !strcmp(m, "POST") || !strcmp(m, "PUT") ||
                             !strcmp(m, "PATCH"));
    int64_t tmo = req->timeout_eff_ms;
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val)                                                                         \
    do {                                                                                         \
        if (rc == CURLE_OK)                                                                      \
            rc = curl_easy_setopt(easy, opt, val);                                               \
    } while (0)
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_NOBODY, 0L);
    if (head) {
        SETOPT(CURLOPT_NOBODY, 1L);
        SETOPT(CURLOPT_CUSTOMREQUEST, NULL);
    } else if (has_body) {
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SETOPT(CURLOPT_POSTFIELDS, req->body ? req->body : "");
        SETOPT(CURLOPT_CUSTOMREQUEST, strcmp(m, "POST") ? m : NULL);
    } else {
        SETOPT(CURLOPT_HTTPGET, 1L);
        SETOPT(CURLOPT_CUSTOMREQUEST, strcmp(m, "GET") ? m : NULL);
    }
    SETOPT(CURLOPT_HTTPHEADER, req->hdrs);
    SETOPT(CURLOPT_TIMEOUT_MS, (long)(tmo > 0 ? tmo : 0));
    SETOPT(CURLOPT_ERRORBUFFER, req->errbuf);
    SETOPT(CURLOPT_PRIVATE, req);
    SETOPT(CURLOPT_WRITEDATA, req);
    SETOPT(CURLOPT_HEADERDATA, req);
#undef SETOPT
    return rc;
}

/* ---- requests ----------------------------------------------------------------------------- */

sl_http_req_t *sl_http_req_new(const char *method, const char *url) {
    sl_http_req_t *req;
    if (!method || !*method || !url || !*url)
        return NULL;
    req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    req->method = sl_strdup(method);
    req->url = sl_strdup(url);
    if (!req->method || !req->url) {
        sl_http_req_destroy(req);
        return NULL;
    }
    return req;
}

sl_err_t sl_http_req_header(sl_http_req_t *req, const char *name, const char *value) {
    struct curl_slist *l;
    sl_sb_t line = {0};
    if (!req || !name || !*name || !value || strpbrk(value, "\r\n"))
        return SL_ERR_INVAL;
    for (const char *p = name; *p; p++)
        if (*p == ':' || (unsigned char)*p <= ' ' || *p == 0x7f)
            return SL_ERR_INVAL;
    /* "Name;" is libcurl's spelling of a header with an empty value ("Name:" deletes it) */
    sl_sb_printf(&line, *value ? "%s: %s" : "%s;", name, value);
    if (line.oom)
        return SL_ERR_NOMEM;
    l = curl_slist_append(req->hdrs, line.buf);
    sl_sb_free(&line);
    if (!l)
        return SL_ERR_NOMEM;
    req->hdrs = l;
    if (sl_strieq(name, "Content-Type"))
        req->has_ctype = 1;
    if (sl_strieq(name, "Expect"))
        req->has_expect = 1;
    return SL_OK;
}

sl_err_t sl_http_req_body(sl_http_req_t *req, const void *data, size_t len) {
    char *copy;
    if (!req || (!data && len))
        return SL_ERR_INVAL;
    copy = malloc(len + 1);
    if (!copy)
        return SL_ERR_NOMEM;
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    free(req->body);
    req->body = copy;
    req->body_len = len;
    return SL_OK;
}

void sl_http_req_timeout(sl_http_req_t *req, int64_t ms) {
    if (!req)
        return;
    req->timeout_ms = ms > 0 ? ms : 0;
    req->timeout_set = 1;
}

void sl_http_req_stream(sl_http_req_t *req, sl_http_data_cb data_cb) {
    if (req)
        req->data_cb = data_cb;
}

void sl_http_req_destroy(sl_http_req_t *req) {
    if (!req)
        return;
    free(req->method);
    free(req->url);
    curl_slist_free_all(req->hdrs);
    free(req->body);
    sl_sb_free(&req->rbody);
    sl_sb_free(&req->rhdrs);
    free(req);
}

const char *sl_http_resp_header(const sl_http_resp_t *resp, const char *name) {
    const char *p;
    if (!resp || !resp->headers || !name)
        return NULL;
    for (p = resp->headers; *p;) {
        const char *hname = p, *value = p + strlen(p) + 1;
        if (sl_strieq(hname, name))
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

/* ---- libcurl data callbacks --------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
    sl_http_req_t *req = ud;
    size_t len = size * nmemb;
    size_t max = req->http->opts.max_response;
    if (req->data_cb) {
        if (req->data_cb(req->opaque, data, len) != 0) {
            req->aborted = 1;
            return CURL_WRITEFUNC_ERROR;
        }
        return len;
    }
    if (max && (len > max || req->rbody.len > max - len)) {
        req->too_large = 1;
        return CURL_WRITEFUNC_ERROR;
    }
    sl_sb_append(&req->rbody, data, len);
    if (req->rbody.oom) {
        req->oom = 1;
        return CURL_WRITEFUNC_ERROR;
    }
    return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud) {
    sl_http_req_t *req = ud;
    size_t len = size * nmemb, nlen, vstart, vend;
    const char *colon;
    /* a status line starts a new response (1xx, a proxy's CONNECT answer): keep the last one */
    if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
        sl_sb_reset(&req->rhdrs);
        return len;
    }
    colon = memchr(data, ':', len);
    if (!colon)
        return len; /* the blank line ending the headers */
    nlen = (size_t)(colon - data);
    while (nlen && (data[nlen - 1] == ' ' || data[nlen - 1] == '\t'))
        nlen--;
    vstart = (size_t)(colon - data) + 1;
    vend = len;
    while (vstart < vend && (data[vstart] == ' ' || data[vstart] == '\t'))
        vstart++;
    while (vend > vstart && (data[vend - 1] == '\r' || data[vend - 1] == '\n' ||
                             data[vend - 1] == ' ' || data[vend - 1] == '\t'))
        vend--;
    if (!nlen || memchr(data, '\0', vend))
        return len; /* nothing a lookup could find */
    sl_sb_append(&req->rhdrs, data, nlen);
    sl_sb_putc(&req->rhdrs, '\0');
    sl_sb_append(&req->rhdrs, data + vstart, vend - vstart);
    sl_sb_putc(&req->rhdrs, '\0');
    return len; /* on oom the headers are just lost: sl_sb_t stays consistent */
}

/* ---- completion --------------------------------------------------------------------------- */

static sl_err_t classify(CURLcode rc) {
    switch (rc) {
    case CURLE_OK:
        return SL_OK;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return SL_ERR_RETRY;
    default:
        return SL_ERR_IO;
    }
}

static void unlink_req(sl_http_t *http, sl_http_req_t *req) {
    if (req->prev)
        req->prev->next = req->next;
    else
        http->reqs = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    http->pending--;
}

static void log_done(sl_http_req_t *req, CURL *easy) {
    sl_sb_t url = {0};
    long conns = 0;
    if (!sl_log_debug_enabled("http"))
        return;
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &conns);
    redact_url(req->url, &url);
    if (req->resp.err == SL_OK)
        sl_log_debug("http", "%s %s -> %ld, %zu body bytes, HTTP/%d, %s connection, %lld ms",
                     req->method, url.oom ? "?" : url.buf, req->resp.status, req->resp.body_len,
                     req->resp.http_version, conns ? "new" : "reused",
                     (long long)req->resp.elapsed_ms);
    else
        sl_log_debug("http", "%s %s -> %s: %s, %lld ms", req->method, url.oom ? "?" : url.buf,
                     sl_err_str(req->resp.err), req->resp.error,
                     (long long)req->resp.elapsed_ms);
    sl_sb_free(&url);
}

/* Fills req->resp from the finished transfer (rc), unlinks req, calls its callback, frees it. */
static void finish(sl_http_t *http, sl_http_req_t *req, CURLcode rc) {
    sl_http_resp_t *resp = &req->resp;
    CURL *easy = req->easy;
    long version = 0;
    curl_off_t total_us = 0;

    resp->err = classify(rc);
    resp->body = "";
    resp->error = "";
    if (easy) {
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
        curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
    }
    resp->elapsed_ms = total_us > 0 ? (int64_t)(total_us / 1000) : mono_ms() - req->sent_ms;
    resp->http_version = version == CURL_HTTP_VERSION_2_0 ? 2
                         : version == CURL_HTTP_VERSION_3 ? 3
                         : version                        ? 1
                                                          : 0;
    if (resp->err == SL_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
        if (!req->data_cb && req->rbody.buf) {
            resp->body = req->rbody.buf;
            resp->body_len = req->rbody.len;
        }
    } else {
        if (req->too_large)
            snprintf(req->msg, sizeof(req->msg),
                     "response body exceeds max_response (%zu bytes); transfer aborted",
                     http->opts.max_response);
        else if (req->aborted)
            snprintf(req->msg, sizeof(req->msg), "transfer aborted by the data callback");
        else if (req->oom)
            snprintf(req->msg, sizeof(req->msg), "out of memory buffering the response body");
        else if (!req->msg[0])
            snprintf(req->msg, sizeof(req->msg), "%s (curl error %d)",
                     req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc), (int)rc);
        strip_userinfo(req->msg);
        mask_secret(req->msg, http->opts.proxy_password);
        sl_log_scrub(req->msg);
        resp->error = req->msg;
        resp->err = req->too_large || req->aborted || req->oom ? SL_ERR_IO : resp->err;
    }
    if (req->rhdrs.len && !req->rhdrs.oom) {
        sl_sb_putc(&req->rhdrs, '\0'); /* the empty name that ends the list */
        resp->headers = req->rhdrs.oom ? NULL : req->rhdrs.buf;
    }
    if (easy)
        log_done(req, easy);
    if (req->deadline) {
        event_free(req->deadline);
        req->deadline = NULL;
    }
    unlink_req(http, req);
    req->easy = NULL;
    easy_release(http, easy); /* before the callback, so a request it sends can reuse it */
    req->cb(req->opaque, resp);
    sl_http_req_destroy(req);
}

/* A request that libcurl kept waiting for a connection past its timeout. */
static void on_deadline(evutil_socket_t fd, short what, void *arg) {
    sl_http_req_t *req = arg;
    sl_http_t *http = req->http;
    if (req->queued) {
        req->queued = 0;
        http->nqueued--;
    } else {
        curl_multi_remove_handle(http->multi, req->easy);
    }
    snprintf(req->msg, sizeof(req->msg),
             "request timed out after %lld ms (no connection became available in time)",
             (long long)req->timeout_eff_ms);
    finish(http, req, CURLE_OPERATION_TIMEDOUT);
}

static void check_done(sl_http_t *http) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        curl_multi_remove_handle(http->multi, easy); /* msg is invalid from here */
        if (priv)
            finish(http, (sl_http_req_t *)priv, rc);
    }
}

/* Adds the requests sent while libcurl could not take them. */
static void flush_queued(sl_http_t *http) {
    sl_http_req_t *req, *next;
    if (!http->nqueued)
        return;
    for (req = http->reqs; req && http->nqueued; req = next) {
        next = req->next;
        if (!req->queued)
            continue;
        req->queued = 0;
        http->nqueued--;
        CURLMcode mrc = curl_multi_add_handle(http->multi, req->easy);
        if (mrc != CURLM_OK) {
            snprintf(req->msg, sizeof(req->msg), "cannot start the transfer: %s",
                     curl_multi_strerror(mrc));
            finish(http, req, CURLE_FAILED_INIT);
            next = http->reqs; /* the callback may have changed the list: rescan */
        }
    }
}

static void action(sl_http_t *http, curl_socket_t fd, int mask) {
    int running = 0;
    http->in_action = 1;
    curl_multi_socket_action(http->multi, fd, mask, &running);
    http->in_action = 0;
    flush_queued(http);
    check_done(http);
}

/* ---- libevent <-> libcurl ----------------------------------------------------------------- */

static void on_sock_event(evutil_socket_t fd, short what, void *arg) {
    http_sock_t *sock = arg;
    int mask = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    action(sock->http, (curl_socket_t)fd, mask); /* may free sock */
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
    action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void sock_free(sl_http_t *http, http_sock_t *sock) {
    if (sock->prev)
        sock->prev->next = sock->next;
    else
        http->socks = sock->next;
    if (sock->next)
        sock->next->prev = sock->prev;
    event_free(sock->ev);
    free(sock);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl wants now. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    sl_http_t *http = userp;
    http_sock_t *sock = socketp;
    short flags;

    if (what == CURL_POLL_REMOVE) {
        if (sock)
            sock_free(http, sock);
        return 0;
    }
    flags = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0));
    if (!sock) {
        sock = calloc(1, sizeof(*sock));
        if (!sock)
            return -1;
        sock->http = http;
        sock->fd = fd;
        sock->ev = event_new(http->base, fd, flags | EV_PERSIST, on_sock_event, sock);
        if (!sock->ev || curl_multi_assign(http->multi, fd, sock) != CURLM_OK) {
            if (sock->ev)
                event_free(sock->ev);
            free(sock);
            return -1;
        }
        sock->next = http->socks;
        if (http->socks)
            http->socks->prev = sock;
        http->socks = sock;
    } else if (sock->what == flags) {
        return 0; /* armed as wanted */
    } else {
        event_del(sock->ev);
        event_assign(sock->ev, http->base, fd, flags | EV_PERSIST, on_sock_event, sock);
    }
    sock->what = flags;
    return event_add(sock->ev, NULL) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: (re)arm or delete the one timer. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
    sl_http_t *http = userp;
    struct timeval tv;
    if (timeout_ms < 0)
        return evtimer_del(http->timer) == 0 ? 0 : -1;
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return evtimer_add(http->timer, &tv) == 0 ? 0 : -1;
}

/* ---- the client --------------------------------------------------------------------------- */

sl_http_t *sl_http_new(struct event_base *base, const sl_http_opts_t *opts, char *errstr,
                       size_t errlen) {
    sl_http_opts_t defaults;
    sl_http_t *http = NULL;
    CURLMcode mrc = CURLM_OK;

    if (!base) {
        sl_errf(errstr, errlen, "http: no event base");
        return NULL;
    }
    if (!opts) {
        sl_http_opts_init(&defaults);
        opts = &defaults;
    }
    if (opts->connect_timeout_ms < 0 || opts->request_timeout_ms < 0 ||
        opts->max_connections < 0) {
        sl_errf(errstr, errlen, "http: negative timeout or connection limit");
        return NULL;
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        sl_errf(errstr, errlen, "http: curl_global_init failed: %s",
                curl_easy_strerror(global_rc));
        return NULL;
    }
    http = calloc(1, sizeof(*http));
    if (!http)
        goto nomem;
    http->base = base;
    http->opts = *opts;
    if (dup_opt(&http->opts.ca_file, opts->ca_file) ||
        dup_opt(&http->opts.proxy, opts->proxy) ||
        dup_opt(&http->opts.proxy_user, opts->proxy_user) ||
        dup_opt(&http->opts.proxy_password, opts->proxy_password) ||
        dup_opt(&http->opts.no_proxy, opts->no_proxy) ||
        dup_opt(&http->opts.user_agent, opts->user_agent ? opts->user_agent : HTTP_DEFAULT_UA))
        goto nomem;
    http->timer = evtimer_new(base, on_timer, http);
    http->multi = curl_multi_init();
    if (!http->timer || !http->multi)
        goto nomem;
    mrc = curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    if (mrc == CURLM_OK)
        mrc = curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    if (mrc == CURLM_OK)
        mrc = curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    if (mrc == CURLM_OK)
        mrc = curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    if (mrc == CURLM_OK && opts->max_connections > 0)
        mrc = curl_multi_setopt(http->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                                (long)opts->max_connections);
    if (mrc != CURLM_OK) {
        sl_errf(errstr, errlen, "http: cannot configure libcurl: %s", curl_multi_strerror(mrc));
        sl_http_destroy(http);
        return NULL;
    }
    if (http->opts.proxy_password && sl_log_secret_add(http->opts.proxy_password) < 0) {
        sl_errf(errstr, errlen, "http: out of memory registering the proxy password for masking");
        sl_http_destroy(http);
        return NULL;
    }
    if (!opts->verify_tls)
        sl_log(SL_LOG_WARN, "http",
               "TLS verification is disabled (verify_tls=0): server certificates and host names "
               "are not checked");
    return http;

nomem:
    sl_errf(errstr, errlen, "http: out of memory");
    sl_http_destroy(http);
    return NULL;
}

/* Drops a request in flight without its callback. */
static void drop_req(sl_http_t *http, sl_http_req_t *req) {
    unlink_req(http, req);
    if (req->queued)
        http->nqueued--;
    if (req->deadline)
        event_free(req->deadline);
    if (req->easy) {
        if (!req->queued)
            curl_multi_remove_handle(http->multi, req->easy);
        curl_easy_cleanup(req->easy);
    }
    sl_http_req_destroy(req);
}

int sl_http_cancel(sl_http_t *http, void *opaque) {
    int n = 0;
    for (sl_http_req_t *req = http->reqs, *next; req; req = next) {
        next = req->next;
        if (req->opaque == opaque) {
            drop_req(http, req);
            n++;
        }
    }
    return n;
}

struct event_base *sl_http_base(const sl_http_t *http) {
    return http->base;
}

void sl_http_destroy(sl_http_t *http) {
    if (!http)
        return;
    while (http->reqs)
        drop_req(http, http->reqs);
    while (http->nspare > 0)
        curl_easy_cleanup(http->spare[--http->nspare]);
    if (http->multi)
        curl_multi_cleanup(http->multi); /* may still report sockets removed */
    while (http->socks)
        sock_free(http, http->socks);
    if (http->timer)
        event_free(http->timer);
    free_opts(&http->opts);
    free(http);
}

int sl_http_pending(const sl_http_t *http) {
    return http ? http->pending : 0;
}

static void log_send(const sl_http_req_t *req) {
    sl_sb_t line = {0}, url = {0};
    redact_url(req->url, &url);
    sl_sb_printf(&line, "send %s %s", req->method, url.oom ? "?" : url.buf);
    for (const struct curl_slist *h = req->hdrs; h; h = h->next) {
        size_t nlen = strcspn(h->data, ":;");
        sl_sb_printf(&line, "%s%.*s: %s", h == req->hdrs ? " [" : ", ", (int)nlen, h->data,
                     is_secret_header(h->data, nlen) ? "****"
                     : h->data[nlen] && h->data[nlen + 1] == ' ' ? h->data + nlen + 2
                                                                 : h->data + nlen + 1);
    }
    if (req->hdrs)
        sl_sb_putc(&line, ']');
    if (req->body)
        sl_sb_printf(&line, " (%zu body bytes)", req->body_len);
    if (!line.oom)
        sl_log_debug("http", "%s", line.buf);
    sl_sb_free(&line);
    sl_sb_free(&url);
}

sl_err_t sl_http_send(sl_http_t *http, sl_http_req_t *req, sl_http_cb cb, void *opaque) {
    sl_err_t err = SL_OK;
    CURLcode rc;
    CURLMcode mrc;

    if (!http || !req || !cb) {
        err = SL_ERR_INVAL;
        goto fail;
    }
    if (sl_log_debug_enabled("http"))
        log_send(req);
    /* libcurl's defaults that AWS does not want: a 1 s wait for "100 Continue" on large
     * bodies, and a form Content-Type on every body */
    if (!req->has_expect || (req->body && !req->has_ctype)) {
        struct curl_slist *l = req->hdrs;
        if (!req->has_expect)
            l = curl_slist_append(l, "Expect:");
        if (l && req->body && !req->has_ctype)
            l = curl_slist_append(l, "Content-Type:");
        if (!l) {
            err = SL_ERR_NOMEM;
            goto fail;
        }
        req->hdrs = l;
        req->has_expect = req->has_ctype = 1;
    }
    req->http = http;
    req->cb = cb;
    req->opaque = opaque;
    req->easy = easy_take(http);
    if (!req->easy) {
        err = SL_ERR_NOMEM;
        goto fail;
    }
    req->sent_ms = mono_ms();
    req->timeout_eff_ms = req->timeout_set ? req->timeout_ms : http->opts.request_timeout_ms;
    if (req->timeout_eff_ms > 0) {
        int64_t ms = req->timeout_eff_ms + HTTP_DEADLINE_GRACE_MS;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        req->deadline = evtimer_new(http->base, on_deadline, req);
        if (!req->deadline || evtimer_add(req->deadline, &tv) != 0) {
            err = SL_ERR_NOMEM;
            goto fail;
        }
    }
    rc = easy_setup(req, req->easy);
    if (rc != CURLE_OK) {
        sl_log(SL_LOG_ERROR, "http", "cannot set up %s request: %s", req->method,
               curl_easy_strerror(rc));
        err = rc == CURLE_OUT_OF_MEMORY ? SL_ERR_NOMEM : SL_ERR_INVAL;
        goto fail;
    }
    if (http->in_action) {
        req->queued = 1; /* libcurl refuses adds from its own callbacks: action() adds it */
        http->nqueued++;
    } else {
        mrc = curl_multi_add_handle(http->multi, req->easy);
        if (mrc != CURLM_OK) {
            sl_log(SL_LOG_ERROR, "http", "cannot start %s request: %s", req->method,
                   curl_multi_strerror(mrc));
            err = mrc == CURLM_OUT_OF_MEMORY ? SL_ERR_NOMEM : SL_ERR_IO;
            goto fail;
        }
    }
    req->next = http->reqs;
    if (http->reqs)
        http->reqs->prev = req;
    http->reqs = req;
    http->pending++;
    return SL_OK;

fail:
    if (req && req->deadline)
        event_free(req->deadline);
    if (req && req->easy) {
        easy_release(http, req->easy);
        req->easy = NULL;
    }
    sl_http_req_destroy(req);
    return err;
}
