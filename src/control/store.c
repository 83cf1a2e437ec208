/* store.c — SQLite store: open, transactions, and typed row access. */
#include "control/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "control/store_priv.h"
#include "control/store_state.h"

/* A token bucket: a burst of LOG_BURST lines, then one a second. */
#define LOG_BURST 5u
void ctl_store_log_failure(ctl_store *st, const char *what, int rc, const char *msg)
{
	if (st) {
		uint64_t now = cl_now_mono_ns() / 1000000u, cap = LOG_BURST * 1000u;
		uint64_t credit = st->log_last_ms ? st->log_credit_ms + (now - st->log_last_ms) : cap;
		st->log_credit_ms = credit > cap ? cap : credit;
		st->log_last_ms = now;
		if (st->log_credit_ms < 1000) {
			st->log_suppressed++;
			return;
		}
		st->log_credit_ms -= 1000;
	}
	cl_warn("storage failure what=\"%s\" rc=%d err=\"%s\" not_logged_since=%u", what, rc, msg,
		st ? st->log_suppressed : 0);
	if (st)
		st->log_suppressed = 0;
}

bool ctl_store_rc_full(ctl_store *st, int rc)
{
	int sys = st && st->db ? sqlite3_system_errno(st->db) : 0;
	return (rc & 0xff) == SQLITE_FULL || ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT));
}

cl_err ctl_store_sqlerr(ctl_store *st, int rc, const char *what)
{
	int base = rc & 0xff;
	if (base == SQLITE_CONSTRAINT)
		return cl_errorf(CL_ECONFLICT, "%s: already exists", what);
	const char *msg = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
	ctl_store_log_failure(st, what, rc, msg);
	if (ctl_store_rc_full(st, rc))
		return cl_errorf(CL_ENOSPACE,
				 "%s: the control plane's disk is full (%s): free space in its data directory (or delete "
				 "uploads or images) and retry",
				 what, msg);
	return cl_errorf(CL_EIO, "%s: %s", what, msg);
}

/* Runs sql without results; failures are reported as `what`. */
static cl_err exec_as(ctl_store *st, const char *sql, const char *what)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? CL_OK : ctl_store_sqlerr(st, rc, what);
}

cl_err ctl_store_exec(ctl_store *st, const char *sql)
{
	return exec_as(st, sql, "sql");
}

cl_err ctl_store_open(const char *path, ctl_store **out)
{
	ctl_store *st = calloc(1, sizeof(*st));
	if (!st)
		return CL_ENOMEM;
	/* Create the file 0600 ourselves so SQLite never makes it world-readable. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(st);
		return cl_errorf(CL_ESYS, "open %s failed", path);
	}
	close(fd);
	int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	cl_err err = CL_OK;
	if (rc != SQLITE_OK) {
		err = ctl_store_sqlerr(st, rc, "open database");
		goto out;
	}
	snprintf(st->dir, sizeof(st->dir), "%s", path);
	char *slash = strrchr(st->dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(st->dir, sizeof(st->dir), ".");
	sqlite3_busy_timeout(st->db, 5000);
	sqlite3_extended_result_codes(st->db, 1);
	CL_GUARD_OUT(err, ctl_store_exec(st, "PRAGMA journal_mode=WAL"));
	CL_GUARD_OUT(err, ctl_store_exec(st, "PRAGMA synchronous=FULL"));
	CL_GUARD_OUT(err, ctl_store_exec(st, "PRAGMA foreign_keys=ON"));
	CL_GUARD_OUT(err, ctl_store_migrate(st, NULL));
	*out = st;
	return CL_OK;
out:
	ctl_store_close(st);
	return err;
}

void ctl_store_close(ctl_store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < CTL_STMT_CACHE; i++)
		sqlite3_finalize(st->stmts[i].q);
	if (st->db)
		sqlite3_close_v2(st->db);
	free(st);
}

cl_err ctl_store_begin(ctl_store *st)
{
	if (st->in_tx)
		return cl_errorf(CL_EINTERNAL, "nested transaction");
	CL_GUARD(exec_as(st, "BEGIN IMMEDIATE", "begin"));
	st->in_tx = 1;
	return CL_OK;
}

cl_err ctl_store_commit(ctl_store *st)
{
	if (!st->in_tx)
		return cl_errorf(CL_EINTERNAL, "commit without transaction");
	cl_err e = exec_as(st, "COMMIT", "commit");
	if (e != CL_OK) {
		ctl_store_rollback(st); /* keeps the commit's error: the first one is the one reported */
		return e;
	}
	st->in_tx = 0;
	if (st->unsynced)
		ctl_store_sync_restore(st);
	return CL_OK;
}

void ctl_store_rollback(ctl_store *st)
{
	if (!st || !st->in_tx)
		return;
	st->in_tx = 0;
	/* SQLite may already have rolled back by itself (SQLITE_FULL, some I/O
	 * errors): a ROLLBACK then fails with "no transaction is active". Either
	 * way the error the caller reports is the one that made it roll back, so
	 * nothing here touches the thread's error detail. */
	if (!sqlite3_get_autocommit(st->db)) {
		int rc = sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			cl_warn("store rollback failed rc=%d err=\"%s\" (the connection rolls back on close)", rc,
				sqlite3_errmsg(st->db));
	}
	if (st->unsynced)
		ctl_store_sync_restore(st);
}

static uint64_t sql_hash(const char *sql)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return h;
}

/* A prepared statement for sql: a cached one not in use, else a new one,
 * cached in a free slot or in place of one not in use (round robin). */
static int stmt_get(ctl_store *st, const char *sql, sqlite3_stmt **q)
{
	uint64_t h = sql_hash(sql);
	ctl_stmt_slot *slot = NULL;
	for (size_t i = 0; i < CTL_STMT_CACHE; i++) {
		ctl_stmt_slot *s = &st->stmts[i];
		if (s->q && !s->busy && s->hash == h && strcmp(sqlite3_sql(s->q), sql) == 0) {
			s->busy = true;
			*q = s->q;
			return SQLITE_OK;
		}
		if (!s->q && !slot)
			slot = s;
	}
	for (size_t i = 0; !slot && i < CTL_STMT_CACHE; i++) {
		ctl_stmt_slot *s = &st->stmts[st->stmt_victim++ % CTL_STMT_CACHE];
		if (!s->busy)
			slot = s;
	}
	int rc = sqlite3_prepare_v2(st->db, sql, -1, q, NULL);
	if (rc != SQLITE_OK || !slot)
		return rc;
	sqlite3_finalize(slot->q);
	*slot = (ctl_stmt_slot){.q = *q, .hash = h, .busy = true};
	return SQLITE_OK;
}

void ctl_store_finish(ctl_store *st, sqlite3_stmt *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < CTL_STMT_CACHE; i++)
		if (st->stmts[i].q == q) {
			sqlite3_reset(q); /* its result is the step's, reported already */
			sqlite3_clear_bindings(q);
			st->stmts[i].busy = false;
			return;
		}
	sqlite3_finalize(q);
}

cl_err ctl_store_prepare(ctl_store *st, sqlite3_stmt **q, const char *sql, const ctl_sql_arg *args, size_t n)
{
	int rc = stmt_get(st, sql, q);
	if (rc != SQLITE_OK) {
		*q = NULL;
		return ctl_store_sqlerr(st, rc, "prepare");
	}
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		int idx = (int)i + 1;
		const ctl_sql_arg *a = &args[i];
		switch (a->type) {
		case CTL_SQL_TEXT:
			rc = a->v.text ? sqlite3_bind_text(*q, idx, a->v.text, -1, SQLITE_TRANSIENT)
				       : sqlite3_bind_null(*q, idx);
			break;
		case CTL_SQL_INT:
			rc = sqlite3_bind_int64(*q, idx, a->v.i);
			break;
		case CTL_SQL_BLOB: /* SQLite binds NULL for a NULL pointer */
			rc = sqlite3_bind_blob64(*q, idx, a->v.blob.p, (sqlite3_uint64)a->v.blob.n, SQLITE_TRANSIENT);
			break;
		default:
			rc = sqlite3_bind_null(*q, idx);
			break;
		}
	}
	if (rc != SQLITE_OK) {
		cl_err e = ctl_store_sqlerr(st, rc, "bind");
		ctl_store_finish(st, *q);
		*q = NULL;
		return e;
	}
	return CL_OK;
}

cl_err ctl_store_run(ctl_store *st, sqlite3_stmt *q, const char *what, int *changes)
{
	int rc = sqlite3_step(q);
	ctl_store_finish(st, q);
	if (rc != SQLITE_DONE)
		return ctl_store_sqlerr(st, rc, what);
	if (changes)
		*changes = sqlite3_changes(st->db);
	return CL_OK;
}

cl_err ctl_store_one(ctl_store *st, sqlite3_stmt *q, ctl_store_reader read, void *out, const char *notfound,
		     const char *what)
{
	int rc = sqlite3_step(q);
	cl_err err;
	if (rc == SQLITE_ROW)
		err = read(q, out);
	else if (rc == SQLITE_DONE)
		err = cl_errorf(CL_ENOTFOUND, "%s", notfound);
	else
		err = ctl_store_sqlerr(st, rc, what);
	ctl_store_finish(st, q);
	return err;
}

void ctl_store_col_str(sqlite3_stmt *q, int c, char *out, size_t n)
{
	const unsigned char *s = sqlite3_column_text(q, c);
	snprintf(out, n, "%s", s ? (const char *)s : "");
}

char *ctl_store_col_dup(sqlite3_stmt *q, int c)
{
	const unsigned char *s = sqlite3_column_text(q, c);
	return strdup(s ? (const char *)s : "");
}

cl_err ctl_store_ids(ctl_store *st, sqlite3_stmt *q, size_t limit, const char *what, char (**ids)[CTL_ID_MAX],
		     size_t *n)
{
	*ids = NULL;
	*n = 0;
	char(*arr)[CTL_ID_MAX] = calloc(limit ? limit : 1, CTL_ID_MAX);
	if (!arr) {
		ctl_store_finish(st, q);
		return CL_ENOMEM;
	}
	size_t cnt = 0;
	int rc = SQLITE_DONE;
	while (cnt < limit && (rc = sqlite3_step(q)) == SQLITE_ROW)
		ctl_store_col_str(q, 0, arr[cnt++], CTL_ID_MAX);
	ctl_store_finish(st, q);
	if (cnt < limit && rc != SQLITE_DONE) {
		free(arr);
		return ctl_store_sqlerr(st, rc, what);
	}
	*ids = arr;
	*n = cnt;
	return CL_OK;
}

/* Reads all rows into a malloc'd array of elements of size sz. */
static cl_err get_all(ctl_store *st, sqlite3_stmt *q, ctl_store_reader rd, size_t sz, void **out, size_t *n,
		      const char *what)
{
	uint8_t *arr = NULL;
	size_t cnt = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			uint8_t *na = realloc(arr, ncap * sz);
			if (!na) {
				ctl_store_finish(st, q);
				free(arr);
				return CL_ENOMEM;
			}
			arr = na;
			cap = ncap;
		}
		memset(arr + cnt * sz, 0, sz);
		cl_err err = rd(q, arr + cnt * sz);
		if (err != CL_OK) {
			ctl_store_finish(st, q);
			free(arr);
			return err;
		}
		cnt++;
	}
	ctl_store_finish(st, q);
	if (rc != SQLITE_DONE) {
		free(arr);
		return ctl_store_sqlerr(st, rc, what);
	}
	*out = arr;
	*n = cnt;
	return CL_OK;
}

/* ---- tenants ---- */

static cl_err read_tenant(sqlite3_stmt *q, void *o)
{
	ctl_tenant *t = o;
	ctl_store_col_str(q, 0, t->id, sizeof(t->id));
	ctl_store_col_str(q, 1, t->name, sizeof(t->name));
	t->created_at = sqlite3_column_int64(q, 2);
	return CL_OK;
}

cl_err ctl_store_tenant_insert(ctl_store *st, const ctl_tenant *t)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO tenants(id,name,created_at) VALUES(?,?,?)", CTL_TEXT(t->id),
			  CTL_TEXT(t->name), CTL_INT(t->created_at)));
	return ctl_store_run(st, q, "tenant", NULL);
}

cl_err ctl_store_tenant_get(ctl_store *st, const char *id, ctl_tenant *out)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT id,name,created_at FROM tenants WHERE id=?", CTL_TEXT(id)));
	return ctl_store_one(st, q, read_tenant, out, "tenant not found", "tenant");
}

cl_err ctl_store_tenant_list(ctl_store *st, const char *after, int limit, ctl_tenant **out, size_t *n)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT id,name,created_at FROM tenants WHERE id > ? ORDER BY id LIMIT ?",
			  CTL_TEXT(after ? after : ""), CTL_INT(limit)));
	return get_all(st, q, read_tenant, sizeof(ctl_tenant), (void **)out, n, "tenants");
}

/* ---- tokens ---- */

static cl_err read_token(sqlite3_stmt *q, void *o)
{
	ctl_token *t = o;
	ctl_store_col_str(q, 0, t->id, sizeof(t->id));
	ctl_store_col_str(q, 1, t->kind, sizeof(t->kind));
	ctl_store_col_str(q, 2, t->tenant_id, sizeof(t->tenant_id));
	ctl_store_col_str(q, 3, t->host_id, sizeof(t->host_id));
	ctl_store_col_str(q, 4, t->name, sizeof(t->name));
	ctl_store_col_str(q, 5, t->hash, sizeof(t->hash));
	t->created_at = sqlite3_column_int64(q, 6);
	t->expires_at = sqlite3_column_int64(q, 7);
	t->revoked_at = sqlite3_column_int64(q, 8);
	return CL_OK;
}

cl_err ctl_store_token_insert(ctl_store *st, const ctl_token *t)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT INTO tokens(id,kind,tenant_id,host_id,name,hash,created_at,expires_at,revoked_at)"
			  " VALUES(?,?,?,?,?,?,?,?,?)",
			  CTL_TEXT(t->id), CTL_TEXT(t->kind), CTL_TEXT(t->tenant_id), CTL_TEXT(t->host_id),
			  CTL_TEXT(t->name), CTL_TEXT(t->hash), CTL_INT(t->created_at), CTL_INT(t->expires_at),
			  CTL_INT(t->revoked_at)));
	return ctl_store_run(st, q, "token", NULL);
}

cl_err ctl_store_token_get(ctl_store *st, const char *id, ctl_token *out)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(
		st, &q,
		"SELECT id,kind,tenant_id,host_id,name,hash,created_at,expires_at,revoked_at FROM tokens WHERE id=?",
		CTL_TEXT(id)));
	return ctl_store_one(st, q, read_token, out, "token not found", "token");
}

static cl_err read_i64(sqlite3_stmt *q, void *o)
{
	*(int64_t *)o = sqlite3_column_int64(q, 0);
	return CL_OK;
}

cl_err ctl_store_admin_count(ctl_store *st, int64_t now_ms, const char *except_id, int64_t *n)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(
		st, &q,
		"SELECT COUNT(*) FROM tokens WHERE kind='admin' AND revoked_at=0 AND (expires_at=0 OR expires_at>?)"
		" AND id != ?",
		CTL_INT(now_ms), CTL_TEXT(except_id ? except_id : "")));
	return ctl_store_one(st, q, read_i64, n, "admin count not found", "admin count");
}

/* ---- join tokens ---- */

cl_err ctl_store_join_insert(ctl_store *st, const char *id, const char *hash, const char *level,
			     int64_t expires_at)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO join_tokens(id,hash,level,expires_at) VALUES(?,?,?,?)", CTL_TEXT(id),
			  CTL_TEXT(hash), CTL_TEXT(level), CTL_INT(expires_at)));
	return ctl_store_run(st, q, "join token", NULL);
}

struct join_row {
	char *hash, *level;
};

static cl_err read_join(sqlite3_stmt *q, void *o)
{
	struct join_row *r = o;
	ctl_store_col_str(q, 0, r->hash, CTL_HASH_MAX);
	ctl_store_col_str(q, 1, r->level, CTL_LEVEL_MAX);
	return CL_OK;
}

cl_err ctl_store_join_get(ctl_store *st, const char *id, int64_t now_ms, char hash[CTL_HASH_MAX],
			  char level[CTL_LEVEL_MAX])
{
	sqlite3_stmt *q;
	struct join_row row = {hash, level};
	CL_GUARD(CTL_PREP(st, &q, "SELECT hash,level FROM join_tokens WHERE id=? AND used=0 AND expires_at>?",
			  CTL_TEXT(id), CTL_INT(now_ms)));
	cl_err e = ctl_store_one(st, q, read_join, &row, "join token not found", "join token");
	if (e == CL_ENOTFOUND)
		return cl_errorf(CL_EAUTH, "join token is unknown, used or expired");
	return e;
}

cl_err ctl_store_join_consume(ctl_store *st, const char *id)
{
	sqlite3_stmt *q;
	int changes = 0;
	CL_GUARD(CTL_PREP(st, &q, "UPDATE join_tokens SET used=1 WHERE id=? AND used=0", CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "join token", &changes));
	CL_ENSURE(changes == 1, CL_EAUTH, "join token already used");
	return CL_OK;
}

/* ---- hosts ---- */

#define HOST_COLS                                                                                          \
	"h.id,h.name,h.state,h.level,h.zone,h.rack,h.memory_mib,h.cpus,h.last_seen,h.generation,h.created_at," \
	"h.caps,(SELECT COALESCE(SUM(memory_mib),0) FROM enclaves e WHERE e.host_id=h.id"                     \
	" AND e.state<>'suspended'),"                                                                        \
	"(SELECT COALESCE(SUM(cpus),0) FROM enclaves e WHERE e.host_id=h.id AND e.state<>'suspended'),"       \
	"(SELECT COUNT(*) FROM enclaves e WHERE e.host_id=h.id AND e.state<>'suspended')"

static cl_err read_host(sqlite3_stmt *q, void *o)
{
	ctl_host *h = o;
	ctl_store_col_str(q, 0, h->id, sizeof(h->id));
	ctl_store_col_str(q, 1, h->name, sizeof(h->name));
	ctl_store_col_str(q, 2, h->state, sizeof(h->state));
	ctl_store_col_str(q, 3, h->level, sizeof(h->level));
	ctl_store_col_str(q, 4, h->zone, sizeof(h->zone));
	ctl_store_col_str(q, 5, h->rack, sizeof(h->rack));
	h->memory_mib = sqlite3_column_int64(q, 6);
	h->cpus = sqlite3_column_int64(q, 7);
	h->last_seen = sqlite3_column_int64(q, 8);
	h->generation = sqlite3_column_int64(q, 9);
	h->created_at = sqlite3_column_int64(q, 10);
	const unsigned char *caps = sqlite3_column_text(q, 11);
	h->caps_json = caps ? strdup((const char *)caps) : NULL; /* NULL on OOM too: callers treat as no caps */
	h->mem_used_mib = sqlite3_column_int64(q, 12);
	h->cpus_used = sqlite3_column_int64(q, 13);
	h->nenclaves = sqlite3_column_int64(q, 14);
	return CL_OK;
}

void ctl_host_clear(ctl_host *h)
{
	if (!h)
		return;
	free(h->caps_json);
	h->caps_json = NULL;
}

void ctl_host_list_free(ctl_host *hosts, size_t n)
{
	for (size_t i = 0; hosts && i < n; i++)
		ctl_host_clear(&hosts[i]);
	free(hosts);
}

cl_err ctl_store_host_insert(ctl_store *st, const ctl_host *h)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT INTO hosts(id,name,state,level,zone,rack,memory_mib,cpus,last_seen,generation,caps,"
			  "created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
			  CTL_TEXT(h->id), CTL_TEXT(h->name), CTL_TEXT(h->state), CTL_TEXT(h->level), CTL_TEXT(h->zone),
			  CTL_TEXT(h->rack), CTL_INT(h->memory_mib), CTL_INT(h->cpus), CTL_INT(h->last_seen),
			  CTL_INT(h->generation), CTL_TEXT(h->caps_json), CTL_INT(h->created_at)));
	return ctl_store_run(st, q, "host", NULL);
}

cl_err ctl_store_host_get(ctl_store *st, const char *id, ctl_host *out)
{
	sqlite3_stmt *q;
	memset(out, 0, sizeof(*out));
	CL_GUARD(CTL_PREP(st, &q, "SELECT " HOST_COLS " FROM hosts h WHERE h.id=?", CTL_TEXT(id)));
	return ctl_store_one(st, q, read_host, out, "host not found", "host");
}

cl_err ctl_store_host_list(ctl_store *st, const char *state, const char *after, int limit, ctl_host **out,
			   size_t *n)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT " HOST_COLS
			  " FROM hosts h WHERE (?1 IS NULL AND h.state != 'removed' OR h.state = ?1)"
			  " AND h.id > ?2 ORDER BY h.id LIMIT ?3",
			  CTL_TEXT(state), CTL_TEXT(after ? after : ""), CTL_INT(limit)));
	return get_all(st, q, read_host, sizeof(ctl_host), (void **)out, n, "hosts");
}

cl_err ctl_store_host_seen(ctl_store *st, const ctl_host *h)
{
	sqlite3_stmt *q;
	int changes = 0;
	if (h->caps_json)
		CL_GUARD(CTL_PREP(st, &q,
				  "UPDATE hosts SET last_seen=?,state='ready',caps=?,zone=?,rack=?,memory_mib=?,"
				  "cpus=? WHERE id=? AND state != 'removed'",
				  CTL_INT(h->last_seen), CTL_TEXT(h->caps_json), CTL_TEXT(h->zone), CTL_TEXT(h->rack),
				  CTL_INT(h->memory_mib), CTL_INT(h->cpus), CTL_TEXT(h->id)));
	else
		CL_GUARD(CTL_PREP(st, &q,
				  "UPDATE hosts SET last_seen=?,state='ready' WHERE id=? AND state != 'removed'",
				  CTL_INT(h->last_seen), CTL_TEXT(h->id)));
	CL_GUARD(ctl_store_run(st, q, "host", &changes));
	CL_ENSURE(changes == 1, CL_ENOTFOUND, "host not found");
	return CL_OK;
}

cl_err ctl_store_host_bump(ctl_store *st, const char *id)
{
	sqlite3_stmt *q;
	int changes = 0;
	CL_GUARD(CTL_PREP(st, &q, "UPDATE hosts SET generation=generation+1 WHERE id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "host", &changes));
	CL_ENSURE(changes == 1, CL_ENOTFOUND, "host not found");
	return CL_OK;
}

cl_err ctl_store_hosts_mark_lost(ctl_store *st, int64_t cutoff_ms, int *n)
{
	sqlite3_stmt *q;
	cl_err err;
	*n = 0;
	CL_GUARD(ctl_store_begin(st));
	/* a lost host's attestation certificates are revoked with it (a host
	 * back from lost asks for a new one: sync's attestation_serial) */
	CL_GUARD_OUT(err, CTL_PREP(st, &q,
				   "UPDATE host_certs SET revoked_at=?, reason='lost' WHERE revoked_at=0 AND host_id IN"
				   " (SELECT id FROM hosts WHERE state='ready' AND last_seen<?)",
				   CTL_INT(cl_now_wall_ms() / 1000), CTL_INT(cutoff_ms)));
	CL_GUARD_OUT(err, ctl_store_run(st, q, "host certificates", NULL));
	CL_GUARD_OUT(err,
		     CTL_PREP(st, &q,
			      "UPDATE enclaves SET state='lost' WHERE state NOT IN ('destroying','lost','suspended') AND host_id IN"
			      " (SELECT id FROM hosts WHERE state='ready' AND last_seen<?)",
			      CTL_INT(cutoff_ms)));
	CL_GUARD_OUT(err, ctl_store_run(st, q, "enclaves", NULL));
	CL_GUARD_OUT(err, CTL_PREP(st, &q, "UPDATE hosts SET state='lost' WHERE state='ready' AND last_seen<?",
				   CTL_INT(cutoff_ms)));
	CL_GUARD_OUT(err, ctl_store_run(st, q, "hosts", n));
	CL_GUARD_OUT(err, ctl_store_commit(st));
	return CL_OK;
out:
	ctl_store_rollback(st);
	return err;
}

/* ---- enclaves ---- */

#define ENCLAVE_COLS                                                                                       \
	"id,name,tenant_id,image_id,host_id,state,desired,memory_mib,cpus,min_level,untrusted_mask,"       \
	"access_hash,error,created_at,updated_at"
/* what a SELECT reads: the columns, then whether the enclave awaits a bundle
 * (a row of enclave_await, migration 9) */
#define ENCLAVE_SEL                                                                                        \
	ENCLAVE_COLS ",EXISTS(SELECT 1 FROM enclave_await a WHERE a.enclave_id=enclaves.id),"             \
		     "EXISTS(SELECT 1 FROM enclave_suspendable s WHERE s.enclave_id=enclaves.id),"             \
		     "(SELECT expose FROM enclave_network n WHERE n.enclave_id=enclaves.id),"                  \
		     "(SELECT address FROM enclave_network n WHERE n.enclave_id=enclaves.id),"                 \
		     "(SELECT host_address FROM enclave_network n WHERE n.enclave_id=enclaves.id)"

static cl_err read_enclave(sqlite3_stmt *q, void *o)
{
	ctl_enclave *e = o;
	ctl_store_col_str(q, 0, e->id, sizeof(e->id));
	ctl_store_col_str(q, 1, e->name, sizeof(e->name));
	ctl_store_col_str(q, 2, e->tenant_id, sizeof(e->tenant_id));
	ctl_store_col_str(q, 3, e->image_id, sizeof(e->image_id));
	ctl_store_col_str(q, 4, e->host_id, sizeof(e->host_id));
	ctl_store_col_str(q, 5, e->state, sizeof(e->state));
	ctl_store_col_str(q, 6, e->desired, sizeof(e->desired));
	e->memory_mib = sqlite3_column_int64(q, 7);
	e->cpus = sqlite3_column_int64(q, 8);
	ctl_store_col_str(q, 9, e->min_level, sizeof(e->min_level));
	e->untrusted_mask = (uint32_t)sqlite3_column_int64(q, 10);
	ctl_store_col_str(q, 11, e->access_hash, sizeof(e->access_hash));
	ctl_store_col_str(q, 12, e->error, sizeof(e->error));
	e->created_at = sqlite3_column_int64(q, 13);
	e->updated_at = sqlite3_column_int64(q, 14);
	e->await_bundle = sqlite3_column_int64(q, 15) != 0;
	e->suspendable = sqlite3_column_int64(q, 16) != 0;
	/* a row of enclave_network (migration 12): created with a network */
	e->network = sqlite3_column_type(q, 17) != SQLITE_NULL;
	e->nexpose = 0;
	if (e->network)
		ctl_expose_parse((const char *)sqlite3_column_text(q, 17), e->expose, &e->nexpose);
	ctl_store_col_str(q, 18, e->net_address, sizeof(e->net_address));
	ctl_store_col_str(q, 19, e->net_host_address, sizeof(e->net_host_address));
	return CL_OK;
}

void ctl_expose_parse(const char *text, uint16_t *ports, uint32_t *n)
{
	*n = 0;
	while (text && *text && *n < CTL_EXPOSE_MAX) {
		char *end;
		unsigned long v = strtoul(text, &end, 10);
		if (end == text || v == 0 || v > 65535)
			return; /* the store wrote it: cannot happen */
		ports[(*n)++] = (uint16_t)v;
		text = *end == ',' ? end + 1 : end;
	}
}

void ctl_expose_text(const uint16_t *ports, uint32_t n, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	for (uint32_t i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%u", i ? "," : "", (unsigned)ports[i]);
}

cl_err ctl_store_enclave_net_set(ctl_store *st, const char *id, const char *address, const char *host_address)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE enclave_network SET address=?, host_address=? WHERE enclave_id=? AND"
			  " (address<>?1 OR host_address<>?2)",
			  CTL_TEXT(address), CTL_TEXT(host_address), CTL_TEXT(id)));
	return ctl_store_run(st, q, "enclave network", NULL);
}

cl_err ctl_store_enclave_insert(ctl_store *st, const ctl_enclave *e)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO enclaves(" ENCLAVE_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			  CTL_TEXT(e->id), CTL_TEXT(e->name), CTL_TEXT(e->tenant_id), CTL_TEXT(e->image_id),
			  CTL_TEXT(e->host_id), CTL_TEXT(e->state), CTL_TEXT(e->desired), CTL_INT(e->memory_mib),
			  CTL_INT(e->cpus), CTL_TEXT(e->min_level), CTL_INT(e->untrusted_mask),
			  CTL_TEXT(e->access_hash), CTL_TEXT(e->error), CTL_INT(e->created_at),
			  CTL_INT(e->updated_at)));
	CL_GUARD(ctl_store_run(st, q, "enclave", NULL));
	if (e->await_bundle) {
		CL_GUARD(CTL_PREP(st, &q, "INSERT INTO enclave_await(enclave_id) VALUES(?)", CTL_TEXT(e->id)));
		CL_GUARD(ctl_store_run(st, q, "enclave", NULL));
	}
	if (e->suspendable) {
		CL_GUARD(CTL_PREP(st, &q, "INSERT INTO enclave_suspendable(enclave_id) VALUES(?)", CTL_TEXT(e->id)));
		CL_GUARD(ctl_store_run(st, q, "enclave", NULL));
	}
	if (!e->network)
		return CL_OK;
	char expose[CTL_EXPOSE_TEXT_MAX];
	ctl_expose_text(e->expose, e->nexpose, expose, sizeof(expose));
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO enclave_network(enclave_id, expose) VALUES(?,?)", CTL_TEXT(e->id),
			  CTL_TEXT(expose)));
	return ctl_store_run(st, q, "enclave", NULL);
}

cl_err ctl_store_enclave_get(ctl_store *st, const char *id, ctl_enclave *out)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT " ENCLAVE_SEL " FROM enclaves WHERE id=?", CTL_TEXT(id)));
	return ctl_store_one(st, q, read_enclave, out, "enclave not found", "enclave");
}

cl_err ctl_store_enclave_update(ctl_store *st, const ctl_enclave *e)
{
	sqlite3_stmt *q;
	int changes = 0;
	CL_GUARD(CTL_PREP(st, &q, "UPDATE enclaves SET state=?,desired=?,memory_mib=?,error=?,updated_at=? WHERE id=?",
			  CTL_TEXT(e->state), CTL_TEXT(e->desired), CTL_INT(e->memory_mib), CTL_TEXT(e->error),
			  CTL_INT(e->updated_at), CTL_TEXT(e->id)));
	CL_GUARD(ctl_store_run(st, q, "enclave", &changes));
	CL_ENSURE(changes == 1, CL_ENOTFOUND, "enclave not found");
	return CL_OK;
}

cl_err ctl_store_enclave_move(ctl_store *st, const char *id, const char *host_id)
{
	sqlite3_stmt *q;
	int changes = 0;
	CL_GUARD(CTL_PREP(st, &q, "UPDATE enclaves SET host_id=? WHERE id=?", CTL_TEXT(host_id), CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "enclave", &changes));
	CL_ENSURE(changes == 1, CL_ENOTFOUND, "enclave not found");
	return CL_OK;
}

cl_err ctl_store_enclave_delete(ctl_store *st, const char *id)
{
	sqlite3_stmt *q;
	int changes = 0;
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM enclaves WHERE id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "enclave", &changes));
	CL_ENSURE(changes == 1, CL_ENOTFOUND, "enclave not found");
	/* its measurement registers (store_cert.c) go with it */
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM enclave_pcrs WHERE enclave_id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "enclave pcrs", NULL));
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM enclave_measure WHERE enclave_id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "enclave measure", NULL));
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM enclave_await WHERE enclave_id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "enclave", NULL));
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM enclave_network WHERE enclave_id=?", CTL_TEXT(id)));
	CL_GUARD(ctl_store_run(st, q, "enclave", NULL));
	/* its suspend state (store_state.c): the flag and every state key, in
	 * this transaction (a blob left behind no longer opens: its key exists
	 * nowhere); the blob's file is the caller's to unlink after the commit */
	char blob[CTL_STATE_PATH_MAX];
	return ctl_store_state_delete(st, id, blob);
}

cl_err ctl_store_enclave_list(ctl_store *st, const char *tenant_id, uint32_t require_mask, const char *after,
			      int limit, ctl_enclave **out, size_t *n)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT " ENCLAVE_SEL " FROM enclaves WHERE (?1 IS NULL OR tenant_id=?1) AND"
			  " (untrusted_mask & ?2) = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
			  CTL_TEXT(tenant_id), CTL_INT(require_mask), CTL_TEXT(after ? after : ""), CTL_INT(limit)));
	return get_all(st, q, read_enclave, sizeof(ctl_enclave), (void **)out, n, "enclaves");
}

cl_err ctl_store_enclave_by_host(ctl_store *st, const char *host_id, ctl_enclave **out, size_t *n)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT " ENCLAVE_SEL " FROM enclaves WHERE host_id=? ORDER BY id",
			  CTL_TEXT(host_id)));
	return get_all(st, q, read_enclave, sizeof(ctl_enclave), (void **)out, n, "enclaves");
}

cl_err ctl_store_count_by(ctl_store *st, const char *table, const char *column,
			  void (*fn)(void *arg, const char *value, int64_t count), void *arg)
{
	static const char *const allowed[][2] = {{"enclaves", "state"}, {"hosts", "state"}, {"jobs", "state"}};
	char sql[160];
	bool ok = false;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		ok |= strcmp(table, allowed[i][0]) == 0 && strcmp(column, allowed[i][1]) == 0;
	CL_ENSURE(ok, CL_EINVAL, "cannot count %s.%s", table, column);
	snprintf(sql, sizeof(sql), "SELECT %s, COUNT(*) FROM %s GROUP BY %s", column, table, column);
	sqlite3_stmt *q;
	CL_GUARD(ctl_store_prepare(st, &q, sql, NULL, 0));
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(q, 0);
		fn(arg, v ? (const char *)v : "", sqlite3_column_int64(q, 1));
	}
	ctl_store_finish(st, q);
	return rc == SQLITE_DONE ? CL_OK : ctl_store_sqlerr(st, rc, "count");
}

/* ---- jobs ---- */

#define JOB_COLS "id,kind,enclave_id,tenant_id,state,progress,error,created_at,updated_at"

static cl_err read_job(sqlite3_stmt *q, void *o)
{
	ctl_job *j = o;
	ctl_store_col_str(q, 0, j->id, sizeof(j->id));
	ctl_store_col_str(q, 1, j->kind, sizeof(j->kind));
	ctl_store_col_str(q, 2, j->enclave_id, sizeof(j->enclave_id));
	ctl_store_col_str(q, 3, j->tenant_id, sizeof(j->tenant_id));
	ctl_store_col_str(q, 4, j->state, sizeof(j->state));
	j->progress = sqlite3_column_int64(q, 5);
	ctl_store_col_str(q, 6, j->error, sizeof(j->error));
	j->created_at = sqlite3_column_int64(q, 7);
	j->updated_at = sqlite3_column_int64(q, 8);
	return CL_OK;
}

cl_err ctl_store_job_insert(ctl_store *st, const ctl_job *j)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO jobs(" JOB_COLS ") VALUES(?,?,?,?,?,?,?,?,?)", CTL_TEXT(j->id),
			  CTL_TEXT(j->kind), CTL_TEXT(j->enclave_id), CTL_TEXT(j->tenant_id), CTL_TEXT(j->state),
			  CTL_INT(j->progress), CTL_TEXT(j->error), CTL_INT(j->created_at), CTL_INT(j->updated_at)));
	return ctl_store_run(st, q, "job", NULL);
}

cl_err ctl_store_job_get(ctl_store *st, const char *id, ctl_job *out)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT " JOB_COLS " FROM jobs WHERE id=?", CTL_TEXT(id)));
	return ctl_store_one(st, q, read_job, out, "job not found", "job");
}

cl_err ctl_store_job_update(ctl_store *st, const ctl_job *j)
{
	sqlite3_stmt *q;
	int changes = 0;
	CL_GUARD(CTL_PREP(st, &q, "UPDATE jobs SET state=?,progress=?,error=?,updated_at=? WHERE id=?",
			  CTL_TEXT(j->state), CTL_INT(j->progress), CTL_TEXT(j->error), CTL_INT(j->updated_at),
			  CTL_TEXT(j->id)));
	CL_GUARD(ctl_store_run(st, q, "job", &changes));
	CL_ENSURE(changes == 1, CL_ENOTFOUND, "job not found");
	return CL_OK;
}

cl_err ctl_store_job_active(ctl_store *st, const char *enclave_id, ctl_job **out, size_t *n)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT " JOB_COLS " FROM jobs WHERE enclave_id=? AND state IN ('pending','running')"
			  " ORDER BY created_at, id",
			  CTL_TEXT(enclave_id)));
	return get_all(st, q, read_job, sizeof(ctl_job), (void **)out, n, "jobs");
}
