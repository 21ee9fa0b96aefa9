/*
 * kinesis_sink_server.c: a fast local Kinesis endpoint for the producer's benchmark
 * (bench/kinesis_write.sh). One thread, libevent's evhttp on 127.0.0.1. It answers
 * DescribeStreamSummary, ListShards (K open shards splitting the hash key range evenly),
 * CreateStream, PutRecord and PutRecords: every entry is decoded (base64), placed on the shard its
 * explicit hash key or the MD5 of its partition key names, and given an increasing sequence
 * number. With --verify every KPL aggregate is opened with sluice's own de-aggregator (magic and
 * MD5 checked) to count the user records inside, and each user record's hash key must lie in the
 * shard the aggregate landed on. Counters go to --stats as JSON every second and at SIGTERM.
 *
 *   kinesis-sink-server --port N [--shards K] [--stream NAME] [--stats FILE] [--verify]
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "../../connectors/kinesis/kinesis_kpl.h"
#include "util_str.h"

typedef struct server {
    int nshards;
    kpl_range_t *ranges;
    const char *stream;
    const char *stats_path;
    int verify;
    unsigned long long seq;
    unsigned long long requests, records, user_records, bytes, bad_aggregates, wrong_shard;
    kpl_deagg_t *da;
    struct event_base *base;
} server_t;

static void write_stats(server_t *s) {
    char tmp[4096];
    FILE *f;
    if (!s->stats_path)
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", s->stats_path);
    if (!(f = fopen(tmp, "w")))
        return;
    fprintf(f, "{\"requests\":%llu,\"records\":%llu,\"user_records\":%llu,\"bytes\":%llu,"
            "\"bad_aggregates\":%llu,\"wrong_shard\":%llu}\n", s->requests, s->records,
            s->user_records, s->bytes, s->bad_aggregates, s->wrong_shard);
    fclose(f);
    rename(tmp, s->stats_path);
}

static void reply(struct evhttp_request *req, int code, const char *body) {
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/x-amz-json-1.1");
    evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Bad Request", b);
    evbuffer_free(b);
}

static void bad(struct evhttp_request *req, const char *what) {
    char body[512];
    snprintf(body, sizeof(body), "{\"__type\":\"SerializationException\",\"message\":\"%s\"}",
             what);
    reply(req, 400, body);
}

static int shard_of(const server_t *s, const kpl_hash_t *h) {
    for (int i = 0; i < s->nshards; i++)
        if (kpl_hash_cmp(h, &s->ranges[i].start) >= 0 &&
            kpl_hash_cmp(h, &s->ranges[i].end) <= 0)
            return i;
    return s->nshards - 1;
}

static void list_shards(server_t *s, struct evhttp_request *req) {
    sl_sb_t sb = {0};
    sl_sb_puts(&sb, "{\"Shards\":[");
    for (int i = 0; i < s->nshards; i++) {
        char a[KPL_HASH_STR_MAX], b[KPL_HASH_STR_MAX];
        kpl_hash_format(&s->ranges[i].start, a);
        kpl_hash_format(&s->ranges[i].end, b);
        sl_sb_printf(&sb, "%s{\"ShardId\":\"shardId-%012d\",\"HashKeyRange\":{\"StartingHashKey\":"
                     "\"%s\",\"EndingHashKey\":\"%s\"},\"SequenceNumberRange\":"
                     "{\"StartingSequenceNumber\":\"49600000000000000000000000000000000000000000000000000000\"}}",
                     i ? "," : "", i, a, b);
    }
    sl_sb_puts(&sb, "]}");
    reply(req, 200, sb.oom ? "{}" : sb.buf);
    sl_sb_free(&sb);
}

/* One entry: decoded data, key, optional hash key. Returns its shard, or -1 (errstr). */
static int put_one(server_t *s, json_t *e, char *errstr, size_t errlen) {
    json_t *d = json_object_get(e, "Data"), *pk = json_object_get(e, "PartitionKey"),
           *ehk = json_object_get(e, "ExplicitHashKey");
    const char *b64;
    size_t n, dlen;
    unsigned char *raw;
    kpl_hash_t h;
    int sh;

    if (!json_is_string(d) || !json_is_string(pk) || !json_string_length(pk) ||
        (ehk && !json_is_string(ehk))) {
        snprintf(errstr, errlen, "an entry needs Data and PartitionKey strings");
        return -1;
    }
    b64 = json_string_value(d);
    n = json_string_length(d);
    if (n % 4) {
        snprintf(errstr, errlen, "Data is not padded base64");
        return -1;
    }
    if (!(raw = malloc(n / 4 * 3 + 1)))
        return -1;
    dlen = (size_t)EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    if ((int)dlen < 0) {
        free(raw);
        snprintf(errstr, errlen, "Data is not base64");
        return -1;
    }
    if (n >= 1 && b64[n - 1] == '=')
        dlen--;
    if (n >= 2 && b64[n - 2] == '=')
        dlen--;
    if (ehk) {
        if (kpl_hash_parse(json_string_value(ehk), json_string_length(ehk), &h) != 0) {
            free(raw);
            snprintf(errstr, errlen, "ExplicitHashKey is not a decimal below 2^128");
            return -1;
        }
    } else {
        kpl_hash_of_pk(json_string_value(pk), json_string_length(pk), &h);
    }
    sh = shard_of(s, &h);
    s->records++;
    s->bytes += dlen + json_string_length(pk);
    if (s->verify && dlen >= 4 && !memcmp(raw, kpl_magic, 4)) {
        kpl_subrec_t sub;
        if (kpl_deagg_load(s->da, raw, dlen, json_string_value(pk),
                           ehk ? json_string_value(ehk) : NULL, NULL) != SL_OK ||
            !kpl_deagg_aggregated(s->da)) {
            s->bad_aggregates++;
            s->user_records++;
        } else {
            while (kpl_deagg_next(s->da, &sub)) {
                kpl_hash_t uh;
                if (sub.ehk)
                    kpl_hash_parse(sub.ehk, sub.ehk_len, &uh);
                else
                    kpl_hash_of_pk(sub.pk, sub.pk_len, &uh);
                if (shard_of(s, &uh) != sh)
                    s->wrong_shard++;
                s->user_records++;
            }
        }
    } else {
        s->user_records++;
    }
    free(raw);
    return sh;
}

static void put_records(server_t *s, struct evhttp_request *req, json_t *doc, int single) {
    json_t *recs = single ? NULL : json_object_get(doc, "Records");
    size_t n = single ? 1 : json_array_size(recs);
    sl_sb_t sb = {0};
    char err[256];

    if (!single && (!json_is_array(recs) || n == 0 || n > 500)) {
        bad(req, "Records must hold 1 to 500 entries");
        return;
    }
    sl_sb_puts(&sb, single ? "" : "{\"FailedRecordCount\":0,\"Records\":[");
    for (size_t i = 0; i < n; i++) {
        int sh = put_one(s, single ? doc : json_array_get(recs, i), err, sizeof(err));
        if (sh < 0) {
            sl_sb_free(&sb);
            bad(req, err);
            return;
        }
        s->seq++;
        sl_sb_printf(&sb, "%s{\"SequenceNumber\":\"4960%052llu\",\"ShardId\":\"shardId-%012d\"}",
                     i ? "," : "", s->seq, sh);
    }
    if (!single)
        sl_sb_puts(&sb, "]}");
    reply(req, 200, sb.oom ? "{}" : sb.buf);
    sl_sb_free(&sb);
}

static void handle(struct evhttp_request *req, void *arg) {
    server_t *s = arg;
    const char *target = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Amz-Target");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *op;
    json_error_t jerr;
    json_t *doc;

    s->requests++;
    if (!target || !(op = strchr(target, '.'))) {
        bad(req, "no X-Amz-Target");
        return;
    }
    op++;
    doc = json_loadb((const char *)evbuffer_pullup(in, (ssize_t)len), len, 0, &jerr);
    if (!doc) {
        bad(req, "malformed JSON");
        return;
    }
    if (!strcmp(op, "PutRecords"))
        put_records(s, req, doc, 0);
    else if (!strcmp(op, "PutRecord"))
        put_records(s, req, doc, 1);
    else if (!strcmp(op, "ListShards"))
        list_shards(s, req);
    else if (!strcmp(op, "DescribeStreamSummary") || !strcmp(op, "DescribeStream")) {
        char body[512];
        snprintf(body, sizeof(body), "{\"StreamDescriptionSummary\":{\"StreamName\":\"%s\","
                 "\"StreamStatus\":\"ACTIVE\",\"OpenShardCount\":%d}}", s->stream, s->nshards);
        reply(req, 200, body);
    } else if (!strcmp(op, "CreateStream"))
        reply(req, 200, "{}");
    else
        bad(req, "operation not served here");
    json_decref(doc);
}

static void tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    write_stats(arg);
}

static void on_signal(evutil_socket_t fd, short what, void *arg) {
    server_t *s = arg;
    (void)fd;
    (void)what;
    write_stats(s);
    event_base_loopexit(s->base, NULL);
}

int main(int argc, char **argv) {
    server_t s;
    int port = 0;
    struct evhttp *http;
    struct event *t, *sig1, *sig2;
    struct timeval sec = {1, 0};

    memset(&s, 0, sizeof(s));
    s.nshards = 1;
    s.stream = "bench";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shards") && i + 1 < argc)
            s.nshards = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--stream") && i + 1 < argc)
            s.stream = argv[++i];
        else if (!strcmp(argv[i], "--stats") && i + 1 < argc)
            s.stats_path = argv[++i];
        else if (!strcmp(argv[i], "--verify"))
            s.verify = 1;
        else {
            fprintf(stderr, "usage: %s --port N [--shards K] [--stream NAME] [--stats FILE] "
                    "[--verify]\n", argv[0]);
            return 2;
        }
    }
    if (port <= 0 || s.nshards < 1 || s.nshards > 1000) {
        fprintf(stderr, "kinesis-sink-server: --port and 1..1000 --shards needed\n");
        return 2;
    }
    /* Even split of [0, 2^128): shard i starts at i * (2^128 / K), computed on 32-bit limbs by
     * the decimal helpers: start_i = floor(i * 2^128 / K) via long division of (i << 128). */
    if (!(s.ranges = calloc((size_t)s.nshards, sizeof(*s.ranges))) || !(s.da = kpl_deagg_new()))
        return 1;
    for (int i = 0; i < s.nshards; i++) {
        /* i * 2^128 / K as 128 bits: divide the 160-bit number (i : 0..0) by K limb by limb. */
        uint32_t limbs[5] = {(uint32_t)i, 0, 0, 0, 0}, q[5];
        uint64_t rem = 0;
        for (int l = 0; l < 5; l++) {
            uint64_t cur = rem << 32 | limbs[l];
            q[l] = (uint32_t)(cur / (uint64_t)s.nshards);
            rem = cur % (uint64_t)s.nshards;
        }
        s.ranges[i].start.hi = (uint64_t)q[1] << 32 | q[2];
        s.ranges[i].start.lo = (uint64_t)q[3] << 32 | q[4];
        if (i > 0) {
            s.ranges[i - 1].end = s.ranges[i].start;
            if (s.ranges[i - 1].end.lo-- == 0)
                s.ranges[i - 1].end.hi--;
        }
    }
    s.ranges[s.nshards - 1].end.hi = UINT64_MAX;
    s.ranges[s.nshards - 1].end.lo = UINT64_MAX;

    s.base = event_base_new();
    http = evhttp_new(s.base);
    evhttp_set_max_body_size(http, 16 << 20);
    evhttp_set_gencb(http, handle, &s);
    if (evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)port) != 0) {
        fprintf(stderr, "kinesis-sink-server: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    t = event_new(s.base, -1, EV_PERSIST, tick, &s);
    event_add(t, &sec);
    sig1 = evsignal_new(s.base, SIGTERM, on_signal, &s);
    sig2 = evsignal_new(s.base, SIGINT, on_signal, &s);
    event_add(sig1, NULL);
    event_add(sig2, NULL);
    write_stats(&s);
    printf("listening on http://127.0.0.1:%d\n", port);
    fflush(stdout);
    event_base_dispatch(s.base);
    event_free(t);
    event_free(sig1);
    event_free(sig2);
    evhttp_free(http);
    event_base_free(s.base);
    kpl_deagg_destroy(s.da);
    free(s.ranges);
    return 0;
}
