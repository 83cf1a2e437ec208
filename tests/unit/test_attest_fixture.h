/* test_attest_fixture.h — a root -> hosts intermediate -> host leaf chain
 * made with OpenSSL in process, shaped like the control plane's (ATTEST
 * contract), with knobs to break one property at a time; and a signing
 * callback for cl_att_build over an in-process key. Shared by
 * tests/unit/test_attest.c, tests/tools/attest_tool.c and
 * bench/bench_attest.c; aborts on any OpenSSL failure (tests only). */
#ifndef CL_TEST_ATTEST_FIXTURE_H
#define CL_TEST_ATTEST_FIXTURE_H

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"

#define FX_CHECK(c)                                                                                \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fixture: %s failed (%s:%d)\n", #c, __FILE__, __LINE__);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* What to break. The zero value gives the contract's chain. */
typedef struct fx_opts {
	const char *root_bc;     /* default "critical,CA:TRUE" */
	const char *inter_bc;    /* default "critical,CA:TRUE,pathlen:0" */
	const char *inter_ku;    /* default "critical,keyCertSign,cRLSign" */
	const char *leaf_bc;     /* default "critical,CA:FALSE"; "" leaves it out */
	const char *leaf_ku;     /* default "critical,digitalSignature" */
	const char *leaf_curve;  /* default "P-384" */
	long leaf_not_after;     /* seconds from now; default one year */
	long leaf_not_before;    /* seconds from now; default -3600 */
	int no_akid;             /* leave out the authority key identifier */
	int extra_inter;         /* a second intermediate between inter and leaf */
} fx_opts;

typedef struct fx_chain {
	EVP_PKEY *root_key, *inter_key, *inter2_key, *leaf_key;
	X509 *root, *inter, *inter2, *leaf;
	uint8_t *root_der, *inter_der, *inter2_der, *leaf_der;
	size_t root_len, inter_len, inter2_len, leaf_len;
} fx_chain;

static inline void fx_ext(X509 *x, X509 *issuer, int nid, const char *val)
{
	if (!val || !*val)
		return;
	X509V3_CTX v;
	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, val);
	FX_CHECK(e);
	FX_CHECK(X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
}

/* A certificate for key, signed by ikey (self-signed when issuer is NULL). */
static inline X509 *fx_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, const char *bc,
			    const char *ku, long not_before, long not_after, int akid)
{
	static unsigned serial = 0x1000;
	X509 *x = X509_new();
	FX_CHECK(x);
	FX_CHECK(X509_set_version(x, 2));
	FX_CHECK(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), 0x7a5e000000000000ull + ++serial));
	FX_CHECK(X509_gmtime_adj(X509_getm_notBefore(x), not_before));
	FX_CHECK(X509_gmtime_adj(X509_getm_notAfter(x), not_after));
	FX_CHECK(X509_set_pubkey(x, key));
	X509_NAME *n = X509_get_subject_name(x);
	FX_CHECK(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0));
	FX_CHECK(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n));
	X509 *iss = issuer ? issuer : x;
	fx_ext(x, iss, NID_basic_constraints, bc);
	fx_ext(x, iss, NID_key_usage, ku);
	fx_ext(x, iss, NID_subject_key_identifier, "hash");
	if (akid)
		fx_ext(x, iss, NID_authority_key_identifier, "keyid:always");
	FX_CHECK(X509_sign(x, ikey ? ikey : key, EVP_sha384()));
	return x;
}

static inline uint8_t *fx_der(X509 *x, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);
	FX_CHECK(n > 0);
	*len = (size_t)n;
	return p;
}

static inline const char *fx_or(const char *v, const char *dflt)
{
	return v ? v : dflt;
}

static inline void fx_chain_make(fx_chain *c, const fx_opts *o)
{
	static const fx_opts none;
	if (!o)
		o = &none;
	memset(c, 0, sizeof(*c));
	c->root_key = EVP_EC_gen("P-384");
	c->inter_key = EVP_EC_gen("P-384");
	c->leaf_key = EVP_EC_gen(fx_or(o->leaf_curve, "P-384"));
	FX_CHECK(c->root_key && c->inter_key && c->leaf_key);
	c->root = fx_cert("Cloister test root", c->root_key, NULL, NULL, fx_or(o->root_bc, "critical,CA:TRUE"),
			  "critical,keyCertSign,cRLSign", -3600, 10L * 365 * 86400, 0);
	c->inter = fx_cert("Cloister hosts CA", c->inter_key, c->root, c->root_key,
			   fx_or(o->inter_bc, "critical,CA:TRUE,pathlen:0"),
			   fx_or(o->inter_ku, "critical,keyCertSign,cRLSign"), -3600, 5L * 365 * 86400, !o->no_akid);
	X509 *leaf_issuer = c->inter;
	EVP_PKEY *leaf_ikey = c->inter_key;
	if (o->extra_inter) {
		c->inter2_key = EVP_EC_gen("P-384");
		FX_CHECK(c->inter2_key);
		c->inter2 = fx_cert("Cloister hosts CA 2", c->inter2_key, c->inter, c->inter_key,
				    "critical,CA:TRUE", "critical,keyCertSign,cRLSign", -3600, 5L * 365 * 86400,
				    !o->no_akid);
		c->inter2_der = fx_der(c->inter2, &c->inter2_len);
		leaf_issuer = c->inter2;
		leaf_ikey = c->inter2_key;
	}
	c->leaf = fx_cert("host-test-1", c->leaf_key, leaf_issuer, leaf_ikey, fx_or(o->leaf_bc, "critical,CA:FALSE"),
			  fx_or(o->leaf_ku, "critical,digitalSignature"),
			  o->leaf_not_before ? o->leaf_not_before : -3600,
			  o->leaf_not_after ? o->leaf_not_after : 365L * 86400, !o->no_akid);
	c->root_der = fx_der(c->root, &c->root_len);
	c->inter_der = fx_der(c->inter, &c->inter_len);
	c->leaf_der = fx_der(c->leaf, &c->leaf_len);
}

static inline void fx_chain_free(fx_chain *c)
{
	EVP_PKEY_free(c->root_key);
	EVP_PKEY_free(c->inter_key);
	EVP_PKEY_free(c->inter2_key);
	EVP_PKEY_free(c->leaf_key);
	X509_free(c->root);
	X509_free(c->inter);
	X509_free(c->inter2);
	X509_free(c->leaf);
	OPENSSL_free(c->root_der);
	OPENSSL_free(c->inter_der);
	OPENSSL_free(c->inter2_der);
	OPENSSL_free(c->leaf_der);
	memset(c, 0, sizeof(*c));
}

/* cl_att_sign_fn over an in-process EVP_PKEY (ctx): ECDSA on the digest,
 * DER turned into r || s, each left-padded to 48 bytes. */
static inline cl_err fx_sign(void *ctx, const uint8_t digest[CL_ATT_DIGEST_LEN], uint8_t sig[CL_ATT_SIG_LEN])
{
	EVP_PKEY *key = ctx;
	unsigned char der[160];
	size_t derlen = sizeof(der);
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new(key, NULL);
	cl_err err = CL_ECRYPTO;
	if (p && EVP_PKEY_sign_init(p) == 1 && EVP_PKEY_CTX_set_signature_md(p, EVP_sha384()) == 1 &&
	    EVP_PKEY_sign(p, der, &derlen, digest, CL_ATT_DIGEST_LEN) == 1) {
		const unsigned char *q = der;
		ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &q, (long)derlen);
		if (s && BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 48) == 48 &&
		    BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 48, 48) == 48)
			err = CL_OK;
		ECDSA_SIG_free(s);
	}
	EVP_PKEY_CTX_free(p);
	return err;
}

/* Fields for a document from chain c: module id, PCRn = n repeated, the
 * leaf, the bundle [root, inter(, inter2)], the given nonce (may be NULL). */
static inline void fx_fields(cl_att_fields *f, const fx_chain *c, const uint8_t *nonce, size_t nonce_len)
{
	memset(f, 0, sizeof(*f));
	f->module_id = "enc-test0000000000000001";
	f->timestamp_ms = 1796601600000ull;
	for (int i = 0; i < CL_ATT_NPCRS; i++)
		memset(f->pcrs[i], i, CL_ATT_PCR_LEN);
	f->certificate = (cl_att_bytes){c->leaf_der, c->leaf_len};
	f->cabundle[0] = (cl_att_bytes){c->root_der, c->root_len};
	f->cabundle[1] = (cl_att_bytes){c->inter_der, c->inter_len};
	f->ncabundle = 2;
	if (c->inter2)
		f->cabundle[f->ncabundle++] = (cl_att_bytes){c->inter2_der, c->inter2_len};
	if (nonce)
		f->nonce = (cl_att_bytes){nonce, nonce_len};
}

#endif
