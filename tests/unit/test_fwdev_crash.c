/* Power loss and races. A child process performs an update with a fault
 * hook (fwg_opts.fault, the test seam) that SIGKILLs it at a chosen point of
 * the flash write; the parent reopens the device and checks that it boots the
 * previous slot with the counter unchanged and that the audit chain still
 * verifies. Two processes (and two threads) pushing at once serialise on the
 * host lock: exactly one of two same-sequence bundles wins. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "test_fwdev_fixture.h"

static const int K01[] = {0, 1};

typedef struct killer {
	fwg_fault_point point;
	uint64_t at;
} killer;

static void fault_kill(void *ctx, fwg_fault_point p, uint64_t arg)
{
	const killer *k = ctx;
	if (p == k->point && (p != FWG_FAULT_SLOT_BYTES || arg >= k->at))
		raise(SIGKILL);
}

/* Runs the update in a child that dies at k; returns the wait status. */
static int update_in_child(dx *d, const killer *k, const cl_buf *b)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fwg_opts o = d->opts;
		fwg_host *h;
		o.fault = fault_kill;
		o.fault_ctx = (void *)k;
		if (fwg_host_open(d->dir, &o, &h) != CL_OK)
			_exit(3);
		cl_err err = fwg_mgmt_update(h, FWG_SRC_MGMT, NIC, b->data, b->len, NULL);
		_exit(err == CL_OK ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void audit_chain_ok(dx *d)
{
	fwa_report rep;
	assert_int_equal(fwa_verify(d->log, 0, NULL, &rep), CL_OK);
	assert_true(rep.ok);
}

static void kill_during_flash_write_keeps_previous_slot(void **state)
{
	dx *d = *state;
	cl_buf b5, b6;
	dev_bundle(d, NIC, 5, 6000, K01, 2, &b5);
	dev_bundle(d, NIC, 6, 6000, K01, 2, &b6);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b5.data, b5.len, NULL), CL_OK);
	fwg_host_close(d->h);
	d->h = NULL;
	const killer cases[] = {
		{FWG_FAULT_SLOT_BYTES, 0},    {FWG_FAULT_SLOT_BYTES, 1},    {FWG_FAULT_SLOT_BYTES, 1024},
		{FWG_FAULT_SLOT_BYTES, 3000}, {FWG_FAULT_SLOT_BYTES, 5000}, {FWG_FAULT_SLOT_BYTES, b6.len},
		{FWG_FAULT_SLOT_SYNCED, 0},   {FWG_FAULT_STATE_TMP, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = update_in_child(d, &cases[i], &b6);
		assert_true(WIFSIGNALED(st));
		assert_int_equal(WTERMSIG(st), SIGKILL);
		assert_int_equal(fwg_host_open(d->dir, &d->opts, &d->h), CL_OK);
		fwg_dev_status s = dev_status(d, NIC);
		assert_true(s.booted);
		assert_int_equal(s.active_slot, 0);
		assert_int_equal(s.sequence, 5);
		assert_int_equal(s.counter, 5);
		audit_chain_ok(d);
		fwg_host_close(d->h);
		d->h = NULL;
	}
	/* Killed right after the rename: committed, the new slot boots. */
	const killer after = {FWG_FAULT_STATE_RENAMED, 0};
	int st = update_in_child(d, &after, &b6);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(fwg_host_open(d->dir, &d->opts, &d->h), CL_OK);
	fwg_dev_status s = dev_status(d, NIC);
	assert_true(s.booted);
	assert_int_equal(s.active_slot, 1);
	assert_int_equal(s.counter, 6);
	audit_chain_ok(d);
	/* And the device still takes the next update normally. */
	cl_buf b7;
	dev_bundle(d, NIC, 7, 100, K01, 2, &b7);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b7.data, b7.len, NULL), CL_OK);
	audit_chain_ok(d);
	cl_buf_free(&b5);
	cl_buf_free(&b6);
	cl_buf_free(&b7);
}

static int count_accepted(const fwg_audit_rec *r, void *ctx)
{
	if (r->op == FWG_OP_UPDATE && r->result == FWG_RES_ACCEPTED)
		(*(int *)ctx)++;
	return 0;
}

static int accepted_updates(dx *d)
{
	cl_buf file;
	fwa_report rep;
	int n = 0;
	cl_buf_init(&file, 1 << 26);
	assert_int_equal(cl_file_read(d->log, file.max, &file), CL_OK);
	fwa_walk(file.data, file.len, &rep, count_accepted, &n);
	assert_true(rep.ok);
	cl_buf_free(&file);
	return n;
}

static void two_processes_racing_serialise(void **state)
{
	dx *d = *state;
	int before = accepted_updates(d);
	for (uint64_t round = 0; round < 4; round++) {
		cl_buf a, b;
		const int by_a[] = {0, 1}, by_b[] = {1, 2};
		uint64_t seq = 10 + round;
		dev_bundle(d, NIC, seq, 4000, by_a, 2, &a);
		dev_bundle(d, NIC, seq, 5000, by_b, 2, &b); /* same sequence, other image */
		int gate[2];
		assert_int_equal(pipe(gate), 0);
		pid_t pids[2];
		for (int i = 0; i < 2; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				char c;
				fwg_host *h;
				close(gate[1]);
				if (fwg_host_open(d->dir, &d->opts, &h) != CL_OK)
					_exit(3);
				if (read(gate[0], &c, 1) != 0) /* both start when the parent closes it */
					_exit(4);
				fwg_outcome o;
				const cl_buf *mine = i ? &b : &a;
				cl_err err = fwg_mgmt_update(h, FWG_SRC_MGMT, NIC, mine->data, mine->len, &o);
				fwg_host_close(h);
				_exit(err == CL_OK ? 0 : o.reason == FW_E_ROLLBACK ? 1 : 2);
			}
		}
		close(gate[0]);
		close(gate[1]);
		int codes[2];
		for (int i = 0; i < 2; i++) {
			int st;
			assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
			assert_true(WIFEXITED(st));
			codes[i] = WEXITSTATUS(st);
		}
		assert_int_equal(codes[0] + codes[1], 1); /* one 0 (won), one 1 (rollback) */
		fwg_dev_status s = dev_status(d, NIC);
		assert_int_equal(s.counter, seq);
		assert_int_equal(s.sequence, seq);
		assert_true(s.booted);
		cl_buf_free(&a);
		cl_buf_free(&b);
	}
	assert_int_equal(accepted_updates(d), before + 4);
	dx_reopen(d);
	assert_true(dev_status(d, NIC).booted);
}

typedef struct pusher {
	fwg_host *h;
	const cl_buf *b;
	cl_err err;
} pusher;

static void *push_thread(void *arg)
{
	pusher *p = arg;
	p->err = fwg_mgmt_update(p->h, FWG_SRC_MGMT, NIC, p->b->data, p->b->len, NULL);
	return NULL;
}

static void two_threads_racing_serialise(void **state)
{
	dx *d = *state;
	cl_buf a, b;
	dev_bundle(d, NIC, 20, 3000, K01, 2, &a);
	dev_bundle(d, NIC, 21, 3000, K01, 2, &b);
	pusher pa = {d->h, &a, CL_OK}, pb = {d->h, &b, CL_OK};
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, push_thread, &pa), 0);
	assert_int_equal(pthread_create(&tb, NULL, push_thread, &pb), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(pb.err, CL_OK); /* 21 always lands; 20 only if it went first */
	assert_true(pa.err == CL_OK || pa.err == CL_ECRYPTO);
	fwg_dev_status s = dev_status(d, NIC);
	assert_int_equal(s.counter, 21);
	assert_int_equal(s.sequence, 21);
	audit_chain_ok(d);
	cl_buf_free(&a);
	cl_buf_free(&b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, dx_setup, dx_teardown)
	const struct CMUnitTest tests[] = {
		T(kill_during_flash_write_keeps_previous_slot),
		T(two_processes_racing_serialise),
		T(two_threads_racing_serialise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
