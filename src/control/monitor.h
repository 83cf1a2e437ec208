/* monitor.h — the control plane's monitor: the small privileged process that
 * holds the CA key, the TLS server key, the secret-hash pepper and the
 * sealing key, and the typed requests the network-facing worker may send it
 * (docs/monitor.md).
 *
 *   supervisor (supervisor.c: forks both, restarts them, parses nothing)
 *    ├─ monitor  root or the starting user; DATA/keys; parses only the
 *    │           requests below; undumpable, no capabilities, Landlock to
 *    │           DATA/keys, seccomp allow-list
 *    └─ worker   CTL_WORKER_UID when started as root; evhttp, TLS records,
 *                JSON, images, the store (DATA/db); no key file reachable
 *
 * Channel: one ipc channel (common/ipc.h) per worker, made by the supervisor
 * before the fork. Every request is refused (and logged, rate-limited) if its
 * type is unknown, its payload is over the type's cap or not consumed
 * exactly, its id is out of order, or its meaning is not allowed:
 *
 *   SIGN_HANDSHAKE  bytes digest (32, 48 or 64 bytes)
 *                   -> bytes r||s (96): ECDSA P-384 with the server key
 *   GET_CERTS       (empty)
 *                   -> bytes chain PEM (server certificate, then the CA's),
 *                      bytes CA certificate PEM, bytes hosts CA PEM.
 *                      Re-issues the server certificate and the hosts CA
 *                      first if they are due (ca.h).
 *   HASH_SECRET     str secret (1..CTL_MON_SECRET_MAX bytes)
 *                   -> str "v2$..." (pepper, then salt: ctl_secret_hash_v2)
 *   VERIFY_SECRET   str secret, str stored hash (v1 or v2)
 *                   -> u8 1 if it matches, 0 if not (a mismatch is an
 *                      answer, not a refusal: a wrong token is routine)
 *   ISSUE_HOST_CERT str host id ([a-z0-9-]{1,63}), bytes point (97: an
 *                   uncompressed P-384 point on the curve), bytes proof
 *                   (96: r || s, ECDSA by point over the proof-of-possession
 *                   digest, ca.h ctl_attest_pop_verify)
 *                   -> bytes DER host leaf, str serial (hex), u64 not_after
 *                      (unix s). The monitor checks the proof itself: the
 *                      worker cannot have a key certified that the host
 *                      does not hold, nor for another host id.
 *   ISSUE_TLS_CERT  str host id, str enclave id, u32 generation, str names
 *                   (comma-separated DNS names and IP literals, 1..16,
 *                   <= CTL_TLS_NAMES_MAX characters), bytes point (65: an
 *                   uncompressed P-256 point on the curve), bytes proof (64:
 *                   r || s, ECDSA by point over the digest the host's key
 *                   holder signed in tls-generate, ca.h ctl_tls_pop_verify)
 *                   -> bytes chain PEM (the guest's leaf, then the root),
 *                      str serial (hex), u64 not_after (unix s). The monitor
 *                      rebuilds the digest and checks the proof itself: the
 *                      worker cannot have a key certified that the host's
 *                      key holder did not make for that host, enclave and
 *                      generation.
 *   SEAL            str aad (1..CTL_MON_SEAL_AAD_MAX), bytes plaintext
 *                   (1..CTL_MON_SEAL_MAX)
 *                   -> bytes sealed: ctl_seal under the sealing key
 *   UNSEAL          str aad (1..CTL_MON_SEAL_AAD_MAX), bytes sealed
 *                   (CTL_SEAL_OVERHEAD + 1 .. + CTL_MON_SEAL_MAX)
 *                   -> bytes plaintext; refused (CL_ECRYPTO, logged
 *                      without the data) when the blob was sealed under
 *                      another aad or key, or changed, or cut.
 *
 * The worker never learns a private byte, the pepper or the sealing key:
 * the answers are a signature, public certificates, a hash, a bit, a sealed
 * blob and what the worker itself sealed. The hosts CA key signs only host
 * leaves whose proof checked out; the root signs guest TLS leaves only for
 * keys whose proof checked out. UNSEAL opens anything sealed under the
 * aad the worker names: it keeps a stolen store useless without the
 * monitor, not a compromised worker from asking (docs/broker.md).
 */
#ifndef CL_CONTROL_MONITOR_H
#define CL_CONTROL_MONITOR_H

#include <openssl/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/ipc.h"
#include "control/ca.h"

enum ctl_mon_req {
	CTL_MON_SIGN_HANDSHAKE = 1,
	CTL_MON_GET_CERTS = 2,
	CTL_MON_HASH_SECRET = 3,
	CTL_MON_VERIFY_SECRET = 4,
	CTL_MON_ISSUE_HOST_CERT = 5,
	CTL_MON_SEAL = 6,
	CTL_MON_UNSEAL = 7,
	CTL_MON_ISSUE_TLS_CERT = 8,
};

#define CTL_MON_MSG_MAX (32u * 1024)  /* whole message cap, both directions */
#define CTL_MON_SECRET_MAX 256        /* longest secret the monitor hashes */
#define CTL_MON_HASH_MAX 127          /* longest stored hash string */
#define CTL_MON_TIMEOUT_MS 5000       /* the worker's wait for one answer */
#define CTL_MON_PEPPER_LEN 32
#define CTL_MON_SEAL_KEY_LEN 32       /* DATA/keys/seal.key: AES-256 */
#define CTL_MON_SEAL_MAX 8192         /* longest plaintext SEAL takes */
#define CTL_MON_SEAL_AAD_MAX 255      /* longest aad */
#define CTL_CERT_CHECK_S 3600         /* how often the worker asks GET_CERTS (re-issue check) */

/* Uid and gid of the worker when cloister-control starts as root: above
 * real users and subordinate ranges, next to the host's key holder
 * (0x3fffff00) and guest interface (0x3fffff01), below enclaves. */
#define CTL_WORKER_UID 0x3fffff02u

/* ---------------------------------------------------------------- secrets */

/* The v2 hash of secret under pepper: "v2$" 32 hex salt "$" 64 hex of
 * HMAC-SHA-256(salt, HMAC-SHA-256(pepper, secret)). out needs >= 101 bytes.
 * CL_EINVAL if it is smaller. */
CL_MUST_CHECK cl_err ctl_secret_hash_v2(const uint8_t pepper[CTL_MON_PEPPER_LEN], const char *secret, char *out,
					size_t outlen);
/* Checks secret against a stored hash: v2 (needs pepper) or v1 (the salted
 * scheme before the pepper, common/crypto.h). *match tells; CL_EINVAL when
 * stored is malformed. Constant time in the secret. */
CL_MUST_CHECK cl_err ctl_secret_check(const uint8_t pepper[CTL_MON_PEPPER_LEN], const char *secret,
				      const char *stored, bool *match);

/* ---------------------------------------------------------------- sealing */

/* A sealed blob (version 1):
 *   u8 version = 1 | nonce (12, random) | AES-256-GCM ciphertext | tag (16)
 * with GCM associated data "cloister-seal/1" 0x00 aad: a blob opens only
 * under the aad it was sealed with (the broker's is the secret's tenant and
 * name, so a row copied to another secret does not open). */
#define CTL_SEAL_VERSION 1
#define CTL_SEAL_NONCE_LEN 12
#define CTL_SEAL_TAG_LEN 16
#define CTL_SEAL_OVERHEAD (1 + CTL_SEAL_NONCE_LEN + CTL_SEAL_TAG_LEN)

/* Seals pt[n] (1..CTL_MON_SEAL_MAX bytes) under key for aad (1..
 * CTL_MON_SEAL_AAD_MAX characters) into out (reset first; its max must
 * allow n + CTL_SEAL_OVERHEAD). CL_EINVAL for an empty or oversize input or
 * aad, CL_EINTERNAL if the cipher fails; out is then empty. */
CL_MUST_CHECK cl_err ctl_seal(const uint8_t key[CTL_MON_SEAL_KEY_LEN], const char *aad, const uint8_t *pt, size_t n,
			      cl_buf *out);
/* Opens a blob made by ctl_seal under the same key and aad into out (reset
 * first; the caller wipes it: cl_buf_free). CL_ECRYPTO if the blob is cut,
 * of another version, changed, or sealed under another key or aad;
 * CL_EINVAL for a bad aad. out is then empty: no byte of an unauthenticated
 * plaintext is ever returned. */
CL_MUST_CHECK cl_err ctl_unseal(const uint8_t key[CTL_MON_SEAL_KEY_LEN], const char *aad, const uint8_t *blob,
				size_t n, cl_buf *out);

/* ---------------------------------------------------------------- monitor (server) */

typedef struct ctl_monitor {
	ctl_ca *ca;                      /* borrowed */
	const uint8_t *pepper;           /* CTL_MON_PEPPER_LEN bytes, borrowed (secret memory) */
	const uint8_t *seal_key;         /* CTL_MON_SEAL_KEY_LEN bytes, borrowed (secret memory) */
	cl_ipc_server ipc;
	uint64_t signs, hashes, verifies, issued, seals, unseals, tls_issued; /* counters for the log */
} ctl_monitor;

/* Binds a monitor to channel fd (not owned; -1 for the fuzzer). */
void ctl_monitor_init(ctl_monitor *m, ctl_ca *ca, const uint8_t *pepper, const uint8_t *seal_key, int fd);

typedef struct ctl_monitor_opts {
	const char *data_dir;   /* DATA (ca.pem lives here) */
	const char *keys_dir;   /* DATA/keys */
	const ctl_names *names; /* the server certificate's names */
	unsigned renew_days;    /* server certificate renewal window; 0: CTL_CA_RENEW_DAYS */
	bool no_harden;         /* tests only */
} ctl_monitor_opts;

/* The monitor process: closes every descriptor but fd (and 0-2), loads or
 * creates the keys, the pepper and the sealing key, re-issues the server certificate if due,
 * hardens itself (undumpable, no capabilities, no_new_privs, Landlock to
 * DATA/keys, seccomp) and serves fd until the worker closes it. Returns the
 * exit status: 0 when the channel closed, 1 on an error (logged). */
int ctl_monitor_main(int fd, const ctl_monitor_opts *o);

/* ---------------------------------------------------------------- worker side (client) */

typedef struct ctl_mon_client {
	cl_ipc_client ipc;
	bool broken; /* a call failed at the transport: every later call fails (fail closed) */
	void (*on_broken)(void *arg); /* called once when broken is set (the worker stops) */
	void *on_broken_arg;
} ctl_mon_client;

/* Binds a client to channel fd (not owned). */
void ctl_mon_client_init(ctl_mon_client *c, int fd);

/* SIGN_HANDSHAKE: r||s of digest[len] with the server key. */
CL_MUST_CHECK cl_err ctl_mon_sign(ctl_mon_client *c, const uint8_t *digest, size_t len, uint8_t sig[96]);
/* GET_CERTS: *chain, *ca and *hosts (the hosts CA) are NUL-terminated PEM
 * the caller frees. */
CL_MUST_CHECK cl_err ctl_mon_get_certs(ctl_mon_client *c, char **chain, char **ca, char **hosts);
/* ISSUE_HOST_CERT: the monitor checks proof and issues host_id's leaf for
 * point into *out. CL_ECRYPTO for a bad point or proof, CL_EINVAL for a
 * bad host id (the monitor refused: it logged why). */
CL_MUST_CHECK cl_err ctl_mon_issue_host_cert(ctl_mon_client *c, const char *host_id,
					     const uint8_t point[CTL_ATT_POINT_LEN],
					     const uint8_t proof[CTL_ATT_PROOF_LEN], ctl_host_cert *out);
/* ISSUE_TLS_CERT: the monitor checks the ids, the names, the point and the
 * proof, and issues the guest's 30-day TLS leaf for enclave_id's
 * generation gen on host_id. *chain_pem (leaf, then the CA chain up to the
 * root; NUL-terminated PEM) is the caller's to free; serial_hex the leaf's
 * serial (lower-case hex), *not_after its end (unix s). CL_ECRYPTO for a bad
 * point or proof, CL_EINVAL for bad names or ids (the monitor refused: it
 * logged why). Outputs are written only on success. */
CL_MUST_CHECK cl_err ctl_mon_issue_tls_cert(ctl_mon_client *c, const char *host_id, const char *enclave_id,
					    uint32_t gen, const char *names, const uint8_t point[CTL_TLS_POINT_LEN],
					    const uint8_t proof[CTL_TLS_PROOF_LEN], char **chain_pem,
					    char serial_hex[CTL_SERIAL_HEX_MAX + 1], int64_t *not_after);
/* HASH_SECRET: the stored form of secret into out[outlen]. */
CL_MUST_CHECK cl_err ctl_mon_hash_secret(ctl_mon_client *c, const char *secret, char *out, size_t outlen);
/* VERIFY_SECRET: CL_OK if secret matches stored, CL_EAUTH if not, another
 * code if the monitor could not answer (the caller must deny then too). */
CL_MUST_CHECK cl_err ctl_mon_verify_secret(ctl_mon_client *c, const char *secret, const char *stored);
/* SEAL: pt[n] (1..CTL_MON_SEAL_MAX) sealed for aad into out (reset first;
 * the caller frees it). The request's copy of pt is wiped. CL_EINVAL for an
 * input the monitor would refuse (not sent), else the monitor's code. */
CL_MUST_CHECK cl_err ctl_mon_seal(ctl_mon_client *c, const char *aad, const uint8_t *pt, size_t n, cl_buf *out);
/* UNSEAL: the plaintext of blob[n] sealed for aad into out (reset first;
 * the caller wipes it with cl_buf_free as soon as it is used). CL_ECRYPTO
 * when the monitor refused to open it (another aad, changed, cut); every
 * copy of the plaintext on the way is wiped. */
CL_MUST_CHECK cl_err ctl_mon_unseal(ctl_mon_client *c, const char *aad, const uint8_t *blob, size_t n,
				    cl_buf *out);

/* An SSL_CTX for the worker: the chain from GET_CERTS and a remote key
 * (common/remote_key.h) that asks c to sign each handshake. c must outlive
 * the context. *chain_digest receives the SHA-256 of the chain PEM (to see
 * a re-issue). The caller owns *out, and *ca and *hosts (the root and the
 * hosts CA PEM, as GET_CERTS answered; either may be NULL: not wanted). */
CL_MUST_CHECK cl_err ctl_mon_tls_ctx(ctl_mon_client *c, SSL_CTX **out, uint8_t chain_digest[32], char **ca,
				     char **hosts);

#endif
