/* conn.c — connection admission for the control plane (see conn.h).
 *
 * Built from libevent 2.1's public API only (2.1 has no per-connection hook
 * in evhttp): evhttp calls the bufferevent callback exactly once per accepted
 * connection, before it sets the socket, and the TLS bufferevent made there
 * carries everything:
 *
 *   - the record, as ex_data of its SSL object, whose free callback runs
 *     when the bufferevent is destroyed: a reliable "connection gone" hook;
 *   - a callback on its input buffer (the decrypted bytes) that finds where
 *     a request's headers end and counts them, without parsing HTTP;
 *   - a callback on its output buffer that rewrites libevent's own error
 *     pages into JSON (conn_http.c).
 *
 * (A bufferevent_filter around the TLS bufferevent would give the same
 * hooks, but under evhttp 2.1 a filter neither writes a reply queued while
 * writing was disabled nor holds a "Connection: close" reply back until the
 * socket took it: replies stall or are lost. Measured; not used.)
 *
 * The peer's address is not known inside that callback: the record's event
 * is made active there and runs once the listener's accept loop returns,
 * when evhttp has set the socket; admission happens then. Closing is a
 * shutdown(2) of the socket: evhttp reads the end of stream and frees the
 * connection, which frees the record.
 */
#include "control/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/tls.h"

enum conn_state { CS_HEADERS, CS_BODY, CS_SERVING, CS_IDLE };
/* Eviction order: connections that sent nothing yet (not even a TLS
 * handshake's worth of request), then those in their first request, then
 * those that completed one and wait for the next. */
enum conn_queue { Q_NONE, Q_SILENT, Q_ACTIVE, Q_KEPT, Q_N };
enum { PAUSE_CLOSING = 1, PAUSE_FDS = 2 };
enum { TO_HEADER, TO_BODY, TO_IDLE, TO_N };

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn) all;   /* every record of the table */
	TAILQ_ENTRY(ctl_conn) queue; /* in tab->queues[queued] while evictable */
	enum conn_queue queued;
	ctl_conns *tab;
	struct bufferevent *bev; /* the TLS bufferevent (evhttp owns it) */
	struct event *ev;        /* admission, then the current timeout */
	struct evbuffer_cb_entry *in_cb, *out_cb;
	enum conn_state state;
	bool admitted, closing, addr_counted, header_overflow;
	uint8_t addr[16]; /* per-address key: IPv4 as ::ffff:a.b.c.d, IPv6 its /64 */
	uint64_t accepted_ms;
	ctl_head_scan scan;
};

typedef struct addr_slot {
	uint8_t key[16];
	uint32_t count; /* 0 = empty slot */
} addr_slot;

TAILQ_HEAD(conn_list, ctl_conn);

struct ctl_conns {
	ctl_server *srv;
	ctl_conn_limits lim;
	struct evconnlistener *lev;
	struct event *resume_ev; /* ends a pause after an accept() failure */
	unsigned paused;         /* PAUSE_* bits; the listener runs when 0 */
	bool shut;
	struct conn_list all, queues[Q_N]; /* queues: the evictable connections, oldest first */
	unsigned total;   /* records (sockets) alive, closing ones included */
	unsigned closing; /* of those, shut down and awaiting evhttp's free */
	addr_slot *slots; /* open addressing, linear probing, power-of-two size */
	size_t mask;
	uint64_t seed[2];
	/* counters for /metrics */
	uint64_t accepted, refused_addr, refused_full, evicted, timed_out[TO_N], pauses_closing, pauses_fds;
};

static int conn_ex_idx = -1; /* SSL ex_data slot of the record (process-wide, set once) */
/* The table whose listener reports accept() errors: the error callback gets
 * the listener's user data, which evhttp set to itself. One listener. */
static ctl_conns *listening_table;

static uint64_t now_ms(void)
{
	return cl_now_mono_ns() / 1000000u;
}

/* ---- per-address counts ---- */

static size_t addr_hash(const ctl_conns *t, const uint8_t k[16])
{
	uint64_t a, b;
	memcpy(&a, k, 8);
	memcpy(&b, k + 8, 8);
	/* Keyed so that a peer cannot pick colliding addresses offline. */
	uint64_t h = (a ^ t->seed[0]) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	h += (b ^ t->seed[1]) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 29;
	return (size_t)h & t->mask;
}

/* The slot holding key, or the empty slot where it would go. The table is
 * sized to twice the most keys it can hold, so an empty slot exists. */
static size_t addr_find(const ctl_conns *t, const uint8_t k[16])
{
	size_t i = addr_hash(t, k);
	while (t->slots[i].count && memcmp(t->slots[i].key, k, 16) != 0)
		i = (i + 1) & t->mask;
	return i;
}

static unsigned addr_count(const ctl_conns *t, const uint8_t k[16])
{
	return t->slots[addr_find(t, k)].count;
}

static void addr_inc(ctl_conns *t, const uint8_t k[16])
{
	addr_slot *s = &t->slots[addr_find(t, k)];
	if (!s->count)
		memcpy(s->key, k, 16);
	s->count++;
}

/* Decrements key's count; an emptied slot is removed by shifting later
 * entries of its probe run back (no tombstones). */
static void addr_dec(ctl_conns *t, const uint8_t k[16])
{
	size_t i = addr_find(t, k);
	if (!t->slots[i].count || --t->slots[i].count)
		return;
	for (size_t j = i;;) {
		j = (j + 1) & t->mask;
		if (!t->slots[j].count)
			break;
		size_t home = addr_hash(t, t->slots[j].key);
		/* Move j into the hole at i unless its home lies in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].count = 0;
}

/* The per-address key of a peer: false for families without one. */
static bool addr_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			memcpy(key, a, 16);
		else
			memcpy(key, a, 8); /* one host owns a /64: count it as one address */
		return true;
	}
	return false;
}

static const char *addr_str(const uint8_t key[16], char *buf, size_t n)
{
	static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(key, v4, 12) == 0)
		return inet_ntop(AF_INET, key + 12, buf, (socklen_t)n) ? buf : "?";
	if (!inet_ntop(AF_INET6, key, buf, (socklen_t)n))
		return "?";
	size_t used = strlen(buf);
	snprintf(buf + used, n - used, "/64");
	return buf;
}

/* ---- the listener ---- */

static void listener_update(ctl_conns *t)
{
	if (!t->lev || t->shut)
		return;
	if (t->paused)
		evconnlistener_disable(t->lev);
	else
		evconnlistener_enable(t->lev);
}

static void pause_set(ctl_conns *t, unsigned why)
{
	if (t->paused & why)
		return;
	if (why == PAUSE_CLOSING)
		t->pauses_closing++;
	else
		t->pauses_fds++;
	t->paused |= why;
	listener_update(t);
}

static void pause_clear(ctl_conns *t, unsigned why)
{
	if (!(t->paused & why))
		return;
	t->paused &= ~why;
	listener_update(t);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	pause_clear(arg, PAUSE_FDS);
}

/* accept() failed for a reason other than a peer giving up. With EMFILE or
 * ENFILE the pending connection stays in the backlog, so a listener left
 * enabled would be woken again at once, forever: pause it for a moment. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	ctl_conns *t = listening_table;
	int e = EVUTIL_SOCKET_ERROR();
	if (!t || t->lev != lev)
		return;
	cl_warn_rl("accept failed, not accepting for 250 ms: %s connections=%u", strerror(e), t->total);
	pause_set(t, PAUSE_FDS);
	struct timeval tv = {0, 250000};
	evtimer_add(t->resume_ev, &tv);
}

/* ---- records ---- */

static void queue_remove(ctl_conn *c)
{
	if (c->queued != Q_NONE)
		TAILQ_REMOVE(&c->tab->queues[c->queued], c, queue);
	c->queued = Q_NONE;
}

static void queue_put(ctl_conn *c, enum conn_queue q)
{
	queue_remove(c);
	c->queued = q;
	TAILQ_INSERT_TAIL(&c->tab->queues[q], c, queue);
}

static void arm(ctl_conn *c, uint64_t ms)
{
	if (!c->ev) /* shutting down */
		return;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(c->ev, &tv);
}

/* Closes c: shuts its socket down, so that evhttp reads the end of stream
 * and frees the connection (and with it the record). */
static void conn_close(ctl_conn *c)
{
	if (c->closing)
		return;
	ctl_conns *t = c->tab;
	c->closing = true;
	t->closing++;
	queue_remove(c);
	if (c->ev)
		evtimer_del(c->ev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);
}

/* The connection to close for a newcomer at the cap: the oldest that sent
 * nothing, else the oldest still in its first request, else the oldest
 * waiting between requests; never one being served, never the newcomer
 * itself. NULL if there is none.
 *
 * (Sparing connections in their first few hundred milliseconds, so that a
 * client is either refused at once or never dropped halfway through its
 * handshake, was measured with bench/flood.sh: it closed 3-9 % of the
 * /healthz probes that plain oldest-first eviction served, because a
 * reopening flood arrives in bursts. Not used.) */
static ctl_conn *pick_victim(ctl_conns *t, const ctl_conn *newcomer)
{
	for (int q = Q_SILENT; q < Q_N; q++) {
		ctl_conn *v = TAILQ_FIRST(&t->queues[q]);
		if (v == newcomer)
			v = TAILQ_NEXT(v, queue);
		if (v)
			return v;
	}
	return NULL;
}

static void conn_admit(ctl_conn *c)
{
	ctl_conns *t = c->tab;
	char as[INET6_ADDRSTRLEN + 4];
	c->admitted = true;
	if (c->closing)
		return;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
		conn_close(c); /* the peer is already gone */
		return;
	}
	/* Replies go out as several TLS records: without TCP_NODELAY, Nagle and
	 * delayed ACKs add ~40 ms to every keep-alive request. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (addr_key(&ss, c->addr)) {
		if (addr_count(t, c->addr) >= t->lim.max_per_addr) {
			t->refused_addr++;
			cl_warn_rl("connection refused: per-address cap addr=%s cap=%u",
				   addr_str(c->addr, as, sizeof(as)), t->lim.max_per_addr);
			conn_close(c);
			return;
		}
		addr_inc(t, c->addr);
		c->addr_counted = true;
	}
	if (t->total - t->closing > t->lim.max_conns) {
		ctl_conn *v = pick_victim(t, c);
		if (!v) {
			t->refused_full++;
			cl_warn_rl("connection refused at the cap: every connection is serving a request cap=%u",
				   t->lim.max_conns);
			conn_close(c);
			return;
		}
		static const char *const why[] = {"", "sent nothing", "first request incomplete", "idle keep-alive"};
		t->evicted++;
		cl_info_rl("connection evicted for a newcomer at the cap: %s cap=%u", why[v->queued], t->lim.max_conns);
		conn_close(v);
	}
	if (c->state != CS_HEADERS)
		return; /* (bytes cannot arrive before admission; if they did, their timer runs) */
	uint64_t deadline = c->accepted_ms + (uint64_t)t->lim.header_timeout_s * 1000u, now = now_ms();
	arm(c, deadline > now ? deadline - now : 0);
}

static void on_conn_event(evutil_socket_t fd, short what, void *arg)
{
	ctl_conn *c = arg;
	if (!c->admitted) {
		conn_admit(c);
		return;
	}
	if (c->closing || c->state == CS_SERVING)
		return;
	int phase = c->state == CS_HEADERS ? TO_HEADER : c->state == CS_BODY ? TO_BODY : TO_IDLE;
	c->tab->timed_out[phase]++;
	static const char *const names[] = {"header", "body", "idle"};
	cl_info_rl("connection closed: %s timeout", names[phase]);
	conn_close(c);
}

/* Feeds the newest n bytes of buf (from offset off) to the header scan. */
static void scan_bytes(ctl_conn *c, struct evbuffer *buf, size_t off, size_t n)
{
	struct evbuffer_ptr pos;
	if (evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET) != 0)
		return;
	while (n > 0 && !c->scan.done) {
		struct evbuffer_iovec v[8];
		int k = evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, 8);
		if (k <= 0)
			return;
		size_t fed = 0;
		for (int i = 0; i < k && i < 8 && fed < n && !c->scan.done; i++) {
			size_t len = v[i].iov_len < n - fed ? v[i].iov_len : n - fed;
			fed += ctl_head_scan_feed(&c->scan, v[i].iov_base, len);
		}
		n -= fed;
		if (n && evbuffer_ptr_set(buf, &pos, fed, EVBUFFER_PTR_ADD) != 0)
			return;
	}
}

static void start_request(ctl_conn *c)
{
	c->state = CS_HEADERS;
	memset(&c->scan, 0, sizeof(c->scan));
	c->header_overflow = false;
	arm(c, (uint64_t)c->tab->lim.header_timeout_s * 1000u);
}

/* Decrypted request bytes arrived (or evhttp consumed some). */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	ctl_conn *c = arg;
	if (!info->n_added || c->closing)
		return;
	if (c->queued == Q_SILENT) /* it speaks: evicted after the silent ones */
		queue_put(c, Q_ACTIVE);
	if (c->state == CS_IDLE) /* the next request's first byte: the header clock starts */
		start_request(c);
	if (c->state != CS_HEADERS)
		return;
	size_t len = evbuffer_get_length(buf);
	size_t n = info->n_added < len ? info->n_added : len;
	scan_bytes(c, buf, len - n, n);
	if (c->scan.bytes > c->tab->lim.max_header_bytes)
		c->header_overflow = true; /* evhttp refuses it: its 400 becomes a 431 */
	if (c->scan.done) {
		c->state = CS_BODY;
		arm(c, (uint64_t)c->tab->lim.body_timeout_s * 1000u);
	}
}

/* Something was queued for the peer. While none of our handlers serves a
 * request, that is an error page of libevent's own: make it JSON. */
static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	ctl_conn *c = arg;
	size_t len = evbuffer_get_length(buf);
	if (!info->n_added || c->state == CS_SERVING || len > 4096)
		return;
	const unsigned char *p = evbuffer_pullup(buf, -1);
	ctl_error_page page;
	if (!p || ctl_error_page_parse(p, len, &page) != 1)
		return;
	struct evbuffer *fixed = evbuffer_new();
	int status = -1;
	if (fixed && evbuffer_add(fixed, p, page.skip) == 0)
		status = ctl_error_page_json(page.status, c->header_overflow, &c->tab->lim, fixed);
	if (status > 0) {
		/* Our own change must not call us again. */
		evbuffer_cb_set_flags(buf, c->out_cb, 0);
		evbuffer_drain(buf, len);
		evbuffer_add_buffer(buf, fixed);
		evbuffer_cb_set_flags(buf, c->out_cb, EVBUFFER_CB_ENABLED);
		ctl_count_status(c->tab->srv, status);
		cl_info_rl("request refused before dispatch status=%d", status);
	}
	if (fixed)
		evbuffer_free(fixed);
}

/* evhttp sent a reply completely: the connection waits for the next request. */
static void on_reply_done(struct evhttp_request *req, void *arg)
{
	ctl_conn *c = arg;
	if (c->closing)
		return;
	c->state = CS_IDLE;
	queue_put(c, Q_KEPT);
	arm(c, (uint64_t)c->tab->lim.idle_timeout_s * 1000u);
	/* A pipelined next request may already be buffered. */
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in);
	if (len) {
		start_request(c);
		struct evbuffer_cb_info info = {.orig_size = 0, .n_added = len, .n_deleted = 0};
		on_input(in, &info, c);
	}
}

bool ctl_conn_on_request(ctl_conns *t, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	ctl_conn *c = ssl && conn_ex_idx >= 0 ? SSL_get_ex_data(ssl, conn_ex_idx) : NULL;
	if (!c || c->tab != t)
		return false;
	if (!c->admitted)
		conn_admit(c);
	if (c->closing)
		return false;
	queue_remove(c);
	if (c->ev)
		evtimer_del(c->ev);
	c->state = CS_SERVING;
	evhttp_request_set_on_complete_cb(req, on_reply_done, c);
	return true;
}

/* SSL ex_data free callback: the TLS bufferevent (so the connection and its
 * socket) is being destroyed. */
static void on_ssl_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	ctl_conn *c = ptr;
	if (!c)
		return;
	ctl_conns *t = c->tab;
	queue_remove(c);
	TAILQ_REMOVE(&t->all, c, all);
	t->total--;
	if (c->closing)
		t->closing--;
	if (c->addr_counted)
		addr_dec(t, c->addr);
	if (c->ev)
		event_free(c->ev);
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	free(c);
	if (t->total < t->lim.max_conns + CTL_CONN_CLOSING_SLACK / 2)
		pause_clear(t, PAUSE_CLOSING);
}

/* evhttp's bufferevent callback: once per accepted connection, before the
 * socket is set. NULL would make evhttp serve the connection in clear text
 * on a plain bufferevent; the dispatcher refuses any request that did not
 * come through a record, so that can only happen on allocation failure and
 * still serves nothing. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	ctl_conns *t = arg;
	SSL *ssl = NULL;
	struct bufferevent *bev = ctl_tls_bev_new(base, t->srv->ssl, &ssl);
	if (!bev)
		return NULL;
	ctl_conn *c = calloc(1, sizeof(*c));
	if (!c || !(c->ev = event_new(base, -1, 0, on_conn_event, c)) ||
	    !(c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c)) ||
	    !(c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), on_output, c)) ||
	    SSL_set_ex_data(ssl, conn_ex_idx, c) != 1) {
		if (c) {
			if (c->in_cb)
				evbuffer_remove_cb_entry(bufferevent_get_input(bev), c->in_cb);
			if (c->out_cb)
				evbuffer_remove_cb_entry(bufferevent_get_output(bev), c->out_cb);
			if (c->ev)
				event_free(c->ev);
			free(c);
		}
		cl_warn_rl("cannot track a new connection: out of memory");
		return bev;
	}
	c->tab = t;
	c->bev = bev;
	c->state = CS_HEADERS;
	c->accepted_ms = now_ms();
	TAILQ_INSERT_TAIL(&t->all, c, all);
	queue_put(c, Q_SILENT);
	t->total++;
	t->accepted++;
	/* Runs once the listener's accept loop returns, when the socket is set. */
	event_active(c->ev, EV_TIMEOUT, 0);
	/* Sockets still being closed count against the descriptors: stop
	 * accepting (the accept loop ends here) until they are released. */
	if (t->total >= t->lim.max_conns + CTL_CONN_CLOSING_SLACK)
		pause_set(t, PAUSE_CLOSING);
	return bev;
}

/* ---- the table ---- */

cl_err ctl_conn_fit_limits(ctl_conn_limits *lim, unsigned long *soft, unsigned long *hard, bool *clamped)
{
	struct rlimit rl;
	*clamped = false;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return cl_errorf(CL_ESYS, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20) ? (rlim_t)(1u << 20) : rl.rlim_max;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > want)
		rl.rlim_cur = want; /* what the budget below may count on */
	else if (rl.rlim_cur < want) {
		struct rlimit raised = {.rlim_cur = want, .rlim_max = rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = want;
	}
	*soft = (unsigned long)rl.rlim_cur;
	*hard = rl.rlim_max == RLIM_INFINITY ? (unsigned long)-1 : (unsigned long)rl.rlim_max;
	unsigned long keep = CTL_FD_RESERVE + CTL_CONN_CLOSING_SLACK;
	unsigned long budget = *soft > keep ? *soft - keep : 0;
	if (budget < 16)
		return cl_errorf(CL_EINVAL,
				 "the descriptor limit (ulimit -n %lu) leaves room for fewer than 16 connections",
				 *soft);
	if (budget > 1u << 20)
		budget = 1u << 20;
	if (lim->max_conns == 0)
		lim->max_conns = budget < 4096 ? (unsigned)budget : 4096;
	else if (lim->max_conns > budget) {
		lim->max_conns = (unsigned)budget;
		*clamped = true;
	}
	if (lim->max_per_addr == 0 || lim->max_per_addr > lim->max_conns)
		lim->max_per_addr = lim->max_conns;
	return CL_OK;
}

cl_err ctl_conns_new(ctl_server *srv, const ctl_conn_limits *lim, ctl_conns **out)
{
	if (conn_ex_idx < 0)
		conn_ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, on_ssl_free);
	CL_ENSURE(conn_ex_idx >= 0, CL_EINTERNAL, "cannot get an SSL ex_data index");
	ctl_conns *t = calloc(1, sizeof(*t));
	CL_ENSURE(t, CL_ENOMEM, "out of memory");
	t->srv = srv;
	t->lim = *lim;
	TAILQ_INIT(&t->all);
	for (int q = 0; q < Q_N; q++)
		TAILQ_INIT(&t->queues[q]);
	size_t n = 64;
	while (n < 2 * ((size_t)lim->max_conns + CTL_CONN_CLOSING_SLACK + 1))
		n *= 2;
	t->slots = calloc(n, sizeof(*t->slots));
	t->mask = n - 1;
	t->resume_ev = evtimer_new(srv->base, on_resume, t);
	if (!t->slots || !t->resume_ev) {
		ctl_conns_shutdown(t);
		ctl_conns_free(t);
		return cl_errorf(CL_ENOMEM, "out of memory");
	}
	if (getrandom(t->seed, sizeof(t->seed), 0) != (ssize_t)sizeof(t->seed)) {
		t->seed[0] = cl_now_mono_ns();
		t->seed[1] = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
	}
	evhttp_set_bevcb(srv->http, make_bev, t);
	*out = t;
	return CL_OK;
}

cl_err ctl_conns_bind(const char *addr, uint16_t port, int *fd_out, int *bound_port)
{
	char where[160], ps[8];
	snprintf(where, sizeof(where), strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, (unsigned)port);
	snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *ai = NULL;
	int gai = getaddrinfo(addr, ps, &hints, &ai);
	CL_ENSURE(gai == 0 && ai, CL_EINVAL, "cannot listen on %s: %s", where, gai_strerror(gai));
	cl_err err = CL_OK;
	int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = cl_errorf(CL_ESYS, "cannot listen on %s: %s", where, strerror(errno));
		goto out;
	}
	/* SO_REUSEADDR lets a restart bind while old connections linger in
	 * TIME_WAIT; it does not let two servers listen on one port. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		err = cl_errorf(CL_ESYS, "cannot listen on %s: %s", where,
				errno == EADDRINUSE ? "address in use" : strerror(errno));
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		err = cl_errorf(CL_ESYS, "getsockname: %s", strerror(errno));
		goto out;
	}
	*bound_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	*fd_out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return err;
}

cl_err ctl_conns_listen_fd(ctl_conns *t, int fd)
{
	struct evhttp_bound_socket *bs = evhttp_accept_socket_with_handle(t->srv->http, fd);
	CL_ENSURE(bs != NULL, CL_ENOMEM, "cannot listen: out of memory");
	t->lev = evhttp_bound_socket_get_listener(bs);
	listening_table = t;
	evconnlistener_set_error_cb(t->lev, on_accept_error);
	listener_update(t);
	return CL_OK;
}

cl_err ctl_conns_listen(ctl_conns *t, const char *addr, uint16_t port, int *bound_port)
{
	int fd = -1;
	CL_GUARD(ctl_conns_bind(addr, port, &fd, bound_port));
	cl_err err = ctl_conns_listen_fd(t, fd);
	if (err != CL_OK)
		close(fd);
	return err;
}

void ctl_conn_metrics(const ctl_server *srv, struct evbuffer *out)
{
	const ctl_conns *t = srv->conns;
	if (!t)
		return;
	evbuffer_add_printf(out,
			    "# HELP cloister_connections Open client connections (closing ones included).\n"
			    "# TYPE cloister_connections gauge\ncloister_connections %u\n"
			    "# HELP cloister_connections_max The connection cap (--max-connections).\n"
			    "# TYPE cloister_connections_max gauge\ncloister_connections_max %u\n"
			    "# HELP cloister_connections_accepted_total Connections accepted.\n"
			    "# TYPE cloister_connections_accepted_total counter\n"
			    "cloister_connections_accepted_total %llu\n"
			    "# HELP cloister_connections_refused_total Connections closed on arrival, by reason.\n"
			    "# TYPE cloister_connections_refused_total counter\n"
			    "cloister_connections_refused_total{reason=\"per_address\"} %llu\n"
			    "cloister_connections_refused_total{reason=\"full\"} %llu\n"
			    "# HELP cloister_connections_evicted_total Connections closed to admit a newcomer.\n"
			    "# TYPE cloister_connections_evicted_total counter\n"
			    "cloister_connections_evicted_total %llu\n"
			    "# HELP cloister_connections_timed_out_total Connections closed by a timeout, by phase.\n"
			    "# TYPE cloister_connections_timed_out_total counter\n"
			    "cloister_connections_timed_out_total{phase=\"header\"} %llu\n"
			    "cloister_connections_timed_out_total{phase=\"body\"} %llu\n"
			    "cloister_connections_timed_out_total{phase=\"idle\"} %llu\n"
			    "# HELP cloister_accept_pauses_total Times accepting paused, by reason.\n"
			    "# TYPE cloister_accept_pauses_total counter\n"
			    "cloister_accept_pauses_total{reason=\"closing\"} %llu\n"
			    "cloister_accept_pauses_total{reason=\"descriptors\"} %llu\n",
			    t->total, t->lim.max_conns, (unsigned long long)t->accepted,
			    (unsigned long long)t->refused_addr, (unsigned long long)t->refused_full,
			    (unsigned long long)t->evicted, (unsigned long long)t->timed_out[TO_HEADER],
			    (unsigned long long)t->timed_out[TO_BODY], (unsigned long long)t->timed_out[TO_IDLE],
			    (unsigned long long)t->pauses_closing, (unsigned long long)t->pauses_fds);
}

void ctl_conns_shutdown(ctl_conns *t)
{
	if (!t)
		return;
	t->shut = true;
	t->lev = NULL; /* evhttp_free frees it */
	if (listening_table == t)
		listening_table = NULL;
	if (t->resume_ev) {
		event_free(t->resume_ev);
		t->resume_ev = NULL;
	}
	/* The records outlive evhttp_free until event_base_free runs the
	 * bufferevents' last frees; their events must go while the base lives. */
	ctl_conn *c;
	TAILQ_FOREACH(c, &t->all, all) {
		if (c->ev) {
			event_free(c->ev);
			c->ev = NULL;
		}
	}
}

void ctl_conns_free(ctl_conns *t)
{
	if (!t)
		return;
	ctl_conn *c;
	while ((c = TAILQ_FIRST(&t->all))) { /* a bufferevent libevent never freed */
		TAILQ_REMOVE(&t->all, c, all);
		free(c);
	}
	free(t->slots);
	free(t);
}
