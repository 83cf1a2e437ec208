/* The agent's channel-ops engine (src/host/agent_ops*.c) against fake shims
 * and a fake control plane:
 *  - budgets: a tenant gets at most CL_AGENT_OPS_TENANT_MAX ops in flight
 *    (beyond: "too_many_requests" at once) while another tenant's op runs at
 *    once; a cancel gives the budget back; one enclave never gets more than
 *    CL_AGENT_OPS_ENCLAVE_CONNS shim connections;
 *  - deadlines: an op with no time left is answered "expired" without
 *    touching the shim; a recv wait is cut at the deadline; an op whose
 *    deadline passes while it waits for its enclave is "expired", never run;
 *  - cancel ends a parked wait (the shim sees the connection close);
 *  - at most once; results too large for a sync become failures;
 *  - results are posted with the host token; a 5xx leaves them for the sync.
 * Waits are conditions with deadlines, never sleeps. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/frame.h"
#include "common/util.h"
#include "host/agent_ops.h"

/* ---- a fake shim per enclave: frames of docs/internals.md ---- */

#define NENC 3
#define NCLI 64

typedef struct fake_cli {
	int fd;
	int enc;
	uint8_t buf[64];
	size_t got;
	bool parked;
	uint64_t deadline_ns;
} fake_cli;

typedef struct fake_shim {
	pthread_t thread;
	pthread_mutex_t mu;
	bool stop;
	char dir[64];
	int lfd[NENC];
	fake_cli cli[NCLI];
	/* per enclave, under mu */
	int conns[NENC], max_conns[NENC], accepted[NENC], datas[NENC];
	uint32_t last_wait[NENC];
	size_t output[NENC]; /* bytes a parked RECV answers with (0: wait) */
} fake_shim;

static const char *ENC[NENC] = {"enc-a", "enc-b", "enc-c"};

static void send_frame(int fd, uint8_t type, const void *p, uint32_t n)
{
	uint8_t hdr[CL_FRAME_HDR];
	assert_int_equal(cl_frame_put_header(hdr, type, n), CL_OK);
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)p, n}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = n ? 2 : 1};
	if (sendmsg(fd, &m, MSG_NOSIGNAL) < 0 && errno != EPIPE)
		fprintf(stderr, "fake shim: sendmsg: %s\n", strerror(errno));
}

static void cli_close(fake_shim *f, fake_cli *c)
{
	close(c->fd);
	c->fd = -1;
	c->parked = false;
	f->conns[c->enc]--;
}

static void answer_recv(fake_shim *f, fake_cli *c)
{
	size_t n = f->output[c->enc];
	uint8_t *data = n ? calloc(1, n) : NULL;
	if (data)
		memset(data, 'x', n);
	send_frame(c->fd, CL_FRAME_DATA, data, (uint32_t)(data ? n : 0));
	free(data);
	c->parked = false;
}

/* One request: a header and at most 8 payload bytes (DATA payloads are read
 * and counted, not kept). */
static void cli_read(fake_shim *f, fake_cli *c)
{
	ssize_t r = recv(c->fd, c->buf + c->got, c->got < CL_FRAME_HDR ? CL_FRAME_HDR - c->got : sizeof(c->buf) - c->got, 0);
	if (r <= 0) {
		cli_close(f, c);
		return;
	}
	c->got += (size_t)r;
	if (c->got < CL_FRAME_HDR)
		return;
	uint32_t len = (uint32_t)c->buf[0] << 24 | (uint32_t)c->buf[1] << 16 | (uint32_t)c->buf[2] << 8 | c->buf[3];
	uint8_t type = c->buf[4];
	if (type == CL_FRAME_DATA) { /* swallow the payload */
		uint8_t sink[4096];
		while (len > 0) {
			ssize_t k = recv(c->fd, sink, len < sizeof(sink) ? len : sizeof(sink), 0);
			if (k <= 0)
				break;
			len -= (uint32_t)k;
		}
		f->datas[c->enc]++;
		c->got = 0;
		send_frame(c->fd, CL_FRAME_OK, NULL, 0);
		return;
	}
	if (c->got < CL_FRAME_HDR + len)
		return;
	c->got = 0;
	if (type == CL_FRAME_RECV) {
		uint32_t wait;
		memcpy(&wait, c->buf + CL_FRAME_HDR + 4, 4);
		wait = ntohl(wait);
		f->last_wait[c->enc] = wait;
		if (wait == 0 || f->output[c->enc]) {
			answer_recv(f, c);
		} else {
			c->parked = true;
			c->deadline_ns = cl_now_mono_ns() + (uint64_t)wait * 1000000u;
		}
	} else if (type == CL_FRAME_LOGS) {
		send_frame(c->fd, CL_FRAME_LOG, "log", 3);
	} else {
		send_frame(c->fd, CL_FRAME_OK, NULL, 0);
	}
}

static void *fake_shim_main(void *arg)
{
	fake_shim *f = arg;
	for (;;) {
		struct pollfd pfd[NENC + NCLI];
		int idx[NENC + NCLI], n = 0;
		pthread_mutex_lock(&f->mu);
		if (f->stop) {
			pthread_mutex_unlock(&f->mu);
			break;
		}
		for (int e = 0; e < NENC; e++) {
			idx[n] = -1 - e;
			pfd[n++] = (struct pollfd){.fd = f->lfd[e], .events = POLLIN};
		}
		for (int i = 0; i < NCLI; i++)
			if (f->cli[i].fd >= 0) {
				idx[n] = i;
				pfd[n++] = (struct pollfd){.fd = f->cli[i].fd, .events = f->cli[i].parked ? 0 : POLLIN};
			}
		pthread_mutex_unlock(&f->mu);
		int rc = poll(pfd, (nfds_t)n, 10);
		pthread_mutex_lock(&f->mu);
		for (int k = 0; rc > 0 && k < n; k++) {
			if (!pfd[k].revents)
				continue;
			if (idx[k] < 0) {
				int e = -1 - idx[k], fd = accept(f->lfd[e], NULL, NULL);
				if (fd < 0)
					continue;
				int slot = 0;
				while (slot < NCLI && f->cli[slot].fd >= 0)
					slot++;
				if (slot == NCLI) {
					close(fd);
					continue;
				}
				f->cli[slot] = (fake_cli){.fd = fd, .enc = e};
				f->accepted[e]++;
				if (++f->conns[e] > f->max_conns[e])
					f->max_conns[e] = f->conns[e];
			} else if (f->cli[idx[k]].fd >= 0) {
				cli_read(f, &f->cli[idx[k]]);
			}
		}
		uint64_t now = cl_now_mono_ns();
		for (int i = 0; i < NCLI; i++) {
			fake_cli *c = &f->cli[i];
			if (c->fd >= 0 && c->parked && (f->output[c->enc] || now >= c->deadline_ns))
				answer_recv(f, c);
		}
		pthread_mutex_unlock(&f->mu);
	}
	return NULL;
}

static int fake_get(fake_shim *f, int *field)
{
	pthread_mutex_lock(&f->mu);
	int v = *field;
	pthread_mutex_unlock(&f->mu);
	return v;
}

static uint32_t fake_last_wait(fake_shim *f, int enc)
{
	pthread_mutex_lock(&f->mu);
	uint32_t v = f->last_wait[enc];
	pthread_mutex_unlock(&f->mu);
	return v;
}

/* ---- a fake control plane: records posted results, answers `status` ---- */

typedef struct fake_ctl {
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	int port;
	pthread_mutex_t mu;
	int status;       /* what POSTs get */
	int posts;
	char path[256];
	char auth[128];
	char body[512];
} fake_ctl;

static void on_post(struct evhttp_request *req, void *arg)
{
	fake_ctl *c = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	pthread_mutex_lock(&c->mu);
	const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	snprintf(c->path, sizeof(c->path), "%s", evhttp_request_get_uri(req));
	snprintf(c->auth, sizeof(c->auth), "%s", auth ? auth : "");
	if (n >= sizeof(c->body))
		n = sizeof(c->body) - 1;
	evbuffer_copyout(in, c->body, n);
	c->body[n] = '\0';
	c->posts++;
	int status = c->status;
	pthread_mutex_unlock(&c->mu);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, "{}", 2);
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", out);
	evbuffer_free(out);
}

static int ctl_posts(fake_ctl *c)
{
	pthread_mutex_lock(&c->mu);
	int n = c->posts;
	pthread_mutex_unlock(&c->mu);
	return n;
}

static void *fake_ctl_main(void *arg)
{
	fake_ctl *c = arg;
	event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void fake_ctl_start(fake_ctl *c, int status)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->status = status;
	assert_non_null(c->base = event_base_new());
	assert_non_null(c->http = evhttp_new(c->base));
	evhttp_set_gencb(c->http, on_post, c);
	struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(c->http, "127.0.0.1", 0);
	assert_non_null(s);
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sa, &sl), 0);
	c->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&c->thread, NULL, fake_ctl_main, c), 0);
}

static void fake_ctl_stop(fake_ctl *c)
{
	event_base_loopbreak(c->base);
	pthread_join(c->thread, NULL);
	evhttp_free(c->http);
	event_base_free(c->base);
	pthread_mutex_destroy(&c->mu);
}

/* ---- fixture ---- */

typedef struct fx {
	fake_shim shim;
	cl_agent_pool *pool;
	json_t *results; /* every result taken so far */
} fx;

static int setup(void **state)
{
	fx *x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	fake_shim *f = &x->shim;
	pthread_mutex_init(&f->mu, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/agentops.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	for (int i = 0; i < NCLI; i++)
		f->cli[i].fd = -1;
	for (int e = 0; e < NENC; e++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		char d[96];
		snprintf(d, sizeof(d), "%.32s/sandboxes", f->dir);
		mkdir(d, 0700);
		snprintf(d, sizeof(d), "%.32s/sandboxes/%s", f->dir, ENC[e]);
		if (mkdir(d, 0700) != 0)
			return -1;
		if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%.60s/shim.sock", d) >= (int)sizeof(sa.sun_path))
			return -1;
		f->lfd[e] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (f->lfd[e] < 0 || bind(f->lfd[e], (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(f->lfd[e], 64) != 0)
			return -1;
	}
	if (pthread_create(&f->thread, NULL, fake_shim_main, f) != 0)
		return -1;
	x->results = json_array();
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	fx *x = *state;
	fake_shim *f = &x->shim;
	cl_agent_pool_free(x->pool);
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	for (int i = 0; i < NCLI; i++)
		if (f->cli[i].fd >= 0)
			close(f->cli[i].fd);
	for (int e = 0; e < NENC; e++)
		close(f->lfd[e]);
	assert_int_equal(cl_rm_rf(f->dir), CL_OK);
	json_decref(x->results);
	free(x);
	return 0;
}

static void pool_start(fx *x, const char *control)
{
	assert_int_equal(cl_agent_pool_new(control, NULL, "clt_tok-1_secret", "host-1", x->shim.dir, &x->pool), CL_OK);
}

static void submit(fx *x, const char *id, const char *tenant, int enc, enum cl_agent_op_kind kind, uint32_t wait_ms,
		   uint32_t deadline_ms)
{
	cl_agent_op op = {.kind = kind, .max = 4096, .wait_ms = wait_ms, .deadline_ms = deadline_ms};
	snprintf(op.op, sizeof(op.op), "%s", id);
	snprintf(op.enclave, sizeof(op.enclave), "%s", ENC[enc]);
	snprintf(op.tenant, sizeof(op.tenant), "%s", tenant);
	if (kind == CL_OP_SEND)
		op.data = strdup("aGVsbG8K");
	assert_int_equal(cl_agent_pool_submit(x->pool, &op), CL_OK);
	free(op.data);
}

/* The result of op id taken so far, or NULL. */
static json_t *result_of(fx *x, const char *id)
{
	json_t *more = cl_agent_pool_take_results(x->pool, 900u * 1024);
	assert_non_null(more);
	json_array_extend(x->results, more);
	json_decref(more);
	size_t i;
	json_t *r;
	json_array_foreach(x->results, i, r)
	{
		if (strcmp(json_string_value(json_object_get(r, "op")), id) == 0)
			return r;
	}
	return NULL;
}

/* Waits (deadline 10 s) for op id's result. */
static json_t *wait_result(fx *x, const char *id)
{
	uint64_t end = cl_now_mono_ns() + 10000000000ull;
	json_t *r;
	while (!(r = result_of(x, id))) {
		if (cl_now_mono_ns() > end)
			fail_msg("no result for %s within 10 s", id);
		usleep(2000);
	}
	return r;
}

static const char *reason(json_t *r)
{
	const char *s = json_string_value(json_object_get(r, "reason"));
	return s ? s : "";
}

#define WAIT_UNTIL(cond, what)                                                                                 \
	do {                                                                                                   \
		uint64_t end_ = cl_now_mono_ns() + 10000000000ull;                                             \
		while (!(cond)) {                                                                              \
			if (cl_now_mono_ns() > end_)                                                           \
				fail_msg("timed out waiting for %s", what);                                    \
			usleep(2000);                                                                          \
		}                                                                                              \
	} while (0)

/* ---- tests ---- */

/* Tenant A parks its whole budget; its next op is refused at once, tenant
 * B's op runs at once, and A's shim never sees more than the per-enclave
 * connections. A cancel gives A's budget back. */
static void tenant_budget(void **state)
{
	fx *x = *state;
	fake_shim *f = &x->shim;
	char id[32];
	pool_start(x, NULL);
	for (unsigned i = 0; i < CL_AGENT_OPS_TENANT_MAX; i++) {
		snprintf(id, sizeof(id), "op-a%u", i);
		submit(x, id, "ten-a", 0, CL_OP_RECV, 30000, 60000);
	}
	WAIT_UNTIL(fake_get(f, &f->conns[0]) == (int)CL_AGENT_OPS_ENCLAVE_CONNS, "A's waits parked in its shim");
	assert_int_equal(cl_agent_pool_inflight(x->pool, "ten-a"), CL_AGENT_OPS_TENANT_MAX);
	assert_null(result_of(x, "op-a0"));

	submit(x, "op-a-over", "ten-a", 0, CL_OP_RECV, 30000, 60000);
	json_t *r = result_of(x, "op-a-over"); /* refused synchronously */
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(reason(r), "too_many_requests");
	assert_int_equal(cl_agent_pool_inflight(x->pool, "ten-a"), CL_AGENT_OPS_TENANT_MAX);

	submit(x, "op-b", "ten-b", 1, CL_OP_SEND, 0, 60000);
	r = wait_result(x, "op-b");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(fake_get(f, &f->datas[1]), 1);
	assert_int_equal(fake_get(f, &f->max_conns[0]), CL_AGENT_OPS_ENCLAVE_CONNS);
	assert_int_equal(cl_agent_pool_inflight(x->pool, "ten-a"), CL_AGENT_OPS_TENANT_MAX); /* still parked */

	/* A running one: its connection closes (and a queued one takes its
	 * place, so the shim may briefly see one more until it notices). */
	cl_agent_pool_cancel(x->pool, "op-a0");
	r = wait_result(x, "op-a0");
	assert_string_equal(reason(r), "cancelled");
	WAIT_UNTIL(cl_agent_pool_inflight(x->pool, "ten-a") == CL_AGENT_OPS_TENANT_MAX - 1, "A's budget given back");
	submit(x, "op-a-again", "ten-a", 0, CL_OP_RECV, 30000, 60000);
	assert_null(result_of(x, "op-a-again")); /* budget back: taken, not refused */
	assert_int_equal(cl_agent_pool_inflight(x->pool, "ten-a"), CL_AGENT_OPS_TENANT_MAX);

	for (unsigned i = 1; i < CL_AGENT_OPS_TENANT_MAX; i++) {
		snprintf(id, sizeof(id), "op-a%u", i);
		cl_agent_pool_cancel(x->pool, id);
	}
	cl_agent_pool_cancel(x->pool, "op-a-again");
	WAIT_UNTIL(cl_agent_pool_inflight(x->pool, NULL) == 0, "every op cancelled");
	WAIT_UNTIL(fake_get(f, &f->conns[0]) == 0, "A's shim connections closed");
	assert_string_equal(reason(wait_result(x, "op-a63")), "cancelled");
}

/* No time left: "expired" at once, and the shim is never contacted. */
static void deadline_passed_before_start(void **state)
{
	fx *x = *state;
	pool_start(x, NULL);
	submit(x, "op-late", "ten-a", 1, CL_OP_SEND, 0, 0);
	json_t *r = wait_result(x, "op-late");
	assert_string_equal(reason(r), "expired");
	assert_int_equal(cl_agent_pool_inflight(x->pool, NULL), 0);
	submit(x, "op-next", "ten-a", 1, CL_OP_SEND, 0, 60000); /* the shim works: only op-next reaches it */
	assert_true(json_is_true(json_object_get(wait_result(x, "op-next"), "ok")));
	assert_int_equal(fake_get(&x->shim, &x->shim.accepted[1]), 1);
	assert_int_equal(fake_get(&x->shim, &x->shim.datas[1]), 1);
}

/* A recv wait longer than the time left is cut so that it ends before the
 * deadline; its (empty) result comes back well before the 30 s wait. */
static void deadline_cuts_wait(void **state)
{
	fx *x = *state;
	pool_start(x, NULL);
	submit(x, "op-cut", "ten-a", 2, CL_OP_RECV, 30000, 1500);
	json_t *r = wait_result(x, "op-cut");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "data")), "");
	uint32_t w = fake_last_wait(&x->shim, 2);
	assert_true(w > 0 && w <= 1000); /* ends 500 ms before the deadline */
}

/* An op waiting for a connection to its busy enclave expires there: it is
 * answered "expired" and never reaches the shim. */
static void deadline_passes_while_queued(void **state)
{
	fx *x = *state;
	fake_shim *f = &x->shim;
	char id[32];
	pool_start(x, NULL);
	for (unsigned i = 0; i < CL_AGENT_OPS_ENCLAVE_CONNS; i++) {
		snprintf(id, sizeof(id), "op-park%u", i);
		submit(x, id, "ten-c", 0, CL_OP_RECV, 30000, 60000);
	}
	WAIT_UNTIL(fake_get(f, &f->conns[0]) == (int)CL_AGENT_OPS_ENCLAVE_CONNS, "the enclave's connections in use");
	submit(x, "op-queued", "ten-c", 0, CL_OP_SEND, 0, 300);
	json_t *r = wait_result(x, "op-queued");
	assert_string_equal(reason(r), "expired");
	assert_int_equal(fake_get(f, &f->accepted[0]), CL_AGENT_OPS_ENCLAVE_CONNS);
	assert_int_equal(fake_get(f, &f->datas[0]), 0);
	assert_null(result_of(x, "op-park0")); /* the parked ones are untouched */
	for (unsigned i = 0; i < CL_AGENT_OPS_ENCLAVE_CONNS; i++) {
		snprintf(id, sizeof(id), "op-park%u", i);
		cl_agent_pool_cancel(x->pool, id);
	}
	WAIT_UNTIL(cl_agent_pool_inflight(x->pool, NULL) == 0, "parked ops cancelled");
}

/* An op id runs once: resubmitted while running or after its result, or
 * after a cancel that came first, it is ignored. */
static void at_most_once(void **state)
{
	fx *x = *state;
	pool_start(x, NULL);
	submit(x, "op-1", "ten-a", 1, CL_OP_SEND, 0, 60000);
	submit(x, "op-1", "ten-a", 1, CL_OP_SEND, 0, 60000);
	assert_true(json_is_true(json_object_get(wait_result(x, "op-1"), "ok")));
	submit(x, "op-1", "ten-a", 1, CL_OP_SEND, 0, 60000);
	assert_int_equal(cl_agent_pool_inflight(x->pool, NULL), 0);
	cl_agent_pool_cancel(x->pool, "op-2"); /* the cancel overtook its op */
	submit(x, "op-2", "ten-a", 1, CL_OP_SEND, 0, 60000);
	assert_int_equal(cl_agent_pool_inflight(x->pool, NULL), 0);
	assert_null(result_of(x, "op-2"));
	assert_int_equal(json_array_size(x->results), 1);
	assert_int_equal(fake_get(&x->shim, &x->shim.datas[1]), 1);
}

/* recv data comes back base64; a result too large for the sync's budget
 * becomes a failure instead of blocking every later result. */
static void result_too_large_for_sync(void **state)
{
	fx *x = *state;
	fake_shim *f = &x->shim;
	pool_start(x, NULL);
	pthread_mutex_lock(&f->mu);
	f->output[2] = 3000;
	pthread_mutex_unlock(&f->mu);
	submit(x, "op-big", "ten-a", 2, CL_OP_RECV, 1000, 60000);
	WAIT_UNTIL(cl_agent_pool_inflight(x->pool, NULL) == 0, "the recv done");
	json_t *small = cl_agent_pool_take_results(x->pool, 1000);
	assert_int_equal(json_array_size(small), 1);
	json_t *r = json_array_get(small, 0);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "too large"));
	json_decref(small);
	submit(x, "op-big2", "ten-a", 2, CL_OP_RECV, 1000, 60000);
	r = wait_result(x, "op-big2");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_string_length(json_object_get(r, "data")), 4000); /* base64 of 3000 bytes */
}

/* Results go to the control plane with the host token; a 5xx keeps them for
 * the next sync. */
static void results_posted(void **state)
{
	fx *x = *state;
	fake_ctl c;
	char url[64];
	fake_ctl_start(&c, 200);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", c.port);
	pool_start(x, url);
	submit(x, "op-p", "ten-a", 1, CL_OP_LOGS, 0, 60000);
	WAIT_UNTIL(ctl_posts(&c) == 1, "the result posted");
	pthread_mutex_lock(&c.mu);
	assert_string_equal(c.path, "/v1/hosts/host-1/ops/op-p");
	assert_string_equal(c.auth, "Bearer clt_tok-1_secret");
	assert_string_equal(c.body, "{\"ok\":true,\"data\":\"bG9n\"}");
	c.status = 503;
	pthread_mutex_unlock(&c.mu);
	WAIT_UNTIL(cl_agent_pool_inflight(x->pool, NULL) == 0, "op-p done");
	assert_null(result_of(x, "op-p")); /* delivered: not kept for the sync */
	submit(x, "op-q", "ten-a", 1, CL_OP_LOGS, 0, 60000);
	assert_true(json_is_true(json_object_get(wait_result(x, "op-q"), "ok"))); /* refused: kept */
	assert_int_equal(ctl_posts(&c), 2);
	cl_agent_pool_free(x->pool);
	x->pool = NULL;
	fake_ctl_stop(&c);
}

/* The attest hook: sees the op (its enclave and decoded nonce) and the pool's dir. */
static int attest_calls;
static json_t *fake_attest(void *ctx, const char *dir, const cl_agent_op *op)
{
	fx *x = ctx;
	attest_calls++;
	assert_string_equal(dir, x->shim.dir);
	assert_non_null(op->att);
	if (!op->att->has_nonce)
		return json_pack("{s:s, s:b, s:s, s:s}", "op", op->op, "ok", 0, "error", "no cert", "reason",
				 "no_certificate");
	return json_pack("{s:s, s:b, s:s#}", "op", op->op, "ok", 1, "data", (const char *)op->att->nonce,
			 (int)op->att->nonce_len);
}

static void submit_doc(fx *x, const char *id, const char *tenant, const char *nonce, int enc,
		       enum cl_agent_op_kind kind)
{
	cl_agent_op op = {.kind = kind, .deadline_ms = 60000};
	snprintf(op.op, sizeof(op.op), "%s", id);
	snprintf(op.enclave, sizeof(op.enclave), "%s", ENC[enc]);
	snprintf(op.tenant, sizeof(op.tenant), "%s", tenant);
	op.att = calloc(1, sizeof(*op.att));
	assert_non_null(op.att);
	if (nonce) {
		op.att->has_nonce = true;
		op.att->nonce_len = strlen(nonce);
		memcpy(op.att->nonce, nonce, strlen(nonce));
	}
	assert_int_equal(cl_agent_pool_submit(x->pool, &op), CL_OK);
	cl_agent_op_clear(&op); /* what was not taken (an ignored resend) */
}

static void submit_attest(fx *x, const char *id, const char *tenant, const char *nonce)
{
	submit_doc(x, id, tenant, nonce, 0, CL_OP_ATTEST);
}

/* An attest op is answered by the hook on the engine, without a shim
 * connection; without a hook the host says it cannot attest; at most once. */
static void attest_op(void **state)
{
	fx *x = *state;
	pool_start(x, NULL);
	submit_attest(x, "op-a0", "ten-a", "n1");
	json_t *r = wait_result(x, "op-a0");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "error")), "this host cannot attest");
	attest_calls = 0;
	cl_agent_pool_set_attest(x->pool, fake_attest, x);
	submit_attest(x, "op-a1", "ten-a", "nonce-1");
	submit_attest(x, "op-a2", "ten-a", NULL);
	submit_attest(x, "op-a1", "ten-a", "nonce-1"); /* a resend: ignored */
	r = wait_result(x, "op-a1");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "data")), "nonce-1");
	assert_string_equal(reason(wait_result(x, "op-a2")), "no_certificate");
	WAIT_UNTIL(cl_agent_pool_inflight(x->pool, NULL) == 0, "attest ops done");
	assert_int_equal(attest_calls, 2);
	assert_int_equal(fake_get(&x->shim, &x->shim.accepted[0]), 0); /* no shim was asked */
}

/* A measure hook that holds every measure until the test lets it go
 * (bounded: 10 s), and answers an attest at once. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;   /* measures that started */
	bool released; /* measures may end */
} hold = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};

static json_t *holding_attest(void *ctx, const char *dir, const cl_agent_op *op)
{
	(void)ctx, (void)dir;
	if (op->kind == CL_OP_MEASURE) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		pthread_mutex_lock(&hold.mu);
		hold.entered++;
		pthread_cond_broadcast(&hold.cv);
		while (!hold.released && pthread_cond_timedwait(&hold.cv, &hold.mu, &until) == 0)
			;
		pthread_mutex_unlock(&hold.mu);
	}
	return json_pack("{s:s, s:b, s:s}", "op", op->op, "ok", 1, "data", op->kind == CL_OP_MEASURE ? "m" : "a");
}

static int hold_entered(void)
{
	pthread_mutex_lock(&hold.mu);
	int n = hold.entered;
	pthread_mutex_unlock(&hold.mu);
	return n;
}

static void hold_release(bool released)
{
	pthread_mutex_lock(&hold.mu);
	hold.released = released;
	pthread_cond_broadcast(&hold.cv);
	pthread_mutex_unlock(&hold.mu);
}

/* A measure (paused enclave, seconds of reading) runs beside the engine:
 * while one is held, another enclave's attest and a channel op are answered;
 * then the measure's own result comes. A measure cancelled while it runs is
 * answered "cancelled" once its thread is done. Order by events: the held
 * measure has not answered when the others have. */
static void measure_off_engine(void **state)
{
	fx *x = *state;
	pool_start(x, NULL);
	cl_agent_pool_set_attest(x->pool, holding_attest, x);
	hold.entered = 0;
	hold_release(false);
	submit_doc(x, "op-m1", "ten-a", "n", 0, CL_OP_MEASURE);
	WAIT_UNTIL(hold_entered() == 1, "the measure started");
	submit_doc(x, "op-b1", "ten-b", "n", 1, CL_OP_ATTEST);
	submit(x, "op-b2", "ten-b", 1, CL_OP_LOGS, 0, 60000);
	assert_true(json_is_true(json_object_get(wait_result(x, "op-b1"), "ok")));
	assert_true(json_is_true(json_object_get(wait_result(x, "op-b2"), "ok")));
	assert_null(result_of(x, "op-m1")); /* still held: the others did not wait for it */
	assert_int_equal(hold_entered(), 1);
	hold_release(true);
	json_t *r = wait_result(x, "op-m1");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "data")), "m");
	/* cancelled while it runs */
	hold_release(false);
	submit_doc(x, "op-m2", "ten-a", "n", 0, CL_OP_MEASURE);
	WAIT_UNTIL(hold_entered() == 2, "the second measure started");
	cl_agent_pool_cancel(x->pool, "op-m2");
	submit_doc(x, "op-b3", "ten-b", "n", 1, CL_OP_ATTEST); /* the engine took the cancel */
	wait_result(x, "op-b3");
	assert_null(result_of(x, "op-m2"));
	hold_release(true);
	assert_string_equal(reason(wait_result(x, "op-m2")), "cancelled");
	WAIT_UNTIL(cl_agent_pool_inflight(x->pool, NULL) == 0, "measures done");
	/* a measure whose thread may still run when the pool is freed: no leak, no
	 * use after free (the free waits for the thread; ASan build) */
	hold_release(false);
	submit_doc(x, "op-m3", "ten-a", "n", 0, CL_OP_MEASURE);
	WAIT_UNTIL(hold_entered() == 3, "the third measure started");
	hold_release(true);
	cl_agent_pool_free(x->pool);
	x->pool = NULL;
}

int main(void)
{
	evthread_use_pthreads(); /* the fake control plane is stopped from the test thread */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(tenant_budget),
	    T(deadline_passed_before_start),
	    T(deadline_cuts_wait),
	    T(deadline_passes_while_queued),
	    T(at_most_once),
	    T(result_too_large_for_sync),
	    T(results_posted),
	    T(attest_op),
	    T(measure_off_engine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
