/*
 * metrics.h: the metrics registry (counters, gauges, histograms with labels) and its Prometheus
 * text exposition, served with /healthz by libevent's evhttp on metrics.http.port. Updating a
 * metric is lock-free (relaxed atomics), so worker threads can count on the hot path.
 */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stdint.h>

#include "sluice/common.h"
#include "util_str.h"

typedef struct sl_metrics sl_metrics_t;
typedef struct sl_metric sl_metric_t;

typedef enum { SL_METRIC_COUNTER, SL_METRIC_GAUGE, SL_METRIC_HISTOGRAM } sl_metric_kind_t;

/* A new, empty registry. Caller frees with sl_metrics_destroy() (after the server stops). */
sl_metrics_t *sl_metrics_new(void);
void sl_metrics_destroy(sl_metrics_t *m);

/* Returns the metric with this name and labels, creating it on first use (thread-safe; takes a
 * lock, so look metrics up once and keep the pointer). name is a Prometheus metric name
 * ("sluice_records_in_total"); labels is a Prometheus label list without braces
 * ('system="files",stream="in"') or NULL; help is one line. All copied. The pointer is owned by
 * the registry and valid until sl_metrics_destroy(). A histogram uses fixed buckets in ms
 * (1, 5, 10, 50, 100, 500, 1000, 5000, 10000, +Inf). */
sl_metric_t *sl_metric_get(sl_metrics_t *m, sl_metric_kind_t kind, const char *name,
                           const char *labels, const char *help);

void sl_metric_add(sl_metric_t *mt, int64_t v);      /* counter/gauge += v */
void sl_metric_set(sl_metric_t *mt, int64_t v);      /* gauge = v */
void sl_metric_observe(sl_metric_t *mt, double v);   /* histogram */
int64_t sl_metric_value(const sl_metric_t *mt);      /* counter/gauge current value */

/* Appends the Prometheus text exposition (format 0.0.4) of every metric, grouped by name with
 * one # HELP and # TYPE line each, to sb. */
void sl_metrics_render(sl_metrics_t *m, sl_sb_t *sb);

/* An HTTP server on 127.0.0.1 (or host) : port serving GET /metrics and GET /healthz (200 "ok"
 * while healthy() returns non-zero, else 503 with "unhealthy" and the lines healthy() appended
 * to why) on its own thread and event loop. port 0 picks a free port; sl_metrics_server_port()
 * tells which. Returns NULL with errstr filled on failure. healthy may be NULL (always
 * healthy). */
typedef struct sl_metrics_server sl_metrics_server_t;
sl_metrics_server_t *sl_metrics_server_start(sl_metrics_t *m, const char *host, int port,
                                             int (*healthy)(void *, sl_sb_t *why), void *opaque, char *errstr,
                                             size_t errlen);
int sl_metrics_server_port(const sl_metrics_server_t *srv);
/* Stops the thread and frees the server. Accepts NULL. */
void sl_metrics_server_stop(sl_metrics_server_t *srv);

#endif
