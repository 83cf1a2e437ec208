/* ca.c — local CA and server certificate (OpenSSL EVP / X509 APIs). */
#include "control/ca.h"

#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"

static cl_err new_ec_key(EVP_PKEY **out)
{
	*out = EVP_EC_gen("P-384");
	return *out ? CL_OK : cl_errorf(CL_ECRYPTO, "EC P-384 key generation failed");
}

/* Writes a PEM produced by fn into path atomically with mode. Wipes the temporary. */
static cl_err write_pem(const char *path, unsigned mode, EVP_PKEY *key, X509 *cert)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return CL_ENOMEM;
	int ok = key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, cert);
	cl_err err = CL_OK;
	if (!ok) {
		err = cl_errorf(CL_ECRYPTO, "PEM encoding failed");
	} else {
		char *p = NULL;
		long n = BIO_get_mem_data(b, &p);
		err = cl_file_write_atomic(path, p, (size_t)n, mode);
		OPENSSL_cleanse(p, (size_t)n);
	}
	BIO_free(b);
	return err;
}

static cl_err set_name(X509_NAME *name, const char *cn)
{
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Cloister", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
		return cl_errorf(CL_ECRYPTO, "X509 name");
	return CL_OK;
}

static cl_err add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return cl_errorf(CL_ECRYPTO, "X509 extension %d", nid);
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? CL_OK : cl_errorf(CL_ECRYPTO, "X509 add extension");
}

/* Issues a certificate for key; self-signed when issuer is NULL. */
static cl_err issue(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool is_ca, long days,
		    X509 **out)
{
	cl_err err = CL_OK;
	X509 *c = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	if (!c)
		return CL_ENOMEM;
	CL_GUARD_OUT(err, cl_random(serial, sizeof(serial)));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) || !X509_set_version(c, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -3600) || !X509_gmtime_adj(X509_getm_notAfter(c), days * 86400) ||
	    !X509_set_pubkey(c, key)) {
		err = cl_errorf(CL_ECRYPTO, "X509 fields");
		goto out;
	}
	CL_GUARD_OUT(err, set_name(X509_get_subject_name(c), cn));
	if (!X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(c))) {
		err = cl_errorf(CL_ECRYPTO, "X509 issuer");
		goto out;
	}
	X509 *iss = issuer ? issuer : c;
	if (is_ca) {
		CL_GUARD_OUT(err, add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign"));
	} else {
		CL_GUARD_OUT(err, add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_key_usage, "critical,digitalSignature"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_ext_key_usage, "serverAuth"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost"));
	}
	CL_GUARD_OUT(err, add_ext(c, iss, NID_subject_key_identifier, "hash"));
	if (!X509_sign(c, issuer_key ? issuer_key : key, EVP_sha384())) {
		err = cl_errorf(CL_ECRYPTO, "X509 sign");
		goto out;
	}
	*out = c;
	c = NULL;
out:
	BN_free(bn);
	X509_free(c);
	return err;
}

static cl_err load_key(const char *path, EVP_PKEY **out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return cl_errorf(CL_EIO, "cannot open %s", path);
	*out = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return *out ? CL_OK : cl_errorf(CL_ECRYPTO, "cannot read key %s", path);
}

static cl_err load_cert(const char *path, X509 **out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return cl_errorf(CL_EIO, "cannot open %s", path);
	*out = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return *out ? CL_OK : cl_errorf(CL_ECRYPTO, "cannot read certificate %s", path);
}

static bool exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

cl_err ctl_ca_ensure(const char *dir)
{
	char ca_pem[PATH_MAX], ca_key[PATH_MAX], srv_pem[PATH_MAX], srv_key[PATH_MAX];
	EVP_PKEY *cak = NULL, *sk = NULL;
	X509 *cac = NULL, *sc = NULL;
	cl_err err = CL_OK;
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
	snprintf(ca_key, sizeof(ca_key), "%s/ca.key", dir);
	snprintf(srv_pem, sizeof(srv_pem), "%s/server.pem", dir);
	snprintf(srv_key, sizeof(srv_key), "%s/server.key", dir);
	if (exists(ca_key) && exists(ca_pem)) {
		CL_GUARD_OUT(err, load_key(ca_key, &cak));
		CL_GUARD_OUT(err, load_cert(ca_pem, &cac));
		if (exists(srv_pem) && exists(srv_key)) {
			/* A kill between writing the server key and its certificate
			 * leaves a mismatched pair: re-issue in that case. */
			CL_GUARD_OUT(err, load_key(srv_key, &sk));
			CL_GUARD_OUT(err, load_cert(srv_pem, &sc));
			if (X509_check_private_key(sc, sk) == 1)
				goto out;
			EVP_PKEY_free(sk);
			X509_free(sc);
			sk = NULL;
			sc = NULL;
		}
	} else {
		/* Key first: a kill between the two writes leaves no CA cert, so the
		 * next start makes a fresh pair instead of a mismatched one. */
		CL_GUARD_OUT(err, new_ec_key(&cak));
		CL_GUARD_OUT(err, issue(cak, "Cloister local CA", NULL, NULL, true, 3650, &cac));
		CL_GUARD_OUT(err, write_pem(ca_key, 0600, cak, NULL));
		CL_GUARD_OUT(err, write_pem(ca_pem, 0644, NULL, cac));
		cl_info("created local CA path=%s", ca_pem);
	}
	CL_GUARD_OUT(err, new_ec_key(&sk));
	CL_GUARD_OUT(err, issue(sk, "cloister-control", cac, cak, false, 825, &sc));
	CL_GUARD_OUT(err, write_pem(srv_key, 0600, sk, NULL));
	CL_GUARD_OUT(err, write_pem(srv_pem, 0644, NULL, sc));
out:
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	X509_free(cac);
	X509_free(sc);
	return err;
}
