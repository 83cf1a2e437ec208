/* store_disk.c — running on a full disk (store.h "a full disk").
 *
 * A DELETE in SQLite's WAL mode appends to the WAL before it frees a page,
 * so on a full disk the deletes that would make room fail like everything
 * else. DATA/reserve holds CTL_STORE_RESERVE_BYTES of allocated blocks for
 * that moment: a change that frees space and fails for lack of it releases
 * the reserve and runs again. The reserve returns once the disk has room
 * for it (plus half of it, so that it does not take the last bytes a client
 * is waiting for); until then bulk writes are refused, so the room the
 * reserve left goes to deletes and the API's small writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "control/store_priv.h"

#define RESERVE_MARGIN (CTL_STORE_RESERVE_BYTES / 2)

static void reserve_path(const ctl_store *st, char *out, size_t n, const char *suffix)
{
	snprintf(out, n, "%s/reserve%s", st->dir, suffix);
}

/* Bytes an unprivileged writer may still use on the data dir's file system
 * (UINT64_MAX if unknown: never refuse on a failed statvfs). */
static uint64_t free_bytes(const ctl_store *st)
{
	struct statvfs v;
	if (statvfs(st->dir, &v) != 0)
		return UINT64_MAX;
	return (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
}

/* The reserve is a regular file of the full size whose blocks are allocated
 * (not sparse: a sparse file would free nothing when deleted). */
static bool reserve_present(const ctl_store *st)
{
	char path[PATH_MAX + 16];
	struct stat sb;
	reserve_path(st, path, sizeof(path), "");
	return lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == (off_t)CTL_STORE_RESERVE_BYTES &&
	       (uint64_t)sb.st_blocks * 512u >= CTL_STORE_RESERVE_BYTES;
}

/* Writes the reserve under a temp name and renames it into place. */
static cl_err reserve_create(ctl_store *st)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 16];
	reserve_path(st, path, sizeof(path), "");
	reserve_path(st, tmp, sizeof(tmp), ".tmp");
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cl_errorf(cl_errno_write_err(errno, CL_EIO), "create %s: %s", tmp, strerror(errno));
	int rc = posix_fallocate(fd, 0, (off_t)CTL_STORE_RESERVE_BYTES); /* returns the errno */
	if (rc == 0 && fsync(fd) != 0)
		rc = errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = errno;
	if (rc != 0) {
		unlink(tmp);
		return cl_errorf(cl_errno_write_err(rc, CL_EIO), "cannot create the disk reserve %s: %s", path,
				 strerror(rc));
	}
	return CL_OK;
}

cl_err ctl_store_reserve_init(ctl_store *st)
{
	char path[PATH_MAX + 16];
	st->reserve_on = true;
	if (reserve_present(st))
		return CL_OK;
	reserve_path(st, path, sizeof(path), "");
	if (unlink(path) != 0 && errno != ENOENT) /* a torn one (a kill while it was made) */
		return cl_errorf(CL_EIO, "remove %s: %s", path, strerror(errno));
	ctl_store_reserve_restore(st);
	if (!reserve_present(st))
		cl_warn("no disk reserve: the data directory's disk is nearly full; free space so that deletes can "
			"run when it fills dir=%s free_bytes=%llu",
			st->dir, (unsigned long long)free_bytes(st));
	cl_error_clear();
	return CL_OK;
}

bool ctl_store_reserve_held(ctl_store *st)
{
	return !st->reserve_on || reserve_present(st);
}

bool ctl_store_reserve_release(ctl_store *st)
{
	char path[PATH_MAX + 16];
	if (!st->reserve_on)
		return false;
	reserve_path(st, path, sizeof(path), "");
	if (unlink(path) != 0)
		return false;
	cl_warn("disk full: the disk reserve was released so that deletes can run; uploads and images are "
		"refused until it is back dir=%s",
		st->dir);
	return true;
}

void ctl_store_reserve_restore(ctl_store *st)
{
	if (!st->reserve_on || reserve_present(st))
		return;
	if (free_bytes(st) < (uint64_t)CTL_STORE_RESERVE_BYTES + RESERVE_MARGIN)
		return;
	if (reserve_create(st) != CL_OK) {
		cl_debug("disk reserve not restored err=\"%s\"", cl_error_detail());
		cl_error_clear();
		return;
	}
	cl_info("disk reserve in place bytes=%u dir=%s", CTL_STORE_RESERVE_BYTES, st->dir);
}

cl_err ctl_store_space_check(ctl_store *st, uint64_t need)
{
	if (!ctl_store_reserve_held(st))
		ctl_store_reserve_restore(st);
	CL_ENSURE(ctl_store_reserve_held(st), CL_ENOSPACE,
		  "the control plane's disk is full (its reserve for deletes is in use): delete uploads or images, "
		  "or free space in its data directory, and retry");
	uint64_t left = free_bytes(st);
	CL_ENSURE(left >= need, CL_ENOSPACE,
		  "the control plane's disk is full (%llu bytes free, %llu needed): delete uploads or images, or "
		  "free space in its data directory, and retry",
		  (unsigned long long)left, (unsigned long long)need);
	return CL_OK;
}

cl_err ctl_store_file_err(ctl_store *st, cl_err e, const char *what)
{
	if (e != CL_ENOSPACE)
		return e;
	char detail[256];
	snprintf(detail, sizeof(detail), "%s", cl_error_detail());
	ctl_store_log_failure(st, what, 0, detail);
	return cl_errorf(CL_ENOSPACE,
			 "%s: the control plane's disk is full: delete uploads or images, or free space in its data "
			 "directory, and retry",
			 what);
}

/* One attempt: begin, fn, commit; rolled back on failure. */
static cl_err tx_once(ctl_store *st, ctl_store_tx_fn fn, void *arg)
{
	CL_GUARD(ctl_store_begin(st));
	cl_err err = fn(st, arg);
	if (err == CL_OK)
		err = ctl_store_commit(st);
	if (err != CL_OK)
		ctl_store_rollback(st);
	return err;
}

cl_err ctl_store_tx_freeing(ctl_store *st, ctl_store_tx_fn fn, void *arg)
{
	cl_err err = tx_once(st, fn, arg);
	if (err != CL_ENOSPACE || !ctl_store_reserve_release(st))
		return err;
	return tx_once(st, fn, arg);
}
