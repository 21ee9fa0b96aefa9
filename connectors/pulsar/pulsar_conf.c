/*
 * pulsar_conf.c: the property table of the `pulsar` system's streams, producer and consumer
 * side. Canonical keys are pulsar.*; the Java client's names (serviceUrl, batchingMaxMessages,
 * subscriptionName, ... as Pulsar IO and `pulsar-client` configs spell them) and Flink's Pulsar
 * connector keys (pulsar.client.*, pulsar.producer.*, pulsar.consumer.*) are aliases of the row
 * they mean. pl_conf_check() judges what one row cannot: the topic name, the service URL and
 * TLS files.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pulsar.h"
#include "util_retry.h"
#include "util_str.h"

#define PO(f) offsetof(pl_conf_t, f)
#define DAY_MS 86400000.0
#define ALIAS(name, of, why) {name, SL_PROP_ALIAS, 0, NULL, 0, 0, of, 0, why}

const char *const pl_source_props[PL_NSOURCE_PROPS] = {
    "kinesis.arrival.timestamp", "kinesis.encryption.type", "kinesis.partition.key",
    "kinesis.sequence.number", "kinesis.shard.id", "EVENT_NAME", "SEQUENCE_NUMBER",
};

const sl_prop_t pl_stream_props[] = {
    /* ---- client ---- */
    {"pulsar.service-url", SL_PROP_STRING, PO(service_url), "pulsar://localhost:6650", 0, 0, NULL,
     0, "The broker (or proxy) to connect to: pulsar://host:port, pulsar+ssl://host:port for "
        "TLS, several hosts separated by commas. Topics are looked up there; the broker that "
        "serves a topic may be another one."},
    ALIAS("serviceUrl", "pulsar.service-url", "The Java client's name."),
    ALIAS("pulsar.client.serviceUrl", "pulsar.service-url", "Flink's Pulsar connector."),
    {"pulsar.topic", SL_PROP_STRING, PO(topic), "", 0, 0, NULL, 0,
     "The topic: persistent://tenant/namespace/topic, tenant/namespace/topic or a short name in "
     "public/default. Empty: the stream's name. A partitioned topic is written to and read "
     "from every partition."},
    ALIAS("topic", "pulsar.topic", "Flink's and Pulsar IO's spelling."),
    ALIAS("topicName", "pulsar.topic", "The Java producer's name."),
    {"pulsar.auth.token", SL_PROP_STRING, PO(auth_token), "", 0, 0, NULL, SL_PROP_F_SECRET,
     "A token for Pulsar's token authentication (AuthenticationToken), sent in CONNECT and "
     "again when the broker asks to refresh. Secret: never logged."},
    {"pulsar.tls.trust-certs-file", SL_PROP_STRING, PO(tls_ca_file), "", 0, 0, NULL, 0,
     "PEM file of the CAs that sign the brokers' certificates (pulsar+ssl://). Empty: the "
     "system's trusted CAs."},
    ALIAS("tlsTrustCertsFilePath", "pulsar.tls.trust-certs-file", "The Java client's name."),
    ALIAS("pulsar.client.tlsTrustCertsFilePath", "pulsar.tls.trust-certs-file",
          "Flink's Pulsar connector."),
    {"pulsar.tls.cert-file", SL_PROP_STRING, PO(tls_cert_file), "", 0, 0, NULL, 0,
     "PEM client certificate for mutual TLS (with pulsar.tls.key-file)."},
    {"pulsar.tls.key-file", SL_PROP_STRING, PO(tls_key_file), "", 0, 0, NULL, 0,
     "PEM private key of pulsar.tls.cert-file."},
    {"pulsar.tls.allow-insecure", SL_PROP_BOOL, PO(tls_allow_insecure), "false", 0, 0, NULL, 0,
     "Accept any broker certificate (no verification). For tests only."},
    ALIAS("tlsAllowInsecureConnection", "pulsar.tls.allow-insecure", "The Java client's name."),
    {"pulsar.tls.hostname-verification", SL_PROP_BOOL, PO(tls_verify_hostname), "true", 0, 0,
     NULL, 0, "Check that the broker's certificate names the host connected to. On by default "
        "(the Java client's tlsHostnameVerificationEnable defaults to false)."},
    ALIAS("tlsHostnameVerificationEnable", "pulsar.tls.hostname-verification",
          "The Java client's name."),
    {"pulsar.connection-timeout", SL_PROP_DURATION, PO(connect_timeout_ms), "10s", 100, DAY_MS,
     NULL, 0, "How long a TCP/TLS connection and its CONNECT handshake may take."},
    ALIAS("connectionTimeoutMs", "pulsar.connection-timeout", "The Java client's name."),
    {"pulsar.operation-timeout", SL_PROP_DURATION, PO(operation_timeout_ms), "30s", 100, DAY_MS,
     NULL, 0, "How long a lookup, producer or subscription request waits for the broker; then "
        "it is retried with backoff. A producer or subscription that timed out is given back "
        "first (CLOSE_PRODUCER / CLOSE_CONSUMER, as the Java client does), and its connection "
        "closed when that is not answered in time either."},
    ALIAS("operationTimeoutMs", "pulsar.operation-timeout", "The Java client's name."),
    {"pulsar.keepalive-interval", SL_PROP_DURATION, PO(keepalive_ms), "30s", 0, DAY_MS, NULL, 0,
     "After this much silence a PING is sent; after twice this much the connection is dropped "
     "and remade. 0: no keepalive."},
    {"pulsar.listener-name", SL_PROP_STRING, PO(listener_name), "", 0, 0, NULL, 0,
     "The advertised listener to ask lookups for (brokers with several listeners)."},
    ALIAS("listenerName", "pulsar.listener-name", "The Java client's name."),

    /* ---- producer ---- */
    {"pulsar.producer.name", SL_PROP_STRING, PO(producer_name), "", 0, 0, NULL, 0,
     "Producer name; each worker and partition appends -<worker>-<partition>. Empty: the broker "
     "assigns one."},
    ALIAS("producerName", "pulsar.producer.name", "The Java producer's name."),
    {"pulsar.producer.batching.enabled", SL_PROP_BOOL, PO(batching), "true", 0, 0, NULL, 0,
     "Send several messages in one entry (a batch); a batch is closed at max-messages, "
     "max-bytes or max-publish-delay, and at every flush of the job."},
    ALIAS("batchingEnabled", "pulsar.producer.batching.enabled", "The Java producer's name."),
    ALIAS("pulsar.producer.batchingEnabled", "pulsar.producer.batching.enabled",
          "Flink's Pulsar connector."),
    {"pulsar.producer.batching.max-messages", SL_PROP_INT, PO(batch_max_messages), "1000", 1,
     1000000, NULL, 0, "Most messages in one batch."},
    ALIAS("batchingMaxMessages", "pulsar.producer.batching.max-messages",
          "The Java producer's name."),
    ALIAS("pulsar.producer.batchingMaxMessages", "pulsar.producer.batching.max-messages",
          "Flink's Pulsar connector."),
    {"pulsar.producer.batching.max-bytes", SL_PROP_SIZE, PO(batch_max_bytes), "128K", 1,
     104857600, NULL, 0, "Most payload bytes in one batch (before compression)."},
    ALIAS("batchingMaxBytes", "pulsar.producer.batching.max-bytes", "The Java producer's name."),
    ALIAS("pulsar.producer.batchingMaxBytes", "pulsar.producer.batching.max-bytes",
          "Flink's Pulsar connector."),
    {"pulsar.producer.batching.max-publish-delay", SL_PROP_DURATION, PO(batch_delay_ms), "1ms", 0,
     DAY_MS, NULL, 0, "Longest time the first message of a batch waits for more."},
    {"pulsar.producer.compression", SL_PROP_ENUM, PO(compression), "NONE", 0, 0,
     "NONE|LZ4|ZLIB|ZSTD|SNAPPY", 0,
     "Compression of each batch (or single message), as the Java client does it: LZ4 block, "
     "zlib stream, zstd frame (level 3), raw snappy."},
    ALIAS("compressionType", "pulsar.producer.compression", "The Java producer's name."),
    ALIAS("pulsar.producer.compressionType", "pulsar.producer.compression",
          "Flink's Pulsar connector."),
    {"pulsar.producer.send-timeout", SL_PROP_DURATION, PO(send_timeout_ms), "30s", 0, DAY_MS,
     NULL, 0, "A message without a receipt after this long makes the producer reconnect and "
        "send again what is unacknowledged (never dropped: the source checkpoint waits). "
        "0: wait for ever."},
    ALIAS("sendTimeoutMs", "pulsar.producer.send-timeout", "The Java producer's name."),
    ALIAS("pulsar.producer.sendTimeoutMs", "pulsar.producer.send-timeout",
          "Flink's Pulsar connector."),
    {"pulsar.producer.max-pending-messages", SL_PROP_INT, PO(max_pending), "1000", 1, 10000000,
     NULL, 0, "Messages sent but not yet acknowledged, per worker and topic partition; beyond "
        "it the worker stops reading its inputs until receipts come back."},
    ALIAS("maxPendingMessages", "pulsar.producer.max-pending-messages",
          "The Java producer's name."),
    ALIAS("pulsar.producer.maxPendingMessages", "pulsar.producer.max-pending-messages",
          "Flink's Pulsar connector."),
    {"pulsar.producer.retry.base", SL_PROP_DURATION, PO(retry_base_ms), "100ms", 1, DAY_MS, NULL,
     0, "First delay before reconnecting or resending after a failure (doubles each time)."},
    {"pulsar.producer.retry.max", SL_PROP_DURATION, PO(retry_max_ms), "30s", 1, DAY_MS, NULL, 0,
     "Longest delay between attempts."},
    {"pulsar.producer.hashing-scheme", SL_PROP_ENUM, PO(hashing), "JavaStringHash", 0, 0,
     "JavaStringHash|Murmur3_32Hash", 0,
     "How a keyed message picks its partition of a partitioned topic, as the Java client's "
     "default router does (so sluice and Java producers put a key in the same partition). "
     "Messages without a key go round robin, one batch at a time."},
    ALIAS("hashingScheme", "pulsar.producer.hashing-scheme", "The Java producer's name."),
    {"pulsar.producer.auto-update-partitions", SL_PROP_BOOL, PO(auto_update_partitions), "true",
     0, 0, NULL, 0,
     "Ask a partitioned topic's partition count again every "
     "pulsar.producer.auto-update-partitions-interval and start writing to partitions added "
     "since (keyed messages then route over the new count, as with the Java client)."},
    ALIAS("autoUpdatePartitions", "pulsar.producer.auto-update-partitions",
          "The Java producer's name."),
    {"pulsar.producer.auto-update-partitions-interval", SL_PROP_DURATION,
     PO(partitions_interval_ms), "60s", 1000, DAY_MS, NULL, 0,
     "How often pulsar.producer.auto-update-partitions asks (the Java client's "
     "autoUpdatePartitionsIntervalSeconds, 60 by default)."},
    {"pulsar.producer.source-properties", SL_PROP_LIST, PO(source_props),
     "kinesis.arrival.timestamp,kinesis.encryption.type,kinesis.partition.key,"
     "kinesis.sequence.number,kinesis.shard.id,EVENT_NAME,SEQUENCE_NUMBER",
     0, 0, NULL, 0,
     "Message properties set from a record read from Kinesis, with the names Pulsar's Kinesis "
     "source uses: kinesis.arrival.timestamp (ISO 8601), kinesis.encryption.type, "
     "kinesis.partition.key, kinesis.sequence.number, kinesis.shard.id; and from a record read "
     "from DynamoDB Streams, with the names Pulsar's DynamoDB source uses: EVENT_NAME (INSERT, "
     "MODIFY, REMOVE), SEQUENCE_NUMBER. The message key is the partition key (DynamoDB: the "
     "eventID) and the event time the arrival (creation) time either way."},
    {"pulsar.producer.headers-as-properties", SL_PROP_BOOL, PO(headers_as_props), "true", 0, 0,
     NULL, 0, "Copy every header of a record (e.g. kinesis.explicit-hash-key) into the message "
        "properties."},

    /* ---- consumer ---- */
    {"pulsar.subscription.name", SL_PROP_STRING, PO(subscription), "", 0, 0, NULL, 0,
     "The subscription to read with. Empty: the job's name (job.name)."},
    ALIAS("subscriptionName", "pulsar.subscription.name", "The Java consumer's name."),
    ALIAS("pulsar.consumer.subscriptionName", "pulsar.subscription.name",
          "Flink's Pulsar connector."),
    {"pulsar.subscription.type", SL_PROP_ENUM, PO(sub_type), "Exclusive", 0, 0,
     "Exclusive|Shared|Failover|Key_Shared", 0,
     "Exclusive and Failover read each partition in order (cumulative acks); Shared and "
     "Key_Shared spread messages over the subscription's consumers (individual acks). A job "
     "with a stateful operator (dedup, window) needs Exclusive: with the others, consumers of "
     "other processes receive a partition or its messages, and keyed state cannot follow them "
     "yet."},
    ALIAS("subscriptionType", "pulsar.subscription.type", "The Java consumer's name."),
    ALIAS("pulsar.consumer.subscriptionType", "pulsar.subscription.type",
          "Flink's Pulsar connector."),
    {"pulsar.subscription.initial-position", SL_PROP_ENUM, PO(initial_position), "Latest", 0, 0,
     "Latest|Earliest", 0, "Where a new subscription starts."},
    ALIAS("subscriptionInitialPosition", "pulsar.subscription.initial-position",
          "The Java consumer's name."),
    ALIAS("pulsar.consumer.subscriptionInitialPosition", "pulsar.subscription.initial-position",
          "Flink's Pulsar connector."),
    {"pulsar.consumer.receiver-queue-size", SL_PROP_INT, PO(receiver_queue), "1000", 1, 1000000,
     NULL, 0, "Messages the broker may push ahead per partition (FLOW permits); topped up as "
        "the job takes them."},
    ALIAS("receiverQueueSize", "pulsar.consumer.receiver-queue-size",
          "The Java consumer's name."),
    ALIAS("pulsar.consumer.receiverQueueSize", "pulsar.consumer.receiver-queue-size",
          "Flink's Pulsar connector."),
    {"pulsar.consumer.name", SL_PROP_STRING, PO(consumer_name), "", 0, 0, NULL, 0,
     "Consumer name (Failover subscriptions order consumers by it). Empty: job name and "
     "worker."},
    ALIAS("consumerName", "pulsar.consumer.name", "The Java consumer's name."),
    {"pulsar.consumer.max-pending-chunked-message", SL_PROP_INT, PO(max_pending_chunked), "10",
     1, 100000, NULL, 0,
     "Chunked messages (a message larger than the broker's limit, split into chunks by a "
     "producer with chunking enabled, and joined again here) being assembled at once per "
     "partition; a new one past this drops the oldest incomplete one (see "
     "pulsar.consumer.auto-ack-oldest-chunked-message-on-queue-full)."},
    ALIAS("maxPendingChunkedMessage", "pulsar.consumer.max-pending-chunked-message",
          "The Java consumer's name."),
    {"pulsar.consumer.auto-ack-oldest-chunked-message-on-queue-full", SL_PROP_BOOL,
     PO(auto_ack_oldest_chunked), "false", 0, 0, NULL, 0,
     "The oldest incomplete chunked message dropped for a new one: true acks its chunks (the "
     "message is lost); false leaves them unacknowledged, so the broker delivers them again "
     "when the consumer subscribes again."},
    ALIAS("autoAckOldestChunkedMessageOnQueueFull",
          "pulsar.consumer.auto-ack-oldest-chunked-message-on-queue-full",
          "The Java consumer's name."),
    {"pulsar.consumer.expire-time-of-incomplete-chunked-message", SL_PROP_DURATION,
     PO(chunk_expire_ms), "60s", 0, DAY_MS, NULL, 0,
     "A chunked message still incomplete this long after its first chunk arrived is dropped "
     "and its chunks acked (its producer went away mid-message: the rest never comes), as the "
     "Java client does. 0: never."},
    ALIAS("expireTimeOfIncompleteChunkedMessageMillis",
          "pulsar.consumer.expire-time-of-incomplete-chunked-message",
          "The Java consumer's name (milliseconds)."),
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

int pl_conf_check(sl_conf_t *conf, const char *const *prefixes, void *stream_conf, int input) {
    static const char *const root[] = {"", NULL};
    pl_conf_t *c = stream_conf;
    char key[512], err[300];
    int before = sl_conf_error_count(conf);
    pl_url_t u;
    (void)input;

    if (!prefixes || !prefixes[0])
        prefixes = root;
    if (pl_url_parse(c->service_url ? c->service_url : "", &u, err, sizeof(err)) < 0) {
        sl_conf_user_key(conf, pl_stream_props, prefixes, "pulsar.service-url", key, sizeof(key));
        sl_conf_error(conf, key, "%s", err);
    } else {
        pl_url_clear(&u);
    }
    if (c->topic && *c->topic) {
        char *full = pl_topic_full(c->topic, err, sizeof(err));
        if (!full) {
            sl_conf_user_key(conf, pl_stream_props, prefixes, "pulsar.topic", key, sizeof(key));
            sl_conf_error(conf, key, "%s", err);
        }
        free(full);
    }
    {
        const struct {
            const char *row;
            const char *path;
        } files[] = {{"pulsar.tls.trust-certs-file", c->tls_ca_file},
                     {"pulsar.tls.cert-file", c->tls_cert_file},
                     {"pulsar.tls.key-file", c->tls_key_file}};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
            if (files[i].path && *files[i].path && access(files[i].path, R_OK) != 0) {
                sl_conf_user_key(conf, pl_stream_props, prefixes, files[i].row, key, sizeof(key));
                sl_conf_error(conf, key, "cannot read %s", files[i].path);
            }
        if ((c->tls_cert_file && *c->tls_cert_file) != (c->tls_key_file && *c->tls_key_file)) {
            sl_conf_user_key(conf, pl_stream_props, prefixes, "pulsar.tls.cert-file", key,
                             sizeof(key));
            sl_conf_error(conf, key, "a client certificate needs pulsar.tls.key-file and the "
                          "other way round");
        }
    }
    if (c->retry_max_ms < c->retry_base_ms) {
        sl_conf_user_key(conf, pl_stream_props, prefixes, "pulsar.producer.retry.max", key,
                         sizeof(key));
        sl_conf_error(conf, key, "must not be below pulsar.producer.retry.base");
    }
    c->source_mask = 0;
    for (int i = 0; i < c->source_props.cnt; i++) {
        size_t k = 0;
        while (k < PL_NSOURCE_PROPS && strcmp(c->source_props.items[i], pl_source_props[k]) != 0)
            k++;
        if (k < PL_NSOURCE_PROPS) {
            c->source_mask |= 1u << k;
        } else {
            const char *h = sl_suggest(c->source_props.items[i], pl_source_props, PL_NSOURCE_PROPS);
            sl_conf_user_key(conf, pl_stream_props, prefixes, "pulsar.producer.source-properties",
                             key, sizeof(key));
            sl_conf_error(conf, key, "unknown property '%s'%s%s%s", c->source_props.items[i],
                          h ? " (did you mean '" : "", h ? h : "", h ? "'?)" : "");
        }
    }
    return sl_conf_error_count(conf) - before;
}

void pl_client_conf(const pl_conf_t *c, const char *what, pl_client_conf_t *cc) {
    memset(cc, 0, sizeof(*cc));
    cc->service_url = c->service_url;
    cc->auth_token = c->auth_token && *c->auth_token ? c->auth_token : NULL;
    cc->tls_ca_file = c->tls_ca_file;
    cc->tls_cert_file = c->tls_cert_file;
    cc->tls_key_file = c->tls_key_file;
    cc->tls_allow_insecure = c->tls_allow_insecure;
    cc->tls_verify_hostname = c->tls_verify_hostname;
    cc->connect_timeout_ms = c->connect_timeout_ms;
    cc->operation_timeout_ms = c->operation_timeout_ms;
    cc->keepalive_ms = c->keepalive_ms;
    cc->listener_name = c->listener_name;
    cc->what = what;
}

int64_t pl_retry_ms(const pl_conf_t *c, int attempts, uint64_t *rng) {
    sl_retry_policy_t p = {c->retry_base_ms, c->retry_max_ms, 2.0, 0, 0};
    return sl_retry_delay_ms(&p, attempts > 0 ? attempts - 1 : 0, rng);
}
