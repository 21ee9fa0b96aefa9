/*
 * oom.h: the unit tests' allocation-failure hook (oom.c). The unit binary is linked with the
 * linker's --wrap for malloc, calloc, realloc, free, strdup and strndup, so every call the
 * libsluice_core objects and the tests make goes through oom.c (jansson's too, once
 * oom_jansson_begin() gave it the hook as its allocator). oom_walk() runs an operation once to
 * count its allocations, then once per allocation with that one failing, and checks each run
 * for leaks. Nothing outside the unit binary is wrapped: production allocation is untouched.
 */
#ifndef SL_UNIT_OOM_H
#define SL_UNIT_OOM_H

/* What one run of a walked operation reports. The operation itself asserts (CU_ASSERT) that a
 * success is complete, by comparing its result with the one of the run without failures. */
typedef enum oom_result {
    OOM_DONE = 0,   /* it succeeded, and the result is complete */
    OOM_FAILED = 1, /* it reported the failure (SL_ERR_NOMEM or a clear error) */
} oom_result_t;

typedef oom_result_t (*oom_fn)(void *ctx);

/* The outcome of a walk, for the report. */
typedef struct oom_stats {
    unsigned long points;    /* allocations of the run without failures: each one failed once */
    unsigned long failed;    /* runs that reported an error */
    unsigned long completed; /* runs that succeeded anyway (a fallback, or a retried step) */
    unsigned long leaks;     /* runs that left allocations behind */
} oom_stats_t;

/* OOM_WALK_NO_LEAKS: run without the leak check (the operation keeps process-wide state, such
 * as registered log secrets; LSan still checks the process at exit in a sanitizer build). */
enum { OOM_WALK_NO_LEAKS = 1 };

/* 1 when the hook is linked in (configure found --wrap), else 0. */
int oom_available(void);

/* Runs fn(ctx) once as a warm-up (lazy process-wide state settles), once counting its
 * allocations (N), then N times with allocation i failing (NULL, errno ENOMEM). Asserts that
 * every run returns a valid oom_result_t and, unless OOM_WALK_NO_LEAKS, that nothing fn
 * allocated is left. Only allocations of the calling thread count. Prints one line with the
 * counts as "oom <name>: ..." and fills *st when not NULL. */
void oom_walk(const char *name, oom_fn fn, void *ctx, int flags, oom_stats_t *st);

/* Stops the counting and failing on this thread, for checking a result or retrying a step;
 * returns what oom_resume() takes to start it again. What is made meanwhile is not tracked
 * (frees and moves of the run's blocks still are). */
int oom_pause(void);
void oom_resume(int was);

/* Makes jansson allocate through the hook (json_set_alloc_funcs), until oom_jansson_end()
 * restores its previous allocator. Every jansson value made in between must be freed before
 * the end. */
void oom_jansson_begin(void);
void oom_jansson_end(void);

#endif
