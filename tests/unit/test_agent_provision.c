/* The agent's provision op (src/host/agent_provision.c, docs/provisioning.md)
 * against a fake shim (the frames of cloister-init as its shim relays them:
 * BUNDLE chunks are taken, BUNDLE_END is answered EXTEND once and
 * not_awaiting_bundle after; STATUS carries bundle_sha384 once installed)
 * and a fake control plane (serves the op's ciphertext, takes its result):
 *  - a first run fetches the ciphertext, sends it and answers the new PCR7;
 *  - a re-run of the op in a restarted agent (killed after init's EXTEND,
 *    before the result reached the control plane) finds the op's bundle
 *    installed and answers success with its PCR7, without fetching or
 *    sending it again — whether or not PCR7 was recorded before the kill;
 *  - another bundle installed: the op is still refused not_awaiting_bundle.
 * Waits are conditions with deadlines, never sleeps. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
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
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/bundle.h"
#include "common/crypto.h"
#include "common/frame.h"
#include "common/util.h"
#include "host/agent_ops.h"
#include "host/agent_pcrs.h"
#include "image/measure.h"

#define ENC "enc-a"
#define CT_LEN 3000u

/* ---- a fake shim: one enclave, one connection at a time ---- */

typedef struct fake_shim {
	pthread_t thread;
	pthread_mutex_t mu;
	bool stop;
	int lfd;
	/* under mu */
	bool installed;
	uint8_t sha[CL_SHA384_LEN]; /* the installed tar's SHA-384 */
	int bundles, ends;          /* BUNDLE and BUNDLE_END frames seen */
} fake_shim;

static void send_frame(int fd, uint8_t type, const void *p, uint32_t n)
{
	uint8_t hdr[CL_FRAME_HDR];
	assert_int_equal(cl_frame_put_header(hdr, type, n), CL_OK);
	if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t)sizeof(hdr) ||
	    (n && send(fd, p, n, MSG_NOSIGNAL) != (ssize_t)n))
		fprintf(stderr, "fake shim: send: %s\n", strerror(errno));
}

static bool recv_all(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* Serves one connection's frames until the peer closes it. */
static void serve(fake_shim *f, int fd)
{
	static uint8_t payload[(1u << 20) + 64];
	uint8_t hdr[CL_FRAME_HDR];
	while (recv_all(fd, hdr, sizeof(hdr))) {
		uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		uint8_t type = hdr[4];
		if (len > sizeof(payload) || !recv_all(fd, payload, len))
			return;
		pthread_mutex_lock(&f->mu);
		if (type == CL_FRAME_STATUS) {
			char js[256], hex[2 * CL_SHA384_LEN + 1];
			cl_hex_encode(f->sha, sizeof(f->sha), hex);
			int n = f->installed ? snprintf(js, sizeof(js), "{\"state\":\"running\",\"bundle_sha384\":\"%s\"}", hex)
					     : snprintf(js, sizeof(js), "{\"state\":\"running\"}");
			send_frame(fd, CL_FRAME_STATUS, js, (uint32_t)n);
		} else if (type == CL_FRAME_BUNDLE) {
			f->bundles++;
			send_frame(fd, CL_FRAME_OK, NULL, 0);
		} else if (type == CL_FRAME_BUNDLE_END) {
			uint8_t sha[CL_SHA384_LEN], ext[CL_BUNDLE_EXTEND_LEN];
			uint64_t n;
			f->ends++;
			if (cl_bundle_end_parse(payload, len, sha, &n) != CL_OK) {
				send_frame(fd, CL_FRAME_ERROR, "bad_bundle_end", 14);
			} else if (f->installed) { /* cloister-init: one bundle at most */
				send_frame(fd, CL_FRAME_ERROR, "not_awaiting_bundle", 19);
			} else {
				f->installed = true;
				memcpy(f->sha, sha, sizeof(sha));
				ext[0] = CL_BUNDLE_REGISTER;
				memcpy(ext + 1, sha, sizeof(sha));
				send_frame(fd, CL_FRAME_EXTEND, ext, sizeof(ext));
			}
		} else {
			send_frame(fd, CL_FRAME_ERROR, "unexpected", 10);
		}
		pthread_mutex_unlock(&f->mu);
	}
}

static void *fake_shim_main(void *arg)
{
	fake_shim *f = arg;
	for (;;) {
		pthread_mutex_lock(&f->mu);
		bool stop = f->stop;
		pthread_mutex_unlock(&f->mu);
		if (stop)
			break;
		struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve(f, fd);
		close(fd);
	}
	return NULL;
}

static int shim_get(fake_shim *f, const int *field)
{
	pthread_mutex_lock(&f->mu);
	int v = *field;
	pthread_mutex_unlock(&f->mu);
	return v;
}

/* ---- a fake control plane: serves GET .../data, records POSTed results ---- */

typedef struct fake_ctl {
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	int port;
	pthread_mutex_t mu;
	const uint8_t *ct;
	size_t ct_len;
	int gets, posts;
	char path[256];
	char body[1024];
} fake_ctl;

static void on_req(struct evhttp_request *req, void *arg)
{
	fake_ctl *c = arg;
	struct evbuffer *out = evbuffer_new();
	const char *uri = evhttp_request_get_uri(req);
	pthread_mutex_lock(&c->mu);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
		c->gets++;
		evbuffer_add(out, c->ct, c->ct_len);
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		if (n >= sizeof(c->body))
			n = sizeof(c->body) - 1;
		evbuffer_copyout(in, c->body, n);
		c->body[n] = '\0';
		snprintf(c->path, sizeof(c->path), "%s", uri);
		c->posts++;
		evbuffer_add(out, "{}", 2);
	}
	pthread_mutex_unlock(&c->mu);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static int ctl_get(fake_ctl *c, const int *field)
{
	pthread_mutex_lock(&c->mu);
	int v = *field;
	pthread_mutex_unlock(&c->mu);
	return v;
}

static void *fake_ctl_main(void *arg)
{
	fake_ctl *c = arg;
	event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* ---- fixture ---- */

typedef struct fx {
	char dir[64];
	fake_shim shim;
	fake_ctl ctl;
	uint8_t ct[CT_LEN];       /* the op's ciphertext (what the fake shim takes) */
	uint8_t tar[CL_SHA384_LEN]; /* the op's tar SHA-384 */
	cl_agent_prov_args args;
	cl_agent_pool *pool;
} fx;

static int setup(void **state)
{
	fx *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	snprintf(x->dir, sizeof(x->dir), "/tmp/agentprov.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	/* the shim's socket, and the registers a launch wrote (all zero) */
	char d[128];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(d, sizeof(d), "%s/sandboxes", x->dir);
	assert_int_equal(mkdir(d, 0700), 0);
	snprintf(d, sizeof(d), "%s/sandboxes/%s", x->dir, ENC);
	assert_int_equal(mkdir(d, 0700), 0);
	assert_true(snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/shim.sock", d) < (int)sizeof(sa.sun_path));
	fake_shim *f = &x->shim;
	pthread_mutex_init(&f->mu, NULL);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_shim_main, f), 0);
	cl_pcrs zero = {0};
	assert_int_equal(cl_agent_pcrs_save(x->dir, ENC, &zero), CL_OK);
	/* the op: its ciphertext and the tar's digest */
	for (size_t i = 0; i < CT_LEN; i++)
		x->ct[i] = (uint8_t)(i * 7 + 3);
	uint8_t dsha[CL_SHA384_LEN];
	assert_int_equal(cl_sha384(x->ct, CT_LEN, dsha), CL_OK);
	assert_int_equal(cl_sha384("the tar", 7, x->tar), CL_OK);
	x->args.size = CT_LEN;
	cl_hex_encode(dsha, sizeof(dsha), x->args.data_sha384);
	memcpy(x->args.sha384, x->tar, sizeof(x->tar));
	/* the control plane */
	fake_ctl *c = &x->ctl;
	pthread_mutex_init(&c->mu, NULL);
	c->ct = x->ct;
	c->ct_len = CT_LEN;
	assert_non_null(c->base = event_base_new());
	assert_non_null(c->http = evhttp_new(c->base));
	evhttp_set_gencb(c->http, on_req, c);
	struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(c->http, "127.0.0.1", 0);
	assert_non_null(s);
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sin, &sl), 0);
	c->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&c->thread, NULL, fake_ctl_main, c), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	fx *x = *state;
	cl_agent_pool_free(x->pool);
	pthread_mutex_lock(&x->shim.mu);
	x->shim.stop = true;
	pthread_mutex_unlock(&x->shim.mu);
	pthread_join(x->shim.thread, NULL);
	close(x->shim.lfd);
	event_base_loopbreak(x->ctl.base);
	pthread_join(x->ctl.thread, NULL);
	evhttp_free(x->ctl.http);
	event_base_free(x->ctl.base);
	assert_int_equal(cl_rm_rf(x->dir), CL_OK);
	free(x);
	return 0;
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

/* Starts an agent's ops engine (a fresh one: an agent (re)started) and
 * hands it provision op id; waits for its result's POST, returned parsed
 * (the caller's to free). */
static json_t *run_op(fx *x, const char *id)
{
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", x->ctl.port);
	cl_agent_pool_free(x->pool);
	x->pool = NULL;
	assert_int_equal(cl_agent_pool_new(url, NULL, "clt_tok-1_secret", "host-1", x->dir, &x->pool), CL_OK);
	int posts = ctl_get(&x->ctl, &x->ctl.posts);
	cl_agent_op op = {.kind = CL_OP_PROVISION, .deadline_ms = 300000};
	snprintf(op.op, sizeof(op.op), "%s", id);
	snprintf(op.enclave, sizeof(op.enclave), "%s", ENC);
	snprintf(op.tenant, sizeof(op.tenant), "ten-a");
	op.prov = malloc(sizeof(*op.prov));
	assert_non_null(op.prov);
	*op.prov = x->args;
	assert_int_equal(cl_agent_pool_submit(x->pool, &op), CL_OK);
	cl_agent_op_clear(&op);
	WAIT_UNTIL(ctl_get(&x->ctl, &x->ctl.posts) == posts + 1, "the provision result posted");
	pthread_mutex_lock(&x->ctl.mu);
	char want[128];
	snprintf(want, sizeof(want), "/v1/hosts/host-1/ops/%s", id);
	assert_string_equal(x->ctl.path, want);
	json_t *r = json_loads(x->ctl.body, 0, NULL);
	pthread_mutex_unlock(&x->ctl.mu);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "op")), id);
	return r;
}

/* PCR7 = extend(zeros, SHA-384(tar)), base64: what a success answers. */
static char *pcr7_b64(const uint8_t tar[CL_SHA384_LEN])
{
	uint8_t reg[CL_PCR_LEN] = {0};
	char *b64 = NULL;
	cl_pcr_extend_digest(reg, tar);
	assert_int_equal(cl_base64_encode(reg, sizeof(reg), &b64), CL_OK);
	return b64;
}

static void assert_success(json_t *r, const uint8_t tar[CL_SHA384_LEN])
{
	char *want = pcr7_b64(tar);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "data")), want);
	free(want);
}

/* The register recorded in DIR/pcrs/ENC.json is extend(0, tar) (NULL: zero). */
static void assert_pcr7(fx *x, const uint8_t *tar)
{
	cl_pcrs p;
	uint8_t want[CL_PCR_LEN] = {0};
	if (tar)
		cl_pcr_extend_digest(want, tar);
	assert_int_equal(cl_agent_pcrs_load(x->dir, ENC, &p), CL_OK);
	assert_memory_equal(p.v[CL_BUNDLE_REGISTER], want, CL_PCR_LEN);
}

/* ---- tests ---- */

/* Nothing installed: the ciphertext is fetched once, sent, and the op
 * answers the new PCR7 (recorded). */
static void first_run_installs(void **state)
{
	fx *x = *state;
	json_t *r = run_op(x, "op-1");
	assert_success(r, x->tar);
	json_decref(r);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.gets), 1);
	assert_int_equal(shim_get(&x->shim, &x->shim.bundles), 1);
	assert_int_equal(shim_get(&x->shim, &x->shim.ends), 1);
	assert_pcr7(x, x->tar);
}

/* The agent was killed after init's EXTEND (and after recording PCR7)
 * before the control plane had the result: the op, sent again to the
 * restarted agent, answers success with the same PCR7 — no fetch, no
 * bundle sent (init would have refused it not_awaiting_bundle). */
static void rerun_after_install(void **state)
{
	fx *x = *state;
	json_decref(run_op(x, "op-1"));
	json_t *r = run_op(x, "op-1"); /* a restarted agent: a new engine */
	assert_success(r, x->tar);
	json_decref(r);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.gets), 1);
	assert_int_equal(shim_get(&x->shim, &x->shim.bundles), 1);
	assert_int_equal(shim_get(&x->shim, &x->shim.ends), 1);
	assert_pcr7(x, x->tar);
}

/* Killed between init's EXTEND and recording PCR7 (and the op comes back
 * before adoption recorded it): the re-run records PCR7 and answers it. */
static void rerun_before_record(void **state)
{
	fx *x = *state;
	char path[128];
	pthread_mutex_lock(&x->shim.mu);
	x->shim.installed = true;
	memcpy(x->shim.sha, x->tar, sizeof(x->tar));
	pthread_mutex_unlock(&x->shim.mu);
	/* what the killed run left: the op that sent the bundle */
	snprintf(path, sizeof(path), "%s/provision", x->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/provision/%s", x->dir, ENC);
	assert_int_equal(cl_file_write_atomic(path, "op-1", 4, 0600), CL_OK);
	json_t *r = run_op(x, "op-1");
	assert_success(r, x->tar);
	json_decref(r);
	assert_int_equal(ctl_get(&x->ctl, &x->ctl.gets), 0);
	assert_int_equal(shim_get(&x->shim, &x->shim.bundles), 0);
	assert_int_equal(shim_get(&x->shim, &x->shim.ends), 0);
	assert_pcr7(x, x->tar);
}

/* Another bundle is installed: the op is not taken for done; init refuses
 * it (not_awaiting_bundle) and PCR7 is not touched. */
static void other_bundle_installed(void **state)
{
	fx *x = *state;
	pthread_mutex_lock(&x->shim.mu);
	x->shim.installed = true;
	assert_int_equal(cl_sha384("another tar", 11, x->shim.sha), CL_OK);
	pthread_mutex_unlock(&x->shim.mu);
	json_t *r = run_op(x, "op-2");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "reason")), "not_awaiting_bundle");
	json_decref(r);
	assert_int_equal(shim_get(&x->shim, &x->shim.ends), 1);
	assert_pcr7(x, NULL);
}

/* A new op with the same bundle after it was installed is a second
 * provision: init refuses it not_awaiting_bundle. */
static void second_provision_same_bundle(void **state)
{
	fx *x = *state;
	json_decref(run_op(x, "op-1"));
	json_t *r = run_op(x, "op-2");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "reason")), "not_awaiting_bundle");
	json_decref(r);
	assert_int_equal(shim_get(&x->shim, &x->shim.ends), 2);
	assert_pcr7(x, x->tar);
}

int main(void)
{
	evthread_use_pthreads(); /* the fake control plane is stopped from the test thread */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(first_run_installs),
	    T(rerun_after_install),
	    T(rerun_before_record),
	    T(other_bundle_installed),
	    T(second_provision_same_bundle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
