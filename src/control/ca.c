/* ca.c — local CA and server certificate (OpenSSL EVP / X509 APIs), held by
 * the monitor only (ca.h). */
#include "control/ca.h"
#include "control/ca_priv.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"

#define CTL_ROOT_CN "Cloister local CA"


/* ---------------------------------------------------------------- names */

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static cl_err names_insert(ctl_names *names, const char *canon)
{
	for (size_t i = 0; i < names->n; i++)
		if (strcmp(names->v[i], canon) == 0)
			return CL_OK;
	CL_ENSURE(names->n < CTL_NAMES_MAX, CL_ELIMIT, "at most %d server names", CTL_NAMES_MAX);
	snprintf(names->v[names->n++], CTL_NAME_LEN, "%s", canon);
	qsort(names->v, names->n, CTL_NAME_LEN, cmp_name);
	return CL_OK;
}

void ctl_names_default(ctl_names *out)
{
	/* canonical already, and sorted */
	memset(out, 0, sizeof(*out));
	snprintf(out->v[0], CTL_NAME_LEN, "DNS:localhost");
	snprintf(out->v[1], CTL_NAME_LEN, "IP:127.0.0.1");
	snprintf(out->v[2], CTL_NAME_LEN, "IP:::1");
	out->n = 3;
}

/* A DNS name as RFC 1123 hosts have them (plus a leading "*."), lowercased
 * into out[254]. */
static bool dns_name(const char *s, char *out)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253)
		return false;
	if (strncmp(s, "*.", 2) == 0) {
		memcpy(out, "*.", 2);
		return dns_name(s + 2, out + 2) && n > 2;
	}
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if (isalnum((unsigned char)c) || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
		out[i] = (char)tolower((unsigned char)c);
	}
	return true;
}

cl_err ctl_names_add(ctl_names *names, const char *value)
{
	char canon[CTL_NAME_LEN], host[254];
	unsigned char ip[16];
	if (inet_pton(AF_INET, value, ip) == 1) {
		memcpy(canon, "IP:", 3);
		inet_ntop(AF_INET, ip, canon + 3, sizeof(canon) - 3);
	} else if (inet_pton(AF_INET6, value, ip) == 1) {
		memcpy(canon, "IP:", 3);
		inet_ntop(AF_INET6, ip, canon + 3, sizeof(canon) - 3);
	} else if (dns_name(value, host)) {
		snprintf(canon, sizeof(canon), "DNS:%s", host);
	} else {
		return cl_errorf(CL_EINVAL, "--server-name: not an IP address or a DNS name");
	}
	return names_insert(names, canon);
}

/* The SAN list of cert, canonical and sorted like ctl_names. */
static cl_err cert_names(X509 *cert, ctl_names *out)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	cl_err err = CL_OK;
	memset(out, 0, sizeof(*out));
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && err == CL_OK; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char canon[CTL_NAME_LEN];
		if (g->type == GEN_DNS) {
			const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
			int len = ASN1_STRING_length(g->d.dNSName);
			if (len <= 0 || len > 253 || memchr(d, 0, (size_t)len))
				continue;
			snprintf(canon, sizeof(canon), "DNS:%.*s", len, (const char *)d);
		} else if (g->type == GEN_IPADD) {
			int len = ASN1_STRING_length(g->d.iPAddress);
			memcpy(canon, "IP:", 3);
			if ((len != 4 && len != 16) ||
			    !inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), canon + 3,
				       sizeof(canon) - 3))
				continue;
		} else {
			continue;
		}
		err = names_insert(out, canon);
	}
	GENERAL_NAMES_free(gens);
	return err;
}

static bool same_names(const ctl_names *a, const ctl_names *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

/* "IP:127.0.0.1,DNS:localhost" for X509V3_EXT_conf_nid into out (caller frees). */
static cl_err san_value(const ctl_names *names, cl_buf *out)
{
	cl_buf_init(out, CTL_NAMES_MAX * (CTL_NAME_LEN + 1) + 1);
	for (size_t i = 0; i < names->n; i++)
		CL_GUARD(cl_buf_printf(out, "%s%s", i ? "," : "", names->v[i]));
	return cl_buf_put_u8(out, 0);
}

/* ---------------------------------------------------------------- files */

/* Writes key (PEM PKCS#8) or cert into path atomically with mode; wipes the
 * temporary. */
cl_err ctl_ca_write_pem(const char *path, unsigned mode, EVP_PKEY *key, X509 *cert)
{
	BIO *b = BIO_new(key ? BIO_s_secmem() : BIO_s_mem());
	if (!b)
		return CL_ENOMEM;
	int ok = key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, cert);
	cl_err err = CL_OK;
	if (!ok) {
		err = cl_errorf(CL_EINTERNAL, "PEM encoding failed");
	} else {
		char *p = NULL;
		long n = BIO_get_mem_data(b, &p);
		err = cl_file_write_atomic(path, p, (size_t)n, mode);
		OPENSSL_cleanse(p, (size_t)n);
	}
	BIO_free(b);
	return err;
}

/* A password callback without a password: an encrypted key fails to load
 * instead of prompting on a terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

cl_err ctl_ca_load_key(const char *path, EVP_PKEY **out)
{
	cl_buf b;
	cl_buf_init(&b, 64 * 1024);
	cl_err err = cl_file_read(path, 64 * 1024, &b);
	BIO *bio = err == CL_OK ? BIO_new_mem_buf(b.data, (int)b.len) : NULL;
	*out = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
	BIO_free(bio);
	cl_buf_free(&b); /* wipes */
	ERR_clear_error();
	if (err != CL_OK)
		return cl_errorf(CL_EIO, "cannot read %s", path);
	CL_ENSURE(*out != NULL, CL_EINTERNAL, "cannot parse key %s", path);
	if (EVP_PKEY_get_base_id(*out) != EVP_PKEY_EC || EVP_PKEY_get_bits(*out) != 384) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return cl_errorf(CL_EINTERNAL, "%s is not an EC P-384 key", path);
	}
	return CL_OK;
}

cl_err ctl_ca_load_cert(const char *path, X509 **out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return cl_errorf(CL_EIO, "cannot open %s", path);
	*out = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	return *out ? CL_OK : cl_errorf(CL_EINTERNAL, "cannot read certificate %s", path);
}

bool ctl_ca_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

cl_err ctl_ca_new_key(EVP_PKEY **out)
{
	*out = EVP_EC_gen("P-384");
	return *out ? CL_OK : cl_errorf(CL_EINTERNAL, "EC P-384 key generation failed");
}

/* ---------------------------------------------------------------- issuing */

static cl_err set_name(X509_NAME *name, const char *cn)
{
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Cloister", -1, -1, 0) ||
	    (cn && !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0)))
		return cl_errorf(CL_EINTERNAL, "X509 name");
	return CL_OK;
}

static cl_err add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return cl_errorf(CL_EINTERNAL, "X509 extension %d", nid);
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? CL_OK : cl_errorf(CL_EINTERNAL, "X509 add extension");
}

cl_err ctl_ca_issue_cert(EVP_PKEY *key, enum ctl_cert_kind kind, const char *cn, X509 *issuer,
			 EVP_PKEY *issuer_key, const char *san, long days, X509 **out)
{
	cl_err err = CL_OK;
	X509 *c = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	if (!c)
		return CL_ENOMEM;
	CL_GUARD_OUT(err, cl_random(serial, sizeof(serial)));
	serial[0] &= 0x7f; /* positive */
	serial[0] |= 0x01; /* and 16 bytes long: no leading zero byte */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) || !X509_set_version(c, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -3600) || !X509_gmtime_adj(X509_getm_notAfter(c), days * 86400) ||
	    !X509_set_pubkey(c, key)) {
		err = cl_errorf(CL_EINTERNAL, "X509 fields");
		goto out;
	}
	/* A certificate never outlives its issuer. */
	if (issuer && ASN1_TIME_compare(X509_get0_notAfter(c), X509_get0_notAfter(issuer)) > 0 &&
	    !X509_set1_notAfter(c, X509_get0_notAfter(issuer))) {
		err = cl_errorf(CL_EINTERNAL, "X509 notAfter");
		goto out;
	}
	CL_GUARD_OUT(err, set_name(X509_get_subject_name(c), cn));
	if (!X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(c))) {
		err = cl_errorf(CL_EINTERNAL, "X509 issuer");
		goto out;
	}
	X509 *iss = issuer ? issuer : c;
	switch (kind) {
	case CTL_CERT_ROOT:
		/* pathlen:1: the hosts intermediate below it, nothing deeper */
		CL_GUARD_OUT(err, add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:1"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign"));
		break;
	case CTL_CERT_HOSTS:
		CL_GUARD_OUT(err, add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign"));
		break;
	case CTL_CERT_SERVER:
		CL_GUARD_OUT(err, add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_key_usage, "critical,digitalSignature"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_ext_key_usage, "serverAuth"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_subject_alt_name, san));
		break;
	case CTL_CERT_GUEST:
		CL_GUARD_OUT(err, add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_key_usage, "critical,digitalSignature"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_ext_key_usage, "serverAuth,clientAuth"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_subject_alt_name, san));
		break;
	case CTL_CERT_HOST:
		/* signs attestation documents and nothing else: no EKU, no SAN */
		CL_GUARD_OUT(err, add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE"));
		CL_GUARD_OUT(err, add_ext(c, iss, NID_key_usage, "critical,digitalSignature"));
		break;
	}
	CL_GUARD_OUT(err, add_ext(c, iss, NID_subject_key_identifier, "hash"));
	if (kind == CTL_CERT_HOSTS || kind == CTL_CERT_HOST || kind == CTL_CERT_GUEST)
		CL_GUARD_OUT(err, add_ext(c, iss, NID_authority_key_identifier, "keyid:always"));
	if (!X509_sign(c, issuer_key ? issuer_key : key, EVP_sha384())) {
		err = cl_errorf(CL_EINTERNAL, "X509 sign");
		goto out;
	}
	*out = c;
	c = NULL;
out:
	BN_free(bn);
	X509_free(c);
	ERR_clear_error();
	return err;
}

cl_err ctl_ca_pem_text(X509 *cert, char **out, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *d = NULL;
	cl_err err = CL_OK;
	*out = NULL;
	if (!b || !PEM_write_bio_X509(b, cert)) {
		err = cl_errorf(CL_EINTERNAL, "PEM encoding failed");
		goto out;
	}
	long n = BIO_get_mem_data(b, &d);
	if (!(*out = malloc((size_t)n + 1))) {
		err = CL_ENOMEM;
		goto out;
	}
	memcpy(*out, d, (size_t)n);
	(*out)[n] = '\0';
	*len = (size_t)n;
out:
	BIO_free(b);
	return err;
}

/* Rebuilds the PEM texts the worker is given. */
static cl_err make_pems(ctl_ca *ca)
{
	BIO *b = BIO_new(BIO_s_mem()), *c = BIO_new(BIO_s_mem());
	char *p = NULL, *q = NULL;
	cl_err err = CL_OK;
	if (!b || !c || !PEM_write_bio_X509(b, ca->srv_cert) || !PEM_write_bio_X509(b, ca->ca_cert) ||
	    !PEM_write_bio_X509(c, ca->ca_cert)) {
		err = cl_errorf(CL_EINTERNAL, "PEM encoding failed");
		goto out;
	}
	char *d = NULL;
	long n = BIO_get_mem_data(b, &d), m = 0;
	if (!(p = malloc((size_t)n + 1))) {
		err = CL_ENOMEM;
		goto out;
	}
	memcpy(p, d, (size_t)n);
	p[n] = '\0';
	m = BIO_get_mem_data(c, &d);
	if (!(q = malloc((size_t)m + 1))) {
		err = CL_ENOMEM;
		goto out;
	}
	memcpy(q, d, (size_t)m);
	q[m] = '\0';
	free(ca->chain);
	free(ca->ca_pem);
	ca->chain = p;
	ca->chain_len = (size_t)n;
	ca->ca_pem = q;
	ca->ca_len = (size_t)m;
	p = q = NULL;
out:
	free(p);
	free(q);
	BIO_free(b);
	BIO_free(c);
	return err;
}

/* Why the server certificate must be re-issued at now, or NULL. */
static const char *renew_reason(ctl_ca *ca, time_t now)
{
	ctl_names have;
	time_t limit = now + (time_t)ca->renew_days * 86400;
	if (!ca->srv_cert)
		return "none";
	if (X509_check_private_key(ca->srv_cert, ca->srv_key) != 1)
		return "key mismatch";
	if (X509_cmp_time(X509_get0_notAfter(ca->srv_cert), &limit) <= 0)
		return ca->renew_days == CTL_CA_RENEW_DAYS ? "expires within 30 days" : "expires within the renewal window";
	if (X509_check_issued(ca->ca_cert, ca->srv_cert) != X509_V_OK)
		return "not issued by the CA";
	if (cert_names(ca->srv_cert, &have) != CL_OK || !same_names(&have, &ca->names))
		return "names differ";
	return NULL;
}

cl_err ctl_ca_renew_if_due(ctl_ca *ca, time_t now, bool *renewed)
{
	char path[PATH_MAX + 16];
	X509 *c = NULL;
	cl_buf san;
	const char *why = renew_reason(ca, now);
	cl_err err = CL_OK;
	ERR_clear_error();
	*renewed = false;
	if (!why)
		return CL_OK;
	CL_GUARD_OUT(err, san_value(&ca->names, &san));
	CL_GUARD_OUT(err, ctl_ca_issue_cert(ca->srv_key, CTL_CERT_SERVER, "cloister-control", ca->ca_cert, ca->ca_key,
					    (const char *)san.data, CTL_CA_SERVER_DAYS, &c));
	snprintf(path, sizeof(path), "%s/server.pem", ca->keys);
	CL_GUARD_OUT(err, ctl_ca_write_pem(path, 0644, NULL, c));
	X509_free(ca->srv_cert);
	ca->srv_cert = c;
	c = NULL;
	CL_GUARD_OUT(err, make_pems(ca));
	*renewed = true;
	cl_info("monitor: server certificate issued reason=\"%s\" names=%s", why, (const char *)san.data);
out:
	cl_buf_free(&san);
	X509_free(c);
	return err;
}

/* A root made before the hosts intermediate carries pathlen:0, which
 * forbids any CA below it. It is re-issued once with the same key and
 * subject and pathlen:1: the server certificate (and anything else it
 * signed) verifies under the old and the new one alike, so hosts that hold
 * the old ca.pem keep trusting the server; verifiers of attestation
 * documents need the new one (GET /v1/ca). */
static cl_err root_allow_intermediate(ctl_ca *ca)
{
	X509 *c = NULL;
	cl_err err = CL_OK;
	long pathlen = X509_get_pathlen(ca->ca_cert);
	if (pathlen < 0 || pathlen >= 1)
		return CL_OK;
	CL_GUARD(ctl_ca_issue_cert(ca->ca_key, CTL_CERT_ROOT, CTL_ROOT_CN, NULL, NULL, NULL, 3650, &c));
	CL_GUARD_OUT(err, ctl_ca_write_pem(ca->ca_pem_path, 0644, NULL, c));
	X509_free(ca->ca_cert);
	ca->ca_cert = c;
	c = NULL;
	cl_info("monitor: root certificate re-issued with the same key: pathlen 0 -> 1 (the hosts CA goes "
		"below it) path=%s", ca->ca_pem_path);
out:
	X509_free(c);
	return err;
}

void ctl_ca_set_renew_days(ctl_ca *ca, unsigned days)
{
	ca->renew_days = days;
}

cl_err ctl_ca_open(const char *keys_dir, const char *ca_pem, const ctl_names *names, time_t now, ctl_ca **out)
{
	char ca_key[PATH_MAX + 16], srv_pem[PATH_MAX + 16], srv_key[PATH_MAX + 16];
	ctl_ca *ca = calloc(1, sizeof(*ca));
	bool renewed = false;
	cl_err err = CL_OK;
	CL_ENSURE(ca != NULL, CL_ENOMEM, "out of memory");
	snprintf(ca->keys, sizeof(ca->keys), "%s", keys_dir);
	snprintf(ca->ca_pem_path, sizeof(ca->ca_pem_path), "%s", ca_pem);
	ca->names = *names;
	ca->renew_days = CTL_CA_RENEW_DAYS;
	snprintf(ca_key, sizeof(ca_key), "%s/ca.key", keys_dir);
	snprintf(srv_pem, sizeof(srv_pem), "%s/server.pem", keys_dir);
	snprintf(srv_key, sizeof(srv_key), "%s/server.key", keys_dir);
	if (ctl_ca_exists(ca_key) && ctl_ca_exists(ca_pem)) {
		CL_GUARD_OUT(err, ctl_ca_load_key(ca_key, &ca->ca_key));
		CL_GUARD_OUT(err, ctl_ca_load_cert(ca_pem, &ca->ca_cert));
		if (X509_check_private_key(ca->ca_cert, ca->ca_key) != 1) {
			err = cl_errorf(CL_EINTERNAL, "%s does not match %s", ca_pem, ca_key);
			goto out;
		}
		CL_GUARD_OUT(err, root_allow_intermediate(ca));
	} else {
		/* Key first: a kill between the two writes leaves no CA cert, so the
		 * next start makes a fresh pair instead of a mismatched one. */
		CL_GUARD_OUT(err, ctl_ca_new_key(&ca->ca_key));
		CL_GUARD_OUT(err, ctl_ca_issue_cert(ca->ca_key, CTL_CERT_ROOT, CTL_ROOT_CN, NULL, NULL, NULL, 3650,
						    &ca->ca_cert));
		CL_GUARD_OUT(err, ctl_ca_write_pem(ca_key, 0600, ca->ca_key, NULL));
		CL_GUARD_OUT(err, ctl_ca_write_pem(ca_pem, 0644, NULL, ca->ca_cert));
		cl_info("created local CA path=%s", ca_pem);
	}
	if (ctl_ca_exists(srv_key)) {
		CL_GUARD_OUT(err, ctl_ca_load_key(srv_key, &ca->srv_key));
	} else {
		CL_GUARD_OUT(err, ctl_ca_new_key(&ca->srv_key));
		CL_GUARD_OUT(err, ctl_ca_write_pem(srv_key, 0600, ca->srv_key, NULL));
		unlink(srv_pem); /* it was for another key */
	}
	/* A missing or torn server.pem is issued again (renew_reason). */
	if (ctl_ca_exists(srv_pem) && ctl_ca_load_cert(srv_pem, &ca->srv_cert) != CL_OK)
		cl_warn("monitor: unreadable %s: issuing a new one", srv_pem);
	CL_GUARD_OUT(err, ctl_ca_renew_if_due(ca, now, &renewed));
	if (!renewed)
		CL_GUARD_OUT(err, make_pems(ca));
	CL_GUARD_OUT(err, ctl_ca_hosts_open(ca, now));
	*out = ca;
	ca = NULL;
out:
	ctl_ca_free(ca);
	return err;
}

cl_err ctl_ca_sign_handshake(ctl_ca *ca, const uint8_t *digest, size_t len, uint8_t sig[96])
{
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *es = NULL;
	uint8_t der[160];
	size_t derlen = sizeof(der);
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	cl_err err = CL_OK;
	CL_ENSURE(len == 32 || len == 48 || len == 64, CL_EINVAL, "a handshake digest is 32, 48 or 64 bytes");
	if (!(ctx = EVP_PKEY_CTX_new(ca->srv_key, NULL)) || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_sign(ctx, der, &derlen, digest, len) != 1 || !(es = d2i_ECDSA_SIG(NULL, &p, (long)derlen))) {
		err = cl_errorf(CL_EINTERNAL, "ECDSA signing failed");
		goto out;
	}
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, 48) != 48 || BN_bn2binpad(s, sig + 48, 48) != 48)
		err = cl_errorf(CL_EINTERNAL, "ECDSA signature out of range");
out:
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return err;
}

void ctl_ca_pems(const ctl_ca *ca, const char **chain, size_t *chain_len, const char **ca_pem, size_t *ca_len)
{
	*chain = ca->chain;
	*chain_len = ca->chain_len;
	*ca_pem = ca->ca_pem;
	*ca_len = ca->ca_len;
}

void ctl_ca_free(ctl_ca *ca)
{
	if (!ca)
		return;
	EVP_PKEY_free(ca->ca_key); /* EC private parts: cleared when freed */
	EVP_PKEY_free(ca->srv_key);
	EVP_PKEY_free(ca->hosts_key);
	X509_free(ca->ca_cert);
	X509_free(ca->srv_cert);
	X509_free(ca->hosts_cert);
	free(ca->chain);
	free(ca->ca_pem);
	free(ca->hosts_pem);
	free(ca);
}
