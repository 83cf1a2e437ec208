/* shim.c — `cloister-host --shim DIR ID`: builds one enclave and holds its channel.
 *
 * shim_launch() is the host side of the containment sequence, in order; the
 * child side is cl_sandbox_child_main (sandbox_child.c). Every step fails
 * closed and names itself in the error sent to the launcher on the status fd
 * ("OK <init_pid>\n" or "ERR <code> <step: detail>\n"). Serving is shim_serve.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_internal.h"

#define CHILD_STACK (256u << 10)

typedef struct shim_spec {
	char image_path[1024], init_path[1024];
	char guest_dir[1024]; /* "" = no /dev/cloister */
	uint64_t memory_bytes;
	uint32_t cpus, pids_max;
} shim_spec;

/* Reads a whole regular file of at most max bytes into malloc'd memory
 * (*st, if not NULL, gets the file's identity as read). */
static cl_err read_whole_st(const char *path, size_t max, uint8_t **out, size_t *len, struct stat *st_out);

static cl_err read_whole(const char *path, size_t max, uint8_t **out, size_t *len)
{
	return read_whole_st(path, max, out, len, NULL);
}

static cl_err read_whole_st(const char *path, size_t max, uint8_t **out, size_t *len, struct stat *st_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CL_ENSURE(fd >= 0, errno == ENOENT ? CL_ENOTFOUND : CL_EIO, "open %s: %s", path, strerror(errno));
	struct stat st;
	cl_err e = CL_OK;
	uint8_t *p = NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		e = cl_errorf(CL_EINVAL, "%s is not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max || st.st_size == 0) {
		e = cl_errorf(CL_ETOOBIG, "%s: size %lld outside 1..%zu", path, (long long)st.st_size, max);
		goto out;
	}
	p = malloc((size_t)st.st_size);
	if (!p) {
		e = cl_errorf(CL_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = cl_errorf(CL_EIO, "read %s: %s", path, r < 0 ? strerror(errno) : "short");
			goto out;
		}
		got += (size_t)r;
	}
	*out = p;
	*len = got;
	if (st_out)
		*st_out = st;
	p = NULL;
out:
	free(p);
	close(fd);
	return e;
}

static cl_err json_str(json_t *o, const char *k, char *out, size_t n)
{
	const char *v = json_string_value(json_object_get(o, k));
	CL_ENSURE(v && strlen(v) < n, CL_EINVAL, "spec: %s missing or too long", k);
	memcpy(out, v, strlen(v) + 1);
	return CL_OK;
}

static cl_err json_u64(json_t *o, const char *k, uint64_t lo, uint64_t hi, uint64_t *out)
{
	json_t *v = json_object_get(o, k);
	CL_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 && (uint64_t)json_integer_value(v) >= lo &&
			  (uint64_t)json_integer_value(v) <= hi,
		  CL_EINVAL, "spec: %s missing or out of range", k);
	*out = (uint64_t)json_integer_value(v);
	return CL_OK;
}

static cl_err read_spec(const char *dir, const char *id, shim_spec *sp)
{
	char path[1200];
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t v;
	CL_GUARD(cl_sandbox_path(path, sizeof(path), dir, id, "spec.json"));
	CL_GUARD(read_whole(path, 64 * 1024, &data, &len));
	json_error_t jerr;
	json_t *o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	free(data);
	CL_ENSURE(json_is_object(o), CL_EINVAL, "spec: not a JSON object");
	cl_err e;
	const char *sid = json_string_value(json_object_get(o, "id"));
	if (!sid || strcmp(sid, id) != 0) {
		e = cl_errorf(CL_EINVAL, "spec: id does not match");
		goto out;
	}
	CL_GUARD_OUT(e, json_str(o, "image_path", sp->image_path, sizeof(sp->image_path)));
	CL_GUARD_OUT(e, json_str(o, "init_path", sp->init_path, sizeof(sp->init_path)));
	sp->guest_dir[0] = '\0';
	if (json_object_get(o, "guest_dir")) {
		CL_GUARD_OUT(e, json_str(o, "guest_dir", sp->guest_dir, sizeof(sp->guest_dir)));
		if (sp->guest_dir[0] != '/') {
			e = cl_errorf(CL_EINVAL, "spec: guest_dir must be absolute");
			goto out;
		}
	}
	CL_GUARD_OUT(e, json_u64(o, "memory_bytes", CL_SANDBOX_MIN_MEMORY, CL_SANDBOX_MAX_MEMORY, &sp->memory_bytes));
	CL_GUARD_OUT(e, json_u64(o, "cpus", 1, CL_SANDBOX_MAX_CPUS, &v));
	sp->cpus = (uint32_t)v;
	CL_GUARD_OUT(e, json_u64(o, "pids_max", 2, CL_SANDBOX_MAX_PIDS, &v));
	sp->pids_max = (uint32_t)v;
out:
	json_decref(o);
	return e;
}

/* The entrypoint must be one of the image's files and executable. */
static cl_err check_entrypoint(const cl_image *img)
{
	CL_ENSURE(img->entrypoint && img->entrypoint[0] == '/', CL_EINVAL, "entrypoint must be an absolute path");
	CL_ENSURE(img->nargs <= 256, CL_ETOOBIG, "entrypoint: more than 256 arguments");
	for (size_t i = 0; i < img->nfiles; i++)
		if (strcmp(img->files[i].path, img->entrypoint + 1) == 0) {
			CL_ENSURE(img->files[i].mode & 0111, CL_EINVAL, "entrypoint %s is not executable",
				  img->entrypoint);
			return CL_OK;
		}
	return cl_errorf(CL_ENOTFOUND, "entrypoint %s is not in the image", img->entrypoint);
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

typedef struct image_job {
	const char *path;
	uint8_t *data;
	size_t len;
	cl_image *img;
	struct stat st; /* identity of the file that was read */
	cl_err err;
	char detail[512]; /* error details are per thread: copied out */
} image_job;

/* Reads, parses (every file's SHA-384) and checks the image. */
static void *load_image(void *arg)
{
	image_job *j = arg;
	j->err = read_whole_st(j->path, CL_IMAGE_MAX_SIZE, &j->data, &j->len, &j->st);
	if (j->err == CL_OK)
		j->err = cl_image_parse(j->data, j->len, &j->img);
	if (j->err == CL_OK)
		j->err = check_entrypoint(j->img);
	if (j->err != CL_OK)
		snprintf(j->detail, sizeof(j->detail), "%s", cl_error_detail());
	return NULL;
}

static void image_job_free(image_job *j)
{
	if (j->data) {
		explicit_bzero(j->data, j->len);
		free(j->data);
	}
	cl_image_free(j->img);
	j->data = NULL;
	j->img = NULL;
}

/* A spare shim loads and verifies the image of the launcher's previous
 * launch ahead of time (CL_SANDBOX_PRELOAD_ENV). It is used only if the file
 * at that path is still the same one: device, inode, size, mtime and ctime
 * (the agent replaces images by rename, so a new image is a new inode). */
static image_job preload = {.err = CL_ENOTFOUND};
static char preload_path[1024];

static void preload_image(const char *path)
{
	if (!path || !*path || snprintf(preload_path, sizeof(preload_path), "%s", path) >= (int)sizeof(preload_path))
		return;
	preload.path = preload_path;
	load_image(&preload);
	if (preload.err != CL_OK)
		image_job_free(&preload);
}

static bool take_preload(const char *path, image_job *out)
{
	struct stat now;
	const struct stat *was = &preload.st;
	bool same = preload.err == CL_OK && strcmp(preload_path, path) == 0 && stat(path, &now) == 0 &&
		    now.st_dev == was->st_dev && now.st_ino == was->st_ino && now.st_size == was->st_size &&
		    now.st_mtim.tv_sec == was->st_mtim.tv_sec && now.st_mtim.tv_nsec == was->st_mtim.tv_nsec &&
		    now.st_ctim.tv_sec == was->st_ctim.tv_sec && now.st_ctim.tv_nsec == was->st_ctim.tv_nsec;
	if (same) {
		*out = preload;
		out->path = path;
	} else {
		image_job_free(&preload);
	}
	preload.data = NULL;
	preload.img = NULL;
	preload.err = CL_ENOTFOUND;
	return same;
}

static cl_err step(cl_err e, const char *name)
{
	if (e != CL_OK) {
		char d[512];
		snprintf(d, sizeof(d), "%s", cl_error_detail());
		cl_errorf(e, "%s: %s", name, d);
	}
	return e;
}

/* The shim's half of the containment sequence. On success the child has
 * exec'd /init (READY is awaited by the serving loop); on failure everything
 * started here is undone. */
static cl_err shim_launch(cl_shim *s)
{
	shim_spec sp;
	cl_image *img = NULL;
	uint8_t *image = NULL, *init = NULL;
	size_t image_len = 0, init_len = 0;
	int chan[2] = {-1, -1}, sync_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	void *stack = MAP_FAILED;
	pid_t child = -1;
	pid_t primer = -1;
	bool cgroups = false, born = false;
	cl_err e;

	uint64_t t0 = cl_now_mono_ns();
#define LAP(what) cl_debug("launch step=%s us=%llu", what, (unsigned long long)((cl_now_mono_ns() - t0) / 1000))
	/* 1. spec, image (parsed and validated), init binary */
	CL_GUARD_OUT(e, step(read_spec(s->dir, s->id, &sp), "spec"));
	/* The image is hashed (the slowest input step) on a helper thread while
	 * this one reads init and makes the cgroups; joined before clone, so the
	 * shim is single-threaded again when it clones. */
	image_job job = {.path = sp.image_path};
	pthread_t loader;
	bool loading = false;
	if (!take_preload(sp.image_path, &job)) {
		loading = pthread_create(&loader, NULL, load_image, &job) == 0;
		if (!loading)
			load_image(&job);
	}
	LAP("spec");
	e = step(read_whole(sp.init_path, CL_SANDBOX_INIT_MAX, &init, &init_len), "init");
	LAP("init");
	/* 2. cgroups with memory, cpu and pids limits. A spare that sits in
	 *    cgroups of its own renames them to the id (after the image is in
	 *    memory, so its usage is known); the child is then born inside. */
	if (e == CL_OK && cl_cgroup_born_inside()) {
		if (loading)
			pthread_join(loader, NULL);
		loading = false;
		born = job.err == CL_OK && cl_cgroup_born_adopt(s->id, sp.memory_bytes, sp.cpus, sp.pids_max);
		cgroups = born;
	}
	if (e == CL_OK && !born &&
	    (e = step(cl_cgroup_create(s->id, sp.memory_bytes, sp.cpus, sp.pids_max), "cgroups")) == CL_OK)
		cgroups = true;
	LAP("cgroups");
	if (loading)
		pthread_join(loader, NULL);
	/* Pay the cgroup-migration grace period while we clone (see
	 * sandbox_internal.h): a forked helper, never a thread, since clone()
	 * must not copy a lock another thread holds. */
	char prime_path[600];
	if (e == CL_OK && !born && cl_cgroup_prime_path(prime_path, sizeof(prime_path))) {
		primer = fork();
		if (primer == 0) {
			cl_cgroup_prime(prime_path, getpid());
			_exit(0);
		}
	}
	image = job.data, image_len = job.len, img = job.img;
	if (e != CL_OK)
		goto out;
	if (job.err != CL_OK) {
		e = cl_errorf(job.err, "image: %s", job.detail);
		goto out;
	}
	LAP("inputs+cgroups");
	/* 3. channel and the child's sync/error pipes */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) != 0 || pipe2(sync_pipe, O_CLOEXEC) != 0 ||
	    pipe2(err_pipe, O_CLOEXEC) != 0) {
		e = cl_errorf(CL_ESYS, "channel: %s", strerror(errno));
		goto out;
	}
	/* 4. clone into new user, pid, mount, net, ipc, uts namespaces (cgroup ns: the
	 *    child unshares it once it sits in its cgroups, so they become its root) */
	stack = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		e = cl_errorf(CL_ENOMEM, "clone: stack: %s", strerror(errno));
		goto out;
	}
	cl_sandbox_child args = {
		.img = img, .image_data = image, .image_len = image_len, .init_data = init, .init_len = init_len,
		.rootfs_bytes = image_len + init_len + (4u << 20), .tmp_bytes = sp.memory_bytes / 4,
		.pids_max = sp.pids_max, .seccomp = &s->seccomp, .channel_fd = chan[1], .sync_fd = sync_pipe[0],
		.err_fd = err_pipe[1], .guest_dir = sp.guest_dir[0] ? sp.guest_dir : NULL,
	};
	child = clone(cl_sandbox_child_main, (uint8_t *)stack + CHILD_STACK,
		      CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
		      &args);
	if (child < 0) {
		e = cl_errorf(CL_ESYS, "clone: %s", strerror(errno));
		goto out;
	}
	LAP("clone");
	close(chan[1]), chan[1] = -1;
	close(sync_pipe[0]), sync_pipe[0] = -1;
	close(err_pipe[1]), err_pipe[1] = -1;
	/* 5. uid/gid maps, release the child (it builds its mounts), move it into
	 *    the cgroups, release it again (it fills its root and goes on). If the
	 *    child failed meanwhile, its own message (step 6) is the one to report. */
	if (born) {
		CL_GUARD_OUT(e, step(cl_cgroup_born_child(child), "cgroups"));
	}
	CL_GUARD_OUT(e, step(write_id_maps(child), "userns"));
	bool released = write(sync_pipe[1], "m", 1) == 1;
	cl_err attach = released && !born ? step(cl_cgroup_attach(s->id, child), "cgroups") : CL_OK;
	if (attach != CL_OK)
		kill(child, SIGKILL); /* its error pipe closes; a message it wrote still wins */
	else if (released && write(sync_pipe[1], "c", 1) != 1)
		released = false;
	LAP("released");
	/* 6. the child either execs /init (pipe closes empty) or names its failed
	 *    step; a child that hangs is killed at the deadline */
	char msg[800];
	size_t got = 0;
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)CL_SHIM_READY_MS * 1000000u;
	for (;;) {
		struct pollfd pf = {.fd = err_pipe[0], .events = POLLIN};
		uint64_t now = cl_now_mono_ns();
		if (now >= deadline) {
			kill(child, SIGKILL);
			snprintf(msg, sizeof(msg), "sandbox: setup did not finish in %d ms", CL_SHIM_READY_MS);
			got = strlen(msg);
			break;
		}
		if (poll(&pf, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		ssize_t r = read(err_pipe[0], msg + got, sizeof(msg) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (got += (size_t)r) == sizeof(msg) - 1)
			break;
	}
	msg[got] = '\0';
	if (got > 0) {
		e = cl_errorf(CL_ESYS, "%s", msg);
		goto out;
	}
	if (attach != CL_OK || !released) {
		e = attach != CL_OK ? attach : cl_errorf(CL_ESYS, "sync: the child went away");
		goto out;
	}
	/* Closed without a word: /init was exec'd (it may even have ended
	 * already), or the setup was killed on the way (e.g. by the OOM killer
	 * when the memory limit cannot hold the image). */
	int wst;
	bool reaped = waitpid(child, &wst, WNOHANG) == child;
	if (reaped && WIFSIGNALED(wst)) {
		child = -1;
		e = cl_errorf(CL_EUNAVAIL, "sandbox: killed by signal %d during setup or start%s", WTERMSIG(wst),
			      WTERMSIG(wst) == SIGKILL ? " (memory limit too small for the image?)" : "");
		goto out;
	}
	if (reaped) {
		s->init_reaped = true; /* its EXIT frame is in the channel */
		s->exit_status = wst;
	}
	LAP("exec");
	s->init_pid = child;
	s->chan = chan[0];
	chan[0] = -1;
	child = -1;
	e = CL_OK;
out:
	if (primer > 0)
		while (waitpid(primer, NULL, 0) < 0 && errno == EINTR)
			;
	if (child > 0) {
		kill(child, SIGKILL);
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (e != CL_OK && cgroups) {
		char keep[512];
		snprintf(keep, sizeof(keep), "%s", cl_error_detail());
		cl_cgroup_born_leave(); /* never kill the shim with its enclave */
		if (cl_cgroup_kill_all(s->id) != CL_OK || cl_cgroup_remove(s->id) != CL_OK)
			cl_warn("could not clean cgroups of %s", s->id);
		cl_errorf(e, "%s", keep);
	}
	int fds[] = {chan[0], chan[1], sync_pipe[0], sync_pipe[1], err_pipe[0], err_pipe[1]};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (stack != MAP_FAILED)
		munmap(stack, CHILD_STACK);
	if (image) {
		explicit_bzero(image, image_len);
		free(image);
	}
	free(init);
	cl_image_free(img);
	return e;
}

/* The shim socket, 0600, and the pid file. */
static cl_err shim_listen(cl_shim *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	CL_GUARD(cl_sandbox_path(sa.sun_path, sizeof(sa.sun_path), s->dir, s->id, "shim.sock"));
	unlink(sa.sun_path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CL_ENSURE(s->listen_fd >= 0, CL_ESYS, "socket: %s", strerror(errno));
	mode_t old = umask(077);
	int rc = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	CL_ENSURE(rc == 0, CL_ESYS, "bind %s: %s", sa.sun_path, strerror(errno));
	CL_ENSURE(chmod(sa.sun_path, 0600) == 0, CL_ESYS, "chmod %s: %s", sa.sun_path, strerror(errno));
	CL_ENSURE(listen(s->listen_fd, 64) == 0, CL_ESYS, "listen: %s", strerror(errno));
	return CL_OK;
}

/* shim.pid: runtime state that dies with the process, so written with a
 * rename (never torn) but without fsync (launch latency matters). */
static cl_err write_pid_file(const cl_shim *s)
{
	char path[1200], tmp[1220], pid[32];
	CL_GUARD(cl_sandbox_path(path, sizeof(path), s->dir, s->id, "shim.pid"));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	CL_ENSURE(fd >= 0, CL_EIO, "open %s: %s", tmp, strerror(errno));
	ssize_t w = write(fd, pid, (size_t)n);
	close(fd);
	CL_ENSURE(w == n && rename(tmp, path) == 0, CL_EIO, "write %s: %s", path, strerror(errno));
	return CL_OK;
}

static void report_failure(int fd, cl_err e)
{
	char line[700];
	int n = snprintf(line, sizeof(line), "ERR %d %s\n", (int)e, cl_error_detail());
	if (fd >= 0 && n > 0 && write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		cl_warn("could not report failure to the launcher");
}

/* A spare shim (ID "-") was exec'd ahead of time by the launcher: it waits
 * on fd CL_SANDBOX_ASSIGN_FD for "ID\n" (EOF: the launcher is gone, exit),
 * then sends its stderr to DIR/sandboxes/ID/shim.log (or exits if it cannot). */
static int await_assignment(const char *dir, char *id, size_t n)
{
	size_t got = 0;
	while (got < n - 1) {
		ssize_t r = read(CL_SANDBOX_ASSIGN_FD, id + got, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (id[got] == '\n')
			break;
		got++;
	}
	id[got] = '\0';
	close(CL_SANDBOX_ASSIGN_FD);
	char log[1200];
	if (cl_sandbox_check_id(id) != CL_OK || cl_sandbox_path(log, sizeof(log), dir, id, "shim.log") != CL_OK)
		return -1;
	/* fd 2 on shim.log is also how destroy recognises this shim (it keeps
	 * the spare's command line): no log, no launch. */
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || dup2(fd, 2) != 2) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int cl_sandbox_shim_main(const char *dir, const char *id)
{
	cl_shim *s = NULL;
	char assigned[64];
	cl_log_init("cloister-shim", CL_LOG_INFO);
	const char *fdenv = getenv(CL_SANDBOX_STATUS_FD_ENV);
	char *end = NULL;
	long status_fd = fdenv ? strtol(fdenv, &end, 10) : -1;
	if (!fdenv || *end || status_fd < 3 || status_fd > 1024 || status_fd == CL_SANDBOX_ASSIGN_FD) {
		cl_error("--shim is started by cloister-host itself (no status fd)");
		return 2;
	}
	/* Detach first: the launcher reaps this process; the shim runs on,
	 * reparented, in its own session (a spare is then already detached). */
	pid_t p = fork();
	if (p < 0)
		return 1;
	if (p > 0)
		_exit(0);
	setsid();
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setgroups(0, NULL) != 0) {
		report_failure((int)status_fd, cl_errorf(CL_ESYS, "setup: %s", strerror(errno)));
		return 1;
	}
	/* Everything that does not depend on the enclave: a spare does it ahead. */
	cl_sandbox_bpf bpf;
	uint8_t warm[CL_SHA384_LEN];
	(void)cl_cgroup_layout();
	if (cl_sha384("", 0, warm) != CL_OK || cl_sandbox_seccomp_compile(&bpf) != CL_OK) {
		report_failure((int)status_fd, cl_errorf(CL_EINTERNAL, "setup: %s", cl_error_detail()));
		return 1;
	}
	if (strcmp(id, "-") == 0) {
		preload_image(getenv(CL_SANDBOX_PRELOAD_ENV));
		/* after the preload, so its memory is not charged to the enclave */
		(void)cl_cgroup_born_prepare();
		if (await_assignment(dir, assigned, sizeof(assigned)) != 0) {
			cl_cgroup_born_leave();
			image_job_free(&preload);
			cl_sandbox_seccomp_free(&bpf);
			return 0; /* never used */
		}
		id = assigned;
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	cl_err e = CL_OK;
	s = calloc(1, sizeof(*s));
	if (!s) {
		cl_sandbox_seccomp_free(&bpf);
		report_failure((int)status_fd, cl_errorf(CL_ENOMEM, "setup: out of memory"));
		return 1;
	}
	s->status_fd = (int)status_fd;
	s->seccomp = bpf;
	s->chan = s->listen_fd = -1;
	s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (cl_sandbox_check_id(id) != CL_OK || snprintf(s->dir, sizeof(s->dir), "%s", dir) >= (int)sizeof(s->dir) ||
	    s->sig_fd < 0) {
		e = cl_errorf(CL_EINVAL, "setup: bad directory or id");
		goto out;
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	CL_GUARD_OUT(e, step(write_pid_file(s), "setup"));
	CL_GUARD_OUT(e, shim_launch(s));
	if ((e = step(shim_listen(s), "socket")) != CL_OK) {
		char keep[512];
		snprintf(keep, sizeof(keep), "%s", cl_error_detail());
		kill(s->init_pid, SIGKILL);
		while (waitpid(s->init_pid, NULL, 0) < 0 && errno == EINTR)
			;
		cl_cgroup_born_leave();
		if (cl_cgroup_kill_all(s->id) != CL_OK || cl_cgroup_remove(s->id) != CL_OK)
			cl_warn("could not clean cgroups of %s", s->id);
		cl_errorf(e, "%s", keep);
		goto out;
	}
	int code = cl_shim_serve(s);
	cl_sandbox_seccomp_free(&s->seccomp);
	free(s);
	return code;
out:
	cl_cgroup_born_leave();
	report_failure(s->status_fd, e);
	if (s->chan >= 0)
		close(s->chan);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->sig_fd >= 0)
		close(s->sig_fd);
	cl_sandbox_seccomp_free(&s->seccomp);
	image_job_free(&preload);
	free(s);
	return 1;
}
