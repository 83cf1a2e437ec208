/* agent_net.h — the networks of enclaves created --network (docs/tls.md,
 * "Network plumbing"; docs/host.md "Guest networks"): which /30 of the
 * guest pool each holds, journaled in DATA/net.json, and the veth plumbing
 * at launch and destroy (src/sandbox/sandbox_net.h).
 *
 * The journal is written before the plumbing and after the unplumbing, so
 * it is never behind the links: a kill at any moment leaves at worst an
 * entry whose enclave or link is gone, which the next start drops (its
 * enclave is not alive) or re-plumbs (its enclave is alive without its
 * link). Only the agent's main thread uses it.
 */
#ifndef CL_HOST_AGENT_NET_H
#define CL_HOST_AGENT_NET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"
#include "sandbox/sandbox_net.h"

typedef struct cl_agent_net cl_agent_net;

/* Opens the guest networks of data dir `dir` over pool `cidr` (NULL: the
 * default, CL_NET_POOL_DEFAULT) and reads DATA/net.json if it exists.
 * Nothing is claimed yet: cl_agent_net_adopt does that. CL_EINVAL for a
 * bad cidr or a journal that is not one (a detail names the file). *out is
 * the caller's (cl_agent_net_free). */
CL_MUST_CHECK cl_err cl_agent_net_open(const char *dir, const char *cidr, cl_agent_net **out);
void cl_agent_net_free(cl_agent_net *n);

/* At start, after adoption: a journaled enclave that is alive (its id in
 * ids[i], its init's host pid in pids[i]) keeps its slot, and gets its
 * link again if it lacks it (a kill between the journal and the plumbing);
 * the others' links are deleted and their slots freed; the journal is
 * rewritten when anything changed. CL_ECONFLICT when a live enclave holds
 * an address of another pool than the configured one (the journal's): the
 * agent must not start (the detail says which pool to give). Other failures
 * for one enclave are logged and leave it without a network. */
CL_MUST_CHECK cl_err cl_agent_net_adopt(cl_agent_net *n, char *const *ids, const pid_t *pids, size_t count);

/* cl_agent_net_adopt with the sandboxes of data dir `dir` whose shim lives
 * (cl_agent_collect_actual, their init pids from cl_sandbox_inspect). */
CL_MUST_CHECK cl_err cl_agent_net_adopt_sandboxes(cl_agent_net *n, const char *dir);
/* Takes a slot for enclave id and journals it (before the launch). An id
 * that holds one already gets it again. CL_EUNAVAIL when the pool is
 * exhausted; CL_ENOSPACE / CL_EIO when the journal cannot be written (the
 * slot is then given back). */
CL_MUST_CHECK cl_err cl_agent_net_reserve(cl_agent_net *n, const char *id, cl_net_link *out);
/* Plumbs enclave id's reserved link into the namespace of pid (its init):
 * cl_net_plumb. CL_ENOTFOUND if id holds no slot. */
CL_MUST_CHECK cl_err cl_agent_net_plumb(cl_agent_net *n, const char *id, pid_t pid);
/* Deletes enclave id's link, frees its slot and journals that. CL_OK (and
 * nothing done) if it holds none. A link that cannot be deleted keeps the
 * slot (the error is returned): an address is never handed out while a
 * link with it may exist. */
CL_MUST_CHECK cl_err cl_agent_net_release(cl_agent_net *n, const char *id);
/* True (and *out filled, when out is not NULL) if enclave id holds a slot. */
bool cl_agent_net_get(const cl_agent_net *n, const char *id, cl_net_link *out);
/* Adds "network": {"address", "host_address"} to each object of the sync
 * report's `enclaves` array whose "id" holds a slot. Best effort: an entry
 * left without it is reported at the next sync. */
void cl_agent_net_attach(const cl_agent_net *n, json_t *enclaves);
/* Slots held. */
size_t cl_agent_net_count(const cl_agent_net *n);

#endif
