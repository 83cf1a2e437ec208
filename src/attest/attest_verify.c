/* attest_verify.c — verifies a parsed attestation document (attest.h).
 *
 * The checks run in the order a verifier must trust things: the root is
 * pinned by an exact DER match; the chain is built by OpenSSL's
 * X509_verify_cert with that root as the only trust anchor (so dates,
 * signatures, basicConstraints, path lengths and key usage of the CAs are
 * OpenSSL's well-tested code, in X509_V_FLAG_X509_STRICT mode); the leaf must
 * be able to do nothing but sign documents; only then is its key used for the
 * COSE signature, and only a signed payload is compared with the expected
 * PCRs and nonce.
 */
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "common/util.h"

const char *cl_att_check_name(enum cl_att_check c)
{
	switch (c) {
	case CL_ATT_CHECK_NONE: return "none";
	case CL_ATT_CHECK_FORMAT: return "format";
	case CL_ATT_CHECK_ROOT: return "root";
	case CL_ATT_CHECK_CHAIN: return "chain";
	case CL_ATT_CHECK_SIGNATURE: return "signature";
	case CL_ATT_CHECK_PCR: return "pcr";
	case CL_ATT_CHECK_NONCE: return "nonce";
	case CL_ATT_CHECK_REVOKED: return "revoked";
	}
	return "unknown";
}

/* One DER certificate, all of its bytes and nothing more; NULL if not. */
static X509 *der_cert(cl_att_bytes b)
{
	const unsigned char *p = b.p;
	X509 *x = d2i_X509(NULL, &p, (long)b.n);
	if (x && p != b.p + b.n) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The certificates of a document, parsed. */
typedef struct att_certs {
	X509 *leaf;
	X509 *bundle[CL_ATT_CABUNDLE_MAX];
	size_t n;
} att_certs;

static void certs_free(att_certs *c)
{
	X509_free(c->leaf);
	for (size_t i = 0; i < c->n; i++)
		X509_free(c->bundle[i]);
}

static cl_err certs_load(const cl_att_doc *d, att_certs *c)
{
	c->leaf = der_cert(d->f.certificate);
	CL_ENSURE(c->leaf, CL_ECRYPTO, "format: certificate is not one DER X.509 certificate");
	for (c->n = 0; c->n < d->f.ncabundle; c->n++) {
		c->bundle[c->n] = der_cert(d->f.cabundle[c->n]);
		CL_ENSURE(c->bundle[c->n], CL_ECRYPTO, "format: cabundle[%zu] is not one DER X.509 certificate", c->n);
	}
	return CL_OK;
}

/* X509_verify_cert with the root as the only anchor, the rest of cabundle
 * as untrusted intermediates, then the built chain must be exactly
 * leaf, cabundle[n-1], ..., cabundle[0]: no certificate left over. */
static cl_err check_chain(const att_certs *c, time_t now)
{
	cl_err err = CL_OK;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	if (!store || !ctx || !untrusted || X509_STORE_add_cert(store, c->bundle[0]) != 1) {
		err = cl_errorf(CL_EINTERNAL, "chain: OpenSSL could not set up the verification");
		goto out;
	}
	for (size_t i = 1; i < c->n; i++) {
		if (!sk_X509_push(untrusted, c->bundle[i])) {
			err = cl_errorf(CL_EINTERNAL, "chain: out of memory");
			goto out;
		}
	}
	if (X509_STORE_CTX_init(ctx, store, c->leaf, untrusted) != 1) {
		err = cl_errorf(CL_EINTERNAL, "chain: OpenSSL could not set up the verification");
		goto out;
	}
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, now);
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		int code = X509_STORE_CTX_get_error(ctx);
		err = cl_errorf(CL_ECRYPTO, "chain: %s (depth %d)", X509_verify_cert_error_string(code),
				X509_STORE_CTX_get_error_depth(ctx));
		goto out;
	}
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	bool exact = chain && (size_t)sk_X509_num(chain) == c->n + 1 && X509_cmp(sk_X509_value(chain, 0), c->leaf) == 0;
	for (size_t i = 1; exact && i <= c->n; i++)
		exact = X509_cmp(sk_X509_value(chain, (int)i), c->bundle[c->n - i]) == 0;
	if (!exact)
		err = cl_errorf(CL_ECRYPTO, "chain: cabundle is not exactly the path from the root to the leaf");
out:
	sk_X509_free(untrusted); /* the certificates stay c's */
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return err;
}

/* A host leaf can sign documents and nothing else. */
static cl_err check_leaf(X509 *leaf)
{
	char group[32] = "";
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	CL_ENSURE(pk && EVP_PKEY_is_a(pk, "EC") &&
			  EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) == 1 &&
			  strcmp(group, SN_secp384r1) == 0,
		  CL_ECRYPTO, "chain: the leaf's key is not ECDSA P-384");
	uint32_t flags = X509_get_extension_flags(leaf);
	CL_ENSURE((flags & EXFLAG_BCONS) && !(flags & EXFLAG_CA), CL_ECRYPTO,
		  "chain: the leaf must carry basicConstraints CA:FALSE");
	CL_ENSURE((flags & EXFLAG_KUSAGE) && X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE, CL_ECRYPTO,
		  "chain: the leaf's keyUsage must be digitalSignature only");
	return CL_OK;
}

/* The COSE signature (raw r || s) over the Sig_structure's digest. */
static cl_err check_signature(const cl_att_doc *d, X509 *leaf)
{
	cl_err err = cl_errorf(CL_ECRYPTO, "signature: does not verify under the leaf's key");
	unsigned char *der = NULL;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(d->signature, CL_ATT_SIG_LEN / 2, NULL);
	BIGNUM *s = BN_bin2bn(d->signature + CL_ATT_SIG_LEN / 2, CL_ATT_SIG_LEN / 2, NULL);
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(X509_get0_pubkey(leaf), NULL);
	if (!sig || !r || !s || !pctx || ECDSA_SIG_set0(sig, r, s) != 1) {
		err = cl_errorf(CL_EINTERNAL, "signature: OpenSSL could not set up the verification");
		goto out;
	}
	r = s = NULL; /* sig owns them */
	int derlen = i2d_ECDSA_SIG(sig, &der);
	if (derlen > 0 && EVP_PKEY_verify_init(pctx) == 1 && EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha384()) == 1 &&
	    EVP_PKEY_verify(pctx, der, (size_t)derlen, d->tbs_digest, CL_ATT_DIGEST_LEN) == 1)
		err = CL_OK;
out:
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	EVP_PKEY_CTX_free(pctx);
	return err;
}

/* "ab12cd34ef56..": the first 8 bytes of a value, for a detail. */
static void short_hex(const uint8_t *p, size_t n, char out[21])
{
	size_t k = n < 8 ? n : 8;
	cl_hex_encode(p, k, out);
	if (n > k)
		memcpy(out + 2 * k, "..", 3);
}

static cl_err check_pcrs(const cl_att_doc *d, const cl_att_expect *e)
{
	for (int i = 0; i < CL_ATT_NPCRS; i++) {
		if (!(e->pcr_mask & (1u << i)) || CRYPTO_memcmp(d->f.pcrs[i], e->pcr[i], CL_ATT_PCR_LEN) == 0)
			continue;
		char want[21], got[21];
		short_hex(e->pcr[i], CL_ATT_PCR_LEN, want);
		short_hex(d->f.pcrs[i], CL_ATT_PCR_LEN, got);
		return cl_errorf(CL_ECRYPTO, "pcr: PCR%d differs: expected %s got %s", i, want, got);
	}
	return CL_OK;
}

static cl_err check_nonce(const cl_att_doc *d, const cl_att_expect *e)
{
	if (!e->nonce)
		return CL_OK;
	CL_ENSURE(d->f.nonce.p, CL_ECRYPTO, "nonce: the document carries no nonce");
	CL_ENSURE(d->f.nonce.n == e->nonce_len && CRYPTO_memcmp(d->f.nonce.p, e->nonce, e->nonce_len) == 0,
		  CL_ECRYPTO, "nonce: the document's nonce is not the expected one");
	return CL_OK;
}

cl_err cl_att_verify(const cl_att_doc *d, const cl_att_expect *e, enum cl_att_check *failed)
{
	cl_err err;
	enum cl_att_check at = CL_ATT_CHECK_ROOT;
	att_certs c = {0};
	if (failed)
		*failed = CL_ATT_CHECK_NONE;
	if (!d || !e || !e->root_der || e->root_len == 0)
		return cl_errorf(CL_EINVAL, "verify: no document or no trusted root given");
	const cl_att_bytes *root = &d->f.cabundle[0];
	if (d->f.ncabundle < 1 || root->n != e->root_len || memcmp(root->p, e->root_der, e->root_len) != 0) {
		err = cl_errorf(CL_ECRYPTO, "root: cabundle[0] is not the trusted root certificate");
		goto out;
	}
	at = CL_ATT_CHECK_FORMAT;
	CL_GUARD_OUT(err, certs_load(d, &c));
	at = CL_ATT_CHECK_CHAIN;
	CL_GUARD_OUT(err, check_chain(&c, e->now));
	CL_GUARD_OUT(err, check_leaf(c.leaf));
	at = CL_ATT_CHECK_SIGNATURE;
	CL_GUARD_OUT(err, check_signature(d, c.leaf));
	at = CL_ATT_CHECK_PCR;
	CL_GUARD_OUT(err, check_pcrs(d, e));
	at = CL_ATT_CHECK_NONCE;
	CL_GUARD_OUT(err, check_nonce(d, e));
out:
	certs_free(&c);
	if (err != CL_OK && failed)
		*failed = at;
	return err;
}

cl_err cl_att_leaf_serial(const cl_att_doc *d, char hex[41])
{
	cl_err err = CL_OK;
	hex[0] = '\0';
	X509 *leaf = der_cert(d->f.certificate);
	CL_ENSURE(leaf, CL_EINVAL, "certificate: not one DER X.509 certificate");
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	uint8_t bytes[20];
	int n = bn ? BN_num_bytes(bn) : -1;
	if (n < 0 || n > (int)sizeof(bytes) || BN_is_negative(bn)) {
		err = cl_errorf(CL_EINVAL, "certificate: serial number is not a positive number of at most 20 bytes");
		goto out;
	}
	if (n == 0) {
		memcpy(hex, "0", 2);
		goto out;
	}
	BN_bn2bin(bn, bytes);
	char full[41];
	cl_hex_encode(bytes, (size_t)n, full);
	const char *p = full[0] == '0' ? full + 1 : full; /* one leading zero nibble at most */
	memcpy(hex, p, strlen(p) + 1);
out:
	BN_free(bn);
	X509_free(leaf);
	return err;
}
