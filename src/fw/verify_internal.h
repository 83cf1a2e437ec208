/* verify_internal.h — shared between the verifier's files (verify_*.c); not
 * public. Like fw_verify.h it includes nothing outside src/fw and libc's
 * freestanding headers: the verifier must build on a device.
 *
 * The CBOR reader here accepts only the strict canonical subset the formats
 * use (docs/firmware-bundle.md, "CBOR subset"): definite lengths, shortest
 * argument encodings, no tags, no floats, the simple values null only. It
 * never allocates and never recurses.
 */
#ifndef CL_FW_VERIFY_INTERNAL_H
#define CL_FW_VERIFY_INTERNAL_H

#include "fw_verify.h"

enum {
	FW_CBOR_UINT = 0,
	FW_CBOR_NINT = 1,
	FW_CBOR_BSTR = 2,
	FW_CBOR_TSTR = 3,
	FW_CBOR_ARRAY = 4,
	FW_CBOR_MAP = 5,
	FW_CBOR_TAG = 6,
	FW_CBOR_SIMPLE = 7,
};

/* A read cursor over caller memory. */
typedef struct fw_cbor {
	const uint8_t *p;
	size_t len;
	size_t pos;
} fw_cbor;

void fw_cbor_init(fw_cbor *c, const uint8_t *p, size_t len);
/* Reads one item head: major type and argument (length/value). Refuses
 * indefinite lengths, reserved values and non-shortest encodings. */
fw_status fw_cbor_head(fw_cbor *c, uint8_t *major, uint64_t *arg);
fw_status fw_cbor_uint(fw_cbor *c, uint64_t *v);
/* Expects exactly the negative integer -1 - n. */
fw_status fw_cbor_expect_nint(fw_cbor *c, uint64_t n);
/* A byte/text string: *p points into the input; its length is checked
 * against the remaining input (FW_E_TRUNCATED) before anything else. */
fw_status fw_cbor_bstr(fw_cbor *c, const uint8_t **p, size_t *n);
fw_status fw_cbor_tstr(fw_cbor *c, const uint8_t **p, size_t *n);
fw_status fw_cbor_array(fw_cbor *c, uint64_t *n);
fw_status fw_cbor_map(fw_cbor *c, uint64_t *n);
fw_status fw_cbor_null(fw_cbor *c);
/* Skips one complete item of the subset, iteratively; at most max_items
 * items in total (nested ones included). */
fw_status fw_cbor_skip(fw_cbor *c, uint64_t max_items);
/* Bytes left. */
size_t fw_cbor_left(const fw_cbor *c);

/* A bstr of exactly n bytes. */
fw_status fw_cbor_bstr_fixed(fw_cbor *c, const uint8_t **p, size_t n);
/* A tstr of 1..max printable ASCII bytes copied NUL-terminated into out. */
fw_status fw_cbor_text_copy(fw_cbor *c, char *out, size_t max);

/* Parses one COSE_Sign1 block of the fixed shape (docs). */
fw_status fw_sign1_parse(fw_cbor *c, fw_sign1 *s);
/* SHA-384 of the Sig_structure ["Signature1", protected, aad, payload]. */
fw_status fw_sign1_hash(const fw_ops *ops, const fw_sign1 *s, const char *aad, const uint8_t *payload,
			size_t payload_len, uint8_t out[FW_DIGEST_LEN]);
/* kid = SHA-256(SPKI DER of the point). */
fw_status fw_point_kid(const fw_ops *ops, const uint8_t point[FW_POINT_LEN], uint8_t kid[FW_KID_LEN]);
/* One ES384 signature check: FW_E_BAD_SIGNATURE unless sig's s is low
 * (1 <= s <= n/2, so (r, n - s) is never a second valid encoding of the
 * same signature) and ops verifies it. Every signature goes through here. */
fw_status fw_sig_verify(const fw_ops *ops, const uint8_t pub[FW_POINT_LEN], const uint8_t hash[FW_DIGEST_LEN],
			const uint8_t sig[FW_SIG_LEN]);
/* True if sig's s half is in 1..n/2 (P-384 group order n). */
bool fw_sig_low_s(const uint8_t sig[FW_SIG_LEN]);
/* Constant-time equality. */
bool fw_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);
/* Wipes memory in a way the compiler keeps. */
void fw_wipe(void *p, size_t n);

/* Decrypts and hashes the image into dest (verify_decrypt.c). */
fw_status fw_decrypt_image(const fw_ops *ops, const fw_manifest *m, const uint8_t *ct, size_t n,
			   uint8_t *dest, uint8_t digest[FW_DIGEST_LEN]);
/* HKDF-SHA384 (RFC 5869) with an empty salt, on the ops' SHA-384. okm_len <= 48. */
fw_status fw_hkdf_sha384(const fw_ops *ops, const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
			 size_t info_len, uint8_t *okm, size_t okm_len);

/* The external_aad strings separating the two kinds of signed payload. */
#define FW_AAD_MANIFEST "cloister-fw/manifest/1"
#define FW_AAD_TRUST "cloister-fw/trust-root/1"
/* HKDF info prefix for the image key (followed by the ephemeral point). */
#define FW_HKDF_INFO "cloister-fw/aes-256-gcm/1"
/* Protected header: {1: -35 (ES384), 4: kid} = a2 01 38 22 04 58 20 <kid>. */
#define FW_PROTECTED_LEN 39
/* Manifest map keys. */
enum {
	FW_M_FORMAT = 1,
	FW_M_VENDOR = 2,
	FW_M_CLASS = 3,
	FW_M_COMPONENT = 4,
	FW_M_VERSION = 5,
	FW_M_SEQUENCE = 6,
	FW_M_DIGEST = 7,
	FW_M_SIZE = 8,
	FW_M_CHANNEL = 9,
	FW_M_USE_BEFORE = 10,
	FW_M_ENCRYPTION = 11,
};
/* Trust-root body keys. */
enum {
	FW_T_VERSION = 1,
	FW_T_THRESHOLD = 2,
	FW_T_SIGNERS = 3,
	FW_T_EXPIRES = 4,
};

#endif
