/*
 * oom.c: the allocation-failure hook of the unit tests (declared in oom.h). The unit binary is
 * linked with -Wl,--wrap=malloc,... so the calls of the libsluice_core objects land in the
 * __wrap_ functions here, which count the allocations of the thread running a walk, fail the
 * chosen one, and remember every pointer handed out during a run in a fixed table (never
 * malloc'd, so the hook does not recurse) to find what a failed run leaves behind. Outside a
 * walk, and on every other thread, they only pass the call on to the C library.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "oom.h"

#ifdef SL_OOM_WRAP

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* Live pointers of the current run: open addressing, deleted slots marked with TOMB. */
#define LIVE_SLOTS (1u << 17)
#define TOMB ((void *)1)

/* Only the thread running a walk is active: the rest belongs to it (one walk at a time). */
static __thread int active;
static __thread int paused; /* oom_pause(): nothing counted or failed, frees still seen */
static unsigned long count;   /* allocations so far in the run */
static unsigned long fail_at; /* the one to fail (0: none) */
static long nlive;
static void *live[LIVE_SLOTS];

static size_t slot_of(const void *p) {
    uintptr_t h = (uintptr_t)p;
    h ^= h >> 17;
    h *= (uintptr_t)0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 7) & (LIVE_SLOTS - 1);
}

static void live_add(void *p) {
    size_t i = slot_of(p);
    if (nlive >= (long)(LIVE_SLOTS / 2)) {
        fprintf(stderr, "oom: more than %u live allocations in one run\n", LIVE_SLOTS / 2);
        abort();
    }
    while (live[i] && live[i] != TOMB)
        i = (i + 1) & (LIVE_SLOTS - 1);
    live[i] = p;
    nlive++;
}

/* Forgets p; 0 when p was not allocated during the run (earlier, or by the C library). */
static int live_del(const void *p) {
    for (size_t i = slot_of(p); live[i]; i = (i + 1) & (LIVE_SLOTS - 1))
        if (live[i] == p) {
            live[i] = TOMB;
            nlive--;
            return 1;
        }
    return 0;
}

/* 1 when this allocation is the one to fail. */
static int should_fail(void) {
    if (!active || paused)
        return 0;
    if (++count == fail_at) {
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

static void *track(void *p) {
    if (active && !paused && p)
        live_add(p);
    return p;
}

void *__wrap_malloc(size_t n) {
    return should_fail() ? NULL : track(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t size) {
    return should_fail() ? NULL : track(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t n) {
    void *q;
    if (!p)
        return __wrap_malloc(n);
    if (should_fail())
        return NULL; /* p stays valid, as after a real failure */
    if (!(q = __real_realloc(p, n)))
        return NULL;
    /* A block of the run stays one when it moves, paused or not. */
    if (active && (live_del(p) || !paused))
        live_add(q);
    return q;
}

void __wrap_free(void *p) {
    if (p && active)
        live_del(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s) {
    return should_fail() ? NULL : track(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n) {
    return should_fail() ? NULL : track(__real_strndup(s, n));
}

int oom_available(void) {
    return 1;
}

static void run_begin(unsigned long nth) {
    memset(live, 0, sizeof(live));
    nlive = 0;
    count = 0;
    fail_at = nth;
    paused = 0;
    active = 1;
}

static void run_end(void) {
    active = 0;
}

void oom_walk(const char *name, oom_fn fn, void *ctx, int flags, oom_stats_t *st) {
    oom_stats_t s = {0, 0, 0, 0};
    oom_result_t r;

    r = fn(ctx); /* warm-up: lazily made process-wide state settles */
    CU_ASSERT_EQUAL_FATAL(r, OOM_DONE);
    run_begin(0);
    r = fn(ctx);
    run_end();
    CU_ASSERT_EQUAL_FATAL(r, OOM_DONE);
    if (!(flags & OOM_WALK_NO_LEAKS) && nlive) {
        fprintf(stderr, "oom %s: %ld allocation(s) left by the run without failures\n", name,
                nlive);
        CU_FAIL("allocations left by the run without failures");
    }
    s.points = count;
    for (unsigned long i = 1; i <= s.points; i++) {
        run_begin(i);
        r = fn(ctx);
        run_end();
        if (r == OOM_FAILED)
            s.failed++;
        else if (r == OOM_DONE)
            s.completed++;
        else
            CU_FAIL("an operation returned neither OOM_DONE nor OOM_FAILED");
        if (!(flags & OOM_WALK_NO_LEAKS) && nlive) {
            s.leaks++;
            fprintf(stderr, "oom %s: allocation %lu failing left %ld allocation(s)\n", name, i,
                    nlive);
        }
    }
    CU_ASSERT_EQUAL(s.leaks, 0);
    printf("\n    oom %s: %lu allocation points, %lu failed with an error, %lu completed%s ",
           name, s.points, s.failed, s.completed,
           flags & OOM_WALK_NO_LEAKS ? " (no leak check)" : "");
    if (st)
        *st = s;
}

int oom_pause(void) {
    int was = paused;
    paused = 1;
    return was;
}

void oom_resume(int was) {
    paused = was;
}

static json_malloc_t saved_malloc;
static json_free_t saved_free;

void oom_jansson_begin(void) {
    json_get_alloc_funcs(&saved_malloc, &saved_free);
    json_set_alloc_funcs(__wrap_malloc, __wrap_free);
}

void oom_jansson_end(void) {
    json_set_alloc_funcs(saved_malloc, saved_free);
}

#else /* !SL_OOM_WRAP */

int oom_available(void) {
    return 0;
}

void oom_walk(const char *name, oom_fn fn, void *ctx, int flags, oom_stats_t *st) {
    (void)name;
    (void)fn;
    (void)ctx;
    (void)flags;
    if (st)
        memset(st, 0, sizeof(*st));
}

int oom_pause(void) {
    return 0;
}

void oom_resume(int was) {
    (void)was;
}

void oom_jansson_begin(void) {}
void oom_jansson_end(void) {}

#endif
