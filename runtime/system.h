/*
 * system.h: the runtime's side of the connector interface. The interface itself (the plugin
 * struct and the helpers) is public, in <sluice/system.h>; this adds the registry of systems
 * (built-in and loaded with systems.<sys>.library) and the generic property tables.
 */
#ifndef SL_SYSTEM_H
#define SL_SYSTEM_H

#include <event2/event.h>

#include "checkpoint.h"
#include "sluice/system.h"

/* --- the registry -------------------------------------------------------------------------- */

/* The plugin answering to factory (case-sensitive, full spelling), or NULL. */
const sl_system_plugin_t *sl_system_find(const char *factory);
/* Every plugin; returns the count, *out borrowed. */
int sl_system_plugins(const sl_system_plugin_t *const **out);

/* Generic tables: systems.<sys>.* for every system, and the per-stream keys every system has. */
extern const sl_prop_t sl_system_generic_props[];
extern const sl_prop_t sl_stream_generic_props[];

/* Built-in systems. */
extern const sl_system_plugin_t sl_system_file;
extern const sl_system_plugin_t sl_system_stdio;
extern const sl_system_plugin_t sl_system_kinesis;
extern const sl_system_plugin_t sl_system_dynamodbstreams;
extern const sl_system_plugin_t sl_system_pulsar;

#endif
