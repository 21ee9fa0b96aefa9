/*
 * conf_job.c: the job's property table and the one place where a loaded configuration becomes
 * a job's objects: the job table, every system (its factory chosen by samza.factory), every
 * input and output stream (stream keys override system-level defaults), and the operator chain.
 * Every problem goes to the conf's error list so that one run reports all of them; then unknown
 * keys are reported with a "did you mean". Also writes docs/CONFIGURATION.md from every table.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "job_int.h"
#include "sluice/log.h"
#include "util_str.h"

#define JO(f) offsetof(sl_job_conf_t, f)

const sl_prop_t sl_job_props[] = {
    {"job.name", SL_PROP_STRING, JO(name), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "Name of the job. Keys its checkpoints, together with job.id."},
    {"job.id", SL_PROP_STRING, JO(id), "1", 0, 0, NULL, 0,
     "Instance id of the job (Samza semantics): two jobs with the same name and different ids "
     "keep separate checkpoints."},
    {"task.inputs", SL_PROP_LIST, JO(inputs), NULL, 0, 0, NULL, SL_PROP_F_REQUIRED,
     "Input streams, comma-separated, each as <system>.<stream>."},
    {"task.outputs", SL_PROP_LIST, JO(outputs), NULL, 0, 0, NULL, 0,
     "Output streams, each as <system>.<stream>. Every record leaving the operator chain goes to "
     "every output. Without outputs the records are dropped after the chain (a pure "
     "side-effect job)."},
    {"task.broadcast.inputs", SL_PROP_LIST, JO(broadcast), NULL, 0, 0, NULL, 0,
     "Broadcast inputs (Samza's term), each as <system>.<stream> and also in task.inputs: "
     "every process reads all of such a stream (its partitions are never shared through a "
     "lease table or a subscription), and what it makes of a job-wide table (a join's) is seen "
     "by the operators of every partition of the other inputs. Samza's #<partition> suffixes "
     "are refused: a whole stream is broadcast."},
    {"task.operators", SL_PROP_LIST, JO(operators), NULL, 0, 0, NULL, 0,
     "The operator chain: operator instance names in order; each is configured under "
     "operators.<name>.*."},
    {"task.commit.ms", SL_PROP_DURATION, JO(commit_ms), "60000", 10, 86400000.0, NULL, 0,
     "How often acknowledged offsets are checkpointed (Samza semantics). A crash replays at "
     "most this much input."},
    {"task.error.policy", SL_PROP_ENUM, JO(error_policy), "fail", 0, 0, "fail|skip", 0,
     "What a record that cannot be processed (operator error, undecodable input, a sink "
     "rejecting it) does: fail stops the job without committing past it; skip logs it, counts "
     "it in sluice_records_errors_total and goes on."},
    {"task.max.inflight", SL_PROP_INT, JO(max_inflight), "10000", 1, 10000000, NULL, 0,
     "Per partition, the most source records read but not yet acknowledged by the sinks; "
     "reading pauses above it. Over a whole worker thread, reaching it makes the producers "
     "send what they buffered at once."},
    {"task.poll.batch", SL_PROP_INT, JO(poll_batch), "1024", 1, 1000000, NULL, 0,
     "Records a partition delivers per turn of its worker's event loop."},
    {"task.shutdown.ms", SL_PROP_DURATION, JO(shutdown_timeout_ms), "30000", 0, 3600000.0, NULL,
     0, "On SIGINT/SIGTERM, how long the whole stop may take: the chains draining and the "
     "sinks acknowledging (records still unacknowledged then are not checkpointed and are read "
     "again next time), then the inputs' own stop (lease releases) in what is left."},
    {"task.start.timeout", SL_PROP_DURATION, JO(start_timeout_ms), "120s", 0, 86400000.0,
     NULL, 0,
     "Longest time an input or output may take at start to reach the services it cannot work "
     "without (a Kinesis or DynamoDB stream's description, the KCL lease table, a Pulsar "
     "topic's partitions). An endpoint still failing then (connection refused, unknown host, "
     "unreachable proxy, no answer, 5xx) fails the job with its last error (exit 1) instead of "
     "retrying on; once started, outages are ridden out with warnings and /healthz. 0: retry "
     "without end."},
    {"task.health.stall.ms", SL_PROP_DURATION, JO(health_stall_ms), "60000", 1000, 86400000.0,
     NULL, 0,
     "How long an endpoint the job depends on (an AWS service, a Pulsar broker) may keep "
     "failing, with no successful call in between, before /healthz answers 503 naming it and "
     "its latest error. The first failure is logged at once either way."},
    {"task.state.cache.size", SL_PROP_INT64, JO(state_cache_size), "10000", 1, 1e9, NULL, 0,
     "Keyed state (sluice/state.h): the most entries (keys, whatever their size) each operator "
     "instance keeps in memory. Reads of other keys go to the SQLite checkpoint file; when the "
     "cache is full of uncommitted changes they spill to a temporary table on disk until the "
     "next commit writes them with the partition's offset."},
    {"task.state.value.max-bytes", SL_PROP_SIZE, JO(state_value_max), "1M", 0, 1073741824.0,
     NULL, 0,
     "Keyed state: the largest value sl_state_put() accepts; a larger one fails with an error "
     "naming the operator, the key and the size."},
    {"task.timestamp.expr", SL_PROP_STRING, JO(timestamp_expr), NULL, 0, 0, NULL, 0,
     "Event time: a SQLite expression over the record (the columns and header(name) function of "
     "the filter operator) giving its event time in ms since the epoch, e.g. "
     "`json_extract(payload, '$.ts')`; a real is truncated, a text must hold a number. Unset, a "
     "record's event time is its source's: the Kinesis approximate arrival time, the Pulsar "
     "event time (else the publish time); files have none. A record for which it is NULL keeps "
     "its source's event time. Evaluated before the first operator."},
    {"task.watermark.delay", SL_PROP_DURATION, JO(watermark_delay_ms), "0", 0, 8.64e10, NULL, 0,
     "The out-of-orderness allowed for event time (Flink's bounded out-of-orderness): a "
     "partition's watermark is the largest event time it has seen minus this minus 1 ms. "
     "Windows close and event-time timers fire when the watermark passes them; a record older "
     "than the watermark is late (see the window operator's `allowed-lateness`)."},
    {"task.watermark.idle-timeout", SL_PROP_DURATION, JO(watermark_idle_ms), "0", 0, 8.64e10,
     NULL, 0,
     "After a repartition, a partition's watermark is the smallest of its upstream "
     "partitions'. An upstream partition that has read no record for this long (processing "
     "time) says it is idle and stops holding that watermark back until it reads again "
     "(Flink's table.exec.source.idle-timeout; its records may then be late). 0: never idle."},
    {"job.container.thread.count", SL_PROP_INT, JO(threads), "1", 1, 256, NULL, 0,
     "Worker threads (Samza semantics). Partitions are spread across them; one partition's "
     "operators always run on one thread."},
    {"job.checkpoint.sqlite.path", SL_PROP_STRING, JO(ckpt_path), "", 0, 0, NULL, 0,
     "SQLite file holding the checkpoints (WAL mode, durable commits). Empty: "
     "<job.name>-<job.id>.checkpoints.db in the working directory."},
    {"job.random.seed", SL_PROP_INT64, JO(seed), "0", 0, 0, NULL, 0,
     "Seed of the operators' random sources (sample); 0 seeds from the clock."},
    {"metrics.http.port", SL_PROP_INT, JO(metrics_port), "0", 0, 65535, NULL, 0,
     "When set, serve Prometheus metrics on /metrics and a health check on /healthz on this "
     "port. 0 disables the server."},
    {"metrics.http.host", SL_PROP_STRING, JO(metrics_host), "127.0.0.1", 0, 0, NULL, 0,
     "Address the metrics server listens on."},
    {"log.level", SL_PROP_ENUM, JO(log_level), "info", 0, 0, "error|warn|info|debug", 0,
     "Log level threshold."},
    {"log.debug", SL_PROP_STRING, JO(log_debug), "", 0, 0, NULL, 0,
     "Debug contexts to enable, comma-separated (conf, file, ckpt, worker, op, metrics, or "
     "all); implies log.level=debug."},
    {"log.format", SL_PROP_ENUM, JO(log_format), "text", 0, 0, "text|json", 0,
     "Log line format: text, or one JSON object per line."},
    /* Samza keys that mean nothing to sluice. */
    {"job.factory.class", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's job runner; sluice runs the job itself."},
    {"job.systemstreampartition.grouper.factory", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's partition grouper; sluice assigns partitions to worker threads itself."},
    {"job.coordinator.*", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "Samza's job coordinator."},
    {"job.default.system", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's default system for streams without one; sluice names systems explicitly."},
    {"job.config.loader.*", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "Samza's config loader."},
    {"job.jmx.enabled", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "JMX has no meaning in C."},
    {"task.class", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's Java task class; sluice uses task.operators."},
    {"app.class", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's Java application class; sluice uses task.operators."},
    {"app.runner.class", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "Samza's application runner."},
    {"task.checkpoint.factory", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's checkpoint manager; sluice checkpoints to job.checkpoint.sqlite.path."},
    {"task.checkpoint.system", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's checkpoint system."},
    {"task.checkpoint.replication.factor", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's checkpoint topic replication."},
    {"task.opts", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "JVM options."},
    {"metrics.reporters", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's metrics reporters; sluice serves Prometheus metrics (metrics.http.port)."},
    {"metrics.reporter.*", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's metrics reporter settings."},
    {"serializers.registry.*", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza's serde registry; sluice passes bytes and parses JSON in operators."},
    {"yarn.*", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0, "YARN deployment settings."},
    {"cluster-manager.*", SL_PROP_IGNORED, 0, NULL, 0, 0, NULL, 0,
     "Samza cluster-manager settings."},
    {NULL, 0, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* --- systems and streams ------------------------------------------------------------------- */

static sl_sys_t *find_system(sl_job_t *job, const char *name) {
    for (int i = 0; i < job->nsystems; i++)
        if (!strcmp(job->systems[i]->name, name))
            return job->systems[i];
    return NULL;
}

/* Every factory spelling of every plugin, for "did you mean". */
static const char *suggest_factory(const char *factory) {
    const sl_system_plugin_t *const *plugins;
    const char *cands[64];
    int n = 0, np = sl_system_plugins(&plugins);
    for (int i = 0; i < np; i++)
        for (const char *const *f = plugins[i]->factories; *f && n < 64; f++)
            cands[n++] = *f;
    return sl_suggest(factory, cands, n);
}

/* After a system failed to configure, its other keys cannot be judged: do not also report
 * them as unknown. */
static void mark_prefix_used(sl_conf_t *conf, const char *prefix) {
    sl_conf_entry_t e;
    int n = sl_conf_count(conf);
    size_t len = strlen(prefix);
    for (int i = 0; i < n; i++)
        if (sl_conf_entry(conf, i, &e) == SL_OK && !strncmp(e.key, prefix, len))
            sl_conf_mark_used(conf, e.key);
}

/* The generic table fills sys->factory and sys->library as an sl_system_generic_t. */
_Static_assert(offsetof(sl_sys_t, library) - offsetof(sl_sys_t, factory) ==
                   offsetof(sl_system_generic_t, library),
               "sl_sys_t's factory and library must be laid out as sl_system_generic_t");

/* systems.<sys>.library: loads the user connector, checks it and that samza.factory is one of
 * its names. Adds conf errors and returns -1 on failure. */
static int load_system_library(sl_conf_t *conf, sl_sys_t *sys) {
    const sl_system_plugin_t *plugin;
    char lkey[512], fkey[512], why[256];
    sl_sb_t names = {0};
    sl_err_t err;

    snprintf(lkey, sizeof(lkey), "%slibrary", sys->prefix);
    snprintf(fkey, sizeof(fkey), "%ssamza.factory", sys->prefix);
    plugin = sl_library_plugin(conf, sys->library, SL_SYSTEM_PLUGIN_SYMBOL, "connector", lkey,
                               NULL, &sys->dl);
    if (!plugin)
        return -1;
    if ((err = sl_system_plugin_check(plugin, why, sizeof(why))) != SL_OK) {
        sl_conf_error(conf, lkey, "connector library '%s': %s (%s)", sys->library, why,
                      sl_err_str(err));
        return -1;
    }
    for (const char *const *f = plugin->factories; *f; f++) {
        if (!strcmp(*f, sys->factory)) {
            sys->plugin = plugin;
            return 0;
        }
        sl_sb_printf(&names, "%s'%s'", names.len ? ", " : "", *f);
    }
    sl_conf_error(conf, fkey, "system factory '%s' is not one of those of connector library "
                  "'%s' (system '%s'): %s", sys->factory, sys->library, plugin->name,
                  names.buf ? names.buf : "");
    sl_sb_free(&names);
    return -1;
}

/* Declares system `name` (from its samza.factory key or a task.inputs/outputs entry), once. */
static sl_sys_t *add_system(sl_job_t *job, const char *name, const char *why_key) {
    sl_conf_t *conf = job->conf;
    sl_sys_t *sys = find_system(job, name), **grown;
    sl_sb_t sb = {0};
    const char *prefixes[2];
    const char *factory;

    if (sys)
        return sys;
    if (!(sys = calloc(1, sizeof(*sys))) || !(sys->name = sl_strdup(name)))
        goto oom;
    sl_sb_printf(&sb, "systems.%s.", name);
    if (sb.oom)
        goto oom;
    sys->prefix = sb.buf;
    memset(&sb, 0, sizeof(sb));
    if (!(grown = realloc(job->systems, sizeof(*grown) * (size_t)(job->nsystems + 1))))
        goto oom;
    job->systems = grown;
    job->systems[job->nsystems++] = sys;

    prefixes[0] = sys->prefix;
    prefixes[1] = NULL;
    sl_sb_printf(&sb, "%ssamza.factory", sys->prefix);
    if (sb.oom)
        goto oom;
    if (!sl_conf_get(conf, sb.buf)) {
        /* Point at the line that needs the system rather than at nothing. */
        sl_conf_error(conf, why_key, "system '%s' has no %s (required: the system's kind, e.g. "
                      "file or stdio)", name, sb.buf);
        sl_sb_free(&sb);
        return NULL;
    }
    sl_sb_free(&sb);
    if (sl_conf_apply(conf, sl_system_generic_props, prefixes, &sys->factory) > 0)
        return NULL;
    factory = sys->factory;
    if (sys->library) {
        if (load_system_library(conf, sys) < 0) {
            mark_prefix_used(conf, sys->prefix);
            return NULL;
        }
    } else if (!(sys->plugin = sl_system_find(factory))) {
        char key[512];
        const char *hint = suggest_factory(factory), *option = NULL;
        const char *out = sl_system_left_out(factory, &option);
        snprintf(key, sizeof(key), "%ssamza.factory", sys->prefix);
        if (out)
            sl_conf_error(conf, key, "system factory '%s' is the %s connector, and this sluice "
                          "was built without it (configure %s)", factory, out, option);
        else if (hint)
            sl_conf_error(conf, key, "unknown system factory '%s' (did you mean '%s'?)", factory,
                          hint);
        else
            sl_conf_error(conf, key, "unknown system factory '%s' (see sluice-job(5) for the "
                          "systems sluice has)", factory);
        mark_prefix_used(conf, sys->prefix);
        return NULL;
    }
    if (sys->plugin->system_props) {
        if (!(sys->conf = calloc(1, sys->plugin->system_conf_size ? sys->plugin->system_conf_size : 1)))
            goto oom;
        sl_conf_apply(conf, sys->plugin->system_props, prefixes, sys->conf);
    }
    /* Stream keys may stand at system level as defaults for every stream of the system. */
    sl_conf_scope_add(conf, sys->prefix, sl_stream_generic_props);
    if (sys->plugin->stream_props)
        sl_conf_scope_add(conf, sys->prefix, sys->plugin->stream_props);
    sl_sb_printf(&sb, "%sdefault.stream.", sys->prefix);
    if (!sb.oom) {
        sl_conf_scope_add(conf, sb.buf, sl_stream_generic_props);
        if (sys->plugin->stream_props)
            sl_conf_scope_add(conf, sb.buf, sys->plugin->stream_props);
    }
    sl_sb_free(&sb);
    return sys;
oom:
    sl_sb_free(&sb);
    sl_conf_error(conf, NULL, "out of memory configuring system '%s'", name);
    return NULL;
}

/* Builds the stream of one task.inputs/task.outputs entry "<system>.<stream>". */
static sl_stream_t *add_stream(sl_job_t *job, const char *entry, const char *listkey,
                               int input) {
    sl_conf_t *conf = job->conf;
    const char *dot = strchr(entry, '.');
    char sysname[256];
    sl_stream_t *st = NULL;
    sl_sb_t p0 = {0}, p1 = {0};
    const char *prefixes[4];
    sl_sys_t *sys;

    if (!dot || dot == entry || !dot[1] || (size_t)(dot - entry) >= sizeof(sysname)) {
        sl_conf_error(conf, listkey, "'%s' is not <system>.<stream>", entry);
        return NULL;
    }
    memcpy(sysname, entry, (size_t)(dot - entry));
    sysname[dot - entry] = '\0';
    if (!(sys = add_system(job, sysname, listkey)))
        return NULL;
    if (input && !sys->plugin->discover) {
        sl_conf_error(conf, listkey, "system '%s' (%s) cannot be read: it has no consumer",
                      sysname, sys->plugin->name);
        return NULL;
    }
    if (!input && !sys->plugin->out_send) {
        sl_conf_error(conf, listkey, "system '%s' (%s) cannot be written: it has no producer",
                      sysname, sys->plugin->name);
        return NULL;
    }
    if (!(st = calloc(1, sizeof(*st))) || !(st->name = sl_strdup(dot + 1)))
        goto oom;
    st->sys = sys;
    sl_sb_printf(&p0, "%sstreams.%s.", sys->prefix, st->name);
    sl_sb_printf(&p1, "%sdefault.stream.", sys->prefix);
    if (p0.oom || p1.oom)
        goto oom;
    st->prefix = p0.buf;
    memset(&p0, 0, sizeof(p0));
    prefixes[0] = st->prefix;
    prefixes[1] = p1.buf;
    prefixes[2] = sys->prefix;
    prefixes[3] = NULL;
    sl_conf_apply(conf, sl_stream_generic_props, prefixes, &st->generic);
    if (sys->plugin->stream_props) {
        if (!(st->conf = calloc(1, sys->plugin->stream_conf_size ? sys->plugin->stream_conf_size : 1)))
            goto oom;
        sl_conf_apply(conf, sys->plugin->stream_props, prefixes, st->conf);
        if (sys->plugin->stream_check)
            sys->plugin->stream_check(conf, prefixes, st->conf, input);
    }
    st->default_prefix = p1.buf;
    st->prefixes[0] = st->prefix;
    st->prefixes[1] = st->default_prefix;
    st->prefixes[2] = sys->prefix;
    st->prefixes[3] = NULL;
    return st;
oom:
    sl_sb_free(&p0);
    sl_sb_free(&p1);
    if (st) {
        free(st->name);
        free(st);
    }
    sl_conf_error(conf, NULL, "out of memory configuring stream '%s'", entry);
    return NULL;
}

static void free_stream(sl_stream_t *st) {
    if (!st)
        return;
    sl_conf_obj_free(sl_stream_generic_props, &st->generic);
    if (st->conf && st->sys->plugin->stream_props)
        sl_conf_obj_free(st->sys->plugin->stream_props, st->conf);
    free(st->conf);
    free(st->name);
    free(st->prefix);
    free(st->default_prefix);
    free(st);
}

/* Keys of a system or stream the job neither reads nor writes deserve a better message than
 * "unknown property": nothing else reads them, so report and mark them here. */
static void check_stray_streams(sl_job_t *job) {
    sl_conf_t *conf = job->conf;
    sl_conf_entry_t e;
    int n = sl_conf_count(conf);
    for (int i = 0; i < n; i++) {
        char sysname[256];
        if (sl_conf_entry(conf, i, &e) != SL_OK || strncmp(e.key, "systems.", 8) != 0)
            continue;
        const char *name = e.key + 8, *dot = strchr(name, '.');
        if (!dot || (size_t)(dot - name) >= sizeof(sysname))
            continue;
        memcpy(sysname, name, (size_t)(dot - name));
        sysname[dot - name] = '\0';
        sl_sys_t *sys = find_system(job, sysname);
        if (!sys) {
            sl_conf_mark_used(conf, e.key);
            sl_conf_error(conf, e.key, "system '%s' has no samza.factory and appears in neither "
                          "task.inputs nor task.outputs", sysname);
            continue;
        }
        if (strncmp(dot, ".streams.", 9) != 0)
            continue;
        /* Named in task.inputs/task.outputs (even when that stream failed to configure)? */
        int known = 0;
        const sl_list_t *lists[2] = {&job->jc.inputs, &job->jc.outputs};
        for (int l = 0; l < 2 && !known; l++)
            for (int k = 0; k < lists[l]->cnt && !known; k++) {
                const char *entry = lists[l]->items[k];
                size_t sl = strlen(sysname);
                if (!strncmp(entry, sysname, sl) && entry[sl] == '.' &&
                    !strncmp(dot + 9, entry + sl + 1, strlen(entry + sl + 1)) &&
                    dot[9 + strlen(entry + sl + 1)] == '.')
                    known = 1;
            }
        if (!known) {
            sl_conf_mark_used(conf, e.key);
            sl_conf_error(conf, e.key, "configures a stream of system '%s' that appears in "
                          "neither task.inputs nor task.outputs", sysname);
        }
    }
}

/* Keyed state lives in this process's checkpoint file: an input whose partitions may move to
 * another process (a shared lease table, a Shared/Failover subscription) would start them there
 * without their state, so a stateful operator on one is refused here, before anything runs.
 * Worker threads of one process are fine: they share the file. */
static void check_stateful_inputs(sl_job_t *job) {
    const char *name, *type;
    char key[512], why[1024];

    for (int o = 0; sl_chain_spec_stateful_op(job->spec, o, &name, &type, key, sizeof(key));
         o++)
        for (int i = 0; i < job->ninputs; i++) {
            sl_stream_t *st = job->inputs[i];
            sl_input_t *in;
            int moves;
            if (!st)
                continue;
            if (!(in = sl_input_new(job, st))) {
                sl_conf_error(job->conf, NULL, "out of memory");
                return;
            }
            moves = sl_input_moves(in, why, sizeof(why));
            sl_input_destroy(in);
            if (moves)
                sl_conf_error(job->conf, key,
                              "operator '%s' (%s) keeps keyed state, which cannot follow a "
                              "partition to another process yet, but input %s.%s %s",
                              name, type, st->sys->name, st->name,
                              *why ? why : "may hand its partitions to other processes");
        }
}

/* The input named "system.stream" in list, or -1. */
static int list_find(const sl_list_t *list, const char *name) {
    for (int i = 0; i < list->cnt; i++)
        if (!strcmp(list->items[i], name))
            return i;
    return -1;
}

/* task.broadcast.inputs: inputs, whole streams, read whole by every process; and the table of
 * every join operator is one of them. */
static void check_broadcast(sl_job_t *job) {
    const sl_job_conf_t *jc = &job->jc;
    char why[1024], key[512];
    const char *name, *type;
    for (int b = 0; b < jc->broadcast.cnt; b++) {
        const char *entry = jc->broadcast.items[b];
        int i;
        if (strchr(entry, '#')) {
            sl_conf_error(job->conf, "task.broadcast.inputs", "'%s': sluice broadcasts whole "
                          "streams; name it without the #<partition> part", entry);
            continue;
        }
        if ((i = list_find(&jc->inputs, entry)) < 0) {
            sl_conf_error(job->conf, "task.broadcast.inputs", "'%s' is not in task.inputs",
                          entry);
            continue;
        }
        if (i < job->ninputs && job->inputs[i]) {
            sl_input_t *in = sl_input_new(job, job->inputs[i]);
            int moves;
            if (!in) {
                sl_conf_error(job->conf, NULL, "out of memory");
                return;
            }
            moves = sl_input_moves(in, why, sizeof(why));
            sl_input_destroy(in);
            if (moves)
                sl_conf_error(job->conf, "task.broadcast.inputs", "'%s' is read whole by every "
                              "process, but it %s", entry,
                              *why ? why : "may hand its partitions to other processes");
        }
    }
    for (int i = 0; i < job->ninputs; i++) {
        sl_stream_t *st = job->inputs[i];
        if (st && st->generic.bootstrap && st->sys->plugin &&
            !(st->sys->plugin->flags & SL_SYSTEM_F_REPORTS_HEAD)) {
            snprintf(key, sizeof(key), "%sstreams.%s.samza.bootstrap", st->sys->prefix, st->name);
            sl_conf_error(job->conf, key, "system '%s' (%s) cannot tell when a partition has "
                          "read everything its stream holds, which a bootstrap input waits for "
                          "(file, kinesis and dynamodbstreams can)", st->sys->name,
                          st->sys->plugin->name);
        }
    }
    for (int o = 0; o < jc->operators.cnt; o++) {
        char tkey[512];
        const char *table;
        name = jc->operators.items[o];
        snprintf(tkey, sizeof(tkey), "operators.%s.type", name);
        if (!(type = sl_conf_get(job->conf, tkey)))
            continue;
        if (strcmp(type, "repartition") == 0) {
            snprintf(tkey, sizeof(tkey), "operators.%s.stream", name);
            if ((table = sl_conf_get(job->conf, tkey)) && list_find(&jc->inputs, table) < 0)
                sl_conf_error(job->conf, tkey, "'%s' is not in task.inputs: the operators "
                              "after '%s' read it", table, name);
            else if (table && list_find(&jc->broadcast, table) >= 0)
                sl_conf_error(job->conf, tkey, "'%s' is a broadcast input: a repartition's "
                              "stream spreads the keys over its partitions", table);
            continue;
        }
        if (strcmp(type, "join") != 0)
            continue;
        snprintf(tkey, sizeof(tkey), "operators.%s.table", name);
        if (!(table = sl_conf_get(job->conf, tkey)))
            continue; /* the operator said so */
        if (list_find(&jc->inputs, table) < 0)
            sl_conf_error(job->conf, tkey, "'%s' is not in task.inputs", table);
        else if (list_find(&jc->broadcast, table) < 0)
            sl_conf_error(job->conf, tkey, "'%s' must be in task.broadcast.inputs: every "
                          "partition's join looks its keys up in the whole table", table);
    }
}

sl_err_t sl_job_configure(sl_job_t *job) {
    sl_conf_t *conf = job->conf;
    sl_job_conf_t *jc = &job->jc;
    static const char *const top[] = {"", NULL};
    int lvl;

    /* The job's own log settings, never the process-wide ones (other jobs may be running);
     * the level first, so that what applying the tables logs obeys it. sl_job_new() made
     * job->log this thread's. */
    if ((lvl = sl_log_level_parse(sl_conf_get(conf, "log.level"))) >= 0)
        job->log.level = lvl;
    /* Go on after errors: one run reports every problem of the file. */
    sl_conf_apply(conf, sl_job_props, top, jc);
    if ((lvl = jc->log_level) >= 0)
        job->log.level = lvl;
    job->log.json = jc->log_format == 1;
    if (jc->log_debug && *jc->log_debug) {
        if (!(job->log.debug = sl_log_debug_list(jc->log_debug)))
            return SL_ERR_NOMEM;
        job->log.level = SL_LOG_DEBUG;
    }

    if (jc->inputs.cnt > 0 &&
        !(job->inputs = calloc((size_t)jc->inputs.cnt, sizeof(*job->inputs))))
        return SL_ERR_NOMEM;
    for (int i = 0; i < jc->inputs.cnt; i++)
        job->inputs[job->ninputs++] = add_stream(job, jc->inputs.items[i], "task.inputs", 1);
    if (jc->outputs.cnt > 0 &&
        !(job->outputs = calloc((size_t)jc->outputs.cnt, sizeof(*job->outputs))))
        return SL_ERR_NOMEM;
    for (int i = 0; i < jc->outputs.cnt; i++)
        job->outputs[job->noutputs++] = add_stream(job, jc->outputs.items[i], "task.outputs", 0);

    /* Systems declared with a factory but not used are still validated. */
    {
        sl_conf_entry_t e;
        int n = sl_conf_count(conf);
        for (int i = 0; i < n; i++) {
            if (sl_conf_entry(conf, i, &e) != SL_OK || strncmp(e.key, "systems.", 8) != 0)
                continue;
            const char *name = e.key + 8, *dot = strchr(name, '.');
            if (!dot || strcmp(dot, ".samza.factory") != 0)
                continue;
            char sysname[256];
            if ((size_t)(dot - name) >= sizeof(sysname))
                continue;
            memcpy(sysname, name, (size_t)(dot - name));
            sysname[dot - name] = '\0';
            add_system(job, sysname, e.key);
        }
    }

    {
        sl_chain_opts_t opts;
        memset(&opts, 0, sizeof(opts));
        opts.seed = (uint64_t)jc->seed;
        opts.timestamp_expr = jc->timestamp_expr;
        opts.watermark_delay_ms = jc->watermark_delay_ms;
        opts.watermark_idle_ms = jc->watermark_idle_ms;
        opts.outputs = &jc->outputs;
        job->spec = sl_chain_spec_new_ex(conf, &jc->operators, &opts);
    }
    check_stateful_inputs(job);
    check_broadcast(job);
    check_stray_streams(job);
    sl_conf_check_unknown(conf);
    return sl_conf_error_count(conf) ? SL_ERR_CONF : SL_OK;
}

void sl_job_unconfigure(sl_job_t *job) {
    for (int i = 0; i < job->ninputs; i++)
        free_stream(job->inputs[i]);
    for (int i = 0; i < job->noutputs; i++)
        free_stream(job->outputs[i]);
    free(job->inputs);
    free(job->outputs);
    job->inputs = job->outputs = NULL;
    job->ninputs = job->noutputs = 0;
    for (int i = 0; i < job->nsystems; i++) {
        sl_sys_t *sys = job->systems[i];
        if (sys->conf && sys->plugin && sys->plugin->system_props)
            sl_conf_obj_free(sys->plugin->system_props, sys->conf);
        free(sys->conf);
        free(sys->factory);
        free(sys->library);
        if (sys->dl)
            dlclose(sys->dl);
        free(sys->name);
        free(sys->prefix);
        free(sys);
    }
    free(job->systems);
    job->systems = NULL;
    job->nsystems = 0;
    sl_chain_spec_destroy(job->spec);
    job->spec = NULL;
    sl_conf_obj_free(sl_job_props, &job->jc);
}

void sl_job_dump_config(const sl_job_t *job, FILE *fp) {
    fprintf(fp, "# effective configuration of job '%s' (secrets masked)\n", job->jc.name);
    sl_conf_dump_obj(fp, job->conf, "", sl_job_props, &job->jc);
    for (int i = 0; i < job->nsystems; i++) {
        sl_sys_t *sys = job->systems[i];
        fprintf(fp, "\n# system %s (%s)\n", sys->name, sys->plugin ? sys->plugin->name : "?");
        sl_conf_dump_obj(fp, job->conf, sys->prefix, sl_system_generic_props, &sys->factory);
        if (sys->conf && sys->plugin->system_props)
            sl_conf_dump_obj(fp, job->conf, sys->prefix, sys->plugin->system_props, sys->conf);
    }
    for (int i = 0; i < job->ninputs + job->noutputs; i++) {
        sl_stream_t *st = i < job->ninputs ? job->inputs[i] : job->outputs[i - job->ninputs];
        fprintf(fp, "\n# %s stream %s.%s\n", i < job->ninputs ? "input" : "output",
                st->sys->name, st->name);
        sl_conf_dump_obj(fp, job->conf, st->prefix, sl_stream_generic_props, &st->generic);
        if (st->conf && st->sys->plugin->stream_props)
            sl_conf_dump_obj(fp, job->conf, st->prefix, st->sys->plugin->stream_props, st->conf);
    }
    if (job->spec && sl_chain_spec_count(job->spec) > 0) {
        fprintf(fp, "\n# operators\n");
        sl_chain_spec_dump(job->spec, fp);
    }
}

/* --- documentation ------------------------------------------------------------------------- */

void sl_conf_write_docs(FILE *fp) {
    const sl_system_plugin_t *const *sys;
    const sl_operator_plugin_t *const *ops;
    int nsys = sl_system_plugins(&sys), nops = sl_operator_plugins(&ops);

    fputs("# sluice configuration reference\n\n"
          "<!-- Generated by `sluice config docs` from the property tables in the source; do not "
          "edit. `make docs` regenerates it, and tests/0006-docs-fresh.sh fails when it is "
          "stale. -->\n\n"
          "A job is a Java `.properties` file (`=`, `:` or whitespace separators, `#`/`!` "
          "comments, backslash continuation, `\\uXXXX` escapes, `${ENV_VAR}` and "
          "`${ENV_VAR:-default}` substitution). A key written as `sensitive.<key>` sets `<key>` "
          "and marks its value secret: it is masked in every dump, log line and error.\n\n"
          "Types: *duration* is plain milliseconds or a number with `ms`, `s`, `m`, `h`, `d`; "
          "*size* is bytes or a number with `K`, `M`, `G`, `T` (binary multiples); *list* is "
          "comma-separated; *bool* is `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`).\n\n"
          "Stream properties may also be set at system level (`systems.<system>.<key>` or Samza's "
          "`systems.<system>.default.stream.<key>`) as defaults for every stream of the system; "
          "a stream's own key wins.\n\n", fp);
    sl_conf_doc_table(fp, "Job", "", "Job-wide settings. Samza keys that mean nothing to sluice "
                      "are accepted and ignored (listed as *ignored*); any other unknown key is an "
                      "error.", sl_job_props);
    sl_conf_doc_table(fp, "Systems (every system)", "systems.<system>.",
                      "Every system named in task.inputs or task.outputs needs a factory.",
                      sl_system_generic_props);
    sl_conf_doc_table(fp, "Streams (every system)", "systems.<system>.streams.<stream>.",
                      "Generic per-stream settings (Samza semantics).", sl_stream_generic_props);
    for (int i = 0; i < nsys; i++) {
        sl_sb_t title = {0}, intro = {0};
        sl_sb_printf(&title, "System `%s`", sys[i]->name);
        sl_sb_printf(&intro, "%s Factory names:", sys[i]->description);
        for (const char *const *f = sys[i]->factories; *f; f++)
            sl_sb_printf(&intro, " `%s`", *f);
        sl_sb_puts(&intro, ".");
        if (sys[i]->system_props)
            sl_conf_doc_table(fp, title.buf, "systems.<system>.", intro.buf,
                              sys[i]->system_props);
        const sl_system_plugin_t *same = NULL;
        for (int j = 0; j < i && !same; j++)
            if (sys[i]->stream_props && sys[j]->stream_props == sys[i]->stream_props)
                same = sys[j];
        if (same) {
            /* a flavour of an earlier system: its table once */
            fprintf(fp, "## %s streams\n\n%s\n\nIts stream properties are those of the "
                    "[`%s` system](#system-%s-streams).\n\n", title.buf, intro.buf, same->name,
                    same->name);
        } else if (sys[i]->stream_props) {
            sl_sb_puts(&title, " streams");
            sl_conf_doc_table(fp, title.buf, "systems.<system>.streams.<stream>.",
                              sys[i]->system_props ? "" : intro.buf, sys[i]->stream_props);
        }
        sl_sb_free(&title);
        sl_sb_free(&intro);
    }
    sl_conf_doc_table(fp, "Operators (every operator)", "operators.<name>.",
                      "Every name in task.operators is configured under operators.<name>.: "
                      "either a built-in `type` or a user `library`.", sl_operator_props);
    for (int i = 0; i < nops; i++) {
        sl_sb_t title = {0};
        if (!ops[i]->props)
            continue;
        sl_sb_printf(&title, "Operator type `%s`", ops[i]->name);
        sl_conf_doc_table(fp, title.buf, "operators.<name>.", ops[i]->description, ops[i]->props);
        sl_sb_free(&title);
    }
}
