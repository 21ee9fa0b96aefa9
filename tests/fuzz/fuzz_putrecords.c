/*
 * fuzz_putrecords.c: a libFuzzer target for the PutRecords answer scanner (kin_scan_put_records()
 * in connectors/kinesis/kinesis_putrecords.c), which reads every answer the producer gets, against
 * the strict jansson reader it stands in for (kin_parse_put_records_json()). The first input byte
 * picks the number of entries sent (1..8), the rest is the answer (in an exactly-sized copy). When
 * the scanner accepts an answer, the reader must accept it too with the same failed count, error
 * codes and shard ids; a difference aborts, as do crashes, leaks and undefined behaviour. Not built
 * by make: see README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../connectors/kinesis/kinesis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char c1[8][KIN_CODE_MAX], c2[8][KIN_CODE_MAX];
    char s1[8][KIN_SHARD_ID_MAX], s2[8][KIN_SHARD_ID_MAX];
    char err[256];
    size_t f1 = 0, f2 = 0, n;
    char *body;
    if (size < 1)
        return 0;
    n = (size_t)(data[0] % 8) + 1;
    if (!(body = malloc(size - 1 ? size - 1 : 1)))
        return 0;
    memcpy(body, data + 1, size - 1);
    memset(c1, 0, sizeof(c1));
    memset(c2, 0, sizeof(c2));
    memset(s1, 0, sizeof(s1));
    memset(s2, 0, sizeof(s2));
    if (kin_scan_put_records(body, size - 1, n, c1, s1, &f1) == 0) {
        if (kin_parse_put_records_json(body, size - 1, n, c2, s2, &f2, err, sizeof(err)) != SL_OK) {
            fprintf(stderr, "the scanner accepted what the reader refuses: %s\n", err);
            abort();
        }
        if (f1 != f2)
            abort();
        for (size_t i = 0; i < n; i++)
            if (strcmp(c1[i], c2[i]) || (!c1[i][0] && strcmp(s1[i], s2[i]))) {
                fprintf(stderr, "entry %zu: scanner %s/%s, reader %s/%s\n", i, c1[i], s1[i], c2[i],
                        s2[i]);
                abort();
            }
    }
    /* The whole parser, without shard ids too. */
    kin_parse_put_records(body, size - 1, n, c1, NULL, &f1, err, sizeof(err));
    free(body);
    return 0;
}
