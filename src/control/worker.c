/* worker.c — cloister-control's network-facing process (supervisor.h): the
 * evhttp server, TLS records, JSON, images, the store. It holds no private
 * key and no pepper: the TLS handshake's signature and every secret hash
 * come from the monitor over mon_fd.
 *
 * Startup order: undumpable, keep only its descriptors, drop to the worker's
 * uid (as root), open everything it needs (TLS context from the monitor,
 * store, upload and image dirs, event loop, listener), then the walls
 * (Landlock: DATA/db, images, uploads, fw_ops; seccomp allow-list for this
 * role), and only then serve. */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <limits.h>
#include <linux/capability.h>
#include <openssl/crypto.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"
#include "control/conn.h"
#include "control/control.h"
#include "control/monitor.h"
#include "control/state_blob.h"
#include "control/store_state.h"
#include "control/store_tls.h"
#include "control/supervisor.h"
#include "control/tls.h"
#include "control/upload.h"

#define SC(name) {name, CL_SC_ANY}
#define SC_END {NULL, CL_SC_ANY}

/* What the worker calls beyond the base, ipc and file sets: libevent's
 * epoll loop and its internal notification, accepting and serving TCP
 * connections on the socket it was given, SQLite's locking and syncing.
 * Never: socket, bind, connect, execve, fork/clone, ptrace, setuid. ioctl is
 * narrowed to FIONREAD (libevent's read sizing) by a second filter
 * (narrow_ioctl): no TIOCSTI into a terminal, no device ioctls. */
static const cl_syscall worker_sc[] = {
	SC("epoll_create1"), SC("epoll_ctl"), SC("epoll_wait"), SC("epoll_pwait"), SC("epoll_pwait2"),
	SC("eventfd2"), SC("pipe2"), SC("accept4"), SC("accept"), SC("getsockname"), SC("getpeername"),
	SC("setsockopt"), SC("getsockopt"), SC("ioctl"), SC("ftruncate"), SC("fallocate"), SC("mkdir"),
	SC("mkdirat"), SC("statfs"), SC("fstatfs"), SC("fchown"), SC("getcwd"), SC("readlink"),
	SC("readlinkat"), SC("access"), SC("faccessat"), SC("faccessat2"), SC("stat"), SC("lstat"),
	SC("rmdir"), SC("sendfile"), SC("dup"), SC("dup3"), SC("getrlimit"), SC("prlimit64"), SC("sysinfo"),
	SC("uname"), SC("utimensat"), SC("rt_sigtimedwait"), SC("sched_getaffinity"),
	/* a create's fdatasync of the WAL off the event loop (store_durable.c) */
	SC("io_setup"), SC("io_destroy"), SC("io_submit"), SC("io_getevents"),
	SC_END,
};
static const cl_syscall *const worker_role[] = {cl_sc_base, cl_sc_ipc, cl_sc_keyfiles, worker_sc, cl_sc_sanitizer,
						 NULL};

static ctl_server srv; /* static: large, and lives for the whole process */
static ctl_mon_client mon;
static uint8_t chain_digest[32];
static int exit_status;
static unsigned cert_check_s;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	cl_info("worker: shutting down signal=%d", (int)sig);
	event_base_loopexit(srv.base, NULL);
}

/* The monitor is gone or broken: stop serving now (fail closed). */
static void monitor_lost(void *arg)
{
	if (exit_status == 0)
		cl_error("worker: the monitor channel is closed or out of step: stopping (fail closed)");
	exit_status = CTL_EXIT_MONITOR_LOST;
	event_base_loopbreak(srv.base);
}

/* Between calls nothing may arrive on the channel: readable means the
 * monitor closed its end (or broke the protocol). */
static void on_monitor_readable(evutil_socket_t fd, short what, void *arg)
{
	mon.broken = true;
	monitor_lost(NULL);
}

/* Hourly: GET_CERTS (the monitor re-issues a certificate that is due) and,
 * if the chain changed, a new TLS context for new connections. Open ones
 * keep theirs (each SSL holds a reference to its context). */
static void on_cert_check(evutil_socket_t fd, short what, void *arg)
{
	uint8_t digest[32];
	SSL_CTX *ctx = NULL;
	char *root = NULL, *hosts = NULL;
	if (ctl_mon_tls_ctx(&mon, &ctx, digest, &root, &hosts) != CL_OK) {
		cl_error("worker: certificate check failed: %s", cl_error_detail());
		return;
	}
	/* the CA certificates GET /v1/ca serves (a re-issued hosts CA at once) */
	free(srv.root_pem);
	free(srv.hosts_pem);
	srv.root_pem = root;
	srv.hosts_pem = hosts;
	if (memcmp(digest, chain_digest, sizeof(digest)) == 0) {
		SSL_CTX_free(ctx);
		return;
	}
	SSL_CTX_free(srv.ssl);
	srv.ssl = ctx;
	memcpy(chain_digest, digest, sizeof(digest));
	cl_info("worker: server certificate reloaded: new connections get the new one");
}

/* Drops to ids (as root: the worker's uid, no capability) and asks again to
 * die with the supervisor (a uid change clears the parent-death signal). */
static cl_err drop(const ctl_ids *ids)
{
	pid_t parent = getppid();
	uint64_t keep = ids->keep_dac_search ? CL_CAP(CAP_DAC_READ_SEARCH) : 0;
	if (ids->root)
		CL_GUARD(cl_harden_drop_privileges(ids->uid, ids->gid, keep, NULL));
	else
		CL_GUARD(cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, 0, NULL));
	CL_ENSURE(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == 0 && getppid() == parent, CL_ESYS,
		  "worker: the supervisor is gone");
	return CL_OK;
}

/* A second seccomp filter, stacked under the allow-list (the kernel runs
 * both; the stricter answer wins): ioctl with any request but FIONREAD kills
 * the process. */
static cl_err narrow_ioctl(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	cl_err err = CL_OK;
	CL_ENSURE(ctx != NULL, CL_ENOMEM, "seccomp: init failed");
	if (seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_NE, FIONREAD)) != 0 ||
	    seccomp_load(ctx) != 0)
		err = cl_errorf(CL_ESYS, "seccomp: cannot narrow ioctl");
	seccomp_release(ctx);
	return err;
}

static cl_err walls(const ctl_options *o, bool keep_dac, cl_harden_report *rep)
{
	char db[PATH_MAX + 8], images[PATH_MAX + 8], uploads[PATH_MAX + 8], fw_ops[PATH_MAX + 8], state[PATH_MAX + 8];
	snprintf(db, sizeof(db), "%s/db", o->data);
	snprintf(state, sizeof(state), "%s/state", o->data);
	snprintf(images, sizeof(images), "%s/images", o->data);
	snprintf(uploads, sizeof(uploads), "%s/uploads", o->data);
	snprintf(fw_ops, sizeof(fw_ops), "%s/fw_ops", o->data);
	/* An upload becomes an image by a link across the two directories
	 * (REFER on both); nothing of DATA itself, nothing of DATA/keys. */
	const unsigned rw = CL_LL_READ | CL_LL_WRITE | CL_LL_MKDIR | CL_LL_REFER;
	const cl_landlock_path paths[] = {{db, rw}, {images, rw}, {uploads, rw}, {fw_ops, rw}, {state, rw}};
	cl_harden_policy pol = {.paths = paths, .npaths = sizeof(paths) / sizeof(paths[0]), .syscalls = worker_role};
	/* stdout's buffer now, so that stdio never asks whether it is a
	 * terminal (an ioctl) once the filter is on */
	CL_ENSURE(setvbuf(stdout, NULL, _IOLBF, 0) == 0, CL_ESYS, "worker: setvbuf");
	/* first: loading a filter is not in the allow-list (libseccomp sets
	 * no_new_privs for it) */
	CL_GUARD(narrow_ioctl());
	CL_GUARD(cl_harden_process(&pol, rep));
	/* The capability that reaches DATA through closed parents is only kept
	 * where Landlock now confines it (ctl_datadir_reach checked the ABI). */
	CL_ENSURE(!keep_dac || rep->landlock_applied, CL_EPERM, "worker: Landlock not applied: cannot keep "
		  "CAP_DAC_READ_SEARCH");
	return CL_OK;
}

int ctl_worker_main(const ctl_options *o, const ctl_ids *ids, int listen_fd, int port, int mon_fd, bool first)
{
	char images[PATH_MAX + 16], dbpath[PATH_MAX + 16], token[160];
	struct event *sigterm = NULL, *sigint = NULL, *monev = NULL, *certev = NULL;
	cl_harden_report rep = {0};
	int keep[] = {listen_fd, mon_fd};
	bool listening = false;
	cl_err err;
	token[0] = '\0';
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_SET_NAME, "cl-worker", 0, 0, 0) != 0) {
		cl_error("worker: cannot start (dumpable)");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	CL_GUARD_OUT(err, cl_close_fds_except(keep, 2));
	CL_GUARD_OUT(err, drop(ids));
	snprintf(srv.data_dir, sizeof(srv.data_dir), "%s", o->data);
	srv.poll_timeout_ms = (uint32_t)o->poll_ms;
	srv.metrics_open = o->metrics_open;
	cert_check_s = o->cert_check_s ? o->cert_check_s : CTL_CERT_CHECK_S;
	snprintf(images, sizeof(images), "%s/images", o->data);
	snprintf(dbpath, sizeof(dbpath), "%s/db/control.db", o->data);
	ctl_mon_client_init(&mon, mon_fd);
	mon.on_broken = monitor_lost;
	srv.mon = &mon;
	CL_GUARD_OUT(err, ctl_mon_tls_ctx(&mon, &srv.ssl, chain_digest, &srv.root_pem, &srv.hosts_pem));
	CL_GUARD_OUT(err, cl_mkdir_p(images, 0700));
	CL_GUARD_OUT(err, ctl_store_open(dbpath, &srv.store));
	CL_GUARD_OUT(err, ctl_upload_init(&srv));
	/* a provision's op and its data lived in the previous worker's memory */
	CL_GUARD_OUT(err, ctl_jobs_fail_interrupted(&srv, "provision"));
	/* a suspend in flight died with the previous worker: its pending key
	 * and its half-written blob go (docs/suspend.md) */
	CL_GUARD_OUT(err, ctl_store_state_abort_all(srv.store, NULL));
	/* so did a suspend's or a restore's op: their jobs fail, a restoring
	 * enclave is suspended again (blob and key untouched) */
	CL_GUARD_OUT(err, ctl_jobs_fail_interrupted(&srv, "suspend"));
	CL_GUARD_OUT(err, ctl_jobs_fail_interrupted(&srv, "restore"));
	/* and a TLS job's op: its job fails, an enabling credential too (api_tls_job.c) */
	CL_GUARD_OUT(err, ctl_jobs_fail_interrupted(&srv, "tls_enable"));
	CL_GUARD_OUT(err, ctl_jobs_fail_interrupted(&srv, "tls_rotate"));
	CL_GUARD_OUT(err, ctl_jobs_fail_interrupted(&srv, "tls_disable"));
	CL_GUARD_OUT(err, ctl_store_tls_interrupted(srv.store, (int64_t)cl_now_wall_ms()));
	CL_GUARD_OUT(err, ctl_store_state_unrestore_all(srv.store, NULL));
	CL_GUARD_OUT(err, ctl_state_blob_reap(srv.data_dir, NULL));
	/* a destroyed enclave's blob, or one a kill kept from its unlink, no longer opens: it goes */
	CL_GUARD_OUT(err, ctl_state_blob_reap_orphans(srv.data_dir, srv.store, NULL));
	srv.base = event_base_new();
	srv.http = srv.base ? evhttp_new(srv.base) : NULL;
	if (!srv.http) {
		err = cl_errorf(CL_ENOMEM, "cannot create event loop");
		goto out;
	}
	CL_GUARD_OUT(err, ctl_conns_new(&srv, &o->lim, &srv.conns));
	evhttp_set_max_headers_size(srv.http, (ev_ssize_t)o->lim.max_header_bytes);
	/* libevent reads a whole body before any handler runs and has no
	 * per-request hook, so this cap applies to unauthenticated callers too:
	 * keep it small. Anything larger travels as an upload in parts. The
	 * small slack above CTL_BODY_MAX lets a body just over a handler's limit
	 * get that handler's JSON error instead of libevent's bare 413. */
	evhttp_set_max_body_size(srv.http, (ev_ssize_t)CTL_BODY_TRANSPORT_MAX);
	/* Inactivity backstop under conn.c's own timeouts: evhttp applies it
	 * while it reads or writes, never to a request being served. */
	evhttp_set_timeout(srv.http, (int)(o->poll_ms / 1000) * 2 + 60);
	/* Every method evhttp knows reaches the dispatcher, whose route table
	 * answers 405 (with Allow) or 404. A method evhttp does not know
	 * ("BREW") no path implements: evhttp's own 501, which conn_http.c
	 * turns into the JSON error not_implemented. */
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
						     EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						     EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	ctl_http_install(&srv);
	CL_GUARD_OUT(err, ctl_conns_listen_fd(srv.conns, listen_fd));
	listening = true;
	/* Only once we are sure to serve: a first admin token created by a start
	 * that then fails would never be shown. */
	CL_GUARD_OUT(err, ctl_bootstrap(&srv, token, sizeof(token)));
	CL_GUARD_OUT(err, ctl_sync_start(&srv));
	struct timeval every = {.tv_sec = cert_check_s};
	sigterm = evsignal_new(srv.base, SIGTERM, on_signal, NULL);
	sigint = evsignal_new(srv.base, SIGINT, on_signal, NULL);
	monev = event_new(srv.base, mon_fd, EV_READ | EV_PERSIST, on_monitor_readable, NULL);
	certev = event_new(srv.base, -1, EV_PERSIST, on_cert_check, NULL);
	if (!sigterm || !sigint || !monev || !certev || evsignal_add(sigterm, NULL) != 0 ||
	    evsignal_add(sigint, NULL) != 0 || event_add(monev, NULL) != 0 || event_add(certev, &every) != 0) {
		err = cl_errorf(CL_ESYS, "cannot install the worker's events");
		goto out;
	}
	CL_GUARD_OUT(err, walls(o, ids->keep_dac_search, &rep));
	if (first) {
		if (token[0])
			printf("admin-token: %s\n", token);
		if (strchr(o->addr, ':'))
			printf("listening: https://[%s]:%d\n", o->addr, port);
		else
			printf("listening: https://%s:%d\n", o->addr, port);
		printf("ca: %s/ca.pem\n", o->data);
		fflush(stdout);
	} else if (token[0]) {
		printf("admin-token: %s\n", token);
		fflush(stdout);
	}
	OPENSSL_cleanse(token, sizeof(token));
	cl_info("listening addr=%s port=%d data=%s poll_timeout_ms=%ld", o->addr, port, o->data, o->poll_ms);
	cl_info("limits fd_soft=%lu fd_hard=%lu max_connections=%u max_connections_per_ip=%u header_timeout_s=%u "
		"body_timeout_s=%u idle_timeout_s=%u",
		o->fd_soft, o->fd_hard, o->lim.max_conns, o->lim.max_per_addr, o->lim.header_timeout_s,
		o->lim.body_timeout_s, o->lim.idle_timeout_s);
	cl_info("worker: serving uid=%u landlock ABI %d seccomp %s", (unsigned)getuid(), rep.landlock_abi,
		rep.seccomp_applied ? "on" : "off");
	event_base_dispatch(srv.base);
	err = CL_OK;
out:
	if (err != CL_OK) {
		fprintf(stderr, "error: %s (%s)\n", cl_error_detail(), cl_err_name(err));
		exit_status = 1;
	}
	OPENSSL_cleanse(token, sizeof(token));
	ctl_ops_shutdown(&srv);
	ctl_sync_shutdown(&srv);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (monev)
		event_free(monev);
	if (certev)
		event_free(certev);
	ctl_conns_shutdown(srv.conns);
	if (srv.http)
		evhttp_free(srv.http);
	if (srv.base)
		event_base_free(srv.base);
	ctl_conns_free(srv.conns);
	SSL_CTX_free(srv.ssl);
	free(srv.root_pem);
	free(srv.hosts_pem);
	ctl_store_close(srv.store);
	if (!listening)
		close(listen_fd);
	return exit_status;
}
