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

/* Runs rec (borrowed) through the chain. On an operator error returns it and sets the message
 * returned by sl_chain_error(). */
sl_err_t sl_chain_process(sl_chain_t *chain, sl_record_t *rec);

/* Fires the timers of operators whose interval has elapsed at now_ms. */
sl_err_t sl_chain_tick(sl_chain_t *chain, int64_t now_ms);

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
