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
struct ctl_conns;

typedef struct ctl_server {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ssl;
	struct ctl_conns *conns; /* connection admission (conn.h) */
	ctl_store *store;
	char data_dir[PATH_MAX];
	uint32_t poll_timeout_ms;
	struct event *lost_timer;
	ctl_host_rt *hosts; /* runtime records (held syncs, queued ops) */
	ctl_op *ops;        /* all in-flight ops */
	uint64_t requests[CTL_NSTATUS];
	unsigned sync_waiters;
} ctl_server;

enum ctl_who { CTL_WHO_NONE, CTL_WHO_ADMIN, CTL_WHO_TENANT, CTL_WHO_HOST, CTL_WHO_ENGINEER };

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
/* Authenticates the Bearer token into r->who (CL_EAUTH on any failure;
 * CL_EPERM for a valid engineer token outside /v1/fw/releases, GET
 * /v1/fw/trust and /v1/uploads). */
CL_MUST_CHECK cl_err ctl_auth(ctl_req *r);
/* Makes a new token "clt_<id>_<secret>" for kind/tenant/host: stores its
 * hash (inside the caller's transaction) and returns the full token in
 * out (>= 128 bytes; caller wipes), id in id_out. */
CL_MUST_CHECK cl_err ctl_token_create(ctl_server *srv, const char *kind, const char *tenant_id, const char *host_id,
				      const char *name, char *out, size_t outlen, char id_out[CTL_ID_MAX]);
/* Splits "<prefix>_<id>_<secret>": id and secret point into a copy in buf. */
CL_MUST_CHECK cl_err ctl_token_split(const char *token, const char *prefix, char *buf, size_t buflen,
				     const char **id, const char **secret);
/* Creates the provider tenant and first admin token if none exists; the
 * token (to print once) goes into out, else out[0] = 0. */
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
/* Wakes the host's held sync (after its generation was bumped and committed). */
void ctl_sync_wake(ctl_server *srv, const char *host_id);
/* Starts the lost-host timer. */
CL_MUST_CHECK cl_err ctl_sync_start(ctl_server *srv);
/* Answers every held request and frees runtime state (shutdown). */
void ctl_sync_shutdown(ctl_server *srv);

/* ---- ops.c ---- */
/* Queues a channel op for the enclave's host and holds the tenant's request
 * until the host answers or the op times out. kind: "send"|"recv"|"logs". */
void ctl_op_submit(ctl_server *srv, struct evhttp_request *req, const ctl_enclave *e, const char *kind,
		   const char *data_b64, size_t data_len, int64_t max, int64_t wait_ms);
/* Appends the host's ops awaiting a result to arr (JSON op objects) and
 * marks them delivered (sent): an op stays until its result arrives or it
 * times out, and is sent again in every answer meanwhile (the agent runs an
 * op id once). */
void ctl_ops_take(ctl_server *srv, const char *host_id, json_t *arr);
/* True if the host has ops never sent (answer its sync at once). */
bool ctl_ops_pending(ctl_server *srv, const char *host_id);
/* Completes an op with the host's result; CL_ENOTFOUND if unknown. */
CL_MUST_CHECK cl_err ctl_op_complete(ctl_server *srv, const char *host_id, const char *op_id, bool ok,
				     const char *data, const char *error);
/* Fails every op (shutdown). */
void ctl_ops_shutdown(ctl_server *srv);
unsigned ctl_ops_count(ctl_server *srv);

/* ---- api_enclaves.c / api_enclave_ops.c ---- */
/* Decides whether r's caller may do action (CTL_ACT_*) on e: CL_OK, CL_EPERM
 * (same tenant or admin, not allowed without the access key; logged) or
 * CL_ENOTFOUND (not visible to the caller at all). */
CL_MUST_CHECK cl_err ctl_enclave_access(ctl_req *r, const ctl_enclave *e, uint32_t action);
/* Describe JSON of an enclave (never the access key hash). */
json_t *ctl_enclave_json(const ctl_enclave *e);
/* POST /v1/enclaves/{id}/start|stop|resize|send|recv, GET .../logs. e is loaded and visible. */
void ctl_enclave_action(ctl_req *r, ctl_enclave *e, const char *verb);

/* ---- jobs.c ---- */
/* Creates a job row (in the caller's transaction); job is filled. */
CL_MUST_CHECK cl_err ctl_job_new(ctl_server *srv, const char *kind, const ctl_enclave *e, bool done, ctl_job *job);
/* JSON of a job. */
json_t *ctl_job_json(const ctl_job *j);
/* Applies one observed enclave state from a host's sync (in the caller's transaction). */
CL_MUST_CHECK cl_err ctl_jobs_observe(ctl_server *srv, ctl_enclave *e, const char *state, int64_t memory_mib,
				      const char *error, bool has_exit, int64_t exit_status);
/* The host no longer runs e: finish a destroy (delete the row). */
CL_MUST_CHECK cl_err ctl_jobs_gone(ctl_server *srv, const ctl_enclave *e);

#endif
