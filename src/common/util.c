#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void cl_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int cl_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

cl_err cl_hex_decode(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return cl_errorf(CL_EINVAL, "hex string must be %zu characters", 2 * n);
	for (size_t i = 0; i < n; i++) {
		int hi = cl_hex_digit(hex[2 * i]), lo = cl_hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return cl_errorf(CL_EINVAL, "invalid hex digit");
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return CL_OK;
}

cl_err cl_base64_encode(const uint8_t *in, size_t n, char **out)
{
	if (n > (size_t)INT_MAX / 2)
		return CL_ETOOBIG;
	size_t olen = 4 * ((n + 2) / 3) + 1;
	char *s = malloc(olen);
	if (!s)
		return CL_ENOMEM;
	EVP_EncodeBlock((unsigned char *)s, in, (int)n);
	*out = s;
	return CL_OK;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

cl_err cl_base64_decode(const char *in, cl_buf *out)
{
	cl_buf_reset(out);
	size_t n = strlen(in);
	if (n % 4)
		return cl_errorf(CL_EINVAL, "base64 length is not a multiple of 4");
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)in[i + j];
			if (c == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad)
				return cl_errorf(CL_EINVAL, "invalid base64 padding");
			v[j] = b64val(c);
			if (v[j] < 0)
				return cl_errorf(CL_EINVAL, "invalid base64 character");
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		uint8_t t[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
		CL_GUARD(cl_buf_put(out, t, (size_t)(3 - pad)));
	}
	return CL_OK;
}

cl_err cl_random(void *p, size_t n)
{
	uint8_t *q = p;
	while (n) {
		ssize_t r = getrandom(q, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return cl_errorf(CL_ESYS, "getrandom: %s", strerror(errno));
		}
		q += r;
		n -= (size_t)r;
	}
	return CL_OK;
}

cl_err cl_random_id(const char *prefix, char *out, size_t outlen)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t r[20];
	size_t plen = strlen(prefix);
	if (outlen < plen + sizeof(r) + 1)
		return CL_EINVAL;
	CL_GUARD(cl_random(r, sizeof(r)));
	memcpy(out, prefix, plen);
	for (size_t i = 0; i < sizeof(r); i++)
		out[plen + i] = alphabet[r[i] & 31];
	out[plen + sizeof(r)] = '\0';
	return CL_OK;
}

bool cl_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

cl_err cl_errno_write_err(int errnum, cl_err fallback)
{
	return errnum == ENOSPC || errnum == EDQUOT ? CL_ENOSPACE : fallback;
}

static cl_err fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cl_errorf(CL_EIO, "open %s: %s", dir, strerror(errno));
	int rc = fsync(fd);
	close(fd);
	return rc ? cl_errorf(CL_EIO, "fsync %s: %s", dir, strerror(errno)) : CL_OK;
}

/* Writes a temp file and renames it over path; with durable, fsyncs the file
 * before and the directory after the rename. */
static cl_err file_replace(const char *path, const void *data, size_t n, unsigned mode, bool durable)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return cl_errorf(CL_EINVAL, "path too long");
	/* O_EXCL|O_NOFOLLOW: never write through a planted file or symlink; a stale
	 * temp file from a crashed writer of the same pid is removed first. */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return cl_errorf(cl_errno_write_err(errno, CL_EIO), "create %s: %s", tmp, strerror(errno));
	const uint8_t *p = data;
	size_t left = n;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			return cl_errorf(cl_errno_write_err(e, CL_EIO), "write %s: %s", tmp, strerror(e));
		}
		p += w;
		left -= (size_t)w;
	}
	int rc = durable ? fsync(fd) : 0, e = errno;
	if (close(fd) != 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc != 0) {
		unlink(tmp);
		return cl_errorf(cl_errno_write_err(e, CL_EIO), "fsync %s: %s", tmp, strerror(e));
	}
	if (rename(tmp, path) != 0) {
		e = errno;
		unlink(tmp);
		return cl_errorf(cl_errno_write_err(e, CL_EIO), "rename to %s: %s", path, strerror(e));
	}
	return durable ? fsync_dir_of(path) : CL_OK;
}

cl_err cl_file_write_atomic(const char *path, const void *data, size_t n, unsigned mode)
{
	return file_replace(path, data, n, mode, true);
}

cl_err cl_file_replace(const char *path, const void *data, size_t n, unsigned mode)
{
	return file_replace(path, data, n, mode, false);
}

cl_err cl_file_read(const char *path, size_t max, cl_buf *out)
{
	cl_buf_reset(out);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cl_errorf(errno == ENOENT ? CL_ENOTFOUND : CL_EIO, "open %s: %s", path,
				 strerror(errno));
	cl_err err = CL_OK;
	uint8_t chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = cl_errorf(CL_EIO, "read %s: %s", path, strerror(errno));
			break;
		}
		if (r == 0)
			break;
		if (out->len + (size_t)r > max) {
			err = cl_errorf(CL_ETOOBIG, "%s is larger than %zu bytes", path, max);
			break;
		}
		if ((err = cl_buf_put(out, chunk, (size_t)r)) != CL_OK)
			break;
	}
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	return err;
}

void cl_stdio_ensure(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR);
		if (n >= 0 && n != fd) { /* a lower one was closed too: it has it; dup into ours */
			(void)dup2(n, fd);
			if (n > 2)
				close(n);
		}
	}
}

cl_err cl_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return cl_errorf(CL_EINVAL, "path too long");
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return cl_errorf(cl_errno_write_err(errno, CL_EIO), "mkdir %s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return cl_errorf(cl_errno_write_err(errno, CL_EIO), "mkdir %s: %s", tmp, strerror(errno));
	return CL_OK;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
	return rc != 0 && errno != ENOENT ? -1 : 0;
}

cl_err cl_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? CL_OK : cl_errorf(CL_EIO, "stat %s: %s", path, strerror(errno));
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
		return cl_errorf(CL_EIO, "remove %s: %s", path, strerror(errno));
	return CL_OK;
}

uint64_t cl_now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cl_now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

cl_err cl_close_fds_except(const int *keep, size_t n)
{
	unsigned lo = 3;
	for (;;) {
		unsigned next = ~0u; /* the smallest kept fd >= lo */
		for (size_t i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next > lo && syscall(SYS_close_range, lo, next - 1, 0) != 0)
			return cl_errorf(CL_ESYS, "close_range: %s", strerror(errno));
		if (next == ~0u)
			return CL_OK;
		lo = next + 1;
	}
}
