/* sdk_keys.c — libcloister-enclave's keys: the ephemeral P-384 key pair
 * (private half in OpenSSL's secure heap), the broker's unwrap (the same
 * common/wrap.c the broker wraps with, linked in), sealing under a key from
 * the secure module, random bytes, signing with a key pair and wrapping its
 * private half to another key. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/wrap.h"
#include "sdk/sdk_internal.h"

#define SECURE_HEAP (64u * 1024) /* a few P-384 scalars and their temporaries */
#define SEAL_MAGIC "CLS1"
#define IV_LEN 12
#define TAG_LEN 16

struct cle_keypair {
	EVP_PKEY *pkey;
};

static pthread_once_t heap_once = PTHREAD_ONCE_INIT;
static int heap_rc;

static void heap_init(void)
{
	/* 1: mapped, locked and excluded from dumps; 2 would be "not locked" */
	heap_rc = CRYPTO_secure_malloc_initialized() ? 1 : CRYPTO_secure_malloc_init(SECURE_HEAP, 32);
}

cle_err cle_random(void *p, size_t n)
{
	uint8_t *q = p;
	if (!p && n)
		return cle_fail(CLE_EINVAL, "cle_random: no buffer");
	while (n) {
		ssize_t r = getrandom(q, n, 0);
		if (r < 0)
			return cle_fail(CLE_EIO, "getrandom failed");
		q += r;
		n -= (size_t)r;
	}
	return cle_ok();
}

cle_err cle_keypair_new(cle_keypair **out)
{
	if (!out)
		return cle_fail(CLE_EINVAL, "cle_keypair_new: no output");
	*out = NULL;
	pthread_once(&heap_once, heap_init);
	if (heap_rc != 1)
		return cle_fail(CLE_ENOMEM, "no locked memory for the private key (mlock refused?)");
	cle_keypair *kp = calloc(1, sizeof(*kp));
	if (!kp)
		return cle_fail(CLE_ENOMEM, "out of memory");
	/* OpenSSL keeps an EC private scalar in a secure BIGNUM once the secure heap exists. */
	kp->pkey = EVP_EC_gen("P-384");
	if (!kp->pkey) {
		free(kp);
		ERR_clear_error();
		return cle_fail(CLE_ENOMEM, "cannot make a P-384 key");
	}
	*out = kp;
	return cle_ok();
}

cle_err cle_keypair_public(const cle_keypair *kp, uint8_t *out, size_t *len)
{
	unsigned char *der = NULL;
	if (!kp || !out || !len)
		return cle_fail(CLE_EINVAL, "cle_keypair_public: bad arguments");
	int n = i2d_PUBKEY(kp->pkey, &der);
	if (n <= 0) {
		ERR_clear_error();
		return cle_fail(CLE_ENOMEM, "cannot encode the public key");
	}
	cle_err e = CLE_OK;
	if ((size_t)n > *len) {
		e = cle_fail(CLE_ETOOBIG, "the public key needs %d bytes", n);
	} else {
		memcpy(out, der, (size_t)n);
		*len = (size_t)n;
		e = cle_ok();
	}
	OPENSSL_free(der);
	return e;
}

void cle_keypair_free(cle_keypair *kp)
{
	if (!kp)
		return;
	EVP_PKEY_free(kp->pkey); /* clears the secure scalar */
	free(kp);
}

cle_err cle_unwrap(const cle_keypair *kp, const uint8_t *wrapped, size_t n, uint8_t *out, size_t *len)
{
	cl_buf plain;
	if (!kp || !wrapped || !out || !len)
		return cle_fail(CLE_EINVAL, "cle_unwrap: bad arguments");
	if (n < CL_WRAP_OVERHEAD || n - CL_WRAP_OVERHEAD > CL_WRAP_MSG_MAX)
		return cle_fail(CLE_ECRYPTO, "not a wrapped secret (%zu bytes)", n);
	cl_buf_init(&plain, n);
	cle_err e;
	if (cl_wrap_open(kp->pkey, wrapped, n, &plain) != CL_OK)
		e = cle_fail(CLE_ECRYPTO, "the wrapped secret does not open with this key (changed, or for another key)");
	else if (plain.len > *len)
		e = cle_fail(CLE_ETOOBIG, "the secret needs %zu bytes", plain.len);
	else {
		if (plain.len)
			memcpy(out, plain.data, plain.len);
		*len = plain.len;
		e = cle_ok();
	}
	cl_buf_free(&plain); /* wipes */
	ERR_clear_error();
	return e;
}

/* AES-256-GCM under key; enc 1 seals, 0 opens. aad = "CLS1" || label. */
static int gcm(int enc, const uint8_t key[32], const uint8_t iv[IV_LEN], const char *label, const uint8_t *in,
	       size_t n, uint8_t *out, uint8_t tag[TAG_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0, ok = c && n <= 0x7fffffff && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc) == 1 &&
			EVP_CipherUpdate(c, NULL, &l, (const uint8_t *)SEAL_MAGIC, 4) == 1 &&
			EVP_CipherUpdate(c, NULL, &l, (const uint8_t *)label, (int)strlen(label)) == 1 &&
			(n == 0 || EVP_CipherUpdate(c, out, &l, in, (int)n) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
	ok = ok && EVP_CipherFinal_ex(c, out + (n ? (size_t)l : 0), &l) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	ERR_clear_error();
	return ok;
}

cle_err cle_seal(const char *label, const uint8_t *plain, size_t n, uint8_t *out, size_t *len)
{
	uint8_t key[CLE_SEAL_KEY_LEN];
	if ((!plain && n) || !out || !len)
		return cle_fail(CLE_EINVAL, "cle_seal: bad arguments");
	if (n > ((size_t)1 << 30))
		return cle_fail(CLE_EINVAL, "cle_seal: at most 1 GiB");
	if (*len < n + CLE_SEAL_OVERHEAD)
		return cle_fail(CLE_ETOOBIG, "cle_seal: the output needs %zu bytes", n + CLE_SEAL_OVERHEAD);
	cle_err e = cle_seal_key(label, key);
	if (e != CLE_OK)
		return e;
	memcpy(out, SEAL_MAGIC, 4);
	if ((e = cle_random(out + 4, IV_LEN)) == CLE_OK) {
		if (gcm(1, key, out + 4, label, plain, n, out + 4 + IV_LEN, out + 4 + IV_LEN + n)) {
			*len = n + CLE_SEAL_OVERHEAD;
			e = cle_ok();
		} else {
			e = cle_fail(CLE_ENOMEM, "AES-256-GCM failed");
		}
	}
	explicit_bzero(key, sizeof(key));
	return e;
}

cle_err cle_unseal(const char *label, const uint8_t *sealed, size_t n, uint8_t *out, size_t *len)
{
	uint8_t key[CLE_SEAL_KEY_LEN], tag[TAG_LEN];
	if (!sealed || !out || !len)
		return cle_fail(CLE_EINVAL, "cle_unseal: bad arguments");
	if (n < CLE_SEAL_OVERHEAD || memcmp(sealed, SEAL_MAGIC, 4) != 0)
		return cle_fail(CLE_ECRYPTO, "not a sealed blob");
	size_t m = n - CLE_SEAL_OVERHEAD;
	if (*len < m)
		return cle_fail(CLE_ETOOBIG, "cle_unseal: the output needs %zu bytes", m);
	cle_err e = cle_seal_key(label, key);
	if (e != CLE_OK)
		return e;
	memcpy(tag, sealed + n - TAG_LEN, TAG_LEN);
	if (gcm(0, key, sealed + 4, label, sealed + 4 + IV_LEN, m, out, tag)) {
		*len = m;
		e = cle_ok();
	} else {
		explicit_bzero(out, m);
		e = cle_fail(CLE_ECRYPTO, "the sealed blob does not open (another label, image, tenant or host, or changed)");
	}
	explicit_bzero(key, sizeof(key));
	return e;
}

cle_err cle_keypair_sign(const cle_keypair *kp, const uint8_t *msg, size_t n, uint8_t *sig, size_t *len)
{
	uint8_t der[CLE_SIG_MAX + 32];
	size_t dlen = sizeof(der);
	if (!kp || (!msg && n) || !sig || !len)
		return cle_fail(CLE_EINVAL, "cle_keypair_sign: bad arguments");
	if (n > CL_WRAP_MSG_MAX)
		return cle_fail(CLE_EINVAL, "cle_keypair_sign: at most %u bytes", CL_WRAP_MSG_MAX);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, kp->pkey) == 1 &&
		 EVP_DigestSign(md, der, &dlen, n ? msg : (const uint8_t *)"", n) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!ok)
		return cle_fail(CLE_ENOMEM, "ECDSA-SHA384 failed");
	if (dlen > *len)
		return cle_fail(CLE_ETOOBIG, "the signature needs %zu bytes", dlen);
	memcpy(sig, der, dlen);
	*len = dlen;
	return cle_ok();
}

/* kp's private scalar, big-endian, into d (locked memory): the provider
 * writes it in native order straight into d, never through a BIGNUM or a
 * buffer of ours outside the secure heap. */
static int private_scalar(const cle_keypair *kp, uint8_t d[48])
{
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, d, 48),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_PKEY_get_params(kp->pkey, p) != 1 || !OSSL_PARAM_modified(p) || p[0].return_size > 48)
		return 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (size_t i = 0; i < 24; i++) {
		uint8_t t = d[i];
		d[i] = d[47 - i];
		d[47 - i] = t;
	}
#endif
	return 1;
}

cle_err cle_keypair_wrap_private(const cle_keypair *kp, const char *label, const uint8_t *recipient, size_t rn,
				 uint8_t *out, size_t *len)
{
	uint8_t point[CL_WRAP_POINT_LEN];
	uint8_t *d = NULL;
	cl_buf w;
	cle_err e;
	size_t ll = label ? strnlen(label, CLE_WRAP_LABEL_MAX + 1) : 0;
	if (!kp || !recipient || !out || !len)
		return cle_fail(CLE_EINVAL, "cle_keypair_wrap_private: bad arguments");
	if (ll < 1 || ll > CLE_WRAP_LABEL_MAX)
		return cle_fail(CLE_EINVAL, "the wrap label must be 1..%d bytes", CLE_WRAP_LABEL_MAX);
	if (*len < CLE_WRAPPED_KEY_LEN)
		return cle_fail(CLE_ETOOBIG, "the wrapped key needs %d bytes", CLE_WRAPPED_KEY_LEN);
	if (cl_wrap_point(recipient, rn, point) != CL_OK) {
		ERR_clear_error();
		return cle_fail(CLE_ECRYPTO, "the recipient is not a P-384 public key (DER SubjectPublicKeyInfo or point)");
	}
	cl_buf_init(&w, CLE_WRAPPED_KEY_LEN);
	if (!(d = OPENSSL_secure_zalloc(48))) {
		e = cle_fail(CLE_ENOMEM, "no locked memory for the private key");
		goto out;
	}
	if (!private_scalar(kp, d)) {
		e = cle_fail(CLE_ENOMEM, "cannot read the private key");
		goto out;
	}
	if (cl_wrap_seal_label(label, point, d, 48, &w) != CL_OK || w.len != CLE_WRAPPED_KEY_LEN) {
		e = cle_fail(CLE_ENOMEM, "wrapping failed");
		goto out;
	}
	memcpy(out, w.data, w.len);
	*len = w.len;
	e = cle_ok();
out:
	if (d)
		OPENSSL_secure_clear_free(d, 48);
	cl_buf_free(&w);
	ERR_clear_error();
	return e;
}
