/* agent_ops.h — channel ops (agent_ops.c, agent_ops_run.c, agent_ops_post.c).
 */
#ifndef CL_HOST_AGENT_OPS_H
#define CL_HOST_AGENT_OPS_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"
#include "host/agent_proto.h"

/* One engine thread runs a libevent loop: each op is a non-blocking shim
 * connection and a deadline timer (a parked recv wait holds no thread), and
 * results are posted with libcurl's multi interface on the same loop.
 */

#define CL_AGENT_OPS_MAX 1024        /* ops held at once, every tenant (beyond: CL_EUNAVAIL) */
#define CL_AGENT_OPS_TENANT_MAX 64   /* ops in flight per tenant on this host (beyond: too_many_requests) */
#define CL_AGENT_OPS_ENCLAVE_CONNS 8 /* shim connections per enclave: the shim serves 16 clients,
					and the sync loop's STATUS probes must always find a slot */
#define CL_AGENT_OPS_PENDING_MAX 256 /* undelivered results kept for the next sync */

typedef struct cl_agent_pool cl_agent_pool;

/* Starts the ops engine thread. Results are posted to control (CA ca, bearer
 * token) as POST /v1/hosts/{host_id}/ops/{op}; control NULL posts nothing
 * (every result waits for cl_agent_pool_take_results). Strings are copied.
 * *out is freed with cl_agent_pool_free. */
CL_MUST_CHECK cl_err cl_agent_pool_new(const char *control, const char *ca, const char *token,
				       const char *host_id, const char *dir, cl_agent_pool **out);
/* The attest op's work (agent_attest.h's cl_agent_att_op): the op's
 * result (new reference; NULL = out of memory), made on the engine thread
 * without a shim connection; dir is the pool's data dir. */
typedef json_t *(*cl_agent_attest_fn)(void *ctx, const char *dir, const cl_agent_op *op);
/* Sets the attest hook (before ops are submitted; without one an attest op
 * is answered "this host cannot attest"). */
void cl_agent_pool_set_attest(cl_agent_pool *p, cl_agent_attest_fn fn, void *ctx);
/* The TLS ops' work (agent_tls.h's cl_agent_tls_op_fn): the op's result
 * (new reference; NULL = out of memory), made on the engine thread without
 * a shim connection. */
typedef json_t *(*cl_agent_tls_fn)(void *ctx, const cl_agent_op *op);
/* Sets the TLS hook (before ops are submitted; without one a TLS op is
 * answered "this host cannot serve TLS"). */
void cl_agent_pool_set_tls(cl_agent_pool *p, cl_agent_tls_fn fn, void *ctx);
/* Hands op to the engine, taking ownership of op->data (set to NULL). Its
 * deadline starts now: op->deadline_ms from now. An op id already taken
 * (queued, running, answered or cancelled recently) is ignored (CL_OK): an
 * op runs at most once. An op whose deadline is 0 is answered "expired", one
 * whose tenant already has CL_AGENT_OPS_TENANT_MAX in flight is answered
 * "too_many_requests" (both CL_OK, the result waits for the next sync).
 * CL_EUNAVAIL if CL_AGENT_OPS_MAX ops are held (op->data untouched). */
CL_MUST_CHECK cl_err cl_agent_pool_submit(cl_agent_pool *p, cl_agent_op *op);
/* Drops op if it is queued or running (its shim connection is closed, which
 * ends a parked wait) and answers it "cancelled"; an unknown id is only
 * remembered, so a late copy of the op never runs. */
void cl_agent_pool_cancel(cl_agent_pool *p, const char *op);
/* Ops taken and not finished, of tenant (NULL: of every tenant). */
size_t cl_agent_pool_inflight(cl_agent_pool *p, const char *tenant);
/* Records a failure result for an op that cannot run (sent with the next sync). */
void cl_agent_pool_fail(cl_agent_pool *p, const char *op, const char *error);
/* Takes the oldest results still to deliver, at most budget bytes of data in
 * all (JSON array, new reference; empty if none; NULL out of memory); the
 * others wait for the next sync. A single result whose data alone exceeds
 * the budget is turned into a failure (it can never fit a sync request).
 * Results are {op, ok, data?, error?, reason?}; reason is
 * "too_many_requests", "expired" or "cancelled" when it applies. */
json_t *cl_agent_pool_take_results(cl_agent_pool *p, size_t budget);
/* Gives back what take_results returned after a failed sync (steals arr). */
void cl_agent_pool_requeue(cl_agent_pool *p, json_t *arr);
/* Stops the engine, abandons ops in flight (the control plane times them
 * out) and frees everything. NULL ok. */
void cl_agent_pool_free(cl_agent_pool *p);

#endif
