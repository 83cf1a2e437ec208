/* Fuzzes the agent side of the guest interface channel: the gate's query
 * decoder and handlers (src/guestif/guestif_gate.c, guestif_ipc.c), which
 * read what the guest interface process sends — a process that parses
 * enclave bytes, so possibly a compromised one.
 *
 * Input: byte 0 = options (bit 7: rewrite each message's id to the expected
 * next one, so the fuzzer gets past the ordering check), then messages as
 * u16 big-endian length + bytes. Each goes through cl_ipc_server_dispatch on
 * a fresh server of one gate, set up once on a real device model (temp dir)
 * serving enclave "enc-a". Never crashes; every answer is a well-formed
 * answer to its request within the channel's cap; a refusal carries only
 * its code. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "guestif/guestif.h"

#include "ipc_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static fwg_host *host;
static cl_guestif *gate;

static void cleanup(void)
{
	cl_guestif_stop(gate);
	fwg_host_close(host);
	if (cl_rm_rf(dir) != CL_OK)
		fprintf(stderr, "fuzz_guestif_ipc: cannot remove %s\n", dir);
}

/* Once: a manufactured device model and a gate serving enc-a (no process:
 * the fuzzer is the process). */
static int make_gate(void)
{
	char fw[96], base[96];
	uint8_t root[FW_POINT_LEN];
	void *k = NULL;
	snprintf(dir, sizeof(dir), "/tmp/cl-fuzz-gi.XXXXXX");
	if (!mkdtemp(dir) || fw_key_generate(&k) != CL_OK || fw_key_point(k, root) != CL_OK)
		return -1;
	fw_key_free(k);
	snprintf(fw, sizeof(fw), "%s/fw", dir);
	snprintf(base, sizeof(base), "%s/guest", dir);
	if (fwg_host_create(fw, root, NULL, 0, NULL) != CL_OK || fwg_host_open(fw, NULL, &host) != CL_OK ||
	    cl_guestif_gate_new(host, base, NULL, -1, -1, &gate) != CL_OK || cl_guestif_add(gate, "enc-a", NULL, 0) != CL_OK)
		return -1;
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	cl_ipc_server s;
	static uint8_t msg[CL_GUESTIF_IPC_MAX + 64];
	if (!ready) {
		cl_log_init("fuzz_guestif_ipc", CL_LOG_ERROR);
		if (make_gate() != 0)
			abort();
		ready = 1;
	}
	cl_guestif_gate_server(gate, &s);
	ipc_fuzz_run(&s, data, size, msg, sizeof(msg), CL_GUESTIF_IPC_MAX, NULL, NULL);
	return 0;
}
