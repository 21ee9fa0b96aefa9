/*
 * conf_int.h: the parts of the configuration engine that only the runtime uses: scopes for
 * unknown-key detection, effective-config dumps and the documentation generator.
 */
#ifndef SL_CONF_INT_H
#define SL_CONF_INT_H

#include <stdio.h>

#include "sluice/conf.h"

/* Size of the C field a row of this type fills (0 for ALIAS and IGNORED rows). */
size_t sl_prop_field_size(sl_prop_type_t type);

/* Registers a scope: a key under prefix is known when its remainder matches a row of table
 * (its name, an ALIAS, or an IGNORED pattern). sl_conf_apply() registers prefixes[i] with its
 * table for every i automatically; this is for tables that are known but not applied (e.g. a
 * stream table under a system that has no streams in this job). Copies prefix; table borrowed
 * and must outlive conf. Returns 0, or -1 when out of memory. */
int sl_conf_scope_add(sl_conf_t *conf, const char *prefix, const sl_prop_t *table);

/* Adds one error for every entry that no sl_conf_apply() read and sl_conf_mark_used() did not
 * mark: "file:line: unknown property 'k' (did you mean 'x'?)", the suggestion taken from the
 * rows of the scopes with the longest prefix of k (or from every known full key when no scope
 * matches). Returns the number of errors added. */
int sl_conf_check_unknown(sl_conf_t *conf);

/* Writes "prefix+name=value" lines for every non-alias row of table in obj, with SECRET values
 * and secret entries masked as "****", each followed by "  # file:line" or "  # default". */
void sl_conf_dump_obj(FILE *fp, const sl_conf_t *conf, const char *prefix,
                      const sl_prop_t *table, const void *obj);

/* Writes one markdown section documenting table: "## title", intro paragraph, then a table
 * with Property (scope + name), Type, Default, Description (aliases, bounds, choices, flags
 * folded into the description). Rows flagged HIDDEN are left out; ALIAS and IGNORED rows are
 * listed too. Output is deterministic. */
void sl_conf_doc_table(FILE *fp, const char *title, const char *scope, const char *intro,
                       const sl_prop_t *table);

#endif
