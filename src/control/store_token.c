/* store_token.c — the store's credential lifecycle (store.h): listing and
 * revoking bearer tokens, and taking a host out of the fleet. Columns added
 * by migration 4 (store_migrate.c). */
#include <stdlib.h>
#include <string.h>

#include "control/store_priv.h"

/* The token columns a list shows: everything but the hash. */
#define TOKEN_LIST_COLS "id,kind,tenant_id,host_id,name,created_at,expires_at,revoked_at"

static void read_listed_token(sqlite3_stmt *q, ctl_token *t)
{
	memset(t, 0, sizeof(*t));
	ctl_store_col_str(q, 0, t->id, sizeof(t->id));
	ctl_store_col_str(q, 1, t->kind, sizeof(t->kind));
	ctl_store_col_str(q, 2, t->tenant_id, sizeof(t->tenant_id));
	ctl_store_col_str(q, 3, t->host_id, sizeof(t->host_id));
	ctl_store_col_str(q, 4, t->name, sizeof(t->name));
	t->created_at = sqlite3_column_int64(q, 5);
	t->expires_at = sqlite3_column_int64(q, 6);
	t->revoked_at = sqlite3_column_int64(q, 7);
}

cl_err ctl_store_token_list(ctl_store *st, const char *tenant_id, const char *after, int limit, ctl_token **out,
			    size_t *n)
{
	sqlite3_stmt *q;
	*out = NULL;
	*n = 0;
	CL_ENSURE(limit > 0, CL_EINVAL, "token list: limit must be positive");
	ctl_token *arr = calloc((size_t)limit, sizeof(*arr));
	CL_ENSURE(arr, CL_ENOMEM, "out of memory");
	cl_err err = CTL_PREP(st, &q,
			      "SELECT " TOKEN_LIST_COLS " FROM tokens WHERE (?1 = '' OR tenant_id = ?1)"
			      " AND id > ?2 ORDER BY id LIMIT ?3",
			      CTL_TEXT(tenant_id ? tenant_id : ""), CTL_TEXT(after ? after : ""), CTL_INT(limit));
	if (err != CL_OK) {
		free(arr);
		return err;
	}
	size_t cnt = 0;
	int rc;
	while (cnt < (size_t)limit && (rc = sqlite3_step(q)) == SQLITE_ROW)
		read_listed_token(q, &arr[cnt++]);
	ctl_store_finish(st, q);
	if (cnt < (size_t)limit && rc != SQLITE_DONE) {
		free(arr);
		return ctl_store_sqlerr(st, rc, "list tokens");
	}
	*out = arr;
	*n = cnt;
	return CL_OK;
}

cl_err ctl_store_token_revoke(ctl_store *st, const char *id, int64_t now_ms)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "UPDATE tokens SET revoked_at=? WHERE id=? AND revoked_at=0", CTL_INT(now_ms),
			  CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "revoke token", NULL));
	if (sqlite3_changes(st->db) == 1)
		return CL_OK;
	/* Nothing changed: unknown, or revoked before (which stays as it was). */
	CL_GUARD(CTL_PREP(st, &q, "SELECT 1 FROM tokens WHERE id=?", CTL_TEXT(id)));
	int rc = sqlite3_step(q);
	ctl_store_finish(st, q);
	if (rc == SQLITE_ROW)
		return CL_OK;
	return rc == SQLITE_DONE ? cl_errorf(CL_ENOTFOUND, "token not found") : ctl_store_sqlerr(st, rc, "token");
}

/* Steps a prepared row-less statement; *changes (may be NULL) gets its row count. */
static cl_err run_counted(ctl_store *st, sqlite3_stmt *q, const char *what, int64_t *changes)
{
	int n = 0;
	CL_GUARD(ctl_store_run(st, q, what, &n));
	if (changes)
		*changes = n;
	return CL_OK;
}

cl_err ctl_store_host_remove(ctl_store *st, const char *host_id, int64_t now_ms, const char *reason, int64_t *lost)
{
	sqlite3_stmt *q;
	char state[16] = "";
	int64_t changed = 0;
	*lost = 0;
	CL_GUARD(CTL_PREP(st, &q, "SELECT state FROM hosts WHERE id=?", CTL_TEXT(host_id)));
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		ctl_store_col_str(q, 0, state, sizeof(state));
	ctl_store_finish(st, q);
	if (rc == SQLITE_DONE)
		return cl_errorf(CL_ENOTFOUND, "host not found");
	if (rc != SQLITE_ROW)
		return ctl_store_sqlerr(st, rc, "host");
	CL_ENSURE(strcmp(state, "removed") != 0, CL_ECONFLICT, "host %s was already removed", host_id);
	/* Jobs first: they are found through the enclaves still on the host. */
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE jobs SET state='failed', progress=100, error=?, updated_at=? WHERE"
			  " state IN ('pending','running') AND enclave_id IN"
			  " (SELECT id FROM enclaves WHERE host_id=? AND desired != 'gone')",
			  CTL_TEXT(reason ? reason : ""), CTL_INT(now_ms), CTL_TEXT(host_id)));
	CL_GUARD(run_counted(st, q, "fail the host's jobs", NULL));
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE enclaves SET state='lost', error=?, updated_at=? WHERE host_id=?"
			  " AND desired != 'gone' AND state != 'suspended'", /* a suspended one is not on it */
			  CTL_TEXT(reason ? reason : ""), CTL_INT(now_ms), CTL_TEXT(host_id)));
	CL_GUARD(run_counted(st, q, "mark the host's enclaves lost", lost));
	CL_GUARD(CTL_PREP(st, &q, "UPDATE tokens SET revoked_at=? WHERE host_id=? AND kind='host' AND revoked_at=0",
			  CTL_INT(now_ms), CTL_TEXT(host_id)));
	CL_GUARD(run_counted(st, q, "revoke the host's token", NULL));
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE fw_ops SET state='refused', result_error=?, result_reason='host_removed',"
			  " updated_at=? WHERE host_id=? AND state='pending'",
			  CTL_TEXT(reason ? reason : ""), CTL_INT(now_ms), CTL_TEXT(host_id)));
	CL_GUARD(run_counted(st, q, "refuse the host's firmware ops", NULL));
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE hosts SET state='removed', generation=generation+1 WHERE id=? AND state != 'removed'",
			  CTL_TEXT(host_id)));
	CL_GUARD(run_counted(st, q, "remove the host", &changed));
	CL_ENSURE(changed == 1, CL_EINTERNAL, "host %s changed during its removal", host_id);
	return CL_OK;
}
