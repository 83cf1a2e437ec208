/* bench_api.c — describe requests per second against a real cloister-control
 * holding N enclaves (default 10,000).
 *
 *   bench_api [--enclaves N] [--conns C] [--seconds S]
 *
 * Writes the rows straight into a fresh store (one transaction), starts
 * BUILD/bin/cloister-control on it (found next to this binary, or
 * $CLOISTER_CONTROL), then runs C threads, each with one keep-alive HTTPS
 * connection (libcurl via cl_http_client), issuing GET /v1/enclaves/{id} for
 * random ids for S seconds. Prints the rate and the error count.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/http_client.h"
#include "common/util.h"
#include "control/store.h"

static long opt(int argc, char **argv, const char *name, long def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0) {
			char *end = NULL;
			long v = strtol(argv[i + 1], &end, 10);
			if (*end || v <= 0) {
				fprintf(stderr, "bad %s\n", name);
				exit(2);
			}
			return v;
		}
	return def;
}

static const char *SECRET = "benchsecretbenchsecretbenchsecret00";

static int fill(const char *dbpath, long n)
{
	ctl_store *st;
	char hash[CTL_HASH_MAX];
	if (ctl_store_open(dbpath, &st) != CL_OK || cl_secret_hash(SECRET, hash, sizeof(hash)) != CL_OK)
		return -1;
	int64_t now = (int64_t)cl_now_wall_ms();
	ctl_tenant t = {.id = "ten-bench", .name = "bench", .created_at = now};
	ctl_token tok = {.id = "tok-bench", .kind = "tenant", .tenant_id = "ten-bench", .name = "bench",
			 .created_at = now};
	snprintf(tok.hash, sizeof(tok.hash), "%s", hash);
	ctl_host h = {.id = "host-bench", .name = "h", .state = "ready", .level = "software",
		      .memory_mib = 64ll * 1024 * 1024, .cpus = 64, .last_seen = now, .generation = 1,
		      .created_at = now};
	ctl_image im = {.id = "img-bench", .tenant_id = "ten-bench", .name = "b", .sha384 = "00", .size = 1};
	if (ctl_store_begin(st) != CL_OK || ctl_store_tenant_insert(st, &t) != CL_OK ||
	    ctl_store_token_insert(st, &tok) != CL_OK || ctl_store_host_insert(st, &h) != CL_OK ||
	    ctl_store_image_insert(st, &im) != CL_OK)
		goto fail;
	for (long i = 0; i < n; i++) {
		ctl_enclave e = {.tenant_id = "ten-bench", .image_id = "img-bench", .host_id = "host-bench",
				 .state = "running", .desired = "running", .memory_mib = 16, .cpus = 1,
				 .min_level = "software", .untrusted_mask = 3, .created_at = now, .updated_at = now};
		snprintf(e.id, sizeof(e.id), "enc-bench%08ld", i);
		snprintf(e.name, sizeof(e.name), "e%ld", i);
		snprintf(e.access_hash, sizeof(e.access_hash), "%s", hash);
		if (ctl_store_enclave_insert(st, &e) != CL_OK)
			goto fail;
	}
	if (ctl_store_commit(st) != CL_OK)
		goto fail;
	ctl_store_close(st);
	return 0;
fail:
	fprintf(stderr, "fill: %s\n", cl_error_detail());
	ctl_store_close(st);
	return -1;
}

typedef struct worker {
	pthread_t th;
	const char *url, *ca, *token;
	long n;
	unsigned seed;
	atomic_bool *stop;
	long ok, errors;
} worker;

static void *run(void *arg)
{
	worker *w = arg;
	cl_http_client *c;
	cl_buf resp;
	cl_buf_init(&resp, 1 << 16);
	if (cl_http_client_new(w->url, w->ca, w->token, &c) != CL_OK) {
		w->errors++;
		return NULL;
	}
	while (!atomic_load(w->stop)) {
		char path[96];
		long status = 0;
		snprintf(path, sizeof(path), "/v1/enclaves/enc-bench%08ld", (long)(rand_r(&w->seed) % w->n));
		if (cl_http_request(c, "GET", path, NULL, NULL, 0, NULL, &status, &resp) == CL_OK && status == 200)
			w->ok++;
		else
			w->errors++;
	}
	cl_http_client_free(c);
	cl_buf_free(&resp);
	return NULL;
}

int main(int argc, char **argv)
{
	long n = opt(argc, argv, "--enclaves", 10000), conns = opt(argc, argv, "--conns", 8),
	     secs = opt(argc, argv, "--seconds", 5);
	char dir[] = "/tmp/cl-bench-XXXXXX", dbpath[PATH_MAX], bin[PATH_MAX], self[PATH_MAX];
	if (!mkdtemp(dir))
		return 1;
	snprintf(dbpath, sizeof(dbpath), "%s/control.db", dir);
	if (getenv("CLOISTER_CONTROL")) {
		snprintf(bin, sizeof(bin), "%s", getenv("CLOISTER_CONTROL"));
	} else {
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (k <= 0)
			return 1;
		self[k] = '\0';
		snprintf(bin, sizeof(bin), "%s/../bin/cloister-control", dirname(self));
	}
	if (fill(dbpath, n) != 0)
		return 1;
	int pfd[2];
	if (pipe(pfd) != 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		execl(bin, bin, "--data", dir, "--listen", "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	FILE *out = fdopen(pfd[0], "r");
	char line[256], url[256] = "", ca[PATH_MAX] = "";
	while (out && fgets(line, sizeof(line), out)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "listening: ", 11) == 0)
			snprintf(url, sizeof(url), "%s", line + 11);
		else if (strncmp(line, "ca: ", 4) == 0) {
			snprintf(ca, sizeof(ca), "%s", line + 4);
			break;
		}
	}
	if (!url[0] || !ca[0]) {
		fprintf(stderr, "server did not start (%s)\n", bin);
		kill(pid, SIGTERM);
		return 1;
	}
	char token[128];
	snprintf(token, sizeof(token), "clt_tok-bench_%s", SECRET);
	atomic_bool stop = false;
	worker *ws = calloc((size_t)conns, sizeof(*ws));
	uint64_t t0 = cl_now_mono_ns();
	for (long i = 0; i < conns; i++) {
		ws[i] = (worker){.url = url, .ca = ca, .token = token, .n = n, .seed = (unsigned)i * 7919u + 1,
				 .stop = &stop};
		pthread_create(&ws[i].th, NULL, run, &ws[i]);
	}
	sleep((unsigned)secs);
	atomic_store(&stop, true);
	long ok = 0, errors = 0;
	for (long i = 0; i < conns; i++) {
		pthread_join(ws[i].th, NULL);
		ok += ws[i].ok;
		errors += ws[i].errors;
	}
	double el = (double)(cl_now_mono_ns() - t0) / 1e9;
	printf("describe: %.0f req/s (%ld enclaves, %ld keep-alive connections, %.1f s, %ld errors)\n", ok / el, n,
	       conns, el, errors);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	free(ws);
	if (cl_rm_rf(dir) != CL_OK)
		return 1;
	return errors ? 1 : 0;
}
