/* sandbox_cgroup.c — an enclave's cgroups, on v1 (one directory per
 * controller: memory, cpu, pids, freezer under cloister/ID) or v2 (one
 * directory with memory.max, cpu.max, pids.max and cgroup.freeze).
 * The layout is detected at runtime: a pure-v2 host has
 * /sys/fs/cgroup/cgroup.controllers; a hybrid host whose unified tree holds
 * the memory controller is used as v2; otherwise the v1 controllers.
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
#include "sandbox/sandbox_internal.h"

#define CG_WAIT_NS (5ull * 1000 * 1000 * 1000)

static const char *const v1_controllers[] = {"memory", "cpu", "pids", "freezer"};
#define NV1 (sizeof(v1_controllers) / sizeof(v1_controllers[0]))

static cl_cg_layout layout = CL_CG_NONE;
static char v2_root[64];
static bool detected;

static bool file_has(const char *path, const char *word)
{
	char buf[512];
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
		if (strcmp(tok, word) == 0)
			return true;
	return false;
}

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
	return layout;
}

/* Directory of controller index i (v1) or the single v2 directory (i == 0). */
static cl_err cg_dir(const char *id, size_t i, char *out, size_t n)
{
	int w;
	if (cl_cgroup_layout() == CL_CG_V1)
		w = snprintf(out, n, "/sys/fs/cgroup/%s/cloister/%s", v1_controllers[i], id);
	else if (layout == CL_CG_V2)
		w = snprintf(out, n, "%s/cloister/%s", v2_root, id);
	else
		return cl_errorf(CL_EUNAVAIL, "cgroups: no usable cgroup v1 or v2 hierarchy");
	CL_ENSURE(w > 0 && (size_t)w < n, CL_EINVAL, "cgroups: path too long");
	return CL_OK;
}

static size_t ndirs(void)
{
	return cl_cgroup_layout() == CL_CG_V1 ? NV1 : 1;
}

/* Directory holding controller `ctl` ("memory", "freezer", ...). */
static cl_err ctl_dir(const char *id, const char *ctl, char *out, size_t n)
{
	if (cl_cgroup_layout() != CL_CG_V1)
		return cg_dir(id, 0, out, n);
	for (size_t i = 0; i < NV1; i++)
		if (strcmp(v1_controllers[i], ctl) == 0)
			return cg_dir(id, i, out, n);
	return cl_errorf(CL_EINTERNAL, "cgroups: no controller %s", ctl);
}

static cl_err write_at(const char *dir, const char *file, const char *val)
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

static cl_err read_at(const char *dir, const char *file, char *out, size_t n)
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

static cl_err read_u64_at(const char *dir, const char *file, uint64_t *v)
{
	char buf[64];
	CL_GUARD(read_at(dir, file, buf, sizeof(buf)));
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

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static cl_err rmdir_wait(const char *path)
{
	uint64_t deadline = cl_now_mono_ns() + CG_WAIT_NS;
	for (;;) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return CL_OK;
		if (errno != EBUSY || cl_now_mono_ns() > deadline)
			return cl_errorf(CL_ESYS, "cgroups: rmdir %s: %s", path, strerror(errno));
		sleep_ms(2);
	}
}

cl_err cl_cgroup_remove(const char *id)
{
	cl_err first = CL_OK;
	if (cl_cgroup_layout() == CL_CG_NONE)
		return CL_OK;
	for (size_t i = 0; i < ndirs(); i++) {
		char dir[256];
		CL_GUARD(cg_dir(id, i, dir, sizeof(dir)));
		cl_err e = rmdir_wait(dir);
		if (e != CL_OK && first == CL_OK)
			first = e;
	}
	return first;
}

bool cl_cgroup_exists(const char *id)
{
	if (cl_cgroup_layout() == CL_CG_NONE)
		return false;
	for (size_t i = 0; i < ndirs(); i++) {
		char dir[256];
		if (cg_dir(id, i, dir, sizeof(dir)) == CL_OK && access(dir, F_OK) == 0)
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

/* Enclave memory must not reach swap in clear: with no way to keep the
 * cgroup out of swap, launch only on a host without swap. */
static cl_err swap_guard(bool limited, const char *why)
{
	CL_ENSURE(limited || !host_has_swap(), CL_EUNAVAIL,
		  "cgroups: host has swap but %s can keep the enclave out of it", why);
	return CL_OK;
}

static cl_err limits_v1(const char *id, uint64_t memory, uint32_t cpus, uint32_t pids_max);

static cl_err create_v1(const char *id, uint64_t memory, uint32_t cpus, uint32_t pids_max)
{
	char dir[256];
	for (size_t i = 0; i < NV1; i++) {
		char parent[256];
		snprintf(parent, sizeof(parent), "/sys/fs/cgroup/%s/cloister", v1_controllers[i]);
		if (mkdir(parent, 0755) != 0 && errno != EEXIST)
			return cl_errorf(CL_ESYS, "cgroups: mkdir %s: %s", parent, strerror(errno));
		CL_GUARD(cg_dir(id, i, dir, sizeof(dir)));
		CL_GUARD(mkdir_fresh(dir));
	}
	return limits_v1(id, memory, cpus, pids_max);
}

/* The limits of existing v1 directories of id. */
static cl_err limits_v1(const char *id, uint64_t memory, uint32_t cpus, uint32_t pids_max)
{
	char dir[256], val[64];
	CL_GUARD(ctl_dir(id, "memory", dir, sizeof(dir)));
	snprintf(val, sizeof(val), "%" PRIu64, memory);
	CL_GUARD(write_at(dir, "memory.limit_in_bytes", val));
	/* Without swap accounting the file is absent; with it, swap must not extend the limit. */
	cl_err e = write_at(dir, "memory.memsw.limit_in_bytes", val);
	if (e != CL_OK && e != CL_ENOTFOUND)
		return e;
	cl_err sw = write_at(dir, "memory.swappiness", "0");
	if (sw != CL_OK && sw != CL_ENOTFOUND)
		return sw;
	CL_GUARD(swap_guard(e == CL_OK || sw == CL_OK, "neither memory.memsw.limit_in_bytes nor memory.swappiness"));
	CL_GUARD(ctl_dir(id, "cpu", dir, sizeof(dir)));
	CL_GUARD(write_at(dir, "cpu.cfs_period_us", "100000"));
	snprintf(val, sizeof(val), "%" PRIu64, (uint64_t)cpus * 100000);
	CL_GUARD(write_at(dir, "cpu.cfs_quota_us", val));
	CL_GUARD(ctl_dir(id, "pids", dir, sizeof(dir)));
	snprintf(val, sizeof(val), "%" PRIu32, pids_max);
	CL_GUARD(write_at(dir, "pids.max", val));
	return CL_OK;
}

static cl_err create_v2(const char *id, uint64_t memory, uint32_t cpus, uint32_t pids_max)
{
	char parent[128], dir[256], val[64];
	snprintf(parent, sizeof(parent), "%s/cloister", v2_root);
	if (mkdir(parent, 0755) != 0 && errno != EEXIST)
		return cl_errorf(CL_ESYS, "cgroups: mkdir %s: %s", parent, strerror(errno));
	/* Enable the controllers down to cloister/ (already enabled is fine). */
	CL_GUARD(write_at(v2_root, "cgroup.subtree_control", "+memory +cpu +pids"));
	CL_GUARD(write_at(parent, "cgroup.subtree_control", "+memory +cpu +pids"));
	CL_GUARD(cg_dir(id, 0, dir, sizeof(dir)));
	CL_GUARD(mkdir_fresh(dir));
	snprintf(val, sizeof(val), "%" PRIu64, memory);
	CL_GUARD(write_at(dir, "memory.max", val));
	cl_err e = write_at(dir, "memory.swap.max", "0");
	if (e != CL_OK && e != CL_ENOTFOUND)
		return e;
	CL_GUARD(swap_guard(e == CL_OK, "no memory.swap.max"));
	snprintf(val, sizeof(val), "%" PRIu64 " 100000", (uint64_t)cpus * 100000);
	CL_GUARD(write_at(dir, "cpu.max", val));
	snprintf(val, sizeof(val), "%" PRIu32, pids_max);
	CL_GUARD(write_at(dir, "pids.max", val));
	return CL_OK;
}

cl_err cl_cgroup_create(const char *id, uint64_t memory, uint32_t cpus, uint32_t pids_max)
{
	cl_err e;
	switch (cl_cgroup_layout()) {
	case CL_CG_V1:
		e = create_v1(id, memory, cpus, pids_max);
		break;
	case CL_CG_V2:
		e = create_v2(id, memory, cpus, pids_max);
		break;
	default:
		return cl_errorf(CL_EUNAVAIL, "cgroups: no usable cgroup v1 or v2 hierarchy");
	}
	if (e != CL_OK) {
		char keep[512];
		snprintf(keep, sizeof(keep), "%s", cl_error_detail());
		if (cl_cgroup_remove(id) != CL_OK)
			cl_warn("cgroups: could not remove partial cgroups of %s", id);
		cl_errorf(e, "%s", keep);
	}
	return e;
}

bool cl_cgroup_prime_path(char *path, size_t n)
{
	char line[512];
	const char *hier = cl_cgroup_layout() == CL_CG_V1 ? "memory" : NULL;
	if (layout == CL_CG_NONE)
		return false;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		bool match = hier ? strcmp(c1 + 1, hier) == 0 : (c1[1] == '\0' && strcmp(line, "0") == 0);
		if (match)
			found = snprintf(path, n, "%s%s/cgroup.procs", hier ? "/sys/fs/cgroup/memory" : v2_root,
					 c2 + 1) < (int)n;
	}
	fclose(f);
	return found;
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

cl_err cl_cgroup_attach(const char *id, pid_t pid)
{
	char dir[256], val[32];
	snprintf(val, sizeof(val), "%d", (int)pid);
	for (size_t i = 0; i < ndirs(); i++) {
		CL_GUARD(cg_dir(id, i, dir, sizeof(dir)));
		CL_GUARD(write_at(dir, "cgroup.procs", val));
	}
	return CL_OK;
}

cl_err cl_cgroup_is_frozen(const char *id, bool *frozen)
{
	char dir[256], buf[256];
	CL_GUARD(ctl_dir(id, "freezer", dir, sizeof(dir)));
	if (layout == CL_CG_V1) {
		CL_GUARD(read_at(dir, "freezer.state", buf, sizeof(buf)));
		*frozen = strncmp(buf, "FROZEN", 6) == 0;
	} else {
		CL_GUARD(read_at(dir, "cgroup.events", buf, sizeof(buf)));
		*frozen = strstr(buf, "frozen 1") != NULL;
	}
	return CL_OK;
}

cl_err cl_cgroup_freeze(const char *id, bool frozen)
{
	char dir[256];
	CL_GUARD(ctl_dir(id, "freezer", dir, sizeof(dir)));
	if (layout == CL_CG_V1)
		CL_GUARD(write_at(dir, "freezer.state", frozen ? "FROZEN" : "THAWED"));
	else
		CL_GUARD(write_at(dir, "cgroup.freeze", frozen ? "1" : "0"));
	uint64_t deadline = cl_now_mono_ns() + CG_WAIT_NS;
	for (;;) {
		bool now;
		CL_GUARD(cl_cgroup_is_frozen(id, &now));
		if (now == frozen)
			return CL_OK;
		if (cl_now_mono_ns() > deadline)
			return cl_errorf(CL_ETIMEOUT, "cgroups: %s did not %s in time", id,
					 frozen ? "freeze" : "thaw");
		sleep_ms(1);
	}
}

cl_err cl_cgroup_memory(const char *id, uint64_t *limit, uint64_t *usage)
{
	char dir[256];
	CL_GUARD(ctl_dir(id, "memory", dir, sizeof(dir)));
	if (layout == CL_CG_V1) {
		CL_GUARD(read_u64_at(dir, "memory.limit_in_bytes", limit));
		CL_GUARD(read_u64_at(dir, "memory.usage_in_bytes", usage));
	} else {
		CL_GUARD(read_u64_at(dir, "memory.max", limit));
		CL_GUARD(read_u64_at(dir, "memory.current", usage));
	}
	return CL_OK;
}

cl_err cl_cgroup_set_memory(const char *id, uint64_t bytes)
{
	char dir[256], val[64];
	uint64_t limit, usage;
	CL_GUARD(cl_cgroup_memory(id, &limit, &usage));
	CL_ENSURE(bytes >= usage, CL_ECONFLICT, "memory: %" PRIu64 " bytes is below current usage %" PRIu64,
		  bytes, usage);
	CL_GUARD(ctl_dir(id, "memory", dir, sizeof(dir)));
	snprintf(val, sizeof(val), "%" PRIu64, bytes);
	if (layout == CL_CG_V2)
		return write_at(dir, "memory.max", val);
	/* v1 requires memsw >= limit at every moment: order the two writes. */
	char memsw[600];
	snprintf(memsw, sizeof(memsw), "%s/memory.memsw.limit_in_bytes", dir);
	bool swap_accounting = access(memsw, F_OK) == 0;
	if (bytes >= limit) {
		if (swap_accounting)
			CL_GUARD(write_at(dir, "memory.memsw.limit_in_bytes", val));
		CL_GUARD(write_at(dir, "memory.limit_in_bytes", val));
	} else {
		CL_GUARD(write_at(dir, "memory.limit_in_bytes", val)); /* EBUSY -> CL_ECONFLICT */
		if (swap_accounting)
			CL_GUARD(write_at(dir, "memory.memsw.limit_in_bytes", val));
	}
	return CL_OK;
}

/* Reads cgroup.procs of the first directory; calls fn on each pid. */
static cl_err for_each_pid(const char *id, void (*fn)(pid_t), size_t *count)
{
	char dir[256], path[300];
	CL_GUARD(ctl_dir(id, "freezer", dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return cl_errorf(errno == ENOENT ? CL_ENOTFOUND : CL_ESYS, "cgroups: open %s: %s", path,
				 strerror(errno));
	char line[32];
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		char *end;
		long pid = strtol(line, &end, 10);
		if (end == line || pid <= 1)
			continue;
		n++;
		if (fn)
			fn((pid_t)pid);
	}
	fclose(f);
	*count = n;
	return CL_OK;
}

cl_err cl_cgroup_count(const char *id, size_t *n)
{
	return for_each_pid(id, NULL, n);
}

static void kill_one(pid_t pid)
{
	kill(pid, SIGKILL);
}

cl_err cl_cgroup_kill_all(const char *id)
{
	char dir[256];
	size_t n;
	CL_GUARD(ctl_dir(id, "freezer", dir, sizeof(dir)));
	if (access(dir, F_OK) != 0)
		return CL_OK;
	uint64_t deadline = cl_now_mono_ns() + CG_WAIT_NS;
	cl_err e = CL_OK;
	if (layout == CL_CG_V2 && write_at(dir, "cgroup.kill", "1") == CL_OK) {
		/* the kernel kills atomically (5.14+) */
	} else {
		/* Freeze first so nothing can fork while we kill, then thaw so SIGKILL lands. */
		cl_err fe = cl_cgroup_freeze(id, true);
		e = for_each_pid(id, kill_one, &n);
		if (e == CL_OK)
			e = cl_cgroup_freeze(id, false);
		else if (fe == CL_OK && cl_cgroup_freeze(id, false) != CL_OK)
			cl_warn("cgroups: could not thaw %s", id);
	}
	for (;;) {
		if (e == CL_OK)
			e = for_each_pid(id, kill_one, &n);
		if (e == CL_ENOTFOUND || (e == CL_OK && n == 0))
			return CL_OK; /* gone (removed concurrently by the shim) or empty */
		if (e != CL_OK)
			return e;
		if (cl_now_mono_ns() > deadline)
			return cl_errorf(CL_ETIMEOUT, "cgroups: %zu tasks of %s survived SIGKILL", n, id);
		sleep_ms(1);
	}
}

/* ---- born in the cgroup (v1): a spare shim's own cgroups become the enclave's ---- */

enum { BORN_NONE, BORN_SPARE, BORN_ADOPTED };
static int born_state = BORN_NONE;
static char born_home[NV1][256]; /* the cgroups the shim came from (its launcher's) */
static char born_name[32];       /* spare-<pid> */
static char born_id[64];         /* the enclave id once adopted */
static uint32_t born_pids;
static char born_oom[16];        /* the shim's oom_score_adj before it went in */
static bool born_oom_set;        /* ... and it was lowered */

/* born_home from /proc/self/cgroup ("N:ctl[,ctl...]:/path"). */
static bool read_homes(void)
{
	char line[512];
	bool found[NV1] = {false};
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		for (char *save = NULL, *tok = strtok_r(c1 + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			for (size_t i = 0; i < NV1; i++)
				if (strcmp(tok, v1_controllers[i]) == 0 &&
				    snprintf(born_home[i], sizeof(born_home[i]), "/sys/fs/cgroup/%s%s", v1_controllers[i],
					     c2 + 1) < (int)sizeof(born_home[i]))
					found[i] = true;
	}
	fclose(f);
	for (size_t i = 0; i < NV1; i++)
		if (!found[i])
			return false;
	return true;
}

/* Removes cloister/spare-<pid> directories of spares that are gone (a
 * killed spare cannot remove its own). A directory with tasks is never removed. */
static void clean_stale_spares(pid_t self)
{
	for (size_t i = 0; i < NV1; i++) {
		char parent[256], path[600];
		snprintf(parent, sizeof(parent), "/sys/fs/cgroup/%s/cloister", v1_controllers[i]);
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
			if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", parent, de->d_name) < (int)sizeof(path) && rmdir(path) == 0)
				cl_debug("cgroups: removed stale %s", path);
		}
		closedir(d);
	}
}

static bool write_oom_adj(pid_t pid, const char *val)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)pid);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

bool cl_cgroup_born_inside(void)
{
	return born_state != BORN_NONE;
}

bool cl_cgroup_born_prepare(void)
{
	char dir[256], val[32];
	pid_t self = getpid();
	if (cl_cgroup_layout() != CL_CG_V1 || born_state != BORN_NONE || !read_homes())
		return false;
	char oom[64];
	if (read_at("/proc/self", "oom_score_adj", oom, sizeof(oom)) != CL_OK)
		return false;
	oom[strcspn(oom, "\n")] = '\0';
	if (strlen(oom) >= sizeof(born_oom))
		return false;
	memcpy(born_oom, oom, strlen(oom) + 1);
	clean_stale_spares(self);
	snprintf(born_name, sizeof(born_name), "spare-%d", (int)self);
	snprintf(val, sizeof(val), "%d", (int)self);
	size_t made = 0, moved = 0;
	for (; made < NV1; made++) {
		char parent[256];
		snprintf(parent, sizeof(parent), "/sys/fs/cgroup/%s/cloister", v1_controllers[made]);
		if ((mkdir(parent, 0755) != 0 && errno != EEXIST) || cg_dir(born_name, made, dir, sizeof(dir)) != CL_OK ||
		    mkdir_fresh(dir) != CL_OK)
			goto undo;
	}
	/* The OOM killer should not pick the shim while it shares the enclave's
	 * memory cgroup (during the launch): unkillable until it leaves where
	 * the host allows it (CAP_SYS_RESOURCE), and the child gets the old
	 * value back (cl_cgroup_born_child). */
	born_oom_set = write_oom_adj(self, "-1000");
	for (; moved < NV1; moved++)
		if (cg_dir(born_name, moved, dir, sizeof(dir)) != CL_OK || write_at(dir, "cgroup.procs", val) != CL_OK)
			goto undo;
	born_state = BORN_SPARE;
	return true;
undo:
	cl_debug("cgroups: no spare cgroups: %s", cl_error_detail());
	for (size_t i = 0; i < moved; i++)
		if (write_at(born_home[i], "cgroup.procs", val) != CL_OK)
			cl_warn("cgroups: could not leave %s", born_name);
	if (born_oom_set && !write_oom_adj(self, born_oom))
		cl_warn("cgroups: could not restore oom_score_adj");
	born_oom_set = false;
	for (size_t i = 0; i < made; i++)
		if (cg_dir(born_name, i, dir, sizeof(dir)) == CL_OK)
			rmdir(dir);
	return false;
}

/* Renames n directories back from id to the spare's name. */
static void unrename(const char *id, size_t n)
{
	char from[256], to[256];
	for (size_t i = 0; i < n; i++)
		if (cg_dir(id, i, from, sizeof(from)) != CL_OK || cg_dir(born_name, i, to, sizeof(to)) != CL_OK ||
		    rename(from, to) != 0)
			cl_warn("cgroups: could not rename %s back to %s", id, born_name);
}

bool cl_cgroup_born_adopt(const char *id, uint64_t memory, uint32_t cpus, uint32_t pids_max)
{
	char from[256], to[256];
	uint64_t usage;
	if (born_state != BORN_SPARE || cl_sandbox_check_id(id) != CL_OK || strlen(id) >= sizeof(born_id) ||
	    pids_max >= CL_SANDBOX_MAX_PIDS * 2u)
		return false;
	/* What the shim has charged so far stays charged here: born in only with
	 * ample room (small limits keep the classic path, exactly as before). */
	if (cg_dir(born_name, 0, from, sizeof(from)) != CL_OK ||
	    read_u64_at(from, "memory.usage_in_bytes", &usage) != CL_OK || usage > memory / 8)
		return false;
	size_t done = 0;
	for (; done < NV1; done++) {
		if (cg_dir(born_name, done, from, sizeof(from)) != CL_OK || cg_dir(id, done, to, sizeof(to)) != CL_OK)
			break;
		if (rmdir(to) != 0 && errno != ENOENT) /* an empty leftover goes, a live one stays */
			break;
		if (rename(from, to) != 0)
			break;
	}
	/* pids.max + 1: the shim itself counts while it is inside (see cl_cgroup_born_leave) */
	if (done == NV1 && limits_v1(id, memory, cpus, pids_max + 1) == CL_OK) {
		snprintf(born_id, sizeof(born_id), "%s", id);
		born_pids = pids_max;
		born_state = BORN_ADOPTED;
		return true;
	}
	cl_debug("cgroups: %s not born in: %s", id, cl_error_detail());
	unrename(id, done);
	return false;
}

cl_err cl_cgroup_born_child(pid_t child)
{
	if (born_state == BORN_NONE || !born_oom_set)
		return CL_OK;
	CL_ENSURE(write_oom_adj(child, born_oom), CL_ESYS, "cgroups: oom_score_adj of the child: %s",
		  strerror(errno));
	return CL_OK;
}

void cl_cgroup_born_leave(void)
{
	char dir[256], val[32];
	if (born_state == BORN_NONE)
		return;
	pid_t self = getpid();
	snprintf(val, sizeof(val), "%d", (int)self);
	/* Lower pids.max first: with the shim still counted the enclave can only
	 * have fewer tasks than its limit, never more. */
	if (born_state == BORN_ADOPTED) {
		snprintf(dir, sizeof(dir), "%" PRIu32, born_pids);
		char pdir[256];
		if (ctl_dir(born_id, "pids", pdir, sizeof(pdir)) != CL_OK || write_at(pdir, "pids.max", dir) != CL_OK)
			cl_warn("cgroups: could not set pids.max of %s", born_id);
	}
	bool out = true;
	for (size_t i = 0; i < NV1; i++)
		if (write_at(born_home[i], "cgroup.procs", val) != CL_OK) {
			cl_warn("cgroups: could not leave the enclave's cgroups: %s", cl_error_detail());
			out = false;
		}
	if (born_oom_set && !write_oom_adj(self, born_oom))
		cl_warn("cgroups: could not restore oom_score_adj");
	if (out)
		born_oom_set = false;
	if (born_state == BORN_SPARE)
		for (size_t i = 0; i < NV1; i++)
			if (cg_dir(born_name, i, dir, sizeof(dir)) == CL_OK && rmdir_wait(dir) != CL_OK)
				cl_warn("cgroups: %s", cl_error_detail());
	if (out)
		born_state = BORN_NONE;
}

void cl_cgroup_wait_left(const char *id, pid_t pid, int ms)
{
	char dir[256], path[300], line[32];
	if (pid <= 0 || ctl_dir(id, "freezer", dir, sizeof(dir)) != CL_OK)
		return;
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)ms * 1000000u;
	for (;;) {
		FILE *f = fopen(path, "re");
		if (!f)
			return;
		bool inside = false;
		while (!inside && fgets(line, sizeof(line), f))
			inside = strtol(line, NULL, 10) == (long)pid;
		fclose(f);
		if (!inside || cl_now_mono_ns() > deadline)
			return;
		sleep_ms(1);
	}
}
