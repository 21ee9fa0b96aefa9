/*
 * expr.h: the SQLite expression engine shared by the filter, map, rekey and dedup operators. Each
 * operator instance owns one private in-memory SQLite connection (an expr_db_t) in which the
 * record being processed is visible as the one-row virtual table `rec` (payload, key, system,
 * stream, partition, offset, subseq, event_time, arrival_time) and through the function
 * header(name). Expressions are compiled once at init; per record the operator binds the record,
 * evaluates, reads the result and resets, without allocating.
 */
#ifndef SL_EXPR_H
#define SL_EXPR_H

#include <stddef.h>

#include "sluice/operator.h"
#include "sluice/record.h"

typedef struct expr_db expr_db_t;
typedef struct expr expr_t;

/* Opens the instance's connection with `rec` and header() registered. On failure returns an
 * error after sl_op_fail() said why. Caller frees with expr_db_close(). */
sl_err_t expr_db_open(sl_op_t *op, expr_db_t **out);

/* The connection itself, for an operator's own statements over it (finalized by the operator
 * before expr_db_close()). Borrowed. */
struct sqlite3 *expr_db_handle(expr_db_t *db);

/* Finalizes every expression compiled on db and closes it. Accepts NULL. */
void expr_db_close(expr_db_t *db);

/* Compiles text, the value of `operators.<name>.<key>`, as one SQL expression over `rec`.
 * as_bool selects the filter form (the result is 1 when the expression is true in the SQLite
 * sense, 0 when false or NULL). Rejects anything that is not a single expression. On failure
 * returns SL_ERR_CONF after sl_op_fail() recorded "file:line: operators.<name>.<key>: why".
 * The expression is owned by db (freed by expr_db_close()). */
sl_err_t expr_compile(expr_db_t *db, sl_op_t *op, const char *key, const char *text,
                      int as_bool, expr_t **out);

/* Makes rec the row of `rec` for the following evaluations (rec borrowed: it must stay alive
 * and its payload/key unchanged until every expression evaluated on it is reset). NULL = no
 * row (an expression then gives NULL). */
void expr_bind(expr_db_t *db, const sl_record_t *rec);

/* Evaluates a filter-form expression on the bound record: *out is 1 or 0. Resets itself. On an
 * SQL runtime error (e.g. malformed JSON) returns SL_ERR_RECORD after sl_op_fail(). */
sl_err_t expr_truth(expr_t *ex, sl_op_t *op, int *out);

/* Evaluates a value expression on the bound record. *data and *len receive the result as bytes
 * (text or blob as they are, a number formatted as text), *data NULL when the result is NULL.
 * The bytes are borrowed from SQLite, valid until expr_reset(ex); they may point into the
 * bound record's payload or key. On an SQL runtime error returns SL_ERR_RECORD after
 * sl_op_fail() (the expression is then already reset). */
sl_err_t expr_value(expr_t *ex, sl_op_t *op, const void **data, size_t *len);

/* Evaluates a value expression on the bound record, typed: *out receives SQLite's value of
 * the result (NULL when no record is bound), valid until expr_reset(ex). Errors as
 * expr_value(). */
struct sqlite3_value;
sl_err_t expr_sqlvalue(expr_t *ex, sl_op_t *op, struct sqlite3_value **out);

/* Ends an evaluation started by expr_value() or expr_sqlvalue(). */
void expr_reset(expr_t *ex);

/* The source text of the expression (as configured). Borrowed from ex. */
const char *expr_text(const expr_t *ex);

/* Fails the current callback with the convention of configuration problems:
 * "file:line: operators.<name>.<key>: <message>". Returns SL_ERR_CONF. */
sl_err_t expr_fail_conf(sl_op_t *op, const char *key, const char *fmt, ...) SL_PRINTF(3, 4);

#endif
