/* dataplane.c — the TLS data plane process: start, walls, the loop (see
 * dataplane.h). One thread, one libevent loop: the agent's channel, the key
 * holder's channel, every listener and connection, a one-second tick
 * (signature deadlines, ticket key rotation). */
#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "keyholder/keyholder.h"
#include "tls/dataplane_internal.h"

static void set_defaults(cl_dp_opts *o)
{
	if (!o->max_conns)
		o->max_conns = 65536;
	if (!o->max_conns_guest)
		o->max_conns_guest = 4096;
	if (!o->handshake_ms)
		o->handshake_ms = 10000;
	if (!o->idle_ms)
		o->idle_ms = 300000;
	if (!o->sign_timeout_ms)
		o->sign_timeout_ms = 2000;
	if (!o->ticket_rotate_s)
		o->ticket_rotate_s = 12 * 3600;
}

/* Every connection holds two descriptors: raise the soft limit to the hard
 * one and keep the host cap within it, so accept never meets EMFILE (a
 * listener that stays readable would spin the loop). */
static void fit_descriptors(cl_dp_opts *o)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t fit = rl.rlim_cur > 64 ? (rl.rlim_cur - 64) / 2 : 1;
	if (o->max_conns > fit) {
		cl_info("tls: %u connections would need more descriptors than RLIMIT_NOFILE (%llu): at most %llu",
			o->max_conns, (unsigned long long)rl.rlim_cur, (unsigned long long)fit);
		o->max_conns = (unsigned)fit;
	}
}

static void on_agent(evutil_socket_t fd, short what, void *arg)
{
	dp *d = arg;
	cl_err err = cl_ipc_server_serve_one(&d->agent);
	if (err == CL_EUNAVAIL) {
		cl_info("tls: the agent closed its channel: data plane exits");
		event_base_loopbreak(d->base);
	} else if (err != CL_OK) {
		cl_error("tls: agent channel: %s: %s", cl_err_name(err), cl_error_detail());
		d->exit_status = 1;
		event_base_loopbreak(d->base);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	dp *d = arg;
	dp_kh_expire(d);
	dp_guests_tick(d);
}

/* Loads what OpenSSL would otherwise read from files later (its config,
 * providers, the algorithms a handshake fetches): there is no file system
 * once the walls are up. */
static cl_err warm_openssl(void)
{
	SSL_CTX *ctx;
	CL_ENSURE(OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) == 1, CL_EINTERNAL, "OpenSSL init failed");
	ctx = SSL_CTX_new(TLS_server_method());
	CL_ENSURE(ctx != NULL, CL_EINTERNAL, "OpenSSL: SSL_CTX_new failed");
	SSL *s = SSL_new(ctx);
	SSL_free(s);
	SSL_CTX_free(ctx);
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_CIPHER_free(c);
	EVP_MAC_free(m);
	ERR_clear_error();
	return CL_OK;
}

static cl_err setup(dp *d, int agent_fd, int kh_fd, const cl_dp_opts *opts, cl_harden_report *rep)
{
	const int keep[] = {agent_fd, kh_fd};
	CL_ENSURE(agent_fd > 2 && kh_fd > 2 && agent_fd != kh_fd, CL_EINVAL, "channels on stdio");
	CL_GUARD(cl_close_fds_except(keep, 2));
	d->agent_fd = agent_fd;
	d->kh_fd = kh_fd;
	CL_GUARD(warm_openssl());
	fit_descriptors(&d->o);
	d->async = ASYNC_is_capable() == 1;
	CL_ENSURE((d->pend = calloc(DP_MAX_PENDING, sizeof(*d->pend))) != NULL, CL_ENOMEM, "out of memory");
	cl_log_route_libevent();
	CL_ENSURE((d->base = event_base_new()) != NULL, CL_ESYS, "event_base_new failed");
	cl_ipc_server_init(&d->agent, agent_fd, "tls/agent", dp_handlers, dp_nhandlers, CL_DP_MSG_MAX, d);
	cl_ipc_client_init(&d->kh, kh_fd, CL_KH_MSG_MAX - CL_IPC_HDR, (int)d->o.sign_timeout_ms);
	d->agent_ev = event_new(d->base, agent_fd, EV_READ | EV_PERSIST, on_agent, d);
	d->kh_ev = event_new(d->base, kh_fd, EV_READ | EV_PERSIST, dp_kh_readable, d);
	d->tick_ev = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	CL_ENSURE(d->agent_ev && d->kh_ev && d->tick_ev, CL_ENOMEM, "out of memory");
	struct timeval sec = {.tv_sec = 1};
	CL_ENSURE(event_add(d->agent_ev, NULL) == 0 && event_add(d->kh_ev, NULL) == 0 &&
			  event_add(d->tick_ev, &sec) == 0,
		  CL_ESYS, "event_add failed");
	tzset(); /* glibc reads /etc/localtime at the first log line's time */
	if (opts->no_harden)
		return CL_OK;
	/* No path: Landlock leaves no file system; TCP bind refused, connect
	 * (to guests' backends) open — seccomp allows TCP sockets only. */
	cl_harden_policy pol = {.syscalls = cl_role_tls, .on_violation = opts->on_violation, .tcp_connect_any = true};
	if (opts->switch_user)
		CL_GUARD(cl_harden_drop_privileges(opts->uid, opts->gid, 0, NULL));
	else
		CL_GUARD(cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, 0, NULL));
	return cl_harden_process(&pol, rep);
}

int cl_dataplane_main(int agent_fd, int kh_fd, const cl_dp_opts *opts)
{
	static const cl_dp_opts none;
	cl_harden_report rep = {0};
	dp d;
	cl_err err;
	if (!opts)
		opts = &none;
	memset(&d, 0, sizeof(d));
	d.o = *opts;
	set_defaults(&d.o);
	/* Before a byte from the world is read: no core, no ptrace by same-uid
	 * peers; a write to a closed socket is an error, not a signal. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		cl_error("tls: data plane cannot start (dumpable)");
		return 1;
	}
	CL_GUARD_OUT(err, setup(&d, agent_fd, kh_fd, opts, &rep));
	cl_info("tls: data plane serving as uid %u, async signing %s, landlock ABI %d, seccomp %s",
		(unsigned)geteuid(), d.async ? "on" : "off", rep.landlock_abi, rep.seccomp_applied ? "on" : "off");
	if (event_base_dispatch(d.base) < 0)
		err = cl_errorf(CL_ESYS, "event loop failed");
out:
	if (err != CL_OK) {
		cl_error("tls: data plane: %s: %s", cl_err_name(err), cl_error_detail());
		d.exit_status = 1;
	}
	while (d.guests)
		dp_guest_drop(&d, d.guests);
	struct event *evs[] = {d.agent_ev, d.kh_ev, d.tick_ev};
	for (size_t i = 0; i < 3; i++)
		if (evs[i])
			event_free(evs[i]);
	if (d.base)
		event_base_free(d.base);
	free(d.pend);
	return d.exit_status;
}
