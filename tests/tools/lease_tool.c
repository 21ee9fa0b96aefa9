/*
 * lease_tool.c: a test helper that drives the KCL lease table client
 * (connectors/kinesis/kinesis_lease.c) from the command line, so tests/0015-kcl-lease-table.sh
 * can let the AWS CLI judge the items it writes on a local DynamoDB. One operation per run:
 *   lease-tool --endpoint-url URL --region R --table T [--debug] OP ARGS
 *   ensure | list | get KEY | delete KEY [COUNTER]
 *   create KEY [--checkpoint POS] [--owner O] [--parents P,P] [--hash START END]
 *   renew KEY COUNTER OWNER | take KEY COUNTER NEWOWNER | evict KEY OWNER
 *   checkpoint KEY COUNTER OWNER SEQ SUBSEQ | shard-end KEY COUNTER OWNER CHILD[,CHILD]
 * It prints the resulting lease (or list, or table state) as one JSON line and exits 0; 3 when
 * a condition failed (another writer won the race); 1 on any other error, and for a list that
 * found items that are not leases (named on stderr, the leases still printed). Credentials come
 * from the default chain (environment variables in the tests).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "../../connectors/kinesis/kinesis_lease.h"
#include "aws_client.h"
#include "aws_creds.h"
#include "http.h"
#include "sluice/log.h"
#include "util_str.h"

typedef struct tool {
    struct event_base *base;
    kin_lease_table_t *lt;
    const char *table;
    const char *op;
    char **args;
    int nargs;
    int64_t counter;
    int taking; /* take: the get before it is done */
    int rc;
} tool_t;

static void usage(void) {
    fprintf(stderr,
            "usage: lease-tool --endpoint-url URL --region R --table T [--debug] OP ARGS\n"
            "  ensure | list | get KEY | delete KEY [COUNTER]\n"
            "  create KEY [--checkpoint POS] [--owner O] [--parents P,P] [--hash START END]\n"
            "  renew KEY COUNTER OWNER | take KEY COUNTER NEWOWNER | evict KEY OWNER\n"
            "  checkpoint KEY COUNTER OWNER SEQ SUBSEQ | shard-end KEY COUNTER OWNER C[,C]\n");
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *str_array(char **v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The lease with the KCL's attribute names, absent ones left out (leaseOwner null). */
static json_t *lease_json(const kin_lease_t *lease) {
    json_t *o = json_pack("{s:s,s:o,s:I,s:I}", "leaseKey", lease->key, "leaseOwner",
                          str_or_null(lease->owner), "leaseCounter", (json_int_t)lease->counter,
                          "ownerSwitchesSinceCheckpoint", (json_int_t)lease->owner_switches);
    if (!o)
        return NULL;
    if (lease->checkpoint) {
        json_object_set_new(o, "checkpoint", json_string(lease->checkpoint));
        json_object_set_new(o, "checkpointSubSequenceNumber",
                            json_integer(lease->checkpoint_sub));
    }
    if (lease->pending_checkpoint) {
        json_object_set_new(o, "pendingCheckpoint", json_string(lease->pending_checkpoint));
        json_object_set_new(o, "pendingCheckpointSubSequenceNumber",
                            json_integer(lease->pending_checkpoint_sub));
    }
    if (lease->n_parents)
        json_object_set_new(o, "parentShardId", str_array(lease->parents, lease->n_parents));
    if (lease->n_children)
        json_object_set_new(o, "childShardIds", str_array(lease->children, lease->n_children));
    if (lease->starting_hash_key)
        json_object_set_new(o, "startingHashKey", json_string(lease->starting_hash_key));
    if (lease->ending_hash_key)
        json_object_set_new(o, "endingHashKey", json_string(lease->ending_hash_key));
    return o;
}

static void print_json(json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

/* Splits "a,b,c" into a new array of new strings; caller frees both. Returns the count, or 0
 * when s has an empty member. */
static size_t split_list(const char *s, char ***out) {
    size_t n = 1, i = 0;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    char **v = calloc(n, sizeof(*v));
    if (!v)
        return 0;
    for (const char *p = s;; i++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!len || !(v[i] = sl_strndup(p, len)))
            goto fail;
        if (!e)
            break;
        p = e + 1;
    }
    *out = v;
    return n;
fail:
    for (size_t k = 0; k < n; k++)
        free(v[k]);
    free(v);
    return 0;
}

static void on_result(void *opaque, kin_lease_result_t *res);

static int parse_counter(const char *s, int64_t *out) {
    if (sl_parse_int64(s, out) != 0 || *out < 0) {
        fprintf(stderr, "lease-tool: bad counter '%s'\n", s);
        return -1;
    }
    return 0;
}

/* Starts the operation; returns 0, or -1 after printing why it could not start. */
static int start(tool_t *t) {
    sl_err_t err = SL_ERR_INVAL;
    char **a = t->args;
    int n = t->nargs;
    const char *op = t->op;
    kin_lease_t lease = {0};
    char **kids = NULL;
    size_t nkids = 0;
    int64_t sub = 0;

    if (!strcmp(op, "ensure") && n == 0) {
        err = kin_lease_table_ensure(t->lt, 1, on_result, t);
    } else if (!strcmp(op, "list") && n == 0) {
        err = kin_lease_table_list(t->lt, on_result, t);
    } else if (!strcmp(op, "get") && n == 1) {
        err = kin_lease_table_get(t->lt, a[0], on_result, t);
    } else if (!strcmp(op, "delete") && (n == 1 || n == 2)) {
        int64_t seen = -1;
        if (n == 2 && parse_counter(a[1], &seen))
            goto fail;
        err = kin_lease_table_delete(t->lt, a[0], seen, on_result, t);
    } else if (!strcmp(op, "create") && n >= 1) {
        lease.key = a[0];
        lease.checkpoint = "TRIM_HORIZON";
        for (int i = 1; i < n; i++) {
            if (!strcmp(a[i], "--checkpoint") && i + 1 < n) {
                lease.checkpoint = a[++i];
            } else if (!strcmp(a[i], "--owner") && i + 1 < n) {
                lease.owner = a[++i];
            } else if (!strcmp(a[i], "--parents") && i + 1 < n) {
                if (!(lease.n_parents = split_list(a[++i], &lease.parents)))
                    goto usage;
            } else if (!strcmp(a[i], "--hash") && i + 2 < n) {
                lease.starting_hash_key = a[++i];
                lease.ending_hash_key = a[++i];
            } else {
                goto usage;
            }
        }
        err = kin_lease_table_create(t->lt, &lease, on_result, t);
    } else if (!strcmp(op, "renew") && n == 3) {
        if (parse_counter(a[1], &t->counter))
            goto fail;
        err = kin_lease_table_renew(t->lt, a[0], t->counter, a[2], on_result, t);
    } else if (!strcmp(op, "take") && n == 3) {
        /* Read the owner first: the take is conditional on it and on COUNTER. */
        if (parse_counter(a[1], &t->counter))
            goto fail;
        t->taking = 1;
        err = kin_lease_table_get(t->lt, a[0], on_result, t);
    } else if (!strcmp(op, "evict") && n == 2) {
        err = kin_lease_table_evict(t->lt, a[0], a[1], on_result, t);
    } else if (!strcmp(op, "checkpoint") && n == 5) {
        if (parse_counter(a[1], &t->counter) || parse_counter(a[4], &sub))
            goto fail;
        err = kin_lease_table_checkpoint(t->lt, a[0], t->counter, a[2], a[3], sub, on_result, t);
    } else if (!strcmp(op, "shard-end") && n == 4) {
        if (parse_counter(a[1], &t->counter))
            goto fail;
        if (!(nkids = split_list(a[3], &kids)))
            goto usage;
        err = kin_lease_table_shard_end(t->lt, a[0], t->counter, a[2],
                                        (const char *const *)kids, nkids, on_result, t);
    } else {
        goto usage;
    }
    if (err) {
        fprintf(stderr, "lease-tool: %s: %s\n", op, sl_err_str(err));
        goto fail;
    }
    for (size_t i = 0; i < lease.n_parents; i++)
        free(lease.parents[i]);
    free(lease.parents);
    for (size_t i = 0; i < nkids; i++)
        free(kids[i]);
    free(kids);
    return 0;
usage:
    usage();
fail:
    for (size_t i = 0; i < lease.n_parents; i++)
        free(lease.parents[i]);
    free(lease.parents);
    for (size_t i = 0; i < nkids; i++)
        free(kids[i]);
    free(kids);
    return -1;
}

static void on_result(void *opaque, kin_lease_result_t *res) {
    tool_t *t = opaque;
    if (res->err) {
        fprintf(stderr, "lease-tool: %s\n", res->msg);
        t->rc = res->lost_race ? 3 : 1;
        goto done;
    }
    if (t->taking) {
        t->taking = 0;
        sl_err_t err = kin_lease_table_take(t->lt, t->args[0], t->counter, res->lease->owner,
                                            t->args[2], on_result, t);
        if (err) {
            fprintf(stderr, "lease-tool: take: %s\n", sl_err_str(err));
            t->rc = 1;
            goto done;
        }
        return;
    }
    t->rc = 0;
    if (!strcmp(t->op, "ensure")) {
        print_json(json_pack("{s:s,s:s,s:b}", "table", t->table, "status", "ACTIVE", "created",
                             res->created));
    } else if (!strcmp(t->op, "list")) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < res->n_leases; i++)
            json_array_append_new(arr, lease_json(res->leases[i]));
        print_json(arr);
        /* Items that are not leases: listed on stderr, and the exit says the table has some. */
        for (size_t i = 0; i < res->n_bad; i++) {
            fprintf(stderr, "lease-tool: item leaseKey=%s skipped: %s\n",
                    res->bad[i].key ? res->bad[i].key : "?", res->bad[i].problems);
            t->rc = 1;
        }
    } else if (!strcmp(t->op, "delete")) {
        print_json(json_pack("{s:s}", "deleted", t->args[0]));
    } else if (res->lease) {
        print_json(lease_json(res->lease));
    }
done:
    event_base_loopbreak(t->base);
}

int main(int argc, char **argv) {
    const char *endpoint = NULL, *region = NULL, *table = NULL;
    char errstr[512];
    tool_t t = {.rc = 1};
    sl_http_t *http = NULL;
    sl_creds_t *creds = NULL;
    sl_aws_client_t *client = NULL;
    int i = 1;

    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (!strcmp(argv[i], "--endpoint-url") && i + 1 < argc)
            endpoint = argv[++i];
        else if (!strcmp(argv[i], "--region") && i + 1 < argc)
            region = argv[++i];
        else if (!strcmp(argv[i], "--table") && i + 1 < argc)
            table = argv[++i];
        else if (!strcmp(argv[i], "--debug"))
            sl_log_set_debug("lease,aws,http");
        else
            break;
    }
    if (i >= argc || !table) {
        usage();
        return 1;
    }
    if (!region)
        region = getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1";
    t.table = table;
    t.op = argv[i];
    t.args = argv + i + 1;
    t.nargs = argc - i - 1;

    sl_http_opts_t hopts;
    sl_http_opts_init(&hopts);
    sl_aws_client_opts_t copts = {
        .service = "dynamodb",
        .signing_name = "dynamodb",
        .region = region,
        .endpoint = endpoint,
        .target_prefix = "DynamoDB_20120810",
        .json_version = "1.0",
        .retry = {.base_ms = 100, .max_ms = 2000, .exp = 2, .max_retries = 3},
    };
    if (!(t.base = event_base_new())) {
        fprintf(stderr, "lease-tool: no event base\n");
        goto fail;
    }
    if (!(http = sl_http_new(t.base, &hopts, errstr, sizeof(errstr))) ||
        !(creds = sl_creds_new(t.base, sl_creds_default_chain_new(t.base, NULL, NULL), NULL,
                               errstr, sizeof(errstr))) ||
        !(client = sl_aws_client_new(http, creds, &copts, errstr, sizeof(errstr))) ||
        !(t.lt = kin_lease_table_new(client, t.base, table, errstr, sizeof(errstr)))) {
        fprintf(stderr, "lease-tool: %s\n", errstr);
        goto fail;
    }
    kin_lease_table_set_poll(t.lt, 100, 30000);
    if (start(&t))
        goto fail;
    event_base_dispatch(t.base);
fail:
    kin_lease_table_destroy(t.lt);
    sl_aws_client_destroy(client);
    sl_creds_destroy(creds);
    sl_http_destroy(http);
    if (t.base)
        event_base_free(t.base);
    return t.rc;
}
