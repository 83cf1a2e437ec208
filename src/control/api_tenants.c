/* api_tenants.c — POST/GET /v1/tenants and POST /v1/tokens. */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/validate.h"

static void deny(ctl_req *r, const char *what)
{
	cl_warn("denied reason=forbidden action=%s token=%s", what, r->who.token_id);
	ctl_reply_error(r->srv, r->req, CL_EPERM, "this token may not do that");
}

static void create_tenant(ctl_req *r)
{
	json_t *body = NULL;
	const char *name;
	ctl_tenant t = {0};
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_tenant(body, &name));
	CL_GUARD_OUT(err, cl_random_id("ten-", t.id, sizeof(t.id)));
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.created_at = (int64_t)cl_now_wall_ms();
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	err = ctl_store_tenant_insert(r->srv->store, &t);
	if (err == CL_OK)
		err = ctl_store_commit(r->srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(r->srv->store);
		if (err == CL_ECONFLICT)
			cl_errorf(CL_ECONFLICT, "a tenant named \"%s\" already exists", t.name);
		goto out;
	}
	cl_info("tenant created tenant=%s name=%s", t.id, t.name);
	ctl_reply_json(r->srv, r->req, 201, json_pack("{s:s,s:s}", "id", t.id, "name", t.name));
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	json_decref(body);
}

static void list_tenants(ctl_req *r)
{
	ctl_tenant *ts = NULL;
	size_t n = 0;
	cl_err err = ctl_store_tenant_list(r->srv->store, &ts, &n);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, json_pack("{s:s,s:s,s:o}", "id", ts[i].id, "name", ts[i].name,
						       "created_at", ctl_json_time(ts[i].created_at)));
	free(ts);
	ctl_reply_json(r->srv, r->req, 200, json_pack("{s:o}", "items", items));
}

void ctl_api_tenants(ctl_req *r)
{
	if (r->nseg != 2) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
		return;
	}
	if (r->who.kind != CTL_WHO_ADMIN) {
		deny(r, "tenants");
		return;
	}
	if (r->method == EVHTTP_REQ_POST)
		create_tenant(r);
	else if (r->method == EVHTTP_REQ_GET)
		list_tenants(r);
	else
		ctl_reply_error(r->srv, r->req, CL_EINVAL, "method not allowed");
}

void ctl_api_tokens(ctl_req *r)
{
	json_t *body = NULL;
	const char *tenant_id, *name, *want;
	char token[160], id[CTL_ID_MAX];
	ctl_tenant t;
	cl_err err;
	if (r->nseg != 2 || r->method != EVHTTP_REQ_POST) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
		return;
	}
	if (r->who.kind != CTL_WHO_ADMIN && r->who.kind != CTL_WHO_TENANT) {
		deny(r, "tokens");
		return;
	}
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_token_req(body, &tenant_id, &name, &want));
	if (r->who.kind == CTL_WHO_TENANT && strcmp(tenant_id, r->who.tenant_id) != 0) {
		json_decref(body);
		deny(r, "tokens:other-tenant");
		return;
	}
	CL_GUARD_OUT(err, ctl_store_tenant_get(r->srv->store, tenant_id, &t));
	/* Tokens of the provider tenant are admin tokens unless asked for an
	 * engineer token (firmware releases only); the others are tenant tokens. */
	bool provider = strcmp(t.id, CTL_PROVIDER_TENANT) == 0;
	const char *kind = provider ? "admin" : "tenant";
	if (want && strcmp(want, kind) != 0) {
		if (!provider || strcmp(want, "engineer") != 0) {
			err = cl_errorf(CL_EINVAL, "a token of kind \"%s\" cannot belong to tenant %s", want, t.id);
			goto out;
		}
		kind = "engineer";
	}
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	err = ctl_token_create(r->srv, kind, t.id, NULL, name, token, sizeof(token), id);
	if (err == CL_OK)
		err = ctl_store_commit(r->srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(r->srv->store);
		goto out;
	}
	cl_info("token created token=%s tenant=%s kind=%s", id, t.id, kind);
	ctl_reply_json(r->srv, r->req, 201,
		       json_pack("{s:s,s:s,s:s,s:s}", "id", id, "token", token, "tenant_id", t.id, "kind", kind));
	OPENSSL_cleanse(token, sizeof(token));
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	json_decref(body);
}
