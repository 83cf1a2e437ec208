/* sandbox_cgroup.c — an enclave's cgroups, whatever the host's version: the
 * layout is detected once (a pure-v2 host has /sys/fs/cgroup/cgroup.controllers;
 * a hybrid host whose unified tree holds the memory controller is used as v2;
 * otherwise the v1 controllers) and every call goes through that version's
 * ops table (sandbox_cgroup_v1.c, sandbox_cgroup_v2.c). What does not depend
 * on the version is here: creating and removing the directories, moving
 * tasks, waiting for a freeze, killing every task, priming, and the
 * spare-<pid> cgroups of prepared sandboxes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox_cgroup.h"
#include "sandbox/sandbox_internal.h"

static cl_cg_layout layout = CL_CG_NONE;
static const cl_cg_ops *ops;
static char v2_root[64];
static bool detected;

/* ---- helpers shared with the version files ---- */

cl_err cl_cg_write(const char *dir, const char *file, const char *val)
{
	char path[512];
	CL_ENSURE(snprintf(path, sizeof(path), "%s/%s", dir, file) < (int)sizeof(path), CL_EINVAL,
		  "cgroups: path too long");
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return cl_errorf(errno == ENOENT ? CL_ENOTFOUND : CL_ESYS, "cgroups: open %s: %s", path,
				 strerror(errno));
	size_t len = strlen(val);
	ssize_t w = write(fd, val, len);
	int e = errno;
	close(fd);
	if (w != (ssize_t)len)
		return cl_errorf(e == EBUSY ? CL_ECONFLICT : CL_ESYS, "cgroups: write %s to %s: %s", val, path,
				 w < 0 ? strerror(e) : "short write");
	return CL_OK;
}

cl_err cl_cg_read(const char *dir, const char *file, char *out, size_t n)
{
	char path[512];
	CL_ENSURE(snprintf(path, sizeof(path), "%s/%s", dir, file) < (int)sizeof(path), CL_EINVAL,
		  "cgroups: path too long");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cl_errorf(errno == ENOENT ? CL_ENOTFOUND : CL_ESYS, "cgroups: open %s: %s", path,
				 strerror(errno));
	ssize_t r = read(fd, out, n - 1);
	int e = errno;
	close(fd);
	CL_ENSURE(r >= 0, CL_ESYS, "cgroups: read %s: %s", path, strerror(e));
	out[r] = '\0';
	return CL_OK;
}

cl_err cl_cg_read_u64(const char *dir, const char *file, uint64_t *v)
{
	char buf[64];
	CL_GUARD(cl_cg_read(dir, file, buf, sizeof(buf)));
	if (strncmp(buf, "max", 3) == 0) {
		*v = UINT64_MAX;
		return CL_OK;
	}
	char *end;
	errno = 0;
	unsigned long long x = strtoull(buf, &end, 10);
	CL_ENSURE(errno == 0 && end != buf, CL_EPROTO, "cgroups: %s/%s: not a number", dir, file);
	*v = x;
	return CL_OK;
}

/* True unless /proc/swaps lists a swap area (unreadable counts as swap). */
static bool host_has_swap(void)
{
	char buf[512];
	int fd = open("/proc/swaps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	const char *nl = strchr(buf, '\n'); /* the header line */
	return !nl || nl[1] != '\0';
}

cl_err cl_cg_swap_guard(bool limited, const char *why)
{
	CL_ENSURE(limited || !host_has_swap(), CL_EUNAVAIL,
		  "cgroups: host has swap but %s can keep the enclave out of it", why);
	return CL_OK;
}

bool cl_cg_parse_line(char *line, const char *ctl, const char **path)
{
	line[strcspn(line, "\n")] = '\0';
	char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		return false;
	*c2 = '\0';
	*path = c2 + 1;
	if (!ctl)
		return c1[1] == '\0' && strcmp(line, "0") == 0;
	for (char *save = NULL, *tok = strtok_r(c1 + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (strcmp(tok, ctl) == 0)
			return true;
	return false;
}

static bool file_has(const char *path, const char *word)
{
	char buf[512];
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *save = NULL, *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (strcmp(tok, word) == 0)
			return true;
	return false;
}

/* ---- layout ---- */

cl_cg_layout cl_cgroup_layout(void)
{
	if (detected)
		return layout;
	detected = true;
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
		layout = CL_CG_V2;
		snprintf(v2_root, sizeof(v2_root), "/sys/fs/cgroup");
	} else if (file_has("/sys/fs/cgroup/unified/cgroup.controllers", "memory")) {
		layout = CL_CG_V2;
		snprintf(v2_root, sizeof(v2_root), "/sys/fs/cgroup/unified");
	} else if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0 &&
		   access("/sys/fs/cgroup/freezer", F_OK) == 0) {
		layout = CL_CG_V1;
	}
	ops = layout == CL_CG_V1 ? &cl_cg_v1_ops : layout == CL_CG_V2 ? &cl_cg_v2_ops : NULL;
	return layout;
}

const char *cl_cg_v2_root(void)
{
	return v2_root;
}

/* The ops of the host's layout, or NULL (with an error) if it has none. */
static const cl_cg_ops *get_ops(void)
{
	if (cl_cgroup_layout() == CL_CG_NONE) {
		cl_errorf(CL_EUNAVAIL, "cgroups: no usable cgroup v1 or v2 hierarchy");
		return NULL;
	}
	return ops;
}

#define OPS_OR_FAIL(o)                                                                             \
	const cl_cg_ops *o = get_ops();                                                            \
	if (!o)                                                                                    \
		return CL_EUNAVAIL

/* ---- directories ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static cl_err rmdir_wait(const char *path)
{
	uint64_t deadline = cl_now_mono_ns() + CL_CG_WAIT_NS;
	for (;;) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return CL_OK;
		if (errno != EBUSY || cl_now_mono_ns() > deadline)
			return cl_errorf(CL_ESYS, "cgroups: rmdir %s: %s", path, strerror(errno));
		sleep_ms(2);
	}
}

cl_err cl_cgroup_remove(const char *name)
{
	cl_err first = CL_OK;
	if (cl_cgroup_layout() == CL_CG_NONE)
		return CL_OK;
	for (size_t i = 0; i < ops->ndirs; i++) {
		char dir[256];
		CL_GUARD(ops->dir(name, i, dir, sizeof(dir)));
		cl_err e = rmdir_wait(dir);
		if (e != CL_OK && first == CL_OK)
			first = e;
	}
	return first;
}

bool cl_cgroup_exists(const char *name)
{
	if (cl_cgroup_layout() == CL_CG_NONE)
		return false;
	for (size_t i = 0; i < ops->ndirs; i++) {
		char dir[256];
		if (ops->dir(name, i, dir, sizeof(dir)) == CL_OK && access(dir, F_OK) == 0)
			return true;
	}
	return false;
}

static cl_err mkdir_fresh(const char *dir)
{
	if (mkdir(dir, 0755) == 0)
		return CL_OK;
	if (errno == EEXIST && rmdir(dir) == 0 && mkdir(dir, 0755) == 0)
		return CL_OK; /* an empty leftover of a crash */
	return cl_errorf(errno == EBUSY ? CL_ECONFLICT : CL_ESYS, "cgroups: mkdir %s: %s", dir, strerror(errno));
}

/* Keeps the first error's detail while the cgroup is removed. */
static cl_err remove_after(const char *name, cl_err e)
{
	char keep[512];
	snprintf(keep, sizeof(keep), "%s", cl_error_detail());
	if (cl_cgroup_remove(name) != CL_OK)
		cl_warn("cgroups: could not remove partial cgroups of %s", name);
	return cl_errorf(e, "%s", keep);
}

cl_err cl_cgroup_create(const char *name)
{
	char dir[256];
	cl_err e = CL_OK;
	OPS_OR_FAIL(o);
	CL_GUARD(o->make_parent());
	for (size_t i = 0; i < o->ndirs && e == CL_OK; i++)
		if ((e = o->dir(name, i, dir, sizeof(dir))) == CL_OK)
			e = mkdir_fresh(dir);
	return e == CL_OK ? CL_OK : remove_after(name, e);
}

cl_err cl_cgroup_set_limits(const char *name, uint64_t memory, uint32_t cpus, uint32_t pids_max)
{
	OPS_OR_FAIL(o);
	return o->set_limits(name, memory, cpus, pids_max);
}

cl_err cl_cgroup_attach(const char *name, pid_t pid)
{
	char dir[256], val[32];
	OPS_OR_FAIL(o);
	snprintf(val, sizeof(val), "%d", (int)pid);
	for (size_t i = 0; i < o->ndirs; i++) {
		CL_GUARD(o->dir(name, i, dir, sizeof(dir)));
		CL_GUARD(cl_cg_write(dir, "cgroup.procs", val));
	}
	return CL_OK;
}

/* ---- priming ---- */

bool cl_cgroup_prime_path(char *path, size_t n)
{
	return cl_cgroup_layout() != CL_CG_NONE && ops->self_procs(path, n);
}

void cl_cgroup_prime(const char *procs_path, pid_t self)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d", (int)self);
	int fd = open(procs_path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, pid, (size_t)n) != n) {
			/* best effort: the real attach then just pays the grace period */
		}
		close(fd);
	}
}

/* ---- state and limits ---- */

cl_err cl_cgroup_is_frozen(const char *name, bool *frozen)
{
	OPS_OR_FAIL(o);
	return o->is_frozen(name, frozen);
}

cl_err cl_cgroup_freeze(const char *name, bool frozen)
{
	OPS_OR_FAIL(o);
	CL_GUARD(o->freeze(name, frozen));
	uint64_t deadline = cl_now_mono_ns() + CL_CG_WAIT_NS;
	for (;;) {
		bool now;
		CL_GUARD(o->is_frozen(name, &now));
		if (now == frozen)
			return CL_OK;
		if (cl_now_mono_ns() > deadline)
			return cl_errorf(CL_ETIMEOUT, "cgroups: %s did not %s in time", name, frozen ? "freeze" : "thaw");
		sleep_ms(1);
	}
}

cl_err cl_cgroup_memory(const char *name, uint64_t *limit, uint64_t *usage)
{
	OPS_OR_FAIL(o);
	return o->memory(name, limit, usage);
}

cl_err cl_cgroup_set_memory(const char *name, uint64_t bytes)
{
	uint64_t limit, usage;
	OPS_OR_FAIL(o);
	CL_GUARD(o->memory(name, &limit, &usage));
	CL_ENSURE(bytes >= usage, CL_ECONFLICT, "memory: %" PRIu64 " bytes is below current usage %" PRIu64, bytes,
		  usage);
	return o->set_memory(name, bytes, limit);
}

/* ---- tasks ---- */

/* Reads cgroup.procs of the freezer's directory; calls fn(ctx, pid) on each
 * pid (fn may be NULL) and stops at fn's first error. *count: pids seen. */
static cl_err for_each_pid(const char *name, cl_err (*fn)(void *ctx, pid_t pid), void *ctx, size_t *count)
{
	char dir[256], path[300];
	OPS_OR_FAIL(o);
	CL_GUARD(o->ctl_dir(name, "freezer", dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return cl_errorf(errno == ENOENT ? CL_ENOTFOUND : CL_ESYS, "cgroups: open %s: %s", path,
				 strerror(errno));
	char line[32];
	size_t n = 0;
	cl_err err = CL_OK;
	while (err == CL_OK && fgets(line, sizeof(line), f)) {
		char *end;
		long pid = strtol(line, &end, 10);
		if (end == line || pid <= 1)
			continue;
		if (fn)
			err = fn(ctx, (pid_t)pid);
		if (err == CL_OK)
			n++;
	}
	fclose(f);
	*count = n;
	return err;
}

cl_err cl_cgroup_count(const char *name, size_t *n)
{
	return for_each_pid(name, NULL, NULL, n);
}

typedef struct pid_list {
	const char *name;
	pid_t *out;
	size_t max, n;
} pid_list;

static cl_err collect_one(void *ctx, pid_t pid)
{
	pid_list *l = ctx;
	if (l->n == l->max)
		return cl_errorf(CL_ELIMIT, "cgroups: %s has more than %zu processes", l->name, l->max);
	l->out[l->n++] = pid;
	return CL_OK;
}

cl_err cl_cgroup_pids(const char *name, pid_t *out, size_t max, size_t *n)
{
	pid_list l = {.name = name, .out = out, .max = max};
	size_t seen;
	cl_err err = for_each_pid(name, collect_one, &l, &seen);
	*n = l.n;
	return err;
}

static cl_err kill_one(void *ctx, pid_t pid)
{
	kill(pid, SIGKILL);
	return CL_OK;
}

cl_err cl_cgroup_kill_all(const char *name)
{
	char dir[256];
	size_t n;
	OPS_OR_FAIL(o);
	CL_GUARD(o->ctl_dir(name, "freezer", dir, sizeof(dir)));
	if (access(dir, F_OK) != 0)
		return CL_OK;
	uint64_t deadline = cl_now_mono_ns() + CL_CG_WAIT_NS;
	cl_err e = CL_OK;
	if (o->kill(name) != CL_OK) {
		/* Freeze first so nothing can fork while we kill, then thaw so SIGKILL lands. */
		cl_err fe = cl_cgroup_freeze(name, true);
		e = for_each_pid(name, kill_one, NULL, &n);
		if (e == CL_OK)
			e = cl_cgroup_freeze(name, false);
		else if (fe == CL_OK && cl_cgroup_freeze(name, false) != CL_OK)
			cl_warn("cgroups: could not thaw %s", name);
	}
	for (;;) {
		if (e == CL_OK)
			e = for_each_pid(name, kill_one, NULL, &n);
		if (e == CL_ENOTFOUND || (e == CL_OK && n == 0))
			return CL_OK; /* gone (removed concurrently by the shim) or empty */
		if (e != CL_OK)
			return e;
		if (cl_now_mono_ns() > deadline)
			return cl_errorf(CL_ETIMEOUT, "cgroups: %zu tasks of %s survived SIGKILL", n, name);
		sleep_ms(1);
	}
}

/* ---- prepared sandboxes: spare-<pid> until the id is known ---- */

/* True if pid is gone or a zombie (a killed spare may wait for its reaper). */
static bool pid_gone(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* Removes cloister/spare-<pid> cgroups of spare shims that are gone (a killed
 * spare cannot remove its own). A cgroup that still holds a task stays. */
static void clean_stale_spares(const cl_cg_ops *o, pid_t self)
{
	for (size_t i = 0; i < o->ndirs; i++) {
		char parent[256], path[600];
		if (o->parent(i, parent, sizeof(parent)) != CL_OK)
			continue;
		DIR *d = opendir(parent);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, "spare-", 6) != 0)
				continue;
			char *end;
			errno = 0;
			long pid = strtol(de->d_name + 6, &end, 10);
			if (errno || end == de->d_name + 6 || *end || pid <= 0 || pid == (long)self)
				continue;
			if (!pid_gone(pid))
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", parent, de->d_name) < (int)sizeof(path) && rmdir(path) == 0)
				cl_debug("cgroups: removed stale %s", path);
		}
		closedir(d);
	}
}

cl_err cl_cgroup_create_spare(char *name, size_t n)
{
	OPS_OR_FAIL(o);
	pid_t self = getpid();
	CL_ENSURE(snprintf(name, n, "spare-%d", (int)self) < (int)n, CL_EINVAL, "cgroups: name too long");
	clean_stale_spares(o, self);
	return cl_cgroup_create(name);
}

cl_err cl_cgroup_adopt(const char *from, const char *to, pid_t pid)
{
	OPS_OR_FAIL(o);
	if (strcmp(from, to) == 0)
		return CL_OK;
	cl_err e = o->rename(from, to);
	if (e != CL_EUNAVAIL)
		return e;
	/* v2 cannot rename: a fresh cgroup and one move (the pages the child
	 * touched so far stay charged to `from`, then to its parent). */
	CL_GUARD(cl_cgroup_create(to));
	if ((e = cl_cgroup_attach(to, pid)) != CL_OK)
		return remove_after(to, e);
	if (cl_cgroup_remove(from) != CL_OK)
		cl_warn("cgroups: could not remove %s: %s", from, cl_error_detail());
	return CL_OK;
}
