/* agent_proto_tls.c — the TLS ops' fields in a sync answer (docs/tls.md
 * "Credentials: the job and its steps", docs/api/hosts-sync.md). Pure.
 *
 * The control plane validated the policy (api_tls_policy.c); the agent
 * checks it again, with the same rules, before anything is handed to the
 * data plane: an answer is outside input, fuzzed by fuzz_agent_answer.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "host/agent_proto.h"

static const char *const modes[] = {"all", "ports", "ips", "adapters", "auto", NULL};

/* Fields that must never be a marking header: hop-by-hop (RFC 9110 7.6.1)
 * and those that frame or route a message (the control plane's list). */
static const char *const reserved_headers[] = {"connection",	      "keep-alive",	"proxy-connection",
					       "te",		      "trailer",	"transfer-encoding",
					       "upgrade",	      "proxy-authenticate", "proxy-authorization",
					       "content-length",      "host",		NULL};

static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool valid_header(const char *h)
{
	size_t n = strlen(h);
	if (n < 1 || n > CL_AGENT_TLS_HEADER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!tchar((unsigned char)h[i]))
			return false;
	for (size_t i = 0; reserved_headers[i]; i++)
		if (strcasecmp(h, reserved_headers[i]) == 0)
			return false;
	return true;
}

/* "ADDR" or "ADDR/PREFIX", IPv4 (0..32) or IPv6 (0..128), no leading zero. */
static bool valid_cidr(const char *s)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char buf[16];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(addr) || strlen(s) >= CL_AGENT_TLS_CIDR_MAX)
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	int max = inet_pton(AF_INET, addr, buf) == 1 ? 32 : inet_pton(AF_INET6, addr, buf) == 1 ? 128 : -1;
	if (max < 0)
		return false;
	if (!slash)
		return true;
	const char *p = slash + 1;
	size_t plen = strlen(p);
	if (plen == 0 || plen > 3 || (plen > 1 && p[0] == '0'))
		return false;
	int v = 0;
	for (size_t i = 0; i < plen; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	return v <= max;
}

/* [a-z][a-z0-9]{0,14}: an interface name inside the guest. */
static bool valid_adapter(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n >= CL_AGENT_TLS_ADAPTER_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* One list field (absent or null: empty) into out; *n its length. */
static cl_err parse_list(json_t *pol, const char *key, cl_agent_tls_policy *out, size_t *n)
{
	json_t *v = json_object_get(pol, key), *x;
	size_t i;
	*n = 0;
	if (!v || json_is_null(v))
		return CL_OK;
	CL_ENSURE(json_is_array(v) && json_array_size(v) <= CL_AGENT_TLS_LIST_MAX, CL_EINVAL,
		  "tls policy: %s must be an array of at most %d", key, CL_AGENT_TLS_LIST_MAX);
	json_array_foreach(v, i, x)
	{
		if (strcmp(key, "ports") == 0) {
			json_int_t p = json_is_integer(x) ? json_integer_value(x) : 0;
			CL_ENSURE(p >= 1 && p <= 65535, CL_EINVAL, "tls policy: ports holds port numbers 1..65535");
			for (size_t k = 0; k < i; k++)
				CL_ENSURE(out->ports[k] != p, CL_EINVAL, "tls policy: port %u listed twice", (unsigned)p);
			out->ports[i] = (uint16_t)p;
		} else {
			const char *s = json_string_value(x);
			bool ips = strcmp(key, "ips") == 0;
			CL_ENSURE(s && (ips ? valid_cidr(s) : valid_adapter(s)), CL_EINVAL,
				  "tls policy: %s holds %s", key, ips ? "addresses or CIDRs" : "interface names");
			if (ips)
				memcpy(out->ips[i], s, strlen(s) + 1);
			else
				memcpy(out->adapters[i], s, strlen(s) + 1);
		}
		*n = i + 1;
	}
	return CL_OK;
}

cl_err cl_agent_tls_policy_parse(json_t *v, cl_agent_tls_policy *out)
{
	static const char *const allowed[] = {"mode", "ports", "ips", "adapters", "insecure", "header", NULL};
	const char *k;
	json_t *x;
	memset(out, 0, sizeof(*out));
	CL_ENSURE(json_is_object(v), CL_EINVAL, "tls policy: not an object");
	json_object_foreach(v, k, x)
	{
		bool known = false;
		for (size_t i = 0; allowed[i] && !known; i++)
			known = strcmp(k, allowed[i]) == 0;
		CL_ENSURE(known, CL_EINVAL, "tls policy: unknown field (a setting this host does not know is "
					    "never ignored)");
	}
	json_t *jm = json_object_get(v, "mode"), *ji = json_object_get(v, "insecure"), *jh = json_object_get(v, "header");
	const char *mode = jm ? json_string_value(jm) : "all";
	const char *insecure = ji ? json_string_value(ji) : "reject";
	CL_ENSURE(mode, CL_EINVAL, "tls policy: mode is not a string");
	CL_ENSURE(insecure && (strcmp(insecure, "allow") == 0 || strcmp(insecure, "reject") == 0), CL_EINVAL,
		  "tls policy: insecure must be allow or reject");
	int m = -1;
	for (int i = 0; modes[i]; i++)
		if (strcmp(mode, modes[i]) == 0)
			m = i;
	CL_ENSURE(m >= 0, CL_EINVAL, "tls policy: mode must be all, ports, ips, adapters or auto");
	out->mode = (enum cl_agent_tls_mode)m;
	out->insecure_allow = strcmp(insecure, "allow") == 0;
	if (jh && !json_is_null(jh)) {
		const char *h = json_string_value(jh);
		CL_ENSURE(h && valid_header(h), CL_EINVAL,
			  "tls policy: header must be an HTTP field name of 1..%d token characters, not hop-by-hop",
			  CL_AGENT_TLS_HEADER_MAX);
		memcpy(out->header, h, strlen(h) + 1);
	}
	CL_GUARD(parse_list(v, "ports", out, &out->nports));
	CL_GUARD(parse_list(v, "ips", out, &out->nips));
	CL_GUARD(parse_list(v, "adapters", out, &out->nadapters));
	size_t counts[] = {out->nports, out->nips, out->nadapters};
	for (int i = 0; i < 3; i++) {
		bool mine = m == i + 1; /* ports = 1, ips = 2, adapters = 3 */
		CL_ENSURE(!mine || counts[i] > 0, CL_EINVAL, "tls policy: mode %s needs at least one entry", mode);
		CL_ENSURE(mine || counts[i] == 0, CL_EINVAL, "tls policy: a list that does not go with mode %s", mode);
	}
	return CL_OK;
}

/* "gen": an integer 1..CL_AGENT_TLS_GEN_MAX into *gen; absent is 0 when
 * optional. */
static bool parse_gen(json_t *e, bool optional, uint32_t *gen)
{
	json_t *g = json_object_get(e, "gen");
	*gen = 0;
	if (!g || json_is_null(g))
		return optional;
	if (!json_is_integer(g) || json_integer_value(g) < 1 || json_integer_value(g) > (json_int_t)CL_AGENT_TLS_GEN_MAX)
		return false;
	*gen = (uint32_t)json_integer_value(g);
	return true;
}

bool cl_agent_tls_args_parse(json_t *e, cl_agent_op *op)
{
	cl_agent_tls_args *a = calloc(1, sizeof(*a));
	if (!a)
		return false;
	op->tls = a;
	if (!parse_gen(e, op->kind == CL_OP_TLS_REMOVE, &a->gen))
		return false;
	if (op->kind == CL_OP_TLS_GENERATE) {
		const char *h = json_string_value(json_object_get(e, "host_id"));
		if (!h || !cl_agent_valid_id(h))
			return false;
		memcpy(a->host_id, h, strlen(h) + 1);
	} else if (op->kind == CL_OP_TLS_INSTALL) {
		json_t *c = json_object_get(e, "chain");
		const char *s = json_string_value(c);
		size_t n = s ? json_string_length(c) : 0;
		/* no NUL inside: the PEM is handed on as a C string */
		if (!s || n == 0 || n > CL_AGENT_TLS_CHAIN_MAX || strlen(s) != n)
			return false;
		if (cl_agent_tls_policy_parse(json_object_get(e, "policy"), &a->policy) != CL_OK)
			return false;
		if (!(a->chain = strdup(s)))
			return false;
		a->chain_len = n;
	}
	return true;
}
