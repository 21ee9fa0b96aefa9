/*
 * kinesis_lease.c: the KCL lease table client declared in kinesis_lease.h. Each operation is a
 * small state object (lease_op_t) that issues DynamoDB JSON 1.0 calls through sl_aws_call() and
 * reports once: ensure walks DescribeTable -> CreateTable -> DescribeTable polls on a timer,
 * list follows Scan pages, the writes are single conditional UpdateItem/PutItem/DeleteItem
 * calls returning the new item. Items are parsed strictly (kin_lease_from_item) so an item
 * damaged by hand or by a foreign writer yields an error naming the lease and every bad
 * attribute; a list sets such items aside (res->bad) and still returns the others. The
 * lease coordinator (expiry, taking, stealing) sits above this file and owns every decision;
 * this file only says what the table answered.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "kinesis_lease.h"
#include "sluice/log.h"
#include "util_json.h"
#include "util_str.h"
#include "util_time.h"

/* The KCL's attribute names (DynamoDBLeaseSerializer). */
#define A_KEY "leaseKey"
#define A_OWNER "leaseOwner"
#define A_COUNTER "leaseCounter"
#define A_CKPT "checkpoint"
#define A_CKPT_SUB "checkpointSubSequenceNumber"
#define A_PEND "pendingCheckpoint"
#define A_PEND_SUB "pendingCheckpointSubSequenceNumber"
#define A_PEND_STATE "pendingCheckpointState" /* KCL 2.x+: B, a two-phase checkpoint's state */
#define A_SWITCHES "ownerSwitchesSinceCheckpoint"
#define A_PARENTS "parentShardId"
#define A_CHILDREN "childShardIds"
#define A_HASH_START "startingHashKey"
#define A_HASH_END "endingHashKey"

/* Expression aliases: every name goes through ExpressionAttributeNames so reserved words can
 * never bite, and only the aliases an expression uses are sent (DynamoDB rejects unused ones). */
static const struct {
    const char *alias;
    const char *name;
} aliases[] = {
    {"key", A_KEY},       {"own", A_OWNER},         {"cnt", A_COUNTER},
    {"ckp", A_CKPT},      {"ckpsub", A_CKPT_SUB},   {"pnd", A_PEND},
    {"pndsub", A_PEND_SUB}, {"osw", A_SWITCHES},    {"chl", A_CHILDREN},
    {"pndst", A_PEND_STATE},
};

enum op_kind { OP_ENSURE, OP_LIST, OP_GET, OP_UPDATE, OP_PUT, OP_DELETE };
enum ensure_stage { ST_DESCRIBE, ST_CREATE, ST_POLL };

typedef struct lease_op {
    kin_lease_table_t *lt;
    struct lease_op *prev, *next;
    enum op_kind kind;
    enum ensure_stage stage;
    kin_lease_cb cb;
    void *opaque;
    char *key;
    int create;
    int created;
    int in_call;
    int64_t deadline_ms;
    struct event *timer;
    kin_lease_t *put_lease; /* create: the lease as written */
    kin_lease_t **leases;   /* list: collected so far */
    size_t n_leases, cap_leases;
    kin_lease_bad_t *bad;   /* list: items set aside */
    size_t n_bad, cap_bad;
} lease_op_t;

struct kin_lease_table {
    sl_aws_client_t *client;
    struct event_base *base;
    char *name;
    lease_op_t *ops;
    int pending;
    int64_t poll_ms;
    int64_t timeout_ms;
};

/* --- leases -------------------------------------------------------------------------------- */

static void str_list_free(char **v, size_t n) {
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void kin_lease_free(kin_lease_t *lease) {
    if (!lease)
        return;
    free(lease->key);
    free(lease->owner);
    free(lease->checkpoint);
    free(lease->pending_checkpoint);
    str_list_free(lease->parents, lease->n_parents);
    str_list_free(lease->children, lease->n_children);
    free(lease->starting_hash_key);
    free(lease->ending_hash_key);
    free(lease);
}

void kin_lease_list_free(kin_lease_t **leases, size_t n) {
    if (!leases)
        return;
    for (size_t i = 0; i < n; i++)
        kin_lease_free(leases[i]);
    free(leases);
}

static int all_digits(const char *s) {
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int valid_position(const char *s) {
    return all_digits(s) || !strcmp(s, "TRIM_HORIZON") || !strcmp(s, "LATEST") ||
           !strcmp(s, "AT_TIMESTAMP") || !strcmp(s, "SHARD_END");
}

/* Every problem of one item, collected so a damaged item is reported whole at once ("a is S,
 * expected N; b missing") instead of one attribute per repair attempt. */
typedef struct probs {
    char buf[400];
    size_t len;
    int n;
} probs_t;

static void prob_add(probs_t *p, const char *fmt, ...) SL_PRINTF(2, 3);
static void prob_add(probs_t *p, const char *fmt, ...) {
    va_list ap;
    int w;
    p->n++;
    if (p->len + 8 >= sizeof(p->buf))
        return;
    if (p->len)
        p->len += (size_t)snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "; ");
    va_start(ap, fmt);
    w = vsnprintf(p->buf + p->len, sizeof(p->buf) - p->len, fmt, ap);
    va_end(ap);
    if (w > 0)
        p->len += (size_t)w;
    if (p->len >= sizeof(p->buf)) {
        p->len = sizeof(p->buf) - 1;
        memcpy(p->buf + p->len - 3, "...", 3); /* truncated: say so */
    }
}

/* The DynamoDB type of an attribute value ({"S": ...}), or NULL when it is not one. */
static const char *av_type(const json_t *av) {
    if (json_is_object(av) && json_object_size(av) == 1)
        return json_object_iter_key(json_object_iter((json_t *)av));
    return NULL;
}

/* Finds attribute name of item with DynamoDB type type. Returns 0 when absent, 1 with *val set
 * to the inner value, -1 (a problem noted) when it carries another type. */
static int attr_find(const json_t *item, const char *name, const char *type, const json_t **val,
                     probs_t *p) {
    const json_t *av = json_object_get(item, name);
    const char *got;
    if (!av)
        return 0;
    if (!(got = av_type(av)) || strcmp(got, type)) {
        if (got)
            prob_add(p, "%s is %s, expected %s", name, got, type);
        else
            prob_add(p, "%s is not a DynamoDB attribute value", name);
        return -1;
    }
    *val = json_object_get(av, type);
    return 1;
}

/* The getters note a problem and go on (the caller stops only for SL_ERR_NOMEM). */
static sl_err_t get_s(const json_t *item, const char *name, char **out, probs_t *p) {
    const json_t *v = NULL;
    if (attr_find(item, name, "S", &v, p) <= 0)
        return SL_OK;
    if (!json_is_string(v)) {
        prob_add(p, "%s: S value is not a string", name);
        return SL_OK;
    }
    return (*out = sl_strdup(json_string_value(v))) ? SL_OK : SL_ERR_NOMEM;
}

static void get_n(const json_t *item, const char *name, int64_t *out, int *present,
                  probs_t *p) {
    const json_t *v = NULL;
    int r = attr_find(item, name, "N", &v, p);
    if (present)
        *present = r != 0;
    if (r <= 0)
        return;
    if (!json_is_string(v) || sl_parse_int64(json_string_value(v), out) != 0)
        prob_add(p, "%s: '%.40s' is not an integer", name,
                 json_is_string(v) ? json_string_value(v) : "?");
    else if (*out < 0)
        prob_add(p, "%s is negative", name);
}

static sl_err_t get_ss(const json_t *item, const char *name, char ***out, size_t *n,
                       probs_t *p) {
    const json_t *v = NULL;
    if (attr_find(item, name, "SS", &v, p) <= 0)
        return SL_OK;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        prob_add(p, "%s: SS value is not a non-empty set", name);
        return SL_OK;
    }
    size_t cnt = json_array_size(v);
    char **list = calloc(cnt, sizeof(*list));
    if (!list)
        return SL_ERR_NOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || !*json_string_value(s)) {
            prob_add(p, "%s: member %zu is not a string", name, i);
            str_list_free(list, cnt);
            return SL_OK;
        }
        if (!(list[i] = sl_strdup(json_string_value(s)))) {
            str_list_free(list, cnt);
            return SL_ERR_NOMEM;
        }
    }
    *out = list;
    *n = cnt;
    return SL_OK;
}

/* Parses item into *out, or notes every problem in p (leaving *out NULL). *key points into
 * item (or is NULL when leaseKey itself is bad). */
static sl_err_t parse_item(const json_t *item, kin_lease_t **out, const char **key, probs_t *p) {
    kin_lease_t *lease = NULL;
    const json_t *kv = NULL;
    int present = 0;

    *out = NULL;
    *key = NULL;
    if (!json_is_object(item)) {
        prob_add(p, "not a JSON object");
        return SL_OK;
    }
    if (attr_find(item, A_KEY, "S", &kv, p) == 0)
        prob_add(p, "%s missing", A_KEY);
    else if (kv && (!json_is_string(kv) || !*json_string_value(kv)))
        prob_add(p, "%s is empty or not a string", A_KEY);
    else if (kv)
        *key = json_string_value(kv);
    if (!(lease = calloc(1, sizeof(*lease))) ||
        (*key && !(lease->key = sl_strdup(*key))))
        goto nomem;
    if (get_s(item, A_OWNER, &lease->owner, p))
        goto nomem;
    get_n(item, A_COUNTER, &lease->counter, &present, p);
    if (!present)
        prob_add(p, "%s missing", A_COUNTER);
    /* The KCL writes a checkpoint into every lease it creates: without one nobody can say
     * where the shard stopped, and any start would skip or repeat records. */
    present = json_object_get(item, A_CKPT) != NULL;
    if (get_s(item, A_CKPT, &lease->checkpoint, p))
        goto nomem;
    if (!present)
        prob_add(p, "%s missing", A_CKPT);
    else if (lease->checkpoint && !valid_position(lease->checkpoint))
        prob_add(p, "%s: '%.40s' is neither a sequence number nor a sentinel", A_CKPT,
                 lease->checkpoint);
    get_n(item, A_CKPT_SUB, &lease->checkpoint_sub, NULL, p);
    if (get_s(item, A_PEND, &lease->pending_checkpoint, p))
        goto nomem;
    if (lease->pending_checkpoint && *lease->pending_checkpoint &&
        !valid_position(lease->pending_checkpoint))
        prob_add(p, "%s: '%.40s' is not a sequence number", A_PEND, lease->pending_checkpoint);
    get_n(item, A_PEND_SUB, &lease->pending_checkpoint_sub, NULL, p);
    get_n(item, A_SWITCHES, &lease->owner_switches, NULL, p);
    if (get_ss(item, A_PARENTS, &lease->parents, &lease->n_parents, p) ||
        get_ss(item, A_CHILDREN, &lease->children, &lease->n_children, p) ||
        get_s(item, A_HASH_START, &lease->starting_hash_key, p) ||
        get_s(item, A_HASH_END, &lease->ending_hash_key, p))
        goto nomem;
    if (lease->starting_hash_key && !all_digits(lease->starting_hash_key))
        prob_add(p, "%s: not a decimal hash key", A_HASH_START);
    if (lease->ending_hash_key && !all_digits(lease->ending_hash_key))
        prob_add(p, "%s: not a decimal hash key", A_HASH_END);
    if (p->n) {
        kin_lease_free(lease);
        return SL_OK;
    }
    *out = lease;
    return SL_OK;
nomem:
    kin_lease_free(lease);
    return SL_ERR_NOMEM;
}

sl_err_t kin_lease_from_item(const json_t *item, kin_lease_t **out, char *errstr, size_t errlen) {
    probs_t p = {.len = 0, .n = 0};
    const char *key = NULL;
    sl_err_t err = parse_item(item, out, &key, &p);
    if (err) {
        sl_errf(errstr, errlen, "item %s=%s: out of memory", A_KEY, key ? key : "?");
        return err;
    }
    if (!*out) {
        sl_errf(errstr, errlen, "item %s=%s: %s", A_KEY, key ? key : "?", p.buf);
        return SL_ERR_INVAL;
    }
    return SL_OK;
}

static json_t *av_s(const char *s) { return json_pack("{s:s}", "S", s); }

static json_t *av_n(int64_t v) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return json_pack("{s:s}", "N", buf);
}

static json_t *av_ss(char *const *v, size_t n) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_string(v[i]))) {
            json_decref(arr);
            return NULL;
        }
    return arr ? json_pack("{s:o}", "SS", arr) : NULL;
}

/* Sets item[name] = av (stolen); returns 0, or -1 when av is NULL or on failure. */
static int put_av(json_t *item, const char *name, json_t *av) {
    return av ? json_object_set_new(item, name, av) : -1;
}

json_t *kin_lease_to_item(const kin_lease_t *lease) {
    json_t *item = NULL;
    if (!lease || !lease->key || !(item = json_object()))
        goto fail;
    if (put_av(item, A_KEY, av_s(lease->key)) || put_av(item, A_COUNTER, av_n(lease->counter)) ||
        (lease->owner && put_av(item, A_OWNER, av_s(lease->owner))) ||
        put_av(item, A_SWITCHES, av_n(lease->owner_switches)))
        goto fail;
    if (lease->checkpoint && (put_av(item, A_CKPT, av_s(lease->checkpoint)) ||
                              put_av(item, A_CKPT_SUB, av_n(lease->checkpoint_sub))))
        goto fail;
    if (lease->pending_checkpoint && *lease->pending_checkpoint &&
        (put_av(item, A_PEND, av_s(lease->pending_checkpoint)) ||
         put_av(item, A_PEND_SUB, av_n(lease->pending_checkpoint_sub))))
        goto fail;
    if (lease->n_parents && put_av(item, A_PARENTS, av_ss(lease->parents, lease->n_parents)))
        goto fail;
    if (lease->n_children &&
        put_av(item, A_CHILDREN, av_ss(lease->children, lease->n_children)))
        goto fail;
    if (lease->starting_hash_key && lease->ending_hash_key &&
        (put_av(item, A_HASH_START, av_s(lease->starting_hash_key)) ||
         put_av(item, A_HASH_END, av_s(lease->ending_hash_key))))
        goto fail;
    return item;
fail:
    json_decref(item);
    return NULL;
}

/* --- operations ---------------------------------------------------------------------------- */

kin_lease_table_t *kin_lease_table_new(sl_aws_client_t *client, struct event_base *base,
                                       const char *table, char *errstr, size_t errlen) {
    kin_lease_table_t *lt = NULL;
    if (!client || !base || !table || !*table) {
        sl_errf(errstr, errlen, "lease table: client, event base and table name are required");
        goto fail;
    }
    if (!(lt = calloc(1, sizeof(*lt))) || !(lt->name = sl_strdup(table))) {
        sl_errf(errstr, errlen, "lease table: out of memory");
        goto fail;
    }
    lt->client = client;
    lt->base = base;
    lt->poll_ms = 250;
    lt->timeout_ms = 60000;
    return lt;
fail:
    if (lt)
        free(lt->name);
    free(lt);
    return NULL;
}

static void bad_free(kin_lease_bad_t *bad, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(bad[i].key);
        free(bad[i].problems);
        free(bad[i].item);
    }
    free(bad);
}

static void op_free(lease_op_t *op) {
    if (op->timer)
        event_free(op->timer);
    kin_lease_free(op->put_lease);
    kin_lease_list_free(op->leases, op->n_leases);
    bad_free(op->bad, op->n_bad);
    free(op->key);
    free(op);
}

static void op_unlink(lease_op_t *op) {
    kin_lease_table_t *lt = op->lt;
    if (!lt)
        return;
    if (op->prev)
        op->prev->next = op->next;
    else
        lt->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    lt->pending--;
}

void kin_lease_table_destroy(kin_lease_table_t *lt) {
    if (!lt)
        return;
    while (lt->ops) {
        lease_op_t *op = lt->ops;
        op_unlink(op);
        if (op->in_call)
            sl_aws_cancel(lt->client, op); /* its answer will not come */
        op_free(op);
    }
    free(lt->name);
    free(lt);
}

int kin_lease_table_pending(const kin_lease_table_t *lt) { return lt ? lt->pending : 0; }

void kin_lease_table_set_poll(kin_lease_table_t *lt, int64_t interval_ms, int64_t timeout_ms) {
    if (interval_ms > 0)
        lt->poll_ms = interval_ms;
    if (timeout_ms > 0)
        lt->timeout_ms = timeout_ms;
}

/* Reports the outcome of op once and frees it. lease is stolen. */
static void op_report(lease_op_t *op, sl_err_t err, int lost, kin_lease_t *lease,
                      const char *fmt, ...) SL_PRINTF(5, 6);
static void op_report(lease_op_t *op, sl_err_t err, int lost, kin_lease_t *lease,
                      const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    kin_lease_result_t res = {.err = err, .lost_race = lost, .msg = msg, .lease = lease,
                             .created = op->created};
    if (!err && op->kind == OP_LIST) {
        res.leases = op->leases;
        res.n_leases = op->n_leases;
        op->leases = NULL;
        op->n_leases = 0;
        res.bad = op->bad;
        res.n_bad = op->n_bad;
    }
    if (err)
        sl_log_debug("lease", "%s", msg);
    op_unlink(op);
    op->cb(op->opaque, &res);
    kin_lease_free(res.lease);
    kin_lease_list_free(res.leases, res.n_leases);
    op_free(op);
}

static void on_reply(void *opaque, const sl_aws_result_t *res);

static sl_err_t op_call(lease_op_t *op, const char *name, json_t *body) {
    if (!body)
        return SL_ERR_NOMEM;
    if (json_object_set_new(body, "TableName", json_string(op->lt->name))) {
        json_decref(body);
        return SL_ERR_NOMEM;
    }
    sl_err_t err = sl_aws_call(op->lt->client, name, body, NULL, on_reply, op);
    op->in_call = err == SL_OK;
    return err;
}

static lease_op_t *op_new(kin_lease_table_t *lt, enum op_kind kind, const char *key,
                          kin_lease_cb cb, void *opaque) {
    lease_op_t *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    if (key && !(op->key = sl_strdup(key))) {
        free(op);
        return NULL;
    }
    op->lt = lt;
    op->kind = kind;
    op->cb = cb;
    op->opaque = opaque;
    op->next = lt->ops;
    if (lt->ops)
        lt->ops->prev = op;
    lt->ops = op;
    lt->pending++;
    return op;
}

/* Starts op's first call; on failure the op is dropped without its callback. */
static sl_err_t op_start(lease_op_t *op, const char *name, json_t *body) {
    sl_err_t err = op_call(op, name, body);
    if (err) {
        op_unlink(op);
        op_free(op);
    }
    return err;
}

static int type_is(const char *type, const char *want) {
    if (!type)
        return 0;
    size_t n = strlen(type), w = strlen(want);
    return n >= w && !strcmp(type + n - w, want) && (n == w || type[n - w - 1] == '#');
}

/* The AWS outcome as a lease outcome. */
static sl_err_t map_err(const sl_aws_result_t *res, int *lost) {
    *lost = 0;
    if (type_is(res->type, "ConditionalCheckFailedException")) {
        *lost = 1;
        return SL_ERR_STATE;
    }
    if (type_is(res->type, "ResourceNotFoundException"))
        return SL_ERR_NOENT;
    return res->err ? res->err : SL_ERR_IO;
}

static void report_aws(lease_op_t *op, const sl_aws_result_t *res, const char *what) {
    int lost = 0;
    sl_err_t err = map_err(res, &lost);
    op_report(op, err, lost, NULL, "lease table %s: %s%s%s: %s%s%s", op->lt->name, what,
              op->key ? " " : "", op->key ? op->key : "",
              lost ? "lost the race (the condition failed; re-read the lease)"
                   : (res->type ? res->type : sl_err_str(res->err)),
              !lost && res->message ? ": " : "", !lost && res->message ? res->message : "");
}

/* Parses the item of a write or get reply into a lease and reports it. */
static void report_item(lease_op_t *op, const json_t *item) {
    char errstr[256];
    kin_lease_t *lease = NULL;
    sl_err_t err = kin_lease_from_item(item, &lease, errstr, sizeof(errstr));
    if (err)
        op_report(op, err, 0, NULL, "lease table %s: %s", op->lt->name, errstr);
    else
        op_report(op, SL_OK, 0, lease, "ok");
}

/* --- ensure -------------------------------------------------------------------------------- */

/* Checks a DescribeTable answer: the key schema must be the KCL's. Returns SL_OK, or
 * SL_ERR_CONF with errstr filled. */
static sl_err_t check_schema(const json_t *table, char *errstr, size_t errlen) {
    const json_t *ks = json_object_get(table, "KeySchema");
    const json_t *defs = json_object_get(table, "AttributeDefinitions");
    const json_t *k0 = json_array_get(ks, 0);
    if (json_array_size(ks) != 1 ||
        !json_is_string(json_object_get(k0, "AttributeName")) ||
        strcmp(json_string_value(json_object_get(k0, "AttributeName")), A_KEY) ||
        !json_is_string(json_object_get(k0, "KeyType")) ||
        strcmp(json_string_value(json_object_get(k0, "KeyType")), "HASH")) {
        sl_errf(errstr, errlen, "its key schema is not %s (HASH) alone", A_KEY);
        return SL_ERR_CONF;
    }
    for (size_t i = 0; i < json_array_size(defs); i++) {
        const json_t *d = json_array_get(defs, i);
        const char *n = json_string_value(json_object_get(d, "AttributeName"));
        const char *t = json_string_value(json_object_get(d, "AttributeType"));
        if (n && !strcmp(n, A_KEY)) {
            if (t && !strcmp(t, "S"))
                return SL_OK;
            break;
        }
    }
    sl_errf(errstr, errlen, "its key %s is not of type S", A_KEY);
    return SL_ERR_CONF;
}

static void ensure_describe(lease_op_t *op) {
    op->stage = ST_POLL;
    sl_err_t err = op_call(op, "DescribeTable", json_object());
    if (err)
        op_report(op, err, 0, NULL, "lease table %s: DescribeTable: %s", op->lt->name,
                  sl_err_str(err));
}

static void on_poll_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    ensure_describe(arg);
}

static void ensure_wait(lease_op_t *op, const char *status) {
    if (sl_now_ms() >= op->deadline_ms) {
        op_report(op, SL_ERR_RETRY, 0, NULL,
                  "lease table %s: still %s after %" PRId64 " ms", op->lt->name,
                  status ? status : "not ACTIVE", op->lt->timeout_ms);
        return;
    }
    op->stage = ST_POLL;
    if (!op->timer && !(op->timer = evtimer_new(op->lt->base, on_poll_timer, op))) {
        op_report(op, SL_ERR_NOMEM, 0, NULL, "lease table %s: out of memory", op->lt->name);
        return;
    }
    struct timeval tv = {(time_t)(op->lt->poll_ms / 1000),
                         (suseconds_t)(op->lt->poll_ms % 1000 * 1000)};
    evtimer_add(op->timer, &tv);
}

static void ensure_create(lease_op_t *op) {
    json_t *body = json_pack("{s:[{s:s,s:s}],s:[{s:s,s:s}],s:s}", "AttributeDefinitions",
                             "AttributeName", A_KEY, "AttributeType", "S", "KeySchema",
                             "AttributeName", A_KEY, "KeyType", "HASH", "BillingMode",
                             "PAY_PER_REQUEST");
    op->stage = ST_CREATE;
    sl_err_t err = op_call(op, "CreateTable", body);
    if (err)
        op_report(op, err, 0, NULL, "lease table %s: CreateTable: %s", op->lt->name,
                  sl_err_str(err));
}

static void ensure_reply(lease_op_t *op, const sl_aws_result_t *res) {
    char errstr[256];
    if (op->stage == ST_CREATE) {
        if (res->err && !type_is(res->type, "ResourceInUseException")) {
            report_aws(op, res, "CreateTable");
            return;
        }
        /* Created here, or by a competing worker a moment ago: wait for ACTIVE either way. */
        op->created = res->err == SL_OK;
        if (op->created)
            sl_log(SL_LOG_INFO, "lease", "created lease table %s", op->lt->name);
        ensure_wait(op, "CREATING");
        return;
    }
    if (res->err) {
        if (type_is(res->type, "ResourceNotFoundException") && op->create) {
            ensure_create(op);
            return;
        }
        report_aws(op, res, "DescribeTable");
        return;
    }
    const json_t *table = json_object_get(res->result, "Table");
    const char *status = json_string_value(json_object_get(table, "TableStatus"));
    if (!status) {
        op_report(op, SL_ERR_INVAL, 0, NULL, "lease table %s: DescribeTable without TableStatus",
                  op->lt->name);
        return;
    }
    if (check_schema(table, errstr, sizeof(errstr))) {
        op_report(op, SL_ERR_CONF, 0, NULL, "lease table %s exists but %s: not a KCL lease table",
                  op->lt->name, errstr);
        return;
    }
    if (!strcmp(status, "ACTIVE"))
        op_report(op, SL_OK, 0, NULL, "lease table %s is ACTIVE", op->lt->name);
    else if (!strcmp(status, "CREATING") || !strcmp(status, "UPDATING"))
        ensure_wait(op, status);
    else
        op_report(op, SL_ERR_STATE, 0, NULL, "lease table %s is %s", op->lt->name, status);
}

sl_err_t kin_lease_table_ensure(kin_lease_table_t *lt, int create, kin_lease_cb cb, void *opaque) {
    if (!lt || !cb)
        return SL_ERR_INVAL;
    lease_op_t *op = op_new(lt, OP_ENSURE, NULL, cb, opaque);
    if (!op)
        return SL_ERR_NOMEM;
    op->create = create;
    op->stage = ST_DESCRIBE;
    op->deadline_ms = sl_now_ms() + lt->timeout_ms;
    return op_start(op, "DescribeTable", json_object());
}

/* --- list ---------------------------------------------------------------------------------- */

static json_t *scan_body(const json_t *start) {
    json_t *body = json_pack("{s:b}", "ConsistentRead", 1);
    if (body && start && json_object_set(body, "ExclusiveStartKey", (json_t *)start)) {
        json_decref(body);
        return NULL;
    }
    return body;
}

static sl_err_t bad_add(lease_op_t *op, const char *key, const char *problems,
                        const json_t *item) {
    kin_lease_bad_t *b;
    if (op->n_bad == op->cap_bad) {
        size_t cap = op->cap_bad ? op->cap_bad * 2 : 4;
        kin_lease_bad_t *v = realloc(op->bad, cap * sizeof(*v));
        if (!v)
            return SL_ERR_NOMEM;
        op->bad = v;
        op->cap_bad = cap;
    }
    b = &op->bad[op->n_bad];
    memset(b, 0, sizeof(*b));
    b->key = key ? sl_strdup(key) : NULL;
    b->problems = sl_strdup(problems);
    b->item = util_json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);
    if ((key && !b->key) || !b->problems || !b->item) {
        free(b->key);
        free(b->problems);
        free(b->item);
        return SL_ERR_NOMEM;
    }
    op->n_bad++;
    return SL_OK;
}

static void list_reply(lease_op_t *op, const sl_aws_result_t *res) {
    if (res->err) {
        report_aws(op, res, "Scan");
        return;
    }
    const json_t *items = json_object_get(res->result, "Items");
    if (items && !json_is_array(items)) {
        op_report(op, SL_ERR_INVAL, 0, NULL, "lease table %s: Scan: Items is not an array",
                  op->lt->name);
        return;
    }
    for (size_t i = 0; i < json_array_size(items); i++) {
        kin_lease_t *lease = NULL;
        const json_t *item = json_array_get(items, i);
        const char *key = NULL;
        probs_t p = {.len = 0, .n = 0};
        if (parse_item(item, &lease, &key, &p) != SL_OK) {
            op_report(op, SL_ERR_NOMEM, 0, NULL, "lease table %s: out of memory",
                      op->lt->name);
            return;
        }
        if (!lease) {
            /* One damaged item must not hide the others: set it aside for the caller. */
            if (bad_add(op, key, p.buf, item) != SL_OK) {
                op_report(op, SL_ERR_NOMEM, 0, NULL, "lease table %s: out of memory",
                          op->lt->name);
                return;
            }
            continue;
        }
        if (op->n_leases == op->cap_leases) {
            size_t cap = op->cap_leases ? op->cap_leases * 2 : 16;
            kin_lease_t **v = realloc(op->leases, cap * sizeof(*v));
            if (!v) {
                kin_lease_free(lease);
                op_report(op, SL_ERR_NOMEM, 0, NULL, "lease table %s: out of memory",
                          op->lt->name);
                return;
            }
            op->leases = v;
            op->cap_leases = cap;
        }
        op->leases[op->n_leases++] = lease;
    }
    const json_t *last = json_object_get(res->result, "LastEvaluatedKey");
    if (json_is_object(last) && json_object_size(last)) {
        sl_err_t err = op_call(op, "Scan", scan_body(last));
        if (err)
            op_report(op, err, 0, NULL, "lease table %s: Scan: %s", op->lt->name,
                      sl_err_str(err));
        return;
    }
    op_report(op, SL_OK, 0, NULL, "ok");
}

sl_err_t kin_lease_table_list(kin_lease_table_t *lt, kin_lease_cb cb, void *opaque) {
    if (!lt || !cb)
        return SL_ERR_INVAL;
    lease_op_t *op = op_new(lt, OP_LIST, NULL, cb, opaque);
    if (!op)
        return SL_ERR_NOMEM;
    return op_start(op, "Scan", scan_body(NULL));
}

/* --- single items -------------------------------------------------------------------------- */

static void on_reply(void *opaque, const sl_aws_result_t *res) {
    lease_op_t *op = opaque;
    op->in_call = 0;
    switch (op->kind) {
    case OP_ENSURE:
        ensure_reply(op, res);
        break;
    case OP_LIST:
        list_reply(op, res);
        break;
    case OP_GET: {
        const json_t *item = res->err ? NULL : json_object_get(res->result, "Item");
        if (res->err)
            report_aws(op, res, "GetItem");
        else if (!item)
            op_report(op, SL_ERR_NOENT, 0, NULL, "lease table %s: no lease %s", op->lt->name,
                      op->key);
        else
            report_item(op, item);
        break;
    }
    case OP_UPDATE:
        if (res->err)
            report_aws(op, res, "UpdateItem");
        else
            report_item(op, json_object_get(res->result, "Attributes"));
        break;
    case OP_PUT:
        if (res->err) {
            report_aws(op, res, "PutItem");
        } else {
            kin_lease_t *lease = op->put_lease;
            op->put_lease = NULL;
            op_report(op, SL_OK, 0, lease, "ok");
        }
        break;
    case OP_DELETE:
        if (res->err)
            report_aws(op, res, "DeleteItem");
        else
            op_report(op, SL_OK, 0, NULL, "ok");
        break;
    }
}

static json_t *key_of(const char *key) { return json_pack("{s:{s:s}}", A_KEY, "S", key); }

/* ExpressionAttributeNames for the #aliases used in the expressions (NULLs skipped). */
static json_t *names_for(const char *const *exprs, size_t n) {
    json_t *names = json_object();
    for (size_t e = 0; names && e < n; e++) {
        for (const char *p = exprs[e]; p && (p = strchr(p, '#')); ) {
            const char *s = ++p;
            while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
                p++;
            for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
                if (strlen(aliases[i].alias) == (size_t)(p - s) &&
                    !strncmp(aliases[i].alias, s, (size_t)(p - s))) {
                    char buf[16];
                    snprintf(buf, sizeof(buf), "#%s", aliases[i].alias);
                    if (json_object_set_new(names, buf, json_string(aliases[i].name))) {
                        json_decref(names);
                        return NULL;
                    }
                }
            }
        }
    }
    return names;
}

/* One conditional UpdateItem of key returning the new item; values is stolen. */
static sl_err_t start_update(kin_lease_table_t *lt, const char *key, const char *update,
                             const char *cond, json_t *values, kin_lease_cb cb, void *opaque) {
    sl_err_t err = SL_ERR_NOMEM;
    json_t *body = NULL;
    lease_op_t *op = NULL;
    const char *exprs[] = {update, cond};

    if (!values)
        goto fail;
    body = json_pack("{s:o,s:s,s:s,s:o,s:O,s:s}", "Key", key_of(key), "UpdateExpression",
                     update, "ConditionExpression", cond, "ExpressionAttributeNames",
                     names_for(exprs, 2), "ExpressionAttributeValues", values, "ReturnValues",
                     "ALL_NEW");
    if (!body || !(op = op_new(lt, OP_UPDATE, key, cb, opaque)))
        goto fail;
    json_decref(values);
    return op_start(op, "UpdateItem", body);
fail:
    json_decref(values);
    json_decref(body);
    return err;
}

static int bad_str(const char *s) { return !s || !*s; }

sl_err_t kin_lease_table_get(kin_lease_table_t *lt, const char *key, kin_lease_cb cb,
                             void *opaque) {
    if (!lt || !cb || bad_str(key))
        return SL_ERR_INVAL;
    lease_op_t *op = op_new(lt, OP_GET, key, cb, opaque);
    if (!op)
        return SL_ERR_NOMEM;
    return op_start(op, "GetItem",
                    json_pack("{s:o,s:b}", "Key", key_of(key), "ConsistentRead", 1));
}

/* A deep copy of lease through its item form, so the copy is exactly what was written. */
static kin_lease_t *lease_copy(const json_t *item) {
    kin_lease_t *copy = NULL;
    char errstr[128];
    return kin_lease_from_item(item, &copy, errstr, sizeof(errstr)) ? NULL : copy;
}

sl_err_t kin_lease_table_create(kin_lease_table_t *lt, const kin_lease_t *lease, kin_lease_cb cb,
                                void *opaque) {
    sl_err_t err = SL_ERR_INVAL;
    json_t *item = NULL, *body = NULL;
    lease_op_t *op = NULL;
    const char *cond = "attribute_not_exists(#key)";

    if (!lt || !cb || !lease || bad_str(lease->key))
        goto fail;
    err = SL_ERR_NOMEM;
    if (!(item = kin_lease_to_item(lease)))
        goto fail;
    body = json_pack("{s:O,s:s,s:o}", "Item", item, "ConditionExpression", cond,
                     "ExpressionAttributeNames", names_for(&cond, 1));
    if (!body || !(op = op_new(lt, OP_PUT, lease->key, cb, opaque)))
        goto fail;
    if (!(op->put_lease = lease_copy(item))) {
        /* The item does not parse back: refuse to write what we could not read. */
        op_unlink(op);
        op_free(op);
        err = SL_ERR_INVAL;
        goto fail;
    }
    json_decref(item);
    return op_start(op, "PutItem", body);
fail:
    json_decref(item);
    json_decref(body);
    return err;
}

sl_err_t kin_lease_table_renew(kin_lease_table_t *lt, const char *key, int64_t seen,
                               const char *owner, kin_lease_cb cb, void *opaque) {
    if (!lt || !cb || bad_str(key) || bad_str(owner) || seen < 0 || seen == INT64_MAX)
        return SL_ERR_INVAL;
    return start_update(lt, key, "SET #cnt = :next", "#cnt = :seen AND #own = :me",
                        json_pack("{s:o,s:o,s:o}", ":next", av_n(seen + 1), ":seen",
                                  av_n(seen), ":me", av_s(owner)),
                        cb, opaque);
}

sl_err_t kin_lease_table_take(kin_lease_table_t *lt, const char *key, int64_t seen,
                              const char *old_owner, const char *new_owner, kin_lease_cb cb,
                              void *opaque) {
    if (!lt || !cb || bad_str(key) || bad_str(new_owner) || (old_owner && !*old_owner) ||
        seen < 0 || seen == INT64_MAX)
        return SL_ERR_INVAL;
    int sw = old_owner && strcmp(old_owner, new_owner);
    json_t *values = json_pack("{s:o,s:o,s:o}", ":next", av_n(seen + 1), ":seen", av_n(seen),
                               ":me", av_s(new_owner));
    if (values && old_owner && json_object_set_new(values, ":old", av_s(old_owner))) {
        json_decref(values);
        values = NULL;
    }
    if (values && sw && json_object_set_new(values, ":one", av_n(1))) {
        json_decref(values);
        values = NULL;
    }
    return start_update(lt, key,
                        sw ? "SET #own = :me, #cnt = :next ADD #osw :one"
                           : "SET #own = :me, #cnt = :next",
                        old_owner ? "#cnt = :seen AND #own = :old"
                                  : "#cnt = :seen AND attribute_not_exists(#own)",
                        values, cb, opaque);
}

static sl_err_t checkpoint_like(kin_lease_table_t *lt, const char *key, int64_t seen,
                                const char *owner, const char *seq, int64_t sub,
                                const char *const *children, size_t n, kin_lease_cb cb,
                                void *opaque) {
    if (!lt || !cb || bad_str(key) || bad_str(owner) || bad_str(seq) || !valid_position(seq) ||
        sub < 0 || seen < 0 || seen == INT64_MAX)
        return SL_ERR_INVAL;
    json_t *values = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", ":next", av_n(seen + 1), ":seen",
                               av_n(seen), ":me", av_s(owner), ":seq", av_s(seq), ":sub",
                               av_n(sub), ":zero", av_n(0));
    if (values && n && json_object_set_new(values, ":kids", av_ss((char *const *)children, n))) {
        json_decref(values);
        values = NULL;
    }
    return start_update(lt, key,
                        /* The pending checkpoint is settled by this one: all three of its
                         * attributes go, as in the KCL's checkpoint update. */
                        n ? "SET #ckp = :seq, #ckpsub = :sub, #cnt = :next, #osw = :zero, "
                            "#chl = :kids REMOVE #pnd, #pndsub, #pndst"
                          : "SET #ckp = :seq, #ckpsub = :sub, #cnt = :next, #osw = :zero "
                            "REMOVE #pnd, #pndsub, #pndst",
                        "#cnt = :seen AND #own = :me", values, cb, opaque);
}

sl_err_t kin_lease_table_checkpoint(kin_lease_table_t *lt, const char *key, int64_t seen,
                                    const char *owner, const char *seq, int64_t sub,
                                    kin_lease_cb cb, void *opaque) {
    return checkpoint_like(lt, key, seen, owner, seq, sub, NULL, 0, cb, opaque);
}

sl_err_t kin_lease_table_shard_end(kin_lease_table_t *lt, const char *key, int64_t seen,
                                   const char *owner, const char *const *children, size_t n,
                                   kin_lease_cb cb, void *opaque) {
    if (!children || !n)
        return SL_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if (bad_str(children[i]))
            return SL_ERR_INVAL;
    return checkpoint_like(lt, key, seen, owner, "SHARD_END", 0, children, n, cb, opaque);
}

sl_err_t kin_lease_table_evict(kin_lease_table_t *lt, const char *key, const char *owner,
                               kin_lease_cb cb, void *opaque) {
    if (!lt || !cb || bad_str(key) || bad_str(owner))
        return SL_ERR_INVAL;
    return start_update(lt, key, "SET #cnt = #cnt + :one REMOVE #own", "#own = :me",
                        json_pack("{s:o,s:o}", ":one", av_n(1), ":me", av_s(owner)), cb,
                        opaque);
}

sl_err_t kin_lease_table_delete(kin_lease_table_t *lt, const char *key, int64_t seen,
                                kin_lease_cb cb, void *opaque) {
    sl_err_t err = SL_ERR_INVAL;
    json_t *body = NULL;
    lease_op_t *op = NULL;
    const char *cond = "#cnt = :seen";

    if (!lt || !cb || bad_str(key))
        goto fail;
    err = SL_ERR_NOMEM;
    if (!(body = json_pack("{s:o}", "Key", key_of(key))))
        goto fail;
    if (seen >= 0 &&
        (json_object_set_new(body, "ConditionExpression", json_string(cond)) ||
         json_object_set_new(body, "ExpressionAttributeNames", names_for(&cond, 1)) ||
         json_object_set_new(body, "ExpressionAttributeValues",
                             json_pack("{s:o}", ":seen", av_n(seen)))))
        goto fail;
    if (!(op = op_new(lt, OP_DELETE, key, cb, opaque)))
        goto fail;
    return op_start(op, "DeleteItem", body);
fail:
    json_decref(body);
    return err;
}
