/* supervisor.c — cloister-control's supervisor (supervisor.h): prepares
 * DATA, binds the listening socket once, forks the monitor and the worker as
 * a pair and starts the pair again when either dies.
 *
 * The loop is one wait on the self-pipe that the SIGCHLD/SIGTERM/SIGINT
 * handlers write to (common/supervise.h), with a timeout for the next
 * restart or kill. The
 * supervisor reads nothing from its parts and nothing from the network; it
 * never loads a key (the monitor creates and reads them after its fork), so
 * a worker forked from it starts with no key byte in its memory.
 *
 * Children are forked, not exec'd, and ask for SIGKILL when the supervisor
 * dies (PR_SET_PDEATHSIG): a supervisor killed -9 takes the service down
 * whole, as the single process did before the split. Their exit ends with
 * _exit (fflush first): a hardened process cannot run LeakSanitizer's exit
 * pass (it needs ptrace), and atexit handlers have nothing to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/harden.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/supervise.h"
#include "common/util.h"
#include "control/monitor.h"
#include "control/supervisor.h"

enum part { P_MONITOR, P_WORKER, P_COUNT };
static const char *const part_names[P_COUNT] = {"monitor", "worker"};

typedef struct sup {
	const ctl_options *o;
	ctl_ids ids;
	char keys[PATH_MAX + 8];
	int listen_fd, port;
	cl_supervise_part part[P_COUNT]; /* pid 0: not running */
	uint64_t started_ns;      /* the pair's start */
	cl_supervise_backoff backoff; /* the pair's */
	uint64_t restart_at_ns;   /* 0: none scheduled */
	uint64_t term_ns;         /* when the parts were told to stop (0: not) */
	bool restarting, stopping, started_once;
	int exit_code;
} sup;

/* Both parts and their channel. */
static cl_err spawn_pair(sup *s)
{
	int ch[2];
	bool first = !s->started_once;
	CL_GUARD(cl_ipc_pair(ch));
	pid_t m = cl_supervise_fork(&s->part[P_MONITOR], "cloister-control/monitor");
	if (m == 0) {
		ctl_monitor_opts mo = {.data_dir = s->o->data,
				       .keys_dir = s->keys,
				       .names = &s->o->names,
				       .renew_days = s->o->cert_renew_days};
		prctl(PR_SET_NAME, "cl-monitor", 0, 0, 0);
		int rc = ctl_monitor_main(ch[0], &mo); /* closes everything but its channel */
		fflush(NULL);
		_exit(rc);
	}
	close(ch[0]);
	if (m < 0) {
		close(ch[1]);
		return cl_errorf(CL_ESYS, "fork: %s", strerror(errno));
	}
	pid_t w = cl_supervise_fork(&s->part[P_WORKER], "cloister-control");
	if (w == 0) {
		int rc = ctl_worker_main(s->o, &s->ids, s->listen_fd, s->port, ch[1], first);
		fflush(NULL);
		_exit(rc);
	}
	close(ch[1]);
	if (w < 0) {
		kill(m, SIGTERM); /* its channel is closed: it would exit anyway */
		return cl_errorf(CL_ESYS, "fork: %s", strerror(errno));
	}
	s->started_ns = cl_now_mono_ns();
	s->started_once = true;
	cl_info("supervisor: monitor pid=%d, worker pid=%d uid=%u", (int)m, (int)w, (unsigned)s->ids.uid);
	return CL_OK;
}

static void signal_parts(sup *s, int sig)
{
	for (int p = 0; p < P_COUNT; p++)
		if (s->part[p].pid > 0)
			kill(s->part[p].pid, sig);
	if (sig == SIGTERM && !s->term_ns)
		s->term_ns = cl_now_mono_ns();
}

static void schedule_restart(sup *s, uint64_t now)
{
	uint32_t delay = cl_supervise_backoff_next(&s->backoff, s->started_ns, now);
	s->restart_at_ns = now + (uint64_t)delay * 1000000u;
	cl_info("supervisor: restarting the monitor and the worker in %u ms", delay);
}

static void on_death(sup *s, enum part p, int st, uint64_t now)
{
	char why[64];
	cl_supervise_why(st, why, sizeof(why));
	if (s->stopping) {
		cl_info("supervisor: the %s %s", part_names[p], why);
		return;
	}
	/* A startup or fatal error the part reported: restarting would fail
	 * the same way. The monitor's 0 is "my worker's channel closed", the
	 * worker's CTL_EXIT_MONITOR_LOST is "my monitor is gone": restarts. */
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
	bool fatal = WIFEXITED(st) && code != 0 && !(p == P_WORKER && code == CTL_EXIT_MONITOR_LOST);
	if (fatal && !s->restarting) {
		cl_error("supervisor: the %s %s: stopping", part_names[p], why);
		s->stopping = true;
		s->exit_code = code;
		signal_parts(s, SIGTERM);
		return;
	}
	if (s->restarting) {
		/* the other one of a pair already being restarted */
		cl_info("supervisor: the %s %s", part_names[p], why);
		return;
	}
	if (p == P_MONITOR && WIFEXITED(st) && code == 0)
		cl_info("supervisor: the monitor %s: its worker's channel closed", why);
	else
		cl_error("supervisor: the %s %s", part_names[p], why);
	cl_info("supervisor: stopping the %s (fail closed), then restarting both", part_names[!p]);
	s->restarting = true;
	signal_parts(s, SIGTERM);
	schedule_restart(s, now);
}

static void death_cb(void *ctx, size_t i, int st)
{
	on_death(ctx, (enum part)i, st, cl_now_mono_ns());
}

static bool any_running(const sup *s)
{
	return s->part[P_MONITOR].pid > 0 || s->part[P_WORKER].pid > 0;
}

/* A part that has not exited TERM_GRACE_NS after SIGTERM (a worker busy
 * with a long request, a hung monitor) is killed. */
#define TERM_GRACE_NS 5000000000ull

/* Kills late parts, restarts a due pair; returns the next due time. */
static uint64_t tick(sup *s, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	if (any_running(s) && s->term_ns) {
		if (now - s->term_ns >= TERM_GRACE_NS) {
			signal_parts(s, SIGKILL);
			return now + 100000000u;
		}
		next = s->term_ns + TERM_GRACE_NS;
	}
	if (!any_running(s))
		s->term_ns = 0;
	if (s->stopping || !s->restarting)
		return next;
	if (any_running(s))
		return next < now + 50000000u ? next : now + 50000000u;
	if (now < s->restart_at_ns)
		return s->restart_at_ns;
	s->restarting = false;
	if (spawn_pair(s) != CL_OK) {
		cl_error("supervisor: cannot start the parts: %s", cl_error_detail());
		signal_parts(s, SIGTERM);
		s->restarting = true;
		schedule_restart(s, now);
		return s->restart_at_ns;
	}
	cl_info("supervisor: monitor and worker restarted");
	return next;
}

static int run(sup *s)
{
	while (!s->stopping || any_running(s)) {
		uint64_t now = cl_now_mono_ns(), next = tick(s, now);
		int sig[16];
		size_t n;
		if (cl_supervise_wait(cl_supervise_timeout_ms(next, now), sig, 16, &n) != CL_OK) {
			cl_error("supervisor: %s", cl_error_detail());
			s->stopping = true;
			s->exit_code = 1;
			signal_parts(s, SIGKILL);
		}
		for (size_t i = 0; i < n; i++) {
			if ((sig[i] != SIGTERM && sig[i] != SIGINT) || s->stopping)
				continue;
			cl_info("shutting down signal=%d", sig[i]);
			s->stopping = true;
			signal_parts(s, SIGTERM);
		}
		cl_supervise_reap(s->part, P_COUNT, death_cb, s);
	}
	return s->exit_code;
}

/* The supervisor's own walls, inherited by the monitor and the worker (which
 * add their own): undumpable, no_new_privs, the host deny-list (no ptrace,
 * module loading, kexec, bpf, ...), and only
 * the capabilities the parts need before they drop them: SETUID and SETGID
 * (the worker's uid), DAC_READ_SEARCH (a worker behind a 0700 parent),
 * IPC_LOCK (the monitor's locked key memory) and SETPCAP (the parts shrink
 * their bounding sets), of those this process has. Applied after the data
 * directory is prepared (chown) and the port bound. */
static cl_err harden_self(void)
{
	const uint64_t want = CL_CAP(CAP_SETUID) | CL_CAP(CAP_SETGID) | CL_CAP(CAP_DAC_READ_SEARCH) |
			      CL_CAP(CAP_IPC_LOCK) | CL_CAP(CAP_SETPCAP);
	/* No Landlock layer here: any layer denies linking across directories
	 * unless it handles and grants that right, and the worker links an
	 * upload into the images; the parts apply their own. */
	cl_harden_policy pol = {.scope_only = true, .no_scope = true, .deny = cl_role_host_deny};
	uint64_t permitted = 0;
	CL_GUARD(cl_harden_caps(NULL, &permitted, NULL, NULL, NULL));
	CL_GUARD(cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, want & permitted, NULL));
	return cl_harden_process(&pol, NULL);
}

int ctl_supervisor_main(const ctl_options *o)
{
	static const int sup_signals[] = {SIGCHLD, SIGTERM, SIGINT};
	sup s;
	cl_err err;
	memset(&s, 0, sizeof(s));
	s.o = o;
	s.listen_fd = -1;
	s.backoff = (cl_supervise_backoff){CTL_SUP_BACKOFF_MIN_MS, CTL_SUP_BACKOFF_MAX_MS, CTL_SUP_STABLE_MS, 0};
	for (int p = 0; p < P_COUNT; p++)
		s.part[p].name = part_names[p];
	s.ids.root = geteuid() == 0;
	s.ids.uid = s.ids.root ? CTL_WORKER_UID : getuid();
	s.ids.gid = s.ids.root ? CTL_WORKER_UID : getgid();
	snprintf(s.keys, sizeof(s.keys), "%s/keys", o->data);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		fprintf(stderr, "error: PR_SET_DUMPABLE failed\n");
		return 1;
	}
	if ((err = ctl_datadir_prepare(o->data, &s.ids)) != CL_OK || (err = ctl_datadir_reach(o->data, &s.ids)) != CL_OK ||
	    (err = ctl_conns_bind(o->addr, o->port, &s.listen_fd, &s.port)) != CL_OK ||
	    (err = cl_supervise_signals(sup_signals, 3)) != CL_OK || (err = harden_self()) != CL_OK || (err = spawn_pair(&s)) != CL_OK) {
		fprintf(stderr, "error: %s (%s)\n", cl_error_detail(), cl_err_name(err));
		s.stopping = true;
		s.exit_code = err == CL_EINVAL ? 2 : 1;
		signal_parts(&s, SIGTERM);
	}
	int rc = run(&s);
	if (s.listen_fd >= 0)
		close(s.listen_fd);
	return rc;
}
