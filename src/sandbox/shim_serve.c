/* shim_serve.c — the shim's poll loop: the enclave channel, the socket's
 * clients, the bounded output buffer (backpressure: the channel is not read
 * while a DATA frame would not fit), the input queue and the log ring.
 * Protocol: docs/internals.md. A client that sends a malformed frame or a
 * frame that is not a request is disconnected; the shim carries on.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_internal.h"

#define RECV_WAIT_MAX_MS 60000u

/* ---- byte queues ---- */

static void q_init(cl_shim_queue *q, size_t max)
{
	memset(q, 0, sizeof(*q));
	q->max = max;
}

static void q_free(cl_shim_queue *q)
{
	if (q->data) {
		explicit_bzero(q->data, q->max);
		free(q->data);
	}
	q->data = NULL;
	q->head = q->len = 0;
}

static size_t q_space(const cl_shim_queue *q)
{
	return q->max - q->len;
}

/* Appends n bytes; the caller checked q_space. */
static int q_push(cl_shim_queue *q, const void *p, size_t n)
{
	if (n > q_space(q))
		return -1;
	if (!q->data && !(q->data = malloc(q->max)))
		return -1;
	if (q->head + q->len + n > q->max) {
		memmove(q->data, q->data + q->head, q->len);
		q->head = 0;
	}
	if (n)
		memcpy(q->data + q->head + q->len, p, n);
	q->len += n;
	return 0;
}

static void q_pop(cl_shim_queue *q, size_t n)
{
	q->head += n;
	q->len -= n;
	if (q->len == 0)
		q->head = 0;
}

/* The log ring keeps the newest bytes. */
static void log_push(cl_shim_queue *q, const uint8_t *p, size_t n)
{
	if (n > q->max) {
		p += n - q->max;
		n = q->max;
	}
	if (n > q_space(q))
		q_pop(q, n - q_space(q));
	if (q_push(q, p, n) != 0)
		cl_warn("log ring: out of memory");
}

static int q_push_frame(cl_shim_queue *q, uint8_t type, const void *p, uint32_t n)
{
	uint8_t hdr[CL_FRAME_HDR];
	if (cl_frame_put_header(hdr, type, n) != CL_OK || q_space(q) < CL_FRAME_HDR + (size_t)n)
		return -1;
	if (q_push(q, hdr, sizeof(hdr)) != 0 || q_push(q, p, n) != 0)
		return -1;
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- launch outcome ---- */

static void report_status(cl_shim *s, const char *line)
{
	if (s->status_fd < 0)
		return;
	if (write(s->status_fd, line, strlen(line)) < 0)
		cl_warn("launcher went away before the launch outcome");
	close(s->status_fd);
	s->status_fd = -1;
}

static void launch_failed(cl_shim *s, const char *why)
{
	char line[1024], tail[256];
	size_t n = s->log.len < sizeof(tail) - 1 ? s->log.len : sizeof(tail) - 1;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = s->log.data[s->log.head + s->log.len - n + i];
		tail[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
	}
	tail[n] = '\0';
	snprintf(line, sizeof(line), "ERR %d entrypoint: %s%s%s\n", (int)CL_EUNAVAIL, why, n ? ": " : "", tail);
	report_status(s, line);
	s->stop = true;
}

/* init closes the channel only as it ends (or is killed): wait (bounded)
 * for its status, which says why. */
static void reap_closed_init(cl_shim *s)
{
	int st;
	uint64_t deadline = cl_now_mono_ns() + 1000000000ull;
	while (!s->init_reaped && cl_now_mono_ns() < deadline) {
		pid_t r = waitpid(s->init_pid, &st, WNOHANG);
		if (r == s->init_pid) {
			s->init_reaped = true;
			if (!s->app_exited) {
				s->app_exited = true;
				s->exit_status = st;
			}
		} else if (r < 0 && errno != EINTR) {
			break;
		} else {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
}

static void check_launch(cl_shim *s)
{
	if (s->ready || s->status_fd < 0)
		return;
	char why[96];
	if (s->chan_closed && !s->app_exited)
		reap_closed_init(s);
	if (s->app_exited && WIFSIGNALED(s->exit_status) && WTERMSIG(s->exit_status) == SIGKILL) {
		launch_failed(s, "killed before READY (memory limit too small for the image?)");
	} else if (s->app_exited) {
		snprintf(why, sizeof(why), "application ended before READY (wait status %d)", s->exit_status);
		launch_failed(s, why);
	} else if (s->chan_closed) {
		launch_failed(s, "cloister-init closed the channel before READY");
	} else if (cl_now_mono_ns() > s->ready_deadline_ns) {
		launch_failed(s, "no READY from cloister-init in time");
	}
}

/* ---- clients ---- */

static void prov_abort(cl_shim *s);
static void chan_close(cl_shim *s, const char *why);

static void client_close_in(cl_shim *s, cl_shim_client *c)
{
	if (c->fd < 0)
		return;
	if (s && s->prov == c) {
		/* its sender went away: init discards what it staged (a bundle, or
		 * a restore's blob: an empty BUNDLE_END / STATE_END), unless it has
		 * the whole of it already (then its answer is dropped) */
		if (s->restoring && !c->prov_wait && !s->chan_closed &&
		    q_push_frame(&s->in, CL_FRAME_STATE_END, NULL, 0) != 0)
			cl_warn("enclave %s: the restore's abort did not fit the input queue", s->id);
		else if (s->suspending && !s->chan_closed && q_push_frame(&s->in, CL_FRAME_SUSPEND, NULL, 0) != 0)
			/* a suspend whose receiver went away before its end: the
			 * application resumes (an empty SUSPEND) once init is done */
			cl_warn("enclave %s: the suspend's resume did not fit the input queue", s->id);
		else if (!s->restoring && !s->keygen && !s->suspending && !c->prov_wait)
			prov_abort(s);
		s->keygen = false;
		s->suspending = false;
		s->restoring = false;
		s->prov = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->parked = false;
	c->stalled = false;
	c->prov_wait = false;
	c->files_wait = false;
	free(c->dec);
	c->dec = NULL;
	if (c->dec_buf) {
		explicit_bzero(c->dec_buf, CL_FRAME_HDR + CL_FRAME_MAX);
		free(c->dec_buf);
	}
	c->dec_buf = NULL;
	q_free(&c->reply);
}

static cl_shim *the_shim; /* one per process: client_close finds the transfer it may end */

static void client_close(cl_shim_client *c)
{
	client_close_in(the_shim, c);
}

static void client_flush(cl_shim_client *c)
{
	while (c->fd >= 0 && c->reply.len) {
		ssize_t w = send(c->fd, c->reply.data + c->reply.head, c->reply.len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			client_close(c);
			return;
		}
		q_pop(&c->reply, (size_t)w);
	}
}

static void reply(cl_shim_client *c, uint8_t type, const void *p, uint32_t n)
{
	if (q_push_frame(&c->reply, type, p, n) != 0) {
		client_close(c);
		return;
	}
	client_flush(c);
}

static void reply_error(cl_shim_client *c, const char *msg)
{
	reply(c, CL_FRAME_ERROR, msg, (uint32_t)strlen(msg));
}

static void chan_process(cl_shim *s);

/* Answers a RECV with what is buffered (possibly nothing). */
static void reply_output(cl_shim *s, cl_shim_client *c)
{
	size_t n = s->out.len < c->recv_max ? s->out.len : c->recv_max;
	c->parked = false;
	reply(c, CL_FRAME_DATA, s->out.data ? s->out.data + s->out.head : NULL, (uint32_t)n);
	q_pop(&s->out, n);
	if (n)
		chan_process(s); /* room again: a stalled frame may now fit */
}

/* Oldest parked RECV first, while there is output (or always once no more can come). */
static void serve_parked(cl_shim *s)
{
	for (;;) {
		cl_shim_client *best = NULL;
		for (size_t i = 0; i < CL_SHIM_CLIENTS; i++) {
			cl_shim_client *c = &s->clients[i];
			if (c->fd >= 0 && c->parked && (!best || c->park_seq < best->park_seq))
				best = c;
		}
		if (!best || (s->out.len == 0 && !s->chan_closed))
			return;
		reply_output(s, best);
	}
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void reply_status(cl_shim *s, cl_shim_client *c)
{
	char json[512], key[2 * sizeof(s->key) + 1], sha[2 * sizeof(s->bundle_sha384) + 1];
	hex(s->key, sizeof(s->key), key);
	hex(s->bundle_sha384, sizeof(s->bundle_sha384), sha);
	int n = snprintf(json, sizeof(json), "{\"state\":\"%s\",\"init_pid\":%d,\"exit_status\":%d%s%s%s%s%s%s%s}",
			 s->app_exited ? "exited" : "running", (int)s->init_pid, s->exit_status,
			 s->has_key ? ",\"public_key\":\"" : "", s->has_key ? key : "", s->has_key ? "\"" : "",
			 s->has_key && s->await_bundle && !s->provisioned ? ",\"awaiting_bundle\":true" : "",
			 s->provisioned ? ",\"bundle_sha384\":\"" : "", s->provisioned ? sha : "", s->provisioned ? "\"" : "");
	reply(c, CL_FRAME_STATUS, json, (uint32_t)n);
}

/* Tells init to drop a transfer (an empty BUNDLE_END), now or once there is room. */
static void prov_abort(cl_shim *s)
{
	if (s->chan_closed)
		return;
	s->abort_pending = q_push_frame(&s->in, CL_FRAME_BUNDLE_END, NULL, 0) != 0;
}

/* BUNDLE or BUNDLE_END from c: queued to init in order; one transfer at a time. */
static int handle_bundle(cl_shim *s, cl_shim_client *c, uint8_t type, const uint8_t *p, uint32_t len)
{
	if (s->chan_closed || s->app_exited) {
		reply_error(c, "enclave has exited");
		return 0;
	}
	if (s->prov && (s->prov != c || s->keygen)) {
		reply_error(c, "busy: another provisioning, suspend or restore is in progress");
		return 0;
	}
	if ((type == CL_FRAME_BUNDLE && len == 0) || (type == CL_FRAME_BUNDLE_END && len != CL_BUNDLE_END_LEN))
		return -1;
	if (q_push_frame(&s->in, type, p, len) != 0) {
		reply_error(c, "enclave input queue full");
		return 0;
	}
	s->prov = c;
	if (type == CL_FRAME_BUNDLE)
		reply(c, CL_FRAME_OK, NULL, 0);
	else
		c->prov_wait = true; /* answered by init's EXTEND or ERROR */
	return 0;
}

/* KEYGEN from c (docs/suspend.md): queued to init, answered by its KEY or
 * ERROR; one exchange with init at a time, as a transfer. */
static int handle_keygen(cl_shim *s, cl_shim_client *c, uint32_t len)
{
	if (len != 0)
		return -1;
	if (s->chan_closed || s->app_exited) {
		reply_error(c, "enclave has exited");
		return 0;
	}
	if (s->prov) {
		reply_error(c, "busy: another provisioning, suspend or restore is in progress");
		return 0;
	}
	if (q_push_frame(&s->in, CL_FRAME_KEYGEN, NULL, 0) != 0) {
		reply_error(c, "enclave input queue full");
		return 0;
	}
	s->prov = c;
	s->keygen = true;
	c->prov_wait = true;
	return 0;
}

/* SUSPEND from c (docs/suspend.md): queued to init; its STATE frames go to
 * c as they come (the channel waits while c's queue is full), then its
 * STATE_END or ERROR ends the exchange. An empty SUSPEND (resume the
 * application) is answered OK at once. */
static int handle_suspend(cl_shim *s, cl_shim_client *c, const uint8_t *p, uint32_t len)
{
	if (s->chan_closed || s->app_exited) {
		reply_error(c, "enclave has exited");
		return 0;
	}
	if (s->prov) {
		reply_error(c, "busy: another provisioning, suspend or restore is in progress");
		return 0;
	}
	if (q_push_frame(&s->in, CL_FRAME_SUSPEND, p, len) != 0) {
		reply_error(c, "enclave input queue full");
		return 0;
	}
	if (len == 0) {
		reply(c, CL_FRAME_OK, NULL, 0);
		return 0;
	}
	s->prov = c;
	s->suspending = true;
	c->prov_wait = true;
	return 0;
}

/* RESTORE, then STATE chunks and STATE_END from c (docs/suspend.md): queued
 * to init in order like a bundle (OK once queued; STATE_END answered by
 * init's STATE_END or ERROR); one exchange with init at a time. */
static int handle_restore(cl_shim *s, cl_shim_client *c, uint8_t type, const uint8_t *p, uint32_t len)
{
	if (s->chan_closed || s->app_exited) {
		reply_error(c, "enclave has exited");
		return 0;
	}
	if (type == CL_FRAME_RESTORE) {
		if (len == 0)
			return -1;
		if (s->prov) {
			reply_error(c, "busy: another provisioning, suspend or restore is in progress");
			return 0;
		}
	} else {
		if (s->prov != c || !s->restoring) {
			reply_error(c, "no restore in progress: RESTORE first");
			return 0;
		}
		if ((type == CL_FRAME_STATE && len == 0) || (type == CL_FRAME_STATE_END && len != 56))
			return -1;
	}
	if (q_push_frame(&s->in, type, p, len) != 0) {
		reply_error(c, "enclave input queue full");
		return 0;
	}
	s->prov = c;
	s->restoring = true;
	if (type == CL_FRAME_STATE_END)
		c->prov_wait = true;
	else
		reply(c, CL_FRAME_OK, NULL, 0);
	return 0;
}

/* A STATE frame from init: to the suspending client, if it is still there. */
static void state_out(cl_shim *s, const uint8_t *p, uint32_t len)
{
	if (s->prov && s->suspending && q_push_frame(&s->prov->reply, CL_FRAME_STATE, p, len) != 0)
		client_close(s->prov); /* cannot happen: the channel waited for room */
}

/* True while the channel's next frame is a STATE the suspending client's
 * queue has no room for yet. */
static bool state_stalled(const cl_shim *s)
{
	const cl_frame_dec *d = s->chan_dec;
	if (!s->prov || !s->suspending || d->len - d->off < CL_FRAME_HDR || d->buf[d->off + 4] != CL_FRAME_STATE)
		return false;
	uint32_t n = be32(d->buf + d->off);
	return n <= d->max && (size_t)n + CL_FRAME_HDR > q_space(&s->prov->reply);
}

/* init's answer to a BUNDLE_END, KEYGEN or SUSPEND, to the client waiting for it. */
static void prov_answer(cl_shim *s, uint8_t type, const uint8_t *p, uint32_t len)
{
	cl_shim_client *c = s->prov;
	s->prov = NULL;
	s->keygen = false;
	s->suspending = false;
	s->restoring = false;
	if (type == CL_FRAME_EXTEND) {
		uint8_t reg;
		if (cl_bundle_extend_parse(p, len, &reg, s->bundle_sha384) != CL_OK) {
			chan_close(s, "malformed EXTEND from cloister-init");
			return;
		}
		s->provisioned = true;
		cl_info("enclave %s: bundle installed and started", s->id);
	}
	if (!c || !c->prov_wait)
		return; /* nobody waits: its sender went away */
	c->prov_wait = false;
	reply(c, type, p, len);
}

/* An EXTEND from init during a restore (docs/suspend.md "PCR7"): the
 * bundle the suspended enclave had installed, replayed. Recorded like a
 * provisioning's (STATUS's bundle_sha384, which the agent records in PCR7
 * once the restore's STATE_END comes); it does not end the exchange. */
static void restore_extend(cl_shim *s, const uint8_t *p, uint32_t len)
{
	uint8_t reg, sha[sizeof(s->bundle_sha384)];
	if (cl_bundle_extend_parse(p, len, &reg, sha) != CL_OK ||
	    (s->provisioned && memcmp(sha, s->bundle_sha384, sizeof(sha)) != 0)) {
		chan_close(s, "malformed EXTEND from cloister-init (a restore replays one bundle)");
		return;
	}
	memcpy(s->bundle_sha384, sha, sizeof(sha));
	s->provisioned = true;
	cl_info("enclave %s: restored bundle's PCR7 extend replayed", s->id);
}

/* init's latest FILES list (empty when none came yet) to c. */
static void reply_files(cl_shim *s, cl_shim_client *c)
{
	c->files_wait = false;
	reply(c, CL_FRAME_FILES, s->files, s->files ? s->files_len : 0);
}

/* FILES_REQ from c: the latest list, or (p[0] == 1) a fresh one from init. */
static int handle_files(cl_shim *s, cl_shim_client *c, const uint8_t *p, uint32_t len)
{
	if (len != 1 || p[0] > 1)
		return -1;
	if (p[0] == 0 || s->chan_closed || s->app_exited || q_push_frame(&s->in, CL_FRAME_FILES_REQ, NULL, 0) != 0)
		reply_files(s, c);
	else
		c->files_wait = true; /* answered when init's FILES comes (or the channel ends) */
	return 0;
}

/* init's FILES: kept, and given to every client waiting for it. */
static void files_answer(cl_shim *s, const uint8_t *p, uint32_t len)
{
	uint8_t *copy = len >= 1 && len <= CL_FILES_BYTES ? malloc(len) : NULL;
	if (!copy) {
		chan_close(s, len >= 1 && len <= CL_FILES_BYTES ? "out of memory for FILES" : "malformed FILES from cloister-init");
		return;
	}
	memcpy(copy, p, len);
	free(s->files);
	s->files = copy;
	s->files_len = len;
	for (size_t i = 0; i < CL_SHIM_CLIENTS; i++)
		if (s->clients[i].fd >= 0 && s->clients[i].files_wait)
			reply_files(s, &s->clients[i]);
}

/* One request. Returns -1 when the client broke the protocol. */
static int handle_request(cl_shim *s, cl_shim_client *c, uint8_t type, const uint8_t *p, uint32_t len)
{
	switch (type) {
	case CL_FRAME_DATA:
		if (s->chan_closed || s->app_exited)
			reply_error(c, "enclave has exited");
		else if (q_push_frame(&s->in, CL_FRAME_DATA, p, len) != 0)
			reply_error(c, "enclave stdin buffer full");
		else
			reply(c, CL_FRAME_OK, NULL, 0);
		return 0;
	case CL_FRAME_EOF:
		if (len != 0)
			return -1;
		if (!s->chan_closed && q_push_frame(&s->in, CL_FRAME_EOF, NULL, 0) != 0)
			reply_error(c, "enclave stdin buffer full");
		else
			reply(c, CL_FRAME_OK, NULL, 0);
		return 0;
	case CL_FRAME_RECV: {
		if (len != 8)
			return -1;
		uint32_t max = be32(p), wait_ms = be32(p + 4);
		if (max == 0)
			return -1;
		c->recv_max = max < CL_FRAME_MAX ? max : CL_FRAME_MAX;
		if (s->out.len || s->chan_closed || wait_ms == 0) {
			reply_output(s, c);
		} else {
			c->parked = true;
			c->park_seq = ++s->park_counter;
			c->deadline_ns = cl_now_mono_ns() +
					 (uint64_t)(wait_ms < RECV_WAIT_MAX_MS ? wait_ms : RECV_WAIT_MAX_MS) * 1000000u;
		}
		return 0;
	}
	case CL_FRAME_LOGS: {
		if (len != 4)
			return -1;
		uint32_t max = be32(p);
		size_t n = s->log.len < max ? s->log.len : max;
		reply(c, CL_FRAME_LOG, s->log.data ? s->log.data + s->log.head + s->log.len - n : NULL, (uint32_t)n);
		return 0;
	}
	case CL_FRAME_STATUS:
		if (len != 0)
			return -1;
		reply_status(s, c);
		return 0;
	case CL_FRAME_BUNDLE:
	case CL_FRAME_BUNDLE_END:
		return handle_bundle(s, c, type, p, len);
	case CL_FRAME_FILES_REQ:
		return handle_files(s, c, p, len);
	case CL_FRAME_KEYGEN:
		return handle_keygen(s, c, len);
	case CL_FRAME_SUSPEND:
		return handle_suspend(s, c, p, len);
	case CL_FRAME_RESTORE:
	case CL_FRAME_STATE:
	case CL_FRAME_STATE_END:
		return handle_restore(s, c, type, p, len);
	default:
		return -1; /* not a request */
	}
}

/* True while c's next frame is a BUNDLE (or BUNDLE_END) that does not fit
 * the enclave's input queue yet: it stays in c's decoder meanwhile. */
static bool bundle_stalls(const cl_shim *s, const cl_shim_client *c)
{
	const cl_frame_dec *d = c->dec;
	if (d->len - d->off < CL_FRAME_HDR)
		return false;
	uint8_t type = d->buf[d->off + 4];
	uint32_t n = be32(d->buf + d->off);
	return (type == CL_FRAME_BUNDLE || type == CL_FRAME_BUNDLE_END || type == CL_FRAME_STATE ||
		type == CL_FRAME_STATE_END || type == CL_FRAME_RESTORE) && n <= d->max && !s->chan_closed &&
	       (size_t)n + CL_FRAME_HDR > q_space(&s->in);
}

static void client_process(cl_shim *s, cl_shim_client *c)
{
	while (c->fd >= 0 && !c->parked && !c->prov_wait && !c->files_wait && c->reply.len == 0) {
		if ((c->stalled = bundle_stalls(s, c)))
			return;
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		bool got = false;
		cl_err e = cl_frame_pull(c->dec, &got, &type, &p, &len);
		if (e == CL_OK && !got)
			return;
		if (e != CL_OK || handle_request(s, c, type, p, len) != 0) {
			client_close(c);
			return;
		}
	}
}

static void client_read(cl_shim *s, cl_shim_client *c)
{
	size_t space = cl_frame_dec_space(c->dec);
	if (space == 0) {
		client_close(c); /* cannot happen with a whole-frame buffer */
		return;
	}
	ssize_t r = recv(c->fd, cl_frame_dec_tail(c->dec), space, 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		client_close(c);
		return;
	}
	cl_frame_dec_commit(c->dec, (size_t)r);
	client_process(s, c);
}

static void accept_client(cl_shim *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (size_t i = 0; i < CL_SHIM_CLIENTS; i++) {
		cl_shim_client *c = &s->clients[i];
		if (c->fd >= 0)
			continue;
		c->dec_buf = malloc(CL_FRAME_HDR + CL_FRAME_MAX);
		c->dec = malloc(sizeof(*c->dec));
		if (!c->dec_buf || !c->dec) {
			free(c->dec_buf), free(c->dec);
			c->dec_buf = NULL, c->dec = NULL;
			break;
		}
		cl_frame_dec_init(c->dec, c->dec_buf, CL_FRAME_HDR + CL_FRAME_MAX, CL_FRAME_MAX);
		q_init(&c->reply, CL_FRAME_HDR + CL_FRAME_MAX);
		c->fd = fd;
		c->parked = false;
		return;
	}
	close(fd); /* full: the agent retries */
}

/* ---- the channel ---- */

static void chan_close(cl_shim *s, const char *why)
{
	if (s->chan_closed)
		return;
	if (why)
		cl_warn("enclave %s: %s", s->id, why);
	close(s->chan);
	s->chan = -1;
	s->chan_closed = true;
	q_free(&s->in);
}

static void chan_process(cl_shim *s)
{
	cl_frame_dec *d = s->chan_dec;
	while (!s->chan_closed) {
		/* Backpressure: leave a DATA frame in the decoder until it fits. */
		if (d->len - d->off >= CL_FRAME_HDR && d->buf[d->off + 4] == CL_FRAME_DATA &&
		    be32(d->buf + d->off) <= d->max && be32(d->buf + d->off) > q_space(&s->out))
			return;
		if (state_stalled(s))
			return;
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		bool got = false;
		cl_err e = cl_frame_pull(d, &got, &type, &p, &len);
		if (e == CL_OK && !got)
			return;
		if (e != CL_OK) {
			chan_close(s, "malformed frame from cloister-init");
			return;
		}
		switch (type) {
		case CL_FRAME_DATA:
			if (q_push(&s->out, p, len) != 0)
				chan_close(s, "output buffer allocation failed");
			break;
		case CL_FRAME_LOG:
			log_push(&s->log, p, len);
			break;
		case CL_FRAME_READY:
			if (!s->ready) {
				char line[64];
				s->ready = true;
				snprintf(line, sizeof(line), "OK %d %d\n", (int)s->init_pid, (int)getpid());
				report_status(s, line);
			}
			break;
		case CL_FRAME_KEY:
			if (len != sizeof(s->key) || p[0] != 0x04) {
				chan_close(s, "malformed KEY from cloister-init");
				return;
			}
			memcpy(s->key, p, sizeof(s->key));
			s->has_key = true;
			if (s->prov && s->keygen)
				prov_answer(s, CL_FRAME_KEY, p, len);
			break;
		case CL_FRAME_EXTEND:
			if (s->prov && s->restoring) {
				restore_extend(s, p, len);
				break;
			}
			prov_answer(s, type, p, len);
			break;
		case CL_FRAME_ERROR:
			prov_answer(s, type, p, len);
			break;
		case CL_FRAME_FILES:
			files_answer(s, p, len);
			break;
		case CL_FRAME_STATE:
			state_out(s, p, len);
			break;
		case CL_FRAME_STATE_END:
			if (len != 56) {
				chan_close(s, "malformed STATE_END from cloister-init");
				return;
			}
			if (s->prov && (s->suspending || s->restoring))
				prov_answer(s, type, p, len);
			break;
		case CL_FRAME_EXIT:
			if (len != 4) {
				chan_close(s, "malformed EXIT from cloister-init");
				return;
			}
			s->exit_status = (int)be32(p);
			s->app_exited = true;
			break;
		default:
			chan_close(s, "unexpected frame type from cloister-init");
			return;
		}
	}
}

static void chan_read(cl_shim *s)
{
	size_t space = cl_frame_dec_space(s->chan_dec);
	if (space == 0)
		return;
	ssize_t r = read(s->chan, cl_frame_dec_tail(s->chan_dec), space);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		chan_close(s, NULL);
		return;
	}
	cl_frame_dec_commit(s->chan_dec, (size_t)r);
	chan_process(s);
}

static void chan_write(cl_shim *s)
{
	while (!s->chan_closed && s->in.len) {
		ssize_t w = send(s->chan, s->in.data + s->in.head, s->in.len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			chan_close(s, NULL);
			return;
		}
		q_pop(&s->in, (size_t)w);
	}
}

static bool chan_stalled(const cl_shim *s)
{
	const cl_frame_dec *d = s->chan_dec;
	/* same test as chan_process: an over-long header is not a stall (the
	 * decoder rejects it and the channel closes), so keep reading */
	return (d->len - d->off >= CL_FRAME_HDR && d->buf[d->off + 4] == CL_FRAME_DATA &&
		be32(d->buf + d->off) <= d->max && be32(d->buf + d->off) > q_space(&s->out)) ||
	       state_stalled(s);
}

static void on_signals(cl_shim *s)
{
	struct signalfd_siginfo si;
	while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			s->stop = true;
	}
	int st;
	if (!s->init_reaped && waitpid(s->init_pid, &st, WNOHANG) == s->init_pid) {
		s->init_reaped = true;
		if (!s->app_exited) {
			s->app_exited = true;
			s->exit_status = st;
		}
	}
}

static int poll_timeout(const cl_shim *s)
{
	uint64_t now = cl_now_mono_ns(), next = UINT64_MAX;
	if (!s->ready && s->status_fd >= 0)
		next = s->ready_deadline_ns;
	for (size_t i = 0; i < CL_SHIM_CLIENTS; i++)
		if (s->clients[i].fd >= 0 && s->clients[i].parked && s->clients[i].deadline_ns < next)
			next = s->clients[i].deadline_ns;
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	uint64_t ms = (next - now + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)ms;
}

static void expire_parked(cl_shim *s)
{
	uint64_t now = cl_now_mono_ns();
	for (size_t i = 0; i < CL_SHIM_CLIENTS; i++) {
		cl_shim_client *c = &s->clients[i];
		if (c->fd >= 0 && c->parked && c->deadline_ns <= now) {
			reply_output(s, c);
			client_process(s, c);
		}
	}
}

static void teardown(cl_shim *s)
{
	if (s->init_pid > 0 && !s->init_reaped) {
		kill(s->init_pid, SIGKILL);
		while (waitpid(s->init_pid, NULL, 0) < 0 && errno == EINTR)
			;
		s->init_reaped = true;
	}
	chan_close(s, NULL);
	for (size_t i = 0; i < CL_SHIM_CLIENTS; i++)
		client_close(&s->clients[i]);
	if (s->listen_fd >= 0) {
		char path[1200];
		close(s->listen_fd);
		if (cl_sandbox_path(path, sizeof(path), s->dir, s->id, "shim.sock") == CL_OK)
			unlink(path);
	}
	if (cl_cgroup_kill_all(s->id) != CL_OK || cl_cgroup_remove(s->id) != CL_OK)
		cl_warn("enclave %s: cgroup cleanup: %s", s->id, cl_error_detail());
	q_free(&s->out);
	q_free(&s->in);
	q_free(&s->log);
	free(s->files);
	s->files = NULL;
	if (s->chan_buf) {
		explicit_bzero(s->chan_buf, CL_FRAME_HDR + CL_FRAME_MAX);
		free(s->chan_buf);
	}
	free(s->chan_dec);
	if (s->status_fd >= 0)
		close(s->status_fd);
	close(s->sig_fd);
}

int cl_shim_serve(cl_shim *s)
{
	the_shim = s;
	struct pollfd pfd[3 + CL_SHIM_CLIENTS];
	q_init(&s->out, CL_SHIM_OUT_MAX);
	q_init(&s->in, CL_SHIM_IN_MAX + 2 * CL_FRAME_HDR);
	q_init(&s->log, CL_SHIM_LOG_MAX);
	for (size_t i = 0; i < CL_SHIM_CLIENTS; i++)
		s->clients[i].fd = -1;
	s->chan_buf = malloc(CL_FRAME_HDR + CL_FRAME_MAX);
	s->chan_dec = malloc(sizeof(*s->chan_dec));
	if (!s->chan_buf || !s->chan_dec) {
		launch_failed(s, "out of memory");
		teardown(s);
		return 1;
	}
	cl_frame_dec_init(s->chan_dec, s->chan_buf, CL_FRAME_HDR + CL_FRAME_MAX, CL_FRAME_MAX);
	{
		int fl = fcntl(s->chan, F_GETFL);
		if (fl < 0 || fcntl(s->chan, F_SETFL, fl | O_NONBLOCK) != 0) {
			launch_failed(s, "channel setup failed");
			teardown(s);
			return 1;
		}
	}
	s->ready_deadline_ns = cl_now_mono_ns() + (uint64_t)CL_SHIM_READY_MS * 1000000u;
	while (!s->stop) {
		size_t n = 0, idx[CL_SHIM_CLIENTS];
		pfd[n++] = (struct pollfd){.fd = s->sig_fd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
		short ce = 0;
		if (!s->chan_closed && !chan_stalled(s) && cl_frame_dec_space(s->chan_dec) > 0)
			ce |= POLLIN;
		if (!s->chan_closed && s->in.len)
			ce |= POLLOUT;
		pfd[n++] = (struct pollfd){.fd = s->chan_closed ? -1 : s->chan, .events = ce};
		for (size_t i = 0; i < CL_SHIM_CLIENTS; i++) {
			cl_shim_client *c = &s->clients[i];
			if (c->fd < 0)
				continue;
			short ev = c->reply.len ? POLLOUT : (c->parked || c->stalled || c->prov_wait ? 0 : POLLIN);
			idx[n - 3] = i;
			pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		int rc = poll(pfd, n, poll_timeout(s));
		if (rc < 0 && errno != EINTR) {
			cl_error("enclave %s: poll: %s", s->id, strerror(errno));
			break;
		}
		if (rc > 0) {
			if (pfd[0].revents)
				on_signals(s);
			if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))
				chan_read(s);
			if (pfd[2].revents & POLLOUT)
				chan_write(s);
			for (size_t k = 3; k < n; k++) {
				cl_shim_client *c = &s->clients[idx[k - 3]];
				if (c->fd < 0 || !pfd[k].revents)
					continue;
				if (pfd[k].revents & POLLOUT)
					client_flush(c);
				else if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
					client_read(s, c);
				client_process(s, c);
			}
			if (pfd[1].revents & POLLIN)
				accept_client(s);
		}
		if (s->chan_closed && s->init_reaped && !s->app_exited)
			s->app_exited = true; /* init ended without EXIT: its own status stands */
		chan_write(s);
		if (s->abort_pending)
			prov_abort(s);
		for (size_t i = 0; i < CL_SHIM_CLIENTS; i++)
			if (s->clients[i].fd >= 0 && s->clients[i].stalled)
				client_process(s, &s->clients[i]);
		if (s->prov && s->suspending && !s->chan_closed)
			chan_process(s); /* a STATE frame that waited for the client's room */
		if (s->prov && (s->chan_closed || s->app_exited) && s->prov->prov_wait) {
			static const char gone[] = "enclave has exited";
			prov_answer(s, CL_FRAME_ERROR, (const uint8_t *)gone, sizeof(gone) - 1);
		}
		for (size_t i = 0; i < CL_SHIM_CLIENTS && (s->chan_closed || s->app_exited); i++)
			if (s->clients[i].fd >= 0 && s->clients[i].files_wait)
				reply_files(s, &s->clients[i]); /* init will not answer: the last list */
		serve_parked(s);
		expire_parked(s);
		check_launch(s);
	}
	teardown(s);
	return 0;
}
