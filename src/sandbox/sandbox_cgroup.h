/* sandbox_cgroup.h — private to sandbox_cgroup*.c: the operations one cgroup
 * version implements (sandbox_cgroup_v1.c, sandbox_cgroup_v2.c) and the
 * file helpers they share. The rest of the backend calls the cl_cgroup_*
 * functions of sandbox_internal.h (sandbox_cgroup.c), which pick the table
 * of the layout the host has.
 *
 * A cgroup is named by one path component under cloister/: an enclave id,
 * or spare-<pid> for a prepared sandbox that has no id yet.
 */
#ifndef CL_SANDBOX_CGROUP_H
#define CL_SANDBOX_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define CL_CG_WAIT_NS (5ull * 1000 * 1000 * 1000)

typedef struct cl_cg_ops {
	const char *name; /* "v1" or "v2" */
	size_t ndirs;     /* directories per cgroup: one per v1 controller, one on v2 */
	/* Path of cloister/ in hierarchy i (< ndirs), the parent of every cgroup. */
	cl_err (*parent)(size_t i, char *out, size_t n);
	/* Path of directory i (< ndirs) of cgroup `name`. CL_EINVAL if too long. */
	cl_err (*dir)(const char *name, size_t i, char *out, size_t n);
	/* The directory holding controller ctl ("memory", "cpu", "pids", "freezer"). */
	cl_err (*ctl_dir)(const char *name, const char *ctl, char *out, size_t n);
	/* Makes cloister/ in every hierarchy (v2: and enables the controllers
	 * below it). Existing is fine. */
	cl_err (*make_parent)(void);
	/* Memory (kept out of swap), CPU quota and pids limits of an existing
	 * cgroup. On failure some limits may be set: the caller removes it. */
	cl_err (*set_limits)(const char *name, uint64_t memory, uint32_t cpus, uint32_t pids_max);
	/* Current memory limit and usage in bytes. */
	cl_err (*memory)(const char *name, uint64_t *limit, uint64_t *usage);
	/* A new memory limit, `old` being the current one (v1 orders the memsw
	 * and limit writes by it). A limit below usage: CL_ECONFLICT. */
	cl_err (*set_memory)(const char *name, uint64_t bytes, uint64_t old);
	/* Asks the kernel to freeze or thaw (the common part waits for it). */
	cl_err (*freeze)(const char *name, bool frozen);
	cl_err (*is_frozen)(const char *name, bool *frozen);
	/* Kills every task at once where the kernel can (v2 cgroup.kill);
	 * CL_EUNAVAIL otherwise (the common part freezes, kills, thaws). */
	cl_err (*kill)(const char *name);
	/* Renames every directory of `from` to `to`, all or nothing; CL_EUNAVAIL
	 * where the kernel cannot rename cgroups (v2). */
	cl_err (*rename)(const char *from, const char *to);
	/* The caller's own cgroup.procs in the hierarchy whose first migration
	 * is primed (v1: memory). False if not found. */
	bool (*self_procs)(char *path, size_t n);
} cl_cg_ops;

extern const cl_cg_ops cl_cg_v1_ops;
extern const cl_cg_ops cl_cg_v2_ops;

/* Root of the v2 hierarchy in use ("/sys/fs/cgroup" or "/sys/fs/cgroup/unified"). */
const char *cl_cg_v2_root(void);

/* DIR/FILE := val (one write). ENOENT -> CL_ENOTFOUND, EBUSY -> CL_ECONFLICT. */
CL_MUST_CHECK cl_err cl_cg_write(const char *dir, const char *file, const char *val);
/* Reads DIR/FILE (up to n - 1 bytes, NUL-terminated). ENOENT -> CL_ENOTFOUND. */
CL_MUST_CHECK cl_err cl_cg_read(const char *dir, const char *file, char *out, size_t n);
/* A decimal number, or "max" as UINT64_MAX. */
CL_MUST_CHECK cl_err cl_cg_read_u64(const char *dir, const char *file, uint64_t *v);
/* Enclave memory must not reach swap in clear: `limited` says the cgroup is
 * kept out of it; if not, only a host without swap may launch (CL_EUNAVAIL
 * naming `why`). */
CL_MUST_CHECK cl_err cl_cg_swap_guard(bool limited, const char *why);
/* True if the first line of /proc/self/cgroup-style `line` ("N:ctl,...:/path")
 * lists controller ctl (NULL: the v2 line "0::"); *path points into line. */
bool cl_cg_parse_line(char *line, const char *ctl, const char **path);

#endif
