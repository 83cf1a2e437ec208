/* agent_ops_internal.h — the ops engine's shared state, between
 * agent_ops.c (the public API, budgets, the engine thread), agent_ops_run.c
 * (one op against an enclave's shim) and agent_ops_post.c (posting results
 * with libcurl's multi interface). Not a public header.
 *
 * Threads: the sync loop calls the public API; one engine thread runs the
 * libevent loop. Fields marked (mu) are shared and guarded by mu; fields
 * marked (engine) are touched only by the engine thread (or by
 * cl_agent_pool_free after the thread has been joined).
 */
#ifndef CL_HOST_AGENT_OPS_INTERNAL_H
#define CL_HOST_AGENT_OPS_INTERNAL_H

#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/http_client.h"
#include "common/frame.h"
#include "host/agent_args.h"
#include "host/agent_ops.h"
#include "host/agent_proto.h"

#define OPS_SEEN_MAX 4096 /* op ids remembered for at-most-once */

/* One op from submit to its result. */
typedef struct ops_item {
	struct cl_agent_pool *pool;
	struct ops_item *next, *prev; /* the inbox (mu) or the engine's list (engine) */
	struct ops_item *qnext;       /* its enclave's queue while waiting for a connection */
	struct ops_enclave *enc;      /* (engine) set once queued */
	cl_agent_op op;               /* op.data owned (base64 send data: wiped on free) */
	uint64_t deadline_ns;         /* monotonic: the result is useless after this */
	bool cancel;                  /* inbox command: cancel op.op (no op to run) */
	bool running;                 /* connected to the shim */
	int fd;                       /* shim connection, -1 when none */
	struct event *io, *timer;
	uint8_t *out;                 /* request frame (header + payload), wiped on free */
	size_t out_len, out_off;
	uint8_t hdr[CL_FRAME_HDR];    /* reply header */
	size_t hdr_got;
	uint8_t *in;                  /* reply payload (allocated once its length is known) */
	uint32_t in_len, in_got;
	/* a measure runs on a thread of its own (agent_ops.c): while measuring,
	 * op is read by that thread and the item is not freed (a cancel is
	 * noted in cancelled and applied when the thread is done) */
	bool measuring, cancelled;    /* (engine) */
	json_t *done;                 /* (mu) the measure thread's result, on the done list */
	struct ops_item *done_next;   /* (mu) */
} ops_item;

/* Ops of one enclave: at most CL_AGENT_OPS_ENCLAVE_CONNS run, the rest wait in order. */
typedef struct ops_enclave {
	struct ops_enclave *next;
	char id[CL_AGENT_ID_MAX];
	unsigned running;
	ops_item *qhead, *qtail;
} ops_enclave;

typedef struct ops_tenant {
	char id[CL_AGENT_ID_MAX];
	size_t inflight;
} ops_tenant;

typedef struct ops_post ops_post;

struct cl_agent_pool {
	pthread_mutex_t mu;
	/* (mu) */
	bool stop;
	ops_item *inbox_head, *inbox_tail;
	size_t held; /* ops taken and not finished (inbox + engine) */
	ops_tenant *tenants; /* tenants with ops in flight */
	size_t ntenants, cap_tenants;
	char seen[OPS_SEEN_MAX][CL_AGENT_ID_MAX]; /* ring of op ids taken */
	uint64_t seen_hash[OPS_SEEN_MAX];
	size_t seen_next;
	json_t *pending; /* results not yet delivered (array) */
	ops_item *done_head; /* measures whose thread is done, for the engine to finish */
	size_t measuring;    /* measure threads running */
	pthread_cond_t measured; /* signalled when one ends */
	/* (engine) */
	struct event_base *base;
	int wake_fd; /* eventfd: the sync loop's "look at the inbox" */
	struct event *wake_ev;
	ops_item *ops;          /* ops taken from the inbox, not finished */
	ops_enclave *enclaves;
	ops_post *post;         /* NULL when results are not posted */
	uint64_t log_ns;        /* last "ops in flight" line */
	size_t log_n;
	bool log_busy;          /* the last line said busy: say when idle again */
	/* (mu) set before ops are submitted: read by the engine after it took
	 * them from the inbox under mu */
	cl_agent_attest_fn attest;
	void *attest_ctx;
	cl_agent_tls_fn tls;
	void *tls_ctx;
	/* set at creation, read-only after */
	char *dir, *host_id;
	char *control, *ca, *token; /* for provision ops' own transfers (token wiped on free) */
	pthread_t thread;
	bool started;
};

/* ---- agent_ops.c ---- */
/* {op, ok:false, error, reason?} (new reference, NULL out of memory). */
json_t *ops_result_error(const char *op, const char *error, const char *reason);
/* Keeps result (a new reference is taken) for the next sync; the oldest is
 * dropped past CL_AGENT_OPS_PENDING_MAX. Takes mu. */
void ops_pending_push(cl_agent_pool *p, json_t *result);
/* (engine) The op is over: unlinks and frees it, gives back its budget and
 * its enclave's connection, starts what waits on that enclave, and hands
 * result (stolen; NULL = nothing to report) to the poster. */
void ops_finish(cl_agent_pool *p, ops_item *it, json_t *result);
/* (engine) As ops_finish for an op taken off its enclave's queue that never
 * ran, without starting the enclave's next op (the caller is doing that). */
void ops_finish_queued(cl_agent_pool *p, ops_item *it, json_t *result);
/* Frees an item's buffers and events and closes its connection (wipes data). */
void ops_item_free(ops_item *it);

/* ---- agent_ops_run.c ---- */
/* (engine) Queues it on its enclave and starts it if a connection is free. */
void ops_run_enqueue(cl_agent_pool *p, ops_item *it);
/* (engine) Starts queued ops of enc while it has free connections; queued
 * ops whose deadline passed are answered "expired" without running. */
void ops_run_next(cl_agent_pool *p, ops_enclave *enc);
/* (engine) Removes it from its enclave's queue if it waits there. */
void ops_run_dequeue(ops_item *it);
/* (engine) Frees enc if nothing runs or waits on it. */
void ops_enclave_release(cl_agent_pool *p, ops_enclave *enc);

/* ---- a job op's thread (agent_ops_post.c) ---- */
/* What a job op's thread needs of the pool (provision, suspend, restore):
 * its own copies, as the pool may go first. */
typedef struct ops_job_conn {
	char *control, *ca, *token, *dir, *host_id;
} ops_job_conn;
/* Copies p's control URL, CA, token (may be NULL), data dir and host id
 * into c. CL_EUNAVAIL without a control plane, CL_ENOMEM; on failure c
 * holds nothing (freed). */
CL_MUST_CHECK cl_err ops_job_conn_copy(const cl_agent_pool *p, ops_job_conn *c);
/* Frees c's copies, the token wiped first. */
void ops_job_conn_free(ops_job_conn *c);
/* GET /v1/hosts/{host}/ops/{op}/data into out, checked: status 200, exactly
 * size bytes, SHA-384 (into sha) equal to sha384_hex. Errors name what
 * ("the bundle", "the state"): CL_EUNAVAIL, CL_ECRYPTO on a mismatch. */
CL_MUST_CHECK cl_err ops_job_fetch(cl_http_client *http, const ops_job_conn *c, const char *op, const char *what,
				   uint64_t size, const char *sha384_hex, cl_buf *out, uint8_t sha[48]);
/* Runs fn(arg) on a detached thread. False if no thread could be made
 * (arg is still the caller's). */
bool ops_job_thread(void *(*fn)(void *), void *arg);

/* ---- agent_provision.c ---- */
/* (engine) Starts a provision op on a thread of its own (copies what it
 * needs; posts its own result). The caller then finishes the op without a
 * result. */
void ops_provision_start(cl_agent_pool *p, const cl_agent_op *op);

/* ---- agent_suspend.c ---- */
/* (engine) Starts a suspend or restore op on a thread of its own (copies
 * what it needs, and the attest hook for its documents; posts its own
 * result). The caller then finishes the op without a result. */
void ops_state_start(cl_agent_pool *p, const cl_agent_op *op, cl_agent_attest_fn attest, void *attest_ctx);

/* ---- agent_ops_post.c ---- */
/* Sets up posting to control (NULL: p->post stays NULL and every result
 * goes to pending). */
CL_MUST_CHECK cl_err ops_post_new(cl_agent_pool *p, const char *control, const char *ca, const char *token);
/* (engine) Posts result (stolen) as POST /v1/hosts/{id}/ops/{op}; what
 * cannot be delivered goes to pending for the next sync. */
void ops_post_result(cl_agent_pool *p, json_t *result);
/* Aborts transfers in progress (their results go to pending) and frees. */
void ops_post_free(cl_agent_pool *p);

#endif
