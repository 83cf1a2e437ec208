/* fw_sign.c — building bundles and trust-root documents: the signing side of
 * the tools. Host side (OpenSSL). Outputs are complete files the caller
 * writes atomically. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/util.h"
#include "fw/fw_internal.h"

/* Largest bundle the tools write: what a device accepts. */
#define BUNDLE_MAX ((size_t)FW_MAX_BUNDLE)

cl_err fw_uuid_parse(const char *s, uint8_t out[FW_UUID_LEN])
{
	char hex[33];
	size_t n = 0;
	for (const char *p = s; *p; p++) {
		if (*p == '-')
			continue;
		if (n == 32)
			return cl_errorf(CL_EINVAL, "bad UUID '%.40s': want 32 hex digits", s);
		hex[n++] = *p;
	}
	hex[n] = '\0';
	if (n != 32 || cl_hex_decode(hex, out, FW_UUID_LEN) != CL_OK)
		return cl_errorf(CL_EINVAL, "bad UUID '%.40s': want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s);
	return CL_OK;
}

void fw_uuid_format(const uint8_t u[FW_UUID_LEN], char *out)
{
	static const char *const x = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < FW_UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = x[u[i] >> 4];
		out[o++] = x[u[i] & 15];
	}
	out[o] = '\0';
}

/* ECDH to the device key, HKDF-SHA384 (OpenSSL's, independent of the
 * verifier's own), AES-256-GCM. Fills the manifest's encryption fields. */
static cl_err encrypt_image(const void *device_pub, const uint8_t *image, size_t n, fw_manifest *m, cl_buf *ct)
{
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *dc = NULL, *kc = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	uint8_t z[48], key[32], salt[FW_DIGEST_LEN] = {0};
	uint8_t info[sizeof(FW_HKDF_INFO) - 1 + FW_POINT_LEN];
	size_t zlen = sizeof(z), keylen = sizeof(key);
	int outl = 0;
	cl_err err = CL_OK;
	CL_GUARD(fw_key_generate((void **)&eph));
	CL_GUARD_OUT(err, fw_key_point(eph, m->enc_point));
	CL_GUARD_OUT(err, cl_random(m->enc_iv, sizeof(m->enc_iv)));
	dc = EVP_PKEY_CTX_new(eph, NULL);
	if (!dc || EVP_PKEY_derive_init(dc) != 1 || EVP_PKEY_derive_set_peer_ex(dc, (EVP_PKEY *)device_pub, 1) != 1 ||
	    EVP_PKEY_derive(dc, z, &zlen) != 1 || zlen != sizeof(z)) {
		err = cl_errorf(CL_ECRYPTO, "ECDH with the device key failed");
		goto out;
	}
	memcpy(info, FW_HKDF_INFO, sizeof(FW_HKDF_INFO) - 1);
	memcpy(info + sizeof(FW_HKDF_INFO) - 1, m->enc_point, FW_POINT_LEN);
	kc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	if (!kc || EVP_PKEY_derive_init(kc) != 1 || EVP_PKEY_CTX_set_hkdf_md(kc, EVP_sha384()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_salt(kc, salt, sizeof(salt)) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_key(kc, z, sizeof(z)) != 1 ||
	    EVP_PKEY_CTX_add1_hkdf_info(kc, info, sizeof(info)) != 1 || EVP_PKEY_derive(kc, key, &keylen) != 1 ||
	    keylen != sizeof(key)) {
		err = cl_errorf(CL_ECRYPTO, "HKDF failed");
		goto out;
	}
	cl_buf_reset(ct);
	CL_GUARD_OUT(err, cl_buf_put(ct, image, n)); /* sizes ct; encrypted in place below */
	cc = EVP_CIPHER_CTX_new();
	if (!cc || n > (size_t)INT32_MAX || EVP_EncryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, m->enc_iv) != 1 ||
	    (n && EVP_EncryptUpdate(cc, ct->data, &outl, ct->data, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(cc, ct->data + n, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, 16, m->enc_tag) != 1) {
		err = cl_errorf(CL_ECRYPTO, "AES-256-GCM encryption failed");
		goto out;
	}
	m->encrypted = true;
out:
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(cc);
	EVP_PKEY_CTX_free(kc);
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_free(eph);
	ERR_clear_error();
	return err;
}

cl_err fw_bundle_build(const fw_sign_params *p, const void *key, const uint8_t *image, size_t n, cl_buf *out)
{
	fw_manifest m;
	cl_buf man, ct;
	cl_err err = CL_OK;
	/* What every device refuses is refused here, before anything is signed
	 * (fw/fw_limits.h; docs/firmware-bundle.md "Numeric ranges"). */
	CL_ENSURE(n <= FW_MAX_IMAGE, CL_ETOOBIG, "image larger than %u bytes", FW_MAX_IMAGE);
	CL_ENSURE(n >= 1, CL_EINVAL, "the image is empty: a device refuses an empty image");
	CL_ENSURE(p->sequence >= FW_SEQ_MIN && p->sequence <= FW_SEQ_MAX, CL_EINVAL,
		  "sequence must be %u..%llu (a device refuses any other)", FW_SEQ_MIN, (unsigned long long)FW_SEQ_MAX);
	CL_ENSURE(!p->has_use_before || (p->use_before >= 1 && p->use_before <= FW_UINT_MAX), CL_EINVAL,
		  "use-before must be 1..%llu (unix seconds)", (unsigned long long)FW_UINT_MAX);
	CL_ENSURE(p->component && p->version && p->channel, CL_EINVAL, "component, version and channel are required");
	memset(&m, 0, sizeof(m));
	memcpy(m.vendor, p->vendor, FW_UUID_LEN);
	memcpy(m.class_id, p->class_id, FW_UUID_LEN);
	CL_ENSURE(strlen(p->component) <= FW_MAX_STR && strlen(p->version) <= FW_MAX_STR &&
			  strlen(p->channel) <= FW_MAX_STR,
		  CL_EINVAL, "component, version and channel are at most %d characters", FW_MAX_STR);
	snprintf(m.component, sizeof(m.component), "%s", p->component);
	snprintf(m.version, sizeof(m.version), "%s", p->version);
	snprintf(m.channel, sizeof(m.channel), "%s", p->channel);
	m.sequence = p->sequence;
	m.size = n;
	m.has_use_before = p->has_use_before;
	m.use_before = p->use_before;
	CL_GUARD(cl_sha384(image, n, m.digest)); /* over the plaintext: what the device writes */
	cl_buf_init(&man, FW_MAX_MANIFEST);
	cl_buf_init(&ct, (size_t)FW_MAX_IMAGE + 16);
	if (p->encrypt_to)
		CL_GUARD_OUT(err, encrypt_image(p->encrypt_to, image, n, &m, &ct));
	CL_GUARD_OUT(err, fw_enc_manifest(&m, &man));
	cl_buf_reset(out);
	out->max = BUNDLE_MAX;
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, 4));
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_UINT, 1));
	CL_GUARD_OUT(err, fw_enc_bytes(out, FW_CBOR_BSTR, man.data, man.len));
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, 1));
	CL_GUARD_OUT(err, fw_enc_sign1(key, FW_AAD_MANIFEST, man.data, man.len, out));
	CL_GUARD_OUT(err, fw_enc_bytes(out, FW_CBOR_BSTR, p->encrypt_to ? ct.data : image, n));
out:
	cl_buf_free(&man);
	cl_buf_free(&ct);
	return err;
}

cl_err fw_bundle_cosign(const uint8_t *in, size_t len, const void *key, cl_buf *out)
{
	fw_bundle_view *v = calloc(1, sizeof(*v)); /* host side: keep the big view off the stack */
	uint8_t kid[FW_KID_LEN];
	cl_err err = CL_OK;
	fw_status s;
	if (!v)
		return CL_ENOMEM;
	if ((s = fw_bundle_parse(in, len, v)) != FW_OK) {
		err = cl_errorf(CL_EINVAL, "not a valid bundle: %s", fw_status_name(s));
		goto out;
	}
	if (v->nsig >= FW_MAX_SIGNERS) {
		err = cl_errorf(CL_ETOOBIG, "bundle already has %d signatures", FW_MAX_SIGNERS);
		goto out;
	}
	CL_GUARD_OUT(err, fw_key_kid(key, kid));
	for (size_t i = 0; i < v->nsig; i++)
		if (memcmp(v->sig[i].kid, kid, FW_KID_LEN) == 0) {
			err = cl_errorf(CL_ECONFLICT, "this key already signed the bundle");
			goto out;
		}
	cl_buf_reset(out);
	out->max = BUNDLE_MAX;
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, 4));
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_UINT, 1));
	CL_GUARD_OUT(err, fw_enc_bytes(out, FW_CBOR_BSTR, v->manifest, v->manifest_len));
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, v->nsig + 1));
	for (size_t i = 0; i < v->nsig; i++)
		CL_GUARD_OUT(err, fw_enc_block_copy(&v->sig[i], out));
	CL_GUARD_OUT(err, fw_enc_sign1(key, FW_AAD_MANIFEST, v->manifest, v->manifest_len, out));
	CL_GUARD_OUT(err, fw_enc_bytes(out, FW_CBOR_BSTR, v->image, v->image_len));
out:
	free(v);
	return err;
}

cl_err fw_trust_build(uint64_t version, uint64_t threshold, const void *const *signers, size_t nsigners,
		      bool has_expires, uint64_t expires, const void *const *sign_keys, size_t nsign, cl_buf *out)
{
	cl_buf body;
	cl_err err = CL_OK;
	uint8_t pt[FW_POINT_LEN];
	CL_ENSURE(version >= 1 && version <= FW_UINT_MAX, CL_EINVAL, "trust-root version must be 1..%llu",
		  (unsigned long long)FW_UINT_MAX);
	CL_ENSURE(!has_expires || (expires >= 1 && expires <= FW_UINT_MAX), CL_EINVAL,
		  "trust-root expiry must be 1..%llu (unix seconds)", (unsigned long long)FW_UINT_MAX);
	CL_ENSURE(nsigners >= 1 && nsigners <= FW_MAX_SIGNERS, CL_EINVAL, "a trust root lists 1..%d signers",
		  FW_MAX_SIGNERS);
	CL_ENSURE(threshold >= 1 && threshold <= nsigners, CL_EINVAL, "threshold must be 1..%zu (k = 0 is refused)",
		  nsigners);
	CL_ENSURE(nsign >= 1 && nsign <= FW_MAX_SIGNERS, CL_EINVAL, "a trust root needs 1..%d signing keys",
		  FW_MAX_SIGNERS);
	cl_buf_init(&body, FW_MAX_TRUST_BODY);
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_MAP, has_expires ? 4 : 3));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, FW_T_VERSION));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, version));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, FW_T_THRESHOLD));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, threshold));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, FW_T_SIGNERS));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_ARRAY, nsigners));
	for (size_t i = 0; i < nsigners; i++) {
		CL_GUARD_OUT(err, fw_key_point(signers[i], pt));
		CL_GUARD_OUT(err, fw_enc_bytes(&body, FW_CBOR_BSTR, pt, FW_POINT_LEN));
	}
	if (has_expires) {
		CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, FW_T_EXPIRES));
		CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, expires));
	}
	cl_buf_reset(out);
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, 2));
	CL_GUARD_OUT(err, fw_enc_bytes(out, FW_CBOR_BSTR, body.data, body.len));
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, nsign));
	for (size_t i = 0; i < nsign; i++)
		CL_GUARD_OUT(err, fw_enc_sign1(sign_keys[i], FW_AAD_TRUST, body.data, body.len, out));
out:
	cl_buf_free(&body);
	return err;
}
