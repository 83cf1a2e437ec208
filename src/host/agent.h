/* agent.h — the host agent: its entry point and the running agent.
 *
 * The agent is split by area, one header each (agent_args.h for agent_args.c, ...):
 *   agent_args.c       command line -> cl_agent_config (pure)
 *   agent_reconcile.c  desired set + actual set -> actions (pure)
 *   agent_proto.c      JSON of register/sync requests and answers (pure)
 *   agent_state.c      DATA/host.json, capabilities, actual-state collection
 *   agent_image.c      image fetch, digest check and cache
 *   agent_ops*.c       channel ops: one event-loop thread, per-tenant budgets, deadlines
 *   agent_fwops.c      the firmware op journal (each op id runs once, across restarts)
 *   agent_attest*.c    the attestation key's certificate, the attest op's document
 *   agent_measure.c    registers at launch; agent_pcrs.c keeps them with the enclave
 *   agent_tls*.c       guests' TLS ops: keys in the key holder, chains checked, the data plane's state
 *   agent.c            cl_agent_main: startup adoption, sync loop, signals
 * See docs/host.md for the behaviour and docs/internals.md for the protocol.
 */
#ifndef CL_HOST_AGENT_H
#define CL_HOST_AGENT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "host/agent_args.h"
#include "host/agent_fwops.h"
#include "host/agent_ops.h"
#include "host/agent_pcrs.h"
#include "host/agent_state.h"

/* Runs the agent with the configuration the supervisor parsed from the
 * command line (cfg, copied; its strings must outlive the agent) and the
 * join token it resolved (NULL or "" = none; copied, and the copy wiped at
 * exit), in the process the supervisor forked (supervisor.h): hardens
 * itself (cl_agent_harden), takes the channels ch (owned from now on) and
 * runs. Returns the process exit code. */
struct cl_agent_channels;
struct cl_agent_config;
int cl_agent_main(const struct cl_agent_config *cfg, const char *join_token, const struct cl_agent_channels *ch);

/* Checks that this process may do what the process backend does to run
 * enclaves (docs/sandbox.md): the effective capabilities CAP_SYS_ADMIN,
 * CAP_SETUID, CAP_SETGID, CAP_KILL and CAP_DAC_OVERRIDE, and uid 0 where
 * cgroup v1 is in use (it moves tasks only for root). Fails with CL_EPERM
 * and a detail naming everything missing ("cloister-host needs root ...:
 * uid 65534 lacks CAP_SYS_ADMIN, ..."). Called at start, before anything
 * is touched. */
CL_MUST_CHECK cl_err cl_agent_check_privileges(void);

typedef struct cl_agent {
	cl_agent_config cfg;
	char self_exe[PATH_MAX];
	char init_path[PATH_MAX];
	char helper_path[PATH_MAX]; /* cloister-init-bundle, beside init_path */
	char name[CL_AGENT_ID_MAX];
	uint64_t memory_mib;
	uint32_t cpus;
	cl_agent_identity ident;
	char join_token[CL_AGENT_JOIN_TOKEN_MAX]; /* resolved at start ("" = none); wiped after use */
	struct cl_http_client *http; /* main thread's client (host token) */
	cl_agent_pool *pool;
	int64_t generation;
	bool resync_now;        /* changes were deferred: ask for an immediate answer */
	json_t *caps;           /* capabilities, probed once at start */
	cl_agent_failure *fail; /* malloc'd */
	size_t nfail;
	struct fwg_host *fw;    /* firmware guard; NULL without --fw-root */
	char fw_dir[PATH_MAX];  /* DATA/fw */
	int64_t fw_ack;         /* last firmware_audit_ack received */
	json_t *fw_results;     /* firmware op results still to report (array) */
	struct cl_guestif *guestif; /* firmware guest interface gate (guestif.h); NULL without --fw-root */
	struct cl_agent_privsep *privsep; /* the supervisor's channels (agent_privsep.h); NULL in tests */
	cl_agent_fwops *fwops;  /* DATA/fw/ops.journal; NULL without --fw-root */
	cl_agent_actual *launched; /* launched this round, as READY left them; the next report's (malloc'd) */
	size_t nlaunched;
	struct cl_agent_att *att;         /* attestation key and certificate (agent_attest.h); NULL without a key holder */
	struct cl_agent_measure *measure; /* registers at launch (agent_measure.h) */
	struct cl_agent_tls *tls;         /* guests' TLS keys and certificates (agent_tls.h); NULL without a key holder */
	cl_agent_pcrs_pending pcrs_pending; /* registers the control plane has not been told */
	bool ctl_attests; /* the control plane's answers carry attestation_serial: it takes "pcrs" in reports */
	struct cl_agent_net *net; /* networked enclaves' addresses and links (agent_net.h) */
} cl_agent;

/* Registers if needed, adopts existing sandboxes and runs the sync loop until
 * a fatal error (returns the exit code); a signal exits the process instead. */
int cl_agent_run(cl_agent *ag);
/* Brackets a sandbox change (or a state-file write) that a signal must not
 * interrupt. crit_enter never returns once a stop was requested. */
void cl_agent_crit_enter(void);
void cl_agent_crit_leave(void);

#endif
