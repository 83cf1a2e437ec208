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
/* Frees everything, keys cleared (NULL is fine). */
void ctl_ca_free(ctl_ca *ca);

#endif
