/* agent_state.h — the host's state (agent_state.c): DATA/host.json, capabilities and the
 * collection of the actual set.
 */
#ifndef CL_HOST_AGENT_STATE_H
#define CL_HOST_AGENT_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "host/agent_args.h"
#include "host/agent_reconcile.h"

/* An error to report for an enclave id. launch=true: the launch failed and the
 * enclave does not exist (reported as state "failed", not relaunched while
 * desired); launch=false: a later step (memory, freeze) failed on a live one. */
typedef struct cl_agent_failure {
	char id[CL_AGENT_ID_MAX];
	char error[256];
	bool launch;
	uint64_t retry_at_ns; /* launch: when to try again (monotonic), 0 = not while desired */
} cl_agent_failure;

/* A launch that failed because the host's disk is full is reported at once
 * and tried again this long after (space may have been freed meanwhile). */
#define CL_AGENT_NOSPACE_RETRY_MS 10000u

/* Lists DIR/sandboxes and inspects each: the actual set. A sandbox whose shim
 * is gone has alive=false. *out is malloc'd (caller frees). */
CL_MUST_CHECK cl_err cl_agent_collect_actual(const char *dir, cl_agent_actual **out, size_t *n);
/* As cl_agent_collect_actual, but a listed sandbox whose id is in known[]
 * (nknown entries) takes that entry instead of asking its shim: the agent
 * launched it moments ago and the launch returned at READY. An id in known[]
 * that is not listed is not reported (the listing stays the truth about
 * what exists). */
CL_MUST_CHECK cl_err cl_agent_collect_actual_known(const char *dir, const cl_agent_actual *known, size_t nknown,
						   cl_agent_actual **out, size_t *n);
/* The capabilities object sent with register and sync (new reference, or NULL
 * on allocation failure). memory_mib/cpus are the resolved values. */
json_t *cl_agent_capabilities(const cl_agent_config *cfg, uint64_t memory_mib, uint32_t cpus);
/* The "enclaves" array of a sync request: every actual sandbox (running,
 * stopped, exited) plus every launch failure (failed). New reference or NULL. */
json_t *cl_agent_enclaves_json(const cl_agent_actual *a, size_t n, const cl_agent_failure *f, size_t nf);

typedef struct cl_agent_identity {
	char host_id[128];
	char host_token[256]; /* a credential: never logged, wiped on exit */
} cl_agent_identity;

/* Loads DIR/host.json. CL_ENOTFOUND if absent; CL_EINVAL if malformed. */
CL_MUST_CHECK cl_err cl_agent_identity_load(const char *dir, cl_agent_identity *id);
/* Saves DIR/host.json atomically with mode 0600. */
CL_MUST_CHECK cl_err cl_agent_identity_save(const char *dir, const cl_agent_identity *id);

/* Marks sandbox id under dir as suspended (DIR/sandboxes/ID/suspended: its
 * state was committed by the control plane; it goes with the next sync). */
CL_MUST_CHECK cl_err cl_agent_sandbox_mark_suspended(const char *dir, const char *id);
/* Whether sandbox id carries that mark. */
bool cl_agent_sandbox_suspended(const char *dir, const char *id);
/* Whether sandbox id under dir was launched awaiting a restore (its
 * spec.json says so) and was not suspended since; false when it cannot
 * tell. */
bool cl_agent_sandbox_await_restore(const char *dir, const char *id);

#endif
