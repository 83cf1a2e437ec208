/* supervise.c — self-pipe signals, parts forked to die with their
 * supervisor, restart backoff and reaping (supervise.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/supervise.h"
#include "common/util.h"

#define MAX_SIGNALS 8

static int g_pipe[2] = {-1, -1};
static int g_sigs[MAX_SIGNALS];
static size_t g_nsigs;

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;
	ssize_t r = write(g_pipe[1], &c, 1);
	(void)r; /* full: dropped (the pipe already says something came) */
	errno = saved;
}

static void on_sigpipe(int sig)
{
	(void)sig; /* the write that raised it fails with EPIPE instead */
}

cl_err cl_supervise_signals(const int *sigs, size_t n)
{
	struct sigaction sa;
	CL_ENSURE(g_pipe[0] < 0, CL_EINVAL, "the self-pipe exists already");
	CL_ENSURE(n <= MAX_SIGNALS, CL_EINVAL, "at most %d signals through the self-pipe", MAX_SIGNALS);
	CL_ENSURE(pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) == 0, CL_ESYS, "pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_signal;
	g_nsigs = 0;
	for (size_t i = 0; i < n; i++) {
		CL_ENSURE(sigaction(sigs[i], &sa, NULL) == 0, CL_ESYS, "sigaction %d: %s", sigs[i], strerror(errno));
		g_sigs[g_nsigs++] = sigs[i];
	}
	sa.sa_handler = on_sigpipe;
	CL_ENSURE(sigaction(SIGPIPE, &sa, NULL) == 0, CL_ESYS, "sigaction SIGPIPE: %s", strerror(errno));
	return CL_OK;
}

cl_err cl_supervise_wait(int timeout_ms, int *sigs, size_t max, size_t *n)
{
	*n = 0;
	CL_ENSURE(g_pipe[0] >= 0, CL_EINVAL, "no self-pipe");
	struct pollfd pf = {.fd = g_pipe[0], .events = POLLIN};
	int rc = poll(&pf, 1, timeout_ms);
	if (rc < 0 && errno != EINTR)
		return cl_errorf(CL_ESYS, "poll: %s", strerror(errno));
	if (rc <= 0)
		return CL_OK;
	unsigned char buf[32];
	size_t want = max < sizeof(buf) ? max : sizeof(buf);
	ssize_t got = want ? read(g_pipe[0], buf, want) : 0;
	for (ssize_t i = 0; i < got; i++)
		sigs[(*n)++] = buf[i];
	return CL_OK;
}

int cl_supervise_timeout_ms(uint64_t next_ns, uint64_t now_ns)
{
	if (next_ns == UINT64_MAX)
		return -1;
	if (next_ns <= now_ns)
		return 0;
	uint64_t ms = (next_ns - now_ns) / 1000000u + 1;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

uint32_t cl_supervise_backoff_next(cl_supervise_backoff *b, uint64_t started_ns, uint64_t now_ns)
{
	if (now_ns - started_ns >= (uint64_t)b->stable_ms * 1000000u || !b->next_ms)
		b->next_ms = b->min_ms;
	uint32_t delay = b->next_ms;
	b->next_ms = delay > b->max_ms / 2 ? b->max_ms : delay * 2;
	return delay;
}

uint32_t cl_supervise_schedule(cl_supervise_part *p, uint64_t now_ns)
{
	uint32_t delay = cl_supervise_backoff_next(&p->backoff, p->started_ns, now_ns);
	p->restart_at_ns = now_ns + (uint64_t)delay * 1000000u;
	return delay;
}

bool cl_supervise_due(const cl_supervise_part *p, uint64_t now_ns)
{
	return p->pid <= 0 && p->restart_at_ns && now_ns >= p->restart_at_ns;
}

/* In a new child: die with the supervisor, default signal handling. */
static void child_prologue(pid_t parent, const char *log_name)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < g_nsigs; i++)
		sigaction(g_sigs[i], &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	g_nsigs = 0;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != parent)
		_exit(1); /* the supervisor is already gone */
	for (int i = 0; i < 2; i++) {
		if (g_pipe[i] >= 0)
			close(g_pipe[i]);
		g_pipe[i] = -1;
	}
	cl_log_init(log_name, CL_LOG_INFO);
}

pid_t cl_supervise_fork(cl_supervise_part *p, const char *log_name)
{
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		child_prologue(parent, log_name);
		return 0;
	}
	if (pid > 0 && p) {
		p->pid = pid;
		p->started_ns = cl_now_mono_ns();
		p->restart_at_ns = 0;
	}
	return pid;
}

size_t cl_supervise_reap(cl_supervise_part *parts, size_t n, void (*on_death)(void *ctx, size_t i, int status),
			 void *ctx)
{
	size_t deaths = 0;
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (size_t i = 0; i < n; i++)
			if (parts[i].pid == pid) {
				parts[i].pid = 0;
				deaths++;
				if (on_death)
					on_death(ctx, i, st);
			}
	return deaths;
}

void cl_supervise_why(int status, char *why, size_t n)
{
	if (WIFSIGNALED(status))
		snprintf(why, n, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, n, "exited with status %d", WEXITSTATUS(status));
}
