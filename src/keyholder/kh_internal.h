/* kh_internal.h — the key holder's pieces: the key store (kh_store.c), the
 * P-384 and P-256 operations on raw scalars (kh_crypto.c), the request handlers and
 * policy (kh_server.c). */
#ifndef CL_KH_INTERNAL_H
#define CL_KH_INTERNAL_H

#include <openssl/types.h>

#include "common/secmem.h"
#include "keyholder/keyholder.h"

#define KH_SCRATCH_LEN 4096 /* a key file's bytes (PEM P-384 is ~300) */

typedef struct kh_slot {
	bool used;
	char name[CL_KH_SLOT_MAX + 1];
	enum cl_kh_purpose purpose;
	enum cl_kh_curve curve; /* P-256 for tls/ slots, P-384 for the others */
	uint8_t point[CL_KH_POINT_LEN]; /* kh_point_len(curve) bytes used */
	uint8_t *scalar; /* CL_KH_SCALAR_LEN bytes in the secret arena, fixed per slot (P-256: the first 32) */
} kh_slot;

struct cl_kh {
	int dirfd;        /* the key directory; every path is relative to it */
	unsigned flags;   /* CL_KH_OPEN_* */
	cl_secmem arena;  /* scalars of every slot, then the scratch */
	uint8_t *scratch; /* KH_SCRATCH_LEN bytes of secret memory */
	kh_slot *slots;   /* CL_KH_MAX_SLOTS */
	size_t count;
};

/* ---------------------------------------------------------------- kh_store.c */

/* Checks a slot name's syntax ("attest", "dev/<name>", "tls/<name>" with
 * <name> 1..CL_KH_NAME_MAX of [A-Za-z0-9._:-], starting alphanumeric) and
 * returns its kind's purpose. CL_EINVAL otherwise. */
CL_MUST_CHECK cl_err kh_slot_purpose(const char *slot, enum cl_kh_purpose *purpose);
/* Whether keys of this purpose live in memory only (tls/ slots): never
 * written to the key directory, never loaded from it. */
bool kh_memory_only(enum cl_kh_purpose purpose);
/* The slot holding a key with that name, or NULL. */
kh_slot *kh_find(cl_kh *kh, const char *slot);
/* Creates a new key of curve in slot (must not exist: in memory or on disk)
 * and, unless its kind is memory-only or the holder NO_PERSIST, writes it
 * 0600; *out is the new slot. */
CL_MUST_CHECK cl_err kh_create(cl_kh *kh, const char *slot, enum cl_kh_purpose purpose, enum cl_kh_curve curve,
			       kh_slot **out);
/* Removes the key file (unless memory-only or NO_PERSIST) then wipes the slot. */
CL_MUST_CHECK cl_err kh_remove(cl_kh *kh, kh_slot *s);

/* ---------------------------------------------------------------- kh_crypto.c */

/* Sizes of a curve's point, scalar and r || s signature. */
size_t kh_point_len(enum cl_kh_curve curve);
size_t kh_scalar_len(enum cl_kh_curve curve);
size_t kh_sig_len(enum cl_kh_curve curve);

/* A new random key on curve: scalar and point filled (kh_scalar_len and
 * kh_point_len bytes), the PEM PKCS#8 encoding in pem[cap] (*pem_len bytes;
 * pem may be NULL to skip it). */
CL_MUST_CHECK cl_err kh_crypto_generate(enum cl_kh_curve curve, uint8_t scalar[CL_KH_SCALAR_LEN],
					uint8_t point[CL_KH_POINT_LEN], uint8_t *pem, size_t cap, size_t *pem_len);
/* Parses a PEM private key (pem[n], no password) that must be P-384 into
 * scalar and point. */
CL_MUST_CHECK cl_err kh_crypto_load_pem(const uint8_t *pem, size_t n, uint8_t scalar[CL_KH_SCALAR_LEN],
					uint8_t point[CL_KH_POINT_LEN]);
/* ECDSA on curve over digest[n] (1..CL_KH_DIGEST_MAX), r || s with s <=
 * order/2 into sig (kh_sig_len(curve) bytes written). */
CL_MUST_CHECK cl_err kh_crypto_sign(enum cl_kh_curve curve, const uint8_t scalar[CL_KH_SCALAR_LEN],
				    const uint8_t point[CL_KH_POINT_LEN], const uint8_t *digest, size_t n,
				    uint8_t sig[CL_KH_SIG_LEN]);
/* The proof of possession of tls-generate: SHA-256(CL_KH_TLS_POP_LABEL 0x00
 * host_id 0x00 slot 0x00 point[65]) into md. */
CL_MUST_CHECK cl_err kh_crypto_tls_pop_digest(const char *host_id, const char *slot,
					      const uint8_t point[CL_KH_P256_POINT_LEN], uint8_t md[32]);
/* Validates peer (uncompressed, on P-384, not infinity) and derives key for use. */
CL_MUST_CHECK cl_err kh_crypto_ecdh(const uint8_t scalar[CL_KH_SCALAR_LEN], const uint8_t point[CL_KH_POINT_LEN],
				    enum cl_kh_use use, const uint8_t peer[CL_KH_POINT_LEN],
				    uint8_t key[CL_KH_KEY_LEN]);
/* An enclave's sealing key: HKDF-SHA384(salt = 0^48, ikm = secret (the
 * "seal" slot's scalar), info = CL_KH_SEAL_INFO 0x00 tenant 0x00 pcrs label). */
CL_MUST_CHECK cl_err kh_crypto_seal(const uint8_t secret[CL_KH_SCALAR_LEN], const char *tenant,
				    const uint8_t pcrs[CL_KH_PCRS_LEN], const uint8_t *label, size_t label_len,
				    uint8_t key[CL_KH_KEY_LEN]);
/* Runs each operation once on a throwaway key: loads every lazily
 * initialised OpenSSL path before the seccomp filter, and checks it works. */
CL_MUST_CHECK cl_err kh_crypto_selftest(void);
/* Makes every normal-heap block OpenSSL frees from now on wiped first (its
 * encoders and decoders leave copies of a private scalar in temporaries: a
 * DER buffer, base64 text). Only possible before OpenSSL's first
 * allocation in this process; false if it was too late. */
bool kh_crypto_wipe_heap(void);

#endif
