/* attest_build.c — encodes an attestation document (attest.h) with libcbor's
 * encoders and has the caller's callback sign it.
 *
 * Every field is checked against the rules of attest.h before anything is
 * encoded, so a document this file writes always parses (cl_att_parse) and
 * nothing is ever signed for a document that would be refused. libcbor's
 * encoders write the shortest form of every head, which is the only form the
 * parser accepts.
 */
#include <cbor.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "attest/attest_internal.h"

const uint8_t cl_att_protected[CL_ATT_PROTECTED_LEN] = {0xa1, 0x01, 0x38, 0x22};

const char *const cl_att_keys[CL_ATT_NKEYS] = {"module_id",   "digest",   "timestamp",  "pcrs",     "certificate",
					       "cabundle",    "public_key", "user_data", "nonce"};

/* A bounded output buffer: a write past cap fails (CL_ETOOBIG), never grows. */
typedef struct att_wr {
	uint8_t *p;
	size_t len, cap;
} att_wr;

typedef size_t (*head_fn)(size_t n, unsigned char *buf, size_t size);

static cl_err wr_head(att_wr *w, head_fn fn, size_t n)
{
	size_t k = fn(n, w->p + w->len, w->cap - w->len);
	if (k == 0)
		return cl_errorf(CL_ETOOBIG, "document: larger than %d bytes", CL_ATT_DOC_MAX);
	w->len += k;
	return CL_OK;
}

static cl_err wr_raw(att_wr *w, const void *p, size_t n)
{
	if (n > w->cap - w->len)
		return cl_errorf(CL_ETOOBIG, "document: larger than %d bytes", CL_ATT_DOC_MAX);
	if (n)
		memcpy(w->p + w->len, p, n);
	w->len += n;
	return CL_OK;
}

static size_t enc_uint(size_t n, unsigned char *buf, size_t size)
{
	return cbor_encode_uint((uint64_t)n, buf, size);
}

static cl_err wr_u64(att_wr *w, uint64_t v)
{
	size_t k = cbor_encode_uint(v, w->p + w->len, w->cap - w->len);
	if (k == 0)
		return cl_errorf(CL_ETOOBIG, "document: larger than %d bytes", CL_ATT_DOC_MAX);
	w->len += k;
	return CL_OK;
}

static cl_err wr_bstr(att_wr *w, const uint8_t *p, size_t n)
{
	CL_GUARD(wr_head(w, cbor_encode_bytestring_start, n));
	return wr_raw(w, p, n);
}

static cl_err wr_tstr(att_wr *w, const char *s)
{
	size_t n = strlen(s);
	CL_GUARD(wr_head(w, cbor_encode_string_start, n));
	return wr_raw(w, s, n);
}

/* A bstr, or null when absent. */
static cl_err wr_opt_bstr(att_wr *w, cl_att_bytes b)
{
	if (!b.p) {
		size_t k = cbor_encode_null(w->p + w->len, w->cap - w->len);
		if (k == 0)
			return cl_errorf(CL_ETOOBIG, "document: larger than %d bytes", CL_ATT_DOC_MAX);
		w->len += k;
		return CL_OK;
	}
	return wr_bstr(w, b.p, b.n);
}

/* ---- the rules of attest.h, checked before anything is encoded ---- */

static cl_err check_cert(const char *name, cl_att_bytes b)
{
	CL_ENSURE(b.p && b.n > 0, CL_EINVAL, "%s: absent", name);
	CL_ENSURE(b.n <= CL_ATT_CERT_MAX, CL_EINVAL, "%s: %zu bytes, at most %d", name, b.n, CL_ATT_CERT_MAX);
	return CL_OK;
}

static cl_err check_opt(const char *name, cl_att_bytes b, size_t max)
{
	CL_ENSURE(!b.p || b.n <= max, CL_EINVAL, "%s: %zu bytes, at most %zu", name, b.n, max);
	return CL_OK;
}

static cl_err check_fields(const cl_att_fields *f)
{
	CL_ENSURE(f->module_id, CL_EINVAL, "module_id: absent");
	size_t n = strnlen(f->module_id, CL_ATT_MODULE_ID_MAX + 1);
	CL_ENSURE(n >= 1 && n <= CL_ATT_MODULE_ID_MAX, CL_EINVAL, "module_id: must be 1..%d bytes",
		  CL_ATT_MODULE_ID_MAX);
	for (size_t i = 0; i < n; i++)
		CL_ENSURE(f->module_id[i] >= 0x20 && f->module_id[i] <= 0x7e, CL_EINVAL,
			  "module_id: byte %zu is not printable ASCII", i);
	CL_GUARD(check_cert("certificate", f->certificate));
	CL_ENSURE(f->ncabundle >= 1 && f->ncabundle <= CL_ATT_CABUNDLE_MAX, CL_EINVAL,
		  "cabundle: %zu certificates, must be 1..%d", f->ncabundle, CL_ATT_CABUNDLE_MAX);
	for (size_t i = 0; i < f->ncabundle; i++) {
		char name[32];
		snprintf(name, sizeof(name), "cabundle[%zu]", i);
		CL_GUARD(check_cert(name, f->cabundle[i]));
	}
	CL_GUARD(check_opt("public_key", f->public_key, CL_ATT_PUBKEY_MAX));
	CL_GUARD(check_opt("user_data", f->user_data, CL_ATT_USER_DATA_MAX));
	CL_GUARD(check_opt("nonce", f->nonce, CL_ATT_NONCE_MAX));
	return CL_OK;
}

/* The payload map, keys in the order of cl_att_keys. */
static cl_err write_payload(att_wr *w, const cl_att_fields *f)
{
	CL_GUARD(wr_head(w, cbor_encode_map_start, CL_ATT_NKEYS));
	CL_GUARD(wr_tstr(w, "module_id"));
	CL_GUARD(wr_tstr(w, f->module_id));
	CL_GUARD(wr_tstr(w, "digest"));
	CL_GUARD(wr_tstr(w, "SHA384"));
	CL_GUARD(wr_tstr(w, "timestamp"));
	CL_GUARD(wr_u64(w, f->timestamp_ms));
	CL_GUARD(wr_tstr(w, "pcrs"));
	CL_GUARD(wr_head(w, cbor_encode_map_start, CL_ATT_NPCRS));
	for (size_t i = 0; i < CL_ATT_NPCRS; i++) {
		CL_GUARD(wr_head(w, enc_uint, i));
		CL_GUARD(wr_bstr(w, f->pcrs[i], CL_ATT_PCR_LEN));
	}
	CL_GUARD(wr_tstr(w, "certificate"));
	CL_GUARD(wr_bstr(w, f->certificate.p, f->certificate.n));
	CL_GUARD(wr_tstr(w, "cabundle"));
	CL_GUARD(wr_head(w, cbor_encode_array_start, f->ncabundle));
	for (size_t i = 0; i < f->ncabundle; i++)
		CL_GUARD(wr_bstr(w, f->cabundle[i].p, f->cabundle[i].n));
	CL_GUARD(wr_tstr(w, "public_key"));
	CL_GUARD(wr_opt_bstr(w, f->public_key));
	CL_GUARD(wr_tstr(w, "user_data"));
	CL_GUARD(wr_opt_bstr(w, f->user_data));
	CL_GUARD(wr_tstr(w, "nonce"));
	return wr_opt_bstr(w, f->nonce);
}

cl_err cl_att_sig_digest(const uint8_t *payload, size_t n, uint8_t out[CL_ATT_DIGEST_LEN])
{
	/* ["Signature1", bstr(protected), h'', bstr(payload)]: the heads are
	 * written by libcbor, the payload hashed in place. */
	uint8_t head[32];
	size_t k = 0;
	k += cbor_encode_array_start(4, head + k, sizeof(head) - k);
	k += cbor_encode_string_start(10, head + k, sizeof(head) - k);
	memcpy(head + k, "Signature1", 10);
	k += 10;
	k += cbor_encode_bytestring_start(CL_ATT_PROTECTED_LEN, head + k, sizeof(head) - k);
	memcpy(head + k, cl_att_protected, CL_ATT_PROTECTED_LEN);
	k += CL_ATT_PROTECTED_LEN;
	k += cbor_encode_bytestring_start(0, head + k, sizeof(head) - k);
	size_t pk = cbor_encode_bytestring_start(n, head + k, sizeof(head) - k);
	if (pk == 0)
		return cl_errorf(CL_EINTERNAL, "Sig_structure: head does not fit");
	k += pk;
	unsigned int dlen = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1 && EVP_DigestUpdate(md, head, k) == 1 &&
		  EVP_DigestUpdate(md, payload, n) == 1 && EVP_DigestFinal_ex(md, out, &dlen) == 1 &&
		  dlen == CL_ATT_DIGEST_LEN;
	EVP_MD_CTX_free(md);
	return ok ? CL_OK : cl_errorf(CL_EINTERNAL, "Sig_structure: SHA-384 failed");
}

cl_err cl_att_build(const cl_att_fields *f, cl_att_sign_fn sign, void *ctx, uint8_t **doc, size_t *len)
{
	cl_err err;
	att_wr pl = {0}, out = {0};
	uint8_t digest[CL_ATT_DIGEST_LEN], sig[CL_ATT_SIG_LEN];
	*doc = NULL;
	*len = 0;
	CL_GUARD(check_fields(f));
	pl.cap = out.cap = CL_ATT_DOC_MAX;
	pl.p = malloc(pl.cap);
	out.p = malloc(out.cap);
	if (!pl.p || !out.p) {
		err = cl_errorf(CL_ENOMEM, "document: out of memory");
		goto out;
	}
	CL_GUARD_OUT(err, write_payload(&pl, f));
	CL_GUARD_OUT(err, cl_att_sig_digest(pl.p, pl.len, digest));
	CL_GUARD_OUT(err, sign(ctx, digest, sig));
	/* The untagged COSE_Sign1: [bstr(protected), {}, bstr(payload), bstr(r||s)]. */
	CL_GUARD_OUT(err, wr_head(&out, cbor_encode_array_start, 4));
	CL_GUARD_OUT(err, wr_bstr(&out, cl_att_protected, CL_ATT_PROTECTED_LEN));
	CL_GUARD_OUT(err, wr_head(&out, cbor_encode_map_start, 0));
	CL_GUARD_OUT(err, wr_bstr(&out, pl.p, pl.len));
	CL_GUARD_OUT(err, wr_bstr(&out, sig, CL_ATT_SIG_LEN));
	*doc = out.p;
	*len = out.len;
	out.p = NULL;
out:
	free(pl.p);
	free(out.p);
	return err;
}
