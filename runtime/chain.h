/*
 * chain.h: the operator chain. A chain spec is the validated description of `task.operators`
 * (each operator's plugin, built in or dlopen'ed, and its filled config struct); a chain is one
 * running instance of it for one partition, owned by that partition's worker thread.
 * Records enter with sl_chain_process(), go through every operator in order, and whatever the
 * last operator emits is handed to the chain's sink function.
 */
#ifndef SL_CHAIN_H
#define SL_CHAIN_H

#include "sluice/conf.h"
#include "sluice/operator.h"
#include "sluice/record.h"
#include "sluice/system.h" /* sl_library_open() */
#include "state_int.h"

typedef struct sl_chain_spec sl_chain_spec_t;
typedef struct sl_chain sl_chain_t;

/* Called with every record the chain's last operator emits; rec is borrowed for the call. */
typedef sl_err_t (*sl_chain_sink_fn)(void *opaque, sl_record_t *rec);

/* Loads a user plugin: sl_library_open(conf, path, what, key), then looks symbol up in it. On
 * failure adds a conf error (at symkey when not NULL, else key: "no <what> symbol 's' in
 * 'path': why") and returns NULL. *dlp receives the handle whenever the library was opened
 * (also when the symbol is missing); the caller closes it with dlclose(). The struct returned
 * is borrowed from the library: check its ABI version before using anything else of it. */
const void *sl_library_plugin(sl_conf_t *conf, const char *path, const char *symbol,
                              const char *what, const char *key, const char *symkey, void **dlp);

/* Builds the spec for the operator instances named in names (in chain order) from conf:
 * applies the generic operator table (`operators.<name>.type`, `.library`, `.symbol`) and the
 * plugin's own table, loads libraries, checks ABI versions, and runs each plugin's init once
 * with no partition to validate (then closes it). Every problem goes to conf's error list
 * (sl_conf_error) naming the key and line. Returns NULL when any error was added. names and
 * conf borrowed; conf must outlive the spec. seed seeds the per-instance random sources. */
sl_chain_spec_t *sl_chain_spec_new(sl_conf_t *conf, const sl_list_t *names, uint64_t seed);

/* The job-wide settings a chain takes beside its operators (all borrowed for the call). */
typedef struct sl_chain_opts {
    uint64_t seed;
    const char *timestamp_expr;  /* task.timestamp.expr, NULL: the source's event time */
    int64_t watermark_delay_ms;  /* task.watermark.delay */
    int64_t watermark_idle_ms;   /* task.watermark.idle-timeout */
    const sl_list_t *outputs;    /* task.outputs, for sl_op_output(); NULL: none */
} sl_chain_opts_t;

/* sl_chain_spec_new() with every setting; also validates task.timestamp.expr. */
sl_chain_spec_t *sl_chain_spec_new_ex(sl_conf_t *conf, const sl_list_t *names,
                                      const sl_chain_opts_t *opts);

/* 1 when output i (index into task.outputs) was claimed by sl_op_output(): it receives only
 * what operators send it with sl_op_emit_to(), not the chain's output. */
int sl_chain_spec_side_output(const sl_chain_spec_t *spec, int i);

/* 1 when an operator of the chain keeps keyed state (SL_OPERATOR_F_STATEFUL); *name receives
 * the first such operator's instance name (borrowed from the spec). */
int sl_chain_spec_stateful(const sl_chain_spec_t *spec, const char **name);

/* The n-th (from 0) operator of the chain that keeps keyed state: returns 1 and fills *name
 * (its instance name) and *type (its plugin's name), both borrowed from the spec, and key
 * with the key that chose it (operators.<name>.type or .library); 0 when there are not that
 * many. Any out-parameter may be NULL. */
int sl_chain_spec_stateful_op(const sl_chain_spec_t *spec, int n, const char **name,
                              const char **type, char *key, size_t keylen);

/* Number of operators and the dump of their effective config (secrets masked). */
int sl_chain_spec_count(const sl_chain_spec_t *spec);
void sl_chain_spec_dump(const sl_chain_spec_t *spec, FILE *fp);

/* Frees the spec (closes dlopen'ed libraries). Accepts NULL. All chains built from it must be
 * destroyed first. */
void sl_chain_spec_destroy(sl_chain_spec_t *spec);

/* Creates a running instance for partition (copied; used for sl_op_partition() and logs).
 * sink/opaque receive the output. sh (borrowed, may be NULL: no keyed state) gives the
 * operators their stores (sl_op_state()); it must outlive the chain. Returns NULL with errstr
 * filled when an init fails. */
sl_chain_t *sl_chain_new(const sl_chain_spec_t *spec, const char *partition, sl_chain_sink_fn sink,
                         void *opaque, sl_state_host_t *sh, char *errstr, size_t errlen);

/* Called with every record an operator sends to a side output (sl_op_emit_to()). */
typedef sl_err_t (*sl_chain_side_fn)(void *opaque, sl_record_t *rec, int output);

struct sl_metrics;
/* What a running chain gets from its partition besides the sink (all borrowed, may be NULL). */
typedef struct sl_chain_env {
    sl_state_host_t *sh;         /* keyed state; must outlive the chain */
    sl_chain_side_fn side;       /* side outputs (NULL: what goes there is dropped) */
    struct sl_metrics *metrics;  /* for sl_op_counter(); must outlive the chain */
    const char *labels;          /* the partition's labels: system="..",stream="..",partition=".." */
    const char *input;           /* "system.stream" of the partition: picks the stage */
    /* How many partitions the inputs of a stage have had (sl_op_stage_partitions()). */
    int (*stage_parts)(void *opaque, int stage);
    void *stage_opaque;
} sl_chain_env_t;

/* Stages: a chain is split after each `repartition` operator. The partitions of the stream the
 * k-th repartition writes (stage k's input, "system.stream") run the operators after it; every
 * other input runs stage 0. sl_chain_spec_stage_of() gives the stage of an input (0 for NULL or
 * an ordinary input), sl_chain_spec_stages() their number (1 without repartition),
 * sl_chain_spec_stage_input() the input of stage k > 0 (borrowed from the spec). */
int sl_chain_spec_stage_of(const sl_chain_spec_t *spec, const char *input);
/* The stage a running chain runs (0: the first). */
int sl_chain_stage(const sl_chain_t *chain);
int sl_chain_spec_stages(const sl_chain_spec_t *spec);
const char *sl_chain_spec_stage_input(const sl_chain_spec_t *spec, int k);

/* sl_chain_new() with the whole environment. */
sl_chain_t *sl_chain_new_ex(const sl_chain_spec_t *spec, const char *partition,
                            sl_chain_sink_fn sink, void *opaque, const sl_chain_env_t *env,
                            char *errstr, size_t errlen);

/* Runs rec (borrowed) through the chain. On an operator error returns it and sets the message
 * returned by sl_chain_error(). */
sl_err_t sl_chain_process(sl_chain_t *chain, sl_record_t *rec);

/* Fires the periodic timers of operators whose interval has elapsed at now_ms, and the
 * processing-time timers (sl_op_timer_set()) due at now_ms. */
sl_err_t sl_chain_tick(sl_chain_t *chain, int64_t now_ms);

/* The partition's input ended: the watermark moves to SL_WATERMARK_END, so every event-time
 * timer fires and every window closes. Call before sl_chain_flush() at the end of the input
 * (not at a shutdown or a release: the windows stay in the state for the next run). */
sl_err_t sl_chain_end_input(sl_chain_t *chain);

/* The partition's current watermark (sl_op_watermark()). */
int64_t sl_chain_watermark(const sl_chain_t *chain);

/* Calls every operator's flush (first to last, so what a flush emits passes the rest). */
sl_err_t sl_chain_flush(sl_chain_t *chain);

/* Calls every operator's checkpoint hook. */
sl_err_t sl_chain_checkpoint(sl_chain_t *chain);

/* The message of the last error ("operators.f (job.properties:7): what"). Borrowed. */
const char *sl_chain_error(const sl_chain_t *chain);

/* Closes every operator and frees the chain. Accepts NULL. */
void sl_chain_destroy(sl_chain_t *chain);

/* The generic operator table (type, library, symbol), for the docs. */
extern const sl_prop_t sl_operator_props[];

/* Every registered operator plugin (built-ins first), for the docs and `sluice --help`.
 * Returns the count; *out borrowed. */
int sl_operator_plugins(const sl_operator_plugin_t *const **out);

#endif
