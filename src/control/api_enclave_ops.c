/* api_enclave_ops.c — start, stop, resize (jobs) and send/recv/logs (ops
 * relayed to the host) on one enclave. Access was checked by the caller. */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/suspend.h"
#include "control/validate.h"

/* Commits a desired-state change with its job and wakes the host. */
static void change(ctl_req *r, ctl_enclave *e, const char *kind, bool done)
{
	ctl_server *srv = r->srv;
	ctl_job job;
	cl_err err;
	e->updated_at = (int64_t)cl_now_wall_ms();
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	err = ctl_store_enclave_update(srv->store, e);
	if (err == CL_OK)
		err = ctl_job_new(srv, kind, e, done, &job);
	if (err == CL_OK)
		err = ctl_store_host_bump(srv->store, e->host_id);
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	cl_info("enclave %s requested enclave=%s job=%s", kind, e->id, job.id);
	ctl_sync_wake(srv, e->host_id);
	ctl_reply_json(srv, r->req, 202, json_pack("{s:o}", "job", ctl_job_json(&job)));
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
}

static void start_stop(ctl_req *r, ctl_enclave *e, bool start)
{
	const char *want = start ? "running" : "stopped";
	snprintf(e->desired, sizeof(e->desired), "%s", want);
	change(r, e, start ? "start" : "stop", strcmp(e->state, want) == 0);
}

static void resize(ctl_req *r, ctl_enclave *e)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	int64_t mem = 0;
	ctl_host h = {0};
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_resize(body, &mem));
	CL_GUARD_OUT(err, ctl_store_host_get(srv->store, e->host_id, &h));
	if (h.memory_mib - (h.mem_used_mib - e->memory_mib) < mem) {
		err = cl_errorf(CL_EUNAVAIL, "host %s has only %lld MiB free for this enclave", h.id,
				(long long)(h.memory_mib - (h.mem_used_mib - e->memory_mib)));
		goto out;
	}
	bool done = mem == e->memory_mib && strcmp(e->state, "running") == 0;
	e->memory_mib = mem;
	change(r, e, "resize", done);
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	ctl_host_clear(&h);
	json_decref(body);
}

static void relay(ctl_req *r, ctl_enclave *e, const char *verb)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	const char *data = NULL;
	size_t n = 0;
	int64_t max = 65536, wait_ms = 0;
	ctl_host h = {0};
	json_t *fields = NULL;
	cl_err err;
	bool doc = strcmp(verb, "attestation") == 0 || strcmp(verb, "measure") == 0;
	if (doc) {
		/* all fields optional: an empty body asks for a document without them */
		if (evbuffer_get_length(evhttp_request_get_input_buffer(r->req)) > 0) {
			CL_GUARD_OUT(err, ctl_req_json(r, &body));
			CL_GUARD_OUT(err, ctl_parse_attest_req(body, &fields));
		} else if (!(fields = json_object())) {
			err = CL_ENOMEM;
			goto out;
		}
	} else if (strcmp(verb, "send") == 0) {
		CL_GUARD_OUT(err, ctl_req_json(r, &body));
		CL_GUARD_OUT(err, ctl_parse_send(body, &data, &n));
	} else if (strcmp(verb, "recv") == 0) {
		CL_GUARD_OUT(err, ctl_req_json(r, &body));
		CL_GUARD_OUT(err, ctl_parse_recv(body, &max, &wait_ms));
	}
	CL_GUARD_OUT(err, ctl_store_host_get(srv->store, e->host_id, &h));
	if (strcmp(h.state, "ready") != 0) {
		err = cl_errorf(CL_EUNAVAIL, "the enclave's host is %s", h.state);
		goto out;
	}
	if (fields) {
		/* the host answers within the op's grace: no wait of its own */
		ctl_op_submit_fields(srv, r->req, e, strcmp(verb, "measure") == 0 ? "measure" : "attest", fields);
		fields = NULL;
	} else {
		ctl_op_submit(srv, r->req, e, verb, data, n, max, wait_ms);
	}
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	ctl_host_clear(&h);
	json_decref(fields);
	json_decref(body);
}

void ctl_enclave_action(ctl_req *r, ctl_enclave *e, const char *verb)
{
	if (strcmp(e->desired, "gone") == 0) {
		ctl_reply_error(r->srv, r->req, CL_ECONFLICT, "enclave is being destroyed");
		return;
	}
	ctl_host h = {0};
	bool removed = strcmp(e->state, "lost") == 0 && ctl_store_host_get(r->srv->store, e->host_id, &h) == CL_OK &&
		       strcmp(h.state, "removed") == 0;
	ctl_host_clear(&h);
	if (removed) { /* no host will ever run it again: only destroy is left */
		ctl_reply_error(r->srv, r->req, CL_ECONFLICT, "the enclave is lost: its host was removed from the fleet");
		return;
	}
	if (strcmp(verb, "restore") == 0) {
		ctl_enclave_restore(r, e);
		return;
	}
	if (strcmp(e->state, "suspended") == 0 || strcmp(e->desired, "restoring") == 0) {
		/* its state is stored, nothing runs: restore it first (or let the restore end) */
		ctl_reply_error(r->srv, r->req, CL_ECONFLICT,
				"suspended: the enclave's state is stored and nothing runs; restore it first");
		return;
	}
	if (strcmp(verb, "start") == 0 || strcmp(verb, "stop") == 0)
		start_stop(r, e, verb[2] == 'a');
	else if (strcmp(verb, "resize") == 0)
		resize(r, e);
	else if (strcmp(verb, "provision") == 0)
		ctl_enclave_provision(r, e);
	else if (strcmp(verb, "suspend") == 0)
		ctl_enclave_suspend(r, e);
	else
		relay(r, e, verb);
}
