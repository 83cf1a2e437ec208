/* fw_verify.h — libcloister-fw: the firmware bundle verifier's public header.
 *
 * This is the whole API a device's root of trust needs: the verifier's types,
 * its refusal reasons (fw_status), its limits (fw_limits.h) and the parse,
 * trust-chain and verify/decrypt calls. The verifier (verify_*.c, built
 * alone as build/lib/libcloister-fw.a) is portable C11: it never allocates
 * (no malloc anywhere on its path), takes every buffer from the caller,
 * uses a bounded stack (no recursion), compares digests in constant time
 * and reaches crypto only through the small fw_ops table below. It links
 * against nothing but memcpy/memset/memcmp/memmove/strcmp/strlen
 * (tests/integration/fw_noalloc.sh checks the objects' symbols).
 *
 * This header and the verifier include nothing but <stdint.h>, <stddef.h>,
 * <stdbool.h>, <string.h> and fw_limits.h: nothing of Cloister's src/common,
 * OpenSSL or jansson (tests/integration/fw_standalone.sh compiles them
 * freestanding with only -Isrc/fw and links a program against the library
 * alone). Results are fw_status values, never cl_err.
 *
 * The host-side tools (key files, bundle and trust-root signing, the
 * OpenSSL fw_ops) are in fw_tools.h: they allocate and return cl_err.
 *
 * Byte-level formats: docs/firmware-bundle.md.
 */
#ifndef CL_FW_VERIFY_H
#define CL_FW_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_limits.h" /* FW_MAX_SIGNERS, FW_MAX_STR, FW_MAX_IMAGE, FW_SEQ_MAX, ... */

/* ---------------------------------------------------------------- limits */

#define FW_UUID_LEN 16
#define FW_POINT_LEN 97 /* uncompressed P-384 point: 0x04 || X || Y */
#define FW_KID_LEN 32   /* SHA-256 of the SubjectPublicKeyInfo DER */
#define FW_SIG_LEN 96   /* ECDSA P-384 r || s; s must be low (<= n/2) */
#define FW_DIGEST_LEN 48
#define FW_MAX_REVOKED 32        /* remembered rotated-out keys */
#define FW_MAX_MANIFEST 1024     /* encoded manifest bytes */
#define FW_MAX_TRUST_BODY 2048   /* encoded trust-root body bytes */
/* Numeric ranges (sequence, sizes, times, versions): fw/fw_limits.h. */

/* ---------------------------------------------------------------- status */

/* Why a bundle or trust root was refused. Stable numbers: append only. */
typedef enum fw_status {
	FW_OK = 0,
	FW_E_UNSIGNED = 1,          /* no authentication block at all */
	FW_E_UNKNOWN_SIGNER = 2,    /* a block's kid is no current signer */
	FW_E_BELOW_THRESHOLD = 3,   /* fewer than k distinct valid signers */
	FW_E_DUPLICATE_SIGNER = 4,  /* below k once repeated keys count once */
	FW_E_REVOKED_SIGNER = 5,    /* a block's kid was rotated out */
	FW_E_BAD_SIGNATURE = 6,     /* a known signer's signature does not verify */
	FW_E_TRUST_CHAIN = 7,       /* trust-root doc not signed by both thresholds / wrong version */
	FW_E_TRUST_THRESHOLD = 8,   /* trust root with k = 0 or k > n */
	FW_E_TRUST_EXPIRED = 9,     /* current trust root past its expiry */
	FW_E_TRUST_STALE = 10,      /* trust root older than the device's floor */
	FW_E_ROLLBACK = 11,         /* sequence <= device counter */
	FW_E_WRONG_VENDOR = 12,
	FW_E_WRONG_CLASS = 13,
	FW_E_WRONG_COMPONENT = 14,
	FW_E_DIGEST_MISMATCH = 15,
	FW_E_SIZE_MISMATCH = 16,    /* image length != manifest size */
	FW_E_TRUNCATED = 17,        /* input ends inside the structure */
	FW_E_OVERSIZED = 18,        /* trailing bytes, or a count/length over a limit */
	FW_E_MALFORMED = 19,        /* not the strict canonical encoding */
	FW_E_EXPIRED = 20,          /* device clock past use-before */
	FW_E_DECRYPT = 21,          /* encrypted image does not decrypt/authenticate */
	FW_E_NO_SPACE = 22,         /* destination buffer too small */
	FW_E_CRYPTO = 23,           /* a crypto operation failed to run */
	FW_E_ARGUMENT = 24,         /* caller error (NULL, bad state) */
	FW_E_NO_DEVICE_KEY = 25,    /* image encrypted but no ecdh op/device key */
} fw_status;

/* Stable lower-case name ("below_threshold", ...). Static string, never NULL. */
const char *fw_status_name(fw_status s);
/* One-line English description. Static string, never NULL. */
const char *fw_status_str(fw_status s);

/* ---------------------------------------------------------------- crypto ops */

/* Opaque storage for a hash or AEAD state owned by the caller's stack/work
 * area; an ops implementation keeps its state inside (no allocation needed). */
typedef struct fw_hash_ctx {
	_Alignas(16) uint8_t opaque[256];
} fw_hash_ctx;
typedef struct fw_aead_ctx {
	_Alignas(16) uint8_t opaque[64];
} fw_aead_ctx;

/* The crypto the verifier needs. Every function returns 1 on success
 * (for verify: signature valid), 0 on failure. `ctx` is the table's ctx.
 * The decryption entries may be NULL when the device has no key. */
typedef struct fw_ops {
	void *ctx;
	int (*sha384_init)(void *ctx, fw_hash_ctx *h);
	int (*sha384_update)(void *ctx, fw_hash_ctx *h, const uint8_t *p, size_t n);
	int (*sha384_final)(void *ctx, fw_hash_ctx *h, uint8_t out[FW_DIGEST_LEN]);
	int (*sha256)(void *ctx, const uint8_t *p, size_t n, uint8_t out[FW_KID_LEN]);
	int (*ecdsa_p384_verify)(void *ctx, const uint8_t pub[FW_POINT_LEN],
				 const uint8_t hash[FW_DIGEST_LEN], const uint8_t sig[FW_SIG_LEN]);
	/* ECDH with the device's private key (held by the implementation): z = x(d * peer). */
	int (*ecdh_p384)(void *ctx, const uint8_t peer[FW_POINT_LEN], uint8_t z[48]);
	int (*aes256gcm_init)(void *ctx, fw_aead_ctx *a, const uint8_t key[32], const uint8_t iv[12]);
	int (*aes256gcm_update)(void *ctx, fw_aead_ctx *a, const uint8_t *in, uint8_t *out, size_t n);
	/* Checks the tag; must release any state whatever the result. */
	int (*aes256gcm_final)(void *ctx, fw_aead_ctx *a, const uint8_t tag[16]);
	/* Releases state after init when final will not be called. */
	void (*aes256gcm_abort)(void *ctx, fw_aead_ctx *a);
	/* Optional, for a device key held in another process: the image key
	 * HKDF-SHA384(0^48, x(d * enc_point), "cloister-fw/aes-256-gcm/1" || enc_point)[0..32]
	 * derived where the key lives. When set, ecdh_p384 is not used and the
	 * shared secret never reaches the verifier. */
	int (*image_key)(void *ctx, const uint8_t enc_point[FW_POINT_LEN], uint8_t key[32]);
} fw_ops;

/* ---------------------------------------------------------------- views */

/* One COSE_Sign1 authentication block, pointing into the parsed input. */
typedef struct fw_sign1 {
	const uint8_t *protected_hdr; /* the protected header bstr contents */
	size_t protected_len;
	const uint8_t *kid; /* FW_KID_LEN bytes */
	const uint8_t *sig; /* FW_SIG_LEN bytes */
} fw_sign1;

/* A decoded manifest. Strings are copied and NUL-terminated. */
typedef struct fw_manifest {
	uint8_t vendor[FW_UUID_LEN];
	uint8_t class_id[FW_UUID_LEN];
	char component[FW_MAX_STR + 1];
	char version[FW_MAX_STR + 1];
	char channel[FW_MAX_STR + 1];
	uint64_t sequence;
	uint8_t digest[FW_DIGEST_LEN];
	uint64_t size;
	bool has_use_before;
	uint64_t use_before;
	bool encrypted;
	uint8_t enc_point[FW_POINT_LEN];
	uint8_t enc_iv[12];
	uint8_t enc_tag[16];
} fw_manifest;

/* A structurally parsed bundle (nothing verified). Pointers into the input. */
typedef struct fw_bundle_view {
	const uint8_t *manifest; /* encoded manifest bytes (the signed payload) */
	size_t manifest_len;
	fw_manifest m;
	size_t nsig;
	fw_sign1 sig[FW_MAX_SIGNERS];
	const uint8_t *image;
	size_t image_len;
} fw_bundle_view;

/* Parses a bundle strictly (canonical CBOR subset, schema, limits) without
 * verifying anything: sequence 1..FW_SEQ_MAX, image size 1..FW_MAX_IMAGE,
 * use-before 1..FW_UINT_MAX (else FW_E_MALFORMED / FW_E_OVERSIZED).
 * Allocation-free; *v points into `in`. */
fw_status fw_bundle_parse(const uint8_t *in, size_t len, fw_bundle_view *v);

/* A decoded trust-root document body. Pointers into the input. */
typedef struct fw_trust_doc {
	const uint8_t *body; /* signed payload */
	size_t body_len;
	uint64_t version;
	uint64_t threshold;
	size_t nkeys;
	const uint8_t *keys[FW_MAX_SIGNERS]; /* FW_POINT_LEN each */
	bool has_expires;
	uint64_t expires;
	size_t nsig;
	fw_sign1 sig[FW_MAX_SIGNERS];
} fw_trust_doc;

/* Parses a trust-root document strictly without verifying it. k = 0,
 * k > n and duplicate keys are refused here (FW_E_TRUST_THRESHOLD /
 * FW_E_MALFORMED), so is a version or expiry outside 1..FW_UINT_MAX.
 * Allocation-free; *d points into `in`. */
fw_status fw_trust_doc_parse(const uint8_t *in, size_t len, fw_trust_doc *d);

/* ---------------------------------------------------------------- trust state */

/* The device's verified view of its signers: what the ROM root key, through
 * a chain of trust-root documents v1..vN, currently authorises. Plain data
 * (about 5 KiB): the caller owns it (static storage on a device). */
typedef struct fw_trust {
	uint8_t root[FW_POINT_LEN];
	uint8_t root_kid[FW_KID_LEN];
	uint64_t version; /* 0 before the first document */
	uint64_t threshold;
	size_t nkeys;
	uint8_t keys[FW_MAX_SIGNERS][FW_POINT_LEN];
	uint8_t kids[FW_MAX_SIGNERS][FW_KID_LEN];
	bool has_expires;
	uint64_t expires;
	size_t nrevoked;
	uint8_t revoked[FW_MAX_REVOKED][FW_KID_LEN];
} fw_trust;

/* Starts a trust state from the ROM root public key (an uncompressed point). */
fw_status fw_trust_init(fw_trust *t, const uint8_t root[FW_POINT_LEN], const fw_ops *ops);

/* Applies the next trust-root document. Version 1 must carry a valid
 * signature of the root key. Version N+1 (exactly N+1) must carry valid
 * signatures of >= k_N distinct keys of version N AND >= k_{N+1} distinct
 * keys of version N+1 (a key listed in both counts for both). The root key
 * may co-sign any version; it counts towards a threshold only where it is
 * listed as a signer. Any block that is not a valid signature of a permitted
 * key refuses the document. Keys of N that N+1 drops become revoked. `next`
 * is scratch of the caller's (no allocation); on failure *t is unchanged. */
fw_status fw_trust_apply(fw_trust *t, fw_trust *next, const uint8_t *doc, size_t len,
			 const fw_ops *ops);
/* fw_trust_apply for a document a device is about to accept (the first
 * one, or a rotation): also refuses one that has already expired at `now`
 * (FW_E_TRUST_EXPIRED), which would otherwise be accepted and then refuse
 * every bundle until the next rotation. fw_trust_apply alone is for
 * rebuilding a chain accepted earlier (its older versions may since have
 * expired; only the current one's expiry matters, at bundle verification). */
fw_status fw_trust_apply_at(fw_trust *t, fw_trust *next, const uint8_t *doc, size_t len, uint64_t now,
			    const fw_ops *ops);

/* ---------------------------------------------------------------- verify */

/* What the device knows about itself. */
typedef struct fw_device {
	uint8_t vendor[FW_UUID_LEN];
	uint8_t class_id[FW_UUID_LEN];
	const char *component; /* bus address, e.g. "0000:03:00.0" */
	uint64_t counter;      /* monotonic security counter: accept sequence > counter */
	uint64_t now;          /* secure clock, unix seconds */
	uint64_t trust_floor;  /* lowest acceptable trust-root version (persisted) */
} fw_device;

typedef struct fw_result {
	uint64_t sequence;
	char version[FW_MAX_STR + 1];
	char channel[FW_MAX_STR + 1];
	size_t image_len; /* bytes written to dest */
	size_t signers;   /* distinct valid signer keys counted */
} fw_result;

/* Verifies a bundle for this device and, only then, leaves the image in
 * dest[0..image_len). Checks, in order: strict parse; trust root current
 * (floor, expiry); every authentication block a valid low-s ES384
 * signature of a current signer; >= threshold distinct keys (never zero); vendor, class,
 * component; sequence > counter; use-before; size; then one pass that copies
 * (or decrypts) the image into dest and hashes what was written, and a
 * constant-time digest comparison. On a refusal after the image pass began,
 * the bytes written to dest are wiped; res is zeroed on any refusal. The caller
 * persists counter = res->sequence after writing the image. Allocation-free. */
fw_status fw_verify_bundle(const fw_trust *t, const fw_device *dev, const fw_ops *ops,
			   const uint8_t *bundle, size_t len, uint8_t *dest, size_t dest_cap,
			   fw_result *res);

/* ---------------------------------------------------------------- for tools */

/* Tools only, never on a device: a trust state taken from one document
 * WITHOUT checking its signatures or chain, so a tool can check locally that
 * a rotation it is about to distribute meets both thresholds. root (the ROM
 * key's point) may be NULL. */
fw_status fw_trust_assume(fw_trust *t, const uint8_t *doc, size_t len, const uint8_t *root, const fw_ops *ops);

#endif
