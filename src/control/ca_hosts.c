/* ca_hosts.c — the hosts intermediate CA and the hosts' attestation leaves
 * (ca.h "Hosts' attestation keys"), held by the monitor only. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "control/ca.h"
#include "control/ca_priv.h"

#define HOSTS_CN "Cloister hosts CA"

/* Why the intermediate must be (re-)issued at now, or NULL. */
static const char *hosts_reason(ctl_ca *ca, time_t now)
{
	time_t limit = now + (time_t)CTL_HOSTS_CA_RENEW_DAYS * 86400;
	if (!ca->hosts_cert)
		return "none";
	if (X509_check_private_key(ca->hosts_cert, ca->hosts_key) != 1)
		return "key mismatch";
	if (X509_cmp_time(X509_get0_notAfter(ca->hosts_cert), &limit) <= 0)
		return "expires within 400 days";
	if (X509_check_issued(ca->ca_cert, ca->hosts_cert) != X509_V_OK)
		return "not issued by the root";
	/* re-issued root: the intermediate must carry its new validity's bound */
	if (ASN1_TIME_compare(X509_get0_notAfter(ca->hosts_cert), X509_get0_notAfter(ca->ca_cert)) > 0)
		return "outlives the root";
	return NULL;
}

static cl_err hosts_pem_refresh(ctl_ca *ca)
{
	char *p = NULL;
	size_t n = 0;
	CL_GUARD(ctl_ca_pem_text(ca->hosts_cert, &p, &n));
	free(ca->hosts_pem);
	ca->hosts_pem = p;
	ca->hosts_len = n;
	return CL_OK;
}

cl_err ctl_ca_hosts_renew_if_due(ctl_ca *ca, time_t now, bool *renewed)
{
	char path[PATH_MAX + 16];
	X509 *c = NULL;
	const char *why = hosts_reason(ca, now);
	cl_err err = CL_OK;
	ERR_clear_error();
	*renewed = false;
	if (!why)
		return CL_OK;
	CL_GUARD_OUT(err, ctl_ca_issue_cert(ca->hosts_key, CTL_CERT_HOSTS, HOSTS_CN, ca->ca_cert, ca->ca_key, NULL,
					    CTL_HOSTS_CA_DAYS, &c));
	snprintf(path, sizeof(path), "%s/hosts-ca.pem", ca->keys);
	CL_GUARD_OUT(err, ctl_ca_write_pem(path, 0644, NULL, c));
	X509_free(ca->hosts_cert);
	ca->hosts_cert = c;
	c = NULL;
	CL_GUARD_OUT(err, hosts_pem_refresh(ca));
	*renewed = true;
	cl_info("monitor: hosts CA certificate issued reason=\"%s\"", why);
out:
	X509_free(c);
	return err;
}

/* DATA/hosts-ca.pem: next to the root's ca.pem. */
static void published_path(const ctl_ca *ca, char *out, size_t n)
{
	const char *slash = strrchr(ca->ca_pem_path, '/');
	int dirlen = slash ? (int)(slash - ca->ca_pem_path) : 1;
	snprintf(out, n, "%.*s/hosts-ca.pem", dirlen, slash ? ca->ca_pem_path : ".");
}

cl_err ctl_ca_hosts_open(ctl_ca *ca, time_t now)
{
	char key[PATH_MAX + 16], pem[PATH_MAX + 16], pub[PATH_MAX + 16];
	bool renewed = false;
	snprintf(key, sizeof(key), "%s/hosts-ca.key", ca->keys);
	snprintf(pem, sizeof(pem), "%s/hosts-ca.pem", ca->keys);
	published_path(ca, pub, sizeof(pub));
	if (ctl_ca_exists(key)) {
		CL_GUARD(ctl_ca_load_key(key, &ca->hosts_key));
	} else {
		CL_GUARD(ctl_ca_new_key(&ca->hosts_key));
		CL_GUARD(ctl_ca_write_pem(key, 0600, ca->hosts_key, NULL));
		unlink(pem); /* it was for another key */
		cl_info("monitor: created the hosts CA key path=%s", key);
	}
	/* A missing or torn certificate is issued again (hosts_reason). */
	if (ctl_ca_exists(pem) && ctl_ca_load_cert(pem, &ca->hosts_cert) != CL_OK)
		cl_warn("monitor: unreadable %s: issuing a new one", pem);
	CL_GUARD(ctl_ca_hosts_renew_if_due(ca, now, &renewed));
	if (!renewed)
		CL_GUARD(hosts_pem_refresh(ca));
	/* Published for verifiers at every start (the monitor cannot reach DATA
	 * once hardened: a re-issue while running is published at the next
	 * start, and served by GET /v1/ca/hosts at once). */
	return ctl_ca_write_pem(pub, 0644, NULL, ca->hosts_cert);
}

void ctl_ca_hosts_pem(const ctl_ca *ca, const char **pem, size_t *len)
{
	*pem = ca->hosts_pem;
	*len = ca->hosts_len;
}

cl_err ctl_ca_point_key(const char *curve, const uint8_t *point, size_t len, const char *what, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[3];
	cl_err err = CL_OK;
	*out = NULL;
	CL_ENSURE(len > 0 && point[0] == 0x04, CL_ECRYPTO, "%s is not an uncompressed %s point", what, curve);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)curve, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, len);
	params[2] = OSSL_PARAM_construct_end();
	if (!(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		err = cl_errorf(CL_ECRYPTO, "%s is not a point on %s", what, curve);
		goto out;
	}
	EVP_PKEY_CTX_free(ctx);
	/* fromdata decodes the point; check it again, explicitly */
	if (!(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL)) || EVP_PKEY_public_check(ctx) != 1)
		err = cl_errorf(CL_ECRYPTO, "%s is not a point on %s", what, curve);
out:
	if (err != CL_OK) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return err;
}

/* An EVP_PKEY for an uncompressed P-384 point, checked on the curve. */
static cl_err point_key(const uint8_t point[CTL_ATT_POINT_LEN], EVP_PKEY **out)
{
	return ctl_ca_point_key("P-384", point, CTL_ATT_POINT_LEN, "public_key", out);
}

cl_err ctl_attest_point_check(const uint8_t point[CTL_ATT_POINT_LEN])
{
	EVP_PKEY *k = NULL;
	CL_GUARD(point_key(point, &k));
	EVP_PKEY_free(k);
	return CL_OK;
}

/* SHA-384(label || 0 || host_id || 0 || point): what the proof signs. */
static cl_err pop_digest(const char *host_id, const uint8_t point[CTL_ATT_POINT_LEN], uint8_t md[48])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned n = 0;
	static const uint8_t zero = 0;
	int ok = c && EVP_DigestInit_ex(c, EVP_sha384(), NULL) == 1 &&
		 EVP_DigestUpdate(c, CTL_ATT_POP_LABEL, strlen(CTL_ATT_POP_LABEL)) == 1 &&
		 EVP_DigestUpdate(c, &zero, 1) == 1 && EVP_DigestUpdate(c, host_id, strlen(host_id)) == 1 &&
		 EVP_DigestUpdate(c, &zero, 1) == 1 && EVP_DigestUpdate(c, point, CTL_ATT_POINT_LEN) == 1 &&
		 EVP_DigestFinal_ex(c, md, &n) == 1 && n == 48;
	EVP_MD_CTX_free(c);
	return ok ? CL_OK : cl_errorf(CL_EINTERNAL, "SHA-384 failed");
}

cl_err ctl_attest_pop_verify(const char *host_id, const uint8_t point[CTL_ATT_POINT_LEN],
			     const uint8_t proof[CTL_ATT_PROOF_LEN])
{
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	uint8_t md[48], der[128];
	unsigned char *p = der;
	cl_err err = CL_OK;
	CL_GUARD(point_key(point, &key));
	CL_GUARD_OUT(err, pop_digest(host_id, point, md));
	r = BN_bin2bn(proof, CTL_ATT_PROOF_LEN / 2, NULL);
	s = BN_bin2bn(proof + CTL_ATT_PROOF_LEN / 2, CTL_ATT_PROOF_LEN / 2, NULL);
	if (!r || !s || !(sig = ECDSA_SIG_new()) || ECDSA_SIG_set0(sig, r, s) != 1) {
		err = cl_errorf(CL_EINTERNAL, "out of memory");
		goto out;
	}
	r = s = NULL; /* owned by sig */
	int derlen = i2d_ECDSA_SIG(sig, NULL);
	if (derlen <= 0 || derlen > (int)sizeof(der) || i2d_ECDSA_SIG(sig, &p) != derlen) {
		err = cl_errorf(CL_ECRYPTO, "proof is not an ECDSA P-384 signature");
		goto out;
	}
	/* EVP_PKEY_verify rejects r or s of 0 or >= the order */
	if (!(ctx = EVP_PKEY_CTX_new(key, NULL)) || EVP_PKEY_verify_init(ctx) != 1 ||
	    EVP_PKEY_verify(ctx, der, (size_t)derlen, md, sizeof(md)) != 1)
		err = cl_errorf(CL_ECRYPTO, "proof does not verify: it must sign \"%s\", the host id and the key",
				CTL_ATT_POP_LABEL);
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return err;
}

static bool host_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CTL_HOST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

cl_err ctl_ca_issue_host(ctl_ca *ca, const char *host_id, const uint8_t point[CTL_ATT_POINT_LEN],
			 const uint8_t proof[CTL_ATT_PROOF_LEN], time_t now, ctl_host_cert *out)
{
	EVP_PKEY *key = NULL;
	X509 *c = NULL;
	unsigned char *p = out->der;
	bool renewed = false;
	cl_err err = CL_OK;
	memset(out, 0, sizeof(*out));
	CL_ENSURE(host_id_ok(host_id), CL_EINVAL, "host id must be [a-z0-9-]{1,63}");
	CL_GUARD(ctl_attest_pop_verify(host_id, point, proof));
	CL_GUARD(point_key(point, &key));
	/* never issue under an intermediate about to end */
	if (ctl_ca_hosts_renew_if_due(ca, now, &renewed) != CL_OK)
		cl_error("monitor: cannot re-issue the hosts CA: %s", cl_error_detail());
	CL_GUARD_OUT(err, ctl_ca_issue_cert(key, CTL_CERT_HOST, host_id, ca->hosts_cert, ca->hosts_key, NULL,
					    CTL_HOST_CERT_DAYS, &c));
	int n = i2d_X509(c, NULL);
	if (n <= 0 || n > (int)sizeof(out->der) || i2d_X509(c, &p) != n) {
		err = cl_errorf(CL_EINTERNAL, "host certificate DER encoding");
		goto out;
	}
	out->der_len = (size_t)n;
	CL_GUARD_OUT(err, ctl_ca_cert_serial(c, out->serial, &out->not_after));
out:
	X509_free(c);
	EVP_PKEY_free(key);
	ERR_clear_error();
	if (err != CL_OK)
		memset(out, 0, sizeof(*out));
	return err;
}

cl_err ctl_ca_cert_serial(X509 *c, char serial[CTL_SERIAL_HEX_MAX + 1], int64_t *not_after)
{
	BIGNUM *bn = NULL;
	char *hex = NULL;
	struct tm tm;
	cl_err err = CL_OK;
	if (!(bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL)) || !(hex = BN_bn2hex(bn)) ||
	    strlen(hex) > CTL_SERIAL_HEX_MAX) {
		err = cl_errorf(CL_EINTERNAL, "certificate serial");
		goto out;
	}
	const char *h = hex;
	while (h[0] == '0' && h[1]) /* no leading zeros */
		h++;
	size_t i = 0;
	for (; h[i]; i++)
		serial[i] = (char)(h[i] >= 'A' && h[i] <= 'F' ? h[i] - 'A' + 'a' : h[i]);
	serial[i] = '\0';
	if (ASN1_TIME_to_tm(X509_get0_notAfter(c), &tm) != 1) {
		err = cl_errorf(CL_EINTERNAL, "certificate notAfter");
		goto out;
	}
	*not_after = (int64_t)timegm(&tm);
out:
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return err;
}
