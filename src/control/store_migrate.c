/* store_migrate.c — schema migrations, recorded in schema_version.
 *
 * Each migration runs in its own transaction together with the row that
 * records it, so a kill mid-migration leaves the previous version intact and
 * the next start simply applies it again. Never edit a shipped migration:
 * append a new one.
 */
#include <stdio.h>

#include "control/store_priv.h"

static const char *const migrations[] = {
	/* 1: initial schema */
	"CREATE TABLE tenants(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);"
	"CREATE TABLE tokens(id TEXT PRIMARY KEY, kind TEXT NOT NULL, tenant_id TEXT NOT NULL,"
	" host_id TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, hash TEXT NOT NULL, created_at INTEGER NOT NULL);"
	"CREATE TABLE join_tokens(id TEXT PRIMARY KEY, hash TEXT NOT NULL, expires_at INTEGER NOT NULL,"
	" used INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE hosts(id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, level TEXT NOT NULL,"
	" zone TEXT NOT NULL DEFAULT '', rack TEXT NOT NULL DEFAULT '', memory_mib INTEGER NOT NULL,"
	" cpus INTEGER NOT NULL, last_seen INTEGER NOT NULL, generation INTEGER NOT NULL,"
	" caps TEXT, created_at INTEGER NOT NULL);"
	"CREATE TABLE images(id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL,"
	" sha384 TEXT NOT NULL, size INTEGER NOT NULL, created_at INTEGER NOT NULL);"
	"CREATE INDEX images_tenant ON images(tenant_id, id);"
	"CREATE TABLE enclaves(id TEXT PRIMARY KEY, name TEXT NOT NULL, tenant_id TEXT NOT NULL,"
	" image_id TEXT NOT NULL, host_id TEXT NOT NULL, state TEXT NOT NULL, desired TEXT NOT NULL,"
	" memory_mib INTEGER NOT NULL, cpus INTEGER NOT NULL, min_level TEXT NOT NULL,"
	" untrusted_mask INTEGER NOT NULL, access_hash TEXT NOT NULL, error TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, UNIQUE(tenant_id, name));"
	"CREATE INDEX enclaves_host ON enclaves(host_id);"
	"CREATE TABLE jobs(id TEXT PRIMARY KEY, kind TEXT NOT NULL, enclave_id TEXT NOT NULL,"
	" tenant_id TEXT NOT NULL, state TEXT NOT NULL, progress INTEGER NOT NULL, error TEXT NOT NULL DEFAULT '',"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE INDEX jobs_enclave ON jobs(enclave_id, state);",
};

cl_err ctl_store_migrate(ctl_store *st, int *version)
{
	cl_err err = CL_OK;
	sqlite3_stmt *q = NULL;
	int current = 0;
	CL_GUARD(ctl_store_exec(st, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)"));
	int rc = sqlite3_prepare_v2(st->db, "SELECT COALESCE(MAX(version),0) FROM schema_version", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return ctl_store_sqlerr(st, rc, "read schema version");
	if (sqlite3_step(q) == SQLITE_ROW)
		current = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	int want = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (current > want)
		return cl_errorf(CL_EINVAL, "database schema version %d is newer than this program (%d)", current, want);
	for (int v = current + 1; v <= want; v++) {
		char rec[96];
		snprintf(rec, sizeof(rec), "INSERT INTO schema_version(version) VALUES(%d)", v);
		CL_GUARD(ctl_store_begin(st));
		CL_GUARD_OUT(err, ctl_store_exec(st, migrations[v - 1]));
		CL_GUARD_OUT(err, ctl_store_exec(st, rec));
		CL_GUARD_OUT(err, ctl_store_commit(st));
	}
	/* Firmware tables (store_fw.c): CREATE ... IF NOT EXISTS in one
	 * transaction, idempotent like a migration. */
	CL_GUARD(ctl_store_fw_schema(st));
	if (version)
		*version = want;
	return CL_OK;
out:
	ctl_store_rollback(st);
	return err;
}
