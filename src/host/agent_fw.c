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
#include "fw/fw.h"
#include "host/agent.h"
#include "host/agent_fwdata.h"
#include "fwguard/fwaudit.h"
#include "fwguard/fwguard.h"

#define AUDIT_FILE_MAX (256u << 20) /* ~750k records */

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

static json_t *device_json(const fwg_dev_status *d)
{
	char vendor[40], cls[40];
	fw_uuid_format(d->vendor, vendor);
	fw_uuid_format(d->class_id, cls);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:I, s:I, s:b, s:b}", "addr", d->addr,
			      "name", d->name, "vendor", vendor, "class", cls, "version", d->version, "sequence",
			      (json_int_t)d->sequence, "counter", (json_int_t)d->counter, "trust_version",
			      (json_int_t)d->trust_version, "window_open", d->window_open, "window_left_s",
			      (json_int_t)d->window_left_s, "pending", (json_int_t)d->pending, "booted", d->booted,
			      "locked", d->locked);
	if (o && d->active_slot >= 0 &&
	    json_object_set_new(o, "active_slot", json_string(d->active_slot == 0 ? "A" : "B")) != 0) {
		json_decref(o);
		o = NULL;
	}
	/* The device key's public half (PEM): what `fw sign --encrypt-to` takes. */
	if (o && d->device_key[0] && json_object_set_new(o, "device_key", json_string(d->device_key)) != 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

json_t *cl_agent_fw_audit_json(const fwg_audit_rec *r, const uint8_t prev[32])
{
	char hash[65], prevhex[65], digest[17];
	cl_hex_encode(r->hash, sizeof(r->hash), hash);
	cl_hex_encode(prev, 32, prevhex);
	json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "seq", (json_int_t)r->seq,
			      "time", (json_int_t)(r->time_ms & (UINT64_MAX >> 2)), "source",
			      fwg_source_name(r->source), "op", fwg_op_name(r->op), "device", r->addr, "result",
			      fwg_result_name(r->result), "reason", fwg_reason_name(r->reason), "action",
			      fwg_action_name(r->action), "hash", hash, "prev", prevhex);
	if (o && r->has_id) {
		cl_hex_encode(r->digest8, sizeof(r->digest8), digest);
		if (json_object_set_new(o, "version", json_string(r->version)) != 0 ||
		    json_object_set_new(o, "sequence", json_integer((json_int_t)(r->sequence & (UINT64_MAX >> 2)))) != 0 ||
		    json_object_set_new(o, "digest", json_string(digest)) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

typedef struct walk_ctx {
	uint64_t after;
	size_t max;
	json_t *arr;
	uint8_t prev[32];
	bool oom;
} walk_ctx;

static int collect(const fwg_audit_rec *r, void *vctx)
{
	walk_ctx *c = vctx;
	if (r->seq > c->after) {
		json_t *o = cl_agent_fw_audit_json(r, c->prev);
		if (!o || json_array_append_new(c->arr, o) != 0) {
			c->oom = true;
			return 1;
		}
	}
	memcpy(c->prev, r->hash, sizeof(c->prev));
	return json_array_size(c->arr) >= c->max ? 1 : 0;
}

cl_err cl_agent_fw_audit_after(const char *dir, uint64_t after, size_t max, json_t **out)
{
	*out = NULL;
	char path[4096];
	CL_ENSURE(snprintf(path, sizeof(path), "%s/audit.log", dir) < (int)sizeof(path), CL_EINVAL,
		  "firmware dir path too long");
	cl_buf file;
	cl_buf_init(&file, AUDIT_FILE_MAX);
	cl_err err = cl_file_read(path, AUDIT_FILE_MAX, &file);
	if (err != CL_OK) {
		cl_buf_free(&file);
		return err;
	}
	walk_ctx c = {.after = after, .max = max, .arr = json_array()};
	if (c.arr && max > 0) {
		fwa_report rep;
		/* a torn or tampered tail stops the walk: the good records before it ship */
		fwa_walk(file.data, file.len, &rep, collect, &c);
	}
	cl_buf_free(&file);
	if (!c.arr || c.oom) {
		json_decref(c.arr);
		return cl_errorf(CL_ENOMEM, "firmware audit: out of memory");
	}
	*out = c.arr;
	return CL_OK;
}

cl_err cl_agent_fw_report(fwg_host *h, const char *dir, uint64_t after, json_t **out, uint64_t *window_left_s)
{
	*out = NULL;
	*window_left_s = 0;
	fwg_host_status st;
	CL_GUARD(fwg_host_status_get(h, &st));
	json_t *devs = json_array(), *audit = NULL;
	CL_ENSURE(devs, CL_ENOMEM, "out of memory");
	for (size_t i = 0; i < st.ndev; i++) {
		if (json_array_append_new(devs, device_json(&st.dev[i])) != 0) {
			json_decref(devs);
			return cl_errorf(CL_ENOMEM, "out of memory");
		}
		if (st.dev[i].window_open && st.dev[i].window_left_s > *window_left_s)
			*window_left_s = st.dev[i].window_left_s;
	}
	cl_err err = cl_agent_fw_audit_after(dir, after, CL_AGENT_FW_AUDIT_MAX, &audit);
	if (err != CL_OK) {
		json_decref(devs);
		return err;
	}
	*out = json_pack("{s:b, s:b, s:b, s:o, s:o}", "eligible", st.eligible, "quarantined", st.quarantined,
			 "window_open", st.any_window_open, "devices", devs, "audit", audit);
	CL_ENSURE(*out, CL_ENOMEM, "out of memory");
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
