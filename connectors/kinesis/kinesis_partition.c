/*
 * kinesis_partition.c: how the Kinesis sink names the shard of each record. A partitioner turns
 * a record into a partition key (and maybe an explicit hash key) by the rule of
 * `sink.partitioner`: Flink's random and fixed partitioners, the record key, Flink's
 * PARTITION BY over fields of a JSON payload, or a user's C partitioner loaded from a shared
 * library (sluice/partitioner.h). One partitioner exists per worker thread and output stream;
 * the sink (kinesis_sink.c) calls it once per record on that worker.
 */
#include "config.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "sluice/system.h"
#include "kinesis.h"
#include "util_json.h"
#include "util_str.h"
#include "util_time.h"

struct kin_partitioner {
    int kind;                 /* kin_part_kind_t */
    int worker;
    uint64_t rng;
    const kin_sink_conf_t *sc; /* borrowed */
    void *dl;
    const sl_partitioner_plugin_t *plugin;
    void *state;
    int opened;
    int last_random;          /* the last key came from random_key() */
};

/* ---- the choice of partitioner (configuration time) ------------------------------------- */

/* A value that names a library rather than a built-in: a path or a file name ending in .so. */
static int is_library(const char *s) {
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 3 && !strcmp(s + n - 3, ".so")) || strstr(s, ".so.");
}

/* Something like a Java class name (org.mycompany.MyPartitioner). */
static int is_java_class(const char *s) {
    return strchr(s, '.') && !strchr(s, '/') && !is_library(s);
}

static const sl_partitioner_plugin_t *resolve(sl_conf_t *conf, const char *key, void *dl,
                                              const char *path, const char *symbol) {
    const sl_partitioner_plugin_t *p = dlsym(dl, symbol);
    if (!p) {
        sl_conf_error(conf, key, "partitioner library '%s' exports no symbol '%s' (set "
                      "sink.partitioner.symbol to the name of its sl_partitioner_plugin_t)",
                      path, symbol);
        return NULL;
    }
    if (p->abi_version != SL_PARTITIONER_ABI_VERSION) {
        sl_conf_error(conf, key, "partitioner '%s' in '%s' was built for ABI version %d, this "
                      "sluice has %d: rebuild it against this sluice's headers", symbol, path,
                      p->abi_version, SL_PARTITIONER_ABI_VERSION);
        return NULL;
    }
    if (!p->partition) {
        sl_conf_error(conf, key, "partitioner '%s' in '%s' has no partition callback", symbol,
                      path);
        return NULL;
    }
    return p;
}

int kin_partitioner_check(sl_conf_t *conf, const char *key, const char *fields_key,
                          kin_sink_conf_t *sc) {
    static const char *const names[] = {"random", "fixed", "key"};
    static const int kinds[] = {KIN_PART_RANDOM, KIN_PART_FIXED, KIN_PART_KEY};
    const char *v = sc->partitioner ? sc->partitioner : "";
    int errors = 0;

    if (sc->fields.cnt > 0) {
        if (*v) {
            sl_conf_error(conf, key, "cannot be combined with %s: records are partitioned by "
                          "the fields (as Flink does for a table with PARTITION BY); drop one "
                          "of the two", fields_key);
            return 1;
        }
        sc->partitioner_e = KIN_PART_FIELDS;
        return 0;
    }
    if (!*v) {
        sc->partitioner_e = KIN_PART_DEFAULT;
        return 0;
    }
    for (int i = 0; i < 3; i++)
        if (!strcasecmp(v, names[i])) {
            sc->partitioner_e = kinds[i];
            return 0;
        }
    if (is_library(v)) {
        void *dl;
        const sl_partitioner_plugin_t *p;
        /* A relative path names a file beside the job file (as operator libraries do); keep
         * that resolved path, so the workers load the very library checked here. */
        const char *origin = sl_conf_origin(conf), *slash = origin ? strrchr(origin, '/') : NULL;
        void *direct = v[0] != '/' ? dlopen(v, RTLD_NOW | RTLD_LOCAL) : NULL;
        if (direct) {
            dlclose(direct);
        } else if (v[0] != '/' && origin && origin[0] != '<') {
            /* Not found as given (a bare name searches the library path, not the current
             * directory): beside the job file, as sl_library_open() looks, made absolute. */
            sl_sb_t alt = {0};
            char *real;
            if (slash)
                sl_sb_printf(&alt, "%.*s/%s", (int)(slash - origin), origin, v);
            else
                sl_sb_printf(&alt, "./%s", v);
            if (!alt.oom && (real = realpath(alt.buf, NULL))) {
                free(sc->partitioner);
                sc->partitioner = real;
                v = sc->partitioner;
            }
            sl_sb_free(&alt);
        }
        dl = sl_library_open(conf, v, "partitioner", key);
        if (!dl)
            return 1;
        p = resolve(conf, key, dl, v, sc->partitioner_symbol && *sc->partitioner_symbol
                                          ? sc->partitioner_symbol : "sluice_partitioner");
        if (!p) {
            errors++;
        } else if (p->open) {
            /* Validate the argument the way a worker will use it. */
            char why[256] = "";
            void *st = NULL;
            if (p->open(sc->partitioner_arg ? sc->partitioner_arg : "", -1, &st, why,
                        sizeof(why)) != SL_OK) {
                sl_conf_error(conf, key, "partitioner '%s' refused sink.partitioner.arg: %s",
                              p->name ? p->name : v, *why ? why : "no reason given");
                errors++;
            } else if (p->close) {
                p->close(st);
            }
        }
        dlclose(dl);
        sc->partitioner_e = KIN_PART_CUSTOM;
        return errors;
    }
    if (is_java_class(v)) {
        sl_conf_error(conf, key, "'%s' looks like a Java partitioner class, which cannot run in "
                      "sluice: write the partitioner in C (sluice/partitioner.h) and give the "
                      "path of its shared library, or use random, fixed or key", v);
        return 1;
    }
    {
        const char *h = sl_suggest(v, names, 3);
        sl_conf_error(conf, key, "expected random, fixed, key or the path of a partitioner "
                      "library (.so), got '%s'%s%s%s", v, h ? " (did you mean '" : "",
                      h ? h : "", h ? "'?)" : "");
    }
    return 1;
}

/* ---- run time ------------------------------------------------------------------------------ */

kin_partitioner_t *kin_partitioner_new(const kin_sink_conf_t *sc, int worker, char *errstr,
                                       size_t errlen) {
    kin_partitioner_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    p->kind = sc->partitioner_e;
    p->worker = worker;
    p->sc = sc;
    p->rng = (uint64_t)sl_now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(worker + 1) << 32 ^
             (uint64_t)(uintptr_t)p;
    if (p->kind == KIN_PART_CUSTOM) {
        /* Checked at configuration time; the path resolves the same way now. */
        const char *sym = sc->partitioner_symbol && *sc->partitioner_symbol
                              ? sc->partitioner_symbol : "sluice_partitioner";
        if (!(p->dl = dlopen(sc->partitioner, RTLD_NOW | RTLD_LOCAL)) ||
            !(p->plugin = dlsym(p->dl, sym))) {
            snprintf(errstr, errlen, "cannot load partitioner '%s': %s", sc->partitioner,
                     dlerror());
            kin_partitioner_destroy(p);
            return NULL;
        }
        if (p->plugin->open) {
            char why[256] = "";
            if (p->plugin->open(sc->partitioner_arg ? sc->partitioner_arg : "", worker,
                                &p->state, why, sizeof(why)) != SL_OK) {
                snprintf(errstr, errlen, "partitioner '%s' failed to open: %s",
                         p->plugin->name ? p->plugin->name : sc->partitioner,
                         *why ? why : "no reason given");
                p->plugin = NULL;
                kin_partitioner_destroy(p);
                return NULL;
            }
        }
        p->opened = 1;
    }
    return p;
}

void kin_partitioner_destroy(kin_partitioner_t *p) {
    if (!p)
        return;
    if (p->opened && p->plugin && p->plugin->close)
        p->plugin->close(p->state);
    if (p->dl)
        dlclose(p->dl);
    free(p);
}

int kin_partitioner_last_random(const kin_partitioner_t *p) {
    return p->last_random;
}

static void random_key(kin_partitioner_t *p, sl_partition_t *out) {
    static const char hex[] = "0123456789abcdef";
    p->last_random = 1;
    uint64_t a = sl_rand_next(&p->rng), b = sl_rand_next(&p->rng);
    for (int i = 0; i < 16; i++) {
        out->key[i] = hex[(a >> (i * 4)) & 15];
        out->key[16 + i] = hex[(b >> (i * 4)) & 15];
    }
    out->key[32] = '\0';
}

/* The value of a dotted path in doc, or NULL. */
static json_t *field_of(json_t *doc, const char *path) {
    char buf[256];
    const char *s = path;
    json_t *cur = doc;
    if (json_is_object(cur) && json_object_get(cur, path))
        return json_object_get(cur, path); /* a name that itself holds dots */
    while (*s && cur) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (n >= sizeof(buf) || !json_is_object(cur))
            return NULL;
        memcpy(buf, s, n);
        buf[n] = '\0';
        cur = json_object_get(cur, buf);
        s = dot ? dot + 1 : s + n;
    }
    return cur;
}

static sl_err_t fields_key(kin_partitioner_t *p, const sl_record_t *rec, sl_partition_t *out,
                           char *errstr, size_t errlen) {
    size_t len, n = 0;
    const char *data = sl_record_data(rec, &len);
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    const char *delim = p->sc->field_delimiter ? p->sc->field_delimiter : "";
    size_t dlen = strlen(delim);
    if (!doc) {
        snprintf(errstr, errlen, "sink.partitioner.fields needs a JSON payload: %s at byte %d",
                 jerr.text, jerr.position);
        return SL_ERR_RECORD;
    }
    for (int i = 0; i < p->sc->fields.cnt; i++) {
        json_t *v = field_of(doc, p->sc->fields.items[i]);
        char *text = NULL;
        const char *s = "";
        size_t slen;
        if (json_is_string(v))
            s = json_string_value(v);
        else if (v && !json_is_null(v))
            s = text = util_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s) {
            json_decref(doc);
            snprintf(errstr, errlen, "out of memory");
            return SL_ERR_NOMEM;
        }
        slen = json_is_string(v) ? json_string_length(v) : strlen(s);
        if (n + (i ? dlen : 0) + slen > SL_PARTITION_KEY_MAX) {
            free(text);
            json_decref(doc);
            snprintf(errstr, errlen, "the partition key from sink.partitioner.fields is longer "
                     "than Kinesis' %d characters", SL_PARTITION_KEY_MAX);
            return SL_ERR_RECORD;
        }
        if (i) {
            memcpy(out->key + n, delim, dlen);
            n += dlen;
        }
        memcpy(out->key + n, s, slen);
        n += slen;
        free(text);
    }
    out->key[n] = '\0';
    json_decref(doc);
    return SL_OK;
}

sl_err_t kin_partitioner_run(kin_partitioner_t *p, const sl_record_t *rec, sl_partition_t *out,
                             size_t *keylen, char *errstr, size_t errlen) {
    size_t klen = 0;
    const char *key;
    sl_err_t err = SL_OK;

    out->key[0] = '\0';
    out->hash_key[0] = '\0';
    p->last_random = 0;
    switch (p->kind) {
    case KIN_PART_RANDOM:
        random_key(p, out);
        break;
    case KIN_PART_FIXED:
        snprintf(out->key, sizeof(out->key), "%d", p->worker);
        break;
    case KIN_PART_DEFAULT:
    case KIN_PART_KEY:
        key = sl_record_key(rec, &klen);
        if (!key) {
            if (p->kind == KIN_PART_KEY) {
                snprintf(errstr, errlen, "the record has no key (sink.partitioner=key)");
                return SL_ERR_RECORD;
            }
            random_key(p, out);
            break;
        }
        if (klen == 0 || klen > SL_PARTITION_KEY_MAX || memchr(key, '\0', klen)) {
            snprintf(errstr, errlen, "the record key (%zu bytes) is not a Kinesis partition "
                     "key (1 to %d characters, no NUL)", klen, SL_PARTITION_KEY_MAX);
            return SL_ERR_RECORD;
        }
        memcpy(out->key, key, klen);
        out->key[klen] = '\0';
        break;
    case KIN_PART_FIELDS:
        err = fields_key(p, rec, out, errstr, errlen);
        break;
    case KIN_PART_CUSTOM:
        *errstr = '\0';
        err = p->plugin->partition(p->state, rec, out, errstr, errlen);
        if (err != SL_OK && !*errstr)
            snprintf(errstr, errlen, "partitioner '%s' failed: %s",
                     p->plugin->name ? p->plugin->name : "custom", sl_err_str(err));
        if (err == SL_OK) {
            out->key[SL_PARTITION_KEY_MAX] = '\0';
            out->hash_key[SL_HASH_KEY_MAX - 1] = '\0';
        }
        break;
    }
    if (err != SL_OK)
        return err;
    klen = strlen(out->key);
    if (klen == 0) {
        /* Flink's fields partitioner gives "" for empty fields; Kinesis needs a character. */
        if (p->kind == KIN_PART_FIELDS) {
            out->key[0] = p->sc->field_delimiter && *p->sc->field_delimiter
                              ? p->sc->field_delimiter[0] : '-';
            out->key[1] = '\0';
            klen = 1;
        } else {
            snprintf(errstr, errlen, "the partitioner gave an empty partition key");
            return SL_ERR_RECORD;
        }
    }
    /* An explicit hash key from the record wins over a partitioner's own (as Kinesis does). */
    if (p->sc->ehk_header && *p->sc->ehk_header) {
        const char *h = sl_record_header(rec, p->sc->ehk_header);
        if (h) {
            if (strlen(h) >= SL_HASH_KEY_MAX) {
                snprintf(errstr, errlen, "header %s is not a hash key below 2^128",
                         p->sc->ehk_header);
                return SL_ERR_RECORD;
            }
            snprintf(out->hash_key, sizeof(out->hash_key), "%s", h);
        }
    }
    if (out->hash_key[0]) {
        kpl_hash_t hv;
        if (kpl_hash_parse(out->hash_key, strlen(out->hash_key), &hv) != 0) {
            snprintf(errstr, errlen, "explicit hash key '%.40s' is not a decimal below 2^128",
                     out->hash_key);
            return SL_ERR_RECORD;
        }
        /* Kinesis takes only the plain form (no sign, no leading zeros): "+007" goes as "7". */
        kpl_hash_format(&hv, out->hash_key);
    }
    *keylen = klen;
    return SL_OK;
}
