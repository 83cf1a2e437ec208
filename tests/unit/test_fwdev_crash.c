/* Power loss and races. A child process performs an update with a fault
 * hook (fwg_opts.fault, the test seam) that SIGKILLs it at a chosen point of
 * the flash write; the parent reopens the device and checks that it boots the
 * previous slot with the counter unchanged, that the audit chain still
 * verifies, and that the intent the child appended got its outcome
 * (refused/interrupted before the commit, accepted/recovered after it).
 * Every other accepted change (trust root, window policy, revert, queue,
 * quarantine clear) is killed after its intent and after its commit too.
 * Two processes (and two threads) pushing at once serialise on the host
 * lock: exactly one of two same-sequence bundles wins. */
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

/* Intent/outcome bookkeeping over the whole log. */
typedef struct intents {
	fwg_audit_rec open[8];
	size_t nopen;
	int intents, interrupted, recovered;
	bool mismatch; /* a record for a device with an open intent was not its outcome */
} intents;

static int check_intent(const fwg_audit_rec *r, void *ctx)
{
	intents *c = ctx;
	for (size_t i = 0; i < c->nopen; i++) {
		if (strcmp(c->open[i].addr, r->addr) != 0)
			continue;
		/* the next record for the device is the intent's outcome: same op,
		 * source and identity, accepted or refused */
		const fwg_audit_rec *o = &c->open[i];
		if (r->op != o->op || r->source != o->source || r->has_id != o->has_id ||
		    r->sequence != o->sequence || strcmp(r->version, o->version) != 0 ||
		    (r->result != FWG_RES_ACCEPTED && r->result != FWG_RES_REFUSED))
			c->mismatch = true;
		c->open[i] = c->open[--c->nopen];
		break;
	}
	c->interrupted += r->result == FWG_RES_REFUSED && r->reason == FWG_R_INTERRUPTED;
	c->recovered += r->result == FWG_RES_ACCEPTED && r->reason == FWG_R_RECOVERED;
	if (r->result == FWG_RES_INTENT) {
		c->intents++;
		if (c->nopen < 8)
			c->open[c->nopen++] = *r;
		else
			c->mismatch = true;
	}
	return 0;
}

/* The chain verifies and every intent has its outcome. */
static intents audit_chain_ok(dx *d)
{
	fwa_report rep;
	intents c;
	cl_buf file;
	memset(&c, 0, sizeof(c));
	assert_int_equal(fwa_verify(d->log, 0, NULL, &rep), CL_OK);
	assert_true(rep.ok);
	cl_buf_init(&file, 1 << 26);
	assert_int_equal(cl_file_read(d->log, file.max, &file), CL_OK);
	fwa_walk(file.data, file.len, &rep, check_intent, &c);
	cl_buf_free(&file);
	assert_true(rep.ok);
	assert_false(c.mismatch);
	assert_int_equal(c.nopen, 0);
	return c;
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
		{FWG_FAULT_SLOT_SYNCED, 0},   {FWG_FAULT_STATE_TMP, 0},     {FWG_FAULT_INTENT, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		intents before = audit_chain_ok(d);
		int st = update_in_child(d, &cases[i], &b6);
		assert_true(WIFSIGNALED(st));
		assert_int_equal(WTERMSIG(st), SIGKILL);
		assert_int_equal(fwg_host_open(d->dir, &d->opts, &d->h), CL_OK);
		fwg_dev_status s = dev_status(d, NIC);
		assert_true(s.booted);
		assert_int_equal(s.active_slot, 0);
		assert_int_equal(s.sequence, 5);
		assert_int_equal(s.counter, 5);
		/* The child's intent got its outcome at reopen: interrupted. */
		intents now = audit_chain_ok(d);
		assert_int_equal(now.intents, before.intents + 1);
		assert_int_equal(now.interrupted, before.interrupted + 1);
		assert_int_equal(now.recovered, before.recovered);
		fwg_audit_rec last = audit_last(d);
		assert_int_equal(last.op, FWG_OP_UPDATE);
		assert_int_equal(last.result, FWG_RES_REFUSED);
		assert_int_equal(last.reason, FWG_R_INTERRUPTED);
		assert_int_equal(last.sequence, 6);
		fwg_host_close(d->h);
		d->h = NULL;
	}
	/* Killed right after the rename (or after the directory fsync): committed,
	 * the new slot boots, and the record says so. */
	const killer after[] = {{FWG_FAULT_STATE_RENAMED, 0}, {FWG_FAULT_COMMITTED, 0}};
	for (size_t i = 0; i < 2; i++) {
		intents before = audit_chain_ok(d);
		cl_buf b;
		dev_bundle(d, NIC, 6 + i, 6000, K01, 2, &b);
		int st = update_in_child(d, &after[i], &b);
		cl_buf_free(&b);
		assert_true(WIFSIGNALED(st));
		assert_int_equal(fwg_host_open(d->dir, &d->opts, &d->h), CL_OK);
		fwg_dev_status s = dev_status(d, NIC);
		assert_true(s.booted);
		assert_int_equal(s.active_slot, i == 0 ? 1 : 0);
		assert_int_equal(s.counter, 6 + i);
		intents now = audit_chain_ok(d);
		assert_int_equal(now.recovered, before.recovered + 1);
		assert_int_equal(now.interrupted, before.interrupted);
		fwg_audit_rec last = audit_last(d);
		assert_int_equal(last.result, FWG_RES_ACCEPTED);
		assert_int_equal(last.reason, FWG_R_RECOVERED);
		assert_int_equal(last.sequence, 6 + i);
		if (i == 0) {
			fwg_host_close(d->h);
			d->h = NULL;
		}
	}
	/* And the device still takes the next update normally. */
	cl_buf b7;
	dev_bundle(d, NIC, 8, 100, K01, 2, &b7);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b7.data, b7.len, NULL), CL_OK);
	audit_chain_ok(d);
	cl_buf_free(&b5);
	cl_buf_free(&b6);
	cl_buf_free(&b7);
}

/* ---- every other accepted change, killed after its intent and after its commit ---- */

typedef struct change {
	const char *name;
	fwg_op op;
	const cl_buf *doc; /* trust, window, queue: the input */
} change;

static cl_err run_change(fwg_host *h, const change *c)
{
	switch (c->op) {
	case FWG_OP_TRUST:
		return fwg_mgmt_trust(h, FWG_SRC_MGMT, NIC, c->doc->data, c->doc->len, NULL);
	case FWG_OP_WINDOW:
		return fwg_mgmt_window(h, FWG_SRC_MGMT, NIC, c->doc->data, c->doc->len, NULL);
	case FWG_OP_REVERT:
		return fwg_mgmt_revert(h, FWG_SRC_MGMT, NIC, NULL);
	case FWG_OP_QUEUE:
		return fwg_mgmt_queue(h, FWG_SRC_MGMT, NIC, c->doc->data, c->doc->len, NULL);
	case FWG_OP_CLEAR:
		return fwg_quarantine_clear(h, FWG_SRC_OPERATOR, "crash test");
	default:
		return CL_EINTERNAL;
	}
}

static int change_in_child(dx *d, const killer *k, const change *c)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fwg_opts o = d->opts;
		fwg_host *h;
		o.fault = fault_kill;
		o.fault_ctx = (void *)k;
		if (fwg_host_open(d->dir, &o, &h) != CL_OK || fwg_host_set_id(h, HOST_ID) != CL_OK)
			_exit(3);
		_exit(run_change(h, c) == CL_OK ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

/* What each change changes, as one number. */
static uint64_t observe(dx *d, fwg_op op)
{
	fwg_dev_status s = dev_status(d, NIC);
	switch (op) {
	case FWG_OP_TRUST:
		return s.trust_version;
	case FWG_OP_WINDOW:
		return s.next_window_s;
	case FWG_OP_REVERT:
		return (uint64_t)s.active_slot;
	case FWG_OP_QUEUE:
		return s.pending;
	default:
		return fwg_quarantined(d->h);
	}
}

static void every_change_gets_an_outcome_after_a_kill(void **state)
{
	dx *d = *state;
	cl_buf b5, b6, trust2, window, queued;
	const int signers[] = {0, 1, 3}, by[] = {0, 1};
	dev_bundle(d, NIC, 5, 3000, K01, 2, &b5);
	dev_bundle(d, NIC, 6, 3000, K01, 2, &b6);
	dev_bundle(d, NIC, 9, 3000, K01, 2, &queued);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b5.data, b5.len, NULL), CL_OK);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b6.data, b6.len, NULL), CL_OK);
	make_tr(&d->f, 2, 2, signers, 3, by, 2, &trust2);
	window_doc(d, NIC, 1, 120, &window);
	char qpath[160];
	snprintf(qpath, sizeof(qpath), "%s/quarantine", d->dir);
	const change changes[] = {
		{"trust", FWG_OP_TRUST, &trust2}, {"window", FWG_OP_WINDOW, &window}, {"revert", FWG_OP_REVERT, NULL},
		{"queue", FWG_OP_QUEUE, &queued}, {"clear", FWG_OP_CLEAR, NULL},
	};
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		const change *c = &changes[i];
		if (c->op == FWG_OP_CLEAR)
			assert_int_equal(cl_file_write_atomic(qpath, "test\n", 5, 0600), CL_OK);
		uint64_t v0 = observe(d, c->op);
		/* 0: killed after the intent (nothing changed), 1: after the commit. */
		for (int k = 0; k < 2; k++) {
			const killer kill = {k ? FWG_FAULT_COMMITTED : FWG_FAULT_INTENT, 0};
			intents before = audit_chain_ok(d);
			int st = change_in_child(d, &kill, c);
			if (!WIFSIGNALED(st))
				fail_msg("%s: child not killed (status %d)", c->name, st);
			/* The parent's handle, open all along, resolves the intent at its
			 * next lock (observe -> status); a reopen finds nothing left. */
			uint64_t v = observe(d, c->op);
			intents now = audit_chain_ok(d);
			fwg_audit_rec last = audit_last(d);
			assert_int_equal(now.intents, before.intents + 1);
			assert_int_equal(last.op, c->op);
			if (k == 0) {
				assert_true(v == v0);
				assert_int_equal(last.result, FWG_RES_REFUSED);
				assert_int_equal(last.reason, FWG_R_INTERRUPTED);
				assert_int_equal(now.interrupted, before.interrupted + 1);
			} else {
				assert_true(v != v0);
				assert_int_equal(last.result, FWG_RES_ACCEPTED);
				assert_int_equal(last.reason, FWG_R_RECOVERED);
				assert_int_equal(now.recovered, before.recovered + 1);
			}
			dx_reopen(d);
			assert_int_equal(audit_last(d).seq, last.seq);
		}
	}
	cl_buf_free(&b5);
	cl_buf_free(&b6);
	cl_buf_free(&trust2);
	cl_buf_free(&window);
	cl_buf_free(&queued);
}

/* A power-on applies the queue: killed mid-apply, the update's intent is
 * resolved and the bundle stays queued for the next power-on. */
static void kill_while_applying_the_queue(void **state)
{
	dx *d = *state;
	cl_buf b;
	dev_bundle(d, NIC, 4, 3000, K01, 2, &b);
	assert_int_equal(fwg_mgmt_queue(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, NULL), CL_OK);
	const killer kill = {FWG_FAULT_SLOT_SYNCED, 0};
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fwg_opts o = d->opts;
		fwg_host *h;
		o.fault = fault_kill;
		o.fault_ctx = (void *)&kill;
		if (fwg_host_open(d->dir, &o, &h) != CL_OK)
			_exit(3);
		_exit(fwg_host_power_cycle(h, FWG_SRC_OPERATOR) == CL_OK ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	fwg_dev_status s = dev_status(d, NIC);
	assert_int_equal(s.counter, 0);
	assert_int_equal(s.pending, 1);
	intents c = audit_chain_ok(d);
	assert_int_equal(c.interrupted, 1);
	/* The next power cycle applies it. */
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	s = dev_status(d, NIC);
	assert_int_equal(s.counter, 4);
	assert_int_equal(s.pending, 0);
	audit_chain_ok(d);
	cl_buf_free(&b);
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
		T(every_change_gets_an_outcome_after_a_kill),
		T(kill_while_applying_the_queue),
		T(two_processes_racing_serialise),
		T(two_threads_racing_serialise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
