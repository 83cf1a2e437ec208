/* api_suspend.c — the control plane's half of suspend (docs/suspend.md
 * "Suspend, step by step"):
 *
 *   POST /v1/enclaves/{id}/suspend                 tenant: a job, op "suspend" {nonce}
 *   POST /v1/hosts/{id}/ops/{op}/state-key         the op's host: {document} -> {n, wrapped}
 *   PUT  /v1/hosts/{id}/ops/{op}/data?offset=N     the op's host: the blob, in chunks; the
 *        [&length=L&sha384=H]                      last one (with length and sha384) commits
 *
 * The state key K_n is made, sealed and wrapped by state_key.c
 * (ctl_state_issue); the blob goes into the blob store (state_blob.c) and
 * is committed with the key in one transaction, the enclave then
 * `suspended` (its sandbox no longer desired: the host removes it). A
 * suspend that does not commit drops its pending key (ops.c job_end).
 *
 * Not yet in the route table (routes.c): the agent's half is the next
 * step, and only what works end to end may be reachable.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/state.h"
#include "common/util.h"
#include "control/api_attest.h"
#include "control/control.h"
#include "control/monitor.h"
#include "control/ops_priv.h"
#include "control/state_blob.h"
#include "control/state_key.h"
#include "control/store_state.h"
#include "control/suspend.h"
#include "control/validate.h"
#include "init/state_io.h"

#define SUSPEND_BUDGET_MS 300000 /* a 64 MiB state sealed, streamed and stored, with room */
#define NONCE_LEN 32
#define MIB (1024 * 1024)
/* Set err and jump to out unless cond holds. */
#define ENSURE_OUT(err, cond, code, ...) CL_GUARD_OUT(err, (cond) ? CL_OK : cl_errorf((code), __VA_ARGS__))

uint64_t ctl_suspend_blob_max(const ctl_enclave *e)
{
	uint64_t cap = CL_STATE_HEADER_MAX + CL_INIT_STATE_TAR_MAX + CL_STATE_TAG_LEN;
	uint64_t tmp = (uint64_t)(e->memory_mib > 0 ? e->memory_mib : 0) * MIB / 4;
	return tmp < cap ? tmp : cap;
}

cl_err ctl_suspend_admit(ctl_server *srv, const ctl_enclave *e)
{
	ctl_host h = {0};
	char job[CTL_ID_MAX];
	cl_err err = CL_OK;
	CL_ENSURE(e->suspendable, CL_ECONFLICT, "not_suspendable: the enclave was not created with --suspendable");
	CL_ENSURE(strcmp(e->state, "suspended") != 0, CL_ECONFLICT, "not_suspendable: the enclave is already suspended");
	CL_ENSURE(!ctl_op_job_busy(srv, e->id, job), CL_ECONFLICT,
		  "busy: a provision, suspend or restore of the enclave is in progress (job %s)", job);
	CL_GUARD(ctl_store_host_get(srv->store, e->host_id, &h));
	if (strcmp(h.state, "ready") != 0 || strcmp(e->state, "running") != 0 || strcmp(e->desired, "running") != 0)
		err = cl_errorf(CL_EUNAVAIL, "the enclave is %s on a host that is %s: it must be running", e->state,
				h.state);
	ctl_host_clear(&h);
	return err;
}

void ctl_enclave_suspend(ctl_req *r, ctl_enclave *e)
{
	ctl_server *srv = r->srv;
	uint8_t nonce[NONCE_LEN];
	char *b64 = NULL;
	json_t *fields = NULL;
	ctl_job job;
	cl_err err;
	CL_GUARD_OUT(err, ctl_suspend_admit(srv, e));
	if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
		err = cl_errorf(CL_EINTERNAL, "no random bytes for a nonce");
		goto out;
	}
	CL_GUARD_OUT(err, cl_base64_encode(nonce, sizeof(nonce), &b64));
	if (!(fields = json_pack("{s:s}", "nonce", b64))) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	if ((err = ctl_job_new(srv, "suspend", e, false, &job)) != CL_OK ||
	    (err = ctl_store_commit(srv->store)) != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	err = ctl_op_submit_job(srv, e, "suspend", fields, job.id, -1, 0, "", SUSPEND_BUDGET_MS);
	fields = NULL;
	if (err != CL_OK)
		goto out;
	cl_info("suspend requested enclave=%s job=%s", e->id, job.id);
	ctl_reply_json(srv, r->req, 202, json_pack("{s:o}", "job", ctl_job_json(&job)));
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	free(b64);
	json_decref(fields);
}

cl_err ctl_suspend_commit(ctl_server *srv, const char *enclave_id, int64_t n, uint64_t size, const char *sha384,
			  const char *rel)
{
	char old[CTL_STATE_PATH_MAX] = "";
	ctl_enclave e;
	cl_err err;
	CL_GUARD(ctl_store_begin(srv->store));
	CL_GUARD_OUT(err, ctl_store_state_commit(srv->store, enclave_id, n, size, sha384, rel,
						 (int64_t)cl_now_wall_ms(), old));
	CL_GUARD_OUT(err, ctl_store_enclave_get(srv->store, enclave_id, &e));
	snprintf(e.state, sizeof(e.state), "suspended");
	snprintf(e.desired, sizeof(e.desired), "suspended");
	e.error[0] = '\0';
	e.updated_at = (int64_t)cl_now_wall_ms();
	CL_GUARD_OUT(err, ctl_store_enclave_update(srv->store, &e));
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	if (old[0] && ctl_state_blob_remove(srv->data_dir, old) != CL_OK)
		cl_warn("suspend: previous blob not removed enclave=%s path=%s: %s", enclave_id, old, cl_error_detail());
	cl_info("enclave suspended enclave=%s n=%lld bytes=%llu", enclave_id, (long long)n, (unsigned long long)size);
	return CL_OK;
out:
	ctl_store_rollback(srv->store);
	return err;
}

/* The monitor's SEAL/UNSEAL for state_key.c. */
static cl_err mon_seal(void *ctx, const char *aad, const uint8_t *pt, size_t n, cl_buf *out)
{
	return ctl_mon_seal(ctx, aad, pt, n, out);
}

static cl_err mon_unseal(void *ctx, const char *aad, const uint8_t *blob, size_t n, cl_buf *out)
{
	return ctl_mon_unseal(ctx, aad, blob, n, out);
}

/* Fails op's job with "reason: detail" (a refusal the control plane made). */
static void fail_job(ctl_server *srv, const ctl_op *op, const char *reason, const char *detail)
{
	char why[CTL_MSG_MAX];
	size_t rl = strlen(reason);
	bool named = strncmp(detail, reason, rl) == 0 && detail[rl] == ':'; /* the detail names it already */
	int k = named ? 0 : snprintf(why, sizeof(why), "%s: ", reason);
	if (k >= 0 && (size_t)k < sizeof(why)) { /* a long detail is cut */
		size_t room = sizeof(why) - (size_t)k - 1, dl = strnlen(detail, room);
		memcpy(why + k, detail, dl);
		why[(size_t)k + dl] = '\0';
	}
	if (ctl_job_finish_id(srv, op->job_id, false, why) != CL_OK)
		cl_warn("job not finished job=%s", op->job_id);
	if (strcmp(op->kind, "restore") == 0)
		ctl_restore_revert(srv, op->enclave_id, why);
}

/* The op of the route, checked to be the caller's (host token of host_id). */
static ctl_op *route_op(ctl_req *r, const char *host_id, const char *op_id, const char *kind)
{
	if (r->who.kind != CTL_WHO_HOST || strcmp(r->who.host_id, host_id) != 0) {
		cl_warn("denied reason=forbidden action=op-state token=%s", r->who.token_id);
		ctl_reply_error(r->srv, r->req, CL_EPERM, "only the op's host may do this");
		return NULL;
	}
	ctl_op *op = ctl_valid_id(op_id) ? ctl_op_job_find(r->srv, host_id, op_id) : NULL;
	if (!op || (kind && strcmp(op->kind, kind) != 0)) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such suspend or restore op (it may have ended)");
		return NULL;
	}
	return op;
}

void ctl_op_state_key(ctl_req *r, const char *host_id, const char *op_id)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	cl_buf doc, wrapped;
	uint8_t nonce[NONCE_LEN], *root = NULL;
	size_t root_len = 0;
	const char *reason = NULL;
	char *wb64 = NULL;
	int64_t n = 0;
	cl_err err;
	cl_buf_init(&doc, 4096);
	cl_buf_init(&wrapped, CTL_STATE_KEY_LEN + CL_WRAP_OVERHEAD);
	ctl_op *op = route_op(r, host_id, op_id, NULL);
	if (!op)
		goto done;
	bool suspend = strcmp(op->kind, "suspend") == 0;
	if (!suspend && strcmp(op->kind, "restore") != 0) {
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "no such suspend or restore op (it may have ended)");
		goto done;
	}
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	const char *d64 = json_string_value(json_object_get(body, "document"));
	ENSURE_OUT(err, d64 && json_object_size(body) == 1, CL_EINVAL,
		      "the body must be {\"document\": the base64 attestation document}");
	CL_GUARD_OUT(err, cl_base64_decode(d64, &doc));
	ENSURE_OUT(err, doc.len > 0 && doc.len <= CTL_STATE_DOC_MAX, CL_EINVAL, "the document is empty or too large");
	/* the op's nonce, single use: one key per op */
	cl_buf nb;
	cl_buf_init(&nb, NONCE_LEN);
	const char *n64 = json_string_value(json_object_get(op->fields, "nonce"));
	err = n64 ? cl_base64_decode(n64, &nb) : CL_EINTERNAL;
	if (err == CL_OK && nb.len == NONCE_LEN)
		memcpy(nonce, nb.data, NONCE_LEN);
	else
		err = cl_errorf(CL_EINTERNAL, "the op has no nonce");
	cl_buf_free(&nb);
	CL_GUARD_OUT(err, err);
	if (op->state_n > 0 && suspend) {
		reason = "stale_nonce";
		err = cl_errorf(CL_EPERM, "the op's nonce was used already");
		goto out;
	}
	CL_GUARD_OUT(err, ctl_pem_to_der(srv->root_pem, &root, &root_len));
	ctl_state_sealer s = {.seal = mon_seal, .unseal = mon_unseal, .ctx = srv->mon};
	ctl_state_req rq = {.tenant_id = op->tenant_id,
			    .enclave_id = op->enclave_id,
			    .host_id = host_id,
			    .nonce = nonce,
			    .root_der = root,
			    .root_len = root_len,
			    .now_ms = (int64_t)cl_now_wall_ms()};
	if (suspend) {
		err = ctl_state_issue(srv->store, &s, &rq, doc.data, doc.len, &n, &wrapped, &reason);
	} else {
		n = op->state_n; /* a restore's n: the blob it was sent */
		err = ctl_state_release(srv->store, &s, &rq, doc.data, doc.len, n, &wrapped, &reason);
	}
	if (err != CL_OK)
		goto out;
	if (suspend)
		op->state_n = n;
	CL_GUARD_OUT(err, cl_base64_encode(wrapped.data, wrapped.len, &wb64));
	cl_info("state key %s enclave=%s n=%lld op=%s", suspend ? "issued" : "released", op->enclave_id, (long long)n,
		op->id);
	ctl_reply_json(srv, r->req, 200, json_pack("{s:I,s:s}", "n", (json_int_t)n, "wrapped", wb64));
out:
	if (err != CL_OK && reason) {
		char detail[CTL_MSG_MAX];
		snprintf(detail, sizeof(detail), "%s", cl_error_detail());
		cl_warn("state key refused enclave=%s op=%s reason=%s: %s", op->enclave_id, op->id, reason, detail);
		fail_job(srv, op, reason, detail);
		ctl_reply_json(srv, r->req, 403,
			       json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "forbidden", "reason", reason, "message",
					 detail));
	} else if (err != CL_OK) {
		ctl_reply_err(srv, r->req, err);
	}
done:
	free(root);
	free(wb64);
	cl_buf_free(&wrapped);
	cl_buf_free(&doc);
	json_decref(body);
}

/* ?name= as a non-negative integer into *v; false if absent. */
static cl_err query_u64(ctl_req *r, const char *name, bool *present, uint64_t *v)
{
	const char *s = evhttp_find_header(&r->query, name);
	*present = s != NULL;
	if (!s)
		return CL_OK;
	char *end = NULL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	CL_ENSURE(*s >= '0' && *s <= '9' && end && !*end && errno == 0, CL_EINVAL,
		  "?%s must be a non-negative integer", name);
	*v = x;
	return CL_OK;
}

void ctl_op_data_put(ctl_req *r, const char *host_id, const char *op_id)
{
	ctl_server *srv = r->srv;
	ctl_enclave e;
	uint64_t off = 0, length = 0;
	bool has_off, has_len;
	char sha_hex[CTL_STATE_SHA_HEX + 1];
	cl_err err;
	ctl_op *op = route_op(r, host_id, op_id, "suspend");
	if (!op)
		return;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	const char *sha = evhttp_find_header(&r->query, "sha384");
	CL_GUARD_OUT(err, query_u64(r, "offset", &has_off, &off));
	CL_GUARD_OUT(err, query_u64(r, "length", &has_len, &length));
	ENSURE_OUT(err, has_off, CL_EINVAL, "?offset is required");
	ENSURE_OUT(err, has_len == (sha != NULL), CL_EINVAL, "?length and ?sha384 go together (the last chunk)");
	ENSURE_OUT(err, op->state_n > 0, CL_ECONFLICT, "no state key was issued for this op: ask for one first");
	if (!op->blob) {
		ENSURE_OUT(err, off == 0, CL_ECONFLICT, "offset: the control plane has 0 bytes of this blob");
		CL_GUARD_OUT(err, ctl_store_enclave_get(srv->store, op->enclave_id, &e));
		ctl_state_blob_w *w = calloc(1, sizeof(*w));
		ENSURE_OUT(err, w, CL_ENOMEM, "out of memory");
		if ((err = ctl_state_blob_open(srv->data_dir, op->enclave_id, op->state_n, ctl_suspend_blob_max(&e), w)) !=
		    CL_OK) {
			free(w);
			goto out;
		}
		op->blob = w;
	}
	ENSURE_OUT(err, off == op->blob->written, CL_ECONFLICT, "offset: the control plane has %llu bytes of this blob",
		      (unsigned long long)op->blob->written);
	if (len > 0) {
		const uint8_t *p = evbuffer_pullup(in, -1);
		ENSURE_OUT(err, p, CL_ENOMEM, "out of memory");
		err = ctl_state_blob_write(op->blob, p, len);
		if (err != CL_OK) { /* aborted: the blob starts over, or the op ends */
			free(op->blob);
			op->blob = NULL;
			goto out;
		}
	}
	if (!has_len) {
		ctl_reply_json(srv, r->req, 200, json_pack("{s:I}", "received", (json_int_t)op->blob->written));
		return;
	}
	ctl_state_blob_w *w = op->blob;
	op->blob = NULL;
	err = ctl_state_blob_finish(w, length, sha, sha_hex);
	char rel[CTL_STATE_PATH_MAX];
	snprintf(rel, sizeof(rel), "%s", w->rel);
	free(w);
	if (err != CL_OK)
		goto out;
	err = ctl_suspend_commit(srv, op->enclave_id, op->state_n, length, sha_hex, rel);
	if (err != CL_OK) {
		char why[CTL_MSG_MAX];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		if (ctl_state_blob_remove(srv->data_dir, rel) != CL_OK)
			cl_warn("suspend: uncommitted blob not removed path=%s", rel);
		cl_errorf(err, "%s", why);
		goto out;
	}
	if (ctl_job_finish_id(srv, op->job_id, true, NULL) != CL_OK)
		cl_warn("job not finished job=%s", op->job_id);
	op->job_ended = true; /* a client that saw the job end may restore at once */
	ctl_reply_json(srv, r->req, 200,
		       json_pack("{s:b,s:I,s:I}", "committed", 1, "n", (json_int_t)op->state_n, "received",
				 (json_int_t)length));
	return;
out:
	ctl_reply_err(srv, r->req, err);
}
