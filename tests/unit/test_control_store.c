/* Unit tests for src/control/store.c: CRUD, migrations, transactions, and
 * the negative cases (duplicates, missing rows, rollback leaves nothing). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/util.h"
#include "control/store.h"
#include "control/store_cert.h"
#include "control/store_state.h"
#include "control/store_jobwait.h"
#include "control/store_priv.h"
#include "control/upload.h"
#include "control/store_fw.h"

#include "store_fixture.h"

static void tenant_crud(void **state)
{
	fixture *f = *state;
	ctl_tenant t = {.id = "ten-a", .name = "acme", .created_at = 1}, got;
	assert_int_equal(ctl_store_tenant_insert(f->st, &t), CL_OK);
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-a", &got), CL_OK);
	assert_string_equal(got.name, "acme");
	assert_int_equal(got.created_at, 1);
	/* duplicate id and duplicate name are conflicts */
	assert_int_equal(ctl_store_tenant_insert(f->st, &t), CL_ECONFLICT);
	ctl_tenant t2 = {.id = "ten-b", .name = "acme"};
	assert_int_equal(ctl_store_tenant_insert(f->st, &t2), CL_ECONFLICT);
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-b", &got), CL_ENOTFOUND);
	ctl_tenant *list = NULL;
	size_t n = 0;
	assert_int_equal(ctl_store_tenant_list(f->st, "", 10, &list, &n), CL_OK);
	assert_int_equal(n, 1);
	free(list);
	/* pages in id order, whatever the names */
	ctl_tenant t3 = {.id = "ten-0", .name = "zulu"}, t4 = {.id = "ten-z", .name = "alpha"};
	assert_int_equal(ctl_store_tenant_insert(f->st, &t3), CL_OK);
	assert_int_equal(ctl_store_tenant_insert(f->st, &t4), CL_OK);
	assert_int_equal(ctl_store_tenant_list(f->st, "", 2, &list, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "ten-0");
	assert_string_equal(list[1].id, "ten-a");
	free(list);
	assert_int_equal(ctl_store_tenant_list(f->st, "ten-a", 2, &list, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "ten-z");
	free(list);
}

static void rollback_leaves_nothing(void **state)
{
	fixture *f = *state;
	ctl_tenant t = {.id = "ten-r", .name = "rolled"}, got;
	assert_int_equal(ctl_store_begin(f->st), CL_OK);
	assert_int_equal(ctl_store_begin(f->st), CL_EINTERNAL); /* no nesting */
	assert_int_equal(ctl_store_tenant_insert(f->st, &t), CL_OK);
	ctl_store_rollback(f->st);
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-r", &got), CL_ENOTFOUND);
	assert_int_equal(ctl_store_commit(f->st), CL_EINTERNAL); /* nothing open */
	assert_int_equal(ctl_store_begin(f->st), CL_OK);
	assert_int_equal(ctl_store_tenant_insert(f->st, &t), CL_OK);
	assert_int_equal(ctl_store_commit(f->st), CL_OK);
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-r", &got), CL_OK);
}

/* Runs sql on the database file directly (outside the store). */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Reads one integer with sql (-1 if no row). */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int64_t v = -1;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

/* A database at schema version 1 (join_tokens without level; firmware tables
 * either absent or created outside the migrations by earlier builds) is
 * migrated to 2 on open, keeping its rows. */
static void migrate_v1_to_v2(void **state)
{
	fixture *f = *state;
	ctl_store_close(f->st);
	f->st = NULL;
	raw_exec(f->path, "DELETE FROM schema_version WHERE version > 1;"
			  "DROP TABLE join_tokens;"
			  "CREATE TABLE join_tokens(id TEXT PRIMARY KEY, hash TEXT NOT NULL, expires_at INTEGER NOT NULL,"
			  " used INTEGER NOT NULL DEFAULT 0);"
			  "INSERT INTO join_tokens(id,hash,expires_at) VALUES('join-old','v1$h',5000);"
			  "DROP TABLE tokens;" /* version 1's tokens: no expiry, no revocation (migration 4) */
			  "CREATE TABLE tokens(id TEXT PRIMARY KEY, kind TEXT NOT NULL, tenant_id TEXT NOT NULL,"
			  " host_id TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, hash TEXT NOT NULL,"
			  " created_at INTEGER NOT NULL);"
			  "DROP TABLE fw_ops; DROP TABLE fw_releases;"
			  "INSERT INTO host_fw(host_id,eligible,quarantined,window_open,devices,updated_at)"
			  " VALUES('host-old',1,0,0,'[]',1);");
	assert_int_equal(raw_int(f->path, "SELECT MAX(version) FROM schema_version"), 1);
	assert_int_equal(ctl_store_open(f->path, &f->st), CL_OK);
	assert_int_equal(raw_int(f->path, "SELECT MAX(version) FROM schema_version"), CTL_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM schema_version"), CTL_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM fw_ops"), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM fw_releases"), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM host_fw"), 1);
	char hash[CTL_HASH_MAX], level[CTL_LEVEL_MAX];
	assert_int_equal(ctl_store_join_get(f->st, "join-old", 0, hash, level), CL_OK);
	assert_string_equal(level, "software"); /* the lowest: old tokens admit no more */
	int v = 0;
	assert_int_equal(ctl_store_migrate(f->st, &v), CL_OK);
	assert_int_equal(v, CTL_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM schema_version"), CTL_SCHEMA_VERSION);
}

static void migrations_idempotent(void **state)
{
	fixture *f = *state;
	int v = 0;
	assert_int_equal(ctl_store_migrate(f->st, &v), CL_OK);
	assert_int_equal(v, CTL_SCHEMA_VERSION);
	assert_int_equal(ctl_store_migrate(f->st, &v), CL_OK);
	assert_int_equal(v, CTL_SCHEMA_VERSION);
	/* reopening the same file applies nothing new and keeps the data */
	ctl_tenant t = {.id = "ten-m", .name = "kept"}, got;
	assert_int_equal(ctl_store_tenant_insert(f->st, &t), CL_OK);
	ctl_store_close(f->st);
	assert_int_equal(ctl_store_open(f->path, &f->st), CL_OK);
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-m", &got), CL_OK);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void tokens_and_join(void **state)
{
	fixture *f = *state;
	ctl_token t = {.id = "tok-1", .kind = "admin", .tenant_id = CTL_PROVIDER_TENANT, .name = "a", .hash = "v1$x"},
		  got;
	int64_t n = -1;
	assert_int_equal(ctl_store_admin_count(f->st, 0, NULL, &n), CL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(ctl_store_token_insert(f->st, &t), CL_OK);
	assert_int_equal(ctl_store_admin_count(f->st, 0, NULL, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ctl_store_token_get(f->st, "tok-1", &got), CL_OK);
	assert_string_equal(got.kind, "admin");
	assert_int_equal(ctl_store_token_get(f->st, "tok-2", &got), CL_ENOTFOUND);

	char hash[CTL_HASH_MAX];
	char level[CTL_LEVEL_MAX];
	assert_int_equal(ctl_store_join_insert(f->st, "join-1", "v1$h", "tpm", 1000), CL_OK);
	assert_int_equal(ctl_store_join_get(f->st, "join-1", 999, hash, level), CL_OK);
	assert_string_equal(level, "tpm");
	assert_string_equal(hash, "v1$h");
	assert_int_equal(ctl_store_join_get(f->st, "join-1", 1000, hash, level), CL_EAUTH); /* expired */
	assert_int_equal(ctl_store_join_consume(f->st, "join-1"), CL_OK);
	assert_int_equal(ctl_store_join_consume(f->st, "join-1"), CL_EAUTH); /* one-time */
	assert_int_equal(ctl_store_join_get(f->st, "join-1", 0, hash, level), CL_EAUTH);
	assert_int_equal(ctl_store_join_consume(f->st, "join-x"), CL_EAUTH);
}

static void add_token(fixture *f, const char *id, const char *kind, const char *tenant, const char *host,
		      int64_t expires_at)
{
	ctl_token t = {.hash = "v1$secret-hash", .created_at = 10, .expires_at = expires_at};
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.kind, sizeof(t.kind), "%s", kind);
	snprintf(t.tenant_id, sizeof(t.tenant_id), "%s", tenant);
	snprintf(t.host_id, sizeof(t.host_id), "%s", host);
	snprintf(t.name, sizeof(t.name), "n-%s", id);
	assert_int_equal(ctl_store_token_insert(f->st, &t), CL_OK);
}

/* Expiry and revocation are stored and read back; the usable-admin count
 * ignores expired, revoked and excepted tokens; lists page by id, filter
 * by tenant and never carry the hash; revocation keeps its first time. */
static void token_lifecycle(void **state)
{
	fixture *f = *state;
	ctl_token got, *list = NULL;
	size_t cnt = 0;
	int64_t n = -1;
	add_token(f, "tok-a1", "admin", CTL_PROVIDER_TENANT, "", 0);
	add_token(f, "tok-a2", "admin", CTL_PROVIDER_TENANT, "", 5000);
	add_token(f, "tok-m1", "metrics", CTL_PROVIDER_TENANT, "", 9000);
	add_token(f, "tok-t1", "tenant", "ten-a", "", 7000);
	add_token(f, "tok-t2", "tenant", "ten-a", "", 8000);
	add_token(f, "tok-t3", "tenant", "ten-b", "", 8000);
	assert_int_equal(ctl_store_token_get(f->st, "tok-a2", &got), CL_OK);
	assert_int_equal(got.expires_at, 5000);
	assert_int_equal(got.revoked_at, 0);
	assert_string_equal(got.hash, "v1$secret-hash");

	assert_int_equal(ctl_store_admin_count(f->st, 4999, NULL, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ctl_store_admin_count(f->st, 5000, NULL, &n), CL_OK); /* tok-a2 expired at 5000 */
	assert_int_equal(n, 1);
	assert_int_equal(ctl_store_admin_count(f->st, 4999, "tok-a1", &n), CL_OK);
	assert_int_equal(n, 1);

	assert_int_equal(ctl_store_token_revoke(f->st, "tok-a1", 6000), CL_OK);
	assert_int_equal(ctl_store_token_revoke(f->st, "tok-a1", 6500), CL_OK); /* idempotent */
	assert_int_equal(ctl_store_token_get(f->st, "tok-a1", &got), CL_OK);
	assert_int_equal(got.revoked_at, 6000);
	assert_int_equal(ctl_store_admin_count(f->st, 4999, NULL, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ctl_store_token_revoke(f->st, "tok-none", 6000), CL_ENOTFOUND);

	/* tenant filter and pages of 2, in id order */
	assert_int_equal(ctl_store_token_list(f->st, "ten-a", "", 10, &list, &cnt), CL_OK);
	assert_int_equal(cnt, 2);
	assert_string_equal(list[0].id, "tok-t1");
	assert_string_equal(list[1].id, "tok-t2");
	assert_int_equal(list[0].expires_at, 7000);
	free(list);
	char seen[8][CTL_ID_MAX];
	size_t total = 0;
	char after[CTL_ID_MAX] = "";
	for (int page = 0; page < 10; page++) {
		assert_int_equal(ctl_store_token_list(f->st, NULL, after, 2, &list, &cnt), CL_OK);
		for (size_t i = 0; i < cnt; i++) {
			assert_string_equal(list[i].hash, ""); /* never in a list */
			assert_true(total < 8);
			snprintf(seen[total++], CTL_ID_MAX, "%s", list[i].id);
		}
		if (cnt)
			snprintf(after, sizeof(after), "%s", list[cnt - 1].id);
		free(list);
		if (cnt < 2)
			break;
	}
	assert_int_equal(total, 6);
	for (size_t i = 1; i < total; i++)
		assert_true(strcmp(seen[i - 1], seen[i]) < 0);
	assert_int_equal(ctl_store_token_list(f->st, NULL, "", 0, &list, &cnt), CL_EINVAL);
}

static void add_host(fixture *f, const char *id, int64_t mem, int64_t seen)
{
	ctl_host h = {.state = "ready", .level = "software", .memory_mib = mem, .cpus = 4, .last_seen = seen,
		      .generation = 1};
	snprintf(h.id, sizeof(h.id), "%s", id);
	snprintf(h.name, sizeof(h.name), "n-%s", id);
	h.caps_json = (char *)"{\"level\":\"software\"}";
	assert_int_equal(ctl_store_host_insert(f->st, &h), CL_OK);
}

static void add_enclave(fixture *f, const char *id, const char *name, const char *host, int64_t mem)
{
	ctl_enclave e = {.tenant_id = "ten-a", .image_id = "img-1", .state = "pending", .desired = "running",
			 .memory_mib = mem, .cpus = 1, .min_level = "software", .untrusted_mask = 3,
			 .access_hash = "v1$k"};
	snprintf(e.id, sizeof(e.id), "%s", id);
	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.host_id, sizeof(e.host_id), "%s", host);
	assert_int_equal(ctl_store_enclave_insert(f->st, &e), CL_OK);
}

/* An enclave's latest measure on demand (migration 11): none, set,
 * replaced, refused for an unknown enclave, gone with the enclave. */
static void latest_measurement(void **state)
{
	fixture *f = *state;
	char hex[97], a[97], b[97];
	int64_t at = -1;
	memset(a, 'a', 96), a[96] = '\0';
	memset(b, 'b', 96), b[96] = '\0';
	add_host(f, "host-1", 1000, 100);
	add_enclave(f, "enc-1", "one", "host-1", 64);
	assert_int_equal(ctl_store_enclave_measure_get(f->st, "enc-1", hex, &at), CL_OK);
	assert_string_equal(hex, "");
	assert_int_equal(at, 0);
	assert_int_equal(ctl_store_enclave_measure_set(f->st, "enc-1", a, 1000), CL_OK);
	assert_int_equal(ctl_store_enclave_measure_set(f->st, "enc-1", b, 2000), CL_OK);
	assert_int_equal(ctl_store_enclave_measure_get(f->st, "enc-1", hex, &at), CL_OK);
	assert_string_equal(hex, b);
	assert_int_equal(at, 2000);
	assert_int_equal(ctl_store_enclave_measure_set(f->st, "enc-9", a, 1000), CL_ENOTFOUND);
	assert_int_equal(ctl_store_enclave_measure_set(f->st, "enc-1", "abc", 1000), CL_EINVAL);
	assert_int_equal(ctl_store_enclave_measure_get(f->st, "enc-9", hex, &at), CL_ENOTFOUND);
	assert_int_equal(ctl_store_enclave_delete(f->st, "enc-1"), CL_OK);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM enclave_measure"), 0);
}

static void hosts_and_enclaves(void **state)
{
	fixture *f = *state;
	ctl_host h;
	add_host(f, "host-1", 1000, 100);
	add_host(f, "host-2", 2000, 5000);
	add_enclave(f, "enc-1", "one", "host-1", 64);
	add_enclave(f, "enc-2", "two", "host-1", 128);
	add_enclave(f, "enc-3", "three", "host-2", 16);
	/* same tenant, same name: conflict */
	ctl_enclave dup = {.id = "enc-9", .name = "one", .tenant_id = "ten-a"};
	assert_int_equal(ctl_store_enclave_insert(f->st, &dup), CL_ECONFLICT);

	assert_int_equal(ctl_store_host_get(f->st, "host-1", &h), CL_OK);
	assert_int_equal(h.mem_used_mib, 192);
	assert_int_equal(h.nenclaves, 2);
	assert_non_null(h.caps_json);
	ctl_host_clear(&h);
	assert_int_equal(ctl_store_host_get(f->st, "host-x", &h), CL_ENOTFOUND);

	assert_int_equal(ctl_store_host_bump(f->st, "host-1"), CL_OK);
	assert_int_equal(ctl_store_host_bump(f->st, "host-x"), CL_ENOTFOUND);
	assert_int_equal(ctl_store_host_get(f->st, "host-1", &h), CL_OK);
	assert_int_equal(h.generation, 2);
	ctl_host_clear(&h);

	/* host-1 last seen at 100: lost at cutoff 1000, with its enclaves */
	int n = 0;
	assert_int_equal(ctl_store_hosts_mark_lost(f->st, 1000, &n), CL_OK);
	assert_int_equal(n, 1);
	ctl_enclave e;
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-1", &e), CL_OK);
	assert_string_equal(e.state, "lost");
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-3", &e), CL_OK);
	assert_string_equal(e.state, "pending");
	ctl_host seen = {.id = "host-1", .last_seen = 2000};
	assert_int_equal(ctl_store_host_seen(f->st, &seen), CL_OK);
	assert_int_equal(ctl_store_host_get(f->st, "host-1", &h), CL_OK);
	assert_string_equal(h.state, "ready");
	ctl_host_clear(&h);
	/* a heartbeat with new capabilities updates them, except the level
	 * (pinned at registration) */
	ctl_host caps = {.id = "host-1", .last_seen = 3000, .level = "tpm", .zone = "z9", .rack = "r", .memory_mib = 4096,
			 .cpus = 8, .caps_json = (char *)"{\"level\":\"tpm\"}"};
	assert_int_equal(ctl_store_host_seen(f->st, &caps), CL_OK);
	assert_int_equal(ctl_store_host_get(f->st, "host-1", &h), CL_OK);
	assert_string_equal(h.level, "software");
	assert_string_equal(h.zone, "z9");
	assert_int_equal(h.memory_mib, 4096);
	assert_int_equal(h.cpus, 8);
	assert_int_equal(h.last_seen, 3000);
	assert_string_equal(h.caps_json, "{\"level\":\"tpm\"}");
	ctl_host_clear(&h);
	ctl_host ghost = {.id = "host-x"};
	assert_int_equal(ctl_store_host_seen(f->st, &ghost), CL_ENOTFOUND);

	/* pagination by id, tenant filter, mask filter */
	ctl_enclave *list = NULL;
	size_t cnt = 0;
	assert_int_equal(ctl_store_enclave_list(f->st, "ten-a", 0, "", 2, &list, &cnt), CL_OK);
	assert_int_equal(cnt, 2);
	assert_string_equal(list[1].id, "enc-2");
	free(list);
	assert_int_equal(ctl_store_enclave_list(f->st, "ten-a", 0, "enc-2", 10, &list, &cnt), CL_OK);
	assert_int_equal(cnt, 1);
	assert_string_equal(list[0].id, "enc-3");
	free(list);
	assert_int_equal(ctl_store_enclave_list(f->st, "ten-b", 0, "", 10, &list, &cnt), CL_OK);
	assert_int_equal(cnt, 0);
	free(list);
	assert_int_equal(ctl_store_enclave_list(f->st, NULL, 1u << 5, "", 10, &list, &cnt), CL_OK);
	assert_int_equal(cnt, 0);
	free(list);

	/* update and delete */
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-2", &e), CL_OK);
	snprintf(e.state, sizeof(e.state), "running");
	e.memory_mib = 256;
	assert_int_equal(ctl_store_enclave_update(f->st, &e), CL_OK);
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-2", &e), CL_OK);
	assert_int_equal(e.memory_mib, 256);
	assert_string_equal(e.state, "running");
	assert_int_equal(ctl_store_enclave_delete(f->st, "enc-2"), CL_OK);
	assert_int_equal(ctl_store_enclave_delete(f->st, "enc-2"), CL_ENOTFOUND);
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-2", &e), CL_ENOTFOUND);
	snprintf(e.id, sizeof(e.id), "enc-none");
	assert_int_equal(ctl_store_enclave_update(f->st, &e), CL_ENOTFOUND);
}

/* "suspendable" is kept with the enclave (migration 11's table) and read
 * back; deleting the enclave drops its suspend state and keys with it. */
static void suspendable_enclave(void **state)
{
	fixture *f = *state;
	ctl_enclave e;
	ctl_state s;
	add_host(f, "host-1", 1000, 100);
	add_enclave(f, "enc-1", "one", "host-1", 64);
	ctl_enclave su = {.tenant_id = "ten-a", .image_id = "img-1", .state = "pending", .desired = "running",
			  .memory_mib = 64, .cpus = 1, .min_level = "software", .access_hash = "v1$k",
			  .id = "enc-2", .name = "two", .host_id = "host-1", .suspendable = true, .await_bundle = true};
	assert_int_equal(ctl_store_enclave_insert(f->st, &su), CL_OK);
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-1", &e), CL_OK);
	assert_false(e.suspendable);
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-2", &e), CL_OK);
	assert_true(e.suspendable);
	assert_true(e.await_bundle);
	uint8_t k[CTL_STATE_SEALED_LEN] = {1};
	uint8_t doc[4] = {'d'};
	char old[CTL_STATE_PATH_MAX];
	assert_int_equal(ctl_store_state_begin(f->st, "enc-2", 1, k, sizeof(k), "{\"pcrs\":{}}", doc, sizeof(doc), 1),
			 CL_OK);
	assert_int_equal(ctl_store_state_commit(f->st, "enc-2", 1, 10,
						"0123456789abcdef0123456789abcdef0123456789abcdef"
						"0123456789abcdef0123456789abcdef0123456789abcdef",
						"state/enc-2.1.blob", 2, old),
			 CL_OK);
	assert_int_equal(ctl_store_state_get(f->st, "enc-2", &s), CL_OK);
	assert_int_equal(s.key_n, 1);
	assert_int_equal(ctl_store_enclave_delete(f->st, "enc-2"), CL_OK);
	assert_int_equal(ctl_store_state_get(f->st, "enc-2", &s), CL_OK);
	assert_int_equal(s.key_n, 0); /* its key is gone with it */
	assert_int_equal(s.sealed_key_len, 0);
	bool yes = true;
	assert_int_equal(ctl_store_state_suspendable(f->st, "enc-2", &yes), CL_OK);
	assert_false(yes);
}

/* A networked enclave (migration 12's table): its exposed ports read back,
 * the host's addresses recorded only for it, the row gone with it. */
static void network_enclave(void **state)
{
	fixture *f = *state;
	ctl_enclave e;
	add_host(f, "host-1", 1000, 100);
	add_enclave(f, "enc-1", "one", "host-1", 64);
	ctl_enclave n = {.tenant_id = "ten-a", .image_id = "img-1", .state = "pending", .desired = "running",
			 .memory_mib = 64, .cpus = 1, .min_level = "software", .access_hash = "v1$k",
			 .id = "enc-2", .name = "two", .host_id = "host-1", .network = true, .nexpose = 2,
			 .expose = {80, 8443}};
	assert_int_equal(ctl_store_enclave_insert(f->st, &n), CL_OK);
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-1", &e), CL_OK);
	assert_false(e.network);
	assert_int_equal(e.nexpose, 0);
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-2", &e), CL_OK);
	assert_true(e.network);
	assert_int_equal(e.nexpose, 2);
	assert_int_equal(e.expose[0], 80);
	assert_int_equal(e.expose[1], 8443);
	assert_string_equal(e.net_address, "");
	assert_int_equal(ctl_store_enclave_net_set(f->st, "enc-2", "10.77.0.2", "10.77.0.1"), CL_OK);
	assert_int_equal(ctl_store_enclave_net_set(f->st, "enc-1", "10.77.0.6", "10.77.0.5"), CL_OK);
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-2", &e), CL_OK);
	assert_string_equal(e.net_address, "10.77.0.2");
	assert_string_equal(e.net_host_address, "10.77.0.1");
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-1", &e), CL_OK);
	assert_false(e.network); /* not created with a network: no address recorded */
	assert_string_equal(e.net_address, "");
	ctl_enclave none = {.tenant_id = "ten-a", .image_id = "img-1", .state = "pending", .desired = "running",
			    .memory_mib = 64, .cpus = 1, .min_level = "software", .access_hash = "v1$k",
			    .id = "enc-3", .name = "three", .host_id = "host-1", .network = true};
	assert_int_equal(ctl_store_enclave_insert(f->st, &none), CL_OK);
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-3", &e), CL_OK);
	assert_true(e.network); /* a network, no port exposed */
	assert_int_equal(e.nexpose, 0);
	assert_int_equal(ctl_store_enclave_delete(f->st, "enc-2"), CL_OK);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM enclave_network WHERE enclave_id='enc-2'"), 0);
}

static void add_job(fixture *f, const char *id, const char *kind, const char *enclave, const char *state_)
{
	ctl_job j = {.tenant_id = "ten-a", .created_at = 1, .updated_at = 1};
	snprintf(j.id, sizeof(j.id), "%s", id);
	snprintf(j.kind, sizeof(j.kind), "%s", kind);
	snprintf(j.enclave_id, sizeof(j.enclave_id), "%s", enclave);
	snprintf(j.state, sizeof(j.state), "%s", state_);
	assert_int_equal(ctl_store_job_insert(f->st, &j), CL_OK);
}

/* Removing a host: its enclaves lost (jobs failed with the reason), the one
 * being destroyed left to the caller, its token revoked, its pending
 * firmware ops refused, the row kept as "removed" and out of the fleet
 * list; nothing of another host changes. */
static void host_removal(void **state)
{
	fixture *f = *state;
	ctl_host h, *hs = NULL;
	ctl_enclave e;
	ctl_job j;
	ctl_token t;
	size_t n = 0;
	int64_t lost = -1;
	add_host(f, "host-1", 1000, 100);
	add_host(f, "host-2", 1000, 100);
	add_enclave(f, "enc-1", "one", "host-1", 64);
	add_enclave(f, "enc-2", "two", "host-1", 64);
	add_enclave(f, "enc-3", "three", "host-1", 64);
	add_enclave(f, "enc-4", "four", "host-2", 64);
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-3", &e), CL_OK);
	snprintf(e.desired, sizeof(e.desired), "gone");
	snprintf(e.state, sizeof(e.state), "destroying");
	assert_int_equal(ctl_store_enclave_update(f->st, &e), CL_OK);
	add_job(f, "job-1", "create", "enc-1", "running");
	add_job(f, "job-2", "stop", "enc-2", "pending");
	add_job(f, "job-3", "create", "enc-2", "succeeded");
	add_job(f, "job-4", "destroy", "enc-3", "running");
	add_job(f, "job-5", "create", "enc-4", "pending");
	add_token(f, "tok-h1", "host", CTL_PROVIDER_TENANT, "host-1", 0);
	add_token(f, "tok-h2", "host", CTL_PROVIDER_TENANT, "host-2", 0);
	ctl_fw_op op = {.id = "fw-1", .host_id = "host-1", .kind = "power_cycle", .state = "pending", .data = (char *)""};
	assert_int_equal(ctl_store_fw_op_insert(f->st, &op), CL_OK);

	assert_int_equal(ctl_store_host_remove(f->st, "host-1", 4242, "its host was removed", &lost), CL_OK);
	assert_int_equal(lost, 2);
	for (int i = 1; i <= 2; i++) {
		char id[16];
		snprintf(id, sizeof(id), "enc-%d", i);
		assert_int_equal(ctl_store_enclave_get(f->st, id, &e), CL_OK);
		assert_string_equal(e.state, "lost");
		assert_string_equal(e.error, "its host was removed");
		assert_int_equal(e.updated_at, 4242);
	}
	assert_int_equal(ctl_store_job_get(f->st, "job-1", &j), CL_OK);
	assert_string_equal(j.state, "failed");
	assert_string_equal(j.error, "its host was removed");
	assert_int_equal(j.progress, 100);
	assert_int_equal(ctl_store_job_get(f->st, "job-2", &j), CL_OK);
	assert_string_equal(j.state, "failed");
	assert_int_equal(ctl_store_job_get(f->st, "job-3", &j), CL_OK);
	assert_string_equal(j.state, "succeeded"); /* finished jobs keep their outcome */
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-3", &e), CL_OK);
	assert_string_equal(e.state, "destroying"); /* the caller's (ctl_jobs_gone) */
	assert_int_equal(ctl_store_job_get(f->st, "job-4", &j), CL_OK);
	assert_string_equal(j.state, "running");
	assert_int_equal(ctl_store_token_get(f->st, "tok-h1", &t), CL_OK);
	assert_int_equal(t.revoked_at, 4242);
	ctl_fw_op got;
	assert_int_equal(ctl_store_fw_op_get(f->st, "host-1", "fw-1", &got), CL_OK);
	assert_string_equal(got.state, "refused");
	assert_string_equal(got.result_reason, "host_removed");
	ctl_fw_op_clear(&got);
	assert_int_equal(ctl_store_host_get(f->st, "host-1", &h), CL_OK);
	assert_string_equal(h.state, "removed");
	assert_int_equal(h.generation, 2);
	ctl_host_clear(&h);
	/* host-2 untouched */
	assert_int_equal(ctl_store_enclave_get(f->st, "enc-4", &e), CL_OK);
	assert_string_equal(e.state, "pending");
	assert_int_equal(ctl_store_job_get(f->st, "job-5", &j), CL_OK);
	assert_string_equal(j.state, "pending");
	assert_int_equal(ctl_store_token_get(f->st, "tok-h2", &t), CL_OK);
	assert_int_equal(t.revoked_at, 0);

	/* out of the fleet (placement's list), visible by state */
	assert_int_equal(ctl_store_host_list(f->st, NULL, "", -1, &hs, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(hs[0].id, "host-2");
	ctl_host_list_free(hs, n);
	assert_int_equal(ctl_store_host_list(f->st, "removed", "", -1, &hs, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(hs[0].id, "host-1");
	ctl_host_list_free(hs, n);
	/* a heartbeat cannot bring it back; removing twice or an unknown host fails */
	ctl_host seen = {.id = "host-1", .last_seen = 9999};
	assert_int_equal(ctl_store_host_seen(f->st, &seen), CL_ENOTFOUND);
	int nl = 0;
	assert_int_equal(ctl_store_hosts_mark_lost(f->st, 1000000, &nl), CL_OK);
	assert_int_equal(nl, 1); /* host-2 only */
	assert_int_equal(ctl_store_host_get(f->st, "host-1", &h), CL_OK);
	assert_string_equal(h.state, "removed");
	ctl_host_clear(&h);
	assert_int_equal(ctl_store_host_remove(f->st, "host-1", 5000, "again", &lost), CL_ECONFLICT);
	assert_int_equal(ctl_store_host_remove(f->st, "host-x", 5000, "none", &lost), CL_ENOTFOUND);
}

static void host_pages(void **state)
{
	fixture *f = *state;
	ctl_host *hs = NULL;
	size_t n = 0;
	add_host(f, "host-c", 1000, 100);
	add_host(f, "host-a", 1000, 100);
	add_host(f, "host-b", 1000, 100);
	assert_int_equal(ctl_store_host_list(f->st, NULL, "", 2, &hs, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(hs[0].id, "host-a");
	assert_string_equal(hs[1].id, "host-b");
	ctl_host_list_free(hs, n);
	assert_int_equal(ctl_store_host_list(f->st, NULL, "host-b", 2, &hs, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(hs[0].id, "host-c");
	ctl_host_list_free(hs, n);
	assert_int_equal(ctl_store_host_list(f->st, "lost", "", 10, &hs, &n), CL_OK);
	assert_int_equal(n, 0);
	ctl_host_list_free(hs, n);
}

/* A database at schema version 3 (tokens without expiry or revocation) is
 * migrated to 4: tenant and engineer tokens get 90 days from the upgrade,
 * admin and host tokens none; nothing is revoked. */
static void migrate_v3_to_v4(void **state)
{
	fixture *f = *state;
	ctl_store_close(f->st);
	f->st = NULL;
	raw_exec(f->path, "DELETE FROM schema_version WHERE version > 3;"
			  "DROP TABLE tokens;"
			  "CREATE TABLE tokens(id TEXT PRIMARY KEY, kind TEXT NOT NULL, tenant_id TEXT NOT NULL,"
			  " host_id TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, hash TEXT NOT NULL,"
			  " created_at INTEGER NOT NULL);"
			  "INSERT INTO tokens VALUES('tok-a','admin','ten-provider','','admin','v1$a',1);"
			  "INSERT INTO tokens VALUES('tok-t','tenant','ten-x','','ci','v1$t',1);"
			  "INSERT INTO tokens VALUES('tok-e','engineer','ten-provider','','alice','v1$e',1);"
			  "INSERT INTO tokens VALUES('tok-h','host','ten-provider','host-1','h1','v1$h',1);");
	int64_t before = (int64_t)cl_now_wall_ms();
	assert_int_equal(ctl_store_open(f->path, &f->st), CL_OK);
	int64_t after = (int64_t)cl_now_wall_ms();
	assert_int_equal(raw_int(f->path, "SELECT MAX(version) FROM schema_version"), CTL_SCHEMA_VERSION);
	ctl_token t;
	const int64_t ninety = 90ll * 86400 * 1000;
	assert_int_equal(ctl_store_token_get(f->st, "tok-t", &t), CL_OK);
	assert_true(t.expires_at >= before / 1000 * 1000 + ninety && t.expires_at <= after + ninety);
	assert_int_equal(t.revoked_at, 0);
	assert_string_equal(t.hash, "v1$t");
	assert_int_equal(ctl_store_token_get(f->st, "tok-e", &t), CL_OK);
	assert_true(t.expires_at >= before / 1000 * 1000 + ninety && t.expires_at <= after + ninety);
	assert_int_equal(ctl_store_token_get(f->st, "tok-a", &t), CL_OK);
	assert_int_equal(t.expires_at, 0);
	assert_int_equal(ctl_store_token_get(f->st, "tok-h", &t), CL_OK);
	assert_int_equal(t.expires_at, 0);
	int64_t n = 0;
	assert_int_equal(ctl_store_admin_count(f->st, after, NULL, &n), CL_OK);
	assert_int_equal(n, 1);
}

static void jobs_lifecycle(void **state)
{
	fixture *f = *state;
	add_host(f, "host-1", 1000, 100);
	add_enclave(f, "enc-1", "one", "host-1", 64);
	ctl_job j = {.id = "job-1", .kind = "create", .enclave_id = "enc-1", .tenant_id = "ten-a", .state = "pending",
		     .created_at = 1},
		got;
	assert_int_equal(ctl_store_job_insert(f->st, &j), CL_OK);
	assert_int_equal(ctl_store_job_insert(f->st, &j), CL_ECONFLICT);
	assert_int_equal(ctl_store_jobs_delivered_lazy(f->st, "host-1", 5), CL_OK);
	assert_int_equal(ctl_store_job_get(f->st, "job-1", &got), CL_OK);
	assert_string_equal(got.state, "running");
	assert_int_equal(got.progress, 50);
	ctl_job *act = NULL;
	size_t n = 0;
	assert_int_equal(ctl_store_job_active(f->st, "enc-1", &act, &n), CL_OK);
	assert_int_equal(n, 1);
	free(act);
	snprintf(got.state, sizeof(got.state), "succeeded");
	assert_int_equal(ctl_store_job_update(f->st, &got), CL_OK);
	assert_int_equal(ctl_store_job_active(f->st, "enc-1", &act, &n), CL_OK);
	assert_int_equal(n, 0);
	free(act);
	assert_int_equal(ctl_store_job_get(f->st, "job-x", &got), CL_ENOTFOUND);
}

static int count_fn_total;
static void count_fn(void *arg, const char *value, int64_t count)
{
	count_fn_total += (int)count;
}

static void counts_only_whitelisted(void **state)
{
	fixture *f = *state;
	add_host(f, "host-1", 1000, 100);
	add_enclave(f, "enc-1", "one", "host-1", 64);
	count_fn_total = 0;
	assert_int_equal(ctl_store_count_by(f->st, "enclaves", "state", count_fn, NULL), CL_OK);
	assert_int_equal(count_fn_total, 1);
	assert_int_equal(ctl_store_count_by(f->st, "tokens", "hash", count_fn, NULL), CL_EINVAL);
	assert_int_equal(ctl_store_count_by(f->st, "enclaves; DROP TABLE x", "state", count_fn, NULL), CL_EINVAL);
}

static void images(void **state)
{
	fixture *f = *state;
	static const char sha_a[] = "aa", sha_b[] = "bb";
	ctl_image im = {.id = "img-1", .tenant_id = "ten-a", .name = "hello", .size = 10}, got;
	snprintf(im.sha384, sizeof(im.sha384), "%s", sha_a);
	assert_int_equal(ctl_store_image_insert(f->st, &im), CL_OK);
	assert_int_equal(ctl_store_image_insert(f->st, &im), CL_ECONFLICT);
	assert_int_equal(ctl_store_image_get(f->st, "img-1", &got), CL_OK);
	assert_int_equal(got.size, 10);
	/* the same bytes again for ten-a, once for ten-b, and other bytes for ten-a */
	ctl_image im2 = im, im3 = im, im4 = im;
	snprintf(im2.id, sizeof(im2.id), "img-2");
	snprintf(im3.id, sizeof(im3.id), "img-3");
	snprintf(im3.tenant_id, sizeof(im3.tenant_id), "ten-b");
	snprintf(im4.id, sizeof(im4.id), "img-4");
	snprintf(im4.sha384, sizeof(im4.sha384), "%s", sha_b);
	im4.size = 5;
	assert_int_equal(ctl_store_image_insert(f->st, &im2), CL_OK);
	assert_int_equal(ctl_store_image_insert(f->st, &im3), CL_OK);
	assert_int_equal(ctl_store_image_insert(f->st, &im4), CL_OK);

	/* lists: own tenant only, in pages */
	ctl_image *list = NULL;
	size_t n = 0;
	assert_int_equal(ctl_store_image_list(f->st, "ten-c", "", 10, &list, &n), CL_OK);
	assert_int_equal(n, 0);
	free(list);
	assert_int_equal(ctl_store_image_list(f->st, "ten-a", "", 2, &list, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "img-1");
	assert_string_equal(list[1].id, "img-2");
	free(list);
	assert_int_equal(ctl_store_image_list(f->st, "ten-a", "img-2", 2, &list, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "img-4");
	free(list);
	assert_int_equal(ctl_store_image_list(f->st, "ten-b", "", 10, &list, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "img-3");
	free(list);

	/* references: rows of every tenant count */
	int64_t refs = 0;
	bool held = false;
	assert_int_equal(ctl_store_image_refs(f->st, sha_a, &refs), CL_OK);
	assert_int_equal(refs, 3);
	assert_int_equal(ctl_store_image_held(f->st, "ten-a", sha_a, &held), CL_OK);
	assert_true(held);
	assert_int_equal(ctl_store_image_held(f->st, "ten-b", sha_b, &held), CL_OK);
	assert_false(held);

	/* users: an enclave on img-1 */
	int64_t users = -1;
	char first[CTL_ID_MAX];
	assert_int_equal(ctl_store_image_users(f->st, "img-1", &users, first), CL_OK);
	assert_int_equal(users, 0);
	assert_string_equal(first, "");
	ctl_enclave e = {.id = "enc-1", .name = "e1", .tenant_id = "ten-a", .image_id = "img-1", .host_id = "h",
			 .state = "running", .desired = "running", .min_level = "software"};
	assert_int_equal(ctl_store_enclave_insert(f->st, &e), CL_OK);
	assert_int_equal(ctl_store_image_users(f->st, "img-1", &users, first), CL_OK);
	assert_int_equal(users, 1);
	assert_string_equal(first, "enc-1");

	/* quota usage: each distinct digest of the tenant once, plus uploads */
	ctl_quota q;
	assert_int_equal(ctl_store_quota_get(f->st, "ten-a", &q), CL_OK);
	assert_true(q.is_default);
	assert_int_equal(q.limit_bytes, CTL_QUOTA_DEFAULT);
	assert_int_equal(q.images_bytes, 15);
	assert_int_equal(q.uploads_bytes, 0);
	ctl_upload u = {.id = "upl_a", .tenant_id = "ten-a", .owner_kind = "tenant", .size = 100};
	assert_int_equal(ctl_store_upload_insert(f->st, &u), CL_OK);
	assert_int_equal(ctl_store_quota_get(f->st, "ten-a", &q), CL_OK);
	assert_int_equal(q.uploads_bytes, 100);
	assert_int_equal(ctl_store_quota_check(f->st, "ten-a", 1 << 20), CL_OK);
	assert_int_equal(ctl_store_quota_set(f->st, "ten-a", 120, 1), CL_OK);
	assert_int_equal(ctl_store_quota_get(f->st, "ten-a", &q), CL_OK);
	assert_false(q.is_default);
	assert_int_equal(q.limit_bytes, 120);
	assert_int_equal(ctl_store_quota_check(f->st, "ten-a", 5), CL_OK);   /* 115 + 5 = 120 */
	assert_int_equal(ctl_store_quota_check(f->st, "ten-a", 6), CL_ENOSPACE);
	assert_non_null(strstr(cl_error_detail(), "quota exceeded (115/120 bytes used, 6 more needed)"));
	assert_int_equal(ctl_store_quota_check(f->st, "ten-a", 0), CL_OK);
	assert_int_equal(ctl_store_quota_set(f->st, "ten-a", 100, 2), CL_OK); /* lowered under its usage */
	assert_int_equal(ctl_store_quota_check(f->st, "ten-a", 0), CL_ENOSPACE);
	assert_int_equal(ctl_store_quota_check(f->st, "ten-b", 10), CL_OK);   /* others unaffected */
	assert_int_equal(ctl_store_quota_set(f->st, "ten-a", CTL_QUOTA_MAX + 1, 3), CL_EINVAL);
	assert_int_equal(ctl_store_quota_set(f->st, "ten-a", -1, 3), CL_OK);  /* back to the default */
	assert_int_equal(ctl_store_quota_get(f->st, "ten-a", &q), CL_OK);
	assert_true(q.is_default);

	/* delete: the row goes, the digest's other references stay */
	assert_int_equal(ctl_store_image_delete(f->st, "img-2"), CL_OK);
	assert_int_equal(ctl_store_image_delete(f->st, "img-2"), CL_ENOTFOUND);
	assert_int_equal(ctl_store_image_refs(f->st, sha_a, &refs), CL_OK);
	assert_int_equal(refs, 2);
	assert_int_equal(ctl_store_image_get(f->st, "img-2", &got), CL_ENOTFOUND);
}

/* The error a failed commit reports is its own, never the rollback's that
 * follows it ("cannot rollback - no transaction is active"). */
static void commit_reports_first_error(void **state)
{
	fixture *f = *state;
	ctl_tenant t = {.id = "ten-c", .name = "committed"}, got;
	assert_int_equal(ctl_store_begin(f->st), CL_OK);
	assert_int_equal(ctl_store_tenant_insert(f->st, &t), CL_OK);
	/* SQLite ends the transaction behind the store's back, as it does by
	 * itself on SQLITE_FULL: COMMIT fails, and so would a ROLLBACK. */
	assert_int_equal(ctl_store_exec(f->st, "ROLLBACK"), CL_OK);
	cl_error_clear();
	assert_int_equal(ctl_store_commit(f->st), CL_EIO);
	assert_non_null(strstr(cl_error_detail(), "commit"));
	assert_null(strstr(cl_error_detail(), "rollback"));
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-c", &got), CL_ENOTFOUND);
	/* the store goes on */
	assert_int_equal(ctl_store_begin(f->st), CL_OK);
	assert_int_equal(ctl_store_tenant_insert(f->st, &t), CL_OK);
	assert_int_equal(ctl_store_commit(f->st), CL_OK);
}

/* SQLITE_FULL (here: the database may not grow past its pages) is
 * CL_ENOSPACE with a message that says the disk is full; the rollback keeps
 * it, and nothing of the transaction stays. */
static void full_disk_is_enospace(void **state)
{
	fixture *f = *state;
	assert_int_equal(ctl_store_exec(f->st, "PRAGMA max_page_count=1"), CL_OK); /* = its current size */
	assert_int_equal(ctl_store_begin(f->st), CL_OK);
	cl_err err = CL_OK;
	for (int i = 0; i < 100000 && err == CL_OK; i++) {
		ctl_tenant t = {.created_at = i};
		snprintf(t.id, sizeof(t.id), "ten-%06d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
		snprintf(t.name, sizeof(t.name), "name-%06d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
		err = ctl_store_tenant_insert(f->st, &t);
	}
	assert_int_equal(err, CL_ENOSPACE);
	char detail[512];
	snprintf(detail, sizeof(detail), "%s", cl_error_detail());
	assert_non_null(strstr(detail, "disk is full"));
	ctl_store_rollback(f->st);
	assert_string_equal(cl_error_detail(), detail);
	ctl_tenant *list = NULL;
	size_t n = 9;
	assert_int_equal(ctl_store_tenant_list(f->st, "", 10, &list, &n), CL_OK);
	assert_int_equal(n, 0);
	free(list);
}

/* A client can make the store fail again and again (a full disk): the
 * failure log lines are rate-limited, and a later line says how many were
 * skipped. */
static void failure_log_rate_limited(void **state)
{
	fixture *f = *state;
	char path[160];
	snprintf(path, sizeof(path), "%s/log", f->dir);
	fflush(stderr);
	int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	for (int i = 0; i < 50; i++)
		ctl_store_log_failure(f->st, "test", 13, "database or disk is full");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	cl_buf b;
	cl_buf_init(&b, 1 << 20);
	assert_int_equal(cl_file_read(path, 1 << 20, &b), CL_OK);
	size_t lines = 0;
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	cl_buf_free(&b);
	assert_true(lines >= 1 && lines < 20); /* a burst, not one line per failure */
}

static int calls;
static cl_err full_once(ctl_store *st, void *arg)
{
	ctl_tenant t = {.id = "ten-f", .name = "freeing"};
	calls++;
	CL_GUARD(ctl_store_tenant_insert(st, &t));
	return calls == 1 && arg ? cl_errorf(CL_ENOSPACE, "disk is full") : CL_OK;
}

/* The disk reserve: made at init, released (and the change run again) when
 * a freeing change fails for lack of space, restored when there is room. */
static void reserve_for_deletes(void **state)
{
	fixture *f = *state;
	char path[160];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/reserve", f->dir);
	assert_true(ctl_store_reserve_held(f->st)); /* not kept yet: nothing to miss */
	assert_false(ctl_store_reserve_release(f->st));
	assert_int_equal(ctl_store_reserve_init(f->st), CL_OK);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, CTL_STORE_RESERVE_BYTES);
	assert_true((uint64_t)sb.st_blocks * 512 >= CTL_STORE_RESERVE_BYTES);
	assert_true(ctl_store_reserve_held(f->st));
	assert_int_equal(ctl_store_space_check(f->st, 1), CL_OK);
	assert_int_equal(ctl_store_space_check(f->st, UINT64_MAX / 2), CL_ENOSPACE);
	assert_non_null(strstr(cl_error_detail(), "disk is full"));

	/* a freeing change that hits a full disk: reserve released, run again, committed */
	calls = 0;
	assert_int_equal(ctl_store_tx_freeing(f->st, full_once, f), CL_OK);
	assert_int_equal(calls, 2);
	assert_int_not_equal(stat(path, &sb), 0);
	assert_false(ctl_store_reserve_held(f->st));
	ctl_tenant got;
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-f", &got), CL_OK);
	/* no reserve to release: the error stands, one run */
	calls = 0;
	assert_int_equal(ctl_store_exec(f->st, "DELETE FROM tenants"), CL_OK);
	assert_int_equal(ctl_store_tx_freeing(f->st, full_once, f), CL_ENOSPACE);
	assert_int_equal(calls, 1);
	assert_int_equal(ctl_store_tenant_get(f->st, "ten-f", &got), CL_ENOTFOUND); /* rolled back */
	/* bulk writes wait for the reserve; it comes back when there is room */
	assert_int_equal(ctl_store_space_check(f->st, 1), CL_OK);
	assert_true(ctl_store_reserve_held(f->st));
	assert_int_equal(stat(path, &sb), 0);
}

static void open_bad_path_fails(void **state)
{
	ctl_store *st = NULL;
	assert_int_not_equal(ctl_store_open("/nonexistent-dir/x/control.db", &st), CL_OK);
	assert_null(st);
}

/* The one SQL binder: each constructor binds its type, and the one NULL rule
 * (a NULL pointer binds SQL NULL; "" stays an empty string). */
static void binder_types_and_null_rule(void **state)
{
	fixture *f = *state;
	sqlite3_stmt *q;
	static const uint8_t blob[3] = {0, 1, 2};
	assert_int_equal(CTL_PREP(f->st, &q,
				  "SELECT typeof(?1), typeof(?2), ?2, typeof(?3), ?3, typeof(?4), length(?4),"
				  " typeof(?5), typeof(?6), typeof(?7), length(?7)",
				  CTL_TEXT(NULL), CTL_TEXT(""), CTL_INT(-5), CTL_BLOB(blob, sizeof(blob)), CTL_NULL,
				  CTL_BLOB(NULL, 4), CTL_TEXT("h\xc3\xa9")),
			 CL_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "null");
	assert_string_equal((const char *)sqlite3_column_text(q, 1), "text");
	assert_string_equal((const char *)sqlite3_column_text(q, 2), "");
	assert_string_equal((const char *)sqlite3_column_text(q, 3), "integer");
	assert_int_equal(sqlite3_column_int64(q, 4), -5);
	assert_string_equal((const char *)sqlite3_column_text(q, 5), "blob");
	assert_int_equal(sqlite3_column_int64(q, 6), 3);
	assert_string_equal((const char *)sqlite3_column_text(q, 7), "null");
	assert_string_equal((const char *)sqlite3_column_text(q, 8), "null");
	assert_string_equal((const char *)sqlite3_column_text(q, 9), "text");
	assert_int_equal(sqlite3_column_int64(q, 10), 2); /* characters, not bytes */
	ctl_store_finish(f->st, q);
	/* more arguments than parameters: refused, nothing left to finalize */
	q = (sqlite3_stmt *)1;
	assert_int_not_equal(CTL_PREP(f->st, &q, "SELECT ?1", CTL_INT(1), CTL_INT(2)), CL_OK);
	assert_null(q);
	/* the NULL rule reaches the tables: a NOT NULL column refuses a NULL text */
	ctl_tenant t = {.id = "ten-n", .name = "n", .created_at = 1};
	assert_int_equal(ctl_store_tenant_insert(f->st, &t), CL_OK);
	assert_int_equal(CTL_PREP(f->st, &q, "UPDATE tenants SET name=? WHERE id=?", CTL_TEXT(NULL), CTL_TEXT("ten-n")),
			 CL_OK);
	assert_int_equal(ctl_store_run(f->st, q, "null name", NULL), CL_ECONFLICT);
	int changes = -1;
	assert_int_equal(CTL_PREP(f->st, &q, "UPDATE tenants SET name=? WHERE id=?", CTL_TEXT("m"), CTL_TEXT("ten-n")),
			 CL_OK);
	assert_int_equal(ctl_store_run(f->st, q, "rename", &changes), CL_OK);
	assert_int_equal(changes, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(tenant_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(rollback_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(migrations_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(tokens_and_join, setup, teardown),
		cmocka_unit_test_setup_teardown(token_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(host_removal, setup, teardown),
		cmocka_unit_test_setup_teardown(host_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_v3_to_v4, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_v1_to_v2, setup, teardown),
		cmocka_unit_test_setup_teardown(hosts_and_enclaves, setup, teardown),
		cmocka_unit_test_setup_teardown(latest_measurement, setup, teardown),
		cmocka_unit_test_setup_teardown(suspendable_enclave, setup, teardown),
		cmocka_unit_test_setup_teardown(network_enclave, setup, teardown),
		cmocka_unit_test_setup_teardown(jobs_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(counts_only_whitelisted, setup, teardown),
		cmocka_unit_test_setup_teardown(images, setup, teardown),
		cmocka_unit_test_setup_teardown(commit_reports_first_error, setup, teardown),
		cmocka_unit_test_setup_teardown(full_disk_is_enospace, setup, teardown),
		cmocka_unit_test_setup_teardown(reserve_for_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(failure_log_rate_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(binder_types_and_null_rule, setup, teardown),
		cmocka_unit_test(open_bad_path_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
