/* ops.c — channel requests (send/recv/logs) relayed to an enclave's host.
 *
 * The tenant's HTTP request is held; the op rides the host's next sync
 * answer; the host posts the result to /v1/hosts/{id}/ops/{op} (or in a
 * sync's "results"); we then answer the tenant. An op not answered within
 * its wait plus CTL_OP_GRACE_MS fails with 504. Ops live only in memory: a
 * restart fails them (the tenant retries), which duplicates nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "control/control.h"

#define CTL_OP_GRACE_MS 15000
/* Each op may hold up to 512 KiB of data and a client connection: cap them. */
#define CTL_OPS_MAX 1024

struct ctl_op {
	ctl_op *next;
	ctl_server *srv;
	char id[CTL_ID_MAX];
	char host_id[CTL_ID_MAX];
	char enclave_id[CTL_ID_MAX];
	char kind[8];
	char *data_b64; /* send only */
	size_t data_len;
	int64_t max, wait_ms;
	bool delivered; /* sent at least once, awaiting the result */
	struct evhttp_request *req;
	struct event *timer;
};

static void op_free(ctl_op *op)
{
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

static void on_op_timeout(evutil_socket_t fd, short what, void *arg)
{
	ctl_op *op = arg;
	ctl_server *srv = op->srv;
	unlink_op(srv, op);
	cl_warn("op timed out op=%s kind=%s enclave=%s host=%s", op->id, op->kind, op->enclave_id, op->host_id);
	ctl_reply_error(srv, op->req, CL_ETIMEOUT, "the enclave's host did not answer in time");
	op_free(op);
}

void ctl_op_submit(ctl_server *srv, struct evhttp_request *req, const ctl_enclave *e, const char *kind,
		   const char *data_b64, size_t data_len, int64_t max, int64_t wait_ms)
{
	if (ctl_ops_count(srv) >= CTL_OPS_MAX) {
		ctl_reply_error(srv, req, CL_EUNAVAIL, "too many channel operations in flight; retry later");
		return;
	}
	ctl_op *op = calloc(1, sizeof(*op));
	if (!op || cl_random_id("op-", op->id, sizeof(op->id)) != CL_OK ||
	    (data_b64 && !(op->data_b64 = strdup(data_b64))) ||
	    !(op->timer = evtimer_new(srv->base, on_op_timeout, op))) {
		if (op)
			op_free(op);
		ctl_reply_error(srv, req, CL_ENOMEM, "out of memory");
		return;
	}
	op->srv = srv;
	op->req = req;
	snprintf(op->host_id, sizeof(op->host_id), "%s", e->host_id);
	snprintf(op->enclave_id, sizeof(op->enclave_id), "%s", e->id);
	snprintf(op->kind, sizeof(op->kind), "%s", kind);
	op->data_len = data_len;
	op->max = max;
	op->wait_ms = wait_ms;
	int64_t ms = wait_ms + CTL_OP_GRACE_MS;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(op->timer, &tv);
	op->next = srv->ops;
	srv->ops = op;
	cl_debug("op queued op=%s kind=%s enclave=%s host=%s", op->id, kind, e->id, e->host_id);
	ctl_sync_wake(srv, e->host_id);
}

bool ctl_ops_pending(ctl_server *srv, const char *host_id)
{
	for (ctl_op *op = srv->ops; op; op = op->next)
		if (!op->delivered && strcmp(op->host_id, host_id) == 0)
			return true;
	return false;
}

unsigned ctl_ops_count(ctl_server *srv)
{
	unsigned n = 0;
	for (ctl_op *op = srv->ops; op; op = op->next)
		n++;
	return n;
}

void ctl_ops_take(ctl_server *srv, const char *host_id, json_t *arr)
{
	for (ctl_op *op = srv->ops; op; op = op->next) {
		if (strcmp(op->host_id, host_id) != 0)
			continue; /* delivered ones too: sent again until the host answers */
		json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I}", "op", op->id, "enclave", op->enclave_id, "kind",
				      op->kind, "max", (json_int_t)op->max, "wait_ms", (json_int_t)op->wait_ms);
		if (!o)
			continue;
		if (op->data_b64)
			json_object_set_new(o, "data", json_string(op->data_b64));
		json_array_append_new(arr, o);
		op->delivered = true;
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

cl_err ctl_op_complete(ctl_server *srv, const char *host_id, const char *op_id, bool ok, const char *data,
		       const char *error)
{
	ctl_op *op = srv->ops;
	while (op && !(strcmp(op->id, op_id) == 0 && strcmp(op->host_id, host_id) == 0))
		op = op->next;
	CL_ENSURE(op, CL_ENOTFOUND, "no such op (it may have timed out)");
	unlink_op(srv, op);
	if (!ok) {
		char msg[200], clean[160];
		clean_copy(clean, sizeof(clean), error && error[0] ? error : "failed");
		snprintf(msg, sizeof(msg), "host: %s", clean);
		ctl_reply_error(srv, op->req, CL_EUNAVAIL, msg);
	} else if (strcmp(op->kind, "send") == 0) {
		ctl_reply_json(srv, op->req, 200, json_pack("{s:I}", "sent", (json_int_t)op->data_len));
	} else {
		ctl_reply_json(srv, op->req, 200, json_pack("{s:s}", "data", data ? data : ""));
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
		ctl_reply_error(srv, op->req, CL_EUNAVAIL, msg);
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
		ctl_reply_error(srv, op->req, CL_EUNAVAIL, "control plane is shutting down");
		op_free(op);
	}
}
