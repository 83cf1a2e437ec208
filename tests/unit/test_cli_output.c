/* Unit tests for what the CLI prints (src/cli/cli_output.c): secrets shown
 * as "(hidden)", display text of JSON values, aligned tables, and the single
 * "error:" line with the right exit code — under --json one JSON object
 * instead. stdout/stderr are captured. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/util.h"

/* Runs fn with file descriptor fd redirected to a temp file; returns its text (malloc'd). */
static char *capture(int fd, void (*fn)(void *), void *arg)
{
	char path[] = "/tmp/cl-cli-out.XXXXXX";
	int tmp = mkstemp(path);
	assert_true(tmp >= 0);
	fflush(stdout);
	fflush(stderr);
	int saved = dup(fd);
	assert_true(dup2(tmp, fd) >= 0);
	fn(arg);
	fflush(stdout);
	fflush(stderr);
	dup2(saved, fd);
	close(saved);
	close(tmp);
	cl_buf b;
	cl_buf_init(&b, 1 << 16);
	const char *s;
	assert_int_equal(cl_file_read(path, 1 << 16, &b), CL_OK);
	assert_int_equal(cl_buf_cstr(&b, &s), CL_OK);
	char *out = strdup(s);
	cl_buf_free(&b);
	unlink(path);
	return out;
}

static void print_obj(void *arg)
{
	cl_cli_print_object(arg);
}

static void secrets_hidden(void **state)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:n,s:s}", "id", "enc-1", "access_key", "clk_SECRET1", "token",
			      "clt_SECRET2", "host_key", "SECRET3", "memory_mib", 64, "error", "zone", "");
	char *out = capture(STDOUT_FILENO, print_obj, o);
	assert_null(strstr(out, "SECRET"));
	assert_non_null(strstr(out, "access_key: (hidden)"));
	assert_non_null(strstr(out, "token:      (hidden)"));
	assert_non_null(strstr(out, "host_key:   (hidden)"));
	assert_non_null(strstr(out, "id:         enc-1\n"));
	assert_non_null(strstr(out, "memory_mib: 64\n"));
	assert_non_null(strstr(out, "error:      -\n")); /* null */
	assert_non_null(strstr(out, "zone:       -\n")); /* empty string */
	free(out);
	json_decref(o);
}

static void json_text(void **state)
{
	char b[32];
	json_t *v = json_pack("[s,i,f,b,n,{s:i},s]", "x", -5, 1.5, 1, "a", 1, "");
	assert_string_equal(cl_cli_json_text(json_array_get(v, 0), b, sizeof(b)), "x");
	assert_string_equal(cl_cli_json_text(json_array_get(v, 1), b, sizeof(b)), "-5");
	assert_string_equal(cl_cli_json_text(json_array_get(v, 2), b, sizeof(b)), "1.5");
	assert_string_equal(cl_cli_json_text(json_array_get(v, 3), b, sizeof(b)), "true");
	assert_string_equal(cl_cli_json_text(json_array_get(v, 4), b, sizeof(b)), "-");
	assert_string_equal(cl_cli_json_text(json_array_get(v, 5), b, sizeof(b)), "{\"a\":1}");
	assert_string_equal(cl_cli_json_text(json_array_get(v, 6), b, sizeof(b)), "-");
	assert_string_equal(cl_cli_json_text(NULL, b, sizeof(b)), "-");
	/* Long text is truncated to the buffer, never overrun. */
	json_t *longs = json_string("0123456789012345678901234567890123456789");
	char small[8];
	assert_string_equal(cl_cli_json_text(longs, small, sizeof(small)), "0123456");
	json_decref(longs);
	json_decref(v);
}

static void print_table(void *arg)
{
	cl_cli_table_print(arg);
}

static void table_alignment(void **state)
{
	static const char *const header[] = {"ID", "NAME", "STATE"};
	cl_cli_table *t;
	assert_int_equal(cl_cli_table_new(3, header, &t), CL_OK);
	for (int i = 0; i < 40; i++) { /* grows past the initial capacity */
		const char *row[] = {i == 3 ? "enc-long-identifier" : "enc-1", NULL, "running"};
		assert_int_equal(cl_cli_table_add(t, row), CL_OK);
	}
	char *out = capture(STDOUT_FILENO, print_table, t);
	assert_true(strncmp(out, "ID                   NAME  STATE\n", 33) == 0);
	assert_non_null(strstr(out, "\nenc-1                -     running\n"));
	assert_non_null(strstr(out, "\nenc-long-identifier  -     running\n"));
	free(out);
	cl_cli_table_free(t);
	assert_int_equal(cl_cli_table_new(0, header, &t), CL_EINTERNAL);
	assert_int_equal(cl_cli_table_new(CL_CLI_TABLE_COLS + 1, header, &t), CL_EINTERNAL);
}

static int exit_code;
static void fail_invalid(void *arg)
{
	cl_errorf(CL_EPERM, "stop requires the enclave's access key (HTTP 403)");
	exit_code = cl_cli_fail(CL_EPERM);
}
static void fail_usage(void *arg)
{
	exit_code = cl_cli_usage("enclave %s: missing enclave ID", "stop");
}
static void fail_parse(void *arg)
{
	cl_errorf(CL_EINVAL, "invalid size '1Q'");
	exit_code = cl_cli_fail_usage(CL_EINVAL);
}
static void fail_context(void *arg)
{
	cl_errorf(CL_EIO, "open x: No such file");
	exit_code = cl_cli_fail(cl_cli_error_context(CL_EIO, "cannot read image %s", "x"));
}

static void error_lines(void **state)
{
	char *err = capture(STDERR_FILENO, fail_invalid, NULL);
	assert_string_equal(err, "error: stop requires the enclave's access key (HTTP 403)\n");
	assert_int_equal(exit_code, 1);
	free(err);
	err = capture(STDERR_FILENO, fail_usage, NULL);
	assert_string_equal(err, "error: enclave stop: missing enclave ID\n");
	assert_int_equal(exit_code, 2);
	free(err);
	err = capture(STDERR_FILENO, fail_parse, NULL);
	assert_string_equal(err, "error: invalid size '1Q'\n");
	assert_int_equal(exit_code, 2);
	free(err);
	err = capture(STDERR_FILENO, fail_context, NULL);
	assert_string_equal(err, "error: cannot read image x: open x: No such file\n");
	assert_int_equal(exit_code, 1);
	free(err);
	assert_int_equal(cl_cli_fail(CL_OK), 0);
}

static void fail_http(void *arg)
{
	cl_errorf(CL_EPERM, "stop requires the enclave's \"access key\" (HTTP 403)");
	cl_cli_note_http_error(403, "forbidden", cl_error_detail());
	exit_code = cl_cli_fail(CL_EPERM);
}
static void fail_http_context(void *arg)
{
	cl_errorf(CL_ETOOBIG, "upload too large (HTTP 413)");
	cl_cli_note_http_error(413, "too_large", cl_error_detail());
	exit_code = cl_cli_fail(cl_cli_error_context(CL_ETOOBIG, "cannot upload image %s", "x"));
}
static void fail_unknown_code(void *arg)
{
	cl_errorf(CL_ELIMIT, "slow down (HTTP 429)");
	cl_cli_note_http_error(429, "slow_down", cl_error_detail());
	exit_code = cl_cli_fail(CL_ELIMIT);
}
static void fail_local_after_http(void *arg)
{
	cl_errorf(CL_EPERM, "denied (HTTP 403)");
	cl_cli_note_http_error(403, "forbidden", cl_error_detail());
	/* a later local failure must not borrow the earlier answer's status */
	cl_errorf(CL_EIO, "open x:\nNo such file");
	exit_code = cl_cli_fail(CL_EIO);
}

/* stderr holds exactly one line: a JSON object {"error":{...}}. Returns
 * the inner object (a new reference). */
static json_t *one_error_object(const char *err)
{
	size_t n = strlen(err);
	assert_true(n > 1 && err[n - 1] == '\n');
	assert_null(memchr(err, '\n', n - 1));
	json_error_t jerr;
	json_t *doc = json_loads(err, 0, &jerr);
	assert_non_null(doc);
	assert_int_equal(json_object_size(doc), 1);
	json_t *e = json_incref(json_object_get(doc, "error"));
	json_decref(doc);
	assert_true(json_is_object(e));
	return e;
}

static void json_errors(void **state)
{
	cl_cli_flags f = {.json = true};
	cl_cli_set_global(&f);
	char *err = capture(STDERR_FILENO, fail_http, NULL);
	json_t *e = one_error_object(err);
	assert_int_equal(exit_code, 1);
	assert_string_equal(json_string_value(json_object_get(e, "code")), "forbidden");
	assert_string_equal(json_string_value(json_object_get(e, "message")),
			    "stop requires the enclave's \"access key\"");
	assert_int_equal(json_integer_value(json_object_get(e, "status")), 403);
	assert_int_equal(json_object_size(e), 3);
	json_decref(e);
	free(err);

	err = capture(STDERR_FILENO, fail_http_context, NULL);
	e = one_error_object(err);
	assert_string_equal(json_string_value(json_object_get(e, "code")), "too_large");
	assert_string_equal(json_string_value(json_object_get(e, "message")), "cannot upload image x: upload too large");
	assert_int_equal(json_integer_value(json_object_get(e, "status")), 413);
	json_decref(e);
	free(err);

	err = capture(STDERR_FILENO, fail_unknown_code, NULL);
	e = one_error_object(err);
	assert_string_equal(json_string_value(json_object_get(e, "code")), "slow_down");
	assert_int_equal(json_integer_value(json_object_get(e, "status")), 429);
	json_decref(e);
	free(err);

	err = capture(STDERR_FILENO, fail_local_after_http, NULL);
	e = one_error_object(err);
	assert_string_equal(json_string_value(json_object_get(e, "code")), "io");
	assert_string_equal(json_string_value(json_object_get(e, "message")), "open x:\nNo such file");
	assert_null(json_object_get(e, "status"));
	json_decref(e);
	free(err);

	err = capture(STDERR_FILENO, fail_usage, NULL);
	e = one_error_object(err);
	assert_int_equal(exit_code, 2);
	assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid");
	assert_string_equal(json_string_value(json_object_get(e, "message")), "enclave stop: missing enclave ID");
	assert_null(json_object_get(e, "status"));
	json_decref(e);
	free(err);

	err = capture(STDERR_FILENO, fail_parse, NULL);
	e = one_error_object(err);
	assert_int_equal(exit_code, 2);
	assert_string_equal(json_string_value(json_object_get(e, "message")), "invalid size '1Q'");
	json_decref(e);
	free(err);
	f.json = false;
	cl_cli_set_global(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secrets_hidden),
		cmocka_unit_test(json_text),
		cmocka_unit_test(table_alignment),
		cmocka_unit_test(error_lines),
		cmocka_unit_test(json_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
