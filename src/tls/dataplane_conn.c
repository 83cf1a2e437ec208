/* dataplane_conn.c — one inbound connection: the session table's entry
 * (docs/tls.md "The session table").
 *
 *   accept -> HANDSHAKE (deadline 10 s; a full one pauses while the key
 *   holder signs) -> CONNECTING (to the guest's backend) -> RELAY (both
 *   directions, 16 KiB each way, idle deadline 300 s) -> closed
 *
 * Every event calls drive(), which makes all the progress it can and then
 * arms exactly the events that progress waits for: a full buffer stops
 * reading on the side that fills it (back-pressure on this connection only).
 * Buffers exist only while they hold bytes (SSL_MODE_RELEASE_BUFFERS does the
 * same for OpenSSL's): an idle connection costs its entry, not 32 KiB. At
 * close the buffers are wiped, the SSL freed (OpenSSL cleanses the session's
 * secrets) and the entry zeroed. A guest with a marking header runs the
 * client->guest bytes through a cl_http_mark (docs/tls.md "Header
 * marking"); a refused head gets a 400 and the close. A failure is one log line
 * `tls: guest=<id> peer=<addr> <reason>` and a count; nothing ever falls back
 * to cleartext. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "tls/http_mark.h"
#include "tls/sniff.h"
#include "tls/dataplane_internal.h"

#define ACCEPT_BATCH 64
#define PEER_MAX 64
/* The up buffer of a marking connection: a whole head (up to
 * CL_HTTP_MARK_HEAD_MAX, buffered in the parser) plus its mark line must fit
 * an empty buffer, or a near-limit head could never be let through. */
#define DP_BUF_MARK (DP_BUF + CL_HTTP_MARK_NAME_MAX + CL_HTTP_MARK_VALUE_MAX + 4)
#define MARK_VALUE_MAX (CL_HTTP_MARK_VALUE_MAX + 1)

enum { ST_SNIFF, ST_HANDSHAKE, ST_CONNECTING, ST_RELAY };

typedef struct dp_buf {
	uint8_t *p; /* NULL while empty */
	size_t off, len;
	size_t hi;  /* bytes of p ever written: what a release wipes */
	size_t cap; /* the size p has when allocated: DP_BUF, or DP_BUF_MARK */
} dp_buf;

struct dp_conn {
	dp_conn *prev, *next;
	dp_guest *g;
	int cfd, bfd;
	SSL *ssl;
	int state;
	struct event *crd, *cwr, *brd, *bwr, *timer, *resume;
	bool crd_on, cwr_on, brd_on, bwr_on;
	dp_buf up, down;   /* up: world -> guest cleartext; down: guest -> world */
	bool c_eof, b_eof, b_shut;
	int rd_want, wr_want; /* SSL_ERROR_WANT_* of the last SSL_read / SSL_write */
	uint64_t start_ns, last_ns;
	dp_sign_state sign;
	bool sign_failed;
	BIO *prefix;       /* auto mode: the sniffed record, read by OpenSSL first (owned by ssl) */
	cl_http_mark *mark; /* the guest marks a header: the up direction's parser (else NULL) */
	char peer[PEER_MAX];
};

static void drive(dp_conn *c);

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	drive(arg);
}

dp_guest *dp_conn_guest(const dp_conn *c)
{
	return c->g;
}

dp_sign_state *dp_conn_sign(dp_conn *c)
{
	return &c->sign;
}

/* ---------------------------------------------------------------- buffers */

static size_t buf_space(const dp_buf *b)
{
	return b->cap - b->off - b->len;
}

/* Makes room at the end: allocates, or moves the bytes to the front. */
static bool buf_ready(dp_buf *b)
{
	if (!b->p) {
		b->off = b->len = b->hi = 0;
		return (b->p = malloc(b->cap)) != NULL;
	}
	if (b->off && buf_space(b) == 0) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
	}
	return true;
}

/* Counts n bytes written at the end. */
static void buf_wrote(dp_buf *b, size_t n)
{
	b->len += n;
	if (b->off + b->len > b->hi)
		b->hi = b->off + b->len;
}

static void buf_release(dp_buf *b)
{
	if (b->p) {
		explicit_bzero(b->p, b->hi);
		free(b->p);
	}
	b->p = NULL;
	b->off = b->len = b->hi = 0;
}

static void buf_consume(dp_buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		buf_release(b); /* empty: no memory held for an idle connection */
}

/* ---------------------------------------------------------------- close */

static void arm(struct event *ev, bool want, bool *on)
{
	if (want && !*on)
		event_add(ev, NULL);
	else if (!want && *on)
		event_del(ev);
	*on = want;
}

void dp_conn_close(dp_conn *c, int reason, const char *detail)
{
	dp_guest *g = c->g;
	dp *d = g->d;
	if (c->sign.state == 1) {
		/* A handshake paused in its sign: let its job end (the sign
		 * fails) before the SSL goes; the late answer is dropped. */
		dp_kh_forget(d, c);
		c->sign.state = 3;
		d->cur = c;
		(void)SSL_do_handshake(c->ssl);
		d->cur = NULL;
	}
	if (reason >= 0 && reason < CL_DP_FAIL_COUNT) {
		g->st.failures[reason]++;
		if (reason == CL_DP_FAIL_IDLE)
			cl_debug("tls: guest=%s peer=%s %s", g->id, c->peer, detail);
		else
			cl_warn_rl("tls: guest=%s peer=%s %s", g->id, c->peer, detail);
	}
	struct event *evs[] = {c->crd, c->cwr, c->brd, c->bwr, c->timer, c->resume};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	if (c->ssl)
		SSL_free(c->ssl); /* cleanses the session's secrets */
	if (c->cfd >= 0)
		close(c->cfd);
	if (c->bfd >= 0)
		close(c->bfd);
	cl_http_mark_free(c->mark); /* wipes a buffered head */
	buf_release(&c->up);
	buf_release(&c->down);
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g->nconns--;
	g->st.active--;
	d->nconns--;
	explicit_bzero(c, sizeof(*c));
	free(c);
	ERR_clear_error();
}

/* Closes with reason and a detail formatted like printf. */
static void fail(dp_conn *c, int reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(dp_conn *c, int reason, const char *fmt, ...)
{
	char detail[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	dp_conn_close(c, reason, detail);
}

/* OpenSSL's reason for the last failure (a static string), or why. */
static const char *ssl_reason(const char *why)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : why;
}

/* ---------------------------------------------------------------- handshake */

static void backend_connect(dp_conn *c)
{
	dp_guest *g = c->g;
	int one = 1;
	c->bfd = socket(g->backend.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->bfd < 0) {
		fail(c, CL_DP_FAIL_BACKEND, "backend unreachable: socket: %s", strerror(errno));
		return;
	}
	(void)setsockopt(c->bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->bfd, (struct sockaddr *)&g->backend, g->backend_len) != 0 && errno != EINPROGRESS) {
		fail(c, CL_DP_FAIL_BACKEND, "backend unreachable: %s", strerror(errno));
		return;
	}
	c->brd = event_new(g->d->base, c->bfd, EV_READ | EV_PERSIST, on_io, c);
	c->bwr = event_new(g->d->base, c->bfd, EV_WRITE | EV_PERSIST, on_io, c);
	if (!c->brd || !c->bwr) {
		fail(c, CL_DP_FAIL_IO, "out of memory");
		return;
	}
	c->state = ST_CONNECTING;
	arm(c->crd, false, &c->crd_on);
	arm(c->cwr, false, &c->cwr_on);
	arm(c->bwr, true, &c->bwr_on);
}

static void handshake(dp_conn *c)
{
	dp *d = c->g->d;
	d->cur = c;
	int r = SSL_do_handshake(c->ssl);
	d->cur = NULL;
	if (r == 1) {
		if (SSL_session_reused(c->ssl))
			c->g->st.handshakes_resumed++;
		else
			c->g->st.handshakes_full++;
		c->last_ns = cl_now_mono_ns();
		backend_connect(c); /* continues on the backend's events */
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ && c->prefix && BIO_ctrl_pending(c->prefix) == 0) {
		/* The sniffed record is read: the rest comes from the socket
		 * (the write BIO; the memory BIO is freed here). */
		BIO *sock = SSL_get_wbio(c->ssl);
		BIO_up_ref(sock);
		SSL_set0_rbio(c->ssl, sock);
		c->prefix = NULL;
		handshake(c);
		return;
	}
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		arm(c->crd, e == SSL_ERROR_WANT_READ, &c->crd_on);
		arm(c->cwr, e == SSL_ERROR_WANT_WRITE, &c->cwr_on);
		return;
	case SSL_ERROR_WANT_ASYNC:
		/* The key holder is signing: nothing to read from this peer meanwhile. */
		arm(c->crd, false, &c->crd_on);
		arm(c->cwr, false, &c->cwr_on);
		return;
	default:
		if (c->sign_failed)
			fail(c, CL_DP_FAIL_SIGN, "handshake failed: no signature from the key holder");
		else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
			fail(c, CL_DP_FAIL_HANDSHAKE, "handshake failed: %s",
			     ssl_reason("the peer closed the connection"));
		else
			fail(c, CL_DP_FAIL_HANDSHAKE, "handshake failed: %s", ssl_reason("protocol error"));
		return;
	}
}

/* ---------------------------------------------------------------- relay */

/* The peer's side of a connection: TLS, or plain for traffic the guest's
 * insecure rule passes (auto mode). Returns > 0 bytes, 0 at end of stream,
 * -1 with *want (SSL_ERROR_WANT_*) to wait, -2 with *reason on failure. */
static int peer_read(dp_conn *c, uint8_t *p, size_t n, int *want, int *reason)
{
	if (!c->ssl) {
		ssize_t r = recv(c->cfd, p, n, 0);
		if (r >= 0)
			return (int)r;
		if (errno == EAGAIN || errno == EINTR)
			return *want = SSL_ERROR_WANT_READ, -1;
		return *reason = CL_DP_FAIL_IO, -2;
	}
	int r = SSL_read(c->ssl, p, (int)n);
	if (r > 0)
		return r;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return *want = e, -1;
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	return *reason = e == SSL_ERROR_SYSCALL ? CL_DP_FAIL_IO : CL_DP_FAIL_PROTOCOL, -2;
}

static int peer_write(dp_conn *c, const uint8_t *p, size_t n, int *want, int *reason)
{
	if (!c->ssl) {
		ssize_t r = send(c->cfd, p, n, MSG_NOSIGNAL);
		if (r >= 0)
			return (int)r;
		if (errno == EAGAIN || errno == EINTR)
			return *want = SSL_ERROR_WANT_WRITE, -1;
		return *reason = CL_DP_FAIL_IO, -2;
	}
	int r = SSL_write(c->ssl, p, (int)n);
	if (r > 0)
		return r;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return *want = e, -1;
	return *reason = e == SSL_ERROR_SYSCALL ? CL_DP_FAIL_IO : CL_DP_FAIL_PROTOCOL, -2;
}

/* ---------------------------------------------------------------- header marking */

/* One thread: the decrypted bytes of one read, and the parser's output, on
 * their way into the up buffer; both wiped after each use. */
static uint8_t mark_raw[DP_BUF];
static cl_buf mark_out = {.max = DP_BUF_MARK};

/* The client's identity: its certificate's subject CN, if it presented one
 * and it was verified; else "" (the mark says "-"). */
static void mark_identity(dp_conn *c, char *out, size_t cap)
{
	out[0] = '\0';
	X509 *peer = c->ssl ? SSL_get0_peer_certificate(c->ssl) : NULL;
	if (!peer || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, out, (int)cap) < 0)
		out[0] = '\0';
}

/* A refused head: nothing more reaches the guest; the client gets a 400
 * (best effort: one write), the connection is closed and counted. */
static void mark_refuse(dp_conn *c, cl_err e)
{
	static const char resp[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
	const char *why = cl_http_mark_reason(c->mark);
	int want = 0, reason = 0;
	buf_release(&c->up);
	buf_release(&c->down);
	(void)peer_write(c, (const uint8_t *)resp, sizeof(resp) - 1, &want, &reason);
	if (c->ssl)
		(void)SSL_shutdown(c->ssl); /* close_notify, best effort */
	fail(c, CL_DP_FAIL_HTTP, "mark: %s", why ? why : cl_err_name(e));
}

/* The most bytes one read may take so that the parser's output for them
 * fits the up buffer's free space (cl_http_mark_max_out; 0: wait for the
 * guest to drain it). */
static size_t mark_room(const dp_conn *c)
{
	size_t space = buf_space(&c->up), lo = 0, hi = space < sizeof(mark_raw) ? space : sizeof(mark_raw);
	if (cl_http_mark_max_out(c->mark, hi) <= space)
		return hi;
	while (lo + 1 < hi) { /* max_out grows with n: the largest n that fits */
		size_t mid = lo + (hi - lo) / 2;
		if (cl_http_mark_max_out(c->mark, mid) <= space)
			lo = mid;
		else
			hi = mid;
	}
	return cl_http_mark_max_out(c->mark, lo) <= space ? lo : 0;
}

/* Feeds mark_raw[0..n) to the parser, its output to the up buffer (room
 * checked by mark_room, the buffer made ready by the caller). Returns 0, or
 * -1 if c was closed (a refusal). */
static int mark_feed(dp_conn *c, size_t n)
{
	mark_out.max = buf_space(&c->up);
	cl_err e = cl_http_mark_feed(c->mark, mark_raw, n, &mark_out);
	explicit_bzero(mark_raw, n);
	if (e == CL_OK && mark_out.len) {
		memcpy(c->up.p + c->up.off + c->up.len, mark_out.data, mark_out.len);
		buf_wrote(&c->up, mark_out.len);
	}
	if (mark_out.len)
		explicit_bzero(mark_out.data, mark_out.len);
	mark_out.len = 0;
	if (e != CL_OK)
		return mark_refuse(c, e), -1;
	if (c->up.len == 0)
		buf_release(&c->up);
	return 0;
}

/* The guest marks a header: the parser for this connection, with the
 * value of its TLS session ("none; none; -" for cleartext its insecure rule
 * passes, so a forged mark is stripped there too). Bytes already in the up
 * buffer (auto mode's sniffed cleartext) go through it first. Returns 0, or
 * -1 if c was closed. */
static int mark_start(dp_conn *c)
{
	char value[MARK_VALUE_MAX], ident[256];
	mark_identity(c, ident, sizeof(ident));
	cl_err e = cl_http_mark_value(c->ssl ? SSL_get_version(c->ssl) : "none",
				      c->ssl ? SSL_get_cipher_name(c->ssl) : "none", ident, value, sizeof(value));
	if (e == CL_OK)
		e = cl_http_mark_new(c->g->header, value, &c->mark);
	explicit_bzero(ident, sizeof(ident));
	if (e != CL_OK)
		return fail(c, CL_DP_FAIL_IO, "mark: cannot start the parser: %s", cl_err_name(e)), -1;
	size_t n = c->up.len;
	if (n)
		memcpy(mark_raw, c->up.p + c->up.off, n); /* sniffed: at most one record header's worth */
	buf_release(&c->up);
	c->up.cap = DP_BUF_MARK;
	if (!n)
		return 0;
	if (!buf_ready(&c->up) || mark_room(c) < n) {
		explicit_bzero(mark_raw, n);
		return fail(c, CL_DP_FAIL_IO, "mark: no room for the sniffed bytes"), -1;
	}
	return mark_feed(c, n);
}

/* One round of every transfer that can progress. Returns -1 if c was closed,
 * else whether anything moved. */
static int relay_once(dp_conn *c)
{
	dp_guest *g = c->g;
	int progress = 0;
	size_t room = 0;
	if (!c->c_eof && (!c->up.p || buf_space(&c->up))) {
		if (!buf_ready(&c->up))
			return fail(c, CL_DP_FAIL_IO, "out of memory"), -1;
		room = c->mark ? mark_room(c) : buf_space(&c->up);
		if (room == 0 && c->up.len == 0) /* DP_BUF_MARK makes this impossible */
			return fail(c, CL_DP_FAIL_IO, "mark: no room for a head"), -1;
	}
	if (room) {
		int want = 0, reason = 0;
		uint8_t *dst = c->mark ? mark_raw : c->up.p + c->up.off + c->up.len;
		int n = peer_read(c, dst, room, &want, &reason);
		if (n > 0) {
			if (!c->mark)
				buf_wrote(&c->up, (size_t)n);
			else if (mark_feed(c, (size_t)n) < 0)
				return -1;
			g->st.bytes_in += (uint64_t)n;
			c->rd_want = 0;
			progress = 1;
		} else {
			if (c->up.len == 0)
				buf_release(&c->up);
			if (n == -1) {
				c->rd_want = want;
			} else if (n == 0) {
				c->c_eof = true;
				progress = 1;
			} else if (reason == CL_DP_FAIL_IO) {
				return fail(c, CL_DP_FAIL_IO, "peer read: %s", errno ? strerror(errno) : "connection lost"), -1;
			} else {
				return fail(c, CL_DP_FAIL_PROTOCOL, "tls failure: %s", ssl_reason("protocol error")), -1;
			}
		}
	}
	if (c->up.len) {
		ssize_t n = send(c->bfd, c->up.p + c->up.off, c->up.len, MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&c->up, (size_t)n);
			progress = 1;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return fail(c, CL_DP_FAIL_BACKEND, "backend write: %s", strerror(errno)), -1;
		}
	}
	if (c->c_eof && !c->up.len && !c->b_shut) {
		(void)shutdown(c->bfd, SHUT_WR);
		c->b_shut = true;
	}
	if (!c->b_eof && (!c->down.p || buf_space(&c->down))) {
		if (!buf_ready(&c->down))
			return fail(c, CL_DP_FAIL_IO, "out of memory"), -1;
		ssize_t n = recv(c->bfd, c->down.p + c->down.off + c->down.len, buf_space(&c->down), 0);
		if (n > 0) {
			buf_wrote(&c->down, (size_t)n);
			progress = 1;
		} else if (n == 0) {
			c->b_eof = true;
			progress = 1;
		} else if (errno != EAGAIN && errno != EINTR) {
			return fail(c, CL_DP_FAIL_BACKEND, "backend read: %s", strerror(errno)), -1;
		}
		if (c->down.len == 0)
			buf_release(&c->down);
	}
	if (c->down.len) {
		int want = 0, reason = 0;
		int n = peer_write(c, c->down.p + c->down.off, c->down.len, &want, &reason);
		if (n > 0) {
			g->st.bytes_out += (uint64_t)n;
			buf_consume(&c->down, (size_t)n);
			c->wr_want = 0;
			progress = 1;
		} else if (n == -1) {
			c->wr_want = want;
		} else if (reason == CL_DP_FAIL_IO) {
			return fail(c, CL_DP_FAIL_IO, "peer write: %s", errno ? strerror(errno) : "connection lost"), -1;
		} else {
			return fail(c, CL_DP_FAIL_PROTOCOL, "tls failure: %s", ssl_reason("protocol error")), -1;
		}
	}
	return progress;
}

static void relay(dp_conn *c)
{
	int r;
	bool moved = false;
	while ((r = relay_once(c)) > 0)
		moved = true;
	if (r < 0)
		return;
	if (moved)
		c->last_ns = cl_now_mono_ns();
	if (c->b_eof && !c->down.len) {
		if (c->ssl)
			(void)SSL_shutdown(c->ssl); /* close_notify, best effort */
		dp_conn_close(c, -1, NULL);
		return;
	}
	bool up_room = (c->mark ? mark_room(c) : buf_space(&c->up)) > 0;
	arm(c->crd, (!c->c_eof && up_room && c->rd_want == SSL_ERROR_WANT_READ) ||
			    (c->down.len && c->wr_want == SSL_ERROR_WANT_READ),
	    &c->crd_on);
	arm(c->cwr, (!c->c_eof && up_room && c->rd_want == SSL_ERROR_WANT_WRITE) ||
			    (c->down.len && c->wr_want == SSL_ERROR_WANT_WRITE),
	    &c->cwr_on);
	arm(c->brd, !c->b_eof && (!c->down.p || buf_space(&c->down) > 0), &c->brd_on);
	arm(c->bwr, c->up.len > 0, &c->bwr_on);
}

/* ---------------------------------------------------------------- auto mode */

/* A ClientHello: OpenSSL reads the sniffed record from memory first. */
static void start_tls(dp_conn *c)
{
	BIO *mem = BIO_new(BIO_s_mem()), *sock = BIO_new_socket(c->cfd, BIO_NOCLOSE);
	if (!mem || !sock || !(c->ssl = SSL_new(c->g->ctx)) ||
	    BIO_write(mem, c->up.p, (int)c->up.len) != (int)c->up.len) {
		BIO_free(mem);
		BIO_free(sock);
		fail(c, CL_DP_FAIL_IO, "out of memory");
		return;
	}
	BIO_set_mem_eof_return(mem, -1); /* drained: "retry", not end of stream */
	SSL_set_bio(c->ssl, mem, sock);
	c->prefix = mem;
	buf_release(&c->up);
	SSL_set_accept_state(c->ssl);
	c->state = ST_HANDSHAKE;
	handshake(c);
}

/* Not TLS: the guest's insecure rule. */
static void insecure(dp_conn *c, const char *why)
{
	dp_guest *g = c->g;
	if (g->insecure == CL_DP_INSECURE_ALLOW) {
		g->st.insecure_passed++;
		backend_connect(c); /* the sniffed bytes go first, in clear */
		return;
	}
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	(void)setsockopt(c->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* a TCP reset */
	fail(c, CL_DP_FAIL_INSECURE, "not TLS (%s): insecure rejected", why);
}

/* Reads exactly what the sniffer asks for (never past the first record, so
 * nothing the peer sent after it is in the buffer) and decides. */
static void sniff(dp_conn *c)
{
	cl_tls_hello h;
	if (!buf_ready(&c->up)) {
		fail(c, CL_DP_FAIL_IO, "out of memory");
		return;
	}
	for (;;) {
		cl_tls_sniff_verdict v = cl_tls_sniff(c->up.p, c->up.len, &h);
		if (v == CL_TLS_SNIFF_HANDSHAKE) {
			start_tls(c);
			return;
		}
		if (v == CL_TLS_SNIFF_NOT_TLS) {
			insecure(c, h.reason);
			return;
		}
		if (h.need <= c->up.len || h.need > DP_BUF) {
			fail(c, CL_DP_FAIL_HANDSHAKE, "sniffer asked for %zu bytes", h.need);
			return;
		}
		ssize_t n = recv(c->cfd, c->up.p + c->up.len, h.need - c->up.len, 0);
		if (n > 0) {
			buf_wrote(&c->up, (size_t)n);
			continue;
		}
		if (n == 0) {
			fail(c, CL_DP_FAIL_HANDSHAKE, "handshake failed: the peer closed before its first record");
			return;
		}
		if (errno != EAGAIN && errno != EINTR) {
			fail(c, CL_DP_FAIL_IO, "peer read: %s", strerror(errno));
			return;
		}
		arm(c->crd, true, &c->crd_on);
		return;
	}
}

static void drive(dp_conn *c)
{
	ERR_clear_error(); /* a failure's reason is this connection's, not an earlier one's */
	switch (c->state) {
	case ST_SNIFF:
		sniff(c);
		return;
	case ST_HANDSHAKE:
		handshake(c);
		return;
	case ST_CONNECTING: {
		int err = 0;
		socklen_t l = sizeof(err);
		if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
			err = errno;
		if (err) {
			fail(c, CL_DP_FAIL_BACKEND, "backend unreachable: %s", strerror(err));
			return;
		}
		c->state = ST_RELAY;
		if (c->g->header[0] && mark_start(c) < 0)
			return;
		relay(c);
		return;
	}
	default:
		relay(c);
	}
}

/* ---------------------------------------------------------------- deadlines */

static void arm_timer(dp_conn *c, uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	event_add(c->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	dp_conn *c = arg;
	dp *d = c->g->d;
	uint64_t now = cl_now_mono_ns();
	if (c->state == ST_SNIFF || c->state == ST_HANDSHAKE) {
		uint64_t end = c->start_ns + (uint64_t)d->o.handshake_ms * 1000000u;
		if (now >= end) {
			fail(c, CL_DP_FAIL_TIMEOUT, "handshake timeout (%u ms)", d->o.handshake_ms);
			return;
		}
		arm_timer(c, (end - now) / 1000000u + 1);
		return;
	}
	uint64_t end = c->last_ns + (uint64_t)d->o.idle_ms * 1000000u;
	if (now >= end) {
		fail(c, CL_DP_FAIL_IDLE, "idle timeout (%u ms)", d->o.idle_ms);
		return;
	}
	arm_timer(c, (end - now) / 1000000u + 1); /* activity moved the deadline */
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	dp_conn *c = arg;
	if (c->sign.state == 3)
		c->sign_failed = true;
	drive(c);
}

void dp_conn_resume(dp_conn *c)
{
	/* Deferred to the loop: the caller may be inside another handshake's
	 * job, where no SSL call may start. */
	event_active(c->resume, 0, 1);
}

/* ---------------------------------------------------------------- accept */

static void peer_name(const struct sockaddr_storage *ss, char out[PEER_MAX])
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &v4->sin_addr, a, sizeof(a));
		port = ntohs(v4->sin_port);
		snprintf(out, PEER_MAX, "%s:%u", a, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &v6->sin6_addr, a, sizeof(a));
		port = ntohs(v6->sin6_port);
		snprintf(out, PEER_MAX, "[%s]:%u", a, port);
	} else {
		snprintf(out, PEER_MAX, "unknown");
	}
}

/* Refused at accept: a TCP reset, counted. */
static void refuse(dp_guest *g, int fd, const char *peer, const char *why)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	g->st.failures[CL_DP_FAIL_LIMIT]++;
	cl_warn_rl("tls: guest=%s peer=%s %s", g->id, peer, why);
}

static void conn_new(dp_guest *g, int fd, const char *peer)
{
	dp *d = g->d;
	dp_conn *c = calloc(1, sizeof(*c));
	int one = 1;
	if (!c) {
		close(fd);
		return;
	}
	c->g = g;
	c->cfd = fd;
	c->bfd = -1;
	c->up.cap = c->down.cap = DP_BUF;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->start_ns = c->last_ns = cl_now_mono_ns();
	c->next = g->conns;
	if (g->conns)
		g->conns->prev = c;
	g->conns = c;
	g->nconns++;
	g->st.active++;
	g->st.connections++;
	d->nconns++;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->crd = event_new(d->base, fd, EV_READ | EV_PERSIST, on_io, c);
	c->cwr = event_new(d->base, fd, EV_WRITE | EV_PERSIST, on_io, c);
	c->timer = evtimer_new(d->base, on_timer, c);
	c->resume = event_new(d->base, -1, 0, on_resume, c);
	if (!c->crd || !c->cwr || !c->timer || !c->resume) {
		fail(c, CL_DP_FAIL_IO, "out of memory");
		return;
	}
	if (g->mode == CL_DP_MODE_AUTO) {
		c->state = ST_SNIFF; /* the SSL is made if a ClientHello comes */
	} else {
		if (!(c->ssl = SSL_new(g->ctx)) || SSL_set_fd(c->ssl, fd) != 1) {
			fail(c, CL_DP_FAIL_IO, "out of memory");
			return;
		}
		SSL_set_accept_state(c->ssl);
		c->state = ST_HANDSHAKE;
	}
	arm_timer(c, d->o.handshake_ms);
	drive(c);
}

void dp_conn_accept(dp_guest *g, int lfd)
{
	dp *d = g->d;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char peer[PEER_MAX];
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				cl_warn_rl("tls: guest=%s accept: %s", g->id, strerror(errno));
			return;
		}
		peer_name(&ss, peer);
		if (d->nconns >= d->o.max_conns)
			refuse(g, fd, peer, "connection limit of the host reached");
		else if (g->nconns >= d->o.max_conns_guest)
			refuse(g, fd, peer, "connection limit of the guest reached");
		else
			conn_new(g, fd, peer);
	}
}
