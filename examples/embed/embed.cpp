// embed.cpp: embed.c in C++: the same job built from code, fed through the host input
// `host.events`, filtered by the built-in `filter` operator, read back from the host output
// `host.alerts` with an acknowledgement per record, and printed the same way, sorted.
//
//     make -f Makefile.example && ./embed-cpp [checkpoint-file]
#include <sluice/sluice.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

const std::pair<const char *, const char *> events[] = {
    {"ann", R"({"user":"ann","level":"info","msg":"login"})"},
    {"bob", R"({"user":"bob","level":"error","msg":"disk full"})"},
    {"ann", R"({"user":"ann","level":"error","msg":"timeout"})"},
    {"cid", R"({"user":"cid","level":"info","msg":"logout"})"},
    {"bob", R"({"user":"bob","level":"info","msg":"retry"})"},
    {"cid", R"({"user":"cid","level":"error","msg":"denied"})"},
    {"ann", R"({"user":"ann","level":"error","msg":"crash"})"},
    {"bob", R"({"user":"bob","level":"info","msg":"ok"})"},
};

} // namespace

int main(int argc, char **argv) {
    const char *ckpt = argc > 1 ? argv[1] : "embed.checkpoints.db";
    const std::pair<const char *, const char *> settings[] = {
        {"job.name", "embed"},
        {"job.checkpoint.sqlite.path", ckpt},
        {"log.level", "warn"},
        {"task.inputs", "host.events"},
        {"task.outputs", "host.alerts"},
        {"task.operators", "errors"},
        {"task.commit.ms", "100ms"},
        {"systems.host.samza.factory", "inproc"},
        {"systems.host.streams.events.partitions", "2"},
        {"systems.host.streams.events.queue.size", "4"},
        {"operators.errors.type", "filter"},
        {"operators.errors.expr", "json_extract(payload, '$.level') = 'error'"},
    };
    char err[2048];
    sl_conf_t *conf = sl_conf_new();
    if (!conf)
        return 1;
    for (const auto &kv : settings)
        if (sl_conf_set(conf, kv.first, kv.second) != SL_OK) {
            std::fprintf(stderr, "embed-cpp: out of memory\n");
            sl_conf_destroy(conf);
            return 1;
        }
    sl_job_t *job = sl_job_new(conf, err, sizeof(err));
    if (!job) {
        std::fprintf(stderr, "embed-cpp: %s\n", err);
        sl_conf_destroy(conf);
        return 1;
    }
    if (sl_job_start(job) != SL_OK) {
        std::fprintf(stderr, "embed-cpp: cannot start the job\n");
        sl_job_destroy(job);
        return 1;
    }
    int status = 0;
    sl_err_t rc;
    for (const auto &ev : events) {
        rc = sl_host_push(job, "host.events", SL_HOST_BY_KEY, ev.first, std::strlen(ev.first),
                          ev.second, std::strlen(ev.second), SL_HOST_FOREVER, nullptr, nullptr);
        if (rc != SL_OK) {
            std::fprintf(stderr, "embed-cpp: push: %s\n", sl_err_str(rc));
            status = 1;
            break;
        }
    }
    sl_host_input_end(job, "host.events");
    std::vector<std::string> lines;
    sl_host_record_t *rec;
    while ((rc = sl_host_output_poll(job, "host.alerts", SL_HOST_FOREVER, &rec)) == SL_OK) {
        const sl_source_t *src = sl_host_record_source(rec);
        size_t len, keylen;
        const char *data = static_cast<const char *>(sl_host_record_data(rec, &len));
        const char *key = sl_host_record_key(rec, &keylen);
        lines.push_back(std::string(src->stream) + "/" + src->partition + " offset " +
                        src->offset + " key " + std::string(key ? key : "", key ? keylen : 0) +
                        ": " + std::string(data, len));
        sl_host_record_ack(rec);
    }
    if (rc != SL_ERR_STOPPED) {
        std::fprintf(stderr, "embed-cpp: poll: %s\n", sl_err_str(rc));
        status = 1;
    }
    if ((rc = sl_job_wait(job)) != SL_OK) {
        std::fprintf(stderr, "embed-cpp: job: %s\n",
                     sl_job_error(job) ? sl_job_error(job) : sl_err_str(rc));
        status = 1;
    }
    std::sort(lines.begin(), lines.end());
    for (const auto &line : lines)
        std::printf("%s\n", line.c_str());
    for (int p = 0; p < sl_host_input_partitions(job, "host.events"); p++) {
        int64_t off;
        if (sl_host_input_committed(job, "host.events", p, &off) == SL_OK)
            std::printf("committed host.events/%d at %lld\n", p, static_cast<long long>(off));
        else
            std::printf("committed host.events/%d: nothing\n", p);
    }
    sl_job_destroy(job);
    return status;
}
