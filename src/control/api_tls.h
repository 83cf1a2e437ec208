/* api_tls.h — host-terminated TLS on the control plane (docs/tls.md
 * "Credentials: the job and its steps", docs/api/enclaves-tls.md):
 *
 *   api_tls.c         the routes: POST/GET/DELETE /v1/enclaves/{id}/tls,
 *                     POST /v1/enclaves/{id}/tls/rotate
 *   api_tls_policy.c  the policy a tenant sends, validated
 *   api_tls_job.c     the jobs (tls_enable, tls_rotate, tls_disable), moved
 *                     along by the results of their host ops (tls_generate,
 *                     tls_install, tls_remove), with their steps recorded
 */
#ifndef CL_CONTROL_API_TLS_H
#define CL_CONTROL_API_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "control/control.h"
#include "control/monitor.h"

/* The DNS zone an enclave's name lives in: <name>.<tenant name>.<zone>. */
#define CTL_TLS_ZONE "cloister.internal"
#define CTL_TLS_PORTS_MAX 16
#define CTL_TLS_IPS_MAX 16
#define CTL_TLS_ADAPTERS_MAX 16
#define CTL_TLS_HEADER_MAX 64
#define CTL_TLS_NAMES_MAX 1024 /* the monitor's bound on a certificate's names */

/* api_tls.c: the TLS routes of enclave e (loaded, visible, access checked):
 * sub is NULL for /v1/enclaves/{id}/tls, "rotate" for .../tls/rotate. */
void ctl_enclave_tls(ctl_req *r, ctl_enclave *e, const char *sub);

/* api_tls_policy.c: validates a policy object (docs/api/enclaves-tls.md):
 * {"mode": "all|ports|ips|adapters|auto" (default all), "ports": [1..65535]
 * (<= 16, distinct), "ips": ["ADDR" or "ADDR/PREFIX"] (<= 16), "adapters":
 * [interface names] (<= 16), "insecure": "allow|reject" (default reject),
 * "header": an HTTP field name (RFC 9110 token, <= 64, not a hop-by-hop or
 * framing field) or null}; a list goes with its mode only ("ports" with
 * mode ports...), and that mode needs it. "import" is refused (not
 * supported yet). *out gets the normalized policy (every field present; a
 * new reference, caller owns). CL_EINVAL with a detail naming the field. */
CL_MUST_CHECK cl_err ctl_tls_parse_policy(json_t *body, json_t **out);

/* api_tls_job.c: the steps of job_id as a JSON array ([] for none):
 * [{"name","state":"done|failed","detail","at"}]. NULL when out of memory
 * or on a store failure (detail set). */
json_t *ctl_job_steps_json(ctl_server *srv, const char *job_id);

/* api_tls_job.c: starts the job j (inserted, committed) on enclave e: its
 * first op (tls_generate for generation gen, or tls_remove for a disable;
 * tls_install straight away for a policy change with the same key). On
 * failure the job has failed with the reason, which is returned. */
CL_MUST_CHECK cl_err ctl_tls_job_start(ctl_server *srv, const ctl_enclave *e, const ctl_job *j);

/* Called by ops.c when a TLS op (kind "tls_*") is first handed to its host
 * in a sync answer: tls_install records the step "delivered". */
void ctl_tls_op_delivered(ctl_server *srv, const char *kind, const char *job_id);
/* Called by ops.c when a TLS op ended: the host's result (from_host; ok,
 * data: base64, error), or a failure of the control plane's (timeout, host
 * lost, shutdown: ok false). Moves the job along or fails it at its step. */
void ctl_tls_op_end(ctl_server *srv, const char *kind, const char *job_id, const char *enclave_id, bool from_host,
		    bool ok, const char *data, const char *error);

#endif
