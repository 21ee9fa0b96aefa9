/*
 * record_int.h: the inside of records and buffers, and the checkpoint tracking hook. A record
 * that came from a source partition points at that source offset's tracker; every record
 * derived from it points at the same tracker, and the tracker counts the records alive. Sinks
 * hold a reference to a record until they have acknowledged it, so the count reaches zero exactly
 * when everything derived from the source offset was dropped by an operator or acknowledged by
 * a sink: then on_zero tells the partition that offset is done.
 */
#ifndef SL_RECORD_INT_H
#define SL_RECORD_INT_H

#include "sluice/record.h"

typedef struct sl_track sl_track_t;
struct sl_track {
    int refs;                        /* live records pointing here */
    void (*on_zero)(sl_track_t *tr); /* called once when refs drops to 0 */
};

struct sl_buf {
    int refs;
    size_t len;
    void *data;
};

typedef struct sl_header {
    char *name;
    char *value;
} sl_header_t;

#define SL_RECORD_OFFSET_INLINE 64

struct sl_record {
    int refs;
    sl_buf_t *buf; /* payload = buf->data[off .. off+len); buf NULL = empty */
    size_t off, len;
    char *key;
    size_t keylen;
    sl_header_t *hdrs;
    int nhdrs, hdrcap;
    int64_t event_time;
    sl_source_t src; /* system/stream/partition borrowed from the partition; offset below */
    char offset_inline[SL_RECORD_OFFSET_INLINE];
    char *offset_heap;
    sl_track_t *track;
};

/* Sets the source metadata (system, stream, partition are borrowed and must outlive the
 * record; offset is copied) and attaches tracker tr (may be NULL), taking a reference on it. */
/* Sets what kind of system the record came from (the plugin's name; borrowed, static). */
void sl_record_set_kind(sl_record_t *rec, const char *kind);
sl_err_t sl_record_set_source(sl_record_t *rec, const char *system, const char *stream,
                              const char *partition, const char *offset, int64_t subseq,
                              int64_t arrival_ms, sl_track_t *tr);

#endif
