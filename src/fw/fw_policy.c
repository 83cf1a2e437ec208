/* fw_policy.c — window policy documents, the format: build (signing
 * tool), strict parse and inspect. The root-signed, versioned setting of a
 * device's mutability window, bound to what it is for. Same COSE_Sign1
 * block and strict CBOR subset as the trust-root documents (reused, not
 * re-implemented), with its own external_aad (FW_POLICY_AAD) so no other
 * signed object can stand in for it. Verifying one against a device (the
 * ROM root, the device key, the host) is the device model's
 * (src/fwguard/fwdev_policy.c).
 *
 *   policy = [ body: bstr, [ COSE_Sign1 ] ]    exactly one block, by the root
 *   body   = { 1: version (uint 1..2^63-1), 2: seconds (uint 1..86400),
 *              3: target, ? 4: power_cycle (uint 1..2^63-1) }
 *   target = "any"
 *          | [ vendor: bstr(16), class: bstr(16), component: tstr,
 *              device: bstr(32), host: tstr ]
 *
 * `device` is the kid (SHA-256 of the SPKI DER) of the device's own key, so
 * a policy names one physical device; `host` the control plane's host id.
 * "any" is a choice the signer makes explicitly (fw_policy_target.any).
 * power_cycle makes a policy one-shot: valid only while the host is in that
 * power cycle. Format 1 (body {1, 2}, aad ".../1") bound nothing: it is
 * refused (malformed), and its signatures cannot verify under ".../2".
 */
#include <string.h>

#include "fw/fw_internal.h"

#define POLICY_BODY_MAX 256
#define POLICY_DOC_MAX 512
#define TARGET_ANY "any"

static bool valid_host_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > FW_MAX_HOST_ID)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static cl_err enc_target(cl_buf *b, const fw_policy_target *t)
{
	if (t->any)
		return fw_enc_bytes(b, FW_CBOR_TSTR, TARGET_ANY, strlen(TARGET_ANY));
	CL_GUARD(fw_enc_head(b, FW_CBOR_ARRAY, 5));
	CL_GUARD(fw_enc_bytes(b, FW_CBOR_BSTR, t->vendor, FW_UUID_LEN));
	CL_GUARD(fw_enc_bytes(b, FW_CBOR_BSTR, t->class_id, FW_UUID_LEN));
	CL_GUARD(fw_enc_bytes(b, FW_CBOR_TSTR, t->component, strlen(t->component)));
	CL_GUARD(fw_enc_bytes(b, FW_CBOR_BSTR, t->device_kid, FW_KID_LEN));
	return fw_enc_bytes(b, FW_CBOR_TSTR, t->host_id, strlen(t->host_id));
}

cl_err fw_window_policy_build(const void *root_key, const fw_policy_params *p, cl_buf *out)
{
	cl_buf body;
	cl_err err = CL_OK;
	const fw_policy_target *t = &p->target;
	CL_ENSURE(p->version >= 1 && p->version <= FW_UINT_MAX, CL_EINVAL, "window policy version must be 1..%llu",
		  (unsigned long long)FW_UINT_MAX);
	CL_ENSURE(p->seconds >= 1 && p->seconds <= FW_MAX_WINDOW_S, CL_EINVAL, "window must be 1..%u seconds",
		  FW_MAX_WINDOW_S);
	CL_ENSURE(p->power_cycle <= FW_UINT_MAX, CL_EINVAL, "power cycle must be 1..%llu",
		  (unsigned long long)FW_UINT_MAX);
	bool some = t->component || t->host_id;
	CL_ENSURE(t->any != some, CL_EINVAL,
		  "a window policy names its device and host, or explicitly any (and not both)");
	if (!t->any) {
		size_t n = t->component ? strlen(t->component) : 0;
		CL_ENSURE(n >= 1 && n <= FW_MAX_ADDR, CL_EINVAL, "the target's component must be a bus address");
		CL_ENSURE(valid_host_id(t->host_id), CL_EINVAL, "the target's host must be a host id ([a-z0-9-], 1..%d)",
			  FW_MAX_HOST_ID);
	}
	cl_buf_init(&body, POLICY_BODY_MAX);
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_MAP, p->power_cycle ? 4 : 3));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, 1));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, p->version));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, 2));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, p->seconds));
	CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, 3));
	CL_GUARD_OUT(err, enc_target(&body, t));
	if (p->power_cycle) {
		CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, 4));
		CL_GUARD_OUT(err, fw_enc_head(&body, FW_CBOR_UINT, p->power_cycle));
	}
	cl_buf_reset(out);
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, 2));
	CL_GUARD_OUT(err, fw_enc_bytes(out, FW_CBOR_BSTR, body.data, body.len));
	CL_GUARD_OUT(err, fw_enc_head(out, FW_CBOR_ARRAY, 1));
	CL_GUARD_OUT(err, fw_enc_sign1(root_key, FW_POLICY_AAD, body.data, body.len, out));
out:
	cl_buf_free(&body);
	return err;
}

static fw_status expect_key(fw_cbor *c, uint64_t want)
{
	uint64_t k;
	fw_status s = fw_cbor_uint(c, &k);
	if (s != FW_OK)
		return s;
	return k == want ? FW_OK : FW_E_MALFORMED;
}

static fw_status expect_uint(fw_cbor *c, uint64_t want_key, uint64_t min, uint64_t max, uint64_t *v)
{
	fw_status s = expect_key(c, want_key);
	if (s == FW_OK)
		s = fw_cbor_uint(c, v);
	if (s == FW_OK && (*v < min || *v > max))
		s = FW_E_MALFORMED;
	return s;
}

/* The target: "any", or the five-element array (pointers into the body). */
static fw_status parse_target(fw_cbor *c, fw_window_policy *p)
{
	fw_cbor peek = *c;
	uint8_t major;
	uint64_t n;
	const uint8_t *s;
	size_t len;
	fw_status st = fw_cbor_head(&peek, &major, &n);
	if (st != FW_OK)
		return st;
	if (major == FW_CBOR_TSTR) {
		if ((st = fw_cbor_tstr(c, &s, &len)) != FW_OK)
			return st;
		if (len != strlen(TARGET_ANY) || memcmp(s, TARGET_ANY, len) != 0)
			return FW_E_MALFORMED;
		p->any = true;
		return FW_OK;
	}
	if ((st = fw_cbor_array(c, &n)) != FW_OK)
		return st;
	if (n != 5)
		return FW_E_MALFORMED;
	if ((st = fw_cbor_bstr_fixed(c, &p->vendor, FW_UUID_LEN)) != FW_OK ||
	    (st = fw_cbor_bstr_fixed(c, &p->class_id, FW_UUID_LEN)) != FW_OK ||
	    (st = fw_cbor_text_copy(c, p->component, FW_MAX_ADDR)) != FW_OK ||
	    (st = fw_cbor_bstr_fixed(c, &p->device_kid, FW_KID_LEN)) != FW_OK ||
	    (st = fw_cbor_text_copy(c, p->host_id, FW_MAX_HOST_ID)) != FW_OK)
		return st == FW_E_TRUNCATED ? FW_E_MALFORMED : st;
	return FW_OK;
}

fw_status fw_window_policy_parse(const uint8_t *doc, size_t len, fw_window_policy *p)
{
	fw_cbor c, b;
	uint64_t n;
	fw_status s;
	memset(p, 0, sizeof(*p));
	if (!doc)
		return FW_E_ARGUMENT;
	if (len > POLICY_DOC_MAX)
		return FW_E_OVERSIZED;
	fw_cbor_init(&c, doc, len);
	if ((s = fw_cbor_array(&c, &n)) != FW_OK)
		return s;
	if (n != 2)
		return FW_E_MALFORMED;
	if ((s = fw_cbor_bstr(&c, &p->body, &p->body_len)) != FW_OK)
		return s;
	if (p->body_len > POLICY_BODY_MAX)
		return FW_E_OVERSIZED;
	if ((s = fw_cbor_array(&c, &n)) != FW_OK)
		return s;
	if (n == 0)
		return FW_E_UNSIGNED;
	if (n != 1)
		return FW_E_MALFORMED; /* the root alone signs a window policy */
	if ((s = fw_sign1_parse(&c, &p->sig)) != FW_OK)
		return s;
	if (fw_cbor_left(&c) != 0)
		return FW_E_OVERSIZED;
	fw_cbor_init(&b, p->body, p->body_len);
	if ((s = fw_cbor_map(&b, &n)) != FW_OK)
		return s == FW_E_TRUNCATED ? FW_E_MALFORMED : s;
	if (n != 3 && n != 4)
		return FW_E_MALFORMED; /* format 1 (two keys) bound nothing: refused */
	if ((s = expect_uint(&b, 1, 1, FW_UINT_MAX, &p->version)) != FW_OK ||
	    (s = expect_uint(&b, 2, 1, FW_MAX_WINDOW_S, &p->seconds)) != FW_OK ||
	    (s = expect_key(&b, 3)) != FW_OK || (s = parse_target(&b, p)) != FW_OK)
		return s == FW_E_TRUNCATED ? FW_E_MALFORMED : s;
	if (n == 4 && (s = expect_uint(&b, 4, 1, FW_UINT_MAX, &p->power_cycle)) != FW_OK)
		return s == FW_E_TRUNCATED ? FW_E_MALFORMED : s;
	if (fw_cbor_left(&b) != 0)
		return FW_E_MALFORMED;
	return FW_OK;
}

fw_status fw_window_policy_inspect(const uint8_t *doc, size_t len, fw_policy_info *out)
{
	fw_window_policy p;
	memset(out, 0, sizeof(*out));
	fw_status s = fw_window_policy_parse(doc, len, &p);
	if (s != FW_OK)
		return s;
	out->version = p.version;
	out->seconds = p.seconds;
	out->power_cycle = p.power_cycle;
	out->any = p.any;
	if (!p.any) {
		memcpy(out->vendor, p.vendor, FW_UUID_LEN);
		memcpy(out->class_id, p.class_id, FW_UUID_LEN);
		memcpy(out->device_kid, p.device_kid, FW_KID_LEN);
		memcpy(out->component, p.component, sizeof(out->component));
		memcpy(out->host_id, p.host_id, sizeof(out->host_id));
	}
	return FW_OK;
}
