/*
 * util_time.h: the injected clock. Everything in sluice that needs "now" asks here, so tests can
 * freeze or step time (leases, windows, signing) without sleeping.
 */
#ifndef SL_UTIL_TIME_H
#define SL_UTIL_TIME_H

#include <stdint.h>

/* Wall-clock ms since the epoch (or the injected clock's value). Thread-safe. */
int64_t sl_now_ms(void);

/* Monotonic ms for timeouts and intervals (or the injected clock's value). Thread-safe. */
int64_t sl_mono_ms(void);

/* Installs a fake clock: both functions above return *ms (read atomically) while set; NULL
 * restores the real clocks. For tests only. */
void sl_time_inject(const int64_t *ms);

/* A small fast PRNG (xorshift64*): state must be non-zero. */
uint64_t sl_rand_next(uint64_t *state);

/* A log line limiter: util_ratelimit() returns 1 when a line may be written now (at most one per
 * every_ms; *held receives the number of lines held back since the last one written) and 0
 * when this one is to be counted and dropped. Not thread-safe (one per owner). */
typedef struct util_ratelimit {
    int64_t next_ms;
    int64_t held;
} util_ratelimit_t;
int util_ratelimit(util_ratelimit_t *rl, int64_t now_ms, int64_t every_ms, int64_t *held);

#endif
