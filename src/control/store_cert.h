/* store_cert.h — hosts' attestation certificates and enclaves' measurement
 * registers in the control plane's store (store_cert.c; migration 7).
 *
 * A certificate row is written when the monitor issued it (the certificate
 * itself is not kept: the host holds it; the row is what revocation and
 * GET /v1/ca/certificates/{serial} need). A revoked row keeps its first
 * revoked_at and reason. Times here are unix seconds, as in the API. */
#ifndef CL_CONTROL_STORE_CERT_H
#define CL_CONTROL_STORE_CERT_H

#include <stdint.h>

#include "common/err.h"
#include "control/ca.h"
#include "control/store.h"

#define CTL_REVOKE_REASON_MAX 16

typedef struct ctl_cert_row {
	char serial[CTL_SERIAL_HEX_MAX + 1]; /* lower-case hex, no leading zeros */
	char host_id[CTL_ID_MAX];
	char key_sha256[65]; /* hex SHA-256 of the certified point */
	int64_t issued_at;   /* ms (orders a host's certificates) */
	int64_t not_after;   /* s */
	int64_t revoked_at;  /* s; 0: not revoked */
	char reason[CTL_REVOKE_REASON_MAX]; /* "removed" | "lost" | "replaced" | "" */
} ctl_cert_row;

/* Records an issued certificate (inside the caller's transaction). */
CL_MUST_CHECK cl_err ctl_store_cert_insert(ctl_store *st, const ctl_cert_row *c);
/* The row of serial; CL_ENOTFOUND if unknown. */
CL_MUST_CHECK cl_err ctl_store_cert_get(ctl_store *st, const char *serial, ctl_cert_row *out);
/* Revokes every certificate of host_id not revoked yet at now_s with
 * reason; with keep_key (not NULL) those for that key are kept (a new key
 * replaces the others: "replaced"). *n (may be NULL) how many. */
CL_MUST_CHECK cl_err ctl_store_cert_revoke_host(ctl_store *st, const char *host_id, const char *reason,
						int64_t now_s, const char *keep_key, int *n);
/* The serial of host_id's newest certificate valid at now_s (not revoked,
 * not expired) into serial; CL_ENOTFOUND if there is none. */
CL_MUST_CHECK cl_err ctl_store_cert_newest(ctl_store *st, const char *host_id, int64_t now_s,
					   char serial[CTL_SERIAL_HEX_MAX + 1]);

/* An enclave's reported measurement registers: a JSON object text
 * {"0":"<96 hex>",...} as the host reported it (validated), in the table
 * enclave_pcrs (deleted with the enclave). CL_ENOTFOUND if no enclave. */
CL_MUST_CHECK cl_err ctl_store_enclave_pcrs_set(ctl_store *st, const char *enclave_id, const char *pcrs_json);
/* *out: malloc'd text, "" when none (the caller frees). CL_ENOTFOUND if no enclave. */
CL_MUST_CHECK cl_err ctl_store_enclave_pcrs_get(ctl_store *st, const char *enclave_id, char **out);

/* An enclave's latest measure on demand: PCR5 (96 lower-case hex digits)
 * and when it was received (ms since the epoch), in the table
 * enclave_measure (deleted with the enclave); replaces the previous one.
 * CL_ENOTFOUND if no enclave. */
CL_MUST_CHECK cl_err ctl_store_enclave_measure_set(ctl_store *st, const char *enclave_id, const char *pcr5_hex,
						   int64_t at_ms);
/* The latest one into pcr5_hex and *at_ms; pcr5_hex "" and *at_ms 0 when the
 * enclave was never measured. CL_ENOTFOUND if no enclave. */
CL_MUST_CHECK cl_err ctl_store_enclave_measure_get(ctl_store *st, const char *enclave_id, char pcr5_hex[97],
						   int64_t *at_ms);

#endif
