/* sandbox_cgroup_v2.c — cgroup v2: one directory, ROOT/cloister/NAME, with
 * memory.max (memory.swap.max 0 keeps it out of swap), cpu.max, pids.max,
 * cgroup.freeze / cgroup.events and cgroup.kill. ROOT is /sys/fs/cgroup on a
 * pure-v2 host or /sys/fs/cgroup/unified on a hybrid host whose unified tree
 * holds the memory controller (cl_cg_v2_root). The kernel refuses to rename
 * v2 cgroups: a prepared sandbox's child moves into its enclave's cgroup at
 * assignment instead (sandbox_cgroup.c, cl_cgroup_adopt).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/sandbox_cgroup.h"

static cl_err v2_parent(size_t i, char *out, size_t n)
{
	CL_ENSURE(i == 0, CL_EINTERNAL, "cgroups: no v2 directory %zu", i);
	int w = snprintf(out, n, "%s/cloister", cl_cg_v2_root());
	CL_ENSURE(w > 0 && (size_t)w < n, CL_EINVAL, "cgroups: path too long");
	return CL_OK;
}

static cl_err v2_dir(const char *name, size_t i, char *out, size_t n)
{
	CL_ENSURE(i == 0, CL_EINTERNAL, "cgroups: no v2 directory %zu", i);
	int w = snprintf(out, n, "%s/cloister/%s", cl_cg_v2_root(), name);
	CL_ENSURE(w > 0 && (size_t)w < n, CL_EINVAL, "cgroups: path too long");
	return CL_OK;
}

static cl_err v2_ctl_dir(const char *name, const char *ctl, char *out, size_t n)
{
	(void)ctl; /* every controller lives in the one directory */
	return v2_dir(name, 0, out, n);
}

static cl_err v2_make_parent(void)
{
	char parent[128];
	CL_GUARD(v2_parent(0, parent, sizeof(parent)));
	if (mkdir(parent, 0755) != 0 && errno != EEXIST)
		return cl_errorf(CL_ESYS, "cgroups: mkdir %s: %s", parent, strerror(errno));
	/* Enable the controllers down to cloister/ (already enabled is fine). */
	CL_GUARD(cl_cg_write(cl_cg_v2_root(), "cgroup.subtree_control", "+memory +cpu +pids"));
	CL_GUARD(cl_cg_write(parent, "cgroup.subtree_control", "+memory +cpu +pids"));
	return CL_OK;
}

static cl_err v2_set_limits(const char *name, uint64_t memory, uint32_t cpus, uint32_t pids_max)
{
	char dir[256], val[64];
	CL_GUARD(v2_dir(name, 0, dir, sizeof(dir)));
	snprintf(val, sizeof(val), "%" PRIu64, memory);
	CL_GUARD(cl_cg_write(dir, "memory.max", val));
	cl_err e = cl_cg_write(dir, "memory.swap.max", "0");
	if (e != CL_OK && e != CL_ENOTFOUND)
		return e;
	CL_GUARD(cl_cg_swap_guard(e == CL_OK, "no memory.swap.max"));
	snprintf(val, sizeof(val), "%" PRIu64 " 100000", (uint64_t)cpus * 100000);
	CL_GUARD(cl_cg_write(dir, "cpu.max", val));
	snprintf(val, sizeof(val), "%" PRIu32, pids_max);
	CL_GUARD(cl_cg_write(dir, "pids.max", val));
	return CL_OK;
}

static cl_err v2_memory(const char *name, uint64_t *limit, uint64_t *usage)
{
	char dir[256];
	CL_GUARD(v2_dir(name, 0, dir, sizeof(dir)));
	CL_GUARD(cl_cg_read_u64(dir, "memory.max", limit));
	CL_GUARD(cl_cg_read_u64(dir, "memory.current", usage));
	return CL_OK;
}

static cl_err v2_set_memory(const char *name, uint64_t bytes, uint64_t old)
{
	char dir[256], val[64];
	(void)old; /* swap stays at 0: one write */
	CL_GUARD(v2_dir(name, 0, dir, sizeof(dir)));
	snprintf(val, sizeof(val), "%" PRIu64, bytes);
	return cl_cg_write(dir, "memory.max", val);
}

static cl_err v2_freeze(const char *name, bool frozen)
{
	char dir[256];
	CL_GUARD(v2_dir(name, 0, dir, sizeof(dir)));
	return cl_cg_write(dir, "cgroup.freeze", frozen ? "1" : "0");
}

static cl_err v2_is_frozen(const char *name, bool *frozen)
{
	char dir[256], buf[256];
	CL_GUARD(v2_dir(name, 0, dir, sizeof(dir)));
	CL_GUARD(cl_cg_read(dir, "cgroup.events", buf, sizeof(buf)));
	*frozen = strstr(buf, "frozen 1") != NULL;
	return CL_OK;
}

/* The kernel kills every task atomically (5.14+); older kernels lack the file. */
static cl_err v2_kill(const char *name)
{
	char dir[256];
	CL_GUARD(v2_dir(name, 0, dir, sizeof(dir)));
	return cl_cg_write(dir, "cgroup.kill", "1") == CL_OK ? CL_OK
							      : cl_errorf(CL_EUNAVAIL, "cgroups: no cgroup.kill");
}

static cl_err v2_rename(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return cl_errorf(CL_EUNAVAIL, "cgroups: v2 cgroups cannot be renamed");
}

static bool v2_self_procs(char *path, size_t n)
{
	char line[512];
	const char *rel;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		if (cl_cg_parse_line(line, NULL, &rel))
			found = snprintf(path, n, "%s%s/cgroup.procs", cl_cg_v2_root(), rel) < (int)n;
	fclose(f);
	return found;
}

const cl_cg_ops cl_cg_v2_ops = {
	.name = "v2",
	.ndirs = 1,
	.parent = v2_parent,
	.dir = v2_dir,
	.ctl_dir = v2_ctl_dir,
	.make_parent = v2_make_parent,
	.set_limits = v2_set_limits,
	.memory = v2_memory,
	.set_memory = v2_set_memory,
	.freeze = v2_freeze,
	.is_frozen = v2_is_frozen,
	.kill = v2_kill,
	.rename = v2_rename,
	.self_procs = v2_self_procs,
};
