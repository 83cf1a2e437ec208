/* kh_crypto.c — P-384 and P-256 operations on raw scalars held in secret
 * memory (P-256 for the memory-only tls/ slots, P-384 for the others).
 *
 * A scalar becomes an EVP_PKEY only for the length of one operation. The
 * BIGNUMs and parameter blocks that carry it are allocated from OpenSSL's
 * secure heap (cl_kh_open initialises it: mlock + MADV_DONTDUMP) and are
 * cleared when freed. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyholder/kh_internal.h"

#define GROUP "secp384r1"

size_t kh_point_len(enum cl_kh_curve curve)
{
	return curve == CL_KH_CURVE_P256 ? CL_KH_P256_POINT_LEN : CL_KH_POINT_LEN;
}

size_t kh_scalar_len(enum cl_kh_curve curve)
{
	return curve == CL_KH_CURVE_P256 ? 32 : CL_KH_SCALAR_LEN;
}

size_t kh_sig_len(enum cl_kh_curve curve)
{
	return curve == CL_KH_CURVE_P256 ? CL_KH_P256_SIG_LEN : CL_KH_SIG_LEN;
}

static const char *group_name(enum cl_kh_curve curve)
{
	return curve == CL_KH_CURVE_P256 ? "prime256v1" : GROUP;
}
#define FW_IMAGE_INFO "cloister-fw/aes-256-gcm/1" /* = FW_HKDF_INFO, src/fw/verify_internal.h */

/* ---------------------------------------------------------------- OpenSSL's heap, wiped on free */

/* Each block carries its size in a 16-byte header (keeps max_align_t). */
#define HDR 16

static void *wipe_malloc(size_t n, const char *file, int line)
{
	if (n > SIZE_MAX - HDR)
		return NULL;
	uint8_t *p = malloc(n + HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void wipe_free(void *ptr, const char *file, int line)
{
	if (!ptr)
		return;
	uint8_t *p = (uint8_t *)ptr - HDR;
	size_t n;
	memcpy(&n, p, sizeof(n));
	explicit_bzero(p, n + HDR);
	free(p);
}

static void *wipe_realloc(void *ptr, size_t n, const char *file, int line)
{
	if (!ptr)
		return wipe_malloc(n, file, line);
	if (n == 0) {
		wipe_free(ptr, file, line);
		return NULL;
	}
	size_t old;
	memcpy(&old, (uint8_t *)ptr - HDR, sizeof(old));
	void *q = wipe_malloc(n, file, line);
	if (!q)
		return NULL; /* the old block stays valid, as realloc promises */
	memcpy(q, ptr, old < n ? old : n);
	wipe_free(ptr, file, line);
	return q;
}

bool kh_crypto_wipe_heap(void)
{
	return CRYPTO_set_mem_functions(wipe_malloc, wipe_realloc, wipe_free) == 1;
}

/* Builds an EVP_PKEY from parts: a key pair if scalar is given, else public. */
static cl_err make_key(enum cl_kh_curve curve, const uint8_t *scalar, const uint8_t *point, EVP_PKEY **out)
{
	size_t sl = kh_scalar_len(curve);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	BIGNUM *priv = NULL;
	cl_err err = CL_OK;
	*out = NULL;
	if (!bld || !ctx || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group_name(curve), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, kh_point_len(curve))) {
		err = cl_errorf(CL_EINTERNAL, "cannot build key parameters");
		goto out;
	}
	if (scalar && (!(priv = BN_secure_new()) || !BN_bin2bn(scalar, (int)sl, priv) ||
		       !OSSL_PARAM_BLD_push_BN_pad(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv, sl))) {
		err = cl_errorf(CL_EINTERNAL, "cannot build key parameters");
		goto out;
	}
	if (!(params = OSSL_PARAM_BLD_to_param(bld)) || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, scalar ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1) {
		err = cl_errorf(CL_ECRYPTO, "not a %s %s", curve == CL_KH_CURVE_P256 ? "P-256" : "P-384",
				scalar ? "key pair" : "public point");
		goto out;
	}
out:
	OSSL_PARAM_free(params); /* clears its secure part */
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(priv);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return err;
}

/* Copies a key's scalar and point on curve out of k, without a normal-heap copy
 * of the scalar: the exported parameter block keeps it in the secure heap. */
static cl_err split_key(enum cl_kh_curve curve, EVP_PKEY *k, uint8_t scalar[CL_KH_SCALAR_LEN],
			uint8_t point[CL_KH_POINT_LEN])
{
	size_t sl = kh_scalar_len(curve), pl = kh_point_len(curve);
	char group[32] = "";
	size_t glen = 0, plen = 0;
	OSSL_PARAM *params = NULL;
	const OSSL_PARAM *p;
	cl_err err = CL_OK;
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1 ||
	    strcmp(group, group_name(curve)) != 0) {
		err = cl_errorf(CL_ECRYPTO, "not a %s key", curve == CL_KH_CURVE_P256 ? "P-256" : "P-384");
		goto out;
	}
	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, pl, &plen) != 1 ||
	    plen != pl || point[0] != 0x04) {
		err = cl_errorf(CL_ECRYPTO, "key without an uncompressed public point");
		goto out;
	}
	if (EVP_PKEY_todata(k, EVP_PKEY_KEYPAIR, &params) != 1 ||
	    !(p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY)) ||
	    p->data_type != OSSL_PARAM_UNSIGNED_INTEGER || p->data_size == 0) {
		err = cl_errorf(CL_ECRYPTO, "key without a private scalar");
		goto out;
	}
	/* A native-endian unsigned integer: copy it out big-endian, sl bytes. */
	const uint8_t *d = p->data;
	size_t n = p->data_size;
	memset(scalar, 0, CL_KH_SCALAR_LEN);
	for (size_t i = 0; i < n; i++) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		uint8_t byte = d[i];                /* i-th least significant */
#else
		uint8_t byte = d[n - 1 - i];
#endif
		if (i < sl)
			scalar[sl - 1 - i] = byte;
		else if (byte != 0)
			err = cl_errorf(CL_ECRYPTO, "private scalar out of range");
	}
out:
	OSSL_PARAM_free(params);
	ERR_clear_error();
	if (err != CL_OK)
		explicit_bzero(scalar, CL_KH_SCALAR_LEN);
	return err;
}

cl_err kh_crypto_generate(enum cl_kh_curve curve, uint8_t scalar[CL_KH_SCALAR_LEN], uint8_t point[CL_KH_POINT_LEN],
			  uint8_t *pem, size_t cap, size_t *pem_len)
{
	EVP_PKEY *k = EVP_EC_gen(group_name(curve));
	BIO *bio = NULL;
	cl_err err;
	CL_ENSURE(k != NULL, CL_EINTERNAL, "EC key generation failed");
	CL_GUARD_OUT(err, split_key(curve, k, scalar, point));
	if (pem) {
		BUF_MEM *mem = NULL;
		bio = BIO_new(BIO_s_secmem());
		if (!bio || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1 ||
		    BIO_get_mem_ptr(bio, &mem) != 1 || !mem || mem->length > cap) {
			err = cl_errorf(CL_EINTERNAL, "cannot encode the new key");
			goto out;
		}
		memcpy(pem, mem->data, mem->length);
		*pem_len = mem->length;
	}
out:
	BIO_free(bio); /* secure-heap BIO: cleared */
	EVP_PKEY_free(k);
	ERR_clear_error();
	if (err != CL_OK)
		explicit_bzero(scalar, CL_KH_SCALAR_LEN);
	return err;
}

/* A password callback that has no password: an encrypted file fails to load
 * instead of prompting on a terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

cl_err kh_crypto_load_pem(const uint8_t *pem, size_t n, uint8_t scalar[CL_KH_SCALAR_LEN],
			  uint8_t point[CL_KH_POINT_LEN])
{
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
	cl_err err = k ? split_key(CL_KH_CURVE_P384, k, scalar, point) : cl_errorf(CL_ECRYPTO, "not a PEM private key");
	EVP_PKEY_free(k);
	BIO_free(bio);
	ERR_clear_error();
	return err;
}

/* s := order - s when s > order/2 (the low-s form: one valid signature per
 * message, as Bitcoin and many verifiers require). */
static cl_err low_s(enum cl_kh_curve curve, BIGNUM *s)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(curve == CL_KH_CURVE_P256 ? NID_X9_62_prime256v1 : NID_secp384r1);
	const BIGNUM *order = g ? EC_GROUP_get0_order(g) : NULL;
	BIGNUM *half = order ? BN_dup(order) : NULL;
	cl_err err = CL_OK;
	if (!half || !BN_rshift1(half, half))
		err = cl_errorf(CL_EINTERNAL, "cannot get the curve's order");
	else if (BN_cmp(s, half) > 0 && !BN_sub(s, order, s))
		err = cl_errorf(CL_EINTERNAL, "cannot normalise s");
	BN_free(half);
	EC_GROUP_free(g);
	return err;
}

cl_err kh_crypto_sign(enum cl_kh_curve curve, const uint8_t scalar[CL_KH_SCALAR_LEN],
		      const uint8_t point[CL_KH_POINT_LEN], const uint8_t *digest, size_t n, uint8_t sig[CL_KH_SIG_LEN])
{
	int half = (int)kh_sig_len(curve) / 2;
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *es = NULL;
	uint8_t der[128];
	size_t derlen = sizeof(der);
	const unsigned char *p = der;
	BIGNUM *s = NULL;
	const BIGNUM *r0, *s0;
	cl_err err;
	CL_ENSURE(n >= 1 && n <= CL_KH_DIGEST_MAX, CL_EINVAL, "digest of %zu bytes", n);
	CL_GUARD(make_key(curve, scalar, point, &k));
	if (!(ctx = EVP_PKEY_CTX_new(k, NULL)) || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_sign(ctx, der, &derlen, digest, n) != 1 || !(es = d2i_ECDSA_SIG(NULL, &p, (long)derlen))) {
		err = cl_errorf(CL_EINTERNAL, "ECDSA signing failed");
		goto out;
	}
	ECDSA_SIG_get0(es, &r0, &s0);
	if (!(s = BN_dup(s0))) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	CL_GUARD_OUT(err, low_s(curve, s));
	if (BN_bn2binpad(r0, sig, half) != half || BN_bn2binpad(s, sig + half, half) != half)
		err = cl_errorf(CL_EINTERNAL, "ECDSA signature out of range");
out:
	BN_free(s);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return err;
}

/* HKDF-SHA384 of z into key for use; the info binds the peer point. */
static cl_err derive(enum cl_kh_use use, const uint8_t z[48], const uint8_t peer[CL_KH_POINT_LEN],
		     uint8_t key[CL_KH_KEY_LEN])
{
	uint8_t salt[48] = {0}, info[sizeof(FW_IMAGE_INFO) - 1 + CL_KH_POINT_LEN];
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	cl_err err = CL_OK;
	CL_ENSURE(use == CL_KH_USE_FW_IMAGE, CL_EINVAL, "unknown derivation use %d", (int)use);
	memcpy(info, FW_IMAGE_INFO, sizeof(FW_IMAGE_INFO) - 1);
	memcpy(info + sizeof(FW_IMAGE_INFO) - 1, peer, CL_KH_POINT_LEN);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA384", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, 48);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	params[4] = OSSL_PARAM_construct_end();
	if (!(kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) || !(kctx = EVP_KDF_CTX_new(kdf)) ||
	    EVP_KDF_derive(kctx, key, CL_KH_KEY_LEN, params) != 1)
		err = cl_errorf(CL_EINTERNAL, "HKDF failed");
	EVP_KDF_CTX_free(kctx); /* clears its copy of z */
	EVP_KDF_free(kdf);
	ERR_clear_error();
	return err;
}

cl_err kh_crypto_seal(const uint8_t secret[CL_KH_SCALAR_LEN], const char *tenant, const uint8_t pcrs[CL_KH_PCRS_LEN],
		      const uint8_t *label, size_t label_len, uint8_t key[CL_KH_KEY_LEN])
{
	uint8_t salt[48] = {0};
	uint8_t info[sizeof(CL_KH_SEAL_INFO) + CL_KH_TENANT_MAX + 1 + CL_KH_PCRS_LEN + CL_KH_LABEL_MAX];
	size_t tl = strlen(tenant), n = 0;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	cl_err err = CL_OK;
	CL_ENSURE(tl >= 1 && tl <= CL_KH_TENANT_MAX && label_len >= 1 && label_len <= CL_KH_LABEL_MAX, CL_EINVAL,
		  "seal: tenant or label out of range");
	/* the label, of any bytes, comes last; the tenant has no NUL: unambiguous */
	memcpy(info, CL_KH_SEAL_INFO, sizeof(CL_KH_SEAL_INFO)); /* with its NUL: the 0x00 separator */
	n = sizeof(CL_KH_SEAL_INFO);
	memcpy(info + n, tenant, tl);
	n += tl;
	info[n++] = 0;
	memcpy(info + n, pcrs, CL_KH_PCRS_LEN);
	n += CL_KH_PCRS_LEN;
	memcpy(info + n, label, label_len);
	n += label_len;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA384", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, CL_KH_SCALAR_LEN);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	params[4] = OSSL_PARAM_construct_end();
	if (!(kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) || !(kctx = EVP_KDF_CTX_new(kdf)) ||
	    EVP_KDF_derive(kctx, key, CL_KH_KEY_LEN, params) != 1)
		err = cl_errorf(CL_EINTERNAL, "HKDF failed");
	EVP_KDF_CTX_free(kctx); /* clears its copy of the secret */
	EVP_KDF_free(kdf);
	ERR_clear_error();
	return err;
}

cl_err kh_crypto_ecdh(const uint8_t scalar[CL_KH_SCALAR_LEN], const uint8_t point[CL_KH_POINT_LEN],
		      enum cl_kh_use use, const uint8_t peer[CL_KH_POINT_LEN], uint8_t key[CL_KH_KEY_LEN])
{
	EVP_PKEY *k = NULL, *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	uint8_t z[48];
	size_t zlen = sizeof(z);
	cl_err err;
	CL_ENSURE(peer[0] == 0x04, CL_ECRYPTO, "peer point is not uncompressed");
	/* On the curve and not the point at infinity: on P-384 (cofactor 1) that
	 * is the whole check; the full one only adds a scalar multiplication
	 * by the order. */
	if (make_key(CL_KH_CURVE_P384, NULL, peer, &pk) != CL_OK || !(chk = EVP_PKEY_CTX_new(pk, NULL)) ||
	    EVP_PKEY_public_check_quick(chk) != 1) {
		ERR_clear_error();
		err = cl_errorf(CL_ECRYPTO, "peer point is not a valid P-384 public key");
		goto out;
	}
	CL_GUARD_OUT(err, make_key(CL_KH_CURVE_P384, scalar, point, &k));
	if (!(ctx = EVP_PKEY_CTX_new(k, NULL)) || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, pk) != 1 || EVP_PKEY_derive(ctx, z, &zlen) != 1 || zlen != sizeof(z)) {
		err = cl_errorf(CL_ECRYPTO, "ECDH failed");
		goto out;
	}
	err = derive(use, z, peer, key);
out:
	explicit_bzero(z, sizeof(z));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_free(k);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return err;
}

cl_err kh_crypto_tls_pop_digest(const char *host_id, const char *slot, const uint8_t point[CL_KH_P256_POINT_LEN],
				uint8_t md[32])
{
	static const uint8_t zero = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned n = 0;
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(c, CL_KH_TLS_POP_LABEL, strlen(CL_KH_TLS_POP_LABEL)) == 1 &&
		 EVP_DigestUpdate(c, &zero, 1) == 1 && EVP_DigestUpdate(c, host_id, strlen(host_id)) == 1 &&
		 EVP_DigestUpdate(c, &zero, 1) == 1 && EVP_DigestUpdate(c, slot, strlen(slot)) == 1 &&
		 EVP_DigestUpdate(c, &zero, 1) == 1 && EVP_DigestUpdate(c, point, CL_KH_P256_POINT_LEN) == 1 &&
		 EVP_DigestFinal_ex(c, md, &n) == 1 && n == 32;
	EVP_MD_CTX_free(c);
	ERR_clear_error();
	return ok ? CL_OK : cl_errorf(CL_EINTERNAL, "SHA-256 failed");
}

/* Checks sig (r || s) over digest[n] against the public point on curve. */
static cl_err verify(enum cl_kh_curve curve, const uint8_t point[CL_KH_POINT_LEN], const uint8_t *digest, size_t n,
		     const uint8_t sig[CL_KH_SIG_LEN])
{
	int half = (int)kh_sig_len(curve) / 2;
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, half, NULL), *s = BN_bin2bn(sig + half, half, NULL);
	unsigned char *der = NULL;
	int derlen = 0;
	cl_err err = CL_OK;
	if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	r = s = NULL;
	if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0 || make_key(curve, NULL, point, &pk) != CL_OK ||
	    !(ctx = EVP_PKEY_CTX_new(pk, NULL)) || EVP_PKEY_verify_init(ctx) != 1 ||
	    EVP_PKEY_verify(ctx, der, (size_t)derlen, digest, n) != 1)
		err = cl_errorf(CL_ECRYPTO, "signature does not verify");
out:
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return err;
}

cl_err kh_crypto_selftest(void)
{
	uint8_t a[CL_KH_SCALAR_LEN], apt[CL_KH_POINT_LEN], b[CL_KH_SCALAR_LEN], bpt[CL_KH_POINT_LEN];
	uint8_t k1[CL_KH_KEY_LEN], k2[CL_KH_KEY_LEN], sig[CL_KH_SIG_LEN], dg[48] = {1};
	uint8_t pem[1024];
	size_t pem_len = 0;
	cl_err err;
	/* generate, encode, parse back: the same key */
	CL_GUARD_OUT(err, kh_crypto_generate(CL_KH_CURVE_P384, a, apt, pem, sizeof(pem), &pem_len));
	CL_GUARD_OUT(err, kh_crypto_load_pem(pem, pem_len, b, bpt));
	if (memcmp(a, b, sizeof(a)) != 0 || memcmp(apt, bpt, sizeof(apt)) != 0) {
		err = cl_errorf(CL_EINTERNAL, "self-test: key does not survive its encoding");
		goto out;
	}
	CL_GUARD_OUT(err, kh_crypto_sign(CL_KH_CURVE_P384, a, apt, dg, sizeof(dg), sig));
	CL_GUARD_OUT(err, verify(CL_KH_CURVE_P384, apt, dg, sizeof(dg), sig));
	/* P-256 (tls/ slots): generate, sign a proof's digest, verify */
	CL_GUARD_OUT(err, kh_crypto_generate(CL_KH_CURVE_P256, b, bpt, NULL, 0, NULL));
	CL_GUARD_OUT(err, kh_crypto_tls_pop_digest("h", "tls/e:1", bpt, dg));
	CL_GUARD_OUT(err, kh_crypto_sign(CL_KH_CURVE_P256, b, bpt, dg, 32, sig));
	CL_GUARD_OUT(err, verify(CL_KH_CURVE_P256, bpt, dg, 32, sig));
	CL_GUARD_OUT(err, kh_crypto_generate(CL_KH_CURVE_P384, b, bpt, NULL, 0, NULL));
	CL_GUARD_OUT(err, kh_crypto_ecdh(a, apt, CL_KH_USE_FW_IMAGE, bpt, k1));
	CL_GUARD_OUT(err, kh_crypto_ecdh(a, apt, CL_KH_USE_FW_IMAGE, bpt, k2));
	if (memcmp(k1, k2, sizeof(k1)) != 0)
		err = cl_errorf(CL_EINTERNAL, "self-test: ECDH is not repeatable");
out:
	explicit_bzero(a, sizeof(a));
	explicit_bzero(b, sizeof(b));
	explicit_bzero(k1, sizeof(k1));
	explicit_bzero(k2, sizeof(k2));
	explicit_bzero(pem, sizeof(pem));
	return err;
}
