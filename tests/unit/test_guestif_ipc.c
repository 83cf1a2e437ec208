/* Tests of the channels between the guest interface process and the
 * agent's gate (src/guestif/guestif_ipc.c, guestif_gate.c):
 *   - the query decoder: every good form round-trips; bad enclave ids, bad
 *     addresses, regions, empty or oversized data, an offset that overflows,
 *     truncation at every byte are refused (CL_EINVAL), never read past;
 *   - identities, write verdicts and counters read back exactly; an
 *     identity with a bad field (as a compromised peer could send) is refused;
 *   - the gate, driven as a compromised guest interface process would (raw
 *     queries on its channel, no process in between): queries for an
 *     enclave it does not serve are refused; writes beyond the enclave's and
 *     the host's rates are refused without an audit record whatever the
 *     process says; trailing bytes and descriptors are refused;
 *   - a guest interface process killed with SIGKILL: the gate sees it gone,
 *     a new process reattached gets every enclave's socket again and a
 *     client connected meanwhile is answered.
 * Every wait polls a condition with a deadline. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_fwdev_fixture.h"

#include "common/ipc.h"
#include "common/util.h"
#include "guestif/guestif.h"

/* ---- the decoder ---- */

static cl_err decode_bytes(uint16_t type, const cl_buf *b, cl_guestif_q *q)
{
	cl_buf in;
	cl_buf_wrap(&in, b->data, b->len);
	cl_err e = cl_guestif_q_decode(type, &in, q);
	if (e == CL_OK)
		e = cl_ipc_get_end(&in);
	return e;
}

static void queries_round_trip(void **state)
{
	cl_guestif_q q = {.enclave = "enc-1"}, back;
	cl_buf b;
	cl_buf_init(&b, CL_GUESTIF_IPC_MAX);
	q.req.verb = CL_GUESTIF_LIST;
	assert_int_equal(cl_guestif_q_encode(&q, &b), CL_OK);
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_LIST, &b, &back), CL_OK);
	assert_string_equal(back.enclave, "enc-1");
	assert_int_equal(back.req.verb, CL_GUESTIF_LIST);
	q.req.verb = CL_GUESTIF_READ;
	snprintf(q.req.addr, sizeof(q.req.addr), "0000:03:00.0");
	assert_int_equal(cl_guestif_q_encode(&q, &b), CL_OK);
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_READ, &b, &back), CL_OK);
	assert_string_equal(back.req.addr, "0000:03:00.0");
	q.req.verb = CL_GUESTIF_WRITE;
	q.req.region = FWG_REGION_ROM;
	q.req.offset = UINT64_MAX - (CL_GUESTIF_WRITE_MAX - 1); /* the last offset a full write may use */
	q.req.len = CL_GUESTIF_WRITE_MAX;
	memset(q.req.data, 0xa5, q.req.len);
	assert_int_equal(cl_guestif_q_encode(&q, &b), CL_OK);
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &back), CL_OK);
	assert_int_equal(back.req.region, FWG_REGION_ROM);
	assert_true(back.req.offset == q.req.offset);
	assert_int_equal(back.req.len, CL_GUESTIF_WRITE_MAX);
	assert_memory_equal(back.req.data, q.req.data, CL_GUESTIF_WRITE_MAX);
	/* every truncation is refused */
	for (size_t n = 0; n < b.len; n++) {
		cl_buf in;
		cl_buf_wrap(&in, b.data, n);
		assert_int_not_equal(cl_guestif_q_decode(CL_GUESTIF_Q_WRITE, &in, &back), CL_OK);
	}
	/* a LIST payload read as a WRITE, and trailing bytes after a LIST */
	q.req.verb = CL_GUESTIF_LIST;
	assert_int_equal(cl_guestif_q_encode(&q, &b), CL_OK);
	assert_int_not_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &back), CL_OK);
	assert_int_equal(cl_buf_put_u8(&b, 0), CL_OK);
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_LIST, &b, &back), CL_EPROTO);
	assert_int_not_equal(decode_bytes(0, &b, &back), CL_OK);
	assert_int_not_equal(decode_bytes(4, &b, &back), CL_OK);
	cl_buf_free(&b);
}

/* Builds a WRITE payload by hand (a peer that does not use the encoder). */
static void raw_write(cl_buf *b, const char *enclave, const char *addr, uint8_t region, uint64_t off, size_t n)
{
	uint8_t data[CL_GUESTIF_WRITE_MAX + 8] = {0};
	cl_buf_reset(b);
	assert_int_equal(cl_ipc_put_str(b, enclave), CL_OK);
	assert_int_equal(cl_ipc_put_str(b, addr), CL_OK);
	assert_int_equal(cl_buf_put_u8(b, region), CL_OK);
	assert_int_equal(cl_buf_put_be64(b, off), CL_OK);
	assert_int_equal(cl_ipc_put_bytes(b, data, n), CL_OK);
}

static void refuses_bad_queries(void **state)
{
	cl_guestif_q q;
	cl_buf b;
	cl_buf_init(&b, CL_GUESTIF_IPC_MAX);
	raw_write(&b, "enc-1", "0000:03:00.0", 1, 0, 1);
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &q), CL_OK); /* the baseline is good */
	const char *bad_ids[] = {"", "ENC", "enc_1", "../x", "enc 1", "a/b",
				 "0123456789012345678901234567890123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		raw_write(&b, bad_ids[i], "0000:03:00.0", 1, 0, 1);
		assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &q), CL_EINVAL);
	}
	const char *bad_addrs[] = {"", "0000/03", "a b", "x\"y", "01234567890123456789012345678901"};
	for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
		raw_write(&b, "enc-1", bad_addrs[i], 1, 0, 1);
		assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &q), CL_EINVAL);
	}
	raw_write(&b, "enc-1", "0000:03:00.0", 0, 0, 1); /* region 0 */
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &q), CL_EINVAL);
	raw_write(&b, "enc-1", "0000:03:00.0", 4, 0, 1); /* region 4 */
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &q), CL_EINVAL);
	raw_write(&b, "enc-1", "0000:03:00.0", 1, 0, 0); /* no data */
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &q), CL_EINVAL);
	raw_write(&b, "enc-1", "0000:03:00.0", 1, 0, CL_GUESTIF_WRITE_MAX + 1); /* too much */
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &q), CL_EINVAL);
	raw_write(&b, "enc-1", "0000:03:00.0", 1, UINT64_MAX, 2); /* offset + 2 - 1 overflows */
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &q), CL_EINVAL);
	raw_write(&b, "enc-1", "0000:03:00.0", 1, UINT64_MAX, 1); /* the last byte: fine */
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_WRITE, &b, &q), CL_OK);
	/* a NUL inside a string */
	cl_buf_reset(&b);
	assert_int_equal(cl_buf_put_be16(&b, 3), CL_OK);
	assert_int_equal(cl_buf_put(&b, "e\0c", 3), CL_OK);
	assert_int_equal(decode_bytes(CL_GUESTIF_Q_LIST, &b, &q), CL_EINVAL);
	cl_buf_free(&b);
}

static void identities_and_results(void **state)
{
	fwg_identity id = {.addr = "0000:03:00.0", .name = "nic", .version = "1.2.0", .locked = true}, back;
	memset(id.vendor, 0x11, sizeof(id.vendor));
	memset(id.class_id, 0x22, sizeof(id.class_id));
	cl_buf b, in;
	cl_buf_init(&b, CL_GUESTIF_IPC_MAX);
	assert_int_equal(cl_guestif_identity_put(&b, &id), CL_OK);
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_guestif_identity_get(&in, &back), CL_OK);
	assert_int_equal(cl_ipc_get_end(&in), CL_OK);
	assert_memory_equal(&back, &id, sizeof(id));
	/* what a compromised peer could slip into a guest's JSON or a log line */
	const char *bad_names[] = {"", "a\"b", "a\\b", "a\nb"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		fwg_identity x = id;
		snprintf(x.name, sizeof(x.name), "%s", bad_names[i]);
		cl_buf_reset(&b);
		assert_int_equal(cl_guestif_identity_put(&b, &x), CL_OK);
		cl_buf_wrap(&in, b.data, b.len);
		assert_int_equal(cl_guestif_identity_get(&in, &back), CL_EINVAL);
	}
	cl_buf_reset(&b);
	assert_int_equal(cl_guestif_identity_put(&b, &id), CL_OK);
	b.data[b.len - 1] = 2; /* locked is 0 or 1 */
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_guestif_identity_get(&in, &back), CL_EINVAL);
	/* write verdicts */
	cl_guestif_write_res r = {.verdict = CL_GUESTIF_LIMITED_HOST, .audit_seq = 77, .rate = 1, .burst = 30}, rb;
	cl_buf_reset(&b);
	assert_int_equal(cl_guestif_write_res_put(&b, &r), CL_OK);
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_guestif_write_res_get(&in, &rb), CL_OK);
	assert_int_equal(rb.verdict, r.verdict);
	assert_true(rb.audit_seq == 77 && rb.rate == 1 && rb.burst == 30);
	b.data[0] = 5;
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_guestif_write_res_get(&in, &rb), CL_EINVAL);
	/* counters */
	cl_guestif_stats st = {1, 2, 3, 4, 5, 6}, sb;
	cl_buf_reset(&b);
	assert_int_equal(cl_guestif_stats_put(&b, &st), CL_OK);
	cl_buf_wrap(&in, b.data, b.len);
	assert_int_equal(cl_guestif_stats_get_wire(&in, &sb), CL_OK);
	assert_memory_equal(&st, &sb, sizeof(st));
	cl_buf_free(&b);
}

/* ---- the gate, driven like a compromised process would ---- */

typedef struct gx {
	dx d;
	char base[128];
	cl_guestif *g;
	int query, control; /* our ends: we are "the process" */
	cl_ipc_client q;
	cl_ipc_server ctl;
	int added_fd;  /* the fw.sock ADD handed over */
	int added_nsm; /* the nsm.sock ADD handed over */
	uint8_t socks; /* ADD's socket set */
} gx;

static cl_err ctl_dec(cl_buf *req, void *args)
{
	char id[CL_GUESTIF_ID_MAX + 2];
	return cl_ipc_get_str(req, id, sizeof(id));
}

static cl_err ctl_dec_add(cl_buf *req, void *args)
{
	CL_GUARD(ctl_dec(req, args));
	return cl_buf_get_u8(req, (uint8_t *)args + CL_GUESTIF_ID_MAX + 2);
}

static cl_err ctl_add(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	gx *x = ctx;
	if (x->added_fd >= 0)
		close(x->added_fd);
	if (x->added_nsm >= 0)
		close(x->added_nsm);
	x->socks = ((const uint8_t *)args)[CL_GUESTIF_ID_MAX + 2];
	x->added_fd = cl_ipc_server_take_fd(&x->ctl, 0);  /* fw.sock first */
	x->added_nsm = cl_ipc_server_take_fd(&x->ctl, 1); /* then nsm.sock */
	return CL_OK;
}

static cl_err ctl_ok(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	return CL_OK;
}

static const cl_ipc_handler ctl_handlers[] = {
	{CL_GUESTIF_C_ADD, "add", 128, ctl_dec_add, ctl_add, 2},
	{CL_GUESTIF_C_REMOVE, "remove", 128, ctl_dec, ctl_ok, 0},
};

/* Serves the gate's control calls from a thread while the test asks. */
static void *ctl_thread(void *arg)
{
	gx *x = arg;
	while (cl_ipc_server_serve_one(&x->ctl) == CL_OK)
		;
	return NULL;
}

static pthread_t ctl_t;

static int gx_setup_opts(void **state, const cl_guestif_opts *o)
{
	gx *x = calloc(1, sizeof(*x));
	int q[2], c[2];
	if (!x)
		return -1;
	fx_init(&x->d.f);
	dx_make(&x->d);
	snprintf(x->base, sizeof(x->base), "%s/guest", x->d.dir);
	if (cl_ipc_pair(q) != CL_OK || cl_ipc_pair(c) != CL_OK)
		return -1;
	x->query = q[1];
	x->control = c[1];
	x->added_fd = x->added_nsm = -1;
	cl_ipc_client_init(&x->q, q[1], CL_GUESTIF_IPC_MAX, 5000);
	cl_ipc_server_init(&x->ctl, c[1], "test/control", ctl_handlers, 2, CL_GUESTIF_IPC_MAX, x);
	if (cl_guestif_gate_new(x->d.h, x->base, o, q[0], c[0], &x->g) != CL_OK)
		return -1;
	if (pthread_create(&ctl_t, NULL, ctl_thread, x) != 0)
		return -1;
	if (cl_guestif_add(x->g, "enc-a", NULL, 0) != CL_OK)
		return -1;
	*state = x;
	return 0;
}

static int gx_setup(void **state)
{
	cl_guestif_opts o = {.write_rate = 1, .write_burst = 3, .host_rate = 1, .host_burst = 5};
	return gx_setup_opts(state, &o);
}

static int gx_teardown(void **state)
{
	gx *x = *state;
	cl_guestif_stop(x->g); /* closes its ends: the control thread ends */
	pthread_join(ctl_t, NULL);
	close(x->query);
	close(x->control);
	if (x->added_fd >= 0)
		close(x->added_fd);
	fwg_host_close(x->d.h);
	assert_int_equal(cl_rm_rf(x->d.dir), CL_OK);
	fx_free(&x->d.f);
	free(x);
	return 0;
}

static cl_err query(gx *x, uint16_t type, const cl_buf *req, cl_buf *ans)
{
	return cl_ipc_call(&x->q, type, req, ans);
}

static size_t audit_count(dx *d)
{
	return (size_t)audit_last(d).seq;
}

static void gate_checks_meaning(void **state)
{
	gx *x = *state;
	cl_buf req, ans;
	cl_guestif_write_res r;
	cl_buf_init(&req, CL_GUESTIF_IPC_MAX);
	cl_buf_init(&ans, CL_GUESTIF_IPC_MAX);
	assert_true(x->added_fd >= 0);  /* the gate handed over enc-a's listening sockets: */
	assert_true(x->added_nsm >= 0); /* fw.sock and nsm.sock */
	assert_int_equal(x->socks, 3);
	/* LIST for the served enclave: three identities */
	assert_int_equal(cl_ipc_put_str(&req, "enc-a"), CL_OK);
	assert_int_equal(query(x, CL_GUESTIF_Q_LIST, &req, &ans), CL_OK);
	assert_int_equal(ans.data[0], 3);
	/* an enclave the gate does not serve: refused, for every query */
	cl_buf_reset(&req);
	assert_int_equal(cl_ipc_put_str(&req, "enc-zz"), CL_OK);
	assert_int_equal(query(x, CL_GUESTIF_Q_LIST, &req, &ans), CL_EPERM);
	size_t before = audit_count(&x->d);
	raw_write(&req, "enc-zz", NIC, 1, 0, 4);
	assert_int_equal(query(x, CL_GUESTIF_Q_WRITE, &req, &ans), CL_EPERM);
	assert_int_equal(audit_count(&x->d), before); /* nothing audited for it */
	/* READ of an unknown device: not_found */
	cl_buf_reset(&req);
	assert_int_equal(cl_ipc_put_str(&req, "enc-a"), CL_OK);
	assert_int_equal(cl_ipc_put_str(&req, "0000:99:00.0"), CL_OK);
	assert_int_equal(query(x, CL_GUESTIF_Q_READ, &req, &ans), CL_ENOTFOUND);
	/* trailing bytes, and a descriptor attached: refused */
	raw_write(&req, "enc-a", NIC, 1, 0, 4);
	assert_int_equal(cl_buf_put_u8(&req, 0), CL_OK);
	assert_int_equal(query(x, CL_GUESTIF_Q_WRITE, &req, &ans), CL_EPROTO);
	raw_write(&req, "enc-a", NIC, 1, 0, 4);
	int zero = 0;
	assert_int_equal(cl_ipc_call_fds(&x->q, CL_GUESTIF_Q_WRITE, &req, &zero, 1, &ans), CL_EPROTO);
	assert_int_equal(audit_count(&x->d), before);
	/* the rate: burst 3 of enc-a audited, the rest refused without audit,
	 * however fast the "process" asks */
	size_t audited = 0, limited = 0;
	for (int i = 0; i < 10; i++) {
		raw_write(&req, "enc-a", NIC, 1, (uint64_t)i, 4);
		assert_int_equal(query(x, CL_GUESTIF_Q_WRITE, &req, &ans), CL_OK);
		cl_buf in;
		cl_buf_wrap(&in, ans.data, ans.len);
		assert_int_equal(cl_guestif_write_res_get(&in, &r), CL_OK);
		audited += r.verdict == CL_GUESTIF_AUDITED;
		limited += r.verdict == CL_GUESTIF_LIMITED;
		if (r.verdict == CL_GUESTIF_AUDITED)
			assert_int_equal(r.audit_seq, audit_count(&x->d));
	}
	assert_true(audited <= 4); /* the burst, plus at most one token refilled meanwhile */
	assert_true(audited >= 3);
	assert_int_equal(audited + limited, 10);
	assert_int_equal(audit_count(&x->d), before + audited);
	/* the host's bucket (burst 5) caps a second enclave too */
	assert_int_equal(cl_guestif_add(x->g, "enc-b", NULL, 0), CL_OK);
	size_t host_limited = 0;
	for (int i = 0; i < 6; i++) {
		raw_write(&req, "enc-b", GPU, 2, 0, 1);
		assert_int_equal(query(x, CL_GUESTIF_Q_WRITE, &req, &ans), CL_OK);
		cl_buf in;
		cl_buf_wrap(&in, ans.data, ans.len);
		assert_int_equal(cl_guestif_write_res_get(&in, &r), CL_OK);
		host_limited += r.verdict == CL_GUESTIF_LIMITED_HOST;
	}
	assert_true(host_limited >= 1);
	/* a removed enclave is not served any more */
	cl_guestif_remove(x->g, "enc-b");
	raw_write(&req, "enc-b", GPU, 2, 0, 1);
	assert_int_equal(query(x, CL_GUESTIF_Q_WRITE, &req, &ans), CL_EPERM);
	cl_buf_free(&req);
	cl_buf_free(&ans);
}

/* ---- a real process, killed and replaced ---- */

static int connect_to(const char *base, const char *id)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s/fw.sock", base, id);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return s;
}

static const char *line_from(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t n = 0;
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	while (n < cap - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = cl_now_mono_ns();
		if (now >= deadline || poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			return NULL;
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return NULL;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return buf;
		}
		n++;
	}
	return NULL;
}

static bool gone(cl_guestif *g)
{
	return !cl_guestif_attached(g);
}

static void killed_process_replaced(void **state)
{
	dx d = {0};
	char base[128], buf[4096];
	cl_guestif *g = NULL;
	fx_init(&d.f);
	dx_make(&d);
	snprintf(base, sizeof(base), "%s/guest", d.dir);
	assert_int_equal(cl_guestif_start(d.h, base, NULL, &g), CL_OK);
	assert_int_equal(cl_guestif_add(g, "enc-a", NULL, 0), CL_OK);
	int c = connect_to(base, "enc-a");
	assert_int_equal(write(c, "READ " NIC "\n", strlen("READ " NIC "\n")), (ssize_t)strlen("READ " NIC "\n"));
	assert_non_null(line_from(c, buf, sizeof(buf), 5000));
	assert_true(strncmp(buf, "OK {", 4) == 0);
	pid_t pid = cl_guestif_child_pid(g);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* its connection is gone; the gate notices */
	assert_null(line_from(c, buf, sizeof(buf), 5000));
	close(c);
	uint64_t deadline = cl_now_mono_ns() + 5000000000ull;
	while (!gone(g)) {
		assert_true(cl_now_mono_ns() < deadline);
		usleep(10000);
	}
	/* fail closed: a guest connects (the socket's backlog holds it) and
	 * gets no answer while no process serves it */
	c = connect_to(base, "enc-a");
	assert_int_equal(write(c, "LIST\n", 5), 5);
	assert_null(line_from(c, buf, sizeof(buf), 300));
	/* a new process: reattached, it answers the waiting guest */
	int q[2], k[2];
	assert_int_equal(cl_ipc_pair(q), CL_OK);
	assert_int_equal(cl_ipc_pair(k), CL_OK);
	fflush(NULL);
	pid_t np = fork();
	assert_true(np >= 0);
	if (np == 0) {
		cl_guestif_proc_opts po = {.switch_user = geteuid() == 0, .uid = CL_GUESTIF_UID, .gid = CL_GUESTIF_UID};
		close(q[0]);
		close(k[0]);
		_exit(cl_guestif_main(q[1], k[1], &po));
	}
	close(q[1]);
	close(k[1]);
	assert_int_equal(cl_guestif_reattach(g, q[0], k[0]), CL_OK);
	assert_non_null(line_from(c, buf, sizeof(buf), 5000));
	assert_true(strncmp(buf, "OK {\"devices\"", 13) == 0);
	close(c);
	cl_guestif_stop(g); /* closes the new process's channels: it exits 0 */
	int st;
	assert_int_equal(waitpid(np, &st, 0), np);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	fwg_host_close(d.h);
	assert_int_equal(cl_rm_rf(d.dir), CL_OK);
	fx_free(&d.f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(queries_round_trip),
		cmocka_unit_test(refuses_bad_queries),
		cmocka_unit_test(identities_and_results),
		cmocka_unit_test_setup_teardown(gate_checks_meaning, gx_setup, gx_teardown),
		cmocka_unit_test(killed_process_replaced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
