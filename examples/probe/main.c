/* probe — a static program run inside enclaves by the isolation tests
 * (tests/unit/test_sandbox.c) and the launch benchmark.
 *
 *   probe serve        reads one command per line on stdin, answers one line on stdout
 *   probe ready-fd N   writes one byte to fd N and exits (bwrap side of bench_launch)
 *
 * "mapx PATH" maps a file of the enclave executable (PROT_READ|PROT_EXEC)
 * and "unmapx" unmaps it: code loaded at run time, for the measure op's
 * test (tests/integration/host_measure.sh). "write PATH TEXT" and
 * "symlink TARGET PATH" change the enclave's data from inside it
 * (tests/integration/host_measure_files.sh). Run without arguments as a
 * bundle's `entrypoint`, it serves as with "serve".
 *
 * The probe reports raw facts ("pids 1 2", "deny ptrace=1 mount=1 ..."); the
 * tests decide what is acceptable, so a broken wall shows up as a failed test.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static char out[65536];
static size_t outlen;
static pid_t ticker = -1;

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + outlen, sizeof(out) - outlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		outlen += (size_t)n < sizeof(out) - outlen ? (size_t)n : sizeof(out) - outlen - 1;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void flush_line(void)
{
	put("\n");
	write_all(1, out, outlen);
	outlen = 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void cmd_ls(const char *dir, int only_digits)
{
	char *names[512];
	size_t n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		put(" error=%d", errno);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) && n < 512) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (only_digits && (de->d_name[0] < '0' || de->d_name[0] > '9'))
			continue;
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	for (size_t i = 0; i < n; i++) {
		put(" %s", names[i]);
		free(names[i]);
	}
}

static void cmd_netifs(void)
{
	FILE *f = fopen("/proc/self/net/dev", "r"); /* /proc/net is outside subset=pid */
	char line[512];
	if (!f) {
		put(" error=%d", errno);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *name = line;
		while (*name == ' ')
			name++;
		put(" %s", name);
	}
	fclose(f);
}

/* "connect PORT [ADDR]": a TCP connect to ADDR (default 127.0.0.1), at
 * most 3 s: " ok", " <errno>" (ETIMEDOUT when nothing answered in time). */
static void cmd_connect(char *arg)
{
	char *addr = strchr(arg, ' ');
	if (addr)
		*addr++ = '\0';
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)strtol(arg, NULL, 10)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (addr && inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		put(" bad-address");
		return;
	}
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s < 0) {
		put(" socket=%d", errno);
		return;
	}
	int rc = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
	if (rc == EINPROGRESS) {
		struct pollfd pf = {.fd = s, .events = POLLOUT};
		socklen_t len = sizeof(rc);
		rc = poll(&pf, 1, 3000) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &rc, &len) == 0 ? rc : ETIMEDOUT;
	}
	if (rc == 0)
		put(" ok");
	else
		put(" %d", rc);
	close(s);
}

/* "listen PORT TOKEN": a child serves TCP on 0.0.0.0:PORT, answering every
 * connection with "TOKEN\n" and closing it; " ok" once it listens, else
 * " <errno>". For the network tests (tests/integration/host_network.sh). */
static void cmd_listen(char *arg)
{
	char *token = strchr(arg, ' ');
	if (token)
		*token++ = '\0';
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)strtol(arg, NULL, 10)),
				 .sin_addr.s_addr = htonl(INADDR_ANY)};
	int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 16) != 0) {
		put(" %d", errno);
		if (s >= 0)
			close(s);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		for (;;) {
			int c = accept(s, NULL, NULL);
			if (c < 0)
				continue;
			write_all(c, token ? token : "", token ? strlen(token) : 0);
			write_all(c, "\n", 1);
			close(c);
		}
	}
	put(pid > 0 ? " ok" : " fork=%d", errno);
	close(s);
}

/* Each forbidden syscall with arguments that would not harm if it were let through. */
static void cmd_deny(void)
{
	int fd;
#define TRY(name, call)                                                                            \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (call);                                                                  \
		put(" %s=%d", name, r_ >= 0 ? 0 : errno);                                          \
	} while (0)
	TRY("ptrace", syscall(SYS_ptrace, 0 /* TRACEME */, 0, 0, 0));
	TRY("ptrace_attach", syscall(SYS_ptrace, 16 /* ATTACH */, 1, 0, 0));
	TRY("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
	TRY("umount2", syscall(SYS_umount2, "/proc", MNT_DETACH));
	TRY("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
	TRY("chroot", syscall(SYS_chroot, "/tmp"));
	TRY("init_module", syscall(SYS_init_module, NULL, 0, ""));
	TRY("finit_module", syscall(SYS_finit_module, -1, "", 0));
	TRY("delete_module", syscall(SYS_delete_module, "nonexistent", 0));
	TRY("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
	TRY("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
	TRY("bpf", syscall(SYS_bpf, -1, NULL, 0));
	TRY("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
	TRY("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
	TRY("add_key", syscall(SYS_add_key, "user", "probe", "x", 1, -3));
	TRY("request_key", syscall(SYS_request_key, "user", "probe", NULL, 0));
	TRY("unshare", syscall(SYS_unshare, CLONE_NEWUSER));
	TRY("unshare_ns", syscall(SYS_unshare, CLONE_NEWNS));
	TRY("setns", syscall(SYS_setns, -1, 0));
	pid_t c = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (c == 0)
		_exit(0);
	put(" clone_newuser=%d", c > 0 ? 0 : errno);
	if (c > 0)
		waitpid(c, NULL, 0);
	TRY("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0));
	TRY("name_to_handle_at", syscall(SYS_name_to_handle_at, -1, "", NULL, NULL, 0));
	TRY("userfaultfd", fd = (int)syscall(SYS_userfaultfd, 0));
	TRY("reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
	TRY("swapon", syscall(SYS_swapon, "/nonexistent", 0));
	TRY("swapoff", syscall(SYS_swapoff, "/nonexistent"));
	TRY("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
	TRY("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
	TRY("process_vm_readv", syscall(SYS_process_vm_readv, 1, NULL, 0, NULL, 0, 0));
	TRY("socket_netlink", fd = socket(AF_NETLINK, SOCK_RAW, 0));
	TRY("socket_packet", fd = socket(AF_PACKET, SOCK_RAW, 0));
	TRY("ioctl_tiocsti", syscall(SYS_ioctl, 0, TIOCSTI, "x"));
#undef TRY
	(void)fd;
}

static void cmd_status(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	if (!f) {
		put(" error=%d", errno);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Cap", 3) && strncmp(line, "NoNewPrivs", 10) && strncmp(line, "Seccomp:", 8))
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *tab = strchr(line, ':');
		if (!tab)
			continue;
		*tab++ = '\0';
		while (*tab == '\t' || *tab == ' ')
			tab++;
		put(" %s=%s", line, tab);
	}
	fclose(f);
}

static void cmd_cgroup(void)
{
	char buf[1024];
	int fd = open("/proc/self/cgroup", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		put(" error=%d", errno);
		return;
	}
	buf[n] = '\0';
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		put(" %s", l);
}

static void cmd_cgroup_escape(void)
{
	int fd = open("/sys/fs/cgroup/cgroup.procs", O_WRONLY);
	put(" open=%d", fd >= 0 ? 0 : errno);
	if (fd >= 0)
		close(fd);
	errno = 0;
	long r = syscall(SYS_mount, "cgroup2", "/tmp", "cgroup2", 0, NULL);
	put(" mount=%d", r == 0 ? 0 : errno);
	r = syscall(SYS_mount, "cgroup", "/tmp", "cgroup", 0, "memory");
	put(" mount_v1=%d", r == 0 ? 0 : errno);
}

/* Allocates and touches MiB in a child; reports how the child ended. */
static void cmd_mem(const char *arg)
{
	long mib = strtol(arg, NULL, 10);
	pid_t c = fork();
	if (c == 0) {
		for (long i = 0; i < mib; i++) {
			char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				_exit(3);
			memset(p, 0x5a, 1 << 20);
		}
		_exit(0);
	}
	int st = 0;
	if (c < 0 || waitpid(c, &st, 0) != c) {
		put(" fork=%d", errno);
		return;
	}
	if (WIFSIGNALED(st))
		put(" signal %d", WTERMSIG(st));
	else
		put(" exit %d", WEXITSTATUS(st));
}

static void cmd_forkbomb(void)
{
	static pid_t kids[100000];
	size_t n = 0;
	int err = 0;
	while (n < sizeof(kids) / sizeof(kids[0])) {
		pid_t c = fork();
		if (c == 0) {
			pause();
			_exit(0);
		}
		if (c < 0) {
			err = errno;
			break;
		}
		kids[n++] = c;
	}
	for (size_t i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (size_t i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	put(" %zu %d", n, err);
}

static void cmd_tick(const char *arg)
{
	if (!strcmp(arg, "start") && ticker < 0) {
		ticker = fork();
		if (ticker == 0) {
			for (unsigned long i = 0;; i++) {
				char line[64];
				int k = snprintf(line, sizeof(line), "tick %lu\n", i);
				write_all(1, line, (size_t)k);
				struct timespec ts = {0, 10 * 1000 * 1000};
				nanosleep(&ts, NULL);
			}
		}
	} else if (!strcmp(arg, "stop") && ticker > 0) {
		kill(ticker, SIGKILL);
		waitpid(ticker, NULL, 0);
		ticker = -1;
	}
	put(" %s", arg);
}

static void cmd_spam(const char *arg)
{
	long n = strtol(arg, NULL, 10);
	char buf[4096];
	memset(buf, 'x', sizeof(buf));
	while (n > 0) {
		size_t k = n < (long)sizeof(buf) ? (size_t)n : sizeof(buf);
		write_all(1, buf, k);
		n -= (long)k;
	}
}

static void *mapped = MAP_FAILED;
static size_t mapped_len;

/* "mapx PATH 0 SIZE" when PATH is mapped executable, else "mapx PATH ERRNO 0". */
static void cmd_mapx(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = fd < 0 || fstat(fd, &st) != 0 ? errno : st.st_size <= 0 ? EINVAL : 0;
	if (!err && mapped != MAP_FAILED)
		err = EBUSY;
	if (!err) {
		mapped = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		err = mapped == MAP_FAILED ? errno : 0;
		mapped_len = mapped == MAP_FAILED ? 0 : (size_t)st.st_size;
	}
	if (fd >= 0)
		close(fd);
	put("mapx %s %d %zu", path, err, mapped_len);
}

static void dispatch(char *line)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	else
		arg = "";
	if (!strcmp(line, "echo")) {
		put("%s", arg);
	} else if (!strcmp(line, "pids")) {
		put("pids");
		cmd_ls("/proc", 1);
	} else if (!strcmp(line, "ls")) {
		put("ls");
		cmd_ls(arg, 0);
	} else if (!strcmp(line, "exists")) {
		struct stat st;
		put("exists %s %s", arg, lstat(arg, &st) == 0 ? "yes" : "no");
	} else if (!strcmp(line, "write")) {
		/* "write PATH TEXT": PATH (its directory made) holds TEXT; "write PATH 0" or the errno */
		char *text = strchr(arg, ' ');
		int err = 0;
		if (text)
			*text++ = '\0';
		char *slash = strrchr(arg, '/');
		if (slash && slash != arg) {
			*slash = '\0';
			if (mkdir(arg, 0755) != 0 && errno != EEXIST)
				err = errno;
			*slash = '/';
		}
		int fd = err ? -1 : open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (!err && fd < 0)
			err = errno;
		if (fd >= 0)
			write_all(fd, text ? text : "", text ? strlen(text) : 0);
		if (fd >= 0)
			close(fd);
		put("write %s %d", arg, err);
	} else if (!strcmp(line, "fill")) {
		/* "fill PATH MIB": PATH holds MIB MiB of a pattern; "fill PATH 0" or the errno */
		static char chunk[65536];
		char *sp = strchr(arg, ' ');
		long mib = sp ? strtol(sp + 1, NULL, 10) : 0;
		if (sp)
			*sp = '\0';
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = (char)(i * 7 + 3);
		int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), err = fd < 0 ? errno : 0;
		for (long k = 0; fd >= 0 && k < mib * 16; k++)
			write_all(fd, chunk, sizeof(chunk));
		if (fd >= 0)
			close(fd);
		put("fill %s %d", arg, err);
	} else if (!strcmp(line, "fillrandom")) {
		/* "fillrandom PATH MIB": PATH holds MIB MiB from getrandom (state that
		 * compresses or dedups like real data would not: bench/suspend_api.sh) */
		static char chunk[65536];
		char *sp = strchr(arg, ' ');
		long mib = sp ? strtol(sp + 1, NULL, 10) : 0;
		if (sp)
			*sp = '\0';
		int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), err = fd < 0 ? errno : 0;
		for (long k = 0; fd >= 0 && !err && k < mib * 16; k++) {
			if (getrandom(chunk, sizeof(chunk), 0) != (ssize_t)sizeof(chunk))
				err = errno ? errno : EIO;
			else
				write_all(fd, chunk, sizeof(chunk));
		}
		if (fd >= 0)
			close(fd);
		put("fillrandom %s %d", arg, err);
	} else if (!strcmp(line, "read")) {
		/* "read PATH": "read PATH TEXT" (its first line), or "read PATH !errno" */
		char buf[512] = "";
		int fd = open(arg, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (n < 0)
			put("read %s !%d", arg, errno);
		else {
			buf[n] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			put("read %s %s", arg, buf);
		}
		if (fd >= 0)
			close(fd);
	} else if (!strcmp(line, "open")) {
		/* "open PATH 0" if it opens for reading, else the errno */
		int fd = open(arg, O_RDONLY | O_CLOEXEC);
		int err = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		put("open %s %d", arg, err);
	} else if (!strcmp(line, "dumpable")) {
		/* what PR_SET_DUMPABLE 1 does here, and whether it changed anything */
		int rc = prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		put("dumpable %d %d", rc == 0 ? 0 : errno, prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	} else if (!strcmp(line, "netifs")) {
		put("netifs");
		cmd_netifs();
	} else if (!strcmp(line, "connect")) {
		put("connect");
		cmd_connect(arg);
	} else if (!strcmp(line, "listen")) {
		put("listen");
		cmd_listen(arg);
	} else if (!strcmp(line, "deny")) {
		put("deny");
		cmd_deny();
	} else if (!strcmp(line, "status")) {
		put("status");
		cmd_status();
	} else if (!strcmp(line, "cgroup")) {
		put("cgroup");
		cmd_cgroup();
	} else if (!strcmp(line, "cgroupesc")) {
		put("cgroupesc");
		cmd_cgroup_escape();
	} else if (!strcmp(line, "uid")) {
		put("uid %d %d", (int)getuid(), (int)getgid());
	} else if (!strcmp(line, "hostname")) {
		struct utsname u;
		uname(&u);
		put("hostname %s", u.nodename);
	} else if (!strcmp(line, "mem")) {
		put("mem");
		cmd_mem(arg);
	} else if (!strcmp(line, "forkbomb")) {
		put("forkbomb");
		cmd_forkbomb();
	} else if (!strcmp(line, "tick")) {
		put("tick");
		cmd_tick(arg);
	} else if (!strcmp(line, "spam")) {
		cmd_spam(arg);
		put("spammed");
	} else if (!strcmp(line, "stderr")) {
		write_all(2, arg, strlen(arg));
		write_all(2, "\n", 1);
		put("stderr");
	} else if (!strcmp(line, "mapx")) {
		cmd_mapx(arg);
	} else if (!strcmp(line, "unmapx")) {
		int rc = mapped == MAP_FAILED ? EINVAL : munmap(mapped, mapped_len) == 0 ? 0 : errno;
		if (rc == 0)
			mapped = MAP_FAILED;
		put("unmapx %d", rc);
	} else if (!strcmp(line, "write")) {
		/* "write PATH TEXT": PATH's bytes become TEXT (created if need be) */
		char *text = strchr(arg, ' ');
		if (text)
			*text++ = '\0';
		int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int err = fd < 0 ? errno : 0;
		if (fd >= 0) {
			if (text)
				write_all(fd, text, strlen(text));
			close(fd);
		}
		put("write %s %d", arg, err);
	} else if (!strcmp(line, "symlink")) {
		/* "symlink TARGET PATH" */
		char *path = strchr(arg, ' ');
		if (path)
			*path++ = '\0';
		put("symlink %d", path && symlink(arg, path) == 0 ? 0 : path ? errno : EINVAL);
	} else if (!strcmp(line, "exit")) {
		exit((int)strtol(arg, NULL, 10));
	} else {
		put("unknown %s", line);
	}
	flush_line();
}

static int serve(void)
{
	static char buf[8192];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(0, buf + len, sizeof(buf) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		len += (size_t)r;
		char *nl;
		while ((nl = memchr(buf, '\n', len))) {
			*nl = '\0';
			dispatch(buf);
			size_t used = (size_t)(nl - buf) + 1;
			memmove(buf, buf + used, len - used);
			len -= used;
		}
		if (len == sizeof(buf) - 1)
			len = 0; /* an over-long line is dropped */
	}
}

int main(int argc, char **argv)
{
	size_t n0 = argc >= 1 ? strlen(argv[0]) : 0;
	if ((argc >= 2 && !strcmp(argv[1], "serve")) ||
	    (argc == 1 && n0 >= 11 && !strcmp(argv[0] + n0 - 11, "/entrypoint")))
		return serve(); /* an image's "serve", or a bundle's entrypoint (run without arguments) */
	if (argc >= 3 && !strcmp(argv[1], "ready-fd")) {
		int fd = (int)strtol(argv[2], NULL, 10);
		write_all(fd, "r", 1);
		return 0;
	}
	fprintf(stderr, "usage: probe serve | probe ready-fd N\n");
	return 2;
}
