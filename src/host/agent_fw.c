/* agent_fw.c — the firmware guard inside the agent: opening the device model
 * under DATA/fw, the sync request's "firmware" object, and running the
 * control plane's firmware ops on the management port
 * (docs/internals.md "Firmware in the sync protocol", docs/firmware-guard.md).
 *
 * Only the sync path calls cl_agent_fw_apply: guests have no route to it
 * (nothing a guest sends is ever turned into a firmware op).
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/http_client.h"
#include "common/util.h"
#include "fw/fw_tools.h"
#include "fw/fw_limits.h"
#include "host/agent_fw.h"
#include "host/agent_fwdata.h"
#include "fwguard/fwaudit.h"
#include "fwguard/fwguard.h"

cl_err cl_agent_fw_open(const char *dir, const char *root_pem, fwg_host **out)
{
	return cl_agent_fw_open_keys(dir, root_pem, NULL, out);
}

cl_err cl_agent_fw_open_keys(const char *dir, const char *root_pem, const fwg_keys *keys, fwg_host **out)
{
	fwg_opts opts = {.keys = keys};
	*out = NULL;
	char devices[4096];
	struct stat st;
	CL_ENSURE(snprintf(devices, sizeof(devices), "%s/devices", dir) < (int)sizeof(devices), CL_EINVAL,
		  "firmware dir path too long");
	if (stat(devices, &st) == 0 || errno != ENOENT)
		return fwg_host_open(dir, &opts, out);
	/* first start: manufacture the default devices with the provider's root */
	cl_err err;
	void *key = NULL;
	uint8_t point[FW_POINT_LEN];
	CL_GUARD(fw_key_load_public(root_pem, &key));
	err = fw_key_point(key, point);
	fw_key_free(key);
	CL_GUARD(err);
	CL_GUARD(fwg_host_create(dir, point, NULL, 0, &opts));
	return fwg_host_open(dir, &opts, out);
}

/* A uint64 of the formats as JSON: an integer (every value a device can
 * hold today is at most FW_UINT_MAX = 2^63 - 1, fw/fw_limits.h); a larger
 * one, which only state or a log written before that cap can hold, is sent
 * as its exact decimal string rather than wrapped or masked. */
static json_t *u64_json(uint64_t v)
{
	if (v <= FW_UINT_MAX)
		return json_integer((json_int_t)v);
	char s[24];
	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	return json_string(s);
}

/* Sets key to a new value in o; false (o untouched) when out of memory. */
static bool set_new(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0;
}

static json_t *device_json(const fwg_dev_status *d)
{
	char vendor[40], cls[40];
	fw_uuid_format(d->vendor, vendor);
	fw_uuid_format(d->class_id, cls);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:b, s:b}", "addr", d->addr, "name",
			      d->name, "vendor", vendor, "class", cls, "version", d->version, "window_open",
			      d->window_open, "window_left_s", (json_int_t)d->window_left_s, "window_s",
			      (json_int_t)d->window_s, "next_window_s", (json_int_t)d->next_window_s, "pending",
			      (json_int_t)d->pending, "booted", d->booted, "locked", d->locked);
	bool ok = o && set_new(o, "sequence", u64_json(d->sequence)) && set_new(o, "counter", u64_json(d->counter)) &&
		  set_new(o, "trust_version", u64_json(d->trust_version)) &&
		  set_new(o, "policy_version", u64_json(d->policy_version));
	if (ok && d->active_slot >= 0)
		ok = set_new(o, "active_slot", json_string(d->active_slot == 0 ? "A" : "B"));
	/* The device key's public half (PEM): what `fw sign --encrypt-to` takes. */
	if (ok && d->device_key[0])
		ok = set_new(o, "device_key", json_string(d->device_key));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *cl_agent_fw_audit_json(const fwg_audit_rec *r, const uint8_t prev[32])
{
	char hash[65], prevhex[65], digest[17];
	cl_hex_encode(r->hash, sizeof(r->hash), hash);
	cl_hex_encode(prev, 32, prevhex);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "source", fwg_source_name(r->source), "op",
			      fwg_op_name(r->op), "device", r->addr, "result", fwg_result_name(r->result), "reason",
			      fwg_reason_name(r->reason), "action", fwg_action_name(r->action), "hash", hash, "prev",
			      prevhex);
	bool ok = o && set_new(o, "seq", u64_json(r->seq)) && set_new(o, "time", u64_json(r->time_ms));
	if (ok && r->has_id) {
		cl_hex_encode(r->digest8, sizeof(r->digest8), digest);
		ok = set_new(o, "version", json_string(r->version)) && set_new(o, "sequence", u64_json(r->sequence)) &&
		     set_new(o, "digest", json_string(digest));
	}
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

typedef struct ship_ctx {
	json_t *arr;
	bool oom;
} ship_ctx;

static int ship(const fwg_audit_rec *r, void *vctx)
{
	ship_ctx *c = vctx;
	json_t *o = cl_agent_fw_audit_json(r, r->prev);
	if (!o || json_array_append_new(c->arr, o) != 0) {
		c->oom = true;
		return 1;
	}
	return 0;
}

cl_err cl_agent_fw_audit_after(fwg_host *h, uint64_t after, size_t max, json_t **out, fwg_audit_state *st)
{
	*out = NULL;
	ship_ctx c = {.arr = json_array()};
	CL_ENSURE(c.arr, CL_ENOMEM, "firmware audit: out of memory");
	/* Only verified records ship: the log checked against what was
	 * verified before and the control plane's anchor (fwg_audit_check). */
	cl_err err = fwg_audit_check(h, after, max, ship, &c, st);
	if (err == CL_OK && c.oom)
		err = cl_errorf(CL_ENOMEM, "firmware audit: out of memory");
	if (err != CL_OK) {
		json_decref(c.arr);
		return err;
	}
	*out = c.arr;
	return CL_OK;
}

void cl_agent_fw_anchor(fwg_host *h, const cl_agent_answer *ans)
{
	if (h && ans->has_fw_anchor)
		fwg_audit_anchor(h, ans->fw_anchor_seq, ans->fw_anchor_hash);
}

/* "audit_head" and, when the log was tampered with, "audit_tampered". */
static bool audit_state_json(json_t *fw, const fwg_audit_state *a)
{
	char head[65];
	cl_hex_encode(a->head, sizeof(a->head), head);
	json_t *h = json_pack("{s:s}", "hash", head);
	if (!h || !set_new(h, "seq", u64_json(a->seq)) || json_object_set_new(fw, "audit_head", h) != 0)
		return false;
	if (!a->tampered)
		return true;
	json_t *t = json_pack("{s:s}", "why", a->why);
	return t && set_new(t, "seq", u64_json(a->bad_seq)) && json_object_set_new(fw, "audit_tampered", t) == 0;
}

cl_err cl_agent_fw_report(fwg_host *h, uint64_t after, json_t **out, uint64_t *window_left_s)
{
	*out = NULL;
	*window_left_s = 0;
	fwg_host_status st;
	fwg_audit_state as;
	json_t *audit = NULL;
	/* The audit first: a tampered log makes the status quarantined. */
	cl_err err = cl_agent_fw_audit_after(h, after, CL_AGENT_FW_AUDIT_MAX, &audit, &as);
	if (err == CL_EPROTO && as.tampered) {
		/* Fail closed: nothing ships from a tampered log; the control
		 * plane hears why and raises audit_tampered. */
		cl_error_clear();
		audit = json_array();
		err = audit ? CL_OK : CL_ENOMEM;
	}
	CL_GUARD(err);
	err = fwg_host_status_get(h, &st);
	json_t *devs = err == CL_OK ? json_array() : NULL;
	if (err == CL_OK && !devs)
		err = cl_errorf(CL_ENOMEM, "out of memory");
	for (size_t i = 0; err == CL_OK && i < st.ndev; i++) {
		if (json_array_append_new(devs, device_json(&st.dev[i])) != 0)
			err = cl_errorf(CL_ENOMEM, "out of memory");
		if (st.dev[i].window_open && st.dev[i].window_left_s > *window_left_s)
			*window_left_s = st.dev[i].window_left_s;
	}
	if (err != CL_OK) {
		json_decref(devs);
		json_decref(audit);
		return err;
	}
	*out = json_pack("{s:b, s:b, s:b, s:o, s:o}", "eligible", st.eligible, "quarantined", st.quarantined,
			 "window_open", st.any_window_open, "devices", devs, "audit", audit);
	if (!*out || !set_new(*out, "power_cycle", u64_json(st.power_cycle)) || !audit_state_json(*out, &as)) {
		json_decref(*out);
		*out = NULL;
		return cl_errorf(CL_ENOMEM, "out of memory");
	}
	return CL_OK;
}

uint32_t cl_agent_fw_wait_ms(uint32_t poll_ms, uint64_t window_left_s)
{
	if (window_left_s == 0 || window_left_s > UINT32_MAX / 1000)
		return poll_ms;
	uint64_t ms = window_left_s * 1000 + 250; /* window_left_s is rounded up */
	return ms < poll_ms ? (uint32_t)ms : poll_ms;
}

/* Decodes op->data (base64) into out, bounded by FWG_MAX_BUNDLE. */
static cl_err decode_data(const cl_agent_fw_op *op, cl_buf *out)
{
	CL_ENSURE(op->data, CL_EINVAL, "no data");
	CL_ENSURE(!cl_agent_fw_data_is_ref(op), CL_EINVAL, "the op's data (sent by reference) was not fetched");
	cl_err err = cl_base64_decode(op->data, out);
	if (err == CL_ETOOBIG)
		return cl_errorf(CL_ETOOBIG, "bundle larger than %u bytes", (unsigned)FWG_MAX_BUNDLE);
	CL_ENSURE(err == CL_OK, CL_EINVAL, "data is not valid base64");
	return CL_OK;
}

bool cl_agent_fw_data_is_ref(const cl_agent_fw_op *op)
{
	return op->data && strncmp(op->data, CL_AGENT_FW_REF_PREFIX, strlen(CL_AGENT_FW_REF_PREFIX)) == 0;
}

cl_err cl_agent_fw_ref_parse(const char *data, uint64_t *size, char sha384[97])
{
	size_t plen = strlen(CL_AGENT_FW_REF_PREFIX);
	CL_ENSURE(data && strncmp(data, CL_AGENT_FW_REF_PREFIX, plen) == 0, CL_EINVAL, "not a data reference");
	const char *p = data + plen;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(p, &end, 10);
	CL_ENSURE(*p >= '0' && *p <= '9' && errno == 0 && end && *end == ':' && v >= 1 && v <= FWG_MAX_BUNDLE,
		  CL_EINVAL, "data reference: bad size");
	CL_ENSURE(strlen(end + 1) == 96 && strspn(end + 1, "0123456789abcdef") == 96, CL_EINVAL,
		  "data reference: bad sha384");
	*size = v;
	memcpy(sha384, end + 1, 97);
	return CL_OK;
}

cl_err cl_agent_fw_fetch(cl_http_client *http, const char *host_id, const cl_agent_fw_op *op, cl_buf *out)
{
	uint64_t size = 0;
	char sha[97], path[512], got[97];
	uint8_t md[CL_SHA384_LEN];
	long status = 0;
	cl_buf_reset(out);
	if (!cl_agent_fw_data_is_ref(op))
		return CL_OK;
	CL_GUARD(cl_agent_fw_ref_parse(op->data, &size, sha));
	CL_ENSURE(size <= out->max, CL_ETOOBIG, "op data of %llu bytes exceeds %zu", (unsigned long long)size,
		  out->max);
	CL_ENSURE(snprintf(path, sizeof(path), "/v1/hosts/%s/fw/ops/%s/data", host_id, op->op) < (int)sizeof(path),
		  CL_EINVAL, "host id too long");
	/* 30 s plus one second per MiB (a 64 MiB bundle at >= 1 MiB/s); the
	 * caller's next request sets its own timeout again */
	cl_http_client_set_timeout(http, 30000 + (long)(size >> 20) * 1000);
	cl_err err = cl_http_request(http, "GET", path, NULL, NULL, 0, NULL, &status, out);
	if (err == CL_OK && status != 200)
		err = cl_errorf(CL_EPROTO, "control plane answered HTTP %ld", status);
	if (err == CL_OK && out->len != size)
		err = cl_errorf(CL_ECRYPTO, "op data is %zu bytes, the reference says %llu", out->len,
				(unsigned long long)size);
	if (err == CL_OK && (err = cl_sha384(out->data, out->len, md)) == CL_OK) {
		cl_hex_encode(md, sizeof(md), got);
		if (!cl_ct_equal(got, sha, 96))
			err = cl_errorf(CL_ECRYPTO, "op data does not match the reference's SHA-384");
	}
	if (err != CL_OK)
		cl_buf_reset(out);
	return err;
}

/* Runs op with its data bytes (NULL/0 for ops without data). */
static json_t *run_op(fwg_host *h, const cl_agent_fw_op *op, const uint8_t *data, size_t len, cl_err err)
{
	fwg_outcome oc = {0};
	if (err == CL_OK) {
		switch (op->kind) {
		case CL_FWOP_UPDATE:
			err = fwg_mgmt_update(h, FWG_SRC_MGMT, op->device, data, len, &oc);
			break;
		case CL_FWOP_QUEUE:
			err = fwg_mgmt_queue(h, FWG_SRC_MGMT, op->device, data, len, &oc);
			break;
		case CL_FWOP_WINDOW:
			err = fwg_mgmt_window(h, FWG_SRC_MGMT, op->device, data, len, &oc);
			break;
		case CL_FWOP_TRUST:
			err = fwg_mgmt_trust(h, FWG_SRC_MGMT, op->device, data, len, &oc);
			break;
		case CL_FWOP_REVERT:
			err = fwg_mgmt_revert(h, FWG_SRC_MGMT, op->device, &oc);
			break;
		case CL_FWOP_POWER_CYCLE:
			err = fwg_host_power_cycle(h, FWG_SRC_MGMT);
			break;
		case CL_FWOP_CLEAR_QUARANTINE:
			/* The control plane creates this op only from an operator's
			 * (admin-authenticated) request: it is an operator action relayed
			 * over the management path, the one source the model accepts. */
			err = fwg_quarantine_clear(h, FWG_SRC_OPERATOR, op->reason);
			break;
		}
	}
	json_t *res = json_pack("{s:s, s:b}", "op", op->op, "ok", err == CL_OK);
	if (!res)
		return NULL;
	if (err != CL_OK) {
		char msg[300];
		if (oc.reason != 0)
			snprintf(msg, sizeof(msg), "refused: %s", fwg_reason_name(oc.reason));
		else
			snprintf(msg, sizeof(msg), "%.280s", cl_error_detail());
		json_object_set_new(res, "error", json_string(msg));
	}
	if (err == CL_OK || oc.reason != 0)
		json_object_set_new(res, "reason", json_string(fwg_reason_name(oc.reason)));
	if (oc.audit_seq > 0)
		json_object_set_new(res, "audit_seq", json_integer((json_int_t)(oc.audit_seq & (UINT64_MAX >> 2))));
	return res;
}

static bool has_data(const cl_agent_fw_op *op)
{
	return op->kind == CL_FWOP_UPDATE || op->kind == CL_FWOP_QUEUE || op->kind == CL_FWOP_WINDOW ||
	       op->kind == CL_FWOP_TRUST;
}

json_t *cl_agent_fw_apply(fwg_host *h, const cl_agent_fw_op *op)
{
	cl_buf data;
	cl_buf_init(&data, FWG_MAX_BUNDLE);
	cl_err err = has_data(op) ? decode_data(op, &data) : CL_OK;
	json_t *res = run_op(h, op, data.data, data.len, err);
	cl_buf_free(&data);
	return res;
}

json_t *cl_agent_fw_apply_fetched(fwg_host *h, const cl_agent_fw_op *op, const cl_buf *fetched, cl_err fetch_err)
{
	if (!cl_agent_fw_data_is_ref(op) || !has_data(op))
		return fetch_err == CL_OK ? cl_agent_fw_apply(h, op) : run_op(h, op, NULL, 0, fetch_err);
	if (fetch_err != CL_OK) {
		char detail[256];
		snprintf(detail, sizeof(detail), "%.200s", cl_error_detail());
		fetch_err = cl_errorf(fetch_err, "cannot fetch the op's data: %s", detail);
	} else if (fetched->len == 0) {
		fetch_err = cl_errorf(CL_EINVAL, "the op's data (sent by reference) was not fetched");
	}
	return run_op(h, op, fetched->data, fetched->len, fetch_err);
}
