/* agent_ops.c — channel ops (send/recv/logs/eof) on a bounded worker pool.
 *
 * The sync loop must never block on an enclave, so each op runs on one of a
 * fixed number of worker threads; each worker owns its HTTPS client (libcurl
 * handles are not shared) and posts the result to
 * POST /v1/hosts/{id}/ops/{op}. A result the control plane could not be told
 * (unreachable) is kept, bounded, and sent in the next sync's "results".
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/util.h"
#include "host/agent.h"
#include "sandbox/sandbox.h"

#define QUEUE_MAX 1024
#define SEEN_MAX 4096
#define PENDING_MAX 256

struct cl_agent_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	cl_agent_op queue[QUEUE_MAX]; /* ring */
	size_t qhead, qlen;
	char seen[SEEN_MAX][CL_AGENT_ID_MAX]; /* ring of op ids accepted */
	size_t seen_next;
	json_t *pending; /* array of results not yet delivered */
	char *control, *ca, *token, *host_id, *dir;
	pthread_t *threads;
	size_t nthreads;
};

static void pending_push(cl_agent_pool *p, json_t *result)
{
	pthread_mutex_lock(&p->mu);
	if (json_array_size(p->pending) >= PENDING_MAX) {
		cl_warn("undelivered op results over the limit; dropping the oldest");
		json_array_remove(p->pending, 0);
	}
	json_array_append(p->pending, result);
	pthread_mutex_unlock(&p->mu);
}

static json_t *result_error(const char *op, const char *error)
{
	return json_pack("{s:s, s:b, s:s}", "op", op, "ok", 0, "error", error);
}

void cl_agent_pool_fail(cl_agent_pool *p, const char *op, const char *error)
{
	json_t *r = result_error(op, error);
	if (r)
		pending_push(p, r);
	json_decref(r);
}

json_t *cl_agent_pool_take_results(cl_agent_pool *p, size_t budget)
{
	json_t *out = json_array();
	if (!out)
		return NULL;
	size_t used = 0;
	pthread_mutex_lock(&p->mu);
	while (json_array_size(p->pending) > 0) {
		json_t *r = json_array_get(p->pending, 0);
		size_t n = json_string_length(json_object_get(r, "data")) + 256;
		if (n > budget) {
			const char *op = json_string_value(json_object_get(r, "op"));
			json_t *f = result_error(op ? op : "unknown", "result too large to deliver after a retry");
			if (!f)
				break;
			json_array_set_new(p->pending, 0, f);
			continue;
		}
		if (used + n > budget || json_array_size(out) >= PENDING_MAX)
			break;
		json_array_append(out, r);
		json_array_remove(p->pending, 0);
		used += n;
	}
	pthread_mutex_unlock(&p->mu);
	return out;
}

void cl_agent_pool_requeue(cl_agent_pool *p, json_t *arr)
{
	size_t i;
	json_t *r;
	json_array_foreach(arr, i, r) pending_push(p, r);
	json_decref(arr);
}

/* Runs one op against the enclave's shim. On success *data is malloc'd
 * base64 (or NULL when the op returns no data). On failure, error[] says why. */
static bool run_op(const char *dir, const cl_agent_op *op, char **data, char *error, size_t errlen)
{
	*data = NULL;
	int fd = -1;
	bool ok = false;
	uint8_t *reply = NULL;
	cl_buf in;
	cl_buf_init(&in, CL_FRAME_MAX);
	if (cl_sandbox_connect(dir, op->enclave, &fd) != CL_OK) {
		snprintf(error, errlen, "enclave %s is not reachable: %s", op->enclave, cl_error_detail());
		goto out;
	}
	/* Bound every wait on the shim: the op's own wait plus slack. */
	struct timeval tv = {.tv_sec = (op->wait_ms / 1000) + 10, .tv_usec = 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	uint8_t req[8], type = 0, rtype = 0;
	const void *payload = req;
	uint32_t plen = 0, max = op->max ? op->max : 1, rmax, rlen = 0;
	switch (op->kind) {
	case CL_OP_SEND:
		if (cl_base64_decode(op->data ? op->data : "", &in) != CL_OK) {
			snprintf(error, errlen, "send: data is not valid base64 (at most 1 MiB)");
			goto out;
		}
		type = CL_FRAME_DATA;
		payload = in.data;
		plen = (uint32_t)in.len;
		break;
	case CL_OP_EOF:
		type = CL_FRAME_EOF;
		break;
	case CL_OP_RECV: {
		uint32_t m = htonl(max), w = htonl(op->wait_ms);
		memcpy(req, &m, 4);
		memcpy(req + 4, &w, 4);
		type = CL_FRAME_RECV;
		plen = 8;
		break;
	}
	case CL_OP_LOGS: {
		uint32_t m = htonl(max);
		memcpy(req, &m, 4);
		type = CL_FRAME_LOGS;
		plen = 4;
		break;
	}
	default:
		snprintf(error, errlen, "unknown op kind");
		goto out;
	}
	rmax = max < 4096 ? 4096 : max; /* room for an ERROR message */
	reply = malloc(rmax + 1);
	if (!reply) {
		snprintf(error, errlen, "out of memory");
		goto out;
	}
	if (cl_sandbox_call(fd, type, payload, plen, &rtype, reply, rmax, &rlen) != CL_OK) {
		snprintf(error, errlen, "enclave %s: %s", op->enclave, cl_error_detail());
		goto out;
	}
	if (rtype == CL_FRAME_ERROR) {
		reply[rlen < rmax ? rlen : rmax] = '\0';
		for (uint32_t i = 0; i < rlen; i++) /* keep it printable */
			if (reply[i] < 0x20 || reply[i] >= 0x7f)
				reply[i] = '?';
		snprintf(error, errlen, "enclave %s: %s", op->enclave, (const char *)reply);
		goto out;
	}
	uint8_t want = (op->kind == CL_OP_RECV) ? CL_FRAME_DATA : (op->kind == CL_OP_LOGS) ? CL_FRAME_LOG : CL_FRAME_OK;
	if (rtype != want) {
		snprintf(error, errlen, "enclave %s: unexpected reply type %u from the shim", op->enclave, rtype);
		goto out;
	}
	if ((op->kind == CL_OP_RECV || op->kind == CL_OP_LOGS) && cl_base64_encode(reply, rlen, data) != CL_OK) {
		snprintf(error, errlen, "out of memory");
		goto out;
	}
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	free(reply);
	cl_buf_free(&in); /* enclave data: wiped */
	return ok;
}

/* Posts one result; returns true if the control plane took it (or refused it
 * for good: unknown or already answered op), false to retry via sync. */
static bool post_result(cl_agent_pool *p, cl_http_client *http, const char *op, json_t *result)
{
	char path[256];
	if (snprintf(path, sizeof(path), "/v1/hosts/%s/ops/%s", p->host_id, op) >= (int)sizeof(path))
		return true;
	json_t *body = json_deep_copy(result);
	json_object_del(body, "op");
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return false;
	cl_buf resp;
	cl_buf_init(&resp, 65536);
	long status = 0;
	cl_err err = cl_http_request(http, "POST", path, NULL, text, strlen(text), "application/json", &status, &resp);
	free(text);
	cl_buf_free(&resp);
	if (err != CL_OK) {
		cl_warn("op result not delivered; will send it with the next sync op=%s err=%s", op, cl_err_name(err));
		return false;
	}
	if (status >= 500) {
		cl_warn("op result refused; will send it with the next sync op=%s status=%ld", op, status);
		return false;
	}
	if (status >= 300)
		cl_warn("op result rejected op=%s status=%ld", op, status);
	return true;
}

static void *worker(void *arg)
{
	cl_agent_pool *p = arg;
	cl_http_client *http = NULL;
	if (cl_http_client_new(p->control, p->ca, p->token, &http) != CL_OK)
		http = NULL;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->qlen == 0)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		cl_agent_op op = p->queue[p->qhead];
		p->qhead = (p->qhead + 1) % QUEUE_MAX;
		p->qlen--;
		pthread_mutex_unlock(&p->mu);

		char *data = NULL, error[512] = "";
		bool ok = run_op(p->dir, &op, &data, error, sizeof(error));
		json_t *result = ok ? json_pack("{s:s, s:b}", "op", op.op, "ok", 1) : result_error(op.op, error);
		if (result && ok && data)
			json_object_set_new(result, "data", json_string(data));
		if (data) {
			explicit_bzero(data, strlen(data));
			free(data);
		}
		if (op.data) {
			explicit_bzero(op.data, strlen(op.data));
			free(op.data);
		}
		if (result && !(http && post_result(p, http, op.op, result)))
			pending_push(p, result);
		json_decref(result);
	}
	cl_http_client_free(http);
	return NULL;
}

cl_err cl_agent_pool_submit(cl_agent_pool *p, cl_agent_op *op)
{
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < SEEN_MAX; i++) {
		if (strcmp(p->seen[i], op->op) == 0) {
			pthread_mutex_unlock(&p->mu);
			return CL_OK; /* already taken: an op runs at most once */
		}
	}
	if (p->qlen >= QUEUE_MAX) {
		pthread_mutex_unlock(&p->mu);
		return cl_errorf(CL_EUNAVAIL, "op queue full");
	}
	memcpy(p->seen[p->seen_next], op->op, sizeof(op->op));
	p->seen_next = (p->seen_next + 1) % SEEN_MAX;
	p->queue[(p->qhead + p->qlen) % QUEUE_MAX] = *op;
	p->qlen++;
	op->data = NULL;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return CL_OK;
}

void cl_agent_pool_free(cl_agent_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (size_t i = 0; i < p->qlen; i++)
		free(p->queue[(p->qhead + i) % QUEUE_MAX].data);
	json_decref(p->pending);
	if (p->token) {
		explicit_bzero(p->token, strlen(p->token));
		free(p->token);
	}
	free(p->control);
	free(p->ca);
	free(p->host_id);
	free(p->dir);
	free(p->threads);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

cl_err cl_agent_pool_new(const char *control, const char *ca, const char *token, const char *host_id,
			 const char *dir, size_t nthreads, cl_agent_pool **out)
{
	CL_ENSURE(nthreads >= 1 && nthreads <= 256, CL_EINVAL, "worker count out of range");
	cl_agent_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return cl_errorf(CL_ENOMEM, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->pending = json_array();
	p->control = strdup(control);
	p->ca = strdup(ca);
	p->token = strdup(token);
	p->host_id = strdup(host_id);
	p->dir = strdup(dir);
	p->threads = calloc(nthreads, sizeof(*p->threads));
	if (!p->pending || !p->control || !p->ca || !p->token || !p->host_id || !p->dir || !p->threads) {
		cl_agent_pool_free(p);
		return cl_errorf(CL_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
			cl_agent_pool_free(p);
			return cl_errorf(CL_ESYS, "cannot start op workers");
		}
		p->nthreads++;
	}
	*out = p;
	return CL_OK;
}
