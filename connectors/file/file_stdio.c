/*
  * file_stdio.c: the `stdio` system: standard input as a single partition ("stdin") of
 * newline-delimited records, and standard output as a producer. Standard input cannot be
 * rewound, so this system keeps no checkpoints. Factory names: `stdio`, `sluice.stdio`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"

#define FO(f) offsetof(file_stream_conf_t, f)

static const sl_prop_t stdio_stream_props[] = {
    {"poll.interval", SL_PROP_DURATION, FO(poll_ms), "20ms", 1, 60000, NULL, 0,
     "How often standard input is checked when no data is waiting."},
    {"read.buffer.size", SL_PROP_SIZE, FO(read_buffer), "64K", 4096, 1073741824.0, NULL, 0,
     "Bytes read per system call."},
    {"max.record.size", SL_PROP_SIZE, FO(max_record), "1M", 16, 1073741824.0, NULL, 0,
     "Longest line accepted; a longer one is a bad record (see task.error.policy)."},
    {"strip.cr", SL_PROP_BOOL, FO(strip_cr), "true", 0, 0, NULL, 0,
     "Drop the carriage return of CRLF line ends."},
    {"format", SL_PROP_ENUM, FO(format), "payload", 0, 0, "payload|json", 0,
     "Producer: write each record's payload as a line, or a JSON object with its metadata."},
    {"write.buffer.size", SL_PROP_SIZE, FO(write_buffer), "64K", 1, 1073741824.0, NULL, 0,
     "Producer: bytes buffered before a write."},
    {"write.linger", SL_PROP_DURATION, FO(write_linger_ms), "100ms", 0, 3600000.0, NULL, 0,
     "Producer: longest time a record waits in the buffer before it is written, so "
     "`sluice run job | jq` shows records at once; 0 writes at the end of every poll batch. "
     "Plain numbers are milliseconds."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static sl_err_t stdin_discover(sl_input_t *in) {
    return sl_input_add_partition(in, "stdin");
}

typedef struct {
    sl_linereader_t lr;
    const file_stream_conf_t *c;
    int64_t line;
} spart_t;

static sl_err_t stdin_open(sl_part_t *part, const char *offset, int64_t subseq, void **statep) {
    spart_t *sp = calloc(1, sizeof(*sp));
    (void)offset;
    (void)subseq;
    if (!sp)
        return sl_part_fail(part, "out of memory");
    sp->c = sl_input_stream_conf(sl_part_input(part));
    sl_linereader_init(&sp->lr, STDIN_FILENO, 0, (size_t)sp->c->read_buffer,
                       (size_t)sp->c->max_record, sp->c->strip_cr);
    sp->lr.check_ready = 1;
    sl_part_set_idle_interval(part, sp->c->poll_ms);
    *statep = sp;
    return SL_OK;
}

static sl_poll_t stdin_poll(sl_part_t *part, void *state, int max) {
    spart_t *sp = state;
    char offbuf[32];
    size_t off, len;
    int64_t at;
    for (int i = 0; i < max; i++) {
        switch (sl_linereader_next(&sp->lr, 1, &off, &len, &at)) {
        case SL_LINE_OK:
            snprintf(offbuf, sizeof(offbuf), "%" PRId64, at);
            if (sl_part_deliver(part, sp->lr.buf, off, len, NULL, 0, offbuf, 0, 0) != SL_OK)
                return SL_POLL_IDLE;
            break;
        case SL_LINE_TOOBIG:
            snprintf(offbuf, sizeof(offbuf), "%" PRId64, at);
            if (sl_part_bad_record(part, offbuf, "line longer than max.record.size (%" PRId64
                                   " bytes)", sp->c->max_record) != SL_OK)
                return SL_POLL_IDLE;
            break;
        case SL_LINE_AGAIN:
            return SL_POLL_IDLE;
        case SL_LINE_EOF:
            return SL_POLL_EOF;
        case SL_LINE_ERROR:
            sl_part_fail(part, "read: %s", strerror(errno));
            return SL_POLL_IDLE;
        }
    }
    return SL_POLL_MORE;
}

static void stdin_close(sl_part_t *part, void *state) {
    spart_t *sp = state;
    (void)part;
    if (sp) {
        sl_linereader_free(&sp->lr);
        free(sp);
    }
}

static sl_err_t stdout_open(sl_output_t *out, void **statep) {
    int fd = dup(STDOUT_FILENO);
    if (fd < 0)
        return sl_output_fail(out, "dup(stdout): %s", strerror(errno));
    return file_out_open_fd(out, fd, statep);
}

static const char *const stdio_factories[] = {"stdio", "sluice.stdio", NULL};

const sl_system_plugin_t sl_system_stdio = {
    .abi_version = SL_SYSTEM_ABI_VERSION,
    .name = "stdio",
    .factories = stdio_factories,
    .description = "Standard input (one partition, `stdin`, one record per line; no "
                   "checkpoints since it cannot be rewound) and standard output.",
    .flags = SL_SYSTEM_F_NO_CHECKPOINT,
    .stream_props = stdio_stream_props,
    .stream_conf_size = sizeof(file_stream_conf_t),
    .discover = stdin_discover,
    .part_open = stdin_open,
    .part_poll = stdin_poll,
    .part_close = stdin_close,
    .out_open = stdout_open,
    .out_send = file_out_send,
    .out_flush = file_out_flush,
    .out_close = file_out_close,
};
