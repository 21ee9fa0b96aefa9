/*
 * health.c: the process-wide board of failing endpoints behind /healthz (see health.h), and
 * its public face for connectors (sl_health_*, sluice/system.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "sluice/system.h"
#include "util_time.h"

struct sl_health {
    health_entry_t *prev, *next;
    char *what;
    char *msg;        /* latest failure */
    int64_t since_ms; /* monotonic time of the first failure since the last success; 0: healthy */
};

static pthread_mutex_t board_lock = PTHREAD_MUTEX_INITIALIZER;
static health_entry_t *board;

health_entry_t *health_open(const char *what) {
    health_entry_t *e = calloc(1, sizeof(*e));
    if (!e || !(e->what = sl_strdup(what))) {
        free(e);
        return NULL;
    }
    pthread_mutex_lock(&board_lock);
    e->next = board;
    if (board)
        board->prev = e;
    board = e;
    pthread_mutex_unlock(&board_lock);
    return e;
}

void health_close(health_entry_t *e) {
    if (!e)
        return;
    pthread_mutex_lock(&board_lock);
    if (e->prev)
        e->prev->next = e->next;
    else
        board = e->next;
    if (e->next)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&board_lock);
    free(e->what);
    free(e->msg);
    free(e);
}

int64_t health_fail(health_entry_t *e, const char *msg) {
    int64_t now = sl_mono_ms(), d;
    char *copy;
    if (!e)
        return 0;
    copy = sl_strdup(msg ? msg : "");
    pthread_mutex_lock(&board_lock);
    if (!e->since_ms)
        e->since_ms = now ? now : 1;
    if (copy) {
        free(e->msg);
        e->msg = copy;
    }
    d = now - e->since_ms;
    pthread_mutex_unlock(&board_lock);
    return d;
}

int64_t health_ok(health_entry_t *e) {
    int64_t d = 0;
    if (!e)
        return 0;
    pthread_mutex_lock(&board_lock);
    if (e->since_ms)
        d = sl_mono_ms() - e->since_ms;
    e->since_ms = 0;
    pthread_mutex_unlock(&board_lock);
    return d;
}

int health_report(int64_t stall_ms, sl_sb_t *sb) {
    int64_t now = sl_mono_ms();
    int n = 0;
    pthread_mutex_lock(&board_lock);
    for (health_entry_t *e = board; e; e = e->next) {
        if (!e->since_ms || now - e->since_ms < stall_ms)
            continue;
        sl_sb_printf(sb, "%s: failing for %lld s: %s\n", e->what,
                     (long long)((now - e->since_ms) / 1000), e->msg ? e->msg : "");
        n++;
    }
    pthread_mutex_unlock(&board_lock);
    return n;
}

/* The public names (sluice/system.h) of the board for connectors. */
sl_health_t *sl_health_open(const char *what) {
    return health_open(what);
}

void sl_health_close(sl_health_t *h) {
    health_close(h);
}

int64_t sl_health_fail(sl_health_t *h, const char *msg) {
    return health_fail(h, msg);
}

int64_t sl_health_ok(sl_health_t *h) {
    return health_ok(h);
}
