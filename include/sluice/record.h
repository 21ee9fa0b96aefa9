/*
 * sluice/record.h: the unit of data flowing from a system consumer through an operator chain to
 * the producers. A record has a key, a payload (a slice of a reference-counted buffer, shared
 * and never copied on the way through a chain), string headers, an event time and the metadata
 * of where it came from. Records are reference counted but NOT thread-safe: a record lives on
 * the worker thread of the partition it came from.
 */
#ifndef SLUICE_RECORD_H
#define SLUICE_RECORD_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_buf sl_buf_t;
typedef struct sl_record sl_record_t;

/* Where a record came from. All strings are borrowed from the record (or the partition that
 * produced it) and valid while the caller holds its reference to the record. */
typedef struct sl_source {
    const char *system;    /* "kinesis", "files", ... (the job's system name) */
    const char *stream;    /* stream, topic or file name */
    const char *partition; /* shard id, partition number or file path */
    const char *offset;    /* sequence number or byte offset, as text */
    int64_t subseq;        /* KPL sub-sequence number, 0 when not aggregated */
    int64_t arrival_ms;    /* approximate arrival time, ms since the epoch */
    const char *kind;      /* the system's kind: "kinesis", "file", "pulsar", ... ("" if none) */
} sl_source_t;

/* --- buffers ------------------------------------------------------------------------------- */

/* A new buffer holding a copy of data[0..len) (data NULL: len uninitialised bytes to fill
 * through sl_buf_data()). Caller owns one reference (sl_buf_unref()).
 * Returns NULL when out of memory. */
SL_EXPORT sl_buf_t *sl_buf_new(const void *data, size_t len);

/* A new buffer that takes ownership of data (allocated by malloc) without copying it; data is
 * freed with free() when the last reference goes. On failure data is NOT freed. */
SL_EXPORT sl_buf_t *sl_buf_wrap(void *data, size_t len);

/* Adds a reference and returns buf. */
SL_EXPORT sl_buf_t *sl_buf_ref(sl_buf_t *buf);

/* Drops a reference; frees the buffer with the last one. Accepts NULL. */
SL_EXPORT void sl_buf_unref(sl_buf_t *buf);

/* The bytes and length of buf. Borrowed, valid while a reference is held. */
SL_EXPORT const void *sl_buf_data(const sl_buf_t *buf);
SL_EXPORT size_t sl_buf_len(const sl_buf_t *buf);

/* The writable bytes of buf, for filling a buffer made with sl_buf_new(NULL, len) (or
 * sl_buf_wrap()) before it is shared: once a record or another thread sees it, it must not
 * change. Borrowed, valid while a reference is held. The thread holding the buffer. */
SL_EXPORT void *sl_buf_mutable(sl_buf_t *buf);

/* --- records ------------------------------------------------------------------------------- */

/* A new empty record (no key, empty payload, event time 0, no source). Caller owns one
 * reference. Returns NULL when out of memory. */
SL_EXPORT sl_record_t *sl_record_new(void);

/* A new record derived from parent: same source metadata, same key, same payload buffer
 * (shared, not copied), a copy of the headers, same event time, and the same checkpoint
 * tracking (the parent's source offset is not committed while the derived record lives or is
 * unacknowledged). Caller owns one reference. parent is borrowed. */
SL_EXPORT sl_record_t *sl_record_derive(const sl_record_t *parent);

/* Adds a reference and returns rec. */
SL_EXPORT sl_record_t *sl_record_ref(sl_record_t *rec);

/* Drops a reference; frees the record with the last one. Accepts NULL. */
SL_EXPORT void sl_record_unref(sl_record_t *rec);

/* The payload bytes; *len receives the length (may be NULL). Borrowed, valid until the payload
 * is replaced or the last reference is dropped. Never NULL (an empty payload is ""). */
SL_EXPORT const void *sl_record_data(const sl_record_t *rec, size_t *len);

/* Replaces the payload with a copy of data[0..len). */
SL_EXPORT sl_err_t sl_record_set_data(sl_record_t *rec, const void *data, size_t len);

/* Replaces the payload with buf[off..off+len) without copying; takes a new reference to buf
 * (the caller keeps its own). */
SL_EXPORT sl_err_t sl_record_set_slice(sl_record_t *rec, sl_buf_t *buf, size_t off, size_t len);

/* The key (NULL when the record has none); *len receives its length (may be NULL). Borrowed
 * like sl_record_data(). */
SL_EXPORT const char *sl_record_key(const sl_record_t *rec, size_t *len);

/* Replaces the key with a copy of key[0..len); key NULL removes it. */
SL_EXPORT sl_err_t sl_record_set_key(sl_record_t *rec, const char *key, size_t len);

/* The value of header name, or NULL. Borrowed, valid until the header is changed. */
SL_EXPORT const char *sl_record_header(const sl_record_t *rec, const char *name);

/* Sets header name to value (both copied); value NULL removes the header. */
SL_EXPORT sl_err_t sl_record_set_header(sl_record_t *rec, const char *name, const char *value);

/* Number of headers and the i-th one (in insertion order); name and value borrowed. Returns
 * SL_ERR_NOENT when i is out of range. */
SL_EXPORT int sl_record_header_count(const sl_record_t *rec);
SL_EXPORT sl_err_t sl_record_header_at(const sl_record_t *rec, int i, const char **name,
                                       const char **value);

/* Event time in ms since the epoch (0 = unknown). */
SL_EXPORT int64_t sl_record_event_time(const sl_record_t *rec);
SL_EXPORT void sl_record_set_event_time(sl_record_t *rec, int64_t ms);

/* Source metadata. The struct is borrowed from rec. */
SL_EXPORT const sl_source_t *sl_record_source(const sl_record_t *rec);

#ifdef __cplusplus
}
#endif
#endif
