/* Unit tests for src/control/store_fwrel.c: trust row, releases, approvals,
 * tenant channels and the release targets query (newest approved release of
 * the tenant's channel per component, only to hosts running the tenant's
 * enclaves, never twice). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "control/store.h"
#include "control/store_fwrel.h"

#include "store_fixture.h"

static void trust_row(void **state)
{
	fixture *f = *state;
	char *root, *docs;
	int64_t v;
	assert_int_equal(ctl_store_fw_trust_get(f->st, &root, &docs, &v), CL_ENOTFOUND);
	assert_int_equal(ctl_store_fw_trust_put(f->st, "04ab", "[\"AA==\"]", 1, 2, 5), CL_OK);
	assert_int_equal(ctl_store_fw_trust_put(f->st, "04ab", "[\"AA==\",\"BB==\"]", 2, 2, 6), CL_OK);
	assert_int_equal(ctl_store_fw_trust_get(f->st, &root, &docs, &v), CL_OK);
	assert_string_equal(root, "04ab");
	assert_string_equal(docs, "[\"AA==\",\"BB==\"]");
	assert_int_equal(v, 2);
	free(root);
	free(docs);
}

static void add_release(fixture *f, const char *id, const char *component, int64_t seq)
{
	ctl_fw_release r = {.sequence = seq, .nsigners = 2, .threshold = 2, .signers_json = "[\"aa\",\"bb\"]"};
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.component, sizeof(r.component), "%s", component);
	snprintf(r.vendor, sizeof(r.vendor), "v");
	snprintf(r.class_id, sizeof(r.class_id), "c");
	snprintf(r.version, sizeof(r.version), "1.%lld", (long long)seq);
	snprintf(r.channel, sizeof(r.channel), "stable");
	const uint8_t bundle[3] = {1, 2, 3};
	assert_int_equal(ctl_store_fw_release_insert(f->st, &r, bundle, sizeof(bundle)), CL_OK);
}

static void add_enclave(fixture *f, const char *id, const char *tenant, const char *host)
{
	ctl_enclave e = {.memory_mib = 64, .cpus = 1};
	snprintf(e.id, sizeof(e.id), "%s", id);
	snprintf(e.name, sizeof(e.name), "%s", id);
	snprintf(e.tenant_id, sizeof(e.tenant_id), "%s", tenant);
	snprintf(e.image_id, sizeof(e.image_id), "img-1");
	snprintf(e.host_id, sizeof(e.host_id), "%s", host);
	snprintf(e.state, sizeof(e.state), "running");
	snprintf(e.desired, sizeof(e.desired), "running");
	snprintf(e.min_level, sizeof(e.min_level), "software");
	assert_int_equal(ctl_store_enclave_insert(f->st, &e), CL_OK);
}

static void releases_and_targets(void **state)
{
	fixture *f = *state;
	ctl_store *st = f->st;
	add_release(f, "rel-1", "0000:03:00.0", 5);
	add_release(f, "rel-2", "0000:03:00.0", 7);
	add_release(f, "rel-3", "0000:04:00.0", 1);
	ctl_fw_release r;
	assert_int_equal(ctl_store_fw_release_get(st, "rel-2", &r), CL_OK);
	assert_int_equal(r.sequence, 7);
	assert_string_equal(r.channels_json, "[]");
	ctl_fw_release_clear(&r);
	assert_int_equal(ctl_store_fw_release_get(st, "rel-9", &r), CL_ENOTFOUND);
	uint8_t *b;
	size_t n;
	assert_int_equal(ctl_store_fw_release_bundle(st, "rel-1", &b, &n), CL_OK);
	assert_int_equal(n, 3);
	assert_int_equal(b[2], 3);
	free(b);

	add_enclave(f, "enc-1", "ten-a", "host-1");
	add_enclave(f, "enc-2", "ten-a", "host-2");
	add_enclave(f, "enc-3", "ten-b", "host-3");
	bool exists;
	assert_int_equal(ctl_store_fw_channel_exists(st, "stable", &exists), CL_OK);
	assert_false(exists);
	assert_int_equal(ctl_store_fw_release_approve(st, "rel-1", "stable", 1), CL_OK);
	assert_int_equal(ctl_store_fw_release_approve(st, "rel-1", "stable", 2), CL_OK); /* idempotent */
	assert_int_equal(ctl_store_fw_channel_exists(st, "stable", &exists), CL_OK);
	assert_true(exists);
	ctl_fw_target *t;
	/* nobody chose a channel: nothing to queue */
	assert_int_equal(ctl_store_fw_targets(st, "", "", &t, &n), CL_OK);
	assert_int_equal(n, 0);
	free(t);
	char ch[64];
	assert_int_equal(ctl_store_fw_tenant_channel_get(st, "ten-a", ch), CL_ENOTFOUND);
	assert_int_equal(ctl_store_fw_tenant_channel_put(st, "ten-a", "stable", 3), CL_OK);
	assert_int_equal(ctl_store_fw_tenant_channel_get(st, "ten-a", ch), CL_OK);
	assert_string_equal(ch, "stable");
	assert_int_equal(ctl_store_fw_targets(st, "", "", &t, &n), CL_OK);
	assert_int_equal(n, 2); /* rel-1 to host-1 and host-2, not host-3 (ten-b) */
	assert_string_equal(t[0].host_id, "host-1");
	assert_string_equal(t[1].host_id, "host-2");
	assert_string_equal(t[0].release_id, "rel-1");
	assert_string_equal(t[0].component, "0000:03:00.0");
	free(t);
	/* host filter */
	assert_int_equal(ctl_store_fw_targets(st, "", "host-2", &t, &n), CL_OK);
	assert_int_equal(n, 1);
	free(t);
	assert_int_equal(ctl_store_fw_queued(st, "rel-1", "host-1", "fw-1"), CL_OK);
	assert_int_equal(ctl_store_fw_queued(st, "rel-1", "host-1", "fw-2"), CL_ECONFLICT);
	assert_int_equal(ctl_store_fw_targets(st, "ten-a", "", &t, &n), CL_OK);
	assert_int_equal(n, 1); /* host-1 already has it */
	assert_string_equal(t[0].host_id, "host-2");
	free(t);
	/* a newer release for the same component supersedes rel-1; another component adds one */
	assert_int_equal(ctl_store_fw_release_approve(st, "rel-2", "stable", 4), CL_OK);
	assert_int_equal(ctl_store_fw_release_approve(st, "rel-3", "stable", 4), CL_OK);
	assert_int_equal(ctl_store_fw_targets(st, "", "host-1", &t, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(t[0].release_id, "rel-2");
	assert_string_equal(t[1].release_id, "rel-3");
	free(t);
	assert_int_equal(ctl_store_fw_release_get(st, "rel-2", &r), CL_OK);
	assert_string_equal(r.channels_json, "[\"stable\"]");
	ctl_fw_release_clear(&r);
	ctl_fw_release *list;
	assert_int_equal(ctl_store_fw_release_list(st, "", 10, &list, &n), CL_OK);
	assert_int_equal(n, 3);
	ctl_fw_releases_free(list, n);
	/* pages in id order: two, then the rest after the last one shown */
	assert_int_equal(ctl_store_fw_release_list(st, "", 2, &list, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "rel-1");
	assert_string_equal(list[1].id, "rel-2");
	ctl_fw_releases_free(list, n);
	assert_int_equal(ctl_store_fw_release_list(st, "rel-2", 2, &list, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "rel-3");
	ctl_fw_releases_free(list, n);
	/* update replaces signers and bundle */
	ctl_fw_release u = {.id = "rel-1", .nsigners = 3, .threshold = 2, .signers_json = "[\"aa\",\"bb\",\"cc\"]"};
	const uint8_t nb[4] = {9, 9, 9, 9};
	assert_int_equal(ctl_store_fw_release_update(st, &u, nb, sizeof(nb)), CL_OK);
	assert_int_equal(ctl_store_fw_release_bundle(st, "rel-1", &b, &n), CL_OK);
	assert_int_equal(n, 4);
	free(b);
	snprintf(u.id, sizeof(u.id), "rel-9");
	assert_int_equal(ctl_store_fw_release_update(st, &u, nb, sizeof(nb)), CL_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(trust_row, setup, teardown),
		cmocka_unit_test_setup_teardown(releases_and_targets, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
