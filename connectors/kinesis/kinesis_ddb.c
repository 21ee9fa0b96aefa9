/*
 * kinesis_ddb.c: DynamoDB Streams for the `dynamodbstreams` system, declared in kinesis.h. A
 * DynamoDB stream has shards, iterators and sequence numbers like a Kinesis stream, and the
 * KCL reads it through the DynamoDB Streams Kinesis Adapter with the same lease table; so
 * sluice reads it with the kinesis machinery (kinesis_coord.c, kinesis_shard.c) and only the
 * calls' names and the records differ. This file turns a GetRecords answer into records:
 *
 *   key        eventID                        (Pulsar's DynamoDB source: the message key)
 *   offset     dynamodb.SequenceNumber        (the lease table's checkpoint)
 *   event time dynamodb.ApproximateCreationDateTime
 *   header     dynamodb.event-name = eventName (Pulsar: the EVENT_NAME property)
 *   data       the record as JSON, byte for byte what RecordAdapter.getData() returns: the
 *              adapter's RecordObjectMapper (Jackson, null fields left out) over the AWS SDK
 *              v1 model, so fields in the order Jackson takes them (userIdentity first; an
 *              attribute value's S N B M L NULL BOOL SS NS BS), fields the model does not
 *              know dropped, maps (Keys, NewImage, OldImage, M) in the order of the
 *              java.util.HashMap the SDK unmarshalled them into, ApproximateCreationDateTime
 *              as epoch milliseconds, B and BS in base64, strings escaped as Jackson does.
 *              tests/unit/test_kinesis_ddb.c holds an answer of the adapter itself.
 *
 * The Java HashMap order is reproduced for the default HashMap (capacity 16, load factor 0.75,
 * a bin of 9 entries doubling a table under 64); a bin turned into a tree (9 keys of one map
 * in one bin of a table of 64 or more) would iterate in tree order, which is not reproduced.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "kinesis.h"
#include "kinesis_format.h"
#include "util_base64.h"
#include "util_str.h"

/* DynamoDB nests documents at most 32 levels deep. */
#define MAX_DEPTH 32

/* ---- Java ---------------------------------------------------------------------------------- */

int32_t kin_java_string_hash(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    uint32_t h = 0;
    while (p < end) {
        uint32_t cp;
        if (*p < 0x80) {
            cp = *p++;
        } else if ((*p & 0xE0) == 0xC0 && end - p >= 2) {
            cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
            p += 2;
        } else if ((*p & 0xF0) == 0xE0 && end - p >= 3) {
            cp = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
            p += 3;
        } else if ((*p & 0xF8) == 0xF0 && end - p >= 4) {
            cp = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
                 ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
            p += 4;
        } else {
            cp = 0xFFFD; /* not UTF-8 (jansson only hands out valid text) */
            p++;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = h * 31u + (0xD800u + (cp >> 10));
            h = h * 31u + (0xDC00u + (cp & 0x3FF));
        } else {
            h = h * 31u + cp;
        }
    }
    return (int32_t)h;
}

static size_t bin_of(int32_t h, size_t cap) {
    uint32_t u = (uint32_t)h;
    return (size_t)((u ^ (u >> 16)) & (uint32_t)(cap - 1));
}

typedef struct ord {
    size_t bin, idx;
} ord_t;

static int ord_cmp(const void *a, const void *b) {
    const ord_t *x = a, *y = b;
    if (x->bin != y->bin)
        return x->bin < y->bin ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

int kin_java_hashmap_order(const int32_t *hashes, size_t n, size_t *order) {
    size_t cap = 16, *count;
    ord_t *o;
    if (!n)
        return 0;
    /* HashMap.putVal: appending a 9th entry to a bin treeifies it, which first doubles a
     * table of fewer than 64 bins; then a size over 3/4 of the table doubles it. */
    if (!(count = calloc(cap, sizeof(*count))))
        return -1;
    for (size_t i = 0; i < n; i++) {
        int grow = count[bin_of(hashes[i], cap)] >= 8 && cap < 64;
        count[bin_of(hashes[i], cap)]++;
        for (;;) {
            size_t *nc;
            if (!grow && i + 1 <= cap / 4 * 3)
                break;
            grow = 0;
            cap *= 2;
            if (!(nc = calloc(cap, sizeof(*nc)))) {
                free(count);
                return -1;
            }
            free(count);
            count = nc;
            for (size_t j = 0; j <= i; j++)
                count[bin_of(hashes[j], cap)]++;
        }
    }
    free(count);
    if (!(o = malloc(n * sizeof(*o))))
        return -1;
    for (size_t i = 0; i < n; i++) {
        o[i].bin = bin_of(hashes[i], cap);
        o[i].idx = i;
    }
    qsort(o, n, sizeof(*o), ord_cmp);
    for (size_t i = 0; i < n; i++)
        order[i] = o[i].idx;
    free(o);
    return 0;
}

/* ---- Jackson ------------------------------------------------------------------------------- */

void kin_ddb_json_string(sl_sb_t *sb, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    size_t start = 0;
    sl_sb_putc(sb, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t elen = 2;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sl_sb_append(sb, s + start, i - start);
        start = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\t': esc[1] = 't'; break;
        case '\n': esc[1] = 'n'; break;
        case '\f': esc[1] = 'f'; break;
        case '\r': esc[1] = 'r'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        sl_sb_append(sb, esc, elen);
    }
    sl_sb_append(sb, s + start, n - start);
    sl_sb_putc(sb, '"');
}

static void put_key(sl_sb_t *sb, int *first, const char *k) {
    if (!*first)
        sl_sb_putc(sb, ',');
    *first = 0;
    kin_ddb_json_string(sb, k, strlen(k));
    sl_sb_putc(sb, ':');
}

/* ---- reading the answer -------------------------------------------------------------------- */

typedef struct rd {
    sl_sb_t out;     /* the payloads, back to back */
    char *errstr;
    size_t errlen;
} rd_t;

static int bad(rd_t *r, const char *where, const char *what) {
    sl_errf(r->errstr, r->errlen, "%s: %s", where, what);
    return -1;
}

/* The string at key into *out (NULL when absent or null): 0, or -1 when it is required and
 * missing or not a string. */
static int str_of(const json_t *o, const char *key, int required, const char **out, rd_t *r,
                  const char *where) {
    const json_t *v = json_object_get(o, key);
    char w[512];
    *out = NULL;
    snprintf(w, sizeof(w), "%s.%s", where, key);
    if (!v || json_is_null(v))
        return required ? bad(r, w, "missing") : 0;
    if (!json_is_string(v))
        return bad(r, w, "expected a string");
    *out = json_string_value(v);
    return 0;
}

static int put_value(rd_t *r, const json_t *v, const char *where, int depth);

/* A map of attribute values (Keys, NewImage, OldImage, M) in Java HashMap order. */
static int put_map(rd_t *r, const json_t *m, const char *where, int depth) {
    size_t n = json_object_size(m), i = 0, *order = NULL;
    const char **keys = NULL;
    const json_t **vals = NULL;
    int32_t *hashes = NULL;
    const char *k;
    json_t *v;
    int rc = -1;
    if (!json_is_object(m))
        return bad(r, where, "expected an object of attribute values");
    if (depth > MAX_DEPTH)
        return bad(r, where, "nested deeper than 32 levels");
    if (n && (!(keys = malloc(n * sizeof(*keys))) || !(vals = malloc(n * sizeof(*vals))) ||
              !(hashes = malloc(n * sizeof(*hashes))) || !(order = malloc(n * sizeof(*order))))) {
        bad(r, where, "out of memory");
        goto out;
    }
    json_object_foreach((json_t *)m, k, v) {
        keys[i] = k;
        vals[i] = v;
        hashes[i] = kin_java_string_hash(k, strlen(k));
        i++;
    }
    if (kin_java_hashmap_order(hashes, n, order) < 0) {
        bad(r, where, "out of memory");
        goto out;
    }
    sl_sb_putc(&r->out, '{');
    for (i = 0; i < n; i++) {
        char w[512];
        if (i)
            sl_sb_putc(&r->out, ',');
        kin_ddb_json_string(&r->out, keys[order[i]], strlen(keys[order[i]]));
        sl_sb_putc(&r->out, ':');
        snprintf(w, sizeof(w), "%.400s.%.64s", where, keys[order[i]]);
        if (put_value(r, vals[order[i]], w, depth + 1) < 0)
            goto out;
    }
    sl_sb_putc(&r->out, '}');
    rc = 0;
out:
    free(keys);
    free(vals);
    free(hashes);
    free(order);
    return rc;
}

static int is_number(const char *s) {
    /* DynamoDB's numbers: an optional sign, digits, an optional fraction and exponent */
    const char *p = s;
    int digits = 0;
    if (*p == '-' || *p == '+')
        p++;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (!digits)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (*p < '0' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return !*p;
}

/* B: the service's base64, decoded (validating it) and written again as Jackson writes a
 * byte[] (standard alphabet, padded). */
static int put_binary(rd_t *r, const json_t *v, const char *where) {
    const char *s;
    size_t n;
    unsigned char *raw;
    ssize_t dlen;
    if (!json_is_string(v))
        return bad(r, where, "expected a base64 string");
    s = json_string_value(v);
    n = json_string_length(v);
    if (n % 4)
        return bad(r, where, "not base64 (length not a multiple of 4)");
    if (!(raw = malloc(n / 4 * 3 + 1)))
        return bad(r, where, "out of memory");
    dlen = util_b64_decode(s, n, raw, n / 4 * 3, UTIL_B64_TRIM);
    if (dlen < 0) {
        free(raw);
        return bad(r, where, "not base64");
    }
    sl_sb_putc(&r->out, '"');
    util_sb_base64(&r->out, raw, (size_t)dlen);
    sl_sb_putc(&r->out, '"');
    free(raw);
    return 0;
}

static int put_set(rd_t *r, const json_t *a, char type, const char *where) {
    size_t i;
    const json_t *e;
    if (!json_is_array(a))
        return bad(r, where, "expected an array");
    sl_sb_putc(&r->out, '[');
    json_array_foreach(a, i, e) {
        char w[512];
        snprintf(w, sizeof(w), "%.440s[%zu]", where, i);
        if (i)
            sl_sb_putc(&r->out, ',');
        if (type == 'B') {
            if (put_binary(r, e, w) < 0)
                return -1;
            continue;
        }
        if (!json_is_string(e))
            return bad(r, w, "expected a string");
        if (type == 'N' && !is_number(json_string_value(e)))
            return bad(r, w, "not a number");
        kin_ddb_json_string(&r->out, json_string_value(e), json_string_length(e));
    }
    sl_sb_putc(&r->out, ']');
    return 0;
}

/* One AttributeValue as the SDK v1 model holds it and Jackson writes it: every field of S N B M
 * L NULL BOOL SS NS BS that is present and not null, in that order (DynamoDB sets one; DynamoDB
 * Local writes {} for an empty map, which stays {}); fields the model does not know are
 * ignored, as the SDK ignores them. A present field of the wrong type is an error. */
static int put_value(rd_t *r, const json_t *v, const char *where, int depth) {
    static const char *const order[] = {"S", "N", "B", "M", "L", "NULL", "BOOL", "SS", "NS", "BS"};
    int first = 1;
    if (json_is_null(v)) {
        sl_sb_puts(&r->out, "null"); /* a map entry without a value: Jackson's null */
        return 0;
    }
    if (!json_is_object(v))
        return bad(r, where, "expected an attribute value (an object with one of S, N, B, SS, "
                   "NS, BS, M, L, NULL, BOOL)");
    sl_sb_putc(&r->out, '{');
    for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
        const char *type = order[i];
        const json_t *x = json_object_get(v, type);
        char w[512];
        if (!x || json_is_null(x))
            continue;
        snprintf(w, sizeof(w), "%.440s.%.8s", where, type);
        put_key(&r->out, &first, type);
        if (!strcmp(type, "S")) {
            if (!json_is_string(x))
                return bad(r, w, "expected a string");
            kin_ddb_json_string(&r->out, json_string_value(x), json_string_length(x));
        } else if (!strcmp(type, "N")) {
            if (!json_is_string(x) || !is_number(json_string_value(x)))
                return bad(r, w, "expected a number in a string");
            kin_ddb_json_string(&r->out, json_string_value(x), json_string_length(x));
        } else if (!strcmp(type, "B")) {
            if (put_binary(r, x, w) < 0)
                return -1;
        } else if (type[1] == 'S') { /* SS NS BS */
            if (put_set(r, x, type[0], w) < 0)
                return -1;
        } else if (!strcmp(type, "M")) {
            if (put_map(r, x, w, depth + 1) < 0)
                return -1;
        } else if (!strcmp(type, "L")) {
            size_t j;
            const json_t *e;
            if (!json_is_array(x))
                return bad(r, w, "expected an array");
            if (depth > MAX_DEPTH)
                return bad(r, w, "nested deeper than 32 levels");
            sl_sb_putc(&r->out, '[');
            json_array_foreach(x, j, e) {
                char w2[512];
                snprintf(w2, sizeof(w2), "%.440s[%zu]", w, j);
                if (j)
                    sl_sb_putc(&r->out, ',');
                if (put_value(r, e, w2, depth + 1) < 0)
                    return -1;
            }
            sl_sb_putc(&r->out, ']');
        } else { /* NULL, BOOL */
            if (!json_is_boolean(x))
                return bad(r, w, "expected true or false");
            sl_sb_puts(&r->out, json_is_true(x) ? "true" : "false");
        }
    }
    sl_sb_putc(&r->out, '}');
    return 0;
}

/* One record: its JSON into r->out, its strings into strs (offsets; pointers fixed later). */
typedef struct rec_off {
    size_t seq, pk, name;
} rec_off_t;

/* userIdentity (TTL deletions): Identity has no mix-in, so Jackson's bean names. */
static int put_identity(rd_t *r, const json_t *rec, const char *where, int *first) {
    const json_t *ui = json_object_get(rec, "userIdentity");
    const char *pid, *type;
    char w[176];
    int ufirst = 1;
    if (!ui || json_is_null(ui))
        return 0;
    snprintf(w, sizeof(w), "%s.userIdentity", where);
    if (!json_is_object(ui))
        return bad(r, w, "expected an object");
    if (str_of(ui, "PrincipalId", 0, &pid, r, w) < 0 || str_of(ui, "Type", 0, &type, r, w) < 0)
        return -1;
    put_key(&r->out, first, "userIdentity");
    sl_sb_putc(&r->out, '{');
    if (pid) {
        put_key(&r->out, &ufirst, "principalId");
        kin_ddb_json_string(&r->out, pid, strlen(pid));
    }
    if (type) {
        put_key(&r->out, &ufirst, "type");
        kin_ddb_json_string(&r->out, type, strlen(type));
    }
    sl_sb_putc(&r->out, '}');
    return 0;
}

static int put_record(rd_t *r, const json_t *rec, size_t idx, kin_record_t *kr, rec_off_t *so,
                      sl_sb_t *strs) {
    static const char *const top[] = {"eventID", "eventName", "eventVersion", "eventSource",
                                      "awsRegion"};
    static const char *const images[] = {"Keys", "NewImage", "OldImage"};
    const char *vals[5], *seq, *svt;
    const json_t *d, *t, *sz;
    char where[160], dwhere[176];
    int first = 1;
    int64_t ms = -1;

    snprintf(where, sizeof(where), "Records[%zu]", idx);
    if (!json_is_object(rec))
        return bad(r, where, "expected an object");
    for (int i = 0; i < 5; i++)
        if (str_of(rec, top[i], i < 2, &vals[i], r, where) < 0)
            return -1;
    if (!*vals[0])
        return bad(r, where, "eventID: empty");
    snprintf(where, sizeof(where), "Records[%zu] (%.64s)", idx, vals[0]);
    snprintf(dwhere, sizeof(dwhere), "%s.dynamodb", where);
    if (!json_is_object(d = json_object_get(rec, "dynamodb")))
        return bad(r, dwhere, d ? "expected an object" : "missing");
    if (str_of(d, "SequenceNumber", 1, &seq, r, dwhere) < 0)
        return -1;
    if (!kin_all_digits(seq, strlen(seq)))
        return bad(r, dwhere, "SequenceNumber: not a decimal number");
    if ((t = json_object_get(d, "ApproximateCreationDateTime")) && !json_is_null(t)) {
        /* epoch seconds; the SDK keeps milliseconds (a BigDecimal scaled, truncated) */
        double secs;
        if (!json_is_number(t))
            return bad(r, dwhere, "ApproximateCreationDateTime: expected a number");
        secs = json_number_value(t);
        if (!(secs > -9.2e15 && secs < 9.2e15))
            return bad(r, dwhere, "ApproximateCreationDateTime: out of range");
        ms = json_is_integer(t) ? (int64_t)json_integer_value(t) * 1000
                                : (int64_t)floor(secs * 1000.0 + 1e-6);
    }
    if (str_of(d, "StreamViewType", 0, &svt, r, dwhere) < 0)
        return -1;
    sz = json_object_get(d, "SizeBytes");
    if (sz && !json_is_null(sz) && !json_is_integer(sz))
        return bad(r, dwhere, "SizeBytes: expected an integer");

    /* the JSON, in the order Jackson takes the SDK model's fields: userIdentity first */
    sl_sb_putc(&r->out, '{');
    if (put_identity(r, rec, where, &first) < 0)
        return -1;
    for (int i = 0; i < 5; i++)
        if (vals[i]) {
            put_key(&r->out, &first, top[i]);
            kin_ddb_json_string(&r->out, vals[i], strlen(vals[i]));
        }
    put_key(&r->out, &first, "dynamodb");
    {
        int dfirst = 1;
        sl_sb_putc(&r->out, '{');
        if (ms >= 0 || (t && !json_is_null(t))) {
            put_key(&r->out, &dfirst, "ApproximateCreationDateTime");
            sl_sb_printf(&r->out, "%lld", (long long)ms);
        }
        for (int i = 0; i < 3; i++) {
            const json_t *m = json_object_get(d, images[i]);
            char w[224];
            if (!m || json_is_null(m))
                continue;
            snprintf(w, sizeof(w), "%s.%s", dwhere, images[i]);
            put_key(&r->out, &dfirst, images[i]);
            if (put_map(r, m, w, 1) < 0)
                return -1;
        }
        put_key(&r->out, &dfirst, "SequenceNumber");
        kin_ddb_json_string(&r->out, seq, strlen(seq));
        if (sz && !json_is_null(sz)) {
            put_key(&r->out, &dfirst, "SizeBytes");
            sl_sb_printf(&r->out, "%lld", (long long)json_integer_value(sz));
        }
        if (svt) {
            put_key(&r->out, &dfirst, "StreamViewType");
            kin_ddb_json_string(&r->out, svt, strlen(svt));
        }
        sl_sb_putc(&r->out, '}');
    }
    sl_sb_putc(&r->out, '}');

    kr->arrival_ms = ms >= 0 ? ms : 0;
    kr->pklen = strlen(vals[0]);
    so->seq = strs->len;
    sl_sb_append(strs, seq, strlen(seq) + 1);
    so->pk = strs->len;
    sl_sb_append(strs, vals[0], kr->pklen + 1);
    so->name = strs->len;
    sl_sb_append(strs, vals[1], strlen(vals[1]) + 1);
    return 0;
}

sl_err_t kin_ddb_parse_records(const char *body, size_t len, kin_records_t *out, char *errstr,
                               size_t errlen) {
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    const json_t *recs, *it;
    rd_t r;
    sl_sb_t strs = {0};
    rec_off_t *offs = NULL;
    size_t n;
    sl_err_t err = SL_ERR_INVAL;

    memset(out, 0, sizeof(*out));
    out->millis_behind = -1;
    memset(&r, 0, sizeof(r));
    r.errstr = errstr;
    r.errlen = errlen;
    if (!doc) {
        sl_errf(errstr, errlen, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
        return SL_ERR_INVAL;
    }
    if (!json_is_object(doc)) {
        sl_errf(errstr, errlen, "expected an object");
        goto out;
    }
    recs = json_object_get(doc, "Records");
    if (recs && !json_is_null(recs) && !json_is_array(recs)) {
        sl_errf(errstr, errlen, "Records: expected an array");
        goto out;
    }
    n = json_is_array(recs) ? json_array_size(recs) : 0;
    it = json_object_get(doc, "NextShardIterator");
    if (it && !json_is_null(it) && (!json_is_string(it) || !json_string_length(it))) {
        sl_errf(errstr, errlen, "NextShardIterator: expected a non-empty string");
        goto out;
    }
    if (n && (!(out->recs = calloc(n, sizeof(*out->recs))) ||
              !(offs = calloc(n, sizeof(*offs))))) {
        err = SL_ERR_NOMEM;
        sl_errf(errstr, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        out->recs[i].off = r.out.len;
        if (put_record(&r, json_array_get(recs, i), i, &out->recs[i], &offs[i], &strs) < 0)
            goto out;
        out->recs[i].len = r.out.len - out->recs[i].off;
    }
    if (r.out.oom || strs.oom ||
        (it && json_is_string(it) && !(out->next_iterator = sl_strdup(json_string_value(it))))) {
        err = SL_ERR_NOMEM;
        sl_errf(errstr, errlen, "out of memory");
        goto out;
    }
    if (n) {
        /* the payloads' buffer, handed to the records delivered from it */
        if (!(out->buf = sl_buf_wrap(r.out.buf, r.out.len))) {
            err = SL_ERR_NOMEM;
            sl_errf(errstr, errlen, "out of memory");
            goto out;
        }
        r.out.buf = NULL;
        out->strings = strs.buf;
        strs.buf = NULL;
        for (size_t i = 0; i < n; i++) {
            out->recs[i].seq = out->strings + offs[i].seq;
            out->recs[i].pk = out->strings + offs[i].pk;
            out->recs[i].event_name = out->strings + offs[i].name;
        }
        out->n = n;
    }
    err = SL_OK;
out:
    if (err != SL_OK) {
        free(out->recs);
        free(out->next_iterator);
        memset(out, 0, sizeof(*out));
        out->millis_behind = -1;
    }
    free(offs);
    sl_sb_free(&r.out);
    sl_sb_free(&strs);
    json_decref(doc);
    return err;
}

/* ---- ARNs ---------------------------------------------------------------------------------- */

int kin_ddb_arn_table(const char *arn, char *table, size_t tlen) {
    const char *p = arn, *t, *slash;
    int colons = 0;
    if (strncmp(arn, "arn:", 4) != 0 || !strstr(arn, ":dynamodb:"))
        return 0;
    for (; *p && colons < 5; p++)
        if (*p == ':')
            colons++;
    if (colons < 5 || strncmp(p, "table/", 6) != 0)
        return 0;
    t = p + 6;
    if (!(slash = strchr(t, '/')) || slash == t || strncmp(slash, "/stream/", 8) != 0 ||
        !slash[8] || strchr(slash + 8, '/'))
        return 0;
    if (table)
        snprintf(table, tlen, "%.*s", (int)(slash - t), t);
    return 1;
}
