/* cmd_enclave.c — `cloister enclave ...`: dispatch, create, list, describe.
 * The access key is printed once, by create; everywhere else it is hidden. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmd_enclave.h"
#include "cli/commands.h"
#include "common/buf.h"
#include "common/util.h"
#include "image/image.h"

#define MAX_PROXIMITY CL_PROTO_CONSTRAINTS_MAX

/* The create usage, with the limits of common/proto.h. */
static const char *create_usage(char *buf, size_t n)
{
	char lo[32], hi[32];
	cl_cli_fmt_bytes((uint64_t)CL_PROTO_MEMORY_MIN_MIB << 20, lo, sizeof(lo));
	cl_cli_fmt_bytes((uint64_t)CL_PROTO_MEMORY_MAX_MIB << 20, hi, sizeof(hi));
	snprintf(buf, n,
		 "usage: cloister enclave create --image FILE|IMAGE_ID --name NAME [options]\n"
		 "\n"
		 "Creates an enclave. If --image names a file it is uploaded first. Prints the\n"
		 "enclave's access key once: save it, it cannot be shown again.\n"
		 "\n"
		 "  --image FILE|ID        image file (from `cloister image build`) or image id\n"
		 "  --name NAME            enclave name: [a-z0-9][a-z0-9-], at most %u characters\n"
		 "  --memory SIZE          memory, %s..%s, e.g. 64M, 1G (default 64M)\n"
		 "  --cpus N               CPUs, 1..%u (default 1)\n"
		 "  --min-level LEVEL      lowest acceptable security level: software, tpm,\n"
		 "                         sev-snp, tdx, sgx (default software)\n"
		 "  --zone ZONE, --rack RACK  place only in this zone / rack\n"
		 "  --near RES[:N(us|ms|hops)]  place close to a resource (up to %u)\n"
		 "  --far RES[:N(us|ms|hops)]   place away from a resource (up to %u)\n"
		 "  --allow OPS            operations allowed without the access key, e.g.\n"
		 "                         describe,list (default: the server's policy)\n"
		 "  --await-bundle         start no application: wait for a bundle sent with\n"
		 "                         `cloister enclave provision` (docs/provisioning.md)\n"
		 "  --suspendable          may be suspended and restored: carries\n"
		 "                         cloister-init-bundle, PCR3 says so (docs/suspend.md)\n"
		 "  --network              give it a network: eth0 with an address of its host's\n"
		 "                         guest pool (default: loopback only); PCR3 says so\n"
		 "  --expose PORTS         with --network: ports it serves, e.g. 8080,8443\n"
		 "                         (at most %u; PCR3 says which)\n"
		 "  --wait                 follow the creation until the enclave runs (with\n"
		 "                         --json: then print the running enclave)\n"
		 "  --timeout SECONDS      how long --wait waits (default %d)\n",
		 CL_PROTO_NAME_LEN_MAX, lo, hi, CL_PROTO_CPUS_MAX, CL_PROTO_CONSTRAINTS_MAX,
		 CL_PROTO_CONSTRAINTS_MAX, CL_PROTO_EXPOSE_MAX, CL_ENCLAVE_WAIT_DEFAULT_S);
	return buf;
}

static const char list_usage[] =
	"usage: cloister enclave list [--limit N] [--after CURSOR] [--json]\n"
	"\n"
	"Lists the enclaves visible to the caller. Without --limit/--after every page\n"
	"is fetched; with them one page is printed and the cursor of the next page\n"
	"(if any) is shown on stderr (\"next\" in --json output).\n";

static const char describe_usage[] = "usage: cloister enclave describe ID [--json]\n"
				     "\n"
				     "Shows one enclave. The access key is never shown.\n";

static const char *const levels[] = {"software", "tpm", "sev-snp", "tdx", "sgx"};

/* Uploads the image file at path; *image_id receives a malloc'd id. */
static cl_err upload_image(cl_cli_conn *c, const char *path, char **image_id)
{
	cl_buf data;
	cl_buf_init(&data, CL_IMAGE_MAX_SIZE);
	json_t *resp = NULL;
	cl_err err = cl_file_read(path, CL_IMAGE_MAX_SIZE, &data);
	if (err != CL_OK) {
		err = cl_cli_error_context(err, "cannot read image %s", path);
		goto out;
	}
	/* Always as an upload in parts: the control plane takes at most 1 MiB
	 * per request (docs/api/images-upload.md). A failure (or Ctrl-C)
	 * deletes the upload. */
	cl_cli_conn_set_timeout(c, 300000);
	err = cl_cli_upload_submit(c, data.data, data.len, "POST", "/v1/images", NULL, &resp);
	cl_cli_conn_set_timeout(c, 30000);
	if (err != CL_OK) {
		err = cl_cli_error_context(err, "cannot upload image %s", path);
		goto out;
	}
	json_t *img = json_object_get(resp, "image");
	const char *id = json_string_value(json_object_get(img ? img : resp, "id"));
	if (!id || !cl_cli_valid_id(id)) {
		err = cl_errorf(CL_EPROTO, "server accepted the image but sent no valid id");
		goto out;
	}
	if (!cl_cli_global()->json) {
		char sha[128];
		cl_cli_json_text(json_object_get(img ? img : resp, "sha384"), sha, sizeof(sha));
		fprintf(stderr, "uploaded %s: image %s (%zu bytes, sha384 %.16s...)\n", path, id, data.len,
			sha);
	}
	*image_id = strdup(id);
	if (!*image_id)
		err = CL_ENOMEM;
out:
	json_decref(resp);
	cl_buf_free(&data);
	return err;
}

/* Builds the create request from the parsed options. */
static cl_err build_create(const char *name, const char *image_id, uint64_t mib, uint64_t cpus,
			   const char *level, const char *zone, const char *rack, const char **near,
			   size_t nnear, const char **far, size_t nfar, const char *allow,
			   json_t **out)
{
	json_t *req = json_pack("{s:s,s:s,s:I,s:I,s:s}", "name", name, "image_id", image_id,
				"memory_mib", (json_int_t)mib, "cpus", (json_int_t)cpus, "min_level", level);
	if (!req)
		return CL_ENOMEM;
	cl_err err = CL_OK;
	if ((zone && json_object_set_new(req, "zone", json_string(zone)) != 0) ||
	    (rack && json_object_set_new(req, "rack", json_string(rack)) != 0)) {
		err = CL_ENOMEM;
		goto out;
	}
	const char **lists[2] = {near, far};
	size_t counts[2] = {nnear, nfar};
	static const char *const keys[2] = {"near", "far"};
	for (int l = 0; l < 2; l++) {
		if (!counts[l])
			continue;
		json_t *arr = json_array();
		if (!arr || json_object_set_new(req, keys[l], arr) != 0) {
			err = CL_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < counts[l]; i++) {
			json_t *p;
			CL_GUARD_OUT(err, cl_cli_parse_proximity(lists[l][i], &p));
			if (json_array_append_new(arr, p) != 0) {
				err = CL_ENOMEM;
				goto out;
			}
		}
	}
	if (allow) {
		json_t *ops;
		CL_GUARD_OUT(err, cl_cli_parse_ops(allow, &ops));
		if (json_object_set_new(req, "policy", json_pack("{s:o}", "untrusted", ops)) != 0) {
			err = CL_ENOMEM;
			goto out;
		}
	}
	*out = req;
	return CL_OK;
out:
	json_decref(req);
	return err;
}

/* --wait of create: follows the job, then waits until the enclave runs.
 * With answer (the create answer, --json), replaces its "job" and "enclave"
 * by their final versions once the enclave runs. SIGINT/SIGTERM end the
 * wait early instead of the process, so the caller still prints the key. */
static cl_err wait_created(cl_cli_conn *c, const char *id, const char *job, uint64_t timeout, json_t *answer)
{
	char label[160];
	json_t *final_job = NULL, *final_enc = NULL;
	cl_err err;
	snprintf(label, sizeof(label), "creating %s", id);
	cl_cli_catch_interrupts(true);
	if (job)
		CL_GUARD_OUT(err, cl_cli_follow_job(c, job, label, (long)timeout * 1000, &final_job));
	CL_GUARD_OUT(err, cl_enclave_wait_state(c, id, "running", (long)timeout * 1000, &final_enc));
	if (answer && ((final_job && json_object_set(answer, "job", final_job) != 0) ||
		       json_object_set(answer, "enclave", final_enc) != 0))
		err = CL_ENOMEM;
out:
	cl_cli_catch_interrupts(false);
	json_decref(final_job);
	json_decref(final_enc);
	return err;
}

/* "network": true and, when ports were given, "expose": [...]. 0, or -1
 * without memory. */
static int add_network(json_t *req, const uint16_t *ports, size_t n)
{
	if (n) {
		json_t *a = json_array();
		for (size_t i = 0; a && i < n; i++)
			if (json_array_append_new(a, json_integer(ports[i])) != 0) {
				json_decref(a);
				return -1;
			}
		if (!a || json_object_set_new(req, "expose", a) != 0)
			return -1;
	}
	return json_object_set_new(req, "network", json_true());
}

int cl_enclave_create(int argc, char **argv)
{
	const char *image = NULL, *name = NULL, *memory = "64M", *cpus_s = "1", *level = "software";
	const char *zone = NULL, *rack = NULL, *allow = NULL, *timeout_s = NULL;
	const char *near[MAX_PROXIMITY], *far[MAX_PROXIMITY];
	size_t nnear = 0, nfar = 0;
	bool wait = false, await_bundle = false, suspendable = false, network = false;
	const char *expose = NULL;
	uint16_t ports[CL_PROTO_EXPOSE_MAX];
	size_t nports = 0;
	const cl_cli_option opts[] = {
		{"network", CL_OPT_FLAG, .flag = &network},
		{"expose", CL_OPT_VALUE, .value = &expose},
		{"image", CL_OPT_VALUE, .value = &image},
		{"await-bundle", CL_OPT_FLAG, .flag = &await_bundle},
		{"suspendable", CL_OPT_FLAG, .flag = &suspendable},
		{"name", CL_OPT_VALUE, .value = &name},
		{"memory", CL_OPT_VALUE, .value = &memory},
		{"cpus", CL_OPT_VALUE, .value = &cpus_s},
		{"min-level", CL_OPT_VALUE, .value = &level},
		{"zone", CL_OPT_VALUE, .value = &zone},
		{"rack", CL_OPT_VALUE, .value = &rack},
		{"near", CL_OPT_MULTI, .values = near, .max_values = MAX_PROXIMITY, .count = &nnear},
		{"far", CL_OPT_MULTI, .values = far, .max_values = MAX_PROXIMITY, .count = &nfar},
		{"allow", CL_OPT_VALUE, .value = &allow},
		{"wait", CL_OPT_FLAG, .flag = &wait},
		{"timeout", CL_OPT_VALUE, .value = &timeout_s},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	char usage[2048];
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, create_usage(usage, sizeof(usage)), &rc))
		return rc;
	cl_err err;
	if (!image || !*image)
		return cl_cli_usage("enclave create: --image is required");
	if (!name || !*name)
		return cl_cli_usage("enclave create: --name is required");
	if (!cl_proto_valid_name(name))
		return cl_cli_usage("enclave create: --name must be 1..%u characters of [a-z0-9-], "
				    "starting with a letter or digit",
				    CL_PROTO_NAME_LEN_MAX);
	if ((zone && !cl_proto_valid_name(zone)) || (rack && !cl_proto_valid_name(rack)))
		return cl_cli_usage("enclave create: --%s must be 1..%u characters of [a-z0-9-], "
				    "starting with a letter or digit",
				    zone && !cl_proto_valid_name(zone) ? "zone" : "rack", CL_PROTO_NAME_LEN_MAX);
	uint64_t mib, cpus, timeout = CL_ENCLAVE_WAIT_DEFAULT_S;
	if ((err = cl_cli_parse_enclave_memory(memory, "--memory", &mib)) != CL_OK ||
	    (err = cl_cli_parse_uint(cpus_s, CL_PROTO_CPUS_MAX, &cpus)) != CL_OK ||
	    (timeout_s && (err = cl_cli_parse_uint(timeout_s, 86400, &timeout)) != CL_OK))
		return cl_cli_fail_usage(err);
	if (cpus == 0)
		return cl_cli_usage("enclave create: --cpus must be at least 1");
	if (expose && !network)
		return cl_cli_usage("enclave create: --expose needs --network");
	if (expose && (err = cl_cli_parse_ports(expose, ports, CL_PROTO_EXPOSE_MAX, &nports)) != CL_OK)
		return cl_cli_fail_usage(err);
	bool level_ok = false;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		level_ok |= strcmp(level, levels[i]) == 0;
	if (!level_ok)
		return cl_cli_usage("enclave create: unknown --min-level '%s' (software, tpm, sev-snp, "
				    "tdx, sgx)",
				    level);

	json_t *req = NULL, *resp = NULL;
	/* Validate the whole request before touching the server. */
	if ((err = build_create(name, "img-placeholder", mib, cpus, level, zone, rack, near, nnear, far,
				nfar, allow, &req)) != CL_OK)
		return cl_cli_fail_usage(err);
	json_decref(req);
	req = NULL;

	cl_cli_conn *c = NULL;
	char *image_id = NULL;
	struct stat st;
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	if (stat(image, &st) == 0) {
		CL_GUARD_OUT(err, upload_image(c, image, &image_id));
	} else if (cl_cli_valid_id(image) && !strchr(image, '/') && !strchr(image, '.')) {
		image_id = strdup(image);
		if (!image_id) {
			err = CL_ENOMEM;
			goto out;
		}
	} else {
		err = cl_errorf(CL_EINVAL, "enclave create: no such image file '%s'", image);
		goto out;
	}
	CL_GUARD_OUT(err, build_create(name, image_id, mib, cpus, level, zone, rack, near, nnear, far,
				       nfar, allow, &req));
	if ((await_bundle && json_object_set_new(req, "await_bundle", json_true()) != 0) ||
	    (suspendable && json_object_set_new(req, "suspendable", json_true()) != 0) ||
	    (network && add_network(req, ports, nports) != 0)) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, cl_cli_call(c, "POST", "/v1/enclaves", req, &resp, NULL));
	json_t *enc = json_object_get(resp, "enclave");
	const char *id = json_string_value(json_object_get(enc, "id"));
	const char *key = json_string_value(json_object_get(resp, "access_key"));
	const char *job = json_string_value(json_object_get(json_object_get(resp, "job"), "id"));
	if (!id || !cl_cli_valid_id(id) || !key) {
		err = cl_errorf(CL_EPROTO, "server sent an incomplete create answer");
		goto out;
	}
	if (cl_cli_global()->json) {
		/* One document on stdout: with --wait the final one, but printed
		 * even when the wait fails or is interrupted — it holds the key. */
		if (wait)
			err = wait_created(c, id, job, timeout, resp);
		cl_cli_print_json(resp);
		fflush(stdout);
		goto out;
	}
	char st_text[64];
	printf("enclave:    %s (%s)\n", id, name);
	printf("state:      %s\n", cl_cli_json_text(json_object_get(enc, "state"), st_text, sizeof(st_text)));
	printf("access key: %s\n", key);
	fflush(stdout);
	fputs("warning: save the access key now: it is shown only once and cannot be recovered\n",
	      stderr);
	if (wait) {
		CL_GUARD_OUT(err, wait_created(c, id, job, timeout, NULL));
		fprintf(stderr, "enclave %s is running\n", id);
	}
out:
	json_decref(req);
	cl_cli_json_wipe(resp, "access_key");
	json_decref(resp);
	free(image_id);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

cl_err cl_enclave_wait_state(cl_cli_conn *c, const char *id, const char *want, long timeout_ms,
			     json_t **final)
{
	char path[256];
	snprintf(path, sizeof(path), "/v1/enclaves/%s", id);
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		json_t *e = NULL;
		CL_GUARD(cl_cli_call(c, "GET", path, NULL, &e, NULL));
		json_t *obj = json_object_get(e, "enclave");
		const char *state = json_string_value(json_object_get(obj ? obj : e, "state"));
		char st[64];
		snprintf(st, sizeof(st), "%s", state ? state : "unknown");
		const char *why = json_string_value(json_object_get(obj ? obj : e, "error"));
		char reason[256];
		snprintf(reason, sizeof(reason), "%s", why ? why : "");
		if (strcmp(st, want) == 0) {
			if (final) {
				*final = json_incref(obj ? obj : e);
				json_object_del(*final, "access_key"); /* never shown after create */
			}
			json_decref(e);
			return CL_OK;
		}
		json_decref(e);
		if (cl_cli_interrupted())
			return cl_errorf(CL_ETIMEOUT, "interrupted while enclave %s is %s", id, st);
		if (strcmp(st, "failed") == 0 || (strcmp(want, "running") == 0 && strcmp(st, "exited") == 0))
			return cl_errorf(CL_ECONFLICT, "enclave %s is %s%s%s", id, st, *reason ? ": " : "",
					 reason);
		if (cl_now_mono_ns() > deadline)
			return cl_errorf(CL_ETIMEOUT, "enclave %s still %s after %ld s", id, st,
					 timeout_ms / 1000);
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static cl_err add_enclave_row(cl_cli_table *t, const json_t *e)
{
	static const char *const keys[] = {"id", "name", "state", "memory_mib", "cpus", "min_level", "host_id"};
	char b[7][160];
	const char *row[7];
	for (int k = 0; k < 7; k++) {
		const json_t *v = json_object_get(e, keys[k]);
		if (!v && k == 6)
			v = json_object_get(e, "host");
		if (!v && k == 5)
			v = json_object_get(e, "level");
		row[k] = cl_cli_json_text(v, b[k], sizeof(b[k]));
	}
	return cl_cli_table_add(t, row);
}

int cl_enclave_list(int argc, char **argv)
{
	const char *limit_s = NULL, *after = NULL;
	const cl_cli_option opts[] = {
		{"limit", CL_OPT_VALUE, .value = &limit_s},
		{"after", CL_OPT_VALUE, .value = &after},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, list_usage, &rc))
		return rc;
	static const char *const header[] = {"ID", "NAME", "STATE", "MEMORY_MIB", "CPUS", "LEVEL", "HOST"};
	const cl_cli_list l = {.what = "enclave", .path = "/v1/enclaves", .limit = limit_s, .after = after,
			       .ncols = 7, .header = header, .add_row = add_enclave_row};
	return cl_cli_list_pages(&l);
}

int cl_enclave_describe(int argc, char **argv)
{
	static const cl_cli_option opts[] = {{0}};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, describe_usage, &rc))
		return rc;
	cl_err err;
	if (npos != 1)
		return cl_cli_usage("enclave describe: missing enclave ID");
	if (!cl_cli_valid_id(pos[0]))
		return cl_cli_usage("enclave describe: invalid enclave ID '%s'", pos[0]);
	cl_cli_conn *c = NULL;
	json_t *resp = NULL;
	char path[256];
	snprintf(path, sizeof(path), "/v1/enclaves/%s", pos[0]);
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "GET", path, NULL, &resp, NULL));
	json_t *obj = json_object_get(resp, "enclave");
	if (!obj)
		obj = resp;
	/* The access key is never shown after create. */
	if (cl_cli_global()->json) {
		json_object_del(obj, "access_key");
		cl_cli_print_json(resp);
	} else {
		json_object_set_new(obj, "access_key", json_string("(hidden)"));
		cl_cli_print_object(obj);
	}
out:
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

static const struct {
	const char *verb;
	int (*fn)(int, char **);
	const char *summary;
} verbs[] = {
	{"create", cl_enclave_create, "create an enclave from an image (prints its access key once)"},
	{"list", cl_enclave_list, "list enclaves"},
	{"describe", cl_enclave_describe, "show one enclave"},
	{"start", cl_enclave_start, "start a stopped enclave"},
	{"stop", cl_enclave_stop, "stop an enclave"},
	{"destroy", cl_enclave_destroy, "destroy an enclave and its state"},
	{"grow", cl_enclave_grow, "give an enclave more memory"},
	{"shrink", cl_enclave_shrink, "give an enclave less memory"},
	{"send", cl_enclave_send, "send data to the enclave's application (stdin)"},
	{"recv", cl_enclave_recv, "receive the application's output (stdout)"},
	{"logs", cl_enclave_logs, "show the application's recent stderr"},
	{"attest", cl_enclave_attest, "get an attestation document signed by the enclave's host"},
	{"measure", cl_enclave_measure, "measure the running enclave's code (PCR5) into a signed document"},
	{"provision", cl_enclave_provision, "verify the enclave, then send it an encrypted bundle to run"},
	{"suspend", cl_enclave_suspend, "store the enclave's state, encrypted, and stop it (--suspendable)"},
	{"restore", cl_enclave_restore, "bring a suspended enclave's state back, on a host that fits"},
};

int cl_cmd_enclave(int argc, char **argv)
{
	if (argc < 1 && cl_cli_global()->json)
		return cl_cli_usage("missing verb (see cloister enclave --help)");
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		FILE *f = argc < 1 ? stderr : stdout;
		fputs("usage: cloister enclave <verb> [options]   (--help after a verb for details)\n\n", f);
		for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
			fprintf(f, "  %-9s %s\n", verbs[i].verb, verbs[i].summary);
		return argc < 1 ? cl_cli_usage("missing verb") : 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[0], verbs[i].verb) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	return cl_cli_usage("unknown verb 'enclave %s' (see cloister enclave --help)", argv[0]);
}
