/* shim_prep.c — the shim's half of the containment sequence, around the
 * child's two halves (sandbox_child.c):
 *
 *   cl_shim_prep_cgroups  the sandbox's cgroups (the enclave id, or spare-<pid>)
 *   cl_shim_prep_clone    clone into the namespaces, id maps, release, move
 *                         into the cgroups, release again: the child runs its
 *                         first half and parks
 *   cl_shim_prep_wait     (a spare) until it has parked
 *   cl_shim_prep_go       the enclave's cgroups and limits, the go message,
 *                         until /init runs
 *   cl_shim_prep_discard  kill and remove whatever was made
 *
 * A shim started for a known enclave runs them back to back; a spare shim
 * runs the first three ahead, while no enclave waits for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>

#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox_internal.h"

#define CHILD_STACK (256u << 10)

static cl_err step(cl_err e, const char *name)
{
	if (e != CL_OK) {
		char d[512];
		snprintf(d, sizeof(d), "%s", cl_error_detail());
		cl_errorf(e, "%s: %s", name, d);
	}
	return e;
}

void cl_shim_prep_init(cl_shim_prep *p)
{
	memset(p, 0, sizeof(*p));
	p->child = -1;
	p->chan = p->sync = p->err = -1;
}

static cl_err write_proc(pid_t pid, const char *file, const char *val)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	CL_ENSURE(fd >= 0, CL_ESYS, "open %s: %s", path, strerror(errno));
	ssize_t w = write(fd, val, strlen(val));
	int e = errno;
	close(fd);
	CL_ENSURE(w == (ssize_t)strlen(val), CL_ESYS, "write %s: %s", path, strerror(e));
	return CL_OK;
}

/* Root inside maps to one unprivileged host uid/gid, unique to this enclave. */
static cl_err write_id_maps(pid_t child)
{
	char map[64];
	unsigned host = CL_SANDBOX_UID_BASE + (unsigned)getpid();
	snprintf(map, sizeof(map), "0 %u 1\n", host);
	CL_GUARD(write_proc(child, "setgroups", "deny"));
	CL_GUARD(write_proc(child, "uid_map", map));
	CL_GUARD(write_proc(child, "gid_map", map));
	return CL_OK;
}

cl_err cl_shim_prep_cgroups(cl_shim_prep *p, const char *id)
{
	if (id) {
		CL_ENSURE(snprintf(p->cgroup, sizeof(p->cgroup), "%s", id) < (int)sizeof(p->cgroup), CL_EINVAL,
			  "cgroups: id too long");
		CL_GUARD(step(cl_cgroup_create(id), "cgroups"));
	} else {
		CL_GUARD(step(cl_cgroup_create_spare(p->cgroup, sizeof(p->cgroup)), "cgroups"));
	}
	p->cgroups = true;
	return CL_OK;
}

/* Sends one release byte; false if the child is gone. */
static bool release(cl_shim_prep *p, char b)
{
	return send(p->sync, &b, 1, MSG_NOSIGNAL) == 1;
}

/* Reads what the child wrote on the error pipe until it closes or a message
 * is whole, or the deadline. Returns the message length (0: closed empty,
 * i.e. the child exec'd /init or died without a word). */
static size_t read_child_error(cl_shim_prep *p, char *msg, size_t n, uint64_t deadline)
{
	size_t got = 0;
	for (;;) {
		struct pollfd pf = {.fd = p->err, .events = POLLIN};
		uint64_t now = cl_now_mono_ns();
		if (now >= deadline) {
			kill(p->child, SIGKILL);
			snprintf(msg, n, "sandbox: setup did not finish in %d ms", CL_SHIM_READY_MS);
			return strlen(msg);
		}
		if (poll(&pf, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		ssize_t r = read(p->err, msg + got, n - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (got += (size_t)r) == n - 1)
			break;
	}
	msg[got] = '\0';
	return got;
}

/* The child's own account of a failure, if it gave one, else `e` as is. */
static cl_err child_error(cl_shim_prep *p, cl_err e, uint64_t deadline)
{
	char msg[800];
	char keep[512];
	snprintf(keep, sizeof(keep), "%s", cl_error_detail());
	if (p->err >= 0 && read_child_error(p, msg, sizeof(msg), deadline) > 0)
		return cl_errorf(CL_ESYS, "%s", msg);
	return cl_errorf(e, "%s", keep);
}

cl_err cl_shim_prep_clone(cl_shim_prep *p, const cl_sandbox_bpf *bpf, const uint8_t *init, size_t init_len,
			  const cl_image *img, const uint8_t *image, size_t image_len, bool prime)
{
	int chan[2] = {-1, -1}, sync[2] = {-1, -1}, err[2] = {-1, -1};
	pid_t primer = -1;
	cl_err e = CL_OK;
	/* channel and the child's sync socket and error pipe */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) != 0 || pipe2(err, O_CLOEXEC) != 0) {
		e = cl_errorf(CL_ESYS, "channel: %s", strerror(errno));
		goto out;
	}
	p->stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p->stack == MAP_FAILED) {
		p->stack = NULL;
		e = cl_errorf(CL_ENOMEM, "clone: stack: %s", strerror(errno));
		goto out;
	}
	/* Pay the cgroup-migration grace period while we clone (see
	 * sandbox_internal.h): a forked helper, never a thread, since clone()
	 * must not copy a lock another thread holds. */
	char prime_path[600];
	if (prime && cl_cgroup_prime_path(prime_path, sizeof(prime_path))) {
		primer = fork();
		if (primer == 0) {
			cl_cgroup_prime(prime_path, getpid());
			_exit(0);
		}
	}
	cl_sandbox_child args = {
		.img = img, .image_data = image, .image_len = image_len, .init_data = init, .init_len = init_len,
		.tmp_bytes = CL_SANDBOX_MIN_MEMORY / 4, .seccomp = bpf, .channel_fd = chan[1], .sync_fd = sync[1],
		.err_fd = err[1],
	};
	cl_sandbox_rootfs_size(img, image_len, init_len, &args.rootfs_bytes, &args.rootfs_inodes);
	p->rootfs_bytes = args.rootfs_bytes;
	p->has_image = img != NULL;
	/* clone into new user, pid, mount, net, ipc, uts namespaces (cgroup ns:
	 * the child unshares it once it sits in its cgroups, so they become its root) */
	p->child = clone(cl_sandbox_child_main, (uint8_t *)p->stack + CHILD_STACK,
			 CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
			 &args);
	if (p->child < 0) {
		e = cl_errorf(CL_ESYS, "clone: %s", strerror(errno));
		goto out;
	}
	p->chan = chan[0], p->sync = sync[0], p->err = err[0];
	chan[0] = sync[0] = err[0] = -1;
	/* uid/gid maps, release the child (it builds its mounts), move it into
	 * the cgroups, release it again (it writes /init, pivots and parks). If
	 * the child failed meanwhile, its own message is the one to report. */
	CL_GUARD_OUT(e, step(write_id_maps(p->child), "userns"));
	if (!release(p, 'm')) {
		e = cl_errorf(CL_ESYS, "sync: the child went away");
		goto out;
	}
	CL_GUARD_OUT(e, step(cl_cgroup_attach(p->cgroup, p->child), "cgroups"));
	if (!release(p, 'c'))
		e = cl_errorf(CL_ESYS, "sync: the child went away");
out:
	if (primer > 0)
		while (waitpid(primer, NULL, 0) < 0 && errno == EINTR)
			;
	int fds[] = {chan[0], chan[1], sync[0], sync[1], err[0], err[1]};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (e != CL_OK && p->child > 0) {
		kill(p->child, SIGKILL);
		e = child_error(p, e, cl_now_mono_ns() + 1000000000ull);
	}
	return e;
}

cl_err cl_shim_prep_wait(cl_shim_prep *p, int ms)
{
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)ms * 1000000u;
	for (;;) {
		struct pollfd pf[2] = {{.fd = p->sync, .events = POLLIN}, {.fd = p->err, .events = POLLIN}};
		uint64_t now = cl_now_mono_ns();
		CL_ENSURE(now < deadline, CL_ETIMEOUT, "sandbox: not prepared in %d ms", ms);
		if (poll(pf, 2, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		if (pf[1].revents)
			return child_error(p, cl_errorf(CL_ESYS, "sync: the child went away"), deadline);
		char b = 0;
		ssize_t r = recv(p->sync, &b, 1, MSG_DONTWAIT);
		if (r == 1 && b == 'P') {
			p->parked = true;
			return CL_OK;
		}
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) || r == 1)
			return child_error(p, cl_errorf(CL_ESYS, "sync: the child went away"), deadline);
	}
}

bool cl_shim_prep_alive(const cl_shim_prep *p)
{
	if (p->child <= 0 || !p->parked)
		return false;
	struct pollfd pf[2] = {{.fd = p->sync, .events = 0}, {.fd = p->err, .events = POLLIN}};
	return poll(pf, 2, 0) == 0;
}

/* /dev/cloister: a detached copy (open_tree) of the host directory, made
 * read-only, nosuid, nodev, noexec here; the child moves it into place. */
static cl_err open_guest_dir(const char *dir, int *out)
{
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
	CL_ENSURE(fd >= 0, errno == ENOENT ? CL_ENOTFOUND : CL_ESYS, "%s: %s", dir, strerror(errno));
	struct stat st;
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	};
	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
		close(fd);
		return cl_errorf(CL_EINVAL, "%s is not a directory", dir);
	}
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) != 0) {
		int e = errno;
		close(fd);
		return cl_errorf(CL_ESYS, "%s: read-only: %s", dir, strerror(e));
	}
	*out = fd;
	return CL_OK;
}

static cl_err send_go(cl_shim_prep *p, const cl_sandbox_go *go, int image_fd, int guest_fd, int helper_fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} ctl;
	int fds[3];
	size_t nfd = 0;
	if (image_fd >= 0)
		fds[nfd++] = image_fd;
	if (guest_fd >= 0)
		fds[nfd++] = guest_fd;
	if (helper_fd >= 0)
		fds[nfd++] = helper_fd;
	struct iovec iov = {(void *)go, sizeof(*go)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	memset(&ctl, 0, sizeof(ctl));
	if (nfd) {
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(h), fds, nfd * sizeof(int));
	}
	ssize_t w;
	while ((w = sendmsg(p->sync, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	CL_ENSURE(w == (ssize_t)sizeof(*go), CL_ESYS, "sync: the child went away");
	return CL_OK;
}

cl_err cl_shim_prep_go(cl_shim_prep *p, cl_shim *s, const cl_shim_limits *lim, int image_fd, int helper_fd,
		       const char *guest_dir)
{
	int guest_fd = -1;
	cl_err e;
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)CL_SHIM_READY_MS * 1000000u;
	CL_ENSURE(p->child > 0, CL_EINTERNAL, "sandbox: nothing prepared");
	if ((helper_fd >= 0) != (lim->await_bundle || lim->suspendable)) {
		e = cl_errorf(CL_EINTERNAL, "sandbox: the helper goes with await_bundle or suspendable, and only with them");
		goto out;
	}
	/* 1. the enclave's cgroups: renamed to its id (spare) and limited */
	CL_GUARD_OUT(e, step(cl_cgroup_adopt(p->cgroup, s->id, p->child), "cgroups"));
	snprintf(p->cgroup, sizeof(p->cgroup), "%s", s->id);
	CL_GUARD_OUT(e, step(cl_cgroup_set_limits(s->id, lim->memory_bytes, lim->cpus, lim->pids_max), "cgroups"));
	if (guest_dir)
		CL_GUARD_OUT(e, step(open_guest_dir(guest_dir, &guest_fd), "guest"));
	/* 2. go: the child runs its second half and execs /init (if it is gone,
	 *    what it said on the way is the error) */
	cl_sandbox_go go = {
		.magic = CL_SANDBOX_GO_MAGIC, .pids_max = lim->pids_max, .tmp_bytes = lim->memory_bytes / 4,
		.image_fd = image_fd >= 0, .guest = guest_fd >= 0, .await_bundle = lim->await_bundle,
		.helper = helper_fd >= 0, .suspendable = lim->suspendable, .await_restore = lim->await_restore,
	};
	snprintf(go.id, sizeof(go.id), "%s", s->id);
	if ((e = send_go(p, &go, image_fd, guest_fd, helper_fd)) != CL_OK) {
		e = child_error(p, e, deadline);
		goto out;
	}
	close(p->sync), p->sync = -1;
	/* 3. the child either execs /init (the error pipe closes empty) or names
	 *    its failed step; a child that hangs is killed at the deadline */
	char msg[800];
	if (read_child_error(p, msg, sizeof(msg), deadline) > 0) {
		e = cl_errorf(CL_ESYS, "%s", msg);
		goto out;
	}
	/* Closed without a word: /init was exec'd (it may even have ended
	 * already), or the setup was killed on the way (e.g. by the OOM killer
	 * when the memory limit cannot hold the image). */
	int wst;
	bool reaped = waitpid(p->child, &wst, WNOHANG) == p->child;
	if (reaped && WIFSIGNALED(wst)) {
		p->child = -1;
		e = cl_errorf(CL_EUNAVAIL, "sandbox: killed by signal %d during setup or start%s", WTERMSIG(wst),
			      WTERMSIG(wst) == SIGKILL ? " (memory limit too small for the image?)" : "");
		goto out;
	}
	if (reaped) {
		s->init_reaped = true; /* its EXIT frame is in the channel */
		s->exit_status = wst;
	}
	s->init_pid = p->child;
	s->chan = p->chan;
	p->chan = -1;
	p->child = -1;
	p->cgroups = false; /* the enclave's now: the shim removes them when it ends */
out:
	if (guest_fd >= 0)
		close(guest_fd);
	cl_shim_prep_discard(p); /* on success only descriptors are left */
	return e;
}

void cl_shim_prep_discard(cl_shim_prep *p)
{
	char keep[512];
	snprintf(keep, sizeof(keep), "%s", cl_error_detail());
	if (p->child > 0) {
		kill(p->child, SIGKILL);
		while (waitpid(p->child, NULL, 0) < 0 && errno == EINTR)
			;
	}
	p->child = -1;
	int *fds[] = {&p->chan, &p->sync, &p->err};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	if (p->stack)
		munmap(p->stack, CHILD_STACK);
	p->stack = NULL;
	if (p->cgroups && (cl_cgroup_kill_all(p->cgroup) != CL_OK || cl_cgroup_remove(p->cgroup) != CL_OK))
		cl_warn("could not clean cgroups %s: %s", p->cgroup, cl_error_detail());
	p->cgroups = false;
	p->parked = false;
	(void)cl_errorf(CL_OK, "%s", keep); /* the caller's detail, not the cleanup's */
}
