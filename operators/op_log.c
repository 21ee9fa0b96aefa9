/*
 * op_log.c: the built-in `log` operator. It passes every record on unchanged and writes one
 * record in `every` to the sluice log (facility "op") with where it came from, its key and the
 * first `max.bytes` of its payload, for debugging a chain: put it between two operators to see
 * what flows there. Control bytes are escaped so a record always stays on one log line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>

#include "operators.h"
#include "util_str.h"

typedef struct log_conf {
    int level;
    int64_t max_bytes;
    int every;
} log_conf_t;

typedef struct op_log {
    log_conf_t conf;
    uint64_t seen;
    sl_sb_t line; /* reused for every line */
} op_log_t;

static const sl_prop_t log_props[] = {
    {"level", SL_PROP_ENUM, offsetof(log_conf_t, level), "info", 0, 0, "error|warn|info|debug", 0,
     "Log level of the lines (they only appear when log.level lets them through)."},
    {"max.bytes", SL_PROP_SIZE, offsetof(log_conf_t, max_bytes), "256", 0, 1048576, NULL, 0,
     "Payload and key bytes shown per record; longer ones are cut and end in \"...\"."},
    {"every", SL_PROP_INT, offsetof(log_conf_t, every), "1", 1, 2147483647, NULL, 0,
     "Log one record in this many (the first, then every N-th)."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* Appends at most max bytes of data, escaping what would break the line. */
static void put_bytes(sl_sb_t *sb, const char *data, size_t len, size_t max) {
    size_t n = len < max ? len : max;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\n')
            sl_sb_puts(sb, "\\n");
        else if (c == '\r')
            sl_sb_puts(sb, "\\r");
        else if (c == '\t')
            sl_sb_puts(sb, "\\t");
        else if (c == '\\')
            sl_sb_puts(sb, "\\\\");
        else if (c < 0x20 || c == 0x7f)
            sl_sb_printf(sb, "\\x%02x", c);
        else
            sl_sb_putc(sb, (char)c);
    }
    if (len > max)
        sl_sb_puts(sb, "...");
}

static const char *or_dash(const char *s) {
    return s && *s ? s : "-";
}

static sl_err_t log_init(sl_op_t *op, const void *conf, void **statep) {
    op_log_t *l = calloc(1, sizeof(*l));
    if (!l)
        return sl_op_fail(op, "operators.%s: out of memory", sl_op_name(op));
    l->conf = *(const log_conf_t *)conf;
    if (l->conf.every < 1)
        l->conf.every = 1;
    *statep = l;
    return SL_OK;
}

static sl_err_t log_process(sl_op_t *op, void *state, sl_record_t *rec) {
    op_log_t *l = state;

    if (l->seen++ % (uint64_t)l->conf.every == 0) {
        const sl_source_t *src = sl_record_source(rec);
        size_t max = (size_t)l->conf.max_bytes, len, klen;
        const char *data = sl_record_data(rec, &len);
        const char *key = sl_record_key(rec, &klen);

        sl_sb_reset(&l->line);
        sl_sb_printf(&l->line, "%s/%s@%s key=", or_dash(src ? src->stream : NULL),
                     or_dash(src ? src->partition : NULL), or_dash(src ? src->offset : NULL));
        if (key)
            put_bytes(&l->line, key, klen, max);
        else
            sl_sb_puts(&l->line, "(none)");
        sl_sb_printf(&l->line, " bytes=%zu payload=", len);
        put_bytes(&l->line, data, len, max);
        if (!l->line.oom)
            sl_log((sl_log_level_t)l->conf.level, "op", "operators.%s: %s", sl_op_name(op),
                   l->line.buf);
    }
    return sl_op_emit(op, rec);
}

static void log_close(sl_op_t *op, void *state) {
    op_log_t *l = state;
    if (!l)
        return;
    sl_sb_free(&l->line);
    free(l);
}

const sl_operator_plugin_t sl_op_log = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "log",
    .description = "Logs records (one in N, payload cut to max.bytes) and passes them on.",
    .props = log_props,
    .conf_size = sizeof(log_conf_t),
    .init = log_init,
    .process = log_process,
    .close = log_close,
};
