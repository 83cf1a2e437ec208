/* verify_bundle.c — parse and verify a firmware bundle. Allocation-free;
 * every buffer is the caller's. See fw.h for the contract and
 * docs/firmware-bundle.md for the bytes. */
#include <string.h>

#include "verify_internal.h"

/* Image bytes copied (or decrypted) and hashed per step: small enough that
 * the hash reads the chunk back from L1 cache right after the copy. */
#define FW_CHUNK (16 * 1024)

static fw_status parse_encryption(fw_cbor *c, fw_manifest *m)
{
	uint64_t n;
	const uint8_t *p;
	fw_status s;
	if ((s = fw_cbor_array(c, &n)) != FW_OK)
		return s;
	if (n != 3)
		return FW_E_MALFORMED;
	if ((s = fw_cbor_bstr_fixed(c, &p, FW_POINT_LEN)) != FW_OK)
		return s;
	if (p[0] != 0x04)
		return FW_E_MALFORMED;
	memcpy(m->enc_point, p, FW_POINT_LEN);
	if ((s = fw_cbor_bstr_fixed(c, &p, 12)) != FW_OK)
		return s;
	memcpy(m->enc_iv, p, 12);
	if ((s = fw_cbor_bstr_fixed(c, &p, 16)) != FW_OK)
		return s;
	memcpy(m->enc_tag, p, 16);
	m->encrypted = true;
	return FW_OK;
}

/* The manifest map: integer keys in strictly increasing order, 1..9 required. */
static fw_status parse_manifest(const uint8_t *in, size_t len, fw_manifest *m)
{
	fw_cbor c;
	uint64_t n, key, prev = 0, v;
	const uint8_t *p;
	fw_status s;
	memset(m, 0, sizeof(*m));
	fw_cbor_init(&c, in, len);
	if ((s = fw_cbor_map(&c, &n)) != FW_OK)
		return s;
	if (n < 9 || n > 11)
		return FW_E_MALFORMED;
	for (uint64_t i = 0; i < n; i++) {
		if ((s = fw_cbor_uint(&c, &key)) != FW_OK)
			return s;
		if (key <= prev || (i < 9 && key != i + 1))
			return FW_E_MALFORMED;
		prev = key;
		switch (key) {
		case FW_M_FORMAT:
			if ((s = fw_cbor_uint(&c, &v)) != FW_OK)
				return s;
			if (v != 1)
				return FW_E_MALFORMED;
			break;
		case FW_M_VENDOR:
		case FW_M_CLASS:
			if ((s = fw_cbor_bstr_fixed(&c, &p, FW_UUID_LEN)) != FW_OK)
				return s;
			memcpy(key == FW_M_VENDOR ? m->vendor : m->class_id, p, FW_UUID_LEN);
			break;
		case FW_M_COMPONENT:
			s = fw_cbor_text_copy(&c, m->component, FW_MAX_STR);
			break;
		case FW_M_VERSION:
			s = fw_cbor_text_copy(&c, m->version, FW_MAX_STR);
			break;
		case FW_M_CHANNEL:
			s = fw_cbor_text_copy(&c, m->channel, FW_MAX_STR);
			break;
		case FW_M_SEQUENCE:
			if ((s = fw_cbor_uint(&c, &m->sequence)) != FW_OK)
				return s;
			if (m->sequence < FW_SEQ_MIN || m->sequence > FW_SEQ_MAX)
				return FW_E_MALFORMED; /* 0 is never installable; JSON carries int64 */
			break;
		case FW_M_DIGEST:
			if ((s = fw_cbor_bstr_fixed(&c, &p, FW_DIGEST_LEN)) != FW_OK)
				return s;
			memcpy(m->digest, p, FW_DIGEST_LEN);
			break;
		case FW_M_SIZE:
			if ((s = fw_cbor_uint(&c, &m->size)) != FW_OK)
				return s;
			if (m->size > FW_MAX_IMAGE)
				return FW_E_OVERSIZED;
			if (m->size == 0)
				return FW_E_MALFORMED; /* an empty image is no firmware */
			break;
		case FW_M_USE_BEFORE:
			m->has_use_before = true;
			if ((s = fw_cbor_uint(&c, &m->use_before)) != FW_OK)
				return s;
			if (m->use_before == 0 || m->use_before > FW_UINT_MAX)
				return FW_E_MALFORMED;
			break;
		case FW_M_ENCRYPTION:
			s = parse_encryption(&c, m);
			break;
		default:
			return FW_E_MALFORMED; /* unknown key: refuse, never ignore */
		}
		if (s != FW_OK)
			return s;
	}
	/* The manifest is its own bstr: anything after the map is malformed. */
	return fw_cbor_left(&c) == 0 ? FW_OK : FW_E_MALFORMED;
}

fw_status fw_bundle_parse(const uint8_t *in, size_t len, fw_bundle_view *v)
{
	fw_cbor c;
	uint64_t n, fmt;
	fw_status s;
	if (!in || !v)
		return FW_E_ARGUMENT;
	memset(v, 0, sizeof(*v));
	fw_cbor_init(&c, in, len);
	/* [1, manifest: bstr, [* COSE_Sign1], image: bstr] */
	if ((s = fw_cbor_array(&c, &n)) != FW_OK)
		return s;
	if (n != 4)
		return FW_E_MALFORMED;
	if ((s = fw_cbor_uint(&c, &fmt)) != FW_OK)
		return s;
	if (fmt != 1)
		return FW_E_MALFORMED;
	if ((s = fw_cbor_bstr(&c, &v->manifest, &v->manifest_len)) != FW_OK)
		return s;
	if (v->manifest_len > FW_MAX_MANIFEST)
		return FW_E_OVERSIZED;
	if ((s = parse_manifest(v->manifest, v->manifest_len, &v->m)) != FW_OK)
		return s;
	if ((s = fw_cbor_array(&c, &n)) != FW_OK)
		return s;
	if (n > FW_MAX_SIGNERS)
		return FW_E_OVERSIZED;
	v->nsig = (size_t)n;
	for (size_t i = 0; i < v->nsig; i++)
		if ((s = fw_sign1_parse(&c, &v->sig[i])) != FW_OK)
			return s;
	if ((s = fw_cbor_bstr(&c, &v->image, &v->image_len)) != FW_OK)
		return s;
	if (v->image_len > FW_MAX_IMAGE)
		return FW_E_OVERSIZED;
	if (fw_cbor_left(&c) != 0)
		return FW_E_OVERSIZED; /* trailing bytes */
	return FW_OK;
}

static bool kid_in(const uint8_t (*kids)[FW_KID_LEN], size_t n, const uint8_t *kid, size_t *idx)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(kids[i], kid, FW_KID_LEN) == 0) {
			if (idx)
				*idx = i;
			return true;
		}
	return false;
}

/* Every block must be a valid signature of a current signer; distinct keys
 * are counted once. */
static fw_status check_signers(const fw_trust *t, const fw_ops *ops, const fw_bundle_view *v,
			       size_t *counted)
{
	uint32_t seen = 0; /* bit i: key i already counted */
	size_t distinct = 0, dups = 0;
	if (v->nsig == 0)
		return FW_E_UNSIGNED;
	for (size_t i = 0; i < v->nsig; i++) {
		const fw_sign1 *sg = &v->sig[i];
		size_t k;
		uint8_t h[FW_DIGEST_LEN];
		if (!kid_in((const uint8_t(*)[FW_KID_LEN])t->kids, t->nkeys, sg->kid, &k)) {
			if (kid_in((const uint8_t(*)[FW_KID_LEN])t->revoked, t->nrevoked, sg->kid, NULL))
				return FW_E_REVOKED_SIGNER;
			return FW_E_UNKNOWN_SIGNER;
		}
		fw_status s = fw_sign1_hash(ops, sg, FW_AAD_MANIFEST, v->manifest, v->manifest_len, h);
		if (s != FW_OK)
			return s;
		if ((s = fw_sig_verify(ops, t->keys[k], h, sg->sig)) != FW_OK)
			return s;
		if (seen & (1u << k)) {
			dups++;
			continue;
		}
		seen |= 1u << k;
		distinct++;
	}
	*counted = distinct;
	/* t->threshold >= 1 always (fw_trust_apply refuses k = 0), and distinct
	 * >= 1 here: never accept on zero verifications. */
	if (distinct == 0 || distinct < t->threshold)
		return dups > 0 && distinct + dups >= t->threshold ? FW_E_DUPLICATE_SIGNER
								   : FW_E_BELOW_THRESHOLD;
	return FW_OK;
}

/* Copies the image into dest and hashes what landed there, in one pass. */
static fw_status copy_and_hash(const fw_ops *ops, const uint8_t *src, size_t n, uint8_t *dest,
			       uint8_t digest[FW_DIGEST_LEN])
{
	fw_hash_ctx h;
	int ok = ops->sha384_init(ops->ctx, &h);
	for (size_t off = 0; ok && off < n;) {
		size_t step = n - off < FW_CHUNK ? n - off : FW_CHUNK;
		memcpy(dest + off, src + off, step);
		ok = ops->sha384_update(ops->ctx, &h, dest + off, step);
		off += step;
	}
	ok = ok && ops->sha384_final(ops->ctx, &h, digest);
	fw_wipe(&h, sizeof(h));
	return ok ? FW_OK : FW_E_CRYPTO;
}

static fw_status verify(const fw_trust *t, const fw_device *dev, const fw_ops *ops, const fw_bundle_view *v,
			uint8_t *dest, size_t dest_cap, fw_result *res)
{
	const fw_manifest *m = &v->m;
	size_t counted = 0;
	fw_status s;
	/* The state is the caller's memory: never index past its arrays. */
	if (t->version == 0 || t->threshold == 0 || t->nkeys == 0 || t->nkeys > FW_MAX_SIGNERS ||
	    t->threshold > t->nkeys || t->nrevoked > FW_MAX_REVOKED)
		return FW_E_TRUST_CHAIN;
	if (t->version < dev->trust_floor)
		return FW_E_TRUST_STALE;
	if (t->has_expires && dev->now >= t->expires)
		return FW_E_TRUST_EXPIRED;
	if ((s = check_signers(t, ops, v, &counted)) != FW_OK)
		return s;
	/* Authenticated from here on: now act on what the manifest says. */
	if (!fw_ct_equal(m->vendor, dev->vendor, FW_UUID_LEN))
		return FW_E_WRONG_VENDOR;
	if (!fw_ct_equal(m->class_id, dev->class_id, FW_UUID_LEN))
		return FW_E_WRONG_CLASS;
	if (strcmp(m->component, dev->component) != 0)
		return FW_E_WRONG_COMPONENT;
	if (m->sequence <= dev->counter)
		return FW_E_ROLLBACK;
	if (m->has_use_before && dev->now >= m->use_before)
		return FW_E_EXPIRED;
	if (m->size != v->image_len)
		return FW_E_SIZE_MISMATCH;
	if (v->image_len > dest_cap)
		return FW_E_NO_SPACE;
	uint8_t digest[FW_DIGEST_LEN];
	if (m->encrypted)
		s = fw_decrypt_image(ops, m, v->image, v->image_len, dest, digest);
	else
		s = copy_and_hash(ops, v->image, v->image_len, dest, digest);
	if (s != FW_OK)
		return s;
	if (!fw_ct_equal(digest, m->digest, FW_DIGEST_LEN))
		return FW_E_DIGEST_MISMATCH;
	res->sequence = m->sequence;
	memcpy(res->version, m->version, sizeof(res->version));
	memcpy(res->channel, m->channel, sizeof(res->channel));
	res->image_len = v->image_len;
	res->signers = counted;
	return FW_OK;
}

fw_status fw_verify_bundle(const fw_trust *t, const fw_device *dev, const fw_ops *ops,
			   const uint8_t *bundle, size_t len, uint8_t *dest, size_t dest_cap,
			   fw_result *res)
{
	fw_bundle_view v;
	fw_status s;
	if (!t || !dev || !dev->component || !ops || !bundle || !res || (!dest && dest_cap))
		return FW_E_ARGUMENT;
	memset(res, 0, sizeof(*res));
	s = fw_bundle_parse(bundle, len, &v);
	if (s == FW_OK)
		s = verify(t, dev, ops, &v, dest, dest_cap, res);
	if (s != FW_OK && dest) {
		/* Whatever was written is not to be trusted. */
		size_t n = v.image_len < dest_cap ? v.image_len : dest_cap;
		if (s == FW_E_DIGEST_MISMATCH || s == FW_E_DECRYPT || s == FW_E_CRYPTO)
			fw_wipe(dest, n);
		memset(res, 0, sizeof(*res));
	}
	return s;
}
