/* cmd_token.c — `cloister token create|list|revoke`: API tokens. A new
 * token is printed once (the control plane keeps only a hash of it) and
 * expires (default 90 days); list shows no secret; revoke takes effect at
 * the token's next request. Pages: docs/cli/token-{create,list,revoke}.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"

static const char token_verbs[] = "usage: cloister token VERB ...\n"
				  "\n"
				  "verbs:\n"
				  "  create   a new API token (cloister token create --name NAME --tenant ID)\n"
				  "  list     the tokens the caller may see (cloister token list)\n"
				  "  revoke   end a token now (cloister token revoke ID)\n";

static const char create_usage[] =
	"usage: cloister token create --name NAME (--tenant TENANT_ID | --new-tenant TENANT_NAME)\n"
	"                             [--kind admin|tenant|engineer|metrics] [--ttl TTL] [--json]\n"
	"\n"
	"Creates an API token for a tenant (an admin token is needed; a tenant token\n"
	"may create tokens for its own tenant). With --new-tenant the tenant is created\n"
	"first. The token is printed once: save it.\n"
	"\n"
	"  --name NAME               a label for the token\n"
	"  --tenant TENANT_ID        an existing tenant\n"
	"  --new-tenant TENANT_NAME  create this tenant and a token for it\n"
	"  --kind KIND               tokens of the provider tenant are admin tokens, or\n"
	"                            with --kind engineer firmware-release tokens (propose,\n"
	"                            co-sign, read; no approval), or with --kind metrics\n"
	"                            scrape tokens (GET /metrics only); other tenants' are\n"
	"                            tenant tokens\n"
	"  --ttl TTL                 lifetime: a number and a unit s, m, h or d (\"30d\",\n"
	"                            \"12h\", \"90s\"); default 90d, at most 365d. A token made\n"
	"                            with a tenant token never outlives that token\n";

static const char list_usage[] =
	"usage: cloister token list [--tenant TENANT_ID] [--limit N] [--after CURSOR] [--json]\n"
	"\n"
	"Lists API tokens, never their secrets: an admin token sees every token (or one\n"
	"tenant's with --tenant), a tenant token its own tenant's. STATE is active,\n"
	"expired or revoked. Without --limit/--after every page is fetched; with them\n"
	"one page is printed and the next page's cursor (if any) is shown on stderr.\n";

static const char revoke_usage[] = "usage: cloister token revoke TOKEN_ID [--json]\n"
				   "\n"
				   "Revokes a token (tok-...): its next request is refused (401 \"token\n"
				   "revoked\"). An admin token may revoke any token but a host's (remove the\n"
				   "host instead) and the last usable admin token; a tenant token its own\n"
				   "tenant's, itself included.\n";

static int token_create(int argc, char **argv)
{
	const char *name = NULL, *tenant = NULL, *new_tenant = NULL, *kind = NULL, *ttl = NULL;
	const cl_cli_option opts[] = {
		{"name", CL_OPT_VALUE, .value = &name},
		{"tenant", CL_OPT_VALUE, .value = &tenant},
		{"new-tenant", CL_OPT_VALUE, .value = &new_tenant},
		{"kind", CL_OPT_VALUE, .value = &kind},
		{"ttl", CL_OPT_VALUE, .value = &ttl},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, create_usage, &rc))
		return rc;
	cl_err err;
	if (!name || !*name)
		return cl_cli_usage("token create: --name is required");
	if (!!tenant == !!new_tenant)
		return cl_cli_usage("token create: give exactly one of --tenant or --new-tenant");
	if (tenant && !cl_cli_valid_id(tenant))
		return cl_cli_usage("token create: invalid tenant id '%s'", tenant);
	if (kind && strcmp(kind, "admin") != 0 && strcmp(kind, "tenant") != 0 && strcmp(kind, "engineer") != 0 &&
	    strcmp(kind, "metrics") != 0)
		return cl_cli_usage("token create: --kind must be admin, tenant, engineer or metrics");
	if (ttl && !*ttl)
		return cl_cli_usage("token create: --ttl needs a value such as 30d");

	cl_cli_conn *c = NULL;
	json_t *treq = NULL, *tresp = NULL, *req = NULL, *resp = NULL;
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	if (new_tenant) {
		treq = json_pack("{s:s}", "name", new_tenant);
		if (!treq) {
			err = CL_ENOMEM;
			goto out;
		}
		CL_GUARD_OUT(err, cl_cli_call(c, "POST", "/v1/tenants", treq, &tresp, NULL));
		json_t *tobj = json_object_get(tresp, "tenant");
		tenant = json_string_value(json_object_get(tobj ? tobj : tresp, "id"));
		if (!tenant) {
			err = cl_errorf(CL_EPROTO, "server created a tenant but sent no id");
			goto out;
		}
	}
	req = json_pack("{s:s,s:s}", "tenant_id", tenant, "name", name);
	if (req && kind && json_object_set_new(req, "kind", json_string(kind)) != 0) {
		json_decref(req);
		req = NULL;
	}
	if (req && ttl && json_object_set_new(req, "ttl", json_string(ttl)) != 0) {
		json_decref(req);
		req = NULL;
	}
	if (!req) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, cl_cli_call(c, "POST", "/v1/tokens", req, &resp, NULL));
	const char *token = json_string_value(json_object_get(resp, "token"));
	if (!token) {
		err = cl_errorf(CL_EPROTO, "server sent no token");
		goto out;
	}
	if (cl_cli_global()->json) {
		if (json_object_get(resp, "tenant_id") == NULL)
			json_object_set_new(resp, "tenant_id", json_string(tenant));
		cl_cli_print_json(resp);
	} else {
		char b[160];
		printf("tenant: %s\n", tenant);
		printf("id:     %s\n", cl_cli_json_text(json_object_get(resp, "id"), b, sizeof(b)));
		printf("kind:   %s\n", cl_cli_json_text(json_object_get(resp, "kind"), b, sizeof(b)));
		printf("expiry: %s\n", cl_cli_json_text(json_object_get(resp, "expires_at"), b, sizeof(b)));
		printf("token:  %s\n", token);
	}
	fflush(stdout);
	fputs("warning: save this token now: it is shown only once and cannot be recovered\n", stderr);
out:
	json_decref(treq);
	json_decref(tresp);
	json_decref(req);
	cl_cli_json_wipe(resp, "token");
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

static cl_err add_token_row(cl_cli_table *t, const json_t *tok)
{
	static const char *const keys[] = {"id", "kind", "tenant_id", "name", "state", "created_at", "expires_at"};
	char b[7][160];
	const char *row[7];
	for (size_t k = 0; k < 7; k++)
		row[k] = cl_cli_json_text(json_object_get(tok, keys[k]), b[k], sizeof(b[k]));
	if (strcmp(row[6], "-") == 0)
		row[6] = "never";
	return cl_cli_table_add(t, row);
}

static int token_list(int argc, char **argv)
{
	const char *tenant = NULL, *limit_s = NULL, *after = NULL;
	const cl_cli_option opts[] = {
		{"tenant", CL_OPT_VALUE, .value = &tenant},
		{"limit", CL_OPT_VALUE, .value = &limit_s},
		{"after", CL_OPT_VALUE, .value = &after},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, list_usage, &rc))
		return rc;
	if (tenant && !cl_cli_valid_id(tenant))
		return cl_cli_usage("token list: invalid tenant id '%s'", tenant);
	char filter[128] = "";
	if (tenant)
		snprintf(filter, sizeof(filter), "&tenant=%s", tenant);
	static const char *const header[] = {"ID", "KIND", "TENANT", "NAME", "STATE", "CREATED", "EXPIRES"};
	const cl_cli_list l = {.what = "token", .path = "/v1/tokens", .filter = filter, .limit = limit_s,
			       .after = after, .ncols = 7, .header = header, .add_row = add_token_row};
	return cl_cli_list_pages(&l);
}

static int token_revoke(int argc, char **argv)
{
	static const cl_cli_option opts[] = {{0}};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, revoke_usage, &rc))
		return rc;
	if (npos != 1)
		return cl_cli_usage("token revoke: missing TOKEN_ID (tok-...; see cloister token list)");
	if (strncmp(pos[0], "clt_", 4) == 0) /* a whole token pasted: do not send (or echo) its secret */
		return cl_cli_usage("token revoke: give the token's id (tok-...), not the token itself");
	if (!cl_cli_valid_id(pos[0]))
		return cl_cli_usage("token revoke: invalid token id '%.64s'", pos[0]);
	cl_cli_conn *c = NULL;
	json_t *resp = NULL;
	char path[256];
	cl_err err;
	snprintf(path, sizeof(path), "/v1/tokens/%s", pos[0]);
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "DELETE", path, NULL, &resp, NULL));
	if (cl_cli_global()->json) {
		cl_cli_print_json(resp);
	} else {
		char b[160];
		printf("revoked: %s\n", cl_cli_json_text(json_object_get(resp, "id"), b, sizeof(b)));
	}
out:
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

int cl_cmd_token(int argc, char **argv)
{
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		fputs(token_verbs, argc < 1 ? stderr : stdout);
		return argc < 1 ? cl_cli_usage("missing verb (create, list, revoke)") : 0;
	}
	if (strcmp(argv[0], "create") == 0)
		return token_create(argc - 1, argv + 1);
	if (strcmp(argv[0], "list") == 0)
		return token_list(argc - 1, argv + 1);
	if (strcmp(argv[0], "revoke") == 0)
		return token_revoke(argc - 1, argv + 1);
	return cl_cli_usage("unknown verb 'token %s' (expected: create, list, revoke)", argv[0]);
}
