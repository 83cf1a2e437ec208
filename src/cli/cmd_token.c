/* cmd_token.c — `cloister token create`: API tokens for a tenant, optionally
 * creating the tenant first. The token is printed once; the control plane
 * keeps only a hash of it. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"

static const char token_usage[] =
	"usage: cloister token create --name NAME (--tenant TENANT_ID | --new-tenant TENANT_NAME)\n"
	"                             [--kind admin|tenant|engineer] [--json]\n"
	"\n"
	"Creates an API token for a tenant (an admin token is needed). With --new-tenant\n"
	"the tenant is created first. The token is printed once: save it.\n"
	"\n"
	"  --name NAME               a label for the token\n"
	"  --tenant TENANT_ID        an existing tenant\n"
	"  --new-tenant TENANT_NAME  create this tenant and a token for it\n"
	"  --kind KIND               tokens of the provider tenant are admin tokens, or\n"
	"                            with --kind engineer firmware-release tokens (propose,\n"
	"                            co-sign, read; no approval); other tenants' are tenant\n";

static int token_create(int argc, char **argv)
{
	const char *name = NULL, *tenant = NULL, *new_tenant = NULL, *kind = NULL;
	const cl_cli_option opts[] = {
		{"name", CL_OPT_VALUE, .value = &name},
		{"tenant", CL_OPT_VALUE, .value = &tenant},
		{"new-tenant", CL_OPT_VALUE, .value = &new_tenant},
		{"kind", CL_OPT_VALUE, .value = &kind},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, token_usage, &rc))
		return rc;
	cl_err err;
	if (!name || !*name)
		return cl_cli_usage("token create: --name is required");
	if (!!tenant == !!new_tenant)
		return cl_cli_usage("token create: give exactly one of --tenant or --new-tenant");
	if (tenant && !cl_cli_valid_id(tenant))
		return cl_cli_usage("token create: invalid tenant id '%s'", tenant);
	if (kind && strcmp(kind, "admin") != 0 && strcmp(kind, "tenant") != 0 && strcmp(kind, "engineer") != 0)
		return cl_cli_usage("token create: --kind must be admin, tenant or engineer");

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

int cl_cmd_token(int argc, char **argv)
{
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		fputs(token_usage, argc < 1 ? stderr : stdout);
		return argc < 1 ? cl_cli_usage("missing verb (create)") : 0;
	}
	if (strcmp(argv[0], "create") == 0)
		return token_create(argc - 1, argv + 1);
	return cl_cli_usage("unknown verb 'token %s' (expected: create)", argv[0]);
}
