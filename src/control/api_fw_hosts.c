/* api_fw_hosts.c — a host's firmware through the control plane (admin):
 *   GET  /v1/hosts/{id}/fw                     last reported status
 *   GET  /v1/hosts/{id}/fw/audit?after&limit   shipped audit records + chain check
 *   GET  /v1/hosts/{id}/fw/ops/{op}            a firmware op's state
 *   POST /v1/hosts/{id}/fw/push                {device, bundle|upload, next_boot?} -> 202 {op}
 *   POST /v1/hosts/{id}/fw/trust               {device, document} -> 202 {op} (op kind "trust")
 *   POST /v1/hosts/{id}/fw/window              {device, policy} -> 202 {op} (op kind "window")
 *   POST /v1/hosts/{id}/power-cycle            {} -> 202 {op}
 *   POST /v1/hosts/{id}/clear-quarantine       {reason} -> 202 {op}
 *   GET  /v1/events?after&limit[&host]         alarms, quarantines, chain breaks
 *   GET  /v1/hosts/{id}/fw/ops/{op}/data       (the host itself) an op's data sent by reference
 * Ops are stored (fw_ops) with a host generation bump in one transaction,
 * then the host's held sync is woken; they ride its next sync answer. */
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "control/fw.h"
#include "control/store_fw.h"
#include "control/upload.h"
#include "fw/fw_verify.h"
#include "fw/fw_tools.h"

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

/* "audit": the host's audit head as it last reported it and whether its log
 * was found tampered with (by the host or here). */
static json_t *audit_state_json(const ctl_fw_status *s)
{
	json_t *t = s->tampered[0] ? json_pack("{s:I,s:s}", "seq", (json_int_t)s->tampered_seq, "why", s->tampered)
				   : json_null();
	return json_pack("{s:I,s:o,s:o}", "head_seq", (json_int_t)s->head_seq, "head_hash",
			 s->head_hash[0] ? json_string(s->head_hash) : json_null(), "tampered", t);
}

static void get_status(ctl_req *r, const char *host_id)
{
	ctl_fw_status s;
	cl_err err = ctl_store_fw_status_get(r->srv->store, host_id, &s);
	if (err == CL_ENOTFOUND) {
		ctl_reply_json(r->srv, r->req, 200,
			       json_pack("{s:s,s:b,s:b,s:n,s:n,s:[],s:n,s:n,s:n}", "host_id", host_id, "reported", 0,
					 "eligible", 1, "quarantined", "window_open", "devices", "updated_at",
					 "power_cycle", "audit"));
		return;
	}
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *devs = json_loads(s.devices_json, 0, NULL);
	ctl_reply_json(r->srv, r->req, 200,
		       json_pack("{s:s,s:b,s:b,s:b,s:b,s:o,s:o,s:I,s:o}", "host_id", host_id, "reported", 1, "eligible",
				 s.eligible, "quarantined", s.quarantined, "window_open", s.window_open, "devices",
				 devs ? devs : json_array(), "updated_at", ctl_json_time(s.updated_at), "power_cycle",
				 (json_int_t)s.power_cycle, "audit", audit_state_json(&s)));
	ctl_fw_status_clear(&s);
}

/* A list page whose `after` is a number (an audit seq, an event id):
 * ctl_req_page's limit and after, the after as an integer. */
static cl_err req_page_int(ctl_req *r, ctl_page *pg, int64_t *after)
{
	CL_GUARD(ctl_req_page(r, pg));
	*after = 0;
	if (!pg->after[0])
		return CL_OK;
	char *end;
	errno = 0;
	long long v = strtoll(pg->after, &end, 10);
	CL_ENSURE(pg->after[0] >= '0' && pg->after[0] <= '9' && !*end && errno == 0 && v >= 0, CL_EINVAL,
		  "after must be the \"next\" of a previous page (a number)");
	*after = v;
	return CL_OK;
}

/* "next" of a page of n rows (the store was asked for limit + 1): the
 * last shown row's number, or NULL when this is the last page. */
static const char *next_of(size_t n, int limit, int64_t last_shown, char *buf, size_t len)
{
	if (n <= (size_t)limit)
		return NULL;
	snprintf(buf, len, "%lld", (long long)last_shown);
	return buf;
}

static void get_audit(ctl_req *r, const char *host_id)
{
	int64_t after = 0, bad = 0, ack = 0;
	char head[65], nextbuf[24];
	bool ok = true;
	ctl_fw_record *rs = NULL;
	ctl_page pg;
	size_t n = 0;
	cl_err err;
	CL_GUARD_OUT(err, req_page_int(r, &pg, &after));
	CL_GUARD_OUT(err, ctl_store_fw_chain_check(r->srv->store, host_id, &ok, &bad));
	CL_GUARD_OUT(err, ctl_store_fw_audit_last(r->srv->store, host_id, &ack, head));
	CL_GUARD_OUT(err, ctl_store_fw_audit_list(r->srv->store, host_id, after, pg.limit + 1, &rs, &n));
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	json_t *items = json_array();
	for (size_t i = 0; items && i < shown; i++)
		json_array_append_new(items, record_json(&rs[i]));
	json_t *page = ctl_page_json(items, next_of(n, pg.limit, shown ? rs[shown - 1].seq : 0, nextbuf, sizeof(nextbuf)));
	ctl_fw_records_free(rs, n);
	if (page && (json_object_set_new(page, "chain_ok", json_boolean(ok)) != 0 ||
		     json_object_set_new(page, "first_bad_seq", ok ? json_null() : json_integer(bad)) != 0 ||
		     json_object_set_new(page, "head_seq", json_integer(ack)) != 0)) {
		json_decref(page);
		page = NULL;
	}
	ctl_reply_json(r->srv, r->req, page ? 200 : 500, page);
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

static void opdata_path(ctl_server *srv, const char *op_id, char *out, size_t n)
{
	snprintf(out, n, "%s/fw_ops/%s.bin", srv->data_dir, op_id);
}

/* Stores op (its id set) and ref (NULL = inline data) with a generation
 * bump: in the caller's transaction, or in its own and then wakes the host. */
static cl_err queue_rows(ctl_server *srv, ctl_fw_op *op, const ctl_fw_opdata *ref, bool own_tx)
{
	cl_err err;
	snprintf(op->state, sizeof(op->state), "pending");
	op->created_at = op->updated_at = (int64_t)cl_now_wall_ms();
	if (!own_tx) {
		CL_GUARD(ctl_store_fw_op_insert(srv->store, op));
		if (ref)
			CL_GUARD(ctl_store_fw_opdata_put(srv->store, ref));
		return ctl_store_host_bump(srv->store, op->host_id);
	}
	CL_GUARD(ctl_store_begin(srv->store));
	CL_GUARD_OUT(err, ctl_store_fw_op_insert(srv->store, op));
	if (ref)
		CL_GUARD_OUT(err, ctl_store_fw_opdata_put(srv->store, ref));
	CL_GUARD_OUT(err, ctl_store_host_bump(srv->store, op->host_id));
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	ctl_sync_wake(srv, op->host_id);
	return CL_OK;
out:
	ctl_store_rollback(srv->store);
	return err;
}

cl_err ctl_fw_op_queue_raw(ctl_server *srv, ctl_fw_op *op, const uint8_t *data, size_t len, bool own_tx)
{
	char *saved = op->data, *b64 = NULL;
	cl_err err;
	CL_ENSURE(len <= CTL_FW_BUNDLE_LIMIT, CL_ETOOBIG, "firmware op data exceeds %u bytes", CTL_FW_BUNDLE_LIMIT);
	CL_GUARD(cl_random_id("fw-", op->id, sizeof(op->id)));
	if (len <= CTL_FW_INLINE_MAX) {
		if (len > 0)
			CL_GUARD(cl_base64_encode(data, len, &b64));
		op->data = b64 ? b64 : "";
		err = queue_rows(srv, op, NULL, own_tx);
		op->data = saved;
		free(b64);
		return err;
	}
	/* by reference: the file is durable before any row names it; a kill or
	 * a failure after it leaves at worst an unreferenced file */
	ctl_fw_opdata ref;
	uint8_t md[CL_SHA384_LEN];
	char dir[PATH_MAX + 16], path[PATH_MAX + 96];
	memset(&ref, 0, sizeof(ref));
	snprintf(dir, sizeof(dir), "%s/fw_ops", srv->data_dir);
	CL_GUARD(ctl_store_file_err(srv->store, cl_mkdir_p(dir, 0700), "cannot store the op's data"));
	CL_GUARD(cl_sha384(data, len, md));
	cl_hex_encode(md, sizeof(md), ref.sha384);
	snprintf(ref.op_id, sizeof(ref.op_id), "%s", op->id);
	snprintf(ref.host_id, sizeof(ref.host_id), "%s", op->host_id);
	ref.size = (int64_t)len;
	ref.created_at = (int64_t)cl_now_wall_ms();
	opdata_path(srv, op->id, path, sizeof(path));
	CL_GUARD(ctl_store_file_err(srv->store, cl_file_write_atomic(path, data, len, 0600), "cannot store the op's data"));
	op->data = "";
	err = queue_rows(srv, op, &ref, own_tx);
	op->data = saved;
	if (err != CL_OK)
		unlink(path);
	return err;
}

/* Queues op (id, created_at and state are filled here) for its host in one
 * transaction with a generation bump, then wakes the host's sync. Base64
 * data decoding to more than CTL_FW_INLINE_MAX goes by reference. */
cl_err ctl_fw_op_queue(ctl_server *srv, ctl_fw_op *op, bool own_tx)
{
	const char *d = op->data ? op->data : "";
	size_t n = strlen(d);
	if (n <= (size_t)CTL_FW_INLINE_MAX / 3 * 4) {
		CL_GUARD(cl_random_id("fw-", op->id, sizeof(op->id)));
		return queue_rows(srv, op, NULL, own_tx);
	}
	cl_buf raw;
	cl_buf_init(&raw, CTL_FW_BUNDLE_LIMIT);
	cl_err err = cl_base64_decode(d, &raw);
	if (err == CL_OK)
		err = ctl_fw_op_queue_raw(srv, op, raw.data, raw.len, own_tx);
	else
		err = cl_errorf(err == CL_ETOOBIG ? CL_ETOOBIG : CL_EINVAL, "firmware op data is not base64 of at most %u bytes",
				CTL_FW_BUNDLE_LIMIT);
	cl_buf_free(&raw);
	return err;
}

/* GET /v1/hosts/{id}/fw/ops/{op}/data: the op's data kept by reference,
 * streamed from its file to the op's own host (any other caller: 403/404). */
static void get_op_data(ctl_req *r, const char *host_id, const char *op_id)
{
	ctl_server *srv = r->srv;
	ctl_fw_op op;
	ctl_fw_opdata d;
	char path[PATH_MAX + 96];
	if (r->who.kind != CTL_WHO_HOST) {
		cl_warn("denied reason=forbidden action=fw-op-data token=%s", r->who.token_id);
		ctl_reply_error(srv, r->req, CL_EPERM, "only the op's host may fetch its data");
		return;
	}
	bool found = strcmp(r->who.host_id, host_id) == 0 && ctl_valid_id(op_id) &&
		     ctl_store_fw_op_get(srv->store, host_id, op_id, &op) == CL_OK;
	if (found) {
		found = strcmp(op.state, "pending") == 0;
		ctl_fw_op_clear(&op);
	}
	if (!found || ctl_store_fw_opdata_get(srv->store, host_id, op_id, &d) != CL_OK) {
		if (strcmp(r->who.host_id, host_id) != 0)
			cl_warn("denied reason=other-host action=fw-op-data host=%s", r->who.host_id);
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "firmware op data not found");
		return;
	}
	opdata_path(srv, op_id, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	struct evbuffer *out = evbuffer_new();
	if (fd < 0 || fstat(fd, &st) != 0 || !out || st.st_size != d.size ||
	    evbuffer_add_file(out, fd, 0, st.st_size) != 0) {
		if (fd >= 0)
			close(fd); /* evbuffer_add_file failed or was never called: we still own fd */
		if (out)
			evbuffer_free(out);
		cl_error("firmware op data unreadable op=%s", op_id);
		ctl_reply_error(srv, r->req, CL_EIO, "firmware op data is unreadable");
		return;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Cloister-Sha384", d.sha384);
	ctl_count_status(srv, 200);
	evhttp_send_reply(r->req, 200, "OK", out);
	evbuffer_free(out);
	cl_info("firmware op data sent host=%s op=%s size=%lld", host_id, op_id, (long long)d.size);
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

/* What a device would refuse in a window policy pushed to device dev of
 * host host_id, told before it is queued: another format (format 1 bound
 * nothing), another host, another device address, a one-shot policy for a
 * power cycle other than the host's last reported one. Its signature and
 * device key are the device's to check. */
static cl_err check_policy(ctl_req *r, const uint8_t *doc, size_t len, const char *host_id, const char *dev)
{
	fw_policy_info pi;
	fw_status fs = fw_window_policy_inspect(doc, len, &pi);
	CL_ENSURE(fs == FW_OK, CL_EINVAL, "field \"policy\" is not a window policy: %s (%s)", fw_status_name(fs),
		  fs == FW_E_MALFORMED ? "not format 2: a policy must name its device and host, or any"
				       : fw_status_str(fs));
	if (!pi.any) {
		CL_ENSURE(strcmp(pi.host_id, host_id) == 0, CL_EINVAL,
			  "the window policy is for host %.63s, not %.63s: the device would refuse it", pi.host_id, host_id);
		CL_ENSURE(strcmp(pi.component, dev) == 0, CL_EINVAL,
			  "the window policy is for device %.31s, not %.31s: the device would refuse it", pi.component, dev);
	}
	if (pi.power_cycle) {
		ctl_fw_status st;
		cl_err err = ctl_store_fw_status_get(r->srv->store, host_id, &st);
		if (err == CL_ENOTFOUND) {
			cl_error_clear();
			return CL_OK;
		}
		CL_GUARD(err);
		int64_t now_cycle = st.power_cycle;
		ctl_fw_status_clear(&st);
		CL_ENSURE(now_cycle == 0 || (uint64_t)now_cycle == pi.power_cycle, CL_EINVAL,
			  "the window policy is one-shot for power cycle %llu; the host is in power cycle %lld",
			  (unsigned long long)pi.power_cycle, (long long)now_cycle);
	}
	return CL_OK;
}

/* Validates a trust-root push {device, document} or window policy push
 * {device, policy} (base64, at most CTL_FW_DOC_MAX bytes decoded) into op,
 * refusing what the device would refuse whatever its state: a trust
 * document that does not parse or has already expired, a window policy
 * check_policy refuses. op->data borrows from body; op->host_id is set. */
static cl_err parse_doc_body(ctl_req *r, json_t *body, const char *kind, ctl_fw_op *op)
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
	if (raw.len == 0) {
		err = cl_errorf(CL_EINVAL, "field \"%s\" is empty", field);
	} else if (trust) {
		fw_trust_doc doc;
		fw_status fs = fw_trust_doc_parse(raw.data, raw.len, &doc);
		uint64_t now = cl_now_wall_ms() / 1000;
		if (fs != FW_OK)
			err = cl_errorf(CL_EINVAL, "field \"document\" is not a trust-root document: %s", fw_status_str(fs));
		else if (doc.has_expires && now >= doc.expires)
			err = cl_errorf(CL_EINVAL,
					"the trust-root document (version %llu) expired at %llu: a device would refuse it",
					(unsigned long long)doc.version, (unsigned long long)doc.expires);
	} else {
		err = check_policy(r, raw.data, raw.len, op->host_id, json_string_value(dev));
	}
	cl_buf_free(&raw);
	CL_GUARD(err);
	snprintf(op->kind, sizeof(op->kind), "%s", kind);
	snprintf(op->device, sizeof(op->device), "%s", json_string_value(dev));
	op->data = (char *)json_string_value(b64); /* borrowed until the insert */
	return CL_OK;
}

/* Validates a power-cycle/clear-quarantine body into op. */
static cl_err parse_op_body(json_t *body, const char *kind, ctl_fw_op *op)
{
	const char *k;
	json_t *v;
	bool clear = strcmp(kind, "clear_quarantine") == 0;
	json_object_foreach(body, k, v)
	{
		bool known = clear && strcmp(k, "reason") == 0;
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
	return CL_OK;
}

/* Validates a push body {device, bundle (base64) | upload (id), next_boot?}
 * into op and the raw bundle; *upload_id is set when the bundle came from an
 * upload (removed by the caller once the op is queued). Nothing changes on
 * failure: the upload stays. */
static cl_err parse_push_body(ctl_req *r, json_t *body, ctl_fw_op *op, cl_buf *raw, const char **upload_id)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		CL_ENSURE(strcmp(k, "device") == 0 || strcmp(k, "bundle") == 0 || strcmp(k, "upload") == 0 ||
				  strcmp(k, "next_boot") == 0,
			  CL_EINVAL, "unknown field \"%.64s\"", k);
	}
	json_t *dev = json_object_get(body, "device"), *b64 = json_object_get(body, "bundle"),
	       *up = json_object_get(body, "upload"), *nb = json_object_get(body, "next_boot");
	CL_ENSURE(json_is_string(dev) && valid_device(json_string_value(dev)), CL_EINVAL,
		  "field \"device\" is required: a device address like 0000:03:00.0");
	CL_ENSURE(!nb || json_is_boolean(nb), CL_EINVAL, "field \"next_boot\" must be a boolean");
	CL_ENSURE(!b64 != !up, CL_EINVAL,
		  "exactly one of \"bundle\" (base64) or \"upload\" (the id of a complete upload) is required");
	*upload_id = NULL;
	if (up) {
		CL_ENSURE(json_is_string(up) && ctl_upload_valid_id(json_string_value(up)), CL_EINVAL,
			  "field \"upload\" must be an upload id (upl_...)");
		CL_GUARD(ctl_upload_read(r, json_string_value(up), CTL_FW_BUNDLE_LIMIT, raw));
		*upload_id = json_string_value(up);
	} else {
		CL_ENSURE(json_is_string(b64), CL_EINVAL, "field \"bundle\" is required: the bundle in base64");
		cl_err err = cl_base64_decode(json_string_value(b64), raw);
		if (err != CL_OK)
			return cl_errorf(err == CL_ETOOBIG ? CL_ETOOBIG : CL_EINVAL,
					 "field \"bundle\" must be base64 of at most %u bytes", CTL_FW_BUNDLE_LIMIT);
	}
	/* What every device refuses is refused here: a bundle that does not
	 * parse (an empty image, a sequence or time out of range included) or
	 * whose use-before has passed. */
	fw_bundle_view view;
	fw_status fs = fw_bundle_parse(raw->data, raw->len, &view);
	CL_ENSURE(fs == FW_OK, CL_EINVAL, "%s is not a firmware bundle: %s (%s)", up ? "the upload" : "field \"bundle\"",
		  fw_status_name(fs), fw_status_str(fs));
	uint64_t now = cl_now_wall_ms() / 1000;
	CL_ENSURE(!view.m.has_use_before || now < view.m.use_before, CL_EINVAL,
		  "the bundle's use-before (%llu) has passed: a device would refuse it (expired)",
		  (unsigned long long)view.m.use_before);
	snprintf(op->kind, sizeof(op->kind), "%s", json_is_true(nb) ? "queue" : "update");
	snprintf(op->device, sizeof(op->device), "%s", json_string_value(dev));
	return CL_OK;
}

static void post_push(ctl_req *r, const char *host_id)
{
	json_t *body = NULL;
	const char *upload_id = NULL;
	ctl_fw_op op;
	cl_buf raw;
	cl_err err;
	memset(&op, 0, sizeof(op));
	cl_buf_init(&raw, CTL_FW_BUNDLE_LIMIT);
	snprintf(op.host_id, sizeof(op.host_id), "%s", host_id);
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, parse_push_body(r, body, &op, &raw, &upload_id));
	CL_GUARD_OUT(err, ctl_fw_op_queue_raw(r->srv, &op, raw.data, raw.len, true));
	if (upload_id && ctl_upload_remove(r, upload_id) != CL_OK)
		cl_warn("upload not removed after use upload=%s (it expires)", upload_id);
	cl_info("firmware op queued host=%s op=%s kind=%s device=%s size=%zu%s", host_id, op.id, op.kind, op.device,
		raw.len, raw.len > CTL_FW_INLINE_MAX ? " by-reference" : "");
	ctl_reply_json(r->srv, r->req, 202,
		       json_pack("{s:s,s:s,s:s}", "op", op.id, "kind", op.kind, "state", "pending"));
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	cl_buf_free(&raw);
	json_decref(body);
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
		CL_GUARD_OUT(err, parse_doc_body(r, body, kind, &op));
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
	bool is_data = r->nseg == 7 && get && strcmp(s3, "fw") == 0 && strcmp(r->seg[4], "ops") == 0 &&
		       strcmp(r->seg[6], "data") == 0;
	if (is_data) {
		get_op_data(r, r->seg[2], r->seg[5]);
		return true;
	}
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
	bool removed = err == CL_OK && strcmp(h.state, "removed") == 0;
	ctl_host_clear(&h);
	if (err != CL_OK) {
		ctl_reply_error(r->srv, r->req, err, err == CL_ENOTFOUND ? "host not found" : cl_error_detail());
		return true;
	}
	if (removed && post) { /* its status and audit stay readable; nothing is sent to it */
		ctl_reply_error(r->srv, r->req, CL_ECONFLICT, "the host was removed from the fleet");
		return true;
	}
	if (is_cmd)
		post_op(r, host_id, strcmp(s3, "power-cycle") == 0 ? "power_cycle" : "clear_quarantine");
	else if (r->nseg == 4)
		get_status(r, host_id);
	else if (r->nseg == 6)
		get_op(r, host_id, r->seg[5]);
	else if (post && strcmp(r->seg[4], "push") == 0)
		post_push(r, host_id);
	else if (post)
		post_op(r, host_id, r->seg[4]); /* trust or window */
	else
		get_audit(r, host_id);
	return true;
}

void ctl_api_events(ctl_req *r)
{
	int64_t after = 0;
	ctl_fw_event *es = NULL;
	ctl_page pg;
	char nextbuf[24];
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
	CL_GUARD_OUT(err, req_page_int(r, &pg, &after));
	CL_GUARD_OUT(err, ctl_store_fw_event_list(r->srv->store, host, after, pg.limit + 1, &es, &n));
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	json_t *items = json_array();
	for (size_t i = 0; items && i < shown; i++) {
		ctl_fw_event *e = &es[i];
		/* the host halts (or is held) for these; the rest are alarms */
		bool halt = strcmp(e->kind, "quarantined") == 0 || strcmp(e->kind, "quarantine") == 0 ||
			    strcmp(e->kind, "audit_tampered") == 0;
		json_array_append_new(items, json_pack("{s:I,s:s,s:s,s:s,s:o,s:s,s:o}", "id", (json_int_t)e->id,
						       "host_id", e->host_id, "kind", e->kind, "severity",
						       halt ? "quarantine" : "alarm", "seq",
						       e->seq ? json_integer(e->seq) : json_null(), "detail", e->detail,
						       "time", ctl_json_time(e->created_at)));
	}
	json_t *page = ctl_page_json(items, next_of(n, pg.limit, shown ? es[shown - 1].id : 0, nextbuf, sizeof(nextbuf)));
	free(es);
	ctl_reply_json(r->srv, r->req, page ? 200 : 500, page);
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
}
