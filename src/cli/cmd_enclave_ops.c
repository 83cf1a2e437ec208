/* cmd_enclave_ops.c — `cloister enclave start|stop|destroy|grow|shrink`:
 * each asks the control plane for a job (202) and, with --wait, follows it;
 * `suspend|restore` always follow theirs (docs/suspend.md).
 * Under --json the output is one document: the 202 answer without --wait,
 * the final job and enclave once --wait is done. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_enclave.h"

struct job_verb {
	const char *verb;   /* "start" */
	const char *method; /* "POST" */
	const char *suffix; /* "/start" appended to /v1/enclaves/ID ("" for DELETE) */
	const char *doing;  /* "starting" */
	const char *want;   /* state to wait for after the job, or NULL */
};

static void job_usage(const struct job_verb *v, FILE *f)
{
	fprintf(f,
		"usage: cloister enclave %s ID [--wait] [--timeout SECONDS] [--json]\n"
		"\n"
		"Asks the control plane to %s the enclave; prints the job id. With --wait,\n"
		"follows the job until it finishes (progress on stderr; with --json, then\n"
		"prints the final job%s).\n",
		v->verb, v->verb, v->want ? " and enclave" : "");
}

static const char resize_usage_fmt[] =
	"usage: cloister enclave %s ID --memory SIZE [--wait] [--timeout SECONDS] [--json]\n"
	"\n"
	"Resizes the enclave's memory (%s..%s, e.g. --memory 128M); %s\n"
	"requires a size %s than the current one. With --wait, follows the job\n"
	"until it finishes (with --json, then prints the final job and enclave).\n";

/* --wait under --json: {"job": final job, "enclave": final enclave}. The
 * enclave is read once the job ended (after reaching v->want if set);
 * destroy has none. *out owned by the caller. */
static cl_err final_document(cl_cli_conn *c, const struct job_verb *v, const char *id, json_t *final_job,
			     long timeout_ms, json_t **out)
{
	json_t *enc = NULL, *resp = NULL;
	cl_err err = CL_OK;
	if (v->want) {
		CL_GUARD_OUT(err, cl_enclave_wait_state(c, id, v->want, timeout_ms, &enc));
	} else if (strcmp(v->method, "DELETE") != 0) {
		char path[256];
		snprintf(path, sizeof(path), "/v1/enclaves/%s", id);
		CL_GUARD_OUT(err, cl_cli_call(c, "GET", path, NULL, &resp, NULL));
		json_t *obj = json_object_get(resp, "enclave");
		enc = json_incref(obj ? obj : resp);
		json_object_del(enc, "access_key");
	}
	*out = json_pack("{s:O}", "job", final_job);
	if (!*out || (enc && json_object_set(*out, "enclave", enc) != 0))
		err = CL_ENOMEM;
out:
	json_decref(enc);
	json_decref(resp);
	return err;
}

/* Sends the request, prints the job, follows it with --wait. body may be NULL. */
static int run_job(const struct job_verb *v, const char *id, json_t *body, bool wait, uint64_t timeout)
{
	cl_cli_conn *c = NULL;
	json_t *resp = NULL, *final_job = NULL, *doc = NULL;
	char path[256], label[192];
	bool json = cl_cli_global()->json;
	snprintf(path, sizeof(path), "/v1/enclaves/%s%s", id, v->suffix);
	snprintf(label, sizeof(label), "%s %s", v->doing, id);
	cl_err err;
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, v->method, path, body, &resp, NULL));
	json_t *job = json_object_get(resp, "job");
	const char *job_id = json_string_value(json_object_get(job ? job : resp, "id"));
	if (wait && job_id) {
		if (!json) {
			printf("job: %s (%s)\n", job_id, label);
			fflush(stdout);
		}
		CL_GUARD_OUT(err, cl_cli_follow_job(c, job_id, label, (long)timeout * 1000, &final_job));
		if (json) {
			CL_GUARD_OUT(err, final_document(c, v, id, final_job, (long)timeout * 1000, &doc));
			cl_cli_print_json(doc);
		} else if (v->want) {
			CL_GUARD_OUT(err, cl_enclave_wait_state(c, id, v->want, (long)timeout * 1000, NULL));
		}
	} else if (json) {
		cl_cli_print_json(resp);
	} else if (job_id) {
		printf("job: %s (%s)\n", job_id, label);
	} else {
		printf("%s: accepted\n", label);
	}
	fflush(stdout);
out:
	json_decref(doc);
	json_decref(final_job);
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

static int job_command(const struct job_verb *v, int argc, char **argv)
{
	const char *timeout_s = NULL;
	bool wait = false;
	const cl_cli_option opts[] = {
		{"wait", CL_OPT_FLAG, .flag = &wait},
		{"timeout", CL_OPT_VALUE, .value = &timeout_s},
		{0},
	};
	const char *pos[1];
	size_t npos;
	bool help;
	uint64_t timeout = CL_ENCLAVE_WAIT_DEFAULT_S;
	cl_err err = cl_cli_parse_opts(argc, argv, opts, pos, 1, &npos, &help);
	if (err == CL_OK && timeout_s)
		err = cl_cli_parse_uint(timeout_s, 86400, &timeout);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	if (help) {
		job_usage(v, stdout);
		return 0;
	}
	if (npos != 1)
		return cl_cli_usage("enclave %s: missing enclave ID", v->verb);
	if (!cl_cli_valid_id(pos[0]))
		return cl_cli_usage("enclave %s: invalid enclave ID '%s'", v->verb, pos[0]);
	return run_job(v, pos[0], NULL, wait, timeout);
}

int cl_enclave_start(int argc, char **argv)
{
	static const struct job_verb v = {"start", "POST", "/start", "starting", "running"};
	return job_command(&v, argc, argv);
}

int cl_enclave_stop(int argc, char **argv)
{
	static const struct job_verb v = {"stop", "POST", "/stop", "stopping", "stopped"};
	return job_command(&v, argc, argv);
}

int cl_enclave_destroy(int argc, char **argv)
{
	static const struct job_verb v = {"destroy", "DELETE", "", "destroying", NULL};
	return job_command(&v, argc, argv);
}

/* grow (bigger = true) or shrink: checks the direction against the current size. */
static int resize_command(bool bigger, int argc, char **argv)
{
	const char *verb = bigger ? "grow" : "shrink";
	const char *memory = NULL, *timeout_s = NULL;
	bool wait = false;
	const cl_cli_option opts[] = {
		{"memory", CL_OPT_VALUE, .value = &memory},
		{"wait", CL_OPT_FLAG, .flag = &wait},
		{"timeout", CL_OPT_VALUE, .value = &timeout_s},
		{0},
	};
	const char *pos[1];
	size_t npos;
	bool help;
	uint64_t timeout = CL_ENCLAVE_WAIT_DEFAULT_S, mib = 0;
	cl_err err = cl_cli_parse_opts(argc, argv, opts, pos, 1, &npos, &help);
	if (err == CL_OK && timeout_s)
		err = cl_cli_parse_uint(timeout_s, 86400, &timeout);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	if (help) {
		char lo[32], hi[32];
		cl_cli_fmt_bytes((uint64_t)CL_PROTO_MEMORY_MIN_MIB << 20, lo, sizeof(lo));
		cl_cli_fmt_bytes((uint64_t)CL_PROTO_MEMORY_MAX_MIB << 20, hi, sizeof(hi));
		printf(resize_usage_fmt, verb, lo, hi, verb, bigger ? "larger" : "smaller");
		return 0;
	}
	if (npos != 1)
		return cl_cli_usage("enclave %s: missing enclave ID", verb);
	if (!cl_cli_valid_id(pos[0]))
		return cl_cli_usage("enclave %s: invalid enclave ID '%s'", verb, pos[0]);
	if (!memory)
		return cl_cli_usage("enclave %s: --memory is required (e.g. --memory 128M)", verb);
	if ((err = cl_cli_parse_enclave_memory(memory, "--memory", &mib)) != CL_OK)
		return cl_cli_fail_usage(err);

	/* Check the direction first, so `grow` never shrinks by mistake. */
	cl_cli_conn *c = NULL;
	json_t *cur = NULL, *body = NULL;
	char path[256];
	snprintf(path, sizeof(path), "/v1/enclaves/%s", pos[0]);
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	err = cl_cli_call(c, "GET", path, NULL, &cur, NULL);
	if (err == CL_EPERM) /* may resize without describing: the server decides */
		err = CL_OK;
	else if (err != CL_OK)
		goto out;
	json_t *obj = json_object_get(cur, "enclave");
	json_t *m = json_object_get(obj ? obj : cur, "memory_mib");
	if (json_is_integer(m)) {
		uint64_t now = (uint64_t)json_integer_value(m);
		if (bigger && mib <= now) {
			err = cl_errorf(CL_EINVAL, "enclave grow: %s (%llu MiB) is not larger than the current %llu MiB",
					memory, (unsigned long long)mib, (unsigned long long)now);
			goto out;
		}
		if (!bigger && mib >= now) {
			err = cl_errorf(CL_EINVAL,
					"enclave shrink: %s (%llu MiB) is not smaller than the current %llu MiB",
					memory, (unsigned long long)mib, (unsigned long long)now);
			goto out;
		}
	}
	body = json_pack("{s:I}", "memory_mib", (json_int_t)mib);
	if (!body) {
		err = CL_ENOMEM;
		goto out;
	}
	cl_cli_conn_free(c);
	c = NULL;
	static const struct job_verb grow = {"grow", "POST", "/resize", "growing", NULL};
	static const struct job_verb shrink = {"shrink", "POST", "/resize", "shrinking", NULL};
	int rc = run_job(bigger ? &grow : &shrink, pos[0], body, wait, timeout);
	json_decref(body);
	json_decref(cur);
	return rc;
out:
	json_decref(body);
	json_decref(cur);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

int cl_enclave_grow(int argc, char **argv)
{
	return resize_command(true, argc, argv);
}

int cl_enclave_shrink(int argc, char **argv)
{
	return resize_command(false, argc, argv);
}

static const char suspend_usage[] =
	"usage: cloister enclave suspend ID [--timeout SECONDS] [--json]\n"
	"\n"
	"Seals the enclave's /tmp inside it under a fresh key only the control plane\n"
	"holds, stores it in the control plane and removes the enclave's sandbox: the\n"
	"enclave is then suspended. Follows the job until it ends and prints why it\n"
	"failed if it did (the enclave then runs on). Only enclaves created\n"
	"--suspendable can be suspended.\n";

static const char restore_usage[] =
	"usage: cloister enclave restore ID [--host HOST] [--timeout SECONDS] [--json]\n"
	"\n"
	"Brings a suspended enclave back on HOST (default: any host that fits it): its\n"
	"key is released only to an enclave that measures like the suspended one, and\n"
	"its /tmp is restored before its entrypoint runs. Follows the job until it\n"
	"ends and prints why it failed if it did (the enclave then stays suspended).\n";

/* suspend (restore false) or restore [--host H]: the job, always followed. */
static int state_command(bool restore, int argc, char **argv)
{
	const char *verb = restore ? "restore" : "suspend";
	const char *timeout_s = NULL, *host = NULL;
	const cl_cli_option opts[] = {
		{"timeout", CL_OPT_VALUE, .value = &timeout_s},
		{"host", CL_OPT_VALUE, .value = &host},
		{0},
	};
	const char *pos[1];
	size_t npos;
	bool help;
	uint64_t timeout = CL_ENCLAVE_WAIT_DEFAULT_S;
	cl_err err = cl_cli_parse_opts(argc, argv, opts, pos, 1, &npos, &help);
	if (err == CL_OK && timeout_s)
		err = cl_cli_parse_uint(timeout_s, 86400, &timeout);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	if (help) {
		fputs(restore ? restore_usage : suspend_usage, stdout);
		return 0;
	}
	if (npos != 1)
		return cl_cli_usage("enclave %s: missing enclave ID", verb);
	if (!cl_cli_valid_id(pos[0]))
		return cl_cli_usage("enclave %s: invalid enclave ID '%s'", verb, pos[0]);
	if (host && (!restore || !cl_cli_valid_id(host)))
		return cl_cli_usage(restore ? "enclave restore: invalid host ID '%s'" : "enclave suspend: --host is for restore",
				    host);
	json_t *body = host ? json_pack("{s:s}", "host", host) : json_object();
	if (!body)
		return cl_cli_fail(CL_ENOMEM);
	static const struct job_verb sv = {"suspend", "POST", "/suspend", "suspending", "suspended"};
	static const struct job_verb rv = {"restore", "POST", "/restore", "restoring", "running"};
	int rc = run_job(restore ? &rv : &sv, pos[0], body, true, timeout);
	json_decref(body);
	return rc;
}

int cl_enclave_suspend(int argc, char **argv)
{
	return state_command(false, argc, argv);
}

int cl_enclave_restore(int argc, char **argv)
{
	return state_command(true, argc, argv);
}
