/* fwdev_devkey.c — each device's own P-384 key pair: the key image
 * encryption (ECDH P-384 + AES-256-GCM, src/fw/verify_decrypt.c) targets.
 *
 * The private key is the device's fused secret. With fwg_opts.keys (what
 * cloister-host passes: the key holder, slot dev/<addr>) it never enters
 * this process: the model asks for the public point and, per encrypted
 * bundle, for the derived image key (fw_ops.image_key). Without it (tools,
 * tests) it lives in DIR/devices/<addr>/devkey (PKCS#8 PEM, 0600, one
 * atomic write at manufacture, never rewritten) and is loaded only for the
 * length of one verification and freed (OpenSSL wipes it) right after.
 * Only the public half is kept in memory and published (status). Nothing
 * here logs. */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "fwguard/fwdev_internal.h"

#define DEVKEY_LEAF "devkey"

static cl_err devkey_path(const fwg_host *h, const fwg_dev *d, char *out, size_t n)
{
	CL_GUARD(fwg_path(h, d->addr, DEVKEY_LEAF, out, n));
	/* fw_key_load_private reads "pkcs11:" URIs from a token: never for us. */
	CL_ENSURE(strncmp(out, "pkcs11:", 7) != 0, CL_EINVAL, "firmware dir may not start with pkcs11:");
	return CL_OK;
}

/* Fills d's public half (point + PEM) from a key (private or public). */
static cl_err set_public(fwg_dev *d, const void *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem = NULL;
	cl_err err = CL_OK;
	d->has_devkey = false;
	if (!bio || PEM_write_bio_PUBKEY(bio, (EVP_PKEY *)key) != 1 || BIO_get_mem_ptr(bio, &mem) != 1 || !mem ||
	    mem->length >= sizeof(d->devkey_pem)) {
		ERR_clear_error();
		err = cl_errorf(CL_ECRYPTO, "device %s: cannot encode its public key", d->addr);
	} else {
		memcpy(d->devkey_pem, mem->data, mem->length);
		d->devkey_pem[mem->length] = '\0';
		err = fw_key_point(key, d->devkey_pt);
	}
	BIO_free(bio);
	if (err == CL_OK)
		d->has_devkey = true;
	return err;
}

/* Fills d's public half from a point the key holder gave (checked on the curve). */
static cl_err set_public_point(fwg_dev *d, const uint8_t point[FW_POINT_LEN])
{
	char group[] = "P-384";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, FW_POINT_LEN),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pk = NULL;
	cl_err err;
	if (!pc || EVP_PKEY_fromdata_init(pc) != 1 || EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		ERR_clear_error();
		err = cl_errorf(CL_ECRYPTO, "device %s: the key holder's point is not a P-384 key", d->addr);
	} else {
		err = set_public(d, pk);
	}
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(pc);
	return err;
}

/* The key holder's key for d: a new one, or the one an interrupted earlier
 * manufacture of the same address made (a fused key is never replaced). */
static cl_err held_create(fwg_host *h, fwg_dev *d)
{
	const fwg_keys *k = h->opts.keys;
	uint8_t pt[FW_POINT_LEN];
	cl_err err = k->generate(k->ctx, d->addr, pt);
	if (err == CL_ECONFLICT)
		err = k->get_public(k->ctx, d->addr, pt);
	if (err != CL_OK)
		return cl_errorf(err, "device %s: the key holder cannot make its key: %s", d->addr, cl_err_name(err));
	return set_public_point(d, pt);
}

cl_err fwg_devkey_create(fwg_host *h, fwg_dev *d)
{
	if (h->opts.keys)
		return held_create(h, d);
	char path[PATH_MAX];
	void *key = NULL;
	CL_GUARD(devkey_path(h, d, path, sizeof(path)));
	CL_GUARD(fw_key_generate(&key));
	cl_err err = fw_key_save_private(key, path); /* atomic, 0600, via a secure-heap buffer */
	if (err == CL_OK)
		err = set_public(d, key);
	fw_key_free(key); /* EVP_PKEY_free clears the private scalar */
	return err;
}

/* fwg_devkey_ensure with the key holder: its public point, or a new key
 * for a device made without one. A devkey file still in the model means
 * the move into the key holder did not happen: refuse rather than make a
 * second key for the device. */
static cl_err held_ensure(fwg_host *h, fwg_dev *d, const char *legacy)
{
	const fwg_keys *k = h->opts.keys;
	uint8_t pt[FW_POINT_LEN];
	struct stat st;
	CL_ENSURE(lstat(legacy, &st) != 0 && errno == ENOENT, CL_EPROTO,
		  "device %s: its key is still in the device model (%s), not in the key holder", d->addr, legacy);
	cl_err err = k->get_public(k->ctx, d->addr, pt);
	if (err == CL_OK)
		return set_public_point(d, pt);
	if (err != CL_ENOTFOUND)
		return cl_errorf(err, "device %s: the key holder cannot give its key: %s", d->addr, cl_err_name(err));
	CL_GUARD(held_create(h, d));
	fwg_event e = {.op = FWG_OP_MANUFACTURE, .src = FWG_SRC_HOST, .result = FWG_RES_EVENT, .addr = d->addr,
		       .detail = "device key generated (device made without one)"};
	return fwg_audit(h, &e, NULL);
}

cl_err fwg_devkey_ensure(fwg_host *h, fwg_dev *d)
{
	char path[PATH_MAX];
	struct stat st;
	void *key = NULL;
	CL_GUARD(devkey_path(h, d, path, sizeof(path)));
	if (h->opts.keys)
		return held_ensure(h, d, path);
	if (stat(path, &st) != 0) {
		CL_ENSURE(errno == ENOENT, CL_EIO, "device %s: cannot stat its key: %s", d->addr, strerror(errno));
		/* Manufactured by a build without device keys: fuse one now. */
		CL_GUARD(fwg_devkey_create(h, d));
		fwg_event e = {.op = FWG_OP_MANUFACTURE, .src = FWG_SRC_HOST, .result = FWG_RES_EVENT,
			       .addr = d->addr, .detail = "device key generated (device made without one)"};
		return fwg_audit(h, &e, NULL);
	}
	CL_ENSURE(S_ISREG(st.st_mode) && (st.st_mode & 077) == 0, CL_EPROTO,
		  "device %s: its key file must be a regular file, mode 0600", d->addr);
	cl_err err = fw_key_load_private(path, &key);
	if (err != CL_OK)
		return cl_errorf(CL_EPROTO, "device %s: unreadable device key", d->addr);
	err = set_public(d, key);
	fw_key_free(key);
	return err;
}

cl_err fwg_devkey_ops(fwg_host *h, const fwg_dev *d, fw_ops *ops, void **key)
{
	char path[PATH_MAX];
	uint8_t pt[FW_POINT_LEN];
	*key = NULL;
	fw_openssl_ops(ops, NULL);
	CL_ENSURE(d->has_devkey, CL_ENOTFOUND, "device %s has no key", d->addr);
	CL_GUARD(devkey_path(h, d, path, sizeof(path)));
	if (fw_key_load_private(path, key) != CL_OK)
		return cl_errorf(CL_EPROTO, "device %s: unreadable device key", d->addr);
	/* The file must still hold the key whose public half was published. */
	if (fw_key_point(*key, pt) != CL_OK || memcmp(pt, d->devkey_pt, FW_POINT_LEN) != 0) {
		fw_key_free(*key);
		*key = NULL;
		return cl_errorf(CL_EPROTO, "device %s: device key changed", d->addr);
	}
	fw_openssl_ops(ops, *key);
	return CL_OK;
}

typedef struct held_ctx {
	const fwg_keys *keys;
	const char *addr;
} held_ctx;

/* fw_ops.image_key through the key holder. */
static int held_image_key(void *ctx, const uint8_t *enc_point, uint8_t *key)
{
	const held_ctx *c = ctx;
	return c->keys->image_key(c->keys->ctx, c->addr, enc_point, key) == CL_OK;
}

fw_status fwg_verify_with_devkey(fwg_host *h, const fwg_dev *d, const fw_device *dev, const uint8_t *bundle,
				 size_t len, uint8_t *dest, size_t dest_len, fw_result *res)
{
	fw_ops ops;
	void *key = NULL;
	held_ctx hc = {.keys = h->opts.keys, .addr = d->addr};
	/* Without a usable key the device still verifies plain bundles; an
	 * encrypted one is then refused no_device_key. */
	if (h->opts.keys && d->has_devkey)
		fw_openssl_ops_image_key(&ops, held_image_key, &hc);
	else if (h->opts.keys || fwg_devkey_ops(h, d, &ops, &key) != CL_OK)
		fw_openssl_ops(&ops, NULL);
	fw_status s = fw_verify_bundle(&d->trust, dev, &ops, bundle, len, dest, dest_len, res);
	fw_key_free(key);
	explicit_bzero(&ops, sizeof(ops));
	return s;
}
