/* attest.h — attestation documents: build, parse, verify (docs/attestation.md).
 *
 * A document is laid out exactly like an AWS Nitro Enclaves attestation
 * document, so tools written for Nitro verify it against Cloister's root:
 * an untagged COSE_Sign1 array [protected, unprotected, payload, signature]
 * with protected = bstr of the map {1: -35} (ES384), unprotected = {} (empty
 * map), signature = 96 bytes r || s, and payload = bstr of a CBOR map whose
 * keys come in exactly this order:
 *
 *   module_id   text   (the enclave id)
 *   digest      text   "SHA384"
 *   timestamp   uint   ms since the epoch
 *   pcrs        map    uint 0..15 -> bstr[48]  (all sixteen, in order)
 *   certificate bstr   DER of the host's attestation leaf
 *   cabundle    array  of DER bstr, root first (root, hosts intermediate)
 *   public_key  bstr or null   (<= CL_ATT_PUBKEY_MAX)
 *   user_data   bstr or null   (<= CL_ATT_USER_DATA_MAX)
 *   nonce       bstr or null   (<= CL_ATT_NONCE_MAX)
 *
 * The signature is ECDSA P-384 over SHA-384 of the COSE Sig_structure
 * ["Signature1", protected, h'', payload] made by the host leaf's key, which
 * only the host's key holder holds: building a document therefore takes a
 * signing callback, never a private key.
 *
 * Encoding and decoding use libcbor. The parser trusts nothing: definite
 * lengths only, exact key order, no duplicate or unknown key, no trailing
 * bytes, every size capped; a failure names the field.
 */
#ifndef CL_ATTEST_H
#define CL_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

#define CL_ATT_NPCRS 16
#define CL_ATT_PCR_LEN 48
#define CL_ATT_DIGEST_LEN 48
#define CL_ATT_SIG_LEN 96
#define CL_ATT_PUBKEY_MAX 1024
#define CL_ATT_USER_DATA_MAX 512
#define CL_ATT_NONCE_MAX 512
#define CL_ATT_MODULE_ID_MAX 128
#define CL_ATT_CERT_MAX 8192      /* one DER certificate */
#define CL_ATT_CABUNDLE_MAX 4     /* certificates in cabundle */
#define CL_ATT_DOC_MAX 65536      /* a whole document; larger is refused unread */

/* A byte string; p == NULL means absent (encoded as null). */
typedef struct cl_att_bytes {
	const uint8_t *p;
	size_t n;
} cl_att_bytes;

/* What a document says. For cl_att_build the pointers are the caller's; in a
 * parsed cl_att_doc they point into the document's own copy. */
typedef struct cl_att_fields {
	const char *module_id;  /* 1..CL_ATT_MODULE_ID_MAX bytes of printable ASCII */
	uint64_t timestamp_ms;
	uint8_t pcrs[CL_ATT_NPCRS][CL_ATT_PCR_LEN];
	cl_att_bytes certificate;
	cl_att_bytes cabundle[CL_ATT_CABUNDLE_MAX];
	size_t ncabundle;       /* 1..CL_ATT_CABUNDLE_MAX */
	cl_att_bytes public_key;
	cl_att_bytes user_data;
	cl_att_bytes nonce;
} cl_att_fields;

/* Signs a SHA-384 digest with the host's attestation key: r || s, 48 bytes
 * each (e.g. cl_kh_sign on slot "attest"). */
typedef cl_err (*cl_att_sign_fn)(void *ctx, const uint8_t digest[CL_ATT_DIGEST_LEN], uint8_t sig[CL_ATT_SIG_LEN]);

/* Encodes f, has sign() sign the Sig_structure's SHA-384 and returns the
 * untagged COSE_Sign1 in *doc (malloc'd, the caller frees) and *len.
 * CL_EINVAL with a detail when a field breaks a rule above (nothing is
 * signed then); sign()'s error as it is. */
CL_MUST_CHECK cl_err cl_att_build(const cl_att_fields *f, cl_att_sign_fn sign, void *ctx, uint8_t **doc,
				  size_t *len);

/* A parsed document. Every pointer in f points into raw. */
typedef struct cl_att_doc {
	cl_att_fields f;
	uint8_t signature[CL_ATT_SIG_LEN];
	uint8_t tbs_digest[CL_ATT_DIGEST_LEN]; /* SHA-384 of the Sig_structure */
	uint8_t *raw;                          /* the document's bytes (owned) */
	size_t raw_len;
	char module_id[CL_ATT_MODULE_ID_MAX + 1];
} cl_att_doc;

/* Parses a document (a tagged COSE_Sign1, tag 18, is accepted too). Checks
 * structure only: no signature or certificate is checked here. *out is the
 * caller's (cl_att_doc_free). CL_EINVAL with a detail naming the field;
 * CL_ETOOBIG past CL_ATT_DOC_MAX. */
CL_MUST_CHECK cl_err cl_att_parse(const uint8_t *buf, size_t len, cl_att_doc **out);

/* Frees a parsed document (NULL is fine). */
void cl_att_doc_free(cl_att_doc *d);

/* Which check a verification failed. */
enum cl_att_check {
	CL_ATT_CHECK_NONE = 0,
	CL_ATT_CHECK_FORMAT,     /* the document does not parse */
	CL_ATT_CHECK_ROOT,       /* cabundle[0] is not the trusted root */
	CL_ATT_CHECK_CHAIN,      /* chain, dates, basicConstraints, path length, key usage */
	CL_ATT_CHECK_SIGNATURE,  /* the COSE signature under the leaf's key */
	CL_ATT_CHECK_PCR,        /* an expected PCR differs */
	CL_ATT_CHECK_NONCE,      /* the nonce is absent or differs */
	CL_ATT_CHECK_REVOKED,    /* the leaf is revoked (online check, done by the caller) */
};

/* What a verifier expects. */
typedef struct cl_att_expect {
	const uint8_t *root_der;  /* the trusted root certificate (DER) */
	size_t root_len;
	time_t now;               /* certificates must be valid at this time */
	uint16_t pcr_mask;        /* bit i set: pcrs[i] must equal pcr[i] */
	uint8_t pcr[CL_ATT_NPCRS][CL_ATT_PCR_LEN];
	const uint8_t *nonce;     /* NULL: no nonce check */
	size_t nonce_len;
} cl_att_expect;

/* Verifies d against e: the root, the chain (root -> intermediates ->
 * leaf: signatures, validity at e->now, basicConstraints and path length,
 * the leaf a P-384 key with keyUsage digitalSignature only and CA:FALSE),
 * the COSE signature, then the PCRs and the nonce. CL_OK, or CL_ECRYPTO
 * with a detail saying precisely what failed and *failed set (if not NULL). */
CL_MUST_CHECK cl_err cl_att_verify(const cl_att_doc *d, const cl_att_expect *e, enum cl_att_check *failed);

/* The leaf certificate's serial number as lower-case hex (no leading
 * zeros, at most 40 digits) into hex[41]: what the online revocation check
 * asks about. CL_EINVAL if the certificate does not parse. */
CL_MUST_CHECK cl_err cl_att_leaf_serial(const cl_att_doc *d, char hex[41]);

/* A static name for a check ("chain", "pcr"...). */
const char *cl_att_check_name(enum cl_att_check c);

#endif
