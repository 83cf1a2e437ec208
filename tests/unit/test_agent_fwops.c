/* The firmware op journal (src/host/agent_fwops.c): an op is recorded before
 * it runs and its result after; a resent op gets the stored result without
 * running; an op a killed agent left started reads as interrupted after a
 * restart and never runs again; the journal keeps the last CL_AGENT_FWOPS_MAX ops; a
 * corrupt journal is an error that leaves the file untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/util.h"
#include "host/agent_fwops.h"

typedef struct jx {
	char dir[64];
	char path[96];
} jx;

static int setup(void **state)
{
	jx *x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	snprintf(x->dir, sizeof(x->dir), "/tmp/fwops.XXXXXX");
	if (!mkdtemp(x->dir))
		return -1;
	snprintf(x->path, sizeof(x->path), "%s/ops.journal", x->dir);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	jx *x = *state;
	assert_int_equal(cl_rm_rf(x->dir), CL_OK);
	free(x);
	return 0;
}

static cl_agent_fwops *open_ok(jx *x)
{
	cl_agent_fwops *j = NULL;
	assert_int_equal(cl_agent_fwops_open(x->path, &j), CL_OK);
	assert_non_null(j);
	return j;
}

/* begin on a new op: recorded, nothing to report. */
static void begin_new(cl_agent_fwops *j, const char *op)
{
	json_t *prior = (json_t *)1;
	assert_int_equal(cl_agent_fwops_begin(j, op, &prior), CL_OK);
	assert_null(prior);
}

/* begin on a known op: its stored result (caller decrefs). */
static json_t *begin_known(cl_agent_fwops *j, const char *op)
{
	json_t *prior = NULL;
	assert_int_equal(cl_agent_fwops_begin(j, op, &prior), CL_OK);
	assert_non_null(prior);
	assert_string_equal(json_string_value(json_object_get(prior, "op")), op);
	return prior;
}

static void finish(cl_agent_fwops *j, const char *op, bool ok, int audit_seq)
{
	json_t *r = json_pack("{s:s, s:b, s:s, s:i}", "op", op, "ok", ok, "reason", ok ? "ok" : "rollback",
			      "audit_seq", audit_seq);
	assert_non_null(r);
	assert_int_equal(cl_agent_fwops_finish(j, op, r), CL_OK);
	json_decref(r);
}

/* The state the file records for op ("started", "done", or NULL if absent). */
static const char *file_state(jx *x, const char *op, char *buf, size_t n)
{
	json_t *doc = json_load_file(x->path, 0, NULL);
	size_t i;
	json_t *v;
	const char *found = NULL;
	assert_non_null(doc);
	json_array_foreach(json_object_get(doc, "ops"), i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "op")), op) == 0) {
			snprintf(buf, n, "%s", json_string_value(json_object_get(v, "state")));
			found = buf;
		}
	}
	json_decref(doc);
	return found;
}

static void started_done_and_resent(void **state)
{
	jx *x = *state;
	char st[16];
	cl_agent_fwops *j = open_ok(x); /* no file yet: empty */
	assert_int_equal(cl_agent_fwops_count(j), 0);
	begin_new(j, "fw-a");
	/* Durable before the op runs. */
	assert_string_equal(file_state(x, "fw-a", st, sizeof(st)), "started");
	finish(j, "fw-a", true, 41);
	assert_string_equal(file_state(x, "fw-a", st, sizeof(st)), "done");
	/* Resent: the stored result, the op is not begun again. */
	json_t *r = begin_known(j, "fw-a");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r, "audit_seq")), 41);
	json_decref(r);
	assert_int_equal(cl_agent_fwops_count(j), 1);
	/* A result that is not the op's is refused; an unknown op cannot finish. */
	json_t *wrong = json_pack("{s:s, s:b}", "op", "fw-other", "ok", 1);
	assert_int_equal(cl_agent_fwops_finish(j, "fw-a", wrong), CL_EINVAL);
	assert_int_equal(cl_agent_fwops_finish(j, "fw-other", wrong), CL_ENOTFOUND);
	json_decref(wrong);
	json_t *none = NULL;
	assert_int_equal(cl_agent_fwops_begin(j, "Bad Id!", &none), CL_EINVAL);
	assert_null(none);
	cl_agent_fwops_free(j);
}

static void restart_keeps_results_and_interrupts_started(void **state)
{
	jx *x = *state;
	char st[16];
	cl_agent_fwops *j = open_ok(x);
	begin_new(j, "fw-done");
	finish(j, "fw-done", false, 7);
	begin_new(j, "fw-killed"); /* the agent dies while this op runs */
	cl_agent_fwops_free(j);

	j = open_ok(x);
	assert_int_equal(cl_agent_fwops_count(j), 2);
	/* The finished op: its real result, reported again (lost with the process). */
	json_t *r = begin_known(j, "fw-done");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "reason")), "rollback");
	assert_int_equal(json_integer_value(json_object_get(r, "audit_seq")), 7);
	json_decref(r);
	/* The interrupted op: not run again, reported as interrupted. */
	r = begin_known(j, "fw-killed");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "error")), CL_AGENT_FWOPS_INTERRUPTED);
	assert_string_equal(json_string_value(json_object_get(r, "reason")), "interrupted");
	json_decref(r);
	/* ... and that verdict is on disk, so later restarts say the same. */
	assert_string_equal(file_state(x, "fw-killed", st, sizeof(st)), "done");
	cl_agent_fwops_free(j);
	j = open_ok(x);
	r = begin_known(j, "fw-killed");
	assert_string_equal(json_string_value(json_object_get(r, "error")), CL_AGENT_FWOPS_INTERRUPTED);
	json_decref(r);
	cl_agent_fwops_free(j);
}

static void keeps_the_last_entries(void **state)
{
	jx *x = *state;
	char op[32];
	struct stat sb;
	cl_agent_fwops *j = open_ok(x);
	const int total = CL_AGENT_FWOPS_MAX + 10;
	for (int i = 0; i < total; i++) {
		snprintf(op, sizeof(op), "fw-%d", i);
		begin_new(j, op);
		finish(j, op, true, i);
	}
	assert_int_equal(cl_agent_fwops_count(j), CL_AGENT_FWOPS_MAX);
	cl_agent_fwops_free(j);
	assert_int_equal(stat(x->path, &sb), 0);
	assert_true((size_t)sb.st_size <= CL_AGENT_FWOPS_FILE_MAX);
	j = open_ok(x);
	assert_int_equal(cl_agent_fwops_count(j), CL_AGENT_FWOPS_MAX);
	/* The newest and the oldest kept are known (checked before anything new
	 * is begun, which would push the oldest out)... */
	snprintf(op, sizeof(op), "fw-%d", total - 1);
	json_decref(begin_known(j, op));
	snprintf(op, sizeof(op), "fw-%d", total - CL_AGENT_FWOPS_MAX);
	json_decref(begin_known(j, op));
	/* ... the one before them is forgotten: it would run as new. */
	snprintf(op, sizeof(op), "fw-%d", total - CL_AGENT_FWOPS_MAX - 1);
	begin_new(j, op);
	assert_int_equal(cl_agent_fwops_count(j), CL_AGENT_FWOPS_MAX);
	cl_agent_fwops_free(j);
}

static void corrupt_journal_refused_and_left_alone(void **state)
{
	jx *x = *state;
	static const char *const bad[] = {
		"not json",
		"{\"format\":1}",
		"{\"format\":2,\"ops\":[]}",
		"{\"format\":1,\"ops\":[],\"extra\":1}",
		"{\"format\":1,\"ops\":{}}",
		"{\"format\":1,\"ops\":[{\"op\":\"fw-a\",\"state\":\"running\"}]}",
		"{\"format\":1,\"ops\":[{\"op\":\"FW A\",\"state\":\"started\"}]}",
		"{\"format\":1,\"ops\":[{\"op\":\"fw-a\",\"state\":\"done\"}]}",
		"{\"format\":1,\"ops\":[{\"op\":\"fw-a\",\"state\":\"done\",\"result\":{\"op\":\"fw-b\",\"ok\":true}}]}",
		"{\"format\":1,\"ops\":[{\"op\":\"fw-a\",\"state\":\"done\",\"result\":{\"op\":\"fw-a\",\"ok\":1}}]}",
		"{\"format\":1,\"ops\":[{\"op\":\"fw-a\",\"state\":\"started\",\"result\":{}}]}",
		"{\"format\":1,\"ops\":[{\"op\":\"fw-a\",\"state\":\"started\"},{\"op\":\"fw-a\",\"state\":\"started\"}]}",
		"{\"format\":1,\"format\":1,\"ops\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cl_agent_fwops *j = (cl_agent_fwops *)1;
		cl_buf after;
		assert_int_equal(cl_file_write_atomic(x->path, bad[i], strlen(bad[i]), 0600), CL_OK);
		cl_err err = cl_agent_fwops_open(x->path, &j);
		if (err != CL_EPROTO)
			fail_msg("case %zu accepted: %s", i, bad[i]);
		assert_null(j);
		assert_non_null(strstr(cl_error_detail(), x->path));
		assert_non_null(strstr(cl_error_detail(), "run twice"));
		/* Left as it was, for the operator to look at. */
		cl_buf_init(&after, 4096);
		assert_int_equal(cl_file_read(x->path, after.max, &after), CL_OK);
		assert_int_equal(after.len, strlen(bad[i]));
		assert_memory_equal(after.data, bad[i], after.len);
		cl_buf_free(&after);
	}
	/* Too many entries is corrupt too (the agent never writes more). */
	json_t *ops = json_array();
	for (int i = 0; i <= CL_AGENT_FWOPS_MAX; i++) {
		char op[32];
		snprintf(op, sizeof(op), "fw-%d", i);
		json_array_append_new(ops, json_pack("{s:s, s:s}", "op", op, "state", "started"));
	}
	json_t *doc = json_pack("{s:i, s:o}", "format", 1, "ops", ops);
	assert_int_equal(json_dump_file(doc, x->path, 0), 0);
	json_decref(doc);
	cl_agent_fwops *j = NULL;
	assert_int_equal(cl_agent_fwops_open(x->path, &j), CL_EPROTO);
	assert_null(j);
}

static void unwritable_journal_records_nothing(void **state)
{
	jx *x = *state;
	char path[128];
	json_t *prior = NULL;
	cl_agent_fwops *j = NULL;
	/* A journal in a directory that does not exist: opens empty, but
	 * nothing can be recorded, so begin fails and the op must not run. */
	snprintf(path, sizeof(path), "%s/missing/ops.journal", x->dir);
	assert_int_equal(cl_agent_fwops_open(path, &j), CL_OK);
	assert_int_not_equal(cl_agent_fwops_begin(j, "fw-a", &prior), CL_OK);
	assert_null(prior);
	assert_int_equal(cl_agent_fwops_count(j), 0);
	assert_int_not_equal(cl_agent_fwops_begin(j, "fw-a", &prior), CL_OK); /* still not taken */
	cl_agent_fwops_free(j);
}

static void stale_temp_files_removed(void **state)
{
	jx *x = *state;
	char tmp[128], other[128];
	struct stat sb;
	snprintf(tmp, sizeof(tmp), "%s.tmp.12345", x->path);
	snprintf(other, sizeof(other), "%s/audit.log", x->dir);
	assert_int_equal(cl_file_write_atomic(tmp, "{", 1, 0600), CL_OK);
	assert_int_equal(cl_file_write_atomic(other, "x", 1, 0600), CL_OK);
	cl_agent_fwops *j = open_ok(x);
	assert_int_not_equal(stat(tmp, &sb), 0);
	assert_int_equal(stat(other, &sb), 0); /* only the journal's own temps */
	cl_agent_fwops_free(j);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(started_done_and_resent),
		T(restart_keeps_results_and_interrupts_started),
		T(keeps_the_last_entries),
		T(corrupt_journal_refused_and_left_alone),
		T(unwritable_journal_records_nothing),
		T(stale_temp_files_removed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
