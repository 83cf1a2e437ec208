/* Device-model operations: the window policy, revert, power cycles, the
 * pending queue, alarms, quarantine and host eligibility. */
#include "test_fwdev_fixture.h"

static const int K01[] = {0, 1};

static void window_policy_sets_short_window(void **state)
{
	dx *d = *state;
	cl_buf doc;
	fwg_outcome o;
	window_doc(d, NIC, 1, 5, &doc);
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, &o), CL_OK);
	fwg_dev_status s = dev_status(d, NIC);
	assert_int_equal(s.window_s, 60); /* this power-on keeps its window */
	assert_int_equal(s.next_window_s, 5);
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	s = dev_status(d, NIC);
	assert_int_equal(s.window_s, 5);
	assert_true(s.window_open);
	assert_int_equal(dev_status(d, GPU).window_s, 60); /* per device */
	advance(d, 5);
	assert_false(dev_status(d, NIC).window_open);
	assert_true(dev_status(d, GPU).window_open);
	/* Persisted across a reopen and the next power cycle. */
	dx_reopen(d);
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	assert_int_equal(dev_status(d, NIC).window_s, 5);
	/* Replay of the same (valid, root-signed) document. */
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, &o), CL_EPERM);
	assert_int_equal(o.reason, FWG_R_POLICY_REPLAY);
	cl_buf_free(&doc);
}

static void window_policy_refused_outside_window_or_unsigned(void **state)
{
	dx *d = *state;
	cl_buf root_doc, k0_doc;
	fwg_outcome o;
	fw_policy_params pp;
	window_doc(d, NIC, 1, 3600, &root_doc);
	policy_for(d, NIC, 2, 3600, &pp);
	cl_buf_init(&k0_doc, 4096);
	assert_int_equal(fw_window_policy_build(d->f.k[0], &pp, &k0_doc), CL_OK);
	/* Signed by a release signer, not the root. */
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, NIC, k0_doc.data, k0_doc.len, &o), CL_ECRYPTO);
	assert_int_equal(o.reason, FW_E_UNKNOWN_SIGNER);
	/* Root-signed, one bit flipped. */
	root_doc.data[root_doc.len - 5] ^= 1;
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, NIC, root_doc.data, root_doc.len, &o), CL_ECRYPTO);
	assert_int_equal(o.reason, FW_E_BAD_SIGNATURE);
	root_doc.data[root_doc.len - 5] ^= 1;
	/* Truncated. */
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, NIC, root_doc.data, root_doc.len - 1, &o), CL_ECRYPTO);
	/* Via the guest. */
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_GUEST, NIC, root_doc.data, root_doc.len, &o), CL_EPERM);
	assert_int_equal(o.reason, FWG_R_ROUTE_DENIED);
	/* Outside the window: a valid root-signed document is refused too. */
	advance(d, 60);
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, NIC, root_doc.data, root_doc.len, &o), CL_EPERM);
	assert_int_equal(o.reason, FWG_R_WINDOW_CLOSED);
	assert_int_equal(dev_status(d, NIC).next_window_s, 60);
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.op, FWG_OP_WINDOW);
	assert_int_equal(r.reason, FWG_R_WINDOW_CLOSED);
	/* The builder itself refuses out-of-range windows. */
	cl_buf bad;
	cl_buf_init(&bad, 1024);
	pp.seconds = 0;
	assert_int_equal(fw_window_policy_build(d->f.root, &pp, &bad), CL_EINVAL);
	pp.seconds = FWG_MAX_WINDOW_S + 1;
	assert_int_equal(fw_window_policy_build(d->f.root, &pp, &bad), CL_EINVAL);
	cl_buf_free(&bad);
	cl_buf_free(&root_doc);
	cl_buf_free(&k0_doc);
}

static void revert_to_last_good_slot(void **state)
{
	dx *d = *state;
	cl_buf b5, b6;
	fwg_outcome o;
	assert_int_equal(fwg_mgmt_revert(d->h, FWG_SRC_MGMT, NIC, &o), CL_EPERM); /* blank: nothing to revert to */
	assert_int_equal(o.reason, FWG_R_NO_REVERT);
	dev_bundle(d, NIC, 5, 500, K01, 2, &b5);
	dev_bundle(d, NIC, 6, 500, K01, 2, &b6);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b5.data, b5.len, NULL), CL_OK);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b6.data, b6.len, NULL), CL_OK);
	assert_int_equal(dev_status(d, NIC).active_slot, 1);
	assert_int_equal(fwg_mgmt_revert(d->h, FWG_SRC_GUEST, NIC, &o), CL_EPERM);
	assert_int_equal(fwg_mgmt_revert(d->h, FWG_SRC_MGMT, NIC, &o), CL_OK);
	fwg_dev_status s = dev_status(d, NIC);
	assert_int_equal(s.active_slot, 0);
	assert_int_equal(s.sequence, 5);
	assert_int_equal(s.counter, 6); /* the counter never goes back */
	dx_reopen(d);
	assert_true(dev_status(d, NIC).booted);
	assert_int_equal(dev_status(d, NIC).sequence, 5);
	/* Installing the reverted-from bundle again is a rollback. */
	expect_refused(d, FWG_SRC_MGMT, NIC, b6.data, b6.len, FW_E_ROLLBACK);
	cl_buf_free(&b5);
	cl_buf_free(&b6);
}

static void boot_falls_back_when_active_slot_corrupt(void **state)
{
	dx *d = *state;
	cl_buf b5, b6;
	char path[256];
	dev_bundle(d, NIC, 5, 500, K01, 2, &b5);
	dev_bundle(d, NIC, 6, 500, K01, 2, &b6);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b5.data, b5.len, NULL), CL_OK);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b6.data, b6.len, NULL), CL_OK);
	/* Flash corruption of the active slot (B): one byte in the image. */
	b6.data[b6.len - 3] ^= 0x80;
	snprintf(path, sizeof(path), "%s/devices/%s/slot-b", d->dir, NIC);
	assert_int_equal(cl_file_write_atomic(path, b6.data, b6.len, 0600), CL_OK);
	dx_reopen(d);
	fwg_dev_status s = dev_status(d, NIC);
	assert_true(s.booted);
	assert_int_equal(s.active_slot, 0);
	assert_int_equal(s.sequence, 5);
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.op, FWG_OP_BOOT);
	assert_int_equal(r.reason, FWG_R_BOOT_FALLBACK);
	cl_buf_free(&b5);
	cl_buf_free(&b6);
}

static void power_cycle_reopens_window_and_applies_queue(void **state)
{
	dx *d = *state;
	cl_buf b5, gpu, bad;
	fwg_outcome o;
	dev_bundle(d, NIC, 5, 400, K01, 2, &b5);
	dev_bundle(d, GPU, 9, 400, K01, 2, &gpu);
	advance(d, 120);
	fwg_host_status hs;
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_true(hs.eligible);
	/* Queue outside the window: allowed, changes no device, un-locks it. */
	assert_int_equal(fwg_mgmt_queue(d->h, FWG_SRC_MGMT, NIC, b5.data, b5.len, &o), CL_OK);
	assert_int_equal(fwg_mgmt_queue(d->h, FWG_SRC_MGMT, GPU, gpu.data, gpu.len, &o), CL_OK);
	assert_int_equal(fwg_mgmt_queue(d->h, FWG_SRC_GUEST, GPU, gpu.data, gpu.len, &o), CL_EPERM);
	assert_int_equal(fwg_mgmt_queue(d->h, FWG_SRC_MGMT, NIC, gpu.data, gpu.len, &o), CL_ECRYPTO);
	assert_int_equal(o.reason, FW_E_WRONG_COMPONENT);
	cl_buf_init(&bad, 16);
	assert_int_equal(cl_buf_put(&bad, "junk", 4), CL_OK);
	assert_int_equal(fwg_mgmt_queue(d->h, FWG_SRC_MGMT, NIC, bad.data, bad.len, &o), CL_ECRYPTO);
	fwg_dev_status s = dev_status(d, NIC);
	assert_int_equal(s.pending, 1);
	assert_false(s.locked);
	assert_int_equal(s.counter, 0);
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_false(hs.eligible);
	/* Power-on: the window opens, the queue is applied inside it. */
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	s = dev_status(d, NIC);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.counter, 5);
	assert_true(s.window_open);
	assert_int_equal(dev_status(d, GPU).sequence, 9);
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_true(hs.any_window_open);
	assert_false(hs.eligible); /* never place tenants while a window is open */
	advance(d, 60);
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_true(hs.eligible);
	cl_buf_free(&b5);
	cl_buf_free(&gpu);
	cl_buf_free(&bad);
}

static void alarms_are_listed(void **state)
{
	dx *d = *state;
	cl_buf b;
	fwg_audit_rec al[4];
	size_t n;
	const int one[] = {1};
	dev_bundle(d, NIC, 5, 300, one, 1, &b);
	assert_int_equal(fwg_alarms(d->h, al, 4, &n), CL_OK);
	assert_int_equal(n, 0);
	assert_int_not_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, NULL), CL_OK);
	advance(d, 61);
	assert_int_not_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, NULL), CL_OK); /* log only */
	for (int i = 0; i < 5; i++)
		assert_int_equal(fwg_guest_write(d->h, GPU, FWG_REGION_FIRMWARE, (uint64_t)i, b.data, 1, NULL),
				 CL_EPERM);
	assert_int_equal(fwg_alarms(d->h, al, 4, &n), CL_OK);
	assert_int_equal(n, 4); /* the 4 most recent of 6, oldest first */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(al[i].reason, FWG_R_NO_MAPPING);
		assert_int_equal(al[i].action, FWG_ACT_ALARM);
		if (i)
			assert_true(al[i].seq > al[i - 1].seq);
	}
	assert_int_equal(fwg_alarms(d->h, al, 1, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(al[0].detail, "write 1 bytes at firmware+0x4: no mapping");
	assert_false(fwg_quarantined(d->h)); /* alarm, not quarantine, by default */
	cl_buf_free(&b);
}

static void quarantine_persists_until_cleared(void **state)
{
	dx *d = *state;
	fwg_policy p;
	fwg_outcome o;
	fwg_host_status hs;
	fwg_policy_default(&p);
	p.by_reason[FWG_R_NO_MAPPING] = FWG_ACT_QUARANTINE;
	d->opts.policy = &p;
	dx_reopen(d);
	advance(d, 60);
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_true(hs.eligible);
	assert_int_equal(fwg_guest_write(d->h, NIC, FWG_REGION_CONFIG, 0, (const uint8_t *)"x", 1, &o), CL_EPERM);
	assert_int_equal(o.action, FWG_ACT_QUARANTINE);
	assert_true(fwg_quarantined(d->h));
	/* Persisted: a reopen with the default policy still sees it. */
	d->opts.policy = NULL;
	dx_reopen(d);
	assert_true(fwg_quarantined(d->h));
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_true(hs.quarantined);
	assert_false(hs.eligible);
	/* Only an operator clears it; each attempt is audited. */
	assert_int_equal(fwg_quarantine_clear(d->h, FWG_SRC_GUEST, "me"), CL_EPERM);
	assert_int_equal(fwg_quarantine_clear(d->h, FWG_SRC_MGMT, "me"), CL_EPERM);
	assert_true(fwg_quarantined(d->h));
	assert_int_equal(fwg_quarantine_clear(d->h, FWG_SRC_OPERATOR, "ticket 42"), CL_OK);
	assert_false(fwg_quarantined(d->h));
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.op, FWG_OP_CLEAR);
	assert_string_equal(r.detail, "ticket 42");
	dx_reopen(d);
	assert_false(fwg_quarantined(d->h));
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_true(hs.eligible);
}

static void rom_is_written_once(void **state)
{
	dx *d = *state;
	/* No API rewrites a ROM: manufacture refuses an existing host. */
	assert_int_equal(fwg_host_create(d->dir, d->f.root_pt, NULL, 0, &d->opts), CL_ECONFLICT);
	fwg_device_spec bad = *spec_of(NIC);
	bad.addr = "03:00.0";
	char dir2[128];
	snprintf(dir2, sizeof(dir2), "%s/other", d->dir);
	assert_int_equal(fwg_host_create(dir2, d->f.root_pt, &bad, 1, &d->opts), CL_EINVAL);
	/* A tampered ROM file does not open. */
	char path[256];
	snprintf(path, sizeof(path), "%s/devices/%s/rom", d->dir, NIC);
	cl_buf rom;
	cl_buf_init(&rom, 4096);
	assert_int_equal(cl_file_read(path, rom.max, &rom), CL_OK);
	rom.data[40] ^= 1;
	assert_int_equal(cl_file_write_atomic(path, rom.data, rom.len, 0600), CL_OK);
	fwg_host *h2 = NULL;
	assert_int_not_equal(fwg_host_open(d->dir, &d->opts, &h2), CL_OK);
	assert_null(h2);
	rom.data[40] ^= 1;
	assert_int_equal(cl_file_write_atomic(path, rom.data, rom.len, 0444), CL_OK);
	cl_buf_free(&rom);
}

static void names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(fwg_reason_name(FWG_R_WINDOW_CLOSED), "window_closed");
	assert_string_equal(fwg_reason_name(FWG_R_NOT_ALLOWED), "not_allowed");
	assert_string_equal(fwg_reason_name(FW_E_ROLLBACK), "rollback");
	assert_string_equal(fwg_reason_name(200), "unknown");
	assert_string_equal(fwg_source_name(FWG_SRC_MGMT), "mgmt");
	assert_string_equal(fwg_op_name(FWG_OP_MANUFACTURE), "manufacture");
	assert_string_equal(fwg_action_name(FWG_ACT_QUARANTINE), "quarantine");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, dx_setup, dx_teardown)
	const struct CMUnitTest tests[] = {
		T(window_policy_sets_short_window),
		T(window_policy_refused_outside_window_or_unsigned),
		T(revert_to_last_good_slot),
		T(boot_falls_back_when_active_slot_corrupt),
		T(power_cycle_reopens_window_and_applies_queue),
		T(alarms_are_listed),
		T(quarantine_persists_until_cleared),
		T(rom_is_written_once),
		T(names_are_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
