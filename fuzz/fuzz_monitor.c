/* Fuzzes the control plane monitor's request decoder and dispatcher
 * (src/control/monitor.c) with a test CA.
 *
 * Input: byte 0 = options (bit 7: rewrite each message's id to the expected
 * next one, so the fuzzer gets past the ordering check), then messages as
 * u16 big-endian length + bytes. Each message goes through
 * cl_ipc_server_dispatch on one monitor channel. Never crashes; every answer
 * is a well-formed answer to its request within the channel's cap, and no
 * answer ever holds 8 bytes in a row of a private scalar (CA, server or hosts
 * CA, in either byte order), of the pepper or of the sealing key.
 * ISSUE_HOST_CERT seeds carry a proof by a fixed host key: valid whatever CA
 * the run made. The sealing key is fixed (byte i = 37 i + 11) so that
 * UNSEAL seeds can carry blobs that open (made with python3 cryptography). */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "control/monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static ctl_ca *ca;
static uint8_t pepper[CTL_MON_PEPPER_LEN];
static uint8_t seal_key[CTL_MON_SEAL_KEY_LEN];
static uint8_t secrets[6][48]; /* CA, server and hosts CA scalars, big- and little-endian */

static void cleanup(void)
{
	ctl_ca_free(ca);
	if (cl_rm_rf(dir) != CL_OK)
		fprintf(stderr, "fuzz_monitor: cannot remove %s\n", dir);
}

static int scalar_of(const char *name, uint8_t be[48], uint8_t le[48])
{
	char path[128];
	BIGNUM *priv = NULL;
	snprintf(path, sizeof(path), "%s/keys/%s", dir, name);
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	int ok = k && EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1 && BN_bn2binpad(priv, be, 48) == 48;
	for (int i = 0; ok && i < 48; i++)
		le[i] = be[47 - i];
	BN_clear_free(priv);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

/* Once: a CA and server key in a temporary DATA/keys. */
static int make_ca(void)
{
	char keys[96], ca_pem[96];
	ctl_names n;
	snprintf(dir, sizeof(dir), "/tmp/cl-fuzz-mon.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	atexit(cleanup);
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
	ctl_names_default(&n);
	if (mkdir(keys, 0700) != 0 || ctl_ca_open(keys, ca_pem, &n, time(NULL), &ca) != CL_OK ||
	    cl_random(pepper, sizeof(pepper)) != CL_OK)
		return -1;
	return scalar_of("ca.key", secrets[0], secrets[1]) || scalar_of("server.key", secrets[2], secrets[3]) ||
			       scalar_of("hosts-ca.key", secrets[4], secrets[5])
		       ? -1
		       : 0;
}

/* Traps if any 8-byte piece of a secret appears in p[n]. */
static void no_secret_bytes(const uint8_t *p, size_t n)
{
	if (n < 8)
		return;
	for (size_t s = 0; s < 6; s++)
		for (size_t k = 0; k + 8 <= 48; k += 4)
			if (memmem(p, n, secrets[s] + k, 8))
				__builtin_trap();
	for (size_t k = 0; k + 8 <= sizeof(pepper); k += 4)
		if (memmem(p, n, pepper + k, 8))
			__builtin_trap();
	for (size_t k = 0; k + 8 <= sizeof(seal_key); k += 4)
		if (memmem(p, n, seal_key + k, 8))
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	ctl_monitor m;
	cl_buf out;
	static uint8_t msg[CL_IPC_MSG_MAX];
	if (!ready) {
		cl_log_init("fuzz_monitor", CL_LOG_ERROR);
		if (make_ca() != 0)
			abort();
		for (size_t i = 0; i < sizeof(seal_key); i++)
			seal_key[i] = (uint8_t)(37 * i + 11);
		ready = 1;
	}
	if (size < 1)
		return 0;
	uint8_t opt = data[0];
	ctl_monitor_init(&m, ca, pepper, seal_key, -1);
	cl_buf_init(&out, CL_IPC_MSG_MAX);
	data++;
	size--;
	while (size >= 2) {
		size_t n = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		memcpy(msg, data, n < sizeof(msg) ? n : sizeof(msg));
		if ((opt & 0x80) && n >= CL_IPC_HDR) {
			uint32_t id = m.ipc.last_id + 1;
			msg[4] = (uint8_t)(id >> 24), msg[5] = (uint8_t)(id >> 16), msg[6] = (uint8_t)(id >> 8),
			msg[7] = (uint8_t)id;
		}
		(void)cl_ipc_server_dispatch(&m.ipc, n <= sizeof(msg) ? msg : data, n, &out);
		/* always a whole answer, to this request, within the channel's cap */
		if (out.len < CL_IPC_HDR || out.len > CTL_MON_MSG_MAX || !(out.data[3] & CL_IPC_F_ANSWER) ||
		    ((out.data[3] & CL_IPC_F_ERROR) && out.len != CL_IPC_HDR + 4))
			__builtin_trap();
		if (n >= CL_IPC_HDR && memcmp(out.data, msg, 2) != 0)
			__builtin_trap();
		no_secret_bytes(out.data, out.len);
		data += n;
		size -= n;
	}
	cl_buf_free(&out);
	return 0;
}
