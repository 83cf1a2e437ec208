/* api_attest.h — the CA and attestation-certificate routes (api_attest.c). */
#ifndef CL_CONTROL_API_ATTEST_H
#define CL_CONTROL_API_ATTEST_H

#include <jansson.h>
#include <stdint.h>

#include "control/control.h"
#include "control/store_cert.h"

/* DER of the first certificate in pem into *der (malloc'd, the caller
 * frees) and *n. CL_EINTERNAL if pem is NULL or holds no certificate. */
CL_MUST_CHECK cl_err ctl_pem_to_der(const char *pem, uint8_t **der, size_t *n);
/* GET /v1/ca, /v1/ca/hosts, /v1/ca/certificates/{serial} (no auth). */
void ctl_api_ca(ctl_req *r);
/* POST /v1/hosts/{id}/attestation-key (that host's token). */
void ctl_attest_key_handle(ctl_req *r, const char *host_id);
/* The status object of a certificate row at now_s: {"serial", "host",
 * "status": valid|revoked|expired, "reason"?, "revoked_at"?, "not_after"}.
 * NULL when out of memory. */
json_t *ctl_cert_status_json(const ctl_cert_row *c, int64_t now_s);
/* The sync answer's "attestation_serial": the serial of the host's newest
 * valid certificate as a JSON string, or JSON null (never NULL unless out
 * of memory). */
json_t *ctl_attest_sync_serial(ctl_server *srv, const char *host_id);

#endif
