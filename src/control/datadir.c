/* datadir.c — DATA's layout and its migration from the single-process
 * layout (supervisor.h ctl_datadir_prepare, docs/control.md). Runs in the
 * supervisor before any part starts: nothing else touches DATA then. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"
#include "control/supervisor.h"

static const char *const key_files[] = {"ca.key", "server.key", "server.pem"};
/* The database and what SQLite keeps next to it: the WAL holds committed
 * transactions, so it travels with the database (either order is safe:
 * nothing opens the store until every file is in place). */
static const char *const db_files[] = {"control.db", "control.db-wal", "control.db-shm", "control.db-journal",
				       "reserve"};
static const char *const worker_dirs[] = {"db", "images", "uploads", "fw_ops", "state"};

static bool present(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* Moves DATA/name into DATA/sub/name (one rename: atomic). A file in both
 * places is left as it is: *both tells the caller. */
static cl_err move_one(const char *data, const char *sub, const char *name, bool *both)
{
	char from[PATH_MAX + 32], to[PATH_MAX + 32];
	*both = false;
	snprintf(from, sizeof(from), "%s/%s", data, name);
	snprintf(to, sizeof(to), "%s/%s/%s", data, sub, name);
	if (!present(from))
		return CL_OK;
	if (present(to)) {
		*both = true;
		return CL_OK;
	}
	CL_ENSURE(rename(from, to) == 0, CL_EIO, "cannot move %s to %s: %s", from, to, strerror(errno));
	cl_info("data directory: moved %s to %s/%s", name, sub, name);
	return CL_OK;
}

static cl_err make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return cl_errorf(CL_EIO, "cannot create %s: %s", path, strerror(errno));
	struct stat st;
	CL_ENSURE(lstat(path, &st) == 0 && S_ISDIR(st.st_mode), CL_EIO, "%s is not a directory", path);
	return CL_OK;
}

static uid_t chown_uid;
static gid_t chown_gid;

/* A file that goes away during the walk (a previous worker's SQLite
 * journal or upload part, removed as it dies) is not an error: nftw then
 * reports it FTW_NS (st undefined) or lchown finds it gone. */
static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_NS)
		return 0;
	if ((st->st_uid != chown_uid || st->st_gid != chown_gid) && lchown(path, chown_uid, chown_gid) != 0 &&
	    errno != ENOENT)
		return -1;
	return 0;
}

cl_err ctl_datadir_prepare(const char *data, const ctl_ids *ids)
{
	char path[PATH_MAX + 32];
	bool both = false;
	/* DATA: the monitor's and the worker's parent. As root, the worker's
	 * group may enter it (0710) and nobody else; it lists nothing. */
	if (ids->root) {
		CL_ENSURE(chown(data, 0, ids->gid) == 0 && chmod(data, 0710) == 0, CL_EIO, "cannot set up %s: %s", data,
			  strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/keys", data);
	CL_GUARD(make_dir(path, 0700));
	CL_ENSURE(chmod(path, 0700) == 0, CL_EIO, "cannot chmod %s: %s", path, strerror(errno));
	if (ids->root)
		CL_ENSURE(chown(path, 0, 0) == 0, CL_EIO, "cannot chown %s: %s", path, strerror(errno));
	for (size_t i = 0; i < sizeof(worker_dirs) / sizeof(worker_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", data, worker_dirs[i]);
		CL_GUARD(make_dir(path, 0700));
	}
	for (size_t i = 0; i < sizeof(key_files) / sizeof(key_files[0]); i++) {
		CL_GUARD(move_one(data, "keys", key_files[i], &both));
		if (both)
			cl_warn("data directory: %s/%s and %s/keys/%s both exist: keys/ is used, the other is left "
				"for you to remove",
				data, key_files[i], data, key_files[i]);
	}
	for (size_t i = 0; i < sizeof(db_files) / sizeof(db_files[0]); i++) {
		CL_GUARD(move_one(data, "db", db_files[i], &both));
		CL_ENSURE(!both, CL_ECONFLICT,
			  "%s/%s and %s/db/%s both exist: move one away (the store is in db/ since this version)", data,
			  db_files[i], data, db_files[i]);
	}
	/* The worker's directories and everything in them are its own, also
	 * files an earlier version made as root. */
	if (ids->root) {
		chown_uid = ids->uid;
		chown_gid = ids->gid;
		for (size_t i = 0; i < sizeof(worker_dirs) / sizeof(worker_dirs[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", data, worker_dirs[i]);
			CL_ENSURE(nftw(path, chown_entry, 16, FTW_PHYS) == 0, CL_EIO, "cannot chown %s: %s", path,
				  strerror(errno));
		}
	}
	return CL_OK;
}

cl_err ctl_datadir_reach(const char *data, ctl_ids *ids)
{
	char path[PATH_MAX];
	struct stat st;
	ids->keep_dac_search = false;
	if (!ids->root)
		return CL_OK; /* the worker is the caller: it reached DATA already */
	snprintf(path, sizeof(path), "%s", data);
	for (char *slash = strrchr(path, '/'); slash; slash = strrchr(path, '/')) {
		*slash = '\0';
		const char *dir = path[0] ? path : "/";
		CL_ENSURE(stat(dir, &st) == 0, CL_EIO, "stat %s: %s", dir, strerror(errno));
		bool ok = (st.st_mode & S_IXOTH) || (st.st_gid == ids->gid && (st.st_mode & S_IXGRP)) ||
			  (st.st_uid == ids->uid && (st.st_mode & S_IXUSR));
		if (ok)
			continue;
		CL_ENSURE(cl_harden_landlock_abi() > 0, CL_EPERM,
			  "the worker (uid %u) cannot reach %s: %s is not searchable by it (chmod o+x %s) and this "
			  "kernel has no Landlock to confine a worker that bypasses it",
			  (unsigned)ids->uid, data, dir, dir);
		cl_warn("data directory: %s is not searchable by the worker (uid %u): it keeps CAP_DAC_READ_SEARCH, "
			"confined by Landlock to its own directories; chmod o+x %s to drop that",
			dir, (unsigned)ids->uid, dir);
		ids->keep_dac_search = true;
		return CL_OK;
	}
	return CL_OK;
}
