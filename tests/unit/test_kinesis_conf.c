/*
 * test_kinesis_conf.c: unit tests of the `kinesis` system's stream table and checks
 * (connectors/kinesis/kinesis_conf.c). Small job files are applied with the prefixes the job
 * loader uses (stream, default.stream, system) and the filled kin_conf_t is inspected:
 * defaults, every Flink / Pulsar / Samza spelling landing in its canonical field, Pulsar's
 * millisecond checkpointInterval, the start position and its time, EFO refused at the key the
 * user wrote, backoff and lease checks, unknown-key hints for typos of KCL settings, IGNORED
 * KCL keys accepted, and every consumer option the Flink, Pulsar and Samza documents list.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "../../connectors/kinesis/kinesis.h"
#include "conf_int.h"
#include "sluice/log.h"
#include "unit.h"
#include "util_str.h"

#define S "systems.k.streams.s."

static const char *const pfx[] = {S, "systems.k.default.stream.", "systems.k.", NULL};

/* ---- fixtures ---------------------------------------------------------------------------- */

static sl_conf_t *load(const char *text) {
    char err[512];
    sl_conf_t *conf = sl_conf_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
    sl_err_t rc = sl_conf_load_string(conf, "job.properties", text, strlen(text), err,
                                      sizeof(err));
    CU_ASSERT_EQUAL(rc, SL_OK);
    if (rc)
        fprintf(stderr, "load: %s\n", err);
    return conf;
}

static void dump_errors(const sl_conf_t *conf) {
    for (int i = 0; i < sl_conf_error_count(conf); i++)
        fprintf(stderr, "  error[%d]: %s\n", i, sl_conf_error_at(conf, i));
}

/* True when some collected error equals msg exactly. */
static int has_error(const sl_conf_t *conf, const char *msg) {
    for (int i = 0; i < sl_conf_error_count(conf); i++)
        if (!strcmp(sl_conf_error_at(conf, i), msg))
            return 1;
    dump_errors(conf);
    fprintf(stderr, "  wanted:   %s\n", msg);
    return 0;
}

/* True when some collected error contains n1 and, unless NULL, n2. */
static int error_with(const sl_conf_t *conf, const char *n1, const char *n2) {
    for (int i = 0; i < sl_conf_error_count(conf); i++) {
        const char *e = sl_conf_error_at(conf, i);
        if (strstr(e, n1) && (!n2 || strstr(e, n2)))
            return 1;
    }
    dump_errors(conf);
    fprintf(stderr, "  wanted an error with: %s%s%s\n", n1, n2 ? " + " : "", n2 ? n2 : "");
    return 0;
}

/* Captured log lines (warnings of the checks), so test output stays quiet. */
static char *logbuf;
static size_t loglen;
static FILE *logfp;

static void log_start(void) {
    logbuf = NULL;
    loglen = 0;
    logfp = open_memstream(&logbuf, &loglen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(logfp);
    sl_log_set_file(logfp);
    sl_log_set_level(SL_LOG_INFO);
}

static char *log_stop(void) {
    sl_log_set_file(NULL);
    fclose(logfp);
    logfp = NULL;
    return logbuf;
}

typedef struct run {
    sl_conf_t *conf;
    kin_conf_t kc;
    int apply_errs, check_errs;
    char *log;
} run_t;

/* Loads text, applies the table under the job loader's prefixes and runs the checks. */
static void run(run_t *r, const char *text) {
    memset(r, 0, sizeof(*r));
    r->conf = load(text);
    log_start();
    r->apply_errs = sl_conf_apply(r->conf, kin_stream_props, pfx, &r->kc);
    r->check_errs = kin_conf_check(r->conf, pfx, &r->kc);
    r->log = log_stop();
}

static int errs(const run_t *r) {
    int n = r->apply_errs + r->check_errs;
    if (n)
        dump_errors(r->conf);
    return n;
}

static void done(run_t *r) {
    sl_conf_obj_free(kin_stream_props, &r->kc);
    sl_conf_destroy(r->conf);
    free(r->log);
}

static void assert_backoff(const kin_backoff_t *b, int retries, int64_t base, int64_t max) {
    CU_ASSERT_EQUAL(b->max_retries, retries);
    CU_ASSERT_EQUAL(b->base_ms, base);
    CU_ASSERT_EQUAL(b->max_ms, max);
    CU_ASSERT_DOUBLE_EQUAL(b->expconst, 1.5, 1e-9);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_defaults(void) {
    run_t r;
    run(&r, "systems.k.aws.region=us-east-1\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    const kin_conf_t *kc = &r.kc;
    CU_ASSERT_STRING_EQUAL(kc->aws.region, "us-east-1");
    CU_ASSERT_STRING_EQUAL(kc->stream_name, "");
    CU_ASSERT_STRING_EQUAL(kc->stream_arn, "");
    CU_ASSERT_STRING_EQUAL(kc->initpos, "");
    CU_ASSERT_EQUAL(kc->initpos_e, KIN_POS_DEFAULT);
    CU_ASSERT_STRING_EQUAL(kc->initpos_timestamp, "");
    CU_ASSERT_STRING_EQUAL(kc->initpos_ts_format, "yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    CU_ASSERT_EQUAL(kc->initpos_ts_ms, 0);
    CU_ASSERT_STRING_EQUAL(kc->record_publisher, "POLLING");
    CU_ASSERT_EQUAL(kc->use_efo, 0);
    CU_ASSERT_STRING_EQUAL(kc->efo_consumer_name, "");
    CU_ASSERT_STRING_EQUAL(kc->efo_registration, "LAZY");
    CU_ASSERT_STRING_EQUAL(kc->efo_consumer_arn, "");
    CU_ASSERT_EQUAL(kc->max_records, 10000);
    CU_ASSERT_EQUAL(kc->getrecords_interval_ms, 200);
    CU_ASSERT_EQUAL(kc->adaptive_reads, 0);
    /* Flink's defaults */
    assert_backoff(&kc->getrecords, 3, 300, 1000);
    assert_backoff(&kc->getiterator, 3, 300, 1000);
    assert_backoff(&kc->listshards, 10, 1000, 5000);
    assert_backoff(&kc->describe, 50, 2000, 5000);
    CU_ASSERT_EQUAL(kc->discovery_interval_ms, 10000);
    CU_ASSERT_EQUAL(kc->receive_queue, 10000);
    CU_ASSERT_EQUAL(kc->checkpoint_interval_ms, 60000);
    CU_ASSERT_EQUAL(kc->checkpoint_retries, 3);
    CU_ASSERT_EQUAL(kc->lease_store, KIN_STORE_AUTO);
    CU_ASSERT_STRING_EQUAL(kc->table_name, "");
    CU_ASSERT_EQUAL(kc->create_table, 1);
    CU_ASSERT_STRING_EQUAL(kc->worker_id, "");
    CU_ASSERT_EQUAL(kc->failover_ms, 10000);
    CU_ASSERT_EQUAL(kc->epsilon_ms, 25);
    CU_ASSERT_EQUAL(kc->take_interval_ms, 0);
    CU_ASSERT_EQUAL(kc->max_leases_for_worker, INT_MAX);
    CU_ASSERT_EQUAL(kc->max_leases_to_steal, 8);
    CU_ASSERT_EQUAL(kc->parent_poll_ms, 10000);
    CU_ASSERT_EQUAL(kc->cleanup_leases, 1);
    CU_ASSERT_EQUAL(kc->shutdown_grace_ms, 5000);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    done(&r);
}

static void test_pulsar_aliases(void) {
    run_t r;
    /* Pulsar's own example configuration, as properties of one stream. */
    run(&r, S "awsEndpoint=http://localhost:4567\n" S "awsRegion=us-east-1\n"
            S "awsKinesisStreamName=my-stream\n"
            S "awsCredentialPluginParam={\"accessKey\":\"myKey\",\"secretKey\":\"my-Secret\"}\n"
            S "applicationName=My test application\n" S "checkpointInterval=30000\n"
            S "backoffTime=4000\n" S "numRetries=5\n" S "receiveQueueSize=2000\n"
            S "initialPositionInStream=TRIM_HORIZON\n"
            S "startAtTime=2019-03-05T19:28:58.000Z\n" S "useEnhancedFanOut=false\n"
            S "dynamoEndpoint=http://localhost:8000\n" S "cloudwatchEndpoint=http://cw:1\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_STRING_EQUAL(r.kc.aws.endpoint, "http://localhost:4567");
    CU_ASSERT_STRING_EQUAL(r.kc.aws.region, "us-east-1");
    CU_ASSERT_STRING_EQUAL(r.kc.stream_name, "my-stream");
    CU_ASSERT_STRING_EQUAL(r.kc.aws.application_name, "My test application");
    CU_ASSERT_STRING_EQUAL(r.kc.aws.dynamodb_endpoint, "http://localhost:8000");
    CU_ASSERT_EQUAL(r.kc.checkpoint_interval_ms, 30000); /* Pulsar's milliseconds */
    CU_ASSERT_EQUAL(r.kc.checkpoint_retries, 5);
    CU_ASSERT_EQUAL(r.kc.receive_queue, 2000);
    CU_ASSERT_EQUAL(r.kc.initpos_e, KIN_POS_TRIM_HORIZON);
    CU_ASSERT_STRING_EQUAL(r.kc.initpos_timestamp, "2019-03-05T19:28:58.000Z");
    CU_ASSERT_EQUAL(r.kc.use_efo, 0);
    /* backoffTime is the base; the cap, not set, follows it instead of failing the check */
    CU_ASSERT_EQUAL(r.kc.getrecords.base_ms, 4000);
    CU_ASSERT_EQUAL(r.kc.getrecords.max_ms, 4000);
    /* a start time with another position is reported, not fatal */
    CU_ASSERT_PTR_NOT_NULL(strstr(r.log, "job.properties:11: '" S "startAtTime' is set, but the "
                                         "start position is TRIM_HORIZON"));
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    done(&r);

    /* AT_TIMESTAMP with Pulsar's spellings */
    run(&r, "systems.k.awsRegion=eu-west-1\n" S "initialPositionInStream=AT_TIMESTAMP\n"
            S "startAtTime=2019-03-05T19:28:58.000Z\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.initpos_e, KIN_POS_AT_TIMESTAMP);
    CU_ASSERT_EQUAL(r.kc.initpos_ts_ms, 1551814138000LL);
    done(&r);
}

static void test_checkpoint_interval_units(void) {
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {
        {S "checkpointInterval=30000\n", 30000},
        {S "checkpointInterval=30s\n", 30000},
        {S "checkpoint.interval=2m\n", 120000},
        {"systems.k.checkpointInterval=1500\n", 1500},
        {S "checkpoint.interval=0\n", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        run_t r;
        snprintf(text, sizeof(text), "systems.k.aws.region=us-east-1\n%s", cases[i].text);
        run(&r, text);
        CU_ASSERT_EQUAL(errs(&r), 0);
        CU_ASSERT_EQUAL(r.kc.checkpoint_interval_ms, cases[i].ms);
        done(&r);
    }
}

static void test_flink_aliases(void) {
    run_t r;
    run(&r, S "stream=user_behavior\n" S "aws.region=us-east-2\n" S "scan.stream.initpos=LATEST\n"
            S "format=csv\n" S "connector=kinesis\n"
            S "aws.credentials.basic.accesskeyid=AKIDEXAMPLE\n"
            S "aws.credentials.basic.secretkey=secret\n"
            S "scan.shard.getrecords.maxrecordcount=500\n"
            S "scan.shard.getrecords.intervalmillis=1000\n"
            S "scan.shard.getrecords.maxretries=7\n"
            S "scan.shard.getiterator.backoff.base=100\n"
            S "scan.shard.getiterator.backoff.expconst=2\n"
            S "scan.list.shards.backoff.max=7000\n" S "scan.stream.describe.maxretries=9\n"
            S "scan.shard.discovery.intervalmillis=30000\n" S "scan.shard.adaptivereads=true\n"
            S "scan.shard.idle.interval=60000\n" S "scan.watermark.sync.interval=30000\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_STRING_EQUAL(r.kc.stream_name, "user_behavior");
    CU_ASSERT_STRING_EQUAL(r.kc.aws.access_key, "AKIDEXAMPLE");
    CU_ASSERT_EQUAL(r.kc.initpos_e, KIN_POS_LATEST);
    CU_ASSERT_EQUAL(r.kc.max_records, 500);
    CU_ASSERT_EQUAL(r.kc.getrecords_interval_ms, 1000);
    CU_ASSERT_EQUAL(r.kc.getrecords.max_retries, 7);
    CU_ASSERT_EQUAL(r.kc.getiterator.base_ms, 100);
    CU_ASSERT_DOUBLE_EQUAL(r.kc.getiterator.expconst, 2.0, 1e-9);
    CU_ASSERT_EQUAL(r.kc.listshards.max_ms, 7000);
    CU_ASSERT_EQUAL(r.kc.describe.max_retries, 9);
    CU_ASSERT_EQUAL(r.kc.discovery_interval_ms, 30000);
    CU_ASSERT_EQUAL(r.kc.adaptive_reads, 1);
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    done(&r);
}

static void test_samza_aliases(void) {
    run_t r;
    run(&r, "systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory\n"
            "systems.k.aws.region=us-east-1\n"
            "systems.k.aws.kcl.EpsilonMillis=50\n"
            S "aws.kcl.RegionName=eu-central-1\n"
            S "aws.accessKey=AKIDEXAMPLE\n"
            "sensitive." S "aws.secretKey=shh\n"
            S "aws.kcl.StreamName=s2\n"
            S "aws.kcl.StreamArn=arn:aws:kinesis:eu-central-1:123456789012:stream/s2\n"
            S "aws.kcl.InitialPositionInStream=trim_horizon\n"
            S "aws.kcl.MaxRecords=250\n"
            S "aws.kcl.IdleTimeBetweenReadsInMillis=1000\n"
            S "aws.kcl.ShardSyncIntervalMillis=60000\n"
            S "aws.kcl.ListShardsBackoffTimeInMillis=1500\n"
            S "aws.kcl.MaxListShardsRetryAttempts=50\n"
            S "aws.kcl.KinesisEndpoint=http://k:1\n"
            S "aws.kcl.DynamoDBEndpoint=http://d:2\n"
            S "aws.kcl.UserAgent=my-app\n"
            S "aws.kcl.TableName=my-app-table-name\n"
            S "aws.kcl.LeaseStore=DynamoDB\n"
            S "aws.kcl.CreateTable=false\n"
            S "aws.kcl.WorkerIdentifier=w1\n"
            S "aws.kcl.FailoverTimeMillis=20000\n"
            S "aws.kcl.LeaseTakerIntervalMillis=5s\n"
            S "aws.kcl.MaxLeasesForWorker=4\n"
            S "aws.kcl.MaxLeasesToStealAtOneTime=1\n"
            S "aws.kcl.ParentShardPollIntervalMillis=2000\n"
            S "aws.kcl.CleanupLeasesUponShardCompletion=false\n"
            S "aws.kcl.ShutdownGraceMillis=1500\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    const kin_conf_t *kc = &r.kc;
    CU_ASSERT_STRING_EQUAL(kc->aws.region, "eu-central-1"); /* stream scope beats system */
    CU_ASSERT_STRING_EQUAL(kc->aws.access_key, "AKIDEXAMPLE");
    CU_ASSERT_STRING_EQUAL(kc->aws.secret_key, "shh");
    CU_ASSERT_STRING_EQUAL(kc->stream_name, "s2");
    CU_ASSERT_STRING_EQUAL(kc->stream_arn, "arn:aws:kinesis:eu-central-1:123456789012:stream/s2");
    CU_ASSERT_EQUAL(kc->initpos_e, KIN_POS_TRIM_HORIZON);
    CU_ASSERT_STRING_EQUAL(kc->initpos, "TRIM_HORIZON"); /* Samza upper-cases it too */
    CU_ASSERT_EQUAL(kc->max_records, 250);
    CU_ASSERT_EQUAL(kc->getrecords_interval_ms, 1000);
    CU_ASSERT_EQUAL(kc->discovery_interval_ms, 60000);
    CU_ASSERT_EQUAL(kc->listshards.base_ms, 1500);
    CU_ASSERT_EQUAL(kc->listshards.max_retries, 50);
    CU_ASSERT_STRING_EQUAL(kc->aws.endpoint, "http://k:1");
    CU_ASSERT_STRING_EQUAL(kc->aws.dynamodb_endpoint, "http://d:2");
    CU_ASSERT_STRING_EQUAL(kc->aws.user_agent_suffix, "my-app");
    CU_ASSERT_STRING_EQUAL(kc->table_name, "my-app-table-name");
    CU_ASSERT_EQUAL(kc->lease_store, KIN_STORE_DYNAMODB);
    CU_ASSERT_EQUAL(kc->create_table, 0);
    CU_ASSERT_STRING_EQUAL(kc->worker_id, "w1");
    CU_ASSERT_EQUAL(kc->failover_ms, 20000);
    CU_ASSERT_EQUAL(kc->epsilon_ms, 50); /* Samza's system-level aws.kcl.* */
    CU_ASSERT_EQUAL(kc->take_interval_ms, 5000);
    CU_ASSERT_EQUAL(kc->max_leases_for_worker, 4);
    CU_ASSERT_EQUAL(kc->max_leases_to_steal, 1);
    CU_ASSERT_EQUAL(kc->parent_poll_ms, 2000);
    CU_ASSERT_EQUAL(kc->cleanup_leases, 0);
    CU_ASSERT_EQUAL(kc->shutdown_grace_ms, 1500);
    sl_conf_mark_used(r.conf, "systems.k.samza.factory"); /* the generic system table's */
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    done(&r);

    /* The KCL's start time */
    run(&r, "systems.k.aws.region=us-east-1\n" S "aws.kcl.InitialPositionInStream=AT_TIMESTAMP\n"
            S "aws.kcl.TimestampAtInitialPositionInStream=1459799926.480\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.initpos_ts_ms, 1459799926480LL);
    done(&r);
}

static void test_at_timestamp(void) {
    run_t r;
    /* Missing: the error is at the key written, names the missing key and the format. */
    run(&r, "systems.k.aws.region=us-east-1\n" S "scan.stream.initpos=AT_TIMESTAMP\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(has_error(r.conf, "job.properties:2: " S "scan.stream.initpos: AT_TIMESTAMP "
                                     "needs " S "scan.stream.initpos-timestamp (or startAtTime, "
                                     "aws.kcl.TimestampAtInitialPositionInStream): epoch seconds "
                                     "such as 1459799926.480, or a date in the format "
                                     "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"));
    done(&r);
    run(&r, "systems.k.aws.region=us-east-1\nsystems.k.initialPositionInStream=at_timestamp\n"
            S "scan.stream.initpos-timestamp-format=yyyy-MM-dd\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:2: systems.k.initialPositionInStream: "
                                      "AT_TIMESTAMP needs",
                              "in the format yyyy-MM-dd"));
    done(&r);

    /* Accepted forms */
    static const struct {
        const char *ts, *fmt;
        int64_t ms;
    } ok[] = {
        {"1459799926.480", NULL, 1459799926480LL},
        {"1459799926", NULL, 1459799926000LL},
        {"2016-04-04T19:58:46.480-00:00", NULL, 1459799926480LL},
        {"2016-04-04T21:58:46.480+02:00", NULL, 1459799926480LL},
        {"2016-04-04", "yyyy-MM-dd", 1459728000000LL},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "systems.k.aws.region=us-east-1\n" S "scan.stream.initpos=AT_TIMESTAMP\n"
                 S "scan.stream.initpos-timestamp=%s\n%s%s%s", ok[i].ts,
                 ok[i].fmt ? S "scan.stream.initpos-timestamp-format=" : "",
                 ok[i].fmt ? ok[i].fmt : "", ok[i].fmt ? "\n" : "");
        run(&r, text);
        CU_ASSERT_EQUAL(errs(&r), 0);
        CU_ASSERT_EQUAL(r.kc.initpos_e, KIN_POS_AT_TIMESTAMP);
        CU_ASSERT_EQUAL(r.kc.initpos_ts_ms, ok[i].ms);
        done(&r);
    }

    /* Not in the format: at the timestamp key, naming the format expected. */
    run(&r, "systems.k.aws.region=us-east-1\n" S "scan.stream.initpos=AT_TIMESTAMP\n"
            S "startAtTime=04/04/2016\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:3: " S "startAtTime: '04/04/2016'",
                              "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"));
    done(&r);
    run(&r, "systems.k.aws.region=us-east-1\n" S "scan.stream.initpos=AT_TIMESTAMP\n"
            S "scan.stream.initpos-timestamp=2016-04-04\n"
            S "scan.stream.initpos-timestamp-format=dd.MM.yyyy\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:3: " S "scan.stream.initpos-timestamp: ",
                              "(format from " S "scan.stream.initpos-timestamp-format)"));
    done(&r);

    /* A position that does not exist */
    run(&r, "systems.k.aws.region=us-east-1\n" S "scan.stream.initpos=LATESTT\n");
    CU_ASSERT_TRUE(has_error(r.conf, "job.properties:2: " S "scan.stream.initpos: expected "
                                     "LATEST, TRIM_HORIZON or AT_TIMESTAMP (or nothing: "
                                     "samza.offset.default decides), got 'LATESTT' (did you "
                                     "mean 'LATEST'?)"));
    done(&r);
}

static void test_efo_refused(void) {
    run_t r;
    run(&r, "systems.k.aws.region=us-east-1\n" S "scan.stream.recordpublisher=EFO\n"
            S "scan.stream.efo.consumername=c1\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(has_error(r.conf, "job.properties:2: " S "scan.stream.recordpublisher: "
                                     "enhanced fan-out (SubscribeToShard) is not available yet "
                                     "in sluice; use POLLING"));
    done(&r);

    run(&r, "systems.k.aws.region=us-east-1\nsystems.k.useEnhancedFanOut=true\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:2: systems.k.useEnhancedFanOut: enhanced "
                                      "fan-out (SubscribeToShard) is not available yet in sluice",
                              NULL));
    done(&r);

    run(&r, "systems.k.aws.region=us-east-1\n" S "scan.stream.recordpublisher=POLL\n"
            S "scan.stream.efo.registration=LAZZY\n");
    CU_ASSERT_EQUAL(r.check_errs, 2);
    CU_ASSERT_TRUE(error_with(r.conf, S "scan.stream.recordpublisher: expected POLLING or EFO, "
                                      "got 'POLL'", NULL));
    CU_ASSERT_TRUE(error_with(r.conf, S "scan.stream.efo.registration: expected LAZY, EAGER or "
                                      "NONE, got 'LAZZY' (did you mean 'LAZY'?)", NULL));
    done(&r);

    /* Polling spelled out, and the EFO-only Flink keys, are accepted as they are. */
    run(&r, "systems.k.aws.region=us-east-1\n" S "scan.stream.recordpublisher=polling\n"
            S "useEnhancedFanOut=false\n" S "scan.stream.efo.registration=none\n"
            S "scan.stream.efo.consumerarn=arn:aws:kinesis:us-east-1:1:stream/s/consumer/c:1\n"
            S "scan.stream.efo.consumerarn.s=arn:aws:kinesis:us-east-1:1:stream/s/consumer/c:1\n"
            S "scan.stream.efo.http-client.max-concurrency=100\n"
            S "scan.shard.subscribetoshard.maxretries=3\n"
            S "scan.stream.registerstreamconsumer.timeout=60\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_STRING_EQUAL(r.kc.record_publisher, "POLLING");
    CU_ASSERT_STRING_EQUAL(r.kc.efo_registration, "NONE");
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 0);
    done(&r);
}

static void test_unknown_and_ignored(void) {
    run_t r;
    run(&r, "systems.k.aws.region=us-east-1\n" S "aws.kcl.FailoverTimeMilis=20000\n"
            S "aws.kcl.MetricsLevel=NONE\n" S "aws.kcl.BillingMode=PAY_PER_REQUEST\n"
            "systems.k.aws.kcl.CallProcessRecordsEvenForEmptyRecordList=true\n"
            S "aws.kcl.DataFetchingStrategy=PREFETCH_CACHED\n"
            S "scan.watermark.lookahead.millis=0\n"
            "systems.k.aws.kcl.MaxLeasesForWorkr=3\n"
            S "aws.kcl.SomethingElse=1\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    CU_ASSERT_EQUAL(r.kc.failover_ms, 10000); /* the typo set nothing */
    /* ignoring is logged with the reason */
    CU_ASSERT_PTR_NOT_NULL(strstr(r.log, "job.properties:3: ignoring '" S "aws.kcl.MetricsLevel': "
                                         "CloudWatch metrics of the KCL: sluice exposes "
                                         "Prometheus metrics instead."));
    CU_ASSERT_EQUAL(sl_conf_check_unknown(r.conf), 3);
    CU_ASSERT_TRUE(has_error(r.conf, "job.properties:2: unknown property '" S
                                     "aws.kcl.FailoverTimeMilis' (did you mean '" S
                                     "aws.kcl.FailoverTimeMillis'?)"));
    CU_ASSERT_TRUE(has_error(r.conf, "job.properties:8: unknown property "
                                     "'systems.k.aws.kcl.MaxLeasesForWorkr' (did you mean "
                                     "'systems.k.aws.kcl.MaxLeasesForWorker'?)"));
    /* no aws.kcl.* catch-all */
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:9: unknown property '" S
                                      "aws.kcl.SomethingElse'", NULL));
    done(&r);
}

static void test_backoff_checks(void) {
    run_t r;
    run(&r, "systems.k.aws.region=us-east-1\n" S "scan.shard.getrecords.backoff.base=2000\n"
            S "scan.shard.getrecords.backoff.max=1500\n"
            "systems.k.aws.kcl.ListShardsBackoffTimeInMillis=9s\n"
            S "scan.list.shards.backoff.max=6000\n" S "scan.shard.getiterator.backoff.base=5s\n");
    CU_ASSERT_EQUAL(r.check_errs, 2);
    CU_ASSERT_TRUE(has_error(r.conf, "job.properties:3: " S "scan.shard.getrecords.backoff.max: "
                                     "1500 ms is less than " S "scan.shard.getrecords.backoff.base "
                                     "(2000 ms): the cap must be at least the base"));
    CU_ASSERT_TRUE(has_error(r.conf, "job.properties:5: " S "scan.list.shards.backoff.max: 6000 "
                                     "ms is less than systems.k.aws.kcl."
                                     "ListShardsBackoffTimeInMillis (9000 ms): the cap must be "
                                     "at least the base"));
    /* only the base set: the cap follows */
    CU_ASSERT_EQUAL(r.kc.getiterator.base_ms, 5000);
    CU_ASSERT_EQUAL(r.kc.getiterator.max_ms, 5000);
    done(&r);

    /* bounds of the rows themselves */
    run(&r, "systems.k.aws.region=us-east-1\n" S "scan.shard.getrecords.maxrecordcount=20000\n"
            S "aws.kcl.IdleTimeBetweenReadsInMillis=100\n"
            S "scan.shard.getrecords.backoff.expconst=0.5\n" S "receiveQueueSize=0\n");
    CU_ASSERT_EQUAL(r.apply_errs, 4);
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:2: " S
                                      "scan.shard.getrecords.maxrecordcount: expected",
                              "got '20000'"));
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:3: " S
                                      "aws.kcl.IdleTimeBetweenReadsInMillis: expected",
                              "got '100'"));
    /* the defaults stay behind for the checks */
    CU_ASSERT_EQUAL(r.kc.max_records, 10000);
    CU_ASSERT_EQUAL(r.kc.getrecords_interval_ms, 200);
    done(&r);
}

static void test_region_and_stream_checks(void) {
    run_t r;
    run(&r, S "stream.name=x\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(has_error(r.conf, "job.properties: " S "aws.region: required (or "
                                     "aws.endpoint, or AWS_ENDPOINT_URL_KINESIS): the AWS region "
                                     "of the stream, e.g. us-east-1"));
    done(&r);
    /* an endpoint alone will do (local peers) */
    run(&r, S "aws.endpoint=http://localhost:4567\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    done(&r);

    run(&r, "systems.k.aws.region=us-east-1\n" S "stream.arn=arn:aws:kinesis:us-east-1:1:s\n");
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:2: " S "stream.arn: expected "
                                      "arn:<partition>:kinesis:<region>:<account>:stream/<name>",
                              NULL));
    done(&r);
    run(&r, "systems.k.aws.region=us-east-1\n" S "stream=other\n"
            S "stream.arn=arn:aws:kinesis:us-east-1:123456789012:stream/orders\n");
    CU_ASSERT_TRUE(has_error(r.conf, "job.properties:2: " S "stream: 'other' is not the stream of "
                                     S "stream.arn ('orders')"));
    done(&r);
    run(&r, "systems.k.aws.region=us-east-1\n"
            S "stream.arn=arn:aws-cn:kinesis:cn-north-1:123456789012:stream/orders\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    done(&r);
}

/* An endpoint from AWS_ENDPOINT_URL_KINESIS stands in for a region like aws.endpoint does, and
 * the lease table then needs a DynamoDB endpoint from somewhere too. */
static void test_endpoint_from_env(void) {
    static const char *const vars[] = {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS",
                                       "AWS_ENDPOINT_URL_DYNAMODB", "AWS_CONFIG_FILE",
                                       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", NULL};
    char *saved[5];
    run_t r;
    for (int i = 0; vars[i]; i++) {
        saved[i] = getenv(vars[i]) ? sl_strdup(getenv(vars[i])) : NULL;
        unsetenv(vars[i]);
    }
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4567", 1);
    run(&r, S "stream.name=x\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    done(&r);
    run(&r, S "aws.kcl.TableName=t\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(error_with(r.conf, S "aws.endpoint: only points at Kinesis "
                                      "(http://127.0.0.1:4567 from AWS_ENDPOINT_URL_KINESIS)",
                              "AWS_ENDPOINT_URL_DYNAMODB"));
    done(&r);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4568", 1);
    run(&r, S "aws.kcl.TableName=t\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    done(&r);
    /* ignored: a region is needed again */
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    run(&r, S "stream.name=x\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    done(&r);
    for (int i = 0; vars[i]; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        else
            unsetenv(vars[i]);
        free(saved[i]);
    }
}

static void test_lease_checks(void) {
    run_t r;
    run(&r, "systems.k.aws.region=us-east-1\n" S "aws.kcl.FailoverTimeMillis=150\n"
            S "aws.kcl.EpsilonMillis=50\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:2: " S "aws.kcl.FailoverTimeMillis: 150 ms "
                                      "leaves no time to renew leases", "more than 3 x 50 ms"));
    done(&r);

    /* A local Kinesis with a lease table but nowhere for DynamoDB to be. */
    run(&r, S "aws.endpoint=http://localhost:4567\n" S "aws.kcl.TableName=t\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    CU_ASSERT_TRUE(error_with(r.conf, "job.properties:1: " S "aws.endpoint: only points at "
                                      "Kinesis", "aws.kcl.LeaseStore=sqlite"));
    done(&r);
    run(&r, "systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory\n"
            S "aws.endpoint=http://localhost:4567\n");
    CU_ASSERT_EQUAL(r.check_errs, 1);
    done(&r);
    run(&r, "systems.k.samza.factory=org.apache.samza.system.kinesis.KinesisSystemFactory\n"
            S "aws.endpoint=http://localhost:4567\n" S "aws.kcl.LeaseStore=sqlite\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    done(&r);
    run(&r, "systems.k.samza.factory=kinesis\n" S "aws.endpoint=http://localhost:4567\n"
            S "dynamoEndpoint=http://localhost:8000\n" S "aws.kcl.LeaseStore=dynamodb\n");
    CU_ASSERT_EQUAL(errs(&r), 0);
    done(&r);
    run(&r, "systems.k.aws.region=us-east-1\n" S "aws.kcl.LeaseStore=zookeeper\n");
    CU_ASSERT_EQUAL(r.apply_errs, 1);
    done(&r);
}

static void test_factories(void) {
    int n = 0;
    for (const char *const *f = kin_factories; *f; f++)
        n++;
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_STRING_EQUAL(kin_factories[0], "kinesis");
    CU_ASSERT_FALSE(kin_factory_is_samza("kinesis"));
    CU_ASSERT_TRUE(kin_factory_is_samza("org.apache.samza.system.kinesis.KinesisSystemFactory"));
    CU_ASSERT_FALSE(kin_factory_is_samza(NULL));
    CU_ASSERT_FALSE(kin_factory_is_samza("org.apache.samza.system.kafka.KafkaSystemFactory"));
}

/* Every consumer option the Flink, Pulsar and Samza documents list, and every with* setter of
 * the KCL 1.x KinesisClientLibConfiguration (Samza's aws.kcl.<Name>), is known. */
static void test_every_promise_known(void) {
    static const char *const keys[] = {
        /* Flink SQL connector, source and common options */
        "connector", "stream", "format", "aws.region", "aws.endpoint",
        "aws.trust.all.certificates", "aws.credentials.provider",
        "aws.credentials.basic.accesskeyid", "aws.credentials.basic.secretkey",
        "aws.credentials.profile.path", "aws.credentials.profile.name",
        "aws.credentials.role.arn", "aws.credentials.role.sessionName",
        "aws.credentials.role.externalId", "aws.credentials.role.provider",
        "aws.credentials.webIdentityToken.file", "scan.stream.initpos",
        "scan.stream.initpos-timestamp", "scan.stream.initpos-timestamp-format",
        "scan.stream.recordpublisher", "scan.stream.efo.consumername",
        "scan.stream.efo.registration", "scan.stream.efo.consumerarn",
        "scan.stream.efo.consumerarn.mystream", "scan.stream.efo.http-client.max-concurrency",
        "scan.stream.describe.maxretries", "scan.stream.describe.backoff.base",
        "scan.stream.describe.backoff.max", "scan.stream.describe.backoff.expconst",
        "scan.list.shards.maxretries", "scan.list.shards.backoff.base",
        "scan.list.shards.backoff.max", "scan.list.shards.backoff.expconst",
        "scan.stream.describestreamconsumer.maxretries",
        "scan.stream.describestreamconsumer.backoff.base",
        "scan.stream.describestreamconsumer.backoff.max",
        "scan.stream.describestreamconsumer.backoff.expconst",
        "scan.stream.registerstreamconsumer.maxretries",
        "scan.stream.registerstreamconsumer.timeout",
        "scan.stream.registerstreamconsumer.backoff.base",
        "scan.stream.registerstreamconsumer.backoff.max",
        "scan.stream.registerstreamconsumer.backoff.expconst",
        "scan.stream.deregisterstreamconsumer.maxretries",
        "scan.stream.deregisterstreamconsumer.timeout",
        "scan.stream.deregisterstreamconsumer.backoff.base",
        "scan.stream.deregisterstreamconsumer.backoff.max",
        "scan.stream.deregisterstreamconsumer.backoff.expconst",
        "scan.shard.subscribetoshard.maxretries", "scan.shard.subscribetoshard.backoff.base",
        "scan.shard.subscribetoshard.backoff.max",
        "scan.shard.subscribetoshard.backoff.expconst",
        "scan.shard.getrecords.maxrecordcount", "scan.shard.getrecords.maxretries",
        "scan.shard.getrecords.backoff.base", "scan.shard.getrecords.backoff.max",
        "scan.shard.getrecords.backoff.expconst", "scan.shard.getrecords.intervalmillis",
        "scan.shard.getiterator.maxretries", "scan.shard.getiterator.backoff.base",
        "scan.shard.getiterator.backoff.max", "scan.shard.getiterator.backoff.expconst",
        "scan.shard.discovery.intervalmillis", "scan.shard.adaptivereads",
        "scan.shard.idle.interval", "scan.watermark.sync.interval",
        "scan.watermark.lookahead.millis", "scan.watermark.sync.queue.capacity",
        /* Pulsar Kinesis source */
        "initialPositionInStream", "startAtTime", "applicationName", "checkpointInterval",
        "backoffTime", "numRetries", "receiveQueueSize", "dynamoEndpoint", "cloudwatchEndpoint",
        "useEnhancedFanOut", "awsEndpoint", "awsRegion", "awsKinesisStreamName",
        "awsCredentialPluginName", "awsCredentialPluginParam",
        /* Samza Kinesis system */
        "aws.accessKey", "aws.secretKey", "aws.clientConfig.ProxyHost",
        "aws.clientConfig.ProxyPort",
        /* KCL 1.x KinesisClientLibConfiguration.with*, as Samza passes them */
        "aws.kcl.StreamName", "aws.kcl.StreamArn", "aws.kcl.TableName",
        "aws.kcl.KinesisEndpoint", "aws.kcl.DynamoDBEndpoint", "aws.kcl.InitialPositionInStream",
        "aws.kcl.TimestampAtInitialPositionInStream", "aws.kcl.FailoverTimeMillis",
        "aws.kcl.ShardSyncIntervalMillis", "aws.kcl.MaxRecords",
        "aws.kcl.IdleTimeBetweenReadsInMillis", "aws.kcl.CallProcessRecordsEvenForEmptyRecordList",
        "aws.kcl.ParentShardPollIntervalMillis", "aws.kcl.CleanupLeasesUponShardCompletion",
        "aws.kcl.IgnoreUnexpectedChildShards", "aws.kcl.CommonClientConfig",
        "aws.kcl.KinesisClientConfig", "aws.kcl.DynamoDBClientConfig",
        "aws.kcl.CloudWatchClientConfig", "aws.kcl.UserAgent", "aws.kcl.TaskBackoffTimeMillis",
        "aws.kcl.MetricsBufferTimeMillis", "aws.kcl.MetricsMaxQueueSize", "aws.kcl.MetricsLevel",
        "aws.kcl.BillingMode", "aws.kcl.MetricsEnabledDimensions",
        "aws.kcl.ValidateSequenceNumberBeforeCheckpointing",
        "aws.kcl.SkipShardSyncAtStartupIfLeasesExist", "aws.kcl.ShardSyncStrategyType",
        "aws.kcl.LeasesRecoveryAuditorExecutionFrequencyMillis",
        "aws.kcl.LeasesRecoveryAuditorInconsistencyConfidenceThreshold", "aws.kcl.RegionName",
        "aws.kcl.MaxLeasesForWorker", "aws.kcl.MaxLeasesToStealAtOneTime",
        "aws.kcl.InitialLeaseTableReadCapacity", "aws.kcl.InitialLeaseTableWriteCapacity",
        "aws.kcl.ShardPrioritizationStrategy", "aws.kcl.MaxLeaseRenewalThreads",
        "aws.kcl.RetryGetRecordsInSeconds", "aws.kcl.MaxGetRecordsThreadPool",
        "aws.kcl.MaxPendingProcessRecordsInput", "aws.kcl.MaxCacheByteSize",
        "aws.kcl.DataFetchingStrategy", "aws.kcl.MaxRecordsCount", "aws.kcl.ShutdownGraceMillis",
        "aws.kcl.IdleMillisBetweenCalls", "aws.kcl.LogWarningForTaskAfterMillis",
        "aws.kcl.ListShardsBackoffTimeInMillis", "aws.kcl.MaxListShardsRetryAttempts",
        "aws.kcl.MaxInitializationAttempts", "aws.kcl.LeaseCleanupIntervalMillis",
        "aws.kcl.CompletedLeaseCleanupThresholdMillis",
        "aws.kcl.GarbageLeaseCleanupThresholdMillis",
        /* sluice's own lease keys */
        "aws.kcl.LeaseStore", "aws.kcl.CreateTable", "aws.kcl.WorkerIdentifier",
        "aws.kcl.EpsilonMillis", "aws.kcl.LeaseTakerIntervalMillis",
    };
    sl_conf_t *conf = sl_conf_new();
    kin_conf_t kc;
    char k[256];
    CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(k, sizeof(k), S "%s", keys[i]);
        CU_ASSERT_EQUAL(sl_conf_set(conf, k, "1"), SL_OK);
    }
    memset(&kc, 0, sizeof(kc));
    log_start();
    sl_conf_apply(conf, kin_stream_props, pfx, &kc); /* values are nonsense: only names count */
    free(log_stop());
    int unknown = sl_conf_check_unknown(conf);
    CU_ASSERT_EQUAL(unknown, 0);
    if (unknown)
        for (int i = 0; i < sl_conf_error_count(conf); i++)
            if (strstr(sl_conf_error_at(conf, i), "unknown property"))
                fprintf(stderr, "  %s\n", sl_conf_error_at(conf, i));
    sl_conf_obj_free(kin_stream_props, &kc);
    sl_conf_destroy(conf);
}

/* The table itself: unique names, a description on every row, aliases pointing at real rows,
 * defaults that parse, enum defaults among the choices. */
static void test_table_sound(void) {
    for (const sl_prop_t *r = kin_stream_props; r->name; r++) {
        CU_ASSERT_PTR_NOT_NULL(r->desc);
        if (!r->desc || !*r->desc)
            fprintf(stderr, "  row %s: no description\n", r->name);
        for (const sl_prop_t *q = r + 1; q->name; q++)
            if (!strcmp(r->name, q->name)) {
                CU_FAIL("duplicate row");
                fprintf(stderr, "  duplicate row %s\n", r->name);
            }
        if (r->type == SL_PROP_ALIAS) {
            const sl_prop_t *t = NULL;
            for (const sl_prop_t *q = kin_stream_props; q->name; q++)
                if (!strcmp(q->name, r->choices))
                    t = q;
            CU_ASSERT(t && t->type != SL_PROP_ALIAS && t->type != SL_PROP_IGNORED);
            if (!t)
                fprintf(stderr, "  alias %s -> missing %s\n", r->name, r->choices);
            continue;
        }
        if (r->type == SL_PROP_IGNORED || !r->def)
            continue;
        union {
            char *s;
            int i;
            int64_t l;
            double d;
            sl_list_t list;
        } v;
        char err[256];
        memset(&v, 0, sizeof(v));
        sl_err_t rc = sl_prop_parse(r, r->def, &v, err, sizeof(err));
        CU_ASSERT_EQUAL(rc, SL_OK);
        if (rc)
            fprintf(stderr, "  row %s: default: %s\n", r->name, err);
        else if (r->type == SL_PROP_STRING)
            free(v.s);
        else if (r->type == SL_PROP_LIST)
            sl_list_free(&v.list);
    }
}

void test_kinesis_conf_register(void) {
    static const unit_test_t tests[] = {
        {"defaults", test_defaults},
        {"pulsar_aliases", test_pulsar_aliases},
        {"checkpoint_interval_units", test_checkpoint_interval_units},
        {"flink_aliases", test_flink_aliases},
        {"samza_aliases", test_samza_aliases},
        {"at_timestamp", test_at_timestamp},
        {"efo_refused", test_efo_refused},
        {"unknown_and_ignored", test_unknown_and_ignored},
        {"backoff_checks", test_backoff_checks},
        {"region_and_stream_checks", test_region_and_stream_checks},
        {"lease_checks", test_lease_checks},
        {"endpoint_from_env", test_endpoint_from_env},
        {"factories", test_factories},
        {"every_promise_known", test_every_promise_known},
        {"table_sound", test_table_sound},
        {NULL, NULL},
    };
    unit_add_suite("kinesis_conf", tests);
}
