/* image_build.c — writing Cloister image files.
 *
 * Two passes over the inputs: the first measures and hashes each file so the
 * manifest can be written first; the second streams the bytes into a temp file
 * beside the output, re-hashing them, and fails if any input changed in
 * between. The manifest is validated with the parser's own checks before a
 * byte is written, and the result is published with fsync + rename, so a
 * reader sees either the old file or a complete new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/util.h"
#include "image/image.h"
#include "image/image_internal.h"

#define DEFAULT_VERSION "0.0.0"

typedef struct measured {
	uint64_t size;
	uint32_t mode;
	uint8_t sha384[CL_SHA384_LEN];
} measured;

static cl_err write_all(int fd, const void *p, size_t n, const char *path)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return cl_errorf(cl_errno_write_err(errno, CL_EIO), "write %s: %s", path, strerror(errno));
		c += w;
		n -= (size_t)w;
	}
	return CL_OK;
}

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISLNK(mode))
		return "a symbolic link";
	return "not a regular file";
}

/* Opens an input for reading, refusing everything but a regular file
 * before opening it (opening a FIFO blocks until a writer comes, opening a
 * device may do anything) and a symbolic link unless follow is set: a link
 * would silently pack whatever it points to, e.g. a secret outside the tree
 * meant to be packed. O_NONBLOCK and the device/inode check catch a swap
 * between the check and the open. *fd and *st on success. */
static cl_err open_input(const char *src, bool follow, int *fd, struct stat *st)
{
	struct stat lst, before;
	if (lstat(src, &lst) != 0)
		return cl_errorf(errno == ENOENT ? CL_ENOTFOUND : CL_EIO, "open %s: %s", src, strerror(errno));
	if (S_ISLNK(lst.st_mode)) {
		CL_ENSURE(follow, CL_EINVAL,
			  "%s is a symbolic link: refused (it would pack whatever it points to); name the file "
			  "itself, or pass --follow-symlinks to pack the link's target",
			  src);
		if (stat(src, &before) != 0) {
			int e = errno;
			CL_ENSURE(e != ELOOP, CL_EINVAL, "%s: symbolic link loop", src);
			CL_ENSURE(e != ENOENT, CL_ENOTFOUND, "%s: the symbolic link points to nothing (dangling)", src);
			return cl_errorf(CL_EIO, "stat %s: %s", src, strerror(e));
		}
	} else {
		before = lst;
	}
	CL_ENSURE(S_ISREG(before.st_mode), CL_EINVAL, "%s is %s: only regular files can be packed", src,
		  file_kind(before.st_mode));
	int f = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
	if (f < 0)
		return cl_errorf(errno == ENOENT ? CL_ENOTFOUND : CL_EIO, "open %s: %s", src, strerror(errno));
	if (fstat(f, st) != 0 || !S_ISREG(st->st_mode) || st->st_dev != before.st_dev || st->st_ino != before.st_ino) {
		close(f);
		return cl_errorf(CL_ECONFLICT, "%s changed while the image was being built", src);
	}
	*fd = f;
	return CL_OK;
}

/* Reads src to EOF, hashing it and copying it to out_fd if >= 0. At most
 * `limit` bytes are accepted. */
static cl_err stream_file(const char *src, bool follow, uint64_t limit, int out_fd, const char *out_path,
			  measured *m)
{
	int fd = -1;
	struct stat st;
	CL_GUARD(open_input(src, follow, &fd, &st));
	cl_err err = CL_OK;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t chunk[65536];
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) != 1) {
		err = cl_errorf(CL_EINTERNAL, "sha384 init failed");
		goto out;
	}
	m->mode = st.st_mode & 0777;
	m->size = 0;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = cl_errorf(CL_EIO, "read %s: %s", src, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if ((uint64_t)r > limit - m->size) {
			err = cl_errorf(CL_ETOOBIG, "%s: the image would exceed %llu bytes", src,
					(unsigned long long)CL_IMAGE_MAX_SIZE);
			goto out;
		}
		m->size += (uint64_t)r;
		if (EVP_DigestUpdate(ctx, chunk, (size_t)r) != 1) {
			err = cl_errorf(CL_EINTERNAL, "sha384 update failed");
			goto out;
		}
		if (out_fd >= 0)
			CL_GUARD_OUT(err, write_all(out_fd, chunk, (size_t)r, out_path));
	}
	unsigned int dlen = 0;
	if (EVP_DigestFinal_ex(ctx, m->sha384, &dlen) != 1 || dlen != CL_SHA384_LEN)
		err = cl_errorf(CL_EINTERNAL, "sha384 final failed");
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return err;
}

static cl_err add_string_array(json_t *root, const char *key, const char *const *items)
{
	json_t *arr = json_array();
	CL_ENSURE(arr && json_object_set_new(root, key, arr) == 0, CL_ENOMEM, "out of memory");
	for (size_t i = 0; items && items[i]; i++)
		CL_ENSURE(json_array_append_new(arr, json_string(items[i])) == 0, CL_EINVAL,
			  "argument #%zu is not valid UTF-8", i);
	return CL_OK;
}

static cl_err make_manifest(const cl_image_spec *spec, const measured *m, char **out)
{
	cl_err err = CL_OK;
	json_t *root = json_object(), *files = json_array();
	if (!root || !files) {
		json_decref(files);
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	json_object_set_new(root, "format", json_integer(1));
	json_t *name = json_string(spec->name);
	json_t *ver = json_string(spec->version ? spec->version : DEFAULT_VERSION);
	json_t *ep = json_string(spec->entrypoint);
	if (!name || !ver || !ep) {
		json_decref(name);
		json_decref(ver);
		json_decref(ep);
		json_decref(files);
		err = cl_errorf(CL_EINVAL, "name, version and entrypoint must be valid UTF-8");
		goto out;
	}
	json_object_set_new(root, "name", name);
	json_object_set_new(root, "version", ver);
	json_object_set_new(root, "entrypoint", ep);
	if ((err = add_string_array(root, "args", spec->args)) != CL_OK) {
		json_decref(files);
		goto out;
	}
	json_object_set_new(root, "files", files);
	for (size_t i = 0; i < spec->ninputs; i++) {
		char hex[2 * CL_SHA384_LEN + 1];
		cl_hex_encode(m[i].sha384, CL_SHA384_LEN, hex);
		json_t *f = json_pack("{s:s, s:I, s:I, s:s}", "path", spec->inputs[i].dest, "mode",
				      (json_int_t)m[i].mode, "size", (json_int_t)m[i].size, "sha384", hex);
		if (!f || json_array_append_new(files, f) != 0) {
			err = cl_errorf(CL_EINVAL, "cannot encode file entry for %s", spec->inputs[i].dest);
			goto out;
		}
	}
	*out = json_dumps(root, JSON_COMPACT);
	if (!*out)
		err = cl_errorf(CL_ENOMEM, "cannot encode manifest");
out:
	json_decref(root);
	return err;
}

static cl_err fsync_parent(const char *path)
{
	char tmp[PATH_MAX];
	CL_ENSURE(snprintf(tmp, sizeof(tmp), "%s", path) < (int)sizeof(tmp), CL_EINVAL, "path too long");
	int dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CL_ENSURE(dfd >= 0, CL_EIO, "open directory of %s: %s", path, strerror(errno));
	int rc = fsync(dfd);
	close(dfd);
	CL_ENSURE(rc == 0, CL_EIO, "fsync directory of %s: %s", path, strerror(errno));
	return CL_OK;
}

/* Writes header, manifest and payload to a temp file, then renames it over out_path. */
static cl_err write_image(const cl_image_spec *spec, bool follow, const measured *m, const char *manifest,
			  const char *out_path)
{
	char tmp[PATH_MAX];
	CL_ENSURE(snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", out_path) < (int)sizeof(tmp), CL_EINVAL,
		  "output path too long");
	int fd = mkostemp(tmp, O_CLOEXEC);
	CL_ENSURE(fd >= 0, cl_errno_write_err(errno, CL_EIO), "create %s: %s", tmp, strerror(errno));
	cl_err err = CL_OK;
	size_t mlen = strlen(manifest);
	uint8_t hdr[CL_IMAGE_HEADER_LEN];
	memcpy(hdr, CL_IMAGE_MAGIC, 8);
	hdr[8] = (uint8_t)(mlen >> 24);
	hdr[9] = (uint8_t)(mlen >> 16);
	hdr[10] = (uint8_t)(mlen >> 8);
	hdr[11] = (uint8_t)mlen;
	CL_GUARD_OUT(err, write_all(fd, hdr, sizeof(hdr), tmp));
	CL_GUARD_OUT(err, write_all(fd, manifest, mlen, tmp));
	for (size_t i = 0; i < spec->ninputs; i++) {
		measured again;
		CL_GUARD_OUT(err, stream_file(spec->inputs[i].src, follow, m[i].size, fd, tmp, &again));
		if (again.size != m[i].size || memcmp(again.sha384, m[i].sha384, CL_SHA384_LEN) != 0) {
			err = cl_errorf(CL_ECONFLICT, "%s changed while the image was being built",
					spec->inputs[i].src);
			goto out;
		}
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		err = cl_errorf(cl_errno_write_err(errno, CL_EIO), "fsync %s: %s", tmp, strerror(errno));
		goto out;
	}
	int rc = close(fd);
	fd = -1;
	if (rc != 0) {
		err = cl_errorf(cl_errno_write_err(errno, CL_EIO), "close %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, out_path) != 0) {
		err = cl_errorf(CL_EIO, "rename to %s: %s", out_path, strerror(errno));
		goto out;
	}
	return fsync_parent(out_path);
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return err;
}

cl_err cl_image_build(const cl_image_spec *spec, const char *out_path)
{
	return cl_image_build_flags(spec, out_path, 0);
}

cl_err cl_image_build_flags(const cl_image_spec *spec, const char *out_path, unsigned flags)
{
	bool follow = (flags & CL_IMAGE_FOLLOW_SYMLINKS) != 0;
	CL_ENSURE(spec && out_path && *out_path, CL_EINVAL, "no image spec or output path");
	CL_ENSURE(spec->name && spec->entrypoint, CL_EINVAL, "an image needs a name and an entrypoint");
	CL_ENSURE(spec->ninputs > 0 && spec->inputs, CL_EINVAL, "an image needs at least one file");
	CL_ENSURE(spec->ninputs <= CL_IMAGE_MAX_FILES, CL_ETOOBIG, "an image holds at most %u files",
		  CL_IMAGE_MAX_FILES);
	for (size_t i = 0; i < spec->ninputs; i++) {
		CL_ENSURE(spec->inputs[i].src && spec->inputs[i].dest, CL_EINVAL, "input #%zu is incomplete", i);
		CL_GUARD(cl_image_check_path(spec->inputs[i].dest, "destination"));
	}
	measured *m = calloc(spec->ninputs, sizeof(*m));
	CL_ENSURE(m, CL_ENOMEM, "out of memory");
	cl_err err = CL_OK;
	char *manifest = NULL;
	cl_image *check = NULL;
	uint64_t total = 0;
	for (size_t i = 0; i < spec->ninputs; i++) {
		CL_GUARD_OUT(err, stream_file(spec->inputs[i].src, follow, CL_IMAGE_MAX_SIZE - total, -1,
					      NULL, &m[i]));
		total += m[i].size;
	}
	CL_GUARD_OUT(err, make_manifest(spec, m, &manifest));
	size_t mlen = strlen(manifest);
	if (mlen > CL_IMAGE_MANIFEST_MAX) {
		err = cl_errorf(CL_ETOOBIG, "manifest is %zu bytes, the limit is %u", mlen, CL_IMAGE_MANIFEST_MAX);
		goto out;
	}
	if (total > CL_IMAGE_MAX_SIZE - CL_IMAGE_HEADER_LEN - mlen) {
		err = cl_errorf(CL_ETOOBIG, "the image would exceed %llu bytes", (unsigned long long)CL_IMAGE_MAX_SIZE);
		goto out;
	}
	/* The parser's own rules (names, paths, duplicates, entrypoint): an
	 * image this function writes is always one cl_image_parse accepts. */
	CL_GUARD_OUT(err, cl_image_manifest_load(manifest, mlen, CL_IMAGE_HEADER_LEN + mlen, total, false, &check));
	CL_GUARD_OUT(err, write_image(spec, follow, m, manifest, out_path));
out:
	cl_image_free(check);
	free(manifest);
	free(m);
	return err;
}
