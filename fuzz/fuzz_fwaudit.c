/* fuzz_fwaudit.c — the audit log reader: the chain walk over a whole file
 * image and the record decoder. A record that decodes must re-encode to the
 * same bytes (one record, one encoding: what is hashed is what is read), and
 * the walk's report must stay inside the input. */
#include <stdint.h>
#include <string.h>

#include "fwguard/fwaudit.h"

static int check_record(const fwg_audit_rec *r, void *ctx)
{
	(void)ctx;
	if (r->seq == 0 || strlen(r->addr) >= sizeof(r->addr) || strlen(r->detail) > FWA_DETAIL_MAX)
		__builtin_trap();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fwa_report rep;
	fwg_audit_rec r;
	fwa_walk(data, size, &rep, check_record, NULL);
	if (rep.good_len > size || (rep.ok && rep.good_len != size) || (!rep.ok && rep.bad_offset > size))
		__builtin_trap();
	/* The input as one record body: strict decode, canonical re-encode. */
	if (fwa_decode(data, size, &r) == CL_OK) {
		cl_buf b;
		cl_buf_init(&b, FWA_BODY_MAX);
		if (fwa_encode(&r, &b) != CL_OK || b.len != size || memcmp(b.data, data, size) != 0)
			__builtin_trap();
		cl_buf_free(&b);
	}
	return 0;
}
