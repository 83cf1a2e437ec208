/* shim.c — `cloister-host --shim DIR ID|-`: builds one enclave and holds its channel.
 *
 * A spare shim (ID "-", started ahead by the launcher) reads the image the
 * launcher used last and prepares a sandbox before it knows its enclave
 * (shim_prep.c: cgroups spare-<pid>, the child cloned into its namespaces
 * and through the first half of the containment sequence), then waits for
 * an id. shim_launch() completes a prepared sandbox if it fits the enclave's
 * spec, else builds one from the start. Every step fails closed and names
 * itself in the error sent to the launcher on the status fd ("OK <init_pid>
 * <shim_pid>\n" or "ERR <code> <step: detail>\n"). Serving is shim_serve.c.
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
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_internal.h"

typedef struct shim_spec {
	char image_path[1024], init_path[1024];
	char helper_path[1024]; /* with await_bundle or suspendable: cloister-init-bundle, becomes /init-bundle */
	char guest_dir[1024]; /* "" = no /dev/cloister */
	uint64_t memory_bytes;
	uint32_t cpus, pids_max;
	bool await_bundle;
	bool suspendable;
	bool await_restore;
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
	json_t *aw = json_object_get(o, "await_bundle");
	if (aw && !json_is_boolean(aw)) {
		e = cl_errorf(CL_EINVAL, "spec: await_bundle must be a boolean");
		goto out;
	}
	sp->await_bundle = json_is_true(aw);
	json_t *su = json_object_get(o, "suspendable");
	if (su && !json_is_boolean(su)) {
		e = cl_errorf(CL_EINVAL, "spec: suspendable must be a boolean");
		goto out;
	}
	sp->suspendable = json_is_true(su);
	json_t *ar = json_object_get(o, "await_restore");
	if ((ar && !json_is_boolean(ar)) || (json_is_true(ar) && !sp->suspendable)) {
		e = cl_errorf(CL_EINVAL, "spec: await_restore must be a boolean, and goes with suspendable");
		goto out;
	}
	sp->await_restore = json_is_true(ar);
	sp->helper_path[0] = '\0';
	if (sp->await_bundle || sp->suspendable) {
		CL_GUARD_OUT(e, json_str(o, "helper_path", sp->helper_path, sizeof(sp->helper_path)));
		if (sp->helper_path[0] != '/') {
			e = cl_errorf(CL_EINVAL, "spec: helper_path must be absolute");
			goto out;
		}
	}
out:
	json_decref(o);
	return e;
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
		j->err = cl_sandbox_check_entrypoint(j->img);
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

/* The cloister-init a spare prepared with: used only if the spec names the
 * same file, unchanged (device, inode, size, mtime, ctime). */
static char prep_init_path[1024];
static struct stat prep_init_st;
static uint64_t spare_prep_us; /* how long the spare took to get ready, for the log */

static bool same_file(const char *path, const struct stat *was)
{
	struct stat now;
	return stat(path, &now) == 0 && now.st_dev == was->st_dev && now.st_ino == was->st_ino &&
	       now.st_size == was->st_size && now.st_mtim.tv_sec == was->st_mtim.tv_sec &&
	       now.st_mtim.tv_nsec == was->st_mtim.tv_nsec && now.st_ctim.tv_sec == was->st_ctim.tv_sec &&
	       now.st_ctim.tv_nsec == was->st_ctim.tv_nsec;
}

/* A spare prepares a sandbox ahead: cgroups spare-<pid>, the child through
 * the first half, with the preloaded image (if any) in its memory. */
static bool prepare_spare(cl_shim_prep *p, const cl_sandbox_bpf *bpf, const char *init_path)
{
	uint8_t *init = NULL;
	size_t init_len = 0;
	cl_err e;
	if (!init_path || !*init_path) /* a shim started for an enclave that is known already */
		return false;
	if (strlen(init_path) >= sizeof(prep_init_path)) {
		e = cl_errorf(CL_ETOOBIG, "init path too long");
		goto out;
	}
	memcpy(prep_init_path, init_path, strlen(init_path) + 1);
	CL_GUARD_OUT(e, read_whole_st(init_path, CL_SANDBOX_INIT_MAX, &init, &init_len, &prep_init_st));
	CL_GUARD_OUT(e, cl_shim_prep_cgroups(p, NULL));
	CL_GUARD_OUT(e, cl_shim_prep_clone(p, bpf, init, init_len, preload.err == CL_OK ? preload.img : NULL,
					   preload.data, preload.len, false));
	e = cl_shim_prep_wait(p, CL_SHIM_READY_MS);
out:
	free(init);
	if (e != CL_OK) {
		cl_debug("spare: no prepared sandbox: %s", cl_error_detail());
		cl_shim_prep_discard(p);
		prep_init_path[0] = '\0';
	}
	return e == CL_OK;
}

/* A sealed copy of the file at path (1..max bytes): its bytes as they are
 * now, immutable from here on. For the image of a prepared child (which
 * parses and checks it itself), and for cloister-init-bundle. */
static cl_err sealed_memfd(const char *path, uint64_t max, int *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), m = -1;
	CL_ENSURE(fd >= 0, errno == ENOENT ? CL_ENOTFOUND : CL_EIO, "open %s: %s", path, strerror(errno));
	struct stat st;
	cl_err e = CL_OK;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		e = cl_errorf(CL_EINVAL, "%s is not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max || st.st_size == 0) {
		e = cl_errorf(CL_ETOOBIG, "%s: size %lld outside 1..%llu", path, (long long)st.st_size,
			      (unsigned long long)max);
		goto out;
	}
	m = memfd_create("cloister-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (m < 0) {
		e = cl_errorf(CL_ESYS, "memfd: %s", strerror(errno));
		goto out;
	}
	off_t off = 0;
	while (off < st.st_size) {
		ssize_t r = sendfile(m, fd, &off, (size_t)(st.st_size - off));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = cl_errorf(CL_EIO, "read %s: %s", path, r < 0 ? strerror(errno) : "short");
			goto out;
		}
	}
	if (fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
		e = cl_errorf(CL_ESYS, "memfd: seal: %s", strerror(errno));
		goto out;
	}
	*out = m;
	m = -1;
out:
	if (m >= 0)
		close(m);
	close(fd);
	return e;
}

/* Completes the spare's prepared sandbox for this spec. The image the child
 * holds is used only if the file is still the one preloaded; else it gets a
 * sealed copy and checks it itself. */
static cl_err launch_prepared(cl_shim *s, cl_shim_prep *p, const shim_spec *sp)
{
	image_job job = {.path = sp->image_path};
	int image_fd = -1, helper_fd = -1;
	cl_err e = CL_OK;
	if (!(take_preload(sp->image_path, &job) && p->has_image))
		e = step(sealed_memfd(sp->image_path, CL_IMAGE_MAX_SIZE, &image_fd), "image");
	if (e == CL_OK && (sp->await_bundle || sp->suspendable))
		e = step(sealed_memfd(sp->helper_path, CL_SANDBOX_INIT_MAX, &helper_fd), "init-bundle");
	cl_shim_limits lim = {sp->memory_bytes, sp->cpus, sp->pids_max, sp->await_bundle, sp->suspendable,
			      sp->await_restore};
	if (e == CL_OK)
		e = cl_shim_prep_go(p, s, &lim, image_fd, helper_fd, sp->guest_dir[0] ? sp->guest_dir : NULL);
	else
		cl_shim_prep_discard(p);
	if (image_fd >= 0)
		close(image_fd);
	if (helper_fd >= 0)
		close(helper_fd);
	image_job_free(&job);
	return e;
}

/* A sandbox from the start, for a known enclave. The image is hashed (the
 * slowest input step) on a helper thread while this one reads init and
 * makes the cgroups; joined before clone, so the shim is single-threaded
 * again when it clones. */
static cl_err launch_fresh(cl_shim *s, cl_shim_prep *p, const shim_spec *sp)
{
	image_job job = {.path = sp->image_path};
	uint8_t *init = NULL;
	size_t init_len = 0;
	pthread_t loader;
	bool loading = false;
	int helper_fd = -1;
	cl_err e;
	if (!take_preload(sp->image_path, &job)) {
		loading = pthread_create(&loader, NULL, load_image, &job) == 0;
		if (!loading)
			load_image(&job);
	}
	e = step(read_whole(sp->init_path, CL_SANDBOX_INIT_MAX, &init, &init_len), "init");
	if (e == CL_OK && (sp->await_bundle || sp->suspendable))
		e = step(sealed_memfd(sp->helper_path, CL_SANDBOX_INIT_MAX, &helper_fd), "init-bundle");
	if (e == CL_OK)
		e = cl_shim_prep_cgroups(p, s->id);
	if (loading)
		pthread_join(loader, NULL);
	if (e == CL_OK && job.err != CL_OK)
		e = cl_errorf(job.err, "image: %s", job.detail);
	if (e == CL_OK)
		e = cl_shim_prep_clone(p, &s->seccomp, init, init_len, job.img, job.data, job.len, true);
	free(init);
	cl_shim_limits lim = {sp->memory_bytes, sp->cpus, sp->pids_max, sp->await_bundle, sp->suspendable,
			      sp->await_restore};
	if (e == CL_OK)
		e = cl_shim_prep_go(p, s, &lim, -1, helper_fd, sp->guest_dir[0] ? sp->guest_dir : NULL);
	else
		cl_shim_prep_discard(p);
	if (helper_fd >= 0)
		close(helper_fd);
	image_job_free(&job);
	return e;
}

/* The shim's half of the containment sequence. On success the child has
 * exec'd /init (READY is awaited by the serving loop); on failure everything
 * started here is undone. */
static cl_err shim_launch(cl_shim *s, cl_shim_prep *p)
{
	shim_spec sp;
	uint64_t t0 = cl_now_mono_ns();
	cl_err e = step(read_spec(s->dir, s->id, &sp), "spec");
	if (e != CL_OK) {
		cl_shim_prep_discard(p);
		return e;
	}
	s->await_bundle = sp.await_bundle;
	s->await_restore = sp.await_restore;
	bool fits = cl_shim_prep_alive(p) && strcmp(sp.init_path, prep_init_path) == 0 &&
		    same_file(prep_init_path, &prep_init_st);
	if (fits) {
		e = launch_prepared(s, p, &sp);
	} else {
		if (p->child > 0)
			cl_debug("launch: the prepared sandbox does not fit %s; building one", s->id);
		cl_shim_prep_discard(p);
		e = launch_fresh(s, p, &sp);
	}
	cl_info("launch id=%s prepared=%d us=%llu spare_us=%llu", s->id, fits ? 1 : 0,
		(unsigned long long)((cl_now_mono_ns() - t0) / 1000), (unsigned long long)spare_prep_us);
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
 * on fd CL_SANDBOX_ASSIGN_FD (a SOCK_SEQPACKET socket) for the message
 * "ID\n" (EOF: the launcher is gone, exit),
 * then sends its stderr to DIR/sandboxes/ID/shim.log (or exits if it cannot). */
static int await_assignment(const char *dir, char *id, size_t n)
{
	ssize_t r;
	while ((r = recv(CL_SANDBOX_ASSIGN_FD, id, n, 0)) < 0 && errno == EINTR)
		;
	if (r < 2 || id[r - 1] != '\n') /* EOF: the launcher is gone */
		return -1;
	id[r - 1] = '\0';
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
	char assigned[80];
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
	cl_shim_prep prep;
	cl_shim_prep_init(&prep);
	tzset(); /* the log's first timestamp would read /etc/localtime mid-launch */
	if (strcmp(id, "-") == 0) {
		/* A spare: the sandbox too, before the clone so the child holds the image. */
		uint64_t t0 = cl_now_mono_ns();
		preload_image(getenv(CL_SANDBOX_PRELOAD_ENV));
		bool ready = prepare_spare(&prep, &bpf, getenv(CL_SANDBOX_INIT_ENV));
		spare_prep_us = (cl_now_mono_ns() - t0) / 1000; /* logged with the launch (stderr is not the log yet) */
		/* "P <pid>" / "U <pid>" (a launcher that sent the id at once may
		 * have closed its end already: nobody to tell) */
		char said[32];
		int len = snprintf(said, sizeof(said), "%c %d", ready ? 'P' : 'U', (int)getpid());
		ssize_t w = send(CL_SANDBOX_ASSIGN_FD, said, (size_t)len, MSG_NOSIGNAL);
		(void)w;
		if (await_assignment(dir, assigned, sizeof(assigned)) != 0) {
			cl_shim_prep_discard(&prep);
			image_job_free(&preload);
			cl_sandbox_seccomp_free(&bpf);
			return 0; /* never used: the launcher is gone */
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
		cl_shim_prep_discard(&prep);
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
	memcpy(s->id, id, strlen(id) + 1); /* checked: at most 63 characters */
	CL_GUARD_OUT(e, step(write_pid_file(s), "setup"));
	CL_GUARD_OUT(e, shim_launch(s, &prep));
	if ((e = step(shim_listen(s), "socket")) != CL_OK) {
		char keep[512];
		snprintf(keep, sizeof(keep), "%s", cl_error_detail());
		kill(s->init_pid, SIGKILL);
		while (waitpid(s->init_pid, NULL, 0) < 0 && errno == EINTR)
			;
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
	cl_shim_prep_discard(&prep);
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
