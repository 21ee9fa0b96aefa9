/*
 * file_consumer.c: reading newline-delimited files. discover() turns the stream's path (a file,
 * or a directory filtered by `include`) into partitions, one per file; each partition reads its
 * file in chunks through the line reader, which hands out every line as a slice of the chunk (no
 * copy). A record's offset is the byte position where its line starts; resuming after a
 * checkpoint re-reads that line to check it is still there and skips it. With format=json each
 * line is an envelope the producer wrote (file_format_json) and the record gets its key,
 * payload, headers and event time back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "file.h"
#include "sluice/record.h"
#include "sluice/log.h"
#include "util_str.h"

/* --- the line reader ----------------------------------------------------------------------- */

void sl_linereader_init(sl_linereader_t *lr, int fd, int64_t pos, size_t chunk, size_t max_record,
                        int strip_cr) {
    memset(lr, 0, sizeof(*lr));
    lr->fd = fd;
    lr->pos = pos;
    lr->chunk = chunk;
    lr->max_record = max_record;
    lr->strip_cr = strip_cr;
}

void sl_linereader_free(sl_linereader_t *lr) {
    sl_buf_unref(lr->buf);
    lr->buf = NULL;
    lr->start = lr->end = 0;
}

/* Makes room after the unread bytes: appends into the current chunk while it has space (no
 * record points past `end`), else moves the unread tail into a fresh chunk (records may still
 * point into the old one). */
static int make_room(sl_linereader_t *lr) {
    size_t pending = lr->end - lr->start, cap;
    sl_buf_t *nb;
    if (lr->buf && lr->end < sl_buf_len(lr->buf))
        return 0;
    cap = lr->chunk > pending * 2 ? lr->chunk : pending * 2;
    if (!(nb = sl_buf_new(NULL, cap)))
        return -1;
    if (pending)
        memcpy(sl_buf_mutable(nb), (char *)sl_buf_mutable(lr->buf) + lr->start, pending);
    sl_buf_unref(lr->buf);
    lr->buf = nb;
    lr->start = 0;
    lr->end = pending;
    return 0;
}

sl_line_t sl_linereader_next(sl_linereader_t *lr, int at_eof_final, size_t *off, size_t *len,
                             int64_t *at) {
    for (;;) {
        size_t pending = lr->end - lr->start;
        if (pending) {
            char *base = (char *)sl_buf_mutable(lr->buf);
            char *nl = memchr(base + lr->start, '\n', pending);
            if (nl) {
                size_t n = (size_t)(nl - (base + lr->start));
                *at = lr->skipping ? lr->skip_from : lr->pos;
                *off = lr->start;
                *len = n;
                lr->pos += (int64_t)n + 1;
                lr->start += n + 1;
                if (lr->skipping) {
                    lr->skipping = 0;
                    return SL_LINE_TOOBIG;
                }
                if (n > lr->max_record)
                    return SL_LINE_TOOBIG;
                if (lr->strip_cr && n && base[*off + n - 1] == '\r')
                    (*len)--;
                return SL_LINE_OK;
            }
            if (lr->skipping || pending > lr->max_record) {
                /* Oversized: drop what we have and keep discarding up to the newline. */
                if (!lr->skipping) {
                    lr->skipping = 1;
                    lr->skip_from = lr->pos;
                }
                lr->pos += (int64_t)pending;
                lr->start = lr->end;
                pending = 0;
            }
        }
        if (make_room(lr) != 0) {
            errno = ENOMEM;
            return SL_LINE_ERROR;
        }
        if (lr->check_ready) {
            struct pollfd pfd = {lr->fd, POLLIN, 0};
            int pr = poll(&pfd, 1, 0);
            if (pr == 0)
                return SL_LINE_AGAIN;
            if (pr < 0 && errno != EINTR)
                return SL_LINE_ERROR;
        }
        ssize_t r = read(lr->fd, (char *)sl_buf_mutable(lr->buf) + lr->end, sl_buf_len(lr->buf) - lr->end);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return SL_LINE_AGAIN;
            return SL_LINE_ERROR;
        }
        if (r == 0) {
            pending = lr->end - lr->start;
            if (!at_eof_final)
                return SL_LINE_EOF;
            if (lr->skipping) {
                lr->skipping = 0;
                *at = lr->skip_from;
                *off = lr->start;
                *len = 0;
                return SL_LINE_TOOBIG;
            }
            if (!pending)
                return SL_LINE_EOF;
            /* A last line without its newline ends a bounded input. */
            *at = lr->pos;
            *off = lr->start;
            *len = pending;
            lr->pos += (int64_t)pending;
            lr->start = lr->end;
            if (lr->strip_cr && pending && ((char *)sl_buf_mutable(lr->buf))[*off + pending - 1] == '\r')
                (*len)--;
            return SL_LINE_OK;
        }
        lr->end += (size_t)r;
    }
}

/* --- discovery ----------------------------------------------------------------------------- */

static const char *stream_path(const file_stream_conf_t *c, const char *stream) {
    return c->path && *c->path ? c->path : stream;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

sl_err_t file_discover(sl_input_t *in) {
    const file_stream_conf_t *c = sl_input_stream_conf(in);
    const char *path = stream_path(c, sl_input_stream(in));
    struct stat stbuf;
    sl_err_t err = SL_OK;
    DIR *dir = NULL;
    char **names = NULL;
    int n = 0, cap = 0;

    if (c->follow)
        sl_input_set_discover_interval(in, c->discover_ms);
    if (stat(path, &stbuf) != 0) {
        if (c->follow && errno == ENOENT) {
            sl_log_debug("file", "%s does not exist yet; waiting for it", path);
            return SL_OK;
        }
        return sl_input_fail(in, "path '%s': %s", path, strerror(errno));
    }
    if (!S_ISDIR(stbuf.st_mode))
        return sl_input_add_partition(in, path);
    if (!(dir = opendir(path)))
        return sl_input_fail(in, "path '%s': %s", path, strerror(errno));
    for (struct dirent *de; (de = readdir(dir));) {
        sl_sb_t full = {0};
        if (de->d_name[0] == '.' || fnmatch(c->include, de->d_name, 0) != 0)
            continue;
        sl_sb_printf(&full, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
                     de->d_name);
        if (full.oom || stat(full.buf, &stbuf) != 0 || !S_ISREG(stbuf.st_mode)) {
            sl_sb_free(&full);
            continue;
        }
        if (n == cap) {
            char **grown = realloc(names, sizeof(*names) * (size_t)(cap = cap ? cap * 2 : 16));
            if (!grown) {
                sl_sb_free(&full);
                err = SL_ERR_NOMEM;
                goto done;
            }
            names = grown;
        }
        names[n++] = full.buf;
    }
    qsort(names, (size_t)n, sizeof(*names), cmp_str);
    for (int i = 0; i < n && err == SL_OK; i++)
        err = sl_input_add_partition(in, names[i]);
done:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dir);
    return err;
}

/* --- partitions ---------------------------------------------------------------------------- */

typedef struct fpart {
    sl_linereader_t lr;
    const file_stream_conf_t *c;
    ino_t ino;
    int64_t skip_at; /* resume: the checkpointed line to verify and skip, or -1 */
} fpart_t;

static int open_at(sl_part_t *part, fpart_t *fp, int64_t pos) {
    struct stat stbuf;
    int fd = open(sl_part_id(part), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &stbuf) != 0) {
        sl_part_fail(part, "cannot open: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (pos < 0)
        pos = stbuf.st_size;
    if (pos > stbuf.st_size) {
        sl_log(SL_LOG_WARN, "file", "%s: checkpoint at byte %" PRId64 " is past the end (%" PRId64
               " bytes): the file was truncated or replaced; reading it from the start",
               sl_part_id(part), pos, (int64_t)stbuf.st_size);
        pos = 0;
        fp->skip_at = -1;
    }
    if (pos > 0 && lseek(fd, (off_t)pos, SEEK_SET) < 0) {
        sl_part_fail(part, "seek to %" PRId64 ": %s", pos, strerror(errno));
        close(fd);
        return -1;
    }
    fp->ino = stbuf.st_ino;
    sl_linereader_init(&fp->lr, fd, pos, (size_t)fp->c->read_buffer, (size_t)fp->c->max_record,
                       fp->c->strip_cr);
    return 0;
}

sl_err_t file_part_open(sl_part_t *part, const char *offset, int64_t subseq, void **statep) {
    fpart_t *fp = calloc(1, sizeof(*fp));
    int64_t pos = 0;
    (void)subseq;
    if (!fp)
        return sl_part_fail(part, "out of memory");
    fp->c = sl_input_stream_conf(sl_part_input(part));
    fp->skip_at = -1;
    if (offset) {
        if (sl_parse_int64(offset, &pos) != 0 || pos < 0) {
            free(fp);
            return sl_part_fail(part, "checkpoint offset '%s' is not a byte position", offset);
        }
        fp->skip_at = pos;
    } else if (sl_input_start_upcoming(sl_part_input(part))) {
        pos = -1;
    }
    if (open_at(part, fp, pos) != 0) {
        free(fp);
        return SL_ERR_IO;
    }
    sl_part_set_idle_interval(part, fp->c->poll_ms);
    *statep = fp;
    return SL_OK;
}

/* At the end of a followed file: notice truncation and replacement (log rotation). */
static void check_rotation(sl_part_t *part, fpart_t *fp) {
    struct stat now, cur;
    if (fstat(fp->lr.fd, &cur) == 0 && cur.st_size < fp->lr.pos) {
        sl_log(SL_LOG_WARN, "file", "%s: truncated to %" PRId64 " bytes; reading from the start",
               sl_part_id(part), (int64_t)cur.st_size);
        lseek(fp->lr.fd, 0, SEEK_SET);
        sl_linereader_free(&fp->lr);
        fp->lr.pos = 0;
        return;
    }
    if (stat(sl_part_id(part), &now) == 0 && now.st_ino != fp->ino) {
        sl_log(SL_LOG_INFO, "file", "%s: replaced (rotated); reading the new file from the start",
               sl_part_id(part));
        close(fp->lr.fd);
        sl_linereader_free(&fp->lr);
        fp->skip_at = -1;
        if (open_at(part, fp, 0) != 0)
            fp->lr.fd = -1;
    }
}

/* --- format=json: the producer's envelope ------------------------------------------------ */

/* Delivers the record of the envelope in line[0..len), or reports the line as a bad record
 * naming what is wrong with it. Only the envelope's key, payload, headers and event_time are
 * taken: its system, stream, partition and offset say where the record was before it was
 * written here, while the record's offset must stay this file's byte offset (the checkpoint). */
static sl_err_t deliver_envelope(sl_part_t *part, const char *line, size_t len,
                                 const char *offset) {
    const char **hdrs = NULL;
    json_error_t jerr;
    json_t *env, *v;
    sl_delivery_t d = {0};
    sl_err_t err;
    const char *bad = NULL, *name;
    char why[128];
    int nh = 0;

    /* JSON_ALLOW_NUL: a payload or key may hold NUL bytes (written as \u0000). */
    if (!(env = json_loadb(line, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr)))
        return sl_part_bad_record(part, offset, "format=json: not a JSON envelope: %s (column %d)",
                                  jerr.text, jerr.column);
    if (!json_is_object(env)) {
        bad = "not a JSON object";
    } else if (!(v = json_object_get(env, "payload"))) {
        bad = "no payload";
    } else if (!json_is_string(v)) {
        bad = "payload is not a string";
    } else {
        d.off = 0;
        d.len = json_string_length(v);
        if (!(d.buf = sl_buf_new(json_string_value(v), d.len))) {
            json_decref(env);
            return sl_part_fail(part, "out of memory");
        }
    }
    if (!bad && (v = json_object_get(env, "key")) && !json_is_null(v)) {
        if (!json_is_string(v))
            bad = "key is neither a string nor null";
        d.key = json_string_value(v);
        d.keylen = json_string_length(v);
    }
    if (!bad && (v = json_object_get(env, "event_time"))) {
        if (!json_is_integer(v))
            bad = "event_time is not an integer";
        d.event_time_ms = json_integer_value(v);
    }
    if (!bad && (v = json_object_get(env, "headers")) && !json_is_null(v)) {
        json_t *hv;
        if (!json_is_object(v))
            bad = "headers is not an object";
        else if (json_object_size(v) &&
                 !(hdrs = malloc(2 * json_object_size(v) * sizeof(*hdrs)))) {
            sl_buf_unref(d.buf);
            json_decref(env);
            return sl_part_fail(part, "out of memory");
        }
        json_object_foreach(v, name, hv) {
            if (bad)
                break;
            /* Header names and values are C strings: a NUL inside would cut them short. */
            if (!json_is_string(hv) || strlen(json_string_value(hv)) != json_string_length(hv)) {
                snprintf(why, sizeof(why), "header '%.64s' is not a string (without NUL bytes)",
                         name);
                bad = why;
            }
            hdrs[2 * nh] = name;
            hdrs[2 * nh + 1] = json_string_value(hv);
            nh++;
        }
    }
    if (bad) {
        free(hdrs);
        sl_buf_unref(d.buf);
        json_decref(env);
        return sl_part_bad_record(part, offset, "format=json: not a valid envelope: %s", bad);
    }
    d.offset = offset;
    d.headers = hdrs;
    d.nheaders = nh;
    err = sl_part_deliver_ex(part, &d);
    free(hdrs);
    sl_buf_unref(d.buf); /* the record holds its own reference */
    json_decref(env);
    return err;
}

sl_poll_t file_part_poll(sl_part_t *part, void *state, int max) {
    fpart_t *fp = state;
    char offbuf[32];
    size_t off, len;
    int64_t at;

    if (fp->lr.fd < 0)
        return SL_POLL_IDLE;
    for (int i = 0; i < max; i++) {
        sl_line_t r = sl_linereader_next(&fp->lr, !fp->c->follow, &off, &len, &at);
        switch (r) {
        case SL_LINE_OK:
            if (fp->skip_at >= 0) {
                int64_t expect = fp->skip_at;
                fp->skip_at = -1;
                if (at == expect)
                    continue; /* the checkpointed line itself: already processed */
                sl_log(SL_LOG_WARN, "file", "%s: no line starts at checkpoint %" PRId64
                       "; resuming at %" PRId64, sl_part_id(part), expect, at);
            }
            snprintf(offbuf, sizeof(offbuf), "%" PRId64, at);
            if (fp->c->format == 1) {
                if (deliver_envelope(part, (const char *)sl_buf_data(fp->lr.buf) + off, len,
                                     offbuf) != SL_OK)
                    return SL_POLL_IDLE;
            } else if (sl_part_deliver(part, fp->lr.buf, off, len, NULL, 0, offbuf, 0, 0)
                       != SL_OK) {
                return SL_POLL_IDLE;
            }
            break;
        case SL_LINE_TOOBIG:
            fp->skip_at = -1;
            snprintf(offbuf, sizeof(offbuf), "%" PRId64, at);
            if (sl_part_bad_record(part, offbuf, "line longer than max.record.size (%" PRId64
                                   " bytes)", fp->c->max_record) != SL_OK)
                return SL_POLL_IDLE;
            break;
        case SL_LINE_AGAIN:
            return SL_POLL_IDLE;
        case SL_LINE_EOF:
            if (!fp->c->follow)
                return SL_POLL_EOF;
            sl_part_set_lag(part, 0); /* at the head: what a bootstrap input waits for */
            check_rotation(part, fp);
            return SL_POLL_IDLE;
        case SL_LINE_ERROR:
            sl_part_fail(part, "read at byte %" PRId64 ": %s", fp->lr.pos, strerror(errno));
            return SL_POLL_IDLE;
        }
    }
    return SL_POLL_MORE;
}

void file_part_close(sl_part_t *part, void *state) {
    fpart_t *fp = state;
    (void)part;
    if (!fp)
        return;
    if (fp->lr.fd >= 0)
        close(fp->lr.fd);
    sl_linereader_free(&fp->lr);
    free(fp);
}
