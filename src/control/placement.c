/* placement.c — choosing a host for an enclave (docs/placement.md).
 *
 * One pass over the hosts. Each host is run through the filters in a fixed
 * order; the first filter it fails is its "stage". A host that passes them all
 * is scored and compared with the best so far. When none passes, the filter
 * that emptied the candidate set is the highest stage any host reached (the
 * hosts that got furthest were eliminated there), and the detail names it,
 * with the best value seen among exactly those hosts. No allocation, O(hosts x
 * constraints x latency entries per host).
 */
#include <stdio.h>
#include <string.h>

#include "control/placement.h"

/* Filter order. Proximity constraint i is stage STAGE_PROXIMITY + i. */
enum {
	STAGE_HEALTHY,
	STAGE_ELIGIBLE,
	STAGE_LEVEL,
	STAGE_MEMORY,
	STAGE_CPUS,
	STAGE_ZONE,
	STAGE_RACK,
	STAGE_PROXIMITY,
};

int cl_level_rank(const char *name)
{
	static const struct {
		const char *name;
		int rank;
	} levels[] = {{"software", 0}, {"tpm", 1}, {"sev-snp", 2}, {"tdx", 2}, {"sgx", 3}};
	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(name, levels[i].name) == 0)
			return levels[i].rank;
	return -1;
}

static const char *rank_name(int rank)
{
	static const char *const names[] = {"software", "tpm", "sev-snp/tdx", "sgx"};
	return rank >= 0 && rank <= 3 ? names[rank] : "unknown";
}

static const cl_place_latency *find_latency(const cl_place_host *h, const char *resource)
{
	for (size_t i = 0; i < h->nlatency; i++)
		if (h->latency[i].resource && strcmp(h->latency[i].resource, resource) == 0)
			return &h->latency[i];
	return NULL;
}

/* Does entry e (NULL: no measurement) meet constraint c? */
static bool proximity_met(const cl_place_constraint *c, const cl_place_latency *e)
{
	if (!e)
		return c->far; /* unknown distance: not near, so counts as far */
	if (c->far)
		return (!c->latency_us || e->latency_us >= c->latency_us) && (!c->hops || e->hops >= c->hops);
	return (!c->latency_us || e->latency_us <= c->latency_us) && (!c->hops || e->hops <= c->hops);
}

/* Where the last candidates were eliminated, and the best value among them. */
typedef struct elimination {
	size_t stage;
	size_t count;            /* hosts eliminated at `stage` */
	int best_rank;
	uint64_t best_mem;
	uint32_t best_cpus;
	bool measured;           /* some host has an entry for the resource */
	uint32_t best_lat, best_hops; /* closest (near) or farthest (far) */
} elimination;

static void note_elimination(elimination *el, size_t stage, const cl_place_host *h, const cl_place_request *req)
{
	if (stage < el->stage)
		return;
	if (stage > el->stage) {
		memset(el, 0, sizeof(*el));
		el->stage = stage;
		el->best_rank = -1;
	}
	el->count++;
	switch (stage) {
	case STAGE_LEVEL:
		if (h->level_rank > el->best_rank)
			el->best_rank = h->level_rank;
		break;
	case STAGE_MEMORY:
		if (h->mem_free_mib > el->best_mem)
			el->best_mem = h->mem_free_mib;
		break;
	case STAGE_CPUS:
		if (h->cpus_free > el->best_cpus)
			el->best_cpus = h->cpus_free;
		break;
	default:
		if (stage >= STAGE_PROXIMITY) {
			const cl_place_constraint *c = &req->constraints[stage - STAGE_PROXIMITY];
			const cl_place_latency *e = find_latency(h, c->resource);
			if (!e)
				break;
			bool first = !el->measured;
			el->measured = true;
			if (c->far) {
				if (first || e->latency_us > el->best_lat)
					el->best_lat = e->latency_us;
				if (first || e->hops > el->best_hops)
					el->best_hops = e->hops;
			} else {
				if (first || e->latency_us < el->best_lat)
					el->best_lat = e->latency_us;
				if (first || e->hops < el->best_hops)
					el->best_hops = e->hops;
			}
		}
	}
}

/* Returns the first filter h fails, or SIZE_MAX if it passes all; on a pass
 * also fills the proximity score (sums over near constraints). */
static size_t filter_host(const cl_place_host *h, const cl_place_request *req, uint64_t *lat_sum,
			  uint64_t *hop_sum)
{
	if (!h->healthy)
		return STAGE_HEALTHY;
	if (!h->eligible)
		return STAGE_ELIGIBLE;
	if (h->level_rank < req->min_level_rank)
		return STAGE_LEVEL;
	if (h->mem_free_mib < req->memory_mib)
		return STAGE_MEMORY;
	if (h->cpus_free < req->cpus)
		return STAGE_CPUS;
	if (req->zone && (!h->zone || strcmp(h->zone, req->zone) != 0))
		return STAGE_ZONE;
	if (req->rack && (!h->rack || strcmp(h->rack, req->rack) != 0))
		return STAGE_RACK;
	*lat_sum = *hop_sum = 0;
	for (size_t i = 0; i < req->nconstraints; i++) {
		const cl_place_constraint *c = &req->constraints[i];
		const cl_place_latency *e = find_latency(h, c->resource);
		if (!proximity_met(c, e))
			return STAGE_PROXIMITY + i;
		if (!c->far) { /* near constraints met imply e != NULL */
			*lat_sum += e->latency_us;
			*hop_sum += e->hops;
		}
	}
	return SIZE_MAX;
}

typedef struct candidate {
	size_t index;
	uint64_t lat, hops;
} candidate;

/* True if host a (with score sa) is a better choice than host b (sb). */
static bool better(const cl_place_host *a, const candidate *sa, const cl_place_host *b, const candidate *sb)
{
	if (sa->lat != sb->lat)
		return sa->lat < sb->lat;
	if (sa->hops != sb->hops)
		return sa->hops < sb->hops;
	/* Free-memory fraction, compared exactly: fa/ta vs fb/tb as fa*tb vs fb*ta
	 * in 128 bits. A host reporting no total counts as fully used. */
	unsigned __int128 fa = a->mem_total_mib ? a->mem_free_mib : 0, ta = a->mem_total_mib ? a->mem_total_mib : 1;
	unsigned __int128 fb = b->mem_total_mib ? b->mem_free_mib : 0, tb = b->mem_total_mib ? b->mem_total_mib : 1;
	if (fa * tb != fb * ta)
		return fa * tb > fb * ta;
	return strcmp(a->id, b->id) < 0;
}

static cl_err explain(const elimination *el, size_t n, const cl_place_request *req)
{
	switch (el->stage) {
	case STAGE_HEALTHY:
		return cl_errorf(CL_EUNAVAIL, "no host is healthy (%zu hosts, none with a current heartbeat)", n);
	case STAGE_ELIGIBLE:
		return cl_errorf(CL_EUNAVAIL,
				 "no healthy host is eligible (firmware locked and not quarantined)");
	case STAGE_LEVEL:
		return cl_errorf(CL_EUNAVAIL, "no host meets min_level=%s (best available: %s)",
				 rank_name(req->min_level_rank), rank_name(el->best_rank));
	case STAGE_MEMORY:
		return cl_errorf(CL_EUNAVAIL, "no host has %llu MiB free memory (most free: %llu)",
				 (unsigned long long)req->memory_mib, (unsigned long long)el->best_mem);
	case STAGE_CPUS:
		return cl_errorf(CL_EUNAVAIL, "no host has %u free CPUs (most free: %u)", req->cpus, el->best_cpus);
	case STAGE_ZONE:
		return cl_errorf(CL_EUNAVAIL, "no host is in zone %s", req->zone);
	case STAGE_RACK:
		return cl_errorf(CL_EUNAVAIL, "no host is in rack %s", req->rack);
	default:
		break;
	}
	const cl_place_constraint *c = &req->constraints[el->stage - STAGE_PROXIMITY];
	char bound[64], seen[80];
	if (c->latency_us && c->hops)
		snprintf(bound, sizeof(bound), "%uus and %u hops", c->latency_us, c->hops);
	else if (c->latency_us)
		snprintf(bound, sizeof(bound), "%uus", c->latency_us);
	else
		snprintf(bound, sizeof(bound), "%u hops", c->hops);
	if (!el->measured)
		snprintf(seen, sizeof(seen), "no host has a measurement to it");
	else if (c->latency_us && c->hops)
		snprintf(seen, sizeof(seen), "%s: %uus, %u hops", c->far ? "farthest" : "closest", el->best_lat,
			 el->best_hops);
	else if (c->latency_us)
		snprintf(seen, sizeof(seen), "%s: %uus", c->far ? "farthest" : "closest", el->best_lat);
	else
		snprintf(seen, sizeof(seen), "%s: %u hops", c->far ? "farthest" : "closest", el->best_hops);
	if (c->far)
		return cl_errorf(CL_EUNAVAIL, "no host is at least %s from %s (%s)", bound, c->resource, seen);
	if (!c->latency_us && !c->hops)
		return cl_errorf(CL_EUNAVAIL, "no host has a measurement to %s", c->resource);
	return cl_errorf(CL_EUNAVAIL, "no host is within %s of %s (%s)", bound, c->resource, seen);
}

cl_err cl_place_choose(const cl_place_host *hosts, size_t n, const cl_place_request *req, size_t *chosen)
{
	CL_ENSURE(req && chosen && (hosts || n == 0), CL_EINVAL, "placement: missing hosts, request or result");
	CL_ENSURE(req->constraints || req->nconstraints == 0, CL_EINVAL, "placement: missing constraints");
	for (size_t i = 0; i < req->nconstraints; i++)
		CL_ENSURE(req->constraints[i].resource, CL_EINVAL, "placement: constraint #%zu names no resource", i);
	CL_ENSURE(n > 0, CL_EUNAVAIL, "no host is available (the fleet is empty)");

	elimination el = {.best_rank = -1};
	candidate best = {.index = SIZE_MAX};
	for (size_t i = 0; i < n; i++) {
		const cl_place_host *h = &hosts[i];
		CL_ENSURE(h->id, CL_EINVAL, "placement: host #%zu has no id", i);
		candidate cand = {.index = i};
		size_t stage = filter_host(h, req, &cand.lat, &cand.hops);
		if (stage != SIZE_MAX) {
			note_elimination(&el, stage, h, req);
			continue;
		}
		if (best.index == SIZE_MAX || better(h, &cand, &hosts[best.index], &best))
			best = cand;
	}
	if (best.index == SIZE_MAX)
		return explain(&el, n, req);
	*chosen = best.index;
	return CL_OK;
}
