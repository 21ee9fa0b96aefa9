/*
 * fuzz_base64.c: a libFuzzer target for the base64 decoder (util/util_base64.c), which reads
 * the Data of every Kinesis and DynamoDB Streams record and Pulsar's binary keys. Each input is
 * decoded strictly and with whitespace trimmed, into an exactly-sized heap buffer of a bound
 * taken from the first byte (so ASan sees any write past the bound); whatever decodes must
 * agree with util_b64_check() and re-encode to the input. Only crashes, undefined behaviour and
 * a broken round trip are findings. Not built by make: see README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util_base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t cap;
    char *in, *out, *again;
    ssize_t n, t;
    if (!size)
        return 0;
    cap = data[0] % 2 ? size : (size / 4 * 3) * data[0] / 255;
    data++, size--;
    in = malloc(size ? size : 1);
    out = malloc(cap ? cap : 1);
    if (!in || !out)
        abort();
    memcpy(in, data, size);
    n = util_b64_decode(in, size, out, cap, 0);
    if (n >= 0) {
        if ((size_t)n > cap || util_b64_check(in, size) != n)
            abort();
        again = malloc(util_b64_encoded_len((size_t)n) + 1);
        if (!again || util_b64_encode(again, out, (size_t)n) != size)
            abort();
        /* unused low bits may differ; everything else must match */
        if (size && memcmp(again, in, size - 3) != 0)
            abort();
        free(again);
    } else if (n == -1 && util_b64_check(in, size) >= 0) {
        abort();
    }
    t = util_b64_decode(in, size, out, cap, UTIL_B64_TRIM);
    if (t >= 0 && (size_t)t > cap)
        abort();
    free(in);
    free(out);
    return 0;
}
