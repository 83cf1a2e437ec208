/* agent_proto.c — parsing the control plane's answers (register, sync).
 * Pure: no I/O. The control plane is authenticated (TLS + CA pinning) but its
 * answers are still checked field by field before anything acts on them.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/bundle.h"
#include "common/frame.h"
#include "common/util.h"
#include "host/agent_proto.h"

#define MAX_DESIRED 4096
#define MAX_OPS 4096

static bool is_hex96(const char *s)
{
	if (strlen(s) != 96)
		return false;
	for (size_t i = 0; i < 96; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

/* "network": true and "expose": [ports] (1..65535, distinct, at most
 * CL_PROTO_EXPOSE_MAX, only with a network). */
static cl_err parse_network(json_t *e, const char *id, cl_agent_desired *d)
{
	json_t *nw = json_object_get(e, "network"), *ex = json_object_get(e, "expose"), *v;
	size_t i;
	CL_ENSURE(!nw || json_is_boolean(nw), CL_EINVAL, "sync answer: enclave %s: network is not a boolean", id);
	d->network = json_is_true(nw);
	if (!ex)
		return CL_OK;
	CL_ENSURE(d->network && json_is_array(ex) && json_array_size(ex) <= CL_PROTO_EXPOSE_MAX, CL_EINVAL,
		  "sync answer: enclave %s: expose must be an array of at most %u ports, with network", id,
		  CL_PROTO_EXPOSE_MAX);
	json_array_foreach(ex, i, v)
	{
		json_int_t port = json_integer_value(v);
		CL_ENSURE(json_is_integer(v) && port >= 1 && port <= 65535, CL_EINVAL,
			  "sync answer: enclave %s: expose holds ports 1..65535", id);
		for (uint32_t k = 0; k < d->nexpose; k++)
			CL_ENSURE(d->expose[k] != port, CL_EINVAL, "sync answer: enclave %s: port %u exposed twice", id,
				  (unsigned)port);
		d->expose[d->nexpose++] = (uint16_t)port;
	}
	return CL_OK;
}

static cl_err parse_desired(json_t *e, size_t idx, cl_agent_desired *d)
{
	const char *id = json_string_value(json_object_get(e, "id"));
	const char *image = json_string_value(json_object_get(e, "image"));
	const char *sha = json_string_value(json_object_get(e, "image_sha384"));
	const char *want = json_string_value(json_object_get(e, "desired"));
	json_t *mem = json_object_get(e, "memory_mib"), *cpus = json_object_get(e, "cpus");
	CL_ENSURE(json_is_object(e), CL_EINVAL, "sync answer: enclaves[%zu] is not an object", idx);
	CL_ENSURE(id && cl_agent_valid_id(id), CL_EINVAL, "sync answer: enclaves[%zu].id is invalid", idx);
	CL_ENSURE(image && cl_agent_valid_id(image), CL_EINVAL, "sync answer: enclave %s: image id is invalid",
		  id);
	CL_ENSURE(sha && is_hex96(sha), CL_EINVAL, "sync answer: enclave %s: image_sha384 is not 96 hex digits",
		  id);
	CL_ENSURE(json_is_integer(mem) && json_integer_value(mem) >= 16 && json_integer_value(mem) <= (1 << 30),
		  CL_EINVAL, "sync answer: enclave %s: memory_mib out of range", id);
	CL_ENSURE(!cpus || (json_is_integer(cpus) && json_integer_value(cpus) >= 1 &&
			    json_integer_value(cpus) <= 65536),
		  CL_EINVAL, "sync answer: enclave %s: cpus out of range", id);
	CL_ENSURE(!want || strcmp(want, "running") == 0 || strcmp(want, "stopped") == 0, CL_EINVAL,
		  "sync answer: enclave %s: desired must be running or stopped", id);
	/* Who owns it and what it is called: PCR3 (optional: an older control
	 * plane does not say, and the register then stays zero). */
	json_t *tv = json_object_get(e, "tenant"), *nv = json_object_get(e, "name");
	const char *tenant = json_string_value(tv), *name = json_string_value(nv);
	CL_ENSURE(!tv || json_is_null(tv) || (tenant && cl_agent_valid_id(tenant)), CL_EINVAL,
		  "sync answer: enclave %s: tenant is not an id", id);
	CL_ENSURE(!nv || json_is_null(nv) || (name && cl_agent_valid_name(name)), CL_EINVAL,
		  "sync answer: enclave %s: name is not a name", id);
	memset(d, 0, sizeof(*d));
	if (tenant)
		memcpy(d->tenant, tenant, strlen(tenant) + 1);
	if (name)
		memcpy(d->name, name, strlen(name) + 1);
	memcpy(d->id, id, strlen(id) + 1);
	memcpy(d->image, image, strlen(image) + 1);
	for (size_t i = 0; i <= 96; i++) /* lower-case, incl. NUL */
		d->image_sha384[i] = (sha[i] >= 'A' && sha[i] <= 'F') ? (char)(sha[i] - 'A' + 'a') : sha[i];
	d->memory_mib = (uint64_t)json_integer_value(mem);
	d->cpus = cpus ? (uint32_t)json_integer_value(cpus) : 1;
	d->running = !want || strcmp(want, "running") == 0;
	json_t *aw = json_object_get(e, "await_bundle");
	CL_ENSURE(!aw || json_is_boolean(aw), CL_EINVAL, "sync answer: enclave %s: await_bundle is not a boolean", id);
	d->await_bundle = json_is_true(aw);
	json_t *su = json_object_get(e, "suspendable");
	CL_ENSURE(!su || json_is_boolean(su), CL_EINVAL, "sync answer: enclave %s: suspendable is not a boolean", id);
	d->suspendable = json_is_true(su);
	json_t *ar = json_object_get(e, "await_restore");
	CL_ENSURE(!ar || json_is_boolean(ar), CL_EINVAL, "sync answer: enclave %s: await_restore is not a boolean", id);
	d->await_restore = json_is_true(ar);
	CL_ENSURE(!d->await_restore || d->suspendable, CL_EINVAL,
		  "sync answer: enclave %s: await_restore goes with suspendable", id);
	return parse_network(e, id, d);
}

static bool opt_u32(json_t *v, uint32_t max, uint32_t dflt, uint32_t *out)
{
	if (!v || json_is_null(v)) {
		*out = dflt;
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	json_int_t x = json_integer_value(v);
	*out = x > (json_int_t)max ? max : (uint32_t)x;
	return true;
}

/* One optional base64 field of an attest op into out[cap]: false if it is
 * not a string, not base64 or decodes to more than cap bytes. */
static bool att_field(json_t *e, const char *key, uint8_t *out, size_t cap, bool *has, size_t *len)
{
	json_t *v = json_object_get(e, key);
	*has = false;
	*len = 0;
	if (!v || json_is_null(v))
		return true;
	const char *s = json_string_value(v);
	if (!s || strlen(s) > (cap + 2) / 3 * 4)
		return false;
	cl_buf b;
	cl_buf_init(&b, cap);
	bool ok = cl_base64_decode(s, &b) == CL_OK;
	if (ok) {
		memcpy(out, b.data, b.len);
		*len = b.len;
		*has = true;
	}
	cl_buf_free(&b);
	return ok;
}

static bool parse_att(json_t *e, cl_agent_op *op)
{
	cl_agent_att_args *a = calloc(1, sizeof(*a));
	if (!a)
		return false;
	op->att = a;
	/* The control plane asks only with a nonce: a public key or user data
	 * comes from inside the enclave (its nsm.sock), never from outside,
	 * or a control plane could get a genuine document naming its own key. */
	json_t *pk = json_object_get(e, "public_key"), *ud = json_object_get(e, "user_data");
	if ((pk && !json_is_null(pk)) || (ud && !json_is_null(ud)))
		return false;
	return att_field(e, "nonce", a->nonce, sizeof(a->nonce), &a->has_nonce, &a->nonce_len);
}

void cl_agent_op_clear(cl_agent_op *op)
{
	if (op->data) {
		explicit_bzero(op->data, strlen(op->data));
		free(op->data);
		op->data = NULL;
	}
	if (op->att) {
		explicit_bzero(op->att, sizeof(*op->att));
		free(op->att);
		op->att = NULL;
	}
	free(op->prov);
	op->prov = NULL;
	free(op->state);
	op->state = NULL;
	if (op->tls) {
		free(op->tls->chain);
		free(op->tls);
		op->tls = NULL;
	}
}

/* provision: {"size": 126..64 MiB + 125, "data_sha384": 96 hex, "sha384": 96 hex}. */
static bool parse_prov(json_t *e, cl_agent_op *op)
{
	json_t *size = json_object_get(e, "size");
	const char *dsha = json_string_value(json_object_get(e, "data_sha384"));
	const char *sha = json_string_value(json_object_get(e, "sha384"));
	cl_agent_prov_args *a = calloc(1, sizeof(*a));
	if (!a)
		return false;
	op->prov = a;
	if (!json_is_integer(size) || json_integer_value(size) <= 125 ||
	    json_integer_value(size) > (json_int_t)CL_BUNDLE_MAX + 125 || !dsha || !is_hex96(dsha) || !sha ||
	    !is_hex96(sha) || cl_hex_decode(sha, a->sha384, sizeof(a->sha384)) != CL_OK)
		return false;
	a->size = (uint64_t)json_integer_value(size);
	for (size_t i = 0; i <= 96; i++)
		a->data_sha384[i] = (dsha[i] >= 'A' && dsha[i] <= 'F') ? (char)(dsha[i] - 'A' + 'a') : dsha[i];
	return true;
}

/* suspend: {"nonce": base64 of 32 bytes}; restore: also "n" >= 1, "size"
 * (1 .. 66 MiB) and "sha384" (96 hex). */
static bool parse_state(json_t *e, cl_agent_op *op)
{
	const char *nonce = json_string_value(json_object_get(e, "nonce"));
	cl_agent_state_args *a = calloc(1, sizeof(*a));
	cl_buf b;
	bool ok;
	if (!a)
		return false;
	op->state = a;
	cl_buf_init(&b, 64);
	ok = nonce && cl_base64_decode(nonce, &b) == CL_OK && b.len == CL_AGENT_STATE_NONCE_LEN;
	if (ok)
		memcpy(a->nonce, b.data, CL_AGENT_STATE_NONCE_LEN);
	cl_buf_free(&b);
	if (!ok || op->kind == CL_OP_SUSPEND)
		return ok;
	json_t *n = json_object_get(e, "n"), *size = json_object_get(e, "size");
	const char *sha = json_string_value(json_object_get(e, "sha384"));
	if (!json_is_integer(n) || json_integer_value(n) < 1 || !json_is_integer(size) || json_integer_value(size) < 1 ||
	    json_integer_value(size) > (json_int_t)(66ll << 20) || !sha || !is_hex96(sha))
		return false;
	a->n = (int64_t)json_integer_value(n);
	a->size = (uint64_t)json_integer_value(size);
	for (size_t i = 0; i <= 96; i++)
		a->sha384[i] = (sha[i] >= 'A' && sha[i] <= 'F') ? (char)(sha[i] - 'A' + 'a') : sha[i];
	return true;
}

/* 1 = parsed, 0 = malformed but op id usable, -1 = unusable. */
static int parse_op(json_t *e, cl_agent_op *op)
{
	memset(op, 0, sizeof(*op));
	const char *id = json_string_value(json_object_get(e, "op"));
	if (!id || !cl_agent_valid_id(id))
		return -1;
	memcpy(op->op, id, strlen(id) + 1);
	const char *enc = json_string_value(json_object_get(e, "enclave"));
	const char *kind = json_string_value(json_object_get(e, "kind"));
	if (!enc || !cl_agent_valid_id(enc) || !kind)
		return 0;
	memcpy(op->enclave, enc, strlen(enc) + 1);
	if (strcmp(kind, "send") == 0)
		op->kind = CL_OP_SEND;
	else if (strcmp(kind, "recv") == 0)
		op->kind = CL_OP_RECV;
	else if (strcmp(kind, "logs") == 0)
		op->kind = CL_OP_LOGS;
	else if (strcmp(kind, "eof") == 0)
		op->kind = CL_OP_EOF;
	else if (strcmp(kind, "attest") == 0)
		op->kind = CL_OP_ATTEST;
	else if (strcmp(kind, "measure") == 0)
		op->kind = CL_OP_MEASURE;
	else if (strcmp(kind, "provision") == 0)
		op->kind = CL_OP_PROVISION;
	else if (strcmp(kind, "suspend") == 0)
		op->kind = CL_OP_SUSPEND;
	else if (strcmp(kind, "restore") == 0)
		op->kind = CL_OP_RESTORE;
	else if (strcmp(kind, "tls_generate") == 0)
		op->kind = CL_OP_TLS_GENERATE;
	else if (strcmp(kind, "tls_install") == 0)
		op->kind = CL_OP_TLS_INSTALL;
	else if (strcmp(kind, "tls_remove") == 0)
		op->kind = CL_OP_TLS_REMOVE;
	else
		return 0;
	if (!opt_u32(json_object_get(e, "max"), CL_AGENT_OP_DATA_MAX, 65536, &op->max) ||
	    !opt_u32(json_object_get(e, "wait_ms"), CL_AGENT_OP_WAIT_MAX, 0, &op->wait_ms) ||
	    !opt_u32(json_object_get(e, "deadline_ms"), CL_AGENT_OP_DEADLINE_MAX, op->wait_ms + CL_AGENT_OP_GRACE_MS,
		     &op->deadline_ms))
		return 0;
	json_t *tenant = json_object_get(e, "tenant");
	if (tenant) { /* whose budget the op counts against */
		const char *t = json_string_value(tenant);
		if (!t || !cl_agent_valid_id(t))
			return 0;
		memcpy(op->tenant, t, strlen(t) + 1);
	}
	if (op->kind == CL_OP_SEND) {
		json_t *d = json_object_get(e, "data");
		if (d && !json_is_string(d))
			return 0;
		const char *s = d ? json_string_value(d) : "";
		/* base64 of at most one frame */
		if (strlen(s) > ((size_t)CL_FRAME_MAX / 3 + 1) * 4)
			return 0;
		op->data = strdup(s);
		if (!op->data)
			return 0;
	}
	if ((op->kind == CL_OP_ATTEST || op->kind == CL_OP_MEASURE) && !parse_att(e, op))
		return 0;
	if (op->kind == CL_OP_PROVISION && !parse_prov(e, op))
		return 0;
	if ((op->kind == CL_OP_SUSPEND || op->kind == CL_OP_RESTORE) && !parse_state(e, op))
		return 0;
	if ((op->kind == CL_OP_TLS_GENERATE || op->kind == CL_OP_TLS_INSTALL || op->kind == CL_OP_TLS_REMOVE) &&
	    !cl_agent_tls_args_parse(e, op))
		return 0;
	return 1;
}

void cl_agent_answer_free(cl_agent_answer *a)
{
	for (size_t i = 0; i < a->ncancel; i++)
		free(a->cancel[i]);
	free(a->cancel);
	for (size_t i = 0; i < a->nops; i++)
		cl_agent_op_clear(&a->ops[i]);
	free(a->ops);
	free(a->desired);
	for (size_t i = 0; i < a->nfw_ops; i++)
		free(a->fw_ops[i].data);
	free(a->fw_ops);
	for (size_t i = 0; i < a->nbad_ops; i++)
		free(a->bad_ops[i]);
	free(a->bad_ops);
	memset(a, 0, sizeof(*a));
}

static cl_err parse_ops(json_t *ops, cl_agent_answer *out)
{
	if (!ops || json_is_null(ops))
		return CL_OK;
	CL_ENSURE(json_is_array(ops), CL_EINVAL, "sync answer: ops is not an array");
	size_t n = json_array_size(ops);
	CL_ENSURE(n <= MAX_OPS, CL_ETOOBIG, "sync answer: more than %d ops", MAX_OPS);
	if (n == 0)
		return CL_OK;
	out->ops = calloc(n, sizeof(*out->ops));
	out->bad_ops = calloc(n, sizeof(*out->bad_ops));
	if (!out->ops || !out->bad_ops)
		return cl_errorf(CL_ENOMEM, "sync answer: out of memory");
	for (size_t i = 0; i < n; i++) {
		cl_agent_op op;
		int r = parse_op(json_array_get(ops, i), &op);
		if (r == 1) {
			out->ops[out->nops++] = op;
		} else {
			cl_agent_op_clear(&op);
			if (r == 0 && !(out->bad_ops[out->nbad_ops] = strdup(op.op)))
				return cl_errorf(CL_ENOMEM, "sync answer: out of memory");
			if (r == 0)
				out->nbad_ops++;
		}
	}
	return CL_OK;
}

/* "cancel": ids of ops whose caller went away. An entry that is not an id
 * is skipped (there is nothing to answer); the array itself is bounded. */
static cl_err parse_cancel(json_t *cancel, cl_agent_answer *out)
{
	if (!cancel || json_is_null(cancel))
		return CL_OK;
	CL_ENSURE(json_is_array(cancel), CL_EINVAL, "sync answer: cancel is not an array");
	size_t n = json_array_size(cancel);
	CL_ENSURE(n <= MAX_OPS, CL_ETOOBIG, "sync answer: more than %d ids to cancel", MAX_OPS);
	if (n == 0)
		return CL_OK;
	out->cancel = calloc(n, sizeof(*out->cancel));
	if (!out->cancel)
		return cl_errorf(CL_ENOMEM, "sync answer: out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *id = json_string_value(json_array_get(cancel, i));
		if (!id || !cl_agent_valid_id(id))
			continue;
		if (!(out->cancel[out->ncancel] = strdup(id)))
			return cl_errorf(CL_ENOMEM, "sync answer: out of memory");
		out->ncancel++;
	}
	return CL_OK;
}

/* "attestation_serial": absent, null, or the hex serial of the host's
 * newest valid attestation certificate (compared with the one it holds). */
static cl_err parse_att_serial(json_t *v, cl_agent_answer *out)
{
	if (!v) {
		out->att_serial_state = CL_ATT_SERIAL_ABSENT;
		return CL_OK;
	}
	if (json_is_null(v)) {
		out->att_serial_state = CL_ATT_SERIAL_NULL;
		return CL_OK;
	}
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;
	CL_ENSURE(n >= 1 && n <= CL_AGENT_SERIAL_MAX - 1, CL_EINVAL,
		  "sync answer: attestation_serial is not a hex serial of 1..40 digits");
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int d = cl_hex_digit(s[i]);
		CL_ENSURE(d >= 0, CL_EINVAL, "sync answer: attestation_serial is not hex");
		if (k == 0 && d == 0 && i + 1 < n)
			continue; /* leading zeros: the same serial */
		out->att_serial[k++] = "0123456789abcdef"[d];
	}
	out->att_serial[k] = '\0';
	out->att_serial_state = CL_ATT_SERIAL_SET;
	return CL_OK;
}

cl_err cl_agent_answer_parse(const char *text, size_t len, cl_agent_answer *out)
{
	memset(out, 0, sizeof(*out));
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	cl_err err = CL_OK;
	if (!root || !json_is_object(root)) {
		err = cl_errorf(CL_EINVAL, "sync answer: not a JSON object");
		goto out;
	}
	json_t *gen = json_object_get(root, "generation");
	json_t *encs = json_object_get(root, "enclaves");
	if (!json_is_integer(gen) || json_integer_value(gen) < 0) {
		err = cl_errorf(CL_EINVAL, "sync answer: generation missing or negative");
		goto out;
	}
	out->generation = json_integer_value(gen);
	if (!json_is_array(encs)) {
		err = cl_errorf(CL_EINVAL, "sync answer: enclaves is not an array");
		goto out;
	}
	size_t n = json_array_size(encs);
	if (n > MAX_DESIRED) {
		err = cl_errorf(CL_ETOOBIG, "sync answer: more than %d enclaves", MAX_DESIRED);
		goto out;
	}
	if (n) {
		out->desired = calloc(n, sizeof(*out->desired));
		if (!out->desired) {
			err = cl_errorf(CL_ENOMEM, "sync answer: out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		CL_GUARD_OUT(err, parse_desired(json_array_get(encs, i), i, &out->desired[i]));
		out->ndesired++;
	}
	CL_GUARD_OUT(err, parse_ops(json_object_get(root, "ops"), out));
	CL_GUARD_OUT(err, parse_cancel(json_object_get(root, "cancel"), out));
	CL_GUARD_OUT(err, parse_att_serial(json_object_get(root, "attestation_serial"), out));
	CL_GUARD_OUT(err, cl_agent_fw_answer_parse(root, out));
out:
	json_decref(root);
	if (err != CL_OK)
		cl_agent_answer_free(out);
	return err;
}

cl_err cl_agent_register_parse(const char *text, size_t len, char *host_id, size_t idlen, char *token,
			       size_t toklen)
{
	json_t *root = json_loadb(text, len, 0, NULL);
	const char *id = json_string_value(json_object_get(root, "host_id"));
	const char *tok = json_string_value(json_object_get(root, "host_token"));
	cl_err err = CL_OK;
	if (!id || !cl_agent_valid_id(id) || strlen(id) >= idlen)
		err = cl_errorf(CL_EPROTO, "register answer: host_id missing or invalid");
	else if (!tok || tok[0] == '\0' || strlen(tok) >= toklen || strpbrk(tok, "\r\n"))
		err = cl_errorf(CL_EPROTO, "register answer: host_token missing or invalid");
	if (err == CL_OK) {
		memcpy(host_id, id, strlen(id) + 1);
		memcpy(token, tok, strlen(tok) + 1);
	}
	if (root && tok) /* jansson's copy of the token */
		explicit_bzero((char *)tok, strlen(tok));
	json_decref(root);
	return err;
}

void cl_agent_error_message(const char *text, size_t len, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	out[0] = '\0';
	json_t *root = json_loadb(text, len, 0, NULL);
	json_t *e = json_object_get(root, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *code = json_string_value(json_object_get(e, "code"));
	if (!msg)
		msg = json_string_value(e);
	if (msg) {
		if (code)
			snprintf(out, outlen, "%s (%s)", msg, code);
		else
			snprintf(out, outlen, "%s", msg);
	} else {
		size_t n = len < outlen - 1 ? len : outlen - 1;
		for (size_t i = 0; i < n; i++) /* printable only */
			out[i] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
		out[n] = '\0';
	}
	json_decref(root);
}
