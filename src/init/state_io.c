/* state_io.c — seal a tree into a state blob, open one back (state_io.h). */
#include "init/state_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/rawio.h"
#include "common/state.h"

#define CHUNK 65536u
#define DEPTH_MAX 32

typedef struct sealer {
	EVP_CIPHER_CTX *c;
	cl_init_state_sink sink;
	void *ctx;
	uint64_t length; /* blob bytes out */
	uint64_t tar;    /* tar bytes in */
	unsigned entries;
	uint8_t out[CHUNK + 32];
	char *reason;
} sealer;

static int fail(char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, CL_INIT_STATE_REASON_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

static int emit(sealer *s, const uint8_t *p, size_t n)
{
	if (s->sink(s->ctx, p, n) != 0)
		return fail(s->reason, "sink");
	s->length += n;
	return 0;
}

/* Encrypts n tar bytes and emits the ciphertext. */
static int put(sealer *s, const uint8_t *p, size_t n)
{
	while (n) {
		size_t k = n > CHUNK ? CHUNK : n;
		int outl = 0;
		if (s->tar + k > CL_INIT_STATE_TAR_MAX)
			return fail(s->reason, "bad_state: (archive): more than 64 MiB of files");
		if (EVP_EncryptUpdate(s->c, s->out, &outl, p, (int)k) != 1)
			return fail(s->reason, "io: encryption failed");
		if (emit(s, s->out, (size_t)outl) != 0)
			return -1;
		s->tar += k;
		p += k;
		n -= k;
	}
	return 0;
}

static int put_header(sealer *s, const char *path, int type, uint32_t mode, uint64_t size)
{
	uint8_t h[CL_TAR_BLOCK];
	char why[CL_BUNDLE_WHY_MAX];
	if (++s->entries > CL_BUNDLE_ENTRIES_MAX)
		return fail(s->reason, "bad_state: %.60s: too many entries (at most %u)", path, CL_BUNDLE_ENTRIES_MAX);
	if (cl_tar_header_put(h, path, type, mode, size, why) != CL_OK)
		return fail(s->reason, "bad_state: %s", why);
	return put(s, h, sizeof(h));
}

static int put_file(sealer *s, int dfd, const char *name, const char *path, const struct stat *st)
{
	static const uint8_t zero[CL_TAR_BLOCK];
	uint8_t *buf = NULL;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = -1;
	uint64_t left = (uint64_t)st->st_size;
	if (fd < 0)
		return fail(s->reason, "io: %.60s: %s", path, strerror(errno));
	if (put_header(s, path, CL_TAR_FILE, (uint32_t)st->st_mode, left) != 0)
		goto out;
	if (!(buf = malloc(CHUNK))) {
		fail(s->reason, "io: out of memory");
		goto out;
	}
	while (left) {
		ssize_t r = read(fd, buf, left > CHUNK ? CHUNK : (size_t)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail(s->reason, "io: %.60s: %s", path, r == 0 ? "changed size while read" : strerror(errno));
			goto out;
		}
		if (put(s, buf, (size_t)r) != 0)
			goto out;
		left -= (uint64_t)r;
	}
	rc = put(s, zero, cl_tar_pad((uint64_t)st->st_size));
out:
	if (buf)
		OPENSSL_cleanse(buf, CHUNK);
	free(buf);
	close(fd);
	return rc;
}

/* The entries of the directory dfd (path prefix: its path in the tar, ""
 * at the top), sorted, recursively. */
static int put_tree(sealer *s, int dfd, const char *prefix, const char *skip, int depth)
{
	struct dirent **names = NULL;
	int n, rc = 0;
	if (depth > DEPTH_MAX)
		return fail(s->reason, "bad_state: %.60s: nested too deep", prefix);
	int dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	if (!d) {
		if (dup >= 0)
			close(dup);
		return fail(s->reason, "io: %.60s: %s", prefix[0] ? prefix : "/", strerror(errno));
	}
	n = scandirat(dirfd(d), ".", &names, NULL, alphasort);
	closedir(d);
	if (n < 0)
		return fail(s->reason, "io: %.60s: %s", prefix[0] ? prefix : "/", strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char path[CL_BUNDLE_PATH_MAX + 2];
		struct stat st;
		if (rc != 0 || !strcmp(name, ".") || !strcmp(name, "..") || (skip && !prefix[0] && !strcmp(name, skip)))
			continue;
		if (!prefix[0] && !strcmp(name, CL_STATE_FILE)) {
			rc = fail(s->reason, "bad_state: %s: the name is reserved (the state's own PCR7 file)", name);
			continue;
		}
		int w = snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "/" : "", name);
		if (w < 0 || (size_t)w > CL_BUNDLE_PATH_MAX) {
			rc = fail(s->reason, "bad_state: %.60s...: path too long", path);
			continue;
		}
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = fail(s->reason, "io: %.60s: %s", path, strerror(errno));
		} else if (S_ISREG(st.st_mode)) {
			rc = put_file(s, dfd, name, path, &st);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				rc = fail(s->reason, "io: %.60s: %s", path, strerror(errno));
			else {
				rc = put_header(s, path, CL_TAR_DIR, (uint32_t)st.st_mode, 0);
				if (rc == 0)
					rc = put_tree(s, sub, path, skip, depth + 1);
				close(sub);
			}
		} else {
			rc = fail(s->reason, "bad_state: %.60s: %s (only files and directories are state)", path,
				  S_ISLNK(st.st_mode) ? "symbolic link" : S_ISSOCK(st.st_mode) ? "socket"
								: S_ISFIFO(st.st_mode) ? "fifo" : "device");
		}
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* The first entry: CL_STATE_FILE listing ext[0..next). */
static int put_extends(sealer *s, const uint8_t ext[][CL_STATE_EXTEND_LEN], size_t next)
{
	static const uint8_t zero[CL_TAR_BLOCK];
	uint8_t file[CL_STATE_FILE_MAX];
	size_t len = 0;
	if (cl_state_file_put(ext, next, file, &len) != CL_OK)
		return fail(s->reason, "bad_state: %s: %zu extends, at most %u of register %u", CL_STATE_FILE, next,
			    CL_STATE_EXTENDS_MAX, CL_STATE_EXTEND_REGISTER);
	if (put_header(s, CL_STATE_FILE, CL_TAR_FILE, 0400, len) != 0 || put(s, file, len) != 0)
		return -1;
	return put(s, zero, cl_tar_pad(len));
}

int cl_init_state_seal_extends(const char *root, const char *skip, const uint8_t ext[][CL_STATE_EXTEND_LEN],
			       size_t next, const uint8_t key[CL_INIT_STATE_KEY_LEN], const char *enclave_id, uint64_t n,
			       cl_init_state_sink sink, void *ctx, uint64_t *length,
			       char reason[CL_INIT_STATE_REASON_MAX])
{
	static const uint8_t end[CL_TAR_END_LEN];
	uint8_t hdr[CL_STATE_HEADER_MAX], iv[CL_STATE_IV_LEN], tag[CL_STATE_TAG_LEN];
	size_t hlen = 0;
	int outl = 0, rc = -1, dfd = -1;
	sealer *s = calloc(1, sizeof(*s));
	reason[0] = '\0';
	*length = 0;
	if (!s)
		return fail(reason, "io: out of memory");
	s->sink = sink;
	s->ctx = ctx;
	s->reason = reason;
	if (RAND_bytes(iv, sizeof(iv)) != 1 || cl_state_header_put(hdr, enclave_id, n, iv, &hlen) != CL_OK) {
		fail(reason, "io: cannot make the blob's header");
		goto out;
	}
	if (!(s->c = EVP_CIPHER_CTX_new()) || EVP_EncryptInit_ex(s->c, EVP_aes_256_gcm(), NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(s->c, NULL, &outl, hdr, (int)(hlen - CL_STATE_IV_LEN)) != 1) {
		fail(reason, "io: cannot set up the cipher");
		goto out;
	}
	if ((dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fail(reason, "io: %.60s: %s", root, strerror(errno));
		goto out;
	}
	if (emit(s, hdr, hlen) != 0 || put_extends(s, ext, next) != 0 || put_tree(s, dfd, "", skip, 0) != 0 ||
	    put(s, end, sizeof(end)) != 0)
		goto out;
	if (EVP_EncryptFinal_ex(s->c, s->out, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->c, EVP_CTRL_GCM_GET_TAG, sizeof(tag), tag) != 1) {
		fail(reason, "io: encryption failed");
		goto out;
	}
	if (emit(s, s->out, (size_t)outl) != 0 || emit(s, tag, sizeof(tag)) != 0)
		goto out;
	*length = s->length;
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	EVP_CIPHER_CTX_free(s->c);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	return rc;
}

int cl_init_state_seal(const char *root, const char *skip, const uint8_t key[CL_INIT_STATE_KEY_LEN],
		       const char *enclave_id, uint64_t n, cl_init_state_sink sink, void *ctx, uint64_t *length,
		       char reason[CL_INIT_STATE_REASON_MAX])
{
	return cl_init_state_seal_extends(root, skip, NULL, 0, key, enclave_id, n, sink, ctx, length, reason);
}

/* Creates the parents of path under dfd (they may exist as directories). */
static int mkdir_parents(int dfd, const char *path)
{
	char tmp[CL_BUNDLE_PATH_MAX + 1];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *c = strchr(tmp, '/'); c; c = strchr(c + 1, '/')) {
		struct stat st;
		*c = '\0';
		if (mkdirat(dfd, tmp, 0755) != 0 &&
		    !(errno == EEXIST && fstatat(dfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)))
			return -1;
		*c = '/';
	}
	return 0;
}

static int extract(const uint8_t *tar, size_t len, const char *dest, char reason[CL_INIT_STATE_REASON_MAX])
{
	cl_tar t;
	cl_tar_entry e;
	bool got = true;
	char why[CL_BUNDLE_WHY_MAX];
	struct stat st;
	int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;
	if (dfd < 0)
		return fail(reason, "no_space: %.60s: %s", dest, strerror(errno));
	cl_tar_init(&t, tar, len);
	for (;;) {
		if (cl_tar_next(&t, &e, &got, why) != CL_OK) {
			fail(reason, "bad_state: %s", why);
			goto out;
		}
		if (!got)
			break;
		if (mkdir_parents(dfd, e.path) != 0) {
			fail(reason, "bad_state: %.60s: %s", e.path, strerror(errno));
			goto out;
		}
		if (e.type == CL_TAR_DIR) {
			if (mkdirat(dfd, e.path, e.mode | 0700) != 0 &&
			    !(errno == EEXIST && fstatat(dfd, e.path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))) {
				fail(reason, "bad_state: %.60s: %s", e.path, errno == EEXIST ? "listed twice" : strerror(errno));
				goto out;
			}
			if (fchmodat(dfd, e.path, e.mode, 0) != 0) {
				fail(reason, "bad_state: %.60s: %s", e.path, strerror(errno));
				goto out;
			}
			continue;
		}
		int fd = openat(dfd, e.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || cl_raw_write_all(fd, e.data, (size_t)e.size) != 0 || fchmod(fd, e.mode) != 0) {
			fail(reason, "%s: %.60s: %s", errno == ENOSPC ? "no_space" : "bad_state", e.path,
			     errno == EEXIST ? "listed twice" : strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	}
	rc = 0;
out:
	close(dfd);
	return rc;
}

int cl_init_state_open(const uint8_t *blob, size_t len, const uint8_t key[CL_INIT_STATE_KEY_LEN],
		       const char *enclave_id, uint64_t n, const char *staging, const char *dest,
		       char reason[CL_INIT_STATE_REASON_MAX])
{
	cl_state_header h;
	EVP_CIPHER_CTX *c = NULL;
	uint8_t *buf = NULL, *map = MAP_FAILED, tag[CL_STATE_TAG_LEN];
	int fd = -1, rc = -1, outl = 0;
	size_t body = 0;
	reason[0] = '\0';
	if (cl_state_header_parse(blob, len, &h) != CL_OK)
		return fail(reason, "bad_blob: the header does not parse");
	if (strcmp(h.enclave_id, enclave_id) != 0)
		return fail(reason, "bad_blob: the blob is enclave %s's, not %s's", h.enclave_id, enclave_id);
	if (h.n != n)
		return fail(reason, "bad_blob: the blob is suspend %llu, not %llu", (unsigned long long)h.n,
			    (unsigned long long)n);
	body = len - h.len - CL_STATE_TAG_LEN;
	if (body > CL_INIT_STATE_TAR_MAX)
		return fail(reason, "bad_blob: more than 64 MiB of state");
	memcpy(tag, blob + len - CL_STATE_TAG_LEN, sizeof(tag));
	if ((fd = open(staging, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return fail(reason, "no_space: %.60s: %s", staging, strerror(errno));
	if (!(buf = malloc(CHUNK + 32)) || !(c = EVP_CIPHER_CTX_new()) ||
	    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, h.iv) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &outl, blob, (int)h.aad_len) != 1) {
		fail(reason, "io: cannot set up the cipher");
		goto out;
	}
	for (size_t o = 0; o < body;) {
		size_t k = body - o > CHUNK ? CHUNK : body - o;
		if (EVP_DecryptUpdate(c, buf, &outl, blob + h.len + o, (int)k) != 1) {
			fail(reason, "decrypt_failed");
			goto out;
		}
		if (cl_raw_write_all(fd, buf, (size_t)outl) != 0) {
			fail(reason, "no_space: %.60s: %s", staging, strerror(errno));
			goto out;
		}
		o += k;
	}
	/* the tag: nothing of the plaintext is read before it verifies */
	if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, sizeof(tag), tag) != 1 ||
	    EVP_DecryptFinal_ex(c, buf, &outl) != 1) {
		fail(reason, "decrypt_failed");
		goto out;
	}
	if (body == 0 || (map = mmap(NULL, body, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		fail(reason, "bad_state: (archive): %s", body ? strerror(errno) : "empty");
		goto out;
	}
	rc = extract(map, body, dest, reason);
out:
	if (map != MAP_FAILED)
		munmap(map, body);
	if (fd >= 0) {
		close(fd);
		unlink(staging);
	}
	if (buf)
		OPENSSL_cleanse(buf, CHUNK + 32);
	free(buf);
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int cl_init_state_take_extends(const char *dir, uint8_t ext[][CL_STATE_EXTEND_LEN], size_t *n,
			       char reason[CL_INIT_STATE_REASON_MAX])
{
	uint8_t file[CL_STATE_FILE_MAX + 1];
	const char *why = "";
	struct stat st;
	ssize_t r = 0;
	size_t got = 0;
	int rc = -1, dfd = -1, fd = -1;
	*n = 0;
	reason[0] = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail(reason, "io: %.60s: %s", dir, strerror(errno));
	if ((fd = openat(dfd, CL_STATE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			rc = 0; /* a blob without the file: no extends */
		else
			fail(reason, "bad_state: %s: %s", CL_STATE_FILE, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fail(reason, "bad_state: %s: not a regular file", CL_STATE_FILE);
		goto out;
	}
	while (got < sizeof(file) && (r = read(fd, file + got, sizeof(file) - got)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fail(reason, "bad_state: %s: %s", CL_STATE_FILE, strerror(errno));
			goto out;
		}
		got += (size_t)r;
	}
	if (got > CL_STATE_FILE_MAX) {
		fail(reason, "bad_state: %s: larger than %zu bytes", CL_STATE_FILE, (size_t)CL_STATE_FILE_MAX);
		goto out;
	}
	if (cl_state_file_parse(file, got, ext, n, &why) != CL_OK) {
		fail(reason, "bad_state: %s: %s", CL_STATE_FILE, why);
		goto out;
	}
	if (unlinkat(dfd, CL_STATE_FILE, 0) != 0) {
		*n = 0;
		fail(reason, "io: %s: %s", CL_STATE_FILE, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return rc;
}
