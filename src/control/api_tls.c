/* api_tls.c — the TLS routes of an enclave (docs/api/enclaves-tls.md):
 *
 *   POST   /v1/enclaves/{id}/tls          enable, or change the policy: job tls_enable
 *   GET    /v1/enclaves/{id}/tls          status
 *   DELETE /v1/enclaves/{id}/tls          disable: job tls_disable
 *   POST   /v1/enclaves/{id}/tls/rotate   a new key and certificate: job tls_rotate
 *
 * The jobs themselves are api_tls_job.c. Access: the enclave's tenant (or
 * an admin for status), as every enclave route (ctl_enclave_access, action
 * "tls"; status is "describe").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "control/api_tls.h"
#include "control/store_tls.h"

static bool job_active(ctl_server *srv, const char *job_id, ctl_job *j)
{
	if (!job_id[0] || ctl_store_job_get(srv->store, job_id, j) != CL_OK) {
		cl_error_clear();
		return false;
	}
	return strcmp(j->state, "pending") == 0 || strcmp(j->state, "running") == 0;
}

/* What a change needs: an enclave running with a network on a ready host,
 * and no TLS job of it in flight. need_network false for a disable, which
 * needs only the host (an enclave stopped meanwhile still has its TLS
 * removed). */
static cl_err check_ready(ctl_server *srv, const ctl_enclave *e, const ctl_tls_cred *c, bool need_network)
{
	ctl_host h = {0};
	ctl_job j;
	bool network = false;
	char addr[64];
	CL_ENSURE(strcmp(e->desired, "gone") != 0, CL_ECONFLICT, "enclave is being destroyed");
	if (need_network) {
		CL_GUARD(ctl_store_enclave_network(srv->store, e->id, &network, addr, sizeof(addr)));
		CL_ENSURE(network, CL_ECONFLICT,
			  "enclave has no network: TLS serves enclaves created with --network (docs/tls.md)");
	}
	CL_ENSURE(!job_active(srv, c->job_id, &j), CL_ECONFLICT, "a TLS job of this enclave is in progress (job %s)",
		  c->job_id);
	CL_GUARD(ctl_store_host_get(srv->store, e->host_id, &h));
	bool ready = strcmp(h.state, "ready") == 0;
	char hstate[8];
	snprintf(hstate, sizeof(hstate), "%s", h.state);
	ctl_host_clear(&h);
	CL_ENSURE(ready, CL_EUNAVAIL, "the enclave's host is %s: it must be ready", hstate);
	CL_ENSURE(!need_network || strcmp(e->state, "running") == 0, CL_EUNAVAIL, "the enclave is %s: it must be running",
		  e->state);
	return CL_OK;
}

/* The credential of e into c (heap, caller frees), a fresh "disabled" one
 * if it never had TLS. */
static cl_err load_cred(ctl_server *srv, const ctl_enclave *e, ctl_tls_cred **out)
{
	ctl_tls_cred *c = malloc(sizeof(*c));
	*out = NULL;
	CL_ENSURE(c, CL_ENOMEM, "out of memory");
	cl_err err = ctl_store_tls_get(srv->store, e->id, c);
	if (err == CL_ENOTFOUND) {
		cl_error_clear();
		memset(c, 0, sizeof(*c));
		snprintf(c->enclave_id, sizeof(c->enclave_id), "%s", e->id);
		snprintf(c->tenant_id, sizeof(c->tenant_id), "%s", e->tenant_id);
		snprintf(c->state, sizeof(c->state), "disabled");
		err = CL_OK;
	}
	if (err != CL_OK) {
		free(c);
		return err;
	}
	*out = c;
	return CL_OK;
}

/* Records the new job of kind on e with c updated by the caller (pending
 * policy, generation, state) in one transaction, then starts it; replies
 * 202 {"job"}. */
static void start_job(ctl_req *r, const ctl_enclave *e, ctl_tls_cred *c, const char *kind)
{
	ctl_server *srv = r->srv;
	ctl_job job;
	cl_err err;
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	if ((err = ctl_job_new(srv, kind, e, false, &job)) == CL_OK) {
		snprintf(c->job_id, sizeof(c->job_id), "%s", job.id);
		c->error[0] = '\0';
		c->updated_at = (int64_t)cl_now_wall_ms();
		err = ctl_store_tls_put(srv->store, c);
	}
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	cl_info("tls job started kind=%s enclave=%s job=%s gen=%lld", kind, e->id, job.id, (long long)c->pending_gen);
	/* a failure to start fails the job (with why): the caller still gets it */
	if (ctl_tls_job_start(srv, e, &job) != CL_OK)
		cl_warn("tls job did not start job=%s: %s", job.id, cl_error_detail());
	cl_error_clear();
	if (ctl_store_job_get(srv->store, job.id, &job) != CL_OK)
		cl_error_clear();
	ctl_reply_json(srv, r->req, 202, json_pack("{s:o}", "job", ctl_job_json(&job)));
	return;
out:
	ctl_reply_err(srv, r->req, err);
}

static int64_t next_gen(const ctl_tls_cred *c)
{
	return (c->generation > c->pending_gen ? c->generation : c->pending_gen) + 1;
}

static void enable(ctl_req *r, const ctl_enclave *e, ctl_tls_cred *c)
{
	json_t *body = NULL, *policy = NULL;
	char *text = NULL;
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_tls_parse_policy(body, &policy));
	CL_GUARD_OUT(err, check_ready(r->srv, e, c, true));
	text = json_dumps(policy, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text || strlen(text) >= sizeof(c->pending_policy)) {
		err = cl_errorf(text ? CL_ETOOBIG : CL_ENOMEM, "the policy does not fit");
		goto out;
	}
	bool same_key = strcmp(c->state, "enabled") == 0 && c->chain[0];
	snprintf(c->pending_policy, sizeof(c->pending_policy), "%s", text);
	if (!same_key) { /* a new key: the six steps */
		c->pending_gen = next_gen(c);
		snprintf(c->state, sizeof(c->state), "enabling");
	} else { /* a policy change: same key and certificate, installed again */
		c->pending_gen = c->generation;
	}
	start_job(r, e, c, "tls_enable");
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	free(text);
	json_decref(policy);
	json_decref(body);
}

static void rotate(ctl_req *r, const ctl_enclave *e, ctl_tls_cred *c)
{
	cl_err err;
	CL_GUARD_OUT(err, check_ready(r->srv, e, c, true));
	if (strcmp(c->state, "enabled") != 0) {
		err = cl_errorf(CL_ECONFLICT, "TLS is %s on this enclave: only an enabled credential rotates", c->state);
		goto out;
	}
	snprintf(c->pending_policy, sizeof(c->pending_policy), "%s", c->policy);
	c->pending_gen = next_gen(c);
	start_job(r, e, c, "tls_rotate");
	return;
out:
	ctl_reply_err(r->srv, r->req, err);
}

static void disable(ctl_req *r, const ctl_enclave *e, ctl_tls_cred *c)
{
	cl_err err;
	CL_GUARD_OUT(err, check_ready(r->srv, e, c, false));
	if (strcmp(c->state, "disabled") == 0) {
		err = cl_errorf(CL_ECONFLICT, "TLS is not enabled on this enclave");
		goto out;
	}
	c->pending_policy[0] = '\0';
	start_job(r, e, c, "tls_disable");
	return;
out:
	ctl_reply_err(r->srv, r->req, err);
}

/* "a,b,c" as a JSON array of strings. */
static json_t *split_names(const char *s)
{
	json_t *a = json_array();
	while (a && s && *s) {
		size_t n = strcspn(s, ",");
		json_array_append_new(a, json_stringn(s, n));
		s += n + (s[n] == ',');
	}
	return a;
}

static void status(ctl_req *r, const ctl_enclave *e, const ctl_tls_cred *c)
{
	ctl_server *srv = r->srv;
	ctl_job j;
	json_t *job = NULL, *cert = json_null(), *policy = NULL;
	char state[16], error[CTL_MSG_MAX];
	snprintf(state, sizeof(state), "%s", c->state);
	snprintf(error, sizeof(error), "%s", c->error);
	if (c->job_id[0] && ctl_store_job_get(srv->store, c->job_id, &j) == CL_OK) {
		/* a job ended by something else (its enclave failed): the credential
		 * it was enabling is not enabled */
		if (strcmp(state, "enabling") == 0 && strcmp(j.state, "failed") == 0) {
			snprintf(state, sizeof(state), "failed");
			if (!error[0])
				snprintf(error, sizeof(error), "%s", j.error);
		}
		job = ctl_job_json(&j);
		if (job)
			json_object_set_new(job, "steps", ctl_job_steps_json(srv, j.id));
	}
	cl_error_clear();
	if (c->policy[0])
		policy = json_loads(c->policy, 0, NULL);
	if (c->serial[0] && strcmp(state, "disabled") != 0)
		cert = json_pack("{s:s,s:s,s:o,s:s,s:o,s:s}", "serial", c->serial, "subject", c->subject, "sans",
				 split_names(c->sans), "issuer", c->issuer, "not_after",
				 ctl_json_time(c->not_after * 1000), "key", "issued");
	json_t *o = json_pack("{s:s,s:s,s:o,s:I,s:o,s:o,s:o}", "enclave_id", e->id, "state", state, "policy",
			      policy ? policy : json_null(), "generation", (json_int_t)c->generation, "certificate",
			      cert ? cert : json_null(), "job", job ? job : json_null(), "error",
			      error[0] ? json_string(error) : json_null());
	if (o && strcmp(state, "disabled") != 0 && c->endpoints[0])
		json_object_set_new(o, "endpoints", split_names(c->endpoints));
	else if (o)
		json_object_set_new(o, "endpoints", json_array());
	if (!o) {
		ctl_reply_error(srv, r->req, CL_ENOMEM, "out of memory");
		return;
	}
	ctl_reply_json(srv, r->req, 200, o);
}

void ctl_enclave_tls(ctl_req *r, ctl_enclave *e, const char *sub)
{
	ctl_tls_cred *c = NULL;
	cl_err err = load_cred(r->srv, e, &c);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	if (!sub && r->method == EVHTTP_REQ_GET)
		status(r, e, c);
	else if (!sub && r->method == EVHTTP_REQ_POST)
		enable(r, e, c);
	else if (!sub && r->method == EVHTTP_REQ_DELETE)
		disable(r, e, c);
	else if (sub && strcmp(sub, "rotate") == 0 && r->method == EVHTTP_REQ_POST)
		rotate(r, e, c);
	else
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
	free(c);
}
