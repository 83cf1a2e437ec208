/* store_jobwait.h — store queries of the create path that are not the SQL
 * binder's (store.c): the job "delivered" mark without its own fsync. */
#ifndef CL_CONTROL_STORE_JOBWAIT_H
#define CL_CONTROL_STORE_JOBWAIT_H

#include <stdint.h>

#include "control/store.h"

/* Marks the pending jobs of host_id's enclaves running (progress 50: the
 * host was sent the change), as ctl_store_jobs_delivered does, but as a
 * commit that is not fsynced by itself (synchronous=NORMAL for this one
 * statement; FULL again after). Durable against a kill of the process at
 * once (the WAL write is in the kernel's page cache), against a power loss
 * at the next durable commit; losing it costs nothing but the mark (see
 * docs/control.md "What a kill or a power loss may undo"). Must not be
 * called inside a transaction (CL_EINTERNAL). On failure nothing changed.
 * Aborts if the connection cannot be put back to synchronous=FULL (every
 * later commit would silently lose its durability). */
CL_MUST_CHECK cl_err ctl_store_jobs_delivered_lazy(ctl_store *st, const char *host_id, int64_t now_ms);

#endif
