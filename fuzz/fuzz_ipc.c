/* Fuzzes both ends of common/ipc.c.
 *
 * Byte 0 even: the rest is a sequence of u16-length-prefixed messages for a
 * server (cl_ipc_server_dispatch) with two handlers — a byte-string echo and
 * a string+u64 reader. Every answer must be a whole answer to its request's
 * type, no longer than the channel allows, and a handler may run only on a
 * payload its decoder consumed exactly.
 * Byte 0 odd: the rest is one datagram queued as the "answer" a client
 * (cl_ipc_call) reads: whatever it is, the call returns (no hang, no crash)
 * and on success the payload is what the datagram carried. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
	const uint8_t *p;
	size_t n;
	char s[32];
	uint64_t v;
	size_t left; /* bytes the decoder left unread */
} args;

static cl_err dec_echo(cl_buf *req, void *out)
{
	args *a = out;
	CL_GUARD(cl_ipc_get_bytes(req, 64, &a->p, &a->n));
	a->left = cl_buf_remaining(req);
	return CL_OK;
}

static cl_err dec_str(cl_buf *req, void *out)
{
	args *a = out;
	CL_GUARD(cl_ipc_get_str(req, a->s, sizeof(a->s)));
	CL_GUARD(cl_buf_get_be64(req, &a->v));
	a->left = cl_buf_remaining(req);
	return CL_OK;
}

static cl_err run(void *ctx, const cl_ipc_peer *peer, const void *in, cl_buf *ans)
{
	const args *a = in;
	if (a->n > 64 || strlen(a->s) >= sizeof(a->s) || a->left != 0)
		__builtin_trap(); /* decode limits held; the payload was read to its end */
	return a->p ? cl_ipc_put_bytes(ans, a->p, a->n) : cl_buf_put_be64(ans, a->v);
}

static const cl_ipc_handler handlers[] = {
	{1, "echo", 68, dec_echo, run, 0},
	{2, "str", 2 + 31 + 8, dec_str, run, 0},
};

static void server(const uint8_t *data, size_t size)
{
	cl_ipc_server s;
	cl_buf out;
	cl_ipc_server_init(&s, -1, "fuzz", handlers, 2, 128, NULL);
	cl_buf_init(&out, CL_IPC_MSG_MAX);
	while (size >= 2) {
		size_t n = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		(void)cl_ipc_server_dispatch(&s, data, n, &out);
		if (out.len < CL_IPC_HDR || out.len > 128 || !(out.data[3] & CL_IPC_F_ANSWER) ||
		    ((out.data[3] & CL_IPC_F_ERROR) && out.len != CL_IPC_HDR + 4))
			__builtin_trap();
		if (n >= CL_IPC_HDR && memcmp(out.data, data, 2) != 0)
			__builtin_trap();
		data += n;
		size -= n;
	}
	cl_buf_free(&out);
}

static void client(const uint8_t *data, size_t size)
{
	int fds[2];
	cl_ipc_client c;
	cl_buf req, ans;
	uint8_t drain[64];
	if (size > 4096 || cl_ipc_pair(fds) != CL_OK)
		return;
	cl_ipc_client_init(&c, fds[0], 256, 1);
	cl_buf_init(&req, 16);
	cl_buf_init(&ans, 256);
	if (send(fds[1], data, size, 0) == (ssize_t)size) {
		/* the first request's id is 1, its type 2 */
		cl_err e = cl_ipc_call(&c, 2, &req, &ans);
		if (e == CL_OK && (size < CL_IPC_HDR || ans.len != size - CL_IPC_HDR ||
				   memcmp(ans.data, data + CL_IPC_HDR, ans.len) != 0))
			__builtin_trap();
		if (e != CL_OK && ans.len != 0)
			__builtin_trap();
	}
	(void)recv(fds[1], drain, sizeof(drain), MSG_DONTWAIT);
	close(fds[0]);
	close(fds[1]);
	cl_buf_free(&req);
	cl_buf_free(&ans);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		cl_log_init("fuzz_ipc", CL_LOG_ERROR);
		ready = 1;
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		client(data + 1, size - 1);
	else
		server(data + 1, size - 1);
	return 0;
}
