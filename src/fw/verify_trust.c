/* verify_trust.c — trust-root documents and the chain from the ROM root key.
 * Allocation-free; the caller owns both fw_trust states. Rules in fw.h
 * (fw_trust_apply) and docs/firmware-bundle.md. */
#include <string.h>

#include "verify_internal.h"

static fw_status parse_body(const uint8_t *in, size_t len, fw_trust_doc *d)
{
	fw_cbor c;
	uint64_t n, key, k;
	fw_status s;
	fw_cbor_init(&c, in, len);
	if ((s = fw_cbor_map(&c, &n)) != FW_OK)
		return s;
	if (n != 3 && n != 4)
		return FW_E_MALFORMED;
	if ((s = fw_cbor_uint(&c, &key)) != FW_OK)
		return s;
	if (key != FW_T_VERSION || (s = fw_cbor_uint(&c, &d->version)) != FW_OK)
		return s != FW_OK ? s : FW_E_MALFORMED;
	if (d->version == 0 || d->version > FW_UINT_MAX)
		return FW_E_MALFORMED;
	if ((s = fw_cbor_uint(&c, &key)) != FW_OK)
		return s;
	if (key != FW_T_THRESHOLD || (s = fw_cbor_uint(&c, &d->threshold)) != FW_OK)
		return s != FW_OK ? s : FW_E_MALFORMED;
	if ((s = fw_cbor_uint(&c, &key)) != FW_OK)
		return s;
	if (key != FW_T_SIGNERS || (s = fw_cbor_array(&c, &k)) != FW_OK)
		return s != FW_OK ? s : FW_E_MALFORMED;
	if (k == 0)
		return FW_E_MALFORMED;
	if (k > FW_MAX_SIGNERS)
		return FW_E_OVERSIZED;
	d->nkeys = (size_t)k;
	for (size_t i = 0; i < d->nkeys; i++) {
		if ((s = fw_cbor_bstr_fixed(&c, &d->keys[i], FW_POINT_LEN)) != FW_OK)
			return s;
		if (d->keys[i][0] != 0x04)
			return FW_E_MALFORMED;
		for (size_t j = 0; j < i; j++) /* a key is listed once, so it counts once */
			if (memcmp(d->keys[i], d->keys[j], FW_POINT_LEN) == 0)
				return FW_E_MALFORMED;
	}
	if (n == 4) {
		if ((s = fw_cbor_uint(&c, &key)) != FW_OK)
			return s;
		if (key != FW_T_EXPIRES || (s = fw_cbor_uint(&c, &d->expires)) != FW_OK)
			return s != FW_OK ? s : FW_E_MALFORMED;
		if (d->expires == 0 || d->expires > FW_UINT_MAX)
			return FW_E_MALFORMED;
		d->has_expires = true;
	}
	if (fw_cbor_left(&c) != 0)
		return FW_E_MALFORMED;
	if (d->threshold == 0 || d->threshold > d->nkeys)
		return FW_E_TRUST_THRESHOLD;
	return FW_OK;
}

fw_status fw_trust_doc_parse(const uint8_t *in, size_t len, fw_trust_doc *d)
{
	fw_cbor c;
	uint64_t n;
	fw_status s;
	if (!in || !d)
		return FW_E_ARGUMENT;
	memset(d, 0, sizeof(*d));
	fw_cbor_init(&c, in, len);
	/* [body: bstr, [* COSE_Sign1]] */
	if ((s = fw_cbor_array(&c, &n)) != FW_OK)
		return s;
	if (n != 2)
		return FW_E_MALFORMED;
	if ((s = fw_cbor_bstr(&c, &d->body, &d->body_len)) != FW_OK)
		return s;
	if (d->body_len > FW_MAX_TRUST_BODY)
		return FW_E_OVERSIZED;
	if ((s = parse_body(d->body, d->body_len, d)) != FW_OK)
		return s;
	if ((s = fw_cbor_array(&c, &n)) != FW_OK)
		return s;
	if (n > FW_MAX_SIGNERS)
		return FW_E_OVERSIZED;
	d->nsig = (size_t)n;
	for (size_t i = 0; i < d->nsig; i++)
		if ((s = fw_sign1_parse(&c, &d->sig[i])) != FW_OK)
			return s;
	return fw_cbor_left(&c) == 0 ? FW_OK : FW_E_OVERSIZED;
}

fw_status fw_trust_init(fw_trust *t, const uint8_t root[FW_POINT_LEN], const fw_ops *ops)
{
	if (!t || !root || !ops)
		return FW_E_ARGUMENT;
	memset(t, 0, sizeof(*t));
	memcpy(t->root, root, FW_POINT_LEN);
	return fw_point_kid(ops, root, t->root_kid);
}

static int find_kid(const uint8_t (*kids)[FW_KID_LEN], size_t n, const uint8_t *kid)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(kids[i], kid, FW_KID_LEN) == 0)
			return (int)i;
	return -1;
}

/* Fills next's key list from the document (kids computed here). */
static fw_status load_next(const fw_trust *t, const fw_trust_doc *d, fw_trust *next, const fw_ops *ops)
{
	memset(next, 0, sizeof(*next));
	memcpy(next->root, t->root, FW_POINT_LEN);
	memcpy(next->root_kid, t->root_kid, FW_KID_LEN);
	next->version = d->version;
	next->threshold = d->threshold;
	next->nkeys = d->nkeys;
	next->has_expires = d->has_expires;
	next->expires = d->expires;
	for (size_t i = 0; i < d->nkeys; i++) {
		memcpy(next->keys[i], d->keys[i], FW_POINT_LEN);
		fw_status s = fw_point_kid(ops, next->keys[i], next->kids[i]);
		if (s != FW_OK)
			return s;
	}
	/* Revoked = revoked before, plus keys of the current version that the
	 * next one drops. Overflowing the memory forgets the oldest, never a
	 * current key; the trust floor (fw_device) is what makes revocation
	 * stick against an old chain. */
	for (size_t i = 0; i < t->nrevoked + t->nkeys; i++) {
		const uint8_t *kid = i < t->nrevoked ? t->revoked[i] : t->kids[i - t->nrevoked];
		if (find_kid((const uint8_t(*)[FW_KID_LEN])next->kids, next->nkeys, kid) >= 0)
			continue; /* re-admitted */
		if (find_kid((const uint8_t(*)[FW_KID_LEN])next->revoked, next->nrevoked, kid) >= 0)
			continue;
		if (next->nrevoked == FW_MAX_REVOKED) {
			memmove(next->revoked[0], next->revoked[1], (FW_MAX_REVOKED - 1) * FW_KID_LEN);
			next->nrevoked--;
		}
		memcpy(next->revoked[next->nrevoked++], kid, FW_KID_LEN);
	}
	return FW_OK;
}

/* Checks doc as the successor of *t and fills *next with the state it
 * would make; *t is not touched. */
static fw_status check_next(const fw_trust *t, fw_trust *next, const uint8_t *doc, size_t len, const fw_ops *ops,
			    fw_trust_doc *d)
{
	fw_status s;
	if (!t || !next || !doc || !ops || t == next || t->nkeys > FW_MAX_SIGNERS || t->nrevoked > FW_MAX_REVOKED)
		return FW_E_ARGUMENT;
	if ((s = fw_trust_doc_parse(doc, len, d)) != FW_OK)
		return s;
	if (d->version != t->version + 1)
		return FW_E_TRUST_CHAIN; /* no skipping, no replaying */
	if ((s = load_next(t, d, next, ops)) != FW_OK)
		return s;
	if (d->nsig == 0)
		return FW_E_UNSIGNED;
	uint32_t seen_cur = 0, seen_next = 0;
	size_t n_cur = 0, n_next = 0;
	bool root_signed = false;
	for (size_t i = 0; i < d->nsig; i++) {
		const fw_sign1 *sg = &d->sig[i];
		int ic = t->version ? find_kid((const uint8_t(*)[FW_KID_LEN])t->kids, t->nkeys, sg->kid) : -1;
		int in = find_kid((const uint8_t(*)[FW_KID_LEN])next->kids, next->nkeys, sg->kid);
		bool is_root = memcmp(sg->kid, t->root_kid, FW_KID_LEN) == 0;
		const uint8_t *pub = is_root ? t->root : ic >= 0 ? t->keys[ic] : in >= 0 ? next->keys[in] : NULL;
		uint8_t h[FW_DIGEST_LEN];
		if (!pub)
			return find_kid((const uint8_t(*)[FW_KID_LEN])t->revoked, t->nrevoked, sg->kid) >= 0
				       ? FW_E_REVOKED_SIGNER
				       : FW_E_UNKNOWN_SIGNER;
		if ((s = fw_sign1_hash(ops, sg, FW_AAD_TRUST, d->body, d->body_len, h)) != FW_OK)
			return s;
		if ((s = fw_sig_verify(ops, pub, h, sg->sig)) != FW_OK)
			return s;
		root_signed |= is_root;
		if (ic >= 0 && !(seen_cur & (1u << ic))) {
			seen_cur |= 1u << ic;
			n_cur++;
		}
		if (in >= 0 && !(seen_next & (1u << in))) {
			seen_next |= 1u << in;
			n_next++;
		}
	}
	if (t->version == 0) {
		if (!root_signed)
			return FW_E_TRUST_CHAIN; /* version 1 comes from the ROM root */
	} else if (n_cur < t->threshold || n_next < next->threshold) {
		return FW_E_TRUST_CHAIN; /* TUF: both thresholds, old and new */
	}
	return FW_OK;
}

static fw_status apply(fw_trust *t, fw_trust *next, const uint8_t *doc, size_t len, bool check_now, uint64_t now,
		       const fw_ops *ops)
{
	fw_trust_doc d;
	fw_status s = check_next(t, next, doc, len, ops, &d);
	/* Checked after the signatures, so a forged document is reported as
	 * what it is; *t changes only once everything passed. */
	if (s == FW_OK && check_now && d.has_expires && now >= d.expires)
		s = FW_E_TRUST_EXPIRED;
	if (s != FW_OK) {
		if (next && next != t)
			fw_wipe(next, sizeof(*next));
		return s;
	}
	memcpy(t, next, sizeof(*t));
	fw_wipe(next, sizeof(*next));
	return FW_OK;
}

fw_status fw_trust_apply(fw_trust *t, fw_trust *next, const uint8_t *doc, size_t len, const fw_ops *ops)
{
	return apply(t, next, doc, len, false, 0, ops);
}

fw_status fw_trust_apply_at(fw_trust *t, fw_trust *next, const uint8_t *doc, size_t len, uint64_t now,
			    const fw_ops *ops)
{
	return apply(t, next, doc, len, true, now, ops);
}

fw_status fw_trust_assume(fw_trust *t, const uint8_t *doc, size_t len, const uint8_t *root, const fw_ops *ops)
{
	fw_trust_doc d;
	fw_trust base;
	fw_status s;
	if (!t || !doc || !ops)
		return FW_E_ARGUMENT;
	if ((s = fw_trust_doc_parse(doc, len, &d)) != FW_OK)
		return s;
	memset(&base, 0, sizeof(base));
	if (root) {
		memcpy(base.root, root, FW_POINT_LEN);
		if ((s = fw_point_kid(ops, root, base.root_kid)) != FW_OK)
			return s;
	}
	return load_next(&base, &d, t, ops);
}
