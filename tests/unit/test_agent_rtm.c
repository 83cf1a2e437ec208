/* Unit tests for the measure op's runtime measurement (src/host/agent_rtm.c):
 * the /proc/PID/maps parser, the canonical order and PCR5, and
 * cl_rtm_measure on real child processes behind a fake freezer — the
 * enclave is resumed on every failure path (a fault injected mid-measure,
 * the pause's bound, a failed freeze), left paused if it was, and the same
 * program under ASLR measures the same. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crypto.h"
#include "host/agent_rtm.h"
#include "test_sleep_child.h"

static const uint8_t zero[CL_PCR_LEN];

/* ---- the maps parser ---- */

static void parse_maps_lines(void **state)
{
	(void)state;
	uint64_t s, e, off;
	char perms[5];
	const char *path;
	assert_int_equal(cl_rtm_parse_maps("00401000-0047c000 r-xp 00001000 00:29 8                 /init", NULL, &s,
					   &e, perms, &off, &path),
			 CL_OK);
	assert_true(s == 0x401000 && e == 0x47c000 && off == 0x1000);
	assert_string_equal(perms, "r-xp");
	assert_string_equal(path, "/init");
	/* anonymous: no path */
	assert_int_equal(cl_rtm_parse_maps("7f00000000-7f00001000 rwxp 00000000 00:00 0", NULL, &s, &e, perms, &off,
					   &path),
			 CL_OK);
	assert_string_equal(path, "");
	assert_string_equal(perms, "rwxp");
	assert_int_equal(cl_rtm_parse_maps("7ffd1000-7ffd3000 r-xp 00000000 00:00 0    [vdso]", NULL, &s, &e, perms,
					   &off, &path),
			 CL_OK);
	assert_string_equal(path, "[vdso]");
	/* a path under the process's root is given inside it; others as they are */
	assert_int_equal(cl_rtm_parse_maps("1000-2000 r-xp 00000000 08:01 12 /srv/root/app/x (deleted)", "/srv/root",
					   &s, &e, perms, &off, &path),
			 CL_OK);
	assert_string_equal(path, "/app/x (deleted)");
	assert_int_equal(cl_rtm_parse_maps("1000-2000 r-xp 00000000 08:01 12 /srv/rootless/x", "/srv/root", &s, &e,
					   perms, &off, &path),
			 CL_OK);
	assert_string_equal(path, "/srv/rootless/x");
	/* malformed */
	const char *bad[] = {"", "1000 r-xp 0 00:00 0", "2000-1000 r-xp 00000000 00:00 0", "1000-2000 r-x 0 00:00 0",
			     "1000-2000 r-xp zz 00:00 0", "1000-2000 r-xp 00000000", "1000-2000 r-xp 00000000 00:00 1x",
			     "10000000000000000-2 r-xp 0 00:00 0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cl_rtm_parse_maps(bad[i], NULL, &s, &e, perms, &off, &path), CL_EINVAL);
}

/* ---- canonical order ---- */

static void digest_of(const char *s, uint8_t d[48])
{
	assert_int_equal(cl_sha384(s, strlen(s), d), CL_OK);
}

/* The reference: one extend per region, path 0 offset len digest. */
static void ref_extend(uint8_t reg[48], const char *path, uint64_t off, uint64_t len, const uint8_t d[48])
{
	uint8_t rec[256];
	size_t n = strlen(path);
	memcpy(rec, path, n);
	rec[n] = 0;
	for (int i = 0; i < 8; i++) {
		rec[n + 1 + i] = (uint8_t)(off >> (56 - 8 * i));
		rec[n + 9 + i] = (uint8_t)(len >> (56 - 8 * i));
	}
	memcpy(rec + n + 17, d, 48);
	cl_pcr_extend(reg, rec, n + 17 + 48);
}

static void canonical_order(void **state)
{
	(void)state;
	uint8_t da[48], db[48], dc[48], r1[48], r2[48], ref[48];
	digest_of("a", da);
	digest_of("b", db);
	digest_of("c", dc);
	/* added in two different orders: one register */
	cl_rtm_set s1 = {0}, s2 = {0};
	assert_int_equal(cl_rtm_add(&s1, "/lib/x.so", 0x2000, 4096, da), CL_OK);
	assert_int_equal(cl_rtm_add(&s1, "", 0, 8192, db), CL_OK);
	assert_int_equal(cl_rtm_add(&s1, "/app/run", 0x1000, 4096, dc), CL_OK);
	assert_int_equal(cl_rtm_add(&s1, "/lib/x.so", 0x1000, 4096, db), CL_OK);
	assert_int_equal(cl_rtm_add(&s2, "/app/run", 0x1000, 4096, dc), CL_OK);
	assert_int_equal(cl_rtm_add(&s2, "/lib/x.so", 0x1000, 4096, db), CL_OK);
	assert_int_equal(cl_rtm_add(&s2, "/lib/x.so", 0x2000, 4096, da), CL_OK);
	assert_int_equal(cl_rtm_add(&s2, "", 0, 8192, db), CL_OK);
	cl_rtm_register(&s1, r1);
	cl_rtm_register(&s2, r2);
	assert_memory_equal(r1, r2, 48);
	/* = the reference, in path then offset order ("" first) */
	memset(ref, 0, sizeof(ref));
	ref_extend(ref, "", 0, 8192, db);
	ref_extend(ref, "/app/run", 0x1000, 4096, dc);
	ref_extend(ref, "/lib/x.so", 0x1000, 4096, db);
	ref_extend(ref, "/lib/x.so", 0x2000, 4096, da);
	assert_memory_equal(r1, ref, 48);
	cl_rtm_set_free(&s2);
	/* another content at the same place: another register */
	assert_int_equal(cl_rtm_add(&s2, "/app/run", 0x1000, 4096, da), CL_OK);
	assert_int_equal(cl_rtm_add(&s2, "/lib/x.so", 0x1000, 4096, db), CL_OK);
	assert_int_equal(cl_rtm_add(&s2, "/lib/x.so", 0x2000, 4096, da), CL_OK);
	assert_int_equal(cl_rtm_add(&s2, "", 0, 8192, db), CL_OK);
	cl_rtm_register(&s2, r2);
	assert_memory_not_equal(r1, r2, 48);
	cl_rtm_set_free(&s2);
	/* one region more (code loaded): another register */
	assert_int_equal(cl_rtm_add(&s1, "/app/plugin", 0, 4096, da), CL_OK);
	cl_rtm_register(&s1, r2);
	assert_memory_not_equal(r1, r2, 48);
	cl_rtm_set_free(&s1);
	/* nothing measured: zeros */
	cl_rtm_register(&s1, r2);
	assert_memory_equal(r2, zero, 48);
	/* limits */
	assert_int_equal(cl_rtm_add(&s1, "/big", 0, CL_RTM_MAX_BYTES + 1, da), CL_ELIMIT);
	assert_int_equal(s1.n, 0);
	cl_rtm_set_free(&s1);
}

/* ---- measuring real processes behind a fake freezer ---- */

typedef struct fake {
	pid_t pids[4];
	size_t npids;
	bool frozen;
	int freezes, thaws;
	cl_err freeze_err; /* returned by a freeze (after "freezing") */
	cl_err pids_err;
	long fault_at; /* region index to fail at, -1 never */
} fake;

static cl_err f_is_frozen(void *ctx, bool *frozen)
{
	*frozen = ((fake *)ctx)->frozen;
	return CL_OK;
}

static cl_err f_freeze(void *ctx, bool frozen)
{
	fake *f = ctx;
	f->frozen = frozen;
	if (frozen) {
		f->freezes++;
		return f->freeze_err;
	}
	f->thaws++;
	return CL_OK;
}

static cl_err f_pids(void *ctx, pid_t *out, size_t max, size_t *n)
{
	fake *f = ctx;
	if (f->pids_err != CL_OK)
		return f->pids_err;
	assert_true(f->npids <= max);
	memcpy(out, f->pids, f->npids * sizeof(pid_t));
	*n = f->npids;
	return CL_OK;
}

static cl_err f_fault(void *ctx, size_t region)
{
	fake *f = ctx;
	return f->fault_at >= 0 && (size_t)f->fault_at == region ? cl_errorf(CL_EIO, "injected") : CL_OK;
}

static void measure_children(void **state)
{
	(void)state;
	pid_t a = spawn_sleep(), b = spawn_sleep();
	fake f = {.pids = {a}, .npids = 1, .fault_at = -1};
	cl_rtm_target t = {.is_frozen = f_is_frozen, .freeze = f_freeze, .pids = f_pids, .fault = f_fault, .ctx = &f};
	uint8_t r1[48], r2[48], r3[48];
	size_t n = 0;
	/* measured: paused once, resumed once, a register that is not zero */
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r1, &n, NULL), CL_OK);
	assert_true(n >= 2); /* sleep's code and at least the vdso or libc */
	assert_memory_not_equal(r1, zero, 48);
	assert_int_equal(f.freezes, 1);
	assert_int_equal(f.thaws, 1);
	assert_false(f.frozen);
	/* the same again, and the same program in another process (other addresses) */
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r2, NULL, NULL), CL_OK);
	assert_memory_equal(r1, r2, 48);
	f.pids[0] = b;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r2, NULL, NULL), CL_OK);
	assert_memory_equal(r1, r2, 48);
	/* both processes: another register, whatever the pid order */
	f.pids[0] = a;
	f.pids[1] = b;
	f.npids = 2;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r2, NULL, NULL), CL_OK);
	assert_memory_not_equal(r1, r2, 48);
	f.pids[0] = b;
	f.pids[1] = a;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r3, NULL, NULL), CL_OK);
	assert_memory_equal(r2, r3, 48);
	/* already paused (a stopped enclave): measured, not resumed */
	f.npids = 1;
	f.frozen = true;
	f.freezes = f.thaws = 0;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r3, NULL, NULL), CL_OK);
	assert_memory_equal(r1, r3, 48);
	assert_true(f.frozen);
	assert_int_equal(f.freezes + f.thaws, 0);
	reap(a);
	reap(b);
}

static void resumed_on_failure(void **state)
{
	(void)state;
	pid_t a = spawn_sleep();
	fake f = {.pids = {a}, .npids = 1, .fault_at = 1};
	cl_rtm_target t = {.is_frozen = f_is_frozen, .freeze = f_freeze, .pids = f_pids, .fault = f_fault, .ctx = &f};
	uint8_t r[48];
	memset(r, 0xab, sizeof(r));
	/* a failure injected mid-measure (at the second region): resumed, register untouched */
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r, NULL, NULL), CL_EIO);
	assert_false(f.frozen);
	assert_int_equal(f.freezes, 1);
	assert_int_equal(f.thaws, 1);
	for (size_t i = 0; i < sizeof(r); i++)
		assert_int_equal(r[i], 0xab);
	/* the pause's bound: no time to read */
	f.fault_at = -1;
	assert_int_equal(cl_rtm_measure(&t, 0, r, NULL, NULL), CL_ETIMEOUT);
	assert_false(f.frozen);
	assert_int_equal(f.thaws, 2);
	/* the pids cannot be listed */
	f.pids_err = CL_ENOTFOUND;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r, NULL, NULL), CL_ENOTFOUND);
	assert_false(f.frozen);
	assert_int_equal(f.thaws, 3);
	f.pids_err = CL_OK;
	/* the freeze itself timed out (part frozen): resumed all the same */
	f.freeze_err = CL_ETIMEOUT;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r, NULL, NULL), CL_ETIMEOUT);
	assert_false(f.frozen);
	assert_int_equal(f.thaws, 4);
	/* a process that is gone adds nothing (no failure) */
	f.freeze_err = CL_OK;
	reap(a);
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r, NULL, NULL), CL_OK);
	assert_memory_equal(r, zero, 48);
	assert_false(f.frozen);
}

/* ---- a measure and the reconcile loop's freezer changes ---- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int step; /* 1: the measure began; 2: it may end; 3: it ended */
	bool loop_done, loop_free;
	const char *loop_id;
} ex = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, false, NULL};

static void ex_set(int step)
{
	pthread_mutex_lock(&ex.mu);
	ex.step = step;
	pthread_cond_broadcast(&ex.cv);
	pthread_mutex_unlock(&ex.mu);
}

/* Waits (10 s at most) until cond holds; false if it never did. */
#define EX_WAIT(cond)                                                                                          \
	({                                                                                                     \
		struct timespec until_;                                                                        \
		clock_gettime(CLOCK_REALTIME, &until_);                                                        \
		until_.tv_sec += 10;                                                                           \
		pthread_mutex_lock(&ex.mu);                                                                    \
		while (!(cond) && pthread_cond_timedwait(&ex.cv, &ex.mu, &until_) == 0)                        \
			;                                                                                      \
		bool ok_ = (cond);                                                                             \
		pthread_mutex_unlock(&ex.mu);                                                                  \
		ok_;                                                                                           \
	})

static void *measuring(void *arg)
{
	cl_agent_rtm_measure_begin(arg);
	ex_set(1);
	EX_WAIT(ex.step == 2);
	cl_agent_rtm_measure_end();
	ex_set(3);
	return NULL;
}

static void *looping(void *arg)
{
	(void)arg;
	bool free_ = cl_agent_rtm_loop_begin(ex.loop_id);
	if (free_)
		cl_agent_rtm_loop_end();
	pthread_mutex_lock(&ex.mu);
	ex.loop_free = free_;
	ex.loop_done = true;
	pthread_cond_broadcast(&ex.cv);
	pthread_mutex_unlock(&ex.mu);
	return NULL;
}

/* The loop's freezer change for loop_id, on a thread: done within 10 s? */
static bool loop_change(const char *id, bool *free_)
{
	pthread_t t;
	ex.loop_done = false;
	ex.loop_id = id;
	assert_int_equal(pthread_create(&t, NULL, looping, NULL), 0);
	bool done = EX_WAIT(ex.loop_done);
	if (!done) {
		ex_set(2); /* let the measure end, so the thread can be joined */
		EX_WAIT(ex.step == 3);
	}
	pthread_join(t, NULL);
	*free_ = ex.loop_free;
	return done;
}

/* While enclave A is measured (a pause of seconds), the loop's change of
 * enclave B goes ahead at once and its change of A is deferred (never
 * waits); once the measure ends, A's change goes ahead; paused() says A
 * only once its state before the pause is known. */
static void loop_never_waits(void **state)
{
	(void)state;
	pthread_t m;
	bool free_ = false, frozen = true;
	ex.step = 0;
	assert_int_equal(pthread_create(&m, NULL, measuring, (void *)"enc-a"), 0);
	assert_true(EX_WAIT(ex.step == 1));
	assert_false(cl_agent_rtm_paused("enc-a", &frozen)); /* not paused yet: its real state stands */
	assert_true(loop_change("enc-b", &free_));
	assert_true(free_);
	assert_true(loop_change("enc-a", &free_));
	assert_false(free_); /* deferred */
	ex_set(2);
	assert_true(EX_WAIT(ex.step == 3));
	pthread_join(m, NULL);
	assert_true(loop_change("enc-a", &free_));
	assert_true(free_);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_maps_lines),
	    cmocka_unit_test(canonical_order),
	    cmocka_unit_test(measure_children),
	    cmocka_unit_test(resumed_on_failure),
	    cmocka_unit_test(loop_never_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
