/* Fuzzes the key holder's request decoder and dispatcher with test keys.
 *
 * Input: byte 0 = options (bits 0-1: the channel's role, 0 meaning agent;
 * bit 7: rewrite each message's id to the expected next one, so the fuzzer
 * gets past the ordering check), then messages as u16 big-endian length +
 * bytes. Each message goes through cl_ipc_server_dispatch on one channel of a
 * key holder freshly opened (memory only) on three test keys. Never crashes;
 * every answer is a well-formed answer to its request, and no answer ever
 * holds 8 bytes in a row of any private scalar. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "keyholder/kh_internal.h"

#include "ipc_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void cleanup(void)
{
	if (cl_rm_rf(dir) != CL_OK)
		fprintf(stderr, "fuzz_keyholder: cannot remove %s\n", dir);
}

/* Once: a key directory with attest and dev/0000:03:00.0 (tls/ keys are
 * memory-only: tls/web:1 is made in each run's key holder). */
static int make_keys(void)
{
	cl_kh *kh = NULL;
	kh_slot *s;
	snprintf(dir, sizeof(dir), "/tmp/cl-fuzz-kh.XXXXXX");
	if (!mkdtemp(dir) || cl_kh_open(dir, 0, &kh) != CL_OK)
		return -1;
	atexit(cleanup);
	int ok = kh_create(kh, "attest", CL_KH_PURPOSE_SIGN_DOCUMENT, CL_KH_CURVE_P384, &s) == CL_OK &&
		 kh_create(kh, "dev/0000:03:00.0", CL_KH_PURPOSE_ECDH, CL_KH_CURVE_P384, &s) == CL_OK;
	cl_kh_close(kh);
	return ok ? 0 : -1;
}

/* Traps if any 8-byte piece of a held scalar appears in p[n]. */
static void no_key_bytes(cl_kh *kh, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < CL_KH_MAX_SLOTS; i++) {
		if (!kh->slots[i].used)
			continue;
		for (size_t k = 0; k + 8 <= kh_scalar_len(kh->slots[i].curve); k += 8)
			if (n >= 8 && memmem(p, n, kh->slots[i].scalar + k, 8))
				__builtin_trap();
	}
}

static void check_answer(void *ctx, const uint8_t *p, size_t n)
{
	no_key_bytes(ctx, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	cl_kh *kh = NULL;
	cl_kh_conn conn;
	uint8_t msg[CL_IPC_MSG_MAX];
	if (!ready) {
		cl_log_init("fuzz_keyholder", CL_LOG_ERROR);
		if (make_keys() != 0)
			abort();
		ready = 1;
	}
	kh_slot *web;
	if (size < 1 || cl_kh_open(dir, CL_KH_OPEN_NO_PERSIST, &kh) != CL_OK)
		return 0;
	if (kh_create(kh, "tls/web:1", CL_KH_PURPOSE_SIGN_HANDSHAKE, CL_KH_CURVE_P256, &web) != CL_OK)
		abort();
	uint8_t opt = data[0];
	enum cl_kh_role role = (opt & 3) ? (enum cl_kh_role)(opt & 3) : CL_KH_ROLE_AGENT;
	cl_kh_conn_init(&conn, kh, -1, role);
	ipc_fuzz_run(&conn.ipc, data, size, msg, sizeof(msg), CL_KH_MSG_MAX, check_answer, kh);
	cl_kh_close(kh);
	return 0;
}
