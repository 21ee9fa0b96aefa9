/*
 * fuzz_getrecords.c: a libFuzzer target for the GetRecords scanner (kin_scan_get_records() in
 * connectors/kinesis/kinesis_getrecords.c), which reads every answer a Kinesis shard returns,
 * against the reference it replaces: json_loadb() + kin_parse_get_records(). Each input is an
 * answer's bytes (in an exactly-sized copy, so a read one byte past the end is caught). Where
 * jansson refuses it, the scanner must refuse it too; otherwise both must succeed with the same
 * records (sequence numbers, keys, offsets, times, encryption, their places in the strings arena),
 * the same data bytes, iterator, millis and children, or fail with the same code and message. A
 * difference aborts; so do crashes, leaks and undefined behaviour. Not built by make: see
 * README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/kinesis/kinesis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_eq(const char *a, const char *b) {
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Offset of p in the arena, or -1 when it points elsewhere (a static string). */
static long arena_off(const char *p, const kin_records_t *r) {
    const kin_record_t *last = &r->recs[r->n - 1];
    const char *end = last->pk + last->pklen + 1;
    if (last->encryption && last->encryption > last->pk)
        end = last->encryption + strlen(last->encryption) + 1;
    return p >= r->strings && p < end ? (long)(p - r->strings) : -1;
}

static int same(const kin_records_t *a, const kin_records_t *b) {
    if (a->n != b->n || !a->buf != !b->buf || !a->strings != !b->strings ||
        !str_eq(a->next_iterator, b->next_iterator) || a->millis_behind != b->millis_behind ||
        a->n_children != b->n_children)
        return 0;
    if (a->buf && (sl_buf_len(a->buf) != sl_buf_len(b->buf) ||
                   memcmp(sl_buf_data(a->buf), sl_buf_data(b->buf), sl_buf_len(a->buf))))
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const kin_record_t *x = &a->recs[i], *y = &b->recs[i];
        if (strcmp(x->seq, y->seq) || x->pklen != y->pklen ||
            memcmp(x->pk, y->pk, x->pklen + 1) || x->off != y->off || x->len != y->len ||
            x->arrival_ms != y->arrival_ms || !str_eq(x->encryption, y->encryption) ||
            arena_off(x->seq, a) != arena_off(y->seq, b) ||
            arena_off(x->pk, a) != arena_off(y->pk, b) ||
            (x->encryption && arena_off(x->encryption, a) != arena_off(y->encryption, b)))
            return 0;
    }
    for (size_t i = 0; i < a->n_children; i++) {
        const kin_shard_info_t *x = &a->children[i], *y = &b->children[i];
        if (!str_eq(x->id, y->id) || !str_eq(x->parent, y->parent) ||
            !str_eq(x->adjacent_parent, y->adjacent_parent) ||
            !str_eq(x->start_hash, y->start_hash) || !str_eq(x->end_hash, y->end_hash))
            return 0;
    }
    return 1;
}

static void differ(const char *what, const char *ea, const char *eb) {
    fprintf(stderr, "fuzz_getrecords: the scanner and the reference differ: %s\n"
            "  reference: %s\n  scanner:   %s\n", what, ea, eb);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = malloc(size ? size : 1);
    char ea[512] = "", eb[512] = "";
    kin_records_t a, b;
    json_error_t jerr;
    json_t *doc;
    sl_err_t ra, rb;
    if (!body)
        return 0;
    if (size)
        memcpy(body, data, size);
    doc = json_loadb(body, size, 0, &jerr);
    rb = kin_scan_get_records(body, size, &b, eb, sizeof(eb));
    if (!doc) {
        if (rb != SL_ERR_INVAL || !strstr(eb, "malformed JSON"))
            differ("jansson refused the answer, the scanner did not", jerr.text, eb);
    } else {
        ra = kin_parse_get_records(doc, &a, ea, sizeof(ea));
        if (ra != rb)
            differ("result codes", ea, eb);
        if (ra == SL_OK) {
            if (!same(&a, &b))
                differ("parsed answers", "-", "-");
            kin_records_free(&a);
        } else if (strcmp(ea, eb)) {
            differ("error messages", ea, eb);
        }
        json_decref(doc);
    }
    if (rb == SL_OK)
        kin_records_free(&b);
    else if (b.recs || b.buf || b.strings || b.children || b.next_iterator || b.n)
        differ("left-overs after an error", "", eb);
    free(body);
    return 0;
}
