/* bench_placement.c — time of one placement decision (cl_place_choose) with
 * 1,000 and 10,000 hosts. Each host has four latency entries; the request has
 * a security level, memory, CPUs and a near constraint (and, in the second
 * case, one no host can meet, so every host runs every filter it can).
 * Prints the median of many runs per size and the cost per host; the target
 * is <= 1 ms at 10,000 hosts and linear growth. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/placement.h"

#define NLAT 4

static const char *const resources[NLAT] = {"db-replica", "cache", "queue", "db-primary"};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

typedef struct fleet {
	cl_place_host *hosts;
	cl_place_latency *lat;
	char (*ids)[24];
	size_t n;
} fleet;

/* A fleet of n hosts with varied levels, load, zones and distances.
 * Seeded: every run measures the same fleet. */
static int fleet_make(fleet *f, size_t n)
{
	static const char *const zones[] = {"eu-1", "eu-2", "us-1"};
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	f->n = n;
	f->hosts = calloc(n, sizeof(*f->hosts));
	f->lat = calloc(n * NLAT, sizeof(*f->lat));
	f->ids = calloc(n, sizeof(*f->ids));
	if (!f->hosts || !f->lat || !f->ids)
		return -1;
	for (size_t i = 0; i < n; i++) {
		cl_place_host *h = &f->hosts[i];
		snprintf(f->ids[i], sizeof(f->ids[i]), "host-%06zu", (size_t)(xorshift(&seed) % 1000000));
		h->id = f->ids[i];
		h->level_rank = (int)(xorshift(&seed) % 4);
		h->healthy = xorshift(&seed) % 50 != 0;
		h->eligible = xorshift(&seed) % 20 != 0;
		h->mem_total_mib = 65536;
		h->mem_free_mib = xorshift(&seed) % 65536;
		h->cpus_free = (uint32_t)(xorshift(&seed) % 32);
		h->zone = zones[xorshift(&seed) % 3];
		h->rack = NULL;
		h->latency = &f->lat[i * NLAT];
		h->nlatency = NLAT;
		for (size_t k = 0; k < NLAT; k++)
			f->lat[i * NLAT + k] = (cl_place_latency){resources[k], (uint32_t)(50 + xorshift(&seed) % 5000),
								  (uint32_t)(1 + xorshift(&seed) % 8)};
	}
	return 0;
}

static void fleet_free(fleet *f)
{
	free(f->hosts);
	free(f->lat);
	free(f->ids);
}

/* Median (and min, p90) in ns of `runs` decisions. */
static int measure(const fleet *f, const cl_place_request *req, int runs, cl_err want, uint64_t out[3])
{
	uint64_t *t = calloc((size_t)runs, sizeof(*t));
	if (!t)
		return -1;
	volatile size_t sink = 0;
	for (int r = 0; r < runs; r++) {
		size_t chosen = 0;
		uint64_t t0 = now_ns();
		cl_err e = cl_place_choose(f->hosts, f->n, req, &chosen);
		t[r] = now_ns() - t0;
		if (e != want) {
			fprintf(stderr, "unexpected result %d: %s\n", e, cl_error_detail());
			free(t);
			return -1;
		}
		sink += chosen;
	}
	(void)sink;
	qsort(t, (size_t)runs, sizeof(*t), cmp_u64);
	out[0] = t[runs / 2];
	out[1] = t[0];
	out[2] = t[runs * 9 / 10];
	free(t);
	return 0;
}

int main(void)
{
	static const size_t sizes[] = {1000, 10000};
	enum { RUNS = 1001 };
	cl_place_constraint near = {.resource = "db-primary", .latency_us = 500};
	cl_place_constraint impossible = {.resource = "db-primary", .latency_us = 10};
	const struct {
		const char *label;
		cl_place_request req;
		cl_err want;
	} cases[] = {
		{"placed (near <=500us)",
		 {.min_level_rank = 1, .memory_mib = 2048, .cpus = 2, .constraints = &near, .nconstraints = 1},
		 CL_OK},
		{"none fits (near <=10us)",
		 {.min_level_rank = 0, .memory_mib = 1, .cpus = 0, .constraints = &impossible, .nconstraints = 1},
		 CL_EUNAVAIL},
	};
	printf("%-26s %8s %12s %12s %12s %10s\n", "case", "hosts", "median_us", "min_us", "p90_us", "ns/host");
	double per_host[2][2] = {{0}};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (size_t s = 0; s < 2; s++) {
			fleet f;
			uint64_t r[3];
			if (fleet_make(&f, sizes[s]) != 0 || measure(&f, &cases[c].req, RUNS, cases[c].want, r) != 0) {
				fleet_free(&f);
				return 1;
			}
			per_host[c][s] = (double)r[0] / (double)sizes[s];
			printf("%-26s %8zu %12.1f %12.1f %12.1f %10.1f\n", cases[c].label, sizes[s], r[0] / 1e3,
			       r[1] / 1e3, r[2] / 1e3, per_host[c][s]);
			fleet_free(&f);
		}
	}
	printf("growth 1k->10k (per-host cost ratio, 1.0 = linear): placed %.2f, none fits %.2f\n",
	       per_host[0][1] / per_host[0][0], per_host[1][1] / per_host[1][0]);
	return 0;
}
