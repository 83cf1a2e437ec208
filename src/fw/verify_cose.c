/* verify_cose.c — COSE_Sign1 authentication blocks (RFC 9052) of the one
 * fixed shape Cloister emits, their Sig_structure digest, key ids, and the
 * status names. Allocation-free. */
#include <string.h>

#include "verify_internal.h"

fw_status fw_sign1_parse(fw_cbor *c, fw_sign1 *s)
{
	uint64_t n;
	fw_status st;
	const uint8_t *sig;
	if ((st = fw_cbor_array(c, &n)) != FW_OK)
		return st;
	if (n != 4)
		return FW_E_MALFORMED;
	if ((st = fw_cbor_bstr(c, &s->protected_hdr, &s->protected_len)) != FW_OK)
		return st;
	/* protected = {1: -35, 4: h'<32-byte kid>'}, nothing else. */
	fw_cbor ph;
	uint64_t key;
	fw_cbor_init(&ph, s->protected_hdr, s->protected_len);
	if ((st = fw_cbor_map(&ph, &n)) != FW_OK)
		return st == FW_E_TRUNCATED ? FW_E_MALFORMED : st;
	if (n != 2)
		return FW_E_MALFORMED;
	if (fw_cbor_uint(&ph, &key) != FW_OK || key != 1 || fw_cbor_expect_nint(&ph, 34) != FW_OK)
		return FW_E_MALFORMED; /* alg must be ES384 (-35) */
	if (fw_cbor_uint(&ph, &key) != FW_OK || key != 4 ||
	    fw_cbor_bstr_fixed(&ph, &s->kid, FW_KID_LEN) != FW_OK)
		return FW_E_MALFORMED;
	if (fw_cbor_left(&ph) != 0)
		return FW_E_MALFORMED;
	/* unprotected = {} : nothing unauthenticated rides along. */
	if ((st = fw_cbor_map(c, &n)) != FW_OK)
		return st;
	if (n != 0)
		return FW_E_MALFORMED;
	/* payload = null : detached, it is the manifest (or trust-root body). */
	if ((st = fw_cbor_null(c)) != FW_OK)
		return st;
	if ((st = fw_cbor_bstr_fixed(c, &sig, FW_SIG_LEN)) != FW_OK)
		return st;
	s->sig = sig;
	return FW_OK;
}

static size_t put_head(uint8_t *out, uint8_t major, uint64_t v)
{
	uint8_t mt = (uint8_t)(major << 5);
	if (v < 24) {
		out[0] = (uint8_t)(mt | v);
		return 1;
	}
	if (v <= 0xff) {
		out[0] = mt | 24;
		out[1] = (uint8_t)v;
		return 2;
	}
	if (v <= 0xffff) {
		out[0] = mt | 25;
		out[1] = (uint8_t)(v >> 8);
		out[2] = (uint8_t)v;
		return 3;
	}
	if (v <= 0xffffffffu) {
		out[0] = mt | 26;
		for (int i = 0; i < 4; i++)
			out[1 + i] = (uint8_t)(v >> (24 - 8 * i));
		return 5;
	}
	out[0] = mt | 27;
	for (int i = 0; i < 8; i++)
		out[1 + i] = (uint8_t)(v >> (56 - 8 * i));
	return 9;
}

fw_status fw_sign1_hash(const fw_ops *ops, const fw_sign1 *s, const char *aad, const uint8_t *payload,
			size_t payload_len, uint8_t out[FW_DIGEST_LEN])
{
	/* Sig_structure = ["Signature1", protected, external_aad, payload]:
	 * everything but the payload fits a small fixed buffer. */
	uint8_t pre[160];
	size_t aad_len = strlen(aad), n = 0;
	if (s->protected_len != FW_PROTECTED_LEN || aad_len > 64)
		return FW_E_MALFORMED;
	pre[n++] = 0x84;
	n += put_head(pre + n, FW_CBOR_TSTR, 10);
	memcpy(pre + n, "Signature1", 10);
	n += 10;
	n += put_head(pre + n, FW_CBOR_BSTR, s->protected_len);
	memcpy(pre + n, s->protected_hdr, s->protected_len);
	n += s->protected_len;
	n += put_head(pre + n, FW_CBOR_BSTR, aad_len);
	memcpy(pre + n, aad, aad_len);
	n += aad_len;
	n += put_head(pre + n, FW_CBOR_BSTR, payload_len);
	fw_hash_ctx h;
	int ok = ops->sha384_init(ops->ctx, &h) && ops->sha384_update(ops->ctx, &h, pre, n) &&
		 ops->sha384_update(ops->ctx, &h, payload, payload_len) && ops->sha384_final(ops->ctx, &h, out);
	fw_wipe(&h, sizeof(h));
	return ok ? FW_OK : FW_E_CRYPTO;
}

/* floor(n / 2) for the P-384 group order n, big-endian. A signature (r, s)
 * verifies exactly when (r, n - s) does, so anyone could turn one valid
 * bundle into a second byte string without a key; accepting only
 * s <= n/2 (as Bitcoin's BIP 62 and the COSE/JOSE profiles that require
 * low-s do) leaves one encoding per signature. */
static const uint8_t p384_half_n[48] = {
	0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe3, 0xb1, 0xa6, 0xc0, 0xfa, 0x1b, 0x96, 0xef,
	0xac, 0x0d, 0x06, 0xd9, 0x24, 0x58, 0x53, 0xbd, 0x76, 0x76, 0x0c, 0xb5, 0x66, 0x62, 0x94, 0xb9,
};

bool fw_sig_low_s(const uint8_t sig[FW_SIG_LEN])
{
	const uint8_t *s = sig + FW_SIG_LEN / 2;
	uint8_t any = 0;
	for (size_t i = 0; i < sizeof(p384_half_n); i++)
		any |= s[i];
	if (any == 0)
		return false; /* s = 0 is no signature */
	/* Public data: a plain big-endian comparison is fine. */
	return memcmp(s, p384_half_n, sizeof(p384_half_n)) <= 0;
}

fw_status fw_sig_verify(const fw_ops *ops, const uint8_t pub[FW_POINT_LEN], const uint8_t hash[FW_DIGEST_LEN],
			const uint8_t sig[FW_SIG_LEN])
{
	if (!fw_sig_low_s(sig))
		return FW_E_BAD_SIGNATURE;
	return ops->ecdsa_p384_verify(ops->ctx, pub, hash, sig) == 1 ? FW_OK : FW_E_BAD_SIGNATURE;
}

/* SubjectPublicKeyInfo DER of an id-ecPublicKey secp384r1 key, up to the point. */
static const uint8_t spki_prefix[23] = {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86,
					0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
					0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00};

fw_status fw_point_kid(const fw_ops *ops, const uint8_t point[FW_POINT_LEN], uint8_t kid[FW_KID_LEN])
{
	uint8_t spki[sizeof(spki_prefix) + FW_POINT_LEN];
	if (point[0] != 0x04)
		return FW_E_MALFORMED;
	memcpy(spki, spki_prefix, sizeof(spki_prefix));
	memcpy(spki + sizeof(spki_prefix), point, FW_POINT_LEN);
	return ops->sha256(ops->ctx, spki, sizeof(spki), kid) ? FW_OK : FW_E_CRYPTO;
}

static const struct {
	const char *name, *text;
} names[] = {
	[FW_OK] = {"ok", "accepted"},
	[FW_E_UNSIGNED] = {"unsigned", "the bundle carries no signature"},
	[FW_E_UNKNOWN_SIGNER] = {"unknown_signer", "a signature is by a key that is not a current signer"},
	[FW_E_BELOW_THRESHOLD] = {"below_threshold", "fewer distinct signers than the threshold"},
	[FW_E_DUPLICATE_SIGNER] = {"duplicate_signer", "below the threshold once a repeated signer counts once"},
	[FW_E_REVOKED_SIGNER] = {"revoked_signer", "a signature is by a revoked (rotated-out) key"},
	[FW_E_BAD_SIGNATURE] = {"bad_signature", "a signature does not verify (or is not low-s)"},
	[FW_E_TRUST_CHAIN] = {"bad_trust_root_chain", "trust-root document not signed by both thresholds or out of sequence"},
	[FW_E_TRUST_THRESHOLD] = {"bad_trust_root_threshold", "trust root with threshold 0 or above its key count"},
	[FW_E_TRUST_EXPIRED] = {"trust_root_expired", "the current trust root has expired"},
	[FW_E_TRUST_STALE] = {"trust_root_stale", "trust root older than the device's floor"},
	[FW_E_ROLLBACK] = {"rollback", "sequence number not above the device counter"},
	[FW_E_WRONG_VENDOR] = {"wrong_vendor", "bundle is for another vendor"},
	[FW_E_WRONG_CLASS] = {"wrong_class", "bundle is for another device class"},
	[FW_E_WRONG_COMPONENT] = {"wrong_component", "bundle is for another component"},
	[FW_E_DIGEST_MISMATCH] = {"digest_mismatch", "image digest does not match the manifest"},
	[FW_E_SIZE_MISMATCH] = {"size_mismatch", "image size does not match the manifest"},
	[FW_E_TRUNCATED] = {"truncated", "input ends inside the structure"},
	[FW_E_OVERSIZED] = {"oversized", "input exceeds a limit or has trailing bytes"},
	[FW_E_MALFORMED] = {"malformed", "input is not the strict canonical encoding"},
	[FW_E_EXPIRED] = {"expired", "the bundle's use-before time has passed"},
	[FW_E_DECRYPT] = {"decrypt_failed", "the encrypted image does not authenticate"},
	[FW_E_NO_SPACE] = {"no_space", "the destination buffer is too small"},
	[FW_E_CRYPTO] = {"crypto_error", "a cryptographic operation failed"},
	[FW_E_ARGUMENT] = {"bad_argument", "invalid argument"},
	[FW_E_NO_DEVICE_KEY] = {"no_device_key", "the image is encrypted and no device key is available"},
};

const char *fw_status_name(fw_status s)
{
	if ((unsigned)s < sizeof(names) / sizeof(names[0]) && names[s].name)
		return names[s].name;
	return "unknown";
}

const char *fw_status_str(fw_status s)
{
	if ((unsigned)s < sizeof(names) / sizeof(names[0]) && names[s].text)
		return names[s].text;
	return "unknown status";
}
