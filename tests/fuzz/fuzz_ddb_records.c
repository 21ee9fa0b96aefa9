/*
 * fuzz_ddb_records.c: a libFuzzer target for the DynamoDB Streams GetRecords parser
 * (kin_ddb_parse_records() in connectors/kinesis/kinesis_ddb.c). Each input is an answer's
 * bytes (in an exactly-sized copy, so a read one byte past the end is caught). Whatever the
 * input, the parser either refuses it with a message or gives records whose slices lie inside
 * the data buffer, back to back, each a JSON document jansson reads back (the adapter's JSON is
 * always well formed) naming the record's eventID and sequence number, with a decimal sequence
 * number and an event name. A broken promise aborts; so do crashes, leaks and undefined
 * behaviour. Not built by make: see README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/kinesis/kinesis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = malloc(size ? size : 1), err[512] = "";
    kin_records_t r;
    size_t next = 0;
    if (!body)
        return 0;
    memcpy(body, data, size);
    if (kin_ddb_parse_records(body, size, &r, err, sizeof(err)) != SL_OK) {
        if (!err[0] || r.n || r.recs || r.buf)
            abort(); /* a refusal says why and leaves nothing behind */
        free(body);
        return 0;
    }
    for (size_t i = 0; i < r.n; i++) {
        const kin_record_t *k = &r.recs[i];
        const char *d = (const char *)sl_buf_data(r.buf);
        json_t *doc, *dyn;
        if (k->off != next || k->off + k->len > sl_buf_len(r.buf) ||
            !kin_all_digits(k->seq, strlen(k->seq)) || !k->event_name || strlen(k->pk) != k->pklen)
            abort();
        next = k->off + k->len;
        if (!(doc = json_loadb(d + k->off, k->len, 0, NULL)))
            abort(); /* not JSON */
        dyn = json_object_get(doc, "dynamodb");
        if (strcmp(json_string_value(json_object_get(doc, "eventID")), k->pk) ||
            strcmp(json_string_value(json_object_get(dyn, "SequenceNumber")), k->seq))
            abort();
        json_decref(doc);
    }
    if (r.n && next != sl_buf_len(r.buf))
        abort();
    kin_records_free(&r);
    free(body);
    return 0;
}
