/* api_enclaves.c — create (with placement), list, describe and destroy
 * enclaves, and the access rule every enclave call goes through. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "control/api_tls.h"
#include "control/control.h"
#include "control/store_cert.h"
#include "control/fw.h"
#include "control/store_durable.h"
#include "control/store_jobwait.h"
#include "control/validate.h"

cl_err ctl_enclave_access(ctl_req *r, const ctl_enclave *e, uint32_t action)
{
	bool admin = r->who.kind == CTL_WHO_ADMIN;
	bool owner = (r->who.kind == CTL_WHO_TENANT || admin) && strcmp(r->who.tenant_id, e->tenant_id) == 0;
	if (!owner && !admin) {
		cl_warn("denied reason=not-visible action=%s enclave=%s token=%s", ctl_action_name(action), e->id,
			r->who.token_id);
		return cl_errorf(CL_ENOTFOUND, "enclave not found");
	}
	if (owner && (e->untrusted_mask & action))
		return CL_OK;
	if (admin && (action & (CTL_ACT_DESCRIBE | CTL_ACT_LIST)))
		return CL_OK;
	const char *key = ctl_req_header(r, "X-Cloister-Access-Key");
	if (key && strlen(key) < 200 && ctl_secret_verify(r->srv, key, e->access_hash) == CL_OK)
		return CL_OK;
	cl_warn("denied reason=%s action=%s enclave=%s token=%s", key ? "wrong-access-key" : "no-access-key",
		ctl_action_name(action), e->id, r->who.token_id);
	return cl_errorf(CL_EPERM, "%s requires the enclave's access key", ctl_action_name(action));
}

/* "network": null without one, else {"address", "host_address" (null until
 * the host reports them), "expose": [ports]}. */
static json_t *network_json(const ctl_enclave *e)
{
	if (!e->network)
		return json_null();
	json_t *ports = json_array();
	for (uint32_t i = 0; ports && i < e->nexpose; i++)
		json_array_append_new(ports, json_integer(e->expose[i]));
	return json_pack("{s:o,s:o,s:o}", "address", e->net_address[0] ? json_string(e->net_address) : json_null(),
			 "host_address", e->net_host_address[0] ? json_string(e->net_host_address) : json_null(),
			 "expose", ports);
}

json_t *ctl_enclave_json(const ctl_enclave *e)
{
	json_t *untrusted = json_array();
	for (uint32_t bit = 1; bit <= CTL_ACT_LAST; bit <<= 1)
		if (e->untrusted_mask & bit)
			json_array_append_new(untrusted, json_string(ctl_action_name(bit)));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:o,s:o,s:o,s:{s:o},s:b,s:b,s:o}", "id", e->id, "name", e->name,
			 "tenant_id", e->tenant_id, "image_id", e->image_id, "host_id", e->host_id, "state", e->state,
			 "desired", e->desired, "memory_mib", (json_int_t)e->memory_mib, "cpus", (json_int_t)e->cpus,
			 "min_level", e->min_level, "created_at", ctl_json_time(e->created_at), "updated_at",
			 ctl_json_time(e->updated_at), "error", e->error[0] ? json_string(e->error) : json_null(),
			 "policy", "untrusted", untrusted, "await_bundle", e->await_bundle,
			 "suspendable", e->suspendable, "network", network_json(e));
}

/* GET /v1/enclaves/{id}: the enclave, the measurement registers its host
 * reported at launch ("pcrs": {} until it does) and its latest measure on
 * demand ("measurement": {"pcr5", "measured_at"}, null until one). */
static void describe(ctl_req *r, const ctl_enclave *e)
{
	char *text = NULL, pcr5[97] = "";
	int64_t at_ms = 0;
	json_t *o = NULL, *pcrs = NULL, *m = NULL;
	cl_err err = ctl_store_enclave_pcrs_get(r->srv->store, e->id, &text);
	if (err == CL_OK)
		err = ctl_store_enclave_measure_get(r->srv->store, e->id, pcr5, &at_ms);
	if (err != CL_OK)
		goto out;
	if (text[0])
		pcrs = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	m = pcr5[0] ? json_pack("{s:s,s:o}", "pcr5", pcr5, "measured_at", ctl_json_time(at_ms)) : json_null();
	if (!(o = ctl_enclave_json(e))) {
		err = CL_ENOMEM;
		goto out;
	}
	int a = json_object_set_new(o, "pcrs", pcrs ? pcrs : json_object());
	int b = json_object_set_new(o, "measurement", m);
	if (a != 0 || b != 0)
		err = CL_ENOMEM; /* set_new took pcrs and m, even when it failed */
	pcrs = m = NULL;
out:
	json_decref(pcrs);
	json_decref(m);
	free(text);
	if (err != CL_OK) {
		json_decref(o);
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	ctl_reply_json(r->srv, r->req, 200, o);
}

void ctl_placement_free(ctl_placement_in *p)
{
	for (size_t i = 0; i < p->n; i++)
		json_decref(p->caps_json ? p->caps_json[i] : NULL);
	free(p->caps_json);
	free(p->caps);
	free(p->ph);
	ctl_host_list_free(p->hosts, p->n);
}

cl_err ctl_placement_load(ctl_server *srv, ctl_placement_in *p)
{
	memset(p, 0, sizeof(*p));
	CL_GUARD(ctl_store_host_list(srv->store, NULL, "", -1, &p->hosts, &p->n)); /* removed hosts: never */
	p->caps_json = calloc(p->n + 1, sizeof(*p->caps_json));
	p->caps = calloc(p->n + 1, sizeof(*p->caps));
	p->ph = calloc(p->n + 1, sizeof(*p->ph));
	if (!p->caps_json || !p->caps || !p->ph)
		return CL_ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		ctl_host *h = &p->hosts[i];
		cl_place_host *ph = &p->ph[i];
		ph->id = h->id;
		ph->level_rank = cl_level_rank(h->level);
		ph->healthy = strcmp(h->state, "ready") == 0;
		ph->eligible = ctl_fw_host_eligible(srv, h->id); /* last firmware report (fw_sync.c) */
		ph->mem_total_mib = (uint64_t)h->memory_mib;
		ph->mem_free_mib = h->memory_mib > h->mem_used_mib ? (uint64_t)(h->memory_mib - h->mem_used_mib) : 0;
		ph->cpus_free = (uint32_t)h->cpus; /* CPUs are time-shared, not reserved */
		ph->zone = h->zone[0] ? h->zone : NULL;
		ph->rack = h->rack[0] ? h->rack : NULL;
		if (h->caps_json) {
			p->caps_json[i] = json_loads(h->caps_json, 0, NULL);
			if (p->caps_json[i] && ctl_parse_caps(p->caps_json[i], &p->caps[i]) == CL_OK) {
				ph->latency = p->caps[i].latency;
				ph->nlatency = p->caps[i].nlatency;
			}
		}
	}
	return CL_OK;
}

/* A create's 202, sent once its commit is durable. */
typedef struct create_answer {
	ctl_durable_waiter w;
	ctl_server *srv;
	struct evhttp_request *req; /* valid until answered, even if the client went away */
	ctl_enclave e;
	ctl_job job;
	char key[80]; /* the access key: wiped when sent */
} create_answer;

static void create_reply(ctl_server *srv, struct evhttp_request *req, const ctl_enclave *e, const char *key,
			 const ctl_job *job)
{
	ctl_reply_json(srv, req, 202,
		       json_pack("{s:o,s:s,s:o}", "enclave", ctl_enclave_json(e), "access_key", key, "job",
				 ctl_job_json(job)));
}

static void on_create_durable(void *arg)
{
	create_answer *a = arg;
	create_reply(a->srv, a->req, &a->e, a->key, &a->job);
	OPENSSL_cleanse(a->key, sizeof(a->key));
	free(a);
}

/* Creates an enclave. The order of what becomes durable and who learns of
 * it (docs/control.md "What a kill or a power loss may undo"):
 *   1. one transaction (enclave, job, host generation) is written to the
 *      WAL without its fsync, and the asynchronous fdatasync is started;
 *   2. the host's held sync is answered at once: it launches while the
 *      fdatasync runs, instead of after it;
 *   3. the client's 202 goes out when the fdatasync is done.
 * So a client is told of a create only once it is durable, and of its
 * job's success only after the host's report, whose own fsynced commit
 * comes later in the same WAL. A kill at any moment loses nothing (the
 * kernel holds the write from step 1 on); a power loss before step 3 may
 * undo the create, which no client was told of, and leave the host running
 * an enclave the store does not know: the host's next sync (answered at
 * once, its generation being ahead of the store's: sync.c) does not desire
 * it, and the host destroys it. */
static void create(ctl_req *r)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	ctl_create_req cr;
	ctl_image im;
	ctl_placement_in pin = {0};
	ctl_enclave e = {0};
	ctl_job job;
	create_answer *later = NULL;
	uint8_t raw[32];
	char secret[65], key[80];
	size_t chosen = 0;
	bool in_tx = false;
	cl_err err;
	key[0] = '\0';
	if (r->who.kind != CTL_WHO_TENANT && r->who.kind != CTL_WHO_ADMIN) {
		ctl_reply_error(srv, r->req, CL_EPERM, "host tokens may not create enclaves");
		return;
	}
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_create_enclave(body, &cr));
	if (ctl_store_image_get(srv->store, cr.image_id, &im) != CL_OK || strcmp(im.tenant_id, r->who.tenant_id) != 0) {
		err = cl_errorf(CL_ENOTFOUND, "image %s not found", cr.image_id);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_placement_load(srv, &pin));
	cl_place_request preq = {.min_level_rank = cr.min_level_rank,
				 .memory_mib = (uint64_t)cr.memory_mib,
				 .cpus = (uint32_t)cr.cpus,
				 .zone = cr.zone,
				 .rack = cr.rack,
				 .constraints = cr.cons,
				 .nconstraints = cr.ncons};
	err = pin.n ? cl_place_choose(pin.ph, pin.n, &preq, &chosen) : cl_errorf(CL_EUNAVAIL, "no hosts registered");
	if (err != CL_OK) {
		if (err != CL_EUNAVAIL)
			err = CL_EUNAVAIL;
		cl_info("placement failed name=%s detail=\"%s\"", cr.name, cl_error_detail());
		goto out;
	}
	CL_GUARD_OUT(err, cl_random_id("enc-", e.id, sizeof(e.id)));
	CL_GUARD_OUT(err, cl_random(raw, sizeof(raw)));
	cl_hex_encode(raw, sizeof(raw), secret);
	snprintf(key, sizeof(key), "clk_%s", secret);
	CL_GUARD_OUT(err, ctl_secret_hash(r->srv, key, e.access_hash, sizeof(e.access_hash)));
	snprintf(e.name, sizeof(e.name), "%s", cr.name);
	snprintf(e.tenant_id, sizeof(e.tenant_id), "%s", r->who.tenant_id);
	snprintf(e.image_id, sizeof(e.image_id), "%s", cr.image_id);
	snprintf(e.host_id, sizeof(e.host_id), "%s", pin.hosts[chosen].id);
	snprintf(e.state, sizeof(e.state), "pending");
	snprintf(e.desired, sizeof(e.desired), "running");
	snprintf(e.min_level, sizeof(e.min_level), "%s", cr.min_level);
	e.memory_mib = cr.memory_mib;
	e.cpus = cr.cpus;
	e.untrusted_mask = cr.untrusted_mask;
	e.await_bundle = cr.await_bundle;
	e.suspendable = cr.suspendable;
	e.network = cr.network;
	e.nexpose = cr.nexpose;
	memcpy(e.expose, cr.expose, sizeof(e.expose));
	e.created_at = e.updated_at = (int64_t)cl_now_wall_ms();
	ctl_durable *dur = ctl_server_durable(srv);
	if (dur && !(later = calloc(1, sizeof(*later)))) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, dur ? ctl_store_begin_unsynced(srv->store) : ctl_store_begin(srv->store));
	in_tx = true;
	err = ctl_store_enclave_insert(srv->store, &e);
	if (err == CL_ECONFLICT)
		cl_errorf(CL_ECONFLICT, "an enclave named \"%s\" already exists", e.name);
	CL_GUARD_OUT(err, err);
	CL_GUARD_OUT(err, ctl_job_new(srv, "create", &e, false, &job));
	CL_GUARD_OUT(err, ctl_store_host_bump(srv->store, e.host_id));
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	in_tx = false;
	cl_info("enclave created enclave=%s tenant=%s host=%s job=%s", e.id, e.tenant_id, e.host_id, job.id);
	if (later) {
		later->srv = srv;
		later->req = r->req;
		later->e = e;
		later->job = job;
		memcpy(later->key, key, sizeof(key));
		ctl_durable_after(dur, &later->w, on_create_durable, later);
		later = NULL; /* the callback's now */
		ctl_sync_wake(srv, e.host_id);
	} else {
		ctl_sync_wake(srv, e.host_id);
		create_reply(srv, r->req, &e, key, &job);
	}
out:
	if (in_tx)
		ctl_store_rollback(srv->store);
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	if (later) {
		OPENSSL_cleanse(later->key, sizeof(later->key));
		free(later);
	}
	ctl_placement_free(&pin);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(body);
}

static void list(ctl_req *r)
{
	ctl_server *srv = r->srv;
	ctl_page pg;
	cl_err err = ctl_req_page(r, &pg);
	if (err != CL_OK) {
		ctl_reply_err(srv, r->req, err);
		return;
	}
	if (r->who.kind == CTL_WHO_HOST) {
		ctl_reply_error(srv, r->req, CL_EPERM, "host tokens may not list enclaves");
		return;
	}
	bool admin = r->who.kind == CTL_WHO_ADMIN;
	ctl_enclave *es = NULL;
	size_t n = 0;
	/* Admins see every enclave's metadata; tenants those whose policy lets untrusted callers list. */
	err = ctl_store_enclave_list(srv->store, admin ? NULL : r->who.tenant_id, admin ? 0 : CTL_ACT_LIST, pg.after,
				     pg.limit + 1, &es, &n);
	if (err != CL_OK) {
		ctl_reply_err(srv, r->req, err);
		return;
	}
	json_t *items = json_array();
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(items, ctl_enclave_json(&es[i]));
	json_t *page = ctl_page_json(items, n > shown ? es[shown - 1].id : NULL);
	free(es);
	ctl_reply_json(srv, r->req, 200, page);
}

static void destroy(ctl_req *r, ctl_enclave *e)
{
	ctl_server *srv = r->srv;
	ctl_host h = {0};
	ctl_job job;
	cl_err err;
	if (strcmp(e->desired, "gone") == 0) {
		ctl_reply_error(srv, r->req, CL_ECONFLICT, "enclave is already being destroyed");
		return;
	}
	bool host_lost = ctl_store_host_get(srv->store, e->host_id, &h) != CL_OK || strcmp(h.state, "lost") == 0 ||
			 strcmp(h.state, "removed") == 0;
	ctl_host_clear(&h);
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	snprintf(e->desired, sizeof(e->desired), "gone");
	snprintf(e->state, sizeof(e->state), "destroying");
	e->updated_at = (int64_t)cl_now_wall_ms();
	if (host_lost) {
		/* Its host is gone: drop it now; if the host returns, the enclave is
		 * not in its desired set and gets destroyed there. */
		err = ctl_job_new(srv, "destroy", e, true, &job);
		if (err == CL_OK)
			err = ctl_enclave_delete(srv, e->id);
	} else {
		err = ctl_store_enclave_update(srv->store, e);
		if (err == CL_OK)
			err = ctl_job_new(srv, "destroy", e, false, &job);
	}
	if (err == CL_OK)
		err = ctl_store_host_bump(srv->store, e->host_id);
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	cl_info("enclave destroy requested enclave=%s job=%s", e->id, job.id);
	ctl_sync_wake(srv, e->host_id);
	ctl_reply_json(srv, r->req, 202, json_pack("{s:o}", "job", ctl_job_json(&job)));
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
}

void ctl_api_enclaves(ctl_req *r)
{
	ctl_server *srv = r->srv;
	if (r->nseg == 2) {
		if (r->method == EVHTTP_REQ_POST)
			create(r);
		else if (r->method == EVHTTP_REQ_GET)
			list(r);
		else
			ctl_reply_error(srv, r->req, CL_EINVAL, "method not allowed");
		return;
	}
	if (r->nseg != 3 && r->nseg != 4 && !(r->nseg == 5 && strcmp(r->seg[3], "tls") == 0)) {
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "no such endpoint");
		return;
	}
	ctl_enclave e;
	if (!ctl_valid_id(r->seg[2]) || ctl_store_enclave_get(srv->store, r->seg[2], &e) != CL_OK) {
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "enclave not found");
		return;
	}
	uint32_t action = 0;
	if (r->nseg == 3) {
		action = r->method == EVHTTP_REQ_GET ? CTL_ACT_DESCRIBE : r->method == EVHTTP_REQ_DELETE ? CTL_ACT_DESTROY : 0;
	} else {
		const char *v = r->seg[3];
		bool post_verb = strcmp(v, "start") == 0 || strcmp(v, "stop") == 0 || strcmp(v, "resize") == 0 ||
				 strcmp(v, "send") == 0 || strcmp(v, "recv") == 0;
		if (r->method == EVHTTP_REQ_POST && post_verb)
			action = ctl_action_bit(v);
		else if (r->method == EVHTTP_REQ_GET && strcmp(v, "logs") == 0)
			action = CTL_ACT_LOGS;
		else if (r->method == EVHTTP_REQ_POST && strcmp(v, "attestation") == 0)
			action = CTL_ACT_ATTEST;
		else if (r->method == EVHTTP_REQ_POST && strcmp(v, "measure") == 0)
			action = CTL_ACT_MEASURE;
		else if (r->method == EVHTTP_REQ_POST && strcmp(v, "provision") == 0)
			action = CTL_ACT_PROVISION;
		else if (r->method == EVHTTP_REQ_POST && strcmp(v, "suspend") == 0)
			action = CTL_ACT_SUSPEND;
		else if (r->method == EVHTTP_REQ_POST && strcmp(v, "restore") == 0)
			action = CTL_ACT_RESTORE;
		else if (strcmp(v, "tls") == 0) /* status is a describe; a change needs "tls" */
			action = r->method == EVHTTP_REQ_GET && r->nseg == 4 ? CTL_ACT_DESCRIBE : CTL_ACT_TLS;
	}
	if (!action) {
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "no such endpoint");
		return;
	}
	cl_err err = ctl_enclave_access(r, &e, action);
	if (err != CL_OK) {
		ctl_reply_err(srv, r->req, err);
		return;
	}
	if (r->nseg >= 4 && strcmp(r->seg[3], "tls") == 0)
		ctl_enclave_tls(r, &e, r->nseg == 5 ? r->seg[4] : NULL); /* api_tls.c */
	else if (action == CTL_ACT_DESCRIBE)
		describe(r, &e);
	else if (action == CTL_ACT_DESTROY)
		destroy(r, &e);
	else
		ctl_enclave_action(r, &e, r->seg[3]);
}
