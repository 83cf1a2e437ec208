/* Unit tests for src/control/store_durable.c and the unsynced transactions
 * of store_jobwait.c: a create's commit made durable off the event loop.
 *
 * - an unsynced transaction runs at synchronous=NORMAL and leaves the
 *   connection at FULL after its COMMIT or ROLLBACK; nested, it is refused;
 * - a waiter's callback runs from the loop, never inside ctl_durable_after,
 *   and only after an fdatasync completed (the count the kernel reported);
 *   the commit is there after reopening the store;
 * - waiters arriving while one fdatasync is in flight share the next one,
 *   and callbacks run in order;
 * - ctl_durable_free runs the callbacks still due;
 * - a WAL that cannot be fdatasynced stops the process (SIGABRT): commits
 *   already visible may not be durable. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "common/util.h"
#include "control/store.h"
#include "control/store_durable.h"
#include "control/store_jobwait.h"
#include "control/store_priv.h"

typedef struct fixture {
	char dir[64];
	char path[128];
	ctl_store *st;
	struct event_base *base;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/cl-durable-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/control.db", f->dir);
	if (ctl_store_open(f->path, &f->st) != CL_OK || !(f->base = event_base_new()))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	ctl_store_close(f->st);
	event_base_free(f->base);
	if (cl_rm_rf(f->dir) != CL_OK)
		return -1;
	free(f);
	return 0;
}

static int synchronous_of(ctl_store *st)
{
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_prepare_v2(st->db, "PRAGMA synchronous", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return v;
}

static void add_tenant(ctl_store *st, const char *id)
{
	ctl_tenant t = {.created_at = 1};
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.name, sizeof(t.name), "n-%s", id);
	assert_int_equal(ctl_store_tenant_insert(st, &t), CL_OK);
}

/* One waiter: records the order its callback ran in and the fdatasyncs
 * completed by then. */
typedef struct probe {
	ctl_durable_waiter w;
	ctl_durable *d;
	int *order; /* shared counter */
	int ran_as; /* 0: not yet */
	uint64_t syncs_then;
} probe;

static void on_durable(void *arg)
{
	probe *p = arg;
	p->ran_as = ++*p->order;
	p->syncs_then = ctl_durable_syncs(p->d);
}

/* Runs the loop until every probe ran (or 10 s). */
static void run_until(struct event_base *base, probe *ps, size_t n)
{
	uint64_t deadline = cl_now_mono_ns() + 10ull * 1000000000ull;
	for (;;) {
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += ps[i].ran_as != 0;
		if (done == n)
			return;
		assert_true(cl_now_mono_ns() < deadline);
		struct timeval tick = {0, 10000};
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
}

static void unsynced_transaction_keeps_full_after(void **state)
{
	fixture *f = *state;
	assert_int_equal(synchronous_of(f->st), 2);
	assert_int_equal(ctl_store_begin_unsynced(f->st), CL_OK);
	assert_int_equal(synchronous_of(f->st), 1); /* NORMAL: COMMIT writes the WAL, no fsync */
	assert_int_equal(ctl_store_begin_unsynced(f->st), CL_EINTERNAL);
	assert_int_equal(ctl_store_begin(f->st), CL_EINTERNAL);
	add_tenant(f->st, "ten-a");
	assert_int_equal(ctl_store_commit(f->st), CL_OK);
	assert_int_equal(synchronous_of(f->st), 2);
	/* a rolled-back one too */
	assert_int_equal(ctl_store_begin_unsynced(f->st), CL_OK);
	add_tenant(f->st, "ten-b");
	ctl_store_rollback(f->st);
	assert_int_equal(synchronous_of(f->st), 2);
	ctl_tenant t;
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-a", &t), CL_OK);
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-b", &t), CL_ENOTFOUND);
	/* an ordinary transaction after them is FULL */
	assert_int_equal(ctl_store_begin(f->st), CL_OK);
	assert_int_equal(synchronous_of(f->st), 2);
	ctl_store_rollback(f->st);
}

static void callback_after_the_fdatasync(void **state)
{
	fixture *f = *state;
	ctl_durable *d = NULL;
	int order = 0;
	assert_int_equal(ctl_durable_new(f->st, f->base, &d), CL_OK);
	assert_int_equal(ctl_store_begin_unsynced(f->st), CL_OK);
	add_tenant(f->st, "ten-a");
	assert_int_equal(ctl_store_commit(f->st), CL_OK);
	probe p = {.d = d, .order = &order};
	ctl_durable_after(d, &p.w, on_durable, &p);
	assert_int_equal(p.ran_as, 0); /* never inside ctl_durable_after */
	run_until(f->base, &p, 1);
	assert_int_equal(p.ran_as, 1);
	assert_int_equal(p.syncs_then, 1); /* the kernel reported the fdatasync done first */
	ctl_durable_free(d);
	/* durable and committed: there after reopening */
	ctl_store_close(f->st);
	f->st = NULL;
	assert_int_equal(ctl_store_open(f->path, &f->st), CL_OK);
	ctl_tenant t;
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-a", &t), CL_OK);
}

static void waiters_share_the_next_fdatasync(void **state)
{
	fixture *f = *state;
	ctl_durable *d = NULL;
	int order = 0;
	assert_int_equal(ctl_durable_new(f->st, f->base, &d), CL_OK);
	probe p[4];
	memset(p, 0, sizeof(p));
	for (size_t i = 0; i < 4; i++) {
		p[i].d = d;
		p[i].order = &order;
		ctl_durable_after(d, &p[i].w, on_durable, &p[i]);
	}
	run_until(f->base, p, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(p[i].ran_as, (int)i + 1); /* in order */
	assert_int_equal(p[0].syncs_then, 1);       /* its own */
	assert_int_equal(p[3].syncs_then, 2);       /* the three queued meanwhile: one more */
	assert_int_equal(ctl_durable_syncs(d), 2);
	ctl_durable_free(d);
}

static void free_runs_the_callbacks_due(void **state)
{
	fixture *f = *state;
	ctl_durable *d = NULL;
	int order = 0;
	assert_int_equal(ctl_durable_new(f->st, f->base, &d), CL_OK);
	probe p[2];
	memset(p, 0, sizeof(p));
	for (size_t i = 0; i < 2; i++) {
		p[i].order = &order;
		ctl_durable_after(d, &p[i].w, on_durable, &p[i]);
	}
	ctl_durable_free(d); /* one in flight, one queued; the loop never ran */
	assert_int_equal(p[0].ran_as, 1);
	assert_int_equal(p[1].ran_as, 2);
}

static void failed_fdatasync_stops_the_process(void **state)
{
	fixture *f = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* /dev/null has no fsync: the kernel refuses the request and the
		 * synchronous fdatasync fails (EINVAL) */
		ctl_durable *d = NULL;
		if (ctl_durable_new_path("/dev/null", f->base, &d) != CL_OK)
			_exit(3);
		int order = 0;
		probe p = {.d = d, .order = &order};
		ctl_durable_after(d, &p.w, on_durable, &p);
		struct timeval two = {2, 0}; /* bounded: a broken barrier must fail here, not hang */
		event_base_loopexit(f->base, &two);
		event_base_dispatch(f->base);
		_exit(p.ran_as ? 4 : 5);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void no_wal_no_barrier(void **state)
{
	fixture *f = *state;
	ctl_durable *d = (ctl_durable *)1;
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/none", f->dir);
	assert_int_not_equal(ctl_durable_new_path(missing, f->base, &d), CL_OK);
	assert_null(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unsynced_transaction_keeps_full_after, setup, teardown),
		cmocka_unit_test_setup_teardown(callback_after_the_fdatasync, setup, teardown),
		cmocka_unit_test_setup_teardown(waiters_share_the_next_fdatasync, setup, teardown),
		cmocka_unit_test_setup_teardown(free_runs_the_callbacks_due, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_fdatasync_stops_the_process, setup, teardown),
		cmocka_unit_test_setup_teardown(no_wal_no_barrier, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
