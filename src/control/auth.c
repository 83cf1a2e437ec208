/* auth.c — bearer tokens "clt_<id>_<secret>": lookup by id, verification of
 * the secret against its peppered, salted hash by the monitor
 * (ctl_secret_verify: the pepper never enters this process),
 * then revocation, expiry and the kind's scope. Nothing is cached: every
 * request reads its token row. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/monitor.h"
#include "control/validate.h"

cl_err ctl_secret_hash(ctl_server *srv, const char *secret, char *out, size_t outlen)
{
	CL_ENSURE(srv->mon != NULL, CL_EUNAVAIL, "no monitor to hash a secret");
	return ctl_mon_hash_secret(srv->mon, secret, out, outlen);
}

/* The worker's memory of secrets the monitor confirmed: one entry per stored
 * hash (salted, so one per secret), holding HMAC-SHA-256 of the secret under
 * a key random to this process, for VERIFY_CACHE_MS. A keep-alive client
 * that sends the same token with every request costs one monitor round trip
 * per VERIFY_CACHE_MS instead of one per request. It holds nothing the
 * worker does not see in every request anyway; the pepper stays in the
 * monitor, the token row is still read on every request (a revocation or an
 * expiry counts at once), and only matches are remembered. */
#define VERIFY_CACHE_SLOTS 1024
#define VERIFY_CACHE_MS 300000u
typedef struct verified {
	char stored[CTL_HASH_MAX];
	uint8_t mac[CL_SHA256_LEN];
	uint64_t until_ms; /* monotonic; 0: empty */
} verified;
static verified *vcache;
static uint8_t vkey[32];

static verified *cache_slot(const char *stored)
{
	uint8_t h[CL_SHA256_LEN];
	if (!vcache) {
		if (cl_random(vkey, sizeof(vkey)) != CL_OK || !(vcache = calloc(VERIFY_CACHE_SLOTS, sizeof(*vcache))))
			return NULL;
	}
	if (cl_sha256(stored, strlen(stored), h) != CL_OK)
		return NULL;
	return &vcache[((size_t)h[0] << 8 | h[1]) % VERIFY_CACHE_SLOTS];
}

cl_err ctl_secret_verify(ctl_server *srv, const char *secret, const char *stored)
{
	uint8_t mac[CL_SHA256_LEN];
	verified *v = strlen(stored) < CTL_HASH_MAX ? cache_slot(stored) : NULL;
	uint64_t now = cl_now_mono_ns() / 1000000u;
	bool have_mac = v && cl_hmac_sha256(vkey, sizeof(vkey), secret, strlen(secret), mac) == CL_OK;
	cl_err err;
	if (have_mac && v->until_ms > now && strcmp(v->stored, stored) == 0 && cl_ct_equal(v->mac, mac, sizeof(mac))) {
		err = CL_OK;
		goto out;
	}
	CL_ENSURE(srv->mon != NULL, CL_EUNAVAIL, "no monitor to verify a secret");
	err = ctl_mon_verify_secret(srv->mon, secret, stored);
	if (err == CL_OK && have_mac) {
		snprintf(v->stored, sizeof(v->stored), "%s", stored);
		memcpy(v->mac, mac, sizeof(mac));
		v->until_ms = now + VERIFY_CACHE_MS;
	}
out:
	explicit_bzero(mac, sizeof(mac));
	return err;
}

cl_err ctl_token_split(const char *token, const char *prefix, char *buf, size_t buflen, const char **id,
		       const char **secret)
{
	size_t plen = strlen(prefix);
	size_t n = strlen(token);
	CL_ENSURE(n < buflen && n > plen + 2 && strncmp(token, prefix, plen) == 0 && token[plen] == '_', CL_EAUTH,
		  "malformed token");
	memcpy(buf, token, n + 1);
	char *p = buf + plen + 1;
	char *us = strchr(p, '_');
	CL_ENSURE(us && us != p && us[1], CL_EAUTH, "malformed token");
	*us = '\0';
	CL_ENSURE(ctl_valid_id(p), CL_EAUTH, "malformed token");
	*id = p;
	*secret = us + 1;
	return CL_OK;
}

/* Where an engineer token is valid at all (defence in depth: each handler
 * checks the kind too): firmware releases, reading the trust chain, and
 * uploads (big bundles travel as uploads). */
static bool engineer_scope(const ctl_req *r)
{
	if (r->nseg >= 2 && strcmp(r->seg[1], "uploads") == 0)
		return true;
	if (r->nseg < 3 || strcmp(r->seg[1], "fw") != 0)
		return false;
	if (strcmp(r->seg[2], "releases") == 0)
		return true;
	return strcmp(r->seg[2], "trust") == 0 && r->method == EVHTTP_REQ_GET;
}

/* A metrics token is a scraper's credential: GET /metrics and nothing else. */
static bool metrics_scope(const ctl_req *r)
{
	return r->nseg == 1 && strcmp(r->seg[0], "metrics") == 0 && r->method == EVHTTP_REQ_GET;
}

/* DELETE /v1/tokens/{own id}: any token but a host's may revoke itself, the
 * scoped kinds included (a CI job ending, a leaked scraper token). */
static bool self_revocation(const ctl_req *r, const char *token_id)
{
	return r->nseg == 3 && r->method == EVHTTP_REQ_DELETE && strcmp(r->seg[1], "tokens") == 0 &&
	       strcmp(r->seg[2], token_id) == 0;
}

static const struct {
	const char *name;
	enum ctl_who who;
} kinds[] = {{"admin", CTL_WHO_ADMIN},
	     {"tenant", CTL_WHO_TENANT},
	     {"host", CTL_WHO_HOST},
	     {"engineer", CTL_WHO_ENGINEER},
	     {"metrics", CTL_WHO_METRICS}};

/* Every failure before the secret checks out reads the same, so a caller
 * learns nothing about which ids exist. */
#define AUTH_INVALID "missing or invalid bearer token"

cl_err ctl_auth(ctl_req *r)
{
	const char *h = ctl_req_header(r, "Authorization");
	char buf[256];
	const char *id, *secret;
	ctl_token t;
	cl_err err = CL_OK;
	r->who.kind = CTL_WHO_NONE;
	buf[0] = '\0';
	if (!h || strncmp(h, "Bearer ", 7) != 0 || ctl_token_split(h + 7, "clt", buf, sizeof(buf), &id, &secret) != CL_OK ||
	    ctl_store_token_get(r->srv->store, id, &t) != CL_OK || ctl_secret_verify(r->srv, secret, t.hash) != CL_OK) {
		err = cl_errorf(CL_EAUTH, AUTH_INVALID);
		goto out;
	}
	snprintf(r->who.token_id, sizeof(r->who.token_id), "%s", t.id); /* for the denial log */
	/* Read afresh on every request: a revocation or an expiry counts from
	 * the next request, whatever the caller holds open. */
	if (t.revoked_at) {
		err = cl_errorf(CL_EAUTH, "%s", strcmp(t.kind, "host") == 0 ? CTL_HOST_REMOVED_MSG : "token revoked");
		goto out;
	}
	if (t.expires_at && (int64_t)cl_now_wall_ms() >= t.expires_at) {
		err = cl_errorf(CL_EAUTH, "token expired");
		goto out;
	}
	enum ctl_who who = CTL_WHO_NONE;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(t.kind, kinds[i].name) == 0)
			who = kinds[i].who;
	if (who == CTL_WHO_NONE) {
		err = cl_errorf(CL_EAUTH, AUTH_INVALID);
		goto out;
	}
	if (who == CTL_WHO_ENGINEER && !engineer_scope(r) && !self_revocation(r, t.id)) {
		err = cl_errorf(CL_EPERM, "an engineer token is only valid for firmware releases and uploads");
		goto out;
	}
	if (who == CTL_WHO_METRICS && !metrics_scope(r) && !self_revocation(r, t.id)) {
		err = cl_errorf(CL_EPERM, "a metrics token is only valid for GET /metrics");
		goto out;
	}
	r->who.kind = who;
	snprintf(r->who.tenant_id, sizeof(r->who.tenant_id), "%s", t.tenant_id);
	snprintf(r->who.host_id, sizeof(r->who.host_id), "%s", t.host_id);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(t.hash, sizeof(t.hash));
	return err;
}

cl_err ctl_token_create(ctl_server *srv, const char *kind, const char *tenant_id, const char *host_id,
			const char *name, int64_t created_at, int64_t expires_at, char *out, size_t outlen,
			char id_out[CTL_ID_MAX])
{
	uint8_t raw[32];
	char secret[65];
	ctl_token t = {0};
	cl_err err = CL_OK;
	CL_GUARD(cl_random_id("tok-", t.id, sizeof(t.id)));
	CL_GUARD_OUT(err, cl_random(raw, sizeof(raw)));
	cl_hex_encode(raw, sizeof(raw), secret);
	CL_GUARD_OUT(err, ctl_secret_hash(srv, secret, t.hash, sizeof(t.hash)));
	snprintf(t.kind, sizeof(t.kind), "%s", kind);
	snprintf(t.tenant_id, sizeof(t.tenant_id), "%s", tenant_id);
	snprintf(t.host_id, sizeof(t.host_id), "%s", host_id ? host_id : "");
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.created_at = created_at;
	t.expires_at = expires_at;
	CL_GUARD_OUT(err, ctl_store_token_insert(srv->store, &t));
	if (snprintf(out, outlen, "clt_%s_%s", t.id, secret) >= (int)outlen) {
		err = cl_errorf(CL_EINTERNAL, "token buffer too small");
		goto out;
	}
	snprintf(id_out, CTL_ID_MAX, "%s", t.id);
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(secret, sizeof(secret));
	return err;
}

cl_err ctl_bootstrap(ctl_server *srv, char *out, size_t outlen)
{
	int64_t n = 0;
	ctl_tenant t;
	char id[CTL_ID_MAX];
	cl_err err;
	out[0] = '\0';
	CL_GUARD(ctl_store_admin_count(srv->store, (int64_t)cl_now_wall_ms(), NULL, &n));
	if (n > 0)
		return CL_OK;
	CL_GUARD(ctl_store_begin(srv->store));
	bool recovery = ctl_store_tenant_get(srv->store, CTL_PROVIDER_TENANT, &t) == CL_OK;
	if (!recovery) {
		ctl_tenant p = {.id = CTL_PROVIDER_TENANT, .name = "provider", .created_at = (int64_t)cl_now_wall_ms()};
		CL_GUARD_OUT(err, ctl_store_tenant_insert(srv->store, &p));
	}
	/* Never expires: it is the credential that can always make the others
	 * (revoke it once you hold a named admin token of your own). */
	CL_GUARD_OUT(err, ctl_token_create(srv, "admin", CTL_PROVIDER_TENANT, NULL, "admin", (int64_t)cl_now_wall_ms(), 0,
					   out, outlen, id));
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	if (recovery)
		cl_warn("no usable admin token (each one expired or was revoked): a new one is printed once");
	return CL_OK;
out:
	ctl_store_rollback(srv->store);
	OPENSSL_cleanse(out, outlen);
	out[0] = '\0';
	return err;
}
