/* kh_client.c — the key holder's client calls (agent, guest interface, TLS
 * data plane). Each builds one request, makes one ipc call and reads the
 * answer exactly; the answer buffer is wiped (it may carry a derived key). */
#include <string.h>

#include "keyholder/keyholder.h"

#define REQ_MAX (CL_KH_MSG_MAX - CL_IPC_HDR)

void cl_kh_client_init(cl_kh_client *c, int fd, int timeout_ms)
{
	cl_ipc_client_init(&c->ipc, fd, CL_KH_MSG_MAX - CL_IPC_HDR, timeout_ms);
}

/* Sends (type, req) — and frees req — then reads the answer: an optional u8
 * into *first, then a byte string of exactly n bytes into out (written only
 * if the whole answer checks out). */
static cl_err call(cl_kh_client *c, uint16_t type, cl_buf *req, uint8_t *first, void *out, size_t n)
{
	cl_buf ans;
	uint8_t tmp[CL_KH_POINT_LEN];
	cl_err err;
	cl_buf_init(&ans, CL_KH_MSG_MAX);
	CL_GUARD_OUT(err, n <= sizeof(tmp) ? CL_OK : CL_EINTERNAL);
	CL_GUARD_OUT(err, cl_ipc_call(&c->ipc, type, req, &ans));
	if ((first && cl_buf_get_u8(&ans, first) != CL_OK) || (out && cl_ipc_get_fixed(&ans, tmp, n) != CL_OK) ||
	    cl_ipc_get_end(&ans) != CL_OK) {
		err = cl_errorf(CL_EPROTO, "malformed answer from the key holder");
		goto out;
	}
	if (out)
		memcpy(out, tmp, n);
out:
	explicit_bzero(tmp, sizeof(tmp));
	cl_buf_free(req);
	cl_buf_free(&ans); /* wipes */
	return err;
}

static cl_err start(cl_buf *req, const char *slot)
{
	cl_buf_init(req, REQ_MAX);
	CL_ENSURE(strlen(slot) <= CL_KH_SLOT_MAX, CL_EINVAL, "slot name too long");
	return cl_ipc_put_str(req, slot);
}

cl_err cl_kh_get_public(cl_kh_client *c, const char *slot, enum cl_kh_purpose *purpose,
			uint8_t point[CL_KH_POINT_LEN])
{
	cl_buf req;
	uint8_t p = 0, pt[CL_KH_POINT_LEN];
	cl_err err = start(&req, slot);
	if (err != CL_OK) {
		cl_buf_free(&req);
		return err;
	}
	CL_GUARD(call(c, CL_KH_REQ_GET_PUBLIC, &req, &p, pt, sizeof(pt)));
	CL_ENSURE(p >= CL_KH_PURPOSE_ECDH && p <= CL_KH_PURPOSE_SIGN_HANDSHAKE && pt[0] == 0x04, CL_EPROTO,
		  "key holder answered a bad public key");
	*purpose = (enum cl_kh_purpose)p;
	memcpy(point, pt, sizeof(pt));
	return CL_OK;
}

cl_err cl_kh_generate(cl_kh_client *c, const char *slot, uint8_t point[CL_KH_POINT_LEN])
{
	cl_buf req;
	cl_err err = start(&req, slot);
	if (err != CL_OK) {
		cl_buf_free(&req);
		return err;
	}
	return call(c, CL_KH_REQ_GENERATE, &req, NULL, point, CL_KH_POINT_LEN);
}

cl_err cl_kh_ecdh(cl_kh_client *c, const char *slot, enum cl_kh_use use, const uint8_t peer[CL_KH_POINT_LEN],
		  uint8_t key[CL_KH_KEY_LEN])
{
	cl_buf req;
	cl_err err = start(&req, slot);
	if (err == CL_OK)
		err = cl_buf_put_u8(&req, (uint8_t)use);
	if (err == CL_OK)
		err = cl_ipc_put_bytes(&req, peer, CL_KH_POINT_LEN);
	if (err != CL_OK) {
		cl_buf_free(&req);
		return err;
	}
	return call(c, CL_KH_REQ_ECDH, &req, NULL, key, CL_KH_KEY_LEN);
}

cl_err cl_kh_sign(cl_kh_client *c, const char *slot, const uint8_t *digest, size_t len,
		  uint8_t sig[CL_KH_SIG_LEN])
{
	cl_buf req;
	cl_err err = start(&req, slot);
	if (err == CL_OK && (len == 0 || len > CL_KH_DIGEST_MAX))
		err = cl_errorf(CL_EINVAL, "digest of %zu bytes", len);
	if (err == CL_OK)
		err = cl_ipc_put_bytes(&req, digest, len);
	if (err != CL_OK) {
		cl_buf_free(&req);
		return err;
	}
	return call(c, CL_KH_REQ_SIGN, &req, NULL, sig, CL_KH_SIG_LEN);
}

cl_err cl_kh_seal(cl_kh_client *c, const char *tenant, const uint8_t pcrs[CL_KH_PCRS_LEN], const uint8_t *label,
		  size_t label_len, uint8_t key[CL_KH_KEY_LEN])
{
	cl_buf req;
	cl_err err = CL_OK;
	cl_buf_init(&req, REQ_MAX);
	if (strlen(tenant) < 1 || strlen(tenant) > CL_KH_TENANT_MAX || label_len < 1 || label_len > CL_KH_LABEL_MAX)
		err = cl_errorf(CL_EINVAL, "seal: tenant or label out of range");
	if (err == CL_OK)
		err = cl_ipc_put_str(&req, tenant);
	if (err == CL_OK)
		err = cl_ipc_put_bytes(&req, pcrs, CL_KH_PCRS_LEN);
	if (err == CL_OK)
		err = cl_ipc_put_bytes(&req, label, label_len);
	if (err != CL_OK) {
		cl_buf_free(&req);
		return err;
	}
	return call(c, CL_KH_REQ_SEAL, &req, NULL, key, CL_KH_KEY_LEN);
}

cl_err cl_kh_destroy(cl_kh_client *c, const char *slot)
{
	cl_buf req;
	cl_err err = start(&req, slot);
	if (err != CL_OK) {
		cl_buf_free(&req);
		return err;
	}
	return call(c, CL_KH_REQ_DESTROY, &req, NULL, NULL, 0);
}

cl_err cl_kh_remote_sign(void *signer, const uint8_t *digest, size_t len, uint8_t sig[CL_KH_SIG_LEN])
{
	cl_kh_signer *s = signer;
	return cl_kh_sign(s->client, s->slot, digest, len, sig);
}
