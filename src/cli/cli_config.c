/* cli_config.c — global options and where the CLI's settings come from:
 * flags, then environment, then a config file. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/util.h"

#define CL_CLI_CONFIG_MAX (64u * 1024)

static cl_cli_flags global_flags;

const cl_cli_flags *cl_cli_global(void)
{
	return &global_flags;
}

void cl_cli_set_global(const cl_cli_flags *flags)
{
	global_flags = *flags;
}

static const struct {
	const char *name;
	size_t offset;
} value_globals[] = {
	{"server", offsetof(cl_cli_flags, server)},
	{"ca", offsetof(cl_cli_flags, ca)},
	{"token", offsetof(cl_cli_flags, token)},
	{"access-key", offsetof(cl_cli_flags, access_key)},
	{"config", offsetof(cl_cli_flags, config)},
};

cl_err cl_cli_extract_globals(int *argc, char **argv, cl_cli_flags *flags)
{
	int out = 0, n = *argc;
	int i = 0;
	for (; i < n; i++) {
		char *a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "--json") == 0) {
			flags->json = true;
			continue;
		}
		bool taken = false;
		for (size_t k = 0; k < sizeof(value_globals) / sizeof(value_globals[0]) && !taken; k++) {
			const char *name = value_globals[k].name;
			size_t len = strlen(name);
			const char **slot = (const char **)((char *)flags + value_globals[k].offset);
			if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, len) != 0)
				continue;
			if (a[2 + len] == '=') {
				*slot = a + 3 + len;
				taken = true;
			} else if (a[2 + len] == '\0') {
				if (i + 1 >= n)
					return cl_errorf(CL_EINVAL, "option '--%s' needs a value", name);
				*slot = argv[++i];
				taken = true;
			}
		}
		if (!taken)
			argv[out++] = a;
	}
	for (; i < n; i++)
		argv[out++] = argv[i];
	if (out < n)
		argv[out] = NULL;
	*argc = out;
	return CL_OK;
}

void cl_cli_config_free(cl_cli_config *c)
{
	char **secrets[] = {&c->token, &c->access_key};
	for (size_t i = 0; i < 2; i++) {
		if (*secrets[i])
			explicit_bzero(*secrets[i], strlen(*secrets[i]));
		free(*secrets[i]);
	}
	free(c->server);
	free(c->ca);
	free(c->config_path);
	memset(c, 0, sizeof(*c));
}

bool cl_cli_token_id(const char *token, char *out, size_t n)
{
	out[0] = '\0';
	if (!token || strncmp(token, "clt_", 4) != 0)
		return false;
	const char *id = token + 4, *end = strchr(id, '_');
	size_t len = end ? (size_t)(end - id) : 0;
	if (len == 0 || len > CL_PROTO_ID_LEN_MAX || len >= n || end[1] == '\0')
		return false;
	char tmp[CL_PROTO_ID_LEN_MAX + 1];
	memcpy(tmp, id, len);
	tmp[len] = '\0';
	if (!cl_proto_valid_id(tmp))
		return false;
	memcpy(out, tmp, len + 1);
	return true;
}

/* Sets *slot from v (what names the source in an error) unless a stronger
 * source already did. A source that is consulted must not be empty: an
 * empty CLOISTER_TOKEN (a pipeline that failed to make one) must not fall
 * through to the next source's credentials. */
static cl_err set_copy(char **slot, const char *v, const char *what)
{
	if (*slot || !v)
		return CL_OK; /* already set by a stronger source, or nothing to set */
	CL_ENSURE(*v, CL_EINVAL, "%s is set but empty", what);
	*slot = strdup(v);
	return *slot ? CL_OK : CL_ENOMEM;
}

/* Loads {server, ca, token} from path into the still-unset fields of out. */
static cl_err load_config_file(const char *path, cl_cli_config *out)
{
	cl_buf raw;
	cl_buf_init(&raw, CL_CLI_CONFIG_MAX);
	json_t *root = NULL;
	cl_err err = cl_file_read(path, CL_CLI_CONFIG_MAX, &raw);
	if (err != CL_OK) {
		err = cl_cli_error_context(err, "cannot read config file %s", path);
		goto out;
	}
	json_error_t jerr;
	root = json_loadb((const char *)raw.data, raw.len, 0, &jerr);
	if (!json_is_object(root)) {
		err = cl_errorf(CL_EINVAL, "config file %s: not a JSON object (line %d: %s)", path,
				jerr.line, root ? "expected an object" : jerr.text);
		goto out;
	}
	static const char *const keys[] = {"server", "ca", "token"};
	for (size_t i = 0; i < 3; i++) {
		json_t *v = json_object_get(root, keys[i]);
		if (v && (!json_is_string(v) || json_string_length(v) == 0)) {
			err = cl_errorf(CL_EINVAL, "config file %s: \"%s\" must be a non-empty string", path,
					keys[i]);
			goto out;
		}
	}
	CL_GUARD_OUT(err, set_copy(&out->server, json_string_value(json_object_get(root, "server")), path));
	if (!out->token && json_object_get(root, "token"))
		out->token_from = CL_CLI_FROM_FILE;
	CL_GUARD_OUT(err, set_copy(&out->token, json_string_value(json_object_get(root, "token")), path));
	const char *ca = json_string_value(json_object_get(root, "ca"));
	if (!out->ca && ca) {
		if (ca[0] == '/') {
			CL_GUARD_OUT(err, set_copy(&out->ca, ca, path));
		} else {
			/* Relative to the config file's directory. */
			const char *slash = strrchr(path, '/');
			int dlen = slash ? (int)(slash - path) : 1;
			const char *dir = slash ? path : ".";
			char full[PATH_MAX];
			if (snprintf(full, sizeof(full), "%.*s/%s", dlen, dir, ca) >= (int)sizeof(full)) {
				err = cl_errorf(CL_EINVAL, "config file %s: ca path too long", path);
				goto out;
			}
			CL_GUARD_OUT(err, set_copy(&out->ca, full, path));
		}
	}
	CL_GUARD_OUT(err, set_copy(&out->config_path, path, path));
out:
	json_decref(root);
	cl_buf_free(&raw);
	return err;
}

cl_err cl_cli_config_resolve(const cl_cli_flags *flags, cl_cli_getenv_fn env, const char *home,
			     cl_cli_config *out)
{
	memset(out, 0, sizeof(*out));
	cl_err err;
#define ENV(name) (env ? env(name) : NULL)
	CL_GUARD_OUT(err, set_copy(&out->server, flags->server, "--server"));
	CL_GUARD_OUT(err, set_copy(&out->ca, flags->ca, "--ca"));
	CL_GUARD_OUT(err, set_copy(&out->token, flags->token, "--token"));
	if (out->token)
		out->token_from = CL_CLI_FROM_FLAG;
	CL_GUARD_OUT(err, set_copy(&out->access_key, flags->access_key, "--access-key"));
	CL_GUARD_OUT(err, set_copy(&out->server, ENV("CLOISTER_SERVER"), "CLOISTER_SERVER"));
	CL_GUARD_OUT(err, set_copy(&out->ca, ENV("CLOISTER_CA"), "CLOISTER_CA"));
	CL_GUARD_OUT(err, set_copy(&out->token, ENV("CLOISTER_TOKEN"), "CLOISTER_TOKEN"));
	if (out->token && out->token_from == CL_CLI_FROM_NONE)
		out->token_from = CL_CLI_FROM_ENV;
	CL_GUARD_OUT(err, set_copy(&out->access_key, ENV("CLOISTER_ACCESS_KEY"), "CLOISTER_ACCESS_KEY"));

	const char *explicit_path = flags->config;
	if (!explicit_path)
		explicit_path = ENV("CLOISTER_CONFIG");
	if (explicit_path && !*explicit_path) {
		err = cl_errorf(CL_EINVAL, "%s is set but empty", flags->config ? "--config" : "CLOISTER_CONFIG");
		goto out;
	}
#undef ENV
	if (explicit_path) {
		CL_GUARD_OUT(err, load_config_file(explicit_path, out));
	} else if (home && *home) {
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/.config/cloister/config.json", home) <
			    (int)sizeof(path) &&
		    access(path, F_OK) == 0)
			CL_GUARD_OUT(err, load_config_file(path, out));
	}
	return CL_OK;
out:
	cl_cli_config_free(out);
	return err;
}
