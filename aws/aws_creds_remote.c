/*
 * aws_creds_remote.c: the credentials providers that ask a server, all through the loop's HTTP
 * client (http.h) so that a refresh never blocks the loop: STS AssumeRoleWithWebIdentity (the
 * Kubernetes/IRSA token file), STS AssumeRole signed with SigV4 using a nested source provider,
 * ECS/EKS container credentials, and EC2 instance metadata over IMDSv2. Also assembles the
 * default chain in the AWS SDK order. STS speaks the Query protocol: a form-encoded POST
 * answered in XML, of which a small scanner reads the handful of elements needed. Tokens and
 * keys are registered as log secrets the moment they are read and never put in a message.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws_creds.h"
#include "aws_endpoint.h"
#include "log_int.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

#define STS_VERSION "2011-06-15"
#define DEFAULT_TIMEOUT_MS 10000
#define META_TIMEOUT_MS 3000
#define IMDS_TOKEN_TTL_S 21600
#define MAX_TOKEN_FILE (64 * 1024)

/* ---- helpers ------------------------------------------------------------------------------- */

static char *dup_or_null(const char *s) {
    return s && *s ? sl_strdup(s) : NULL;
}

static void wipe_free(char *s) {
    if (!s)
        return;
    for (volatile char *p = s; *p; p++)
        *p = 0;
    free(s);
}

/* A request in flight; a cancelled fetch cancels it in the HTTP client (no callback comes). */
typedef void (*resp_fn)(void *owner, const sl_http_resp_t *resp);

typedef struct http_call {
    void *owner;
    struct http_call **slot;
    resp_fn fn;
} http_call_t;

static void call_done(void *opaque, const sl_http_resp_t *resp) {
    http_call_t *call = opaque;
    *call->slot = NULL;
    call->fn(call->owner, resp);
    free(call);
}

/* Sends req (ownership taken) and records the call in *slot. */
static sl_err_t call_send(sl_http_t *http, sl_http_req_t *req, http_call_t **slot, void *owner,
                          resp_fn fn) {
    http_call_t *call = calloc(1, sizeof(*call));
    sl_err_t err;
    if (!call) {
        sl_http_req_destroy(req);
        return SL_ERR_NOMEM;
    }
    call->owner = owner;
    call->slot = slot;
    call->fn = fn;
    err = sl_http_send(http, req, call_done, call);
    if (err != SL_OK) {
        free(call);
        return err;
    }
    *slot = call;
    return SL_OK;
}

static void call_abandon(sl_http_t *http, http_call_t **slot) {
    if (*slot) {
        sl_http_cancel(http, *slot);
        free(*slot);
        *slot = NULL;
    }
}

/* Splits an http(s) URL: *https, the authority (for Host, userinfo refused) and the path with
 * its query. Returns 0, or -1 when malformed. *authority is heap-allocated. */
static int url_split(const char *url, int *https, char **authority, const char **path) {
    const char *p, *end;
    if (!strncmp(url, "https://", 8)) {
        *https = 1;
        p = url + 8;
    } else if (!strncmp(url, "http://", 7)) {
        *https = 0;
        p = url + 7;
    } else {
        return -1;
    }
    end = p + strcspn(p, "/?#");
    if (end == p || memchr(p, '@', (size_t)(end - p)))
        return -1;
    if (!(*authority = sl_strndup(p, (size_t)(end - p))))
        return -1;
    *path = *end ? end : "/";
    return 0;
}

/* The host of an authority, without port and IPv6 brackets, into buf. */
static const char *authority_host(const char *auth, char *buf, size_t len) {
    size_t n;
    if (auth[0] == '[') {
        n = strcspn(auth + 1, "]");
        snprintf(buf, len, "%.*s", (int)n, auth + 1);
    } else {
        n = strcspn(auth, ":");
        snprintf(buf, len, "%.*s", (int)n, auth);
    }
    return buf;
}

/* application/x-www-form-urlencoded per RFC 3986: unreserved kept, the rest %XX. */
static void form_put(sl_sb_t *sb, const char *name, const char *value) {
    static const char hex[] = "0123456789ABCDEF";
    if (sb->len)
        sl_sb_putc(sb, '&');
    sl_sb_puts(sb, name);
    sl_sb_putc(sb, '=');
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            sl_sb_putc(sb, (char)*p);
        } else {
            sl_sb_putc(sb, '%');
            sl_sb_putc(sb, hex[*p >> 4]);
            sl_sb_putc(sb, hex[*p & 15]);
        }
    }
}

/* The text of the first element <tag> in body[0..len) (a bare tag, no attributes, no nested
 * elements), entities decoded. Returns a heap string, or NULL when absent or malformed. */
static char *xml_text(const char *body, size_t len, const char *tag) {
    char open[64], close[64];
    const char *s, *e, *end = body + len;
    sl_sb_t sb = {0};
    size_t ol;
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    ol = strlen(open);
    for (s = body; s + ol <= end; s++)
        if (*s == '<' && !memcmp(s, open, ol))
            break;
    if (s + ol > end)
        return NULL;
    s += ol;
    e = strstr(s, close);
    if (!e || e > end)
        return NULL;
    while (s < e) {
        if (*s == '<')
            goto fail; /* a nested element: not a text value */
        if (*s != '&') {
            sl_sb_putc(&sb, *s++);
            continue;
        }
        const char *semi = memchr(s, ';', (size_t)(e - s));
        size_t n;
        if (!semi || semi - s > 10)
            goto fail;
        n = (size_t)(semi - s + 1);
        if (n == 5 && !memcmp(s, "&amp;", 5))
            sl_sb_putc(&sb, '&');
        else if (n == 4 && !memcmp(s, "&lt;", 4))
            sl_sb_putc(&sb, '<');
        else if (n == 4 && !memcmp(s, "&gt;", 4))
            sl_sb_putc(&sb, '>');
        else if (n == 6 && !memcmp(s, "&quot;", 6))
            sl_sb_putc(&sb, '"');
        else if (n == 6 && !memcmp(s, "&apos;", 6))
            sl_sb_putc(&sb, '\'');
        else if (n > 3 && s[1] == '#') {
            char *stop;
            long cp = s[2] == 'x' ? strtol(s + 3, &stop, 16) : strtol(s + 2, &stop, 10);
            if (stop != semi || cp <= 0 || cp > 0x7f)
                goto fail; /* credentials are ASCII */
            sl_sb_putc(&sb, (char)cp);
        } else {
            goto fail;
        }
        s = semi + 1;
    }
    if (sb.oom)
        goto fail;
    if (!sb.buf)
        return sl_strdup("");
    return sb.buf;
fail:
    if (sb.buf)
        memset(sb.buf, 0, sb.len);
    sl_sb_free(&sb);
    return NULL;
}

/* Reads a small file (a token) whole, trailing whitespace trimmed. Caller frees. Returns NULL
 * with errno set on failure (EFBIG when too large). */
static char *read_small_file(const char *path) {
    FILE *fp = fopen(path, "r");
    sl_sb_t sb = {0};
    char buf[4096];
    size_t n;
    if (!fp)
        return NULL;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
        if (sb.len + n > MAX_TOKEN_FILE) {
            errno = EFBIG;
            goto fail;
        }
        sl_sb_append(&sb, buf, n);
    }
    if (ferror(fp) || sb.oom) {
        errno = sb.oom ? ENOMEM : EIO;
        goto fail;
    }
    fclose(fp);
    memset(buf, 0, sizeof(buf));
    while (sb.len && (sb.buf[sb.len - 1] == '\n' || sb.buf[sb.len - 1] == '\r' ||
                      sb.buf[sb.len - 1] == ' ' || sb.buf[sb.len - 1] == '\t'))
        sb.buf[--sb.len] = 0;
    if (!sb.buf)
        return sl_strdup("");
    return sb.buf;
fail:
    fclose(fp);
    memset(buf, 0, sizeof(buf));
    if (sb.buf)
        memset(sb.buf, 0, sb.len);
    sl_sb_free(&sb);
    return NULL;
}

/* Classifies a failed HTTP exchange into a provider error code. */
static sl_err_t resp_err(const sl_http_resp_t *resp) {
    if (resp->err != SL_OK)
        return resp->err == SL_ERR_RETRY ? SL_ERR_RETRY : SL_ERR_IO;
    if (resp->status >= 500 || resp->status == 429)
        return SL_ERR_RETRY;
    return SL_ERR_INVAL;
}

/* Credentials from a JSON document with AccessKeyId, SecretAccessKey, Token (or SessionToken)
 * and Expiration (ISO 8601): the container and IMDS format. Reports through prov. */
static void report_json_creds(sl_creds_provider_t *prov, const sl_http_resp_t *resp) {
    json_error_t jerr;
    json_t *root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    json_t *ak, *sk, *tok, *exp, *code;
    int64_t expires = 0;
    sl_creds_value_t v;
    sl_err_t err;
    if (!json_is_object(root)) {
        /* jansson's text may quote the body, which holds secrets: position only */
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL,
                               "response is not a JSON object (line %d, column %d)", jerr.line,
                               jerr.column);
        goto done;
    }
    ak = json_object_get(root, "AccessKeyId");
    sk = json_object_get(root, "SecretAccessKey");
    tok = json_object_get(root, "Token");
    if (!json_is_string(tok))
        tok = json_object_get(root, "SessionToken");
    exp = json_object_get(root, "Expiration");
    code = json_object_get(root, "Code");
    /* Masked in every log line before anything can print them; if they cannot be, not used. */
    if ((json_is_string(sk) && sl_log_secret_add(json_string_value(sk)) < 0) ||
        (json_is_string(tok) && sl_log_secret_add(json_string_value(tok)) < 0)) {
        sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL,
                               "out of memory registering the credentials for masking in logs");
        goto done;
    }
    if (json_is_string(code) && strcmp(json_string_value(code), "Success") != 0) {
        sl_creds_provider_done(prov, SL_ERR_RETRY, NULL, "the server answered Code '%.64s'",
                               json_string_value(code));
        goto done;
    }
    if (!json_is_string(ak) || !json_is_string(sk)) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL,
                               "response lacks AccessKeyId or SecretAccessKey");
        goto done;
    }
    if (json_is_string(exp) && sl_creds_parse_time(json_string_value(exp), &expires)) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL,
                               "response Expiration is not an ISO 8601 time");
        goto done;
    }
    err = sl_creds_value_set(&v, json_string_value(ak), json_string_value(sk),
                             json_is_string(tok) ? json_string_value(tok) : NULL, expires);
    if (err != SL_OK)
        sl_creds_provider_done(prov, err, NULL, "response has empty credentials");
    else
        sl_creds_provider_done(prov, SL_OK, &v, NULL);
done:
    json_decref(root);
}

/* ---- STS: AssumeRole and AssumeRoleWithWebIdentity ---------------------------------------- */

typedef struct sts_ctx {
    struct event_base *base;
    sl_http_t *http;
    int web_identity;
    char *region, *endpoint, *profile, *role_arn, *session_name, *external_id, *token_file;
    int duration_s;
    int64_t timeout_ms;
    sl_creds_provider_t *source; /* AssumeRole: where the signing credentials come from */
    sl_creds_provider_t *self;
    http_call_t *call;
} sts_ctx_t;

static void sts_destroy(void *ctx) {
    sts_ctx_t *sc = ctx;
    call_abandon(sc->http, &sc->call);
    sl_creds_provider_destroy(sc->source);
    free(sc->region);
    free(sc->endpoint);
    free(sc->profile);
    free(sc->role_arn);
    free(sc->session_name);
    free(sc->external_id);
    free(sc->token_file);
    free(sc);
}

static void sts_cancel(sl_creds_provider_t *prov, void *ctx) {
    sts_ctx_t *sc = ctx;
    (void)prov;
    call_abandon(sc->http, &sc->call);
    if (sc->source)
        sl_creds_provider_cancel(sc->source);
}

static const char *sts_region(const sts_ctx_t *sc) {
    const char *r = sc->region ? sc->region : sl_getenv_nonempty("AWS_REGION");
    return r ? r : sl_getenv_nonempty("AWS_DEFAULT_REGION");
}

/* The endpoint URL into sb, in the SDKs' order (aws_endpoint.h); without any setting the
 * regional endpoint (the global one without a region). */
static void sts_url(const sts_ctx_t *sc, sl_sb_t *sb) {
    const char *region = sts_region(sc);
    aws_endpoint_t ep;
    if (aws_endpoint_resolve("sts", sc->endpoint, "aws.sts.endpoint", sc->profile, &ep) !=
        AWS_EP_DEFAULT)
        sl_sb_puts(sb, ep.url);
    else if (!region)
        sl_sb_puts(sb, "https://sts.amazonaws.com");
    else
        sl_sb_printf(sb, "https://sts.%s.amazonaws.com%s", region,
                     !strncmp(region, "cn-", 3) ? ".cn" : "");
    if (ep.src == AWS_EP_DEFAULT)
        snprintf(ep.from, sizeof(ep.from), "%s%s", region ? "region " : "no region: global",
                 region ? region : "");
    if (!sb->oom)
        aws_endpoint_note("sts", sb->buf, ep.from);
}

static void sts_on_resp(void *owner, const sl_http_resp_t *resp) {
    sts_ctx_t *sc = owner;
    sl_creds_provider_t *prov = sc->self;
    const char *what = sc->web_identity ? "AssumeRoleWithWebIdentity" : "AssumeRole";
    char *ak = NULL, *sk = NULL, *tok = NULL, *exp = NULL, *code = NULL, *msg = NULL;
    int64_t expires = 0;
    sl_creds_value_t v;
    sl_err_t err;

    if (resp->err != SL_OK) {
        sl_creds_provider_done(prov, resp_err(resp), NULL, "%s: %s", what, resp->error);
        return;
    }
    if (resp->status != 200) {
        code = xml_text(resp->body, resp->body_len, "Code");
        msg = xml_text(resp->body, resp->body_len, "Message");
        err = resp_err(resp);
        if (code && (!strcmp(code, "Throttling") || !strcmp(code, "IDPCommunicationError") ||
                     !strcmp(code, "RequestExpired")))
            err = SL_ERR_RETRY;
        sl_creds_provider_done(prov, err, NULL, "%s: HTTP %ld %.64s%s%.200s", what, resp->status,
                               code ? code : "", msg ? ": " : "", msg ? msg : "");
        goto done;
    }
    ak = xml_text(resp->body, resp->body_len, "AccessKeyId");
    sk = xml_text(resp->body, resp->body_len, "SecretAccessKey");
    tok = xml_text(resp->body, resp->body_len, "SessionToken");
    exp = xml_text(resp->body, resp->body_len, "Expiration");
    if ((sk && sl_log_secret_add(sk) < 0) || (tok && sl_log_secret_add(tok) < 0)) {
        sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL,
                               "%s: out of memory registering the credentials for masking in logs",
                               what);
        goto done;
    }
    if (!ak || !sk || !tok || !*ak || !*sk || !*tok) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL,
                               "%s: the response has no complete Credentials element", what);
        goto done;
    }
    if (!exp || sl_creds_parse_time(exp, &expires)) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL,
                               "%s: the response has no valid Expiration", what);
        goto done;
    }
    err = sl_creds_value_set(&v, ak, sk, tok, expires);
    if (err != SL_OK) {
        sl_creds_provider_done(prov, err, NULL, "%s: out of memory", what);
        goto done;
    }
    sl_log_debug("creds", "%s: %s for %s succeeded, expires in %lld s", sl_creds_provider_name(prov),
                 what, sc->role_arn ? sc->role_arn : "(env role)",
                 (long long)((expires - sl_now_ms()) / 1000));
    sl_creds_provider_done(prov, SL_OK, &v, NULL);
done:
    free(ak);
    wipe_free(sk);
    wipe_free(tok);
    free(exp);
    free(code);
    free(msg);
}

/* Builds the STS POST for body (borrowed) signed with creds (NULL = unsigned) and sends it. */
static void sts_send(sts_ctx_t *sc, const char *body, size_t body_len, const sl_aws_creds_t *creds) {
    sl_creds_provider_t *prov = sc->self;
    sl_sb_t url = {0};
    char *auth = NULL, errstr[256];
    const char *path, *region = sts_region(sc);
    int https;
    sl_http_req_t *req = NULL;
    aws_sigv4_result_t sig;
    sl_err_t err;
    static const char ctype[] = "application/x-www-form-urlencoded; charset=utf-8";

    memset(&sig, 0, sizeof(sig));
    sts_url(sc, &url);
    if (url.oom || url_split(url.buf, &https, &auth, &path)) {
        sl_creds_provider_done(prov, SL_ERR_CONF, NULL, "malformed STS endpoint URL '%s'",
                               url.buf ? url.buf : "");
        goto done;
    }
    if (!(req = sl_http_req_new("POST", url.buf)) || sl_http_req_header(req, "Host", auth) ||
        sl_http_req_header(req, "Content-Type", ctype) ||
        sl_http_req_header(req, "Accept", "text/xml") ||
        sl_http_req_body(req, body, body_len)) {
        sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL, "cannot build the STS request");
        goto done;
    }
    sl_http_req_timeout(req, sc->timeout_ms);
    if (creds) {
        aws_sigv4_header_t hdrs[2] = {{"Host", auth}, {"Content-Type", ctype}};
        aws_sigv4_req_t sreq;
        aws_sigv4_params_t params;
        const char *q = strchr(path, '?');
        char *plain_path = sl_strndup(path, q ? (size_t)(q - path) : strlen(path));
        memset(&sreq, 0, sizeof(sreq));
        memset(&params, 0, sizeof(params));
        sreq.method = "POST";
        sreq.path = plain_path ? plain_path : "/";
        sreq.query = q ? q + 1 : "";
        sreq.headers = hdrs;
        sreq.nheaders = 2;
        sreq.body = body;
        sreq.body_len = body_len;
        params.region = region ? region : "us-east-1";
        params.service = "sts";
        params.now_ms = sl_now_ms();
        params.normalize_path = 1;
        err = aws_sigv4_sign(&sreq, creds, &params, &sig, errstr, sizeof(errstr));
        free(plain_path);
        if (err != SL_OK) {
            sl_creds_provider_done(prov, err, NULL, "signing AssumeRole failed: %s", errstr);
            goto done;
        }
        if (sl_http_req_header(req, "X-Amz-Date", sig.amz_date) ||
            sl_http_req_header(req, "Authorization", sig.authorization) ||
            (creds->session_token &&
             sl_http_req_header(req, "X-Amz-Security-Token", creds->session_token))) {
            sl_creds_provider_done(prov, SL_ERR_INVAL, NULL, "cannot add the signature headers");
            goto done;
        }
    }
    sl_log_debug("creds", "%s: POST %s (%s)", sl_creds_provider_name(prov), url.buf,
                 sc->web_identity ? "AssumeRoleWithWebIdentity" : "AssumeRole");
    err = call_send(sc->http, req, &sc->call, sc, sts_on_resp);
    req = NULL;
    if (err != SL_OK)
        sl_creds_provider_done(prov, err, NULL, "cannot send the STS request: %s",
                               sl_err_str(err));
done:
    sl_http_req_destroy(req);
    aws_sigv4_result_free(&sig);
    free(auth);
    sl_sb_free(&url);
}

/* The session name: configured, else AWS_ROLE_SESSION_NAME (web identity), else generated. */
static void sts_session_name(const sts_ctx_t *sc, char *buf, size_t len) {
    const char *env = sc->web_identity ? sl_getenv_nonempty("AWS_ROLE_SESSION_NAME") : NULL;
    if (sc->session_name)
        snprintf(buf, len, "%s", sc->session_name);
    else if (env)
        snprintf(buf, len, "%s", env);
    else
        snprintf(buf, len, "sluice-%lld", (long long)sl_now_ms());
}

static void sts_on_source(void *opaque, sl_err_t err, sl_creds_value_t *val, const char *msg) {
    sts_ctx_t *sc = opaque;
    sl_sb_t body = {0};
    sl_aws_creds_t creds;
    char session[128], dur[32];
    if (err != SL_OK) {
        sl_creds_provider_done(sc->self, err, NULL, "no source credentials to assume %s with: %s",
                               sc->role_arn, msg);
        return;
    }
    sts_session_name(sc, session, sizeof(session));
    form_put(&body, "Action", "AssumeRole");
    form_put(&body, "Version", STS_VERSION);
    form_put(&body, "RoleArn", sc->role_arn);
    form_put(&body, "RoleSessionName", session);
    if (sc->external_id)
        form_put(&body, "ExternalId", sc->external_id);
    if (sc->duration_s > 0) {
        snprintf(dur, sizeof(dur), "%d", sc->duration_s);
        form_put(&body, "DurationSeconds", dur);
    }
    if (body.oom) {
        sl_creds_provider_done(sc->self, SL_ERR_NOMEM, NULL, "out of memory");
    } else {
        creds.access_key = val->access_key;
        creds.secret_key = val->secret_key;
        creds.session_token = val->session_token;
        sts_send(sc, body.buf, body.len, &creds);
    }
    sl_sb_free(&body);
}

static sl_err_t sts_fetch(sl_creds_provider_t *prov, void *ctx) {
    sts_ctx_t *sc = ctx;
    const char *token_file, *role;
    char *token = NULL, session[128];
    sl_sb_t body = {0};
    sl_err_t err;

    sc->self = prov;
    if (!sc->web_identity) {
        err = sl_creds_provider_fetch(sc->source, sts_on_source, sc);
        if (err != SL_OK)
            sl_creds_provider_done(prov, err, NULL, "cannot fetch source credentials: %s",
                                   sl_err_str(err));
        return SL_OK;
    }
    token_file = sc->token_file ? sc->token_file : sl_getenv_nonempty("AWS_WEB_IDENTITY_TOKEN_FILE");
    role = sc->role_arn ? sc->role_arn : sl_getenv_nonempty("AWS_ROLE_ARN");
    if (!token_file || !role) {
        sl_creds_provider_done(prov, SL_ERR_NOENT, NULL, "%s is not set",
                               token_file ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE");
        return SL_OK;
    }
    if (!(token = read_small_file(token_file))) {
        sl_creds_provider_done(prov, SL_ERR_IO, NULL, "cannot read the web identity token file %s: %s",
                               token_file, strerror(errno));
        return SL_OK;
    }
    if (sl_log_secret_add(token) < 0) {
        sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL,
                               "out of memory registering the web identity token for masking");
        goto done;
    }
    if (!*token) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL, "the web identity token file %s is empty",
                               token_file);
        goto done;
    }
    sts_session_name(sc, session, sizeof(session));
    form_put(&body, "Action", "AssumeRoleWithWebIdentity");
    form_put(&body, "Version", STS_VERSION);
    form_put(&body, "RoleArn", role);
    form_put(&body, "RoleSessionName", session);
    form_put(&body, "WebIdentityToken", token);
    if (sc->duration_s > 0) {
        char dur[32];
        snprintf(dur, sizeof(dur), "%d", sc->duration_s);
        form_put(&body, "DurationSeconds", dur);
    }
    if (body.oom)
        sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL, "out of memory");
    else
        sts_send(sc, body.buf, body.len, NULL); /* this call is authorised by the token alone */
done:
    if (body.buf)
        memset(body.buf, 0, body.len);
    sl_sb_free(&body);
    wipe_free(token);
    return SL_OK;
}

static const sl_creds_provider_ops_t sts_ops = {sts_fetch, sts_cancel, sts_destroy};

static sts_ctx_t *sts_ctx_new(struct event_base *base, sl_http_t *http,
                              const sl_creds_sts_opts_t *opts, int web_identity) {
    sts_ctx_t *sc = calloc(1, sizeof(*sc));
    sl_creds_sts_opts_t none;
    if (!sc)
        return NULL;
    if (!opts) {
        memset(&none, 0, sizeof(none));
        opts = &none;
    }
    sc->base = base;
    sc->http = http;
    sc->web_identity = web_identity;
    sc->duration_s = opts->duration_s;
    sc->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    if ((opts->region && *opts->region && !(sc->region = dup_or_null(opts->region))) ||
        (opts->endpoint && *opts->endpoint && !(sc->endpoint = dup_or_null(opts->endpoint))) ||
        (opts->profile && *opts->profile && !(sc->profile = dup_or_null(opts->profile))) ||
        (opts->role_arn && *opts->role_arn && !(sc->role_arn = dup_or_null(opts->role_arn))) ||
        (opts->session_name && *opts->session_name &&
         !(sc->session_name = dup_or_null(opts->session_name))) ||
        (opts->external_id && *opts->external_id &&
         !(sc->external_id = dup_or_null(opts->external_id))) ||
        (opts->token_file && *opts->token_file &&
         !(sc->token_file = dup_or_null(opts->token_file)))) {
        sts_destroy(sc);
        return NULL;
    }
    return sc;
}

sl_creds_provider_t *sl_creds_web_identity_new(struct event_base *base, sl_http_t *http,
                                               const sl_creds_sts_opts_t *opts) {
    sts_ctx_t *sc;
    if (!http || !(sc = sts_ctx_new(base, http, opts, 1)))
        return NULL;
    return sl_creds_provider_new(base, &sts_ops, sc, "web-identity");
}

sl_creds_provider_t *sl_creds_assume_role_new(struct event_base *base, sl_http_t *http,
                                              const sl_creds_sts_opts_t *opts,
                                              sl_creds_provider_t *source, char *errstr,
                                              size_t errlen) {
    sts_ctx_t *sc = NULL;
    sl_sb_t url = {0};
    char *auth = NULL, name[320];
    const char *path;
    int https;
    if (!http || !source) {
        sl_errf(errstr, errlen, "AssumeRole needs an HTTP client and a source provider");
        goto fail;
    }
    if (!opts || !opts->role_arn || !*opts->role_arn) {
        sl_errf(errstr, errlen, "AssumeRole needs a role ARN");
        goto fail;
    }
    if (opts->duration_s && (opts->duration_s < 1 || opts->duration_s > 43200)) {
        sl_errf(errstr, errlen, "AssumeRole duration must be between 1 and 43200 seconds");
        goto fail;
    }
    if (!(sc = sts_ctx_new(base, http, opts, 0))) {
        sl_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    sts_url(sc, &url);
    if (url.oom || url_split(url.buf, &https, &auth, &path)) {
        sl_errf(errstr, errlen, "malformed STS endpoint URL '%s'", url.buf ? url.buf : "");
        goto fail;
    }
    sc->source = source;
    source = NULL;
    free(auth);
    sl_sb_free(&url);
    snprintf(name, sizeof(name), "assume-role %s", sc->role_arn);
    return sl_creds_provider_new(base, &sts_ops, sc, name);
fail:
    free(auth);
    sl_sb_free(&url);
    if (sc)
        sts_destroy(sc);
    sl_creds_provider_destroy(source);
    return NULL;
}

/* ---- container credentials (ECS, EKS pod identity) ----------------------------------------- */

typedef struct container_ctx {
    sl_http_t *http;
    char *base_url;
    sl_creds_provider_t *self;
    http_call_t *call;
} container_ctx_t;

/* Plain http is allowed only to hosts that cannot be on the network path: loopback, and the
 * ECS and EKS agents' link-local addresses. */
static int container_host_ok(const char *host) {
    return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1") ||
           !strcmp(host, "169.254.170.2") || !strcmp(host, "169.254.170.23") ||
           !strcmp(host, "fd00:ec2::23");
}

static void container_on_resp(void *owner, const sl_http_resp_t *resp) {
    container_ctx_t *cc = owner;
    if (resp->err != SL_OK) {
        sl_creds_provider_done(cc->self, resp_err(resp), NULL, "%s", resp->error);
        return;
    }
    if (resp->status != 200) {
        sl_creds_provider_done(cc->self, resp_err(resp), NULL, "HTTP %ld", resp->status);
        return;
    }
    report_json_creds(cc->self, resp);
}

static sl_err_t container_fetch(sl_creds_provider_t *prov, void *ctx) {
    container_ctx_t *cc = ctx;
    const char *rel = sl_getenv_nonempty("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = sl_getenv_nonempty("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tok_file = sl_getenv_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *tok_env = sl_getenv_nonempty("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    char *token = NULL, *auth = NULL, host[256];
    const char *path;
    int https;
    sl_sb_t url = {0};
    sl_http_req_t *req = NULL;
    sl_err_t err;

    cc->self = prov;
    if (rel) {
        sl_sb_printf(&url, "%s%s%s", cc->base_url, rel[0] == '/' ? "" : "/", rel);
    } else if (full) {
        sl_sb_puts(&url, full);
    } else {
        sl_creds_provider_done(prov, SL_ERR_NOENT, NULL,
                               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                               "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set");
        goto done;
    }
    if (url.oom || url_split(url.buf, &https, &auth, &path)) {
        sl_creds_provider_done(prov, SL_ERR_CONF, NULL, "malformed container credentials URL");
        goto done;
    }
    if (!rel && !https && !container_host_ok(authority_host(auth, host, sizeof(host)))) {
        sl_creds_provider_done(prov, SL_ERR_CONF, NULL,
                               "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http to a "
                               "loopback or ECS/EKS agent address, not host '%s'",
                               host);
        goto done;
    }
    if (tok_file) {
        if (!(token = read_small_file(tok_file))) {
            sl_creds_provider_done(prov, SL_ERR_IO, NULL,
                                   "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s: %s",
                                   tok_file, strerror(errno));
            goto done;
        }
    } else if (tok_env && !(token = sl_strdup(tok_env))) {
        sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    if (token) {
        if (sl_log_secret_add(token) < 0) {
            sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL, "out of memory registering the "
                                   "container authorization token for masking");
            goto done;
        }
        if (strpbrk(token, "\r\n")) {
            sl_creds_provider_done(prov, SL_ERR_CONF, NULL,
                                   "the container authorization token contains a line break");
            goto done;
        }
    }
    if (!(req = sl_http_req_new("GET", url.buf)) || sl_http_req_header(req, "Accept", "application/json") ||
        (token && *token && sl_http_req_header(req, "Authorization", token))) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL, "cannot build the request");
        goto done;
    }
    sl_http_req_timeout(req, META_TIMEOUT_MS);
    sl_log_debug("creds", "%s: GET %s%s", sl_creds_provider_name(prov), url.buf,
                 token ? " (with authorization token)" : "");
    err = call_send(cc->http, req, &cc->call, cc, container_on_resp);
    req = NULL;
    if (err != SL_OK)
        sl_creds_provider_done(prov, err, NULL, "cannot send the request: %s", sl_err_str(err));
done:
    sl_http_req_destroy(req);
    wipe_free(token);
    free(auth);
    sl_sb_free(&url);
    return SL_OK;
}

static void container_cancel(sl_creds_provider_t *prov, void *ctx) {
    container_ctx_t *cc = ctx;
    (void)prov;
    call_abandon(cc->http, &cc->call);
}

static void container_destroy(void *ctx) {
    container_ctx_t *cc = ctx;
    call_abandon(cc->http, &cc->call);
    free(cc->base_url);
    free(cc);
}

static const sl_creds_provider_ops_t container_ops = {container_fetch, container_cancel,
                                                      container_destroy};

sl_creds_provider_t *sl_creds_container_new(struct event_base *base, sl_http_t *http,
                                            const char *base_url) {
    container_ctx_t *cc;
    size_t n;
    if (!http || !(cc = calloc(1, sizeof(*cc))))
        return NULL;
    cc->http = http;
    if (!(cc->base_url = sl_strdup(base_url && *base_url ? base_url : "http://169.254.170.2"))) {
        free(cc);
        return NULL;
    }
    n = strlen(cc->base_url);
    while (n && cc->base_url[n - 1] == '/')
        cc->base_url[--n] = 0;
    return sl_creds_provider_new(base, &container_ops, cc, "container");
}

/* ---- EC2 instance metadata (IMDSv2) -------------------------------------------------------- */

enum { IMDS_TOKEN, IMDS_ROLE, IMDS_CREDS };

typedef struct imds_ctx {
    sl_http_t *http;
    char *endpoint; /* NULL: from the environment at each fetch */
    int allow_v1;
    char *token;        /* session token (secret), NULL when none or v1 */
    int64_t token_until; /* monotonic ms after which a new token is needed */
    int v1;             /* this fetch runs without a token */
    int step;
    sl_creds_provider_t *self;
    http_call_t *call;
} imds_ctx_t;

static void imds_send(imds_ctx_t *ic, const char *method, const char *path);

static const char *imds_endpoint(const imds_ctx_t *ic) {
    const char *e = ic->endpoint ? ic->endpoint : sl_getenv_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    return e ? e : "http://169.254.169.254";
}

static void imds_on_resp(void *owner, const sl_http_resp_t *resp) {
    imds_ctx_t *ic = owner;
    sl_creds_provider_t *prov = ic->self;
    sl_sb_t path = {0};
    size_t n;

    if (resp->err != SL_OK) {
        sl_creds_provider_done(prov, resp_err(resp), NULL, "%s: %s", imds_endpoint(ic),
                               resp->error);
        return;
    }
    switch (ic->step) {
    case IMDS_TOKEN:
        if (resp->status == 200 && resp->body_len) {
            wipe_free(ic->token);
            n = strcspn(resp->body, "\r\n");
            if (!(ic->token = sl_strndup(resp->body, n))) {
                sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL, "out of memory");
                return;
            }
            if (sl_log_secret_add(ic->token) < 0) {
                wipe_free(ic->token);
                ic->token = NULL;
                sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL,
                                       "out of memory registering the IMDS token for masking");
                return;
            }
            ic->token_until = sl_mono_ms() + (IMDS_TOKEN_TTL_S - 60) * 1000LL;
        } else if (ic->allow_v1 &&
                   (resp->status == 403 || resp->status == 404 || resp->status == 405)) {
            sl_log_debug("creds", "%s: token request answered HTTP %ld, falling back to IMDSv1",
                         sl_creds_provider_name(prov), resp->status);
            ic->v1 = 1;
        } else {
            sl_creds_provider_done(prov, resp_err(resp), NULL,
                                   "IMDSv2 token request answered HTTP %ld%s", resp->status,
                                   resp->status == 403 ? " (IMDS disabled for this instance?)"
                                                       : "");
            return;
        }
        ic->step = IMDS_ROLE;
        imds_send(ic, "GET", "/latest/meta-data/iam/security-credentials/");
        return;
    case IMDS_ROLE:
        if (resp->status == 401 && !ic->v1) { /* the token went stale: get a new one next time */
            wipe_free(ic->token);
            ic->token = NULL;
            sl_creds_provider_done(prov, SL_ERR_RETRY, NULL, "the IMDS token was refused (401)");
            return;
        }
        if (resp->status == 404) {
            sl_creds_provider_done(prov, SL_ERR_NOENT, NULL,
                                   "no IAM role is attached to this instance");
            return;
        }
        n = resp->status == 200 ? strcspn(resp->body, "\r\n") : 0;
        if (!n) {
            sl_creds_provider_done(prov, resp_err(resp), NULL, "role name request answered HTTP %ld%s",
                                   resp->status, resp->status == 200 ? " with no role" : "");
            return;
        }
        if (memchr(resp->body, '/', n) || memchr(resp->body, '?', n)) {
            sl_creds_provider_done(prov, SL_ERR_INVAL, NULL, "malformed IAM role name");
            return;
        }
        sl_sb_printf(&path, "/latest/meta-data/iam/security-credentials/%.*s", (int)n, resp->body);
        if (path.oom) {
            sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL, "out of memory");
            return;
        }
        ic->step = IMDS_CREDS;
        imds_send(ic, "GET", path.buf);
        sl_sb_free(&path);
        return;
    default:
        if (resp->status == 401 && !ic->v1) {
            wipe_free(ic->token);
            ic->token = NULL;
            sl_creds_provider_done(prov, SL_ERR_RETRY, NULL, "the IMDS token was refused (401)");
            return;
        }
        if (resp->status != 200) {
            sl_creds_provider_done(prov, resp_err(resp), NULL,
                                   "credentials request answered HTTP %ld", resp->status);
            return;
        }
        report_json_creds(prov, resp);
    }
}

static void imds_send(imds_ctx_t *ic, const char *method, const char *path) {
    sl_creds_provider_t *prov = ic->self;
    sl_sb_t url = {0};
    sl_http_req_t *req = NULL;
    sl_err_t err;
    char ttl[16];
    const char *ep = imds_endpoint(ic);
    size_t elen = strlen(ep);
    while (elen && ep[elen - 1] == '/')
        elen--;
    sl_sb_printf(&url, "%.*s%s", (int)elen, ep, path);
    if (url.oom || !(req = sl_http_req_new(method, url.buf))) {
        sl_creds_provider_done(prov, SL_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    snprintf(ttl, sizeof(ttl), "%d", IMDS_TOKEN_TTL_S);
    if ((ic->step == IMDS_TOKEN && sl_http_req_header(req, "X-aws-ec2-metadata-token-ttl-seconds", ttl)) ||
        (ic->step != IMDS_TOKEN && !ic->v1 &&
         sl_http_req_header(req, "X-aws-ec2-metadata-token", ic->token))) {
        sl_creds_provider_done(prov, SL_ERR_INVAL, NULL, "cannot build the request (malformed "
                                                         "IMDS token?)");
        goto done;
    }
    sl_http_req_timeout(req, META_TIMEOUT_MS);
    sl_log_debug("creds", "%s: %s %s", sl_creds_provider_name(prov), method, url.buf);
    err = call_send(ic->http, req, &ic->call, ic, imds_on_resp);
    req = NULL;
    if (err != SL_OK)
        sl_creds_provider_done(prov, err, NULL, "cannot send the request: %s", sl_err_str(err));
done:
    sl_http_req_destroy(req);
    sl_sb_free(&url);
}

static sl_err_t imds_fetch(sl_creds_provider_t *prov, void *ctx) {
    imds_ctx_t *ic = ctx;
    const char *off = sl_getenv_nonempty("AWS_EC2_METADATA_DISABLED");
    ic->self = prov;
    ic->v1 = 0;
    if (off && sl_strieq(off, "true")) {
        sl_creds_provider_done(prov, SL_ERR_NOENT, NULL, "AWS_EC2_METADATA_DISABLED is true");
        return SL_OK;
    }
    if (ic->token && sl_mono_ms() < ic->token_until) {
        ic->step = IMDS_ROLE;
        imds_send(ic, "GET", "/latest/meta-data/iam/security-credentials/");
    } else {
        ic->step = IMDS_TOKEN;
        imds_send(ic, "PUT", "/latest/api/token");
    }
    return SL_OK;
}

static void imds_cancel(sl_creds_provider_t *prov, void *ctx) {
    imds_ctx_t *ic = ctx;
    (void)prov;
    call_abandon(ic->http, &ic->call);
}

static void imds_destroy(void *ctx) {
    imds_ctx_t *ic = ctx;
    call_abandon(ic->http, &ic->call);
    wipe_free(ic->token);
    free(ic->endpoint);
    free(ic);
}

static const sl_creds_provider_ops_t imds_ops = {imds_fetch, imds_cancel, imds_destroy};

sl_creds_provider_t *sl_creds_imds_new(struct event_base *base, sl_http_t *http,
                                       const char *endpoint, int allow_v1) {
    imds_ctx_t *ic;
    if (!http || !(ic = calloc(1, sizeof(*ic))))
        return NULL;
    ic->http = http;
    ic->allow_v1 = allow_v1;
    if (endpoint && *endpoint && !(ic->endpoint = sl_strdup(endpoint))) {
        free(ic);
        return NULL;
    }
    return sl_creds_provider_new(base, &imds_ops, ic, "imds");
}

/* ---- the default chain --------------------------------------------------------------------- */

sl_creds_provider_t *sl_creds_default_chain_new(struct event_base *base, sl_http_t *http,
                                                const sl_creds_chain_opts_t *opts) {
    sl_creds_provider_t *provs[5];
    sl_creds_sts_opts_t sts;
    sl_creds_chain_opts_t none;
    int n = 0;
    if (!opts) {
        memset(&none, 0, sizeof(none));
        opts = &none;
    }
    memset(&sts, 0, sizeof(sts));
    sts.region = opts->sts_region;
    sts.endpoint = opts->sts_endpoint;
    sts.profile = opts->profile;
    provs[n++] = sl_creds_env_new(base);
    if (http)
        provs[n++] = sl_creds_web_identity_new(base, http, &sts);
    provs[n++] = sl_creds_profile_new(base, opts->profile, NULL, NULL);
    if (http) {
        provs[n++] = sl_creds_container_new(base, http, opts->container_url);
        provs[n++] = sl_creds_imds_new(base, http, opts->imds_endpoint, opts->imds_allow_v1);
    }
    for (int i = 0; i < n; i++) {
        if (!provs[i]) {
            for (int j = 0; j < n; j++)
                sl_creds_provider_destroy(provs[j]);
            return NULL;
        }
    }
    return sl_creds_chain_new(base, provs, n);
}
