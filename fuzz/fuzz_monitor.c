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

#include "ipc_driver.h"

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

static void check_answer(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	no_secret_bytes(p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	ctl_monitor m;
	static uint8_t msg[CL_IPC_MSG_MAX];
	if (!ready) {
		cl_log_init("fuzz_monitor", CL_LOG_ERROR);
		if (make_ca() != 0)
			abort();
		for (size_t i = 0; i < sizeof(seal_key); i++)
			seal_key[i] = (uint8_t)(37 * i + 11);
		ready = 1;
	}
	ctl_monitor_init(&m, ca, pepper, seal_key, -1);
	ipc_fuzz_run(&m.ipc, data, size, msg, sizeof(msg), CTL_MON_MSG_MAX, check_answer, NULL);
	return 0;
}
