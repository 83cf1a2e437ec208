/* Signed policies bound to what they are for, and the edges around the
 * window: a window policy accepted on one device is refused on another
 * device and on another host (same root, same identity), "any" only when the
 * signer chose it, one-shot policies only in their power cycle, format-1
 * policies refused; an expired trust root refused by the device; a power
 * cycle whose record cannot be written leaves the window closed. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "test_fwdev_fixture.h"

#define OTHER_HOST "host-other"

/* A second host manufactured with the same root key (the same keys, shared:
 * not freed here), whose agent knows it as OTHER_HOST. */
static dx *other_host(dx *d)
{
	dx *o = calloc(1, sizeof(*o));
	assert_non_null(o);
	o->f = d->f;
	dx_make(o);
	assert_int_equal(fwg_host_set_id(o->h, OTHER_HOST), CL_OK);
	return o;
}

static void other_free(dx *o)
{
	fwg_host_close(o->h);
	assert_int_equal(cl_rm_rf(o->dir), CL_OK);
	free(o);
}

static void build(dx *d, const fw_policy_params *p, cl_buf *out)
{
	cl_buf_init(out, 4096);
	assert_int_equal(fw_window_policy_build(d->f.root, p, out), CL_OK);
}

/* doc pushed to addr of h: refused wrong_target, nothing changed, alarmed. */
static void refused_elsewhere(dx *d, fwg_host *h, const char *addr, const cl_buf *doc)
{
	fwg_outcome o;
	fwg_host_status before, after;
	assert_int_equal(fwg_host_status_get(h, &before), CL_OK);
	assert_int_equal(fwg_mgmt_window(h, FWG_SRC_MGMT, addr, doc->data, doc->len, &o), CL_EPERM);
	assert_int_equal(o.reason, FWG_R_WRONG_TARGET);
	assert_int_equal(o.action, FWG_ACT_ALARM);
	assert_int_equal(fwg_host_status_get(h, &after), CL_OK);
	for (size_t i = 0; i < after.ndev; i++) {
		assert_int_equal(after.dev[i].next_window_s, before.dev[i].next_window_s);
		assert_int_equal(after.dev[i].policy_version, before.dev[i].policy_version);
	}
	(void)d;
}

static void policy_replayed_on_another_device_or_host_refused(void **state)
{
	dx *d = *state;
	dx *o = other_host(d);
	fw_policy_params p;
	fwg_outcome oc;
	cl_buf doc, host_only;
	policy_for(d, NIC, 1, 30, &p);
	build(d, &p, &doc);
	/* Another device of the same host, the same device address on another
	 * host (same root, same vendor and class, its own device key). */
	refused_elsewhere(d, d->h, GPU, &doc);
	refused_elsewhere(d, o->h, NIC, &doc);
	/* Right device, but named for another host. */
	p.target.host_id = OTHER_HOST;
	build(d, &p, &host_only);
	refused_elsewhere(d, d->h, NIC, &host_only);
	/* The other host's NIC with our host's policy body but its own key:
	 * still not ours (device key), and not the other's (host). */
	fw_policy_params q;
	policy_for(o, NIC, 1, 30, &q); /* o's NIC key, host HOST_ID */
	cl_buf mixed;
	build(d, &q, &mixed);
	refused_elsewhere(d, d->h, NIC, &mixed);
	refused_elsewhere(d, o->h, NIC, &mixed);
	/* Where it was made for it is accepted. */
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, &oc), CL_OK);
	assert_int_equal(dev_status(d, NIC).next_window_s, 30);
	assert_int_equal(dev_status(d, NIC).policy_version, 1);
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.result, FWG_RES_ACCEPTED);
	/* A handle that was never told its host id refuses host-bound policies. */
	fwg_host *anon;
	policy_for(d, NIC, 2, 40, &p);
	cl_buf v2;
	build(d, &p, &v2);
	assert_int_equal(fwg_host_open(d->dir, &d->opts, &anon), CL_OK);
	refused_elsewhere(d, anon, NIC, &v2);
	fwg_host_close(anon);
	cl_buf_free(&doc);
	cl_buf_free(&host_only);
	cl_buf_free(&mixed);
	cl_buf_free(&v2);
	other_free(o);
}

static void any_only_when_chosen_and_one_shot_in_its_power_cycle(void **state)
{
	dx *d = *state;
	dx *o = other_host(d);
	fw_policy_params p;
	cl_buf any, bad;
	memset(&p, 0, sizeof(p));
	p.version = 5;
	p.seconds = 90;
	/* Neither a target nor "any": the builder refuses; both: too. */
	cl_buf_init(&bad, 4096);
	assert_int_equal(fw_window_policy_build(d->f.root, &p, &bad), CL_EINVAL);
	p.target.any = true;
	p.target.host_id = HOST_ID;
	assert_int_equal(fw_window_policy_build(d->f.root, &p, &bad), CL_EINVAL);
	p.target.host_id = NULL;
	build(d, &p, &any);
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, GPU, any.data, any.len, NULL), CL_OK);
	assert_int_equal(fwg_mgmt_window(o->h, FWG_SRC_MGMT, NIC, any.data, any.len, NULL), CL_OK);
	assert_int_equal(dev_status(o, NIC).next_window_s, 90);
	/* One-shot: only in the power cycle it names. */
	fwg_host_status hs;
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	uint64_t cycle = hs.power_cycle;
	assert_true(cycle >= 1);
	cl_buf now_doc, next_doc;
	policy_for(d, NIC, 6, 120, &p);
	p.power_cycle = cycle + 1;
	build(d, &p, &next_doc);
	refused_elsewhere(d, d->h, NIC, &next_doc); /* not yet */
	p.power_cycle = cycle;
	build(d, &p, &now_doc);
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_int_equal(hs.power_cycle, cycle + 1);
	refused_elsewhere(d, d->h, NIC, &now_doc); /* its cycle is over */
	assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, NIC, next_doc.data, next_doc.len, NULL), CL_OK);
	assert_int_equal(dev_status(d, NIC).next_window_s, 120);
	/* The count survives a reopen. */
	dx_reopen(d);
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_int_equal(hs.power_cycle, cycle + 1);
	cl_buf_free(&any);
	cl_buf_free(&bad);
	cl_buf_free(&now_doc);
	cl_buf_free(&next_doc);
	other_free(o);
}

/* Format 1 ({1: version, 2: seconds}, aad ".../1") bound nothing: refused,
 * however validly the root signed it. */
static void old_format_policy_refused(void **state)
{
	dx *d = *state;
	cl_buf body, doc;
	fwg_outcome o;
	static const char *const aads[] = {"cloister-fw/window-policy/1", "cloister-fw/window-policy/2"};
	for (size_t i = 0; i < 2; i++) {
		cl_buf_init(&body, 64);
		assert_int_equal(fw_enc_head(&body, FW_CBOR_MAP, 2), CL_OK);
		assert_int_equal(fw_enc_head(&body, FW_CBOR_UINT, 1), CL_OK);
		assert_int_equal(fw_enc_head(&body, FW_CBOR_UINT, 7), CL_OK);
		assert_int_equal(fw_enc_head(&body, FW_CBOR_UINT, 2), CL_OK);
		assert_int_equal(fw_enc_head(&body, FW_CBOR_UINT, 3600), CL_OK);
		cl_buf_init(&doc, 1024);
		assert_int_equal(fw_enc_head(&doc, FW_CBOR_ARRAY, 2), CL_OK);
		assert_int_equal(fw_enc_bytes(&doc, FW_CBOR_BSTR, body.data, body.len), CL_OK);
		assert_int_equal(fw_enc_head(&doc, FW_CBOR_ARRAY, 1), CL_OK);
		assert_int_equal(fw_enc_sign1(d->f.root, aads[i], body.data, body.len, &doc), CL_OK);
		assert_int_equal(fwg_mgmt_window(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, &o), CL_ECRYPTO);
		assert_int_equal(o.reason, FW_E_MALFORMED);
		assert_int_equal(dev_status(d, NIC).next_window_s, 60);
		cl_buf_free(&body);
		cl_buf_free(&doc);
	}
}

/* A trust root that has already expired is refused by the device (it would
 * otherwise refuse every bundle until the next rotation). */
static void expired_trust_root_refused_by_device(void **state)
{
	dx *d = *state;
	cl_buf doc, b;
	fwg_outcome o;
	const void *signers[] = {d->f.k[0], d->f.k[1], d->f.k[3]}, *by[] = {d->f.k[0], d->f.k[1]};
	const int k01[] = {0, 1};
	cl_buf_init(&doc, 1 << 16);
	assert_int_equal(fw_trust_build(2, 2, signers, 3, true, d->clk.wall_s, by, 2, &doc), CL_OK);
	assert_int_equal(fwg_mgmt_trust(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, &o), CL_ECRYPTO);
	assert_int_equal(o.reason, FW_E_TRUST_EXPIRED);
	assert_int_equal(dev_status(d, NIC).trust_version, 1);
	/* Version 1 still governs: updates go on. */
	dev_bundle(d, NIC, 5, 200, k01, 2, &b);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, NULL), CL_OK);
	cl_buf_free(&b);
	/* The same rotation, not yet expired, is accepted. */
	assert_int_equal(fw_trust_build(2, 2, signers, 3, true, d->clk.wall_s + 3600, by, 2, &doc), CL_OK);
	assert_int_equal(fwg_mgmt_trust(d->h, FWG_SRC_MGMT, NIC, doc.data, doc.len, &o), CL_OK);
	assert_int_equal(dev_status(d, NIC).trust_version, 2);
	cl_buf_free(&doc);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* The power-on record is written before the window reopens: when it cannot
 * be written (here: RLIMIT_FSIZE at the log's size, so the log's next write
 * fails with EFBIG while the small power file could still be written), the
 * power cycle fails and the window stays closed, also after a reopen. */
static void power_cycle_failing_audit_write_keeps_window_closed(void **state)
{
	dx *d = *state;
	fwg_host_status hs;
	advance(d, FWG_DEFAULT_WINDOW_S + 1);
	assert_false(dev_status(d, NIC).window_open);
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	uint64_t cycle = hs.power_cycle;
	off_t size = file_size(d->log);
	char power[128];
	snprintf(power, sizeof(power), "%s/power", d->dir);
	assert_true(size > file_size(power) + 64); /* the power file would fit */
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	cl_err err = fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(err, CL_EIO);
	assert_int_equal(file_size(d->log), size); /* no record, no torn bytes */
	fwg_dev_status s = dev_status(d, NIC);
	assert_false(s.window_open);
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_int_equal(hs.power_cycle, cycle);
	dx_reopen(d);
	assert_false(dev_status(d, NIC).window_open);
	/* With room for its record, the same power cycle happens. */
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	assert_true(dev_status(d, NIC).window_open);
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.op, FWG_OP_POWER_ON);
	assert_string_equal(r.detail, "power cycle 2");
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_int_equal(hs.power_cycle, cycle + 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, dx_setup, dx_teardown)
	const struct CMUnitTest tests[] = {
		T(policy_replayed_on_another_device_or_host_refused),
		T(any_only_when_chosen_and_one_shot_in_its_power_cycle),
		T(old_format_policy_refused),
		T(expired_trust_root_refused_by_device),
		T(power_cycle_failing_audit_write_keeps_window_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
