/* bench_sandbox_state — suspend + restore of MIB MiB of an enclave's /tmp
 * through real sandboxes (docs/suspend.md "Frames"): KEYGEN, the state key
 * wrapped to its answer (the control plane's part, here in-process),
 * SUSPEND streamed out of the enclave into memory; then a sandbox launched
 * awaiting a restore, the key wrapped to its KEY, RESTORE + STATE +
 * STATE_END until its entrypoint runs. p50 of each over N runs. No control
 * plane, agent or network: the enclave, shim and frames only. Needs root.
 *
 *   bench_sandbox_state [MIB] [N]   (default 64 MiB, 5 runs; binaries from BUILD/bench/..)
 *
 * Prints SUSPEND_P50_MS, RESTORE_P50_MS and STATE_MBPS lines
 * (bench/suspend.sh reads them).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/util.h"
#include "common/wrap.h"
#include "image/image.h"
#include "sandbox/sandbox.h"

#define LABEL "cloister-state-wrap-v1" /* control/state_key.h CTL_STATE_WRAP_LABEL */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double p50_ms(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return (double)v[n / 2] / 1e6;
}

static cl_err buf_sink(void *ctx, const uint8_t *p, size_t n)
{
	return cl_buf_put(ctx, p, n);
}

/* Writes len bytes of noise as /tmp/state/data in the enclave of init_pid,
 * as the enclave's root (its host uid: host root is not mapped there). */
static int fill(pid_t init_pid, size_t len)
{
	char path[96], line[128];
	unsigned inside = 0, host = 0;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)init_pid);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(line, sizeof(line), f) || sscanf(line, "%u %u", &inside, &host) != 2) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/root/tmp", (int)init_pid);
	int tmp = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	uint8_t *noise = malloc(1u << 20);
	if (tmp < 0 || !noise || cl_random(noise, 1u << 20) != CL_OK)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		if (setresgid(host, host, host) != 0 || setresuid(host, host, host) != 0 || mkdirat(tmp, "state", 0755) != 0)
			_exit(1);
		int fd = openat(tmp, "state/data", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		for (size_t off = 0; fd >= 0 && off < len; off += 1u << 20) {
			size_t k = len - off < (1u << 20) ? len - off : (1u << 20);
			if (write(fd, noise, k) != (ssize_t)k)
				_exit(1);
		}
		_exit(fd >= 0 && close(fd) == 0 ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	close(tmp);
	free(noise);
	return pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* u64 BE n ‖ key wrapped to point, into payload. */
static int key_for(const uint8_t point[97], const uint8_t key[32], uint64_t n, cl_buf *payload)
{
	cl_buf w;
	cl_buf_init(&w, 4096);
	cl_buf_reset(payload);
	int rc = cl_wrap_seal_label(LABEL, point, key, 32, &w) == CL_OK && cl_buf_put_be64(payload, n) == CL_OK &&
			 cl_buf_put(payload, w.data, w.len) == CL_OK
		 ? 0
		 : -1;
	cl_buf_free(&w);
	return rc;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 64, n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 5;
	if (mib < 1 || mib > 64 || n < 1 || n > 1000 || geteuid() != 0) {
		fprintf(stderr, "usage (as root): bench_sandbox_state [MIB 1..64] [N]\n");
		return 2;
	}
	char self[PATH_MAX], build[PATH_MAX], host[PATH_MAX + 32], init[PATH_MAX + 32], helper[PATH_MAX + 32],
		probe[PATH_MAX + 32];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (k <= 0)
		return 1;
	self[k] = '\0';
	snprintf(build, sizeof(build), "%s", self);
	for (int i = 0; i < 2; i++) {
		char *s = strrchr(build, '/');
		if (!s)
			return 1;
		*s = '\0';
	}
	snprintf(host, sizeof(host), "%s/bin/cloister-host", build);
	snprintf(init, sizeof(init), "%s/bin/cloister-init", build);
	snprintf(helper, sizeof(helper), "%s/bin/cloister-init-bundle", build);
	snprintf(probe, sizeof(probe), "%s/examples/probe", build);
	char tmp[] = "/tmp/cl-bench-state.XXXXXX", data[64], img[64];
	if (!mkdtemp(tmp))
		return 1;
	snprintf(data, sizeof(data), "%s/data", tmp);
	snprintf(img, sizeof(img), "%s/probe.img", tmp);
	static const char *const serve[] = {"serve", NULL};
	cl_image_input in = {probe, "probe"};
	cl_image_spec ispec = {"probe", "1", "/probe", serve, &in, 1};
	if (cl_image_build(&ispec, img) != CL_OK) {
		fprintf(stderr, "image: %s\n", cl_error_detail());
		return 1;
	}
	uint64_t *sus = calloc(n, sizeof(*sus)), *res = calloc(n, sizeof(*res));
	uint8_t key[32], point[97], sha[48];
	cl_buf blob, payload;
	cl_buf_init(&blob, 80u << 20);
	cl_buf_init(&payload, 4096);
	size_t len = mib << 20;
	int code = 1;
	if (!sus || !res)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char id[64];
		uint64_t blen = 0;
		cl_sandbox_info info;
		snprintf(id, sizeof(id), "bench-state-%d-%zu", (int)getpid(), i);
		/* /tmp a quarter of the memory: a restore holds the blob, the tar and the tree */
		cl_sandbox_spec spec = {.id = id, .image_path = img, .init_path = init,
					.memory_bytes = (uint64_t)(16 * mib + 64) << 20, .cpus = 1,
					.suspendable = true, .helper_path = helper};
		if (cl_random(key, sizeof(key)) != CL_OK || cl_sandbox_launch(host, data, &spec, &info) != CL_OK ||
		    fill(info.init_pid, len) != 0) {
			fprintf(stderr, "run %zu: launch/fill: %s\n", i, cl_error_detail());
			goto out;
		}
		cl_buf_reset(&blob);
		uint64_t t0 = cl_now_mono_ns();
		if (cl_sandbox_keygen(data, id, 10000, point) != CL_OK || key_for(point, key, i + 1, &payload) != 0 ||
		    cl_sandbox_suspend(data, id, payload.data, (uint32_t)payload.len, 120000, buf_sink, &blob, sha,
				       &blen) != CL_OK) {
			fprintf(stderr, "run %zu: suspend: %s\n", i, cl_error_detail());
			goto out;
		}
		sus[i] = cl_now_mono_ns() - t0;
		if (cl_sandbox_destroy(data, id) != CL_OK)
			goto out;
		spec.await_restore = true;
		if (cl_sandbox_launch(host, data, &spec, &info) != CL_OK) {
			fprintf(stderr, "run %zu: launch awaiting a restore: %s\n", i, cl_error_detail());
			goto out;
		}
		t0 = cl_now_mono_ns();
		if (cl_sandbox_key(data, id, point) != CL_OK || key_for(point, key, i + 1, &payload) != 0 ||
		    cl_sandbox_restore(data, id, payload.data, (uint32_t)payload.len, blob.data, blob.len, sha, 120000) !=
			    CL_OK) {
			fprintf(stderr, "run %zu: restore: %s\n", i, cl_error_detail());
			goto out;
		}
		res[i] = cl_now_mono_ns() - t0;
		if (cl_sandbox_destroy(data, id) != CL_OK)
			goto out;
	}
	double s = p50_ms(sus, n), r = p50_ms(res, n);
	printf("state: %zu MiB of /tmp, %zu runs, through real sandboxes (KEYGEN, SUSPEND, RESTORE frames)\n", mib, n);
	printf("SUSPEND_P50_MS %.1f\n", s);
	printf("RESTORE_P50_MS %.1f\n", r);
	printf("STATE_MBPS %.1f\n", (double)len / 1e6 / ((s + r) / 1000.0));
	code = 0;
out:
	free(sus);
	free(res);
	cl_buf_free(&blob);
	cl_buf_free(&payload);
	OPENSSL_cleanse(key, sizeof(key));
	if (cl_rm_rf(tmp) != CL_OK)
		fprintf(stderr, "cleanup %s: %s\n", tmp, cl_error_detail());
	return code;
}
