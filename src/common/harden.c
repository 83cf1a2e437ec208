/* harden.c — cl_harden_process (the whole sequence, readable in one
 * function) and the privilege drop. Capabilities use the raw capget/capset
 * and prctl calls, as bubblewrap does: three system calls do not justify a
 * library, and every result is read back. */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/harden.h"
#include "common/harden_internal.h"
#include "common/log.h"

/* Counts the entries of /proc/self/task: Landlock and capabilities apply to
 * the calling thread only, so any second thread would escape them. */
static cl_err single_threaded(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	CL_ENSURE(d != NULL, CL_ESYS, "harden: cannot count threads (/proc/self/task): %s", strerror(errno));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	CL_ENSURE(n == 1, CL_EINTERNAL, "harden: %d threads; harden before starting threads", n);
	return CL_OK;
}

cl_err cl_harden_process(const cl_harden_policy *p, cl_harden_report *report)
{
	cl_harden_report rep = {0};
	struct rlimit none = {0, 0};
	CL_GUARD(single_threaded());

	CL_ENSURE(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, CL_ESYS,
		  "harden: PR_SET_DUMPABLE: %s", strerror(errno));
	CL_ENSURE(setrlimit(RLIMIT_CORE, &none) == 0, CL_ESYS, "harden: RLIMIT_CORE: %s", strerror(errno));

	CL_ENSURE(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1,
		  CL_ESYS, "harden: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));

	if (!p->no_landlock)
		CL_GUARD(cl_harden_landlock_apply(p, &rep));

	if (p->syscalls) {
		CL_GUARD(cl_harden_seccomp(p->syscalls, p->on_violation, &rep.seccomp_rules));
		rep.seccomp_applied = true;
	} else if (p->deny || p->protect_ids) {
		CL_GUARD(cl_harden_seccomp_deny(p, &rep.seccomp_rules));
		rep.seccomp_applied = true;
	}
	if (report)
		*report = rep;
	return CL_OK;
}

/* ---------------------------------------------------------------- capabilities */

static int cap_last(void)
{
	int last = 0;
	while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
		last++;
	return last;
}

static cl_err caps_get(uint64_t *eff, uint64_t *perm, uint64_t *inh)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	CL_ENSURE(syscall(SYS_capget, &h, d) == 0, CL_ESYS, "capget: %s", strerror(errno));
	*eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	*perm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	*inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
	return CL_OK;
}

static cl_err caps_set(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {
		{.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
		{.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32),
		 .inheritable = (uint32_t)(inh >> 32)},
	};
	CL_ENSURE(syscall(SYS_capset, &h, d) == 0, CL_ESYS, "capset: %s", strerror(errno));
	return CL_OK;
}

cl_err cl_harden_caps(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable, uint64_t *bounding,
		      uint64_t *ambient)
{
	uint64_t e, p, i, b = 0, a = 0;
	int last = cap_last();
	CL_GUARD(caps_get(&e, &p, &i));
	for (int c = 0; c <= last; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			b |= CL_CAP(c);
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
			a |= CL_CAP(c);
	}
	if (effective)
		*effective = e;
	if (permitted)
		*permitted = p;
	if (inheritable)
		*inheritable = i;
	if (bounding)
		*bounding = b;
	if (ambient)
		*ambient = a;
	return CL_OK;
}

/* Sets real, effective and saved ids to uid/gid with no supplementary groups. */
static cl_err switch_ids(uid_t uid, gid_t gid, uint64_t keep)
{
	CL_ENSURE(!keep || prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0, CL_ESYS, "PR_SET_KEEPCAPS: %s",
		  strerror(errno));
	CL_ENSURE(setgroups(0, NULL) == 0, CL_ESYS, "setgroups: %s", strerror(errno));
	CL_ENSURE(setresgid(gid, gid, gid) == 0, CL_ESYS, "setresgid(%u): %s", (unsigned)gid, strerror(errno));
	CL_ENSURE(setresuid(uid, uid, uid) == 0, CL_ESYS, "setresuid(%u): %s", (unsigned)uid, strerror(errno));
	CL_ENSURE(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == 0, CL_ESYS, "PR_SET_KEEPCAPS: %s", strerror(errno));
	return CL_OK;
}

static cl_err verify_ids(uid_t uid, gid_t gid, uint64_t keep)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	CL_ENSURE(getresuid(&r, &e, &s) == 0 && r == uid && e == uid && s == uid, CL_EINTERNAL,
		  "uid is not %u after the switch", (unsigned)uid);
	CL_ENSURE(getresgid(&rg, &eg, &sg) == 0 && rg == gid && eg == gid && sg == gid, CL_EINTERNAL,
		  "gid is not %u after the switch", (unsigned)gid);
	CL_ENSURE(getgroups(0, NULL) == 0, CL_EINTERNAL, "supplementary groups left after the switch");
	/* The drop must be irreversible (unless CAP_SETUID/CAP_SETGID were kept
	 * on purpose): root again would undo everything. */
	if (uid != 0 && !(keep & CL_CAP(CAP_SETUID)))
		CL_ENSURE(setresuid(0, 0, 0) != 0, CL_EINTERNAL, "could become root again after dropping to uid %u",
			  (unsigned)uid);
	if (gid != 0 && !(keep & CL_CAP(CAP_SETGID)))
		CL_ENSURE(setresgid(0, 0, 0) != 0, CL_EINTERNAL, "could join gid 0 again after dropping to gid %u",
			  (unsigned)gid);
	return CL_OK;
}

cl_err cl_harden_drop_privileges(uid_t uid, gid_t gid, uint64_t keep, bool *bset_kept)
{
	uint64_t eff, perm, inh, bset, amb;
	int last = cap_last();
	bool can_bset;
	CL_GUARD(single_threaded());
	CL_GUARD(caps_get(&eff, &perm, &inh));
	CL_ENSURE((keep & ~perm) == 0, CL_EPERM, "cannot keep capabilities 0x%llx not permitted (0x%llx)",
		  (unsigned long long)keep, (unsigned long long)perm);
	can_bset = (eff & CL_CAP(CAP_SETPCAP)) != 0;
	for (int c = 0; can_bset && c <= last; c++)
		if (!(keep & CL_CAP(c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			CL_ENSURE(prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0, CL_ESYS, "PR_CAPBSET_DROP(%d): %s", c,
				  strerror(errno));
	CL_ENSURE(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0, CL_ESYS,
		  "clearing ambient capabilities: %s", strerror(errno));
	if (uid != (uid_t)-1)
		CL_GUARD(switch_ids(uid, gid, keep));
	CL_GUARD(caps_set(keep, keep, 0));

	CL_GUARD(cl_harden_caps(&eff, &perm, &inh, &bset, &amb));
	CL_ENSURE(eff == keep && perm == keep && inh == 0 && amb == 0, CL_EINTERNAL,
		  "capabilities after the drop are not exactly 0x%llx", (unsigned long long)keep);
	CL_ENSURE(!can_bset || bset == keep, CL_EINTERNAL, "bounding set after the drop is 0x%llx",
		  (unsigned long long)bset);
	if (uid != (uid_t)-1)
		CL_GUARD(verify_ids(uid, gid, keep));
	if (bset_kept)
		*bset_kept = !can_bset;
	if (!can_bset)
		cl_debug("harden: no CAP_SETPCAP, bounding set left as it was");
	return CL_OK;
}
