/* guestif_nsm.c — the secure module's wire format (guestif.h, "the secure
 * module"; docs/guest-interface.md): the frames an enclave sends on
 * /dev/cloister/nsm.sock and the queries the guest interface process makes
 * of the gate for them. Pure: no I/O, no allocation; every read is checked
 * against what is left before it happens, and every field against its cap.
 * Fuzzed by fuzz/fuzz_nsm.c. */
#include <string.h>

#include "common/ipc.h"
#include "guestif/guestif.h"

_Static_assert(sizeof(((cl_nsm_q *)0)->enclave) == CL_GUESTIF_ID_MAX + 1, "enclave id buffer");
_Static_assert(sizeof(cl_nsm_q) <= CL_IPC_ARGS_MAX, "ipc scratch");
_Static_assert(CL_NSM_ANSWER_MAX + 64 <= CL_GUESTIF_IPC_MAX, "a document answer fits the query channel");

cl_err cl_nsm_frame_len(const uint8_t *p, size_t have, size_t *total)
{
	*total = 0;
	if (have < 4)
		return CL_OK;
	uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	CL_ENSURE(n != 0, CL_EINVAL, "empty frame");
	CL_ENSURE(n <= CL_NSM_REQ_MAX, CL_ETOOBIG, "frame longer than %d bytes", CL_NSM_REQ_MAX);
	*total = 4 + (size_t)n;
	return CL_OK;
}

/* u16 length + bytes, at most max; *len 0 = absent. */
static cl_err get16(cl_buf *b, size_t max, const char *what, const uint8_t **p, size_t *len)
{
	uint16_t n = 0;
	CL_ENSURE(cl_buf_get_be16(b, &n) == CL_OK, CL_EINVAL, "truncated %s length", what);
	CL_ENSURE(n <= max, CL_EINVAL, "%s longer than %zu bytes", what, max);
	CL_ENSURE(cl_buf_get_ref(b, p, n) == CL_OK, CL_EINVAL, "truncated %s", what);
	*len = n;
	if (n == 0)
		*p = NULL;
	return CL_OK;
}

cl_err cl_nsm_parse(const uint8_t *p, size_t n, cl_nsm_req *out)
{
	cl_buf b;
	uint8_t type = 0;
	memset(out, 0, sizeof(*out));
	cl_buf_wrap(&b, p, n);
	CL_ENSURE(cl_buf_get_u8(&b, &type) == CL_OK, CL_EINVAL, "empty request");
	if (type == CL_NSM_ATTEST) {
		out->type = CL_NSM_ATTEST;
		CL_GUARD(get16(&b, CL_NSM_NONCE_MAX, "nonce", &out->nonce, &out->nonce_len));
		CL_GUARD(get16(&b, CL_NSM_USER_DATA_MAX, "user_data", &out->user_data, &out->user_data_len));
		CL_GUARD(get16(&b, CL_NSM_PUBKEY_MAX, "public_key", &out->public_key, &out->public_key_len));
	} else if (type == CL_NSM_SEAL_KEY) {
		uint8_t len = 0;
		out->type = CL_NSM_SEAL_KEY;
		CL_ENSURE(cl_buf_get_u8(&b, &len) == CL_OK, CL_EINVAL, "truncated label length");
		CL_ENSURE(len >= 1 && len <= CL_NSM_LABEL_MAX, CL_EINVAL, "label must be 1..%d bytes", CL_NSM_LABEL_MAX);
		CL_ENSURE(cl_buf_get_ref(&b, &out->label, len) == CL_OK, CL_EINVAL, "truncated label");
		out->label_len = len;
	} else {
		return cl_errorf(CL_EINVAL, "unknown request type");
	}
	CL_ENSURE(b.pos == b.len, CL_EINVAL, "trailing bytes after the request");
	return CL_OK;
}

cl_err cl_nsm_format(enum cl_nsm_status status, const void *body, size_t n, cl_buf *out)
{
	CL_ENSURE(n <= CL_NSM_ANSWER_MAX, CL_ETOOBIG, "answer too large");
	CL_GUARD(cl_buf_put_be32(out, (uint32_t)(1 + n)));
	CL_GUARD(cl_buf_put_u8(out, (uint8_t)status));
	return n ? cl_buf_put(out, body, n) : CL_OK;
}

static cl_err put16(cl_buf *b, const uint8_t *p, size_t n, size_t max)
{
	CL_ENSURE(n <= max, CL_ETOOBIG, "field over its cap");
	CL_GUARD(cl_buf_put_be16(b, (uint16_t)n));
	return n ? cl_buf_put(b, p, n) : CL_OK;
}

cl_err cl_nsm_encode(const cl_nsm_req *r, cl_buf *out)
{
	size_t at = out->len;
	CL_GUARD(cl_buf_put_be32(out, 0)); /* patched below */
	if (r->type == CL_NSM_ATTEST) {
		CL_GUARD(cl_buf_put_u8(out, CL_NSM_ATTEST));
		CL_GUARD(put16(out, r->nonce, r->nonce_len, CL_NSM_NONCE_MAX));
		CL_GUARD(put16(out, r->user_data, r->user_data_len, CL_NSM_USER_DATA_MAX));
		CL_GUARD(put16(out, r->public_key, r->public_key_len, CL_NSM_PUBKEY_MAX));
	} else {
		CL_ENSURE(r->type == CL_NSM_SEAL_KEY && r->label_len >= 1 && r->label_len <= CL_NSM_LABEL_MAX, CL_EINVAL,
			  "bad secure-module request");
		CL_GUARD(cl_buf_put_u8(out, CL_NSM_SEAL_KEY));
		CL_GUARD(cl_buf_put_u8(out, (uint8_t)r->label_len));
		CL_GUARD(cl_buf_put(out, r->label, r->label_len));
	}
	uint32_t n = (uint32_t)(out->len - at - 4);
	out->data[at] = (uint8_t)(n >> 24);
	out->data[at + 1] = (uint8_t)(n >> 16);
	out->data[at + 2] = (uint8_t)(n >> 8);
	out->data[at + 3] = (uint8_t)n;
	return CL_OK;
}

cl_err cl_nsm_q_encode(const char *enclave, const cl_nsm_req *r, cl_buf *out)
{
	cl_buf_reset(out);
	CL_ENSURE(cl_guestif_id_valid(enclave), CL_EINVAL, "guest interface: bad enclave id");
	CL_GUARD(cl_ipc_put_str(out, enclave));
	if (r->type == CL_NSM_SEAL_KEY)
		return cl_ipc_put_bytes(out, r->label, r->label_len);
	CL_GUARD(cl_ipc_put_bytes(out, r->nonce, r->nonce_len));
	CL_GUARD(cl_ipc_put_bytes(out, r->user_data, r->user_data_len));
	return cl_ipc_put_bytes(out, r->public_key, r->public_key_len);
}

static cl_err qbytes(cl_buf *in, size_t max, const uint8_t **p, size_t *n)
{
	CL_GUARD(cl_ipc_get_bytes(in, max, p, n));
	if (*n == 0)
		*p = NULL;
	return CL_OK;
}

cl_err cl_nsm_q_decode(uint16_t type, cl_buf *in, cl_nsm_q *q)
{
	memset(q, 0, sizeof(*q));
	CL_ENSURE(type == CL_GUESTIF_Q_ATTEST || type == CL_GUESTIF_Q_SEAL, CL_EINVAL, "unknown query");
	CL_GUARD(cl_ipc_get_str(in, q->enclave, sizeof(q->enclave)));
	CL_ENSURE(cl_guestif_id_valid(q->enclave), CL_EINVAL, "bad enclave id");
	if (type == CL_GUESTIF_Q_SEAL) {
		q->req.type = CL_NSM_SEAL_KEY;
		CL_GUARD(qbytes(in, CL_NSM_LABEL_MAX, &q->req.label, &q->req.label_len));
		CL_ENSURE(q->req.label_len >= 1, CL_EINVAL, "empty label");
		return CL_OK;
	}
	q->req.type = CL_NSM_ATTEST;
	CL_GUARD(qbytes(in, CL_NSM_NONCE_MAX, &q->req.nonce, &q->req.nonce_len));
	CL_GUARD(qbytes(in, CL_NSM_USER_DATA_MAX, &q->req.user_data, &q->req.user_data_len));
	return qbytes(in, CL_NSM_PUBKEY_MAX, &q->req.public_key, &q->req.public_key_len);
}
