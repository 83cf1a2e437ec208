/* agent_ops_run.c — one channel op against its enclave's shim, on the ops
 * engine's event loop: a non-blocking connection, one request frame written,
 * one reply frame read, under a timer at the op's deadline. Nothing here
 * blocks, so a recv parked in a shim for 30 s costs a socket and a timer.
 *
 * Each enclave runs at most CL_AGENT_OPS_ENCLAVE_CONNS ops at once (the shim
 * serves 16 clients, and the sync loop's STATUS probe must find one free, or
 * the enclave would look dead); the rest wait in order, and one whose
 * deadline passes while it waits is answered "expired" without running.
 * Protocol: docs/internals.md ("The channel framing").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "host/agent_ops_internal.h"
#include "sandbox/sandbox.h"

/* A recv wait ends this long before the deadline, so the shim's (empty)
 * answer is back, and posted, before the deadline passes. */
#define RECV_SLACK_MS 500u
/* Reply payload room for an OK/ERROR answer (and the floor for DATA/LOG). */
#define REPLY_MIN 4096u

/* ---- enclaves ---- */

static ops_enclave *enclave_get(cl_agent_pool *p, const char *id)
{
	for (ops_enclave *e = p->enclaves; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	ops_enclave *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->next = p->enclaves;
	p->enclaves = e;
	return e;
}

void ops_enclave_release(cl_agent_pool *p, ops_enclave *enc)
{
	if (enc->running || enc->qhead)
		return;
	for (ops_enclave **pp = &p->enclaves; *pp; pp = &(*pp)->next)
		if (*pp == enc) {
			*pp = enc->next;
			free(enc);
			return;
		}
}

void ops_run_dequeue(ops_item *it)
{
	ops_enclave *enc = it->enc;
	if (!enc || it->running)
		return;
	ops_item *prev = NULL;
	for (ops_item *q = enc->qhead; q; prev = q, q = q->qnext) {
		if (q != it)
			continue;
		if (prev)
			prev->qnext = q->qnext;
		else
			enc->qhead = q->qnext;
		if (enc->qtail == q)
			enc->qtail = prev;
		q->qnext = NULL;
		return;
	}
}

/* ---- one op ---- */

static json_t *fail(const ops_item *it, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static json_t *fail(const ops_item *it, const char *reason, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ops_result_error(it->op.op, msg, reason);
}

static uint32_t reply_room(const cl_agent_op *op)
{
	uint32_t max = op->max ? op->max : 1;
	if (op->kind != CL_OP_RECV && op->kind != CL_OP_LOGS)
		return REPLY_MIN;
	return max < REPLY_MIN ? REPLY_MIN : max > CL_FRAME_MAX ? CL_FRAME_MAX : max;
}

/* The request frame for it->op into it->out. A recv wait is cut so that it
 * ends before the deadline. NULL, or a failure result. */
static json_t *build_request(ops_item *it, uint64_t now)
{
	const cl_agent_op *op = &it->op;
	uint8_t payload[8], type = 0;
	const uint8_t *src = payload;
	uint32_t len = 0, max = op->max ? op->max : 1;
	cl_buf in;
	cl_buf_init(&in, CL_FRAME_MAX);
	json_t *res = NULL;
	switch (op->kind) {
	case CL_OP_SEND:
		if (cl_base64_decode(op->data ? op->data : "", &in) != CL_OK) {
			res = fail(it, NULL, "send: data is not valid base64 (at most 1 MiB)");
			goto out;
		}
		type = CL_FRAME_DATA;
		src = in.data;
		len = (uint32_t)in.len;
		break;
	case CL_OP_EOF:
		type = CL_FRAME_EOF;
		break;
	case CL_OP_RECV: {
		uint64_t left_ms = (it->deadline_ns - now) / 1000000u;
		uint32_t wait = op->wait_ms;
		if (left_ms <= RECV_SLACK_MS)
			wait = 0;
		else if (wait > left_ms - RECV_SLACK_MS)
			wait = (uint32_t)(left_ms - RECV_SLACK_MS);
		uint32_t m = htonl(max), w = htonl(wait);
		memcpy(payload, &m, 4);
		memcpy(payload + 4, &w, 4);
		type = CL_FRAME_RECV;
		len = 8;
		break;
	}
	case CL_OP_LOGS: {
		uint32_t m = htonl(max);
		memcpy(payload, &m, 4);
		type = CL_FRAME_LOGS;
		len = 4;
		break;
	}
	default:
		res = fail(it, NULL, "unknown op kind");
		goto out;
	}
	it->out_len = CL_FRAME_HDR + (size_t)len;
	if (!(it->out = malloc(it->out_len)) || cl_frame_put_header(it->out, type, len) != CL_OK) {
		res = fail(it, NULL, "out of memory");
		goto out;
	}
	if (len)
		memcpy(it->out + CL_FRAME_HDR, src, len);
out:
	cl_buf_free(&in); /* enclave data: wiped */
	return res;
}

/* The result of a whole reply (ok with data for recv/logs). */
static json_t *reply_result(ops_item *it)
{
	const cl_agent_op *op = &it->op;
	uint8_t type = it->hdr[4];
	if (type == CL_FRAME_ERROR) {
		char msg[256];
		size_t n = it->in_got < sizeof(msg) - 1 ? it->in_got : sizeof(msg) - 1;
		for (size_t i = 0; i < n; i++) /* keep it printable */
			msg[i] = (it->in[i] >= 0x20 && it->in[i] < 0x7f) ? (char)it->in[i] : '?';
		msg[n] = '\0';
		return fail(it, NULL, "enclave %s: %s", op->enclave, msg);
	}
	uint8_t want = op->kind == CL_OP_RECV ? CL_FRAME_DATA : op->kind == CL_OP_LOGS ? CL_FRAME_LOG : CL_FRAME_OK;
	if (type != want)
		return fail(it, NULL, "enclave %s: unexpected reply type %u from the shim", op->enclave, type);
	json_t *r = json_pack("{s:s, s:b}", "op", op->op, "ok", 1);
	if (!r || (op->kind != CL_OP_RECV && op->kind != CL_OP_LOGS))
		return r;
	char *b64 = NULL;
	if (cl_base64_encode(it->in, it->in_got, &b64) != CL_OK ||
	    json_object_set_new(r, "data", json_string(b64)) != 0) {
		json_decref(r);
		r = fail(it, NULL, "out of memory");
	}
	if (b64) {
		explicit_bzero(b64, strlen(b64));
		free(b64);
	}
	return r;
}

/* The deadline: the op is answered "expired", running or still queued. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	ops_item *it = arg;
	cl_debug("op expired op=%s enclave=%s running=%d", it->op.op, it->op.enclave, it->running ? 1 : 0);
	json_t *res = it->running ? fail(it, "expired", "expired: enclave %s did not answer before the op's deadline",
					 it->op.enclave)
				  : fail(it, "expired", "expired: the op's deadline passed while it waited for enclave %s",
					 it->op.enclave);
	ops_run_dequeue(it);
	ops_finish(it->pool, it, res);
}

/* Reads what has arrived of the reply. NULL while more is needed (or when
 * it finished: *done), else a failure result. */
static json_t *read_reply(ops_item *it, bool *done)
{
	for (;;) {
		uint8_t *dst;
		size_t want;
		if (it->hdr_got < CL_FRAME_HDR) {
			dst = it->hdr + it->hdr_got;
			want = CL_FRAME_HDR - it->hdr_got;
		} else {
			dst = it->in + it->in_got;
			want = it->in_len - it->in_got;
		}
		if (want == 0) {
			*done = true;
			return NULL;
		}
		ssize_t r = recv(it->fd, dst, want, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return NULL;
		if (r <= 0)
			return fail(it, NULL, "enclave %s: shim: connection %s", it->op.enclave,
				    r == 0 ? "closed" : strerror(errno));
		if (it->hdr_got < CL_FRAME_HDR) {
			it->hdr_got += (size_t)r;
			if (it->hdr_got < CL_FRAME_HDR)
				continue;
			uint32_t n = (uint32_t)it->hdr[0] << 24 | (uint32_t)it->hdr[1] << 16 | (uint32_t)it->hdr[2] << 8 |
				     it->hdr[3];
			if (n > CL_FRAME_MAX || it->hdr[4] < CL_FRAME_DATA || it->hdr[4] > CL_FRAME_TYPE_MAX)
				return fail(it, NULL, "enclave %s: shim: malformed reply", it->op.enclave);
			if (n > reply_room(&it->op))
				return fail(it, NULL, "enclave %s: shim: reply of %u bytes exceeds %u", it->op.enclave, n,
					    reply_room(&it->op));
			/* allocated only now: a parked wait holds no buffer */
			if (!(it->in = malloc(n ? n : 1)))
				return fail(it, NULL, "out of memory");
			it->in_len = n;
		} else {
			it->in_got += (uint32_t)r;
		}
	}
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	ops_item *it = arg;
	cl_agent_pool *p = it->pool;
	json_t *res = NULL;
	while (it->out_off < it->out_len) {
		ssize_t w = send(fd, it->out + it->out_off, it->out_len - it->out_off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			ops_finish(p, it, fail(it, NULL, "enclave %s: shim: %s", it->op.enclave, strerror(errno)));
			return;
		}
		it->out_off += (size_t)w;
		if (it->out_off == it->out_len) { /* request sent: now wait for the reply */
			event_free(it->io);
			it->io = event_new(p->base, fd, EV_READ | EV_PERSIST, on_io, it);
			if (!it->io || event_add(it->io, NULL) != 0) {
				ops_finish(p, it, fail(it, NULL, "out of memory"));
				return;
			}
			return;
		}
	}
	bool done = false;
	res = read_reply(it, &done);
	if (res || done)
		ops_finish(p, it, res ? res : reply_result(it));
}

/* Connects and arms the events: NULL once it runs, else a failure result
 * (it did not start). */
static json_t *start(cl_agent_pool *p, ops_item *it, uint64_t now)
{
	json_t *res = build_request(it, now);
	if (res)
		return res;
	if (cl_sandbox_connect_nonblock(p->dir, it->op.enclave, &it->fd) != CL_OK)
		return fail(it, NULL, "enclave %s is not reachable: %s", it->op.enclave, cl_error_detail());
	it->io = event_new(p->base, it->fd, EV_WRITE | EV_PERSIST, on_io, it);
	if (!it->io || event_add(it->io, NULL) != 0)
		return fail(it, NULL, "out of memory");
	return NULL;
}

void ops_run_next(cl_agent_pool *p, ops_enclave *enc)
{
	while (enc->running < CL_AGENT_OPS_ENCLAVE_CONNS && enc->qhead) {
		ops_item *it = enc->qhead;
		enc->qhead = it->qnext;
		if (!enc->qhead)
			enc->qtail = NULL;
		it->qnext = NULL;
		uint64_t now = cl_now_mono_ns();
		json_t *res = NULL;
		if (now >= it->deadline_ns) {
			cl_debug("op expired while queued op=%s enclave=%s", it->op.op, it->op.enclave);
			res = fail(it, "expired", "expired: the op's deadline passed while it waited for enclave %s",
				   it->op.enclave);
		} else if (!(res = start(p, it, now))) {
			it->running = true;
			enc->running++;
			continue;
		}
		ops_finish_queued(p, it, res);
	}
}

void ops_run_enqueue(cl_agent_pool *p, ops_item *it)
{
	/* One timer from now to the deadline, queued or running. */
	uint64_t now = cl_now_mono_ns(), left = it->deadline_ns > now ? it->deadline_ns - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(left / 1000000000u), .tv_usec = (suseconds_t)(left % 1000000000u) / 1000};
	ops_enclave *enc = enclave_get(p, it->op.enclave);
	if (!enc || !(it->timer = evtimer_new(p->base, on_timer, it)) || evtimer_add(it->timer, &tv) != 0) {
		ops_finish(p, it, fail(it, NULL, "out of memory"));
		if (enc)
			ops_enclave_release(p, enc);
		return;
	}
	it->enc = enc;
	it->qnext = NULL;
	if (enc->qtail)
		enc->qtail->qnext = it;
	else
		enc->qhead = it;
	enc->qtail = it;
	ops_run_next(p, enc);
	ops_enclave_release(p, enc);
}
