/* verify_decrypt.c — the device side of image encryption: ECDH P-384
 * (ephemeral-static) with the device key, HKDF-SHA384, AES-256-GCM, one pass
 * that decrypts into the destination and hashes what was written.
 * Allocation-free; HMAC/HKDF are built on the ops' SHA-384. */
#include <string.h>

#include "verify_internal.h"

#define FW_CHUNK (16 * 1024)
#define SHA384_BLOCK 128

static fw_status hmac_sha384(const fw_ops *ops, const uint8_t *key, size_t key_len, const uint8_t *m1,
			     size_t n1, const uint8_t *m2, size_t n2, const uint8_t *m3, size_t n3,
			     uint8_t out[FW_DIGEST_LEN])
{
	uint8_t pad[SHA384_BLOCK], inner[FW_DIGEST_LEN];
	fw_hash_ctx h;
	int ok;
	if (key_len > SHA384_BLOCK)
		return FW_E_ARGUMENT;
	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < key_len; i++)
		pad[i] ^= key[i];
	ok = ops->sha384_init(ops->ctx, &h) && ops->sha384_update(ops->ctx, &h, pad, sizeof(pad)) &&
	     ops->sha384_update(ops->ctx, &h, m1, n1) && (!n2 || ops->sha384_update(ops->ctx, &h, m2, n2)) &&
	     (!n3 || ops->sha384_update(ops->ctx, &h, m3, n3)) && ops->sha384_final(ops->ctx, &h, inner);
	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	ok = ok && ops->sha384_init(ops->ctx, &h) && ops->sha384_update(ops->ctx, &h, pad, sizeof(pad)) &&
	     ops->sha384_update(ops->ctx, &h, inner, sizeof(inner)) && ops->sha384_final(ops->ctx, &h, out);
	fw_wipe(pad, sizeof(pad));
	fw_wipe(inner, sizeof(inner));
	fw_wipe(&h, sizeof(h));
	return ok ? FW_OK : FW_E_CRYPTO;
}

fw_status fw_hkdf_sha384(const fw_ops *ops, const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
			 size_t info_len, uint8_t *okm, size_t okm_len)
{
	uint8_t salt[FW_DIGEST_LEN] = {0}, prk[FW_DIGEST_LEN], t[FW_DIGEST_LEN];
	const uint8_t one = 1;
	fw_status s;
	if (okm_len > FW_DIGEST_LEN)
		return FW_E_ARGUMENT;
	/* Extract: PRK = HMAC(salt = 0^48, IKM). Expand: T(1) = HMAC(PRK, info || 0x01). */
	s = hmac_sha384(ops, salt, sizeof(salt), ikm, ikm_len, NULL, 0, NULL, 0, prk);
	if (s == FW_OK)
		s = hmac_sha384(ops, prk, sizeof(prk), info, info_len, &one, 1, NULL, 0, t);
	if (s == FW_OK)
		memcpy(okm, t, okm_len);
	fw_wipe(prk, sizeof(prk));
	fw_wipe(t, sizeof(t));
	return s;
}

fw_status fw_decrypt_image(const fw_ops *ops, const fw_manifest *m, const uint8_t *ct, size_t n,
			   uint8_t *dest, uint8_t digest[FW_DIGEST_LEN])
{
	uint8_t z[48], key[32], info[sizeof(FW_HKDF_INFO) - 1 + FW_POINT_LEN];
	fw_hash_ctx h;
	fw_aead_ctx a;
	fw_status s = FW_OK;
	if ((!ops->ecdh_p384 && !ops->image_key) || !ops->aes256gcm_init || !ops->aes256gcm_update ||
	    !ops->aes256gcm_final || !ops->aes256gcm_abort)
		return FW_E_NO_DEVICE_KEY;
	if (ops->image_key) {
		/* the key holder derives it: the shared secret stays there */
		if (ops->image_key(ops->ctx, m->enc_point, key) != 1) {
			fw_wipe(key, sizeof(key));
			return FW_E_DECRYPT;
		}
	} else {
		if (ops->ecdh_p384(ops->ctx, m->enc_point, z) != 1)
			return FW_E_DECRYPT;
		memcpy(info, FW_HKDF_INFO, sizeof(FW_HKDF_INFO) - 1);
		memcpy(info + sizeof(FW_HKDF_INFO) - 1, m->enc_point, FW_POINT_LEN);
		s = fw_hkdf_sha384(ops, z, sizeof(z), info, sizeof(info), key, sizeof(key));
		fw_wipe(z, sizeof(z));
		if (s != FW_OK)
			return s;
	}
	int ok = ops->aes256gcm_init(ops->ctx, &a, key, m->enc_iv);
	fw_wipe(key, sizeof(key));
	if (!ok)
		return FW_E_CRYPTO;
	if (!ops->sha384_init(ops->ctx, &h)) {
		ops->aes256gcm_abort(ops->ctx, &a);
		return FW_E_CRYPTO;
	}
	for (size_t off = 0; ok && off < n;) {
		size_t step = n - off < FW_CHUNK ? n - off : FW_CHUNK;
		ok = ops->aes256gcm_update(ops->ctx, &a, ct + off, dest + off, step) &&
		     ops->sha384_update(ops->ctx, &h, dest + off, step);
		off += step;
	}
	if (!ok) {
		ops->aes256gcm_abort(ops->ctx, &a);
		s = FW_E_CRYPTO;
	} else if (ops->aes256gcm_final(ops->ctx, &a, m->enc_tag) != 1) {
		s = FW_E_DECRYPT;
	} else if (!ops->sha384_final(ops->ctx, &h, digest)) {
		s = FW_E_CRYPTO;
	}
	fw_wipe(&h, sizeof(h));
	fw_wipe(&a, sizeof(a));
	return s;
}
