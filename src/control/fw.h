/* fw.h — firmware on the control plane: the firmware part of host sync
 * (fw_sync.c) and the firmware API handlers (api_fw_hosts.c). Runs on the
 * server's loop like the rest of control.h. */
#ifndef CL_CONTROL_FW_H
#define CL_CONTROL_FW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/proto.h"
#include "control/control.h"
#include "control/store_fw.h"
#include "control/store_fwrel.h"
#include "control/validate.h"

/* ---- fw_sync.c ---- */
/* Applies a validated firmware report inside the caller's transaction:
 * appends the audit records (idempotent on seq; a prev that does not match
 * the stored previous hash, or a gap, is stored and recorded as a
 * "chain_break" event; a stored seq resent with another hash stops the
 * append), checks the host's log against the stored copy (its
 * audit_tampered, a resent seq with another hash, its audit_head before or
 * differing from the stored records: one "audit_tampered" event per
 * episode), stores the status (eligible only if the host says so and it is
 * neither quarantined, open nor tampered; a tampered host is held
 * quarantined), and records alarm/quarantine events. */
CL_MUST_CHECK cl_err ctl_fw_sync_apply(ctl_server *srv, const char *host_id, const ctl_fw_report *rep, int64_t now);
/* True if a sync result's op id names a firmware op ("fw-..."). */
bool ctl_fw_is_op_id(const char *op);
/* Records a firmware op's result inside the caller's transaction (an unknown
 * or already finished op is ignored). */
CL_MUST_CHECK cl_err ctl_fw_sync_result(ctl_server *srv, const char *host_id, const ctl_sync_result *res, int64_t now);
/* Adds "firmware_audit_ack", "firmware_audit_anchor" (the last stored
 * record's seq and hash, null before any) and "firmware_ops" to the sync
 * answer ans and
 * marks those ops delivered, i.e. sent and awaiting a result (its own
 * transaction; not inside another). Pending ops already delivered are sent
 * again until the host reports their result (the agent runs an op id once).
 * At most 32 MiB of op data per answer (at least one op); the rest waits.
 * with_ops false: "firmware_ops" is empty and nothing is marked (the answer
 * to a superseded sync, which may never arrive). */
CL_MUST_CHECK cl_err ctl_fw_sync_answer(ctl_server *srv, const char *host_id, json_t *ans, bool with_ops);
/* Inside the caller's transaction: queues a "queue" firmware op for every
 * release target (ctl_store_fw_targets; tenant_id/host_id "" = all) and
 * records it as queued. *targets (malloc'd, caller frees) lists the hosts to
 * wake after commit. */
CL_MUST_CHECK cl_err ctl_fw_queue_releases(ctl_server *srv, const char *tenant_id, const char *host_id,
					   ctl_fw_target **targets, size_t *n);
/* True if the host has firmware ops not yet delivered (answer its sync at once). */
bool ctl_fw_ops_waiting(ctl_server *srv, const char *host_id);
/* Placement: false if the host's last firmware report said not eligible
 * (or it cannot be read); true if it never reported firmware. */
bool ctl_fw_host_eligible(ctl_server *srv, const char *host_id);

/* Largest bundle the control plane takes (the devices' FWG_MAX_BUNDLE). */
#define CTL_FW_BUNDLE_LIMIT CL_PROTO_FW_BUNDLE_MAX
/* Op data up to this size rides the sync answer inline (base64 "data");
 * bigger data goes by reference ("data_ref"), so several ops still fit one
 * answer and no answer carries tens of MiB of base64. */
#define CTL_FW_INLINE_MAX (256u << 10)

/* ---- store_fw.c: firmware op data kept by reference (fw_op_data, schema v3) ---- */
typedef struct ctl_fw_opdata {
	char op_id[CTL_ID_MAX];
	char host_id[CTL_ID_MAX];
	int64_t size;
	char sha384[97]; /* lower-case hex */
	int64_t created_at;
} ctl_fw_opdata;
/* put inside the caller's transaction; get: CL_ENOTFOUND if the op has no
 * data by reference (or belongs to another host). */
CL_MUST_CHECK cl_err ctl_store_fw_opdata_put(ctl_store *st, const ctl_fw_opdata *d);
CL_MUST_CHECK cl_err ctl_store_fw_opdata_get(ctl_store *st, const char *host_id, const char *op_id,
					     ctl_fw_opdata *out);
/* Deletes the references of the host's finished (no longer pending) ops and
 * returns their op ids (malloc'd, caller frees; at most 64) so the caller
 * removes the files after commit. Inside the caller's transaction. */
CL_MUST_CHECK cl_err ctl_store_fw_opdata_reap(ctl_store *st, const char *host_id, char (**ids)[CTL_ID_MAX],
					      size_t *n);

/* ---- api_fw_hosts.c ---- */
/* /v1/hosts/{id}/fw..., power-cycle, clear-quarantine (admin). Returns
 * false if the path is not one of them (nothing replied). */
bool ctl_api_fw_hosts(ctl_req *r);
/* Queues a firmware op for op->host_id: fills id, state "pending" and times,
 * stores it and bumps the host's generation. own_tx: in its own transaction,
 * then wakes the host's sync; else inside the caller's (who wakes after
 * commit). op->data (base64, may be "") is copied, not kept. */
CL_MUST_CHECK cl_err ctl_fw_op_queue(ctl_server *srv, ctl_fw_op *op, bool own_tx);
/* As ctl_fw_op_queue with the raw op data (len bytes, may be 0; borrowed;
 * op->data is ignored). Data over CTL_FW_INLINE_MAX is kept by reference:
 * written (fsync) to DATA/fw_ops/<op>.bin before the rows commit, recorded
 * in fw_op_data with its size and SHA-384, and sent to the host as
 * "data_ref" (the agent fetches it from GET /v1/hosts/{id}/fw/ops/{op}/data);
 * smaller data goes inline as base64 like before. */
CL_MUST_CHECK cl_err ctl_fw_op_queue_raw(ctl_server *srv, ctl_fw_op *op, const uint8_t *data, size_t len, bool own_tx);
/* /v1/fw/... (api_fw_releases.c): trust chain, releases, tenant channel. */
void ctl_api_fw(ctl_req *r);
/* GET /v1/events (admin). */
void ctl_api_events(ctl_req *r);

#endif
