/* dataplane_key.c — a guest's remote key: the EVP_PKEY its SSL_CTX signs
 * with, whose private half is the key holder's slot tls/<id>:<gen>.
 *
 * The one file that knows which remote_key constructor and which curves:
 * P-256 (a key made by the key holder's tls-generate: 32-byte digests,
 * 64-byte r||s) and P-384 (kept for imported keys). The point comes from the
 * leaf certificate the agent delivered (the agent has checked it against the
 * key holder's get-public answer, docs/tls.md step 5); a leaf that does not
 * match the slot only makes handshakes fail (the client checks the
 * signature), it can never make the key holder sign for another slot. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <string.h>

#include "common/remote_key.h"
#include "tls/dataplane_internal.h"

/* The signature's length follows the curve: the key holder answers 64
 * bytes for a P-256 slot, 96 for a P-384 one. */
static cl_err sign_remote(void *ctx, const uint8_t *digest, size_t len, uint8_t *sig, size_t *sig_len)
{
	dp_signer *s = ctx;
	size_t want = s->sig_len;
	CL_ENSURE(want <= *sig_len, CL_EINTERNAL, "data plane: signature buffer");
	CL_GUARD(dp_kh_sign(s->d, s->slot, digest, len, sig, want));
	*sig_len = want;
	return CL_OK;
}

cl_err dp_key_new(X509 *leaf, dp_signer *s, EVP_PKEY **out)
{
	EVP_PKEY *pub = X509_get0_pubkey(leaf);
	uint8_t point[CL_RK_POINT_LEN];
	size_t plen = 0;
	char group[32] = "";
	int nid;
	*out = NULL;
	CL_ENSURE(pub != NULL && EVP_PKEY_is_a(pub, "EC"), CL_ECRYPTO, "data plane: the leaf's key is not EC");
	CL_ENSURE(EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) == 1,
		  CL_ECRYPTO, "data plane: the leaf's curve is unknown");
	if (strcmp(group, "prime256v1") == 0) {
		nid = NID_X9_62_prime256v1;
		s->sig_len = CL_RK_P256_SIG_LEN;
		plen = CL_RK_P256_POINT_LEN;
	} else if (strcmp(group, "secp384r1") == 0) {
		nid = NID_secp384r1;
		s->sig_len = CL_RK_SIG_LEN;
		plen = CL_RK_POINT_LEN;
	} else {
		return cl_errorf(CL_ECRYPTO, "data plane: the leaf's curve %s is neither P-256 nor P-384", group);
	}
	size_t got = 0;
	CL_ENSURE(EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point),
						  &got) == 1 &&
			  got == plen,
		  CL_ECRYPTO, "data plane: the leaf's point is not an uncompressed %s point", group);
	return cl_remote_key_new_curve(nid, point, plen, sign_remote, s, out);
}
