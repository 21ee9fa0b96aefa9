/*
 * kinesis_putrecords.h: PutRecords answers read for the producer (kinesis_putrecords.c): the
 * hot-path scanner and the strict jansson reader. Pure functions, any thread.
 */

#ifndef SL_KINESIS_PUTRECORDS_H
#define SL_KINESIS_PUTRECORDS_H

#include <stddef.h>

#include "sluice/common.h"

/* Parses a PutRecords answer body[0..len) for n entries into codes[i] (NULL: stored, with its
 * shard id copied into shards[i] when shards is not NULL, room KIN_SHARD_ID_MAX each; else the
 * ErrorCode, copied into codes storage) and *failed (FailedRecordCount). SL_ERR_INVAL with errstr
 * when the answer is malformed or does not hold exactly n results. */
#define KIN_SHARD_ID_MAX 128
#define KIN_CODE_MAX 96
sl_err_t kin_parse_put_records(const char *body, size_t len, size_t n, char (*codes)[KIN_CODE_MAX],
                               char (*shards)[KIN_SHARD_ID_MAX], size_t *failed,
                               char *errstr, size_t errlen);
/* Its two halves: the scanner for answers as Kinesis writes them (0, or 1 when it cannot vouch
 * for the answer: nothing decided), and the strict jansson reader that decides the rest and words
 * the errors. kin_parse_put_records() is scanner, else reader; a fuzz target holds them equal. */
int kin_scan_put_records(const char *body, size_t len, size_t n, char (*codes)[KIN_CODE_MAX],
                         char (*shards)[KIN_SHARD_ID_MAX], size_t *failed);
sl_err_t kin_parse_put_records_json(const char *body, size_t len, size_t n,
                                    char (*codes)[KIN_CODE_MAX],
                                    char (*shards)[KIN_SHARD_ID_MAX], size_t *failed,
                                    char *errstr, size_t errlen);

#endif
