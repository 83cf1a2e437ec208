/* remote_key.h — an OpenSSL EVP_PKEY (EC P-384 or P-256) whose private half lives in
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

/* Signs digest[len] (1 <= len <= CL_RK_DIGEST_MAX: 32 for SHA-256...) with
 * the remote private key; writes r || s (each the curve's size: 32 bytes
 * for P-256, 48 for P-384, big-endian) into sig. *sig_len is sig's capacity
 * on entry (CL_RK_SIG_LEN), the signature's length (64 or 96) on success.
 * ctx is the pointer given to cl_remote_key_new_curve. */
typedef cl_err (*cl_remote_sign2_fn)(void *ctx, const uint8_t *digest, size_t len, uint8_t *sig, size_t *sig_len);

#define CL_RK_P256_POINT_LEN 65 /* uncompressed P-256 point */
#define CL_RK_P256_SIG_LEN 64   /* raw ECDSA P-256 signature r || s */

/* As cl_remote_key_new, for a curve: nid NID_X9_62_prime256v1 (point of 65
 * bytes: a guest's TLS key, made by the key holder's tls-generate) or
 * NID_secp384r1 (97 bytes). point[point_len] must be uncompressed and on the
 * curve (CL_ECRYPTO otherwise; CL_EINVAL for another nid or a length that
 * is not the curve's). A signature of the wrong length for the curve, or
 * with r or s outside [1, n-1], fails the operation that asked for it. */
CL_MUST_CHECK cl_err cl_remote_key_new_curve(int nid, const uint8_t *point, size_t point_len, cl_remote_sign2_fn sign,
					     void *ctx, EVP_PKEY **out);

/* Whether key is a remote key made by cl_remote_key_new or
 * cl_remote_key_new_curve. */
int cl_remote_key_is_remote(const EVP_PKEY *key);

#endif
