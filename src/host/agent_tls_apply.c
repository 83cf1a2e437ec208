/* agent_tls_apply.c — the one hand-over of a guest's TLS to the data plane
 * (agent_tls.h, cl_agent_tls_apply).
 *
 * Today: the desired state in memory, one entry per enclave (generation,
 * chain, policy): public data only, no key. At merge with the data plane
 * (branch h-dataplane, src/tls/dataplane.h), cl_agent_tls_apply also sends
 * it: cl_dp_guest_set with the enclave id, gen, chain, the backend address
 * (the guest's address from the guest networks, agent_net) and listeners,
 * header, mode (cl_agent_tls_mode has cl_dp_mode's values) and insecure
 * rule; cl_dp_guest_remove for a removal — and records only what the data
 * plane accepted.
 *
 * Not journaled: after a restart the key holder is new and holds none of
 * the keys these certificates name (docs/tls.md "Restarts lose guest
 * keys"), so the control plane re-issues instead. */
#include <stdlib.h>
#include <string.h>

#include "host/agent_tls.h"

typedef struct dp_entry {
	char enclave[CL_AGENT_ID_MAX];
	uint32_t gen;
	char *chain;
	size_t chain_len;
	cl_agent_tls_policy policy;
} dp_entry;

struct cl_agent_tls_dp {
	dp_entry *v;
	size_t n, cap;
};

cl_err cl_agent_tls_dp_new(cl_agent_tls_dp **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? CL_OK : cl_errorf(CL_ENOMEM, "out of memory");
}

void cl_agent_tls_dp_free(cl_agent_tls_dp *dp)
{
	if (!dp)
		return;
	for (size_t i = 0; i < dp->n; i++)
		free(dp->v[i].chain);
	free(dp->v);
	free(dp);
}

static dp_entry *find(const cl_agent_tls_dp *dp, const char *enclave)
{
	for (size_t i = 0; i < dp->n; i++)
		if (strcmp(dp->v[i].enclave, enclave) == 0)
			return &dp->v[i];
	return NULL;
}

cl_err cl_agent_tls_apply(cl_agent_tls_dp *dp, const char *enclave, uint32_t gen, const char *chain, size_t chain_len,
			  const cl_agent_tls_policy *policy)
{
	dp_entry *e = find(dp, enclave);
	CL_ENSURE(strlen(enclave) < CL_AGENT_ID_MAX, CL_EINVAL, "enclave id too long");
	if (!chain) { /* removal (the data plane's cl_dp_guest_remove goes here) */
		if (e) {
			free(e->chain);
			*e = dp->v[--dp->n];
		}
		return CL_OK;
	}
	CL_ENSURE(gen >= 1 && policy, CL_EINVAL, "a generation and a policy are needed");
	char *copy = malloc(chain_len + 1);
	CL_ENSURE(copy, CL_ENOMEM, "out of memory");
	memcpy(copy, chain, chain_len);
	copy[chain_len] = '\0';
	if (!e) {
		if (dp->n == dp->cap) {
			size_t cap = dp->cap ? dp->cap * 2 : 8;
			dp_entry *v = realloc(dp->v, cap * sizeof(*v));
			if (!v) {
				free(copy);
				return cl_errorf(CL_ENOMEM, "out of memory");
			}
			dp->v = v;
			dp->cap = cap;
		}
		e = &dp->v[dp->n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->enclave, enclave, strlen(enclave) + 1);
	}
	/* the data plane's cl_dp_guest_set goes here: on its refusal, free copy
	 * and return it (nothing recorded) */
	free(e->chain);
	e->chain = copy;
	e->chain_len = chain_len;
	e->gen = gen;
	e->policy = *policy;
	return CL_OK;
}

bool cl_agent_tls_dp_get(const cl_agent_tls_dp *dp, const char *enclave, uint32_t *gen, cl_agent_tls_policy *policy)
{
	const dp_entry *e = find(dp, enclave);
	if (!e)
		return false;
	if (gen)
		*gen = e->gen;
	if (policy)
		*policy = e->policy;
	return true;
}

const char *cl_agent_tls_dp_enclave(const cl_agent_tls_dp *dp, size_t i)
{
	return i < dp->n ? dp->v[i].enclave : NULL;
}
