/* Fuzzes the secure module's wire format (src/guestif/guestif_nsm.c) the way
 * the guest interface process and the gate use it:
 *   - the input, as the bytes an enclave writes to nsm.sock, is cut into
 *     frames by cl_nsm_frame_len; each whole frame's payload is parsed
 *     (copied to a buffer of exactly its size, so ASan sees any read past
 *     it); a parsed request must keep its fields within their caps and
 *     inside the payload, and must encode back to the same frame; a refusal
 *     must format as one answer frame;
 *   - the same bytes, as a query payload the gate decodes (both types): the
 *     decoded fields within their caps and inside the payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ipc.h"
#include "guestif/guestif.h"

static void inside(const uint8_t *base, size_t n, const uint8_t *p, size_t len)
{
	if (len && (!p || p < base || p + len > base + n))
		abort();
}

static void check(const cl_nsm_req *r, const uint8_t *base, size_t n)
{
	if (r->nonce_len > CL_NSM_NONCE_MAX || r->user_data_len > CL_NSM_USER_DATA_MAX ||
	    r->public_key_len > CL_NSM_PUBKEY_MAX || r->label_len > CL_NSM_LABEL_MAX)
		abort();
	if (r->type == CL_NSM_SEAL_KEY && r->label_len < 1)
		abort();
	inside(base, n, r->nonce, r->nonce_len);
	inside(base, n, r->user_data, r->user_data_len);
	inside(base, n, r->public_key, r->public_key_len);
	inside(base, n, r->label, r->label_len);
}

static void frames(const uint8_t *data, size_t size)
{
	cl_buf out;
	cl_buf_init(&out, 1 << 16);
	while (size > 0) {
		size_t total = 0;
		if (cl_nsm_frame_len(data, size, &total) != CL_OK) {
			if (cl_nsm_format(CL_NSM_BAD_REQUEST, cl_error_detail(), strlen(cl_error_detail()), &out) != CL_OK)
				abort();
			break; /* the server closes such a connection */
		}
		if (total == 0 || total > size)
			break; /* incomplete: not a request */
		size_t n = total - 4;
		uint8_t *p = malloc(n);
		if (!p)
			break;
		memcpy(p, data + 4, n);
		cl_nsm_req r;
		if (cl_nsm_parse(p, n, &r) == CL_OK) {
			check(&r, p, n);
			cl_buf_reset(&out);
			if (cl_nsm_encode(&r, &out) != CL_OK || out.len != total || memcmp(out.data, data, total) != 0)
				abort();
		} else if (cl_nsm_format(CL_NSM_BAD_REQUEST, cl_error_detail(), strlen(cl_error_detail()), &out) !=
			   CL_OK) {
			abort();
		}
		cl_buf_reset(&out);
		free(p);
		data += total;
		size -= total;
	}
	cl_buf_free(&out);
}

static void query(uint16_t type, const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);
	cl_buf in;
	cl_nsm_q q;
	if (!p)
		return;
	memcpy(p, data, size);
	cl_buf_wrap(&in, p, size);
	if (cl_nsm_q_decode(type, &in, &q) == CL_OK) {
		if (!cl_guestif_id_valid(q.enclave))
			abort();
		check(&q.req, p, size);
	}
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	frames(data, size);
	query(CL_GUESTIF_Q_ATTEST, data, size);
	query(CL_GUESTIF_Q_SEAL, data, size);
	return 0;
}
