/* guestif_gate.c — the agent's side of the guest interface ("the gate").
 *
 * The guest interface process parses what enclaves send; the gate, in the
 * agent, is the only part that touches the device model and asks for
 * documents and sealing keys (the secure module's hooks). It:
 *   - makes BASE/ID, binds BASE/ID/nsm.sock (and BASE/ID/fw.sock with a
 *     firmware guard) and hands the listening sockets to the process (ADD on the control channel; the gate keeps its copy,
 *     so a restarted process is handed the same socket and connections made
 *     meanwhile wait in its backlog);
 *   - answers the process's queries on one thread, each decoded exactly
 *     (guestif_ipc.c) and then checked for meaning — the enclave is one it
 *     serves, the write is within the enclave's and the host's rate — before
 *     fwg_guest_read / fwg_guest_write (which audits) run. A compromised
 *     process can at most make the writes any enclave could make, at the
 *     same rate, and attribute them to a served enclave.
 *
 * Locks: mu guards the enclave list, the buckets and the query channel's
 * hand-over; ctl_mu the control channel (its client is not thread-safe).
 * ctl_mu is taken before mu, never the other way round. The thread owns the
 * query channel's descriptor (reattach only queues a new one), so no
 * descriptor is closed under a poll(). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "guestif/guestif.h"

#define REPORT_NS 1000000000ull /* suppressed-write report period */
#define STOP_WAIT_MS 5000

typedef struct gate_enclave {
	char id[CL_GUESTIF_ID_MAX + 1];
	int listen_fd; /* fw.sock (-1 without a firmware guard) */
	int nsm_fd;    /* nsm.sock */
	cl_guestif_bucket bucket;
	cl_guestif_bucket nsm_bucket; /* secure-module requests */
	char tenant[CL_GUESTIF_ID_MAX + 1]; /* "" until the agent names it */
	uint64_t suppressed_pending; /* since the last report */
	uint64_t report_due_ns;      /* 0 = nothing to report */
	struct gate_enclave *next;
} gate_enclave;

struct cl_guestif {
	fwg_host *h; /* NULL: no firmware guard (nsm.sock only) */
	cl_guestif_nsm_hooks nsm; /* under mu */
	char base[PATH_MAX];
	cl_guestif_opts o;
	char addrs[FWG_MAX_DEVICES][FWG_ADDR_MAX + 1];
	size_t naddrs;
	pthread_mutex_t mu;
	gate_enclave *enclaves;        /* under mu */
	cl_guestif_bucket host_bucket; /* under mu: audited writes of all enclaves */
	int next_query;                /* under mu: a new query channel for the thread, -1 none */
	bool stop;                     /* under mu */
	pthread_mutex_t ctl_mu;
	int fd_control; /* under ctl_mu; -1 while the process is down */
	cl_ipc_client ctl;
	pthread_t thread;
	bool thread_started;
	int wake[2];
	int fd_query;     /* thread only */
	cl_ipc_server srv; /* thread only */
	pid_t child;      /* a process of cl_guestif_start's, else -1 */
};

static void wake(cl_guestif *g)
{
	ssize_t w = write(g->wake[1], "w", 1); /* EAGAIN: a wake-up is already pending */
	(void)w;
}

/* ---------------------------------------------------------------- queries (decode, then meaning) */

static cl_err decode_list(cl_buf *req, void *out)
{
	return cl_guestif_q_decode(CL_GUESTIF_Q_LIST, req, out);
}

static cl_err decode_read(cl_buf *req, void *out)
{
	return cl_guestif_q_decode(CL_GUESTIF_Q_READ, req, out);
}

static cl_err decode_write(cl_buf *req, void *out)
{
	return cl_guestif_q_decode(CL_GUESTIF_Q_WRITE, req, out);
}

_Static_assert(sizeof(cl_guestif_q) <= CL_IPC_ARGS_MAX, "ipc scratch");

static gate_enclave **find(cl_guestif *g, const char *id)
{
	gate_enclave **pp = &g->enclaves;
	while (*pp && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Only a served enclave's queries are answered: the process cannot invent
 * one (nor keep using one that was removed). */
static cl_err served(cl_guestif *g, const char *id)
{
	pthread_mutex_lock(&g->mu);
	bool known = *find(g, id) != NULL;
	pthread_mutex_unlock(&g->mu);
	CL_ENSURE(known, CL_EPERM, "query for enclave %s, which is not served", id);
	return CL_OK;
}

static cl_err run_list(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_guestif *g = ctx;
	const cl_guestif_q *q = args;
	CL_ENSURE(g->h, CL_EPERM, "firmware query on a host without a firmware guard");
	CL_GUARD(served(g, q->enclave));
	CL_GUARD(cl_buf_put_u8(ans, (uint8_t)g->naddrs));
	for (size_t i = 0; i < g->naddrs; i++) {
		fwg_identity id;
		CL_GUARD(fwg_guest_read(g->h, g->addrs[i], &id));
		CL_GUARD(cl_guestif_identity_put(ans, &id));
	}
	return CL_OK;
}

static cl_err run_read(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_guestif *g = ctx;
	const cl_guestif_q *q = args;
	fwg_identity id;
	CL_ENSURE(g->h, CL_EPERM, "firmware query on a host without a firmware guard");
	CL_GUARD(served(g, q->enclave));
	CL_GUARD(fwg_guest_read(g->h, q->req.addr, &id)); /* CL_ENOTFOUND: no_device */
	return cl_guestif_identity_put(ans, &id);
}

static cl_err run_write(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_guestif *g = ctx;
	const cl_guestif_q *q = args;
	const cl_guestif_req *r = &q->req;
	cl_guestif_write_res res = {0};
	uint64_t now = cl_now_mono_ns();
	CL_ENSURE(g->h, CL_EPERM, "firmware write on a host without a firmware guard");
	pthread_mutex_lock(&g->mu);
	gate_enclave *e = *find(g, q->enclave);
	if (!e) {
		pthread_mutex_unlock(&g->mu);
		return cl_errorf(CL_EPERM, "write for enclave %s, which is not served", q->enclave);
	}
	bool mine = cl_guestif_bucket_take(&e->bucket, now, g->o.write_rate, g->o.write_burst);
	/* the host-wide bucket keeps many enclaves together from growing the
	 * audit log (and the alarms it raises) without bound */
	if (!mine || !cl_guestif_bucket_take(&g->host_bucket, now, g->o.host_rate, g->o.host_burst)) {
		e->suppressed_pending++;
		if (!e->report_due_ns)
			e->report_due_ns = now + REPORT_NS;
		res.verdict = mine ? CL_GUESTIF_LIMITED_HOST : CL_GUESTIF_LIMITED;
		res.rate = mine ? g->o.host_rate : g->o.write_rate;
		res.burst = mine ? g->o.host_burst : g->o.write_burst;
		pthread_mutex_unlock(&g->mu);
		wake(g); /* the report timer may be new */
		return cl_guestif_write_res_put(ans, &res);
	}
	pthread_mutex_unlock(&g->mu);
	const char *region = cl_guestif_region_name(r->region);
	fwg_outcome o = {0};
	cl_err e2 = fwg_guest_write(g->h, r->addr, r->region, r->offset, r->data, r->len, &o);
	if (e2 == CL_EPERM && o.reason == FWG_R_NO_MAPPING) {
		cl_warn("guest firmware write refused id=%s device=%s region=%s offset=%" PRIu64 " bytes=%zu "
			"reason=no_mapping audit_seq=%" PRIu64,
			q->enclave, r->addr, region, r->offset, r->len, o.audit_seq);
		res.verdict = CL_GUESTIF_AUDITED;
		res.audit_seq = o.audit_seq;
	} else {
		/* Still no mapping: nothing was written. The audit itself failed. */
		cl_error("guest firmware write refused but not audited id=%s device=%s region=%s err=\"%s\"", q->enclave,
			 r->addr, region, cl_error_detail());
		res.verdict = CL_GUESTIF_NOT_AUDITED;
	}
	return cl_guestif_write_res_put(ans, &res);
}

/* ---------------------------------------------------------------- the secure module */

static cl_err decode_nsm_attest(cl_buf *req, void *out)
{
	return cl_nsm_q_decode(CL_GUESTIF_Q_ATTEST, req, out);
}

static cl_err decode_nsm_seal(cl_buf *req, void *out)
{
	return cl_nsm_q_decode(CL_GUESTIF_Q_SEAL, req, out);
}

/* A served enclave within its secure-module bucket; the hooks to use. The
 * bucket is the gate's, not the process's: a compromised process cannot ask
 * the key holder faster than the enclaves could. */
static cl_err nsm_admit(cl_guestif *g, const char *id, cl_guestif_nsm_hooks *hooks, char tenant[CL_GUESTIF_ID_MAX + 1])
{
	uint64_t now = cl_now_mono_ns();
	pthread_mutex_lock(&g->mu);
	gate_enclave *e = *find(g, id);
	bool ok = e && cl_guestif_bucket_take(&e->nsm_bucket, now, g->o.nsm_rate, g->o.nsm_burst);
	*hooks = g->nsm;
	memcpy(tenant, e ? e->tenant : "", e ? sizeof(e->tenant) : 1);
	pthread_mutex_unlock(&g->mu);
	CL_ENSURE(e, CL_EPERM, "secure-module request for enclave %s, which is not served", id);
	CL_ENSURE(ok, CL_ELIMIT, "enclave %s: secure-module requests over the rate", id);
	return CL_OK;
}

static cl_err run_nsm_attest(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_guestif *g = ctx;
	const cl_nsm_q *q = args;
	cl_guestif_nsm_hooks hk;
	uint8_t *doc = NULL;
	size_t len = 0;
	char tenant[CL_GUESTIF_ID_MAX + 1];
	CL_GUARD(nsm_admit(g, q->enclave, &hk, tenant));
	CL_ENSURE(hk.attest, CL_EUNAVAIL, "this host cannot attest");
	cl_err err = hk.attest(hk.ctx, q->enclave, &q->req, &doc, &len);
	if (err == CL_OK && (len == 0 || len > CL_NSM_ANSWER_MAX))
		err = cl_errorf(CL_EINTERNAL, "attestation document of %zu bytes", len);
	if (err == CL_OK)
		err = cl_ipc_put_bytes(ans, doc, len);
	else
		cl_warn("attestation document for the enclave's secure module not made id=%s err=\"%s\"", q->enclave,
			cl_error_detail());
	free(doc);
	return err;
}

static cl_err run_nsm_seal(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_guestif *g = ctx;
	const cl_nsm_q *q = args;
	cl_guestif_nsm_hooks hk;
	uint8_t key[CL_NSM_KEY_LEN];
	char tenant[CL_GUESTIF_ID_MAX + 1];
	CL_GUARD(nsm_admit(g, q->enclave, &hk, tenant));
	CL_ENSURE(hk.seal_key, CL_EUNAVAIL, "this host cannot seal");
	CL_ENSURE(tenant[0], CL_EUNAVAIL, "enclave %s: its tenant is not known yet", q->enclave);
	cl_err err = hk.seal_key(hk.ctx, q->enclave, tenant, q->req.label, q->req.label_len, key);
	if (err == CL_OK)
		err = cl_buf_put(ans, key, sizeof(key));
	else
		cl_warn("sealing key for the enclave's secure module not derived id=%s err=\"%s\"", q->enclave,
			cl_error_detail());
	explicit_bzero(key, sizeof(key));
	return err;
}

void cl_guestif_set_tenant(cl_guestif *g, const char *id, const char *tenant)
{
	if (!g || !cl_guestif_id_valid(id) || !cl_guestif_id_valid(tenant))
		return;
	pthread_mutex_lock(&g->mu);
	gate_enclave *e = *find(g, id);
	if (e)
		memcpy(e->tenant, tenant, strlen(tenant) + 1);
	pthread_mutex_unlock(&g->mu);
}

void cl_guestif_set_nsm(cl_guestif *g, const cl_guestif_nsm_hooks *hooks)
{
	pthread_mutex_lock(&g->mu);
	if (hooks)
		g->nsm = *hooks;
	else
		memset(&g->nsm, 0, sizeof(g->nsm));
	pthread_mutex_unlock(&g->mu);
}

#define Q_HEAD (2 + CL_GUESTIF_ID_MAX)
#define Q_ADDR (2 + FWG_ADDR_MAX)
static const cl_ipc_handler handlers[] = {
	{CL_GUESTIF_Q_LIST, "list", Q_HEAD, decode_list, run_list, 0},
	{CL_GUESTIF_Q_READ, "read", Q_HEAD + Q_ADDR, decode_read, run_read, 0},
	{CL_GUESTIF_Q_WRITE, "write", Q_HEAD + Q_ADDR + 1 + 8 + 4 + CL_GUESTIF_WRITE_MAX, decode_write, run_write, 0},
	{CL_GUESTIF_Q_ATTEST, "nsm-attest", Q_HEAD + 12 + CL_NSM_NONCE_MAX + CL_NSM_USER_DATA_MAX + CL_NSM_PUBKEY_MAX,
	 decode_nsm_attest, run_nsm_attest, 0},
	{CL_GUESTIF_Q_SEAL, "nsm-seal", Q_HEAD + 4 + CL_NSM_LABEL_MAX, decode_nsm_seal, run_nsm_seal, 0},
};

void cl_guestif_gate_server(cl_guestif *g, cl_ipc_server *s)
{
	cl_ipc_server_init(s, -1, "guestif/query", handlers, sizeof(handlers) / sizeof(handlers[0]),
			   CL_GUESTIF_IPC_MAX, g);
}

/* ---------------------------------------------------------------- the thread */

static void report_suppressed(cl_guestif *g, uint64_t now, uint64_t *next)
{
	pthread_mutex_lock(&g->mu);
	for (gate_enclave *e = g->enclaves; e; e = e->next) {
		if (!e->report_due_ns)
			continue;
		if (now < e->report_due_ns) {
			if (e->report_due_ns < *next)
				*next = e->report_due_ns;
			continue;
		}
		cl_warn("guest firmware writes refused without audit (rate limit) id=%s suppressed=%" PRIu64
			" period_s=1",
			e->id, e->suppressed_pending);
		e->suppressed_pending = 0;
		e->report_due_ns = 0;
	}
	pthread_mutex_unlock(&g->mu);
}

static void *serve(void *arg)
{
	cl_guestif *g = arg;
	for (;;) {
		pthread_mutex_lock(&g->mu);
		bool stop = g->stop;
		if (g->next_query >= 0) {
			if (g->fd_query >= 0)
				close(g->fd_query);
			g->fd_query = g->next_query;
			g->next_query = -1;
			cl_ipc_server_init(&g->srv, g->fd_query, "guestif/query", handlers,
					   sizeof(handlers) / sizeof(handlers[0]), CL_GUESTIF_IPC_MAX, g);
		}
		pthread_mutex_unlock(&g->mu);
		if (stop)
			break;
		uint64_t now = cl_now_mono_ns(), next = UINT64_MAX;
		report_suppressed(g, now, &next);
		struct pollfd pf[2] = {{.fd = g->wake[0], .events = POLLIN}, {.fd = g->fd_query, .events = POLLIN}};
		int timeout = next == UINT64_MAX ? -1 : (int)((next - now) / 1000000u) + 1;
		int rc = poll(pf, g->fd_query >= 0 ? 2 : 1, timeout);
		if (rc < 0 && errno != EINTR) {
			cl_error("guest interface gate: poll: %s", strerror(errno));
			break;
		}
		if (rc > 0 && pf[0].revents) {
			char drain[64];
			while (read(g->wake[0], drain, sizeof(drain)) > 0)
				;
		}
		if (rc > 0 && g->fd_query >= 0 && pf[1].revents) {
			cl_err e = cl_ipc_server_serve_one(&g->srv);
			if (e == CL_EUNAVAIL || e == CL_ESYS) {
				/* Fail closed: enclaves' connections wait in the sockets'
				 * backlogs until the supervisor restarts the process. */
				cl_warn("guest interface process is gone; its sockets wait for a new one err=%s",
					cl_err_name(e));
				close(g->fd_query);
				g->fd_query = -1;
				pthread_mutex_lock(&g->ctl_mu);
				pthread_mutex_lock(&g->mu);
				/* unless a reattach already put the new process's in place */
				if (g->next_query < 0 && g->fd_control >= 0) {
					close(g->fd_control);
					g->fd_control = -1;
				}
				pthread_mutex_unlock(&g->mu);
				pthread_mutex_unlock(&g->ctl_mu);
			}
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------- the control channel */

/* One control call under ctl_mu; CL_EUNAVAIL while the process is down. */
static cl_err control(cl_guestif *g, uint16_t type, const char *id, int fd, cl_buf *ans)
{
	cl_buf req;
	cl_buf_init(&req, CL_GUESTIF_IPC_MAX);
	cl_err err = cl_ipc_put_str(&req, id);
	if (err == CL_OK)
		err = g->fd_control >= 0 ? cl_ipc_call_fds(&g->ctl, type, &req, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, ans)
					 : cl_errorf(CL_EUNAVAIL, "the guest interface process is down");
	cl_buf_free(&req);
	return err;
}

/* Hands id's sockets (fw: -1 without a guard) to the process (caller holds ctl_mu). */
static void hand_over(cl_guestif *g, const char *id, int fw, int nsm)
{
	cl_buf req, ans;
	int fds[2];
	size_t n = 0;
	uint8_t socks = 0;
	if (fw >= 0)
		fds[n++] = fw, socks |= 1;
	if (nsm >= 0)
		fds[n++] = nsm, socks |= 2;
	cl_buf_init(&req, CL_GUESTIF_IPC_MAX);
	cl_buf_init(&ans, CL_GUESTIF_IPC_MAX);
	cl_err err = cl_ipc_put_str(&req, id);
	if (err == CL_OK)
		err = cl_buf_put_u8(&req, socks);
	if (err == CL_OK)
		err = g->fd_control >= 0 && n ? cl_ipc_call_fds(&g->ctl, CL_GUESTIF_C_ADD, &req, fds, n, &ans)
					      : cl_errorf(CL_EUNAVAIL, "the guest interface process is down");
	cl_buf_free(&req);
	cl_buf_free(&ans);
	if (err != CL_OK && err != CL_EUNAVAIL)
		cl_warn("guest interface: cannot hand enclave %s's socket to the process err=\"%s\"", id,
			cl_error_detail());
}

cl_err cl_guestif_reattach(cl_guestif *g, int fd_query, int fd_control)
{
	struct item {
		char id[CL_GUESTIF_ID_MAX + 1];
		int fd, nsm;
	} *items = NULL;
	size_t n = 0, cap = 0;
	cl_err err = CL_OK;
	pthread_mutex_lock(&g->ctl_mu);
	if (g->fd_control >= 0)
		close(g->fd_control);
	g->fd_control = fd_control;
	cl_ipc_client_init(&g->ctl, fd_control, CL_GUESTIF_IPC_MAX, CL_GUESTIF_IPC_TIMEOUT_MS);
	pthread_mutex_lock(&g->mu);
	if (g->next_query >= 0)
		close(g->next_query);
	g->next_query = fd_query;
	for (gate_enclave *e = g->enclaves; e; e = e->next)
		cap++;
	items = cap ? calloc(cap, sizeof(*items)) : NULL;
	for (gate_enclave *e = g->enclaves; items && e; e = e->next) {
		snprintf(items[n].id, sizeof(items[n].id), "%s", e->id);
		items[n].fd = e->listen_fd >= 0 ? dup(e->listen_fd) : -1; /* a remove may close e's meanwhile */
		items[n].nsm = e->nsm_fd >= 0 ? dup(e->nsm_fd) : -1;
		n++;
	}
	pthread_mutex_unlock(&g->mu);
	wake(g);
	if (cap && !items)
		err = cl_errorf(CL_ENOMEM, "guest interface: out of memory re-adding enclaves");
	for (size_t i = 0; i < n; i++) {
		if (items[i].fd >= 0 || items[i].nsm >= 0)
			hand_over(g, items[i].id, items[i].fd, items[i].nsm);
		if (items[i].fd >= 0)
			close(items[i].fd);
		if (items[i].nsm >= 0)
			close(items[i].nsm);
	}
	pthread_mutex_unlock(&g->ctl_mu);
	free(items);
	if (err == CL_OK)
		cl_info("guest interface: new process attached enclaves=%zu", n);
	return err;
}

bool cl_guestif_attached(cl_guestif *g)
{
	pthread_mutex_lock(&g->ctl_mu);
	bool up = g->fd_control >= 0;
	pthread_mutex_unlock(&g->ctl_mu);
	return up;
}

pid_t cl_guestif_child_pid(cl_guestif *g)
{
	return g ? g->child : -1;
}

/* ---------------------------------------------------------------- start, stop */

static void gate_free(cl_guestif *g)
{
	if (g->thread_started) {
		pthread_mutex_lock(&g->mu);
		g->stop = true;
		pthread_mutex_unlock(&g->mu);
		wake(g);
		pthread_join(g->thread, NULL);
	}
	while (g->enclaves) {
		gate_enclave *e = g->enclaves;
		g->enclaves = e->next;
		if (e->suppressed_pending)
			cl_warn("guest firmware writes refused without audit (rate limit) id=%s suppressed=%" PRIu64,
				e->id, e->suppressed_pending);
		if (e->listen_fd >= 0)
			close(e->listen_fd);
		if (e->nsm_fd >= 0)
			close(e->nsm_fd);
		free(e);
	}
	int fds[] = {g->fd_query, g->next_query, g->fd_control, g->wake[0], g->wake[1]};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (g->child > 0) {
		/* its channels are closed: it exits; a stuck one is killed */
		int st;
		uint64_t deadline = cl_now_mono_ns() + (uint64_t)STOP_WAIT_MS * 1000000u;
		while (waitpid(g->child, &st, WNOHANG) == 0) {
			if (cl_now_mono_ns() > deadline) {
				kill(g->child, SIGKILL);
				waitpid(g->child, &st, 0);
				break;
			}
			struct timespec ts = {0, 5000000};
			nanosleep(&ts, NULL);
		}
	}
	pthread_mutex_destroy(&g->mu);
	pthread_mutex_destroy(&g->ctl_mu);
	free(g);
}

cl_err cl_guestif_gate_new(fwg_host *h, const char *base, const cl_guestif_opts *opts, int fd_query,
			   int fd_control, cl_guestif **out)
{
	*out = NULL;
	cl_guestif *g = calloc(1, sizeof(*g));
	if (!g) {
		if (fd_query >= 0)
			close(fd_query);
		if (fd_control >= 0)
			close(fd_control);
		return cl_errorf(CL_ENOMEM, "guest interface: out of memory");
	}
	cl_err e = CL_OK;
	g->h = h;
	g->wake[0] = g->wake[1] = -1;
	g->fd_query = -1;
	g->next_query = fd_query;
	g->fd_control = fd_control;
	g->child = -1;
	pthread_mutex_init(&g->mu, NULL);
	pthread_mutex_init(&g->ctl_mu, NULL);
	cl_ipc_client_init(&g->ctl, fd_control, CL_GUESTIF_IPC_MAX, CL_GUESTIF_IPC_TIMEOUT_MS);
	if (opts)
		g->o = *opts;
	g->o.write_rate = g->o.write_rate ? g->o.write_rate : CL_GUESTIF_WRITE_RATE;
	g->o.write_burst = g->o.write_burst ? g->o.write_burst : CL_GUESTIF_WRITE_BURST;
	g->o.host_rate = g->o.host_rate ? g->o.host_rate : CL_GUESTIF_HOST_RATE;
	g->o.host_burst = g->o.host_burst ? g->o.host_burst : CL_GUESTIF_HOST_BURST;
	g->o.nsm_rate = g->o.nsm_rate ? g->o.nsm_rate : CL_GUESTIF_NSM_RATE;
	g->o.nsm_burst = g->o.nsm_burst ? g->o.nsm_burst : CL_GUESTIF_NSM_BURST;
	if (!base || base[0] != '/' || g->o.write_burst > 1000000u || g->o.host_burst > 1000000u ||
	    g->o.nsm_burst > 1000000u) {
		e = cl_errorf(CL_EINVAL, "guest interface: absolute base and sane limits required");
		goto out;
	}
	if (snprintf(g->base, sizeof(g->base), "%s", base) >= (int)sizeof(g->base)) {
		e = cl_errorf(CL_ETOOBIG, "guest interface: base path too long");
		goto out;
	}
	fwg_host_status *st = h ? calloc(1, sizeof(*st)) : NULL;
	if (h && !st) {
		e = cl_errorf(CL_ENOMEM, "guest interface: out of memory");
		goto out;
	}
	e = h ? fwg_host_status_get(h, st) : CL_OK;
	for (size_t i = 0; h && e == CL_OK && i < st->ndev && i < FWG_MAX_DEVICES; i++)
		snprintf(g->addrs[g->naddrs++], sizeof(g->addrs[0]), "%s", st->dev[i].addr);
	free(st);
	if (e != CL_OK)
		goto out;
	CL_GUARD_OUT(e, cl_mkdir_p(g->base, 0711));
	if (pipe2(g->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		e = cl_errorf(CL_ESYS, "guest interface: pipe: %s", strerror(errno));
		goto out;
	}
	int rc = pthread_create(&g->thread, NULL, serve, g);
	if (rc != 0) {
		e = cl_errorf(CL_ESYS, "guest interface: thread: %s", strerror(rc));
		goto out;
	}
	g->thread_started = true;
	*out = g;
	return CL_OK;
out:
	gate_free(g);
	return e;
}

cl_err cl_guestif_start(fwg_host *h, const char *base, const cl_guestif_opts *opts, cl_guestif **out)
{
	int q[2] = {-1, -1}, c[2] = {-1, -1};
	*out = NULL;
	CL_GUARD(cl_ipc_pair(q));
	cl_err err = cl_ipc_pair(c);
	if (err != CL_OK) {
		close(q[0]);
		close(q[1]);
		return err;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		cl_guestif_proc_opts po = {.switch_user = geteuid() == 0, .uid = CL_GUESTIF_UID, .gid = CL_GUESTIF_UID};
		if (opts)
			po.limits = *opts;
		close(q[0]);
		close(c[0]);
		_exit(cl_guestif_main(q[1], c[1], &po));
	}
	close(q[1]);
	close(c[1]);
	if (pid < 0) {
		close(q[0]);
		close(c[0]);
		return cl_errorf(CL_ESYS, "guest interface: fork: %s", strerror(errno));
	}
	err = cl_guestif_gate_new(h, base, opts, q[0], c[0], out);
	if (err != CL_OK) {
		int st;
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return err;
	}
	(*out)->child = pid;
	return CL_OK;
}

void cl_guestif_stop(cl_guestif *g)
{
	if (g)
		gate_free(g);
}

/* ---------------------------------------------------------------- enclaves */

/* BASE/ID as a directory of ours (not a symlink), mode 0755. */
static cl_err make_enclave_dir(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return cl_errorf(CL_ESYS, "guest interface: mkdir %s: %s", path, strerror(errno));
	struct stat st;
	CL_ENSURE(lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid(), CL_ECONFLICT,
		  "guest interface: %s is not a directory of ours", path);
	CL_ENSURE(chmod(path, 0755) == 0, CL_ESYS, "guest interface: chmod %s: %s", path, strerror(errno));
	return CL_OK;
}

/* Binds a listening socket at dir/name (0666), replacing one left by an
 * earlier agent. *fd -1 on failure. */
static cl_err bind_sock(const char *dir, const char *name, int *fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	*fd = -1;
	CL_ENSURE(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name) < (int)sizeof(sa.sun_path), CL_ETOOBIG,
		  "guest interface: socket path %s/%s too long", dir, name);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CL_ENSURE(s >= 0, CL_ESYS, "guest interface: socket: %s", strerror(errno));
	if (unlink(sa.sun_path) != 0 && errno != ENOENT) {
		close(s);
		return cl_errorf(CL_ESYS, "guest interface: unlink %s: %s", sa.sun_path, strerror(errno));
	}
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(sa.sun_path, 0666) != 0 || listen(s, 16) != 0) {
		cl_err e = cl_errorf(CL_ESYS, "guest interface: %s: %s", sa.sun_path, strerror(errno));
		close(s);
		unlink(sa.sun_path);
		return e;
	}
	*fd = s;
	return CL_OK;
}

static cl_err add(cl_guestif *g, const char *id, char *dir, size_t n, bool hand)
{
	char path[PATH_MAX];
	int fw = -1, nsm = -1;
	CL_ENSURE(g, CL_EINVAL, "guest interface: not running");
	CL_ENSURE(cl_guestif_id_valid(id), CL_EINVAL, "guest interface: bad enclave id");
	CL_ENSURE(snprintf(path, sizeof(path), "%s/%s", g->base, id) < (int)sizeof(path), CL_ETOOBIG,
		  "guest interface: path too long");
	CL_ENSURE(!dir || snprintf(dir, n, "%s", path) < (int)n, CL_ETOOBIG, "guest interface: path too long");
	bool existed = access(path, F_OK) == 0;
	CL_GUARD(make_enclave_dir(path));
	cl_err e = bind_sock(path, CL_GUESTIF_NSM_SOCK, &nsm);
	if (e == CL_OK && g->h)
		e = bind_sock(path, CL_GUESTIF_SOCK, &fw);
	if (e != CL_OK)
		goto out;
	pthread_mutex_lock(&g->ctl_mu);
	pthread_mutex_lock(&g->mu);
	gate_enclave **pp = find(g, id), *en = *pp;
	if (!en && (en = calloc(1, sizeof(*en))) != NULL) {
		snprintf(en->id, sizeof(en->id), "%s", id);
		en->listen_fd = en->nsm_fd = -1;
		en->next = g->enclaves;
		g->enclaves = en;
	}
	if (en) {
		if (en->listen_fd >= 0)
			close(en->listen_fd);
		if (en->nsm_fd >= 0)
			close(en->nsm_fd);
		en->listen_fd = fw;
		en->nsm_fd = nsm;
	}
	pthread_mutex_unlock(&g->mu);
	if (en && hand)
		hand_over(g, id, fw, nsm);
	pthread_mutex_unlock(&g->ctl_mu);
	if (!en) {
		e = cl_errorf(CL_ENOMEM, "guest interface: out of memory");
		goto out;
	}
	return CL_OK;
out:
	if (fw >= 0)
		close(fw);
	if (nsm >= 0)
		close(nsm);
	if (!existed && cl_rm_rf(path) != CL_OK)
		cl_warn("guest interface: cannot remove %s", path);
	return e;
}

cl_err cl_guestif_add(cl_guestif *g, const char *id, char *dir, size_t n)
{
	return add(g, id, dir, n, true);
}

cl_err cl_guestif_prepare(cl_guestif *g, const char *id, char *dir, size_t n)
{
	return add(g, id, dir, n, false);
}

void cl_guestif_hand_over(cl_guestif *g, const char *id)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->ctl_mu);
	pthread_mutex_lock(&g->mu);
	gate_enclave *en = *find(g, id);
	int fw = en ? en->listen_fd : -1, nsm = en ? en->nsm_fd : -1;
	pthread_mutex_unlock(&g->mu);
	if (en)
		hand_over(g, id, fw, nsm);
	pthread_mutex_unlock(&g->ctl_mu);
}

static void remove_dir(const char *base, const char *id)
{
	char path[PATH_MAX];
	if (!cl_guestif_id_valid(id) || snprintf(path, sizeof(path), "%s/%s", base, id) >= (int)sizeof(path))
		return;
	if (cl_rm_rf(path) != CL_OK)
		cl_warn("guest interface: cannot remove %s err=\"%s\"", path, cl_error_detail());
}

void cl_guestif_remove(cl_guestif *g, const char *id)
{
	if (!g || !cl_guestif_id_valid(id))
		return;
	remove_dir(g->base, id); /* first: no new connection finds the socket */
	pthread_mutex_lock(&g->ctl_mu);
	pthread_mutex_lock(&g->mu);
	gate_enclave **pp = find(g, id), *e = *pp;
	if (e)
		*pp = e->next;
	pthread_mutex_unlock(&g->mu);
	if (e) {
		cl_buf ans;
		cl_buf_init(&ans, CL_GUESTIF_IPC_MAX);
		(void)control(g, CL_GUESTIF_C_REMOVE, id, -1, &ans); /* a process that is down has nothing to drop */
		cl_buf_free(&ans);
		if (e->suppressed_pending)
			cl_warn("guest firmware writes refused without audit (rate limit) id=%s suppressed=%" PRIu64,
				e->id, e->suppressed_pending);
		if (e->listen_fd >= 0)
			close(e->listen_fd);
		if (e->nsm_fd >= 0)
			close(e->nsm_fd);
		free(e);
	}
	pthread_mutex_unlock(&g->ctl_mu);
}

size_t cl_guestif_prune(const char *base, bool (*keep)(const char *id, void *ctx), void *ctx)
{
	DIR *d = opendir(base);
	size_t n = 0;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!cl_guestif_id_valid(de->d_name) || keep(de->d_name, ctx))
			continue;
		remove_dir(base, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

void cl_guestif_stats_get(cl_guestif *g, const char *id, cl_guestif_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!g || (id && !cl_guestif_id_valid(id)))
		return;
	cl_buf ans;
	cl_buf_init(&ans, CL_GUESTIF_IPC_MAX);
	pthread_mutex_lock(&g->ctl_mu);
	cl_err err = control(g, CL_GUESTIF_C_STATS, id ? id : "", -1, &ans);
	pthread_mutex_unlock(&g->ctl_mu);
	if (err == CL_OK && (cl_guestif_stats_get_wire(&ans, out) != CL_OK || cl_ipc_get_end(&ans) != CL_OK))
		memset(out, 0, sizeof(*out));
	cl_buf_free(&ans);
}
