/* Fuzzes the TLS data plane's agent channel: the decoders and runs of
 * guest-set, guest-remove and stats (src/tls/dataplane_ipc.c,
 * dataplane_guest.c) — what the data plane reads from the agent, a process
 * that parses the control plane's answers.
 *
 * Input: ipc_driver.h's format (byte 0 options, then u16-length messages),
 * each dispatched on the real handler table with a data plane state that has
 * an event base but no sockets (no descriptor travels: guest-set installs a
 * guest with no listeners). A guest-set whose chain is a well-formed P-384
 * chain really builds its SSL_CTX with a remote key; nothing is signed.
 * Never crashes; every answer is a whole answer to its request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tls/dataplane_internal.h"

#include "ipc_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dp d;

static void cleanup(void)
{
	while (d.guests)
		dp_guest_drop(&d, d.guests);
	event_base_free(d.base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static uint8_t msg[CL_DP_MSG_MAX + 64];
	if (!ready) {
		cl_log_init("fuzz_dp_ipc", CL_LOG_ERROR);
		/* OpenSSL's own atexit cleanup first, so it runs after ours (a
		 * guest's SSL_CTX freed after it would leak its ex data). */
		OPENSSL_init_ssl(0, NULL);
		d.base = event_base_new();
		if (!d.base)
			abort();
		d.o.max_conns = d.o.max_conns_guest = 16;
		d.o.handshake_ms = d.o.idle_ms = d.o.sign_timeout_ms = 1000;
		d.o.ticket_rotate_s = 3600;
		d.agent_fd = d.kh_fd = -1;
		atexit(cleanup);
		ready = 1;
	}
	cl_ipc_server_init(&d.agent, -1, "tls/agent", dp_handlers, dp_nhandlers, CL_DP_MSG_MAX, &d);
	ipc_fuzz_run(&d.agent, data, size, msg, sizeof(msg), CL_DP_MSG_MAX, NULL, NULL);
	return 0;
}
