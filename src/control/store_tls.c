/* store_tls.c — job steps and TLS credentials (store_tls.h, migration 13). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/store_priv.h"
#include "control/store_tls.h"

cl_err ctl_store_step_count(ctl_store *st, const char *job_id, int64_t *n)
{
	sqlite3_stmt *q = NULL;
	*n = 0;
	CL_GUARD(CTL_PREP(st, &q, "SELECT COUNT(*) FROM job_steps WHERE job_id=?", CTL_TEXT(job_id)));
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(q, 0);
	ctl_store_finish(st, q);
	if (rc != SQLITE_ROW)
		return ctl_store_sqlerr(st, rc, "job steps");
	return CL_OK;
}

cl_err ctl_store_step_add(ctl_store *st, const char *job_id, const char *name, bool failed, const char *detail,
			  int64_t at_ms)
{
	sqlite3_stmt *q = NULL;
	int64_t n;
	CL_GUARD(ctl_store_step_count(st, job_id, &n));
	CL_ENSURE(n < CTL_JOB_STEPS_MAX, CL_ELIMIT, "job %s has %d steps already", job_id, CTL_JOB_STEPS_MAX);
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO job_steps(job_id,seq,name,state,detail,at) VALUES(?,?,?,?,?,?)",
			  CTL_TEXT(job_id), CTL_INT(n + 1), CTL_TEXT(name), CTL_TEXT(failed ? "failed" : "done"),
			  CTL_TEXT(detail ? detail : ""), CTL_INT(at_ms)));
	return ctl_store_run(st, q, "job step", NULL);
}

cl_err ctl_store_step_list(ctl_store *st, const char *job_id, ctl_job_step **out, size_t *n)
{
	sqlite3_stmt *q = NULL;
	*out = NULL;
	*n = 0;
	ctl_job_step *s = calloc(CTL_JOB_STEPS_MAX, sizeof(*s));
	CL_ENSURE(s, CL_ENOMEM, "out of memory");
	cl_err err = CTL_PREP(st, &q, "SELECT seq,name,state,detail,at FROM job_steps WHERE job_id=? ORDER BY seq LIMIT ?",
			      CTL_TEXT(job_id), CTL_INT(CTL_JOB_STEPS_MAX));
	if (err != CL_OK) {
		free(s);
		return err;
	}
	int rc;
	size_t k = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && k < CTL_JOB_STEPS_MAX) {
		s[k].seq = sqlite3_column_int64(q, 0);
		ctl_store_col_str(q, 1, s[k].name, sizeof(s[k].name));
		ctl_store_col_str(q, 2, s[k].state, sizeof(s[k].state));
		ctl_store_col_str(q, 3, s[k].detail, sizeof(s[k].detail));
		s[k].at = sqlite3_column_int64(q, 4);
		k++;
	}
	ctl_store_finish(st, q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(s);
		return ctl_store_sqlerr(st, rc, "job steps");
	}
	if (k == 0) {
		free(s);
		s = NULL;
	}
	*out = s;
	*n = k;
	return CL_OK;
}

#define TLS_COLS                                                                                                       \
	"enclave_id,tenant_id,state,policy,generation,serial,subject,sans,issuer,not_after,chain,pending_gen,"         \
	"pending_policy,pending_chain,pending_serial,pending_not_after,job_id,error,updated_at"

static cl_err read_cred(sqlite3_stmt *q, void *arg)
{
	ctl_tls_cred *c = arg;
	ctl_store_col_str(q, 0, c->enclave_id, sizeof(c->enclave_id));
	ctl_store_col_str(q, 1, c->tenant_id, sizeof(c->tenant_id));
	ctl_store_col_str(q, 2, c->state, sizeof(c->state));
	ctl_store_col_str(q, 3, c->policy, sizeof(c->policy));
	c->generation = sqlite3_column_int64(q, 4);
	ctl_store_col_str(q, 5, c->serial, sizeof(c->serial));
	ctl_store_col_str(q, 6, c->subject, sizeof(c->subject));
	ctl_store_col_str(q, 7, c->sans, sizeof(c->sans));
	ctl_store_col_str(q, 8, c->issuer, sizeof(c->issuer));
	c->not_after = sqlite3_column_int64(q, 9);
	ctl_store_col_str(q, 10, c->chain, sizeof(c->chain));
	c->pending_gen = sqlite3_column_int64(q, 11);
	ctl_store_col_str(q, 12, c->pending_policy, sizeof(c->pending_policy));
	ctl_store_col_str(q, 13, c->pending_chain, sizeof(c->pending_chain));
	ctl_store_col_str(q, 14, c->pending_serial, sizeof(c->pending_serial));
	c->pending_not_after = sqlite3_column_int64(q, 15);
	ctl_store_col_str(q, 16, c->job_id, sizeof(c->job_id));
	ctl_store_col_str(q, 17, c->error, sizeof(c->error));
	c->updated_at = sqlite3_column_int64(q, 18);
	ctl_store_col_str(q, 19, c->endpoints, sizeof(c->endpoints));
	return CL_OK;
}

cl_err ctl_store_tls_get(ctl_store *st, const char *enclave_id, ctl_tls_cred *out)
{
	sqlite3_stmt *q = NULL;
	memset(out, 0, sizeof(*out));
	CL_GUARD(CTL_PREP(st, &q, "SELECT " TLS_COLS ",COALESCE(endpoints,'') FROM tls_creds LEFT JOIN tls_endpoints USING(enclave_id)"
			  " WHERE enclave_id=?", CTL_TEXT(enclave_id)));
	return ctl_store_one(st, q, read_cred, out, "the enclave has no TLS credential", "tls credential");
}

cl_err ctl_store_tls_put(ctl_store *st, const ctl_tls_cred *c)
{
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT OR REPLACE INTO tls_creds(" TLS_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			  CTL_TEXT(c->enclave_id), CTL_TEXT(c->tenant_id), CTL_TEXT(c->state), CTL_TEXT(c->policy),
			  CTL_INT(c->generation), CTL_TEXT(c->serial), CTL_TEXT(c->subject), CTL_TEXT(c->sans),
			  CTL_TEXT(c->issuer), CTL_INT(c->not_after), CTL_TEXT(c->chain), CTL_INT(c->pending_gen),
			  CTL_TEXT(c->pending_policy), CTL_TEXT(c->pending_chain), CTL_TEXT(c->pending_serial),
			  CTL_INT(c->pending_not_after), CTL_TEXT(c->job_id), CTL_TEXT(c->error), CTL_INT(c->updated_at)));
	CL_GUARD(ctl_store_run(st, q, "tls credential", NULL));
	CL_GUARD(CTL_PREP(st, &q, "INSERT OR REPLACE INTO tls_endpoints(enclave_id,endpoints) VALUES(?,?)",
			  CTL_TEXT(c->enclave_id), CTL_TEXT(c->endpoints)));
	return ctl_store_run(st, q, "tls endpoints", NULL);
}

cl_err ctl_store_tls_delete(ctl_store *st, const char *enclave_id)
{
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM tls_creds WHERE enclave_id=?", CTL_TEXT(enclave_id)));
	CL_GUARD(ctl_store_run(st, q, "tls credential", NULL));
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM tls_endpoints WHERE enclave_id=?", CTL_TEXT(enclave_id)));
	return ctl_store_run(st, q, "tls endpoints", NULL);
}

cl_err ctl_store_tls_interrupted(ctl_store *st, int64_t now_ms)
{
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE tls_creds SET state=CASE state WHEN 'enabling' THEN 'failed' ELSE state END,"
			  " error=CASE state WHEN 'enabling' THEN 'interrupted by a control plane restart; run it again'"
			  " ELSE error END, pending_policy='', pending_chain='', pending_serial='',"
			  " pending_not_after=0, updated_at=? WHERE pending_policy<>'' OR state='enabling'",
			  CTL_INT(now_ms)));
	return ctl_store_run(st, q, "tls credentials", NULL);
}

cl_err ctl_store_enclave_network(ctl_store *st, const char *enclave_id, bool *network, char *address, size_t n)
{
	sqlite3_stmt *q = NULL;
	*network = false;
	if (n)
		address[0] = '\0';
	/* migration 12's table: a row for each enclave created with a network */
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT n.enclave_id IS NOT NULL, COALESCE(n.address, '') FROM enclaves e"
			  " LEFT JOIN enclave_network n ON n.enclave_id = e.id WHERE e.id=?",
			  CTL_TEXT(enclave_id)));
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*network = sqlite3_column_int64(q, 0) != 0;
		if (n)
			ctl_store_col_str(q, 1, address, n);
	}
	ctl_store_finish(st, q);
	if (rc == SQLITE_DONE)
		return cl_errorf(CL_ENOTFOUND, "enclave not found");
	if (rc != SQLITE_ROW)
		return ctl_store_sqlerr(st, rc, "enclave network");
	return CL_OK;
}
