/* wrap.h — a secret wrapped to a P-384 public key (docs/broker.md):
 * ECDH P-384 with a fresh ephemeral key, HKDF-SHA384, AES-256-GCM.
 *
 *   wrapped = E (97, uncompressed ephemeral point) || iv (12) || ciphertext || tag (16)
 *   Z       = ECDH(e, Q): the 48-byte x-coordinate
 *   key     = HKDF-SHA384(salt = none (48 zero bytes), ikm = Z,
 *                         info = LABEL || E || Q (97 bytes each)) -> 32 bytes
 *   LABEL   = CL_WRAP_INFO for the broker; another application gives its own
 *             (the keystore example: "cloister-keystore-wrap-v1"), so a
 *             blob wrapped for one never opens as the other's
 *   AES-256-GCM(key, iv), no associated data.
 *
 * The broker (src/control/api_secrets.c) wraps; `cloister secret release`
 * unwraps in place of the in-enclave SDK. */
#ifndef CL_COMMON_WRAP_H
#define CL_COMMON_WRAP_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define CL_WRAP_POINT_LEN 97
#define CL_WRAP_IV_LEN 12
#define CL_WRAP_TAG_LEN 16
#define CL_WRAP_OVERHEAD (CL_WRAP_POINT_LEN + CL_WRAP_IV_LEN + CL_WRAP_TAG_LEN)
#define CL_WRAP_INFO "cloister-broker-wrap-v1"
#define CL_WRAP_MSG_MAX (1u << 20)
/* A provisioned bundle (docs/provisioning.md): the same construction with
 * its own label, so a wrapped secret is never taken for a bundle or the
 * other way round, and one AES-256-GCM message of up to 64 MiB. */
#define CL_WRAP_BUNDLE_INFO "cloister-bundle-wrap-v1"
#define CL_WRAP_BUNDLE_MAX (64u << 20)
#define CL_WRAP_LABEL_MAX 64

/* The uncompressed P-384 point of a public key given as either the raw
 * point (97 bytes, 0x04 || X || Y) or a DER SubjectPublicKeyInfo of a P-384
 * key, into point. CL_ECRYPTO with a detail if it is neither or the point is
 * not on the curve. */
CL_MUST_CHECK cl_err cl_wrap_point(const uint8_t *pub, size_t n, uint8_t point[CL_WRAP_POINT_LEN]);

/* Wraps msg[0..n) (n <= CL_WRAP_MSG_MAX) to point (checked as by
 * cl_wrap_point) into out (reset first; the caller's buffer). CL_ECRYPTO for
 * a bad point; CL_EINTERNAL if the crypto library fails. */
CL_MUST_CHECK cl_err cl_wrap_seal(const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *msg, size_t n, cl_buf *out);

/* cl_wrap_seal for a bundle: label CL_WRAP_BUNDLE_INFO, n <= CL_WRAP_BUNDLE_MAX. */
CL_MUST_CHECK cl_err cl_wrap_seal_bundle(const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *tar, size_t n,
					 cl_buf *out);
/* cl_wrap_open for a bundle (what cloister-init does, streaming, in
 * src/init/provision.c; here for tests and tools). */
CL_MUST_CHECK cl_err cl_wrap_open_bundle(EVP_PKEY *priv, const uint8_t *in, size_t n, cl_buf *out);
/* As cl_wrap_seal, with label (1..CL_WRAP_LABEL_MAX bytes, NUL-terminated)
 * in place of CL_WRAP_INFO; CL_EINVAL for a label out of bounds. */
CL_MUST_CHECK cl_err cl_wrap_seal_label(const char *label, const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *msg,
					size_t n, cl_buf *out);

/* Unwraps in[0..n) with priv (a P-384 private key) into out (reset first;
 * the caller wipes and frees it). CL_ECRYPTO with a detail if in is
 * malformed, was wrapped to another key, or was changed. */
CL_MUST_CHECK cl_err cl_wrap_open(EVP_PKEY *priv, const uint8_t *in, size_t n, cl_buf *out);
/* As cl_wrap_open, for what cl_wrap_seal_label wrapped under label. */
CL_MUST_CHECK cl_err cl_wrap_open_label(const char *label, EVP_PKEY *priv, const uint8_t *in, size_t n, cl_buf *out);

#endif
