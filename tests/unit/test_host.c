/*
 * test_host.c: a job embedded in the test program through sluice/host.h and the `inproc`
 * system (runtime/inproc*.c): records pushed in, results polled (or called back) and
 * acknowledged, the bounded input queue's back pressure (non-blocking refusal, blocking timeout,
 * the room callback), the order of acknowledgement and commit (an offset is committed only once
 * the host acknowledged every output of it), the end of input ending the job, a stop with
 * records the host never acknowledged, and a restart resuming after the committed offset. The
 * job runs on its own thread (sl_job_start()); the tests wait on conditions, never on fixed
 * sleeps.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/sluice.h"
#include "unit.h"

static char dir[600];

/* The test job: host input app.in (parts partitions of queue records) through extra operators
 * to host output app.out, checkpoints in dir/ckpt.db, one worker thread. */
static sl_job_t *host_job(int parts, int queue, const char *extra) {
    char text[4096], err[2048];
    sl_conf_t *conf = sl_conf_new();
    sl_job_t *job;
    snprintf(text, sizeof(text),
             "job.name=host\n"
             "log.level=error\n"
             "job.checkpoint.sqlite.path=%s/ckpt.db\n"
             "task.inputs=app.in\n"
             "task.outputs=app.out\n"
             "task.commit.ms=10ms\n"
             "task.shutdown.ms=300ms\n"
             "systems.app.samza.factory=sluice.system.InProcessSystemFactory\n"
             "systems.app.streams.in.partitions=%d\n"
             "systems.app.streams.in.queue.size=%d\n"
             "%s",
             dir, parts, queue, extra ? extra : "");
    if (!conf)
        return NULL;
    if (sl_conf_load_string(conf, "host.properties", text, strlen(text), err, sizeof(err)) !=
        SL_OK) {
        fprintf(stderr, "%s\n", err);
        sl_conf_destroy(conf);
        return NULL;
    }
    if (!(job = sl_job_new(conf, err, sizeof(err)))) {
        fprintf(stderr, "job not built: %s\n", err);
        sl_conf_destroy(conf);
    }
    return job;
}

static void nap(void) {
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (up to 30 s, the machine is busy) until partition p of app.in is committed at want. */
static int wait_committed(sl_job_t *job, int p, int64_t want) {
    int64_t end = now_ms() + 30000, off = -1;
    while (now_ms() < end) {
        if (sl_host_input_committed(job, "app.in", p, &off) == SL_OK && off == want)
            return 1;
        nap();
    }
    fprintf(stderr, "partition %d: committed %lld, want %lld\n", p, (long long)off,
            (long long)want);
    return 0;
}

static int payload_is(const sl_host_record_t *hr, const char *text) {
    size_t len;
    const void *data = sl_host_record_data(hr, &len);
    return len == strlen(text) && !memcmp(data, text, len);
}

static const char *filter_ops = "task.operators=keep\n"
                                "operators.keep.type=filter\n"
                                "operators.keep.expr=payload LIKE 'keep%'\n";

/* --- push, poll, ack, end of input ----------------------------------------------------------- */

static void test_push_poll_ack(void) {
    sl_job_t *job;
    sl_host_record_t *hr[2];
    int64_t off;
    int part;
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(job = host_job(2, 8, filter_ops));
    CU_ASSERT_EQUAL(sl_host_input_partitions(job, "app.in"), 2);
    CU_ASSERT_EQUAL(sl_host_input_partitions(job, "app.nope"), SL_ERR_NOENT);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.nope", 0, NULL, 0, "x", 1, 0, NULL, NULL),
                    SL_ERR_NOENT);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 2, NULL, 0, "x", 1, 0, NULL, NULL),
                    SL_ERR_INVAL);
    CU_ASSERT_EQUAL(sl_host_input_committed(job, "app.in", 0, &off), SL_ERR_NOENT);
    CU_ASSERT_EQUAL(sl_job_wait(job), SL_ERR_STATE); /* not started */
    CU_ASSERT_EQUAL_FATAL(sl_job_start(job), SL_OK);
    CU_ASSERT_EQUAL(sl_job_start(job), SL_ERR_STATE);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, "k", 1, "keep 1", 6, 1000, &part, &off),
                    SL_OK);
    CU_ASSERT_EQUAL(part, 0);
    CU_ASSERT_EQUAL(off, 1);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "drop 2", 6, 1000, NULL, &off),
                    SL_OK);
    CU_ASSERT_EQUAL(off, 2);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 1, NULL, 0, "keep 3", 6, 1000, NULL, &off),
                    SL_OK);
    CU_ASSERT_EQUAL(off, 1);
    CU_ASSERT_EQUAL_FATAL(sl_host_output_poll(job, "app.out", 30000, &hr[0]), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_host_output_poll(job, "app.out", 30000, &hr[1]), SL_OK);
    if (strcmp(sl_host_record_source(hr[0])->partition, "0") != 0) {
        sl_host_record_t *t = hr[0];
        hr[0] = hr[1];
        hr[1] = t;
    }
    CU_ASSERT(payload_is(hr[0], "keep 1"));
    CU_ASSERT_STRING_EQUAL(sl_host_record_source(hr[0])->offset, "1");
    CU_ASSERT_STRING_EQUAL(sl_host_record_source(hr[0])->stream, "in");
    CU_ASSERT_STRING_EQUAL(sl_host_record_key(hr[0], NULL), "k");
    CU_ASSERT(payload_is(hr[1], "keep 3"));
    CU_ASSERT_STRING_EQUAL(sl_host_record_source(hr[1])->partition, "1");
    CU_ASSERT_PTR_NULL(sl_host_record_key(hr[1], NULL));
    sl_host_record_ack(hr[0]);
    sl_host_record_ack(hr[1]);
    /* The filtered record's offset (2) becomes committable too. */
    CU_ASSERT(wait_committed(job, 0, 2));
    CU_ASSERT(wait_committed(job, 1, 1));
    /* Ending the only input ends the job by itself. */
    CU_ASSERT_EQUAL(sl_host_input_end(job, "app.in"), SL_OK);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "late", 4, 0, NULL, NULL),
                    SL_ERR_STATE);
    CU_ASSERT_EQUAL(sl_job_wait(job), SL_OK);
    CU_ASSERT_PTR_NULL(sl_job_error(job));
    CU_ASSERT_EQUAL(sl_host_output_poll(job, "app.out", SL_HOST_FOREVER, &hr[0]),
                    SL_ERR_STOPPED);
    sl_job_destroy(job);
}

/* --- back pressure --------------------------------------------------------------------------- */

typedef struct room {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;
    int partition;
} room_t;

static void on_room(sl_job_t *job, const char *input, int partition, void *opaque) {
    room_t *r = opaque;
    (void)job;
    CU_ASSERT_STRING_EQUAL(input, "app.in");
    pthread_mutex_lock(&r->lock);
    r->calls++;
    r->partition = partition;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void test_backpressure(void) {
    sl_job_t *job;
    sl_host_record_t *hr;
    room_t r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, -1};
    int64_t t0, off;
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(job = host_job(1, 2, NULL));
    CU_ASSERT_EQUAL(sl_host_input_on_room(job, "app.in", on_room, &r), SL_OK);
    /* Not running yet: nothing takes from the queue. */
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "a", 1, 0, NULL, NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "b", 1, 0, NULL, NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "c", 1, 0, NULL, NULL),
                    SL_ERR_RETRY);
    t0 = now_ms();
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "c", 1, 50, NULL, NULL),
                    SL_ERR_RETRY);
    CU_ASSERT(now_ms() - t0 >= 49);
    CU_ASSERT_EQUAL(r.calls, 0);
    CU_ASSERT_EQUAL_FATAL(sl_job_start(job), SL_OK);
    /* The job takes the queued records: the callback says there is room. */
    pthread_mutex_lock(&r.lock);
    while (r.calls == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 30;
        if (pthread_cond_timedwait(&r.cond, &r.lock, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&r.lock);
    CU_ASSERT_EQUAL(r.calls, 1);
    CU_ASSERT_EQUAL(r.partition, 0);
    /* A blocking push gets through once the queue has room. */
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "c", 1, 30000, NULL, &off), SL_OK);
    CU_ASSERT_EQUAL(off, 3);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL(sl_host_output_poll(job, "app.out", 30000, &hr), SL_OK);
        CU_ASSERT(payload_is(hr, i == 0 ? "a" : i == 1 ? "b" : "c"));
        sl_host_record_ack(hr);
    }
    CU_ASSERT(wait_committed(job, 0, 3));
    CU_ASSERT_EQUAL(sl_host_input_end(job, "app.in"), SL_OK);
    CU_ASSERT_EQUAL(sl_job_wait(job), SL_OK);
    CU_ASSERT_EQUAL(r.calls, 1); /* one refusal, one call */
    sl_job_destroy(job);
}

/* --- acknowledgement before commit ----------------------------------------------------------- */

typedef struct commits {
    pthread_mutex_t lock;
    int64_t last[2];
} commits_t;

static void on_commit(sl_job_t *job, const char *input, int partition, int64_t offset,
                      void *opaque) {
    commits_t *c = opaque;
    (void)job;
    (void)input;
    pthread_mutex_lock(&c->lock);
    if (partition >= 0 && partition < 2)
        c->last[partition] = offset;
    pthread_mutex_unlock(&c->lock);
}

static void test_ack_then_commit(void) {
    sl_job_t *job;
    sl_host_record_t *hr[2], *a, *b;
    commits_t c = {PTHREAD_MUTEX_INITIALIZER, {-1, -1}};
    int64_t off;
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(job = host_job(2, 8, NULL));
    CU_ASSERT_EQUAL(sl_host_input_on_commit(job, "app.in", on_commit, &c), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_job_start(job), SL_OK);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "A", 1, 1000, NULL, NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 1, NULL, 0, "B", 1, 1000, NULL, NULL), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_host_output_poll(job, "app.out", 30000, &hr[0]), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_host_output_poll(job, "app.out", 30000, &hr[1]), SL_OK);
    a = payload_is(hr[0], "A") ? hr[0] : hr[1];
    b = a == hr[0] ? hr[1] : hr[0];
    CU_ASSERT(payload_is(b, "B"));
    /* Partition 1 is acknowledged and committed (commits run every 10 ms over both
     * partitions of the one worker), partition 0 must not be. */
    sl_host_record_ack(b);
    CU_ASSERT(wait_committed(job, 1, 1));
    CU_ASSERT_EQUAL(sl_host_input_committed(job, "app.in", 0, &off), SL_ERR_NOENT);
    pthread_mutex_lock(&c.lock);
    CU_ASSERT_EQUAL(c.last[0], -1);
    CU_ASSERT_EQUAL(c.last[1], 1);
    pthread_mutex_unlock(&c.lock);
    sl_host_record_ack(a);
    CU_ASSERT(wait_committed(job, 0, 1));
    pthread_mutex_lock(&c.lock);
    CU_ASSERT_EQUAL(c.last[0], 1);
    pthread_mutex_unlock(&c.lock);
    sl_job_stop(job);
    CU_ASSERT_EQUAL(sl_job_wait(job), SL_OK);
    sl_job_destroy(job);
}

/* --- the record callback --------------------------------------------------------------------- */

typedef struct got {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
    pthread_t main;
    int on_main;
} got_t;

static void on_record(sl_job_t *job, const char *output, sl_host_record_t *hr, void *opaque) {
    got_t *g = opaque;
    (void)job;
    CU_ASSERT_STRING_EQUAL(output, "app.out");
    pthread_mutex_lock(&g->lock);
    g->n++;
    g->on_main |= pthread_equal(pthread_self(), g->main);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    sl_host_record_ack(hr); /* from the callback itself */
}

static void test_record_callback(void) {
    sl_job_t *job;
    sl_host_record_t *hr;
    got_t g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, pthread_self(), 0};
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(job = host_job(1, 8, NULL));
    CU_ASSERT_EQUAL(sl_host_output_on_record(job, "app.out", on_record, &g), SL_OK);
    CU_ASSERT_EQUAL(sl_host_output_poll(job, "app.out", 0, &hr), SL_ERR_STATE);
    CU_ASSERT_EQUAL_FATAL(sl_job_start(job), SL_OK);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(sl_host_push(job, "app.in", SL_HOST_BY_KEY, "key", 3, "x", 1, 1000,
                                     NULL, NULL), SL_OK);
    CU_ASSERT(wait_committed(job, 0, 5));
    CU_ASSERT_EQUAL(g.n, 5);
    CU_ASSERT_EQUAL(g.on_main, 0);
    CU_ASSERT_EQUAL(sl_host_input_end(job, "app.in"), SL_OK);
    CU_ASSERT_EQUAL(sl_job_wait(job), SL_OK);
    sl_job_destroy(job);
}

/* --- a stop with records the host holds, then a restart -------------------------------------- */

static void test_stop_unacked_restart(void) {
    sl_job_t *job;
    sl_host_record_t *first, *held, *hr;
    int64_t off;
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(job = host_job(1, 8, NULL));
    CU_ASSERT_EQUAL_FATAL(sl_job_start(job), SL_OK);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, i == 0 ? "r1" : i == 1 ? "r2"
                                     : "r3", 2, 1000, NULL, NULL), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_host_output_poll(job, "app.out", 30000, &first), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_host_output_poll(job, "app.out", 30000, &held), SL_OK);
    CU_ASSERT(payload_is(first, "r1"));
    CU_ASSERT(payload_is(held, "r2"));
    sl_host_record_ack(first);
    CU_ASSERT(wait_committed(job, 0, 1));
    /* r2 held, r3 never polled: the stop waits task.shutdown.ms, then drops both. */
    sl_job_stop(job);
    sl_job_wait(job);
    CU_ASSERT_EQUAL(sl_host_input_committed(job, "app.in", 0, &off), SL_OK);
    CU_ASSERT_EQUAL(off, 1);
    CU_ASSERT_EQUAL(sl_host_output_poll(job, "app.out", 0, &hr), SL_ERR_STOPPED);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "x", 1, 0, NULL, NULL),
                    SL_ERR_STOPPED);
    sl_host_record_ack(held); /* after the stop: only frees it */
    sl_job_destroy(job);

    /* The restarted program resumes after the committed offset. */
    CU_ASSERT_PTR_NOT_NULL_FATAL(job = host_job(1, 8, NULL));
    CU_ASSERT_EQUAL(sl_host_input_committed(job, "app.in", 0, &off), SL_OK);
    CU_ASSERT_EQUAL(off, 1);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "r2", 2, 0, NULL, &off), SL_OK);
    CU_ASSERT_EQUAL(off, 2);
    CU_ASSERT_EQUAL_FATAL(sl_job_start(job), SL_OK);
    CU_ASSERT_EQUAL_FATAL(sl_host_output_poll(job, "app.out", 30000, &hr), SL_OK);
    CU_ASSERT(payload_is(hr, "r2"));
    CU_ASSERT_STRING_EQUAL(sl_host_record_source(hr)->offset, "2");
    sl_host_record_ack(hr);
    CU_ASSERT_EQUAL(sl_host_input_end(job, "app.in"), SL_OK);
    CU_ASSERT_EQUAL(sl_job_wait(job), SL_OK);
    CU_ASSERT_EQUAL(sl_host_input_committed(job, "app.in", 0, &off), SL_OK);
    CU_ASSERT_EQUAL(off, 2);
    sl_job_destroy(job);
}

/* A job destroyed while started and holding unacknowledged records: stopped, waited for, all
 * freed (ASan and valgrind judge). */
static void test_destroy_running(void) {
    sl_job_t *job;
    sl_host_record_t *hr;
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    CU_ASSERT_PTR_NOT_NULL_FATAL(job = host_job(1, 8, NULL));
    CU_ASSERT_EQUAL_FATAL(sl_job_start(job), SL_OK);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "a", 1, 1000, NULL, NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_host_push(job, "app.in", 0, NULL, 0, "b", 1, 1000, NULL, NULL), SL_OK);
    CU_ASSERT_EQUAL(sl_host_output_poll(job, "app.out", 30000, &hr), SL_OK);
    sl_job_destroy(job);
}

/* --- a job built from code ------------------------------------------------------------------- */

/* Builds a job from pairs, through a file text (as_file) or sl_conf_set() calls. NULL with the
 * errors in err when it is not built. */
static sl_job_t *job_from(const char *const (*pairs)[2], int n, int as_file, char *err,
                          size_t errlen) {
    sl_conf_t *conf = sl_conf_new();
    sl_job_t *job;
    err[0] = '\0';
    if (!conf)
        return NULL;
    if (as_file) {
        char text[4096];
        size_t len = 0;
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(text + len, sizeof(text) - len, "%s=%s\n", pairs[i][0],
                                    pairs[i][1]);
        CU_ASSERT_EQUAL_FATAL(sl_conf_load_string(conf, "job.properties", text, len, err,
                                                  errlen), SL_OK);
    } else {
        for (int i = 0; i < n; i++)
            CU_ASSERT_EQUAL_FATAL(sl_conf_set(conf, pairs[i][0], pairs[i][1]), SL_OK);
    }
    if (!(job = sl_job_new(conf, err, errlen)))
        sl_conf_destroy(conf);
    return job;
}

/* text with every line's origin taken out: "job.properties:4: " / "<api>: " prefixes of error
 * lines, "  # origin" suffixes of dump lines. */
static void strip_origins(char *text) {
    char *out = text;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line), *hash;
        if (!strncmp(line, "job.properties", 14) || !strncmp(line, "<api>", 5)) {
            char *colon = strstr(line, ": ");
            if (colon && colon < end)
                line = colon + 2;
        }
        hash = strstr(line, "  # ");
        if (hash && hash < end && line[0] != '#')
            end = hash;
        memmove(out, line, (size_t)(end - line));
        out += end - line;
        if (nl)
            *out++ = '\n';
        line = nl ? nl + 1 : end;
    }
    *out = '\0';
}

static char *dump_of(sl_job_t *job) {
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp)
        return NULL;
    sl_job_dump_config(job, fp);
    fclose(fp);
    return buf;
}

static void test_conf_from_code(void) {
    char ckpt[700];
    const char *const good[][2] = {
        {"job.name", "code"},
        {"job.checkpoint.sqlite.path", ckpt},
        {"task.inputs", "app.in"},
        {"task.outputs", "app.out"},
        {"task.operators", "keep"},
        {"systems.app.samza.factory", "inproc"},
        {"systems.app.streams.in.partitions", "3"},
        {"operators.keep.type", "filter"},
        {"sensitive.operators.keep.expr", "payload LIKE 'hunter2%'"},
    };
    static const char *const bad[][2] = {
        {"job.name", "code"},
        {"task.inputs", "app.in"},
        {"task.outputs", "app.out"},
        {"task.commmit.ms", "5s"},
        {"task.poll.batch", "abc"},
        {"task.operators", "keep"},
        {"systems.app.samza.factory", "inproc"},
        {"systems.app.streams.in.partitions", "0"},
        {"operators.keep.type", "filter"},
    };
    char err_file[4096], err_code[4096], *d_file, *d_code;
    sl_job_t *jf, *jc;
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
    snprintf(ckpt, sizeof(ckpt), "%s/ckpt.db", dir);
    /* The same valid configuration: the same effective configuration, the same host streams. */
    jf = job_from(good, 9, 1, err_file, sizeof(err_file));
    jc = job_from(good, 9, 0, err_code, sizeof(err_code));
    if (!jf || !jc)
        fprintf(stderr, "file: %s\ncode: %s\n", err_file, err_code);
    CU_ASSERT_PTR_NOT_NULL_FATAL(jf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(jc);
    d_file = dump_of(jf);
    d_code = dump_of(jc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d_file);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d_code);
    CU_ASSERT_PTR_NOT_NULL(strstr(d_code, "systems.app.streams.in.partitions=3"));
    CU_ASSERT_PTR_NULL(strstr(d_code, "hunter2"));
    strip_origins(d_file);
    strip_origins(d_code);
    CU_ASSERT_STRING_EQUAL(d_code, d_file);
    CU_ASSERT_EQUAL(sl_host_input_partitions(jc, "app.in"), 3);
    free(d_file);
    free(d_code);
    sl_job_destroy(jf);
    sl_job_destroy(jc);
    /* The same invalid one: the same errors, one per line, origins aside. */
    CU_ASSERT_PTR_NULL(job_from(bad, 9, 1, err_file, sizeof(err_file)));
    CU_ASSERT_PTR_NULL(job_from(bad, 9, 0, err_code, sizeof(err_code)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err_code, "<api>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err_code, "task.commmit.ms"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err_code, "task.poll.batch"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err_code, "systems.app.streams.in.partitions"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err_code, "operators.keep.expr"));
    strip_origins(err_file);
    strip_origins(err_code);
    CU_ASSERT_STRING_EQUAL(err_code, err_file);
}

void test_host_register(void) {
    static const unit_test_t tests[] = {
        {"push, poll, ack and end of input", test_push_poll_ack},
        {"back pressure of a full input queue", test_backpressure},
        {"an offset is committed after the host acked", test_ack_then_commit},
        {"output records through a callback", test_record_callback},
        {"stop with unacked records, restart", test_stop_unacked_restart},
        {"destroy a started job", test_destroy_running},
        {"a job from sl_conf_set() is a job from a file", test_conf_from_code},
        {NULL, NULL},
    };
    unit_add_suite("host", tests);
}
