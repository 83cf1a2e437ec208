/* supervise.h — what the supervisors (cloister-control's, cloister-host's)
 * and the host agent's signal thread share: signals through a self-pipe,
 * forking a part that dies with its supervisor, restart backoff, reaping.
 *
 * A supervisor's loop is: wait on the self-pipe (SIGCHLD, SIGTERM, SIGINT
 * arrive there) with a timeout toward the next due restart, reap, and start
 * again what is due. Which parts restart together, and what a part's exit
 * status means, stay with each supervisor.
 *
 * One self-pipe per process (a signal handler can only reach a global):
 * cl_supervise_signals makes it; a child forked by cl_supervise_fork starts
 * without it and may make its own.
 */
#ifndef CL_COMMON_SUPERVISE_H
#define CL_COMMON_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* ---- signals through a self-pipe ---- */

/* Creates the process's self-pipe (both ends O_CLOEXEC | O_NONBLOCK: the
 * handler never blocks; a signal arriving while the pipe is full is
 * dropped, the ones in it are still there) and installs, with SA_RESTART, a
 * handler for each of sigs[0..n) that writes the signal number into it
 * (async-signal-safe, errno preserved). SIGPIPE gets a handler that does
 * nothing: a write to a closed socket fails with EPIPE instead of killing
 * the process, and, unlike SIG_IGN, exec resets it (shims the agent starts
 * get default dispositions). CL_ESYS when the pipe or a sigaction fails (the
 * handlers installed so far stay); CL_EINVAL when a pipe already exists or
 * more than 8 signals are given. */
CL_MUST_CHECK cl_err cl_supervise_signals(const int *sigs, size_t n);

/* Waits up to timeout_ms (-1: without limit) for the self-pipe to be
 * readable, then takes up to max pending signal numbers into sigs (more
 * stay for the next call); *n = 0 when none came (timeout, EINTR). CL_ESYS
 * when poll fails otherwise, CL_EINVAL without a pipe. */
CL_MUST_CHECK cl_err cl_supervise_wait(int timeout_ms, int *sigs, size_t max, size_t *n);

/* The poll timeout, in ms rounded up, from now_ns until next_ns
 * (CLOCK_MONOTONIC): -1 for UINT64_MAX (nothing due), 0 when due. */
int cl_supervise_timeout_ms(uint64_t next_ns, uint64_t now_ns);

/* ---- parts ---- */

/* How long a restart waits: min_ms after a part that ran at least
 * stable_ms (or the first time), else twice the previous delay, at most
 * max_ms. next_ms is the state (0 = nothing scheduled yet). */
typedef struct cl_supervise_backoff {
	uint32_t min_ms, max_ms, stable_ms;
	uint32_t next_ms;
} cl_supervise_backoff;

/* One supervised process. */
typedef struct cl_supervise_part {
	const char *name;       /* for logs; borrowed */
	pid_t pid;              /* 0: not running */
	uint64_t started_ns;    /* CLOCK_MONOTONIC, at its fork */
	uint64_t restart_at_ns; /* 0: no restart scheduled */
	cl_supervise_backoff backoff;
} cl_supervise_part;

/* The delay of a restart after a process started at started_ns stopped at
 * now_ns, in ms, and b's next delay moved on (doubled, capped). */
uint32_t cl_supervise_backoff_next(cl_supervise_backoff *b, uint64_t started_ns, uint64_t now_ns);

/* Schedules p's restart: p->restart_at_ns = now_ns + its backoff delay
 * (cl_supervise_backoff_next from p->started_ns). Returns the delay, ms. */
uint32_t cl_supervise_schedule(cl_supervise_part *p, uint64_t now_ns);

/* True when p is not running and its scheduled restart is due at now_ns. */
bool cl_supervise_due(const cl_supervise_part *p, uint64_t now_ns);

/* fflush(NULL), then fork. In the child (returns 0): the default
 * disposition for every signal cl_supervise_signals took and SIGPIPE, the
 * self-pipe closed, PR_SET_PDEATHSIG SIGKILL (a supervisor killed -9 takes
 * its parts with it; _exit(1) if it is already gone), and
 * cl_log_init(log_name). In the parent: p->pid and p->started_ns set,
 * p->restart_at_ns cleared; -1 with errno when fork fails (p unchanged).
 * p may be NULL (a helper process nobody restarts). */
pid_t cl_supervise_fork(cl_supervise_part *p, const char *log_name);

/* Reaps every exited child (waitpid WNOHANG): one that is parts[i] gets
 * pid = 0 and on_death(ctx, i, status) (on_death may be NULL); others are
 * reaped and ignored. Returns how many of the parts died. */
size_t cl_supervise_reap(cl_supervise_part *parts, size_t n, void (*on_death)(void *ctx, size_t i, int status),
			 void *ctx);

/* "killed by signal N" or "exited with status N" for a wait status, into
 * why (n bytes, truncated, NUL-terminated). */
void cl_supervise_why(int status, char *why, size_t n);

#endif
