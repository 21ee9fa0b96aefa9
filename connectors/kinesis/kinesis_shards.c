/*
 * kinesis_shards.c: listing a stream's shards, declared in kinesis_shards.h: ListShards for
 * Kinesis and DescribeStream for DynamoDB Streams, every page walked on the coordinator's loop
 * through the AWS client (which owns retries and backoff), each shard parsed strictly into a
 * kin_shard_info_t. Listings in flight are kept in a registry so the coordinator can cancel
 * them.
 */

#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kinesis.h"
#include "kinesis_json.h"
#include "sluice/log.h"
#include "util_str.h"

void kin_shard_info_free(kin_shard_info_t *s) {
    if (!s)
        return;
    free(s->id);
    free(s->parent);
    free(s->adjacent_parent);
    free(s->start_hash);
    free(s->end_hash);
    free(s->start_seq);
    free(s->end_seq);
    memset(s, 0, sizeof(*s));
}

void kin_shard_list_free(kin_shard_info_t *s, size_t n) {
    if (!s)
        return;
    for (size_t i = 0; i < n; i++)
        kin_shard_info_free(&s[i]);
    free(s);
}

/* A copy of one string member: 0, or -1 when out of memory (NULL copies as NULL). */
static int dup_member(char **dst, const char *src) {
    return src && !(*dst = sl_strdup(src)) ? -1 : 0;
}

kin_shard_info_t *kin_shard_list_dup(const kin_shard_info_t *v, size_t n) {
    kin_shard_info_t *d = calloc(n ? n : 1, sizeof(*d));
    for (size_t i = 0; d && i < n; i++)
        if (dup_member(&d[i].id, v[i].id) || dup_member(&d[i].parent, v[i].parent) ||
            dup_member(&d[i].adjacent_parent, v[i].adjacent_parent) ||
            dup_member(&d[i].start_hash, v[i].start_hash) ||
            dup_member(&d[i].end_hash, v[i].end_hash) ||
            dup_member(&d[i].start_seq, v[i].start_seq) ||
            dup_member(&d[i].end_seq, v[i].end_seq)) {
            kin_shard_list_free(d, n);
            return NULL;
        }
    return d;
}

/* One element of ListShards' Shards. */
static int parse_shard(const json_t *o, size_t idx, int ddb, kin_shard_info_t *si, char *errstr,
                       size_t errlen) {
    char where[96], w2[128];
    const json_t *r;
    memset(si, 0, sizeof(*si));
    snprintf(where, sizeof(where), "Shards[%zu]", idx);
    if (!json_is_object(o)) {
        sl_errf(errstr, errlen, "%s: expected an object", where);
        return -1;
    }
    if (kin_json_id(o, "ShardId", 1, &si->id, where, errstr, errlen) < 0)
        return -1;
    /* name the shard in every later message */
    snprintf(where, sizeof(where), "Shards[%zu] (%.48s)", idx, si->id);
    if (kin_json_id(o, "ParentShardId", 0, &si->parent, where, errstr, errlen) < 0 ||
        kin_json_id(o, "AdjacentParentShardId", 0, &si->adjacent_parent, where, errstr,
                    errlen) < 0 ||
        (!ddb && kin_json_hash_range(o, si, where, errstr, errlen) < 0))
        return -1;
    if (!(r = kin_json_obj(o, "SequenceNumberRange", where, errstr, errlen)))
        return -1;
    snprintf(w2, sizeof(w2), "%s.SequenceNumberRange", where);
    if (kin_json_dec(r, "StartingSequenceNumber", 1, &si->start_seq, w2, errstr, errlen) < 0 ||
        kin_json_dec(r, "EndingSequenceNumber", 0, &si->end_seq, w2, errstr, errlen) < 0)
        return -1;
    return 0;
}

/* One listing in progress. Listings are found by (client, opaque) for cancelling, in one list
 * guarded by a mutex: listings are rare and may run on several loops. */
typedef struct list_ctx {
    struct list_ctx *next;
    sl_aws_client_t *c;
    char *stream, *arn, *filter_type;
    int64_t ts_ms;
    sl_retry_policy_t retry;
    kin_list_cb cb;
    void *opaque;
    kin_shard_info_t *shards;
    size_t n, cap;
    int restarted;
    int pages;
    int ddb;                  /* DynamoDB Streams: DescribeStream pages */
} list_ctx_t;

static pthread_mutex_t lists_lock = PTHREAD_MUTEX_INITIALIZER;
static list_ctx_t *lists;

static void list_free(list_ctx_t *l) {
    kin_shard_list_free(l->shards, l->n);
    free(l->stream);
    free(l->arn);
    free(l->filter_type);
    free(l);
}

/* Takes l out of the registry; 1 when it was there (not cancelled meanwhile). */
static int list_unlink(list_ctx_t *l) {
    int found = 0;
    pthread_mutex_lock(&lists_lock);
    for (list_ctx_t **pp = &lists; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&lists_lock);
    return found;
}

static const char *list_what(const list_ctx_t *l) {
    return l->arn ? l->arn : l->stream;
}

static const char *list_call(const list_ctx_t *l) {
    return l->ddb ? "DescribeStream" : "ListShards";
}

static void list_result(void *opaque, const sl_aws_result_t *res);

static sl_err_t list_request(list_ctx_t *l, const char *token) {
    json_t *body = json_object();
    if (!body)
        return SL_ERR_NOMEM;
    if (l->ddb) {
        /* DynamoDB Streams pages by the last shard id of the previous page, 100 at most */
        json_object_set_new(body, "StreamArn", json_string(l->arn));
        if (token)
            json_object_set_new(body, "ExclusiveStartShardId", json_string(token));
        json_object_set_new(body, "Limit", json_integer(100));
        return sl_aws_call(l->c, "DescribeStream", body, &l->retry, list_result, l);
    }
    if (token) {
        /* later pages: NextToken identifies the stream; StreamName is refused with it */
        json_object_set_new(body, "NextToken", json_string(token));
    } else {
        if (l->arn)
            json_object_set_new(body, "StreamARN", json_string(l->arn));
        else
            json_object_set_new(body, "StreamName", json_string(l->stream));
        if (l->filter_type) {
            json_t *f = json_pack("{s:s}", "Type", l->filter_type);
            if (f && !strcmp(l->filter_type, "FROM_TIMESTAMP"))
                json_object_set_new(f, "Timestamp", json_real((double)l->ts_ms / 1000.0));
            json_object_set_new(body, "ShardFilter", f);
        }
    }
    json_object_set_new(body, "MaxResults", json_integer(1000));
    return sl_aws_call(l->c, "ListShards", body, &l->retry, list_result, l);
}

static void list_done(list_ctx_t *l, sl_err_t err, const char *msg) {
    kin_shard_info_t *shards = err == SL_OK ? l->shards : NULL;
    size_t n = err == SL_OK ? l->n : 0;
    if (err == SL_OK)
        l->shards = NULL;
    l->cb(l->opaque, err, msg, &shards, n);
    kin_shard_list_free(shards, n);
    list_free(l);
}

static void list_result(void *opaque, const sl_aws_result_t *res) {
    list_ctx_t *l = opaque;
    char errstr[512], msg[768];
    const json_t *arr, *tok;
    const char *token = NULL;
    size_t n;

    if (res->err != SL_OK) {
        if (res->type && !strcmp(res->type, "ExpiredNextTokenException") && !l->restarted) {
            /* the listing took too long between pages: start over, once */
            sl_log(SL_LOG_WARN, "kinesis", "ListShards %s: %s; listing again from the start",
                   list_what(l), res->type);
            l->restarted = 1;
            kin_shard_list_free(l->shards, l->n);
            l->shards = NULL;
            l->n = l->cap = 0;
            if (list_request(l, NULL) == SL_OK)
                return;
        }
        list_unlink(l);
        snprintf(msg, sizeof(msg), "%s %s: %s%s%s", list_call(l), list_what(l),
                 res->type ? res->type : sl_err_str(res->err),
                 res->message && *res->message ? ": " : "", res->message ? res->message : "");
        list_done(l, res->err, msg);
        return;
    }
    {
        const json_t *root = res->result;
        if (l->ddb && !json_is_object(root = json_object_get(res->result, "StreamDescription"))) {
            snprintf(errstr, sizeof(errstr), "StreamDescription: %s",
                     root ? "expected an object" : "missing");
            goto bad;
        }
        arr = json_object_get(root, "Shards");
        tok = json_object_get(root, l->ddb ? "LastEvaluatedShardId" : "NextToken");
    }
    if (!json_is_array(arr)) {
        snprintf(errstr, sizeof(errstr), "Shards: %s", arr ? "expected an array" : "missing");
        goto bad;
    }
    n = json_array_size(arr);
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap : 16;
        kin_shard_info_t *v;
        while (cap < l->n + n)
            cap *= 2;
        if (!(v = realloc(l->shards, cap * sizeof(*v)))) {
            snprintf(errstr, sizeof(errstr), "out of memory");
            goto bad;
        }
        l->shards = v;
        l->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_shard(json_array_get(arr, i), i, l->ddb, &l->shards[l->n], errstr,
                        sizeof(errstr)) < 0) {
            kin_shard_info_free(&l->shards[l->n]);
            goto bad;
        }
        l->n++;
    }
    l->pages++;
    if (tok && !json_is_null(tok)) {
        if (!json_is_string(tok) || !*json_string_value(tok)) {
            snprintf(errstr, sizeof(errstr), "%s: expected a non-empty string",
                     l->ddb ? "LastEvaluatedShardId" : "NextToken");
            goto bad;
        }
        token = json_string_value(tok);
    }
    if (token) {
        if (list_request(l, token) == SL_OK)
            return;
        snprintf(errstr, sizeof(errstr), "out of memory");
        list_unlink(l);
        snprintf(msg, sizeof(msg), "%s %s: %s", list_call(l), list_what(l), errstr);
        list_done(l, SL_ERR_NOMEM, msg);
        return;
    }
    list_unlink(l);
    sl_log_debug("kinesis", "%s %s: %zu shard(s) in %d page(s)", list_call(l), list_what(l),
                 l->n, l->pages);
    list_done(l, SL_OK, NULL);
    return;
bad:
    list_unlink(l);
    snprintf(msg, sizeof(msg), "%s %s: malformed answer: %s", list_call(l), list_what(l),
             errstr);
    list_done(l, SL_ERR_INVAL, msg);
}

static sl_err_t list_start(sl_aws_client_t *c, int ddb, const char *stream, const char *arn,
                           const char *filter_type, int64_t ts_ms,
                           const sl_retry_policy_t *retry, kin_list_cb cb, void *opaque) {
    list_ctx_t *l;
    sl_err_t err;
    if ((!stream || !*stream) && (!arn || !*arn))
        return SL_ERR_INVAL;
    if (!(l = calloc(1, sizeof(*l))))
        return SL_ERR_NOMEM;
    l->ddb = ddb;
    l->c = c;
    l->cb = cb;
    l->opaque = opaque;
    l->ts_ms = ts_ms;
    if (retry)
        l->retry = *retry;
    else
        l->retry = (sl_retry_policy_t){500, 5000, 2.0, 10, 0};
    if ((arn && *arn && !(l->arn = sl_strdup(arn))) ||
        (stream && *stream && !(l->stream = sl_strdup(stream))) ||
        (filter_type && *filter_type && !(l->filter_type = sl_strdup(filter_type)))) {
        list_free(l);
        return SL_ERR_NOMEM;
    }
    pthread_mutex_lock(&lists_lock);
    l->next = lists;
    lists = l;
    pthread_mutex_unlock(&lists_lock);
    if ((err = list_request(l, NULL)) != SL_OK) {
        list_unlink(l);
        list_free(l);
    }
    return err;
}

sl_err_t kin_list_shards(sl_aws_client_t *c, const char *stream, const char *arn,
                         const char *filter_type, int64_t ts_ms, const sl_retry_policy_t *retry,
                         kin_list_cb cb, void *opaque) {
    return list_start(c, 0, stream, arn, filter_type, ts_ms, retry, cb, opaque);
}

sl_err_t kin_ddb_list_shards(sl_aws_client_t *c, const char *arn, const sl_retry_policy_t *retry,
                             kin_list_cb cb, void *opaque) {
    if (!arn || !*arn)
        return SL_ERR_INVAL;
    return list_start(c, 1, NULL, arn, NULL, 0, retry, cb, opaque);
}

void kin_list_shards_cancel(sl_aws_client_t *c, void *opaque) {
    list_ctx_t *found = NULL;
    pthread_mutex_lock(&lists_lock);
    for (list_ctx_t **pp = &lists; *pp;) {
        list_ctx_t *l = *pp;
        if (l->c == c && l->opaque == opaque) {
            *pp = l->next;
            l->next = found;
            found = l;
        } else {
            pp = &l->next;
        }
    }
    pthread_mutex_unlock(&lists_lock);
    while (found) {
        list_ctx_t *l = found;
        found = l->next;
        sl_aws_cancel(c, l);
        list_free(l);
    }
}
