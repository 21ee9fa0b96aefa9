/*
 * many-jobs.c: starts and stops 100 small jobs (file -> filter -> file, on the embedded
 * defaults) in one process through the public API alone, first one after another, then 4 at
 * once on 4 threads, each with its own log settings (level, debug contexts, JSON or text, a job
 * callback or the process-wide one). It checks every job's output, that each job's log lines
 * went where its settings said and looked as they said, and that the process has as many
 * threads (/proc/self/task) and file descriptors (/proc/self/fd) at the end as at the start.
 * tests/0043-many-jobs.sh runs it (under valgrind when present; the sanitizer builds watch it
 * themselves). Usage: many-jobs DIR (a scratch directory). Exit 0 when every check passed.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

#define NSEQ 60
#define NPAR_THREADS 4
#define NPAR_EACH 10 /* jobs per thread: 60 + 4 * 10 = 100 */
#define NLINES 40

/* One job's log as it arrived: every line, one per row, guarded (a job logs from its main
 * thread and its worker threads). */
typedef struct logbuf {
    pthread_mutex_t lock;
    char *text;
    size_t len, cap;
    int lines;
} logbuf_t;

static const char *dir;
static logbuf_t global_log; /* the process-wide callback's */
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static int failures;

static void failf(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&fail_lock);
    failures++;
    fprintf(stderr, "many-jobs: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&fail_lock);
}

static void logbuf_init(logbuf_t *lb) {
    memset(lb, 0, sizeof(*lb));
    pthread_mutex_init(&lb->lock, NULL);
}

static void logbuf_free(logbuf_t *lb) {
    free(lb->text);
    pthread_mutex_destroy(&lb->lock);
}

static void logbuf_clear(logbuf_t *lb) {
    pthread_mutex_lock(&lb->lock);
    lb->len = 0;
    lb->lines = 0;
    if (lb->text)
        lb->text[0] = '\0';
    pthread_mutex_unlock(&lb->lock);
}

static void on_log(sl_log_level_t level, const char *fac, const char *line, void *opaque) {
    logbuf_t *lb = opaque;
    size_t n = strlen(line);
    (void)level;
    (void)fac;
    pthread_mutex_lock(&lb->lock);
    if (lb->len + n + 2 > lb->cap) {
        size_t cap = (lb->cap + n + 2) * 2;
        char *grown = realloc(lb->text, cap);
        if (!grown) {
            pthread_mutex_unlock(&lb->lock);
            failf("out of memory in the log callback");
            return;
        }
        lb->text = grown;
        lb->cap = cap;
    }
    memcpy(lb->text + lb->len, line, n);
    lb->len += n;
    lb->text[lb->len++] = '\n';
    lb->text[lb->len] = '\0';
    lb->lines++;
    pthread_mutex_unlock(&lb->lock);
}

static int count_dir(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - (!strcmp(path, "/proc/self/fd") ? 1 : 0); /* the DIR's own descriptor */
}

static char expected[NLINES * 64];

static int write_input(void) {
    char path[1024];
    FILE *fp;
    size_t at = 0;
    snprintf(path, sizeof(path), "%s/in.jsonl", dir);
    if (!(fp = fopen(path, "w")))
        return -1;
    for (int i = 0; i < NLINES; i++) {
        char line[64];
        snprintf(line, sizeof(line), "{\"n\":%d,\"level\":\"%s\"}\n", i, i % 3 ? "info" : "error");
        fputs(line, fp);
        if (i % 3 == 0) {
            memcpy(expected + at, line, strlen(line) + 1);
            at += strlen(line);
        }
    }
    return fclose(fp);
}

/* Job n's log settings: which of the four kinds it is. */
enum { K_WARN_TEXT, K_INFO_JSON, K_DEBUG_CKPT, K_DEBUG_WORKER_GLOBAL, K_KINDS };

static int check_output(int n) {
    char path[1024], buf[sizeof(expected) + 64];
    size_t got;
    FILE *fp;
    snprintf(path, sizeof(path), "%s/out-%d.jsonl", dir, n);
    if (!(fp = fopen(path, "r"))) {
        failf("job %d: no output %s", n, path);
        return -1;
    }
    got = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[got] = '\0';
    if (strcmp(buf, expected) != 0) {
        failf("job %d: output differs:\n%s\nexpected:\n%s", n, buf, expected);
        return -1;
    }
    return 0;
}

/* Every line of text has the form of its settings. */
static void check_lines(int n, const char *text, int json, int max_level, const char *dbg_yes,
                        const char *dbg_no) {
    char running[64];
    const char *p = text ? text : "";
    int saw_dbg = 0, saw_running = 0;
    snprintf(running, sizeof(running), "job mj%d (id 1) running", n);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[2048];
        snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) - 1 ? len : sizeof(line) - 1), p);
        if (json && strncmp(line, "{\"ts\":\"", 7) != 0)
            failf("job %d: not a JSON line: %s", n, line);
        if (!json && line[0] == '{')
            failf("job %d: a JSON line with log.format=text: %s", n, line);
        if (max_level < 3 && (strstr(line, " debug ") || strstr(line, "\"level\":\"debug\"")))
            failf("job %d: a debug line without log.debug: %s", n, line);
        if (max_level < 2 && (strstr(line, " info ") || strstr(line, "\"level\":\"info\"")))
            failf("job %d: an info line with log.level=warn: %s", n, line);
        if (strstr(line, running))
            saw_running = 1;
        /* Another job's start line: its lines came here. */
        for (const char *m = strstr(line, "mj"); m; m = strstr(m + 2, "mj"))
            if (m[2] >= '0' && m[2] <= '9' && atoi(m + 2) != n)
                failf("job %d: another job's line in its log: %s", n, line);
        if (dbg_yes && (strstr(line, dbg_yes)))
            saw_dbg = 1;
        if (dbg_no && strstr(line, dbg_no))
            failf("job %d: a debug line of a context it did not enable (%s): %s", n, dbg_no, line);
        p += len + (nl ? 1 : 0);
    }
    if (max_level >= 2 && !saw_running)
        failf("job %d: no \"%s\" line in its log:\n%s", n, running, text ? text : "");
    if (dbg_yes && !saw_dbg)
        failf("job %d: no debug line %s in its log:\n%s", n, dbg_yes, text ? text : "");
}

/* Builds, runs and checks job n. own: the job's callback buffer (NULL: the process-wide one is
 * where its lines go). sequential: the process-wide buffer holds this job's lines alone. */
static void run_job(int n, logbuf_t *own, int sequential) {
    char text[4096], errstr[4096];
    int kind = n % K_KINDS;
    sl_conf_t *conf = sl_conf_new();
    sl_job_t *job;
    sl_err_t err;

    snprintf(text, sizeof(text),
             "job.name=mj%d\n"
             "task.inputs=in.s\n"
             "task.outputs=out.s\n"
             "task.operators=keep\n"
             "systems.in.samza.factory=file\n"
             "systems.in.streams.s.path=%s/in.jsonl\n"
             "systems.out.samza.factory=file\n"
             "systems.out.streams.s.path=%s/out-%d.jsonl\n"
             "operators.keep.type=filter\n"
             "operators.keep.expr=json_extract(payload, '$.level') = 'error'\n"
             "job.checkpoint.sqlite.path=%s/ckpt-%d.db\n"
             "job.container.thread.count=%d\n"
             "%s\n",
             n, dir, dir, n, dir, n, 1 + n % 2,
             kind == K_WARN_TEXT     ? "log.level=warn\nlog.format=text"
             : kind == K_INFO_JSON   ? "log.level=info\nlog.format=json"
             : kind == K_DEBUG_CKPT  ? "log.debug=ckpt\nlog.format=json"
                                     : "log.debug=worker\nlog.format=text");
    if (!conf || sl_conf_load_string(conf, "many-jobs", text, strlen(text), errstr,
                                         sizeof(errstr)) != SL_OK) {
        failf("job %d: configuration: %s", n, conf ? errstr : "out of memory");
        sl_conf_destroy(conf);
        return;
    }
    if (!(job = sl_job_new(conf, errstr, sizeof(errstr)))) {
        failf("job %d: sl_job_new: %s", n, errstr);
        sl_conf_destroy(conf);
        return;
    }
    if (own)
        sl_job_set_log_callback(job, on_log, own);
    if ((err = sl_job_run(job)) != SL_OK)
        failf("job %d: sl_job_run: %s: %s", n, sl_err_str(err),
              sl_job_error(job) ? sl_job_error(job) : "?");
    sl_job_destroy(job);
    check_output(n);

    if (own || sequential) {
        logbuf_t *lb = own ? own : &global_log;
        pthread_mutex_lock(&lb->lock);
        switch (kind) {
        case K_WARN_TEXT:
            check_lines(n, lb->text, 0, 1, NULL, NULL);
            break;
        case K_INFO_JSON:
            check_lines(n, lb->text, 1, 2, NULL, NULL);
            break;
        case K_DEBUG_CKPT:
            /* "committed" is logged by a worker thread: the workers use the job's settings. */
            check_lines(n, lb->text, 1, 3, "\"fac\":\"ckpt\",\"msg\":\"committed ",
                        "\"level\":\"debug\",\"fac\":\"worker\"");
            break;
        default:
            check_lines(n, lb->text, 0, 3, "debug [worker] partition ", "debug [ckpt]");
        }
        pthread_mutex_unlock(&lb->lock);
        logbuf_clear(lb);
    }
}

static void *noop_main(void *arg) {
    return arg;
}

static void *par_main(void *arg) {
    int t = (int)(long)arg;
    logbuf_t own;
    logbuf_init(&own);
    for (int i = 0; i < NPAR_EACH; i++) {
        int n = NSEQ + t * NPAR_EACH + i;
        /* The kind that logs through the process-wide callback gets no job callback. */
        run_job(n, n % K_KINDS == K_DEBUG_WORKER_GLOBAL ? NULL : &own, 0);
    }
    logbuf_free(&own);
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t th[NPAR_THREADS];
    int tasks0, fds0, tasks1, fds1;
    logbuf_t own;

    if (argc != 2) {
        fprintf(stderr, "usage: many-jobs DIR\n");
        return 2;
    }
    dir = argv[1];
    if (write_input() != 0) {
        fprintf(stderr, "many-jobs: cannot write %s/in.jsonl\n", dir);
        return 1;
    }
    logbuf_init(&global_log);
    logbuf_init(&own);
    /* The process-wide settings differ from every job's: a job line obeying them is caught. */
    sl_log_set_level(SL_LOG_ERROR);
    sl_log_set_callback(on_log, &global_log);
    /* A first thread of our own, before counting: a sanitizer runtime starts its helper thread
     * with the process's first pthread_create(), and that one is not the library's. */
    if (pthread_create(&th[0], NULL, noop_main, NULL) == 0)
        pthread_join(th[0], NULL);
    tasks0 = count_dir("/proc/self/task");
    fds0 = count_dir("/proc/self/fd");

    for (int n = 0; n < NSEQ; n++)
        run_job(n, n % K_KINDS == K_DEBUG_WORKER_GLOBAL ? NULL : &own, 1);
    printf("many-jobs: %d jobs one after another\n", NSEQ);

    for (long t = 0; t < NPAR_THREADS; t++)
        if (pthread_create(&th[t], NULL, par_main, (void *)t) != 0) {
            failf("cannot start thread %ld", t);
            th[t] = pthread_self();
        }
    for (int t = 0; t < NPAR_THREADS; t++)
        if (!pthread_equal(th[t], pthread_self()))
            pthread_join(th[t], NULL);
    printf("many-jobs: %d jobs, %d at once\n", NPAR_THREADS * NPAR_EACH, NPAR_THREADS);

    /* The jobs of the process-wide callback ran 4 at once: each one's start line is there,
     * and no line of a job with its own callback. */
    for (int n = NSEQ; n < NSEQ + NPAR_THREADS * NPAR_EACH; n++) {
        char running[64];
        snprintf(running, sizeof(running), "job mj%d (id 1) running", n);
        if ((n % K_KINDS == K_DEBUG_WORKER_GLOBAL) != (global_log.text && strstr(global_log.text, running) != NULL))
            failf("job %d: its start line is%s in the process-wide log", n,
                  n % K_KINDS == K_DEBUG_WORKER_GLOBAL ? " not" : "");
    }

    tasks1 = count_dir("/proc/self/task");
    fds1 = count_dir("/proc/self/fd");
    printf("many-jobs: threads %d -> %d, file descriptors %d -> %d\n", tasks0, tasks1, fds0, fds1);
    if (tasks1 != tasks0)
        failf("%d thread(s) left behind", tasks1 - tasks0);
    if (fds1 != fds0)
        failf("%d file descriptor(s) left behind", fds1 - fds0);

    sl_log_set_callback(NULL, NULL);
    logbuf_free(&own);
    logbuf_free(&global_log);
    printf("many-jobs: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
