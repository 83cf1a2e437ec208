/* wrap.c — ECDH P-384 + HKDF-SHA384 + AES-256-GCM wrapping (wrap.h). */
#include "common/wrap.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>
#include <string.h>

#include "common/util.h"

/* An EVP_PKEY for an uncompressed P-384 point (validated on import). */
static EVP_PKEY *point_key(const uint8_t point[CL_WRAP_POINT_LEN])
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"secp384r1", 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, CL_WRAP_POINT_LEN),
		OSSL_PARAM_construct_end(),
	};
	if (!c || EVP_PKEY_fromdata_init(c) != 1 || EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, p) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(c);
	if (k) { /* fromdata does not always check the point is on the curve */
		EVP_PKEY_CTX *v = EVP_PKEY_CTX_new(k, NULL);
		if (!v || EVP_PKEY_public_check(v) != 1) {
			EVP_PKEY_free(k);
			k = NULL;
		}
		EVP_PKEY_CTX_free(v);
	}
	return k;
}

/* The uncompressed point of a P-384 key into point. */
static cl_err key_point(EVP_PKEY *k, uint8_t point[CL_WRAP_POINT_LEN])
{
	char group[32] = "";
	size_t glen = 0, n = 0;
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1 ||
	    strcmp(group, "secp384r1") != 0)
		return cl_errorf(CL_ECRYPTO, "the key is not a P-384 (secp384r1) EC key");
	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, CL_WRAP_POINT_LEN, &n) != 1 ||
	    n != CL_WRAP_POINT_LEN || point[0] != 0x04)
		return cl_errorf(CL_ECRYPTO, "cannot get the uncompressed P-384 point of the key");
	return CL_OK;
}

cl_err cl_wrap_point(const uint8_t *pub, size_t n, uint8_t point[CL_WRAP_POINT_LEN])
{
	EVP_PKEY *k = NULL;
	cl_err err = CL_OK;
	if (n == CL_WRAP_POINT_LEN && pub[0] == 0x04) {
		memcpy(point, pub, CL_WRAP_POINT_LEN);
		k = point_key(point);
		err = k ? CL_OK : cl_errorf(CL_ECRYPTO, "public_key is not a point on P-384");
	} else {
		const unsigned char *p = pub;
		k = n > 0 && n < 4096 ? d2i_PUBKEY(NULL, &p, (long)n) : NULL;
		if (!k || p != pub + n)
			err = cl_errorf(CL_ECRYPTO, "public_key is neither an uncompressed P-384 point (97 bytes) nor a "
						    "DER SubjectPublicKeyInfo");
		else if ((err = key_point(k, point)) == CL_OK) {
			EVP_PKEY_free(k);
			k = point_key(point);
			err = k ? CL_OK : cl_errorf(CL_ECRYPTO, "public_key is not a point on P-384");
		}
	}
	EVP_PKEY_free(k);
	ERR_clear_error();
	return err;
}

/* Z = ECDH(mine, peer), then the AES key from HKDF-SHA384 with info
 * label || E || Q (label checked by the caller: 1..CL_WRAP_LABEL_MAX). */
static cl_err derive(const char *label, EVP_PKEY *mine, EVP_PKEY *peer, const uint8_t e[CL_WRAP_POINT_LEN],
		     const uint8_t q[CL_WRAP_POINT_LEN], uint8_t key[32])
{
	uint8_t z[48], info[CL_WRAP_LABEL_MAX + 2 * CL_WRAP_POINT_LEN];
	size_t zlen = sizeof(z), keylen = 32, ll = strlen(label);
	cl_err err = CL_OK;
	EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new(mine, NULL), *kc = NULL;
	if (!dc || EVP_PKEY_derive_init(dc) != 1 || EVP_PKEY_derive_set_peer_ex(dc, peer, 1) != 1 ||
	    EVP_PKEY_derive(dc, z, &zlen) != 1 || zlen != sizeof(z)) {
		err = cl_errorf(CL_ECRYPTO, "ECDH P-384 failed");
		goto out;
	}
	memcpy(info, label, ll);
	memcpy(info + ll, e, CL_WRAP_POINT_LEN);
	memcpy(info + ll + CL_WRAP_POINT_LEN, q, CL_WRAP_POINT_LEN);
	kc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	if (!kc || EVP_PKEY_derive_init(kc) != 1 || EVP_PKEY_CTX_set_hkdf_md(kc, EVP_sha384()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_key(kc, z, sizeof(z)) != 1 ||
	    EVP_PKEY_CTX_add1_hkdf_info(kc, info, (int)(ll + 2 * CL_WRAP_POINT_LEN)) != 1 || EVP_PKEY_derive(kc, key, &keylen) != 1 ||
	    keylen != 32)
		err = cl_errorf(CL_EINTERNAL, "HKDF-SHA384 failed");
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(kc);
	EVP_PKEY_CTX_free(dc);
	return err;
}

static int label_ok(const char *label)
{
	size_t n = label ? strnlen(label, CL_WRAP_LABEL_MAX + 1) : 0;
	return n >= 1 && n <= CL_WRAP_LABEL_MAX;
}

static cl_err seal(const char *label, size_t max, const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *msg,
		   size_t n, cl_buf *out);
static cl_err open_with(const char *label, size_t max, EVP_PKEY *priv, const uint8_t *in, size_t n, cl_buf *out);

cl_err cl_wrap_seal(const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *msg, size_t n, cl_buf *out)
{
	return seal(CL_WRAP_INFO, CL_WRAP_MSG_MAX, point, msg, n, out);
}

cl_err cl_wrap_open(EVP_PKEY *priv, const uint8_t *in, size_t n, cl_buf *out)
{
	return open_with(CL_WRAP_INFO, CL_WRAP_MSG_MAX, priv, in, n, out);
}

cl_err cl_wrap_seal_label(const char *label, const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *msg, size_t n,
			  cl_buf *out)
{
	return seal(label, CL_WRAP_MSG_MAX, point, msg, n, out);
}

cl_err cl_wrap_open_label(const char *label, EVP_PKEY *priv, const uint8_t *in, size_t n, cl_buf *out)
{
	return open_with(label, CL_WRAP_MSG_MAX, priv, in, n, out);
}

cl_err cl_wrap_seal_bundle(const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *tar, size_t n, cl_buf *out)
{
	return seal(CL_WRAP_BUNDLE_INFO, CL_WRAP_BUNDLE_MAX, point, tar, n, out);
}

cl_err cl_wrap_open_bundle(EVP_PKEY *priv, const uint8_t *in, size_t n, cl_buf *out)
{
	return open_with(CL_WRAP_BUNDLE_INFO, CL_WRAP_BUNDLE_MAX, priv, in, n, out);
}

static cl_err seal(const char *label, size_t max, const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *msg,
		   size_t n, cl_buf *out)
{
	EVP_PKEY *peer = NULL, *eph = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	uint8_t e[CL_WRAP_POINT_LEN], key[32], iv[CL_WRAP_IV_LEN], tag[CL_WRAP_TAG_LEN];
	uint8_t *ct = NULL;
	int outl = 0;
	cl_err err = CL_OK;
	cl_buf_reset(out);
	CL_ENSURE(label_ok(label), CL_EINVAL, "the wrap label must be 1..%d bytes", CL_WRAP_LABEL_MAX);
	CL_ENSURE(n <= max, CL_ETOOBIG, "at most %zu bytes can be wrapped", max);
	if (!(peer = point_key(point))) {
		err = cl_errorf(CL_ECRYPTO, "public_key is not a point on P-384");
		goto out;
	}
	if (!(eph = EVP_EC_gen("secp384r1"))) {
		err = cl_errorf(CL_EINTERNAL, "P-384 key generation failed");
		goto out;
	}
	CL_GUARD_OUT(err, key_point(eph, e));
	CL_GUARD_OUT(err, derive(label, eph, peer, e, point, key));
	CL_GUARD_OUT(err, cl_random(iv, sizeof(iv)));
	CL_GUARD_OUT(err, cl_buf_put(out, e, sizeof(e)));
	CL_GUARD_OUT(err, cl_buf_put(out, iv, sizeof(iv)));
	/* sizes out with zeros and encrypts msg into it: the plaintext is never
	 * copied (the caller may keep it in locked memory, as the SDK does) */
	for (size_t left = n, c; left; left -= c) {
		static const uint8_t zeros[256];
		c = left < sizeof(zeros) ? left : sizeof(zeros);
		CL_GUARD_OUT(err, cl_buf_put(out, zeros, c));
	}
	ct = out->data + CL_WRAP_POINT_LEN + CL_WRAP_IV_LEN;
	cc = EVP_CIPHER_CTX_new();
	if (!cc || EVP_EncryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, iv) != 1 ||
	    (n && EVP_EncryptUpdate(cc, ct, &outl, msg, (int)n) != 1) || EVP_EncryptFinal_ex(cc, ct + n, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, CL_WRAP_TAG_LEN, tag) != 1) {
		err = cl_errorf(CL_EINTERNAL, "AES-256-GCM encryption failed");
		goto out;
	}
	CL_GUARD_OUT(err, cl_buf_put(out, tag, sizeof(tag)));
out:
	if (err != CL_OK && out->data) {
		OPENSSL_cleanse(out->data, out->len);
		cl_buf_reset(out);
	}
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(cc);
	EVP_PKEY_free(eph);
	EVP_PKEY_free(peer);
	ERR_clear_error();
	return err;
}

static cl_err open_with(const char *label, size_t max, EVP_PKEY *priv, const uint8_t *in, size_t n, cl_buf *out)
{
	EVP_PKEY *eph = NULL;
	EVP_CIPHER_CTX *cc = NULL;
	uint8_t q[CL_WRAP_POINT_LEN], key[32];
	int outl = 0;
	cl_err err = CL_OK;
	cl_buf_reset(out);
	CL_ENSURE(label_ok(label), CL_EINVAL, "the wrap label must be 1..%d bytes", CL_WRAP_LABEL_MAX);
	CL_ENSURE(n >= CL_WRAP_OVERHEAD && n - CL_WRAP_OVERHEAD <= max, CL_ECRYPTO,
		  "the wrapped secret is %zu bytes: not %d + ciphertext", n, CL_WRAP_OVERHEAD);
	size_t mlen = n - CL_WRAP_OVERHEAD;
	const uint8_t *iv = in + CL_WRAP_POINT_LEN, *ct = iv + CL_WRAP_IV_LEN, *tag = ct + mlen;
	CL_GUARD(key_point(priv, q));
	if (in[0] != 0x04 || !(eph = point_key(in))) {
		err = cl_errorf(CL_ECRYPTO, "the wrapped secret's ephemeral key is not a point on P-384");
		goto out;
	}
	CL_GUARD_OUT(err, derive(label, priv, eph, in, q, key));
	CL_GUARD_OUT(err, cl_buf_put(out, ct, mlen));
	cc = EVP_CIPHER_CTX_new();
	if (!cc || EVP_DecryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, iv) != 1 ||
	    (mlen && EVP_DecryptUpdate(cc, out->data, &outl, out->data, (int)mlen) != 1) ||
	    EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, CL_WRAP_TAG_LEN, (void *)tag) != 1 ||
	    EVP_DecryptFinal_ex(cc, out->data + mlen, &outl) != 1)
		err = cl_errorf(CL_ECRYPTO, "the wrapped secret does not open with this key (wrapped to another key, or "
					    "changed)");
out:
	if (err != CL_OK && out->data) {
		OPENSSL_cleanse(out->data, out->len);
		cl_buf_reset(out);
	}
	OPENSSL_cleanse(key, sizeof(key));
	EVP_CIPHER_CTX_free(cc);
	EVP_PKEY_free(eph);
	ERR_clear_error();
	return err;
}
