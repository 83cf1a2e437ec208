/* store_image.c — the images table (a row per tenant image, bytes stored
 * once per digest and referenced by the rows) and per-tenant storage quotas
 * (migration 5). See store.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/store_priv.h"
#include "control/upload.h"

#define IMAGE_COLS "id,tenant_id,name,sha384,size,created_at"

static cl_err read_image(sqlite3_stmt *q, void *o)
{
	ctl_image *im = o;
	memset(im, 0, sizeof(*im));
	ctl_store_col_str(q, 0, im->id, sizeof(im->id));
	ctl_store_col_str(q, 1, im->tenant_id, sizeof(im->tenant_id));
	ctl_store_col_str(q, 2, im->name, sizeof(im->name));
	ctl_store_col_str(q, 3, im->sha384, sizeof(im->sha384));
	im->size = sqlite3_column_int64(q, 4);
	im->created_at = sqlite3_column_int64(q, 5);
	return CL_OK;
}

static cl_err read_i64(sqlite3_stmt *q, void *o)
{
	*(int64_t *)o = sqlite3_column_int64(q, 0);
	return CL_OK;
}

cl_err ctl_store_image_insert(ctl_store *st, const ctl_image *im)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO images(" IMAGE_COLS ") VALUES(?,?,?,?,?,?)", CTL_TEXT(im->id),
			  CTL_TEXT(im->tenant_id), CTL_TEXT(im->name), CTL_TEXT(im->sha384), CTL_INT(im->size),
			  CTL_INT(im->created_at)));
	return ctl_store_run(st, q, "store the image", NULL);
}

cl_err ctl_store_image_get(ctl_store *st, const char *id, ctl_image *out)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT " IMAGE_COLS " FROM images WHERE id=?", CTL_TEXT(id)));
	return ctl_store_one(st, q, read_image, out, "image not found", "get image");
}

cl_err ctl_store_image_list(ctl_store *st, const char *tenant_id, const char *after, int limit, ctl_image **out,
			    size_t *n)
{
	sqlite3_stmt *q;
	*out = NULL;
	*n = 0;
	CL_ENSURE(limit >= 1, CL_EINVAL, "limit must be at least 1");
	CL_GUARD(CTL_PREP(st, &q, "SELECT " IMAGE_COLS " FROM images WHERE tenant_id=? AND id>? ORDER BY id LIMIT ?",
			  CTL_TEXT(tenant_id), CTL_TEXT(after ? after : ""), CTL_INT(limit)));
	ctl_image *arr = calloc((size_t)limit, sizeof(*arr));
	if (!arr) {
		ctl_store_finish(st, q);
		return CL_ENOMEM;
	}
	size_t cnt = 0;
	int rc;
	while (cnt < (size_t)limit && (rc = sqlite3_step(q)) == SQLITE_ROW)
		(void)read_image(q, &arr[cnt++]);
	cl_err err = cnt < (size_t)limit && rc != SQLITE_DONE ? ctl_store_sqlerr(st, rc, "list images") : CL_OK;
	ctl_store_finish(st, q);
	if (err != CL_OK) {
		free(arr);
		return err;
	}
	*out = arr;
	*n = cnt;
	return CL_OK;
}

cl_err ctl_store_image_delete(ctl_store *st, const char *id)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM images WHERE id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "delete the image", NULL));
	return sqlite3_changes(st->db) == 1 ? CL_OK : cl_errorf(CL_ENOTFOUND, "image not found");
}

struct users {
	int64_t n;
	char *first;
};

static cl_err read_users(sqlite3_stmt *q, void *o)
{
	struct users *u = o;
	u->n = sqlite3_column_int64(q, 0);
	ctl_store_col_str(q, 1, u->first, CTL_ID_MAX);
	return CL_OK;
}

cl_err ctl_store_image_users(ctl_store *st, const char *id, int64_t *n, char first[CTL_ID_MAX])
{
	sqlite3_stmt *q;
	struct users u = {0, first};
	first[0] = '\0';
	CL_GUARD(CTL_PREP(st, &q, "SELECT COUNT(*), MIN(id) FROM enclaves WHERE image_id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_one(st, q, read_users, &u, "count", "find the image's enclaves"));
	*n = u.n;
	return CL_OK;
}

cl_err ctl_store_image_refs(ctl_store *st, const char *sha384, int64_t *n)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT COUNT(*) FROM images WHERE sha384=?", CTL_TEXT(sha384)));
	return ctl_store_one(st, q, read_i64, n, "count", "count the digest's images");
}

cl_err ctl_store_image_held(ctl_store *st, const char *tenant_id, const char *sha384, bool *held)
{
	sqlite3_stmt *q;
	int64_t n = 0;
	CL_GUARD(CTL_PREP(st, &q, "SELECT COUNT(*) FROM images WHERE tenant_id=? AND sha384=?", CTL_TEXT(tenant_id),
			  CTL_TEXT(sha384)));
	CL_GUARD(ctl_store_one(st, q, read_i64, &n, "count", "find the tenant's digest"));
	*held = n > 0;
	return CL_OK;
}

/* ---- quotas ---- */

cl_err ctl_store_quota_get(ctl_store *st, const char *tenant_id, ctl_quota *out)
{
	sqlite3_stmt *q;
	memset(out, 0, sizeof(*out));
	CL_GUARD(CTL_PREP(st, &q, "SELECT limit_bytes FROM tenant_quota WHERE tenant_id=?", CTL_TEXT(tenant_id)));
	cl_err err = ctl_store_one(st, q, read_i64, &out->limit_bytes, "no quota", "get the quota");
	if (err == CL_ENOTFOUND) {
		out->limit_bytes = CTL_QUOTA_DEFAULT;
		out->is_default = true;
		cl_error_clear();
	} else {
		CL_GUARD(err);
	}
	/* A digest the tenant holds under several image ids is stored (and
	 * counted) once; another tenant holding it changes nothing here. */
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT COALESCE(SUM(size),0) FROM (SELECT MAX(size) AS size FROM images"
			  " WHERE tenant_id=? GROUP BY sha384)",
			  CTL_TEXT(tenant_id)));
	CL_GUARD(ctl_store_one(st, q, read_i64, &out->images_bytes, "sum", "sum the tenant's images"));
	CL_GUARD(CTL_PREP(st, &q, "SELECT COALESCE(SUM(size),0) FROM uploads WHERE tenant_id=?", CTL_TEXT(tenant_id)));
	return ctl_store_one(st, q, read_i64, &out->uploads_bytes, "sum", "sum the tenant's uploads");
}

cl_err ctl_store_quota_set(ctl_store *st, const char *tenant_id, int64_t limit_bytes, int64_t now_ms)
{
	sqlite3_stmt *q;
	CL_ENSURE(limit_bytes <= CTL_QUOTA_MAX, CL_EINVAL, "limit_bytes must be at most %lld", (long long)CTL_QUOTA_MAX);
	if (limit_bytes < 0)
		CL_GUARD(CTL_PREP(st, &q, "DELETE FROM tenant_quota WHERE tenant_id=?", CTL_TEXT(tenant_id)));
	else
		CL_GUARD(CTL_PREP(st, &q,
				  "INSERT INTO tenant_quota(tenant_id,limit_bytes,updated_at) VALUES(?,?,?)"
				  " ON CONFLICT(tenant_id) DO UPDATE SET limit_bytes=excluded.limit_bytes,"
				  " updated_at=excluded.updated_at",
				  CTL_TEXT(tenant_id), CTL_INT(limit_bytes), CTL_INT(now_ms)));
	return ctl_store_run(st, q, "set the quota", NULL);
}

cl_err ctl_store_quota_check(ctl_store *st, const char *tenant_id, int64_t extra)
{
	ctl_quota qu;
	CL_GUARD(ctl_store_quota_get(st, tenant_id, &qu));
	int64_t used = qu.images_bytes + qu.uploads_bytes;
	bool over = extra > 0 ? extra > qu.limit_bytes - used : used > qu.limit_bytes;
	if (!over)
		return CL_OK;
	char need[48] = "";
	if (extra > 0)
		snprintf(need, sizeof(need), ", %lld more needed", (long long)extra);
	return cl_errorf(CL_ENOSPACE,
			 "storage quota exceeded (%lld/%lld bytes used%s): delete images or uploads, or ask the "
			 "provider for a larger quota",
			 (long long)used, (long long)qu.limit_bytes, need);
}
