/* sandbox_cgroup_v1.c — cgroup v1: one directory per controller (memory,
 * cpu, pids, freezer), each at /sys/fs/cgroup/CTL/cloister/NAME.
 * Memory is kept out of swap with memory.memsw.limit_in_bytes (when swap
 * accounting exists) and memory.swappiness 0; freezing is freezer.state.
 * v1 directories can be renamed within their parent (a prepared sandbox's
 * spare-<pid> becomes the enclave id without moving a task).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "sandbox/sandbox_cgroup.h"

static const char *const controllers[] = {"memory", "cpu", "pids", "freezer"};
#define NCTL (sizeof(controllers) / sizeof(controllers[0]))

static cl_err v1_parent(size_t i, char *out, size_t n)
{
	CL_ENSURE(i < NCTL, CL_EINTERNAL, "cgroups: no v1 directory %zu", i);
	int w = snprintf(out, n, "/sys/fs/cgroup/%s/cloister", controllers[i]);
	CL_ENSURE(w > 0 && (size_t)w < n, CL_EINVAL, "cgroups: path too long");
	return CL_OK;
}

static cl_err v1_dir(const char *name, size_t i, char *out, size_t n)
{
	CL_ENSURE(i < NCTL, CL_EINTERNAL, "cgroups: no v1 directory %zu", i);
	int w = snprintf(out, n, "/sys/fs/cgroup/%s/cloister/%s", controllers[i], name);
	CL_ENSURE(w > 0 && (size_t)w < n, CL_EINVAL, "cgroups: path too long");
	return CL_OK;
}

static cl_err v1_ctl_dir(const char *name, const char *ctl, char *out, size_t n)
{
	for (size_t i = 0; i < NCTL; i++)
		if (strcmp(controllers[i], ctl) == 0)
			return v1_dir(name, i, out, n);
	return cl_errorf(CL_EINTERNAL, "cgroups: no controller %s", ctl);
}

static cl_err v1_make_parent(void)
{
	for (size_t i = 0; i < NCTL; i++) {
		char parent[128];
		CL_GUARD(v1_parent(i, parent, sizeof(parent)));
		if (mkdir(parent, 0755) != 0 && errno != EEXIST)
			return cl_errorf(CL_ESYS, "cgroups: mkdir %s: %s", parent, strerror(errno));
	}
	return CL_OK;
}

static cl_err v1_set_limits(const char *name, uint64_t memory, uint32_t cpus, uint32_t pids_max)
{
	char dir[256], val[64];
	CL_GUARD(v1_ctl_dir(name, "memory", dir, sizeof(dir)));
	snprintf(val, sizeof(val), "%" PRIu64, memory);
	CL_GUARD(cl_cg_write(dir, "memory.limit_in_bytes", val));
	/* Without swap accounting the file is absent; with it, swap must not extend the limit. */
	cl_err e = cl_cg_write(dir, "memory.memsw.limit_in_bytes", val);
	if (e != CL_OK && e != CL_ENOTFOUND)
		return e;
	cl_err sw = cl_cg_write(dir, "memory.swappiness", "0");
	if (sw != CL_OK && sw != CL_ENOTFOUND)
		return sw;
	CL_GUARD(cl_cg_swap_guard(e == CL_OK || sw == CL_OK,
				  "neither memory.memsw.limit_in_bytes nor memory.swappiness"));
	CL_GUARD(v1_ctl_dir(name, "cpu", dir, sizeof(dir)));
	CL_GUARD(cl_cg_write(dir, "cpu.cfs_period_us", "100000"));
	snprintf(val, sizeof(val), "%" PRIu64, (uint64_t)cpus * 100000);
	CL_GUARD(cl_cg_write(dir, "cpu.cfs_quota_us", val));
	CL_GUARD(v1_ctl_dir(name, "pids", dir, sizeof(dir)));
	snprintf(val, sizeof(val), "%" PRIu32, pids_max);
	CL_GUARD(cl_cg_write(dir, "pids.max", val));
	return CL_OK;
}

static cl_err v1_memory(const char *name, uint64_t *limit, uint64_t *usage)
{
	char dir[256];
	CL_GUARD(v1_ctl_dir(name, "memory", dir, sizeof(dir)));
	CL_GUARD(cl_cg_read_u64(dir, "memory.limit_in_bytes", limit));
	CL_GUARD(cl_cg_read_u64(dir, "memory.usage_in_bytes", usage));
	return CL_OK;
}

/* v1 requires memsw >= limit at every moment: order the two writes. */
static cl_err v1_set_memory(const char *name, uint64_t bytes, uint64_t old)
{
	char dir[256], val[64], memsw[600];
	CL_GUARD(v1_ctl_dir(name, "memory", dir, sizeof(dir)));
	snprintf(val, sizeof(val), "%" PRIu64, bytes);
	snprintf(memsw, sizeof(memsw), "%s/memory.memsw.limit_in_bytes", dir);
	bool swap_accounting = access(memsw, F_OK) == 0;
	if (bytes >= old) {
		if (swap_accounting)
			CL_GUARD(cl_cg_write(dir, "memory.memsw.limit_in_bytes", val));
		CL_GUARD(cl_cg_write(dir, "memory.limit_in_bytes", val));
	} else {
		CL_GUARD(cl_cg_write(dir, "memory.limit_in_bytes", val)); /* EBUSY -> CL_ECONFLICT */
		if (swap_accounting)
			CL_GUARD(cl_cg_write(dir, "memory.memsw.limit_in_bytes", val));
	}
	return CL_OK;
}

static cl_err v1_freeze(const char *name, bool frozen)
{
	char dir[256];
	CL_GUARD(v1_ctl_dir(name, "freezer", dir, sizeof(dir)));
	return cl_cg_write(dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
}

static cl_err v1_is_frozen(const char *name, bool *frozen)
{
	char dir[256], buf[64];
	CL_GUARD(v1_ctl_dir(name, "freezer", dir, sizeof(dir)));
	CL_GUARD(cl_cg_read(dir, "freezer.state", buf, sizeof(buf)));
	*frozen = strncmp(buf, "FROZEN", 6) == 0;
	return CL_OK;
}

static cl_err v1_kill(const char *name)
{
	(void)name;
	return CL_EUNAVAIL; /* v1 has no cgroup.kill */
}

/* rename(2) of a v1 cgroup directory within its parent: no task moves. */
static cl_err v1_rename(const char *from, const char *to)
{
	char a[256], b[256];
	size_t done = 0;
	cl_err e = CL_OK;
	for (; done < NCTL; done++) {
		if ((e = v1_dir(from, done, a, sizeof(a))) != CL_OK || (e = v1_dir(to, done, b, sizeof(b))) != CL_OK)
			break;
		if (rmdir(b) != 0 && errno != ENOENT) { /* an empty leftover goes, a live one stays */
			e = cl_errorf(errno == EBUSY ? CL_ECONFLICT : CL_ESYS, "cgroups: %s exists: %s", b, strerror(errno));
			break;
		}
		if (rename(a, b) != 0) {
			e = cl_errorf(CL_ESYS, "cgroups: rename %s to %s: %s", a, b, strerror(errno));
			break;
		}
	}
	if (e == CL_OK)
		return CL_OK;
	char keep[512];
	snprintf(keep, sizeof(keep), "%s", cl_error_detail());
	for (size_t i = 0; i < done; i++)
		if (v1_dir(to, i, b, sizeof(b)) != CL_OK || v1_dir(from, i, a, sizeof(a)) != CL_OK || rename(b, a) != 0)
			cl_warn("cgroups: could not rename %s back to %s", to, from);
	return cl_errorf(e, "%s", keep);
}

/* Priming pays the first migration's grace period in the memory hierarchy. */
static bool v1_self_procs(char *path, size_t n)
{
	char line[512];
	const char *rel;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		if (cl_cg_parse_line(line, "memory", &rel))
			found = snprintf(path, n, "/sys/fs/cgroup/memory%s/cgroup.procs", rel) < (int)n;
	fclose(f);
	return found;
}

const cl_cg_ops cl_cg_v1_ops = {
	.name = "v1",
	.ndirs = NCTL,
	.parent = v1_parent,
	.dir = v1_dir,
	.ctl_dir = v1_ctl_dir,
	.make_parent = v1_make_parent,
	.set_limits = v1_set_limits,
	.memory = v1_memory,
	.set_memory = v1_set_memory,
	.freeze = v1_freeze,
	.is_frozen = v1_is_frozen,
	.kill = v1_kill,
	.rename = v1_rename,
	.self_procs = v1_self_procs,
};
