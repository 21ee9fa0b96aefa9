/*
 * util_retry.c: exponential backoff with full jitter (util_retry.h): the ceiling grows by exp
 * per attempt up to max_ms and the delay is drawn uniformly below it, so clients that failed
 * together do not retry together.
 */
#include "config.h"

#include <math.h>

#include "util_retry.h"
#include "util_time.h"

int64_t sl_retry_delay_ms(const sl_retry_policy_t *p, int attempt, uint64_t *rng) {
    double ceiling = (double)p->base_ms * pow(p->exp > 1 ? p->exp : 1, attempt);
    if (ceiling > (double)p->max_ms)
        ceiling = (double)p->max_ms;
    if (ceiling < 1)
        return 0;
    return (int64_t)(sl_rand_next(rng) % ((uint64_t)ceiling + 1));
}

int sl_retry_allowed(const sl_retry_policy_t *p, int attempt, int64_t delay_ms, int64_t now_ms) {
    return attempt < p->max_retries && (!p->deadline_ms || now_ms + delay_ms < p->deadline_ms);
}
