/* agent.h — the host agent: flags, registration, the sync loop, reconciliation.
 *
 * The agent is split by area:
 *   agent_args.c       command line -> cl_agent_config (pure)
 *   agent_reconcile.c  desired set + actual set -> actions (pure)
 *   agent_proto.c      JSON of register/sync requests and answers (pure)
 *   agent_state.c      DATA/host.json, capabilities, actual-state collection
 *   agent_image.c      image fetch, digest check and cache
 *   agent_ops*.c       channel ops: one event-loop thread, per-tenant budgets, deadlines
 *   agent_fwops.c      the firmware op journal (each op id runs once, across restarts)
 *   agent.c            cl_agent_main: startup adoption, sync loop, signals
 * See docs/host.md for the behaviour and docs/internals.md for the protocol.
 */
#ifndef CL_HOST_AGENT_H
#define CL_HOST_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <limits.h>

#include "common/err.h"
#include "common/proto.h"

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

/* ---- flags (agent_args.c) ---- */

#define CL_AGENT_ID_MAX (CL_PROTO_ID_LEN_MAX + 1) /* ids and names: at most 63 chars + NUL */
#define CL_AGENT_MAX_LATENCY 32

typedef struct cl_agent_latency {
	char resource[CL_AGENT_ID_MAX];
	uint32_t latency_us;
	uint32_t hops;
} cl_agent_latency;

typedef struct cl_agent_config {
	/* Strings point into argv (not copied). NULL when not given. */
	const char *control, *ca, *data, *join_token, *name, *zone, *rack, *init;
	cl_agent_latency latency[CL_AGENT_MAX_LATENCY];
	size_t nlatency;
	uint64_t memory_mib;      /* 0 = what the machine has */
	uint32_t cpus;            /* 0 = what the machine has */
	uint32_t poll_timeout_ms; /* long-poll wait asked of the control plane */
	const char *fw_root;      /* --fw-root PUB.pem: run the firmware guard (NULL = none) */
	const char *join_token_file; /* --join-token-file PATH (NULL = none) */
	bool help;
} cl_agent_config;

/* Parses `cloister-host` flags (argv[0] is the program). Accepts `--flag value`
 * and `--flag=value`. On success *cfg is filled (defaults for what is not
 * given); with --help, cfg->help is set and the other checks are skipped.
 * On failure returns CL_EINVAL with a detail naming the flag; *cfg is then
 * unspecified. Never echoes the join token in a detail. */
CL_MUST_CHECK cl_err cl_agent_parse_args(int argc, char **argv, cl_agent_config *cfg);
/* Parses one `RESOURCE=US[:HOPS]` latency entry into *out. */
CL_MUST_CHECK cl_err cl_agent_parse_latency(const char *s, cl_agent_latency *out);
/* True if s is 1..63 chars of [a-z0-9-]: enclave, image, op and host ids
 * (the control plane's id rule). */
bool cl_agent_valid_id(const char *s);
/* True if s matches [a-z0-9][a-z0-9-]{0,62}: host name, zone, rack and
 * latency resource names (the control plane's name rule). */
bool cl_agent_valid_name(const char *s);
/* The --help text. Static string. */
const char *cl_agent_usage(void);

/* The join token reaches the agent in a file or the environment: never on
 * the command line, where every user sees it (ps, /proc/PID/cmdline) and
 * could race the host to register with it. --join-token still works, with
 * a warning; the agent wipes it from its argv. */
#define CL_AGENT_JOIN_ENV "CLOISTER_JOIN_TOKEN"
#define CL_AGENT_JOIN_TOKEN_MAX 256  /* incl. NUL */
#define CL_AGENT_JOIN_FILE_MAX 4096
/* Checks the text of a join token (a token file's content, or the
 * environment variable's value): surrounding whitespace (a trailing newline)
 * is ignored, the rest must be 1..255 printable ASCII characters without
 * spaces. Copies it into out (outlen >= CL_AGENT_JOIN_TOKEN_MAX). Pure.
 * CL_EINVAL with a detail that never quotes the text. */
CL_MUST_CHECK cl_err cl_agent_join_token_parse(const char *text, size_t len, char *out, size_t outlen);
/* The join token from the one source given: cfg->join_token_file (a regular
 * file owned by this user or root that no other user may read or write, at
 * most CL_AGENT_JOIN_FILE_MAX bytes: anything else is refused), env_value
 * (CL_AGENT_JOIN_ENV; NULL or "" = not given) or cfg->join_token. out[0] ==
 * 0 when none is given. More than one source: CL_EINVAL. The token is never
 * in a detail; the caller wipes out. Reads the file: the one function of
 * agent_args.c with I/O. */
CL_MUST_CHECK cl_err cl_agent_join_token_resolve(const cl_agent_config *cfg, const char *env_value, char *out,
						 size_t outlen);

/* ---- reconciliation (agent_reconcile.c) ---- */

typedef struct cl_agent_desired {
	char id[CL_AGENT_ID_MAX];
	char image[CL_AGENT_ID_MAX];
	char image_sha384[97]; /* lower-case hex */
	uint64_t memory_mib;
	uint32_t cpus;
	bool running; /* desired "running" (true) or "stopped" (false) */
} cl_agent_desired;

typedef struct cl_agent_actual {
	char id[CL_AGENT_ID_MAX];
	bool alive;   /* shim reachable (cl_sandbox_inspect succeeded) */
	bool running; /* application still running */
	bool frozen;
	int exit_status;
	uint64_t memory_bytes;
} cl_agent_actual;

enum cl_agent_action_kind {
	CL_ACT_DESTROY = 1,
	CL_ACT_LAUNCH,
	CL_ACT_FREEZE,
	CL_ACT_THAW,
	CL_ACT_SET_MEMORY,
};

typedef struct cl_agent_action {
	enum cl_agent_action_kind kind;
	char id[CL_AGENT_ID_MAX];
	size_t desired; /* index into the desired list (LAUNCH, SET_MEMORY, FREEZE, THAW) */
	uint64_t memory_bytes; /* SET_MEMORY: new limit */
} cl_agent_action;

/* Computes what to do to turn `actual` into `desired`. Pure: no I/O.
 *  - an actual sandbox whose id is not desired, or whose shim is dead, is destroyed;
 *  - a desired id with no sandbox is launched, unless its id is in `failed`
 *    (a launch that already failed is not retried until the id leaves the
 *    desired set) — an id present in `actual` is never launched;
 *  - for a live, running application: desired stopped and not frozen -> freeze,
 *    desired running and frozen -> thaw; a memory limit that differs -> set_memory;
 *  - duplicate ids (in either list) count once: the first desired entry wins.
 * Destroys come first, then memory changes, freezes/thaws, then launches.
 * *out is malloc'd (caller frees; NULL when *n == 0). */
CL_MUST_CHECK cl_err cl_agent_reconcile(const cl_agent_desired *desired, size_t ndesired,
					const cl_agent_actual *actual, size_t nactual,
					const char *const *failed, size_t nfailed, cl_agent_action **out,
					size_t *n);

/* The sync loop's spin guard (agent_reconcile.c, pure): the count of idle
 * instant rounds after one more round. A round counts only if it brought
 * nothing new (!moved) and came back within CL_AGENT_QUICK_NS; anything else
 * resets the count. At CL_AGENT_QUICK_ROUNDS the loop sleeps 50 ms. */
#define CL_AGENT_QUICK_NS 20000000u
#define CL_AGENT_QUICK_ROUNDS 5
unsigned cl_agent_quick_rounds(unsigned quick, bool moved, uint64_t round_ns);

/* ---- protocol JSON (agent_proto.c) ---- */

enum cl_agent_op_kind { CL_OP_SEND = 1, CL_OP_RECV, CL_OP_LOGS, CL_OP_EOF };

typedef struct cl_agent_op {
	char op[CL_AGENT_ID_MAX];
	char enclave[CL_AGENT_ID_MAX];
	char tenant[CL_AGENT_ID_MAX]; /* whose budget it counts against ("" = not given) */
	enum cl_agent_op_kind kind;
	char *data;        /* base64 text for send (malloc'd, may be NULL) */
	uint32_t max;      /* recv/logs: byte cap, <= CL_FRAME_MAX */
	uint32_t wait_ms;  /* recv: wait, <= CL_AGENT_OP_WAIT_MAX */
	uint32_t deadline_ms; /* ms left, when the answer was built, until the result is useless */
} cl_agent_op;

/* The agent's names for proto.h's caps (common/proto.h). */
#define CL_AGENT_OP_WAIT_MAX CL_PROTO_WAIT_MAX_MS
/* "deadline_ms" is capped at this; an op without one gets wait_ms + CL_AGENT_OP_GRACE_MS. */
#define CL_AGENT_OP_DEADLINE_MAX 600000u
#define CL_AGENT_OP_GRACE_MS 15000u
/* Bytes of data one recv/logs op returns at most: its base64 must fit, with
 * the JSON around it, in the control plane's request-body limit. */
#define CL_AGENT_OP_DATA_MAX CL_PROTO_RECV_MAX

/* Firmware op kinds of the sync answer's "firmware_ops" (docs/internals.md). */
enum cl_agent_fw_kind {
	CL_FWOP_UPDATE = 1,
	CL_FWOP_QUEUE,
	CL_FWOP_POWER_CYCLE,
	CL_FWOP_CLEAR_QUARANTINE,
	CL_FWOP_WINDOW, /* root-signed window policy document */
	CL_FWOP_TRUST,  /* trust-root document */
	CL_FWOP_REVERT,
};

#define CL_AGENT_FW_ADDR_MAX 32  /* bus address incl. NUL (FWG_ADDR_MAX + 1) */
#define CL_AGENT_FW_REASON_MAX 128
#define CL_AGENT_FW_OPS_MAX 4096 /* firmware ops per answer (more rejects the answer) */
#define CL_AGENT_FW_AUDIT_MAX 256 /* audit records shipped per sync */

typedef struct cl_agent_fw_op {
	char op[CL_AGENT_ID_MAX]; /* "fw-..." */
	enum cl_agent_fw_kind kind;
	char device[CL_AGENT_FW_ADDR_MAX]; /* "" for power_cycle / clear_quarantine */
	char *data;                        /* base64 (update, queue, window, trust); malloc'd or NULL */
	char reason[CL_AGENT_FW_REASON_MAX]; /* clear_quarantine: the operator's reason */
} cl_agent_fw_op;

typedef struct cl_agent_answer {
	int64_t generation;
	bool has_fw_ack;
	int64_t fw_audit_ack; /* firmware_audit_ack: highest audit seq the control plane stored */
	bool has_fw_anchor;   /* firmware_audit_anchor: that record's (seq, hash); seq 0 = none */
	uint64_t fw_anchor_seq;
	uint8_t fw_anchor_hash[32];
	cl_agent_fw_op *fw_ops; /* malloc'd; each op's data malloc'd */
	size_t nfw_ops;
	cl_agent_desired *desired; /* malloc'd */
	size_t ndesired;
	cl_agent_op *ops; /* malloc'd; each op's data malloc'd */
	size_t nops;
	char **bad_ops; /* ids of ops (channel or firmware) that were malformed (answer them with an error) */
	size_t nbad_ops;
	char **cancel; /* ids of channel ops whose caller went away (malloc'd, valid ids only) */
	size_t ncancel;
} cl_agent_answer;

/* Parses a sync answer. The desired set is all-or-nothing: any malformed
 * enclave entry rejects the whole answer (CL_EINVAL, nothing to apply), so a
 * bad answer can never make the agent destroy what runs. A malformed op (in
 * "ops" or "firmware_ops") with a usable id lands in bad_ops; without one it
 * is dropped. An op's "tenant" must be an id when present; its
 * "deadline_ms" an integer >= 0 (capped at CL_AGENT_OP_DEADLINE_MAX). In
 * "cancel" (op ids), entries that are not ids are skipped; a "cancel" that
 * is not an array of at most 4096 rejects the answer. A firmware_audit_ack
 * that is present must be an integer >= 0, a firmware_audit_anchor
 * {"seq": >= 0, "hash": 64 lower-case hex}. */
CL_MUST_CHECK cl_err cl_agent_answer_parse(const char *json, size_t len, cl_agent_answer *out);
/* The firmware part of a parsed answer object (root): firmware_audit_ack and
 * firmware_ops into out (called by cl_agent_answer_parse; appends to
 * out->bad_ops). Errors leave partial allocations in out for
 * cl_agent_answer_free. */
CL_MUST_CHECK cl_err cl_agent_fw_answer_parse(json_t *root, cl_agent_answer *out);
/* Frees what cl_agent_answer_parse allocated and zeroes *a. */
void cl_agent_answer_free(cl_agent_answer *a);
/* Parses the register answer into host_id / host_token (caller buffers). */
CL_MUST_CHECK cl_err cl_agent_register_parse(const char *json, size_t len, char *host_id, size_t idlen,
					     char *token, size_t toklen);
/* Extracts "error.message" (or the raw text, truncated) of an error answer into out. */
void cl_agent_error_message(const char *json, size_t len, char *out, size_t outlen);

/* ---- host state (agent_state.c) ---- */

/* An error to report for an enclave id. launch=true: the launch failed and the
 * enclave does not exist (reported as state "failed", not relaunched while
 * desired); launch=false: a later step (memory, freeze) failed on a live one. */
typedef struct cl_agent_failure {
	char id[CL_AGENT_ID_MAX];
	char error[256];
	bool launch;
	uint64_t retry_at_ns; /* launch: when to try again (monotonic), 0 = not while desired */
} cl_agent_failure;

/* A launch that failed because the host's disk is full is reported at once
 * and tried again this long after (space may have been freed meanwhile). */
#define CL_AGENT_NOSPACE_RETRY_MS 10000u

/* Lists DIR/sandboxes and inspects each: the actual set. A sandbox whose shim
 * is gone has alive=false. *out is malloc'd (caller frees). */
CL_MUST_CHECK cl_err cl_agent_collect_actual(const char *dir, cl_agent_actual **out, size_t *n);
/* As cl_agent_collect_actual, but a listed sandbox whose id is in known[]
 * (nknown entries) takes that entry instead of asking its shim: the agent
 * launched it moments ago and the launch returned at READY. An id in known[]
 * that is not listed is not reported (the listing stays the truth about
 * what exists). */
CL_MUST_CHECK cl_err cl_agent_collect_actual_known(const char *dir, const cl_agent_actual *known, size_t nknown,
						   cl_agent_actual **out, size_t *n);
/* The capabilities object sent with register and sync (new reference, or NULL
 * on allocation failure). memory_mib/cpus are the resolved values. */
json_t *cl_agent_capabilities(const cl_agent_config *cfg, uint64_t memory_mib, uint32_t cpus);
/* The "enclaves" array of a sync request: every actual sandbox (running,
 * stopped, exited) plus every launch failure (failed). New reference or NULL. */
json_t *cl_agent_enclaves_json(const cl_agent_actual *a, size_t n, const cl_agent_failure *f, size_t nf);

typedef struct cl_agent_identity {
	char host_id[128];
	char host_token[256]; /* a credential: never logged, wiped on exit */
} cl_agent_identity;

/* Loads DIR/host.json. CL_ENOTFOUND if absent; CL_EINVAL if malformed. */
CL_MUST_CHECK cl_err cl_agent_identity_load(const char *dir, cl_agent_identity *id);
/* Saves DIR/host.json atomically with mode 0600. */
CL_MUST_CHECK cl_err cl_agent_identity_save(const char *dir, const cl_agent_identity *id);

/* ---- channel ops (agent_ops.c, agent_ops_run.c, agent_ops_post.c) ----
 *
 * One engine thread runs a libevent loop: each op is a non-blocking shim
 * connection and a deadline timer (a parked recv wait holds no thread), and
 * results are posted with libcurl's multi interface on the same loop.
 */

#define CL_AGENT_OPS_MAX 1024        /* ops held at once, every tenant (beyond: CL_EUNAVAIL) */
#define CL_AGENT_OPS_TENANT_MAX 64   /* ops in flight per tenant on this host (beyond: too_many_requests) */
#define CL_AGENT_OPS_ENCLAVE_CONNS 8 /* shim connections per enclave: the shim serves 16 clients,
					and the sync loop's STATUS probes must always find a slot */
#define CL_AGENT_OPS_PENDING_MAX 256 /* undelivered results kept for the next sync */

typedef struct cl_agent_pool cl_agent_pool;

/* Starts the ops engine thread. Results are posted to control (CA ca, bearer
 * token) as POST /v1/hosts/{host_id}/ops/{op}; control NULL posts nothing
 * (every result waits for cl_agent_pool_take_results). Strings are copied.
 * *out is freed with cl_agent_pool_free. */
CL_MUST_CHECK cl_err cl_agent_pool_new(const char *control, const char *ca, const char *token,
				       const char *host_id, const char *dir, cl_agent_pool **out);
/* Hands op to the engine, taking ownership of op->data (set to NULL). Its
 * deadline starts now: op->deadline_ms from now. An op id already taken
 * (queued, running, answered or cancelled recently) is ignored (CL_OK): an
 * op runs at most once. An op whose deadline is 0 is answered "expired", one
 * whose tenant already has CL_AGENT_OPS_TENANT_MAX in flight is answered
 * "too_many_requests" (both CL_OK, the result waits for the next sync).
 * CL_EUNAVAIL if CL_AGENT_OPS_MAX ops are held (op->data untouched). */
CL_MUST_CHECK cl_err cl_agent_pool_submit(cl_agent_pool *p, cl_agent_op *op);
/* Drops op if it is queued or running (its shim connection is closed, which
 * ends a parked wait) and answers it "cancelled"; an unknown id is only
 * remembered, so a late copy of the op never runs. */
void cl_agent_pool_cancel(cl_agent_pool *p, const char *op);
/* Ops taken and not finished, of tenant (NULL: of every tenant). */
size_t cl_agent_pool_inflight(cl_agent_pool *p, const char *tenant);
/* Records a failure result for an op that cannot run (sent with the next sync). */
void cl_agent_pool_fail(cl_agent_pool *p, const char *op, const char *error);
/* Takes the oldest results still to deliver, at most budget bytes of data in
 * all (JSON array, new reference; empty if none; NULL out of memory); the
 * others wait for the next sync. A single result whose data alone exceeds
 * the budget is turned into a failure (it can never fit a sync request).
 * Results are {op, ok, data?, error?, reason?}; reason is
 * "too_many_requests", "expired" or "cancelled" when it applies. */
json_t *cl_agent_pool_take_results(cl_agent_pool *p, size_t budget);
/* Gives back what take_results returned after a failed sync (steals arr). */
void cl_agent_pool_requeue(cl_agent_pool *p, json_t *arr);
/* Stops the engine, abandons ops in flight (the control plane times them
 * out) and frees everything. NULL ok. */
void cl_agent_pool_free(cl_agent_pool *p);

/* ---- firmware guard (agent_fw.c) ---- */

struct fwg_host;
struct fwg_audit_rec;

/* Opens the device model in dir (DATA/fw). On first start (dir holds no
 * devices) manufactures the default devices (NIC, GPU, BMC) with the root
 * public key from root_pem burnt into their ROM; later starts ignore
 * root_pem (a ROM is written once). *out is freed with fwg_host_close. */
CL_MUST_CHECK cl_err cl_agent_fw_open(const char *dir, const char *root_pem, struct fwg_host **out);
/* cl_agent_fw_open with the devices' keys in the key holder (keys, borrowed:
 * must outlive the host; NULL = in the model's files). */
struct fwg_keys;
CL_MUST_CHECK cl_err cl_agent_fw_open_keys(const char *dir, const char *root_pem, const struct fwg_keys *keys,
					   struct fwg_host **out);
/* The sync request's "firmware" object (new reference in *out): eligible,
 * quarantined, window_open, power_cycle, devices, audit_head, and at most
 * CL_AGENT_FW_AUDIT_MAX verified audit records with seq > after; when the
 * log was tampered with, no records, "audit_tampered" {seq, why} and
 * quarantined (fail closed). *window_left_s = the longest open window's
 * seconds left (0 when every window is closed). */
CL_MUST_CHECK cl_err cl_agent_fw_report(struct fwg_host *h, uint64_t after, json_t **out, uint64_t *window_left_s);
/* The long-poll wait to ask for while a window is open: no longer than the
 * window's seconds left (+250 ms, as window_left_s is rounded up), so the
 * control plane answers when it closes and the next sync reports the host
 * eligible. poll_ms when no window is open. Pure. */
uint32_t cl_agent_fw_wait_ms(uint32_t poll_ms, uint64_t window_left_s);
/* The verified audit records with seq > after, at most max, as the
 * protocol's JSON records (new reference in *out), through fwg_audit_check
 * (st, may be NULL, gets the log's head and tamper state). CL_EPROTO, no
 * records, when the log was tampered with. */
struct fwg_audit_state;
CL_MUST_CHECK cl_err cl_agent_fw_audit_after(struct fwg_host *h, uint64_t after, size_t max, json_t **out,
					     struct fwg_audit_state *st);
/* Hands the answer's firmware_audit_anchor (if any) to the audit log. */
void cl_agent_fw_anchor(struct fwg_host *h, const cl_agent_answer *ans);
/* One audit record as protocol JSON; prev = the previous record's hash
 * (zeros for seq 1). New reference or NULL (out of memory). */
json_t *cl_agent_fw_audit_json(const struct fwg_audit_rec *r, const uint8_t prev[32]);
/* Runs one firmware op on the management port (source mgmt; a
 * clear_quarantine is the operator's action relayed by the control plane)
 * and returns its result object {op, ok, error?, reason?, audit_seq?} (new
 * reference; NULL only when out of memory). Refusals change nothing but the
 * audit log. */
json_t *cl_agent_fw_apply(struct fwg_host *h, const cl_agent_fw_op *op);

/* ---- firmware op journal (agent_fwops.c) ----
 *
 * DATA/fw/ops.journal remembers the last CL_AGENT_FWOPS_MAX firmware op ids
 * with their state, so that an op the control plane resends (it resends
 * until it receives the result) never runs twice, even across agent
 * restarts, and a result lost with a killed agent is reported again:
 *   - before an op runs:  {op, "started"}          (written, fsynced)
 *   - after it ran:       {op, "done", result}      (written, fsynced)
 * A resent op that is done is answered with its stored result; one left
 * "started" by a killed agent is answered ok=false with
 * CL_AGENT_FWOPS_INTERRUPTED and is not run again. Format and the policy on
 * a corrupt journal: docs/firmware-guard.md ("Crash safety").
 */

#define CL_AGENT_FWOPS_MAX 1024 /* entries kept, the oldest leaves first: 4x the 256 ops a sync answer carries */
#define CL_AGENT_FWOPS_FILE_MAX (1u << 20)
#define CL_AGENT_FWOPS_INTERRUPTED "interrupted by an agent restart; check fw status"

typedef struct cl_agent_fwops cl_agent_fwops;

/* Loads the journal at path (a missing file is an empty journal; temp files
 * a killed writer left beside it are removed). Entries a killed agent left
 * "started" become done with the interrupted result {op, ok:false,
 * error:CL_AGENT_FWOPS_INTERRUPTED, reason:"interrupted"}, written back
 * before this returns. A file that is not a valid journal is CL_EPROTO with
 * a detail naming it and the remedy; the file is left as it is (the agent
 * refuses to start: ops could otherwise run twice). *out is freed with
 * cl_agent_fwops_free. */
CL_MUST_CHECK cl_err cl_agent_fwops_open(const char *path, cl_agent_fwops **out);
/* Frees the in-memory journal. NULL ok. */
void cl_agent_fwops_free(cl_agent_fwops *j);
/* Called before running op. If op is known, *result is a new reference to
 * its stored result (do not run it again; report that). Otherwise records
 * {op, started} durably, dropping the oldest entry once CL_AGENT_FWOPS_MAX
 * are kept, and sets *result = NULL: run the op, then call _finish. On
 * error (invalid id, write failed) nothing is recorded and the op must not
 * run. */
CL_MUST_CHECK cl_err cl_agent_fwops_begin(cl_agent_fwops *j, const char *op, json_t **result);
/* Records op's result (copied; an object with "op" and boolean "ok") as
 * done, durably. If the write fails the in-memory entry still holds the
 * result (resends in this process get it) and the file keeps "started"
 * (after a restart the op reads as interrupted: never run twice). */
CL_MUST_CHECK cl_err cl_agent_fwops_finish(cl_agent_fwops *j, const char *op, json_t *result);
/* Entries held (tests, logs). */
size_t cl_agent_fwops_count(const cl_agent_fwops *j);

/* ---- the running agent (agent.c, agent_loop.c) ---- */

typedef struct cl_agent {
	cl_agent_config cfg;
	char self_exe[PATH_MAX];
	char init_path[PATH_MAX];
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
} cl_agent;

/* Registers if needed, adopts existing sandboxes and runs the sync loop until
 * a fatal error (returns the exit code); a signal exits the process instead. */
int cl_agent_run(cl_agent *ag);
/* Brackets a sandbox change (or a state-file write) that a signal must not
 * interrupt. crit_enter never returns once a stop was requested. */
void cl_agent_crit_enter(void);
void cl_agent_crit_leave(void);

/* ---- images (agent_image.c) ---- */

struct cl_http_client;
/* Makes sure DIR/images/IMAGE.img exists and its SHA-384 equals sha384_hex
 * (96 hex digits): a cached file is re-hashed before use (a mismatching one is
 * removed and fetched again); otherwise GET /v1/images/IMAGE with the client's
 * host token, check the digest, then store it atomically. On success path[]
 * holds the file's path. Nothing that fails the digest check is kept.
 * Transient failures (control plane unreachable or 5xx) are CL_EIO,
 * CL_ETIMEOUT or CL_EUNAVAIL; CL_ENOTFOUND, CL_ECRYPTO, CL_EPROTO are not.
 * A full disk is CL_ENOSPACE (the detail says so); other local file
 * failures are CL_ESYS. */
CL_MUST_CHECK cl_err cl_agent_image_ensure(struct cl_http_client *http, const char *dir, const char *image,
					   const char *sha384_hex, char *path, size_t pathlen);
/* Removes cached images (DIR/images/IMG.img) whose id is not in keep[0..n)
 * (the images the desired set still uses), to make room on a full disk.
 * Returns how many files were removed. */
size_t cl_agent_image_prune(const char *dir, const char *const *keep, size_t n);

#endif
