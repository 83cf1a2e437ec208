/* Unit tests for `cloister dev`'s process handling (src/cli/dev_proc.c,
 * dev_state.c): announcement lines are read with a deadline, the admin
 * token never reaches a log file, children are stopped and described, and
 * `dev stop` on a directory where nothing runs is a no-op. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/dev_proc.h"
#include "cli/dev_state.h"
#include "common/buf.h"
#include "common/util.h"

static char dir[64], log_path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/cl-dev-test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(log_path, sizeof(log_path), "%s/child.log", dir);
	return cl_dev_signals_init() == CL_OK ? 0 : -1;
}

static int teardown(void **state)
{
	return cl_rm_rf(dir) == CL_OK ? 0 : -1;
}

static uint64_t in_ms(unsigned ms)
{
	return cl_now_mono_ns() + (uint64_t)ms * 1000000u;
}

static char *read_log(void)
{
	cl_buf b;
	cl_buf_init(&b, 1 << 20);
	const char *s;
	assert_int_equal(cl_file_read(log_path, 1 << 20, &b), CL_OK);
	assert_int_equal(cl_buf_cstr(&b, &s), CL_OK);
	char *copy = strdup(s);
	cl_buf_free(&b);
	return copy;
}

static void lines_and_redaction(void **state)
{
	cl_dev_child c;
	char *argv[] = {"/bin/sh", "-c",
			"echo 'admin-token: clt_SECRET123'; echo 'listening: https://x'; echo oops >&2; "
			"exec sleep 30",
			NULL};
	assert_int_equal(cl_dev_spawn("child", "/bin/sh", argv, log_path, &c), CL_OK);
	char line[CL_DEV_LINE_MAX];
	assert_int_equal(cl_dev_read_line(&c, in_ms(10000), line, sizeof(line)), CL_OK);
	assert_string_equal(line, "admin-token: clt_SECRET123"); /* the caller gets the value */
	assert_int_equal(cl_dev_read_line(&c, in_ms(10000), line, sizeof(line)), CL_OK);
	assert_string_equal(line, "listening: https://x");
	/* Nothing more comes: the deadline ends the wait. */
	assert_int_equal(cl_dev_read_line(&c, in_ms(200), line, sizeof(line)), CL_ETIMEOUT);
	cl_dev_stop_child(&c, 5000);
	assert_int_equal(c.pid, 0);
	assert_true(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGTERM);
	char how[128];
	assert_non_null(strstr(cl_dev_describe_exit(&c, how, sizeof(how)), "killed by signal 15"));
	/* The log has stdout (token hidden) and stderr. */
	char *log = read_log();
	assert_null(strstr(log, "SECRET123"));
	assert_non_null(strstr(log, "admin-token: (hidden)"));
	assert_non_null(strstr(log, "listening: https://x"));
	assert_non_null(strstr(log, "oops"));
	free(log);
}

static void eof_and_exit_status(void **state)
{
	cl_dev_child c;
	char *argv[] = {"/bin/sh", "-c", "echo 'admin-token: clt_LATE'; echo last line >&2; exit 3", NULL};
	assert_int_equal(cl_dev_spawn("child", "/bin/sh", argv, log_path, &c), CL_OK);
	char line[CL_DEV_LINE_MAX];
	assert_int_equal(cl_dev_read_line(&c, in_ms(10000), line, sizeof(line)), CL_OK);
	assert_int_equal(cl_dev_read_line(&c, in_ms(10000), line, sizeof(line)), CL_EIO);
	/* Poll for the exit (the pipe closes just before the process is reapable). */
	uint64_t deadline = in_ms(10000);
	while (!cl_dev_reap(&c) && cl_now_mono_ns() < deadline)
		usleep(10000);
	assert_int_equal(c.pid, 0);
	char how[128];
	assert_string_equal(cl_dev_describe_exit(&c, how, sizeof(how)), "child exited with status 3");
	cl_dev_stop_child(&c, 1000); /* already reaped: only closes descriptors */
	assert_int_equal(c.out_fd, -1);
	char *log = read_log();
	assert_null(strstr(log, "clt_LATE"));
	assert_non_null(strstr(log, "last line\n"));
	free(log);
	/* The tail is the last non-empty line. */
	char tail[128];
	FILE *f = fopen(log_path, "w");
	assert_non_null(f);
	fputs("first\nsecond line\n\n", f);
	fclose(f);
	assert_string_equal(cl_dev_log_tail(log_path, tail, sizeof(tail)), "second line");
	assert_string_equal(cl_dev_log_tail("/nonexistent/log", tail, sizeof(tail)), "");
}

/* cl_dev_run (how `dev` runs `cloister-host --destroy-all`): output to the
 * log, success only on exit 0, a failure says how it ended, the deadline
 * kills a hung run. */
static void run_to_completion(void **state)
{
	char *ok[] = {"/bin/sh", "-c", "echo destroyed enc-1; echo note >&2; exit 0", NULL};
	assert_int_equal(cl_dev_run("cleanup", "/bin/sh", ok, log_path, 10000), CL_OK);
	char *log = read_log();
	assert_non_null(strstr(log, "destroyed enc-1\n"));
	assert_non_null(strstr(log, "note\n"));
	free(log);

	char *bad[] = {"/bin/sh", "-c", "echo 'error: cannot destroy sandbox enc-2' >&2; exit 1", NULL};
	assert_int_equal(cl_dev_run("cleanup", "/bin/sh", bad, log_path, 10000), CL_EUNAVAIL);
	assert_non_null(strstr(cl_error_detail(), "cleanup exited with status 1"));
	assert_non_null(strstr(cl_error_detail(), "error: cannot destroy sandbox enc-2"));

	char *hung[] = {"/bin/sh", "-c", "exec sleep 30", NULL};
	assert_int_equal(cl_dev_run("cleanup", "/bin/sh", hung, log_path, 200), CL_ETIMEOUT);
	assert_non_null(strstr(cl_error_detail(), "did not finish"));

	char *missing[] = {"/nonexistent/cloister-host", NULL};
	assert_int_equal(cl_dev_run("cleanup", "/nonexistent/cloister-host", missing, log_path, 10000), CL_EUNAVAIL);
	assert_non_null(strstr(cl_error_detail(), "status 127"));
}

static void drain_without_blocking(void **state)
{
	cl_dev_child c;
	char *argv[] = {"/bin/sh", "-c", "echo one; echo 'admin-token: clt_X'; exec sleep 30", NULL};
	assert_int_equal(cl_dev_spawn("child", "/bin/sh", argv, log_path, &c), CL_OK);
	/* Wait (with a deadline) until both lines reached the log through drain. */
	uint64_t deadline = in_ms(10000);
	char *log = NULL;
	for (;;) {
		cl_dev_drain(&c);
		free(log);
		log = read_log();
		if (strstr(log, "admin-token: (hidden)") || cl_now_mono_ns() > deadline)
			break;
		usleep(10000);
	}
	assert_non_null(strstr(log, "one\n"));
	assert_non_null(strstr(log, "admin-token: (hidden)"));
	assert_null(strstr(log, "clt_X"));
	free(log);
	cl_dev_stop_child(&c, 5000);
	assert_int_equal(c.pid, 0);
}

static void spawn_failure_is_reported(void **state)
{
	cl_dev_child c;
	char *argv[] = {"/nonexistent/prog", NULL};
	assert_int_equal(cl_dev_spawn("ghost", "/nonexistent/prog", argv, log_path, &c), CL_OK);
	char line[CL_DEV_LINE_MAX];
	assert_int_equal(cl_dev_read_line(&c, in_ms(10000), line, sizeof(line)), CL_EIO);
	cl_dev_stop_child(&c, 5000);
	char how[128];
	assert_string_equal(cl_dev_describe_exit(&c, how, sizeof(how)), "ghost exited with status 127");
	char tail[256];
	assert_non_null(strstr(cl_dev_log_tail(log_path, tail, sizeof(tail)), "cannot run /nonexistent/prog"));
	/* A log that cannot be opened fails before forking. */
	assert_int_not_equal(cl_dev_spawn("x", "/bin/true", argv, "/nonexistent/dir/log", &c), CL_OK);
}

static void stop_when_nothing_runs(void **state)
{
	bool was = true;
	assert_int_equal(cl_dev_stop_running(dir, 1000, &was), CL_OK); /* no dev.lock at all */
	assert_false(was);
	char lock[128];
	snprintf(lock, sizeof(lock), "%s/dev.lock", dir);
	FILE *f = fopen(lock, "w");
	assert_non_null(f);
	fclose(f);
	was = true;
	assert_int_equal(cl_dev_stop_running(dir, 1000, &was), CL_OK); /* unlocked: stale */
	assert_false(was);
	/* Held lock but no pid file: a clear error, not a signal to a random pid. */
	int fd = open(lock, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	/* flock locks belong to an open file: a second open conflicts even here. */
	was = false;
	assert_int_equal(cl_dev_stop_running(dir, 1000, &was), CL_ENOTFOUND);
	assert_false(was);
	close(fd);
}

static void init_checks_host_name(void **state)
{
	cl_dev d;
	assert_int_equal(cl_dev_init(&d, dir, 7443, "bad name!", 10), CL_EINVAL);
	cl_dev_free(&d);
	assert_int_equal(cl_dev_init(&d, dir, 7443, "", 10), CL_EINVAL);
	cl_dev_free(&d);
	assert_int_equal(cl_dev_init(&d, dir, 7443, ".hidden", 10), CL_EINVAL);
	cl_dev_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(lines_and_redaction, setup, teardown),
		cmocka_unit_test_setup_teardown(eof_and_exit_status, setup, teardown),
		cmocka_unit_test_setup_teardown(drain_without_blocking, setup, teardown),
		cmocka_unit_test_setup_teardown(run_to_completion, setup, teardown),
		cmocka_unit_test_setup_teardown(spawn_failure_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(stop_when_nothing_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(init_checks_host_name, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
