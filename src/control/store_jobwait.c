/* store_jobwait.c — the job "delivered" mark without its own fsync
 * (store_jobwait.h). */
#include <sqlite3.h>
#include <stdlib.h>

#include "common/log.h"
#include "control/store_jobwait.h"
#include "control/store_priv.h"

cl_err ctl_store_jobs_delivered_lazy(ctl_store *st, const char *host_id, int64_t now_ms)
{
	if (st->in_tx)
		return cl_errorf(CL_EINTERNAL, "lazy commit inside a transaction");
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE jobs SET state='running',progress=50,updated_at=? WHERE state='pending'"
			  " AND enclave_id IN (SELECT id FROM enclaves WHERE host_id=?)",
			  CTL_INT(now_ms), CTL_TEXT(host_id)));
	/* In WAL mode, NORMAL writes the commit to the WAL without fsync: a
	 * later FULL commit's fsync of the WAL (or a checkpoint) makes it
	 * durable, and the WAL's checksums keep the database consistent if a
	 * power loss drops it before. */
	int rc = sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	if (rc != SQLITE_OK) { /* still FULL */
		sqlite3_finalize(q);
		return ctl_store_sqlerr(st, rc, "mark jobs delivered");
	}
	cl_err err = ctl_store_run(st, q, "jobs", NULL);
	if (sqlite3_exec(st->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK) {
		cl_error("cannot restore synchronous=FULL: %s; stopping", sqlite3_errmsg(st->db));
		abort(); /* every later commit would lose its durability without a word */
	}
	return err;
}
