/* fw_keys.c — P-384 key files for the signing tools (PEM, via OpenSSL),
 * key ids and raw ECDSA signatures. Host side only. */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "common/crypto.h"
#include "common/util.h"
#include "fw/fw_internal.h"

#define KEY_FILE_MAX (64 * 1024)

cl_err fw_key_generate(void **key)
{
	EVP_PKEY *k = EVP_EC_gen("secp384r1");
	if (!k)
		return cl_errorf(CL_ECRYPTO, "P-384 key generation failed");
	*key = k;
	return CL_OK;
}

void fw_key_free(void *key)
{
	EVP_PKEY_free(key);
}

static cl_err check_p384(EVP_PKEY *k, const char *path)
{
	char group[64] = "";
	size_t glen = 0;
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1 ||
	    strcmp(group, "secp384r1") != 0)
		return cl_errorf(CL_EINVAL, "%s: not a P-384 (secp384r1) EC key", path);
	return CL_OK;
}

static cl_err load(const char *path, bool private_key, void **key)
{
	cl_buf b;
	cl_err err;
	EVP_PKEY *k = NULL;
	cl_buf_init(&b, KEY_FILE_MAX);
	err = cl_file_read(path, KEY_FILE_MAX, &b);
	if (err != CL_OK) {
		cl_buf_free(&b);
		return cl_errorf(err, "cannot read key file %s", path);
	}
	BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
	if (bio && private_key)
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (bio && !private_key) {
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		if (!k) { /* or the public half of a private key file */
			(void)BIO_reset(bio);
			k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		}
	}
	BIO_free(bio);
	cl_buf_free(&b); /* wipes */
	ERR_clear_error();
	if (!k)
		return cl_errorf(CL_EINVAL, "%s: not a PEM %s key", path, private_key ? "private" : "public");
	err = check_p384(k, path);
	if (err != CL_OK) {
		EVP_PKEY_free(k);
		return err;
	}
	*key = k;
	return CL_OK;
}

cl_err fw_key_load_private(const char *path, void **key)
{
	if (strncmp(path, "pkcs11:", 7) == 0)
		return fw_pkcs11_load_private(path, key);
	return load(path, true, key);
}

cl_err fw_key_load_public(const char *path, void **key)
{
	return load(path, false, key);
}

static cl_err save(const void *key, const char *path, bool private_key)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	BUF_MEM *mem = NULL;
	cl_err err = CL_OK;
	int ok = bio && (private_key ? PEM_write_bio_PrivateKey(bio, (EVP_PKEY *)key, NULL, NULL, 0, NULL, NULL)
				     : PEM_write_bio_PUBKEY(bio, (EVP_PKEY *)key));
	if (!ok || BIO_get_mem_ptr(bio, &mem) != 1 || !mem)
		err = cl_errorf(CL_ECRYPTO, "cannot encode key");
	else
		err = cl_file_write_atomic(path, mem->data, mem->length, private_key ? 0600 : 0644);
	BIO_free(bio); /* secure-heap BIO: wiped */
	return err;
}

cl_err fw_key_save_private(const void *key, const char *path)
{
	return save(key, path, true);
}

cl_err fw_key_save_public(const void *key, const char *path)
{
	return save(key, path, false);
}

/* A provider-native copy of the public half (for engine/legacy keys). */
static EVP_PKEY *public_copy(const void *key)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = i2d_PUBKEY((EVP_PKEY *)key, &der);
	EVP_PKEY *pub = NULL;
	if (n > 0) {
		p = der;
		pub = d2i_PUBKEY(NULL, &p, n);
	}
	OPENSSL_free(der);
	return pub;
}

cl_err fw_key_point(const void *key, uint8_t point[FW_POINT_LEN])
{
	size_t n = 0;
	EVP_PKEY *pub = public_copy(key);
	cl_err err = CL_OK;
	ERR_clear_error();
	if (!pub || check_p384(pub, "key") != CL_OK ||
	    EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, FW_POINT_LEN, &n) != 1 ||
	    n != FW_POINT_LEN || point[0] != 0x04)
		err = cl_errorf(CL_ECRYPTO, "cannot get the uncompressed P-384 public point");
	EVP_PKEY_free(pub);
	return err;
}

cl_err fw_key_kid(const void *key, uint8_t kid[FW_KID_LEN])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY((EVP_PKEY *)key, &der);
	if (n <= 0)
		return cl_errorf(CL_ECRYPTO, "cannot encode the public key");
	cl_err err = cl_sha256(der, (size_t)n, kid);
	OPENSSL_free(der);
	return err;
}

/* The P-384 group order n, big-endian (SEC 2, secp384r1). */
static const uint8_t p384_n[48] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
	0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
};

cl_err fw_key_sign_hash(const void *key, const uint8_t hash[FW_DIGEST_LEN], uint8_t sig[FW_SIG_LEN])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new((EVP_PKEY *)key, NULL);
	uint8_t der[160];
	size_t derlen = sizeof(der);
	const unsigned char *p = der;
	ECDSA_SIG *es = NULL;
	BIGNUM *n = NULL, *low = NULL;
	cl_err err = CL_OK;
	if (!c || EVP_PKEY_sign_init(c) != 1 || EVP_PKEY_sign(c, der, &derlen, hash, FW_DIGEST_LEN) != 1 ||
	    !(es = d2i_ECDSA_SIG(NULL, &p, (long)derlen))) {
		err = cl_errorf(CL_ECRYPTO, "ECDSA signing failed");
		goto out;
	}
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, 48) != 48 || BN_bn2binpad(s, sig + 48, 48) != 48) {
		err = cl_errorf(CL_ECRYPTO, "ECDSA signature out of range");
		goto out;
	}
	/* Low-s: the verifier accepts only s <= n/2 (fw_sig_low_s). (r, n - s)
	 * is the same signature, so a high s becomes n - s. */
	if (!fw_sig_low_s(sig)) {
		if (!(n = BN_bin2bn(p384_n, sizeof(p384_n), NULL)) || !(low = BN_new()) || !BN_sub(low, n, s) ||
		    BN_bn2binpad(low, sig + 48, 48) != 48 || !fw_sig_low_s(sig)) {
			err = cl_errorf(CL_ECRYPTO, "cannot normalise the ECDSA signature to low-s");
			goto out;
		}
	}
out:
	BN_free(low);
	BN_free(n);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return err;
}
