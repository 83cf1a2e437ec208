/* bench_state.c — the enclave's half of suspend and restore alone
 * (src/init/state_io.c, what cloister-init-bundle will run; docs/suspend.md):
 * a tree of MIB MiB (one big file of random bytes plus 64 small ones)
 * sealed into a state blob (tar + AES-256-GCM, streamed to memory), then
 * opened (decrypt into staging, tag, extract) into an empty directory;
 * p50/p90 over N runs of each and of both. Not end to end: no control
 * plane, agent, frames or fsync (bench/suspend_crypto.sh puts it beside
 * openssl speed). usage: bench_state [MIB] [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "init/state_io.c"

typedef struct mem {
	uint8_t *p;
	size_t n, cap;
} mem;

static int sink(void *ctx, const uint8_t *p, size_t n)
{
	mem *m = ctx;
	if (m->n + n > m->cap)
		return -1;
	memcpy(m->p + m->n, p, n);
	m->n += n;
	return 0;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 64;
	long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 10;
	if (mib < 1 || mib > 64 || runs < 1 || runs > 1000) {
		fprintf(stderr, "usage: bench_state [MIB 1..64] [N]\n");
		return 2;
	}
	char dir[] = "/tmp/cl-bstate-XXXXXX", src[64], path[128], dest[64], staging[96], reason[CL_INIT_STATE_REASON_MAX];
	if (!mkdtemp(dir))
		return 1;
	snprintf(src, sizeof(src), "%s/src", dir);
	mkdir(src, 0700);
	size_t big = (size_t)mib << 20;
	uint8_t *data = malloc(big), key[32];
	mem m = {.cap = big + (1u << 20)};
	m.p = malloc(m.cap);
	double *seal = calloc((size_t)runs, sizeof(double)), *open_ = calloc((size_t)runs, sizeof(double)),
	       *both = calloc((size_t)runs, sizeof(double));
	if (!data || !m.p || !seal || !open_ || !both || RAND_bytes(data, (int)big) != 1 || RAND_bytes(key, 32) != 1)
		return 1;
	/* one big file of MIB MiB less 64 small files of 4 KiB */
	snprintf(path, sizeof(path), "%s/big", src);
	write_file(path, data, big - 64 * 4096);
	for (int i = 0; i < 64; i++) {
		snprintf(path, sizeof(path), "%s/small-%02d", src, i);
		write_file(path, data + i * 4096, 4096);
	}
	for (long r = 0; r < runs; r++) {
		uint64_t len = 0;
		m.n = 0;
		double t0 = now_ms();
		if (cl_init_state_seal(src, NULL, key, "enc-bench", (uint64_t)r + 1, sink, &m, &len, reason) != 0) {
			fprintf(stderr, "seal: %s\n", reason);
			return 1;
		}
		double t1 = now_ms();
		snprintf(dest, sizeof(dest), "%s/d%ld", dir, r);
		snprintf(staging, sizeof(staging), "%s/staging.tar", dir);
		mkdir(dest, 0700);
		if (cl_init_state_open(m.p, m.n, key, "enc-bench", (uint64_t)r + 1, staging, dest, reason) != 0) {
			fprintf(stderr, "open: %s\n", reason);
			return 1;
		}
		double t2 = now_ms();
		seal[r] = t1 - t0;
		open_[r] = t2 - t1;
		both[r] = t2 - t0;
		if (cl_rm_rf(dest) != CL_OK)
			return 1;
	}
	qsort(seal, (size_t)runs, sizeof(double), cmp);
	qsort(open_, (size_t)runs, sizeof(double), cmp);
	qsort(both, (size_t)runs, sizeof(double), cmp);
	size_t p50 = (size_t)(runs / 2), p90 = (size_t)((runs * 9) / 10 < runs ? (runs * 9) / 10 : runs - 1);
	printf("state %ld MiB, %ld runs, files under %s\n", mib, runs, dir);
	printf("seal  p50 %.1f ms  p90 %.1f ms  (%.0f MB/s)\n", seal[p50], seal[p90], (double)big / 1e3 / seal[p50]);
	printf("open  p50 %.1f ms  p90 %.1f ms  (%.0f MB/s)\n", open_[p50], open_[p90], (double)big / 1e3 / open_[p50]);
	printf("both  p50 %.1f ms  p90 %.1f ms  (%.0f MB/s of state)\n", both[p50], both[p90],
	       (double)big / 1e3 / both[p50]);
	printf("STATE_MBPS %.1f\n", (double)big / 1e3 / both[p50]);
	free(data);
	free(m.p);
	free(seal);
	free(open_);
	free(both);
	return cl_rm_rf(dir) == CL_OK ? 0 : 1;
}
