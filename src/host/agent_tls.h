/* agent_tls.h — the agent's side of a guest's TLS credential (docs/tls.md
 * "Credentials: the job and its steps", steps 1 and 5; docs/host.md "TLS
 * ops"): the ops tls_generate, tls_install and tls_remove of a sync answer
 * (agent_tls.c), and the one hand-over to the data plane (agent_tls_apply.c).
 *
 * The agent never holds a guest's private key: it asks the key holder to
 * make one (tls-generate: the key stays in the key holder's memory) and
 * answers the public point and the key holder's proof of possession; it
 * checks the certificate chain the control plane issued for that point
 * before the data plane may serve it. What it keeps is public: per slot it
 * made, the point and proof (a repeated tls_generate answers them again),
 * per enclave the chain and policy handed to the data plane. All of it is
 * memory only (see "Restarts" in docs/tls.md: a restarted agent has a new
 * key holder, which holds none of the keys, so a journaled certificate
 * would have no key to serve with).
 *
 * Threads: ops run on the ops engine's thread (cl_agent_pool_set_tls),
 * cl_agent_tls_set_enclaves and cl_agent_tls_forget on the sync loop's; a
 * mutex guards the state. Key holder calls are bounded by the key provider.
 */
#ifndef CL_HOST_AGENT_TLS_H
#define CL_HOST_AGENT_TLS_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "host/agent_proto.h"
#include "tls/dataplane.h"

#define CL_AGENT_TLS_POINT_LEN 65 /* uncompressed P-256 point */
#define CL_AGENT_TLS_PROOF_LEN 64 /* ECDSA P-256 r || s */
#define CL_AGENT_TLS_CHAIN_CERTS 8 /* certificates in a delivered chain, at most */

/* The key holder's tls/ slots, as the agent may use them (role agent:
 * make, read the public point, destroy; never sign). agent_privsep.c
 * provides them over its key holder client. */
typedef struct cl_agent_tls_keys {
	/* tls-generate: a new P-256 key in slot; its point and the proof over
	 * SHA-256("cloister-tls-pop/1" 0 host_id 0 slot 0 point). CL_ECONFLICT
	 * if the slot exists. */
	cl_err (*generate)(void *ctx, const char *slot, const char *host_id, uint8_t point[CL_AGENT_TLS_POINT_LEN],
			   uint8_t proof[CL_AGENT_TLS_PROOF_LEN]);
	/* The slot's P-256 point (CL_ENOTFOUND: no such key; CL_EPROTO: not a
	 * P-256 handshake key). */
	cl_err (*get_public)(void *ctx, const char *slot, uint8_t point[CL_AGENT_TLS_POINT_LEN]);
	/* Destroys the slot's key (CL_ENOTFOUND: there was none). */
	cl_err (*destroy)(void *ctx, const char *slot);
	void *ctx;
} cl_agent_tls_keys;

typedef struct cl_agent_tls cl_agent_tls;

/* The TLS state of this host: host_id is the agent's own (an op naming
 * another is refused); ca_file the root the agent trusts (its --ca, the
 * control plane's CA: a delivered chain must verify to it; NULL: every
 * install is refused); keys copied (its ctx must outlive *out). CL_EINVAL
 * for a CA file that holds no certificate. *out is freed with
 * cl_agent_tls_free. */
CL_MUST_CHECK cl_err cl_agent_tls_new(const char *host_id, const char *ca_file, const cl_agent_tls_keys *keys,
				      cl_agent_tls **out);
/* Frees everything (the key holder's slots stay: they die with it). NULL ok. */
void cl_agent_tls_free(cl_agent_tls *t);

/* Runs one op of kind CL_OP_TLS_* (op->tls set) and returns its result
 * {op, ok, data?, error?} (new reference; NULL only out of memory):
 *  - tls_generate: data = base64 of {"point": b64 65 bytes, "proof": b64
 *    64 bytes}. Refused: another host's id, an enclave not desired on this
 *    host or known to have no network. A slot this agent made already
 *    answers its remembered point and proof, once get-public shows the key
 *    holder still holds that point (a key lost with a key holder restart is
 *    made anew); a slot it did not make is a conflict (its proof cannot be
 *    made again without signing anew).
 *  - tls_install: the chain verifies to the trusted root (X509 strict,
 *    serverAuth, a CA:FALSE leaf, at most CL_AGENT_TLS_CHAIN_CERTS, every
 *    delivered certificate in the verified path), its leaf's key is the
 *    key holder's get-public point for tls/<enclave>:<gen>, the enclave is
 *    desired here and not known to lack a network; then cl_agent_tls_apply.
 *  - tls_remove: the data plane's state dropped (for gen: only if it
 *    serves that gen), then the slots this agent made for the enclave (for
 *    gen: that one) destroyed. ok even if there was nothing. */
json_t *cl_agent_tls_op(cl_agent_tls *t, const cl_agent_op *op);
/* For cl_agent_pool_set_tls (ctx is the cl_agent_tls). */
json_t *cl_agent_tls_op_fn(void *ctx, const cl_agent_op *op);

/* The enclaves desired on this host, from a sync answer: ids[i] and
 * network[i] (1 a network enclave, 0 none, -1 not said). An enclave with
 * TLS state that is no longer desired is forgotten (cl_agent_tls_forget). */
void cl_agent_tls_set_enclaves(cl_agent_tls *t, const char *const *ids, const signed char *network, size_t n);
/* Drops enclave's TLS: the data plane's state and every slot this agent
 * made for it (destroyed in the key holder). For an enclave destroyed. */
void cl_agent_tls_forget(cl_agent_tls *t, const char *enclave);
/* Slots this agent made for enclave and still tracks (tests, logs). */
size_t cl_agent_tls_slot_count(cl_agent_tls *t, const char *enclave);
/* What the data plane was last given for enclave: false if nothing; else
 * *gen and *policy (either may be NULL). */
bool cl_agent_tls_served(cl_agent_tls *t, const char *enclave, uint32_t *gen, cl_agent_tls_policy *policy);

/* Checks a delivered chain (PEM, leaf first; len bytes) against store's
 * root and the key holder's point, as tls_install does (above). CL_ECRYPTO
 * with a detail naming what failed. Pure but for the clock. */
CL_MUST_CHECK cl_err cl_agent_tls_chain_check(X509_STORE *store, const char *pem, size_t len,
					      const uint8_t point[CL_AGENT_TLS_POINT_LEN]);

/* ---- agent_tls_apply.c: the hand-over to the data plane ---- */

/* The data plane's channel (src/tls/dataplane.h), as the agent uses it:
 * agent_privsep.c provides it over the supervisor's channel. */
typedef struct cl_agent_tls_plane {
	cl_err (*set)(void *ctx, const cl_dp_guest *g);      /* cl_dp_guest_set */
	cl_err (*remove)(void *ctx, const char *enclave_id); /* cl_dp_guest_remove */
	cl_err (*stats)(void *ctx, const char *enclave_id, cl_dp_stats *out); /* cl_dp_stats_get */
	void *ctx;
} cl_agent_tls_plane;

/* Where a guest's TLS goes: its cleartext service (the guest's address and
 * the exposed port the public endpoint reaches). */
typedef struct cl_agent_tls_backend {
	char address[16]; /* the guest's IPv4 address ("" = not known) */
	uint16_t port;    /* the exposed port (0 = none) */
} cl_agent_tls_backend;

/* The data plane's desired state: one entry per enclave served. */
typedef struct cl_agent_tls_dp cl_agent_tls_dp;
CL_MUST_CHECK cl_err cl_agent_tls_dp_new(cl_agent_tls_dp **out);
/* Closes the listeners it holds (the data plane keeps its copies until the
 * guest is removed there). NULL ok. */
void cl_agent_tls_dp_free(cl_agent_tls_dp *dp);
/* From now on dp hands every apply to plane (copied; its ctx must outlive
 * dp), the public endpoints bound on IPv4 address listen (NULL:
 * 127.0.0.1). Without a plane (tests) apply only records. CL_EINVAL for a
 * listen that is not an IPv4 address. */
CL_MUST_CHECK cl_err cl_agent_tls_dp_set_plane(cl_agent_tls_dp *dp, const cl_agent_tls_plane *plane, const char *listen);
/* THE one function through which the data plane learns a guest's TLS:
 * chain (PEM, chain_len bytes, verified by the caller) and policy for
 * generation gen of enclave (key slot tls/<enclave>:<gen>) replace what it
 * served; chain NULL removes the enclave (CL_OK if it had nothing; with a
 * plane, its counters logged, cl_dp_guest_remove and the listener closed). With a plane, an
 * install needs be (the guest's address and exposed port: CL_ECONFLICT
 * without them); the agent makes the public endpoint (a listening socket on
 * the listen address, an ephemeral port; kept across a rotation of the same
 * guest, so its port does not change) and hands it with cl_dp_guest_set.
 * endpoint (cap bytes, may be NULL) gets "a.b.c.d:port" ("" without a
 * plane). Nothing changes on failure (CL_ENOMEM, CL_EIO for a socket, or
 * the data plane's refusal). Copies what it keeps. */
CL_MUST_CHECK cl_err cl_agent_tls_apply(cl_agent_tls_dp *dp, const char *enclave, uint32_t gen, const char *chain,
					size_t chain_len, const cl_agent_tls_policy *policy,
					const cl_agent_tls_backend *be, char *endpoint, size_t cap);
/* The id of dp's i-th enclave (borrowed until dp changes), NULL past the last. */
const char *cl_agent_tls_dp_enclave(const cl_agent_tls_dp *dp, size_t i);
/* What dp holds for enclave (see cl_agent_tls_served). */
bool cl_agent_tls_dp_get(const cl_agent_tls_dp *dp, const char *enclave, uint32_t *gen, cl_agent_tls_policy *policy);

/* The data plane (see cl_agent_tls_dp_set_plane) for t's state. */
CL_MUST_CHECK cl_err cl_agent_tls_set_plane(cl_agent_tls *t, const cl_agent_tls_plane *plane, const char *listen);
/* The backend of a desired enclave (after cl_agent_tls_set_enclaves, from
 * the guest networks): address "" while unknown, port the lowest exposed
 * port (0: none). Unknown enclaves are ignored. */
void cl_agent_tls_set_backend(cl_agent_tls *t, const char *enclave, const char *address, uint16_t port);

#endif
