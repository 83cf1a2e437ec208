/* Unit tests for the CLI's argument handling (src/cli/cli_args.c and
 * cli_config.c): sizes, proximity constraints, operation lists, option
 * parsing, global option extraction and configuration precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "common/util.h"

static void size_parsing(void **state)
{
	static const struct {
		const char *in;
		uint64_t mib;
	} good[] = {
		{"64M", 64},     {"64m", 64},       {"64MiB", 64},  {"64MB", 64},   {"1G", 1024},
		{"1g", 1024},    {"2GiB", 2048},    {"2048K", 2},   {"1024KiB", 1}, {"128", 128},
		{"1T", 1048576}, {"1048576M", 1048576},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t mib = 0;
		assert_int_equal(cl_cli_parse_size_mib(good[i].in, &mib), CL_OK);
		assert_int_equal(mib, good[i].mib);
	}
	static const char *const bad[] = {
		"",      "M",    "-1M",  "+1M",  " 64M", "64 M", "64X",  "64MiBs", "0",
		"0M",    "512K", "1.5G", "2T",   "1048577M", "99999999999999999999M",
		"18446744073709551616", "0x10M", "64M\n", "1Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t mib = 77;
		assert_int_equal(cl_cli_parse_size_mib(bad[i], &mib), CL_EINVAL);
		assert_int_equal(mib, 77); /* untouched on failure */
	}
	/* The error names the bad input. */
	uint64_t mib;
	assert_int_equal(cl_cli_parse_size_mib("12Q", &mib), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "12Q"));
}

static void check_proximity(const char *in, const char *res, const char *key, json_int_t val)
{
	json_t *o = NULL;
	assert_int_equal(cl_cli_parse_proximity(in, &o), CL_OK);
	assert_string_equal(json_string_value(json_object_get(o, "resource")), res);
	if (key) {
		assert_int_equal(json_integer_value(json_object_get(o, key)), val);
		assert_int_equal(json_object_size(o), 2);
	} else {
		assert_int_equal(json_object_size(o), 1);
	}
	json_decref(o);
}

static void proximity_parsing(void **state)
{
	check_proximity("db:500us", "db", "latency_us", 500);
	check_proximity("db:2ms", "db", "latency_us", 2000);
	check_proximity("gpu-0:3hops", "gpu-0", "hops", 3);
	check_proximity("rack-7:1hop", "rack-7", "hops", 1);
	check_proximity("db", "db", NULL, 0);
	check_proximity("db:0us", "db", "latency_us", 0);
	/* the control plane's caps (common/proto.h): exactly the max passes */
	check_proximity("db:60000000us", "db", "latency_us", 60000000);
	check_proximity("db:60000ms", "db", "latency_us", 60000000);
	check_proximity("db:255hops", "db", "hops", 255);
	check_proximity("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1us", /* 63 chars */
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "latency_us", 1);

	static const char *const bad[] = {
		"",        ":500us",   "db:",      "db:500",  "db:500s",   "db:-5us",  "db:us",
		"db:3hops!", "d b:1us", "db:256hops", "db:99999999999999999999us", "db:60000001us",
		"db:60001ms", "a:b:1us", "db:1.5ms", "rack/7.storage_a:1hop", "DB:1us", "-db:1us",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1us", /* 64 chars */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = NULL;
		assert_int_equal(cl_cli_parse_proximity(bad[i], &o), CL_EINVAL);
		assert_null(o);
	}
}

static void ops_parsing(void **state)
{
	json_t *a = NULL;
	assert_int_equal(cl_cli_parse_ops("describe,list", &a), CL_OK);
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_array_get(a, 0)), "describe");
	assert_string_equal(json_string_value(json_array_get(a, 1)), "list");
	json_decref(a);
	/* duplicates collapse */
	assert_int_equal(cl_cli_parse_ops("logs,logs,recv", &a), CL_OK);
	assert_int_equal(json_array_size(a), 2);
	json_decref(a);
	static const char *const bad[] = {"", ",", "describe,", ",list", "describ", "DESCRIBE",
					  "describe,,list", "rm", "list;destroy"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = NULL;
		assert_int_equal(cl_cli_parse_ops(bad[i], &a), CL_EINVAL);
		assert_null(a);
	}
}

static void option_parsing(void **state)
{
	const char *name = NULL, *near[3];
	size_t nnear = 0, npos = 0;
	bool wait = false, help = false;
	const cl_cli_option opts[] = {
		{"name", CL_OPT_VALUE, .value = &name},
		{"near", CL_OPT_MULTI, .values = near, .max_values = 3, .count = &nnear},
		{"wait", CL_OPT_FLAG, .flag = &wait},
		{0},
	};
	const char *pos[2];
	char *argv1[] = {"ID", "--name", "a", "--near=x:1us", "--wait", "--near", "y", "--name=b", "--", "--wait"};
	assert_int_equal(cl_cli_parse_opts(10, argv1, opts, pos, 2, &npos, &help), CL_OK);
	assert_string_equal(name, "b"); /* last wins */
	assert_int_equal(nnear, 2);
	assert_string_equal(near[0], "x:1us");
	assert_string_equal(near[1], "y");
	assert_true(wait);
	assert_false(help);
	assert_int_equal(npos, 2);
	assert_string_equal(pos[0], "ID");
	assert_string_equal(pos[1], "--wait"); /* after "--" it is positional */

	char *unknown[] = {"--nmae", "x"};
	assert_int_equal(cl_cli_parse_opts(2, unknown, opts, pos, 2, &npos, &help), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "--nmae"));
	char *missing[] = {"--name"};
	assert_int_equal(cl_cli_parse_opts(1, missing, opts, pos, 2, &npos, &help), CL_EINVAL);
	char *flagval[] = {"--wait=yes"};
	assert_int_equal(cl_cli_parse_opts(1, flagval, opts, pos, 2, &npos, &help), CL_EINVAL);
	char *toomany[] = {"a", "b", "c"};
	assert_int_equal(cl_cli_parse_opts(3, toomany, opts, pos, 2, &npos, &help), CL_EINVAL);
	nnear = 0;
	char *repeats[] = {"--near", "a", "--near", "b", "--near", "c", "--near", "d"};
	assert_int_equal(cl_cli_parse_opts(8, repeats, opts, pos, 2, &npos, &help), CL_EINVAL);
	char *shortopt[] = {"-n"};
	assert_int_equal(cl_cli_parse_opts(1, shortopt, opts, pos, 2, &npos, &help), CL_EINVAL);
	char *helpme[] = {"x", "--help"};
	assert_int_equal(cl_cli_parse_opts(2, helpme, opts, pos, 2, &npos, &help), CL_OK);
	assert_true(help);
}

/* The getopt_long details the commands rely on: full names only, the
 * messages name the option, short names, comma lists, "-" and "--". */
static void option_parsing_getopt(void **state)
{
	const char *out = NULL, *keys[4], *pos[3];
	size_t nkeys = 0, npos = 0;
	bool any = false, help = false;
	const cl_cli_option opts[] = {
		{.name = "out", .kind = CL_OPT_VALUE, .value = &out, .short_name = 'o'},
		{.name = "key", .kind = CL_OPT_LIST, .values = keys, .max_values = 4, .count = &nkeys},
		{.name = "any", .kind = CL_OPT_FLAG, .flag = &any},
		{0},
	};
	char k1[] = "a.pem,b.pem", k2[] = "c.pem";
	char *ok[] = {"first", "-o", "x.cbor", "--key", k1, "-", "--any", "--key=", "--key", k2, "--", "-o"};
	assert_int_equal(cl_cli_parse_opts(12, ok, opts, pos, 3, &npos, &help), CL_OK);
	assert_string_equal(out, "x.cbor");
	assert_int_equal(nkeys, 3); /* "--key=" is an empty list */
	assert_string_equal(keys[0], "a.pem");
	assert_string_equal(keys[1], "b.pem");
	assert_string_equal(keys[2], "c.pem");
	assert_true(any);
	assert_int_equal(npos, 3);
	assert_string_equal(pos[0], "first");
	assert_string_equal(pos[1], "-");
	assert_string_equal(pos[2], "-o");

	/* a second parse starts afresh (getopt's state is reset) */
	out = NULL;
	char *again[] = {"--out=y", "z"};
	assert_int_equal(cl_cli_parse_opts(2, again, opts, pos, 1, &npos, &help), CL_OK);
	assert_string_equal(out, "y");
	assert_int_equal(npos, 1);
	assert_string_equal(pos[0], "z");

	static const struct {
		const char *arg, *want;
	} bad[] = {
		{"--ou", "unknown option '--ou'"},   /* getopt_long would take the prefix */
		{"--an=1", "unknown option '--an'"}, /* likewise */
		{"--any=1", "option '--any' takes no value"},
		{"--out", "option '--out' needs a value"},
		{"-o", "option '--out' needs a value"},
		{"-x", "unknown option '-x'"},
		{"--nope=v", "unknown option '--nope'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char arg[32];
		snprintf(arg, sizeof(arg), "%s", bad[i].arg);
		char *argv[] = {arg};
		assert_int_equal(cl_cli_parse_opts(1, argv, opts, pos, 3, &npos, &help), CL_EINVAL);
		if (strcmp(cl_error_detail(), bad[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].arg, cl_error_detail(), bad[i].want);
	}
	nkeys = 0;
	char k3[] = "1,2,3,4,5";
	char *many[] = {"--key", k3};
	assert_int_equal(cl_cli_parse_opts(2, many, opts, pos, 3, &npos, &help), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "--key"));
}

static void global_extraction(void **state)
{
	cl_cli_flags f = {0};
	char *argv[] = {"list", "--json", "--server", "https://a", "--limit", "2", "--token=T",
			"--access-key", "K", "--", "--ca", "x", NULL};
	int argc = 12;
	assert_int_equal(cl_cli_extract_globals(&argc, argv, &f), CL_OK);
	assert_true(f.json);
	assert_string_equal(f.server, "https://a");
	assert_string_equal(f.token, "T");
	assert_string_equal(f.access_key, "K");
	assert_null(f.ca); /* after "--": left alone */
	assert_int_equal(argc, 6);
	assert_string_equal(argv[0], "list");
	assert_string_equal(argv[1], "--limit");
	assert_string_equal(argv[2], "2");
	assert_string_equal(argv[3], "--");
	assert_string_equal(argv[4], "--ca");
	assert_null(argv[6]);

	cl_cli_flags g = {0};
	char *bad[] = {"list", "--server"};
	int n = 2;
	assert_int_equal(cl_cli_extract_globals(&n, bad, &g), CL_EINVAL);
	/* A longer option sharing a prefix is not a global option. */
	char *prefix[] = {"--serverless", "--tokens", NULL};
	n = 2;
	assert_int_equal(cl_cli_extract_globals(&n, prefix, &g), CL_OK);
	assert_int_equal(n, 2);
	assert_null(g.server);
}

/* A fake environment for config precedence. */
static const char *env_server, *env_token, *env_ca, *env_key, *env_config;
static const char *fake_env(const char *name)
{
	if (strcmp(name, "CLOISTER_SERVER") == 0)
		return env_server;
	if (strcmp(name, "CLOISTER_TOKEN") == 0)
		return env_token;
	if (strcmp(name, "CLOISTER_CA") == 0)
		return env_ca;
	if (strcmp(name, "CLOISTER_ACCESS_KEY") == 0)
		return env_key;
	if (strcmp(name, "CLOISTER_CONFIG") == 0)
		return env_config;
	return NULL;
}

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void config_precedence(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cl-cli-test.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	char home_cfg_dir[128], home_cfg[160], explicit_cfg[128], bad_cfg[128];
	snprintf(home_cfg_dir, sizeof(home_cfg_dir), "%s/.config/cloister", tmpdir);
	assert_int_equal(cl_mkdir_p(home_cfg_dir, 0700), CL_OK);
	snprintf(home_cfg, sizeof(home_cfg), "%s/config.json", home_cfg_dir);
	write_file(home_cfg, "{\"server\":\"https://home\",\"ca\":\"ca.pem\",\"token\":\"home-token\"}");
	snprintf(explicit_cfg, sizeof(explicit_cfg), "%s/explicit.json", tmpdir);
	write_file(explicit_cfg, "{\"server\":\"https://explicit\",\"token\":\"explicit-token\"}");

	cl_cli_config c;
	cl_cli_flags f = {0};
	/* Only the default file: everything from it; relative ca is beside it. */
	env_server = env_token = env_ca = env_key = env_config = NULL;
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_string_equal(c.server, "https://home");
	assert_string_equal(c.token, "home-token");
	char want_ca[200];
	snprintf(want_ca, sizeof(want_ca), "%s/ca.pem", home_cfg_dir);
	assert_string_equal(c.ca, want_ca);
	assert_null(c.access_key);
	cl_cli_config_free(&c);
	assert_null(c.token);

	/* Environment beats the file, field by field. */
	env_token = "env-token";
	env_key = "env-key";
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_string_equal(c.server, "https://home");
	assert_string_equal(c.token, "env-token");
	assert_string_equal(c.access_key, "env-key");
	cl_cli_config_free(&c);

	/* Flags beat the environment. */
	f.token = "flag-token";
	f.server = "https://flag";
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_string_equal(c.server, "https://flag");
	assert_string_equal(c.token, "flag-token");
	cl_cli_config_free(&c);

	/* CLOISTER_CONFIG replaces the default file; --config replaces both. */
	f = (cl_cli_flags){0};
	env_token = env_key = NULL;
	env_config = explicit_cfg;
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_string_equal(c.server, "https://explicit");
	assert_null(c.ca); /* not inherited from the default file */
	cl_cli_config_free(&c);
	f.config = home_cfg;
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_string_equal(c.server, "https://home");
	cl_cli_config_free(&c);

	/* A named file must exist; a missing default file is fine. */
	f.config = "/nonexistent/cloister.json";
	assert_int_not_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_null(c.server);
	f = (cl_cli_flags){0};
	env_config = NULL;
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, "/nonexistent", &c), CL_OK);
	assert_null(c.server);
	cl_cli_config_free(&c);

	/* Malformed files are rejected with the file named. */
	snprintf(bad_cfg, sizeof(bad_cfg), "%s/bad.json", tmpdir);
	static const char *const bad[] = {"{", "[]", "{\"server\":5}", "{\"token\":null}", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(bad_cfg, bad[i]);
		f.config = bad_cfg;
		assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_EINVAL);
		assert_non_null(strstr(cl_error_detail(), "bad.json"));
		assert_null(c.server);
	}
	/* The access key never comes from a file. */
	write_file(bad_cfg, "{\"server\":\"https://x\",\"access_key\":\"file-key\"}");
	f.config = bad_cfg;
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_null(c.access_key);
	cl_cli_config_free(&c);
	assert_int_equal(cl_rm_rf(tmpdir), CL_OK);
}

/* Empty settings are errors, never a fall-back to the next source; the
 * token's source is known; only its id is ever shown. */
static void empty_settings(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cl-cli-test.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	char cfg[128];
	snprintf(cfg, sizeof(cfg), "%s/c.json", tmpdir);
	write_file(cfg, "{\"server\":\"https://file\",\"token\":\"clt_tok-admin1_SECRETPART\"}");
	cl_cli_config c;
	cl_cli_flags f = {0};
	env_server = env_token = env_ca = env_key = NULL;
	env_config = cfg;

	/* The token from the file: known as such. */
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_string_equal(c.token, "clt_tok-admin1_SECRETPART");
	assert_int_equal(c.token_from, CL_CLI_FROM_FILE);
	assert_string_equal(c.config_path, cfg);
	cl_cli_config_free(&c);

	/* CLOISTER_TOKEN="" (a pipeline that failed) does not fall back to it. */
	env_token = "";
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_EINVAL);
	assert_string_equal(cl_error_detail(), "CLOISTER_TOKEN is set but empty");
	assert_null(c.token);
	assert_null(c.server);
	/* ... unless a flag gives the token: then the variable is not consulted. */
	f.token = "clt_tok-flag_x";
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_string_equal(c.token, "clt_tok-flag_x");
	assert_int_equal(c.token_from, CL_CLI_FROM_FLAG);
	cl_cli_config_free(&c);
	env_token = "clt_tok-env_x";
	f.token = NULL;
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_OK);
	assert_int_equal(c.token_from, CL_CLI_FROM_ENV);
	cl_cli_config_free(&c);
	env_token = NULL;

	/* --token "" and the other settings, each named. */
	static const struct {
		const char *flag_token, *flag_server, *e_server, *e_key, *e_config, *detail;
	} cases[] = {
		{"", NULL, NULL, NULL, NULL, "--token is set but empty"},
		{NULL, "", NULL, NULL, NULL, "--server is set but empty"},
		{NULL, NULL, "", NULL, NULL, "CLOISTER_SERVER is set but empty"},
		{NULL, NULL, NULL, "", NULL, "CLOISTER_ACCESS_KEY is set but empty"},
		{NULL, NULL, NULL, NULL, "", "CLOISTER_CONFIG is set but empty"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = (cl_cli_flags){.token = cases[i].flag_token, .server = cases[i].flag_server};
		env_server = cases[i].e_server;
		env_key = cases[i].e_key;
		env_config = cases[i].e_config ? cases[i].e_config : cfg;
		assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_EINVAL);
		assert_string_equal(cl_error_detail(), cases[i].detail);
		assert_null(c.server);
	}
	/* An empty string in the config file is refused too. */
	env_server = env_key = NULL;
	env_config = cfg;
	f = (cl_cli_flags){0};
	write_file(cfg, "{\"server\":\"https://file\",\"token\":\"\"}");
	assert_int_equal(cl_cli_config_resolve(&f, fake_env, tmpdir, &c), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "\"token\" must be a non-empty string"));
	env_config = NULL;

	/* The public id of a token, never its secret. */
	char id[64];
	assert_true(cl_cli_token_id("clt_tok-abc123_0123456789abcdef", id, sizeof(id)));
	assert_string_equal(id, "tok-abc123");
	static const char *const not_tokens[] = {"", "clt_", "clt__x", "clt_tok-a", "clt_tok-a_",
						 "xyz_tok-a_s", "clt_TOK_s", "clt_a/b_s", NULL};
	for (size_t i = 0; not_tokens[i]; i++) {
		memset(id, 'x', sizeof(id));
		assert_false(cl_cli_token_id(not_tokens[i], id, sizeof(id)));
		assert_string_equal(id, "");
	}
	assert_false(cl_cli_token_id(NULL, id, sizeof(id)));
	char small[4];
	assert_false(cl_cli_token_id("clt_tok-abc_s", small, sizeof(small)));
	assert_int_equal(cl_rm_rf(tmpdir), CL_OK);
}

/* The memory range and byte formatting of the --help texts. */
static void enclave_limits(void **state)
{
	uint64_t mib = 0;
	assert_int_equal(cl_cli_parse_enclave_memory("16M", "--memory", &mib), CL_OK);
	assert_int_equal(mib, CL_PROTO_MEMORY_MIN_MIB);
	assert_int_equal(cl_cli_parse_enclave_memory("64G", "--memory", &mib), CL_OK);
	assert_int_equal(mib, CL_PROTO_MEMORY_MAX_MIB);
	mib = 7;
	assert_int_equal(cl_cli_parse_enclave_memory("15M", "--memory", &mib), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "16 MiB..64 GiB"));
	assert_int_equal(cl_cli_parse_enclave_memory("65537M", "--memory", &mib), CL_EINVAL);
	assert_int_equal(cl_cli_parse_enclave_memory("1T", "--memory", &mib), CL_EINVAL);
	assert_int_equal(cl_cli_parse_enclave_memory("x", "--memory", &mib), CL_EINVAL);
	assert_int_equal(mib, 7);
	char b[32];
	assert_string_equal(cl_cli_fmt_bytes(CL_PROTO_SEND_MAX, b, sizeof(b)), "512 KiB");
	assert_string_equal(cl_cli_fmt_bytes(CL_PROTO_RECV_MAX, b, sizeof(b)), "720 KiB");
	assert_string_equal(cl_cli_fmt_bytes(1u << 20, b, sizeof(b)), "1 MiB");
	assert_string_equal(cl_cli_fmt_bytes(64ull << 30, b, sizeof(b)), "64 GiB");
	assert_string_equal(cl_cli_fmt_bytes(2ull << 40, b, sizeof(b)), "2 TiB");
	assert_string_equal(cl_cli_fmt_bytes(1000, b, sizeof(b)), "1000 bytes");
	assert_string_equal(cl_cli_fmt_bytes(0, b, sizeof(b)), "0 bytes");
}

static void id_validation(void **state)
{
	assert_true(cl_cli_valid_id("enc-abc123"));
	assert_true(cl_cli_valid_id("img_1.2"));
	assert_false(cl_cli_valid_id(""));
	assert_false(cl_cli_valid_id(NULL));
	assert_false(cl_cli_valid_id(".."));
	assert_false(cl_cli_valid_id("a/b"));
	assert_false(cl_cli_valid_id("a?x=1"));
	assert_false(cl_cli_valid_id("a b"));
	char longid[130];
	memset(longid, 'a', 129);
	longid[129] = '\0';
	assert_false(cl_cli_valid_id(longid));
	uint64_t v;
	assert_int_equal(cl_cli_parse_uint("42", 100, &v), CL_OK);
	assert_int_equal(v, 42);
	assert_int_equal(cl_cli_parse_uint("101", 100, &v), CL_EINVAL);
	assert_int_equal(cl_cli_parse_uint("-1", 100, &v), CL_EINVAL);
	assert_int_equal(cl_cli_parse_uint("4x", 100, &v), CL_EINVAL);
	assert_int_equal(cl_cli_parse_uint("", 100, &v), CL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(size_parsing),      cmocka_unit_test(proximity_parsing),
		cmocka_unit_test(ops_parsing),       cmocka_unit_test(option_parsing),
		cmocka_unit_test(option_parsing_getopt),
		cmocka_unit_test(global_extraction), cmocka_unit_test(config_precedence),
		cmocka_unit_test(id_validation),     cmocka_unit_test(empty_settings),
		cmocka_unit_test(enclave_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
