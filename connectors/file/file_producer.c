/*
 * file_producer.c: appending records to a file, one line each (the payload, or a JSON object
 * with the record's metadata). Records are buffered and written with one write() per flush
 * (O_APPEND, so the workers of a job can share a file and lines never interleave): when the
 * buffer reaches write.buffer.size, when write.linger has passed since the oldest buffered
 * record arrived (so `sluice run job | jq` never looks hung behind a commit interval), and when
 * the runtime flushes. A record is acknowledged once its bytes were handed to the kernel, or
 * after fdatasync with `fsync`.
 *
 * With partitions=N the output is a directory of N files (the intermediate stream of a
 * repartitioning job): each file has a buffer of its own, a record's line goes to the file its
 * key hashes to (or to all of them when broadcast), and a flush writes every buffer before the
 * batch is acknowledged, so a record is acknowledged only once all its lines were written.
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

typedef struct ffile {
    int fd;
    sl_sb_t buf;
    char *path; /* partition files only: named in write errors (the output name is not enough) */
} ffile_t;

typedef struct fout {
    ffile_t *files;
    int nfiles;
    size_t buffered; /* bytes in all the buffers: write.buffer.size bounds the sum */
    const file_stream_conf_t *c;
    sl_record_t **pending;
    int npending, cap;
    sl_output_t *out;
    struct event *linger_ev; /* writes the buffers write.linger after their first record */
    int linger_armed;
} fout_t;

static sl_err_t write_buffered(fout_t *fo, char *why, size_t whylen);

static void linger_cb(evutil_socket_t fd, short what, void *arg) {
    fout_t *fo = arg;
    char why[512];
    (void)fd;
    (void)what;
    fo->linger_armed = 0;
    /* A failed write fails the job whatever task.error.policy says, as the runtime's own
     * flushes do: the output cannot take records any more. */
    if (write_buffered(fo, why, sizeof(why)) != SL_OK)
        sl_output_abort(fo->out, "%s", why);
}

static void fout_free(fout_t *fo) {
    if (fo->linger_ev)
        event_free(fo->linger_ev);
    for (int i = 0; fo->files && i < fo->nfiles; i++) {
        if (fo->files[i].fd >= 0)
            close(fo->files[i].fd);
        sl_sb_free(&fo->files[i].buf);
        free(fo->files[i].path);
    }
    free(fo->files);
    free(fo->pending);
    free(fo);
}

/* A producer of nfiles files, all still closed (fd -1). */
static fout_t *fout_new(sl_output_t *out, int nfiles) {
    fout_t *fo = calloc(1, sizeof(*fo));
    if (!fo)
        return NULL;
    fo->c = sl_output_stream_conf(out);
    fo->out = out;
    if (!(fo->files = calloc((size_t)nfiles, sizeof(*fo->files)))) {
        fout_free(fo);
        return NULL;
    }
    fo->nfiles = nfiles;
    for (int i = 0; i < nfiles; i++)
        fo->files[i].fd = -1;
    if (!(fo->linger_ev = evtimer_new(sl_output_base(out), linger_cb, fo))) {
        fout_free(fo);
        return NULL;
    }
    return fo;
}

sl_err_t file_out_open_fd(sl_output_t *out, int fd, void **statep) {
    fout_t *fo = fout_new(out, 1);
    if (!fo) {
        close(fd);
        return sl_output_fail(out, "out of memory");
    }
    fo->files[0].fd = fd;
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

/* Opens (creating) the file at path for appending and repairs its tail; -1 after
 * sl_output_fail(). */
static int open_append(sl_output_t *out, const char *path) {
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        sl_output_fail(out, "cannot open '%s' for appending: %s", path, strerror(errno));
        return -1;
    }
    /* Only the first worker to open the file repairs it: later ones find it clean. */
    if (repair_tail(out, fd, path) != SL_OK) {
        close(fd);
        return -1;
    }
    return fd;
}

/* mkdir -p path: the directory of a partitioned output may be the first thing the job writes.
 * Several workers may race here; EEXIST is success when a directory is what exists. */
static sl_err_t make_dirs(sl_output_t *out, const char *path) {
    struct stat st;
    char *dir = strdup(path);
    if (!dir)
        return sl_output_fail(out, "out of memory");
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char was = *p;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            sl_output_fail(out, "cannot create directory '%s': %s", dir, strerror(errno));
            free(dir);
            return SL_ERR_IO;
        }
        *p = was;
        if (!was)
            break;
    }
    free(dir);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return sl_output_fail(out, "'%s' (partitions=%d) is not a directory", path,
                              ((const file_stream_conf_t *)sl_output_stream_conf(out))->partitions);
    return SL_OK;
}

/* All N partition files are created here, before any record is written, so that a job
 * following the directory discovers every partition at once and not as keys happen to arrive. */
static sl_err_t open_partitioned(sl_output_t *out, const char *path, int n, void **statep) {
    fout_t *fo;
    if (make_dirs(out, path) != SL_OK)
        return SL_ERR_IO;
    if (!(fo = fout_new(out, n)))
        return sl_output_fail(out, "out of memory");
    for (int i = 0; i < n; i++) {
        sl_sb_t name = {0};
        sl_sb_printf(&name, "%s%spartition-%05d", path, path[strlen(path) - 1] == '/' ? "" : "/",
                     i);
        if (name.oom) {
            sl_sb_free(&name);
            fout_free(fo);
            return sl_output_fail(out, "out of memory");
        }
        fo->files[i].path = name.buf;
        if ((fo->files[i].fd = open_append(out, name.buf)) < 0) {
            fout_free(fo);
            return SL_ERR_IO;
        }
    }
    *statep = fo;
    return SL_OK;
}

sl_err_t file_out_open(sl_output_t *out, void **statep) {
    const file_stream_conf_t *c = sl_output_stream_conf(out);
    const char *path = c->path && *c->path ? c->path : sl_output_stream(out);
    int fd;
    if (c->partitions > 0)
        return open_partitioned(out, path, c->partitions, statep);
    if ((fd = open_append(out, path)) < 0)
        return SL_ERR_IO;
    return file_out_open_fd(out, fd, statep);
}

uint64_t file_fnv1a64(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int file_partition_of(const sl_record_t *rec, int n) {
    size_t klen;
    const char *key = sl_record_key(rec, &klen);
    if (!key || n <= 1)
        return 0;
    return (int)(file_fnv1a64(key, klen) % (uint64_t)n);
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
    size_t len, start;
    const void *data;
    int target = 0, all = 0;
    sl_sb_t *sb;

    if (fo->npending == fo->cap) {
        int cap = fo->cap ? fo->cap * 2 : 1024;
        sl_record_t **grown = realloc(fo->pending, sizeof(*grown) * (size_t)cap);
        if (!grown)
            return sl_output_fail(out, "out of memory");
        fo->pending = grown;
        fo->cap = cap;
    }
    if (fo->nfiles > 1) {
        all = sl_record_header(rec, FILE_BROADCAST_HEADER) != NULL;
        if (!all)
            target = file_partition_of(rec, fo->nfiles);
    }
    sb = &fo->files[target].buf;
    start = sb->len;
    if (fo->c->format == 1) {
        file_format_json(sb, rec);
    } else {
        data = sl_record_data(rec, &len);
        sl_sb_append(sb, data, len);
    }
    sl_sb_putc(sb, '\n');
    if (sb->oom)
        return sl_output_fail(out, "out of memory");
    fo->buffered += sb->len - start;
    /* A broadcast record: the same line in every other file (formatted once, into file 0). */
    for (int i = 1; all && i < fo->nfiles; i++) {
        sl_sb_append(&fo->files[i].buf, sb->buf + start, sb->len - start);
        if (fo->files[i].buf.oom)
            return sl_output_fail(out, "out of memory");
        fo->buffered += sb->len - start;
    }
    fo->pending[fo->npending++] = rec;
    if ((int64_t)fo->buffered >= fo->c->write_buffer)
        return file_out_flush(out, state, 1);
    if (!fo->linger_armed) {
        struct timeval tv = {(time_t)(fo->c->write_linger_ms / 1000),
                             (suseconds_t)((fo->c->write_linger_ms % 1000) * 1000)};
        evtimer_add(fo->linger_ev, &tv);
        fo->linger_armed = 1;
    }
    return SL_OK;
}

/* Writes one file's buffer (and syncs it with fsync); why says what failed. */
static sl_err_t write_file(fout_t *fo, ffile_t *f, char *why, size_t whylen) {
    const char *name = f->path ? f->path : "", *sep = f->path ? ": " : "";
    size_t done = 0;
    while (done < f->buf.len) {
        ssize_t w = write(f->fd, f->buf.buf + done, f->buf.len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(why, whylen, "%s%swrite: %s", name, sep, strerror(errno));
            return SL_ERR_IO;
        }
        done += (size_t)w;
    }
    if (fo->c->fsync && fo->npending && fdatasync(f->fd) != 0) {
        snprintf(why, whylen, "%s%sfdatasync: %s", name, sep, strerror(errno));
        return SL_ERR_IO;
    }
    return SL_OK;
}

/* Writes the buffers and acknowledges their records (with the outcome): a record is only
 * acknowledged after every file it has a line in was written; why says what failed. */
static sl_err_t write_buffered(fout_t *fo, char *why, size_t whylen) {
    sl_err_t err = SL_OK;

    if (fo->linger_armed) {
        evtimer_del(fo->linger_ev);
        fo->linger_armed = 0;
    }
    for (int i = 0; i < fo->nfiles && err == SL_OK; i++)
        if (fo->files[i].buf.len)
            err = write_file(fo, &fo->files[i], why, whylen);
    /* Acknowledging may free records and advance checkpoints; take the batch first. */
    int n = fo->npending;
    fo->npending = 0;
    for (int i = 0; i < fo->nfiles; i++)
        sl_sb_reset(&fo->files[i].buf);
    fo->buffered = 0;
    for (int i = 0; i < n; i++)
        sl_output_ack(fo->out, fo->pending[i], err);
    return err;
}

sl_err_t file_out_flush(sl_output_t *out, void *state, int sync) {
    char why[512];
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
    fout_free(fo);
}
