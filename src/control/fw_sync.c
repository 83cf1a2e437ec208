/* fw_sync.c — the firmware part of a host's sync (docs/internals.md
 * "Firmware in the sync protocol"): store the reported status, append the
 * shipped audit records (checking their hash chain links), record alarm and
 * quarantine events, record firmware op results, and add
 * firmware_audit_ack / firmware_ops to the sync answer (an op's data over
 * CTL_FW_INLINE_MAX as "data_ref" {size, sha384}, fetched by the agent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/fw.h"
#include "control/store_fw.h"
#include "control/store_fwrel.h"

#define CTL_FW_ANSWER_DATA_MAX (32u << 20)

static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

static const char *rec_str(json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s ? s : "";
}

/* Stores one shipped record; idempotent on seq; a link that does not match
 * the stored chain is stored anyway (it is evidence) and raises an event. A
 * stored seq sent again with another hash is the host's log rewritten (cut
 * and regrown): *diverged gets that seq (first one only), nothing stored. */
static cl_err apply_record(ctl_store *st, const char *host_id, const ctl_fw_audit_in *a, int64_t now,
			   int64_t *diverged)
{
	ctl_fw_record old, r = {0};
	char detail[CTL_MSG_MAX];
	cl_err err = ctl_store_fw_audit_get(st, host_id, a->seq, &old);
	if (err == CL_OK) {
		bool same = strcmp(old.hash, a->hash) == 0 && strcmp(old.prev, a->prev) == 0;
		free(old.json);
		if (!same && !*diverged)
			*diverged = a->seq;
		return CL_OK; /* same: a resend after a lost ack */
	}
	if (err != CL_ENOTFOUND)
		return err;
	cl_error_clear();
	/* the link to the previous record */
	const char *expect = NULL;
	if (a->seq == 1) {
		expect = zero_hash;
	} else if ((err = ctl_store_fw_audit_get(st, host_id, a->seq - 1, &old)) == CL_OK) {
		snprintf(r.prev, sizeof(r.prev), "%s", old.hash); /* borrow r.prev as scratch */
		free(old.json);
		expect = r.prev;
	} else if (err != CL_ENOTFOUND) {
		return err;
	} else {
		cl_error_clear();
		int64_t last;
		char lh[65];
		CL_GUARD(ctl_store_fw_audit_last(st, host_id, &last, lh));
		if (last > 0 && last < a->seq) {
			snprintf(detail, sizeof(detail), "gap: records %lld..%lld missing", (long long)last + 1,
				 (long long)a->seq - 1);
			cl_warn("firmware audit chain break host=%s seq=%lld (gap)", host_id, (long long)a->seq);
			CL_GUARD(ctl_store_fw_event_insert(st, host_id, "chain_break", a->seq, detail, now));
		}
	}
	if (expect && strcmp(expect, a->prev) != 0) {
		snprintf(detail, sizeof(detail), "record %lld: prev does not match the hash of record %lld",
			 (long long)a->seq, (long long)a->seq - 1);
		cl_warn("firmware audit chain break host=%s seq=%lld", host_id, (long long)a->seq);
		CL_GUARD(ctl_store_fw_event_insert(st, host_id, "chain_break", a->seq, detail, now));
	}
	r.seq = a->seq;
	snprintf(r.hash, sizeof(r.hash), "%s", a->hash);
	snprintf(r.prev, sizeof(r.prev), "%s", a->prev);
	r.received_at = now;
	r.json = json_dumps(a->rec, JSON_COMPACT | JSON_SORT_KEYS);
	if (!r.json)
		return CL_ENOMEM;
	err = ctl_store_fw_audit_insert(st, host_id, &r);
	free(r.json);
	CL_GUARD(err);
	/* the host's own alarms and quarantines become control-plane events */
	const char *action = rec_str(a->rec, "action");
	if (strcmp(action, "alarm") == 0 || strcmp(action, "quarantine") == 0) {
		snprintf(detail, sizeof(detail), "%.32s %.32s on %.31s: %.32s", rec_str(a->rec, "op"),
			 rec_str(a->rec, "result"), rec_str(a->rec, "device"), rec_str(a->rec, "reason"));
		cl_warn("firmware %s host=%s seq=%lld", action, host_id, (long long)a->seq);
		CL_GUARD(ctl_store_fw_event_insert(st, host_id, action, a->seq, detail, now));
	}
	return CL_OK;
}

/* Whether the host's audit log still is the chain the control plane holds:
 * the host's own finding (audit_tampered), a stored record resent with
 * another hash, or the head it reports against the stored records (a log
 * that now ends before them was cut; one whose record at its head differs
 * was replaced). Fills *seq and why (empty = consistent). */
static cl_err audit_consistent(ctl_store *st, const char *host_id, const ctl_fw_report *rep, int64_t diverged,
			       int64_t *seq, char *why, size_t n)
{
	int64_t last = 0;
	char last_hash[65];
	why[0] = '\0';
	*seq = 0;
	if (rep->tampered) {
		*seq = rep->tampered_seq;
		snprintf(why, n, "host: %s", rep->tampered_why);
		return CL_OK;
	}
	if (diverged) {
		*seq = diverged;
		snprintf(why, n, "the host sent record %lld again with another hash (its log was rewritten)",
			 (long long)diverged);
		return CL_OK;
	}
	if (!rep->has_head)
		return CL_OK; /* an agent before audit heads: nothing to compare */
	CL_GUARD(ctl_store_fw_audit_last(st, host_id, &last, last_hash));
	if (rep->head_seq < last) {
		*seq = rep->head_seq + 1;
		snprintf(why, n, "the host's log ends at seq %lld; the control plane holds records up to %lld (cut)",
			 (long long)rep->head_seq, (long long)last);
		return CL_OK;
	}
	ctl_fw_record r;
	cl_err err = rep->head_seq > 0 ? ctl_store_fw_audit_get(st, host_id, rep->head_seq, &r) : CL_ENOTFOUND;
	if (err == CL_ENOTFOUND) {
		cl_error_clear();
		return CL_OK; /* not shipped yet */
	}
	CL_GUARD(err);
	if (strcmp(r.hash, rep->head_hash) != 0) {
		*seq = rep->head_seq;
		snprintf(why, n, "the host's record %lld differs from the control plane's copy", (long long)rep->head_seq);
	}
	free(r.json);
	return CL_OK;
}

cl_err ctl_fw_sync_apply(ctl_server *srv, const char *host_id, const ctl_fw_report *rep, int64_t now)
{
	ctl_store *st = srv->store;
	ctl_fw_status old = {0}, s = {0};
	bool was_quarantined = false, was_tampered = false;
	int64_t diverged = 0, bad_seq = 0;
	char why[CTL_MSG_MAX];
	cl_err err = ctl_store_fw_status_get(st, host_id, &old);
	if (err == CL_OK) {
		was_quarantined = old.quarantined;
		was_tampered = old.tampered[0] != '\0';
		ctl_fw_status_clear(&old);
	} else if (err != CL_ENOTFOUND) {
		return err;
	}
	cl_error_clear();
	/* the records first: the head is compared with what is stored after them.
	 * Once a record diverges from the stored copy, the rest chain to a
	 * rewritten history: none of them is stored (the anchor stays put, so
	 * the host keeps being checked against what was stored before). */
	for (size_t i = 0; i < rep->naudit && !diverged; i++)
		CL_GUARD(apply_record(st, host_id, &rep->audit[i], now, &diverged));
	CL_GUARD(audit_consistent(st, host_id, rep, diverged, &bad_seq, why, sizeof(why)));
	bool tampered = why[0] != '\0';
	/* never trust "eligible" alone: a quarantined, open or tampered host is
	 * not; a log found tampered with holds the host as quarantined (fail
	 * closed), whether the host said so or the control plane found it */
	s.eligible = rep->eligible && !rep->quarantined && !rep->window_open && !tampered;
	s.quarantined = rep->quarantined || tampered;
	s.window_open = rep->window_open;
	s.updated_at = now;
	s.power_cycle = rep->power_cycle;
	s.head_seq = rep->has_head ? rep->head_seq : old.head_seq;
	snprintf(s.head_hash, sizeof(s.head_hash), "%s", rep->has_head ? rep->head_hash : old.head_hash);
	s.tampered_seq = tampered ? bad_seq : 0;
	snprintf(s.tampered, sizeof(s.tampered), "%s", why);
	s.devices_json = rep->devices ? json_dumps(rep->devices, JSON_COMPACT) : strdup("[]");
	if (!s.devices_json)
		return CL_ENOMEM;
	err = ctl_store_fw_status_put(st, host_id, &s);
	free(s.devices_json);
	CL_GUARD(err);
	/* Quarantine halts the host's enclaves (see answer() in sync.c): a change
	 * bumps the generation so the host hears it in this very sync's answer. */
	if (s.quarantined != was_quarantined) {
		err = ctl_store_host_bump(st, host_id);
		if (err != CL_OK && err != CL_ENOTFOUND) /* no host row: nothing to wake */
			return err;
		cl_error_clear();
	}
	if (rep->quarantined && !was_quarantined && !tampered) {
		cl_warn("firmware quarantine host=%s", host_id);
		CL_GUARD(ctl_store_fw_event_insert(st, host_id, "quarantined", 0, "host reported quarantine", now));
	}
	if (tampered && !was_tampered) {
		cl_warn("firmware audit log tampered with host=%s seq=%lld: %s", host_id, (long long)bad_seq, why);
		CL_GUARD(ctl_store_fw_event_insert(st, host_id, "audit_tampered", bad_seq, why, now));
	} else if (!tampered && was_tampered) {
		cl_info("firmware audit log consistent again host=%s", host_id);
	}
	return CL_OK;
}

bool ctl_fw_is_op_id(const char *op)
{
	return op && strncmp(op, "fw-", 3) == 0;
}

cl_err ctl_fw_sync_result(ctl_server *srv, const char *host_id, const ctl_sync_result *res, int64_t now)
{
	cl_err err = ctl_store_fw_op_result(srv->store, host_id, res->op, res->ok, res->error, res->reason,
					    res->audit_seq, now);
	if (err == CL_ENOTFOUND) {
		cl_debug("firmware result for unknown or finished op host=%s", host_id);
		cl_error_clear();
		return CL_OK;
	}
	if (err == CL_OK)
		cl_info("firmware op done host=%s op=%s ok=%d reason=%s", host_id, res->op, res->ok ? 1 : 0,
			res->reason ? res->reason : "");
	return err;
}

/* Drops the data files of the host's finished ops (row first, file after
 * commit: a kill in between leaves only an unreferenced file). */
static void reap_op_data(ctl_server *srv, const char *host_id)
{
	char(*ids)[CTL_ID_MAX] = NULL;
	size_t n = 0;
	char path[PATH_MAX + 96];
	if (ctl_store_begin(srv->store) != CL_OK)
		goto fail;
	if (ctl_store_fw_opdata_reap(srv->store, host_id, &ids, &n) != CL_OK ||
	    ctl_store_commit(srv->store) != CL_OK) {
		ctl_store_rollback(srv->store);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/fw_ops/%s.bin", srv->data_dir, ids[i]);
		if (unlink(path) == 0)
			cl_debug("firmware op data removed op=%s", ids[i]);
	}
	free(ids);
	return;
fail:
	cl_warn("firmware op data not reaped host=%s: %s", host_id, cl_error_detail());
	cl_error_clear();
}

cl_err ctl_fw_sync_answer(ctl_server *srv, const char *host_id, json_t *ans, bool with_ops)
{
	ctl_store *st = srv->store;
	ctl_fw_op *ops = NULL;
	size_t n = 0;
	int64_t ack;
	char h[65];
	cl_err err;
	CL_GUARD(ctl_store_fw_audit_last(st, host_id, &ack, h));
	if (with_ops)
		CL_GUARD(ctl_store_fw_ops_to_send(st, host_id, &ops, &n));
	json_t *arr = json_array();
	size_t sent = 0, bytes = 0;
	/* the agent reads answers up to 64 MiB: send the rest next time */
	for (size_t i = 0; i < n && arr; i++, sent++) {
		ctl_fw_op *op = &ops[i];
		size_t dl = strlen(op->data);
		if (sent > 0 && bytes + dl > CTL_FW_ANSWER_DATA_MAX)
			break;
		bytes += dl;
		json_t *o = json_pack("{s:s,s:s}", "op", op->id, "kind", op->kind);
		if (o && op->device[0])
			json_object_set_new(o, "device", json_string(op->device));
		if (o && op->data[0]) {
			json_object_set_new(o, "data", json_string(op->data));
		} else if (o) {
			/* big data goes by reference: the agent fetches it itself */
			ctl_fw_opdata d;
			cl_err derr = ctl_store_fw_opdata_get(st, host_id, op->id, &d);
			if (derr == CL_OK)
				json_object_set_new(o, "data_ref",
						    json_pack("{s:I,s:s}", "size", (json_int_t)d.size, "sha384", d.sha384));
			else if (derr != CL_ENOTFOUND)
				cl_warn("firmware op data reference unreadable op=%s", op->id);
			cl_error_clear();
		}
		if (o && op->reason[0])
			json_object_set_new(o, "reason", json_string(op->reason));
		if (!o || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr) {
		ctl_fw_ops_free(ops, n);
		return CL_ENOMEM;
	}
	json_object_set_new(ans, "firmware_audit_ack", json_integer(ack));
	/* The anchor: the host's log must keep holding the last record stored
	 * here (the agent checks before every append and every ship). */
	json_object_set_new(ans, "firmware_audit_anchor",
			    ack > 0 ? json_pack("{s:I,s:s}", "seq", (json_int_t)ack, "hash", h) : json_null());
	json_object_set_new(ans, "firmware_ops", arr);
	err = CL_OK;
	if (sent > 0) {
		err = ctl_store_begin(st);
		for (size_t i = 0; i < sent && err == CL_OK; i++)
			if (!ops[i].delivered)
				err = ctl_store_fw_op_mark_delivered(st, host_id, ops[i].id);
		if (err == CL_OK)
			err = ctl_store_commit(st);
		if (err != CL_OK)
			ctl_store_rollback(st);
	}
	ctl_fw_ops_free(ops, n);
	if (err == CL_OK && with_ops)
		reap_op_data(srv, host_id);
	return err;
}

bool ctl_fw_ops_waiting(ctl_server *srv, const char *host_id)
{
	bool w = false;
	return ctl_store_fw_ops_waiting(srv->store, host_id, &w) == CL_OK && w;
}

bool ctl_fw_host_eligible(ctl_server *srv, const char *host_id)
{
	bool e = true;
	if (ctl_store_fw_eligible(srv->store, host_id, &e) != CL_OK) {
		cl_warn("firmware eligibility unreadable host=%s: excluded", host_id);
		return false;
	}
	return e;
}

cl_err ctl_fw_queue_releases(ctl_server *srv, const char *tenant_id, const char *host_id, ctl_fw_target **targets,
			     size_t *n)
{
	CL_GUARD(ctl_store_fw_targets(srv->store, tenant_id, host_id, targets, n));
	for (size_t i = 0; i < *n; i++) {
		ctl_fw_target *t = &(*targets)[i];
		uint8_t *b = NULL;
		size_t blen = 0;
		char *b64 = NULL;
		ctl_fw_op op;
		memset(&op, 0, sizeof(op));
		CL_GUARD(ctl_store_fw_release_bundle(srv->store, t->release_id, &b, &blen));
		cl_err err = cl_base64_encode(b, blen, &b64);
		free(b);
		CL_GUARD(err);
		snprintf(op.host_id, sizeof(op.host_id), "%s", t->host_id);
		snprintf(op.kind, sizeof(op.kind), "queue");
		snprintf(op.device, sizeof(op.device), "%s", t->component);
		snprintf(op.release_id, sizeof(op.release_id), "%s", t->release_id);
		op.data = b64;
		err = ctl_fw_op_queue(srv, &op, false);
		free(b64);
		CL_GUARD(err);
		CL_GUARD(ctl_store_fw_queued(srv->store, t->release_id, t->host_id, op.id));
		cl_info("release queued release=%s host=%s op=%s", t->release_id, t->host_id, op.id);
	}
	return CL_OK;
}

