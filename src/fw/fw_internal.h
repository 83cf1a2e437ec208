/* fw_internal.h — shared between libcloister-fw's host-side tools (fw_*.c);
 * not public. The verifier's own internals are in verify_internal.h, which
 * the tools use too (the CBOR reader, COSE hashing, HKDF).
 */
#ifndef CL_FW_INTERNAL_H
#define CL_FW_INTERNAL_H

#include "fw/fw_tools.h"
#include "fw/verify_internal.h"

/* ---- CBOR writer (fw_encode.c): canonical, into a cl_buf ---- */
CL_MUST_CHECK cl_err fw_enc_head(cl_buf *b, uint8_t major, uint64_t arg);
CL_MUST_CHECK cl_err fw_enc_bytes(cl_buf *b, uint8_t major, const void *p, size_t n);
CL_MUST_CHECK cl_err fw_enc_manifest(const fw_manifest *m, cl_buf *out);
/* Appends a COSE_Sign1 block by key over payload with aad. */
CL_MUST_CHECK cl_err fw_enc_sign1(const void *key, const char *aad, const uint8_t *payload, size_t n,
				  cl_buf *out);
/* Re-encodes a parsed block (the strict parse guarantees the same bytes). */
CL_MUST_CHECK cl_err fw_enc_block_copy(const fw_sign1 *s, cl_buf *out);
/* Loads a private key from a `pkcs11:` URI (fw_pkcs11.c). */
CL_MUST_CHECK cl_err fw_pkcs11_load_private(const char *uri, void **key);
/* ECDSA P-384 over a SHA-384 digest: r || s, s normalised to low-s (n - s
 * when s > n/2), the only form the verifier accepts. */
CL_MUST_CHECK cl_err fw_key_sign_hash(const void *key, const uint8_t hash[FW_DIGEST_LEN],
				      uint8_t sig[FW_SIG_LEN]);

#endif
