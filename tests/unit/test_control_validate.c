/* Unit tests for src/control/validate.c: every field validator, with the
 * negative cases (wrong types, ranges, unknown fields, bad names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/control.h"
#include "control/validate.h"

static json_t *J(const char *s)
{
	json_t *j = NULL;
	assert_int_equal(ctl_json_body(s, strlen(s), &j), CL_OK);
	return j;
}

static void names_and_ids(void **state)
{
	char long63[64], long64[65];
	memset(long63, 'a', 63);
	long63[63] = '\0';
	memset(long64, 'a', 64);
	long64[64] = '\0';
	assert_true(ctl_valid_name("a"));
	assert_true(ctl_valid_name("web-1"));
	assert_true(ctl_valid_name("0abc"));
	assert_true(ctl_valid_name(long63));
	assert_false(ctl_valid_name(long64));
	assert_false(ctl_valid_name(""));
	assert_false(ctl_valid_name(NULL));
	assert_false(ctl_valid_name("-a"));
	assert_false(ctl_valid_name("A"));
	assert_false(ctl_valid_name("a_b"));
	assert_false(ctl_valid_name("a b"));
	assert_false(ctl_valid_name("a/../b"));
	assert_false(ctl_valid_name("é"));
	assert_true(ctl_valid_id("enc-abc"));
	assert_true(ctl_valid_id("-x"));
	assert_false(ctl_valid_id(""));
	assert_false(ctl_valid_id("enc_abc"));
	assert_false(ctl_valid_id("../etc"));
	assert_false(ctl_valid_id(long64));
}

static void json_body(void **state)
{
	json_t *j = NULL;
	assert_int_equal(ctl_json_body("", 0, &j), CL_EINVAL);
	assert_int_equal(ctl_json_body("[]", 2, &j), CL_EINVAL);
	assert_int_equal(ctl_json_body("\"x\"", 3, &j), CL_EINVAL);
	assert_int_equal(ctl_json_body("{", 1, &j), CL_EINVAL);
	assert_int_equal(ctl_json_body("{\"a\":1,\"a\":2}", 13, &j), CL_EINVAL);
	assert_int_equal(ctl_json_body("{} x", 4, &j), CL_EINVAL);
	assert_int_equal(ctl_json_body("{}", CTL_JSON_MAX + 1, &j), CL_ETOOBIG);
	assert_null(j);
	assert_int_equal(ctl_json_body("{}", 2, &j), CL_OK);
	json_decref(j);
}

#define BASE "\"name\":\"web\",\"image_id\":\"img-1\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\""

static cl_err create(const char *s, ctl_create_req *out)
{
	json_t *j = J(s);
	cl_err e = ctl_parse_create_enclave(j, out);
	json_decref(j);
	return e;
}

static void create_enclave(void **state)
{
	ctl_create_req r;
	assert_int_equal(create("{" BASE "}", &r), CL_OK);
	assert_int_equal(r.memory_mib, 64);
	assert_int_equal(r.untrusted_mask, CTL_ACT_DEFAULT);
	assert_null(r.zone);
	assert_int_equal(create("{" BASE ",\"zone\":\"z1\",\"rack\":\"r1\",\"near\":[{\"resource\":\"db\","
				"\"latency_us\":500}],\"far\":[{\"resource\":\"web\",\"hops\":3}],"
				"\"policy\":{\"untrusted\":[\"describe\",\"logs\"]}}",
				&r),
			 CL_OK);
	assert_int_equal(r.ncons, 2);
	assert_false(r.cons[0].far);
	assert_true(r.cons[1].far);
	assert_int_equal(r.cons[1].hops, 3);
	assert_int_equal(r.untrusted_mask, CTL_ACT_DESCRIBE | CTL_ACT_LOGS);
	assert_int_equal(create("{" BASE ",\"policy\":{\"untrusted\":[]}}", &r), CL_OK);
	assert_int_equal(r.untrusted_mask, 0);

	static const char *const bad[] = {
		"{}",
		"{" BASE ",\"extra\":1}",
		"{\"name\":\"web\",\"image_id\":\"img-1\",\"memory_mib\":64,\"cpus\":1}",
		"{\"name\":\"Web\",\"image_id\":\"img-1\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}",
		"{\"name\":1,\"image_id\":\"img-1\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"../x\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"img-1\",\"memory_mib\":15,\"cpus\":1,\"min_level\":\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"img-1\",\"memory_mib\":65537,\"cpus\":1,\"min_level\":\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"img-1\",\"memory_mib\":64.0,\"cpus\":1,\"min_level\":\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"img-1\",\"memory_mib\":\"64\",\"cpus\":1,\"min_level\":\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"img-1\",\"memory_mib\":-1,\"cpus\":1,\"min_level\":\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"img-1\",\"memory_mib\":99999999999999999999,\"cpus\":1,\"min_level\":"
		"\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"img-1\",\"memory_mib\":64,\"cpus\":0,\"min_level\":\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"img-1\",\"memory_mib\":64,\"cpus\":65,\"min_level\":\"software\"}",
		"{\"name\":\"w\",\"image_id\":\"img-1\",\"memory_mib\":64,\"cpus\":1,\"min_level\":\"gold\"}",
		"{" BASE ",\"zone\":\"Z!\"}",
		"{" BASE ",\"rack\":5}",
		"{" BASE ",\"near\":{}}",
		"{" BASE ",\"near\":[1]}",
		"{" BASE ",\"near\":[{\"latency_us\":5}]}",
		"{" BASE ",\"near\":[{\"resource\":\"db\",\"latency_us\":-5}]}",
		"{" BASE ",\"near\":[{\"resource\":\"db\",\"hops\":256}]}",
		"{" BASE ",\"near\":[{\"resource\":\"db\",\"x\":1}]}",
		"{" BASE ",\"policy\":[]}",
		"{" BASE ",\"policy\":{\"trusted\":[]}}",
		"{" BASE ",\"policy\":{\"untrusted\":[\"fly\"]}}",
		"{" BASE ",\"policy\":{\"untrusted\":[1]}}",
		"{" BASE ",\"policy\":{\"untrusted\":\"describe\"}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = NULL;
		cl_err e = ctl_json_body(bad[i], strlen(bad[i]), &j);
		if (e == CL_OK)
			e = ctl_parse_create_enclave(j, &r);
		json_decref(j);
		if (e != CL_EINVAL)
			fail_msg("accepted or wrong error for bad input %zu: %s", i, bad[i]);
	}
	/* 17 near constraints: too many */
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "{" BASE ",\"near\":[");
	for (int i = 0; i < 17; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s{\"resource\":\"r%d\"}", i ? "," : "", i);
	snprintf(buf + n, sizeof(buf) - (size_t)n, "]}");
	assert_int_equal(create(buf, &r), CL_EINVAL);
}

static void resize_recv_send(void **state)
{
	int64_t mem = 0, max = 0, wait = 0;
	const char *data;
	size_t n;
	json_t *j = J("{\"memory_mib\":128}");
	assert_int_equal(ctl_parse_resize(j, &mem), CL_OK);
	assert_int_equal(mem, 128);
	json_decref(j);
	static const char *const bad_resize[] = {"{}", "{\"memory_mib\":8}", "{\"memory_mib\":70000}",
						 "{\"memory_mib\":128,\"cpus\":2}", "{\"memory_mib\":true}"};
	for (size_t i = 0; i < sizeof(bad_resize) / sizeof(bad_resize[0]); i++) {
		j = J(bad_resize[i]);
		assert_int_equal(ctl_parse_resize(j, &mem), CL_EINVAL);
		json_decref(j);
	}
	j = J("{}");
	assert_int_equal(ctl_parse_recv(j, &max, &wait), CL_OK);
	assert_int_equal(max, 65536);
	assert_int_equal(wait, 0);
	json_decref(j);
	static const char *const bad_recv[] = {"{\"max\":0}", "{\"max\":737281}", "{\"max\":1048576}", "{\"wait_ms\":30001}",
					       "{\"wait_ms\":-1}", "{\"x\":1}"};
	for (size_t i = 0; i < sizeof(bad_recv) / sizeof(bad_recv[0]); i++) {
		j = J(bad_recv[i]);
		assert_int_equal(ctl_parse_recv(j, &max, &wait), CL_EINVAL);
		json_decref(j);
	}
	j = J("{\"max\":737280}");
	assert_int_equal(ctl_parse_recv(j, &max, &wait), CL_OK);
	assert_int_equal(max, 737280);
	json_decref(j);
	j = J("{\"data\":\"aGVsbG8=\"}");
	assert_int_equal(ctl_parse_send(j, &data, &n), CL_OK);
	assert_int_equal(n, 5);
	json_decref(j);
	static const char *const bad_send[] = {"{}", "{\"data\":5}", "{\"data\":\"abc\"}", "{\"data\":\"a!==\"}",
					       "{\"data\":\"aGk=\",\"eof\":true}"};
	for (size_t i = 0; i < sizeof(bad_send) / sizeof(bad_send[0]); i++) {
		j = J(bad_send[i]);
		assert_int_equal(ctl_parse_send(j, &data, &n), CL_EINVAL);
		json_decref(j);
	}
}

#define CAPS "{\"backends\":[\"process\"],\"level\":\"software\",\"memory_mib\":4096,\"cpus\":4"

static void capabilities_and_register(void **state)
{
	ctl_caps c;
	json_t *j = J(CAPS ",\"zone\":\"z\",\"features\":{\"seccomp\":true,\"cgroup_v1\":false},"
			   "\"latency\":[{\"resource\":\"db\",\"latency_us\":100,\"hops\":2}]}");
	assert_int_equal(ctl_parse_caps(j, &c), CL_OK);
	assert_int_equal(c.nlatency, 1);
	assert_int_equal(c.latency[0].hops, 2);
	assert_string_equal(c.zone, "z");
	assert_string_equal(c.rack, "");
	json_decref(j);
	static const char *const bad[] = {
		"{\"level\":\"software\",\"memory_mib\":4096,\"cpus\":4}",
		"{\"backends\":[],\"level\":\"software\",\"memory_mib\":4096,\"cpus\":4}",
		"{\"backends\":[\"kvm\"],\"level\":\"software\",\"memory_mib\":4096,\"cpus\":4}",
		"{\"backends\":[\"process\"],\"level\":\"platinum\",\"memory_mib\":4096,\"cpus\":4}",
		"{\"backends\":[\"process\"],\"level\":\"software\",\"memory_mib\":1,\"cpus\":4}",
		"{\"backends\":[\"process\"],\"level\":\"software\",\"memory_mib\":4096,\"cpus\":0}",
		CAPS ",\"features\":{\"x\":1}}",
		CAPS ",\"features\":{\"BAD KEY\":true}}",
		CAPS ",\"latency\":[{\"resource\":\"db\",\"latency_us\":100}]}",
		CAPS ",\"latency\":[{\"resource\":\"db\",\"latency_us\":100,\"hops\":999}]}",
		CAPS ",\"gpu\":true}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = J(bad[i]);
		if (ctl_parse_caps(j, &c) != CL_EINVAL)
			fail_msg("accepted bad capabilities %zu", i);
		json_decref(j);
	}
	ctl_register_req r;
	j = J("{\"join_token\":\"clj_a_b\",\"name\":\"h1\",\"capabilities\":" CAPS "}}");
	assert_int_equal(ctl_parse_register(j, &r), CL_OK);
	assert_string_equal(r.name, "h1");
	json_decref(j);
	j = J("{\"join_token\":\"clj_a_b\",\"name\":\"h1\"}");
	assert_int_equal(ctl_parse_register(j, &r), CL_EINVAL);
	json_decref(j);
	j = J("{\"join_token\":7,\"name\":\"h1\",\"capabilities\":" CAPS "}}");
	assert_int_equal(ctl_parse_register(j, &r), CL_EINVAL);
	json_decref(j);
	/* join tokens: the admitted level, "software" by default */
	const char *lv;
	int rank = -1;
	j = J("{}");
	assert_int_equal(ctl_parse_join_token(j, &lv, &rank), CL_OK);
	assert_string_equal(lv, "software");
	assert_int_equal(rank, 0);
	json_decref(j);
	j = J("{\"level\":\"sgx\"}");
	assert_int_equal(ctl_parse_join_token(j, &lv, &rank), CL_OK);
	assert_string_equal(lv, "sgx");
	assert_int_equal(rank, 3);
	json_decref(j);
	static const char *const bad_join[] = {"{\"level\":\"diamond\"}", "{\"level\":3}", "{\"level\":null}",
					       "{\"level\":\"tpm\",\"x\":1}"};
	for (size_t i = 0; i < sizeof(bad_join) / sizeof(bad_join[0]); i++) {
		j = J(bad_join[i]);
		assert_int_equal(ctl_parse_join_token(j, &lv, &rank), CL_EINVAL);
		json_decref(j);
	}
}

static void sync_body(void **state)
{
	ctl_sync_req s;
	json_t *j = J("{\"generation\":3,\"wait_ms\":20000,\"capabilities\":" CAPS "},"
		      "\"enclaves\":[{\"id\":\"enc-1\",\"state\":\"running\",\"memory_mib\":64},"
		      "{\"id\":\"enc-2\",\"state\":\"exited\",\"exit_status\":1,\"error\":\"x\"}],"
		      "\"results\":[{\"op\":\"op-1\",\"ok\":true,\"data\":\"aGk=\"},{\"op\":\"op-2\",\"ok\":false}]}");
	assert_int_equal(ctl_parse_sync(j, &s), CL_OK);
	assert_int_equal(s.generation, 3);
	assert_int_equal(s.nenclaves, 2);
	assert_true(s.enclaves[1].has_exit);
	assert_false(s.enclaves[0].has_exit);
	assert_int_equal(s.nresults, 2);
	assert_false(s.results[1].ok);
	ctl_sync_req_free(&s);
	json_decref(j);
	static const char *const bad[] = {
		"{}",
		"{\"generation\":-1}",
		"{\"generation\":1,\"wait_ms\":-5}",
		"{\"generation\":1,\"extra\":1}",
		"{\"generation\":1,\"enclaves\":{}}",
		"{\"generation\":1,\"enclaves\":[{\"id\":\"enc-1\",\"state\":\"dancing\"}]}",
		"{\"generation\":1,\"enclaves\":[{\"id\":\"ENC\",\"state\":\"running\"}]}",
		"{\"generation\":1,\"enclaves\":[{\"id\":\"enc-1\",\"state\":\"running\",\"x\":1}]}",
		"{\"generation\":1,\"enclaves\":[{\"id\":\"enc-1\",\"state\":\"running\"},5]}",
		"{\"generation\":1,\"results\":[{\"ok\":true}]}",
		"{\"generation\":1,\"results\":[{\"op\":\"op-1\",\"ok\":\"yes\"}]}",
		"{\"generation\":1,\"results\":[{\"op\":\"op-1\",\"ok\":true,\"data\":\"%%%\"}]}",
		"{\"generation\":1,\"capabilities\":{}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = J(bad[i]);
		if (ctl_parse_sync(j, &s) != CL_EINVAL)
			fail_msg("accepted bad sync %zu: %s", i, bad[i]);
		assert_null(s.enclaves); /* freed on failure */
		assert_null(s.results);
		json_decref(j);
	}
}

/* "network" and "expose" (docs/api/enclaves-create.md): ports sorted,
 * distinct, 1..65535, at most 8, only with a network; the sync report's
 * "network" holds two IPv4 addresses. */
static void network_fields(void **state)
{
	ctl_create_req r;
	assert_int_equal(create("{" BASE "}", &r), CL_OK);
	assert_false(r.network);
	assert_int_equal(r.nexpose, 0);
	assert_int_equal(create("{" BASE ",\"network\":true}", &r), CL_OK);
	assert_true(r.network);
	assert_int_equal(r.nexpose, 0);
	assert_int_equal(create("{" BASE ",\"network\":true,\"expose\":[8443,80,65535,1]}", &r), CL_OK);
	assert_int_equal(r.nexpose, 4);
	assert_int_equal(r.expose[0], 1);
	assert_int_equal(r.expose[1], 80);
	assert_int_equal(r.expose[2], 8443);
	assert_int_equal(r.expose[3], 65535);
	assert_int_equal(create("{" BASE ",\"network\":false}", &r), CL_OK);
	assert_false(r.network);
	static const char *const bad[] = {
		",\"expose\":[80]",			  ",\"network\":false,\"expose\":[80]",
		",\"network\":true,\"expose\":[0]",	  ",\"network\":true,\"expose\":[65536]",
		",\"network\":true,\"expose\":[80,80]", ",\"network\":true,\"expose\":[1,2,3,4,5,6,7,8,9]",
		",\"network\":true,\"expose\":80",	  ",\"network\":true,\"expose\":[\"80\"]",
		",\"network\":true,\"expose\":[8.5]",	  ",\"network\":1",
	};
	char buf[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "{" BASE "%s}", bad[i]);
		if (create(buf, &r) != CL_EINVAL)
			fail_msg("accepted %s", bad[i]);
	}
	ctl_sync_req s;
	json_t *j = J("{\"generation\":1,\"enclaves\":[{\"id\":\"enc-1\",\"state\":\"running\",\"network\":"
		      "{\"address\":\"10.77.0.2\",\"host_address\":\"10.77.0.1\"}},{\"id\":\"enc-2\",\"state\":\"running\"}]}");
	assert_int_equal(ctl_parse_sync(j, &s), CL_OK);
	assert_string_equal(s.enclaves[0].net_address, "10.77.0.2");
	assert_string_equal(s.enclaves[0].net_host_address, "10.77.0.1");
	assert_null(s.enclaves[1].net_address);
	ctl_sync_req_free(&s);
	json_decref(j);
	static const char *const badnet[] = {
		"{\"address\":\"10.77.0.2\"}", "{\"address\":\"10.77.0.2\",\"host_address\":\"10.77.0.01\"}",
		"{\"address\":\"::1\",\"host_address\":\"10.77.0.1\"}", "[]",
		"{\"address\":\"10.77.0.2\",\"host_address\":\"10.77.0.1\",\"x\":1}",
		"{\"address\":\"10.77.0.2 \",\"host_address\":\"10.77.0.1\"}",
	};
	for (size_t i = 0; i < sizeof(badnet) / sizeof(badnet[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"generation\":1,\"enclaves\":[{\"id\":\"enc-1\",\"state\":\"running\",\"network\":%s}]}",
			 badnet[i]);
		j = J(buf);
		if (ctl_parse_sync(j, &s) != CL_EINVAL)
			fail_msg("accepted report network %s", badnet[i]);
		json_decref(j);
	}
}

static void tenants_tokens_actions(void **state)
{
	const char *name, *tid, *kind;
	int64_t ttl = -1;
	json_t *j = J("{\"name\":\"acme\"}");
	assert_int_equal(ctl_parse_tenant(j, &name), CL_OK);
	json_decref(j);
	j = J("{\"name\":\"ACME\"}");
	assert_int_equal(ctl_parse_tenant(j, &name), CL_EINVAL);
	json_decref(j);
	j = J("{\"tenant_id\":\"ten-1\",\"name\":\"ci\"}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_OK);
	json_decref(j);
	j = J("{\"tenant_id\":\"ten 1\",\"name\":\"ci\"}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_EINVAL);
	json_decref(j);
	j = J("{\"tenant_id\":\"ten-1\"}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_EINVAL);
	json_decref(j);
	j = J("{\"tenant_id\":\"ten-1\",\"name\":\"ci\"}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_OK);
	assert_null(kind);
	json_decref(j);
	j = J("{\"tenant_id\":\"ten-1\",\"name\":\"ci\",\"kind\":\"engineer\"}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_OK);
	assert_string_equal(kind, "engineer");
	json_decref(j);
	j = J("{\"tenant_id\":\"ten-1\",\"name\":\"ci\",\"kind\":\"host\"}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_EINVAL);
	json_decref(j);
	j = J("{\"tenant_id\":\"ten-1\",\"name\":\"ci\",\"kind\":7}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_EINVAL);
	json_decref(j);
	/* ttl: absent is 0 (the default applies), else "<N><unit>" */
	j = J("{\"tenant_id\":\"ten-1\",\"name\":\"ci\"}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_OK);
	assert_int_equal(ttl, 0);
	json_decref(j);
	j = J("{\"tenant_id\":\"ten-1\",\"name\":\"ci\",\"kind\":\"metrics\",\"ttl\":\"12h\"}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_OK);
	assert_string_equal(kind, "metrics");
	assert_int_equal(ttl, 12 * 3600);
	json_decref(j);
	j = J("{\"tenant_id\":\"ten-1\",\"name\":\"ci\",\"ttl\":3600}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_EINVAL); /* a string, with a unit */
	json_decref(j);
	j = J("{\"tenant_id\":\"ten-1\",\"name\":\"ci\",\"ttl\":\"1w\"}");
	assert_int_equal(ctl_parse_token_req(j, &tid, &name, &kind, &ttl), CL_EINVAL);
	json_decref(j);
	assert_int_equal(ctl_action_bit("send"), CTL_ACT_SEND);
	assert_int_equal(ctl_action_bit("SEND"), 0);
	assert_int_equal(ctl_action_bit(""), 0);
	assert_string_equal(ctl_action_name(CTL_ACT_LOGS), "logs");
	assert_string_equal(ctl_action_name(CTL_ACT_LOGS | CTL_ACT_SEND), "unknown");
}

static void token_split(void **state)
{
	char buf[128];
	const char *id, *secret;
	assert_int_equal(ctl_token_split("clt_tok-abc_s3cr3t", "clt", buf, sizeof(buf), &id, &secret), CL_OK);
	assert_string_equal(id, "tok-abc");
	assert_string_equal(secret, "s3cr3t");
	/* the secret may itself hold '_': only the first one after the id splits */
	assert_int_equal(ctl_token_split("clj_join-1_a_b", "clj", buf, sizeof(buf), &id, &secret), CL_OK);
	assert_string_equal(secret, "a_b");
	static const char *const bad[] = {"",          "clt",       "clt_",        "clt__x",     "clt_id_",
					  "clt_id",    "clk_id_s",  "clj_id_s",    "clt_ID_s",   "clt_../x_s",
					  "xclt_id_s", "clt-id_s"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ctl_token_split(bad[i], "clt", buf, sizeof(buf), &id, &secret) != CL_EAUTH)
			fail_msg("accepted bad token %zu: %s", i, bad[i]);
	char huge[300];
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	memcpy(huge, "clt_x_", 6);
	assert_int_equal(ctl_token_split(huge, "clt", buf, sizeof(buf), &id, &secret), CL_EAUTH);
}

/* The firmware audit records a host ships (validate_fw.c): the intent /
 * outcome names of the crash-safety protocol are accepted; a name field
 * that is not a name is refused. */
static void fw_audit_names(void **state)
{
	(void)state;
	static const char *const rec_fmt =
		"{\"eligible\":true,\"quarantined\":false,\"window_open\":false,\"audit\":[{\"seq\":1,\"op\":\"update\","
		"\"source\":\"mgmt\",\"device\":\"0000:03:00.0\",\"result\":\"%s\",\"reason\":\"%s\",\"action\":\"log\","
		"\"hash\":\"%064d\",\"prev\":\"%064d\"}]}";
	static const char *const good[][2] = {
		{"intent", "ok"},           {"refused", "interrupted"}, {"accepted", "recovered"},
		{"accepted", "ok"},         {"event", "boot_fallback"}, {"refused", "unknown"},
	};
	static const char *const bad[][2] = {
		{"Intent", "ok"}, {"intent", "not a name"}, {"", "ok"}, {"refused", "interrupted\\u0001"},
	};
	char text[1024];
	ctl_fw_report rep;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]) + sizeof(bad) / sizeof(bad[0]); i++) {
		bool ok = i < sizeof(good) / sizeof(good[0]);
		const char *const *c = ok ? good[i] : bad[i - sizeof(good) / sizeof(good[0])];
		snprintf(text, sizeof(text), rec_fmt, c[0], c[1], 0, 0);
		json_t *fw = J(text);
		cl_err err = ctl_parse_fw_report(fw, &rep);
		if ((err == CL_OK) != ok)
			fail_msg("result %s reason %s: %s", c[0], c[1], ok ? "refused" : "accepted");
		if (ok) {
			assert_int_equal(rep.naudit, 1);
			assert_string_equal(json_string_value(json_object_get(rep.audit[0].rec, "result")), c[0]);
		}
		json_decref(fw);
	}
}

static void token_ttl(void **state)
{
	static const struct {
		const char *s;
		int64_t want; /* -1: refused */
	} cases[] = {{"1s", 1},         {"90s", 90},      {"15m", 900},        {"12h", 43200},
		     {"30d", 2592000},  {"365d", 31536000}, {"31536000s", 31536000}, {"8760h", 31536000},
		     {"366d", -1},      {"31536001s", -1}, {"0s", -1},          {"0", -1},
		     {"05s", -1},       {"s", -1},         {"10", -1},          {"10x", -1},
		     {"-1d", -1},       {"1.5h", -1},      {" 1d", -1},         {"1d ", -1},
		     {"1D", -1},        {"", -1},          {"99999999999d", -1}, {"999999999999d", -1}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = -7;
		cl_err e = ctl_parse_ttl(cases[i].s, &got);
		if (cases[i].want < 0) {
			assert_int_equal(e, CL_EINVAL);
			assert_int_equal(got, -7); /* untouched */
		} else {
			assert_int_equal(e, CL_OK);
			assert_int_equal(got, cases[i].want);
		}
	}
	assert_int_equal(ctl_parse_ttl(NULL, &(int64_t){0}), CL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_and_ids),   cmocka_unit_test(json_body),
		cmocka_unit_test(create_enclave),  cmocka_unit_test(resize_recv_send),
		cmocka_unit_test(capabilities_and_register), cmocka_unit_test(sync_body),
		cmocka_unit_test(network_fields),
		cmocka_unit_test(tenants_tokens_actions), cmocka_unit_test(token_ttl), cmocka_unit_test(token_split),
		cmocka_unit_test(fw_audit_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
