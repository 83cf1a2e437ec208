/* bench_launch — enclave launch latency: "sandbox created -> application
 * running (READY)" with cl_sandbox_launch, side by side with bubblewrap
 * starting the same static binary in comparable namespaces
 * (--unshare-all --die-with-parent, tmpfs root with the binary bind-mounted,
 * /proc and /dev, readiness = one byte over a pipe). Iterations alternate
 * between the two so drift affects both alike. Needs root.
 *
 *   bench_launch [N]     (default 200; binaries found from BUILD/bench/bench_launch)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/sandbox.h"
#include "image/image.h"

extern char **environ;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1e6;
}

/* bwrap ... /probe ready-fd 3, with the pipe's write end on fd 3; returns ns until the byte. */
static int bwrap_once(const char *probe, uint64_t *ns)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	for (int i = 0; i < 2; i++) { /* keep both ends clear of fd 3 */
		int fd = fcntl(p[i], F_DUPFD_CLOEXEC, 10);
		close(p[i]);
		p[i] = fd;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 3);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", 0, 0);
	char *argv[] = {"bwrap", "--unshare-all", "--die-with-parent", "--tmpfs", "/", "--ro-bind", (char *)probe,
			"/probe", "--proc", "/proc", "--dev", "/dev", "/probe", "ready-fd", "3", NULL};
	uint64_t t0 = cl_now_mono_ns();
	pid_t pid;
	int rc = posix_spawnp(&pid, "bwrap", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		return -1;
	}
	char c;
	ssize_t r = read(p[0], &c, 1);
	*ns = cl_now_mono_ns() - t0;
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	return r == 1 ? 0 : -1;
}

/* True if the launch of id took a sandbox a spare shim prepared ahead
 * (its shim.log says "prepared=1"). */
static bool took_prepared(const char *data, const char *id)
{
	char path[512], buf[4096];
	snprintf(path, sizeof(path), "%s/sandboxes/%s/shim.log", data, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, "prepared=1") != NULL;
}

static size_t prepared_launches;

/* One cloister launch (timed) and its destroy (not timed). */
static int launch_once(const char *host, const char *data, const char *init, const char *img, size_t i,
		       const char *tag, uint64_t *ns)
{
	char id[48];
	snprintf(id, sizeof(id), "bench-%d-%s-%zu", (int)getpid(), tag, i);
	cl_sandbox_spec s = {.id = id, .image_path = img, .init_path = init,
	                    .memory_bytes = 64u << 20, .cpus = 1};
	cl_sandbox_info info;
	uint64_t t0 = cl_now_mono_ns();
	cl_err e = cl_sandbox_launch(host, data, &s, &info);
	*ns = cl_now_mono_ns() - t0;
	if (e != CL_OK) {
		fprintf(stderr, "launch %s: %s\n", id, cl_error_detail());
		return -1;
	}
	prepared_launches += took_prepared(data, id);
	if (cl_sandbox_destroy(data, id) != CL_OK) {
		fprintf(stderr, "destroy %s: %s\n", id, cl_error_detail());
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 200;
	if (n < 2 || n > 100000 || geteuid() != 0) {
		fprintf(stderr, "usage (as root): bench_launch [N>=2]\n");
		return 2;
	}
	char self[PATH_MAX], build[PATH_MAX], host[PATH_MAX + 32], init[PATH_MAX + 32], probe[PATH_MAX + 32];
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
	snprintf(probe, sizeof(probe), "%s/examples/probe", build);
	char tmp[] = "/tmp/cl-bench-launch.XXXXXX", data[64], img[64], img2[64], img3[64], img4[64];
	if (!mkdtemp(tmp))
		return 1;
	snprintf(data, sizeof(data), "%s/data", tmp);
	snprintf(img, sizeof(img), "%s/probe.img", tmp);
	snprintf(img2, sizeof(img2), "%s/probe2.img", tmp);
	snprintf(img3, sizeof(img3), "%s/probe3.img", tmp);
	snprintf(img4, sizeof(img4), "%s/probe4.img", tmp);
	static const char *const serve[] = {"serve", NULL};
	cl_image_input in = {probe, "probe"};
	cl_image_spec spec = {"probe", "1", "/probe", serve, &in, 1};
	if (cl_image_build(&spec, img) != CL_OK || cl_image_build(&spec, img2) != CL_OK ||
	    cl_image_build(&spec, img3) != CL_OK || cl_image_build(&spec, img4) != CL_OK) {
		fprintf(stderr, "image: %s\n", cl_error_detail());
		return 1;
	}
	uint64_t *cl = calloc(n, sizeof(*cl)), *cold = calloc(n, sizeof(*cold)), *bw = calloc(n, sizeof(*bw)),
		 *bw2 = calloc(n, sizeof(*bw2));
	int code = 1;
	if (!cl || !cold || !bw || !bw2)
		goto out;
	/* Pass 1, the common case: the same image again (the spare shims have
	 * read and verified it ahead). Pass 2: three image files in turn, so no
	 * spare of the pool (2) preloaded the image it gets and every launch
	 * reads and hashes its image. Each pass interleaves bwrap. */
	for (size_t i = 0; i < n; i++)
		if (launch_once(host, data, init, img, i, "same", &cl[i]) != 0 || bwrap_once(probe, &bw[i]) != 0) {
			fprintf(stderr, "round %zu failed\n", i);
			goto out;
		}
	size_t prepared1 = prepared_launches;
	prepared_launches = 0;
	for (size_t i = 0; i < n; i++)
		if (launch_once(host, data, init, i % 3 == 0 ? img2 : i % 3 == 1 ? img3 : img4, i, "new", &cold[i]) != 0 ||
		    bwrap_once(probe, &bw2[i]) != 0) {
			fprintf(stderr, "round %zu failed\n", i);
			goto out;
		}
	double cl50 = pct(cl, n, 0.50), cl99 = pct(cl, n, 0.99), bw50 = pct(bw, n, 0.50), bw99 = pct(bw, n, 0.99);
	double co50 = pct(cold, n, 0.50), co99 = pct(cold, n, 0.99), b250 = pct(bw2, n, 0.50), b299 = pct(bw2, n, 0.99);
	printf("launch -> READY, %zu enclaves per line (ms); from a prepared sandbox: pass 1 %zu, pass 2 %zu\n", n,
	       prepared1, prepared_launches);
	printf("  pass 1  %-22s p50 %7.2f  p99 %7.2f\n", "cloister, same image", cl50, cl99);
	printf("  pass 1  %-22s p50 %7.2f  p99 %7.2f\n", "bwrap", bw50, bw99);
	printf("  pass 1  ratio                  p50 %6.2fx p99 %6.2fx  (target: p50 <= 1x, p99 <= 2x)\n", cl50 / bw50,
	       cl99 / bw99);
	printf("  pass 2  %-22s p50 %7.2f  p99 %7.2f\n", "cloister, new image", co50, co99);
	printf("  pass 2  %-22s p50 %7.2f  p99 %7.2f\n", "bwrap", b250, b299);
	printf("  pass 2  ratio                  p50 %6.2fx p99 %6.2fx\n", co50 / b250, co99 / b299);
	code = 0;
out:
	free(cl);
	free(cold);
	free(bw);
	free(bw2);
	if (cl_rm_rf(tmp) != CL_OK)
		fprintf(stderr, "cleanup %s: %s\n", tmp, cl_error_detail());
	return code;
}
