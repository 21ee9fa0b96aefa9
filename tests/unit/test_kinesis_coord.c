/*
 * test_kinesis_coord.c: the lease taker's decisions (kin_take_plan): the fair share, taking
 * expired leases first, stealing several leases per pass from the most loaded workers, the
 * KCL's rounding rule, the caps, and a simulation of workers joining and leaving that must
 * converge to the fair share and then stay put. Then the lease state machine's move table:
 * nothing read to its end can be opened again.
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "../../connectors/kinesis/kinesis.h"
#include "unit.h"

#define MAXL 64

/* A table of n leases with owner names ("A", "B", ... or NULL). */
typedef struct world {
    const char *owner[MAXL];
    int expired[MAXL];
    size_t n;
} world_t;

static size_t plan_for(const world_t *w, const char *me, int max_for, int max_steal,
                       uint64_t *rng, size_t *out, int *target) {
    kin_take_view_t v[MAXL];
    memset(v, 0, sizeof(v));
    for (size_t i = 0; i < w->n; i++) {
        v[i].owner = w->owner[i];
        v[i].held = w->owner[i] && !strcmp(w->owner[i], me);
        v[i].expired = !v[i].held && (!w->owner[i] || w->expired[i]);
    }
    return kin_take_plan(v, w->n, max_for, max_steal, rng, out, target);
}

static int count(const world_t *w, const char *who) {
    int c = 0;
    for (size_t i = 0; i < w->n; i++)
        c += w->owner[i] && !strcmp(w->owner[i], who);
    return c;
}

static void apply(world_t *w, const char *me, const size_t *out, size_t k) {
    for (size_t i = 0; i < k; i++) {
        w->owner[out[i]] = me;
        w->expired[out[i]] = 0;
    }
}

static void fill(world_t *w, size_t n, const char *owners) {
    memset(w, 0, sizeof(*w));
    w->n = n;
    for (size_t i = 0; i < n; i++)
        w->owner[i] = owners[i] == '-' ? NULL : (owners[i] == 'A' ? "A" : owners[i] == 'B' ? "B"
                                                 : owners[i] == 'C' ? "C" : "D");
}

static void test_join_takes_half_in_one_pass(void) {
    world_t w;
    size_t out[MAXL], k;
    int target;
    uint64_t rng = 7;
    fill(&w, 8, "AAAAAAAA");
    k = plan_for(&w, "B", 1000, 8, &rng, out, &target);
    CU_ASSERT_EQUAL(target, 4);
    CU_ASSERT_EQUAL(k, 4);
    for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < k; j++)
            CU_ASSERT_NOT_EQUAL(out[i], out[j]);
    apply(&w, "B", out, k);
    CU_ASSERT_EQUAL(count(&w, "A"), 4);
    CU_ASSERT_EQUAL(count(&w, "B"), 4);
    /* The KCL's default of one steal per pass. */
    fill(&w, 8, "AAAAAAAA");
    CU_ASSERT_EQUAL(plan_for(&w, "B", 1000, 1, &rng, out, &target), 1);
}

static void test_third_worker_settles_332(void) {
    world_t w;
    size_t out[MAXL], k;
    int target;
    uint64_t rng = 11;
    fill(&w, 8, "AAAABBBB");
    k = plan_for(&w, "C", 1000, 8, &rng, out, &target);
    CU_ASSERT_EQUAL(target, 3);
    CU_ASSERT_EQUAL(k, 2);
    apply(&w, "C", out, k);
    CU_ASSERT_EQUAL(count(&w, "A"), 3);
    CU_ASSERT_EQUAL(count(&w, "B"), 3);
    CU_ASSERT_EQUAL(count(&w, "C"), 2);
    /* Stable: nobody takes anything any more. */
    CU_ASSERT_EQUAL(plan_for(&w, "A", 1000, 8, &rng, out, &target), 0);
    CU_ASSERT_EQUAL(plan_for(&w, "B", 1000, 8, &rng, out, &target), 0);
    CU_ASSERT_EQUAL(plan_for(&w, "C", 1000, 8, &rng, out, &target), 0);
}

static void test_rounding_rule(void) {
    world_t w;
    size_t out[MAXL], k;
    int target;
    uint64_t rng = 3;
    /* 7 leases, A 4, B 3, C none: C reaches 2 (A 2, B 3), not 1. */
    fill(&w, 7, "AAAABBB");
    k = plan_for(&w, "C", 1000, 8, &rng, out, &target);
    CU_ASSERT_EQUAL(target, 3);
    CU_ASSERT_EQUAL(k, 2);
    apply(&w, "C", out, k);
    CU_ASSERT_EQUAL(count(&w, "C"), 2);
    CU_ASSERT_EQUAL(count(&w, "A") + count(&w, "B"), 5);
    CU_ASSERT_EQUAL(plan_for(&w, "A", 1000, 8, &rng, out, &target), 0);
    CU_ASSERT_EQUAL(plan_for(&w, "B", 1000, 8, &rng, out, &target), 0);
    CU_ASSERT_EQUAL(plan_for(&w, "C", 1000, 8, &rng, out, &target), 0);
}

static void test_expired_first_and_dead_workers_not_counted(void) {
    world_t w;
    size_t out[MAXL], k;
    int target;
    uint64_t rng = 5;
    /* A died (its 4 leases expired), B lives with 4: the share is 4 and the expired ones
     * are taken, nothing is stolen from B. */
    fill(&w, 8, "AAAABBBB");
    for (int i = 0; i < 4; i++)
        w.expired[i] = 1;
    k = plan_for(&w, "C", 1000, 8, &rng, out, &target);
    CU_ASSERT_EQUAL(target, 4);
    CU_ASSERT_EQUAL(k, 4);
    for (size_t i = 0; i < k; i++)
        CU_ASSERT(out[i] < 4);
    /* Unowned leases are free at once; the share caps what is taken. */
    fill(&w, 6, "------");
    k = plan_for(&w, "A", 1000, 8, &rng, out, &target);
    CU_ASSERT_EQUAL(k, 6);
    k = plan_for(&w, "A", 2, 8, &rng, out, &target);
    CU_ASSERT_EQUAL(target, 2);
    CU_ASSERT_EQUAL(k, 2);
}

static void test_busy_leases_left_alone(void) {
    kin_take_view_t v[4];
    size_t out[4];
    int target;
    uint64_t rng = 9;
    memset(v, 0, sizeof(v));
    v[0].busy = 1;              /* unowned but an operation is in flight */
    v[1].owner = "A";
    v[1].busy = 1;
    v[2].owner = "A";
    v[3].owner = "A";
    size_t k = kin_take_plan(v, 4, 1000, 8, &rng, out, &target);
    /* Share 2 (A and us over 4 leases): two of A's three... only 2 and 3 are eligible. */
    CU_ASSERT_EQUAL(target, 2);
    for (size_t i = 0; i < k; i++)
        CU_ASSERT(out[i] == 2 || out[i] == 3);
    CU_ASSERT_EQUAL(kin_take_plan(v, 0, 1000, 8, &rng, out, &target), 0);
}

/* Workers join one by one, then one dies; each round every live worker runs one pass on the
 * table as it is. The table must reach the fair share and then not move. */
static void test_simulation_converges_and_stays(void) {
    const char *names[4] = {"A", "B", "C", "D"};
    for (uint64_t seed = 1; seed <= 20; seed++) {
        world_t w;
        size_t out[MAXL];
        int target, live = 1, moved = 0;
        uint64_t rng = seed;
        fill(&w, 16, "----------------");
        for (int round = 0; round < 40; round++) {
            if (round == 5 || round == 10 || round == 15)
                live++;
            if (round == 25) { /* D dies: its leases expire */
                for (size_t i = 0; i < w.n; i++)
                    if (w.owner[i] && !strcmp(w.owner[i], "D"))
                        w.expired[i] = 1;
                live = 3;
            }
            for (int k = 0; k < live; k++) {
                size_t m = plan_for(&w, names[k], 1000, 8, &rng, out, &target);
                apply(&w, names[k], out, m);
                if (round >= 30)
                    moved += (int)m;
            }
        }
        int a = count(&w, "A"), b = count(&w, "B"), c = count(&w, "C");
        CU_ASSERT_EQUAL(a + b + c, 16);
        CU_ASSERT(a >= 5 && a <= 6 && b >= 5 && b <= 6 && c >= 5 && c <= 6);
        CU_ASSERT_EQUAL(moved, 0);
    }
}

static int state_of(const char *name) {
    for (int st = 0; st < kin_lease_states(); st++)
        if (!strcmp(kin_lease_state_name(st), name))
            return st;
    CU_FAIL("no such lease state");
    return 0;
}

/* Whether to can be reached from from without passing through avoid (a set of states). */
static int reachable(int from, int to, unsigned avoid) {
    unsigned seen = 1u << from, todo = 1u << from;
    while (todo) {
        int st = __builtin_ctz(todo);
        todo &= todo - 1;
        for (int next = 0; next < kin_lease_states(); next++) {
            if (!kin_lease_move_legal(st, next) || (seen & (1u << next)) ||
                (avoid & (1u << next)))
                continue;
            if (next == to)
                return 1;
            seen |= 1u << next;
            todo |= 1u << next;
        }
    }
    return 0;
}

/* The CI failure of 0019 (a shard reopened while its SHARD_END was pending) cannot come back:
 * RUNNING is entered only from HELD (a start) and LOST_OPEN (a lease taken back while its
 * partition still closes), and no ending, releasing or ended lease reaches HELD or RUNNING but
 * by being lost first (its SHARD_END then unwritten: whoever takes it reads the shard again). */
static void test_lease_states_no_reopen_while_ending(void) {
    const char *ending[] = {"ENDING_WAIT_CHILDREN", "ENDING_WRITE", "RELEASING", "ENDED"};
    int running = state_of("RUNNING"), held = state_of("HELD");
    unsigned lost = (1u << state_of("UNOWNED")) | (1u << state_of("LOST_OPEN"));
    for (int st = 0; st < kin_lease_states(); st++) {
        CU_ASSERT(!kin_lease_move_legal(st, st)); /* set_state() ignores those */
        if (st != held && st != state_of("LOST_OPEN"))
            CU_ASSERT(!kin_lease_move_legal(st, running));
        CU_ASSERT(!kin_lease_move_legal(state_of("FINISHED"), st));
    }
    for (size_t i = 0; i < sizeof(ending) / sizeof(ending[0]); i++) {
        CU_ASSERT(!reachable(state_of(ending[i]), held, lost));
        CU_ASSERT(!reachable(state_of(ending[i]), running, lost));
        CU_ASSERT(reachable(state_of(ending[i]), state_of("FINISHED"), 0));
    }
    CU_ASSERT(!reachable(state_of("ENDED"), held, 0)); /* ended: never read again here */
    CU_ASSERT(!kin_lease_move_legal(-1, 0));
    CU_ASSERT(!kin_lease_move_legal(0, kin_lease_states()));
}

void test_kinesis_coord_register(void) {
    static const unit_test_t tests[] = {
        {"join takes half in one pass", test_join_takes_half_in_one_pass},
        {"third worker settles 3/3/2", test_third_worker_settles_332},
        {"rounding rule", test_rounding_rule},
        {"expired first, dead workers not counted", test_expired_first_and_dead_workers_not_counted},
        {"busy leases left alone", test_busy_leases_left_alone},
        {"simulation converges and stays", test_simulation_converges_and_stays},
        {"lease states: no reopen while ending", test_lease_states_no_reopen_while_ending},
        {NULL, NULL},
    };
    unit_add_suite("kinesis_coord", tests);
}
