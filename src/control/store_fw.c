/* store_fw.c — firmware tables of the control plane store (store_fw.h). */
#include "control/store_fw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/fw.h"
#include "control/store_priv.h"

/* The firmware tables are created by migration 2 (store_migrate.c). */

cl_err ctl_store_fw_status_put(ctl_store *st, const char *host_id, const ctl_fw_status *s)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT OR REPLACE INTO host_fw(host_id,eligible,quarantined,window_open,devices,updated_at,"
			  "power_cycle,head_seq,head_hash,tampered_seq,tampered) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
			  CTL_TEXT(host_id), CTL_INT(s->eligible), CTL_INT(s->quarantined), CTL_INT(s->window_open),
			  CTL_TEXT(s->devices_json ? s->devices_json : "[]"), CTL_INT(s->updated_at),
			  CTL_INT(s->power_cycle), CTL_INT(s->head_seq), CTL_TEXT(s->head_hash),
			  CTL_INT(s->tampered_seq), CTL_TEXT(s->tampered)));
	return ctl_store_run(st, q, "store firmware status", NULL);
}

cl_err ctl_store_fw_status_get(ctl_store *st, const char *host_id, ctl_fw_status *out)
{
	sqlite3_stmt *q;
	memset(out, 0, sizeof(*out));
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT eligible,quarantined,window_open,devices,updated_at,power_cycle,head_seq,"
			  "head_hash,tampered_seq,tampered FROM host_fw WHERE host_id=?",
			  CTL_TEXT(host_id)));
	int rc = sqlite3_step(q);
	cl_err err = CL_OK;
	if (rc == SQLITE_ROW) {
		out->eligible = sqlite3_column_int(q, 0) != 0;
		out->quarantined = sqlite3_column_int(q, 1) != 0;
		out->window_open = sqlite3_column_int(q, 2) != 0;
		out->devices_json = ctl_store_col_dup(q, 3);
		out->updated_at = sqlite3_column_int64(q, 4);
		out->power_cycle = sqlite3_column_int64(q, 5);
		out->head_seq = sqlite3_column_int64(q, 6);
		ctl_store_col_str(q, 7, out->head_hash, sizeof(out->head_hash));
		out->tampered_seq = sqlite3_column_int64(q, 8);
		ctl_store_col_str(q, 9, out->tampered, sizeof(out->tampered));
		if (!out->devices_json)
			err = CL_ENOMEM;
	} else if (rc == SQLITE_DONE) {
		err = cl_errorf(CL_ENOTFOUND, "host %s has not reported firmware", host_id);
	} else {
		err = ctl_store_sqlerr(st, rc, "read firmware status");
	}
	ctl_store_finish(st, q);
	return err;
}

void ctl_fw_status_clear(ctl_fw_status *s)
{
	free(s->devices_json);
	s->devices_json = NULL;
}

cl_err ctl_store_fw_eligible(ctl_store *st, const char *host_id, bool *eligible)
{
	sqlite3_stmt *q;
	*eligible = true;
	CL_GUARD(CTL_PREP(st, &q, "SELECT eligible FROM host_fw WHERE host_id=?", CTL_TEXT(host_id)));
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*eligible = sqlite3_column_int(q, 0) != 0;
	ctl_store_finish(st, q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CL_OK : ctl_store_sqlerr(st, rc, "read firmware eligibility");
}

cl_err ctl_store_fw_audit_last(ctl_store *st, const char *host_id, int64_t *seq, char hash[65])
{
	sqlite3_stmt *q;
	*seq = 0;
	hash[0] = '\0';
	CL_GUARD(CTL_PREP(st, &q, "SELECT seq,hash FROM host_fw_audit WHERE host_id=? ORDER BY seq DESC LIMIT 1",
			  CTL_TEXT(host_id)));
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(q, 0);
		ctl_store_col_str(q, 1, hash, 65);
	}
	ctl_store_finish(st, q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CL_OK : ctl_store_sqlerr(st, rc, "read audit head");
}

static cl_err read_record(sqlite3_stmt *q, void *o)
{
	ctl_fw_record *r = o;
	r->seq = sqlite3_column_int64(q, 0);
	ctl_store_col_str(q, 1, r->hash, sizeof(r->hash));
	ctl_store_col_str(q, 2, r->prev, sizeof(r->prev));
	r->json = ctl_store_col_dup(q, 3);
	r->received_at = sqlite3_column_int64(q, 4);
	return r->json ? CL_OK : CL_ENOMEM;
}

cl_err ctl_store_fw_audit_get(ctl_store *st, const char *host_id, int64_t seq, ctl_fw_record *out)
{
	sqlite3_stmt *q;
	memset(out, 0, sizeof(*out));
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT seq,hash,prev,record,received_at FROM host_fw_audit WHERE host_id=? AND seq=?",
			  CTL_TEXT(host_id), CTL_INT(seq)));
	char notfound[64];
	snprintf(notfound, sizeof(notfound), "audit record %lld not stored", (long long)seq);
	return ctl_store_one(st, q, read_record, out, notfound, "read audit record");
}

cl_err ctl_store_fw_audit_insert(ctl_store *st, const char *host_id, const ctl_fw_record *r)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT INTO host_fw_audit(host_id,seq,hash,prev,record,received_at) VALUES(?,?,?,?,?,?)",
			  CTL_TEXT(host_id), CTL_INT(r->seq), CTL_TEXT(r->hash), CTL_TEXT(r->prev), CTL_TEXT(r->json),
			  CTL_INT(r->received_at)));
	return ctl_store_run(st, q, "store audit record", NULL);
}

cl_err ctl_store_fw_audit_list(ctl_store *st, const char *host_id, int64_t after, int limit, ctl_fw_record **out,
			       size_t *n)
{
	sqlite3_stmt *q;
	*out = NULL;
	*n = 0;
	CL_ENSURE(limit >= 1 && limit <= 1001, CL_EINVAL, "limit must be in 1..1001");
	ctl_fw_record *rs = calloc((size_t)limit, sizeof(*rs));
	if (!rs)
		return CL_ENOMEM;
	cl_err err = CTL_PREP(st, &q,
			      "SELECT seq,hash,prev,record,received_at FROM host_fw_audit WHERE host_id=? AND seq>?"
			      " ORDER BY seq LIMIT ?",
			      CTL_TEXT(host_id), CTL_INT(after), CTL_INT(limit));
	if (err != CL_OK) {
		free(rs);
		return err;
	}
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < (size_t)limit) {
		if ((err = read_record(q, &rs[*n])) != CL_OK)
			break;
		(*n)++;
	}
	if (err == CL_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = ctl_store_sqlerr(st, rc, "list audit records");
	ctl_store_finish(st, q);
	if (err != CL_OK) {
		ctl_fw_records_free(rs, *n + 1);
		*n = 0;
		return err;
	}
	*out = rs;
	return CL_OK;
}

void ctl_fw_records_free(ctl_fw_record *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		free(r[i].json);
	free(r);
}

cl_err ctl_store_fw_chain_check(ctl_store *st, const char *host_id, bool *ok, int64_t *bad_seq)
{
	static const char zeros[65] = "0000000000000000000000000000000000000000000000000000000000000000";
	sqlite3_stmt *q;
	char prev_hash[65];
	int64_t expect = 1;
	*ok = true;
	*bad_seq = 0;
	snprintf(prev_hash, sizeof(prev_hash), "%s", zeros);
	CL_GUARD(CTL_PREP(st, &q, "SELECT seq,hash,prev FROM host_fw_audit WHERE host_id=? ORDER BY seq",
			  CTL_TEXT(host_id)));
	int rc;
	bool first = true;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(q, 0);
		char hash[65], prev[65];
		ctl_store_col_str(q, 1, hash, sizeof(hash));
		ctl_store_col_str(q, 2, prev, sizeof(prev));
		/* The control plane may have joined a host's log after its start:
		 * the first stored record anchors the walk unless it is seq 1. */
		bool linked = first ? (seq != 1 || strcmp(prev, zeros) == 0) : (seq == expect && strcmp(prev, prev_hash) == 0);
		if (!linked) {
			*ok = false;
			*bad_seq = seq;
			break;
		}
		first = false;
		expect = seq + 1;
		snprintf(prev_hash, sizeof(prev_hash), "%s", hash);
	}
	ctl_store_finish(st, q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CL_OK : ctl_store_sqlerr(st, rc, "walk audit chain");
}

cl_err ctl_store_fw_event_insert(ctl_store *st, const char *host_id, const char *kind, int64_t seq, const char *detail,
				 int64_t now_ms)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO fw_events(host_id,kind,seq,detail,created_at) VALUES(?,?,?,?,?)",
			  CTL_TEXT(host_id), CTL_TEXT(kind), CTL_INT(seq), CTL_TEXT(detail ? detail : ""),
			  CTL_INT(now_ms)));
	return ctl_store_run(st, q, "store firmware event", NULL);
}

cl_err ctl_store_fw_event_list(ctl_store *st, const char *host_id, int64_t after, int limit, ctl_fw_event **out,
			       size_t *n)
{
	sqlite3_stmt *q;
	*out = NULL;
	*n = 0;
	CL_ENSURE(limit >= 1 && limit <= 1001, CL_EINVAL, "limit must be in 1..1001");
	ctl_fw_event *es = calloc((size_t)limit, sizeof(*es));
	if (!es)
		return CL_ENOMEM;
	cl_err err =
		host_id ? CTL_PREP(
				  st, &q,
				  "SELECT id,host_id,kind,seq,detail,created_at FROM fw_events WHERE id>? AND host_id=?"
				  " ORDER BY id LIMIT ?",
				  CTL_INT(after), CTL_TEXT(host_id), CTL_INT(limit))
			: CTL_PREP(st, &q,
				   "SELECT id,host_id,kind,seq,detail,created_at FROM fw_events WHERE id>?"
				   " ORDER BY id LIMIT ?",
				   CTL_INT(after), CTL_INT(limit));
	if (err != CL_OK) {
		free(es);
		return err;
	}
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < (size_t)limit) {
		ctl_fw_event *e = &es[(*n)++];
		e->id = sqlite3_column_int64(q, 0);
		ctl_store_col_str(q, 1, e->host_id, sizeof(e->host_id));
		ctl_store_col_str(q, 2, e->kind, sizeof(e->kind));
		e->seq = sqlite3_column_int64(q, 3);
		ctl_store_col_str(q, 4, e->detail, sizeof(e->detail));
		e->created_at = sqlite3_column_int64(q, 5);
	}
	ctl_store_finish(st, q);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(es);
		*n = 0;
		return ctl_store_sqlerr(st, rc, "list firmware events");
	}
	*out = es;
	return CL_OK;
}

#define OP_COLS                                                                                                        \
	"id,host_id,kind,device,data,reason,release_id,state,delivered,result_error,result_reason,audit_seq,"          \
	"created_at,updated_at"

static cl_err read_op(sqlite3_stmt *q, void *o)
{
	ctl_fw_op *op = o;
	memset(op, 0, sizeof(*op));
	ctl_store_col_str(q, 0, op->id, sizeof(op->id));
	ctl_store_col_str(q, 1, op->host_id, sizeof(op->host_id));
	ctl_store_col_str(q, 2, op->kind, sizeof(op->kind));
	ctl_store_col_str(q, 3, op->device, sizeof(op->device));
	op->data = ctl_store_col_dup(q, 4);
	ctl_store_col_str(q, 5, op->reason, sizeof(op->reason));
	ctl_store_col_str(q, 6, op->release_id, sizeof(op->release_id));
	ctl_store_col_str(q, 7, op->state, sizeof(op->state));
	op->delivered = sqlite3_column_int(q, 8) != 0;
	ctl_store_col_str(q, 9, op->result_error, sizeof(op->result_error));
	ctl_store_col_str(q, 10, op->result_reason, sizeof(op->result_reason));
	op->audit_seq = sqlite3_column_int64(q, 11);
	op->created_at = sqlite3_column_int64(q, 12);
	op->updated_at = sqlite3_column_int64(q, 13);
	return op->data ? CL_OK : CL_ENOMEM;
}

cl_err ctl_store_fw_op_insert(ctl_store *st, const ctl_fw_op *op)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO fw_ops(" OP_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			  CTL_TEXT(op->id), CTL_TEXT(op->host_id), CTL_TEXT(op->kind), CTL_TEXT(op->device),
			  CTL_TEXT(op->data), CTL_TEXT(op->reason), CTL_TEXT(op->release_id), CTL_TEXT(op->state),
			  CTL_INT(op->delivered), CTL_TEXT(op->result_error), CTL_TEXT(op->result_reason),
			  CTL_INT(op->audit_seq), CTL_INT(op->created_at), CTL_INT(op->updated_at)));
	return ctl_store_run(st, q, "store firmware op", NULL);
}

cl_err ctl_store_fw_op_get(ctl_store *st, const char *host_id, const char *op_id, ctl_fw_op *out)
{
	sqlite3_stmt *q;
	memset(out, 0, sizeof(*out));
	CL_GUARD(CTL_PREP(st, &q, "SELECT " OP_COLS " FROM fw_ops WHERE id=? AND host_id=?", CTL_TEXT(op_id),
			  CTL_TEXT(host_id)));
	return ctl_store_one(st, q, read_op, out, "firmware op not found", "read firmware op");
}

cl_err ctl_store_fw_ops_to_send(ctl_store *st, const char *host_id, ctl_fw_op **out, size_t *n)
{
	sqlite3_stmt *q;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT " OP_COLS " FROM fw_ops WHERE host_id=? AND state='pending'"
			  " ORDER BY delivered, created_at, id LIMIT 256",
			  CTL_TEXT(host_id)));
	int rc;
	cl_err err = CL_OK;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			ctl_fw_op *p = realloc(*out, nc * sizeof(**out));
			if (!p) {
				err = CL_ENOMEM;
				break;
			}
			*out = p;
			cap = nc;
		}
		if ((err = read_op(q, &(*out)[*n])) != CL_OK) {
			(*n)++;
			break;
		}
		(*n)++;
	}
	if (err == CL_OK && rc != SQLITE_DONE)
		err = ctl_store_sqlerr(st, rc, "list firmware ops");
	ctl_store_finish(st, q);
	if (err != CL_OK) {
		ctl_fw_ops_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return err;
}

cl_err ctl_store_fw_op_mark_delivered(ctl_store *st, const char *host_id, const char *op_id)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "UPDATE fw_ops SET delivered=1 WHERE host_id=? AND id=?", CTL_TEXT(host_id),
			  CTL_TEXT(op_id)));
	return ctl_store_run(st, q, "mark firmware op delivered", NULL);
}

cl_err ctl_store_fw_ops_waiting(ctl_store *st, const char *host_id, bool *waiting)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "SELECT 1 FROM fw_ops WHERE host_id=? AND state='pending' AND delivered=0 LIMIT 1",
			  CTL_TEXT(host_id)));
	int rc = sqlite3_step(q);
	ctl_store_finish(st, q);
	*waiting = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? CL_OK : ctl_store_sqlerr(st, rc, "read firmware ops");
}

cl_err ctl_store_fw_op_result(ctl_store *st, const char *host_id, const char *op_id, bool ok, const char *error,
			      const char *reason, int64_t audit_seq, int64_t now_ms)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE fw_ops SET state=?, result_error=?, result_reason=?, audit_seq=?, updated_at=?"
			  " WHERE id=? AND host_id=? AND state='pending'",
			  CTL_TEXT(ok ? "ok" : "refused"), CTL_TEXT(error ? error : ""), CTL_TEXT(reason ? reason : ""),
			  CTL_INT(audit_seq), CTL_INT(now_ms), CTL_TEXT(op_id), CTL_TEXT(host_id)));
	CL_GUARD(ctl_store_run(st, q, "record firmware op result", NULL));
	CL_ENSURE(sqlite3_changes(st->db) == 1, CL_ENOTFOUND, "no pending firmware op %s", op_id);
	return CL_OK;
}

void ctl_fw_op_clear(ctl_fw_op *op)
{
	if (op->data) {
		free(op->data);
		op->data = NULL;
	}
}

void ctl_fw_ops_free(ctl_fw_op *ops, size_t n)
{
	if (!ops)
		return;
	for (size_t i = 0; i < n; i++)
		ctl_fw_op_clear(&ops[i]);
	free(ops);
}

/* ---- firmware op data by reference (fw_op_data, migration 3) ---- */

static cl_err read_opdata(sqlite3_stmt *q, void *o)
{
	ctl_fw_opdata *d = o;
	memset(d, 0, sizeof(*d));
	ctl_store_col_str(q, 0, d->op_id, sizeof(d->op_id));
	ctl_store_col_str(q, 1, d->host_id, sizeof(d->host_id));
	d->size = sqlite3_column_int64(q, 2);
	ctl_store_col_str(q, 3, d->sha384, sizeof(d->sha384));
	d->created_at = sqlite3_column_int64(q, 4);
	return CL_OK;
}

cl_err ctl_store_fw_opdata_put(ctl_store *st, const ctl_fw_opdata *d)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO fw_op_data(op_id,host_id,size,sha384,created_at) VALUES(?,?,?,?,?)",
			  CTL_TEXT(d->op_id), CTL_TEXT(d->host_id), CTL_INT(d->size), CTL_TEXT(d->sha384),
			  CTL_INT(d->created_at)));
	return ctl_store_run(st, q, "insert firmware op data", NULL);
}

cl_err ctl_store_fw_opdata_get(ctl_store *st, const char *host_id, const char *op_id, ctl_fw_opdata *out)
{
	sqlite3_stmt *q;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT op_id,host_id,size,sha384,created_at FROM fw_op_data WHERE op_id=? AND host_id=?",
			  CTL_TEXT(op_id), CTL_TEXT(host_id)));
	return ctl_store_one(st, q, read_opdata, out, "firmware op data not found", "get firmware op data");
}

cl_err ctl_store_fw_opdata_reap(ctl_store *st, const char *host_id, char (**ids)[CTL_ID_MAX], size_t *n)
{
	enum { LIMIT = 64 };
	sqlite3_stmt *q;
	*ids = NULL;
	*n = 0;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT d.op_id FROM fw_op_data d LEFT JOIN fw_ops o ON o.id=d.op_id"
			  " WHERE d.host_id=? AND (o.id IS NULL OR o.state != 'pending') LIMIT 64",
			  CTL_TEXT(host_id)));
	char(*arr)[CTL_ID_MAX] = NULL;
	size_t cnt = 0;
	CL_GUARD(ctl_store_ids(st, q, LIMIT, "list firmware op data", &arr, &cnt));
	cl_err err = CL_OK;
	for (size_t i = 0; i < cnt && err == CL_OK; i++) {
		CL_GUARD_OUT(err, CTL_PREP(st, &q, "DELETE FROM fw_op_data WHERE op_id=?", CTL_TEXT(arr[i])));
		err = ctl_store_run(st, q, "delete firmware op data", NULL);
	}
out:
	if (err != CL_OK) {
		free(arr);
		return err;
	}
	*ids = arr;
	*n = cnt;
	return CL_OK;
}
