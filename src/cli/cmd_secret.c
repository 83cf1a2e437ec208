/* cmd_secret.c — `cloister secret put|policy|list|rm|events|release`: the
 * key broker (docs/broker.md, docs/cli/secret.md). `release` is the outside
 * half of a release: a challenge, then presenting the document the enclave
 * made (with its own key, through libcloister-enclave) and handing back the
 * wrapped secret, which only the enclave can open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_enclave.h"
#include "cli/commands.h"
#include "common/util.h"
#include "common/wrap.h"

#define VALUE_MAX 4096
#define MAX_PCRS 16

/* CL_ENSURE that unwinds through out: instead of returning. */
#define ENSURE_OUT(err, cond, code, ...)                                                                             \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			(err) = cl_errorf((code), __VA_ARGS__);                                                        \
			goto out;                                                                                      \
		}                                                                                                      \
	} while (0)

static const char secret_verbs[] = "usage: cloister secret VERB ...\n"
				   "\n"
				   "verbs:\n"
				   "  put      register a secret for an enclave with a PCR policy\n"
				   "  policy   replace a secret's PCR policy (audited)\n"
				   "  list     the tenant's secrets (never values)\n"
				   "  rm       delete a secret\n"
				   "  events   a secret's audit trail (changes, releases, refusals)\n"
				   "  release  a challenge, or present an enclave's document for the wrapped secret\n";

static const char put_usage[] =
	"usage: cloister secret put NAME --enclave ID --value-file FILE --pcr N=HEX... [--json]\n"
	"\n"
	"Registers a secret (1..4096 bytes from FILE) that the key broker releases only\n"
	"to the enclave ID presenting a fresh attestation document whose registers\n"
	"equal every --pcr N=HEX (N 0..15, HEX 96 hex digits; at least one).\n";

static const char policy_usage[] = "usage: cloister secret policy NAME --pcr N=HEX... [--json]\n"
				   "\n"
				   "Replaces the secret's PCR policy (every --pcr must match; at least one).\n"
				   "The change is recorded in the secret's events.\n";

static const char list_usage[] = "usage: cloister secret list [--json]\n"
				 "\n"
				 "Lists the tenant's secrets: name, enclave, policy. Never the values.\n";

static const char rm_usage[] = "usage: cloister secret rm NAME [--json]\n"
			       "\n"
			       "Deletes the secret (its events stay).\n";

static const char events_usage[] = "usage: cloister secret events NAME [--json]\n"
				   "\n"
				   "The secret's audit trail: created, policy changes, releases and refusals\n"
				   "(with the reason code).\n";

static const char release_usage[] =
	"usage: cloister secret release NAME --challenge [--json]\n"
	"       cloister secret release NAME --document FILE [--out FILE] [--json]\n"
	"\n"
	"The two steps of a release from outside the enclave; the secret itself is\n"
	"unwrapped only inside it (libcloister-enclave, docs/sdk.md):\n"
	"\n"
	"  --challenge        ask the broker for a fresh nonce: printed as hex (with\n"
	"                     --json: {\"nonce\", \"enclave\", \"expires_at\"}); hand it\n"
	"                     to the enclave, which attests with it and its own key\n"
	"  --document FILE    present the enclave's document (raw CBOR); the wrapped\n"
	"                     secret is printed as base64 (hand it to the enclave)\n"
	"  -o, --out FILE     with --document: write the wrapped secret (raw) to FILE\n";

/* {"pcrs": {"N": "HEX", ...}} from N=HEX arguments. */
static cl_err policy_json(const char *const *pcr, size_t n, json_t **out)
{
	json_t *pcrs = json_object();
	*out = NULL;
	CL_ENSURE(pcrs, CL_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(pcr[i], '=');
		char idx[4];
		uint64_t v;
		size_t il = eq ? (size_t)(eq - pcr[i]) : 0;
		uint8_t b[48];
		if (!eq || il == 0 || il >= sizeof(idx)) {
			json_decref(pcrs);
			return cl_errorf(CL_EINVAL, "--pcr must be N=HEX, not '%.40s'", pcr[i]);
		}
		memcpy(idx, pcr[i], il);
		idx[il] = '\0';
		if (cl_cli_parse_uint(idx, 15, &v) != CL_OK || strlen(eq + 1) != 96 || cl_hex_decode(eq + 1, b, 48) != CL_OK) {
			json_decref(pcrs);
			return cl_errorf(CL_EINVAL, "--pcr N=HEX: N is 0..15 and HEX 96 hex digits (48 bytes)");
		}
		snprintf(idx, sizeof(idx), "%u", (unsigned)v);
		if (json_object_set_new(pcrs, idx, json_string(eq + 1)) != 0) {
			json_decref(pcrs);
			return CL_ENOMEM;
		}
	}
	*out = json_pack("{s:o}", "pcrs", pcrs);
	return *out ? CL_OK : CL_ENOMEM;
}

static int put(int argc, char **argv)
{
	const char *enclave = NULL, *value_file = NULL, *pcr[MAX_PCRS];
	size_t npcr = 0, npos;
	const cl_cli_option opts[] = {
		{"enclave", CL_OPT_VALUE, .value = &enclave},
		{"value-file", CL_OPT_VALUE, .value = &value_file},
		{"pcr", CL_OPT_MULTI, .values = pcr, .max_values = MAX_PCRS, .count = &npcr},
		{0},
	};
	const char *pos[1];
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, put_usage, &rc))
		return rc;
	if (npos != 1)
		return cl_cli_usage("secret put: missing NAME");
	if (!enclave || !cl_cli_valid_id(enclave))
		return cl_cli_usage("secret put: --enclave ID is required");
	if (!value_file)
		return cl_cli_usage("secret put: --value-file FILE is required");
	if (npcr == 0)
		return cl_cli_usage("secret put: at least one --pcr N=HEX is required");
	json_t *pol = NULL, *req = NULL, *resp = NULL;
	cl_cli_conn *c = NULL;
	char *b64 = NULL;
	cl_buf v;
	cl_buf_init(&v, VALUE_MAX);
	cl_err err = policy_json(pcr, npcr, &pol);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	if ((err = cl_file_read(value_file, VALUE_MAX, &v)) != CL_OK) {
		if (err == CL_ETOOBIG)
			err = cl_errorf(CL_ETOOBIG, "%s: a secret is at most %d bytes", value_file, VALUE_MAX);
		goto out;
	}
	if (v.len == 0) {
		err = cl_errorf(CL_EINVAL, "%s is empty", value_file);
		goto out;
	}
	CL_GUARD_OUT(err, cl_base64_encode(v.data, v.len, &b64));
	if (!(req = json_pack("{s:s,s:s,s:s,s:O}", "name", pos[0], "value", b64, "enclave", enclave, "policy", pol))) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "POST", "/v1/secrets", req, &resp, NULL));
	if (cl_cli_global()->json)
		cl_cli_print_json(resp);
	else
		printf("secret %s registered for enclave %s\n", pos[0], enclave);
out:
	if (req)
		cl_cli_json_wipe(req, "value");
	if (b64)
		explicit_bzero(b64, strlen(b64));
	free(b64);
	if (v.data)
		explicit_bzero(v.data, v.len);
	cl_buf_free(&v);
	json_decref(pol);
	json_decref(req);
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

static int policy(int argc, char **argv)
{
	const char *pcr[MAX_PCRS];
	size_t npcr = 0, npos;
	const cl_cli_option opts[] = {
		{"pcr", CL_OPT_MULTI, .values = pcr, .max_values = MAX_PCRS, .count = &npcr},
		{0},
	};
	const char *pos[1];
	int rc;
	char path[256];
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, policy_usage, &rc))
		return rc;
	if (npos != 1 || !cl_cli_valid_id(pos[0]))
		return cl_cli_usage("secret policy: missing or invalid NAME");
	if (npcr == 0)
		return cl_cli_usage("secret policy: at least one --pcr N=HEX is required");
	json_t *pol = NULL, *resp = NULL;
	cl_cli_conn *c = NULL;
	cl_err err = policy_json(pcr, npcr, &pol);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	snprintf(path, sizeof(path), "/v1/secrets/%s/policy", pos[0]);
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "PUT", path, pol, &resp, NULL));
	if (cl_cli_global()->json)
		cl_cli_print_json(resp);
	else
		printf("secret %s: policy replaced\n", pos[0]);
out:
	json_decref(pol);
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

/* GET every page of path (which has a '?') into one array *all. */
static cl_err get_all(cl_cli_conn *c, const char *base, json_t **all)
{
	char path[512], cursor[128] = "";
	json_t *page = NULL;
	cl_err err = CL_OK;
	CL_ENSURE((*all = json_array()), CL_ENOMEM, "out of memory");
	for (int pages = 0; pages < 10000; pages++) {
		snprintf(path, sizeof(path), "%s%s%s", base, cursor[0] ? "&after=" : "", cursor);
		json_decref(page);
		page = NULL;
		CL_GUARD_OUT(err, cl_cli_call(c, "GET", path, NULL, &page, NULL));
		json_t *items = json_object_get(page, "items");
		ENSURE_OUT(err, json_is_array(items) && json_array_extend(*all, items) == 0, CL_EPROTO,
			      "the server sent a list without items");
		const char *next = json_string_value(json_object_get(page, "next"));
		if (!next || !*next)
			break;
		ENSURE_OUT(err, cl_cli_valid_id(next) && strlen(next) < sizeof(cursor), CL_EPROTO,
			      "the server sent an invalid cursor");
		snprintf(cursor, sizeof(cursor), "%s", next);
	}
out:
	json_decref(page);
	return err;
}

static int list_or_events(int argc, char **argv, bool ev)
{
	const cl_cli_option opts[] = {{0}};
	const char *pos[1];
	size_t npos;
	int rc;
	char base[256];
	if (cl_cli_parse_or_help(argc, argv, opts, pos, ev ? 1 : 0, &npos, ev ? events_usage : list_usage, &rc))
		return rc;
	if (ev && (npos != 1 || !cl_cli_valid_id(pos[0])))
		return cl_cli_usage("secret events: missing or invalid NAME");
	cl_cli_conn *c = NULL;
	json_t *all = NULL, *it;
	size_t i;
	cl_err err;
	if (ev)
		snprintf(base, sizeof(base), "/v1/secrets/%s/events?limit=500", pos[0]);
	else
		snprintf(base, sizeof(base), "/v1/secrets?limit=500");
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, get_all(c, base, &all));
	if (cl_cli_global()->json) {
		json_t *o = json_pack("{s:O}", "items", all);
		cl_cli_print_json(o);
		json_decref(o);
		goto out;
	}
	json_array_foreach(all, i, it)
	{
		if (ev) {
			const char *reason = json_string_value(json_object_get(it, "reason"));
			printf("%s  %-9s %s%s%s\n", json_string_value(json_object_get(it, "time")),
			       json_string_value(json_object_get(it, "kind")), reason ? reason : "", reason ? ": " : "",
			       json_string_value(json_object_get(it, "detail")));
		} else {
			char *pol = json_dumps(json_object_get(json_object_get(it, "policy"), "pcrs"), JSON_COMPACT);
			printf("%-24s %-24s %s\n", json_string_value(json_object_get(it, "name")),
			       json_string_value(json_object_get(it, "enclave")), pol ? pol : "");
			free(pol);
		}
	}
out:
	json_decref(all);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

static int rm(int argc, char **argv)
{
	const cl_cli_option opts[] = {{0}};
	const char *pos[1];
	size_t npos;
	int rc;
	char path[256];
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, rm_usage, &rc))
		return rc;
	if (npos != 1 || !cl_cli_valid_id(pos[0]))
		return cl_cli_usage("secret rm: missing or invalid NAME");
	cl_cli_conn *c = NULL;
	json_t *resp = NULL;
	cl_err err;
	snprintf(path, sizeof(path), "/v1/secrets/%s", pos[0]);
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "DELETE", path, NULL, &resp, NULL));
	if (cl_cli_global()->json)
		cl_cli_print_json(resp);
	else
		printf("secret %s deleted\n", pos[0]);
out:
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

/* --challenge: a fresh nonce for NAME's enclave. */
static cl_err do_challenge(cl_cli_conn *c, const char *name)
{
	char path[256];
	json_t *body = json_object(), *chal = NULL;
	cl_err err;
	ENSURE_OUT(err, body, CL_ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "/v1/secrets/%s/challenge", name);
	CL_GUARD_OUT(err, cl_cli_call(c, "POST", path, body, &chal, NULL));
	const char *nonce = json_string_value(json_object_get(chal, "nonce"));
	ENSURE_OUT(err, nonce, CL_EPROTO, "the server's challenge holds no nonce");
	if (cl_cli_global()->json)
		cl_cli_print_json(chal);
	else
		printf("%s\n", nonce);
out:
	json_decref(body);
	json_decref(chal);
	return err;
}

/* --document: present it; the wrapped secret to out_file (raw) or stdout (base64). */
static cl_err do_release(cl_cli_conn *c, const char *name, const char *doc_file, const char *out_file)
{
	char path[256], *b64 = NULL;
	json_t *body = NULL, *rel = NULL;
	cl_buf doc, w;
	cl_err err;
	cl_buf_init(&doc, 64 * 1024);
	cl_buf_init(&w, VALUE_MAX + CL_WRAP_OVERHEAD + 64);
	CL_GUARD_OUT(err, cl_file_read(doc_file, 64 * 1024, &doc));
	CL_GUARD_OUT(err, cl_base64_encode(doc.data, doc.len, &b64));
	ENSURE_OUT(err, (body = json_pack("{s:s}", "document", b64)), CL_ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "/v1/secrets/%s/release", name);
	CL_GUARD_OUT(err, cl_cli_call(c, "POST", path, body, &rel, NULL));
	const char *wb = json_string_value(json_object_get(rel, "wrapped"));
	ENSURE_OUT(err, wb && cl_base64_decode(wb, &w) == CL_OK, CL_EPROTO, "the server's answer holds no wrapped secret");
	if (out_file) {
		CL_GUARD_OUT(err, cl_file_write_atomic(out_file, w.data, w.len, 0600));
		if (cl_cli_global()->json) {
			json_t *o = json_pack("{s:s,s:I}", "file", out_file, "bytes", (json_int_t)w.len);
			cl_cli_print_json(o);
			json_decref(o);
		} else {
			fprintf(stderr, "wrote %s (%zu bytes)\n", out_file, w.len);
		}
	} else if (cl_cli_global()->json) {
		cl_cli_print_json(rel);
	} else {
		printf("%s\n", wb);
	}
out:
	free(b64);
	json_decref(body);
	json_decref(rel);
	cl_buf_free(&doc);
	cl_buf_free(&w);
	return err;
}

static int release(int argc, char **argv)
{
	const char *doc = NULL, *out_file = NULL;
	bool challenge = false;
	const cl_cli_option opts[] = {
		{"challenge", CL_OPT_FLAG, .flag = &challenge},
		{"document", CL_OPT_VALUE, .value = &doc},
		{"out", CL_OPT_VALUE, .value = &out_file, .short_name = 'o'},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, release_usage, &rc))
		return rc;
	if (npos != 1 || !cl_cli_valid_id(pos[0]))
		return cl_cli_usage("secret release: missing or invalid NAME");
	if (challenge == (doc != NULL))
		return cl_cli_usage("secret release: give exactly one of --challenge and --document FILE");
	if (challenge && out_file)
		return cl_cli_usage("secret release: --out goes with --document");
	cl_cli_conn *c = NULL;
	cl_err err = cl_cli_connect(&c);
	if (err == CL_OK)
		err = challenge ? do_challenge(c, pos[0]) : do_release(c, pos[0], doc, out_file);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

static int list_cmd(int argc, char **argv)
{
	return list_or_events(argc, argv, false);
}

static int events_cmd(int argc, char **argv)
{
	return list_or_events(argc, argv, true);
}

int cl_cmd_secret(int argc, char **argv)
{
	static const struct {
		const char *verb;
		int (*fn)(int, char **);
	} verbs[] = {
		{"put", put}, {"policy", policy}, {"list", list_cmd}, {"rm", rm}, {"events", events_cmd}, {"release", release},
	};
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		fputs(secret_verbs, argc < 1 ? stderr : stdout);
		return argc < 1 ? cl_cli_usage("missing verb (put, policy, list, rm, events, release)") : 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[0], verbs[i].verb) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	return cl_cli_usage("secret: unknown verb '%s' (put, policy, list, rm, events, release)", argv[0]);
}
