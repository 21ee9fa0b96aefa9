/*
 * operators.h: the built-in operator plugins (operators/\*.c). Each is an sl_operator_plugin_t
 * written against the public <sluice/operator.h> only, like a user operator; the runtime's
 * chain (runtime/chain.c) registers them on first use.
 */
#ifndef SL_OPERATORS_H
#define SL_OPERATORS_H

#include "sluice/operator.h"

extern const sl_operator_plugin_t sl_op_filter;
extern const sl_operator_plugin_t sl_op_map;
extern const sl_operator_plugin_t sl_op_rekey;
extern const sl_operator_plugin_t sl_op_sample;
extern const sl_operator_plugin_t sl_op_log;
extern const sl_operator_plugin_t sl_op_dedup;
extern const sl_operator_plugin_t sl_op_window;
extern const sl_operator_plugin_t sl_op_aggregate;

/* "operators.<name>." of an instance ("task." for the runtime's task.timestamp.expr): the
 * prefix of its keys, for messages. Borrowed, valid for the operator's life. */
const char *sl_op_prefix(const sl_op_t *op);

#endif
