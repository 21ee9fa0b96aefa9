/*
 * test_job.c: end-to-end unit tests of a job's lifecycle (runtime/job.c, worker.c, system.c,
 * conf_job.c) driven in-process through the public API: a job text is loaded with
 * sl_conf_load_string(), built with sl_job_new() and run with sl_job_run() over the `file`
 * system in a fresh temporary directory; results are read back from the output files and from
 * the SQLite checkpoint store. Covered: bounded file -> filter -> file runs and their
 * checkpoints, resuming, samza.reset.offset and samza.offset.default, task.error.policy for
 * operator failures and oversized lines, several files on two worker threads, configuration
 * errors (one line per problem, conf still the caller's), a graceful sl_job_stop() while
 * following a file (and one asked for before sl_job_run() started), and secret masking in
 * sl_job_dump_config(), and keyed state (sluice/state.h) kept across runs by an operator that
 * also holds records in flight.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "state_int.h"
#include "sluice/conf.h"
#include "sluice/job.h"
#include "sluice/log.h"
#include "unit.h"

/* The directory of the current test (a fresh unit_tmpdir()). */
static char dir[600];

static void fresh_dir(void) {
    snprintf(dir, sizeof(dir), "%s", unit_tmpdir());
}

/* dir/name into buf. */
static const char *path_in(char *buf, size_t len, const char *name) {
    snprintf(buf, len, "%s/%s", dir, name);
    return buf;
}

static int write_text(const char *path, const char *mode, const char *text) {
    FILE *fp = fopen(path, mode);
    size_t n = strlen(text);
    int ok;
    if (!fp)
        return 0;
    ok = fwrite(text, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

/* The whole file as a NUL-terminated heap string ("" when missing); caller frees. */
static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (!fp)
        return calloc(1, 1);
    for (;;) {
        char chunk[4096];
        size_t n = fread(chunk, 1, sizeof(chunk), fp);
        char *grown;
        if (n == 0)
            break;
        if (!(grown = realloc(buf, len + n + 1)))
            break;
        buf = grown;
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(fp);
    if (!buf)
        return calloc(1, 1);
    buf[len] = '\0';
    return buf;
}

static int count_lines(const char *text) {
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* Occurrences of line (a whole line, without its newline) in text. */
static int count_line(const char *text, const char *line) {
    size_t n = strlen(line);
    int hits = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && !memcmp(p, line, n))
            hits++;
        if (!nl)
            break;
        p = nl + 1;
    }
    return hits;
}

/* Builds a job from text; NULL (with err filled) when the text or the configuration is bad.
 * The conf is destroyed here when sl_job_new() did not take it. */
static sl_job_t *make_job(const char *text, char *err, size_t errlen) {
    sl_conf_t *conf = sl_conf_new();
    sl_job_t *job;
    if (!conf)
        return NULL;
    if (sl_conf_load_string(conf, "job.properties", text, strlen(text), err, errlen) != SL_OK) {
        sl_conf_destroy(conf);
        return NULL;
    }
    if (!(job = sl_job_new(conf, err, errlen)))
        sl_conf_destroy(conf);
    return job;
}

/* Builds and runs a job to its end. Returns its result (SL_ERR_CONF when it could not be
 * built); the job's error, if any, goes to err. */
static sl_err_t run_job(const char *text, char *err, size_t errlen) {
    sl_job_t *job;
    sl_err_t rc;
    err[0] = '\0';
    if (!(job = make_job(text, err, errlen))) {
        fprintf(stderr, "job not built: %s\n", err);
        return SL_ERR_CONF;
    }
    rc = sl_job_run(job);
    if (sl_job_error(job))
        snprintf(err, errlen, "%s", sl_job_error(job));
    sl_job_destroy(job);
    return rc;
}

/* The standard job of this file: dir/in.txt -> [extra operators] -> dir/out.txt, checkpoints
 * in dir/ckpt.db, with extra lines appended. */
static char *job_text(const char *extra) {
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    if (!fp)
        return NULL;
    fprintf(fp,
            "job.name=unit\n"
            "log.level=error\n"
            "job.checkpoint.sqlite.path=%s/ckpt.db\n"
            "task.inputs=fs.src\n"
            "task.outputs=fs.dst\n"
            "systems.fs.samza.factory=file\n"
            "systems.fs.streams.src.path=%s/in.txt\n"
            "systems.fs.streams.dst.path=%s/out.txt\n"
            "%s",
            dir, dir, dir, extra ? extra : "");
    fclose(fp);
    return text;
}

static const char *filter_ops = "task.operators=keep\n"
                                "operators.keep.type=filter\n"
                                "operators.keep.expr=payload LIKE 'keep%'\n";

/* The checkpoint of partition (stream src of system fs) as a number; -1 when there is none,
 * -2 when the store cannot be read. */
static int64_t checkpoint_of(const char *partition) {
    char path[700], err[512] = "", *off = NULL;
    int64_t sub = 0, val = -2;
    sl_ckpt_store_t *st = sl_ckpt_sqlite_open(path_in(path, sizeof(path), "ckpt.db"), "unit", "1",
                                              err, sizeof(err));
    sl_err_t rc;
    if (!st) {
        fprintf(stderr, "checkpoint store: %s\n", err);
        return -2;
    }
    rc = sl_ckpt_read(st, "fs", "src", partition, &off, &sub);
    if (rc == SL_ERR_NOENT)
        val = -1;
    else if (rc == SL_OK && off)
        val = strtoll(off, NULL, 10);
    free(off);
    sl_ckpt_close(st);
    return val;
}

static int64_t input_checkpoint(void) {
    char path[700];
    return checkpoint_of(path_in(path, sizeof(path), "in.txt"));
}

/* Captures the library's log lines in memory while a test runs. */
typedef struct log_capture {
    FILE *fp;
    char *buf;
    size_t len;
} log_capture_t;

static void capture_start(log_capture_t *lc) {
    memset(lc, 0, sizeof(*lc));
    lc->fp = open_memstream(&lc->buf, &lc->len);
    sl_log_set_file(lc->fp);
}

/* Stops capturing; lc->buf holds the text (caller frees). */
static void capture_stop(log_capture_t *lc) {
    sl_log_set_file(NULL);
    if (lc->fp)
        fclose(lc->fp);
    if (!lc->buf)
        lc->buf = calloc(1, 1);
}

/* --- 1. a bounded file through a filter -------------------------------------------------- */

/* Offsets: "keep 1\n" 0, "drop 2\n" 7, "keep 3\n" 14, "drop 4\n" 21 (the last line is
 * filtered out: its offset must still become committable). */
static const char *four_lines = "keep 1\ndrop 2\nkeep 3\ndrop 4\n";

static void test_bounded_filter(void) {
    char in[700], out[700], err[1024], *text, *got;
    sl_job_t *job;
    fresh_dir();
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", four_lines));
    text = job_text(filter_ops);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    job = make_job(text, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(job);
    CU_ASSERT_PTR_NULL(sl_job_error(job));
    CU_ASSERT_EQUAL(sl_job_run(job), SL_OK);
    CU_ASSERT_PTR_NULL(sl_job_error(job));
    CU_ASSERT_EQUAL(sl_job_run(job), SL_ERR_STATE); /* at most once */
    sl_job_destroy(job);
    got = slurp(path_in(out, sizeof(out), "out.txt"));
    CU_ASSERT_STRING_EQUAL(got, "keep 1\nkeep 3\n");
    free(got);
    CU_ASSERT_EQUAL(input_checkpoint(), 21);
    free(text);
}

/* --- 2. resuming ------------------------------------------------------------------------- */

static void test_resume(void) {
    char in[700], out[700], err[1024], *text, *got;
    fresh_dir();
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", four_lines));
    path_in(out, sizeof(out), "out.txt");
    text = job_text(filter_ops);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(run_job(text, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(run_job(text, err, sizeof(err)), SL_OK); /* nothing new */
    got = slurp(out);
    CU_ASSERT_STRING_EQUAL(got, "keep 1\nkeep 3\n");
    free(got);
    CU_ASSERT_EQUAL(input_checkpoint(), 21);
    /* "keep 5\n" at 28, "drop 6\n" at 35, "keep 7\n" at 42 */
    CU_ASSERT_FATAL(write_text(in, "a", "keep 5\ndrop 6\nkeep 7\n"));
    CU_ASSERT_EQUAL(run_job(text, err, sizeof(err)), SL_OK);
    got = slurp(out);
    CU_ASSERT_STRING_EQUAL(got, "keep 1\nkeep 3\nkeep 5\nkeep 7\n");
    free(got);
    CU_ASSERT_EQUAL(input_checkpoint(), 42);
    free(text);
}

/* --- 3. reset and default offsets ---------------------------------------------------------- */

static void test_reset_offset(void) {
    char in[700], out[700], err[1024], *text, *reset, *got, extra[512];
    fresh_dir();
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", four_lines));
    path_in(out, sizeof(out), "out.txt");
    text = job_text(filter_ops);
    snprintf(extra, sizeof(extra), "%ssystems.fs.streams.src.samza.reset.offset=true\n",
             filter_ops);
    reset = job_text(extra);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(reset);
    CU_ASSERT_EQUAL(run_job(text, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(input_checkpoint(), 21);
    /* the checkpoint is ignored: everything again */
    CU_ASSERT_EQUAL(run_job(reset, err, sizeof(err)), SL_OK);
    got = slurp(out);
    CU_ASSERT_STRING_EQUAL(got, "keep 1\nkeep 3\nkeep 1\nkeep 3\n");
    free(got);
    CU_ASSERT_EQUAL(input_checkpoint(), 21);
    free(text);
    free(reset);
}

static void test_offset_upcoming(void) {
    char in[700], out[700], err[1024], *text, *got;
    struct stat st;
    fresh_dir();
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", four_lines));
    path_in(out, sizeof(out), "out.txt");
    text = job_text("systems.fs.streams.src.samza.offset.default=upcoming\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(run_job(text, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(stat(out, &st), 0); /* the output was opened ... */
    got = slurp(out);
    CU_ASSERT_STRING_EQUAL(got, ""); /* ... but nothing was read */
    free(got);
    CU_ASSERT_EQUAL(input_checkpoint(), -1);
    free(text);
    /* the same file with the default (oldest) reads it all: the input was not the problem */
    text = job_text(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(run_job(text, err, sizeof(err)), SL_OK);
    got = slurp(out);
    CU_ASSERT_STRING_EQUAL(got, four_lines);
    free(got);
    free(text);
}

/* --- 4. task.error.policy with a failing operator ------------------------------------------ */

#define GOOD_BEFORE 300
#define GOOD_AFTER 20
#define PAD 100

/* Line i of the input: {"x":i,"p":"<i>-<PAD dashes>"}; the map below outputs p. */
static const char *expected_out(int i, char *buf, size_t len) {
    int n = snprintf(buf, len, "%d-", i);
    for (int k = 0; k < PAD && (size_t)n + 1 < len; k++)
        buf[n++] = '-';
    buf[n] = '\0';
    return buf;
}

/* GOOD_BEFORE good lines, one malformed line, GOOD_AFTER good lines; returns the input text
 * and the offsets of every good line (line_at[i]), of the bad line and of the last line. */
static char *policy_input(int64_t *line_at, int64_t *bad_at, int64_t *last_at) {
    char *text = NULL, p[160];
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    if (!fp)
        return NULL;
    for (int i = 0; i < GOOD_BEFORE + GOOD_AFTER; i++) {
        if (i == GOOD_BEFORE) {
            fflush(fp);
            *bad_at = (int64_t)len;
            fprintf(fp, "{\"x\": oops, \"p\": \"%d\"}\n", i);
        }
        fflush(fp);
        line_at[i] = *last_at = (int64_t)len;
        fprintf(fp, "{\"x\":%d,\"p\":\"%s\"}\n", i, expected_out(i, p, sizeof(p)));
    }
    fclose(fp);
    return text;
}

/* json_extract() raises "malformed JSON" on the bad line. A small write buffer makes the
 * producer write (and acknowledge) in the middle of the run, so offsets before the bad line
 * do become committable. */
static const char *map_ops = "task.operators=x\n"
                             "operators.x.type=map\n"
                             "operators.x.expr=json_extract(payload, '$.p')\n"
                             "systems.fs.streams.dst.write.buffer.size=4096\n"
                             "task.poll.batch=7\n";

/* Number of good lines i (of the policy input) with count_line() outside [lo, hi]. */
static int lines_outside(const char *out, int from, int to, int lo, int hi) {
    char want[160];
    int bad = 0;
    for (int i = from; i < to; i++) {
        int n = count_line(out, expected_out(i, want, sizeof(want)));
        bad += n < lo || n > hi;
    }
    return bad;
}

static void test_policy_fail(void) {
    char in[700], out[700], err[1024], extra[512], want[64], *input, *text, *got;
    int64_t line_at[GOOD_BEFORE + GOOD_AFTER], bad_at = 0, last_at = 0, cp;
    int upto = 0;
    log_capture_t lc;
    sl_err_t rc;
    fresh_dir();
    input = policy_input(line_at, &bad_at, &last_at);
    CU_ASSERT_PTR_NOT_NULL_FATAL(input);
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", input));
    path_in(out, sizeof(out), "out.txt");
    snprintf(extra, sizeof(extra), "%stask.error.policy=fail\n", map_ops);
    text = job_text(extra);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    capture_start(&lc);
    rc = run_job(text, err, sizeof(err));
    capture_stop(&lc);
    free(lc.buf);
    CU_ASSERT_NOT_EQUAL(rc, SL_OK);
    CU_ASSERT_NOT_EQUAL(rc, SL_ERR_CONF);
    snprintf(want, sizeof(want), "offset %" PRId64 ":", bad_at);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed JSON"));
    if (!strstr(err, want))
        fprintf(stderr, "job error: %s (wanted %s)\n", err, want);
    /* the checkpoint, if any, is the start of a good line before the bad one */
    cp = input_checkpoint();
    CU_ASSERT(cp == -1 || (cp >= 0 && cp < bad_at));
    if (cp >= 0) {
        while (upto < GOOD_BEFORE && line_at[upto] < cp)
            upto++;
        CU_ASSERT_EQUAL(line_at[upto], cp);
    }
    got = slurp(out);
    /* everything up to the checkpoint reached the output; nothing after the bad line did */
    CU_ASSERT_EQUAL(lines_outside(got, 0, cp >= 0 ? upto + 1 : 0, 1, 1), 0);
    CU_ASSERT_EQUAL(lines_outside(got, GOOD_BEFORE, GOOD_BEFORE + GOOD_AFTER, 0, 0), 0);
    free(got);

    /* run again with skip: it resumes after the checkpoint and gets everything through */
    free(text);
    snprintf(extra, sizeof(extra), "%stask.error.policy=skip\n", map_ops);
    text = job_text(extra);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    capture_start(&lc);
    rc = run_job(text, err, sizeof(err));
    capture_stop(&lc);
    free(lc.buf);
    CU_ASSERT_EQUAL(rc, SL_OK);
    got = slurp(out);
    CU_ASSERT_EQUAL(lines_outside(got, 0, GOOD_BEFORE + GOOD_AFTER, 1, 2), 0);
    /* replayed at most what came after the checkpoint */
    CU_ASSERT_EQUAL(lines_outside(got, 0, cp >= 0 ? upto + 1 : 0, 1, 1), 0);
    free(got);
    CU_ASSERT_EQUAL(input_checkpoint(), last_at);
    free(text);
    free(input);
}

static void test_policy_skip(void) {
    char in[700], out[700], err[1024], extra[512], want[64], *input, *text, *got;
    int64_t line_at[GOOD_BEFORE + GOOD_AFTER], bad_at = 0, last_at = 0;
    log_capture_t lc;
    sl_err_t rc;
    fresh_dir();
    input = policy_input(line_at, &bad_at, &last_at);
    CU_ASSERT_PTR_NOT_NULL_FATAL(input);
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", input));
    path_in(out, sizeof(out), "out.txt");
    snprintf(extra, sizeof(extra), "%stask.error.policy=skip\n", map_ops);
    text = job_text(extra);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    capture_start(&lc);
    rc = run_job(text, err, sizeof(err));
    capture_stop(&lc);
    CU_ASSERT_EQUAL(rc, SL_OK);
    CU_ASSERT_STRING_EQUAL(err, "");
    got = slurp(out);
    CU_ASSERT_EQUAL(count_lines(got), GOOD_BEFORE + GOOD_AFTER);
    CU_ASSERT_EQUAL(lines_outside(got, 0, GOOD_BEFORE + GOOD_AFTER, 1, 1), 0);
    free(got);
    CU_ASSERT_EQUAL(input_checkpoint(), last_at);
    /* the skipped record was logged with its offset */
    snprintf(want, sizeof(want), "offset %" PRId64 ":", bad_at);
    CU_ASSERT_PTR_NOT_NULL(strstr(lc.buf, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(lc.buf, "malformed JSON"));
    free(lc.buf);
    free(text);
    free(input);
}

/* --- 5. lines longer than max.record.size -------------------------------------------------- */

/* "short-1", a 100-byte line, "short-2", a 10000-byte line (more than read.buffer.size: it
 * spans reads), "short-3". Offsets out. */
static char *oversize_input(int64_t *big1, int64_t *big2, int64_t *last) {
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    if (!fp)
        return NULL;
    fputs("short-1\n", fp);
    fflush(fp);
    *big1 = (int64_t)len;
    for (int i = 0; i < 100; i++)
        fputc('A' + i % 26, fp);
    fputs("\nshort-2\n", fp);
    fflush(fp);
    *big2 = (int64_t)len;
    for (int i = 0; i < 10000; i++)
        fputc('a' + i % 26, fp);
    fputc('\n', fp);
    fflush(fp);
    *last = (int64_t)len;
    fputs("short-3\n", fp);
    fclose(fp);
    return text;
}

static const char *oversize_opts = "systems.fs.streams.src.max.record.size=64\n"
                                   "systems.fs.streams.src.read.buffer.size=4096\n";

static void test_oversize_skip(void) {
    char in[700], out[700], err[1024], extra[512], want[64], *input, *text, *got;
    int64_t big1 = 0, big2 = 0, last = 0;
    log_capture_t lc;
    sl_err_t rc;
    fresh_dir();
    input = oversize_input(&big1, &big2, &last);
    CU_ASSERT_PTR_NOT_NULL_FATAL(input);
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", input));
    path_in(out, sizeof(out), "out.txt");
    snprintf(extra, sizeof(extra), "%stask.error.policy=skip\n", oversize_opts);
    text = job_text(extra);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    capture_start(&lc);
    rc = run_job(text, err, sizeof(err));
    capture_stop(&lc);
    CU_ASSERT_EQUAL(rc, SL_OK);
    got = slurp(out);
    CU_ASSERT_STRING_EQUAL(got, "short-1\nshort-2\nshort-3\n");
    free(got);
    CU_ASSERT_EQUAL(input_checkpoint(), last);
    snprintf(want, sizeof(want), "offset %" PRId64 ":", big1);
    CU_ASSERT_PTR_NOT_NULL(strstr(lc.buf, want));
    snprintf(want, sizeof(want), "offset %" PRId64 ":", big2);
    CU_ASSERT_PTR_NOT_NULL(strstr(lc.buf, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(lc.buf, "max.record.size"));
    free(lc.buf);
    free(text);
    free(input);
}

static void test_oversize_fail(void) {
    char in[700], out[700], err[1024], extra[512], want[64], *input, *text, *got;
    int64_t big1 = 0, big2 = 0, last = 0, cp;
    log_capture_t lc;
    sl_err_t rc;
    fresh_dir();
    input = oversize_input(&big1, &big2, &last);
    CU_ASSERT_PTR_NOT_NULL_FATAL(input);
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", input));
    path_in(out, sizeof(out), "out.txt");
    snprintf(extra, sizeof(extra), "%stask.error.policy=fail\n", oversize_opts);
    text = job_text(extra);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    capture_start(&lc);
    rc = run_job(text, err, sizeof(err));
    capture_stop(&lc);
    CU_ASSERT_NOT_EQUAL(rc, SL_OK);
    CU_ASSERT_NOT_EQUAL(rc, SL_ERR_CONF);
    snprintf(want, sizeof(want), "offset %" PRId64 ":", big1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "max.record.size"));
    cp = input_checkpoint();
    CU_ASSERT(cp == -1 || (cp >= 0 && cp < big1));
    got = slurp(out);
    CU_ASSERT_EQUAL(count_line(got, "short-2"), 0);
    CU_ASSERT_EQUAL(count_line(got, "short-3"), 0);
    free(got);
    free(lc.buf);
    free(text);
    free(input);
}

/* --- 6. several files on two threads ------------------------------------------------------- */

#define NFILES 5
#define NLINES 400

static void test_directory_threads(void) {
    char sub[700], path[800], out[700], err[1024], line[64], *text, *got;
    int64_t last_at[NFILES];
    int missing = 0, twice = 0;
    fresh_dir();
    CU_ASSERT_EQUAL_FATAL(mkdir(path_in(sub, sizeof(sub), "in"), 0755), 0);
    for (int f = 0; f < NFILES; f++) {
        char *body = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&body, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
        for (int i = 0; i < NLINES; i++) {
            fflush(fp);
            last_at[f] = (int64_t)len;
            fprintf(fp, "file%d-line%d\n", f, i);
        }
        fclose(fp);
        snprintf(path, sizeof(path), "%s/part-%d.log", sub, f);
        CU_ASSERT_FATAL(write_text(path, "w", body));
        free(body);
    }
    /* not matched by include: must not be read */
    snprintf(path, sizeof(path), "%s/ignored.txt", sub);
    CU_ASSERT_FATAL(write_text(path, "w", "never\n"));
    {
        char extra[1024];
        snprintf(extra, sizeof(extra),
                 "job.container.thread.count=2\n"
                 "task.poll.batch=16\n"
                 "systems.fs.streams.src.path=%s\n"
                 "systems.fs.streams.src.include=*.log\n",
                 sub);
        text = job_text(extra);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(run_job(text, err, sizeof(err)), SL_OK);
    got = slurp(path_in(out, sizeof(out), "out.txt"));
    CU_ASSERT_EQUAL(count_lines(got), NFILES * NLINES);
    for (int f = 0; f < NFILES; f++)
        for (int i = 0; i < NLINES; i++) {
            int n;
            snprintf(line, sizeof(line), "file%d-line%d", f, i);
            n = count_line(got, line);
            missing += n == 0;
            twice += n > 1;
        }
    CU_ASSERT_EQUAL(missing, 0);
    CU_ASSERT_EQUAL(twice, 0);
    CU_ASSERT_EQUAL(count_line(got, "never"), 0);
    free(got);
    for (int f = 0; f < NFILES; f++) {
        snprintf(path, sizeof(path), "%s/part-%d.log", sub, f);
        CU_ASSERT_EQUAL(checkpoint_of(path), last_at[f]);
    }
    snprintf(path, sizeof(path), "%s/ignored.txt", sub);
    CU_ASSERT_EQUAL(checkpoint_of(path), -1);
    free(text);
}

/* --- 7. invalid configurations ------------------------------------------------------------- */

/* Every line of err starts with "job.properties:<n>:"; returns the number of lines. */
static int error_lines_ok(const char *err, int *bad) {
    int n = 0;
    *bad = 0;
    for (const char *p = err; *p;) {
        const char *nl = strchr(p, '\n');
        int line = 0, used = 0;
        if (sscanf(p, "job.properties:%d:%n", &line, &used) != 1 || used == 0 || line <= 0)
            (*bad)++;
        n++;
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

static void test_invalid_config(void) {
    static const char text[] = "job.name=unit\n"                       /* 1 */
                               "log.level=error\n"                     /* 2 */
                               "task.inputs=fs.src\n"                  /* 3 */
                               "systems.fs.samza.factory=file\n"       /* 4 */
                               "task.comit.ms=5s\n"                    /* 5: unknown key */
                               "systems.fs.streams.src.format=xml\n"   /* 6: bad enum */
                               "systems.fs.streams.src.path=/dev/null\n";
    char err[2048] = "";
    int bad = 0;
    sl_conf_t *conf = sl_conf_new();
    sl_job_t *job;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
    CU_ASSERT_EQUAL_FATAL(sl_conf_load_string(conf, "job.properties", text, strlen(text), err,
                                              sizeof(err)),
                          SL_OK);
    job = sl_job_new(conf, err, sizeof(err));
    CU_ASSERT_PTR_NULL(job);
    CU_ASSERT_EQUAL(error_lines_ok(err, &bad), 2);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "job.properties:5:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "task.comit.ms"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "task.commit.ms")); /* the "did you mean" */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "job.properties:6:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "xml"));
    if (bad || !strstr(err, "job.properties:6:"))
        fprintf(stderr, "errors:\n%s\n", err);
    /* the conf is still ours: readable, then destroyed here (ASan checks both) */
    CU_ASSERT_STRING_EQUAL(sl_conf_get(conf, "job.name"), "unit");
    sl_conf_destroy(conf);
    sl_job_destroy(NULL);
}

static void test_invalid_config_missing(void) {
    /* no job.name (required), and an input of a system without a factory */
    static const char text[] = "log.level=error\n"  /* 1 */
                               "task.inputs=nosys.in\n"; /* 2 */
    char err[2048] = "";
    int bad = 0;
    sl_conf_t *conf = sl_conf_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(conf);
    CU_ASSERT_EQUAL_FATAL(sl_conf_load_string(conf, "job.properties", text, strlen(text), err,
                                              sizeof(err)),
                          SL_OK);
    CU_ASSERT_PTR_NULL(sl_job_new(conf, err, sizeof(err)));
    CU_ASSERT(error_lines_ok(err, &bad) >= 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "job.name"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "job.properties:2:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "nosys"));
    sl_conf_destroy(conf);
}

/* --- 8. sl_job_stop() while following ------------------------------------------------------ */

typedef struct runner {
    sl_job_t *job;
    sl_err_t rc;
} runner_t;

static void *run_thread(void *arg) {
    runner_t *r = arg;
    r->rc = sl_job_run(r->job);
    return NULL;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (up to 5 s) until path has n lines; returns the count seen last. */
static int wait_lines(const char *path, int n) {
    int64_t deadline = mono_ms() + 5000;
    int seen;
    for (;;) {
        char *got = slurp(path);
        seen = count_lines(got);
        free(got);
        if (seen >= n || mono_ms() > deadline)
            return seen;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
}

static void test_stop_following(void) {
    char in[700], out[700], err[1024], *text, *got;
    runner_t r = {NULL, SL_ERR_STATE};
    pthread_t th;
    fresh_dir();
    /* offsets: "keep 1\n" 0, "keep 2\n" 7 */
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", "keep 1\nkeep 2\n"));
    path_in(out, sizeof(out), "out.txt");
    text = job_text("systems.fs.streams.src.follow=true\n"
                    "systems.fs.streams.src.poll.interval=10ms\n"
                    "task.commit.ms=1h\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    r.job = make_job(text, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.job);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, run_thread, &r), 0);
    CU_ASSERT_EQUAL(wait_lines(out, 2), 2);
    /* appended while the job follows the file: "keep 3\n" 14, "keep 4\n" 21 */
    CU_ASSERT(write_text(in, "a", "keep 3\nkeep 4\n"));
    CU_ASSERT_EQUAL(wait_lines(out, 4), 4);
    /* nothing committed yet (task.commit.ms=1h) */
    CU_ASSERT_EQUAL(input_checkpoint(), -1);
    sl_job_stop(r.job);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(r.rc, SL_OK);
    CU_ASSERT_PTR_NULL(sl_job_error(r.job));
    sl_job_destroy(r.job);
    got = slurp(out);
    CU_ASSERT_STRING_EQUAL(got, "keep 1\nkeep 2\nkeep 3\nkeep 4\n");
    free(got);
    CU_ASSERT_EQUAL(input_checkpoint(), 21);
    free(text);
}

/* Waits (up to ms) for the runner thread to finish; 1 when it did. */
static int wait_done(const int *done, int64_t ms) {
    int64_t deadline = mono_ms() + ms;
    while (!__atomic_load_n(done, __ATOMIC_SEQ_CST) && mono_ms() < deadline)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    return __atomic_load_n(done, __ATOMIC_SEQ_CST);
}

typedef struct late_runner {
    runner_t r;
    int done;
} late_runner_t;

static void *run_thread_flag(void *arg) {
    late_runner_t *lr = arg;
    lr->r.rc = sl_job_run(lr->r.job);
    __atomic_store_n(&lr->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* A stop that arrives before sl_job_run() got going (a signal right after the handler was
 * installed, or a controller thread that stops a job it just started) must not be lost: the
 * followed job has to end by itself, gracefully. If it does not, a second stop rescues the
 * test (and makes sl_job_run() return SL_ERR_STOPPED). */
static void test_stop_before_run(void) {
    char in[700], out[700], err[1024], *text;
    late_runner_t lr = {{NULL, SL_ERR_STATE}, 0};
    pthread_t th;
    int ended;
    fresh_dir();
    CU_ASSERT_FATAL(write_text(path_in(in, sizeof(in), "in.txt"), "w", "keep 1\n"));
    path_in(out, sizeof(out), "out.txt");
    text = job_text("systems.fs.streams.src.follow=true\n"
                    "systems.fs.streams.src.poll.interval=10ms\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    lr.r.job = make_job(text, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(lr.r.job);
    sl_job_stop(lr.r.job);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, run_thread_flag, &lr), 0);
    ended = wait_done(&lr.done, 2000);
    CU_ASSERT(ended);
    if (!ended) {
        fprintf(stderr, "stop_before_run: the first stop was lost; stopping again\n");
        sl_job_stop(lr.r.job);
    }
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(lr.r.rc, SL_OK);
    sl_job_destroy(lr.r.job);
    free(text);
}

/* --- 9. secrets in the dumped configuration ------------------------------------------------ */

static void test_dump_masks_secrets(void) {
    static const char secret[] = "tok-9f8e7d6c5b4a";
    char err[1024], extra[512], path[700], *text, *dump = NULL;
    size_t len = 0;
    sl_job_t *job;
    FILE *fp;
    fresh_dir();
    snprintf(extra, sizeof(extra),
             "task.operators=keep\n"
             "operators.keep.type=filter\n"
             "sensitive.operators.keep.expr=payload <> '%s'\n"
             "sensitive.job.id=%s\n",
             secret, secret);
    CU_ASSERT_FATAL(write_text(path_in(path, sizeof(path), "in.txt"), "w", ""));
    text = job_text(extra);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    job = make_job(text, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(job);
    fp = open_memstream(&dump, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    sl_job_dump_config(job, fp);
    fclose(fp);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dump);
    CU_ASSERT_PTR_NULL(strstr(dump, secret));
    CU_ASSERT_PTR_NOT_NULL(strstr(dump, "job.id=****"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dump, "operators.keep.expr=****"));
    /* plain values are shown */
    CU_ASSERT_PTR_NOT_NULL(strstr(dump, "job.name=unit"));
    CU_ASSERT_PTR_NOT_NULL(strstr(dump, "operators.keep.type=filter"));
    if (strstr(dump, secret))
        fprintf(stderr, "dump:\n%s\n", dump);
    free(dump);
    sl_job_destroy(job);
    free(text);
}

/* --- keyed state ------------------------------------------------------------------------- */

/* Counts records per payload in keyed state, and holds each record until the next one comes
 * (released at flush), so a record is always in flight while the partition runs: the state can
 * only be committed when nothing is (at the end), and reading must not stall meanwhile. */
typedef struct holdcount {
    sl_record_t *held;
} holdcount_t;

static sl_err_t hc_init(sl_op_t *op, const void *conf, void **statep) {
    (void)conf;
    CU_ASSERT(sl_op_partition(op) ? sl_op_state(op) != NULL : sl_op_state(op) == NULL);
    *statep = calloc(1, sizeof(holdcount_t));
    return *statep ? SL_OK : SL_ERR_NOMEM;
}

static sl_err_t hc_release(sl_op_t *op, holdcount_t *hc) {
    sl_record_t *rec = hc->held;
    sl_err_t err;
    hc->held = NULL;
    if (!rec)
        return SL_OK;
    err = sl_op_emit(op, rec);
    sl_record_unref(rec);
    return err;
}

static sl_err_t hc_process(sl_op_t *op, void *state, sl_record_t *rec) {
    holdcount_t *hc = state;
    sl_state_t *st = sl_op_state(op);
    size_t len = 0, vlen = 0;
    const char *data = sl_record_data(rec, &len);
    const void *val;
    char num[32];
    long n = 0;
    sl_err_t err = sl_state_get(st, data, len, &val, &vlen);
    if (err == SL_OK && vlen < sizeof(num)) {
        memcpy(num, val, vlen);
        num[vlen] = '\0';
        n = strtol(num, NULL, 10);
    } else if (err != SL_ERR_NOENT) {
        return sl_op_fail(op, "get: %s", sl_err_str(err));
    }
    snprintf(num, sizeof(num), "%ld", n + 1);
    if ((err = sl_state_put(st, data, len, num, strlen(num), 0)) != SL_OK)
        return err;
    if ((err = hc_release(op, hc)) != SL_OK)
        return err;
    hc->held = sl_record_ref(rec);
    return SL_OK;
}

static sl_err_t hc_flush(sl_op_t *op, void *state) {
    return hc_release(op, state);
}

static void hc_close(sl_op_t *op, void *state) {
    holdcount_t *hc = state;
    (void)op;
    sl_record_unref(hc->held);
    free(hc);
}

static const sl_operator_plugin_t holdcount_plugin = {
    .abi_version = SL_OPERATOR_ABI_VERSION,
    .name = "unit-holdcount",
    .description = "unit test: counts per payload in keyed state, holds records",
    .init = hc_init,
    .process = hc_process,
    .flush = hc_flush,
    .close = hc_close,
};

/* The committed count of key in the holdcount store of the input's partition; -1 absent. */
static long committed_count(const char *key) {
    char path[700], task[800], err[512] = "";
    const void *val;
    size_t vlen;
    long n = -1;
    sl_ckpt_store_t *ck = sl_ckpt_sqlite_open(path_in(path, sizeof(path), "ckpt.db"), "unit", "1",
                                              err, sizeof(err));
    sl_state_host_t *sh;
    if (!ck)
        return -2;
    snprintf(task, sizeof(task), "fs/src/%s", path_in(path, sizeof(path), "in.txt"));
    sh = sl_state_host_new(ck, task, 10, 100, err, sizeof(err));
    if (sh && sl_state_get(sl_state_host_store(sh, "hc"), key, strlen(key), &val, &vlen) == SL_OK &&
        vlen < sizeof(task)) {
        memcpy(task, val, vlen); /* not NUL-terminated */
        task[vlen] = '\0';
        n = strtol(task, NULL, 10);
    }
    sl_state_host_destroy(sh);
    sl_ckpt_close(ck);
    return n;
}

static void test_keyed_state(void) {
    char in[700], out[700], err[1024], *text, *got;
    FILE *fp;
    log_capture_t lc;
    const int lines = 30000;
    CU_ASSERT_EQUAL_FATAL(sl_operator_register(&holdcount_plugin), SL_OK);
    fresh_dir();
    fp = fopen(path_in(in, sizeof(in), "in.txt"), "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    for (int i = 0; i < lines; i++)
        fprintf(fp, "k%d\n", i % 3);
    fclose(fp);
    /* Commits every 10 ms while records are held: the job must neither stall nor commit the
     * state early; the end commits everything. */
    text = job_text("task.operators=hc\n"
                    "operators.hc.type=unit-holdcount\n"
                    "task.commit.ms=10\n"
                    "log.level=warn\n"
                    "task.state.cache.size=2\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    capture_start(&lc);
    CU_ASSERT_EQUAL(run_job(text, err, sizeof(err)), SL_OK);
    capture_stop(&lc);
    got = slurp(path_in(out, sizeof(out), "out.txt"));
    CU_ASSERT_EQUAL(count_lines(got), lines);
    free(got);
    CU_ASSERT_EQUAL(committed_count("k0"), lines / 3);
    CU_ASSERT_EQUAL(committed_count("k2"), lines / 3);
    CU_ASSERT_EQUAL(input_checkpoint(), (int64_t)(lines - 1) * 3);
    /* When a commit came while records were held, its barrier timed out once, said so once. */
    {
        int warned = 0;
        for (const char *p = lc.buf; (p = strstr(p, "still in flight")); p++)
            warned++;
        CU_ASSERT(warned <= 1);
    }
    free(lc.buf);
    /* A second run resumes the counts from the committed state. */
    CU_ASSERT_FATAL(write_text(in, "a", "k0\nk1\n"));
    CU_ASSERT_EQUAL(run_job(text, err, sizeof(err)), SL_OK);
    CU_ASSERT_EQUAL(committed_count("k0"), lines / 3 + 1);
    CU_ASSERT_EQUAL(committed_count("k1"), lines / 3 + 1);
    CU_ASSERT_EQUAL(committed_count("k2"), lines / 3);
    free(text);
}

void test_job_register(void) {
    static const unit_test_t tests[] = {
        {"bounded_filter", test_bounded_filter},
        {"resume", test_resume},
        {"reset_offset", test_reset_offset},
        {"offset_upcoming", test_offset_upcoming},
        {"policy_fail", test_policy_fail},
        {"policy_skip", test_policy_skip},
        {"oversize_skip", test_oversize_skip},
        {"oversize_fail", test_oversize_fail},
        {"directory_threads", test_directory_threads},
        {"invalid_config", test_invalid_config},
        {"invalid_config_missing", test_invalid_config_missing},
        {"stop_following", test_stop_following},
        {"stop_before_run", test_stop_before_run},
        {"dump_masks_secrets", test_dump_masks_secrets},
        {"keyed_state", test_keyed_state},
        {NULL, NULL},
    };
    unit_add_suite("job", tests);
}
