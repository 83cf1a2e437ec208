/* fw_tools.h — libcloister-fw's host side: the signing and encoding tools.
 *
 * Never on a device. Key files (fw_keys.c, fw_pkcs11.c), bundle and
 * trust-root building and co-signing (fw_sign.c, fw_encode.c), the window
 * policy format (fw_policy.c) and the OpenSSL implementation of the verifier's fw_ops (fw_openssl.c). These
 * allocate, use OpenSSL and return cl_err (common/err.h) with a detail;
 * they are built into the host library (libcl_fw.a), apart from the
 * allocation-free verifier (fw_verify.h, libcloister-fw.a), which they call
 * to check what they build.
 *
 * Byte-level formats: docs/firmware-bundle.md.
 */
#ifndef CL_FW_TOOLS_H
#define CL_FW_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "fw/fw_verify.h"

/* Fills *ops with the OpenSSL implementation of fw_ops (SHA on the caller's
 * fw_hash_ctx, ECDSA P-384 verify; with device_key also ECDH and
 * AES-256-GCM for encrypted images). device_key (may be NULL: no decryption
 * entries) is an EVP_PKEY* P-384 private key, borrowed for the life of ops.
 * Cannot fail. */
void fw_openssl_ops(fw_ops *ops, void *device_key);
/* The OpenSSL ops with AES-256-GCM and the given image_key op (ctx is passed
 * to it; the OpenSSL ops ignore ctx): for a device key held elsewhere. */
void fw_openssl_ops_image_key(fw_ops *ops, int (*image_key)(void *, const uint8_t *, uint8_t *), void *ctx);

/* Key files. A loaded or generated key is an EVP_PKEY* (as void*) owned by
 * the caller and freed with fw_key_free; *key is untouched on failure. Every
 * key is checked to be P-384 (CL_EINVAL otherwise). */

/* A new P-384 key pair. CL_ECRYPTO if OpenSSL cannot make one. */
CL_MUST_CHECK cl_err fw_key_generate(void **key);
/* A private key from a PEM file (at most 64 KiB; the read buffer is wiped)
 * or a `pkcs11:` URI (a token key, through OpenSSL's pkcs11 engine).
 * CL_EIO/CL_ESYS when the file cannot be read, CL_EINVAL when it holds no
 * P-384 PEM private key, CL_EUNAVAIL when the engine or token is missing. */
CL_MUST_CHECK cl_err fw_key_load_private(const char *path, void **key);
/* A public key from a PEM file: a public key, or the public half of a
 * private key file. Failures as fw_key_load_private. */
CL_MUST_CHECK cl_err fw_key_load_public(const char *path, void **key);
/* Writes the private key as PEM to path, atomically (temp file, fsync,
 * rename), mode 0600, through a wiped secure-heap buffer. CL_EIO/CL_ESYS on
 * a write failure (nothing replaced), CL_ECRYPTO if it cannot be encoded. */
CL_MUST_CHECK cl_err fw_key_save_private(const void *key, const char *path);
/* Writes the public key as PEM to path, atomically, mode 0644. Failures as
 * fw_key_save_private. */
CL_MUST_CHECK cl_err fw_key_save_public(const void *key, const char *path);
/* Frees a key of fw_key_*; NULL is fine. OpenSSL clears a private scalar. */
void fw_key_free(void *key);
/* The key's uncompressed point (0x04 || X || Y) into point. CL_ECRYPTO if
 * it is not a P-384 key. */
CL_MUST_CHECK cl_err fw_key_point(const void *key, uint8_t point[FW_POINT_LEN]);
/* The key's kid: SHA-256 of its SubjectPublicKeyInfo DER, into kid.
 * CL_ECRYPTO if the key cannot be encoded. */
CL_MUST_CHECK cl_err fw_key_kid(const void *key, uint8_t kid[FW_KID_LEN]);

/* What `fw sign` puts into a manifest. Strings borrowed. */
typedef struct fw_sign_params {
	uint8_t vendor[FW_UUID_LEN];
	uint8_t class_id[FW_UUID_LEN];
	const char *component;
	const char *version;
	const char *channel;
	uint64_t sequence;
	bool has_use_before;
	uint64_t use_before;
	const void *encrypt_to; /* EVP_PKEY* device public key, or NULL */
} fw_sign_params;

/* Builds a bundle of image[0..n) signed by key into out (the caller's
 * cl_buf, cleared first; it owns the bytes). Refuses (CL_EINVAL) what every
 * device would refuse: an empty image, sequence outside
 * FW_SEQ_MIN..FW_SEQ_MAX, use-before 0 or over FW_UINT_MAX, a component,
 * version or channel missing or over FW_MAX_STR characters; CL_ETOOBIG
 * above FW_MAX_IMAGE or out's maximum. Signatures are low-s. On failure out is empty. */
CL_MUST_CHECK cl_err fw_bundle_build(const fw_sign_params *p, const void *key, const uint8_t *image,
				     size_t n, cl_buf *out);
/* Appends one more authentication block by key to a bundle (in -> out, the
 * caller's cl_buf, cleared first). CL_EINVAL when in is not a valid bundle,
 * CL_ECONFLICT when key already signed it, CL_ETOOBIG past FW_MAX_SIGNERS. */
CL_MUST_CHECK cl_err fw_bundle_cosign(const uint8_t *in, size_t len, const void *key, cl_buf *out);
/* Builds a trust-root document into out (the caller's cl_buf, cleared
 * first): version, threshold, the signer public keys (EVP_PKEY*, borrowed),
 * optional expiry, signed by each of sign_keys (borrowed). Version and
 * expiry must be 1..FW_UINT_MAX, the signers and signing keys 1..
 * FW_MAX_SIGNERS each, the threshold 1..nsigners (CL_EINVAL); whether the expiry is
 * already past is the caller's check (it knows the clock). */
CL_MUST_CHECK cl_err fw_trust_build(uint64_t version, uint64_t threshold, const void *const *signers,
				    size_t nsigners, bool has_expires, uint64_t expires,
				    const void *const *sign_keys, size_t nsign, cl_buf *out);
/* ---- window policy documents (fw_policy.c) ----
 *
 * policy = [ body: bstr, [ COSE_Sign1 ] ]
 * body   = {1: version, 2: seconds, 3: target, ? 4: power_cycle}
 * target = "any" | [vendor: bstr(16), class: bstr(16), component: tstr,
 *                   device: bstr(32) (kid of the device key), host: tstr]
 * signed by the ROM root key with external_aad FW_POLICY_AAD
 * (docs/firmware-guard.md "Window policy document"). Built by the signing
 * tool, inspected by the control plane before a push, verified by the
 * device model (src/fwguard). */
/* Format 2: bound to a target (format 1's ".../1" bound nothing). */
#define FW_POLICY_AAD "cloister-fw/window-policy/2"
typedef struct fw_policy_target {
	bool any; /* every device of every host: only when the signer chose it */
	uint8_t vendor[FW_UUID_LEN];
	uint8_t class_id[FW_UUID_LEN];
	const char *component;           /* bus address */
	uint8_t device_kid[FW_KID_LEN]; /* SHA-256 of the device key's SPKI DER */
	const char *host_id;             /* the control plane's host id */
} fw_policy_target;
typedef struct fw_policy_params {
	uint64_t version;     /* 1..FW_UINT_MAX, above the device's last one */
	uint64_t seconds;     /* 1..FW_MAX_WINDOW_S */
	uint64_t power_cycle; /* 0 = any; else one-shot: only in that power cycle */
	fw_policy_target target;
} fw_policy_params;
/* Builds one with root_key (EVP_PKEY*) into out (an initialised cl_buf,
 * cleared first; >= 512 bytes max). CL_EINVAL for a value out of range, a
 * target that is neither "any" nor complete (component, host id), or both. */
CL_MUST_CHECK cl_err fw_window_policy_build(const void *root_key, const fw_policy_params *p, cl_buf *out);

/* A parsed window policy: pointers into the document, strings copied. */
typedef struct fw_window_policy {
	const uint8_t *body;
	size_t body_len;
	fw_sign1 sig;
	uint64_t version, seconds;
	uint64_t power_cycle; /* 0 = not one-shot */
	bool any;
	const uint8_t *vendor, *class_id, *device_kid; /* NULL when any */
	char component[FW_MAX_ADDR + 1];
	char host_id[FW_MAX_HOST_ID + 1];
} fw_window_policy;
/* Strict parse (format 2) of doc[0..len), nothing verified: FW_OK, or why
 * a device would refuse its format (FW_E_MALFORMED for format 1,
 * FW_E_OVERSIZED, FW_E_UNSIGNED, ...). Allocation-free; *p points into doc
 * and is zeroed first. */
fw_status fw_window_policy_parse(const uint8_t *doc, size_t len, fw_window_policy *p);

/* What a window policy claims, read strictly but NOT verified (the
 * control plane's push check; the device verifies): a copy of what
 * fw_window_policy_parse read, nothing pointing into doc. */
typedef struct fw_policy_info {
	uint64_t version, seconds, power_cycle;
	bool any;
	uint8_t vendor[FW_UUID_LEN], class_id[FW_UUID_LEN], device_kid[FW_KID_LEN];
	char component[FW_MAX_ADDR + 1];
	char host_id[FW_MAX_HOST_ID + 1];
} fw_policy_info;
/* As fw_window_policy_parse, into a self-contained *out (zeroed first). */
fw_status fw_window_policy_inspect(const uint8_t *doc, size_t len, fw_policy_info *out);

/* Parses a UUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (or 32 hex digits)
 * into out. CL_EINVAL with a detail quoting (at most 40 bytes of) s. */
CL_MUST_CHECK cl_err fw_uuid_parse(const char *s, uint8_t out[FW_UUID_LEN]);
/* Formats a UUID as lower-case "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into
 * out (at least 37 bytes, NUL-terminated). Cannot fail. */
void fw_uuid_format(const uint8_t u[FW_UUID_LEN], char *out);

#endif
