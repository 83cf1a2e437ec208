/* remote_key.c — EC_KEY_METHOD whose signatures come from a callback (see
 * remote_key.h). The EC_KEY API is deprecated in OpenSSL 3.0 but is the one
 * way to attach a signing callback to a key without writing a provider. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "common/remote_key.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct signer {
	cl_remote_sign_fn fn;   /* P-384, fixed 96 bytes (cl_remote_key_new)... */
	cl_remote_sign2_fn fn2; /* ...or any curve (cl_remote_key_new_curve) */
	void *ctx;
} signer;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EC_KEY_METHOD *method; /* lives for the process: keys may outlive any owner */
static int ex_index = -1;

static void signer_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

/* EC_KEY_dup (EVP_PKEY_dup) copies ex data pointers: give the copy its own
 * signer record, or both keys would free the same one. */
static int signer_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx, long argl,
		      void *argp)
{
	signer **slot = (signer **)from_d, *copy;
	if (!*slot)
		return 1;
	if (!(copy = malloc(sizeof(*copy))))
		return 0;
	*copy = **slot;
	*slot = copy;
	return 1;
}

/* r or s must be in [1, n-1]: anything else is a broken or hostile signer. */
static int in_range(const BIGNUM *v, const BIGNUM *order)
{
	return !BN_is_zero(v) && !BN_is_negative(v) && BN_cmp(v, order) < 0;
}

static ECDSA_SIG *remote_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *rp,
				  EC_KEY *key)
{
	const signer *s = EC_KEY_get_ex_data(key, ex_index);
	uint8_t raw[CL_RK_SIG_LEN];
	size_t raw_len = sizeof(raw);
	BIGNUM *r = NULL, *sv = NULL;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *order = EC_GROUP_get0_order(EC_KEY_get0_group(key));
	size_t half = order ? (size_t)BN_num_bytes(order) : 0; /* 32 or 48 */
	/* Precomputed (kinv, r) make no sense for a key that is not here. */
	if (!s || kinv || rp || dlen < 1 || dlen > CL_RK_DIGEST_MAX || !order || 2 * half > sizeof(raw)) {
		ERR_raise(ERR_LIB_EC, EC_R_OPERATION_NOT_SUPPORTED);
		return NULL;
	}
	if ((s->fn2 ? s->fn2(s->ctx, dgst, (size_t)dlen, raw, &raw_len) : s->fn(s->ctx, dgst, (size_t)dlen, raw)) !=
	    CL_OK) {
		ERR_raise(ERR_LIB_EC, ERR_R_EC_LIB);
		return NULL;
	}
	if (raw_len != 2 * half) { /* a signature for another curve */
		ERR_raise(ERR_LIB_EC, EC_R_BAD_SIGNATURE);
		return NULL;
	}
	r = BN_bin2bn(raw, (int)half, NULL);
	sv = BN_bin2bn(raw + half, (int)half, NULL);
	if (!r || !sv || !in_range(r, order) || !in_range(sv, order) || !(sig = ECDSA_SIG_new()) ||
	    ECDSA_SIG_set0(sig, r, sv) != 1) {
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(sv);
		ERR_raise(ERR_LIB_EC, EC_R_BAD_SIGNATURE);
		return NULL;
	}
	return sig;
}

static int remote_sign(int type, const unsigned char *dgst, int dlen, unsigned char *out, unsigned int *outlen,
		       const BIGNUM *kinv, const BIGNUM *r, EC_KEY *key)
{
	ECDSA_SIG *sig = remote_sign_sig(dgst, dlen, kinv, r, key);
	unsigned char *p = out;
	int n;
	if (!sig)
		return 0;
	n = i2d_ECDSA_SIG(sig, &p); /* out holds ECDSA_size(key) bytes, the DER maximum */
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return 0;
	*outlen = (unsigned int)n;
	return 1;
}

/* No private scalar here: key generation and ECDH are refused outright
 * rather than left to the default method's "missing private key". */
static int no_keygen(EC_KEY *key)
{
	ERR_raise(ERR_LIB_EC, EC_R_OPERATION_NOT_SUPPORTED);
	return 0;
}

static int no_compute_key(unsigned char **psec, size_t *pseclen, const EC_POINT *pub, const EC_KEY *ecdh)
{
	ERR_raise(ERR_LIB_EC, EC_R_OPERATION_NOT_SUPPORTED);
	return 0;
}

static void init_method(void)
{
	EC_KEY_METHOD *m = EC_KEY_METHOD_new(EC_KEY_OpenSSL()); /* verify stays the default */
	int idx = EC_KEY_get_ex_new_index(0, NULL, NULL, signer_dup, signer_free);
	if (!m || idx < 0) {
		EC_KEY_METHOD_free(m);
		return;
	}
	EC_KEY_METHOD_set_sign(m, remote_sign, NULL, remote_sign_sig);
	EC_KEY_METHOD_set_keygen(m, no_keygen);
	EC_KEY_METHOD_set_compute_key(m, no_compute_key);
	ex_index = idx;
	method = m;
}

static cl_err make(int nid, const uint8_t *point, size_t point_len, const signer *proto, EVP_PKEY **out)
{
	EC_KEY *ec = NULL;
	EVP_PKEY *pk = NULL;
	signer *s = NULL;
	cl_err err = CL_OK;
	*out = NULL;
	CL_ENSURE(proto->fn || proto->fn2, CL_EINVAL, "remote key without a signer");
	CL_ENSURE((nid == NID_secp384r1 && point_len == CL_RK_POINT_LEN) ||
			  (nid == NID_X9_62_prime256v1 && point_len == CL_RK_P256_POINT_LEN),
		  CL_EINVAL, "remote key: P-256 (65-byte point) or P-384 (97) only");
	CL_ENSURE(point[0] == 0x04, CL_ECRYPTO, "remote key: not an uncompressed point");
	pthread_once(&once, init_method);
	CL_ENSURE(method != NULL, CL_ENOMEM, "remote key: cannot make the EC method");
	if (!(ec = EC_KEY_new_by_curve_name(nid)) || !(s = malloc(sizeof(*s)))) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	*s = *proto;
	/* Method first, then the ex data, then the point: EVP_PKEY_assign then
	 * sees a finished foreign key and never tries to export it. */
	if (EC_KEY_set_method(ec, method) != 1 || EC_KEY_set_ex_data(ec, ex_index, s) != 1) {
		err = cl_errorf(CL_ENOMEM, "remote key: cannot attach the signer");
		goto out;
	}
	s = NULL; /* owned by ec now */
	if (EC_KEY_oct2key(ec, point, point_len, NULL) != 1 || EC_KEY_check_key(ec) != 1) {
		err = cl_errorf(CL_ECRYPTO, "remote key: the public point is not on %s",
				nid == NID_secp384r1 ? "P-384" : "P-256");
		goto out;
	}
	if (!(pk = EVP_PKEY_new()) || EVP_PKEY_assign_EC_KEY(pk, ec) != 1) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	ec = NULL; /* owned by pk now */
	*out = pk;
	pk = NULL;
out:
	EVP_PKEY_free(pk);
	EC_KEY_free(ec);
	free(s);
	ERR_clear_error();
	return err;
}

cl_err cl_remote_key_new(const uint8_t point[CL_RK_POINT_LEN], cl_remote_sign_fn sign, void *ctx,
			 EVP_PKEY **out)
{
	signer proto = {.fn = sign, .ctx = ctx};
	return make(NID_secp384r1, point, CL_RK_POINT_LEN, &proto, out);
}

cl_err cl_remote_key_new_curve(int nid, const uint8_t *point, size_t point_len, cl_remote_sign2_fn sign, void *ctx,
			       EVP_PKEY **out)
{
	signer proto = {.fn2 = sign, .ctx = ctx};
	return make(nid, point, point_len, &proto, out);
}

int cl_remote_key_is_remote(const EVP_PKEY *key)
{
	const EC_KEY *ec = key ? EVP_PKEY_get0_EC_KEY(key) : NULL;
	return ec && method && EC_KEY_get_method(ec) == method;
}
