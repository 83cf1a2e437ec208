/* placement.h — choosing a host for an enclave. Pure functions, no I/O.
 *
 * Filter, then score, then a deterministic tie-break:
 *  1. filter: healthy, not quarantined, firmware locked, level rank >= min,
 *     enough free memory and CPUs, zone/rack labels if asked, and every
 *     proximity constraint met (near: latency <= bound and/or hops <= bound;
 *     far: latency >= bound and/or hops >= bound; a host with no entry for
 *     the named resource fails a near constraint and meets a far one);
 *  2. score: proximity first (sum over near constraints of latency, then hops:
 *     lower is better), then load (higher free-memory fraction is better);
 *  3. tie-break: smallest host id (strcmp).
 * One decision is O(hosts x constraints), no allocation.
 */
#ifndef CL_PLACEMENT_H
#define CL_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Security levels as ranks: software 0 < tpm 1 < sev-snp = tdx 2 < sgx 3. */
/* Returns the rank for a level name, or -1 if unknown. */
int cl_level_rank(const char *name);

typedef struct cl_place_latency {
	const char *resource; /* named resource, e.g. "db-primary" */
	uint32_t latency_us;
	uint32_t hops;
} cl_place_latency;

typedef struct cl_place_host {
	const char *id;
	int level_rank;
	bool healthy;   /* heartbeat is current */
	bool eligible;  /* firmware locked and not quarantined */
	uint64_t mem_total_mib, mem_free_mib;
	uint32_t cpus_free;
	const char *zone, *rack; /* may be NULL */
	const cl_place_latency *latency;
	size_t nlatency;
} cl_place_host;

typedef struct cl_place_constraint {
	const char *resource;
	bool far;                /* false: near, true: far */
	uint32_t latency_us;     /* bound; 0 = not constrained by latency */
	uint32_t hops;           /* bound; 0 = not constrained by hops */
} cl_place_constraint;

typedef struct cl_place_request {
	int min_level_rank;
	uint64_t memory_mib;
	uint32_t cpus;
	const char *zone, *rack; /* NULL = any */
	const cl_place_constraint *constraints;
	size_t nconstraints;
} cl_place_request;

/* Chooses a host. On success *chosen is an index into hosts. When no host
 * qualifies returns CL_EUNAVAIL with a detail (cl_error_detail) that names the
 * constraint nobody met, e.g. "no host meets min_level=sgx (best: software)"
 * or "no host is within 500us of db-primary". */
CL_MUST_CHECK cl_err cl_place_choose(const cl_place_host *hosts, size_t n, const cl_place_request *req,
				     size_t *chosen);

#endif
