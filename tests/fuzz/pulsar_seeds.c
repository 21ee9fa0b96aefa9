/*
 * pulsar_seeds.c: writes seed frames for fuzz_pulsar_frame into the directory given: a PING,
 * a CONNECTED, a SEND of one message, MESSAGE frames carrying a batch (plain and LZ4), and one
 * with broker entry metadata in front. Built and run by tools/fuzz.sh.
 */
#include <stdio.h>
#include <string.h>

#include "pulsar_wire.h"

static void put(const char *dir, const char *name, const sl_sb_t *sb) {
    char path[1024];
    FILE *fp;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fp = fopen(path, "wb"))) {
        fwrite(sb->buf, 1, sb->len, fp);
        fclose(fp);
    }
}

int main(int argc, char **argv) {
    sl_sb_t sb = {0}, batch = {0}, z = {0};
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandPing ping = PULSAR__PROTO__COMMAND_PING__INIT;
    Pulsar__Proto__CommandConnected conn = PULSAR__PROTO__COMMAND_CONNECTED__INIT;
    Pulsar__Proto__CommandSend send = PULSAR__PROTO__COMMAND_SEND__INIT;
    Pulsar__Proto__CommandMessage msg = PULSAR__PROTO__COMMAND_MESSAGE__INIT;
    Pulsar__Proto__MessageIdData id = PULSAR__PROTO__MESSAGE_ID_DATA__INIT;
    pl_meta_t meta = PULSAR__PROTO__MESSAGE_METADATA__INIT;
    Pulsar__Proto__KeyValue kv = PULSAR__PROTO__KEY_VALUE__INIT, *kvp = &kv;
    if (argc != 2)
        return 2;
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__PING;
    cmd.ping = &ping;
    pl_frame_cmd(&sb, &cmd);
    put(argv[1], "ping", &sb);

    memset(&cmd, 0, sizeof(cmd));
    pulsar__proto__base_command__init(&cmd);
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__CONNECTED;
    cmd.connected = &conn;
    conn.server_version = "Pulsar Server4.0.8";
    conn.has_protocol_version = 1;
    conn.protocol_version = 20;
    conn.has_max_message_size = 1;
    conn.max_message_size = 5242880;
    sl_sb_reset(&sb);
    pl_frame_cmd(&sb, &cmd);
    put(argv[1], "connected", &sb);

    pulsar__proto__base_command__init(&cmd);
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__SEND;
    cmd.send = &send;
    send.producer_id = 1;
    send.sequence_id = 7;
    meta.producer_name = "p";
    meta.sequence_id = 7;
    meta.publish_time = 1700000000000ull;
    meta.partition_key = "k";
    kv.key = "kinesis.shard.id";
    kv.value = "shardId-000000000000";
    meta.properties = &kvp;
    meta.n_properties = 1;
    sl_sb_reset(&sb);
    pl_frame_payload(&sb, &cmd, &meta, "{\"id\": 1}", 9);
    put(argv[1], "send", &sb);

    for (int i = 0; i < 3; i++) {
        Pulsar__Proto__SingleMessageMetadata smm = PULSAR__PROTO__SINGLE_MESSAGE_METADATA__INIT;
        smm.payload_size = 5;
        smm.partition_key = "key";
        smm.properties = &kvp;
        smm.n_properties = 1;
        pl_batch_add(&batch, &smm, "hello", 5);
    }
    pulsar__proto__base_command__init(&cmd);
    cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__MESSAGE;
    cmd.message = &msg;
    msg.consumer_id = 1;
    msg.message_id = &id;
    id.ledgerid = 3;
    id.entryid = 9;
    meta.n_properties = 0;
    meta.partition_key = NULL;
    meta.has_num_messages_in_batch = 1;
    meta.num_messages_in_batch = 3;
    sl_sb_reset(&sb);
    pl_frame_payload(&sb, &cmd, &meta, batch.buf, batch.len);
    put(argv[1], "message-batch", &sb);

    pl_compress(PULSAR__PROTO__COMPRESSION_TYPE__LZ4, batch.buf, batch.len, &z);
    meta.has_compression = 1;
    meta.compression = PULSAR__PROTO__COMPRESSION_TYPE__LZ4;
    meta.has_uncompressed_size = 1;
    meta.uncompressed_size = (uint32_t)batch.len;
    sl_sb_reset(&sb);
    pl_frame_payload(&sb, &cmd, &meta, z.buf, z.len);
    put(argv[1], "message-lz4", &sb);

    /* Broker entry metadata in front of the payload part: [0x0e02][u32 size][proto]. */
    {
        Pulsar__Proto__BrokerEntryMetadata bem = PULSAR__PROTO__BROKER_ENTRY_METADATA__INIT;
        uint8_t b[32];
        size_t n;
        sl_sb_t with = {0};
        uint32_t cmdsz = (uint32_t)sb.buf[4] << 24 | (uint32_t)(uint8_t)sb.buf[5] << 16 |
                         (uint32_t)(uint8_t)sb.buf[6] << 8 | (uint8_t)sb.buf[7];
        uint32_t total;
        bem.has_broker_timestamp = 1;
        bem.broker_timestamp = 1700000000001ull;
        n = pulsar__proto__broker_entry_metadata__pack(&bem, b);
        total = (uint32_t)(sb.len - 4 + 6 + n);
        sl_sb_putc(&with, (char)(total >> 24));
        sl_sb_putc(&with, (char)(total >> 16));
        sl_sb_putc(&with, (char)(total >> 8));
        sl_sb_putc(&with, (char)total);
        sl_sb_append(&with, sb.buf + 4, 4 + cmdsz);
        sl_sb_putc(&with, 0x0e);
        sl_sb_putc(&with, 0x02);
        sl_sb_putc(&with, 0);
        sl_sb_putc(&with, 0);
        sl_sb_putc(&with, 0);
        sl_sb_putc(&with, (char)n);
        sl_sb_append(&with, b, n);
        sl_sb_append(&with, sb.buf + 8 + cmdsz, sb.len - 8 - cmdsz);
        put(argv[1], "message-entry-metadata", &with);
        sl_sb_free(&with);
    }
    sl_sb_free(&sb);
    sl_sb_free(&batch);
    sl_sb_free(&z);
    return 0;
}
