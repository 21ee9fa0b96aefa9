/*
 * aws_conf.c: from the shared AWS settings (the SL_AWS_CONF_PROPS rows a system table embeds)
 * to a credentials provider and HTTP client options. The rows themselves live in aws_conf.h so
 * that every AWS system embeds them; here the combination of keys is judged (which provider,
 * what it needs, Pulsar's plugin class and JSON parameter, Flink's provider names) with each
 * error reported against the spelling the user wrote, and then the provider is assembled.
 * Nothing secret is ever put into an error: the Pulsar JSON is reported by position only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws_conf.h"
#include "log_int.h"
#include "sluice/log.h"
#include "util_str.h"

const sl_prop_t sl_aws_conf_props[] = {
    SL_AWS_CONF_PROPS(0)
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* The key the user wrote for canonical row name (the first spelling set under the first
 * prefix that has one), else prefixes[0] + name. Written to buf, which is returned. */
static const char *user_key(sl_conf_t *conf, const char *const *prefixes, const char *name,
                            char *buf, size_t len) {
    static const char *const root[] = {"", NULL};
    if (!prefixes || !prefixes[0])
        prefixes = root;
    for (int p = 0; prefixes[p]; p++) {
        snprintf(buf, len, "%s%s", prefixes[p], name);
        if (sl_conf_get(conf, buf))
            return buf;
        for (const sl_prop_t *r = sl_aws_conf_props; r->name; r++) {
            if (r->type != SL_PROP_ALIAS || strcmp(r->choices, name) != 0)
                continue;
            snprintf(buf, len, "%s%s", prefixes[p], r->name);
            if (sl_conf_get(conf, buf))
                return buf;
        }
    }
    snprintf(buf, len, "%s%s", prefixes[0], name);
    return buf;
}

static int set(const char *s) {
    return s && *s;
}

static const char *cp_name(int cp) {
    static const char *const names[] = {"AUTO",        "BASIC",       "ENV_VAR",
                                        "SYS_PROP",    "PROFILE",     "ASSUME_ROLE",
                                        "WEB_IDENTITY_TOKEN", "CONTAINER", "IMDS"};
    return cp >= 0 && cp < (int)(sizeof(names) / sizeof(names[0])) ? names[cp] : "?";
}

/* What the settings resolve to. Strings borrowed from aws or from param. */
typedef struct plan {
    int kind;       /* sl_aws_cp_t */
    int src_kind;   /* ASSUME_ROLE: the source's kind */
    int chain_only; /* AUTO from Pulsar's default-chain plugin: never the BASIC keys */
    const char *ak, *sk, *tok;
    const char *role_arn, *session_name;
    json_t *param; /* parsed awsCredentialPluginParam, owned */
} plan_t;

#define KEY(name) user_key(conf, prefixes, name, kb, sizeof(kb))

static int check_url(sl_conf_t *conf, const char *const *prefixes, const char *name,
                     const char *v) {
    char kb[512];
    if (!set(v) || !strncmp(v, "http://", 7) || !strncmp(v, "https://", 8))
        return 0;
    sl_conf_error(conf, KEY(name), "expected an http:// or https:// URL, got '%s'", v);
    return 1;
}

/* A string member of the Pulsar JSON, or NULL. */
static const char *jstr(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : NULL;
}

/* Parses awsCredentialPluginParam into pl->param. Returns the errors added. */
static int parse_param(sl_conf_t *conf, const char *const *prefixes, const sl_aws_conf_t *aws,
                       plan_t *pl) {
    char kb[512];
    json_error_t jerr;
    const char *v;
    pl->param = json_loads(aws->pulsar_param, 0, &jerr);
    if (!pl->param) {
        /* jansson's message quotes the text near the error, which is secret: position only */
        sl_conf_error(conf, KEY("awsCredentialPluginParam"),
                      "not valid JSON (line %d, column %d)", jerr.line, jerr.column);
        return 1;
    }
    if (!json_is_object(pl->param)) {
        sl_conf_error(conf, KEY("awsCredentialPluginParam"), "must be a JSON object");
        return 1;
    }
    if (((v = jstr(pl->param, "secretKey")) && sl_log_secret_add(v) < 0) ||
        ((v = jstr(pl->param, "sessionToken")) && sl_log_secret_add(v) < 0)) {
        sl_conf_error(conf, KEY("awsCredentialPluginParam"),
                      "out of memory masking its secrets in the log");
        return 1;
    }
    return 0;
}

static int plan_make(sl_conf_t *conf, const char *const *prefixes, const sl_aws_conf_t *aws,
                     plan_t *pl) {
    static const char *const plugins[] = {SL_AWS_PULSAR_DEFAULT_CHAIN, SL_AWS_PULSAR_ASSUME_ROLE};
    char kb[512];
    int errs = 0, src;

    memset(pl, 0, sizeof(*pl));
    pl->kind = aws->provider;
    errs += check_url(conf, prefixes, "aws.endpoint", aws->endpoint);
    errs += check_url(conf, prefixes, "aws.sts.endpoint", aws->sts_endpoint);
    errs += check_url(conf, prefixes, "aws.imds.endpoint", aws->imds_endpoint);
    if (set(aws->region) && strspn(aws->region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
                                strlen(aws->region)) {
        sl_conf_error(conf, KEY("aws.region"),
                      "'%s' is not a region name (lower-case letters, digits and '-', e.g. "
                      "us-east-1)",
                      aws->region);
        errs++;
    }

    /* Pulsar's plugin settings stand in for aws.credentials.provider. */
    if (set(aws->pulsar_plugin) || set(aws->pulsar_param)) {
        if (aws->provider != SL_AWS_CP_AUTO) {
            char k2[512];
            snprintf(k2, sizeof(k2), "%s",
                     set(aws->pulsar_plugin) ? KEY("awsCredentialPluginName")
                                             : KEY("awsCredentialPluginParam"));
            sl_conf_error(conf, KEY("aws.credentials.provider"),
                          "%s conflicts with %s: choose one way to configure credentials",
                          cp_name(aws->provider), k2);
            return errs + 1;
        }
        if (set(aws->pulsar_param) && parse_param(conf, prefixes, aws, pl))
            return errs + 1;
        if (!set(aws->pulsar_plugin)) {
            /* Pulsar's built-in default: fixed keys from the JSON map */
            pl->kind = SL_AWS_CP_BASIC;
            pl->ak = jstr(pl->param, "accessKey");
            pl->sk = jstr(pl->param, "secretKey");
            pl->tok = jstr(pl->param, "sessionToken");
            if (jstr(pl->param, "roleArn")) {
                sl_conf_error(conf, KEY("awsCredentialPluginParam"),
                              "roleArn needs awsCredentialPluginName=%s",
                              SL_AWS_PULSAR_ASSUME_ROLE);
                return errs + 1;
            }
            if (!pl->ak || !pl->sk) {
                sl_conf_error(conf, KEY("awsCredentialPluginParam"),
                              "without awsCredentialPluginName it must hold \"accessKey\" and "
                              "\"secretKey\" (it lacks \"%s\")",
                              pl->ak ? "secretKey" : "accessKey");
                return errs + 1;
            }
            return errs;
        }
        if (!strcmp(aws->pulsar_plugin, SL_AWS_PULSAR_DEFAULT_CHAIN)) {
            pl->kind = SL_AWS_CP_AUTO;
            pl->chain_only = 1;
            return errs;
        }
        if (!strcmp(aws->pulsar_plugin, SL_AWS_PULSAR_ASSUME_ROLE)) {
            if (!pl->param) {
                sl_conf_error(conf, KEY("awsCredentialPluginParam"),
                              "required by %s: {\"roleArn\": \"...\", \"roleSessionName\": "
                              "\"...\"}",
                              SL_AWS_PULSAR_ASSUME_ROLE);
                return errs + 1;
            }
            pl->kind = SL_AWS_CP_ASSUME_ROLE;
            pl->src_kind = SL_AWS_CP_AUTO;
            pl->chain_only = 1;
            pl->role_arn = jstr(pl->param, "roleArn");
            pl->session_name = jstr(pl->param, "roleSessionName");
            if (!pl->role_arn || !pl->session_name) {
                sl_conf_error(conf, KEY("awsCredentialPluginParam"),
                              "%s needs \"roleArn\" and \"roleSessionName\" (it lacks \"%s\")",
                              SL_AWS_PULSAR_ASSUME_ROLE, pl->role_arn ? "roleSessionName" : "roleArn");
                return errs + 1;
            }
            return errs;
        }
        const char *hint = sl_suggest(aws->pulsar_plugin, plugins, 2);
        sl_conf_error(conf, KEY("awsCredentialPluginName"),
                      "unknown credential plugin '%s'%s%s%s (sluice knows %s and %s)",
                      aws->pulsar_plugin, hint ? " (did you mean '" : "", hint ? hint : "",
                      hint ? "'?)" : "", plugins[0], plugins[1]);
        return errs + 1;
    }

    pl->ak = set(aws->access_key) ? aws->access_key : NULL;
    pl->sk = set(aws->secret_key) ? aws->secret_key : NULL;
    pl->tok = set(aws->session_token) ? aws->session_token : NULL;
    pl->role_arn = set(aws->role_arn) ? aws->role_arn : NULL;
    pl->session_name = set(aws->role_session_name) ? aws->role_session_name : NULL;

    if (pl->kind == SL_AWS_CP_AUTO && (pl->ak || pl->sk))
        pl->kind = SL_AWS_CP_BASIC; /* Flink: keys in the configuration mean BASIC */
    switch (pl->kind) {
    case SL_AWS_CP_AUTO:
        if (pl->tok) {
            sl_conf_error(conf, KEY("aws.credentials.session.token"),
                          "a session token needs aws.credentials.access.key.id and "
                          "aws.credentials.secret.access.key");
            errs++;
        }
        if (pl->role_arn) {
            sl_conf_error(conf, KEY("aws.credentials.role.arn"),
                          "set, but aws.credentials.provider is AUTO: set it to ASSUME_ROLE or "
                          "WEB_IDENTITY_TOKEN");
            errs++;
        }
        break;
    case SL_AWS_CP_SYS_PROP:
        sl_conf_error(conf, KEY("aws.credentials.provider"),
                      "SYS_PROP reads Java system properties, which do not exist in sluice; use "
                      "ENV_VAR (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or BASIC");
        errs++;
        break;
    case SL_AWS_CP_ASSUME_ROLE:
        if (!pl->role_arn) {
            sl_conf_error(conf, KEY("aws.credentials.role.arn"),
                          "required when aws.credentials.provider is ASSUME_ROLE");
            errs++;
        }
        src = aws->role_provider;
        if (src == SL_AWS_CP_AUTO && (pl->ak || pl->sk))
            src = SL_AWS_CP_BASIC;
        pl->src_kind = src;
        if (src == SL_AWS_CP_ASSUME_ROLE || src == SL_AWS_CP_SYS_PROP) {
            sl_conf_error(conf, KEY("aws.credentials.role.provider"),
                          "%s cannot provide the credentials for ASSUME_ROLE here",
                          cp_name(src));
            errs++;
        }
        if (src == SL_AWS_CP_WEB_IDENTITY_TOKEN && !set(aws->web_identity_token_file) &&
            !getenv("AWS_WEB_IDENTITY_TOKEN_FILE")) {
            sl_conf_error(conf, KEY("aws.credentials.web.identity.token.file"),
                          "required for a WEB_IDENTITY_TOKEN role provider (or set "
                          "AWS_WEB_IDENTITY_TOKEN_FILE)");
            errs++;
        }
        if (src != SL_AWS_CP_BASIC)
            break;
        __attribute__((fallthrough)); /* a BASIC source needs the keys */
    case SL_AWS_CP_BASIC:
        if (!pl->ak) {
            sl_conf_error(conf, KEY("aws.credentials.access.key.id"),
                          "required for BASIC credentials");
            errs++;
        }
        if (!pl->sk) {
            sl_conf_error(conf, KEY("aws.credentials.secret.access.key"),
                          "required for BASIC credentials");
            errs++;
        }
        break;
    case SL_AWS_CP_WEB_IDENTITY_TOKEN:
        if (!pl->role_arn && !getenv("AWS_ROLE_ARN")) {
            sl_conf_error(conf, KEY("aws.credentials.role.arn"),
                          "required when aws.credentials.provider is WEB_IDENTITY_TOKEN (or set "
                          "AWS_ROLE_ARN)");
            errs++;
        }
        if (!set(aws->web_identity_token_file) && !getenv("AWS_WEB_IDENTITY_TOKEN_FILE")) {
            sl_conf_error(conf, KEY("aws.credentials.web.identity.token.file"),
                          "required when aws.credentials.provider is WEB_IDENTITY_TOKEN (or set "
                          "AWS_WEB_IDENTITY_TOKEN_FILE)");
            errs++;
        }
        break;
    default:
        break;
    }
    return errs;
}

int sl_aws_conf_check(sl_conf_t *conf, const char *const *prefixes, const sl_aws_conf_t *aws) {
    plan_t pl;
    int errs = plan_make(conf, prefixes, aws, &pl);
    json_decref(pl.param);
    return errs;
}

static void sts_opts(const sl_aws_conf_t *aws, const plan_t *pl, sl_creds_sts_opts_t *o) {
    memset(o, 0, sizeof(*o));
    o->region = set(aws->region) ? aws->region : NULL;
    o->endpoint = set(aws->sts_endpoint) ? aws->sts_endpoint : NULL;
    o->profile = set(aws->profile_name) ? aws->profile_name : NULL;
    o->role_arn = pl->role_arn;
    o->session_name = pl->session_name;
    o->external_id = set(aws->role_external_id) ? aws->role_external_id : NULL;
    o->token_file = set(aws->web_identity_token_file) ? aws->web_identity_token_file : NULL;
    o->duration_s = (int)(aws->role_duration_ms / 1000);
}

/* One provider of kind (not ASSUME_ROLE). NULL with errstr on failure. */
static sl_creds_provider_t *build_simple(int kind, const sl_aws_conf_t *aws, const plan_t *pl,
                                         struct event_base *base, sl_http_t *http, char *errstr,
                                         size_t errlen) {
    sl_creds_sts_opts_t so;
    sl_creds_chain_opts_t co;
    sl_creds_provider_t *prov = NULL;
    if (!http && (kind == SL_AWS_CP_WEB_IDENTITY_TOKEN || kind == SL_AWS_CP_CONTAINER ||
                  kind == SL_AWS_CP_IMDS)) {
        sl_errf(errstr, errlen, "%s credentials need an HTTP client", cp_name(kind));
        return NULL;
    }
    switch (kind) {
    case SL_AWS_CP_BASIC:
        return sl_creds_static_new(base, pl->ak, pl->sk, pl->tok, errstr, errlen);
    case SL_AWS_CP_ENV_VAR:
        prov = sl_creds_env_new(base);
        break;
    case SL_AWS_CP_PROFILE:
        prov = sl_creds_profile_new(base, aws->profile_name, aws->profile_path, NULL);
        break;
    case SL_AWS_CP_WEB_IDENTITY_TOKEN:
        sts_opts(aws, pl, &so);
        prov = sl_creds_web_identity_new(base, http, &so);
        break;
    case SL_AWS_CP_CONTAINER:
        prov = sl_creds_container_new(base, http, NULL);
        break;
    case SL_AWS_CP_IMDS:
        prov = sl_creds_imds_new(base, http, set(aws->imds_endpoint) ? aws->imds_endpoint : NULL,
                                 aws->imds_allow_v1);
        break;
    default: /* AUTO */
        memset(&co, 0, sizeof(co));
        co.profile = set(aws->profile_name) ? aws->profile_name : NULL;
        co.sts_region = set(aws->region) ? aws->region : NULL;
        co.sts_endpoint = set(aws->sts_endpoint) ? aws->sts_endpoint : NULL;
        co.imds_endpoint = set(aws->imds_endpoint) ? aws->imds_endpoint : NULL;
        co.imds_allow_v1 = aws->imds_allow_v1;
        prov = sl_creds_default_chain_new(base, http, &co);
        break;
    }
    if (!prov)
        sl_errf(errstr, errlen, "out of memory");
    return prov;
}

sl_creds_provider_t *sl_aws_conf_provider(sl_conf_t *conf, const char *const *prefixes,
                                          const sl_aws_conf_t *aws, struct event_base *base,
                                          sl_http_t *http) {
    sl_creds_provider_t *prov = NULL, *src;
    sl_creds_sts_opts_t so;
    plan_t pl;
    char errstr[512], kb[512];

    if (plan_make(conf, prefixes, aws, &pl))
        goto done;
    if (pl.kind != SL_AWS_CP_ASSUME_ROLE) {
        prov = build_simple(pl.kind, aws, &pl, base, http, errstr, sizeof(errstr));
    } else if (!http) {
        snprintf(errstr, sizeof(errstr), "ASSUME_ROLE credentials need an HTTP client");
    } else if ((src = build_simple(pl.src_kind, aws, &pl, base, http, errstr, sizeof(errstr)))) {
        sts_opts(aws, &pl, &so);
        prov = sl_creds_assume_role_new(base, http, &so, src, errstr, sizeof(errstr));
    }
    if (!prov)
        sl_conf_error(conf, KEY("aws.credentials.provider"), "%s", errstr);
done:
    json_decref(pl.param);
    return prov;
}

void sl_aws_conf_http_opts(const sl_aws_conf_t *aws, sl_aws_http_opts_t *out) {
    memset(out, 0, sizeof(*out));
    sl_http_opts_init(&out->http);
    out->http.connect_timeout_ms = aws->connect_timeout_ms;
    out->http.request_timeout_ms = aws->socket_timeout_ms;
    out->http.max_connections = aws->max_connections;
    out->http.verify_tls = !aws->trust_all_certs;
    if (set(aws->ca_file))
        out->http.ca_file = aws->ca_file;
    if (set(aws->proxy_host)) {
        if (aws->proxy_port)
            snprintf(out->proxy, sizeof(out->proxy), "%s:%d", aws->proxy_host, aws->proxy_port);
        else
            snprintf(out->proxy, sizeof(out->proxy), "%s", aws->proxy_host);
        out->http.proxy = out->proxy;
        if (set(aws->proxy_username))
            out->http.proxy_user = aws->proxy_username;
        if (set(aws->proxy_password))
            out->http.proxy_password = aws->proxy_password;
    }
    if (set(aws->user_agent_suffix) || set(aws->application_name)) {
        snprintf(out->user_agent, sizeof(out->user_agent), "sluice/%s%s%s%s%s", SL_VERSION_STR,
                 set(aws->user_agent_suffix) ? " " : "",
                 set(aws->user_agent_suffix) ? aws->user_agent_suffix : "",
                 set(aws->application_name) ? " app/" : "",
                 set(aws->application_name) ? aws->application_name : "");
        out->http.user_agent = out->user_agent;
    }
}
