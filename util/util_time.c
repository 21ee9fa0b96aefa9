/*
 * util_time.c: the injected clock and the small PRNG. Everything that needs the time asks
 * sl_now_ms()/sl_mono_ms(), so tests can freeze or step it.
 */
#include <time.h>

#include "util_time.h"

static const int64_t *injected;

void sl_time_inject(const int64_t *ms) {
    __atomic_store_n(&injected, ms, __ATOMIC_RELEASE);
}

static int64_t clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl_now_ms(void) {
    const int64_t *fake = __atomic_load_n(&injected, __ATOMIC_ACQUIRE);
    return fake ? __atomic_load_n(fake, __ATOMIC_ACQUIRE) : clock_ms(CLOCK_REALTIME);
}

int64_t sl_mono_ms(void) {
    const int64_t *fake = __atomic_load_n(&injected, __ATOMIC_ACQUIRE);
    return fake ? __atomic_load_n(fake, __ATOMIC_ACQUIRE) : clock_ms(CLOCK_MONOTONIC);
}

uint64_t sl_rand_next(uint64_t *state) {
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

int util_ratelimit(util_ratelimit_t *rl, int64_t now_ms, int64_t every_ms, int64_t *held) {
    if (rl->next_ms && now_ms < rl->next_ms) {
        rl->held++;
        return 0;
    }
    if (held)
        *held = rl->held;
    rl->held = 0;
    rl->next_ms = now_ms + every_ms;
    return 1;
}
