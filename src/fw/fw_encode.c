/* fw_encode.c — the tools' CBOR writer: exactly the canonical subset the
 * verifier reads (shortest heads, definite lengths, keys in order), so what
 * the tools write is byte-for-byte what a device accepts. Host side. */
#include <string.h>

#include "fw/fw_internal.h"

cl_err fw_enc_head(cl_buf *b, uint8_t major, uint64_t v)
{
	uint8_t h[9];
	size_t n;
	uint8_t mt = (uint8_t)(major << 5);
	if (v < 24) {
		h[0] = (uint8_t)(mt | v);
		n = 1;
	} else if (v <= 0xff) {
		h[0] = mt | 24;
		h[1] = (uint8_t)v;
		n = 2;
	} else if (v <= 0xffff) {
		h[0] = mt | 25;
		h[1] = (uint8_t)(v >> 8);
		h[2] = (uint8_t)v;
		n = 3;
	} else if (v <= 0xffffffffu) {
		h[0] = mt | 26;
		for (int i = 0; i < 4; i++)
			h[1 + i] = (uint8_t)(v >> (24 - 8 * i));
		n = 5;
	} else {
		h[0] = mt | 27;
		for (int i = 0; i < 8; i++)
			h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
		n = 9;
	}
	return cl_buf_put(b, h, n);
}

cl_err fw_enc_bytes(cl_buf *b, uint8_t major, const void *p, size_t n)
{
	CL_GUARD(fw_enc_head(b, major, n));
	return n ? cl_buf_put(b, p, n) : CL_OK;
}

static cl_err enc_text(cl_buf *b, uint64_t key, const char *s)
{
	size_t n = strlen(s);
	CL_ENSURE(n >= 1 && n <= FW_MAX_STR, CL_EINVAL, "text field %llu must be 1..%d characters",
		  (unsigned long long)key, FW_MAX_STR);
	for (size_t i = 0; i < n; i++)
		CL_ENSURE(s[i] >= 0x20 && s[i] <= 0x7e, CL_EINVAL, "text field %llu must be printable ASCII",
			  (unsigned long long)key);
	CL_GUARD(fw_enc_head(b, FW_CBOR_UINT, key));
	return fw_enc_bytes(b, FW_CBOR_TSTR, s, n);
}

static cl_err enc_kv_uint(cl_buf *b, uint64_t key, uint64_t v)
{
	CL_GUARD(fw_enc_head(b, FW_CBOR_UINT, key));
	return fw_enc_head(b, FW_CBOR_UINT, v);
}

static cl_err enc_kv_bytes(cl_buf *b, uint64_t key, const void *p, size_t n)
{
	CL_GUARD(fw_enc_head(b, FW_CBOR_UINT, key));
	return fw_enc_bytes(b, FW_CBOR_BSTR, p, n);
}

cl_err fw_enc_manifest(const fw_manifest *m, cl_buf *out)
{
	CL_GUARD(fw_enc_head(out, FW_CBOR_MAP, 9 + (m->has_use_before ? 1 : 0) + (m->encrypted ? 1 : 0)));
	CL_GUARD(enc_kv_uint(out, FW_M_FORMAT, 1));
	CL_GUARD(enc_kv_bytes(out, FW_M_VENDOR, m->vendor, FW_UUID_LEN));
	CL_GUARD(enc_kv_bytes(out, FW_M_CLASS, m->class_id, FW_UUID_LEN));
	CL_GUARD(enc_text(out, FW_M_COMPONENT, m->component));
	CL_GUARD(enc_text(out, FW_M_VERSION, m->version));
	CL_GUARD(enc_kv_uint(out, FW_M_SEQUENCE, m->sequence));
	CL_GUARD(enc_kv_bytes(out, FW_M_DIGEST, m->digest, FW_DIGEST_LEN));
	CL_GUARD(enc_kv_uint(out, FW_M_SIZE, m->size));
	CL_GUARD(enc_text(out, FW_M_CHANNEL, m->channel));
	if (m->has_use_before)
		CL_GUARD(enc_kv_uint(out, FW_M_USE_BEFORE, m->use_before));
	if (m->encrypted) {
		CL_GUARD(fw_enc_head(out, FW_CBOR_UINT, FW_M_ENCRYPTION));
		CL_GUARD(fw_enc_head(out, FW_CBOR_ARRAY, 3));
		CL_GUARD(fw_enc_bytes(out, FW_CBOR_BSTR, m->enc_point, FW_POINT_LEN));
		CL_GUARD(fw_enc_bytes(out, FW_CBOR_BSTR, m->enc_iv, 12));
		CL_GUARD(fw_enc_bytes(out, FW_CBOR_BSTR, m->enc_tag, 16));
	}
	return CL_OK;
}

/* Appends the fixed-shape block [protected, {}, null, signature]. */
static cl_err enc_block(cl_buf *out, const uint8_t *prot, const uint8_t sig[FW_SIG_LEN])
{
	CL_GUARD(fw_enc_head(out, FW_CBOR_ARRAY, 4));
	CL_GUARD(fw_enc_bytes(out, FW_CBOR_BSTR, prot, FW_PROTECTED_LEN));
	CL_GUARD(fw_enc_head(out, FW_CBOR_MAP, 0));
	CL_GUARD(cl_buf_put_u8(out, 0xf6));
	return fw_enc_bytes(out, FW_CBOR_BSTR, sig, FW_SIG_LEN);
}

cl_err fw_enc_sign1(const void *key, const char *aad, const uint8_t *payload, size_t n, cl_buf *out)
{
	uint8_t prot[FW_PROTECTED_LEN] = {0xa2, 0x01, 0x38, 0x22, 0x04, 0x58, 0x20};
	uint8_t hash[FW_DIGEST_LEN], sig[FW_SIG_LEN];
	fw_ops ops;
	fw_sign1 s = {.protected_hdr = prot, .protected_len = sizeof(prot)};
	CL_GUARD(fw_key_kid(key, prot + 7));
	fw_openssl_ops(&ops, NULL);
	if (fw_sign1_hash(&ops, &s, aad, payload, n, hash) != FW_OK)
		return cl_errorf(CL_ECRYPTO, "cannot hash the Sig_structure");
	CL_GUARD(fw_key_sign_hash(key, hash, sig));
	return enc_block(out, prot, sig);
}

/* Re-encodes a parsed block (the strict parse guarantees the same bytes). */
cl_err fw_enc_block_copy(const fw_sign1 *s, cl_buf *out)
{
	return enc_block(out, s->protected_hdr, s->sig);
}
