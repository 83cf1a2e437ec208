/* cmd_dev.c — `cloister dev`: a complete local Cloister (one cloister-control
 * and one cloister-host on loopback) for development, demos and tests.
 *
 * DIR (default ./.cloister-dev) holds everything: control/ (the control
 * plane's data: database, CA), host/ (the host agent's data), client.json
 * ({server, ca, token}, 0600: the admin credentials, so the CLI and later
 * starts work), control.log and host.log (the children's output, secrets
 * hidden), dev.pid and dev.lock (held while running: one instance per DIR).
 *
 * This process supervises the two children: if one dies the other is stopped
 * too; SIGINT/SIGTERM (or `cloister dev stop`) stops both and then the
 * enclaves' sandboxes, so nothing is left running. With --detach it forks a
 * supervisor, prints once the host is ready, and returns. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/dev_proc.h"
#include "cli/dev_state.h"
#include "common/util.h"

static const char dev_usage[] =
	"usage: cloister dev [--data DIR] [--port N] [--host-name NAME] [--detach] [--json]\n"
	"       cloister dev stop [--data DIR]\n"
	"\n"
	"Runs a local control plane and one host on 127.0.0.1 for development.\n"
	"The first start creates an admin token and writes DIR/client.json\n"
	"({server, ca, token}, mode 0600); use it with\n"
	"    export CLOISTER_CONFIG=DIR/client.json\n"
	"Later starts keep the same database and host. Ctrl-C stops everything.\n"
	"\n"
	"  --data DIR         state directory (default ./.cloister-dev)\n"
	"  --port N           control plane port (default 7443; 0 picks a free one)\n"
	"  --host-name NAME   the host's name (default dev-host)\n"
	"  --detach           start in the background, print, and return; stop it\n"
	"                     with `cloister dev stop --data DIR`\n"
	"  --timeout SECONDS  how long to wait for readiness (default 60)\n";



/* Prints the summary of a running instance to f. */
static void print_summary(const cl_dev *d, FILE *f, bool detached)
{
	if (cl_cli_global()->json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i}", "server", d->url, "ca", d->ca, "config",
				      d->client_json, "data", d->dir, "host_id", d->host_id, "pid",
				      (int)getpid());
		char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
		if (s)
			fprintf(f, "%s\n", s);
		free(s);
		json_decref(j);
		return;
	}
	fprintf(f, "cloister dev is running (data in %s)\n", d->dir);
	fprintf(f, "  server:      %s\n", d->url);
	fprintf(f, "  ca:          %s\n", d->ca);
	fprintf(f, "  admin token: %s (stored in %s, mode 0600)\n",
		d->first_start ? "created" : "unchanged", d->client_json);
	fprintf(f, "  host:        %s (%s), ready\n", d->host_id, d->host_name);
	fprintf(f, "  logs:        %s/control.log, %s/host.log\n", d->dir, d->dir);
	fprintf(f, "Use it from any shell with:\n  export CLOISTER_CONFIG=%s\n", d->client_json);
	if (detached)
		fprintf(f, "Stop it with:\n  cloister dev stop --data %s\n", d->dir);
	else
		fprintf(f, "Press Ctrl-C to stop.\n");
}

/* Runs the supervisor: brings everything up, reports, waits, shuts down.
 * report receives the summary (or nothing, on error). Returns the exit code;
 * on failure *why holds the message. */
static int supervise(cl_dev *d, FILE *report, bool detached, char *why, size_t whylen)
{
	cl_err err = cl_dev_signals_init();
	if (err == CL_OK)
		err = cl_dev_up(d);
	if (err != CL_OK) {
		snprintf(why, whylen, "%s", cl_error_detail());
		cl_dev_down(d);
		return CL_CLI_EXIT_FAIL;
	}
	print_summary(d, report, detached);
	fflush(report);
	d->reported = true;
	if (detached)
		fclose(report); /* tells the waiting parent that we are up */
	int rc = 0;
	char dead_msg[160] = "";
	cl_dev_child *kids[2] = {&d->control, &d->host};
	while (!cl_dev_stop_requested) {
		cl_dev_wait_event(kids, 2);
		cl_dev_drain(&d->control);
		cl_dev_drain(&d->host);
		if (cl_dev_reap(&d->control) || cl_dev_reap(&d->host)) {
			cl_dev_child *dead = d->control.pid == 0 ? &d->control : &d->host;
			cl_dev_describe_exit(dead, dead_msg, sizeof(dead_msg));
			rc = CL_CLI_EXIT_FAIL;
			break;
		}
	}
	fprintf(stderr, "%scloister dev: stopping\n", detached ? "" : "\n");
	cl_dev_down(d);
	if (rc != 0)
		fprintf(stderr, "error: %s (see %s/*.log); everything was stopped\n", dead_msg, d->dir);
	else
		fprintf(stderr, "cloister dev: stopped\n");
	return rc;
}

/* Forks a background supervisor and relays its report. */
static int start_detached(cl_dev *d)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return cl_cli_fail(cl_errorf(CL_ESYS, "pipe: %s", strerror(errno)));
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return cl_cli_fail(cl_errorf(CL_ESYS, "fork: %s", strerror(errno)));
	if (pid == 0) {
		close(p[0]);
		setsid();
		char log[PATH_MAX + 16];
		snprintf(log, sizeof(log), "%s/dev.log", d->dir);
		int devnull = open("/dev/null", O_RDONLY);
		int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (devnull < 0 || lfd < 0 || dup2(devnull, 0) < 0 || dup2(lfd, 1) < 0 || dup2(lfd, 2) < 0)
			_exit(1);
		FILE *report = fdopen(p[1], "w");
		if (!report)
			_exit(1);
		char why[512];
		int rc = supervise(d, report, true, why, sizeof(why));
		if (rc != 0 && !d->reported) {
			fprintf(report, "E%s", why);
			fclose(report);
		}
		cl_dev_free(d);
		_exit(rc);
	}
	close(p[1]);
	close(d->lock_fd); /* the child holds the lock now (same open file) */
	d->lock_fd = -1;
	cl_buf out;
	cl_buf_init(&out, 64 * 1024);
	char chunk[4096];
	for (;;) {
		ssize_t r = read(p[0], chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || cl_buf_put(&out, chunk, (size_t)r) != CL_OK)
			break;
	}
	close(p[0]);
	const char *text = "";
	int rc;
	if (cl_buf_cstr(&out, &text) != CL_OK || out.len == 0) {
		char tail[256];
		char log[PATH_MAX + 16];
		snprintf(log, sizeof(log), "%s/dev.log", d->dir);
		rc = cl_cli_fail(cl_errorf(CL_EINTERNAL, "the dev supervisor died while starting (see %s)%s%s",
					   log, *cl_dev_log_tail(log, tail, sizeof(tail)) ? ": " : "", tail));
	} else if (text[0] == 'E') {
		rc = cl_cli_fail(cl_errorf(CL_EUNAVAIL, "%s", text + 1));
	} else {
		fputs(text, stdout);
		rc = 0;
	}
	cl_buf_free(&out);
	return rc;
}

static int dev_start(int argc, char **argv)
{
	const char *data = "./.cloister-dev", *port_s = "7443", *name = "dev-host", *timeout_s = "60";
	bool detach = false;
	const cl_cli_option opts[] = {
		{"data", CL_OPT_VALUE, .value = &data},
		{"port", CL_OPT_VALUE, .value = &port_s},
		{"host-name", CL_OPT_VALUE, .value = &name},
		{"detach", CL_OPT_FLAG, .flag = &detach},
		{"timeout", CL_OPT_VALUE, .value = &timeout_s},
		{0},
	};
	const char *pos[1];
	size_t npos;
	bool help;
	uint64_t port, timeout;
	cl_err err = cl_cli_parse_opts(argc, argv, opts, pos, 0, &npos, &help);
	if (err == CL_OK && !help)
		err = cl_cli_parse_uint(port_s, 65535, &port);
	if (err == CL_OK && !help)
		err = cl_cli_parse_uint(timeout_s, 3600, &timeout);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	if (help) {
		fputs(dev_usage, stdout);
		return 0;
	}
	cl_dev d;
	if ((err = cl_dev_init(&d, data, (unsigned)port, name, (unsigned)timeout)) != CL_OK) {
		int rc = cl_cli_fail_usage(err);
		cl_dev_free(&d);
		return rc;
	}
	if ((err = cl_dev_lock(&d)) != CL_OK) {
		cl_dev_free(&d);
		return cl_cli_fail(err);
	}
	int rc;
	if (detach) {
		rc = start_detached(&d);
	} else {
		char why[512];
		rc = supervise(&d, stdout, false, why, sizeof(why));
		if (rc != 0 && !d.reported)
			rc = cl_cli_fail(cl_errorf(CL_EUNAVAIL, "%s", why));
	}
	cl_dev_free(&d);
	return rc;
}

static int dev_stop(int argc, char **argv)
{
	const char *data = "./.cloister-dev";
	const cl_cli_option opts[] = {{"data", CL_OPT_VALUE, .value = &data}, {0}};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, dev_usage, &rc))
		return rc;
	bool was_running = false;
	cl_err err;
	if ((err = cl_dev_stop_running(data, 60000, &was_running)) != CL_OK)
		return cl_cli_fail(err);
	printf(was_running ? "cloister dev stopped (%s)\n" : "cloister dev is not running in %s\n", data);
	return 0;
}

int cl_cmd_dev(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "stop") == 0)
		return dev_stop(argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "start") == 0)
		return dev_start(argc - 1, argv + 1);
	if (argc >= 1 && argv[0][0] != '-')
		return cl_cli_usage("unknown verb 'dev %s' (expected: start, stop)", argv[0]);
	return dev_start(argc, argv);
}
