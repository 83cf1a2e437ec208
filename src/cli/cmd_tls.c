/* cmd_tls.c — `cloister tls enable|status|disable|rotate`: host-terminated
 * TLS for an enclave created --network (docs/tls.md, docs/cli/tls.md). A
 * change is a job whose steps are printed as they happen: the job is
 * followed with GET /v1/jobs/{id}?wait=S&steps=N, which the control plane
 * answers as soon as the job has more than N steps or ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/util.h"

#define TLS_MAX_LIST 16
#define TLS_WAIT_DEFAULT_S 120
#define TLS_WAIT_STEP_S 10 /* one job wait; the deadline and interrupts are checked between */

static const char tls_verbs[] = "usage: cloister tls VERB ENCLAVE ...\n"
				"\n"
				"Host-terminated TLS for an enclave created --network (docs/tls.md).\n"
				"\n"
				"verbs:\n"
				"  enable   secure the enclave's traffic: a key made on its host, a certificate\n"
				"           issued for it, the policy installed (or change the policy)\n"
				"  status   state, policy, certificate and the last job's steps\n"
				"  disable  remove the listeners, rules and every key of the enclave's TLS\n"
				"  rotate   a new key and certificate for the same names and policy\n";

static const char enable_usage[] =
	"usage: cloister tls enable ENCLAVE [--mode all|ports|ips|adapters|auto] [--ports P,...]\n"
	"                           [--ips CIDR,...] [--adapters NAME,...] [--insecure allow|reject]\n"
	"                           [--header NAME] [--timeout SECONDS] [--json]\n"
	"\n"
	"Enables host-terminated TLS on the enclave (or changes its policy: same key).\n"
	"Its host's key holder makes a P-256 key that never leaves it, the control\n"
	"plane's CA issues a certificate for <enclave>.<tenant>.cloister.internal, and\n"
	"the host's data plane serves it. Prints each step as it happens:\n"
	"key_generated, certificate_requested, certificate_issued, delivered,\n"
	"acknowledged, enabled. Ends 0 once enabled; otherwise non-zero with the step\n"
	"that failed and why (nothing half-enabled stays).\n"
	"\n"
	"  --mode M            what is secured (default all): all | ports | ips |\n"
	"                      adapters | auto (ClientHello sniffed)\n"
	"  --ports P,...       with --mode ports: ports 1..65535 (at most 16)\n"
	"  --ips CIDR,...      with --mode ips: addresses or CIDRs (at most 16)\n"
	"  --adapters N,...    with --mode adapters: the guest's interfaces (e.g. sec0)\n"
	"  --insecure R        what is not secured: reject (default: a TCP reset) or allow\n"
	"  --header NAME       add NAME: <protocol>; <cipher>; <client> to each HTTP/1.1\n"
	"                      request (a client's own NAME fields are removed)\n"
	"  --timeout SECONDS   how long to follow the job (default 120)\n"
	"  --import-cert F, --import-key F, --root F\n"
	"                      importing a certificate and key: not supported yet\n";

static const char status_usage[] = "usage: cloister tls status ENCLAVE [--json]\n"
				   "\n"
				   "The enclave's TLS: state (enabling, enabled, failed, disabled), policy,\n"
				   "certificate (subject, SANs, issuer, serial, expiry) and the last job with\n"
				   "its steps.\n";

static const char disable_usage[] = "usage: cloister tls disable ENCLAVE [--timeout SECONDS] [--json]\n"
				    "\n"
				    "Disables the enclave's TLS: its host removes the listeners and rules and its\n"
				    "key holder destroys every generation's key. Follows the job to its end.\n";

static const char rotate_usage[] = "usage: cloister tls rotate ENCLAVE [--timeout SECONDS] [--json]\n"
				   "\n"
				   "A new key (made on the host) and a new certificate for the same names and\n"
				   "policy: the six steps of enable for the next generation. Connections under\n"
				   "the previous one are not dropped.\n";

static bool quiet(void)
{
	return cl_cli_global()->json;
}

/* Prints steps[from..] of job (one line each) and returns their count. */
static size_t print_steps(const json_t *job, size_t from)
{
	json_t *steps = json_object_get(job, "steps");
	size_t n = json_array_size(steps);
	for (size_t i = from; i < n && !quiet(); i++) {
		json_t *s = json_array_get(steps, i);
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *state = json_string_value(json_object_get(s, "state"));
		const char *detail = json_string_value(json_object_get(s, "detail"));
		bool failed = state && strcmp(state, "failed") == 0;
		printf("%s %-22s %s\n", failed ? "FAILED" : "  done", name ? name : "?", detail ? detail : "");
	}
	fflush(stdout);
	return n;
}

/* Follows job_id (its steps printed as they come) until it ends or
 * timeout_s passes. CL_OK once it succeeded; CL_ECONFLICT "<label> failed
 * at step <step>: <reason>" if it failed. *final gets the last job read. */
static cl_err follow(cl_cli_conn *c, const char *job_id, const char *label, uint64_t timeout_s, json_t **final)
{
	char path[256];
	size_t shown = 0;
	uint64_t deadline = cl_now_mono_ns() + timeout_s * 1000000000ull;
	json_t *job = NULL;
	cl_err err = CL_OK;
	*final = NULL;
	CL_ENSURE(cl_cli_valid_id(job_id), CL_EPROTO, "server sent an invalid job id");
	for (;;) {
		uint64_t t = cl_now_mono_ns();
		uint64_t left = t < deadline ? (deadline - t) / 1000000000ull : 0;
		snprintf(path, sizeof(path), "/v1/jobs/%s?wait=%u&steps=%zu", job_id,
			 (unsigned)(left < TLS_WAIT_STEP_S ? left : TLS_WAIT_STEP_S), shown);
		json_decref(job);
		job = NULL;
		CL_GUARD_OUT(err, cl_cli_call(c, "GET", path, NULL, &job, NULL));
		shown = print_steps(job, shown);
		const char *state = json_string_value(json_object_get(job, "state"));
		if (state && strcmp(state, "succeeded") == 0)
			break;
		if (state && strcmp(state, "failed") == 0) {
			const char *msg = json_string_value(json_object_get(job, "error"));
			err = cl_errorf(CL_ECONFLICT, "%s failed at %s", label, msg && *msg ? msg : "an unknown step");
			break;
		}
		if (cl_now_mono_ns() >= deadline || cl_cli_interrupted()) {
			err = cl_errorf(CL_ETIMEOUT, "%s: job %s still %s after %llu s (follow it: GET /v1/jobs/%s)", label,
					job_id, state ? state : "?", (unsigned long long)timeout_s, job_id);
			break;
		}
	}
out:
	*final = job;
	return err;
}

/* Sends method path (body may be NULL) and follows the job it answers. */
static int run_job(const char *label, const char *method, const char *path, json_t *body, uint64_t timeout_s)
{
	cl_cli_conn *c = NULL;
	json_t *resp = NULL, *job = NULL;
	cl_err err;
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, method, path, body, &resp, NULL));
	const char *id = json_string_value(json_object_get(json_object_get(resp, "job"), "id"));
	if (!id) {
		err = cl_errorf(CL_EPROTO, "the server's answer names no job");
		goto out;
	}
	if (!quiet()) {
		printf("%s: job %s\n", label, id);
		fflush(stdout); /* seen at once, also through a pipe */
	}
	cl_cli_catch_interrupts(true);
	err = follow(c, id, label, timeout_s, &job);
	cl_cli_catch_interrupts(false);
	if (quiet() && job)
		cl_cli_print_json(job);
	else if (err == CL_OK)
		printf("%s: done\n", label);
out:
	json_decref(job);
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

static cl_err parse_timeout(const char *s, uint64_t *out)
{
	*out = TLS_WAIT_DEFAULT_S;
	if (s && cl_cli_parse_uint(s, 86400, out) != CL_OK)
		return cl_errorf(CL_EINVAL, "--timeout must be whole seconds, 0..86400");
	return CL_OK;
}

static int enable(int argc, char **argv)
{
	const char *mode = NULL, *insecure = NULL, *header = NULL, *timeout_s = NULL, *icert = NULL, *ikey = NULL,
		   *root = NULL;
	const char *ports[TLS_MAX_LIST + 1], *ips[TLS_MAX_LIST + 1], *adapters[TLS_MAX_LIST + 1];
	size_t nports = 0, nips = 0, nadapters = 0, npos;
	const cl_cli_option opts[] = {
		{"mode", CL_OPT_VALUE, .value = &mode},
		{"ports", CL_OPT_LIST, .values = ports, .max_values = TLS_MAX_LIST + 1, .count = &nports},
		{"ips", CL_OPT_LIST, .values = ips, .max_values = TLS_MAX_LIST + 1, .count = &nips},
		{"adapters", CL_OPT_LIST, .values = adapters, .max_values = TLS_MAX_LIST + 1, .count = &nadapters},
		{"insecure", CL_OPT_VALUE, .value = &insecure},
		{"header", CL_OPT_VALUE, .value = &header},
		{"timeout", CL_OPT_VALUE, .value = &timeout_s},
		{"import-cert", CL_OPT_VALUE, .value = &icert},
		{"import-key", CL_OPT_VALUE, .value = &ikey},
		{"root", CL_OPT_VALUE, .value = &root},
		{0},
	};
	const char *pos[1];
	uint64_t timeout;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, enable_usage, &rc))
		return rc;
	if (icert || ikey || root)
		return cl_cli_usage("tls enable: --import-cert/--import-key/--root: importing a certificate and key is "
				    "not supported yet; enable without them to have a key made on the host");
	if (npos != 1 || !cl_cli_valid_id(pos[0]))
		return cl_cli_usage("tls enable: missing or invalid ENCLAVE id");
	if (parse_timeout(timeout_s, &timeout) != CL_OK)
		return cl_cli_fail_usage(CL_EINVAL);
	json_t *body = json_object(), *arr;
	if (!body)
		return cl_cli_fail(CL_ENOMEM);
	if (mode)
		json_object_set_new(body, "mode", json_string(mode));
	if (insecure)
		json_object_set_new(body, "insecure", json_string(insecure));
	if (header)
		json_object_set_new(body, "header", json_string(header));
	if (nports) {
		json_object_set_new(body, "ports", arr = json_array());
		for (size_t i = 0; i < nports; i++) {
			uint64_t p;
			if (cl_cli_parse_uint(ports[i], 65535, &p) != CL_OK || p == 0) {
				json_decref(body);
				return cl_cli_usage("tls enable: --ports: '%s' is not a port (1..65535)", ports[i]);
			}
			json_array_append_new(arr, json_integer((json_int_t)p));
		}
	}
	if (nips) {
		json_object_set_new(body, "ips", arr = json_array());
		for (size_t i = 0; i < nips; i++)
			json_array_append_new(arr, json_string(ips[i]));
	}
	if (nadapters) {
		json_object_set_new(body, "adapters", arr = json_array());
		for (size_t i = 0; i < nadapters; i++)
			json_array_append_new(arr, json_string(adapters[i]));
	}
	char path[160];
	snprintf(path, sizeof(path), "/v1/enclaves/%s/tls", pos[0]);
	rc = run_job("tls enable", "POST", path, body, timeout);
	json_decref(body);
	return rc;
}

/* disable (rotate false) or rotate. */
static int change(bool rotate, int argc, char **argv)
{
	const char *timeout_s = NULL;
	const cl_cli_option opts[] = {{"timeout", CL_OPT_VALUE, .value = &timeout_s}, {0}};
	const char *pos[1];
	size_t npos;
	uint64_t timeout;
	int rc;
	const char *verb = rotate ? "rotate" : "disable";
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, rotate ? rotate_usage : disable_usage, &rc))
		return rc;
	if (npos != 1 || !cl_cli_valid_id(pos[0]))
		return cl_cli_usage("tls %s: missing or invalid ENCLAVE id", verb);
	if (parse_timeout(timeout_s, &timeout) != CL_OK)
		return cl_cli_fail_usage(CL_EINVAL);
	char path[160], label[32];
	snprintf(path, sizeof(path), "/v1/enclaves/%s/tls%s", pos[0], rotate ? "/rotate" : "");
	snprintf(label, sizeof(label), "tls %s", verb);
	json_t *body = rotate ? json_object() : NULL;
	rc = run_job(label, rotate ? "POST" : "DELETE", path, body, timeout);
	json_decref(body);
	return rc;
}

static int disable_cmd(int argc, char **argv)
{
	return change(false, argc, argv);
}

static int rotate_cmd(int argc, char **argv)
{
	return change(true, argc, argv);
}

/* "a, b" from a JSON array of strings or numbers ("-" if empty). */
static const char *join(const json_t *a, char *buf, size_t n)
{
	size_t i, used = 0;
	json_t *v;
	buf[0] = '\0';
	json_array_foreach(a, i, v)
	{
		char one[80];
		cl_cli_json_text(v, one, sizeof(one));
		int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", one);
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
	}
	return buf[0] ? buf : "-";
}

static int status_cmd(int argc, char **argv)
{
	const cl_cli_option opts[] = {{0}};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, status_usage, &rc))
		return rc;
	if (npos != 1 || !cl_cli_valid_id(pos[0]))
		return cl_cli_usage("tls status: missing or invalid ENCLAVE id");
	cl_cli_conn *c = NULL;
	json_t *st = NULL;
	char path[160], b[1200];
	snprintf(path, sizeof(path), "/v1/enclaves/%s/tls", pos[0]);
	cl_err err = cl_cli_connect(&c);
	if (err == CL_OK)
		err = cl_cli_call(c, "GET", path, NULL, &st, NULL);
	if (err == CL_OK && quiet()) {
		cl_cli_print_json(st);
	} else if (err == CL_OK) {
		json_t *pol = json_object_get(st, "policy"), *cert = json_object_get(st, "certificate"),
		       *job = json_object_get(st, "job");
		printf("state:       %s\n", cl_cli_json_text(json_object_get(st, "state"), b, sizeof(b)));
		if (json_is_string(json_object_get(st, "error")))
			printf("error:       %s\n", json_string_value(json_object_get(st, "error")));
		if (json_is_object(pol)) {
			printf("mode:        %s\n", cl_cli_json_text(json_object_get(pol, "mode"), b, sizeof(b)));
			const char *lists[] = {"ports", "ips", "adapters"};
			for (int i = 0; i < 3; i++)
				if (json_array_size(json_object_get(pol, lists[i]))) {
					char label[16];
					snprintf(label, sizeof(label), "%s:", lists[i]);
					printf("%-12s %s\n", label, join(json_object_get(pol, lists[i]), b, sizeof(b)));
				}
			printf("insecure:    %s\n", cl_cli_json_text(json_object_get(pol, "insecure"), b, sizeof(b)));
			printf("header:      %s\n", cl_cli_json_text(json_object_get(pol, "header"), b, sizeof(b)));
		}
		printf("generation:  %s\n", cl_cli_json_text(json_object_get(st, "generation"), b, sizeof(b)));
		if (json_array_size(json_object_get(st, "endpoints")))
			printf("endpoints:   %s\n", join(json_object_get(st, "endpoints"), b, sizeof(b)));
		if (json_is_object(cert)) {
			printf("subject:     %s\n", cl_cli_json_text(json_object_get(cert, "subject"), b, sizeof(b)));
			printf("sans:        %s\n", join(json_object_get(cert, "sans"), b, sizeof(b)));
			printf("issuer:      %s\n", cl_cli_json_text(json_object_get(cert, "issuer"), b, sizeof(b)));
			printf("serial:      %s\n", cl_cli_json_text(json_object_get(cert, "serial"), b, sizeof(b)));
			printf("expires:     %s\n", cl_cli_json_text(json_object_get(cert, "not_after"), b, sizeof(b)));
			printf("key:         %s\n", cl_cli_json_text(json_object_get(cert, "key"), b, sizeof(b)));
		}
		if (json_is_object(job)) {
			char k[64], s[32];
			printf("last job:    %s %s (%s)\n", cl_cli_json_text(json_object_get(job, "id"), b, sizeof(b)),
			       cl_cli_json_text(json_object_get(job, "kind"), k, sizeof(k)),
			       cl_cli_json_text(json_object_get(job, "state"), s, sizeof(s)));
			print_steps(job, 0);
		}
	}
	json_decref(st);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

int cl_cmd_tls(int argc, char **argv)
{
	static const struct {
		const char *verb;
		int (*fn)(int, char **);
	} verbs[] = {{"enable", enable}, {"status", status_cmd}, {"disable", disable_cmd}, {"rotate", rotate_cmd}};
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		fputs(tls_verbs, argc < 1 ? stderr : stdout);
		return argc < 1 ? cl_cli_usage("missing verb (enable, status, disable, rotate)") : 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[0], verbs[i].verb) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	return cl_cli_usage("tls: unknown verb '%s' (enable, status, disable, rotate)", argv[0]);
}
