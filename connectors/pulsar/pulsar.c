/*
 * pulsar.c: the `pulsar` system plugin: Apache Pulsar over its native binary protocol, in C (no
 * Java, no C++ client). The producer is pulsar_sink.c, the consumer pulsar_source.c; both speak
 * through pulsar_conn.c (connections, lookups) and pulsar_wire.c (frames, batches, codecs).
 */
#include <stdio.h>

#include "pulsar.h"

static const char *const pl_factories[] = {
    "pulsar",
    "org.apache.pulsar.client.api.PulsarClient",
    NULL,
};

sl_err_t pl_in_open(sl_input_t *in, void **statep);
sl_err_t pl_discover(sl_input_t *in);
void pl_in_close(sl_input_t *in, void *state);
sl_err_t pl_part_open(sl_part_t *part, const char *offset, int64_t subseq, void **statep);
sl_poll_t pl_part_poll(sl_part_t *part, void *state, int max);
sl_err_t pl_part_commit(sl_part_t *part, void *state, const char *offset, int64_t subseq);
void pl_part_close(sl_part_t *part, void *state);

/* in_partitions_move: an Exclusive subscription keeps each partition with the one consumer
 * (this process's); Failover makes another process's consumer a partition's active one when
 * it comes first, Shared and Key_Shared spread a partition's messages over every consumer. */
static int pl_partitions_move(const sl_input_t *in, char *why, size_t len) {
    static const char *const types[] = {"Exclusive", "Shared", "Failover", "Key_Shared"};
    const pl_conf_t *c = sl_input_stream_conf(in);
    char key[512];
    const char *sub;

    if (!c || c->sub_type == PULSAR__PROTO__COMMAND_SUBSCRIBE__SUB_TYPE__Exclusive ||
        c->sub_type < 0 || c->sub_type > 3)
        return 0;
    sub = c->subscription && *c->subscription ? c->subscription : sl_input_job_name(in);
    sl_conf_user_key(sl_input_conf(in), pl_stream_props, sl_input_prefixes(in),
                     "pulsar.subscription.type", key, sizeof(key));
    snprintf(why, len,
             "reads through the %s subscription '%s' (%s), which %s the consumers of other "
             "processes: use an Exclusive subscription",
             types[c->sub_type], sub ? sub : "", key,
             c->sub_type == PULSAR__PROTO__COMMAND_SUBSCRIBE__SUB_TYPE__Failover
                 ? "hands a partition over to"
                 : "spreads a partition's messages over");
    return 1;
}

const sl_system_plugin_t sl_system_pulsar = {
    .abi_version = SL_SYSTEM_ABI_VERSION,
    .name = "pulsar",
    .factories = pl_factories,
    .description =
        "Apache Pulsar, spoken natively (binary protocol over TCP or TLS, token "
        "authentication, lookups with redirects, partitioned topics). The producer batches and "
        "compresses (LZ4, ZLIB, ZSTD, SNAPPY) as the Java client does and acknowledges a record "
        "only when the broker's receipt for it arrived; lost connections, send errors and "
        "timeouts reconnect and send again what has no receipt. The consumer reads every "
        "partition through a subscription (Exclusive, Shared, Failover or Key_Shared) and acks "
        "a message only after the job's sinks acknowledged what it became. Each record's "
        "partition is the topic partition, its offset the message id, its key the message key, "
        "its event time the message's event time (else publish time) and its headers the "
        "message properties.",
    .flags = 0,
    .system_props = NULL,
    .system_conf_size = 0,
    .stream_props = pl_stream_props,
    .stream_conf_size = sizeof(pl_conf_t),
    .stream_check = pl_conf_check,
    .in_open = pl_in_open,
    .in_stop = NULL,
    .in_close = pl_in_close,
    .discover = pl_discover,
    .part_open = pl_part_open,
    .part_poll = pl_part_poll,
    .part_commit = pl_part_commit,
    .part_close = pl_part_close,
    .ext_checkpoints = NULL,
    .out_open = pl_sink_open,
    .out_send = pl_sink_send,
    .out_flush = pl_sink_flush,
    .out_close = pl_sink_close,
    .in_partitions_move = pl_partitions_move,
};
