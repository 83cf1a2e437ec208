/* agent_tls_apply.c — the one hand-over of a guest's TLS to the data plane
 * (agent_tls.h, cl_agent_tls_apply).
 *
 * The desired state in memory, one entry per enclave (generation, chain,
 * policy, the public endpoint's listening socket): public data only, no
 * key. With the data plane's channel (cl_agent_tls_dp_set_plane) an apply
 * sends it: cl_dp_guest_set with the enclave id, gen, chain, the backend
 * (the guest's address from the guest networks, agent_net, and its exposed
 * port), the listener, header, mode and insecure rule; cl_dp_guest_remove
 * for a removal — and records only what the data plane accepted.
 *
 * The data plane has one backend per guest: the endpoint reaches the
 * guest's lowest exposed port (docs/tls.md "Public endpoints").
 *
 * Not journaled: after a restart the key holder is new and holds none of
 * the keys these certificates name (docs/tls.md "Restarts lose guest
 * keys"), so the control plane re-issues instead. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "host/agent_tls.h"

typedef struct dp_entry {
	char enclave[CL_AGENT_ID_MAX];
	uint32_t gen;
	char *chain;
	size_t chain_len;
	cl_agent_tls_policy policy;
	int listener;   /* the public endpoint (-1: none) */
	uint16_t port;  /* its bound port */
} dp_entry;

struct cl_agent_tls_dp {
	dp_entry *v;
	size_t n, cap;
	bool has_plane;
	cl_agent_tls_plane plane;
	struct in_addr listen;
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
	for (size_t i = 0; i < dp->n; i++) {
		free(dp->v[i].chain);
		if (dp->v[i].listener >= 0)
			close(dp->v[i].listener);
	}
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

cl_err cl_agent_tls_dp_set_plane(cl_agent_tls_dp *dp, const cl_agent_tls_plane *plane, const char *listen)
{
	struct in_addr in;
	CL_ENSURE(inet_pton(AF_INET, listen ? listen : "127.0.0.1", &in) == 1, CL_EINVAL,
		  "tls listen address: not an IPv4 address");
	dp->plane = *plane;
	dp->has_plane = true;
	dp->listen = in;
	return CL_OK;
}

/* A listening socket on dp's listen address, an ephemeral port. */
static cl_err listener_make(const cl_agent_tls_dp *dp, int *fd, uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = dp->listen};
	socklen_t sl = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CL_ENSURE(s >= 0, CL_EIO, "tls endpoint: socket: %m");
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 511) != 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) != 0) {
		cl_err err = cl_errorf(CL_EIO, "tls endpoint: bind/listen: %m");
		close(s);
		return err;
	}
	*fd = s;
	*port = ntohs(sa.sin_port);
	return CL_OK;
}

static void endpoint_of(const cl_agent_tls_dp *dp, uint16_t port, char *out, size_t cap)
{
	char ip[INET_ADDRSTRLEN] = "";
	if (!out || !cap)
		return;
	inet_ntop(AF_INET, &dp->listen, ip, sizeof(ip));
	snprintf(out, cap, "%s:%u", ip, (unsigned)port);
}

static cl_err plane_remove(cl_agent_tls_dp *dp, dp_entry *e)
{
	if (dp->has_plane) {
		cl_dp_stats st;
		if (dp->plane.stats(dp->plane.ctx, e->enclave, &st) == CL_OK)
			cl_info("tls: guest=%s gen=%u leaves the data plane: connections=%llu handshakes_full=%llu "
				"handshakes_resumed=%llu bytes_in=%llu bytes_out=%llu",
				e->enclave, e->gen, (unsigned long long)st.connections,
				(unsigned long long)st.handshakes_full, (unsigned long long)st.handshakes_resumed,
				(unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out);
		cl_error_clear();
		cl_err err = dp->plane.remove(dp->plane.ctx, e->enclave);
		if (err != CL_OK && err != CL_ENOTFOUND)
			return err;
		cl_error_clear();
	}
	free(e->chain);
	if (e->listener >= 0)
		close(e->listener);
	*e = dp->v[--dp->n];
	return CL_OK;
}

static cl_err plane_set(cl_agent_tls_dp *dp, const char *enclave, uint32_t gen, const char *chain, size_t chain_len,
			const cl_agent_tls_policy *policy, const cl_agent_tls_backend *be, int listener, bool keep)
{
	/* keep: the data plane serves this listener already (a rotation): 0
	 * listeners keeps it, so its port and its accept queue stay */
	cl_dp_guest g = {.gen = gen, .chain_pem = chain, .chain_len = chain_len, .listeners = &listener,
			 .nlisteners = keep ? 0 : 1};
	CL_ENSURE(strlen(enclave) <= CL_DP_ID_MAX, CL_EINVAL, "enclave id too long for the data plane");
	memcpy(g.id, enclave, strlen(enclave) + 1);
	snprintf(g.backend, sizeof(g.backend), "%s:%u", be->address, (unsigned)be->port);
	CL_ENSURE(strlen(policy->header) < sizeof(g.header), CL_EINVAL, "header name too long for the data plane");
	memcpy(g.header, policy->header, strlen(policy->header) + 1);
	g.mode = (uint8_t)policy->mode; /* cl_agent_tls_mode has cl_dp_mode's values */
	g.insecure = policy->insecure_allow ? CL_DP_INSECURE_ALLOW : CL_DP_INSECURE_REJECT;
	return dp->plane.set(dp->plane.ctx, &g);
}

cl_err cl_agent_tls_apply(cl_agent_tls_dp *dp, const char *enclave, uint32_t gen, const char *chain, size_t chain_len,
			  const cl_agent_tls_policy *policy, const cl_agent_tls_backend *be, char *endpoint, size_t cap)
{
	dp_entry *e = find(dp, enclave);
	int fd = -1;
	uint16_t port = 0;
	cl_err err = CL_OK;
	char *copy = NULL;
	if (endpoint && cap)
		endpoint[0] = '\0';
	CL_ENSURE(strlen(enclave) < CL_AGENT_ID_MAX, CL_EINVAL, "enclave id too long");
	if (!chain) /* removal */
		return e ? plane_remove(dp, e) : CL_OK;
	CL_ENSURE(gen >= 1 && policy, CL_EINVAL, "a generation and a policy are needed");
	if (dp->has_plane) {
		CL_ENSURE(be && be->address[0] && be->port, CL_ECONFLICT,
			  "enclave %s: %s", enclave,
			  be && be->address[0] ? "no exposed port (create it --expose PORT)"
					       : "its network address is not known yet");
		if (e && e->listener >= 0) { /* a rotation or a policy change: the same endpoint */
			fd = e->listener;
			port = e->port;
		} else {
			CL_GUARD(listener_make(dp, &fd, &port));
		}
	}
	if (!(copy = malloc(chain_len + 1))) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(copy, chain, chain_len);
	copy[chain_len] = '\0';
	if (!e && dp->n == dp->cap) {
		size_t ncap = dp->cap ? dp->cap * 2 : 8;
		dp_entry *v = realloc(dp->v, ncap * sizeof(*v));
		if (!v) {
			err = cl_errorf(CL_ENOMEM, "out of memory");
			goto out;
		}
		dp->v = v;
		dp->cap = ncap;
	}
	if (dp->has_plane) {
		CL_GUARD_OUT(err, plane_set(dp, enclave, gen, chain, chain_len, policy, be, fd,
						    e && e->listener == fd));
	}
	if (!e) {
		e = &dp->v[dp->n++];
		memset(e, 0, sizeof(*e));
		e->listener = -1;
		memcpy(e->enclave, enclave, strlen(enclave) + 1);
	}
	free(e->chain);
	e->chain = copy;
	e->chain_len = chain_len;
	e->gen = gen;
	e->policy = *policy;
	e->listener = fd;
	e->port = port;
	if (dp->has_plane)
		endpoint_of(dp, port, endpoint, cap);
	return CL_OK;
out:
	free(copy);
	if (fd >= 0 && !(e && e->listener == fd))
		close(fd);
	return err;
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
