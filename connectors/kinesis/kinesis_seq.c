/*
 * kinesis_seq.c: Kinesis sequence numbers (decimal strings of up to 128 digits) compared as
 * numbers, with and without a KPL sub-sequence number; declared in kinesis_seq.h. The lease
 * coordinator, the shard reader and the parsers use them to order checkpoints and records.
 */

#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "kinesis_seq.h"

int kin_seq_cmp(const char *a, const char *b) {
    size_t la, lb;
    int c;
    if (!a)
        a = "";
    if (!b)
        b = "";
    while (*a == '0')
        a++;
    while (*b == '0')
        b++;
    la = strlen(a);
    lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    c = memcmp(a, b, la);
    return c < 0 ? -1 : c > 0;
}

int kin_xseq_cmp(const char *seq, int64_t sub, const char *cseq, int64_t csub) {
    int c = kin_seq_cmp(seq, cseq);
    if (c)
        return c;
    return sub < csub ? -1 : sub > csub;
}

int kin_all_digits(const char *s, size_t n) {
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}
