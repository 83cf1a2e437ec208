/* dev_proc.c — child processes of `cloister dev` (see dev_proc.h). */
#include "cli/dev_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

volatile sig_atomic_t cl_dev_stop_requested;
static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int saved = errno;
	if (sig == SIGINT || sig == SIGTERM)
		cl_dev_stop_requested = 1;
	if (wake_pipe[1] >= 0) {
		ssize_t r = write(wake_pipe[1], "x", 1);
		(void)r; /* a full pipe already wakes the loop */
	}
	errno = saved;
}

cl_err cl_dev_signals_init(void)
{
	if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return cl_errorf(CL_ESYS, "pipe: %s", strerror(errno));
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGCHLD, &sa, NULL) != 0)
		return cl_errorf(CL_ESYS, "sigaction: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	return CL_OK;
}

extern char **environ;

/* environ with the NAME=value entries of extra added (replacing any with the
 * same name). The array is malloc'd, the strings are borrowed. NULL when out
 * of memory. */
static char **child_env(char *const extra[])
{
	size_t n = 0, k = 0, m = 0;
	while (environ[n])
		n++;
	while (extra && extra[m])
		m++;
	char **env = calloc(n + m + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;
		for (size_t j = 0; j < m && !replaced; j++) {
			size_t len = strcspn(extra[j], "=") + 1;
			replaced = strncmp(environ[i], extra[j], len) == 0;
		}
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		env[k++] = extra[j];
	return env;
}

cl_err cl_dev_spawn(const char *name, const char *exe, char *const argv[], const char *log_path,
		    cl_dev_child *out)
{
	return cl_dev_spawn_env(name, exe, argv, NULL, log_path, out);
}

cl_err cl_dev_spawn_env(const char *name, const char *exe, char *const argv[], char *const extra_env[],
			const char *log_path, cl_dev_child *out)
{
	memset(out, 0, sizeof(*out));
	out->name = name;
	out->out_fd = -1;
	out->log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (out->log_fd < 0)
		return cl_errorf(CL_EIO, "open %s: %s", log_path, strerror(errno));
	char **env = child_env(extra_env); /* built before fork: the child only execs */
	if (!env) {
		close(out->log_fd);
		return cl_errorf(CL_ENOMEM, "out of memory");
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		free(env);
		close(out->log_fd);
		return cl_errorf(CL_ESYS, "pipe: %s", strerror(errno));
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		free(env);
		close(p[0]);
		close(p[1]);
		close(out->log_fd);
		return cl_errorf(CL_ESYS, "fork: %s", strerror(e));
	}
	if (pid == 0) {
		/* If the supervisor dies, even by SIGKILL, its children stop too. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
			_exit(127);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(p[1], 1) < 0 || dup2(out->log_fd, 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execve(exe, argv, env);
		dprintf(2, "cloister dev: cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	free(env);
	close(p[1]);
	out->pid = pid;
	out->out_fd = p[0];
	return CL_OK;
}

cl_err cl_dev_run(const char *name, const char *exe, char *const argv[], const char *log_path, long timeout_ms)
{
	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return cl_errorf(CL_EIO, "open %s: %s", log_path, strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(log_fd);
		return cl_errorf(CL_ESYS, "fork: %s", strerror(e));
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execv(exe, argv);
		dprintf(2, "cloister dev: cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(log_fd);
	cl_dev_child c = {.name = name, .pid = pid, .out_fd = -1, .log_fd = -1};
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	while (!cl_dev_reap(&c)) {
		if (cl_now_mono_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &c.status, 0);
			return cl_errorf(CL_ETIMEOUT, "%s did not finish in %ld s (see %s)", name, timeout_ms / 1000,
					 log_path);
		}
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0)
		return CL_OK;
	char how[128], tail[256];
	cl_dev_describe_exit(&c, how, sizeof(how));
	cl_dev_log_tail(log_path, tail, sizeof(tail));
	return cl_errorf(CL_EUNAVAIL, "%s (%s%s%s)", how, log_path, *tail ? ": " : "", tail);
}

/* Writes one complete line to the log, hiding an admin token's value. */
static void log_line(cl_dev_child *c, const char *line)
{
	static const char secret_prefix[] = "admin-token:";
	if (strncmp(line, secret_prefix, sizeof(secret_prefix) - 1) == 0)
		line = "admin-token: (hidden)";
	dprintf(c->log_fd, "%s\n", line);
}

/* Reads what is available (fd must be readable or non-blocking). Returns
 * bytes read, 0 at EOF, -1 on EAGAIN. */
static ssize_t fill(cl_dev_child *c)
{
	if (c->len == sizeof(c->buf)) /* a line longer than the buffer: cut it */
		c->len = 0;
	ssize_t r;
	do
		r = read(c->out_fd, c->buf + c->len, sizeof(c->buf) - c->len);
	while (r < 0 && errno == EINTR);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		close(c->out_fd);
		c->out_fd = -1;
		return 0;
	}
	if (r < 0)
		return -1;
	c->len += (size_t)r;
	return r;
}

/* Takes the first complete line out of the buffer into line. */
static bool take_line(cl_dev_child *c, char *line, size_t n)
{
	char *nl = memchr(c->buf, '\n', c->len);
	if (!nl)
		return false;
	size_t l = (size_t)(nl - c->buf);
	snprintf(line, n, "%.*s", (int)l, c->buf);
	memmove(c->buf, nl + 1, c->len - l - 1);
	c->len -= l + 1;
	explicit_bzero(c->buf + c->len, l + 1);
	log_line(c, line);
	return true;
}

cl_err cl_dev_read_line(cl_dev_child *c, uint64_t deadline_ns, char *line, size_t n)
{
	for (;;) {
		if (take_line(c, line, n))
			return CL_OK;
		if (cl_dev_stop_requested)
			return cl_errorf(CL_ECONFLICT, "interrupted");
		if (c->out_fd < 0)
			return cl_errorf(CL_EIO, "%s closed its output", c->name);
		uint64_t now = cl_now_mono_ns();
		if (now >= deadline_ns)
			return cl_errorf(CL_ETIMEOUT, "%s did not answer in time", c->name);
		struct pollfd pfd[2] = {{c->out_fd, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
		int ms = (int)((deadline_ns - now) / 1000000u) + 1;
		int r = poll(pfd, wake_pipe[0] >= 0 ? 2 : 1, ms);
		if (r < 0 && errno != EINTR)
			return cl_errorf(CL_ESYS, "poll: %s", strerror(errno));
		if (r > 0 && (pfd[1].revents & POLLIN)) {
			char drop[64];
			while (read(wake_pipe[0], drop, sizeof(drop)) > 0)
				;
		}
		if (r > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			fill(c);
	}
}

void cl_dev_drain(cl_dev_child *c)
{
	char line[CL_DEV_LINE_MAX];
	while (c->out_fd >= 0) {
		struct pollfd pfd = {c->out_fd, POLLIN, 0};
		if (poll(&pfd, 1, 0) <= 0 || fill(c) < 0)
			break;
		while (take_line(c, line, sizeof(line)))
			;
	}
	explicit_bzero(line, sizeof(line));
}

bool cl_dev_reap(cl_dev_child *c)
{
	if (c->pid <= 0)
		return true;
	int st;
	pid_t r = waitpid(c->pid, &st, WNOHANG);
	if (r == c->pid || (r < 0 && errno == ECHILD)) {
		c->status = r == c->pid ? st : 0;
		c->pid = 0;
		return true;
	}
	return false;
}

void cl_dev_wait_event(cl_dev_child *const *children, size_t n)
{
	struct pollfd pfd[8];
	size_t k = 0;
	pfd[k++] = (struct pollfd){wake_pipe[0], POLLIN, 0};
	for (size_t i = 0; i < n && k < 8; i++)
		if (children[i]->out_fd >= 0)
			pfd[k++] = (struct pollfd){children[i]->out_fd, POLLIN, 0};
	/* The timeout only bounds how long a missed wake-up could delay us. */
	if (poll(pfd, k, 1000) > 0 && (pfd[0].revents & POLLIN)) {
		char drop[64];
		while (read(wake_pipe[0], drop, sizeof(drop)) > 0)
			;
	}
}

void cl_dev_stop_child(cl_dev_child *c, long timeout_ms)
{
	if (c->pid > 0 && !cl_dev_reap(c)) {
		kill(c->pid, SIGTERM);
		uint64_t deadline = cl_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
		while (!cl_dev_reap(c) && cl_now_mono_ns() < deadline) {
			cl_dev_drain(c);
			struct timespec ts = {0, 20 * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (c->pid > 0) {
			dprintf(c->log_fd, "cloister dev: %s did not stop in %ld ms: killing it\n", c->name,
				timeout_ms);
			kill(c->pid, SIGKILL);
			int st;
			if (waitpid(c->pid, &st, 0) == c->pid)
				c->status = st;
			c->pid = 0;
		}
	}
	cl_dev_drain(c);
	if (c->out_fd >= 0)
		close(c->out_fd);
	c->out_fd = -1;
	if (c->log_fd >= 0)
		close(c->log_fd);
	c->log_fd = -1;
}

const char *cl_dev_describe_exit(const cl_dev_child *c, char *buf, size_t n)
{
	if (WIFEXITED(c->status))
		snprintf(buf, n, "%s exited with status %d", c->name, WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		snprintf(buf, n, "%s was killed by signal %d", c->name, WTERMSIG(c->status));
	else
		snprintf(buf, n, "%s stopped", c->name);
	return buf;
}

const char *cl_dev_log_tail(const char *path, char *buf, size_t n)
{
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	char tail[2048];
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > (off_t)sizeof(tail) - 1 ? end - (off_t)sizeof(tail) + 1 : 0;
	ssize_t r = pread(fd, tail, sizeof(tail) - 1, start);
	close(fd);
	if (r <= 0)
		return buf;
	tail[r] = '\0';
	while (r > 0 && (tail[r - 1] == '\n' || tail[r - 1] == '\r'))
		tail[--r] = '\0';
	char *last = strrchr(tail, '\n');
	snprintf(buf, n, "%s", last ? last + 1 : tail);
	return buf;
}
