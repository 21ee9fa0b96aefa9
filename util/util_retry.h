/*
 * util_retry.h: the one retry policy of sluice's clients (the AWS client, the Pulsar
 * connector): exponential backoff with full jitter, a retry count and a deadline. Knows nothing
 * about streams or services: callers decide what is retryable. Pure functions, any thread (the
 * random state is the caller's).
 */
#ifndef SL_UTIL_RETRY_H
#define SL_UTIL_RETRY_H

#include <stdint.h>

typedef struct sl_retry_policy {
    int64_t base_ms;   /* first backoff ceiling, e.g. 300 */
    int64_t max_ms;    /* cap of the ceiling, e.g. 10000 */
    double exp;        /* growth per attempt, e.g. 1.5 or 2 */
    int max_retries;   /* retries after the first attempt; 0 = none */
    int64_t deadline_ms; /* no retry starts after this monotonic time (sl_mono_ms); 0 = none */
} sl_retry_policy_t;

/* The delay before retry number attempt (0-based) with full jitter: a uniform random value in
 * [0, min(max_ms, base_ms * exp^attempt)], drawn from *rng (sl_rand_next). */
int64_t sl_retry_delay_ms(const sl_retry_policy_t *p, int attempt, uint64_t *rng);

/* Whether p allows retry number attempt (0-based: retries already made) to start delay_ms after
 * now_ms (sl_mono_ms): attempt < max_retries and, with a deadline, before it. */
int sl_retry_allowed(const sl_retry_policy_t *p, int attempt, int64_t delay_ms, int64_t now_ms);

#endif
