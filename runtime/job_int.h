/*
 * job_int.h: the inside of a job, shared by conf_job.c (building and validating it from the
 * configuration), system.c (the connector helpers), worker.c (the worker threads that own the
 * partitions, chains and producers) and job.c (the lifecycle on the main thread).
 *
 * Threads: the main thread runs discovery and signals on job->base; each worker runs its own
 * event base and owns its partitions, their chains and its producers outright. The only shared
 * mutable state is the worker inboxes (mutex), a few atomics (counts, stop flags) and the
 * checkpoint store (thread-safe by itself).
 */
#ifndef SL_JOB_INT_H
#define SL_JOB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <event2/event.h>

#include "chain.h"
#include "checkpoint.h"
#include "log_int.h"
#include "metrics.h"
#include "record_int.h"
#include "sluice/job.h"
#include "system.h"

/* The job's own table (job.*, task.*, metrics.*, log.*). */
typedef struct sl_job_conf {
    char *name, *id;
    sl_list_t inputs, outputs, operators, broadcast;
    int64_t commit_ms;
    int error_policy; /* 0 fail, 1 skip */
    int max_inflight;
    int poll_batch;
    int threads;
    char *ckpt_path;
    int64_t seed;
    int metrics_port;
    char *metrics_host;
    int log_level;
    char *log_debug;
    int log_format; /* 0 text, 1 json */
    int64_t shutdown_timeout_ms;
    int64_t health_stall_ms;
    int64_t start_timeout_ms;
    int64_t state_cache_size;
    int64_t state_value_max;
    char *timestamp_expr;
    int64_t watermark_delay_ms;
    int64_t watermark_idle_ms;
} sl_job_conf_t;

/* The generic per-stream keys (sl_stream_generic_props). */
typedef struct sl_stream_generic {
    int offset_default; /* 0 oldest, 1 upcoming */
    int reset_offset;
    int bootstrap; /* samza.bootstrap: read to its head before the other inputs start */
} sl_stream_generic_t;

typedef struct sl_sys {
    char *name;
    char *prefix; /* "systems.<name>." */
    char *factory;
    char *library; /* systems.<sys>.library; right after factory (sl_system_generic_t) */
    void *dl;      /* its dlopen() handle, closed by sl_job_unconfigure() */
    const sl_system_plugin_t *plugin;
    void *conf; /* plugin->system_props filled */
} sl_sys_t;

/* A configured stream of a system (an input or an output). */
typedef struct sl_stream {
    sl_sys_t *sys;
    char *name;
    char *prefix; /* "systems.<sys>.streams.<name>." */
    sl_stream_generic_t generic;
    void *conf; /* plugin->stream_props filled */
    char *default_prefix; /* "systems.<sys>.default.stream." */
    const char *prefixes[4]; /* prefix, default_prefix, sys->prefix, NULL */
} sl_stream_t;

/* Finished trackers a partition keeps for reuse; the rest are freed (a burst of in-flight
 * records must not stay allocated in every partition). */
#define SL_TRACK_FREE_MAX 64

/* One in-flight source offset of a partition, in the partition's FIFO. */
typedef struct sl_ptrack {
    sl_track_t base; /* first: records point here */
    struct sl_ptrack *next;
    struct sl_part *part;
    int done;
    int64_t subseq;
    char *offset_heap;
    char offset[64]; /* a Kinesis sequence number (56 digits) fits */
} sl_ptrack_t;

/* NEW: handed over, not opened; RUNNING: polled; DRAINING: winding down (end of input,
 * release or loss): flushing, waiting for acknowledgements; DONE: closed (a zombie while
 * records of it are still in flight). */
typedef enum { SL_PART_NEW, SL_PART_RUNNING, SL_PART_DRAINING, SL_PART_DONE } sl_part_state_t;

/* A partition id the input announced. part is the live partition (NULL once it is gone);
 * closing: removal asked for and not finished; done: it reached its end (never re-added). */
typedef struct sl_known {
    char *id;
    struct sl_part *part;
    uint64_t serial;
    int closing;
    int done;
    int caught_up; /* a bootstrap input's partition reached its head, its state committed */
} sl_known_t;

struct sl_input {
    struct sl_job *job;
    sl_stream_t *st;
    int64_t discover_ms;
    struct event *discover_ev;
    pthread_mutex_t lock; /* guards known (the main thread adds, workers retire) */
    sl_known_t *known;
    int nknown, capknown;
    int next_worker;
    void *state;  /* in_open's */
    int opened;   /* in_open succeeded: in_close is owed */
    int stopping; /* in_stop called */
    int stopped;  /* sl_input_stopped() called */
    int bootstrap; /* samza.bootstrap (the stream's generic setting) */
    /* A repartition's stream: partitions that ended because their upstreams had (workers
     * count), and that count when the latest discovery pass began (main thread). */
    _Atomic int stage_ended;
    int stage_ended_seen;
    char errmsg[512];
};

struct sl_part {
    sl_input_t *in;
    struct sl_worker *w;
    char *id;
    uint64_t serial;   /* unique per job: matches stop requests to this very partition */
    int stop_how;      /* -1 none, else sl_part_stop_t being carried out */
    int why;           /* sl_close_t once closing */
    int revoked;       /* lost: never commit again */
    int flushed;       /* its chain was flushed while winding down */
    int64_t wind_deadline;
    void *state;
    int opened;
    sl_part_state_t pstate;
    int eof;
    int at_head;   /* the connector said it is 0 ms behind (sl_part_set_lag) */
    int caught_up; /* bootstrap input: at its head with its state committed, announced */
    sl_chain_t *chain;
    struct event *poll_ev;
    int64_t idle_ms; /* wait after SL_POLL_IDLE */
    int failed;      /* a record of this partition failed: its offset must never be committed */
    int commit_failed;
    /* checkpoint tracking */
    sl_ptrack_t *head, *tail, *free;
    int inflight;
    int nfree;   /* trackers kept for reuse (bounded) */
    int blocked; /* polling paused: too many records in flight */
    int out_wait; /* polling paused: a producer is full (sl_output_set_busy) */
    char *done_offset; /* newest offset whose records are all acknowledged */
    int64_t done_subseq;
    int dirty; /* done_offset moved since the last commit */
    sl_state_host_t *sh; /* the operators' keyed state (NULL: the input has no checkpoints) */
    int barrier;         /* polling paused until nothing is in flight: state waits to commit */
    int barrier_futile;  /* a barrier timed out (an operator holds records): no more pauses
                          * until the state commits again */
    int barrier_warned;  /* that was logged (once per partition) */
    int64_t barrier_deadline;
    /* per-partition metrics */
    sl_metric_t *m_in, *m_out, *m_dropped, *m_errors, *m_lag;
    struct sl_part *next;
    char errmsg[512];
};

struct sl_output {
    struct sl_worker *w;
    sl_stream_t *st;
    void *state;
    int opened;
    sl_metric_t *m_sent, *m_acked, *m_failed;
    int busy; /* sl_output_set_busy(): pushing back on the chain */
    char errmsg[512];
};

typedef struct sl_worker {
    int idx;
    struct sl_job *job;
    pthread_t thread;
    int started;
    struct event_base *base;
    struct event *wake_ev, *commit_ev, *tick_ev;
    pthread_mutex_t lock; /* guards inbox and the stop request */
    sl_part_t *inbox;     /* partitions handed over by the main thread */
    struct sl_stopreq *stops; /* stop requests from the main thread */
    int stop_requested;
    sl_part_t *parts;
    int nparts;
    int inflight; /* source offsets in flight over all its partitions */
    int busy_outs; /* producers asking to stop reading (sl_output_set_busy) */
    sl_output_t **outs; /* one per job output, same order as job->outputs */
    int draining;
    int64_t drain_deadline;
    int failed;
    int finished;
} sl_worker_t;

struct sl_job {
    sl_conf_t *conf;
    sl_job_conf_t jc;
    sl_sys_t **systems;
    int nsystems;
    sl_stream_t **inputs, **outputs;
    int ninputs, noutputs;
    sl_chain_spec_t *spec;
    /* running state */
    struct event_base *base;
    struct event *stop_ev, *done_ev;
    int stop_pipe[2];
    sl_input_t **ins;
    sl_worker_t **workers;
    sl_ckpt_store_t *ckpt;
    sl_metrics_t *metrics;
    sl_metrics_server_t *msrv;
    _Atomic int running; /* 0 new, 1 running, 2 stopping, 3 over; main thread writes */
    int64_t start_deadline_ms; /* monotonic: sl_job_run's start + task.start.timeout; 0 none */
    _Atomic int stop_count; /* sl_job_stop() calls */
    _Atomic int failed;     /* some part failed the job (failmsg is set before it) */
    _Atomic int live_parts; /* partitions not yet done */
    /* 0 while a bootstrap input (samza.bootstrap) has a partition not yet read to its head:
     * the partitions of the other inputs wait. 1 from the start when there is none. */
    _Atomic int bootstrapped;
    int64_t bootstrap_started_ms;
    _Atomic int ins_ready; /* ins[0..ins_ready) are assigned (main thread, release) */
    uint64_t part_serial; /* main thread: last partition serial handed out */
    _Atomic int64_t stop_deadline; /* monotonic ms by which a stop is over (0: none begun) */
    struct event *inputs_ev; /* main thread: input stop deadline */
    int inputs_stopping;
    _Atomic int workers_done;
    char failmsg[1024];
    sl_err_t fail_code; /* of the first failure; 0: SL_ERR_IO */
    pthread_mutex_t faillock;
    /* log.level, log.debug, log.format and the callback: every thread of the job logs with
     * these (log_int.h); unchanged while the job runs. */
    sl_log_cfg_t log;
    /* sl_job_start() (job_thread.c) */
    pthread_t run_thread;
    int run_started; /* 1 started, 2 joined */
    sl_err_t run_rc;
    struct sl_host *host; /* runtime/inproc*.c: the host inputs and outputs; NULL without */
};

/* conf_job.c: the job table and building a job's configuration objects. */
extern const sl_prop_t sl_job_props[];
sl_err_t sl_job_configure(struct sl_job *job);
void sl_job_unconfigure(struct sl_job *job);

/* sl_job_open_checkpoints() and sl_job_ext_checkpoints() are public: sluice/job.h. */
/* job.c: fails the job with a message (first message wins); safe from any thread. */
void sl_job_fail(struct sl_job *job, const char *fmt, ...) SL_PRINTF(2, 3);
/* sl_job_fail() whose code sl_job_run() returns (SL_ERR_DB: the checkpoint store failed, which
 * the CLI exits 4 for) when it is the first failure. */
void sl_job_fail_code(struct sl_job *job, sl_err_t code, const char *fmt, ...) SL_PRINTF(3, 4);
/* system.c: a bootstrap input's partition reached its head and committed its state (worker
 * thread); when every known partition of every bootstrap input has, the other inputs start. */
void sl_input_part_caught_up(sl_input_t *in, sl_part_t *part);
/* system.c: how many partitions (known, including ended ones) the inputs of chain stage
 * `stage` have (sl_chain_env_t.stage_parts, opaque = the job); any thread. */
int sl_job_stage_partitions(void *opaque, int stage);
/* system.c: sets job->bootstrapped when no bootstrap input is left behind; any thread. */
void sl_job_bootstrap_check(struct sl_job *job);

/* job.c: tells the main thread that a partition or a worker finished; any thread. */
void sl_job_notify(struct sl_job *job);

/* runtime/inproc_host.c: the host side of the `inproc` system (sluice/host.h).
 * attach: from sl_job_new() once configured (reads the host inputs' committed offsets);
 * ended: at the end of sl_job_run() (wakes waiting host calls); detach: from sl_job_destroy(). */
sl_err_t sl_host_attach(struct sl_job *job, char *errstr, size_t errlen);
void sl_host_job_ended(struct sl_job *job);
void sl_host_detach(struct sl_job *job);
/* job_thread.c: joins a thread of sl_job_start() not waited for (sl_job_destroy()). */
void sl_job_thread_reap(struct sl_job *job);

/* worker.c */
sl_worker_t *sl_worker_new(struct sl_job *job, int idx);
sl_err_t sl_worker_start(sl_worker_t *w);
void sl_worker_adopt(sl_worker_t *w, sl_part_t *part); /* any thread */
/* Asks w to stop the partition with this serial (sl_part_stop_t how). Any thread. */
void sl_worker_stop_part(sl_worker_t *w, sl_part_t *part, uint64_t serial, int how);
void sl_worker_request_stop(sl_worker_t *w);           /* any thread: drain and finish */
void sl_worker_join(sl_worker_t *w);
void sl_worker_destroy(sl_worker_t *w);
/* system.c */
sl_input_t *sl_input_new(struct sl_job *job, sl_stream_t *st);
void sl_input_destroy(sl_input_t *in);
/* Whether in's partitions may move to another process (the plugin's in_partitions_move; 0 for
 * a plugin without it, or built for ABI version 2), why filled when 1. Main thread. */
int sl_input_moves(const sl_input_t *in, char *why, size_t len);
sl_err_t sl_input_discover(sl_input_t *in);
/* Calls the plugin's in_open (if any); fails the job on error. Main thread. */
sl_err_t sl_input_open(sl_input_t *in);
void sl_part_destroy(sl_part_t *part);
/* Worker: the partition is gone for good; when it left early (released, lost) its id may be
 * announced again. */
void sl_input_retire(sl_input_t *in, sl_part_t *part);
/* Main thread: starts in_stop on every input; returns how many have not stopped yet. */
int sl_inputs_stop(struct sl_job *job);

/* Makes rec, a record an operator created rather than derived from an input record (a
 * window's result, emitted by a timer), hold back the partition's offset like the records in
 * flight until a sink acknowledges it: its tracker takes the newest offset read. No-op for a
 * record already tracked or before the partition read anything. */
sl_err_t sl_part_track_orphan(sl_part_t *part, sl_record_t *rec);

#endif
