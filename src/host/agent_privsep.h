/* agent_privsep.h — the agent's side of cloister-host's privilege separation
 * (docs/internals.md "Processes on a host").
 *
 * The supervisor (supervisor.c) forks the agent with the agent's ends of
 * three kinds of channel (common/ipc.h, SOCK_SEQPACKET socketpairs):
 *   sup      supervisor -> agent: "here is a new channel" after it restarted
 *            the key holder or the guest interface process;
 *   kh       agent -> key holder (role agent): the devices' keys;
 *   guestif  the guest interface process's query channel (answered by the
 *            gate) and control channel (asked by the gate), guestif.h.
 * This module owns them: a thread serves the supervisor channel and swaps
 * in new channels; the key holder client (not thread-safe) is behind a
 * mutex; the device model reaches the key holder through fwg_keys.
 */
#ifndef CL_HOST_AGENT_PRIVSEP_H
#define CL_HOST_AGENT_PRIVSEP_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "fwguard/fwguard.h"
#include "guestif/guestif.h"
#include "host/agent_attest.h"
#include "host/agent_tls.h"

/* Supervisor -> agent requests (the agent answers; empty payloads). */
enum cl_sup_request {
	/* + 1 or 2 descriptors: the agent's end of a new key holder's channel,
	 * then of the new TLS data plane's (the two restart together) */
	CL_SUP_KEYHOLDER = 1,
	CL_SUP_GUESTIF = 2,   /* + 2 descriptors: a new guest interface process's query, control channels */
};
#define CL_SUP_MSG_MAX 64

/* The channels the supervisor gave a new agent; -1 where there is none
 * (no guest interface without --fw-root). dp: the TLS data plane's agent
 * channel (tls/dataplane.h); held by privsep (cl_agent_privsep_tls_plane). */
typedef struct cl_agent_channels {
	int sup, kh, gi_query, gi_control, dp;
} cl_agent_channels;

typedef struct cl_agent_privsep cl_agent_privsep;

/* Takes the channels (owned from now on, closed also on failure) and starts
 * the thread that serves the supervisor's channel. When the supervisor's
 * channel closes (it died) the agent stops itself with SIGTERM: nothing
 * would restart a key holder or guest interface any more. *out is freed
 * with cl_agent_privsep_free. */
CL_MUST_CHECK cl_err cl_agent_privsep_start(const cl_agent_channels *ch, cl_agent_privsep **out);
/* Stops the thread and closes every channel. NULL ok. */
void cl_agent_privsep_free(cl_agent_privsep *ps);

/* The device keys through the key holder (slot dev/<addr>), for
 * fwg_opts.keys; borrowed from ps. Calls wait at most the key holder
 * client's timeout; a dead key holder answers CL_EUNAVAIL (the firmware
 * operation that needed the key fails closed) until the supervisor's new
 * one is swapped in. */
const fwg_keys *cl_agent_privsep_keys(cl_agent_privsep *ps);

/* The attestation key (slot "attest") through the key holder, for
 * agent_attest.h; borrowed from ps. get_public and generate wait at most
 * the client's timeout; sign waits at most CL_AGENT_PRIVSEP_SIGN_MS in all
 * (for the lock, then for the answer), as it runs on the ops engine. */
#define CL_AGENT_PRIVSEP_SIGN_MS 1000
const cl_agent_att_keys *cl_agent_privsep_att_keys(cl_agent_privsep *ps);
/* An enclave's sealing key from the key holder (cl_kh_seal: tenant, its
 * PCR0..PCR3 = pcrs, label[1..64]); waits at most CL_AGENT_PRIVSEP_SIGN_MS
 * in all, like a signature. key: the caller wipes it. */
CL_MUST_CHECK cl_err cl_agent_privsep_seal(cl_agent_privsep *ps, const char *tenant, const uint8_t pcrs[4 * 48],
					   const uint8_t *label, size_t n, uint8_t key[32]);

/* Guests' TLS keys (slots tls/<enclave>:<gen>) through the key holder, for
 * agent_tls.h: make (tls-generate), read the public point, destroy; never
 * sign (the agent's role cannot). Borrowed from ps. Each call waits at most
 * CL_AGENT_PRIVSEP_SIGN_MS in all, like a signature: they run on the ops
 * engine. */
const cl_agent_tls_keys *cl_agent_privsep_tls_keys(cl_agent_privsep *ps);
/* The TLS data plane's channel (cl_dp_guest_set / cl_dp_guest_remove, each
 * within 5 s) for agent_tls.h, borrowed from ps; NULL without one. A new
 * key holder from the supervisor brings a new data plane with it (which
 * holds no guest: the control plane re-issues). */
const cl_agent_tls_plane *cl_agent_privsep_tls_plane(cl_agent_privsep *ps);

/* Starts the guest interface gate (guestif.h) on the guest interface
 * process's channels, and lets later restarts of that process reattach to
 * it. Without channels (the process is being restarted) the gate starts
 * detached and waits for them. Stop *out with cl_agent_privsep_drop_gate,
 * then cl_guestif_stop. */
CL_MUST_CHECK cl_err cl_agent_privsep_gate(cl_agent_privsep *ps, fwg_host *h, const char *base, cl_guestif **out);
/* At exit, before cl_guestif_stop: stops serving the supervisor's channel
 * (no reattach can run any more) and forgets the gate. */
void cl_agent_privsep_drop_gate(cl_agent_privsep *ps);

/* The agent's walls, applied by the freshly forked agent to itself before
 * it reads anything (single-threaded): capabilities (effective, permitted
 * and bounding) down to what it and the shims it spawns use —
 * CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_SYS_RESOURCE; no
 * CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_CHOWN or
 * CAP_SYS_PTRACE, so the key directory (kh_uid's, 0700) is out of reach —,
 * undumpable, no_new_privs, Landlock scoping abstract UNIX sockets, and the
 * host deny-list with set*id to kh_uid/kh_gid refused. Fails closed. */
CL_MUST_CHECK cl_err cl_agent_harden(uid_t kh_uid, gid_t kh_gid);

#endif
