/* store_secret.c — the key broker's tables (store_secret.h). */
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/store_priv.h"
#include "control/store_secret.h"

#define SECRET_COLS "name,tenant_id,enclave_id,policy,created_at,updated_at"

static void read_meta(sqlite3_stmt *q, ctl_secret *s)
{
	ctl_store_col_str(q, 0, s->name, sizeof(s->name));
	ctl_store_col_str(q, 1, s->tenant_id, sizeof(s->tenant_id));
	ctl_store_col_str(q, 2, s->enclave_id, sizeof(s->enclave_id));
	ctl_store_col_str(q, 3, s->policy, sizeof(s->policy));
	s->created_at = sqlite3_column_int64(q, 4);
	s->updated_at = sqlite3_column_int64(q, 5);
}

static cl_err read_secret(sqlite3_stmt *q, void *o)
{
	ctl_secret *s = o;
	read_meta(q, s);
	if (sqlite3_column_count(q) > 6) {
		const void *p = sqlite3_column_blob(q, 6);
		int n = sqlite3_column_bytes(q, 6);
		CL_ENSURE(p && n > 0 && (size_t)n <= sizeof(s->sealed), CL_EINTERNAL,
			  "the stored secret %s is malformed (%d sealed bytes)", s->name, n);
		memcpy(s->sealed, p, (size_t)n);
		s->sealed_len = (size_t)n;
	}
	return CL_OK;
}

cl_err ctl_store_secret_insert(ctl_store *st, const ctl_secret *s)
{
	sqlite3_stmt *q = NULL;
	CL_ENSURE(s->sealed_len > 0 && s->sealed_len <= sizeof(s->sealed), CL_EINTERNAL, "a secret without a sealed value");
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO secrets(" SECRET_COLS ",sealed) VALUES(?,?,?,?,?,?,?)",
			  CTL_TEXT(s->name), CTL_TEXT(s->tenant_id), CTL_TEXT(s->enclave_id), CTL_TEXT(s->policy),
			  CTL_INT(s->created_at), CTL_INT(s->updated_at), CTL_BLOB(s->sealed, s->sealed_len)));
	cl_err err = ctl_store_run(st, q, "secret", NULL);
	if (err == CL_ECONFLICT)
		return cl_errorf(CL_ECONFLICT, "a secret named %s exists", s->name);
	return err;
}

cl_err ctl_store_secret_get(ctl_store *st, const char *name, const char *tenant_id, bool want_sealed, ctl_secret *out)
{
	sqlite3_stmt *q = NULL;
	memset(out, 0, sizeof(*out));
	const char *sql = want_sealed ? "SELECT " SECRET_COLS ",sealed FROM secrets WHERE name=? AND (? IS NULL OR tenant_id=?)"
				     : "SELECT " SECRET_COLS " FROM secrets WHERE name=? AND (? IS NULL OR tenant_id=?)";
	CL_GUARD(CTL_PREP(st, &q, sql, CTL_TEXT(name), CTL_TEXT(tenant_id), CTL_TEXT(tenant_id)));
	return ctl_store_one(st, q, read_secret, out, "no such secret", "secret");
}

cl_err ctl_store_secret_list(ctl_store *st, const char *tenant_id, const char *after, int limit, ctl_secret **out,
			     size_t *n)
{
	sqlite3_stmt *q = NULL;
	*out = NULL;
	*n = 0;
	CL_ENSURE(limit >= 1 && limit <= 1001, CL_EINVAL, "limit must be in 1..1001");
	ctl_secret *ss = calloc((size_t)limit, sizeof(*ss));
	if (!ss)
		return CL_ENOMEM;
	cl_err err = CTL_PREP(st, &q, "SELECT " SECRET_COLS " FROM secrets WHERE tenant_id=? AND name>? ORDER BY name LIMIT ?",
			      CTL_TEXT(tenant_id), CTL_TEXT(after), CTL_INT(limit));
	if (err != CL_OK) {
		free(ss);
		return err;
	}
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < (size_t)limit)
		read_meta(q, &ss[(*n)++]);
	ctl_store_finish(st, q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(ss);
		*n = 0;
		return ctl_store_sqlerr(st, rc, "list secrets");
	}
	*out = ss;
	return CL_OK;
}

cl_err ctl_store_secret_set_policy(ctl_store *st, const char *name, const char *policy, int64_t now)
{
	sqlite3_stmt *q = NULL;
	int changed = 0;
	CL_GUARD(CTL_PREP(st, &q, "UPDATE secrets SET policy=?, updated_at=? WHERE name=?", CTL_TEXT(policy),
			  CTL_INT(now), CTL_TEXT(name)));
	CL_GUARD(ctl_store_run(st, q, "secret policy", &changed));
	CL_ENSURE(changed == 1, CL_ENOTFOUND, "no such secret");
	return CL_OK;
}

cl_err ctl_store_secret_delete(ctl_store *st, const char *name)
{
	sqlite3_stmt *q = NULL;
	int changed = 0;
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM secret_challenges WHERE secret=?", CTL_TEXT(name)));
	CL_GUARD(ctl_store_run(st, q, "secret challenges", NULL));
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM secrets WHERE name=?", CTL_TEXT(name)));
	CL_GUARD(ctl_store_run(st, q, "secret", &changed));
	CL_ENSURE(changed == 1, CL_ENOTFOUND, "no such secret");
	return CL_OK;
}

static cl_err read_int(sqlite3_stmt *q, void *o)
{
	*(int *)o = sqlite3_column_int(q, 0);
	return CL_OK;
}

cl_err ctl_store_secret_challenge_add(ctl_store *st, const char *secret, const char *nonce_hex, int64_t expires_at,
				      int64_t now, int *live)
{
	sqlite3_stmt *q = NULL;
	int n = 0;
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM secret_challenges WHERE expires_at<=?", CTL_INT(now)));
	CL_GUARD(ctl_store_run(st, q, "secret challenges", NULL));
	CL_GUARD(CTL_PREP(st, &q, "SELECT COUNT(*) FROM secret_challenges WHERE secret=? AND used=0", CTL_TEXT(secret)));
	CL_GUARD(ctl_store_one(st, q, read_int, &n, "no count", "secret challenges"));
	if (live)
		*live = n;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO secret_challenges(nonce,secret,expires_at) VALUES(?,?,?)",
			  CTL_TEXT(nonce_hex), CTL_TEXT(secret), CTL_INT(expires_at)));
	return ctl_store_run(st, q, "secret challenge", NULL);
}

typedef struct chal_row {
	int64_t expires_at;
	int used;
} chal_row;

static cl_err read_chal(sqlite3_stmt *q, void *o)
{
	chal_row *c = o;
	c->expires_at = sqlite3_column_int64(q, 0);
	c->used = sqlite3_column_int(q, 1);
	return CL_OK;
}

cl_err ctl_store_secret_challenge_take(ctl_store *st, const char *secret, const char *nonce_hex, int64_t now)
{
	sqlite3_stmt *q = NULL;
	chal_row c = {0};
	CL_GUARD(CTL_PREP(st, &q, "SELECT expires_at,used FROM secret_challenges WHERE nonce=? AND secret=?",
			  CTL_TEXT(nonce_hex), CTL_TEXT(secret)));
	CL_GUARD(ctl_store_one(st, q, read_chal, &c, "the document's nonce is not a challenge of this secret",
			       "secret challenge"));
	CL_ENSURE(!c.used, CL_ENOTFOUND, "the document's nonce was used already");
	CL_ENSURE(c.expires_at > now, CL_ENOTFOUND, "the document's nonce expired");
	CL_GUARD(CTL_PREP(st, &q, "UPDATE secret_challenges SET used=1 WHERE nonce=?", CTL_TEXT(nonce_hex)));
	return ctl_store_run(st, q, "secret challenge", NULL);
}

cl_err ctl_store_secret_event(ctl_store *st, const char *secret, const char *tenant_id, const char *kind,
			      const char *reason, const char *detail, int64_t now)
{
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT INTO secret_events(secret,tenant_id,kind,reason,detail,created_at) VALUES(?,?,?,?,?,?)",
			  CTL_TEXT(secret), CTL_TEXT(tenant_id), CTL_TEXT(kind), CTL_TEXT(reason ? reason : ""),
			  CTL_TEXT(detail ? detail : ""), CTL_INT(now)));
	return ctl_store_run(st, q, "secret event", NULL);
}

cl_err ctl_store_secret_attempts(ctl_store *st, const char *secret, int64_t since, int *n)
{
	sqlite3_stmt *q = NULL;
	*n = 0;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT COUNT(*) FROM secret_events WHERE secret=? AND created_at>=?"
			  " AND kind IN ('released','refused','challenge')",
			  CTL_TEXT(secret), CTL_INT(since)));
	return ctl_store_one(st, q, read_int, n, "no count", "secret events");
}

cl_err ctl_store_secret_events(ctl_store *st, const char *secret, const char *tenant_id, int64_t after, int limit,
			       ctl_secret_event **out, size_t *n)
{
	sqlite3_stmt *q = NULL;
	*out = NULL;
	*n = 0;
	CL_ENSURE(limit >= 1 && limit <= 1001, CL_EINVAL, "limit must be in 1..1001");
	ctl_secret_event *es = calloc((size_t)limit, sizeof(*es));
	if (!es)
		return CL_ENOMEM;
	cl_err err = CTL_PREP(st, &q,
			      "SELECT id,kind,reason,detail,created_at FROM secret_events WHERE secret=? AND tenant_id=?"
			      " AND id>? ORDER BY id LIMIT ?",
			      CTL_TEXT(secret), CTL_TEXT(tenant_id), CTL_INT(after), CTL_INT(limit));
	if (err != CL_OK) {
		free(es);
		return err;
	}
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < (size_t)limit) {
		ctl_secret_event *e = &es[(*n)++];
		e->id = sqlite3_column_int64(q, 0);
		ctl_store_col_str(q, 1, e->kind, sizeof(e->kind));
		ctl_store_col_str(q, 2, e->reason, sizeof(e->reason));
		ctl_store_col_str(q, 3, e->detail, sizeof(e->detail));
		e->created_at = sqlite3_column_int64(q, 4);
	}
	ctl_store_finish(st, q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(es);
		*n = 0;
		return ctl_store_sqlerr(st, rc, "list secret events");
	}
	*out = es;
	return CL_OK;
}
