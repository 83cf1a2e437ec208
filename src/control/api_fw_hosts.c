/* api_fw_hosts.c — a host's firmware through the control plane (admin):
 *   GET  /v1/hosts/{id}/fw                     last reported status
 *   GET  /v1/hosts/{id}/fw/audit?after&limit   shipped audit records + chain check
 *   GET  /v1/hosts/{id}/fw/ops/{op}            a firmware op's state
 *   POST /v1/hosts/{id}/fw/push                {device, bundle, next_boot?} -> 202 {op}
 *   POST /v1/hosts/{id}/fw/trust               {device, document} -> 202 {op} (op kind "trust")
 *   POST /v1/hosts/{id}/fw/window              {device, policy} -> 202 {op} (op kind "window")
 *   POST /v1/hosts/{id}/power-cycle            {} -> 202 {op}
 *   POST /v1/hosts/{id}/clear-quarantine       {reason} -> 202 {op}
 *   GET  /v1/events?after&limit[&host]         alarms, quarantines, chain breaks
 * Ops are stored (fw_ops) with a host generation bump in one transaction,
 * then the host's held sync is woken; they ride its next sync answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "control/fw.h"
#include "control/store_fw.h"
#include "fw/fw.h"

#define CTL_FW_BUNDLE_MAX (700u * 1024) /* decoded; its base64 fits a 1 MiB JSON body */
#define CTL_FW_DOC_MAX (64u * 1024)     /* decoded trust-root document or window policy */

static json_t *record_json(const ctl_fw_record *rec)
{
	json_t *o = json_loads(rec->json, 0, NULL);
	return o ? o : json_pack("{s:I,s:s,s:s}", "seq", (json_int_t)rec->seq, "hash", rec->hash, "prev", rec->prev);
}

static json_t *op_json(const ctl_fw_op *op)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "op", op->id, "host_id", op->host_id, "kind", op->kind,
			      "state", op->state, "delivered", json_boolean(op->delivered), "created_at",
			      ctl_json_time(op->created_at));
	if (!o)
		return NULL;
	if (op->device[0])
		json_object_set_new(o, "device", json_string(op->device));
	if (op->release_id[0])
		json_object_set_new(o, "release_id", json_string(op->release_id));
	if (strcmp(op->state, "pending") != 0) {
		json_object_set_new(o, "error", op->result_error[0] ? json_string(op->result_error) : json_null());
		json_object_set_new(o, "reason", op->result_reason[0] ? json_string(op->result_reason) : json_null());
		json_object_set_new(o, "audit_seq", json_integer(op->audit_seq));
		json_object_set_new(o, "finished_at", ctl_json_time(op->updated_at));
	}
	return o;
}

/* Parses an optional integer query parameter in [min,max]. */
static cl_err query_int(ctl_req *r, const char *key, int64_t min, int64_t max, int64_t *out)
{
	const char *s = evhttp_find_header(&r->query, key);
	if (!s)
		return CL_OK;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	CL_ENSURE(*s && !*end && errno == 0 && v >= min && v <= max, CL_EINVAL, "%s must be an integer in %lld..%lld",
		  key, (long long)min, (long long)max);
	*out = v;
	return CL_OK;
}

static void get_status(ctl_req *r, const char *host_id)
{
	ctl_fw_status s;
	cl_err err = ctl_store_fw_status_get(r->srv->store, host_id, &s);
	if (err == CL_ENOTFOUND) {
		ctl_reply_json(r->srv, r->req, 200,
			       json_pack("{s:s,s:b,s:b,s:n,s:n,s:[],s:n}", "host_id", host_id, "reported", 0, "eligible",
					 1, "quarantined", "window_open", "devices", "updated_at"));
		return;
	}
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *devs = json_loads(s.devices_json, 0, NULL);
	ctl_reply_json(r->srv, r->req, 200,
		       json_pack("{s:s,s:b,s:b,s:b,s:b,s:o,s:o}", "host_id", host_id, "reported", 1, "eligible",
				 s.eligible, "quarantined", s.quarantined, "window_open", s.window_open, "devices",
				 devs ? devs : json_array(), "updated_at", ctl_json_time(s.updated_at)));
	ctl_fw_status_clear(&s);
}

static void get_audit(ctl_req *r, const char *host_id)
{
	int64_t after = 0, limit = 100, bad = 0, ack = 0;
	char head[65];
	bool ok = true;
	ctl_fw_record *rs = NULL;
	size_t n = 0;
	cl_err err;
	CL_GUARD_OUT(err, query_int(r, "after", 0, INT64_MAX / 2, &after));
	CL_GUARD_OUT(err, query_int(r, "limit", 1, 1000, &limit));
	CL_GUARD_OUT(err, ctl_store_fw_chain_check(r->srv->store, host_id, &ok, &bad));
	CL_GUARD_OUT(err, ctl_store_fw_audit_last(r->srv->store, host_id, &ack, head));
	CL_GUARD_OUT(err, ctl_store_fw_audit_list(r->srv->store, host_id, after, (int)limit, &rs, &n));
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, record_json(&rs[i]));
	json_t *next = n == (size_t)limit ? json_integer(rs[n - 1].seq) : json_null();
	ctl_fw_records_free(rs, n);
	ctl_reply_json(r->srv, r->req, 200,
		       json_pack("{s:o,s:o,s:b,s:o,s:I}", "items", items, "next", next, "chain_ok", ok, "first_bad_seq",
				 ok ? json_null() : json_integer(bad), "head_seq", (json_int_t)ack));
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
}

static void get_op(ctl_req *r, const char *host_id, const char *op_id)
{
	ctl_fw_op op;
	cl_err err = ctl_valid_id(op_id) ? ctl_store_fw_op_get(r->srv->store, host_id, op_id, &op)
					 : cl_errorf(CL_ENOTFOUND, "firmware op not found");
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *o = op_json(&op);
	ctl_fw_op_clear(&op);
	ctl_reply_json(r->srv, r->req, o ? 200 : 500, o);
}

/* Queues op (id, created_at and state are filled here) for its host in one
 * transaction with a generation bump, then wakes the host's sync. */
cl_err ctl_fw_op_queue(ctl_server *srv, ctl_fw_op *op, bool own_tx)
{
	cl_err err;
	CL_GUARD(cl_random_id("fw-", op->id, sizeof(op->id)));
	snprintf(op->state, sizeof(op->state), "pending");
	op->created_at = op->updated_at = (int64_t)cl_now_wall_ms();
	if (!own_tx) {
		CL_GUARD(ctl_store_fw_op_insert(srv->store, op));
		return ctl_store_host_bump(srv->store, op->host_id);
	}
	CL_GUARD(ctl_store_begin(srv->store));
	CL_GUARD_OUT(err, ctl_store_fw_op_insert(srv->store, op));
	CL_GUARD_OUT(err, ctl_store_host_bump(srv->store, op->host_id));
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	ctl_sync_wake(srv, op->host_id);
	return CL_OK;
out:
	ctl_store_rollback(srv->store);
	return err;
}

static bool valid_device(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 31)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F') ||
		      s[i] == ':' || s[i] == '.'))
			return false;
	return true;
}

/* Validates a trust-root push {device, document} or window policy push
 * {device, policy} (base64, at most CTL_FW_DOC_MAX bytes decoded; a trust
 * document must parse as one, a window policy is verified by the device
 * against its root) into op; op->data borrows from body. */
static cl_err parse_doc_body(json_t *body, const char *kind, ctl_fw_op *op)
{
	bool trust = strcmp(kind, "trust") == 0;
	const char *field = trust ? "document" : "policy", *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		CL_ENSURE(strcmp(k, "device") == 0 || strcmp(k, field) == 0, CL_EINVAL, "unknown field \"%.64s\"", k);
	}
	json_t *dev = json_object_get(body, "device"), *b64 = json_object_get(body, field);
	CL_ENSURE(json_is_string(dev) && valid_device(json_string_value(dev)), CL_EINVAL,
		  "field \"device\" is required: a device address like 0000:03:00.0");
	CL_ENSURE(json_is_string(b64) && json_string_length(b64) > 0, CL_EINVAL,
		  "field \"%s\" is required: the %s in base64", field, trust ? "trust-root document" : "window policy");
	cl_buf raw;
	cl_buf_init(&raw, CTL_FW_DOC_MAX);
	cl_err err = cl_base64_decode(json_string_value(b64), &raw);
	if (err != CL_OK) {
		cl_buf_free(&raw);
		return cl_errorf(err == CL_ETOOBIG ? CL_ETOOBIG : CL_EINVAL, "field \"%s\" must be base64 of at most %u bytes",
				 field, CTL_FW_DOC_MAX);
	}
	fw_status fs = FW_OK;
	if (raw.len == 0)
		fs = FW_E_TRUNCATED;
	else if (trust) {
		fw_trust_doc doc;
		fs = fw_trust_doc_parse(raw.data, raw.len, &doc);
	}
	cl_buf_free(&raw);
	CL_ENSURE(fs == FW_OK, CL_EINVAL, "field \"%s\" is not a %s: %s", field,
		  trust ? "trust-root document" : "window policy", fw_status_str(fs));
	snprintf(op->kind, sizeof(op->kind), "%s", kind);
	snprintf(op->device, sizeof(op->device), "%s", json_string_value(dev));
	op->data = (char *)json_string_value(b64); /* borrowed until the insert */
	return CL_OK;
}

/* Validates a push/power-cycle/clear-quarantine body into op. */
static cl_err parse_op_body(json_t *body, const char *kind, ctl_fw_op *op)
{
	const char *k;
	json_t *v;
	bool push = strcmp(kind, "push") == 0, clear = strcmp(kind, "clear_quarantine") == 0;
	json_object_foreach(body, k, v)
	{
		bool known = (push && (strcmp(k, "device") == 0 || strcmp(k, "bundle") == 0 ||
				       strcmp(k, "next_boot") == 0)) ||
			     (clear && strcmp(k, "reason") == 0);
		CL_ENSURE(known, CL_EINVAL, "unknown field \"%.64s\"", k);
	}
	snprintf(op->kind, sizeof(op->kind), "%s", kind);
	if (clear) {
		json_t *reason = json_object_get(body, "reason");
		bool ok = json_is_string(reason) && json_string_length(reason) >= 1 && json_string_length(reason) <= 127 &&
			  strlen(json_string_value(reason)) == json_string_length(reason);
		for (const char *c = ok ? json_string_value(reason) : ""; *c && ok; c++)
			ok = *c >= 0x20 && *c < 0x7f;
		CL_ENSURE(ok, CL_EINVAL, "field \"reason\" is required: 1..127 printable ASCII characters");
		snprintf(op->reason, sizeof(op->reason), "%s", json_string_value(reason));
		return CL_OK;
	}
	if (!push)
		return CL_OK;
	json_t *dev = json_object_get(body, "device"), *b64 = json_object_get(body, "bundle"),
	       *nb = json_object_get(body, "next_boot");
	CL_ENSURE(json_is_string(dev) && valid_device(json_string_value(dev)), CL_EINVAL,
		  "field \"device\" is required: a device address like 0000:03:00.0");
	CL_ENSURE(!nb || json_is_boolean(nb), CL_EINVAL, "field \"next_boot\" must be a boolean");
	CL_ENSURE(json_is_string(b64), CL_EINVAL, "field \"bundle\" is required: the bundle in base64");
	cl_buf raw;
	cl_buf_init(&raw, CTL_FW_BUNDLE_MAX);
	cl_err err = cl_base64_decode(json_string_value(b64), &raw);
	if (err != CL_OK) {
		cl_buf_free(&raw);
		return cl_errorf(err == CL_ETOOBIG ? CL_ETOOBIG : CL_EINVAL,
				 "field \"bundle\" must be base64 of at most %u bytes", CTL_FW_BUNDLE_MAX);
	}
	fw_bundle_view view;
	fw_status fs = fw_bundle_parse(raw.data, raw.len, &view);
	cl_buf_free(&raw);
	CL_ENSURE(fs == FW_OK, CL_EINVAL, "field \"bundle\" is not a firmware bundle: %s", fw_status_str(fs));
	snprintf(op->kind, sizeof(op->kind), "%s", json_is_true(nb) ? "queue" : "update");
	snprintf(op->device, sizeof(op->device), "%s", json_string_value(dev));
	op->data = (char *)json_string_value(b64); /* borrowed until the insert */
	return CL_OK;
}

static void post_op(ctl_req *r, const char *host_id, const char *kind)
{
	json_t *body = NULL;
	ctl_fw_op op;
	cl_err err;
	memset(&op, 0, sizeof(op));
	snprintf(op.host_id, sizeof(op.host_id), "%s", host_id);
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	if (strcmp(kind, "trust") == 0 || strcmp(kind, "window") == 0)
		CL_GUARD_OUT(err, parse_doc_body(body, kind, &op));
	else
		CL_GUARD_OUT(err, parse_op_body(body, kind, &op));
	if (!op.data)
		op.data = "";
	CL_GUARD_OUT(err, ctl_fw_op_queue(r->srv, &op, true));
	cl_info("firmware op queued host=%s op=%s kind=%s device=%s", host_id, op.id, op.kind, op.device);
	ctl_reply_json(r->srv, r->req, 202,
		       json_pack("{s:s,s:s,s:s}", "op", op.id, "kind", op.kind, "state", "pending"));
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	json_decref(body);
}

bool ctl_api_fw_hosts(ctl_req *r)
{
	bool get = r->method == EVHTTP_REQ_GET, post = r->method == EVHTTP_REQ_POST;
	const char *s3 = r->nseg >= 4 ? r->seg[3] : "";
	bool is_fw = strcmp(s3, "fw") == 0 &&
		     ((r->nseg == 4 && get) || (r->nseg == 5 && get && strcmp(r->seg[4], "audit") == 0) ||
		      (r->nseg == 5 && post &&
		       (strcmp(r->seg[4], "push") == 0 || strcmp(r->seg[4], "trust") == 0 ||
			strcmp(r->seg[4], "window") == 0)) ||
		      (r->nseg == 6 && get && strcmp(r->seg[4], "ops") == 0));
	bool is_cmd = r->nseg == 4 && post && (strcmp(s3, "power-cycle") == 0 || strcmp(s3, "clear-quarantine") == 0);
	if (!is_fw && !is_cmd)
		return false;
	if (r->who.kind != CTL_WHO_ADMIN) {
		cl_warn("denied reason=forbidden action=host-firmware token=%s", r->who.token_id);
		ctl_reply_error(r->srv, r->req, CL_EPERM, "only an admin token may manage host firmware");
		return true;
	}
	const char *host_id = r->seg[2];
	ctl_host h = {0};
	cl_err err = ctl_valid_id(host_id) ? ctl_store_host_get(r->srv->store, host_id, &h)
					   : cl_errorf(CL_ENOTFOUND, "host not found");
	ctl_host_clear(&h);
	if (err != CL_OK) {
		ctl_reply_error(r->srv, r->req, err, err == CL_ENOTFOUND ? "host not found" : cl_error_detail());
		return true;
	}
	if (is_cmd)
		post_op(r, host_id, strcmp(s3, "power-cycle") == 0 ? "power_cycle" : "clear_quarantine");
	else if (r->nseg == 4)
		get_status(r, host_id);
	else if (r->nseg == 6)
		get_op(r, host_id, r->seg[5]);
	else if (post)
		post_op(r, host_id, r->seg[4]); /* push, trust or window */
	else
		get_audit(r, host_id);
	return true;
}

void ctl_api_events(ctl_req *r)
{
	int64_t after = 0, limit = 100;
	ctl_fw_event *es = NULL;
	size_t n = 0;
	cl_err err;
	if (r->nseg != 2 || r->method != EVHTTP_REQ_GET) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
		return;
	}
	if (r->who.kind != CTL_WHO_ADMIN) {
		cl_warn("denied reason=forbidden action=events token=%s", r->who.token_id);
		ctl_reply_error(r->srv, r->req, CL_EPERM, "only an admin token may read events");
		return;
	}
	const char *host = evhttp_find_header(&r->query, "host");
	if (host && !ctl_valid_id(host)) {
		ctl_reply_error(r->srv, r->req, CL_EINVAL, "host must be a host id");
		return;
	}
	CL_GUARD_OUT(err, query_int(r, "after", 0, INT64_MAX / 2, &after));
	CL_GUARD_OUT(err, query_int(r, "limit", 1, 1000, &limit));
	CL_GUARD_OUT(err, ctl_store_fw_event_list(r->srv->store, host, after, (int)limit, &es, &n));
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++) {
		ctl_fw_event *e = &es[i];
		bool alarm = strcmp(e->kind, "quarantined") != 0 && strcmp(e->kind, "quarantine") != 0;
		json_array_append_new(items, json_pack("{s:I,s:s,s:s,s:s,s:o,s:s,s:o}", "id", (json_int_t)e->id,
						       "host_id", e->host_id, "kind", e->kind, "severity",
						       alarm ? "alarm" : "quarantine", "seq",
						       e->seq ? json_integer(e->seq) : json_null(), "detail", e->detail,
						       "time", ctl_json_time(e->created_at)));
	}
	json_t *next = n == (size_t)limit ? json_integer(es[n - 1].id) : json_null();
	free(es);
	ctl_reply_json(r->srv, r->req, 200, json_pack("{s:o,s:o}", "items", items, "next", next));
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
}
