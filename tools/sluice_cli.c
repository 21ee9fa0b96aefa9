/*
 * sluice_cli.c: the `sluice` command: run a job, check or dump its configuration, generate the
 * configuration reference, list or reset checkpoints. Exit codes (documented in sluice(1)):
 * 0 success, 1 the job failed while running, 2 usage error, 3 invalid configuration,
 * 4 checkpoint store error, 130 stopped by a second signal without the final checkpoint.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "job_int.h"
#include "sluice/sluice.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_CONFIG 3
#define EXIT_CKPT 4
#define EXIT_ABORTED 130

static const char *progname = "sluice";

static const char usage_main[] =
    "usage: sluice <command> [options]\n"
    "\n"
    "commands:\n"
    "  run JOB                    run the job described by the properties file JOB\n"
    "  config check JOB           validate JOB completely and report every problem\n"
    "  config dump JOB            print the effective configuration (secrets masked)\n"
    "  config docs                print the configuration reference (markdown)\n"
    "  checkpoints list JOB       list the job's checkpoints\n"
    "  checkpoints reset JOB      delete the job's checkpoints\n"
    "  version                    print the version\n"
    "\n"
    "Run `sluice <command> --help` for a command's options; see sluice(1) and sluice-job(5).\n";

static const char usage_run[] =
    "usage: sluice run JOB [-D key=value]...\n"
    "\n"
    "Runs the job until its inputs end, or until SIGINT/SIGTERM: then it stops reading, drains\n"
    "the operator chains, flushes the producers and writes final checkpoints (exit 0). A\n"
    "second signal exits at once without the final checkpoint (exit 130).\n"
    "  -D key=value   set a property, overriding the file (repeatable)\n";

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
    "       sluice checkpoints reset JOB [--stream S] [--partition P]\n"
    "\n"
    "Lists or deletes the checkpoints of the job (its job.name and job.id) in its SQLite\n"
    "checkpoint store; filters narrow them to one stream and/or partition.\n";

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
    const char *path = NULL;
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
        if (!strcmp(argv[i], "-D") && i + 1 < argc) {
            defs[nd++] = argv[++i];
        } else if (!strncmp(argv[i], "-D", 2) && argv[i][2]) {
            defs[nd++] = argv[i] + 2;
        } else if (filters && !strcmp(argv[i], "--stream") && i + 1 < argc) {
            filters[0] = argv[++i];
        } else if (filters && !strcmp(argv[i], "--partition") && i + 1 < argc) {
            filters[1] = argv[++i];
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
    if ((err = sl_conf_load_file(conf, path, errstr, sizeof(errstr))) != SL_OK) {
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
        err = sl_conf_set(conf, defs[i], eq + 1);
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

static int print_ckpt(void *opaque, const sl_ckpt_t *cp) {
    int *n = opaque;
    if ((*n)++ == 0)
        printf("%-12s %-24s %-40s %-24s %-8s %s\n", "SYSTEM", "STREAM", "PARTITION", "OFFSET",
               "SUBSEQ", "UPDATED_MS");
    printf("%-12s %-24s %-40s %-24s %-8lld %lld\n", cp->system, cp->stream, cp->partition,
           cp->offset, (long long)cp->subseq, (long long)cp->updated_ms);
    return 0;
}

static int cmd_checkpoints(int argc, char **argv) {
    const char *filters[2] = {NULL, NULL};
    sl_job_t *job = NULL;
    sl_ckpt_store_t *st;
    char errstr[512];
    int rc, n = 0;

    if (argc < 1 || wants_help(argc, argv)) {
        fputs(usage_ckpt, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "reset") != 0)
        return usage_error(usage_ckpt, "unknown checkpoints command '%s'", argv[0]);
    if ((rc = load_job(usage_ckpt, argc - 1, argv + 1, &job, filters)) != 0)
        return rc;
    if (!(st = sl_job_open_checkpoints(job, errstr, sizeof(errstr)))) {
        fprintf(stderr, "%s: %s\n", progname, errstr);
        sl_job_destroy(job);
        return EXIT_CKPT;
    }
    if (!strcmp(argv[0], "list")) {
        if (sl_ckpt_list(st, filters[0], filters[1], print_ckpt, &n) != SL_OK)
            rc = EXIT_CKPT;
        else if (n == 0)
            printf("no checkpoints\n");
    } else {
        if (sl_ckpt_reset(st, filters[0], filters[1], &n) != SL_OK)
            rc = EXIT_CKPT;
        else
            printf("deleted %d checkpoint(s)\n", n);
    }
    if (rc)
        fprintf(stderr, "%s: checkpoint store error\n", progname);
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
