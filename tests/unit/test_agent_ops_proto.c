/* The channel-op fields of the sync answer (src/host/agent_proto.c): each
 * op's "tenant" (whose budget it counts against) and "deadline_ms" (ms left
 * until its result is useless), and the answer's "cancel" list — good
 * values, defaults, and hostile ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "host/agent_proto.h"

static cl_err parse(const char *json, cl_agent_answer *a)
{
	return cl_agent_answer_parse(json, strlen(json), a);
}

static void tenant_and_deadline(void **state)
{
	const char *j = "{\"generation\":1,\"enclaves\":[],\"ops\":["
			"{\"op\":\"op-1\",\"enclave\":\"enc-a\",\"tenant\":\"ten-x\",\"kind\":\"recv\",\"wait_ms\":30000,"
			"\"deadline_ms\":44000},"
			"{\"op\":\"op-2\",\"enclave\":\"enc-a\",\"kind\":\"recv\",\"wait_ms\":2000},"
			"{\"op\":\"op-3\",\"enclave\":\"enc-a\",\"tenant\":\"ten-x\",\"kind\":\"send\",\"data\":\"\","
			"\"deadline_ms\":0},"
			"{\"op\":\"op-4\",\"enclave\":\"enc-a\",\"kind\":\"logs\",\"deadline_ms\":999999999}]}";
	cl_agent_answer a;
	assert_int_equal(parse(j, &a), CL_OK);
	assert_int_equal(a.nops, 4);
	assert_string_equal(a.ops[0].tenant, "ten-x");
	assert_int_equal(a.ops[0].deadline_ms, 44000);
	assert_string_equal(a.ops[1].tenant, ""); /* not given: the shared budget */
	assert_int_equal(a.ops[1].deadline_ms, 2000 + CL_AGENT_OP_GRACE_MS);
	assert_int_equal(a.ops[2].deadline_ms, 0); /* no time left: answered "expired" */
	assert_int_equal(a.ops[3].deadline_ms, CL_AGENT_OP_DEADLINE_MAX);
	assert_int_equal(a.nbad_ops, 0);
	assert_int_equal(a.ncancel, 0);
	cl_agent_answer_free(&a);
}

/* A bad tenant or deadline makes the op malformed (answered as such), never
 * an op charged to another tenant or without a deadline. */
static void hostile_op_fields(void **state)
{
	const char *bad[] = {
	    "\"tenant\":\"../x\"", "\"tenant\":\"\"", "\"tenant\":7", "\"tenant\":null",
	    "\"tenant\":\"ABC\"",  "\"deadline_ms\":-1", "\"deadline_ms\":\"5\"", "\"deadline_ms\":1.5",
	};
	char buf[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf),
			 "{\"generation\":1,\"enclaves\":[],\"ops\":[{\"op\":\"op-1\",\"enclave\":\"enc-a\","
			 "\"kind\":\"recv\",%s}]}",
			 bad[i]);
		cl_agent_answer a;
		assert_int_equal(parse(buf, &a), CL_OK);
		if (a.nops != 0 || a.nbad_ops != 1)
			fail_msg("%s: nops=%zu nbad=%zu", bad[i], a.nops, a.nbad_ops);
		assert_string_equal(a.bad_ops[0], "op-1");
		cl_agent_answer_free(&a);
	}
}

static void cancel_list(void **state)
{
	const char *j = "{\"generation\":1,\"enclaves\":[],\"cancel\":[\"op-1\",\"../etc\",7,\"op-2\",null,\"\"]}";
	cl_agent_answer a;
	assert_int_equal(parse(j, &a), CL_OK);
	assert_int_equal(a.ncancel, 2); /* entries that are not ids are skipped */
	assert_string_equal(a.cancel[0], "op-1");
	assert_string_equal(a.cancel[1], "op-2");
	cl_agent_answer_free(&a);
	assert_null(a.cancel);
	assert_int_equal(a.ncancel, 0);

	const char *bad[] = {"{\"generation\":1,\"enclaves\":[],\"cancel\":\"op-1\"}",
			     "{\"generation\":1,\"enclaves\":[],\"cancel\":{}}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &a), CL_EINVAL);
		assert_null(a.cancel);
	}
	/* bounded: more than 4096 ids rejects the answer */
	size_t n = 4097, cap = 64 + n * 16, len = 0;
	char *big = malloc(cap);
	assert_non_null(big);
	len += (size_t)snprintf(big, cap, "{\"generation\":1,\"enclaves\":[],\"cancel\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(big + len, cap - len, "%s\"op-%zx\"", i ? "," : "", i % 4096);
	snprintf(big + len, cap - len, "]}");
	assert_int_equal(parse(big, &a), CL_ETOOBIG);
	assert_null(a.cancel);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tenant_and_deadline),
	    cmocka_unit_test(hostile_op_fields),
	    cmocka_unit_test(cancel_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
