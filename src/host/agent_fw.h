/* agent_fw.h — the firmware guard in the agent (agent_fw.c): the device model, its
 * reports, the audit log's shipping and the ops of a sync answer.
 */
#ifndef CL_HOST_AGENT_FW_H
#define CL_HOST_AGENT_FW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "host/agent_proto.h"

struct fwg_host;
struct fwg_audit_rec;

/* Opens the device model in dir (DATA/fw). On first start (dir holds no
 * devices) manufactures the default devices (NIC, GPU, BMC) with the root
 * public key from root_pem burnt into their ROM; later starts ignore
 * root_pem (a ROM is written once). *out is freed with fwg_host_close. */
CL_MUST_CHECK cl_err cl_agent_fw_open(const char *dir, const char *root_pem, struct fwg_host **out);
/* cl_agent_fw_open with the devices' keys in the key holder (keys, borrowed:
 * must outlive the host; NULL = in the model's files). */
struct fwg_keys;
CL_MUST_CHECK cl_err cl_agent_fw_open_keys(const char *dir, const char *root_pem, const struct fwg_keys *keys,
					   struct fwg_host **out);
/* The sync request's "firmware" object (new reference in *out): eligible,
 * quarantined, window_open, power_cycle, devices, audit_head, and at most
 * CL_AGENT_FW_AUDIT_MAX verified audit records with seq > after; when the
 * log was tampered with, no records, "audit_tampered" {seq, why} and
 * quarantined (fail closed). *window_left_s = the longest open window's
 * seconds left (0 when every window is closed). */
CL_MUST_CHECK cl_err cl_agent_fw_report(struct fwg_host *h, uint64_t after, json_t **out, uint64_t *window_left_s);
/* The long-poll wait to ask for while a window is open: no longer than the
 * window's seconds left (+250 ms, as window_left_s is rounded up), so the
 * control plane answers when it closes and the next sync reports the host
 * eligible. poll_ms when no window is open. Pure. */
uint32_t cl_agent_fw_wait_ms(uint32_t poll_ms, uint64_t window_left_s);
/* The verified audit records with seq > after, at most max, as the
 * protocol's JSON records (new reference in *out), through fwg_audit_check
 * (st, may be NULL, gets the log's head and tamper state). CL_EPROTO, no
 * records, when the log was tampered with. */
struct fwg_audit_state;
CL_MUST_CHECK cl_err cl_agent_fw_audit_after(struct fwg_host *h, uint64_t after, size_t max, json_t **out,
					     struct fwg_audit_state *st);
/* Hands the answer's firmware_audit_anchor (if any) to the audit log. */
void cl_agent_fw_anchor(struct fwg_host *h, const cl_agent_answer *ans);
/* One audit record as protocol JSON; prev = the previous record's hash
 * (zeros for seq 1). New reference or NULL (out of memory). */
json_t *cl_agent_fw_audit_json(const struct fwg_audit_rec *r, const uint8_t prev[32]);
/* Runs one firmware op on the management port (source mgmt; a
 * clear_quarantine is the operator's action relayed by the control plane)
 * and returns its result object {op, ok, error?, reason?, audit_seq?} (new
 * reference; NULL only when out of memory). Refusals change nothing but the
 * audit log. */
json_t *cl_agent_fw_apply(struct fwg_host *h, const cl_agent_fw_op *op);

#endif
