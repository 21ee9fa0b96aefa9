/*
 * tcplines.c: an example user connector, built against the installed <sluice/system.h> and
 * loaded with `systems.<sys>.library=./libtcplines.so`. It is a line-oriented TCP source: the
 * input listens on 127.0.0.1:<port>; each accepted connection becomes a partition and each line
 * it sends (without the newline) a record. Once the job committed record n of a connection
 * (every sink acknowledged it and everything before it), the connector writes "ack <n>\n" back
 * to that client, so the client knows which lines are safe and may forget them.
 *
 * Threads: discover() accepts connections on the main thread and parks each socket in a table
 * under the partition id it announces; part_open() on the partition's worker takes it from
 * there. Everything else of a connection happens on its worker.
 *
 *     systems.tcp.samza.factory=tcplines
 *     systems.tcp.library=./libtcplines.so
 *     systems.tcp.streams.lines.port=7070
 *     task.inputs=tcp.lines
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <sluice/system.h>

#define MAX_LINE 65536

typedef struct {
    int port;
    int64_t accept_ms;
} tcp_stream_conf_t;

static const sl_prop_t tcp_stream_props[] = {
    {"port", SL_PROP_INT, offsetof(tcp_stream_conf_t, port), NULL, 1, 65535, NULL,
     SL_PROP_F_REQUIRED, "The TCP port listened on, on 127.0.0.1."},
    {"accept.interval", SL_PROP_DURATION, offsetof(tcp_stream_conf_t, accept_ms), "50ms", 1,
     60000, NULL, 0, "How often new connections are accepted."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* A connection accepted but not yet opened by its worker. */
typedef struct parked {
    char id[32];
    int fd;
    struct parked *next;
} parked_t;

typedef struct {
    int listen_fd;
    unsigned next_conn;
    pthread_mutex_t lock; /* guards parked: discover() adds, part_open() takes */
    parked_t *parked;
} tcp_input_t;

typedef struct {
    int fd;
    int64_t delivered; /* records delivered so far: the next one is delivered + 1 */
    size_t len;        /* bytes of an unfinished line in buf */
    char buf[MAX_LINE];
} tcp_part_t;

static sl_err_t tcp_in_open(sl_input_t *in, void **statep) {
    const tcp_stream_conf_t *c = sl_input_stream_conf(in);
    struct sockaddr_in sa = {0};
    int one = 1;
    tcp_input_t *ti = calloc(1, sizeof(*ti));

    if (!ti)
        return sl_input_fail(in, "out of memory");
    pthread_mutex_init(&ti->lock, NULL);
    *statep = ti;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)c->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((ti->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        return sl_input_fail(in, "socket: %s", strerror(errno));
    setsockopt(ti->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(ti->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(ti->listen_fd, 16) < 0)
        return sl_input_fail(in, "listening on 127.0.0.1:%d: %s", c->port, strerror(errno));
    sl_input_set_discover_interval(in, c->accept_ms);
    return SL_OK;
}

static void tcp_in_close(sl_input_t *in, void *state) {
    tcp_input_t *ti = state;
    (void)in;
    if (!ti)
        return;
    while (ti->parked) {
        parked_t *p = ti->parked;
        ti->parked = p->next;
        close(p->fd);
        free(p);
    }
    if (ti->listen_fd > 0)
        close(ti->listen_fd);
    pthread_mutex_destroy(&ti->lock);
    free(ti);
}

/* Accepts every waiting connection and announces it as a partition. Main thread. */
static sl_err_t tcp_discover(sl_input_t *in) {
    tcp_input_t *ti = sl_input_state(in);
    int fd;

    while ((fd = accept4(ti->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        parked_t *p = calloc(1, sizeof(*p));
        if (!p) {
            close(fd);
            return sl_input_fail(in, "out of memory");
        }
        /* The pid keeps ids (and so checkpoints) of different runs apart: a connection never
         * resumes. */
        snprintf(p->id, sizeof(p->id), "conn-%ld-%u", (long)getpid(), ++ti->next_conn);
        p->fd = fd;
        pthread_mutex_lock(&ti->lock);
        p->next = ti->parked;
        ti->parked = p;
        pthread_mutex_unlock(&ti->lock);
        if (sl_input_add_partition(in, p->id) != SL_OK)
            return sl_input_fail(in, "cannot announce partition %s", p->id);
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        return sl_input_fail(in, "accept: %s", strerror(errno));
    return SL_OK;
}

static sl_err_t tcp_part_open(sl_part_t *part, const char *offset, int64_t subseq,
                              void **statep) {
    tcp_input_t *ti = sl_input_state(sl_part_input(part));
    tcp_part_t *tp;
    parked_t **pp, *found = NULL;

    (void)offset; /* a connection is new: there is nothing to resume */
    (void)subseq;
    pthread_mutex_lock(&ti->lock);
    for (pp = &ti->parked; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->id, sl_part_id(part))) {
            found = *pp;
            *pp = found->next;
            break;
        }
    pthread_mutex_unlock(&ti->lock);
    if (!found)
        return sl_part_fail(part, "no connection for partition %s", sl_part_id(part));
    if (!(tp = calloc(1, sizeof(*tp)))) {
        close(found->fd);
        free(found);
        return sl_part_fail(part, "out of memory");
    }
    tp->fd = found->fd;
    free(found);
    sl_part_set_idle_interval(part, 10);
    *statep = tp;
    return SL_OK;
}

/* Delivers line[0..len) as record delivered + 1; its offset is the zero-padded record number
 * (offsets of a partition increase). */
static sl_err_t deliver_line(sl_part_t *part, tcp_part_t *tp, const char *line, size_t len) {
    char offset[24];
    sl_buf_t *buf = sl_buf_new(line, len);
    sl_err_t err;

    if (!buf)
        return sl_part_fail(part, "out of memory");
    snprintf(offset, sizeof(offset), "%020" PRId64, tp->delivered + 1);
    err = sl_part_deliver(part, buf, 0, len, NULL, 0, offset, 0, 0);
    sl_buf_unref(buf);
    if (err == SL_OK)
        tp->delivered++;
    return err;
}

static sl_poll_t tcp_part_poll(sl_part_t *part, void *state, int max) {
    tcp_part_t *tp = state;
    int n = 0;

    while (n < max) {
        char *nl = memchr(tp->buf, '\n', tp->len);
        if (nl) {
            size_t len = (size_t)(nl - tp->buf);
            if (deliver_line(part, tp, tp->buf, len) != SL_OK)
                return SL_POLL_EOF;
            memmove(tp->buf, nl + 1, tp->len - len - 1);
            tp->len -= len + 1;
            n++;
            continue;
        }
        if (tp->len == sizeof(tp->buf)) {
            char at[24];
            snprintf(at, sizeof(at), "%020" PRId64, tp->delivered + 1);
            if (sl_part_bad_record(part, at, "a line longer than %d bytes", MAX_LINE) != SL_OK)
                return SL_POLL_EOF;
            tp->len = 0;
            continue;
        }
        ssize_t r = recv(tp->fd, tp->buf + tp->len, sizeof(tp->buf) - tp->len, 0);
        if (r > 0) {
            tp->len += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return n ? SL_POLL_MORE : SL_POLL_IDLE;
        /* the client closed (or the connection broke): a last line without newline counts */
        if (tp->len && deliver_line(part, tp, tp->buf, tp->len) != SL_OK)
            return SL_POLL_EOF;
        tp->len = 0;
        return SL_POLL_EOF;
    }
    return SL_POLL_MORE;
}

/* Record <offset> and everything before it are committed: tell the client. */
static sl_err_t tcp_part_commit(sl_part_t *part, void *state, const char *offset,
                                int64_t subseq) {
    tcp_part_t *tp = state;
    char line[48];
    int len = snprintf(line, sizeof(line), "ack %" PRId64 "\n", (int64_t)strtoll(offset, NULL, 10));
    (void)part;
    (void)subseq;
    /* A client that went away (or stopped reading) cannot be told; that is not the job's
     * failure: the records are committed either way, and a later ack covers this one. */
    (void)send(tp->fd, line, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    return SL_OK;
}

static void tcp_part_close(sl_part_t *part, void *state) {
    tcp_part_t *tp = state;
    (void)part;
    if (!tp)
        return;
    close(tp->fd);
    free(tp);
}

static const char *const tcp_factories[] = {"tcplines", NULL};

SL_EXPORT const sl_system_plugin_t sluice_system_plugin = {
    .abi_version = SL_SYSTEM_ABI_VERSION,
    .name = "tcplines",
    .factories = tcp_factories,
    .description = "Example: lines from TCP clients on 127.0.0.1, acknowledged once committed.",
    .stream_props = tcp_stream_props,
    .stream_conf_size = sizeof(tcp_stream_conf_t),
    .in_open = tcp_in_open,
    .in_close = tcp_in_close,
    .discover = tcp_discover,
    .part_open = tcp_part_open,
    .part_poll = tcp_part_poll,
    .part_commit = tcp_part_commit,
    .part_close = tcp_part_close,
};
