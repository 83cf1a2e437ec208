/* Unit tests for src/common/ipc.c: payload helpers, the server's dispatcher
 * (every refusal, logged without payload bytes), and the transport against a
 * forked server (round trips, oversize datagrams, passed descriptors, stale
 * answers after a timeout, a server killed with SIGKILL mid-request). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ipc.h"
#include "common/log.h"

enum { T_ECHO = 1, T_ADD = 2, T_FAIL = 3, T_WAIT = 4, T_DIE = 5, T_FD = 6, T_FD_IGNORE = 7 };

static int wait_pipe = -1; /* T_WAIT blocks until a byte arrives here */

typedef struct { const uint8_t *p; size_t n; } echo_args;
typedef struct { uint32_t a, b; } add_args;

static cl_err dec_echo(cl_buf *req, void *out)
{
	echo_args *a = out;
	return cl_ipc_get_bytes(req, 100, &a->p, &a->n);
}

static cl_err run_echo(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	const echo_args *a = args;
	(*(int *)ctx)++;
	return cl_ipc_put_bytes(ans, a->p, a->n);
}

static cl_err dec_add(cl_buf *req, void *out)
{
	add_args *a = out;
	CL_GUARD(cl_buf_get_be32(req, &a->a));
	return cl_buf_get_be32(req, &a->b);
}

static cl_err run_add(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	const add_args *a = args;
	(*(int *)ctx)++;
	return cl_buf_put_be32(ans, a->a + a->b);
}

static cl_err dec_none(cl_buf *req, void *out)
{
	return CL_OK;
}

static cl_err run_fail(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	(*(int *)ctx)++;
	return cl_errorf(CL_EPERM, "not for you");
}

static cl_err run_wait(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	char c;
	if (read(wait_pipe, &c, 1) != 1)
		return CL_ESYS;
	return cl_buf_put_u8(ans, (uint8_t)c);
}

static cl_ipc_server *fd_server; /* the forked server, for the runs that take descriptors */

/* Takes the descriptor that came with the request, reads one byte from it
 * and answers it. */
static cl_err run_fd(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	char c;
	int fd = cl_ipc_server_take_fd(fd_server, 0);
	CL_ENSURE(fd >= 0, CL_EINVAL, "no descriptor");
	ssize_t r = read(fd, &c, 1);
	close(fd);
	CL_ENSURE(r == 1, CL_EIO, "read");
	return cl_buf_put_u8(ans, (uint8_t)c);
}

/* Accepts a descriptor and leaves it: the server closes it after the run. */
static cl_err run_fd_ignore(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	return CL_OK;
}

static cl_err run_die(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	raise(SIGKILL); /* a kill -9 while a request is in flight */
	return CL_OK;
}

static const cl_ipc_handler handlers[] = {
	{T_ECHO, "echo", 104, dec_echo, run_echo, 0},
	{T_ADD, "add", 8, dec_add, run_add, 0},
	{T_FAIL, "fail", 104, dec_echo, run_fail, 0},
	{T_WAIT, "wait", 0, dec_none, run_wait, 0},
	{T_DIE, "die", 0, dec_none, run_die, 0},
	{T_FD, "fd", 0, dec_none, run_fd, 1},
	{T_FD_IGNORE, "fd-ignore", 0, dec_none, run_fd_ignore, 1},
};
#define NH (sizeof(handlers) / sizeof(handlers[0]))

static void put_hdr(uint8_t *m, uint16_t type, uint16_t flags, uint32_t id, uint32_t len)
{
	m[0] = (uint8_t)(type >> 8), m[1] = (uint8_t)type, m[2] = (uint8_t)(flags >> 8), m[3] = (uint8_t)flags;
	for (int i = 0; i < 4; i++) {
		m[4 + i] = (uint8_t)(id >> (24 - 8 * i));
		m[8 + i] = (uint8_t)(len >> (24 - 8 * i));
	}
}

/* The refusal code in an answer message, or -1 if it is not a refusal. */
static int refusal(const cl_buf *out)
{
	if (out->len != CL_IPC_HDR + 4 || out->data[3] != (CL_IPC_F_ANSWER | CL_IPC_F_ERROR))
		return -1;
	return out->data[15];
}

static void helpers(void **state)
{
	cl_buf b, r;
	char s[8];
	const uint8_t *p;
	size_t n;
	uint8_t fixed[4];
	cl_buf_init(&b, 64);
	assert_int_equal(cl_ipc_put_str(&b, "abc"), CL_OK);
	assert_int_equal(cl_ipc_put_str(&b, "too long!"), CL_OK);
	assert_int_equal(cl_ipc_put_bytes(&b, "\x01\x02\x03", 3), CL_OK);
	cl_buf_wrap(&r, b.data, b.len);
	assert_int_equal(cl_ipc_get_str(&r, s, sizeof(s)), CL_OK);
	assert_string_equal(s, "abc");
	assert_int_equal(cl_ipc_get_str(&r, s, sizeof(s)), CL_EINVAL); /* 9 chars into 8 bytes */
	cl_buf_wrap(&r, b.data + 16, b.len - 16);                       /* the byte string */
	assert_int_equal(cl_ipc_get_bytes(&r, 2, &p, &n), CL_EINVAL);   /* over its max */
	cl_buf_wrap(&r, b.data + 16, b.len - 16);
	assert_int_equal(cl_ipc_get_fixed(&r, fixed, 4), CL_EINVAL); /* 3 bytes, not 4 */
	cl_buf_wrap(&r, b.data + 16, b.len - 16);
	assert_int_equal(cl_ipc_get_fixed(&r, fixed, 3), CL_OK);
	assert_memory_equal(fixed, "\x01\x02\x03", 3);
	assert_int_equal(cl_ipc_get_end(&r), CL_OK);
	cl_buf_wrap(&r, b.data + 16, b.len - 17); /* truncated by one byte */
	assert_int_equal(cl_ipc_get_bytes(&r, 16, &p, &n), CL_EINVAL);
	assert_int_equal(cl_ipc_get_end(&r), CL_EPROTO); /* and the cursor did not move past the end */
	cl_buf_wrap(&r, "\x00\x02" "a\0", 4);          /* a string holding a NUL */
	assert_int_equal(cl_ipc_get_str(&r, s, sizeof(s)), CL_EINVAL);
	cl_buf_free(&b);
}

/* Runs one message through the dispatcher; returns the refusal code or 0. */
static int dispatch(cl_ipc_server *s, const uint8_t *m, size_t n, cl_buf *out)
{
	cl_err e = cl_ipc_server_dispatch(s, m, n, out);
	int code = refusal(out);
	assert_int_equal(code < 0 ? 0 : code, (int)e);
	return code < 0 ? 0 : code;
}

static void dispatcher_refusals(void **state)
{
	int served = 0;
	cl_ipc_server s;
	cl_buf out;
	uint8_t m[256];
	char logpath[] = "/tmp/cl-ipc-log.XXXXXX";
	int logfd = mkstemp(logpath), saved = dup(2);
	assert_true(logfd >= 0 && saved >= 0);
	cl_log_init("test_ipc", CL_LOG_INFO);
	assert_int_equal(dup2(logfd, 2), 2);
	cl_buf_init(&out, CL_IPC_MSG_MAX);
	cl_ipc_server_init(&s, -1, "test", handlers, NH, 64, &served);

	/* a good request: add 2 + 3, id 1 */
	put_hdr(m, T_ADD, 0, 1, 8);
	memcpy(m + 12, "\0\0\0\x02\0\0\0\x03", 8);
	assert_int_equal(dispatch(&s, m, 20, &out), 0);
	assert_int_equal(out.len, CL_IPC_HDR + 4);
	assert_int_equal(out.data[3], CL_IPC_F_ANSWER);
	assert_int_equal(out.data[15], 5);
	/* the same id again: out of order (a replay) */
	assert_int_equal(dispatch(&s, m, 20, &out), CL_EPROTO);
	/* skipping an id: out of order too */
	put_hdr(m, T_ADD, 0, 3, 8);
	assert_int_equal(dispatch(&s, m, 20, &out), CL_EPROTO);
	/* shorter than a header */
	assert_int_equal(dispatch(&s, m, 11, &out), CL_EPROTO);
	/* longer than the channel's maximum (64): refused, its in-order id consumed */
	put_hdr(m, T_ECHO, 0, 2, 60);
	assert_int_equal(dispatch(&s, m, 72, &out), CL_ETOOBIG);
	/* flags on a request (e.g. a forged answer) */
	put_hdr(m, T_ADD, CL_IPC_F_ANSWER, 3, 8);
	assert_int_equal(dispatch(&s, m, 20, &out), CL_EPROTO);
	/* length field disagreeing with the datagram */
	put_hdr(m, T_ADD, 0, 3, 9);
	assert_int_equal(dispatch(&s, m, 20, &out), CL_EPROTO);
	/* ids are consumed by every request that reaches a handler lookup: */
	put_hdr(m, 99, 0, 3, 0); /* unknown type */
	assert_int_equal(dispatch(&s, m, 12, &out), CL_EPROTO);
	put_hdr(m, T_ADD, 0, 4, 12); /* payload over the handler's max (8) */
	assert_int_equal(dispatch(&s, m, 24, &out), CL_ETOOBIG);
	put_hdr(m, T_ADD, 0, 5, 7); /* truncated: decode fails */
	assert_int_equal(dispatch(&s, m, 19, &out), CL_EINVAL);
	put_hdr(m, T_ECHO, 0, 6, 8); /* a 2-byte string, then 2 bytes more: not consumed exactly */
	memcpy(m + 12, "\0\0\0\x02" "abcd", 8);
	assert_int_equal(dispatch(&s, m, 20, &out), CL_EPROTO);
	put_hdr(m, T_FAIL, 0, 7, 17); /* the handler refuses; the payload is a "secret" */
	memcpy(m + 12, "\0\0\0\x0d" "SECRET-MARKER", 17);
	assert_int_equal(dispatch(&s, m, 29, &out), CL_EPERM);
	/* only the two well-formed requests reached a run */
	assert_int_equal(served, 2);
	put_hdr(m, T_ADD, 0, 8, 8);
	memcpy(m + 12, "\0\0\0\x02\0\0\0\x03", 8);
	assert_int_equal(dispatch(&s, m, 20, &out), 0);
	assert_int_equal(served, 3);
	assert_int_equal(s.refused, 11);

	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	char log[8192];
	ssize_t n = pread(logfd, log, sizeof(log) - 1, 0);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(strstr(log, "refused fail (type 3, id 7)"));
	assert_non_null(strstr(log, "unknown request type"));
	assert_non_null(strstr(log, "payload of 12 bytes exceeds 8"));
	assert_non_null(strstr(log, "truncated input"));
	assert_non_null(strstr(log, "2 trailing bytes"));
	assert_non_null(strstr(log, "request with flags 0x1"));
	assert_non_null(strstr(log, "length field 9, payload 8"));
	assert_non_null(strstr(log, "message of 72 bytes exceeds 64"));
	assert_non_null(strstr(log, "forbidden: not for you"));
	assert_non_null(strstr(log, "request out of order"));
	assert_null(strstr(log, "SECRET-MARKER"));
	close(logfd);
	unlink(logpath);
	cl_buf_free(&out);
}

/* A server child over fds[1]; returns its pid. */
static pid_t start_server(int fds[2], int *release)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int served = 0;
		cl_ipc_server s;
		close(fds[0]);
		close(p[1]);
		wait_pipe = p[0];
		cl_log_init("ipc-server", CL_LOG_ERROR);
		cl_ipc_server_init(&s, fds[1], "test", handlers, NH, 256, &served);
		fd_server = &s;
		while (cl_ipc_server_serve_one(&s) == CL_OK)
			;
		_exit(0);
	}
	close(fds[1]);
	close(p[0]);
	*release = p[1];
	return pid;
}

static void transport(void **state)
{
	int fds[2], release, status;
	cl_ipc_client c;
	cl_buf req, ans;
	assert_int_equal(cl_ipc_pair(fds), CL_OK);
	pid_t pid = start_server(fds, &release);
	cl_ipc_client_init(&c, fds[0], 200, 10000);
	cl_buf_init(&req, 1024);
	cl_buf_init(&ans, 200);

	assert_int_equal(cl_ipc_put_bytes(&req, "hello", 5), CL_OK);
	assert_int_equal(cl_ipc_call(&c, T_ECHO, &req, &ans), CL_OK);
	assert_int_equal(ans.len, 9);
	assert_memory_equal(ans.data + 4, "hello", 5);
	/* a refusal comes back as the server's code */
	cl_buf_reset(&req);
	assert_int_equal(cl_ipc_put_bytes(&req, "", 0), CL_OK);
	assert_int_equal(cl_ipc_call(&c, T_FAIL, &req, &ans), CL_EPERM);
	assert_int_equal(ans.len, 0);
	/* a datagram over the server's 256 bytes: refused, the channel lives on */
	cl_buf_reset(&req);
	uint8_t big[600] = {0};
	assert_int_equal(cl_buf_put(&req, big, sizeof(big)), CL_OK);
	assert_int_equal(cl_ipc_call(&c, T_ECHO, &req, &ans), CL_ETOOBIG);
	/* a descriptor attached to a request: refused, closed on the server side */
	{
		uint8_t m[CL_IPC_HDR];
		union {
			struct cmsghdr a;
			uint8_t b[CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = {m, sizeof(m)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		int passed = 0; /* stdin */
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &passed, sizeof(int));
		put_hdr(m, T_FAIL, 0, ++c.last_id, 0);
		assert_int_equal(sendmsg(fds[0], &mh, 0), (ssize_t)sizeof(m));
		uint8_t a[64];
		assert_int_equal(recv(fds[0], a, sizeof(a), 0), CL_IPC_HDR + 4);
		assert_int_equal(a[3], CL_IPC_F_ANSWER | CL_IPC_F_ERROR);
		assert_int_equal(a[15], CL_EPROTO);
	}
	/* descriptors with a request: only to a type that declares them */
	{
		int pp[2], two[2];
		assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
		assert_int_equal(write(pp[1], "y", 1), 1);
		cl_buf_reset(&req);
		assert_int_equal(cl_ipc_call_fds(&c, T_FD, &req, &pp[0], 1, &ans), CL_OK);
		assert_int_equal(ans.len, 1);
		assert_int_equal(ans.data[0], 'y'); /* the server read from our pipe */
		assert_int_equal(cl_ipc_call(&c, T_FD, &req, &ans), CL_EINVAL); /* its run wants one */
		two[0] = two[1] = pp[0];
		assert_int_equal(cl_ipc_call_fds(&c, T_FD, &req, two, 2, &ans), CL_EPROTO); /* more than declared */
		assert_int_equal(cl_ipc_call_fds(&c, T_ECHO, &req, &pp[0], 1, &ans), CL_EPROTO); /* none declared */
		assert_int_equal(cl_ipc_call_fds(&c, T_FD_IGNORE, &req, &pp[0], 1, &ans), CL_OK);
		/* every copy the server got was closed (run or not): with ours
		 * closed too, the pipe has no reader left */
		close(pp[0]);
		signal(SIGPIPE, SIG_IGN);
		assert_int_equal(write(pp[1], "z", 1), -1);
		assert_int_equal(errno, EPIPE);
		close(pp[1]);
	}
	/* still in step: add works */
	cl_buf_reset(&req);
	assert_int_equal(cl_buf_put_be32(&req, 40), CL_OK);
	assert_int_equal(cl_buf_put_be32(&req, 2), CL_OK);
	assert_int_equal(cl_ipc_call(&c, T_ADD, &req, &ans), CL_OK);
	assert_int_equal(ans.data[3], 42);

	/* a server that does not answer in time: CL_ETIMEOUT, not a hang ... */
	cl_buf_reset(&req);
	c.timeout_ms = 100;
	assert_int_equal(cl_ipc_call(&c, T_WAIT, &req, &ans), CL_ETIMEOUT);
	/* ... and its late answer is dropped by the next call */
	assert_int_equal(write(release, "x", 1), 1);
	c.timeout_ms = 10000;
	assert_int_equal(cl_buf_put_be32(&req, 1), CL_OK);
	assert_int_equal(cl_buf_put_be32(&req, 1), CL_OK);
	assert_int_equal(cl_ipc_call(&c, T_ADD, &req, &ans), CL_OK);
	assert_int_equal(ans.len, 4);
	assert_int_equal(ans.data[3], 2);

	/* the server killed with SIGKILL while serving: an error at once, not the 10 s timeout */
	cl_buf_reset(&req);
	assert_int_equal(cl_ipc_call(&c, T_DIE, &req, &ans), CL_EUNAVAIL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* and every later call too */
	assert_int_equal(cl_ipc_call(&c, T_ADD, &req, &ans), CL_EUNAVAIL);
	close(release);
	close(fds[0]);
	cl_buf_free(&req);
	cl_buf_free(&ans);
}

/* An answer that does not match (wrong id ahead, wrong type, bad flags):
 * a protocol error, never taken as the answer. */
static void client_checks_answers(void **state)
{
	int fds[2];
	cl_ipc_client c;
	cl_buf req, ans;
	uint8_t m[CL_IPC_HDR + 4], r[64];
	assert_int_equal(cl_ipc_pair(fds), CL_OK);
	cl_ipc_client_init(&c, fds[0], 64, 2000);
	cl_buf_init(&req, 64);
	cl_buf_init(&ans, 64);
	struct { uint16_t type, flags; uint32_t id; } bad[] = {
		{T_ADD, CL_IPC_F_ANSWER, 7}, /* an id from the future */
		{T_ECHO, CL_IPC_F_ANSWER, 2},  /* another type */
		{T_ADD, 0, 3},               /* not flagged as an answer */
		{T_ADD, 0x8000 | CL_IPC_F_ANSWER, 4}, /* unknown flag */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_hdr(m, bad[i].type, bad[i].flags, bad[i].id, 4);
		memset(m + 12, 0, 4);
		assert_int_equal(send(fds[1], m, sizeof(m), 0), (ssize_t)sizeof(m));
		assert_int_equal(cl_ipc_call(&c, T_ADD, &req, &ans), CL_EPROTO);
		assert_int_equal(recv(fds[1], r, sizeof(r), 0), CL_IPC_HDR); /* drain the request */
	}
	/* a refusal with a code outside the table */
	put_hdr(m, T_ADD, CL_IPC_F_ANSWER | CL_IPC_F_ERROR, 5, 4);
	memcpy(m + 12, "\0\0\0\xff", 4);
	assert_int_equal(send(fds[1], m, sizeof(m), 0), (ssize_t)sizeof(m));
	assert_int_equal(cl_ipc_call(&c, T_ADD, &req, &ans), CL_EPROTO);
	close(fds[0]);
	close(fds[1]);
	cl_buf_free(&req);
	cl_buf_free(&ans);
}

/* Pipelined use: three requests in flight on one channel, served in order by
 * one server in this process; each answer carries its request's id and type,
 * a refusal comes as *refusal with the channel still fine, and an answer to
 * an id never sent is a protocol error. */
static void pipelined(void **state)
{
	int fds[2], runs = 0;
	cl_ipc_client c;
	cl_ipc_server s;
	cl_buf req, ans;
	uint32_t ids[3], id = 0;
	uint16_t type = 0, types[3] = {T_ADD, T_FAIL, T_ECHO};
	cl_err refusal = CL_OK;
	uint32_t sum = 0;
	uint8_t m[CL_IPC_HDR + 4];
	assert_int_equal(cl_ipc_pair(fds), CL_OK);
	cl_ipc_client_init(&c, fds[0], 256, 2000);
	cl_ipc_server_init(&s, fds[1], "test", handlers, NH, 512, &runs);
	cl_buf_init(&req, 64);
	cl_buf_init(&ans, 256);
	assert_int_equal(cl_buf_put_be32(&req, 40), CL_OK);
	assert_int_equal(cl_buf_put_be32(&req, 2), CL_OK);
	assert_int_equal(cl_ipc_send_request(&c, T_ADD, &req, &ids[0]), CL_OK);
	cl_buf_reset(&req);
	assert_int_equal(cl_ipc_put_bytes(&req, "x", 1), CL_OK);
	assert_int_equal(cl_ipc_send_request(&c, T_FAIL, &req, &ids[1]), CL_OK);
	assert_int_equal(cl_ipc_send_request(&c, T_ECHO, &req, &ids[2]), CL_OK);
	assert_true(ids[0] + 1 == ids[1] && ids[1] + 1 == ids[2]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cl_ipc_server_serve_one(&s), CL_OK);
	assert_int_equal(runs, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cl_ipc_recv_answer(&c, &type, &id, &refusal, &ans), CL_OK);
		assert_int_equal(id, ids[i]);
		assert_int_equal(type, types[i]);
		assert_int_equal(refusal, i == 1 ? CL_EPERM : CL_OK);
		if (i == 0) {
			assert_int_equal(cl_buf_get_be32(&ans, &sum), CL_OK);
			assert_int_equal(sum, 42);
		}
		if (i == 2)
			assert_int_equal(ans.len, 5); /* u32 length + "x" */
	}
	/* an answer to a request never sent */
	put_hdr(m, T_ADD, CL_IPC_F_ANSWER, ids[2] + 1, 4);
	memset(m + CL_IPC_HDR, 0, 4);
	assert_int_equal(send(fds[1], m, sizeof(m), 0), (ssize_t)sizeof(m));
	assert_int_equal(cl_ipc_recv_answer(&c, &type, &id, &refusal, &ans), CL_EPROTO);
	close(fds[1]);
	assert_int_equal(cl_ipc_recv_answer(&c, &type, &id, &refusal, &ans), CL_EUNAVAIL);
	close(fds[0]);
	cl_buf_free(&req);
	cl_buf_free(&ans);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(helpers),
		cmocka_unit_test(dispatcher_refusals),
		cmocka_unit_test(transport),
		cmocka_unit_test(client_checks_answers),
		cmocka_unit_test(pipelined),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
