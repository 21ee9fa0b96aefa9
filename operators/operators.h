/*
 * operators.h: the built-in operator plugins (operators/\*.c). Each is an sl_operator_plugin_t
 * written against the public <sluice/operator.h> only, like a user operator; the runtime's
 * chain (runtime/chain.c) registers them on first use.
 */
#ifndef SL_OPERATORS_H
#define SL_OPERATORS_H

#include "sluice/operator.h"
#include "sluice/state.h"

extern const sl_operator_plugin_t sl_op_filter;
extern const sl_operator_plugin_t sl_op_map;
extern const sl_operator_plugin_t sl_op_rekey;
extern const sl_operator_plugin_t sl_op_sample;
extern const sl_operator_plugin_t sl_op_log;
extern const sl_operator_plugin_t sl_op_dedup;
extern const sl_operator_plugin_t sl_op_window;
extern const sl_operator_plugin_t sl_op_aggregate;
extern const sl_operator_plugin_t sl_op_join;
extern const sl_operator_plugin_t sl_op_repartition;
extern const sl_operator_plugin_t sl_op_interval_join;

/* "operators.<name>." of an instance ("task." for the runtime's task.timestamp.expr): the
 * prefix of its keys, for messages. Borrowed, valid for the operator's life. */
const char *sl_op_prefix(const sl_op_t *op);

/* The job-wide table `table` (the system/stream of a broadcast input) of this operator, shared
 * by its instances on every partition: write=1 from an instance on one of the table's own
 * partitions (its changes commit with that partition's offsets), write=0 a read-only view of
 * what those committed, for the others (see sl_state_host_table() in runtime/state_int.h).
 * NULL where sl_op_state() is NULL. Borrowed, valid until the instance's close returns. Not
 * public yet: the join operator's. Worker thread of the instance. */
sl_state_t *sl_op_table_state(sl_op_t *op, const char *table, int write);

/* For the repartition operator: how many partitions the inputs of its stage have had (a job's
 * count, including partitions that ended), 0 when unknown; and "system.stream/partition" of the
 * instance's partition (NULL for the validation instance). Worker thread of the instance. */
int sl_op_stage_partitions(const sl_op_t *op);
int64_t sl_op_idle_timeout(const sl_op_t *op); /* task.watermark.idle-timeout, 0: none */
const char *sl_op_upstream_id(const sl_op_t *op);

#endif
