/* dev_state.c — bringing one `cloister dev` instance up and down (see
 * dev_state.h). Every wait polls a condition against a deadline. */
#include "cli/dev_state.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/util.h"

#define DEV_STOP_MS 10000     /* per child, before SIGKILL */
#define DEV_CLEANUP_MS 60000  /* for `cloister-host --destroy-all` */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static cl_err path_in(const cl_dev *d, const char *name, char *out, size_t n)
{
	if (snprintf(out, n, "%s/%s", d->dir, name) >= (int)n)
		return cl_errorf(CL_EINVAL, "data directory path too long");
	return CL_OK;
}

cl_err cl_dev_init(cl_dev *d, const char *dir, unsigned port, const char *host_name, unsigned timeout_s)
{
	memset(d, 0, sizeof(*d));
	d->lock_fd = d->control.out_fd = d->control.log_fd = d->host.out_fd = d->host.log_fd = -1;
	d->port = port;
	d->timeout_s = timeout_s;
	d->host_name = host_name;
	size_t hn = strlen(host_name);
	CL_ENSURE(hn > 0 && hn < 64 && strspn(host_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
							"0123456789._-") == hn &&
			  host_name[0] != '.',
		  CL_EINVAL, "dev: --host-name must be 1-63 characters of [A-Za-z0-9._-]");
	CL_GUARD(cl_mkdir_p(dir, 0700));
	CL_ENSURE(realpath(dir, d->dir), CL_EIO, "dev: cannot resolve %s: %s", dir, strerror(errno));
	CL_GUARD(path_in(d, "client.json", d->client_json, sizeof(d->client_json)));

	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CL_ENSURE(n > 0, CL_ESYS, "dev: cannot find this program's path: %s", strerror(errno));
	self[n] = '\0';
	const char *bindir = dirname(self);
	CL_ENSURE(snprintf(d->control_exe, sizeof(d->control_exe), "%s/cloister-control", bindir) <
				  (int)sizeof(d->control_exe) &&
			  snprintf(d->host_exe, sizeof(d->host_exe), "%s/cloister-host", bindir) <
				  (int)sizeof(d->host_exe),
		  CL_EINVAL, "dev: program path too long");
	CL_ENSURE(access(d->control_exe, X_OK) == 0, CL_ENOTFOUND, "dev: %s not found next to cloister",
		  d->control_exe);
	CL_ENSURE(access(d->host_exe, X_OK) == 0, CL_ENOTFOUND, "dev: %s not found next to cloister",
		  d->host_exe);
	return CL_OK;
}

/* The pid recorded in DIR/dev.pid, or 0. */
static pid_t read_pid(const char *dir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/dev.pid", dir) >= (int)sizeof(path))
		return 0;
	cl_buf b;
	cl_buf_init(&b, 64);
	const char *s = NULL;
	pid_t pid = 0;
	uint64_t v;
	if (cl_file_read(path, 64, &b) == CL_OK && cl_buf_cstr(&b, &s) == CL_OK) {
		char num[32];
		snprintf(num, sizeof(num), "%.*s", (int)strcspn(s, "\n"), s);
		if (cl_cli_parse_uint(num, 4194304, &v) == CL_OK)
			pid = (pid_t)v;
	}
	cl_buf_free(&b);
	return pid;
}

cl_err cl_dev_lock(cl_dev *d)
{
	char path[PATH_MAX];
	CL_GUARD(path_in(d, "dev.lock", path, sizeof(path)));
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	CL_ENSURE(d->lock_fd >= 0, CL_EIO, "dev: open %s: %s", path, strerror(errno));
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(d->lock_fd);
		d->lock_fd = -1;
		if (e == EWOULDBLOCK)
			return cl_errorf(CL_ECONFLICT, "cloister dev is already running in %s (pid %d)", d->dir,
					 (int)read_pid(d->dir));
		return cl_errorf(CL_EIO, "dev: lock %s: %s", path, strerror(e));
	}
	return CL_OK;
}

/* Reads the admin token from an existing DIR/client.json, if any. */
static void load_saved_token(cl_dev *d)
{
	cl_buf b;
	cl_buf_init(&b, 64 * 1024);
	if (cl_file_read(d->client_json, 64 * 1024, &b) == CL_OK) {
		json_t *j = json_loadb((const char *)b.data, b.len, 0, NULL);
		const char *t = json_string_value(json_object_get(j, "token"));
		if (t && *t)
			d->token = strdup(t);
		cl_cli_json_wipe(j, "token");
		json_decref(j);
	}
	cl_buf_free(&b);
}

static cl_err write_client_json(const cl_dev *d)
{
	json_t *j = json_pack("{s:s,s:s,s:s}", "server", d->url, "ca", d->ca, "token", d->token);
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	cl_cli_json_wipe(j, "token");
	json_decref(j);
	CL_ENSURE(s, CL_ENOMEM, "out of memory");
	size_t n = strlen(s);
	cl_err err = cl_file_write_atomic(d->client_json, s, n, 0600);
	explicit_bzero(s, n);
	free(s);
	return err;
}

/* Error for a child that stopped answering: its exit and the log's last line. */
static cl_err child_failed(cl_dev *d, cl_dev_child *c, const char *log_name, cl_err err)
{
	if (err == CL_ECONFLICT)
		return cl_errorf(CL_ECONFLICT, "interrupted while starting");
	char log[PATH_MAX], tail[256], how[128];
	(void)path_in(d, log_name, log, sizeof(log));
	for (int i = 0; i < 50 && !cl_dev_reap(c); i++) /* give a dying child a moment to exit */
		sleep_ms(20);
	if (c->pid == 0)
		cl_dev_describe_exit(c, how, sizeof(how));
	else
		snprintf(how, sizeof(how), "%s: %s", c->name, cl_error_detail());
	cl_dev_log_tail(log, tail, sizeof(tail));
	return cl_errorf(err == CL_ETIMEOUT ? CL_ETIMEOUT : CL_EUNAVAIL, "%s (%s%s%s)", how, log,
			 *tail ? ": " : "", tail);
}

/* Starts cloister-control and collects its URL, CA path and admin token. */
static cl_err start_control(cl_dev *d, uint64_t deadline)
{
	char cdir[PATH_MAX], log[PATH_MAX], listen[64];
	CL_GUARD(path_in(d, "control", cdir, sizeof(cdir)));
	CL_GUARD(path_in(d, "control.log", log, sizeof(log)));
	d->first_start = access(cdir, F_OK) != 0;
	if (!d->first_start)
		load_saved_token(d);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", d->port);
	char *argv[] = {d->control_exe, "--data", cdir, "--listen", listen, NULL};
	CL_GUARD(cl_dev_spawn("cloister-control", d->control_exe, argv, log, &d->control));

	bool have_url = false, have_ca = false;
	uint64_t token_deadline = 0;
	char line[CL_DEV_LINE_MAX];
	cl_err err = CL_OK;
	while (!(have_url && have_ca && d->token)) {
		uint64_t dl = token_deadline ? token_deadline : deadline;
		err = cl_dev_read_line(&d->control, dl, line, sizeof(line));
		if (err == CL_ETIMEOUT && token_deadline) {
			err = cl_errorf(CL_EAUTH,
					"the admin token is unknown: %s is missing but %s already exists "
					"(remove %s to start over)",
					d->client_json, cdir, d->dir);
			break;
		}
		if (err != CL_OK) {
			err = child_failed(d, &d->control, "control.log", err);
			break;
		}
		if (strncmp(line, "admin-token: ", 13) == 0 && line[13]) {
			if (d->token) {
				explicit_bzero(d->token, strlen(d->token));
				free(d->token);
			}
			d->token = strdup(line + 13);
			d->first_start = true;
			if (!d->token)
				err = CL_ENOMEM;
		} else if (strncmp(line, "listening: ", 11) == 0) {
			have_url = snprintf(d->url, sizeof(d->url), "%s", line + 11) < (int)sizeof(d->url);
		} else if (strncmp(line, "ca: ", 4) == 0) {
			have_ca = snprintf(d->ca, sizeof(d->ca), "%s", line + 4) < (int)sizeof(d->ca);
		}
		explicit_bzero(line, sizeof(line));
		if (err != CL_OK)
			break;
		if (have_url && have_ca && !d->token && !d->first_start && !token_deadline)
			token_deadline = cl_now_mono_ns() + 3000000000ull;
	}
	explicit_bzero(line, sizeof(line));
	if (err != CL_OK)
		return err;
	/* Save the token before anything else can fail: it is printed only once. */
	return write_client_json(d);
}

static cl_err wait_healthy(cl_dev *d, cl_cli_conn *c, uint64_t deadline)
{
	for (;;) {
		json_t *j = NULL;
		cl_err err = cl_cli_call(c, "GET", "/healthz", NULL, &j, NULL);
		json_decref(j);
		if (err == CL_OK)
			return CL_OK;
		if (cl_dev_stop_requested)
			return cl_errorf(CL_ECONFLICT, "interrupted while starting");
		if (cl_dev_reap(&d->control))
			return child_failed(d, &d->control, "control.log", CL_EIO);
		if (cl_now_mono_ns() > deadline)
			return cl_cli_error_context(CL_ETIMEOUT, "the control plane at %s is not healthy",
						    d->url);
		cl_dev_drain(&d->control);
		sleep_ms(100);
	}
}

/* Seconds since the epoch of an RFC 3339 UTC time, or -1. */
static long long parse_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return -1;
	return (long long)timegm(&tm);
}

/* Waits until the control plane lists our host as ready with a fresh heartbeat. */
static cl_err wait_host_ready(cl_dev *d, cl_cli_conn *c, long long since_s, uint64_t deadline)
{
	char last_state[64] = "not registered";
	for (;;) {
		json_t *j = NULL;
		if (cl_cli_call(c, "GET", "/v1/hosts", NULL, &j, NULL) == CL_OK) {
			size_t i;
			json_t *h;
			json_array_foreach(json_object_get(j, "items"), i, h)
			{
				const char *id = json_string_value(json_object_get(h, "id"));
				const char *st = json_string_value(json_object_get(h, "state"));
				if (!id || strcmp(id, d->host_id) != 0)
					continue;
				snprintf(last_state, sizeof(last_state), "%s", st ? st : "unknown");
				long long seen = parse_time(json_string_value(json_object_get(h, "last_seen")));
				if (st && strcmp(st, "ready") == 0 && (seen < 0 || seen >= since_s)) {
					json_decref(j);
					return CL_OK;
				}
			}
		}
		json_decref(j);
		if (cl_dev_stop_requested)
			return cl_errorf(CL_ECONFLICT, "interrupted while starting");
		if (cl_dev_reap(&d->host))
			return child_failed(d, &d->host, "host.log", CL_EIO);
		if (cl_dev_reap(&d->control))
			return child_failed(d, &d->control, "control.log", CL_EIO);
		if (cl_now_mono_ns() > deadline)
			return cl_errorf(CL_ETIMEOUT, "host %s did not become ready (state: %s; see %s/host.log)",
					 d->host_id, last_state, d->dir);
		cl_dev_drain(&d->control);
		cl_dev_drain(&d->host);
		sleep_ms(100);
	}
}

/* Registers (first time) and starts cloister-host; waits for "host-id:". */
static cl_err start_host(cl_dev *d, cl_cli_conn *c, uint64_t deadline)
{
	char hdir[PATH_MAX], hjson[PATH_MAX], log[PATH_MAX];
	CL_GUARD(path_in(d, "host", hdir, sizeof(hdir)));
	CL_GUARD(path_in(d, "host/host.json", hjson, sizeof(hjson)));
	CL_GUARD(path_in(d, "host.log", log, sizeof(log)));
	CL_GUARD(cl_mkdir_p(hdir, 0700));
	char *join = NULL;
	cl_err err = CL_OK;
	if (access(hjson, F_OK) != 0) {
		json_t *req = json_object(), *resp = NULL;
		err = cl_cli_call(c, "POST", "/v1/hosts/join-tokens", req, &resp, NULL);
		const char *t = json_string_value(json_object_get(resp, "token"));
		if (err == CL_OK && t)
			join = strdup(t);
		else if (err == CL_OK)
			err = cl_errorf(CL_EPROTO, "the control plane sent no join token");
		json_decref(req);
		cl_cli_json_wipe(resp, "token");
		json_decref(resp);
		if (err != CL_OK)
			return cl_cli_error_context(err, "cannot create a join token");
		CL_ENSURE(join, CL_ENOMEM, "out of memory");
	}
	/* The one-time join token is consumed by the agent's first call. It goes
	 * in the agent's environment, never on its command line (ps). */
	char *argv[] = {d->host_exe, "--control", d->url, "--ca", d->ca, "--data", hdir, "--name",
			(char *)d->host_name, NULL};
	char *env[2] = {NULL, NULL};
	if (join && asprintf(&env[0], "CLOISTER_JOIN_TOKEN=%s", join) < 0) {
		env[0] = NULL;
		err = cl_errorf(CL_ENOMEM, "out of memory");
	}
	if (err == CL_OK)
		err = cl_dev_spawn_env("cloister-host", d->host_exe, argv, env, log, &d->host);
	if (env[0]) {
		explicit_bzero(env[0], strlen(env[0]));
		free(env[0]);
	}
	if (join) {
		explicit_bzero(join, strlen(join));
		free(join);
	}
	CL_GUARD(err);
	char line[CL_DEV_LINE_MAX];
	for (;;) {
		err = cl_dev_read_line(&d->host, deadline, line, sizeof(line));
		if (err != CL_OK)
			return child_failed(d, &d->host, "host.log", err);
		if (strncmp(line, "host-id: ", 9) == 0 && cl_cli_valid_id(line + 9)) {
			snprintf(d->host_id, sizeof(d->host_id), "%.127s", line + 9);
			return CL_OK;
		}
	}
}

cl_err cl_dev_up(cl_dev *d)
{
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)d->timeout_s * 1000000000ull;
	cl_cli_conn *c = NULL;
	cl_err err;
	CL_GUARD_OUT(err, start_control(d, deadline));
	/* The instance's own admin credentials, whatever the caller's settings. */
	CL_GUARD_OUT(err, cl_cli_connect_to(d->url, d->ca, d->token, NULL, &c));
	cl_cli_conn_set_timeout(c, 5000);
	CL_GUARD_OUT(err, wait_healthy(d, c, deadline));
	long long since = (long long)time(NULL) - 1;
	CL_GUARD_OUT(err, start_host(d, c, deadline));
	CL_GUARD_OUT(err, wait_host_ready(d, c, since, deadline));
	char pidfile[PATH_MAX], pid[32];
	CL_GUARD_OUT(err, path_in(d, "dev.pid", pidfile, sizeof(pidfile)));
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	CL_GUARD_OUT(err, cl_file_write_atomic(pidfile, pid, strlen(pid), 0600));
out:
	cl_cli_conn_free(c);
	return err;
}

void cl_dev_down(cl_dev *d)
{
	/* The agent first, so it does not see the control plane vanish. */
	if (d->host.pid > 0 || d->host.log_fd >= 0)
		cl_dev_stop_child(&d->host, DEV_STOP_MS);
	if (d->control.pid > 0 || d->control.log_fd >= 0)
		cl_dev_stop_child(&d->control, DEV_STOP_MS);
	/* The agent leaves enclaves running on purpose (a restarted agent adopts
	 * them); a stopped dev instance should leave nothing behind. The host
	 * agent's own cleanup mode destroys them: the CLI never touches
	 * sandboxes (nor links their code). */
	char hdir[PATH_MAX], sdir[PATH_MAX], log[PATH_MAX];
	if (d->host_exe[0] && path_in(d, "host", hdir, sizeof(hdir)) == CL_OK &&
	    path_in(d, "host/sandboxes", sdir, sizeof(sdir)) == CL_OK &&
	    path_in(d, "host.log", log, sizeof(log)) == CL_OK && access(sdir, F_OK) == 0) {
		char *argv[] = {d->host_exe, "--destroy-all", "--data", hdir, NULL};
		if (cl_dev_run("cloister-host --destroy-all", d->host_exe, argv, log, DEV_CLEANUP_MS) != CL_OK)
			fprintf(stderr, "cloister dev: cannot destroy the enclaves: %s\n", cl_error_detail());
	}
	char pidfile[PATH_MAX];
	if (d->lock_fd >= 0 && path_in(d, "dev.pid", pidfile, sizeof(pidfile)) == CL_OK &&
	    read_pid(d->dir) == getpid())
		unlink(pidfile);
}

void cl_dev_free(cl_dev *d)
{
	if (d->token) {
		explicit_bzero(d->token, strlen(d->token));
		free(d->token);
		d->token = NULL;
	}
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->lock_fd = -1;
}

cl_err cl_dev_stop_running(const char *dir, long timeout_ms, bool *was_running)
{
	*was_running = false;
	char path[PATH_MAX];
	CL_ENSURE(snprintf(path, sizeof(path), "%s/dev.lock", dir) < (int)sizeof(path), CL_EINVAL,
		  "data directory path too long");
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return CL_OK;
	CL_ENSURE(fd >= 0, CL_EIO, "dev: open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		close(fd); /* nobody holds it: not running */
		return CL_OK;
	}
	pid_t pid = read_pid(dir);
	if (pid <= 1) {
		close(fd);
		return cl_errorf(CL_ENOTFOUND, "cloister dev holds %s but %s/dev.pid is missing or invalid",
				 path, dir);
	}
	*was_running = true;
	if (kill(pid, SIGTERM) != 0 && errno != ESRCH) {
		close(fd);
		return cl_errorf(CL_ESYS, "cannot signal cloister dev (pid %d): %s", (int)pid, strerror(errno));
	}
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (cl_now_mono_ns() > deadline) {
			close(fd);
			return cl_errorf(CL_ETIMEOUT, "cloister dev (pid %d) did not stop in %ld s", (int)pid,
					 timeout_ms / 1000);
		}
		sleep_ms(50);
	}
	close(fd);
	return CL_OK;
}
