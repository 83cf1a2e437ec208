/* Unit tests for uploads in parts (src/control/store_upload.c, the id
 * validator in api_uploads.c) and firmware op data by reference
 * (store_fw.c fw_op_data): rows, counts, expiry, the reaping of finished
 * ops' data, and their negative cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "control/fw.h"
#include "control/store.h"
#include "control/store_fw.h"
#include "control/upload.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

#include "store_fixture.h"

static ctl_upload mk(const char *id, const char *tenant, bool complete, int64_t updated)
{
	ctl_upload u;
	memset(&u, 0, sizeof(u));
	snprintf(u.id, sizeof(u.id), "%s", id);
	snprintf(u.tenant_id, sizeof(u.tenant_id), "%s", tenant);
	snprintf(u.owner_kind, sizeof(u.owner_kind), "tenant");
	snprintf(u.sha384, sizeof(u.sha384), SHA);
	u.size = 3 * 1048576 + 7;
	u.received = complete ? u.size : 0;
	u.complete = complete;
	u.created_at = u.updated_at = updated;
	return u;
}

static void upload_ids(void **state)
{
	assert_true(ctl_upload_valid_id("upl_abcdefghijklmnopqrst"));
	assert_true(ctl_upload_valid_id("upl_a234567"));
	assert_false(ctl_upload_valid_id("upl_"));
	assert_false(ctl_upload_valid_id("upl_ABC"));
	assert_false(ctl_upload_valid_id("upl_a1"));           /* 1 is not base32 */
	assert_false(ctl_upload_valid_id("upl_a/../b"));
	assert_false(ctl_upload_valid_id("img-abcdef"));
	assert_false(ctl_upload_valid_id("upl_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 41 */
	assert_false(ctl_upload_valid_id(""));
	assert_false(ctl_upload_valid_id(NULL));
	char id[CTL_ID_MAX];
	assert_int_equal(cl_random_id("upl_", id, sizeof(id)), CL_OK);
	assert_true(ctl_upload_valid_id(id)); /* what create makes is what the routes accept */
}

static void upload_rows(void **state)
{
	fixture *f = *state;
	ctl_upload a = mk("upl_aaaa", "ten-a", false, 1000), got;
	assert_int_equal(ctl_store_upload_insert(f->st, &a), CL_OK);
	assert_int_equal(ctl_store_upload_insert(f->st, &a), CL_ECONFLICT);
	assert_int_equal(ctl_store_upload_get(f->st, "upl_aaaa", &got), CL_OK);
	assert_string_equal(got.tenant_id, "ten-a");
	assert_string_equal(got.owner_kind, "tenant");
	assert_string_equal(got.sha384, SHA);
	assert_int_equal(got.size, 3 * 1048576 + 7);
	assert_false(got.complete);
	got.received = got.size;
	got.complete = true;
	got.updated_at = 2000;
	assert_int_equal(ctl_store_upload_update(f->st, &got), CL_OK);
	assert_int_equal(ctl_store_upload_get(f->st, "upl_aaaa", &got), CL_OK);
	assert_true(got.complete);
	assert_int_equal(got.received, got.size);
	assert_int_equal(got.updated_at, 2000);
	ctl_upload none = mk("upl_none", "ten-a", false, 1);
	assert_int_equal(ctl_store_upload_update(f->st, &none), CL_ENOTFOUND);
	assert_int_equal(ctl_store_upload_get(f->st, "upl_none", &got), CL_ENOTFOUND);
	bool exists = false;
	assert_int_equal(ctl_store_upload_exists(f->st, "upl_aaaa", &exists), CL_OK);
	assert_true(exists);
	assert_int_equal(ctl_store_upload_delete(f->st, "upl_aaaa"), CL_OK);
	assert_int_equal(ctl_store_upload_delete(f->st, "upl_aaaa"), CL_ENOTFOUND);
	assert_int_equal(ctl_store_upload_exists(f->st, "upl_aaaa", &exists), CL_OK);
	assert_false(exists);
}

/* Every upload held counts (complete or not), per tenant and token kind. */
static void open_count_per_tenant(void **state)
{
	fixture *f = *state;
	const char *ids[] = {"upl_a", "upl_b", "upl_c", "upl_d", "upl_e", "upl_f"};
	for (int i = 0; i < 6; i++) {
		ctl_upload u = mk(ids[i], i < 4 ? "ten-a" : "ten-b", i == 0, 1000);
		if (i == 5)
			snprintf(u.owner_kind, sizeof(u.owner_kind), "engineer");
		assert_int_equal(ctl_store_upload_insert(f->st, &u), CL_OK);
	}
	int64_t n = -1;
	assert_int_equal(ctl_store_upload_count_open(f->st, "ten-a", "tenant", &n), CL_OK);
	assert_int_equal(n, 4); /* upl_a is complete and still counts */
	assert_int_equal(ctl_store_upload_count_open(f->st, "ten-b", "tenant", &n), CL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ctl_store_upload_count_open(f->st, "ten-b", "engineer", &n), CL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ctl_store_upload_count_open(f->st, "ten-none", "tenant", &n), CL_OK);
	assert_int_equal(n, 0);
}

/* Expiry is by the last part's time, complete or not. */
static void expired_by_last_part(void **state)
{
	fixture *f = *state;
	ctl_upload old = mk("upl_old", "ten-a", false, 1000), done = mk("upl_done", "ten-a", true, 1500),
		   fresh = mk("upl_fresh", "ten-a", false, 1000 + CTL_UPLOAD_TTL_MS);
	assert_int_equal(ctl_store_upload_insert(f->st, &old), CL_OK);
	assert_int_equal(ctl_store_upload_insert(f->st, &done), CL_OK);
	assert_int_equal(ctl_store_upload_insert(f->st, &fresh), CL_OK);
	char(*ids)[CTL_ID_MAX] = NULL;
	size_t n = 0;
	assert_int_equal(ctl_store_upload_expired(f->st, 1000 + CTL_UPLOAD_TTL_MS, &ids, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], "upl_old");
	assert_string_equal(ids[1], "upl_done");
	free(ids);
	assert_int_equal(ctl_store_upload_expired(f->st, 1000, &ids, &n), CL_OK);
	assert_int_equal(n, 0);
	free(ids);
}

static ctl_fw_op mkop(const char *id, const char *host)
{
	ctl_fw_op op;
	memset(&op, 0, sizeof(op));
	snprintf(op.id, sizeof(op.id), "%s", id);
	snprintf(op.host_id, sizeof(op.host_id), "%s", host);
	snprintf(op.kind, sizeof(op.kind), "update");
	snprintf(op.device, sizeof(op.device), "0000:03:00.0");
	snprintf(op.state, sizeof(op.state), "pending");
	op.data = "";
	return op;
}

/* Op data by reference: visible only for its host; reaped once the op is
 * answered (and only then). */
static void op_data_reference(void **state)
{
	fixture *f = *state;
	ctl_fw_op a = mkop("fw-a", "host-1"), b = mkop("fw-b", "host-1");
	assert_int_equal(ctl_store_fw_op_insert(f->st, &a), CL_OK);
	assert_int_equal(ctl_store_fw_op_insert(f->st, &b), CL_OK);
	ctl_fw_opdata da = {.op_id = "fw-a", .host_id = "host-1", .size = 5000000, .sha384 = SHA, .created_at = 1},
		      db = {.op_id = "fw-b", .host_id = "host-1", .size = 6000000, .sha384 = SHA, .created_at = 1}, got;
	assert_int_equal(ctl_store_fw_opdata_put(f->st, &da), CL_OK);
	assert_int_equal(ctl_store_fw_opdata_put(f->st, &db), CL_OK);
	assert_int_equal(ctl_store_fw_opdata_put(f->st, &da), CL_ECONFLICT);
	assert_int_equal(ctl_store_fw_opdata_get(f->st, "host-1", "fw-a", &got), CL_OK);
	assert_int_equal(got.size, 5000000);
	assert_string_equal(got.sha384, SHA);
	assert_int_equal(ctl_store_fw_opdata_get(f->st, "host-2", "fw-a", &got), CL_ENOTFOUND);
	assert_int_equal(ctl_store_fw_opdata_get(f->st, "host-1", "fw-x", &got), CL_ENOTFOUND);
	char(*ids)[CTL_ID_MAX] = NULL;
	size_t n = 9;
	assert_int_equal(ctl_store_fw_opdata_reap(f->st, "host-1", &ids, &n), CL_OK);
	assert_int_equal(n, 0); /* both pending */
	free(ids);
	assert_int_equal(ctl_store_fw_op_result(f->st, "host-1", "fw-a", true, NULL, "ok", 3, 10), CL_OK);
	assert_int_equal(ctl_store_fw_opdata_reap(f->st, "host-2", &ids, &n), CL_OK);
	assert_int_equal(n, 0); /* other host: nothing */
	free(ids);
	assert_int_equal(ctl_store_fw_opdata_reap(f->st, "host-1", &ids, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "fw-a");
	free(ids);
	assert_int_equal(ctl_store_fw_opdata_get(f->st, "host-1", "fw-a", &got), CL_ENOTFOUND);
	assert_int_equal(ctl_store_fw_opdata_get(f->st, "host-1", "fw-b", &got), CL_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(upload_ids),
	    cmocka_unit_test_setup_teardown(upload_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(open_count_per_tenant, setup, teardown),
	    cmocka_unit_test_setup_teardown(expired_by_last_part, setup, teardown),
	    cmocka_unit_test_setup_teardown(op_data_reference, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
