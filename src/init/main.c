/* cloister-init — PID 1 inside an enclave (docs/internals.md, docs/sandbox.md).
 *
 * Usage (set by the shim): /init ENTRYPOINT [ARGS...], fd 3 = the channel.
 * Starts the application with stdin/stdout/stderr on pipes, sends READY once
 * it is exec'd (a CLOEXEC pipe closes empty), frames stdout as DATA and stderr
 * as LOG, writes DATA it receives to the application's stdin (EOF closes it),
 * reaps every child, and sends EXIT with the application's wait status. Then
 * it exits, which ends every process left in the enclave.
 *
 * Backpressure both ways: stdout/stderr are read only while the outgoing
 * queue has room for a whole chunk; the channel is read only while a DATA
 * frame fits in the stdin queue. Static, libc only.
 *
 * `/init --await-bundle` (an enclave created to await a bundle) starts no
 * application: it runs the provisioning helper CL_INIT_HELPER (await.c),
 * which makes the enclave's key pair, sends KEY then READY, forwards BUNDLE
 * and BUNDLE_END to the helper and runs CL_INIT_ENTRYPOINT once a bundle is
 * installed (answered EXTEND, or ERROR with the reason: docs/provisioning.md).
 *
 * `/init --suspendable ID ...` (an enclave created suspendable, ID its id,
 * before either form above) answers KEYGEN: it starts the helper with
 * `--state ID`, which makes a fresh key pair, and sends its KEY, or ERROR
 * with the reason; then SUSPEND stops the application and relays the
 * helper's STATE frames and STATE_END (docs/suspend.md). Without the flag
 * KEYGEN and SUSPEND are ERROR "not_suspendable".
 *
 * `/init --suspendable ID --await-restore ENTRYPOINT [ARGS...]` (a sandbox
 * launched to restore a suspended enclave; `--await-bundle` in place of
 * ENTRYPOINT for one created to await a bundle: then CL_INIT_ENTRYPOINT
 * from the state) starts the helper at once (KEY
 * before READY), forwards RESTORE, STATE and STATE_END to it, and once it
 * answers STATE_END (the state is in /tmp) starts ENTRYPOINT, relays the
 * EXTENDs the helper sent before it (the PCR7 the suspended enclave had)
 * and the STATE_END; a refusal is ERROR (the enclave runs nothing; the host
 * removes it). The enclave's extends (its bundle's, or a restore's) are
 * remembered and handed to each KEYGEN helper, so every suspend's blob
 * carries them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/frame.h"
#include "init/await.h"
#include "init/files.h"
#include "version_gen.h" /* made by the Makefile */

#define CHAN 3
#define CHUNK (64u << 10)
#define TX_MAX (256u << 10)
#define STDIN_MAX (1u << 20)

typedef struct queue {
	uint8_t *data;
	size_t head, len, max;
} queue;

static uint8_t dec_storage[CL_FRAME_HDR + CL_FRAME_MAX];
static uint8_t tx_storage[TX_MAX];
static uint8_t files_storage[CL_FILES_BYTES];
static uint8_t stdin_storage[STDIN_MAX];

static queue tx = {tx_storage, 0, 0, TX_MAX};          /* frames to the shim */
static queue in = {stdin_storage, 0, 0, STDIN_MAX};    /* bytes to the app's stdin */
static cl_frame_dec dec;

extern char **environ;

static size_t q_space(const queue *q)
{
	return q->max - q->len;
}

static void q_push(queue *q, const void *p, size_t n)
{
	if (q->head + q->len + n > q->max) {
		memmove(q->data, q->data + q->head, q->len);
		q->head = 0;
	}
	memcpy(q->data + q->head + q->len, p, n);
	q->len += n;
}

static void q_pop(queue *q, size_t n)
{
	q->head += n;
	q->len -= n;
	if (!q->len)
		q->head = 0;
}

/* Queues a frame; the caller checked the room (CL_FRAME_HDR + n). */
static void send_frame(uint8_t type, const void *p, uint32_t n)
{
	uint8_t hdr[CL_FRAME_HDR];
	if (cl_frame_put_header(hdr, type, n) != CL_OK)
		_exit(1); /* the caller checked n: cannot happen */
	q_push(&tx, hdr, sizeof(hdr));
	if (n)
		q_push(&tx, p, n);
}

/* Blocking flush of everything queued (used at the end). */
static void flush_tx(void)
{
	while (tx.len) {
		struct pollfd p = {.fd = CHAN, .events = POLLOUT};
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return;
		ssize_t w = write(CHAN, tx.data + tx.head, tx.len);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			return;
		q_pop(&tx, (size_t)w);
	}
}

static void log_line(const char *a, const char *b, const char *c)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "cloister-init: %s%s: %s\n", a, b, c);
	if (n > 0 && q_space(&tx) >= CL_FRAME_HDR + (size_t)n)
		send_frame(CL_FRAME_LOG, msg, (uint32_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1));
}

/* Queues a frame, flushing first (blocking) if the queue lacks room. */
static void send_frame_room(uint8_t type, const void *p, uint32_t n)
{
	if (q_space(&tx) < CL_FRAME_HDR + (size_t)n)
		flush_tx();
	if (q_space(&tx) >= CL_FRAME_HDR + (size_t)n)
		send_frame(type, p, n);
}

/* The FILES list (files.h): asked for by the host, and sent unasked once
 * the application runs (READY, EXTEND), so the shim always has one. */
static void send_files(void)
{
	size_t n = cl_init_files_list(files_storage, sizeof(files_storage));
	send_frame_room(CL_FRAME_FILES, files_storage, (uint32_t)n);
}

static __attribute__((noreturn)) void finish(int status)
{
	cl_init_await_done();
	uint8_t st[4] = {(uint8_t)((uint32_t)status >> 24), (uint8_t)((uint32_t)status >> 16),
			 (uint8_t)((uint32_t)status >> 8), (uint8_t)status};
	if (q_space(&tx) < CL_FRAME_HDR + 4)
		flush_tx();
	send_frame(CL_FRAME_EXIT, st, 4);
	flush_tx();
	_exit(0);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Forks and execs the application; returns its pid, or -1 with errno from exec. */
static pid_t start_app(char **argv, int fds[3], sigset_t *oldmask)
{
	int p_in[2], p_out[2], p_err[2], p_exec[2];
	if (pipe2(p_in, O_CLOEXEC) || pipe2(p_out, O_CLOEXEC) || pipe2(p_err, O_CLOEXEC) || pipe2(p_exec, O_CLOEXEC))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		if (dup2(p_in[0], 0) < 0 || dup2(p_out[1], 1) < 0 || dup2(p_err[1], 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0u, 4 /* CLOSE_RANGE_CLOEXEC */);
		execve(argv[0], argv, environ);
		int e = errno;
		if (write(p_exec[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(p_in[0]), close(p_out[1]), close(p_err[1]), close(p_exec[1]);
	int e = 0;
	ssize_t r;
	while ((r = read(p_exec[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(p_exec[0]);
	fds[0] = p_in[1], fds[1] = p_out[0], fds[2] = p_err[0];
	if (r > 0) {
		close(fds[0]), close(fds[1]), close(fds[2]);
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		errno = e;
		return -1;
	}
	set_nonblock(fds[0]), set_nonblock(fds[1]), set_nonblock(fds[2]);
	return pid;
}

/* True while the next DATA frame cannot fit in the stdin queue. */
static int chan_stalled(void)
{
	size_t avail = dec.len - dec.off;
	if (avail < CL_FRAME_HDR || dec.buf[dec.off + 4] != CL_FRAME_DATA)
		return 0;
	const uint8_t *h = dec.buf + dec.off;
	uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	return n <= dec.max && n > q_space(&in);
}

/* BUNDLE_END: installs and starts the bundle (EXTEND), or says why not
 * (ERROR). Returns the application's pid (unchanged if none started). */
static pid_t bundle_end(const uint8_t *p, uint32_t n, int app[3], sigset_t *old, pid_t pid, int *stdin_eof)
{
	uint8_t digest[48], ext[CL_BUNDLE_EXTEND_LEN];
	char reason[CL_INIT_REASON_MAX];
	int rc = cl_init_await_end(p, n, digest, reason);
	if (rc == -2) {
		log_line("provisioning", "", reason);
		finish(127 << 8); /* the key is gone with the helper: end the enclave */
	}
	if (rc < 0)
		return pid; /* aborted: nothing to answer */
	if (rc == 1) {
		char *argv[] = {(char *)CL_INIT_ENTRYPOINT, NULL};
		pid_t started = start_app(argv, app, old);
		if (started < 0) {
			snprintf(reason, sizeof(reason), "bad_bundle: entrypoint: cannot execute: %s", strerror(errno));
			cl_init_await_uninstall();
		} else {
			cl_init_await_done();
			*stdin_eof = 0;
			ext[0] = CL_BUNDLE_REGISTER;
			memcpy(ext + 1, digest, 48);
			cl_init_extends_remember(ext); /* a suspend's blob carries it */
			send_frame_room(CL_FRAME_EXTEND, ext, sizeof(ext));
			send_files();
			return started;
		}
	}
	send_frame_room(CL_FRAME_ERROR, reason, (uint32_t)strlen(reason));
	return pid;
}

/* KEYGEN: a fresh key from the helper (KEY), or ERROR with the reason. */
static void keygen(const char *enclave_id, const sigset_t *old)
{
	uint8_t point[97];
	char why[CL_INIT_REASON_MAX], warn[CL_INIT_WARN_MAX];
	if (!enclave_id) {
		snprintf(why, sizeof(why), "not_suspendable: the enclave was not created suspendable");
	} else if (cl_init_state_keygen(old, enclave_id, point, warn, why) == 0) {
		if (warn[0])
			send_frame_room(CL_FRAME_LOG, warn, (uint32_t)strlen(warn));
		send_frame_room(CL_FRAME_KEY, point, sizeof(point));
		return;
	}
	send_frame_room(CL_FRAME_ERROR, why, (uint32_t)strlen(why));
}

/* One frame of the helper's answer to SUSPEND, relayed to the host. */
static void relay_state(void *ctx, uint8_t type, const uint8_t *p, uint32_t n)
{
	(void)ctx;
	send_frame_room(type, p, n);
}

/* SUSPEND (docs/suspend.md): an empty payload resumes the application if a
 * suspend stopped it (the suspend was not committed), and is a no-op
 * otherwise, in any enclave; else every process but init and the helper
 * is stopped (SIGSTOP: init is PID 1, so they are all the application's),
 * the helper seals /tmp, and its STATE frames and STATE_END (or ERROR) are
 * relayed as they come. The application stays stopped once the state is
 * out (the host removes the sandbox when the control plane committed, or
 * resumes it); on ERROR it runs on. */
static void suspend(const char *enclave_id, const uint8_t *p, uint32_t n)
{
	static bool stopped; /* by a suspend, and not resumed since */
	char why[CL_INIT_REASON_MAX];
	if (n == 0) { /* resumes only what a suspend stopped: never a process the application stopped itself */
		if (stopped)
			kill(-1, SIGCONT);
		stopped = false;
		return;
	}
	if (!enclave_id) {
		snprintf(why, sizeof(why), "not_suspendable: the enclave was not created suspendable");
		send_frame_room(CL_FRAME_ERROR, why, (uint32_t)strlen(why));
		return;
	}
	kill(-1, SIGSTOP);
	stopped = true;
	cl_init_state_continue_helper();
	int rc = cl_init_state_suspend(p, n, relay_state, NULL, why);
	if (rc != 1) {
		kill(-1, SIGCONT);
		stopped = false;
		if (rc < 0)
			send_frame_room(CL_FRAME_ERROR, why, (uint32_t)strlen(why));
	}
}

/* A restore's frames (docs/suspend.md): forwarded to the helper while the
 * sandbox awaits a restore (else the STATE_END is not_awaiting_restore);
 * the first failure is kept and answered at the STATE_END. On success the
 * entrypoint argv starts and STATE_END is relayed. Returns the
 * application's pid (unchanged if none started). */
static pid_t restore(uint8_t type, const uint8_t *p, uint32_t n, int *awaiting, char **argv, int app[3],
		     sigset_t *old, pid_t pid)
{
	static char failed[CL_INIT_REASON_MAX];
	uint8_t end[56], exts[CL_STATE_EXTENDS_MAX][CL_BUNDLE_EXTEND_LEN];
	size_t nexts = 0;
	char why[CL_INIT_REASON_MAX];
	if (type == CL_FRAME_RESTORE)
		failed[0] = '\0';
	if (!*awaiting) {
		if (type == CL_FRAME_STATE_END && n) {
			snprintf(why, sizeof(why), "not_awaiting_restore: the enclave runs already");
			send_frame_room(CL_FRAME_ERROR, why, (uint32_t)strlen(why));
		}
		return pid;
	}
	if (type != CL_FRAME_STATE_END) {
		if (!failed[0] && cl_init_state_forward(type, p, n, why) != 0)
			snprintf(failed, sizeof(failed), "%s", why);
		return pid;
	}
	int rc = failed[0] ? -1 : cl_init_state_restore_end(p, n, end, exts, &nexts, why);
	if (rc == 0 || (n == 0 && failed[0]))
		return pid; /* an abort: nothing to answer */
	if (rc < 0) {
		if (failed[0])
			memcpy(why, failed, sizeof(why)); /* the first failure, kept */
		failed[0] = '\0';
		send_frame_room(CL_FRAME_ERROR, why, (uint32_t)strlen(why));
		return pid;
	}
	/* an enclave created to await a bundle: its restored bundle runs (it
	 * was suspended running it: KEYGEN is busy while a bundle is awaited) */
	char *bundle_argv[] = {(char *)CL_INIT_ENTRYPOINT, NULL};
	bool await = strcmp(argv[0], "--await-bundle") == 0;
	pid_t started = start_app(await ? bundle_argv : argv, app, old);
	if (started < 0) {
		snprintf(why, sizeof(why), "cannot execute %s: %s", await ? bundle_argv[0] : argv[0], strerror(errno));
		send_frame_room(CL_FRAME_ERROR, why, (uint32_t)strlen(why));
		return pid;
	}
	*awaiting = 0;
	/* PCR7 replayed: each extend the blob carried, as at provisioning,
	 * before the STATE_END (the host records them with the restore) */
	for (size_t i = 0; i < nexts; i++) {
		cl_init_extends_remember(exts[i]); /* the next suspend carries it again */
		send_frame_room(CL_FRAME_EXTEND, exts[i], CL_BUNDLE_EXTEND_LEN);
	}
	send_frame_room(CL_FRAME_STATE_END, end, sizeof(end));
	return started;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		/* outside an enclave only: inside, argv[1] is the entrypoint's path.
		 * No git revision: this binary is PCR1 (docs/measurements.md), and
		 * the same source must give the same bytes wherever and from
		 * whichever checkout (clean, dirty, a tarball) it is built. */
		static const char v[] = "cloister-init " CL_VERSION_STR " (static)\n";
		return write(1, v, sizeof(v) - 1) == (ssize_t)(sizeof(v) - 1) ? 0 : 1;
	}
	int app[3] = {-1, -1, -1}; /* our ends: app stdin (write), stdout, stderr (read) */
	int app_exited = 0, app_status = 0, stdin_eof = 0;
	cl_frame_dec_init(&dec, dec_storage, sizeof(dec_storage), CL_FRAME_MAX);
	signal(SIGPIPE, SIG_IGN);
	if (fcntl(CHAN, F_GETFD) < 0)
		return 2; /* no channel: nothing to report to */
	/* exec made us dumpable again: the application runs as our uid, and a
	 * dumpable PID 1 would let it read /proc/1/mem (our frame buffers). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		log_line("prctl", "", strerror(errno));
		finish(127 << 8);
	}
	const char *enclave_id = NULL; /* set: suspendable */
	if (argc >= 3 && strcmp(argv[1], "--suspendable") == 0) {
		enclave_id = argv[2];
		argc -= 2, argv += 2;
	}
	int awaiting_restore = 0;
	if (enclave_id && argc >= 3 && strcmp(argv[1], "--await-restore") == 0) {
		awaiting_restore = 1;
		argc--, argv++;
	}
	if (argc < 2) {
		log_line("usage", "",
			 "/init [--suspendable ID [--await-restore]] ENTRYPOINT [ARGS...] | /init [--suspendable ID "
			 "[--await-restore]] --await-bundle");
		finish(127 << 8);
	}
	bool await = strcmp(argv[1], "--await-bundle") == 0;
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	pid_t pid = -1;
	if (awaiting_restore) {
		/* the key before READY, as for a bundle: the restore's document has it */
		uint8_t point[97];
		char why[CL_INIT_REASON_MAX], warn[CL_INIT_WARN_MAX];
		if (sfd < 0 || cl_init_state_keygen(&old, enclave_id, point, warn, why) != 0) {
			log_line("restore", "", sfd < 0 ? strerror(errno) : why);
			finish(127 << 8);
		}
		if (warn[0])
			send_frame(CL_FRAME_LOG, warn, (uint32_t)strlen(warn));
		send_frame(CL_FRAME_KEY, point, sizeof(point));
	} else if (await) {
		/* the key before READY: a document asked for once the launch is
		 * done always finds it (only awaiting enclaves pay for it) */
		uint8_t point[97];
		char why[CL_INIT_REASON_MAX], warn[CL_INIT_WARN_MAX];
		if (sfd < 0 || cl_init_await_start(&old, point, warn, why) != 0) {
			log_line("provisioning", "", sfd < 0 ? strerror(errno) : why);
			finish(127 << 8);
		}
		if (warn[0])
			send_frame(CL_FRAME_LOG, warn, (uint32_t)strlen(warn));
		send_frame(CL_FRAME_KEY, point, sizeof(point));
	} else {
		pid = sfd < 0 ? -1 : start_app(argv + 1, app, &old);
		if (pid < 0) {
			log_line("cannot execute ", argv[1], strerror(errno));
			finish(127 << 8);
		}
	}
	set_nonblock(CHAN);
	send_frame(CL_FRAME_READY, NULL, 0);
	send_files();

	for (;;) {
		int exited_before = app_exited;
		struct pollfd p[5] = {
			{.fd = CHAN, .events = 0},
			{.fd = sfd, .events = POLLIN},
			{.fd = app[0], .events = in.len ? POLLOUT : 0},
			{.fd = app[1], .events = 0},
			{.fd = app[2], .events = 0},
		};
		int room = q_space(&tx) >= CL_FRAME_HDR + CHUNK;
		if (!chan_stalled() && cl_frame_dec_space(&dec) > 0)
			p[0].events |= POLLIN;
		if (tx.len)
			p[0].events |= POLLOUT;
		if (room)
			p[3].events = p[4].events = POLLIN;
		if (poll(p, 5, app_exited && room ? 0 : -1) < 0 && errno != EINTR) {
			log_line("poll", "", strerror(errno));
			finish(app_status);
		}
		/* the shim: frames in, frames out */
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(CHAN, cl_frame_dec_tail(&dec), cl_frame_dec_space(&dec));
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				log_line("channel", "", r == 0 ? "closed" : strerror(errno));
				flush_tx();
				_exit(1); /* the host is gone: end the enclave */
			}
			if (r > 0)
				cl_frame_dec_commit(&dec, (size_t)r);
		}
		while (!chan_stalled()) {
			uint8_t type;
			const uint8_t *pl;
			uint32_t len;
			bool got = false;
			cl_err e = cl_frame_pull(&dec, &got, &type, &pl, &len);
			if (e == CL_OK && !got)
				break;
			if (e != CL_OK || (type != CL_FRAME_DATA && type != CL_FRAME_EOF && type != CL_FRAME_BUNDLE &&
					   type != CL_FRAME_BUNDLE_END && type != CL_FRAME_FILES_REQ && type != CL_FRAME_KEYGEN &&
					   type != CL_FRAME_SUSPEND && type != CL_FRAME_RESTORE && type != CL_FRAME_STATE &&
					   type != CL_FRAME_STATE_END) ||
			    (type == CL_FRAME_KEYGEN && len != 0))
				_exit(1); /* protocol violation by the host side */
			char why[CL_INIT_REASON_MAX];
			if (type == CL_FRAME_KEYGEN) {
				keygen(enclave_id, &old);
			} else if (type == CL_FRAME_SUSPEND) {
				suspend(enclave_id, pl, len);
			} else if (type == CL_FRAME_RESTORE || type == CL_FRAME_STATE || type == CL_FRAME_STATE_END) {
				pid = restore(type, pl, len, &awaiting_restore, argv + 1, app, &old, pid);
			} else if (type == CL_FRAME_BUNDLE) {
				if (cl_init_await_chunk(pl, len, why) != 0) {
					log_line("provisioning", "", why);
					finish(127 << 8); /* the key is gone with the helper */
				}
			} else if (type == CL_FRAME_FILES_REQ) {
				send_files();
			} else if (type == CL_FRAME_BUNDLE_END)
				pid = bundle_end(pl, len, app, &old, pid, &stdin_eof);
			else if (type == CL_FRAME_EOF)
				stdin_eof = 1;
			else if (app[0] >= 0 && !stdin_eof)
				q_push(&in, pl, len);
		}
		if (p[0].revents & POLLOUT) {
			ssize_t w = write(CHAN, tx.data + tx.head, tx.len);
			if (w > 0)
				q_pop(&tx, (size_t)w);
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				_exit(1);
		}
		/* the application's stdin */
		if (app[0] >= 0 && in.len && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(app[0], in.data + in.head, in.len);
			if (w > 0) {
				q_pop(&in, (size_t)w);
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				close(app[0]); /* the app closed its stdin: drop what is queued */
				app[0] = -1;
				q_pop(&in, in.len);
			}
		}
		if (app[0] >= 0 && stdin_eof && !in.len) {
			close(app[0]);
			app[0] = -1;
		}
		/* the application's stdout (DATA) and stderr (LOG) */
		int drained = 1;
		for (int i = 1; i <= 2; i++) {
			if (app[i] < 0)
				continue;
			if (!room) {
				drained = 0;
				continue;
			}
			if (!(p[i + 2].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			uint8_t buf[CHUNK];
			ssize_t r = read(app[i], buf, sizeof(buf));
			if (r > 0) {
				send_frame(i == 1 ? CL_FRAME_DATA : CL_FRAME_LOG, buf, (uint32_t)r);
				room = q_space(&tx) >= CL_FRAME_HDR + CHUNK;
				drained = 0;
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(app[i]);
				app[i] = -1;
			}
		}
		/* children: reap everything; the application's status is the enclave's */
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
		}
		int st;
		pid_t w;
		char lost[CL_INIT_REASON_MAX];
		while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
			if (w == pid) {
				app_exited = 1;
				app_status = st;
			} else if (cl_init_await_lost(w, lost)) {
				log_line("provisioning", "", lost);
				finish(127 << 8); /* the key died with the helper: end the enclave */
			}
		}
		/* Once the app is gone, whatever it wrote is already in the pipes:
		 * send it, then EXIT (descendants holding the pipes do not delay it). */
		if (exited_before && drained)
			finish(app_status);
	}
}
