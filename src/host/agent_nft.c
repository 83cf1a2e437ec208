/* agent_nft.c — the `inet cloister` table, rendered whole and applied in one
 * transaction (agent_nft.h, docs/tls.md "nftables consistency"). */
#include "host/agent_nft.h"

#include <arpa/inet.h>
#include <nftables/libnftables.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = {"all", "ports", "ips", "adapters", "auto"};

cl_err cl_agent_nft_mode_parse(const char *s, cl_agent_nft_mode *mode)
{
	for (size_t i = 0; s && i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*mode = (cl_agent_nft_mode)i;
			return CL_OK;
		}
	}
	return cl_errorf(CL_EINVAL, "nft: unknown mode");
}

static int canonical(const cl_agent_nft_cidr *c)
{
	if (c->prefix > 32)
		return 0;
	uint32_t mask = c->prefix == 0 ? 0 : 0xffffffffu << (32 - c->prefix);
	return (ntohl(c->addr.s_addr) & ~mask) == 0;
}

cl_err cl_agent_nft_cidr_parse(const char *s, cl_agent_nft_cidr *c)
{
	char a[INET_ADDRSTRLEN];
	const char *slash = s ? strchr(s, '/') : NULL;
	size_t n = s ? (slash ? (size_t)(slash - s) : strlen(s)) : 0;
	CL_ENSURE(n > 0 && n < sizeof(a), CL_EINVAL, "nft: bad address");
	memcpy(a, s, n);
	a[n] = '\0';
	CL_ENSURE(inet_pton(AF_INET, a, &c->addr) == 1, CL_EINVAL, "nft: bad address");
	c->prefix = 32;
	if (slash) {
		const char *p = slash + 1;
		size_t k = strlen(p);
		CL_ENSURE(k >= 1 && k <= 2 && p[0] >= '0' && p[0] <= '9' && (k == 1 || (p[1] >= '0' && p[1] <= '9')) &&
				  !(k == 2 && p[0] == '0'),
			  CL_EINVAL, "nft: bad prefix length");
		c->prefix = (uint8_t)(k == 1 ? p[0] - '0' : (p[0] - '0') * 10 + (p[1] - '0'));
	}
	CL_ENSURE(canonical(c), CL_EINVAL, "nft: address has bits set past its prefix");
	return CL_OK;
}

static cl_err check_guest(const cl_agent_nft_guest *g, const cl_agent_nft_guest *all, size_t i)
{
	CL_ENSURE(g->index <= CL_AGENT_NFT_INDEX_MAX, CL_EINVAL, "nft: guest index %u out of range", g->index);
	for (size_t j = 0; j < i; j++)
		CL_ENSURE(all[j].index != g->index, CL_EINVAL, "nft: guest index %u twice", g->index);
	CL_ENSURE(g->egress_port != 0, CL_EINVAL, "nft: guest %u: egress port 0", g->index);
	CL_ENSURE((unsigned)g->mode <= CL_AGENT_NFT_MODE_AUTO, CL_EINVAL, "nft: guest %u: bad mode", g->index);
	CL_ENSURE(g->nports <= CL_AGENT_NFT_LIST_MAX && g->nips <= CL_AGENT_NFT_LIST_MAX, CL_EINVAL,
		  "nft: guest %u: list too long", g->index);
	CL_ENSURE(g->mode != CL_AGENT_NFT_MODE_PORTS || g->nports > 0, CL_EINVAL, "nft: guest %u: mode ports without ports",
		  g->index);
	CL_ENSURE(g->mode != CL_AGENT_NFT_MODE_IPS || g->nips > 0, CL_EINVAL, "nft: guest %u: mode ips without ips",
		  g->index);
	for (size_t k = 0; k < g->nports; k++)
		CL_ENSURE(g->ports[k] != 0, CL_EINVAL, "nft: guest %u: port 0", g->index);
	for (size_t k = 0; k < g->nips; k++)
		CL_ENSURE(canonical(&g->ips[k]), CL_EINVAL, "nft: guest %u: non-canonical prefix", g->index);
	return CL_OK;
}

static const char *ip(struct in_addr a, char buf[static INET_ADDRSTRLEN])
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* The DNAT rule(s) of chain g<n>_nat. */
static cl_err render_nat(const cl_agent_nft_guest *g, cl_buf *out)
{
	char e[INET_ADDRSTRLEN], a[INET_ADDRSTRLEN];
	CL_GUARD(cl_buf_printf(out, "\tchain g%u_nat {\n\t\t", g->index));
	if (g->mode == CL_AGENT_NFT_MODE_PORTS) {
		CL_GUARD(cl_buf_put_str(out, "tcp dport {"));
		for (size_t k = 0; k < g->nports; k++)
			CL_GUARD(cl_buf_printf(out, "%s %u", k ? "," : "", g->ports[k]));
		CL_GUARD(cl_buf_put_str(out, " }"));
	} else if (g->mode == CL_AGENT_NFT_MODE_IPS) {
		CL_GUARD(cl_buf_put_str(out, "ip daddr {"));
		for (size_t k = 0; k < g->nips; k++)
			CL_GUARD(cl_buf_printf(out, "%s %s/%u", k ? "," : "", ip(g->ips[k].addr, a), g->ips[k].prefix));
		CL_GUARD(cl_buf_put_str(out, " } meta l4proto tcp"));
	} else {
		CL_GUARD(cl_buf_put_str(out, "meta l4proto tcp"));
	}
	return cl_buf_printf(out, " dnat ip to %s:%u\n\t}\n", ip(g->egress, e), g->egress_port);
}

/* Chain g<n>: what clg<n> forwards that was not secured. */
static cl_err render_rest(const cl_agent_nft_guest *g, cl_buf *out)
{
	char a[INET_ADDRSTRLEN];
	CL_GUARD(cl_buf_printf(out,
			       "\tchain g%u {\n"
			       "\t\tip saddr != %s counter drop\n"
			       "\t\tct state established,related accept\n",
			       g->index, ip(g->address, a)));
	if (g->insecure_allow)
		return cl_buf_put_str(out, "\t\tcounter accept\n\t}\n");
	return cl_buf_put_str(out, "\t\tmeta l4proto tcp counter reject with tcp reset\n"
				   "\t\tcounter drop\n\t}\n");
}

static cl_err render_all(const cl_agent_nft_guest *guests, size_t n, cl_buf *out)
{
	char e[INET_ADDRSTRLEN];
	static const char *const ifs[] = {"clg", "cls"};
	CL_GUARD(cl_buf_put_str(out, "table inet " CL_AGENT_NFT_TABLE "\n"
				     "delete table inet " CL_AGENT_NFT_TABLE "\n"
				     "table inet " CL_AGENT_NFT_TABLE " {\n"
				     "\tchain prerouting {\n"
				     "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"));
	for (size_t i = 0; i < n; i++) /* adapters: only sec0's traffic is secured */
		CL_GUARD(cl_buf_printf(out, "\t\tiifname \"%s%u\" jump g%u_nat\n",
				       guests[i].mode == CL_AGENT_NFT_MODE_ADAPTERS ? "cls" : "clg", guests[i].index,
				       guests[i].index));
	CL_GUARD(cl_buf_put_str(out, "\t}\n\tchain input {\n"
				     "\t\ttype filter hook input priority filter; policy accept;\n"));
	for (size_t i = 0; i < n; i++) {
		const cl_agent_nft_guest *g = &guests[i];
		for (int k = 0; k < (g->mode == CL_AGENT_NFT_MODE_ADAPTERS ? 2 : 1); k++)
			CL_GUARD(cl_buf_printf(out, "\t\tiifname \"%s%u\" ip daddr %s tcp dport %u accept\n", ifs[k],
					       g->index, ip(g->egress, e), g->egress_port));
	}
	for (int k = 0; k < 2; k++)
		CL_GUARD(cl_buf_printf(out,
				       "\t\tiifname \"%s*\" ct state established,related accept\n"
				       "\t\tiifname \"%s*\" counter drop\n",
				       ifs[k], ifs[k]));
	CL_GUARD(cl_buf_put_str(out, "\t}\n\tchain forward {\n"
				     "\t\ttype filter hook forward priority filter; policy accept;\n"));
	for (int k = 0; k < 2; k++)
		for (int l = 0; l < 2; l++)
			CL_GUARD(cl_buf_printf(out, "\t\tiifname \"%s*\" oifname \"%s*\" counter drop\n", ifs[k], ifs[l]));
	for (size_t i = 0; i < n; i++) {
		const cl_agent_nft_guest *g = &guests[i];
		for (int k = 0; k < (g->mode == CL_AGENT_NFT_MODE_ADAPTERS ? 2 : 1); k++)
			CL_GUARD(cl_buf_printf(out, "\t\tiifname \"%s%u\" jump g%u\n", ifs[k], g->index, g->index));
	}
	CL_GUARD(cl_buf_put_str(out, "\t}\n"));
	for (size_t i = 0; i < n; i++) {
		CL_GUARD(render_nat(&guests[i], out));
		CL_GUARD(render_rest(&guests[i], out));
	}
	return cl_buf_put_str(out, "}\n");
}

cl_err cl_agent_nft_render(const cl_agent_nft_guest *guests, size_t n, cl_buf *out)
{
	CL_ENSURE(n == 0 || guests, CL_EINVAL, "nft: no guests");
	for (size_t i = 0; i < n; i++)
		CL_GUARD(check_guest(&guests[i], guests, i));
	size_t mark = out->len;
	cl_err err = render_all(guests, n, out);
	if (err != CL_OK)
		out->len = mark;
	return err;
}

cl_err cl_agent_nft_apply_text(const char *text)
{
	cl_err err = CL_OK;
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx)
		return CL_ENOMEM;
	if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
		err = CL_ENOMEM;
		goto out;
	}
	if (nft_run_cmd_from_buffer(ctx, text) != 0) {
		const char *msg = nft_ctx_get_error_buffer(ctx);
		size_t len = msg ? strcspn(msg, "\n") : 0;
		err = cl_errorf(CL_ESYS, "nft: ruleset refused: %.*s", (int)(len > 300 ? 300 : len), msg ? msg : "");
	}
out:
	nft_ctx_free(ctx);
	return err;
}

cl_err cl_agent_nft_apply(const cl_agent_nft_guest *guests, size_t n)
{
	cl_buf text;
	const char *s;
	cl_err err;
	cl_buf_init(&text, CL_AGENT_NFT_TEXT_MAX);
	CL_GUARD_OUT(err, cl_agent_nft_render(guests, n, &text));
	CL_GUARD_OUT(err, cl_buf_cstr(&text, &s));
	CL_GUARD_OUT(err, cl_agent_nft_apply_text(s));
out:
	cl_buf_free(&text);
	return err;
}
