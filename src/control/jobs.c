/* jobs.c — long operations on enclaves: created with a state change, moved
 * along by what hosts report in their syncs. GET /v1/jobs/{id} (and its
 * waits) is jobs_wait.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/state_blob.h"
#include "control/store_priv.h"
#include "control/store_state.h"
#include "control/store_tls.h"
#include "control/validate.h"

cl_err ctl_job_new(ctl_server *srv, const char *kind, const ctl_enclave *e, bool done, ctl_job *j)
{
	memset(j, 0, sizeof(*j));
	CL_GUARD(cl_random_id("job-", j->id, sizeof(j->id)));
	snprintf(j->kind, sizeof(j->kind), "%s", kind);
	snprintf(j->enclave_id, sizeof(j->enclave_id), "%s", e->id);
	snprintf(j->tenant_id, sizeof(j->tenant_id), "%s", e->tenant_id);
	snprintf(j->state, sizeof(j->state), "%s", done ? "succeeded" : "pending");
	j->progress = done ? 100 : 0;
	j->created_at = j->updated_at = (int64_t)cl_now_wall_ms();
	return ctl_store_job_insert(srv->store, j);
}

json_t *ctl_job_json(const ctl_job *j)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:o}", "id", j->id, "kind", j->kind, "enclave_id",
			 j->enclave_id, "state", j->state, "progress", (json_int_t)j->progress, "error",
			 j->error[0] ? json_string(j->error) : json_null(), "created_at", ctl_json_time(j->created_at),
			 "updated_at", ctl_json_time(j->updated_at));
}

static cl_err finish(ctl_server *srv, ctl_job *j, bool ok, const char *error)
{
	snprintf(j->state, sizeof(j->state), "%s", ok ? "succeeded" : "failed");
	j->progress = 100;
	snprintf(j->error, sizeof(j->error), "%s", ok ? "" : (error && error[0] ? error : "failed"));
	j->updated_at = (int64_t)cl_now_wall_ms();
	ctl_jobs_wake(srv, j->id); /* its waits read it after this transaction ends */
	cl_info("job finished job=%s kind=%s enclave=%s state=%s", j->id, j->kind, j->enclave_id, j->state);
	return ctl_store_job_update(srv->store, j);
}

cl_err ctl_job_finish_tx(ctl_server *srv, const char *job_id, bool ok, const char *error)
{
	ctl_job j;
	CL_GUARD(ctl_store_job_get(srv->store, job_id, &j));
	if (strcmp(j.state, "pending") == 0 || strcmp(j.state, "running") == 0)
		CL_GUARD(finish(srv, &j, ok, error));
	return CL_OK;
}

cl_err ctl_job_finish_id(ctl_server *srv, const char *job_id, bool ok, const char *error)
{
	cl_err err;
	CL_GUARD(ctl_store_begin(srv->store));
	CL_GUARD_OUT(err, ctl_job_finish_tx(srv, job_id, ok, error));
	return ctl_store_commit(srv->store);
out:
	ctl_store_rollback(srv->store);
	return err;
}

cl_err ctl_jobs_fail_interrupted(ctl_server *srv, const char *kind)
{
	sqlite3_stmt *q;
	int changes = 0;
	CL_GUARD(CTL_PREP(srv->store, &q,
			  "UPDATE jobs SET state='failed', progress=100, error='interrupted by a control plane restart; "
			  "run it again', updated_at=? WHERE kind=? AND state IN ('pending','running')",
			  CTL_INT((int64_t)cl_now_wall_ms()), CTL_TEXT(kind)));
	CL_GUARD(ctl_store_run(srv->store, q, "jobs", &changes));
	if (changes)
		cl_warn("jobs interrupted by a restart failed kind=%s n=%d", kind, changes);
	return CL_OK;
}

/* Keeps only printable ASCII of a host-provided message. */
static void clean_copy(char *dst, size_t n, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < n; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

cl_err ctl_jobs_observe(ctl_server *srv, ctl_enclave *e, const char *state, int64_t memory_mib, const char *error,
			bool has_exit, int64_t exit_status)
{
	if (strcmp(e->desired, "gone") == 0)
		return CL_OK; /* the host will be told to destroy it; ctl_jobs_gone finishes */
	char new_state[16], new_error[CTL_MSG_MAX] = "";
	bool failed = strcmp(state, "failed") == 0, exited = strcmp(state, "exited") == 0;
	snprintf(new_state, sizeof(new_state), "%s", exited ? "stopped" : state);
	if (failed)
		clean_copy(new_error, sizeof(new_error), error && error[0] ? error : "failed on host");
	else if (exited && has_exit && exit_status != 0)
		snprintf(new_error, sizeof(new_error), "exited with status %lld", (long long)exit_status);
	if (strcmp(new_state, e->state) != 0 || strcmp(new_error, e->error) != 0) {
		snprintf(e->state, sizeof(e->state), "%s", new_state);
		snprintf(e->error, sizeof(e->error), "%s", new_error);
		e->updated_at = (int64_t)cl_now_wall_ms();
		CL_GUARD(ctl_store_enclave_update(srv->store, e));
	}
	ctl_job *jobs = NULL;
	size_t n = 0;
	cl_err err = CL_OK;
	CL_GUARD(ctl_store_job_active(srv->store, e->id, &jobs, &n));
	for (size_t i = 0; i < n && err == CL_OK; i++) {
		ctl_job *j = &jobs[i];
		if (failed && strcmp(j->kind, "destroy") != 0) {
			err = finish(srv, j, false, new_error);
			continue;
		}
		bool running = strcmp(state, "running") == 0;
		bool done = false;
		if (strcmp(j->kind, "create") == 0 || strcmp(j->kind, "start") == 0)
			done = running || exited;
		else if (strcmp(j->kind, "stop") == 0)
			done = strcmp(state, "stopped") == 0 || exited;
		else if (strcmp(j->kind, "resize") == 0)
			done = running && memory_mib == e->memory_mib;
		if (done)
			err = finish(srv, j, true, NULL);
	}
	free(jobs);
	return err;
}

cl_err ctl_jobs_gone(ctl_server *srv, const ctl_enclave *e)
{
	ctl_job *jobs = NULL;
	size_t n = 0;
	cl_err err = CL_OK;
	CL_GUARD(ctl_store_job_active(srv->store, e->id, &jobs, &n));
	for (size_t i = 0; i < n && err == CL_OK; i++)
		err = finish(srv, &jobs[i], strcmp(jobs[i].kind, "destroy") == 0, "enclave was destroyed");
	free(jobs);
	CL_GUARD(err);
	cl_info("enclave destroyed enclave=%s host=%s", e->id, e->host_id);
	return ctl_enclave_delete(srv, e->id);
}

cl_err ctl_enclave_delete(ctl_server *srv, const char *id)
{
	char blob[CTL_STATE_PATH_MAX] = "";
	ctl_state *row = calloc(1, sizeof(*row));
	CL_ENSURE(row, CL_ENOMEM, "out of memory");
	if (ctl_store_state_get(srv->store, id, row) == CL_OK && row->key_n > 0)
		snprintf(blob, sizeof(blob), "%s", row->blob_path);
	free(row);
	CL_GUARD(ctl_store_enclave_delete(srv->store, id));
	CL_GUARD(ctl_store_tls_delete(srv->store, id)); /* its TLS credential (public data only) */
	/* the destroy is decided (the enclave desired gone): its blob goes now,
	 * not at the next start. A rollback after this leaves a row whose blob
	 * is gone, of an enclave being destroyed: the next delete drops it. */
	if (blob[0] && ctl_state_blob_remove(srv->data_dir, blob) != CL_OK)
		cl_warn("enclave %s: its suspend blob not removed: %s", id, cl_error_detail());
	return CL_OK;
}
