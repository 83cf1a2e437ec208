/* bench_full_path — the whole launch path through the API: POST /v1/enclaves
 * -> job succeeded (enclave running on its host), p50 and p99 over N enclaves.
 *
 * Usage: bench_full_path SERVER CA TOKEN IMAGE_ID [N]
 * Each enclave is destroyed (and the destroy awaited, untimed) before the next
 * is created, so every sample sees the same host load. The job is awaited
 * with the API's job wait (a long poll: answered when the job finishes), so
 * the figure is what a client sees. Run by bench/full_path.sh. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http_client.h"
#include "common/util.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static json_t *call_h(cl_http_client *c, const char *method, const char *path, const char *body,
		      long want, const char *const *headers)
{
	cl_buf resp;
	long status = 0;
	cl_buf_init(&resp, 1 << 20);
	const char *s = NULL;
	json_t *j = NULL;
	if (cl_http_request(c, method, path, headers, body, body ? strlen(body) : 0, NULL, &status, &resp) !=
		    CL_OK ||
	    cl_buf_cstr(&resp, &s) != CL_OK)
		fprintf(stderr, "%s %s: %s\n", method, path, cl_error_detail());
	else if (status != want)
		fprintf(stderr, "%s %s: HTTP %ld: %s\n", method, path, status, s);
	else
		j = json_loads(s, 0, NULL);
	cl_buf_free(&resp);
	return j;
}

static json_t *call(cl_http_client *c, const char *method, const char *path, const char *body, long want)
{
	return call_h(c, method, path, body, want, NULL);
}

/* Waits for a job to leave pending/running, as a user would: GET
 * /v1/jobs/{id}?wait=30 answers when the job is final (or after 30 s: asked
 * again). Returns 0 if it succeeded. */
static int await_job(cl_http_client *c, const char *job_id)
{
	char path[160];
	snprintf(path, sizeof(path), "/v1/jobs/%s?wait=30", job_id);
	for (int i = 0; i < 20; i++) {
		json_t *j = call(c, "GET", path, NULL, 200);
		if (!j)
			return -1;
		const char *st = json_string_value(json_object_get(j, "state"));
		int done = st && strcmp(st, "succeeded") == 0 ? 0 : st && strcmp(st, "failed") == 0 ? -1 : 1;
		json_decref(j);
		if (done <= 0)
			return done;
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: bench_full_path SERVER CA TOKEN IMAGE_ID [N]\n");
		return 2;
	}
	int n = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 200;
	if (n < 1 || n > 100000)
		n = 200;
	cl_http_client *c;
	if (cl_http_client_new(argv[1], argv[2], argv[3], &c) != CL_OK)
		return 1;
	cl_http_client_set_timeout(c, 45000); /* beyond the job wait's 30 s */
	uint64_t *lat = calloc((size_t)n, sizeof(*lat));
	if (!lat)
		return 1;
	for (int i = 0; i < n; i++) {
		char body[256], path[160];
		snprintf(body, sizeof(body),
			 "{\"name\":\"bench-%d\",\"image_id\":\"%s\",\"memory_mib\":32,\"cpus\":1,"
			 "\"min_level\":\"software\"}",
			 i, argv[4]);
		uint64_t t0 = cl_now_mono_ns();
		json_t *r = call(c, "POST", "/v1/enclaves", body, 202);
		const char *job = r ? json_string_value(json_object_get(json_object_get(r, "job"), "id")) : NULL;
		const char *id = r ? json_string_value(json_object_get(json_object_get(r, "enclave"), "id")) : NULL;
		if (!job || !id || await_job(c, job) != 0) {
			fprintf(stderr, "enclave %d did not start\n", i);
			return 1;
		}
		lat[i] = cl_now_mono_ns() - t0;
		char keyhdr[256];
		const char *key = json_string_value(json_object_get(r, "access_key"));
		snprintf(keyhdr, sizeof(keyhdr), "X-Cloister-Access-Key: %s", key ? key : "");
		const char *const hdrs[] = {keyhdr, NULL};
		snprintf(path, sizeof(path), "/v1/enclaves/%s", id);
		json_t *d = call_h(c, "DELETE", path, NULL, 202, hdrs);
		const char *djob = d ? json_string_value(json_object_get(json_object_get(d, "job"), "id")) : NULL;
		if (!djob || await_job(c, djob) != 0) {
			fprintf(stderr, "enclave %d did not stop\n", i);
			return 1;
		}
		json_decref(d);
		json_decref(r);
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
	printf("full path (cloister API create -> running), %d enclaves: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
	       n, lat[n / 2] / 1e6, lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e6, lat[n - 1] / 1e6);
	free(lat);
	cl_http_client_free(c);
	return 0;
}
