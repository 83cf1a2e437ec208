/* fuzz_net_pool.c — the guest pool's CIDR parser (cl_net_pool_init, the
 * operator's `--guest-pool`). What it accepts must hold its invariants: a
 * prefix in 16..30, a network address without host bits, a slot count that
 * fits the bitmap, and links whose addresses stay inside the pool; a refusal
 * leaves an empty pool of no slots. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cl_net_pool p;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	cl_err e = cl_net_pool_init(&p, s);
	free(s);
	if (e != CL_OK) {
		if (p.nslots || p.in_use)
			__builtin_trap();
		return 0;
	}
	if (p.prefix < 16 || p.prefix > 30 || p.nslots != 1u << (30 - p.prefix) || p.nslots > CL_NET_POOL_MAX_SLOTS ||
	    (p.base & ((1u << (32 - p.prefix)) - 1)) != 0)
		__builtin_trap();
	cl_net_link first, last;
	if (cl_net_pool_link(&p, 0, &first) != CL_OK || cl_net_pool_link(&p, p.nslots - 1, &last) != CL_OK ||
	    cl_net_pool_link(&p, p.nslots, &last) == CL_OK || cl_net_pool_link(&p, p.nslots - 1, &last) != CL_OK)
		__builtin_trap();
	uint32_t end = p.base + (1u << (32 - p.prefix)) - 1;
	if (ntohl(first.host_addr.s_addr) != p.base + 1 || ntohl(last.guest_addr.s_addr) != end - 1 ||
	    !memchr(last.host_if, '\0', sizeof(last.host_if)) || strncmp(last.host_if, "clg", 3) != 0)
		__builtin_trap();
	return 0;
}
