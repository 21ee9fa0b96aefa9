/*
 * kinesis_coord.c: the lease coordinator of one Kinesis input, on the main thread. It decides
 * which shards this worker reads, the way the KCL's lease coordinator does and on the same
 * DynamoDB items (kinesis_lease.c), so Java KCL workers of the same application can share the
 * stream:
 *
 *   shard sync   ListShards; a lease is created for every shard that needs one (descendants of
 *                leased shards from TRIM_HORIZON, new roots from the initial position)
 *   taker        every take interval: Scan the table, note whose counters moved (a lease is
 *                expired when its counter stood still for FailoverTimeMillis on our clock),
 *                count the live workers and take expired leases up to the fair share, then
 *                steal from the most loaded workers (several per pass, not the KCL's one);
 *                an item that is not a lease is skipped with one warning and left alone
 *   renewer      every failover/3 - epsilon: bump the counter of each held lease; a failed
 *                condition is re-read, never retried blindly: still ours -> adopt the counter,
 *                someone else's -> the shard is lost and stops before its next checkpoint
 *   checkpoints  positions the runtime committed (after the sinks acknowledged) are written at
 *                most every checkpoint.interval per shard, and at release and shutdown
 *   shard end    a shard read to its end and committed gets SHARD_END and childShardIds; its
 *                children start only when every parent lease is at SHARD_END (or gone)
 *   shutdown     final checkpoints, then every lease is released (owner removed) so another
 *                worker takes it at its next taker pass instead of after the failover time
 *
 * Without DynamoDB (the sqlite store) there is one worker: every shard is ours, positions live
 * in the local checkpoint store and SHARD_END is recorded there.
 *
 * One operation at a time per lease (op), so our own renewals never race our checkpoints.
 *
 * Each lease is in one state (set_state() is the only place that changes it, checks the move
 * in debug builds and logs it under log.debug=lease):
 *
 *   UNOWNED        not ours: another worker's, free, not in the table yet, or unreadable
 *   LOST_OPEN      not ours any more, but its partition would not stop when we lost it (it was
 *                  already closing): waits for its close; taken back, it is RUNNING again
 *   HELD           ours (taken, renewed), not announced to the runtime: waiting for its parents
 *                  or for its previous run to close, or it was closed and not ended
 *   RUNNING        ours, announced: its partition reads and commits checkpoints
 *   ENDING_WAIT_CHILDREN  read to its end and committed, GetRecords named no children: waits
 *                  for a listing started after the end (end_wait_list) to name them
 *   ENDING_WRITE   SHARD_END (with its children) to write
 *   RELEASING      released or stopping: its last checkpoint (forced), then the evict
 *   ENDED          SHARD_END written: ours until the evict lands
 *   FINISHED       SHARD_END known (in the table, or the local store) and not ours: for good
 *
 *   UNOWNED     -> HELD (taken; sqlite store: a shard of ours), FINISHED (SHARD_END seen)
 *   LOST_OPEN   -> RUNNING (taken back), UNOWNED (its close arrived), FINISHED (SHARD_END seen)
 *   HELD        -> RUNNING (started), ENDING_* (a close at the shard end from an earlier run),
 *                  RELEASING (released, stop), FINISHED (sqlite store: shard end)
 *   RUNNING     -> HELD (closed), ENDING_* (closed at the shard end: HELD on the way),
 *                  RELEASING (stop), LOST_OPEN (lost, its partition would not stop)
 *   ENDING_WAIT_CHILDREN -> ENDING_WRITE (a listing named them, or failed), RELEASING (stop,
 *                  release: evicted without SHARD_END, as the KCL leaves an unended shard),
 *                  ENDED (a SHARD_END already on the wire when a late close named none)
 *   ENDING_WRITE -> ENDED (written), ENDING_WAIT_CHILDREN (a later close named none)
 *   RELEASING   -> ENDING_WRITE (a close at the shard end with children while stopping)
 *   ENDED       -> FINISHED (evicted, lost: never read again here)
 *   any ours    -> UNOWNED or FINISHED (lost; evicted, or its evict could not start: it
 *                  expires, or our next taker pass takes it back; FINISHED when SHARD_END is
 *                  known)
 *
 * Only HELD starts (becomes RUNNING), and a lease becomes HELD only by a take (without
 * DynamoDB, a listing) or the close of a RUNNING one. A shard read to its end is ENDING_* until
 * its SHARD_END is written, then ENDED until its release lands: opening it again in that window
 * held the lease past both and past the job's stop (0019 once failed so in CI, when a scan
 * came while SHARD_END waited for a listing). Losing a lease forgets whatever it still owed.
 *
 * Orthogonal to the state: op (the operation in flight, OP_NONE when idle), in_table and
 * unreadable (what the last scan said of its item), the checkpoint to write (ck_*),
 * waiting_parents (said once), stop_checkpointed (counted once).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "kinesis.h"
#include "kinesis_lease.h"
#include "sluice/log.h"
#include "util_str.h"
#include "util_time.h"

#define SENT_SHARD_END "SHARD_END"

enum op {
    OP_NONE, OP_CREATE, OP_TAKE, OP_RENEW, OP_CHECKPOINT, OP_SHARD_END, OP_EVICT, OP_GET,
    OP_DELETE
};

/* The states of a lease, in the order of its life (see the top of the file). */
enum lease_state {
    LS_UNOWNED, LS_LOST_OPEN, LS_HELD, LS_RUNNING, LS_ENDING_WAIT_CHILDREN, LS_ENDING_WRITE,
    LS_RELEASING, LS_ENDED, LS_FINISHED
};

typedef struct clease {
    struct kin_coord *c;
    char *key;
    kin_lease_t *lease;       /* last known item (NULL: not in the table, or sqlite store) */
    int64_t seen_counter;
    int64_t changed_ms;      /* monotonic time the counter last moved (our clock) */
    uint64_t mod_gen;        /* coordinator generation of our last completed write */
    enum lease_state state;  /* changed by set_state() only */
    enum op op;              /* the operation in flight (OP_NONE: none) */
    int in_table;
    int unreadable;          /* its item does not parse: left alone, its shard not read */
    int stop_checkpointed;   /* counted in stop_checkpoints (a lease may be written twice) */
    int64_t renewed_ms;
    /* checkpoint to write */
    char *ck_seq;
    int64_t ck_sub;
    int ck_dirty;
    int ck_force;
    int ck_lost_races;
    int64_t ck_written_ms;
    /* shard end to write (ENDING_*) */
    char **children;
    size_t n_children;
    uint64_t end_wait_list;  /* ENDING_WAIT_CHILDREN: the first listing that may name them */
    int waiting_parents;
    char *start_hash, *end_hash; /* from the listing when the item has none */
    char **parents;          /* sqlite store: parents from the listing */
    size_t n_parents;
} clease_t;

struct kin_coord {
    kin_input_t *k;
    const kin_conf_t *kc;
    kin_lease_table_t *lt;    /* NULL: sqlite store */
    char *worker_id;
    char *table;
    clease_t **leases;
    size_t n, cap;
    struct event *renew_ev, *take_ev, *pump_ev, *parent_ev, *grace_ev, *describe_ev;
    int64_t renew_ms, take_ms;
    int ensured;
    int described; /* the stream checked out: describe_ev now retries the lease table */
    int listing_shards, sync_again;
    uint64_t lists_started;  /* listings started so far; the one in flight is the last */
    int scanning, scan_again, synced_once;
    uint64_t gen, scan_gen;
    int stopping, stopped;
    int stop_failures;       /* lease table writes that failed while stopping */
    int stop_checkpoints;    /* leases whose checkpoint was written while stopping */
    int stop_released;       /* leases released while stopping */
    char **bad_items;        /* unreadable items of the last listing (sorted JSON), warned of */
    size_t n_bad_items;
    int pos;                 /* resolved initial position (kin_pos_t) */
    uint64_t rng;
    int warned_same_id;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static const char *pos_name(int pos) {
    switch (pos) {
    case KIN_POS_LATEST: return "LATEST";
    case KIN_POS_AT_TIMESTAMP: return "AT_TIMESTAMP";
    default: return "TRIM_HORIZON";
    }
}

static int is_sentinel(const char *ck) {
    return !strcmp(ck, "TRIM_HORIZON") || !strcmp(ck, "LATEST") ||
           !strcmp(ck, "AT_TIMESTAMP") || !strcmp(ck, SENT_SHARD_END);
}

static clease_t *find(kin_coord_t *c, const char *key) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->leases[i]->key, key))
            return c->leases[i];
    return NULL;
}

static clease_t *get_or_add(kin_coord_t *c, const char *key) {
    clease_t *l = find(c, key);
    if (l)
        return l;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        clease_t **grown = realloc(c->leases, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        c->leases = grown;
        c->cap = cap;
    }
    if (!(l = calloc(1, sizeof(*l))) || !(l->key = sl_strdup(key))) {
        free(l);
        return NULL;
    }
    l->c = c;
    l->changed_ms = sl_mono_ms();
    c->leases[c->n++] = l;
    return l;
}

static void strv_free(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

sl_err_t kin_coord_children(const kin_shard_info_t *shards, size_t n, const char *parent,
                            char ***out, size_t *n_out) {
    char **v = n ? calloc(n, sizeof(*v)) : NULL;
    size_t k = 0;
    *out = NULL;
    *n_out = 0;
    if (n && !v)
        return SL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const kin_shard_info_t *sh = &shards[i];
        if (!sh->id || (parent && !(sh->parent && !strcmp(sh->parent, parent)) &&
                        !(sh->adjacent_parent && !strcmp(sh->adjacent_parent, parent))))
            continue;
        if (!(v[k] = sl_strdup(sh->id))) {
            strv_free(v, k);
            return SL_ERR_NOMEM;
        }
        k++;
    }
    if (!k) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n_out = k;
    return SL_OK;
}

static void clease_free(clease_t *l) {
    kin_lease_free(l->lease);
    free(l->key);
    free(l->ck_seq);
    strv_free(l->children, l->n_children);
    strv_free(l->parents, l->n_parents);
    free(l->start_hash);
    free(l->end_hash);
    free(l);
}

/* ---- the state of a lease ------------------------------------------------------------------ */

static const char *state_name(enum lease_state st) {
    static const char *const names[] = {
        "UNOWNED", "LOST_OPEN", "HELD", "RUNNING", "ENDING_WAIT_CHILDREN", "ENDING_WRITE",
        "RELEASING", "ENDED", "FINISHED"
    };
    return (size_t)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

#define B(st) (1u << (st))
/* The moves set_state() accepts, by state left (the table at the top of the file). */
static const unsigned legal_moves[] = {
    [LS_UNOWNED] = B(LS_HELD) | B(LS_FINISHED),
    [LS_LOST_OPEN] = B(LS_RUNNING) | B(LS_UNOWNED) | B(LS_FINISHED),
    [LS_HELD] = B(LS_RUNNING) | B(LS_ENDING_WAIT_CHILDREN) | B(LS_ENDING_WRITE) |
                B(LS_RELEASING) | B(LS_UNOWNED) | B(LS_FINISHED),
    [LS_RUNNING] = B(LS_HELD) | B(LS_RELEASING) | B(LS_LOST_OPEN) | B(LS_UNOWNED) |
                   B(LS_FINISHED),
    [LS_ENDING_WAIT_CHILDREN] = B(LS_ENDING_WRITE) | B(LS_ENDED) | B(LS_RELEASING) |
                                B(LS_UNOWNED) | B(LS_FINISHED),
    [LS_ENDING_WRITE] = B(LS_ENDED) | B(LS_ENDING_WAIT_CHILDREN) | B(LS_UNOWNED) |
                        B(LS_FINISHED),
    [LS_RELEASING] = B(LS_ENDING_WRITE) | B(LS_UNOWNED) | B(LS_FINISHED),
    [LS_ENDED] = B(LS_FINISHED), /* SHARD_END known: let_go() never makes it UNOWNED */
    [LS_FINISHED] = 0,
};
#undef B

static void set_state(clease_t *l, enum lease_state to) {
    enum lease_state from = l->state;
    if (from == to)
        return;
    if (!(legal_moves[from] & (1u << to)))
        sl_log(SL_LOG_ERROR, "kinesis", "shard %s: lease state %s -> %s is not a legal move",
               l->key, state_name(from), state_name(to));
    assert(legal_moves[from] & (1u << to));
    sl_log_debug("lease", "shard %s: %s -> %s", l->key, state_name(from), state_name(to));
    l->state = to;
}

int kin_lease_states(void) {
    return LS_FINISHED + 1;
}

const char *kin_lease_state_name(int state) {
    return state_name((enum lease_state)state);
}

int kin_lease_move_legal(int from, int to) {
    if (from < 0 || from > LS_FINISHED || to < 0 || to > LS_FINISHED)
        return 0;
    return !!(legal_moves[from] & (1u << to));
}

/* Ours: taken and renewed (the sqlite store: every shard not finished). */
static int is_held(const clease_t *l) {
    return l->state >= LS_HELD && l->state <= LS_ENDED;
}

static int busy(const clease_t *l) {
    return l->op != OP_NONE;
}

/* SHARD_END is known: our state says so, or the item does. The item says so first only when
 * our SHARD_END landed but its retry lost the race (the re-read shows it), or when another
 * process writes under our worker id. */
static int end_known(const clease_t *l) {
    return l->state == LS_ENDED || l->state == LS_FINISHED ||
           (l->lease && l->lease->checkpoint && !strcmp(l->lease->checkpoint, SENT_SHARD_END));
}

/* No longer ours (lost or evicted): whatever it still owed is forgotten. */
static void let_go(clease_t *l) {
    set_state(l, end_known(l) ? LS_FINISHED : LS_UNOWNED);
}

static void set_lease(clease_t *l, kin_lease_t *lease) {
    kin_lease_free(l->lease);
    l->lease = lease;
    if (lease) {
        if (lease->counter != l->seen_counter)
            l->changed_ms = sl_mono_ms();
        l->seen_counter = lease->counter;
        l->in_table = 1;
        /* Not ours: finished for good. Ours: we end it ourselves (end_known() reads the item
         * meanwhile, and let_go() makes it FINISHED). */
        if (!is_held(l) && end_known(l))
            set_state(l, LS_FINISHED);
    }
}

static const char *owner_of(const clease_t *l) {
    return l->lease && l->lease->owner ? l->lease->owner : NULL;
}

static int is_mine(const kin_coord_t *c, const clease_t *l) {
    const char *o = owner_of(l);
    return o && !strcmp(o, c->worker_id);
}

static void stop_if_done(kin_coord_t *c);
static void scan(kin_coord_t *c);
static void describe_cb(evutil_socket_t fd, short what, void *arg);
static void grace_cb(evutil_socket_t fd, short what, void *arg);
static void try_start(kin_coord_t *c, clease_t *l);
static void pump(kin_coord_t *c);

/* The shard is no longer ours: stop it at once (no more checkpoints). */
static void lose(kin_coord_t *c, clease_t *l, const char *why) {
    int running = l->state == LS_RUNNING;
    if (!is_held(l))
        return;
    sl_log(SL_LOG_WARN, "kinesis", "stream %s shard %s: lease lost (%s)%s", c->k->stream, l->key,
           why, running ? ": stopping it before its next checkpoint" : "");
    l->ck_dirty = 0;
    /* A pending SHARD_END or release goes with it: never written, never reopened from here. */
    if (running && sl_input_remove_partition(c->k->in, l->key, SL_PART_LOST) != SL_OK &&
        !end_known(l))
        set_state(l, LS_LOST_OPEN); /* already closing: its close ends it */
    else
        let_go(l);
}

/* ---- operations on one lease --------------------------------------------------------------- */

static void op_done(void *opaque, kin_lease_result_t *res);

/* The final position first (forced), then the evict. A shard end being written is released
 * once written (ENDED); one still waiting for its children is released unended. */
static void release(clease_t *l) {
    l->ck_force = 1;
    if (l->state == LS_HELD || l->state == LS_RUNNING || l->state == LS_ENDING_WAIT_CHILDREN)
        set_state(l, LS_RELEASING);
}

static void begin(clease_t *l, enum op op) {
    l->op = op;
}

/* The operation begin() announced could not start: no callback will come. */
static void not_begun(clease_t *l) {
    l->op = OP_NONE;
}

static void start_get(kin_coord_t *c, clease_t *l) {
    begin(l, OP_GET);
    if (kin_lease_table_get(c->lt, l->key, op_done, l) != SL_OK)
        not_begun(l);
}

static void write_checkpoint(kin_coord_t *c, clease_t *l) {
    begin(l, OP_CHECKPOINT);
    if (kin_lease_table_checkpoint(c->lt, l->key, l->seen_counter, c->worker_id, l->ck_seq,
                                   l->ck_sub, op_done, l) != SL_OK)
        not_begun(l);
}

static void write_shard_end(kin_coord_t *c, clease_t *l) {
    begin(l, OP_SHARD_END);
    if (l->n_children) {
        if (kin_lease_table_shard_end(c->lt, l->key, l->seen_counter, c->worker_id,
                                      (const char *const *)l->children, l->n_children, op_done,
                                      l) != SL_OK)
            not_begun(l);
    } else if (kin_lease_table_checkpoint(c->lt, l->key, l->seen_counter, c->worker_id,
                                          SENT_SHARD_END, 0, op_done, l) != SL_OK) {
        not_begun(l);
    }
}

static void handle_lost_race(kin_coord_t *c, clease_t *l, enum op op) {
    /* Re-read: the outcome decides (never retry blindly). */
    (void)op;
    start_get(c, l);
}

static void after_get(kin_coord_t *c, clease_t *l, kin_lease_result_t *res) {
    if (res->err == SL_ERR_NOENT) {
        l->in_table = 0;
        lose(c, l, "its item was deleted"); /* first: FINISHED if the item said SHARD_END */
        set_lease(l, NULL);
        return;
    }
    if (res->err != SL_OK || !res->lease)
        return; /* the next pass tries again */
    set_lease(l, res->lease);
    res->lease = NULL;
    if (is_held(l) && !is_mine(c, l)) {
        lose(c, l, owner_of(l) ? "another worker took it" : "it was released by someone else");
        return;
    }
    if (is_held(l)) {
        /* Still ours: our write lost to a write made under our own worker id (a renewal of
         * a concurrent operation, or another process using the same id). Adopt the counter. */
        if (++l->ck_lost_races > 3 && !c->warned_same_id) {
            c->warned_same_id = 1;
            sl_log(SL_LOG_ERROR, "kinesis", "stream %s shard %s: its lease keeps changing under "
                   "worker id '%s': is another process using the same aws.kcl.WorkerIdentifier?",
                   c->k->stream, l->key, c->worker_id);
        }
        l->renewed_ms = sl_mono_ms();
    }
}

static void op_done(void *opaque, kin_lease_result_t *res) {
    clease_t *l = opaque;
    kin_coord_t *c = l->c;
    enum op op = l->op;
    int64_t now = sl_mono_ms();

    l->op = OP_NONE;
    l->mod_gen = ++c->gen;
    if (op == OP_GET) {
        after_get(c, l, res);
        goto out;
    }
    if (res->err == SL_ERR_STATE && res->lost_race) {
        if (op == OP_CREATE) /* someone else created it: fine */
            goto out;
        if (op == OP_TAKE) {
            sl_log_debug("kinesis", "shard %s: take lost to another worker", l->key);
            goto out;
        }
        if (op == OP_CHECKPOINT || op == OP_SHARD_END) {
            if (++l->ck_lost_races > l->c->kc->checkpoint_retries + 3) {
                lose(c, l, "its checkpoint kept failing its condition");
                goto out;
            }
        }
        if (op == OP_DELETE) /* changed since we looked: the next pass decides again */
            goto out;
        if (op == OP_EVICT) { /* not ours any more anyway */
            let_go(l);
            goto out;
        }
        handle_lost_race(c, l, op);
        goto out;
    }
    if (res->err != SL_OK) {
        sl_log(SL_LOG_WARN, "kinesis", "stream %s shard %s: lease table write failed: %s",
               c->k->stream, l->key, res->msg ? res->msg : sl_err_str(res->err));
        if (c->stopping)
            c->stop_failures++;
        if (op == OP_EVICT)
            let_go(l); /* it will expire; nothing else to do */
        goto out;
    }
    if (res->lease) {
        set_lease(l, res->lease);
        res->lease = NULL;
    }
    switch (op) {
    case OP_CREATE:
        sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: lease created (from %s)",
               c->k->stream, l->key,
               l->lease && l->lease->checkpoint ? l->lease->checkpoint : "?");
        scan(c); /* take it without waiting for the next taker pass */
        break;
    case OP_TAKE:
        /* Taken back while its partition still closes: running, its close comes next. */
        set_state(l, l->state == LS_LOST_OPEN ? LS_RUNNING : LS_HELD);
        l->renewed_ms = now;
        l->ck_lost_races = 0;
        sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: lease taken (checkpoint %s)",
               c->k->stream, l->key,
               l->lease && l->lease->checkpoint ? l->lease->checkpoint : "none");
        try_start(c, l);
        break;
    case OP_RENEW:
        l->renewed_ms = now;
        break;
    case OP_CHECKPOINT:
        l->renewed_ms = now;
        l->ck_written_ms = now;
        if ((c->stopping || sl_input_job_stopping(c->k->in)) && !l->stop_checkpointed) {
            /* A write already on the wire when the stop began lands here too: count leases. */
            l->stop_checkpointed = 1;
            c->stop_checkpoints++;
        }
        l->ck_lost_races = 0;
        /* A newer position may have arrived while this one was on the wire. */
        if (l->lease && l->lease->checkpoint && l->ck_seq &&
            !strcmp(l->lease->checkpoint, l->ck_seq) && l->lease->checkpoint_sub == l->ck_sub) {
            l->ck_dirty = 0;
            l->ck_force = 0;
        }
        sl_log_debug("kinesis", "shard %s: checkpoint %s.%" PRId64 " written", l->key,
                     l->lease && l->lease->checkpoint ? l->lease->checkpoint : "?",
                     l->lease ? l->lease->checkpoint_sub : 0);
        break;
    case OP_SHARD_END:
        l->ck_dirty = 0;
        /* Nothing left to read: give the finished lease up (held until the release lands);
         * lost while the write was on the wire, it is finished all the same. */
        set_state(l, is_held(l) ? LS_ENDED : LS_FINISHED);
        sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: finished (SHARD_END)", c->k->stream,
               l->key);
        /* Children waiting on it may start; the children themselves may be new. */
        kin_coord_sync(c);
        scan(c);
        break;
    case OP_EVICT:
        let_go(l);
        /* The workers' drain releases leases before in_stop() sets stopping: count those
         * the job's stop released either way. */
        if (c->stopping || sl_input_job_stopping(c->k->in))
            c->stop_released++;
        sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: lease released", c->k->stream,
               l->key);
        break;
    case OP_DELETE:
        l->in_table = 0;
        set_lease(l, NULL);
        sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: finished lease deleted (its "
               "children are under way)", c->k->stream, l->key);
        break;
    default:
        break;
    }
out:
    pump(c);
    stop_if_done(c);
}

/* ---- starting a shard ---------------------------------------------------------------------- */

static int parents_finished(kin_coord_t *c, clease_t *l) {
    char **parents = c->lt && l->lease ? l->lease->parents : l->parents;
    size_t n = c->lt && l->lease ? l->lease->n_parents : l->n_parents;
    for (size_t i = 0; i < n; i++) {
        clease_t *p = find(c, parents[i]);
        /* A parent without a lease was never read here or is long gone: not a blocker. */
        if (p && (p->in_table || !c->lt) && !end_known(p))
            return 0;
    }
    return 1;
}

static void try_start(kin_coord_t *c, clease_t *l) {
    kin_start_t st;
    const char *ck;
    sl_err_t err;

    /* Only HELD starts. A shard read to its end waits for its SHARD_END write (ENDING_*, then
     * ENDED until the release lands) and a released one for its release (RELEASING): opening
     * it again would hold the lease past both, and past the job's stop (0019 failed so in CI).
     * end_known(): an item that says SHARD_END is never read again, whatever wrote it. */
    if (c->stopping || l->state != LS_HELD || end_known(l) || busy(l) || l->unreadable ||
        sl_input_job_stopping(c->k->in))
        return;
    if (!parents_finished(c, l)) {
        if (!l->waiting_parents)
            sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: waiting for its parent shards "
                   "to be read to their end", c->k->stream, l->key);
        l->waiting_parents = 1;
        return;
    }
    l->waiting_parents = 0;
    memset(&st, 0, sizeof(st));
    ck = l->lease ? l->lease->checkpoint : NULL;
    st.pos = c->pos;
    st.ts_ms = c->kc->initpos_ts_ms;
    if (ck && !strcmp(ck, "TRIM_HORIZON"))
        st.pos = KIN_POS_TRIM_HORIZON;
    else if (ck && !strcmp(ck, "LATEST"))
        st.pos = KIN_POS_LATEST;
    else if (ck && !strcmp(ck, "AT_TIMESTAMP"))
        st.pos = KIN_POS_AT_TIMESTAMP;
    else if (ck && c->lt && !is_sentinel(ck)) {
        st.checkpoint = (char *)ck;
        st.sub = l->lease->checkpoint_sub;
    }
    /* The local store: the runtime hands part_open the shard's local checkpoint, if any. */
    st.use_runtime_offset = !c->lt;
    if (l->lease && l->lease->starting_hash_key && l->lease->ending_hash_key) {
        st.start_hash = l->lease->starting_hash_key;
        st.end_hash = l->lease->ending_hash_key;
    } else {
        st.start_hash = l->start_hash;
        st.end_hash = l->end_hash;
    }
    if (kin_input_set_start(c->k, l->key, &st) != SL_OK)
        return;
    err = sl_input_add_partition(c->k->in, l->key);
    if (err == SL_ERR_STATE)
        return; /* its previous run is still closing: next pass */
    if (err != SL_OK) {
        sl_log(SL_LOG_ERROR, "kinesis", "stream %s shard %s: cannot start: %s", c->k->stream,
               l->key, sl_err_str(err));
        return;
    }
    set_state(l, LS_RUNNING);
    if (st.use_runtime_offset) {
        char *off = NULL;
        int64_t sub = 0;
        if (sl_input_checkpoint_read(c->k->in, l->key, &off, &sub) == SL_OK && off) {
            sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: reading after checkpoint "
                   "%s.%" PRId64, c->k->stream, l->key, off, sub);
            free(off);
            return;
        }
        free(off);
    }
    if (st.checkpoint)
        sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: reading after checkpoint "
               "%s.%" PRId64, c->k->stream, l->key, st.checkpoint, st.sub);
    else
        sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: reading from %s", c->k->stream,
               l->key, pos_name(st.pos));
}

/* ---- shard sync ---------------------------------------------------------------------------- */

typedef struct sync_ctx {
    kin_shard_info_t *shards;
    size_t n;
    signed char *want; /* -1 unknown, 0 no, 1 root (initial position), 2 descendant */
} sync_ctx_t;

static kin_shard_info_t *shard_by_id(sync_ctx_t *s, const char *id) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->shards[i].id, id))
            return &s->shards[i];
    return NULL;
}

/* Whether shard i needs a lease and how it starts; has(id) = a lease (or a local checkpoint)
 * exists. Depth-bounded recursion over the parents (a listing has no cycles; the bound guards
 * against a malformed one). */
static int want_lease(kin_coord_t *c, sync_ctx_t *s, size_t i, int depth) {
    kin_shard_info_t *sh = &s->shards[i];
    const char *ps[2] = {sh->parent, sh->adjacent_parent};
    int desc = 0;
    if (s->want[i] >= 0)
        return s->want[i];
    if (depth > 64)
        return 0;
    for (int j = 0; j < 2; j++) {
        clease_t *pl;
        kin_shard_info_t *psh;
        if (!ps[j])
            continue;
        pl = find(c, ps[j]);
        if (pl && (pl->in_table || (!c->lt && end_known(pl))))
            desc = 1;
        else if ((psh = shard_by_id(s, ps[j])) &&
                 want_lease(c, s, (size_t)(psh - s->shards), depth + 1))
            desc = 1;
    }
    if (desc)
        s->want[i] = 2;
    else if (c->pos == KIN_POS_LATEST && sh->end_seq)
        s->want[i] = 0; /* a closed shard holds only old data */
    else
        s->want[i] = 1;
    return s->want[i];
}

static char **strv_of(const char *a, const char *b, size_t *n) {
    char **v = calloc(2, sizeof(*v));
    *n = 0;
    if (!v)
        return NULL;
    if (a)
        v[(*n)++] = sl_strdup(a);
    if (b)
        v[(*n)++] = sl_strdup(b);
    return v;
}

static void create_lease(kin_coord_t *c, clease_t *l, const kin_shard_info_t *sh, int how) {
    kin_lease_t lease;
    char *parents[2];
    size_t np = 0;

    memset(&lease, 0, sizeof(lease));
    lease.key = sh->id;
    lease.checkpoint = (char *)(how == 2 && c->pos != KIN_POS_AT_TIMESTAMP
                                    ? "TRIM_HORIZON" : pos_name(c->pos));
    if (sh->parent)
        parents[np++] = sh->parent;
    if (sh->adjacent_parent)
        parents[np++] = sh->adjacent_parent;
    lease.parents = np ? parents : NULL;
    lease.n_parents = np;
    lease.starting_hash_key = sh->start_hash;
    lease.ending_hash_key = sh->end_hash;
    begin(l, OP_CREATE);
    if (kin_lease_table_create(c->lt, &lease, op_done, l) != SL_OK)
        not_begun(l);
}

/* Shard ends waiting for a listing started after them: this one (done, or failed) was it. */
static void children_listed(kin_coord_t *c) {
    for (size_t i = 0; i < c->n; i++) {
        clease_t *l = c->leases[i];
        if (l->state == LS_ENDING_WAIT_CHILDREN && l->end_wait_list <= c->lists_started)
            set_state(l, LS_ENDING_WRITE);
    }
}

static void apply_listing(kin_coord_t *c, kin_shard_info_t *shards, size_t n) {
    sync_ctx_t s = {shards, n, NULL};
    if (n && !(s.want = malloc(n))) {
        sl_log(SL_LOG_ERROR, "kinesis", "out of memory in shard sync");
        return;
    }
    memset(s.want, 0xff, n);
    /* sqlite store: a shard with a local checkpoint is ours already (finished at SHARD_END);
     * all of them first, so their children know their parents' state. */
    for (size_t i = 0; !c->lt && i < n; i++) {
        kin_shard_info_t *sh = &shards[i];
        clease_t *l = find(c, sh->id);
        char *off = NULL;
        int64_t sub = 0;
        if (l || sl_input_checkpoint_read(c->k->in, sh->id, &off, &sub) != SL_OK)
            continue;
        if (!(l = get_or_add(c, sh->id))) {
            free(off);
            continue;
        }
        set_state(l, !strcmp(off, SENT_SHARD_END) ? LS_FINISHED : LS_HELD);
        free(off);
        l->parents = strv_of(sh->parent, sh->adjacent_parent, &l->n_parents);
        l->start_hash = sl_strdup(sh->start_hash);
        l->end_hash = sl_strdup(sh->end_hash);
    }
    /* Finished shards waiting to learn their children (the answer did not name them), from a
     * listing that started after their end was seen (an earlier one may predate the children). */
    for (size_t i = 0; i < c->n; i++) {
        clease_t *pl = c->leases[i];
        char **kids;
        size_t nk;
        if (pl->state != LS_ENDING_WAIT_CHILDREN || pl->end_wait_list > c->lists_started)
            continue;
        /* All of them or none: a shard end written with some children missing would leave
         * those unread for good. Out of memory, it waits for the next listing. */
        if (kin_coord_children(shards, n, pl->key, &kids, &nk) != SL_OK) {
            sl_log(SL_LOG_ERROR, "kinesis", "stream %s shard %s: out of memory collecting its "
                   "children (the next shard sync tries again)", c->k->stream, pl->key);
            pl->end_wait_list = c->lists_started + 1;
            c->sync_again = 1;
            continue;
        }
        strv_free(pl->children, pl->n_children);
        pl->children = kids;
        pl->n_children = nk;
    }
    children_listed(c);
    for (size_t i = 0; i < n; i++) {
        kin_shard_info_t *sh = &shards[i];
        clease_t *l = find(c, sh->id);
        int how;
        if (l && (l->in_table || is_held(l) || end_known(l)))
            continue;
        how = want_lease(c, &s, i, 0);
        if (!how)
            continue;
        if (!(l = get_or_add(c, sh->id)))
            continue;
        free(l->start_hash);
        free(l->end_hash);
        l->start_hash = sl_strdup(sh->start_hash);
        l->end_hash = sl_strdup(sh->end_hash);
        if (c->lt) {
            if (!busy(l))
                create_lease(c, l, sh, how);
        } else {
            /* One worker: the lease is ours, in memory. Descendants start at their first
             * record; roots at the initial position. */
            set_state(l, LS_HELD);
            l->parents = strv_of(sh->parent, sh->adjacent_parent, &l->n_parents);
            if (how == 2 && c->pos == KIN_POS_LATEST) {
                /* Read a child whole: write its start so part_open finds no offset and the
                 * start says TRIM_HORIZON. */
                l->lease = calloc(1, sizeof(*l->lease));
                if (l->lease) {
                    l->lease->key = sl_strdup(sh->id);
                    l->lease->checkpoint = sl_strdup("TRIM_HORIZON");
                }
            }
        }
    }
    free(s.want);
    if (!c->lt)
        for (size_t i = 0; i < c->n; i++)
            try_start(c, c->leases[i]);
    pump(c);
}

static void listed(void *opaque, sl_err_t err, const char *msg, kin_shard_info_t **shards,
                   size_t n) {
    kin_coord_t *c = opaque;
    c->listing_shards = 0;
    if (err != SL_OK) {
        sl_log(SL_LOG_WARN, "kinesis", "stream %s: ListShards failed: %s (next shard sync "
               "tries again)", c->k->stream, msg ? msg : sl_err_str(err));
    } else if (!c->stopping) {
        apply_listing(c, *shards, n);
    }
    /* A failed listing does not hold up a shard end waiting for it: written without children. */
    children_listed(c);
    pump(c);
    if (c->sync_again && !c->stopping) {
        c->sync_again = 0;
        kin_coord_sync(c);
    }
    stop_if_done(c);
}

void kin_coord_sync(kin_coord_t *c) {
    if (c->stopping || !c->ensured)
        return;
    if (c->listing_shards) {
        c->sync_again = 1;
        return;
    }
    sl_retry_policy_t retry = kin_backoff_policy(&c->kc->listshards);
    if (c->kc->ddb) {
        if (kin_ddb_list_shards(c->k->kinesis, c->kc->stream_arn, &retry, listed, c) == SL_OK) {
            c->listing_shards = 1;
            c->lists_started++;
        }
        return;
    }
    if (kin_list_shards(c->k->kinesis, c->kc->stream_arn && *c->kc->stream_arn ? NULL
                                                                              : c->k->stream,
                        c->kc->stream_arn && *c->kc->stream_arn ? c->kc->stream_arn : NULL,
                        NULL, 0, &retry, listed, c) == SL_OK) {
        c->listing_shards = 1;
        c->lists_started++;
    }
}

/* ---- the taker ----------------------------------------------------------------------------- */

typedef struct owner_count {
    const char *owner;
    int n;
} owner_count_t;

size_t kin_take_plan(const kin_take_view_t *v, size_t n, int max_for_worker, int max_steal,
                     uint64_t *rng, size_t *out, int *target_out) {
    size_t nactive = 0, held = 0, nexp = 0, nowners = 0, nout = 0;
    size_t *expired = NULL;
    owner_count_t *owners = NULL;
    int target = 0, need, stolen = 0;

    if (target_out)
        *target_out = 0;
    if (!n || !(expired = calloc(n, sizeof(*expired))) ||
        !(owners = calloc(n, sizeof(*owners))))
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        nactive++;
        if (v[i].held) {
            held++;
            continue;
        }
        if (v[i].expired || !v[i].owner) {
            if (!v[i].busy)
                expired[nexp++] = i;
            continue;
        }
        for (j = 0; j < nowners; j++)
            if (!strcmp(owners[j].owner, v[i].owner))
                break;
        if (j == nowners)
            owners[nowners++].owner = v[i].owner;
        owners[j].n++;
    }
    /* Live workers: owners of unexpired leases, and us. */
    target = (int)((nactive + nowners) / (nowners + 1));
    if (target > max_for_worker)
        target = max_for_worker;
    if (target_out)
        *target_out = target;
    need = target - (int)held;
    if (need <= 0)
        goto out;
    /* Expired and unowned leases first, in random order. */
    for (size_t i = nexp; i > 1; i--) {
        size_t j = (size_t)(sl_rand_next(rng) % i), t = expired[i - 1];
        expired[i - 1] = expired[j];
        expired[j] = t;
    }
    for (size_t i = 0; i < nexp && need > 0; i++, need--)
        out[nout++] = expired[i];
    /* Then steal from the most loaded workers down to the fair share, several per pass (the
     * KCL steals one lease from one worker per pass). */
    while (need > 0 && stolen < max_steal) {
        owner_count_t *most = NULL;
        size_t victim = n, cands = 0;
        for (size_t j = 0; j < nowners; j++)
            if (!most || owners[j].n > most->n)
                most = &owners[j];
        /* Over the share; or at it while we are two or more short (the KCL's rounding rule:
         * 3 workers on 7 leases settle at 3/2/2, not 3/3/1). */
        if (!most || !(most->n > target || (most->n == target && need > 1)))
            break;
        for (size_t i = 0; i < n; i++) {
            int chosen = 0;
            if (v[i].held || v[i].busy || v[i].expired || !v[i].owner ||
                strcmp(v[i].owner, most->owner) != 0)
                continue;
            for (size_t k = 0; k < nout; k++)
                chosen |= out[k] == i;
            if (!chosen && sl_rand_next(rng) % ++cands == 0)
                victim = i;
        }
        if (victim == n)
            break;
        out[nout++] = victim;
        most->n--;
        need--;
        stolen++;
    }
out:
    free(expired);
    free(owners);
    return nout;
}

static void take(kin_coord_t *c, clease_t *l) {
    const char *old = owner_of(l);
    begin(l, OP_TAKE);
    if (kin_lease_table_take(c->lt, l->key, l->seen_counter, old, c->worker_id, op_done, l) !=
        SL_OK)
        not_begun(l);
}

static void take_pass(kin_coord_t *c) {
    int64_t now = sl_mono_ms();
    kin_take_view_t *v = NULL;
    clease_t **which = NULL;
    size_t n = 0, *plan = NULL, nplan;
    int target;

    if (!c->n || !(v = calloc(c->n, sizeof(*v))) || !(which = calloc(c->n, sizeof(*which))) ||
        !(plan = calloc(c->n, sizeof(*plan))))
        goto out;
    for (size_t i = 0; i < c->n; i++) {
        clease_t *l = c->leases[i];
        const char *o = owner_of(l);
        if (!l->in_table || end_known(l) || l->unreadable)
            continue;
        which[n] = l;
        v[n].owner = o;
        v[n].held = is_held(l);
        v[n].busy = busy(l);
        /* Ours by id but not held: left by our previous run (the id is stable), take it back
         * at once. Else expired when its counter stood still for the failover time. */
        v[n].expired = !is_held(l) && (!o || !strcmp(o, c->worker_id) ||
                                    now - l->changed_ms > c->kc->failover_ms);
        n++;
    }
    nplan = kin_take_plan(v, n, c->kc->max_leases_for_worker, c->kc->max_leases_to_steal,
                          &c->rng, plan, &target);
    for (size_t i = 0; i < nplan; i++) {
        clease_t *l = which[plan[i]];
        if (!v[plan[i]].expired)
            sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: stealing it from %s (fair "
                   "share %d)", c->k->stream, l->key, owner_of(l), target);
        take(c, l);
    }
out:
    free(v);
    free(which);
    free(plan);
}

static void scan(kin_coord_t *c);

/* aws.kcl.CleanupLeasesUponShardCompletion: a worker (the last owner, or any once it released
 * it; the delete is conditional on the counter, so one wins) deletes a finished shard's lease
 * once every child has a lease that moved past its starting position (so nobody will
 * wait on the parent again, and a restart cannot re-read it). */
static void cleanup(kin_coord_t *c, clease_t *l) {
    if (!end_known(l) || !l->in_table || busy(l) || !l->lease ||
        (owner_of(l) && !is_mine(c, l)) || !l->lease->n_children)
        return;
    for (size_t i = 0; i < l->lease->n_children; i++) {
        clease_t *ch = find(c, l->lease->children[i]);
        const char *ck = ch && ch->in_table && ch->lease ? ch->lease->checkpoint : NULL;
        if (!ck || (is_sentinel(ck) && strcmp(ck, SENT_SHARD_END) != 0))
            return;
    }
    begin(l, OP_DELETE);
    if (kin_lease_table_delete(c->lt, l->key, l->seen_counter, op_done, l) != SL_OK)
        not_begun(l);
}

static int bad_known(const kin_coord_t *c, const char *item) {
    for (size_t i = 0; i < c->n_bad_items; i++)
        if (!strcmp(c->bad_items[i], item))
            return 1;
    return 0;
}

/* Items of the table that are not leases. Their shards are not ours to decide: the KCL cannot
 * read such an item either, so taking it over (or creating a fresh lease in its place) could
 * resume a shard another worker holds, or from the wrong position. They stay as they are, their
 * shards unread here (children wait for them as for any unfinished parent), until someone
 * repairs or deletes the item. One warning per item content, not one per listing. */
static void note_bad_items(kin_coord_t *c, const kin_lease_bad_t *bad, size_t n) {
    char **now = n ? calloc(n, sizeof(*now)) : NULL;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const kin_lease_bad_t *b = &bad[i];
        clease_t *l;
        if (!bad_known(c, b->item))
            sl_log(SL_LOG_WARN, "kinesis", "stream %s: lease table %s: item %s%s skipped: %s "
                   "(left untouched: not taken, written or read from until it is repaired or "
                   "deleted)", c->k->stream, c->table, b->key ? "leaseKey=" : "without a usable "
                   "leaseKey", b->key ? b->key : "", b->problems);
        if (now && (now[kept] = sl_strdup(b->item)))
            kept++;
        if (!b->key || !(l = get_or_add(c, b->key)))
            continue;
        l->in_table = 1;
        l->unreadable = 1;
        if (busy(l))
            continue; /* our write in flight says what it became */
        lose(c, l, "its item can no longer be read"); /* first: FINISHED if it said SHARD_END */
        set_lease(l, NULL);
    }
    strv_free(c->bad_items, c->n_bad_items);
    c->bad_items = now;
    c->n_bad_items = kept;
}

static void scanned(void *opaque, kin_lease_result_t *res) {
    kin_coord_t *c = opaque;
    c->scanning = 0;
    if (c->scan_again) {
        c->scan_again = 0;
        scan(c);
    }
    if (res->err != SL_OK) {
        sl_log(SL_LOG_WARN, "kinesis", "stream %s: cannot list the lease table %s: %s",
               c->k->stream, c->table, res->msg ? res->msg : sl_err_str(res->err));
        stop_if_done(c);
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        c->leases[i]->in_table = 0;
        c->leases[i]->unreadable = 0;
    }
    sl_log_debug("lease", "stream %s: lease table %s listed: %zu lease(s), %zu unreadable "
                 "item(s)", c->k->stream, c->table, res->n_leases, res->n_bad);
    note_bad_items(c, res->bad, res->n_bad);
    for (size_t i = 0; i < res->n_leases; i++) {
        kin_lease_t *lease = res->leases[i];
        clease_t *l = get_or_add(c, lease->key);
        if (!l)
            continue;
        l->in_table = 1;
        /* Our own writes since the scan began are newer than what it read. */
        if (busy(l) || l->mod_gen > c->scan_gen)
            continue;
        set_lease(l, lease);
        res->leases[i] = NULL;
        if (is_held(l) && !is_mine(c, l))
            lose(c, l, owner_of(l) ? "another worker took it" : "someone released it");
    }
    for (size_t i = 0; i < c->n; i++) {
        clease_t *l = c->leases[i];
        if (!l->in_table && is_held(l) && !busy(l) && l->mod_gen <= c->scan_gen)
            lose(c, l, "its item is gone from the table");
    }
    if (!c->synced_once) {
        c->synced_once = 1;
        kin_coord_sync(c);
    }
    if (!c->stopping) {
        take_pass(c);
        for (size_t i = 0; i < c->n; i++)
            try_start(c, c->leases[i]);
        if (c->kc->cleanup_leases)
            for (size_t i = 0; i < c->n; i++)
                cleanup(c, c->leases[i]);
    }
    stop_if_done(c);
}

static void scan(kin_coord_t *c) {
    if (!c->lt || !c->ensured || c->stopping)
        return;
    if (c->scanning) {
        c->scan_again = 1;
        return;
    }
    c->scan_gen = c->gen;
    if (kin_lease_table_list(c->lt, scanned, c) == SL_OK)
        c->scanning = 1;
}

static void take_cb(evutil_socket_t fd, short what, void *arg) {
    kin_coord_t *c = arg;
    (void)fd;
    (void)what;
    if (!c->stopping)
        scan(c);
}

/* ---- the renewer and the checkpoint writer ------------------------------------------------- */

/* Starts what each lease owes, one operation per lease. */
static void pump(kin_coord_t *c) {
    int64_t now = sl_mono_ms();
    if (!c->lt)
        return;
    for (size_t i = 0; i < c->n; i++) {
        clease_t *l = c->leases[i];
        if (busy(l) || !is_held(l))
            continue;
        if (l->state == LS_ENDING_WRITE) {
            write_shard_end(c, l);
        } else if (l->ck_dirty && l->ck_seq &&
                   (l->ck_force || c->stopping ||
                    now - l->ck_written_ms >= c->kc->checkpoint_interval_ms)) {
            write_checkpoint(c, l);
        } else if ((l->state == LS_RELEASING || l->state == LS_ENDED) && !l->ck_dirty) {
            begin(l, OP_EVICT);
            if (kin_lease_table_evict(c->lt, l->key, c->worker_id, op_done, l) != SL_OK) {
                not_begun(l);
                /* Left to expire (ours by id: our next taker pass may take it back, unless it
                 * ended). Never back to HELD from here: only a take leads there. */
                let_go(l);
            }
        }
    }
}

static void pump_cb(evutil_socket_t fd, short what, void *arg) {
    kin_coord_t *c = arg;
    (void)fd;
    (void)what;
    pump(c);
    stop_if_done(c);
}

static void renew_cb(evutil_socket_t fd, short what, void *arg) {
    kin_coord_t *c = arg;
    int64_t now = sl_mono_ms();
    (void)fd;
    (void)what;
    for (size_t i = 0; i < c->n; i++) {
        clease_t *l = c->leases[i];
        if (!is_held(l))
            continue;
        /* Unable to prove it is still ours for a whole failover time: others may have it. */
        if (now - l->renewed_ms > c->kc->failover_ms) {
            lose(c, l, "not renewed within aws.kcl.FailoverTimeMillis");
            continue;
        }
        if (busy(l))
            continue;
        begin(l, OP_RENEW);
        if (kin_lease_table_renew(c->lt, l->key, l->seen_counter, c->worker_id, op_done, l) !=
            SL_OK)
            not_begun(l);
    }
    /* Shards waiting on parents: parents' progress shows in the next scan; poll for it at
     * aws.kcl.ParentShardPollIntervalMillis at least. */
    pump(c);
}

static void parent_cb(evutil_socket_t fd, short what, void *arg) {
    kin_coord_t *c = arg;
    (void)fd;
    (void)what;
    for (size_t i = 0; i < c->n; i++)
        if (c->leases[i]->waiting_parents && is_held(c->leases[i])) {
            scan(c); /* re-reads the parents; try_start follows */
            return;
        }
}

/* ---- messages from the shards -------------------------------------------------------------- */

void kin_coord_message(kin_coord_t *c, kin_msg_t *m) {
    clease_t *l = find(c, m->shard);
    if (!l)
        goto out;
    if (m->kind == KIN_MSG_CHECKPOINT) {
        /* The local store has it already; only a lease table needs the write. */
        if (!is_held(l) || !c->lt)
            goto out;
        if (l->ck_seq && !kin_xseq_cmp(l->ck_seq, l->ck_sub, m->seq, m->sub))
            goto out;
        /* Never backwards: the runtime commits in order, but be sure. */
        if (l->ck_seq && kin_xseq_cmp(m->seq, m->sub, l->ck_seq, l->ck_sub) < 0)
            goto out;
        free(l->ck_seq);
        l->ck_seq = m->seq;
        m->seq = NULL;
        l->ck_sub = m->sub;
        l->ck_dirty = 1;
        pump(c);
        goto out;
    }
    /* KIN_MSG_CLOSED (a close of an earlier run of ours may come late: any state) */
    if (l->state == LS_RUNNING)
        set_state(l, LS_HELD);
    else if (l->state == LS_LOST_OPEN)
        let_go(l);
    if (m->shard_end) {
        if (!c->lt) {
            sl_input_checkpoint_write(c->k->in, l->key, SENT_SHARD_END, 0);
            set_state(l, LS_FINISHED);
            sl_log(SL_LOG_INFO, "kinesis", "stream %s shard %s: finished (SHARD_END)",
                   c->k->stream, l->key);
            kin_coord_sync(c);
            goto out;
        }
        if (!is_held(l))
            goto out;
        /* Children named by GetRecords; else a listing started from now on names them (what
         * the leases known here say may be part of them: one child's lease can be in the table
         * before its sibling's). */
        strv_free(l->children, l->n_children);
        if (kin_coord_children(m->children, m->n_children, NULL, &l->children,
                               &l->n_children) != SL_OK)
            /* Never a part of them: without any, the next listing names them all. */
            sl_log(SL_LOG_WARN, "kinesis", "stream %s shard %s: out of memory copying its "
                   "children: waiting for the next shard listing to name them", c->k->stream,
                   l->key);
        /* Child leases the answer described are created now rather than at the next sync. */
        for (size_t i = 0; i < m->n_children; i++) {
            kin_shard_info_t *ch = &m->children[i];
            clease_t *cl;
            if (!ch->id || ((cl = find(c, ch->id)) && cl->in_table) ||
                !(cl = get_or_add(c, ch->id)) || busy(cl))
                continue;
            create_lease(c, cl, ch, 2);
        }
        l->ck_dirty = 0;
        /* ENDED has written it. A lease released while stopping writes SHARD_END first when
         * the children are known, else is released unended (its next owner ends it). */
        if (l->n_children) {
            if (l->state != LS_ENDED)
                set_state(l, LS_ENDING_WRITE);
        } else {
            /* Not named (kinesalite omits ChildShards): the next listing will say. */
            l->end_wait_list = c->lists_started + 1;
            if (l->state != LS_ENDED && l->state != LS_RELEASING)
                set_state(l, LS_ENDING_WAIT_CHILDREN);
            kin_coord_sync(c);
        }
        pump(c);
        goto out;
    }
    if (m->why == SL_CLOSE_RELEASED || m->why == SL_CLOSE_SHUTDOWN || m->why == SL_CLOSE_FAILED) {
        /* Final position first (forced), then the release. */
        if (is_held(l) && c->lt)
            release(l);
        pump(c);
    }
out:
    kin_msg_free(m);
    stop_if_done(c);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* A call the input cannot start without failed with a retryable error: 1 when it is to be tried
 * again (before task.start.timeout), else 0 after failing the job with why. */
static int start_retry(kin_coord_t *c, const char *why) {
    int64_t deadline = sl_input_start_deadline(c->k->in);
    if (!deadline || sl_mono_ms() < deadline)
        return 1;
    sl_input_abort(c->k->in, "stream %s: %s; giving up at start (task.start.timeout)",
                   c->k->stream, why);
    return 0;
}

/* Arms the next try of the start (describe, then the lease table) after the describe backoff's
 * cap, or when task.start.timeout ends if that comes first: one last try then. */
static void start_again(kin_coord_t *c) {
    int64_t delay = c->kc->describe.max_ms, deadline = sl_input_start_deadline(c->k->in);
    struct timeval tv;
    if (deadline && delay > deadline - sl_mono_ms())
        delay = deadline - sl_mono_ms() > 0 ? deadline - sl_mono_ms() : 0;
    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)((delay % 1000) * 1000);
    event_add(c->describe_ev, &tv);
}

static void ensured(void *opaque, kin_lease_result_t *res) {
    kin_coord_t *c = opaque;
    struct timeval tv;
    if (res->err == SL_ERR_RETRY || res->err == SL_ERR_IO) {
        /* The endpoint is failing (the AWS client warned): again until task.start.timeout. */
        char why[768];
        snprintf(why, sizeof(why), "%s (DynamoDB at %s)",
                 res->msg ? res->msg : sl_err_str(res->err), sl_aws_client_endpoint(c->k->dynamodb));
        if (start_retry(c, why))
            start_again(c);
        return;
    }
    if (res->err != SL_OK) {
        sl_log(SL_LOG_ERROR, "kinesis", "stream %s: lease table %s: %s", c->k->stream, c->table,
               res->msg ? res->msg : sl_err_str(res->err));
        /* Without its lease table the input cannot read anything: fail the job loudly. */
        sl_input_abort(c->k->in, "lease table %s: %s", c->table,
                       res->msg ? res->msg : sl_err_str(res->err));
        return;
    }
    if (res->created)
        sl_log(SL_LOG_INFO, "kinesis", "stream %s: created lease table %s", c->k->stream,
               c->table);
    c->ensured = 1;
    tv.tv_sec = (time_t)(c->renew_ms / 1000);
    tv.tv_usec = (suseconds_t)((c->renew_ms % 1000) * 1000);
    event_add(c->renew_ev, &tv);
    tv.tv_sec = (time_t)(c->take_ms / 1000);
    tv.tv_usec = (suseconds_t)((c->take_ms % 1000) * 1000);
    event_add(c->take_ev, &tv);
    tv.tv_sec = (time_t)(c->kc->parent_poll_ms / 1000);
    tv.tv_usec = (suseconds_t)((c->kc->parent_poll_ms % 1000) * 1000);
    event_add(c->parent_ev, &tv);
    scan(c); /* the first scan is followed by the first shard sync */
}

kin_coord_t *kin_coord_new(kin_input_t *k, char *errstr, size_t errlen) {
    kin_coord_t *c = calloc(1, sizeof(*c));
    const kin_conf_t *kc = k->kc;
    struct event_base *base = sl_input_base(k->in);
    char host[256], buf[1024];

    if (!c) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    c->k = k;
    c->kc = kc;
    c->rng = (uint64_t)sl_now_ms() ^ ((uint64_t)getpid() << 32);
    c->pos = kc->initpos_e;
    if (c->pos == KIN_POS_DEFAULT)
        c->pos = sl_input_start_upcoming(k->in) ? KIN_POS_LATEST : KIN_POS_TRIM_HORIZON;
    if (kc->worker_id && *kc->worker_id) {
        c->worker_id = sl_strdup(kc->worker_id);
    } else {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(buf, sizeof(buf), "%s:%s-%s", host, sl_input_job_name(k->in),
                 sl_input_job_id(k->in));
        c->worker_id = sl_strdup(buf);
    }
    c->table = sl_strdup(kin_table_name(k->in, kc, buf, sizeof(buf)));
    c->renew_ms = kc->failover_ms / 3 - kc->epsilon_ms;
    if (c->renew_ms < 50)
        c->renew_ms = 50;
    c->take_ms = kc->take_interval_ms > 0 ? kc->take_interval_ms
                                          : (kc->failover_ms + kc->epsilon_ms) * 2;
    if (!c->worker_id || !c->table ||
        !(c->renew_ev = event_new(base, -1, EV_PERSIST, renew_cb, c)) ||
        !(c->take_ev = event_new(base, -1, EV_PERSIST, take_cb, c)) ||
        !(c->pump_ev = event_new(base, -1, 0, pump_cb, c)) ||
        !(c->parent_ev = event_new(base, -1, EV_PERSIST, parent_cb, c)) ||
        !(c->grace_ev = event_new(base, -1, 0, grace_cb, c)) ||
        !(c->describe_ev = event_new(base, -1, 0, describe_cb, c))) {
        snprintf(errstr, errlen, "out of memory");
        kin_coord_destroy(c);
        return NULL;
    }
    if (k->store == KIN_STORE_DYNAMODB &&
        !(c->lt = kin_lease_table_new(k->dynamodb, base, c->table, errstr, errlen))) {
        kin_coord_destroy(c);
        return NULL;
    }
    return c;
}

/* After the stream checked out: the lease table (or straight to the first shard sync). */
static void begin_leasing(kin_coord_t *c) {
    c->described = 1;
    if (!c->lt) {
        c->ensured = 1;
        kin_coord_sync(c);
        return;
    }
    sl_log(SL_LOG_INFO, "kinesis", "stream %s: worker %s, lease table %s", c->k->stream,
           c->worker_id, c->table);
    if (kin_lease_table_ensure(c->lt, c->kc->create_table, ensured, c) != SL_OK)
        sl_input_abort(c->k->in, "cannot start checking lease table %s", c->table);
}

static void describe(kin_coord_t *c);

static const char *describe_call(const kin_coord_t *c) {
    return c->kc->ddb ? "DescribeStream" : "DescribeStreamSummary";
}

static void described(void *opaque, const sl_aws_result_t *res) {
    kin_coord_t *c = opaque;
    const char *status = NULL;
    struct timeval tv = {1, 0};
    if (c->stopping)
        return;
    if (res->err == SL_OK) {
        status = json_string_value(json_object_get(
            json_object_get(res->result, c->kc->ddb ? "StreamDescription"
                                                    : "StreamDescriptionSummary"),
            "StreamStatus"));
        if (status && (!strcmp(status, "CREATING") || !strcmp(status, "ENABLING"))) {
            sl_log(SL_LOG_INFO, "kinesis", "stream %s is being created: waiting", c->k->stream);
            event_add(c->describe_ev, &tv);
            return;
        }
        if (status && !strcmp(status, "DELETING")) {
            sl_input_abort(c->k->in, "stream %s is being deleted", c->k->stream);
            return;
        }
        begin_leasing(c);
        return;
    }
    if (res->type && !strcmp(res->type, "ResourceNotFoundException")) {
        sl_input_abort(c->k->in, "stream %s does not exist at %s (%s: %s)",
                       c->kc->ddb ? c->kc->stream_arn : c->k->stream,
                       sl_aws_client_endpoint(c->k->kinesis), describe_call(c),
                       res->message ? res->message : "not found");
        return;
    }
    if (res->err == SL_ERR_INVAL && res->type &&
        (!strcmp(res->type, "UnknownOperationException") ||
         !strcmp(res->type, "InvalidAction"))) {
        /* A stand-in without the call: ListShards will tell. */
        begin_leasing(c);
        return;
    }
    if (res->err == SL_ERR_INVAL) {
        sl_input_abort(c->k->in, "stream %s: %s failed: %s%s%s",
                       c->kc->ddb ? c->kc->stream_arn : c->k->stream, describe_call(c),
                       res->type ? res->type : "error",
                       res->message ? ": " : "", res->message ? res->message : "");
        return;
    }
    {
        char why[512];
        snprintf(why, sizeof(why), "%s at %s failed: %s", describe_call(c),
                 sl_aws_client_endpoint(c->k->kinesis),
                 res->message ? res->message : sl_err_str(res->err));
        if (!start_retry(c, why))
            return;
        sl_log(SL_LOG_WARN, "kinesis", "stream %s: %s; trying again", c->k->stream, why);
    }
    start_again(c);
}

static void describe(kin_coord_t *c) {
    sl_retry_policy_t retry = kin_backoff_policy(&c->kc->describe);
    json_t *body = json_object();
    retry.deadline_ms = sl_input_start_deadline(c->k->in);
    if (c->kc->ddb) {
        json_object_set_new(body, "StreamArn", json_string(c->kc->stream_arn));
        json_object_set_new(body, "Limit", json_integer(1));
    } else if (c->kc->stream_arn && *c->kc->stream_arn) {
        json_object_set_new(body, "StreamARN", json_string(c->kc->stream_arn));
    } else {
        json_object_set_new(body, "StreamName", json_string(c->k->stream));
    }
    if (sl_aws_call(c->k->kinesis, describe_call(c), body, &retry, described, c) != SL_OK)
        sl_input_abort(c->k->in, "cannot call %s", describe_call(c));
}

static void describe_cb(evutil_socket_t fd, short what, void *arg) {
    kin_coord_t *c = arg;
    (void)fd;
    (void)what;
    if (c->described)
        begin_leasing(c); /* the lease table failed to answer: ask again */
    else
        describe(c);
}

sl_err_t kin_coord_start(kin_coord_t *c) {
    describe(c);
    return SL_OK;
}

static int outstanding(kin_coord_t *c) {
    if (c->listing_shards || c->scanning)
        return 1;
    for (size_t i = 0; i < c->n; i++) {
        clease_t *l = c->leases[i];
        if (busy(l) || (is_held(l) && (l->ck_dirty || l->state > LS_RUNNING)))
            return 1; /* a checkpoint, a shard end or a release still owed */
    }
    return 0;
}

static void stop_if_done(kin_coord_t *c) {
    if (!c->stopping || c->stopped || outstanding(c))
        return;
    c->stopped = 1;
    if (c->lt && c->stop_failures)
        sl_log(SL_LOG_WARN, "kinesis", "stream %s: stopped; %d lease table write(s) failed: "
               "those shards resume from their last written checkpoint, their leases expire "
               "after aws.kcl.FailoverTimeMillis", c->k->stream, c->stop_failures);
    else if (c->lt && c->stop_checkpoints)
        sl_log(SL_LOG_INFO, "kinesis", "stream %s: stopped: %d final checkpoint(s) written, "
               "%d lease(s) released", c->k->stream, c->stop_checkpoints, c->stop_released);
    else if (c->lt && c->stop_released)
        sl_log(SL_LOG_INFO, "kinesis", "stream %s: stopped: %d lease(s) released (their "
               "checkpoints were up to date)", c->k->stream, c->stop_released);
    else if (c->lt)
        sl_log_debug("lease", "stream %s: stopped holding no lease", c->k->stream);
    sl_input_stopped(c->k->in);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg) {
    kin_coord_t *c = arg;
    (void)fd;
    (void)what;
    if (c->stopped)
        return;
    sl_log(SL_LOG_WARN, "kinesis", "stream %s: lease table writes unfinished after "
           "aws.kcl.ShutdownGraceMillis; the remaining leases expire after the failover time",
           c->k->stream);
    c->stopped = 1;
    sl_input_stopped(c->k->in);
}

void kin_coord_stop(kin_coord_t *c) {
    c->stopping = 1;
    if (c->grace_ev) {
        struct timeval tv = {(time_t)(c->kc->shutdown_grace_ms / 1000),
                             (suseconds_t)((c->kc->shutdown_grace_ms % 1000) * 1000)};
        event_add(c->grace_ev, &tv);
    }
    if (c->parent_ev)
        event_del(c->parent_ev);
    if (c->describe_ev)
        event_del(c->describe_ev);
    if (c->renew_ev)
        event_del(c->renew_ev);
    if (c->take_ev)
        event_del(c->take_ev);
    if (c->lt)
        for (size_t i = 0; i < c->n; i++) {
            clease_t *l = c->leases[i];
            /* Running ones too: the job's stop closes their partitions. */
            if (is_held(l) && !end_known(l))
                release(l);
        }
    pump(c);
    stop_if_done(c);
}

void kin_coord_destroy(kin_coord_t *c) {
    if (!c)
        return;
    kin_lease_table_destroy(c->lt);
    kin_list_shards_cancel(c->k->kinesis, c);
    if (c->renew_ev)
        event_free(c->renew_ev);
    if (c->take_ev)
        event_free(c->take_ev);
    if (c->pump_ev)
        event_free(c->pump_ev);
    if (c->parent_ev)
        event_free(c->parent_ev);
    if (c->grace_ev)
        event_free(c->grace_ev);
    if (c->describe_ev)
        event_free(c->describe_ev);
    sl_aws_cancel(c->k->kinesis, c);
    for (size_t i = 0; i < c->n; i++)
        clease_free(c->leases[i]);
    free(c->leases);
    strv_free(c->bad_items, c->n_bad_items);
    free(c->worker_id);
    free(c->table);
    free(c);
}
