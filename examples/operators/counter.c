/*
 * counter.c: an example custom operator with keyed state (sluice/state.h). It counts the
 * records of every key in its partition's store and, for each input record, emits a derived
 * record (same key and source) with payload {"key":"...","count":N}, the key's running count.
 * The counts live in sluice's keyed state, committed with the partition's offsets: after a
 * crash and restart the counts resume exactly from the checkpoint, so the last count emitted
 * for a key is the number of its records in the input, whatever the sinks' duplicates.
 *
 * Build (see Makefile.example):
 *     cc -shared -fPIC $(pkg-config --cflags sluice) counter.c -o libcounter.so
 *
 * Configure in the job file (a rekey before it picks the key out of JSON input):
 *     task.operators=bykey,count
 *     operators.bykey.type=rekey
 *     operators.bykey.expr=json_extract(payload, '$.user')
 *     operators.count.library=./libcounter.so
 *     operators.count.ttl=0
 *
 * Records without a key are counted under the empty-key name "-".
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

typedef struct counter_conf {
    int64_t ttl_ms;
} counter_conf_t;

static const sl_prop_t counter_props[] = {
    {"ttl", SL_PROP_DURATION, offsetof(counter_conf_t, ttl_ms), "0", 0, 8.64e10, NULL, 0,
     "Forget a key's count this long after its last record (0: never)."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

typedef struct counter {
    int64_t ttl_ms;
} counter_t;

static sl_err_t counter_init(sl_op_t *op, const void *conf, void **statep) {
    counter_t *c = calloc(1, sizeof(*c));
    if (!c)
        return sl_op_fail(op, "out of memory");
    c->ttl_ms = ((const counter_conf_t *)conf)->ttl_ms;
    *statep = c;
    return SL_OK;
}

static sl_err_t counter_process(sl_op_t *op, void *state, sl_record_t *rec) {
    counter_t *c = state;
    sl_state_t *st = sl_op_state(op);
    size_t klen = 0, vlen = 0, o = 0;
    const char *key = sl_record_key(rec, &klen);
    const void *val;
    char num[32], payload[600];
    long long count = 0;
    sl_record_t *out;
    sl_err_t err;

    if (!st)
        return sl_op_fail(op, "no keyed state for partition %s (an input without checkpoints?)",
                          sl_op_partition(op) ? sl_op_partition(op) : "-");
    if (!key || !klen) {
        key = "-";
        klen = 1;
    }
    if (klen > 256)
        return sl_op_fail(op, "key of %zu bytes is too long", klen);
    err = sl_state_get(st, key, klen, &val, &vlen);
    if (err == SL_OK && vlen < sizeof(num)) {
        memcpy(num, val, vlen); /* val is only valid until the next sl_state_* call */
        num[vlen] = '\0';
        count = strtoll(num, NULL, 10);
    } else if (err != SL_OK && err != SL_ERR_NOENT) {
        return sl_op_fail(op, "reading the count: %s", sl_err_str(err));
    }
    count++;
    snprintf(num, sizeof(num), "%lld", count);
    if ((err = sl_state_put(st, key, klen, num, strlen(num), c->ttl_ms)) != SL_OK)
        return sl_op_fail(op, "writing the count: %s", sl_err_str(err));

    o += (size_t)snprintf(payload, sizeof(payload), "{\"key\":\"");
    for (size_t i = 0; i < klen && o + 8 < sizeof(payload); i++) {
        unsigned char ch = (unsigned char)key[i];
        if (ch == '"' || ch == '\\')
            o += (size_t)snprintf(payload + o, sizeof(payload) - o, "\\%c", ch);
        else if (ch < 0x20)
            o += (size_t)snprintf(payload + o, sizeof(payload) - o, "\\u%04x", ch);
        else
            payload[o++] = (char)ch;
    }
    o += (size_t)snprintf(payload + o, sizeof(payload) - o, "\",\"count\":%lld}", count);
    if (!(out = sl_record_derive(rec)) || sl_record_set_data(out, payload, o) != SL_OK) {
        sl_record_unref(out);
        return sl_op_fail(op, "out of memory");
    }
    err = sl_op_emit(op, out);
    sl_record_unref(out);
    return err;
}

static void counter_close(sl_op_t *op, void *state) {
    (void)op;
    free(state);
}

/* The symbol sluice looks up (operators.<name>.symbol, default "sluice_operator"). */
SL_EXPORT const sl_operator_plugin_t sluice_operator = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "counter",
    .description = "Counts records per key in keyed state and emits the running counts.",
    .props = counter_props,
    .conf_size = sizeof(counter_conf_t),
    .init = counter_init,
    .process = counter_process,
    .close = counter_close,
};
