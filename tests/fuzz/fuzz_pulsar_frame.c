/*
 * fuzz_pulsar_frame.c: libFuzzer target for the Pulsar frames a broker sends (pulsar_wire.c):
 * the input is read as the connection reads its socket, frame after frame: size, command,
 * broker entry metadata, checksum, message metadata, then what the consumer does with a payload
 * (decompression bounded as the consumer bounds it, every single message of a batch). Built
 * and run by tools/fuzz.sh; seeds from tests/fuzz/pulsar_seeds.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pulsar_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t pos = 0;
    sl_sb_t z = {0};
    while (size - pos >= 4) {
        size_t fs = pl_frame_size(data + pos, size - pos);
        uint8_t *copy;
        pl_frame_t f;
        char err[256];
        if (fs < 8 || fs > size - pos)
            break;
        copy = malloc(fs);
        if (!copy)
            break;
        memcpy(copy, data + pos, fs);
        if (pl_frame_decode(copy, fs, 1 << 20, &f, err, sizeof(err)) == 0) {
            if (f.meta) {
                const uint8_t *body = f.payload;
                size_t len = f.payload_len, bpos = 0, plen;
                int ok = 1;
                if (f.meta->has_compression && f.meta->compression &&
                    !f.meta->n_encryption_keys) {
                    ok = f.meta->has_uncompressed_size && f.meta->uncompressed_size <= (1u << 20) &&
                         pl_decompress(f.meta->compression, body, len, f.meta->uncompressed_size,
                                       &z, err, sizeof(err)) == 0;
                    body = (const uint8_t *)z.buf;
                    len = z.len;
                }
                if (ok && f.meta->has_num_messages_in_batch) {
                    Pulsar__Proto__SingleMessageMetadata *smm;
                    const uint8_t *pl;
                    int r, n = 0;
                    while (n++ < 100000 &&
                           (r = pl_batch_next(body, len, &bpos, &smm, &pl, &plen, err,
                                              sizeof(err))) > 0)
                        pulsar__proto__single_message_metadata__free_unpacked(smm, NULL);
                }
            }
            pl_frame_clear(&f);
        }
        free(copy);
        pos += fs;
    }
    sl_sb_free(&z);
    return 0;
}
