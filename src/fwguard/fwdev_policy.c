/* fwdev_policy.c — window policy documents: the root-signed, versioned
 * setting of a device's mutability window. Same COSE_Sign1 block and strict
 * CBOR subset as src/fw's trust-root documents (reused, not re-implemented),
 * with its own external_aad so no other signed object can stand in for it.
 *
 *   policy = [ body: bstr, [ COSE_Sign1 ] ]    exactly one block, by the root
 *   body   = { 1: version (uint >= 1), 2: seconds (uint 1..86400) }
 */
#include <string.h>

#include "fw/fw_internal.h"
#include "fwguard/fwdev_internal.h"

#define POLICY_BODY_MAX 32

cl_err fwg_window_policy_build(const void *root_key, uint64_t version, uint64_t seconds, cl_buf *out)
{
	cl_buf body;
	cl_err err = CL_OK;
	CL_ENSURE(version >= 1, CL_EINVAL, "window policy version must be >= 1");
	CL_ENSURE(seconds >= 1 && seconds <= FWG_MAX_WINDOW_S, CL_EINVAL, "window must be 1..%d seconds",
		  FWG_MAX_WINDOW_S);
	cl_buf_init(&body, POLICY_BODY_MAX);
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_MAP, 2));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, 1));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, version));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, 2));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, seconds));
	cl_buf_reset(out);
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, 2));
	CL_GUARD_OUT(err, fw_enc_bytes(out, FW_CBOR_BSTR, body.data, body.len));
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, 1));
	CL_GUARD_OUT(err, fw_enc_sign1(root_key, FWG_AAD_WINDOW, body.data, body.len, out));
out:
	cl_buf_free(&body);
	return err;
}

static fw_status expect_key(fw_cbor *c, uint64_t want, uint64_t *v)
{
	uint64_t k;
	fw_status s = fw_cbor_uint(c, &k);
	if (s != FW_OK)
		return s;
	if (k != want)
		return FW_E_MALFORMED;
	return fw_cbor_uint(c, v);
}

fw_status fwg_window_policy_verify(const fwg_dev *d, const fw_ops *ops, const uint8_t *doc, size_t len,
				   uint64_t *version, uint64_t *seconds)
{
	fw_cbor c, b;
	uint64_t n;
	const uint8_t *body;
	size_t body_len;
	fw_sign1 sig;
	uint8_t hash[FW_DIGEST_LEN];
	fw_status s;
	if (!doc || len > 512)
		return doc ? FW_E_OVERSIZED : FW_E_ARGUMENT;
	fw_cbor_init(&c, doc, len);
	if ((s = fw_cbor_array(&c, &n)) != FW_OK)
		return s;
	if (n != 2)
		return FW_E_MALFORMED;
	if ((s = fw_cbor_bstr(&c, &body, &body_len)) != FW_OK)
		return s;
	if (body_len > POLICY_BODY_MAX)
		return FW_E_OVERSIZED;
	if ((s = fw_cbor_array(&c, &n)) != FW_OK)
		return s;
	if (n == 0)
		return FW_E_UNSIGNED;
	if (n != 1)
		return FW_E_MALFORMED; /* the root alone signs a window policy */
	if ((s = fw_sign1_parse(&c, &sig)) != FW_OK)
		return s;
	if (fw_cbor_left(&c) != 0)
		return FW_E_OVERSIZED;
	fw_cbor_init(&b, body, body_len);
	if ((s = fw_cbor_map(&b, &n)) != FW_OK)
		return s;
	if (n != 2)
		return FW_E_MALFORMED;
	if ((s = expect_key(&b, 1, version)) != FW_OK || (s = expect_key(&b, 2, seconds)) != FW_OK)
		return s;
	if (fw_cbor_left(&b) != 0)
		return FW_E_OVERSIZED;
	if (*version < 1 || *seconds < 1 || *seconds > FWG_MAX_WINDOW_S)
		return FW_E_MALFORMED;
	/* Authenticate: the block's kid must be the ROM root's, and verify. */
	if (!fw_ct_equal(sig.kid, d->trust.root_kid, FW_KID_LEN))
		return FW_E_UNKNOWN_SIGNER;
	if ((s = fw_sign1_hash(ops, &sig, FWG_AAD_WINDOW, body, body_len, hash)) != FW_OK)
		return s;
	if (ops->ecdsa_p384_verify(ops->ctx, d->root, hash, sig.sig) != 1)
		return FW_E_BAD_SIGNATURE;
	return FW_OK;
}
