/* attest_internal.h — what the attest component's files share (not public).
 *
 * The byte-exact pieces of the COSE_Sign1 envelope, and the Sig_structure
 * digest that both cl_att_build (before signing) and cl_att_parse (for the
 * verifier) compute the same way.
 */
#ifndef CL_ATTEST_INTERNAL_H
#define CL_ATTEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"

/* The protected header, bstr-wrapped in the document: the map {1: -35}
 * (alg: ES384), encoded as a1 01 38 22. Nothing else is accepted. */
#define CL_ATT_PROTECTED_LEN 4
extern const uint8_t cl_att_protected[CL_ATT_PROTECTED_LEN];

/* The COSE tag of a COSE_Sign1 (accepted on input, never written). */
#define CL_ATT_COSE_SIGN1_TAG 18

/* The payload map's keys, in the only order accepted. */
#define CL_ATT_NKEYS 9
extern const char *const cl_att_keys[CL_ATT_NKEYS];

/* SHA-384 of the COSE Sig_structure ["Signature1", protected, h'', payload]
 * for our fixed protected header. CL_EINTERNAL if OpenSSL fails. */
CL_MUST_CHECK cl_err cl_att_sig_digest(const uint8_t *payload, size_t n, uint8_t out[CL_ATT_DIGEST_LEN]);

#endif
