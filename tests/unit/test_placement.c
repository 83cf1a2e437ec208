/* Unit tests for src/control/placement.c: every filter, near/far by latency
 * and by hops, score order, deterministic tie-break, and error details. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/placement.h"

/* A healthy, eligible software host with 4 GiB of 8 GiB free and 4 CPUs. */
static cl_place_host host(const char *id)
{
	return (cl_place_host){.id = id, .level_rank = 0, .healthy = true, .eligible = true,
			       .mem_total_mib = 8192, .mem_free_mib = 4096, .cpus_free = 4};
}

static const char *choose(const cl_place_host *h, size_t n, const cl_place_request *req)
{
	size_t idx = SIZE_MAX;
	cl_err e = cl_place_choose(h, n, req, &idx);
	if (e != CL_OK) {
		assert_int_equal(e, CL_EUNAVAIL);
		assert_int_equal(idx, SIZE_MAX); /* untouched on failure */
		return NULL;
	}
	assert_true(idx < n);
	return h[idx].id;
}

static void level_ranks(void **state)
{
	assert_int_equal(cl_level_rank("software"), 0);
	assert_int_equal(cl_level_rank("tpm"), 1);
	assert_int_equal(cl_level_rank("sev-snp"), 2);
	assert_int_equal(cl_level_rank("tdx"), 2);
	assert_int_equal(cl_level_rank("sgx"), 3);
	assert_int_equal(cl_level_rank("SGX"), -1);
	assert_int_equal(cl_level_rank("nitro"), -1);
	assert_int_equal(cl_level_rank(""), -1);
	assert_int_equal(cl_level_rank(NULL), -1);
}

static void health_and_eligibility(void **state)
{
	cl_place_host h[3] = {host("a"), host("b"), host("c")};
	cl_place_request req = {0};
	h[0].healthy = false;
	h[1].eligible = false;
	assert_string_equal(choose(h, 3, &req), "c");
	h[2].healthy = false;
	assert_null(choose(h, 3, &req));
	/* b is healthy but not eligible: the last candidate fell at eligibility. */
	assert_string_equal(cl_error_detail(), "no healthy host is eligible (firmware locked and not quarantined)");
	h[1].healthy = false;
	assert_null(choose(h, 3, &req));
	assert_string_equal(cl_error_detail(), "no host is healthy (3 hosts, none with a current heartbeat)");
	assert_null(choose(h, 0, &req));
	assert_non_null(strstr(cl_error_detail(), "empty"));
}

static void security_level(void **state)
{
	cl_place_host h[3] = {host("soft"), host("tpm"), host("snp")};
	h[1].level_rank = 1;
	h[2].level_rank = 2;
	cl_place_request req = {.min_level_rank = 2};
	assert_string_equal(choose(h, 3, &req), "snp");
	req.min_level_rank = 1;
	h[2].mem_free_mib = 0; /* snp drops out for memory; tpm still qualifies */
	assert_string_equal(choose(h, 3, &req), "tpm");
	h[2].mem_free_mib = 4096;
	req.min_level_rank = 3;
	assert_null(choose(h, 3, &req));
	assert_string_equal(cl_error_detail(), "no host meets min_level=sgx (best available: sev-snp/tdx)");
	h[2].level_rank = -1; /* an unknown level never qualifies */
	h[1].level_rank = 0;
	assert_null(choose(h, 3, &req));
	assert_string_equal(cl_error_detail(), "no host meets min_level=sgx (best available: software)");
}

static void memory_and_cpus(void **state)
{
	cl_place_host h[2] = {host("a"), host("b")};
	h[0].mem_free_mib = 1024;
	h[1].mem_free_mib = 512;
	cl_place_request req = {.memory_mib = 1024};
	assert_string_equal(choose(h, 2, &req), "a");
	req.memory_mib = 4096;
	assert_null(choose(h, 2, &req));
	assert_string_equal(cl_error_detail(), "no host has 4096 MiB free memory (most free: 1024)");
	req.memory_mib = 512;
	req.cpus = 4;
	h[0].cpus_free = 3;
	assert_string_equal(choose(h, 2, &req), "b"); /* exactly enough is enough */
	h[1].cpus_free = 2;
	assert_null(choose(h, 2, &req));
	assert_string_equal(cl_error_detail(), "no host has 4 free CPUs (most free: 3)");
}

static void zone_and_rack(void **state)
{
	cl_place_host h[3] = {host("a"), host("b"), host("c")};
	h[0].zone = "eu-1", h[0].rack = "r1";
	h[1].zone = "eu-2", h[1].rack = "r1";
	/* c has no labels: it never matches an asked-for label. */
	cl_place_request req = {.zone = "eu-2"};
	assert_string_equal(choose(h, 3, &req), "b");
	req.rack = "r2";
	assert_null(choose(h, 3, &req));
	assert_string_equal(cl_error_detail(), "no host is in rack r2");
	req.zone = "us-1";
	assert_null(choose(h, 3, &req));
	assert_string_equal(cl_error_detail(), "no host is in zone us-1");
	req.zone = NULL;
	req.rack = "r1";
	assert_string_equal(choose(h, 3, &req), "a"); /* equal scores: smallest id */
}

static const cl_place_latency lat_a[] = {{"db-primary", 300, 1}, {"cache", 50, 1}};
static const cl_place_latency lat_b[] = {{"db-primary", 900, 2}};
static const cl_place_latency lat_c[] = {{"db-primary", 400, 5}};

static void three_hosts(cl_place_host h[3])
{
	h[0] = host("a"), h[1] = host("b"), h[2] = host("c");
	h[0].latency = lat_a, h[0].nlatency = 2;
	h[1].latency = lat_b, h[1].nlatency = 1;
	h[2].latency = lat_c, h[2].nlatency = 1;
}

static void near_by_latency_and_hops(void **state)
{
	cl_place_host h[4];
	three_hosts(h);
	h[3] = host("d"); /* no measurement at all */
	cl_place_constraint c = {.resource = "db-primary", .latency_us = 500};
	cl_place_request req = {.constraints = &c, .nconstraints = 1};
	assert_string_equal(choose(h, 4, &req), "a");
	h[0].healthy = false;
	assert_string_equal(choose(h, 4, &req), "c"); /* 400 <= 500; b and d fail */
	c.latency_us = 400;
	assert_string_equal(choose(h, 4, &req), "c"); /* the bound is inclusive */
	c.latency_us = 399;
	assert_null(choose(h, 4, &req));
	assert_string_equal(cl_error_detail(), "no host is within 399us of db-primary (closest: 400us)");
	c.latency_us = 0;
	c.hops = 2;
	assert_string_equal(choose(h, 4, &req), "b"); /* by hops: c has 5 */
	c.hops = 1;
	assert_null(choose(h, 4, &req));
	assert_string_equal(cl_error_detail(), "no host is within 1 hops of db-primary (closest: 2 hops)");
	c.latency_us = 1000;
	c.hops = 4;
	assert_string_equal(choose(h, 4, &req), "b"); /* both bounds: c fails on hops */
	c.latency_us = 500;
	assert_null(choose(h, 4, &req));
	assert_string_equal(cl_error_detail(), "no host is within 500us and 4 hops of db-primary (closest: 400us, 2 hops)");
	c.resource = "nowhere";
	assert_null(choose(h, 4, &req));
	assert_string_equal(cl_error_detail(),
			    "no host is within 500us and 4 hops of nowhere (no host has a measurement to it)");
	/* Near with no bound: just needs a measurement. */
	c.latency_us = c.hops = 0;
	c.resource = "cache";
	assert_null(choose(h, 4, &req));
	assert_string_equal(cl_error_detail(), "no host has a measurement to cache");
	h[0].healthy = true;
	assert_string_equal(choose(h, 4, &req), "a");
}

static void far_by_latency_and_hops(void **state)
{
	cl_place_host h[3];
	three_hosts(h);
	cl_place_constraint c = {.resource = "db-primary", .far = true, .latency_us = 800};
	cl_place_request req = {.constraints = &c, .nconstraints = 1};
	assert_string_equal(choose(h, 3, &req), "b");
	c.latency_us = 0;
	c.hops = 5;
	assert_string_equal(choose(h, 3, &req), "c"); /* inclusive */
	c.hops = 6;
	assert_null(choose(h, 3, &req));
	assert_string_equal(cl_error_detail(), "no host is at least 6 hops from db-primary (farthest: 5 hops)");
	c.latency_us = 1000;
	c.hops = 0;
	assert_null(choose(h, 3, &req));
	assert_string_equal(cl_error_detail(), "no host is at least 1000us from db-primary (farthest: 900us)");
	/* A host with no entry for the resource meets a far constraint. */
	c.resource = "cache";
	assert_string_equal(choose(h, 3, &req), "b"); /* a is 50us from cache: too near */
}

static void score_order(void **state)
{
	cl_place_host h[3];
	three_hosts(h);
	h[0].mem_free_mib = 100; /* nearest wins even with less free memory */
	cl_place_constraint c[2] = {{.resource = "db-primary", .latency_us = 1000}};
	cl_place_request req = {.constraints = c, .nconstraints = 1};
	assert_string_equal(choose(h, 3, &req), "a");
	/* Equal latency sum: fewer hops wins. */
	static const cl_place_latency same1[] = {{"db-primary", 300, 4}}, same2[] = {{"db-primary", 300, 3}};
	h[1].latency = same1, h[2].latency = same2;
	h[0].healthy = false;
	assert_string_equal(choose(h, 3, &req), "c");
	/* Sums over several near constraints; far constraints do not score. */
	static const cl_place_latency two_b[] = {{"db-primary", 100, 1}, {"queue", 100, 1}};
	static const cl_place_latency two_c[] = {{"db-primary", 50, 1}, {"queue", 200, 1}};
	h[1].latency = two_b, h[1].nlatency = 2;
	h[2].latency = two_c, h[2].nlatency = 2;
	c[1] = (cl_place_constraint){.resource = "queue", .latency_us = 1000};
	req.nconstraints = 2;
	assert_string_equal(choose(h, 3, &req), "b"); /* 200 < 250 */
	c[1].far = true;
	c[1].latency_us = 50;
	assert_string_equal(choose(h, 3, &req), "c"); /* only db-primary counts: 50 < 100 */
	/* No proximity: the higher free-memory fraction wins. */
	req.nconstraints = 0;
	h[1].mem_free_mib = 2000, h[1].mem_total_mib = 4000; /* 0.5 */
	h[2].mem_free_mib = 1800, h[2].mem_total_mib = 3000; /* 0.6, though less MiB free */
	assert_string_equal(choose(h, 3, &req), "c");
	h[2].mem_free_mib = 1500; /* 0.5 exactly: tie, broken by id */
	assert_string_equal(choose(h, 3, &req), "b");
}

static void tie_break_is_deterministic(void **state)
{
	enum { N = 40 };
	static char ids[N][16];
	cl_place_host h[N];
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "h%02d", i);
		h[i] = host(ids[i]);
	}
	/* Identical scores everywhere but h07 is ineligible: h00 wins, then
	 * shuffles of the input must not change the answer. */
	cl_place_request req = {.memory_mib = 1};
	h[7].eligible = false;
	srand(12345);
	for (int round = 0; round < 200; round++) {
		for (int i = N - 1; i > 0; i--) {
			int j = rand() % (i + 1);
			cl_place_host t = h[i];
			h[i] = h[j];
			h[j] = t;
		}
		assert_string_equal(choose(h, N, &req), "h00");
	}
	/* With h00 gone, h01. */
	for (int i = 0; i < N; i++)
		if (strcmp(h[i].id, "h00") == 0)
			h[i].healthy = false;
	assert_string_equal(choose(h, N, &req), "h01");
}

static void filter_order_names_last_elimination(void **state)
{
	/* a fails level, b fails memory, c fails the proximity constraint: the
	 * last candidate (c) fell at proximity, so that is what is reported. */
	cl_place_host h[3];
	three_hosts(h);
	h[0].level_rank = 0, h[1].level_rank = 3, h[2].level_rank = 3;
	h[1].mem_free_mib = 10;
	cl_place_constraint c = {.resource = "db-primary", .latency_us = 100};
	cl_place_request req = {.min_level_rank = 3, .memory_mib = 1000, .constraints = &c, .nconstraints = 1};
	assert_null(choose(h, 3, &req));
	assert_string_equal(cl_error_detail(), "no host is within 100us of db-primary (closest: 400us)");
	/* The "closest" is among the hosts that reached the filter: a (300us)
	 * was already out on level. Now c fails on memory too: memory is reported. */
	h[2].mem_free_mib = 999;
	assert_null(choose(h, 3, &req));
	assert_string_equal(cl_error_detail(), "no host has 1000 MiB free memory (most free: 999)");
}

static void bad_arguments(void **state)
{
	cl_place_host h[1] = {host("a")};
	cl_place_request req = {0};
	size_t idx;
	assert_int_equal(cl_place_choose(h, 1, NULL, &idx), CL_EINVAL);
	assert_int_equal(cl_place_choose(h, 1, &req, NULL), CL_EINVAL);
	assert_int_equal(cl_place_choose(NULL, 1, &req, &idx), CL_EINVAL);
	req.nconstraints = 1;
	assert_int_equal(cl_place_choose(h, 1, &req, &idx), CL_EINVAL);
	cl_place_constraint c = {.resource = NULL};
	req.constraints = &c;
	assert_int_equal(cl_place_choose(h, 1, &req, &idx), CL_EINVAL);
	req.nconstraints = 0;
	h[0].id = NULL;
	assert_int_equal(cl_place_choose(h, 1, &req, &idx), CL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(level_ranks),
		cmocka_unit_test(health_and_eligibility),
		cmocka_unit_test(security_level),
		cmocka_unit_test(memory_and_cpus),
		cmocka_unit_test(zone_and_rack),
		cmocka_unit_test(near_by_latency_and_hops),
		cmocka_unit_test(far_by_latency_and_hops),
		cmocka_unit_test(score_order),
		cmocka_unit_test(tie_break_is_deterministic),
		cmocka_unit_test(filter_order_names_last_elimination),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
