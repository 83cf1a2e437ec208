/* harden.h — the walls of a long-lived process, applied by the process to
 * itself once it has opened what it needs and before it reads hostile input.
 *
 * cl_harden_process applies, in this order, each step checked and failing
 * closed (bubblewrap style: any error means the caller must exit):
 *   1. the process must be single-threaded (Landlock and capabilities are
 *      per thread: a second thread would keep the old rights);
 *   2. PR_SET_DUMPABLE 0 (no core, no ptrace by same-uid processes, /proc
 *      files owned by root) and RLIMIT_CORE 0;
 *   3. PR_SET_NO_NEW_PRIVS 1 (no privilege gain through execve);
 *   4. a Landlock ruleset (docs: landlock(7)) that handles every access right
 *      the running kernel knows (ABI detected) and grants only the policy's
 *      rules; where the ABI has them, TCP bind/connect limited to the listed
 *      ports and scoping of abstract UNIX sockets and signals. Tolerated only:
 *      a kernel without Landlock (ENOSYS/EOPNOTSUPP), reported as abi 0;
 *   5. a seccomp allow-list (libseccomp) built from syscall sets, for the
 *      native architecture only (a foreign ABI — i386 int 0x80, x32 — kills
 *      the process). The default action is KILL_PROCESS: a compromised
 *      process gets no chance to probe. CL_SECCOMP_ERRNO answers EPERM instead,
 *      for tests and to find a missing syscall (run under strace).
 *
 * Privilege drop is separate and comes first (it needs capabilities that the
 * walls then forbid using): cl_harden_drop_privileges.
 */
#ifndef CL_HARDEN_H
#define CL_HARDEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* ---------------------------------------------------------------- Landlock */

/* Access groups for a path rule (mapped to the kernel's rights by ABI). */
#define CL_LL_READ 0x1u  /* read files, list directories */
#define CL_LL_WRITE 0x2u /* write and truncate files; create and remove regular files */
#define CL_LL_MKDIR 0x4u /* create and remove directories */
#define CL_LL_EXEC 0x8u  /* execute files */
#define CL_LL_REFER 0x10u /* link or rename files across directories (ABI >= 2; both sides need it) */

/* Access for a TCP port rule. */
#define CL_LL_TCP_BIND 0x1u
#define CL_LL_TCP_CONNECT 0x2u

typedef struct cl_landlock_path {
	const char *path; /* must exist: a missing path is an error, not a skipped rule */
	unsigned access;  /* CL_LL_* (file-only rights are kept for a file) */
} cl_landlock_path;

typedef struct cl_landlock_port {
	uint16_t port;
	unsigned access; /* CL_LL_TCP_* */
} cl_landlock_port;

/* The Landlock ABI version of the running kernel; 0 if it has none. */
int cl_harden_landlock_abi(void);

/* ---------------------------------------------------------------- seccomp */

enum cl_sc_cond {
	CL_SC_ANY = 0,
	CL_SC_NO_EXEC,  /* mmap/mprotect: argument 2 (prot) without PROT_EXEC */
	CL_SC_SELF,     /* tgkill/kill: argument 0 is this process's pid */
	CL_SC_INET_STREAM, /* socket: AF_INET or AF_INET6, SOCK_STREAM (flags allowed) */
};

/* One allowed syscall. Sets are arrays ending with {NULL}. A name this
 * architecture does not have is skipped (sets may list variants). */
typedef struct cl_syscall {
	const char *name;
	enum cl_sc_cond cond;
} cl_syscall;

/* Building blocks (harden_sets.c). */
extern const cl_syscall cl_sc_base[];     /* memory, time, exit, randomness, signals to self */
extern const cl_syscall cl_sc_ipc[];      /* talk over descriptors already open: recvmsg, sendmsg, poll */
extern const cl_syscall cl_sc_keyfiles[]; /* open/read/write/fsync/link/unlink files (Landlock says where) */
extern const cl_syscall cl_sc_sanitizer[];/* what ASan/UBSan need at run time; empty in plain builds */

extern const cl_syscall cl_sc_accept[];   /* accept connections on listening sockets already open */
/* A TCP proxy: epoll, new TCP sockets (AF_INET/AF_INET6 stream only) and
 * connect, socket options (SO_ORIGINAL_DST is a getsockopt). */
extern const cl_syscall cl_sc_proxy[];
/* Lock memory for secrets made after the walls (common/secmem.h's fallback). */
extern const cl_syscall cl_sc_secmem[];
/* Deny-list building block: what no part of cloister-host (supervisor,
 * agent, the shims they spawn, the enclaves below them) ever calls, and a
 * compromised one would: ptrace and process_vm_* (read another process's
 * memory), kernel modules and kexec, open_by_handle_at, BPF, perf,
 * userfaultfd, the kernel keyrings, iopl/ioperm, swap, reboot, accounting,
 * setting clocks. None of them is in the enclave allow-list
 * (src/sandbox/sandbox_seccomp.c). In ASan builds ptrace stays allowed
 * (LeakSanitizer's exit pass needs it). */
extern const cl_syscall cl_sc_host_deny[];

/* Role presets: NULL-terminated lists of sets. */
extern const cl_syscall *const cl_role_keyholder[];
extern const cl_syscall *const cl_role_guestif[];    /* the guest interface process (allow-list) */
extern const cl_syscall *const cl_role_tls[];        /* the TLS data plane (allow-list) */
extern const cl_syscall *const cl_role_host_deny[];  /* supervisor and agent (deny-list) */

enum cl_seccomp_action {
	CL_SECCOMP_KILL = 0,  /* default: SECCOMP_RET_KILL_PROCESS */
	CL_SECCOMP_ERRNO = 1, /* EPERM: tests and syscall discovery only */
};

/* ---------------------------------------------------------------- policy */

typedef struct cl_harden_policy {
	const cl_landlock_path *paths; /* granted paths (none: no file system at all) */
	size_t npaths;
	const cl_landlock_port *ports; /* granted TCP ports, when the ABI can restrict TCP */
	size_t nports;
	bool no_landlock;  /* skip step 4 (a process that must open anything) */
	bool no_scope;     /* do not scope abstract UNIX sockets and signals */
	/* Step 4 handles no file-system or network right, only the scopes (ABI
	 * >= 6; nothing to apply below): for a process whose descendants mount
	 * (Landlock forbids mount and pivot_root under a file-system domain) and
	 * run arbitrary TCP programs. */
	bool scope_only;
	bool no_signal_scope; /* scope abstract UNIX sockets only, not signals */
	/* TCP: every bind refused, but connect to any port (the TLS data plane
	 * connects to its guests' backends, whose ports come at run time). */
	bool tcp_connect_any;
	const cl_syscall *const *syscalls; /* allow-list; NULL: no allow-list filter */
	enum cl_seccomp_action on_violation;
	/* Deny-list (used when syscalls is NULL): everything else is allowed,
	 * a listed syscall fails with EPERM. With protect_ids, the set*uid and
	 * set*gid calls fail with EPERM when any id argument is protect_uid /
	 * protect_gid (the key holder's: a process that keeps CAP_SETUID for
	 * its children still cannot become the owner of the key files). */
	const cl_syscall *const *deny;
	bool protect_ids;
	uid_t protect_uid;
	gid_t protect_gid;
} cl_harden_policy;

/* What cl_harden_process applied. */
typedef struct cl_harden_report {
	int landlock_abi;      /* 0: the kernel has no Landlock */
	bool landlock_applied;
	bool seccomp_applied;
	unsigned seccomp_rules; /* syscalls allowed (resolved names) */
} cl_harden_report;

/* Applies the steps above to the calling (single-threaded) process. report
 * may be NULL. On failure the process is partly hardened and must exit. */
CL_MUST_CHECK cl_err cl_harden_process(const cl_harden_policy *p, cl_harden_report *report);

/* Only the seccomp step (5) — for callers that apply Landlock themselves.
 * *nrules gets the number of allowed syscalls (may be NULL). */
CL_MUST_CHECK cl_err cl_harden_seccomp(const cl_syscall *const *sets, enum cl_seccomp_action on_violation,
				       unsigned *nrules);
/* The deny-list variant (policy fields deny, protect_*): default allow,
 * listed syscalls EPERM. *nrules gets the number of rules (may be NULL). */
CL_MUST_CHECK cl_err cl_harden_seccomp_deny(const cl_harden_policy *p, unsigned *nrules);

/* ---------------------------------------------------------------- privileges */

/* Bit of capability c (CAP_* from linux/capability.h) in a keep mask. */
#define CL_CAP(c) (UINT64_C(1) << (c))

/* Keeps exactly the capabilities in keep (a CL_CAP mask that must be a subset
 * of the permitted set) and, if uid != (uid_t)-1, switches to uid/gid (real,
 * effective, saved) with no supplementary groups. Order: bounding set
 * (needs CAP_SETPCAP; without it the bounding set is left, and reported in
 * *bset_kept), ambient set cleared, groups, gid, uid (with KEEPCAPS only for
 * the kept ones), then effective = permitted = keep, inheritable = 0.
 * Everything is read back and verified, including that a non-root uid can
 * not become root again. Single-threaded callers only. bset_kept may be NULL. */
CL_MUST_CHECK cl_err cl_harden_drop_privileges(uid_t uid, gid_t gid, uint64_t keep, bool *bset_kept);

/* The calling thread's capability sets as CL_CAP masks (any may be NULL). */
CL_MUST_CHECK cl_err cl_harden_caps(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable,
				    uint64_t *bounding, uint64_t *ambient);

#endif
