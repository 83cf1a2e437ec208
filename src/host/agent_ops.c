/* agent_ops.c — channel ops (send/recv/logs/eof): the public API, per-tenant
 * budgets, at-most-once, and the engine thread.
 *
 * The sync loop hands ops over (cl_agent_pool_submit); one engine thread
 * runs them all on a libevent loop (agent_ops_run.c) and posts their results
 * with libcurl's multi interface on the same loop (agent_ops_post.c). A
 * parked recv wait costs a socket and a timer, never a thread, so one
 * tenant's waits cannot take what another tenant's ops need:
 *  - budget: at most CL_AGENT_OPS_TENANT_MAX ops in flight per tenant on
 *    this host; beyond, an op is answered "too_many_requests" at once;
 *  - deadline: each op carries the ms left until its result is useless; an
 *    op is answered "expired" instead of being started after it, and a recv
 *    wait is cut at it;
 *  - cancel: an op whose caller went away is dropped (its wait ends).
 * A result the control plane could not be told is kept, bounded, and sent in
 * the next sync's "results" (cl_agent_pool_take_results).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "host/agent_ops.h"
#include "host/agent_ops_internal.h"

#define LOG_EVERY_NS 1000000000ull
#define LOG_BUSY 16

/* ---- results ---- */

json_t *ops_result_error(const char *op, const char *error, const char *reason)
{
	json_t *r = json_pack("{s:s, s:b, s:s}", "op", op, "ok", 0, "error", error);
	if (r && reason && json_object_set_new(r, "reason", json_string(reason)) != 0) {
		json_decref(r);
		return NULL;
	}
	return r;
}

static void pending_push_locked(cl_agent_pool *p, json_t *result)
{
	if (json_array_size(p->pending) >= CL_AGENT_OPS_PENDING_MAX) {
		cl_warn("undelivered op results over the limit; dropping the oldest");
		json_array_remove(p->pending, 0);
	}
	json_array_append(p->pending, result);
}

void ops_pending_push(cl_agent_pool *p, json_t *result)
{
	pthread_mutex_lock(&p->mu);
	pending_push_locked(p, result);
	pthread_mutex_unlock(&p->mu);
}

void cl_agent_pool_fail(cl_agent_pool *p, const char *op, const char *error)
{
	json_t *r = ops_result_error(op, error, NULL);
	if (r)
		ops_pending_push(p, r);
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
			json_t *f = ops_result_error(op ? op : "unknown", "result too large to deliver after a retry",
						     NULL);
			if (!f)
				break;
			json_array_set_new(p->pending, 0, f);
			continue;
		}
		if (used + n > budget || json_array_size(out) >= CL_AGENT_OPS_PENDING_MAX)
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
	json_array_foreach(arr, i, r) ops_pending_push(p, r);
	json_decref(arr);
}

/* ---- at most once: a ring of recent op ids (mu) ---- */

static uint64_t id_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

/* True if id was seen; otherwise remembers it (the oldest id leaves). */
static bool seen_check_add(cl_agent_pool *p, const char *id)
{
	uint64_t h = id_hash(id);
	for (size_t i = 0; i < OPS_SEEN_MAX; i++)
		if (p->seen_hash[i] == h && strcmp(p->seen[i], id) == 0)
			return true;
	snprintf(p->seen[p->seen_next], sizeof(p->seen[0]), "%s", id);
	p->seen_hash[p->seen_next] = h;
	p->seen_next = (p->seen_next + 1) % OPS_SEEN_MAX;
	return false;
}

/* ---- per-tenant budgets (mu) ---- */

static ops_tenant *tenant_find(cl_agent_pool *p, const char *id)
{
	for (size_t i = 0; i < p->ntenants; i++)
		if (strcmp(p->tenants[i].id, id) == 0)
			return &p->tenants[i];
	return NULL;
}

/* Counts one more op of tenant id in flight: CL_ELIMIT at the budget,
 * CL_ENOMEM if the table cannot grow. */
static cl_err tenant_take(cl_agent_pool *p, const char *id)
{
	ops_tenant *t = tenant_find(p, id);
	if (t) {
		CL_ENSURE(t->inflight < CL_AGENT_OPS_TENANT_MAX, CL_ELIMIT, "over budget");
		t->inflight++;
		return CL_OK;
	}
	if (p->ntenants == p->cap_tenants) {
		size_t cap = p->cap_tenants ? 2 * p->cap_tenants : 16;
		ops_tenant *n = realloc(p->tenants, cap * sizeof(*n));
		CL_ENSURE(n, CL_ENOMEM, "out of memory");
		p->tenants = n;
		p->cap_tenants = cap;
	}
	t = &p->tenants[p->ntenants++];
	snprintf(t->id, sizeof(t->id), "%s", id);
	t->inflight = 1;
	return CL_OK;
}

static void tenant_give(cl_agent_pool *p, const char *id)
{
	ops_tenant *t = tenant_find(p, id);
	if (!t || --t->inflight > 0)
		return;
	*t = p->tenants[--p->ntenants]; /* forget tenants with nothing in flight */
}

size_t cl_agent_pool_inflight(cl_agent_pool *p, const char *tenant)
{
	pthread_mutex_lock(&p->mu);
	ops_tenant *t = tenant ? tenant_find(p, tenant) : NULL;
	size_t n = tenant ? (t ? t->inflight : 0) : p->held;
	pthread_mutex_unlock(&p->mu);
	return n;
}

/* ---- the inbox (sync loop -> engine) ---- */

static void wake(cl_agent_pool *p)
{
	uint64_t one = 1;
	while (write(p->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void inbox_append_locked(cl_agent_pool *p, ops_item *it)
{
	it->next = NULL;
	it->prev = p->inbox_tail;
	if (p->inbox_tail)
		p->inbox_tail->next = it;
	else
		p->inbox_head = it;
	p->inbox_tail = it;
}

static ops_item *item_new(cl_agent_pool *p)
{
	ops_item *it = calloc(1, sizeof(*it));
	if (it) {
		it->pool = p;
		it->fd = -1;
	}
	return it;
}

cl_err cl_agent_pool_submit(cl_agent_pool *p, cl_agent_op *op)
{
	json_t *refusal = NULL;
	cl_err err = CL_OK, terr;
	char msg[160];
	bool queued = false;
	ops_item *it = item_new(p);
	pthread_mutex_lock(&p->mu);
	if (seen_check_add(p, op->op))
		goto out; /* already taken: an op runs at most once */
	if (p->held >= CL_AGENT_OPS_MAX) {
		err = cl_errorf(CL_EUNAVAIL, "op queue full");
		goto out;
	}
	if (op->deadline_ms == 0) {
		refusal = ops_result_error(op->op, "expired: the op's deadline passed before it could start", "expired");
		goto out;
	}
	terr = it ? tenant_take(p, op->tenant) : CL_ENOMEM;
	if (terr == CL_ELIMIT) {
		snprintf(msg, sizeof(msg), "tenant has %u channel ops in flight on this host; retry later",
			 CL_AGENT_OPS_TENANT_MAX);
		refusal = ops_result_error(op->op, msg, "too_many_requests");
		goto out;
	}
	if (terr != CL_OK) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	it->op = *op;
	op->data = NULL; /* ours now */
	op->att = NULL;
	op->prov = NULL;
	op->state = NULL;
	op->tls = NULL;
	it->deadline_ns = cl_now_mono_ns() + (uint64_t)op->deadline_ms * 1000000u;
	p->held++;
	inbox_append_locked(p, it);
	queued = true;
out:
	if (refusal) {
		cl_debug("op refused op=%s reason=%s", op->op,
			 json_string_value(json_object_get(refusal, "reason")));
		pending_push_locked(p, refusal);
		json_decref(refusal);
	}
	pthread_mutex_unlock(&p->mu);
	if (queued)
		wake(p);
	else
		free(it);
	return err;
}

void cl_agent_pool_cancel(cl_agent_pool *p, const char *op)
{
	ops_item *it = item_new(p);
	bool queued = false;
	pthread_mutex_lock(&p->mu);
	bool known = seen_check_add(p, op); /* unknown: a late copy must not run */
	if (known && it) {
		snprintf(it->op.op, sizeof(it->op.op), "%s", op);
		it->cancel = true;
		inbox_append_locked(p, it);
		queued = true;
	}
	pthread_mutex_unlock(&p->mu);
	if (queued)
		wake(p);
	else
		free(it);
}

/* ---- the engine (engine thread) ---- */

/* A busy host (LOG_BUSY ops or more in flight) logs its count at most once a
 * second until it is idle again, and then says so once; a quiet one logs
 * nothing. */
static void log_count(cl_agent_pool *p)
{
	size_t n = cl_agent_pool_inflight(p, NULL);
	uint64_t now = cl_now_mono_ns();
	if ((!p->log_busy && n < LOG_BUSY) || n == p->log_n || (n != 0 && now - p->log_ns < LOG_EVERY_NS))
		return;
	cl_info("channel ops in flight n=%zu", n);
	p->log_n = n;
	p->log_ns = now;
	p->log_busy = n != 0;
}

void ops_item_free(ops_item *it)
{
	if (!it)
		return;
	if (it->io)
		event_free(it->io);
	if (it->timer)
		event_free(it->timer);
	if (it->fd >= 0)
		close(it->fd);
	if (it->out) {
		explicit_bzero(it->out, it->out_len);
		free(it->out);
	}
	if (it->in) {
		explicit_bzero(it->in, it->in_len);
		free(it->in);
	}
	cl_agent_op_clear(&it->op);
	free(it);
}

/* Unlinks it from the engine's list and frees it, gives back its budget,
 * and delivers result (stolen). Returns its enclave (NULL if never queued). */
static ops_enclave *complete(cl_agent_pool *p, ops_item *it, json_t *result)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		p->ops = it->next;
	if (it->next)
		it->next->prev = it->prev;
	ops_enclave *enc = it->enc;
	if (enc && it->running)
		enc->running--;
	/* the result first: once the op no longer counts, its result is there */
	if (result && p->post) {
		ops_post_result(p, result);
	} else if (result) {
		ops_pending_push(p, result);
		json_decref(result);
	}
	pthread_mutex_lock(&p->mu);
	tenant_give(p, it->op.tenant);
	p->held--;
	pthread_mutex_unlock(&p->mu);
	ops_item_free(it);
	return enc;
}

void ops_finish(cl_agent_pool *p, ops_item *it, json_t *result)
{
	ops_enclave *enc = complete(p, it, result);
	if (enc) {
		ops_run_next(p, enc);
		ops_enclave_release(p, enc);
	}
	log_count(p);
}

void ops_finish_queued(cl_agent_pool *p, ops_item *it, json_t *result)
{
	(void)complete(p, it, result);
}

static void engine_cancel(cl_agent_pool *p, const char *id)
{
	ops_item *it = p->ops;
	while (it && strcmp(it->op.op, id) != 0)
		it = it->next;
	if (!it)
		return; /* already answered */
	if (it->measuring) {
		it->cancelled = true; /* its thread reads it: answered when it is done */
		return;
	}
	cl_debug("op cancelled: its caller went away op=%s running=%d", id, it->running ? 1 : 0);
	ops_run_dequeue(it);
	ops_finish(p, it, ops_result_error(id, "cancelled: the caller went away", "cancelled"));
}

/* An attest op needs no shim: its document is made here, at once (a
 * measure's too, when it is answered without running: run_measure). */
static void run_attest(cl_agent_pool *p, ops_item *it, cl_agent_attest_fn fn, void *ctx)
{
	json_t *res;
	if (cl_now_mono_ns() >= it->deadline_ns)
		res = ops_result_error(it->op.op, "expired: the op's deadline passed before it could start", "expired");
	else if (!fn)
		res = ops_result_error(it->op.op, "this host cannot attest", NULL);
	else
		res = fn(ctx, p->dir, &it->op);
	if (!res)
		res = ops_result_error(it->op.op, "out of memory", NULL);
	ops_finish(p, it, res);
}

/* A TLS op needs no shim either: a key holder request or two (each
 * bounded: agent_privsep.h) and a chain check, answered at once. */
static void run_tls(cl_agent_pool *p, ops_item *it, cl_agent_tls_fn fn, void *ctx)
{
	json_t *res;
	if (cl_now_mono_ns() >= it->deadline_ns)
		res = ops_result_error(it->op.op, "expired: the op's deadline passed before it could start", "expired");
	else if (!fn)
		res = ops_result_error(it->op.op, "this host cannot serve TLS", NULL);
	else
		res = fn(ctx, &it->op);
	if (!res)
		res = ops_result_error(it->op.op, "out of memory", NULL);
	ops_finish(p, it, res);
}

/* A measure pauses its enclave and reads it for up to CL_RTM_PAUSE_MS (and
 * waits for another enclave's measure): it runs on a thread of its own, so
 * the engine goes on with every other op meanwhile. The thread only reads
 * it->op and p's read-only fields; its result goes back to the engine
 * (done list + wake), which finishes the op; cl_agent_pool_free waits for
 * the threads. */
typedef struct measure_job {
	cl_agent_pool *p;
	ops_item *it;
	cl_agent_attest_fn fn;
	void *ctx;
} measure_job;

static void *measure_main(void *arg)
{
	measure_job *j = arg;
	cl_agent_pool *p = j->p;
	json_t *res = j->fn(j->ctx, p->dir, &j->it->op);
	pthread_mutex_lock(&p->mu);
	j->it->done = res ? res : ops_result_error(j->it->op.op, "out of memory", NULL);
	j->it->done_next = p->done_head;
	p->done_head = j->it;
	p->measuring--;
	pthread_cond_broadcast(&p->measured);
	pthread_mutex_unlock(&p->mu);
	wake(p);
	free(j);
	return NULL;
}

static void run_measure(cl_agent_pool *p, ops_item *it, cl_agent_attest_fn fn, void *ctx)
{
	measure_job *j = NULL;
	pthread_t t;
	pthread_attr_t attr;
	if (cl_now_mono_ns() >= it->deadline_ns || !fn || !(j = malloc(sizeof(*j)))) {
		run_attest(p, it, fn, ctx); /* answered at once: expired, cannot attest, or no memory */
		return;
	}
	*j = (measure_job){p, it, fn, ctx};
	it->measuring = true;
	pthread_mutex_lock(&p->mu);
	p->measuring++;
	pthread_mutex_unlock(&p->mu);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, measure_main, j) != 0) {
		pthread_mutex_lock(&p->mu);
		p->measuring--;
		pthread_mutex_unlock(&p->mu);
		it->measuring = false;
		free(j);
		ops_finish(p, it, ops_result_error(it->op.op, "host busy: cannot start the measure", NULL));
	}
	pthread_attr_destroy(&attr);
}

/* (engine) Finishes the measures whose thread is done. */
static void measures_done(cl_agent_pool *p)
{
	pthread_mutex_lock(&p->mu);
	ops_item *list = p->done_head;
	p->done_head = NULL;
	pthread_mutex_unlock(&p->mu);
	for (ops_item *it = list, *next; it; it = next) {
		next = it->done_next;
		json_t *res = it->done;
		it->done = NULL;
		it->measuring = false;
		if (it->cancelled) {
			json_decref(res);
			res = ops_result_error(it->op.op, "cancelled: the caller went away", "cancelled");
		}
		ops_finish(p, it, res);
	}
}

void cl_agent_pool_set_attest(cl_agent_pool *p, cl_agent_attest_fn fn, void *ctx)
{
	pthread_mutex_lock(&p->mu);
	p->attest = fn;
	p->attest_ctx = ctx;
	pthread_mutex_unlock(&p->mu);
}

void cl_agent_pool_set_tls(cl_agent_pool *p, cl_agent_tls_fn fn, void *ctx)
{
	pthread_mutex_lock(&p->mu);
	p->tls = fn;
	p->tls_ctx = ctx;
	pthread_mutex_unlock(&p->mu);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	cl_agent_pool *p = arg;
	uint64_t v;
	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&p->mu);
	bool stop = p->stop;
	cl_agent_attest_fn attest = p->attest;
	void *attest_ctx = p->attest_ctx;
	cl_agent_tls_fn tls = p->tls;
	void *tls_ctx = p->tls_ctx;
	ops_item *list = p->inbox_head;
	p->inbox_head = p->inbox_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	if (!stop)
		measures_done(p);
	if (stop) {
		/* back into the inbox: cl_agent_pool_free frees what is there */
		pthread_mutex_lock(&p->mu);
		for (ops_item *it = list, *next; it; it = next) {
			next = it->next;
			inbox_append_locked(p, it);
		}
		pthread_mutex_unlock(&p->mu);
		event_base_loopbreak(p->base);
		return;
	}
	for (ops_item *it = list, *next; it; it = next) {
		next = it->next;
		if (it->cancel) {
			engine_cancel(p, it->op.op);
			free(it);
			continue;
		}
		it->prev = NULL;
		it->next = p->ops;
		if (p->ops)
			p->ops->prev = it;
		p->ops = it;
		if (it->op.kind == CL_OP_ATTEST) {
			run_attest(p, it, attest, attest_ctx);
		} else if (it->op.kind == CL_OP_MEASURE) {
			run_measure(p, it, attest, attest_ctx);
		} else if (it->op.kind == CL_OP_PROVISION) {
			ops_provision_start(p, &it->op);
			ops_finish(p, it, NULL);
		} else if (it->op.kind == CL_OP_SUSPEND || it->op.kind == CL_OP_RESTORE) {
			ops_state_start(p, &it->op, attest, attest_ctx);
			ops_finish(p, it, NULL);
		} else if (it->op.kind == CL_OP_TLS_GENERATE || it->op.kind == CL_OP_TLS_INSTALL ||
			   it->op.kind == CL_OP_TLS_REMOVE) {
			run_tls(p, it, tls, tls_ctx);
		} else
			ops_run_enqueue(p, it);
	}
	log_count(p);
}

static void *engine_main(void *arg)
{
	cl_agent_pool *p = arg;
	event_base_loop(p->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

void cl_agent_pool_free(cl_agent_pool *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_mutex_unlock(&p->mu);
		wake(p);
		pthread_join(p->thread, NULL);
	}
	/* measures still running read their items: wait for them (each is
	 * bounded: CL_RTM_PAUSE_MS and the key holder's) */
	pthread_mutex_lock(&p->mu);
	while (p->measuring)
		pthread_cond_wait(&p->measured, &p->mu);
	for (ops_item *it = p->done_head; it; it = it->done_next) {
		json_decref(it->done);
		it->done = NULL;
	}
	p->done_head = NULL;
	pthread_mutex_unlock(&p->mu);
	/* The engine is gone: abandon what it held (the control plane times
	 * those ops out). */
	ops_post_free(p);
	while (p->ops) {
		ops_item *it = p->ops;
		p->ops = it->next;
		ops_item_free(it);
	}
	while (p->enclaves) {
		ops_enclave *e = p->enclaves;
		p->enclaves = e->next;
		free(e);
	}
	while (p->inbox_head) {
		ops_item *it = p->inbox_head;
		p->inbox_head = it->next;
		ops_item_free(it);
	}
	if (p->wake_ev)
		event_free(p->wake_ev);
	if (p->base)
		event_base_free(p->base);
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	json_decref(p->pending);
	free(p->tenants);
	free(p->dir);
	free(p->host_id);
	free(p->control);
	free(p->ca);
	if (p->token) {
		explicit_bzero(p->token, strlen(p->token));
		free(p->token);
	}
	pthread_cond_destroy(&p->measured);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

cl_err cl_agent_pool_new(const char *control, const char *ca, const char *token, const char *host_id,
			 const char *dir, cl_agent_pool **out)
{
	cl_err err = CL_OK;
	cl_agent_pool *p = calloc(1, sizeof(*p));
	CL_ENSURE(p, CL_ENOMEM, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->measured, NULL);
	p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->pending = json_array();
	p->dir = strdup(dir);
	p->host_id = strdup(host_id);
	p->base = event_base_new();
	if (p->wake_fd < 0 || !p->pending || !p->dir || !p->host_id || !p->base ||
	    !(p->wake_ev = event_new(p->base, p->wake_fd, EV_READ | EV_PERSIST, on_wake, p)) ||
	    event_add(p->wake_ev, NULL) != 0) {
		err = cl_errorf(CL_ENOMEM, "cannot set up the ops engine");
		goto out;
	}
	if (control)
		CL_GUARD_OUT(err, ops_post_new(p, control, ca, token));
	if ((control && !(p->control = strdup(control))) || (ca && !(p->ca = strdup(ca))) ||
	    (token && !(p->token = strdup(token)))) {
		err = cl_errorf(CL_ENOMEM, "cannot set up the ops engine");
		goto out;
	}
	if (pthread_create(&p->thread, NULL, engine_main, p) != 0) {
		err = cl_errorf(CL_ESYS, "cannot start the ops engine");
		goto out;
	}
	p->started = true;
	*out = p;
out:
	if (err != CL_OK)
		cl_agent_pool_free(p);
	return err;
}
