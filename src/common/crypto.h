/* crypto.h — thin OpenSSL wrappers shared by components. */
#ifndef CL_CRYPTO_H
#define CL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CL_SHA256_LEN 32
#define CL_SHA384_LEN 48

CL_MUST_CHECK cl_err cl_sha256(const void *p, size_t n, uint8_t out[static CL_SHA256_LEN]);
CL_MUST_CHECK cl_err cl_sha384(const void *p, size_t n, uint8_t out[static CL_SHA384_LEN]);
/* HMAC-SHA256(key, msg). */
CL_MUST_CHECK cl_err cl_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
				    uint8_t out[static CL_SHA256_LEN]);

/* A secret as stored at rest: "v1$<salt hex>$<HMAC-SHA256(salt, secret) hex>".
 * Secrets hashed this way are random, high-entropy tokens (>= 128 bits), so a
 * salted HMAC suffices; no password stretching is needed. out >= 128 bytes. */
CL_MUST_CHECK cl_err cl_secret_hash(const char *secret, char *out, size_t outlen);
/* Constant-time check of secret against a stored cl_secret_hash string. */
CL_MUST_CHECK cl_err cl_secret_verify(const char *secret, const char *stored);

#endif
