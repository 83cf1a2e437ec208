/* Unit tests for src/common: buffers, encodings, secrets, channel framing. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/frame.h"
#include "common/util.h"

static void buf_limits(void **state)
{
	cl_buf b;
	cl_buf_init(&b, 8);
	assert_int_equal(cl_buf_put_be32(&b, 0x01020304), CL_OK);
	assert_int_equal(cl_buf_put_be32(&b, 0x05060708), CL_OK);
	assert_int_equal(cl_buf_put_u8(&b, 9), CL_ETOOBIG);
	assert_int_equal(b.len, 8);
	uint32_t v;
	uint64_t w;
	assert_int_equal(cl_buf_get_be32(&b, &v), CL_OK);
	assert_int_equal(v, 0x01020304);
	assert_int_equal(cl_buf_get_be64(&b, &w), CL_EINVAL); /* only 4 left: no overrun */
	assert_int_equal(b.pos, 4);
	assert_int_equal(cl_buf_get_be32(&b, &v), CL_OK);
	assert_int_equal(v, 0x05060708);
	assert_int_equal(cl_buf_get_u8(&b, (uint8_t *)&v), CL_EINVAL);
	cl_buf_free(&b);
	assert_null(b.data);
}

static void buf_printf(void **state)
{
	cl_buf b;
	const char *s;
	cl_buf_init(&b, 16);
	assert_int_equal(cl_buf_printf(&b, "%d-%s", 42, "ab"), CL_OK);
	assert_int_equal(cl_buf_cstr(&b, &s), CL_OK);
	assert_string_equal(s, "42-ab");
	assert_int_equal(cl_buf_printf(&b, "%s", "0123456789abcdef"), CL_ETOOBIG);
	assert_int_equal(b.len, 5);
	cl_buf_free(&b);
}

static void hex_and_base64(void **state)
{
	uint8_t in[5] = {0, 1, 0xab, 0xcd, 0xff}, out[5];
	char hex[11];
	cl_hex_encode(in, 5, hex);
	assert_string_equal(hex, "0001abcdff");
	assert_int_equal(cl_hex_decode(hex, out, 5), CL_OK);
	assert_memory_equal(in, out, 5);
	assert_int_equal(cl_hex_decode("0001abcdf", out, 5), CL_EINVAL);
	assert_int_equal(cl_hex_decode("0001abcdfg", out, 5), CL_EINVAL);

	char *b64;
	cl_buf b;
	cl_buf_init(&b, 64);
	assert_int_equal(cl_base64_encode(in, 5, &b64), CL_OK);
	assert_string_equal(b64, "AAGrzf8=");
	assert_int_equal(cl_base64_decode(b64, &b), CL_OK);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, in, 5);
	free(b64);
	assert_int_equal(cl_base64_decode("AAGrzf8", &b), CL_EINVAL);
	assert_int_equal(cl_base64_decode("AA=rzf8=", &b), CL_EINVAL);
	assert_int_equal(cl_base64_decode("AAG*zf8=", &b), CL_EINVAL);
	cl_buf_free(&b);
}

static void secrets(void **state)
{
	char stored[128], stored2[128];
	assert_int_equal(cl_secret_hash("s3cret-token", stored, sizeof(stored)), CL_OK);
	assert_int_equal(cl_secret_hash("s3cret-token", stored2, sizeof(stored2)), CL_OK);
	assert_string_not_equal(stored, stored2); /* salted */
	assert_null(strstr(stored, "s3cret"));
	assert_int_equal(cl_secret_verify("s3cret-token", stored), CL_OK);
	assert_int_equal(cl_secret_verify("s3cret-tokeN", stored), CL_EAUTH);
	assert_int_equal(cl_secret_verify("", stored), CL_EAUTH);
	assert_int_not_equal(cl_secret_verify("x", "v1$garbage"), CL_OK);
}

static void atomic_write(void **state)
{
	char dir[] = "/tmp/cl-test-XXXXXX", path[256], tmp[300], victim[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	assert_int_equal(cl_file_write_atomic(victim, "keep", 4, 0600), CL_OK);
	/* A symlink planted where the temp file goes must not be written through. */
	assert_int_equal(symlink(victim, tmp), 0);
	assert_int_equal(cl_file_write_atomic(path, "one", 3, 0600), CL_OK);
	assert_int_equal(cl_file_write_atomic(path, "second", 6, 0600), CL_OK);
	cl_buf b;
	cl_buf_init(&b, 64);
	assert_int_equal(cl_file_read(path, 64, &b), CL_OK);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "second", 6);
	assert_int_equal(cl_file_read(victim, 64, &b), CL_OK);
	assert_memory_equal(b.data, "keep", 4);
	assert_int_equal(cl_file_read(path, 3, &b), CL_ETOOBIG);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(access(tmp, F_OK), -1); /* no temp file left behind */
	cl_buf_free(&b);
	assert_int_equal(cl_rm_rf(dir), CL_OK);
	assert_int_equal(access(dir, F_OK), -1);
}

static void frames_roundtrip(void **state)
{
	uint8_t wire[64], hdr[CL_FRAME_HDR], store[32];
	size_t n = 0;
	assert_int_equal(cl_frame_put_header(hdr, CL_FRAME_DATA, 3), CL_OK);
	memcpy(wire, hdr, 5);
	memcpy(wire + 5, "abc", 3);
	n = 8;
	assert_int_equal(cl_frame_put_header(hdr, CL_FRAME_EXIT, 0), CL_OK);
	memcpy(wire + n, hdr, 5);
	n += 5;

	cl_frame_dec d;
	cl_frame_dec_init(&d, store, sizeof(store), CL_FRAME_MAX);
	uint8_t type;
	const uint8_t *p;
	uint32_t len;
	/* Feed one byte at a time: frames appear only when whole. */
	int got = 0;
	for (size_t i = 0; i < n; i++) {
		*cl_frame_dec_tail(&d) = wire[i];
		cl_frame_dec_commit(&d, 1);
		bool more;
		while (cl_frame_pull(&d, &more, &type, &p, &len) == CL_OK && more) {
			if (got == 0) {
				assert_int_equal(type, CL_FRAME_DATA);
				assert_int_equal(len, 3);
				assert_memory_equal(p, "abc", 3);
			} else {
				assert_int_equal(type, CL_FRAME_EXIT);
				assert_int_equal(len, 0);
			}
			got++;
		}
		assert_int_equal(cl_frame_pull(&d, &more, &type, &p, &len), CL_OK);
		assert_false(more);
	}
	assert_int_equal(got, 2);
}

static void frames_reject(void **state)
{
	uint8_t store[32];
	bool more;
	cl_frame_dec d;
	uint8_t type;
	const uint8_t *p;
	uint32_t len;
	/* A declared length over the decoder's cap is an error, not an allocation. */
	cl_frame_dec_init(&d, store, sizeof(store), CL_FRAME_MAX);
	uint8_t big[5] = {0, 0, 1, 0, CL_FRAME_DATA};
	memcpy(cl_frame_dec_tail(&d), big, 5);
	cl_frame_dec_commit(&d, 5);
	assert_int_equal(cl_frame_pull(&d, &more, &type, &p, &len), CL_ETOOBIG);
	/* Unknown type. */
	cl_frame_dec_init(&d, store, sizeof(store), CL_FRAME_MAX);
	uint8_t bad[5] = {0, 0, 0, 0, 0x7f};
	memcpy(cl_frame_dec_tail(&d), bad, 5);
	cl_frame_dec_commit(&d, 5);
	assert_int_equal(cl_frame_pull(&d, &more, &type, &p, &len), CL_EPROTO);
	uint8_t hdr[5] = {9, 9, 9, 9, 9};
	assert_int_equal(cl_frame_put_header(hdr, CL_FRAME_DATA, CL_FRAME_MAX + 1), CL_ETOOBIG);
	assert_int_equal(hdr[0], 9); /* untouched */
	/* A whole frame with an empty payload: got, then nothing more. */
	cl_frame_dec_init(&d, store, sizeof(store), CL_FRAME_MAX);
	assert_int_equal(cl_frame_put_header(cl_frame_dec_tail(&d), CL_FRAME_OK, 0), CL_OK);
	cl_frame_dec_commit(&d, CL_FRAME_HDR);
	assert_int_equal(cl_frame_pull(&d, &more, &type, &p, &len), CL_OK);
	assert_true(more);
	assert_int_equal(type, CL_FRAME_OK);
	assert_int_equal(len, 0);
	assert_int_equal(cl_frame_pull(&d, &more, &type, &p, &len), CL_OK);
	assert_false(more);
	/* Sending: a whole frame, or CL_ESYS on a closed pipe. */
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(cl_frame_send_fd(fds[1], CL_FRAME_DATA, "xy", 2), CL_OK);
	uint8_t got[8];
	assert_int_equal(read(fds[0], got, sizeof(got)), 7);
	assert_memory_equal(got, "\0\0\0\2\1xy", 7);
	assert_int_equal(cl_frame_send_fd(fds[1], CL_FRAME_DATA, "x", CL_FRAME_MAX + 1), CL_ETOOBIG);
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(cl_frame_send_fd(fds[1], CL_FRAME_DATA, "xy", 2), CL_ESYS);
	close(fds[1]);
}

/* A detail wrapped in a longer one: cl_errorf may be handed its own buffer. */
static void error_detail_wraps_itself(void **state)
{
	(void)state;
	assert_int_equal(cl_errorf(CL_EINVAL, "inner %d", 7), CL_EINVAL);
	assert_int_equal(cl_errorf(CL_EIO, "outer: %s (%s)", cl_error_detail(), cl_error_detail()), CL_EIO);
	assert_string_equal(cl_error_detail(), "outer: inner 7 (inner 7)");
	cl_error_clear();
	assert_string_equal(cl_error_detail(), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buf_limits),     cmocka_unit_test(buf_printf),
		cmocka_unit_test(hex_and_base64), cmocka_unit_test(secrets),
		cmocka_unit_test(frames_roundtrip), cmocka_unit_test(frames_reject),
		cmocka_unit_test(atomic_write), cmocka_unit_test(error_detail_wraps_itself),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
