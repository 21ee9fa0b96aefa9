/*
 * aws_endpoint.c: the one place that decides which URL an AWS client calls (see aws_endpoint.h
 * for the order). The shared config file is read afresh at each resolution, like the profile
 * credentials are: clients are built at job start and per worker, not per request. Only the
 * keys that choose endpoints are looked at here; credentials stay with aws_creds.c.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_endpoint.h"
#include "sluice/log.h"
#include "util_str.h"

const char *aws_endpoint_service_id(const char *prefix) {
    static const char *const map[][2] = {
        {"streams.dynamodb", "dynamodb_streams"},
        {"monitoring", "cloudwatch"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(prefix, map[i][0]))
            return map[i][1];
    return prefix;
}

static int set(const char *s) {
    return s && *s;
}

/* What the shared config file says about endpoints for one profile. */
typedef struct prof {
    int found;
    int ignore;         /* ignore_configured_endpoint_urls: -1 unset, else 0/1 */
    char endpoint_url[1024];
    char services[256]; /* name of the [services name] section */
    char svc_url[1024]; /* that section's <id> = / endpoint_url = */
} prof_t;

/* Is header h (between the brackets, trimmed) the section of profile? [default] and
 * [profile default] both name the default profile, as in the SDKs. */
static int is_profile(char *h, const char *profile) {
    if (!strncmp(h, "profile", 7) && (h[7] == ' ' || h[7] == '\t'))
        return !strcmp(sl_trim(h + 7), profile);
    return !strcmp(profile, "default") && !strcmp(h, "default");
}

static int is_services(char *h, const char *name) {
    return !strncmp(h, "services", 8) && (h[8] == ' ' || h[8] == '\t') &&
           !strcmp(sl_trim(h + 8), name);
}

static void copy(char *dst, size_t len, const char *src) {
    if (!*dst)
        snprintf(dst, len, "%s", src);
}

/* One pass over fp: with services NULL the profile's own keys, else the endpoint_url of the
 * id sub-section of [services <services>]. The first value wins, as in the SDKs' loaders. */
static void scan(FILE *fp, const char *profile, const char *services, const char *id, prof_t *pf) {
    char line[2048], sub[128] = "";
    int in = 0;
    while (fgets(line, sizeof(line), fp)) {
        /* indented lines continue a nested setting (kinesis =\n  endpoint_url = ...) */
        int indented = line[0] == ' ' || line[0] == '\t';
        char *s = sl_trim(line), *eq, *key, *val;
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end)
                continue;
            *end = 0;
            s = sl_trim(s + 1);
            in = services ? is_services(s, services) : is_profile(s, profile);
            pf->found |= in && !services;
            sub[0] = 0;
            continue;
        }
        if (!in || !(eq = strchr(s, '=')))
            continue;
        *eq = 0;
        key = sl_trim(s);
        val = sl_trim(eq + 1);
        if (!services) {
            if (indented || !*val)
                continue;
            if (sl_strieq(key, "endpoint_url"))
                copy(pf->endpoint_url, sizeof(pf->endpoint_url), val);
            else if (sl_strieq(key, "services"))
                copy(pf->services, sizeof(pf->services), val);
            else if (sl_strieq(key, "ignore_configured_endpoint_urls") && pf->ignore < 0)
                pf->ignore = sl_strieq(val, "true");
        } else if (!indented) {
            /* "kinesis =" opens the sub-section; "kinesis = x" is not one */
            snprintf(sub, sizeof(sub), "%s", *val ? "" : key);
        } else if (*sub && sl_strieq(sub, id) && sl_strieq(key, "endpoint_url") && *val) {
            copy(pf->svc_url, sizeof(pf->svc_url), val);
        }
    }
}

/* The config file's path into buf: AWS_CONFIG_FILE (with ~/ expanded), else ~/.aws/config.
 * NULL without HOME. */
static const char *config_path(char *buf, size_t len) {
    const char *v = sl_getenv_nonempty("AWS_CONFIG_FILE"), *home = sl_getenv_nonempty("HOME");
    if (v && !(v[0] == '~' && v[1] == '/'))
        snprintf(buf, len, "%s", v);
    else if (!home)
        return NULL;
    else if (v)
        snprintf(buf, len, "%s%s", home, v + 1);
    else
        snprintf(buf, len, "%s/.aws/config", home);
    return buf;
}

static void read_profile(const char *path, const char *profile, const char *id, prof_t *pf) {
    FILE *fp = fopen(path, "r");
    memset(pf, 0, sizeof(*pf));
    pf->ignore = -1;
    if (!fp) {
        if (errno != ENOENT && errno != ENOTDIR)
            sl_log(SL_LOG_WARN, "aws",
                   "cannot read the AWS config file %s (%s): its endpoint settings are not used",
                   path, strerror(errno));
        return;
    }
    scan(fp, profile, NULL, id, pf);
    if (pf->found && *pf->services) {
        rewind(fp);
        scan(fp, profile, pf->services, id, pf);
    }
    fclose(fp);
}

aws_ep_src_t aws_endpoint_resolve(const char *id, const char *explicit_url,
                                  const char *explicit_name, const char *profile,
                                  aws_endpoint_t *ep) {
    char var[128], path[1024];
    const char *v, *ign;
    prof_t pf;
    size_t n;

    memset(ep, 0, sizeof(*ep));
    if (set(explicit_url)) {
        ep->src = AWS_EP_EXPLICIT;
        snprintf(ep->url, sizeof(ep->url), "%s", explicit_url);
        snprintf(ep->from, sizeof(ep->from), "%s", set(explicit_name) ? explicit_name : "option");
        return ep->src;
    }
    if (!set(profile))
        profile = sl_getenv_nonempty("AWS_PROFILE");
    if (!profile)
        profile = "default";
    memset(&pf, 0, sizeof(pf));
    pf.ignore = -1;
    if (config_path(path, sizeof(path)))
        read_profile(path, profile, id, &pf);
    /* The variable beats the file's setting, whichever way it says. */
    ign = sl_getenv_nonempty("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    if (ign ? sl_strieq(ign, "true") : pf.ignore == 1) {
        ep->src = AWS_EP_DEFAULT;
        snprintf(ep->from, sizeof(ep->from), "%s",
                 ign ? "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
                     : "ignore_configured_endpoint_urls of the profile");
        return ep->src;
    }
    n = (size_t)snprintf(var, sizeof(var), "AWS_ENDPOINT_URL_%s", id);
    for (size_t i = 17; i < n && i < sizeof(var); i++)
        var[i] = (char)toupper((unsigned char)var[i]);
    if ((v = sl_getenv_nonempty(var))) {
        ep->src = AWS_EP_ENV_SERVICE;
        snprintf(ep->url, sizeof(ep->url), "%s", v);
        snprintf(ep->from, sizeof(ep->from), "%s", var);
    } else if ((v = sl_getenv_nonempty("AWS_ENDPOINT_URL"))) {
        ep->src = AWS_EP_ENV;
        snprintf(ep->url, sizeof(ep->url), "%s", v);
        snprintf(ep->from, sizeof(ep->from), "AWS_ENDPOINT_URL");
    } else if (*pf.svc_url) {
        ep->src = AWS_EP_SERVICES;
        snprintf(ep->url, sizeof(ep->url), "%s", pf.svc_url);
        snprintf(ep->from, sizeof(ep->from), "services section '%s' of profile '%s' in %s",
                 pf.services, profile, path);
    } else if (*pf.endpoint_url) {
        ep->src = AWS_EP_PROFILE;
        snprintf(ep->url, sizeof(ep->url), "%s", pf.endpoint_url);
        snprintf(ep->from, sizeof(ep->from), "endpoint_url of profile '%s' in %s", profile,
                 path);
    } else {
        ep->src = AWS_EP_DEFAULT;
    }
    return ep->src;
}

/* --- logging once ------------------------------------------------------------------------ */

#define NOTED_MAX 32

static pthread_mutex_t noted_lock = PTHREAD_MUTEX_INITIALIZER;
static char *noted[NOTED_MAX];
static int nnoted;

void aws_endpoint_note(const char *id, const char *url, const char *from) {
    sl_sb_t line = {0};
    int seen = 0;
    sl_sb_printf(&line, "%s endpoint %s (from %s)", id, url, from);
    if (line.oom)
        return;
    pthread_mutex_lock(&noted_lock);
    for (int i = 0; i < nnoted && !seen; i++)
        seen = !strcmp(noted[i], line.buf);
    if (!seen && nnoted < NOTED_MAX && (noted[nnoted] = sl_strdup(line.buf)))
        nnoted++;
    pthread_mutex_unlock(&noted_lock);
    if (seen)
        sl_log_debug("aws", "%s", line.buf);
    else
        sl_log(SL_LOG_INFO, "aws", "%s", line.buf);
    sl_sb_free(&line);
}
