/* ca.h — the control plane's local certificate authority and its server
 * certificate. Used by the monitor only (monitor.h): no other process of
 * cloister-control loads a private key.
 *
 * Files: KEYS/ca.key (EC P-384, 0600), the self-signed DATA/ca.pem (10
 * years, 0644: hosts and clients trust it), KEYS/server.key (0600) and
 * KEYS/server.pem (825 days) for the configured names (ctl_names), signed by
 * the CA. Every file is written atomically. Keys never reach logs.
 *
 * The server certificate is re-issued (same key, new serial and validity)
 * when it is within CTL_CA_RENEW_DAYS of expiry, when its names differ from
 * the configured ones, or when it does not match the key; a new key is made
 * only when there is none.
 *
 * Hosts' attestation keys (docs/control.md "Attestation CA"):
 *
 *   root "Cloister local CA" (ca.pem; CA:TRUE pathlen:1)
 *    ├─ server certificate (as above)
 *    └─ "Cloister hosts CA" (KEYS/hosts-ca.key, KEYS/hosts-ca.pem published
 *       as DATA/hosts-ca.pem; CA:TRUE pathlen:0, keyCertSign cRLSign;
 *       CTL_HOSTS_CA_DAYS, re-issued with the same key within
 *       CTL_HOSTS_CA_RENEW_DAYS of its end)
 *        └─ host leaf: CN=<host id>, CA:FALSE, keyUsage digitalSignature
 *           only, a random 16-byte positive serial, CTL_HOST_CERT_DAYS
 *           (never past the intermediate's end), the host's P-384 "attest" key
 *
 * Guests' TLS certificates (docs/control.md "Guest TLS certificates"),
 * signed by the root itself, as the server certificate is:
 *
 *   root "Cloister local CA"
 *    └─ guest TLS leaf: O=Cloister, CN=<first name> (omitted past 64
 *       characters), CA:FALSE, keyUsage digitalSignature, extendedKeyUsage
 *       serverAuth clientAuth, SAN = the names, CTL_TLS_CERT_DAYS, a random
 *       16-byte positive serial, the guest's P-256 key (made in the host's
 *       key holder, certified on its proof of possession: ctl_tls_pop_verify)
 *
 * A root made before the intermediate existed carries pathlen:0, which
 * forbids it: it is re-issued once, same key and subject, with pathlen:1, so
 * everything it signed (the server certificate) still verifies under either.
 */
#ifndef CL_CONTROL_CA_H
#define CL_CONTROL_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

#define CTL_NAMES_MAX 16   /* --server-name at most this many times */
#define CTL_NAME_LEN 260   /* "DNS:" + 253 + NUL, or "IP:" + an address */
#define CTL_CA_RENEW_DAYS 30
#define CTL_CA_SERVER_DAYS 825
#define CTL_HOSTS_CA_DAYS 1826       /* five years */
#define CTL_HOSTS_CA_RENEW_DAYS 400  /* more than a leaf's life: no leaf outlives its issuer by much */
#define CTL_HOST_CERT_DAYS 365
#define CTL_HOST_ID_MAX 63           /* [a-z0-9-]{1,63}, as ids in paths */
#define CTL_ATT_POINT_LEN 97         /* uncompressed P-384 point 0x04 || X || Y */
#define CTL_ATT_PROOF_LEN 96         /* ECDSA P-384 r || s */
#define CTL_ATT_POP_LABEL "cloister-attest-pop/1"
#define CTL_HOST_CERT_DER_MAX 2048   /* a host leaf's DER is ~600 bytes */
#define CTL_SERIAL_HEX_MAX 40        /* lower-case hex, no leading zeros */
#define CTL_TLS_CERT_DAYS 30         /* a guest's TLS leaf */
#define CTL_TLS_POINT_LEN 65         /* uncompressed P-256 point */
#define CTL_TLS_PROOF_LEN 64         /* ECDSA P-256 r || s */
#define CTL_TLS_POP_LABEL "cloister-tls-pop/1" /* = CL_KH_TLS_POP_LABEL */
#define CTL_TLS_NAMES_MAX 1024       /* the comma-separated names, in characters */
#define CTL_TLS_NAMES_N 16           /* at most this many names */
#define CTL_TLS_ENCLAVE_ID_MAX 53    /* "tls/<id>:<gen>" fits the key holder's 64-character name */

/* The server certificate's subject alternative names, canonical and
 * sorted: "DNS:lowercase.name" or "IP:<inet_ntop form>". */
typedef struct ctl_names {
	size_t n;
	char v[CTL_NAMES_MAX][CTL_NAME_LEN];
} ctl_names;

/* The default list: IP 127.0.0.1, IP ::1, DNS localhost. */
void ctl_names_default(ctl_names *out);
/* Adds one --server-name value: an IPv4 or IPv6 address, or a DNS name
 * (letters, digits, '-', '.', a leading "*." wildcard; labels of 1..63, at
 * most 253 in all). Keeps the list sorted, drops a duplicate. CL_EINVAL with
 * a detail for a bad name, CL_ELIMIT past CTL_NAMES_MAX. */
CL_MUST_CHECK cl_err ctl_names_add(ctl_names *names, const char *value);

typedef struct ctl_ca ctl_ca;

/* Loads (or creates on first start) the CA and the server key and
 * certificate, then re-issues the server certificate if it is due at now
 * (see above). keys_dir must exist (0700); ca_pem is where the CA
 * certificate is published. The caller owns *out (ctl_ca_free). */
CL_MUST_CHECK cl_err ctl_ca_open(const char *keys_dir, const char *ca_pem, const ctl_names *names, time_t now,
				 ctl_ca **out);
/* Re-issues the server certificate if it is due at now; *renewed tells. */
CL_MUST_CHECK cl_err ctl_ca_renew_if_due(ctl_ca *ca, time_t now, bool *renewed);
/* ECDSA P-384 with the server key over digest[len] (32, 48 or 64 bytes):
 * r || s, 48 bytes each. */
CL_MUST_CHECK cl_err ctl_ca_sign_handshake(ctl_ca *ca, const uint8_t *digest, size_t len, uint8_t sig[96]);
/* The PEM of the server certificate followed by the CA certificate, and the
 * CA certificate alone (borrowed; valid until the next re-issue or free). */
void ctl_ca_pems(const ctl_ca *ca, const char **chain, size_t *chain_len, const char **ca_pem, size_t *ca_len);
/* As ctl_ca_pems, for the hosts intermediate (PEM, borrowed). */
void ctl_ca_hosts_pem(const ctl_ca *ca, const char **pem, size_t *len);
/* Re-issues the hosts intermediate (same key) if it is missing, within
 * CTL_HOSTS_CA_RENEW_DAYS of its end at now, or not issued by the root;
 * *renewed tells. Writes KEYS/hosts-ca.pem (DATA/hosts-ca.pem is written by
 * ctl_ca_open only: the monitor cannot reach DATA once hardened). */
CL_MUST_CHECK cl_err ctl_ca_hosts_renew_if_due(ctl_ca *ca, time_t now, bool *renewed);
/* Sets the server certificate's renewal window in days (default
 * CTL_CA_RENEW_DAYS; tests make it wider than the certificate's life so
 * that every check re-issues). */
void ctl_ca_set_renew_days(ctl_ca *ca, unsigned days);

/* CL_OK if point is an uncompressed P-384 point on the curve, else
 * CL_ECRYPTO with a detail. Public data only: the worker checks it too,
 * for a clear answer, before the monitor checks it again. */
CL_MUST_CHECK cl_err ctl_attest_point_check(const uint8_t point[CTL_ATT_POINT_LEN]);
/* Checks a proof of possession: proof (r || s) must be an ECDSA P-384
 * signature by point over SHA-384(CTL_ATT_POP_LABEL || 0x00 || host_id ||
 * 0x00 || point). CL_ECRYPTO with a detail if the point is not an
 * uncompressed P-384 point on the curve or the signature does not verify. */
CL_MUST_CHECK cl_err ctl_attest_pop_verify(const char *host_id, const uint8_t point[CTL_ATT_POINT_LEN],
					   const uint8_t proof[CTL_ATT_PROOF_LEN]);

/* A host leaf as issued. */
typedef struct ctl_host_cert {
	uint8_t der[CTL_HOST_CERT_DER_MAX];
	size_t der_len;
	char serial[CTL_SERIAL_HEX_MAX + 1]; /* lower-case hex, no leading zeros */
	int64_t not_after;                   /* unix seconds */
} ctl_host_cert;

/* Issues the attestation leaf of host_id for point, after checking the
 * host id ([a-z0-9-]{1,63}: CL_EINVAL) and the proof (ctl_attest_pop_verify:
 * CL_ECRYPTO). Nothing is written to disk: the caller records the serial. */
CL_MUST_CHECK cl_err ctl_ca_issue_host(ctl_ca *ca, const char *host_id, const uint8_t point[CTL_ATT_POINT_LEN],
				       const uint8_t proof[CTL_ATT_PROOF_LEN], time_t now, ctl_host_cert *out);

/* Checks a guest TLS key's proof of possession: point must be an
 * uncompressed P-256 point on the curve (not infinity) and proof (r || s)
 * its ECDSA signature over SHA-256(CTL_TLS_POP_LABEL 0x00 host_id 0x00
 * "tls/<enclave_id>:<gen>" 0x00 point) — the digest the host's key holder
 * signed in tls-generate, rebuilt here. CL_ECRYPTO with a detail if not. */
CL_MUST_CHECK cl_err ctl_tls_pop_verify(const char *host_id, const char *enclave_id, uint32_t gen,
					const uint8_t point[CTL_TLS_POINT_LEN], const uint8_t proof[CTL_TLS_PROOF_LEN]);
/* Parses names: 1..CTL_TLS_NAMES_N comma-separated DNS names (lower-case
 * [a-z0-9-] labels of 1..63 not starting or ending with '-', '.'-separated,
 * at most 253 in all) or IPv4/IPv6 literals, CTL_TLS_NAMES_MAX characters
 * at most, no duplicates, into out as "DNS:<name>" / "IP:<address>" in the
 * given order. CL_EINVAL with a detail otherwise. */
CL_MUST_CHECK cl_err ctl_tls_names_parse(const char *names, ctl_names *out);

/* A guest TLS certificate as issued: *chain_pem (leaf then root, PEM,
 * NUL-terminated) is the caller's to free. */
typedef struct ctl_tls_cert {
	char *chain_pem;
	char serial[CTL_SERIAL_HEX_MAX + 1];
	int64_t not_after; /* unix seconds */
} ctl_tls_cert;

/* Issues a guest's TLS leaf (above) after checking host_id ([a-z0-9-]
 * {1,63}), enclave_id ([a-z0-9-]{1,CTL_TLS_ENCLAVE_ID_MAX}), gen >= 1 and
 * names (CL_EINVAL), and the point and proof (ctl_tls_pop_verify:
 * CL_ECRYPTO). Nothing is written to disk: the caller records the serial.
 * On failure *out is empty (chain_pem NULL). */
CL_MUST_CHECK cl_err ctl_ca_issue_tls(ctl_ca *ca, const char *host_id, const char *enclave_id, uint32_t gen,
				      const char *names, const uint8_t point[CTL_TLS_POINT_LEN],
				      const uint8_t proof[CTL_TLS_PROOF_LEN], ctl_tls_cert *out);

/* Frees everything, keys cleared (NULL is fine). */
void ctl_ca_free(ctl_ca *ca);

#endif
