/* guestif.c — the guest interface server: one thread, poll() over a wake
 * pipe, one listening socket per enclave and a bounded set of client
 * connections. Wire format and limits: guestif.h, docs/guest-interface.md.
 *
 * Ownership: the thread owns the enclave list, the client slots and every
 * socket it serves. Other threads (the agent's main thread) only queue
 * commands (add: a socket already bound; remove; stop) under g->lock and
 * wake the thread; they read counters under the same lock. The thread takes
 * the lock only to apply commands and to bump counters, never around I/O.
 *
 * Abuse limits: a client holds at most one request line (512 bytes) and a
 * bounded reply buffer; a client is served at most a few lines per round
 * (fairness); no request for idle_ms closes it; per-enclave and global
 * connection caps refuse new ones with "ERR busy". Audited writes are
 * rate-limited per enclave by a token bucket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "guestif/guestif.h"

#define OUT_MAX (64u << 10)  /* reply bytes buffered per client */
#define OUT_SOFT (16u << 10) /* stop answering a client that does not read */
#define LINES_PER_ROUND 8
#define ACCEPTS_PER_ROUND 16
#define REPORT_NS 1000000000ull /* suppressed-write report period */
#define MAX_CONNS_LIMIT 4096u

typedef struct gi_enclave {
	char id[64];
	int listen_fd;
	unsigned nconns;
	cl_guestif_bucket bucket;
	uint64_t suppressed_pending; /* since the last report */
	uint64_t report_due_ns;      /* 0 = nothing to report */
	cl_guestif_stats st;         /* under g->lock */
	struct gi_enclave *next;
} gi_enclave;

typedef struct gi_client {
	int fd; /* -1 = free slot */
	gi_enclave *enc;
	char in[CL_GUESTIF_LINE_MAX];
	size_t inlen;
	cl_buf out; /* pos = bytes already sent */
	uint64_t deadline_ns;
	bool eof, closing;
} gi_client;

enum { CMD_ADD = 1, CMD_REMOVE };

typedef struct gi_cmd {
	int kind;
	char id[64];
	int fd;
	struct gi_cmd *next;
} gi_cmd;

struct cl_guestif {
	fwg_host *h;
	char base[PATH_MAX];
	cl_guestif_opts o;
	char addrs[FWG_MAX_DEVICES][FWG_ADDR_MAX + 1];
	size_t naddrs;
	pthread_t thread;
	int wake[2];
	pthread_mutex_t lock;
	gi_cmd *cmds, **cmds_tail; /* under lock */
	bool stop;                 /* under lock */
	gi_enclave *enclaves;      /* changed by the thread under lock */
	cl_guestif_stats st;       /* under lock */
	cl_guestif_bucket host_bucket; /* thread only: audited writes of all enclaves */
	gi_client *clients;        /* thread only */
	unsigned nclients;
};

static bool valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return false;
	return true;
}

/* ---- counters ---- */

enum stat_kind { ST_REQ, ST_AUDITED, ST_SUPPRESSED, ST_ACCEPTED, ST_REFUSED, ST_IDLE };

static void bump(cl_guestif *g, gi_enclave *e, enum stat_kind k)
{
	pthread_mutex_lock(&g->lock);
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
	pthread_mutex_unlock(&g->lock);
}

void cl_guestif_stats_get(cl_guestif *g, const char *id, cl_guestif_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	if (!id) {
		*out = g->st;
	} else {
		for (gi_enclave *e = g->enclaves; e; e = e->next)
			if (strcmp(e->id, id) == 0)
				*out = e->st;
	}
	pthread_mutex_unlock(&g->lock);
}

/* ---- requests ---- */

static cl_err answer_list(cl_guestif *g, cl_buf *out)
{
	json_t *arr = json_array(), *body = NULL;
	cl_err e = CL_OK;
	if (!arr)
		return cl_errorf(CL_ENOMEM, "out of memory");
	for (size_t i = 0; i < g->naddrs; i++) {
		fwg_identity id;
		CL_GUARD_OUT(e, fwg_guest_read(g->h, g->addrs[i], &id));
		if (json_array_append_new(arr, cl_guestif_identity_json(&id)) != 0) {
			e = cl_errorf(CL_ENOMEM, "out of memory");
			goto out;
		}
	}
	body = json_pack("{s:O}", "devices", arr);
	e = body ? cl_guestif_format_ok(body, out) : cl_errorf(CL_ENOMEM, "out of memory");
out:
	json_decref(arr);
	json_decref(body);
	return e;
}

static cl_err answer_read(cl_guestif *g, const char *addr, cl_buf *out)
{
	fwg_identity id;
	cl_err e = fwg_guest_read(g->h, addr, &id);
	if (e == CL_ENOTFOUND)
		return cl_guestif_format_err("no_device", "no device at that address", out);
	CL_GUARD(e);
	json_t *body = cl_guestif_identity_json(&id);
	CL_ENSURE(body, CL_ENOMEM, "out of memory");
	e = cl_guestif_format_ok(body, out);
	json_decref(body);
	return e;
}

static cl_err answer_write(cl_guestif *g, gi_enclave *enc, const cl_guestif_req *r, uint64_t now, cl_buf *out)
{
	char msg[160];
	const char *region = cl_guestif_region_name(r->region);
	bool mine = cl_guestif_bucket_take(&enc->bucket, now, g->o.write_rate, g->o.write_burst);
	/* the host-wide bucket keeps many enclaves together from growing the
	 * audit log (and the alarms it raises) without bound */
	if (!mine || !cl_guestif_bucket_take(&g->host_bucket, now, g->o.host_rate, g->o.host_burst)) {
		enc->suppressed_pending++;
		if (!enc->report_due_ns)
			enc->report_due_ns = now + REPORT_NS;
		bump(g, enc, ST_SUPPRESSED);
		if (mine)
			snprintf(msg, sizeof(msg),
				 "more than %u guest firmware writes per second on this host (burst %u): not audited, "
				 "refused", g->o.host_rate, g->o.host_burst);
		else
			snprintf(msg, sizeof(msg),
				 "more than %u firmware writes per second (burst %u): not audited, refused",
				 g->o.write_rate, g->o.write_burst);
		return cl_guestif_format_err("rate_limited", msg, out);
	}
	fwg_outcome o = {0};
	cl_err e = fwg_guest_write(g->h, r->addr, r->region, r->offset, r->data, r->len, &o);
	bump(g, enc, ST_AUDITED);
	if (e == CL_EPERM && o.reason == FWG_R_NO_MAPPING) {
		cl_warn("guest firmware write refused id=%s device=%s region=%s offset=%" PRIu64 " bytes=%zu "
			"reason=no_mapping audit_seq=%" PRIu64,
			enc->id, r->addr, region, r->offset, r->len, o.audit_seq);
		snprintf(msg, sizeof(msg), "the %s region of %s is not mapped for guests (audited, seq %" PRIu64 ")",
			 region, r->addr, o.audit_seq);
	} else {
		/* Still no mapping: nothing was written. The audit itself failed. */
		cl_error("guest firmware write refused but not audited id=%s device=%s region=%s err=\"%s\"", enc->id,
			 r->addr, region, cl_error_detail());
		snprintf(msg, sizeof(msg), "the %s region of %s is not mapped for guests", region, r->addr);
	}
	return cl_guestif_format_err("no_mapping", msg, out);
}

static void answer(cl_guestif *g, gi_client *c, const char *line, size_t len, uint64_t now)
{
	cl_guestif_req req;
	cl_err e;
	bump(g, c->enc, ST_REQ);
	if (cl_guestif_parse(line, len, &req) != CL_OK) {
		e = cl_guestif_format_err("bad_request", cl_error_detail(), &c->out);
	} else if (req.verb == CL_GUESTIF_LIST) {
		e = answer_list(g, &c->out);
	} else if (req.verb == CL_GUESTIF_READ) {
		e = answer_read(g, req.addr, &c->out);
	} else {
		e = answer_write(g, c->enc, &req, now, &c->out);
	}
	if (e != CL_OK) {
		cl_warn("guest interface request failed id=%s err=\"%s\"", c->enc->id, cl_error_detail());
		if (cl_guestif_format_err("internal", "the host could not answer", &c->out) != CL_OK)
			c->closing = true;
	}
}

/* ---- clients ---- */

static void client_close(cl_guestif *g, gi_client *c)
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
static void client_pump(cl_guestif *g, gi_client *c, uint64_t now)
{
	for (int budget = LINES_PER_ROUND; budget > 0 && !c->closing && c->out.len - c->out.pos < OUT_SOFT; budget--) {
		char *nl = memchr(c->in, '\n', c->inlen);
		if (!nl) {
			if (c->inlen == sizeof(c->in)) {
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

static bool client_has_line(const gi_client *c)
{
	return !c->closing && memchr(c->in, '\n', c->inlen) != NULL;
}

/* Sends what is buffered; closes a client that is done or broken. */
static void client_flush(cl_guestif *g, gi_client *c)
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

static void client_read(cl_guestif *g, gi_client *c)
{
	ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
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
static void say(int fd, const char *code, const char *msg)
{
	cl_buf b;
	cl_buf_init(&b, 512);
	if (cl_guestif_format_err(code, msg, &b) == CL_OK) {
		ssize_t w = send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
	}
	cl_buf_free(&b);
}

static void accept_clients(cl_guestif *g, gi_enclave *e, uint64_t now)
{
	for (int i = 0; i < ACCEPTS_PER_ROUND; i++) {
		int fd = accept4(e->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or out of descriptors: try again next round */
		if (e->nconns >= g->o.per_enclave || g->nclients >= g->o.max_conns) {
			bump(g, e, ST_REFUSED);
			say(fd, "busy", "too many connections to the guest interface");
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
		cl_buf_init(&c->out, OUT_MAX);
		c->deadline_ns = now + (uint64_t)g->o.idle_ms * 1000000u;
		e->nconns++;
		g->nclients++;
		bump(g, e, ST_ACCEPTED);
	}
}

/* ---- commands from other threads ---- */

static void enclave_drop(cl_guestif *g, gi_enclave *e)
{
	for (unsigned k = 0; k < g->o.max_conns; k++)
		if (g->clients[k].fd >= 0 && g->clients[k].enc == e)
			client_close(g, &g->clients[k]);
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	if (e->suppressed_pending)
		cl_warn("guest firmware writes refused without audit (rate limit) id=%s suppressed=%" PRIu64, e->id,
			e->suppressed_pending);
	free(e);
}

/* Applies queued commands; returns true when told to stop. */
static bool apply_cmds(cl_guestif *g)
{
	char drain[64];
	while (read(g->wake[0], drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&g->lock);
	bool stop = g->stop;
	gi_cmd *list = g->cmds;
	g->cmds = NULL;
	g->cmds_tail = &g->cmds;
	pthread_mutex_unlock(&g->lock);
	while (list) {
		gi_cmd *cmd = list;
		list = cmd->next;
		gi_enclave **pp = &g->enclaves;
		while (*pp && strcmp((*pp)->id, cmd->id) != 0)
			pp = &(*pp)->next;
		if (cmd->kind == CMD_ADD && *pp) {
			if ((*pp)->listen_fd >= 0)
				close((*pp)->listen_fd);
			(*pp)->listen_fd = cmd->fd;
		} else if (cmd->kind == CMD_ADD) {
			gi_enclave *e = calloc(1, sizeof(*e));
			if (!e) {
				cl_warn("guest interface: out of memory; enclave not served id=%s", cmd->id);
				close(cmd->fd);
			} else {
				snprintf(e->id, sizeof(e->id), "%s", cmd->id);
				e->listen_fd = cmd->fd;
				pthread_mutex_lock(&g->lock);
				e->next = g->enclaves;
				g->enclaves = e;
				pthread_mutex_unlock(&g->lock);
			}
		} else if (*pp) {
			gi_enclave *e = *pp;
			pthread_mutex_lock(&g->lock);
			*pp = e->next;
			pthread_mutex_unlock(&g->lock);
			enclave_drop(g, e);
		}
		free(cmd);
	}
	return stop;
}

static void queue_cmd(cl_guestif *g, gi_cmd *cmd)
{
	pthread_mutex_lock(&g->lock);
	*g->cmds_tail = cmd;
	g->cmds_tail = &cmd->next;
	pthread_mutex_unlock(&g->lock);
	ssize_t w = write(g->wake[1], "w", 1); /* EAGAIN: a wake-up is already pending */
	(void)w;
}

/* ---- the thread ---- */

static void report_suppressed(gi_enclave *e, uint64_t now)
{
	if (!e->report_due_ns || now < e->report_due_ns)
		return;
	cl_warn("guest firmware writes refused without audit (rate limit) id=%s suppressed=%" PRIu64 " period_s=1",
		e->id, e->suppressed_pending);
	e->suppressed_pending = 0;
	e->report_due_ns = 0;
}

static void *serve(void *arg)
{
	cl_guestif *g = arg;
	struct pollfd *pf = NULL;
	void **who = NULL; /* gi_enclave* for listeners, gi_client* for clients */
	size_t cap = 0;
	while (!apply_cmds(g)) {
		size_t nenc = 0;
		for (gi_enclave *e = g->enclaves; e; e = e->next)
			nenc++;
		size_t need = 1 + nenc + g->o.max_conns;
		if (need > cap) {
			struct pollfd *npf = realloc(pf, need * sizeof(*pf));
			if (npf)
				pf = npf;
			void **nwho = npf ? realloc(who, need * sizeof(*who)) : NULL;
			if (!npf || !nwho) {
				cl_error("guest interface: out of memory; retrying");
				struct timespec ts = {0, 100000000};
				nanosleep(&ts, NULL);
				continue;
			}
			who = nwho;
			cap = need;
		}
		uint64_t now = cl_now_mono_ns(), next = now + 60000000000ull;
		size_t k = 0, nlisten;
		pf[k++] = (struct pollfd){.fd = g->wake[0], .events = POLLIN};
		for (gi_enclave *e = g->enclaves; e; e = e->next) {
			if (e->report_due_ns && e->report_due_ns < next)
				next = e->report_due_ns;
			if (e->listen_fd < 0)
				continue;
			who[k] = e;
			pf[k++] = (struct pollfd){.fd = e->listen_fd, .events = POLLIN};
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
			cl_error("guest interface: poll: %s", strerror(errno));
			struct timespec ts = {0, 100000000};
			nanosleep(&ts, NULL);
			continue;
		}
		now = cl_now_mono_ns();
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
				say(c->fd, "timeout", msg);
				client_close(g, c);
			}
		}
		for (size_t j = 1; rc > 0 && j < nlisten; j++)
			if (pf[j].revents & POLLIN)
				accept_clients(g, who[j], now);
		for (gi_enclave *e = g->enclaves; e; e = e->next)
			report_suppressed(e, now);
	}
	for (unsigned i = 0; i < g->o.max_conns; i++)
		client_close(g, &g->clients[i]);
	pthread_mutex_lock(&g->lock);
	gi_enclave *list = g->enclaves;
	g->enclaves = NULL;
	pthread_mutex_unlock(&g->lock);
	while (list) {
		gi_enclave *e = list;
		list = e->next;
		enclave_drop(g, e);
	}
	free(pf);
	free(who);
	return NULL;
}

/* ---- public ---- */

cl_err cl_guestif_start(fwg_host *h, const char *base, const cl_guestif_opts *opts, cl_guestif **out)
{
	CL_ENSURE(h && base && base[0] == '/' && out, CL_EINVAL, "guest interface: host and absolute base required");
	*out = NULL;
	cl_guestif *g = calloc(1, sizeof(*g));
	CL_ENSURE(g, CL_ENOMEM, "guest interface: out of memory");
	cl_err e = CL_OK;
	g->h = h;
	g->wake[0] = g->wake[1] = -1;
	g->cmds_tail = &g->cmds;
	if (opts)
		g->o = *opts;
	g->o.write_rate = g->o.write_rate ? g->o.write_rate : CL_GUESTIF_WRITE_RATE;
	g->o.write_burst = g->o.write_burst ? g->o.write_burst : CL_GUESTIF_WRITE_BURST;
	g->o.host_rate = g->o.host_rate ? g->o.host_rate : CL_GUESTIF_HOST_RATE;
	g->o.host_burst = g->o.host_burst ? g->o.host_burst : CL_GUESTIF_HOST_BURST;
	g->o.idle_ms = g->o.idle_ms ? g->o.idle_ms : CL_GUESTIF_IDLE_MS;
	g->o.per_enclave = g->o.per_enclave ? g->o.per_enclave : CL_GUESTIF_PER_ENCLAVE;
	g->o.max_conns = g->o.max_conns ? g->o.max_conns : CL_GUESTIF_MAX_CONNS;
	pthread_mutex_init(&g->lock, NULL);
	if (g->o.max_conns > MAX_CONNS_LIMIT || g->o.write_burst > 1000000u) {
		e = cl_errorf(CL_EINVAL, "guest interface: limits out of range");
		goto out;
	}
	if (snprintf(g->base, sizeof(g->base), "%s", base) >= (int)sizeof(g->base)) {
		e = cl_errorf(CL_ETOOBIG, "guest interface: base path too long");
		goto out;
	}
	fwg_host_status *st = calloc(1, sizeof(*st));
	if (!st) {
		e = cl_errorf(CL_ENOMEM, "guest interface: out of memory");
		goto out;
	}
	e = fwg_host_status_get(h, st);
	for (size_t i = 0; e == CL_OK && i < st->ndev && i < FWG_MAX_DEVICES; i++)
		snprintf(g->addrs[g->naddrs++], sizeof(g->addrs[0]), "%s", st->dev[i].addr);
	free(st);
	if (e != CL_OK)
		goto out;
	CL_GUARD_OUT(e, cl_mkdir_p(g->base, 0711));
	g->clients = calloc(g->o.max_conns, sizeof(*g->clients));
	if (!g->clients) {
		e = cl_errorf(CL_ENOMEM, "guest interface: out of memory");
		goto out;
	}
	for (unsigned i = 0; i < g->o.max_conns; i++)
		g->clients[i].fd = -1;
	if (pipe2(g->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		e = cl_errorf(CL_ESYS, "guest interface: pipe: %s", strerror(errno));
		goto out;
	}
	int rc = pthread_create(&g->thread, NULL, serve, g);
	if (rc != 0) {
		e = cl_errorf(CL_ESYS, "guest interface: thread: %s", strerror(rc));
		goto out;
	}
	*out = g;
	return CL_OK;
out:
	for (int i = 0; i < 2; i++)
		if (g->wake[i] >= 0)
			close(g->wake[i]);
	free(g->clients);
	pthread_mutex_destroy(&g->lock);
	free(g);
	return e;
}

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

cl_err cl_guestif_add(cl_guestif *g, const char *id, char *dir, size_t n)
{
	char path[PATH_MAX];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	CL_ENSURE(g, CL_EINVAL, "guest interface: not running");
	CL_ENSURE(valid_id(id), CL_EINVAL, "guest interface: bad enclave id");
	CL_ENSURE(snprintf(path, sizeof(path), "%s/%s", g->base, id) < (int)sizeof(path), CL_ETOOBIG,
		  "guest interface: path too long");
	CL_ENSURE(!dir || snprintf(dir, n, "%s", path) < (int)n, CL_ETOOBIG, "guest interface: path too long");
	CL_ENSURE(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", path, CL_GUESTIF_SOCK) < (int)sizeof(sa.sun_path),
		  CL_ETOOBIG, "guest interface: socket path %s/%s too long", path, CL_GUESTIF_SOCK);
	bool existed = access(path, F_OK) == 0;
	CL_GUARD(make_enclave_dir(path));
	cl_err e = CL_OK;
	gi_cmd *cmd = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = cl_errorf(CL_ESYS, "guest interface: socket: %s", strerror(errno));
		goto out;
	}
	if (unlink(sa.sun_path) != 0 && errno != ENOENT) {
		e = cl_errorf(CL_ESYS, "guest interface: unlink %s: %s", sa.sun_path, strerror(errno));
		goto out;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chmod(sa.sun_path, 0666) != 0 || listen(fd, 16) != 0) {
		e = cl_errorf(CL_ESYS, "guest interface: %s: %s", sa.sun_path, strerror(errno));
		goto out;
	}
	if (!(cmd = calloc(1, sizeof(*cmd)))) {
		e = cl_errorf(CL_ENOMEM, "guest interface: out of memory");
		goto out;
	}
	cmd->kind = CMD_ADD;
	snprintf(cmd->id, sizeof(cmd->id), "%s", id);
	cmd->fd = fd;
	queue_cmd(g, cmd);
	return CL_OK;
out:
	if (fd >= 0) {
		close(fd);
		unlink(sa.sun_path);
	}
	if (!existed && cl_rm_rf(path) != CL_OK)
		cl_warn("guest interface: cannot remove %s", path);
	return e;
}

static void remove_dir(const char *base, const char *id)
{
	char path[PATH_MAX];
	if (!valid_id(id) || snprintf(path, sizeof(path), "%s/%s", base, id) >= (int)sizeof(path))
		return;
	if (cl_rm_rf(path) != CL_OK)
		cl_warn("guest interface: cannot remove %s err=\"%s\"", path, cl_error_detail());
}

void cl_guestif_remove(cl_guestif *g, const char *id)
{
	if (!g || !valid_id(id))
		return;
	remove_dir(g->base, id); /* first: no new connection finds the socket */
	gi_cmd *cmd = calloc(1, sizeof(*cmd));
	if (!cmd) {
		cl_warn("guest interface: out of memory; %s stays served until the agent restarts", id);
		return;
	}
	cmd->kind = CMD_REMOVE;
	cmd->fd = -1;
	snprintf(cmd->id, sizeof(cmd->id), "%s", id);
	queue_cmd(g, cmd);
}

size_t cl_guestif_prune(const char *base, bool (*keep)(const char *id, void *ctx), void *ctx)
{
	DIR *d = opendir(base);
	size_t n = 0;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!valid_id(de->d_name) || keep(de->d_name, ctx))
			continue;
		remove_dir(base, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

void cl_guestif_stop(cl_guestif *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_mutex_unlock(&g->lock);
	ssize_t w = write(g->wake[1], "s", 1);
	(void)w;
	pthread_join(g->thread, NULL);
	while (g->cmds) {
		gi_cmd *c = g->cmds;
		g->cmds = c->next;
		if (c->fd >= 0)
			close(c->fd);
		free(c);
	}
	close(g->wake[0]);
	close(g->wake[1]);
	free(g->clients);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
