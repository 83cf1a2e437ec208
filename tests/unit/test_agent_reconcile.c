/* Unit tests for the host agent's pure reconciliation (src/host/agent_reconcile.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "host/agent_reconcile.h"
#include "host/agent_state.h"

#define MIB (UINT64_C(1) << 20)

static cl_agent_desired want(const char *id, bool running, uint64_t mib)
{
	cl_agent_desired d;
	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.image, sizeof(d.image), "img-1");
	memset(d.image_sha384, 'a', 96);
	d.memory_mib = mib;
	d.cpus = 1;
	d.running = running;
	return d;
}

static cl_agent_actual have(const char *id, bool alive, bool running, bool frozen, uint64_t mib)
{
	cl_agent_actual a;
	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "%s", id);
	a.alive = alive;
	a.running = running;
	a.frozen = frozen;
	a.memory_bytes = mib * MIB;
	return a;
}

static size_t count(const cl_agent_action *a, size_t n, enum cl_agent_action_kind k, const char *id)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		if (a[i].kind == k && (!id || strcmp(a[i].id, id) == 0))
			c++;
	return c;
}

static void run(const cl_agent_desired *d, size_t nd, const cl_agent_actual *a, size_t na, const char *const *f,
		size_t nf, cl_agent_action **acts, size_t *n)
{
	assert_int_equal(cl_agent_reconcile(d, nd, a, na, f, nf, acts, n), CL_OK);
}

/* A restore wants a sandbox launched awaiting it: the suspended enclave's
 * own (not launched so, or marked suspended) is replaced; one launched
 * awaiting is kept, also once the restore is done and the flag is gone. */
static void await_restore_replaces(void **state)
{
	cl_agent_action *acts = NULL;
	size_t n = 0;
	cl_agent_desired d = want("enc-a", true, 64);
	d.suspendable = d.await_restore = true;
	cl_agent_actual old = have("enc-a", true, true, false, 64);
	run(&d, 1, &old, 1, NULL, 0, &acts, &n);
	assert_int_equal(count(acts, n, CL_ACT_DESTROY, "enc-a"), 1);
	free(acts);
	old.await_restore = true;
	run(&d, 1, &old, 1, NULL, 0, &acts, &n);
	assert_int_equal(count(acts, n, CL_ACT_DESTROY, "enc-a"), 0);
	free(acts);
	d.await_restore = false;
	run(&d, 1, &old, 1, NULL, 0, &acts, &n);
	assert_int_equal(count(acts, n, CL_ACT_DESTROY, "enc-a"), 0);
	free(acts);
}

static void empty_both(void **state)
{
	cl_agent_action *acts = (cl_agent_action *)1;
	size_t n = 99;
	run(NULL, 0, NULL, 0, NULL, 0, &acts, &n);
	assert_int_equal(n, 0);
	assert_null(acts);
}

static void launch_missing(void **state)
{
	cl_agent_desired d[] = {want("enc-a", true, 64), want("enc-b", false, 32)};
	cl_agent_action *acts;
	size_t n;
	run(d, 2, NULL, 0, NULL, 0, &acts, &n);
	assert_int_equal(n, 2);
	assert_int_equal(acts[0].kind, CL_ACT_LAUNCH);
	assert_string_equal(acts[0].id, "enc-a");
	assert_int_equal(acts[0].desired, 0);
	assert_int_equal(acts[1].kind, CL_ACT_LAUNCH);
	assert_string_equal(acts[1].id, "enc-b");
	assert_int_equal(acts[1].desired, 1);
	free(acts);
}

static void destroy_unknown(void **state)
{
	cl_agent_actual a[] = {have("enc-x", true, true, false, 64), have("enc-y", true, false, false, 64)};
	cl_agent_action *acts;
	size_t n;
	run(NULL, 0, a, 2, NULL, 0, &acts, &n);
	assert_int_equal(n, 2);
	assert_int_equal(count(acts, n, CL_ACT_DESTROY, "enc-x"), 1);
	assert_int_equal(count(acts, n, CL_ACT_DESTROY, "enc-y"), 1);
	free(acts);
}

static void steady_state_is_noop(void **state)
{
	cl_agent_desired d[] = {want("enc-a", true, 64), want("enc-b", false, 64)};
	cl_agent_actual a[] = {have("enc-b", true, true, true, 64), have("enc-a", true, true, false, 64)};
	cl_agent_action *acts;
	size_t n;
	run(d, 2, a, 2, NULL, 0, &acts, &n);
	assert_int_equal(n, 0);
	assert_null(acts);
}

static void never_double_launch(void **state)
{
	/* Present in actual in every possible shape: never launched again. */
	const bool tf[] = {false, true};
	for (int alive = 0; alive < 2; alive++)
		for (int running = 0; running < 2; running++)
			for (int frozen = 0; frozen < 2; frozen++)
				for (int drun = 0; drun < 2; drun++) {
					cl_agent_desired d[] = {want("enc-a", tf[drun], 64)};
					cl_agent_actual a[] = {
					    have("enc-a", tf[alive], tf[running], tf[frozen], 64)};
					cl_agent_action *acts;
					size_t n;
					run(d, 1, a, 1, NULL, 0, &acts, &n);
					assert_int_equal(count(acts, n, CL_ACT_LAUNCH, NULL), 0);
					free(acts);
				}
	/* Duplicate desired entries launch once. */
	cl_agent_desired d2[] = {want("enc-a", true, 64), want("enc-a", true, 128), want("enc-a", false, 64)};
	cl_agent_action *acts;
	size_t n;
	run(d2, 3, NULL, 0, NULL, 0, &acts, &n);
	assert_int_equal(n, 1);
	assert_int_equal(acts[0].kind, CL_ACT_LAUNCH);
	assert_int_equal(acts[0].desired, 0); /* first wins */
	free(acts);
}

static void duplicate_actual_destroyed_once(void **state)
{
	cl_agent_actual a[] = {have("enc-a", true, true, false, 64), have("enc-a", true, true, false, 64)};
	cl_agent_action *acts;
	size_t n;
	run(NULL, 0, a, 2, NULL, 0, &acts, &n);
	assert_int_equal(n, 1);
	assert_int_equal(acts[0].kind, CL_ACT_DESTROY);
	free(acts);
}

static void dead_shim_destroyed_not_relaunched_same_round(void **state)
{
	cl_agent_desired d[] = {want("enc-a", true, 64)};
	cl_agent_actual a[] = {have("enc-a", false, false, false, 0)};
	cl_agent_action *acts;
	size_t n;
	run(d, 1, a, 1, NULL, 0, &acts, &n);
	assert_int_equal(n, 1);
	assert_int_equal(acts[0].kind, CL_ACT_DESTROY);
	free(acts);
}

static void failed_not_retried(void **state)
{
	cl_agent_desired d[] = {want("enc-a", true, 64), want("enc-b", true, 64)};
	const char *failed[] = {"enc-a", "enc-zzz"};
	cl_agent_action *acts;
	size_t n;
	run(d, 2, NULL, 0, failed, 2, &acts, &n);
	assert_int_equal(n, 1);
	assert_int_equal(acts[0].kind, CL_ACT_LAUNCH);
	assert_string_equal(acts[0].id, "enc-b");
	free(acts);
}

/* Every combination of (desired state) x (alive, running, frozen) for one id. */
static void freeze_thaw_matrix(void **state)
{
	for (int drun = 0; drun < 2; drun++)
		for (int alive = 0; alive < 2; alive++)
			for (int running = 0; running < 2; running++)
				for (int frozen = 0; frozen < 2; frozen++) {
					cl_agent_desired d[] = {want("enc-a", drun, 64)};
					cl_agent_actual a[] = {have("enc-a", alive, running, frozen, 64)};
					cl_agent_action *acts;
					size_t n;
					run(d, 1, a, 1, NULL, 0, &acts, &n);
					size_t expect_destroy = !alive;
					size_t expect_freeze = alive && running && !drun && !frozen;
					size_t expect_thaw = alive && running && drun && frozen;
					assert_int_equal(count(acts, n, CL_ACT_DESTROY, "enc-a"), expect_destroy);
					assert_int_equal(count(acts, n, CL_ACT_FREEZE, "enc-a"), expect_freeze);
					assert_int_equal(count(acts, n, CL_ACT_THAW, "enc-a"), expect_thaw);
					assert_int_equal(count(acts, n, CL_ACT_SET_MEMORY, NULL), 0);
					assert_int_equal(n, expect_destroy + expect_freeze + expect_thaw);
					free(acts);
				}
}

static void memory_change(void **state)
{
	cl_agent_desired d[] = {want("enc-a", true, 128), want("enc-b", true, 32), want("enc-c", true, 64)};
	cl_agent_actual a[] = {have("enc-a", true, true, false, 64), have("enc-b", true, true, false, 64),
			       have("enc-c", true, false, false, 32) /* exited: left alone */};
	cl_agent_action *acts;
	size_t n;
	run(d, 3, a, 3, NULL, 0, &acts, &n);
	assert_int_equal(n, 2);
	assert_int_equal(acts[0].kind, CL_ACT_SET_MEMORY);
	assert_string_equal(acts[0].id, "enc-a");
	assert_true(acts[0].memory_bytes == 128 * MIB);
	assert_int_equal(acts[1].kind, CL_ACT_SET_MEMORY);
	assert_string_equal(acts[1].id, "enc-b");
	assert_true(acts[1].memory_bytes == 32 * MIB);
	free(acts);
	/* Unknown current limit (0) does not trigger a change. */
	cl_agent_actual a2[] = {have("enc-a", true, true, false, 0)};
	run(d, 1, a2, 1, NULL, 0, &acts, &n);
	assert_int_equal(n, 0);
}

static void ordering_destroy_first_launch_last(void **state)
{
	cl_agent_desired d[] = {want("enc-new", true, 64), want("enc-keep", false, 128)};
	cl_agent_actual a[] = {have("enc-keep", true, true, false, 64), have("enc-old", true, true, false, 64)};
	cl_agent_action *acts;
	size_t n;
	run(d, 2, a, 2, NULL, 0, &acts, &n);
	assert_int_equal(n, 4);
	assert_int_equal(acts[0].kind, CL_ACT_DESTROY);
	assert_string_equal(acts[0].id, "enc-old");
	assert_int_equal(acts[1].kind, CL_ACT_SET_MEMORY);
	assert_int_equal(acts[2].kind, CL_ACT_FREEZE);
	assert_string_equal(acts[2].id, "enc-keep");
	assert_int_equal(acts[3].kind, CL_ACT_LAUNCH);
	assert_string_equal(acts[3].id, "enc-new");
	assert_int_equal(acts[3].desired, 0);
	free(acts);
}

/* A larger mixed set: every id ends up either untouched, destroyed or
 * launched exactly once, and the resulting set equals the desired one. */
static void mixed_set_converges(void **state)
{
	enum { N = 40 };
	cl_agent_desired d[N];
	cl_agent_actual a[N];
	size_t nd = 0, na = 0;
	for (int i = 0; i < N; i++) {
		char id[16];
		snprintf(id, sizeof(id), "enc-%02d", i);
		if (i % 3 != 0)
			d[nd++] = want(id, true, 64);
		if (i % 2 == 0)
			a[na++] = have(id, true, true, false, 64);
	}
	cl_agent_action *acts;
	size_t n;
	run(d, nd, a, na, NULL, 0, &acts, &n);
	for (int i = 0; i < N; i++) {
		char id[16];
		snprintf(id, sizeof(id), "enc-%02d", i);
		bool desired = i % 3 != 0, present = i % 2 == 0;
		assert_int_equal(count(acts, n, CL_ACT_LAUNCH, id), desired && !present);
		assert_int_equal(count(acts, n, CL_ACT_DESTROY, id), !desired && present);
	}
	free(acts);
}

/* A host busy launching (every round moved something, each under 20 ms) is
 * never paced; a control plane answering long-polls at once with nothing new
 * is paced after CL_AGENT_QUICK_ROUNDS rounds; a slow round resets. */
static void spin_guard_counts_only_idle_instant_rounds(void **state)
{
	(void)state;
	unsigned q = 0;
	for (int i = 0; i < 100; i++)
		q = cl_agent_quick_rounds(q, true, 1000000u);
	assert_int_equal(q, 0);
	for (int i = 0; i < CL_AGENT_QUICK_ROUNDS - 1; i++)
		q = cl_agent_quick_rounds(q, false, 1000000u);
	assert_true(q < CL_AGENT_QUICK_ROUNDS);
	q = cl_agent_quick_rounds(q, false, 1000000u);
	assert_int_equal(q, CL_AGENT_QUICK_ROUNDS);
	q = cl_agent_quick_rounds(q, false, 1000000u); /* stays paced, no overflow */
	assert_int_equal(q, CL_AGENT_QUICK_ROUNDS);
	assert_int_equal(cl_agent_quick_rounds(q, false, CL_AGENT_QUICK_NS), 0); /* a slow round */
	assert_int_equal(cl_agent_quick_rounds(q, true, 1000u), 0);               /* progress */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(empty_both),
	    cmocka_unit_test(await_restore_replaces),
	    cmocka_unit_test(launch_missing),
	    cmocka_unit_test(destroy_unknown),
	    cmocka_unit_test(steady_state_is_noop),
	    cmocka_unit_test(never_double_launch),
	    cmocka_unit_test(duplicate_actual_destroyed_once),
	    cmocka_unit_test(dead_shim_destroyed_not_relaunched_same_round),
	    cmocka_unit_test(failed_not_retried),
	    cmocka_unit_test(freeze_thaw_matrix),
	    cmocka_unit_test(memory_change),
	    cmocka_unit_test(ordering_destroy_first_launch_last),
	    cmocka_unit_test(mixed_set_converges),
	    cmocka_unit_test(spin_guard_counts_only_idle_instant_rounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
