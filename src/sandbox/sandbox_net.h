/* sandbox_net.h — a guest's network: the address pool and the host-side
 * plumbing of a sandbox's network namespace (docs/tls.md, "Network plumbing").
 *
 *   host netns                               sandbox netns (its init pid)
 *   clg<n>  10.77.x.(4n+1)/30  ══ veth ══   eth0  10.77.x.(4n+2)/30
 *                                           lo up, default via 10.77.x.(4n+1)
 *
 * The pool cuts a CIDR (default 10.77.0.0/16) into /30s; slot n is the n-th
 * /30 and names the host end "clg<n>". It is memory only: the agent rebuilds
 * it at start from its live sandboxes (cl_net_pool_claim), it is never saved.
 *
 * Plumbing talks rtnetlink through libmnl (no `ip`), from the host's network
 * namespace; the guest side is configured through sockets opened inside the
 * sandbox's namespace by a short-lived thread, so the calling thread never
 * changes namespace. Needs CAP_NET_ADMIN in the host namespace and
 * CAP_SYS_ADMIN over the sandbox's (the agent runs as root).
 *
 * Isolation this module gives: the host end has forwarding off (a guest's
 * packets are never routed on, so guests cannot reach each other even on a
 * host with ip_forward=1), rp_filter strict, accept_local off (no spoofing a
 * host or another guest's source), IPv6 off. Filtering what a guest may
 * reach on the host itself is the nftables table's job (not here).
 */
#ifndef CL_SANDBOX_NET_H
#define CL_SANDBOX_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* A /16 holds 16,384 /30s: the most slots a pool may have. */
#define CL_NET_POOL_MAX_SLOTS 16384u
#define CL_NET_POOL_DEFAULT "10.77.0.0/16"
#define CL_NET_IFNAME_SIZE 16 /* IFNAMSIZ */
#define CL_NET_GUEST_IF "eth0"

/* One guest's link: the names and addresses of both ends of its veth. */
typedef struct cl_net_link {
	uint32_t slot;                       /* index of the /30 in the pool */
	char host_if[CL_NET_IFNAME_SIZE];    /* "clg<slot>", in the host namespace */
	char guest_if[CL_NET_IFNAME_SIZE];   /* "eth0", in the sandbox's namespace */
	struct in_addr host_addr;            /* .1 of the /30 (the guest's gateway) */
	struct in_addr guest_addr;           /* .2 of the /30 */
	uint8_t prefix;                      /* 30 */
} cl_net_link;

/* The allocator. Plain data, no heap: embed it, no free needed. */
typedef struct cl_net_pool {
	uint32_t base;   /* network address, host byte order */
	uint8_t prefix;  /* 16..30 */
	uint32_t nslots; /* 2^(30 - prefix) */
	uint32_t in_use;
	uint8_t used[CL_NET_POOL_MAX_SLOTS / 8];
} cl_net_pool;

/* Parses `cidr` ("A.B.C.D/P", P in 16..30, A.B.C.D the network address of
 * the prefix: no host bits) and empties the pool. CL_EINVAL with a detail on
 * anything else; *p is then an empty pool of no slots. */
CL_MUST_CHECK cl_err cl_net_pool_init(cl_net_pool *p, const char *cidr);
/* Takes the lowest free slot (deterministic) and fills *out.
 * CL_EUNAVAIL "guest address pool ... exhausted" when none is free. */
CL_MUST_CHECK cl_err cl_net_pool_alloc(cl_net_pool *p, cl_net_link *out);
/* Takes a given slot (rebuilding the pool from live sandboxes at start).
 * CL_EINVAL if out of range, CL_ECONFLICT if already taken. */
CL_MUST_CHECK cl_err cl_net_pool_claim(cl_net_pool *p, uint32_t slot, cl_net_link *out);
/* Gives a slot back. CL_EINVAL if out of range, CL_ENOTFOUND if it was free
 * (a double release changes nothing). */
CL_MUST_CHECK cl_err cl_net_pool_release(cl_net_pool *p, uint32_t slot);
/* True if the slot is taken. */
bool cl_net_pool_in_use(const cl_net_pool *p, uint32_t slot);
/* Fills *out with the names and addresses of a slot (taken or not).
 * CL_EINVAL if out of range. */
CL_MUST_CHECK cl_err cl_net_pool_link(const cl_net_pool *p, uint32_t slot, cl_net_link *out);

/* Plumbs the network namespace of process `ns_pid` (a sandbox's init):
 * creates the veth pair l->host_if (host) / l->guest_if (created directly
 * inside the namespace), sets the host end's sysctls (see the top of this
 * file), assigns both addresses, brings both ends and the guest's lo up and
 * sets the guest's default route via l->host_addr.
 * Errors: CL_EINVAL if the process shares the caller's network namespace or
 * l is malformed; CL_ENOTFOUND if the process is gone; CL_ECONFLICT if an
 * interface of either name already exists; CL_EPERM without the
 * capabilities; CL_ESYS otherwise. On any error nothing is left behind: the
 * pair is deleted (only if this call created it). */
CL_MUST_CHECK cl_err cl_net_plumb(pid_t ns_pid, const cl_net_link *l);
/* Deletes the veth pair (both ends go with the host end). Idempotent:
 * CL_OK if l->host_if does not exist (the kernel also deletes the pair when
 * the sandbox's namespace dies). CL_EPERM / CL_ESYS on a netlink failure. */
CL_MUST_CHECK cl_err cl_net_unplumb(const cl_net_link *l);

#endif
