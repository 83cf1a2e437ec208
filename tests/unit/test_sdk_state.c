/* Unit tests for cle_state_path (libcloister-enclave, src/sdk/sdk_state.c):
 * the directory an enclave's application keeps its suspend/restore state in.
 * The test runs in a mount namespace of its own with a fresh tmpfs on /tmp,
 * as an enclave has, so /tmp/state is this test's alone (needs root, like
 * the sandbox tests). */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloister/enclave.h"

static int own_tmp(void **state)
{
	(void)state;
	if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=1777") != 0) {
		fprintf(stderr, "a private /tmp: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void clear_state_dir(void)
{
	(void)unlink("/tmp/state/f");
	(void)rmdir("/tmp/state");
	(void)unlink("/tmp/state");
}

/* missing: created 0700 (whatever the umask), the constant's path, a static
 * string (the same pointer each call); the detail cleared */
static void created_0700(void **state)
{
	(void)state;
	struct stat st;
	clear_state_dir();
	assert_int_equal(lstat("/tmp/state", &st), -1);
	mode_t old = umask(0);
	const char *p = cle_state_path();
	umask(old);
	assert_non_null(p);
	assert_string_equal(p, "/tmp/state");
	assert_string_equal(p, CLE_STATE_PATH);
	assert_string_equal(cle_error_detail(), "");
	assert_int_equal(lstat("/tmp/state", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_ptr_equal(cle_state_path(), p);
}

/* an existing directory (say, restored) is kept as it is, with its files */
static void existing_kept(void **state)
{
	(void)state;
	struct stat st;
	clear_state_dir();
	assert_int_equal(mkdir("/tmp/state", 0750), 0);
	assert_int_equal(chmod("/tmp/state", 0750), 0);
	FILE *f = fopen("/tmp/state/f", "w");
	assert_non_null(f);
	fputs("kept", f);
	fclose(f);
	assert_string_equal(cle_state_path(), "/tmp/state");
	assert_int_equal(lstat("/tmp/state", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(lstat("/tmp/state/f", &st), 0);
	assert_int_equal(st.st_size, 4);
}

/* a file or a symbolic link in its place: NULL and a detail, nothing changed */
static void not_a_directory(void **state)
{
	(void)state;
	struct stat st;
	clear_state_dir();
	FILE *f = fopen("/tmp/state", "w");
	assert_non_null(f);
	fclose(f);
	assert_null(cle_state_path());
	assert_non_null(strstr(cle_error_detail(), "not a directory"));
	assert_int_equal(lstat("/tmp/state", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(unlink("/tmp/state"), 0);

	assert_int_equal(mkdir("/tmp/elsewhere", 0700), 0);
	assert_int_equal(symlink("/tmp/elsewhere", "/tmp/state"), 0);
	assert_null(cle_state_path());
	assert_non_null(strstr(cle_error_detail(), "/tmp/state"));
	assert_int_equal(lstat("/tmp/state", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(unlink("/tmp/state"), 0);
	assert_int_equal(rmdir("/tmp/elsewhere"), 0);

	/* and it works again once the directory can be made */
	assert_non_null(cle_state_path());
}

/* /tmp read-only: NULL, saying why (mkdir's errno), nothing made */
static void tmp_read_only(void **state)
{
	(void)state;
	struct stat st;
	clear_state_dir();
	assert_int_equal(mount("tmpfs", "/tmp", "tmpfs", MS_RDONLY, "size=1m"), 0);
	assert_null(cle_state_path());
	assert_non_null(strstr(cle_error_detail(), "mkdir"));
	assert_int_equal(lstat("/tmp/state", &st), -1);
	assert_int_equal(umount2("/tmp", MNT_DETACH), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(created_0700),
		cmocka_unit_test(existing_kept),
		cmocka_unit_test(not_a_directory),
		cmocka_unit_test(tmp_read_only),
	};
	return cmocka_run_group_tests(tests, own_tmp, NULL);
}
