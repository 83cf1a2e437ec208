/* cloister-control — the control plane (docs/control.md, docs/monitor.md).
 *
 *   cloister-control --data DIR --listen ADDR:PORT [--poll-timeout-ms N]
 *                    [--max-connections N] [--max-connections-per-ip N]
 *                    [--header-timeout-s N] [--body-timeout-s N] [--idle-timeout-s N]
 *                    [--metrics-open] [--server-name NAME]...
 *
 * Parses and checks the command line (usage errors exit 2 before anything
 * is touched), then runs the supervisor (supervisor.h): data dir layout,
 * listening socket, the monitor (CA, keys) and the worker (store, first admin
 * token printed once, HTTPS), which prints "listening: https://ADDR:PORT"
 * and "ca: PATH"; serves until SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
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
#include "control/supervisor.h"
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
		   "  --server-name NAME          a DNS name or IP address of the server certificate;\n"
		   "                              repeatable (default 127.0.0.1, ::1, localhost)\n"
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
					     {"server-name", required_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	static ctl_options o; /* static: large */
	const char *data = NULL, *listen = NULL;
	bool named = false;
	cl_stdio_ensure(); /* before any descriptor is opened */
	o.poll_ms = 20000;
	o.lim = (ctl_conn_limits){.max_conns = 0, /* 0: fit to the descriptor limit */
				  .max_per_addr = 128,
				  .header_timeout_s = 10,
				  .body_timeout_s = 60,
				  .idle_timeout_s = 60,
				  .max_header_bytes = 16 * 1024,
				  .max_body_bytes = CTL_BODY_MAX};
	ctl_names_default(&o.names);
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
			o.poll_ms = strtol(optarg, &end, 10);
			if (!*optarg || *end || errno || o.poll_ms < 100 || o.poll_ms > 600000) {
				fprintf(stderr, "error: --poll-timeout-ms must be 100..600000\n");
				return 2;
			}
			break;
		case 'm':
			if (!parse_uint(optarg, 16, 1u << 20, &o.lim.max_conns)) {
				fprintf(stderr, "error: --max-connections must be 16..1048576\n");
				return 2;
			}
			break;
		case 'a':
			if (!parse_uint(optarg, 1, 1u << 20, &o.lim.max_per_addr)) {
				fprintf(stderr, "error: --max-connections-per-ip must be 1..1048576\n");
				return 2;
			}
			break;
		case 'H':
		case 'B':
		case 'I': {
			unsigned *v = &o.lim.idle_timeout_s;
			if (c == 'H')
				v = &o.lim.header_timeout_s;
			else if (c == 'B')
				v = &o.lim.body_timeout_s;
			if (!parse_uint(optarg, 1, 3600, v)) {
				fprintf(stderr, "error: --%s must be 1..3600\n",
					c == 'H' ? "header-timeout-s" : c == 'B' ? "body-timeout-s" : "idle-timeout-s");
				return 2;
			}
			break;
		}
		case 'n':
			if (!named) /* the first one replaces the default list */
				memset(&o.names, 0, sizeof(o.names));
			named = true;
			if (ctl_names_add(&o.names, optarg) != CL_OK) {
				fprintf(stderr, "error: %s: %s\n", cl_error_detail(), optarg);
				return 2;
			}
			break;
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
	o.metrics_open = metrics_open != 0;
	cl_log_init("cloister-control", CL_LOG_INFO);
	cl_log_route_libevent();
	signal(SIGPIPE, SIG_IGN);
	if (parse_listen(listen, o.addr, sizeof(o.addr), &o.port) != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		return 2;
	}
	/* A hidden knob for tests: how often the worker asks the monitor for
	 * the certificates (and so how soon a due re-issue is served). */
	const char *every = getenv("CLOISTER_CERT_CHECK_S");
	if (every && !parse_uint(every, 1, 86400, &o.cert_check_s)) {
		fprintf(stderr, "error: CLOISTER_CERT_CHECK_S must be 1..86400\n");
		return 2;
	}
	/* Another, for the re-issue test (tests/integration/control_certs.sh):
	 * the server certificate's renewal window in days. Wider than its life
	 * (825), every check finds it due and re-issues it. */
	const char *window = getenv("CLOISTER_CERT_RENEW_DAYS");
	if (window && !parse_uint(window, 1, 3650, &o.cert_renew_days)) {
		fprintf(stderr, "error: CLOISTER_CERT_RENEW_DAYS must be 1..3650\n");
		return 2;
	}
	/* Descriptors first: the connection cap is sized to what the limit allows. */
	bool clamped = false;
	if (ctl_conn_fit_limits(&o.lim, &o.fd_soft, &o.fd_hard, &clamped) != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		return 1;
	}
	if (clamped)
		cl_warn("--max-connections lowered to fit the descriptor limit max_connections=%u fd_limit=%lu",
			o.lim.max_conns, o.fd_soft);
	struct stat dst;
	if (!realpath(data, o.data)) {
		if (cl_mkdir_p(data, 0700) != CL_OK || !realpath(data, o.data) || chmod(o.data, 0700) != 0) {
			fprintf(stderr, "error: cannot create data directory %s\n", data);
			return 1;
		}
	} else if (stat(o.data, &dst) != 0 || !S_ISDIR(dst.st_mode)) {
		fprintf(stderr, "error: %s is not a directory\n", data);
		return 1;
	} else if (dst.st_mode & (geteuid() == 0 ? 067 : 077)) {
		/* As root, DATA is root:worker 0710 (supervisor.h): the group's x bit is ours. */
		cl_warn("data directory is accessible to other users path=%s mode=%03o", o.data,
			(unsigned)(dst.st_mode & 0777));
	}
	return ctl_supervisor_main(&o);
}
