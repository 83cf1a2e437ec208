/* sandbox_net_pool.c — the guests' address pool: a CIDR cut into /30s, one
 * per networked sandbox, lowest free first (sandbox_net.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/sandbox_net.h"

#define SLOT_PREFIX 30u

/* "P" with 1-2 decimal digits, nothing else. */
static cl_err parse_prefix(const char *s, uint8_t *out)
{
	unsigned v = 0;
	size_t n = 0;
	for (; s[n] >= '0' && s[n] <= '9' && n < 3; n++)
		v = v * 10 + (unsigned)(s[n] - '0');
	CL_ENSURE(n >= 1 && n <= 2 && s[n] == '\0', CL_EINVAL, "guest pool: prefix length is not a number");
	CL_ENSURE(v >= 16 && v <= SLOT_PREFIX, CL_EINVAL, "guest pool: prefix length %u is not in 16..30", v);
	*out = (uint8_t)v;
	return CL_OK;
}

cl_err cl_net_pool_init(cl_net_pool *p, const char *cidr)
{
	memset(p, 0, sizeof(*p));
	CL_ENSURE(cidr != NULL, CL_EINVAL, "guest pool: missing");
	const char *slash = strchr(cidr, '/');
	size_t alen = slash ? (size_t)(slash - cidr) : 0;
	CL_ENSURE(slash && alen >= 7 && alen < INET_ADDRSTRLEN, CL_EINVAL, "guest pool: not A.B.C.D/P");
	char addr[INET_ADDRSTRLEN];
	memcpy(addr, cidr, alen);
	addr[alen] = '\0';
	struct in_addr a;
	/* inet_pton takes dotted-quad only (no "10.77", no octal, no hex). */
	CL_ENSURE(inet_pton(AF_INET, addr, &a) == 1, CL_EINVAL, "guest pool: not an IPv4 address");
	uint8_t prefix = 0;
	CL_GUARD(parse_prefix(slash + 1, &prefix));
	uint32_t base = ntohl(a.s_addr);
	uint32_t host_mask = (1u << (32 - prefix)) - 1;
	CL_ENSURE((base & host_mask) == 0, CL_EINVAL, "guest pool: %s has host bits set", addr);
	p->base = base;
	p->prefix = prefix;
	p->nslots = 1u << (SLOT_PREFIX - prefix);
	return CL_OK;
}

bool cl_net_pool_in_use(const cl_net_pool *p, uint32_t slot)
{
	return slot < p->nslots && (p->used[slot / 8] & (1u << (slot % 8)));
}

cl_err cl_net_pool_link(const cl_net_pool *p, uint32_t slot, cl_net_link *out)
{
	memset(out, 0, sizeof(*out));
	CL_ENSURE(slot < p->nslots, CL_EINVAL, "guest pool: slot %u is out of range (%u slots)", slot, p->nslots);
	uint32_t net = p->base + slot * 4;
	out->slot = slot;
	int n = snprintf(out->host_if, sizeof(out->host_if), "clg%u", slot);
	CL_ENSURE(n > 0 && (size_t)n < sizeof(out->host_if), CL_EINTERNAL, "guest pool: interface name");
	memcpy(out->guest_if, CL_NET_GUEST_IF, sizeof(CL_NET_GUEST_IF));
	out->host_addr.s_addr = htonl(net + 1);
	out->guest_addr.s_addr = htonl(net + 2);
	out->prefix = SLOT_PREFIX;
	return CL_OK;
}

cl_err cl_net_pool_claim(cl_net_pool *p, uint32_t slot, cl_net_link *out)
{
	CL_GUARD(cl_net_pool_link(p, slot, out));
	CL_ENSURE(!cl_net_pool_in_use(p, slot), CL_ECONFLICT, "guest pool: slot %u (%s) is already in use", slot,
		  out->host_if);
	p->used[slot / 8] |= (uint8_t)(1u << (slot % 8));
	p->in_use++;
	return CL_OK;
}

cl_err cl_net_pool_alloc(cl_net_pool *p, cl_net_link *out)
{
	memset(out, 0, sizeof(*out));
	if (p->in_use < p->nslots)
		for (uint32_t slot = 0; slot < p->nslots; slot++)
			if (!cl_net_pool_in_use(p, slot))
				return cl_net_pool_claim(p, slot, out);
	struct in_addr a = {.s_addr = htonl(p->base)};
	char addr[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &a, addr, sizeof(addr));
	return cl_errorf(CL_EUNAVAIL, "guest address pool %s/%u exhausted (%u guests)", addr, p->prefix, p->nslots);
}

cl_err cl_net_pool_release(cl_net_pool *p, uint32_t slot)
{
	CL_ENSURE(slot < p->nslots, CL_EINVAL, "guest pool: slot %u is out of range (%u slots)", slot, p->nslots);
	CL_ENSURE(cl_net_pool_in_use(p, slot), CL_ENOTFOUND, "guest pool: slot %u is not in use", slot);
	p->used[slot / 8] &= (uint8_t)~(1u << (slot % 8));
	p->in_use--;
	return CL_OK;
}
