/* Unit tests for the host agent's parsing of control-plane answers
 * (src/host/agent_proto.c): register and sync answers, good and hostile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "host/agent_proto.h"
#include "host/agent_fwdata.h"
#include "fwguard/fwguard.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static cl_err parse(const char *json, cl_agent_answer *a)
{
	return cl_agent_answer_parse(json, strlen(json), a);
}

static void good_answer(void **state)
{
	const char *j = "{\"generation\":13,\"enclaves\":["
			"{\"id\":\"enc-a\",\"image\":\"img-1\",\"image_sha384\":\"" SHA "\",\"memory_mib\":64,"
			"\"cpus\":2,\"desired\":\"running\"},"
			"{\"id\":\"enc-b\",\"image\":\"img-2\",\"image_sha384\":\"" SHA "\",\"memory_mib\":32,"
			"\"desired\":\"stopped\"}],"
			"\"ops\":[{\"op\":\"op-1\",\"enclave\":\"enc-a\",\"kind\":\"send\",\"data\":\"aGk=\"},"
			"{\"op\":\"op-2\",\"enclave\":\"enc-a\",\"kind\":\"recv\",\"max\":99999999,\"wait_ms\":2000},"
			"{\"op\":\"op-3\",\"enclave\":\"enc-a\",\"kind\":\"launch-missiles\"},"
			"{\"enclave\":\"enc-a\",\"kind\":\"logs\"}]}";
	cl_agent_answer a;
	assert_int_equal(parse(j, &a), CL_OK);
	assert_int_equal(a.generation, 13);
	assert_int_equal(a.ndesired, 2);
	assert_string_equal(a.desired[0].id, "enc-a");
	assert_string_equal(a.desired[0].image, "img-1");
	assert_string_equal(a.desired[0].image_sha384, SHA);
	assert_int_equal(a.desired[0].memory_mib, 64);
	assert_int_equal(a.desired[0].cpus, 2);
	assert_true(a.desired[0].running);
	assert_false(a.desired[1].running);
	assert_int_equal(a.desired[1].cpus, 1);
	assert_int_equal(a.nops, 2);
	assert_int_equal(a.ops[0].kind, CL_OP_SEND);
	assert_string_equal(a.ops[0].data, "aGk=");
	assert_int_equal(a.ops[1].kind, CL_OP_RECV);
	assert_int_equal(a.ops[1].max, CL_AGENT_OP_DATA_MAX); /* capped: the result must fit a request */
	assert_int_equal(a.ops[1].wait_ms, 2000);
	assert_int_equal(a.nbad_ops, 1); /* op-3; the one without an id is dropped */
	assert_string_equal(a.bad_ops[0], "op-3");
	cl_agent_answer_free(&a);
	assert_null(a.desired);
}

#define ENC_ENTRY(extra)                                                                                       \
	"{\"generation\":1,\"enclaves\":[{\"id\":\"enc-a\",\"image\":\"img-1\",\"image_sha384\":\"" SHA       \
	"\",\"memory_mib\":64" extra "}]}"

/* The desired entry's tenant and name (PCR3): optional, valid when present. */
static void tenant_and_name(void **state)
{
	cl_agent_answer a;
	assert_int_equal(parse(ENC_ENTRY(",\"tenant\":\"ten-1\",\"name\":\"web\""), &a), CL_OK);
	assert_string_equal(a.desired[0].tenant, "ten-1");
	assert_string_equal(a.desired[0].name, "web");
	cl_agent_answer_free(&a);
	assert_int_equal(parse(ENC_ENTRY(""), &a), CL_OK); /* an older control plane */
	assert_string_equal(a.desired[0].tenant, "");
	assert_string_equal(a.desired[0].name, "");
	cl_agent_answer_free(&a);
	assert_int_equal(parse(ENC_ENTRY(",\"tenant\":null,\"name\":null"), &a), CL_OK);
	assert_string_equal(a.desired[0].tenant, "");
	cl_agent_answer_free(&a);
	const char *bad[] = {ENC_ENTRY(",\"tenant\":\"Ten/1\""), ENC_ENTRY(",\"tenant\":7"),
			     ENC_ENTRY(",\"name\":\"-web\""), ENC_ENTRY(",\"name\":\"a b\""),
			     ENC_ENTRY(",\"name\":\"0123456789012345678901234567890123456789012345678901234567890123\"")};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &a), CL_EINVAL);
		assert_null(a.desired); /* all or nothing */
	}
}

/* attestation_serial: absent, null, or hex (lower-cased, leading zeros dropped). */
static void attestation_serial(void **state)
{
	cl_agent_answer a;
	assert_int_equal(parse("{\"generation\":1,\"enclaves\":[]}", &a), CL_OK);
	assert_int_equal(a.att_serial_state, CL_ATT_SERIAL_ABSENT);
	cl_agent_answer_free(&a);
	assert_int_equal(parse("{\"generation\":1,\"enclaves\":[],\"attestation_serial\":null}", &a), CL_OK);
	assert_int_equal(a.att_serial_state, CL_ATT_SERIAL_NULL);
	cl_agent_answer_free(&a);
	assert_int_equal(parse("{\"generation\":1,\"enclaves\":[],\"attestation_serial\":\"00A1b2\"}", &a), CL_OK);
	assert_int_equal(a.att_serial_state, CL_ATT_SERIAL_SET);
	assert_string_equal(a.att_serial, "a1b2");
	cl_agent_answer_free(&a);
	const char *bad[] = {"\"\"", "\"xyz\"", "12", "\"0123456789012345678901234567890123456789a\"", "[]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char j[256];
		snprintf(j, sizeof(j), "{\"generation\":1,\"enclaves\":[],\"attestation_serial\":%s}", bad[i]);
		assert_int_equal(parse(j, &a), CL_EINVAL);
	}
}

/* The attest op: an optional base64 nonce within its cap; user_data or a
 * public_key from the control plane makes it malformed (only the enclave
 * sets them). */
static void attest_op(void **state)
{
	cl_agent_answer a;
	static char j[8192], big[2048];
	memset(big, 'A', sizeof(big));
	big[(513 + 2) / 3 * 4] = '\0'; /* base64 of 513 bytes */
	snprintf(j, sizeof(j),
		 "{\"generation\":1,\"enclaves\":[],\"ops\":["
		 "{\"op\":\"op-1\",\"enclave\":\"enc-a\",\"kind\":\"attest\",\"tenant\":\"ten-1\","
		 "\"nonce\":\"bm9uY2U=\",\"user_data\":null,\"public_key\":null},"
		 "{\"op\":\"op-2\",\"enclave\":\"enc-a\",\"kind\":\"attest\"},"
		 "{\"op\":\"op-3\",\"enclave\":\"enc-a\",\"kind\":\"attest\",\"nonce\":\"%s\"},"
		 "{\"op\":\"op-4\",\"enclave\":\"enc-a\",\"kind\":\"attest\",\"user_data\":\"AAEC\"},"
		 "{\"op\":\"op-5\",\"enclave\":\"enc-a\",\"kind\":\"attest\",\"public_key\":\"BAEC\"},"
		 "{\"op\":\"op-6\",\"enclave\":\"enc-a\",\"kind\":\"attest\",\"nonce\":5}]}",
		 big);
	assert_int_equal(parse(j, &a), CL_OK);
	assert_int_equal(a.nops, 2);
	assert_int_equal(a.ops[0].kind, CL_OP_ATTEST);
	assert_non_null(a.ops[0].att);
	assert_true(a.ops[0].att->has_nonce);
	assert_int_equal(a.ops[0].att->nonce_len, 5);
	assert_memory_equal(a.ops[0].att->nonce, "nonce", 5);
	assert_false(a.ops[0].att->has_user_data);
	assert_false(a.ops[0].att->has_public_key);
	assert_string_equal(a.ops[0].tenant, "ten-1");
	assert_false(a.ops[1].att->has_nonce || a.ops[1].att->has_user_data || a.ops[1].att->has_public_key);
	assert_int_equal(a.nbad_ops, 4); /* a 513-byte nonce, user data, a key, not a string */
	assert_string_equal(a.bad_ops[0], "op-3");
	assert_string_equal(a.bad_ops[1], "op-4");
	assert_string_equal(a.bad_ops[2], "op-5");
	assert_string_equal(a.bad_ops[3], "op-6");
	cl_agent_answer_free(&a);
	/* 512 bytes is the cap, not over it */
	big[(512 + 2) / 3 * 4] = '\0';
	big[(512 + 2) / 3 * 4 - 1] = '='; /* 512 = 3 * 170 + 2 */
	snprintf(j, sizeof(j),
		 "{\"generation\":1,\"enclaves\":[],\"ops\":[{\"op\":\"op-1\",\"enclave\":\"enc-a\",\"kind\":"
		 "\"attest\",\"nonce\":\"%s\"}]}",
		 big);
	assert_int_equal(parse(j, &a), CL_OK);
	assert_int_equal(a.nops, 1);
	assert_int_equal(a.ops[0].att->nonce_len, 512);
	cl_agent_answer_free(&a);
	/* the measure op: the same fields, its own kind */
	assert_int_equal(parse("{\"generation\":1,\"enclaves\":[],\"ops\":["
			       "{\"op\":\"op-1\",\"enclave\":\"enc-a\",\"kind\":\"measure\",\"nonce\":\"bm9uY2U=\"},"
			       "{\"op\":\"op-2\",\"enclave\":\"enc-a\",\"kind\":\"measure\",\"user_data\":7}]}",
			       &a),
			 CL_OK);
	assert_int_equal(a.nops, 1);
	assert_int_equal(a.ops[0].kind, CL_OP_MEASURE);
	assert_non_null(a.ops[0].att);
	assert_int_equal(a.ops[0].att->nonce_len, 5);
	assert_int_equal(a.nbad_ops, 1);
	assert_string_equal(a.bad_ops[0], "op-2");
	cl_agent_answer_free(&a);
}

/* The suspend and restore ops (docs/suspend.md): a 32-byte nonce; a
 * restore's n, size and sha384; anything else malformed. An enclave's
 * await_restore goes with suspendable only. */
static void state_ops(void **state)
{
	cl_agent_answer a;
	/* base64 of 32 bytes 0..31, and of 31 */
	const char *n32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", *n31 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==";
	static char j[4096];
	snprintf(j, sizeof(j),
		 "{\"generation\":1,\"enclaves\":[],\"ops\":["
		 "{\"op\":\"op-1\",\"enclave\":\"enc-a\",\"kind\":\"suspend\",\"nonce\":\"%s\"},"
		 "{\"op\":\"op-2\",\"enclave\":\"enc-a\",\"kind\":\"restore\",\"nonce\":\"%s\",\"n\":3,"
		 "\"size\":1000,\"sha384\":\"%s\"},"
		 "{\"op\":\"op-3\",\"enclave\":\"enc-a\",\"kind\":\"suspend\",\"nonce\":\"%s\"},"
		 "{\"op\":\"op-4\",\"enclave\":\"enc-a\",\"kind\":\"restore\",\"nonce\":\"%s\",\"n\":0,"
		 "\"size\":1000,\"sha384\":\"%s\"},"
		 "{\"op\":\"op-5\",\"enclave\":\"enc-a\",\"kind\":\"restore\",\"nonce\":\"%s\",\"n\":1,"
		 "\"size\":1000}]}",
		 n32, n32, SHA, n31, n32, SHA, n32);
	assert_int_equal(parse(j, &a), CL_OK);
	assert_int_equal(a.nops, 2);
	assert_int_equal(a.ops[0].kind, CL_OP_SUSPEND);
	assert_non_null(a.ops[0].state);
	assert_int_equal(a.ops[0].state->nonce[31], 31);
	assert_int_equal(a.ops[1].kind, CL_OP_RESTORE);
	assert_int_equal(a.ops[1].state->n, 3);
	assert_int_equal(a.ops[1].state->size, 1000);
	assert_string_equal(a.ops[1].state->sha384, SHA);
	assert_int_equal(a.nbad_ops, 3); /* a 31-byte nonce, n 0, no sha384 */
	cl_agent_answer_free(&a);
	snprintf(j, sizeof(j),
		 "{\"generation\":1,\"enclaves\":[{\"id\":\"enc-a\",\"image\":\"img-1\",\"image_sha384\":\"%s\","
		 "\"memory_mib\":64,\"desired\":\"running\",\"suspendable\":true,\"await_restore\":true}]}",
		 SHA);
	assert_int_equal(parse(j, &a), CL_OK);
	assert_true(a.desired[0].await_restore);
	cl_agent_answer_free(&a);
	snprintf(j, sizeof(j),
		 "{\"generation\":1,\"enclaves\":[{\"id\":\"enc-a\",\"image\":\"img-1\",\"image_sha384\":\"%s\","
		 "\"memory_mib\":64,\"desired\":\"running\",\"await_restore\":true}]}",
		 SHA);
	assert_int_equal(parse(j, &a), CL_EINVAL);
}

/* A networked enclave's launch options: "network" and "expose" (1..65535,
 * distinct, at most 8, only with a network). */
static void network_desired(void **state)
{
	cl_agent_answer a;
	static char j[4096];
#define NET_FMT                                                                                                   \
	"{\"generation\":1,\"enclaves\":[{\"id\":\"enc-a\",\"image\":\"img-1\",\"image_sha384\":\"%s\","              \
	"\"memory_mib\":64,\"desired\":\"running\"%s}]}"
	snprintf(j, sizeof(j), NET_FMT, SHA, ",\"network\":true,\"expose\":[8443,80]");
	assert_int_equal(parse(j, &a), CL_OK);
	assert_true(a.desired[0].network);
	assert_int_equal(a.desired[0].nexpose, 2);
	assert_int_equal(a.desired[0].expose[0], 8443);
	assert_int_equal(a.desired[0].expose[1], 80);
	cl_agent_answer_free(&a);
	snprintf(j, sizeof(j), NET_FMT, SHA, "");
	assert_int_equal(parse(j, &a), CL_OK);
	assert_false(a.desired[0].network);
	cl_agent_answer_free(&a);
	static const char *const bad[] = {
		",\"expose\":[80]", ",\"network\":\"yes\"", ",\"network\":true,\"expose\":[0]",
		",\"network\":true,\"expose\":[65536]", ",\"network\":true,\"expose\":[80,80]",
		",\"network\":true,\"expose\":[1,2,3,4,5,6,7,8,9]", ",\"network\":true,\"expose\":{}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(j, sizeof(j), NET_FMT, SHA, bad[i]);
		if (parse(j, &a) != CL_EINVAL)
			fail_msg("accepted %s", bad[i]);
	}
}

static void empty_set_is_valid(void **state)
{
	cl_agent_answer a;
	assert_int_equal(parse("{\"generation\":0,\"enclaves\":[]}", &a), CL_OK);
	assert_int_equal(a.ndesired, 0);
	assert_int_equal(a.nops, 0);
	cl_agent_answer_free(&a);
}

/* Any malformed enclave entry rejects the whole answer: nothing gets applied
 * (in particular nothing running gets destroyed because of a bad entry). */
static void hostile_answers(void **state)
{
	const char *ok_entry = "{\"id\":\"enc-a\",\"image\":\"img-1\",\"image_sha384\":\"" SHA "\",\"memory_mib\":64}";
	char buf[2048];
	const char *bad_entries[] = {
	    "{\"id\":\"../etc\",\"image\":\"img-1\",\"image_sha384\":\"" SHA "\",\"memory_mib\":64}",
	    "{\"id\":\"enc-b\",\"image\":\"../../x\",\"image_sha384\":\"" SHA "\",\"memory_mib\":64}",
	    "{\"id\":\"enc-b\",\"image\":\"img\",\"image_sha384\":\"abc\",\"memory_mib\":64}",
	    "{\"id\":\"enc-b\",\"image\":\"img\",\"image_sha384\":\"" SHA "\",\"memory_mib\":1}",
	    "{\"id\":\"enc-b\",\"image\":\"img\",\"image_sha384\":\"" SHA "\",\"memory_mib\":\"64\"}",
	    "{\"id\":\"enc-b\",\"image\":\"img\",\"image_sha384\":\"" SHA "\",\"memory_mib\":64,\"cpus\":0}",
	    "{\"id\":\"enc-b\",\"image\":\"img\",\"image_sha384\":\"" SHA "\",\"memory_mib\":64,\"desired\":\"on\"}",
	    "{\"image\":\"img\",\"image_sha384\":\"" SHA "\",\"memory_mib\":64}",
	    "42",
	};
	for (size_t i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"generation\":5,\"enclaves\":[%s,%s]}", ok_entry, bad_entries[i]);
		cl_agent_answer a;
		if (parse(buf, &a) == CL_OK)
			fail_msg("accepted %s", bad_entries[i]);
		assert_int_equal(a.ndesired, 0);
		assert_null(a.desired);
	}
	const char *bad_docs[] = {
	    "",
	    "[]",
	    "{\"enclaves\":[]}",
	    "{\"generation\":-1,\"enclaves\":[]}",
	    "{\"generation\":1}",
	    "{\"generation\":1,\"enclaves\":{}}",
	    "{\"generation\":1,\"enclaves\":[],\"ops\":7}",
	    "{\"generation\":1,\"generation\":2,\"enclaves\":[]}",
	    "{\"generation\":1,\"enclaves\":[]",
	};
	for (size_t i = 0; i < sizeof(bad_docs) / sizeof(bad_docs[0]); i++) {
		cl_agent_answer a;
		if (parse(bad_docs[i], &a) == CL_OK)
			fail_msg("accepted %s", bad_docs[i]);
	}
}

static void register_answer(void **state)
{
	char id[128], tok[256];
	const char *j = "{\"host_id\":\"host-abc\",\"host_token\":\"ht-123\"}";
	assert_int_equal(cl_agent_register_parse(j, strlen(j), id, sizeof(id), tok, sizeof(tok)), CL_OK);
	assert_string_equal(id, "host-abc");
	assert_string_equal(tok, "ht-123");
	const char *bad[] = {"{}", "{\"host_id\":\"h/../x\",\"host_token\":\"t\"}",
			     "{\"host_id\":\"h\",\"host_token\":\"\"}", "{\"host_id\":\"h\",\"host_token\":\"a\\nb\"}",
			     "{\"host_id\":\"h\"}", "nope"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cl_agent_register_parse(bad[i], strlen(bad[i]), id, sizeof(id), tok, sizeof(tok)),
				 CL_EPROTO);
}

static void error_message(void **state)
{
	char out[64];
	const char *j = "{\"error\":{\"code\":\"unauthorized\",\"message\":\"invalid join token\"}}";
	cl_agent_error_message(j, strlen(j), out, sizeof(out));
	assert_string_equal(out, "invalid join token (unauthorized)");
	cl_agent_error_message("oops\n\x01", 6, out, sizeof(out));
	assert_string_equal(out, "oops??");
}

/* firmware_ops with "data_ref" (big data by reference): kept as a reference
 * string the fetch step resolves; malformed references make the op bad. */
static void firmware_data_ref(void **state)
{
	const char *j = "{\"generation\":2,\"enclaves\":[],\"firmware_ops\":["
			"{\"op\":\"fw-a\",\"kind\":\"update\",\"device\":\"0000:03:00.0\","
			"\"data_ref\":{\"size\":5242880,\"sha384\":\"" SHA "\"}},"
			"{\"op\":\"fw-b\",\"kind\":\"queue\",\"device\":\"0000:03:00.0\",\"data\":\"aGk=\"},"
			"{\"op\":\"fw-c\",\"kind\":\"update\",\"device\":\"0000:03:00.0\","
			"\"data_ref\":{\"size\":0,\"sha384\":\"" SHA "\"}},"
			"{\"op\":\"fw-d\",\"kind\":\"update\",\"device\":\"0000:03:00.0\","
			"\"data_ref\":{\"size\":67108865,\"sha384\":\"" SHA "\"}},"
			"{\"op\":\"fw-e\",\"kind\":\"update\",\"device\":\"0000:03:00.0\","
			"\"data_ref\":{\"size\":10,\"sha384\":\"ABCDEF\"}},"
			"{\"op\":\"fw-f\",\"kind\":\"update\",\"device\":\"0000:03:00.0\",\"data\":\"aGk=\","
			"\"data_ref\":{\"size\":10,\"sha384\":\"" SHA "\"}},"
			"{\"op\":\"fw-g\",\"kind\":\"update\",\"device\":\"0000:03:00.0\","
			"\"data_ref\":{\"size\":10,\"sha384\":\"" SHA "\",\"url\":\"http://evil\"}},"
			"{\"op\":\"fw-h\",\"kind\":\"update\",\"device\":\"0000:03:00.0\",\"data_ref\":\"ref:10:" SHA "\"},"
			"{\"op\":\"fw-i\",\"kind\":\"update\",\"device\":\"0000:03:00.0\",\"data\":\"ref:10:" SHA "\"}]}";
	cl_agent_answer a;
	assert_int_equal(parse(j, &a), CL_OK);
	assert_int_equal(a.nfw_ops, 3); /* fw-a, fw-b, and fw-i (inline, not a reference) */
	assert_string_equal(a.fw_ops[0].op, "fw-a");
	assert_true(cl_agent_fw_data_is_ref(&a.fw_ops[0]));
	uint64_t size = 0;
	char sha[97];
	assert_int_equal(cl_agent_fw_ref_parse(a.fw_ops[0].data, &size, sha), CL_OK);
	assert_int_equal(size, 5242880);
	assert_string_equal(sha, SHA);
	assert_false(cl_agent_fw_data_is_ref(&a.fw_ops[1]));
	assert_string_equal(a.fw_ops[1].data, "aGk=");
	/* "data" is always inline base64, even if it looks like a reference:
	 * a ':' is not base64, so the device never sees it as bytes */
	assert_string_equal(a.fw_ops[2].op, "fw-i");
	assert_int_equal(a.nbad_ops, 6); /* fw-c .. fw-h */
	assert_string_equal(a.bad_ops[0], "fw-c");
	assert_string_equal(a.bad_ops[5], "fw-h");
	cl_agent_answer_free(&a);
}

static void firmware_ref_strings(void **state)
{
	uint64_t size = 0;
	char sha[97];
	assert_int_equal(cl_agent_fw_ref_parse("ref:1:" SHA, &size, sha), CL_OK);
	assert_int_equal(size, 1);
	assert_int_equal(cl_agent_fw_ref_parse("ref:67108864:" SHA, &size, sha), CL_OK);
	assert_int_not_equal(cl_agent_fw_ref_parse("ref:67108865:" SHA, &size, sha), CL_OK);
	assert_int_not_equal(cl_agent_fw_ref_parse("ref:0:" SHA, &size, sha), CL_OK);
	assert_int_not_equal(cl_agent_fw_ref_parse("ref:-1:" SHA, &size, sha), CL_OK);
	assert_int_not_equal(cl_agent_fw_ref_parse("ref: 5:" SHA, &size, sha), CL_OK);
	assert_int_not_equal(cl_agent_fw_ref_parse("ref:5" SHA, &size, sha), CL_OK);
	assert_int_not_equal(cl_agent_fw_ref_parse("ref:5:" SHA "0", &size, sha), CL_OK);
	assert_int_not_equal(cl_agent_fw_ref_parse("ref:99999999999999999999999:" SHA, &size, sha), CL_OK);
	assert_int_not_equal(cl_agent_fw_ref_parse("aGk=", &size, sha), CL_OK);
	assert_int_not_equal(cl_agent_fw_ref_parse(NULL, &size, sha), CL_OK);
	/* an op with inline data needs no fetch: no request, nothing read */
	cl_agent_fw_op op = {.op = "fw-x", .kind = CL_FWOP_UPDATE, .device = "0000:03:00.0", .data = "aGk="};
	cl_buf out;
	cl_buf_init(&out, FWG_MAX_BUNDLE);
	assert_int_equal(cl_agent_fw_fetch(NULL, "host-x", &op, &out), CL_OK);
	assert_int_equal(out.len, 0);
	/* a reference bigger than the caller's bound is refused before any request */
	cl_buf small;
	cl_buf_init(&small, 100);
	op.data = "ref:101:" SHA;
	assert_int_equal(cl_agent_fw_fetch(NULL, "host-x", &op, &small), CL_ETOOBIG);
	cl_buf_free(&out);
	cl_buf_free(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(good_answer),      cmocka_unit_test(empty_set_is_valid), cmocka_unit_test(hostile_answers),
	    cmocka_unit_test(register_answer),  cmocka_unit_test(error_message),
	    cmocka_unit_test(firmware_data_ref), cmocka_unit_test(firmware_ref_strings),
	    cmocka_unit_test(tenant_and_name),   cmocka_unit_test(attestation_serial), cmocka_unit_test(attest_op),
	    cmocka_unit_test(state_ops), cmocka_unit_test(network_desired),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
