/*
 * sluice/log.h: the one logging function every part of sluice (and a user's operator) goes
 * through: levels, a facility tag, opt-in debug contexts (log.debug=conf,file,ckpt) and an
 * optional JSON-lines format. Values registered as secrets are scrubbed from every line.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sl_log_level {
    SL_LOG_ERROR = 0,
    SL_LOG_WARN = 1,
    SL_LOG_INFO = 2,
    SL_LOG_DEBUG = 3,
} sl_log_level_t;

/* Where a line goes instead of the log file: level and facility tag fac of the line, and line
 * itself, formatted (text or JSON), without the trailing newline, already scrubbed of every
 * registered secret. Called on any thread (a job's worker threads too), possibly on several at
 * once, never with a library lock held; every argument is borrowed for the call. */
typedef void (*sl_log_cb)(sl_log_level_t level, const char *fac, const char *line,
                          void *opaque);

/* Settings: a thread running a job (inside sl_job_new(), sl_job_run(), sl_job_destroy(), and
 * the job's own threads) logs with the job's log.level, log.debug, log.format and callback
 * (sl_job_set_log_callback()); every other thread logs with the process-wide settings of
 * sl_log_set_*() below. The library writes nothing to stdout or stderr except through this
 * log. */

/* Emits one line at level with facility tag fac (e.g. "conf", "file"). Lines above the
 * configured level are dropped. Thread-safe. fac and fmt are borrowed for the call. */
SL_EXPORT void sl_log(sl_log_level_t level, const char *fac, const char *fmt, ...) SL_PRINTF(3, 4);
SL_EXPORT void sl_logv(sl_log_level_t level, const char *fac, const char *fmt, va_list ap);

/* Emits a debug line only when debug context ctx was enabled (log.debug=ctx,... or "all").
 * Thread-safe. */
SL_EXPORT void sl_log_debug(const char *ctx, const char *fmt, ...) SL_PRINTF(2, 3);

/* True when debug context ctx is enabled; lets hot paths skip formatting. */
SL_EXPORT int sl_log_debug_enabled(const char *ctx);

/* Sets the process-wide level threshold. Thread-safe. */
SL_EXPORT void sl_log_set_level(sl_log_level_t level);

/* Sets the process-wide debug contexts from a comma-separated list ("all" enables every
 * context); also raises the level to DEBUG when the list is not empty. ctxs is copied.
 * Thread-safe. */
SL_EXPORT void sl_log_set_debug(const char *ctxs);

/* Selects process-wide JSON-lines output (1) or plain text (0). Thread-safe. */
SL_EXPORT void sl_log_set_json(int on);

/* Redirects output to fp (default stderr) for every line without a callback. fp is borrowed
 * and must outlive logging. Thread-safe. */
SL_EXPORT void sl_log_set_file(FILE *fp);

/* Sends every line without a job callback to cb (NULL: back to the log file) instead of the
 * log file. opaque is passed to cb, borrowed: it must stay valid until the callback is
 * replaced and no line is being logged any more. Thread-safe. */
SL_EXPORT void sl_log_set_callback(sl_log_cb cb, void *opaque);

/* Registers a secret value: from then on every log line has each occurrence replaced with
 * "****". value is copied; values shorter than 4 bytes are ignored (too likely to be noise). */
SL_EXPORT void sl_log_add_secret(const char *value);

/* Replaces every registered secret in the NUL-terminated string s, in place, with "****"
 * (never longer than the secret it replaces). Thread-safe. */
SL_EXPORT void sl_log_scrub(char *s);

/* Parses a level name ("error", "warn", "info", "debug"); returns -1 when unknown. */
SL_EXPORT int sl_log_level_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif
