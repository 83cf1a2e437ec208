/* store_fwrel.c — firmware release tables (store_fwrel.h); the schema is in
 * store_fw.c. */
#include "control/store_fwrel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/store_priv.h"

cl_err ctl_store_fw_trust_put(ctl_store *st, const char *root_hex, const char *docs_json, int64_t version,
			      int64_t threshold, int64_t now)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT OR REPLACE INTO fw_trust(id,root,docs,version,threshold,updated_at)"
			  " VALUES(1,?,?,?,?,?)",
			  CTL_TEXT(root_hex), CTL_TEXT(docs_json), CTL_INT(version), CTL_INT(threshold), CTL_INT(now)));
	return ctl_store_run(st, q, "store firmware trust", NULL);
}

cl_err ctl_store_fw_trust_get(ctl_store *st, char **root_hex, char **docs_json, int64_t *version)
{
	sqlite3_stmt *q;
	*root_hex = *docs_json = NULL;
	CL_GUARD(ctl_store_prepare(st, &q, "SELECT root,docs,version FROM fw_trust WHERE id=1", NULL, 0));
	int rc = sqlite3_step(q);
	cl_err err = CL_OK;
	if (rc == SQLITE_ROW) {
		*root_hex = ctl_store_col_dup(q, 0);
		*docs_json = ctl_store_col_dup(q, 1);
		*version = sqlite3_column_int64(q, 2);
		if (!*root_hex || !*docs_json) {
			free(*root_hex);
			free(*docs_json);
			*root_hex = *docs_json = NULL;
			err = CL_ENOMEM;
		}
	} else if (rc == SQLITE_DONE) {
		err = cl_errorf(CL_ENOTFOUND, "no firmware trust chain is configured (POST /v1/fw/trust)");
	} else {
		err = ctl_store_sqlerr(st, rc, "read firmware trust");
	}
	ctl_store_finish(st, q);
	return err;
}

cl_err ctl_store_fw_release_insert(ctl_store *st, const ctl_fw_release *r, const uint8_t *bundle, size_t len)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT INTO fw_releases(id,vendor,class,component,version,sequence,channel,signers,"
			  "nsigners,threshold,created_at,updated_at,bundle) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
			  CTL_TEXT(r->id), CTL_TEXT(r->vendor), CTL_TEXT(r->class_id), CTL_TEXT(r->component),
			  CTL_TEXT(r->version), CTL_INT(r->sequence), CTL_TEXT(r->channel), CTL_TEXT(r->signers_json),
			  CTL_INT(r->nsigners), CTL_INT(r->threshold), CTL_INT(r->created_at), CTL_INT(r->updated_at),
			  CTL_BLOB(bundle, len)));
	return ctl_store_run(st, q, "store release", NULL);
}

cl_err ctl_store_fw_release_update(ctl_store *st, const ctl_fw_release *r, const uint8_t *bundle, size_t len)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE fw_releases SET signers=?, nsigners=?, threshold=?, updated_at=?, bundle=?"
			  " WHERE id=?",
			  CTL_TEXT(r->signers_json), CTL_INT(r->nsigners), CTL_INT(r->threshold),
			  CTL_INT(r->updated_at), CTL_BLOB(bundle, len), CTL_TEXT(r->id)));
	CL_GUARD(ctl_store_run(st, q, "update release", NULL));
	CL_ENSURE(sqlite3_changes(st->db) == 1, CL_ENOTFOUND, "release %s not found", r->id);
	return CL_OK;
}

#define REL_COLS                                                                                                       \
	"r.id,r.vendor,r.class,r.component,r.version,r.sequence,r.channel,r.signers,r.nsigners,r.threshold,"          \
	"r.created_at,r.updated_at,"                                                                                   \
	"(SELECT COALESCE(json_group_array(channel),'[]') FROM (SELECT channel FROM fw_release_channels c"            \
	" WHERE c.release_id=r.id ORDER BY channel))"

static cl_err read_rel(sqlite3_stmt *q, void *o)
{
	ctl_fw_release *r = o;
	memset(r, 0, sizeof(*r));
	ctl_store_col_str(q, 0, r->id, sizeof(r->id));
	ctl_store_col_str(q, 1, r->vendor, sizeof(r->vendor));
	ctl_store_col_str(q, 2, r->class_id, sizeof(r->class_id));
	ctl_store_col_str(q, 3, r->component, sizeof(r->component));
	ctl_store_col_str(q, 4, r->version, sizeof(r->version));
	r->sequence = sqlite3_column_int64(q, 5);
	ctl_store_col_str(q, 6, r->channel, sizeof(r->channel));
	r->signers_json = ctl_store_col_dup(q, 7);
	r->nsigners = sqlite3_column_int64(q, 8);
	r->threshold = sqlite3_column_int64(q, 9);
	r->created_at = sqlite3_column_int64(q, 10);
	r->updated_at = sqlite3_column_int64(q, 11);
	r->channels_json = ctl_store_col_dup(q, 12);
	return r->signers_json && r->channels_json ? CL_OK : CL_ENOMEM;
}

cl_err ctl_store_fw_release_get(ctl_store *st, const char *id, ctl_fw_release *out)
{
	sqlite3_stmt *q;
	memset(out, 0, sizeof(*out));
	CL_GUARD(CTL_PREP(st, &q, "SELECT " REL_COLS " FROM fw_releases r WHERE r.id=?", CTL_TEXT(id)));
	return ctl_store_one(st, q, read_rel, out, "release not found", "read release");
}

cl_err ctl_store_fw_release_bundle(ctl_store *st, const char *id, uint8_t **out, size_t *n)
{
	sqlite3_stmt *q;
	*out = NULL;
	*n = 0;
	CL_GUARD(CTL_PREP(st, &q, "SELECT bundle FROM fw_releases WHERE id=?", CTL_TEXT(id)));
	int rc = sqlite3_step(q);
	cl_err err = CL_OK;
	if (rc == SQLITE_ROW) {
		int len = sqlite3_column_bytes(q, 0);
		const void *b = sqlite3_column_blob(q, 0);
		*out = malloc(len > 0 ? (size_t)len : 1);
		if (!*out)
			err = CL_ENOMEM;
		else if (len > 0 && b)
			memcpy(*out, b, (size_t)len);
		*n = len > 0 ? (size_t)len : 0;
	} else if (rc == SQLITE_DONE) {
		err = cl_errorf(CL_ENOTFOUND, "release not found");
	} else {
		err = ctl_store_sqlerr(st, rc, "read release bundle");
	}
	ctl_store_finish(st, q);
	return err;
}

cl_err ctl_store_fw_release_list(ctl_store *st, const char *after, int limit, ctl_fw_release **out, size_t *n)
{
	sqlite3_stmt *q;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	CL_ENSURE(limit >= 1 && limit <= 1001, CL_EINVAL, "limit must be in 1..1001");
	CL_GUARD(CTL_PREP(st, &q, "SELECT " REL_COLS " FROM fw_releases r WHERE r.id > ? ORDER BY r.id LIMIT ?",
			  CTL_TEXT(after ? after : ""), CTL_INT(limit)));
	int rc;
	cl_err err = CL_OK;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			ctl_fw_release *p = realloc(*out, nc * sizeof(**out));
			if (!p) {
				err = CL_ENOMEM;
				break;
			}
			*out = p;
			cap = nc;
		}
		err = read_rel(q, &(*out)[(*n)++]);
		if (err != CL_OK)
			break;
	}
	if (err == CL_OK && rc != SQLITE_DONE)
		err = ctl_store_sqlerr(st, rc, "list releases");
	ctl_store_finish(st, q);
	if (err != CL_OK) {
		ctl_fw_releases_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return err;
}

void ctl_fw_release_clear(ctl_fw_release *r)
{
	free(r->signers_json);
	free(r->channels_json);
	r->signers_json = r->channels_json = NULL;
}

void ctl_fw_releases_free(ctl_fw_release *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		ctl_fw_release_clear(&r[i]);
	free(r);
}

cl_err ctl_store_fw_release_approve(ctl_store *st, const char *id, const char *channel, int64_t now)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT OR IGNORE INTO fw_release_channels(release_id,channel,approved_at) VALUES(?,?,?)",
			  CTL_TEXT(id), CTL_TEXT(channel), CTL_INT(now)));
	return ctl_store_run(st, q, "approve release", NULL);
}

cl_err ctl_store_fw_channel_exists(ctl_store *st, const char *channel, bool *exists)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT 1 FROM fw_release_channels WHERE channel=? LIMIT 1", CTL_TEXT(channel)));
	int rc = sqlite3_step(q);
	ctl_store_finish(st, q);
	*exists = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CL_OK : ctl_store_sqlerr(st, rc, "read channels");
}

cl_err ctl_store_fw_tenant_channel_put(ctl_store *st, const char *tenant_id, const char *channel, int64_t now)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT OR REPLACE INTO fw_tenant_channel(tenant_id,channel,updated_at) VALUES(?,?,?)",
			  CTL_TEXT(tenant_id), CTL_TEXT(channel), CTL_INT(now)));
	return ctl_store_run(st, q, "store tenant channel", NULL);
}

cl_err ctl_store_fw_tenant_channel_get(ctl_store *st, const char *tenant_id, char channel[64])
{
	sqlite3_stmt *q;
	channel[0] = '\0';
	CL_GUARD(CTL_PREP(st, &q, "SELECT channel FROM fw_tenant_channel WHERE tenant_id=?", CTL_TEXT(tenant_id)));
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		ctl_store_col_str(q, 0, channel, 64);
	ctl_store_finish(st, q);
	if (rc == SQLITE_DONE)
		return cl_errorf(CL_ENOTFOUND, "the tenant has not chosen a firmware channel");
	return rc == SQLITE_ROW ? CL_OK : ctl_store_sqlerr(st, rc, "read tenant channel");
}

cl_err ctl_store_fw_targets(ctl_store *st, const char *tenant_id, const char *host_id, ctl_fw_target **out,
			    size_t *n)
{
	sqlite3_stmt *q;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT DISTINCT r.id, e.host_id, r.component FROM fw_tenant_channel tc"
			  " JOIN fw_release_channels rc ON rc.channel = tc.channel"
			  " JOIN fw_releases r ON r.id = rc.release_id"
			  " JOIN enclaves e ON e.tenant_id = tc.tenant_id AND e.desired != 'gone' AND e.host_id != ''"
			  " AND e.host_id NOT IN (SELECT id FROM hosts WHERE state = 'removed')"
			  " WHERE (?1 = '' OR tc.tenant_id = ?1) AND (?2 = '' OR e.host_id = ?2)"
			  " AND r.sequence = (SELECT MAX(r2.sequence) FROM fw_releases r2 JOIN fw_release_channels rc2"
			  "   ON rc2.release_id = r2.id WHERE rc2.channel = tc.channel AND r2.vendor = r.vendor"
			  "   AND r2.class = r.class AND r2.component = r.component)"
			  " AND NOT EXISTS (SELECT 1 FROM fw_release_queued fq WHERE fq.release_id = r.id AND "
			  "fq.host_id = e.host_id)"
			  " ORDER BY e.host_id, r.id LIMIT 10000",
			  CTL_TEXT(tenant_id), CTL_TEXT(host_id)));
	int rc;
	cl_err err = CL_OK;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			ctl_fw_target *p = realloc(*out, nc * sizeof(**out));
			if (!p) {
				err = CL_ENOMEM;
				break;
			}
			*out = p;
			cap = nc;
		}
		ctl_fw_target *t = &(*out)[(*n)++];
		ctl_store_col_str(q, 0, t->release_id, sizeof(t->release_id));
		ctl_store_col_str(q, 1, t->host_id, sizeof(t->host_id));
		ctl_store_col_str(q, 2, t->component, sizeof(t->component));
	}
	if (err == CL_OK && rc != SQLITE_DONE)
		err = ctl_store_sqlerr(st, rc, "find release targets");
	ctl_store_finish(st, q);
	if (err != CL_OK) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return err;
}

cl_err ctl_store_fw_queued(ctl_store *st, const char *release_id, const char *host_id, const char *op_id)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO fw_release_queued(release_id,host_id,op_id) VALUES(?,?,?)",
			  CTL_TEXT(release_id), CTL_TEXT(host_id), CTL_TEXT(op_id)));
	return ctl_store_run(st, q, "record queued release", NULL);
}
