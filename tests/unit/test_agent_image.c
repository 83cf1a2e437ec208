/* Unit tests for the agent's image cache check (src/host/agent_image.c):
 * a cached image is used only while its SHA-384 matches the desired set's
 * digest, and the file is not re-hashed while it is the very file hashed
 * before — so a change made in place, even of the same size, is seen. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crypto.h"
#include "common/http_client.h"
#include "common/util.h"
#include "host/agent_image.h"

#define IMG "img-aaaaaaaaaaaaaaaaaaaa"

static char dir[64], file[160];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test-agent-image.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(file, sizeof(file), "%s/images/%s.img", dir, IMG);
	return 0;
}

static int teardown(void **state)
{
	return cl_rm_rf(dir) == CL_OK ? 0 : -1;
}

static void digest_hex(const char *text, char hex[CL_SHA384_LEN * 2 + 1])
{
	uint8_t d[CL_SHA384_LEN];
	assert_int_equal(cl_sha384(text, strlen(text), d), CL_OK);
	cl_hex_encode(d, sizeof(d), hex);
}

/* Overwrites the file's bytes where it is (same inode, same size). */
static void rewrite_in_place(const char *text)
{
	int fd = open(file, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
	close(fd);
}

/* Waits until the file's ctime is over a second old (a fresher file is not
 * remembered: see agent_image.c). A clock condition with a deadline. */
static void wait_file_settled(void)
{
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	uint64_t deadline = cl_now_mono_ns() + 5ull * 1000 * 1000 * 1000;
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (st.st_ctim.tv_sec + 1 < now.tv_sec)
			return;
		assert_true(cl_now_mono_ns() < deadline);
		usleep(20000);
	}
}

static void changed_cache_is_hashed_again(void **state)
{
	char path[PATH_MAX], ha[CL_SHA384_LEN * 2 + 1], hb[CL_SHA384_LEN * 2 + 1];
	const char *a = "image bytes, version A", *b = "image bytes, version B";
	digest_hex(a, ha);
	digest_hex(b, hb);
	cl_http_client *http; /* nothing listens: a fetch fails */
	assert_int_equal(cl_http_client_new("http://127.0.0.1:1", NULL, "t", &http), CL_OK);
	char images[128];
	snprintf(images, sizeof(images), "%s/images", dir);
	assert_int_equal(cl_mkdir_p(images, 0700), CL_OK);
	assert_int_equal(cl_file_write_atomic(file, a, strlen(a), 0600), CL_OK);
	wait_file_settled();
	/* the cached file matches: used, twice (the second time remembered) */
	assert_int_equal(cl_agent_image_ensure(http, dir, IMG, ha, path, sizeof(path)), CL_OK);
	assert_string_equal(path, file);
	assert_int_equal(cl_agent_image_ensure(http, dir, IMG, ha, path, sizeof(path)), CL_OK);
	/* changed in place, same size: hashed again, so B's digest matches ... */
	rewrite_in_place(b);
	assert_int_equal(cl_agent_image_ensure(http, dir, IMG, hb, path, sizeof(path)), CL_OK);
	/* ... and A's no longer does: the cache is dropped and a fetch attempted */
	assert_int_not_equal(cl_agent_image_ensure(http, dir, IMG, ha, path, sizeof(path)), CL_OK);
	assert_int_not_equal(access(file, F_OK), 0);
	cl_http_client_free(http);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(changed_cache_is_hashed_again),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
