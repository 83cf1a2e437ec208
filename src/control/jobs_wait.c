/* jobs_wait.c — GET /v1/jobs/{id}, and ?wait=SECONDS: a job the client can
 * wait on instead of polling it.
 *
 * A wait on a job that is not final parks the request (no thread: an
 * evhttp request held on the loop, like a held host sync) until one of:
 * - the job reaches succeeded/failed: answered with it at once;
 * - with &steps=N, the job has more than N steps (api_tls_job.c records
 *   them): answered at once, so a client shows each step as it happens;
 * - the wait ends: answered with the job as it is then (still pending or
 *   running; the client asks again);
 * - the caller goes away: dropped (its connection's close, or anything
 *   arriving on it, as for channel ops in ops.c);
 * - shutdown: 503.
 *
 * Waking: whatever finishes a job calls ctl_jobs_wake, usually inside a
 * transaction that is not committed yet. The wake only marks the job's waits
 * "due" and activates one event; its callback runs after the current
 * callback has returned — the transaction is committed or rolled back by
 * then (the loop is single-threaded) — and reads each due job from the
 * store: only a committed final state is ever answered, a rolled-back one
 * leaves the wait parked.
 *
 * Budgets: a tenant may park CTL_JOBWAIT_TENANT_MAX waits (429 beyond), the
 * control plane CTL_JOBWAIT_MAX in all (503 beyond), both with Retry-After:
 * each parked wait holds a connection and a little memory.
 */
#include <errno.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/util.h"
#include "control/api_tls.h"
#include "control/control.h"
#include "control/store_tls.h"
#include "control/validate.h"

#define JOBWAIT_RETRY_AFTER "1"

struct ctl_jobwait {
	ctl_jobwait *next;
	ctl_server *srv;
	char job_id[CTL_ID_MAX];
	char tenant_id[CTL_ID_MAX];
	bool due;      /* its job may have changed: read it again */
	int64_t steps; /* answer once the job has more steps than this; -1: only at its end */
	struct evhttp_request *req;
	struct evhttp_connection *conn; /* req's connection, watched (closecb), or NULL */
	struct event *close_ev;         /* watches conn's socket for the caller closing */
	struct event *timer;            /* the end of the wait */
};

static bool job_final(const ctl_job *j)
{
	return strcmp(j->state, "succeeded") == 0 || strcmp(j->state, "failed") == 0;
}

/* Parses ?wait=: absent is 0; else 0..CTL_JOBWAIT_MAX_S whole seconds,
 * digits only (no sign, space or fraction). */
static cl_err parse_wait(ctl_req *r, unsigned *wait_s)
{
	const char *w = evhttp_find_header(&r->query, "wait");
	*wait_s = 0;
	if (!w)
		return CL_OK;
	size_t n = strlen(w);
	bool digits = n > 0 && n <= 3;
	for (size_t i = 0; digits && i < n; i++)
		digits = w[i] >= '0' && w[i] <= '9';
	unsigned v = 0;
	for (size_t i = 0; digits && i < n; i++)
		v = v * 10 + (unsigned)(w[i] - '0');
	CL_ENSURE(digits && v <= CTL_JOBWAIT_MAX_S, CL_EINVAL, "wait must be whole seconds, 0..%d",
		  CTL_JOBWAIT_MAX_S);
	*wait_s = v;
	return CL_OK;
}

/* Parses ?steps=: absent is -1; else 0..CTL_JOB_STEPS_MAX, digits only. */
static cl_err parse_steps(ctl_req *r, int64_t *steps)
{
	const char *w = evhttp_find_header(&r->query, "steps");
	*steps = -1;
	if (!w)
		return CL_OK;
	size_t n = strlen(w);
	bool digits = n > 0 && n <= 2;
	int64_t v = 0;
	for (size_t i = 0; digits && i < n; i++) {
		digits = w[i] >= '0' && w[i] <= '9';
		v = v * 10 + (w[i] - '0');
	}
	CL_ENSURE(digits && v <= CTL_JOB_STEPS_MAX, CL_EINVAL, "steps must be a whole number, 0..%d",
		  CTL_JOB_STEPS_MAX);
	*steps = v;
	return CL_OK;
}

/* The job's JSON with its "steps" (a new reference; NULL when out of memory). */
static json_t *job_json(ctl_server *srv, const ctl_job *j)
{
	json_t *o = ctl_job_json(j), *steps = ctl_job_steps_json(srv, j->id);
	if (!o || !steps || json_object_set_new(o, "steps", steps) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* True if a wait for more than `steps` steps of job_id is over. */
static bool more_steps(ctl_server *srv, const char *job_id, int64_t steps)
{
	int64_t n = 0;
	if (steps < 0)
		return false;
	if (ctl_store_step_count(srv->store, job_id, &n) != CL_OK) {
		cl_error_clear();
		return true; /* answered: the reader sees the store's error or the job */
	}
	return n > steps;
}

static void unlink_wait(ctl_server *srv, ctl_jobwait *w)
{
	for (ctl_jobwait **p = &srv->jobwaits; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			srv->job_waiters--;
			return;
		}
}

/* Unlinks w, stops watching its caller and frees it; returns its request
 * (the one reply it still gets is the caller's to send). */
static struct evhttp_request *wait_end(ctl_jobwait *w)
{
	struct evhttp_request *req = w->req;
	unlink_wait(w->srv, w);
	if (w->conn && req && evhttp_request_get_connection(req) == w->conn)
		evhttp_connection_set_closecb(w->conn, NULL, NULL);
	if (w->close_ev)
		event_free(w->close_ev);
	if (w->timer)
		event_free(w->timer);
	free(w);
	return req;
}

/* Answers w with its job as stored now and ends it. */
static void answer_now(ctl_jobwait *w)
{
	ctl_server *srv = w->srv;
	ctl_job j;
	cl_err err = ctl_store_job_get(srv->store, w->job_id, &j);
	struct evhttp_request *req = wait_end(w);
	json_t *o = err == CL_OK ? job_json(srv, &j) : NULL;
	if (err != CL_OK)
		ctl_reply_err(srv, req, err);
	else if (!o)
		ctl_reply_error(srv, req, CL_ENOMEM, "out of memory");
	else
		ctl_reply_json(srv, req, 200, o);
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	answer_now(arg);
}

/* The caller is gone: nobody reads the answer; it only frees the request
 * (499, as for channel ops, so /metrics tells these apart). */
static void caller_gone(ctl_jobwait *w)
{
	ctl_server *srv = w->srv;
	cl_debug("job wait dropped: the caller went away job=%s tenant=%s", w->job_id, w->tenant_id);
	struct evhttp_request *req = wait_end(w);
	ctl_reply_json(srv, req, 499,
		       json_pack("{s:{s:s,s:s}}", "error", "code", "cancelled", "message", "the caller went away"));
}

static void on_caller_close(struct evhttp_connection *conn, void *arg)
{
	ctl_jobwait *w = arg;
	if (w->conn != conn)
		return;
	w->conn = NULL; /* going away: do not touch it */
	caller_gone(w);
}

/* The caller's socket is readable: an HTTP client sends nothing while it
 * waits for the answer, so anything arriving (end of stream, an error, a TLS
 * close_notify) means it gave up (as for held syncs, sync.c). */
static void on_caller_readable(evutil_socket_t fd, short what, void *arg)
{
	unsigned char b[1];
	ssize_t n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	caller_gone(arg);
}

static void watch(ctl_jobwait *w)
{
	w->conn = evhttp_request_get_connection(w->req);
	if (!w->conn)
		return;
	evhttp_connection_set_closecb(w->conn, on_caller_close, w);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(w->conn);
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd >= 0 &&
	    (w->close_ev = event_new(w->srv->base, fd, EV_READ | EV_PERSIST, on_caller_readable, w)) &&
	    event_add(w->close_ev, NULL) != 0) {
		event_free(w->close_ev);
		w->close_ev = NULL;
	}
}

/* Runs after the callback that woke jobs has returned: reads each due job
 * (committed state) and answers the waits whose job is final. */
static void on_recheck(evutil_socket_t fd, short what, void *arg)
{
	ctl_server *srv = arg;
	ctl_jobwait *w = srv->jobwaits;
	while (w) {
		ctl_jobwait *next = w->next; /* answering frees w, and only w */
		if (w->due) {
			w->due = false;
			ctl_job j;
			cl_err err = ctl_store_job_get(srv->store, w->job_id, &j);
			if (err != CL_OK || job_final(&j) || more_steps(srv, w->job_id, w->steps))
				answer_now(w); /* an error (the job is gone?) is answered too */
			cl_error_clear();
		}
		w = next;
	}
}

void ctl_jobs_wake(ctl_server *srv, const char *job_id)
{
	bool any = false;
	for (ctl_jobwait *w = srv->jobwaits; w; w = w->next)
		if (!job_id || strcmp(w->job_id, job_id) == 0) {
			w->due = true;
			any = true;
		}
	if (any && srv->jobwait_recheck)
		event_active(srv->jobwait_recheck, EV_TIMEOUT, 0);
}

static void reply_limit(ctl_server *srv, struct evhttp_request *req, cl_err e, const char *msg)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", JOBWAIT_RETRY_AFTER);
	ctl_reply_error(srv, req, e, msg);
}

/* Parks r's request on job j for wait_s seconds (j not final), or answers
 * 429/503 over a budget. */
static void park(ctl_req *r, const ctl_job *j, unsigned wait_s, int64_t steps)
{
	ctl_server *srv = r->srv;
	unsigned tenant = 0;
	char msg[160];
	for (ctl_jobwait *w = srv->jobwaits; w; w = w->next)
		tenant += strcmp(w->tenant_id, r->who.tenant_id) == 0;
	if (srv->job_waiters >= CTL_JOBWAIT_MAX) {
		reply_limit(srv, r->req, CL_EUNAVAIL, "too many job waits parked; retry later");
		return;
	}
	if (tenant >= CTL_JOBWAIT_TENANT_MAX) {
		snprintf(msg, sizeof(msg), "the tenant has %u job waits parked (at most %u); retry later", tenant,
			 CTL_JOBWAIT_TENANT_MAX);
		cl_debug("job wait refused: tenant over budget tenant=%s waits=%u", r->who.tenant_id, tenant);
		reply_limit(srv, r->req, CL_ELIMIT, msg);
		return;
	}
	if (!srv->jobwait_recheck && !(srv->jobwait_recheck = event_new(srv->base, -1, 0, on_recheck, srv))) {
		ctl_reply_error(srv, r->req, CL_ENOMEM, "out of memory");
		return;
	}
	ctl_jobwait *w = calloc(1, sizeof(*w));
	if (!w || !(w->timer = evtimer_new(srv->base, on_wait_timeout, w))) {
		free(w);
		ctl_reply_error(srv, r->req, CL_ENOMEM, "out of memory");
		return;
	}
	w->srv = srv;
	w->req = r->req;
	w->steps = steps;
	snprintf(w->job_id, sizeof(w->job_id), "%s", j->id);
	snprintf(w->tenant_id, sizeof(w->tenant_id), "%s", r->who.tenant_id);
	struct timeval tv = {.tv_sec = (time_t)wait_s, .tv_usec = 0};
	evtimer_add(w->timer, &tv);
	watch(w);
	w->next = srv->jobwaits;
	srv->jobwaits = w;
	srv->job_waiters++;
}

void ctl_api_jobs(ctl_req *r)
{
	ctl_job j;
	unsigned wait_s = 0;
	int64_t steps = -1;
	if (r->nseg != 3 || r->method != EVHTTP_REQ_GET) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
		return;
	}
	cl_err err = parse_wait(r, &wait_s);
	if (err == CL_OK)
		err = parse_steps(r, &steps);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	if (!ctl_valid_id(r->seg[2]) || ctl_store_job_get(r->srv->store, r->seg[2], &j) != CL_OK ||
	    r->who.kind == CTL_WHO_HOST ||
	    (r->who.kind != CTL_WHO_ADMIN && strcmp(j.tenant_id, r->who.tenant_id) != 0)) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "job not found");
		return;
	}
	if (wait_s == 0 || job_final(&j) || more_steps(r->srv, j.id, steps)) {
		json_t *o = job_json(r->srv, &j);
		if (o)
			ctl_reply_json(r->srv, r->req, 200, o);
		else
			ctl_reply_error(r->srv, r->req, CL_ENOMEM, "out of memory");
	} else {
		park(r, &j, wait_s, steps);
	}
}

void ctl_jobs_wait_shutdown(ctl_server *srv)
{
	while (srv->jobwaits) {
		struct evhttp_request *req = wait_end(srv->jobwaits);
		ctl_reply_error(srv, req, CL_EUNAVAIL, "control plane is shutting down");
	}
	if (srv->jobwait_recheck) {
		event_free(srv->jobwait_recheck);
		srv->jobwait_recheck = NULL;
	}
}
