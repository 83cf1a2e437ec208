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
 * guestif.c is the server thread (poll over one listening socket per enclave
 * plus bounded client connections).
 */
#ifndef CL_HOST_GUESTIF_H
#define CL_HOST_GUESTIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/err.h"
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

/* ---- the server (guestif.c) ---- */

/* Limits; 0 = the default above. A test seam for small values, also a knob. */
typedef struct cl_guestif_opts {
	uint32_t write_rate, write_burst;
	uint32_t host_rate, host_burst;
	uint32_t idle_ms;
	uint32_t per_enclave, max_conns;
} cl_guestif_opts;

typedef struct cl_guestif cl_guestif;

/* Starts the server thread for host h (borrowed: must outlive the server)
 * with enclave directories under base (created 0711 if missing; copied).
 * The device addresses are read once here (a host's devices are fixed at
 * manufacture). *out is freed with cl_guestif_stop. */
CL_MUST_CHECK cl_err cl_guestif_start(fwg_host *h, const char *base, const cl_guestif_opts *opts,
				      cl_guestif **out);
/* Serves enclave id: makes BASE/ID (0755, root's) and binds BASE/ID/fw.sock
 * (0666: the enclave's root is an unprivileged host uid; only that enclave
 * has the directory mounted), replacing a socket left by an earlier agent.
 * dir (n bytes) receives BASE/ID when not NULL. Adding an id already served
 * re-binds its socket (its counters are kept). Errors leave nothing new behind. */
CL_MUST_CHECK cl_err cl_guestif_add(cl_guestif *g, const char *id, char *dir, size_t n);
/* Stops serving id: its socket and connections are closed and BASE/ID is
 * removed. An unknown id only has its directory removed. */
void cl_guestif_remove(cl_guestif *g, const char *id);
/* Removes BASE/ID for every ID for which keep(id, ctx) is false (stale dirs
 * of enclaves that no longer exist). Returns the number removed. */
size_t cl_guestif_prune(const char *base, bool (*keep)(const char *id, void *ctx), void *ctx);
/* Stops the thread, closes every socket and frees g (NULL ok). Directories
 * and socket files stay: enclaves keep running and the next agent re-binds. */
void cl_guestif_stop(cl_guestif *g);

typedef struct cl_guestif_stats {
	uint64_t requests;          /* complete request lines answered */
	uint64_t writes_audited;    /* WRITEs passed to fwg_guest_write */
	uint64_t writes_suppressed; /* WRITEs refused rate_limited (not audited) */
	uint64_t conns_accepted, conns_refused, idle_closed;
} cl_guestif_stats;
/* Counters of one enclave (id) or of the whole server (id NULL); zeros for
 * an unknown id. */
void cl_guestif_stats_get(cl_guestif *g, const char *id, cl_guestif_stats *out);

/* ---- the agent's use of it (agent.c), called from agent_loop.c ---- */

struct cl_agent;
/* With the firmware guard open (ag->fw), starts ag->guestif on DATA/guest
 * and prunes the directories of enclaves with no sandbox. No-op without it. */
CL_MUST_CHECK cl_err cl_agent_guest_start(struct cl_agent *ag);
/* Before a launch (or when adopting): serves enclave id and returns the
 * directory to put in cl_sandbox_spec.guest_dir (written to dir[n]); NULL
 * without the guard, or on failure (logged: the enclave then runs without
 * /dev/cloister). dir may be NULL when adopting. */
const char *cl_agent_guest_add(struct cl_agent *ag, const char *id, char *dir, size_t n);
/* After a destroy or a failed launch: stops serving id and removes its
 * directory (also without a running server). */
void cl_agent_guest_remove(struct cl_agent *ag, const char *id);
/* At exit: stops the server (sockets stay for the next start). */
void cl_agent_guest_stop(struct cl_agent *ag);

#endif
