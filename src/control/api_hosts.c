/* api_hosts.c — join tokens, host registration, the host list and host
 * removal; routes /v1/hosts/{id}/sync and /v1/hosts/{id}/ops/{op} to sync.c. */
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "control/api_attest.h"
#include "control/control.h"
#include "control/fw.h"
#include "control/store_cert.h"
#include "control/suspend.h"
#include "control/validate.h"

#define JOIN_TTL_MS (3600ll * 1000)

static void create_join_token(ctl_req *r)
{
	uint8_t raw[32];
	char secret[65], hash[CTL_HASH_MAX], id[CTL_ID_MAX], token[160];
	json_t *body = NULL;
	const char *level = "software";
	int rank = 0;
	cl_err err;
	int64_t expires = (int64_t)cl_now_wall_ms() + JOIN_TTL_MS;
	raw[0] = 0;
	secret[0] = token[0] = '\0';
	if (evbuffer_get_length(evhttp_request_get_input_buffer(r->req)) > 0) { /* the body is optional */
		CL_GUARD_OUT(err, ctl_req_json(r, &body));
		CL_GUARD_OUT(err, ctl_parse_join_token(body, &level, &rank));
	}
	CL_GUARD_OUT(err, cl_random_id("join-", id, sizeof(id)));
	CL_GUARD_OUT(err, cl_random(raw, sizeof(raw)));
	cl_hex_encode(raw, sizeof(raw), secret);
	CL_GUARD_OUT(err, ctl_secret_hash(r->srv, secret, hash, sizeof(hash)));
	snprintf(token, sizeof(token), "clj_%s_%s", id, secret);
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	err = ctl_store_join_insert(r->srv->store, id, hash, level, expires);
	if (err == CL_OK)
		err = ctl_store_commit(r->srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(r->srv->store);
		goto out;
	}
	cl_info("join token created id=%s level=%s", id, level);
	ctl_reply_json(r->srv, r->req, 201,
		       json_pack("{s:s,s:s,s:o}", "token", token, "level", level, "expires_at", ctl_json_time(expires)));
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	json_decref(body);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(token, sizeof(token));
}

static void register_host(ctl_req *r)
{
	json_t *body = NULL;
	ctl_register_req reg;
	char buf[200], hash[CTL_HASH_MAX], token[160], tok_id[CTL_ID_MAX], admitted[CTL_LEVEL_MAX];
	const char *jid, *jsecret;
	ctl_host h = {0};
	cl_err err;
	bool in_tx = false;
	buf[0] = token[0] = '\0';
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_register(body, &reg));
	if (ctl_token_split(reg.join_token, "clj", buf, sizeof(buf), &jid, &jsecret) != CL_OK) {
		err = cl_errorf(CL_EAUTH, "invalid join token");
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	in_tx = true;
	if (ctl_store_join_get(r->srv->store, jid, (int64_t)cl_now_wall_ms(), hash, admitted) != CL_OK ||
	    ctl_secret_verify(r->srv, jsecret, hash) != CL_OK) {
		err = cl_errorf(CL_EAUTH, "join token is invalid, used or expired");
		goto out;
	}
	/* The level is pinned here: the token admits its level and those ranked
	 * below it; a claim above (or another level of the same rank) is refused
	 * and the token stays unused. Sync never changes it. */
	int arank = cl_level_rank(admitted);
	if (arank < 0 || reg.caps.level_rank > arank ||
	    (reg.caps.level_rank == arank && strcmp(reg.caps.level, admitted) != 0)) {
		cl_warn("denied reason=level-above-join-token claimed=%s admitted=%s", reg.caps.level, admitted);
		err = cl_errorf(CL_EINVAL, "capabilities.level \"%s\" is above what the join token admits (\"%s\")",
				reg.caps.level, admitted);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_join_consume(r->srv->store, jid));
	CL_GUARD_OUT(err, cl_random_id("host-", h.id, sizeof(h.id)));
	snprintf(h.name, sizeof(h.name), "%s", reg.name);
	snprintf(h.state, sizeof(h.state), "ready");
	snprintf(h.level, sizeof(h.level), "%s", reg.caps.level);
	snprintf(h.zone, sizeof(h.zone), "%s", reg.caps.zone);
	snprintf(h.rack, sizeof(h.rack), "%s", reg.caps.rack);
	h.memory_mib = reg.caps.memory_mib;
	h.cpus = reg.caps.cpus;
	h.last_seen = h.created_at = (int64_t)cl_now_wall_ms();
	h.generation = 1;
	h.caps_json = json_dumps(reg.caps_json, JSON_COMPACT | JSON_SORT_KEYS);
	if (!h.caps_json) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_host_insert(r->srv->store, &h));
	/* Host tokens do not expire: they end with `host remove` (no rotation). */
	CL_GUARD_OUT(err, ctl_token_create(r->srv, "host", CTL_PROVIDER_TENANT, h.id, h.name, h.created_at, 0, token,
					   sizeof(token), tok_id));
	CL_GUARD_OUT(err, ctl_store_commit(r->srv->store));
	in_tx = false;
	cl_info("host registered host=%s name=%s level=%s memory_mib=%lld", h.id, h.name, h.level,
		(long long)h.memory_mib);
	ctl_reply_json(r->srv, r->req, 201, json_pack("{s:s,s:s}", "host_id", h.id, "host_token", token));
out:
	if (in_tx)
		ctl_store_rollback(r->srv->store);
	if (err != CL_OK) {
		if (err == CL_EAUTH)
			cl_warn("denied reason=bad-join-token path=/v1/hosts/register");
		ctl_reply_err(r->srv, r->req, err);
	}
	free(h.caps_json);
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(token, sizeof(token));
	json_decref(body);
}

static void list_hosts(ctl_req *r)
{
	ctl_host *hs = NULL;
	size_t n = 0;
	ctl_page pg;
	const char *state = evhttp_find_header(&r->query, "state");
	cl_err err = ctl_req_page(r, &pg);
	if (err == CL_OK && state && strcmp(state, "ready") != 0 && strcmp(state, "lost") != 0 &&
	    strcmp(state, "removed") != 0)
		err = cl_errorf(CL_EINVAL, "state must be ready, lost or removed");
	if (err == CL_OK)
		err = ctl_store_host_list(r->srv->store, state, pg.after, pg.limit + 1, &hs, &n);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *items = json_array();
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	for (size_t i = 0; i < shown; i++) {
		ctl_host *h = &hs[i];
		int64_t fr = h->memory_mib - h->mem_used_mib;
		json_array_append_new(
			items, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o}", "id", h->id, "name", h->name,
					 "state", h->state, "level", h->level, "zone", h->zone, "rack", h->rack,
					 "memory_mib", (json_int_t)h->memory_mib, "memory_free_mib",
					 (json_int_t)(fr > 0 ? fr : 0), "cpus", (json_int_t)h->cpus, "enclaves",
					 (json_int_t)h->nenclaves, "last_seen", ctl_json_time(h->last_seen)));
		/* its newest valid attestation certificate (null: none, or revoked) */
		json_t *item = json_array_get(items, json_array_size(items) - 1);
		if (item)
			json_object_set_new(item, "attestation_serial", ctl_attest_sync_serial(r->srv, h->id));
	}
	json_t *page = ctl_page_json(items, n > shown ? hs[shown - 1].id : NULL);
	ctl_host_list_free(hs, n);
	ctl_reply_json(r->srv, r->req, 200, page);
}

#define HOST_REMOVED_REASON "its host was removed from the fleet"

/* DELETE /v1/hosts/{id}: the host leaves the fleet in one transaction (its
 * token revoked, its enclaves lost with their jobs failed, the row kept as
 * "removed"), then its held sync and queued ops are answered. Enclaves are
 * not rescheduled: an enclave's proximity and zone constraints are not
 * stored and its memory is not recoverable, so a relaunch elsewhere would be
 * a different enclave; the tenant destroys the lost one and creates anew. */
static void remove_host(ctl_req *r, const char *host_id)
{
	ctl_server *srv = r->srv;
	ctl_store *st = srv->store;
	ctl_host h = {0};
	ctl_enclave *es = NULL;
	size_t n = 0;
	int64_t lost = 0, destroyed = 0;
	int certs = 0;
	bool in_tx = false;
	cl_err err;
	if (!ctl_valid_id(host_id)) {
		err = cl_errorf(CL_ENOTFOUND, "host not found");
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(st));
	in_tx = true;
	CL_GUARD_OUT(err, ctl_store_host_get(st, host_id, &h));
	if (strcmp(h.state, "removed") == 0) {
		err = cl_errorf(CL_ECONFLICT, "host %s was already removed", h.id);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_enclave_by_host(st, host_id, &es, &n));
	/* Destroys asked for finish now: the host will never report them. */
	for (size_t i = 0; i < n; i++)
		if (strcmp(es[i].desired, "gone") == 0) {
			CL_GUARD_OUT(err, ctl_jobs_gone(srv, &es[i]));
			destroyed++;
		}
	CL_GUARD_OUT(err, ctl_store_host_remove(st, host_id, (int64_t)cl_now_wall_ms(), HOST_REMOVED_REASON, &lost));
	/* its attestation certificates: documents it signed are refused online */
	CL_GUARD_OUT(err, ctl_store_cert_revoke_host(st, host_id, "removed", (int64_t)(cl_now_wall_ms() / 1000), NULL,
						     &certs));
	CL_GUARD_OUT(err, ctl_store_commit(st));
	in_tx = false;
	cl_warn("host removed host=%s name=%s enclaves_lost=%lld enclaves_destroyed=%lld certificates_revoked=%d by=%s",
		h.id, h.name, (long long)lost, (long long)destroyed, certs, r->who.token_id);
	ctl_sync_host_removed(srv, host_id);
	unsigned failed_ops = ctl_ops_fail_host(srv, host_id, "the enclave's host was removed from the fleet");
	if (failed_ops)
		cl_info("channel ops failed with their host host=%s count=%u", host_id, failed_ops);
	ctl_reply_json(srv, r->req, 200,
		       json_pack("{s:s,s:s,s:s,s:I,s:I,s:b,s:I}", "id", h.id, "name", h.name, "state", "removed",
				 "enclaves_lost", (json_int_t)lost, "enclaves_destroyed", (json_int_t)destroyed,
				 "token_revoked", 1, "certificates_revoked", (json_int_t)certs));
out:
	if (in_tx)
		ctl_store_rollback(st);
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	free(es);
	ctl_host_clear(&h);
}

void ctl_api_hosts(ctl_req *r)
{
	ctl_server *srv = r->srv;
	bool post = r->method == EVHTTP_REQ_POST;
	if (r->nseg == 3 && post && strcmp(r->seg[2], "register") == 0) {
		register_host(r);
		return;
	}
	if (r->nseg == 4 && post && strcmp(r->seg[3], "sync") == 0) {
		ctl_sync_handle(r, r->seg[2]);
		return;
	}
	if (r->nseg == 4 && post && strcmp(r->seg[3], "attestation-key") == 0) {
		ctl_attest_key_handle(r, r->seg[2]);
		return;
	}
	if (r->nseg == 5 && post && strcmp(r->seg[3], "ops") == 0) {
		ctl_op_result_handle(r, r->seg[2], r->seg[4]);
		return;
	}
	if (r->nseg == 6 && r->method == EVHTTP_REQ_GET && strcmp(r->seg[3], "ops") == 0 &&
	    strcmp(r->seg[5], "data") == 0) {
		ctl_provision_data(r, r->seg[2], r->seg[4]);
		return;
	}
	/* suspend's host-token routes (api_suspend.c): not yet in routes.c */
	if (r->nseg == 6 && post && strcmp(r->seg[3], "ops") == 0 && strcmp(r->seg[5], "state-key") == 0) {
		ctl_op_state_key(r, r->seg[2], r->seg[4]);
		return;
	}
	if (r->nseg == 6 && r->method == EVHTTP_REQ_PUT && strcmp(r->seg[3], "ops") == 0 &&
	    strcmp(r->seg[5], "data") == 0) {
		ctl_op_data_put(r, r->seg[2], r->seg[4]);
		return;
	}
	if (ctl_api_fw_hosts(r))
		return;
	bool del = r->nseg == 3 && r->method == EVHTTP_REQ_DELETE;
	bool admin_call = (r->nseg == 2 && r->method == EVHTTP_REQ_GET) ||
			  (r->nseg == 3 && post && strcmp(r->seg[2], "join-tokens") == 0) || del;
	if (!admin_call) {
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "no such endpoint");
		return;
	}
	if (r->who.kind != CTL_WHO_ADMIN) {
		cl_warn("denied reason=forbidden action=hosts token=%s", r->who.token_id);
		ctl_reply_error(srv, r->req, CL_EPERM, "only an admin token may manage hosts");
		return;
	}
	if (del)
		remove_host(r, r->seg[2]);
	else if (r->nseg == 2)
		list_hosts(r);
	else
		create_join_token(r);
}
