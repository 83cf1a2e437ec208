/* sync.c — the host sync long-poll (docs/internals.md "Control plane ↔ host
 * agent"): record heartbeat and observed states, then answer at once if
 * there is something newer than the host's generation (or queued ops), else
 * hold the request until something changes or the wait ends. Also marks
 * hosts lost when they have not synced for 3 x poll timeout.
 *
 * A held evhttp request stays valid until we reply, even if the client goes
 * away (libevent detaches it from the dead connection), so every held
 * request is answered exactly once: on wake, on timeout, on replacement by a
 * newer sync from the same host, when its connection closes, or at shutdown.
 *
 * Ops ride only the newest sync of a host: a held sync replaced by a newer
 * one (its client timed out or the network blipped, so its connection may be
 * dead) is answered with no ops, and one whose connection closed is dropped.
 * "Delivered" means sent and awaiting a result: such ops (channel and
 * firmware) are sent again in every later answer until the host reports a
 * result; the agent runs an op id at most once (its seen-sets). The ids of
 * delivered channel ops whose caller went away ride the answer's "cancel"
 * the same way, until the host answers them or their deadline passes
 * (ops.c).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/api_attest.h"
#include "control/fw.h"
#include "control/store_cert.h"
#include "control/store_durable.h"
#include "control/store_jobwait.h"
#include "control/validate.h"

struct ctl_host_rt {
	ctl_host_rt *next;
	ctl_server *srv;
	char id[CTL_ID_MAX];
	struct evhttp_request *held;
	struct evhttp_connection *held_conn; /* held's connection (closecb set), or NULL */
	struct event *close_ev;              /* watches held's socket for the peer closing */
	struct event *timer;
};

ctl_durable *ctl_server_durable(ctl_server *srv)
{
	if (!srv->durable && !srv->durable_off && ctl_durable_new(srv->store, srv->base, &srv->durable) != CL_OK) {
		cl_warn("commits on the launch path get their own fsync: no asynchronous fdatasync err=\"%s\"",
			cl_error_detail());
		cl_error_clear();
		srv->durable_off = true;
	}
	return srv->durable;
}

static ctl_host_rt *rt_get(ctl_server *srv, const char *id, bool create)
{
	for (ctl_host_rt *h = srv->hosts; h; h = h->next)
		if (strcmp(h->id, id) == 0)
			return h;
	if (!create)
		return NULL;
	ctl_host_rt *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->srv = srv;
	snprintf(h->id, sizeof(h->id), "%s", id);
	h->next = srv->hosts;
	srv->hosts = h;
	return h;
}

/* A networked enclave's launch options in its sync answer entry:
 * "network": true and "expose": [ports] (measured into PCR3 by the host).
 * 0, or -1 without memory. */
static int add_network(json_t *eo, const ctl_enclave *e)
{
	json_t *ports = json_array();
	for (uint32_t i = 0; ports && i < e->nexpose; i++)
		if (json_array_append_new(ports, json_integer(e->expose[i])) != 0) {
			json_decref(ports);
			return -1;
		}
	if (!ports || json_object_set_new(eo, "expose", ports) != 0)
		return -1;
	return json_object_set_new(eo, "network", json_true());
}

/* Builds and sends the sync answer for host id on req; with_ops false sends
 * empty "ops"/"firmware_ops" (a superseded sync) and marks nothing. */
static void answer(ctl_server *srv, struct evhttp_request *req, const char *host_id, bool with_ops)
{
	ctl_host h;
	ctl_enclave *es = NULL;
	size_t n = 0;
	cl_err err = ctl_store_host_get(srv->store, host_id, &h);
	if (err == CL_OK)
		err = ctl_store_enclave_by_host(srv->store, host_id, &es, &n);
	if (err != CL_OK) {
		ctl_host_clear(&h);
		ctl_reply_err(srv, req, err);
		return;
	}
	/* A quarantined host is halted for tenants: its enclaves are frozen
	 * (desired "stopped" in the answer, the stored desired state untouched)
	 * until an operator clears the quarantine. */
	ctl_fw_status fws;
	bool halted = false;
	if (ctl_store_fw_status_get(srv->store, host_id, &fws) == CL_OK) {
		halted = fws.quarantined;
		ctl_fw_status_clear(&fws);
	}
	cl_error_clear();
	json_t *encs = json_array(), *ops = json_array(), *cancel = json_array();
	for (size_t i = 0; i < n; i++) {
		ctl_enclave *e = &es[i];
		/* gone: being destroyed; suspended: its state is stored and its
		 * sandbox no longer wanted (docs/suspend.md): the host removes it */
		if (strcmp(e->desired, "gone") == 0 || strcmp(e->desired, "suspended") == 0)
			continue;
		/* restoring: launched awaiting its state (docs/suspend.md), running nothing */
		bool restoring = strcmp(e->desired, "restoring") == 0;
		const char *desired = restoring ? "running" : e->desired;
		if (halted && strcmp(desired, "running") == 0)
			desired = "stopped";
		ctl_image im;
		if (ctl_store_image_get(srv->store, e->image_id, &im) != CL_OK)
			continue; /* cannot happen: images are never deleted */
		/* tenant and name: the launch configuration the host measures (PCR3) */
		json_t *eo = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s}", "id", e->id, "image", e->image_id,
				       "image_sha384", im.sha384, "memory_mib", (json_int_t)e->memory_mib, "cpus",
				       (json_int_t)e->cpus, "desired", desired, "tenant", e->tenant_id, "name", e->name);
		/* only when set: an older agent refuses unknown fields it does not need */
		if (eo && e->await_bundle)
			json_object_set_new(eo, "await_bundle", json_true());
		if (eo && e->suspendable)
			json_object_set_new(eo, "suspendable", json_true());
		if (eo && e->network && add_network(eo, e) != 0) {
			json_decref(eo);
			eo = NULL;
		}
		if (eo && restoring)
			json_object_set_new(eo, "await_restore", json_true());
		json_array_append_new(encs, eo);
	}
	free(es);
	if (with_ops)
		ctl_ops_take(srv, host_id, ops, cancel, cl_now_mono_ns());
	/* the serial of its newest valid attestation certificate (null: none,
	 * e.g. revoked when it was lost): the agent asks again when it differs
	 * from the one it holds */
	json_t *ans = json_pack("{s:I,s:o,s:o,s:o}", "generation", (json_int_t)h.generation, "enclaves", encs, "ops",
				ops, "attestation_serial", ctl_attest_sync_serial(srv, host_id));
	ctl_host_clear(&h);
	if (ans && json_array_size(cancel) > 0 && json_object_set(ans, "cancel", cancel) != 0) {
		json_decref(ans);
		ans = NULL;
	}
	json_decref(cancel);
	if (!ans || (err = ctl_fw_sync_answer(srv, host_id, ans, with_ops)) != CL_OK) {
		json_decref(ans);
		ctl_reply_err(srv, req, ans ? err : CL_ENOMEM);
		return;
	}
	ctl_reply_json(srv, req, 200, ans);
	/* The host was sent its desired set: its enclaves' pending jobs are
	 * "running". Not a durable commit of its own (a kill loses nothing, a
	 * power loss at worst this mark): nothing depends on it — every answer
	 * carries the whole desired set again and the agent launches an id only
	 * if no sandbox of that id exists, so a job left "pending" by a lost
	 * mark is marked by the next answer or finished by the host's report. */
	if (with_ops && ctl_store_jobs_delivered_lazy(srv->store, host_id, (int64_t)cl_now_wall_ms()) != CL_OK)
		cl_warn("could not mark jobs delivered host=%s", host_id);
}

/* Forgets rt's held request (and its close callback); returns it. */
static struct evhttp_request *unhold(ctl_host_rt *rt)
{
	struct evhttp_request *req = rt->held;
	if (!req)
		return NULL;
	if (rt->held_conn && evhttp_request_get_connection(req) == rt->held_conn)
		evhttp_connection_set_closecb(rt->held_conn, NULL, NULL);
	if (rt->close_ev) {
		event_free(rt->close_ev);
		rt->close_ev = NULL;
	}
	rt->held = NULL;
	rt->held_conn = NULL;
	rt->srv->sync_waiters--;
	evtimer_del(rt->timer);
	return req;
}

static void release(ctl_host_rt *rt, bool with_ops)
{
	struct evhttp_request *req = unhold(rt);
	if (req)
		answer(rt->srv, req, rt->id, with_ops);
}

static void on_hold_timeout(evutil_socket_t fd, short what, void *arg)
{
	release(arg, true);
}

/* The held sync's connection closed: its answer could not arrive, so send it
 * nothing (the reply only frees the detached request) and keep the ops for
 * the host's next sync. */
static void on_held_close(struct evhttp_connection *conn, void *arg)
{
	ctl_host_rt *rt = arg;
	if (!rt->held || rt->held_conn != conn)
		return;
	rt->held_conn = NULL; /* the connection is going away: do not touch it */
	struct evhttp_request *req = unhold(rt);
	cl_debug("held sync dropped: connection closed host=%s", rt->id);
	answer(rt->srv, req, rt->id, false);
}

/* The held sync's socket is readable. libevent does not read a connection
 * while its request is being handled, and a sync client sends nothing while
 * it waits for the answer, so anything arriving (end of stream, an error, or
 * data: under TLS 1.3 a close_notify alert looks like application data)
 * means the client gave up or is going away. Drop the held sync: the answer
 * carries no ops, which stay queued for the host's next sync, so a false
 * alarm costs only an early empty answer. */
static void on_held_readable(evutil_socket_t fd, short what, void *arg)
{
	ctl_host_rt *rt = arg;
	unsigned char b[1];
	ssize_t n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	struct evhttp_request *req = unhold(rt); /* also removes the close callback */
	if (!req)
		return;
	cl_debug("held sync dropped: client closing host=%s", rt->id);
	answer(rt->srv, req, rt->id, false);
}

void ctl_sync_wake(ctl_server *srv, const char *host_id)
{
	ctl_host_rt *rt = rt_get(srv, host_id, false);
	if (rt)
		release(rt, true);
}


/* A host that once reported a firmware guard and now syncs without one (an
 * agent restarted without --fw-root, or a tampered one) cannot prove its
 * devices are locked: it leaves placement until it reports again, and the
 * first such sync raises a "guard_missing" event. */
static cl_err guard_vanished(ctl_store *st, const char *host_id, int64_t now)
{
	ctl_fw_status s;
	cl_err err = ctl_store_fw_status_get(st, host_id, &s);
	if (err == CL_ENOTFOUND) {
		cl_error_clear();
		return CL_OK; /* never guarded: manages no devices */
	}
	CL_GUARD(err);
	if (!s.eligible) {
		ctl_fw_status_clear(&s);
		return CL_OK;
	}
	s.eligible = false;
	s.updated_at = now;
	err = ctl_store_fw_status_put(st, host_id, &s);
	ctl_fw_status_clear(&s);
	CL_GUARD(err);
	cl_warn("firmware guard missing host=%s: not eligible until it reports again", host_id);
	return ctl_store_fw_event_insert(st, host_id, "guard_missing", 0,
					 "host synced without its firmware guard report", now);
}
/* Keeps the registers the host measured at the enclave's launch (validated
 * by ctl_parse_pcrs), written only when they changed. */
static cl_err store_pcrs(ctl_store *st, const char *enclave_id, json_t *pcrs)
{
	char *now = json_dumps(pcrs, JSON_COMPACT | JSON_SORT_KEYS), *had = NULL;
	cl_err err = now ? ctl_store_enclave_pcrs_get(st, enclave_id, &had) : CL_ENOMEM;
	if (err == CL_OK && strcmp(had, now) != 0)
		err = ctl_store_enclave_pcrs_set(st, enclave_id, now);
	free(now);
	free(had);
	return err;
}

/* Applies the host's report in one transaction; unsynced: written to the WAL
 * without its fsync (ctl_durable makes it durable). */
static cl_err apply_report(ctl_server *srv, const char *host_id, ctl_sync_req *s, const ctl_fw_report *fw,
			   bool unsynced)
{
	ctl_fw_target *targets = NULL;
	size_t ntargets = 0;
	ctl_store *st = srv->store;
	ctl_host h = {0};
	ctl_enclave *es = NULL;
	size_t n = 0;
	cl_err err;
	snprintf(h.id, sizeof(h.id), "%s", host_id);
	h.last_seen = (int64_t)cl_now_wall_ms();
	if (s->caps_json) {
		h.caps_json = json_dumps(s->caps_json, JSON_COMPACT | JSON_SORT_KEYS);
		if (!h.caps_json)
			return CL_ENOMEM;
		snprintf(h.zone, sizeof(h.zone), "%s", s->caps.zone);
		snprintf(h.rack, sizeof(h.rack), "%s", s->caps.rack);
		h.memory_mib = s->caps.memory_mib;
		h.cpus = s->caps.cpus;
	}
	CL_GUARD_OUT(err, unsynced ? ctl_store_begin_unsynced(st) : ctl_store_begin(st));
	if (s->caps_json) { /* the level was pinned at registration: a different claim is ignored */
		ctl_host cur;
		CL_GUARD_OUT(err, ctl_store_host_get(st, host_id, &cur));
		if (strcmp(cur.level, s->caps.level) != 0)
			cl_warn("sync level ignored host=%s claimed=%s pinned=%s", host_id, s->caps.level, cur.level);
		ctl_host_clear(&cur);
	}
	CL_GUARD_OUT(err, ctl_store_host_seen(st, &h));
	CL_GUARD_OUT(err, ctl_store_enclave_by_host(st, host_id, &es, &n));
	for (size_t i = 0; i < n; i++) {
		ctl_enclave *e = &es[i];
		const ctl_sync_enclave *rep = NULL;
		for (size_t k = 0; k < s->nenclaves && !rep; k++)
			if (strcmp(s->enclaves[k].id, e->id) == 0)
				rep = &s->enclaves[k];
		if (strcmp(e->desired, "suspended") == 0)
			continue; /* a sandbox still reported is being removed: it is not the enclave */
		if (rep) {
			CL_GUARD_OUT(err, ctl_jobs_observe(srv, e, rep->state, rep->memory_mib, rep->error,
							   rep->has_exit, rep->exit_status));
			if (rep->pcrs)
				CL_GUARD_OUT(err, store_pcrs(st, e->id, rep->pcrs));
			if (rep->net_address && e->network)
				CL_GUARD_OUT(err, ctl_store_enclave_net_set(st, e->id, rep->net_address,
									    rep->net_host_address));
		}
		else if (strcmp(e->desired, "gone") == 0)
			CL_GUARD_OUT(err, ctl_jobs_gone(srv, e));
		else if (strcmp(e->state, "pending") != 0) {
			/* The host does not run it (it was lost, or the host restarted
			 * without it): it is in the desired set, so the host relaunches it. */
			snprintf(e->state, sizeof(e->state), "pending");
			e->updated_at = h.last_seen;
			CL_GUARD_OUT(err, ctl_store_enclave_update(st, e));
		}
	}
	if (fw)
		CL_GUARD_OUT(err, ctl_fw_sync_apply(srv, host_id, fw, h.last_seen));
	else
		CL_GUARD_OUT(err, guard_vanished(st, host_id, h.last_seen));
	/* releases of its tenants' channels not yet queued to this host (it may
	 * have started one of their enclaves since): queued with a generation bump */
	CL_GUARD_OUT(err, ctl_fw_queue_releases(srv, "", host_id, &targets, &ntargets));
	for (size_t i = 0; i < s->nresults; i++)
		if (ctl_fw_is_op_id(s->results[i].op))
			CL_GUARD_OUT(err, ctl_fw_sync_result(srv, host_id, &s->results[i], h.last_seen));
	CL_GUARD_OUT(err, ctl_store_commit(st));
out:
	if (err != CL_OK)
		ctl_store_rollback(st);
	free(es);
	free(targets);
	free(h.caps_json);
	return err;
}

/* The rest of a sync once its report is durable: op results, then the answer
 * (at once, or held). */
static void after_report(ctl_server *srv, struct evhttp_request *req, const char *host_id, const ctl_sync_req *s)
{
	ctl_host h = {0};
	cl_err err;
	for (size_t i = 0; i < s->nresults; i++) {
		const ctl_sync_result *res = &s->results[i];
		if (ctl_fw_is_op_id(res->op))
			continue; /* recorded by apply_report */
		if (ctl_op_complete(srv, host_id, res->op, res->ok, res->data, res->error, res->reason) != CL_OK)
			cl_debug("sync result for unknown op host=%s", host_id);
	}
	CL_GUARD_OUT(err, ctl_store_host_get(srv->store, host_id, &h));
	ctl_host_rt *rt = rt_get(srv, host_id, true);
	if (!rt) {
		err = CL_ENOMEM;
		goto out;
	}
	release(rt, false); /* an older held sync from this host: answer it now, without ops */
	uint64_t wait = (uint64_t)s->wait_ms < srv->poll_timeout_ms ? (uint64_t)s->wait_ms : srv->poll_timeout_ms;
	/* A host ahead of the store (s->generation > h.generation) was sent a
	 * change the store no longer has: a create whose commit a power loss
	 * undid before its fsync (api_enclaves.c), or a store restored from a
	 * backup. Answered at once, so that it destroys what it runs for that
	 * change now, not a poll timeout later (docs/control.md). */
	if (h.generation != s->generation || ctl_ops_pending(srv, host_id) || ctl_fw_ops_waiting(srv, host_id) ||
	    wait == 0) {
		answer(srv, req, host_id, true);
		goto out;
	}
	if (!rt->timer && !(rt->timer = evtimer_new(srv->base, on_hold_timeout, rt))) {
		err = CL_ENOMEM;
		goto out;
	}
	struct timeval tv = {.tv_sec = (time_t)(wait / 1000), .tv_usec = (suseconds_t)(wait % 1000) * 1000};
	rt->held = req;
	rt->held_conn = evhttp_request_get_connection(req);
	if (rt->held_conn) {
		evhttp_connection_set_closecb(rt->held_conn, on_held_close, rt);
		struct bufferevent *bev = evhttp_connection_get_bufferevent(rt->held_conn);
		evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
		if (fd >= 0 && (rt->close_ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_held_readable, rt)) &&
		    event_add(rt->close_ev, NULL) != 0) {
			event_free(rt->close_ev);
			rt->close_ev = NULL;
		}
	}
	srv->sync_waiters++;
	evtimer_add(rt->timer, &tv);
out:
	if (err != CL_OK)
		ctl_reply_err(srv, req, err);
	ctl_host_clear(&h);
}

/* A sync whose report waits for its fdatasync. */
typedef struct report_later {
	ctl_durable_waiter w;
	ctl_server *srv;
	struct evhttp_request *req; /* valid until answered, even if the host went away */
	char host_id[CTL_ID_MAX];
	json_t *body; /* s borrows from it */
	ctl_sync_req s;
} report_later;

static void on_report_durable(void *arg)
{
	report_later *l = arg;
	after_report(l->srv, l->req, l->host_id, &l->s);
	ctl_sync_req_free(&l->s);
	json_decref(l->body);
	free(l);
}

/* A sync: the report is committed, then answered or held (after_report).
 *
 * A report without a firmware part (what every launch and stop sends) is
 * committed without its fsync, and the fdatasync runs off the loop
 * (store_durable.h); the host's answer, held or not, waits for it. Waits on
 * the jobs the report finished are answered at once, before it is durable:
 * what they are told (the host runs the enclave, or it stopped) is a fact
 * about the host, which a power loss cannot undo and which the host states
 * again if the commit is lost, for the host keeps all of its report (states,
 * registers, op results) until a sync is answered, and no sync is answered
 * before its report is durable. So the fsync is off the API -> running path
 * and nothing is lost (docs/control.md). A firmware report (audit records,
 * acknowledgements) keeps its own fsync. */
void ctl_sync_handle(ctl_req *r, const char *host_id)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	ctl_sync_req s = {0};
	ctl_fw_report *fw = NULL;
	report_later *later = NULL;
	cl_err err;
	if (r->who.kind != CTL_WHO_HOST || strcmp(r->who.host_id, host_id) != 0) {
		cl_warn("denied reason=forbidden action=sync token=%s", r->who.token_id);
		ctl_reply_error(srv, r->req, CL_EPERM, "only the host's own token may sync");
		return;
	}
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_sync(body, &s));
	if (s.firmware) {
		if (!(fw = malloc(sizeof(*fw)))) {
			err = CL_ENOMEM;
			goto out;
		}
		CL_GUARD_OUT(err, ctl_parse_fw_report(s.firmware, fw));
	}
	ctl_durable *dur = fw ? NULL : ctl_server_durable(srv);
	if (dur && !(later = calloc(1, sizeof(*later)))) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, apply_report(srv, host_id, &s, fw, later != NULL));
	if (later) {
		later->srv = srv;
		later->req = r->req;
		snprintf(later->host_id, sizeof(later->host_id), "%s", host_id);
		later->body = body;
		later->s = s;
		body = NULL;
		memset(&s, 0, sizeof(s));
		ctl_durable_after(dur, &later->w, on_report_durable, later);
		later = NULL; /* the callback's now */
		goto out;
	}
	after_report(srv, r->req, host_id, &s);
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	free(later);
	ctl_sync_req_free(&s);
	free(fw);
	json_decref(body);
}

void ctl_op_result_handle(ctl_req *r, const char *host_id, const char *op_id)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	ctl_sync_result res;
	cl_err err;
	if (r->who.kind != CTL_WHO_HOST || strcmp(r->who.host_id, host_id) != 0) {
		cl_warn("denied reason=forbidden action=op-result token=%s", r->who.token_id);
		ctl_reply_error(srv, r->req, CL_EPERM, "only the host's own token may post op results");
		return;
	}
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_op_result(body, &res));
	CL_GUARD_OUT(err, ctl_op_complete(srv, host_id, op_id, res.ok, res.data, res.error, res.reason));
	ctl_reply_json(srv, r->req, 200, json_object());
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	json_decref(body);
}

static void on_lost_timer(evutil_socket_t fd, short what, void *arg)
{
	ctl_server *srv = arg;
	int n = 0;
	int64_t cutoff = (int64_t)cl_now_wall_ms() - 3 * (int64_t)srv->poll_timeout_ms;
	if (ctl_store_hosts_mark_lost(srv->store, cutoff, &n) != CL_OK)
		cl_warn("marking lost hosts failed: %s", cl_error_detail());
	else if (n > 0)
		cl_warn("hosts lost count=%d", n);
}

cl_err ctl_sync_start(ctl_server *srv)
{
	uint32_t every = srv->poll_timeout_ms / 2;
	if (every < 100)
		every = 100;
	if (every > 5000)
		every = 5000;
	srv->lost_timer = event_new(srv->base, -1, EV_PERSIST, on_lost_timer, srv);
	CL_ENSURE(srv->lost_timer, CL_ENOMEM, "event_new");
	struct timeval tv = {.tv_sec = every / 1000, .tv_usec = (suseconds_t)(every % 1000) * 1000};
	CL_ENSURE(event_add(srv->lost_timer, &tv) == 0, CL_ESYS, "event_add");
	return CL_OK;
}

void ctl_sync_host_removed(ctl_server *srv, const char *host_id)
{
	ctl_jobs_wake(srv, NULL); /* the removal failed its enclaves' jobs: their waits answer */
	for (ctl_host_rt **p = &srv->hosts; *p; p = &(*p)->next) {
		ctl_host_rt *rt = *p;
		if (strcmp(rt->id, host_id) != 0)
			continue;
		*p = rt->next;
		struct evhttp_request *req = unhold(rt);
		if (req) /* the agent reads this and stops (docs/internals.md) */
			ctl_reply_error(srv, req, CL_EAUTH, CTL_HOST_REMOVED_MSG);
		if (rt->timer)
			event_free(rt->timer);
		free(rt);
		return;
	}
}

void ctl_sync_shutdown(ctl_server *srv)
{
	/* creates waiting for their fsync: made durable now and answered */
	ctl_durable_free(srv->durable);
	srv->durable = NULL;
	ctl_jobs_wait_shutdown(srv); /* parked job waits are long polls too */
	while (srv->hosts) {
		ctl_host_rt *rt = srv->hosts;
		srv->hosts = rt->next;
		if (rt->held) {
			struct evhttp_request *req = unhold(rt);
			ctl_reply_error(srv, req, CL_EUNAVAIL, "control plane is shutting down");
		}
		if (rt->timer)
			event_free(rt->timer);
		free(rt);
	}
	if (srv->lost_timer) {
		event_free(srv->lost_timer);
		srv->lost_timer = NULL;
	}
}
