/* cloister-init-bundle — the provisioning helper of an enclave that awaits a
 * bundle (docs/provisioning.md): the crypto half of cloister-init, kept out
 * of it so that init stays small and every launch copies only init.
 *
 * Only `/init --await-bundle` runs it, as /init-bundle, with no arguments:
 * stdin carries frames from init, stdout frames to init (common/frame.h);
 * it never sees the channel to the host. The conversation:
 *
 *   helper -> init   LOG (a warning, optional), then KEY (the enclave's
 *                    public point, 97 bytes) -- or ERROR (reason) and exit 1
 *   init -> helper   BUNDLE (ciphertext chunk) ..., BUNDLE_END (56 bytes, or
 *                    empty: abort, no answer)
 *   helper -> init   EXTEND (register 7 + SHA-384 of the tar): installed at
 *                    CL_INIT_BUNDLE_DIR; or ERROR (the refusal's reason)
 *   init closes stdin once the bundle runs (or init ends): the key is
 *   wiped and the helper exits 0.
 *
 * `/init-bundle --state` (started by a suspendable enclave's init on
 * KEYGEN, docs/suspend.md) makes its key the same way and sends KEY, but
 * takes no bundle: it holds the key for a suspend or a restore until init
 * closes its stdin.
 *
 * Static, libc + libcrypto; PCR1 covers it (docs/measurements.md).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/frame.h"
#include "init/provision.h"
#include "version_gen.h" /* made by the Makefile */

static uint8_t dec_storage[CL_FRAME_HDR + CL_FRAME_MAX];

/* Sends a frame to init; on failure init is gone: end (wiping the key). */
static void send_or_end(uint8_t type, const void *p, uint32_t n)
{
	if (cl_frame_send_fd(1, type, p, n) != CL_OK) {
		cl_init_prov_wipe();
		_exit(1);
	}
}

static void send_reason(const char *reason)
{
	send_or_end(CL_FRAME_ERROR, reason, (uint32_t)strlen(reason));
}

/* One frame from init. */
static void handle(uint8_t type, const uint8_t *p, uint32_t n)
{
	uint8_t digest[48], ext[CL_BUNDLE_EXTEND_LEN];
	char reason[CL_INIT_REASON_MAX];
	if (type == CL_FRAME_BUNDLE) {
		cl_init_prov_chunk(p, n);
		return;
	}
	int rc = cl_init_prov_end(p, n, digest, reason);
	if (rc < 0)
		return; /* aborted: nothing to answer */
	if (rc == 0) {
		send_reason(reason);
		return;
	}
	ext[0] = CL_BUNDLE_REGISTER;
	memcpy(ext + 1, digest, 48);
	send_or_end(CL_FRAME_EXTEND, ext, sizeof(ext));
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		/* no git revision: this binary is part of PCR1, reproducible */
		static const char v[] = "cloister-init-bundle " CL_VERSION_STR " (static)\n";
		return write(1, v, sizeof(v) - 1) == (ssize_t)(sizeof(v) - 1) ? 0 : 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* exec made us dumpable again: the application runs as our uid, and a
	 * dumpable helper would let it read the private key (/proc/PID/mem). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		send_reason("cannot make the provisioning helper undumpable");
		return 1;
	}
	bool state = argc == 2 && strcmp(argv[1], "--state") == 0;
	if (argc != 1 && !state) {
		send_reason("usage: /init-bundle [--state] (run by /init --await-bundle or on KEYGEN)");
		return 1;
	}
	uint8_t point[97];
	char why[CL_INIT_REASON_MAX];
	if (cl_init_prov_start(point, why) != 0) {
		send_reason(why);
		cl_init_prov_wipe();
		return 1;
	}
	if (why[0]) {
		char msg[CL_INIT_REASON_MAX + 64];
		int n = snprintf(msg, sizeof(msg), "cloister-init: provisioning: %s\n", why);
		send_or_end(CL_FRAME_LOG, msg, (uint32_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1));
	}
	send_or_end(CL_FRAME_KEY, point, sizeof(point));

	cl_frame_dec dec;
	cl_frame_dec_init(&dec, dec_storage, sizeof(dec_storage), CL_FRAME_MAX);
	for (;;) {
		ssize_t r = read(0, cl_frame_dec_tail(&dec), cl_frame_dec_space(&dec));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* init closed: the bundle runs, or init ends */
		cl_frame_dec_commit(&dec, (size_t)r);
		for (;;) {
			uint8_t type;
			const uint8_t *pl;
			uint32_t len;
			bool got = false;
			cl_err e = cl_frame_pull(&dec, &got, &type, &pl, &len);
			if (e == CL_OK && !got)
				break;
			if (e != CL_OK || state || (type != CL_FRAME_BUNDLE && type != CL_FRAME_BUNDLE_END)) {
				cl_init_prov_wipe();
				return 1; /* init does not send these: a broken invariant */
			}
			handle(type, pl, len);
		}
	}
	cl_init_prov_wipe();
	return 0;
}
