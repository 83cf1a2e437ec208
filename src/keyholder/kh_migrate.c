/* kh_migrate.c — what the key holder does as root before it drops to its
 * own uid: give it the key directory, and move device keys that an earlier
 * cloister-host kept in the firmware device model (DIR/devices/<addr>/devkey)
 * into the key directory (dev/<addr>.key, the same PKCS#8 PEM).
 *
 * Crash safety of a move: the key is written to a temporary, fsynced and
 * link()ed to its name (which fails if the name exists), the directory is
 * fsynced, and only then is the old file removed (and its directory
 * fsynced). A kill leaves the old file alone, or both: a key file that
 * already exists means an earlier move committed, and the old file is
 * only removed. The bytes are not parsed here (this runs as root); the key
 * holder loads them like any key file once it is its own user, and skips
 * one that is not a P-384 key (docs/keyholder.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "keyholder/kh_internal.h"

#define LEGACY_LEAF "devkey"

/* Gives fd (a directory or a key file, never a link) to uid:gid with mode. */
static cl_err own(int fd, const char *what, uid_t uid, gid_t gid, mode_t mode)
{
	struct stat st;
	CL_ENSURE(fstat(fd, &st) == 0, CL_EIO, "%s: %s", what, strerror(errno));
	CL_ENSURE(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode), CL_EPERM, "%s is neither a directory nor a file", what);
	if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) != 0)
		return cl_errorf(CL_EIO, "%s: chown: %s", what, strerror(errno));
	if ((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0)
		return cl_errorf(CL_EIO, "%s: chmod: %s", what, strerror(errno));
	return CL_OK;
}

/* Every entry of the directory fd (key files, temporaries) to uid:gid. */
static cl_err own_entries(int dfd, const char *what, uid_t uid, gid_t gid)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	cl_err err = CL_OK;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cl_errorf(CL_EIO, "%s: %s", what, strerror(errno));
	}
	while (err == CL_OK && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || e->d_type == DT_DIR)
			continue;
		int f = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (f < 0) {
			/* a link or a special file: the key holder skips it at load */
			cl_warn("key holder: %s/%s left as it is: %s", what, e->d_name, strerror(errno));
			continue;
		}
		struct stat st;
		if (fstat(f, &st) == 0 && S_ISREG(st.st_mode))
			err = own(f, what, uid, gid, st.st_mode & 0600);
		close(f);
	}
	closedir(d);
	return err;
}

cl_err cl_kh_dir_prepare(const char *key_dir, uid_t uid, gid_t gid)
{
	cl_err err = CL_OK;
	if (mkdir(key_dir, 0700) != 0 && errno != EEXIST)
		return cl_errorf(CL_EIO, "key directory %s: %s", key_dir, strerror(errno));
	int top = open(key_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	CL_ENSURE(top >= 0, CL_EIO, "key directory %s: %s", key_dir, strerror(errno));
	CL_GUARD_OUT(err, own(top, key_dir, uid, gid, 0700));
	CL_GUARD_OUT(err, own_entries(top, key_dir, uid, gid));
	for (int i = 0; i < 2 && err == CL_OK; i++) {
		const char *sub = i ? "tls" : "dev";
		if (mkdirat(top, sub, 0700) != 0 && errno != EEXIST) {
			err = cl_errorf(CL_EIO, "key directory %s/%s: %s", key_dir, sub, strerror(errno));
			break;
		}
		int fd = openat(top, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			err = cl_errorf(CL_EIO, "key directory %s/%s: %s", key_dir, sub, strerror(errno));
			break;
		}
		err = own(fd, sub, uid, gid, 0700);
		if (err == CL_OK)
			err = own_entries(fd, sub, uid, gid);
		close(fd);
	}
out:
	close(top);
	return err;
}

static cl_err fsync_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CL_ENSURE(fd >= 0, CL_EIO, "open %s: %s", name, strerror(errno));
	int r = fsync(fd);
	close(fd);
	CL_ENSURE(r == 0, CL_EIO, "fsync %s: %s", name, strerror(errno));
	return CL_OK;
}

/* Reads a regular file of at most cap - 1 bytes (no links) into buf. */
static cl_err read_small(int dfd, const char *name, uint8_t *buf, size_t cap, size_t *n)
{
	struct stat st;
	cl_err err = CL_OK;
	*n = 0;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	CL_ENSURE(fd >= 0, CL_EIO, "open: %s", strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || (size_t)st.st_size >= cap) {
		err = cl_errorf(CL_EPERM, "not a regular file under %zu bytes", cap);
		goto out;
	}
	while (err == CL_OK && *n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + *n, (size_t)st.st_size - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			err = cl_errorf(CL_EIO, "read: %s", r < 0 ? strerror(errno) : "short file");
		*n += r > 0 ? (size_t)r : 0;
	}
out:
	close(fd);
	return err;
}

/* Moves one device's key: devdir/<addr>/devkey -> keydir/dev/<addr>.key. */
static cl_err move_one(int devfd, const char *addr, int keyfd, uid_t uid, gid_t gid, bool *moved)
{
	char slot[CL_KH_SLOT_MAX + 1], file[CL_KH_SLOT_MAX + 8], tmp[CL_KH_SLOT_MAX + 8];
	uint8_t buf[KH_SCRATCH_LEN];
	enum cl_kh_purpose purpose;
	size_t n = 0;
	struct stat st;
	cl_err err = CL_OK;
	int adir = -1, fd = -1;
	*moved = false;
	CL_ENSURE(snprintf(slot, sizeof(slot), "dev/%s", addr) < (int)sizeof(slot) &&
			  kh_slot_purpose(slot, &purpose) == CL_OK,
		  CL_EINVAL, "a device directory name that is no key slot");
	snprintf(file, sizeof(file), "%s.key", slot);
	snprintf(tmp, sizeof(tmp), "dev/.%s.tmp", addr);
	adir = openat(devfd, addr, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	CL_ENSURE(adir >= 0, CL_EIO, "open: %s", strerror(errno));
	if (fstatat(adir, LEGACY_LEAF, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
		goto out; /* nothing to move (already moved, or a device without a key) */
	if (fstatat(keyfd, file, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		CL_GUARD_OUT(err, read_small(adir, LEGACY_LEAF, buf, sizeof(buf), &n));
		unlinkat(keyfd, tmp, 0);
		fd = openat(keyfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			err = cl_errorf(CL_EIO, "create %s: %s", tmp, strerror(errno));
			goto out;
		}
		CL_GUARD_OUT(err, own(fd, tmp, uid, gid, 0600));
		for (size_t off = 0; off < n && err == CL_OK;) {
			ssize_t w = write(fd, buf + off, n - off);
			if (w < 0 && errno != EINTR)
				err = cl_errorf(errno == ENOSPC ? CL_ENOSPACE : CL_EIO, "write %s: %s", tmp, strerror(errno));
			off += w > 0 ? (size_t)w : 0;
		}
		if (err == CL_OK && fsync(fd) != 0)
			err = cl_errorf(CL_EIO, "fsync %s: %s", tmp, strerror(errno));
		if (err == CL_OK && linkat(keyfd, tmp, keyfd, file, 0) != 0 && errno != EEXIST)
			err = cl_errorf(CL_EIO, "link %s: %s", file, strerror(errno));
		unlinkat(keyfd, tmp, 0);
		if (err == CL_OK)
			err = fsync_at(keyfd, "dev");
		if (err != CL_OK)
			goto out;
	}
	/* The key is in the key directory (now, or by an earlier interrupted move). */
	if (unlinkat(adir, LEGACY_LEAF, 0) != 0) {
		err = cl_errorf(CL_EIO, "remove the old key: %s", strerror(errno));
		goto out;
	}
	CL_GUARD_OUT(err, fsync_at(adir, "."));
	*moved = true;
out:
	explicit_bzero(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	if (adir >= 0)
		close(adir);
	return err;
}

cl_err cl_kh_migrate_devkeys(const char *devices_dir, const char *key_dir, uid_t uid, gid_t gid, size_t *moved)
{
	cl_err err = CL_OK;
	*moved = 0;
	int devfd = open(devices_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (devfd < 0 && errno == ENOENT)
		return CL_OK; /* no firmware guard on this host (yet) */
	CL_ENSURE(devfd >= 0, CL_EIO, "%s: %s", devices_dir, strerror(errno));
	int keyfd = open(key_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int dup_fd = keyfd >= 0 ? dup(devfd) : -1;
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *e;
	if (!d) {
		err = cl_errorf(CL_EIO, "key directory %s: %s", key_dir, strerror(errno));
		if (dup_fd >= 0)
			close(dup_fd);
		goto out;
	}
	while (err == CL_OK && (e = readdir(d))) {
		bool one = false;
		if (e->d_name[0] == '.')
			continue;
		err = move_one(devfd, e->d_name, keyfd, uid, gid, &one);
		if (err != CL_OK)
			err = cl_errorf(err, "moving the key of device %s into the key holder: %s", e->d_name,
					cl_error_detail());
		*moved += one;
	}
	closedir(d);
out:
	if (keyfd >= 0)
		close(keyfd);
	close(devfd);
	return err;
}
