/* agent_pcrs.h — an enclave's measurement registers on the host
 * (agent_pcrs.c: storage and report; agent_measure.c: measuring at launch).
 *
 * The registers of an enclave are computed before its sandbox is launched
 * and kept in DATA/pcrs/ID.json (written atomically, removed when the
 * enclave is destroyed), so an enclave adopted by a restarted agent still
 * has them. The file holds the same object the enclave report carries:
 * {"0":"<96 hex>", "1":..., ...} with the registers that are not zero.
 */
#ifndef CL_HOST_AGENT_PCRS_H
#define CL_HOST_AGENT_PCRS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "host/agent_args.h"
#include "image/measure.h"

/* Writes DIR/pcrs/ID.json atomically (0600; DIR/pcrs made if missing). */
CL_MUST_CHECK cl_err cl_agent_pcrs_save(const char *dir, const char *id, const cl_pcrs *p);
/* Reads DIR/pcrs/ID.json into *p. CL_ENOTFOUND if there is none, CL_EINVAL
 * if it is malformed. */
CL_MUST_CHECK cl_err cl_agent_pcrs_load(const char *dir, const char *id, cl_pcrs *p);
/* Removes DIR/pcrs/ID.json and the provision op's marker DIR/provision/ID
 * (missing files are fine). */
void cl_agent_pcrs_remove(const char *dir, const char *id);
/* Removes every record DIR/pcrs/ID.json whose id is not in keep[0..n) (records a
 * kill left between writing them and launching), and every provision marker
 * DIR/provision/ID of an id not kept. Returns how many records. */
size_t cl_agent_pcrs_prune(const char *dir, char *const *keep, size_t n);

/* Records the installed bundle (its tar's SHA-384) in the enclave's
 * registers: PCR7 = extend(zeros, sha384), kept in DIR/pcrs/ID.json. An
 * enclave installs one bundle at most, so this is idempotent: a PCR7 that
 * already records it is left as it is (*changed false). pcr7 (may be NULL)
 * gets the register. CL_ECONFLICT if PCR7 records another bundle, the
 * load's and save's errors otherwise. */
CL_MUST_CHECK cl_err cl_agent_pcrs_record_bundle(const char *dir, const char *id, const uint8_t sha384[48],
						 uint8_t pcr7[CL_PCR_LEN], bool *changed);
/* At adoption: an enclave whose shim says a bundle is installed but whose
 * registers do not record it (the agent was killed between cloister-init's
 * EXTEND and recording it) gets it recorded now. Best effort: logs. */
void cl_agent_pcrs_adopt_bundle(const char *dir, const char *id);

/* {"N":"<96 lower-case hex>"} for every register of p that is not all
 * zeros (new reference; NULL out of memory). */
json_t *cl_agent_pcrs_json(const cl_pcrs *p);
/* The inverse: keys "0".."15", values 96 hex digits; anything else is
 * CL_EINVAL. Registers not named are zero. */
CL_MUST_CHECK cl_err cl_agent_pcrs_from_json(json_t *o, cl_pcrs *p);

/* Enclaves whose registers the control plane has not been told yet (each
 * launch, and every enclave adopted at start). */
typedef struct cl_agent_pcrs_pending {
	struct cl_agent_pcrs_entry {
		char id[CL_AGENT_ID_MAX];
		bool sent; /* in the sync request now in flight */
	} *v;
	size_t n;
} cl_agent_pcrs_pending;

/* Adds id (again: sent cleared). Best effort: without memory it is not reported. */
void cl_agent_pcrs_mark(cl_agent_pcrs_pending *pp, const char *id);
/* Forgets id (destroyed). */
void cl_agent_pcrs_unmark(cl_agent_pcrs_pending *pp, const char *id);
/* Adds "pcrs" to every entry of encs (a sync request's "enclaves" array)
 * whose id is pending, not "failed", and whose record loads, and marks it
 * sent. Returns how many entries got one. */
size_t cl_agent_pcrs_attach(const char *dir, json_t *encs, cl_agent_pcrs_pending *pp);
/* The sync request was accepted: forgets the entries sent. */
void cl_agent_pcrs_delivered(cl_agent_pcrs_pending *pp);
/* Frees the list. */
void cl_agent_pcrs_pending_free(cl_agent_pcrs_pending *pp);

#endif
