/* keyholder.h — the host's key holder: one small process that holds every
 * private key of the host (device keys, the attestation key; the per-guest
 * guests' TLS keys), parses nothing from the network or from enclaves,
 * and answers a few narrow requests over an ipc channel (common/ipc.h):
 * get-public, generate, ECDH-derive, sign, destroy, seal, tls-generate.
 * docs/keyholder.md has the message set, the policy table and every refusal.
 *
 * Keys are named by slot: "attest", "dev/<addr>" (P-384, kept as files),
 * "tls/<enclave>:<gen>" (P-256, memory only: never written to the key
 * directory, gone when the key holder exits). The slot's kind fixes the
 * key's purpose and which client roles may do what with it; the role of a
 * request is the role of the channel it came on (set by whoever forked the
 * key holder), never something the request says. Private scalars live in
 * secret memory (common/secmem.h) and, for the file kinds, on disk as 0600
 * PKCS#8 PEM files under the key directory, which only the key holder
 * process opens.
 */
#ifndef CL_KEYHOLDER_H
#define CL_KEYHOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/harden.h"
#include "common/ipc.h"

#define CL_KH_POINT_LEN 97   /* uncompressed P-384 point 0x04 || X || Y (the longest) */
#define CL_KH_SCALAR_LEN 48  /* the longest scalar (P-384) */
#define CL_KH_SIG_LEN 96     /* P-384 r || s, low-s (the longest) */
#define CL_KH_P256_POINT_LEN 65 /* uncompressed P-256 point (tls/ slots) */
#define CL_KH_P256_SIG_LEN 64   /* P-256 r || s, low-s */
#define CL_KH_HOST_ID_MAX 63    /* tls-generate: a host id, [a-z0-9-]{1,63} */
#define CL_KH_TLS_POP_LABEL "cloister-tls-pop/1"
#define CL_KH_TLS_GEN_MAX 4294967295u /* tls/<enclave>:<gen>: gen 1..2^32-1 */
#define CL_KH_DIGEST_MAX 64
#define CL_KH_KEY_LEN 32     /* what an ECDH derive returns (an AES-256 key) */
#define CL_KH_NAME_MAX 64    /* the <addr>/<guest> part of a slot */
#define CL_KH_SLOT_MAX 72    /* a whole slot name */
#define CL_KH_MAX_SLOTS 1024
#define CL_KH_MSG_MAX 512    /* every request and answer fits */
#define CL_KH_TENANT_MAX 63  /* SEAL: a tenant id, [a-z0-9-]{1,63} */
#define CL_KH_PCRS_LEN (4 * 48) /* SEAL: PCR0..PCR3 */
#define CL_KH_LABEL_MAX 64   /* SEAL: the enclave's label */
#define CL_KH_SEAL_INFO "cloister-seal/1"

/* Who is asking: fixed per channel. */
enum cl_kh_role {
	CL_KH_ROLE_AGENT = 1,   /* cloister-host's agent (and its firmware guard) */
	CL_KH_ROLE_GUESTIF = 2, /* the enclave-facing guest interface */
	CL_KH_ROLE_TLS = 3,     /* the TLS data plane */
};

/* What a key is for: fixed by its slot's kind. */
enum cl_kh_purpose {
	CL_KH_PURPOSE_ECDH = 1,           /* dev/<addr>: decrypt firmware images */
	CL_KH_PURPOSE_SIGN_DOCUMENT = 2,  /* attest: attestation documents (SHA-384 digests) */
	CL_KH_PURPOSE_SIGN_HANDSHAKE = 3, /* tls/<enclave>:<gen>: TLS CertificateVerify / ServerKeyExchange */
	CL_KH_PURPOSE_SEAL = 4,           /* seal: the host's sealing secret (HKDF input only; made at first use) */
};

/* What an ECDH result is derived into (the shared secret itself never leaves). */
enum cl_kh_use {
	/* HKDF-SHA384(salt = 0^48, ikm = x(d*P), info = "cloister-fw/aes-256-gcm/1" || P)[0..32]:
	 * the AES-256-GCM key of an encrypted firmware image (src/fw/verify_decrypt.c). */
	CL_KH_USE_FW_IMAGE = 1,
};

/* A key's curve: its point is 65 (P-256) or 97 (P-384) bytes long. */
enum cl_kh_curve {
	CL_KH_CURVE_P256 = 1,
	CL_KH_CURVE_P384 = 2,
};

enum cl_kh_request {
	/* str slot -> u8 purpose, bytes[97 or 65] point (the length is the curve) */
	CL_KH_REQ_GET_PUBLIC = 1,
	CL_KH_REQ_GENERATE = 2,   /* str slot -> bytes[97] point (P-384 kinds only) */
	CL_KH_REQ_ECDH = 3,       /* str slot, u8 use, bytes[97] peer -> bytes[32] key */
	/* str slot, bytes[1..64] digest -> bytes[96] r||s (P-384), or for a
	 * tls/ slot: bytes[32] SHA-256 digest -> bytes[64] r||s (P-256) */
	CL_KH_REQ_SIGN = 4,
	CL_KH_REQ_DESTROY = 5,    /* str slot -> (empty) */
	/* str tenant, bytes[192] PCR0..3, bytes[1..64] label -> bytes[32]
	 * HKDF-SHA384(salt = 0^48, ikm = the "seal" slot's 48-byte secret,
	 * info = "cloister-seal/1" 0x00 tenant 0x00 PCR0..PCR3 label): an
	 * enclave's sealing key (agent only; the slot is made at the first). */
	CL_KH_REQ_SEAL = 6,
	/* str slot (tls/<enclave>:<gen>), str host id ([a-z0-9-]{1,63})
	 * -> bytes[65] point, bytes[64] proof: a new P-256 key in the slot (in
	 * memory only) and its signature (r || s, low-s) over
	 * SHA-256(CL_KH_TLS_POP_LABEL 0x00 host_id 0x00 slot 0x00 point), a
	 * digest the key holder composes itself (agent only). */
	CL_KH_REQ_TLS_GENERATE = 7,
};

/* ---------------------------------------------------------------- client (agent, guest interface, TLS) */

typedef struct cl_kh_client {
	cl_ipc_client ipc;
} cl_kh_client;

/* Initialises a client over fd (borrowed). Each call waits at most timeout_ms. */
void cl_kh_client_init(cl_kh_client *c, int fd, int timeout_ms);

/* Every call returns the key holder's refusal code (CL_EINVAL bad slot name,
 * CL_ENOTFOUND no such key, CL_EPERM wrong role or purpose, CL_ECONFLICT key
 * exists, CL_ECRYPTO invalid peer point...), CL_ETIMEOUT, or CL_EUNAVAIL when
 * the key holder is gone. Outputs are written only on success. */
/* The slot's purpose and public point: *point_len is CL_KH_POINT_LEN (97,
 * P-384) or CL_KH_P256_POINT_LEN (65, P-256: a tls/ slot). A caller that
 * wants one curve checks *point_len. */
CL_MUST_CHECK cl_err cl_kh_get_public(cl_kh_client *c, const char *slot, enum cl_kh_purpose *purpose,
				      uint8_t point[CL_KH_POINT_LEN], size_t *point_len);
CL_MUST_CHECK cl_err cl_kh_generate(cl_kh_client *c, const char *slot, uint8_t point[CL_KH_POINT_LEN]);
/* CL_KH_REQ_TLS_GENERATE: a new P-256 key in slot ("tls/<enclave>:<gen>")
 * for host_id; point and proof as the request says. CL_ECONFLICT if the
 * slot holds a key, CL_EINVAL for a bad slot or host id, CL_EPERM if the
 * channel is not the agent's. */
CL_MUST_CHECK cl_err cl_kh_tls_generate(cl_kh_client *c, const char *slot, const char *host_id,
					uint8_t point[CL_KH_P256_POINT_LEN], uint8_t proof[CL_KH_P256_SIG_LEN]);
/* key: CL_KH_KEY_LEN bytes the caller must wipe after use. */
CL_MUST_CHECK cl_err cl_kh_ecdh(cl_kh_client *c, const char *slot, enum cl_kh_use use,
				const uint8_t peer[CL_KH_POINT_LEN], uint8_t key[CL_KH_KEY_LEN]);
/* A P-384 signature (96 bytes); a P-256 answer is CL_EPROTO here. */
CL_MUST_CHECK cl_err cl_kh_sign(cl_kh_client *c, const char *slot, const uint8_t *digest, size_t len,
				uint8_t sig[CL_KH_SIG_LEN]);
/* A signature of either curve: *sig_len is the capacity of sig on entry
 * (at least the answer's length), 64 (P-256) or 96 (P-384) on success. */
CL_MUST_CHECK cl_err cl_kh_sign2(cl_kh_client *c, const char *slot, const uint8_t *digest, size_t len, uint8_t *sig,
				 size_t *sig_len);
CL_MUST_CHECK cl_err cl_kh_destroy(cl_kh_client *c, const char *slot);
/* An enclave's sealing key (CL_KH_REQ_SEAL): tenant 1..63 of [a-z0-9-],
 * pcrs = PCR0..PCR3, label 1..64 bytes. key: the caller wipes it. */
CL_MUST_CHECK cl_err cl_kh_seal(cl_kh_client *c, const char *tenant, const uint8_t pcrs[CL_KH_PCRS_LEN],
				const uint8_t *label, size_t label_len, uint8_t key[CL_KH_KEY_LEN]);

/* Glue for common/remote_key.h: a cl_remote_sign_fn whose ctx is a
 * cl_kh_signer (borrowed by the key; both must outlive it). */
typedef struct cl_kh_signer {
	cl_kh_client *client;
	char slot[CL_KH_SLOT_MAX + 1];
} cl_kh_signer;
cl_err cl_kh_remote_sign(void *signer, const uint8_t *digest, size_t len, uint8_t sig[CL_KH_SIG_LEN]);
/* The same for a cl_remote_sign2_fn (either curve; cl_remote_key_new_curve). */
cl_err cl_kh_remote_sign2(void *signer, const uint8_t *digest, size_t len, uint8_t *sig, size_t *sig_len);

/* ---------------------------------------------------------------- the key holder itself */

typedef struct cl_kh cl_kh;

#define CL_KH_OPEN_NO_SECRETMEM 0x1u /* secret memory without memfd_secret (tests) */
#define CL_KH_OPEN_NO_PERSIST 0x2u   /* generate/destroy touch memory only (fuzzing) */

/* Opens key_dir (created 0700 if missing; must be a directory of ours with no
 * group/other access), loads every key file in it into secret memory and
 * returns the key holder in *out (caller owns: cl_kh_close). A key file that
 * is not a 0600 P-384 PKCS#8 PEM of ours is skipped with a warning (its slot
 * then cannot be generated over either). A file under tls/ (a memory-only
 * kind: an earlier build's, or planted) is refused with a warning and
 * deleted. Initialises OpenSSL's secure heap. */
CL_MUST_CHECK cl_err cl_kh_open(const char *key_dir, unsigned flags, cl_kh **out);
/* Wipes every key and frees the key holder (NULL is fine). */
void cl_kh_close(cl_kh *kh);
/* Number of keys held. */
size_t cl_kh_count(const cl_kh *kh);

/* One client channel of the key holder: its role and its ipc server. Must
 * not move after cl_kh_conn_init (the ipc server points back at it). */
typedef struct cl_kh_conn {
	cl_kh *kh;
	enum cl_kh_role role;
	cl_ipc_server ipc;
} cl_kh_conn;

/* Initialises a channel over fd (borrowed; -1 for a byte-driven decoder as in
 * the fuzzer: use cl_ipc_server_dispatch(&conn->ipc, ...)). */
void cl_kh_conn_init(cl_kh_conn *conn, cl_kh *kh, int fd, enum cl_kh_role role);

/* Serves the channels until the agent's (role CL_KH_ROLE_AGENT, the first
 * with that role) closes: CL_OK then. Another channel that closes is dropped.
 * CL_ESYS on an I/O error. */
CL_MUST_CHECK cl_err cl_kh_serve(cl_kh_conn *conns, size_t n);

/* The key holder process, for cloister-host to fork before it parses any
 * input: `if (fork() == 0) _exit(cl_keyholder_main(fd, dir, &opt));` (end
 * with _exit: nothing of the parent's atexit may run in it). Closes every
 * descriptor but stdio and its channels, loads the keys, drops every
 * capability (it keeps its uid: the key files are its own), applies
 * cl_harden_process (Landlock: key_dir only; seccomp: cl_role_keyholder) and
 * serves until the agent's channel closes. Returns the process exit status
 * (0, or 1 after logging why). */
typedef struct cl_kh_main_opts {
	const int *extra_fds;             /* more channels... */
	const enum cl_kh_role *extra_roles; /* ...and their roles */
	size_t nextra;
	unsigned open_flags;              /* CL_KH_OPEN_* */
	bool no_harden;                   /* tests that inspect the process only */
	enum cl_seccomp_action on_violation;
	/* Started as root by cloister-host's supervisor: give key_dir to
	 * uid:gid (cl_kh_dir_prepare), move the device keys of legacy_devices
	 * (DATA/fw/devices, may be NULL) into it, then become uid:gid (no
	 * capabilities, no way back) before any key is loaded. The key
	 * directory is then opened through the working directory, so its parent
	 * (the agent's 0700 data directory) need not be searchable by uid. */
	bool switch_user;
	uid_t uid;
	gid_t gid;
	const char *legacy_devices;
} cl_kh_main_opts;

int cl_keyholder_main(int fd_agent, const char *key_dir, const cl_kh_main_opts *opt);

/* Makes key_dir (0700) and its dev/ and tls/ (0700) if missing and gives
 * them and every key file in them to uid:gid (files 0600 at most). For the
 * root process that starts the key holder under its own uid. */
CL_MUST_CHECK cl_err cl_kh_dir_prepare(const char *key_dir, uid_t uid, gid_t gid);
/* Moves every devices_dir/<addr>/devkey (the firmware device model's key
 * files of earlier builds) to key_dir/dev/<addr>.key owned by uid:gid, then
 * removes the old file; crash-safe and idempotent (kh_migrate.c). A missing
 * devices_dir is fine. *moved = keys moved. Run as root, before the drop. */
CL_MUST_CHECK cl_err cl_kh_migrate_devkeys(const char *devices_dir, const char *key_dir, uid_t uid, gid_t gid,
					   size_t *moved);

/* Names for logs and docs ("agent", "ecdh", "get-public"...). Static strings. */
const char *cl_kh_role_name(enum cl_kh_role r);
const char *cl_kh_purpose_name(enum cl_kh_purpose p);

#endif
