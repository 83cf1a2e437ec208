/* Device keys held by the key holder (fwg_opts.keys, what cloister-host
 * passes): a real, hardened key holder process (KILL-mode seccomp) holds
 * dev/<addr>; the device model only ever sees public points and derived
 * image keys.
 *   - manufacture: the key holder makes each device's key, no devkey file
 *     is written, the published public key is the key holder's;
 *   - an update encrypted to the published key installs, boots again after
 *     a reopen (re-verification decrypts through the key holder); one for
 *     another key is refused decrypt_failed;
 *   - the key holder killed: an encrypted update is refused and changes
 *     nothing (fail closed), a plain one still installs; a restarted key
 *     holder (same directory) answers with the same key again;
 *   - a device whose key the key holder lacks gets one at open, audited as
 *     a manufacture event; a re-manufacture keeps the fused key;
 *   - a devkey file still in the model (not moved) stops the open. */
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_fwdev_fixture.h"

#include "keyholder/keyholder.h"

static size_t plen; /* cl_kh_get_public's point length */
static const int K01[] = {0, 1};

typedef struct held {
	dx d;
	char keydir[96];
	pid_t pid;
	int fd;
	cl_kh_client kh;
	fwg_keys keys;
} held;

static cl_err slot_of(const char *addr, char slot[CL_KH_SLOT_MAX + 1])
{
	CL_ENSURE(snprintf(slot, CL_KH_SLOT_MAX + 1, "dev/%s", addr) <= CL_KH_SLOT_MAX, CL_EINVAL, "long");
	return CL_OK;
}

static cl_err t_generate(void *ctx, const char *addr, uint8_t point[FW_POINT_LEN])
{
	char slot[CL_KH_SLOT_MAX + 1];
	CL_GUARD(slot_of(addr, slot));
	return cl_kh_generate(&((held *)ctx)->kh, slot, point);
}

static cl_err t_get_public(void *ctx, const char *addr, uint8_t point[FW_POINT_LEN])
{
	char slot[CL_KH_SLOT_MAX + 1];
	enum cl_kh_purpose p;
	CL_GUARD(slot_of(addr, slot));
	return cl_kh_get_public(&((held *)ctx)->kh, slot, &p, point, &plen);
}

static cl_err t_image_key(void *ctx, const char *addr, const uint8_t enc[FW_POINT_LEN], uint8_t key[32])
{
	char slot[CL_KH_SLOT_MAX + 1];
	CL_GUARD(slot_of(addr, slot));
	return cl_kh_ecdh(&((held *)ctx)->kh, slot, CL_KH_USE_FW_IMAGE, enc, key);
}

static void kh_start(held *x)
{
	int a[2];
	assert_int_equal(cl_ipc_pair(a), CL_OK);
	fflush(NULL);
	x->pid = fork();
	assert_true(x->pid >= 0);
	if (x->pid == 0) {
		cl_kh_main_opts o = {0};
		_exit(cl_keyholder_main(a[1], x->keydir, &o));
	}
	close(a[1]);
	x->fd = a[0];
	cl_kh_client_init(&x->kh, a[0], 10000);
}

static void kh_kill(held *x)
{
	int st;
	kill(x->pid, SIGKILL);
	assert_int_equal(waitpid(x->pid, &st, 0), x->pid);
	close(x->fd);
	x->fd = -1;
}

static int setup(void **state)
{
	held *x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	snprintf(x->keydir, sizeof(x->keydir), "/tmp/cl-heldkey.XXXXXX");
	if (!mkdtemp(x->keydir))
		return -1;
	kh_start(x);
	x->keys = (fwg_keys){.generate = t_generate, .get_public = t_get_public, .image_key = t_image_key, .ctx = x};
	fx_init(&x->d.f);
	x->d.opts.keys = &x->keys;
	dx_make(&x->d);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	held *x = *state;
	fwg_host_close(x->d.h);
	if (x->fd >= 0) {
		int st;
		close(x->fd); /* the key holder exits when its agent channel closes */
		waitpid(x->pid, &st, 0);
	}
	assert_int_equal(cl_rm_rf(x->d.dir), CL_OK);
	assert_int_equal(cl_rm_rf(x->keydir), CL_OK);
	fx_free(&x->d.f);
	free(x);
	return 0;
}

static void *published_key(dx *d, const char *addr)
{
	fwg_dev_status s = dev_status(d, addr);
	BIO *bio = BIO_new_mem_buf(s.device_key, (int)strlen(s.device_key));
	assert_non_null(bio);
	EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k);
	return k;
}

/* A bundle for device addr, encrypted to `to` (or plain if NULL), signed by k0 and k1. */
static void bundle(dx *d, const char *addr, uint64_t seq, const void *to, cl_buf *out)
{
	fw_sign_params p;
	const fwg_device_spec *s = spec_of(addr);
	uint8_t img[2000];
	for (size_t i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 11 + seq);
	sign_params(&p, seq);
	memcpy(p.vendor, s->vendor, FW_UUID_LEN);
	memcpy(p.class_id, s->class_id, FW_UUID_LEN);
	p.component = addr;
	p.encrypt_to = to;
	cl_buf_init(out, 1 << 22);
	assert_int_equal(fw_bundle_build(&p, d->f.k[K01[0]], img, sizeof(img), out), CL_OK);
	cl_buf next;
	cl_buf_init(&next, 1 << 22);
	assert_int_equal(fw_bundle_cosign(out->data, out->len, d->f.k[K01[1]], &next), CL_OK);
	cl_buf_free(out);
	*out = next;
}

static void keys_live_in_the_key_holder(void **state)
{
	held *x = *state;
	char path[256];
	const char *addrs[] = {NIC, GPU, BMC};
	for (size_t i = 0; i < 3; i++) {
		uint8_t kh_pt[FW_POINT_LEN], pub_pt[FW_POINT_LEN];
		/* no key file in the device model */
		snprintf(path, sizeof(path), "%s/devices/%s/devkey", x->d.dir, addrs[i]);
		assert_int_equal(access(path, F_OK), -1);
		/* the published key is the key holder's */
		assert_int_equal(t_get_public(x, addrs[i], kh_pt), CL_OK);
		void *pub = published_key(&x->d, addrs[i]);
		assert_int_equal(fw_key_point(pub, pub_pt), CL_OK);
		assert_memory_equal(kh_pt, pub_pt, FW_POINT_LEN);
		fw_key_free(pub);
		snprintf(path, sizeof(path), "%s/dev/%s.key", x->keydir, addrs[i]);
		assert_int_equal(access(path, F_OK), 0);
	}
}

static void encrypted_update_through_the_key_holder(void **state)
{
	held *x = *state;
	cl_buf b;
	fwg_outcome o;
	void *nic = published_key(&x->d, NIC), *gpu = published_key(&x->d, GPU);
	bundle(&x->d, NIC, 3, nic, &b);
	assert_int_equal(fwg_mgmt_update(x->d.h, FWG_SRC_MGMT, NIC, b.data, b.len, &o), CL_OK);
	assert_int_equal(dev_status(&x->d, NIC).sequence, 3);
	cl_buf_free(&b);
	/* boot re-verification after a reopen decrypts through the key holder */
	dx_reopen(&x->d);
	fwg_dev_status s = dev_status(&x->d, NIC);
	assert_true(s.booted);
	assert_int_equal(s.sequence, 3);
	/* NIC's identity, encrypted to the GPU's key: the NIC cannot decrypt it */
	bundle(&x->d, NIC, 4, gpu, &b);
	expect_refused(&x->d, FWG_SRC_MGMT, NIC, b.data, b.len, FW_E_DECRYPT);
	cl_buf_free(&b);
	fw_key_free(nic);
	fw_key_free(gpu);
}

static void dead_key_holder_fails_closed(void **state)
{
	held *x = *state;
	cl_buf b;
	fwg_outcome o;
	void *nic = published_key(&x->d, NIC);
	kh_kill(x);
	bundle(&x->d, NIC, 5, nic, &b);
	expect_refused(&x->d, FWG_SRC_MGMT, NIC, b.data, b.len, FW_E_DECRYPT);
	cl_buf_free(&b);
	bundle(&x->d, NIC, 6, NULL, &b); /* a plain bundle needs no key */
	assert_int_equal(fwg_mgmt_update(x->d.h, FWG_SRC_MGMT, NIC, b.data, b.len, &o), CL_OK);
	cl_buf_free(&b);
	/* a new key holder on the same directory: the same key, updates work again */
	kh_start(x);
	bundle(&x->d, NIC, 7, nic, &b);
	assert_int_equal(fwg_mgmt_update(x->d.h, FWG_SRC_MGMT, NIC, b.data, b.len, &o), CL_OK);
	assert_int_equal(dev_status(&x->d, NIC).sequence, 7);
	cl_buf_free(&b);
	fw_key_free(nic);
}

static void missing_key_made_at_open(void **state)
{
	held *x = *state;
	uint8_t before[FW_POINT_LEN], after[FW_POINT_LEN];
	assert_int_equal(t_get_public(x, GPU, before), CL_OK);
	assert_int_equal(cl_kh_destroy(&x->kh, "dev/" GPU), CL_OK);
	dx_reopen(&x->d);
	assert_int_equal(t_get_public(x, GPU, after), CL_OK);
	assert_memory_not_equal(before, after, FW_POINT_LEN);
	void *pub = published_key(&x->d, GPU);
	uint8_t pt[FW_POINT_LEN];
	assert_int_equal(fw_key_point(pub, pt), CL_OK);
	assert_memory_equal(pt, after, FW_POINT_LEN);
	fw_key_free(pub);
	fwg_audit_rec r = audit_last(&x->d);
	assert_int_equal(r.op, FWG_OP_MANUFACTURE);
	assert_int_equal(r.result, FWG_RES_EVENT);
	assert_string_equal(r.addr, GPU);
	/* a second manufacture of the same devices (the model's directory was
	 * lost) keeps the keys the key holder has: fused keys stay */
	char dir2[64];
	fwg_host *h2 = NULL;
	snprintf(dir2, sizeof(dir2), "/tmp/fwdev2.XXXXXX");
	assert_non_null(mkdtemp(dir2));
	assert_int_equal(fwg_host_create(dir2, x->d.f.root_pt, NULL, 0, &x->d.opts), CL_OK);
	assert_int_equal(fwg_host_open(dir2, &x->d.opts, &h2), CL_OK);
	fwg_host_status hs;
	assert_int_equal(fwg_host_status_get(h2, &hs), CL_OK);
	for (size_t i = 0; i < hs.ndev; i++)
		if (strcmp(hs.dev[i].addr, NIC) == 0)
			assert_string_equal(hs.dev[i].device_key, dev_status(&x->d, NIC).device_key);
	fwg_host_close(h2);
	assert_int_equal(cl_rm_rf(dir2), CL_OK);
}

static void unmoved_key_file_stops_the_open(void **state)
{
	held *x = *state;
	char path[256];
	fwg_host *h = NULL;
	void *k = NULL;
	snprintf(path, sizeof(path), "%s/devices/%s/devkey", x->d.dir, BMC);
	assert_int_equal(fw_key_generate(&k), CL_OK);
	assert_int_equal(fw_key_save_private(k, path), CL_OK);
	fw_key_free(k);
	assert_int_equal(fwg_host_open(x->d.dir, &x->d.opts, &h), CL_EPROTO);
	assert_null(h);
	assert_int_equal(unlink(path), 0);
	dx_reopen(&x->d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(keys_live_in_the_key_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(encrypted_update_through_the_key_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(dead_key_holder_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_key_made_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(unmoved_key_file_stops_the_open, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
