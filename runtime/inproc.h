/*
 * inproc.h: the inside of the `inproc` system, shared by inproc.c (the connector callbacks the
 * workers call) and inproc_host.c (the hub the embedding program reaches through sluice/host.h).
 *
 * The hub belongs to the job (job->host, from sl_job_new() to sl_job_destroy()), so the host can
 * push before the job runs and read committed offsets after it ended. One mutex guards all of
 * it; one condition variable wakes host calls waiting for room, records or the end.
 */
#ifndef SL_INPROC_H
#define SL_INPROC_H

#include <pthread.h>

#include "job_int.h"
#include "sluice/host.h"

/* systems.<sys>.streams.<stream>.* */
typedef struct sl_inproc_stream_conf {
    int partitions;
    int queue_size;
} sl_inproc_stream_conf_t;

/* A pushed record waiting in its partition's queue. */
typedef struct sl_hitem {
    struct sl_hitem *next;
    sl_buf_t *buf;
    char *key;
    size_t keylen;
    int64_t offset;
} sl_hitem_t;

typedef struct sl_hpart {
    struct sl_hin *hin;
    int idx;
    char id[16];
    sl_hitem_t *head, *tail;
    int count;
    int64_t next_offset; /* of the next push */
    int64_t committed;   /* -1: nothing committed */
    sl_part_t *live;     /* the running partition (between part_open and part_close) */
    struct event *wake_ev; /* on live's worker: wakes it there (the host is another thread) */
    int want_room;       /* a push was refused: call the room callback when one is taken */
} sl_hpart_t;

typedef struct sl_hin {
    char *name; /* "<system>.<stream>" */
    sl_stream_t *st;
    const sl_inproc_stream_conf_t *c;
    sl_hpart_t *parts;
    int nparts;
    int ended;
    sl_host_room_cb room_cb;
    void *room_opaque;
    sl_host_commit_cb commit_cb;
    void *commit_opaque;
} sl_hin_t;

/* Where a host record is. */
enum { SL_HREC_QUEUED, SL_HREC_HELD, SL_HREC_ACKED, SL_HREC_DROPPED };

/* The state of one host output on one worker (its producer). Lives in the hub until
 * sl_job_destroy(), so a late sl_host_record_ack() finds it closed rather than freed. */
typedef struct sl_hw {
    struct sl_hout *ho;
    sl_output_t *out;
    struct event *ack_ev; /* on the worker's base: hands acknowledged records back */
    struct sl_host_record *acked;
    int closed;
} sl_hw_t;

typedef struct sl_hout {
    struct sl_host *host;
    char *name;
    sl_stream_t *st;
    struct sl_host_record *qhead, *qtail; /* waiting for sl_host_output_poll() */
    sl_hw_t **ws;                         /* per worker index */
    int nws;
    sl_host_record_cb cb;
    void *cb_opaque;
} sl_hout_t;

struct sl_host_record {
    struct sl_host_record *next;         /* queue or acked list */
    struct sl_host_record *aprev, *anext; /* every live record of the hub */
    sl_hw_t *hw;
    sl_record_t *rec; /* the worker's record, acknowledged on its thread; NULL once dropped */
    int state;
    /* copies made on the worker thread: the host never touches rec */
    void *data;
    size_t len;
    char *key;
    size_t keylen;
    char **headers; /* 2 * nheaders */
    int nheaders;
    int64_t event_time;
    sl_source_t src;
    char *strs[5];
};

struct sl_host {
    sl_job_t *job;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    sl_hin_t *ins;
    int nins;
    sl_hout_t *outs;
    int nouts;
    struct sl_host_record *all;
    int ended; /* sl_job_run() returned */
};

extern const sl_system_plugin_t sl_system_inproc;

/* The hub's view of an input / output stream of the job (NULL when not a host stream). */
sl_hin_t *sl_host_find_in(struct sl_host *host, const sl_stream_t *st);
sl_hout_t *sl_host_find_out(struct sl_host *host, const sl_stream_t *st);
/* Unlinks hr from the hub's list (lock held) and frees it (lock held or not). */
void sl_host_record_unlink(struct sl_host *host, struct sl_host_record *hr);
void sl_host_record_free(struct sl_host_record *hr);

#endif
