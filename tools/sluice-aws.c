/*
 * tools/sluice-aws.c: `sluice-aws SERVICE OPERATION [JSON]`, a developer tool that calls one AWS
 * JSON API operation through sluice's AWS layer (endpoint resolution, SigV4, the credentials
 * chain, retries) and prints the answer; the integration tests use it to create and inspect
 * streams and tables on the local peers. It uses the library's private AWS client, so it links
 * the convenience library and is not installed; the `sluice` CLI stays a client of the public
 * API alone.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>

#include "aws_client.h"
#include "sluice/sluice.h"
#include "util_time.h"

#define EXIT_USAGE 2

static const char *progname = "sluice-aws";

static const char usage_aws[] =
    "usage: sluice-aws SERVICE OPERATION [JSON] [options]\n"
    "\n"
    "Calls one operation of an AWS JSON API through sluice's AWS layer (endpoint resolution,\n"
    "SigV4, the credentials chain, retries) and prints the JSON answer. SERVICE is kinesis,\n"
    "dynamodb or dynamodbstreams; OPERATION its API name (ListStreams, CreateTable, ...); JSON\n"
    "the request (default {}; @FILE reads a file, - reads standard input).\n"
    "  --endpoint-url URL   send to URL (default, as the AWS CLI: AWS_ENDPOINT_URL_<SERVICE>,\n"
    "                       AWS_ENDPOINT_URL, the profile's services section or endpoint_url\n"
    "                       unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true, else the region's)\n"
    "  --region R           region (default: AWS_REGION, AWS_DEFAULT_REGION)\n"
    "  --profile P          shared-config profile for credentials and endpoints\n"
    "  --no-verify-ssl      do not verify TLS certificates\n"
    "  --repeat N           send the call N times; print a summary instead of the answer\n"
    "  --concurrency C      with --repeat, at most C calls in flight (default 100)\n"
    "Environment: SLUICE_DEBUG=http,creds,aws (or all) logs what the AWS layer does (secrets\n"
    "masked).\n"
    "Exit: 0 success, 1 the call failed, 2 usage.\n";

static int wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

static int usage_error(const char *usage, const char *fmt, const char *arg) {
    fprintf(stderr, "%s: ", progname);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return EXIT_USAGE;
}


typedef struct {
    sl_aws_client_t *client;
    const char *op;
    json_t *body;
    int to_send; /* calls not sent yet (--repeat beyond --concurrency) */
    int outstanding, ok, failed, print;
    int64_t first_fail_status;
    char first_fail[512];
    struct event_base *base;
} aws_run_t;

static void aws_done(void *opaque, const sl_aws_result_t *res) {
    aws_run_t *run = opaque;
    if (res->err == SL_OK) {
        run->ok++;
        if (run->print && res->result) {
            char *s = json_dumps(res->result, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (s)
                printf("%s\n", s);
            free(s);
        }
    } else {
        if (!run->failed++) {
            run->first_fail_status = res->status;
            snprintf(run->first_fail, sizeof(run->first_fail), "%s: %s (HTTP %ld, %d attempt(s)%s%s)",
                     res->type ? res->type : sl_err_str(res->err), res->message, res->status,
                     res->attempts,
                     res->request_id ? ", request id " : "", res->request_id ? res->request_id : "");
        }
    }
    run->outstanding--;
    while (run->to_send > 0) { /* keep the number in flight: one new call per finished one */
        run->to_send--;
        run->outstanding++;
        if (sl_aws_call(run->client, run->op, json_incref(run->body), NULL, aws_done, run) ==
            SL_OK)
            break;
        run->outstanding--;
        run->failed++;
    }
    if (run->outstanding == 0)
        event_base_loopbreak(run->base);
}

static json_t *aws_read_body(const char *arg, char *err, size_t errlen) {
    json_error_t jerr;
    json_t *body;
    if (!arg)
        return json_object();
    if (!strcmp(arg, "-"))
        body = json_loadf(stdin, 0, &jerr);
    else if (arg[0] == '@')
        body = json_load_file(arg + 1, 0, &jerr);
    else
        body = json_loads(arg, 0, &jerr);
    if (!body || !json_is_object(body)) {
        snprintf(err, errlen, "the request must be a JSON object (%s at line %d column %d)",
                 body ? "not an object" : jerr.text, jerr.line, jerr.column);
        json_decref(body);
        return NULL;
    }
    return body;
}

static int cmd_aws(int argc, char **argv) {
    static const struct {
        const char *name, *endpoint, *signing, *prefix, *version;
    } services[] = {
        {"kinesis", "kinesis", "kinesis", "Kinesis_20131202", "1.1"},
        {"dynamodb", "dynamodb", "dynamodb", "DynamoDB_20120810", "1.0"},
        {"dynamodbstreams", "streams.dynamodb", "dynamodb", "DynamoDBStreams_20120810", "1.0"},
    };
    const char *pos[3] = {NULL, NULL, NULL}, *endpoint = NULL, *profile = NULL;
    const char *region = getenv("AWS_REGION");
    int npos = 0, verify = 1, repeat = 1, concurrency = 100, si = -1, rc = 1;
    const char *repeat_arg = "1";
    char err[1024];
    struct event_base *base = NULL;
    sl_http_t *http = NULL;
    sl_creds_t *creds = NULL;
    sl_aws_client_t *client = NULL;
    json_t *body = NULL;
    aws_run_t run;
    sl_http_opts_t ho;
    sl_creds_chain_opts_t chain;
    sl_aws_client_opts_t co;

    if (wants_help(argc, argv)) {
        fputs(usage_aws, stdout);
        return 0;
    }
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--endpoint-url") && i + 1 < argc)
            endpoint = argv[++i];
        else if (!strcmp(argv[i], "--region") && i + 1 < argc)
            region = argv[++i];
        else if (!strcmp(argv[i], "--profile") && i + 1 < argc)
            profile = argv[++i];
        else if (!strcmp(argv[i], "--concurrency") && i + 1 < argc)
            concurrency = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-verify-ssl"))
            verify = 0;
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(repeat_arg = argv[++i]);
        else if (argv[i][0] == '-' && argv[i][1])
            return usage_error(usage_aws, "unknown option '%s'", argv[i]);
        else if (npos < 3)
            pos[npos++] = argv[i];
        else
            return usage_error(usage_aws, "unexpected argument '%s'", argv[i]);
    }
    if (npos < 2)
        return usage_error(usage_aws, "%s", "SERVICE and OPERATION are required");
    if (concurrency < 1)
        return usage_error(usage_aws, "%s", "--concurrency must be at least 1");
    if (repeat < 1 || repeat > 1000000)
        return usage_error(usage_aws, "--repeat must be between 1 and 1000000, not '%s'",
                           repeat_arg);
    for (size_t i = 0; i < sizeof(services) / sizeof(*services); i++)
        if (!strcmp(services[i].name, pos[0]))
            si = (int)i;
    if (si < 0)
        return usage_error(usage_aws, "unknown service '%s' (kinesis, dynamodb, dynamodbstreams)",
                           pos[0]);
    if (!region || !*region)
        return usage_error(usage_aws, "%s", "no region: use --region or set AWS_REGION");
    if (!(body = aws_read_body(pos[2], err, sizeof(err)))) {
        fprintf(stderr, "%s: %s\n", progname, err);
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Quiet by default; SLUICE_DEBUG=http,creds,aws (or all) shows what happens. */
    sl_log_set_level(SL_LOG_WARN);
    if (getenv("SLUICE_DEBUG"))
        sl_log_set_debug(getenv("SLUICE_DEBUG"));
    base = event_base_new();
    sl_http_opts_init(&ho);
    ho.verify_tls = verify;
    ho.max_connections = 50; /* the AWS SDKs' default pool size */
    /* aws.socket.timeout's default: a hung endpoint costs 10 s per attempt, not a minute */
    ho.request_timeout_ms = 10000;
    memset(&chain, 0, sizeof(chain));
    chain.profile = profile;
    memset(&co, 0, sizeof(co));
    co.service = services[si].endpoint;
    co.signing_name = services[si].signing;
    co.region = region;
    co.endpoint = endpoint; /* NULL: AWS_ENDPOINT_URL_<SERVICE> and the rest, as the AWS CLI */
    co.endpoint_key = "--endpoint-url";
    co.profile = profile;
    co.target_prefix = services[si].prefix;
    co.json_version = services[si].version;
    co.retry = (sl_retry_policy_t){100, 5000, 2.0, 5, 0};
    if (!base || !(http = sl_http_new(base, &ho, err, sizeof(err))) ||
        !(creds = sl_creds_new(base, sl_creds_default_chain_new(base, http, &chain), NULL, err,
                               sizeof(err))) ||
        !(client = sl_aws_client_new(http, creds, &co, err, sizeof(err)))) {
        fprintf(stderr, "%s: aws: %s\n", progname, err);
        goto out;
    }
    memset(&run, 0, sizeof(run));
    run.base = base;
    run.client = client;
    run.op = pos[1];
    run.body = body;
    run.print = repeat == 1;
    run.to_send = repeat;
    int64_t t0 = sl_mono_ms();
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    for (int i = 0; i < concurrency && run.to_send > 0; i++) {
        run.to_send--;
        run.outstanding++;
        if (sl_aws_call(client, pos[1], json_incref(body), NULL, aws_done, &run) != SL_OK) {
            run.outstanding--;
            run.failed++;
        }
    }
    if (run.outstanding)
        event_base_dispatch(base);
    getrusage(RUSAGE_SELF, &ru1);
    if (repeat > 1) {
        double wall = (double)(sl_mono_ms() - t0) / 1000.0;
        double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                              ru0.ru_stime.tv_sec) +
                     (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                              ru0.ru_stime.tv_usec) / 1e6;
        printf("%s %s x%d: %d ok, %d failed, %.3f s, %.0f calls/s, %.1f us CPU per call\n",
               pos[0], pos[1], repeat, run.ok, run.failed, wall, wall > 0 ? repeat / wall : 0,
               cpu * 1e6 / repeat);
    }
    if (run.failed)
        fprintf(stderr, "%s: %s %s: %s\n", progname, pos[0], pos[1], run.first_fail);
    rc = run.failed ? 1 : 0;
    json_decref(body);
    body = NULL;
out:
    json_decref(body);
    sl_aws_client_destroy(client);
    sl_creds_destroy(creds);
    sl_http_destroy(http);
    if (base)
        event_base_free(base);
    return rc;
}

int main(int argc, char **argv) {
    return cmd_aws(argc - 1, argv + 1);
}
