/* sandbox_child.c — the containment sequence, run by the child the shim
 * clones into new user, pid, mount, net, ipc and uts namespaces.
 *
 * cl_sandbox_child_main is the whole sequence in order, in two halves: what
 * needs nothing of the enclave (a spare shim runs it ahead and parks the
 * child) and, after the go message, what does. Every step fails closed: on
 * any error the step's name and detail go to err_fd and the child exits, so
 * /init never runs in a half-built sandbox. When exec succeeds err_fd
 * (CLOEXEC) closes with nothing written: that is the shim's signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/mount.h>

#include "common/rawio.h"
#include "sandbox/sandbox_internal.h"

#define INIT_ARGV_MAX 256

static __attribute__((noreturn)) void fail(const cl_sandbox_child *c, const char *step, const char *detail)
{
	char msg[768];
	int n = snprintf(msg, sizeof(msg), "%s: %s", step, detail);
	if (n > 0) {
		ssize_t w = write(c->err_fd, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
		(void)w;
	}
	_exit(1);
}

static __attribute__((noreturn)) void fail_errno(const cl_sandbox_child *c, const char *step, const char *what)
{
	char d[256];
	snprintf(d, sizeof(d), "%s: %s", what, strerror(errno));
	fail(c, step, d);
}

/* The tmpfs that becomes / (mounted on /tmp of our private mount namespace,
 * as bubblewrap does) and its mount points. Sizes: see resize(). */
static int build_rootfs(const cl_sandbox_child *c)
{
	char opts[128];
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		fail_errno(c, "rootfs", "make / private");
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%llu,mode=0755", (unsigned long long)c->rootfs_bytes,
		 (unsigned long long)c->rootfs_inodes);
	if (mount("cloister-root", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
		fail_errno(c, "rootfs", "mount tmpfs on /tmp");
	int root = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		fail_errno(c, "rootfs", "open new root");
	static const struct {
		const char *name;
		mode_t mode;
	} dirs[] = {{"proc", 0555}, {"dev", 0755}, {"tmp", 01777}};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdirat(root, dirs[i].name, dirs[i].mode) != 0)
			fail_errno(c, "rootfs", dirs[i].name);
	return root;
}

/* /init, once the child sits in the enclave's memory cgroup (the pages are
 * charged to it). */
static void write_init(const cl_sandbox_child *c, int root)
{
	int fd = openat(root, "init", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0555);
	if (fd < 0)
		fail_errno(c, "init", "create /init");
	if (cl_raw_write_all(fd, c->init_data, c->init_len) != 0 || fchmod(fd, 0555) != 0)
		fail_errno(c, "init", "write /init");
	close(fd);
}

/* cloister-init-bundle as /init-bundle (0555), for an enclave that awaits a
 * bundle only: from the shim's sealed memfd, charged to the enclave like
 * /init. Its length (for the root's size) is known before: helper_len. */
static void write_helper(const cl_sandbox_child *c, int root, int fd, size_t len)
{
	if (fd < 0)
		return;
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		fail_errno(c, "init-bundle", "map");
	int out = openat(root, "init-bundle", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0555);
	if (out < 0)
		fail_errno(c, "init-bundle", "create /init-bundle");
	if (cl_raw_write_all(out, p, len) != 0 || fchmod(out, 0555) != 0)
		fail_errno(c, "init-bundle", "write /init-bundle");
	close(out);
	munmap(p, len);
	close(fd);
}

/* The size of the helper's sealed memfd (the shim sealed it: checked). */
static size_t helper_len(const cl_sandbox_child *c, int fd)
{
	struct stat st;
	if (fd < 0)
		return 0;
	int seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > CL_SANDBOX_INIT_MAX || seals < 0 || !(seals & F_SEAL_WRITE) ||
	    !(seals & F_SEAL_SHRINK))
		fail(c, "init-bundle", "the helper handed over is not a sealed file");
	return (size_t)st.st_size;
}

/* The image's files, charged to the enclave's memory cgroup like /init. An
 * image entry under dev/ or proc/ is refused (it would be hidden by a
 * mount); tmp/ entries land in /tmp. */
static void extract_image(const cl_sandbox_child *c, const cl_image *img, const uint8_t *data, size_t len, int root)
{
	if (cl_image_extract(img, data, len, root) != CL_OK)
		fail(c, "image", cl_error_detail());
	close(root);
}

/* /dev holds only null, zero and urandom, bind-mounted from the host
 * (a user namespace cannot mknod); nosuid, noexec. */
static void build_dev(const cl_sandbox_child *c)
{
	static const char *const nodes[] = {"null", "zero", "urandom"};
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		char src[32], dst[48];
		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		snprintf(dst, sizeof(dst), "/tmp/dev/%s", nodes[i]);
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (fd < 0)
			fail_errno(c, "dev", dst);
		close(fd);
		if (mount(src, dst, NULL, MS_BIND, NULL) != 0)
			fail_errno(c, "dev", src);
		if (mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC, NULL) != 0)
			fail_errno(c, "dev", "remount nosuid,noexec");
	}
}

/* /dev/cloister: the guest directory as a detached mount the shim made
 * (open_tree of the host directory, read-only, nosuid, nodev, noexec: the
 * enclave can connect to a socket in it, never create a file), moved onto
 * its mount point. The directory itself is mounted, not its socket: a
 * restarted agent binds a new socket there and the running enclave sees it. */
static void mount_guest_dir(const cl_sandbox_child *c, int root, int gfd)
{
	if (gfd < 0)
		return;
	if (mkdirat(root, "dev/cloister", 0755) != 0)
		fail_errno(c, "guest", "mkdir /dev/cloister");
	if (syscall(SYS_move_mount, gfd, "", AT_FDCWD, "/dev/cloister", MOVE_MOUNT_F_EMPTY_PATH) != 0)
		fail_errno(c, "guest", "mount /dev/cloister");
	close(gfd);
}

/* Fallback when procfs refuses subset=pid (kernel < 5.8): hide what tells
 * about the host, as runc's maskedPaths/readonlyPaths do — /dev/null over
 * files, an empty read-only tmpfs over directories. A path the kernel does
 * not have is skipped; any other failure is fatal. */
static void mask_proc(const cl_sandbox_child *c)
{
	static const char *const files[] = {
		"meminfo", "loadavg", "stat", "uptime", "interrupts", "softirqs", "vmstat", "zoneinfo",
		"buddyinfo", "pagetypeinfo", "slabinfo", "diskstats", "partitions", "swaps", "cpuinfo",
		"sched_debug", "timer_list", "timer_stats", "latency_stats", "kcore", "kallsyms", "keys",
		"key-users", "modules", "sysrq-trigger", "kmsg", "kpagecount", "kpageflags", "kpagecgroup",
		"vmallocinfo", "iomem", "ioports", "locks", "mtrr", "config.gz", "version", "cmdline"};
	static const char *const dirs[] = {"sys", "irq", "bus", "fs", "acpi", "asound", "scsi",
					   "sysvipc", "tty", "driver", "dynamic_debug", "pressure"};
	char path[64];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct stat st;
		snprintf(path, sizeof(path), "/tmp/proc/%s", files[i]);
		if (lstat(path, &st) != 0 && errno == ENOENT)
			continue;
		if (mount("/tmp/dev/null", path, NULL, MS_BIND, NULL) != 0)
			fail_errno(c, "proc", path);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		struct stat st;
		snprintf(path, sizeof(path), "/tmp/proc/%s", dirs[i]);
		if (lstat(path, &st) != 0 && errno == ENOENT)
			continue;
		if (mount("cloister-mask", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "size=4k,mode=0555") != 0)
			fail_errno(c, "proc", path);
	}
}

/* /proc of the enclave's own pid namespace (read-only; only the process
 * directories, self and thread-self: subset=pid; hidepid=2 hides processes
 * it may not ptrace, i.e. the non-dumpable init) and a small /tmp. */
static void mount_proc_tmp(const cl_sandbox_child *c)
{
	char opts[96];
	unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY;
	if (mount("proc", "/tmp/proc", "proc", fl, "hidepid=2,subset=pid") != 0) {
		if (errno != EINVAL)
			fail_errno(c, "proc", "mount proc");
		if (mount("proc", "/tmp/proc", "proc", fl, "hidepid=2") != 0)
			fail_errno(c, "proc", "mount proc");
		mask_proc(c);
	}
	snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=4096,mode=1777", (unsigned long long)c->tmp_bytes);
	if (mount("cloister-tmp", "/tmp/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
		fail_errno(c, "tmp", "mount tmpfs");
}

/* pivot_root(".", ".") stacks the old root under the new one; detaching it
 * leaves no path to the host's files. (/ becomes read-only once the image
 * is in: seal_root.) */
static void enter_root(const cl_sandbox_child *c)
{
	if (chdir("/tmp") != 0)
		fail_errno(c, "pivot_root", "chdir new root");
	if (syscall(SYS_pivot_root, ".", ".") != 0)
		fail_errno(c, "pivot_root", "pivot_root");
	if (umount2(".", MNT_DETACH) != 0)
		fail_errno(c, "pivot_root", "detach old root");
	if (chdir("/") != 0)
		fail_errno(c, "pivot_root", "chdir /");
}

static void seal_root(const cl_sandbox_child *c)
{
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
		fail_errno(c, "rootfs", "remount / read-only");
}

/* The go message, with its fds (the image memfd, the /dev/cloister mount,
 * the helper's memfd). */
static void receive_go(const cl_sandbox_child *c, cl_sandbox_go *go, int *image_fd, int *guest_fd, int *helper_fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} ctl;
	struct iovec iov = {go, sizeof(*go)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	memset(go, 0, sizeof(*go));
	ssize_t r;
	while ((r = recvmsg(c->sync_fd, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r == 0)
		fail(c, "sync", "the shim went away before the launch");
	if (r < 0)
		fail_errno(c, "sync", "receive the launch");
	int fds[3] = {-1, -1, -1};
	size_t nfd = 0;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
				if (nfd < 3)
					fds[nfd++] = fd;
				else
					close(fd);
			}
	size_t want = (go->image_fd ? 1u : 0u) + (go->guest ? 1u : 0u) + (go->helper ? 1u : 0u);
	if ((size_t)r != sizeof(*go) || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || go->magic != CL_SANDBOX_GO_MAGIC ||
	    go->image_fd > 1 || go->guest > 1 || go->await_bundle > 1 || go->suspendable > 1 ||
	    go->await_restore > (go->suspendable ? 1u : 0u) ||
	    memchr(go->id, '\0', sizeof(go->id)) == NULL || cl_sandbox_check_id(go->id) != CL_OK ||
	    go->helper != (go->await_bundle || go->suspendable) ||
	    nfd != want || (!go->image_fd && !c->img) || go->pids_max < 2 || go->pids_max > CL_SANDBOX_MAX_PIDS)
		fail(c, "sync", "malformed launch message");
	size_t i = 0;
	*image_fd = go->image_fd ? fds[i++] : -1;
	*guest_fd = go->guest ? fds[i++] : -1;
	*helper_fd = go->helper ? fds[i++] : -1;
}

void cl_sandbox_rootfs_size(const cl_image *img, size_t image_len, size_t init_len, uint64_t *bytes,
			    uint64_t *inodes)
{
	*bytes = (uint64_t)(img ? image_len : 0) + init_len + (4u << 20);
	*inodes = (uint64_t)(img ? img->nfiles : 0) * 16 + 64;
}

/* The enclave's sizes (cl_sandbox_rootfs_size; /tmp a quarter of the memory
 * limit). A prepared child mounted both before the image and the limit were
 * known: they are resized before the image goes in. */
static void resize(const cl_sandbox_child *c, const cl_sandbox_go *go, const cl_image *img, size_t image_len,
		   size_t helper)
{
	char opts[96];
	uint64_t bytes, inodes;
	cl_sandbox_rootfs_size(img, image_len, c->init_len + helper, &bytes, &inodes);
	if (bytes != c->rootfs_bytes || inodes != c->rootfs_inodes) {
		snprintf(opts, sizeof(opts), "size=%llu,nr_inodes=%llu", (unsigned long long)bytes,
			 (unsigned long long)inodes);
		if (mount(NULL, "/", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, opts) != 0)
			fail_errno(c, "rootfs", "resize /");
	}
	if (go->tmp_bytes != c->tmp_bytes) {
		snprintf(opts, sizeof(opts), "size=%llu", (unsigned long long)go->tmp_bytes);
		if (mount(NULL, "/tmp", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, opts) != 0)
			fail_errno(c, "tmp", "resize /tmp");
	}
}

/* The image from the shim's sealed memfd (a launch the spare did not preload
 * for): mapped read-only, parsed and checked here, every file's SHA-384 included. */
static const cl_image *image_from_memfd(const cl_sandbox_child *c, int fd, const uint8_t **data, size_t *len)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > CL_IMAGE_MAX_SIZE || seals < 0 || !(seals & F_SEAL_WRITE) ||
	    !(seals & F_SEAL_SHRINK))
		fail(c, "image", "the image handed over is not a sealed file");
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		fail_errno(c, "image", "map");
	close(fd);
	cl_image *img = NULL;
	if (cl_image_parse(p, (size_t)st.st_size, &img) != CL_OK || cl_sandbox_check_entrypoint(img) != CL_OK)
		fail(c, "image", cl_error_detail());
	*data = p;
	*len = (size_t)st.st_size;
	return img;
}

static void network_lo_up(const cl_sandbox_child *c)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail_errno(c, "network", "socket");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		fail_errno(c, "network", "get lo flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
		fail_errno(c, "network", "bring lo up");
	close(s);
}

static void set_rlimits(const cl_sandbox_child *c, uint32_t pids_max)
{
	const struct {
		int res;
		rlim_t val;
		const char *name;
	} lim[] = {
		{RLIMIT_NOFILE, 1024, "NOFILE"}, {RLIMIT_NPROC, pids_max, "NPROC"},
		{RLIMIT_CORE, 0, "CORE"},        {RLIMIT_MEMLOCK, 1u << 20, "MEMLOCK"},
		{RLIMIT_MSGQUEUE, 0, "MSGQUEUE"},
	};
	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		struct rlimit rl = {lim[i].val, lim[i].val};
		if (setrlimit(lim[i].res, &rl) != 0)
			fail_errno(c, "rlimits", lim[i].name);
	}
}

/* fd 0-2 = /dev/null, fd 3 = the channel, nothing else survives exec. */
static void arrange_fds(cl_sandbox_child *c)
{
	if (c->err_fd <= 3) {
		int fd = fcntl(c->err_fd, F_DUPFD_CLOEXEC, 10);
		if (fd < 0)
			fail_errno(c, "fds", "move error pipe");
		c->err_fd = fd;
	}
	if (c->channel_fd != 3) {
		if (dup2(c->channel_fd, 3) != 3)
			fail_errno(c, "fds", "channel to fd 3");
	} else if (fcntl(3, F_SETFD, 0) != 0) {
		fail_errno(c, "fds", "channel to fd 3");
	}
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) != 0 || dup2(null, 1) != 1 || dup2(null, 2) != 2)
		fail_errno(c, "fds", "/dev/null");
	if (syscall(SYS_close_range, 4, ~0u, CLOSE_RANGE_CLOEXEC) != 0)
		fail_errno(c, "fds", "close_range");
}

static int last_cap(void)
{
	int cap = CAP_LAST_CAP;
	while (prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
		cap++;
	return cap;
}

/* Bounding set, ambient, then effective/permitted/inheritable; securebits
 * locked so exec as uid 0 cannot regain anything; then read back. */
static void drop_capabilities(const cl_sandbox_child *c)
{
	int top = last_cap();
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
					     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
					     SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
		  0, 0, 0) != 0)
		fail_errno(c, "capabilities", "securebits");
	for (int cap = 0; cap <= top; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
			fail_errno(c, "capabilities", "bounding set");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
		fail_errno(c, "capabilities", "ambient");
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) != 0)
		fail_errno(c, "capabilities", "capset");
	/* Confirm: nothing left anywhere. */
	memset(data, 0xff, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		fail_errno(c, "capabilities", "capget");
	for (int i = 0; i < 2; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			fail(c, "capabilities", "capabilities remain after capset");
	for (int cap = 0; cap <= top; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0 ||
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != 0)
			fail(c, "capabilities", "bounding or ambient capability remains");
}

cl_err cl_sandbox_check_entrypoint(const cl_image *img)
{
	CL_ENSURE(img->entrypoint && img->entrypoint[0] == '/', CL_EINVAL, "entrypoint must be an absolute path");
	CL_ENSURE(img->nargs <= INIT_ARGV_MAX, CL_ETOOBIG, "entrypoint: more than %d arguments", INIT_ARGV_MAX);
	for (size_t i = 0; i < img->nfiles; i++)
		if (strcmp(img->files[i].path, img->entrypoint + 1) == 0) {
			CL_ENSURE(img->files[i].mode & 0111, CL_EINVAL, "entrypoint %s is not executable",
				  img->entrypoint);
			return CL_OK;
		}
	return cl_errorf(CL_ENOTFOUND, "entrypoint %s is not in the image", img->entrypoint);
}

static void wait_release(const cl_sandbox_child *c, char want, const char *what)
{
	char b = 0;
	ssize_t r;
	while ((r = recv(c->sync_fd, &b, 1, 0)) < 0 && errno == EINTR)
		;
	if (r != 1 || b != want)
		fail(c, "sync", what);
}

int cl_sandbox_child_main(void *arg)
{
	cl_sandbox_child *c = arg;
	sigset_t none;

	/* ---- first half: nothing of the enclave yet ---- */
	/* 0. Wait until the shim has written our uid/gid maps. */
	wait_release(c, 'm', "shim did not release the child");
	/* 1. Become the namespace's root (host uid = the unprivileged mapped one);
	 *    then die with the shim (a credential change clears PDEATHSIG: after).
	 *    No signal the shim blocks stays blocked for /init and the application. */
	if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
		fail_errno(c, "userns", "become uid 0 of the namespace");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
		fail_errno(c, "setup", "pdeathsig");
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		fail_errno(c, "setup", "signal mask");
	umask(022);
	/* 2. Mounts that hold no application data: the root tmpfs and its mount
	 *    points, /dev, /proc, /tmp (meanwhile the shim moves us into the cgroups). */
	int root = build_rootfs(c);
	build_dev(c);
	mount_proc_tmp(c);
	/* 3. Wait until we sit in the cgroups; ours becomes the root of a new
	 *    cgroup namespace; then /init goes in (charged to them). */
	wait_release(c, 'c', "shim did not move the child into its cgroups");
	if (unshare(CLONE_NEWCGROUP) != 0)
		fail_errno(c, "cgroupns", "unshare");
	write_init(c, root);
	/* 4. pivot into the new root. */
	enter_root(c);
	/* 5. Identity and network: hostname, loopback only. */
	if (sethostname("enclave", 7) != 0)
		fail_errno(c, "uts", "sethostname");
	network_lo_up(c);

	/* ---- second half: the enclave's values (a prepared child parks here) ---- */
	cl_sandbox_go go;
	int image_fd, guest_fd, helper_fd;
	if (send(c->sync_fd, "P", 1, MSG_NOSIGNAL) != 1)
		fail_errno(c, "sync", "report prepared");
	receive_go(c, &go, &image_fd, &guest_fd, &helper_fd);
	close(c->sync_fd);
	/* 6. The image (parsed and checked: before the clone, or now from the
	 *    shim's memfd), the sizes of / and /tmp, /dev/cloister, /init-bundle
	 *    (awaiting a bundle only), the image's files; then / is read-only. */
	const cl_image *img = c->img;
	const uint8_t *data = c->image_data;
	size_t len = c->image_len;
	if (image_fd >= 0)
		img = image_from_memfd(c, image_fd, &data, &len);
	size_t hlen = helper_len(c, helper_fd);
	resize(c, &go, img, len, hlen);
	mount_guest_dir(c, root, guest_fd);
	write_helper(c, root, helper_fd, hlen);
	extract_image(c, img, data, len, root);
	seal_root(c);
	/* 7. Limits and descriptors. */
	set_rlimits(c, go.pids_max);
	arrange_fds(c);
	/* 8. Privileges: no capabilities, no_new_privs (fatal if refused), seccomp. */
	drop_capabilities(c);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		fail_errno(c, "no_new_privs", "prctl");
	if (cl_sandbox_seccomp_load(c->seccomp) != CL_OK)
		fail(c, "seccomp", cl_error_detail());
	/* 9. exec /init ENTRYPOINT ARGS... with fd 3 = channel. */
	const char *argv[INIT_ARGV_MAX + 6]; /* /init, --suspendable ID, --await-restore, the entrypoint, NULL */
	size_t n = 0;
	argv[n++] = "/init";
	if (go.suspendable) { /* init-bundle is there, started on KEYGEN (docs/suspend.md) */
		argv[n++] = "--suspendable";
		argv[n++] = go.id;
		if (go.await_restore) /* the state first, then the entrypoint below */
			argv[n++] = "--await-restore";
	}
	if (go.await_bundle) { /* the application comes later, in a bundle */
		argv[n++] = "--await-bundle";
	} else {
		argv[n++] = img->entrypoint;
		for (size_t i = 0; i < img->nargs && i < INIT_ARGV_MAX; i++)
			argv[n++] = img->args[i];
	}
	argv[n] = NULL;
	char *const envp[] = {"PATH=/bin:/usr/bin:/", "HOME=/", NULL};
	execve("/init", (char *const *)argv, envp);
	fail_errno(c, "exec", "/init");
}
