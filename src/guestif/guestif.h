/* guestif.h — the firmware guard's guest interface, served to enclaves.
 *
 * Every enclave of a host that runs the firmware guard sees one UNIX stream
 * socket, /dev/cloister/fw.sock. On the host it is BASE/ID/fw.sock (the agent
 * uses BASE = DATA/guest); the directory BASE/ID, not the socket, is
 * bind-mounted read-only at /dev/cloister (cl_sandbox_spec.guest_dir), so a
 * restarted agent re-creates the socket and running enclaves see the new one.
 *
 * Protocol (docs/guest-interface.md): one request line, one response line.
 *   LIST                                        OK {"devices":[{identity}...]}
 *   READ <addr>                                 OK {identity}
 *   WRITE <addr> <firmware|config|rom> <offset> <hex>
 *                                               ERR no_mapping ... (audited)
 *   anything else                               ERR bad_request <why>
 * A request line is at most CL_GUESTIF_LINE_MAX bytes including its '\n';
 * a longer one is answered ERR bad_request and the connection closed.
 * Reads reveal only fwg_identity (fwg_guest_read). Writes go to
 * fwg_guest_write (source guest: always refused "no mapping", audited),
 * rate-limited per enclave: beyond the bucket the answer is ERR rate_limited
 * and nothing is audited; the suppressed count is logged once a second.
 *
 * Split: guestif_proto.c is the pure parser/formatter (no I/O, fuzzed);
 * guestif_ipc.c the messages between the two processes (pure, fuzzed);
 * guestif.c the guest interface process (poll over the listening sockets it
 * is handed plus bounded client connections); guestif_gate.c the agent's
 * side, which validates every query and alone calls the device model.
 */
#ifndef CL_HOST_GUESTIF_H
#define CL_HOST_GUESTIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <sys/types.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/harden.h"
#include "common/ipc.h"
#include "fwguard/fwguard.h"

#define CL_GUESTIF_LINE_MAX 512  /* request line, '\n' included */
#define CL_GUESTIF_WRITE_MAX 240 /* data bytes of one WRITE (and the whole line must fit) */
#define CL_GUESTIF_SOCK "fw.sock"
#define CL_GUESTIF_MOUNT "/dev/cloister" /* where an enclave sees BASE/ID */

/* Defaults of cl_guestif_opts (documented in docs/guest-interface.md). */
#define CL_GUESTIF_WRITE_RATE 10    /* audited writes per second per enclave */
#define CL_GUESTIF_WRITE_BURST 20   /* bucket size */
#define CL_GUESTIF_HOST_RATE 1      /* audited guest writes per second, all enclaves together */
#define CL_GUESTIF_HOST_BURST 30    /* (bounds the audit log's growth to ~86k records a day) */
#define CL_GUESTIF_IDLE_MS 30000    /* a connection with no request for this long is closed */
#define CL_GUESTIF_PER_ENCLAVE 4    /* open connections per enclave */
#define CL_GUESTIF_MAX_CONNS 256    /* open connections, all enclaves */
#define CL_GUESTIF_NSM_RATE 10      /* secure-module requests per second per enclave */
#define CL_GUESTIF_NSM_BURST 20

/* ---- the secure module (guestif_nsm.c): pure, no I/O ----
 *
 * Every enclave (with or without the firmware guard) has a second socket,
 * /dev/cloister/nsm.sock (BASE/ID/nsm.sock), through which it — and only
 * it — asks for what a Nitro enclave asks its NSM device: an attestation
 * document binding a nonce, user data and a public key of its choosing,
 * and a sealing key derived from a host secret and its measurements.
 * Binary frames (docs/guest-interface.md, "The secure module"):
 *   request  u32 n (1..CL_NSM_REQ_MAX) | u8 type | fields        (n counts type + fields)
 *     ATTEST   (1): u16 len + nonce, u16 len + user_data, u16 len + public_key  (0 = absent)
 *     SEAL_KEY (2): u8 len (1..64) + label
 *   answer   u32 n | u8 status | body
 *     status 0: the document (COSE_Sign1) / the 32-byte key; else body = a
 *     short ASCII reason (never quoting the request).
 * A frame whose length is 0 or over the cap is answered bad_request and the
 * connection closed (the stream cannot be resynchronised). */
#define CL_GUESTIF_NSM_SOCK "nsm.sock"
#define CL_NSM_NONCE_MAX 512
#define CL_NSM_USER_DATA_MAX 512
#define CL_NSM_PUBKEY_MAX 1024
#define CL_NSM_LABEL_MAX 64
#define CL_NSM_KEY_LEN 32
#define CL_NSM_REQ_MAX (1 + 6 + CL_NSM_NONCE_MAX + CL_NSM_USER_DATA_MAX + CL_NSM_PUBKEY_MAX) /* 2055 */
#define CL_NSM_ANSWER_MAX (16u << 10) /* a document fits (the gate refuses a larger one) */

enum cl_nsm_type { CL_NSM_ATTEST = 1, CL_NSM_SEAL_KEY = 2 };
enum cl_nsm_status {
	CL_NSM_OK = 0,
	CL_NSM_BAD_REQUEST = 1,  /* malformed frame or fields */
	CL_NSM_RATE_LIMITED = 2, /* over the enclave's bucket: retry later */
	CL_NSM_UNAVAILABLE = 3,  /* the host cannot answer now (no attestation certificate yet, key holder away) */
	CL_NSM_INTERNAL = 4,     /* anything else */
};

/* A parsed request. The byte fields point into the bytes parsed (no copy);
 * a length of 0 means absent. */
typedef struct cl_nsm_req {
	enum cl_nsm_type type;
	const uint8_t *nonce, *user_data, *public_key, *label;
	size_t nonce_len, user_data_len, public_key_len, label_len;
} cl_nsm_req;

/* How long the frame starting at p is, given have bytes: *total = 0 while
 * the 4-byte header is incomplete, else 4 + n. CL_ETOOBIG (n over
 * CL_NSM_REQ_MAX) or CL_EINVAL (n = 0) with a detail fit for the enclave. */
CL_MUST_CHECK cl_err cl_nsm_frame_len(const uint8_t *p, size_t have, size_t *total);
/* Parses one request payload (the n bytes after the length): the type, then
 * its fields within their caps, read to the last byte. Never reads past n,
 * allocates nothing. CL_EINVAL with a detail (never quoting the input). */
CL_MUST_CHECK cl_err cl_nsm_parse(const uint8_t *p, size_t n, cl_nsm_req *out);
/* Appends one answer frame (status, body[0..n)) to out. */
CL_MUST_CHECK cl_err cl_nsm_format(enum cl_nsm_status status, const void *body, size_t n, cl_buf *out);
/* Appends a request frame for r to out (the client side: the SDK, tests). */
CL_MUST_CHECK cl_err cl_nsm_encode(const cl_nsm_req *r, cl_buf *out);

/* Queries for the gate (process -> gate), like cl_guestif_q: */
typedef struct cl_nsm_q {
	char enclave[64];
	cl_nsm_req req; /* pointing into the message decoded */
} cl_nsm_q;
/* Encodes (into out, reset first) / decodes the query of type
 * CL_GUESTIF_Q_ATTEST or CL_GUESTIF_Q_SEAL: str enclave, then bytes nonce,
 * user_data, public_key (each within its cap, empty = absent), or bytes
 * label (1..64). The decoder checks the enclave id and every cap; the ipc
 * layer checks the payload was read to its end. */
CL_MUST_CHECK cl_err cl_nsm_q_encode(const char *enclave, const cl_nsm_req *r, cl_buf *out);
CL_MUST_CHECK cl_err cl_nsm_q_decode(uint16_t type, cl_buf *in, cl_nsm_q *q);

/* ---- protocol (guestif_proto.c): pure, no I/O ---- */

typedef enum cl_guestif_verb {
	CL_GUESTIF_LIST = 1,
	CL_GUESTIF_READ = 2,
	CL_GUESTIF_WRITE = 3,
} cl_guestif_verb;

typedef struct cl_guestif_req {
	cl_guestif_verb verb;
	char addr[FWG_ADDR_MAX + 1]; /* READ, WRITE: [0-9A-Za-z:.-]{1,31} */
	fwg_region region;           /* WRITE */
	uint64_t offset;             /* WRITE: offset + len - 1 fits in 64 bits */
	uint8_t data[CL_GUESTIF_WRITE_MAX];
	size_t len; /* WRITE: 1..CL_GUESTIF_WRITE_MAX */
} cl_guestif_req;

/* Parses one request line (len bytes, without its '\n'; one trailing '\r'
 * is tolerated). Tokens are separated by single spaces; verbs and region
 * names are case-sensitive; offset is decimal or 0x-hex; data is an even
 * number of hex digits. Never reads past len, allocates nothing. On failure
 * returns CL_EINVAL (CL_ETOOBIG for an over-long line) with a detail fit to
 * send back to the guest (it never quotes the input); *out is then unspecified. */
CL_MUST_CHECK cl_err cl_guestif_parse(const char *line, size_t len, cl_guestif_req *out);

/* Stable lower-case name of a region ("firmware", "config", "rom"; "?" otherwise). */
const char *cl_guestif_region_name(fwg_region r);

/* The identity object {"addr","name","vendor","class","version","locked"}
 * (vendor/class as UUID strings). New reference, NULL when out of memory. */
json_t *cl_guestif_identity_json(const fwg_identity *id);
/* Appends "OK <compact JSON>\n" to out. */
CL_MUST_CHECK cl_err cl_guestif_format_ok(const json_t *body, cl_buf *out);
/* Appends "ERR <code> <msg>\n" to out; msg is cut at 200 bytes and any
 * byte outside printable ASCII becomes '?'. code must be [a-z_]+. */
CL_MUST_CHECK cl_err cl_guestif_format_err(const char *code, const char *msg, cl_buf *out);

/* A token bucket (rate tokens per second, at most burst stored). Zero-
 * initialise; the first take fills it. */
typedef struct cl_guestif_bucket {
	uint64_t nano_tokens; /* tokens x 1e9 */
	uint64_t last_ns;
	bool started;
} cl_guestif_bucket;
/* Takes one token at time now_ns (monotonic); false when empty. rate >= 1,
 * 1 <= burst <= 1000000. A clock that goes backwards adds nothing. */
bool cl_guestif_bucket_take(cl_guestif_bucket *b, uint64_t now_ns, uint32_t rate, uint32_t burst);

/* ---- the two processes ----
 *
 *   enclave ──fw.sock──► guest interface process ──"query" channel──► agent (gate)
 *                        (uid CL_GUESTIF_UID, no caps,   LIST/READ/WRITE     validates, rate-limits,
 *                         no keys, no token, no files) ◄──"control" channel── calls fwg_guest_*
 *                                                        ADD (+ listening socket)/REMOVE/STATS
 *
 * The agent side (guestif_gate.c, "the gate") makes BASE/ID, binds
 * BASE/ID/fw.sock and hands the listening socket to the process, which only
 * accepts on it, parses the guests' lines and asks the gate. The gate is
 * the authority: it checks every query as hostile (a known enclave, the
 * address syntax, region, offset + length), applies the write rate limits
 * and calls the device model, which audits. Messages: guestif_ipc.c,
 * docs/guest-interface.md "Inside the host". */

/* Limits; 0 = the default above. A test seam for small values, also a knob.
 * The write rates are enforced by the gate; the rest by the process. */
typedef struct cl_guestif_opts {
	uint32_t write_rate, write_burst;
	uint32_t nsm_rate, nsm_burst; /* secure-module requests per enclave */
	uint32_t host_rate, host_burst;
	uint32_t idle_ms;
	uint32_t per_enclave, max_conns;
} cl_guestif_opts;

typedef struct cl_guestif_stats {
	uint64_t requests;          /* complete request lines answered */
	uint64_t writes_audited;    /* WRITEs passed to fwg_guest_write */
	uint64_t writes_suppressed; /* WRITEs refused rate_limited (not audited) */
	uint64_t conns_accepted, conns_refused, idle_closed;
} cl_guestif_stats;

/* ---- the channels (guestif_ipc.c): messages, pure encoders and decoders ---- */

#define CL_GUESTIF_IPC_MAX (20u << 10) /* every message of both channels fits (a document answer too) */
#define CL_GUESTIF_IPC_TIMEOUT_MS 5000
#define CL_GUESTIF_ID_MAX 63      /* enclave ids: [a-z0-9-]{1,63} */

/* Queries, process -> gate (cl_guestif_q). */
enum cl_guestif_query {
	CL_GUESTIF_Q_LIST = 1,  /* str enclave                      -> u8 n, n x identity */
	CL_GUESTIF_Q_READ = 2,  /* str enclave, str addr            -> identity (refused not_found) */
	CL_GUESTIF_Q_WRITE = 3, /* str enclave, str addr, u8 region, u64 offset, bytes[1..240] data
				   -> u8 verdict, u64 audit_seq, u32 rate, u32 burst */
	CL_GUESTIF_Q_ATTEST = 4, /* str enclave, bytes nonce, bytes user_data, bytes public_key -> bytes document
				    (refused: limit = rate-limited, unavailable = cannot attest yet) */
	CL_GUESTIF_Q_SEAL = 5,   /* str enclave, bytes[1..64] label -> bytes[32] key (refused as ATTEST) */
};
/* Control, gate -> process. */
enum cl_guestif_control {
	CL_GUESTIF_C_ADD = 1,    /* str enclave, u8 sockets (1 fw.sock, 2 nsm.sock) + one listening
				    descriptor per bit, fw first -> (empty) */
	CL_GUESTIF_C_REMOVE = 2, /* str enclave -> (empty) */
	CL_GUESTIF_C_STATS = 3,  /* str enclave ("" = all) -> 6 x u64 (cl_guestif_stats order) */
};

typedef enum cl_guestif_verdict {
	CL_GUESTIF_AUDITED = 1,      /* refused no_mapping, audit record audit_seq */
	CL_GUESTIF_LIMITED = 2,      /* over the enclave's rate (rate/burst): not audited */
	CL_GUESTIF_LIMITED_HOST = 3, /* over the host's rate (rate/burst): not audited */
	CL_GUESTIF_NOT_AUDITED = 4,  /* refused no_mapping, but the audit record could not be written */
} cl_guestif_verdict;

typedef struct cl_guestif_write_res {
	cl_guestif_verdict verdict;
	uint64_t audit_seq;
	uint32_t rate, burst;
} cl_guestif_write_res;

/* A decoded query: the enclave it came from (as the process says) and the
 * request (verb LIST/READ/WRITE; for LIST only the verb). */
typedef struct cl_guestif_q {
	char enclave[CL_GUESTIF_ID_MAX + 1];
	cl_guestif_req req;
} cl_guestif_q;

/* True if s is an enclave id the guest interface serves ([a-z0-9-]{1,63}). */
bool cl_guestif_id_valid(const char *s);
/* True if s is a device address of the line syntax (1..31 of [0-9A-Za-z:.-]). */
bool cl_guestif_addr_valid(const char *s);

/* Encodes query q (its req.verb picks the type) into out (reset first). */
CL_MUST_CHECK cl_err cl_guestif_q_encode(const cl_guestif_q *q, cl_buf *out);
/* Decodes a query payload of the given type into *q, checking the enclave
 * id, the address syntax, the region, 1..CL_GUESTIF_WRITE_MAX data bytes and
 * that offset + length - 1 fits in 64 bits. Reads nothing past the buffer,
 * allocates nothing; the ipc layer then checks the payload was read to its
 * end. CL_EINVAL with a detail on any failure (never quoting the input). */
CL_MUST_CHECK cl_err cl_guestif_q_decode(uint16_t type, cl_buf *in, cl_guestif_q *q);
/* Identity: str addr, str name, bytes[16] vendor, bytes[16] class, str version, u8 locked. */
CL_MUST_CHECK cl_err cl_guestif_identity_put(cl_buf *out, const fwg_identity *id);
/* Reads one identity, checking each field's syntax (an untrusted peer may
 * have written it). */
CL_MUST_CHECK cl_err cl_guestif_identity_get(cl_buf *in, fwg_identity *id);
CL_MUST_CHECK cl_err cl_guestif_write_res_put(cl_buf *out, const cl_guestif_write_res *r);
CL_MUST_CHECK cl_err cl_guestif_write_res_get(cl_buf *in, cl_guestif_write_res *r);
CL_MUST_CHECK cl_err cl_guestif_stats_put(cl_buf *out, const cl_guestif_stats *st);
CL_MUST_CHECK cl_err cl_guestif_stats_get_wire(cl_buf *in, cl_guestif_stats *st);

/* ---- the process (guestif.c) ---- */

#define CL_GUESTIF_UID 0x3fffff01u /* default uid and gid of the process (above real users, below enclaves) */

typedef struct cl_guestif_proc_opts {
	cl_guestif_opts limits;
	bool switch_user; /* become uid:gid (started as root) */
	uid_t uid;
	gid_t gid;
	bool no_harden;   /* tests that inspect the process only */
	enum cl_seccomp_action on_violation;
} cl_guestif_proc_opts;

/* The guest interface process, forked by cloister-host's supervisor (or by
 * cl_guestif_start): `_exit(cl_guestif_main(fd_query, fd_control, &o))`.
 * Closes every descriptor but stdio and its two channels, becomes uid:gid
 * with no capabilities, hardens (undumpable, no_new_privs, Landlock with no
 * file-system or TCP right, seccomp cl_role_guestif killing the process on
 * anything else), then serves: listening sockets arrive with ADD. Returns
 * the exit status (0 when the gate closed the control channel, 1 after
 * logging why). */
int cl_guestif_main(int fd_query, int fd_control, const cl_guestif_proc_opts *o);

/* ---- the gate (guestif_gate.c), in the agent ---- */

typedef struct cl_guestif cl_guestif;

/* What the gate asks the agent for the secure module's requests (the
 * agent's attestation document builder and the key holder's sealing). Both
 * run on the gate's thread and must be bounded in time. */
typedef struct cl_guestif_nsm_hooks {
	/* The document of enclave id carrying r's nonce/user_data/public_key
	 * (absent when 0 long): *doc malloc'd (the caller frees), *len. CL_EUNAVAIL
	 * when the host cannot attest yet; anything else is internal. */
	cl_err (*attest)(void *ctx, const char *id, const cl_nsm_req *r, uint8_t **doc, size_t *len);
	/* The 32-byte sealing key of enclave id for label (docs/guest-interface.md).
	 * The caller wipes key. */
	cl_err (*seal_key)(void *ctx, const char *id, const char *tenant, const uint8_t *label, size_t n,
			   uint8_t key[CL_NSM_KEY_LEN]);
	void *ctx;
} cl_guestif_nsm_hooks;

/* Starts the gate for host h (borrowed: must outlive the gate; NULL = no
 * firmware guard: enclaves then get nsm.sock only) with enclave
 * directories under base (created 0711 if missing; copied), on the channels
 * of a running guest interface process (fd_query: the gate answers on it;
 * fd_control: the gate asks on it; both owned by the gate from now on, also
 * on failure). A thread answers the queries. The device addresses are read
 * once here (a host's devices are fixed at manufacture). */
CL_MUST_CHECK cl_err cl_guestif_gate_new(fwg_host *h, const char *base, const cl_guestif_opts *opts, int fd_query,
					 int fd_control, cl_guestif **out);
/* Sets the secure module's hooks (copied; NULL = none: its requests are
 * answered unavailable). */
void cl_guestif_set_nsm(cl_guestif *g, const cl_guestif_nsm_hooks *hooks);
/* Records the tenant of served enclave id (the agent's desired set names
 * it; PCR3 measured the same at launch). SEAL_KEY is answered unavailable
 * until it is known. An unknown id or a bad tenant id is ignored. */
void cl_guestif_set_tenant(cl_guestif *g, const char *id, const char *tenant);
/* cl_guestif_gate_new with a guest interface process of its own: forked
 * here (cl_guestif_main, under CL_GUESTIF_UID when running as root),
 * stopped and reaped by cl_guestif_stop. For tests and tools. */
CL_MUST_CHECK cl_err cl_guestif_start(fwg_host *h, const char *base, const cl_guestif_opts *opts,
				      cl_guestif **out);
/* A new guest interface process (the old one died): takes its channels
 * (owned from now on) and hands it every served enclave's socket again.
 * Connections made meanwhile waited in the sockets' backlogs. */
CL_MUST_CHECK cl_err cl_guestif_reattach(cl_guestif *g, int fd_query, int fd_control);
/* True while the process answers (its query channel is open). */
bool cl_guestif_attached(cl_guestif *g);
/* The pid of the process cl_guestif_start forked (tests); -1 otherwise. */
pid_t cl_guestif_child_pid(cl_guestif *g);
/* Serves enclave id: makes BASE/ID (0755, root's) and binds BASE/ID/nsm.sock
 * and, with a firmware guard, BASE/ID/fw.sock (0666: the enclave's root is
 * an unprivileged host uid; only that enclave has the directory mounted),
 * replacing sockets left by an earlier agent, and hands them to the process
 * (if it is down, at its reattach).
 * dir (n bytes) receives BASE/ID when not NULL. Adding an id already served
 * re-binds its socket (its counters are kept). Errors leave nothing new behind. */
CL_MUST_CHECK cl_err cl_guestif_add(cl_guestif *g, const char *id, char *dir, size_t n);
/* cl_guestif_add without the hand-over: the directory and the listening
 * sockets are in place (an enclave's connect waits in their backlog), and
 * cl_guestif_hand_over gives them to the process (a round trip to it, which
 * a launch does while its sandbox starts). cl_guestif_remove undoes either. */
CL_MUST_CHECK cl_err cl_guestif_prepare(cl_guestif *g, const char *id, char *dir, size_t n);
/* Hands id's sockets (from cl_guestif_prepare) to the process; nothing if id
 * is not served. */
void cl_guestif_hand_over(cl_guestif *g, const char *id);
/* Stops serving id: its socket and connections are closed and BASE/ID is
 * removed. An unknown id only has its directory removed. */
void cl_guestif_remove(cl_guestif *g, const char *id);
/* Removes BASE/ID for every ID for which keep(id, ctx) is false (stale dirs
 * of enclaves that no longer exist). Returns the number removed. */
size_t cl_guestif_prune(const char *base, bool (*keep)(const char *id, void *ctx), void *ctx);
/* Stops the thread, closes every socket and channel and frees g (NULL ok).
 * Directories and socket files stay: enclaves keep running and the next
 * agent re-binds. A process of cl_guestif_start's is waited for. */
void cl_guestif_stop(cl_guestif *g);
/* Counters of one enclave (id) or of the whole server (id NULL), asked of
 * the process; zeros for an unknown id or when it does not answer. */
void cl_guestif_stats_get(cl_guestif *g, const char *id, cl_guestif_stats *out);

/* The gate's query handlers, for fuzz/fuzz_guestif_ipc.c: an ipc server of
 * g's (decode + validate + run) fed bytes with cl_ipc_server_dispatch. */
void cl_guestif_gate_server(cl_guestif *g, cl_ipc_server *s);

/* ---- the agent's use of it (agent.c), called from agent_loop.c ---- */

struct cl_agent;
/* Starts ag->guestif on DATA/guest (every enclave gets nsm.sock; fw.sock
 * too when the firmware guard is open, ag->fw) and prunes the directories
 * of enclaves with no sandbox. */
CL_MUST_CHECK cl_err cl_agent_guest_start(struct cl_agent *ag);
/* Once the attestation state (ag->att) exists: the secure module's hooks
 * (until then its requests are answered unavailable). */
void cl_agent_guest_nsm_ready(struct cl_agent *ag);
/* The tenant of enclave id, from the desired set (for SEAL_KEY). */
void cl_agent_guest_tenant(struct cl_agent *ag, const char *id, const char *tenant);
/* Before a launch (or when adopting): serves enclave id and returns the
 * directory to put in cl_sandbox_spec.guest_dir (written to dir[n]); NULL
 * without a gate, or on failure (logged: the enclave then runs without
 * /dev/cloister). dir may be NULL when adopting. */
const char *cl_agent_guest_add(struct cl_agent *ag, const char *id, char *dir, size_t n);
/* As cl_agent_guest_add for a launch: the sockets are bound, and handed to
 * the guest interface process by cl_agent_guest_hand_over (which a launch
 * calls while its sandbox starts: cl_sandbox_spec.while_starting). */
const char *cl_agent_guest_prepare(struct cl_agent *ag, const char *id, char *dir, size_t n);
void cl_agent_guest_hand_over(struct cl_agent *ag, const char *id);
/* After a destroy or a failed launch: stops serving id and removes its
 * directory (also without a running server). */
void cl_agent_guest_remove(struct cl_agent *ag, const char *id);
/* At exit: stops the server (sockets stay for the next start). */
void cl_agent_guest_stop(struct cl_agent *ag);

#endif
