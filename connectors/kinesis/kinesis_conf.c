/*
 * kinesis_conf.c: the property table of the `kinesis` system's streams (consumer side) and the
 * checks that need more than one key. Settings come in with their sluice names and with the
 * spellings of the three consumers sluice replaces: Flink's Kinesis SQL connector (scan.*,
 * stream), Pulsar's Kinesis source (camelCase keys) and Samza's Kinesis system, which passes
 * any KinesisClientLibConfiguration setter as aws.kcl.<Name>. Each foreign key is an ALIAS of
 * the row it means, or an IGNORED row saying why it has no effect here, so a typo of a real
 * key is still reported as unknown with a hint. sl_conf_apply() fills kin_conf_t from the
 * table; kin_conf_check() then judges what one row cannot (start position and its time, EFO,
 * backoff ranges, lease settings) and reports each problem at the spelling the user wrote.
 */
#include "config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "aws_endpoint.h"
#include "kinesis.h"
#include "sluice/log.h"
#include "util_str.h"

#define KO(f) offsetof(kin_conf_t, f)

#define KIN_DEFAULT_TS_FORMAT "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
#define DAY_MS 86400000.0
#define HOUR_MS 3600000.0

/* One backoff family of Flink's scan.* options: pfx.maxretries, pfx.backoff.{base,max,expconst}
 * with Flink's defaults. what names the call in the descriptions. */
#define KIN_BACKOFF_ROWS(pfx, f, what, retries, base, max)                                     \
    {pfx ".maxretries", SL_PROP_INT, KO(f.max_retries), retries, 0, 2147483647.0, NULL, 0,     \
     "Retries of " what " after throttling or a transient error (5xx, timeout) before the "    \
     "call counts as failed."},                                                                \
    {pfx ".backoff.base", SL_PROP_DURATION, KO(f.base_ms), base, 1, DAY_MS, NULL, 0,           \
     "First backoff ceiling between " what " attempts; each retry waits a random time below "  \
     "base times expconst^attempt, capped at " pfx ".backoff.max. Plain numbers are "          \
     "milliseconds."},                                                                         \
    {pfx ".backoff.max", SL_PROP_DURATION, KO(f.max_ms), max, 1, DAY_MS, NULL, 0,              \
     "Cap of the backoff ceiling between " what " attempts; must be at least the base (when "   \
     "only the base is set above it, the cap follows the base). Plain numbers are "            \
     "milliseconds."},                                                                         \
    {pfx ".backoff.expconst", SL_PROP_DOUBLE, KO(f.expconst), "1.5", 1, 100, NULL, 0,          \
     "Growth of the backoff ceiling per " what " retry."},

/* A Flink key that only enhanced fan-out reads. */
#define KIN_EFO_ROW(name, what)                                                                \
    {name, SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,                                            \
     "Flink's " what ": used with enhanced fan-out, not available yet in sluice."},

#define KIN_EFO_FAMILY(pfx, call)                                                              \
    KIN_EFO_ROW(pfx ".maxretries", "retries of " call)                                         \
    KIN_EFO_ROW(pfx ".backoff.base", "backoff base of " call)                                  \
    KIN_EFO_ROW(pfx ".backoff.max", "backoff cap of " call)                                    \
    KIN_EFO_ROW(pfx ".backoff.expconst", "backoff growth of " call)

/* A KinesisClientLibConfiguration setting (Samza's aws.kcl.<Name>) sluice has no use for. */
#define KCL_IGNORED(name, why) {"aws.kcl." name, SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, why},
#define KCL_PREFETCH                                                                           \
    "KCL's prefetch cache: sluice always fetches ahead, bounded by receive.queue.size and "    \
    "paced by scan.shard.getrecords.intervalmillis."
#define KCL_METRICS "CloudWatch metrics of the KCL: sluice exposes Prometheus metrics instead."

const sl_prop_t kin_stream_props[] = {
    SL_AWS_CONF_PROPS(KO(aws))

    /* ---- the stream ---- */
    {"stream.name", SL_PROP_STRING, KO(stream_name), "", 0, 0, NULL, 0,
     "Name of the Kinesis data stream to read. Empty: the sluice stream name (the part after "
     "the system in task.inputs)."},
    {"stream", SL_PROP_ALIAS, 0, NULL, 0, 0, "stream.name", 0, "Flink's spelling."},
    {"awsKinesisStreamName", SL_PROP_ALIAS, 0, NULL, 0, 0, "stream.name", 0,
     "Pulsar's spelling."},
    {"aws.kcl.StreamName", SL_PROP_ALIAS, 0, NULL, 0, 0, "stream.name", 0,
     "Samza's spelling (the KCL's withStreamName)."},
    {"stream.arn", SL_PROP_STRING, KO(stream_arn), "", 0, 0, NULL, 0,
     "ARN of the stream (arn:aws:kinesis:<region>:<account>:stream/<name>). When set, every "
     "call names the stream by StreamARN, e.g. for a stream another account shares through a "
     "resource policy; stream.name, if also set, must be the ARN's name."},
    {"aws.kcl.StreamArn", SL_PROP_ALIAS, 0, NULL, 0, 0, "stream.arn", 0,
     "Samza's spelling (the KCL's withStreamArn)."},
    {"awsDynamodbStreamArn", SL_PROP_ALIAS, 0, NULL, 0, 0, "stream.arn", 0,
     "Pulsar's DynamoDB source's spelling: the stream of the dynamodbstreams system "
     "(arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>), which it requires."},
    {"connector", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's connector choice ('kinesis'): in sluice the system's samza.factory chooses the "
     "connector, so this key changes nothing."},
    {"format", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's record format (csv, json, avro): sluice hands each record's data on as bytes, "
     "to be decoded by the job's operators."},

    /* ---- where to start ---- */
    {"scan.stream.initpos", SL_PROP_STRING, KO(initpos), "", 0, 0, NULL, 0,
     "Where a shard without a checkpoint starts: LATEST (records arriving from now on), "
     "TRIM_HORIZON (the oldest record kept) or AT_TIMESTAMP (scan.stream.initpos-timestamp). "
     "Empty: samza.offset.default decides (oldest: TRIM_HORIZON, upcoming: LATEST), whereas "
     "Flink, Pulsar and the KCL default to LATEST."},
    {"initialPositionInStream", SL_PROP_ALIAS, 0, NULL, 0, 0, "scan.stream.initpos", 0,
     "Pulsar's spelling."},
    {"aws.kcl.InitialPositionInStream", SL_PROP_ALIAS, 0, NULL, 0, 0, "scan.stream.initpos", 0,
     "Samza's spelling (the KCL's withInitialPositionInStream)."},
    {"scan.stream.initpos-timestamp", SL_PROP_STRING, KO(initpos_timestamp), "", 0, 0, NULL, 0,
     "Start time for AT_TIMESTAMP (required then): epoch seconds such as 1459799926.480, or a "
     "date in scan.stream.initpos-timestamp-format. Each shard starts at its first record that "
     "arrived at or after it."},
    {"startAtTime", SL_PROP_ALIAS, 0, NULL, 0, 0, "scan.stream.initpos-timestamp", 0,
     "Pulsar's spelling (e.g. 2019-03-05T19:28:58.000Z)."},
    {"aws.kcl.TimestampAtInitialPositionInStream", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "scan.stream.initpos-timestamp", 0,
     "Samza's spelling (the KCL's withTimestampAtInitialPositionInStream, which Samza could "
     "not pass; sluice reads it like the Flink key)."},
    {"scan.stream.initpos-timestamp-format", SL_PROP_STRING, KO(initpos_ts_format),
     KIN_DEFAULT_TS_FORMAT, 0, 0, NULL, 0,
     "Java SimpleDateFormat pattern of scan.stream.initpos-timestamp (letters y M d H m s S X "
     "Z z and quoted text). A pattern without a zone is read as UTC; with the default pattern "
     "any ISO 8601 time with a zone is accepted too."},

    /* ---- how records are read ---- */
    {"scan.stream.recordpublisher", SL_PROP_STRING, KO(record_publisher), "POLLING", 0, 0, NULL,
     0,
     "How shards are read: POLLING (GetRecords on every shard) or EFO (enhanced fan-out with "
     "SubscribeToShard). Enhanced fan-out is not available yet in sluice: EFO is an error."},
    {"useEnhancedFanOut", SL_PROP_BOOL, KO(use_efo), "false", 0, 0, NULL, 0,
     "Pulsar's switch for enhanced fan-out (Pulsar defaults to true). sluice reads by polling, "
     "so it defaults to false here and true is an error until enhanced fan-out is available."},
    {"scan.stream.efo.consumername", SL_PROP_STRING, KO(efo_consumer_name), "", 0, 0, NULL, 0,
     "Name of the enhanced fan-out consumer to register with the stream. Used with EFO, not "
     "available yet."},
    {"scan.stream.efo.registration", SL_PROP_STRING, KO(efo_registration), "LAZY", 0, 0, NULL, 0,
     "When the enhanced fan-out consumer is registered: LAZY (at start, reusing an existing "
     "one), EAGER (when the job is built) or NONE (registered outside, see "
     "scan.stream.efo.consumerarn). Used with EFO, not available yet."},
    {"scan.stream.efo.consumerarn", SL_PROP_STRING, KO(efo_consumer_arn), "", 0, 0, NULL, 0,
     "ARN of an enhanced fan-out consumer registered outside sluice (registration NONE). Used "
     "with EFO, not available yet."},
    KIN_EFO_ROW("scan.stream.efo.consumerarn.*", "per-stream form of scan.stream.efo.consumerarn")
    KIN_EFO_ROW("scan.stream.efo.http-client.max-concurrency",
                "limit of concurrent SubscribeToShard requests")
    KIN_EFO_FAMILY("scan.stream.describestreamconsumer", "DescribeStreamConsumer")
    KIN_EFO_FAMILY("scan.stream.registerstreamconsumer", "RegisterStreamConsumer")
    KIN_EFO_ROW("scan.stream.registerstreamconsumer.timeout",
                "wait for a registered consumer to become active")
    KIN_EFO_FAMILY("scan.stream.deregisterstreamconsumer", "DeregisterStreamConsumer")
    KIN_EFO_ROW("scan.stream.deregisterstreamconsumer.timeout",
                "wait for a consumer to be deregistered")
    KIN_EFO_FAMILY("scan.shard.subscribetoshard", "SubscribeToShard")

    /* ---- GetRecords ---- */
    {"scan.shard.getrecords.maxrecordcount", SL_PROP_INT, KO(max_records), "10000", 1, 10000,
     NULL, 0,
     "Most records asked of one GetRecords call (its Limit; Kinesis also stops at 10 MB). A "
     "nearly full receive.queue.size asks for fewer."},
    {"aws.kcl.MaxRecords", SL_PROP_ALIAS, 0, NULL, 0, 0, "scan.shard.getrecords.maxrecordcount",
     0, "Samza's spelling (the KCL's withMaxRecords)."},
    {"scan.shard.getrecords.intervalmillis", SL_PROP_DURATION, KO(getrecords_interval_ms),
     "200ms", 200, HOUR_MS, NULL, 0,
     "Shortest time between two GetRecords calls on one shard. Kinesis allows 5 calls per "
     "second per shard, shared by every consumer of the stream, hence the 200 ms minimum. "
     "Plain numbers are milliseconds."},
    {"aws.kcl.IdleTimeBetweenReadsInMillis", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "scan.shard.getrecords.intervalmillis", 0,
     "Samza's spelling (the KCL's withIdleTimeBetweenReadsInMillis, whose default is 1000 ms)."},
    {"scan.shard.adaptivereads", SL_PROP_BOOL, KO(adaptive_reads), "false", 0, 0, NULL, 0,
     "Flink's adaptive reads: size each GetRecords Limit from the average record size of the "
     "previous answer and the time between calls, so a shard reads about its 2 MiB/s limit."},
    KIN_BACKOFF_ROWS("scan.shard.getrecords", getrecords, "GetRecords", "3", "300ms", "1s")
    {"backoffTime", SL_PROP_ALIAS, 0, NULL, 0, 0, "scan.shard.getrecords.backoff.base", 0,
     "Pulsar's spelling (its wait after throttling; Pulsar's default is 3000 ms)."},
    KIN_BACKOFF_ROWS("scan.shard.getiterator", getiterator, "GetShardIterator", "3", "300ms",
                     "1s")

    /* ---- shard discovery ---- */
    {"scan.shard.discovery.intervalmillis", SL_PROP_DURATION, KO(discovery_interval_ms), "10s",
     100, DAY_MS, NULL, 0,
     "How often the shard list is read again (ListShards) to find shards created by "
     "resharding; a shard read to its end also starts a sync. Plain numbers are milliseconds."},
    {"aws.kcl.ShardSyncIntervalMillis", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "scan.shard.discovery.intervalmillis", 0,
     "Samza's spelling (the KCL's withShardSyncIntervalMillis, whose default is 60 s)."},
    KIN_BACKOFF_ROWS("scan.list.shards", listshards, "ListShards", "10", "1s", "5s")
    {"aws.kcl.ListShardsBackoffTimeInMillis", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "scan.list.shards.backoff.base", 0,
     "Samza's spelling (the KCL's withListShardsBackoffTimeInMillis)."},
    {"aws.kcl.MaxListShardsRetryAttempts", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "scan.list.shards.maxretries", 0,
     "Samza's spelling (the KCL's withMaxListShardsRetryAttempts)."},
    KIN_BACKOFF_ROWS("scan.stream.describe", describe, "DescribeStreamSummary", "50", "2s", "5s")

    /* ---- Flink watermarks ---- */
    {"scan.shard.idle.interval", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's idle-shard time for watermarks: sluice has no watermarks yet (a record's event "
     "time is its arrival time)."},
    {"scan.watermark.sync.interval", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's shared-watermark sync: sluice has no watermarks yet."},
    {"scan.watermark.lookahead.millis", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's watermark lookahead: sluice has no watermarks yet."},
    {"scan.watermark.sync.queue.capacity", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's buffer for watermark alignment: sluice has no watermarks yet (receive.queue.size "
     "bounds what a shard buffers)."},

    /* ---- buffering and checkpoints ---- */
    {"receive.queue.size", SL_PROP_INT, KO(receive_queue), "10000", 1, 10000000.0, NULL, 0,
     "Records fetched from a shard but not yet processed, per shard. When full, the shard "
     "stops calling GetRecords until the job catches up."},
    {"receiveQueueSize", SL_PROP_ALIAS, 0, NULL, 0, 0, "receive.queue.size", 0,
     "Pulsar's spelling (Pulsar's default, 1000, is for the whole source)."},
    {"receive.buffer.size", SL_PROP_SIZE, KO(buffer_bytes), "16M", 65536, 1073741824.0, NULL, 0,
     "Record bytes fetched but not yet processed, per worker thread, over all its shards. When "
     "reached, its shards wait with their next GetRecords until the job catches up; with "
     "receive.max-inflight-requests this bounds the reader's memory however many shards a "
     "worker reads."},
    {"receive.max-inflight-requests", SL_PROP_INT, KO(max_inflight_calls), "8", 1, 1024.0, NULL,
     0,
     "GetRecords calls in flight at once per worker thread, over all its shards (each answer "
     "can hold up to 10 MB); shards beyond it wait their turn in order."},
    {"checkpoint.interval", SL_PROP_DURATION, KO(checkpoint_interval_ms), "60s", 0, DAY_MS, NULL,
     0,
     "Shortest time between two writes of a shard's committed position to the lease table; "
     "positions are also written at shard end, when a lease is released and at shutdown. 0: at "
     "every commit. Plain numbers are milliseconds."},
    {"checkpointInterval", SL_PROP_ALIAS, 0, NULL, 0, 0, "checkpoint.interval", 0,
     "Pulsar's spelling (milliseconds, as plain numbers are here)."},
    {"checkpoint.retries", SL_PROP_INT, KO(checkpoint_retries), "3", 0, 1000, NULL, 0,
     "How often a checkpoint write may fail its condition (the lease changed under it) before "
     "the shard is treated as lost to another worker; a few extra attempts are always allowed."},
    {"numRetries", SL_PROP_ALIAS, 0, NULL, 0, 0, "checkpoint.retries", 0, "Pulsar's spelling."},

    /* ---- leases (the KCL's settings) ---- */
    {"aws.kcl.LeaseStore", SL_PROP_ENUM, KO(lease_store), "auto", 0, 0, "auto|dynamodb|sqlite", 0,
     "Where leases and positions live. dynamodb: a KCL lease table shared by every worker (and "
     "by Java KCL workers of the same application); sqlite: the local checkpoint store, one "
     "worker reads every shard; auto: dynamodb when aws.kcl.TableName, aws.application.name or "
     "aws.dynamodb.endpoint is set or the factory is Samza's, else sqlite. A job with a stateful "
     "operator (dedup, window) is refused on a dynamodb store: other processes may take its "
     "shards, and keyed state cannot follow them yet."},
    {"aws.kcl.TableName", SL_PROP_STRING, KO(table_name), "", 0, 0, NULL, 0,
     "DynamoDB lease table. Empty: aws.application.name, else <job.name>-<job.id>-<stream> (the "
     "name Samza uses), with each character DynamoDB does not allow in a table name made '_' "
     "(Pulsar's applicationName \"My test application\" gives My_test_application). A new "
     "name starts every shard over from its initial position."},
    {"aws.kcl.CreateTable", SL_PROP_BOOL, KO(create_table), "true", 0, 0, NULL, 0,
     "Create the lease table (on-demand capacity) when it does not exist; false: a missing "
     "table is an error, for accounts where the job may not create tables."},
    {"aws.kcl.WorkerIdentifier", SL_PROP_STRING, KO(worker_id), "", 0, 0, NULL, 0,
     "This worker's name as lease owner. Empty: <hostname>:<job.name>-<job.id>. Workers running "
     "at the same time need different names."},
    {"aws.kcl.FailoverTimeMillis", SL_PROP_DURATION, KO(failover_ms), "10s", 100, DAY_MS, NULL,
     0,
     "A lease whose counter has not moved for this long is expired and may be taken by another "
     "worker; held leases are renewed every third of it minus aws.kcl.EpsilonMillis. Plain "
     "numbers are milliseconds."},
    {"aws.kcl.EpsilonMillis", SL_PROP_DURATION, KO(epsilon_ms), "25ms", 0, 60000, NULL, 0,
     "Margin for clock and network delays, taken off the renewal interval and added to the "
     "taker interval (the KCL's epsilon). Plain numbers are milliseconds."},
    {"aws.kcl.LeaseTakerIntervalMillis", SL_PROP_DURATION, KO(take_interval_ms), "0", 0, DAY_MS,
     NULL, 0,
     "How often the lease table is scanned to take expired leases and steal toward a fair "
     "share (a sluice setting). 0: 2 x (aws.kcl.FailoverTimeMillis + aws.kcl.EpsilonMillis), as "
     "the KCL. Plain numbers are milliseconds."},
    {"aws.kcl.MaxLeasesForWorker", SL_PROP_INT, KO(max_leases_for_worker), "2147483647", 1,
     2147483647.0, NULL, 0,
     "Most leases (shards) this worker holds. Lower it only with enough workers: a shard no "
     "worker may take is not read."},
    {"aws.kcl.MaxLeasesToStealAtOneTime", SL_PROP_INT, KO(max_leases_to_steal), "8", 0,
     2147483647.0, NULL, 0,
     "Most leases taken from busier workers in one taker pass while this worker holds less than "
     "its fair share; 0: never steal. The KCL's default of 1 rebalances one lease per pass, "
     "sluice's reaches the fair share of most streams in one."},
    {"aws.kcl.ParentShardPollIntervalMillis", SL_PROP_DURATION, KO(parent_poll_ms), "10s", 100,
     DAY_MS, NULL, 0,
     "How often a child shard waiting for its parents to be read to their end checks their "
     "leases again. Plain numbers are milliseconds."},
    {"aws.kcl.CleanupLeasesUponShardCompletion", SL_PROP_BOOL, KO(cleanup_leases), "true", 0, 0,
     NULL, 0,
     "Delete the lease of a shard read to its end once its children have started, instead of "
     "keeping it until the shard leaves the stream."},
    {"aws.kcl.ShutdownGraceMillis", SL_PROP_DURATION, KO(shutdown_grace_ms), "5s", 0, HOUR_MS,
     NULL, 0,
     "Graceful shutdown: how long final checkpoints and lease releases may take before sluice "
     "stops anyway (leases not released expire after aws.kcl.FailoverTimeMillis). Plain numbers "
     "are milliseconds."},

    /* ---- the rest of KinesisClientLibConfiguration's with* setters (KCL 1.x, which Samza
     * uses, plus the later multilang ones) ---- */
    {"aws.kcl.RegionName", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.region", 0,
     "Samza's KCL spelling (withRegionName)."},
    {"aws.kcl.KinesisEndpoint", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.endpoint", 0,
     "Samza's KCL spelling (withKinesisEndpoint)."},
    {"aws.kcl.DynamoDBEndpoint", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.dynamodb.endpoint", 0,
     "Samza's KCL spelling (withDynamoDBEndpoint)."},
    {"aws.kcl.UserAgent", SL_PROP_ALIAS, 0, NULL, 0, 0, "aws.user.agent.suffix", 0,
     "Samza's KCL spelling (withUserAgent); added to sluice's User-Agent."},
    KCL_IGNORED("CallProcessRecordsEvenForEmptyRecordList",
                "KCL callback for empty GetRecords answers: sluice delivers records one by one, "
                "so an empty answer delivers nothing.")
    KCL_IGNORED("IgnoreUnexpectedChildShards",
                "KCL switch for child shards seen before their parent closes (DynamoDB Streams): "
                "sluice's Kinesis consumer always waits for every parent to end.")
    KCL_IGNORED("CommonClientConfig",
                "Java ClientConfiguration object (Samza cannot pass it as text either): the "
                "HTTP settings are the aws.* keys.")
    KCL_IGNORED("KinesisClientConfig",
                "Java ClientConfiguration object (Samza cannot pass it as text either): the "
                "HTTP settings are the aws.* keys.")
    KCL_IGNORED("DynamoDBClientConfig",
                "Java ClientConfiguration object (Samza cannot pass it as text either): the "
                "HTTP settings are the aws.* keys.")
    KCL_IGNORED("CloudWatchClientConfig",
                "Java ClientConfiguration object (Samza cannot pass it as text either): the "
                "HTTP settings are the aws.* keys.")
    KCL_IGNORED("TaskBackoffTimeMillis",
                "Backoff of the KCL's internal tasks: sluice's calls back off by their "
                "scan.*.backoff.* settings.")
    KCL_IGNORED("MetricsBufferTimeMillis", KCL_METRICS)
    KCL_IGNORED("MetricsMaxQueueSize", KCL_METRICS)
    KCL_IGNORED("MetricsLevel", KCL_METRICS)
    KCL_IGNORED("MetricsEnabledDimensions", KCL_METRICS)
    KCL_IGNORED("BillingMode",
                "Capacity mode of a lease table the KCL creates: sluice always creates "
                "on-demand (PAY_PER_REQUEST) tables.")
    KCL_IGNORED("InitialLeaseTableReadCapacity",
                "Provisioned capacity of a new lease table: sluice creates on-demand "
                "(PAY_PER_REQUEST) tables, which have none.")
    KCL_IGNORED("InitialLeaseTableWriteCapacity",
                "Provisioned capacity of a new lease table: sluice creates on-demand "
                "(PAY_PER_REQUEST) tables, which have none.")
    KCL_IGNORED("ValidateSequenceNumberBeforeCheckpointing",
                "KCL check of positions an application hands to checkpoint(): sluice only "
                "checkpoints positions it read itself.")
    KCL_IGNORED("SkipShardSyncAtStartupIfLeasesExist",
                "KCL start-up shortcut: sluice always lists the shards at start-up.")
    KCL_IGNORED("ShardSyncStrategyType",
                "KCL choice of when to sync shards: sluice syncs every "
                "scan.shard.discovery.intervalmillis and whenever a shard ends.")
    KCL_IGNORED("LeasesRecoveryAuditorExecutionFrequencyMillis",
                "KCL audit for shards without a lease: every shard sync of sluice creates the "
                "missing leases.")
    KCL_IGNORED("LeasesRecoveryAuditorInconsistencyConfidenceThreshold",
                "KCL audit for shards without a lease: every shard sync of sluice creates the "
                "missing leases.")
    KCL_IGNORED("ShardPrioritizationStrategy",
                "Java strategy object ordering shards: sluice starts a child shard once its "
                "parents have ended.")
    KCL_IGNORED("MaxLeaseRenewalThreads",
                "Thread pool of the KCL's lease renewer: sluice renews every lease "
                "asynchronously from one event loop.")
    KCL_IGNORED("RetryGetRecordsInSeconds",
                "KCL's parallel GetRecords retries: sluice retries GetRecords by "
                "scan.shard.getrecords.*.")
    KCL_IGNORED("MaxGetRecordsThreadPool",
                "KCL's parallel GetRecords retries: sluice retries GetRecords by "
                "scan.shard.getrecords.*.")
    KCL_IGNORED("MaxPendingProcessRecordsInput", KCL_PREFETCH)
    KCL_IGNORED("MaxCacheByteSize", KCL_PREFETCH)
    KCL_IGNORED("DataFetchingStrategy", KCL_PREFETCH)
    KCL_IGNORED("MaxRecordsCount", KCL_PREFETCH)
    KCL_IGNORED("IdleMillisBetweenCalls", KCL_PREFETCH)
    KCL_IGNORED("LogWarningForTaskAfterMillis",
                "KCL warning about slow record processors: sluice reports each shard's "
                "MillisBehindLatest as its lag instead.")
    KCL_IGNORED("MaxInitializationAttempts",
                "KCL worker start-up attempts: sluice's start-up calls retry by their own "
                "backoff settings.")
    KCL_IGNORED("SchedulerInitializationBackoffTimeMillis",
                "KCL 2+ start-up backoff: sluice's start-up calls retry by their own backoff "
                "settings.")
    KCL_IGNORED("LeaseCleanupIntervalMillis",
                "KCL's background lease cleanup: sluice removes finished leases as "
                "aws.kcl.CleanupLeasesUponShardCompletion says.")
    KCL_IGNORED("CompletedLeaseCleanupThresholdMillis",
                "KCL's background lease cleanup: sluice removes finished leases as "
                "aws.kcl.CleanupLeasesUponShardCompletion says.")
    KCL_IGNORED("GarbageLeaseCleanupThresholdMillis",
                "KCL's background lease cleanup: sluice removes finished leases as "
                "aws.kcl.CleanupLeasesUponShardCompletion says.")
    KCL_IGNORED("EnablePriorityLeaseAssignment",
                "KCL 2+ lease assignment preference: sluice takes expired leases first, then "
                "steals toward the fair share.")

    /* ---- the producer (task.outputs streams): Flink's KinesisStreamsSink options, Pulsar's
     * messageFormat, the KPL's aggregation ---- */
    {"sink.batch.max-size", SL_PROP_INT, KO(sink.batch_max), "500", 1, 500, NULL, 0,
     "Most records in one PutRecords request (Kinesis allows 500). A request also stays under "
     "5 MiB of data and partition keys."},
    {"sink.producer.collection-max-count", SL_PROP_ALIAS, 0, NULL, 0, 0, "sink.batch.max-size",
     SL_PROP_F_DEPRECATED, "Flink's deprecated FlinkKinesisProducer spelling."},
    {"sink.producer.collection-max-size", SL_PROP_ALIAS, 0, NULL, 0, 0, "sink.batch.max-size",
     SL_PROP_F_DEPRECATED,
     "Flink's deprecated FlinkKinesisProducer spelling (Flink maps it to sink.batch.max-size)."},
    {"sink.requests.max-inflight", SL_PROP_INT, KO(sink.max_inflight), "16", 1, 10000, NULL, 0,
     "PutRecords requests in flight per worker thread and output stream; more waits."},
    {"sink.producer.max-connections", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "sink.requests.max-inflight", SL_PROP_F_DEPRECATED,
     "Flink's deprecated FlinkKinesisProducer spelling."},
    {"sink.requests.max-buffered", SL_PROP_INT, KO(sink.max_buffered), "10000", 1, 10000000.0,
     NULL, 0,
     "Records a producer holds (waiting or in flight, per worker thread and output stream) "
     "before it pushes back: the worker stops reading its inputs until acknowledgements make "
     "room again. Nothing is dropped."},
    {"sink.flush-buffer.size", SL_PROP_SIZE, KO(sink.flush_size), "5242880", 1, 1073741824.0,
     NULL, 0,
     "Buffered bytes (data and partition keys) that start a PutRecords request at once; capped "
     "by Kinesis' 5 MiB per request."},
    {"sink.flush-buffer.timeout", SL_PROP_DURATION, KO(sink.flush_timeout_ms), "5000", 0,
     HOUR_MS, NULL, 0,
     "The longest a record waits in the buffer before a request goes out with what there is. "
     "A worker whose inputs are caught up, a commit and the end of the job send at once. Plain "
     "numbers are milliseconds."},
    {"sink.producer.record-max-buffered-time", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "sink.flush-buffer.timeout", SL_PROP_F_DEPRECATED,
     "Flink's deprecated FlinkKinesisProducer spelling."},
    {"sink.fail-on-error", SL_PROP_BOOL, KO(sink.fail_on_error), "false", 0, 0, NULL, 0,
     "true: a failed request or record (throttling included) fails the job instead of being "
     "retried. false: retryable failures are retried with backoff until they succeed, and a "
     "record Kinesis refuses for good goes to task.error.policy."},
    {"sink.producer.fail-on-error", SL_PROP_ALIAS, 0, NULL, 0, 0, "sink.fail-on-error",
     SL_PROP_F_DEPRECATED, "Flink's deprecated FlinkKinesisProducer spelling."},
    KIN_BACKOFF_ROWS("sink.retry", sink.retry, "PutRecords", "2147483647", "100ms", "5s")
    {"sink.http-client.read-timeout", SL_PROP_DURATION, KO(sink.request_timeout_ms), "360000",
     1, DAY_MS, NULL, 0,
     "The longest one PutRecords request may take before it is abandoned and retried (Flink's "
     "KinesisAsyncClient read timeout). Plain numbers are milliseconds."},
    {"sink.producer.request-timeout", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "sink.http-client.read-timeout", SL_PROP_F_DEPRECATED,
     "Flink's deprecated FlinkKinesisProducer spelling."},
    {"sink.http-client.max-concurrency", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's limit of concurrent HTTP requests: sluice's producer never has more than "
     "sink.requests.max-inflight requests per worker thread."},
    {"sink.http-client.protocol.version", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's HTTP version choice: sluice uses HTTP/2 over TLS when the endpoint offers it and "
     "HTTP/1.1 otherwise."},

    /* partitioning */
    {"sink.partitioner", SL_PROP_STRING, KO(sink.partitioner), "", 0, 0, NULL, 0,
     "How each record's partition key is chosen: random (a new random key per record), fixed "
     "(one key per worker thread, its index: a worker's records go to one shard; keeping key "
     "order that is one entry in flight per worker, so pair it with aggregation or "
     "sink.keep-key-order=false), key (the "
     "record key), or the path of a shared library exporting a C partitioner "
     "(sl_partitioner_plugin_t, see sluice/partitioner.h). Empty: the record key when the "
     "record has one, else random. With sink.partitioner.fields set it must be empty."},
    {"sink.partitioner.symbol", SL_PROP_STRING, KO(sink.partitioner_symbol),
     "sluice_partitioner", 0, 0, NULL, 0,
     "The symbol a partitioner library exports (a const sl_partitioner_plugin_t)."},
    {"sink.partitioner.arg", SL_PROP_STRING, KO(sink.partitioner_arg), "", 0, 0, NULL, 0,
     "A string handed to the partitioner library's open() callback."},
    {"sink.partitioner.fields", SL_PROP_LIST, KO(sink.fields), "", 0, 0, NULL, 0,
     "Flink's PARTITION BY for sluice: fields of the JSON payload (names, or dotted paths "
     "into objects) whose values, joined by sink.partitioner-field-delimiter, make the "
     "partition key. Strings are taken as they are, other values as JSON text, a missing "
     "field or null as the empty string."},
    {"sink.partitioner-field-delimiter", SL_PROP_STRING, KO(sink.field_delimiter), "|", 0, 0,
     NULL, 0, "Put between the field values of sink.partitioner.fields (may be empty)."},
    {"sink.explicit-hash-key.header", SL_PROP_STRING, KO(sink.ehk_header),
     "kinesis.explicit-hash-key", 0, 0, NULL, 0,
     "A record header holding an explicit hash key (a decimal below 2^128) that places the "
     "record on a shard regardless of its partition key; the Kinesis consumer sets this header "
     "on records written with one, so a Kinesis-to-Kinesis job keeps them. Empty: never."},
    {"sink.keep-key-order", SL_PROP_BOOL, KO(sink.keep_key_order), "true", 0, 0, NULL, 0,
     "Keep the order of records with the same partition key, also across retries: a key has "
     "at most one PutRecords entry in flight (a KPL aggregate counts as one entry), since "
     "Kinesis may store a later entry of a request while an earlier one failed. Keys produced "
     "by the random partitioner never repeat and are not limited. false: more throughput for "
     "hot keys without aggregation, order not guaranteed after a failure."},

    /* message formats */
    {"sink.message-format", SL_PROP_STRING, KO(sink.format), "ONLY_RAW_PAYLOAD", 0, 0, NULL, 0,
     "What a Kinesis record holds (Pulsar's Kinesis sink formats): ONLY_RAW_PAYLOAD (the "
     "payload as it is), FULL_MESSAGE_IN_JSON (a JSON object with payload, properties, key, "
     "event time and encryption context) or FULL_MESSAGE_IN_FB (the same as a FlatBuffer of "
     "Pulsar's schema, connectors/kinesis/kinesis_message.fbs)."},
    {"messageFormat", SL_PROP_ALIAS, 0, NULL, 0, 0, "sink.message-format", 0,
     "Pulsar's spelling."},

    /* KPL aggregation */
    {"sink.aggregation.enabled", SL_PROP_BOOL, KO(sink.agg), "false", 0, 0, NULL, 0,
     "Pack records into KPL aggregated records (readable by the KCL, Flink, Pulsar and sluice "
     "consumers, which de-aggregate them). Records are grouped by the shard their hash key "
     "belongs to, so each aggregate lands where its records would have."},
    {"sink.producer.aggregation-enabled", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "sink.aggregation.enabled", SL_PROP_F_DEPRECATED,
     "Flink's deprecated FlinkKinesisProducer spelling (which Flink now ignores; sluice "
     "honours it)."},
    {"sink.aggregation.max-size", SL_PROP_SIZE, KO(sink.agg_max_size), "51200", 64, 1048576,
     NULL, 0,
     "Largest aggregated record in bytes (data and partition key), as the KPL's "
     "AggregationMaxSize."},
    {"sink.producer.aggregation-max-size", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "sink.aggregation.max-size", SL_PROP_F_DEPRECATED,
     "Flink's deprecated FlinkKinesisProducer spelling."},
    {"sink.aggregation.max-count", SL_PROP_INT64, KO(sink.agg_max_count), "4294967295", 1,
     4294967295.0, NULL, 0, "Most records in one aggregated record, as the KPL's "
     "AggregationMaxCount."},
    {"sink.producer.aggregation-count", SL_PROP_ALIAS, 0, NULL, 0, 0,
     "sink.aggregation.max-count", SL_PROP_F_DEPRECATED,
     "Flink's deprecated FlinkKinesisProducer spelling."},
    {"sink.shard-map.refresh", SL_PROP_DURATION, KO(sink.shard_refresh_ms), "60s", 100, DAY_MS,
     NULL, 0,
     "With aggregation, how often the producer lists the stream's shards to group records by "
     "shard; an aggregate that Kinesis placed on another shard than expected (after a "
     "reshard) refreshes it at once and its records are sent again."},
    {"sink.producer.kinesis-endpoint", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's deprecated KPL endpoint: sluice uses aws.endpoint."},
    {"sink.producer.kinesis-port", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's deprecated KPL endpoint port: sluice uses aws.endpoint."},
    {"sink.producer.verify-certificate", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Flink's deprecated KPL TLS switch: sluice uses aws.trust.all.certificates."},
    {"sink.producer.rate-limit", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "The KPL's per-shard rate limit: sluice backs off when Kinesis throttles."},
    {"sink.producer.record-ttl", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "The KPL drops records older than this; sluice never drops an accepted record."},
    {"sink.producer.metrics-level", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, KCL_METRICS},
    {"sink.producer.metrics-granularity", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, KCL_METRICS},
    {"sink.producer.log-level", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "The KPL's native log level: sluice logs through log.level and log.debug."},
    {"sink.producer.threading-model", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "The KPL's threads: sluice's producer runs on the worker's event loop."},
    {"sink.producer.thread-pool-size", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "The KPL's threads: sluice's producer runs on the worker's event loop."},

    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

const char *const kin_factories[] = {
    "kinesis",
    "org.apache.samza.system.kinesis.KinesisSystemFactory",
    NULL,
};

int kin_factory_is_samza(const char *factory) {
    return factory && !strcmp(factory, kin_factories[1]);
}

/* ---- checks ------------------------------------------------------------------------------- */

static int set(const char *s) {
    return s && *s;
}

#define KEY(name, buf) \
    (sl_conf_user_key(conf, kin_stream_props, prefixes, name, buf, sizeof(buf)), buf)

static void upcase(char *s) {
    for (; s && *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

/* The index of s (upper-cased) in choices, or -1 with " (did you mean 'x'?)" in hint. */
static int choice_of(const char *s, const char *const *choices, int n, char *hint,
                     size_t hlen) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, choices[i]))
            return i;
    const char *h = sl_suggest(s, choices, n);
    snprintf(hint, hlen, "%s%s%s", h ? " (did you mean '" : "", h ? h : "", h ? "'?)" : "");
    return -1;
}

static void check_start(sl_conf_t *conf, const char *const *prefixes, kin_conf_t *kc) {
    static const char *const pos[] = {"LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"};
    static const int pos_e[] = {KIN_POS_LATEST, KIN_POS_TRIM_HORIZON, KIN_POS_AT_TIMESTAMP};
    const char *fmt = set(kc->initpos_ts_format) ? kc->initpos_ts_format : KIN_DEFAULT_TS_FORMAT;
    char k1[512], k2[512], k3[512], hint[128], err[512];
    int i;

    kc->initpos_e = KIN_POS_DEFAULT;
    kc->initpos_ts_ms = 0;
    if (set(kc->initpos)) {
        upcase(kc->initpos);
        if ((i = choice_of(kc->initpos, pos, 3, hint, sizeof(hint))) < 0) {
            sl_conf_error(conf, KEY("scan.stream.initpos", k1),
                          "expected LATEST, TRIM_HORIZON or AT_TIMESTAMP (or nothing: "
                          "samza.offset.default decides), got '%s'%s",
                          kc->initpos, hint);
            return;
        }
        kc->initpos_e = pos_e[i];
    }
    if (kc->initpos_e != KIN_POS_AT_TIMESTAMP) {
        if (set(kc->initpos_timestamp)) {
            char w[512];
            KEY("scan.stream.initpos-timestamp", k2);
            sl_log(SL_LOG_WARN, "kinesis", "%s: '%s' is set, but the start position is %s: the "
                   "time is not used", sl_conf_where(conf, k2, w, sizeof(w)), k2,
                   set(kc->initpos) ? kc->initpos : "not AT_TIMESTAMP");
        }
        return;
    }
    if (!set(kc->initpos_timestamp)) {
        KEY("scan.stream.initpos-timestamp", k2);
        sl_conf_error(conf, KEY("scan.stream.initpos", k1),
                      "AT_TIMESTAMP needs %s (or startAtTime, "
                      "aws.kcl.TimestampAtInitialPositionInStream): epoch seconds such as "
                      "1459799926.480, or a date in the format %s",
                      k2, fmt);
        return;
    }
    if (kin_parse_time(kc->initpos_timestamp, fmt, &kc->initpos_ts_ms, err, sizeof(err)) !=
        SL_OK) {
        kc->initpos_ts_ms = 0;
        if (sl_conf_user_key(conf, kin_stream_props, prefixes,
                             "scan.stream.initpos-timestamp-format", k3, sizeof(k3)))
            sl_conf_error(conf, KEY("scan.stream.initpos-timestamp", k2), "%s (format from %s)",
                          err, k3);
        else
            sl_conf_error(conf, KEY("scan.stream.initpos-timestamp", k2), "%s", err);
    }
}

static void check_efo(sl_conf_t *conf, const char *const *prefixes, kin_conf_t *kc) {
    static const char *const pub[] = {"POLLING", "EFO"};
    static const char *const reg[] = {"LAZY", "EAGER", "NONE"};
    char k[512], hint[128];
    int i = 0;

    if (set(kc->record_publisher)) {
        upcase(kc->record_publisher);
        i = choice_of(kc->record_publisher, pub, 2, hint, sizeof(hint));
        if (i < 0)
            sl_conf_error(conf, KEY("scan.stream.recordpublisher", k),
                          "expected POLLING or EFO, got '%s'%s", kc->record_publisher, hint);
    }
    if (i == 1)
        sl_conf_error(conf, KEY("scan.stream.recordpublisher", k),
                      "enhanced fan-out (SubscribeToShard) is not available yet in sluice; use "
                      "POLLING");
    if (kc->use_efo)
        sl_conf_error(conf, KEY("useEnhancedFanOut", k),
                      "enhanced fan-out (SubscribeToShard) is not available yet in sluice; use "
                      "POLLING (useEnhancedFanOut=false)");
    if (set(kc->efo_registration)) {
        upcase(kc->efo_registration);
        if (choice_of(kc->efo_registration, reg, 3, hint, sizeof(hint)) < 0)
            sl_conf_error(conf, KEY("scan.stream.efo.registration", k),
                          "expected LAZY, EAGER or NONE, got '%s'%s", kc->efo_registration,
                          hint);
    }
}

/* backoff.max below backoff.base: an error when the user set the cap, else the cap follows
 * the base (Pulsar's backoffTime of 3000 ms alone must not trip over Flink's 1 s cap). */
static void check_backoff(sl_conf_t *conf, const char *const *prefixes, kin_backoff_t *b,
                          const char *family) {
    char name[128], kmax[512], kbase[512];
    if (b->max_ms >= b->base_ms)
        return;
    snprintf(name, sizeof(name), "%s.backoff.max", family);
    if (!sl_conf_user_key(conf, kin_stream_props, prefixes, name, kmax, sizeof(kmax))) {
        b->max_ms = b->base_ms;
        return;
    }
    snprintf(name, sizeof(name), "%s.backoff.base", family);
    sl_conf_user_key(conf, kin_stream_props, prefixes, name, kbase, sizeof(kbase));
    sl_conf_error(conf, kmax, "%lld ms is less than %s (%lld ms): the cap must be at least the "
                  "base", (long long)b->max_ms, kbase, (long long)b->base_ms);
}

/* The stream name at the end of a Kinesis stream ARN, or NULL when arn is not one. */
static const char *arn_stream(const char *arn) {
    const char *p = arn;
    int colons = 0;
    if (strncmp(arn, "arn:", 4) != 0)
        return NULL;
    for (; *p && colons < 5; p++)
        if (*p == ':')
            colons++;
    if (colons < 5 || !strstr(arn, ":kinesis:") || strncmp(p, "stream/", 7) != 0 || !p[7] ||
        strchr(p + 7, '/') || strchr(p + 7, ':'))
        return NULL;
    return p + 7;
}

static void check_stream(sl_conf_t *conf, const char *const *prefixes, const kin_conf_t *kc) {
    char k1[512], k2[512];
    const char *name;
    if (kc->ddb) {
        if (!set(kc->stream_arn))
            sl_conf_error(conf, KEY("stream.arn", k1),
                          "required: the ARN of the table's stream (arn:aws:dynamodb:<region>:"
                          "<account>:table/<table>/stream/<label>, as `aws dynamodb "
                          "describe-table` shows in LatestStreamArn)");
        else if (!kin_ddb_arn_table(kc->stream_arn, NULL, 0))
            sl_conf_error(conf, KEY("stream.arn", k1),
                          "expected arn:<partition>:dynamodb:<region>:<account>:table/<table>/"
                          "stream/<label>, got '%s'", kc->stream_arn);
        if (set(kc->stream_name))
            sl_conf_error(conf, KEY("stream.name", k2),
                          "names a Kinesis stream; a DynamoDB stream is named by %s",
                          KEY("stream.arn", k1));
        return;
    }
    if (!set(kc->stream_arn))
        return;
    if (!(name = arn_stream(kc->stream_arn))) {
        sl_conf_error(conf, KEY("stream.arn", k1),
                      "expected arn:<partition>:kinesis:<region>:<account>:stream/<name>, got "
                      "'%s'", kc->stream_arn);
        return;
    }
    if (set(kc->stream_name) && strcmp(kc->stream_name, name) != 0)
        sl_conf_error(conf, KEY("stream.name", k1), "'%s' is not the stream of %s ('%s')",
                      kc->stream_name, KEY("stream.arn", k2), name);
}

/* Whether the system of prefixes (its scope is the last prefix) was named by Samza's factory. */
static int samza_system(sl_conf_t *conf, const char *const *prefixes) {
    char k[512];
    int n = 0;
    while (prefixes[n])
        n++;
    snprintf(k, sizeof(k), "%ssamza.factory", prefixes[n - 1]);
    return kin_factory_is_samza(sl_conf_get(conf, k));
}

static void check_leases(sl_conf_t *conf, const char *const *prefixes, const kin_conf_t *kc) {
    char k[512];
    const sl_aws_conf_t *aws = &kc->aws;
    aws_endpoint_t ep, ddb;
    int dynamodb = kc->lease_store == KIN_STORE_DYNAMODB ||
                   (kc->lease_store == KIN_STORE_AUTO &&
                    (set(aws->dynamodb_endpoint) || set(kc->table_name) ||
                     set(aws->application_name) || samza_system(conf, prefixes)));

    if (kc->failover_ms / 3 <= kc->epsilon_ms)
        sl_conf_error(conf, KEY("aws.kcl.FailoverTimeMillis", k),
                      "%lld ms leaves no time to renew leases (every FailoverTimeMillis/3 - "
                      "aws.kcl.EpsilonMillis): it must be more than 3 x %lld ms",
                      (long long)kc->failover_ms, (long long)kc->epsilon_ms);
    /* A local Kinesis (endpoint, no region) must not send the lease table to AWS's own
     * DynamoDB in us-east-1 by accident. */
    if (dynamodb && !set(aws->region) &&
        aws_endpoint_resolve(kc->ddb ? "dynamodb_streams" : "kinesis", aws->endpoint,
                             "aws.endpoint", aws->profile_name, &ep) != AWS_EP_DEFAULT &&
        aws_endpoint_resolve("dynamodb", aws->dynamodb_endpoint, NULL, aws->profile_name,
                             &ddb) == AWS_EP_DEFAULT)
        sl_conf_error(conf, KEY("aws.endpoint", k),
                      "only points at %s (%s from %s), and the lease table's DynamoDB has no "
                      "endpoint: set aws.dynamodb.endpoint or AWS_ENDPOINT_URL_DYNAMODB (or "
                      "aws.region for AWS's DynamoDB), or aws.kcl.LeaseStore=sqlite",
                      kc->ddb ? "DynamoDB Streams" : "Kinesis", ep.url, ep.from);
}

int kin_conf_check(sl_conf_t *conf, const char *const *prefixes, kin_conf_t *kc) {
    static const char *const root[] = {"", NULL};
    aws_endpoint_t ep;
    char k[512];
    int before = sl_conf_error_count(conf);

    if (!prefixes || !prefixes[0])
        prefixes = root;
    sl_aws_conf_check(conf, prefixes, &kc->aws);
    /* A local peer named by AWS_ENDPOINT_URL_KINESIS or the config file needs no region either,
     * as with the SDKs' clients (signed for us-east-1). */
    if (!set(kc->aws.region) &&
        aws_endpoint_resolve(kc->ddb ? "dynamodb_streams" : "kinesis", kc->aws.endpoint, NULL,
                             kc->aws.profile_name, &ep) == AWS_EP_DEFAULT)
        sl_conf_error(conf, KEY("aws.region", k),
                      "required (or aws.endpoint, or AWS_ENDPOINT_URL_%s): the AWS region of the "
                      "stream, e.g. us-east-1",
                      kc->ddb ? "DYNAMODB_STREAMS" : "KINESIS");
    check_stream(conf, prefixes, kc);
    check_start(conf, prefixes, kc);
    check_efo(conf, prefixes, kc);
    check_backoff(conf, prefixes, &kc->getrecords, "scan.shard.getrecords");
    check_backoff(conf, prefixes, &kc->getiterator, "scan.shard.getiterator");
    check_backoff(conf, prefixes, &kc->listshards, "scan.list.shards");
    check_backoff(conf, prefixes, &kc->describe, "scan.stream.describe");
    check_leases(conf, prefixes, kc);
    return sl_conf_error_count(conf) - before;
}

int kin_sink_check(sl_conf_t *conf, const char *const *prefixes, kin_conf_t *kc) {
    static const char *const formats[] = {"ONLY_RAW_PAYLOAD", "FULL_MESSAGE_IN_JSON",
                                          "FULL_MESSAGE_IN_FB"};
    static const char *const root[] = {"", NULL};
    kin_sink_conf_t *sc = &kc->sink;
    char k1[512], k2[512], hint[128];
    int before = sl_conf_error_count(conf), i;

    if (!prefixes || !prefixes[0])
        prefixes = root;
    upcase(sc->format);
    if ((i = choice_of(set(sc->format) ? sc->format : "", formats, 3, hint, sizeof(hint))) < 0)
        sl_conf_error(conf, KEY("sink.message-format", k1),
                      "expected ONLY_RAW_PAYLOAD, FULL_MESSAGE_IN_JSON or FULL_MESSAGE_IN_FB, "
                      "got '%s'%s", sc->format ? sc->format : "", hint);
    else
        sc->format_e = i; /* kin_fmt_t */
    KEY("sink.partitioner", k1);
    KEY("sink.partitioner.fields", k2);
    kin_partitioner_check(conf, k1, k2, sc);
    check_backoff(conf, prefixes, &sc->retry, "sink.retry");
    if (sc->agg && sc->agg_max_size > KPL_MAX_RECORD_BYTES)
        sl_conf_error(conf, KEY("sink.aggregation.max-size", k1),
                      "an aggregated record cannot exceed Kinesis' 1 MiB per record");
    return sl_conf_error_count(conf) - before;
}

sl_retry_policy_t kin_backoff_policy(const kin_backoff_t *b) {
    sl_retry_policy_t p;
    p.base_ms = b->base_ms > 0 ? b->base_ms : 1;
    p.max_ms = b->max_ms > p.base_ms ? b->max_ms : p.base_ms;
    p.exp = b->expconst > 0 ? b->expconst : 1.5;
    p.max_retries = b->max_retries > 0 ? b->max_retries : 0;
    return p;
}
