/* The control plane's channel ops (src/control/ops.c): per-tenant budgets
 * (in all and per host; beyond: 429 while other tenants go on), the op
 * fields a host gets ("tenant", "deadline_ms"), an op whose deadline has
 * passed never being sent, and how a host's failure reasons reach the
 * tenant. Replies are counted by status in srv->requests (requests made
 * with evhttp_request_new have no connection: a reply just frees them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "control/control.h"

static int setup(void **state)
{
	ctl_server *srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->base = event_base_new()))
		return -1;
	srv->poll_timeout_ms = 1000;
	*state = srv;
	return 0;
}

static int teardown(void **state)
{
	ctl_server *srv = *state;
	ctl_ops_shutdown(srv);
	event_base_free(srv->base);
	free(srv);
	return 0;
}

static ctl_enclave enclave(const char *id, const char *tenant, const char *host)
{
	ctl_enclave e;
	memset(&e, 0, sizeof(e));
	snprintf(e.id, sizeof(e.id), "%s", id);
	snprintf(e.tenant_id, sizeof(e.tenant_id), "%s", tenant);
	snprintf(e.host_id, sizeof(e.host_id), "%s", host);
	return e;
}

static void recv_op(ctl_server *srv, const ctl_enclave *e, int64_t wait_ms)
{
	struct evhttp_request *req = evhttp_request_new(NULL, NULL);
	assert_non_null(req);
	ctl_op_submit(srv, req, e, "recv", NULL, 0, 4096, wait_ms);
}

static void budgets(void **state)
{
	ctl_server *srv = *state;
	ctl_enclave a1 = enclave("enc-a1", "ten-a", "host-1"), a2 = enclave("enc-a2", "ten-a", "host-2"),
		    a3 = enclave("enc-a3", "ten-a", "host-3"), b1 = enclave("enc-b1", "ten-b", "host-1");
	unsigned all, t, th;
	for (unsigned i = 0; i < CTL_OPS_TENANT_HOST_MAX; i++)
		recv_op(srv, &a1, 30000);
	assert_int_equal(ctl_ops_count(srv), CTL_OPS_TENANT_HOST_MAX);
	assert_int_equal(srv->requests[429], 0);
	recv_op(srv, &a1, 30000); /* one host's share is used up */
	assert_int_equal(srv->requests[429], 1);
	assert_int_equal(ctl_ops_count(srv), CTL_OPS_TENANT_HOST_MAX);
	for (unsigned i = 0; i < CTL_OPS_TENANT_MAX - CTL_OPS_TENANT_HOST_MAX; i++)
		recv_op(srv, &a2, 30000); /* another host: the tenant's total allows it */
	assert_int_equal(srv->requests[429], 1);
	recv_op(srv, &a3, 30000); /* the tenant's total is used up */
	assert_int_equal(srv->requests[429], 2);
	ctl_ops_tally(srv, "ten-a", "host-1", &all, &t, &th);
	assert_int_equal(t, CTL_OPS_TENANT_MAX);
	assert_int_equal(th, CTL_OPS_TENANT_HOST_MAX);
	recv_op(srv, &b1, 30000); /* another tenant on the same host is not affected */
	assert_int_equal(srv->requests[429], 2);
	ctl_ops_tally(srv, "ten-b", "host-1", &all, &t, &th);
	assert_int_equal(all, CTL_OPS_TENANT_MAX + 1);
	assert_int_equal(th, 1);
}

/* The host gets each op with its tenant and the ms left (less the time to
 * post a result); once that is gone the op is not sent any more. */
static void op_fields_and_deadline(void **state)
{
	ctl_server *srv = *state;
	ctl_enclave a = enclave("enc-a", "ten-a", "host-1"), b = enclave("enc-b", "ten-b", "host-2");
	recv_op(srv, &a, 2000);
	recv_op(srv, &b, 2000);
	assert_true(ctl_ops_pending(srv, "host-1"));
	uint64_t now = cl_now_mono_ns();
	json_t *ops = json_array(), *cancel = json_array();
	ctl_ops_take(srv, "host-1", ops, cancel, now);
	assert_int_equal(json_array_size(ops), 1);
	assert_int_equal(json_array_size(cancel), 0);
	json_t *o = json_array_get(ops, 0);
	assert_string_equal(json_string_value(json_object_get(o, "tenant")), "ten-a");
	assert_string_equal(json_string_value(json_object_get(o, "enclave")), "enc-a");
	json_int_t left = json_integer_value(json_object_get(o, "deadline_ms"));
	assert_true(left > 15000 && left <= 2000 + 15000 - 1000); /* wait + grace - result margin */
	assert_false(ctl_ops_pending(srv, "host-1")); /* delivered */
	json_array_clear(ops);
	ctl_ops_take(srv, "host-1", ops, cancel, now + (uint64_t)(left - 1) * 1000000u); /* resent while time is left */
	assert_int_equal(json_array_size(ops), 1);
	json_array_clear(ops);
	ctl_ops_take(srv, "host-2", ops, cancel, now + (uint64_t)(left + 1) * 1000000u); /* never sent: too late */
	assert_int_equal(json_array_size(ops), 0);
	assert_true(ctl_ops_pending(srv, "host-2"));
	json_decref(ops);
	json_decref(cancel);
}

/* A host's failure reasons: its own budget -> 429, expired -> 504, others 503. */
static void host_reasons(void **state)
{
	ctl_server *srv = *state;
	ctl_enclave a = enclave("enc-a", "ten-a", "host-1");
	const char *reasons[] = {"too_many_requests", "expired", NULL, "cancelled"};
	const int status[] = {429, 504, 503, 503};
	for (size_t i = 0; i < 4; i++) {
		recv_op(srv, &a, 0);
		json_t *ops = json_array(), *cancel = json_array();
		ctl_ops_take(srv, "host-1", ops, cancel, cl_now_mono_ns());
		const char *id = json_string_value(json_object_get(json_array_get(ops, 0), "op"));
		uint64_t before = srv->requests[status[i]];
		assert_int_equal(ctl_op_complete(srv, "host-1", id, false, NULL, "no", reasons[i]), CL_OK);
		assert_int_equal(srv->requests[status[i]], before + 1);
		assert_int_equal(ctl_op_complete(srv, "host-1", id, true, NULL, NULL, NULL), CL_ENOTFOUND);
		json_decref(ops);
		json_decref(cancel);
	}
	assert_int_equal(ctl_ops_count(srv), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(budgets, setup, teardown),
	    cmocka_unit_test_setup_teardown(op_fields_and_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(host_reasons, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
