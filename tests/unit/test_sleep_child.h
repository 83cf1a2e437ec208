/* test_sleep_child.h — a real process for the measure's tests
 * (tests/unit/test_agent_rtm.c, test_agent_rtm_files.c): a child running
 * /bin/sleep 60, handed back once it sleeps, so that its mappings (which a
 * measure reads) no longer change; and its end (reap). Header-only (static)
 * because each test file is its own binary. Include after <cmocka.h>. */
#ifndef CL_TEST_SLEEP_CHILD_H
#define CL_TEST_SLEEP_CHILD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* /proc/PID/<what> into buf (NUL-terminated, at most size - 1 bytes);
 * the bytes read, 0 when it cannot be read. */
__attribute__((unused)) static size_t proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	memset(buf, 0, size);
	FILE *fp = fopen(path, "r");
	size_t n = fp ? fread(buf, 1, size - 1, fp) : 0;
	if (fp)
		fclose(fp);
	return n;
}

/* True once pid sleeps in its nanosleep (read from /proc/PID/syscall):
 * exec'd, its loader done mapping libraries. False while it is not there
 * yet, or when pid cannot be read. */
__attribute__((unused)) static bool asleep(pid_t pid)
{
	char buf[64];
	long nr = proc_read(pid, "syscall", buf, sizeof(buf)) ? strtol(buf, NULL, 10) : -1;
	return nr == SYS_clock_nanosleep || nr == SYS_nanosleep;
}

/* A child running /bin/sleep 60 (ASLR places it anew each time), returned
 * once it has exec'd and sleeps (bounded: 2 s; fails the test otherwise).
 * The caller owns the child: kill it and reap it (waitpid). */
__attribute__((unused)) static pid_t spawn_sleep(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 2000; i++) {
		char buf[64];
		size_t n = proc_read(pid, "cmdline", buf, sizeof(buf));
		if (n >= 9 && strcmp(buf, "sleep") == 0 && strcmp(buf + 6, "60") == 0 && asleep(pid))
			return pid;
		usleep(1000);
	}
	fail_msg("the child did not exec");
	return -1;
}

/* Ends a child of spawn_sleep: SIGKILL, then reaped. */
__attribute__((unused)) static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

#endif
