/* Unit tests for src/common/harden*.c, each in a forked child (the walls are
 * one-way): dumpable and no_new_privs are set; Landlock denies a file outside
 * the rules and allows one inside, denies TCP and signals out of the domain;
 * a syscall outside the allow-list kills (or fails with EPERM in the test
 * mode); a foreign-ABI syscall kills; capabilities after the drop are
 * exactly the given set, and the uid change cannot be undone. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pthread.h>
#include <seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"

static char base[64];

static int setup(void **state)
{
	snprintf(base, sizeof(base), "/tmp/cl-harden.XXXXXX");
	if (!mkdtemp(base))
		return -1;
	char p[128];
	snprintf(p, sizeof(p), "%s/in", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/rw", base);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/out", base);
	mkdir(p, 0700);
	const char *files[] = {"in/f", "rw/f", "out/f"};
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", base, files[i]);
		int fd = open(p, O_WRONLY | O_CREAT, 0600);
		if (fd < 0 || write(fd, "x", 1) != 1)
			return -1;
		close(fd);
	}
	return 0;
}

static int teardown(void **state)
{
	return cl_rm_rf(base) == CL_OK ? 0 : -1;
}

/* Runs fn in a child; returns its wait status. fn returns the exit code. */
static int in_child(int (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void assert_exit0(int st)
{
	if (!WIFEXITED(st))
		fail_msg("child killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int status_field(const char *name, char *out, size_t n)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	size_t l = strlen(name);
	int r = -1;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, name, l) == 0 && line[l] == ':') {
			char *v = line + l + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, n, "%s", v);
			r = 0;
			break;
		}
	if (f)
		fclose(f);
	return r;
}

static char path_in[128], path_rw[128], path_out[128], path_rw_new[128];

static void paths(void)
{
	snprintf(path_in, sizeof(path_in), "%s/in/f", base);
	snprintf(path_rw, sizeof(path_rw), "%s/rw/f", base);
	snprintf(path_out, sizeof(path_out), "%s/out/f", base);
	snprintf(path_rw_new, sizeof(path_rw_new), "%s/rw/new", base);
}

/* ---------------------------------------------------------------- process flags */

static int child_flags(void)
{
	cl_harden_policy p = {.no_landlock = true};
	struct rlimit rl;
	char v[64];
	if (cl_harden_process(&p, NULL) != CL_OK)
		return 10;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 11;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 || status_field("NoNewPrivs", v, sizeof(v)) != 0 ||
	    strcmp(v, "1") != 0)
		return 12;
	if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
		return 13;
	return 0;
}

static void process_flags(void **state)
{
	assert_exit0(in_child(child_flags));
}

static void *idle(void *arg)
{
	pause();
	return NULL;
}

static int child_threads(void)
{
	pthread_t t;
	cl_harden_policy p = {.no_landlock = true};
	if (pthread_create(&t, NULL, idle, NULL) != 0)
		return 10;
	/* a second thread would keep every old right: refused */
	return cl_harden_process(&p, NULL) == CL_EINTERNAL ? 0 : 11;
}

static void refuses_threads(void **state)
{
	assert_exit0(in_child(child_threads));
}

/* ---------------------------------------------------------------- Landlock */

static int child_landlock(void)
{
	char dir_in[128], dir_rw[128];
	snprintf(dir_in, sizeof(dir_in), "%s/in", base);
	snprintf(dir_rw, sizeof(dir_rw), "%s/rw", base);
	cl_landlock_path rules[] = {{dir_in, CL_LL_READ}, {dir_rw, CL_LL_READ | CL_LL_WRITE}};
	cl_harden_policy p = {.paths = rules, .npaths = 2};
	cl_harden_report rep;
	int fd;
	int abi = cl_harden_landlock_abi();
	if (cl_harden_process(&p, &rep) != CL_OK || rep.landlock_abi != abi || rep.landlock_applied != (abi > 0))
		return 10;
	if (abi == 0)
		return 0; /* nothing more to check on a kernel without Landlock */
	if ((fd = open(path_in, O_RDONLY)) < 0) /* inside, readable */
		return 11;
	close(fd);
	if (open(path_out, O_RDONLY) >= 0 || errno != EACCES) /* outside */
		return 12;
	if (open(path_in, O_WRONLY) >= 0 || errno != EACCES) /* inside, read-only */
		return 13;
	if ((fd = open(path_rw_new, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) /* inside, writable */
		return 14;
	close(fd);
	if (unlink(path_rw_new) != 0)
		return 15;
	if (open("/etc/passwd", O_RDONLY) >= 0 || errno != EACCES)
		return 16;
	if (abi >= 4) { /* TCP: no port granted */
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1)};
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 || errno != EACCES)
			return 17;
		close(s);
	}
	if (abi >= 6 && (kill(getppid(), 0) == 0 || errno != EPERM)) /* signals scoped to the domain */
		return fprintf(stderr, "bind: abi %d errno %d\n", rep.landlock_abi, errno), 18;
	return 0;
}

static void landlock_rules(void **state)
{
	paths();
	int st = in_child(child_landlock);
	assert_exit0(st);
	/* the parent is not affected */
	int fd = open(path_out, O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
}

static int child_landlock_missing(void)
{
	cl_landlock_path rules[] = {{"/nonexistent/cloister", CL_LL_READ}};
	cl_harden_policy p = {.paths = rules, .npaths = 1};
	if (cl_harden_landlock_abi() == 0)
		return 0;
	return cl_harden_process(&p, NULL) == CL_ESYS ? 0 : 10; /* a rule that cannot be made fails closed */
}

static void landlock_fails_closed(void **state)
{
	assert_exit0(in_child(child_landlock_missing));
}

/* ---------------------------------------------------------------- seccomp */

static const cl_syscall *const only_base[] = {cl_sc_base, cl_sc_sanitizer, NULL};

static int harden_seccomp(enum cl_seccomp_action a)
{
	cl_harden_policy p = {.no_landlock = true, .syscalls = only_base, .on_violation = a};
	cl_harden_report rep;
	if (cl_harden_process(&p, &rep) != CL_OK || !rep.seccomp_applied || rep.seccomp_rules < 20)
		_exit(10);
	return 0;
}

static int child_sc_socket(void)
{
	harden_seccomp(CL_SECCOMP_KILL);
	(void)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	return 20; /* not reached */
}

static int child_sc_exec_map(void)
{
	harden_seccomp(CL_SECCOMP_KILL);
	(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 20;
}

static int child_sc_x32(void)
{
	harden_seccomp(CL_SECCOMP_KILL);
#if defined(__x86_64__)
	(void)syscall(0x40000000 | SYS_getpid); /* the x32 ABI's getpid */
	return 20;
#else
	raise(SIGSYS);
	return 21;
#endif
}

static int child_sc_other_pid(void)
{
	pid_t parent = getppid();
	harden_seccomp(CL_SECCOMP_KILL);
	(void)syscall(SYS_tgkill, parent, parent, 0); /* tgkill only to ourselves */
	return 20;
}

static int child_sc_abort(void)
{
	harden_seccomp(CL_SECCOMP_KILL);
	abort(); /* allowed: dies of SIGABRT, not SIGSYS */
}

static int child_sc_errno(void)
{
	char buf[16];
	int p[2];
	if (pipe(p) != 0)
		return 9;
	harden_seccomp(CL_SECCOMP_ERRNO);
	if (syscall(SYS_socket, AF_INET, SOCK_STREAM, 0) >= 0 || errno != EPERM)
		return 11;
	if (mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED || errno != EPERM)
		return 12;
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || munmap(m, 4096) != 0) /* allowed: no PROT_EXEC */
		return 13;
	if (write(p[1], "ok", 2) != 2 || read(p[0], buf, sizeof(buf)) != 2 || getpid() <= 0)
		return 14;
	if (syscall(SYS_getpgrp) >= 0 || errno != EPERM) /* harmless, but not listed */
		return 15;
	return 0;
}

static void seccomp_kills(void **state)
{
	int (*fns[])(void) = {child_sc_socket, child_sc_exec_map, child_sc_x32, child_sc_other_pid};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		int st = in_child(fns[i]);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
			fail_msg("case %zu: status 0x%x, expected death by SIGSYS", i, st);
	}
	int st = in_child(child_sc_abort);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

static void seccomp_errno_mode(void **state)
{
	assert_exit0(in_child(child_sc_errno));
}

/* The deny-list of the supervisor and the agent: listed calls fail EPERM,
 * everything else works, and a set*id call naming the protected id fails
 * while one naming another id goes through. */
static int child_deny(void)
{
	if (geteuid() != 0)
		return 0; /* the id half needs root: the suite runs as root */
	cl_harden_policy p = {.no_landlock = true, .deny = cl_role_host_deny, .protect_ids = true,
			      .protect_uid = 4343, .protect_gid = 4344};
	cl_harden_report rep;
	if (cl_harden_process(&p, &rep) != CL_OK || !rep.seccomp_applied || rep.seccomp_rules < 25)
		return 10;
#if !defined(__SANITIZE_ADDRESS__)
	if (syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0) == 0 || errno != EPERM)
		return 11;
#endif
	if (syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0, 0) == 0 || errno != EPERM)
		return 12;
	if (syscall(SYS_keyctl, 0, 0, 0, 0, 0) >= 0 || errno != EPERM)
		return 13;
	if (socket(AF_INET, SOCK_STREAM, 0) < 0) /* not listed: allowed */
		return 14;
	if (setresuid(4343, 4343, 4343) == 0 || errno != EPERM || setresuid(0, 4343, 0) == 0 || errno != EPERM ||
	    setuid(4343) == 0 || setresgid(4344, 4344, 4344) == 0 || errno != EPERM)
		return 15;
	(void)setfsuid(4343);
	if (setfsuid((uid_t)-1) != 0) /* -1 changes nothing and returns the fsuid: still 0 */
		return fprintf(stderr, "bind: abi %d errno %d\n", rep.landlock_abi, errno), 18;
	if (geteuid() != 0 || getegid() != 0)
		return 16;
	if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) /* another id: allowed */
		return 17;
	return 0;
}

static void seccomp_deny_list(void **state)
{
	assert_exit0(in_child(child_deny));
}

/* scope_only: no file-system or network rule (a process whose children
 * mount and run arbitrary programs), abstract UNIX sockets scoped; signals
 * too unless no_signal_scope. */
static int child_scope(bool signals)
{
	int abi = cl_harden_landlock_abi();
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + 20);
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "cl-harden-%08d", (int)getpid());
	int l = socket(AF_UNIX, SOCK_STREAM, 0); /* bound before the walls: outside the domain */
	if (l < 0 || bind(l, (struct sockaddr *)&sa, len) != 0 || listen(l, 1) != 0)
		return 9;
	cl_harden_policy p = {.scope_only = true, .no_signal_scope = !signals};
	cl_harden_report rep;
	if (cl_harden_process(&p, &rep) != CL_OK || rep.landlock_applied != (abi >= 6))
		return 10;
	int fd = open(path_out, O_RDONLY); /* no file-system rule */
	if (fd < 0)
		return 11;
	close(fd);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c < 0)
		return 12;
	/* our own listener is in no domain: scoped away where the ABI scopes */
	int r = connect(c, (struct sockaddr *)&sa, len);
	if (abi >= 6 && (r == 0 || errno != EPERM))
		return 13;
	if (abi < 6 && r != 0)
		return 14;
	r = kill(getppid(), 0);
	if (abi >= 6 && signals && (r == 0 || errno != EPERM))
		return 15;
	if (!signals && r != 0)
		return 16;
	return 0;
}

static int child_scope_signals(void)
{
	return child_scope(true);
}

static int child_scope_no_signals(void)
{
	return child_scope(false);
}

static void landlock_scope_only(void **state)
{
	paths();
	assert_exit0(in_child(child_scope_signals));
	assert_exit0(in_child(child_scope_no_signals));
}

/* The TLS data plane's walls (cl_role_tls, tcp_connect_any): TCP sockets
 * and connect work, any other socket family or type is refused by seccomp,
 * so is bind, and no file opens. */
static int child_tls_role(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 4) != 0 ||
	    getsockname(l, (struct sockaddr *)&a, &al) != 0)
		return 9;
	cl_harden_policy p = {.syscalls = cl_role_tls, .on_violation = CL_SECCOMP_ERRNO, .tcp_connect_any = true};
	cl_harden_report rep;
	if (cl_harden_process(&p, &rep) != CL_OK || !rep.seccomp_applied)
		return 10;
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c < 0)
		return 11;
	if (connect(c, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS)
		return 12; /* connect to any port stays open */
	int s6 = socket(AF_INET6, SOCK_STREAM, 0);
	if (s6 < 0)
		return 13;
	if (socket(AF_INET, SOCK_DGRAM, 0) >= 0 || errno != EPERM)
		return 14;
	if (socket(AF_UNIX, SOCK_STREAM, 0) >= 0 || errno != EPERM)
		return 15;
	if (socket(AF_NETLINK, SOCK_RAW, 0) >= 0 || errno != EPERM)
		return 16;
	if (socket(AF_INET, SOCK_RAW, IPPROTO_TCP) >= 0 || errno != EPERM)
		return 17;
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int b = socket(AF_INET, SOCK_STREAM, 0);
	if (b < 0 || bind(b, (struct sockaddr *)&any, sizeof(any)) == 0 || errno != EPERM)
		return 18; /* bind is in no set (and Landlock, ABI >= 4, would refuse it too) */
	if (open("/etc/hostname", O_RDONLY) >= 0 || errno != EPERM)
		return 19;
	int k = accept4(l, NULL, NULL, 0);
	if (k < 0)
		return 20;
	return 0;
}

static void tls_role(void **state)
{
	assert_exit0(in_child(child_tls_role));
}

static void sets_resolve(void **state)
{
	const cl_syscall *sets[] = {cl_sc_base,   cl_sc_ipc,    cl_sc_keyfiles, cl_sc_sanitizer,
				    cl_sc_accept, cl_sc_proxy,  cl_sc_secmem,   cl_sc_host_deny};
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
		for (const cl_syscall *sc = sets[s]; sc->name; sc++)
			if (seccomp_syscall_resolve_name(sc->name) < 0)
				fail_msg("syscall %s does not exist here", sc->name);
}

/* ---------------------------------------------------------------- privileges */

static int child_drop(void)
{
	uint64_t keep = CL_CAP(CAP_NET_BIND_SERVICE), perm;
	bool bset_kept = true;
	char v[64], want[32];
	gid_t extra = 4242;
	if (geteuid() != 0)
		return 0; /* needs root: the suite runs as root */
	if (setgroups(1, &extra) != 0) /* a supplementary group the drop must shed */
		return 9;
	if (cl_harden_drop_privileges(65534, 65534, keep, &bset_kept) != CL_OK || bset_kept)
		return 10;
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)keep);
	const char *exact[][2] = {{"CapInh", "0000000000000000"}, {"CapPrm", want}, {"CapEff", want},
				  {"CapBnd", want}, {"CapAmb", "0000000000000000"},
				  {"Uid", "65534\t65534\t65534\t65534"}, {"Gid", "65534\t65534\t65534\t65534"},
				  {"Groups", ""}};
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (status_field(exact[i][0], v, sizeof(v)) != 0 || strcmp(v, exact[i][1]) != 0) {
			fprintf(stderr, "%s: %s, expected %s\n", exact[i][0], v, exact[i][1]);
			return 11 + (int)i;
		}
	if (setuid(0) == 0 || seteuid(0) == 0)
		return 30;
	/* asking for a capability no longer permitted */
	if (cl_harden_caps(NULL, &perm, NULL, NULL, NULL) != CL_OK || perm != keep)
		return 31;
	if (cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, CL_CAP(CAP_SYS_ADMIN), NULL) != CL_EPERM)
		return 32;
	return 0;
}

static void drop_privileges(void **state)
{
	assert_exit0(in_child(child_drop));
}

static int child_drop_all_keep_uid(void)
{
	uint64_t e, p, i, b, a;
	if (cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, 0, NULL) != CL_OK)
		return 10;
	if (cl_harden_caps(&e, &p, &i, &b, &a) != CL_OK || e || p || i || a || (geteuid() == 0 && b))
		return 11;
	return 0;
}

static void drop_all_capabilities(void **state)
{
	assert_exit0(in_child(child_drop_all_keep_uid));
}

int main(void)
{
	cl_log_init("test_harden", CL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(process_flags),
		cmocka_unit_test(refuses_threads),
		cmocka_unit_test(landlock_rules),
		cmocka_unit_test(landlock_fails_closed),
		cmocka_unit_test(seccomp_kills),
		cmocka_unit_test(seccomp_errno_mode),
		cmocka_unit_test(seccomp_deny_list),
		cmocka_unit_test(landlock_scope_only),
		cmocka_unit_test(tls_role),
		cmocka_unit_test(sets_resolve),
		cmocka_unit_test(drop_privileges),
		cmocka_unit_test(drop_all_capabilities),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
