/* api_provision.c — provisioning a bundle into an enclave that awaits one
 * (docs/provisioning.md, docs/api/enclaves-provision.md):
 *
 *   POST /v1/enclaves/{id}/provision {upload, sha384}   tenant: a job
 *   GET  /v1/hosts/{id}/ops/{op}/data                  the op's host: the ciphertext
 *
 * The control plane carries ciphertext only: the upload holds the bundle
 * encrypted by the client to the enclave's attested key; its bytes stay in
 * the upload's file, kept open by the op (the upload itself is removed at
 * once, so its quota is free again), and are served to the enclave's host
 * alone while the op is in flight. `sha384` is the digest of the plaintext
 * tar, handed to cloister-init, which refuses a bundle that does not match.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/upload.h"
#include "control/validate.h"

#define WRAP_OVERHEAD 125 /* common/wrap.h CL_WRAP_OVERHEAD: E, iv, tag */
#define PROVISION_BUDGET_MS 300000 /* a 64 MiB transfer and install, with room */
#define MIB (1024 * 1024)

static bool hex96(const char *s)
{
	if (!s || strlen(s) != 96)
		return false;
	for (size_t i = 0; i < 96; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

cl_err ctl_parse_provision(json_t *body, const char **upload, const char **sha384)
{
	const char *k;
	json_t *v;
	CL_ENSURE(json_is_object(body), CL_EINVAL, "the body must be a JSON object");
	json_object_foreach(body, k, v)
	{
		CL_ENSURE(strcmp(k, "upload") == 0 || strcmp(k, "sha384") == 0, CL_EINVAL,
			  "provision: unknown field \"%.32s\"", k);
	}
	*upload = json_string_value(json_object_get(body, "upload"));
	*sha384 = json_string_value(json_object_get(body, "sha384"));
	CL_ENSURE(*upload && ctl_upload_valid_id(*upload), CL_EINVAL, "field \"upload\" must be an upload id");
	CL_ENSURE(hex96(*sha384), CL_EINVAL,
		  "field \"sha384\" must be the SHA-384 of the bundle's tar: 96 lower-case hex digits");
	return CL_OK;
}

/* The enclave's /tmp (a quarter of its memory) must hold the tar twice:
 * decrypted into staging, then extracted beside it. */
static cl_err check_room(const ctl_enclave *e, int64_t ct_size)
{
	int64_t tar = ct_size - WRAP_OVERHEAD;
	int64_t tmp = e->memory_mib * MIB / 4, need = 2 * tar + MIB;
	if (need <= tmp)
		return CL_OK;
	int64_t mib = (4 * need + MIB - 1) / MIB;
	return cl_errorf(CL_EINVAL,
			 "too_large: the enclave's /tmp (a quarter of its memory: %lld MiB) cannot stage this bundle "
			 "(%lld MiB: twice the tar and 1 MiB); create the enclave with memory_mib >= %lld",
			 (long long)(tmp / MIB), (long long)((need + MIB - 1) / MIB), (long long)mib);
}

void ctl_enclave_provision(ctl_req *r, ctl_enclave *e)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL, *fields = NULL;
	const char *upload_id = NULL, *sha = NULL;
	ctl_upload up;
	ctl_host h = {0};
	ctl_job job;
	int fd = -1;
	size_t size = 0;
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_provision(body, &upload_id, &sha));
	if (!e->await_bundle) {
		err = cl_errorf(CL_ECONFLICT, "not_awaiting_bundle: the enclave was not created with await_bundle");
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_host_get(srv->store, e->host_id, &h));
	if (strcmp(h.state, "ready") != 0 || strcmp(e->state, "running") != 0) {
		err = cl_errorf(CL_EUNAVAIL, "the enclave is %s on a host that is %s: it must be running", e->state,
				h.state);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_upload_open(r, upload_id, CL_BUNDLE_MAX + WRAP_OVERHEAD, &fd, &size));
	if (ctl_store_upload_get(srv->store, upload_id, &up) != CL_OK) {
		err = cl_errorf(CL_ENOTFOUND, "upload %s not found", upload_id);
		goto out;
	}
	if (size <= WRAP_OVERHEAD) {
		err = cl_errorf(CL_EINVAL, "the upload is %zu bytes: not a wrapped bundle (%d bytes of overhead "
					   "and the ciphertext)", size, WRAP_OVERHEAD);
		goto out;
	}
	CL_GUARD_OUT(err, check_room(e, (int64_t)size));
	fields = json_pack("{s:I,s:s,s:s}", "size", (json_int_t)size, "data_sha384", up.sha384, "sha384", sha);
	if (!fields) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	if ((err = ctl_job_new(srv, "provision", e, false, &job)) != CL_OK ||
	    (err = ctl_store_commit(srv->store)) != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	err = ctl_op_submit_job(srv, e, "provision", fields, job.id, fd, (int64_t)size, up.sha384,
				PROVISION_BUDGET_MS);
	fields = NULL;
	if (err != CL_OK)
		goto out;
	fd = -1; /* the op's now */
	/* the op keeps the file open: the upload (row, name, quota) goes now */
	if (ctl_upload_remove(r, upload_id) != CL_OK)
		cl_warn("provision: upload not removed upload=%s: %s", upload_id, cl_error_detail());
	cl_info("provision requested enclave=%s job=%s bytes=%zu", e->id, job.id, size);
	ctl_reply_json(srv, r->req, 202, json_pack("{s:o}", "job", ctl_job_json(&job)));
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	if (fd >= 0)
		close(fd);
	ctl_host_clear(&h);
	json_decref(fields);
	json_decref(body);
}

void ctl_provision_data(ctl_req *r, const char *host_id, const char *op_id)
{
	ctl_server *srv = r->srv;
	int fd = -1;
	int64_t size = 0;
	char sha[97];
	if (r->who.kind != CTL_WHO_HOST || strcmp(r->who.host_id, host_id) != 0) {
		cl_warn("denied reason=forbidden action=op-data token=%s", r->who.token_id);
		ctl_reply_error(srv, r->req, CL_EPERM, "only the op's host may fetch its data");
		return;
	}
	if (!ctl_valid_id(op_id) || ctl_op_data(srv, host_id, op_id, &fd, &size, sha) != CL_OK) {
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "op data not found");
		return;
	}
	struct evbuffer *out = evbuffer_new();
	if (!out || evbuffer_add_file(out, fd, 0, size) != 0) {
		close(fd); /* evbuffer_add_file failed or was never called: still ours */
		if (out)
			evbuffer_free(out);
		ctl_reply_error(srv, r->req, CL_EIO, "op data is unreadable");
		return;
	}
	struct evkeyvalq *hd = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(hd, "Content-Type", "application/octet-stream");
	evhttp_add_header(hd, "Cache-Control", "no-store");
	evhttp_add_header(hd, "X-Cloister-Sha384", sha);
	ctl_count_status(srv, 200);
	evhttp_send_reply(r->req, 200, "OK", out);
	evbuffer_free(out);
	cl_info("op data sent host=%s op=%s size=%lld", host_id, op_id, (long long)size);
}
