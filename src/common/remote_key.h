/* remote_key.h — an OpenSSL EVP_PKEY (EC P-384) whose private half lives in
 * another process: every ECDSA signature it makes is asked of a callback
 * (which sends an ipc request to the monitor or the key holder). It works as
 * an SSL_CTX's private key (TLS 1.2 and 1.3 server handshakes), for
 * X509_sign, X509_REQ_sign and EVP_DigestSign.
 *
 * How: an EC_KEY holding only the public point, with an EC_KEY_METHOD whose
 * sign functions call the callback. OpenSSL 3 treats an EC_KEY with a
 * non-default method as "foreign" and keeps it on the legacy path instead
 * of exporting it to a provider (which would need the private scalar), so
 * EVP_DigestSign — TLS 1.3's CertificateVerify included — reaches it. The
 * API is deprecated in 3.0 but present through 3.x, is what libp11 and the
 * OpenBSD privsep daemons (libtls) use, and needs ~150 lines where a
 * provider (keymgmt + signature + encoders for the public half) needs several
 * hundred; see docs/keyholder.md "Remote keys" for the comparison. No private byte is
 * ever in this process: there is none to load.
 */
#ifndef CL_REMOTE_KEY_H
#define CL_REMOTE_KEY_H

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CL_RK_POINT_LEN 97   /* uncompressed P-384 point: 0x04 || X || Y */
#define CL_RK_SIG_LEN 96     /* raw ECDSA P-384 signature r || s */
#define CL_RK_DIGEST_MAX 64  /* longest digest handed to the callback (SHA-512) */

/* Signs digest[len] (1 <= len <= CL_RK_DIGEST_MAX, e.g. 48 for SHA-384; TLS
 * 1.2 may use 32 or 64) with the remote private key; writes r || s (each 48
 * bytes, big-endian). ctx is the pointer given to cl_remote_key_new. Called
 * on the thread that uses the key, possibly several times per handshake. */
typedef cl_err (*cl_remote_sign_fn)(void *ctx, const uint8_t *digest, size_t len, uint8_t sig[CL_RK_SIG_LEN]);

/* Makes an EVP_PKEY for the P-384 public point (validated on the curve) whose
 * signatures come from sign(ctx, ...). ctx is borrowed: it must outlive the
 * key (and every SSL_CTX/SSL holding it, and every copy: EVP_PKEY_dup
 * signs through the same callback). The caller owns *out (EVP_PKEY_free).
 * Fails with CL_ECRYPTO for a bad point, CL_ENOMEM. */
CL_MUST_CHECK cl_err cl_remote_key_new(const uint8_t point[CL_RK_POINT_LEN], cl_remote_sign_fn sign, void *ctx,
				       EVP_PKEY **out);

/* Whether key is a remote key made by cl_remote_key_new. */
int cl_remote_key_is_remote(const EVP_PKEY *key);

#endif
