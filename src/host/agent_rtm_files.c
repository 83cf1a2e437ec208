/* agent_rtm_files.c — the files a measure reads (agent_rtm.h): init's FILES
 * list parsed, each path hashed through the enclave's root. The list is an
 * enclave's word: every path is resolved inside the root (openat2
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), the last component is never
 * followed, only regular files are opened for reading, and their size, the
 * set's byte and count bounds and the pause's deadline bound the reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/util.h"
#include "host/agent_rtm.h"

cl_err cl_rtm_files_parse(const uint8_t *p, size_t len, char ***paths, char **store, size_t *n)
{
	*paths = NULL;
	*store = NULL;
	*n = 0;
	if (len == 0)
		return CL_OK; /* no list (yet) */
	CL_ENSURE(len <= CL_FILES_BYTES, CL_ELIMIT, "measure: the enclave's file list is over %u bytes",
		  CL_FILES_BYTES);
	CL_ENSURE(!(p[0] & CL_FILES_TRUNCATED), CL_ELIMIT,
		  "measure: the enclave has more files than are measured (%u paths, %u KiB of list)",
		  (unsigned)CL_FILES_MAX, CL_FILES_BYTES >> 10);
	CL_ENSURE(p[0] == 0, CL_EINVAL, "measure: the enclave's file list has unknown flags");
	CL_ENSURE(len == 1 || p[len - 1] == '\0', CL_EINVAL, "measure: the enclave's file list is not terminated");
	size_t count = 0;
	for (size_t i = 1; i < len; i++)
		count += p[i] == '\0';
	CL_ENSURE(count <= CL_RTM_MAX_FILES, CL_ELIMIT, "measure: the enclave reports more than %u files",
		  (unsigned)CL_RTM_MAX_FILES);
	char *s = malloc(len);
	char **v = calloc(count ? count : 1, sizeof(*v));
	if (!s || !v) {
		free(s), free(v);
		return cl_errorf(CL_ENOMEM, "out of memory");
	}
	memcpy(s, p + 1, len - 1);
	size_t k = 0;
	for (size_t at = 0; at < len - 1;) {
		size_t pl = strlen(s + at);
		if (pl == 0 || s[at] != '/' || pl >= CL_RTM_PATH_MAX) {
			const char *why = pl == 0 ? "empty" : s[at] != '/' ? "not absolute" : "too long";
			free(s), free(v);
			return cl_errorf(CL_EINVAL, "measure: the enclave's file list holds a path that is %s", why);
		}
		v[k++] = s + at;
		at += pl + 1;
	}
	*paths = v;
	*store = s;
	*n = k;
	return CL_OK;
}

/* Opens path under root with how's flags and resolve rules. */
static int open_in(int root, const char *path, uint64_t flags)
{
	struct open_how how = {
		.flags = flags | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
}

/* SHA-384 of at most size bytes of fd (fewer if the file is shorter now). */
static cl_err hash_fd(int fd, uint64_t size, uint64_t deadline_ns, uint8_t *buf, uint64_t *got, uint8_t digest[48])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int dl = 0;
	cl_err err = CL_OK;
	*got = 0;
	if (!md || EVP_DigestInit_ex(md, EVP_sha384(), NULL) != 1) {
		err = cl_errorf(CL_EINTERNAL, "measure: cannot hash");
		goto out;
	}
	while (*got < size) {
		if (cl_now_mono_ns() > deadline_ns) {
			err = cl_errorf(CL_ETIMEOUT, "measure: the pause's bound passed while reading");
			goto out;
		}
		size_t want = size - *got < CL_RTM_CHUNK ? (size_t)(size - *got) : CL_RTM_CHUNK;
		ssize_t r = pread(fd, buf, want, (off_t)*got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = cl_errorf(CL_ESYS, "measure: read of a reported file: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break; /* shorter than its size said */
		if (EVP_DigestUpdate(md, buf, (size_t)r) != 1) {
			err = cl_errorf(CL_EINTERNAL, "measure: cannot hash");
			goto out;
		}
		*got += (uint64_t)r;
	}
	if (EVP_DigestFinal_ex(md, digest, &dl) != 1 || dl != 48)
		err = cl_errorf(CL_EINTERNAL, "measure: cannot hash");
out:
	EVP_MD_CTX_free(md);
	return err;
}

/* One path's region. */
static cl_err hash_one(int root, const char *path, uint64_t deadline_ns, uint8_t *buf, cl_rtm_set *s)
{
	uint8_t digest[48];
	char kind;
	uint64_t size = 0;
	struct stat st;
	int pfd = open_in(root, path, O_PATH), fd = -1;
	cl_err err = CL_OK;
	if (pfd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			kind = CL_RTM_FILE_MISSING;
		else if (errno == EXDEV || errno == ELOOP || errno == EACCES || errno == EPERM)
			kind = CL_RTM_FILE_REFUSED;
		else
			return cl_errorf(CL_ESYS, "measure: open %s in the enclave: %s", path, strerror(errno));
		CL_GUARD(cl_sha384("", 0, digest));
		return cl_rtm_add_file(s, path, kind, 0, digest);
	}
	if (fstat(pfd, &st) != 0) {
		err = cl_errorf(CL_ESYS, "measure: stat %s in the enclave: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		kind = CL_RTM_FILE_REG;
		if ((uint64_t)st.st_size > CL_RTM_MAX_BYTES - s->bytes) {
			err = cl_errorf(CL_ELIMIT, "measure: more than %llu MiB of code and data",
					(unsigned long long)(CL_RTM_MAX_BYTES >> 20));
			goto out;
		}
		/* the same file (the enclave is paused: nothing renames it meanwhile) */
		struct stat st2;
		fd = open_in(root, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
		if (fd < 0 || fstat(fd, &st2) != 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev) {
			err = cl_errorf(CL_ESYS, "measure: open %s in the enclave: %s", path,
					fd < 0 ? strerror(errno) : "it changed while paused");
			goto out;
		}
		CL_GUARD_OUT(err, hash_fd(fd, (uint64_t)st.st_size, deadline_ns, buf, &size, digest));
	} else if (S_ISLNK(st.st_mode)) {
		char target[CL_RTM_PATH_MAX];
		ssize_t tl = readlinkat(pfd, "", target, sizeof(target));
		if (tl < 0) {
			err = cl_errorf(CL_ESYS, "measure: readlink %s in the enclave: %s", path, strerror(errno));
			goto out;
		}
		kind = CL_RTM_FILE_LNK;
		size = (uint64_t)tl;
		CL_GUARD_OUT(err, cl_sha384(target, (size_t)tl, digest));
	} else {
		kind = S_ISDIR(st.st_mode) ? CL_RTM_FILE_DIR : CL_RTM_FILE_OTHER;
		CL_GUARD_OUT(err, cl_sha384("", 0, digest));
	}
	err = cl_rtm_add_file(s, path, kind, size, digest);
out:
	if (fd >= 0)
		close(fd);
	close(pfd);
	return err;
}

cl_err cl_rtm_hash_files(int root, char *const *paths, size_t n, uint64_t deadline_ns, uint8_t *buf, cl_rtm_set *s)
{
	for (size_t i = 0; i < n; i++) {
		CL_ENSURE(cl_now_mono_ns() <= deadline_ns, CL_ETIMEOUT, "measure: the pause's bound passed while reading");
		CL_GUARD(hash_one(root, paths[i], deadline_ns, buf, s));
	}
	return CL_OK;
}
