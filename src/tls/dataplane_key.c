/* dataplane_key.c — a guest's remote key: the EVP_PKEY its SSL_CTX signs
 * with, whose private half is the key holder's slot tls/<id>:<gen>.
 *
 * The one file that knows which remote_key constructor and which curve. Today
 * that is cl_remote_key_new (P-384, 96-byte r||s); when the key holder's tls/
 * slots become P-256 (branch h-tlskeys) this switches to
 * cl_remote_key_new_curve(nid, point, len, sign2, ...) and DP_SIG_MAX's users
 * take the length the callback gives. The point comes from the leaf
 * certificate the agent delivered (the agent has checked it against the key
 * holder's get-public answer, docs/tls.md step 5); a leaf that does not
 * match the slot only makes handshakes fail (the client checks the
 * signature), it can never make the key holder sign for another slot. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "common/remote_key.h"
#include "tls/dataplane_internal.h"

static cl_err sign_p384(void *ctx, const uint8_t *digest, size_t len, uint8_t sig[CL_RK_SIG_LEN])
{
	dp_signer *s = ctx;
	return dp_kh_sign(s->d, s->slot, digest, len, sig, CL_RK_SIG_LEN);
}

cl_err dp_key_new(X509 *leaf, dp_signer *s, EVP_PKEY **out)
{
	EVP_PKEY *pub = X509_get0_pubkey(leaf);
	uint8_t point[CL_RK_POINT_LEN];
	size_t plen = 0;
	char group[32] = "";
	*out = NULL;
	CL_ENSURE(pub != NULL && EVP_PKEY_is_a(pub, "EC"), CL_ECRYPTO, "data plane: the leaf's key is not EC");
	CL_ENSURE(EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) == 1,
		  CL_ECRYPTO, "data plane: the leaf's curve is unknown");
	CL_ENSURE(strcmp(group, "secp384r1") == 0, CL_ECRYPTO,
		  "data plane: the leaf's curve %s is not the key holder's (P-384)", group);
	CL_ENSURE(EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point),
						  &plen) == 1 &&
			  plen == CL_RK_POINT_LEN,
		  CL_ECRYPTO, "data plane: the leaf's point is not an uncompressed P-384 point");
	return cl_remote_key_new(point, sign_p384, s, out);
}
