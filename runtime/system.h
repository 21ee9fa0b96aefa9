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

/* What the generic system table fills (sl_sys_t holds the same two fields in this order). */
typedef struct sl_system_generic {
    char *factory;
    char *library;
} sl_system_generic_t;

/* Checks what can be checked of a plugin struct before trusting it (ABI version first, then
 * name, factories and table sizes). Returns SL_OK, or SL_ERR_ABI / SL_ERR_INVAL with why
 * filled. */
sl_err_t sl_system_plugin_check(const sl_system_plugin_t *plugin, char *why, size_t len);

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
