/* control.h — the control plane server: shared state and the helpers the API
 * handlers use. Single-threaded: everything runs on the libevent loop.
 *
 * Ownership: the server owns the store, the TLS context, the per-host runtime
 * records (held sync requests) and the in-flight ops. A handler either
 * replies before returning or hands the evhttp request to something that
 * will (a held sync, an op), which then owns replying exactly once.
 */
#ifndef CL_CONTROL_CONTROL_H
#define CL_CONTROL_CONTROL_H

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "control/store.h"

#define CTL_IMAGE_MAX (256ull * 1024 * 1024)
#define CTL_NSTATUS 600

typedef struct ctl_op ctl_op;
typedef struct ctl_host_rt ctl_host_rt;
typedef struct ctl_jobwait ctl_jobwait;
struct ctl_conns;
struct ctl_durable;
struct ctl_mon_client;

typedef struct ctl_server {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ssl;
	char *root_pem, *hosts_pem; /* the root and hosts CA certificates (PEM) from the monitor, for GET /v1/ca */
	struct ctl_conns *conns; /* connection admission (conn.h) */
	struct ctl_mon_client *mon; /* the monitor channel (monitor.h): signs, hashes secrets */
	ctl_store *store;
	char data_dir[PATH_MAX];
	uint32_t poll_timeout_ms;
	struct event *lost_timer;
	ctl_host_rt *hosts; /* runtime records (held syncs, queued ops) */
	ctl_op *ops;        /* all in-flight ops */
	uint64_t requests[CTL_NSTATUS];
	unsigned sync_waiters;
	ctl_jobwait *jobwaits;       /* parked GET /v1/jobs/{id}?wait= (jobs_wait.c) */
	unsigned job_waiters;        /* how many */
	struct event *jobwait_recheck; /* activated when a waited-on job may have finished */
	struct ctl_durable *durable; /* fsyncs off the loop (store_durable.h); NULL: not made yet (ctl_server_durable) */
	bool durable_off;            /* it could not be made: creates and reports commit with their own fsync */
	bool metrics_open; /* --metrics-open: GET /metrics without a token */
} ctl_server;

enum ctl_who { CTL_WHO_NONE, CTL_WHO_ADMIN, CTL_WHO_TENANT, CTL_WHO_HOST, CTL_WHO_ENGINEER, CTL_WHO_METRICS };

typedef struct ctl_principal {
	enum ctl_who kind;
	char token_id[CTL_ID_MAX];
	char tenant_id[CTL_ID_MAX];
	char host_id[CTL_ID_MAX];
} ctl_principal;

#define CTL_MAX_SEGS 8

/* One API request being dispatched. Path segments are percent-decoded. */
typedef struct ctl_req {
	ctl_server *srv;
	struct evhttp_request *req;
	enum evhttp_cmd_type method;
	const char *seg[CTL_MAX_SEGS];
	size_t nseg;
	char *pathbuf; /* owns seg storage */
	struct evkeyvalq query;
	ctl_principal who;
} ctl_req;

/* ---- http.c ---- */
/* Installs the dispatcher on srv->http. */
void ctl_http_install(ctl_server *srv);
/* Sends a JSON reply (takes ownership of body: decref'd). */
void ctl_reply_json(ctl_server *srv, struct evhttp_request *req, int status, json_t *body);
/* Sends {"error":{"code":cl_err_name(e),"message":msg}} with e's status. */
void ctl_reply_error(ctl_server *srv, struct evhttp_request *req, cl_err e, const char *msg);
/* As ctl_reply_error with the thread's current detail as message. */
void ctl_reply_err(ctl_server *srv, struct evhttp_request *req, cl_err e);
/* HTTP status for an error code. */
int ctl_err_status(cl_err e);
/* Reads and decodes the JSON object body (413 beyond 1 MiB). */
CL_MUST_CHECK cl_err ctl_req_json(ctl_req *r, json_t **out);
/* Returns a request header value or NULL. */
const char *ctl_req_header(ctl_req *r, const char *name);
/* A list request's page: ?limit=1..CTL_PAGE_MAX (default CTL_PAGE_DEFAULT)
 * and ?after=ID (the previous page's "next"; "" for the first page). A
 * handler asks its store for limit + 1 rows after `after` in id order: the
 * extra row only says that there is a next page. */
#define CTL_PAGE_DEFAULT 50
#define CTL_PAGE_MAX 500
typedef struct ctl_page {
	int limit;
	const char *after; /* points into the request's query; never NULL */
} ctl_page;
/* Parses the page of r's query into *pg. CL_EINVAL (with a detail) for a
 * limit out of range or an after that is not an id. */
CL_MUST_CHECK cl_err ctl_req_page(ctl_req *r, ctl_page *pg);
/* {"items": items, "next": next_id or null}; steals items. NULL on allocation
 * failure (items freed). */
json_t *ctl_page_json(json_t *items, const char *next_id);
/* RFC 3339 UTC time string for ms since the epoch, as a new JSON string. */
json_t *ctl_json_time(int64_t ms);
/* Records a completed reply's status for /metrics. */
void ctl_count_status(ctl_server *srv, int status);

/* ---- auth.c ---- */
/* The 401 message for a host token revoked by `host remove`; the agent
 * stops when it reads it (docs/internals.md). */
#define CTL_HOST_REMOVED_MSG "token revoked: this host was removed from the fleet"
/* Authenticates the Bearer token into r->who, reading the token afresh (no
 * cache: a revocation counts from the next request). CL_EAUTH on any
 * failure, with a detail safe to send: "token revoked", "token expired",
 * CTL_HOST_REMOVED_MSG, or "missing or invalid bearer token" for everything
 * said before the secret checked out. CL_EPERM for a valid token outside its
 * scope: engineer (/v1/fw/releases, GET /v1/fw/trust, /v1/uploads) and
 * metrics (GET /metrics). */
CL_MUST_CHECK cl_err ctl_auth(ctl_req *r);
/* Makes a new token "clt_<id>_<secret>" for kind/tenant/host: stores its
 * hash (inside the caller's transaction) and returns the full token in
 * out (>= 128 bytes; caller wipes), id in id_out. created_at and expires_at
 * in ms since the epoch; expires_at 0 = never. */
CL_MUST_CHECK cl_err ctl_token_create(ctl_server *srv, const char *kind, const char *tenant_id, const char *host_id,
				      const char *name, int64_t created_at, int64_t expires_at, char *out,
				      size_t outlen, char id_out[CTL_ID_MAX]);
/* The stored form of a secret (token, join token, access key), made by the
 * monitor with its pepper (monitor.h HASH_SECRET) into out[outlen]
 * (>= CTL_HASH_MAX). Fails closed (CL_EUNAVAIL) without a monitor. */
CL_MUST_CHECK cl_err ctl_secret_hash(ctl_server *srv, const char *secret, char *out, size_t outlen);
/* Checks a secret against its stored form through the monitor: CL_OK if it
 * matches, CL_EAUTH if not, another code if the monitor cannot answer. */
CL_MUST_CHECK cl_err ctl_secret_verify(ctl_server *srv, const char *secret, const char *stored);
/* Splits "<prefix>_<id>_<secret>": id and secret point into a copy in buf. */
CL_MUST_CHECK cl_err ctl_token_split(const char *token, const char *prefix, char *buf, size_t buflen,
				     const char **id, const char **secret);
/* Creates the provider tenant and an admin token (never expiring) if no
 * usable admin token exists: on the first start, or after every admin token
 * expired or was revoked (the break-glass path: whoever can restart the
 * control plane owns its data directory anyway). The token (to print once)
 * goes into out, else out[0] = 0. */
CL_MUST_CHECK cl_err ctl_bootstrap(ctl_server *srv, char *out, size_t outlen);

/* ---- api_*.c handlers: each replies itself ---- */
void ctl_api_tenants(ctl_req *r);
void ctl_api_tokens(ctl_req *r);
void ctl_api_hosts(ctl_req *r);
void ctl_api_images(ctl_req *r);
void ctl_api_enclaves(ctl_req *r);
void ctl_api_jobs(ctl_req *r);
void ctl_api_metrics(ctl_req *r);

/* ---- sync.c ---- */
/* POST /v1/hosts/{id}/sync and POST /v1/hosts/{id}/ops/{op}. */
void ctl_sync_handle(ctl_req *r, const char *host_id);
void ctl_op_result_handle(ctl_req *r, const char *host_id, const char *op_id);
/* The barrier that makes commits durable off the loop (store_durable.h),
 * made at first use (the worker is confined by then: the AIO calls are in
 * its allow-list); NULL if it cannot be made (logged once): callers then
 * commit with their own fsync. Owned by srv (freed by ctl_sync_shutdown). */
struct ctl_durable *ctl_server_durable(ctl_server *srv);
/* Wakes the host's held sync (after its generation was bumped and committed). */
void ctl_sync_wake(ctl_server *srv, const char *host_id);
/* Starts the lost-host timer. */
CL_MUST_CHECK cl_err ctl_sync_start(ctl_server *srv);
/* Answers every held request and frees runtime state (shutdown). */
void ctl_sync_shutdown(ctl_server *srv);
/* The host was removed (committed): answers its held sync, if any, with 401
 * CTL_HOST_REMOVED_MSG and forgets its runtime record. */
void ctl_sync_host_removed(ctl_server *srv, const char *host_id);

/* ---- ops.c ---- */
/* Channel ops in flight a tenant may have, in all and on one host (beyond:
 * 429 with Retry-After). The host keeps its own per-tenant budget too
 * (CL_AGENT_OPS_TENANT_MAX in src/host/agent.h). */
#define CTL_OPS_TENANT_MAX 128u
#define CTL_OPS_TENANT_HOST_MAX 64u
/* Queues a channel op for the enclave's host and holds the tenant's request
 * until the host answers, the op's deadline (wait_ms + 15 s) passes, or the
 * caller goes away (the op is then dropped, and the host told to drop it).
 * Over a budget it answers 429 (503 when the control plane's 1024 are in
 * flight) at once. kind: "send"|"recv"|"logs". */
void ctl_op_submit(ctl_server *srv, struct evhttp_request *req, const ctl_enclave *e, const char *kind,
		   const char *data_b64, size_t data_len, int64_t max, int64_t wait_ms);
/* As ctl_op_submit for an op whose parameters are the JSON object fields
 * (taken: merged into the op sent to the host), e.g. kind "attest" or
 * "measure" with "nonce", "user_data", "public_key" (api_attest.c). A result with data
 * answers {"document": data}. */
void ctl_op_submit_fields(ctl_server *srv, struct evhttp_request *req, const ctl_enclave *e, const char *kind,
			  json_t *fields);
/* A job op (no request waits: job_id's job is finished with the result):
 * kind with the JSON fields (taken), the data the host fetches with GET
 * /v1/hosts/{id}/ops/{op}/data (data_fd, taken: closed with the op; its
 * size and SHA-384 hex), a deadline budget_ms from now. CL_ECONFLICT if
 * an op of this kind is in flight for the enclave, CL_EUNAVAIL over a
 * budget; on failure data_fd is not taken and job_id's job is finished,
 * failed, with the error's detail as its reason. */
CL_MUST_CHECK cl_err ctl_op_submit_job(ctl_server *srv, const ctl_enclave *e, const char *kind, json_t *fields,
				       const char *job_id, int data_fd, int64_t data_size, const char *data_sha384,
				       int64_t budget_ms);
/* True if a job op (provision, suspend, restore) of enclave_id is in
 * flight and its job not yet ended (a committed suspend's op awaiting only
 * the host's result is not); its job's id into job_id. */
bool ctl_op_job_busy(ctl_server *srv, const char *enclave_id, char job_id[CTL_ID_MAX]);
/* The data of op_id for host_id: *fd (a new descriptor, the caller's),
 * *size, sha384 (hex). CL_ENOTFOUND if no such op of that host or it has
 * none. */
CL_MUST_CHECK cl_err ctl_op_data(ctl_server *srv, const char *host_id, const char *op_id, int *fd, int64_t *size,
				 char sha384[97]);
/* Appends the host's ops awaiting a result to ops (JSON op objects with
 * "tenant" and "deadline_ms" = ms left at now_ns, less the time the host
 * needs to post a result) and marks them delivered: an op stays until its
 * result arrives or it times out, and is sent again in every answer
 * meanwhile (the agent runs an op id once); one whose deadline has passed is
 * not sent. Appends to cancel the ids of delivered ops whose caller went
 * away. now_ns: cl_now_mono_ns(). */
void ctl_ops_take(ctl_server *srv, const char *host_id, json_t *ops, json_t *cancel, uint64_t now_ns);
/* True if the host has ops never sent, or cancels never sent (answer its sync at once). */
bool ctl_ops_pending(ctl_server *srv, const char *host_id);
/* Completes an op with the host's result (reason: the result's "reason",
 * NULL if none: "too_many_requests" -> 429, "expired" -> 504, other
 * failures 503); a cancelled op's result just removes it. CL_ENOTFOUND if
 * unknown. */
CL_MUST_CHECK cl_err ctl_op_complete(ctl_server *srv, const char *host_id, const char *op_id, bool ok,
				     const char *data, const char *error, const char *reason);
/* Fails every op (shutdown). */
void ctl_ops_shutdown(ctl_server *srv);
/* Answers every op queued for host_id with CL_EUNAVAIL and msg (the host
 * left the fleet); returns how many. */
unsigned ctl_ops_fail_host(ctl_server *srv, const char *host_id, const char *msg);
/* Ops in flight (callers still waiting). */
unsigned ctl_ops_count(ctl_server *srv);
/* Ops in flight in all, of tenant_id, and of tenant_id on host_id (NULLs count nothing). */
void ctl_ops_tally(ctl_server *srv, const char *tenant_id, const char *host_id, unsigned *all, unsigned *tenant,
		   unsigned *tenant_host);

/* ---- api_enclaves.c / api_enclave_ops.c ---- */
/* Decides whether r's caller may do action (CTL_ACT_*) on e: CL_OK, CL_EPERM
 * (same tenant or admin, not allowed without the access key; logged) or
 * CL_ENOTFOUND (not visible to the caller at all). */
CL_MUST_CHECK cl_err ctl_enclave_access(ctl_req *r, const ctl_enclave *e, uint32_t action);
/* Describe JSON of an enclave (never the access key hash). */
json_t *ctl_enclave_json(const ctl_enclave *e);
/* POST /v1/enclaves/{id}/start|stop|resize|send|recv|attestation|measure, GET .../logs. e is loaded and visible. */
void ctl_enclave_action(ctl_req *r, ctl_enclave *e, const char *verb);

/* ---- api_enclaves.c: placement ---- */
/* Placement inputs built from the store (every host not removed); strings
 * borrow from hosts/caps. */
typedef struct ctl_placement_in {
	ctl_host *hosts;
	size_t n;
	json_t **caps_json;
	struct ctl_caps *caps;
	struct cl_place_host *ph;
} ctl_placement_in;
/* Loads p (zeroed first; free with ctl_placement_free even on failure). */
CL_MUST_CHECK cl_err ctl_placement_load(ctl_server *srv, ctl_placement_in *p);
void ctl_placement_free(ctl_placement_in *p);

/* ---- api_provision.c ---- */
/* POST /v1/enclaves/{id}/provision (access checked; e loaded): a job. */
void ctl_enclave_provision(ctl_req *r, ctl_enclave *e);
/* GET /v1/hosts/{id}/ops/{op}/data: a job op's data, to its own host only. */
void ctl_provision_data(ctl_req *r, const char *host_id, const char *op_id);
/* {"upload": an upload id, "sha384": 96 lower-case hex}, nothing else; the
 * strings point into body. */
CL_MUST_CHECK cl_err ctl_parse_provision(json_t *body, const char **upload, const char **sha384);

/* ---- jobs.c ---- */
/* Creates a job row (in the caller's transaction); job is filled. */
CL_MUST_CHECK cl_err ctl_job_new(ctl_server *srv, const char *kind, const ctl_enclave *e, bool done, ctl_job *job);
/* Finishes the job job_id (its own transaction) if it is still active:
 * succeeded, or failed with error. CL_ENOTFOUND if unknown. */
CL_MUST_CHECK cl_err ctl_job_finish_id(ctl_server *srv, const char *job_id, bool ok, const char *error);
/* ctl_job_finish_id inside the caller's transaction. */
CL_MUST_CHECK cl_err ctl_job_finish_tx(ctl_server *srv, const char *job_id, bool ok, const char *error);
/* At start: fails every active job of kind (one whose op lived only in the
 * memory of the process before). */
CL_MUST_CHECK cl_err ctl_jobs_fail_interrupted(ctl_server *srv, const char *kind);
/* JSON of a job. */
json_t *ctl_job_json(const ctl_job *j);
/* Applies one observed enclave state from a host's sync (in the caller's transaction). */
CL_MUST_CHECK cl_err ctl_jobs_observe(ctl_server *srv, ctl_enclave *e, const char *state, int64_t memory_mib,
				      const char *error, bool has_exit, int64_t exit_status);
/* The host no longer runs e: finish a destroy (delete the row). */
CL_MUST_CHECK cl_err ctl_jobs_gone(ctl_server *srv, const ctl_enclave *e);
/* Deletes enclave id inside the caller's transaction (ctl_store_enclave_delete)
 * and unlinks its suspend blob's file, if it has one (a failed unlink is
 * logged: the file goes at the next start). CL_ENOTFOUND if no such enclave. */
CL_MUST_CHECK cl_err ctl_enclave_delete(ctl_server *srv, const char *id);

/* ---- jobs_wait.c ---- */
/* Parked job waits a tenant may have, and the control plane in all (beyond:
 * 429 / 503 with Retry-After). */
#define CTL_JOBWAIT_TENANT_MAX 64u
#define CTL_JOBWAIT_MAX 1024u
/* The longest ?wait= in seconds. */
#define CTL_JOBWAIT_MAX_S 30
/* ctl_api_jobs (declared with the handlers) lives here: GET
 * /v1/jobs/{id}[?wait=SECONDS] answers at once, or with a wait parks the
 * request until the job is final, the wait ends (the current state), or the
 * caller goes away. */
/* The job may have changed (possibly inside a transaction not yet
 * committed): its waits read it again once the current event callback has
 * returned, i.e. after the commit or rollback. NULL job_id: every wait. */
void ctl_jobs_wake(ctl_server *srv, const char *job_id);
/* Answers every parked wait with 503 and frees the waits (shutdown). */
void ctl_jobs_wait_shutdown(ctl_server *srv);

#endif
