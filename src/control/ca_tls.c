/* ca_tls.c — guests' TLS certificates (ca.h "Guests' TLS certificates"),
 * issued by the monitor from a public point and its proof of possession: the
 * guest's private key never leaves the host's key holder (docs/tls.md). */
#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/log.h"
#include "control/ca.h"
#include "control/ca_priv.h"

#define CN_MAX 64 /* X.520 ub-common-name */

/* [a-z0-9-]{1,max} */
static bool id_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* An EVP_PKEY for an uncompressed P-256 point, checked on the curve. */
static cl_err point_key(const uint8_t point[CTL_TLS_POINT_LEN], EVP_PKEY **out)
{
	return ctl_ca_point_key("P-256", point, CTL_TLS_POINT_LEN, "the key", out);
}

/* SHA-256(label 0 host_id 0 slot 0 point): what the key holder signed. */
static cl_err pop_digest(const char *host_id, const char *slot, const uint8_t point[CTL_TLS_POINT_LEN],
			 uint8_t md[32])
{
	static const uint8_t zero = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned n = 0;
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(c, CTL_TLS_POP_LABEL, strlen(CTL_TLS_POP_LABEL)) == 1 &&
		 EVP_DigestUpdate(c, &zero, 1) == 1 && EVP_DigestUpdate(c, host_id, strlen(host_id)) == 1 &&
		 EVP_DigestUpdate(c, &zero, 1) == 1 && EVP_DigestUpdate(c, slot, strlen(slot)) == 1 &&
		 EVP_DigestUpdate(c, &zero, 1) == 1 && EVP_DigestUpdate(c, point, CTL_TLS_POINT_LEN) == 1 &&
		 EVP_DigestFinal_ex(c, md, &n) == 1 && n == 32;
	EVP_MD_CTX_free(c);
	return ok ? CL_OK : cl_errorf(CL_EINTERNAL, "SHA-256 failed");
}

cl_err ctl_tls_pop_verify(const char *host_id, const char *enclave_id, uint32_t gen,
			  const uint8_t point[CTL_TLS_POINT_LEN], const uint8_t proof[CTL_TLS_PROOF_LEN])
{
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	uint8_t md[32], der[80];
	unsigned char *p = der;
	char slot[96];
	cl_err err = CL_OK;
	int n = snprintf(slot, sizeof(slot), "tls/%s:%u", enclave_id, (unsigned)gen);
	CL_ENSURE(n > 0 && n < (int)sizeof(slot), CL_EINVAL, "enclave id too long");
	CL_GUARD(point_key(point, &key));
	CL_GUARD_OUT(err, pop_digest(host_id, slot, point, md));
	r = BN_bin2bn(proof, CTL_TLS_PROOF_LEN / 2, NULL);
	s = BN_bin2bn(proof + CTL_TLS_PROOF_LEN / 2, CTL_TLS_PROOF_LEN / 2, NULL);
	if (!r || !s || !(sig = ECDSA_SIG_new()) || ECDSA_SIG_set0(sig, r, s) != 1) {
		err = cl_errorf(CL_EINTERNAL, "out of memory");
		goto out;
	}
	r = s = NULL; /* owned by sig */
	int derlen = i2d_ECDSA_SIG(sig, NULL);
	if (derlen <= 0 || derlen > (int)sizeof(der) || i2d_ECDSA_SIG(sig, &p) != derlen) {
		err = cl_errorf(CL_ECRYPTO, "proof is not an ECDSA P-256 signature");
		goto out;
	}
	/* EVP_PKEY_verify rejects r or s of 0 or >= the order */
	if (!(ctx = EVP_PKEY_CTX_new(key, NULL)) || EVP_PKEY_verify_init(ctx) != 1 ||
	    EVP_PKEY_verify(ctx, der, (size_t)derlen, md, sizeof(md)) != 1)
		err = cl_errorf(CL_ECRYPTO,
				"proof does not verify: it must sign \"%s\", the host id, the slot %s and the key",
				CTL_TLS_POP_LABEL, slot);
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return err;
}

/* A DNS name: '.'-separated labels of [a-z0-9-], 1..63 each, not starting
 * or ending with '-', at most 253 in all. Lower case only: the worker
 * canonicalises, and the monitor certifies exactly what it was given. */
static bool dns_ok(const char *s, size_t n)
{
	size_t label = 0;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

cl_err ctl_tls_names_parse(const char *names, ctl_names *out)
{
	size_t total = strlen(names);
	memset(out, 0, sizeof(*out));
	CL_ENSURE(total >= 1 && total <= CTL_TLS_NAMES_MAX, CL_EINVAL, "names: 1..%d characters", CTL_TLS_NAMES_MAX);
	for (const char *p = names;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char one[256], canon[CTL_NAME_LEN];
		unsigned char ip[16];
		CL_ENSURE(out->n < CTL_TLS_NAMES_N, CL_EINVAL, "names: at most %d", CTL_TLS_NAMES_N);
		CL_ENSURE(n >= 1 && n < sizeof(one), CL_EINVAL, "names: name %zu is empty or too long", out->n + 1);
		memcpy(one, p, n);
		one[n] = '\0';
		if (inet_pton(AF_INET, one, ip) == 1) {
			memcpy(canon, "IP:", 3);
			inet_ntop(AF_INET, ip, canon + 3, sizeof(canon) - 3);
		} else if (inet_pton(AF_INET6, one, ip) == 1) {
			memcpy(canon, "IP:", 3);
			inet_ntop(AF_INET6, ip, canon + 3, sizeof(canon) - 3);
		} else {
			CL_ENSURE(dns_ok(one, n), CL_EINVAL,
				  "names: name %zu is neither an IP address nor a lower-case DNS name", out->n + 1);
			snprintf(canon, sizeof(canon), "DNS:%s", one);
		}
		for (size_t i = 0; i < out->n; i++)
			CL_ENSURE(strcmp(out->v[i], canon) != 0, CL_EINVAL, "names: %s twice", canon);
		snprintf(out->v[out->n++], CTL_NAME_LEN, "%s", canon);
		if (!comma)
			break;
		p = comma + 1;
	}
	return CL_OK;
}

/* The leaf then the root, PEM, into a malloc'd NUL-terminated *out. */
static cl_err chain_pem(X509 *leaf, X509 *root, char **out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *d = NULL;
	cl_err err = CL_OK;
	*out = NULL;
	if (!b || !PEM_write_bio_X509(b, leaf) || !PEM_write_bio_X509(b, root)) {
		err = cl_errorf(CL_EINTERNAL, "PEM encoding failed");
		goto out;
	}
	long n = BIO_get_mem_data(b, &d);
	if (n <= 0 || !(*out = malloc((size_t)n + 1))) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, d, (size_t)n);
	(*out)[n] = '\0';
out:
	BIO_free(b);
	return err;
}

/* Whether name ("DNS:x" / "IP:x") is one of the control plane's own server
 * names, or is covered by one of its "DNS:*.suffix" wildcards: a guest's
 * certificate chains to the same root, so it must never be able to pass for
 * the control plane. */
static bool server_name(const ctl_names *srv, const char *name)
{
	for (size_t i = 0; i < srv->n; i++) {
		const char *s = srv->v[i];
		if (strcasecmp(s, name) == 0)
			return true;
		if (strncmp(s, "DNS:*.", 6) == 0 && strncmp(name, "DNS:", 4) == 0) {
			const char *dot = strchr(name + 4, '.');
			if (dot && strcasecmp(dot, s + 5) == 0)
				return true;
		}
	}
	return false;
}

cl_err ctl_ca_issue_tls(ctl_ca *ca, const char *host_id, const char *enclave_id, uint32_t gen, const char *names,
			const uint8_t point[CTL_TLS_POINT_LEN], const uint8_t proof[CTL_TLS_PROOF_LEN],
			ctl_tls_cert *out)
{
	ctl_names list;
	cl_buf san;
	EVP_PKEY *key = NULL;
	X509 *c = NULL;
	char cn[CN_MAX + 1];
	const char *cnp = NULL;
	cl_err err = CL_OK;
	memset(out, 0, sizeof(*out));
	CL_ENSURE(id_ok(host_id, CTL_HOST_ID_MAX), CL_EINVAL, "host id must be [a-z0-9-]{1,%d}", CTL_HOST_ID_MAX);
	CL_ENSURE(id_ok(enclave_id, CTL_TLS_ENCLAVE_ID_MAX), CL_EINVAL, "enclave id must be [a-z0-9-]{1,%d}",
		  CTL_TLS_ENCLAVE_ID_MAX);
	CL_ENSURE(gen >= 1, CL_EINVAL, "generation must be 1 or more");
	cl_buf_init(&san, CTL_TLS_NAMES_N * (CTL_NAME_LEN + 1) + 1);
	CL_GUARD_OUT(err, ctl_tls_names_parse(names, &list));
	for (size_t i = 0; i < list.n; i++)
		if (server_name(&ca->names, list.v[i])) {
			err = cl_errorf(CL_EINVAL, "names: %s is a name of the control plane itself", list.v[i]);
			goto out;
		}
	CL_GUARD_OUT(err, ctl_tls_pop_verify(host_id, enclave_id, gen, point, proof));
	CL_GUARD_OUT(err, point_key(point, &key));
	for (size_t i = 0; i < list.n; i++)
		CL_GUARD_OUT(err, cl_buf_printf(&san, "%s%s", i ? "," : "", list.v[i]));
	CL_GUARD_OUT(err, cl_buf_put_u8(&san, 0));
	/* CN = the first name (without its "DNS:"/"IP:"), if it fits */
	const char *first = strchr(list.v[0], ':') + 1;
	if (strlen(first) <= CN_MAX) {
		snprintf(cn, sizeof(cn), "%s", first);
		cnp = cn;
	}
	CL_GUARD_OUT(err, ctl_ca_issue_cert(key, CTL_CERT_GUEST, cnp, ca->ca_cert, ca->ca_key, (const char *)san.data,
					    CTL_TLS_CERT_DAYS, &c));
	CL_GUARD_OUT(err, ctl_ca_cert_serial(c, out->serial, &out->not_after));
	CL_GUARD_OUT(err, chain_pem(c, ca->ca_cert, &out->chain_pem));
out:
	X509_free(c);
	EVP_PKEY_free(key);
	cl_buf_free(&san);
	ERR_clear_error();
	if (err != CL_OK) {
		free(out->chain_pem);
		memset(out, 0, sizeof(*out));
	}
	return err;
}
