/* agent_reconcile.c — desired set + actual set -> actions. Pure: no I/O.
 *
 * The actual list comes from cl_sandbox_list (the truth about what exists),
 * so the rule "an id present in actual is never launched" is what makes a
 * double launch impossible, whatever the control plane sends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/agent_reconcile.h"

#define MIB (UINT64_C(1) << 20)

static const cl_agent_actual *find_actual(const cl_agent_actual *a, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].id, id) == 0)
			return &a[i];
	return NULL;
}

/* Index of the first desired entry with this id, or ndesired. */
static size_t find_desired(const cl_agent_desired *d, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(d[i].id, id) == 0)
			return i;
	return n;
}

static bool in_failed(const char *const *failed, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (failed[i] && strcmp(failed[i], id) == 0)
			return true;
	return false;
}

static void push(cl_agent_action *acts, size_t *n, enum cl_agent_action_kind kind, const char *id,
		 size_t desired, uint64_t bytes)
{
	cl_agent_action *a = &acts[(*n)++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	snprintf(a->id, sizeof(a->id), "%s", id); /* ids are bounded by the input structs */
	a->desired = desired;
	a->memory_bytes = bytes;
}

cl_err cl_agent_reconcile(const cl_agent_desired *desired, size_t ndesired, const cl_agent_actual *actual,
			  size_t nactual, const char *const *failed, size_t nfailed, cl_agent_action **out,
			  size_t *n)
{
	*out = NULL;
	*n = 0;
	/* At most one action per actual entry (destroy, or one of memory + freeze/thaw:
	 * two) plus one launch per desired entry. */
	size_t cap = 2 * nactual + ndesired;
	if (cap == 0)
		return CL_OK;
	if (cap > SIZE_MAX / sizeof(cl_agent_action))
		return cl_errorf(CL_ETOOBIG, "reconcile: too many entries");
	cl_agent_action *acts = calloc(cap, sizeof(*acts));
	if (!acts)
		return cl_errorf(CL_ENOMEM, "reconcile: out of memory");
	size_t k = 0;

	/* 1. destroys: not desired, or shim dead (the sandbox cannot be managed). */
	for (size_t i = 0; i < nactual; i++) {
		const cl_agent_actual *a = &actual[i];
		if (find_actual(actual, i, a->id))
			continue; /* duplicate id: handled at its first occurrence */
		size_t di = find_desired(desired, ndesired, a->id);
		if (di == ndesired || !a->alive || (desired[di].await_restore && !a->await_restore))
			push(acts, &k, CL_ACT_DESTROY, a->id, 0, 0);
	}
	/* 2. memory, 3. freeze/thaw on live sandboxes that stay. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < nactual; i++) {
			const cl_agent_actual *a = &actual[i];
			if (find_actual(actual, i, a->id) || !a->alive)
				continue;
			size_t di = find_desired(desired, ndesired, a->id);
			if (di == ndesired)
				continue;
			const cl_agent_desired *d = &desired[di];
			if (pass == 0) {
				if (d->memory_mib && d->memory_mib <= UINT64_MAX / MIB &&
				    a->memory_bytes && a->memory_bytes != d->memory_mib * MIB && a->running)
					push(acts, &k, CL_ACT_SET_MEMORY, a->id, di, d->memory_mib * MIB);
			} else if (a->running) {
				if (!d->running && !a->frozen)
					push(acts, &k, CL_ACT_FREEZE, a->id, di, 0);
				else if (d->running && a->frozen)
					push(acts, &k, CL_ACT_THAW, a->id, di, 0);
			}
		}
	}
	/* 4. launches: desired, absent, not already failed, first occurrence only. */
	for (size_t i = 0; i < ndesired; i++) {
		const char *id = desired[i].id;
		if (find_desired(desired, i, id) != i)
			continue;
		if (find_actual(actual, nactual, id) || in_failed(failed, nfailed, id))
			continue;
		push(acts, &k, CL_ACT_LAUNCH, id, i, 0);
	}
	if (k == 0) {
		free(acts);
		return CL_OK;
	}
	*out = acts;
	*n = k;
	return CL_OK;
}

unsigned cl_agent_quick_rounds(unsigned quick, bool moved, uint64_t round_ns)
{
	if (moved || round_ns >= CL_AGENT_QUICK_NS)
		return 0;
	return quick < CL_AGENT_QUICK_ROUNDS ? quick + 1 : CL_AGENT_QUICK_ROUNDS;
}
