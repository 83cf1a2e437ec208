/* supervisor.h — cloister-control's process tree (docs/monitor.md):
 *
 *   supervisor   the service's pid; prepares DATA, binds the listening
 *    │           socket, forks the parts and restarts them; parses nothing
 *    │           from the network, loads no key
 *    ├─ monitor  ctl_monitor_main (monitor.h): DATA/keys
 *    └─ worker   ctl_worker_main: evhttp, TLS, the store (DATA/db)
 *
 * The monitor and the worker are a pair: one channel joins them, and when
 * either dies the other is stopped and both are started again (back-off
 * 200 ms doubling to 10 s, reset after 30 s of life) on the same listening
 * socket, so clients see connections wait, not fail. The worker fails closed
 * on its own too: when the monitor channel breaks it stops serving and exits
 * (CTL_EXIT_MONITOR_LOST). A part that exits with another non-zero status
 * (a startup error: unreadable store, bad keys) ends the service with it.
 * SIGTERM/SIGINT stop both and end the service with status 0.
 */
#ifndef CL_CONTROL_SUPERVISOR_H
#define CL_CONTROL_SUPERVISOR_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "control/ca.h"
#include "control/conn.h"

#define CTL_EXIT_MONITOR_LOST 3 /* the worker's status when the monitor channel broke */
#define CTL_SUP_BACKOFF_MIN_MS 200u
#define CTL_SUP_BACKOFF_MAX_MS 10000u
#define CTL_SUP_STABLE_MS 30000u

/* The command line, parsed and checked by main.c. */
typedef struct ctl_options {
	char data[PATH_MAX]; /* absolute (realpath) */
	char addr[128];
	uint16_t port;
	long poll_ms;
	bool metrics_open;
	ctl_conn_limits lim;
	unsigned long fd_soft, fd_hard;
	ctl_names names;
	unsigned cert_check_s; /* worker's GET_CERTS period (CTL_CERT_CHECK_S) */
	unsigned cert_renew_days; /* server certificate renewal window (tests; 0: CTL_CA_RENEW_DAYS) */
} ctl_options;

/* The worker's identity after the drop: CTL_WORKER_UID when the service
 * runs as root, else the caller's own. */
typedef struct ctl_ids {
	bool root;
	uid_t uid;
	gid_t gid;
	/* DATA's parents are not searchable by uid (a 0700 temporary directory):
	 * the worker keeps CAP_DAC_READ_SEARCH to reach DATA, and only where
	 * Landlock confines it to its own directories (ctl_datadir_reach). */
	bool keep_dac_search;
} ctl_ids;

/* Prepares DATA's layout (docs/control.md "Data directory") for ids:
 * DATA (0700, or root:worker-gid 0710 as root), DATA/keys (0700, the
 * monitor's), DATA/db, DATA/images, DATA/uploads, DATA/fw_ops (the
 * worker's: chowned to it as root). Moves the files of the layout before
 * the split (DATA/ca.key, server.key, server.pem into keys/; control.db and
 * its -wal/-shm/-journal and the disk reserve into db/) one rename at a
 * time, so a kill in between is finished at the next start. A file in both
 * places is an error (CL_ECONFLICT) for the store, a warning for keys. */
CL_MUST_CHECK cl_err ctl_datadir_prepare(const char *data, const ctl_ids *ids);

/* As root: whether ids->uid can reach DATA through its parents; if not,
 * sets keep_dac_search when the kernel has Landlock, else fails
 * (CL_EPERM, saying which parent to open up). */
CL_MUST_CHECK cl_err ctl_datadir_reach(const char *data, ctl_ids *ids);

/* The worker process: drops to ids (when root), hardens itself, serves
 * listen_fd (owned) until SIGTERM or until the monitor channel mon_fd
 * breaks. first: print the startup lines (admin token, URL, CA path) on
 * stdout. Returns the exit status. */
int ctl_worker_main(const ctl_options *o, const ctl_ids *ids, int listen_fd, int port, int mon_fd, bool first);

/* Runs the service (supervisor, then the parts). Returns the exit status. */
int ctl_supervisor_main(const ctl_options *o);

#endif
