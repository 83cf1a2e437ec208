/* cli_api.c — the CLI's connection to the control plane: JSON requests,
 * server errors turned into cl_err + message, and following jobs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/http_client.h"
#include "common/util.h"

#define CL_CLI_RESPONSE_MAX (8u * 1024 * 1024)
#define CL_CLI_ACCESS_HEADER "X-Cloister-Access-Key: "

struct cl_cli_conn {
	cl_http_client *http;
	char *server;
	char *access_header; /* "X-Cloister-Access-Key: KEY" or NULL; wiped on free */
};

static const char *getenv_wrapper(const char *name)
{
	return getenv(name);
}

/* Says, once per process, which identity a token from a config file is:
 * a forgotten or empty CLOISTER_TOKEN must not act as the file's (often the
 * admin's) token unnoticed. Only the token's id is shown, never its secret.
 * Not under --json, whose stderr carries only the error object. */
static void note_token_source(const cl_cli_config *cfg)
{
	static bool noted;
	if (noted || cfg->token_from != CL_CLI_FROM_FILE || cl_cli_global()->json)
		return;
	noted = true;
	char id[CL_PROTO_ID_LEN_MAX + 1];
	if (cl_cli_token_id(cfg->token, id, sizeof(id)))
		fprintf(stderr, "note: using token %s from %s (no --token or CLOISTER_TOKEN given)\n", id,
			cfg->config_path);
	else
		fprintf(stderr, "note: using the token in %s (no --token or CLOISTER_TOKEN given)\n",
			cfg->config_path);
}

cl_err cl_cli_connect(cl_cli_conn **out)
{
	cl_cli_config cfg;
	CL_GUARD(cl_cli_config_resolve(cl_cli_global(), getenv_wrapper, getenv("HOME"), &cfg));
	cl_err err = cl_cli_connect_to(cfg.server, cfg.ca, cfg.token, cfg.access_key, out);
	if (err == CL_OK)
		note_token_source(&cfg);
	cl_cli_config_free(&cfg);
	return err;
}

/* The control plane answers only HTTPS: an http:// URL is a mistake to
 * explain, not a connection to try. */
static cl_err check_server_url(const char *server)
{
	if (strncmp(server, "http://", 7) == 0) {
		const char *hostport = server + 7;
		size_t n = strcspn(hostport, "/?#");
		if (n == 0 || n > 255)
			return cl_errorf(CL_EINVAL, "the control plane speaks HTTPS: use https://HOST:PORT");
		return cl_errorf(CL_EINVAL, "the control plane speaks HTTPS: use https://%.*s", (int)n, hostport);
	}
	CL_ENSURE(strncmp(server, "https://", 8) == 0 && server[8], CL_EINVAL,
		  "server '%.200s' must be an https:// URL (https://HOST:PORT)", server);
	return CL_OK;
}

cl_err cl_cli_connect_to(const char *server, const char *ca, const char *token, const char *access_key,
			 cl_cli_conn **out)
{
	if (!server)
		return cl_errorf(CL_EINVAL, "no server configured: use --server URL, CLOISTER_SERVER, "
					    "or a config file (CLOISTER_CONFIG; `cloister dev` writes one)");
	CL_GUARD(check_server_url(server));
	if (ca && access(ca, R_OK) != 0)
		return cl_errorf(CL_EINVAL, "cannot read CA file %s", ca);
	if ((token && strpbrk(token, "\r\n")) || (access_key && strpbrk(access_key, "\r\n")))
		return cl_errorf(CL_EINVAL, "a token or access key contains a line break");
	cl_err err = CL_OK;
	cl_cli_conn *c = calloc(1, sizeof(*c));
	if (!c || !(c->server = strdup(server))) {
		err = CL_ENOMEM;
		goto out;
	}
	size_t slen = strlen(c->server);
	while (slen > 0 && c->server[slen - 1] == '/')
		c->server[--slen] = '\0';
	if (access_key) {
		size_t n = strlen(CL_CLI_ACCESS_HEADER) + strlen(access_key) + 1;
		c->access_header = malloc(n);
		if (!c->access_header) {
			err = CL_ENOMEM;
			goto out;
		}
		snprintf(c->access_header, n, "%s%s", CL_CLI_ACCESS_HEADER, access_key);
	}
	CL_GUARD_OUT(err, cl_http_client_new(c->server, ca, token, &c->http));
	*out = c;
	c = NULL;
out:
	cl_cli_conn_free(c);
	return err;
}

void cl_cli_conn_free(cl_cli_conn *c)
{
	if (!c)
		return;
	cl_http_client_free(c->http);
	if (c->access_header) {
		explicit_bzero(c->access_header, strlen(c->access_header));
		free(c->access_header);
	}
	free(c->server);
	free(c);
}

void cl_cli_conn_set_timeout(cl_cli_conn *c, long ms)
{
	cl_http_client_set_timeout(c->http, ms);
}

const char *cl_cli_conn_server(const cl_cli_conn *c)
{
	return c->server;
}

static cl_err err_from_status(long status)
{
	switch (status) {
	case 400: return CL_EINVAL;
	case 401: return CL_EAUTH;
	case 403: return CL_EPERM;
	case 404: return CL_ENOTFOUND;
	case 405: return CL_EMETHOD;
	case 409: return CL_ECONFLICT;
	case 413: return CL_ETOOBIG;
	case 415: return CL_EMEDIA;
	case 429: return CL_ELIMIT;
	case 431: return CL_EHEADERS;
	case 501: return CL_ENOTIMPL;
	case 502: return CL_EPROTO;
	case 503: return CL_EUNAVAIL;
	case 504: return CL_ETIMEOUT;
	case 507: return CL_ENOSPACE;
	default: return status >= 500 ? CL_EINTERNAL : CL_EPROTO;
	}
}

/* Turns an error answer into a cl_err with the server's message. */
static cl_err server_error(long status, const cl_buf *resp)
{
	cl_err e = err_from_status(status);
	json_t *root = json_loadb((const char *)resp->data, resp->len, 0, NULL);
	json_t *error = json_object_get(root, "error");
	const char *code = json_string_value(json_object_get(error, "code"));
	const char *msg = json_string_value(json_object_get(error, "message"));
	/* every code this CLI knows (cl_err_name says "unknown" past the last) */
	for (int i = 1; code && strcmp(cl_err_name((cl_err)i), "unknown") != 0; i++)
		if (strcmp(code, cl_err_name((cl_err)i)) == 0)
			e = (cl_err)i;
	if (msg && *msg)
		cl_errorf(e, "%s (HTTP %ld)", msg, status);
	else
		cl_errorf(e, "%s (HTTP %ld)", cl_err_str(e), status);
	cl_cli_note_http_error(status, code, cl_error_detail());
	json_decref(root);
	return e;
}

static cl_err do_call(cl_cli_conn *c, const char *method, const char *path, const void *body,
		      size_t len, const char *ctype, json_t **out, long *status)
{
	long st = 0;
	cl_buf resp;
	cl_buf_init(&resp, CL_CLI_RESPONSE_MAX);
	const char *headers[] = {c->access_header, NULL};
	if (out)
		*out = NULL;
	cl_err err = cl_http_request(c->http, method, path, c->access_header ? headers : NULL, body, len,
				     ctype, &st, &resp);
	if (status)
		*status = err == CL_OK ? st : 0;
	if (err != CL_OK) {
		if (err == CL_EIO)
			err = cl_cli_error_context(err, "cannot reach the control plane at %s", c->server);
		goto out;
	}
	if (st < 200 || st > 299) {
		err = server_error(st, &resp);
		goto out;
	}
	if (!out)
		goto out;
	if (resp.len == 0) {
		*out = json_null();
		goto out;
	}
	json_error_t jerr;
	*out = json_loadb((const char *)resp.data, resp.len, 0, &jerr);
	if (!*out)
		err = cl_errorf(CL_EPROTO, "%s %s: server sent invalid JSON: %s", method, path, jerr.text);
out:
	cl_buf_free(&resp);
	return err;
}

cl_err cl_cli_call(cl_cli_conn *c, const char *method, const char *path, json_t *body, json_t **out,
		   long *status)
{
	char *text = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return CL_ENOMEM;
	}
	cl_err err = do_call(c, method, path, text, text ? strlen(text) : 0, "application/json", out,
			     status);
	if (text) {
		explicit_bzero(text, strlen(text)); /* may hold data sent to an enclave */
		free(text);
	}
	return err;
}

cl_err cl_cli_get_bytes(cl_cli_conn *c, const char *path, cl_buf *out)
{
	long st = 0;
	cl_err err = cl_http_request(c->http, "GET", path, NULL, NULL, 0, NULL, &st, out);
	if (err == CL_EIO)
		return cl_cli_error_context(err, "cannot reach the control plane at %s", c->server);
	CL_GUARD(err);
	if (st < 200 || st > 299)
		return server_error(st, out);
	return CL_OK;
}

cl_err cl_cli_call_raw(cl_cli_conn *c, const char *method, const char *path, const void *data,
		       size_t len, json_t **out, long *status)
{
	return do_call(c, method, path, data ? data : "", len, "application/octet-stream", out, status);
}

/* ---- uploads in parts, and the request that consumes one ---- */

/* The signal that arrived while an upload was held (0: none). */
static volatile sig_atomic_t upload_signal;

static void on_upload_signal(int sig)
{
	upload_signal = sig;
}

static const int upload_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define NSIG_UPLOAD (sizeof(upload_signals) / sizeof(upload_signals[0]))

/* Defers SIGINT/SIGTERM/SIGHUP while an upload is held: the handler only
 * notes the signal, the upload loop sees it between requests, deletes the
 * upload and then lets the signal do what it would have done. A signal the
 * process ignores (a background job's SIGINT) stays ignored. */
static void signals_defer(struct sigaction old[NSIG_UPLOAD])
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_upload_signal;
	sigemptyset(&sa.sa_mask);
	upload_signal = 0;
	for (size_t i = 0; i < NSIG_UPLOAD; i++) {
		sigaction(upload_signals[i], NULL, &old[i]);
		if (old[i].sa_handler != SIG_IGN)
			sigaction(upload_signals[i], &sa, NULL);
	}
}

/* True if the deferred signal, raised again, ends the process. */
static bool signal_is_fatal(const struct sigaction old[NSIG_UPLOAD])
{
	for (size_t i = 0; i < NSIG_UPLOAD; i++)
		if (upload_signals[i] == upload_signal)
			return old[i].sa_handler == SIG_DFL;
	return false;
}

/* Restores the previous dispositions and re-raises a deferred signal. */
static void signals_restore(const struct sigaction old[NSIG_UPLOAD])
{
	for (size_t i = 0; i < NSIG_UPLOAD; i++)
		sigaction(upload_signals[i], &old[i], NULL);
	if (upload_signal)
		raise(upload_signal);
}

static cl_err upload_interrupted(void)
{
	return cl_errorf(CL_ESYS, "interrupted by signal %d", (int)upload_signal);
}

/* POST /v1/uploads for data; the checked id into id_out, part size and count. */
static cl_err upload_create(cl_cli_conn *c, const void *data, size_t len, char id_out[CL_CLI_UPLOAD_ID_MAX],
			    json_int_t *part, json_int_t *parts)
{
	uint8_t md[CL_SHA384_LEN];
	char hex[2 * CL_SHA384_LEN + 1];
	json_t *resp = NULL;
	CL_GUARD(cl_sha384(data, len, md));
	cl_hex_encode(md, sizeof(md), hex);
	json_t *req = json_pack("{s:I,s:s}", "size", (json_int_t)len, "sha384", hex);
	if (!req)
		return CL_ENOMEM;
	cl_err err = cl_cli_call(c, "POST", "/v1/uploads", req, &resp, NULL);
	json_decref(req);
	CL_GUARD(err);
	const char *id = json_string_value(json_object_get(resp, "id"));
	*part = json_integer_value(json_object_get(resp, "part_size"));
	*parts = json_integer_value(json_object_get(resp, "parts"));
	if (id && strncmp(id, "upl_", 4) == 0 && strlen(id) < CL_CLI_UPLOAD_ID_MAX &&
	    strspn(id + 4, "abcdefghijklmnopqrstuvwxyz234567") == strlen(id + 4))
		snprintf(id_out, CL_CLI_UPLOAD_ID_MAX, "%s", id); /* a valid id: deletable even if the rest is bad */
	else
		err = cl_errorf(CL_EPROTO, "server sent an invalid upload answer");
	if (err == CL_OK && (*part <= 0 || *parts <= 0 || (uint64_t)(*parts - 1) * (uint64_t)*part >= len ||
			     (uint64_t)*parts * (uint64_t)*part < len))
		err = cl_errorf(CL_EPROTO, "server sent an invalid upload answer");
	json_decref(resp);
	return err;
}

/* PUTs every part of data in order (a part is retried once on a transport
 * error: the server accepts the same part again). */
static cl_err upload_parts(cl_cli_conn *c, const void *data, size_t len, const char *id, json_int_t part,
			   json_int_t parts)
{
	char path[128];
	for (json_int_t n = 0; n < parts; n++) {
		if (upload_signal)
			return upload_interrupted();
		size_t off = (size_t)n * (size_t)part;
		size_t plen = len - off < (size_t)part ? len - off : (size_t)part;
		snprintf(path, sizeof(path), "/v1/uploads/%s/parts/%lld", id, (long long)n);
		cl_err err = cl_cli_call_raw(c, "PUT", path, (const uint8_t *)data + off, plen, NULL, NULL);
		if (err == CL_EIO && !upload_signal)
			err = cl_cli_call_raw(c, "PUT", path, (const uint8_t *)data + off, plen, NULL, NULL);
		if (err != CL_OK)
			return cl_cli_error_context(err, "upload part %lld of %lld", (long long)n + 1, (long long)parts);
	}
	return upload_signal ? upload_interrupted() : CL_OK;
}

/* Deletes a held upload, keeping the error detail of what went wrong and
 * adding what became of the upload. */
static void upload_drop(cl_cli_conn *c, const char *id)
{
	char path[128], saved[512];
	snprintf(saved, sizeof(saved), "%s", cl_error_detail());
	snprintf(path, sizeof(path), "/v1/uploads/%s", id);
	cl_err e = cl_cli_call(c, "DELETE", path, NULL, NULL, NULL);
	if (e == CL_OK || e == CL_ENOTFOUND) /* not found: the server dropped it already */
		cl_errorf(CL_OK, "%s (the upload was deleted)", saved);
	else
		cl_errorf(CL_OK, "%s (the upload %s could not be deleted: it expires within the hour)", saved, id);
}

cl_err cl_cli_upload_submit(cl_cli_conn *c, const void *data, size_t len, const char *method, const char *path,
			    json_t *body, json_t **out)
{
	char id[CL_CLI_UPLOAD_ID_MAX] = "";
	json_int_t part = 0, parts = 0;
	json_t *req = NULL;
	struct sigaction old[NSIG_UPLOAD];
	bool consumed = false;
	cl_err err;
	if (out)
		*out = NULL;
	CL_ENSURE(len > 0, CL_EINVAL, "nothing to upload");
	signals_defer(old);
	CL_GUARD_OUT(err, upload_create(c, data, len, id, &part, &parts));
	CL_GUARD_OUT(err, upload_parts(c, data, len, id, part, parts));
	req = body ? json_deep_copy(body) : json_object();
	if (!req || json_object_set_new(req, "upload", json_string(id)) != 0) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	err = cl_cli_call(c, method, path, req, out, NULL);
	consumed = err == CL_OK; /* the server took the upload */
	if (consumed && upload_signal)
		err = upload_interrupted();
out:
	if (err != CL_OK && id[0] && !consumed)
		upload_drop(c, id);
	if (err != CL_OK && out) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(req);
	if (upload_signal && signal_is_fatal(old)) /* the one error line, before the signal ends us */
		fprintf(stderr, "error: %s\n", cl_error_detail());
	signals_restore(old);
	return err;
}

/* "running 40% placing" from a job object, into buf. */
static const char *job_status_text(const json_t *job, char *buf, size_t n)
{
	const char *state = json_string_value(json_object_get(job, "state"));
	json_t *p = json_object_get(job, "progress");
	char prog[128] = "";
	if (json_is_integer(p))
		snprintf(prog, sizeof(prog), " %lld%%", (long long)json_integer_value(p));
	else if (json_is_real(p))
		snprintf(prog, sizeof(prog), " %.0f%%",
			 json_real_value(p) <= 1.0 ? json_real_value(p) * 100 : json_real_value(p));
	else if (json_is_string(p) && *json_string_value(p))
		snprintf(prog, sizeof(prog), " (%.100s)", json_string_value(p));
	else if (json_is_object(p)) {
		const char *step = json_string_value(json_object_get(p, "step"));
		if (!step)
			step = json_string_value(json_object_get(p, "message"));
		if (step)
			snprintf(prog, sizeof(prog), " (%.100s)", step);
	}
	snprintf(buf, n, "%s%s", state ? state : "unknown", prog);
	return buf;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

void cl_cli_catch_interrupts(bool on)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on ? on_interrupt : SIG_DFL; /* no SA_RESTART: a sleep ends at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (on)
		interrupted = 0;
}

bool cl_cli_interrupted(void)
{
	return interrupted != 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && !interrupted)
		;
}

/* Seconds one job wait of cl_cli_follow_job may last (GET /v1/jobs/{id}?wait=). */
#define JOB_WAIT_S 2u

cl_err cl_cli_follow_job(cl_cli_conn *c, const char *job_id, const char *label, long timeout_ms,
			 json_t **final)
{
	static const char spin[] = "|/-\\";
	if (!cl_cli_valid_id(job_id))
		return cl_errorf(CL_EPROTO, "server sent an invalid job id");
	bool tty = isatty(STDERR_FILENO), quiet = cl_cli_global()->json;
	char path[256], last[256] = "", now[256];
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	json_t *job = NULL;
	cl_err err;
	for (unsigned tick = 0;; tick++) {
		json_decref(job);
		job = NULL;
		/* The server answers a job wait as soon as the job is final: no
		 * polling delay. Short waits (JOB_WAIT_S) keep the spinner turning
		 * and an interrupt or the deadline noticed within that. */
		uint64_t t = cl_now_mono_ns();
		uint64_t left_s = t < deadline ? (deadline - t) / 1000000000u : 0;
		snprintf(path, sizeof(path), "/v1/jobs/%s?wait=%u", job_id,
			 (unsigned)(left_s < JOB_WAIT_S ? left_s : JOB_WAIT_S));
		err = cl_cli_call(c, "GET", path, NULL, &job, NULL);
		if (err == CL_ELIMIT) { /* the tenant holds too many waits: ask without one this time */
			cl_error_clear();
			cl_cli_note_http_error(0, NULL, NULL);
			snprintf(path, sizeof(path), "/v1/jobs/%s", job_id);
			err = cl_cli_call(c, "GET", path, NULL, &job, NULL);
		}
		CL_GUARD_OUT(err, err);
		const char *state = json_string_value(json_object_get(job, "state"));
		job_status_text(job, now, sizeof(now));
		bool done = state && (strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0);
		if (quiet) {
			/* --json: stderr carries nothing but an error object */
		} else if (tty) {
			fprintf(stderr, "\r\033[K%c %s: %s", done ? ' ' : spin[tick % 4], label, now);
			if (done)
				fputc('\n', stderr);
		} else if (strcmp(now, last) != 0) {
			fprintf(stderr, "%s: %s\n", label, now);
		}
		fflush(stderr);
		snprintf(last, sizeof(last), "%s", now);
		if (done) {
			if (strcmp(state, "failed") == 0) {
				const char *msg = json_string_value(json_object_get(job, "error"));
				err = cl_errorf(CL_ECONFLICT, "%s failed: %s", label,
						msg && *msg ? msg : "no reason given");
			}
			break;
		}
		if (cl_now_mono_ns() > deadline || interrupted) {
			if (tty && !quiet)
				fputc('\n', stderr);
			if (interrupted)
				err = cl_errorf(CL_ETIMEOUT, "%s: interrupted while job %s is still %s", label,
						job_id, now);
			else
				err = cl_errorf(CL_ETIMEOUT, "%s: job %s still %s after %ld s", label, job_id,
						now, timeout_ms / 1000);
			break;
		}
		if (cl_now_mono_ns() - t < 100 * 1000000u) /* answered at once (under a second left) */
			sleep_ms(tick < 10 ? 100 : 250);
	}
out:
	if (final && err == CL_OK)
		*final = job;
	else
		json_decref(job);
	return err;
}
