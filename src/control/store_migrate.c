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
	/* 2: firmware tables (store_fw.c, store_fwrel.c; IF NOT EXISTS: databases
	 * at version 1 may already hold them, created outside the migrations by
	 * earlier builds), and the security level a join token admits
	 * (tokens issued before default to software, the lowest). */
	"CREATE TABLE IF NOT EXISTS host_fw(host_id TEXT PRIMARY KEY, eligible INTEGER NOT NULL,"
	" quarantined INTEGER NOT NULL, window_open INTEGER NOT NULL, devices TEXT NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS host_fw_audit(host_id TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL,"
	" prev TEXT NOT NULL, record TEXT NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY(host_id, seq));"
	"CREATE TABLE IF NOT EXISTS fw_events(id INTEGER PRIMARY KEY AUTOINCREMENT, host_id TEXT NOT NULL,"
	" kind TEXT NOT NULL, seq INTEGER NOT NULL, detail TEXT NOT NULL, created_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS fw_ops(id TEXT PRIMARY KEY, host_id TEXT NOT NULL, kind TEXT NOT NULL,"
	" device TEXT NOT NULL, data TEXT NOT NULL, reason TEXT NOT NULL, release_id TEXT NOT NULL,"
	" state TEXT NOT NULL, delivered INTEGER NOT NULL, result_error TEXT NOT NULL,"
	" result_reason TEXT NOT NULL, audit_seq INTEGER NOT NULL, created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS fw_ops_host ON fw_ops(host_id, state, delivered);"
	/* firmware releases (store_fwrel.c) */
	"CREATE TABLE IF NOT EXISTS fw_trust(id INTEGER PRIMARY KEY CHECK(id = 1), root TEXT NOT NULL,"
	" docs TEXT NOT NULL, version INTEGER NOT NULL, threshold INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS fw_releases(id TEXT PRIMARY KEY, vendor TEXT NOT NULL, class TEXT NOT NULL,"
	" component TEXT NOT NULL, version TEXT NOT NULL, sequence INTEGER NOT NULL, channel TEXT NOT NULL,"
	" signers TEXT NOT NULL, nsigners INTEGER NOT NULL, threshold INTEGER NOT NULL, bundle BLOB NOT NULL,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS fw_release_channels(release_id TEXT NOT NULL, channel TEXT NOT NULL,"
	" approved_at INTEGER NOT NULL, PRIMARY KEY(release_id, channel));"
	"CREATE TABLE IF NOT EXISTS fw_tenant_channel(tenant_id TEXT PRIMARY KEY, channel TEXT NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS fw_release_queued(release_id TEXT NOT NULL, host_id TEXT NOT NULL,"
	" op_id TEXT NOT NULL, PRIMARY KEY(release_id, host_id));"
	"ALTER TABLE join_tokens ADD COLUMN level TEXT NOT NULL DEFAULT 'software';",
	/* 3: uploads in parts (store_upload.c; bytes in DATA/uploads/<id>) and
	 * firmware op data kept by reference (store_fw.c; bytes in
	 * DATA/fw_ops/<op>.bin, sent to the host as "data_ref"). */
	"CREATE TABLE IF NOT EXISTS uploads(id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, owner_kind TEXT NOT NULL,"
	" size INTEGER NOT NULL, sha384 TEXT NOT NULL, received INTEGER NOT NULL, complete INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS uploads_tenant ON uploads(tenant_id, complete);"
	"CREATE INDEX IF NOT EXISTS uploads_updated ON uploads(updated_at);"
	"CREATE TABLE IF NOT EXISTS fw_op_data(op_id TEXT PRIMARY KEY, host_id TEXT NOT NULL, size INTEGER NOT NULL,"
	" sha384 TEXT NOT NULL, created_at INTEGER NOT NULL);",
	/* 4: credentials that do not live forever (store_token.c, auth.c): token
	 * expiry and revocation (0 = never / not revoked), and the tenant index
	 * GET /v1/tokens pages through. Tenant and engineer tokens issued before
	 * expiry existed get the default lifetime (90 days) from the upgrade;
	 * admin and host tokens keep none (host tokens end with `host remove`;
	 * admin tokens are listed and revoked by the operator). */
	"ALTER TABLE tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tokens ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX IF NOT EXISTS tokens_tenant ON tokens(tenant_id, id);"
	"CREATE INDEX IF NOT EXISTS tokens_host ON tokens(host_id);"
	"UPDATE tokens SET expires_at = CAST(strftime('%s','now') AS INTEGER) * 1000 + 7776000000"
	" WHERE kind IN ('tenant','engineer') AND expires_at = 0;",
	/* 5: images stored once per digest (store_image.c; bytes in
	 * DATA/images/by-digest/<sha384>, referenced by every image row with
	 * that digest: the rows are the reference count), the enclaves that use
	 * an image (an image is not deleted while one does), and per-tenant
	 * storage quotas (a tenant without a row has CTL_QUOTA_DEFAULT). */
	"CREATE INDEX IF NOT EXISTS images_sha384 ON images(sha384);"
	"CREATE INDEX IF NOT EXISTS enclaves_image ON enclaves(image_id);"
	"CREATE TABLE IF NOT EXISTS tenant_quota(tenant_id TEXT PRIMARY KEY, limit_bytes INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);",
	/* 6: firmware audit anchoring (store_fw.c): each host's power cycle, the
	 * head of its audit log as it reports it, and whether its log was
	 * found tampered with ('' = no; else why, from seq tampered_seq). The
	 * table is rebuilt rather than altered, so a host_fw made outside the
	 * migrations (see 2) migrates the same way. */
	"CREATE TABLE host_fw_v6(host_id TEXT PRIMARY KEY, eligible INTEGER NOT NULL, quarantined INTEGER NOT NULL,"
	" window_open INTEGER NOT NULL, devices TEXT NOT NULL, updated_at INTEGER NOT NULL,"
	" power_cycle INTEGER NOT NULL DEFAULT 0, head_seq INTEGER NOT NULL DEFAULT 0,"
	" head_hash TEXT NOT NULL DEFAULT '', tampered_seq INTEGER NOT NULL DEFAULT 0,"
	" tampered TEXT NOT NULL DEFAULT '');"
	"INSERT INTO host_fw_v6(host_id,eligible,quarantined,window_open,devices,updated_at)"
	" SELECT host_id,eligible,quarantined,window_open,devices,updated_at FROM host_fw;"
	"DROP TABLE host_fw;"
	"ALTER TABLE host_fw_v6 RENAME TO host_fw;",
	/* 7: hosts' attestation certificates (store_cert.c: what revocation and
	 * GET /v1/ca/certificates/{serial} need; times in unix seconds but
	 * issued_at in ms) and the measurement registers a host reports for an
	 * enclave (a JSON object text; no row = none). New tables only (IF NOT
	 * EXISTS): safe to apply again. */
	"CREATE TABLE IF NOT EXISTS host_certs(serial TEXT PRIMARY KEY, host_id TEXT NOT NULL,"
	" key_sha256 TEXT NOT NULL, issued_at INTEGER NOT NULL, not_after INTEGER NOT NULL,"
	" revoked_at INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS host_certs_host ON host_certs(host_id, revoked_at, issued_at);"
	"CREATE TABLE IF NOT EXISTS enclave_pcrs(enclave_id TEXT PRIMARY KEY, pcrs TEXT NOT NULL);",
	/* 8: the key broker (store_secret.c): secrets (names unique across
	 * tenants: release is addressed by name alone; the value only sealed by
	 * the monitor, see docs/broker.md), their single-use release challenges
	 * (times in ms), and
	 * the audit trail of every change, release and refusal (kept after the
	 * secret is deleted). New tables only: safe to apply again. */
	"CREATE TABLE IF NOT EXISTS secrets(name TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,"
	" enclave_id TEXT NOT NULL, sealed BLOB NOT NULL, policy TEXT NOT NULL, created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS secrets_tenant ON secrets(tenant_id, name);"
	"CREATE TABLE IF NOT EXISTS secret_challenges(nonce TEXT PRIMARY KEY, secret TEXT NOT NULL,"
	" expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS secret_challenges_secret ON secret_challenges(secret, expires_at);"
	"CREATE TABLE IF NOT EXISTS secret_events(id INTEGER PRIMARY KEY AUTOINCREMENT, secret TEXT NOT NULL,"
	" tenant_id TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS secret_events_secret ON secret_events(secret, tenant_id, id);",
	/* 9: enclaves created to await a bundle (docs/provisioning.md); a table
	 * of its own, so the migration can be applied again */
	"CREATE TABLE IF NOT EXISTS enclave_await(enclave_id TEXT PRIMARY KEY);",
	/* 10: an enclave's latest measure on demand (docs/measurements.md, PCR5):
	 * the register (96 hex) and when the control plane got it (ms); no row =
	 * never measured. A table of its own, so it can be applied again. */
	"CREATE TABLE IF NOT EXISTS enclave_measure(enclave_id TEXT PRIMARY KEY, pcr5 TEXT NOT NULL,"
	" measured_at INTEGER NOT NULL);",
	/* 11: suspend and restore (store_state.c, docs/suspend.md): per enclave
	 * the suspend counter (only grows), the one committed state key (sealed
	 * by the monitor), its policy, suspend document and blob, and the
	 * suspend in flight (pending_*); and the enclaves created suspendable.
	 * New tables only: safe to apply again. */
	"CREATE TABLE IF NOT EXISTS enclave_state(enclave_id TEXT PRIMARY KEY, counter INTEGER NOT NULL DEFAULT 0,"
	" key_n INTEGER NOT NULL DEFAULT 0, sealed_key BLOB, policy TEXT NOT NULL DEFAULT '', document BLOB,"
	" blob_size INTEGER NOT NULL DEFAULT 0, blob_sha384 TEXT NOT NULL DEFAULT '',"
	" blob_path TEXT NOT NULL DEFAULT '', suspended_at INTEGER NOT NULL DEFAULT 0,"
	" pending_n INTEGER NOT NULL DEFAULT 0, pending_key BLOB, pending_policy TEXT NOT NULL DEFAULT '',"
	" pending_doc BLOB, pending_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS enclave_suspendable(enclave_id TEXT PRIMARY KEY);",
	/* 12: enclaves created with a network (docs/tls.md "Guests"): the
	 * ports they expose ("80,8443", ascending; "" for none) and the
	 * addresses their host last reported for them ("" until it does). A
	 * table of its own, so it can be applied again. */
	"CREATE TABLE IF NOT EXISTS enclave_network(enclave_id TEXT PRIMARY KEY, expose TEXT NOT NULL DEFAULT '',"
	" address TEXT NOT NULL DEFAULT '', host_address TEXT NOT NULL DEFAULT '');",
	/* 13: host-terminated TLS (store_tls.c, docs/tls.md): the steps of a
	 * job, in order (seq from 1; state "done" or "failed": the step that
	 * failed, its detail the reason), and each enclave's TLS credential:
	 * state, policy (JSON text), the generation served and its
	 * certificate, the one in flight (pending_*), the last job. No key of
	 * any kind: guest keys live in the host's key holder only. New tables
	 * only: safe to apply again and to renumber. */
	"CREATE TABLE IF NOT EXISTS job_steps(job_id TEXT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL,"
	" state TEXT NOT NULL, detail TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY(job_id, seq));"
	"CREATE TABLE IF NOT EXISTS tls_creds(enclave_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,"
	" state TEXT NOT NULL, policy TEXT NOT NULL, generation INTEGER NOT NULL DEFAULT 0,"
	" serial TEXT NOT NULL DEFAULT '', subject TEXT NOT NULL DEFAULT '', sans TEXT NOT NULL DEFAULT '',"
	" issuer TEXT NOT NULL DEFAULT '', not_after INTEGER NOT NULL DEFAULT 0, chain TEXT NOT NULL DEFAULT '',"
	" pending_gen INTEGER NOT NULL DEFAULT 0, pending_policy TEXT NOT NULL DEFAULT '',"
	" pending_chain TEXT NOT NULL DEFAULT '', pending_serial TEXT NOT NULL DEFAULT '',"
	" pending_not_after INTEGER NOT NULL DEFAULT 0, job_id TEXT NOT NULL DEFAULT '',"
	" error TEXT NOT NULL DEFAULT '', updated_at INTEGER NOT NULL);",
	/* 14: the public endpoints a host serves an enclave's TLS on
	 * ("ADDR:PORT" comma-separated, from its tls_install result). A table
	 * of its own (not a column of tls_creds): safe to apply again. */
	"CREATE TABLE IF NOT EXISTS tls_endpoints(enclave_id TEXT PRIMARY KEY, endpoints TEXT NOT NULL);",
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
	if (version)
		*version = want;
	return CL_OK;
out:
	ctl_store_rollback(st);
	return err;
}
