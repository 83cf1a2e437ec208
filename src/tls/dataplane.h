/* dataplane.h — the host's TLS data plane (docs/tls.md, "Processes",
 * "Keyless signing", "The session table").
 *
 * One process, one thread, one libevent loop. It terminates TLS for the
 * guests the agent configures over an ipc channel (common/ipc.h) and forwards
 * the cleartext to each guest's backend address. It holds certificates
 * (public), session keys and ticket keys; never a guest's long-term key:
 * every full handshake's signature is asked of the key holder over a second
 * channel (role tls), pipelined, while the loop goes on serving other
 * connections (SSL_MODE_ASYNC). Resumed handshakes never reach the key
 * holder.
 *
 * The agent's side: cl_dp_client and the calls below. The listening sockets
 * of a guest travel with cl_dp_guest_set (SCM_RIGHTS): the data plane binds
 * nothing.
 */
#ifndef CL_TLS_DATAPLANE_H
#define CL_TLS_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/harden.h"
#include "common/ipc.h"

#define CL_DP_UID 0x3fffff03u /* the data plane's own uid, no capabilities (0x3fffff02 is the control plane's worker) */
#define CL_DP_ID_MAX 48                 /* enclave id: [A-Za-z0-9._-], first alnum */
#define CL_DP_CHAIN_MAX (48u * 1024)    /* certificate chain PEM, leaf first */
#define CL_DP_ADDR_MAX 63               /* backend "a.b.c.d:port" or "[v6]:port" */
#define CL_DP_HEADER_MAX 63             /* marking header name (empty: none) */
#define CL_DP_LISTENERS_MAX CL_IPC_FDS_MAX
#define CL_DP_MSG_MAX (CL_DP_CHAIN_MAX + 1024)
#define CL_DP_GEN_MAX 999999999u

enum cl_dp_request {
	/* str id, u32 gen, bytes chain, str backend, str header, u8 mode,
	 * u8 insecure; 0..4 listening sockets attached -> (empty) */
	CL_DP_REQ_GUEST_SET = 1,
	CL_DP_REQ_GUEST_REMOVE = 2, /* str id -> (empty) */
	/* str id -> u64 connections, active, handshakes full, resumed, signs,
	 * bytes in, bytes out, insecure passed, then u8 n + n x u64 failures
	 * by reason */
	CL_DP_REQ_STATS = 3,
};

/* The guest's policy (docs/tls.md "Per-guest policy"). For every mode but
 * auto the agent's nftables rules decide what reaches a listener; the data
 * plane terminates all of it. */
enum cl_dp_mode {
	CL_DP_MODE_ALL = 0,
	CL_DP_MODE_PORTS = 1,
	CL_DP_MODE_IPS = 2,
	CL_DP_MODE_ADAPTERS = 3,
	CL_DP_MODE_AUTO = 4,
};
enum cl_dp_insecure { CL_DP_INSECURE_REJECT = 0, CL_DP_INSECURE_ALLOW = 1 };

/* One guest's configuration, as the agent sends it. */
typedef struct cl_dp_guest {
	char id[CL_DP_ID_MAX + 1];
	uint32_t gen;                   /* 1..CL_DP_GEN_MAX: key slot tls/<id>:<gen> */
	const char *chain_pem;          /* borrowed; leaf first, then the CA chain */
	size_t chain_len;
	char backend[CL_DP_ADDR_MAX + 1]; /* the guest's cleartext service */
	/* HTTP/1.1 header marking (src/tls/http_mark.h): the header name, or
	 * "" for none. With a name, every connection's client->guest bytes go
	 * through a cl_http_mark (docs/tls.md "Header marking"); a name the
	 * parser refuses (a framing or hop-by-hop field) is CL_EINVAL. */
	char header[CL_DP_HEADER_MAX + 1];
	uint8_t mode;                   /* enum cl_dp_mode */
	uint8_t insecure;               /* enum cl_dp_insecure */
	const int *listeners;           /* borrowed; the caller keeps its copies */
	size_t nlisteners;              /* <= CL_DP_LISTENERS_MAX; 0 keeps the ones set before */
} cl_dp_guest;

/* Why a connection ended badly: the reasons of _failures_total{reason}. */
enum cl_dp_fail {
	CL_DP_FAIL_HANDSHAKE = 0, /* TLS protocol failure during the handshake (version, suite, garbage) */
	CL_DP_FAIL_TIMEOUT,       /* handshake deadline (slowloris) */
	CL_DP_FAIL_SIGN,          /* the key holder refused or did not answer */
	CL_DP_FAIL_BACKEND,       /* the guest's service could not be reached */
	CL_DP_FAIL_PROTOCOL,      /* TLS failure after the handshake (bad record, decryption) */
	CL_DP_FAIL_LIMIT,         /* per-guest or per-host connection cap */
	CL_DP_FAIL_IDLE,          /* idle deadline */
	CL_DP_FAIL_IO,            /* a socket error */
	CL_DP_FAIL_INSECURE,      /* auto mode: not TLS, and the guest's rule rejects it (a TCP reset) */
	CL_DP_FAIL_HTTP,          /* header marking refused a request head (a 400, then close) */
	CL_DP_FAIL_COUNT
};

typedef struct cl_dp_stats {
	uint64_t connections;        /* accepted, ever */
	uint64_t active;             /* open now */
	uint64_t handshakes_full;    /* completed with a signature from the key holder */
	uint64_t handshakes_resumed; /* completed from a ticket or session id */
	uint64_t signs;              /* signatures the key holder answered */
	uint64_t bytes_in;           /* cleartext from the world to the guest */
	uint64_t bytes_out;          /* cleartext from the guest to the world */
	uint64_t insecure_passed;    /* auto mode: connections that were not TLS, passed in clear (rule allow) */
	uint64_t failures[CL_DP_FAIL_COUNT];
} cl_dp_stats;

/* "handshake", "timeout", ... (static). */
const char *cl_dp_fail_name(enum cl_dp_fail f);

/* ---------------------------------------------------------------- the agent's client */

typedef struct cl_dp_client {
	cl_ipc_client ipc;
} cl_dp_client;

/* Initialises a client over fd (borrowed). Each call waits at most timeout_ms. */
void cl_dp_client_init(cl_dp_client *c, int fd, int timeout_ms);

/* Installs or replaces a guest. A guest set again (a rotation: a new gen)
 * serves new handshakes with the new chain and key; its established
 * connections are kept. Returns the data plane's refusal: CL_EINVAL (bad id,
 * gen, backend, mode), CL_ECRYPTO (a chain that does not parse or whose leaf
 * is not an EC key the key holder signs with), CL_ETOOBIG; CL_ETIMEOUT /
 * CL_EUNAVAIL when it does not answer. Nothing changes on failure. */
CL_MUST_CHECK cl_err cl_dp_guest_set(cl_dp_client *c, const cl_dp_guest *g);
/* Removes a guest: its listeners and every connection closed. CL_ENOTFOUND
 * if there is none. */
CL_MUST_CHECK cl_err cl_dp_guest_remove(cl_dp_client *c, const char *enclave_id);
/* A guest's counters into *out. CL_ENOTFOUND if there is none. */
CL_MUST_CHECK cl_err cl_dp_stats_get(cl_dp_client *c, const char *enclave_id, cl_dp_stats *out);

/* ---------------------------------------------------------------- the process */

typedef struct cl_dp_opts {
	unsigned max_conns;        /* per host (0: 65,536) */
	unsigned max_conns_guest;  /* per guest (0: 4,096) */
	unsigned handshake_ms;     /* handshake deadline (0: 10 s) */
	unsigned idle_ms;          /* idle deadline (0: 300 s) */
	unsigned sign_timeout_ms;  /* one signature (0: 2 s) */
	unsigned ticket_rotate_s;  /* ticket key rotation (0: 12 h) */
	bool no_harden;            /* tests that inspect the process only */
	enum cl_seccomp_action on_violation;
	bool switch_user;          /* started as root: become uid:gid, no capabilities */
	uid_t uid;
	gid_t gid;
} cl_dp_opts;

/* The data plane process: `if (fork() == 0) _exit(cl_dataplane_main(a, k, &o));`.
 * agent_fd: its ipc channel to the agent (requests above); kh_fd: its key
 * holder channel (role tls). Closes every other descriptor, applies its walls
 * (undumpable, no_new_privs, Landlock with no file system, seccomp
 * cl_role_tls) and serves until the agent's channel closes. Returns the exit
 * status (0, or 1 after logging why). opts may be NULL (defaults). */
int cl_dataplane_main(int agent_fd, int kh_fd, const cl_dp_opts *opts);

#endif
