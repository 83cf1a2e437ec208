/* store_fw.h — firmware state in the control plane store: each host's last
 * firmware report, the audit records it shipped (hash-chained), firmware
 * events (alarms, quarantines, chain breaks) and firmware ops queued for a
 * host's next sync answer. Same rules as store.h: call state-changing
 * functions inside ctl_store_begin/commit; rows are caller-owned copies;
 * strings marked malloc'd are freed by the caller (or the *_free helpers).
 */
#ifndef CL_CONTROL_STORE_FW_H
#define CL_CONTROL_STORE_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "control/store.h"

typedef struct ctl_fw_status {
	bool eligible, quarantined, window_open;
	char *devices_json; /* malloc'd JSON array */
	int64_t updated_at;
	int64_t power_cycle;   /* the host's power cycle (0 = not reported) */
	int64_t head_seq;      /* the head of the host's audit log, as it reports it */
	char head_hash[65];    /* "" = not reported */
	int64_t tampered_seq;  /* first record that differs, when tampered */
	char tampered[CTL_MSG_MAX]; /* "" = not tampered; else why */
} ctl_fw_status;

typedef struct ctl_fw_record {
	int64_t seq;
	char hash[65], prev[65];
	char *json; /* malloc'd: the record as the host sent it */
	int64_t received_at;
} ctl_fw_record;

typedef struct ctl_fw_event {
	int64_t id;
	char host_id[CTL_ID_MAX];
	char kind[32]; /* chain_break | audit_tampered | alarm | quarantine | quarantined | guard_missing */
	int64_t seq;
	char detail[CTL_MSG_MAX];
	int64_t created_at;
} ctl_fw_event;

typedef struct ctl_fw_op {
	char id[CTL_ID_MAX];
	char host_id[CTL_ID_MAX];
	char kind[24]; /* update | queue | power_cycle | clear_quarantine | trust | window */
	char device[64];
	char *data; /* malloc'd base64 bundle ("" if none) */
	char reason[CTL_MSG_MAX];
	char release_id[CTL_ID_MAX];
	char state[12]; /* pending | ok | refused */
	bool delivered;
	char result_error[CTL_MSG_MAX];
	char result_reason[64];
	int64_t audit_seq;
	int64_t created_at, updated_at;
} ctl_fw_op;

/* Status: put replaces the host's row (every field: read, change, put);
 * get returns CL_ENOTFOUND if the host never reported firmware. */
CL_MUST_CHECK cl_err ctl_store_fw_status_put(ctl_store *st, const char *host_id, const ctl_fw_status *s);
CL_MUST_CHECK cl_err ctl_store_fw_status_get(ctl_store *st, const char *host_id, ctl_fw_status *out);
void ctl_fw_status_clear(ctl_fw_status *s);
/* Placement eligibility: false only if the last report said not eligible. */
CL_MUST_CHECK cl_err ctl_store_fw_eligible(ctl_store *st, const char *host_id, bool *eligible);

/* Audit. last: highest stored seq (0 and hash "" if none). get: CL_ENOTFOUND
 * if seq is not stored. insert: CL_ECONFLICT if (host, seq) exists. */
CL_MUST_CHECK cl_err ctl_store_fw_audit_last(ctl_store *st, const char *host_id, int64_t *seq, char hash[65]);
CL_MUST_CHECK cl_err ctl_store_fw_audit_get(ctl_store *st, const char *host_id, int64_t seq, ctl_fw_record *out);
CL_MUST_CHECK cl_err ctl_store_fw_audit_insert(ctl_store *st, const char *host_id, const ctl_fw_record *r);
/* Records with seq > after, ascending, at most limit (1..1001). Free with ctl_fw_records_free. */
CL_MUST_CHECK cl_err ctl_store_fw_audit_list(ctl_store *st, const char *host_id, int64_t after, int limit,
					     ctl_fw_record **out, size_t *n);
void ctl_fw_records_free(ctl_fw_record *r, size_t n);
/* Re-walks the host's whole stored chain: seq 1, 2, ... without gaps, record
 * 1's prev all zeros, each prev equal to the previous record's hash. *ok
 * false and *bad_seq = the first record that breaks it (0 if ok). */
CL_MUST_CHECK cl_err ctl_store_fw_chain_check(ctl_store *st, const char *host_id, bool *ok, int64_t *bad_seq);

/* Events. list: id > after, ascending, at most limit (1..1001: a page
 * and one more); host_id NULL = all. */
CL_MUST_CHECK cl_err ctl_store_fw_event_insert(ctl_store *st, const char *host_id, const char *kind, int64_t seq,
					       const char *detail, int64_t now_ms);
CL_MUST_CHECK cl_err ctl_store_fw_event_list(ctl_store *st, const char *host_id, int64_t after, int limit,
					     ctl_fw_event **out, size_t *n);

/* Firmware ops. to_send: the host's pending ops (no result yet), those not
 * yet sent first, then oldest first (at most 256); mark_delivered flags one
 * as sent, awaiting its result. result: sets state ok/refused (only a
 * pending op of that host; CL_ENOTFOUND otherwise). */
CL_MUST_CHECK cl_err ctl_store_fw_op_insert(ctl_store *st, const ctl_fw_op *op);
CL_MUST_CHECK cl_err ctl_store_fw_op_get(ctl_store *st, const char *host_id, const char *op_id, ctl_fw_op *out);
CL_MUST_CHECK cl_err ctl_store_fw_ops_to_send(ctl_store *st, const char *host_id, ctl_fw_op **out, size_t *n);
CL_MUST_CHECK cl_err ctl_store_fw_op_mark_delivered(ctl_store *st, const char *host_id, const char *op_id);
/* True if the host has pending ops not yet delivered. */
CL_MUST_CHECK cl_err ctl_store_fw_ops_waiting(ctl_store *st, const char *host_id, bool *waiting);
CL_MUST_CHECK cl_err ctl_store_fw_op_result(ctl_store *st, const char *host_id, const char *op_id, bool ok,
					    const char *error, const char *reason, int64_t audit_seq, int64_t now_ms);
void ctl_fw_op_clear(ctl_fw_op *op);
void ctl_fw_ops_free(ctl_fw_op *ops, size_t n);

#endif
