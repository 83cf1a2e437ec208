/* ca_priv.h — what ca.c and ca_hosts.c share: the CA's state and the
 * certificate helpers. Private to those two files (ca.h is the interface). */
#ifndef CL_CONTROL_CA_PRIV_H
#define CL_CONTROL_CA_PRIV_H

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>

#include "control/ca.h"

struct ctl_ca {
	char keys[PATH_MAX], ca_pem_path[PATH_MAX];
	ctl_names names;
	unsigned renew_days; /* the server certificate's window (CTL_CA_RENEW_DAYS) */
	EVP_PKEY *ca_key, *srv_key, *hosts_key;
	X509 *ca_cert, *srv_cert, *hosts_cert;
	char *chain, *ca_pem, *hosts_pem; /* PEM text, NUL-terminated */
	size_t chain_len, ca_len, hosts_len;
};

/* What a certificate is for: its extensions. */
enum ctl_cert_kind {
	CTL_CERT_ROOT,   /* self-signed, CA:TRUE pathlen:1, keyCertSign cRLSign */
	CTL_CERT_HOSTS,  /* intermediate, CA:TRUE pathlen:0, keyCertSign cRLSign */
	CTL_CERT_SERVER, /* CA:FALSE, digitalSignature, serverAuth, the SAN */
	CTL_CERT_HOST,   /* host attestation leaf: CA:FALSE, digitalSignature only */
	CTL_CERT_GUEST,  /* guest TLS leaf: CA:FALSE, digitalSignature, serverAuth + clientAuth, the SAN */
};

/* Issues a certificate of kind for key with subject O=Cloister, CN=cn (no
 * CN if cn is NULL), valid from an hour ago for days (never past the
 * issuer's end), a random positive 16-byte serial, signed with SHA-384 by
 * issuer_key (key itself for a root: issuer NULL). san only for a server
 * or guest certificate. *out is the caller's. */
CL_MUST_CHECK cl_err ctl_ca_issue_cert(EVP_PKEY *key, enum ctl_cert_kind kind, const char *cn, X509 *issuer,
				       EVP_PKEY *issuer_key, const char *san, long days, X509 **out);
/* Writes key (PEM PKCS#8) or cert into path atomically with mode. */
CL_MUST_CHECK cl_err ctl_ca_write_pem(const char *path, unsigned mode, EVP_PKEY *key, X509 *cert);
/* Loads an EC P-384 private key (PEM); CL_EINTERNAL for anything else. */
CL_MUST_CHECK cl_err ctl_ca_load_key(const char *path, EVP_PKEY **out);
/* Loads a PEM certificate. */
CL_MUST_CHECK cl_err ctl_ca_load_cert(const char *path, X509 **out);
/* A new EC P-384 key. */
CL_MUST_CHECK cl_err ctl_ca_new_key(EVP_PKEY **out);
bool ctl_ca_exists(const char *path);
/* PEM text of cert into a malloc'd NUL-terminated *out, *len. */
CL_MUST_CHECK cl_err ctl_ca_pem_text(X509 *cert, char **out, size_t *len);
/* The lower-case hex serial of c (no leading zeros) into serial and its
 * notAfter into *not_after (unix seconds). */
CL_MUST_CHECK cl_err ctl_ca_cert_serial(X509 *c, char serial[CTL_SERIAL_HEX_MAX + 1], int64_t *not_after);
/* (ca_hosts.c) Loads the hosts intermediate, or makes it, and re-issues it
 * if due; writes DATA/hosts-ca.pem (next to the root's ca.pem). Called by
 * ctl_ca_open after the root is loaded. */
CL_MUST_CHECK cl_err ctl_ca_hosts_open(ctl_ca *ca, time_t now);

/* An EVP_PKEY for an uncompressed point of len bytes on curve ("P-256",
 * "P-384"), checked on the curve; the caller owns *out. CL_ECRYPTO naming
 * what ("public_key") when it is not one. */
CL_MUST_CHECK cl_err ctl_ca_point_key(const char *curve, const uint8_t *point, size_t len, const char *what,
				      EVP_PKEY **out);

#endif
