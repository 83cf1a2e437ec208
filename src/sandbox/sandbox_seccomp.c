/* sandbox_seccomp.c — the enclave's seccomp filter: a default-deny allow-list.
 *
 * Anything not listed fails with EPERM (so programs see an ordinary error
 * rather than dying on a probe); a syscall made through a foreign ABI
 * (i386 int 0x80, x32) kills the process. clone is allowed only without
 * namespace flags; clone3 answers ENOSYS (its flags live in memory a filter
 * cannot read) so libc falls back to clone. socket is limited to UNIX and IP
 * families; ioctl to a few terminal/fd requests; prctl to harmless options.
 * Never listed, hence denied: ptrace, mount, umount2, pivot_root, chroot,
 * init/finit/delete_module, kexec_*, bpf, perf_event_open, keyctl, add_key,
 * request_key, unshare, setns, open_by_handle_at, name_to_handle_at,
 * userfaultfd, reboot, swapon/off, process_vm_*, io_uring_*, the new mount
 * API (fsopen, fsmount, move_mount, open_tree...), clock/time setters,
 * iopl/ioperm, syslog, acct, quotactl, personality, mknod.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>

#include "sandbox/sandbox_internal.h"

static const char *const allowed[] = {
	/* files and descriptors */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
	"pwritev2", "lseek", "open", "openat", "openat2", "close", "close_range", "creat", "stat",
	"fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat",
	"faccessat2", "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat",
	"rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat", "symlink",
	"symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat", "truncate",
	"ftruncate", "fallocate", "fsync", "fdatasync", "sync_file_range", "fcntl", "flock", "dup",
	"dup2", "dup3", "pipe", "pipe2", "umask", "utimensat", "futimesat", "utimes", "utime",
	"sendfile", "splice", "tee", "copy_file_range", "fadvise64", "memfd_create", "memfd_secret",
	"eventfd", "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd",
	"signalfd4", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	/* polling */
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
	"epoll_wait", "epoll_pwait", "epoll_pwait2",
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock",
	"mlock2", "munlock", "mlockall", "munlockall", "membarrier",
	/* processes, threads, signals */
	"fork", "vfork", "execve", "execveat", "exit", "exit_group", "restart_syscall", "wait4", "waitid", "kill",
	"tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend",
	"rt_sigpending", "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack",
	"pause", "getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid", "getsid", "setsid",
	"set_tid_address", "set_robust_list", "get_robust_list", "futex", "futex_waitv", "rseq",
	"arch_prctl", "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
	"sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min", "getpriority",
	"pidfd_open", "pidfd_send_signal",
	/* identity (inside the user namespace only one uid/gid exists) */
	"getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "capget",
	/* time */
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"alarm", "setitimer", "getitimer", "timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete", "times",
	/* system information and limits */
	"uname", "sysinfo", "getrlimit", "setrlimit", "prlimit64", "getrusage", "getrandom",
	"getcpu",
	/* sockets (families filtered below) */
	"socketpair", "bind", "listen", "accept", "accept4", "connect", "sendto", "recvfrom",
	"sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname", "getpeername",
	"setsockopt", "getsockopt",
};

static const int socket_families[] = {AF_UNIX, AF_INET, AF_INET6};
static const unsigned long ioctl_requests[] = {TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX};
static const int prctl_options[] = {PR_SET_NAME, PR_GET_NAME, PR_SET_PDEATHSIG, PR_GET_PDEATHSIG,
				    PR_GET_DUMPABLE, PR_GET_NO_NEW_PRIVS,
				    PR_SET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_CAPBSET_READ,
				    PR_SET_VMA, PR_GET_TIMERSLACK, PR_SET_TIMERSLACK};

#define NS_FLAGS                                                                                   \
	(CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |  \
	 CLONE_NEWCGROUP | CLONE_NEWTIME)

#define N(a) (sizeof(a) / sizeof((a)[0]))

static cl_err rule(scmp_filter_ctx ctx, int rc, const char *what)
{
	CL_ENSURE(rc == 0, CL_ESYS, "seccomp: rule %s: %s", what, strerror(-rc));
	return CL_OK;
}

static cl_err build(scmp_filter_ctx ctx)
{
	int rc;
	CL_GUARD(rule(ctx, seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "badarch"));
	for (size_t i = 0; i < N(allowed); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue; /* not on this architecture */
		CL_GUARD(rule(ctx, seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0), allowed[i]));
	}
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			      SCMP_A0(SCMP_CMP_MASKED_EQ, (scmp_datum_t)NS_FLAGS, 0));
	CL_GUARD(rule(ctx, rc, "clone"));
	CL_GUARD(rule(ctx, seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3"));
	for (size_t i = 0; i < N(socket_families); i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)socket_families[i]));
		CL_GUARD(rule(ctx, rc, "socket"));
	}
	for (size_t i = 0; i < N(ioctl_requests); i++) {
		/* ioctl's request is an unsigned int in the kernel: compare the low 32 bits. */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)ioctl_requests[i]));
		CL_GUARD(rule(ctx, rc, "ioctl"));
	}
	for (size_t i = 0; i < N(prctl_options); i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)prctl_options[i]));
		CL_GUARD(rule(ctx, rc, "prctl"));
	}
	/* PR_SET_DUMPABLE only to 0: cloister-init makes itself non-dumpable
	 * (an exec makes it dumpable again); nothing may turn it back on. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)PR_SET_DUMPABLE),
			      SCMP_A1(SCMP_CMP_EQ, 0));
	CL_GUARD(rule(ctx, rc, "prctl"));
	return CL_OK;
}

cl_err cl_sandbox_seccomp_compile(cl_sandbox_bpf *out)
{
	/* The filter is built for the native architecture only: libseccomp adds
	 * the audit-arch check and rejects x32 numbers on x86_64. */
	out->insns = NULL;
	out->len = 0;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	CL_ENSURE(ctx != NULL, CL_ENOMEM, "seccomp: init failed");
	int mfd = -1;
	cl_err e = build(ctx);
	if (e != CL_OK)
		goto out;
	/* libseccomp 2.5 exports the program only to an fd: a memfd, read back. */
	mfd = memfd_create("cloister-seccomp", MFD_CLOEXEC);
	int rc = mfd < 0 ? -errno : seccomp_export_bpf(ctx, mfd);
	if (rc != 0) {
		e = cl_errorf(CL_ESYS, "seccomp: export: %s", strerror(-rc));
		goto out;
	}
	off_t size = lseek(mfd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
	    size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		e = cl_errorf(CL_EINTERNAL, "seccomp: exported program has a bad size");
		goto out;
	}
	out->insns = malloc((size_t)size);
	if (!out->insns) {
		e = cl_errorf(CL_ENOMEM, "seccomp: out of memory");
		goto out;
	}
	if (pread(mfd, out->insns, (size_t)size, 0) != (ssize_t)size) {
		free(out->insns);
		out->insns = NULL;
		e = cl_errorf(CL_ESYS, "seccomp: read back: %s", strerror(errno));
		goto out;
	}
	out->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
out:
	if (mfd >= 0)
		close(mfd);
	seccomp_release(ctx);
	return e;
}

cl_err cl_sandbox_seccomp_load(const cl_sandbox_bpf *bpf)
{
	struct sock_fprog prog = {.len = bpf->len, .filter = bpf->insns};
	CL_ENSURE(bpf->insns && bpf->len, CL_EINVAL, "seccomp: no program");
	CL_ENSURE(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0, CL_ESYS, "seccomp: load: %s",
		  strerror(errno));
	return CL_OK;
}

void cl_sandbox_seccomp_free(cl_sandbox_bpf *bpf)
{
	free(bpf->insns);
	bpf->insns = NULL;
	bpf->len = 0;
}

cl_err cl_sandbox_seccomp_install(void)
{
	cl_sandbox_bpf bpf;
	CL_GUARD(cl_sandbox_seccomp_compile(&bpf));
	cl_err e = cl_sandbox_seccomp_load(&bpf);
	cl_sandbox_seccomp_free(&bpf);
	return e;
}
