/*
 * test_aws_endpoint.c: the AWS SDKs' endpoint precedence as aws_endpoint.c implements it (the
 * job's setting, AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's services section,
 * its endpoint_url, the region), the ignore switch, and that an AWS client built without an
 * endpoint takes it. The environment is saved, cleared and put back around every test, and
 * config files are written to fresh temporary directories.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <CUnit/CUnit.h>
#include <event2/event.h>

#include "aws_client.h"
#include "aws_endpoint.h"
#include "http.h"
#include "unit.h"
#include "util_str.h"

static const char *const vars[] = {
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CONFIG_FILE", "AWS_PROFILE", "HOME", NULL};
static char *saved[sizeof(vars) / sizeof(vars[0])];

/* Saves and clears every variable read, and points HOME at an empty directory. */
static void env_begin(void) {
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? sl_strdup(v) : NULL;
        unsetenv(vars[i]);
    }
    setenv("HOME", unit_tmpdir(), 1);
}

static void env_end(void) {
    for (int i = 0; vars[i]; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        else
            unsetenv(vars[i]);
        free(saved[i]);
        saved[i] = NULL;
    }
}

/* Writes text to a fresh config file and points AWS_CONFIG_FILE at it. */
static void config_file(const char *text) {
    char path[600];
    FILE *fp;
    snprintf(path, sizeof(path), "%s/config", unit_tmpdir());
    fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs(text, fp);
    fclose(fp);
    setenv("AWS_CONFIG_FILE", path, 1);
}

static const char cfg[] =
    "# a shared config file the way the AWS CLI documents it\n"
    "[default]\n"
    "region = us-west-2\n"
    "endpoint_url = http://profile-global:1\n"
    "services = local\n"
    "\n"
    "[profile other]\n"
    "endpoint_url = http://other-global:2\n"
    "s3 =\n"
    "  endpoint_url = http://nested-not-a-profile-key:9\n"
    "\n"
    "[services local]\n"
    "dynamodb =\n"
    "  endpoint_url = http://svc-dynamodb:3\n"
    "kinesis =\n"
    "  endpoint_url = http://svc-kinesis:4\n"
    "  max_attempts = 3\n"
    "\n"
    "[services unused]\n"
    "sts =\n"
    "  endpoint_url = http://never:5\n";

/* Each step of the order, from the top down, by removing the winner each time. */
static void test_precedence(void) {
    aws_endpoint_t ep;
    env_begin();
    config_file(cfg);
    setenv("AWS_ENDPOINT_URL", "http://env-global:6", 1);
    setenv("AWS_ENDPOINT_URL_KINESIS", "http://env-kinesis:7", 1);

    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", "http://job:8", "aws.endpoint", NULL, &ep),
                    AWS_EP_EXPLICIT);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://job:8");
    CU_ASSERT_STRING_EQUAL(ep.from, "aws.endpoint");

    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", "", "aws.endpoint", NULL, &ep),
                    AWS_EP_ENV_SERVICE);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://env-kinesis:7");
    CU_ASSERT_STRING_EQUAL(ep.from, "AWS_ENDPOINT_URL_KINESIS");

    unsetenv("AWS_ENDPOINT_URL_KINESIS");
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_ENV);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://env-global:6");
    CU_ASSERT_STRING_EQUAL(ep.from, "AWS_ENDPOINT_URL");

    unsetenv("AWS_ENDPOINT_URL");
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_SERVICES);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://svc-kinesis:4");
    CU_ASSERT_PTR_NOT_NULL(strstr(ep.from, "services section 'local' of profile 'default' in "));
    CU_ASSERT_PTR_NOT_NULL(strstr(ep.from, getenv("AWS_CONFIG_FILE")));
    CU_ASSERT_EQUAL(aws_endpoint_resolve("dynamodb", NULL, NULL, NULL, &ep), AWS_EP_SERVICES);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://svc-dynamodb:3");

    /* no sub-section for sts in [services local]: the profile's own endpoint_url */
    CU_ASSERT_EQUAL(aws_endpoint_resolve("sts", NULL, NULL, NULL, &ep), AWS_EP_PROFILE);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://profile-global:1");
    CU_ASSERT_PTR_NOT_NULL(strstr(ep.from, "endpoint_url of profile 'default'"));

    /* the service variable beats AWS_ENDPOINT_URL for its service only */
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://env-ddb:10", 1);
    CU_ASSERT_EQUAL(aws_endpoint_resolve("dynamodb", NULL, NULL, NULL, &ep), AWS_EP_ENV_SERVICE);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://env-ddb:10");
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_SERVICES);

    /* an empty variable counts as unset */
    setenv("AWS_ENDPOINT_URL_KINESIS", "", 1);
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_SERVICES);

    /* nothing anywhere: the region's */
    unsetenv("AWS_CONFIG_FILE");
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_DEFAULT);
    CU_ASSERT_STRING_EQUAL(ep.url, "");
    env_end();
}

/* Which profile: the argument, else AWS_PROFILE, else default; ~/.aws/config without
 * AWS_CONFIG_FILE; nested keys of a profile are not its own. */
static void test_profiles(void) {
    aws_endpoint_t ep;
    char path[700];
    FILE *fp;
    env_begin();
    config_file(cfg);
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, "other", &ep), AWS_EP_PROFILE);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://other-global:2");
    setenv("AWS_PROFILE", "other", 1);
    CU_ASSERT_EQUAL(aws_endpoint_resolve("s3", NULL, NULL, NULL, &ep), AWS_EP_PROFILE);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://other-global:2");
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, "default", &ep), AWS_EP_SERVICES);
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, "missing", &ep), AWS_EP_DEFAULT);
    unsetenv("AWS_PROFILE");

    /* [profile default] names the default profile too; a services name with no section */
    config_file("[profile default]\nservices = nowhere\nendpoint_url=http://pd:1\n");
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_PROFILE);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://pd:1");

    /* the default location, case-insensitive service keys */
    unsetenv("AWS_CONFIG_FILE");
    snprintf(path, sizeof(path), "%s/.aws", getenv("HOME"));
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
    strcat(path, "/config");
    fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("[default]\nservices = s\n[services s]\nDynamoDB_Streams =\n"
          "\tendpoint_url = http://streams:1\n",
          fp);
    fclose(fp);
    CU_ASSERT_EQUAL(aws_endpoint_resolve("dynamodb_streams", NULL, NULL, NULL, &ep),
                    AWS_EP_SERVICES);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://streams:1");
    CU_ASSERT_PTR_NOT_NULL(strstr(ep.from, path));
    env_end();
}

/* AWS_IGNORE_CONFIGURED_ENDPOINT_URLS and ignore_configured_endpoint_urls: the variables and
 * the file are skipped, the job's own setting is not; the variable beats the file's key. */
static void test_ignore(void) {
    aws_endpoint_t ep;
    env_begin();
    config_file(cfg);
    setenv("AWS_ENDPOINT_URL_KINESIS", "http://env-kinesis:7", 1);
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", 1);
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_DEFAULT);
    CU_ASSERT_STRING_EQUAL(ep.url, "");
    CU_ASSERT_STRING_EQUAL(ep.from, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", "http://job:8", "aws.endpoint", NULL, &ep),
                    AWS_EP_EXPLICIT);
    CU_ASSERT_STRING_EQUAL(ep.url, "http://job:8");
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false", 1);
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_ENV_SERVICE);

    config_file("[default]\nignore_configured_endpoint_urls = true\nendpoint_url = http://x:1\n");
    unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_DEFAULT);
    CU_ASSERT_PTR_NOT_NULL(strstr(ep.from, "ignore_configured_endpoint_urls"));
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false", 1);
    CU_ASSERT_EQUAL(aws_endpoint_resolve("kinesis", NULL, NULL, NULL, &ep), AWS_EP_ENV_SERVICE);
    env_end();
}

/* The client: no endpoint option means the resolver's; an explicit one still wins; DynamoDB
 * Streams' endpoint prefix maps to AWS_ENDPOINT_URL_DYNAMODB_STREAMS. */
static void test_client(void) {
    struct event_base *base = event_base_new();
    sl_http_opts_t ho;
    sl_aws_client_opts_t co;
    sl_aws_client_t *c;
    char err[512];
    env_begin();
    sl_http_opts_init(&ho);
    sl_http_t *http = sl_http_new(base, &ho, err, sizeof(err));
    memset(&co, 0, sizeof(co));
    co.service = "kinesis";
    co.region = "us-east-1";
    co.target_prefix = "Kinesis_20131202";
    setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4567", 1);
    c = sl_aws_client_new(http, NULL, &co, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(sl_aws_client_endpoint(c), "http://127.0.0.1:4567");
    sl_aws_client_destroy(c);
    co.endpoint = "http://127.0.0.1:1";
    c = sl_aws_client_new(http, NULL, &co, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(sl_aws_client_endpoint(c), "http://127.0.0.1:1");
    sl_aws_client_destroy(c);

    co.endpoint = NULL;
    co.service = "streams.dynamodb";
    setenv("AWS_ENDPOINT_URL", "http://global:1", 1);
    setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "http://streams:2", 1);
    c = sl_aws_client_new(http, NULL, &co, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(sl_aws_client_endpoint(c), "http://streams:2");
    sl_aws_client_destroy(c);

    /* a bad URL from the environment is named with where it came from */
    setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "ftp://nope", 1);
    CU_ASSERT_PTR_NULL(sl_aws_client_new(http, NULL, &co, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'ftp://nope' (from AWS_ENDPOINT_URL_DYNAMODB_STREAMS)"));
    CU_ASSERT_STRING_EQUAL(aws_endpoint_service_id("monitoring"), "cloudwatch");
    CU_ASSERT_STRING_EQUAL(aws_endpoint_service_id("dynamodb"), "dynamodb");
    sl_http_destroy(http);
    event_base_free(base);
    env_end();
}

void test_aws_endpoint_register(void) {
    static const unit_test_t tests[] = {
        {"precedence", test_precedence},
        {"profiles", test_profiles},
        {"ignore", test_ignore},
        {"client", test_client},
        {NULL, NULL},
    };
    unit_add_suite("aws_endpoint", tests);
}
