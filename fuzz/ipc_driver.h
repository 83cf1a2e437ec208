/* ipc_driver.h — the shared driver of the fuzz harnesses of a framed IPC
 * server (fuzz_monitor, fuzz_keyholder, fuzz_guestif_ipc): one input is a
 * sequence of requests to one server.
 *
 * Input: byte 0 = options (bit 7: rewrite each message's id to the one the
 * server expects next, so the fuzzer gets past the ordering check; the
 * other bits are the harness's), then messages as u16 big-endian length +
 * bytes. Each message goes through cl_ipc_server_dispatch. Traps unless
 * every answer is a whole answer, to its request (same type), within cap;
 * check(ctx, answer, len) (may be NULL) looks at each answer too.
 */
#ifndef CL_FUZZ_IPC_DRIVER_H
#define CL_FUZZ_IPC_DRIVER_H

#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/ipc.h"

/* data[0..size) is the whole input (option byte included); msg[0..msg_cap)
 * the harness's scratch for a message whose id is rewritten (a longer one
 * is dispatched as it is). */
static void ipc_fuzz_run(cl_ipc_server *s, const uint8_t *data, size_t size, uint8_t *msg, size_t msg_cap,
			 size_t cap, void (*check)(void *ctx, const uint8_t *p, size_t n), void *ctx)
{
	cl_buf out;
	if (size < 1)
		return;
	uint8_t opt = data[0];
	cl_buf_init(&out, CL_IPC_MSG_MAX);
	data++;
	size--;
	while (size >= 2) {
		size_t n = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		memcpy(msg, data, n < msg_cap ? n : msg_cap);
		if ((opt & 0x80) && n >= CL_IPC_HDR) {
			uint32_t id = s->last_id + 1;
			msg[4] = (uint8_t)(id >> 24), msg[5] = (uint8_t)(id >> 16), msg[6] = (uint8_t)(id >> 8),
			msg[7] = (uint8_t)id;
		}
		(void)cl_ipc_server_dispatch(s, n <= msg_cap ? msg : data, n, &out);
		/* always a whole answer, to this request, within the channel's cap */
		if (out.len < CL_IPC_HDR || out.len > cap || !(out.data[3] & CL_IPC_F_ANSWER) ||
		    ((out.data[3] & CL_IPC_F_ERROR) && out.len != CL_IPC_HDR + 4))
			__builtin_trap();
		if (n >= CL_IPC_HDR && memcmp(out.data, msg, 2) != 0)
			__builtin_trap();
		if (check)
			check(ctx, out.data, out.len);
		data += n;
		size -= n;
	}
	cl_buf_free(&out);
}

#endif
