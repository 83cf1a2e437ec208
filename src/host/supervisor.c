/* supervisor.c — cloister-host's supervisor (supervisor.h): channels, the
 * three parts, their restarts.
 *
 * The loop is one wait on the self-pipe that the SIGCHLD/SIGTERM/SIGINT
 * handlers write to (common/supervise.h), with a timeout for the next
 * scheduled restart. The
 * supervisor talks to the agent only to hand it a new channel (it is the
 * client of the agent's supervisor channel); it reads nothing else from any
 * part and nothing from the network or the enclaves.
 *
 * Children are forked, not exec'd: each starts with the supervisor's memory,
 * which holds the command line and nothing secret (no host.json, no key has
 * been read by this process) but the one-time join token of a first start,
 * which the key holder and the guest interface wipe as they start. Each asks for SIGKILL when the supervisor dies
 * (PR_SET_PDEATHSIG): a supervisor killed -9 takes the service down whole,
 * as an agent killed -9 did before the split, and the next start adopts.
 *
 * Not a subreaper (PR_SET_CHILD_SUBREAPER): the shims detach from the agent
 * and must outlive the whole service (docs/sandbox.md); as the subreaper the
 * supervisor would inherit them and their zombies while it runs, and they
 * would move to init anyway when it stops. It waits for its three parts only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/harden.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/supervise.h"
#include "common/util.h"
#include "guestif/guestif.h"
#include "host/agent.h"
#include "host/agent_privsep.h"
#include "host/supervisor.h"
#include "keyholder/keyholder.h"
#include "tls/dataplane.h"

/* The TLS data plane is tied to the key holder: its only signer is the key
 * holder's tls channel, made when the key holder starts (the key holder takes
 * no new channel later). So they live and restart as one unit: when either
 * dies the other is stopped, both are started again, and the agent gets both
 * new channels in one CL_SUP_KEYHOLDER (docs/tls.md "Processes"). */
enum part { P_KEYHOLDER, P_GUESTIF, P_TLS, P_AGENT, P_COUNT };
static const char *const part_names[P_COUNT] = {"key holder", "guest interface", "TLS data plane", "agent"};

typedef struct sup {
	int argc;
	char **argv;
	cl_agent_config cfg;
	char join_token[CL_AGENT_JOIN_TOKEN_MAX]; /* "" = none; the agent needs it until it has registered */
	char keys[PATH_MAX], devices[PATH_MAX];
	int lockfd;
	cl_supervise_part c[P_COUNT]; /* pid 0: not running */
	bool guestif; /* run the guest interface (always: the secure module) */
	int agent_fd; /* our end of the agent's supervisor channel, -1 */
	cl_ipc_client agent;
	bool stopping;
	bool restart_all; /* the agent died: bring everything up afresh once the others are gone */
	uint64_t term_ns; /* when the key holder and guest interface were told to stop (0: not) */
	int exit_code;
} sup;

/* ---------------------------------------------------------------- the data directory's lock */

/* One service per data directory. The lock's open file description is
 * inherited by the agent: it stays held until the supervisor and the agent
 * are both gone. A previous service that is still exiting (its children die
 * with it) may hold it a moment longer: wait up to CL_SUP_LOCK_WAIT_MS. */
static cl_err lock_data_dir(sup *s)
{
	char path[PATH_MAX];
	CL_ENSURE(snprintf(path, sizeof(path), "%s/agent.lock", s->cfg.data) < (int)sizeof(path), CL_EINVAL,
		  "--data: path too long");
	s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	CL_ENSURE(s->lockfd >= 0, CL_ESYS, "cannot open %s: %s", path, strerror(errno));
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)CL_SUP_LOCK_WAIT_MS * 1000000u;
	while (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
		CL_ENSURE(errno == EWOULDBLOCK && cl_now_mono_ns() < deadline, CL_ECONFLICT,
			  "another cloister-host is using %s", s->cfg.data);
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
	return CL_OK;
}

/* ---------------------------------------------------------------- spawning */

/* Closes every descriptor above stderr but keep[0..n). */
static void keep_only(const int *keep, size_t n)
{
	unsigned lo = 3;
	for (;;) {
		unsigned next = ~0u;
		for (size_t i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next > lo)
			syscall(SYS_close_range, lo, next - 1, 0);
		if (next == ~0u)
			return;
		lo = next + 1;
	}
}

/* The TLS data plane on the key holder's tls channel kh (closed here);
 * *agent_end is the agent's side of its own channel. */
static cl_err spawn_dataplane(sup *s, int kh, int *agent_end)
{
	int p[2];
	if (cl_ipc_pair(p) != CL_OK) {
		close(kh);
		return cl_errorf(CL_ESYS, "socketpair: %s", strerror(errno));
	}
	pid_t pid = cl_supervise_fork(&s->c[P_TLS], "cloister-host/tls");
	if (pid == 0) {
		cl_dp_opts o = {.switch_user = true, .uid = CL_DP_UID, .gid = CL_DP_UID};
		explicit_bzero(s->join_token, sizeof(s->join_token));
		_exit(cl_dataplane_main(p[1], kh, &o)); /* closes everything but its channels */
	}
	close(p[1]);
	close(kh);
	if (pid < 0) {
		close(p[0]);
		return cl_errorf(CL_ESYS, "fork: %s", strerror(errno));
	}
	*agent_end = p[0];
	return CL_OK;
}

/* The key holder, with its agent channel and its tls channel, then the TLS
 * data plane on the latter; *agent_end and *dp_end are the agent's sides. */
static cl_err spawn_keyholder(sup *s, int *agent_end, int *dp_end)
{
	int p[2], t[2];
	CL_GUARD(cl_ipc_pair(p));
	if (cl_ipc_pair(t) != CL_OK) {
		close(p[0]);
		close(p[1]);
		return cl_errorf(CL_ESYS, "socketpair: %s", strerror(errno));
	}
	pid_t pid = cl_supervise_fork(&s->c[P_KEYHOLDER], "cloister-host/keyholder");
	if (pid == 0) {
		const int extra[] = {t[1]};
		const enum cl_kh_role roles[] = {CL_KH_ROLE_TLS};
		cl_kh_main_opts o = {.switch_user = true, .uid = CL_HOST_KEYHOLDER_UID, .gid = CL_HOST_KEYHOLDER_UID,
				     .legacy_devices = s->devices, .extra_fds = extra, .extra_roles = roles, .nextra = 1};
		explicit_bzero(s->join_token, sizeof(s->join_token)); /* only the agent gets it */
		_exit(cl_keyholder_main(p[1], s->keys, &o)); /* closes everything but its channels */
	}
	close(p[1]);
	close(t[1]);
	if (pid < 0) {
		close(p[0]);
		close(t[0]);
		return cl_errorf(CL_ESYS, "fork: %s", strerror(errno));
	}
	cl_err err = spawn_dataplane(s, t[0], dp_end); /* takes t[0] */
	if (err != CL_OK) {
		close(p[0]);
		kill(pid, SIGTERM); /* reaped and restarted as a unit with the data plane */
		return err;
	}
	*agent_end = p[0];
	return CL_OK;
}

/* The guest interface process; q/c are the agent's ends of its channels. */
static cl_err spawn_guestif(sup *s, int *q, int *c)
{
	int pq[2], pc[2];
	CL_GUARD(cl_ipc_pair(pq));
	if (cl_ipc_pair(pc) != CL_OK) {
		close(pq[0]);
		close(pq[1]);
		return cl_errorf(CL_ESYS, "socketpair: %s", strerror(errno));
	}
	pid_t pid = cl_supervise_fork(&s->c[P_GUESTIF], "cloister-host/guestif");
	if (pid == 0) {
		explicit_bzero(s->join_token, sizeof(s->join_token));
		cl_guestif_proc_opts o = {.switch_user = true, .uid = CL_GUESTIF_UID, .gid = CL_GUESTIF_UID};
		_exit(cl_guestif_main(pq[1], pc[1], &o)); /* closes everything but its channels */
	}
	close(pq[1]);
	close(pc[1]);
	if (pid < 0) {
		close(pq[0]);
		close(pc[0]);
		return cl_errorf(CL_ESYS, "fork: %s", strerror(errno));
	}
	*q = pq[0];
	*c = pc[0];
	return CL_OK;
}

/* The agent, handed ch (closed here after the fork). */
static cl_err spawn_agent(sup *s, cl_agent_channels *ch)
{
	int p[2];
	cl_err err = cl_ipc_pair(p);
	if (err == CL_OK) {
		ch->sup = p[1];
		pid_t pid = cl_supervise_fork(&s->c[P_AGENT], "cloister-host");
		if (pid == 0) {
			int keep[] = {s->lockfd, ch->sup, ch->kh, ch->gi_query, ch->gi_control, ch->dp};
			keep_only(keep, sizeof(keep) / sizeof(keep[0]));
			int rc = cl_agent_main(&s->cfg, s->join_token, ch);
			fflush(NULL);
			_exit(rc);
		}
		close(p[1]);
		if (pid < 0) {
			close(p[0]);
			err = cl_errorf(CL_ESYS, "fork: %s", strerror(errno));
		} else {
			s->agent_fd = p[0];
			cl_ipc_client_init(&s->agent, p[0], CL_SUP_MSG_MAX, 5000);
		}
	}
	int fds[] = {ch->kh, ch->gi_query, ch->gi_control, ch->dp};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return err;
}

/* Everything, in order: the agent is handed the others' channels. */
static cl_err spawn_all(sup *s)
{
	cl_agent_channels ch = {-1, -1, -1, -1, -1};
	cl_err err = spawn_keyholder(s, &ch.kh, &ch.dp);
	if (err == CL_OK && s->guestif)
		err = spawn_guestif(s, &ch.gi_query, &ch.gi_control);
	if (err == CL_OK)
		return spawn_agent(s, &ch); /* closes ch */
	int fds[] = {ch.kh, ch.gi_query, ch.gi_control, ch.dp};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return err;
}

static void log_parts(const sup *s)
{
	cl_info("supervisor: key holder pid=%d uid=%u, guest interface pid=%d uid=%u, TLS data plane pid=%d uid=%u, "
		"agent pid=%d",
		(int)s->c[P_KEYHOLDER].pid, CL_HOST_KEYHOLDER_UID, (int)s->c[P_GUESTIF].pid, CL_GUESTIF_UID,
		(int)s->c[P_TLS].pid, CL_DP_UID, (int)s->c[P_AGENT].pid);
}

/* A restarted key holder (with its data plane) or guest interface: its
 * channels to the agent. */
static void respawn_part(sup *s, enum part p)
{
	int fds[2] = {-1, -1};
	size_t n = 2;
	cl_err err = p == P_KEYHOLDER ? spawn_keyholder(s, &fds[0], &fds[1]) : spawn_guestif(s, &fds[0], &fds[1]);
	if (err != CL_OK) {
		cl_error("supervisor: cannot start the %s: %s", part_names[p], cl_error_detail());
		return; /* tried again at the next restart time */
	}
	cl_buf req, ans;
	cl_buf_init(&req, 16);
	cl_buf_init(&ans, CL_SUP_MSG_MAX);
	err = s->agent_fd >= 0 ? cl_ipc_call_fds(&s->agent, p == P_KEYHOLDER ? CL_SUP_KEYHOLDER : CL_SUP_GUESTIF,
						 &req, fds, n, &ans)
			       : CL_EUNAVAIL;
	cl_buf_free(&req);
	cl_buf_free(&ans);
	for (size_t i = 0; i < n; i++)
		close(fds[i]); /* the agent has its own copies now (or none: it is gone) */
	if (err == CL_OK)
		cl_info("supervisor: %s restarted pid=%d; the agent has its new channel", part_names[p],
			(int)s->c[p].pid);
	else
		cl_warn("supervisor: %s restarted pid=%d but the agent did not take its channel err=%s",
			part_names[p], (int)s->c[p].pid, cl_err_name(err));
}

/* ---------------------------------------------------------------- deaths and restarts */

static void schedule(sup *s, enum part p, uint64_t now)
{
	cl_info("supervisor: restarting the %s in %u ms", part_names[p], cl_supervise_schedule(&s->c[p], now));
}

static void signal_others(sup *s, int sig)
{
	for (int p = 0; p < P_COUNT; p++)
		if (p != P_AGENT && s->c[p].pid > 0)
			kill(s->c[p].pid, sig);
	if (sig == SIGTERM && !s->term_ns)
		s->term_ns = cl_now_mono_ns();
}

/* The key holder and the guest interface have nothing to finish: one that
 * has not exited TERM_GRACE_NS after SIGTERM (stopped, hung) is killed. */
#define TERM_GRACE_NS 3000000000ull
static uint64_t escalate(sup *s, uint64_t now)
{
	bool others = s->c[P_KEYHOLDER].pid > 0 || s->c[P_GUESTIF].pid > 0 || s->c[P_TLS].pid > 0;
	if (!others) {
		s->term_ns = 0;
		return UINT64_MAX;
	}
	if (!s->term_ns)
		return UINT64_MAX;
	if (now - s->term_ns < TERM_GRACE_NS)
		return s->term_ns + TERM_GRACE_NS;
	signal_others(s, SIGKILL);
	return now + 100000000u;
}

static void on_death(sup *s, enum part p, int st, uint64_t now)
{
	char why[64];
	cl_supervise_why(st, why, sizeof(why));
	if (p == P_AGENT) {
		if (s->agent_fd >= 0)
			close(s->agent_fd);
		s->agent_fd = -1;
		if (s->stopping || WIFEXITED(st)) {
			/* stopped, or a fatal error it reported: the service ends */
			if (!s->stopping)
				s->exit_code = WEXITSTATUS(st);
			if (!s->stopping && WEXITSTATUS(st) != 0)
				cl_info("supervisor: the agent %s: stopping", why);
			s->stopping = true;
			signal_others(s, SIGTERM);
			return;
		}
		cl_error("supervisor: the agent %s; restarting the service's parts (enclaves keep running)", why);
		s->restart_all = true;
		signal_others(s, SIGTERM); /* they would exit anyway: their agent channels are closed */
		schedule(s, P_AGENT, now);
		return;
	}
	if (s->stopping || s->restart_all)
		return;
	cl_error("supervisor: the %s %s", part_names[p], why);
	if (p == P_KEYHOLDER || p == P_TLS) {
		/* One unit: the other goes too; the key holder's schedule
		 * restarts both once both are gone. */
		enum part other = p == P_KEYHOLDER ? P_TLS : P_KEYHOLDER;
		if (s->c[other].pid > 0)
			kill(s->c[other].pid, SIGTERM);
		if (p == P_TLS && s->c[P_KEYHOLDER].pid > 0)
			return; /* scheduled when the key holder's death is reaped */
		schedule(s, P_KEYHOLDER, now);
		return;
	}
	schedule(s, p, now);
}

static void death_cb(void *ctx, size_t i, int st)
{
	on_death(ctx, (enum part)i, st, cl_now_mono_ns());
}

static bool any_running(const sup *s)
{
	for (int p = 0; p < P_COUNT; p++)
		if (s->c[p].pid > 0)
			return true;
	return false;
}

/* Starts what is due; returns the next due time (UINT64_MAX: none). */
static uint64_t restarts(sup *s, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	if (s->stopping)
		return next;
	if (s->restart_all) {
		cl_supervise_part *a = &s->c[P_AGENT];
		if (s->c[P_KEYHOLDER].pid > 0 || s->c[P_GUESTIF].pid > 0 || s->c[P_TLS].pid > 0)
			return now + 100000000u; /* wait for them to be gone (they got SIGTERM) */
		if (now < a->restart_at_ns)
			return a->restart_at_ns;
		s->restart_all = false;
		s->term_ns = 0; /* the new ones are not being stopped */
		for (int p = 0; p < P_COUNT; p++)
			s->c[p].restart_at_ns = 0;
		if (spawn_all(s) != CL_OK) {
			cl_error("supervisor: cannot start the service's parts: %s", cl_error_detail());
			s->restart_all = true;
			schedule(s, P_AGENT, now);
			return a->restart_at_ns;
		}
		cl_info("supervisor: every part restarted");
		log_parts(s);
		return next;
	}
	for (int p = 0; p < P_AGENT; p++) {
		cl_supervise_part *c = &s->c[p];
		if (p == P_TLS || !c->restart_at_ns || c->pid > 0)
			continue; /* the data plane starts with its key holder */
		if (p == P_KEYHOLDER && s->c[P_TLS].pid > 0) {
			next = now + 100000000u; /* the old data plane is still going */
			continue;
		}
		if (cl_supervise_due(c, now)) {
			c->restart_at_ns = 0;
			respawn_part(s, (enum part)p);
			if (c->pid <= 0)
				schedule(s, (enum part)p, now);
		}
		if (c->restart_at_ns && c->restart_at_ns < next)
			next = c->restart_at_ns;
	}
	return next;
}

static int run(sup *s)
{
	while (!s->stopping || any_running(s)) {
		uint64_t now = cl_now_mono_ns(), kill_at = escalate(s, now), next = restarts(s, now);
		if (kill_at < next)
			next = kill_at;
		int sig[16];
		size_t n;
		if (cl_supervise_wait(cl_supervise_timeout_ms(next, now), sig, 16, &n) != CL_OK) {
			cl_error("supervisor: %s", cl_error_detail());
			s->stopping = true;
			s->exit_code = 1;
			signal_others(s, SIGKILL);
			if (s->c[P_AGENT].pid > 0)
				kill(s->c[P_AGENT].pid, SIGKILL);
		}
		for (size_t i = 0; i < n; i++) {
			if ((sig[i] != SIGTERM && sig[i] != SIGINT) || s->stopping)
				continue;
			cl_info("supervisor: signal received: stopping; enclaves keep running sig=%d", sig[i]);
			s->stopping = true;
			if (s->c[P_AGENT].pid > 0)
				kill(s->c[P_AGENT].pid, SIGTERM); /* it finishes a sandbox change, then exits */
			else
				signal_others(s, SIGTERM);
		}
		cl_supervise_reap(s->c, P_COUNT, death_cb, s);
	}
	return s->exit_code;
}

/* ---------------------------------------------------------------- main */

/* The supervisor's own walls (inherited by every part, which adds its own):
 * undumpable, no_new_privs, the host deny-list, abstract UNIX sockets
 * scoped, and only the capabilities the parts need before they drop them:
 * the agent's (agent_privsep.c) plus CHOWN, FOWNER, DAC_OVERRIDE and
 * DAC_READ_SEARCH (the key holder prepares DATA/keys as root), SETPCAP (the
 * parts shrink their bounding sets), NET_ADMIN (the agent's guest networks).
 * CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_SYS_RAWIO and the rest are gone from
 * the whole tree. */
static cl_err harden_self(void)
{
	const uint64_t want = CL_CAP(CAP_SYS_ADMIN) | CL_CAP(CAP_SETUID) | CL_CAP(CAP_SETGID) | CL_CAP(CAP_KILL) |
			      CL_CAP(CAP_SYS_RESOURCE) | CL_CAP(CAP_CHOWN) | CL_CAP(CAP_FOWNER) |
			      CL_CAP(CAP_DAC_OVERRIDE) | CL_CAP(CAP_DAC_READ_SEARCH) | CL_CAP(CAP_SETPCAP) |
			      CL_CAP(CAP_NET_ADMIN);
	cl_harden_policy pol = {.scope_only = true, .no_signal_scope = true, .deny = cl_role_host_deny};
	uint64_t permitted = 0;
	/* cl_agent_check_privileges checked the ones that are required; the
	 * others (SYS_RESOURCE: a container may not grant it) only if we have them */
	CL_GUARD(cl_harden_caps(NULL, &permitted, NULL, NULL, NULL));
	CL_GUARD(cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, want & permitted, NULL));
	return cl_harden_process(&pol, NULL);
}

int cl_supervisor_main(int argc, char **argv)
{
	static const int sup_signals[] = {SIGCHLD, SIGTERM, SIGINT};
	sup s;
	memset(&s, 0, sizeof(s));
	s.argc = argc;
	s.argv = argv;
	s.lockfd = s.agent_fd = -1;
	for (int p = 0; p < P_COUNT; p++)
		s.c[p] = (cl_supervise_part){.name = part_names[p],
					     .backoff = {CL_SUP_BACKOFF_MIN_MS, CL_SUP_BACKOFF_MAX_MS, CL_SUP_STABLE_MS, 0}};
	cl_err err = cl_agent_parse_args(argc, argv, &s.cfg);
	if (err != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		return 2;
	}
	if (s.cfg.help) {
		fputs(cl_agent_usage(), stdout);
		return 0;
	}
	/* Before anything else (setenv/unsetenv are not thread-safe, and the
	 * walls below may hide the token file): take the join token, then wipe
	 * it from the environment (so no part, shim or enclave inherits it, and
	 * /proc/PID/environ no longer shows it) and from argv (/proc/PID/cmdline).
	 * The supervisor keeps it for the agent, which may restart before it
	 * has registered. */
	char *env = getenv(CL_AGENT_JOIN_ENV);
	err = cl_agent_join_token_resolve(&s.cfg, env, s.join_token, sizeof(s.join_token));
	if (env) {
		explicit_bzero(env, strlen(env));
		unsetenv(CL_AGENT_JOIN_ENV);
	}
	if (s.cfg.join_token) {
		fprintf(stderr, "warning: --join-token is visible to every user of this machine (ps); use "
				"--join-token-file PATH or " CL_AGENT_JOIN_ENV " instead\n");
		explicit_bzero((char *)s.cfg.join_token, strlen(s.cfg.join_token));
		s.cfg.join_token = NULL;
	}
	if (err != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		return err == CL_EINVAL ? 2 : 1;
	}
	cl_log_init("cloister-host/supervisor", CL_LOG_INFO);
	s.guestif = true; /* every enclave has /dev/cloister/nsm.sock (fw.sock only with --fw-root) */
	if ((err = cl_agent_check_privileges()) != CL_OK || (err = cl_mkdir_p(s.cfg.data, 0700)) != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		return 1;
	}
	if (snprintf(s.keys, sizeof(s.keys), "%s/keys", s.cfg.data) >= (int)sizeof(s.keys) ||
	    snprintf(s.devices, sizeof(s.devices), "%s/fw/devices", s.cfg.data) >= (int)sizeof(s.devices)) {
		fprintf(stderr, "error: --data: path too long\n");
		return 2;
	}
	if ((err = lock_data_dir(&s)) != CL_OK || (err = cl_supervise_signals(sup_signals, 3)) != CL_OK || (err = harden_self()) != CL_OK ||
	    (err = spawn_all(&s)) != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		s.stopping = true;
		s.exit_code = 1;
		signal_others(&s, SIGTERM);
	} else {
		log_parts(&s);
	}
	int rc = run(&s);
	if (s.agent_fd >= 0)
		close(s.agent_fd);
	return rc;
}
