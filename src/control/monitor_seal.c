/* monitor_seal.c — sealing at rest with the monitor's key (monitor.h
 * "sealing"): AES-256-GCM, a random 96-bit nonce per blob, the caller's aad
 * bound in through GCM's associated data behind a fixed label.
 *
 * A random nonce under one key is safe for about 2^32 seals (NIST SP
 * 800-38D 8.3); the broker seals once per secret put, far below that. */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "common/util.h"
#include "control/monitor.h"

#define SEAL_LABEL "cloister-seal/1"

/* The GCM associated data: "cloister-seal/1" 0x00 aad. */
static cl_err put_aad(EVP_CIPHER_CTX *cc, const char *aad, int enc)
{
	static const uint8_t label[] = SEAL_LABEL; /* with its NUL: the 0x00 separator */
	int outl = 0;
	size_t n = strlen(aad);
	int ok = enc ? EVP_EncryptUpdate(cc, NULL, &outl, label, (int)sizeof(label)) == 1 &&
			       EVP_EncryptUpdate(cc, NULL, &outl, (const uint8_t *)aad, (int)n) == 1
		     : EVP_DecryptUpdate(cc, NULL, &outl, label, (int)sizeof(label)) == 1 &&
			       EVP_DecryptUpdate(cc, NULL, &outl, (const uint8_t *)aad, (int)n) == 1;
	CL_ENSURE(ok, CL_EINTERNAL, "AES-256-GCM: associated data refused");
	return CL_OK;
}

static cl_err check_aad(const char *aad)
{
	size_t n = strlen(aad);
	CL_ENSURE(n >= 1 && n <= CTL_MON_SEAL_AAD_MAX, CL_EINVAL, "a seal's aad is 1..%d characters, not %zu",
		  CTL_MON_SEAL_AAD_MAX, n);
	return CL_OK;
}

cl_err ctl_seal(const uint8_t key[CTL_MON_SEAL_KEY_LEN], const char *aad, const uint8_t *pt, size_t n, cl_buf *out)
{
	EVP_CIPHER_CTX *cc = NULL;
	uint8_t version = CTL_SEAL_VERSION, nonce[CTL_SEAL_NONCE_LEN], tag[CTL_SEAL_TAG_LEN];
	int outl = 0;
	cl_err err = CL_OK;
	cl_buf_reset(out);
	CL_GUARD(check_aad(aad));
	CL_ENSURE(n >= 1 && n <= CTL_MON_SEAL_MAX, CL_EINVAL, "a sealed plaintext is 1..%d bytes, not %zu",
		  CTL_MON_SEAL_MAX, n);
	CL_GUARD_OUT(err, cl_random(nonce, sizeof(nonce)));
	CL_GUARD_OUT(err, cl_buf_put(out, &version, 1));
	CL_GUARD_OUT(err, cl_buf_put(out, nonce, sizeof(nonce)));
	CL_GUARD_OUT(err, cl_buf_put(out, pt, n)); /* sizes out; encrypted in place */
	uint8_t *ct = out->data + 1 + CTL_SEAL_NONCE_LEN;
	cc = EVP_CIPHER_CTX_new();
	if (!cc || EVP_EncryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, nonce) != 1) {
		err = cl_errorf(CL_EINTERNAL, "AES-256-GCM: cannot start");
		goto out;
	}
	CL_GUARD_OUT(err, put_aad(cc, aad, 1));
	if (EVP_EncryptUpdate(cc, ct, &outl, ct, (int)n) != 1 || EVP_EncryptFinal_ex(cc, ct + n, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, CTL_SEAL_TAG_LEN, tag) != 1) {
		err = cl_errorf(CL_EINTERNAL, "AES-256-GCM encryption failed");
		goto out;
	}
	CL_GUARD_OUT(err, cl_buf_put(out, tag, sizeof(tag)));
out:
	if (err != CL_OK)
		cl_buf_reset(out); /* wipes: it may hold plaintext */
	EVP_CIPHER_CTX_free(cc);
	ERR_clear_error();
	return err;
}

cl_err ctl_unseal(const uint8_t key[CTL_MON_SEAL_KEY_LEN], const char *aad, const uint8_t *blob, size_t n,
		  cl_buf *out)
{
	EVP_CIPHER_CTX *cc = NULL;
	int outl = 0;
	cl_err err = CL_OK;
	cl_buf_reset(out);
	CL_GUARD(check_aad(aad));
	CL_ENSURE(n > CTL_SEAL_OVERHEAD && n - CTL_SEAL_OVERHEAD <= CTL_MON_SEAL_MAX, CL_ECRYPTO,
		  "a sealed blob of %zu bytes is not %d + 1..%d", n, CTL_SEAL_OVERHEAD, CTL_MON_SEAL_MAX);
	CL_ENSURE(blob[0] == CTL_SEAL_VERSION, CL_ECRYPTO, "sealed blob version %u is not %d", blob[0],
		  CTL_SEAL_VERSION);
	size_t mlen = n - CTL_SEAL_OVERHEAD;
	const uint8_t *nonce = blob + 1, *ct = nonce + CTL_SEAL_NONCE_LEN, *tag = ct + mlen;
	CL_GUARD_OUT(err, cl_buf_put(out, ct, mlen));
	cc = EVP_CIPHER_CTX_new();
	if (!cc || EVP_DecryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, nonce) != 1) {
		err = cl_errorf(CL_EINTERNAL, "AES-256-GCM: cannot start");
		goto out;
	}
	CL_GUARD_OUT(err, put_aad(cc, aad, 0));
	if (EVP_DecryptUpdate(cc, out->data, &outl, out->data, (int)mlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, CTL_SEAL_TAG_LEN, (void *)tag) != 1 ||
	    EVP_DecryptFinal_ex(cc, out->data + mlen, &outl) != 1)
		err = cl_errorf(CL_ECRYPTO, "the sealed blob does not open (another aad or key, or changed)");
out:
	if (err != CL_OK)
		cl_buf_reset(out); /* no unauthenticated plaintext leaves */
	EVP_CIPHER_CTX_free(cc);
	ERR_clear_error();
	return err;
}
