/*
 * test_creds.c: unit tests of the AWS credentials layer (aws/aws_creds.c,
 * aws/aws_creds_remote.c, aws/aws_conf.c): the static, environment, profile-file and
 * credential_process providers, the chain's order and combined error, the refreshing cache
 * driven by an injected clock and a scripted fake provider (refresh before expiry, backoff that
 * keeps the old credentials, invalidate), the shared AWS property rows under their Samza, Flink
 * and Pulsar spellings, and the container, IMDSv2 and STS providers against IMDS, container and
 * STS answers served by tests/unit/fake_aws.c, which records the exact requests. When
 * SLUICE_TEST_STS_ENDPOINT / SLUICE_TEST_IMDS_ENDPOINT are set (tests/0011-credentials.sh starts
 * moto and an IMDS mock), the "live" tests run against those real peers; otherwise they say so
 * and pass.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "aws_conf.h"
#include "aws_creds.h"
#include "conf_int.h"
#include "fake_aws.h"
#include "sluice/log.h"
#include "unit.h"
#include "util_str.h"
#include "util_time.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* The outcome of one provider fetch, copied out of the callback. */
typedef struct got {
    int done;
    sl_err_t err;
    char ak[256], sk[256], tok[2048], msg[2048];
    int has_tok;
    int64_t expires;
} got_t;

static void got_cb(void *opaque, sl_err_t err, sl_creds_value_t *val, const char *msg) {
    got_t *g = opaque;
    g->done = 1;
    g->err = err;
    snprintf(g->msg, sizeof(g->msg), "%s", msg ? msg : "(null)");
    if (err == SL_OK) {
        snprintf(g->ak, sizeof(g->ak), "%s", val->access_key);
        snprintf(g->sk, sizeof(g->sk), "%s", val->secret_key);
        g->has_tok = val->session_token != NULL;
        snprintf(g->tok, sizeof(g->tok), "%s", val->session_token ? val->session_token : "");
        g->expires = val->expires_ms;
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs base until *flag is set or ms pass; returns *flag. */
static int run_until(struct event_base *base, int *flag, int ms) {
    int expired = 0;
    struct event *ev = evtimer_new(base, on_deadline, &expired);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
    while (!*flag && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    return *flag;
}

/* Fetches once from prov and waits for the outcome. */
static void fetch(struct event_base *base, sl_creds_provider_t *prov, got_t *g) {
    memset(g, 0, sizeof(*g));
    CU_ASSERT_EQUAL_FATAL(sl_creds_provider_fetch(prov, got_cb, g), SL_OK);
    CU_ASSERT_EQUAL(g->done, 0); /* never from inside fetch */
    CU_ASSERT(run_until(base, &g->done, 10000));
}

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Unsets every variable a provider reads, so the developer's own AWS setup cannot leak in. */
static void clear_aws_env(void) {
    static const char *const vars[] = {
        "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY",
        "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL", "AWS_REGION",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_DEFAULT_REGION", NULL};
    for (int i = 0; vars[i]; i++)
        unsetenv(vars[i]);
}

static char *orig_home;

/* Points HOME at dir, remembering the real one for restore_home(). */
static void set_home(const char *dir) {
    if (!orig_home)
        orig_home = sl_strdup(getenv("HOME") ? getenv("HOME") : "");
    setenv("HOME", dir, 1);
}

/* A HOME with no .aws directory, so the profile provider finds nothing by default. */
static void empty_home(void) {
    set_home(unit_tmpdir());
}

/* Puts the real HOME back, so later suites see the environment they expect. */
static void restore_home(void) {
    if (!orig_home)
        return;
    if (*orig_home)
        setenv("HOME", orig_home, 1);
    else
        unsetenv("HOME");
    free(orig_home);
    orig_home = NULL;
}

/* ---- values and time ------------------------------------------------------------------------ */

static void test_parse_time(void) {
    int64_t ms = 0;
    CU_ASSERT_EQUAL(sl_creds_parse_time("1970-01-01T00:00:00Z", &ms), 0);
    CU_ASSERT_EQUAL(ms, 0);
    CU_ASSERT_EQUAL(sl_creds_parse_time("2024-02-29T12:34:56Z", &ms), 0);
    CU_ASSERT_EQUAL(ms, 1709210096000LL);
    CU_ASSERT_EQUAL(sl_creds_parse_time("2024-02-29T12:34:56.789Z", &ms), 0);
    CU_ASSERT_EQUAL(ms, 1709210096789LL);
    CU_ASSERT_EQUAL(sl_creds_parse_time("2024-02-29T14:34:56+02:00", &ms), 0);
    CU_ASSERT_EQUAL(ms, 1709210096000LL);
    CU_ASSERT_EQUAL(sl_creds_parse_time("2024-02-29T12:34:56.5-0100", &ms), 0);
    CU_ASSERT_EQUAL(ms, 1709213696500LL);
    CU_ASSERT_EQUAL(sl_creds_parse_time("2024-02-29 12:34:56Z", &ms), 0);
    CU_ASSERT_EQUAL(sl_creds_parse_time("2024-02-29T12:34:56", &ms), -1);
    CU_ASSERT_EQUAL(sl_creds_parse_time("2024-13-01T00:00:00Z", &ms), -1);
    CU_ASSERT_EQUAL(sl_creds_parse_time("2024-02-29T12:34Z", &ms), -1);
    CU_ASSERT_EQUAL(sl_creds_parse_time("2024-02-29T12:34:56Zjunk", &ms), -1);
    CU_ASSERT_EQUAL(sl_creds_parse_time("", &ms), -1);
    CU_ASSERT_EQUAL(sl_creds_parse_time(NULL, &ms), -1);
}

static void test_value(void) {
    sl_creds_value_t v;
    CU_ASSERT_EQUAL(sl_creds_value_set(&v, "AKID", "SECRETVALUE1", "", 5), SL_OK);
    CU_ASSERT_STRING_EQUAL(v.access_key, "AKID");
    CU_ASSERT_PTR_NULL(v.session_token);
    CU_ASSERT_EQUAL(v.expires_ms, 5);
    sl_creds_value_free(&v);
    CU_ASSERT_PTR_NULL(v.access_key);
    CU_ASSERT_EQUAL(sl_creds_value_set(&v, "AKID", "", NULL, 0), SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_creds_value_set(&v, NULL, "x", NULL, 0), SL_ERR_INVAL);
    sl_creds_value_free(NULL);
}

/* ---- local providers ----------------------------------------------------------------------- */

static void test_static(void) {
    struct event_base *base = event_base_new();
    char err[256];
    got_t g;
    sl_creds_provider_t *prov = sl_creds_static_new(base, "AKIDSTATIC", "STATICSECRET1",
                                                    "STATICTOKEN1", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(prov);
    CU_ASSERT_STRING_EQUAL(sl_creds_provider_name(prov), "static");
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDSTATIC");
    CU_ASSERT_STRING_EQUAL(g.sk, "STATICSECRET1");
    CU_ASSERT_STRING_EQUAL(g.tok, "STATICTOKEN1");
    CU_ASSERT_EQUAL(g.expires, 0);
    /* one fetch at a time */
    CU_ASSERT_EQUAL(sl_creds_provider_fetch(prov, got_cb, &g), SL_OK);
    CU_ASSERT_EQUAL(sl_creds_provider_fetch(prov, got_cb, &g), SL_ERR_STATE);
    /* cancelled: the callback never comes */
    sl_creds_provider_cancel(prov);
    memset(&g, 0, sizeof(g));
    event_base_loop(base, EVLOOP_NONBLOCK);
    CU_ASSERT_EQUAL(g.done, 0);
    /* destroyed with a fetch in flight: no callback, no leak */
    CU_ASSERT_EQUAL(sl_creds_provider_fetch(prov, got_cb, &g), SL_OK);
    sl_creds_provider_destroy(prov);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CU_ASSERT_EQUAL(g.done, 0);

    CU_ASSERT_PTR_NULL(sl_creds_static_new(base, "AKID", "", NULL, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "secret access key"));
    sl_creds_provider_destroy(NULL);
    event_base_free(base);
}

static void test_env(void) {
    struct event_base *base = event_base_new();
    sl_creds_provider_t *prov = sl_creds_env_new(base);
    got_t g;
    CU_ASSERT_PTR_NOT_NULL_FATAL(prov);
    clear_aws_env();
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_NOENT);
    CU_ASSERT_STRING_EQUAL(g.msg, "env: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_CONF);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "AWS_SECRET_ACCESS_KEY is not"));

    setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRETVALUE", 1);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDENV");
    CU_ASSERT_STRING_EQUAL(g.sk, "ENVSECRETVALUE");
    CU_ASSERT_EQUAL(g.has_tok, 0);

    setenv("AWS_SESSION_TOKEN", "ENVSESSIONTOKEN", 1);
    setenv("AWS_CREDENTIAL_EXPIRATION", "2030-01-01T00:00:00Z", 1);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.tok, "ENVSESSIONTOKEN");
    CU_ASSERT_EQUAL(g.expires, 1893456000000LL);

    /* the older spellings of the Java SDK */
    clear_aws_env();
    setenv("AWS_ACCESS_KEY", "AKIDOLD", 1);
    setenv("AWS_SECRET_KEY", "OLDSECRETVALUE", 1);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDOLD");
    clear_aws_env();
    sl_creds_provider_destroy(prov);
    event_base_free(base);
}

static void test_profile(void) {
    struct event_base *base = event_base_new();
    char dir[512], cred[600], conf[600], home_aws[600];
    sl_creds_provider_t *prov;
    got_t g;

    clear_aws_env();
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    set_home(dir);
    snprintf(home_aws, sizeof(home_aws), "%s/.aws", dir);
    CU_ASSERT_EQUAL_FATAL(mkdir(home_aws, 0700), 0);
    snprintf(cred, sizeof(cred), "%s/.aws/credentials", dir);
    snprintf(conf, sizeof(conf), "%s/.aws/config", dir);
    write_file(cred, "# comment\n"
                     "[default]\n"
                     "aws_access_key_id = AKIDDEFAULT\n"
                     "aws_secret_access_key=DEFAULTSECRET1\n"
                     "\n"
                     "[prod]\n"
                     "aws_access_key_id = AKIDPROD\n"
                     "; another comment\n"
                     "aws_secret_access_key = PRODSECRET1\n"
                     "aws_session_token = PRODTOKEN1\n"
                     "s3 =\n"
                     "  aws_access_key_id = NESTEDNOTME\n"
                     "[half]\n"
                     "aws_access_key_id = AKIDHALF\n");
    write_file(conf, "[default]\n"
                     "region = us-east-1\n"
                     "[profile cfg]\n"
                     "aws_access_key_id = AKIDCFG\n"
                     "aws_secret_access_key = CFGSECRET1\n"
                     "[prod]\n" /* not a profile section in the config file */
                     "aws_access_key_id = WRONG\n"
                     "[profile prod]\n"
                     "aws_access_key_id = AKIDPRODCONFIG\n"
                     "[ profile  spaced ]\n"
                     "aws_access_key_id=AKIDSPACED\n"
                     "aws_secret_access_key=SPACEDSECRET1\n"
                     "[profile half]\n"
                     "aws_secret_access_key = HALFSECRET1\n");

    /* the default profile from ~/.aws/credentials */
    prov = sl_creds_profile_new(base, NULL, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(prov);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDDEFAULT");
    CU_ASSERT_STRING_EQUAL(g.sk, "DEFAULTSECRET1");
    CU_ASSERT_EQUAL(g.has_tok, 0);
    /* AWS_PROFILE picks another; the credentials file wins key by key over the config file,
     * nested settings are not top-level keys */
    setenv("AWS_PROFILE", "prod", 1);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDPROD");
    CU_ASSERT_STRING_EQUAL(g.tok, "PRODTOKEN1");
    unsetenv("AWS_PROFILE");
    sl_creds_provider_destroy(prov);

    /* [profile x] sections of the config file; keys combined across both files */
    prov = sl_creds_profile_new(base, "cfg", NULL, NULL);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDCFG");
    sl_creds_provider_destroy(prov);
    prov = sl_creds_profile_new(base, "spaced", NULL, NULL);
    fetch(base, prov, &g);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDSPACED");
    sl_creds_provider_destroy(prov);
    prov = sl_creds_profile_new(base, "half", NULL, NULL);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDHALF");
    CU_ASSERT_STRING_EQUAL(g.sk, "HALFSECRET1");
    sl_creds_provider_destroy(prov);

    /* a missing profile: NOENT naming the profile and both files */
    prov = sl_creds_profile_new(base, "nope", NULL, NULL);
    CU_ASSERT_STRING_EQUAL(sl_creds_provider_name(prov), "profile nope");
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_NOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "profile nope: no profile 'nope' in "));
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, cred));
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, conf));
    sl_creds_provider_destroy(prov);

    /* custom paths through the environment, and an explicit path (Flink's profile.path) */
    snprintf(cred, sizeof(cred), "%s/other-creds", dir);
    snprintf(conf, sizeof(conf), "%s/other-config", dir);
    write_file(cred, "[default]\naws_access_key_id=AKIDOTHER\naws_secret_access_key=OTHERSECRET1\n");
    write_file(conf, "[profile x]\naws_access_key_id=AKIDX\naws_secret_access_key=XSECRET1\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_CONFIG_FILE", conf, 1);
    prov = sl_creds_profile_new(base, NULL, NULL, NULL);
    fetch(base, prov, &g);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDOTHER");
    sl_creds_provider_destroy(prov);
    prov = sl_creds_profile_new(base, "x", NULL, NULL);
    fetch(base, prov, &g);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDX");
    sl_creds_provider_destroy(prov);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    prov = sl_creds_profile_new(base, "default", cred, "/nonexistent/config");
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDOTHER");
    sl_creds_provider_destroy(prov);

    /* a profile with only half a key pair in both files */
    write_file(cred, "[broken]\naws_access_key_id=AKIDBROKEN\n");
    prov = sl_creds_profile_new(base, "broken", cred, "/nonexistent/config");
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_CONF);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "has aws_access_key_id but not aws_secret_access_key"));
    sl_creds_provider_destroy(prov);
    event_base_free(base);
    restore_home();
}

static void test_credential_process(void) {
    struct event_base *base = event_base_new();
    char dir[512], cred[600], script[600], text[4096];
    sl_creds_provider_t *prov;
    got_t g;

    clear_aws_env();
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    snprintf(cred, sizeof(cred), "%s/config", dir);
    snprintf(script, sizeof(script), "%s/creds.sh", dir);
    write_file(script, "#!/bin/sh\n"
                       "case \"$1\" in\n"
                       "ok) echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", "
                       "\"SecretAccessKey\": \"PROCSECRET1\", \"SessionToken\": \"PROCTOKEN1\", "
                       "\"Expiration\": \"2031-01-01T00:00:00Z\"}' ;;\n"
                       "slow) sleep 0.2; printf '{\"Version\":1,\"AccessKeyId\":\"AKIDSLOW\",' ;"
                       " sleep 0.1; echo '\"SecretAccessKey\":\"SLOWSECRET1\"}' ;;\n"
                       "fail) echo 'PROCSECRET2 oops' ; exit 3 ;;\n"
                       "junk) echo 'PROCSECRET3 is not json' ;;\n"
                       "v2) echo '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": "
                       "\"PROCSECRET4\"}' ;;\n"
                       "esac\n");
    chmod(script, 0700);
    snprintf(text, sizeof(text),
             "[profile ok]\ncredential_process = %s ok\n"
             "[profile slow]\ncredential_process = %s slow\n"
             "[profile fail]\ncredential_process = %s fail\n"
             "[profile junk]\ncredential_process = %s junk\n"
             "[profile v2]\ncredential_process = %s v2\n",
             script, script, script, script, script);
    write_file(cred, text);

    prov = sl_creds_profile_new(base, "ok", "/nonexistent/credentials", cred);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDPROC");
    CU_ASSERT_STRING_EQUAL(g.sk, "PROCSECRET1");
    CU_ASSERT_STRING_EQUAL(g.tok, "PROCTOKEN1");
    CU_ASSERT_EQUAL(g.expires, 1924992000000LL);
    sl_creds_provider_destroy(prov);

    /* output arriving in pieces while the loop keeps running */
    prov = sl_creds_profile_new(base, "slow", "/nonexistent/credentials", cred);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDSLOW");
    CU_ASSERT_EQUAL(g.has_tok, 0);
    sl_creds_provider_destroy(prov);

    /* failures: the output (which may hold secrets) never reaches the message */
    prov = sl_creds_profile_new(base, "fail", "/nonexistent/credentials", cred);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "exited with status 3"));
    CU_ASSERT_PTR_NULL(strstr(g.msg, "PROCSECRET2"));
    sl_creds_provider_destroy(prov);
    prov = sl_creds_profile_new(base, "junk", "/nonexistent/credentials", cred);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_INVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "not a JSON object (line 1"));
    CU_ASSERT_PTR_NULL(strstr(g.msg, "PROCSECRET3"));
    sl_creds_provider_destroy(prov);
    prov = sl_creds_profile_new(base, "v2", "/nonexistent/credentials", cred);
    fetch(base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_INVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "\"Version\": 1"));
    CU_ASSERT_PTR_NULL(strstr(g.msg, "PROCSECRET4"));
    sl_creds_provider_destroy(prov);

    /* destroyed while the process runs: killed and reaped, no callback */
    prov = sl_creds_profile_new(base, "slow", "/nonexistent/credentials", cred);
    memset(&g, 0, sizeof(g));
    CU_ASSERT_EQUAL(sl_creds_provider_fetch(prov, got_cb, &g), SL_OK);
    event_base_loop(base, EVLOOP_NONBLOCK);
    sl_creds_provider_destroy(prov);
    CU_ASSERT_EQUAL(g.done, 0);
    event_base_free(base);
}

/* ---- a scripted fake provider ------------------------------------------------------------ */

typedef struct fake {
    int calls;
    sl_err_t err;       /* what the next fetch yields */
    int64_t life_ms;    /* expiry = now + life_ms; 0 = never */
    int deferred;       /* 1: report only when fake_finish() is called */
    sl_creds_provider_t *prov;
    char ak[32];
} fake_t;

static void fake_report(fake_t *f) {
    sl_creds_value_t v;
    char sk[64];
    if (f->err != SL_OK) {
        sl_creds_provider_done(f->prov, f->err, NULL, "scripted failure %d", f->calls);
        return;
    }
    snprintf(f->ak, sizeof(f->ak), "AKIDFAKE%d", f->calls);
    snprintf(sk, sizeof(sk), "FAKESECRET%d", f->calls);
    CU_ASSERT_EQUAL(sl_creds_value_set(&v, f->ak, sk, "FAKETOKEN",
                                       f->life_ms ? sl_now_ms() + f->life_ms : 0),
                    SL_OK);
    sl_creds_provider_done(f->prov, SL_OK, &v, NULL);
}

static sl_err_t fake_fetch(sl_creds_provider_t *prov, void *ctx) {
    fake_t *f = ctx;
    f->calls++;
    f->prov = prov;
    if (!f->deferred)
        fake_report(f);
    return SL_OK;
}

static const sl_creds_provider_ops_t fake_ops = {fake_fetch, NULL, NULL};

/* ---- the chain ------------------------------------------------------------------------------ */

static void test_chain(void) {
    struct event_base *base = event_base_new();
    fake_t a = {0}, b = {0}, c = {0};
    sl_creds_provider_t *provs[3], *chain;
    got_t g;

    a.err = SL_ERR_NOENT;
    b.err = SL_ERR_IO;
    c.err = SL_OK;
    provs[0] = sl_creds_provider_new(base, &fake_ops, &a, "first");
    provs[1] = sl_creds_provider_new(base, &fake_ops, &b, "second");
    provs[2] = sl_creds_provider_new(base, &fake_ops, &c, "third");
    chain = sl_creds_chain_new(base, provs, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
    fetch(base, chain, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDFAKE1");
    CU_ASSERT_EQUAL(a.calls, 1);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT_EQUAL(c.calls, 1);

    /* the winner is asked first next time; the others are left alone */
    fetch(base, chain, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDFAKE2");
    CU_ASSERT_EQUAL(a.calls, 1);
    CU_ASSERT_EQUAL(b.calls, 1);
    CU_ASSERT_EQUAL(c.calls, 2);

    /* everything fails: one combined message, in order, the winner not asked twice */
    c.err = SL_ERR_RETRY;
    fetch(base, chain, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_RETRY);
    CU_ASSERT_STRING_EQUAL(g.msg, "chain: no AWS credentials: third: scripted failure 3; "
                                  "first: scripted failure 2; second: scripted failure 2");
    CU_ASSERT_EQUAL(c.calls, 3);

    /* then the walk starts from the first again; only NOENT answers give NOENT */
    b.err = SL_ERR_NOENT;
    c.err = SL_ERR_NOENT;
    fetch(base, chain, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_NOENT);
    CU_ASSERT_STRING_EQUAL(g.msg, "chain: no AWS credentials: first: scripted failure 3; "
                                  "second: scripted failure 3; third: scripted failure 4");
    b.err = SL_OK;
    fetch(base, chain, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDFAKE4");
    sl_creds_provider_destroy(chain);
    event_base_free(base);
}

static void test_default_chain_local(void) {
    struct event_base *base = event_base_new();
    sl_creds_provider_t *chain;
    got_t g;

    clear_aws_env();
    empty_home();
    /* without HTTP only the local providers are in it */
    chain = sl_creds_default_chain_new(base, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
    fetch(base, chain, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_NOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "env: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are "
                                         "not set; profile: no profile 'default'"));
    setenv("AWS_ACCESS_KEY_ID", "AKIDCHAINENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "CHAINENVSECRET", 1);
    fetch(base, chain, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDCHAINENV");
    clear_aws_env();
    sl_creds_provider_destroy(chain);
    event_base_free(base);
    restore_home();
}

/* ---- the cache ------------------------------------------------------------------------------ */

typedef struct heard {
    int n, ok, fail;
    sl_err_t last;
} heard_t;

static void heard_cb(void *opaque, sl_err_t err, const char *msg) {
    heard_t *h = opaque;
    (void)msg;
    h->n++;
    h->last = err;
    if (err == SL_OK)
        h->ok++;
    else
        h->fail++;
}

/* Runs the loop until the listener heard one more outcome. */
static void await(struct event_base *base, heard_t *h) {
    int want = h->n + 1, flag = 0;
    for (int i = 0; i < 1000 && h->n < want; i++)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    flag = h->n >= want;
    CU_ASSERT(flag);
}

static void test_cache_refresh(void) {
    struct event_base *base = event_base_new();
    int64_t now = 1700000000000LL;
    fake_t f = {0};
    heard_t h = {0};
    sl_creds_opts_t opts;
    sl_creds_t *creds;
    const sl_aws_creds_t *c;
    char err[256];
    int id;

    sl_time_inject(&now);
    f.life_ms = 3600000; /* one hour */
    sl_creds_opts_init(&opts);
    opts.seed = 42;
    creds = sl_creds_new(base, sl_creds_provider_new(base, &fake_ops, &f, "fake"), &opts, err,
                         sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(creds);
    id = sl_creds_listen(creds, heard_cb, &h);
    CU_ASSERT(id > 0);
    CU_ASSERT_PTR_NULL(sl_creds_get(creds)); /* nothing before the loop ran */
    await(base, &h);                          /* the "ready" notification */
    CU_ASSERT_EQUAL(h.last, SL_OK);
    c = sl_creds_get(creds);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->access_key, "AKIDFAKE1");
    CU_ASSERT_STRING_EQUAL(c->secret_key, "FAKESECRET1");
    CU_ASSERT_STRING_EQUAL(c->session_token, "FAKETOKEN");
    CU_ASSERT_EQUAL(sl_creds_expires_ms(creds), now + 3600000);
    /* long-lived: refresh 5 minutes before the end */
    CU_ASSERT_EQUAL(sl_creds_next_fetch_ms(creds), now + 3600000 - 300000);

    /* not yet due */
    now += 3600000 - 300000 - 1;
    sl_creds_tick(creds);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CU_ASSERT_EQUAL(f.calls, 1);
    /* due: refreshed in the background, the old ones served meanwhile */
    f.deferred = 1;
    now += 1;
    sl_creds_tick(creds);
    CU_ASSERT_EQUAL(f.calls, 2);
    CU_ASSERT_EQUAL(sl_creds_next_fetch_ms(creds), 0); /* in flight */
    CU_ASSERT_PTR_NOT_NULL(sl_creds_get(creds));
    CU_ASSERT_STRING_EQUAL(sl_creds_get(creds)->access_key, "AKIDFAKE1");
    fake_report(&f);
    await(base, &h);
    CU_ASSERT_STRING_EQUAL(sl_creds_get(creds)->access_key, "AKIDFAKE2");
    f.deferred = 0;

    /* short-lived credentials: refreshed at half their lifetime */
    f.life_ms = 60000;
    sl_creds_invalidate(creds, NULL);
    await(base, &h);
    CU_ASSERT_STRING_EQUAL(sl_creds_get(creds)->access_key, "AKIDFAKE3");
    CU_ASSERT_EQUAL(sl_creds_next_fetch_ms(creds), now + 30000);
    now += 30000;
    sl_creds_tick(creds);
    await(base, &h);
    CU_ASSERT_STRING_EQUAL(sl_creds_get(creds)->access_key, "AKIDFAKE4");

    /* long-term keys are never refreshed */
    f.life_ms = 0;
    sl_creds_invalidate(creds, NULL);
    await(base, &h);
    CU_ASSERT_EQUAL(sl_creds_next_fetch_ms(creds), 0);
    CU_ASSERT_EQUAL(sl_creds_expires_ms(creds), 0);
    now += 86400000LL * 365;
    sl_creds_tick(creds);
    event_base_loop(base, EVLOOP_NONBLOCK);
    CU_ASSERT_EQUAL(f.calls, 5);
    CU_ASSERT_PTR_NOT_NULL(sl_creds_get(creds));
    CU_ASSERT_EQUAL(sl_creds_fetch_count(creds), 5);
    CU_ASSERT_EQUAL(h.ok, 5);
    sl_creds_unlisten(creds, id);
    sl_creds_destroy(creds);
    sl_time_inject(NULL);
    event_base_free(base);
}

static void test_cache_backoff(void) {
    struct event_base *base = event_base_new();
    int64_t now = 1700000000000LL, expiry, prev = 0;
    fake_t f = {0};
    heard_t h = {0};
    sl_creds_opts_t opts;
    sl_creds_t *creds;
    char err[256];

    sl_time_inject(&now);
    f.life_ms = 900000; /* 15 minutes: refresh at 10 */
    sl_creds_opts_init(&opts);
    opts.seed = 7;
    creds = sl_creds_new(base, sl_creds_provider_new(base, &fake_ops, &f, "fake"), &opts, err,
                         sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(creds);
    sl_creds_listen(creds, heard_cb, &h);
    await(base, &h);
    expiry = sl_creds_expires_ms(creds);
    CU_ASSERT_EQUAL(sl_creds_next_fetch_ms(creds), expiry - 300000);

    /* refreshes fail: the old credentials stay in use, retries back off with jitter */
    f.err = SL_ERR_RETRY;
    now = expiry - 300000;
    for (int i = 0; i < 8; i++) {
        int64_t ceil = 1000LL << i, delay;
        if (ceil > 60000)
            ceil = 60000;
        sl_creds_tick(creds);
        await(base, &h);
        CU_ASSERT_EQUAL(h.last, SL_ERR_RETRY);
        CU_ASSERT_PTR_NOT_NULL(sl_creds_get(creds));
        CU_ASSERT_STRING_EQUAL(sl_creds_get(creds)->access_key, "AKIDFAKE1");
        CU_ASSERT_PTR_NOT_NULL(strstr(sl_creds_last_error(creds), "fake: scripted failure"));
        delay = sl_creds_next_fetch_ms(creds) - now;
        CU_ASSERT(delay >= ceil / 2 && delay <= ceil);
        if (i == 7)
            CU_ASSERT(delay != prev); /* jittered, not a fixed ladder */
        prev = delay;
        /* a service rejecting the credentials during backoff does not cut the wait short */
        sl_creds_invalidate(creds, sl_creds_get(creds));
        CU_ASSERT_EQUAL(f.calls, 2 + i);
        now += delay;
    }
    /* they expire for real: nothing is served any more */
    now = expiry;
    CU_ASSERT_PTR_NULL(sl_creds_get(creds));
    /* and the next success replaces them, resetting the backoff */
    f.err = SL_OK;
    sl_creds_tick(creds);
    await(base, &h);
    CU_ASSERT_PTR_NOT_NULL(sl_creds_get(creds));
    CU_ASSERT_STRING_EQUAL(sl_creds_last_error(creds), "");
    CU_ASSERT_EQUAL(sl_creds_next_fetch_ms(creds), now + 900000 - 300000);

    /* credentials that arrive already expired count as a failure */
    f.life_ms = -1;
    sl_creds_invalidate(creds, NULL);
    await(base, &h);
    CU_ASSERT_EQUAL(h.last, SL_ERR_RETRY);
    CU_ASSERT_PTR_NOT_NULL(strstr(sl_creds_last_error(creds), "already expired"));
    sl_creds_destroy(creds);
    sl_time_inject(NULL);
    event_base_free(base);
}

static void test_cache_invalidate(void) {
    struct event_base *base = event_base_new();
    int64_t now = 1700000000000LL;
    fake_t f = {0};
    heard_t h = {0};
    sl_creds_t *creds;
    sl_aws_creds_t used;
    char err[256], ak[32], tok[32];

    sl_time_inject(&now);
    f.life_ms = 3600000;
    creds = sl_creds_new(base, sl_creds_provider_new(base, &fake_ops, &f, "fake"), NULL, err,
                         sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(creds);
    sl_creds_listen(creds, heard_cb, &h);
    await(base, &h);
    snprintf(ak, sizeof(ak), "%s", sl_creds_get(creds)->access_key);
    snprintf(tok, sizeof(tok), "%s", sl_creds_get(creds)->session_token);
    used.access_key = ak;
    used.secret_key = "whatever";
    used.session_token = tok;

    /* a burst of ExpiredToken answers for the same credentials: one refresh */
    f.deferred = 1;
    sl_creds_invalidate(creds, &used);
    sl_creds_invalidate(creds, &used);
    sl_creds_invalidate(creds, &used);
    CU_ASSERT_EQUAL(f.calls, 2);
    fake_report(&f);
    await(base, &h);
    CU_ASSERT_STRING_EQUAL(sl_creds_get(creds)->access_key, "AKIDFAKE2");
    /* late reports about the old credentials are ignored */
    sl_creds_invalidate(creds, &used);
    CU_ASSERT_EQUAL(f.calls, 2);
    /* NULL forces */
    sl_creds_invalidate(creds, NULL);
    CU_ASSERT_EQUAL(f.calls, 3);
    /* destroyed with a fetch in flight: nothing dangles */
    sl_creds_destroy(creds);
    sl_time_inject(NULL);
    event_base_free(base);
}

/* A first fetch that fails is reported to listeners too (start-up "ready" with an error). */
static void test_cache_first_failure(void) {
    struct event_base *base = event_base_new();
    fake_t f = {0};
    heard_t h = {0};
    sl_creds_t *creds;
    char err[256];
    f.err = SL_ERR_NOENT;
    creds = sl_creds_new(base, sl_creds_provider_new(base, &fake_ops, &f, "fake"), NULL, err,
                         sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(creds);
    sl_creds_listen(creds, heard_cb, &h);
    await(base, &h);
    CU_ASSERT_EQUAL(h.last, SL_ERR_NOENT);
    CU_ASSERT_PTR_NULL(sl_creds_get(creds));
    CU_ASSERT_STRING_EQUAL(sl_creds_last_error(creds), "fake: scripted failure 1");
    CU_ASSERT(sl_creds_next_fetch_ms(creds) > 0);
    sl_creds_destroy(creds);
    CU_ASSERT_PTR_NULL(sl_creds_new(base, NULL, NULL, err, sizeof(err)));
    sl_creds_destroy(NULL);
    event_base_free(base);
}

/* ---- the AWS property rows ------------------------------------------------------------------ */

static sl_conf_t *load(const char *text) {
    sl_conf_t *conf = sl_conf_new();
    char err[512];
    CU_ASSERT_EQUAL(sl_conf_load_string(conf, "job.properties", text, strlen(text), err,
                                        sizeof(err)),
                    SL_OK);
    return conf;
}

static int has_error(sl_conf_t *conf, const char *needle) {
    for (int i = 0; i < sl_conf_error_count(conf); i++)
        if (strstr(sl_conf_error_at(conf, i), needle))
            return 1;
    fprintf(stderr, "\n  no error containing '%s' among:\n", needle);
    for (int i = 0; i < sl_conf_error_count(conf); i++)
        fprintf(stderr, "    %s\n", sl_conf_error_at(conf, i));
    return 0;
}

static int no_error_has(sl_conf_t *conf, const char *needle) {
    for (int i = 0; i < sl_conf_error_count(conf); i++)
        if (strstr(sl_conf_error_at(conf, i), needle))
            return 0;
    return 1;
}

static const char *const stream_prefixes[] = {"systems.kin.streams.s.", "systems.kin.", NULL};

/* Applies the AWS rows under the stream and system scopes, builds the provider and fetches. */
static sl_err_t conf_fetch(sl_conf_t *conf, sl_aws_conf_t *aws, got_t *g) {
    struct event_base *base = event_base_new();
    sl_creds_provider_t *prov;
    memset(g, 0, sizeof(*g));
    if (sl_conf_apply(conf, sl_aws_conf_props, stream_prefixes, aws)) {
        event_base_free(base);
        return SL_ERR_CONF;
    }
    prov = sl_aws_conf_provider(conf, stream_prefixes, aws, base, NULL);
    if (!prov) {
        event_base_free(base);
        return SL_ERR_CONF;
    }
    fetch(base, prov, g);
    sl_creds_provider_destroy(prov);
    event_base_free(base);
    return g->err;
}

static void test_conf_spellings(void) {
    static const char *const texts[] = {
        /* Samza: stream level keys, client config at system level */
        "systems.kin.streams.s.aws.region=eu-west-1\n"
        "systems.kin.streams.s.aws.accessKey=AKIDSAMZA\n"
        "sensitive.systems.kin.streams.s.aws.secretKey=SAMZASECRET1\n"
        "systems.kin.aws.clientConfig.ProxyHost=proxy.example\n"
        "systems.kin.aws.clientConfig.ProxyPort=3128\n"
        "systems.kin.aws.clientConfig.ProxyUsername=bob\n"
        "systems.kin.aws.clientConfig.ProxyPassword=PROXYSECRET1\n"
        "systems.kin.aws.clientConfig.ConnectionTimeout=2500\n"
        "systems.kin.aws.clientConfig.SocketTimeout=30000\n"
        "systems.kin.aws.clientConfig.MaxConnections=20\n"
        "systems.kin.aws.clientConfig.MaxErrorRetry=5\n"
        "systems.kin.aws.clientConfig.UserAgentSuffix=my-job\n"
        "systems.kin.aws.clientConfig.UseGzip=true\n",
        /* Flink */
        "systems.kin.streams.s.aws.region=eu-west-1\n"
        "systems.kin.streams.s.aws.endpoint=http://127.0.0.1:4567\n"
        "systems.kin.streams.s.aws.credentials.provider=basic\n"
        "systems.kin.streams.s.aws.credentials.provider.basic.accesskeyid=AKIDFLINK\n"
        "systems.kin.streams.s.aws.credentials.provider.basic.secretkey=FLINKSECRET1\n"
        "systems.kin.aws.trust.all.certificates=true\n",
        /* Flink's SQL connector */
        "systems.kin.streams.s.aws.region=eu-west-1\n"
        "systems.kin.streams.s.aws.credentials.basic.accesskeyid=AKIDFLINK\n"
        "systems.kin.streams.s.aws.credentials.basic.secretkey=FLINKSECRET1\n",
        /* Pulsar */
        "systems.kin.streams.s.awsRegion=eu-west-1\n"
        "systems.kin.streams.s.awsEndpoint=http://127.0.0.1:4567\n"
        "systems.kin.streams.s.awsCredentialPluginParam={\"accessKey\":\"AKIDPULSAR\","
        "\"secretKey\":\"PULSARSECRET1\",\"sessionToken\":\"PULSARTOKEN1\"}\n"
        "systems.kin.streams.s.applicationName=orders-app\n"
        "systems.kin.streams.s.dynamoEndpoint=http://127.0.0.1:8000\n"
        "systems.kin.streams.s.cloudwatchEndpoint=http://127.0.0.1:5000\n",
        /* sluice's own */
        "systems.kin.aws.region=eu-west-1\n"
        "systems.kin.aws.credentials.access.key.id=AKIDSLUICE\n"
        "systems.kin.aws.credentials.secret.access.key=SLUICESECRET1\n",
    };
    static const char *const want_ak[] = {"AKIDSAMZA", "AKIDFLINK", "AKIDFLINK", "AKIDPULSAR",
                                          "AKIDSLUICE"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        sl_conf_t *conf = load(texts[i]);
        sl_aws_conf_t aws;
        got_t g;
        memset(&aws, 0, sizeof(aws));
        CU_ASSERT_EQUAL(conf_fetch(conf, &aws, &g), SL_OK);
        for (int e = 0; e < sl_conf_error_count(conf); e++)
            fprintf(stderr, "\n  [%zu] %s", i, sl_conf_error_at(conf, e));
        CU_ASSERT_STRING_EQUAL(aws.region, "eu-west-1");
        CU_ASSERT_STRING_EQUAL(g.ak, want_ak[i]);
        CU_ASSERT_EQUAL(sl_conf_check_unknown(conf), 0);
        if (i == 0) {
            sl_aws_http_opts_t ho;
            CU_ASSERT_STRING_EQUAL(aws.proxy_host, "proxy.example");
            CU_ASSERT_EQUAL(aws.proxy_port, 3128);
            CU_ASSERT_EQUAL(aws.connect_timeout_ms, 2500);
            CU_ASSERT_EQUAL(aws.socket_timeout_ms, 30000);
            CU_ASSERT_EQUAL(aws.max_connections, 20);
            CU_ASSERT_EQUAL(aws.max_error_retry, 5);
            CU_ASSERT(sl_conf_is_secret(conf, "systems.kin.aws.clientConfig.ProxyPassword"));
            CU_ASSERT(sl_conf_is_secret(conf, "systems.kin.streams.s.aws.secretKey"));
            sl_aws_conf_http_opts(&aws, &ho);
            CU_ASSERT_STRING_EQUAL(ho.http.proxy, "proxy.example:3128");
            CU_ASSERT_STRING_EQUAL(ho.http.proxy_user, "bob");
            CU_ASSERT_STRING_EQUAL(ho.http.proxy_password, "PROXYSECRET1");
            CU_ASSERT_EQUAL(ho.http.connect_timeout_ms, 2500);
            CU_ASSERT_EQUAL(ho.http.request_timeout_ms, 30000);
            CU_ASSERT_EQUAL(ho.http.verify_tls, 1);
            CU_ASSERT_STRING_EQUAL(ho.http.user_agent, "sluice/" SL_VERSION_STR " my-job");
        } else if (i == 1) {
            sl_aws_http_opts_t ho;
            CU_ASSERT_EQUAL(aws.provider, SL_AWS_CP_BASIC);
            CU_ASSERT_STRING_EQUAL(aws.endpoint, "http://127.0.0.1:4567");
            sl_aws_conf_http_opts(&aws, &ho);
            CU_ASSERT_EQUAL(ho.http.verify_tls, 0);
            CU_ASSERT_PTR_NULL(ho.http.proxy);
            CU_ASSERT_EQUAL(aws.max_error_retry, -1);
        } else if (i == 3) {
            sl_aws_http_opts_t ho;
            CU_ASSERT_STRING_EQUAL(g.tok, "PULSARTOKEN1");
            CU_ASSERT_STRING_EQUAL(aws.endpoint, "http://127.0.0.1:4567");
            CU_ASSERT_STRING_EQUAL(aws.dynamodb_endpoint, "http://127.0.0.1:8000");
            CU_ASSERT_STRING_EQUAL(aws.cloudwatch_endpoint, "http://127.0.0.1:5000");
            sl_aws_conf_http_opts(&aws, &ho);
            CU_ASSERT_STRING_EQUAL(ho.http.user_agent, "sluice/" SL_VERSION_STR " app/orders-app");
            CU_ASSERT(sl_conf_is_secret(conf, "systems.kin.streams.s.awsCredentialPluginParam"));
        }
        sl_conf_obj_free(sl_aws_conf_props, &aws);
        sl_conf_destroy(conf);
    }
}

/* The Flink role and profile spellings fill the same fields as sluice's. */
static void test_conf_flink_roles(void) {
    sl_conf_t *conf = load("a.aws.credentials.provider=ASSUME_ROLE\n"
                           "a.aws.credentials.role.arn=arn:aws:iam::123456789012:role/r\n"
                           "a.aws.credentials.role.sessionName=sess\n"
                           "a.aws.credentials.role.externalId=ext\n"
                           "a.aws.credentials.role.provider=PROFILE\n"
                           "a.aws.credentials.role.provider.profile.name=src\n"
                           "a.aws.credentials.profile.path=/tmp/creds\n"
                           "a.aws.credentials.webIdentityToken.file=/tmp/token\n");
    const char *const pre[] = {"a.", NULL};
    sl_aws_conf_t aws;
    memset(&aws, 0, sizeof(aws));
    CU_ASSERT_EQUAL(sl_conf_apply(conf, sl_aws_conf_props, pre, &aws), 0);
    CU_ASSERT_EQUAL(aws.provider, SL_AWS_CP_ASSUME_ROLE);
    CU_ASSERT_STRING_EQUAL(aws.role_arn, "arn:aws:iam::123456789012:role/r");
    CU_ASSERT_STRING_EQUAL(aws.role_session_name, "sess");
    CU_ASSERT_STRING_EQUAL(aws.role_external_id, "ext");
    CU_ASSERT_EQUAL(aws.role_provider, SL_AWS_CP_PROFILE);
    CU_ASSERT_STRING_EQUAL(aws.profile_name, "src");
    CU_ASSERT_STRING_EQUAL(aws.profile_path, "/tmp/creds");
    CU_ASSERT_STRING_EQUAL(aws.web_identity_token_file, "/tmp/token");
    CU_ASSERT_EQUAL(aws.role_duration_ms, 3600000);
    CU_ASSERT_EQUAL(sl_aws_conf_check(conf, pre, &aws), 0);
    sl_conf_obj_free(sl_aws_conf_props, &aws);
    sl_conf_destroy(conf);
}

static void test_conf_errors(void) {
    const char *const pre[] = {"a.", NULL};
    struct {
        const char *text, *want, *never;
    } cases[] = {
        {"a.aws.credentials.provider=BASICK\n",
         "job.properties:1: a.aws.credentials.provider: ", NULL},
        {"x=1\na.aws.credentials.provider=SYS_PROP\n",
         "job.properties:2: a.aws.credentials.provider: SYS_PROP reads Java system properties",
         NULL},
        {"a.aws.credentials.provider=BASIC\na.aws.accessKey=AKID\n",
         "a.aws.credentials.secret.access.key: required for BASIC credentials", NULL},
        {"a.aws.credentials.provider=ASSUME_ROLE\n",
         "a.aws.credentials.role.arn: required when aws.credentials.provider is ASSUME_ROLE",
         NULL},
        {"a.aws.credentials.provider=ASSUME_ROLE\na.aws.credentials.role.arn=arn:x\n"
         "a.aws.credentials.role.provider=ASSUME_ROLE\n",
         "a.aws.credentials.role.provider: ASSUME_ROLE cannot provide", NULL},
        {"a.aws.credentials.role.arn=arn:x\n",
         "job.properties:1: a.aws.credentials.role.arn: set, but aws.credentials.provider is AUTO",
         NULL},
        {"\na.awsCredentialPluginName=org.apache.pulsar.io.kinesis.STSAssumeRoleProviderPlugn\n",
         "job.properties:2: a.awsCredentialPluginName: unknown credential plugin "
         "'org.apache.pulsar.io.kinesis.STSAssumeRoleProviderPlugn' (did you mean "
         "'org.apache.pulsar.io.kinesis.STSAssumeRoleProviderPlugin'?)",
         NULL},
        {"a.awsCredentialPluginName=com.example.Mine\n",
         "a.awsCredentialPluginName: unknown credential plugin 'com.example.Mine' (sluice knows",
         NULL},
        {"a.awsCredentialPluginParam={\"accessKey\":\"AKID\",\"secretKey\":PARAMSECRET1}\n",
         "job.properties:1: a.awsCredentialPluginParam: not valid JSON (line 1, column",
         "PARAMSECRET1"},
        {"a.awsCredentialPluginParam=[\"PARAMSECRET2\"]\n",
         "a.awsCredentialPluginParam: must be a JSON object", "PARAMSECRET2"},
        {"a.awsCredentialPluginParam={\"secretKey\":\"PARAMSECRET3\"}\n",
         "a.awsCredentialPluginParam: without awsCredentialPluginName it must hold "
         "\"accessKey\" and \"secretKey\" (it lacks \"accessKey\")",
         "PARAMSECRET3"},
        {"a.awsCredentialPluginName=org.apache.pulsar.io.kinesis.STSAssumeRoleProviderPlugin\n",
         "a.awsCredentialPluginParam: required by "
         "org.apache.pulsar.io.kinesis.STSAssumeRoleProviderPlugin",
         NULL},
        {"a.awsCredentialPluginName=org.apache.pulsar.io.kinesis.STSAssumeRoleProviderPlugin\n"
         "a.awsCredentialPluginParam={\"roleArn\":\"arn:x\"}\n",
         "job.properties:2: a.awsCredentialPluginParam: "
         "org.apache.pulsar.io.kinesis.STSAssumeRoleProviderPlugin needs \"roleArn\" and "
         "\"roleSessionName\" (it lacks \"roleSessionName\")",
         NULL},
        {"a.awsCredentialPluginParam={\"roleArn\":\"arn:x\",\"roleSessionName\":\"s\"}\n",
         "roleArn needs awsCredentialPluginName=", NULL},
        {"a.aws.credentials.provider=PROFILE\na.awsCredentialPluginParam={}\n",
         "job.properties:1: a.aws.credentials.provider: PROFILE conflicts with "
         "a.awsCredentialPluginParam",
         NULL},
        {"a.aws.endpoint=localhost:4566\n",
         "a.aws.endpoint: expected an http:// or https:// URL", NULL},
        {"a.awsEndpoint=localhost:4566\n", "a.awsEndpoint: expected an http:// or https:// URL",
         NULL},
        {"a.aws.region=US East\n", "a.aws.region: 'US East' is not a region name", NULL},
        {"a.aws.credentials.role.duration=5m\n", "a.aws.credentials.role.duration: ", NULL},
        {"a.aws.credentials.provider=WEB_IDENTITY_TOKEN\n",
         "a.aws.credentials.web.identity.token.file: required", NULL},
    };
    clear_aws_env();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_conf_t *conf = load(cases[i].text);
        sl_aws_conf_t aws;
        struct event_base *base = event_base_new();
        sl_creds_provider_t *prov = NULL;
        memset(&aws, 0, sizeof(aws));
        if (sl_conf_apply(conf, sl_aws_conf_props, pre, &aws) == 0)
            prov = sl_aws_conf_provider(conf, pre, &aws, base, NULL);
        CU_ASSERT_PTR_NULL(prov);
        if (!has_error(conf, cases[i].want))
            fprintf(stderr, "  (case %zu)\n", i);
        CU_ASSERT(has_error(conf, cases[i].want));
        if (cases[i].never)
            CU_ASSERT(no_error_has(conf, cases[i].never));
        sl_creds_provider_destroy(prov);
        sl_conf_obj_free(sl_aws_conf_props, &aws);
        sl_conf_destroy(conf);
        event_base_free(base);
    }
}

/* Pulsar's default-chain plugin and plain AUTO both give the default chain, which finds the
 * environment's keys; ENV_VAR and PROFILE build their one provider. */
static void test_conf_providers(void) {
    static const char *const texts[] = {
        "systems.kin.awsCredentialPluginName=" SL_AWS_PULSAR_DEFAULT_CHAIN "\n",
        "systems.kin.aws.region=us-west-2\n",
        "systems.kin.aws.credentials.provider=ENV_VAR\n",
        "systems.kin.aws.credentials.provider=env_var\n",
    };
    got_t g;
    clear_aws_env();
    empty_home();
    setenv("AWS_ACCESS_KEY_ID", "AKIDCONFENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "CONFENVSECRET", 1);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        sl_conf_t *conf = load(texts[i]);
        sl_aws_conf_t aws;
        memset(&aws, 0, sizeof(aws));
        CU_ASSERT_EQUAL(conf_fetch(conf, &aws, &g), SL_OK);
        CU_ASSERT_STRING_EQUAL(g.ak, "AKIDCONFENV");
        sl_conf_obj_free(sl_aws_conf_props, &aws);
        sl_conf_destroy(conf);
    }
    clear_aws_env();
    {
        char dir[512], path[600], text[1024];
        sl_conf_t *conf;
        sl_aws_conf_t aws;
        snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
        snprintf(path, sizeof(path), "%s/creds", dir);
        write_file(path, "[flink]\naws_access_key_id=AKIDPROFILE\naws_secret_access_key=PS1\n");
        snprintf(text, sizeof(text),
                 "systems.kin.aws.credentials.provider=PROFILE\n"
                 "systems.kin.aws.credentials.provider.profile.name=flink\n"
                 "systems.kin.aws.credentials.provider.profile.path=%s\n",
                 path);
        conf = load(text);
        memset(&aws, 0, sizeof(aws));
        CU_ASSERT_EQUAL(conf_fetch(conf, &aws, &g), SL_OK);
        CU_ASSERT_STRING_EQUAL(g.ak, "AKIDPROFILE");
        sl_conf_obj_free(sl_aws_conf_props, &aws);
        sl_conf_destroy(conf);
    }
    restore_home();
}

/* ---- the remote providers' peer: tests/unit/fake_aws.c with IMDS, container and STS -------- */

#define SRV_LOG 16384

static struct {
    fake_aws_t *aws;
    /* what the peer answers; set by the test between fetches, read by the responder */
    int imds_token_status;
    int sts_status;
    int container_status;
} srv;

#define IMDS_TOKEN "IMDSSESSIONTOKEN-123"
#define SRV_SECRET "SRVSECRETKEY/abc+def"
#define SRV_TOKEN_XML "SRV&amp;SESSIONTOKEN/xyz="
#define SRV_TOKEN "SRV&SESSIONTOKEN/xyz="

#define SRV_SET(field, v) __atomic_store_n(&srv.field, (v), __ATOMIC_RELEASE)
#define SRV_GET(field) __atomic_load_n(&srv.field, __ATOMIC_ACQUIRE)

static const char *hdr(const fake_aws_request_t *req, const char *name) {
    const char *v = fake_aws_request_header(req, name);
    return v ? v : "-";
}

static void iso_in(int64_t secs, char *buf, size_t len) {
    time_t t = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void reply(fake_aws_answer_t *ans, int code, const char *ctype, const char *body) {
    fake_aws_answer_header(ans, "Content-Type", ctype);
    fake_aws_answer(ans, code, body, (size_t)-1);
}

static void srv_handle(void *opaque, const fake_aws_request_t *req, fake_aws_answer_t *ans) {
    const char *uri = req->uri, *method = req->method, *body = req->body;
    char json[1024], exp[64];
    int token_status = SRV_GET(imds_token_status), sts_status = SRV_GET(sts_status),
        container_status = SRV_GET(container_status);
    (void)opaque;

    iso_in(3600, exp, sizeof(exp));
    snprintf(json, sizeof(json),
             "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"AKIDREMOTE\","
             "\"SecretAccessKey\":\"%s\",\"Token\":\"REMOTETOKEN1\",\"Expiration\":\"%s\"}",
             SRV_SECRET, exp);
    if (!strcmp(uri, "/latest/api/token")) {
        if (strcmp(method, "PUT") || !strcmp(hdr(req, "X-aws-ec2-metadata-token-ttl-seconds"), "-"))
            reply(ans, 400, "text/plain", "bad token request");
        else if (token_status != 200)
            reply(ans, token_status, "text/plain", "no");
        else
            reply(ans, 200, "text/plain", IMDS_TOKEN);
    } else if (!strncmp(uri, "/latest/meta-data/iam/security-credentials/", 43)) {
        int v1_ok = token_status != 200;
        if (!v1_ok && strcmp(hdr(req, "X-aws-ec2-metadata-token"), IMDS_TOKEN))
            reply(ans, 401, "text/plain", "");
        else if (!uri[43])
            reply(ans, 200, "text/plain", "my-role\n");
        else if (!strcmp(uri + 43, "my-role"))
            reply(ans, 200, "text/plain", json);
        else
            reply(ans, 404, "text/plain", "");
    } else if (!strncmp(uri, "/container/", 11)) {
        if (container_status != 200)
            reply(ans, container_status, "application/json", "{\"message\":\"nope\"}");
        else
            reply(ans, 200, "application/json", json);
    } else if (!strcmp(uri, "/sts/") || !strcmp(uri, "/sts")) {
        const char *action = strstr(body, "Action=AssumeRoleWithWebIdentity") ? "AssumeRoleWithWebIdentity"
                                                                            : "AssumeRole";
        char xml[2048];
        if (sts_status != 200) {
            reply(ans, sts_status, "text/xml",
                  "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
                  "<Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to "
                  "perform sts:AssumeRole &amp; more</Message></Error><RequestId>r1</RequestId>"
                  "</ErrorResponse>");
            return;
        }
        snprintf(xml, sizeof(xml),
                 "<%sResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
                 "  <%sResult>\n"
                 "    <Credentials>\n"
                 "      <AccessKeyId>ASIASTS</AccessKeyId>\n"
                 "      <SecretAccessKey>%s</SecretAccessKey>\n"
                 "      <SessionToken>%s</SessionToken>\n"
                 "      <Expiration>%s</Expiration>\n"
                 "    </Credentials>\n"
                 "    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"
                 "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\n"
                 "  </%sResult>\n"
                 "</%sResponse>\n",
                 action, action, SRV_SECRET, SRV_TOKEN_XML, exp, action, action);
        reply(ans, 200, "text/xml", xml);
    } else {
        reply(ans, 404, "text/plain", "");
    }
}

static void srv_start(void) {
    char err[256];
    srv.aws = fake_aws_new(NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv.aws);
    SRV_SET(imds_token_status, 200);
    SRV_SET(sts_status, 200);
    SRV_SET(container_status, 200);
    fake_aws_set_responder(srv.aws, srv_handle, NULL);
}

static void srv_stop(void) {
    fake_aws_destroy(srv.aws);
    srv.aws = NULL;
}

static void srv_reset(void) {
    fake_aws_clear(srv.aws);
}

/* Requests since the last reset. */
static int srv_n(void) {
    return fake_aws_count(srv.aws, NULL);
}

/* The requests since the last reset, one line each: "METHOD URI | header=value ... | body"
 * (static buffer). */
static const char *srv_log(void) {
    static char copy[SRV_LOG];
    fake_aws_request_t *rq;
    copy[0] = '\0';
    for (int i = 0; (rq = fake_aws_request(srv.aws, NULL, i)) != NULL; i++) {
        size_t len = strlen(copy);
        snprintf(copy + len, SRV_LOG - len,
                 "%s %s | ttl=%s token=%s auth=%s ctype=%s date=%s sectok=%s | %.4095s\n",
                 rq->method, rq->uri, hdr(rq, "X-aws-ec2-metadata-token-ttl-seconds"),
                 hdr(rq, "X-aws-ec2-metadata-token"), hdr(rq, "Authorization"),
                 hdr(rq, "Content-Type"), hdr(rq, "X-Amz-Date"), hdr(rq, "X-Amz-Security-Token"),
                 rq->body);
        fake_aws_request_free(rq);
    }
    return copy;
}

static int log_has(const char *needle) {
    const char *l = srv_log();
    if (strstr(l, needle))
        return 1;
    fprintf(stderr, "\n  request log lacks '%s':\n%s", needle, l);
    return 0;
}

static char srv_url[128];

static const char *url(const char *path) {
    snprintf(srv_url, sizeof(srv_url), "%s%s", fake_aws_url(srv.aws), path);
    return srv_url;
}

typedef struct remote {
    struct event_base *base;
    sl_http_t *http;
} remote_t;

static void remote_open(remote_t *r) {
    sl_http_opts_t opts;
    char err[256];
    r->base = event_base_new();
    sl_http_opts_init(&opts);
    opts.request_timeout_ms = 5000;
    r->http = sl_http_new(r->base, &opts, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->http);
}

static void remote_close(remote_t *r) {
    sl_http_destroy(r->http);
    event_base_free(r->base);
}

/* A log file capturing sluice's debug lines while a test runs. */
static FILE *capture_logs(void) {
    FILE *fp = tmpfile();
    sl_log_set_file(fp);
    sl_log_set_debug("creds,http");
    return fp;
}

/* Stops capturing; fails when any of the given secrets appears in what was logged. */
static void check_logs(FILE *fp, const char *const *secrets) {
    static char buf[65536];
    size_t n;
    sl_log_set_file(NULL);
    sl_log_set_debug("");
    sl_log_set_level(SL_LOG_INFO);
    rewind(fp);
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = 0;
    fclose(fp);
    CU_ASSERT(n > 0);
    for (int i = 0; secrets[i]; i++) {
        CU_ASSERT_PTR_NULL(strstr(buf, secrets[i]));
        if (strstr(buf, secrets[i]))
            fprintf(stderr, "\n  secret '%s' logged:\n%s", secrets[i], buf);
    }
}

static void test_imds(void) {
    static const char *const secrets[] = {IMDS_TOKEN, SRV_SECRET, "REMOTETOKEN1", NULL};
    remote_t r;
    sl_creds_provider_t *prov;
    FILE *logs = capture_logs();
    got_t g;
    const char *l;

    clear_aws_env();
    srv_start();
    remote_open(&r);
    prov = sl_creds_imds_new(r.base, r.http, url(""), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(prov);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDREMOTE");
    CU_ASSERT_STRING_EQUAL(g.sk, SRV_SECRET);
    CU_ASSERT_STRING_EQUAL(g.tok, "REMOTETOKEN1");
    CU_ASSERT(g.expires > sl_now_ms() + 3500000);
    /* the exact IMDSv2 sequence: token PUT with a TTL, then both GETs with the token */
    l = srv_log();
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "PUT /latest/api/token | ttl=21600 token=- "));
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "GET /latest/meta-data/iam/security-credentials/ | ttl=- "
                                     "token=" IMDS_TOKEN " "));
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "GET /latest/meta-data/iam/security-credentials/my-role | "
                                     "ttl=- token=" IMDS_TOKEN " "));
    CU_ASSERT(strstr(l, "PUT") < strstr(l, "GET"));
    CU_ASSERT_EQUAL(srv_n(), 3);
    /* the session token is reused by the next fetch */
    srv_reset();
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_PTR_NULL(strstr(srv_log(), "PUT"));
    CU_ASSERT_EQUAL(srv_n(), 2);
    sl_creds_provider_destroy(prov);

    /* the token request refused: no IMDSv1 unless allowed */
    SRV_SET(imds_token_status, 405);
    srv_reset();
    prov = sl_creds_imds_new(r.base, r.http, url(""), 0);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_INVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "IMDSv2 token request answered HTTP 405"));
    CU_ASSERT_EQUAL(srv_n(), 1);
    sl_creds_provider_destroy(prov);
    srv_reset();
    prov = sl_creds_imds_new(r.base, r.http, url(""), 1);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    if (g.err != SL_OK)
        fprintf(stderr, "\n  %s", g.msg);
    CU_ASSERT(log_has("GET /latest/meta-data/iam/security-credentials/my-role | ttl=- token=- "));
    sl_creds_provider_destroy(prov);
    SRV_SET(imds_token_status, 200);

    /* through the environment, and switched off */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url("/"), 1);
    prov = sl_creds_imds_new(r.base, r.http, NULL, 0);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_NOENT);
    sl_creds_provider_destroy(prov);
    clear_aws_env();

    /* nobody listening: a retryable transport error */
    prov = sl_creds_imds_new(r.base, r.http, "http://127.0.0.1:1", 0);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_RETRY);
    sl_creds_provider_destroy(prov);
    remote_close(&r);
    srv_stop();
    check_logs(logs, secrets);
}

static void test_container(void) {
    static const char *const secrets[] = {"CONTAINERAUTH1", "CONTAINERAUTH2", SRV_SECRET, NULL};
    remote_t r;
    sl_creds_provider_t *prov;
    FILE *logs = capture_logs();
    char path[600];
    got_t g;

    clear_aws_env();
    srv_start();
    remote_open(&r);
    prov = sl_creds_container_new(r.base, r.http, url("/"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(prov);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_NOENT);

    /* ECS: a relative URI against the agent's address, no authorization */
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/container/v2/credentials/abc", 1);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "AKIDREMOTE");
    CU_ASSERT_STRING_EQUAL(g.tok, "REMOTETOKEN1");
    CU_ASSERT(log_has("GET /container/v2/credentials/abc | ttl=- token=- auth=- "));
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");

    /* EKS pod identity style: a full URI with a token from the environment, then a file
     * (which wins) */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url("/container/full"), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "CONTAINERAUTH1", 1);
    srv_reset();
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT(log_has("GET /container/full | ttl=- token=- auth=CONTAINERAUTH1 "));
    snprintf(path, sizeof(path), "%s/token", unit_tmpdir());
    write_file(path, "CONTAINERAUTH2\n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, 1);
    srv_reset();
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT(log_has("GET /container/full | ttl=- token=- auth=CONTAINERAUTH2 "));

    /* errors name the status, never the token */
    SRV_SET(container_status, 403);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(g.msg, "container: HTTP 403");
    SRV_SET(container_status, 200);
    write_file(path, "CONTAINER\nAUTH3\n");
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_CONF);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "line break"));
    CU_ASSERT_PTR_NULL(strstr(g.msg, "AUTH3"));

    /* plain http only to loopback or the agents' addresses */
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
    srv_reset();
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_CONF);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "not host 'example.com'"));
    CU_ASSERT_EQUAL(srv_n(), 0);
    clear_aws_env();
    sl_creds_provider_destroy(prov);
    remote_close(&r);
    srv_stop();
    check_logs(logs, secrets);
}

/* Value of form field name in body (URL-encoded as sent), into buf. */
static const char *form_field(const char *body, const char *name, char *buf, size_t len) {
    char pat[64];
    const char *p;
    size_t n;
    snprintf(pat, sizeof(pat), "%s=", name);
    for (p = body; (p = strstr(p, pat)); p++)
        if (p == body || p[-1] == '&')
            break;
    if (!p) {
        snprintf(buf, len, "(none)");
        return buf;
    }
    p += strlen(pat);
    n = strcspn(p, "&\n |");
    snprintf(buf, len, "%.*s", (int)n, p);
    return buf;
}

static void test_sts(void) {
    static const char *const secrets[] = {"SOURCESECRET1", "SOURCETOKEN1", SRV_SECRET, SRV_TOKEN,
                                          "WEBIDENTITYTOKEN1", NULL};
    remote_t r;
    sl_creds_provider_t *prov, *src;
    sl_creds_sts_opts_t so;
    FILE *logs = capture_logs();
    char err[256], path[600], f[256];
    const char *l;
    got_t g;

    clear_aws_env();
    srv_start();
    remote_open(&r);

    /* AssumeRole: a signed form POST; the XML answer decoded (entities included) */
    memset(&so, 0, sizeof(so));
    so.region = "eu-central-1";
    so.endpoint = url("/sts/");
    so.role_arn = "arn:aws:iam::123456789012:role/reader";
    so.session_name = "my session";
    so.external_id = "ext-1";
    so.duration_s = 900;
    src = sl_creds_static_new(r.base, "AKIDSOURCE", "SOURCESECRET1", "SOURCETOKEN1", err,
                              sizeof(err));
    prov = sl_creds_assume_role_new(r.base, r.http, &so, src, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(prov);
    CU_ASSERT_STRING_EQUAL(sl_creds_provider_name(prov),
                           "assume-role arn:aws:iam::123456789012:role/reader");
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "ASIASTS");
    CU_ASSERT_STRING_EQUAL(g.sk, SRV_SECRET);
    CU_ASSERT_STRING_EQUAL(g.tok, SRV_TOKEN);
    CU_ASSERT(g.expires > sl_now_ms() + 3500000);
    l = srv_log();
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "POST /sts/ | "));
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "ctype=application/x-www-form-urlencoded; charset=utf-8 "));
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "auth=AWS4-HMAC-SHA256 Credential=AKIDSOURCE/"));
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "/eu-central-1/sts/aws4_request, SignedHeaders="));
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "sectok=SOURCETOKEN1 "));
    CU_ASSERT_PTR_NULL(strstr(l, "date=- "));
    CU_ASSERT_STRING_EQUAL(form_field(strstr(l, "| Action"), "| Action", f, sizeof(f)),
                           "AssumeRole");
    CU_ASSERT_STRING_EQUAL(form_field(l, "Version", f, sizeof(f)), "2011-06-15");
    CU_ASSERT_STRING_EQUAL(form_field(l, "RoleArn", f, sizeof(f)),
                           "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Freader");
    CU_ASSERT_STRING_EQUAL(form_field(l, "RoleSessionName", f, sizeof(f)), "my%20session");
    CU_ASSERT_STRING_EQUAL(form_field(l, "ExternalId", f, sizeof(f)), "ext-1");
    CU_ASSERT_STRING_EQUAL(form_field(l, "DurationSeconds", f, sizeof(f)), "900");

    /* an STS error: code and message, retryable or not */
    SRV_SET(sts_status, 403);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_INVAL);
    CU_ASSERT_STRING_EQUAL(g.msg, "assume-role arn:aws:iam::123456789012:role/reader: AssumeRole: "
                                  "HTTP 403 AccessDenied: Not authorized to perform "
                                  "sts:AssumeRole & more");
    SRV_SET(sts_status, 503);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_RETRY);
    SRV_SET(sts_status, 200);
    sl_creds_provider_destroy(prov);

    /* the source failing is reported as such */
    src = sl_creds_env_new(r.base);
    prov = sl_creds_assume_role_new(r.base, r.http, &so, src, err, sizeof(err));
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_NOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "no source credentials to assume "
                                         "arn:aws:iam::123456789012:role/reader with: env: "));
    sl_creds_provider_destroy(prov);
    so.role_arn = NULL;
    CU_ASSERT_PTR_NULL(sl_creds_assume_role_new(r.base, r.http, &so, sl_creds_env_new(r.base),
                                                err, sizeof(err)));
    CU_ASSERT_STRING_EQUAL(err, "AssumeRole needs a role ARN");

    /* web identity from the environment: unsigned, token from the file */
    snprintf(path, sizeof(path), "%s/token", unit_tmpdir());
    write_file(path, "WEBIDENTITYTOKEN1\n");
    memset(&so, 0, sizeof(so));
    prov = sl_creds_web_identity_new(r.base, r.http, &so);
    CU_ASSERT_PTR_NOT_NULL_FATAL(prov);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_NOENT);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web", 1);
    setenv("AWS_ROLE_SESSION_NAME", "pod-1", 1);
    setenv("AWS_ENDPOINT_URL_STS", url("/sts"), 1);
    srv_reset();
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "ASIASTS");
    CU_ASSERT_STRING_EQUAL(g.tok, SRV_TOKEN);
    l = srv_log();
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "POST /sts | ttl=- token=- auth=- "));
    CU_ASSERT_PTR_NOT_NULL(strstr(l, "| Action=AssumeRoleWithWebIdentity&Version=2011-06-15&"));
    CU_ASSERT_STRING_EQUAL(form_field(l, "RoleArn", f, sizeof(f)),
                           "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fweb");
    CU_ASSERT_STRING_EQUAL(form_field(l, "RoleSessionName", f, sizeof(f)), "pod-1");
    CU_ASSERT_STRING_EQUAL(form_field(l, "WebIdentityToken", f, sizeof(f)), "WEBIDENTITYTOKEN1");
    /* a missing token file: the path, never a token */
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token", 1);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(g.msg, "/nonexistent/token"));
    sl_creds_provider_destroy(prov);

    /* the default chain goes env -> web identity: the latter answers here */
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    empty_home();
    prov = sl_creds_default_chain_new(r.base, r.http, NULL);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    CU_ASSERT_STRING_EQUAL(g.ak, "ASIASTS");
    sl_creds_provider_destroy(prov);
    clear_aws_env();

    /* destroyed with the request in flight: the late answer is dropped safely */
    write_file(path, "WEBIDENTITYTOKEN1\n");
    so.token_file = path;
    so.role_arn = "arn:aws:iam::123456789012:role/web";
    so.endpoint = url("/sts");
    prov = sl_creds_web_identity_new(r.base, r.http, &so);
    memset(&g, 0, sizeof(g));
    CU_ASSERT_EQUAL(sl_creds_provider_fetch(prov, got_cb, &g), SL_OK);
    sl_creds_provider_destroy(prov);
    while (sl_http_pending(r.http))
        event_base_loop(r.base, EVLOOP_ONCE);
    CU_ASSERT_EQUAL(g.done, 0);
    remote_close(&r);
    srv_stop();
    check_logs(logs, secrets);
    restore_home();
}

/* ---- live peers (tests/0011-credentials.sh) ---------------------------------------------- */

static int live_skip(const char *var) {
    if (getenv(var) && *getenv(var))
        return 0;
    fprintf(stderr, "\n  NOT RUN in this mode: %s is unset (tests/0011-credentials.sh sets it) ",
            var);
    return 1;
}

/* A log file named by SLUICE_TEST_LOG (the script greps it for secrets), else a temp file. */
static FILE *live_logs(void) {
    const char *p = getenv("SLUICE_TEST_LOG");
    FILE *fp = p && *p ? fopen(p, "a") : tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    sl_log_set_file(fp);
    sl_log_set_debug("all");
    return fp;
}

static void live_logs_end(FILE *fp) {
    sl_log_set_file(NULL);
    sl_log_set_debug("");
    sl_log_set_level(SL_LOG_INFO);
    fclose(fp);
}

/* Prints a credential's secret parts to the file named by SLUICE_TEST_SECRETS so the script
 * knows what must never appear in the logs. */
static void live_note_secret(const char *s) {
    const char *p = getenv("SLUICE_TEST_SECRETS");
    FILE *fp;
    if (!p || !*p || !s || !*s)
        return;
    if ((fp = fopen(p, "a"))) {
        fprintf(fp, "%s\n", s);
        fclose(fp);
    }
}

/* AssumeRole against moto with a short lifetime: the cache refreshes before expiry on its own
 * timer, with real time, and each refresh yields new credentials. */
static void test_live_assume_role_refresh(void) {
    remote_t r;
    sl_creds_sts_opts_t so;
    sl_creds_opts_t co;
    sl_creds_t *creds;
    heard_t h = {0};
    char err[256], ak1[128];
    const char *ep = getenv("SLUICE_TEST_STS_ENDPOINT");
    const char *dur = getenv("SLUICE_TEST_STS_DURATION");
    FILE *logs;
    int64_t t0, exp1;

    if (live_skip("SLUICE_TEST_STS_ENDPOINT"))
        return;
    logs = live_logs();
    live_note_secret("moto-source-secret-1");
    remote_open(&r);
    memset(&so, 0, sizeof(so));
    so.region = "us-east-1";
    so.endpoint = ep;
    so.role_arn = "arn:aws:iam::123456789012:role/sluice-test";
    so.session_name = "sluice-0011";
    so.duration_s = dur ? atoi(dur) : 900;
    sl_creds_opts_init(&co);
    creds = sl_creds_new(r.base,
                         sl_creds_assume_role_new(r.base, r.http, &so,
                                                  sl_creds_static_new(r.base, "AKIDMOTOSOURCE",
                                                                      "moto-source-secret-1",
                                                                      NULL, err, sizeof(err)),
                                                  err, sizeof(err)),
                         &co, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(creds);
    sl_creds_listen(creds, heard_cb, &h);
    t0 = sl_now_ms();
    while (h.n < 1 && sl_now_ms() - t0 < 20000)
        event_base_loop(r.base, EVLOOP_ONCE);
    CU_ASSERT_EQUAL_FATAL(h.last, SL_OK);
    if (h.last != SL_OK)
        fprintf(stderr, "\n  %s", sl_creds_last_error(creds));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sl_creds_get(creds));
    snprintf(ak1, sizeof(ak1), "%s", sl_creds_get(creds)->access_key);
    live_note_secret(sl_creds_get(creds)->secret_key);
    live_note_secret(sl_creds_get(creds)->session_token);
    exp1 = sl_creds_expires_ms(creds);
    fprintf(stderr, "\n  moto AssumeRole: %s, expires in %lld ms, refresh due in %lld ms ", ak1,
            (long long)(exp1 - sl_now_ms()), (long long)(sl_creds_next_fetch_ms(creds) - sl_now_ms()));
    CU_ASSERT(exp1 > sl_now_ms());
    /* moto honours DurationSeconds when it is short: wait for the background refresh */
    if (exp1 - sl_now_ms() <= 120000) {
        t0 = sl_now_ms();
        while (h.n < 2 && sl_now_ms() < exp1 + 5000)
            event_base_loop(r.base, EVLOOP_ONCE);
        CU_ASSERT_EQUAL(h.n, 2);
        CU_ASSERT_EQUAL(h.last, SL_OK);
        CU_ASSERT(sl_now_ms() < exp1); /* before expiry, not after */
        CU_ASSERT_PTR_NOT_NULL_FATAL(sl_creds_get(creds));
        CU_ASSERT_STRING_NOT_EQUAL(sl_creds_get(creds)->access_key, ak1);
        CU_ASSERT(sl_creds_expires_ms(creds) > exp1);
        live_note_secret(sl_creds_get(creds)->secret_key);
        live_note_secret(sl_creds_get(creds)->session_token);
        fprintf(stderr, "refreshed after %lld ms to %s ", (long long)(sl_now_ms() - t0),
                sl_creds_get(creds)->access_key);
    } else {
        CU_FAIL("the STS peer ignored the short DurationSeconds: refresh not proved");
    }
    sl_creds_destroy(creds);
    remote_close(&r);
    live_logs_end(logs);
}

static void test_live_web_identity(void) {
    remote_t r;
    sl_creds_sts_opts_t so;
    sl_creds_provider_t *prov;
    char path[600];
    const char *ep = getenv("SLUICE_TEST_STS_ENDPOINT");
    FILE *logs;
    got_t g;

    if (live_skip("SLUICE_TEST_STS_ENDPOINT"))
        return;
    logs = live_logs();
    snprintf(path, sizeof(path), "%s/token", unit_tmpdir());
    /* a JWT-shaped token; moto does not verify it */
    write_file(path, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzbHVpY2UtMDAxMSJ9.c2x1aWNlLXdlYi1pZGVudGl0eQ\n");
    live_note_secret("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzbHVpY2UtMDAxMSJ9.c2x1aWNlLXdlYi1pZGVudGl0eQ");
    remote_open(&r);
    memset(&so, 0, sizeof(so));
    so.endpoint = ep;
    so.region = "us-east-1";
    so.role_arn = "arn:aws:iam::123456789012:role/sluice-web";
    so.session_name = "sluice-0011-web";
    so.token_file = path;
    prov = sl_creds_web_identity_new(r.base, r.http, &so);
    CU_ASSERT_PTR_NOT_NULL_FATAL(prov);
    fetch(r.base, prov, &g);
    CU_ASSERT_EQUAL(g.err, SL_OK);
    if (g.err != SL_OK)
        fprintf(stderr, "\n  %s", g.msg);
    CU_ASSERT(strlen(g.ak) > 0);
    CU_ASSERT(g.has_tok);
    CU_ASSERT(g.expires > sl_now_ms());
    live_note_secret(g.sk);
    live_note_secret(g.tok);
    fprintf(stderr, "\n  moto AssumeRoleWithWebIdentity: %s ", g.ak);
    sl_creds_provider_destroy(prov);
    remote_close(&r);
    live_logs_end(logs);
}

static void test_live_imds(void) {
    remote_t r;
    sl_creds_provider_t *prov;
    sl_creds_t *creds;
    heard_t h = {0};
    const char *ep = getenv("SLUICE_TEST_IMDS_ENDPOINT");
    char err[256];
    FILE *logs;
    int64_t t0;

    if (live_skip("SLUICE_TEST_IMDS_ENDPOINT"))
        return;
    logs = live_logs();
    remote_open(&r);
    clear_aws_env();
    empty_home();
    /* through the default chain, as a job on EC2 would get them */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
    prov = sl_creds_default_chain_new(r.base, r.http, NULL);
    creds = sl_creds_new(r.base, prov, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(creds);
    sl_creds_listen(creds, heard_cb, &h);
    t0 = sl_now_ms();
    while (h.n < 1 && sl_now_ms() - t0 < 20000)
        event_base_loop(r.base, EVLOOP_ONCE);
    CU_ASSERT_EQUAL(h.last, SL_OK);
    if (h.last != SL_OK)
        fprintf(stderr, "\n  %s", sl_creds_last_error(creds));
    if (sl_creds_get(creds)) {
        live_note_secret(sl_creds_get(creds)->secret_key);
        live_note_secret(sl_creds_get(creds)->session_token);
        fprintf(stderr, "\n  IMDS mock: %s, expires in %lld s ", sl_creds_get(creds)->access_key,
                (long long)((sl_creds_expires_ms(creds) - sl_now_ms()) / 1000));
    }
    sl_creds_destroy(creds);
    clear_aws_env();
    remote_close(&r);
    live_logs_end(logs);
    restore_home();
}

void test_creds_register(void) {
    static const unit_test_t tests[] = {
        {"parse_time", test_parse_time},
        {"value", test_value},
        {"static", test_static},
        {"env", test_env},
        {"profile", test_profile},
        {"credential_process", test_credential_process},
        {"chain", test_chain},
        {"default_chain_local", test_default_chain_local},
        {"cache_refresh", test_cache_refresh},
        {"cache_backoff", test_cache_backoff},
        {"cache_invalidate", test_cache_invalidate},
        {"cache_first_failure", test_cache_first_failure},
        {"conf_spellings", test_conf_spellings},
        {"conf_flink_roles", test_conf_flink_roles},
        {"conf_errors", test_conf_errors},
        {"conf_providers", test_conf_providers},
        {"imds", test_imds},
        {"container", test_container},
        {"sts", test_sts},
        {"live_assume_role_refresh", test_live_assume_role_refresh},
        {"live_web_identity", test_live_web_identity},
        {"live_imds", test_live_imds},
        {NULL, NULL},
    };
    unit_add_suite("creds", tests);
}
