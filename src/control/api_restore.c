/* api_restore.c — the control plane's half of restore (docs/suspend.md
 * "Restore, step by step"):
 *
 *   POST /v1/enclaves/{id}/restore [{"host": H}]   tenant: a job, op "restore"
 *
 * The enclave (suspended, with a committed blob) is placed on H or any
 * eligible host (its level, memory and CPUs, as at create), its /tmp must
 * hold the state three times over (blob, tar, tree) plus 1 MiB; it becomes
 * desired "restoring": its host launches it awaiting a restore (the sync
 * answer's "await_restore"). The op "restore" {nonce, n, size, sha384}
 * carries the blob (GET .../ops/{op}/data); its state key is released by
 * api_suspend.c's state-key route (ctl_state_release); the op's answer is
 * the restored PCR7, which must be the suspend document's. Any failure
 * puts the enclave back to `suspended` (its new sandbox removed by its
 * host), blob and key untouched.
 *
 * Not yet in the route table (routes.c): the agent's half is the next step.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/attest.h"
#include "common/log.h"
#include "common/state.h"
#include "common/util.h"
#include "control/control.h"
#include "control/ops_priv.h"
#include "control/placement.h"
#include "control/store_state.h"
#include "control/suspend.h"
#include "control/validate.h"

#define RESTORE_BUDGET_MS 300000 /* a launch, a 64 MiB state fetched, opened and extracted, with room */
#define NONCE_LEN 32
#define MIB (1024 * 1024)

cl_err ctl_restore_room(const ctl_enclave *e, uint64_t blob_size)
{
	int64_t tmp = e->memory_mib * MIB / 4, need = 3 * (int64_t)blob_size + MIB;
	if (need <= tmp)
		return CL_OK;
	int64_t mib = (4 * need + MIB - 1) / MIB;
	return cl_errorf(CL_EINVAL,
			 "too_large: the enclave's /tmp (a quarter of its memory: %lld MiB) cannot restore this state "
			 "(%lld MiB: three times the blob and 1 MiB); it needs memory_mib >= %lld",
			 (long long)(tmp / MIB), (long long)((need + MIB - 1) / MIB), (long long)mib);
}

cl_err ctl_parse_restore(json_t *body, const char **host)
{
	const char *k;
	json_t *v;
	*host = NULL;
	if (!body)
		return CL_OK;
	CL_ENSURE(json_is_object(body), CL_EINVAL, "the body must be a JSON object");
	json_object_foreach(body, k, v)
	{
		CL_ENSURE(strcmp(k, "host") == 0, CL_EINVAL, "restore: unknown field \"%.32s\"", k);
	}
	json_t *h = json_object_get(body, "host");
	if (h && !json_is_null(h)) {
		*host = json_string_value(h);
		CL_ENSURE(*host && ctl_valid_id(*host), CL_EINVAL, "field \"host\" must be a host id");
	}
	return CL_OK;
}

cl_err ctl_restore_admit(ctl_server *srv, const ctl_enclave *e, ctl_state *st)
{
	char job[CTL_ID_MAX];
	CL_ENSURE(strcmp(e->state, "suspended") == 0 && strcmp(e->desired, "suspended") == 0, CL_ECONFLICT,
		  "not_suspended: the enclave is %s", e->state);
	CL_ENSURE(!ctl_op_job_busy(srv, e->id, job), CL_ECONFLICT,
		  "busy: a provision, suspend or restore of the enclave is in progress (job %s)", job);
	CL_GUARD(ctl_store_state_get(srv->store, e->id, st));
	CL_ENSURE(st->key_n > 0 && st->blob_path[0], CL_ECONFLICT, "not_suspended: the enclave has no stored state");
	return ctl_restore_room(e, st->blob_size);
}

cl_err ctl_restore_place(ctl_server *srv, const ctl_enclave *e, const char *want, char host_id[CTL_ID_MAX])
{
	ctl_placement_in pin = {0};
	size_t chosen = 0, one = 0;
	cl_err err;
	CL_GUARD_OUT(err, ctl_placement_load(srv, &pin));
	cl_place_request preq = {.min_level_rank = cl_level_rank(e->min_level),
				 .memory_mib = (uint64_t)e->memory_mib,
				 .cpus = (uint32_t)e->cpus};
	if (want) {
		while (one < pin.n && strcmp(pin.hosts[one].id, want) != 0)
			one++;
		if (one == pin.n) {
			err = cl_errorf(CL_ENOTFOUND, "host %s not found", want);
			goto out;
		}
		err = cl_place_choose(&pin.ph[one], 1, &preq, &chosen);
		chosen += one;
	} else {
		err = pin.n ? cl_place_choose(pin.ph, pin.n, &preq, &chosen) : cl_errorf(CL_EUNAVAIL, "no hosts registered");
	}
	if (err != CL_OK) {
		if (err != CL_EUNAVAIL)
			err = cl_errorf(CL_EUNAVAIL, "%s", cl_error_detail());
		goto out;
	}
	snprintf(host_id, CTL_ID_MAX, "%s", pin.hosts[chosen].id);
out:
	ctl_placement_free(&pin);
	return err;
}

/* e (suspended) becomes desired "restoring" on host_id, or back to
 * suspended (restoring false), in the caller's transaction. */
static cl_err set_restoring(ctl_server *srv, ctl_enclave *e, const char *host_id, bool restoring)
{
	if (host_id && strcmp(host_id, e->host_id) != 0) {
		/* placed on another host: the enclave is that host's from now on
		 * (ctl_store_enclave_update keeps host_id; the old host's desired
		 * set no longer has it since its suspend) */
		CL_GUARD(ctl_store_enclave_move(srv->store, e->id, host_id));
		snprintf(e->host_id, sizeof(e->host_id), "%s", host_id);
	}
	snprintf(e->state, sizeof(e->state), "%s", restoring ? "pending" : "suspended");
	snprintf(e->desired, sizeof(e->desired), "%s", restoring ? "restoring" : "suspended");
	e->updated_at = (int64_t)cl_now_wall_ms();
	CL_GUARD(ctl_store_enclave_update(srv->store, e));
	return ctl_store_host_bump(srv->store, e->host_id);
}

void ctl_restore_revert(ctl_server *srv, const char *enclave_id, const char *why)
{
	ctl_enclave e;
	cl_err err = ctl_store_begin(srv->store);
	if (err == CL_OK && (err = ctl_store_enclave_get(srv->store, enclave_id, &e)) == CL_OK &&
	    strcmp(e.desired, "restoring") == 0) {
		snprintf(e.error, sizeof(e.error), "%s", why ? why : "");
		err = set_restoring(srv, &e, NULL, false);
	}
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		cl_error("restore: enclave not put back to suspended enclave=%s: %s", enclave_id, cl_error_detail());
		return;
	}
	ctl_sync_wake(srv, e.host_id);
}

cl_err ctl_restore_finish(ctl_server *srv, const char *enclave_id, const char *pcr7_b64)
{
	uint8_t *doc = NULL;
	size_t len = 0;
	cl_att_doc *d = NULL;
	cl_buf got;
	ctl_enclave e;
	cl_err err;
	cl_buf_init(&got, 64);
	CL_GUARD_OUT(err, cl_base64_decode(pcr7_b64 ? pcr7_b64 : "", &got));
	if (got.len != CL_ATT_PCR_LEN) {
		err = cl_errorf(CL_EPROTO, "host: the restore's register is not %d bytes", CL_ATT_PCR_LEN);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_state_document(srv->store, enclave_id, &doc, &len));
	CL_GUARD_OUT(err, cl_att_parse(doc, len, &d));
	if (CRYPTO_memcmp(d->f.pcrs[7], got.data, CL_ATT_PCR_LEN) != 0) {
		err = cl_errorf(CL_EPERM, "pcr_mismatch: PCR7 of the restored enclave differs from the suspended one's");
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	if ((err = ctl_store_enclave_get(srv->store, enclave_id, &e)) == CL_OK && strcmp(e.desired, "restoring") != 0)
		err = cl_errorf(CL_ECONFLICT, "the enclave is no longer being restored");
	if (err == CL_OK) {
		snprintf(e.state, sizeof(e.state), "running");
		snprintf(e.desired, sizeof(e.desired), "running");
		e.error[0] = '\0';
		e.updated_at = (int64_t)cl_now_wall_ms();
		err = ctl_store_enclave_update(srv->store, &e);
	}
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK)
		ctl_store_rollback(srv->store);
	else
		cl_info("enclave restored enclave=%s host=%s", enclave_id, e.host_id);
out:
	cl_att_doc_free(d);
	free(doc);
	cl_buf_free(&got);
	return err;
}

/* The suspend number the stored blob names in its header: what the state
 * key is asked for, so that an older blob put back in place is refused
 * stale_blob by the key's release, naming both numbers. A header that does
 * not parse: dflt (the enclave then refuses the blob, bad_blob or
 * decrypt_failed). */
static int64_t blob_number(int fd, int64_t dflt)
{
	uint8_t head[CL_STATE_HEADER_MAX + CL_STATE_TAG_LEN];
	cl_state_header h;
	ssize_t got = pread(fd, head, sizeof(head), 0);
	if (got <= 0 || cl_state_header_parse(head, (size_t)got, &h) != CL_OK || h.n > INT64_MAX) {
		cl_error_clear();
		return dflt;
	}
	return (int64_t)h.n;
}

void ctl_enclave_restore(ctl_req *r, ctl_enclave *e)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL, *fields = NULL;
	const char *want = NULL;
	char host_id[CTL_ID_MAX], path[PATH_MAX + CTL_STATE_PATH_MAX + 2], *b64 = NULL;
	uint8_t nonce[NONCE_LEN];
	ctl_state *st = calloc(1, sizeof(*st));
	ctl_job job;
	int fd = -1;
	bool in_tx = false;
	cl_err err;
	CL_GUARD_OUT(err, st ? CL_OK : CL_ENOMEM);
	if (evbuffer_get_length(evhttp_request_get_input_buffer(r->req)) > 0)
		CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_restore(body, &want));
	CL_GUARD_OUT(err, ctl_restore_admit(srv, e, st));
	CL_GUARD_OUT(err, ctl_restore_place(srv, e, want, host_id));
	snprintf(path, sizeof(path), "%s/%s", srv->data_dir, st->blob_path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		err = cl_errorf(CL_EINTERNAL, "the enclave's stored state is unreadable: %s", strerror(errno));
		goto out;
	}
	int64_t n = blob_number(fd, st->key_n);
	if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
		err = cl_errorf(CL_EINTERNAL, "no random bytes for a nonce");
		goto out;
	}
	CL_GUARD_OUT(err, cl_base64_encode(nonce, sizeof(nonce), &b64));
	fields = json_pack("{s:s,s:I,s:I,s:s}", "nonce", b64, "n", (json_int_t)n, "size",
			   (json_int_t)st->blob_size, "sha384", st->blob_sha384);
	CL_GUARD_OUT(err, fields ? CL_OK : CL_ENOMEM);
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	in_tx = true;
	CL_GUARD_OUT(err, set_restoring(srv, e, host_id, true));
	CL_GUARD_OUT(err, ctl_job_new(srv, "restore", e, false, &job));
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	in_tx = false;
	err = ctl_op_submit_job(srv, e, "restore", fields, job.id, fd, (int64_t)st->blob_size, st->blob_sha384,
				RESTORE_BUDGET_MS);
	fields = NULL;
	if (err != CL_OK) {
		char why[256];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		ctl_restore_revert(srv, e->id, why);
		cl_errorf(err, "%s", why);
		goto out;
	}
	fd = -1; /* the op's now */
	ctl_op *op = ctl_op_by_job(srv, job.id);
	if (op)
		op->state_n = n;
	ctl_sync_wake(srv, host_id);
	cl_info("restore requested enclave=%s host=%s job=%s n=%lld", e->id, host_id, job.id, (long long)n);
	ctl_reply_json(srv, r->req, 202, json_pack("{s:o}", "job", ctl_job_json(&job)));
out:
	if (in_tx)
		ctl_store_rollback(srv->store);
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	if (fd >= 0)
		close(fd);
	if (st)
		OPENSSL_cleanse(st, sizeof(*st));
	free(st);
	free(b64);
	json_decref(fields);
	json_decref(body);
}
