/*
 * kinesis_putrecords.c: PutRecords answers read for the producer (kinesis_sink.c), declared in
 * kinesis_putrecords.h: a scanner for the answer as Kinesis writes it on the hot path, and the
 * strict jansson reader that decides whatever the scanner cannot vouch for and words the errors.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kinesis_putrecords.h"
#include "util_str.h"

/* The PutRecords hot path: a scanner for the answer as Kinesis writes it (an object of
 * FailedRecordCount, Records (objects of plain strings) and EncryptionType, any order, any
 * whitespace). It gives up (returns 1) on anything else, including escapes in the strings it
 * keeps, so the strict jansson reader below decides and words the error. */
typedef struct pr_scan {
    const char *p, *end;
} pr_scan_t;

static void pr_ws(pr_scan_t *sc) {
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\r' || *sc->p == '\t'))
        sc->p++;
}

static int pr_lit(pr_scan_t *sc, char c) {
    pr_ws(sc);
    if (sc->p < sc->end && *sc->p == c) {
        sc->p++;
        return 1;
    }
    return 0;
}

/* A string without escapes: [*s, *s + *n). 0, or -1 (escape, control byte or end). */
static int pr_str(pr_scan_t *sc, const char **s, size_t *n) {
    const char *q;
    if (!pr_lit(sc, '"'))
        return -1;
    if (!(q = memchr(sc->p, '"', (size_t)(sc->end - sc->p))))
        return -1;
    for (const char *c = sc->p; c < q; c++)
        if (*c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c >= 0x80)
            return -1;
    *s = sc->p;
    *n = (size_t)(q - sc->p);
    sc->p = q + 1;
    return 0;
}

static int pr_key(pr_scan_t *sc, const char *k) {
    size_t kl = strlen(k);
    return (size_t)(sc->end - sc->p) > kl + 1 && sc->p[0] == '"' && !memcmp(sc->p + 1, k, kl) &&
           sc->p[kl + 1] == '"';
}

int kin_scan_put_records(const char *body, size_t len, size_t n,
                         char (*codes)[KIN_CODE_MAX], char (*shards)[KIN_SHARD_ID_MAX],
                         size_t *failed) {
    pr_scan_t sc = {body, body + len};
    long long fc = -1;
    size_t nrec = 0, nfailed = 0;
    int have_recs = 0;

    if (!pr_lit(&sc, '{'))
        return 1;
    if (pr_lit(&sc, '}'))
        return 1;
    do {
        pr_ws(&sc);
        if (pr_key(&sc, "FailedRecordCount")) {
            char *e;
            sc.p += 19;
            if (!pr_lit(&sc, ':'))
                return 1;
            pr_ws(&sc);
            /* A small plain integer (no sign, leading zero, fraction or exponent). */
            if (sc.p >= sc.end || *sc.p < '0' || *sc.p > '9' ||
                (*sc.p == '0' && sc.p + 1 < sc.end && sc.p[1] >= '0' && sc.p[1] <= '9'))
                return 1;
            for (e = (char *)sc.p; e < sc.end && *e >= '0' && *e <= '9'; e++)
                ;
            if (e - sc.p > 9 || (e < sc.end && (*e == '.' || *e == 'e' || *e == 'E')))
                return 1;
            fc = 0;
            for (const char *d = sc.p; d < e; d++)
                fc = fc * 10 + (*d - '0');
            sc.p = e;
        } else if (pr_key(&sc, "EncryptionType")) {
            const char *s;
            size_t sl;
            sc.p += 16;
            if (!pr_lit(&sc, ':') || pr_str(&sc, &s, &sl) != 0)
                return 1;
        } else if (pr_key(&sc, "Records")) {
            sc.p += 9;
            if (have_recs || !pr_lit(&sc, ':') || !pr_lit(&sc, '['))
                return 1;
            have_recs = 1;
            if (pr_lit(&sc, ']'))
                goto recs_done;
            do {
                const char *seq = NULL, *sh = NULL, *code = NULL, *s;
                size_t seql = 0, shl = 0, codel = 0, sl;
                if (nrec >= n || !pr_lit(&sc, '{'))
                    return 1;
                if (!pr_lit(&sc, '}')) {
                    do {
                        const char *k;
                        size_t kl;
                        if (pr_str(&sc, &k, &kl) != 0 || !pr_lit(&sc, ':'))
                            return 1;
                        pr_ws(&sc);
                        if (sc.end - sc.p >= 4 && !memcmp(sc.p, "null", 4)) {
                            /* null, as the last of duplicate keys too, means absent */
                            sc.p += 4;
                            if (kl == 14 && !memcmp(k, "SequenceNumber", 14))
                                seq = NULL;
                            else if (kl == 7 && !memcmp(k, "ShardId", 7))
                                sh = NULL;
                            else if (kl == 9 && !memcmp(k, "ErrorCode", 9))
                                code = NULL;
                            else if (!(kl == 12 && !memcmp(k, "ErrorMessage", 12)))
                                return 1;
                            continue;
                        }
                        if (kl == 12 && !memcmp(k, "ErrorMessage", 12)) {
                            /* free text, not kept: plain ASCII is skipped, anything else
                             * (escapes, UTF-8) is left to the strict reader */
                            if (pr_str(&sc, &s, &sl) != 0)
                                return 1;
                            continue;
                        }
                        if (pr_str(&sc, &s, &sl) != 0)
                            return 1;
                        if (kl == 14 && !memcmp(k, "SequenceNumber", 14)) {
                            seq = s;
                            seql = sl;
                        } else if (kl == 7 && !memcmp(k, "ShardId", 7)) {
                            sh = s;
                            shl = sl;
                        } else if (kl == 9 && !memcmp(k, "ErrorCode", 9)) {
                            code = s;
                            codel = sl;
                        } else {
                            return 1;
                        }
                    } while (pr_lit(&sc, ','));
                    if (!pr_lit(&sc, '}'))
                        return 1;
                }
                if (code) {
                    if (!codel || codel >= KIN_CODE_MAX)
                        return 1;
                    memcpy(codes[nrec], code, codel);
                    codes[nrec][codel] = '\0';
                    nfailed++;
                } else {
                    if (!seq || !seql || (shards && (!sh || shl >= KIN_SHARD_ID_MAX)))
                        return 1;
                    codes[nrec][0] = '\0';
                    if (shards) {
                        memcpy(shards[nrec], sh, shl);
                        shards[nrec][shl] = '\0';
                    }
                }
                nrec++;
            } while (pr_lit(&sc, ','));
            if (!pr_lit(&sc, ']'))
                return 1;
        recs_done:;
        } else {
            return 1;
        }
    } while (pr_lit(&sc, ','));
    if (!pr_lit(&sc, '}'))
        return 1;
    pr_ws(&sc);
    if (sc.p != sc.end || !have_recs || nrec != n || (fc >= 0 && (size_t)fc != nfailed))
        return 1;
    *failed = nfailed;
    return 0;
}

sl_err_t kin_parse_put_records(const char *body, size_t len, size_t n,
                               char (*codes)[KIN_CODE_MAX],
                               char (*shards)[KIN_SHARD_ID_MAX], size_t *failed,
                               char *errstr, size_t errlen) {
    if (kin_scan_put_records(body, len, n, codes, shards, failed) == 0)
        return SL_OK;
    return kin_parse_put_records_json(body, len, n, codes, shards, failed, errstr, errlen);
}

sl_err_t kin_parse_put_records_json(const char *body, size_t len, size_t n,
                                    char (*codes)[KIN_CODE_MAX],
                                    char (*shards)[KIN_SHARD_ID_MAX], size_t *failed,
                                    char *errstr, size_t errlen) {
    json_error_t jerr;
    json_t *doc, *recs, *fc;
    size_t nfailed = 0;
    sl_err_t err = SL_ERR_INVAL;

    doc = json_loadb(body, len, 0, &jerr);
    if (!doc) {
        sl_errf(errstr, errlen, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
        return SL_ERR_INVAL;
    }
    if (!json_is_object(doc)) {
        sl_errf(errstr, errlen, "the answer is not a JSON object");
        goto done;
    }
    recs = json_object_get(doc, "Records");
    fc = json_object_get(doc, "FailedRecordCount");
    if (!json_is_array(recs)) {
        sl_errf(errstr, errlen, "Records: missing or not an array");
        goto done;
    }
    if (json_array_size(recs) != n) {
        sl_errf(errstr, errlen, "Records: %zu results for %zu entries sent",
                json_array_size(recs), n);
        goto done;
    }
    if (fc && !json_is_integer(fc)) {
        sl_errf(errstr, errlen, "FailedRecordCount: not an integer");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(recs, i), *seq, *sh, *code;
        if (!json_is_object(r)) {
            sl_errf(errstr, errlen, "Records[%zu]: not an object", i);
            goto done;
        }
        seq = json_object_get(r, "SequenceNumber");
        sh = json_object_get(r, "ShardId");
        code = json_object_get(r, "ErrorCode");
        if (code && !json_is_null(code)) {
            if (!json_is_string(code) || !json_string_length(code)) {
                sl_errf(errstr, errlen, "Records[%zu].ErrorCode: not a non-empty string", i);
                goto done;
            }
            snprintf(codes[i], KIN_CODE_MAX, "%s", json_string_value(code));
            nfailed++;
            continue;
        }
        if (!json_is_string(seq) || !json_string_length(seq)) {
            sl_errf(errstr, errlen, "Records[%zu]: neither SequenceNumber nor ErrorCode", i);
            goto done;
        }
        codes[i][0] = '\0';
        if (shards) {
            if (!json_is_string(sh)) {
                sl_errf(errstr, errlen, "Records[%zu].ShardId: missing or not a string", i);
                goto done;
            }
            snprintf(shards[i], KIN_SHARD_ID_MAX, "%s", json_string_value(sh));
        }
    }
    if (fc && (size_t)json_integer_value(fc) != nfailed) {
        sl_errf(errstr, errlen, "FailedRecordCount %lld, but %zu results carry an ErrorCode",
                (long long)json_integer_value(fc), nfailed);
        goto done;
    }
    *failed = nfailed;
    err = SL_OK;
done:
    json_decref(doc);
    return err;
}
