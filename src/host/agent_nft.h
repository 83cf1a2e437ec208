/* agent_nft.h — the agent's nftables table, `inet cloister` (docs/tls.md,
 * "nftables consistency").
 *
 * The table is rendered whole from the desired state — every networked
 * guest's veth, addresses and TLS policy — and applied in one transaction
 * through libnftables: no rule is ever edited in place, so nothing can drift
 * from the state it was rendered from. What the rendering says, per guest n
 * (veth clg<n> on the host; cls<n> too in `adapters` mode):
 *   - chain g<n>_nat (from prerouting, iifname clg<n>; cls<n> in adapters):
 *     the TCP connections the policy secures are DNATed to the data plane's
 *     egress listener for that guest (all TCP for all/auto/adapters, tcp
 *     dport in ports, ip daddr in ips);
 *   - input: from clg<n> (and cls<n>) only the egress listener's address and
 *     port are accepted, and replies (ct established/related); anything else
 *     from any clg* / cls* to the host is dropped and counted;
 *   - forward: clg* / cls* to clg* / cls* is dropped and counted (guests
 *     never reach each other); from clg<n> the rest goes to chain g<n>;
 *   - chain g<n>: a source other than the guest's address is dropped;
 *     replies pass; the insecure rest is accepted (`insecure allow`) or
 *     refused (`reject`: TCP with a reset, counted; anything else dropped,
 *     counted).
 */
#ifndef CL_HOST_AGENT_NFT_H
#define CL_HOST_AGENT_NFT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define CL_AGENT_NFT_TABLE "cloister"
#define CL_AGENT_NFT_LIST_MAX 64	/* ports or ips per guest */
#define CL_AGENT_NFT_INDEX_MAX 99999	/* clg<n>: n of at most 5 digits */
#define CL_AGENT_NFT_TEXT_MAX (16u << 20) /* the rendered ruleset */

typedef enum cl_agent_nft_mode {
	CL_AGENT_NFT_MODE_ALL = 0,
	CL_AGENT_NFT_MODE_PORTS,
	CL_AGENT_NFT_MODE_IPS,
	CL_AGENT_NFT_MODE_ADAPTERS,
	CL_AGENT_NFT_MODE_AUTO,
} cl_agent_nft_mode;

typedef struct cl_agent_nft_cidr {
	struct in_addr addr; /* network order; no bits set past prefix */
	uint8_t prefix;	     /* 0..32 */
} cl_agent_nft_cidr;

/* One guest's desired state. */
typedef struct cl_agent_nft_guest {
	uint32_t index;		/* n of clg<n> (and cls<n>), <= CL_AGENT_NFT_INDEX_MAX, unique */
	struct in_addr address; /* the guest's address (10.77.x.2) */
	struct in_addr egress;	/* the data plane's egress listener (10.77.x.1) */
	uint16_t egress_port;	/* its port (15001), not 0 */
	cl_agent_nft_mode mode;
	uint16_t ports[CL_AGENT_NFT_LIST_MAX]; /* mode ports: destination ports secured (not 0) */
	size_t nports;
	cl_agent_nft_cidr ips[CL_AGENT_NFT_LIST_MAX]; /* mode ips: destinations secured */
	size_t nips;
	int insecure_allow; /* 1: the insecure rest passes; 0: rejected */
} cl_agent_nft_guest;

/* "all", "ports", "ips", "adapters", "auto" -> *mode; CL_EINVAL otherwise. */
CL_MUST_CHECK cl_err cl_agent_nft_mode_parse(const char *s, cl_agent_nft_mode *mode);

/* "a.b.c.d" or "a.b.c.d/len" (canonical: no host bits) -> *c; CL_EINVAL otherwise. */
CL_MUST_CHECK cl_err cl_agent_nft_cidr_parse(const char *s, cl_agent_nft_cidr *c);

/* Renders the whole table for guests[0..n) as nft text appended to out
 * (which the caller initialised; CL_AGENT_NFT_TEXT_MAX is enough for 16,384
 * guests): it creates the table, deletes it and adds it again, so applied as
 * one batch it replaces whatever was there. CL_EINVAL for a guest that does
 * not hold (bad index or port, a duplicate index, ports/ips mode with an
 * empty or too long list, a non-canonical prefix); out is then unchanged. */
CL_MUST_CHECK cl_err cl_agent_nft_render(const cl_agent_nft_guest *guests, size_t n, cl_buf *out);

/* Applies nft text in one transaction (nft_run_cmd_from_buffer): all of it
 * or nothing. CL_ESYS with nft's first error line when it is refused,
 * CL_ENOMEM. Needs CAP_NET_ADMIN in the network namespace. */
CL_MUST_CHECK cl_err cl_agent_nft_apply_text(const char *text);

/* cl_agent_nft_render + cl_agent_nft_apply_text. */
CL_MUST_CHECK cl_err cl_agent_nft_apply(const cl_agent_nft_guest *guests, size_t n);

#endif
