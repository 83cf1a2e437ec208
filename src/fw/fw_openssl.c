/* fw_openssl.c — the host's fw_ops, on OpenSSL 3. SHA-384 runs on the
 * low-level SHA512_CTX kept inside the caller's fw_hash_ctx (no allocation,
 * nothing to release); ECDSA and ECDH go through EVP. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <string.h>

#include "fw/fw_tools.h"

_Static_assert(sizeof(SHA512_CTX) <= sizeof(((fw_hash_ctx *)0)->opaque), "fw_hash_ctx too small");

static int sha384_init(void *ctx, fw_hash_ctx *h)
{
	return SHA384_Init((SHA512_CTX *)h->opaque);
}

static int sha384_update(void *ctx, fw_hash_ctx *h, const uint8_t *p, size_t n)
{
	return SHA384_Update((SHA512_CTX *)h->opaque, p, n);
}

static int sha384_final(void *ctx, fw_hash_ctx *h, uint8_t out[FW_DIGEST_LEN])
{
	return SHA384_Final(out, (SHA512_CTX *)h->opaque);
}

static int sha256_once(void *ctx, const uint8_t *p, size_t n, uint8_t out[FW_KID_LEN])
{
	unsigned int len = 0;
	return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == FW_KID_LEN;
}

/* An EVP_PKEY for a P-384 public point (caller frees). */
static EVP_PKEY *point_key(const uint8_t pub[FW_POINT_LEN])
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"secp384r1", 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, FW_POINT_LEN),
		OSSL_PARAM_construct_end(),
	};
	if (!pc || EVP_PKEY_fromdata_init(pc) != 1 || EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(pc);
	return pk;
}

static int ecdsa_verify(void *ctx, const uint8_t pub[FW_POINT_LEN], const uint8_t hash[FW_DIGEST_LEN],
			const uint8_t sig[FW_SIG_LEN])
{
	int ok = 0, derlen;
	unsigned char *der = NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 48, NULL), *s = BN_bin2bn(sig + 48, 48, NULL);
	EVP_PKEY *pk = point_key(pub);
	EVP_PKEY_CTX *vc = NULL;
	if (!es || !r || !s || !pk || ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by es */
	derlen = i2d_ECDSA_SIG(es, &der);
	if (derlen <= 0)
		goto out;
	vc = EVP_PKEY_CTX_new(pk, NULL);
	/* EVP_PKEY_fromdata already refused a point off the curve; P-384 has
	 * cofactor 1, so that is the whole public-key check. */
	if (!vc || EVP_PKEY_verify_init(vc) != 1)
		goto out;
	ok = EVP_PKEY_verify(vc, der, (size_t)derlen, hash, FW_DIGEST_LEN) == 1;
out:
	EVP_PKEY_CTX_free(vc);
	EVP_PKEY_free(pk);
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ok;
}

static int ecdh(void *ctx, const uint8_t peer[FW_POINT_LEN], uint8_t z[48])
{
	EVP_PKEY *dk = ctx, *pk = NULL;
	EVP_PKEY_CTX *dc = NULL;
	size_t zlen = 48;
	int ok = 0;
	if (!dk || !(pk = point_key(peer)))
		goto out;
	dc = EVP_PKEY_CTX_new(dk, NULL);
	if (!dc || EVP_PKEY_derive_init(dc) != 1 || EVP_PKEY_derive_set_peer_ex(dc, pk, 1) != 1)
		goto out;
	ok = EVP_PKEY_derive(dc, z, &zlen) == 1 && zlen == 48;
out:
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_free(pk);
	return ok;
}

static EVP_CIPHER_CTX **gcm_slot(fw_aead_ctx *a)
{
	return (EVP_CIPHER_CTX **)(void *)a->opaque;
}

static int gcm_init(void *ctx, fw_aead_ctx *a, const uint8_t key[32], const uint8_t iv[12])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	*gcm_slot(a) = c;
	if (!c || EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) != 1) {
		EVP_CIPHER_CTX_free(c);
		*gcm_slot(a) = NULL;
		return 0;
	}
	return 1;
}

static int gcm_update(void *ctx, fw_aead_ctx *a, const uint8_t *in, uint8_t *out, size_t n)
{
	int outl = 0;
	if (n > (size_t)INT32_MAX)
		return 0;
	return EVP_DecryptUpdate(*gcm_slot(a), out, &outl, in, (int)n) == 1 && (size_t)outl == n;
}

static void gcm_abort(void *ctx, fw_aead_ctx *a)
{
	EVP_CIPHER_CTX_free(*gcm_slot(a));
	*gcm_slot(a) = NULL;
}

static int gcm_final(void *ctx, fw_aead_ctx *a, const uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = *gcm_slot(a);
	uint8_t t[16], last[16];
	int outl = 0, ok;
	memcpy(t, tag, 16);
	ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, t) == 1 && EVP_DecryptFinal_ex(c, last, &outl) == 1 &&
	     outl == 0;
	gcm_abort(ctx, a);
	return ok;
}

void fw_openssl_ops(fw_ops *ops, void *device_key)
{
	memset(ops, 0, sizeof(*ops));
	ops->ctx = device_key;
	ops->sha384_init = sha384_init;
	ops->sha384_update = sha384_update;
	ops->sha384_final = sha384_final;
	ops->sha256 = sha256_once;
	ops->ecdsa_p384_verify = ecdsa_verify;
	if (device_key) {
		ops->ecdh_p384 = ecdh;
		ops->aes256gcm_init = gcm_init;
		ops->aes256gcm_update = gcm_update;
		ops->aes256gcm_final = gcm_final;
		ops->aes256gcm_abort = gcm_abort;
	}
}

void fw_openssl_ops_image_key(fw_ops *ops, int (*image_key)(void *, const uint8_t *, uint8_t *), void *ctx)
{
	fw_openssl_ops(ops, NULL);
	ops->ctx = ctx;
	ops->image_key = image_key;
	ops->aes256gcm_init = gcm_init;
	ops->aes256gcm_update = gcm_update;
	ops->aes256gcm_final = gcm_final;
	ops->aes256gcm_abort = gcm_abort;
}
