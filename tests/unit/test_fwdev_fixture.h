/* test_fwdev_fixture.h — fixtures for the device-model tests
 * (tests/unit/test_fwdev_*.c): a manufactured host in a temp dir with a fake
 * clock injected through fwg_opts (the documented test seam), trust root v1
 * = {k0, k1, k2}, k = 2 on every device, and helpers to build bundles for any
 * device. Header-only (static) because each test file is its own binary. */
#ifndef CL_TEST_FWDEV_FIXTURE_H
#define CL_TEST_FWDEV_FIXTURE_H

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <unistd.h>

#include "../fw/fw_testlib.h"

#include "common/util.h"
#include "fwguard/fwaudit.h"
#include "fwguard/fwguard.h"

#define HOST_ID "host-test"
#define NIC "0000:03:00.0"
#define GPU "0000:65:00.0"
#define BMC "0000:01:00.0"

typedef struct fake_clock {
	uint64_t boot_ns;
	uint64_t wall_s;
} fake_clock;

typedef struct dx {
	fx f;
	char dir[64];
	char log[96];
	fake_clock clk;
	fwg_opts opts;
	fwg_host *h;
} dx;

__attribute__((unused)) static uint64_t fake_boot(void *ctx)
{
	return ((fake_clock *)ctx)->boot_ns;
}
__attribute__((unused)) static uint64_t fake_wall(void *ctx)
{
	return ((fake_clock *)ctx)->wall_s;
}
__attribute__((unused)) static void advance(dx *d, uint64_t seconds)
{
	d->clk.boot_ns += seconds * 1000000000ull;
	d->clk.wall_s += seconds;
}

/* Trust root v1 (root-signed) = {k0, k1, k2}, k = 2, on device addr. */
__attribute__((unused)) static void trust_v1_on(dx *d, const char *addr)
{
	cl_buf doc;
	const int s[] = {0, 1, 2}, by[] = {-1};
	make_tr(&d->f, 1, 2, s, 3, by, 1, &doc);
	assert_int_equal(fwg_mgmt_trust(d->h, FWG_SRC_MGMT, addr, doc.data, doc.len, NULL), CL_OK);
	cl_buf_free(&doc);
}

/* Manufactures with opts as set in d->opts (clock filled in here), opens. */
__attribute__((unused)) static void dx_make(dx *d)
{
	d->clk.boot_ns = 1000ull * 1000000000ull;
	d->clk.wall_s = 1700000000;
	d->opts.boot_ns = fake_boot;
	d->opts.wall_s = fake_wall;
	d->opts.clock_ctx = &d->clk;
	snprintf(d->dir, sizeof(d->dir), "/tmp/fwdev.XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->log, sizeof(d->log), "%s/audit.log", d->dir);
	assert_int_equal(fwg_host_create(d->dir, d->f.root_pt, NULL, 0, &d->opts), CL_OK);
	assert_int_equal(fwg_host_open(d->dir, &d->opts, &d->h), CL_OK);
	assert_int_equal(fwg_host_set_id(d->h, HOST_ID), CL_OK);
	trust_v1_on(d, NIC);
	trust_v1_on(d, GPU);
	trust_v1_on(d, BMC);
}

__attribute__((unused)) static int dx_setup(void **state)
{
	dx *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	fx_init(&d->f);
	dx_make(d);
	*state = d;
	return 0;
}

__attribute__((unused)) static int dx_teardown(void **state)
{
	dx *d = *state;
	fwg_host_close(d->h);
	assert_int_equal(cl_rm_rf(d->dir), CL_OK);
	fx_free(&d->f);
	free(d);
	return 0;
}

__attribute__((unused)) static void dx_reopen(dx *d)
{
	fwg_host_close(d->h);
	assert_int_equal(fwg_host_open(d->dir, &d->opts, &d->h), CL_OK);
	assert_int_equal(fwg_host_set_id(d->h, HOST_ID), CL_OK);
}

__attribute__((unused)) static const fwg_device_spec *spec_of(const char *addr)
{
	size_t n;
	const fwg_device_spec *s = fwg_default_devices(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(s[i].addr, addr) == 0)
			return &s[i];
	fail();
	return NULL;
}

/* A bundle for device addr with n_image bytes, signed by idx[0..n). */
__attribute__((unused)) static void dev_bundle(dx *d, const char *addr, uint64_t seq, size_t n_image,
					       const int *idx, size_t n, cl_buf *out)
{
	fw_sign_params p;
	const fwg_device_spec *s = spec_of(addr);
	uint8_t *img = malloc(n_image);
	assert_non_null(img);
	for (size_t i = 0; i < n_image; i++)
		img[i] = (uint8_t)(i * 13 + seq);
	sign_params(&p, seq);
	memcpy(p.vendor, s->vendor, FW_UUID_LEN);
	memcpy(p.class_id, s->class_id, FW_UUID_LEN);
	p.component = addr;
	cl_buf_init(out, 1 << 24);
	assert_int_equal(fw_bundle_build(&p, d->f.k[idx[0]], img, n_image, out), CL_OK);
	for (size_t i = 1; i < n; i++) {
		cl_buf next;
		cl_buf_init(&next, 1 << 24);
		assert_int_equal(fw_bundle_cosign(out->data, out->len, d->f.k[idx[i]], &next), CL_OK);
		cl_buf_free(out);
		*out = next;
	}
	free(img);
}

/* The status of one device. */
__attribute__((unused)) static fwg_dev_status dev_status(dx *d, const char *addr)
{
	fwg_host_status hs;
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	for (size_t i = 0; i < hs.ndev; i++)
		if (strcmp(hs.dev[i].addr, addr) == 0)
			return hs.dev[i];
	fail();
	return hs.dev[0];
}

/* The kid of a device's key, from its published public half (the status). */
__attribute__((unused)) static void device_kid(dx *d, const char *addr, uint8_t kid[FW_KID_LEN])
{
	fwg_dev_status s = dev_status(d, addr);
	BIO *bio = BIO_new_mem_buf(s.device_key, (int)strlen(s.device_key));
	assert_non_null(bio);
	EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k);
	assert_int_equal(fw_key_kid(k, kid), CL_OK);
	EVP_PKEY_free(k);
}

/* Window policy params bound to device addr of d's host (host HOST_ID). */
__attribute__((unused)) static void policy_for(dx *d, const char *addr, uint64_t version, uint64_t seconds,
					       fw_policy_params *p)
{
	const fwg_device_spec *s = spec_of(addr);
	memset(p, 0, sizeof(*p));
	p->version = version;
	p->seconds = seconds;
	memcpy(p->target.vendor, s->vendor, FW_UUID_LEN);
	memcpy(p->target.class_id, s->class_id, FW_UUID_LEN);
	p->target.component = s->addr;
	p->target.host_id = HOST_ID;
	device_kid(d, addr, p->target.device_kid);
}

/* A root-signed window policy for device addr of d's host into out (init'ed here). */
__attribute__((unused)) static void window_doc(dx *d, const char *addr, uint64_t version, uint64_t seconds,
					       cl_buf *out)
{
	fw_policy_params p;
	policy_for(d, addr, version, seconds, &p);
	cl_buf_init(out, 4096);
	assert_int_equal(fw_window_policy_build(d->f.root, &p, out), CL_OK);
}

static int keep_last(const fwg_audit_rec *r, void *ctx)
{
	*(fwg_audit_rec *)ctx = *r;
	return 0;
}

/* The chain verifies; returns the last record. */
__attribute__((unused)) static fwg_audit_rec audit_last(dx *d)
{
	fwa_report rep;
	fwg_audit_rec last;
	cl_buf file;
	memset(&last, 0, sizeof(last));
	cl_buf_init(&file, 1 << 26);
	assert_int_equal(cl_file_read(d->log, file.max, &file), CL_OK);
	fwa_walk(file.data, file.len, &rep, keep_last, &last);
	assert_true(rep.ok);
	cl_buf_free(&file);
	return last;
}

/* A refused update: the error, the reason, nothing changed, audited. */
__attribute__((unused)) static void expect_refused(dx *d, fwg_source src, const char *addr, const uint8_t *b,
						   size_t len, uint16_t reason)
{
	fwg_outcome o;
	fwg_dev_status before = dev_status(d, addr), after;
	cl_err err = fwg_mgmt_update(d->h, src, addr, b, len, &o);
	assert_int_not_equal(err, CL_OK);
	assert_int_equal(o.reason, reason);
	after = dev_status(d, addr);
	assert_int_equal(after.counter, before.counter);
	assert_int_equal(after.sequence, before.sequence);
	assert_int_equal(after.active_slot, before.active_slot);
	assert_string_equal(after.version, before.version);
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.seq, o.audit_seq);
	assert_int_equal(r.result, FWG_RES_REFUSED);
	assert_int_equal(r.reason, reason);
	assert_int_equal(r.op, FWG_OP_UPDATE);
	assert_int_equal(r.source, src);
}

#endif
