/*
 * file.c: the `file` system plugin: newline-delimited files as streams. Each file is a partition
 * (its path is the partition id), a record is a line, its offset is the byte position where the
 * line starts. Factory names: `file` and `sluice.file`.
 */
#include "file.h"

static const char *const file_factories[] = {"file", "sluice.file", NULL};

const sl_system_plugin_t sl_system_file = {
    .abi_version = SL_SYSTEM_ABI_VERSION,
    .name = "file",
    .factories = file_factories,
    .description = "Newline-delimited files: each file is a partition, each line a record, its "
                   "byte offset the record's offset. The consumer reads a file or a directory "
                   "(optionally following appended data and new files); the producer appends.",
    .flags = SL_SYSTEM_F_REPORTS_HEAD,
    .system_props = NULL,
    .system_conf_size = 0,
    .stream_props = file_stream_props,
    .stream_conf_size = sizeof(file_stream_conf_t),
    .stream_check = file_stream_check,
    .discover = file_discover,
    .part_open = file_part_open,
    .part_poll = file_part_poll,
    .part_commit = NULL,
    .part_close = file_part_close,
    .out_open = file_out_open,
    .out_send = file_out_send,
    .out_flush = file_out_flush,
    .out_close = file_out_close,
};
