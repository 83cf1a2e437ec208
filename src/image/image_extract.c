/* image_extract.c — writing an image's files into a directory.
 *
 * Everything is relative to a directory fd and no symlink is ever followed:
 * parents are opened one component at a time with O_NOFOLLOW|O_DIRECTORY and
 * files are created with O_CREAT|O_EXCL|O_NOFOLLOW, so an entry planted in the
 * target (a symlink, a file where a directory should be, an existing file)
 * makes the extraction fail instead of writing outside the tree. A first pass
 * looks for such entries before anything is created, so a refused extraction
 * normally leaves the directory as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "image/image_internal.h"

/* Checks that path's parents are real directories or absent and that path
 * itself does not exist yet. */
static cl_err precheck(int dirfd, const char *path)
{
	char prefix[CL_IMAGE_PATH_MAX + 1];
	size_t len = strlen(path);
	CL_ENSURE(len <= CL_IMAGE_PATH_MAX, CL_EINVAL, "path too long");
	memcpy(prefix, path, len + 1);
	for (size_t i = 0; i <= len; i++) {
		if (prefix[i] != '/' && prefix[i] != '\0')
			continue;
		char saved = prefix[i];
		prefix[i] = '\0';
		struct stat st;
		int rc = fstatat(dirfd, prefix, &st, AT_SYMLINK_NOFOLLOW);
		int e = errno;
		prefix[i] = saved;
		if (rc != 0 && e == ENOENT)
			return CL_OK; /* nothing below an absent entry can exist */
		CL_ENSURE(rc == 0, CL_ESYS, "stat %.*s: %s", (int)i, path, strerror(e));
		if (saved == '\0')
			return cl_errorf(CL_ECONFLICT, "refusing to overwrite existing entry %s", path);
		CL_ENSURE(S_ISDIR(st.st_mode), CL_ECONFLICT, "refusing to extract %s: %.*s is not a directory",
			  path, (int)i, path);
	}
	return CL_OK;
}

/* Opens (creating as needed, mode 0755) the parent directory of path, one
 * component at a time without following symlinks. *leaf points into path. */
static cl_err open_parent(int dirfd, const char *path, int *out_fd, const char **leaf)
{
	char comp[CL_IMAGE_PATH_MAX + 1];
	int cur = dirfd;
	const char *p = path, *slash;
	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (mkdirat(cur, comp, 0755) != 0 && errno != EEXIST) {
			int e = errno;
			if (cur != dirfd)
				close(cur);
			return cl_errorf(CL_ESYS, "mkdir %.*s: %s", (int)(slash - path), path, strerror(e));
		}
		int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		if (cur != dirfd)
			close(cur);
		if (next < 0)
			return cl_errorf(e == ELOOP || e == ENOTDIR ? CL_ECONFLICT : CL_ESYS,
					 "refusing to extract %s: %.*s is not a directory (%s)", path,
					 (int)(slash - path), path, strerror(e));
		cur = next;
		p = slash + 1;
	}
	*out_fd = cur;
	*leaf = p;
	return CL_OK;
}

static cl_err extract_one(int dirfd, const cl_image_file *f, const uint8_t *data)
{
	int pfd;
	const char *leaf;
	CL_GUARD(open_parent(dirfd, f->path, &pfd, &leaf));
	int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int e = errno;
	if (pfd != dirfd)
		close(pfd);
	if (fd < 0)
		return cl_errorf(e == EEXIST ? CL_ECONFLICT : CL_ESYS, "create %s: %s", f->path, strerror(e));
	cl_err err = CL_OK;
	const uint8_t *p = data + f->offset;
	uint64_t left = f->size;
	while (left) {
		size_t chunk = left > (1u << 20) ? (1u << 20) : (size_t)left;
		ssize_t w = write(fd, p, chunk);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = cl_errorf(CL_EIO, "write %s: %s", f->path, strerror(errno));
			break;
		}
		p += w;
		left -= (uint64_t)w;
	}
	/* fchmod, not the create mode: the umask must not change what the
	 * manifest (and so the measurement) says. */
	if (err == CL_OK && fchmod(fd, f->mode) != 0)
		err = cl_errorf(CL_ESYS, "chmod %s: %s", f->path, strerror(errno));
	if (close(fd) != 0 && err == CL_OK)
		err = cl_errorf(CL_EIO, "close %s: %s", f->path, strerror(errno));
	return err;
}

cl_err cl_image_extract(const cl_image *img, const uint8_t *data, size_t len, int dirfd)
{
	CL_ENSURE(img && data && dirfd >= 0, CL_EINVAL, "no image, data or directory");
	for (size_t i = 0; i < img->nfiles; i++) {
		const cl_image_file *f = &img->files[i];
		CL_ENSURE(f->offset <= len && f->size <= len - f->offset, CL_EINVAL,
			  "image data does not match the parsed image");
	}
	for (size_t i = 0; i < img->nfiles; i++)
		CL_GUARD(precheck(dirfd, img->files[i].path));
	for (size_t i = 0; i < img->nfiles; i++)
		CL_GUARD(extract_one(dirfd, &img->files[i], data));
	return CL_OK;
}
