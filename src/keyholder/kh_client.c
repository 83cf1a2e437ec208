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
 * into *first, then a byte string of exactly n bytes into out, or (alt_n
 * not 0) of n or alt_n bytes, *got_n telling which; then, if out2, a byte
 * string of exactly n2 bytes. Outputs are written only if the whole answer
 * checks out. */
typedef struct answer_shape {
	uint8_t *first;
	void *out;
	size_t n, alt_n, *got_n;
	void *out2;
	size_t n2;
} answer_shape;

static cl_err call_shape(cl_kh_client *c, uint16_t type, cl_buf *req, const answer_shape *sh)
{
	cl_buf ans;
	uint8_t tmp[CL_KH_POINT_LEN], tmp2[CL_KH_SIG_LEN];
	const uint8_t *p = NULL;
	size_t got = 0;
	cl_err err;
	cl_buf_init(&ans, CL_KH_MSG_MAX);
	CL_GUARD_OUT(err, sh->n <= sizeof(tmp) && sh->alt_n <= sizeof(tmp) && sh->n2 <= sizeof(tmp2) ? CL_OK
												   : CL_EINTERNAL);
	CL_GUARD_OUT(err, cl_ipc_call(&c->ipc, type, req, &ans));
	if ((sh->first && cl_buf_get_u8(&ans, sh->first) != CL_OK) ||
	    (sh->out && (cl_ipc_get_bytes(&ans, sizeof(tmp), &p, &got) != CL_OK ||
			 (got != sh->n && (!sh->alt_n || got != sh->alt_n)))) ||
	    (sh->out2 && cl_ipc_get_fixed(&ans, tmp2, sh->n2) != CL_OK) || cl_ipc_get_end(&ans) != CL_OK) {
		err = cl_errorf(CL_EPROTO, "malformed answer from the key holder");
		goto out;
	}
	if (sh->out) {
		memcpy(tmp, p, got);
		memcpy(sh->out, tmp, got);
	}
	if (sh->got_n)
		*sh->got_n = got;
	if (sh->out2)
		memcpy(sh->out2, tmp2, sh->n2);
out:
	explicit_bzero(tmp, sizeof(tmp));
	explicit_bzero(tmp2, sizeof(tmp2));
	cl_buf_free(req);
	cl_buf_free(&ans); /* wipes */
	return err;
}

static cl_err call(cl_kh_client *c, uint16_t type, cl_buf *req, uint8_t *first, void *out, size_t n)
{
	answer_shape sh = {.first = first, .out = out, .n = n};
	return call_shape(c, type, req, &sh);
}

static cl_err start(cl_buf *req, const char *slot)
{
	cl_buf_init(req, REQ_MAX);
	CL_ENSURE(strlen(slot) <= CL_KH_SLOT_MAX, CL_EINVAL, "slot name too long");
	return cl_ipc_put_str(req, slot);
}

cl_err cl_kh_get_public(cl_kh_client *c, const char *slot, enum cl_kh_purpose *purpose,
			uint8_t point[CL_KH_POINT_LEN], size_t *point_len)
{
	cl_buf req;
	uint8_t p = 0, pt[CL_KH_POINT_LEN];
	size_t n = 0;
	answer_shape sh = {.first = &p, .out = pt, .n = CL_KH_POINT_LEN, .alt_n = CL_KH_P256_POINT_LEN, .got_n = &n};
	cl_err err = start(&req, slot);
	if (err != CL_OK) {
		cl_buf_free(&req);
		return err;
	}
	CL_GUARD(call_shape(c, CL_KH_REQ_GET_PUBLIC, &req, &sh));
	/* only a tls/ key (sign-handshake) may be P-256 */
	CL_ENSURE(p >= CL_KH_PURPOSE_ECDH && p <= CL_KH_PURPOSE_SIGN_HANDSHAKE && pt[0] == 0x04 &&
			  (n == CL_KH_POINT_LEN || p == CL_KH_PURPOSE_SIGN_HANDSHAKE),
		  CL_EPROTO, "key holder answered a bad public key");
	*purpose = (enum cl_kh_purpose)p;
	memcpy(point, pt, n);
	*point_len = n;
	return CL_OK;
}

cl_err cl_kh_tls_generate(cl_kh_client *c, const char *slot, const char *host_id,
			  uint8_t point[CL_KH_P256_POINT_LEN], uint8_t proof[CL_KH_P256_SIG_LEN])
{
	cl_buf req;
	uint8_t pt[CL_KH_P256_POINT_LEN];
	answer_shape sh = {.out = pt, .n = sizeof(pt), .out2 = proof, .n2 = CL_KH_P256_SIG_LEN};
	cl_err err = start(&req, slot);
	if (err == CL_OK && strlen(host_id) > CL_KH_HOST_ID_MAX)
		err = cl_errorf(CL_EINVAL, "host id too long");
	if (err == CL_OK)
		err = cl_ipc_put_str(&req, host_id);
	if (err != CL_OK) {
		cl_buf_free(&req);
		return err;
	}
	CL_GUARD(call_shape(c, CL_KH_REQ_TLS_GENERATE, &req, &sh));
	CL_ENSURE(pt[0] == 0x04, CL_EPROTO, "key holder answered a bad public key");
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

cl_err cl_kh_sign2(cl_kh_client *c, const char *slot, const uint8_t *digest, size_t len, uint8_t *sig,
		   size_t *sig_len)
{
	cl_buf req;
	uint8_t s[CL_KH_SIG_LEN];
	size_t n = 0;
	answer_shape sh = {.out = s, .n = CL_KH_SIG_LEN, .alt_n = CL_KH_P256_SIG_LEN, .got_n = &n};
	cl_err err = start(&req, slot);
	if (err == CL_OK && (len == 0 || len > CL_KH_DIGEST_MAX))
		err = cl_errorf(CL_EINVAL, "digest of %zu bytes", len);
	if (err == CL_OK)
		err = cl_ipc_put_bytes(&req, digest, len);
	if (err != CL_OK) {
		cl_buf_free(&req);
		return err;
	}
	CL_GUARD(call_shape(c, CL_KH_REQ_SIGN, &req, &sh));
	CL_ENSURE(n <= *sig_len, CL_EINVAL, "a %zu-byte signature does not fit in %zu", n, *sig_len);
	memcpy(sig, s, n);
	*sig_len = n;
	return CL_OK;
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

cl_err cl_kh_remote_sign2(void *signer, const uint8_t *digest, size_t len, uint8_t *sig, size_t *sig_len)
{
	cl_kh_signer *s = signer;
	return cl_kh_sign2(s->client, s->slot, digest, len, sig, sig_len);
}
