/*
 * pulsar_lookup.c: topic lookups of a Pulsar client (pl_lookup, pl_partitions; declared in
 * pulsar_conn.h). A LOOKUP or PARTITIONED_METADATA request goes to the service URL's broker and
 * follows redirects (at most MAX_REDIRECTS) to the broker that serves the topic, through the
 * service URL when it is a proxy; the answer is the broker URL to connect to, or the number of
 * partitions. Lookups ride on the connections of pulsar_conn.c and are kept in the client's list
 * so pl_client_forget() and pl_client_destroy() can cancel them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pulsar_conn_int.h"
#include "sluice/log.h"

#define MAX_REDIRECTS 20

void pl_lookup_free(lookup_t *lk) {
    if (lk->conn)
        pl_conn_forget(lk->conn, lk);
    free(lk->topic);
    free(lk->url);
    free(lk);
}

/* Finishes lk: out of the client's list, then the caller's callback. */
static void lookup_done(lookup_t *lk, const char *url, int partitions, const char *err) {
    pl_client_t *cl = lk->cl;
    for (lookup_t **pp = &cl->lookups; *pp; pp = &(*pp)->next)
        if (*pp == lk) {
            *pp = lk->next;
            break;
        }
    lk->conn = NULL;
    if (lk->partitions)
        lk->pcb(lk->opaque, partitions, err);
    else
        lk->cb(lk->opaque, url, lk->proxy, err);
    pl_lookup_free(lk);
}

static void lookup_step(lookup_t *lk);

int pl_lookup_next(lookup_t *lk, const Pulsar__Proto__CommandLookupTopicResponse *r, int tls,
                   const char **url, char *why, size_t whylen) {
    const char *to;
    char *copy;
    if (!r || !r->has_response ||
        r->response == PULSAR__PROTO__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Failed) {
        snprintf(why, whylen, "lookup of %s: %s: %s", lk->topic,
                 r && r->has_error ? pl_server_error_name(r->error) : "failed",
                 r && r->message ? r->message : "");
        return PL_LOOKUP_ERROR;
    }
    to = tls ? r->brokerserviceurltls : r->brokerserviceurl;
    if (!to || !*to) {
        snprintf(why, whylen, "lookup of %s: the broker gave no %s URL", lk->topic,
                 tls ? "TLS" : "plain");
        return PL_LOOKUP_ERROR;
    }
    lk->proxy = r->has_proxy_through_service_url && r->proxy_through_service_url;
    if (r->response == PULSAR__PROTO__COMMAND_LOOKUP_TOPIC_RESPONSE__LOOKUP_TYPE__Connect) {
        *url = to;
        return PL_LOOKUP_CONNECT;
    }
    /* Redirect: ask the named broker, authoritatively when it said so. */
    if (++lk->redirects > MAX_REDIRECTS) {
        snprintf(why, whylen, "lookup of %s: more than %d redirects", lk->topic, MAX_REDIRECTS);
        return PL_LOOKUP_ERROR;
    }
    /* Without its copy lk->url would stay the last broker (or NULL: the service URL), and the
     * next request would go to a broker that did not say it serves the topic. */
    if (!(copy = sl_strdup(to))) {
        snprintf(why, whylen, "lookup of %s: out of memory following the redirect to %.200s",
                 lk->topic, to);
        return PL_LOOKUP_ERROR;
    }
    lk->authoritative = r->has_authoritative && r->authoritative;
    free(lk->url);
    lk->url = copy;
    return PL_LOOKUP_REDIRECT;
}

static void lookup_answer(void *opaque, pl_conn_t *conn, const pl_frame_t *f, const char *err) {
    lookup_t *lk = opaque;
    const char *url = NULL;
    char why[700];
    (void)conn;
    if (!f) {
        lookup_done(lk, NULL, 0, err);
        return;
    }
    if (f->cmd->type == PULSAR__PROTO__BASE_COMMAND__TYPE__ERROR) {
        snprintf(why, sizeof(why), "%s: %s", pl_server_error_name(f->cmd->error->error),
                 f->cmd->error->message);
        lookup_done(lk, NULL, 0, why);
        return;
    }
    if (lk->partitions) {
        Pulsar__Proto__CommandPartitionedTopicMetadataResponse *r =
            f->cmd->partitionmetadataresponse;
        if (!r || (r->has_response &&
                   r->response ==
                       PULSAR__PROTO__COMMAND_PARTITIONED_TOPIC_METADATA_RESPONSE__LOOKUP_TYPE__Failed)) {
            snprintf(why, sizeof(why), "partition metadata of %s: %s: %s", lk->topic,
                     r && r->has_error ? pl_server_error_name(r->error) : "failed",
                     r && r->message ? r->message : "");
            lookup_done(lk, NULL, 0, why);
            return;
        }
        lookup_done(lk, NULL, r->has_partitions ? (int)r->partitions : 0, NULL);
        return;
    }
    switch (pl_lookup_next(lk, f->cmd->lookuptopicresponse, lk->cl->url.tls, &url, why,
                           sizeof(why))) {
    case PL_LOOKUP_CONNECT:
        lookup_done(lk, url, 0, NULL);
        break;
    case PL_LOOKUP_REDIRECT:
        lk->conn = NULL;
        lookup_step(lk);
        break;
    default:
        lookup_done(lk, NULL, 0, why);
        break;
    }
}

static void lookup_ready(void *opaque, pl_conn_t *conn, const char *err) {
    lookup_t *lk = opaque;
    pl_cmd_t cmd = PULSAR__PROTO__BASE_COMMAND__INIT;
    Pulsar__Proto__CommandLookupTopic l = PULSAR__PROTO__COMMAND_LOOKUP_TOPIC__INIT;
    Pulsar__Proto__CommandPartitionedTopicMetadata pm =
        PULSAR__PROTO__COMMAND_PARTITIONED_TOPIC_METADATA__INIT;
    uint64_t id = pl_client_next_id(lk->cl);
    if (err) {
        lookup_done(lk, NULL, 0, err);
        return;
    }
    if (lk->partitions) {
        cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__PARTITIONED_METADATA;
        cmd.partitionmetadata = &pm;
        pm.topic = lk->topic;
        pm.request_id = id;
    } else {
        cmd.type = PULSAR__PROTO__BASE_COMMAND__TYPE__LOOKUP;
        cmd.lookuptopic = &l;
        l.topic = lk->topic;
        l.request_id = id;
        l.has_authoritative = 1;
        l.authoritative = lk->authoritative;
        l.advertised_listener_name = lk->cl->listener;
    }
    pl_conn_request(conn, id, &cmd, lookup_answer, lk);
}

static void lookup_step(lookup_t *lk) {
    char err[300];
    /* A redirect to another broker goes through the service URL when it is a proxy. */
    lk->conn = pl_client_conn(lk->cl, lk->url, lk->url && lk->proxy, err, sizeof(err));
    if (!lk->conn) {
        lookup_done(lk, NULL, 0, err);
        return;
    }
    pl_conn_when_ready(lk->conn, lookup_ready, lk);
}

static void lookup_start(pl_client_t *cl, const char *topic, int partitions, pl_lookup_cb cb,
                         pl_partitions_cb pcb, void *opaque) {
    lookup_t *lk = calloc(1, sizeof(*lk));
    if (!lk || !(lk->topic = sl_strdup(topic))) {
        free(lk);
        if (cb)
            cb(opaque, NULL, 0, "out of memory");
        else
            pcb(opaque, 0, "out of memory");
        return;
    }
    lk->cl = cl;
    lk->partitions = partitions;
    lk->cb = cb;
    lk->pcb = pcb;
    lk->opaque = opaque;
    lk->next = cl->lookups;
    cl->lookups = lk;
    lookup_step(lk);
}

void pl_lookup(pl_client_t *cl, const char *topic, pl_lookup_cb cb, void *opaque) {
    lookup_start(cl, topic, 0, cb, NULL, opaque);
}

void pl_partitions(pl_client_t *cl, const char *topic, pl_partitions_cb cb, void *opaque) {
    lookup_start(cl, topic, 1, NULL, cb, opaque);
}
