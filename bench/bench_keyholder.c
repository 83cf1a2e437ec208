/* bench_keyholder.c — what privilege separation costs per operation.
 * usage: bench_keyholder [SECONDS]   (default 1 s per row)
 * Starts a hardened key holder (as cloister-host will) and times, over a
 * socketpair: get-public (the ipc round trip alone), sign (a TLS handshake's
 * or an attestation document's signature) and ecdh (a firmware image key),
 * beside the same ECDSA P-384 signature made in-process with a cached
 * EVP_PKEY. Prints "NAME: N ops/s, p50 X us, p99 Y us, cpu Z us/op" where cpu
 * adds this process's and the key holder's CPU time (what a host pays; wall
 * times on a busy machine mostly measure the scheduler). */
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "fw/fw_tools.h"
#include "keyholder/keyholder.h"

#define MAX_SAMPLES 200000

static size_t plen; /* cl_kh_get_public's point length */
static uint64_t samples[MAX_SAMPLES];

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static pid_t kh_pid;

/* CPU time of this process plus the key holder's, in ns. */
static uint64_t cpu_ns(void)
{
	struct timespec t;
	unsigned long ut = 0, st = 0;
	char path[64];
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)kh_pid);
	FILE *f = fopen(path, "r");
	/* fields 14 and 15: utime, stime in clock ticks (comm has no spaces here) */
	if (!f || fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		ut = st = 0;
	if (f)
		fclose(f);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec +
	       (uint64_t)(ut + st) * (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
}

static void report(const char *name, size_t n, uint64_t total_ns, uint64_t cpu)
{
	qsort(samples, n, sizeof(samples[0]), cmp);
	printf("%-28s %8.0f ops/s, p50 %7.1f us, p99 %7.1f us, cpu %7.1f us/op (%zu ops)\n", name,
	       n * 1e9 / (double)total_ns, samples[n / 2] / 1e3, samples[n * 99 / 100] / 1e3, cpu / 1e3 / (double)n, n);
}

typedef int (*op_fn)(void *ctx);

static void run(const char *name, op_fn fn, void *ctx, double seconds)
{
	uint64_t start = cl_now_mono_ns(), end = start + (uint64_t)(seconds * 1e9), now = start, cpu0 = cpu_ns();
	size_t n = 0;
	while (now < end && n < MAX_SAMPLES) {
		uint64_t t = cl_now_mono_ns();
		if (fn(ctx) != 0) {
			fprintf(stderr, "bench_keyholder: %s failed: %s\n", name, cl_error_detail());
			exit(1);
		}
		now = cl_now_mono_ns();
		samples[n++] = now - t;
	}
	report(name, n, now - start, cpu_ns() - cpu0);
}

static cl_kh_client agent, tls;
static uint8_t digest[48], peer[CL_KH_POINT_LEN];

static int op_get_public(void *ctx)
{
	enum cl_kh_purpose p;
	uint8_t pt[CL_KH_POINT_LEN];
	return cl_kh_get_public(&agent, "tls/bench:1", &p, pt, &plen) != CL_OK;
}

/* A TLS handshake's signature: P-256 over a SHA-256 digest. */
static int op_sign(void *ctx)
{
	uint8_t sig[CL_KH_SIG_LEN];
	size_t n = sizeof(sig);
	digest[0]++;
	return cl_kh_sign2(&tls, "tls/bench:1", digest, 32, sig, &n) != CL_OK;
}

/* An attestation document's signature: P-384 over a SHA-384 digest. */
static int op_sign_document(void *ctx)
{
	uint8_t sig[CL_KH_SIG_LEN];
	digest[0]++;
	return cl_kh_sign(&agent, "attest", digest, sizeof(digest), sig) != CL_OK;
}

static int op_ecdh(void *ctx)
{
	uint8_t key[CL_KH_KEY_LEN];
	return cl_kh_ecdh(&agent, "dev/bench", CL_KH_USE_FW_IMAGE, peer, key) != CL_OK;
}

static int op_local_sign(void *ctx)
{
	uint8_t der[128];
	size_t n = sizeof(der);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(ctx, NULL);
	digest[0]++;
	int bad = !c || EVP_PKEY_sign_init(c) != 1 || EVP_PKEY_sign(c, der, &n, digest, sizeof(digest)) != 1;
	EVP_PKEY_CTX_free(c);
	return bad;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	char dir[] = "/tmp/cl-bench-kh.XXXXXX", keys[64];
	int a[2], t[2], st;
	uint8_t pt[CL_KH_POINT_LEN], proof[CL_KH_P256_SIG_LEN];
	void *eph = NULL;
	if (seconds <= 0 || seconds > 60)
		return fprintf(stderr, "usage: bench_keyholder [SECONDS (0..60]]\n"), 2;
	cl_log_init("bench_keyholder", CL_LOG_ERROR);
	if (!mkdtemp(dir) || cl_ipc_pair(a) != CL_OK || cl_ipc_pair(t) != CL_OK)
		return perror("setup"), 1;
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	pid_t pid = kh_pid = fork();
	if (pid == 0) {
		int extra[] = {t[1]};
		enum cl_kh_role roles[] = {CL_KH_ROLE_TLS};
		cl_kh_main_opts o = {.extra_fds = extra, .extra_roles = roles, .nextra = 1};
		_exit(cl_keyholder_main(a[1], keys, &o));
	}
	close(a[1]);
	close(t[1]);
	cl_kh_client_init(&agent, a[0], 10000);
	cl_kh_client_init(&tls, t[0], 10000);
	if (cl_kh_tls_generate(&agent, "tls/bench:1", "bench-host", pt, proof) != CL_OK ||
	    cl_kh_generate(&agent, "attest", pt) != CL_OK || cl_kh_generate(&agent, "dev/bench", pt) != CL_OK ||
	    fw_key_generate(&eph) != CL_OK || fw_key_point(eph, peer) != CL_OK) {
		fprintf(stderr, "bench_keyholder: setup: %s\n", cl_error_detail());
		return 1;
	}
	run("in-process ECDSA P-384 sign", op_local_sign, eph, seconds);
	run("key holder get-public", op_get_public, NULL, seconds);
	run("key holder sign P-256 (tls)", op_sign, NULL, seconds);
	run("key holder sign P-384 (attest)", op_sign_document, NULL, seconds);
	run("key holder ecdh fw-image", op_ecdh, NULL, seconds);
	fw_key_free(eph);
	close(a[0]);
	close(t[0]);
	waitpid(pid, &st, 0);
	if (cl_rm_rf(dir) != CL_OK)
		fprintf(stderr, "bench_keyholder: cannot remove %s\n", dir);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
