/* api_secrets.c — the key broker (docs/broker.md, docs/api/secrets.md):
 *
 *   POST   /v1/secrets                        tenant: register a secret with a policy
 *   GET    /v1/secrets                        tenant: list (never values)
 *   DELETE /v1/secrets/{name}                 tenant
 *   PUT    /v1/secrets/{name}/policy          tenant: replace the policy (audited)
 *   GET    /v1/secrets/{name}/events          tenant: the audit trail
 *   POST   /v1/secrets/{name}/challenge       no auth: a fresh single-use nonce
 *   POST   /v1/secrets/{name}/release         no auth: the document is the credential
 *
 * Release binds what it checks to what it uses (keylime CVE-2022-1053): the
 * very document whose signature, chain, nonce, module_id, host and PCRs were
 * checked supplies the public key the secret is wrapped to. Values are never
 * logged nor echoed; they are wiped from memory after use. The store holds
 * a value only sealed by the monitor (SEAL at put, UNSEAL at a release that
 * passed every check): the worker has it in clear only while it seals or
 * wraps it. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "common/wrap.h"
#include "control/api_attest.h"
#include "control/api_secrets.h"
#include "control/monitor.h"
#include "control/store_cert.h"
#include "control/store_secret.h"
#include "control/validate.h"

#define CHALLENGE_TTL_MS 60000
#define CHALLENGES_LIVE_MAX 16 /* unused unexpired challenges per secret */
#define RELEASES_PER_MIN 30    /* release attempts per secret per minute */

_Static_assert(CTL_SECRET_SEALED_MAX == CTL_SECRET_VALUE_MAX + CTL_SEAL_OVERHEAD, "sealed size");
_Static_assert(CTL_SECRET_VALUE_MAX <= CTL_MON_SEAL_MAX, "the monitor seals any secret");

static int64_t now_ms(void)
{
	return (int64_t)cl_now_wall_ms();
}

/* The aad a secret's value is sealed for: its tenant and name, so that a
 * sealed blob copied to another secret's row (or tenant) does not open. */
static void seal_aad(const char *tenant_id, const char *name, char out[CTL_MON_SEAL_AAD_MAX + 1])
{
	_Static_assert(sizeof("secret//") + 2 * CTL_ID_MAX <= CTL_MON_SEAL_AAD_MAX + 1, "aad size");
	snprintf(out, CTL_MON_SEAL_AAD_MAX + 1, "secret/%s/%s", tenant_id, name);
}

/* The tenant a management call acts for; replies and returns false if none. */
static bool tenant_of(ctl_req *r, const char **tenant)
{
	if ((r->who.kind != CTL_WHO_TENANT && r->who.kind != CTL_WHO_ADMIN) || !r->who.tenant_id[0]) {
		cl_warn("denied reason=forbidden action=secrets token=%s", r->who.token_id);
		ctl_reply_error(r->srv, r->req, CL_EPERM, "only a tenant or admin token may manage secrets");
		return false;
	}
	*tenant = r->who.tenant_id;
	return true;
}

/* Parses a policy object {"pcrs": {"N": "<96 hex>", ...}} (at least one,
 * N 0..15) into its canonical text (sorted keys, lower-case hex) in out. */
static cl_err parse_policy(json_t *pol, char out[CTL_SECRET_POLICY_MAX])
{
	const char *k;
	json_t *v;
	cl_err err = CL_OK;
	CL_ENSURE(json_is_object(pol), CL_EINVAL, "policy must be an object {\"pcrs\": {\"N\": hex, ...}}");
	json_object_foreach(pol, k, v)
	{
		CL_ENSURE(strcmp(k, "pcrs") == 0, CL_EINVAL, "policy: unknown field '%.32s'", k);
	}
	json_t *pcrs = json_object_get(pol, "pcrs");
	CL_ENSURE(json_is_object(pcrs) && json_object_size(pcrs) >= 1, CL_EINVAL,
		  "policy.pcrs must be an object naming at least one register");
	json_t *canon = json_object();
	CL_ENSURE(canon, CL_ENOMEM, "out of memory");
	json_object_foreach(pcrs, k, v)
	{
		char *end = NULL;
		long i = strtol(k, &end, 10);
		const char *hex = json_string_value(v);
		uint8_t b[CL_ATT_PCR_LEN];
		char lower[2 * CL_ATT_PCR_LEN + 1], key[4];
		if (!k[0] || *end || i < 0 || i >= CL_ATT_NPCRS || (k[0] == '0' && k[1])) {
			err = cl_errorf(CL_EINVAL, "policy.pcrs: '%.8s' is not a register index 0..%d", k, CL_ATT_NPCRS - 1);
			goto out;
		}
		if (!hex || strlen(hex) != 2 * CL_ATT_PCR_LEN || cl_hex_decode(hex, b, sizeof(b)) != CL_OK) {
			err = cl_errorf(CL_EINVAL, "policy.pcrs.%ld must be %d hex digits", i, 2 * CL_ATT_PCR_LEN);
			goto out;
		}
		cl_hex_encode(b, sizeof(b), lower);
		snprintf(key, sizeof(key), "%ld", i);
		if (json_object_set_new(canon, key, json_string(lower)) != 0) {
			err = CL_ENOMEM;
			goto out;
		}
	}
	json_t *wrap = json_pack("{s:O}", "pcrs", canon);
	char *text = wrap ? json_dumps(wrap, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(wrap);
	if (!text || strlen(text) >= CTL_SECRET_POLICY_MAX)
		err = text ? cl_errorf(CL_EINVAL, "policy too large") : CL_ENOMEM;
	else
		snprintf(out, CTL_SECRET_POLICY_MAX, "%s", text);
	free(text);
out:
	json_decref(canon);
	return err;
}

static json_t *secret_json(const ctl_secret *s)
{
	json_t *pol = json_loads(s->policy, 0, NULL);
	return json_pack("{s:s,s:s,s:o,s:o,s:o}", "name", s->name, "enclave", s->enclave_id, "policy",
			 pol ? pol : json_null(), "created_at", ctl_json_time(s->created_at), "updated_at",
			 ctl_json_time(s->updated_at));
}

/* POST /v1/secrets */
static void create(ctl_req *r, const char *tenant)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	ctl_secret *s = calloc(1, sizeof(*s));
	ctl_enclave e;
	cl_buf val, sealed;
	char aad[CTL_MON_SEAL_AAD_MAX + 1];
	bool in_tx = false;
	const char *k;
	json_t *v;
	cl_err err = s ? CL_OK : CL_ENOMEM;
	cl_buf_init(&val, CTL_SECRET_VALUE_MAX);
	cl_buf_init(&sealed, CTL_SECRET_SEALED_MAX);
	if (err != CL_OK)
		goto out;
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "name") && strcmp(k, "value") && strcmp(k, "enclave") && strcmp(k, "policy")) {
			err = cl_errorf(CL_EINVAL, "unknown field '%.32s'", k);
			goto out;
		}
	}
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *value = json_string_value(json_object_get(body, "value"));
	const char *enclave = json_string_value(json_object_get(body, "enclave"));
	if (!name || !ctl_valid_name(name)) {
		err = cl_errorf(CL_EINVAL, "name must match [a-z0-9][a-z0-9-]{0,62}");
		goto out;
	}
	if (!value || cl_base64_decode(value, &val) != CL_OK || val.len == 0) {
		err = cl_errorf(CL_EINVAL, "value must be base64 of 1..%d bytes", CTL_SECRET_VALUE_MAX);
		goto out;
	}
	if (!enclave || !ctl_valid_id(enclave)) {
		err = cl_errorf(CL_EINVAL, "enclave must be an enclave id");
		goto out;
	}
	CL_GUARD_OUT(err, parse_policy(json_object_get(body, "policy"), s->policy));
	if (ctl_store_enclave_get(srv->store, enclave, &e) != CL_OK || strcmp(e.tenant_id, tenant) != 0) {
		cl_error_clear();
		err = cl_errorf(CL_ENOTFOUND, "enclave %s not found", enclave);
		goto out;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->tenant_id, sizeof(s->tenant_id), "%s", tenant);
	snprintf(s->enclave_id, sizeof(s->enclave_id), "%s", enclave);
	/* the value reaches the store only sealed by the monitor */
	seal_aad(tenant, s->name, aad);
	if (!srv->mon) {
		err = cl_errorf(CL_EUNAVAIL, "no monitor to seal the secret");
		goto out;
	}
	err = ctl_mon_seal(srv->mon, aad, val.data, val.len, &sealed);
	if (err != CL_OK) {
		err = cl_errorf(err == CL_EUNAVAIL ? CL_EUNAVAIL : CL_EINTERNAL, "the monitor did not seal the secret (%s)",
				cl_err_name(err));
		goto out;
	}
	memcpy(s->sealed, sealed.data, sealed.len);
	s->sealed_len = sealed.len;
	s->created_at = s->updated_at = now_ms();
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	in_tx = true;
	CL_GUARD_OUT(err, ctl_store_secret_insert(srv->store, s));
	CL_GUARD_OUT(err, ctl_store_secret_event(srv->store, s->name, tenant, "created", "", s->policy, s->created_at));
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	in_tx = false;
	cl_info("secret created name=%s tenant=%s enclave=%s bytes=%zu", s->name, tenant, s->enclave_id, val.len);
	json_t *o = secret_json(s);
	ctl_reply_json(srv, r->req, o ? 201 : 500, o);
out:
	if (in_tx)
		ctl_store_rollback(srv->store);
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	cl_buf_free(&val); /* wipes */
	cl_buf_free(&sealed);
	if (s)
		OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	if (body) { /* the decoded body holds the value too */
		json_t *jv = json_object_get(body, "value");
		const char *bv = json_string_value(jv);
		if (bv)
			OPENSSL_cleanse((void *)bv, strlen(bv));
	}
	json_decref(body);
}

/* GET /v1/secrets */
static void list(ctl_req *r, const char *tenant)
{
	ctl_page pg;
	ctl_secret *ss = NULL;
	size_t n = 0;
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_page(r, &pg));
	CL_GUARD_OUT(err, ctl_store_secret_list(r->srv->store, tenant, pg.after, pg.limit + 1, &ss, &n));
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	json_t *items = json_array();
	for (size_t i = 0; items && i < shown; i++)
		json_array_append_new(items, secret_json(&ss[i]));
	json_t *page = ctl_page_json(items, n > shown ? ss[shown - 1].name : NULL);
	free(ss);
	ctl_reply_json(r->srv, r->req, page ? 200 : 500, page);
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
}

/* DELETE /v1/secrets/{name}, PUT /v1/secrets/{name}/policy */
static void change(ctl_req *r, const char *tenant, const char *name, bool del)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	ctl_secret s;
	char policy[CTL_SECRET_POLICY_MAX];
	bool in_tx = false;
	const char *k;
	json_t *v;
	cl_err err;
	int64_t now = now_ms();
	CL_GUARD_OUT(err, ctl_store_secret_get(srv->store, name, tenant, false, &s));
	if (!del) {
		CL_GUARD_OUT(err, ctl_req_json(r, &body));
		json_object_foreach(body, k, v)
		{
			if (strcmp(k, "pcrs") != 0) {
				err = cl_errorf(CL_EINVAL, "unknown field '%.32s': the body is the policy {\"pcrs\": {...}}", k);
				goto out;
			}
		}
		CL_GUARD_OUT(err, parse_policy(body, policy));
	}
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	in_tx = true;
	if (del) {
		CL_GUARD_OUT(err, ctl_store_secret_delete(srv->store, name));
		CL_GUARD_OUT(err, ctl_store_secret_event(srv->store, name, tenant, "deleted", "", "", now));
	} else {
		CL_GUARD_OUT(err, ctl_store_secret_set_policy(srv->store, name, policy, now));
		char detail[CTL_MSG_MAX];
		snprintf(detail, sizeof(detail), "%.120s -> %.120s", s.policy, policy);
		CL_GUARD_OUT(err, ctl_store_secret_event(srv->store, name, tenant, "policy", "",
							 strlen(s.policy) + strlen(policy) < 240 ? detail : policy, now));
	}
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	in_tx = false;
	cl_info("secret %s name=%s tenant=%s", del ? "deleted" : "policy changed", name, tenant);
	if (del) {
		ctl_reply_json(srv, r->req, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
	} else {
		snprintf(s.policy, sizeof(s.policy), "%s", policy);
		s.updated_at = now;
		json_t *o = secret_json(&s);
		ctl_reply_json(srv, r->req, o ? 200 : 500, o);
	}
out:
	if (in_tx)
		ctl_store_rollback(srv->store);
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	json_decref(body);
}

/* GET /v1/secrets/{name}/events */
static void events(ctl_req *r, const char *tenant, const char *name)
{
	ctl_page pg;
	ctl_secret_event *es = NULL;
	size_t n = 0;
	int64_t after = 0;
	char nextbuf[24];
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_page(r, &pg));
	if (pg.after[0]) {
		char *end;
		long long a = strtoll(pg.after, &end, 10);
		if (*end || a < 0) {
			err = cl_errorf(CL_EINVAL, "after must be the \"next\" of a previous page (a number)");
			goto out;
		}
		after = a;
	}
	CL_GUARD_OUT(err, ctl_store_secret_events(r->srv->store, name, tenant, after, pg.limit + 1, &es, &n));
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	json_t *items = json_array();
	for (size_t i = 0; items && i < shown; i++) {
		ctl_secret_event *e = &es[i];
		json_array_append_new(items, json_pack("{s:I,s:s,s:s?,s:s,s:o}", "id", (json_int_t)e->id, "kind", e->kind,
						       "reason", e->reason[0] ? e->reason : NULL, "detail", e->detail,
						       "time", ctl_json_time(e->created_at)));
	}
	if (n > shown)
		snprintf(nextbuf, sizeof(nextbuf), "%lld", (long long)es[shown - 1].id);
	json_t *page = ctl_page_json(items, n > shown ? nextbuf : NULL);
	free(es);
	ctl_reply_json(r->srv, r->req, page ? 200 : 500, page);
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
}

/* 429 with Retry-After. */
static void too_many(ctl_req *r, const char *msg)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "10");
	ctl_reply_error(r->srv, r->req, CL_ELIMIT, msg);
}

/* POST /v1/secrets/{name}/challenge */
static void challenge(ctl_req *r, const char *name)
{
	ctl_server *srv = r->srv;
	ctl_secret s;
	uint8_t nonce[32];
	char hex[CTL_SECRET_NONCE_HEX + 1];
	int live = 0;
	bool in_tx = false;
	int64_t now = now_ms();
	cl_err err;
	CL_GUARD_OUT(err, ctl_store_secret_get(srv->store, name, NULL, false, &s));
	CL_GUARD_OUT(err, cl_random(nonce, sizeof(nonce)));
	cl_hex_encode(nonce, sizeof(nonce), hex);
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	in_tx = true;
	CL_GUARD_OUT(err, ctl_store_secret_challenge_add(srv->store, name, hex, now + CHALLENGE_TTL_MS, now, &live));
	if (live >= CHALLENGES_LIVE_MAX) {
		ctl_store_rollback(srv->store);
		in_tx = false;
		cl_warn_rl("denied reason=too-many-challenges secret=%s", name);
		too_many(r, "too many open challenges for this secret: use one or let them expire (60 s)");
		return;
	}
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	in_tx = false;
	json_t *o = json_pack("{s:s,s:o,s:s}", "nonce", hex, "expires_at", ctl_json_time(now + CHALLENGE_TTL_MS),
			      "enclave", s.enclave_id);
	ctl_reply_json(srv, r->req, o ? 200 : 500, o);
out:
	if (in_tx)
		ctl_store_rollback(srv->store);
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
}

/* A refusal: 403 {"error": {code, message, reason}}, audited. */
static void refuse(ctl_req *r, const ctl_secret *s, const char *reason, const char *detail)
{
	ctl_server *srv = r->srv;
	cl_err err = CL_OK;
	if (ctl_store_begin(srv->store) == CL_OK) {
		err = ctl_store_secret_event(srv->store, s->name, s->tenant_id, "refused", reason, detail, now_ms());
		if (err == CL_OK)
			err = ctl_store_commit(srv->store);
		if (err != CL_OK)
			ctl_store_rollback(srv->store);
	}
	cl_error_clear();
	cl_warn_rl("secret release refused name=%s reason=%s", s->name, reason);
	char msg[CTL_MSG_MAX + CTL_SECRET_REASON_MAX + 2];
	snprintf(msg, sizeof(msg), "%s: %s", reason, detail);
	json_t *o = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", cl_err_name(CL_EPERM), "message", msg, "reason",
			      reason);
	ctl_reply_json(srv, r->req, o ? 403 : 500, o);
}

/* The checks of a release, in order; reason is set when one fails. */
static cl_err release_checks(ctl_req *r, const ctl_secret *s, const cl_att_doc *d, uint8_t point[CL_WRAP_POINT_LEN],
			     const char **reason)
{
	ctl_server *srv = r->srv;
	uint8_t *root = NULL;
	size_t root_len = 0;
	enum cl_att_check failed = CL_ATT_CHECK_NONE;
	cl_att_expect ex = {0};
	char serial[41], nonce_hex[2 * CL_ATT_NONCE_MAX + 1];
	ctl_cert_row c;
	ctl_enclave e;
	ctl_host h = {0};
	cl_err err = CL_OK;
	*reason = "bad_document";
	CL_GUARD(ctl_pem_to_der(srv->root_pem, &root, &root_len));
	ex.root_der = root;
	ex.root_len = root_len;
	ex.now = time(NULL);
	err = cl_att_verify(d, &ex, &failed);
	free(root);
	if (err != CL_OK)
		return err;
	/* the nonce: that of a challenge of this secret, unused, unexpired; consumed now */
	*reason = "stale_nonce";
	CL_ENSURE(d->f.nonce.p && d->f.nonce.n == 32, CL_EPERM, "the document carries no 32-byte challenge nonce");
	cl_hex_encode(d->f.nonce.p, d->f.nonce.n, nonce_hex);
	CL_GUARD(ctl_store_begin(srv->store));
	err = ctl_store_secret_challenge_take(srv->store, s->name, nonce_hex, now_ms());
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		return err == CL_ENOTFOUND ? CL_EPERM : err;
	}
	*reason = "wrong_enclave";
	CL_ENSURE(strcmp(d->module_id, s->enclave_id) == 0, CL_EPERM,
		  "the document is for enclave %.64s, the secret for %s", d->module_id, s->enclave_id);
	if (ctl_store_enclave_get(srv->store, s->enclave_id, &e) != CL_OK)
		return cl_errorf(CL_EPERM, "the enclave %s no longer exists", s->enclave_id);
	*reason = "host_revoked";
	CL_GUARD(cl_att_leaf_serial(d, serial));
	if (ctl_store_cert_get(srv->store, serial, &c) != CL_OK)
		return cl_errorf(CL_EPERM, "the document's certificate %s was not issued by this control plane", serial);
	CL_ENSURE(c.revoked_at == 0, CL_EPERM, "the document's certificate %s is revoked (%s)", serial, c.reason);
	*reason = "wrong_host";
	CL_ENSURE(strcmp(c.host_id, e.host_id) == 0, CL_EPERM, "the document comes from host %s, the enclave runs on %s",
		  c.host_id, e.host_id);
	*reason = "host_revoked";
	if (ctl_store_host_get(srv->store, c.host_id, &h) != CL_OK)
		return cl_errorf(CL_EPERM, "the document's host %s is unknown", c.host_id);
	err = strcmp(h.state, "ready") == 0 ? CL_OK : cl_errorf(CL_EPERM, "the document's host %s is %s", c.host_id, h.state);
	ctl_host_clear(&h);
	CL_GUARD(err);
	*reason = "pcr_mismatch";
	json_t *pol = json_loads(s->policy, 0, NULL), *pcrs = json_object_get(pol, "pcrs"), *v;
	const char *k;
	CL_ENSURE(pcrs, CL_EINTERNAL, "the secret's stored policy is unreadable");
	json_object_foreach(pcrs, k, v)
	{
		uint8_t want[CL_ATT_PCR_LEN];
		long i = strtol(k, NULL, 10);
		if (i < 0 || i >= CL_ATT_NPCRS || !json_string_value(v) ||
		    cl_hex_decode(json_string_value(v), want, sizeof(want)) != CL_OK) {
			err = cl_errorf(CL_EINTERNAL, "the secret's stored policy is unreadable");
			break;
		}
		if (CRYPTO_memcmp(want, d->f.pcrs[i], sizeof(want)) != 0) {
			err = cl_errorf(CL_EPERM, "PCR%ld differs from the policy", i);
			break;
		}
	}
	json_decref(pol);
	CL_GUARD(err);
	*reason = "no_public_key";
	CL_ENSURE(d->f.public_key.p && d->f.public_key.n > 0, CL_EPERM, "the document carries no public_key");
	*reason = "bad_public_key";
	if (cl_wrap_point(d->f.public_key.p, d->f.public_key.n, point) != CL_OK)
		return CL_EPERM; /* cl_wrap_point's detail says why */
	*reason = NULL;
	return CL_OK;
}

/* POST /v1/secrets/{name}/release */
static void release(ctl_req *r, const char *name)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	ctl_secret *s = calloc(1, sizeof(*s));
	cl_att_doc *d = NULL;
	cl_buf raw, wrapped, value;
	uint8_t point[CL_WRAP_POINT_LEN], kid[32];
	char *b64 = NULL, kidhex[17], detail[CTL_MSG_MAX], aad[CTL_MON_SEAL_AAD_MAX + 1];
	const char *reason = NULL;
	int attempts = 0;
	cl_err err = s ? CL_OK : CL_ENOMEM;
	cl_buf_init(&raw, CL_ATT_DOC_MAX);
	cl_buf_init(&wrapped, CTL_SECRET_VALUE_MAX + CL_WRAP_OVERHEAD);
	cl_buf_init(&value, CTL_SECRET_VALUE_MAX);
	if (err != CL_OK)
		goto out;
	CL_GUARD_OUT(err, ctl_store_secret_get(srv->store, name, NULL, false, s));
	CL_GUARD_OUT(err, ctl_store_secret_attempts(srv->store, name, now_ms() - 60000, &attempts));
	if (attempts >= RELEASES_PER_MIN) {
		cl_warn_rl("denied reason=release-rate secret=%s", name);
		too_many(r, "too many release attempts for this secret: at most 30 a minute");
		goto out;
	}
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	const char *doc = json_string_value(json_object_get(body, "document"));
	if (json_object_size(body) != 1 || !doc) {
		err = cl_errorf(CL_EINVAL, "the body must be {\"document\": base64}");
		goto out;
	}
	if (cl_base64_decode(doc, &raw) != CL_OK || raw.len == 0 || cl_att_parse(raw.data, raw.len, &d) != CL_OK) {
		snprintf(detail, sizeof(detail), "the document does not parse: %s", cl_error_detail());
		refuse(r, s, "bad_document", detail);
		goto out;
	}
	cl_err ce = release_checks(r, s, d, point, &reason);
	if (ce != CL_OK) {
		/* the document failed a check (EPERM, ECRYPTO from the verifier,
		 * EINVAL from its certificate); anything else is the server's */
		if (!reason || (ce != CL_EPERM && ce != CL_ECRYPTO && ce != CL_EINVAL)) {
			err = ce;
			goto out;
		}
		snprintf(detail, sizeof(detail), "%s", cl_error_detail());
		refuse(r, s, reason, detail);
		goto out;
	}
	/* the value is read and unsealed only now, wrapped to exactly the
	 * checked document's key, and wiped at once */
	CL_GUARD_OUT(err, ctl_store_secret_get(srv->store, name, NULL, true, s));
	seal_aad(s->tenant_id, s->name, aad);
	err = srv->mon ? ctl_mon_unseal(srv->mon, aad, s->sealed, s->sealed_len, &value)
		       : cl_errorf(CL_EUNAVAIL, "no monitor to unseal the secret");
	if (err != CL_OK) {
		/* not the caller's fault: the stored blob is not this secret's
		 * (moved from another row), changed, or sealed under another key */
		cl_error("secret release failed name=%s: the monitor did not unseal its value (%s)", name, cl_err_name(err));
		err = cl_errorf(err == CL_EUNAVAIL ? CL_EUNAVAIL : CL_EINTERNAL,
				"the secret's stored value does not open: it was not sealed for this secret, or changed");
		goto out;
	}
	err = cl_wrap_seal(point, value.data, value.len, &wrapped);
	cl_buf_free(&value); /* wipes: the clear value lived only for the wrap */
	if (err != CL_OK)
		goto out;
	CL_GUARD_OUT(err, cl_sha256(point, sizeof(point), kid));
	cl_hex_encode(kid, 8, kidhex);
	snprintf(detail, sizeof(detail), "to enclave %s, key sha256:%s", s->enclave_id, kidhex);
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	err = ctl_store_secret_event(srv->store, name, s->tenant_id, "released", "", detail, now_ms());
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	cl_info("secret released name=%s enclave=%s key=%s", name, s->enclave_id, kidhex);
	CL_GUARD_OUT(err, cl_base64_encode(wrapped.data, wrapped.len, &b64));
	json_t *o = json_pack("{s:s,s:s}", "wrapped", b64, "enclave", s->enclave_id);
	ctl_reply_json(srv, r->req, o ? 200 : 500, o);
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	if (s)
		OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	free(b64);
	cl_att_doc_free(d);
	cl_buf_free(&raw);
	cl_buf_free(&wrapped);
	cl_buf_free(&value);
	json_decref(body);
}

void ctl_api_secrets(ctl_req *r)
{
	const char *tenant = NULL;
	const char *name = r->nseg >= 3 ? r->seg[2] : NULL;
	if (name && !ctl_valid_name(name)) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such secret");
		return;
	}
	if (r->nseg == 4 && r->method == EVHTTP_REQ_POST && strcmp(r->seg[3], "challenge") == 0) {
		challenge(r, name);
		return;
	}
	if (r->nseg == 4 && r->method == EVHTTP_REQ_POST && strcmp(r->seg[3], "release") == 0) {
		release(r, name);
		return;
	}
	if (!tenant_of(r, &tenant))
		return;
	if (r->nseg == 2 && r->method == EVHTTP_REQ_POST)
		create(r, tenant);
	else if (r->nseg == 2 && r->method == EVHTTP_REQ_GET)
		list(r, tenant);
	else if (r->nseg == 3 && r->method == EVHTTP_REQ_DELETE)
		change(r, tenant, name, true);
	else if (r->nseg == 4 && r->method == EVHTTP_REQ_PUT && strcmp(r->seg[3], "policy") == 0)
		change(r, tenant, name, false);
	else if (r->nseg == 4 && r->method == EVHTTP_REQ_GET && strcmp(r->seg[3], "events") == 0)
		events(r, tenant, name);
	else
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
}

bool ctl_secrets_public(const ctl_req *r)
{
	return r->nseg == 4 && strcmp(r->seg[1], "secrets") == 0 && r->method == EVHTTP_REQ_POST &&
	       (strcmp(r->seg[3], "challenge") == 0 || strcmp(r->seg[3], "release") == 0);
}
