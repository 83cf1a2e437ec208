/* state.h — the suspend blob's header (docs/suspend.md "The blob"):
 *
 *   "cloister-state/1" (16) || idlen (u8, 1..63) || enclave id || n (u64 BE, >= 1) || iv (12)
 *
 * then AES-256-GCM(K_n, iv, tar, aad = the header without its iv) and the
 * 16-byte tag. libc only (cloister-init-bundle links it statically), so
 * errors are bare cl_err codes. Fuzzed by fuzz/fuzz_state.c.
 */
#ifndef CL_COMMON_STATE_H
#define CL_COMMON_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CL_STATE_MAGIC "cloister-state/1"
#define CL_STATE_MAGIC_LEN 16u
#define CL_STATE_ID_MAX 63u
#define CL_STATE_IV_LEN 12u
#define CL_STATE_TAG_LEN 16u
#define CL_STATE_HEADER_MAX (CL_STATE_MAGIC_LEN + 1u + CL_STATE_ID_MAX + 8u + CL_STATE_IV_LEN)

typedef struct cl_state_header {
	char enclave_id[CL_STATE_ID_MAX + 1];
	uint64_t n;
	uint8_t iv[CL_STATE_IV_LEN];
	size_t len;     /* the header's bytes (the body follows) */
	size_t aad_len; /* the associated data: the header's first aad_len bytes */
} cl_state_header;

/* Writes the header for enclave_id (1..63 bytes of [A-Za-z0-9_.-]), n
 * (>= 1) and iv into out (CL_STATE_HEADER_MAX bytes), its length into *len;
 * the aad is out[0 .. *len - CL_STATE_IV_LEN). CL_EINVAL for a bad id or n. */
CL_MUST_CHECK cl_err cl_state_header_put(uint8_t out[CL_STATE_HEADER_MAX], const char *enclave_id, uint64_t n,
					 const uint8_t iv[CL_STATE_IV_LEN], size_t *len);

/* Parses the header at the start of p[0..plen) into *h (the body and tag
 * follow at p + h->len). CL_EINVAL if the magic differs, the id is empty,
 * too long or has a byte outside [A-Za-z0-9_.-], n is 0, or p is too short
 * to hold the header and a tag. */
CL_MUST_CHECK cl_err cl_state_header_parse(const uint8_t *p, size_t plen, cl_state_header *h);

#endif
