/*
 * fuzz_props.c: a libFuzzer target for the first parser of outside bytes, the job file. Each
 * input goes through the .properties lexer on its own (with a fake variable lookup), then
 * through sl_conf_load_string() into a conf that applies a small table exercising every row
 * type, alias, IGNORED pattern and flag, checks for unknown keys and dumps the result. Only
 * crashes, leaks and undefined behaviour count as findings. Not built by make: see README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf_int.h"
#include "sluice/log.h"
#include "util_props.h"

typedef struct fuzz_obj {
    char *s;
    int i;
    int64_t l;
    int b;
    int e;
    int64_t size;
    int64_t dur;
    double d;
    sl_list_t list;
    char *secret;
    int pin;
} fuzz_obj_t;

#define FO(f) offsetof(fuzz_obj_t, f)

static const sl_prop_t fuzz_props[] = {
    {"s", SL_PROP_STRING, FO(s), "dflt", 0, 0, NULL, SL_PROP_F_REQUIRED, "string"},
    {"i", SL_PROP_INT, FO(i), "4", 1, 256, NULL, 0, "int"},
    {"l", SL_PROP_INT64, FO(l), NULL, 0, 0, NULL, SL_PROP_F_DEPRECATED, "int64"},
    {"b", SL_PROP_BOOL, FO(b), "on", 0, 0, NULL, 0, "bool"},
    {"e", SL_PROP_ENUM, FO(e), "oldest", 0, 0, "oldest|upcoming|latest", 0, "enum"},
    {"size", SL_PROP_SIZE, FO(size), "64K", 0, 1099511627776.0, NULL, 0, "size"},
    {"dur", SL_PROP_DURATION, FO(dur), "1.5s", 0, 0, NULL, 0, "duration"},
    {"d", SL_PROP_DOUBLE, FO(d), "0.5", 0, 1, NULL, 0, "double"},
    {"list", SL_PROP_LIST, FO(list), "a,b", 0, 0, NULL, 0, "list"},
    {"secret", SL_PROP_STRING, FO(secret), NULL, 0, 0, NULL, SL_PROP_F_SECRET, "secret"},
    {"pin", SL_PROP_INT, FO(pin), NULL, 0, 9999, NULL, SL_PROP_F_SECRET, "secret int"},
    {"E", SL_PROP_ALIAS, 0, NULL, 0, 0, "e", 0, NULL},
    {"other.e", SL_PROP_ALIAS, 0, NULL, 0, 0, "e", 0, NULL},
    {"x.*", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, NULL},
    {"y", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, NULL},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

static int count_pair(void *opaque, const char *key, const char *value, int line) {
    size_t *n = opaque;
    *n += strlen(key) + strlen(value) + (size_t)line;
    return 0;
}

static const char *fake_lookup(void *opaque, const char *name) {
    (void)opaque;
    if (name[0] == 'A')
        return "value-of-a";
    if (name[0] == 'E')
        return "";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static FILE *sink;
    char err[256];
    size_t n = 0;

    if (!sink) {
        sink = fopen("/dev/null", "w");
        sl_log_set_level(SL_LOG_ERROR); /* conf's info/warn lines would only slow things */
    }
    sl_props_parse("fuzz", (const char *)data, size, count_pair, &n, fake_lookup, NULL, err,
                   sizeof(err));
    sl_props_parse("fuzz", (const char *)data, size, count_pair, &n, NULL, NULL, err,
                   sizeof(err));

    sl_conf_t *conf = sl_conf_new();
    if (!conf)
        return 0;
    if (sl_conf_load_string(conf, "fuzz", (const char *)data, size, err, sizeof(err)) == SL_OK) {
        static const char *const prefixes[] = {"s.t.", "s.", "", NULL};
        fuzz_obj_t obj;
        memset(&obj, 0, sizeof(obj));
        sl_conf_apply(conf, fuzz_props, prefixes, &obj);
        sl_conf_apply(conf, fuzz_props, prefixes, &obj); /* re-apply over a previous fill */
        sl_conf_check_unknown(conf);
        if (sink) {
            sl_conf_dump_obj(sink, conf, "s.t.", fuzz_props, &obj);
            for (int i = 0; i < sl_conf_error_count(conf); i++)
                fputs(sl_conf_error_at(conf, i), sink);
        }
        sl_conf_obj_free(fuzz_props, &obj);
    }
    sl_conf_destroy(conf);
    return 0;
}
