/* Unit tests for cloister-host's command line (src/host/agent_args.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/agent_args.h"
#include "host/agent_state.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static cl_err parse(int argc, const char **argv, cl_agent_config *cfg)
{
	return cl_agent_parse_args(argc, (char **)argv, cfg);
}

static void minimal(void **state)
{
	const char *argv[] = {"cloister-host", "--control", "https://127.0.0.1:7443", "--ca", "/tmp/ca.pem",
			      "--data", "/tmp/d"};
	cl_agent_config c;
	assert_int_equal(parse(ARGC(argv), argv, &c), CL_OK);
	assert_string_equal(c.control, "https://127.0.0.1:7443");
	assert_string_equal(c.ca, "/tmp/ca.pem");
	assert_string_equal(c.data, "/tmp/d");
	assert_null(c.join_token);
	assert_null(c.name);
	assert_null(c.init);
	assert_int_equal(c.memory_mib, 0);
	assert_int_equal(c.cpus, 0);
	assert_int_equal(c.poll_timeout_ms, 20000);
	assert_int_equal(c.nlatency, 0);
	assert_false(c.help);
}

static void all_flags(void **state)
{
	const char *argv[] = {"cloister-host",
			      "--control=https://cp.example:7443",
			      "--ca",
			      "ca.pem",
			      "--data",
			      "d",
			      "--join-token",
			      "jt-secret",
			      "--name",
			      "host-1-rack-a",
			      "--zone",
			      "eu-1",
			      "--rack=r7",
			      "--latency",
			      "db-primary=500:2",
			      "--latency=cache=90",
			      "--init",
			      "/opt/cloister-init",
			      "--memory-mib",
			      "2048",
			      "--cpus=4",
			      "--poll-timeout-ms",
			      "1500"};
	cl_agent_config c;
	assert_int_equal(parse(ARGC(argv), argv, &c), CL_OK);
	assert_string_equal(c.control, "https://cp.example:7443");
	assert_string_equal(c.join_token, "jt-secret");
	assert_string_equal(c.name, "host-1-rack-a");
	assert_string_equal(c.zone, "eu-1");
	assert_string_equal(c.rack, "r7");
	assert_string_equal(c.init, "/opt/cloister-init");
	assert_int_equal(c.memory_mib, 2048);
	assert_int_equal(c.cpus, 4);
	assert_int_equal(c.poll_timeout_ms, 1500);
	assert_int_equal(c.nlatency, 2);
	assert_string_equal(c.latency[0].resource, "db-primary");
	assert_int_equal(c.latency[0].latency_us, 500);
	assert_int_equal(c.latency[0].hops, 2);
	assert_string_equal(c.latency[1].resource, "cache");
	assert_int_equal(c.latency[1].latency_us, 90);
	assert_int_equal(c.latency[1].hops, 0);
}

static void help(void **state)
{
	const char *argv[] = {"cloister-host", "--help"};
	cl_agent_config c;
	assert_int_equal(parse(ARGC(argv), argv, &c), CL_OK);
	assert_true(c.help);
	assert_non_null(strstr(cl_agent_usage(), "--join-token"));
	assert_non_null(strstr(cl_agent_usage(), "--latency"));
}

static void expect_bad(const char **argv, int argc, const char *detail_part)
{
	cl_agent_config c;
	assert_int_equal(parse(argc, argv, &c), CL_EINVAL);
	if (detail_part && !strstr(cl_error_detail(), detail_part))
		fail_msg("detail \"%s\" lacks \"%s\"", cl_error_detail(), detail_part);
}

#define BASE "cloister-host", "--control", "https://h:1", "--ca", "ca", "--data", "d"

/* --guest-pool: a CIDR the pool takes (docs/host.md), checked at parse time. */
static void guest_pool(void **state)
{
	cl_agent_config c;
	const char *ok[] = {BASE, "--guest-pool", "10.78.5.0/24"};
	assert_int_equal(parse(ARGC(ok), ok, &c), CL_OK);
	assert_string_equal(c.guest_pool, "10.78.5.0/24");
	const char *none[] = {BASE};
	assert_int_equal(parse(ARGC(none), none, &c), CL_OK);
	assert_null(c.guest_pool); /* the default, 10.77.0.0/16 */
	const char *bad[][9] = {
		{BASE, "--guest-pool", "10.78.5.1/24"}, {BASE, "--guest-pool", "10.78.0.0/8"},
		{BASE, "--guest-pool", "10.78.0.0/31"}, {BASE, "--guest-pool", "nope"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i], 9, "--guest-pool");
	const char *twice[] = {BASE, "--guest-pool", "10.78.5.0/24", "--guest-pool", "10.78.6.0/24"};
	expect_bad(twice, ARGC(twice), "given twice");
}

static void negative(void **state)
{
	{
		const char *a[] = {"cloister-host", "--ca", "ca", "--data", "d"};
		expect_bad(a, ARGC(a), "--control");
	}
	{
		const char *a[] = {"cloister-host", "--control", "https://h:1", "--data", "d"};
		expect_bad(a, ARGC(a), "--ca");
	}
	{
		const char *a[] = {"cloister-host", "--control", "https://h:1", "--ca", "ca"};
		expect_bad(a, ARGC(a), "--data");
	}
	{
		const char *a[] = {"cloister-host", "--control", "http://h:1", "--ca", "ca", "--data", "d"};
		expect_bad(a, ARGC(a), "https");
	}
	{
		const char *a[] = {"cloister-host", "--control", "https://", "--ca", "ca", "--data", "d"};
		expect_bad(a, ARGC(a), "https");
	}
	{
		const char *a[] = {BASE, "--bogus", "1"};
		expect_bad(a, ARGC(a), "unknown flag");
	}
	{
		const char *a[] = {BASE, "--nam", "h"}; /* no abbreviations */
		expect_bad(a, ARGC(a), "unknown flag --nam");
	}
	{
		const char *a[] = {BASE, "stray"};
		expect_bad(a, ARGC(a), "unexpected argument");
	}
	{
		const char *a[] = {BASE, "--name"};
		expect_bad(a, ARGC(a), "needs a value");
	}
	{
		const char *a[] = {BASE, "--data", "e"};
		expect_bad(a, ARGC(a), "twice");
	}
	{
		const char *a[] = {BASE, "--name", ""};
		expect_bad(a, ARGC(a), "empty");
	}
	{
		const char *a[] = {BASE, "--name", "bad/name"};
		expect_bad(a, ARGC(a), "--name");
	}
	{
		const char *a[] = {BASE, "--name", "Upper"};
		expect_bad(a, ARGC(a), "--name");
	}
	{
		const char *a[] = {BASE, "--zone", "a b"};
		expect_bad(a, ARGC(a), "--zone");
	}
	{
		const char *a[] = {BASE, "--rack", "0123456789012345678901234567890123456789012345678901234567890123"};
		expect_bad(a, ARGC(a), "--rack");
	}
	{
		const char *a[] = {BASE, "--memory-mib", "15"};
		expect_bad(a, ARGC(a), "--memory-mib");
	}
	{
		const char *a[] = {BASE, "--memory-mib", "-1"};
		expect_bad(a, ARGC(a), "--memory-mib");
	}
	{
		const char *a[] = {BASE, "--memory-mib", "12abc"};
		expect_bad(a, ARGC(a), "--memory-mib");
	}
	{
		const char *a[] = {BASE, "--memory-mib", "99999999999999999999999"};
		expect_bad(a, ARGC(a), "--memory-mib");
	}
	{
		const char *a[] = {BASE, "--cpus", "0"};
		expect_bad(a, ARGC(a), "--cpus");
	}
	{
		const char *a[] = {BASE, "--cpus", " 2"};
		expect_bad(a, ARGC(a), "--cpus");
	}
	{
		const char *a[] = {BASE, "--poll-timeout-ms", "50"};
		expect_bad(a, ARGC(a), "--poll-timeout-ms");
	}
	{
		const char *a[] = {BASE, "--latency", "db=1", "--latency", "db=2"};
		expect_bad(a, ARGC(a), "twice");
	}
	{
		/* The join token is never echoed back in an error. */
		const char *a[] = {BASE, "--join-token", "s3cr3t-token", "--join-token", "s3cr3t-token"};
		expect_bad(a, ARGC(a), "twice");
		assert_null(strstr(cl_error_detail(), "s3cr3t"));
	}
}

static void latency_entries(void **state)
{
	cl_agent_latency l;
	assert_int_equal(cl_agent_parse_latency("db=0", &l), CL_OK);
	assert_string_equal(l.resource, "db");
	assert_int_equal(l.latency_us, 0);
	assert_int_equal(cl_agent_parse_latency("db-x9=60000000:255", &l), CL_OK);
	assert_string_equal(l.resource, "db-x9");
	assert_int_equal(l.latency_us, 60000000);
	assert_int_equal(l.hops, 255);

	const char *bad[] = {"db",      "=5",         "db=",      "db=:3",  "db=5:",   "db=5:x",   "db=-5",
			     "db=5:-1", "db=60000001", "db=5:256", "DB=5", "-db=5", "db.x=5", "d b=5", "db=5:2:3", "db=1e3", "a/b=5",
			     "0123456789012345678901234567890123456789012345678901234567890123=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(l.resource, "untouched");
		if (cl_agent_parse_latency(bad[i], &l) != CL_EINVAL)
			fail_msg("accepted bad latency \"%s\"", bad[i]);
		assert_string_equal(l.resource, "untouched"); /* changes nothing */
	}
	/* Too many entries. */
	const char *argv[8 + 2 * (CL_AGENT_MAX_LATENCY + 1)];
	char ents[CL_AGENT_MAX_LATENCY + 1][32];
	int argc = 0;
	const char *base[] = {BASE};
	for (int i = 0; i < 7; i++)
		argv[argc++] = base[i];
	for (int i = 0; i <= CL_AGENT_MAX_LATENCY; i++) {
		snprintf(ents[i], sizeof(ents[i]), "r%d=%d", i, i);
		argv[argc++] = "--latency";
		argv[argc++] = ents[i];
	}
	cl_agent_config c;
	assert_int_equal(parse(argc, argv, &c), CL_EINVAL);
	assert_int_equal(parse(argc - 2, argv, &c), CL_OK);
	assert_int_equal(c.nlatency, CL_AGENT_MAX_LATENCY);
}

static void id_validation(void **state)
{
	assert_true(cl_agent_valid_id("enc-abc123"));
	assert_false(cl_agent_valid_id(""));
	assert_false(cl_agent_valid_id("Enc"));
	assert_false(cl_agent_valid_id("enc/../x"));
	assert_false(cl_agent_valid_id("enc.x"));
	assert_false(cl_agent_valid_id(NULL));
	assert_true(cl_agent_valid_name("eu-west-1"));
	assert_true(cl_agent_valid_id("-x")); /* ids may start with '-', names may not */
	assert_false(cl_agent_valid_name("-x"));
	assert_false(cl_agent_valid_name("Host"));
	assert_false(cl_agent_valid_name("a.b"));
	assert_false(cl_agent_valid_name(".."));
	assert_false(cl_agent_valid_name("a/b"));
	assert_false(cl_agent_valid_name("0123456789012345678901234567890123456789012345678901234567890123"));
	assert_true(cl_agent_valid_name("012345678901234567890123456789012345678901234567890123456789012"));
}

#define TOKEN "clj_join-abcdefghijklmnopqrst_0123456789abcdef"

static void join_token_text(void **state)
{
	char out[CL_AGENT_JOIN_TOKEN_MAX];
	static const char *const good[] = {TOKEN, TOKEN "\n", "  " TOKEN "\r\n\n", "\t" TOKEN " "};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(cl_agent_join_token_parse(good[i], strlen(good[i]), out, sizeof(out)), CL_OK);
		assert_string_equal(out, TOKEN);
	}
	static const char *const bad[] = {"", " \n\t", TOKEN "\n" TOKEN, "clj a_b", "clj\x01x", "clj\x7f", "\xc3\xa9t"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cl_agent_join_token_parse(bad[i], strlen(bad[i]), out, sizeof(out)), CL_EINVAL);
		assert_null(strstr(cl_error_detail(), "clj")); /* never quoted back */
	}
	char big[CL_AGENT_JOIN_TOKEN_MAX + 1];
	memset(big, 'a', sizeof(big));
	assert_int_equal(cl_agent_join_token_parse(big, CL_AGENT_JOIN_TOKEN_MAX - 1, out, sizeof(out)), CL_OK);
	assert_int_equal(strlen(out), CL_AGENT_JOIN_TOKEN_MAX - 1);
	assert_int_equal(cl_agent_join_token_parse(big, CL_AGENT_JOIN_TOKEN_MAX, out, sizeof(out)), CL_EINVAL);
	/* an embedded NUL is not a token character either */
	assert_int_equal(cl_agent_join_token_parse("ab\0cd", 5, out, sizeof(out)), CL_EINVAL);
}

/* Writes content to dir/name with mode; returns the path (static buffer). */
static const char *token_file(const char *dir, const char *name, const char *content, mode_t mode)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void join_token_sources(void **state)
{
	char dir[] = "/tmp/cl-join-XXXXXX", out[CL_AGENT_JOIN_TOKEN_MAX];
	assert_non_null(mkdtemp(dir));
	cl_agent_config c;
	memset(&c, 0, sizeof(c));
	/* none given: empty, not an error */
	assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_OK);
	assert_string_equal(out, "");
	assert_int_equal(cl_agent_join_token_resolve(&c, "", out, sizeof(out)), CL_OK);
	assert_string_equal(out, "");
	/* the environment */
	assert_int_equal(cl_agent_join_token_resolve(&c, TOKEN "\n", out, sizeof(out)), CL_OK);
	assert_string_equal(out, TOKEN);
	assert_int_equal(cl_agent_join_token_resolve(&c, "two words", out, sizeof(out)), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), CL_AGENT_JOIN_ENV));
	assert_null(strstr(cl_error_detail(), "words"));
	/* a private file */
	c.join_token_file = token_file(dir, "ok", TOKEN "\n", 0600);
	assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_OK);
	assert_string_equal(out, TOKEN);
	c.join_token_file = token_file(dir, "ro", TOKEN, 0400);
	assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_OK);
	assert_string_equal(out, TOKEN);
	/* one source only */
	assert_int_equal(cl_agent_join_token_resolve(&c, TOKEN, out, sizeof(out)), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "one way"));
	c.join_token = TOKEN;
	assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_EINVAL);
	c.join_token_file = NULL;
	assert_int_equal(cl_agent_join_token_resolve(&c, TOKEN, out, sizeof(out)), CL_EINVAL);
	assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_OK); /* deprecated flag */
	assert_string_equal(out, TOKEN);
	c.join_token = NULL;
	/* refused: readable or writable by others, not a file, too big, missing, two tokens */
	static const mode_t open_modes[] = {0644, 0640, 0604, 0620, 0602, 0610};
	for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
		char name[16];
		snprintf(name, sizeof(name), "open%zu", i);
		c.join_token_file = token_file(dir, name, TOKEN, open_modes[i]);
		out[0] = 'x';
		assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_EPERM);
		assert_non_null(strstr(cl_error_detail(), "chmod 600"));
		assert_null(strstr(cl_error_detail(), "clj_"));
		assert_int_equal(out[0], '\0');
	}
	c.join_token_file = dir;
	assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_EINVAL);
	char big[CL_AGENT_JOIN_FILE_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c.join_token_file = token_file(dir, "big", big, 0600);
	assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_ETOOBIG);
	c.join_token_file = token_file(dir, "two", TOKEN "\n" TOKEN "\n", 0600);
	assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_EINVAL);
	assert_null(strstr(cl_error_detail(), "clj_"));
	c.join_token_file = "/nonexistent/join-token";
	assert_int_equal(cl_agent_join_token_resolve(&c, NULL, out, sizeof(out)), CL_ENOTFOUND);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void join_token_flag(void **state)
{
	const char *argv[] = {BASE, "--join-token-file", "/run/tok"};
	cl_agent_config c;
	assert_int_equal(parse(ARGC(argv), argv, &c), CL_OK);
	assert_string_equal(c.join_token_file, "/run/tok");
	assert_null(c.join_token);
	const char *twice[] = {BASE, "--join-token-file", "/a", "--join-token-file=/b"};
	expect_bad(twice, ARGC(twice), "given twice");
	assert_non_null(strstr(cl_agent_usage(), "--join-token-file"));
	assert_non_null(strstr(cl_agent_usage(), CL_AGENT_JOIN_ENV));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(minimal),    cmocka_unit_test(all_flags),       cmocka_unit_test(help),
	    cmocka_unit_test(negative), cmocka_unit_test(guest_pool),   cmocka_unit_test(latency_entries), cmocka_unit_test(id_validation),
	    cmocka_unit_test(join_token_text), cmocka_unit_test(join_token_sources), cmocka_unit_test(join_token_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
