/* The attack matrix at the device level: every forged, replayed or
 * misdirected bundle pushed through the management port is refused with its
 * exact reason, changes nothing, and is audited. Each test starts from a
 * fresh host: NIC/GPU/BMC with trust root v1 = {k0, k1, k2}, k = 2. */
#include "test_fwdev_fixture.h"

static const int K01[] = {0, 1};

static void accepts_k_of_n_update(void **state)
{
	dx *d = *state;
	cl_buf b;
	fwg_outcome o;
	const int by[] = {0, 2};
	dev_bundle(d, NIC, 5, 3000, by, 2, &b);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, &o), CL_OK);
	assert_int_equal(o.reason, FWG_R_OK);
	fwg_dev_status s = dev_status(d, NIC);
	assert_int_equal(s.counter, 5);
	assert_int_equal(s.sequence, 5);
	assert_int_equal(s.active_slot, 0);
	assert_string_equal(s.version, "2.1.0");
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.result, FWG_RES_ACCEPTED);
	assert_true(r.has_id);
	assert_int_equal(r.sequence, 5);
	assert_string_equal(r.addr, NIC);
	/* Survives a reopen (boot re-verifies the active slot). */
	dx_reopen(d);
	s = dev_status(d, NIC);
	assert_true(s.booted);
	assert_int_equal(s.counter, 5);
	/* The next one goes to slot B. */
	cl_buf_free(&b);
	dev_bundle(d, NIC, 6, 3000, by, 2, &b);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, &o), CL_OK);
	assert_int_equal(dev_status(d, NIC).active_slot, 1);
	cl_buf_free(&b);
}

static void refuses_unsigned(void **state)
{
	dx *d = *state;
	cl_buf b, u;
	dev_bundle(d, NIC, 5, 300, K01, 2, &b);
	reencode(&b, NULL, 0, 0, &u);
	expect_refused(d, FWG_SRC_MGMT, NIC, u.data, u.len, FW_E_UNSIGNED);
	cl_buf_free(&b);
	cl_buf_free(&u);
}

static void refuses_unknown_key(void **state)
{
	dx *d = *state;
	cl_buf b;
	const int by[] = {0, 1, 4};
	dev_bundle(d, NIC, 5, 300, by, 3, &b);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len, FW_E_UNKNOWN_SIGNER);
	cl_buf_free(&b);
}

static void refuses_below_threshold(void **state)
{
	dx *d = *state;
	cl_buf b;
	const int by[] = {1};
	dev_bundle(d, NIC, 5, 300, by, 1, &b);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len, FW_E_BELOW_THRESHOLD);
	cl_buf_free(&b);
}

static void refuses_same_key_twice(void **state)
{
	dx *d = *state;
	cl_buf b, t;
	const int by[] = {0}, twice[] = {0, 0};
	dev_bundle(d, NIC, 5, 300, by, 1, &b);
	reencode(&b, twice, 2, 0, &t);
	expect_refused(d, FWG_SRC_MGMT, NIC, t.data, t.len, FW_E_DUPLICATE_SIGNER);
	cl_buf_free(&b);
	cl_buf_free(&t);
}

static void refuses_revoked_signer(void **state)
{
	dx *d = *state;
	cl_buf doc, b;
	const int v2[] = {1, 2, 3}, by[] = {0, 1, 2};
	make_tr(&d->f, 2, 2, v2, 3, by, 3, &doc); /* rotates k0 out */
	assert_int_equal(fwg_mgmt_trust(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, NULL), CL_OK);
	assert_int_equal(dev_status(d, NIC).trust_version, 2);
	dev_bundle(d, NIC, 5, 300, K01, 2, &b);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len, FW_E_REVOKED_SIGNER);
	cl_buf_free(&b);
	const int new_pair[] = {1, 3};
	dev_bundle(d, NIC, 5, 300, new_pair, 2, &b);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, NULL), CL_OK);
	/* The floor persists: a reopen rebuilds v2, and v1 alone cannot return. */
	dx_reopen(d);
	assert_int_equal(dev_status(d, NIC).trust_version, 2);
	assert_true(dev_status(d, NIC).booted);
	cl_buf_free(&b);
	cl_buf_free(&doc);
}

static void refuses_bad_trust_root_chain(void **state)
{
	dx *d = *state;
	cl_buf doc;
	fwg_outcome o;
	const int v2[] = {3, 4}, by_new[] = {3, 4}, by_ok[] = {0, 1, 3, 4};
	make_tr(&d->f, 2, 2, v2, 2, by_new, 2, &doc); /* not signed by v1's threshold */
	assert_int_equal(fwg_mgmt_trust(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, &o), CL_ECRYPTO);
	assert_int_equal(o.reason, FW_E_TRUST_CHAIN);
	cl_buf_free(&doc);
	make_tr(&d->f, 3, 2, v2, 2, by_ok, 4, &doc); /* skips v2 */
	assert_int_equal(fwg_mgmt_trust(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, &o), CL_ECRYPTO);
	assert_int_equal(o.reason, FW_E_TRUST_CHAIN);
	cl_buf_free(&doc);
	const int v1[] = {0}, by_k0[] = {0};
	make_tr(&d->f, 1, 1, v1, 1, by_k0, 1, &doc); /* a v1 replay, not root-signed */
	assert_int_equal(fwg_mgmt_trust(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, &o), CL_ECRYPTO);
	assert_int_not_equal(o.reason, FW_OK);
	assert_int_equal(dev_status(d, NIC).trust_version, 1);
	assert_int_equal(audit_last(d).op, FWG_OP_TRUST);
	assert_int_equal(audit_last(d).result, FWG_RES_REFUSED);
	cl_buf_free(&doc);
}

static void refuses_rollback(void **state)
{
	dx *d = *state;
	cl_buf b5, b3;
	dev_bundle(d, NIC, 5, 300, K01, 2, &b5);
	dev_bundle(d, NIC, 3, 300, K01, 2, &b3);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b5.data, b5.len, NULL), CL_OK);
	expect_refused(d, FWG_SRC_MGMT, NIC, b3.data, b3.len, FW_E_ROLLBACK);
	expect_refused(d, FWG_SRC_MGMT, NIC, b5.data, b5.len, FW_E_ROLLBACK); /* equal */
	cl_buf_free(&b5);
	cl_buf_free(&b3);
}

static void refuses_replay_after_update(void **state)
{
	dx *d = *state;
	cl_buf b5, b6;
	dev_bundle(d, NIC, 5, 300, K01, 2, &b5);
	dev_bundle(d, NIC, 6, 300, K01, 2, &b6);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b5.data, b5.len, NULL), CL_OK);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b6.data, b6.len, NULL), CL_OK);
	expect_refused(d, FWG_SRC_MGMT, NIC, b5.data, b5.len, FW_E_ROLLBACK);
	dx_reopen(d); /* still refused after a reopen and a power cycle */
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	expect_refused(d, FWG_SRC_MGMT, NIC, b5.data, b5.len, FW_E_ROLLBACK);
	assert_int_equal(dev_status(d, NIC).counter, 6);
	cl_buf_free(&b5);
	cl_buf_free(&b6);
}

static void refuses_mix_and_match(void **state)
{
	dx *d = *state;
	cl_buf gpu, nic, other;
	fw_sign_params p;
	dev_bundle(d, GPU, 5, 300, K01, 2, &gpu);
	dev_bundle(d, NIC, 5, 300, K01, 2, &nic);
	expect_refused(d, FWG_SRC_MGMT, NIC, gpu.data, gpu.len, FW_E_WRONG_VENDOR);
	expect_refused(d, FWG_SRC_MGMT, GPU, nic.data, nic.len, FW_E_WRONG_VENDOR);
	/* Right vendor and class, another device's address. */
	sign_params(&p, 5);
	p.component = "0000:04:00.0";
	make_bundle_p(&d->f, &p, K01, 2, &other);
	expect_refused(d, FWG_SRC_MGMT, NIC, other.data, other.len, FW_E_WRONG_COMPONENT);
	cl_buf_free(&other);
	sign_params(&p, 5);
	p.class_id[0] ^= 1;
	make_bundle_p(&d->f, &p, K01, 2, &other);
	expect_refused(d, FWG_SRC_MGMT, NIC, other.data, other.len, FW_E_WRONG_CLASS);
	/* Each goes where it belongs. */
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, GPU, gpu.data, gpu.len, NULL), CL_OK);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, nic.data, nic.len, NULL), CL_OK);
	cl_buf_free(&gpu);
	cl_buf_free(&nic);
	cl_buf_free(&other);
}

static void refuses_digest_and_size_mismatch(void **state)
{
	dx *d = *state;
	cl_buf b, s;
	dev_bundle(d, NIC, 5, 300, K01, 2, &b);
	reencode(&b, K01, 2, 1, &s);
	expect_refused(d, FWG_SRC_MGMT, NIC, s.data, s.len, FW_E_SIZE_MISMATCH);
	b.data[b.len - 10] ^= 0x04; /* inside the image */
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len, FW_E_DIGEST_MISMATCH);
	cl_buf_free(&b);
	cl_buf_free(&s);
}

static void refuses_truncated_oversized_bitflipped(void **state)
{
	dx *d = *state;
	cl_buf b;
	dev_bundle(d, NIC, 5, 300, K01, 2, &b);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len - 1, FW_E_TRUNCATED);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, 40, FW_E_TRUNCATED);
	/* A declared length past the limit is refused before a byte is read. */
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, (size_t)FWG_MAX_BUNDLE + 1, FWG_R_TOO_BIG);
	for (size_t i = 0; i < b.len; i += 37) {
		b.data[i] ^= 0x10;
		fwg_outcome o;
		assert_int_not_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, &o), CL_OK);
		assert_int_not_equal(o.reason, FWG_R_OK);
		b.data[i] ^= 0x10;
	}
	assert_int_equal(dev_status(d, NIC).counter, 0);
	assert_int_equal(cl_buf_put_u8(&b, 0), CL_OK);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len, FW_E_OVERSIZED);
	cl_buf_free(&b);
}

static void refuses_use_before_passed(void **state)
{
	dx *d = *state;
	fw_sign_params p;
	cl_buf b;
	sign_params(&p, 5);
	p.has_use_before = true;
	p.use_before = d->clk.wall_s - 1;
	make_bundle_p(&d->f, &p, K01, 2, &b);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len, FW_E_EXPIRED);
	cl_buf_free(&b);
}

static void refuses_update_from_guest(void **state)
{
	dx *d = *state;
	cl_buf b;
	fwg_outcome o;
	fwg_identity id;
	dev_bundle(d, NIC, 5, 300, K01, 2, &b);
	/* Reaching the management port from the guest: the hub does not route it. */
	expect_refused(d, FWG_SRC_GUEST, NIC, b.data, b.len, FWG_R_ROUTE_DENIED);
	expect_refused(d, FWG_SRC_HOST, NIC, b.data, b.len, FWG_R_ROUTE_DENIED);
	/* The guest interface: identity reads work, every write is "no mapping". */
	assert_int_equal(fwg_guest_read(d->h, NIC, &id), CL_OK);
	assert_string_equal(id.name, "nic");
	assert_memory_equal(id.vendor, spec_of(NIC)->vendor, FW_UUID_LEN);
	assert_false(id.locked); /* window still open */
	assert_int_equal(fwg_guest_write(d->h, NIC, FWG_REGION_FIRMWARE, 0, b.data, b.len, &o), CL_EPERM);
	assert_int_equal(o.reason, FWG_R_NO_MAPPING);
	assert_int_equal(o.action, FWG_ACT_ALARM);
	assert_int_equal(fwg_guest_write(d->h, GPU, FWG_REGION_CONFIG, 64, b.data, 4, &o), CL_EPERM);
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.op, FWG_OP_GUEST_WRITE);
	assert_int_equal(r.source, FWG_SRC_GUEST);
	assert_int_equal(r.reason, FWG_R_NO_MAPPING);
	assert_int_equal(dev_status(d, NIC).counter, 0);
	cl_buf_free(&b);
}

static void refuses_update_outside_window(void **state)
{
	dx *d = *state;
	cl_buf b;
	dev_bundle(d, NIC, 5, 300, K01, 2, &b);
	advance(d, 59);
	assert_true(dev_status(d, NIC).window_open);
	assert_int_equal(dev_status(d, NIC).window_left_s, 1);
	advance(d, 1);
	fwg_dev_status s = dev_status(d, NIC);
	assert_false(s.window_open);
	assert_true(s.locked);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len, FWG_R_WINDOW_CLOSED);
	assert_int_equal(fwg_mgmt_revert(d->h, FWG_SRC_MGMT, NIC, NULL), CL_EPERM);
	/* A reopen of the agent is not a power cycle: still closed. */
	dx_reopen(d);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len, FWG_R_WINDOW_CLOSED);
	/* A power cycle reopens it. */
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	assert_true(dev_status(d, NIC).window_open);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, NULL), CL_OK);
	/* Guests cannot power-cycle. */
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_GUEST), CL_EPERM);
	cl_buf_free(&b);
}

static void refuses_routing_policy_violation(void **state)
{
	dx *d = *state;
	cl_buf b;
	static const fwg_route routes[] = {{FWG_SRC_MGMT, NIC}, {FWG_SRC_MGMT, GPU}};
	d->opts.routes = routes;
	d->opts.nroutes = 2;
	dx_reopen(d);
	dev_bundle(d, BMC, 5, 300, K01, 2, &b);
	expect_refused(d, FWG_SRC_MGMT, BMC, b.data, b.len, FWG_R_ROUTE_DENIED);
	assert_int_equal(audit_last(d).action, FWG_ACT_ALARM);
	/* An address no device has. */
	d->opts.routes = NULL;
	dx_reopen(d);
	fwg_outcome o;
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, "0000:99:00.0", b.data, b.len, &o), CL_ENOTFOUND);
	assert_int_equal(o.reason, FWG_R_NO_DEVICE);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, BMC, b.data, b.len, NULL), CL_OK);
	cl_buf_free(&b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, dx_setup, dx_teardown)
	const struct CMUnitTest tests[] = {
		T(accepts_k_of_n_update),
		T(refuses_unsigned),
		T(refuses_unknown_key),
		T(refuses_below_threshold),
		T(refuses_same_key_twice),
		T(refuses_revoked_signer),
		T(refuses_bad_trust_root_chain),
		T(refuses_rollback),
		T(refuses_replay_after_update),
		T(refuses_mix_and_match),
		T(refuses_digest_and_size_mismatch),
		T(refuses_truncated_oversized_bitflipped),
		T(refuses_use_before_passed),
		T(refuses_update_from_guest),
		T(refuses_update_outside_window),
		T(refuses_routing_policy_violation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
