/*
 * pulsar_conn_int.h: the inside of a Pulsar client shared by pulsar_conn.c (connections) and
 * pulsar_lookup.c (topic lookups); nothing else includes it but the unit tests. Loop thread
 * only.
 */
#ifndef SL_PULSAR_CONN_INT_H
#define SL_PULSAR_CONN_INT_H

#include <openssl/ssl.h>

#include "sluice/system.h"
#include "pulsar_conn.h"
#include "pulsar_wire.h"
#include "util_time.h"


typedef struct lookup {
    pl_client_t *cl;
    char *topic;
    int partitions;          /* 1: PARTITIONED_METADATA, 0: LOOKUP */
    pl_lookup_cb cb;
    pl_partitions_cb pcb;
    void *opaque;
    int redirects, authoritative, proxy;
    char *url;               /* where the next request goes (NULL: service URL) */
    pl_conn_t *conn;
    struct lookup *next;
} lookup_t;

struct pl_client {
    struct event_base *base;
    pl_client_conf_t cc;
    char *service_url, *auth_token, *listener, *what;
    pl_url_t url;
    int next_host;
    SSL_CTX *ssl_ctx;
    pl_conn_t *conns;
    lookup_t *lookups;
    uint64_t next_id;
    /* the current outage of the broker (see pl_client_failed) */
    sl_health_t *health;
    util_ratelimit_t outage_rl;
    int64_t outage_failures;
};

/* Frees lk (cancelling what it waits for on its connection); lk must be out of the list. */
void pl_lookup_free(lookup_t *lk);
/* What a LOOKUP answer r (borrowed; NULL when the frame had none) tells lookup lk, for a client
 * on TLS or not. PL_LOOKUP_CONNECT: *url (borrowed from r) serves the topic. PL_LOOKUP_REDIRECT:
 * lk->url is now a copy of the broker to ask next, lk->authoritative and lk->proxy as it said.
 * PL_LOOKUP_ERROR: why says what failed (an error answer, no URL, too many redirects, out of
 * memory copying the URL); lk->url is then unchanged. Pure: no I/O. */
enum { PL_LOOKUP_ERROR, PL_LOOKUP_CONNECT, PL_LOOKUP_REDIRECT };
int pl_lookup_next(lookup_t *lk, const Pulsar__Proto__CommandLookupTopicResponse *r, int tls,
                   const char **url, char *why, size_t whylen);
/* Drops every ready waiter and pending request of conn registered with opaque (no callback). */
void pl_conn_forget(pl_conn_t *conn, void *opaque);

#endif
