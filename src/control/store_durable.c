/* store_durable.c — an fdatasync of the WAL as an asynchronous kernel
 * request, completed on the event loop (store_durable.h).
 *
 * One request is in flight at a time: waiters that arrive meanwhile wait
 * for the next one, since their commits may have been written after the
 * one in flight started. The request holds its own reference to the file,
 * so the descriptor opened for it is closed at once; the WAL is opened by
 * path each time, so a WAL that SQLite deleted and made again (when the
 * last connection closed) is still the one synced. */
#include "control/store_durable.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "control/store_jobwait.h"

struct ctl_durable {
	struct event_base *base;
	char path[PATH_MAX];
	aio_context_t ctx;
	int efd;             /* the kernel signals completions here (IOCB_FLAG_RESFD) */
	struct event *ev;    /* watches efd; also activated by hand after a synchronous fdatasync */
	struct iocb iocb;    /* the request in flight */
	bool in_flight;      /* iocb was submitted and not reaped yet */
	bool done_now;       /* the fdatasync ran synchronously: complete `flying` from the loop */
	ctl_durable_waiter *flying;  /* covered by the fdatasync in flight (or just done) */
	ctl_durable_waiter *queued;  /* need the next one */
	ctl_durable_waiter **queued_tail;
	uint64_t syncs;
};

/* The commits the failed fdatasync covered are visible and may be lost. */
static void fatal(const char *path, const char *what, int errnum)
{
	cl_error("%s of the store's WAL failed path=%s err=\"%s\"; stopping: commits already visible may not be "
		 "durable",
		 what, path, strerror(errnum));
	abort();
}

/* fdatasync of the WAL, here and now (the kernel refused the request, or shutdown). */
static void sync_now(ctl_durable *d)
{
	int fd = open(d->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fatal(d->path, "open", errno);
	if (fdatasync(fd) != 0)
		fatal(d->path, "fdatasync", errno);
	close(fd);
	d->syncs++;
}

/* Starts the fdatasync that covers every queued waiter. Precondition:
 * nothing in flight or done_now, queued not empty. */
static void submit(ctl_durable *d)
{
	d->flying = d->queued;
	d->queued = NULL;
	d->queued_tail = &d->queued;
	int fd = open(d->path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		memset(&d->iocb, 0, sizeof(d->iocb));
		d->iocb.aio_lio_opcode = IOCB_CMD_FDSYNC;
		d->iocb.aio_fildes = (uint32_t)fd;
		d->iocb.aio_flags = IOCB_FLAG_RESFD;
		d->iocb.aio_resfd = (uint32_t)d->efd;
		struct iocb *list[1] = {&d->iocb};
		long n = syscall(SYS_io_submit, d->ctx, 1L, list);
		int submit_errno = errno;
		close(fd); /* the request holds its own reference to the file */
		if (n == 1) {
			d->in_flight = true;
			return;
		}
		cl_debug("asynchronous fdatasync refused; syncing the WAL at once err=\"%s\"", strerror(submit_errno));
	}
	sync_now(d);
	d->done_now = true;
	event_active(d->ev, EV_READ, 0);
}

/* The fdatasync in flight is done (or ran synchronously): run its waiters'
 * callbacks, after starting the next one for those who queued meanwhile. */
static void complete(ctl_durable *d)
{
	ctl_durable_waiter *w = d->flying;
	d->flying = NULL;
	d->done_now = false;
	if (d->queued)
		submit(d);
	while (w) {
		ctl_durable_waiter *next = w->next; /* the callback may free w */
		w->cb(w->arg);
		w = next;
	}
}

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	ctl_durable *d = arg;
	uint64_t count;
	if (read(d->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		cl_debug("eventfd read failed err=\"%s\"", strerror(errno));
	if (d->in_flight) {
		struct io_event ev;
		struct timespec zero = {0, 0};
		long got = syscall(SYS_io_getevents, d->ctx, 0L, 1L, &ev, &zero);
		if (got < 0 && errno != EINTR)
			fatal(d->path, "io_getevents", errno);
		if (got <= 0)
			return; /* not done yet: the eventfd fires again */
		if ((int64_t)ev.res < 0)
			fatal(d->path, "fdatasync", (int)-(int64_t)ev.res);
		d->in_flight = false;
		d->syncs++;
	} else if (!d->done_now) {
		return;
	}
	complete(d);
}

cl_err ctl_durable_new_path(const char *path, struct event_base *base, ctl_durable **out)
{
	*out = NULL;
	ctl_durable *d = calloc(1, sizeof(*d));
	CL_ENSURE(d != NULL, CL_ENOMEM, "out of memory");
	d->base = base;
	d->efd = -1;
	d->queued_tail = &d->queued;
	cl_err err = CL_OK;
	if (snprintf(d->path, sizeof(d->path), "%s", path) >= (int)sizeof(d->path)) {
		err = cl_errorf(CL_ETOOBIG, "path too long");
		goto out;
	}
	int fd = open(d->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = cl_errorf(CL_ESYS, "cannot open %s: %s", d->path, strerror(errno));
		goto out;
	}
	close(fd);
	if ((d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		err = cl_errorf(CL_ESYS, "eventfd: %s", strerror(errno));
		goto out;
	}
	if (syscall(SYS_io_setup, 4L, &d->ctx) != 0) {
		d->ctx = 0;
		err = cl_errorf(CL_ESYS, "io_setup: %s", strerror(errno));
		goto out;
	}
	if (!(d->ev = event_new(base, d->efd, EV_READ | EV_PERSIST, on_ready, d)) || event_add(d->ev, NULL) != 0) {
		err = cl_errorf(CL_ENOMEM, "event_new");
		goto out;
	}
	*out = d;
	return CL_OK;
out:
	ctl_durable_free(d);
	return err;
}

cl_err ctl_durable_new(ctl_store *st, struct event_base *base, ctl_durable **out)
{
	char wal[PATH_MAX];
	*out = NULL;
	CL_GUARD(ctl_store_wal_path(st, wal, sizeof(wal)));
	return ctl_durable_new_path(wal, base, out);
}

void ctl_durable_after(ctl_durable *d, ctl_durable_waiter *w, ctl_durable_cb cb, void *arg)
{
	w->next = NULL;
	w->cb = cb;
	w->arg = arg;
	*d->queued_tail = w;
	d->queued_tail = &w->next;
	if (!d->in_flight && !d->done_now)
		submit(d);
}

uint64_t ctl_durable_syncs(const ctl_durable *d)
{
	return d ? d->syncs : 0;
}

void ctl_durable_free(ctl_durable *d)
{
	if (!d)
		return;
	if (d->in_flight) {
		struct io_event ev;
		long got;
		while ((got = syscall(SYS_io_getevents, d->ctx, 1L, 1L, &ev, NULL)) < 0 && errno == EINTR)
			;
		if (got < 0)
			fatal(d->path, "io_getevents", errno);
		if ((int64_t)ev.res < 0)
			fatal(d->path, "fdatasync", (int)-(int64_t)ev.res);
		d->in_flight = false;
		d->syncs++;
	}
	ctl_durable_waiter *due = d->flying;
	ctl_durable_waiter **tail = &due;
	while (*tail)
		tail = &(*tail)->next;
	*tail = d->queued;
	if (d->queued)
		sync_now(d);
	if (d->ev)
		event_free(d->ev);
	if (d->efd >= 0)
		close(d->efd);
	if (d->ctx)
		syscall(SYS_io_destroy, d->ctx);
	free(d);
	while (due) {
		ctl_durable_waiter *next = due->next;
		due->cb(due->arg);
		due = next;
	}
}
