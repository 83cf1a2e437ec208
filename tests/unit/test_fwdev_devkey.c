/* Device keys: every device has its own P-384 key pair; a bundle encrypted to
 * one device installs there and nowhere else; the public half is published
 * in the status (and passes the control plane's validation); the private
 * half never shows in the status, the sync report or the audit log. */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "test_fwdev_fixture.h"

#include "control/validate.h"
#include "host/agent_fw.h"

static const int K01[] = {0, 1};

/* The device's public key as published in the status (EVP_PKEY*). */
static void *published_key(dx *d, const char *addr, char pem[FWG_DEVKEY_PEM_MAX])
{
	fwg_dev_status s = dev_status(d, addr);
	assert_true(strncmp(s.device_key, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
	if (pem)
		memcpy(pem, s.device_key, FWG_DEVKEY_PEM_MAX);
	BIO *bio = BIO_new_mem_buf(s.device_key, (int)strlen(s.device_key));
	assert_non_null(bio);
	EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k);
	return k;
}

static void fill_image(uint8_t *img, size_t n, uint64_t seq)
{
	for (size_t i = 0; i < n; i++)
		img[i] = (uint8_t)(i * 7 + seq + 1);
}

/* A bundle with the identity of device `addr`, image fill_image(n, seq),
 * encrypted to `to` (EVP_PKEY*, public), signed by k0 and k1. */
static void enc_bundle(dx *d, const char *addr, uint64_t seq, size_t n, const void *to, cl_buf *out)
{
	fw_sign_params p;
	const fwg_device_spec *s = spec_of(addr);
	uint8_t *img = malloc(n);
	assert_non_null(img);
	fill_image(img, n, seq);
	sign_params(&p, seq);
	memcpy(p.vendor, s->vendor, FW_UUID_LEN);
	memcpy(p.class_id, s->class_id, FW_UUID_LEN);
	p.component = addr;
	p.encrypt_to = to;
	cl_buf_init(out, 1 << 22);
	assert_int_equal(fw_bundle_build(&p, d->f.k[K01[0]], img, n, out), CL_OK);
	cl_buf next;
	cl_buf_init(&next, 1 << 22);
	assert_int_equal(fw_bundle_cosign(out->data, out->len, d->f.k[K01[1]], &next), CL_OK);
	cl_buf_free(out);
	*out = next;
	/* The plaintext is nowhere in the bundle. */
	assert_null(memmem(out->data, out->len, img, 64));
	free(img);
}

static void file_path(dx *d, const char *addr, const char *leaf, char *out, size_t n)
{
	assert_true(snprintf(out, n, "%s/devices/%s/%s", d->dir, addr, leaf) < (int)n);
}

/* White-box: the device's private scalar (48 bytes) from its key file. */
static void private_scalar(dx *d, const char *addr, uint8_t out[48])
{
	char path[256];
	void *key = NULL;
	BIGNUM *bn = NULL;
	file_path(d, addr, "devkey", path, sizeof(path));
	assert_int_equal(fw_key_load_private(path, &key), CL_OK);
	assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &bn), 1);
	assert_int_equal(BN_bn2binpad(bn, out, 48), 48);
	BN_clear_free(bn);
	fw_key_free(key);
}

static void read_file(const char *path, cl_buf *out)
{
	cl_buf_init(out, 1 << 26);
	assert_int_equal(cl_file_read(path, out->max, out), CL_OK);
}

/* Neither the raw scalar nor its hex (either case) nor a PEM private key. */
static void assert_no_secret(const uint8_t *p, size_t n, const uint8_t scalar[48])
{
	char hex[97], upper[97];
	cl_hex_encode(scalar, 48, hex);
	for (size_t i = 0; i < sizeof(hex); i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	assert_null(memmem(p, n, scalar, 48));
	assert_null(memmem(p, n, scalar, 16));
	assert_null(memmem(p, n, hex, 96));
	assert_null(memmem(p, n, hex, 32));
	assert_null(memmem(p, n, upper, 32));
	assert_null(memmem(p, n, "PRIVATE KEY", 11));
}

static void encrypted_bundle_installs_on_its_device(void **state)
{
	dx *d = *state;
	cl_buf b, slot;
	fwg_outcome o;
	char path[256];
	void *nic = published_key(d, NIC, NULL);
	enc_bundle(d, NIC, 5, 3000, nic, &b);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, &o), CL_OK);
	assert_int_equal(o.reason, 0);
	fwg_dev_status s = dev_status(d, NIC);
	assert_int_equal(s.sequence, 5);
	assert_int_equal(s.counter, 5);
	assert_int_equal(s.active_slot, 0);
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.result, FWG_RES_ACCEPTED);
	assert_int_equal(r.sequence, 5);
	/* The flash slot holds the bundle as signed; it verifies and decrypts,
	 * with this device's key, to the image whose digest was signed. */
	file_path(d, NIC, "slot-a", path, sizeof(path));
	read_file(path, &slot);
	assert_int_equal(slot.len, b.len);
	assert_memory_equal(slot.data, b.data, b.len);
	void *priv = NULL;
	fw_ops ops;
	fw_result res;
	fw_trust t;
	uint8_t *dest = malloc(slot.len), *img = malloc(3000);
	assert_non_null(dest);
	assert_non_null(img);
	file_path(d, NIC, "devkey", path, sizeof(path));
	assert_int_equal(fw_key_load_private(path, &priv), CL_OK);
	fw_openssl_ops(&ops, priv);
	/* the device's trust state, rebuilt from its documents */
	cl_buf doc;
	const int s3[] = {0, 1, 2}, by[] = {-1};
	make_tr(&d->f, 1, 2, s3, 3, by, 1, &doc);
	assert_int_equal(fw_trust_init(&t, d->f.root_pt, &ops), FW_OK);
	fw_trust next;
	assert_int_equal(fw_trust_apply(&t, &next, doc.data, doc.len, &ops), FW_OK);
	fw_device dev = {.component = NIC, .counter = 4, .trust_floor = 1};
	memcpy(dev.vendor, spec_of(NIC)->vendor, FW_UUID_LEN);
	memcpy(dev.class_id, spec_of(NIC)->class_id, FW_UUID_LEN);
	assert_int_equal(fw_verify_bundle(&t, &dev, &ops, slot.data, slot.len, dest, slot.len, &res), FW_OK);
	assert_int_equal(res.image_len, 3000);
	fill_image(img, 3000, 5);
	assert_memory_equal(dest, img, 3000);
	/* The device boots it again after a reopen (boot re-verification decrypts). */
	dx_reopen(d);
	s = dev_status(d, NIC);
	assert_true(s.booted);
	assert_int_equal(s.sequence, 5);
	fw_key_free(priv);
	free(dest);
	free(img);
	cl_buf_free(&doc);
	cl_buf_free(&slot);
	cl_buf_free(&b);
	fw_key_free(nic);
}

static void bundle_for_nic_key_refused_on_gpu(void **state)
{
	dx *d = *state;
	cl_buf to_gpu, nic_b;
	void *nic = published_key(d, NIC, NULL);
	/* GPU's identity, but encrypted to the NIC: the GPU cannot decrypt it. */
	enc_bundle(d, GPU, 5, 2000, nic, &to_gpu);
	expect_refused(d, FWG_SRC_MGMT, GPU, to_gpu.data, to_gpu.len, FW_E_DECRYPT);
	assert_string_equal(fwg_reason_name(FW_E_DECRYPT), "decrypt_failed");
	fwg_audit_rec r = audit_last(d);
	assert_string_equal(r.addr, GPU);
	assert_int_equal(r.sequence, 5);
	assert_int_equal(dev_status(d, GPU).active_slot, -1);
	/* The NIC's own bundle pushed to the GPU: refused too, nothing changes. */
	enc_bundle(d, NIC, 6, 2000, nic, &nic_b);
	fwg_outcome o;
	assert_int_not_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, GPU, nic_b.data, nic_b.len, &o), CL_OK);
	assert_int_not_equal(o.reason, 0);
	assert_int_equal(dev_status(d, GPU).active_slot, -1);
	/* and it still installs on the NIC */
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, nic_b.data, nic_b.len, &o), CL_OK);
	cl_buf_free(&nic_b);
	cl_buf_free(&to_gpu);
	fw_key_free(nic);
}

static void bundle_for_unknown_key_refused(void **state)
{
	dx *d = *state;
	cl_buf b;
	void *other = NULL;
	assert_int_equal(fw_key_generate(&other), CL_OK);
	enc_bundle(d, NIC, 5, 1000, other, &b);
	expect_refused(d, FWG_SRC_MGMT, NIC, b.data, b.len, FW_E_DECRYPT);
	/* Queued for the next power-on, it is refused when applied. */
	fwg_outcome o;
	assert_int_equal(fwg_mgmt_queue(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, &o), CL_OK);
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	fwg_dev_status s = dev_status(d, NIC);
	assert_int_equal(s.active_slot, -1);
	assert_int_equal(s.pending, 0);
	cl_buf_free(&b);
	fw_key_free(other);
}

static void key_survives_reopen_and_is_per_device(void **state)
{
	dx *d = *state;
	char nic[FWG_DEVKEY_PEM_MAX], gpu[FWG_DEVKEY_PEM_MAX], bmc[FWG_DEVKEY_PEM_MAX], again[FWG_DEVKEY_PEM_MAX];
	char path[256];
	struct stat st;
	fw_key_free(published_key(d, NIC, nic));
	fw_key_free(published_key(d, GPU, gpu));
	fw_key_free(published_key(d, BMC, bmc));
	assert_true(strcmp(nic, gpu) != 0 && strcmp(nic, bmc) != 0 && strcmp(gpu, bmc) != 0);
	file_path(d, NIC, "devkey", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	dx_reopen(d);
	fw_key_free(published_key(d, NIC, again));
	assert_string_equal(again, nic);
	/* A power cycle does not change it either. */
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	fw_key_free(published_key(d, NIC, again));
	assert_string_equal(again, nic);
}

static void host_without_keys_gets_them_on_open(void **state)
{
	dx *d = *state;
	char path[256], old[FWG_DEVKEY_PEM_MAX], now[FWG_DEVKEY_PEM_MAX];
	cl_buf b;
	fw_key_free(published_key(d, NIC, old));
	/* As manufactured by a build without device keys. */
	fwg_host_close(d->h);
	d->h = NULL;
	const char *addrs[] = {NIC, GPU, BMC};
	for (size_t i = 0; i < 3; i++) {
		file_path(d, addrs[i], "devkey", path, sizeof(path));
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(fwg_host_open(d->dir, &d->opts, &d->h), CL_OK);
	void *nic = published_key(d, NIC, now);
	assert_true(strcmp(now, old) != 0);
	fwg_audit_rec r = audit_last(d);
	assert_int_equal(r.op, FWG_OP_MANUFACTURE);
	assert_int_equal(r.result, FWG_RES_EVENT);
	assert_int_equal(r.source, FWG_SRC_HOST);
	assert_non_null(strstr(r.detail, "device key generated"));
	/* The new key works, and is kept. */
	enc_bundle(d, NIC, 5, 500, nic, &b);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, NULL), CL_OK);
	dx_reopen(d);
	fw_key_free(published_key(d, NIC, old));
	assert_string_equal(old, now);
	assert_true(dev_status(d, NIC).booted);
	/* a key file with loose permissions is refused, not used */
	file_path(d, NIC, "devkey", path, sizeof(path));
	assert_int_equal(chmod(path, 0644), 0);
	fwg_host_close(d->h);
	d->h = NULL;
	assert_int_equal(fwg_host_open(d->dir, &d->opts, &d->h), CL_EPROTO);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(fwg_host_open(d->dir, &d->opts, &d->h), CL_OK);
	cl_buf_free(&b);
	fw_key_free(nic);
}

static void private_key_never_in_status_or_audit(void **state)
{
	dx *d = *state;
	uint8_t scalar[3][48];
	const char *addrs[] = {NIC, GPU, BMC};
	cl_buf b, audit;
	for (size_t i = 0; i < 3; i++)
		private_scalar(d, addrs[i], scalar[i]);
	/* Accepted and refused encrypted updates, a reopen, a power cycle. */
	void *nic = published_key(d, NIC, NULL);
	enc_bundle(d, NIC, 5, 800, nic, &b);
	assert_int_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, NIC, b.data, b.len, NULL), CL_OK);
	cl_buf_free(&b);
	enc_bundle(d, GPU, 5, 800, nic, &b);
	assert_int_not_equal(fwg_mgmt_update(d->h, FWG_SRC_MGMT, GPU, b.data, b.len, NULL), CL_OK);
	dx_reopen(d);
	assert_int_equal(fwg_host_power_cycle(d->h, FWG_SRC_OPERATOR), CL_OK);
	/* The sync report (what reaches the control plane) carries each public
	 * key, passes the control plane's validation, and no private key. */
	json_t *rep = NULL;
	uint64_t left;
	assert_int_equal(cl_agent_fw_report(d->h, 0, &rep, &left), CL_OK);
	ctl_fw_report parsed;
	assert_int_equal(ctl_parse_fw_report(rep, &parsed), CL_OK);
	char *text = json_dumps(rep, JSON_COMPACT);
	assert_non_null(text);
	for (size_t i = 0; i < 3; i++)
		assert_no_secret((const uint8_t *)text, strlen(text), scalar[i]);
	json_t *dev0 = json_array_get(json_object_get(rep, "devices"), 0);
	assert_true(json_is_string(json_object_get(dev0, "device_key")));
	/* The status struct and the guest's view. */
	fwg_host_status hs;
	fwg_identity id;
	assert_int_equal(fwg_host_status_get(d->h, &hs), CL_OK);
	assert_int_equal(fwg_guest_read(d->h, NIC, &id), CL_OK);
	read_file(d->log, &audit);
	for (size_t i = 0; i < 3; i++) {
		assert_no_secret((const uint8_t *)&hs, sizeof(hs), scalar[i]);
		assert_no_secret((const uint8_t *)&id, sizeof(id), scalar[i]);
		assert_no_secret(audit.data, audit.len, scalar[i]);
	}
	free(text);
	json_decref(rep);
	cl_buf_free(&audit);
	cl_buf_free(&b);
	fw_key_free(nic);
}

static void control_plane_validates_device_key(void **state)
{
	(void)state;
	static const char pem[] = "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACID\n-----END PUBLIC KEY-----\n";
	char big[400];
	ctl_fw_report r;
	const char *bad[] = {"not a key", "-----BEGIN PUBLIC KEY-----\nA\x01\n-----END PUBLIC KEY-----\n",
			     "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", big};
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "-----BEGIN PUBLIC KEY-----\n", 27);
	memcpy(big + sizeof(big) - 26, "-----END PUBLIC KEY-----\n", 25);
	json_t *fw = json_pack("{s:b, s:b, s:b, s:[{s:s, s:s}]}", "eligible", 1, "quarantined", 0, "window_open", 0,
			       "devices", "addr", NIC, "device_key", pem);
	assert_non_null(fw);
	assert_int_equal(ctl_parse_fw_report(fw, &r), CL_OK);
	json_t *dev = json_array_get(json_object_get(fw, "devices"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(json_object_set_new(dev, "device_key", json_string(bad[i])), 0);
		assert_int_equal(ctl_parse_fw_report(fw, &r), CL_EINVAL);
	}
	assert_int_equal(json_object_set_new(dev, "device_key", json_integer(1)), 0);
	assert_int_equal(ctl_parse_fw_report(fw, &r), CL_EINVAL);
	json_decref(fw);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, dx_setup, dx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(encrypted_bundle_installs_on_its_device),
		T(bundle_for_nic_key_refused_on_gpu),
		T(bundle_for_unknown_key_refused),
		T(key_survives_reopen_and_is_per_device),
		T(host_without_keys_gets_them_on_open),
		T(private_key_never_in_status_or_audit),
		cmocka_unit_test(control_plane_validates_device_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
