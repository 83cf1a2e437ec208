/* harden_landlock.c — step 4 of cl_harden_process: a Landlock ruleset.
 *
 * The ruleset handles every access right the running kernel knows, so what a
 * rule does not grant is denied — including rights newer than this file
 * (their bits are listed here by ABI version because Debian 12's headers stop
 * at ABI 2). The structures grow by ABI; the kernel takes the size we pass. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/harden.h"
#include "common/harden_internal.h"

/* Rights by the ABI that introduced them. */
#define FS_ABI1 ((UINT64_C(1) << 13) - 1)    /* EXECUTE .. MAKE_SYM */
#define FS_REFER (UINT64_C(1) << 13)         /* ABI 2 */
#define FS_TRUNCATE (UINT64_C(1) << 14)      /* ABI 3 */
#define FS_IOCTL_DEV (UINT64_C(1) << 15)     /* ABI 5 */
#define NET_BIND_TCP (UINT64_C(1) << 0)      /* ABI 4 */
#define NET_CONNECT_TCP (UINT64_C(1) << 1)   /* ABI 4 */
#define SCOPE_ABSTRACT_UNIX (UINT64_C(1) << 0) /* ABI 6 */
#define SCOPE_SIGNAL (UINT64_C(1) << 1)        /* ABI 6 */
#define RULE_PATH_BENEATH 1
#define RULE_NET_PORT 2

/* What a rule on a file (not a directory) may carry. */
#define FS_FILE_RIGHTS                                                                             \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |      \
	 FS_TRUNCATE | FS_IOCTL_DEV)

struct ruleset_attr { /* struct landlock_ruleset_attr, ABI 6 layout */
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI >= 4 */
	uint64_t scoped;             /* ABI >= 6 */
};

struct net_port_attr { /* struct landlock_net_port_attr (ABI 4) */
	uint64_t allowed_access;
	uint64_t port;
};

int cl_harden_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v > 0 ? (int)v : 0;
}

static uint64_t fs_handled(int abi)
{
	uint64_t r = FS_ABI1;
	if (abi >= 2)
		r |= FS_REFER;
	if (abi >= 3)
		r |= FS_TRUNCATE;
	if (abi >= 5)
		r |= FS_IOCTL_DEV;
	return r;
}

static uint64_t fs_rights(unsigned access)
{
	uint64_t r = 0;
	if (access & CL_LL_READ)
		r |= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	if (access & CL_LL_WRITE)
		r |= LANDLOCK_ACCESS_FS_WRITE_FILE | FS_TRUNCATE | LANDLOCK_ACCESS_FS_MAKE_REG |
		     LANDLOCK_ACCESS_FS_REMOVE_FILE;
	if (access & CL_LL_MKDIR)
		r |= LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR;
	if (access & CL_LL_EXEC)
		r |= LANDLOCK_ACCESS_FS_EXECUTE;
	if (access & CL_LL_REFER)
		r |= FS_REFER;
	return r;
}

static cl_err add_path(int rs, const cl_landlock_path *rule, uint64_t handled)
{
	struct landlock_path_beneath_attr a = {0};
	struct stat st;
	int fd = open(rule->path, O_PATH | O_CLOEXEC);
	cl_err err = CL_OK;
	CL_ENSURE(fd >= 0, CL_ESYS, "landlock: %s: %s", rule->path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		err = cl_errorf(CL_ESYS, "landlock: stat %s: %s", rule->path, strerror(errno));
		goto out;
	}
	a.allowed_access = fs_rights(rule->access) & handled;
	if (!S_ISDIR(st.st_mode))
		a.allowed_access &= FS_FILE_RIGHTS;
	a.parent_fd = fd;
	if (a.allowed_access && syscall(SYS_landlock_add_rule, rs, RULE_PATH_BENEATH, &a, 0) != 0)
		err = cl_errorf(CL_ESYS, "landlock: rule for %s: %s", rule->path, strerror(errno));
out:
	close(fd);
	return err;
}

static cl_err add_port(int rs, const cl_landlock_port *rule)
{
	struct net_port_attr a = {.port = rule->port};
	if (rule->access & CL_LL_TCP_BIND)
		a.allowed_access |= NET_BIND_TCP;
	if (rule->access & CL_LL_TCP_CONNECT)
		a.allowed_access |= NET_CONNECT_TCP;
	if (a.allowed_access && syscall(SYS_landlock_add_rule, rs, RULE_NET_PORT, &a, 0) != 0)
		return cl_errorf(CL_ESYS, "landlock: rule for TCP port %u: %s", rule->port, strerror(errno));
	return CL_OK;
}

cl_err cl_harden_landlock_apply(const cl_harden_policy *p, cl_harden_report *rep)
{
	struct ruleset_attr attr = {0};
	size_t size = sizeof(attr.handled_access_fs);
	int abi = cl_harden_landlock_abi();
	int rs;
	cl_err err = CL_OK;
	rep->landlock_abi = abi;
	if (abi == 0) {
		/* Only "the kernel has none" is tolerated: anything else fails. */
		long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
		CL_ENSURE(v < 0 && (errno == ENOSYS || errno == EOPNOTSUPP), CL_ESYS, "landlock: probe: %s",
			  strerror(errno));
		return CL_OK;
	}
	if (p->scope_only && (abi < 6 || p->no_scope))
		return CL_OK; /* nothing this kernel (or policy) can restrict without file-system rules */
	attr.handled_access_fs = p->scope_only ? 0 : fs_handled(abi);
	if (abi >= 4) {
		attr.handled_access_net = p->scope_only ? 0 : NET_BIND_TCP | (p->tcp_connect_any ? 0 : NET_CONNECT_TCP);
		size = offsetof(struct ruleset_attr, scoped);
	}
	if (abi >= 6) {
		attr.scoped = p->no_scope ? 0 : SCOPE_ABSTRACT_UNIX | (p->no_signal_scope ? 0 : SCOPE_SIGNAL);
		size = sizeof(attr);
	}
	rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	CL_ENSURE(rs >= 0, CL_ESYS, "landlock: create ruleset (ABI %d): %s", abi, strerror(errno));
	for (size_t i = 0; !p->scope_only && i < p->npaths && err == CL_OK; i++)
		err = add_path(rs, &p->paths[i], attr.handled_access_fs);
	for (size_t i = 0; !p->scope_only && abi >= 4 && i < p->nports && err == CL_OK; i++)
		err = add_port(rs, &p->ports[i]);
	if (err == CL_OK && syscall(SYS_landlock_restrict_self, rs, 0) != 0)
		err = cl_errorf(CL_ESYS, "landlock: restrict self: %s", strerror(errno));
	close(rs);
	if (err == CL_OK)
		rep->landlock_applied = true;
	return err;
}
