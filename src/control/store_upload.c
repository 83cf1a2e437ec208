/* store_upload.c — the uploads table (upload.h; created by migration 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/store_priv.h"
#include "control/upload.h"

static cl_err read_upload(sqlite3_stmt *q, void *out)
{
	ctl_upload *u = out;
	memset(u, 0, sizeof(*u));
	ctl_store_col_str(q, 0, u->id, sizeof(u->id));
	ctl_store_col_str(q, 1, u->tenant_id, sizeof(u->tenant_id));
	ctl_store_col_str(q, 2, u->owner_kind, sizeof(u->owner_kind));
	u->size = sqlite3_column_int64(q, 3);
	ctl_store_col_str(q, 4, u->sha384, sizeof(u->sha384));
	u->received = sqlite3_column_int64(q, 5);
	u->complete = sqlite3_column_int64(q, 6) != 0;
	u->created_at = sqlite3_column_int64(q, 7);
	u->updated_at = sqlite3_column_int64(q, 8);
	return CL_OK;
}

cl_err ctl_store_upload_insert(ctl_store *st, const ctl_upload *u)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT INTO uploads(id,tenant_id,owner_kind,size,sha384,received,complete,"
			  "created_at,updated_at) VALUES(?,?,?,?,?,?,?,?,?)",
			  CTL_TEXT(u->id), CTL_TEXT(u->tenant_id), CTL_TEXT(u->owner_kind), CTL_INT(u->size),
			  CTL_TEXT(u->sha384), CTL_INT(u->received), CTL_INT(u->complete), CTL_INT(u->created_at),
			  CTL_INT(u->updated_at)));
	return ctl_store_run(st, q, "insert upload", NULL);
}

cl_err ctl_store_upload_get(ctl_store *st, const char *id, ctl_upload *out)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT id,tenant_id,owner_kind,size,sha384,received,complete,created_at,updated_at"
			  " FROM uploads WHERE id=?",
			  CTL_TEXT(id)));
	return ctl_store_one(st, q, read_upload, out, "upload not found", "get upload");
}

cl_err ctl_store_upload_update(ctl_store *st, const ctl_upload *u)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "UPDATE uploads SET received=?, complete=?, updated_at=? WHERE id=?",
			  CTL_INT(u->received), CTL_INT(u->complete), CTL_INT(u->updated_at), CTL_TEXT(u->id)));
	CL_GUARD(ctl_store_run(st, q, "update upload", NULL));
	return sqlite3_changes(st->db) == 1 ? CL_OK : cl_errorf(CL_ENOTFOUND, "upload not found");
}

cl_err ctl_store_upload_delete(ctl_store *st, const char *id)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM uploads WHERE id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "delete upload", NULL));
	return sqlite3_changes(st->db) == 1 ? CL_OK : cl_errorf(CL_ENOTFOUND, "upload not found");
}

static cl_err read_count(sqlite3_stmt *q, void *out)
{
	*(int64_t *)out = sqlite3_column_int64(q, 0);
	return CL_OK;
}

cl_err ctl_store_upload_count_open(ctl_store *st, const char *tenant_id, const char *owner_kind, int64_t *n)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT COUNT(*) FROM uploads WHERE tenant_id=? AND owner_kind=?",
			  CTL_TEXT(tenant_id), CTL_TEXT(owner_kind)));
	return ctl_store_one(st, q, read_count, n, "count", "count uploads");
}

cl_err ctl_store_upload_exists(ctl_store *st, const char *id, bool *exists)
{
	sqlite3_stmt *q;
	int64_t n = 0;
	CL_GUARD(CTL_PREP(st, &q, "SELECT COUNT(*) FROM uploads WHERE id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_one(st, q, read_count, &n, "count", "find upload"));
	*exists = n > 0;
	return CL_OK;
}

cl_err ctl_store_upload_expired(ctl_store *st, int64_t cutoff_ms, char (**ids)[CTL_ID_MAX], size_t *n)
{
	sqlite3_stmt *q;
	*ids = NULL;
	*n = 0;
	CL_GUARD(CTL_PREP(st, &q, "SELECT id FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT 256",
			  CTL_INT(cutoff_ms)));
	return ctl_store_ids(st, q, 256, "list expired uploads", ids, n);
}
