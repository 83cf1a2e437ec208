/* dataplane_ipc.c — the agent's requests to the data plane: the client calls
 * (agent side) and the decoders and runs (data plane side). A decoder reads
 * only and checks every field; a run acts. See dataplane.h for the format. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "tls/dataplane_internal.h"
#include "tls/http_mark.h"

static const char *const fail_names[CL_DP_FAIL_COUNT] = {
	"handshake", "timeout", "sign", "backend", "protocol", "limit", "idle", "io", "insecure", "http",
};

const char *cl_dp_fail_name(enum cl_dp_fail f)
{
	return (unsigned)f < CL_DP_FAIL_COUNT ? fail_names[f] : "unknown";
}

/* ---------------------------------------------------------------- checks */

static bool id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n < 1 || n > CL_DP_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

/* An HTTP field name (RFC 9110 token), or empty. */
static bool header_ok(const char *h)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	for (const char *p = h; *p; p++) {
		char c = *p;
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && !strchr(tchar, c))
			return false;
	}
	return true;
}

cl_err dp_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[CL_DP_ADDR_MAX + 1];
	const char *colon;
	size_t hl;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		CL_ENSURE(end && end[1] == ':', CL_EINVAL, "backend: bad [v6]:port");
		hl = (size_t)(end - s - 1);
		CL_ENSURE(hl < sizeof(host), CL_EINVAL, "backend: address too long");
		memcpy(host, s + 1, hl);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		CL_ENSURE(colon != NULL, CL_EINVAL, "backend: no port");
		hl = (size_t)(colon - s);
		CL_ENSURE(hl < sizeof(host), CL_EINVAL, "backend: address too long");
		memcpy(host, s, hl);
	}
	host[hl] = '\0';
	unsigned long port = 0;
	const char *p = colon + 1;
	CL_ENSURE(*p && strlen(p) <= 5, CL_EINVAL, "backend: bad port");
	for (; *p; p++) {
		CL_ENSURE(*p >= '0' && *p <= '9', CL_EINVAL, "backend: bad port");
		port = port * 10 + (unsigned long)(*p - '0');
	}
	CL_ENSURE(port >= 1 && port <= 65535, CL_EINVAL, "backend: port out of range");
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (s[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
	} else if (s[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
	} else {
		return cl_errorf(CL_EINVAL, "backend: not an address literal");
	}
	return CL_OK;
}

/* ---------------------------------------------------------------- client */

void cl_dp_client_init(cl_dp_client *c, int fd, int timeout_ms)
{
	cl_ipc_client_init(&c->ipc, fd, 1024, timeout_ms);
}

cl_err cl_dp_guest_set(cl_dp_client *c, const cl_dp_guest *g)
{
	cl_buf req, ans;
	cl_err err;
	cl_buf_init(&req, CL_DP_MSG_MAX - CL_IPC_HDR);
	cl_buf_init(&ans, 1024);
	if (g->nlisteners > CL_DP_LISTENERS_MAX || g->chain_len > CL_DP_CHAIN_MAX) {
		err = cl_errorf(CL_ETOOBIG, "data plane: too many listeners or chain too long");
		goto out;
	}
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, g->id));
	CL_GUARD_OUT(err, cl_buf_put_be32(&req, g->gen));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(&req, g->chain_pem, g->chain_len));
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, g->backend));
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, g->header));
	CL_GUARD_OUT(err, cl_buf_put_u8(&req, g->mode));
	CL_GUARD_OUT(err, cl_buf_put_u8(&req, g->insecure));
	CL_GUARD_OUT(err, cl_ipc_call_fds(&c->ipc, CL_DP_REQ_GUEST_SET, &req, g->listeners, g->nlisteners, &ans));
	if (ans.len != 0)
		err = cl_errorf(CL_EPROTO, "data plane: unexpected answer");
out:
	cl_buf_free(&req);
	cl_buf_free(&ans);
	return err;
}

cl_err cl_dp_guest_remove(cl_dp_client *c, const char *enclave_id)
{
	cl_buf req, ans;
	cl_err err;
	cl_buf_init(&req, 256);
	cl_buf_init(&ans, 1024);
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, enclave_id));
	CL_GUARD_OUT(err, cl_ipc_call(&c->ipc, CL_DP_REQ_GUEST_REMOVE, &req, &ans));
	if (ans.len != 0)
		err = cl_errorf(CL_EPROTO, "data plane: unexpected answer");
out:
	cl_buf_free(&req);
	cl_buf_free(&ans);
	return err;
}

cl_err cl_dp_stats_get(cl_dp_client *c, const char *enclave_id, cl_dp_stats *out)
{
	cl_buf req, ans;
	cl_dp_stats st;
	uint8_t n = 0;
	cl_err err;
	memset(&st, 0, sizeof(st));
	cl_buf_init(&req, 256);
	cl_buf_init(&ans, 1024);
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, enclave_id));
	CL_GUARD_OUT(err, cl_ipc_call(&c->ipc, CL_DP_REQ_STATS, &req, &ans));
	uint64_t *f[] = {&st.connections, &st.active,     &st.handshakes_full, &st.handshakes_resumed,
			 &st.signs,       &st.bytes_in,   &st.bytes_out,       &st.insecure_passed};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && err == CL_OK; i++)
		err = cl_buf_get_be64(&ans, f[i]);
	if (err == CL_OK)
		err = cl_buf_get_u8(&ans, &n);
	for (unsigned i = 0; i < n && err == CL_OK; i++) {
		uint64_t v = 0;
		err = cl_buf_get_be64(&ans, &v);
		if (i < CL_DP_FAIL_COUNT)
			st.failures[i] = v; /* a newer data plane's extra reasons are skipped */
	}
	if (err == CL_OK)
		err = cl_ipc_get_end(&ans);
	if (err != CL_OK) {
		err = cl_errorf(CL_EPROTO, "data plane: malformed stats answer");
		goto out;
	}
	*out = st;
out:
	cl_buf_free(&req);
	cl_buf_free(&ans);
	return err;
}

/* ---------------------------------------------------------------- server */

static cl_err decode_set(cl_buf *req, void *args)
{
	cl_dp_guest *g = args;
	const uint8_t *chain = NULL;
	size_t n = 0;
	CL_GUARD(cl_ipc_get_str(req, g->id, sizeof(g->id)));
	CL_ENSURE(id_ok(g->id), CL_EINVAL, "data plane: bad enclave id");
	CL_GUARD(cl_buf_get_be32(req, &g->gen));
	CL_ENSURE(g->gen >= 1 && g->gen <= CL_DP_GEN_MAX, CL_EINVAL, "data plane: generation out of range");
	CL_GUARD(cl_ipc_get_bytes(req, CL_DP_CHAIN_MAX, &chain, &n));
	CL_ENSURE(n > 0, CL_EINVAL, "data plane: empty chain");
	g->chain_pem = (const char *)chain;
	g->chain_len = n;
	CL_GUARD(cl_ipc_get_str(req, g->backend, sizeof(g->backend)));
	CL_GUARD(cl_ipc_get_str(req, g->header, sizeof(g->header)));
	CL_ENSURE(header_ok(g->header), CL_EINVAL, "data plane: bad header name");
	if (g->header[0]) {
		/* the parser's own rule too: no framing or hop-by-hop field */
		cl_http_mark *m = NULL;
		cl_err e = cl_http_mark_new(g->header, "-", &m);
		cl_http_mark_free(m);
		CL_ENSURE(e != CL_EINVAL, CL_EINVAL, "data plane: header %s cannot carry the mark", g->header);
		CL_GUARD(e);
	}
	CL_GUARD(cl_buf_get_u8(req, &g->mode));
	CL_GUARD(cl_buf_get_u8(req, &g->insecure));
	CL_ENSURE(g->mode <= CL_DP_MODE_AUTO && g->insecure <= CL_DP_INSECURE_ALLOW, CL_EINVAL,
		  "data plane: bad mode or insecure rule");
	struct sockaddr_storage ss;
	socklen_t sl;
	return dp_parse_addr(g->backend, &ss, &sl);
}

static cl_err run_set(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	dp *d = ctx;
	int fds[CL_DP_LISTENERS_MAX];
	size_t n = 0;
	cl_err err;
	for (size_t i = 0; i < CL_DP_LISTENERS_MAX; i++) {
		int fd = cl_ipc_server_take_fd(&d->agent, i);
		if (fd >= 0)
			fds[n++] = fd;
	}
	err = dp_guest_apply(d, args, fds, n); /* takes the descriptors on success */
	if (err != CL_OK)
		for (size_t i = 0; i < n; i++)
			close(fds[i]);
	return err;
}

typedef struct id_args {
	char id[CL_DP_ID_MAX + 1];
} id_args;

static cl_err decode_id(cl_buf *req, void *args)
{
	id_args *a = args;
	CL_GUARD(cl_ipc_get_str(req, a->id, sizeof(a->id)));
	CL_ENSURE(id_ok(a->id), CL_EINVAL, "data plane: bad enclave id");
	return CL_OK;
}

static cl_err run_remove(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	dp *d = ctx;
	const id_args *a = args;
	dp_guest *g = dp_guest_find(d, a->id);
	CL_ENSURE(g != NULL, CL_ENOTFOUND, "data plane: no guest %s", a->id);
	cl_info("tls: guest=%s removed (%u connections closed)", g->id, g->nconns);
	dp_guest_drop(d, g);
	return CL_OK;
}

static cl_err run_stats(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	dp *d = ctx;
	const id_args *a = args;
	dp_guest *g = dp_guest_find(d, a->id);
	CL_ENSURE(g != NULL, CL_ENOTFOUND, "data plane: no guest %s", a->id);
	const cl_dp_stats *s = &g->st;
	const uint64_t v[] = {s->connections, s->active,   s->handshakes_full, s->handshakes_resumed,
			      s->signs,       s->bytes_in, s->bytes_out,       s->insecure_passed};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CL_GUARD(cl_buf_put_be64(ans, v[i]));
	CL_GUARD(cl_buf_put_u8(ans, CL_DP_FAIL_COUNT));
	for (size_t i = 0; i < CL_DP_FAIL_COUNT; i++)
		CL_GUARD(cl_buf_put_be64(ans, s->failures[i]));
	return CL_OK;
}

const cl_ipc_handler dp_handlers[] = {
	{CL_DP_REQ_GUEST_SET, "guest-set", CL_DP_MSG_MAX - CL_IPC_HDR, decode_set, run_set, CL_DP_LISTENERS_MAX},
	{CL_DP_REQ_GUEST_REMOVE, "guest-remove", 256, decode_id, run_remove, 0},
	{CL_DP_REQ_STATS, "stats", 256, decode_id, run_stats, 0},
};
const size_t dp_nhandlers = sizeof(dp_handlers) / sizeof(dp_handlers[0]);
