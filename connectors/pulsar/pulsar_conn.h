/*
 * pulsar_conn.h: connections to Pulsar brokers on one libevent loop. A pl_client_t (one per
 * worker thread, or the main thread) keeps one connection per broker address, does the CONNECT
 * handshake (protocol version, token authentication, proxying), keepalive in both directions,
 * request/response matching by request id with an operation timeout, and topic lookups
 * (redirects, authoritative flag, proxy_through_service_url) and partition counts through the
 * service URL. Producers and consumers attach to a connection by id and hear its frames and its
 * end; they reconnect by asking for a connection again.
 */
#ifndef SL_PULSAR_CONN_H
#define SL_PULSAR_CONN_H

#include <stdint.h>

#include <event2/event.h>

#include "pulsar_wire.h"

typedef struct pl_client pl_client_t;
typedef struct pl_conn pl_conn_t;

typedef struct pl_client_conf {
    const char *service_url;       /* pulsar://host:port[,...] or pulsar+ssl:// (borrowed) */
    const char *auth_token;        /* token authentication, or NULL (secret, borrowed) */
    const char *tls_ca_file;       /* trusted CAs (NULL: the system's) */
    const char *tls_cert_file;     /* client certificate for mutual TLS, or NULL */
    const char *tls_key_file;
    int tls_allow_insecure;        /* skip certificate verification */
    int tls_verify_hostname;       /* check the broker's name against its certificate */
    int64_t connect_timeout_ms;
    int64_t operation_timeout_ms;
    int64_t keepalive_ms;
    const char *listener_name;     /* advertised listener to ask lookups for, or NULL */
    const char *what;              /* for messages: "output 'pulsar.t'" (borrowed) */
} pl_client_conf_t;

/* A new client on base. cc is copied. Returns NULL with errstr (bad service URL, TLS files). */
pl_client_t *pl_client_new(struct event_base *base, const pl_client_conf_t *cc, char *errstr,
                           size_t errlen);
/* Closes every connection (attached handlers hear on_closed with "client closed"), drops every
 * pending callback without calling it. Accepts NULL. */
void pl_client_destroy(pl_client_t *cl);

/* How often a client failing on and on says so again (the first failure is logged at once). */
#define PL_OUTAGE_REPORT_MS 15000
/* A registration, subscription or lookup of op ("producer on <topic>") failed for why: the first
 * failure since the last success is a warning at once naming the service URL and next (what
 * happens now), later ones a summary with their count every PL_OUTAGE_REPORT_MS; the client's
 * entry on the health board (/healthz) fails. Strings are copied. Loop thread. */
void pl_client_failed(pl_client_t *cl, const char *op, const char *why, const char *next);
/* op succeeded: the outage (if any) is over, said once at info. Loop thread. */
void pl_client_ok(pl_client_t *cl, const char *op);
/* A fresh id for producers, consumers and requests of this client. */
uint64_t pl_client_next_id(pl_client_t *cl);
/* The connection to broker_url (pulsar://host:port as lookups answer; NULL: the service URL),
 * created (and connecting) when there is none. proxy: connect to the service URL and ask it to
 * proxy to broker_url. Borrowed, valid until its handlers heard on_closed. NULL with errstr on a
 * malformed URL. */
pl_conn_t *pl_client_conn(pl_client_t *cl, const char *broker_url, int proxy, char *errstr,
                          size_t errlen);
/* Cancels every pending callback (ready waiters, requests, lookups) registered with opaque. */
void pl_client_forget(pl_client_t *cl, void *opaque);

/* Calls cb once the connection is ready (err NULL) or failed (err says why); never from inside
 * this call. */
typedef void (*pl_ready_cb)(void *opaque, pl_conn_t *conn, const char *err);
void pl_conn_when_ready(pl_conn_t *conn, pl_ready_cb cb, void *opaque);
int pl_conn_ready(const pl_conn_t *conn);
/* The broker's largest message (CONNECTED max_message_size, else 5 MiB). */
size_t pl_conn_max_message(const pl_conn_t *conn);
/* "host:port" of the broker (borrowed). */
const char *pl_conn_name(const pl_conn_t *conn);

/* Sends a request whose answer carries request_id (SUCCESS, ERROR, PRODUCER_SUCCESS,
 * LOOKUP_RESPONSE, PARTITIONED_METADATA_RESPONSE, ACK_RESPONSE). cb gets the answer frame
 * (borrowed for the call) or NULL and err (timeout, connection closed). A PRODUCER_SUCCESS with
 * producer_ready false is passed on and the request stays pending for the final one. */
typedef void (*pl_req_cb)(void *opaque, pl_conn_t *conn, const pl_frame_t *f, const char *err);
void pl_conn_request(pl_conn_t *conn, uint64_t request_id, const pl_cmd_t *cmd, pl_req_cb cb,
                     void *opaque);
/* Writes a frame built by pl_frame_cmd()/pl_frame_payload(). Bytes the socket has not taken yet
 * are in pl_conn_pending_bytes(). Returns 0, or -1 when the connection is not ready. */
int pl_conn_write(pl_conn_t *conn, const void *frame, size_t len);
size_t pl_conn_pending_bytes(const pl_conn_t *conn);
/* Sends a command that has no answer (FLOW, ACK, SEND is written with pl_conn_write). */
int pl_conn_command(pl_conn_t *conn, const pl_cmd_t *cmd);

/* Producers and consumers attached to a connection hear the frames addressed to their id
 * (SEND_RECEIPT, SEND_ERROR, CLOSE_PRODUCER for producers; MESSAGE, CLOSE_CONSUMER,
 * ACTIVE_CONSUMER_CHANGE, REACHED_END_OF_TOPIC for consumers; TOPIC_MIGRATED for both) and the
 * end of the connection (after which conn is gone). */
typedef struct pl_handler {
    void (*on_frame)(void *opaque, pl_conn_t *conn, const pl_frame_t *f);
    void (*on_closed)(void *opaque, pl_conn_t *conn, const char *why);
} pl_handler_t;
enum { PL_PRODUCER = 0, PL_CONSUMER = 1 };
int pl_conn_attach(pl_conn_t *conn, int kind, uint64_t id, const pl_handler_t *h, void *opaque);
void pl_conn_detach(pl_conn_t *conn, int kind, uint64_t id);
/* Gives back the registration of producer or consumer id (kind PL_PRODUCER / PL_CONSUMER) whose
 * PRODUCER or SUBSCRIBE timed out on conn: the broker may still complete it and would then hold
 * the producer name or the exclusive subscription for this connection, refusing every later
 * registration with ProducerBusy / ConsumerBusy. Sends CLOSE_PRODUCER / CLOSE_CONSUMER for it
 * (as the Java client does); when that is not answered within the operation timeout either, the
 * connection is closed, which frees everything it held. Detach the id first. */
void pl_conn_abandon(pl_conn_t *conn, int kind, uint64_t id);
/* Closes the connection (as if the broker had): handlers hear on_closed, pending requests fail.
 * Used on protocol errors and by tests. */
void pl_conn_close(pl_conn_t *conn, const char *why);

/* Looks topic up: cb gets the broker URL serving it and whether to go through the service URL
 * (proxy), or err. Follows redirects (at most 20). */
typedef void (*pl_lookup_cb)(void *opaque, const char *broker_url, int proxy, const char *err);
void pl_lookup(pl_client_t *cl, const char *topic, pl_lookup_cb cb, void *opaque);
/* The number of partitions of topic (0: not partitioned), or err. */
typedef void (*pl_partitions_cb)(void *opaque, int partitions, const char *err);
void pl_partitions(pl_client_t *cl, const char *topic, pl_partitions_cb cb, void *opaque);

/* The name of a ServerError code ("ServiceNotReady"). */
const char *pl_server_error_name(int code);
/* Whether a failure (as a callback's err or a close reason says it) will not go away by trying
 * again: the broker refused the credentials or the permission, or the broker's certificate does
 * not verify. Producers and consumers fail the job on these instead of retrying for ever. */
int pl_fatal(const char *why);
/* Whether a ServerError is worth retrying (the broker or the metadata store is busy, or the
 * topic moved). */
int pl_server_error_retriable(int code);

#endif
