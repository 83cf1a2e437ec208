/* agent_reconcile.h — reconciliation (agent_reconcile.c): the desired set and the actual set
 * of enclaves -> the actions that bring one to the other. Pure.
 */
#ifndef CL_HOST_AGENT_RECONCILE_H
#define CL_HOST_AGENT_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "host/agent_args.h"

typedef struct cl_agent_desired {
	char id[CL_AGENT_ID_MAX];
	char image[CL_AGENT_ID_MAX];
	char image_sha384[97]; /* lower-case hex */
	uint64_t memory_mib;
	uint32_t cpus;
	bool running; /* desired "running" (true) or "stopped" (false) */
	char tenant[CL_AGENT_ID_MAX]; /* owner's id, "" if the answer did not say (PCR3 stays zero) */
	char name[CL_AGENT_ID_MAX];   /* the enclave's name, "" if not given */
	bool await_bundle;            /* starts no application until a bundle is provisioned */
	bool suspendable;             /* carries init-bundle; may be suspended (docs/suspend.md) */
	bool await_restore;           /* with suspendable: launched awaiting a restore, running nothing */
	bool network;                 /* a veth and an address from the guest pool (docs/tls.md) */
	uint16_t expose[CL_PROTO_EXPOSE_MAX]; /* with network: ports it exposes (measured into PCR3) */
	uint32_t nexpose;
} cl_agent_desired;

typedef struct cl_agent_actual {
	char id[CL_AGENT_ID_MAX];
	bool alive;   /* shim reachable (cl_sandbox_inspect succeeded) */
	bool running; /* application still running */
	bool frozen;
	int exit_status;
	uint64_t memory_bytes;
	bool await_restore; /* launched awaiting a restore (its spec.json says so) */
} cl_agent_actual;

enum cl_agent_action_kind {
	CL_ACT_DESTROY = 1,
	CL_ACT_LAUNCH,
	CL_ACT_FREEZE,
	CL_ACT_THAW,
	CL_ACT_SET_MEMORY,
};

typedef struct cl_agent_action {
	enum cl_agent_action_kind kind;
	char id[CL_AGENT_ID_MAX];
	size_t desired; /* index into the desired list (LAUNCH, SET_MEMORY, FREEZE, THAW) */
	uint64_t memory_bytes; /* SET_MEMORY: new limit */
} cl_agent_action;

/* Computes what to do to turn `actual` into `desired`. Pure: no I/O.
 *  - an actual sandbox whose id is not desired, or whose shim is dead, is destroyed;
 *    so is one desired awaiting a restore that was not launched so (the
 *    suspended enclave's own sandbox, not yet removed: docs/suspend.md);
 *  - a desired id with no sandbox is launched, unless its id is in `failed`
 *    (a launch that already failed is not retried until the id leaves the
 *    desired set) — an id present in `actual` is never launched;
 *  - for a live, running application: desired stopped and not frozen -> freeze,
 *    desired running and frozen -> thaw; a memory limit that differs -> set_memory;
 *  - duplicate ids (in either list) count once: the first desired entry wins.
 * Destroys come first, then memory changes, freezes/thaws, then launches.
 * *out is malloc'd (caller frees; NULL when *n == 0). */
CL_MUST_CHECK cl_err cl_agent_reconcile(const cl_agent_desired *desired, size_t ndesired,
					const cl_agent_actual *actual, size_t nactual,
					const char *const *failed, size_t nfailed, cl_agent_action **out,
					size_t *n);

/* The sync loop's spin guard (agent_reconcile.c, pure): the count of idle
 * instant rounds after one more round. A round counts only if it brought
 * nothing new (!moved) and came back within CL_AGENT_QUICK_NS; anything else
 * resets the count. At CL_AGENT_QUICK_ROUNDS the loop sleeps 50 ms. */
#define CL_AGENT_QUICK_NS 20000000u
#define CL_AGENT_QUICK_ROUNDS 5
unsigned cl_agent_quick_rounds(unsigned quick, bool moved, uint64_t round_ns);

#endif
