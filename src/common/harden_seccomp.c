/* harden_seccomp.c — step 5 of cl_harden_process: a seccomp allow-list built
 * from syscall sets, and the sets themselves (data: extend them here).
 *
 * Never in any set: execve, fork/clone, ptrace, bind, socket and connect
 * (except cl_sc_proxy's TCP-only socket and its connect, for the TLS data
 * plane), open_by_handle_at, setuid & co, capset, mount, keyctl, bpf, perf_event_open,
 * userfaultfd, io_uring_*, process_vm_*, memfd_create, kill of another pid. */
#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/harden.h"

#define SC(name) {name, CL_SC_ANY}
#define SC_IF(name, cond) {name, cond}
#define SC_END {NULL, CL_SC_ANY}

const cl_syscall cl_sc_base[] = {
	SC("read"), SC("readv"), SC("pread64"), SC("write"), SC("writev"), SC("pwrite64"), SC("close"), SC("lseek"),
	SC("fstat"), SC("newfstatat"), SC("fcntl"),
	SC("exit"), SC("exit_group"), SC("rt_sigreturn"), SC("restart_syscall"),
	SC("brk"), SC_IF("mmap", CL_SC_NO_EXEC), SC_IF("mprotect", CL_SC_NO_EXEC), SC("munmap"), SC("mremap"), SC("madvise"),
	SC("futex"), SC("sched_yield"),
	SC("clock_gettime"), SC("clock_getres"), SC("gettimeofday"), SC("time"), SC("nanosleep"), SC("clock_nanosleep"),
	SC("getrandom"), SC("getpid"), SC("gettid"), SC("getuid"), SC("geteuid"), SC("getgid"), SC("getegid"),
	/* abort(): block signals, raise SIGABRT on ourselves, reset its handler */
	SC("rt_sigprocmask"), SC("rt_sigaction"), SC_IF("tgkill", CL_SC_SELF),
	SC_END,
};

const cl_syscall cl_sc_ipc[] = {
	SC("recvmsg"), SC("sendmsg"), SC("recvfrom"), SC("sendto"), SC("poll"), SC("ppoll"), SC("shutdown"),
	SC_END,
};

const cl_syscall cl_sc_keyfiles[] = {
	SC("openat"), SC("open"), SC("getdents64"), SC("fsync"), SC("fdatasync"), SC("link"), SC("linkat"), SC("unlink"),
	SC("unlinkat"), SC("rename"), SC("renameat"), SC("renameat2"), SC("fchmod"), SC("statx"),
	SC_END,
};

const cl_syscall cl_sc_sanitizer[] = {
#if defined(__SANITIZE_ADDRESS__)
	/* What the AddressSanitizer runtime calls while the process runs. Its
	 * LeakSanitizer pass at exit() would need ptrace and clone: a sandboxed
	 * process ends with _exit(). */
	SC("sigaltstack"), /* __asan_handle_no_return, before exit, abort, longjmp */
#endif
	SC_END,
};

const cl_syscall cl_sc_accept[] = {
	SC("accept4"), SC("accept"),
	SC_END,
};

const cl_syscall cl_sc_proxy[] = {
	SC("epoll_wait"), SC("epoll_pwait"), SC("epoll_ctl"), SC_IF("socket", CL_SC_INET_STREAM), SC("connect"),
	SC("getsockopt"), SC("setsockopt"), SC("getsockname"), SC("getpeername"),
	SC_END,
};

const cl_syscall cl_sc_secmem[] = {
	SC("mlock"), SC("mlock2"), SC("munlock"),
	SC_END,
};

const cl_syscall cl_sc_host_deny[] = {
#if !defined(__SANITIZE_ADDRESS__)
	SC("ptrace"),
#endif
	SC("process_vm_readv"), SC("process_vm_writev"), SC("kexec_load"), SC("kexec_file_load"),
	SC("init_module"), SC("finit_module"), SC("delete_module"), SC("open_by_handle_at"), SC("bpf"),
	SC("perf_event_open"), SC("userfaultfd"), SC("add_key"), SC("request_key"), SC("keyctl"), SC("iopl"),
	SC("ioperm"), SC("swapon"), SC("swapoff"), SC("reboot"), SC("acct"), SC("lookup_dcookie"),
	SC("settimeofday"), SC("clock_settime"), SC("clock_adjtime"), SC("adjtimex"), SC("syslog"),
	SC("quotactl"), SC("nfsservctl"), SC("vhangup"),
	SC_END,
};

const cl_syscall *const cl_role_keyholder[] = {cl_sc_base, cl_sc_ipc, cl_sc_keyfiles, cl_sc_sanitizer, NULL};
const cl_syscall *const cl_role_guestif[] = {cl_sc_base, cl_sc_ipc, cl_sc_accept, cl_sc_sanitizer, NULL};
const cl_syscall *const cl_role_tls[] = {cl_sc_base, cl_sc_ipc, cl_sc_accept, cl_sc_proxy, cl_sc_secmem,
					      cl_sc_sanitizer, NULL};
const cl_syscall *const cl_role_host_deny[] = {cl_sc_host_deny, NULL};

static cl_err add_rule(scmp_filter_ctx ctx, const cl_syscall *sc, int nr)
{
	int rc;
	switch (sc->cond) {
	case CL_SC_NO_EXEC:
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
		break;
	case CL_SC_SELF:
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
		break;
	case CL_SC_INET_STREAM: {
		/* type without SOCK_NONBLOCK / SOCK_CLOEXEC must be SOCK_STREAM */
		const scmp_datum_t type_mask = 0xffffffffu & ~(scmp_datum_t)(SOCK_NONBLOCK | SOCK_CLOEXEC);
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, AF_INET),
				      SCMP_A1(SCMP_CMP_MASKED_EQ, type_mask, SOCK_STREAM));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, AF_INET6),
					      SCMP_A1(SCMP_CMP_MASKED_EQ, type_mask, SOCK_STREAM));
		break;
	}
	default:
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		break;
	}
	CL_ENSURE(rc == 0, CL_ESYS, "seccomp: rule for %s: %s", sc->name, strerror(-rc));
	return CL_OK;
}

cl_err cl_harden_seccomp(const cl_syscall *const *sets, enum cl_seccomp_action on_violation, unsigned *nrules)
{
	uint32_t deflt = on_violation == CL_SECCOMP_ERRNO ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx = seccomp_init(deflt);
	unsigned n = 0;
	int rc;
	cl_err err = CL_OK;
	CL_ENSURE(ctx != NULL, CL_ENOMEM, "seccomp: init failed");
	/* A syscall through another ABI (i386 int 0x80, x32 numbers) kills:
	 * the allow-list is only meaningful for the native table. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc != 0) {
		err = cl_errorf(CL_ESYS, "seccomp: bad-arch action: %s", strerror(-rc));
		goto out;
	}
	for (size_t s = 0; sets && sets[s] && err == CL_OK; s++) {
		for (const cl_syscall *sc = sets[s]; sc->name && err == CL_OK; sc++) {
			int nr = seccomp_syscall_resolve_name(sc->name);
			if (nr == __NR_SCMP_ERROR || nr < 0)
				continue; /* not on this architecture */
			err = add_rule(ctx, sc, nr);
			n++;
		}
	}
	if (err != CL_OK)
		goto out;
	rc = seccomp_load(ctx); /* NO_NEW_PRIVS is already set by the caller or by libseccomp */
	if (rc != 0)
		err = cl_errorf(CL_ESYS, "seccomp: load: %s", strerror(-rc));
out:
	seccomp_release(ctx);
	if (err == CL_OK && nrules)
		*nrules = n;
	return err;
}

/* EPERM for a set*id call (nr) whose argument arg equals id. */
static cl_err deny_id_arg(scmp_filter_ctx ctx, const char *name, unsigned arg, uint32_t id, unsigned *n)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR || nr < 0)
		return CL_OK;
	/* ids are 32-bit: compare the low 32 bits, whatever the caller left above */
	struct scmp_arg_cmp cmp = {.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffu, .datum_b = id};
	int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &cmp);
	CL_ENSURE(rc == 0, CL_ESYS, "seccomp: id rule for %s: %s", name, strerror(-rc));
	(*n)++;
	return CL_OK;
}

cl_err cl_harden_seccomp_deny(const cl_harden_policy *p, unsigned *nrules)
{
	static const struct {
		const char *name;
		unsigned nargs;
		bool gid;
	} setids[] = {
		{"setuid", 1, false}, {"setreuid", 2, false}, {"setresuid", 3, false}, {"setfsuid", 1, false},
		{"setgid", 1, true},  {"setregid", 2, true},  {"setresgid", 3, true},  {"setfsgid", 1, true},
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	unsigned n = 0;
	int rc;
	cl_err err = CL_OK;
	CL_ENSURE(ctx != NULL, CL_ENOMEM, "seccomp: init failed");
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc != 0) {
		err = cl_errorf(CL_ESYS, "seccomp: bad-arch action: %s", strerror(-rc));
		goto out;
	}
	for (size_t s = 0; p->deny && p->deny[s] && err == CL_OK; s++) {
		for (const cl_syscall *sc = p->deny[s]; sc->name && err == CL_OK; sc++) {
			int nr = seccomp_syscall_resolve_name(sc->name);
			if (nr == __NR_SCMP_ERROR || nr < 0)
				continue;
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
			if (rc != 0)
				err = cl_errorf(CL_ESYS, "seccomp: rule for %s: %s", sc->name, strerror(-rc));
			n++;
		}
	}
	for (size_t i = 0; p->protect_ids && i < sizeof(setids) / sizeof(setids[0]) && err == CL_OK; i++)
		for (unsigned a = 0; a < setids[i].nargs && err == CL_OK; a++)
			err = deny_id_arg(ctx, setids[i].name, a,
					  setids[i].gid ? (uint32_t)p->protect_gid : (uint32_t)p->protect_uid, &n);
	if (err != CL_OK)
		goto out;
	rc = seccomp_load(ctx);
	if (rc != 0)
		err = cl_errorf(CL_ESYS, "seccomp: load: %s", strerror(-rc));
out:
	seccomp_release(ctx);
	if (err == CL_OK && nrules)
		*nrules = n;
	return err;
}
