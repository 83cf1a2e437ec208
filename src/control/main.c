/* cloister-control — the control plane (docs/control.md).
 *
 *   cloister-control --data DIR --listen ADDR:PORT [--poll-timeout-ms N]
 *                    [--max-connections N] [--max-connections-per-ip N]
 *                    [--header-timeout-s N] [--body-timeout-s N] [--idle-timeout-s N]
 *                    [--metrics-open]
 *
 * Startup: data dir (0700), CA and server certificate, store (migrations),
 * first admin token (printed once), HTTPS listener; then prints
 * "listening: https://ADDR:PORT" and "ca: PATH" and serves until SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"
#include "common/version.h"
#include "control/ca.h"
#include "control/conn.h"
#include "control/control.h"
#include "control/tls.h"
#include "control/upload.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: cloister-control --data DIR --listen ADDR:PORT [options]\n"
		   "  --data DIR                  state directory (created 0700 on first start)\n"
		   "  --listen ADDR:PORT          HTTPS listen address; PORT 0 picks a free port\n"
		   "  --poll-timeout-ms N         host sync long-poll timeout (default 20000, 100..600000)\n"
		   "  --max-connections N         concurrent connections (default 4096, lowered to fit\n"
		   "                              the descriptor limit; 16..1048576)\n"
		   "  --max-connections-per-ip N  connections from one IPv4 address or IPv6 /64\n"
		   "                              (default 128, at most --max-connections)\n"
		   "  --header-timeout-s N        connect to end of request headers (default 10, 1..3600)\n"
		   "  --body-timeout-s N          end of headers to end of body (default 60, 1..3600)\n"
		   "  --idle-timeout-s N          keep-alive wait between requests (default 60, 1..3600)\n"
		   "  --metrics-open              serve GET /metrics without a token (default: admin or\n"
		   "                              metrics token)\n"
		   "  --version                   version, revision and library versions\n");
}

/* Parses a decimal option value in [min, max]. */
static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *s == '-' || *end || errno || v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	cl_info("shutting down signal=%d", (int)sig);
	event_base_loopexit(arg, NULL);
}

/* Splits "ADDR:PORT" / "[V6]:PORT" into addr (no brackets) and port. */
static cl_err parse_listen(const char *s, char *addr, size_t n, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	CL_ENSURE(colon && colon != s, CL_EINVAL, "--listen must be ADDR:PORT");
	const char *a = s, *ae = colon;
	if (*a == '[') {
		CL_ENSURE(ae[-1] == ']', CL_EINVAL, "--listen: bad IPv6 address");
		a++;
		ae--;
	}
	CL_ENSURE((size_t)(ae - a) < n, CL_EINVAL, "--listen: address too long");
	memcpy(addr, a, (size_t)(ae - a));
	addr[ae - a] = '\0';
	char *end = NULL;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	CL_ENSURE(colon[1] && !*end && errno == 0 && p >= 0 && p <= 65535, CL_EINVAL, "--listen: bad port");
	*port = (uint16_t)p;
	return CL_OK;
}

int main(int argc, char **argv)
{
	static int metrics_open; /* set by getopt_long (--metrics-open) */
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"listen", required_argument, NULL, 'l'},
					     {"poll-timeout-ms", required_argument, NULL, 'p'},
					     {"metrics-open", no_argument, &metrics_open, 1},
					     {"max-connections", required_argument, NULL, 'm'},
					     {"max-connections-per-ip", required_argument, NULL, 'a'},
					     {"header-timeout-s", required_argument, NULL, 'H'},
					     {"body-timeout-s", required_argument, NULL, 'B'},
					     {"idle-timeout-s", required_argument, NULL, 'I'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	const char *data = NULL, *listen = NULL;
	long poll_ms = 20000;
	ctl_conn_limits lim = {.max_conns = 0, /* 0: fit to the descriptor limit */
			       .max_per_addr = 128,
			       .header_timeout_s = 10,
			       .body_timeout_s = 60,
			       .idle_timeout_s = 60,
			       .max_header_bytes = 16 * 1024,
			       .max_body_bytes = CTL_BODY_MAX};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 0: /* a flag option: getopt_long stored it */
			break;
		case 'd':
			data = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'p':
			errno = 0;
			poll_ms = strtol(optarg, &end, 10);
			if (!*optarg || *end || errno || poll_ms < 100 || poll_ms > 600000) {
				fprintf(stderr, "error: --poll-timeout-ms must be 100..600000\n");
				return 2;
			}
			break;
		case 'm':
			if (!parse_uint(optarg, 16, 1u << 20, &lim.max_conns)) {
				fprintf(stderr, "error: --max-connections must be 16..1048576\n");
				return 2;
			}
			break;
		case 'a':
			if (!parse_uint(optarg, 1, 1u << 20, &lim.max_per_addr)) {
				fprintf(stderr, "error: --max-connections-per-ip must be 1..1048576\n");
				return 2;
			}
			break;
		case 'H':
		case 'B':
		case 'I': {
			unsigned *v = &lim.idle_timeout_s;
			if (c == 'H')
				v = &lim.header_timeout_s;
			else if (c == 'B')
				v = &lim.body_timeout_s;
			if (!parse_uint(optarg, 1, 3600, v)) {
				fprintf(stderr, "error: --%s must be 1..3600\n",
					c == 'H' ? "header-timeout-s" : c == 'B' ? "body-timeout-s" : "idle-timeout-s");
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			cl_version_print(stdout, "cloister-control");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!data || !listen || optind != argc) {
		usage(stderr);
		return 2;
	}
	cl_log_init("cloister-control", CL_LOG_INFO);
	cl_log_route_libevent();
	signal(SIGPIPE, SIG_IGN);
	/* Descriptors first: the connection cap is sized to what the limit allows. */
	unsigned long fd_soft = 0, fd_hard = 0;
	bool clamped = false;
	if (ctl_conn_fit_limits(&lim, &fd_soft, &fd_hard, &clamped) != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		return 1;
	}
	if (clamped)
		cl_warn("--max-connections lowered to fit the descriptor limit max_connections=%u fd_limit=%lu",
			lim.max_conns, fd_soft);

	static ctl_server srv; /* static: large, and lives for the whole process */
	char addr[128], images[PATH_MAX + 16], token[160], dbpath[PATH_MAX + 16];
	uint16_t port = 0;
	int rc = 1;
	struct event *sigterm = NULL, *sigint = NULL;
	cl_err err;
	token[0] = '\0';
	if (parse_listen(listen, addr, sizeof(addr), &port) != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		return 2;
	}
	struct stat dst;
	if (!realpath(data, srv.data_dir)) {
		if (cl_mkdir_p(data, 0700) != CL_OK || !realpath(data, srv.data_dir) || chmod(srv.data_dir, 0700) != 0) {
			fprintf(stderr, "error: cannot create data directory %s\n", data);
			return 1;
		}
	} else if (stat(srv.data_dir, &dst) != 0 || !S_ISDIR(dst.st_mode)) {
		fprintf(stderr, "error: %s is not a directory\n", data);
		return 1;
	} else if (dst.st_mode & 077) {
		cl_warn("data directory is accessible to other users path=%s mode=%03o", srv.data_dir,
			(unsigned)(dst.st_mode & 0777));
	}
	srv.poll_timeout_ms = (uint32_t)poll_ms;
	srv.metrics_open = metrics_open != 0;
	snprintf(images, sizeof(images), "%s/images", srv.data_dir);
	snprintf(dbpath, sizeof(dbpath), "%s/control.db", srv.data_dir);
	CL_GUARD_OUT(err, cl_mkdir_p(images, 0700));
	CL_GUARD_OUT(err, ctl_ca_ensure(srv.data_dir));
	CL_GUARD_OUT(err, ctl_store_open(dbpath, &srv.store));
	CL_GUARD_OUT(err, ctl_upload_init(&srv));
	CL_GUARD_OUT(err, ctl_tls_ctx_new(srv.data_dir, &srv.ssl));
	srv.base = event_base_new();
	srv.http = srv.base ? evhttp_new(srv.base) : NULL;
	if (!srv.http) {
		err = cl_errorf(CL_ENOMEM, "cannot create event loop");
		goto out;
	}
	CL_GUARD_OUT(err, ctl_conns_new(&srv, &lim, &srv.conns));
	evhttp_set_max_headers_size(srv.http, (ev_ssize_t)lim.max_header_bytes);
	/* libevent reads a whole body before any handler runs and has no
	 * per-request hook, so this cap applies to unauthenticated callers too:
	 * keep it small. Anything larger travels as an upload in parts. The
	 * small slack above CTL_BODY_MAX lets a body just over a handler's limit
	 * get that handler's JSON error instead of libevent's bare 413. */
	evhttp_set_max_body_size(srv.http, (ev_ssize_t)CTL_BODY_TRANSPORT_MAX);
	/* Inactivity backstop under conn.c's own timeouts: evhttp applies it
	 * while it reads or writes, never to a request being served. */
	evhttp_set_timeout(srv.http, (int)(poll_ms / 1000) * 2 + 60);
	/* Every method reaches the dispatcher, whose route table answers 405
	 * (with Allow) or 404 in JSON; libevent's own answer is an HTML 501. */
	evhttp_set_allowed_methods(srv.http, 0xffff);
	ctl_http_install(&srv);
	int p = -1;
	CL_GUARD_OUT(err, ctl_conns_listen(srv.conns, addr, port, &p));
	/* Only once we are sure to serve: a first admin token created by a start
	 * that then fails would never be shown. */
	CL_GUARD_OUT(err, ctl_bootstrap(&srv, token, sizeof(token)));
	CL_GUARD_OUT(err, ctl_sync_start(&srv));
	sigterm = evsignal_new(srv.base, SIGTERM, on_signal, srv.base);
	sigint = evsignal_new(srv.base, SIGINT, on_signal, srv.base);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) != 0 || evsignal_add(sigint, NULL) != 0) {
		err = cl_errorf(CL_ESYS, "cannot install signal handlers");
		goto out;
	}
	if (token[0])
		printf("admin-token: %s\n", token);
	OPENSSL_cleanse(token, sizeof(token));
	if (strchr(addr, ':'))
		printf("listening: https://[%s]:%d\n", addr, p);
	else
		printf("listening: https://%s:%d\n", addr, p);
	printf("ca: %s/ca.pem\n", srv.data_dir);
	fflush(stdout);
	cl_info("listening addr=%s port=%d data=%s poll_timeout_ms=%ld", addr, p, srv.data_dir, poll_ms);
	cl_info("limits fd_soft=%lu fd_hard=%lu max_connections=%u max_connections_per_ip=%u header_timeout_s=%u "
		"body_timeout_s=%u idle_timeout_s=%u",
		fd_soft, fd_hard, lim.max_conns, lim.max_per_addr, lim.header_timeout_s, lim.body_timeout_s,
		lim.idle_timeout_s);
	event_base_dispatch(srv.base);
	rc = 0;
	err = CL_OK;
out:
	if (err != CL_OK)
		fprintf(stderr, "error: %s (%s)\n", cl_error_detail(), cl_err_name(err));
	OPENSSL_cleanse(token, sizeof(token));
	ctl_ops_shutdown(&srv);
	ctl_sync_shutdown(&srv);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	ctl_conns_shutdown(srv.conns);
	if (srv.http)
		evhttp_free(srv.http);
	if (srv.base)
		event_base_free(srv.base);
	ctl_conns_free(srv.conns);
	SSL_CTX_free(srv.ssl);
	ctl_store_close(srv.store);
	return rc;
}
