/* fwdev_audit.c — names, the action policy, and the one place where an
 * outcome becomes an audit record (and maybe an alarm or a quarantine). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fwguard/fwdev_internal.h"

static const char *const guard_reasons[] = {
	"window_closed", "no_mapping", "route_denied", "no_device",   "policy_replay", "io_error",
	"no_revert",     "boot_fallback", "boot_failed", "too_big", "not_allowed",
	"interrupted",   "recovered",     "wrong_target",
};

const char *fwg_reason_name(uint16_t r)
{
	if (r < FWG_R_WINDOW_CLOSED)
		return fw_status_name((fw_status)r);
	size_t i = (size_t)r - FWG_R_WINDOW_CLOSED;
	return i < sizeof(guard_reasons) / sizeof(guard_reasons[0]) ? guard_reasons[i] : "unknown";
}

const char *fwg_source_name(uint8_t s)
{
	static const char *const n[] = {"none", "mgmt", "guest", "host", "operator"};
	return s < 5 ? n[s] : "unknown";
}

const char *fwg_op_name(uint8_t op)
{
	static const char *const n[] = {"none",        "update",   "trust_root", "window_policy",
					"revert",      "guest_write", "power_on", "boot",
					"queue",       "clear_quarantine", "manufacture"};
	return op < 11 ? n[op] : "unknown";
}

const char *fwg_result_name(uint8_t r)
{
	static const char *const n[] = {"none", "accepted", "refused", "event", "intent"};
	return r < 5 ? n[r] : "unknown";
}

const char *fwg_action_name(uint8_t a)
{
	static const char *const n[] = {"log", "alarm", "quarantine"};
	return a < 3 ? n[a] : "unknown";
}

void fwg_policy_default(fwg_policy *p)
{
	static const uint16_t alarm[] = {
		FW_E_UNSIGNED,        FW_E_UNKNOWN_SIGNER, FW_E_BELOW_THRESHOLD, FW_E_DUPLICATE_SIGNER,
		FW_E_REVOKED_SIGNER,  FW_E_BAD_SIGNATURE,  FW_E_TRUST_CHAIN,     FW_E_TRUST_STALE,
		FW_E_ROLLBACK,        FW_E_DIGEST_MISMATCH, FWG_R_NO_MAPPING,    FWG_R_ROUTE_DENIED,
		FWG_R_NOT_ALLOWED,    FWG_R_BOOT_FALLBACK, FWG_R_POLICY_REPLAY, FWG_R_WRONG_TARGET,
	};
	memset(p, FWG_ACT_LOG, sizeof(*p));
	for (size_t i = 0; i < sizeof(alarm) / sizeof(alarm[0]); i++)
		p->by_reason[alarm[i]] = FWG_ACT_ALARM;
	p->by_reason[FWG_R_BOOT_FAILED] = FWG_ACT_QUARANTINE;
}

/* Fills the identity from an (unauthenticated) parse of the input. */
static void identity(fwg_audit_rec *r, const uint8_t *in, size_t len)
{
	fw_bundle_view *v;
	if (!in || !(v = malloc(sizeof(*v))))
		return;
	if (fw_bundle_parse(in, len, v) == FW_OK) {
		r->has_id = true;
		memcpy(r->vendor, v->m.vendor, FW_UUID_LEN);
		memcpy(r->class_id, v->m.class_id, FW_UUID_LEN);
		r->sequence = v->m.sequence;
		snprintf(r->version, sizeof(r->version), "%s", v->m.version);
		memcpy(r->digest8, v->m.digest, sizeof(r->digest8));
	}
	free(v);
}

static cl_err quarantine_set(fwg_host *h, uint64_t seq, uint16_t reason)
{
	char path[PATH_MAX], text[128];
	CL_GUARD(fwg_path(h, NULL, "quarantine", path, sizeof(path)));
	int n = snprintf(text, sizeof(text), "audit_seq %llu\nreason %s\n", (unsigned long long)seq,
			 fwg_reason_name(reason));
	return cl_file_write_atomic(path, text, (size_t)n, 0600);
}

cl_err fwg_audit(fwg_host *h, const fwg_event *e, fwg_outcome *out)
{
	fwg_audit_rec r;
	memset(&r, 0, sizeof(r));
	r.time_ms = fwg_wall_now(h) * 1000;
	r.op = (uint8_t)e->op;
	r.source = (uint8_t)e->src;
	r.result = (uint8_t)e->result;
	r.reason = e->reason;
	r.action = e->result == FWG_RES_ACCEPTED || e->result == FWG_RES_INTENT || e->reason >= FWG_REASON_LIMIT
			   ? FWG_ACT_LOG
			   : h->policy.by_reason[e->reason];
	if (e->addr) {
		/* An unknown address is recorded only if it is short and printable. */
		size_t n = strnlen(e->addr, sizeof(r.addr));
		bool ok = n < sizeof(r.addr);
		for (size_t i = 0; ok && i < n; i++)
			ok = e->addr[i] >= 0x20 && e->addr[i] <= 0x7e;
		snprintf(r.addr, sizeof(r.addr), "%s", ok ? e->addr : "?");
	}
	if (e->id_from) {
		const fwg_audit_rec *f = e->id_from;
		r.has_id = f->has_id;
		memcpy(r.vendor, f->vendor, FW_UUID_LEN);
		memcpy(r.class_id, f->class_id, FW_UUID_LEN);
		r.sequence = f->sequence;
		memcpy(r.version, f->version, sizeof(r.version));
		memcpy(r.digest8, f->digest8, sizeof(r.digest8));
		r.input_len = f->input_len;
	} else {
		identity(&r, e->input, e->input_len);
		r.input_len = e->input_len > UINT32_MAX ? UINT32_MAX : (uint32_t)e->input_len;
	}
	if (e->detail) {
		snprintf(r.detail, sizeof(r.detail), "%s", e->detail);
		for (char *p = r.detail; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
	}
	CL_GUARD(fwa_append(&h->audit, &r));
	if (r.action == FWG_ACT_QUARANTINE)
		CL_GUARD(quarantine_set(h, r.seq, r.reason));
	if (out) {
		out->reason = r.reason;
		out->action = r.action;
		out->audit_seq = r.seq;
	}
	return CL_OK;
}

cl_err fwg_intent(fwg_host *h, const fwg_event *e, const char *commit)
{
	fwg_event i = *e;
	i.result = FWG_RES_INTENT;
	i.reason = FWG_R_OK;
	i.detail = commit;
	CL_GUARD(fwg_audit(h, &i, NULL));
	fwg_fault(h, FWG_FAULT_INTENT, (uint64_t)e->op);
	return CL_OK;
}

cl_err fwg_audit_committed(fwg_host *h, const fwg_event *e, fwg_outcome *out)
{
	fwg_fault(h, FWG_FAULT_COMMITTED, (uint64_t)e->op);
	return fwg_audit(h, e, out);
}

cl_err fwg_refuse(fwg_host *h, fwg_event *e, fwg_outcome *out)
{
	char detail[FWA_DETAIL_MAX + 1];
	e->result = FWG_RES_REFUSED;
	if (!e->detail) {
		snprintf(detail, sizeof(detail), "%s", fwg_reason_name(e->reason));
		e->detail = detail;
	}
	CL_GUARD(fwg_audit(h, e, out));
	cl_err code = CL_EPERM;
	if (e->reason > 0 && e->reason < FWG_R_WINDOW_CLOSED)
		code = CL_ECRYPTO;
	else if (e->reason == FWG_R_IO)
		code = CL_EIO;
	else if (e->reason == FWG_R_NO_DEVICE)
		code = CL_ENOTFOUND;
	else if (e->reason == FWG_R_TOO_BIG)
		code = CL_ETOOBIG;
	return cl_errorf(code, "firmware guard refused %s on %s: %s", fwg_op_name((uint8_t)e->op),
			 e->addr ? e->addr : "host", fwg_reason_name(e->reason));
}

typedef struct alarm_ctx {
	fwg_audit_rec *out;
	size_t max, n, total;
} alarm_ctx;

static int collect_alarm(const fwg_audit_rec *r, void *ctx)
{
	alarm_ctx *a = ctx;
	if (r->action < FWG_ACT_ALARM || a->max == 0)
		return 0;
	/* Keep the most recent max: a ring, straightened below. */
	a->out[a->total % a->max] = *r;
	a->total++;
	return 0;
}

cl_err fwg_alarms(fwg_host *h, fwg_audit_rec *out, size_t max, size_t *n)
{
	char path[PATH_MAX];
	cl_buf file;
	fwa_report rep;
	alarm_ctx a = {.out = out, .max = max};
	*n = 0;
	CL_GUARD(fwg_path(h, NULL, "audit.log", path, sizeof(path)));
	cl_buf_init(&file, (size_t)1 << 31);
	CL_GUARD(fwg_lock(h));
	/* A log found tampered with lists nothing (its alarms may be forged). */
	cl_err err = h->audit.tampered ? cl_errorf(CL_EPROTO, "audit log tampered with at seq %llu: %s",
						   (unsigned long long)h->audit.bad_seq, h->audit.why)
				       : cl_file_read(path, file.max, &file);
	fwg_unlock(h);
	if (err == CL_OK) {
		fwa_walk(file.data ? file.data : (const uint8_t *)"", file.len, &rep, collect_alarm, &a);
		size_t have = a.total < max ? a.total : max;
		if (a.total > max) { /* rotate so the oldest kept comes first */
			size_t start = a.total % max;
			fwg_audit_rec *tmp = malloc(max * sizeof(*tmp));
			if (!tmp) {
				err = CL_ENOMEM;
			} else {
				for (size_t i = 0; i < max; i++)
					tmp[i] = out[(start + i) % max];
				memcpy(out, tmp, max * sizeof(*tmp));
				free(tmp);
			}
		}
		*n = have;
		if (err == CL_OK && !rep.ok)
			err = cl_errorf(CL_EPROTO, "audit log broken at seq %llu: %s",
					(unsigned long long)rep.first_bad, rep.why);
	}
	cl_buf_free(&file);
	return err;
}
