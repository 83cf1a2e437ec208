/* ops.c — channel requests (send/recv/logs) and attestation requests
 * (attest) relayed to an enclave's host.
 *
 * The tenant's HTTP request is held; the op rides the host's next sync
 * answer with its tenant and the ms left until its deadline; the host posts
 * the result to /v1/hosts/{id}/ops/{op} (or in a sync's "results"); we then
 * answer the tenant. An op not answered by its deadline (its wait plus
 * CTL_OP_GRACE_MS) fails with 504 and is never sent after it. Ops live only
 * in memory: a restart fails them (the tenant retries), which duplicates
 * nothing.
 *
 * Job ops (provision, api_provision.c) hold no request: a job row says
 * how the op ended, and the op holds the data the host fetches with GET
 * /v1/hosts/{id}/ops/{op}/data (an open descriptor of a file already
 * unlinked: it goes with the op). A restart loses them like the others;
 * their jobs are failed at start (ctl_jobs_fail_interrupted).
 *
 * Fairness: a tenant may have at most CTL_OPS_TENANT_MAX ops in flight, and
 * CTL_OPS_TENANT_HOST_MAX on one host (the host's own budget); beyond, 429
 * with Retry-After, and other tenants do not notice.
 *
 * Caller gone: the op watches its tenant's connection. When it closes before
 * the result, the op is dropped at once; if the host already has it, a
 * tombstone stays (bounded) so that the host's next answers carry its id in
 * "cancel" — the host ends the wait and answers "cancelled", which removes
 * the tombstone (as does the op's deadline).
 */
#include <errno.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attest/attest.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "control/api_tls.h"
#include "control/control.h"
#include "control/ops_priv.h"
#include "control/store_cert.h"
#include "control/store_state.h"
#include "control/suspend.h"

#define CTL_OP_GRACE_MS 15000
/* The host's deadline ends this much before ours: time to post the result. */
#define CTL_OP_RESULT_MARGIN_MS 1000
/* Each op may hold up to 512 KiB of data and a client connection: cap them. */
#define CTL_OPS_MAX 1024
/* Tombstones kept to tell hosts about cancelled ops (beyond, the host's own
 * deadline ends the op). */
#define CTL_OPS_CANCEL_MAX 1024
#define CTL_OP_RETRY_AFTER "1"
#define MS_NS 1000000ull


static void op_free(ctl_op *op)
{
	if (op->blob) {
		ctl_state_blob_abort(op->blob);
		free(op->blob);
	}
	if (op->data_fd >= 0)
		close(op->data_fd);
	json_decref(op->fields);
	if (op->close_ev)
		event_free(op->close_ev);
	if (op->timer)
		event_free(op->timer);
	if (op->data_b64) {
		explicit_bzero(op->data_b64, strlen(op->data_b64));
		free(op->data_b64);
	}
	free(op);
}

static void unlink_op(ctl_server *srv, ctl_op *op)
{
	for (ctl_op **p = &srv->ops; *p; p = &(*p)->next)
		if (*p == op) {
			*p = op->next;
			return;
		}
}

/* Stops watching the caller's connection. */
static void unwatch(ctl_op *op)
{
	if (op->conn && op->req && evhttp_request_get_connection(op->req) == op->conn)
		evhttp_connection_set_closecb(op->conn, NULL, NULL);
	op->conn = NULL;
	if (op->close_ev) {
		event_free(op->close_ev);
		op->close_ev = NULL;
	}
}

/* Takes the op's request (after unwatch) for the one reply it gets. */
static struct evhttp_request *take_req(ctl_op *op)
{
	unwatch(op);
	struct evhttp_request *req = op->req;
	op->req = NULL;
	return req;
}

static void reply_limit(ctl_server *srv, struct evhttp_request *req, cl_err e, const char *msg)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", CTL_OP_RETRY_AFTER);
	ctl_reply_error(srv, req, e, msg);
}

/* A job op's end: its job succeeds or fails with error (logged on failure). */
static void job_end(ctl_op *op, bool ok, const char *error)
{
	if (strncmp(op->kind, "tls_", 4) == 0) { /* its job moves on its steps (api_tls_job.c) */
		ctl_tls_op_end(op->srv, op->kind, op->job_id, op->enclave_id, false, ok, NULL, error);
		return;
	}
	/* a restore that did not finish leaves the enclave suspended (its new
	 * sandbox removed by its host), blob and key untouched */
	if (!ok && strcmp(op->kind, "restore") == 0)
		ctl_restore_revert(op->srv, op->enclave_id, error);
	/* a suspend that did not commit drops its pending key (a no-op once
	 * its blob committed); the counter keeps the number */
	if (!ok && op->state_n > 0 && strcmp(op->kind, "suspend") == 0) {
		ctl_store *st = op->srv->store;
		cl_err e = ctl_store_begin(st);
		if (e == CL_OK && (e = ctl_store_state_abort(st, op->enclave_id, op->state_n)) == CL_OK)
			e = ctl_store_commit(st);
		if (e != CL_OK) {
			ctl_store_rollback(st);
			cl_error("suspend: pending key not dropped enclave=%s n=%lld: %s", op->enclave_id,
				 (long long)op->state_n, cl_error_detail());
		}
	}
	if (ctl_job_finish_id(op->srv, op->job_id, ok, error) != CL_OK)
		cl_error("job not finished job=%s op=%s: %s", op->job_id, op->id, cl_error_detail());
}

/* The op failed: its caller gets e and msg, or its job fails with msg. */
static void answer_error(ctl_op *op, cl_err e, const char *msg)
{
	if (op->job_id[0])
		job_end(op, false, msg);
	else
		ctl_reply_error(op->srv, take_req(op), e, msg);
}

static unsigned tombstones(ctl_server *srv)
{
	unsigned n = 0;
	for (ctl_op *op = srv->ops; op; op = op->next)
		n += op->cancelled;
	return n;
}

/* The caller is gone: its answer could not arrive. Frees the request and
 * drops the op; a host that has it is told to drop it too. */
static void caller_gone(ctl_op *op)
{
	ctl_server *srv = op->srv;
	struct evhttp_request *req = take_req(op);
	cl_debug("op cancelled: the caller went away op=%s kind=%s enclave=%s tenant=%s", op->id, op->kind,
		op->enclave_id, op->tenant_id);
	/* Nobody reads this reply; it frees the request (status 499 as nginx's
	 * "client closed request", so /metrics tells these apart). */
	ctl_reply_json(srv, req, 499, json_pack("{s:{s:s,s:s}}", "error", "code", "cancelled", "message",
					       "the caller went away"));
	if (op->data_b64) {
		explicit_bzero(op->data_b64, strlen(op->data_b64));
		free(op->data_b64);
		op->data_b64 = NULL;
	}
	if (!op->delivered || tombstones(srv) >= CTL_OPS_CANCEL_MAX) {
		unlink_op(srv, op); /* the host never saw it (or its deadline will end it) */
		op_free(op);
		return;
	}
	op->cancelled = true; /* kept until the host answers it or its deadline */
	ctl_sync_wake(srv, op->host_id);
}

static void on_caller_close(struct evhttp_connection *conn, void *arg)
{
	ctl_op *op = arg;
	if (op->conn != conn)
		return;
	op->conn = NULL; /* going away: do not touch it */
	caller_gone(op);
}

/* The caller's socket is readable. libevent does not read a connection
 * while its request is being handled and an HTTP client sends nothing while
 * it waits for the answer, so anything arriving (end of stream, an error, a
 * TLS close_notify) means the caller gave up (as for held syncs, sync.c). */
static void on_caller_readable(evutil_socket_t fd, short what, void *arg)
{
	ctl_op *op = arg;
	unsigned char b[1];
	ssize_t n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	caller_gone(op);
}

static void watch(ctl_server *srv, ctl_op *op)
{
	if (!op->req)
		return; /* a job op: nobody waits on a connection */
	op->conn = evhttp_request_get_connection(op->req);
	if (!op->conn)
		return;
	evhttp_connection_set_closecb(op->conn, on_caller_close, op);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(op->conn);
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd >= 0 && (op->close_ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_caller_readable, op)) &&
	    event_add(op->close_ev, NULL) != 0) {
		event_free(op->close_ev);
		op->close_ev = NULL;
	}
}

static void on_op_timeout(evutil_socket_t fd, short what, void *arg)
{
	ctl_op *op = arg;
	ctl_server *srv = op->srv;
	unlink_op(srv, op);
	if (!op->cancelled) {
		cl_warn("op timed out op=%s kind=%s enclave=%s host=%s", op->id, op->kind, op->enclave_id, op->host_id);
		answer_error(op, CL_ETIMEOUT, "the enclave's host did not answer in time");
	}
	op_free(op);
}

void ctl_ops_tally(ctl_server *srv, const char *tenant_id, const char *host_id, unsigned *all, unsigned *tenant,
		   unsigned *tenant_host)
{
	*all = *tenant = *tenant_host = 0;
	for (ctl_op *op = srv->ops; op; op = op->next) {
		if (op->cancelled)
			continue;
		(*all)++;
		if (tenant_id && strcmp(op->tenant_id, tenant_id) == 0) {
			(*tenant)++;
			*tenant_host += host_id && strcmp(op->host_id, host_id) == 0;
		}
	}
}

static ctl_op *submit(ctl_server *srv, struct evhttp_request *req, const ctl_enclave *e, const char *kind,
		      const char *data_b64, size_t data_len, int64_t max, int64_t wait_ms, json_t *fields,
		      int64_t budget_ms);

void ctl_op_submit(ctl_server *srv, struct evhttp_request *req, const ctl_enclave *e, const char *kind,
		   const char *data_b64, size_t data_len, int64_t max, int64_t wait_ms)
{
	(void)submit(srv, req, e, kind, data_b64, data_len, max, wait_ms, NULL, 0);
}

void ctl_op_submit_fields(ctl_server *srv, struct evhttp_request *req, const ctl_enclave *e, const char *kind,
			  json_t *fields)
{
	(void)submit(srv, req, e, kind, NULL, 0, 0, 0, fields, 0);
}

/* Fails job_id with the error err's detail as its reason; returns err with
 * that detail kept. */
static cl_err fail_job(ctl_server *srv, const char *job_id, cl_err err)
{
	char why[256];
	snprintf(why, sizeof(why), "%s", cl_error_detail());
	if (ctl_job_finish_id(srv, job_id, false, why) != CL_OK)
		cl_warn("job not finished job=%s", job_id);
	return cl_errorf(err, "%s", why);
}

cl_err ctl_op_submit_job(ctl_server *srv, const ctl_enclave *e, const char *kind, json_t *fields,
			 const char *job_id, int data_fd, int64_t data_size, const char *data_sha384, int64_t budget_ms)
{
	for (ctl_op *o = srv->ops; o; o = o->next)
		if (!o->cancelled && strcmp(o->enclave_id, e->id) == 0 && strcmp(o->kind, kind) == 0) {
			json_decref(fields);
			return fail_job(srv, job_id, cl_errorf(CL_ECONFLICT, "a %s of this enclave is in progress (job %s)",
							       kind, o->job_id));
		}
	ctl_op *op = submit(srv, NULL, e, kind, NULL, 0, 0, 0, fields, budget_ms);
	if (!op)
		return fail_job(srv, job_id, cl_errorf(CL_EUNAVAIL, "too many operations in flight; retry later"));
	snprintf(op->job_id, sizeof(op->job_id), "%s", job_id);
	snprintf(op->data_sha384, sizeof(op->data_sha384), "%s", data_sha384);
	op->data_fd = data_fd;
	op->data_size = data_size;
	return CL_OK;
}

ctl_op *ctl_op_by_job(ctl_server *srv, const char *job_id)
{
	for (ctl_op *op = srv->ops; op; op = op->next)
		if (!op->cancelled && strcmp(op->job_id, job_id) == 0)
			return op;
	return NULL;
}

ctl_op *ctl_op_job_find(ctl_server *srv, const char *host_id, const char *op_id)
{
	for (ctl_op *op = srv->ops; op; op = op->next)
		if (strcmp(op->id, op_id) == 0 && strcmp(op->host_id, host_id) == 0)
			return op->cancelled || !op->job_id[0] ? NULL : op;
	return NULL;
}

bool ctl_op_job_busy(ctl_server *srv, const char *enclave_id, char job_id[CTL_ID_MAX])
{
	for (ctl_op *op = srv->ops; op; op = op->next)
		if (!op->cancelled && !op->job_ended && op->job_id[0] && strcmp(op->enclave_id, enclave_id) == 0) {
			snprintf(job_id, CTL_ID_MAX, "%s", op->job_id);
			return true;
		}
	return false;
}

cl_err ctl_op_data(ctl_server *srv, const char *host_id, const char *op_id, int *fd, int64_t *size,
		   char sha384[97])
{
	ctl_op *op = srv->ops;
	while (op && !(strcmp(op->id, op_id) == 0 && strcmp(op->host_id, host_id) == 0))
		op = op->next;
	CL_ENSURE(op && !op->cancelled && op->data_fd >= 0, CL_ENOTFOUND, "op data not found");
	int d = dup(op->data_fd);
	CL_ENSURE(d >= 0, CL_ESYS, "dup: %s", strerror(errno));
	*fd = d;
	*size = op->data_size;
	memcpy(sha384, op->data_sha384, 97);
	return CL_OK;
}

static ctl_op *submit(ctl_server *srv, struct evhttp_request *req, const ctl_enclave *e, const char *kind,
		      const char *data_b64, size_t data_len, int64_t max, int64_t wait_ms, json_t *fields,
		      int64_t budget_ms)
{
	unsigned all, tenant, tenant_host;
	char msg[160];
	ctl_ops_tally(srv, e->tenant_id, e->host_id, &all, &tenant, &tenant_host);
	if (all >= CTL_OPS_MAX) {
		json_decref(fields);
		if (req)
			reply_limit(srv, req, CL_EUNAVAIL, "too many channel operations in flight; retry later");
		return NULL;
	}
	if (tenant >= CTL_OPS_TENANT_MAX || tenant_host >= CTL_OPS_TENANT_HOST_MAX) {
		snprintf(msg, sizeof(msg), "the tenant has %u channel operations in flight (at most %u, %u on one host); "
			 "retry later", tenant, CTL_OPS_TENANT_MAX, CTL_OPS_TENANT_HOST_MAX);
		cl_debug("op refused: tenant over budget tenant=%s host=%s inflight=%u on_host=%u", e->tenant_id,
			e->host_id, tenant, tenant_host);
		json_decref(fields);
		if (req)
			reply_limit(srv, req, CL_ELIMIT, msg);
		return NULL;
	}
	ctl_op *op = calloc(1, sizeof(*op));
	if (op)
		op->data_fd = -1;
	if (op) {
		op->fields = fields;
		fields = NULL;
	} else {
		json_decref(fields);
	}
	if (!op || cl_random_id("op-", op->id, sizeof(op->id)) != CL_OK ||
	    (data_b64 && !(op->data_b64 = strdup(data_b64))) ||
	    !(op->timer = evtimer_new(srv->base, on_op_timeout, op))) {
		if (op)
			op_free(op);
		if (req)
			ctl_reply_error(srv, req, CL_ENOMEM, "out of memory");
		return NULL;
	}
	op->srv = srv;
	op->req = req;
	snprintf(op->host_id, sizeof(op->host_id), "%s", e->host_id);
	snprintf(op->enclave_id, sizeof(op->enclave_id), "%s", e->id);
	snprintf(op->tenant_id, sizeof(op->tenant_id), "%s", e->tenant_id);
	snprintf(op->kind, sizeof(op->kind), "%s", kind);
	op->data_len = data_len;
	op->max = max;
	op->wait_ms = wait_ms;
	int64_t ms = budget_ms ? budget_ms : wait_ms + CTL_OP_GRACE_MS;
	op->deadline_ns = cl_now_mono_ns() + (uint64_t)ms * MS_NS;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(op->timer, &tv);
	watch(srv, op);
	op->next = srv->ops;
	srv->ops = op;
	cl_debug("op queued op=%s kind=%s enclave=%s host=%s", op->id, kind, e->id, e->host_id);
	ctl_sync_wake(srv, e->host_id);
	return op;
}

bool ctl_ops_pending(ctl_server *srv, const char *host_id)
{
	for (ctl_op *op = srv->ops; op; op = op->next)
		if (strcmp(op->host_id, host_id) == 0 && (op->cancelled ? !op->cancel_sent : !op->delivered))
			return true;
	return false;
}

unsigned ctl_ops_count(ctl_server *srv)
{
	unsigned all, tenant, tenant_host;
	ctl_ops_tally(srv, NULL, NULL, &all, &tenant, &tenant_host);
	return all;
}

void ctl_ops_take(ctl_server *srv, const char *host_id, json_t *ops, json_t *cancel, uint64_t now_ns)
{
	for (ctl_op *op = srv->ops; op; op = op->next) {
		if (strcmp(op->host_id, host_id) != 0)
			continue;
		if (op->cancelled) { /* sent until the host answers it or its deadline */
			if (json_array_append_new(cancel, json_string(op->id)) == 0)
				op->cancel_sent = true;
			continue;
		}
		/* Delivered ones too: sent again until the host answers. One whose
		 * deadline (less the time to post a result) passed is never sent. */
		uint64_t margin = (uint64_t)CTL_OP_RESULT_MARGIN_MS * MS_NS;
		if (now_ns + margin >= op->deadline_ns)
			continue;
		json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "op", op->id, "enclave", op->enclave_id, "tenant",
				      op->tenant_id, "kind", op->kind, "max", (json_int_t)op->max, "wait_ms",
				      (json_int_t)op->wait_ms, "deadline_ms",
				      (json_int_t)((op->deadline_ns - now_ns - margin) / MS_NS));
		if (!o)
			continue;
		if (op->data_b64)
			json_object_set_new(o, "data", json_string(op->data_b64));
		if (op->fields && json_object_update_missing(o, op->fields) != 0) {
			json_decref(o);
			continue;
		}
		json_array_append_new(ops, o);
		bool first = !op->delivered;
		op->delivered = true;
		if (first && op->job_id[0] && strncmp(op->kind, "tls_", 4) == 0)
			ctl_tls_op_delivered(srv, op->kind, op->job_id); /* a step of its job */
	}
}

/* Keeps only printable ASCII of a host-provided message. */
static void clean_copy(char *dst, size_t n, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < n; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/* A provision's or a restore's register: the host's result data is the
 * enclave's PCR7 (48 bytes, base64), kept with the registers describe
 * shows. */
static cl_err store_register(ctl_op *op, const char *data)
{
	static const uint8_t zero[48];
	cl_buf b;
	char *text = NULL, *now = NULL, hex[97];
	json_t *o = NULL;
	cl_err err;
	cl_buf_init(&b, 64);
	CL_GUARD_OUT(err, cl_base64_decode(data ? data : "", &b));
	if (b.len != 48) {
		err = cl_errorf(CL_EPROTO, "host: the %s's register is not 48 bytes", op->kind);
		goto out;
	}
	cl_hex_encode(b.data, 48, hex);
	CL_GUARD_OUT(err, ctl_store_enclave_pcrs_get(op->srv->store, op->enclave_id, &text));
	o = text && text[0] ? json_loads(text, 0, NULL) : json_object();
	if (json_is_object(o) && memcmp(b.data, zero, sizeof(zero)) == 0)
		json_object_del(o, "7"); /* a restored enclave never provisioned: zero, not shown */
	else if (json_is_object(o) && json_object_set_new(o, "7", json_string(hex)) != 0)
		json_decref(o), o = NULL;
	if (!json_is_object(o) || !(now = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS))) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	err = ctl_store_enclave_pcrs_set(op->srv->store, op->enclave_id, now);
out:
	free(now);
	free(text);
	json_decref(o);
	cl_buf_free(&b);
	return err;
}

/* A measure's document (base64, from the enclave's host): its PCR5 is kept
 * as the enclave's latest measurement, with the time it came. The host
 * signed it; what describe shows is what the host reported. */
static void store_measure(ctl_op *op, const char *data)
{
	cl_buf b;
	cl_att_doc *doc = NULL;
	char hex[97];
	cl_buf_init(&b, CL_ATT_DOC_MAX);
	cl_err err = cl_base64_decode(data, &b);
	if (err == CL_OK)
		err = cl_att_parse(b.data, b.len, &doc);
	if (err == CL_OK) {
		cl_hex_encode(doc->f.pcrs[5], CL_ATT_PCR_LEN, hex);
		if ((err = ctl_store_begin(op->srv->store)) == CL_OK &&
		    (err = ctl_store_enclave_measure_set(op->srv->store, op->enclave_id, hex, cl_now_wall_ms())) == CL_OK)
			err = ctl_store_commit(op->srv->store);
		if (err != CL_OK)
			ctl_store_rollback(op->srv->store);
	}
	if (err != CL_OK)
		cl_warn("measure: the latest measurement not stored enclave=%s: %s", op->enclave_id, cl_error_detail());
	cl_att_doc_free(doc);
	cl_buf_free(&b);
}

static void job_complete(ctl_op *op, bool ok, const char *data, const char *error)
{
	char clean[CTL_MSG_MAX];
	if (strncmp(op->kind, "tls_", 4) == 0) { /* api_tls_job.c */
		ctl_tls_op_end(op->srv, op->kind, op->job_id, op->enclave_id, true, ok, data, error);
		return;
	}
	if (!ok) {
		clean_copy(clean, sizeof(clean), error && error[0] ? error : "failed");
		job_end(op, false, clean);
		return;
	}
	if (strcmp(op->kind, "restore") == 0) { /* the restored PCR7 checked (api_restore.c) */
		cl_err e = ctl_restore_finish(op->srv, op->enclave_id, data);
		if (e == CL_OK && store_register(op, data) != CL_OK) /* describe's PCR7: the replayed one */
			cl_warn("restored enclave's PCR7 not kept for describe enclave=%s: %s", op->enclave_id,
				cl_error_detail());
		if (e != CL_OK)
			clean_copy(clean, sizeof(clean), cl_error_detail());
		job_end(op, e == CL_OK, clean);
		return;
	}
	if (strcmp(op->kind, "suspend") == 0) { /* its blob's commit (api_suspend.c) was the work */
		ctl_state cur;
		bool committed = op->state_n > 0 && ctl_store_state_get(op->srv->store, op->enclave_id, &cur) == CL_OK &&
				 cur.key_n == op->state_n;
		OPENSSL_cleanse(&cur, sizeof(cur));
		job_end(op, committed, "suspend: the host ended it before its state was stored");
		return;
	}
	cl_err err = ctl_store_begin(op->srv->store);
	if (err == CL_OK && (err = store_register(op, data)) == CL_OK)
		err = ctl_store_commit(op->srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(op->srv->store);
		cl_error("provision: registers not stored enclave=%s: %s", op->enclave_id, cl_error_detail());
	}
	job_end(op, true, NULL);
}

cl_err ctl_op_complete(ctl_server *srv, const char *host_id, const char *op_id, bool ok, const char *data,
		       const char *error, const char *reason)
{
	ctl_op *op = srv->ops;
	while (op && !(strcmp(op->id, op_id) == 0 && strcmp(op->host_id, host_id) == 0))
		op = op->next;
	CL_ENSURE(op, CL_ENOTFOUND, "no such op (it may have timed out)");
	unlink_op(srv, op);
	if (op->cancelled) { /* the host dropped (or finished) an op whose caller is gone */
		op_free(op);
		return CL_OK;
	}
	if (op->job_id[0]) {
		job_complete(op, ok, data, error);
		op_free(op);
		return CL_OK;
	}
	struct evhttp_request *req = take_req(op);
	if (!ok) {
		char msg[200], clean[160];
		clean_copy(clean, sizeof(clean), error && error[0] ? error : "failed");
		snprintf(msg, sizeof(msg), "host: %s", clean);
		if (reason && strcmp(reason, "too_many_requests") == 0)
			reply_limit(srv, req, CL_ELIMIT, msg); /* the host's own per-tenant budget */
		else if (reason && strcmp(reason, "expired") == 0)
			ctl_reply_error(srv, req, CL_ETIMEOUT, msg);
		else
			ctl_reply_error(srv, req, CL_EUNAVAIL, msg);
	} else if (strcmp(op->kind, "send") == 0) {
		ctl_reply_json(srv, req, 200, json_pack("{s:I}", "sent", (json_int_t)op->data_len));
	} else if (strcmp(op->kind, "attest") == 0 || strcmp(op->kind, "measure") == 0) {
		if (!data || !data[0]) {
			ctl_reply_error(srv, req, CL_EUNAVAIL, "host: no attestation document in its answer");
		} else {
			if (strcmp(op->kind, "measure") == 0)
				store_measure(op, data);
			ctl_reply_json(srv, req, 200, json_pack("{s:s}", "document", data));
		}
	} else {
		ctl_reply_json(srv, req, 200, json_pack("{s:s}", "data", data ? data : ""));
	}
	op_free(op);
	return CL_OK;
}

unsigned ctl_ops_fail_host(ctl_server *srv, const char *host_id, const char *msg)
{
	unsigned n = 0;
	for (ctl_op **p = &srv->ops; *p;) {
		ctl_op *op = *p;
		if (strcmp(op->host_id, host_id) != 0) {
			p = &op->next;
			continue;
		}
		*p = op->next;
		if (!op->cancelled)
			answer_error(op, CL_EUNAVAIL, msg);
		op_free(op);
		n++;
	}
	return n;
}

void ctl_ops_shutdown(ctl_server *srv)
{
	while (srv->ops) {
		ctl_op *op = srv->ops;
		srv->ops = op->next;
		if (!op->cancelled)
			answer_error(op, CL_EUNAVAIL, "control plane is shutting down");
		op_free(op);
	}
}
