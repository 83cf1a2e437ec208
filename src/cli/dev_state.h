/* dev_state.h — the state of one `cloister dev` instance and the steps that
 * bring it up and down (dev_state.c). cmd_dev.c drives them. */
#ifndef CL_CLI_DEV_STATE_H
#define CL_CLI_DEV_STATE_H

#include <limits.h>
#include <stdbool.h>

#include "cli/dev_proc.h"
#include "common/err.h"

typedef struct cl_dev {
	char dir[PATH_MAX];          /* absolute data directory */
	char client_json[PATH_MAX];  /* DIR/client.json */
	unsigned port;
	unsigned timeout_s;          /* readiness deadline */
	const char *host_name;
	char control_exe[PATH_MAX];
	char host_exe[PATH_MAX];
	char url[256];               /* from cloister-control's "listening:" */
	char ca[PATH_MAX];           /* from cloister-control's "ca:" */
	char *token;                 /* admin token (malloc'd, wiped on free) */
	char host_id[128];
	bool first_start;            /* the admin token was created by this start */
	bool reported;               /* the summary was printed */
	int lock_fd;                 /* DIR/dev.lock, flock'ed while running */
	cl_dev_child control, host;
} cl_dev;

/* Fills d: creates DIR (0700) if needed, makes its path absolute, checks the
 * host name and finds cloister-control/cloister-host next to this program.
 * Free with cl_dev_free even on failure. */
CL_MUST_CHECK cl_err cl_dev_init(cl_dev *d, const char *dir, unsigned port, const char *host_name,
				 unsigned timeout_s);
/* Takes DIR/dev.lock; fails with CL_ECONFLICT if another instance runs. */
CL_MUST_CHECK cl_err cl_dev_lock(cl_dev *d);
/* Starts cloister-control, records the admin token in DIR/client.json,
 * registers and starts cloister-host, waits until the host is ready, writes
 * DIR/dev.pid. On failure the children may be running: call cl_dev_down. */
CL_MUST_CHECK cl_err cl_dev_up(cl_dev *d);
/* Stops the host agent, then the control plane, then destroys the enclaves'
 * sandboxes under DIR/host, and removes DIR/dev.pid. Idempotent. */
void cl_dev_down(cl_dev *d);
/* Releases memory and the lock (wipes the token). */
void cl_dev_free(cl_dev *d);

/* Stops the instance running in dir (SIGTERM to the supervisor named in
 * DIR/dev.pid) and waits up to timeout_ms until its lock is released.
 * *was_running tells whether one was running. */
CL_MUST_CHECK cl_err cl_dev_stop_running(const char *dir, long timeout_ms, bool *was_running);

#endif
