/*
 * cli/main.c: the `sluice` command: run a job, check or dump its configuration, generate the
 * configuration reference, list or reset checkpoints. Exit codes (documented in sluice(1)):
 * 0 success, 1 the job failed while running, 2 usage error, 3 invalid configuration,
 * 4 checkpoint store error, 5 checkpoints reset refused (workers hold leases), 130 stopped by a
 * second signal without the final checkpoint.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include <sluice/sluice.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_CONFIG 3
#define EXIT_CKPT 4
#define EXIT_HELD 5 /* checkpoints reset: leases held by running workers */
#define EXIT_EXT 1004 /* internal: an external store failed (reported as EXIT_CKPT) */
#define EXIT_ABORTED 130

static const char *progname = "sluice";

static const char usage_main[] =
    "usage: sluice <command> [options]\n"
    "\n"
    "commands:\n"
    "  run JOB                    run the job described by the properties file JOB\n"
    "  run --pulsar-io kinesis-source|kinesis-sink|dynamodb-source CONFIG\n"
    "                             run a Pulsar IO connector config as a job (also with\n"
    "                             config check|dump and checkpoints list|reset)\n"
    "  config check JOB           validate JOB completely and report every problem\n"
    "  config dump JOB            print the effective configuration (secrets masked)\n"
    "  config docs                print the configuration reference (markdown)\n"
    "  checkpoints list JOB       list the job's checkpoints\n"
    "  checkpoints reset JOB      delete the job's checkpoints (and keyed state)\n"
    "  version                    print the version\n"
    "\n"
    "Run `sluice <command> --help` for a command's options; see sluice(1) and sluice-job(5).\n";

static const char usage_run[] =
    "usage: sluice run JOB [-D key=value]...\n"
    "       sluice run --pulsar-io kinesis-source|kinesis-sink|dynamodb-source CONFIG\n"
    "                  [--topic TOPIC] [--pulsar-url URL] [-D key=value]...\n"
    "\n"
    "Runs the job until its inputs end, or until SIGINT/SIGTERM: then it stops reading, drains\n"
    "the operator chains, flushes the producers and writes final checkpoints (exit 0). A\n"
    "second signal exits at once without the final checkpoint (exit 130).\n"
    "  -D key=value   set a property, overriding the file (repeatable)\n"
    "  --pulsar-io KIND CONFIG\n"
    "                 run a Pulsar IO connector config (JSON or YAML, as given to pulsar-admin)\n"
    "                 as the equivalent job: kinesis-source reads Kinesis into TOPIC,\n"
    "                 kinesis-sink writes TOPIC to Kinesis, dynamodb-source reads a DynamoDB\n"
    "                 stream into TOPIC (TOPIC: --topic, else the config's\n"
    "                 topicName or inputs; the broker: --pulsar-url, $PULSAR_SERVICE_URL or\n"
    "                 pulsar://localhost:6650); -D NAME=VALUE with a NAME without a dot\n"
    "                 sets one of the connector's settings, as the CONFIG does\n";

static const char usage_config[] =
    "usage: sluice config check JOB [-D key=value]...\n"
    "       sluice config dump JOB [-D key=value]...\n"
    "       sluice config docs\n"
    "\n"
    "check validates every property of every component (exit 0, or 3 with one line per\n"
    "problem naming file:line and key); dump prints the effective configuration with every\n"
    "default filled in and secrets masked; docs prints the reference of every property.\n";

static const char usage_ckpt[] =
    "usage: sluice checkpoints list JOB [--stream S] [--partition P]\n"
    "       sluice checkpoints reset JOB [--stream S] [--partition P] [--force]\n"
    "\n"
    "Lists or deletes the checkpoints of the job (its job.name and job.id) in its SQLite\n"
    "checkpoint store, and the positions its inputs keep elsewhere: the DynamoDB lease table\n"
    "of a Kinesis or DynamoDB Streams input. That table is authoritative (a run resumes from\n"
    "it); the SQLite rows of its shards only mirror it. Times are UTC (ISO 8601). A lease\n"
    "shows its owner and counter, and is free, owned, finished (SHARD_END) or unreadable\n"
    "(not a lease item; the problems are named). Whether an owned lease is still held cannot\n"
    "be told from one read: a lease is expired when its leaseCounter stood still for\n"
    "aws.kcl.FailoverTimeMillis.\n"
    "reset deletes the leases too, so the next run starts every shard at its initial\n"
    "position. When some lease has an owner it first watches the counters for up to\n"
    "aws.kcl.FailoverTimeMillis: if a lease's counter moves while it has an owner, a worker\n"
    "holds it and reset refuses, naming the owners (exit 5, nothing deleted); otherwise each\n"
    "lease is deleted only if its counter did not move since. Unreadable items are deleted.\n"
    "  --force        delete at once, without watching (running workers then re-read their\n"
    "                 shards from the initial position)\n"
    "Filters narrow them to one stream and/or partition (shard).\n"
    "Exit: 0 done, 2 usage, 3 configuration, 4 store error, 5 reset refused.\n";

static int wants_help(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

static int usage_error(const char *usage, const char *fmt, const char *arg) {
    fprintf(stderr, "%s: ", progname);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return EXIT_USAGE;
}

/* Loads JOB plus -D overrides and builds (validates) the job. Exit code on failure. */
static int load_job(const char *usage, int argc, char **argv, sl_job_t **jobp,
                    const char **filters) {
    char errstr[16384];
    const char *path = NULL, *io_kind = NULL, *io_topic = NULL, *io_url = NULL;
    sl_conf_t *conf = sl_conf_new();
    sl_err_t err;
    int nd = 0, rc;
    char **defs = calloc((size_t)argc + 1, sizeof(*defs));

    if (!conf || !defs) {
        fprintf(stderr, "%s: out of memory\n", progname);
        free(defs);
        sl_conf_destroy(conf);
        return EXIT_RUNTIME;
    }
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-D") && i + 1 >= argc) {
            free(defs);
            sl_conf_destroy(conf);
            return usage_error(usage, "%s", "-D needs key=value after it");
        } else if (!strcmp(argv[i], "-D")) {
            defs[nd++] = argv[++i];
        } else if (!strncmp(argv[i], "-D", 2) && argv[i][2]) {
            defs[nd++] = argv[i] + 2;
        } else if (filters && !strcmp(argv[i], "--stream") && i + 1 < argc) {
            filters[0] = argv[++i];
        } else if (filters && !strcmp(argv[i], "--partition") && i + 1 < argc) {
            filters[1] = argv[++i];
        } else if (!strcmp(argv[i], "--pulsar-io") && i + 1 < argc) {
            io_kind = argv[++i];
        } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
            io_topic = argv[++i];
        } else if (!strcmp(argv[i], "--pulsar-url") && i + 1 < argc) {
            io_url = argv[++i];
        } else if (argv[i][0] == '-') {
            free(defs);
            sl_conf_destroy(conf);
            return usage_error(usage, "unknown option '%s'", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            free(defs);
            sl_conf_destroy(conf);
            return usage_error(usage, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!path) {
        free(defs);
        sl_conf_destroy(conf);
        return usage_error(usage, "%s", "missing JOB (a properties file)");
    }
    if (!io_kind && (io_topic || io_url)) {
        free(defs);
        sl_conf_destroy(conf);
        return usage_error(usage, "%s", "--topic and --pulsar-url go with --pulsar-io");
    }
    if ((err = io_kind ? sl_conf_load_pulsar_io(conf, io_kind, path, io_topic, io_url,
                                           filters != NULL, errstr, sizeof(errstr))
                       : sl_conf_load_file(conf, path, errstr, sizeof(errstr))) != SL_OK) {
        fprintf(stderr, "%s\n", errstr);
        free(defs);
        sl_conf_destroy(conf);
        return EXIT_CONFIG;
    }
    for (int i = 0; i < nd; i++) {
        char *eq = strchr(defs[i], '=');
        if (!eq) {
            rc = usage_error(usage, "-D needs key=value, got '%s'", defs[i]);
            free(defs);
            sl_conf_destroy(conf);
            return rc;
        }
        *eq = '\0';
        /* With --pulsar-io, a name without a dot is one of the connector's fields (Pulsar IO
         * names have none, sluice's keys always do): it goes where the config file's go. */
        const char *bare = strncmp(defs[i], "sensitive.", 10) ? defs[i] : defs[i] + 10;
        if (io_kind && !strchr(bare, '.'))
            err = sl_conf_set_pulsar_io(conf, io_kind, defs[i], eq + 1);
        else
            err = sl_conf_set_cli(conf, defs[i], defs[i], eq + 1);
        *eq = '=';
        if (err != SL_OK) {
            fprintf(stderr, "%s: -D %s: %s\n", progname, defs[i], sl_err_str(err));
            free(defs);
            sl_conf_destroy(conf);
            return EXIT_CONFIG;
        }
    }
    free(defs);
    if (!(*jobp = sl_job_new(conf, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%s\n", errstr);
        sl_conf_destroy(conf);
        return EXIT_CONFIG;
    }
    return 0;
}

static sl_job_t *running_job;
static volatile sig_atomic_t signals_seen;

static void on_signal(int sig) {
    (void)sig;
    if (++signals_seen > 1)
        _exit(EXIT_ABORTED);
    if (running_job)
        sl_job_stop(running_job);
}

static int cmd_run(int argc, char **argv) {
    sl_job_t *job = NULL;
    struct sigaction sa;
    sl_err_t err;
    int rc;

    if (wants_help(argc, argv)) {
        fputs(usage_run, stdout);
        return 0;
    }
    if ((rc = load_job(usage_run, argc, argv, &job, NULL)) != 0)
        return rc;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    running_job = job;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    err = sl_job_run(job);
    running_job = NULL;
    if (err == SL_OK)
        rc = 0;
    else if (err == SL_ERR_STOPPED)
        rc = EXIT_ABORTED;
    else if (err == SL_ERR_DB)
        rc = EXIT_CKPT;
    else
        rc = EXIT_RUNTIME;
    if (rc && sl_job_error(job))
        fprintf(stderr, "%s: job failed: %s\n", progname, sl_job_error(job));
    sl_job_destroy(job);
    return rc;
}

static int cmd_config(int argc, char **argv) {
    sl_job_t *job = NULL;
    int rc;
    if (argc < 1 || wants_help(argc, argv)) {
        fputs(usage_config, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[0], "docs")) {
        if (argc > 1)
            return usage_error(usage_config, "unexpected argument '%s'", argv[1]);
        sl_conf_write_docs(stdout);
        return 0;
    }
    if (strcmp(argv[0], "check") != 0 && strcmp(argv[0], "dump") != 0)
        return usage_error(usage_config, "unknown config command '%s'", argv[0]);
    if ((rc = load_job(usage_config, argc - 1, argv + 1, &job, NULL)) != 0)
        return rc;
    if (!strcmp(argv[0], "check"))
        printf("%s: configuration is valid\n", sl_conf_origin(sl_job_conf(job)));
    else
        sl_job_dump_config(job, stdout);
    sl_job_destroy(job);
    return 0;
}

/* What `checkpoints list` printed so far: sections start when the store changes. */
typedef struct ckpt_out {
    int n;              /* rows */
    int local_rows;     /* rows of the local store */
    char store[1100];   /* the external store being printed ("" none yet) */
    char owned[512];    /* what "owned" means, printed once at the end */
} ckpt_out_t;

/* ms since the epoch as UTC ISO 8601 with milliseconds. */
static const char *iso_ms(int64_t ms, char *buf, size_t len) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, len, "-");
        return buf;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return buf;
}

static int print_ckpt(void *opaque, const sl_ckpt_t *cp) {
    ckpt_out_t *o = opaque;
    char when[96];
    o->n++;
    if (cp->updated_ms >= 0 || !cp->store) {
        if (o->local_rows++ == 0)
            printf("%-12s %-24s %-40s %-24s %-8s %s\n", "SYSTEM", "STREAM", "PARTITION",
                   "OFFSET", "SUBSEQ", "UPDATED");
        printf("%-12s %-24s %-40s %-24s %-8lld %s\n", cp->system, cp->stream, cp->partition,
               cp->offset ? cp->offset : "-", (long long)cp->subseq,
               iso_ms(cp->updated_ms, when, sizeof(when)));
        return 0;
    }
    if (strcmp(o->store, cp->store) != 0) {
        snprintf(o->store, sizeof(o->store), "%s", cp->store);
        printf("%s%s: authoritative for %s.%s (a run resumes from it; local rows of its "
               "shards only mirror it)\n", o->local_rows ? "\n" : "", cp->store, cp->system,
               cp->stream);
        printf("%-12s %-24s %-40s %-24s %-8s %-8s %-24s %s\n", "SYSTEM", "STREAM", "PARTITION",
               "CHECKPOINT", "SUBSEQ", "COUNTER", "OWNER", "LEASE");
    }
    if (cp->counter >= 0)
        snprintf(when, sizeof(when), "%lld", (long long)cp->counter);
    else
        snprintf(when, sizeof(when), "-");
    printf("%-12s %-24s %-40s %-24s %-8lld %-8s %-24s %s%s%s\n", cp->system, cp->stream,
           cp->partition, cp->offset ? cp->offset : "-", (long long)cp->subseq, when,
           cp->owner ? cp->owner : "-", cp->state ? cp->state : "?",
           cp->note && cp->state && !strcmp(cp->state, "unreadable") ? ": " : "",
           cp->note && cp->state && !strcmp(cp->state, "unreadable") ? cp->note : "");
    if (cp->note && cp->state && !strcmp(cp->state, "owned"))
        snprintf(o->owned, sizeof(o->owned), "%s", cp->note);
    return 0;
}

static int cmd_checkpoints(int argc, char **argv) {
    const char *filters[2] = {NULL, NULL};
    sl_job_t *job = NULL;
    sl_ckpt_store_t *st;
    ckpt_out_t out;
    char errstr[2048];
    int rc, n = 0, ext = 0, how = SL_EXT_RESET;
    sl_err_t err = SL_OK;

    if (argc < 1 || wants_help(argc, argv)) {
        fputs(usage_ckpt, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "reset") != 0)
        return usage_error(usage_ckpt, "unknown checkpoints command '%s'", argv[0]);
    /* --force belongs to reset alone: taken out before the job's options are parsed. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") != 0)
            continue;
        if (strcmp(argv[0], "reset") != 0)
            return usage_error(usage_ckpt, "%s: only for checkpoints reset", argv[i]);
        how |= SL_EXT_FORCE;
        memmove(&argv[i], &argv[i + 1], (size_t)(argc - i - 1) * sizeof(*argv));
        argc--;
        i--;
    }
    if ((rc = load_job(usage_ckpt, argc - 1, argv + 1, &job, filters)) != 0)
        return rc;
    if (!(st = sl_job_open_checkpoints(job, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%s: %s\n", progname, errstr);
        sl_job_destroy(job);
        return EXIT_CKPT;
    }
    memset(&out, 0, sizeof(out));
    if (!strcmp(argv[0], "list")) {
        if (sl_ckpt_list(st, filters[0], filters[1], print_ckpt, &out) != SL_OK)
            rc = EXIT_CKPT;
        else if ((err = sl_job_ext_checkpoints(job, filters[0], filters[1], 0, print_ckpt, &out,
                                               &ext, errstr, sizeof(errstr))) != SL_OK)
            rc = EXIT_EXT;
        else if (out.n == 0)
            printf("no checkpoints\n");
        if (!rc && out.owned[0])
            printf("\nowned: %s\n", out.owned);
    } else {
        /* The external store first: a refused reset must leave the local mirror as it is. */
        if ((err = sl_job_ext_checkpoints(job, filters[0], filters[1], how, NULL, NULL, &ext,
                                          errstr, sizeof(errstr))) != SL_OK)
            rc = EXIT_EXT;
        else if (sl_ckpt_reset(st, filters[0], filters[1], &n) != SL_OK)
            rc = EXIT_CKPT;
        else if (ext)
            printf("deleted %d checkpoint(s) and %d lease(s)\n", n, ext);
        else
            printf("deleted %d checkpoint(s)\n", n);
    }
    if (rc == EXIT_EXT) {
        fprintf(stderr, "%s: %s\n", progname, errstr);
        rc = err == SL_ERR_STATE ? EXIT_HELD : EXIT_CKPT;
    } else if (rc) {
        fprintf(stderr, "%s: checkpoint store error\n", progname);
    }
    sl_ckpt_close(st);
    sl_job_destroy(job);
    return rc;
}

int main(int argc, char **argv) {
    /* SQLite's allocation statistics take a global lock on every allocation, and the
     * expression operators allocate per record: this process has no use for them. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("sluice %s\n", sl_version());
        return 0;
    }
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "config"))
        return cmd_config(argc - 2, argv + 2);
    if (!strcmp(argv[1], "checkpoints"))
        return cmd_checkpoints(argc - 2, argv + 2);
    fprintf(stderr, "%s: unknown command '%s'\n%s", progname, argv[1], usage_main);
    return EXIT_USAGE;
}
