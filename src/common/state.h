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

/* The PCR7 extends an enclave had when it was suspended (docs/suspend.md
 * "PCR7"): the file CL_STATE_FILE, the first entry of the blob's tar (so
 * the tag covers it), never a file of the restored /tmp:
 *
 *   "cloister-pcr7/1\n"  then, per extend, "7 " <96 lower-case hex of the SHA-384> "\n"
 *
 * Each extend is CL_STATE_EXTEND_LEN bytes in memory: u8 register (always
 * CL_STATE_EXTEND_REGISTER) || SHA-384, as the EXTEND frame's payload. At
 * most CL_STATE_EXTENDS_MAX: an enclave installs one bundle (its PCR7 is
 * extended once), and the host records one (agent_pcrs.h). */
#define CL_STATE_FILE ".cloister-state"
#define CL_STATE_FILE_MAGIC "cloister-pcr7/1\n"
#define CL_STATE_EXTEND_LEN 49u
#define CL_STATE_EXTEND_REGISTER 7u
#define CL_STATE_EXTENDS_MAX 1u
#define CL_STATE_FILE_MAX (sizeof(CL_STATE_FILE_MAGIC) - 1 + CL_STATE_EXTENDS_MAX * (2u + 96u + 1u))

/* Writes the file for ext[0..n) into out (CL_STATE_FILE_MAX bytes), its
 * length into *len. CL_EINVAL if n > CL_STATE_EXTENDS_MAX or a register is
 * not CL_STATE_EXTEND_REGISTER. */
CL_MUST_CHECK cl_err cl_state_file_put(const uint8_t ext[][CL_STATE_EXTEND_LEN], size_t n,
				       uint8_t out[CL_STATE_FILE_MAX], size_t *len);

/* Parses the file p[0..plen) strictly into ext (CL_STATE_EXTENDS_MAX
 * entries), their count into *n. CL_EINVAL with *why (a static string)
 * if anything differs from the format above: the magic line, a register
 * other than 7, hex that is not 96 lower-case digits, a missing newline,
 * more than CL_STATE_EXTENDS_MAX lines, trailing bytes. */
CL_MUST_CHECK cl_err cl_state_file_parse(const uint8_t *p, size_t plen, uint8_t ext[][CL_STATE_EXTEND_LEN],
					 size_t *n, const char **why);

/* One extend as 98 lower-case hex digits (register byte first), the form
 * init hands it to init-bundle (`--extend HEX`), into ext. CL_EINVAL
 * unless hex is exactly that, with register CL_STATE_EXTEND_REGISTER. */
CL_MUST_CHECK cl_err cl_state_extend_from_hex(const char *hex, uint8_t ext[CL_STATE_EXTEND_LEN]);

#endif
