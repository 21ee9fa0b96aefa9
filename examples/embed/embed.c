/*
 * embed.c: a C program running a sluice job inside itself. It builds the job from code
 * (sl_conf_set), runs it on its own thread (sl_job_start), pushes its own log events into the
 * host input `host.events` (two partitions, chosen by the user's key), lets the built-in
 * `filter` operator keep the errors, takes the results from the host output `host.alerts`,
 * acknowledges each one (only then may the job commit the offsets they came from), and prints
 * them sorted, then the committed offsets.
 *
 *     make -f Makefile.example && ./embed [checkpoint-file]
 *
 * The checkpoint file (default embed.checkpoints.db) makes a second run continue the offsets
 * after the ones committed by the first.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/sluice.h>

static const char *const events[][2] = {
    {"ann", "{\"user\":\"ann\",\"level\":\"info\",\"msg\":\"login\"}"},
    {"bob", "{\"user\":\"bob\",\"level\":\"error\",\"msg\":\"disk full\"}"},
    {"ann", "{\"user\":\"ann\",\"level\":\"error\",\"msg\":\"timeout\"}"},
    {"cid", "{\"user\":\"cid\",\"level\":\"info\",\"msg\":\"logout\"}"},
    {"bob", "{\"user\":\"bob\",\"level\":\"info\",\"msg\":\"retry\"}"},
    {"cid", "{\"user\":\"cid\",\"level\":\"error\",\"msg\":\"denied\"}"},
    {"ann", "{\"user\":\"ann\",\"level\":\"error\",\"msg\":\"crash\"}"},
    {"bob", "{\"user\":\"bob\",\"level\":\"info\",\"msg\":\"ok\"}"},
};

static int by_text(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    const char *ckpt = argc > 1 ? argv[1] : "embed.checkpoints.db";
    const size_t nevents = sizeof(events) / sizeof(events[0]);
    char err[2048], *lines[sizeof(events) / sizeof(events[0])];
    size_t nlines = 0;
    sl_conf_t *conf = sl_conf_new();
    sl_job_t *job;
    sl_host_record_t *rec;
    sl_err_t rc;
    int status = 0;

    if (!conf ||
        sl_conf_set(conf, "job.name", "embed") != SL_OK ||
        sl_conf_set(conf, "job.checkpoint.sqlite.path", ckpt) != SL_OK ||
        sl_conf_set(conf, "log.level", "warn") != SL_OK ||
        sl_conf_set(conf, "task.inputs", "host.events") != SL_OK ||
        sl_conf_set(conf, "task.outputs", "host.alerts") != SL_OK ||
        sl_conf_set(conf, "task.operators", "errors") != SL_OK ||
        sl_conf_set(conf, "task.commit.ms", "100ms") != SL_OK ||
        sl_conf_set(conf, "systems.host.samza.factory", "inproc") != SL_OK ||
        sl_conf_set(conf, "systems.host.streams.events.partitions", "2") != SL_OK ||
        sl_conf_set(conf, "systems.host.streams.events.queue.size", "4") != SL_OK ||
        sl_conf_set(conf, "operators.errors.type", "filter") != SL_OK ||
        sl_conf_set(conf, "operators.errors.expr",
                    "json_extract(payload, '$.level') = 'error'") != SL_OK) {
        fprintf(stderr, "embed: out of memory\n");
        sl_conf_destroy(conf);
        return 1;
    }
    if (!(job = sl_job_new(conf, err, sizeof(err)))) {
        fprintf(stderr, "embed: %s\n", err);
        sl_conf_destroy(conf);
        return 1;
    }
    if (sl_job_start(job) != SL_OK) {
        fprintf(stderr, "embed: cannot start the job\n");
        sl_job_destroy(job);
        return 1;
    }
    /* Blocking pushes: the queues hold 4 records each, the job makes room. */
    for (size_t i = 0; i < nevents; i++) {
        const char *key = events[i][0], *data = events[i][1];
        rc = sl_host_push(job, "host.events", SL_HOST_BY_KEY, key, strlen(key), data,
                          strlen(data), SL_HOST_FOREVER, NULL, NULL);
        if (rc != SL_OK) {
            fprintf(stderr, "embed: push: %s\n", sl_err_str(rc));
            status = 1;
            break;
        }
    }
    sl_host_input_end(job, "host.events");
    /* The job ends by itself once the input ended and every result was acknowledged. */
    while ((rc = sl_host_output_poll(job, "host.alerts", SL_HOST_FOREVER, &rec)) == SL_OK) {
        const sl_source_t *src = sl_host_record_source(rec);
        size_t len, keylen;
        const char *data = sl_host_record_data(rec, &len);
        const char *key = sl_host_record_key(rec, &keylen);
        char line[512];
        snprintf(line, sizeof(line), "%s/%s offset %s key %.*s: %.*s", src->stream,
                 src->partition, src->offset, (int)keylen, key ? key : "", (int)len, data);
        if (nlines < nevents && (lines[nlines] = strdup(line)))
            nlines++;
        sl_host_record_ack(rec); /* done with it: its offset may be committed */
    }
    if (rc != SL_ERR_STOPPED) {
        fprintf(stderr, "embed: poll: %s\n", sl_err_str(rc));
        status = 1;
    }
    if ((rc = sl_job_wait(job)) != SL_OK) {
        fprintf(stderr, "embed: job: %s\n", sl_job_error(job) ? sl_job_error(job)
                                                              : sl_err_str(rc));
        status = 1;
    }
    qsort(lines, nlines, sizeof(*lines), by_text);
    for (size_t i = 0; i < nlines; i++) {
        printf("%s\n", lines[i]);
        free(lines[i]);
    }
    for (int p = 0; p < sl_host_input_partitions(job, "host.events"); p++) {
        int64_t off;
        if (sl_host_input_committed(job, "host.events", p, &off) == SL_OK)
            printf("committed host.events/%d at %lld\n", p, (long long)off);
        else
            printf("committed host.events/%d: nothing\n", p);
    }
    sl_job_destroy(job);
    return status;
}
