/*
 * kin_format_tool.c: encodes records in the Kinesis sink's message formats for tests/0020, whose
 * judges are flatc and Python. Reads one record per line on stdin as JSON
 *   {"key": "k" or null, "data_b64": "...", "headers": [["name", "value"], ...], "event_time": ms}
 * and writes record N (from 0) as OUTDIR/N.json (FULL_MESSAGE_IN_JSON) and OUTDIR/N.bin
 * (FULL_MESSAGE_IN_FB). A record the encoder refuses gets OUTDIR/N.err with the message instead.
 *
 *   kin-format-tool OUTDIR < records.jsonl
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "../../connectors/kinesis/kinesis_format.h"

static int write_file(const char *dir, int n, const char *ext, const void *p, size_t len) {
    char path[4096];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%d.%s", dir, n, ext);
    if (!(f = fopen(path, "wb")) || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "kin-format-tool: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: kin-format-tool OUTDIR < records.jsonl\n");
        return 2;
    }
    while (getline(&line, &cap, stdin) > 0) {
        json_error_t jerr;
        json_t *doc = json_loads(line, 0, &jerr), *h;
        sl_record_t *rec = sl_record_new();
        const char *b64;
        unsigned char *raw;
        size_t blen, dlen, i;
        if (!doc || !rec) {
            fprintf(stderr, "kin-format-tool: line %d: %s\n", n + 1, doc ? "oom" : jerr.text);
            return 1;
        }
        b64 = json_string_value(json_object_get(doc, "data_b64"));
        blen = b64 ? strlen(b64) : 0;
        raw = malloc(blen / 4 * 3 + 1);
        dlen = blen ? (size_t)EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)blen) : 0;
        if (blen >= 1 && b64[blen - 1] == '=')
            dlen--;
        if (blen >= 2 && b64[blen - 2] == '=')
            dlen--;
        sl_record_set_data(rec, raw, dlen);
        free(raw);
        if (json_is_string(json_object_get(doc, "key")))
            sl_record_set_key(rec, json_string_value(json_object_get(doc, "key")),
                              json_string_length(json_object_get(doc, "key")));
        sl_record_set_event_time(rec, json_integer_value(json_object_get(doc, "event_time")));
        json_array_foreach(json_object_get(doc, "headers"), i, h)
            sl_record_set_header(rec, json_string_value(json_array_get(h, 0)),
                                 json_string_value(json_array_get(h, 1)));
        for (int fmt = KIN_FMT_JSON; fmt <= KIN_FMT_FB; fmt++) {
            uint8_t *out;
            size_t len;
            char err[512];
            if (kin_format_encode((kin_fmt_t)fmt, rec, &out, &len, err, sizeof(err)) != SL_OK) {
                if (write_file(argv[1], n, "err", err, strlen(err)) != 0)
                    return 1;
                break;
            }
            if (write_file(argv[1], n, fmt == KIN_FMT_JSON ? "json" : "bin", out, len) != 0)
                return 1;
            free(out);
        }
        sl_record_unref(rec);
        json_decref(doc);
        n++;
    }
    free(line);
    return 0;
}
