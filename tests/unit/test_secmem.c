/* Unit tests for src/common/secmem.c: both kinds of secret memory carry the
 * kernel flags they promise (read back from /proc/self/smaps), a forked child
 * sees no secret, and the allocator fails closed when memory cannot be
 * locked. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/harden.h"
#include "common/secmem.h"

/* The smaps entry of the mapping that starts at p: its header line and its
 * VmFlags line (each NUL-terminated). Returns 0 if found. */
static int smaps_of(const void *p, char *head, size_t hn, char *flags, size_t fn)
{
	char line[512], want[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	int found = 0;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)p);
	while (f && fgets(line, sizeof(line), f)) {
		if (!found && strncmp(line, want, strlen(want)) == 0) {
			snprintf(head, hn, "%s", line);
			found = 1;
		} else if (found && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, fn, "%s", line);
			fclose(f);
			return 0;
		}
	}
	if (f)
		fclose(f);
	return -1;
}

static int has_flag(const char *flags, const char *f)
{
	char w[8];
	snprintf(w, sizeof(w), " %s", f);
	return strstr(flags, w) != NULL;
}

static int kernel_has_secretmem(void)
{
	int fd = (int)syscall(447, (unsigned long)O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* In a forked child: 0 = the child read zeros, 1 = it read the secret,
 * SIGSEGV = the mapping is not there at all. Returns the wait status. */
static int child_reads(const volatile uint8_t *p, size_t n)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		for (size_t i = 0; i < n; i++)
			if (p[i])
				_exit(1);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void secretmem_path(void **state)
{
	cl_secmem m;
	char head[512], flags[512];
	if (!kernel_has_secretmem()) {
		skip(); /* a kernel without (or with disabled) memfd_secret: the fallback test covers it */
		return;
	}
	unsetenv("CLOISTER_SECMEM");
	assert_int_equal(cl_secmem_alloc(100, 0, &m), CL_OK);
	assert_int_equal(m.kind, CL_SECMEM_SECRETMEM);
	assert_int_equal(m.len, (size_t)sysconf(_SC_PAGESIZE));
	memset(m.ptr, 0xa5, 100);
	assert_int_equal(smaps_of(m.ptr, head, sizeof(head), flags, sizeof(flags)), 0);
	assert_non_null(strstr(head, "secretmem")); /* a memfd_secret mapping */
	assert_true(has_flag(flags, "lo"));          /* locked */
	assert_true(has_flag(flags, "dd"));          /* not dumped */
	assert_true(has_flag(flags, "dc"));          /* not copied into a child */
	int st = child_reads(m.ptr, 100);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV); /* absent in the child */
	void *p = m.ptr;
	cl_secmem_free(&m);
	assert_null(m.ptr);
	assert_int_equal(smaps_of(p, head, sizeof(head), flags, sizeof(flags)), -1); /* unmapped */
}

static void fallback_path(void **state)
{
	cl_secmem m, e;
	char head[512], flags[512];
	assert_int_equal(cl_secmem_alloc(5000, CL_SECMEM_NO_SECRETMEM, &m), CL_OK);
	assert_int_equal(m.kind, CL_SECMEM_LOCKED);
	assert_int_equal(m.len, 2 * (size_t)sysconf(_SC_PAGESIZE));
	memset(m.ptr, 0xa5, m.len);
	assert_int_equal(smaps_of(m.ptr, head, sizeof(head), flags, sizeof(flags)), 0);
	assert_null(strstr(head, "secretmem"));
	assert_true(has_flag(flags, "lo")); /* mlock */
	assert_true(has_flag(flags, "dd")); /* MADV_DONTDUMP */
	assert_true(has_flag(flags, "wf")); /* MADV_WIPEONFORK */
	int st = child_reads(m.ptr, m.len);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0); /* zeros in the child */
	/* the environment forces the fallback too */
	setenv("CLOISTER_SECMEM", "locked", 1);
	assert_int_equal(cl_secmem_alloc(1, 0, &e), CL_OK);
	unsetenv("CLOISTER_SECMEM");
	assert_int_equal(e.kind, CL_SECMEM_LOCKED);
	cl_secmem_free(&e);
	cl_secmem_free(&m);
	cl_secmem_free(&m); /* twice is harmless */
	assert_int_equal(cl_secmem_alloc(0, 0, &m), CL_EINVAL);
	assert_null(m.ptr);
}

/* Without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0 nothing can be locked:
 * both kinds must fail, not hand out swappable memory. */
static void fails_closed(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t perm = 0;
		struct rlimit zero = {0, 0};
		cl_secmem m;
		if (cl_harden_caps(NULL, &perm, NULL, NULL, NULL) != CL_OK ||
		    cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, perm & ~CL_CAP(CAP_IPC_LOCK), NULL) != CL_OK ||
		    setrlimit(RLIMIT_MEMLOCK, &zero) != 0)
			_exit(10);
		if (cl_secmem_alloc(100, CL_SECMEM_NO_SECRETMEM, &m) != CL_ESYS || m.ptr)
			_exit(11);
		if (kernel_has_secretmem() && (cl_secmem_alloc(100, 0, &m) != CL_ESYS || m.ptr))
			_exit(12);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secretmem_path),
		cmocka_unit_test(fallback_path),
		cmocka_unit_test(fails_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
