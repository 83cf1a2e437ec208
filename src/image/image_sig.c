/* image_sig.c — an image's signature section (docs/image-format.md,
 * "Signature section"): checking it when an image is parsed, and signing.
 *
 * The section follows the files: magic "CLIMGSIG", u32 BE certificate
 * length C (1..CL_IMAGE_CERT_MAX), the signer's X.509 certificate (C bytes
 * of DER), and a 96-byte ECDSA P-384 signature r || s over SHA-384 of every
 * byte before the section. Nothing may follow it. The parser checks only
 * that the signature verifies under the certificate's key: whether that
 * signer is trusted is the verifier's policy, which PCR8 (the certificate's
 * measurement) lets it state.
 */
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "common/crypto.h"
#include "image/image.h"
#include "image/image_internal.h"

cl_err cl_image_hash_two(const uint8_t *data, size_t body_len, size_t len, uint8_t body[static 48],
			 uint8_t whole[static 48])
{
	EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
	unsigned int n = 0, m = 0;
	cl_err err = CL_OK;
	if (body_len > len) {
		err = cl_errorf(CL_EINVAL, "image body of %zu bytes is longer than the image (%zu)", body_len, len);
		goto out;
	}
	if (!a || !b || EVP_DigestInit_ex(a, EVP_sha384(), NULL) != 1 || EVP_DigestUpdate(a, data, body_len) != 1 ||
	    EVP_MD_CTX_copy_ex(b, a) != 1 || EVP_DigestFinal_ex(a, body, &n) != 1 ||
	    EVP_DigestUpdate(b, data + body_len, len - body_len) != 1 || EVP_DigestFinal_ex(b, whole, &m) != 1 ||
	    n != CL_SHA384_LEN || m != CL_SHA384_LEN)
		err = cl_errorf(CL_EINTERNAL, "SHA-384 failed");
out:
	EVP_MD_CTX_free(a);
	EVP_MD_CTX_free(b);
	ERR_clear_error();
	return err;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The certificate cert[0..len) as an X509 whose key is P-384. Exactly len
 * bytes must be one certificate. *out is the caller's (X509_free). */
static cl_err parse_cert(const uint8_t *cert, size_t len, X509 **out)
{
	const unsigned char *p = cert;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	cl_err err = CL_OK;
	char group[64] = "";
	size_t glen = 0;
	if (!x) {
		err = cl_errorf(CL_EINVAL, "signature section: the certificate is not a DER X.509 certificate");
		goto out;
	}
	if (p != cert + len) {
		err = cl_errorf(CL_EINVAL, "signature section: %zu bytes follow the certificate's DER inside its length",
				len - (size_t)(p - cert));
		goto out;
	}
	EVP_PKEY *k = X509_get0_pubkey(x);
	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) != 1 ||
	    strcmp(group, "secp384r1") != 0) {
		err = cl_errorf(CL_EINVAL, "signature section: the certificate's key is not a P-384 (secp384r1) EC key");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	ERR_clear_error();
	return err;
}

/* CL_OK if sig (r || s) is key's ECDSA signature of hash, else CL_ECRYPTO
 * with detail as the message. */
static cl_err verify_raw(EVP_PKEY *key, const uint8_t hash[static 48], const uint8_t sig[static CL_IMAGE_SIG_LEN],
			 const char *detail)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 48, NULL), *s = BN_bin2bn(sig + 48, 48, NULL);
	EVP_PKEY_CTX *vc = NULL;
	unsigned char *der = NULL;
	int derlen = -1;
	cl_err err = CL_OK;
	if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		err = cl_errorf(CL_EINTERNAL, "out of memory");
		goto out;
	}
	/* es owns r and s now */
	if ((derlen = i2d_ECDSA_SIG(es, &der)) <= 0 || !(vc = EVP_PKEY_CTX_new(key, NULL)) ||
	    EVP_PKEY_verify_init(vc) != 1) {
		err = cl_errorf(CL_EINTERNAL, "cannot set up ECDSA verification");
		goto out;
	}
	if (EVP_PKEY_verify(vc, der, (size_t)derlen, hash, CL_SHA384_LEN) != 1)
		err = cl_errorf(CL_ECRYPTO, "%s", detail);
out:
	OPENSSL_free(der);
	EVP_PKEY_CTX_free(vc);
	ECDSA_SIG_free(es);
	ERR_clear_error();
	return err;
}

cl_err cl_image_check_section(const uint8_t *data, size_t len, const uint8_t body_hash[static 48], cl_image *img)
{
	uint64_t off = img->body_len;
	CL_ENSURE(off < len, CL_EINTERNAL, "no signature section to check");
	size_t rest = len - (size_t)off;
	const uint8_t *p = data + off;
	/* Anything else after the files is the old "sizes do not add up". */
	CL_ENSURE(rest >= 8 && memcmp(p, CL_IMAGE_SIG_MAGIC, 8) == 0, CL_EINVAL,
		  "file sizes add up to %llu bytes but the image holds %llu after the manifest, and the %zu bytes "
		  "after the files are not a signature section",
		  (unsigned long long)(off - (img->files[0].offset)), (unsigned long long)(len - img->files[0].offset),
		  rest);
	CL_ENSURE(rest >= CL_IMAGE_SIG_HEADER_LEN, CL_EINVAL,
		  "signature section is truncated: %zu bytes, its header alone is %u", rest, CL_IMAGE_SIG_HEADER_LEN);
	uint32_t clen = be32(p + 8);
	CL_ENSURE(clen >= 1 && clen <= CL_IMAGE_CERT_MAX, CL_EINVAL,
		  "signature section: certificate length %u is outside 1..%u", clen, CL_IMAGE_CERT_MAX);
	size_t need = CL_IMAGE_SIG_HEADER_LEN + (size_t)clen + CL_IMAGE_SIG_LEN;
	CL_ENSURE(rest >= need, CL_EINVAL, "signature section is truncated: %zu bytes, it declares %zu", rest, need);
	CL_ENSURE(rest == need, CL_EINVAL, "trailing data follows the signature section (%zu bytes)", rest - need);

	X509 *x = NULL;
	CL_GUARD(parse_cert(p + CL_IMAGE_SIG_HEADER_LEN, clen, &x));
	cl_err err = verify_raw(X509_get0_pubkey(x), body_hash, p + CL_IMAGE_SIG_HEADER_LEN + clen,
				"signature section: the signature does not verify under the certificate's key");
	X509_free(x);
	CL_GUARD(err);
	img->signer_cert = off + CL_IMAGE_SIG_HEADER_LEN;
	img->signer_cert_len = clen;
	return CL_OK;
}

cl_err cl_image_sign(const uint8_t *data, size_t len, const uint8_t *cert, size_t cert_len, cl_image_signer sign,
		     void *ctx, cl_buf *out)
{
	cl_image *img = NULL, *check = NULL;
	X509 *x = NULL;
	uint8_t body_hash[CL_SHA384_LEN], whole[CL_SHA384_LEN], sig[CL_IMAGE_SIG_LEN];
	cl_err err = CL_OK;
	cl_buf_reset(out);
	CL_ENSURE(cert && sign, CL_EINVAL, "no certificate or signer");
	CL_ENSURE(cert_len >= 1 && cert_len <= CL_IMAGE_CERT_MAX, CL_EINVAL,
		  "the certificate is %zu bytes: it must be 1..%u", cert_len, CL_IMAGE_CERT_MAX);
	CL_GUARD_OUT(err, cl_image_parse(data, len, &img));
	CL_GUARD_OUT(err, parse_cert(cert, cert_len, &x));
	size_t body = (size_t)img->body_len;
	size_t total = body + CL_IMAGE_SIG_HEADER_LEN + cert_len + CL_IMAGE_SIG_LEN;
	if (total > CL_IMAGE_MAX_SIZE) {
		err = cl_errorf(CL_ETOOBIG, "the signed image would be larger than %llu bytes",
				(unsigned long long)CL_IMAGE_MAX_SIZE);
		goto out;
	}
	CL_GUARD_OUT(err, cl_image_hash_two(data, body, body, body_hash, whole));
	CL_GUARD_OUT(err, sign(ctx, body_hash, sig));
	/* The check is what binds key to certificate: any signer works, and a
	 * key that is not the certificate's is caught here, before output. */
	CL_GUARD_OUT(err, verify_raw(X509_get0_pubkey(x), body_hash, sig,
				     "the signing key does not match the certificate's public key"));
	uint8_t hdr[CL_IMAGE_SIG_HEADER_LEN];
	memcpy(hdr, CL_IMAGE_SIG_MAGIC, 8);
	hdr[8] = (uint8_t)(cert_len >> 24);
	hdr[9] = (uint8_t)(cert_len >> 16);
	hdr[10] = (uint8_t)(cert_len >> 8);
	hdr[11] = (uint8_t)cert_len;
	CL_GUARD_OUT(err, cl_buf_put(out, data, body));
	CL_GUARD_OUT(err, cl_buf_put(out, hdr, sizeof(hdr)));
	CL_GUARD_OUT(err, cl_buf_put(out, cert, cert_len));
	CL_GUARD_OUT(err, cl_buf_put(out, sig, sizeof(sig)));
	/* What we hand back is always an image the parser accepts. */
	CL_GUARD_OUT(err, cl_image_parse(out->data, out->len, &check));
out:
	if (err != CL_OK)
		cl_buf_reset(out);
	cl_image_free(check);
	cl_image_free(img);
	X509_free(x);
	return err;
}

cl_err cl_image_signer_subject(const cl_image *img, const uint8_t *data, size_t len, char *out, size_t n)
{
	CL_ENSURE(n > 0, CL_EINVAL, "no room for the subject");
	out[0] = '\0';
	CL_ENSURE(img->signer_cert_len > 0, CL_ENOTFOUND, "the image is not signed");
	CL_ENSURE(img->signer_cert <= len && img->signer_cert_len <= len - img->signer_cert, CL_EINVAL,
		  "the data is not the image's");
	X509 *x = NULL;
	CL_GUARD(parse_cert(data + img->signer_cert, img->signer_cert_len, &x));
	BIO *bio = BIO_new(BIO_s_mem());
	cl_err err = CL_OK;
	BUF_MEM *mem = NULL;
	if (!bio || X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) < 0 ||
	    BIO_get_mem_ptr(bio, &mem) != 1 || !mem) {
		err = cl_errorf(CL_EINTERNAL, "cannot print the signer's subject");
	} else {
		/* RFC 2253 escaping already turns control and non-ASCII bytes into
		 * \XX; this keeps that promise whatever OpenSSL prints. */
		size_t m = mem->length < n - 1 ? mem->length : n - 1;
		for (size_t i = 0; i < m; i++) {
			unsigned char c = (unsigned char)mem->data[i];
			out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		out[m] = '\0';
	}
	BIO_free(bio);
	X509_free(x);
	ERR_clear_error();
	return err;
}
