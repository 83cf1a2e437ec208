/* ipc.c — request/answer messages over SOCK_SEQPACKET (see ipc.h).
 *
 * Ordering: the server accepts request id N+1 only after N (mod 2^32), so a
 * replayed, duplicated or reordered request is refused; the client numbers its
 * requests the same way and drops an answer to an earlier (timed-out) one. */
#include "common/ipc.h"

#include <errno.h>
#include <poll.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define MAX_PASSED_FDS 16 /* control space for descriptors a hostile peer attaches */
#define LOG_FIRST_REFUSALS 100

cl_err cl_ipc_pair(int fds[2])
{
	CL_ENSURE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0, CL_ESYS,
		  "socketpair: %s", strerror(errno));
	return CL_OK;
}

/* ---------------------------------------------------------------- payload helpers */

cl_err cl_ipc_put_str(cl_buf *b, const char *s)
{
	size_t n = strlen(s);
	CL_ENSURE(n <= CL_IPC_STR_MAX, CL_ETOOBIG, "string of %zu bytes exceeds %d", n, CL_IPC_STR_MAX);
	CL_GUARD(cl_buf_put_be16(b, (uint16_t)n));
	return cl_buf_put(b, s, n);
}

cl_err cl_ipc_get_str(cl_buf *b, char *out, size_t outsz)
{
	uint16_t n = 0;
	const uint8_t *p = NULL;
	CL_GUARD(cl_buf_get_be16(b, &n));
	CL_ENSURE(n < outsz, CL_EINVAL, "string of %u bytes exceeds %zu", n, outsz ? outsz - 1 : 0);
	CL_GUARD(cl_buf_get_ref(b, &p, n));
	CL_ENSURE(memchr(p, '\0', n) == NULL, CL_EINVAL, "string holds a NUL byte");
	memcpy(out, p, n);
	out[n] = '\0';
	return CL_OK;
}

cl_err cl_ipc_put_bytes(cl_buf *b, const void *p, size_t n)
{
	CL_ENSURE(n <= CL_IPC_MSG_MAX, CL_ETOOBIG, "byte string of %zu bytes too long", n);
	CL_GUARD(cl_buf_put_be32(b, (uint32_t)n));
	return cl_buf_put(b, p, n);
}

cl_err cl_ipc_get_bytes(cl_buf *b, size_t max, const uint8_t **p, size_t *n)
{
	uint32_t len = 0;
	CL_GUARD(cl_buf_get_be32(b, &len));
	CL_ENSURE(len <= max, CL_EINVAL, "byte string of %u bytes exceeds %zu", len, max);
	CL_GUARD(cl_buf_get_ref(b, p, len));
	*n = len;
	return CL_OK;
}

cl_err cl_ipc_get_fixed(cl_buf *b, void *out, size_t n)
{
	const uint8_t *p = NULL;
	size_t len = 0;
	CL_GUARD(cl_ipc_get_bytes(b, n, &p, &len));
	CL_ENSURE(len == n, CL_EINVAL, "byte string of %zu bytes, expected %zu", len, n);
	memcpy(out, p, n);
	return CL_OK;
}

cl_err cl_ipc_get_end(const cl_buf *b)
{
	CL_ENSURE(cl_buf_remaining(b) == 0, CL_EPROTO, "%zu trailing bytes", cl_buf_remaining(b));
	return CL_OK;
}

/* ---------------------------------------------------------------- wire */

static void put_header(uint8_t h[CL_IPC_HDR], uint16_t type, uint16_t flags, uint32_t id, uint32_t len)
{
	h[0] = (uint8_t)(type >> 8), h[1] = (uint8_t)type;
	h[2] = (uint8_t)(flags >> 8), h[3] = (uint8_t)flags;
	for (int i = 0; i < 4; i++) {
		h[4 + i] = (uint8_t)(id >> (24 - 8 * i));
		h[8 + i] = (uint8_t)(len >> (24 - 8 * i));
	}
}

typedef struct hdr {
	uint16_t type, flags;
	uint32_t id, len;
} hdr;

static hdr get_header(const uint8_t *p)
{
	hdr h;
	h.type = (uint16_t)(p[0] << 8 | p[1]);
	h.flags = (uint16_t)(p[2] << 8 | p[3]);
	h.id = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	h.len = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	return h;
}

/* Sends one datagram: header then payload, with nfds descriptors attached. */
static cl_err send_msg(int fd, const uint8_t h[CL_IPC_HDR], const void *payload, size_t n, const int *fds,
		       size_t nfds)
{
	union {
		struct cmsghdr align;
		uint8_t space[CMSG_SPACE(sizeof(int) * CL_IPC_FDS_MAX)];
	} ctl;
	struct iovec iov[2] = {{.iov_base = (void *)h, .iov_len = CL_IPC_HDR},
			       {.iov_base = (void *)payload, .iov_len = n}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = n ? 2 : 1};
	ssize_t w;
	CL_ENSURE(nfds <= CL_IPC_FDS_MAX, CL_EINVAL, "at most %d descriptors per ipc message", CL_IPC_FDS_MAX);
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.space;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		w = sendmsg(fd, &m, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN))
		return cl_errorf(CL_EUNAVAIL, "ipc peer is gone");
	CL_ENSURE(w >= 0, CL_ESYS, "ipc send: %s", strerror(errno));
	CL_ENSURE((size_t)w == CL_IPC_HDR + n, CL_ESYS, "ipc send: short datagram");
	return CL_OK;
}

/* Receives one datagram into buf[cap]. *len is what was stored. Up to
 * keep_max attached descriptors are kept in fds[] (*nfds of them; fds may be
 * NULL when keep_max is 0); with more, all are closed. Returns CL_ETOOBIG if
 * the datagram was longer than cap (the header, if any, is still in buf),
 * CL_EUNAVAIL on end of stream, CL_EPROTO if more descriptors came with it
 * than may be kept (they are closed). */
static cl_err recv_msg(int fd, uint8_t *buf, size_t cap, size_t *len, int *fds, size_t keep_max, size_t *nfds)
{
	union {
		struct cmsghdr align;
		uint8_t space[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
			   .msg_controllen = sizeof(ctl.space)};
	ssize_t r;
	int got[MAX_PASSED_FDS];
	size_t ngot = 0;
	*len = 0;
	if (nfds)
		*nfds = 0;
	do
		r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == ECONNRESET)
		return cl_errorf(CL_EUNAVAIL, "ipc peer is gone");
	CL_ENSURE(r >= 0, CL_ESYS, "ipc receive: %s", strerror(errno));
	if (r == 0 && m.msg_controllen == 0 && !(m.msg_flags & MSG_TRUNC))
		return cl_errorf(CL_EUNAVAIL, "ipc peer closed the channel");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int pfd;
			memcpy(&pfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (ngot < MAX_PASSED_FDS)
				got[ngot++] = pfd;
			else
				close(pfd);
		}
	}
	*len = (size_t)r;
	if ((m.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || ngot > keep_max) {
		for (size_t i = 0; i < ngot; i++)
			close(got[i]);
		if (ngot > keep_max || (m.msg_flags & MSG_CTRUNC))
			return cl_errorf(CL_EPROTO, "descriptors attached to an ipc message");
		return cl_errorf(CL_ETOOBIG, "ipc message longer than %zu bytes", cap);
	}
	for (size_t i = 0; i < ngot; i++)
		fds[i] = got[i];
	if (nfds)
		*nfds = ngot;
	return CL_OK;
}

/* ---------------------------------------------------------------- client */

void cl_ipc_client_init(cl_ipc_client *c, int fd, uint32_t max_answer, int timeout_ms)
{
	c->fd = fd;
	c->last_id = 0;
	c->max_answer = max_answer > CL_IPC_MSG_MAX - CL_IPC_HDR ? CL_IPC_MSG_MAX - CL_IPC_HDR : max_answer;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
}

/* Checks one received answer against the request (type, id). Returns CL_OK
 * with the payload appended to ans — or with *stale set and ans untouched for
 * the late answer of an earlier request — the peer's refusal code, or
 * CL_EPROTO. */
static cl_err check_answer(const uint8_t *m, size_t n, uint16_t type, uint32_t id, bool *stale, cl_buf *ans)
{
	*stale = false;
	CL_ENSURE(n >= CL_IPC_HDR, CL_EPROTO, "ipc answer shorter than its header");
	hdr h = get_header(m);
	CL_ENSURE((h.flags & CL_IPC_F_ANSWER) && !(h.flags & ~(CL_IPC_F_ANSWER | CL_IPC_F_ERROR)), CL_EPROTO,
		  "ipc answer with flags 0x%x", h.flags);
	CL_ENSURE(h.len == n - CL_IPC_HDR, CL_EPROTO, "ipc answer length field does not match");
	if (h.id != id && (int32_t)(id - h.id) > 0) {
		*stale = true; /* the answer to a request that timed out */
		return CL_OK;
	}
	CL_ENSURE(h.id == id && h.type == type, CL_EPROTO, "ipc answer does not match the request");
	if (h.flags & CL_IPC_F_ERROR) {
		CL_ENSURE(h.len == 4, CL_EPROTO, "ipc refusal of %u bytes", h.len);
		uint32_t code = (uint32_t)m[12] << 24 | (uint32_t)m[13] << 16 | (uint32_t)m[14] << 8 | m[15];
		CL_ENSURE(code != 0 && code <= CL_ERR_LAST, CL_EPROTO, "ipc refusal with unknown code %u", code);
		return cl_errorf((cl_err)code, "refused by the peer: %s", cl_err_name((cl_err)code));
	}
	return cl_buf_put(ans, m + CL_IPC_HDR, h.len);
}

cl_err cl_ipc_call(cl_ipc_client *c, uint16_t type, const cl_buf *req, cl_buf *ans)
{
	return cl_ipc_call_fds(c, type, req, NULL, 0, ans);
}

cl_err cl_ipc_call_fds(cl_ipc_client *c, uint16_t type, const cl_buf *req, const int *fds, size_t nfds,
		       cl_buf *ans)
{
	uint8_t h[CL_IPC_HDR];
	size_t cap = (size_t)c->max_answer + CL_IPC_HDR;
	uint8_t *m = NULL;
	cl_err err;
	cl_buf_reset(ans);
	CL_ENSURE(req->len <= CL_IPC_MSG_MAX - CL_IPC_HDR, CL_ETOOBIG, "ipc request of %zu bytes", req->len);
	uint32_t id = ++c->last_id;
	put_header(h, type, 0, id, (uint32_t)req->len);
	err = send_msg(c->fd, h, req->data, req->len, fds, nfds);
	if (err != CL_OK) {
		c->last_id--; /* never sent: the server did not consume it */
		return err;
	}
	m = malloc(cap);
	CL_ENSURE(m != NULL, CL_ENOMEM, "out of memory");
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)c->timeout_ms * 1000000u;
	for (;;) {
		uint64_t now = cl_now_mono_ns();
		if (now >= deadline) {
			err = cl_errorf(CL_ETIMEOUT, "no ipc answer within %d ms", c->timeout_ms);
			goto out;
		}
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int left = (int)((deadline - now + 999999) / 1000000);
		int r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = cl_errorf(CL_ESYS, "poll: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			continue; /* the deadline check above ends the loop */
		size_t n = 0;
		bool stale = false;
		CL_GUARD_OUT(err, recv_msg(c->fd, m, cap, &n, NULL, 0, NULL));
		err = check_answer(m, n, type, id, &stale, ans);
		explicit_bzero(m, n);
		if (err != CL_OK || !stale)
			goto out;
	}
out:
	explicit_bzero(m, cap);
	free(m);
	if (err != CL_OK)
		cl_buf_reset(ans);
	return err;
}

/* ---------------------------------------------------------------- server */

void cl_ipc_server_init(cl_ipc_server *s, int fd, const char *name, const cl_ipc_handler *handlers,
			size_t nhandlers, uint32_t max_msg, void *ctx)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->name = name;
	s->handlers = handlers;
	s->nhandlers = nhandlers;
	s->max_msg = max_msg < CL_IPC_HDR ? CL_IPC_HDR : max_msg > CL_IPC_MSG_MAX ? CL_IPC_MSG_MAX : max_msg;
	s->ctx = ctx;
	s->peer.pid = -1;
	s->peer.uid = (uid_t)-1;
	s->peer.gid = (gid_t)-1;
	for (size_t i = 0; i < CL_IPC_FDS_MAX; i++)
		s->fds[i] = -1;
	if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && clen == sizeof(cred)) {
		s->peer.pid = cred.pid;
		s->peer.uid = cred.uid;
		s->peer.gid = cred.gid;
	}
}

static const cl_ipc_handler *find_handler(const cl_ipc_server *s, uint16_t type)
{
	for (size_t i = 0; i < s->nhandlers; i++)
		if (s->handlers[i].type == type)
			return &s->handlers[i];
	return NULL;
}

/* Replaces out with a refusal of (type, id), logs it and returns code. */
static cl_err refuse(cl_ipc_server *s, const hdr *h, cl_err code, cl_buf *out)
{
	const cl_ipc_handler *hd = find_handler(s, h->type);
	uint8_t hb[CL_IPC_HDR], body[4] = {0, 0, 0, (uint8_t)code};
	s->refused++;
	if (s->refused <= LOG_FIRST_REFUSALS || s->refused % 1000 == 0)
		cl_warn("ipc %s: refused %s (type %u, id %u) from pid %d: %s: %s (%llu refusals)",
			s->name ? s->name : "?", hd ? hd->name : "unknown request", h->type, h->id,
			(int)s->peer.pid, cl_err_name(code), cl_error_detail(), (unsigned long long)s->refused);
	put_header(hb, h->type, CL_IPC_F_ANSWER | CL_IPC_F_ERROR, h->id, 4);
	cl_buf_reset(out);
	/* Cannot fail: out->max is at least CL_IPC_HDR + 4 (checked by dispatch). */
	if (cl_buf_put(out, hb, sizeof(hb)) != CL_OK || cl_buf_put(out, body, sizeof(body)) != CL_OK)
		cl_buf_reset(out);
	return code;
}

/* Decodes and runs a request whose header checked out; answer in out. */
static cl_err run_request(cl_ipc_server *s, const cl_ipc_handler *hd, const hdr *h, const uint8_t *payload,
			  cl_buf *out)
{
	union {
		max_align_t align;
		uint8_t b[CL_IPC_ARGS_MAX];
	} args;
	cl_buf req, ans;
	uint8_t hb[CL_IPC_HDR];
	cl_err err;
	memset(&args, 0, sizeof(args));
	cl_buf_wrap(&req, payload, h->len);
	cl_buf_init(&ans, s->max_msg - CL_IPC_HDR);
	CL_GUARD_OUT(err, hd->decode(&req, args.b));
	CL_GUARD_OUT(err, cl_ipc_get_end(&req)); /* decoded exactly: nothing ignored */
	CL_GUARD_OUT(err, hd->run(s->ctx, &s->peer, args.b, &ans));
	put_header(hb, h->type, CL_IPC_F_ANSWER, h->id, (uint32_t)ans.len);
	cl_buf_reset(out);
	CL_GUARD_OUT(err, cl_buf_put(out, hb, sizeof(hb)));
	CL_GUARD_OUT(err, cl_buf_put(out, ans.data, ans.len));
out:
	explicit_bzero(&args, sizeof(args));
	cl_buf_free(&ans); /* wipes: answers may hold derived keys */
	return err;
}

cl_err cl_ipc_server_dispatch(cl_ipc_server *s, const uint8_t *msg, size_t len, cl_buf *out)
{
	hdr h = {0};
	const cl_ipc_handler *hd;
	cl_err err;
	cl_error_clear();
	cl_buf_reset(out);
	if (out->max < CL_IPC_HDR + 4)
		return cl_errorf(CL_EINTERNAL, "ipc answer buffer too small");
	if (len < CL_IPC_HDR)
		return refuse(s, &h, cl_errorf(CL_EPROTO, "message of %zu bytes is shorter than a header", len), out);
	h = get_header(msg);
	if (len > s->max_msg) {
		if (h.flags == 0 && h.id == s->last_id + 1)
			s->last_id = h.id; /* as serve_one does for a datagram cut at max_msg */
		return refuse(s, &h, cl_errorf(CL_ETOOBIG, "message of %zu bytes exceeds %u", len, s->max_msg), out);
	}
	if (h.flags != 0)
		return refuse(s, &h, cl_errorf(CL_EPROTO, "request with flags 0x%x", h.flags), out);
	if (h.len != len - CL_IPC_HDR)
		return refuse(s, &h, cl_errorf(CL_EPROTO, "length field %u, payload %zu", h.len, len - CL_IPC_HDR),
			      out);
	if (h.id != s->last_id + 1)
		return refuse(s, &h, cl_errorf(CL_EPROTO, "request out of order (expected id %u)", s->last_id + 1),
			      out);
	s->last_id = h.id; /* consumed, whatever follows */
	hd = find_handler(s, h.type);
	if (!hd)
		return refuse(s, &h, cl_errorf(CL_EPROTO, "unknown request type"), out);
	if (h.len > hd->max_len)
		return refuse(s, &h, cl_errorf(CL_ETOOBIG, "payload of %u bytes exceeds %u", h.len, hd->max_len), out);
	if (s->nfds > hd->max_fds)
		return refuse(s, &h, cl_errorf(CL_EPROTO, "%zu descriptors attached (at most %u)", s->nfds, hd->max_fds),
			      out);
	err = run_request(s, hd, &h, msg + CL_IPC_HDR, out);
	if (err != CL_OK)
		return refuse(s, &h, err, out);
	return CL_OK;
}

/* The most descriptors any request type of s may carry. */
static size_t fds_wanted(const cl_ipc_server *s)
{
	size_t m = 0;
	for (size_t i = 0; i < s->nhandlers; i++)
		if (s->handlers[i].max_fds > m)
			m = s->handlers[i].max_fds;
	return m > CL_IPC_FDS_MAX ? CL_IPC_FDS_MAX : m;
}

int cl_ipc_server_take_fd(cl_ipc_server *s, size_t i)
{
	if (i >= s->nfds || i >= CL_IPC_FDS_MAX)
		return -1;
	int fd = s->fds[i];
	s->fds[i] = -1;
	return fd;
}

/* Closes the descriptors of the last request that nobody took. */
static void close_fds(cl_ipc_server *s)
{
	for (size_t i = 0; i < s->nfds && i < CL_IPC_FDS_MAX; i++) {
		if (s->fds[i] >= 0)
			close(s->fds[i]);
		s->fds[i] = -1;
	}
	s->nfds = 0;
}

cl_err cl_ipc_server_serve_one(cl_ipc_server *s)
{
	size_t n = 0;
	uint8_t *m = malloc(s->max_msg);
	cl_buf out;
	cl_err err;
	CL_ENSURE(m != NULL, CL_ENOMEM, "out of memory");
	cl_buf_init(&out, CL_IPC_MSG_MAX);
	s->nfds = 0;
	err = recv_msg(s->fd, m, s->max_msg, &n, s->fds, fds_wanted(s), &s->nfds);
	if (err == CL_ETOOBIG || err == CL_EPROTO) {
		/* Refused under the header's id if there is one; an in-order id
		 * is consumed, so an honest client stays in step. */
		hdr h = n >= CL_IPC_HDR ? get_header(m) : (hdr){0};
		if (n >= CL_IPC_HDR && h.flags == 0 && h.id == s->last_id + 1)
			s->last_id = h.id;
		refuse(s, &h, err, &out);
	} else if (err == CL_OK) {
		(void)cl_ipc_server_dispatch(s, m, n, &out); /* a refusal is an answer too */
	} else {
		goto out;
	}
	/* Descriptors the run did not take (or of a refused request) are closed
	 * before the answer goes out: once the client has its answer, no copy
	 * of what it sent is left here. */
	close_fds(s);
	err = out.len ? send_msg(s->fd, out.data, out.data + CL_IPC_HDR, out.len - CL_IPC_HDR, NULL, 0) : CL_OK;
out:
	close_fds(s);
	explicit_bzero(m, s->max_msg);
	free(m);
	cl_buf_free(&out);
	return err;
}

/* ---------------------------------------------------------------- pipelined client */

cl_err cl_ipc_send_request(cl_ipc_client *c, uint16_t type, const cl_buf *req, uint32_t *id)
{
	uint8_t h[CL_IPC_HDR];
	CL_ENSURE(req->len <= CL_IPC_MSG_MAX - CL_IPC_HDR, CL_ETOOBIG, "ipc request of %zu bytes", req->len);
	uint32_t next = c->last_id + 1;
	put_header(h, type, 0, next, (uint32_t)req->len);
	CL_GUARD(send_msg(c->fd, h, req->data, req->len, NULL, 0));
	c->last_id = next;
	*id = next;
	return CL_OK;
}

cl_err cl_ipc_recv_answer(cl_ipc_client *c, uint16_t *type, uint32_t *id, cl_err *refusal, cl_buf *ans)
{
	size_t cap = (size_t)c->max_answer + CL_IPC_HDR, n = 0;
	uint8_t *m = malloc(cap);
	cl_err err;
	cl_buf_reset(ans);
	*refusal = CL_OK;
	CL_ENSURE(m != NULL, CL_ENOMEM, "out of memory");
	CL_GUARD_OUT(err, recv_msg(c->fd, m, cap, &n, NULL, 0, NULL));
	if (n < CL_IPC_HDR) {
		err = cl_errorf(CL_EPROTO, "ipc answer shorter than its header");
		goto out;
	}
	hdr h = get_header(m);
	/* Answers come back in order: the id must be one we sent. */
	if ((int32_t)(c->last_id - h.id) < 0) {
		err = cl_errorf(CL_EPROTO, "ipc answer to a request never sent");
		goto out;
	}
	*type = h.type;
	*id = h.id;
	bool stale = false;
	err = check_answer(m, n, h.type, h.id, &stale, ans);
	if (err != CL_OK && err != CL_EPROTO) {
		*refusal = err; /* the peer refused that request: the channel is fine */
		err = CL_OK;
	}
out:
	explicit_bzero(m, cap);
	free(m);
	return err;
}
