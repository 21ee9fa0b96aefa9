/*
 * fuzz_kpl.c: a libFuzzer target for the KPL de-aggregator (connectors/kinesis/kinesis_kpl.c),
 * which reads the bytes of every record a Kinesis shard returns. Each input is de-aggregated
 * twice: as it is, and re-sealed as magic + input + MD5(input) so the fuzzer reaches the
 * protobuf walk instead of stopping at the digest; the second pass filters with a hash range
 * taken from the input's first byte. Every yielded slice is touched to catch out-of-bounds
 * pointers, and the iterator must yield exactly the announced count. Only crashes, leaks,
 * undefined behaviour and a broken count are findings. Not built by make: see README.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../../connectors/kinesis/kinesis_kpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(kpl_deagg_t *da, const uint8_t *buf, size_t len, const kpl_range_t *r) {
    kpl_subrec_t s;
    uint64_t n = 0;
    volatile uint8_t sink = 0;
    if (kpl_deagg_load(da, buf, len, "outer", NULL, r) != 0)
        return;
    while (kpl_deagg_next(da, &s)) {
        if (s.data_len)
            sink ^= s.data[0] ^ s.data[s.data_len - 1];
        if (s.pk_len)
            sink ^= (uint8_t)s.pk[s.pk_len - 1];
        if (s.ehk_len)
            sink ^= (uint8_t)s.ehk[s.ehk_len - 1];
        if (s.subseq != n++ && s.aggregated)
            abort();
    }
    if (n != kpl_deagg_count(da))
        abort();
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static kpl_deagg_t *da;
    if (!da && !(da = kpl_deagg_new()))
        return 0;

    /* Exactly-sized copies, so a read one byte past the end is caught. */
    uint8_t *raw = malloc(size ? size : 1);
    uint8_t *sealed = malloc(size + KPL_MAGIC_LEN + KPL_DIGEST_LEN);
    if (!raw || !sealed)
        goto done;
    if (size)
        memcpy(raw, data, size);
    run(da, raw, size, NULL);

    memcpy(sealed, kpl_magic, KPL_MAGIC_LEN);
    if (size)
        memcpy(sealed + KPL_MAGIC_LEN, data, size);
    unsigned int n = 0;
    if (!EVP_Digest(data, size, sealed + KPL_MAGIC_LEN + size, &n, EVP_md5(), NULL))
        goto done;
    kpl_range_t r = {{0, 0}, {UINT64_MAX, UINT64_MAX}};
    if (size && (data[0] & 1)) { /* half the inputs filter with a range around their first byte */
        r.start.hi = (uint64_t)data[0] << 56;
        r.end.hi = r.start.hi | 0x00ffffffffffffffULL;
    }
    run(da, sealed, size + KPL_MAGIC_LEN + KPL_DIGEST_LEN, size && (data[0] & 2) ? &r : NULL);
done:
    free(raw);
    free(sealed);
    return 0;
}
