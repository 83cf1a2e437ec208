/* suspend.h — the control plane's half of suspend and restore
 * (api_suspend.c; docs/suspend.md). */
#ifndef CL_CONTROL_SUSPEND_H
#define CL_CONTROL_SUSPEND_H

#include <stdint.h>

#include "common/err.h"
#include "control/control.h"

/* The largest blob enclave e's suspend may store: the state format's
 * limit (header, 64 MiB of files and their tar, tag) or e's /tmp (a
 * quarter of its memory), whichever is smaller. */
uint64_t ctl_suspend_blob_max(const ctl_enclave *e);

/* Whether e may be suspended now (suspend step 1): CL_ECONFLICT
 * "not_suspendable: ..." (not created --suspendable, or already
 * suspended), CL_ECONFLICT "busy: ..." (a provision, suspend or restore of
 * it in flight), CL_EUNAVAIL (not running on a ready host); store errors. */
CL_MUST_CHECK cl_err ctl_suspend_admit(ctl_server *srv, const ctl_enclave *e);

/* POST /v1/enclaves/{id}/suspend (access checked; e loaded): a job and
 * its op "suspend" {nonce}; 202 with the job, or the refusal. */
void ctl_enclave_suspend(ctl_req *r, ctl_enclave *e);

/* POST /v1/hosts/{id}/ops/{op}/state-key {document} (host token): a
 * suspend op's key issued (ctl_state_issue), a restore op's released
 * (ctl_state_release); 200 {n, wrapped}. A refusal answers 403 with its
 * "reason" and fails the op's job with "reason: detail". */
void ctl_op_state_key(ctl_req *r, const char *host_id, const char *op_id);

/* PUT /v1/hosts/{id}/ops/{op}/data?offset=N[&length=L&sha384=H] (host
 * token, a suspend op with its key issued): appends the body at offset N
 * (409 naming the bytes held if N is not that), at most
 * ctl_suspend_blob_max; with length and sha384, the blob is checked,
 * made durable and committed (ctl_suspend_commit), and the job succeeds. */
void ctl_op_data_put(ctl_req *r, const char *host_id, const char *op_id);

/* Commits suspend n of enclave_id whose blob (size bytes, SHA-384 hex
 * sha384) is at rel (relative to the data dir, already durable): in one
 * transaction the state key and blob become the committed ones
 * (ctl_store_state_commit) and the enclave is `suspended` (desired too:
 * its host removes the sandbox); then the previous blob's file is removed.
 * CL_ECONFLICT if n is not the pending suspend (nothing changed); store
 * errors. */
CL_MUST_CHECK cl_err ctl_suspend_commit(ctl_server *srv, const char *enclave_id, int64_t n, uint64_t size,
					const char *sha384, const char *rel);

#endif
