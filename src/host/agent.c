/* agent.c — cloister-host's main: join, adoption of existing sandboxes, and
 * the sync loop that applies the control plane's desired set.
 *
 * The agent is one of the supervisor's children (supervisor.c): it hardens
 * itself first (agent_privsep.c), then registers and syncs.
 *
 * Threads: the main thread runs the sync loop and every sandbox change
 * (launch, destroy, freeze, memory); agent_ops.c's workers run channel ops;
 * with the firmware guard on, the guest interface gate's thread answers the
 * guest interface process (guestif_gate.c, hooks in agent_guest.c); one
 * thread serves the supervisor's channel (agent_privsep.c); a signal thread
 * waits for SIGTERM/SIGINT. On a signal the agent exits without
 * touching enclaves (they keep running and are adopted by the next start),
 * but never in the middle of a sandbox change: those run inside a critical
 * section the signal thread waits for.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/http_client.h"
#include "common/log.h"
#include "common/supervise.h"
#include "common/util.h"
#include "host/agent.h"
#include "host/agent_privsep.h"
#include "host/supervisor.h"

static pthread_mutex_t g_crit = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_stop;

void cl_agent_crit_enter(void)
{
	pthread_mutex_lock(&g_crit);
	if (atomic_load(&g_stop)) {
		/* The signal thread is waiting for this lock to exit the process. */
		pthread_mutex_unlock(&g_crit);
		for (;;)
			pause();
	}
}

void cl_agent_crit_leave(void)
{
	pthread_mutex_unlock(&g_crit);
}

/* Signals arrive through the self-pipe (common/supervise.h): the handler
 * only writes the signal number (async-signal-safe) and a thread does the
 * rest. Handlers, unlike a blocked mask or SIG_IGN, are reset by exec, so
 * the shims the agent spawns start with default signal dispositions. */
static void *signal_thread(void *arg)
{
	int sig[1];
	size_t n = 0;
	(void)arg;
	while (n == 0)
		if (cl_supervise_wait(-1, sig, 1, &n) != CL_OK)
			break; /* poll failed: stop as on a signal (fail closed) */
	atomic_store(&g_stop, 1);
	cl_info("signal received: exiting; enclaves keep running and are adopted on the next start sig=%d",
		n ? sig[0] : 0);
	pthread_mutex_lock(&g_crit); /* wait for a sandbox change in progress */
	fflush(stdout);
	fflush(stderr);
	_exit(0);
	return NULL;
}

static cl_err start_signal_thread(void)
{
	static const int stop_signals[] = {SIGTERM, SIGINT};
	CL_GUARD(cl_supervise_signals(stop_signals, 2));
	pthread_t t;
	CL_ENSURE(pthread_create(&t, NULL, signal_thread, NULL) == 0, CL_ESYS, "cannot start the signal thread");
	pthread_detach(t);
	return CL_OK;
}

cl_err cl_agent_check_privileges(void)
{
	/* What the process backend does from the host side (src/sandbox/):
	 * namespaces (a user namespace needs CAP_SYS_ADMIN where unprivileged
	 * ones are disabled), uid/gid maps to another uid and setgroups,
	 * signals to enclave processes running under that uid, and writes to the
	 * root-owned cgroup hierarchy. */
	static const struct {
		int cap;
		const char *name;
	} needed[] = {
		{CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}, {CAP_SETUID, "CAP_SETUID"},           {CAP_SETGID, "CAP_SETGID"},
		{CAP_KILL, "CAP_KILL"},           {CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"},
	};
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	CL_ENSURE(syscall(SYS_capget, &hdr, data) == 0, CL_ESYS, "capget: %s", strerror(errno));
	char missing[256] = "";
	size_t len = 0;
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		int c = needed[i].cap;
		if (data[c / 32].effective & (1u << (c % 32)))
			continue;
		int w = snprintf(missing + len, sizeof(missing) - len, "%s%s", len ? ", " : "", needed[i].name);
		if (w > 0 && (size_t)w < sizeof(missing) - len)
			len += (size_t)w;
	}
	uid_t euid = geteuid();
	/* cgroup v1 moves a task into a cgroup only for euid 0 (or its owner). */
	bool v1 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) != 0;
	if (len == 0 && (euid == 0 || !v1))
		return CL_OK;
	if (v1 && euid != 0)
		snprintf(missing + len, sizeof(missing) - len, "%suid 0 (cgroup v1 moves tasks only for root)",
			 len ? ", " : "");
	return cl_errorf(CL_EPERM,
			 "cloister-host needs root to run enclaves (%s CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID, "
			 "CAP_KILL and CAP_DAC_OVERRIDE%s): uid %u lacks %s",
			 v1 ? "uid 0 with" : "or the capabilities", v1 ? " on this cgroup v1 host" : "", (unsigned)euid,
			 missing);
}

/* Resolves paths and machine defaults that the flags leave open. */
static cl_err resolve(cl_agent *ag)
{
	ssize_t n = readlink("/proc/self/exe", ag->self_exe, sizeof(ag->self_exe) - 1);
	CL_ENSURE(n > 0 && (size_t)n < sizeof(ag->self_exe) - 1, CL_ESYS, "readlink /proc/self/exe: %s",
		  strerror(errno));
	ag->self_exe[n] = '\0';
	if (ag->cfg.init) {
		CL_ENSURE(snprintf(ag->init_path, sizeof(ag->init_path), "%s", ag->cfg.init) < (int)sizeof(ag->init_path),
			  CL_EINVAL, "--init: path too long");
	} else {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", ag->self_exe);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		CL_ENSURE(snprintf(ag->init_path, sizeof(ag->init_path), "%s/cloister-init", dir) <
				  (int)sizeof(ag->init_path),
			  CL_EINVAL, "init path too long");
	}
	CL_ENSURE(access(ag->init_path, X_OK) == 0, CL_ENOTFOUND, "init binary %s: %s (see --init)", ag->init_path,
		  strerror(errno));
	/* cloister-init-bundle lives beside cloister-init: PCR1 covers both */
	const char *slash = strrchr(ag->init_path, '/');
	int dirlen = slash ? (int)(slash - ag->init_path) : 1;
	CL_ENSURE(snprintf(ag->helper_path, sizeof(ag->helper_path), "%.*s/cloister-init-bundle", dirlen,
			   slash ? ag->init_path : ".") < (int)sizeof(ag->helper_path),
		  CL_EINVAL, "--init: path too long");
	CL_ENSURE(access(ag->helper_path, X_OK) == 0, CL_ENOTFOUND, "init binary %s: %s (cloister-init-bundle goes "
		  "beside cloister-init; see --init)", ag->helper_path, strerror(errno));
	CL_ENSURE(access(ag->cfg.ca, R_OK) == 0, CL_ENOTFOUND, "--ca %s: %s", ag->cfg.ca, strerror(errno));
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE), ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	ag->memory_mib = ag->cfg.memory_mib ? ag->cfg.memory_mib
					    : (pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize >> 20 : 1024);
	ag->cpus = ag->cfg.cpus ? ag->cfg.cpus : (ncpu > 0 ? (uint32_t)ncpu : 1);
	if (ag->cfg.name) {
		snprintf(ag->name, sizeof(ag->name), "%s", ag->cfg.name);
	} else {
		char hn[256] = "";
		if (gethostname(hn, sizeof(hn) - 1) != 0 || hn[0] == '\0')
			snprintf(hn, sizeof(hn), "host");
		/* The control plane's name rule: [a-z0-9][a-z0-9-]{0,62}. */
		size_t k = 0;
		for (size_t i = 0; hn[i] && k < CL_AGENT_ID_MAX - 1; i++) {
			char c = hn[i];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
			if (!ok && k == 0)
				continue;
			ag->name[k++] = ok ? c : '-';
		}
		ag->name[k] = '\0';
		if (!cl_agent_valid_name(ag->name))
			snprintf(ag->name, sizeof(ag->name), "host");
	}
	return CL_OK;
}

int cl_agent_main(const cl_agent_config *cfg, const char *join_token, const cl_agent_channels *ch)
{
	cl_agent *ag = calloc(1, sizeof(*ag));
	int rc = 1;
	cl_err err;
	cl_log_init("cloister-host", CL_LOG_INFO);
	/* The walls first, while single-threaded and before any input. */
	if (!ag || (err = cl_agent_harden(CL_HOST_KEYHOLDER_UID, CL_HOST_KEYHOLDER_UID)) != CL_OK ||
	    (err = cl_agent_privsep_start(ch, &ag->privsep)) != CL_OK) {
		fprintf(stderr, "error: %s\n", ag ? cl_error_detail() : "out of memory");
		goto out;
	}
	ag->cfg = *cfg;
	snprintf(ag->join_token, sizeof(ag->join_token), "%s", join_token ? join_token : "");
	if ((err = resolve(ag)) != CL_OK || (err = cl_mkdir_p(ag->cfg.data, 0700)) != CL_OK ||
	    (err = start_signal_thread()) != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		goto out;
	}
	rc = cl_agent_run(ag);
out:
	if (ag) {
		cl_agent_privsep_free(ag->privsep);
		explicit_bzero(&ag->ident, sizeof(ag->ident));
		explicit_bzero(ag->join_token, sizeof(ag->join_token));
	}
	free(ag);
	return rc;
}
