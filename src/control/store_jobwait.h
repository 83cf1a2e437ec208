/* store_jobwait.h — store commits of the create path that are not fsynced
 * by themselves: the job "delivered" mark, and transactions made durable by
 * ctl_durable (store_durable.h) off the event loop. */
#ifndef CL_CONTROL_STORE_JOBWAIT_H
#define CL_CONTROL_STORE_JOBWAIT_H

#include <stddef.h>
#include <stdint.h>

#include "control/store.h"

/* Marks the pending jobs of host_id's enclaves running (progress 50: the
 * host was sent the change) in a commit that is not fsynced by itself
 * (synchronous=NORMAL for this one statement; FULL again after). Durable
 * against a kill of the process at once (the WAL write is in the kernel's
 * page cache), against a power loss at the next durable commit; losing it
 * costs nothing but the mark (see docs/control.md "What a kill or a power
 * loss may undo"). Must not be called inside a transaction (CL_EINTERNAL).
 * On failure nothing changed. Aborts if the connection cannot be put back
 * to synchronous=FULL (every later commit would silently lose its
 * durability). */
CL_MUST_CHECK cl_err ctl_store_jobs_delivered_lazy(ctl_store *st, const char *host_id, int64_t now_ms);

/* Begins a transaction whose COMMIT writes the WAL but does not fsync it
 * (synchronous=NORMAL until that COMMIT or ROLLBACK, FULL again after: the
 * same ctl_store_commit / ctl_store_rollback end it). Once committed, the
 * change is visible to every later read and survives a kill of the process
 * (the kernel holds the write), but not yet a power loss: the caller must
 * not tell anyone outside who could act on it, except what reconciliation
 * undoes (a host's held sync), until ctl_durable_after (store_durable.h)
 * says it is durable. CL_EINTERNAL inside a transaction; on failure no
 * transaction is open and the connection is at synchronous=FULL. */
CL_MUST_CHECK cl_err ctl_store_begin_unsynced(ctl_store *st);

/* Writes the path of the store's WAL file into out (n bytes). CL_EINVAL
 * for a store without one (an in-memory database), CL_ETOOBIG if n is too
 * small. */
CL_MUST_CHECK cl_err ctl_store_wal_path(ctl_store *st, char *out, size_t n);

#endif
