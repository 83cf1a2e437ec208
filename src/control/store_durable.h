/* store_durable.h — making commits durable off the event loop.
 *
 * A transaction begun with ctl_store_begin_unsynced (store_jobwait.h) is
 * written to the WAL at COMMIT but not fsynced. ctl_durable_after then asks
 * the kernel for an fdatasync of the WAL file as an asynchronous request
 * (Linux AIO, IOCB_CMD_FDSYNC: the kernel runs it on one of its own
 * workers, so this process gets no thread and nothing new to confine) and
 * runs the caller's callback on the event loop once that fdatasync has
 * completed: every commit written before the request is durable by then.
 * Requests arriving while one is in flight share the next fdatasync (group
 * commit). If the kernel refuses the request, the fdatasync runs at once
 * instead (the callback still runs from the loop).
 *
 * A failed fdatasync aborts the process: the commits it covered are visible
 * already and their durability is unknown (the kernel may have dropped the
 * pages it failed to write), so going on could answer a client about a
 * change a power loss undoes. The supervisor restarts the worker, which
 * reads the store as the disk has it.
 *
 * Single-threaded: every call on the loop's thread.
 */
#ifndef CL_CONTROL_STORE_DURABLE_H
#define CL_CONTROL_STORE_DURABLE_H

#include <stdint.h>

#include "common/err.h"
#include "control/store.h"

struct event_base;
typedef struct ctl_durable ctl_durable;

/* Runs on the event loop once the commits before ctl_durable_after are durable. */
typedef void (*ctl_durable_cb)(void *arg);

/* One request; embedded in the caller's own object so that asking cannot
 * fail. Untouched by the caller between ctl_durable_after and its callback. */
typedef struct ctl_durable_waiter {
	struct ctl_durable_waiter *next;
	ctl_durable_cb cb;
	void *arg;
} ctl_durable_waiter;

/* Makes the barrier for the store's WAL (ctl_store_wal_path) on base. On
 * failure (no WAL, no AIO in this kernel, the AIO limit reached) *out is
 * NULL and the caller commits with its own fsync (ctl_store_begin). *out
 * owned by the caller: ctl_durable_free. */
CL_MUST_CHECK cl_err ctl_durable_new(ctl_store *st, struct event_base *base, ctl_durable **out);
/* As ctl_durable_new, for the file at path (tests). */
CL_MUST_CHECK cl_err ctl_durable_new_path(const char *path, struct event_base *base, ctl_durable **out);

/* Calls cb(arg) from the event loop once every commit written so far is
 * durable; never before this returns, exactly once (ctl_durable_free runs
 * the callbacks still due). w is the caller's, untouched until cb runs. */
void ctl_durable_after(ctl_durable *d, ctl_durable_waiter *w, ctl_durable_cb cb, void *arg);

/* fdatasyncs completed since ctl_durable_new (monitoring and tests). */
uint64_t ctl_durable_syncs(const ctl_durable *d);

/* Waits for the fdatasync in flight, makes the rest durable at once, runs
 * every callback still due, and frees d. NULL is fine. */
void ctl_durable_free(ctl_durable *d);

#endif
