/* guestif.c — the guest interface process: one poll() loop over the control
 * channel from the agent's gate, the listening sockets of each enclave
 * (nsm.sock, and fw.sock with a firmware guard; handed over by the gate,
 * never bound here) and a bounded set of client connections: line clients
 * of fw.sock, binary (framed) clients of nsm.sock. It parses every byte the enclaves send and holds nothing
 * worth stealing: no key, no host token, no file, no capability; what it
 * needs of the device model it asks the gate over the query channel, which
 * checks each query as hostile. Wire format and limits: guestif.h,
 * docs/guest-interface.md.
 *
 * Abuse limits: a client holds at most one request line (512 bytes) and a
 * bounded reply buffer; a client is served at most a few lines per round
 * (fairness); no request for idle_ms closes it; per-enclave and global
 * connection caps refuse new ones with "ERR busy". Audited writes are
 * rate-limited by the gate (per enclave and per host), which is where the
 * audit log is.
 *
 * Identities are cached for CACHE_NS: a guest looping on LIST costs the
 * agent ten queries a second, not one per line.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "guestif/guestif.h"

#define OUT_MAX (64u << 10)  /* reply bytes buffered per client */
#define OUT_SOFT (16u << 10) /* stop answering a client that does not read */
#define LINES_PER_ROUND 8
#define ACCEPTS_PER_ROUND 16
#define MAX_CONNS_LIMIT 4096u
#define CACHE_NS 100000000ull   /* identities are re-asked after 100 ms */
#define FAIL_LOG_NS 1000000000ull /* one "the agent does not answer" line a second */

typedef struct gi_enclave {
	char id[CL_GUESTIF_ID_MAX + 1];
	int listen_fd; /* fw.sock, -1 without a firmware guard */
	int nsm_fd;    /* nsm.sock */
	unsigned nconns;
	cl_guestif_stats st;
	struct gi_enclave *next;
} gi_enclave;

/* A client holds at most one request: a line (fw.sock) or a frame (nsm.sock). */
#define IN_MAX (4 + CL_NSM_REQ_MAX > CL_GUESTIF_LINE_MAX ? 4 + CL_NSM_REQ_MAX : CL_GUESTIF_LINE_MAX)

typedef struct gi_client {
	int fd; /* -1 = free slot */
	gi_enclave *enc;
	bool nsm; /* a secure-module (binary) client, else a line client */
	char in[IN_MAX];
	size_t inlen;
	cl_buf out; /* pos = bytes already sent */
	uint64_t deadline_ns;
	bool eof, closing;
} gi_client;

typedef struct gi_server {
	cl_guestif_opts o;
	cl_ipc_client query;   /* to the gate */
	cl_ipc_server control; /* from the gate */
	gi_enclave *enclaves;
	cl_guestif_stats st;
	gi_client *clients;
	unsigned nclients;
	fwg_identity ids[FWG_MAX_DEVICES]; /* LIST cache */
	size_t nids;
	uint64_t ids_at_ns; /* 0: nothing cached */
	uint64_t fail_logged_ns;
	bool stop;
} gi_server;

/* ---- counters ---- */

enum stat_kind { ST_REQ, ST_AUDITED, ST_SUPPRESSED, ST_ACCEPTED, ST_REFUSED, ST_IDLE };

static void bump(gi_server *g, gi_enclave *e, enum stat_kind k)
{
	cl_guestif_stats *v[2] = {&g->st, e ? &e->st : NULL};
	for (int i = 0; i < 2; i++) {
		if (!v[i])
			continue;
		switch (k) {
		case ST_REQ: v[i]->requests++; break;
		case ST_AUDITED: v[i]->writes_audited++; break;
		case ST_SUPPRESSED: v[i]->writes_suppressed++; break;
		case ST_ACCEPTED: v[i]->conns_accepted++; break;
		case ST_REFUSED: v[i]->conns_refused++; break;
		case ST_IDLE: v[i]->idle_closed++; break;
		}
	}
}

/* ---- queries to the gate ---- */

/* One query of type (payload req); ans (reset) holds the answer payload. A
 * failure is logged at most once a second (a guest can make many while the
 * agent is away); the gate's refusals that are answers (no such device, a
 * rate limit) are not failures. */
static cl_err call(gi_server *g, const gi_enclave *e, uint16_t type, const cl_buf *req, cl_buf *ans)
{
	cl_err err = cl_ipc_call(&g->query, type, req, ans);
	if (err != CL_OK && err != CL_ENOTFOUND && err != CL_ELIMIT) {
		uint64_t now = cl_now_mono_ns();
		if (!g->fail_logged_ns || now - g->fail_logged_ns >= FAIL_LOG_NS) {
			cl_warn("guest interface: the agent did not answer a query id=%s err=%s", e->id, cl_err_name(err));
			g->fail_logged_ns = now;
		}
	}
	return err;
}

static cl_err ask(gi_server *g, const gi_enclave *e, const cl_guestif_req *r, cl_buf *ans)
{
	cl_guestif_q q;
	cl_buf req;
	memset(&q, 0, sizeof(q));
	snprintf(q.enclave, sizeof(q.enclave), "%s", e->id);
	q.req = *r;
	cl_buf_init(&req, CL_GUESTIF_IPC_MAX);
	cl_err err = cl_guestif_q_encode(&q, &req);
	if (err == CL_OK)
		err = call(g, e, (uint16_t)r->verb, &req, ans);
	cl_buf_free(&req);
	return err;
}

/* Refreshes the identity cache if it is older than CACHE_NS. */
static cl_err identities(gi_server *g, const gi_enclave *e, uint64_t now)
{
	if (g->ids_at_ns && now - g->ids_at_ns < CACHE_NS)
		return CL_OK;
	cl_guestif_req r = {.verb = CL_GUESTIF_LIST};
	cl_buf ans;
	uint8_t n = 0;
	cl_buf_init(&ans, CL_GUESTIF_IPC_MAX);
	cl_err err = ask(g, e, &r, &ans);
	if (err == CL_OK)
		err = cl_buf_get_u8(&ans, &n);
	if (err == CL_OK && n > FWG_MAX_DEVICES)
		err = cl_errorf(CL_EPROTO, "the agent listed %u devices", n);
	for (size_t i = 0; err == CL_OK && i < n; i++)
		err = cl_guestif_identity_get(&ans, &g->ids[i]);
	if (err == CL_OK)
		err = cl_ipc_get_end(&ans);
	cl_buf_free(&ans);
	g->nids = err == CL_OK ? n : 0;
	g->ids_at_ns = err == CL_OK ? now : 0;
	return err;
}

/* ---- requests ---- */

static cl_err answer_list(gi_server *g, gi_enclave *e, uint64_t now, cl_buf *out)
{
	json_t *arr = NULL, *body = NULL;
	cl_err err;
	CL_GUARD(identities(g, e, now));
	if (!(arr = json_array()))
		return cl_errorf(CL_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->nids; i++) {
		if (json_array_append_new(arr, cl_guestif_identity_json(&g->ids[i])) != 0) {
			err = cl_errorf(CL_ENOMEM, "out of memory");
			goto out;
		}
	}
	body = json_pack("{s:O}", "devices", arr);
	err = body ? cl_guestif_format_ok(body, out) : cl_errorf(CL_ENOMEM, "out of memory");
out:
	json_decref(arr);
	json_decref(body);
	return err;
}

static cl_err answer_read(gi_server *g, gi_enclave *e, const cl_guestif_req *r, uint64_t now, cl_buf *out)
{
	fwg_identity id, *found = NULL;
	if (g->ids_at_ns && now - g->ids_at_ns < CACHE_NS) {
		for (size_t i = 0; i < g->nids && !found; i++)
			if (strcmp(g->ids[i].addr, r->addr) == 0)
				found = &g->ids[i];
	} else {
		cl_buf ans;
		cl_buf_init(&ans, CL_GUESTIF_IPC_MAX);
		cl_err err = ask(g, e, r, &ans);
		if (err == CL_OK)
			err = cl_guestif_identity_get(&ans, &id);
		if (err == CL_OK)
			err = cl_ipc_get_end(&ans);
		cl_buf_free(&ans);
		if (err == CL_OK && strcmp(id.addr, r->addr) != 0)
			err = cl_errorf(CL_EPROTO, "the agent answered for another device");
		if (err != CL_OK && err != CL_ENOTFOUND)
			return err;
		found = err == CL_OK ? &id : NULL;
	}
	if (!found)
		return cl_guestif_format_err("no_device", "no device at that address", out);
	json_t *body = cl_guestif_identity_json(found);
	CL_ENSURE(body, CL_ENOMEM, "out of memory");
	cl_err err = cl_guestif_format_ok(body, out);
	json_decref(body);
	return err;
}

static cl_err answer_write(gi_server *g, gi_enclave *e, const cl_guestif_req *r, cl_buf *out)
{
	char msg[160];
	const char *region = cl_guestif_region_name(r->region);
	cl_guestif_write_res res;
	cl_buf ans;
	cl_buf_init(&ans, CL_GUESTIF_IPC_MAX);
	cl_err err = ask(g, e, r, &ans);
	if (err == CL_OK)
		err = cl_guestif_write_res_get(&ans, &res);
	if (err == CL_OK)
		err = cl_ipc_get_end(&ans);
	cl_buf_free(&ans);
	CL_GUARD(err);
	switch (res.verdict) {
	case CL_GUESTIF_LIMITED:
	case CL_GUESTIF_LIMITED_HOST:
		bump(g, e, ST_SUPPRESSED);
		snprintf(msg, sizeof(msg),
			 res.verdict == CL_GUESTIF_LIMITED
				 ? "more than %u firmware writes per second (burst %u): not audited, refused"
				 : "more than %u guest firmware writes per second on this host (burst %u): not audited, "
				   "refused",
			 res.rate, res.burst);
		return cl_guestif_format_err("rate_limited", msg, out);
	case CL_GUESTIF_AUDITED:
		bump(g, e, ST_AUDITED);
		snprintf(msg, sizeof(msg), "the %s region of %s is not mapped for guests (audited, seq %" PRIu64 ")",
			 region, r->addr, res.audit_seq);
		return cl_guestif_format_err("no_mapping", msg, out);
	case CL_GUESTIF_NOT_AUDITED:
		break;
	}
	/* Still no mapping: nothing was written. The audit itself failed. */
	bump(g, e, ST_AUDITED);
	snprintf(msg, sizeof(msg), "the %s region of %s is not mapped for guests", region, r->addr);
	return cl_guestif_format_err("no_mapping", msg, out);
}

static void answer(gi_server *g, gi_client *c, const char *line, size_t len, uint64_t now)
{
	cl_guestif_req req;
	cl_err e;
	bump(g, c->enc, ST_REQ);
	if (cl_guestif_parse(line, len, &req) != CL_OK)
		e = cl_guestif_format_err("bad_request", cl_error_detail(), &c->out);
	else if (req.verb == CL_GUESTIF_LIST)
		e = answer_list(g, c->enc, now, &c->out);
	else if (req.verb == CL_GUESTIF_READ)
		e = answer_read(g, c->enc, &req, now, &c->out);
	else
		e = answer_write(g, c->enc, &req, &c->out);
	explicit_bzero(&req, sizeof(req));
	if (e != CL_OK && cl_guestif_format_err("internal", "the host could not answer", &c->out) != CL_OK)
		c->closing = true;
}

/* ---- the secure module (nsm.sock) ---- */

/* One frame's payload (n bytes) answered into out. The gate does the work
 * and the rate limiting; here only the parse and the relay. */
static cl_err answer_nsm(gi_server *g, gi_client *c, const uint8_t *p, size_t n)
{
	cl_nsm_req r;
	cl_buf req, ans;
	const uint8_t *body = NULL;
	size_t len = 0;
	char msg[96];
	bump(g, c->enc, ST_REQ);
	if (cl_nsm_parse(p, n, &r) != CL_OK) {
		const char *d = cl_error_detail();
		return cl_nsm_format(CL_NSM_BAD_REQUEST, d, strlen(d), &c->out);
	}
	cl_buf_init(&req, CL_GUESTIF_IPC_MAX);
	cl_buf_init(&ans, CL_GUESTIF_IPC_MAX);
	cl_err err = cl_nsm_q_encode(c->enc->id, &r, &req);
	if (err == CL_OK)
		err = call(g, c->enc, r.type == CL_NSM_ATTEST ? CL_GUESTIF_Q_ATTEST : CL_GUESTIF_Q_SEAL, &req, &ans);
	if (err == CL_OK && r.type == CL_NSM_ATTEST)
		err = cl_ipc_get_bytes(&ans, CL_NSM_ANSWER_MAX, &body, &len);
	else if (err == CL_OK)
		err = cl_buf_get_ref(&ans, &body, (len = CL_NSM_KEY_LEN));
	if (err == CL_OK)
		err = cl_ipc_get_end(&ans);
	if (err == CL_OK && r.type == CL_NSM_ATTEST && len == 0)
		err = cl_errorf(CL_EPROTO, "the agent answered an empty document");
	if (err == CL_OK) {
		err = cl_nsm_format(CL_NSM_OK, body, len, &c->out);
	} else if (err == CL_ELIMIT) {
		snprintf(msg, sizeof(msg), "more than %u secure-module requests per second (burst %u)", g->o.nsm_rate,
			 g->o.nsm_burst);
		err = cl_nsm_format(CL_NSM_RATE_LIMITED, msg, strlen(msg), &c->out);
	} else if (err == CL_EUNAVAIL || err == CL_ETIMEOUT) {
		snprintf(msg, sizeof(msg), "the host cannot answer now (no attestation certificate yet?): retry later");
		err = cl_nsm_format(CL_NSM_UNAVAILABLE, msg, strlen(msg), &c->out);
	} else {
		snprintf(msg, sizeof(msg), "the host could not answer");
		err = cl_nsm_format(CL_NSM_INTERNAL, msg, strlen(msg), &c->out);
	}
	cl_buf_free(&req); /* wiped: a seal key passed through ans */
	cl_buf_free(&ans);
	explicit_bzero(&r, sizeof(r));
	return err;
}

/* Answers complete frames while the reply buffer has room. */
static void client_pump_nsm(gi_server *g, gi_client *c, uint64_t now)
{
	for (int budget = LINES_PER_ROUND; budget > 0 && !c->closing && c->out.len - c->out.pos < OUT_SOFT; budget--) {
		size_t total = 0;
		if (cl_nsm_frame_len((const uint8_t *)c->in, c->inlen, &total) != CL_OK) {
			const char *d = cl_error_detail();
			if (cl_nsm_format(CL_NSM_BAD_REQUEST, d, strlen(d), &c->out) != CL_OK)
				cl_buf_reset(&c->out);
			c->closing = true; /* a stream without a sound length cannot be resynchronised */
			c->inlen = 0;
			return;
		}
		if (total == 0 || c->inlen < total) {
			if (c->eof)
				c->closing = true; /* a last frame cut short is not a request */
			return;
		}
		if (answer_nsm(g, c, (const uint8_t *)c->in + 4, total - 4) != CL_OK)
			c->closing = true;
		explicit_bzero(c->in, total);
		memmove(c->in, c->in + total, c->inlen - total);
		c->inlen -= total;
		c->deadline_ns = now + (uint64_t)g->o.idle_ms * 1000000u;
	}
}

/* ---- clients ---- */

static void client_close(gi_server *g, gi_client *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	c->enc->nconns--;
	c->enc = NULL;
	g->nclients--;
	cl_buf_free(&c->out);
	explicit_bzero(c->in, sizeof(c->in));
	c->inlen = 0;
}

/* Answers complete lines while the reply buffer has room. */
static void client_pump(gi_server *g, gi_client *c, uint64_t now)
{
	if (c->nsm) {
		client_pump_nsm(g, c, now);
		return;
	}
	for (int budget = LINES_PER_ROUND; budget > 0 && !c->closing && c->out.len - c->out.pos < OUT_SOFT; budget--) {
		char *nl = memchr(c->in, '\n', c->inlen);
		if (!nl) {
			if (c->inlen >= CL_GUESTIF_LINE_MAX) {
				char msg[64];
				snprintf(msg, sizeof(msg), "request line longer than %d bytes", CL_GUESTIF_LINE_MAX);
				if (cl_guestif_format_err("bad_request", msg, &c->out) != CL_OK)
					cl_buf_reset(&c->out);
				c->closing = true;
				c->inlen = 0;
			} else if (c->eof) {
				c->closing = true; /* a last line without '\n' is not a request */
			}
			return;
		}
		size_t n = (size_t)(nl - c->in);
		answer(g, c, c->in, n, now);
		memmove(c->in, nl + 1, c->inlen - n - 1);
		c->inlen -= n + 1;
		c->deadline_ns = now + (uint64_t)g->o.idle_ms * 1000000u;
	}
}

/* A complete request is buffered (or a broken frame header to answer). */
static bool client_has_line(const gi_client *c)
{
	size_t total = 0;
	if (c->closing)
		return false;
	if (c->nsm)
		return cl_nsm_frame_len((const uint8_t *)c->in, c->inlen, &total) != CL_OK ||
		       (total && c->inlen >= total);
	return memchr(c->in, '\n', c->inlen) != NULL;
}

/* What a client may buffer: one line, or one whole frame. */
static size_t client_cap(const gi_client *c)
{
	return c->nsm ? sizeof(c->in) : CL_GUESTIF_LINE_MAX;
}

/* Sends what is buffered; closes a client that is done or broken. */
static void client_flush(gi_server *g, gi_client *c)
{
	while (c->out.pos < c->out.len) {
		ssize_t w = send(c->fd, c->out.data + c->out.pos, c->out.len - c->out.pos, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			client_close(g, c);
			return;
		}
		c->out.pos += (size_t)w;
	}
	cl_buf_reset(&c->out);
	if (c->closing)
		client_close(g, c);
}

static void client_read(gi_server *g, gi_client *c)
{
	ssize_t r = recv(c->fd, c->in + c->inlen, client_cap(c) - c->inlen, MSG_DONTWAIT);
	if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (r < 0) {
		client_close(g, c);
		return;
	}
	if (r == 0)
		c->eof = true;
	c->inlen += (size_t)r;
}

/* Best effort one-line answer on a socket about to be closed. */
static void say(int fd, bool nsm, const char *code, const char *msg)
{
	cl_buf b;
	cl_buf_init(&b, 512);
	/* busy, timeout: the connection closes; a secure-module client retries */
	if ((nsm ? cl_nsm_format(CL_NSM_UNAVAILABLE, msg, strlen(msg), &b) : cl_guestif_format_err(code, msg, &b)) ==
	    CL_OK) {
		ssize_t w = send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
	}
	cl_buf_free(&b);
}

/* Accepts on e's fw.sock, or on its nsm.sock when nsm. */
static void accept_clients(gi_server *g, gi_enclave *e, bool nsm, uint64_t now)
{
	for (int i = 0; i < ACCEPTS_PER_ROUND; i++) {
		int fd = accept4(nsm ? e->nsm_fd : e->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or out of descriptors: try again next round */
		if (e->nconns >= g->o.per_enclave || g->nclients >= g->o.max_conns) {
			bump(g, e, ST_REFUSED);
			say(fd, nsm, "busy", "too many connections to the guest interface");
			close(fd);
			continue;
		}
		gi_client *c = NULL;
		for (unsigned k = 0; k < g->o.max_conns && !c; k++)
			if (g->clients[k].fd < 0)
				c = &g->clients[k];
		if (!c) { /* cannot happen: nclients < max_conns */
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->enc = e;
		c->nsm = nsm;
		cl_buf_init(&c->out, OUT_MAX);
		c->deadline_ns = now + (uint64_t)g->o.idle_ms * 1000000u;
		e->nconns++;
		g->nclients++;
		bump(g, e, ST_ACCEPTED);
	}
}

/* ---- the control channel (from the gate) ---- */

static gi_enclave **find(gi_server *g, const char *id)
{
	gi_enclave **pp = &g->enclaves;
	while (*pp && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void enclave_drop(gi_server *g, gi_enclave *e)
{
	for (unsigned k = 0; k < g->o.max_conns; k++)
		if (g->clients[k].fd >= 0 && g->clients[k].enc == e)
			client_close(g, &g->clients[k]);
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	if (e->nsm_fd >= 0)
		close(e->nsm_fd);
	free(e);
}

typedef struct ctl_args {
	char id[CL_GUESTIF_ID_MAX + 2]; /* one more: "" is allowed for STATS */
	uint8_t socks;                  /* ADD: 1 fw.sock, 2 nsm.sock */
} ctl_args;

static cl_err decode_id(cl_buf *req, void *out)
{
	ctl_args *a = out;
	CL_GUARD(cl_ipc_get_str(req, a->id, sizeof(a->id)));
	CL_ENSURE(cl_guestif_id_valid(a->id), CL_EINVAL, "bad enclave id");
	return CL_OK;
}

static cl_err decode_add(cl_buf *req, void *out)
{
	ctl_args *a = out;
	CL_GUARD(decode_id(req, out));
	CL_GUARD(cl_buf_get_u8(req, &a->socks));
	CL_ENSURE(a->socks >= 1 && a->socks <= 3, CL_EINVAL, "bad socket set");
	return CL_OK;
}

static cl_err decode_id_or_all(cl_buf *req, void *out)
{
	ctl_args *a = out;
	CL_GUARD(cl_ipc_get_str(req, a->id, sizeof(a->id)));
	CL_ENSURE(a->id[0] == '\0' || cl_guestif_id_valid(a->id), CL_EINVAL, "bad enclave id");
	return CL_OK;
}

static cl_err run_add(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	gi_server *g = ctx;
	const ctl_args *a = args;
	int fds[2] = {-1, -1}; /* fw, nsm */
	size_t k = 0;
	for (int bit = 0; bit < 2; bit++)
		if (a->socks & (1u << bit))
			fds[bit] = cl_ipc_server_take_fd(&g->control, k++);
	if ((a->socks & 1 && fds[0] < 0) || (a->socks & 2 && fds[1] < 0)) {
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return cl_errorf(CL_EINVAL, "add without its sockets");
	}
	gi_enclave **pp = find(g, a->id), *e = *pp;
	if (!e) {
		if (!(e = calloc(1, sizeof(*e)))) {
			for (int i = 0; i < 2; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			return cl_errorf(CL_ENOMEM, "out of memory");
		}
		memcpy(e->id, a->id, strlen(a->id) + 1); /* valid: at most 63 characters */
		e->listen_fd = e->nsm_fd = -1;
		e->next = g->enclaves;
		g->enclaves = e;
	}
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	if (e->nsm_fd >= 0)
		close(e->nsm_fd);
	e->listen_fd = fds[0];
	e->nsm_fd = fds[1];
	return CL_OK;
}

static cl_err run_remove(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	gi_server *g = ctx;
	const ctl_args *a = args;
	gi_enclave **pp = find(g, a->id);
	if (*pp) {
		gi_enclave *e = *pp;
		*pp = e->next;
		enclave_drop(g, e);
	}
	return CL_OK;
}

static cl_err run_stats(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	gi_server *g = ctx;
	const ctl_args *a = args;
	cl_guestif_stats none = {0};
	if (!a->id[0])
		return cl_guestif_stats_put(ans, &g->st);
	gi_enclave *e = *find(g, a->id);
	return cl_guestif_stats_put(ans, e ? &e->st : &none);
}

#define ID_WIRE (2 + CL_GUESTIF_ID_MAX)
static const cl_ipc_handler ctl_handlers[] = {
	{CL_GUESTIF_C_ADD, "add", ID_WIRE + 1, decode_add, run_add, 2},
	{CL_GUESTIF_C_REMOVE, "remove", ID_WIRE, decode_id, run_remove, 0},
	{CL_GUESTIF_C_STATS, "stats", ID_WIRE, decode_id_or_all, run_stats, 0},
};

/* ---- the loop ---- */

static cl_err serve(gi_server *g)
{
	size_t cap = 1 + 1 + g->o.max_conns; /* control, listeners (grown below), clients */
	struct pollfd *pf = NULL;
	void **who = NULL;   /* gi_enclave* for listeners, gi_client* for clients */
	bool *isnsm = NULL;  /* listeners: nsm.sock (else fw.sock) */
	cl_err err = CL_OK;
	while (!g->stop) {
		size_t nenc = 0;
		for (gi_enclave *e = g->enclaves; e; e = e->next)
			nenc++;
		if (!pf || 1 + 2 * nenc + g->o.max_conns > cap) {
			cap = 1 + 2 * nenc + g->o.max_conns + 16;
			struct pollfd *npf = realloc(pf, cap * sizeof(*pf));
			if (npf)
				pf = npf;
			void **nwho = npf ? realloc(who, cap * sizeof(*who)) : NULL;
			if (nwho)
				who = nwho;
			bool *nis = nwho ? realloc(isnsm, cap * sizeof(*isnsm)) : NULL;
			if (!npf || !nwho || !nis) {
				err = cl_errorf(CL_ENOMEM, "guest interface: out of memory");
				break;
			}
			isnsm = nis;
		}
		uint64_t now = cl_now_mono_ns(), next = now + 60000000000ull;
		size_t k = 0, nlisten;
		pf[k++] = (struct pollfd){.fd = g->control.fd, .events = POLLIN};
		for (gi_enclave *e = g->enclaves; e; e = e->next) {
			for (int n = 0; n < 2; n++) {
				int fd = n ? e->nsm_fd : e->listen_fd;
				if (fd < 0)
					continue;
				who[k] = e;
				isnsm[k] = n == 1;
				pf[k++] = (struct pollfd){.fd = fd, .events = POLLIN};
			}
		}
		nlisten = k;
		for (unsigned i = 0; i < g->o.max_conns; i++) {
			gi_client *c = &g->clients[i];
			if (c->fd < 0)
				continue;
			short ev = 0;
			if (!c->eof && !c->closing && c->inlen < sizeof(c->in))
				ev |= POLLIN;
			if (c->out.pos < c->out.len)
				ev |= POLLOUT;
			if (client_has_line(c) && c->out.len - c->out.pos < OUT_SOFT)
				next = now; /* lines left over from the last round */
			if (c->deadline_ns < next)
				next = c->deadline_ns;
			who[k] = c;
			pf[k++] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		int timeout = next <= now ? 0 : (int)((next - now) / 1000000u) + 1;
		int rc = poll(pf, k, timeout);
		if (rc < 0 && errno != EINTR) {
			err = cl_errorf(CL_ESYS, "guest interface: poll: %s", strerror(errno));
			break;
		}
		now = cl_now_mono_ns();
		if (rc > 0 && pf[0].revents) {
			cl_err e = cl_ipc_server_serve_one(&g->control);
			if (e == CL_EUNAVAIL)
				break; /* the gate is gone: so are we (the supervisor starts a new pair) */
			if (e != CL_OK) {
				err = e;
				break;
			}
			continue; /* the sets changed: poll again */
		}
		/* Clients first: a slot freed here may be reused by an accept below. */
		for (size_t j = nlisten; j < k; j++) {
			gi_client *c = who[j];
			if (rc > 0 && (pf[j].revents & (POLLIN | POLLHUP | POLLERR)))
				client_read(g, c);
			if (c->fd < 0)
				continue;
			client_pump(g, c, now);
			client_flush(g, c);
			if (c->fd >= 0 && now >= c->deadline_ns) {
				char msg[64];
				snprintf(msg, sizeof(msg), "no request for %u ms", g->o.idle_ms);
				bump(g, c->enc, ST_IDLE);
				say(c->fd, c->nsm, "timeout", msg);
				client_close(g, c);
			}
		}
		for (size_t j = 1; rc > 0 && j < nlisten; j++)
			if (pf[j].revents & POLLIN)
				accept_clients(g, who[j], isnsm[j], now);
	}
	free(pf);
	free(who);
	free(isnsm);
	return err;
}

static void set_defaults(cl_guestif_opts *o)
{
	o->write_rate = o->write_rate ? o->write_rate : CL_GUESTIF_WRITE_RATE;
	o->write_burst = o->write_burst ? o->write_burst : CL_GUESTIF_WRITE_BURST;
	o->nsm_rate = o->nsm_rate ? o->nsm_rate : CL_GUESTIF_NSM_RATE;
	o->nsm_burst = o->nsm_burst ? o->nsm_burst : CL_GUESTIF_NSM_BURST;
	o->host_rate = o->host_rate ? o->host_rate : CL_GUESTIF_HOST_RATE;
	o->host_burst = o->host_burst ? o->host_burst : CL_GUESTIF_HOST_BURST;
	o->idle_ms = o->idle_ms ? o->idle_ms : CL_GUESTIF_IDLE_MS;
	o->per_enclave = o->per_enclave ? o->per_enclave : CL_GUESTIF_PER_ENCLAVE;
	o->max_conns = o->max_conns ? o->max_conns : CL_GUESTIF_MAX_CONNS;
}

int cl_guestif_main(int fd_query, int fd_control, const cl_guestif_proc_opts *opts)
{
	static const cl_guestif_proc_opts none;
	gi_server g;
	cl_harden_report rep = {0};
	cl_err err;
	if (!opts)
		opts = &none;
	memset(&g, 0, sizeof(g));
	g.o = opts->limits;
	set_defaults(&g.o);
	/* Before a byte of any guest is read: no core, no ptrace by same-uid
	 * peers; a write to a closed socket is an error, not a signal. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		cl_error("guest interface: cannot start (dumpable)");
		return 1;
	}
	if (fd_query <= 2 || fd_control <= 2) {
		err = cl_errorf(CL_EINVAL, "channels on stdio");
		goto out;
	}
	const int keep[] = {fd_query, fd_control};
	CL_GUARD_OUT(err, cl_close_fds_except(keep, 2));
	if (g.o.max_conns > MAX_CONNS_LIMIT) {
		err = cl_errorf(CL_EINVAL, "guest interface: limits out of range");
		goto out;
	}
	if (!(g.clients = calloc(g.o.max_conns, sizeof(*g.clients)))) {
		err = cl_errorf(CL_ENOMEM, "guest interface: out of memory");
		goto out;
	}
	for (unsigned i = 0; i < g.o.max_conns; i++)
		g.clients[i].fd = -1;
	cl_ipc_client_init(&g.query, fd_query, CL_GUESTIF_IPC_MAX, CL_GUESTIF_IPC_TIMEOUT_MS);
	cl_ipc_server_init(&g.control, fd_control, "guestif/control", ctl_handlers,
			   sizeof(ctl_handlers) / sizeof(ctl_handlers[0]), CL_GUESTIF_IPC_MAX, &g);
	/* Lazily read files, read now while there is a file system: jansson
	 * seeds its hash function from /dev/urandom at the first object, glibc
	 * reads /etc/localtime at the first gmtime_r (a log line). */
	json_object_seed(0);
	tzset();
	if (!opts->no_harden) {
		/* No path and no port: Landlock leaves it no file system and no TCP. */
		cl_harden_policy pol = {.syscalls = cl_role_guestif, .on_violation = opts->on_violation};
		if (opts->switch_user)
			CL_GUARD_OUT(err, cl_harden_drop_privileges(opts->uid, opts->gid, 0, NULL));
		else
			CL_GUARD_OUT(err, cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, 0, NULL));
		CL_GUARD_OUT(err, cl_harden_process(&pol, &rep));
	}
	cl_info("guest interface: serving as uid %u, landlock ABI %d, seccomp %s", (unsigned)geteuid(),
		rep.landlock_abi, rep.seccomp_applied ? "on" : "off");
	err = serve(&g);
out:
	if (err != CL_OK)
		cl_error("guest interface: %s: %s", cl_err_name(err), cl_error_detail());
	for (unsigned i = 0; g.clients && i < g.o.max_conns; i++)
		if (g.clients[i].fd >= 0)
			client_close(&g, &g.clients[i]);
	while (g.enclaves) {
		gi_enclave *e = g.enclaves;
		g.enclaves = e->next;
		enclave_drop(&g, e);
	}
	free(g.clients);
	return err == CL_OK ? 0 : 1;
}
