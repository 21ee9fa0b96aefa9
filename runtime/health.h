/*
 * health.h: what is failing right now, for /healthz and the outage warnings. A component that
 * talks to a service (an AWS client, a Pulsar connection) opens one entry for its endpoint and
 * reports each failed and each successful call; an entry failing without a success in between
 * for longer than task.health.stall.ms makes /healthz answer 503 with the entries' messages.
 * The board is process-wide (a host running several jobs sees every job's endpoints) and
 * thread-safe: workers report, the metrics thread reads.
 */
#ifndef SL_HEALTH_H
#define SL_HEALTH_H

#include <stdint.h>

#include "util_str.h"
#include "util_time.h" /* util_ratelimit() */

typedef struct sl_health health_entry_t; /* public as sl_health_t (sluice/system.h) */

/* An entry named what ("kinesis at http://127.0.0.1:4567"; copied). NULL when out of memory
 * (then the reports below do nothing). Caller frees with health_close(). Any thread. */
health_entry_t *health_open(const char *what);
/* Removes the entry (NULL accepted). */
void health_close(health_entry_t *e);
/* A failed call: the entry is failing since the first failure after the last success; msg
 * (copied) is kept as the latest reason. Returns how long it has been failing, in ms. */
int64_t health_fail(health_entry_t *e, const char *msg);
/* A successful call: the entry is healthy again. Returns how long it had been failing (0 when
 * it was not). */
int64_t health_ok(health_entry_t *e);

/* Appends one line per entry failing for at least stall_ms ("<what>: failing for 75 s: <msg>")
 * to sb and returns how many. Any thread. */
int health_report(int64_t stall_ms, sl_sb_t *sb);

#endif
