/*
 * file_producer.c: appending records to a file, one line each (the payload, or a JSON object
 * with the record's metadata). Records are buffered and written with one write() per flush
 * (O_APPEND, so the workers of a job can share a file and lines never interleave): when the
 * buffer reaches write.buffer.size, when write.linger has passed since the oldest buffered
 * record arrived (so `sluice run job | jq` never looks hung behind a commit interval), and when
 * the runtime flushes. A record is acknowledged once its bytes were handed to the kernel, or
 * after fdatasync with `fsync`.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "sluice/log.h"

#include "file.h"
#include "util_str.h"

typedef struct fout {
    int fd;
    const file_stream_conf_t *c;
    sl_sb_t buf;
    sl_record_t **pending;
    int npending, cap;
    sl_output_t *out;
    struct event *linger_ev; /* writes the buffer write.linger after its first record */
    int linger_armed;
} fout_t;

static sl_err_t write_buffered(fout_t *fo, char *why, size_t whylen);

static void linger_cb(evutil_socket_t fd, short what, void *arg) {
    fout_t *fo = arg;
    char why[256];
    (void)fd;
    (void)what;
    fo->linger_armed = 0;
    /* A failed write fails the job whatever task.error.policy says, as the runtime's own
     * flushes do: the output cannot take records any more. */
    if (write_buffered(fo, why, sizeof(why)) != SL_OK)
        sl_output_abort(fo->out, "%s", why);
}

sl_err_t file_out_open_fd(sl_output_t *out, int fd, void **statep) {
    fout_t *fo = calloc(1, sizeof(*fo));
    if (!fo) {
        close(fd);
        return sl_output_fail(out, "out of memory");
    }
    fo->c = sl_output_stream_conf(out);
    fo->fd = fd;
    fo->out = out;
    if (!(fo->linger_ev = evtimer_new(sl_output_base(out), linger_cb, fo))) {
        close(fd);
        free(fo);
        return sl_output_fail(out, "out of memory");
    }
    *statep = fo;
    return SL_OK;
}

/* A crash in the middle of a write() can leave a torn last line. It was never acknowledged,
 * so its record was not committed and will be written again: cut the torn bytes off. */
static sl_err_t repair_tail(sl_output_t *out, int fd, const char *path) {
    char tail[4096];
    struct stat st;
    off_t end, pos;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return SL_OK;
    end = st.st_size;
    for (pos = end; pos > 0;) {
        size_t want = pos > (off_t)sizeof(tail) ? sizeof(tail) : (size_t)pos;
        ssize_t r = pread(fd, tail, want, pos - (off_t)want);
        if (r != (ssize_t)want)
            return sl_output_fail(out, "'%s': cannot read its end: %s", path, strerror(errno));
        for (ssize_t i = r - 1; i >= 0; i--) {
            if (tail[i] != '\n')
                continue;
            off_t keep = pos - (off_t)want + i + 1;
            if (keep == end)
                return SL_OK;
            sl_log(SL_LOG_WARN, "file", "%s: removing a torn last line (%lld bytes) left by a "
                   "crash; its record was not acknowledged and will be written again", path,
                   (long long)(end - keep));
            if (ftruncate(fd, keep) != 0)
                return sl_output_fail(out, "'%s': ftruncate: %s", path, strerror(errno));
            return SL_OK;
        }
        pos -= (off_t)want;
    }
    sl_log(SL_LOG_WARN, "file", "%s: removing a torn line (%lld bytes) left by a crash", path,
           (long long)end);
    if (ftruncate(fd, 0) != 0)
        return sl_output_fail(out, "'%s': ftruncate: %s", path, strerror(errno));
    return SL_OK;
}

sl_err_t file_out_open(sl_output_t *out, void **statep) {
    const file_stream_conf_t *c = sl_output_stream_conf(out);
    const char *path = c->path && *c->path ? c->path : sl_output_stream(out);
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_output_fail(out, "cannot open '%s' for appending: %s", path, strerror(errno));
    /* Only the first worker to open the file repairs it: later ones find it clean. */
    if (repair_tail(out, fd, path) != SL_OK) {
        close(fd);
        return SL_ERR_IO;
    }
    return file_out_open_fd(out, fd, statep);
}


void file_format_json(sl_sb_t *sb, const sl_record_t *rec) {
    const sl_source_t *src = sl_record_source(rec);
    size_t len, klen;
    const char *data = sl_record_data(rec, &len), *key = sl_record_key(rec, &klen);
    int nh = sl_record_header_count(rec);

    sl_sb_puts(sb, "{\"key\":");
    if (key)
        sl_sb_json_str(sb, key, klen);
    else
        sl_sb_puts(sb, "null");
    sl_sb_puts(sb, ",\"payload\":");
    sl_sb_json_str(sb, data, len);
    sl_sb_puts(sb, ",\"headers\":{");
    for (int i = 0; i < nh; i++) {
        const char *name, *value;
        sl_record_header_at(rec, i, &name, &value);
        if (i)
            sl_sb_putc(sb, ',');
        sl_sb_json_str(sb, name, strlen(name));
        sl_sb_putc(sb, ':');
        sl_sb_json_str(sb, value, strlen(value));
    }
    sl_sb_printf(sb, "},\"event_time\":%" PRId64 ",\"system\":", sl_record_event_time(rec));
    sl_sb_json_str(sb, src->system, strlen(src->system));
    sl_sb_puts(sb, ",\"stream\":");
    sl_sb_json_str(sb, src->stream, strlen(src->stream));
    sl_sb_puts(sb, ",\"partition\":");
    sl_sb_json_str(sb, src->partition, strlen(src->partition));
    sl_sb_puts(sb, ",\"offset\":");
    sl_sb_json_str(sb, src->offset, strlen(src->offset));
    sl_sb_printf(sb, ",\"subseq\":%" PRId64 "}", src->subseq);
}

sl_err_t file_out_send(sl_output_t *out, void *state, sl_record_t *rec) {
    fout_t *fo = state;
    size_t len;
    const void *data;

    if (fo->npending == fo->cap) {
        int cap = fo->cap ? fo->cap * 2 : 1024;
        sl_record_t **grown = realloc(fo->pending, sizeof(*grown) * (size_t)cap);
        if (!grown)
            return sl_output_fail(out, "out of memory");
        fo->pending = grown;
        fo->cap = cap;
    }
    if (fo->c->format == 1) {
        file_format_json(&fo->buf, rec);
    } else {
        data = sl_record_data(rec, &len);
        sl_sb_append(&fo->buf, data, len);
    }
    sl_sb_putc(&fo->buf, '\n');
    if (fo->buf.oom)
        return sl_output_fail(out, "out of memory");
    fo->pending[fo->npending++] = rec;
    if ((int64_t)fo->buf.len >= fo->c->write_buffer)
        return file_out_flush(out, state, 1);
    if (!fo->linger_armed) {
        struct timeval tv = {(time_t)(fo->c->write_linger_ms / 1000),
                             (suseconds_t)((fo->c->write_linger_ms % 1000) * 1000)};
        evtimer_add(fo->linger_ev, &tv);
        fo->linger_armed = 1;
    }
    return SL_OK;
}

/* Writes the buffer and acknowledges its records (with the outcome); why says what failed. */
static sl_err_t write_buffered(fout_t *fo, char *why, size_t whylen) {
    sl_err_t err = SL_OK;
    size_t done = 0;

    if (fo->linger_armed) {
        evtimer_del(fo->linger_ev);
        fo->linger_armed = 0;
    }
    while (done < fo->buf.len) {
        ssize_t w = write(fo->fd, fo->buf.buf + done, fo->buf.len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(why, whylen, "write: %s", strerror(errno));
            err = SL_ERR_IO;
            break;
        }
        done += (size_t)w;
    }
    if (err == SL_OK && fo->c->fsync && fo->npending && fdatasync(fo->fd) != 0) {
        snprintf(why, whylen, "fdatasync: %s", strerror(errno));
        err = SL_ERR_IO;
    }
    /* Acknowledging may free records and advance checkpoints; take the batch first. */
    int n = fo->npending;
    fo->npending = 0;
    sl_sb_reset(&fo->buf);
    for (int i = 0; i < n; i++)
        sl_output_ack(fo->out, fo->pending[i], err);
    return err;
}

sl_err_t file_out_flush(sl_output_t *out, void *state, int sync) {
    char why[256];
    (void)sync;
    if (write_buffered(state, why, sizeof(why)) != SL_OK)
        return sl_output_fail(out, "%s", why);
    return SL_OK;
}

void file_out_close(sl_output_t *out, void *state) {
    fout_t *fo = state;
    if (!fo)
        return;
    if (fo->npending)
        file_out_flush(out, fo, 1);
    if (fo->linger_ev)
        event_free(fo->linger_ev);
    close(fo->fd);
    sl_sb_free(&fo->buf);
    free(fo->pending);
    free(fo);
}
