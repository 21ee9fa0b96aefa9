/*
 * kinesis_seq.h: Kinesis sequence numbers (kinesis_seq.c), decimal strings compared as numbers.
 * Pure functions, any thread.
 */

#ifndef SL_KINESIS_SEQ_H
#define SL_KINESIS_SEQ_H

#include <stddef.h>
#include <stdint.h>

/* Compares two Kinesis sequence numbers (decimal strings without sign, up to 128 digits):
 * <0, 0, >0. Numerical order (length first, then digits); leading zeros ignored. */
int kin_seq_cmp(const char *a, const char *b);

/* Whether s[0..n) is a non-empty run of decimal digits (a sequence number's form). */
int kin_all_digits(const char *s, size_t n);

/* (seq, sub) against (cseq, csub): <0, 0, >0. */
int kin_xseq_cmp(const char *seq, int64_t sub, const char *cseq, int64_t csub);

#endif
