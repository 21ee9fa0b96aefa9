/*
 * log_int.h: per-job log settings. A job's threads (its main thread inside sl_job_new/run/
 * destroy, its workers, its metrics server) log with the job's level, debug contexts, format
 * and callback: each such thread points a thread-local at the job's settings, which the job
 * owns and keeps unchanged while any of its threads runs. Threads without settings (the CLI,
 * a host's own threads) use the process-wide ones of sl_log_set_*().
 */
#ifndef SL_LOG_INT_H
#define SL_LOG_INT_H

#include "sluice/log.h"

typedef struct sl_log_cfg {
    int level;   /* sl_log_level_t */
    int json;    /* 1: JSON lines */
    char *debug; /* ",ctx1,ctx2," or NULL; owned */
    sl_log_cb cb; /* NULL: the process-wide sink */
    void *opaque;
} sl_log_cfg_t;

/* Makes cfg (borrowed; NULL: the process-wide settings) this thread's settings; returns the
 * previous ones, for restoring them. */
const sl_log_cfg_t *sl_log_scope(const sl_log_cfg_t *cfg);
/* This thread's settings (NULL: process-wide): a thread the library starts inherits them. */
const sl_log_cfg_t *sl_log_current(void);
/* sl_log_add_secret() that says whether it worked: 0, or -1 when out of memory (the value is
 * then not masked, and whoever was about to keep it should fail instead). */
int sl_log_secret_add(const char *value);
/* Normalises a comma-separated context list to ",a,b,"; NULL when empty or out of memory.
 * Caller frees. */
char *sl_log_debug_list(const char *ctxs);

#endif
