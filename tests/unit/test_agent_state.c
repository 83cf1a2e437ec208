/* Unit tests for the host agent's state (src/host/agent_state.c): host.json,
 * the capabilities it advertises and the enclave states it reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/util.h"
#include "host/agent_image.h"
#include "host/agent_state.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test-agent-state.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	return cl_rm_rf(dir) == CL_OK ? 0 : -1;
}

static void write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(cl_file_write_atomic(path, text, strlen(text), 0600), CL_OK);
}

static void identity_roundtrip(void **state)
{
	cl_agent_identity a, b;
	assert_int_equal(cl_agent_identity_load(dir, &a), CL_ENOTFOUND);
	memset(&a, 0, sizeof(a));
	strcpy(a.host_id, "host-abc");
	strcpy(a.host_token, "clt_tok-x_\"quoted\\secret");
	assert_int_equal(cl_agent_identity_save(dir, &a), CL_OK);
	char path[128];
	snprintf(path, sizeof(path), "%s/host.json", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cl_agent_identity_load(dir, &b), CL_OK);
	assert_string_equal(b.host_id, "host-abc");
	assert_string_equal(b.host_token, a.host_token);
}

static void identity_malformed(void **state)
{
	const char *bad[] = {"", "{", "[]", "{\"host_id\":\"h\"}", "{\"host_token\":\"t\"}",
			     "{\"host_id\":\"../x\",\"host_token\":\"t\"}", "{\"host_id\":\"h\",\"host_token\":\"\"}",
			     "{\"host_id\":\"h\",\"host_token\":\"a\\r\\nX-Evil: 1\"}", "{\"host_id\":7,\"host_token\":\"t\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file("host.json", bad[i]);
		cl_agent_identity id;
		if (cl_agent_identity_load(dir, &id) != CL_EINVAL)
			fail_msg("accepted host.json %s", bad[i]);
		/* The detail names the file, never the token. */
		assert_null(strstr(cl_error_detail(), "X-Evil"));
	}
}

static void capabilities(void **state)
{
	cl_agent_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.zone = "z1";
	cfg.nlatency = 1;
	strcpy(cfg.latency[0].resource, "db");
	cfg.latency[0].latency_us = 250;
	cfg.latency[0].hops = 2;
	json_t *c = cl_agent_capabilities(&cfg, 2048, 4);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "level")), "software");
	json_t *b = json_object_get(c, "backends");
	assert_int_equal(json_array_size(b), 1);
	assert_string_equal(json_string_value(json_array_get(b, 0)), "process");
	assert_int_equal(json_integer_value(json_object_get(c, "memory_mib")), 2048);
	assert_int_equal(json_integer_value(json_object_get(c, "cpus")), 4);
	assert_string_equal(json_string_value(json_object_get(c, "zone")), "z1");
	assert_null(json_object_get(c, "rack"));
	json_t *f = json_object_get(c, "features");
	assert_true(json_is_object(f));
	const char *names[] = {"cgroup_v1", "cgroup_v2", "userns", "seccomp", "landlock", "memfd_secret"};
	for (size_t i = 0; i < 6; i++)
		assert_true(json_is_boolean(json_object_get(f, names[i])));
	json_t *l = json_array_get(json_object_get(c, "latency"), 0);
	assert_string_equal(json_string_value(json_object_get(l, "resource")), "db");
	assert_int_equal(json_integer_value(json_object_get(l, "latency_us")), 250);
	assert_int_equal(json_integer_value(json_object_get(l, "hops")), 2);
	json_decref(c);
}

static const char *state_of(json_t *arr, const char *id, const char **error)
{
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0) {
			*error = json_string_value(json_object_get(e, "error"));
			return json_string_value(json_object_get(e, "state"));
		}
	}
	return NULL;
}

static void reported_states(void **state)
{
	cl_agent_actual a[4];
	memset(a, 0, sizeof(a));
	strcpy(a[0].id, "enc-run");
	a[0].alive = a[0].running = true;
	a[0].memory_bytes = 64u << 20;
	strcpy(a[1].id, "enc-frozen");
	a[1].alive = a[1].running = a[1].frozen = true;
	strcpy(a[2].id, "enc-exited");
	a[2].alive = true;
	a[2].exit_status = 256;
	strcpy(a[3].id, "enc-dead");
	cl_agent_failure f[3];
	memset(f, 0, sizeof(f));
	strcpy(f[0].id, "enc-nolaunch");
	strcpy(f[0].error, "launch: seccomp: boom");
	f[0].launch = true;
	strcpy(f[1].id, "enc-run");
	strcpy(f[1].error, "set memory: busy");
	strcpy(f[2].id, "enc-frozen"); /* a launch failure for an id that exists is not reported twice */
	strcpy(f[2].error, "stale");
	f[2].launch = true;
	json_t *arr = cl_agent_enclaves_json(a, 4, f, 3);
	assert_non_null(arr);
	assert_int_equal(json_array_size(arr), 5);
	const char *err = NULL;
	assert_string_equal(state_of(arr, "enc-run", &err), "running");
	assert_string_equal(err, "set memory: busy");
	assert_string_equal(state_of(arr, "enc-frozen", &err), "stopped");
	assert_null(err);
	assert_string_equal(state_of(arr, "enc-exited", &err), "exited");
	assert_string_equal(state_of(arr, "enc-dead", &err), "failed");
	assert_non_null(err);
	assert_string_equal(state_of(arr, "enc-nolaunch", &err), "failed");
	assert_string_equal(err, "launch: seccomp: boom");
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "id")), "enc-exited") == 0)
			assert_int_equal(json_integer_value(json_object_get(e, "exit_status")), 256);
		if (strcmp(json_string_value(json_object_get(e, "id")), "enc-run") == 0)
			assert_int_equal(json_integer_value(json_object_get(e, "memory_mib")), 64);
	}
	json_decref(arr);
}

/* On a full disk the agent removes cached images no desired enclave uses
 * (agent_image.c); only DIR/images/IMG.img files, never the kept ones. */
static void image_prune(void **state)
{
	char sub[96];
	snprintf(sub, sizeof(sub), "%s/images", dir);
	assert_int_equal(cl_mkdir_p(sub, 0700), CL_OK);
	write_file("images/img-keep.img", "k");
	write_file("images/img-old.img", "o");
	write_file("images/img-older.img", "o");
	write_file("images/notes.txt", "n");
	const char *keep[] = {"img-keep", "img-absent"};
	assert_int_equal(cl_agent_image_prune(dir, keep, 2), 2);
	struct stat st;
	char path[160];
	snprintf(path, sizeof(path), "%s/images/img-keep.img", dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/images/img-old.img", dir);
	assert_int_not_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/images/notes.txt", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(cl_agent_image_prune(dir, keep, 2), 0);
	assert_int_equal(cl_agent_image_prune("/nonexistent", keep, 2), 0);
}

/* The report after a launch: a listed sandbox the agent just launched is
 * reported as its launch left it (no STATUS round trip: these fake
 * sandboxes have no shim, so asking would say "gone"); every other listed
 * one is asked (here: no shim, alive=false); a known id that is not listed
 * is not reported. */
static void collect_known(void **state)
{
	char sub[128];
	const char *listed[] = {"enc-new", "enc-old"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(sub, sizeof(sub), "%s/sandboxes/%s", dir, listed[i]);
		assert_int_equal(cl_mkdir_p(sub, 0700), CL_OK);
	}
	cl_agent_actual known[2] = {{.id = "enc-new", .alive = true, .running = true, .memory_bytes = 32u << 20},
				    {.id = "enc-vanished", .alive = true, .running = true}};
	cl_agent_actual *a = NULL;
	size_t n = 0;
	assert_int_equal(cl_agent_collect_actual_known(dir, known, 2, &a, &n), CL_OK);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_string_not_equal(a[i].id, "enc-vanished");
		if (strcmp(a[i].id, "enc-new") == 0) {
			assert_true(a[i].alive && a[i].running && !a[i].frozen);
			assert_int_equal(a[i].memory_bytes, 32u << 20);
		} else {
			assert_string_equal(a[i].id, "enc-old");
			assert_false(a[i].alive);
		}
	}
	free(a);
	/* without known entries every sandbox is asked */
	assert_int_equal(cl_agent_collect_actual(dir, &a, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_false(a[0].alive || a[1].alive);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(identity_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(identity_malformed, setup, teardown),
	    cmocka_unit_test(capabilities),
	    cmocka_unit_test(reported_states),
	    cmocka_unit_test_setup_teardown(image_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(collect_known, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
