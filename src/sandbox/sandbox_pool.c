/* sandbox_pool.c — the launcher's pool of spare shims.
 *
 * A spare is `self_exe --shim DIR -` exec'd ahead of time (the exec and
 * dynamic loading of cloister-host would otherwise be most of a launch). It
 * reads the image the launcher used last, prepares a sandbox (shim.c,
 * shim_prep.c), says "P <pid>" (prepared) or "U <pid>" (not) on its
 * assignment socket (its fd 4, SOCK_SEQPACKET), then waits there for an
 * enclave id. It exits, removing what it
 * prepared, when our end of that socket closes: with this process.
 *
 * The pool holds up to CL_SANDBOX_POOL_SIZE spares of one (self_exe, dir),
 * so launches back to back never wait for one. A launch takes a prepared
 * spare if there is one; after the launch a background thread spawns the
 * replacement, off the launch's path. A forked child of this process starts
 * with an empty pool (the spares stay its parent's).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "sandbox/sandbox_internal.h"

extern char **environ;

typedef struct shim_proc {
	pid_t pid;     /* the spawned process (it forks the detached shim and exits); 0 once reaped */
	int assign_fd; /* our end of its fd 4 */
	int status_fd; /* read end of its fd 3 */
	char said;     /* 'P' prepared, 'U' not, 0 not yet, 'D' gone */
	pid_t shim;    /* the spare shim itself, once it said */
	unsigned gen;  /* pool.gen when it was spawned */
	char image[PATH_MAX]; /* the image it preloads */
} shim_proc;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_once_t once;
	bool thread; /* the refill thread runs */
	shim_proc spares[CL_SANDBOX_POOL_SIZE];
	size_t n;
	/* what spares are made for: the last launch's (exe, dir, image, init) */
	char exe[PATH_MAX], dir[PATH_MAX], image[PATH_MAX], init[PATH_MAX];
	/* bumped when exe, dir or init change: spares made for older ones are
	 * dropped (a sandbox prepared with another cloister-init would be built
	 * again at launch; another image is fine: a prepared child takes any) */
	unsigned gen;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .once = PTHREAD_ONCE_INIT};

static int fd_above(int fd, int min)
{
	if (fd < 0 || fd >= min)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, min);
	close(fd);
	return n;
}

static void shim_proc_reap(shim_proc *sp)
{
	if (sp->pid > 0)
		while (waitpid(sp->pid, NULL, 0) < 0 && errno == EINTR)
			;
	sp->pid = 0;
}

/* Drops a spare: closing its socket makes it exit and remove what it prepared. */
static void shim_proc_discard(shim_proc *sp)
{
	if (sp->pid > 0) {
		kill(sp->pid, SIGKILL); /* the detaching process: nothing of an enclave to lose */
		shim_proc_reap(sp);
	}
	if (sp->assign_fd >= 0)
		close(sp->assign_fd);
	if (sp->status_fd >= 0)
		close(sp->status_fd);
	sp->pid = 0;
	sp->assign_fd = sp->status_fd = -1;
}

/* Spawns `self_exe --shim DIR -`: fd 3 = status pipe, fd 4 = assignment
 * socket, 0-2 = /dev/null (the shim moves stderr to its shim.log). preload
 * and init (may be NULL) are the image to verify and the cloister-init to
 * prepare with. */
static cl_err shim_proc_spawn(const char *self_exe, const char *dir, const char *preload, const char *init,
			      shim_proc *sp)
{
	int st[2] = {-1, -1}, as[2] = {-1, -1};
	char fdvar[64], prevar[PATH_MAX + 64], initvar[PATH_MAX + 64];
	sp->pid = 0;
	sp->assign_fd = sp->status_fd = -1;
	sp->said = 0;
	sp->shim = 0;
	if (pipe2(st, O_CLOEXEC) != 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, as) != 0) {
		cl_err e = cl_errorf(CL_ESYS, "shim: pipe: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			if (st[i] >= 0)
				close(st[i]);
			if (as[i] >= 0)
				close(as[i]);
		}
		return e;
	}
	/* keep the child's ends clear of the fds they are dup'ed onto */
	st[1] = fd_above(st[1], 10);
	as[1] = fd_above(as[1], 10);
	snprintf(fdvar, sizeof(fdvar), "%s=3", CL_SANDBOX_STATUS_FD_ENV);
	char *envp[10];
	size_t ne = 0;
	envp[ne++] = fdvar;
	if (preload && *preload &&
	    snprintf(prevar, sizeof(prevar), "%s=%s", CL_SANDBOX_PRELOAD_ENV, preload) < (int)sizeof(prevar))
		envp[ne++] = prevar;
	if (init && *init && snprintf(initvar, sizeof(initvar), "%s=%s", CL_SANDBOX_INIT_ENV, init) < (int)sizeof(initvar))
		envp[ne++] = initvar;
	static const char *const pass[] = {"CLOISTER_LOG=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS="};
	for (char **e = environ; e && *e && ne < 9; e++)
		for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
			if (strncmp(*e, pass[i], strlen(pass[i])) == 0 && ne < 9)
				envp[ne++] = *e;
	envp[ne] = NULL;
	char *argv[] = {(char *)self_exe, "--shim", (char *)dir, "-", NULL};

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, st[1], 3);
	posix_spawn_file_actions_adddup2(&fa, as[1], CL_SANDBOX_ASSIGN_FD);
	posix_spawn_file_actions_addclosefrom_np(&fa, CL_SANDBOX_ASSIGN_FD + 1);
	sigset_t none, defs;
	sigemptyset(&none);
	sigemptyset(&defs);
	sigaddset(&defs, SIGPIPE);
	sigaddset(&defs, SIGTERM);
	sigaddset(&defs, SIGINT);
	sigaddset(&defs, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defs);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int rc = posix_spawn(&sp->pid, self_exe, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(st[1]);
	close(as[1]);
	if (rc != 0) {
		close(st[0]);
		close(as[0]);
		sp->pid = 0;
		return cl_errorf(CL_ESYS, "shim: spawn %s: %s", self_exe, strerror(rc));
	}
	sp->status_fd = st[0];
	sp->assign_fd = as[0];
	return CL_OK;
}

/* What a spare has said so far (non-blocking): 'P', 'U', 0 (nothing yet)
 * or 'D' (it is gone, or said something else). */
static char shim_proc_said(shim_proc *sp)
{
	if (sp->said == 'D')
		return 'D';
	if (sp->said == 0) {
		char msg[32];
		ssize_t r = recv(sp->assign_fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		char *end = NULL;
		long pid = 0;
		if (r >= 3) {
			msg[r] = '\0';
			pid = strtol(msg + 2, &end, 10);
		}
		bool ok = r >= 3 && (msg[0] == 'P' || msg[0] == 'U') && msg[1] == ' ' && end && !*end && pid > 1;
		sp->said = ok ? msg[0] : 'D';
		sp->shim = ok ? (pid_t)pid : 0;
		return sp->said;
	}
	/* said once: still there? (EOF or an error: gone) */
	char b;
	ssize_t r = recv(sp->assign_fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		sp->said = 'D';
	return sp->said;
}

/* ---- the refill thread ---- */

static void *refill_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.exe[0] || pool.n >= CL_SANDBOX_POOL_SIZE)
			pthread_cond_wait(&pool.wake, &pool.lock);
		char exe[PATH_MAX], dir[PATH_MAX], image[PATH_MAX], init[PATH_MAX];
		memcpy(exe, pool.exe, sizeof(exe));
		memcpy(dir, pool.dir, sizeof(dir));
		memcpy(image, pool.image, sizeof(image));
		memcpy(init, pool.init, sizeof(init));
		unsigned gen = pool.gen;
		pthread_mutex_unlock(&pool.lock);
		shim_proc sp;
		cl_err e = shim_proc_spawn(exe, dir, image, init, &sp);
		sp.gen = gen;
		memcpy(sp.image, image, sizeof(sp.image));
		if (e == CL_OK)
			shim_proc_reap(&sp); /* the detaching process exits at once */
		pthread_mutex_lock(&pool.lock);
		if (e != CL_OK) {
			cl_debug("no spare shim: %s", cl_error_detail());
			pool.exe[0] = '\0'; /* until the next launch asks again */
		} else if (gen != pool.gen || pool.n >= CL_SANDBOX_POOL_SIZE) {
			shim_proc_discard(&sp);
		} else {
			pool.spares[pool.n++] = sp;
		}
	}
	return NULL;
}

/* A forked child has none of our spares (their fds are copies: close them)
 * and no refill thread. */
static void pool_atfork_prepare(void)
{
	pthread_mutex_lock(&pool.lock);
}

static void pool_atfork_parent(void)
{
	pthread_mutex_unlock(&pool.lock);
}

static void pool_atfork_child(void)
{
	for (size_t i = 0; i < pool.n; i++) {
		close(pool.spares[i].assign_fd);
		close(pool.spares[i].status_fd);
	}
	pool.n = 0;
	pool.exe[0] = '\0';
	pool.thread = false;
	pthread_mutex_init(&pool.lock, NULL);
	pthread_cond_init(&pool.wake, NULL);
}

static void pool_once(void)
{
	if (pthread_atfork(pool_atfork_prepare, pool_atfork_parent, pool_atfork_child) != 0)
		cl_warn("spare shims: pthread_atfork failed");
}

/* How well a spare fits a launch of image: prepared with it preloaded (the
 * child holds the parsed image), prepared, alive. */
static int fit(const shim_proc *sp, const char *image)
{
	return sp->said == 'P' ? (image && strcmp(sp->image, image) == 0 ? 3 : 2) : 1;
}

/* Takes the spare of (exe, dir) that fits the launch of image best (the
 * oldest of equals: the likeliest to be done). Drops dead ones. Called with
 * the lock held. */
static bool pool_take(const char *exe, const char *dir, const char *image, shim_proc *out)
{
	if (strcmp(pool.exe, exe) != 0 || strcmp(pool.dir, dir) != 0)
		return false;
	ssize_t pick = -1;
	for (size_t i = 0; i < pool.n;) {
		char said = shim_proc_said(&pool.spares[i]);
		if (said == 'D') {
			shim_proc_discard(&pool.spares[i]);
			memmove(&pool.spares[i], &pool.spares[i + 1], (pool.n - i - 1) * sizeof(pool.spares[0]));
			pool.n--;
			continue;
		}
		if (pick < 0 || fit(&pool.spares[i], image) > fit(&pool.spares[pick], image))
			pick = (ssize_t)i;
		i++;
	}
	if (pick < 0)
		return false;
	*out = pool.spares[pick];
	memmove(&pool.spares[pick], &pool.spares[pick + 1], (pool.n - (size_t)pick - 1) * sizeof(pool.spares[0]));
	pool.n--;
	return true;
}

cl_err cl_sandbox_pool_start(const char *self_exe, const char *dir, const char *id, const char *image,
			     int *status_fd)
{
	shim_proc sp = {.pid = 0, .assign_fd = -1, .status_fd = -1};
	pthread_once(&pool.once, pool_once);
	pthread_mutex_lock(&pool.lock);
	bool have = pool_take(self_exe, dir, image, &sp);
	pthread_mutex_unlock(&pool.lock);
	char line[80];
	int n = snprintf(line, sizeof(line), "%s\n", id);
	for (int attempt = 0;; attempt++) {
		if (!have)
			CL_GUARD(shim_proc_spawn(self_exe, dir, NULL, NULL, &sp));
		if (send(sp.assign_fd, line, (size_t)n, MSG_NOSIGNAL) == n)
			break;
		shim_proc_discard(&sp); /* the spare died: start a fresh one */
		have = false;
		if (attempt > 0)
			return cl_errorf(CL_ESYS, "shim: cannot hand over %s", id);
	}
	close(sp.assign_fd);
	shim_proc_reap(&sp);
	*status_fd = sp.status_fd;
	return CL_OK;
}

void cl_sandbox_pool_refill(const char *self_exe, const char *dir, const char *image, const char *init)
{
	pthread_once(&pool.once, pool_once);
	pthread_mutex_lock(&pool.lock);
	bool same = strcmp(pool.exe, self_exe) == 0 && strcmp(pool.dir, dir) == 0 && strcmp(pool.init, init) == 0;
	if (!same) {
		pool.gen++;
		for (size_t i = 0; i < pool.n; i++)
			shim_proc_discard(&pool.spares[i]);
		pool.n = 0;
	}
	if (snprintf(pool.exe, sizeof(pool.exe), "%s", self_exe) >= (int)sizeof(pool.exe) ||
	    snprintf(pool.dir, sizeof(pool.dir), "%s", dir) >= (int)sizeof(pool.dir) ||
	    snprintf(pool.image, sizeof(pool.image), "%s", image) >= (int)sizeof(pool.image) ||
	    snprintf(pool.init, sizeof(pool.init), "%s", init) >= (int)sizeof(pool.init))
		pool.exe[0] = '\0'; /* paths this long get no spares */
	if (!pool.thread) {
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pool.thread = pthread_create(&t, &a, refill_main, NULL) == 0;
		pthread_attr_destroy(&a);
		if (!pool.thread)
			cl_debug("no spare shims: cannot start the refill thread");
	}
	pthread_cond_signal(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
}

size_t cl_sandbox_pool_list(pid_t *prepared, size_t max, size_t *nprepared)
{
	size_t n = 0, p = 0;
	pthread_mutex_lock(&pool.lock);
	for (size_t i = 0; i < pool.n; i++) {
		char said = shim_proc_said(&pool.spares[i]);
		n += said != 'D';
		if (said == 'P' && p < max && prepared)
			prepared[p] = pool.spares[i].shim;
		p += said == 'P';
	}
	pthread_mutex_unlock(&pool.lock);
	if (nprepared)
		*nprepared = p;
	return n;
}
