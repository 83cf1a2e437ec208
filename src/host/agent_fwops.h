/* agent_fwops.h — the firmware op journal (agent_fwops.c).
 */
#ifndef CL_HOST_AGENT_FWOPS_H
#define CL_HOST_AGENT_FWOPS_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

/* DATA/fw/ops.journal remembers the last CL_AGENT_FWOPS_MAX firmware op ids
 * with their state, so that an op the control plane resends (it resends
 * until it receives the result) never runs twice, even across agent
 * restarts, and a result lost with a killed agent is reported again:
 *   - before an op runs:  {op, "started"}          (written, fsynced)
 *   - after it ran:       {op, "done", result}      (written, fsynced)
 * A resent op that is done is answered with its stored result; one left
 * "started" by a killed agent is answered ok=false with
 * CL_AGENT_FWOPS_INTERRUPTED and is not run again. Format and the policy on
 * a corrupt journal: docs/firmware-guard.md ("Crash safety").
 */

#define CL_AGENT_FWOPS_MAX 1024 /* entries kept, the oldest leaves first: 4x the 256 ops a sync answer carries */
#define CL_AGENT_FWOPS_FILE_MAX (1u << 20)
#define CL_AGENT_FWOPS_INTERRUPTED "interrupted by an agent restart; check fw status"

typedef struct cl_agent_fwops cl_agent_fwops;

/* Loads the journal at path (a missing file is an empty journal; temp files
 * a killed writer left beside it are removed). Entries a killed agent left
 * "started" become done with the interrupted result {op, ok:false,
 * error:CL_AGENT_FWOPS_INTERRUPTED, reason:"interrupted"}, written back
 * before this returns. A file that is not a valid journal is CL_EPROTO with
 * a detail naming it and the remedy; the file is left as it is (the agent
 * refuses to start: ops could otherwise run twice). *out is freed with
 * cl_agent_fwops_free. */
CL_MUST_CHECK cl_err cl_agent_fwops_open(const char *path, cl_agent_fwops **out);
/* Frees the in-memory journal. NULL ok. */
void cl_agent_fwops_free(cl_agent_fwops *j);
/* Called before running op. If op is known, *result is a new reference to
 * its stored result (do not run it again; report that). Otherwise records
 * {op, started} durably, dropping the oldest entry once CL_AGENT_FWOPS_MAX
 * are kept, and sets *result = NULL: run the op, then call _finish. On
 * error (invalid id, write failed) nothing is recorded and the op must not
 * run. */
CL_MUST_CHECK cl_err cl_agent_fwops_begin(cl_agent_fwops *j, const char *op, json_t **result);
/* Records op's result (copied; an object with "op" and boolean "ok") as
 * done, durably. If the write fails the in-memory entry still holds the
 * result (resends in this process get it) and the file keeps "started"
 * (after a restart the op reads as interrupted: never run twice). */
CL_MUST_CHECK cl_err cl_agent_fwops_finish(cl_agent_fwops *j, const char *op, json_t *result);
/* Entries held (tests, logs). */
size_t cl_agent_fwops_count(const cl_agent_fwops *j);

#endif
