/* Unit tests for src/control/store_jobwait.c: the job "delivered" mark
 * without its own fsync marks exactly the pending jobs of the host's
 * enclaves, survives closing and reopening the store, leaves the connection
 * at synchronous=FULL for every later commit, and is refused (changing
 * nothing) inside a transaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/util.h"
#include "control/store.h"
#include "control/store_jobwait.h"
#include "control/store_priv.h"

#include "store_fixture.h"

static void add_host(fixture *f, const char *id)
{
	ctl_host h = {.state = "ready", .level = "software", .memory_mib = 1000, .cpus = 4, .generation = 1};
	snprintf(h.id, sizeof(h.id), "%s", id);
	snprintf(h.name, sizeof(h.name), "n-%s", id);
	h.caps_json = (char *)"{\"level\":\"software\"}";
	assert_int_equal(ctl_store_host_insert(f->st, &h), CL_OK);
}

static void add_enclave_job(fixture *f, const char *enc, const char *host, const char *job, const char *state)
{
	ctl_enclave e = {.tenant_id = "ten-a", .image_id = "img-1", .state = "pending", .desired = "running",
			 .memory_mib = 64, .cpus = 1, .min_level = "software", .untrusted_mask = 3,
			 .access_hash = "v1$k"};
	snprintf(e.id, sizeof(e.id), "%s", enc);
	snprintf(e.name, sizeof(e.name), "n-%s", enc);
	snprintf(e.host_id, sizeof(e.host_id), "%s", host);
	assert_int_equal(ctl_store_enclave_insert(f->st, &e), CL_OK);
	ctl_job j = {.kind = "create", .tenant_id = "ten-a", .created_at = 1, .updated_at = 1};
	snprintf(j.id, sizeof(j.id), "%s", job);
	snprintf(j.enclave_id, sizeof(j.enclave_id), "%s", enc);
	snprintf(j.state, sizeof(j.state), "%s", state);
	j.progress = strcmp(state, "succeeded") == 0 ? 100 : 0;
	assert_int_equal(ctl_store_job_insert(f->st, &j), CL_OK);
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

static void assert_job(ctl_store *st, const char *id, const char *state, int64_t progress, int64_t updated_at)
{
	ctl_job got;
	assert_int_equal(ctl_store_job_get(st, id, &got), CL_OK);
	assert_string_equal(got.state, state);
	assert_int_equal(got.progress, progress);
	assert_int_equal(got.updated_at, updated_at);
}

static void marks_pending_jobs_of_the_host_only(void **state)
{
	fixture *f = *state;
	add_host(f, "host-1");
	add_host(f, "host-2");
	add_enclave_job(f, "enc-1", "host-1", "job-1", "pending");
	add_enclave_job(f, "enc-2", "host-1", "job-2", "succeeded");
	add_enclave_job(f, "enc-3", "host-2", "job-3", "pending");
	assert_int_equal(synchronous_of(f->st), 2); /* FULL, as opened */
	assert_int_equal(ctl_store_jobs_delivered_lazy(f->st, "host-1", 77), CL_OK);
	assert_job(f->st, "job-1", "running", 50, 77);
	assert_job(f->st, "job-2", "succeeded", 100, 1); /* final: untouched */
	assert_job(f->st, "job-3", "pending", 0, 1);     /* another host's */
	/* every later commit is durable again */
	assert_int_equal(synchronous_of(f->st), 2);
	/* a second mark finds nothing pending: no change */
	assert_int_equal(ctl_store_jobs_delivered_lazy(f->st, "host-1", 99), CL_OK);
	assert_job(f->st, "job-1", "running", 50, 77);
	/* committed: there after closing and reopening (a new connection reads the WAL) */
	ctl_store_close(f->st);
	f->st = NULL;
	assert_int_equal(ctl_store_open(f->path, &f->st), CL_OK);
	assert_job(f->st, "job-1", "running", 50, 77);
	assert_int_equal(synchronous_of(f->st), 2);
}

static void refused_inside_a_transaction(void **state)
{
	fixture *f = *state;
	add_host(f, "host-1");
	add_enclave_job(f, "enc-1", "host-1", "job-1", "pending");
	assert_int_equal(ctl_store_begin(f->st), CL_OK);
	assert_int_equal(ctl_store_jobs_delivered_lazy(f->st, "host-1", 77), CL_EINTERNAL);
	ctl_store_rollback(f->st);
	assert_job(f->st, "job-1", "pending", 0, 1);
	assert_int_equal(synchronous_of(f->st), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(marks_pending_jobs_of_the_host_only, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_inside_a_transaction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
