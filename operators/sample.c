/*
 * sample.c: the built-in `sample` operator. It passes on a fraction `rate` of the records and
 * drops the rest, either at random (the job's injected random source, so a fixed
 * job.random.seed gives the same sample every run) or, with by.key, by a hash of the key so that
 * every record of a key is kept or every one dropped, in every partition and every run.
 */
#include <stdlib.h>
#include <stddef.h>

#include "operators.h"

typedef struct sample_conf {
    double rate;
    int by_key;
} sample_conf_t;

typedef struct sample {
    uint64_t limit; /* keep when a uniform 64-bit value is below it; rate 1 keeps all */
    int all;
    int by_key;
} sample_t;

static const sl_prop_t sample_props[] = {
    {"rate", SL_PROP_DOUBLE, offsetof(sample_conf_t, rate), NULL, 0, 1, NULL, SL_PROP_F_REQUIRED,
     "Fraction of the records to keep, from 0 (none) to 1 (all)."},
    {"by.key", SL_PROP_BOOL, offsetof(sample_conf_t, by_key), "false", 0, 0, NULL, 0,
     "Decide by a hash of the record's key instead of at random: all records of a key are kept "
     "or all dropped (consistent sampling across partitions and runs). Records without a key "
     "count as one key."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static sl_err_t sample_init(sl_op_t *op, const void *conf, void **statep) {
    const sample_conf_t *sc = conf;
    sample_t *s;

    if (!(sc->rate >= 0 && sc->rate <= 1)) /* also catches NaN */
        return sl_op_fail(op, "%s: operators.%s.rate: must be between 0 and 1, not %g",
                          sl_op_where(op, "rate"), sl_op_name(op), sc->rate);
    s = calloc(1, sizeof(*s));
    if (!s)
        return sl_op_fail(op, "operators.%s: out of memory", sl_op_name(op));
    s->all = sc->rate >= 1;
    if (!s->all) {
        /* rate * 2^64; a rate just below 1 can round up to 2^64, which does not fit. */
        double lim = sc->rate * 18446744073709551616.0;
        s->limit = lim >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)lim;
    }
    s->by_key = sc->by_key;
    *statep = s;
    return SL_OK;
}

/* A well-mixed 64-bit hash of the key (FNV-1a, then a finalizer so that similar keys spread
 * over the whole range). */
static uint64_t key_hash(const char *key, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static sl_err_t sample_process(sl_op_t *op, void *state, sl_record_t *rec) {
    const sample_t *s = state;
    uint64_t v;

    if (s->all)
        return sl_op_emit(op, rec);
    if (s->by_key) {
        size_t len = 0;
        const char *key = sl_record_key(rec, &len);
        v = key_hash(key ? key : "", key ? len : 0);
    } else {
        v = sl_op_random(op);
    }
    return v < s->limit ? sl_op_emit(op, rec) : SL_OK;
}

static void sample_close(sl_op_t *op, void *state) {
    free(state);
}

const sl_operator_plugin_t sl_op_sample = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "sample",
    .description = "Keeps a fraction of the records, at random or consistently by key.",
    .props = sample_props,
    .conf_size = sizeof(sample_conf_t),
    .init = sample_init,
    .process = sample_process,
    .close = sample_close,
};
