/*
 * sluice/conf.h: the configuration engine. A job file in Java .properties syntax is loaded into
 * an sl_conf_t (every entry keeps its file and line, `sensitive.` entries are marked secret);
 * components then apply their typed property tables (sl_prop_t rows, one table per component)
 * to fill their own config structs. The same tables validate, supply defaults (as text, parsed
 * by the same code as user values), dump the effective config with secrets masked, and generate
 * docs/CONFIGURATION.md.
 */
#ifndef SLUICE_CONF_H
#define SLUICE_CONF_H

#include <stdio.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Value types of a property row and the C type each fills at its offset in the target struct. */
typedef enum sl_prop_type {
    SL_PROP_STRING,   /* char *         (heap copy, freed by sl_conf_obj_free) */
    SL_PROP_INT,      /* int            */
    SL_PROP_INT64,    /* int64_t        */
    SL_PROP_BOOL,     /* int, 0 or 1: true/false/yes/no/on/off/1/0 */
    SL_PROP_ENUM,     /* int: index into the row's choices "a|b|c" (case-insensitive) */
    SL_PROP_SIZE,     /* int64_t bytes: "512", "64K", "5M", "1G" (KiB multiples) */
    SL_PROP_DURATION, /* int64_t milliseconds: "1500" (plain = ms), "250ms", "3s", "5m", "1h" */
    SL_PROP_DOUBLE,   /* double         */
    SL_PROP_LIST,     /* sl_list_t: comma-separated, items trimmed, empty items dropped */
    SL_PROP_ALIAS,    /* another spelling of the row named in `choices`; fills nothing */
    SL_PROP_IGNORED,  /* accepted for compatibility, means nothing here; `name` may end in '*' */
} sl_prop_type_t;

#define SL_PROP_F_REQUIRED 0x01   /* missing is an error */
#define SL_PROP_F_SECRET 0x02     /* value masked in dumps, logs and errors */
#define SL_PROP_F_DEPRECATED 0x04 /* accepted with a warning */
#define SL_PROP_F_HIDDEN 0x08     /* left out of the generated documentation */

/* One row of a property table. Tables end with a row whose name is NULL. */
typedef struct sl_prop {
    const char *name;    /* key relative to the table's scope, e.g. "commit.ms" */
    sl_prop_type_t type;
    size_t offset;       /* offsetof() the field in the target struct */
    const char *def;     /* default as text, parsed like a user value; NULL = none */
    double min, max;     /* inclusive bounds for numeric types; ignored when min == max */
    const char *choices; /* ENUM: "a|b|c"; ALIAS: the canonical row's name */
    int flags;           /* SL_PROP_F_* */
    const char *desc;    /* one or two sentences for the documentation */
} sl_prop_t;

/* A parsed SL_PROP_LIST value. */
typedef struct sl_list {
    int cnt;
    char **items;
} sl_list_t;

/* A loaded configuration: ordered entries, each with value, origin and secrecy. */
typedef struct sl_conf sl_conf_t;

/* One entry, as seen by iteration. All pointers borrowed from the conf. */
typedef struct sl_conf_entry {
    const char *key;
    const char *value;
    const char *file; /* origin file name, or "<api>" for sl_conf_set() */
    int line;         /* 1-based line where the entry started; 0 for sl_conf_set() */
    int secret;       /* set by `sensitive.` or by a SECRET row */
} sl_conf_entry_t;

/* Creates an empty configuration. Caller frees with sl_conf_destroy(). */
SL_EXPORT sl_conf_t *sl_conf_new(void);

/* Frees conf and everything it owns. Accepts NULL. */
SL_EXPORT void sl_conf_destroy(sl_conf_t *conf);

/* Parses a .properties file and adds its entries (a later duplicate key replaces an earlier
 * one). `sensitive.<key>` is stored as <key> marked secret; ${VAR} and ${VAR:-default} are
 * substituted from the environment. On a syntax error returns SL_ERR_CONF and writes
 * "file:line: what" to errstr; on an unreadable file returns SL_ERR_IO. path is borrowed. */
SL_EXPORT sl_err_t sl_conf_load_file(sl_conf_t *conf, const char *path, char *errstr,
                                     size_t errlen);

/* Same as sl_conf_load_file() for text in memory; name is used as the file name in errors.
 * text and name are borrowed for the call. */
SL_EXPORT sl_err_t sl_conf_load_string(sl_conf_t *conf, const char *name, const char *text,
                                       size_t len, char *errstr, size_t errlen);

/* Sets key to value (both copied); a key starting with `sensitive.` is stored without the
 * prefix and marked secret. */
SL_EXPORT sl_err_t sl_conf_set(sl_conf_t *conf, const char *key, const char *value);

/* Sets key to value (both copied) as if read from file:line (for configurations translated
 * from another format, so errors point at the user's file). Strings borrowed for the call.
 * Before the job runs (conf is not locked). */
SL_EXPORT sl_err_t sl_conf_set_at(sl_conf_t *conf, const char *key, const char *value,
                                 const char *file, int line);

/* Sets key to value (both copied) as given on a command line as -D given=value: errors about it
 * read "-D given: ..." (given is what the user typed, which may be a foreign name mapped onto
 * key). A "sensitive." prefix makes it secret, as in a file. SL_ERR_INVAL for an empty key. */
SL_EXPORT sl_err_t sl_conf_set_cli(sl_conf_t *conf, const char *key, const char *given,
                                   const char *value);

/* Reads the Pulsar IO connector config at path (JSON or YAML: the connector's own settings as a
 * map, or a whole connector config with them under `configs`) and adds to conf the job that
 * does the same: kind "kinesis-source" (Kinesis -> Pulsar topic), "kinesis-sink" (Pulsar topic
 * -> Kinesis) or "dynamodb-source". Each setting keeps its file and line, so errors point into
 * the user's file. topic: the Pulsar topic (NULL: the config's topicName / inputs; with
 * topic_optional a source may have none, for commands that do not write to it); service_url:
 * the broker (NULL: $PULSAR_SERVICE_URL, else pulsar://localhost:6650). Returns SL_OK, or
 * SL_ERR_CONF / SL_ERR_IO with errstr saying what and where. Strings are borrowed. */
SL_EXPORT sl_err_t sl_conf_load_pulsar_io(sl_conf_t *conf, const char *kind, const char *path,
                                          const char *topic, const char *service_url,
                                          int topic_optional, char *errstr, size_t errlen);

/* Sets one of a Pulsar IO connector's fields (a Pulsar IO name such as awsEndpoint, as given
 * with -D; "sensitive." makes it secret) where sl_conf_load_pulsar_io() puts the config
 * file's, so errors about it read "-D name: ...". SL_ERR_INVAL for an unknown kind or an empty
 * name. Strings are copied. */
SL_EXPORT sl_err_t sl_conf_set_pulsar_io(sl_conf_t *conf, const char *kind, const char *name,
                                         const char *value);

/* The raw value of key, or NULL. Borrowed, valid until the key is set again or conf is
 * destroyed. */
SL_EXPORT const char *sl_conf_get(const sl_conf_t *conf, const char *key);

/* "file:line" of key's entry (or "file" when it has no line, or "<unset>"), written to buf. */
SL_EXPORT const char *sl_conf_where(const sl_conf_t *conf, const char *key, char *buf,
                                    size_t len);

/* Number of entries and the i-th entry in load order. The entry is borrowed from conf. */
SL_EXPORT int sl_conf_count(const sl_conf_t *conf);
SL_EXPORT int sl_conf_entry(const sl_conf_t *conf, int i, sl_conf_entry_t *entry);

/* The file the configuration was first loaded from, or "<api>". Borrowed. */
SL_EXPORT const char *sl_conf_origin(const sl_conf_t *conf);

/*
 * Applies table to obj. For every row the value is looked up under each prefix in turn
 * (prefixes is a NULL-terminated list, most specific first: a stream's own scope, then the
 * system's), trying the row's name and then its ALIAS rows; the first hit wins, else the row's
 * default. Every problem (bad value, out of bounds, missing REQUIRED) is added to conf's error
 * list with file:line, key, what was expected and, for secrets, no value. Returns the number of
 * errors added (0 = obj is fully filled). obj must be zeroed or hold a previous fill of the
 * same table; free its contents with sl_conf_obj_free(). All arguments borrowed.
 */
SL_EXPORT int sl_conf_apply(sl_conf_t *conf, const sl_prop_t *table,
                            const char *const *prefixes, void *obj);

/* Frees what sl_conf_apply() allocated inside obj (strings, lists); obj itself is the
 * caller's. */
SL_EXPORT void sl_conf_obj_free(const sl_prop_t *table, void *obj);

/* Adds an error to conf's list, prefixed with the origin of key ("file:line: key: ") when key
 * is not NULL. The message must not contain secret values. */
SL_EXPORT void sl_conf_error(sl_conf_t *conf, const char *key, const char *fmt, ...)
    SL_PRINTF(3, 4);

/* Number of errors collected, and the i-th message (borrowed from conf). */
SL_EXPORT int sl_conf_error_count(const sl_conf_t *conf);
SL_EXPORT const char *sl_conf_error_at(const sl_conf_t *conf, int i);

/* Marks key as understood (so it is not reported as unknown). Applying a table marks what it
 * reads; components that read keys by hand mark them with this. */
SL_EXPORT void sl_conf_mark_used(sl_conf_t *conf, const char *key);

/* True when key is secret: set through `sensitive.` or matched by a SECRET row. */
SL_EXPORT int sl_conf_is_secret(const sl_conf_t *conf, const char *key);

/* Parses text as a value of row's type into out (a field of the row's C type). On failure
 * returns SL_ERR_INVAL and writes what was expected to errstr (never echoing a SECRET value). */
SL_EXPORT sl_err_t sl_prop_parse(const sl_prop_t *row, const char *text, void *out,
                                 char *errstr, size_t errlen);

/* Formats the field of row in obj as text into buf (SECRET values as "****"). Returns buf. */
SL_EXPORT const char *sl_prop_format(const sl_prop_t *row, const void *obj, char *buf,
                                     size_t len);

/* Human description of what a row of this type accepts, e.g. "a duration (3s, 250ms, 1500)".
 * Static string. */
SL_EXPORT const char *sl_prop_type_desc(const sl_prop_t *row);

/* Frees a list's items and zeroes it. */
SL_EXPORT void sl_list_free(sl_list_t *list);

#ifdef __cplusplus
}
#endif
#endif
