/*
 * kinesis_shards.h: a stream's shards (kinesis_shards.c): the kin_shard_info_t description and
 * the ListShards / DescribeStream listing, run on the AWS client's (the coordinator's) loop.
 */

#ifndef SL_KINESIS_SHARDS_H
#define SL_KINESIS_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include "aws_client.h"

/* A shard as ListShards describes it. Strings owned. */
typedef struct kin_shard_info {
    char *id;
    char *parent;           /* NULL when none */
    char *adjacent_parent;  /* NULL when none */
    char *start_hash, *end_hash; /* decimal */
    char *start_seq;        /* SequenceNumberRange.StartingSequenceNumber */
    char *end_seq;          /* NULL while the shard is open */
} kin_shard_info_t;

void kin_shard_info_free(kin_shard_info_t *s); /* the members; accepts NULL */
void kin_shard_list_free(kin_shard_info_t *s, size_t n); /* members and the array */
/* A deep copy of the n shards of v (borrowed), all of it or nothing: NULL when out of memory.
 * Caller frees with kin_shard_list_free(). */
kin_shard_info_t *kin_shard_list_dup(const kin_shard_info_t *v, size_t n);

/* Lists every shard of the stream (all pages: NextToken, MaxResults 1000), by name or ARN (one
 * of them non-empty), with filter_type NULL (all shards) or a ShardFilter Type
 * ("AT_TRIM_HORIZON", "AT_LATEST", "FROM_TIMESTAMP" with ts_ms). retry: the call's policy.
 * cb gets the shards (it may take ownership by setting *shards to NULL) or an error. */
typedef void (*kin_list_cb)(void *opaque, sl_err_t err, const char *msg,
                            kin_shard_info_t **shards, size_t n);
sl_err_t kin_list_shards(sl_aws_client_t *c, const char *stream, const char *arn,
                         const char *filter_type, int64_t ts_ms, const sl_retry_policy_t *retry,
                         kin_list_cb cb, void *opaque);
/* The same for a DynamoDB stream (DescribeStream, paged by LastEvaluatedShardId): the shards
 * have no hash key range. */
sl_err_t kin_ddb_list_shards(sl_aws_client_t *c, const char *arn, const sl_retry_policy_t *retry,
                             kin_list_cb cb, void *opaque);
/* Cancels what kin_list_shards or kin_ddb_list_shards started for opaque (no callback). */
void kin_list_shards_cancel(sl_aws_client_t *c, void *opaque);

#endif
