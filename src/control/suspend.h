/* suspend.h — the control plane's half of suspend and restore
 * (api_suspend.c; docs/suspend.md). */
#ifndef CL_CONTROL_SUSPEND_H
#define CL_CONTROL_SUSPEND_H

#include <stdint.h>

#include "common/err.h"
#include "control/control.h"
#include "control/store_state.h"

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

/* ---- api_restore.c ---- */
/* The enclave's /tmp (a quarter of its memory) holds a restore of a blob
 * of blob_size: three times it (blob, tar, tree) plus 1 MiB. CL_EINVAL
 * "too_large: ..." naming the memory_mib that would. */
CL_MUST_CHECK cl_err ctl_restore_room(const ctl_enclave *e, uint64_t blob_size);
/* A restore's body: nothing, or {"host": a host id} (into *host, borrowed
 * from body; NULL: any). CL_EINVAL otherwise. body may be NULL. */
CL_MUST_CHECK cl_err ctl_parse_restore(json_t *body, const char **host);
/* Whether e may be restored now: CL_ECONFLICT "not_suspended: ..." (not
 * suspended, or no stored state), "busy: ..." (a job op in flight), the
 * room check's CL_EINVAL; its state row into *st. */
CL_MUST_CHECK cl_err ctl_restore_admit(ctl_server *srv, const ctl_enclave *e, ctl_state *st);
/* A host for e's restore: want (NULL: any eligible host) meeting e's level,
 * memory and CPUs (cl_place_choose), into host_id. CL_ENOTFOUND for an
 * unknown want, CL_EUNAVAIL with the placement's reason. */
CL_MUST_CHECK cl_err ctl_restore_place(ctl_server *srv, const ctl_enclave *e, const char *want,
				       char host_id[CTL_ID_MAX]);
/* POST /v1/enclaves/{id}/restore [{"host": H}] (access checked; e
 * loaded): a job and its op "restore" {nonce, n, size, sha384} with the
 * blob as its data; the enclave desired "restoring" on the chosen host. */
void ctl_enclave_restore(ctl_req *r, ctl_enclave *e);
/* A restore op's success: pcr7_b64 (the host's answer) must be the
 * suspend document's PCR7 (CL_EPERM "pcr_mismatch: PCR7 ..."; CL_EPROTO if
 * not 48 bytes); then the enclave is running (one transaction). */
CL_MUST_CHECK cl_err ctl_restore_finish(ctl_server *srv, const char *enclave_id, const char *pcr7_b64);
/* A restore that failed (why: its reason, may be NULL): an enclave still
 * desired "restoring" goes back to suspended, and its host is woken to
 * remove the sandbox. Logged on failure. */
void ctl_restore_revert(ctl_server *srv, const char *enclave_id, const char *why);

#endif
