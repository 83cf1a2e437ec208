/* Unit tests for the suspend/restore store (src/control/store_state.c,
 * migration 11): the counter only grows, only the latest committed key is
 * kept (an older blob's key no longer exists and asking for it is
 * stale_blob, naming both numbers), a suspend that does not commit drops
 * its pending key and leaves the committed one, bad input changes
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/err.h"
#include "control/store.h"
#include "control/store_state.h"

#include "store_fixture.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define POLICY "{\"pcrs\":{\"0\":\"00\"}}"

/* a distinct "sealed key" per n (this layer never opens it) */
static void sealed_for(int64_t n, uint8_t out[CTL_STATE_SEALED_LEN])
{
	for (size_t i = 0; i < CTL_STATE_SEALED_LEN; i++)
		out[i] = (uint8_t)(0xA0 + n * 7 + i);
}

static cl_err begin(fixture *f, int64_t n)
{
	uint8_t k[CTL_STATE_SEALED_LEN];
	uint8_t doc[8] = {'d', 'o', 'c', (uint8_t)n};
	sealed_for(n, k);
	return ctl_store_state_begin(f->st, "enc-1", n, k, sizeof(k), POLICY, doc, sizeof(doc), 1000 + n);
}

static cl_err commit(fixture *f, int64_t n, char old[CTL_STATE_PATH_MAX])
{
	char path[64];
	snprintf(path, sizeof(path), "state/enc-1.%lld.blob", (long long)n);
	return ctl_store_state_commit(f->st, "enc-1", n, 4096, SHA_A, path, 2000 + n, old);
}

/* rows whose committed or pending key is exactly the one made for n */
static int64_t rows_with_key(fixture *f, int64_t n)
{
	uint8_t k[CTL_STATE_SEALED_LEN];
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int64_t v = -1;
	sealed_for(n, k);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM enclave_state WHERE sealed_key=?1 OR pending_key=?1",
					    -1, &q, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(q, 1, k, sizeof(k), SQLITE_TRANSIENT), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static void never_suspended(void **state)
{
	fixture *f = *state;
	ctl_state s;
	assert_int_equal(ctl_store_state_get(f->st, "enc-1", &s), CL_OK);
	assert_string_equal(s.enclave_id, "enc-1");
	assert_int_equal(s.counter, 0);
	assert_int_equal(s.key_n, 0);
	assert_int_equal(s.pending_n, 0);
	assert_int_equal(ctl_store_state_for_restore(f->st, "enc-1", 1, &s), CL_ENOTFOUND);
	uint8_t *doc = NULL;
	size_t len = 0;
	assert_int_equal(ctl_store_state_document(f->st, "enc-1", &doc, &len), CL_ENOTFOUND);
	assert_null(doc);
}

static void suspend_commits(void **state)
{
	fixture *f = *state;
	ctl_state s;
	char old[CTL_STATE_PATH_MAX];
	uint8_t k1[CTL_STATE_SEALED_LEN];
	sealed_for(1, k1);
	assert_int_equal(begin(f, 1), CL_OK);
	/* pending: not restorable yet */
	assert_int_equal(ctl_store_state_get(f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.counter, 1);
	assert_int_equal(s.pending_n, 1);
	assert_int_equal(s.key_n, 0);
	assert_int_equal(ctl_store_state_for_restore(f->st, "enc-1", 1, &s), CL_ENOTFOUND);
	assert_int_equal(commit(f, 1, old), CL_OK);
	assert_string_equal(old, "");
	assert_int_equal(ctl_store_state_for_restore(f->st, "enc-1", 1, &s), CL_OK);
	assert_int_equal(s.key_n, 1);
	assert_int_equal(s.pending_n, 0);
	assert_int_equal(s.pending_key_len, 0);
	assert_int_equal(s.sealed_key_len, CTL_STATE_SEALED_LEN);
	assert_memory_equal(s.sealed_key, k1, sizeof(k1));
	assert_string_equal(s.policy, POLICY);
	assert_string_equal(s.blob_path, "state/enc-1.1.blob");
	assert_string_equal(s.blob_sha384, SHA_A);
	assert_int_equal(s.blob_size, 4096);
	assert_int_equal(s.suspended_at, 2001);
	uint8_t *doc = NULL;
	size_t len = 0;
	assert_int_equal(ctl_store_state_document(f->st, "enc-1", &doc, &len), CL_OK);
	assert_int_equal(len, 8);
	assert_memory_equal(doc, "doc\x01", 4);
	free(doc);
	/* committing again: nothing pending */
	assert_int_equal(commit(f, 1, old), CL_ECONFLICT);
}

/* Replay: after suspend 2 commits, blob 1's key exists nowhere and asking
 * for it names both numbers; the old blob's file is handed back to unlink. */
static void older_blob_is_stale(void **state)
{
	fixture *f = *state;
	ctl_state s;
	char old[CTL_STATE_PATH_MAX];
	uint8_t k2[CTL_STATE_SEALED_LEN];
	sealed_for(2, k2);
	assert_int_equal(begin(f, 1), CL_OK);
	assert_int_equal(commit(f, 1, old), CL_OK);
	assert_int_equal(begin(f, 2), CL_OK);
	/* while 2 is pending, 1 is still the committed suspend */
	assert_int_equal(ctl_store_state_for_restore(f->st, "enc-1", 1, &s), CL_OK);
	assert_int_equal(commit(f, 2, old), CL_OK);
	assert_string_equal(old, "state/enc-1.1.blob");
	assert_int_equal(rows_with_key(f, 1), 0);
	cl_error_clear();
	assert_int_equal(ctl_store_state_for_restore(f->st, "enc-1", 1, &s), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "stale_blob"));
	assert_non_null(strstr(cl_error_detail(), "suspend 1"));
	assert_non_null(strstr(cl_error_detail(), "latest is 2"));
	assert_int_equal(s.sealed_key_len, 0);
	assert_int_equal(ctl_store_state_for_restore(f->st, "enc-1", 2, &s), CL_OK);
	assert_memory_equal(s.sealed_key, k2, sizeof(k2));
	/* a number from the future is stale too */
	assert_int_equal(ctl_store_state_for_restore(f->st, "enc-1", 3, &s), CL_ECONFLICT);
}

/* A suspend that does not commit (killed, failed) drops its key, keeps the
 * committed one restorable, and its number is never used again. */
static void abort_keeps_committed(void **state)
{
	fixture *f = *state;
	ctl_state s;
	char old[CTL_STATE_PATH_MAX];
	assert_int_equal(begin(f, 1), CL_OK);
	assert_int_equal(commit(f, 1, old), CL_OK);
	assert_int_equal(begin(f, 2), CL_OK);
	assert_int_equal(rows_with_key(f, 2), 1);
	assert_int_equal(ctl_store_state_abort(f->st, "enc-1", 2), CL_OK);
	assert_int_equal(rows_with_key(f, 2), 0);
	assert_int_equal(commit(f, 2, old), CL_ECONFLICT);
	assert_int_equal(ctl_store_state_get(f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.counter, 2);
	assert_int_equal(s.key_n, 1);
	assert_int_equal(s.pending_n, 0);
	assert_int_equal(ctl_store_state_for_restore(f->st, "enc-1", 1, &s), CL_OK);
	/* 2 is spent: the next suspend is 3 */
	assert_int_equal(begin(f, 2), CL_ECONFLICT);
	assert_int_equal(begin(f, 3), CL_OK);
	/* start-up drops every pending suspend, and only those */
	int dropped = -1;
	assert_int_equal(ctl_store_state_abort_all(f->st, &dropped), CL_OK);
	assert_int_equal(dropped, 1);
	assert_int_equal(ctl_store_state_get(f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.pending_n, 0);
	assert_int_equal(s.key_n, 1);
	assert_int_equal(rows_with_key(f, 3), 0);
	assert_int_equal(begin(f, 4), CL_OK);
	/* aborting a number that is not pending does nothing */
	assert_int_equal(ctl_store_state_abort(f->st, "enc-1", 2), CL_OK);
	assert_int_equal(ctl_store_state_get(f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.pending_n, 4);
}

/* A later suspend supersedes a pending one: the earlier cannot commit. */
static void superseded_cannot_commit(void **state)
{
	fixture *f = *state;
	char old[CTL_STATE_PATH_MAX];
	assert_int_equal(begin(f, 1), CL_OK);
	assert_int_equal(begin(f, 2), CL_OK);
	assert_int_equal(rows_with_key(f, 1), 0);
	assert_int_equal(commit(f, 1, old), CL_ECONFLICT);
	assert_int_equal(commit(f, 2, old), CL_OK);
}

static void bad_input_changes_nothing(void **state)
{
	fixture *f = *state;
	ctl_state s;
	uint8_t k[CTL_STATE_SEALED_LEN] = {1};
	uint8_t *big = calloc(1, CTL_STATE_DOC_MAX + 1);
	char old[CTL_STATE_PATH_MAX];
	assert_non_null(big);
	assert_int_equal(ctl_store_state_begin(f->st, "enc-1", 1, k, sizeof(k) - 1, POLICY, big, 4, 1), CL_EINVAL);
	assert_int_equal(ctl_store_state_begin(f->st, "enc-1", 1, k, sizeof(k), "", big, 4, 1), CL_EINVAL);
	assert_int_equal(ctl_store_state_begin(f->st, "enc-1", 1, k, sizeof(k), POLICY, big, 0, 1), CL_EINVAL);
	assert_int_equal(ctl_store_state_begin(f->st, "enc-1", 1, k, sizeof(k), POLICY, big, CTL_STATE_DOC_MAX + 1, 1),
			 CL_EINVAL);
	assert_int_equal(ctl_store_state_begin(f->st, "enc-1", 0, k, sizeof(k), POLICY, big, 4, 1), CL_EINVAL);
	free(big);
	assert_int_equal(ctl_store_state_get(f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.counter, 0);
	assert_int_equal(begin(f, 1), CL_OK);
	assert_int_equal(ctl_store_state_commit(f->st, "enc-1", 1, 10, "abc", "state/x", 5, old), CL_EINVAL);
	assert_int_equal(ctl_store_state_commit(f->st, "enc-1", 1, 10, SHA_A, "", 5, old), CL_EINVAL);
	assert_int_equal(ctl_store_state_commit(f->st, "enc-1", 1, 0, SHA_A, "state/x", 5, old), CL_EINVAL);
	assert_int_equal(ctl_store_state_get(f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.pending_n, 1);
	assert_int_equal(s.key_n, 0);
}

/* The state survives a close and reopen (the migration is applied once). */
static void survives_reopen(void **state)
{
	fixture *f = *state;
	ctl_state s;
	char old[CTL_STATE_PATH_MAX];
	assert_int_equal(begin(f, 1), CL_OK);
	assert_int_equal(commit(f, 1, old), CL_OK);
	ctl_store_close(f->st);
	f->st = NULL;
	assert_int_equal(ctl_store_open(f->path, &f->st), CL_OK);
	assert_int_equal(ctl_store_state_for_restore(f->st, "enc-1", 1, &s), CL_OK);
	assert_int_equal(s.counter, 1);
}

static void suspendable_and_delete(void **state)
{
	fixture *f = *state;
	bool yes = true;
	char old[CTL_STATE_PATH_MAX], blob[CTL_STATE_PATH_MAX];
	ctl_state s;
	assert_int_equal(ctl_store_state_suspendable(f->st, "enc-1", &yes), CL_OK);
	assert_false(yes);
	assert_int_equal(ctl_store_state_set_suspendable(f->st, "enc-1"), CL_OK);
	assert_int_equal(ctl_store_state_set_suspendable(f->st, "enc-1"), CL_OK);
	assert_int_equal(ctl_store_state_suspendable(f->st, "enc-1", &yes), CL_OK);
	assert_true(yes);
	assert_int_equal(ctl_store_state_suspendable(f->st, "enc-2", &yes), CL_OK);
	assert_false(yes);
	assert_int_equal(begin(f, 1), CL_OK);
	assert_int_equal(commit(f, 1, old), CL_OK);
	assert_int_equal(ctl_store_state_delete(f->st, "enc-1", blob), CL_OK);
	assert_string_equal(blob, "state/enc-1.1.blob");
	assert_int_equal(rows_with_key(f, 1), 0);
	assert_int_equal(ctl_store_state_suspendable(f->st, "enc-1", &yes), CL_OK);
	assert_false(yes);
	assert_int_equal(ctl_store_state_get(f->st, "enc-1", &s), CL_OK);
	assert_int_equal(s.counter, 0);
	assert_int_equal(ctl_store_state_delete(f->st, "enc-1", blob), CL_OK);
	assert_string_equal(blob, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(never_suspended, setup, teardown),
		cmocka_unit_test_setup_teardown(suspend_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(older_blob_is_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(abort_keeps_committed, setup, teardown),
		cmocka_unit_test_setup_teardown(superseded_cannot_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_input_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(suspendable_and_delete, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
