#include "common/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static cl_err digest(const EVP_MD *md, const void *p, size_t n, uint8_t *out)
{
	unsigned int len = 0;
	if (EVP_Digest(p, n, out, &len, md, NULL) != 1)
		return cl_errorf(CL_ECRYPTO, "digest failed");
	return CL_OK;
}

cl_err cl_sha256(const void *p, size_t n, uint8_t out[static CL_SHA256_LEN])
{
	return digest(EVP_sha256(), p, n, out);
}

cl_err cl_sha384(const void *p, size_t n, uint8_t out[static CL_SHA384_LEN])
{
	return digest(EVP_sha384(), p, n, out);
}

cl_err cl_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
		      uint8_t out[static CL_SHA256_LEN])
{
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, n, out, &len) || len != CL_SHA256_LEN)
		return cl_errorf(CL_ECRYPTO, "hmac failed");
	return CL_OK;
}

cl_err cl_secret_hash(const char *secret, char *out, size_t outlen)
{
	uint8_t salt[16], mac[CL_SHA256_LEN];
	char salthex[33], machex[65];
	if (outlen < 4 + 32 + 1 + 64 + 1)
		return CL_EINVAL;
	CL_GUARD(cl_random(salt, sizeof(salt)));
	CL_GUARD(cl_hmac_sha256(salt, sizeof(salt), secret, strlen(secret), mac));
	cl_hex_encode(salt, sizeof(salt), salthex);
	cl_hex_encode(mac, sizeof(mac), machex);
	snprintf(out, outlen, "v1$%s$%s", salthex, machex);
	explicit_bzero(mac, sizeof(mac));
	return CL_OK;
}

cl_err cl_secret_verify(const char *secret, const char *stored)
{
	uint8_t salt[16], want[CL_SHA256_LEN], got[CL_SHA256_LEN];
	char salthex[33];
	if (strncmp(stored, "v1$", 3) != 0 || strlen(stored) != 3 + 32 + 1 + 64 || stored[35] != '$')
		return cl_errorf(CL_EINTERNAL, "stored secret hash is malformed");
	memcpy(salthex, stored + 3, 32);
	salthex[32] = '\0';
	CL_GUARD(cl_hex_decode(salthex, salt, sizeof(salt)));
	CL_GUARD(cl_hex_decode(stored + 36, want, sizeof(want)));
	CL_GUARD(cl_hmac_sha256(salt, sizeof(salt), secret, strlen(secret), got));
	bool ok = cl_ct_equal(got, want, sizeof(got));
	explicit_bzero(got, sizeof(got));
	return ok ? CL_OK : CL_EAUTH;
}
