/*
 * record.c: records and the reference-counted buffers their payloads are slices of. A consumer
 * reads a chunk into one buffer and hands out records that point into it; operators pass them
 * on (or derive new ones) without copying the bytes. Reference counts are plain ints: a record
 * never leaves its partition's worker thread.
 */
#include <stdlib.h>
#include <string.h>

#include "record_int.h"
#include "util_str.h"

static const char empty[1] = "";

sl_buf_t *sl_buf_new(const void *data, size_t len) {
    sl_buf_t *buf = malloc(sizeof(*buf) + len + 1);
    if (!buf)
        return NULL;
    buf->refs = 1;
    buf->len = len;
    buf->data = (char *)(buf + 1);
    if (len && data)
        memcpy(buf->data, data, len);
    ((char *)buf->data)[len] = '\0';
    return buf;
}

sl_buf_t *sl_buf_wrap(void *data, size_t len) {
    sl_buf_t *buf = malloc(sizeof(*buf));
    if (!buf)
        return NULL;
    buf->refs = 1;
    buf->len = len;
    buf->data = data;
    return buf;
}

sl_buf_t *sl_buf_ref(sl_buf_t *buf) {
    buf->refs++;
    return buf;
}

void sl_buf_unref(sl_buf_t *buf) {
    if (!buf || --buf->refs > 0)
        return;
    if (buf->data != (void *)(buf + 1))
        free(buf->data);
    free(buf);
}

const void *sl_buf_data(const sl_buf_t *buf) {
    return buf->data;
}

void *sl_buf_mutable(sl_buf_t *buf) {
    return buf->data;
}

size_t sl_buf_len(const sl_buf_t *buf) {
    return buf->len;
}

sl_record_t *sl_record_new(void) {
    sl_record_t *rec = calloc(1, sizeof(*rec));
    if (!rec)
        return NULL;
    rec->refs = 1;
    rec->src.system = rec->src.stream = rec->src.partition = rec->src.kind = empty;
    rec->src.offset = rec->offset_inline;
    return rec;
}

static void track_release(sl_track_t *tr) {
    if (tr && --tr->refs == 0 && tr->on_zero)
        tr->on_zero(tr);
}

/* offset may be the record's own current offset: copy before freeing. */
static sl_err_t set_offset(sl_record_t *rec, const char *offset) {
    size_t n = offset ? strlen(offset) : 0;
    char *heap = NULL;
    if (n >= sizeof(rec->offset_inline) && !(heap = sl_strdup(offset)))
        return SL_ERR_NOMEM;
    if (!heap)
        memmove(rec->offset_inline, offset ? offset : "", n + 1);
    free(rec->offset_heap);
    rec->offset_heap = heap;
    rec->src.offset = heap ? heap : rec->offset_inline;
    return SL_OK;
}

void sl_record_set_kind(sl_record_t *rec, const char *kind) {
    rec->src.kind = kind ? kind : empty;
}

sl_err_t sl_record_set_source(sl_record_t *rec, const char *system, const char *stream,
                              const char *partition, const char *offset, int64_t subseq,
                              int64_t arrival_ms, sl_track_t *tr) {
    rec->src.system = system ? system : empty;
    rec->src.stream = stream ? stream : empty;
    rec->src.partition = partition ? partition : empty;
    rec->src.subseq = subseq;
    rec->src.arrival_ms = arrival_ms;
    if (tr)
        tr->refs++;
    track_release(rec->track);
    rec->track = tr;
    return set_offset(rec, offset);
}

sl_record_t *sl_record_derive(const sl_record_t *parent) {
    sl_record_t *rec = sl_record_new();
    if (!rec)
        return NULL;
    rec->src = parent->src;
    if (set_offset(rec, parent->src.offset) != SL_OK)
        goto fail;
    if (parent->buf) {
        rec->buf = sl_buf_ref(parent->buf);
        rec->off = parent->off;
        rec->len = parent->len;
    }
    if (parent->key && sl_record_set_key(rec, parent->key, parent->keylen) != SL_OK)
        goto fail;
    for (int i = 0; i < parent->nhdrs; i++)
        if (sl_record_set_header(rec, parent->hdrs[i].name, parent->hdrs[i].value) != SL_OK)
            goto fail;
    rec->event_time = parent->event_time;
    rec->track = parent->track;
    if (rec->track)
        rec->track->refs++;
    return rec;
fail:
    sl_record_unref(rec);
    return NULL;
}

sl_record_t *sl_record_ref(sl_record_t *rec) {
    rec->refs++;
    return rec;
}

void sl_record_unref(sl_record_t *rec) {
    if (!rec || --rec->refs > 0)
        return;
    sl_buf_unref(rec->buf);
    free(rec->key);
    for (int i = 0; i < rec->nhdrs; i++) {
        free(rec->hdrs[i].name);
        free(rec->hdrs[i].value);
    }
    free(rec->hdrs);
    free(rec->offset_heap);
    track_release(rec->track);
    free(rec);
}

const void *sl_record_data(const sl_record_t *rec, size_t *len) {
    if (len)
        *len = rec->buf ? rec->len : 0;
    return rec->buf ? (const char *)rec->buf->data + rec->off : empty;
}

sl_err_t sl_record_set_data(sl_record_t *rec, const void *data, size_t len) {
    sl_buf_t *buf = sl_buf_new(data, len);
    if (!buf)
        return SL_ERR_NOMEM;
    sl_buf_unref(rec->buf);
    rec->buf = buf;
    rec->off = 0;
    rec->len = len;
    return SL_OK;
}

sl_err_t sl_record_set_slice(sl_record_t *rec, sl_buf_t *buf, size_t off, size_t len) {
    if (!buf || off > buf->len || len > buf->len - off)
        return SL_ERR_INVAL;
    sl_buf_ref(buf);
    sl_buf_unref(rec->buf);
    rec->buf = buf;
    rec->off = off;
    rec->len = len;
    return SL_OK;
}

const char *sl_record_key(const sl_record_t *rec, size_t *len) {
    if (len)
        *len = rec->key ? rec->keylen : 0;
    return rec->key;
}

sl_err_t sl_record_set_key(sl_record_t *rec, const char *key, size_t len) {
    char *copy = NULL;
    /* Keys are bytes: copy all len of them (NULs included), plus a terminator. */
    if (key) {
        if (!(copy = malloc(len + 1)))
            return SL_ERR_NOMEM;
        memcpy(copy, key, len);
        copy[len] = '\0';
    }
    free(rec->key);
    rec->key = copy;
    rec->keylen = key ? len : 0;
    return SL_OK;
}

const char *sl_record_header(const sl_record_t *rec, const char *name) {
    for (int i = 0; i < rec->nhdrs; i++)
        if (!strcmp(rec->hdrs[i].name, name))
            return rec->hdrs[i].value;
    return NULL;
}

sl_err_t sl_record_set_header(sl_record_t *rec, const char *name, const char *value) {
    int i;
    char *v = NULL;
    if (!name)
        return SL_ERR_INVAL;
    for (i = 0; i < rec->nhdrs; i++)
        if (!strcmp(rec->hdrs[i].name, name))
            break;
    if (!value) {
        if (i == rec->nhdrs)
            return SL_OK;
        free(rec->hdrs[i].name);
        free(rec->hdrs[i].value);
        memmove(&rec->hdrs[i], &rec->hdrs[i + 1], sizeof(*rec->hdrs) * (size_t)(rec->nhdrs - i - 1));
        rec->nhdrs--;
        return SL_OK;
    }
    if (!(v = sl_strdup(value)))
        return SL_ERR_NOMEM;
    if (i < rec->nhdrs) {
        free(rec->hdrs[i].value);
        rec->hdrs[i].value = v;
        return SL_OK;
    }
    if (rec->nhdrs == rec->hdrcap) {
        int cap = rec->hdrcap ? rec->hdrcap * 2 : 4;
        sl_header_t *h = realloc(rec->hdrs, sizeof(*h) * (size_t)cap);
        if (!h)
            goto fail;
        rec->hdrs = h;
        rec->hdrcap = cap;
    }
    if (!(rec->hdrs[rec->nhdrs].name = sl_strdup(name)))
        goto fail;
    rec->hdrs[rec->nhdrs++].value = v;
    return SL_OK;
fail:
    free(v);
    return SL_ERR_NOMEM;
}

int sl_record_header_count(const sl_record_t *rec) {
    return rec->nhdrs;
}

sl_err_t sl_record_header_at(const sl_record_t *rec, int i, const char **name,
                             const char **value) {
    if (i < 0 || i >= rec->nhdrs)
        return SL_ERR_NOENT;
    if (name)
        *name = rec->hdrs[i].name;
    if (value)
        *value = rec->hdrs[i].value;
    return SL_OK;
}

int64_t sl_record_event_time(const sl_record_t *rec) {
    return rec->event_time;
}

void sl_record_set_event_time(sl_record_t *rec, int64_t ms) {
    rec->event_time = ms;
}

const sl_source_t *sl_record_source(const sl_record_t *rec) {
    return &rec->src;
}
