/* Unit tests for src/common/supervise.c: the backoff arithmetic; signals
 * through the self-pipe (and SIGPIPE survived); a forked part's walls
 * (default dispositions, no self-pipe, PDEATHSIG); and the restart loop the
 * supervisors run, with real children: one that exits is seen through
 * SIGCHLD on the self-pipe, reaped with its status, and started again only
 * once its backoff is due, the delay doubling each time.
 *
 * Every wait is for a condition with a deadline; no time is asserted
 * except that a restart never comes before its due time.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/supervise.h"
#include "common/util.h"

#define DEADLINE_NS 10000000000ull

static int group_setup(void **state)
{
	static const int sigs[] = {SIGCHLD, SIGTERM, SIGUSR1};
	(void)state;
	cl_log_init("test_supervise", CL_LOG_WARN);
	return cl_supervise_signals(sigs, 3) == CL_OK ? 0 : -1;
}

/* Waits (with a deadline) for signal want through the self-pipe; other
 * signals seen meanwhile are ignored. */
static void wait_signal(int want)
{
	uint64_t deadline = cl_now_mono_ns() + DEADLINE_NS;
	for (;;) {
		int sig[8];
		size_t n;
		uint64_t now = cl_now_mono_ns();
		if (now >= deadline)
			fail_msg("signal %d never came through the self-pipe", want);
		assert_int_equal(cl_supervise_wait(cl_supervise_timeout_ms(deadline, now), sig, 8, &n), CL_OK);
		for (size_t i = 0; i < n; i++)
			if (sig[i] == want)
				return;
	}
}

static void backoff_doubles_caps_and_resets(void **state)
{
	(void)state;
	cl_supervise_backoff b = {.min_ms = 100, .max_ms = 350, .stable_ms = 1000};
	const uint64_t ms = 1000000u;
	/* a part that keeps dying within stable_ms of its start */
	assert_int_equal(cl_supervise_backoff_next(&b, 0, 10 * ms), 100);
	assert_int_equal(cl_supervise_backoff_next(&b, 0, 10 * ms), 200);
	assert_int_equal(cl_supervise_backoff_next(&b, 0, 10 * ms), 350); /* 400 capped */
	assert_int_equal(cl_supervise_backoff_next(&b, 0, 10 * ms), 350);
	/* one that ran stable_ms starts over from min */
	assert_int_equal(cl_supervise_backoff_next(&b, 5 * ms, 1005 * ms), 100);
	assert_int_equal(cl_supervise_backoff_next(&b, 5 * ms, 1004 * ms), 200);
	/* no overflow near UINT32_MAX */
	cl_supervise_backoff big = {.min_ms = 3000000000u, .max_ms = 4000000000u, .stable_ms = 1};
	assert_int_equal(cl_supervise_backoff_next(&big, 0, 0), 3000000000u);
	assert_int_equal(cl_supervise_backoff_next(&big, 0, 0), 4000000000u);
	/* the poll timeout */
	assert_int_equal(cl_supervise_timeout_ms(UINT64_MAX, 5), -1);
	assert_int_equal(cl_supervise_timeout_ms(5, 5), 0);
	assert_int_equal(cl_supervise_timeout_ms(4 * ms + 1, 2 * ms), 3); /* rounded up: never early */
}

static void signal_through_self_pipe_is_seen(void **state)
{
	(void)state;
	int sig[8];
	size_t n = 99;
	/* nothing pending: a short wait comes back empty */
	assert_int_equal(cl_supervise_wait(0, sig, 8, &n), CL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(kill(getpid(), SIGUSR1), 0); /* would end the process without the handler */
	wait_signal(SIGUSR1);
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	int seen_term = 0, seen_usr1 = 0;
	uint64_t deadline = cl_now_mono_ns() + DEADLINE_NS;
	while (!(seen_term && seen_usr1)) {
		assert_true(cl_now_mono_ns() < deadline);
		assert_int_equal(cl_supervise_wait(1000, sig, 1, &n), CL_OK); /* one at a time: the rest stays */
		assert_true(n <= 1);
		if (n == 1) {
			seen_term += sig[0] == SIGTERM;
			seen_usr1 += sig[0] == SIGUSR1;
		}
	}
	assert_int_equal(seen_term, 1);
	assert_int_equal(seen_usr1, 1);
	/* SIGPIPE does not kill: the write fails with EPIPE */
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	errno = 0;
	assert_int_equal(write(p[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(p[1]);
	/* a second self-pipe is refused */
	static const int again[] = {SIGUSR2};
	assert_int_equal(cl_supervise_signals(again, 1), CL_EINVAL);
}

/* The child's walls: exit status 0 when they hold, else which one failed. */
static int child_checks(void)
{
	struct sigaction old;
	int sigs[] = {SIGCHLD, SIGTERM, SIGUSR1, SIGPIPE};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL)
			return 10 + (int)i;
	int pdeath = 0;
	if (prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0) != 0 || pdeath != SIGKILL)
		return 20;
	int sig[1];
	size_t n;
	if (cl_supervise_wait(0, sig, 1, &n) != CL_EINVAL) /* the supervisor's pipe is not ours */
		return 21;
	static const int own[] = {SIGTERM};
	if (cl_supervise_signals(own, 1) != CL_OK) /* a part may make its own */
		return 22;
	return 0;
}

static void forked_part_has_its_walls(void **state)
{
	(void)state;
	cl_supervise_part part = {.name = "checker", .restart_at_ns = 42};
	uint64_t before = cl_now_mono_ns();
	pid_t pid = cl_supervise_fork(&part, "test_supervise/child");
	if (pid == 0)
		_exit(child_checks());
	assert_true(pid > 0);
	assert_int_equal(part.pid, pid);
	assert_true(part.started_ns >= before);
	assert_int_equal(part.restart_at_ns, 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	char why[64];
	cl_supervise_why(st, why, sizeof(why));
	assert_string_equal(why, "exited with status 0");
	cl_supervise_why(SIGKILL, why, sizeof(why)); /* a raw status: killed by 9 */
	assert_string_equal(why, "killed by signal 9");
}

typedef struct deaths {
	size_t n;
	size_t index;
	int status;
} deaths;

static void on_death(void *ctx, size_t i, int status)
{
	deaths *d = ctx;
	d->n++;
	d->index = i;
	d->status = status;
}

/* The supervisor's wait for a death: until one of parts is reaped (exactly
 * one more), with a deadline. */
static void wait_death(cl_supervise_part *parts, size_t nparts, deaths *d)
{
	uint64_t deadline = cl_now_mono_ns() + DEADLINE_NS;
	size_t before = d->n;
	while (d->n == before) {
		assert_true(cl_now_mono_ns() < deadline);
		int sig[8];
		size_t n;
		assert_int_equal(cl_supervise_wait(1000, sig, 8, &n), CL_OK);
		cl_supervise_reap(parts, nparts, on_death, d);
	}
	assert_int_equal(d->n, before + 1);
}

static void exited_child_is_restarted_with_backoff(void **state)
{
	(void)state;
	/* parts[0] is a bystander that never runs: only parts[1] dies */
	cl_supervise_part parts[2] = {
		{.name = "idle"},
		{.name = "crasher", .backoff = {.min_ms = 20, .max_ms = 60, .stable_ms = 60000}},
	};
	const uint32_t want_delay[] = {20, 40, 60, 60};
	size_t starts = 0;
	deaths d = {0};
	pid_t pid = cl_supervise_fork(&parts[1], "test_supervise/crasher");
	if (pid == 0)
		_exit(7);
	assert_true(pid > 0);
	starts++;
	for (size_t round = 0; round < sizeof(want_delay) / sizeof(want_delay[0]); round++) {
		/* its death: SIGCHLD through the self-pipe, then reaped */
		uint64_t deadline = cl_now_mono_ns() + DEADLINE_NS;
		wait_death(parts, 2, &d);
		assert_int_equal(d.index, 1);
		assert_true(WIFEXITED(d.status));
		assert_int_equal(WEXITSTATUS(d.status), 7);
		assert_int_equal(parts[1].pid, 0);
		assert_int_equal(parts[0].pid, 0);
		/* the restart, scheduled with a growing delay */
		uint64_t now = cl_now_mono_ns();
		assert_int_equal(cl_supervise_schedule(&parts[1], now), want_delay[round]);
		assert_true(parts[1].restart_at_ns == now + (uint64_t)want_delay[round] * 1000000u);
		assert_false(cl_supervise_due(&parts[1], now));
		/* the supervisor's loop: wait toward the due time, start it then */
		while (!cl_supervise_due(&parts[1], now = cl_now_mono_ns())) {
			assert_true(now < deadline);
			int sig[8];
			size_t n;
			assert_int_equal(
				cl_supervise_wait(cl_supervise_timeout_ms(parts[1].restart_at_ns, now), sig, 8, &n),
				CL_OK);
		}
		uint64_t due = parts[1].restart_at_ns;
		pid = cl_supervise_fork(&parts[1], "test_supervise/crasher");
		if (pid == 0)
			_exit(7);
		assert_true(pid > 0);
		starts++;
		assert_true(parts[1].started_ns >= due); /* never before its backoff */
		assert_int_equal(parts[1].restart_at_ns, 0);
	}
	/* the last one: stopped with SIGTERM, reaped as killed */
	assert_int_equal(kill(pid, SIGTERM), 0);
	wait_death(parts, 2, &d);
	assert_true(WIFSIGNALED(d.status) || (WIFEXITED(d.status) && WEXITSTATUS(d.status) == 7));
	assert_int_equal(starts, 5);
	assert_int_equal(d.n, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff_doubles_caps_and_resets),
		cmocka_unit_test(signal_through_self_pipe_is_seen),
		cmocka_unit_test(forked_part_has_its_walls),
		cmocka_unit_test(exited_child_is_restarted_with_backoff),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
