/* dev_proc.h — child processes of `cloister dev`: spawning cloister-control
 * and cloister-host with stdout on a pipe and stderr in a log file, reading
 * their announcement lines with a deadline, and stopping them.
 *
 * The supervisor reads each child's stdout itself and copies it to the
 * child's log, replacing the value of any "admin-token:" line by "(hidden)"
 * so no secret reaches the log files.
 */
#ifndef CL_CLI_DEV_PROC_H
#define CL_CLI_DEV_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define CL_DEV_LINE_MAX 1024

typedef struct cl_dev_child {
	const char *name;          /* "cloister-control" (static) */
	pid_t pid;                 /* 0 once reaped */
	int status;                /* wait status once reaped */
	int out_fd;                /* read end of its stdout, -1 at EOF */
	int log_fd;                /* its log file (also its stderr) */
	char buf[CL_DEV_LINE_MAX]; /* partial line */
	size_t len;
} cl_dev_child;

/* Set by the supervisor's SIGINT/SIGTERM handler; startup waits give up on it. */
extern volatile sig_atomic_t cl_dev_stop_requested;

/* Installs SIGINT/SIGTERM handlers that set cl_dev_stop_requested and a
 * SIGCHLD handler, all of which wake cl_dev_wait_event(). Ignores SIGPIPE. */
CL_MUST_CHECK cl_err cl_dev_signals_init(void);

/* Starts exe with argv (argv[0] included, NULL-terminated): stdin /dev/null,
 * stdout a pipe to the supervisor, stderr appended to log_path (0600). The
 * child gets SIGTERM if the calling process dies (PR_SET_PDEATHSIG). */
CL_MUST_CHECK cl_err cl_dev_spawn(const char *name, const char *exe, char *const argv[],
				  const char *log_path, cl_dev_child *out);
/* cl_dev_spawn with extra "NAME=value" entries (NULL-terminated; NULL for
 * none) in the child's environment: how a secret reaches a child without
 * appearing on its command line. The strings are the caller's to wipe. */
CL_MUST_CHECK cl_err cl_dev_spawn_env(const char *name, const char *exe, char *const argv[],
				      char *const extra_env[], const char *log_path, cl_dev_child *out);

/* Reads the child's next stdout line (without the newline, NUL-terminated)
 * into line, copying it (redacted) to the log. Fails with CL_ETIMEOUT at the
 * deadline (monotonic ns), CL_EIO if the child closed stdout, CL_ECONFLICT if
 * a stop was requested. */
CL_MUST_CHECK cl_err cl_dev_read_line(cl_dev_child *c, uint64_t deadline_ns, char *line, size_t n);

/* Copies whatever the child has written to its log without blocking. */
void cl_dev_drain(cl_dev_child *c);

/* Reaps the child if it has exited (non-blocking). True if it is gone. */
bool cl_dev_reap(cl_dev_child *c);

/* Blocks until a signal arrives or one of the children's stdout is readable. */
void cl_dev_wait_event(cl_dev_child *const *children, size_t n);

/* Runs exe with argv (argv[0] included, NULL-terminated) to completion:
 * stdin /dev/null, stdout and stderr appended to log_path (0600). Waits up
 * to timeout_ms, then kills it (SIGKILL) and fails with CL_ETIMEOUT. A
 * non-zero exit fails with CL_EUNAVAIL and a detail saying how it ended
 * and the log's last line. Unlike cl_dev_spawn's children it is not tied to
 * the caller's life: a cleanup that has begun finishes. */
CL_MUST_CHECK cl_err cl_dev_run(const char *name, const char *exe, char *const argv[], const char *log_path,
				long timeout_ms);

/* Sends SIGTERM, waits up to timeout_ms for the child to exit, then SIGKILL.
 * Closes its descriptors. Safe on an already reaped child. */
void cl_dev_stop_child(cl_dev_child *c, long timeout_ms);

/* One line describing how the child ended ("exited with status 1"). */
const char *cl_dev_describe_exit(const cl_dev_child *c, char *buf, size_t n);

/* The last non-empty line of a log file, for error messages ("" if none). */
const char *cl_dev_log_tail(const char *path, char *buf, size_t n);

#endif
