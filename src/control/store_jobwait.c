/* store_jobwait.c — commits of the create path without their own fsync
 * (store_jobwait.h): the job "delivered" mark, and the transactions whose
 * durability ctl_durable (store_durable.c) completes off the event loop. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "control/store_jobwait.h"
#include "control/store_priv.h"

/* In WAL mode, NORMAL writes a commit to the WAL without fsync: a later
 * FULL commit's fsync of the WAL, a checkpoint (which syncs the WAL first),
 * or ctl_durable makes it durable, and the WAL's checksums keep the database
 * consistent if a power loss drops it before. SQLite refuses to change the
 * level inside a transaction, so it is set before BEGIN and put back after
 * COMMIT or ROLLBACK. */
static cl_err sync_normal(ctl_store *st, const char *what)
{
	int rc = sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	return rc == SQLITE_OK ? CL_OK : ctl_store_sqlerr(st, rc, what); /* still FULL */
}

void ctl_store_sync_restore(ctl_store *st)
{
	st->unsynced = false;
	if (sqlite3_exec(st->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
		cl_error("cannot restore synchronous=FULL: %s; stopping", sqlite3_errmsg(st->db));
		abort(); /* every later commit would lose its durability without a word */
	}
}

cl_err ctl_store_jobs_delivered_lazy(ctl_store *st, const char *host_id, int64_t now_ms)
{
	if (st->in_tx)
		return cl_errorf(CL_EINTERNAL, "lazy commit inside a transaction");
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE jobs SET state='running',progress=50,updated_at=? WHERE state='pending'"
			  " AND enclave_id IN (SELECT id FROM enclaves WHERE host_id=?)",
			  CTL_INT(now_ms), CTL_TEXT(host_id)));
	cl_err err = sync_normal(st, "mark jobs delivered");
	if (err != CL_OK) {
		ctl_store_finish(st, q);
		return err;
	}
	err = ctl_store_run(st, q, "jobs", NULL);
	ctl_store_sync_restore(st);
	return err;
}

cl_err ctl_store_begin_unsynced(ctl_store *st)
{
	if (st->in_tx)
		return cl_errorf(CL_EINTERNAL, "nested transaction");
	CL_GUARD(sync_normal(st, "begin"));
	st->unsynced = true;
	cl_err err = ctl_store_begin(st);
	if (err != CL_OK)
		ctl_store_sync_restore(st);
	return err;
}

cl_err ctl_store_wal_path(ctl_store *st, char *out, size_t n)
{
	const char *db = sqlite3_db_filename(st->db, "main");
	const char *wal = db && db[0] ? sqlite3_filename_wal(db) : NULL;
	CL_ENSURE(wal && wal[0], CL_EINVAL, "the store has no WAL file");
	CL_ENSURE(snprintf(out, n, "%s", wal) < (int)n, CL_ETOOBIG, "WAL path too long");
	return CL_OK;
}
