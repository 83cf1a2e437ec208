/* api_tenants.c — POST/GET /v1/tenants, and API tokens: POST /v1/tokens,
 * GET /v1/tokens, DELETE /v1/tokens/{id} (docs/api/tokens-*.md).
 *
 * Who sees which token: an admin every token; a tenant the tokens of its own
 * tenant (another tenant's tokens do not exist for it: 404). Engineer and
 * metrics tokens reach here only to revoke themselves (ctl_auth scopes
 * them); host tokens are refused. A list shows no secret and no hash, ever. */
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
	ctl_page pg;
	cl_err err = ctl_req_page(r, &pg);
	if (err == CL_OK)
		err = ctl_store_tenant_list(r->srv->store, pg.after, pg.limit + 1, &ts, &n);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *items = json_array();
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(items, json_pack("{s:s,s:s,s:o}", "id", ts[i].id, "name", ts[i].name,
						       "created_at", ctl_json_time(ts[i].created_at)));
	json_t *page = ctl_page_json(items, n > shown ? ts[shown - 1].id : NULL);
	free(ts);
	ctl_reply_json(r->srv, r->req, 200, page);
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
	else
		list_tenants(r);
}

/* "active", "expired" or "revoked" at now_ms. */
static const char *token_state(const ctl_token *t, int64_t now_ms)
{
	if (t->revoked_at)
		return "revoked";
	return t->expires_at && now_ms >= t->expires_at ? "expired" : "active";
}

/* A token as the API shows it: never its secret, never its hash. */
static json_t *token_json(const ctl_token *t, int64_t now_ms)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o}", "id", t->id, "kind", t->kind, "tenant_id",
			 t->tenant_id, "host_id", t->host_id[0] ? json_string(t->host_id) : json_null(), "name",
			 t->name, "state", token_state(t, now_ms), "created_at", ctl_json_time(t->created_at),
			 "expires_at", ctl_json_time(t->expires_at), "revoked_at", ctl_json_time(t->revoked_at));
}

/* The kind a new token of tenant t gets: the provider tenant's are admin
 * tokens unless engineer or metrics is asked for; other tenants' are tenant
 * tokens. NULL (detail set) for a combination that cannot be. */
static const char *token_kind(const ctl_tenant *t, const char *want)
{
	bool provider = strcmp(t->id, CTL_PROVIDER_TENANT) == 0;
	const char *kind = provider ? "admin" : "tenant";
	if (!want || strcmp(want, kind) == 0)
		return kind;
	if (provider && (strcmp(want, "engineer") == 0 || strcmp(want, "metrics") == 0))
		return want;
	cl_errorf(CL_EINVAL, "a token of kind \"%s\" cannot belong to tenant %s", want, t->id);
	return NULL;
}

static void create_token(ctl_req *r)
{
	json_t *body = NULL;
	const char *tenant_id, *name, *want, *kind;
	char token[160], id[CTL_ID_MAX];
	int64_t ttl_s = 0, now = (int64_t)cl_now_wall_ms();
	ctl_tenant t;
	ctl_token self;
	cl_err err;
	token[0] = '\0';
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_token_req(body, &tenant_id, &name, &want, &ttl_s));
	if (r->who.kind == CTL_WHO_TENANT && strcmp(tenant_id, r->who.tenant_id) != 0) {
		json_decref(body);
		deny(r, "tokens:other-tenant");
		return;
	}
	CL_GUARD_OUT(err, ctl_store_tenant_get(r->srv->store, tenant_id, &t));
	if (!(kind = token_kind(&t, want))) {
		err = CL_EINVAL;
		goto out;
	}
	int64_t expires = now + (ttl_s ? ttl_s : CTL_TOKEN_TTL_DEFAULT_S) * 1000;
	/* A tenant's token cannot mint one that outlives it: without this cap a
	 * leaked token could be renewed forever. Admins are not capped. */
	if (r->who.kind == CTL_WHO_TENANT) {
		CL_GUARD_OUT(err, ctl_store_token_get(r->srv->store, r->who.token_id, &self));
		OPENSSL_cleanse(self.hash, sizeof(self.hash));
		if (self.expires_at && self.expires_at < expires)
			expires = self.expires_at;
	}
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	err = ctl_token_create(r->srv, kind, t.id, NULL, name, now, expires, token, sizeof(token), id);
	if (err == CL_OK)
		err = ctl_store_commit(r->srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(r->srv->store);
		goto out;
	}
	cl_info("token created token=%s tenant=%s kind=%s by=%s", id, t.id, kind, r->who.token_id);
	ctl_reply_json(r->srv, r->req, 201,
		       json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "id", id, "token", token, "tenant_id", t.id, "kind",
				 kind, "name", name, "created_at", ctl_json_time(now), "expires_at",
				 ctl_json_time(expires)));
out:
	OPENSSL_cleanse(token, sizeof(token));
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	json_decref(body);
}

static void list_tokens(ctl_req *r)
{
	ctl_page pg;
	ctl_token *ts = NULL;
	size_t n = 0;
	const char *tenant = evhttp_find_header(&r->query, "tenant");
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_page(r, &pg));
	if (tenant && !ctl_valid_id(tenant)) {
		err = cl_errorf(CL_EINVAL, "tenant must be a tenant id");
		goto out;
	}
	if (r->who.kind == CTL_WHO_TENANT) {
		if (tenant && strcmp(tenant, r->who.tenant_id) != 0) {
			deny(r, "tokens:list-other-tenant");
			return;
		}
		tenant = r->who.tenant_id;
	}
	CL_GUARD_OUT(err, ctl_store_token_list(r->srv->store, tenant, pg.after, pg.limit + 1, &ts, &n));
	int64_t now = (int64_t)cl_now_wall_ms();
	json_t *items = json_array();
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(items, token_json(&ts[i], now));
	json_t *page = ctl_page_json(items, n > shown ? ts[shown - 1].id : NULL);
	free(ts);
	ctl_reply_json(r->srv, r->req, 200, page);
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
}

/* DELETE /v1/tokens/{id}: effective from the next request that presents it
 * (ctl_auth reads the row every time). Revoking a revoked token is a no-op. */
static void revoke_token(ctl_req *r, const char *id)
{
	ctl_server *srv = r->srv;
	ctl_token t;
	int64_t now = (int64_t)cl_now_wall_ms(), others = 0;
	cl_err err;
	bool visible = ctl_valid_id(id) && ctl_store_token_get(srv->store, id, &t) == CL_OK &&
		       (r->who.kind == CTL_WHO_ADMIN || strcmp(t.tenant_id, r->who.tenant_id) == 0);
	if (!visible) {
		cl_error_clear();
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "token not found");
		return;
	}
	OPENSSL_cleanse(t.hash, sizeof(t.hash));
	if (strcmp(t.kind, "host") == 0) {
		err = cl_errorf(CL_ECONFLICT, "a host token is revoked by removing its host: cloister host remove %s",
				t.host_id);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	/* Never the last usable admin token: that would lock every operator
	 * out until a restart makes a new one. */
	if (strcmp(t.kind, "admin") == 0 && !t.revoked_at) {
		err = ctl_store_admin_count(srv->store, now, t.id, &others);
		if (err == CL_OK && others == 0)
			err = cl_errorf(CL_ECONFLICT, "this is the last usable admin token: create another admin token first");
	}
	if (err == CL_OK)
		err = ctl_store_token_revoke(srv->store, t.id, now);
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_token_get(srv->store, t.id, &t));
	OPENSSL_cleanse(t.hash, sizeof(t.hash));
	cl_info("token revoked token=%s kind=%s tenant=%s by=%s", t.id, t.kind, t.tenant_id, r->who.token_id);
	ctl_reply_json(srv, r->req, 200, token_json(&t, now));
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
}

void ctl_api_tokens(ctl_req *r)
{
	bool scoped = r->who.kind == CTL_WHO_ENGINEER || r->who.kind == CTL_WHO_METRICS;
	bool self = r->nseg == 3 && r->method == EVHTTP_REQ_DELETE && strcmp(r->seg[2], r->who.token_id) == 0;
	if (r->who.kind != CTL_WHO_ADMIN && r->who.kind != CTL_WHO_TENANT && !(scoped && self)) {
		deny(r, "tokens");
		return;
	}
	if (r->nseg == 3 && r->method == EVHTTP_REQ_DELETE)
		revoke_token(r, r->seg[2]);
	else if (r->nseg == 2 && r->method == EVHTTP_REQ_POST)
		create_token(r);
	else if (r->nseg == 2 && r->method == EVHTTP_REQ_GET)
		list_tokens(r);
	else
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
}
